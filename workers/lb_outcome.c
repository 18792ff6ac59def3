/* An attempt's life as the endpoint table sees it: counted in flight while it
 * runs (least request, circuit breakers, the retry budget), then judged for
 * the passive checks: answers below 500 clear an endpoint's failure counts; a
 * run of 5xx answers (consecutive5xx) or of connections refused, reset or
 * timed out (consecutiveConnectFailures) ejects it for baseEjectionTime times
 * the number of ejections in a row (at most maxEjectionTime), unless that
 * would eject more than maxEjectionPercent of the backend's endpoints. The
 * master's endpoint monitor (daemon/endpoint_monitor.c) logs every ejection
 * and return. */
#include "workers/balancer.h"
#include "workers/conn.h"

const char *sl_lb_limit_name(int limit)
{
    static const char *const names[SL_CB_COUNT] = {"maxConnections", "maxPendingRequests", "maxRequests",
                                                   "retryBudget"};
    return limit >= 0 && limit < SL_CB_COUNT ? names[limit] : "?";
}

static const sl_snap_backend *backend(const sl_conn *c, uint32_t bi)
{
    return SL_SNAP_GET(&c->snap->s, SL_SNAP_BACKENDS, sl_snap_backend, bi);
}

int sl_lb_admit(sl_conn *c, uint32_t bi, bool retry)
{
    const sl_snap_backend *be = backend(c, bi);
    sl_ep_state *st = sl_ep_slot(be->state);
    if (!st)
        return 0;
    const sl_snap_balancer *cfg = sl_lb_settings(&c->snap->s, be);
    uint32_t active = atomic_load_explicit(&st->active, memory_order_relaxed);
    int limit = -1;
    if (cfg->max_requests && active >= cfg->max_requests)
        limit = SL_CB_MAX_REQUESTS;
    else if (cfg->max_pending && atomic_load_explicit(&st->pending, memory_order_relaxed) >= cfg->max_pending)
        limit = SL_CB_MAX_PENDING;
    else if (retry) {
        /* Retries in flight may be at most budgetPercent of the requests in
         * flight, and always at least minRetryConcurrency. */
        uint64_t allowed = (uint64_t)active * cfg->retry_budget_percent / 100;
        if (allowed < cfg->min_retry_concurrency)
            allowed = cfg->min_retry_concurrency;
        if (atomic_load_explicit(&st->retries, memory_order_relaxed) >= allowed)
            limit = SL_CB_RETRY_BUDGET;
    }
    if (limit < 0)
        return 0;
    atomic_fetch_add_explicit(&st->overflows[limit], 1, memory_order_relaxed);
    return limit + 1;
}

static void end_charge(sl_conn *c)
{
    if (!c->lb.retry_charged)
        return;
    c->lb.retry_charged = false;
    sl_ep_state *b = sl_ep_slot(c->lb.charge_slot);
    if (b)
        sl_ep_give_back(&b->retries, b, c->lb.charge_tag);
}

void sl_lb_charge_retry(sl_conn *c, uint32_t bi)
{
    end_charge(c); /* (a retry of a retry: one charge, not two) */
    const sl_snap_backend *be = backend(c, bi);
    sl_ep_state *st = sl_ep_slot(be->state);
    if (!st)
        return;
    c->lb.retry_charged = true;
    c->lb.charge_slot = be->state;
    c->lb.charge_tag = atomic_load_explicit(&st->tag, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->retries, 1, memory_order_relaxed);
}

static void end_counts(sl_conn *c);

void sl_lb_attempt_begin(sl_conn *c, uint32_t bi, uint32_t ei)
{
    end_counts(c);
    const sl_snap_backend *be = backend(c, bi);
    const sl_snap_endpoint *ep = SL_SNAP_GET(&c->snap->s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, ei);
    c->lb.tried |= 1ull << ((ei - be->endpoints.first) % 64);
    sl_lb_session_chosen(c, be, ei - be->endpoints.first);
    c->lb.judged = false;
    c->lb.pending = true;
    c->lb.counted = true;
    c->lb.ep_slot = ep->state;
    c->lb.be_slot = be->state;
    sl_ep_state *e = sl_ep_slot(ep->state), *b = sl_ep_slot(be->state);
    if (e) {
        c->lb.ep_tag = atomic_load_explicit(&e->tag, memory_order_relaxed);
        atomic_fetch_add_explicit(&e->active, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&e->requests, 1, memory_order_relaxed);
    }
    if (b) {
        c->lb.be_tag = atomic_load_explicit(&b->tag, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->active, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->pending, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->requests, 1, memory_order_relaxed);
    }
}

#define give_back sl_ep_give_back

void sl_lb_attempt_connected(sl_conn *c)
{
    if (!c->lb.counted || !c->lb.pending)
        return;
    c->lb.pending = false;
    sl_ep_state *b = sl_ep_slot(c->lb.be_slot);
    if (b)
        give_back(&b->pending, b, c->lb.be_tag);
}

static void end_counts(sl_conn *c)
{
    if (!c->lb.counted)
        return;
    sl_lb_attempt_connected(c);
    c->lb.counted = false;
    sl_ep_state *e = sl_ep_slot(c->lb.ep_slot), *b = sl_ep_slot(c->lb.be_slot);
    if (e)
        give_back(&e->active, e, c->lb.ep_tag);
    if (b)
        give_back(&b->active, b, c->lb.be_tag);
}

void sl_lb_attempt_end(sl_conn *c) { end_counts(c); }

void sl_lb_request_end(sl_conn *c)
{
    end_counts(c);
    end_charge(c);
}

/* Ejecting one more endpoint of the backend would stay within maxEjectionPercent
 * (always allowed for one endpoint of several, so a small backend can eject at all). */
static bool may_eject(const sl_conn *c, const sl_snap_backend *be, const sl_snap_balancer *cfg, uint64_t now)
{
    uint32_t n = be->endpoints.count, ejected = 0;
    if (n < 2)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        const sl_snap_endpoint *ep =
            SL_SNAP_GET(&c->snap->s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, be->endpoints.first + i);
        const sl_ep_state *st = sl_ep_slot(ep->state);
        ejected += st && atomic_load_explicit(&st->ejected_until_ms, memory_order_relaxed) > now;
    }
    uint64_t max = (uint64_t)n * cfg->max_ejection_percent / 100;
    if (max < 1 && cfg->max_ejection_percent > 0)
        max = 1;
    return ejected + 1 <= max;
}

static void eject(sl_conn *c, sl_ep_state *st, const sl_snap_backend *be, const sl_snap_balancer *cfg)
{
    uint64_t now = sl_ep_now_ms();
    uint64_t until = atomic_load_explicit(&st->ejected_until_ms, memory_order_relaxed);
    if (until > now || !may_eject(c, be, cfg, now))
        return;
    /* The multiplier decays by one per interval spent without an ejection. */
    uint32_t times = atomic_load_explicit(&st->ejections, memory_order_relaxed);
    if (until && cfg->ejection_interval_ms) {
        uint64_t calm = (now - until) / cfg->ejection_interval_ms;
        times = calm >= times ? 0 : times - (uint32_t)calm;
    }
    times++;
    uint64_t ms = (uint64_t)cfg->base_ejection_ms * times;
    if (cfg->max_ejection_ms && ms > cfg->max_ejection_ms)
        ms = cfg->max_ejection_ms;
    /* One worker ejects; the others see it done. */
    if (!atomic_compare_exchange_strong(&st->ejected_until_ms, &until, now + ms))
        return;
    atomic_store_explicit(&st->ejections, times, memory_order_relaxed);
    atomic_store_explicit(&st->fails_5xx, 0, memory_order_relaxed);
    atomic_store_explicit(&st->fails_local, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->ejections_total, 1, memory_order_relaxed);
}

void sl_lb_judge(sl_conn *c, sl_lb_outcome outcome)
{
    if (c->lb.judged || !c->lb.counted)
        return;
    c->lb.judged = true;
    sl_ep_state *st = sl_ep_slot(c->lb.ep_slot);
    if (!st || atomic_load_explicit(&st->tag, memory_order_relaxed) != c->lb.ep_tag)
        return;
    const sl_snap_backend *be = backend(c, c->backend_index);
    const sl_snap_balancer *cfg = sl_lb_settings(&c->snap->s, be);
    if (outcome == SL_LB_ANSWERED) {
        if (atomic_load_explicit(&st->fails_5xx, memory_order_relaxed))
            atomic_store_explicit(&st->fails_5xx, 0, memory_order_relaxed);
        if (atomic_load_explicit(&st->fails_local, memory_order_relaxed))
            atomic_store_explicit(&st->fails_local, 0, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&st->failures, 1, memory_order_relaxed);
    if (outcome == SL_LB_ANSWERED_5XX && atomic_load_explicit(&st->fails_local, memory_order_relaxed))
        atomic_store_explicit(&st->fails_local, 0, memory_order_relaxed); /* it answered: the connection works */
    if (outcome == SL_LB_CONNECT_FAILED) {
        uint32_t n = atomic_fetch_add_explicit(&st->fails_local, 1, memory_order_relaxed) + 1;
        if (cfg->consecutive_local && n >= cfg->consecutive_local)
            eject(c, st, be, cfg);
        return;
    }
    uint32_t n = atomic_fetch_add_explicit(&st->fails_5xx, 1, memory_order_relaxed) + 1;
    /* A response timeout is also a failure of the connection (nginx's
     * proxy_next_upstream timeout counts it toward max_fails). */
    uint32_t local = outcome == SL_LB_TIMED_OUT ? atomic_fetch_add_explicit(&st->fails_local, 1,
                                                                            memory_order_relaxed) + 1
                                                : 0;
    if ((cfg->consecutive_5xx && n >= cfg->consecutive_5xx) ||
        (cfg->consecutive_local && local >= cfg->consecutive_local))
        eject(c, st, be, cfg);
}

/* The pick of an endpoint; see balancer.h. */
#include "workers/balancer.h"

#include <math.h>

#include "workers/conn.h"

/* Without a BackendPolicy: round robin; an endpoint that refuses a connection
 * (or is not reached in time) is skipped for 10 s; 5xx answers eject nothing;
 * when fewer than half the endpoints are usable, all are used. */
const sl_snap_balancer sl_lb_defaults = {
    .algorithm = SL_LB_ROUND_ROBIN,
    .choice_count = 2,
    .panic_percent = 50,
    .max_ejection_percent = 100,
    .consecutive_local = 1,
    .base_ejection_ms = 10000,
    .max_ejection_ms = 10000,
    .ejection_interval_ms = 10000,
    .retry_budget_percent = 20,
    .min_retry_concurrency = 3,
    .health_check = SL_SNAP_NONE,
};

static const sl_lb_algorithm *const algorithms[SL_LB_COUNT] = {
    [SL_LB_ROUND_ROBIN] = &sl_lb_round_robin,
    [SL_LB_LEAST_REQUEST] = &sl_lb_least_request,
    [SL_LB_RANDOM] = &sl_lb_random_pick,
    [SL_LB_RING_HASH] = &sl_lb_ring_hash,
    [SL_LB_MAGLEV] = &sl_lb_maglev,
};

/* How long the usable count of a backend is trusted before it is counted again. */
#define USABLE_RECOUNT_MS 100

const sl_snap_balancer *sl_lb_settings(const sl_snapshot *s, const sl_snap_backend *be)
{
    return be->balancer == SL_SNAP_NONE ? &sl_lb_defaults
                                        : SL_SNAP_GET(s, SL_SNAP_BALANCERS, sl_snap_balancer, be->balancer);
}

static uint32_t random_state = 2654435761u;

void sl_lb_seed(uint32_t seed)
{
    random_state = seed ? seed : 2654435761u; /* xorshift must not start at 0 */
}

uint32_t sl_lb_random(void)
{
    uint32_t x = random_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    random_state = x;
    return x;
}

static const sl_snap_endpoint *endpoint(const sl_lb_ctx *x, uint32_t i)
{
    return SL_SNAP_GET(x->s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, x->be->endpoints.first + i);
}

bool sl_lb_eligible(sl_lb_ctx *x, uint32_t i)
{
    if (x->c->lb.tried & (1ull << (i % 64)))
        return false;
    return x->panic || sl_ep_usable(sl_ep_slot(endpoint(x, i)->state), &x->now);
}

uint32_t sl_lb_active(sl_lb_ctx *x, uint32_t i)
{
    const sl_ep_state *st = sl_ep_slot(endpoint(x, i)->state);
    return st ? atomic_load_explicit(&st->active, memory_order_relaxed) : 0;
}

double sl_lb_weight(sl_lb_ctx *x, uint32_t i)
{
    const sl_snap_endpoint *e = endpoint(x, i);
    double w = e->weight ? e->weight : 1;
    const sl_ep_state *st = sl_ep_slot(e->state);
    if (!x->cfg->slow_start_ms || !st)
        return w;
    if (!x->now)
        x->now = sl_ep_now_ms();
    /* Usable since the later of: it appeared, it passed its health check, its ejection ended. */
    uint64_t since = atomic_load_explicit(&st->usable_since_ms, memory_order_relaxed);
    uint64_t until = atomic_load_explicit(&st->ejected_until_ms, memory_order_relaxed);
    if (until > since && until <= x->now)
        since = until;
    if (since > x->now)
        since = x->now; /* written by another process after this one read the clock */
    if (x->now >= since + x->cfg->slow_start_ms)
        return w;
    double t = (double)(x->now - since) / x->cfg->slow_start_ms;
    double aggression = x->cfg->slow_start_aggression ? x->cfg->slow_start_aggression / 1000.0 : 1.0;
    double factor = pow(t, 1.0 / aggression);
    double least = x->cfg->slow_start_min_percent / 100.0;
    if (factor < least)
        factor = least;
    if (factor < 0.01)
        factor = 0.01; /* never nothing: a new endpoint gets its first requests */
    return w * factor;
}

uint32_t sl_lb_first_eligible(sl_lb_ctx *x, uint32_t start)
{
    uint32_t n = x->be->endpoints.count;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = (start + k) % n;
        if (sl_lb_eligible(x, i))
            return i;
    }
    return start % n;
}

/* Usable endpoints of the backend, counted at most every 100 ms per worker. */
static uint32_t usable_count(sl_lb_ctx *x)
{
    sl_wsnap *ws = x->c->snap;
    uint64_t now = sl_now_ms();
    if (ws->lb_usable_at[x->bi] && now - ws->lb_usable_at[x->bi] < USABLE_RECOUNT_MS)
        return ws->lb_usable[x->bi];
    uint32_t n = 0;
    for (uint32_t i = 0; i < x->be->endpoints.count; i++)
        n += sl_ep_usable(sl_ep_slot(endpoint(x, i)->state), &x->now);
    ws->lb_usable[x->bi] = n;
    ws->lb_usable_at[x->bi] = now ? now : 1;
    return n;
}

uint32_t sl_lb_pick(sl_conn *c, uint32_t bi)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, bi);
    uint32_t n = be->endpoints.count;
    if (n == 0)
        return SL_SNAP_NONE;
    sl_lb_ctx x = {.c = c, .s = s, .be = be, .cfg = sl_lb_settings(s, be), .bi = bi};
    /* Panic (Envoy's healthy panic threshold): with too few usable endpoints,
     * sending only to them would overload them; every endpoint takes its share. */
    uint32_t usable = usable_count(&x);
    x.panic = usable == 0 || (uint64_t)usable * 100 < (uint64_t)x.cfg->panic_percent * n;
    x.uniform = c->snap->lb_uniform[bi] && !x.cfg->slow_start_ms;
    uint8_t a = x.cfg->algorithm < SL_LB_COUNT ? x.cfg->algorithm : SL_LB_ROUND_ROBIN;
    uint32_t i;
    if (c->lb.pinned && c->lb.pinned - 1 < n && sl_lb_eligible(&x, c->lb.pinned - 1))
        i = c->lb.pinned - 1; /* the session's endpoint, while it can serve */
    else
        i = n == 1 ? 0 : algorithms[a]->pick(&x);
    if (i >= n)
        i = 0;
    return be->endpoints.first + i;
}

bool sl_lb_untried_left(sl_conn *c, uint32_t bi)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, bi);
    sl_lb_ctx x = {.c = c, .s = s, .be = be, .cfg = sl_lb_settings(s, be), .bi = bi};
    uint32_t n = be->endpoints.count;
    if (n > 64)
        n = 64; /* the tried set holds 64: beyond, a request stops after 64 endpoints */
    for (uint32_t i = 0; i < n; i++)
        if (!(c->lb.tried & (1ull << i)) && sl_ep_usable(sl_ep_slot(endpoint(&x, i)->state), &x.now))
            return true;
    return false;
}

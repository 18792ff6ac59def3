/* The master's endpoint watcher; see health_checker.h. */
#include "daemon/health_checker.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/endpoint_state.h"
#include "common/log.h"
#include "daemon/bg_thread.h"
#include "daemon/health_probe.h"

/* How often the loop wakes when nothing is due: ejections are noticed (and
 * logged) within this. */
#define TICK_MS 100

typedef struct watched {
    sl_probe_target t;  /* t.cfg NULL: watched, not probed */
    char label[400];    /* "127.0.0.1:8080 of Service default/web:80" */
    uint64_t due_ms;    /* next probe */
    uint32_t ok, fails; /* probe results in a row */
    sl_probe *probe;    /* in flight, else NULL */
    bool was_ejected;
} watched;

/* A list handed from the main thread to the watcher. */
typedef struct watch_list {
    watched *items;
    size_t n;
    sl_probe_config *configs;
    size_t nconfigs;
} watch_list;

static struct {
    sl_bg_thread t;
    watch_list pending; /* guarded by t.lock */
    bool has_pending;
} H = {.t = SL_BG_THREAD_INIT};

static void list_free(watch_list *l)
{
    free(l->items);
    free(l->configs);
    memset(l, 0, sizeof(*l));
}

static uint32_t jitter(uint32_t max)
{
    uint32_t r = 0;
    if (max == 0 || getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        return 0;
    return (uint32_t)(r % ((uint64_t)max + 1));
}

/* ---- Main thread: the snapshot's endpoints as a list ---- */

static bool first_of_slot(const sl_snapshot *s, uint32_t i)
{
    const sl_snap_backend *b = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, i);
    if (b->state == SL_SNAP_NONE)
        return false;
    for (uint32_t k = 0; k < i; k++)
        if (SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, k)->state == b->state)
            return false;
    return true;
}

static void copy_str(const sl_snapshot *s, sl_snap_str v, char *out, size_t len)
{
    snprintf(out, len, "%s", sl_snap_cstr(s, v));
}

static void config_of(const sl_snapshot *s, const sl_snap_backend *b, sl_probe_config *pc)
{
    memset(pc, 0, sizeof(*pc));
    if (b->port)
        snprintf(pc->backend, sizeof(pc->backend), "%s %s/%s:%u", sl_snap_cstr(s, b->kind), sl_snap_cstr(s, b->ns),
                 sl_snap_cstr(s, b->name), b->port);
    else
        snprintf(pc->backend, sizeof(pc->backend), "%s %s/%s", sl_snap_cstr(s, b->kind), sl_snap_cstr(s, b->ns),
                 sl_snap_cstr(s, b->name));
    const sl_snap_balancer *cfg =
        b->balancer == SL_SNAP_NONE ? NULL : SL_SNAP_GET(s, SL_SNAP_BALANCERS, sl_snap_balancer, b->balancer);
    if (!cfg || cfg->health_check == SL_SNAP_NONE)
        return;
    pc->hc = *SL_SNAP_GET(s, SL_SNAP_HEALTH_CHECKS, sl_snap_health_check, cfg->health_check);
    copy_str(s, pc->hc.path, pc->path, sizeof(pc->path));
    copy_str(s, pc->hc.host, pc->host, sizeof(pc->host));
    copy_str(s, pc->hc.method, pc->method, sizeof(pc->method));
    copy_str(s, pc->hc.service, pc->service, sizeof(pc->service));
    pc->tls = b->protocol == SL_BACKEND_HTTPS;
}

void sl_health_update(const sl_snapshot *s)
{
    if (!sl_ep_states)
        return;
    watch_list l = {0};
    uint32_t nb = sl_snap_count(s, SL_SNAP_BACKENDS);
    l.configs = calloc(nb ? nb : 1, sizeof(*l.configs));
    l.items = calloc(sl_snap_count(s, SL_SNAP_ENDPOINTS) + 1, sizeof(*l.items));
    if (!l.configs || !l.items) {
        list_free(&l);
        sl_log_error("health", "out of memory: the endpoint list is not updated");
        return;
    }
    /* One entry per slot: an address listed twice is one endpoint. */
    uint8_t *seen = calloc(sl_ep_states->nslots / 8 + 1, 1);
    if (!seen) {
        list_free(&l);
        sl_log_error("health", "out of memory: the endpoint list is not updated");
        return;
    }
    for (uint32_t i = 0; i < nb; i++) {
        if (!first_of_slot(s, i))
            continue;
        const sl_snap_backend *b = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, i);
        sl_probe_config *pc = &l.configs[l.nconfigs++];
        config_of(s, b, pc);
        for (uint32_t k = 0; k < b->endpoints.count; k++) {
            const sl_snap_endpoint *e = SL_SNAP_GET(s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, b->endpoints.first + k);
            const sl_ep_state *st = sl_ep_slot(e->state);
            if (!st || (seen[e->state / 8] & (1u << (e->state % 8))))
                continue;
            seen[e->state / 8] |= (uint8_t)(1u << (e->state % 8));
            watched *w = &l.items[l.n++];
            char text[INET6_ADDRSTRLEN];
            inet_ntop(e->family, e->addr, text, sizeof(text));
            snprintf(w->t.address, sizeof(w->t.address), e->family == AF_INET6 ? "[%s]:%u" : "%s:%u", text, e->port);
            snprintf(w->label, sizeof(w->label), "%s of %s", w->t.address, pc->backend);
            w->t.slot = e->state;
            w->t.tag = atomic_load(&st->tag);
            w->t.cfg = pc->hc.kind ? pc : NULL;
        }
    }
    free(seen);
    pthread_mutex_lock(&H.t.lock);
    list_free(&H.pending);
    H.pending = l;
    H.has_pending = true;
    pthread_mutex_unlock(&H.t.lock);
}

/* ---- The watcher's thread ---- */

static watch_list cur;
static int32_t *index_of_slot; /* slot -> index in cur.items, -1 */
static CURLM *multi;

static void stop_probe(watched *w)
{
    if (!w->probe)
        return;
    curl_multi_remove_handle(multi, w->probe->easy);
    sl_probe_end(w->probe);
    free(w->probe);
    w->probe = NULL;
}

/* The slot still belongs to the endpoint this entry was made for. */
static sl_ep_state *own_slot(const watched *w)
{
    sl_ep_state *st = sl_ep_slot(w->t.slot);
    return st && atomic_load(&st->tag) == w->t.tag ? st : NULL;
}

/* Takes a new list: what was learnt about endpoints that stay carries over. */
static void adopt(watch_list *l)
{
    uint32_t nslots = sl_ep_states->nslots;
    for (size_t i = 0; i < l->n; i++) {
        watched *w = &l->items[i];
        int32_t old = index_of_slot[w->t.slot];
        watched *o = old >= 0 ? &cur.items[old] : NULL;
        if (!o || o->t.tag != w->t.tag) {
            w->due_ms = sl_ep_now_ms() + jitter(w->t.cfg ? w->t.cfg->hc.interval_ms / 10 : 0);
            continue;
        }
        w->due_ms = o->due_ms;
        w->ok = o->ok;
        w->fails = o->fails;
        w->was_ejected = o->was_ejected;
        if (w->t.cfg && o->probe) {
            w->probe = o->probe; /* still wanted: its answer counts */
            w->probe->owner = w;
            o->probe = NULL;
        }
        o->t.slot = UINT32_MAX; /* carried over */
    }
    for (size_t i = 0; i < cur.n; i++) {
        watched *o = &cur.items[i];
        stop_probe(o);
        if (o->t.slot == UINT32_MAX)
            continue;
        index_of_slot[o->t.slot] = -1;
        sl_ep_state *st = own_slot(o);
        /* No longer checked (its policy or its check went away, or the
         * endpoint itself): not held unhealthy by an old verdict. */
        if (st && o->t.cfg)
            atomic_store(&st->health, SL_HEALTH_UNKNOWN);
    }
    for (size_t i = 0; i < l->n; i++) {
        watched *w = &l->items[i];
        if (!w->t.cfg) {
            sl_ep_state *st = own_slot(w);
            if (st && atomic_load(&st->health) != SL_HEALTH_UNKNOWN)
                atomic_store(&st->health, SL_HEALTH_UNKNOWN);
        }
    }
    list_free(&cur);
    cur = *l;
    memset(l, 0, sizeof(*l));
    for (uint32_t s = 0; s < nslots; s++)
        index_of_slot[s] = -1;
    for (size_t i = 0; i < cur.n; i++)
        index_of_slot[cur.items[i].t.slot] = (int32_t)i;
}

static void verdict(watched *w, bool healthy, const char *why)
{
    sl_ep_state *st = own_slot(w);
    if (!st)
        return;
    const sl_snap_health_check *hc = &w->t.cfg->hc;
    uint32_t was = atomic_load(&st->health);
    if (healthy) {
        w->fails = 0;
        w->ok++;
        /* A passing check ends an ejection by the passive checks (as Envoy's
         * successful_active_health_check_uneject_host): a restarted endpoint
         * is back as soon as it answers its check. */
        uint64_t until = atomic_load(&st->ejected_until_ms), now = sl_ep_now_ms();
        if (until > now && atomic_compare_exchange_strong(&st->ejected_until_ms, &until, now))
            atomic_store(&st->usable_since_ms, now);
        if (was != SL_HEALTH_HEALTHY && (was == SL_HEALTH_UNKNOWN || w->ok >= hc->healthy_threshold)) {
            if (was == SL_HEALTH_UNHEALTHY) {
                atomic_store(&st->usable_since_ms, sl_ep_now_ms()); /* slow start from now */
                sl_log_info("health", "endpoint %s is healthy again (%u passing checks)", w->label, w->ok);
            }
            atomic_store(&st->health, SL_HEALTH_HEALTHY);
        }
        return;
    }
    w->ok = 0;
    w->fails++;
    if (was != SL_HEALTH_UNHEALTHY && (was == SL_HEALTH_UNKNOWN || w->fails >= hc->unhealthy_threshold)) {
        atomic_store(&st->health, SL_HEALTH_UNHEALTHY);
        sl_log_warn("health", "endpoint %s is unhealthy: %s (%u failed checks); it gets no requests", w->label, why,
                    w->fails);
    }
}

static void start_due(uint64_t now)
{
    for (size_t i = 0; i < cur.n; i++) {
        watched *w = &cur.items[i];
        if (!w->t.cfg || w->probe || w->due_ms > now || !own_slot(w))
            continue;
        const sl_snap_health_check *hc = &w->t.cfg->hc;
        w->due_ms = now + hc->interval_ms + jitter(hc->jitter_ms);
        w->probe = malloc(sizeof(*w->probe));
        if (!w->probe || !sl_probe_begin(w->probe, &w->t)) {
            free(w->probe);
            w->probe = NULL;
            continue;
        }
        w->probe->owner = w;
        curl_multi_add_handle(multi, w->probe->easy);
    }
}

static void collect_done(void)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        sl_probe *p = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
        CURLcode rc = msg->data.result;
        watched *w = p ? p->owner : NULL;
        if (w) {
            char why[300] = "";
            bool ok = sl_probe_kind_of(w->t.cfg->hc.kind)->judge(p, &w->t, rc, why, sizeof(why));
            verdict(w, ok, why);
            w->probe = NULL;
        }
        curl_multi_remove_handle(multi, msg->easy_handle);
        if (p) {
            sl_probe_end(p);
            free(p);
        }
    }
}

/* Logs ejections by the workers' passive checks and the returns. */
static void watch_ejections(uint64_t now)
{
    for (size_t i = 0; i < cur.n; i++) {
        watched *w = &cur.items[i];
        sl_ep_state *st = own_slot(w);
        if (!st)
            continue;
        uint64_t until = atomic_load(&st->ejected_until_ms);
        bool ejected = until > now;
        if (ejected && !w->was_ejected)
            sl_log_warn("health", "endpoint %s ejected for %llu ms by the passive checks (ejection %u in a row)",
                        w->label, (unsigned long long)(until - now), atomic_load(&st->ejections));
        else if (!ejected && w->was_ejected)
            sl_log_info("health", "endpoint %s returns after its ejection", w->label);
        w->was_ejected = ejected;
    }
}

static void *run(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&H.t.lock);
    while (!H.t.stopping) {
        watch_list l = {0};
        bool fresh = H.has_pending;
        if (fresh) {
            l = H.pending;
            memset(&H.pending, 0, sizeof(H.pending));
            H.has_pending = false;
        }
        pthread_mutex_unlock(&H.t.lock);
        if (fresh)
            adopt(&l);
        uint64_t now = sl_ep_now_ms();
        start_due(now);
        int running = 0;
        curl_multi_perform(multi, &running);
        collect_done();
        watch_ejections(now);
        curl_multi_poll(multi, NULL, 0, TICK_MS, NULL);
        pthread_mutex_lock(&H.t.lock);
    }
    pthread_mutex_unlock(&H.t.lock);
    for (size_t i = 0; i < cur.n; i++)
        stop_probe(&cur.items[i]);
    list_free(&cur);
    return NULL;
}

void sl_health_start(void)
{
    if (!sl_ep_states)
        return;
    index_of_slot = malloc(sizeof(*index_of_slot) * sl_ep_states->nslots);
    multi = curl_multi_init();
    if (!index_of_slot || !multi) {
        sl_log_error("health", "cannot start the health checker: out of memory");
        return;
    }
    for (uint32_t s = 0; s < sl_ep_states->nslots; s++)
        index_of_slot[s] = -1;
    if (!sl_bg_thread_start(&H.t, run, NULL))
        sl_log_error("health", "cannot start the health checker thread");
}

void sl_health_stop(void)
{
    if (H.t.running)
        curl_multi_wakeup(multi);
    sl_bg_thread_stop(&H.t);
    pthread_mutex_lock(&H.t.lock);
    list_free(&H.pending);
    pthread_mutex_unlock(&H.t.lock);
    if (multi)
        curl_multi_cleanup(multi);
    multi = NULL;
    free(index_of_slot);
    index_of_slot = NULL;
}

/* Consistent hashing: ring hash (Karger's ring, as Envoy's ring_hash) and
 * maglev (Google's lookup table). The master builds each backend's ring or
 * table from its endpoints' addresses (daemon/compiler_lb_tables.c), so an
 * endpoint that comes or goes moves only the keys that were or become its own.
 * The key is what the BackendPolicy's hashPolicies name, in order: a header,
 * a cookie, a query parameter or the client's address. A request without any
 * of them is placed at random. An unusable endpoint's keys go to the next
 * usable one along the ring (or table), and come back when it returns. */
#include <string.h>

#include "common/lb_hash.h"
#include "workers/balancer.h"
#include "workers/conn.h"
#include "workers/router.h"

/* Steps along the ring or table before giving up on finding a usable endpoint there. */
#define MAX_WALK 4096

bool sl_lb_cookie(const sl_http1_request *req, sl_slice name, sl_slice *value)
{
    for (size_t h = 0; h < req->nheaders; h++) {
        if (!sl_slice_ieq_cstr(req->headers[h].name, "cookie"))
            continue;
        const char *p = req->headers[h].value.ptr, *end = p + req->headers[h].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *stop = semi ? semi : end;
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            if (eq && (size_t)(eq - p) == name.len && memcmp(p, name.ptr, name.len) == 0) {
                *value = sl_slice_make(eq + 1, (size_t)(stop - eq - 1));
                return true;
            }
            p = stop;
        }
    }
    return false;
}

/* Folds one hash policy's part of the key into *h; false when the request has none. */
static bool add_part(const sl_conn *c, const sl_snapshot *s, const sl_snap_hash_policy *p, uint64_t *h)
{
    if (c->l4 && p->kind != SL_HASH_SOURCE_IP)
        return false; /* a passed-through connection has no header, cookie or query */
    const sl_http1_request *req = &c->w->req;
    sl_slice name = sl_slice_make(sl_snap_cstr(s, p->name), p->name.len), v;
    switch (p->kind) {
    case SL_HASH_HEADER: {
        const sl_http1_header *f = NULL;
        for (size_t i = 0; i < req->nheaders && !f; i++)
            if (sl_slice_ieq(req->headers[i].name, name))
                f = &req->headers[i];
        if (!f)
            return false;
        v = f->value;
        break;
    }
    case SL_HASH_COOKIE:
        if (!sl_lb_cookie(req, name, &v))
            return false;
        break;
    case SL_HASH_QUERY:
        if (!req->query.ptr || !sl_query_param(req->query, name, &v))
            return false;
        break;
    case SL_HASH_SOURCE_IP:
        if (!c->client.family)
            return false;
        v = sl_slice_make((const char *)c->client.addr, c->client.family == AF_INET6 ? 16 : 4);
        break;
    default: return false;
    }
    *h = sl_lb_hash_more(*h, v.ptr, v.len);
    *h = sl_lb_hash_more(*h, "\0", 1); /* "a"+"bc" differs from "ab"+"c" */
    return true;
}

void sl_lb_request_begin(sl_conn *c, uint32_t bi)
{
    c->lb.tried = 0;
    c->lb.hashed = false;
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, bi);
    sl_lb_session_begin(c, be);
    const sl_snap_balancer *cfg = sl_lb_settings(s, be);
    if (cfg->algorithm != SL_LB_RING_HASH && cfg->algorithm != SL_LB_MAGLEV)
        return;
    uint64_t h = sl_lb_hash_start();
    for (uint32_t i = 0; i < cfg->hash_policies.count; i++) {
        const sl_snap_hash_policy *p =
            SL_SNAP_GET(s, SL_SNAP_HASH_POLICIES, sl_snap_hash_policy, cfg->hash_policies.first + i);
        if (add_part(c, s, p, &h)) {
            c->lb.hashed = true;
            if (p->terminal)
                break;
        }
    }
    c->lb.hash = sl_lb_hash_end(h);
}

static const sl_snap_lb_entry *entry(const sl_lb_ctx *x, uint32_t k)
{
    return SL_SNAP_GET(x->s, SL_SNAP_LB_ENTRIES, sl_snap_lb_entry, x->be->lb_entries.first + k);
}

/* From cell k on, the first eligible endpoint; random when none is near. */
static uint32_t walk(sl_lb_ctx *x, uint32_t k)
{
    uint32_t n = x->be->lb_entries.count;
    for (uint32_t step = 0; step < n && step < MAX_WALK; step++) {
        uint32_t e = entry(x, (k + step) % n)->endpoint;
        if (e < x->be->endpoints.count && sl_lb_eligible(x, e))
            return e;
    }
    return sl_lb_first_eligible(x, sl_lb_random() % x->be->endpoints.count);
}

static uint32_t ring_pick(sl_lb_ctx *x)
{
    uint32_t n = x->be->lb_entries.count;
    if (!x->c->lb.hashed || n == 0)
        return sl_lb_first_eligible(x, sl_lb_random() % x->be->endpoints.count);
    /* The first point at or after the key's (the ring wraps). */
    uint32_t key = (uint32_t)(x->c->lb.hash >> 32), lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (entry(x, mid)->point < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return walk(x, lo % n);
}

static uint32_t maglev_pick(sl_lb_ctx *x)
{
    uint32_t n = x->be->lb_entries.count;
    if (!x->c->lb.hashed || n == 0)
        return sl_lb_first_eligible(x, sl_lb_random() % x->be->endpoints.count);
    return walk(x, (uint32_t)(x->c->lb.hash % n));
}

const sl_lb_algorithm sl_lb_ring_hash = {"ringHash", ring_pick};
const sl_lb_algorithm sl_lb_maglev = {"maglev", maglev_pick};

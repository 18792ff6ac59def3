/* Failover between AI providers (workers/ai.h). A Backend's ai.fallbacks is a
 * priority chain: when the provider answers 429 or 5xx, cannot be reached or
 * times out, before anything of its answer reached the client, the request
 * goes to the next Backend of the chain, rewritten for that one (its own
 * provider, key, model and dialect).
 *
 * A provider that failed is skipped for a back-off (1 s, doubling with each
 * failure in a row, at most 60 s) by this worker: later requests start with
 * the next Backend of the chain without waiting for the failing one. One that
 * answers is trusted again at once. The last Backend of a chain is never
 * skipped (the request would otherwise fail without trying anything). The
 * state is per worker process: each finds out about a failing provider by
 * itself, with one request. */
#include <string.h>

#include "workers/ai.h"
#include "workers/conn.h"

#define HEALTH_SLOTS 64
#define BACKOFF_FIRST_MS 1000u
#define BACKOFF_MAX_MS 60000u

typedef struct provider_health {
    uint64_t id;       /* hash of the Backend's namespace/name; 0: free */
    uint32_t fails;    /* in a row */
    uint64_t until_ms; /* skipped until then */
} provider_health;

static provider_health health[HEALTH_SLOTS]; /* this worker's */

static uint64_t backend_id(const sl_snapshot *s, const sl_snap_backend *be)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *parts[] = {sl_snap_cstr(s, be->ns), "/", sl_snap_cstr(s, be->name)};
    for (size_t i = 0; i < 3; i++)
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
            h ^= *p;
            h *= 0x100000001b3ull;
        }
    return h | 1;
}

static provider_health *slot(const sl_snapshot *s, const sl_snap_backend *be, bool claim)
{
    uint64_t id = backend_id(s, be);
    provider_health *h = &health[id % HEALTH_SLOTS];
    if (h->id == id)
        return h;
    if (!claim)
        return NULL;
    *h = (provider_health){.id = id}; /* a collision forgets the other's back-off: harmless */
    return h;
}

static bool backing_off(const sl_snapshot *s, const sl_snap_backend *be)
{
    const provider_health *h = slot(s, be, false);
    return h && h->until_ms > sl_now_ms();
}

void sl_ai_provider_result(const sl_snapshot *s, uint32_t backend_index, bool failed)
{
    const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, backend_index);
    provider_health *h = slot(s, be, failed);
    if (!h)
        return;
    if (!failed) {
        h->fails = 0;
        h->until_ms = 0;
        return;
    }
    uint32_t shift = h->fails < 6 ? h->fails : 6;
    uint64_t backoff = (uint64_t)BACKOFF_FIRST_MS << shift;
    h->fails++;
    h->until_ms = sl_now_ms() + (backoff < BACKOFF_MAX_MS ? backoff : BACKOFF_MAX_MS);
}

/* The backend of the chain's entry i (0: the primary), or SL_SNAP_NONE. */
static uint32_t chain_entry(const sl_snapshot *s, const sl_snap_backend *primary, uint32_t primary_index, uint32_t i)
{
    if (i == 0)
        return primary_index;
    const sl_snap_backend_ref *r =
        SL_SNAP_GET(s, SL_SNAP_BACKEND_REFS, sl_snap_backend_ref, primary->ai_fallbacks.first + i - 1);
    return r->backend;
}

/* The next usable entry of c's chain from c->ai_next on (advancing it): one
 * that resolves, has endpoints and is not backing off, else the last usable. */
static uint32_t next_usable(sl_conn *c)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_backend *primary = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, c->ai_primary);
    uint32_t n = primary->ai_fallbacks.count + 1, last = SL_SNAP_NONE;
    while (c->ai_next < n) {
        uint32_t b = chain_entry(s, primary, c->ai_primary, c->ai_next++);
        if (b == SL_SNAP_NONE || SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, b)->endpoints.count == 0)
            continue;
        if (!backing_off(s, SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, b)))
            return b;
        last = b;
    }
    return last; /* everything is backing off: the last one is tried anyway */
}

uint32_t sl_ai_failover_start(sl_conn *c, uint32_t primary_index)
{
    const sl_snap_backend *be = SL_SNAP_GET(&c->snap->s, SL_SNAP_BACKENDS, sl_snap_backend, primary_index);
    c->ai_failover = be->ai_provider && be->ai_fallbacks.count > 0;
    if (!c->ai_failover)
        return primary_index;
    c->ai_primary = primary_index;
    c->ai_next = 0;
    uint32_t first = next_usable(c);
    return first == SL_SNAP_NONE ? primary_index : first;
}

uint32_t sl_ai_failover_next(sl_conn *c)
{
    if (!c->ai_failover)
        return SL_SNAP_NONE;
    const sl_snap_backend *primary = SL_SNAP_GET(&c->snap->s, SL_SNAP_BACKENDS, sl_snap_backend, c->ai_primary);
    if (c->ai_next > primary->ai_fallbacks.count)
        return SL_SNAP_NONE;
    return next_usable(c);
}

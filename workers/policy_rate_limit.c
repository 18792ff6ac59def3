/* Policy kind rateLimit (local): how often a client may call, counted across
 * every worker of the Gateway.
 *
 *   rateLimit: {requests: 100, unit: Minute, burst: 20,
 *               key: ClientIP | Header | ClientId | Claim | Route, header: X-Api-Key, claim: sub}
 *
 * A token bucket per (policy, key): it refills at `requests` per `unit` up to
 * `requests + burst` tokens, and a new bucket starts with `requests` tokens (so
 * a fresh client may send `requests` at once, then waits for refills; after a
 * quiet spell it may burst up to `requests + burst`). Each request takes one
 * token; without one it gets 429 with Retry-After (seconds until a token is
 * back) and the IETF RateLimit-Policy / RateLimit fields. The key is the
 * client's address, the named header's value, the client id that an
 * authentication policy (apiKeyAuth, basicAuth, jwt) established, a claim of
 * the request's JWT, or the route (one bucket per route for every client); a
 * request without that header, id or claim is counted by its address.
 *
 * The buckets live in one shared-memory zone per Gateway (common/zones.h), so
 * its workers share them (with 2 workers and 100 per minute, 100 pass, not
 * 200) and they survive configuration changes; a bucket is found by a seeded
 * hash of (policy, key). The table has --rate-limit-entries slots of 16 bytes,
 * probed in a neighbourhood of 8: a new key takes a free slot there, or evicts
 * the least recently used one (counted: sluice_rate_limit_evictions_total).
 * Each slot is two atomic words (key hash; tokens and last refill time), updated
 * with compare-and-swap: no lock a dying worker could leave held.
 *
 * With scope Global the buckets are in Redis instead, shared by every sluiced
 * that uses it (rate_limit_global.c).
 *
 * Compiled: num[0] requests, num[1] unit in ms, num[2] burst, num[3] key kind;
 * a = the header name (key Header) or the claim (key Claim); flags: scope
 * Global, failureMode Deny (rate_limit.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/settings.h"
#include "common/zones.h"
#include "common/redis_addr.h"
#include "workers/conn.h"
#include "workers/jwt_cache.h"
#include "workers/limit_table.h"
#include "workers/policy.h"
#include "workers/rate_limit.h"

#define KEY_CLIENT_IP 0
#define KEY_HEADER 1
#define KEY_CLIENT_ID 2
#define KEY_CLAIM 3
#define KEY_ROUTE 4
#define ONE 1024u /* a token, in the fixed-point unit of the bucket level */

/* A slot's state (limit_table.h): level (ONE = one token) << 32 | last refill. */

/* ---- master ---- */

bool sl_rate_limit_compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why,
                           size_t whylen)
{
    static const struct {
        const char *name;
        uint64_t ms;
    } units[] = {{"Second", 1000}, {"Minute", 60000}, {"Hour", 3600000}};
    const char *unit = json_string_value(json_object_get(section, "unit"));
    for (size_t i = 0; unit && i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(unit, units[i].name) == 0)
            rec->num[1] = units[i].ms;
    json_int_t requests = json_integer_value(json_object_get(section, "requests"));
    if (!rec->num[1] || requests < 1) {
        snprintf(why, whylen, "rateLimit needs requests >= 1 and a unit of Second, Minute or Hour");
        return false;
    }
    rec->num[0] = (uint64_t)requests;
    rec->num[2] = (uint64_t)json_integer_value(json_object_get(section, "burst"));
    sl_rate_limit_compile_key(env, section, rec, "rateLimit", "request", why, whylen);
    return true;
}

void sl_rate_limit_compile_key(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec,
                               const char *kind, const char *what, char *why, size_t whylen)
{
    sl_snap_builder *b = env->b;
    const char *key = json_string_value(json_object_get(section, "key"));
    if (key && strcmp(key, "Header") == 0) {
        rec->num[3] = KEY_HEADER;
        rec->a = sl_sb_str(b, json_string_value(json_object_get(section, "header")));
    } else if (key && strcmp(key, "ClientId") == 0) {
        rec->num[3] = KEY_CLIENT_ID;
    } else if (key && strcmp(key, "Claim") == 0) {
        rec->num[3] = KEY_CLAIM;
        rec->a = sl_sb_str(b, json_string_value(json_object_get(section, "claim")));
    } else if (key && strcmp(key, "Route") == 0) {
        rec->num[3] = KEY_ROUTE;
    }
    const char *scope = json_string_value(json_object_get(section, "scope"));
    const char *mode = json_string_value(json_object_get(section, "failureMode"));
    if (!scope || strcmp(scope, "Global") != 0)
        return;
    rec->flags |= SL_RATE_LIMIT_GLOBAL;
    if (mode && strcmp(mode, "Deny") == 0)
        rec->flags |= SL_RATE_LIMIT_FAIL_DENY;
    const char *fails = rec->flags & SL_RATE_LIMIT_FAIL_DENY ? "refused (503)" : "allowed";
    char problem[200];
    if (!sl_redis.set)
        snprintf(why, whylen, "%s scope Global needs Redis (sluiced --redis); until then every %s is %s (failureMode)",
                 kind, what, fails);
    else if (env->redis_health && !env->redis_health(problem, sizeof(problem)))
        snprintf(why, whylen, "%s: Redis at %s is unreachable (%s); %ss are %s (failureMode)", kind, sl_redis.text,
                 problem, what, fails);
}

static const sl_zone_kind rate_zone = {"rateLimit", sl_limit_table_init};

/* ---- worker ---- */

sl_slice sl_rate_limit_key(const sl_conn *c, const sl_snap_policy *p, char *tag)
{
    const sl_snapshot *s = &c->snap->s;
    if (p->num[3] == KEY_HEADER) {
        const sl_http1_request *req = &c->w->req;
        sl_slice name = sl_slice_make(sl_snap_cstr(s, p->a), p->a.len);
        for (size_t i = 0; i < req->nheaders; i++)
            if (sl_slice_ieq(req->headers[i].name, name)) {
                *tag = 'H';
                return req->headers[i].value;
            }
    }
    if (p->num[3] == KEY_CLIENT_ID && c->client_id[0]) {
        *tag = 'C';
        return sl_slice_from_cstr(c->client_id);
    }
    const char *claim = p->num[3] == KEY_CLAIM ? sl_claims_get(c->claims, sl_snap_cstr(s, p->a)) : NULL;
    if (claim) {
        *tag = 'J';
        return sl_slice_from_cstr(claim);
    }
    if (p->num[3] == KEY_ROUTE) { /* by name: a bucket outlives the snapshot that routed to it */
        *tag = 'R';
        return sl_slice_from_cstr(c->log_route);
    }
    *tag = c->client.family == AF_INET ? '4' : '6';
    return sl_slice_make((const char *)c->client.addr, c->client.family == AF_INET ? 4 : 16);
}

uint64_t sl_rate_limit_bucket_key(const sl_conn *c, const sl_snap_policy *p)
{
    char tag;
    sl_slice key = sl_rate_limit_key(c, p, &tag);
    uint64_t h = sl_limit_hash(sl_limit_seed(sl_snap_cstr(&c->snap->s, p->source), p->source.len), &tag, 1);
    return sl_limit_hash(h, key.ptr, key.len) | 1;
}

/* Takes a token from key's bucket: 0 when there was one (*left: the tokens
 * left, *full_ms: until the bucket is full again), else the ms until one is back. */
uint64_t sl_rate_limit_take(sl_limit_table *t, uint64_t key, const sl_snap_policy *p, uint64_t *left,
                            uint64_t *full_in_ms)
{
    *left = *full_in_ms = 0;
    uint64_t requests = p->num[0], unit = p->num[1];
    uint64_t cap = (requests + p->num[2]) * ONE, initial = requests * ONE;
    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    if (initial > cap)
        initial = cap;
    uint32_t now32 = sl_limit_now(t);
    sl_limit_slot *s = sl_limit_find(t, key, initial << 32 | now32);
    if (!s)
        return 0; /* contended beyond reason: let it through rather than fail it */
    /* Time to refill from empty to full; beyond it the bucket is full. */
    uint64_t full_ms = (cap * unit + requests * ONE - 1) / (requests * ONE);
    for (int tries = 0; tries < SL_LIMIT_CAS_TRIES; tries++) {
        uint64_t st = atomic_load(&s->state);
        uint64_t level = st >> 32;
        uint32_t last = (uint32_t)st;
        uint32_t elapsed = now32 - last;
        if (elapsed > UINT32_MAX - 60000)
            elapsed = 0; /* another worker stamped a moment later than our clock read */
        else if (elapsed > UINT32_MAX / 2)
            elapsed = UINT32_MAX / 2; /* idle for weeks (the 32-bit clock wrapped): full again */
        uint32_t new_last = last;
        if (elapsed >= full_ms) {
            level = cap;
            new_last = now32;
        } else {
            /* Only whole fixed-point units are added, and the clock advances by
             * their time rounded up (never more than elapsed): time is never
             * credited twice, at worst a fraction of a unit is lost. elapsed <
             * full_ms keeps the product below cap * unit. */
            uint64_t refill = (uint64_t)elapsed * requests * ONE / unit;
            new_last = last + (uint32_t)((refill * unit + requests * ONE - 1) / (requests * ONE));
            level = level + refill > cap ? cap : level + refill;
        }
        uint64_t wait = 0;
        if (level >= ONE)
            level -= ONE;
        else
            wait = ((ONE - level) * unit + requests * ONE - 1) / (requests * ONE);
        if (atomic_compare_exchange_strong(&s->state, &st, level << 32 | new_last)) {
            *left = level / ONE;
            *full_in_ms = ((cap - level) * unit + requests * ONE - 1) / (requests * ONE);
            return wait;
        }
    }
    return 0;
}

void sl_rate_limit_passed(sl_conn *c, const sl_snap_policy *p, uint64_t left, uint64_t full_in_ms)
{
    c->rl_policy = p;
    c->rl_left = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
    c->rl_reset_s = (uint32_t)((full_in_ms + 999) / 1000);
}

void sl_rate_limit_fields(const sl_conn *c, sl_buf *b)
{
    const sl_snap_policy *p = c->rl_policy;
    const char *name = sl_snap_cstr(&c->snap->s, p->source);
    sl_buf_printf(b, "RateLimit-Policy: \"%s\";q=%llu;w=%llu\r\nRateLimit: \"%s\";r=%u;t=%u\r\n", name,
                  (unsigned long long)p->num[0], (unsigned long long)(p->num[1] / 1000), name, c->rl_left,
                  c->rl_reset_s);
}

void sl_rate_limit_refuse(sl_conn *c, const sl_snap_policy *p, uint64_t wait_ms)
{
    const sl_snapshot *s = &c->snap->s;
    uint64_t secs = (wait_ms + 999) / 1000;
    char headers[400];
    snprintf(headers, sizeof(headers),
             "Retry-After: %llu\r\nRateLimit-Policy: \"%s\";q=%llu;w=%llu\r\nRateLimit: \"%s\";r=0;t=%llu\r\n",
             (unsigned long long)secs, sl_snap_cstr(s, p->source), (unsigned long long)p->num[0],
             (unsigned long long)(p->num[1] / 1000), sl_snap_cstr(s, p->source), (unsigned long long)secs);
    sl_log_debug("policy", "client %s over the rateLimit of TrafficPolicy %s", c->peer, sl_snap_cstr(s, p->source));
    sl_conn_respond_with(c, 429, headers, "too many requests\n", false);
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    if (p->flags & SL_RATE_LIMIT_GLOBAL)
        return sl_rate_limit_global(c, p);
    sl_limit_table *t = c->snap->zones[p->kind];
    if (!t || !t->nslots)
        return SL_POLICY_NEXT; /* no zone (the arena is full: logged by the master) */
    uint64_t left, full_in_ms;
    uint64_t wait = sl_rate_limit_take(t, sl_rate_limit_bucket_key(c, p), p, &left, &full_in_ms);
    if (wait) {
        sl_rate_limit_refuse(c, p, wait);
        return SL_POLICY_ANSWERED;
    }
    sl_rate_limit_passed(c, p, left, full_in_ms);
    return SL_POLICY_NEXT;
}

const sl_policy_ops sl_policy_rate_limit = {
    .section = "rateLimit",
    .phase = SL_PHASE_LIMIT,
    .compile = sl_rate_limit_compile,
    .on_request = on_request,
    .zone = &rate_zone,
    .zone_size = sl_limit_table_size,
};

uint64_t sl_rate_limit_evictions(const void *zone)
{
    return zone ? atomic_load(&((const sl_limit_table *)zone)->evictions) : 0;
}

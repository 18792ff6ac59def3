/* rateLimit with scope Global: the token bucket of a key lives in Redis, so
 * every sluiced node that uses the same Redis (and every worker) shares it.
 *
 * The bucket is kept as GCRA's "theoretical arrival time" (one number per key,
 * updated by one Lua script, atomically, on Redis's clock; called by its SHA-1,
 * EVALSHA, and sent whole only when Redis answers NOSCRIPT), which behaves as
 * the local bucket does: it holds requests + burst tokens, refills at requests
 * per unit, and a new key starts with `requests` tokens. The key is
 * "sluice:rl:{ns/policy}:" and a SHA-256 of the request's key (stable across
 * nodes, unlike the local table's seeded hash); it expires once its bucket
 * would be full again.
 *
 * While Redis answers, the request waits for it (the worker serves others);
 * when Redis is down, slow (--redis-timeout) or not configured, failureMode
 * decides at once: Allow (the default) lets the request through, Deny answers
 * 503. Either way it is counted (sluice_rate_limit_redis_errors_total). */
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "workers/conn.h"
#include "workers/rate_limit.h"
#include "workers/redis_client.h"
#include "workers/worker_internal.h"

/* KEYS[1] the bucket; ARGV: emission interval T (µs per token), capacity C
 * (tokens), the debt a new key starts with (µs: burst * T). Returns
 * {1, tokens left, µs until the bucket is full} or {0, µs until a token is back}. */
static const char script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local T, C = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or (now + tonumber(ARGV[3])))\n"
    "if tat < now then tat = now end\n"
    "local new = tat + T\n"
    "if new - now > C * T then return {0, math.ceil(new - now - C * T)} end\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1000)\n"
    "return {1, math.floor((C * T - (new - now)) / T), math.ceil(new - now)}\n";

typedef struct global_check {
    sl_conn *c;
    const sl_snap_policy *p;
    sl_redis_call *call;
} global_check;

sl_policy_result sl_rate_limit_redis_failed(sl_conn *c, const sl_snap_policy *p, const char *kind, const char *why)
{
    static uint64_t last_log_ms; /* one line a second at most: Redis down under load is many failures */
    atomic_fetch_add(&c->w->slot->rate_limit_redis_errors, 1);
    bool deny = p->flags & SL_RATE_LIMIT_FAIL_DENY;
    if (sl_now_ms() >= last_log_ms + 1000) {
        last_log_ms = sl_now_ms();
        sl_log_warn("policy", "%s of TrafficPolicy %s: Redis failed (%s): requests are %s (failureMode)", kind,
                    sl_snap_cstr(&c->snap->s, p->source), why, deny ? "refused" : "allowed");
    }
    if (!deny)
        return SL_POLICY_NEXT;
    sl_conn_respond(c, 503, "rate limit unavailable\n", false);
    return SL_POLICY_ANSWERED;
}

static void done(const redisReply *reply, const char *why, void *arg)
{
    global_check *g = arg;
    sl_conn *c = g->c;
    const sl_snap_policy *p = g->p;
    free(g);
    sl_policy_wait_over(c);
    if (reply && (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
                  reply->element[0]->type != REDIS_REPLY_INTEGER || reply->element[1]->type != REDIS_REPLY_INTEGER ||
                  (reply->element[0]->integer == 1 &&
                   (reply->elements != 3 || reply->element[2]->type != REDIS_REPLY_INTEGER)))) {
        reply = NULL;
        why = "unexpected reply to the rate-limit script";
    }
    if (!reply) {
        if (sl_rate_limit_redis_failed(c, p, "rateLimit", why) == SL_POLICY_NEXT)
            sl_policy_resume(c);
        return;
    }
    if (reply->element[0]->integer == 1) {
        long long left = reply->element[1]->integer, full_us = reply->element[2]->integer;
        sl_rate_limit_passed(c, p, left > 0 ? (uint64_t)left : 0, full_us > 0 ? (uint64_t)full_us / 1000 : 0);
        sl_policy_resume(c);
        return;
    }
    uint64_t wait_us = reply->element[1]->integer > 0 ? (uint64_t)reply->element[1]->integer : 1;
    sl_rate_limit_refuse(c, p, (wait_us + 999) / 1000);
}

static void cancel(sl_conn *c)
{
    global_check *g = c->policy_op;
    sl_redis_cancel(g->call);
    free(g);
}

bool sl_rate_limit_redis_key(const sl_conn *c, const sl_snap_policy *p, const char *prefix, char *key, size_t cap)
{
    char tag;
    sl_slice k = sl_rate_limit_key(c, p, &tag);
    unsigned char digest[32];
    unsigned int dl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, &tag, 1) == 1 &&
              EVP_DigestUpdate(md, k.ptr, k.len) == 1 && EVP_DigestFinal_ex(md, digest, &dl) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        return false;
    int n = snprintf(key, cap, "sluice:%s:{%s}:", prefix, sl_snap_cstr(&c->snap->s, p->source));
    if (n < 0 || (size_t)n + 33 > cap)
        return false;
    for (int i = 0; i < 16; i++)
        n += snprintf(key + n, cap - (size_t)n, "%02x", digest[i]);
    return true;
}

sl_policy_result sl_rate_limit_global(sl_conn *c, const sl_snap_policy *p)
{
    char key[400];
    if (!sl_rate_limit_redis_key(c, p, "rl", key, sizeof(key)))
        return sl_rate_limit_redis_failed(c, p, "rateLimit", "cannot hash the key");
    /* T = unit / requests, in µs; C = requests + burst; a new key owes burst * T. */
    double t_us = (double)p->num[1] * 1000.0 / (double)p->num[0];
    char a_t[40], a_c[40], a_debt[40];
    snprintf(a_t, sizeof(a_t), "%.3f", t_us);
    snprintf(a_c, sizeof(a_c), "%llu", (unsigned long long)(p->num[0] + p->num[2]));
    snprintf(a_debt, sizeof(a_debt), "%.3f", t_us * (double)p->num[2]);
    const char *argv[] = {a_t, a_c, a_debt};
    global_check *g = calloc(1, sizeof(*g));
    if (!g)
        return sl_rate_limit_redis_failed(c, p, "rateLimit", "out of memory");
    g->c = c;
    g->p = p;
    const char *why = NULL;
    g->call = sl_redis_eval(c->w->loop, script, key, 3, argv, done, g, &why);
    if (!g->call) {
        free(g);
        return sl_rate_limit_redis_failed(c, p, "rateLimit", why ? why : "cannot call Redis");
    }
    c->policy_op = g;
    c->policy_cancel = cancel;
    return SL_POLICY_WAIT;
}

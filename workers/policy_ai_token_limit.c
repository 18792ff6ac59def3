/* Policy kind aiTokenLimit: how many LLM tokens a client may use, counted
 * across every worker of the Gateway (or, with scope Global, of every sluiced
 * that uses the same Redis).
 *
 *   aiTokenLimit: {tokens: 100000, unit: Hour,
 *                  key: ClientIP | Header | ClientId | Claim | Route, header, claim,
 *                  scope: Local | Global, failureMode: Allow | Deny}
 *
 * A budget per (policy, key) that refills at `tokens` per `unit` up to
 * `tokens`. A token count is only known once the provider has answered, so:
 *   - phase limit (before anything is read or sent): a key whose budget is
 *     spent (zero or below) gets 429 with Retry-After and the RateLimit fields;
 *   - once an AI route's body is read (ai_request_body.c): a request whose
 *     prompt estimate (a token per 4 bytes of its text) does not fit in what is
 *     left gets 429 too (an estimate above the whole budget only needs a full
 *     budget, or it could never pass);
 *   - after the answer (the AI response hook): the provider's total count is
 *     charged; when it gave none (a client that left mid-stream), the
 *     estimate. The budget may go below zero: the next requests wait until
 *     it has refilled above it. Failed calls (no answer taken by the hook)
 *     cost nothing.
 *
 * Local budgets live in the Gateway's shared table (limit_table.h): state is
 * the level (signed 32-bit tokens) << 32 | last refill. Global ones are one
 * number per key in Redis (GCRA's theoretical arrival time, as rateLimit's:
 * a weighted charge moves it by n emission intervals; it is checked for a
 * positive budget and charged by one Lua script on Redis's clock).
 *
 * Compiled: num[0] tokens, num[1] unit in ms, num[3] key kind; a = the header
 * or claim; flags: scope Global, failureMode Deny (rate_limit.h). */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/zones.h"
#include "workers/ai.h"
#include "workers/conn.h"
#include "workers/limit_table.h"
#include "workers/policy.h"
#include "workers/rate_limit.h"
#include "workers/redis_client.h"

#define LEVEL_MIN (-2147483647LL)

/* ---- master ---- */

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    static const struct {
        const char *name;
        uint64_t ms;
    } units[] = {{"Minute", 60000}, {"Hour", 3600000}, {"Day", 86400000}};
    const char *unit = json_string_value(json_object_get(section, "unit"));
    for (size_t i = 0; unit && i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(unit, units[i].name) == 0)
            rec->num[1] = units[i].ms;
    json_int_t tokens = json_integer_value(json_object_get(section, "tokens"));
    if (!rec->num[1] || tokens < 1 || tokens > 1000000000) {
        snprintf(why, whylen, "aiTokenLimit needs tokens of 1 to 10^9 and a unit of Minute, Hour or Day");
        return false;
    }
    rec->num[0] = (uint64_t)tokens;
    sl_rate_limit_compile_key(env, section, rec, "aiTokenLimit", "request", why, whylen);
    return true;
}

static const sl_zone_kind token_zone = {"aiTokenLimit", sl_limit_table_init};

/* ---- worker: local budgets ---- */

/* The level of state st refilled up to now; *new_last: the refill time to store. */
static int64_t refilled(uint64_t st, uint32_t now, const sl_snap_policy *p, uint32_t *new_last)
{
    int64_t level = (int32_t)(uint32_t)(st >> 32);
    uint32_t last = (uint32_t)st;
    uint32_t elapsed = now - last;
    if (elapsed > UINT32_MAX - 60000)
        elapsed = 0; /* another worker stamped a moment later than our clock read */
    else if (elapsed > UINT32_MAX / 2)
        elapsed = UINT32_MAX / 2; /* idle for weeks (the 32-bit clock wrapped) */
    int64_t cap = (int64_t)p->num[0];
    uint64_t rate = p->num[0], unit = p->num[1];
    uint64_t refill = (uint64_t)elapsed * rate / unit; /* < 2^31 * 10^9: fits */
    if (level >= cap || level + (int64_t)refill >= cap) {
        *new_last = now;
        return cap;
    }
    /* Whole tokens only; the clock moves by their time rounded up (never more
     * than elapsed): time is not credited twice. */
    *new_last = last + (uint32_t)((refill * unit + rate - 1) / rate);
    return level + (int64_t)refill;
}

/* Refills key's budget and takes n tokens from it (0: only looks). Returns the
 * level after, or cap when the table is contended beyond reason (let through). */
static int64_t update(sl_limit_table *t, uint64_t key, const sl_snap_policy *p, int64_t n)
{
    uint32_t now = sl_limit_now(t);
    sl_limit_slot *s = sl_limit_find(t, key, (uint64_t)(uint32_t)p->num[0] << 32 | now);
    if (!s)
        return (int64_t)p->num[0];
    for (int tries = 0; tries < SL_LIMIT_CAS_TRIES; tries++) {
        uint64_t st = atomic_load(&s->state);
        uint32_t last;
        int64_t level = refilled(st, now, p, &last) - n;
        if (level < LEVEL_MIN)
            level = LEVEL_MIN;
        uint64_t next = (uint64_t)(uint32_t)(int32_t)level << 32 | last;
        if (next == st || atomic_compare_exchange_strong(&s->state, &st, next))
            return level;
    }
    return (int64_t)p->num[0];
}

/* Milliseconds until the budget at `level` has `need` tokens. */
static uint64_t wait_for(const sl_snap_policy *p, int64_t level, int64_t need)
{
    if (level >= need)
        return 0;
    return ((uint64_t)(need - level) * p->num[1] + p->num[0] - 1) / p->num[0];
}

/* ---- worker: answers ---- */

static void refuse(sl_conn *c, const sl_snap_policy *p, uint64_t wait_ms, const char *what)
{
    const sl_snapshot *s = &c->snap->s;
    const char *name = sl_snap_cstr(s, p->source);
    uint64_t secs = (wait_ms + 999) / 1000;
    char headers[400];
    snprintf(headers, sizeof(headers),
             "Content-Type: application/json\r\nRetry-After: %llu\r\nRateLimit-Policy: \"%s\";q=%llu;w=%llu;pk=tokens\r\n"
             "RateLimit: \"%s\";r=0;t=%llu\r\n",
             (unsigned long long)secs, name, (unsigned long long)p->num[0], (unsigned long long)(p->num[1] / 1000),
             name, (unsigned long long)secs);
    char body[400];
    int n = snprintf(body, sizeof(body),
                     "{\"error\":{\"message\":\"%s: the token budget of %llu per %llu s is used up (TrafficPolicy "
                     "%s); try again in %llu s\",\"type\":\"tokens\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}",
                     what, (unsigned long long)p->num[0], (unsigned long long)(p->num[1] / 1000), name,
                     (unsigned long long)secs);
    sl_log_debug("policy", "client %s over the aiTokenLimit of TrafficPolicy %s", c->peer, name);
    sl_conn_respond_raw(c, 429, headers, body, n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0);
}

/* The request may go on: the budget it charges later, and its level now. */
static void passed(sl_conn *c, const sl_snap_policy *p, int64_t level)
{
    c->tl_policy = p;
    c->tl_level = level;
}

/* ---- worker: global budgets ---- */

/* KEYS[1] the budget; ARGV: emission interval T (µs per token), capacity C
 * (tokens), n tokens to charge (0: check). A check returns {1, tokens left}
 * while the budget is above zero, else {0, µs until it is}; a charge returns
 * {1, tokens left} (may be negative). */
static const char script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local T, C, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or now)\n"
    "if tat < now then tat = now end\n"
    "if n == 0 then\n"
    "  if tat - now >= C * T then return {0, math.ceil(tat - now - C * T) + 1} end\n"
    "  return {1, math.floor(C - (tat - now) / T)}\n"
    "end\n"
    "tat = tat + n * T\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)\n"
    "return {1, math.floor(C - (tat - now) / T)}\n";

typedef struct global_call {
    sl_conn *c;
    const sl_snap_policy *p;
    sl_redis_call *call;
} global_call;

static sl_redis_call *eval(sl_conn *c, const sl_snap_policy *p, const char *key, int64_t n, sl_redis_done done,
                           void *arg, const char **why)
{
    char a_t[40], a_c[40], a_n[40];
    snprintf(a_t, sizeof(a_t), "%.3f", (double)p->num[1] * 1000.0 / (double)p->num[0]);
    snprintf(a_c, sizeof(a_c), "%llu", (unsigned long long)p->num[0]);
    snprintf(a_n, sizeof(a_n), "%lld", (long long)n);
    const char *argv[] = {a_t, a_c, a_n};
    return sl_redis_eval(c->w->loop, script, key, 3, argv, done, arg, why);
}

static void checked(const redisReply *reply, const char *why, void *arg)
{
    global_call *g = arg;
    sl_conn *c = g->c;
    const sl_snap_policy *p = g->p;
    free(g);
    sl_policy_wait_over(c);
    if (reply && (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
                  reply->element[0]->type != REDIS_REPLY_INTEGER || reply->element[1]->type != REDIS_REPLY_INTEGER)) {
        reply = NULL;
        why = "unexpected reply to the token-limit script";
    }
    if (!reply) {
        free(c->tl_redis_key);
        c->tl_redis_key = NULL;
        if (sl_rate_limit_redis_failed(c, p, "aiTokenLimit", why) == SL_POLICY_NEXT)
            sl_policy_resume(c);
        return;
    }
    if (reply->element[0]->integer == 1) {
        passed(c, p, reply->element[1]->integer);
        sl_policy_resume(c);
        return;
    }
    free(c->tl_redis_key);
    c->tl_redis_key = NULL;
    uint64_t wait_us = reply->element[1]->integer > 0 ? (uint64_t)reply->element[1]->integer : 1;
    refuse(c, p, (wait_us + 999) / 1000, "over the token limit");
}

static void cancel(sl_conn *c)
{
    global_call *g = c->policy_op;
    sl_redis_cancel(g->call);
    free(g);
}

static sl_policy_result check_global(sl_conn *c, const sl_snap_policy *p)
{
    char key[400];
    if (!sl_rate_limit_redis_key(c, p, "tl", key, sizeof(key)))
        return sl_rate_limit_redis_failed(c, p, "aiTokenLimit", "cannot hash the key");
    global_call *g = calloc(1, sizeof(*g));
    c->tl_redis_key = strdup(key); /* the charge, after the answer, goes to the same key */
    if (!g || !c->tl_redis_key) {
        free(g);
        return sl_rate_limit_redis_failed(c, p, "aiTokenLimit", "out of memory");
    }
    g->c = c;
    g->p = p;
    const char *why = NULL;
    g->call = eval(c, p, key, 0, checked, g, &why);
    if (!g->call) {
        free(g);
        free(c->tl_redis_key);
        c->tl_redis_key = NULL;
        return sl_rate_limit_redis_failed(c, p, "aiTokenLimit", why ? why : "cannot call Redis");
    }
    c->policy_op = g;
    c->policy_cancel = cancel;
    return SL_POLICY_WAIT;
}

static void charged(const redisReply *reply, const char *why, void *arg)
{
    (void)arg;
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        sl_log_warn("policy", "aiTokenLimit: a charge did not reach Redis: %s",
                    reply ? reply->str : why ? why : "no reply");
}

/* ---- worker: the phases ---- */

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    if (p->flags & SL_RATE_LIMIT_GLOBAL)
        return check_global(c, p);
    sl_limit_table *t = c->snap->zones[p->kind];
    if (!t || !t->nslots)
        return SL_POLICY_NEXT; /* no zone (the arena is full: logged by the master) */
    c->tl_key = sl_rate_limit_bucket_key(c, p);
    int64_t level = update(t, c->tl_key, p, 0);
    if (level <= 0) {
        refuse(c, p, wait_for(p, level, 1), "over the token limit");
        return SL_POLICY_ANSWERED;
    }
    passed(c, p, level);
    return SL_POLICY_NEXT;
}

bool sl_ai_tokens_fit(sl_conn *c, uint64_t text_bytes)
{
    const sl_snap_policy *p = c->tl_policy;
    if (!p)
        return true;
    int64_t estimate = (int64_t)(text_bytes / 4) + 1;
    c->tl_estimate = estimate;
    int64_t need = estimate < (int64_t)p->num[0] ? estimate : (int64_t)p->num[0];
    return c->tl_level >= need;
}

void sl_ai_tokens_refuse(sl_conn *c)
{
    const sl_snap_policy *p = c->tl_policy;
    int64_t need = c->tl_estimate < (int64_t)p->num[0] ? c->tl_estimate : (int64_t)p->num[0];
    c->tl_policy = NULL; /* nothing is charged for it */
    refuse(c, p, wait_for(p, c->tl_level, need), "the prompt does not fit in the token budget left");
}

void sl_ai_tokens_settle(sl_conn *c, int64_t used)
{
    const sl_snap_policy *p = c->tl_policy;
    if (!p)
        return;
    c->tl_policy = NULL;
    if (used < 0)
        used = c->tl_estimate;
    if (used <= 0)
        return;
    if (used > INT32_MAX)
        used = INT32_MAX; /* a provider's count is not trusted to fit */
    if (!(p->flags & SL_RATE_LIMIT_GLOBAL)) {
        sl_limit_table *t = c->snap->zones[p->kind];
        if (t && t->nslots)
            update(t, c->tl_key, p, used);
        return;
    }
    if (!c->tl_redis_key)
        return; /* Redis failed at the check (failureMode let it through): nothing to charge */
    const char *why = NULL;
    if (!eval(c, p, c->tl_redis_key, used, charged, NULL, &why))
        sl_log_warn("policy", "aiTokenLimit: %lld tokens of TrafficPolicy %s not charged: %s", (long long)used,
                    sl_snap_cstr(&c->snap->s, p->source), why ? why : "cannot call Redis");
}

void sl_ai_tokens_end(sl_conn *c)
{
    /* Sent but never answered (the client left, the provider timed out): the
     * provider may bill it all the same, so the estimate is charged. */
    if (c->tl_policy && c->up_wrote && !c->res_head_done)
        sl_ai_tokens_settle(c, -1);
    c->tl_policy = NULL;
    c->tl_estimate = 0;
    free(c->tl_redis_key);
    c->tl_redis_key = NULL;
}

const sl_policy_ops sl_policy_ai_token_limit = {
    .section = "aiTokenLimit",
    .phase = SL_PHASE_LIMIT,
    .compile = compile,
    .on_request = on_request,
    .zone = &token_zone,
    .zone_size = sl_limit_table_size,
};

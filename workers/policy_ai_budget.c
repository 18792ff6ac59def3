/* Policy kind aiBudget: what a client may spend on LLM calls per calendar
 * period, in tokens or in money.
 *
 *   aiBudget: {tokens: 2000000 | costUSD: 25, period: Day | Month,
 *              key: ClientIP | Header | ClientId | Claim | Route, header, claim,
 *              scope: Local | Global, failureMode: Allow | Deny}
 *
 * A period is a UTC calendar day or month: what a key spent starts again
 * from zero when the next one begins (a budget, not a rate: aiTokenLimit
 * refills continuously). Money is counted by the answering Backend's
 * ai.prices (an answer without a price costs nothing).
 *   - phase limit: a key that spent its budget gets 429 (OpenAI's
 *     insufficient_quota, Retry-After: the period's end);
 *   - once an AI route's body is read: a request whose prompt estimate (a
 *     token per 4 bytes of its text; priced as input) does not fit in what is
 *     left gets 429 too (an estimate above the whole budget needs it unspent);
 *   - after the answer: what it used is charged (the provider's count and its
 *     price; without a count, the estimate).
 *
 * Local budgets live in the Gateway's shared table (ai_budget_table.h), which
 * the admin API lists (/debug/ai-budgets). Global ones are one counter per
 * key and period in Redis (INCRBY, expiring after the period); the totals
 * Redis returns are kept in the local table too, for the listing.
 *
 * Compiled: num[0] the budget (tokens, or micro-USD), num[1] the period
 * (PERIOD_*), num[2] 1 for money; num[3], a, flags: the key and scope
 * (rate_limit.h). */
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/zones.h"
#include "workers/ai.h"
#include "workers/ai_budget_table.h"
#include "workers/conn.h"
#include "workers/policy.h"
#include "workers/rate_limit.h"
#include "workers/redis_client.h"

enum { PERIOD_DAY = 1, PERIOD_MONTH = 2 };

/* ---- master ---- */

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    const char *period = json_string_value(json_object_get(section, "period"));
    rec->num[1] = period && strcmp(period, "Day") == 0 ? PERIOD_DAY : period && strcmp(period, "Month") == 0 ? PERIOD_MONTH : 0;
    const json_t *tokens = json_object_get(section, "tokens"), *cost = json_object_get(section, "costUSD");
    if (json_is_integer(tokens) && json_integer_value(tokens) >= 1) {
        rec->num[0] = (uint64_t)json_integer_value(tokens);
    } else if (json_is_number(cost) && json_number_value(cost) > 0) {
        rec->num[0] = (uint64_t)(json_number_value(cost) * 1e6 + 0.5);
        rec->num[2] = 1;
    }
    if (!rec->num[0] || !rec->num[1]) {
        snprintf(why, whylen, "aiBudget needs tokens or costUSD, and a period of Day or Month");
        return false;
    }
    sl_rate_limit_compile_key(env, section, rec, "aiBudget", "request", why, whylen);
    return true;
}

static const sl_zone_kind budget_zone = {"aiBudget", sl_budget_table_init};

/* ---- worker: periods ---- */

/* The period now (days or months since 1970, UTC) and the seconds until the next. */
uint32_t sl_ai_budget_period(const sl_snap_policy *p, uint64_t *left_s)
{
    time_t now = time(NULL);
    if (p->num[1] == PERIOD_DAY) {
        *left_s = 86400 - (uint64_t)now % 86400;
        return (uint32_t)(now / 86400);
    }
    struct tm tm;
    gmtime_r(&now, &tm);
    struct tm next = {.tm_year = tm.tm_year + (tm.tm_mon == 11), .tm_mon = (tm.tm_mon + 1) % 12, .tm_mday = 1};
    time_t start = timegm(&next);
    *left_s = start > now ? (uint64_t)(start - now) : 1;
    return (uint32_t)((tm.tm_year - 70) * 12 + tm.tm_mon);
}

/* An amount as the budget counts it, as text: tokens, or USD. */
static void amount_text(const sl_snap_policy *p, uint64_t v, char *out, size_t cap)
{
    if (p->num[2])
        snprintf(out, cap, "%llu.%06llu USD", (unsigned long long)(v / 1000000), (unsigned long long)(v % 1000000));
    else
        snprintf(out, cap, "%llu tokens", (unsigned long long)v);
}

/* ---- worker: answers ---- */

static void refuse(sl_conn *c, const sl_snap_policy *p, const char *what)
{
    uint64_t left_s;
    sl_ai_budget_period(p, &left_s);
    const char *name = sl_snap_cstr(&c->snap->s, p->source);
    char budget[64], headers[200], body[600];
    amount_text(p, p->num[0], budget, sizeof(budget));
    /* x-should-retry: the OpenAI libraries retry a 429 unless told not to; a
     * spent budget does not come back in seconds. */
    snprintf(headers, sizeof(headers),
             "Content-Type: application/json\r\nRetry-After: %llu\r\nx-should-retry: false\r\n",
             (unsigned long long)left_s);
    int n = snprintf(body, sizeof(body),
                     "{\"error\":{\"message\":\"%s (the budget of %s per %s, TrafficPolicy %s); it renews in "
                     "%llu s\",\"type\":\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"}}",
                     what, budget, p->num[1] == PERIOD_DAY ? "day" : "month", name, (unsigned long long)left_s);
    sl_log_debug("policy", "client %s over the aiBudget of TrafficPolicy %s", c->peer, name);
    sl_conn_respond_raw(c, 429, headers, body, n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0);
}

/* Whether header `name` carries a credential (not to be shown in a listing). */
static bool credential_field(sl_slice name)
{
    static const char *const names[] = {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie",
                                        "x-goog-api-key"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (sl_slice_ieq_cstr(name, names[i]))
            return true;
    return false;
}

/* The key's value as the listing shows it (an address as text; a credential
 * only by its last 4 characters). */
static void key_text(const sl_conn *c, const sl_snap_policy *p, char *out, size_t cap)
{
    char tag;
    sl_slice key = sl_rate_limit_key(c, p, &tag);
    if (tag == '4' || tag == '6') {
        if (!inet_ntop(tag == '4' ? AF_INET : AF_INET6, key.ptr, out, (socklen_t)cap))
            snprintf(out, cap, "?");
        return;
    }
    if (tag == 'H' && credential_field(sl_slice_make(sl_snap_cstr(&c->snap->s, p->a), p->a.len))) {
        size_t tail = key.len > 8 ? 4 : 0; /* a short one not even in part */
        snprintf(out, cap, "...%.*s", (int)tail, key.ptr + key.len - tail);
        return;
    }
    snprintf(out, cap, "%.*s", (int)(key.len < cap ? key.len : cap - 1), key.ptr);
}

/* Takes the request's key for p into c->budget: its hash (the unit in it: a
 * policy switched between tokens and USD does not read the old counts) and
 * its text. false: out of memory. */
static bool take_key(sl_conn *c, const sl_snap_policy *p)
{
    char text[128];
    key_text(c, p, text, sizeof(text));
    free(c->budget.key_text);
    c->budget.key_text = strdup(text);
    c->budget.key = (sl_rate_limit_bucket_key(c, p) ^ (p->num[2] ? 2u : 0u)) | 1u;
    return c->budget.key_text != NULL;
}

/* The key's slot in the Gateway's table, or NULL (no zone, or contended). */
static sl_budget_slot *slot_of(const sl_conn *c, const sl_snap_policy *p)
{
    sl_budget_table *t = c->snap->zones[p->kind];
    if (!t || !t->nslots || !c->budget.key_text)
        return NULL;
    return sl_budget_find(t, c->budget.key, sl_snap_cstr(&c->snap->s, p->source), c->budget.key_text,
                          strlen(c->budget.key_text));
}

static void passed(sl_conn *c, const sl_snap_policy *p, uint64_t spent)
{
    c->budget.policy = p;
    c->budget.spent = spent;
}

/* ---- worker: global budgets ---- */

/* KEYS[1] the key's counter for the period; ARGV: n to add (0: read), its
 * time to live in ms. Returns the total. */
static const char script[] = "local n = tonumber(ARGV[1])\n"
                             "if n == 0 then return tonumber(redis.call('GET', KEYS[1]) or '0') end\n"
                             "local v = redis.call('INCRBY', KEYS[1], n)\n"
                             "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                             "return v\n";

typedef struct global_call {
    sl_conn *c;
    const sl_snap_policy *p;
    sl_redis_call *call;
} global_call;

/* The key's Redis counter for the period now (malloc'd), or NULL. */
static char *redis_key(const sl_conn *c, const sl_snap_policy *p)
{
    char key[400];
    uint64_t left_s;
    uint32_t period = sl_ai_budget_period(p, &left_s);
    if (!sl_rate_limit_redis_key(c, p, p->num[2] ? "bgusd" : "bg", key, sizeof(key)))
        return NULL;
    char *full = NULL;
    return asprintf(&full, "%s:%u", key, period) < 0 ? NULL : full;
}

static sl_redis_call *eval(sl_conn *c, const sl_snap_policy *p, const char *key, uint64_t n, sl_redis_done done,
                           void *arg, const char **why)
{
    uint64_t left_s;
    sl_ai_budget_period(p, &left_s);
    char a_n[32], a_ttl[32];
    snprintf(a_n, sizeof(a_n), "%llu", (unsigned long long)n);
    snprintf(a_ttl, sizeof(a_ttl), "%llu", (unsigned long long)(left_s + 86400) * 1000); /* a day's grace for clocks */
    const char *argv[] = {a_n, a_ttl};
    return sl_redis_eval(c->w->loop, script, key, 2, argv, done, arg, why);
}

static void checked(const redisReply *reply, const char *why, void *arg)
{
    global_call *g = arg;
    sl_conn *c = g->c;
    const sl_snap_policy *p = g->p;
    free(g);
    sl_policy_wait_over(c);
    if (reply && reply->type != REDIS_REPLY_INTEGER) {
        reply = NULL;
        why = "unexpected reply to the budget script";
    }
    if (!reply) {
        free(c->budget.redis_key);
        c->budget.redis_key = NULL;
        if (sl_rate_limit_redis_failed(c, p, "aiBudget", why) == SL_POLICY_NEXT)
            sl_policy_resume(c);
        return;
    }
    uint64_t spent = reply->integer > 0 ? (uint64_t)reply->integer : 0;
    if (spent < p->num[0]) {
        passed(c, p, spent);
        sl_policy_resume(c);
        return;
    }
    free(c->budget.redis_key);
    c->budget.redis_key = NULL;
    refuse(c, p, "the budget is spent");
}

static void cancel(sl_conn *c)
{
    global_call *g = c->policy_op;
    sl_redis_cancel(g->call);
    free(g);
}

static sl_policy_result check_global(sl_conn *c, const sl_snap_policy *p)
{
    global_call *g = calloc(1, sizeof(*g));
    c->budget.redis_key = redis_key(c, p); /* the charge, after the answer, goes to the same counter */
    if (!g || !c->budget.redis_key) {
        free(g);
        return sl_rate_limit_redis_failed(c, p, "aiBudget", "out of memory");
    }
    g->c = c;
    g->p = p;
    const char *why = NULL;
    g->call = eval(c, p, c->budget.redis_key, 0, checked, g, &why);
    if (!g->call) {
        free(g);
        free(c->budget.redis_key);
        c->budget.redis_key = NULL;
        return sl_rate_limit_redis_failed(c, p, "aiBudget", why ? why : "cannot call Redis");
    }
    c->policy_op = g;
    c->policy_cancel = cancel;
    return SL_POLICY_WAIT;
}

/* A charge's reply: Redis's total goes into the local table, for the listing. */
typedef struct charge_call {
    sl_budget_slot *slot;
    uint64_t key;    /* the slot's key when the charge left: another may have it by the reply */
    uint32_t period;
} charge_call;

static void charged(const redisReply *reply, const char *why, void *arg)
{
    charge_call *cc = arg;
    if (reply && reply->type == REDIS_REPLY_INTEGER && cc->slot && atomic_load(&cc->slot->key) == cc->key)
        sl_budget_charge(cc->slot, cc->period, reply->integer > 0 ? (uint64_t)reply->integer : 0, true);
    else if (!reply || reply->type == REDIS_REPLY_ERROR)
        sl_log_warn("policy", "aiBudget: a charge did not reach Redis: %s",
                    reply ? reply->str : why ? why : "no reply");
    free(cc);
}

/* ---- worker: the phases ---- */

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    if (!take_key(c, p))
        return SL_POLICY_NEXT; /* out of memory: not refused for it */
    if (p->flags & SL_RATE_LIMIT_GLOBAL)
        return check_global(c, p);
    sl_budget_slot *s = slot_of(c, p);
    if (!s)
        return SL_POLICY_NEXT; /* no zone (the arena is full: logged by the master), or contended beyond reason */
    uint64_t left_s;
    uint64_t spent = sl_budget_spent(s, sl_ai_budget_period(p, &left_s));
    if (spent >= p->num[0]) {
        refuse(c, p, "the budget is spent");
        return SL_POLICY_ANSWERED;
    }
    passed(c, p, spent);
    return SL_POLICY_NEXT;
}

/* What `tokens` of prompt (input) of `model` cost at be's price, in micro-USD; 0 without one. */
static uint64_t input_cost(const sl_conn *c, int64_t tokens, const char *model)
{
    const sl_snap_backend *be = sl_ai_backend(c);
    sl_ai_usage u;
    sl_ai_usage_init(&u);
    u.input = tokens;
    u.output = 0;
    snprintf(u.model, sizeof(u.model), "%s", model ? model : "");
    int64_t nusd = be ? sl_ai_cost_nusd(&c->snap->s, be, &u) : -1;
    return nusd > 0 ? (uint64_t)(nusd / 1000) + 1 : 0;
}

bool sl_ai_budget_fit(sl_conn *c, uint64_t text_bytes, const char *model)
{
    const sl_snap_policy *p = c->budget.policy;
    if (!p)
        return true;
    int64_t tokens = (int64_t)(text_bytes / 4) + 1;
    c->budget.estimate_tokens = tokens;
    c->budget.estimate_cost = input_cost(c, tokens, model);
    uint64_t estimate = p->num[2] ? c->budget.estimate_cost : (uint64_t)tokens;
    uint64_t need = estimate < p->num[0] ? estimate : p->num[0];
    return c->budget.spent + need <= p->num[0];
}

void sl_ai_budget_refuse(sl_conn *c)
{
    const sl_snap_policy *p = c->budget.policy;
    c->budget.policy = NULL; /* nothing is charged for it */
    c->budget.refused = false;
    refuse(c, p, "the prompt does not fit in what is left of the budget");
}

void sl_ai_budget_settle(sl_conn *c, int64_t tokens, int64_t cost_nusd)
{
    const sl_snap_policy *p = c->budget.policy;
    if (!p)
        return;
    c->budget.policy = NULL;
    int64_t estimate = c->budget.estimate_tokens;
    uint64_t amount = !p->num[2]      ? (uint64_t)(tokens >= 0 ? tokens : estimate)
                      : cost_nusd >= 0 ? (uint64_t)(cost_nusd / 1000) + (cost_nusd % 1000 != 0)
                      : tokens < 0    ? c->budget.estimate_cost /* no count: the prompt's estimate */
                                      : 0;                      /* counted, but no price */
    if (amount == 0)
        return;
    if (amount > SL_BUDGET_SPENT_MAX)
        amount = SL_BUDGET_SPENT_MAX; /* (a provider's count is not trusted to be sane) */
    uint64_t left_s;
    uint32_t period = sl_ai_budget_period(p, &left_s);
    sl_budget_slot *s = slot_of(c, p);
    if (!(p->flags & SL_RATE_LIMIT_GLOBAL)) {
        if (s)
            sl_budget_charge(s, period, amount, false);
        return;
    }
    if (!c->budget.redis_key)
        return; /* Redis failed at the check (failureMode let it through): nothing to charge */
    charge_call *cc = calloc(1, sizeof(*cc));
    const char *why = NULL;
    if (cc) {
        cc->slot = s;
        cc->key = c->budget.key;
        cc->period = period;
    }
    if (!cc || !eval(c, p, c->budget.redis_key, amount, charged, cc, &why)) {
        free(cc);
        sl_log_warn("policy", "aiBudget: %llu of TrafficPolicy %s not charged: %s", (unsigned long long)amount,
                    sl_snap_cstr(&c->snap->s, p->source), why ? why : "cannot call Redis");
    }
}

void sl_ai_budget_end(sl_conn *c)
{
    /* Sent but never answered: the provider may bill it all the same. */
    if (c->budget.policy && c->up_wrote && !c->res_head_done)
        sl_ai_budget_settle(c, -1, -1);
    c->budget.policy = NULL;
    c->budget.refused = false;
    c->budget.estimate_tokens = 0;
    c->budget.estimate_cost = 0;
    free(c->budget.redis_key);
    c->budget.redis_key = NULL;
    free(c->budget.key_text);
    c->budget.key_text = NULL;
}

const sl_policy_ops sl_policy_ai_budget = {
    .section = "aiBudget",
    .phase = SL_PHASE_LIMIT,
    .compile = compile,
    .on_request = on_request,
    .zone = &budget_zone,
    .zone_size = sl_budget_table_size,
};

/* Policy kind jwt: callers present a JSON Web Token signed by a trusted issuer.
 *
 *   jwt:
 *     clockSkew: 60s                 # leeway for exp and nbf (default 60s)
 *     providers:                     # tried in order; the first whose issuer fits decides
 *     - name: corp
 *       issuer: https://id.example.com   # the token's iss must equal it (optional)
 *       audiences: [orders-api]          # its aud must name one of them (optional)
 *       jwks: {inline: '{"keys":[...]}'} # or {secretRef: {name, key}} or {uri, refreshInterval}
 *       clientIdClaim: sub               # the claim that names the client (default sub)
 *       claimsToHeaders: [{claim: email, header: X-User-Email}]
 *       forwardToken: false              # keep Authorization upstream (default: removed)
 *
 * The token comes in `Authorization: Bearer <token>`. Without one: 401 with
 * `WWW-Authenticate: Bearer realm="sluice"`; with a bad one: 401 with
 * error="invalid_token" and a short error_description (RFC 6750 section 3).
 * A valid token makes its clientIdClaim the request's client id (access log,
 * rateLimit key ClientId, authorization clientIds); all its claims are
 * available to rateLimit key Claim and authorization rules' claims.
 *
 * Verification (common/jwt.c): the algorithm must be an asymmetric one the key
 * fits (no `none`, no HMAC, so a public key cannot be used as an HMAC secret),
 * the signature must verify with a key of the provider (the token's kid
 * selects it when both have one), exp and nbf hold within clockSkew, iss and
 * aud match. Verified tokens are cached per worker (jwt_cache.h) until they
 * expire or the snapshot changes.
 *
 * Compiled, per provider, consecutive items:
 *   PROVIDER  a = name, b = issuer ("" any), num = items after it for this
 *             provider, prefix bit 0 = forwardToken
 *   AUD       a = audiences (one per line, "" any), b = clientIdClaim
 *   CLAIM*    a = claim, b = header
 *   KEY*      a = kid ("" none), b = DER SubjectPublicKeyInfo, prefix = sl_jwk_type,
 *             family = the key's alg restriction (SL_JWT_ALG_NONE: any fitting)
 * policy u[0] = providers, num[0] = clock skew in seconds. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/jwt.h"
#include "common/log.h"
#include "daemon/compile_values.h"
#include "daemon/jwk.h"
#include "workers/conn.h"
#include "workers/jwt_cache.h"
#include "workers/mcp.h"
#include "workers/policy.h"

enum { ITEM_PROVIDER = 1, ITEM_AUD, ITEM_CLAIM, ITEM_KEY };
#define FORWARD_TOKEN 1
#define DEFAULT_SKEW_S 60
#define UNEXPIRING_CACHE_S 300
#define DEFAULT_REFRESH_MS 300000 /* a jwks.uri is fetched again every 5 minutes */ /* a token without exp is re-verified this often */

/* ---- master ---- */

/* Appends a problem to why (status shows every one). */
static void note(char *why, size_t whylen, const char *fmt, const char *a, const char *b)
{
    size_t used = strlen(why);
    if (used + 3 < whylen)
        snprintf(why + used, whylen - used, "%s", used ? "; " : "");
    used = strlen(why);
    if (used < whylen)
        snprintf(why + used, whylen - used, fmt, a, b);
}

typedef struct secret_pick {
    const char *key;
    char *text;
} secret_pick;

static void pick_entry(const char *key, const char *value, size_t len, void *arg)
{
    secret_pick *sp = arg;
    if (strcmp(key, sp->key) == 0 && !sp->text && (sp->text = malloc(len + 1))) {
        memcpy(sp->text, value, len);
        sp->text[len] = '\0';
    }
}

/* The JWKS text of a provider (malloc'd) or NULL with why noted. */
static char *jwks_text(const sl_policy_env *env, const json_t *jwks, const char *provider, char *why, size_t whylen)
{
    const char *inline_text = json_string_value(json_object_get(jwks, "inline"));
    if (inline_text)
        return strdup(inline_text);
    const json_t *ref = json_object_get(jwks, "secretRef");
    if (ref) {
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *key = json_string_value(json_object_get(ref, "key"));
        secret_pick sp = {key ? key : "jwks", NULL};
        if (!name || !env->secret_data(env, name, pick_entry, &sp))
            note(why, whylen, "jwt provider %s: Secret %s does not exist", provider, name ? name : "");
        else if (!sp.text)
            note(why, whylen, "jwt provider %s: the Secret has no entry %s", provider, sp.key);
        return sp.text;
    }
    const char *uri = json_string_value(json_object_get(jwks, "uri"));
    if (uri && env->fetched) {
        char problem[300] = "";
        const char *every = json_string_value(json_object_get(jwks, "refreshInterval"));
        char *text = env->fetched(uri, every ? sl_duration_ms(every) : DEFAULT_REFRESH_MS, problem, sizeof(problem));
        if (problem[0])
            note(why, whylen, "jwt provider %s: %s", provider, problem);
        return text;
    }
    note(why, whylen, "jwt provider %s: %s", provider, "no JWKS source");
    return NULL;
}

/* Adds a KEY item per usable key of the JWKS; returns how many. */
static uint32_t compile_keys(const sl_policy_env *env, const char *text, const char *provider, char *why,
                             size_t whylen)
{
    json_t *jwks = text ? json_loads(text, 0, NULL) : NULL;
    const json_t *keys = json_object_get(jwks, "keys");
    uint32_t n = 0;
    if (text && !json_is_array(keys))
        note(why, whylen, "jwt provider %s: %s", provider, "the JWKS is not a JSON object with a keys array");
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k)
    {
        sl_jwk_type type;
        sl_jwt_alg alg;
        unsigned char *der;
        size_t der_len;
        char problem[160];
        if (!sl_jwk_to_der(k, &type, &alg, &der, &der_len, problem, sizeof(problem))) {
            sl_log_warn("compiler", "jwt of TrafficPolicy %s, provider %s: key %zu skipped: %s", env->source,
                        provider, i, problem);
            continue;
        }
        sl_snap_policy_item it = {.flags = ITEM_KEY, .prefix = (uint8_t)type, .family = (uint8_t)alg};
        it.a = sl_sb_str(env->b, json_string_value(json_object_get(k, "kid")));
        it.b = sl_sb_strn(env->b, (const char *)der, der_len);
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &it);
        free(der);
        n++;
    }
    if (text && !n)
        note(why, whylen, "jwt provider %s: %s", provider, "the JWKS has no usable key; its tokens are refused");
    json_decref(jwks);
    return n;
}

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    const char *skew = json_string_value(json_object_get(section, "clockSkew"));
    rec->num[0] = skew ? sl_duration_ms(skew) / 1000 : DEFAULT_SKEW_S;
    rec->items.first = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS);
    size_t i;
    const json_t *pv;
    json_array_foreach(json_object_get(section, "providers"), i, pv)
    {
        const char *name = json_string_value(json_object_get(pv, "name"));
        name = name ? name : "";
        uint32_t head_index = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS);
        sl_snap_policy_item head = {.flags = ITEM_PROVIDER};
        head.prefix = json_is_true(json_object_get(pv, "forwardToken")) ? FORWARD_TOKEN : 0;
        head.a = sl_sb_str(env->b, name);
        head.b = sl_sb_str(env->b, json_string_value(json_object_get(pv, "issuer")));
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &head);
        const char *id_claim = json_string_value(json_object_get(pv, "clientIdClaim"));
        sl_snap_policy_item aud = {.flags = ITEM_AUD};
        aud.a = sl_compile_join_lines(env->b, json_object_get(pv, "audiences"));
        aud.b = sl_sb_str(env->b, id_claim ? id_claim : "sub");
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &aud);
        size_t j;
        const json_t *ch;
        json_array_foreach(json_object_get(pv, "claimsToHeaders"), j, ch)
        {
            sl_snap_policy_item it = {.flags = ITEM_CLAIM};
            it.a = sl_sb_str(env->b, json_string_value(json_object_get(ch, "claim")));
            it.b = sl_sb_str(env->b, json_string_value(json_object_get(ch, "header")));
            sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &it);
        }
        char *text = jwks_text(env, json_object_get(pv, "jwks"), name, why, whylen);
        compile_keys(env, text, name, why, whylen);
        free(text);
        /* The builder may have moved its records: patch the head by index. */
        sl_snap_policy_item *h = sl_sb_at(env->b, SL_SNAP_POLICY_ITEMS, head_index);
        h->num = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS) - head_index - 1;
        rec->u[0]++;
    }
    rec->items.count = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS) - rec->items.first;
    if (why[0])
        sl_log_warn("compiler", "jwt of TrafficPolicy %s: %s", env->source, why);
    return true;
}

static const sl_snap_policy_item *item(const sl_snapshot *s, const sl_snap_policy *p, uint32_t i)
{
    return SL_SNAP_GET(s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, p->items.first + i);
}

/* Providers are PROVIDER, AUD, then only CLAIM and KEY items, as counted. */
static bool check(const sl_snapshot *s, const sl_snap_policy *p)
{
    uint32_t providers = 0;
    for (uint32_t i = 0; i < p->items.count; providers++) {
        const sl_snap_policy_item *h = item(s, p, i);
        if (h->flags != ITEM_PROVIDER || h->num < 1 || h->num > p->items.count - i - 1 ||
            item(s, p, i + 1)->flags != ITEM_AUD)
            return false;
        for (uint32_t k = i + 2; k <= i + h->num; k++) {
            const sl_snap_policy_item *it = item(s, p, k);
            if (it->flags != ITEM_CLAIM && (it->flags != ITEM_KEY || it->b.len == 0 || it->family >= SL_JWT_NALGS))
                return false;
        }
        i += 1 + h->num;
    }
    return providers == p->u[0];
}

/* ---- worker ---- */

/* The bearer token of the request, or an empty slice; *field is its header.
 * *several: the request has more than one Authorization field (refused: the
 * one not checked could reach the upstream). */
static sl_slice bearer_token(const sl_conn *c, sl_slice *field, bool *several)
{
    const sl_http1_request *req = &c->w->req;
    sl_slice token = sl_slice_make(NULL, 0);
    int seen = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const sl_http1_header *h = &req->headers[i];
        if (!sl_slice_ieq_cstr(h->name, "authorization"))
            continue;
        seen++;
        if (!token.ptr && h->value.len > 7 && strncasecmp(h->value.ptr, "Bearer ", 7) == 0) {
            size_t at = 7;
            while (at < h->value.len && h->value.ptr[at] == ' ')
                at++;
            *field = h->name;
            token = sl_slice_make(h->value.ptr + at, h->value.len - at);
        }
    }
    *several = seen > 1;
    return token;
}

/* Is any line of `lines` equal to one of the token's audiences? */
static bool audience_ok(const char *lines, const json_t *aud)
{
    if (!lines[0])
        return true;
    if (json_is_string(aud))
        return sl_line_listed(lines, sl_slice_from_cstr(json_string_value(aud)), false);
    size_t i;
    const json_t *a;
    json_array_foreach(aud, i, a) if (json_is_string(a) &&
                                      sl_line_listed(lines, sl_slice_from_cstr(json_string_value(a)), false)) return true;
    return false;
}

/* A time claim (seconds); def when absent, false when not a number. */
static bool time_claim(const json_t *claims, const char *name, int64_t def, int64_t *out)
{
    const json_t *v = json_object_get(claims, name);
    *out = def;
    if (!v)
        return true;
    if (!json_is_number(v))
        return false;
    double d = json_number_value(v);
    *out = d > 9e15 ? INT64_MAX / 2 : d < -9e15 ? INT64_MIN / 2 : (int64_t)d;
    return true;
}

/* Verifies a token against the providers; fills e (provider, validity) and
 * returns NULL, or returns why it is refused. */
static const char *verify(const sl_snapshot *s, const sl_snap_policy *p, const sl_jwt *t, sl_jwt_cached *e)
{
    const char *iss = json_string_value(json_object_get(t->claims, "iss"));
    const char *problem = "issuer not trusted";
    int64_t skew = (int64_t)p->num[0];
    if (!time_claim(t->claims, "exp", INT64_MAX, &e->expires) ||
        !time_claim(t->claims, "nbf", INT64_MIN, &e->not_before))
        return "exp and nbf must be numbers";
    for (uint32_t i = 0; i < p->items.count; i += 1 + item(s, p, i)->num) {
        const sl_snap_policy_item *h = item(s, p, i), *aud = item(s, p, i + 1);
        if (h->b.len && (!iss || strcmp(iss, sl_snap_cstr(s, h->b)) != 0))
            continue;
        if (!audience_ok(sl_snap_cstr(s, aud->a), json_object_get(t->claims, "aud"))) {
            problem = "audience not allowed";
            continue;
        }
        problem = "signature not verified";
        for (uint32_t k = i + 2; k <= i + h->num; k++) {
            const sl_snap_policy_item *key = item(s, p, k);
            if (key->flags != ITEM_KEY || (key->family != SL_JWT_ALG_NONE && key->family != t->alg) ||
                (t->kid[0] && key->a.len && strcmp(t->kid, sl_snap_cstr(s, key->a)) != 0))
                continue;
            if (sl_jwt_verify(t, (sl_jwk_type)key->prefix, (const unsigned char *)sl_snap_cstr(s, key->b),
                              key->b.len)) {
                e->provider = i;
                e->expires = e->expires > INT64_MAX - skew ? INT64_MAX : e->expires + skew;
                e->not_before = e->not_before < INT64_MIN + skew ? INT64_MIN : e->not_before - skew;
                return NULL;
            }
        }
    }
    return problem;
}

static void refuse(sl_conn *c, const sl_snap_policy *p, const char *problem)
{
    char challenge[2800], metadata[2500] = "";
    /* An MCP route says where its OAuth metadata is (RFC 9728; workers/mcp_oauth.c). */
    if (!sl_mcp_oauth_challenge(c, metadata, sizeof(metadata)))
        metadata[0] = '\0';
    if (problem)
        snprintf(challenge, sizeof(challenge),
                 "WWW-Authenticate: Bearer realm=\"sluice\", error=\"invalid_token\", error_description=\"%s\"%s\r\n",
                 problem, metadata);
    else
        snprintf(challenge, sizeof(challenge), "WWW-Authenticate: Bearer realm=\"sluice\"%s\r\n", metadata);
    sl_log_info("policy", "client %s: %s (jwt of TrafficPolicy %s)", c->peer, problem ? problem : "no bearer token",
                sl_snap_cstr(&c->snap->s, p->source));
    sl_conn_respond_with(c, 401, challenge, problem ? "invalid token\n" : "bearer token required\n", false);
}

/* The request is the provider's client now: claims, id, fields. */
static sl_policy_result accept_token(sl_conn *c, const sl_snap_policy *p, uint32_t provider, const sl_claims *claims,
                                     sl_slice field)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_policy_item *h = item(s, p, provider), *aud = item(s, p, provider + 1);
    free(c->claims);
    c->claims = sl_claims_copy(claims);
    if (!c->claims) {
        sl_conn_respond(c, 503, "out of memory\n", false);
        return SL_POLICY_ANSWERED;
    }
    const char *id = sl_claims_get(c->claims, sl_snap_cstr(s, aud->b));
    uint32_t nclaims = 0; /* the CLAIM items come first, before the KEY items */
    while (nclaims < h->num - 1 && item(s, p, provider + 2 + nclaims)->flags == ITEM_CLAIM)
        nclaims++;
    c->claim_headers = (sl_snap_range){p->items.first + provider + 2, nclaims};
    sl_conn_authenticated(c, id && !strchr(id, '\n') ? id : "",
                          (h->prefix & FORWARD_TOKEN) ? sl_slice_make(NULL, 0) : field, sl_slice_make(NULL, 0));
    return SL_POLICY_NEXT;
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    const sl_snapshot *s = &c->snap->s;
    sl_slice field;
    bool several;
    sl_slice token = bearer_token(c, &field, &several);
    if (several) { /* RFC 6750 3.1: invalid_request, 400 */
        sl_log_info("policy", "client %s: several Authorization fields (jwt of TrafficPolicy %s)", c->peer,
                    sl_snap_cstr(s, p->source));
        sl_conn_respond_with(c, 400,
                             "WWW-Authenticate: Bearer realm=\"sluice\", error=\"invalid_request\", "
                             "error_description=\"several Authorization fields\"\r\n",
                             "one Authorization field, please\n", false);
        return SL_POLICY_ANSWERED;
    }
    if (!token.len) {
        refuse(c, p, NULL);
        return SL_POLICY_ANSWERED;
    }
    int64_t now = (int64_t)time(NULL);
    uint32_t policy = (uint32_t)(p - SL_SNAP_GET(s, SL_SNAP_POLICIES, sl_snap_policy, 0));
    sl_jwt_cached e = {.generation = c->snap->generation, .policy = policy, .token = (char *)token.ptr,
                       .token_len = token.len};
    const sl_jwt_cached *hit = sl_jwt_cache_get(e.generation, policy, token.ptr, token.len, now, &e.hash);
    if (hit)
        return accept_token(c, p, hit->provider, hit->claims, field);
    sl_jwt t;
    const char *problem;
    if (!sl_jwt_parse(token.ptr, token.len, &t, &problem)) {
        refuse(c, p, problem);
        return SL_POLICY_ANSWERED;
    }
    problem = verify(s, p, &t, &e);
    if (!problem && now > e.expires)
        problem = "token expired";
    if (!problem && now < e.not_before)
        problem = "token not yet valid";
    sl_claims *claims = problem ? NULL : sl_claims_flatten(t.claims);
    sl_jwt_free(&t);
    if (problem || !claims) {
        refuse(c, p, problem ? problem : "out of memory");
        return SL_POLICY_ANSWERED;
    }
    sl_policy_result r = accept_token(c, p, e.provider, claims, field);
    /* Cached until it expires (then it misses and is refused as expired), and
     * re-verified now and then when it never expires. */
    e.stale_after = e.expires == INT64_MAX ? now + UNEXPIRING_CACHE_S : e.expires;
    sl_jwt_cache_put(&e, claims);
    return r;
}

const sl_policy_ops sl_policy_jwt = {
    .section = "jwt",
    .phase = SL_PHASE_ACCESS,
    .compile = compile,
    .check = check,
    .on_request = on_request,
};

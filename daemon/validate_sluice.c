/* Our own kinds (gateway.sluice.dev/v1alpha1): Backend and TrafficPolicy.
 * Their schemas are documented in docs/validation.md; keep the two in step. */
#include <ctype.h>
#include <string.h>

#include "daemon/kinds.h"
#include "daemon/validate.h"
#include "common/ai_guard.h"

#define GW_GROUP "gateway.networking.k8s.io"

/* Returns spec, or NULL after recording why there is none. */

/* A backend host: an IP literal or a hostname without wildcard. */
static void check_host(sl_vctx *v, const json_t *o, bool required)
{
    const char *h = required ? sl_v_req_string(v, o, "host") : sl_v_get_string(v, o, "host");
    if (h && !sl_is_ip_literal(h) && (strncmp(h, "*.", 2) == 0 || !sl_is_gateway_hostname(h)))
        sl_v_invalid(v, "host", "must be a lowercase RFC 1123 hostname or an IPv4/IPv6 address");
}

/* An absolute path as RFC 3986 writes one: '/' then segments of unreserved
 * characters, sub-delims, ':', '@' and %-escapes. It goes into request lines
 * as it is, so nothing else (no space, no control character) may be in it. */
static bool is_url_path(const char *p, bool query)
{
    if (p[0] != '/')
        return false;
    for (const unsigned char *q = (const unsigned char *)p; *q; q++) {
        if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
            strchr("-._~!$&'()*+,;=:@/", *q) || (query && *q == '?'))
            continue;
        if (*q == '%' && isxdigit(q[1]) && isxdigit(q[2])) {
            q += 2;
            continue;
        }
        return false;
    }
    return true;
}

/* query: a query ('?...') may follow (an MCP or A2A endpoint; not ai.path,
 * which the client's path is appended to). */
static void check_url_path(sl_vctx *v, const json_t *o, bool query)
{
    const char *p = sl_v_get_string(v, o, "path");
    if (p && sl_v_max_len(v, "path", p, 1024) && !is_url_path(p, query))
        sl_v_invalid(v, "path",
                     query ? "must be an absolute URL path: '/' then letters, digits, -._~!$&'()*+,;=:@/?"
                             " and %%XX escapes"
                           : "must be an absolute URL path: '/' then letters, digits, -._~!$&'()*+,;=:@/"
                             " and %%XX escapes");
}

void sl_v_header_name(sl_vctx *v, const json_t *o, const char *key)
{
    const char *h = sl_v_get_string(v, o, key);
    if (h && !sl_is_http_token(h))
        sl_v_invalid(v, key, "must be a valid HTTP header name (RFC 9110 token)");
}

static void check_secret_name_ref(sl_vctx *v, const json_t *o, const char *key)
{
    const json_t *ref = sl_v_get_object(v, o, key);
    if (!ref)
        return;
    size_t prev = sl_v_field(v, key);
    const char *name = sl_v_req_string(v, ref, "name");
    if (name && !sl_is_dns1123_subdomain(name))
        sl_v_invalid(v, "name", "must be a lowercase RFC 1123 subdomain");
    sl_v_pop(v, prev);
}

/* ---- Backend ---- */

static void check_static_tls(sl_vctx *v, const json_t *st, const char *protocol)
{
    static const char *const kinds[] = {"Secret", "ConfigMap", NULL};
    const json_t *tls = sl_v_get_object(v, st, "tls");
    if (!tls)
        return;
    /* TLS settings only mean something when we speak TLS to the hosts. */
    if (strcmp(protocol, "HTTPS") != 0)
        sl_v_fail(v, "tls", "FieldValueForbidden", "tls may only be specified when protocol is HTTPS");
    size_t prev = sl_v_field(v, "tls");
    const char *sni = sl_v_get_string(v, tls, "sni");
    if (sni && (strncmp(sni, "*.", 2) == 0 || !sl_is_gateway_hostname(sni)))
        sl_v_invalid(v, "sni", "must be a lowercase RFC 1123 hostname without wildcard");
    const json_t *refs = sl_v_get_list(v, tls, "caCertificateRefs", 0, 8, false);
    size_t i;
    const json_t *x;
    json_array_foreach(refs, i, x)
    {
        size_t p2 = sl_v_field(v, "caCertificateRefs");
        const json_t *r = sl_v_list_object(v, refs, i);
        if (r) {
            sl_v_index(v, i);
            const char *name = sl_v_req_string(v, r, "name");
            if (name && !sl_is_dns1123_subdomain(name))
                sl_v_invalid(v, "name", "must be a lowercase RFC 1123 subdomain");
            const char *kind = sl_v_get_string(v, r, "kind");
            if (kind)
                sl_v_enum(v, "kind", kind, kinds);
        }
        sl_v_pop(v, p2);
    }
    bool skip = false;
    sl_v_get_bool(v, tls, "insecureSkipVerify", &skip);
    if (skip && json_array_size(refs) > 0)
        sl_v_fail(v, "insecureSkipVerify", "FieldValueForbidden", "may not be true when caCertificateRefs are given");
    sl_v_pop(v, prev);
}

static void check_static(sl_vctx *v, const json_t *st)
{
    static const char *const protocols[] = {"HTTP", "H2C", "HTTPS", NULL};
    const json_t *hosts = sl_v_get_list(v, st, "hosts", 1, 64, true);
    size_t i;
    const json_t *x;
    json_array_foreach(hosts, i, x)
    {
        size_t prev = sl_v_field(v, "hosts");
        const json_t *h = sl_v_list_object(v, hosts, i);
        if (h) {
            sl_v_index(v, i);
            check_host(v, h, true);
            sl_v_int_range(v, h, "port", 1, 65535, true, NULL);
            sl_v_int_range(v, h, "weight", 1, 1000000, false, NULL);
        }
        sl_v_pop(v, prev);
    }
    const char *protocol = sl_v_get_string(v, st, "protocol");
    if (protocol && !sl_v_enum(v, "protocol", protocol, protocols))
        protocol = NULL;
    check_static_tls(v, st, protocol ? protocol : "HTTP");
}

/* A model name as the workers compare and send it: 1..256 printable ASCII
 * characters (a tab or newline would break the compiled alias list). */
static bool model_name_ok(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > 256)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)m[i] < 0x20 || (unsigned char)m[i] > 0x7e)
            return false;
    return true;
}

static void check_model_aliases(sl_vctx *v, const json_t *ai)
{
    const json_t *aliases = json_object_get(ai, "modelAliases");
    if (!aliases)
        return;
    if (!json_is_object(aliases)) {
        sl_v_fail(v, "modelAliases", "FieldValueInvalid", "Invalid value: must be an object of model names");
        return;
    }
    if (json_object_size(aliases) > 64)
        sl_v_fail(v, "modelAliases", "FieldValueTooMany", "Too many: %zu: must have at most 64 items",
                  json_object_size(aliases));
    size_t prev = sl_v_field(v, "modelAliases");
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)aliases, k, x)
    {
        if (!model_name_ok(k))
            sl_v_invalid(v, k, "an alias must be a model name of 1..256 printable ASCII characters");
        else if (!json_is_string(x) || !model_name_ok(json_string_value(x)))
            sl_v_invalid(v, k, "must be a model name of 1..256 printable ASCII characters");
    }
    sl_v_pop(v, prev);
}

/* A price in USD per million tokens. */
static void check_price(sl_vctx *v, const json_t *p, const char *key, bool required)
{
    const json_t *x = json_object_get(p, key);
    if (!x) {
        if (required)
            sl_v_fail(v, key, "FieldValueRequired", "Required value");
        return;
    }
    if (!json_is_number(x) || json_number_value(x) < 0 || json_number_value(x) > 1000000)
        sl_v_invalid(v, key, "must be a number of USD per million tokens, 0 to 1000000");
}

static void check_prices(sl_vctx *v, const json_t *ai)
{
    const json_t *prices = sl_v_get_list(v, ai, "prices", 1, 64, false);
    size_t i;
    const json_t *x;
    json_array_foreach(prices, i, x)
    {
        size_t prev = sl_v_field(v, "prices");
        const json_t *p = sl_v_list_object(v, prices, i);
        if (p) {
            sl_v_index(v, i);
            const char *model = sl_v_req_string(v, p, "model");
            if (model && strcmp(model, "*") != 0 && !model_name_ok(model))
                sl_v_invalid(v, "model", "must be a model name of 1..256 printable ASCII characters, or \"*\"");
            check_price(v, p, "input", true);
            check_price(v, p, "output", true);
            check_price(v, p, "cachedInput", false);
        }
        sl_v_pop(v, prev);
    }
}

/* Lowercase letters, digits and '-', min..max long, starting with a letter
 * (GCP project ids; region names). */
static bool lower_name_ok(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max || !(s[0] >= 'a' && s[0] <= 'z') || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* ai.region (VertexAI's location, Bedrock's AWS region) and ai.project (VertexAI). */
static void check_provider_place(sl_vctx *v, const json_t *ai, const char *provider)
{
    bool vertex = provider && strcmp(provider, "VertexAI") == 0;
    bool bedrock = provider && strcmp(provider, "Bedrock") == 0;
    const char *region = sl_v_get_string(v, ai, "region");
    if (region && !vertex && !bedrock)
        sl_v_fail(v, "region", "FieldValueForbidden", "Forbidden: only for provider VertexAI or Bedrock");
    else if (region && !lower_name_ok(region, 2, 63))
        sl_v_invalid(v, "region", "must be a region name such as us-east-1 or europe-west4 (lowercase letters, "
                                  "digits and '-')");
    const char *project = sl_v_get_string(v, ai, "project");
    if (project && !vertex)
        sl_v_fail(v, "project", "FieldValueForbidden", "Forbidden: only for provider VertexAI");
    else if (vertex && !project)
        sl_v_required(v, "project");
    else if (project && !lower_name_ok(project, 6, 30))
        sl_v_invalid(v, "project", "must be a Google Cloud project id: 6 to 30 lowercase letters, digits and '-', "
                                   "starting with a letter");
}

static void check_ai(sl_vctx *v, const json_t *ai)
{
    static const char *const providers[] = {"OpenAI", "Anthropic", "AzureOpenAI", "Gemini", "VertexAI",
                                            "Bedrock", "Ollama", "OpenAICompatible", NULL};
    const char *provider = sl_v_req_string(v, ai, "provider");
    if (provider && !sl_v_enum(v, "provider", provider, providers))
        provider = NULL;
    const char *model = sl_v_get_string(v, ai, "model");
    if (model)
        sl_v_max_len(v, "model", model, 256);
    check_model_aliases(v, ai);
    check_prices(v, ai);
    check_provider_place(v, ai, provider);
    /* These providers have no well-known endpoint: the host is the deployment. */
    bool needs_host = provider && (strcmp(provider, "AzureOpenAI") == 0 || strcmp(provider, "OpenAICompatible") == 0);
    check_host(v, ai, needs_host);
    sl_v_int_range(v, ai, "port", 1, 65535, false, NULL);
    static const char *const protocols[] = {"HTTP", "HTTPS", NULL};
    const char *protocol = sl_v_get_string(v, ai, "protocol");
    if (protocol)
        sl_v_enum(v, "protocol", protocol, protocols);
    check_url_path(v, ai, false);
    check_secret_name_ref(v, ai, "authSecretRef");
    /* Backends (of type AI, same namespace) tried in order when this one fails. */
    const json_t *fallbacks = sl_v_get_list(v, ai, "fallbacks", 1, 8, false);
    size_t i;
    const json_t *x;
    json_array_foreach(fallbacks, i, x)
    {
        size_t prev = sl_v_field(v, "fallbacks");
        const json_t *f = sl_v_list_object(v, fallbacks, i);
        if (f) {
            sl_v_index(v, i);
            const char *name = sl_v_req_string(v, f, "name");
            if (name && !sl_is_dns1123_subdomain(name))
                sl_v_invalid(v, "name", "must be a lowercase RFC 1123 subdomain");
        }
        sl_v_pop(v, prev);
    }
}

static void check_mcp(sl_vctx *v, const json_t *mcp)
{
    static const char *const protocols[] = {"StreamableHTTP", "SSE", NULL};
    static const char *const prefix_modes[] = {"Conditional", "Always", "Never", NULL};
    const char *prefix = sl_v_get_string(v, mcp, "prefixMode");
    if (prefix)
        sl_v_enum(v, "prefixMode", prefix, prefix_modes);
    long long age_ms;
    if (sl_v_duration(v, mcp, "sessionMaxAge", &age_ms) && (age_ms < 1000 || age_ms > 720ll * 3600 * 1000))
        sl_v_invalid(v, "sessionMaxAge", "must be between 1s and 720h");
    const json_t *targets = sl_v_get_list(v, mcp, "targets", 1, 64, true);
    size_t i;
    const json_t *x;
    json_array_foreach(targets, i, x)
    {
        size_t prev = sl_v_field(v, "targets");
        const json_t *t = sl_v_list_object(v, targets, i);
        if (t) {
            sl_v_index(v, i);
            const char *name = sl_v_req_string(v, t, "name");
            if (name && !sl_is_dns1123_label(name))
                sl_v_invalid(v, "name", "must be a lowercase RFC 1123 label");
            for (size_t j = 0; name && j < i; j++) {
                const json_t *o = json_object_get(json_array_get(targets, j), "name");
                if (json_is_string(o) && strcmp(json_string_value(o), name) == 0) {
                    sl_v_fail(v, "name", "FieldValueDuplicate", "Duplicate value: \"%s\"", name);
                    break;
                }
            }
            check_host(v, t, true);
            sl_v_int_range(v, t, "port", 1, 65535, true, NULL);
            check_url_path(v, t, true);
            const char *proto = sl_v_get_string(v, t, "protocol");
            if (proto)
                sl_v_enum(v, "protocol", proto, protocols);
        }
        sl_v_pop(v, prev);
    }
}

static void check_a2a(sl_vctx *v, const json_t *a2a)
{
    check_host(v, a2a, true);
    sl_v_int_range(v, a2a, "port", 1, 65535, true, NULL);
    check_url_path(v, a2a, true);
}

typedef struct {
    const char *type;  /* spec.type value */
    const char *field; /* the sub-object it selects */
    void (*check)(sl_vctx *v, const json_t *sub);
} backend_variant;

static const backend_variant backend_variants[] = {
    {"Static", "static", check_static},
    {"AI", "ai", check_ai},
    {"MCP", "mcp", check_mcp},
    {"A2A", "a2a", check_a2a},
};

/* Validates a Backend's spec: spec.type selects exactly one of static, ai, mcp
 * and a2a, which is then required and the others forbidden. */
void sl_validate_backend(sl_vctx *v, const json_t *obj)
{
    static const char *const types[] = {"Static", "AI", "MCP", "A2A", NULL};
    const json_t *spec = sl_v_spec(v, obj);
    if (!spec)
        return;
    size_t prev = sl_v_field(v, "spec");
    const char *type = sl_v_req_string(v, spec, "type");
    if (type && !sl_v_enum(v, "type", type, types))
        type = NULL;
    for (size_t i = 0; i < sizeof(backend_variants) / sizeof(backend_variants[0]); i++) {
        const backend_variant *bv = &backend_variants[i];
        bool selected = type && strcmp(type, bv->type) == 0;
        if (!sl_v_present(spec, bv->field)) {
            if (selected)
                sl_v_fail(v, bv->field, "FieldValueRequired", "Required value: %s must be specified when type is %s", bv->field, bv->type);
            continue;
        }
        if (!selected) {
            if (type)
                sl_v_fail(v, bv->field, "FieldValueForbidden", "%s may only be specified when type is %s", bv->field, bv->type);
            continue;
        }
        const json_t *sub = sl_v_get_object(v, spec, bv->field);
        if (!sub)
            continue;
        size_t p2 = sl_v_field(v, bv->field);
        bv->check(v, sub);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

/* ---- TrafficPolicy ---- */

/* The key and scope of a limit section (rateLimit, aiTokenLimit). */
static void check_limit_key(sl_vctx *v, const json_t *rl)
{
    static const char *const keys[] = {"ClientIP", "Header", "ClientId", "Claim", "Route", NULL};
    const char *key = sl_v_get_string(v, rl, "key");
    if (key && !sl_v_enum(v, "key", key, keys))
        key = NULL;
    bool by_header = key && strcmp(key, "Header") == 0;
    const char *header = sl_v_get_string(v, rl, "header");
    if (by_header && !sl_v_present(rl, "header"))
        sl_v_fail(v, "header", "FieldValueRequired", "Required value: header must be specified when key is Header");
    else if (!by_header && sl_v_present(rl, "header") && (key || !sl_v_present(rl, "key")))
        sl_v_fail(v, "header", "FieldValueForbidden", "header may only be specified when key is Header");
    else if (header && !sl_is_http_token(header))
        sl_v_invalid(v, "header", "must be a valid HTTP header name (RFC 9110 token)");
    bool by_claim = key && strcmp(key, "Claim") == 0;
    const char *claim = sl_v_get_string(v, rl, "claim");
    if (by_claim && !sl_v_present(rl, "claim"))
        sl_v_fail(v, "claim", "FieldValueRequired", "Required value: claim must be specified when key is Claim");
    else if (!by_claim && sl_v_present(rl, "claim") && (key || !sl_v_present(rl, "key")))
        sl_v_fail(v, "claim", "FieldValueForbidden", "claim may only be specified when key is Claim");
    else if (claim && (!claim[0] || strlen(claim) > 128))
        sl_v_invalid(v, "claim", "must be a claim name of 1..128 characters");
    static const char *const scopes[] = {"Local", "Global", NULL};
    static const char *const modes[] = {"Allow", "Deny", NULL};
    const char *scope = sl_v_get_string(v, rl, "scope");
    if (scope)
        sl_v_enum(v, "scope", scope, scopes);
    const char *mode = sl_v_get_string(v, rl, "failureMode");
    if (mode && sl_v_enum(v, "failureMode", mode, modes) && (!scope || strcmp(scope, "Global") != 0))
        sl_v_fail(v, "failureMode", "FieldValueForbidden", "failureMode applies to scope Global only");
}

/* A limit section: `amount` (1..max, required) per `unit` (one of units),
 * rateLimit's burst when `burst`, then the key and scope. */
static void check_limit(sl_vctx *v, const json_t *spec, const char *section, const char *amount, long long max,
                        const char *const *units, bool burst)
{
    const json_t *l = sl_v_get_object(v, spec, section);
    if (!l)
        return;
    size_t prev = sl_v_field(v, section);
    sl_v_int_range(v, l, amount, 1, max, true, NULL);
    const char *unit = sl_v_req_string(v, l, "unit");
    if (unit)
        sl_v_enum(v, "unit", unit, units);
    if (burst)
        sl_v_int_range(v, l, "burst", 0, 2147483647, false, NULL);
    check_limit_key(v, l);
    sl_v_pop(v, prev);
}

/* aiBudget: tokens or costUSD (one of them) per period, then the key and scope. */
static void check_ai_budget(sl_vctx *v, const json_t *spec)
{
    const json_t *b = sl_v_get_object(v, spec, "aiBudget");
    if (!b)
        return;
    size_t prev = sl_v_field(v, "aiBudget");
    const json_t *tokens = sl_v_present(b, "tokens"), *cost = sl_v_present(b, "costUSD");
    if (tokens && cost)
        sl_v_fail(v, "costUSD", "FieldValueForbidden", "Forbidden: tokens and costUSD are exclusive");
    else if (!tokens && !cost)
        sl_v_fail(v, "tokens", "FieldValueRequired", "Required value: one of tokens or costUSD must be specified");
    if (tokens)
        sl_v_int_range(v, b, "tokens", 1, 1000000000000LL, true, NULL);
    if (cost && (!json_is_number(cost) || json_number_value(cost) < 0.000001 || json_number_value(cost) > 1e7))
        sl_v_invalid(v, "costUSD", "must be a number of USD from 0.000001 to 10000000");
    static const char *const periods[] = {"Day", "Month", NULL};
    const char *period = sl_v_req_string(v, b, "period");
    if (period)
        sl_v_enum(v, "period", period, periods);
    check_limit_key(v, b);
    sl_v_pop(v, prev);
}

/* One side (request or response) of an aiPromptGuard. */
static void check_guard_side(sl_vctx *v, const json_t *guard, const char *key, bool response)
{
    const json_t *side = sl_v_get_object(v, guard, key);
    if (!side)
        return;
    size_t prev = sl_v_field(v, key);
    static const char *const actions[] = {"Reject", "Mask", NULL};
    static const char *const mask_only[] = {"Mask", NULL};
    const char *action = sl_v_get_string(v, side, "action");
    if (action)
        sl_v_enum(v, "action", action, response ? mask_only : actions);
    const char *message = sl_v_get_string(v, side, "message");
    if (message && response)
        sl_v_fail(v, "message", "FieldValueForbidden", "message applies to the request's Reject only");
    else if (message)
        sl_v_max_len(v, "message", message, 256);
    const json_t *builtins = sl_v_get_list(v, side, "builtins", 1, 5, false);
    size_t i;
    const json_t *x;
    json_array_foreach(builtins, i, x)
    {
        size_t p2 = sl_v_field(v, "builtins");
        sl_v_index(v, i);
        if (!json_is_string(x) || !sl_ai_guard_builtin_find(json_string_value(x)))
            sl_v_fail(v, NULL, "FieldValueNotSupported", "Unsupported value: supported values: %s",
                      sl_ai_guard_builtin_names);
        sl_v_pop(v, p2);
    }
    const json_t *matches = sl_v_get_list(v, side, "matches", 1, 32, false);
    json_array_foreach(matches, i, x)
    {
        size_t p2 = sl_v_field(v, "matches");
        const json_t *m = sl_v_list_object(v, matches, i);
        if (m) {
            sl_v_index(v, i);
            const char *pattern = sl_v_req_string(v, m, "pattern");
            if (pattern && sl_v_max_len(v, "pattern", pattern, 1024))
                sl_v_regex(v, "pattern", pattern);
            const char *name = sl_v_get_string(v, m, "name");
            bool name_ok = name && name[0] && strlen(name) <= 32;
            for (const char *c = name; name_ok && *c; c++)
                name_ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                          *c == '_' || *c == '-';
            if (name && !name_ok)
                sl_v_invalid(v, "name", "must be 1..32 letters, digits, '_' or '-' (a masked match becomes <NAME>)");
        }
        sl_v_pop(v, p2);
    }
    const json_t *webhook = sl_v_get_object(v, side, "webhook");
    if (webhook && response) {
        sl_v_fail(v, "webhook", "FieldValueForbidden", "webhook applies to the request only");
    } else if (webhook) {
        size_t p2 = sl_v_field(v, "webhook");
        const char *url = sl_v_req_string(v, webhook, "url");
        if (url && sl_v_max_len(v, "url", url, 2048) &&
            ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) || strpbrk(url, " \t\r\n#")))
            sl_v_invalid(v, "url", "must be an http:// or https:// URL");
        long long ms;
        if (sl_v_duration(v, webhook, "timeout", &ms) && (ms < 1 || ms > 60000))
            sl_v_invalid(v, "timeout", "must be between 1ms and 60s");
        static const char *const modes[] = {"Allow", "Deny", NULL};
        const char *mode = sl_v_get_string(v, webhook, "failureMode");
        if (mode)
            sl_v_enum(v, "failureMode", mode, modes);
        sl_v_pop(v, p2);
    }
    if (!builtins && !matches && !webhook)
        sl_v_fail(v, NULL, "FieldValueRequired", "Required value: builtins, matches or webhook must be specified");
    sl_v_pop(v, prev);
}

static void check_ai_prompt_guard(sl_vctx *v, const json_t *spec)
{
    const json_t *g = sl_v_get_object(v, spec, "aiPromptGuard");
    if (!g)
        return;
    size_t prev = sl_v_field(v, "aiPromptGuard");
    check_guard_side(v, g, "request", false);
    check_guard_side(v, g, "response", true);
    sl_v_int_range(v, g, "maxTokens", 1, 10000000, false, NULL);
    if (!sl_v_present(g, "request") && !sl_v_present(g, "response") && !sl_v_present(g, "maxTokens"))
        sl_v_fail(v, NULL, "FieldValueRequired", "Required value: request, response or maxTokens must be specified");
    sl_v_pop(v, prev);
}

static void check_body_limit(sl_vctx *v, const json_t *spec)
{
    const json_t *bl = sl_v_get_object(v, spec, "bodyLimit");
    if (!bl)
        return;
    size_t prev = sl_v_field(v, "bodyLimit");
    sl_v_int_range(v, bl, "maxRequestBytes", 0, 1099511627776LL, true, NULL);
    sl_v_pop(v, prev);
}

static void check_api_key_auth(sl_vctx *v, const json_t *spec)
{
    const json_t *ak = sl_v_get_object(v, spec, "apiKeyAuth");
    if (!ak)
        return;
    size_t prev = sl_v_field(v, "apiKeyAuth");
    const json_t *refs = sl_v_get_list(v, ak, "secretRefs", 1, 16, true);
    size_t i;
    const json_t *x;
    json_array_foreach(refs, i, x)
    {
        size_t p2 = sl_v_field(v, "secretRefs");
        const json_t *r = sl_v_list_object(v, refs, i);
        if (r) {
            sl_v_index(v, i);
            const char *name = sl_v_req_string(v, r, "name");
            if (name && !sl_is_dns1123_subdomain(name))
                sl_v_invalid(v, "name", "must be a lowercase RFC 1123 subdomain");
        }
        sl_v_pop(v, p2);
    }
    sl_v_header_name(v, ak, "header");
    sl_v_header_name(v, ak, "clientIdHeader");
    bool bearer;
    sl_v_get_bool(v, ak, "bearer", &bearer);
    sl_v_pop(v, prev);
}

static void check_basic_auth(sl_vctx *v, const json_t *spec)
{
    const json_t *ba = sl_v_get_object(v, spec, "basicAuth");
    if (!ba)
        return;
    size_t prev = sl_v_field(v, "basicAuth");
    if (!sl_v_present(ba, "secretRef"))
        sl_v_fail(v, "secretRef", "FieldValueRequired", "Required value");
    check_secret_name_ref(v, ba, "secretRef");
    const char *key = sl_v_get_string(v, ba, "key");
    bool key_ok = key && key[0] && strlen(key) <= 253;
    for (const char *q = key; key_ok && *q; q++)
        key_ok = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-' ||
                 *q == '_' || *q == '.';
    if (key && !key_ok)
        sl_v_invalid(v, "key", "must be a Secret data key: letters, digits, '-', '_' or '.'");
    const char *realm = sl_v_get_string(v, ba, "realm");
    bool realm_ok = realm && strlen(realm) <= 64;
    for (const char *q = realm; realm_ok && *q; q++)
        realm_ok = *q >= 0x20 && *q < 0x7f && *q != '"' && *q != '\\';
    if (realm && !realm_ok)
        sl_v_invalid(v, "realm", "must be at most 64 printable ASCII characters without '\"' or '\\'");
    sl_v_header_name(v, ba, "clientIdHeader");
    sl_v_pop(v, prev);
}

static void check_cors_csrf(sl_vctx *v, const json_t *spec)
{
    const json_t *cors = sl_v_get_object(v, spec, "cors");
    if (cors) {
        size_t prev = sl_v_field(v, "cors");
        sl_v_cors(v, cors);
        sl_v_pop(v, prev);
    }
    const json_t *csrf = sl_v_get_object(v, spec, "csrf");
    if (!csrf)
        return;
    size_t prev = sl_v_field(v, "csrf");
    const json_t *list = sl_v_get_list(v, csrf, "additionalOrigins", 0, 64, false);
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        size_t p2 = sl_v_field(v, "additionalOrigins");
        sl_v_index(v, i);
        const char *s = json_string_value(x);
        if (!s || strcmp(s, "*") == 0 || !sl_is_cors_origin(s))
            sl_v_invalid(v, NULL, "must be an origin of the form <scheme>://<host>(:<port>) ('*' wildcards allowed in the host)");
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

/* Sections about a Gateway's listeners (tls, proxyProtocol) need Gateway targets. */
static bool gateway_targets_only(sl_vctx *v, const json_t *spec, const char *section)
{
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(spec, "targetRefs"), i, t)
    {
        const char *kind = json_string_value(json_object_get(t, "kind"));
        if (kind && strcmp(kind, "Gateway") != 0) {
            sl_v_fail(v, section, "FieldValueForbidden",
                      "%s applies to Gateway listeners: every targetRef must be a Gateway", section);
            return false;
        }
    }
    return true;
}

void sl_v_word_list(sl_vctx *v, const json_t *parent, const char *key, size_t max, bool path)
{
    const json_t *list = sl_v_get_list(v, parent, key, 1, max, false);
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        size_t prev = sl_v_field(v, key);
        sl_v_index(v, i);
        const char *s = json_string_value(x);
        bool ok = s && s[0] && strlen(s) <= 253 && (!path || s[0] == '/');
        for (const char *q = s; ok && *q; q++)
            ok = *q > 0x20 && *q < 0x7f;
        if (!ok)
            sl_v_invalid(v, NULL, path ? "must be a path starting with '/', printable ASCII without spaces"
                                       : "must be 1..253 printable ASCII characters without spaces");
        sl_v_pop(v, prev);
    }
}

/* An authorization rule's claims: [{name, values: [...]}], each printable
 * without tabs (compiled into tab-separated lines). */
static void check_claim_conditions(sl_vctx *v, const json_t *rule)
{
    const json_t *list = sl_v_get_list(v, rule, "claims", 1, 8, false);
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        size_t prev = sl_v_field(v, "claims");
        const json_t *m = sl_v_list_object(v, list, i);
        if (m) {
            sl_v_index(v, i);
            const char *name = sl_v_req_string(v, m, "name");
            if (name && (!name[0] || strlen(name) > 128 || strpbrk(name, "\t\n\r")))
                sl_v_invalid(v, "name", "must be a claim name of 1..128 printable characters");
            if (!sl_v_present(m, "values"))
                sl_v_required(v, "values");
            sl_v_word_list(v, m, "values", 16, false);
        }
        sl_v_pop(v, prev);
    }
}

/* A rules section (authorization, mcpAuthorization): defaultAction, then 1..64
 * rules of an action, claims and the word lists `lists` names (NULL-ended;
 * max and whether each is of paths given alongside). */
typedef struct {
    const char *name;
    size_t max;
    bool paths;
} rule_list;

static void check_rules_section(sl_vctx *v, const json_t *spec, const char *section, const rule_list *lists)
{
    static const char *const actions[] = {"Allow", "Deny", NULL};
    const json_t *az = sl_v_get_object(v, spec, section);
    if (!az)
        return;
    size_t prev = sl_v_field(v, section);
    const char *def = sl_v_get_string(v, az, "defaultAction");
    if (def)
        sl_v_enum(v, "defaultAction", def, actions);
    const json_t *rules = sl_v_get_list(v, az, "rules", 1, 64, true);
    size_t i;
    const json_t *r;
    json_array_foreach(rules, i, r)
    {
        size_t p2 = sl_v_field(v, "rules");
        const json_t *rule = sl_v_list_object(v, rules, i);
        if (rule) {
            sl_v_index(v, i);
            const char *action = sl_v_req_string(v, rule, "action");
            if (action)
                sl_v_enum(v, "action", action, actions);
            for (const rule_list *l = lists; l->name; l++)
                sl_v_word_list(v, rule, l->name, l->max, l->paths);
            check_claim_conditions(v, rule);
        }
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

static void check_authorization(sl_vctx *v, const json_t *spec)
{
    static const rule_list lists[] = {{"clientIds", 256, false}, {"methods", 16, false}, {"paths", 64, true}, {0}};
    check_rules_section(v, spec, "authorization", lists);
}

/* mcpAuthorization: rules on the names an MCP route shows and calls. */
static void check_mcp_authorization(sl_vctx *v, const json_t *spec)
{
    static const rule_list lists[] = {{"tools", 256, false},
                                      {"prompts", 256, false},
                                      {"resources", 256, false},
                                      {"a2aMethods", 64, false},
                                      {"clientIds", 256, false},
                                      {0}};
    check_rules_section(v, spec, "mcpAuthorization", lists);
}

/* proxyProtocol: Gateways (their ports) only. */
static void check_proxy_protocol(sl_vctx *v, const json_t *spec)
{
    const json_t *pp = sl_v_get_object(v, spec, "proxyProtocol");
    if (!pp || !gateway_targets_only(v, spec, "proxyProtocol"))
        return;
    size_t prev = sl_v_field(v, "proxyProtocol");
    bool optional;
    sl_v_get_bool(v, pp, "optional", &optional);
    sl_v_pop(v, prev);
}

static void check_policy_timeouts(sl_vctx *v, const json_t *spec)
{
    const json_t *t = sl_v_get_object(v, spec, "timeouts");
    if (!t)
        return;
    size_t prev = sl_v_field(v, "timeouts");
    sl_v_duration(v, t, "request", NULL);
    sl_v_duration(v, t, "idle", NULL);
    sl_v_pop(v, prev);
}

static void check_cidr_list(sl_vctx *v, const json_t *ia, const char *key)
{
    const json_t *list = sl_v_get_list(v, ia, key, 0, 256, false);
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        size_t prev = sl_v_field(v, key);
        sl_v_index(v, i);
        if (!json_is_string(x))
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be a string");
        else if (!sl_is_cidr(json_string_value(x)))
            sl_v_invalid(v, NULL, "must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32");
        sl_v_pop(v, prev);
    }
}

static void check_real_ip(sl_vctx *v, const json_t *spec)
{
    const json_t *ri = sl_v_get_object(v, spec, "realIp");
    if (!ri)
        return;
    size_t prev = sl_v_field(v, "realIp");
    if (!sl_v_present(ri, "trustedProxies") || json_array_size(json_object_get(ri, "trustedProxies")) == 0)
        sl_v_fail(v, "trustedProxies", "FieldValueRequired", "Required value: at least one CIDR");
    check_cidr_list(v, ri, "trustedProxies");
    sl_v_header_name(v, ri, "header");
    sl_v_pop(v, prev);
}

static void check_ip_access(sl_vctx *v, const json_t *spec)
{
    const json_t *ia = sl_v_get_object(v, spec, "ipAccess");
    if (!ia)
        return;
    size_t prev = sl_v_field(v, "ipAccess");
    check_cidr_list(v, ia, "allow");
    check_cidr_list(v, ia, "deny");
    if (json_array_size(json_object_get(ia, "allow")) == 0 && json_array_size(json_object_get(ia, "deny")) == 0)
        sl_v_fail(v, "allow", "FieldValueRequired", "Required value: at least one of allow or deny must list a CIDR");
    sl_v_pop(v, prev);
}

static void check_policy_headers(sl_vctx *v, const json_t *spec)
{
    static const char *const sides[] = {"request", "response"};
    const json_t *h = sl_v_get_object(v, spec, "headers");
    if (!h)
        return;
    size_t prev = sl_v_field(v, "headers");
    for (size_t i = 0; i < 2; i++) {
        const json_t *hf = sl_v_get_object(v, h, sides[i]);
        if (!hf)
            continue;
        size_t p2 = sl_v_field(v, sides[i]);
        sl_v_header_modifier(v, hf);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

/* A list of CA references: 1..8 {kind Secret|ConfigMap (default ConfigMap), name}. */
static void check_ca_refs(sl_vctx *v, const json_t *parent, const char *key, bool required)
{
    static const char *const kinds[] = {"Secret", "ConfigMap", NULL};
    const json_t *refs = sl_v_get_list(v, parent, key, required ? 1 : 0, 8, required);
    size_t i;
    const json_t *x;
    json_array_foreach(refs, i, x)
    {
        size_t prev = sl_v_field(v, key);
        const json_t *r = sl_v_list_object(v, refs, i);
        if (r) {
            sl_v_index(v, i);
            const char *name = sl_v_req_string(v, r, "name");
            if (name && !sl_is_dns1123_subdomain(name))
                sl_v_invalid(v, "name", "must be a lowercase RFC 1123 subdomain");
            const char *kind = sl_v_get_string(v, r, "kind");
            if (kind)
                sl_v_enum(v, "kind", kind, kinds);
        }
        sl_v_pop(v, prev);
    }
}

/* tls: options of the HTTPS listeners a policy targets (Gateways only). */
static void check_policy_tls(sl_vctx *v, const json_t *spec)
{
    static const char *const versions[] = {"1.2", "1.3", NULL};
    static const char *const modes[] = {"Require", "Optional", NULL};
    const json_t *tls = sl_v_get_object(v, spec, "tls");
    if (!tls)
        return;
    size_t i;
    const json_t *t;
    gateway_targets_only(v, spec, "tls");
    size_t prev = sl_v_field(v, "tls");
    const char *min = sl_v_get_string(v, tls, "minVersion");
    if (min)
        sl_v_enum(v, "minVersion", min, versions);
    const json_t *ciphers = sl_v_get_list(v, tls, "ciphers", 1, 32, false);
    json_array_foreach(ciphers, i, t)
    {
        size_t p2 = sl_v_field(v, "ciphers");
        sl_v_index(v, i);
        const char *c = json_string_value(t);
        bool ok = c && c[0];
        for (const char *q = c; ok && *q; q++)
            ok = (*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-' || *q == '_';
        if (!ok)
            sl_v_invalid(v, NULL, "must be an OpenSSL cipher suite name such as ECDHE-ECDSA-AES128-GCM-SHA256");
        sl_v_pop(v, p2);
    }
    const json_t *cc = sl_v_get_object(v, tls, "clientCertificate");
    if (cc) {
        size_t p2 = sl_v_field(v, "clientCertificate");
        const char *mode = sl_v_get_string(v, cc, "mode");
        if (mode)
            sl_v_enum(v, "mode", mode, modes);
        check_ca_refs(v, cc, "caCertificateRefs", true);
        sl_v_pop(v, p2);
    }
    if (!sl_v_present(tls, "minVersion") && !sl_v_present(tls, "ciphers") && !cc)
        sl_v_fail(v, NULL, "FieldValueRequired",
                  "Required value: at least one of minVersion, ciphers or clientCertificate must be specified");
    sl_v_pop(v, prev);
}

/* Our policies attach to Gateway API objects only. */
static void check_target_groups(sl_vctx *v, const json_t *spec)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(spec, "targetRefs"), i, r)
    {
        const json_t *g = json_object_get(r, "group");
        if (!json_is_string(g) || strcmp(json_string_value(g), GW_GROUP) == 0)
            continue;
        size_t prev = sl_v_field(v, "targetRefs");
        sl_v_index(v, i);
        sl_v_fail(v, "group", "FieldValueNotSupported", "Unsupported value: \"%s\": supported values: \"" GW_GROUP "\"", json_string_value(g));
        sl_v_pop(v, prev);
    }
}

/* Validates a TrafficPolicy's spec: targetRefs plus at least one policy section. */
void sl_validate_trafficpolicy(sl_vctx *v, const json_t *obj)
{
    static const char *const kinds[] = {"Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", NULL};
    static const char *const sections[] = {"rateLimit", "timeouts",  "retry",      "ipAccess",  "headers",
                                           "tls",       "bodyLimit", "apiKeyAuth", "basicAuth", "cors",
                                           "csrf",      "realIp",    "authorization", "proxyProtocol", "jwt",
                                           "extAuth",   "aiTokenLimit", "aiBudget", "aiPromptGuard", "mcpAuthorization", "mcpRateLimit"};
    const json_t *spec = sl_v_spec(v, obj);
    if (!spec)
        return;
    size_t prev = sl_v_field(v, "spec");
    sl_v_policy_target_refs(v, spec, kinds);
    check_target_groups(v, spec);
    static const char *const rate_units[] = {"Second", "Minute", "Hour", NULL};
    static const char *const token_units[] = {"Minute", "Hour", "Day", NULL};
    check_limit(v, spec, "rateLimit", "requests", 2147483647, rate_units, true);
    check_limit(v, spec, "aiTokenLimit", "tokens", 1000000000, token_units, false);
    check_limit(v, spec, "mcpRateLimit", "requests", 2147483647, rate_units, true);
    const json_t *mrl = sl_v_get_object(v, spec, "mcpRateLimit");
    if (mrl) {
        size_t p2 = sl_v_field(v, "mcpRateLimit");
        sl_v_word_list(v, mrl, "tools", 256, false);
        const char *scope = json_string_value(json_object_get(mrl, "scope"));
        if (scope && strcmp(scope, "Global") == 0)
            sl_v_fail(v, "scope", "FieldValueNotSupported", "Unsupported value: \"Global\": supported values: \"Local\"");
        sl_v_pop(v, p2);
    }
    check_ai_budget(v, spec);
    check_ai_prompt_guard(v, spec);
    check_policy_timeouts(v, spec);
    sl_v_retry(v, spec, "retry", 10);
    check_ip_access(v, spec);
    check_policy_headers(v, spec);
    check_policy_tls(v, spec);
    check_body_limit(v, spec);
    check_api_key_auth(v, spec);
    check_basic_auth(v, spec);
    sl_v_jwt(v, spec);
    sl_v_ext_auth(v, spec);
    check_cors_csrf(v, spec);
    check_real_ip(v, spec);
    check_authorization(v, spec);
    check_mcp_authorization(v, spec);
    check_proxy_protocol(v, spec);
    bool any = false;
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        any |= sl_v_present(spec, sections[i]) != NULL;
    if (!any)
        sl_v_fail(v, NULL, "FieldValueRequired", "Required value: at least one of rateLimit, timeouts, retry, ipAccess, headers, tls, bodyLimit, "
                  "apiKeyAuth, basicAuth, jwt, extAuth, cors, csrf, realIp, authorization, proxyProtocol, aiTokenLimit, aiBudget or aiPromptGuard must be specified");
    sl_v_pop(v, prev);
}

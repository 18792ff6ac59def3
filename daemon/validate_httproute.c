/* HTTPRoute spec validation (gateway.networking.k8s.io/v1): the CRD schema and
 * its CEL rules, reporting every problem with its field path. */
#include "daemon/kinds.h"
#include "daemon/validate.h"

#include <stdio.h>
#include <string.h>

static const char *const http_filter_types[] = {"RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror",
                                                "RequestRedirect",       "URLRewrite",             "ExtensionRef",
                                                "CORS",                  NULL};

/* Characters the Gateway API allows in Exact/PathPrefix values, besides %XX. */
static bool is_path_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-/._~!$&'()*+,;=:@", c);
}

static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The CEL rules on Exact and PathPrefix values: an absolute, normalized path
 * with no encoded slash or fragment, so matching cannot be bypassed. */
static void check_plain_path(sl_vctx *v, const char *value)
{
    static const char *const banned[] = {"//", "/./", "/../", "%2f", "%2F", "#"};
    if (value[0] != '/')
        sl_v_invalid(v, "value", "must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']");
    for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++)
        if (strstr(value, banned[i]))
            sl_v_invalid(v, "value", "must not contain '%s' when type one of ['Exact', 'PathPrefix']", banned[i]);
    if (ends_with(value, "/.."))
        sl_v_invalid(v, "value", "must not end with '/..' when type one of ['Exact', 'PathPrefix']");
    else if (ends_with(value, "/."))
        sl_v_invalid(v, "value", "must not end with '/.' when type one of ['Exact', 'PathPrefix']");
    for (const char *p = value; *p; p++) {
        if (*p == '%' && is_hex(p[1]) && is_hex(p[2])) {
            p += 2;
            continue;
        }
        if (!is_path_char(*p) && *p != '#') {
            sl_v_invalid(v, "value", "must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%%][0-9a-fA-F]{2})+$) for types ['Exact', 'PathPrefix']");
            break;
        }
    }
}

static void check_path_match(sl_vctx *v, const json_t *match)
{
    static const char *const types[] = {"Exact", "PathPrefix", "RegularExpression", NULL};
    const json_t *path = sl_v_get_object(v, match, "path");
    if (!path)
        return;
    size_t prev = sl_v_field(v, "path");
    const char *type = sl_v_get_string(v, path, "type");
    if (!type && !sl_v_present(path, "type"))
        type = "PathPrefix"; /* the schema default */
    else if (type && !sl_v_enum(v, "type", type, types))
        type = NULL;
    const char *value = sl_v_get_string(v, path, "value");
    if (!value && !sl_v_present(path, "value"))
        value = "/";
    if (value && type && sl_v_max_len(v, "value", value, 1024)) {
        if (strcmp(type, "RegularExpression") == 0)
            sl_v_regex(v, "value", value);
        else
            check_plain_path(v, value);
    }
    sl_v_pop(v, prev);
}

static void check_query_params(sl_vctx *v, const json_t *match)
{
    static const char *const types[] = {"Exact", "RegularExpression", NULL};
    const json_t *list = sl_v_get_list(v, match, "queryParams", 0, 16, false);
    if (!list)
        return;
    size_t prev = sl_v_field(v, "queryParams");
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        const json_t *q = sl_v_list_object(v, list, i);
        if (!q)
            continue;
        size_t p2 = sl_v_index(v, i);
        const char *name = sl_v_req_string(v, q, "name");
        if (name) {
            if (!sl_is_http_token(name))
                sl_v_invalid(v, "name", "must be a valid query parameter name (RFC 9110 token characters)");
            else
                sl_v_max_len(v, "name", name, 256);
            /* Query parameter names compare exactly (case-sensitively). */
            for (size_t j = 0; j < i; j++) {
                const json_t *o = json_object_get(json_array_get(list, j), "name");
                if (json_is_string(o) && strcmp(json_string_value(o), name) == 0) {
                    sl_v_fail(v, "name", "FieldValueDuplicate", "Duplicate value: \"%s\"", name);
                    break;
                }
            }
        }
        const char *type = sl_v_get_string(v, q, "type");
        bool regex = false;
        if (type && sl_v_enum(v, "type", type, types))
            regex = strcmp(type, "RegularExpression") == 0;
        const char *value = sl_v_req_string(v, q, "value");
        if (value && sl_v_max_len(v, "value", value, 1024) && regex)
            sl_v_regex(v, "value", value);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

static void check_match(sl_vctx *v, const json_t *match)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL};
    check_path_match(v, match);
    sl_v_header_matches(v, match, "headers");
    check_query_params(v, match);
    const char *method = sl_v_get_string(v, match, "method");
    if (method)
        sl_v_enum(v, "method", method, methods);
}

static void check_backend_refs(sl_vctx *v, const json_t *rule)
{
    sl_v_weighted_backend_refs(v, rule, 0, http_filter_types);
}

/* Index of the first filter in `filters` that is a redirect or rewrite
 * replacing the prefix match, or -1. */
static long prefix_replacing_filter(const json_t *filters, const char **field)
{
    static const char *const fields[] = {"requestRedirect", "urlRewrite"};
    size_t i;
    const json_t *f;
    json_array_foreach(filters, i, f)
    {
        for (size_t k = 0; k < 2; k++) {
            const json_t *path = json_object_get(json_object_get(f, fields[k]), "path");
            const json_t *type = json_object_get(path, "type");
            if (json_is_string(type) && strcmp(json_string_value(type), "ReplacePrefixMatch") == 0) {
                *field = fields[k];
                return (long)i;
            }
        }
    }
    return -1;
}

/* True when the rule has exactly one match and it is a PathPrefix match (an
 * omitted match list or path defaults to PathPrefix "/"). */
static bool single_prefix_match(const json_t *rule)
{
    const json_t *matches = json_object_get(rule, "matches");
    if (!matches || json_is_null(matches))
        return true;
    if (json_array_size(matches) != 1)
        return false;
    const json_t *path = json_object_get(json_array_get(matches, 0), "path");
    if (!path || json_is_null(path))
        return true;
    const json_t *type = json_object_get(path, "type");
    return !type || (json_is_string(type) && strcmp(json_string_value(type), "PathPrefix") == 0);
}

/* The CEL rules: ReplacePrefixMatch (in the rule's filters or a backendRef's)
 * needs exactly one PathPrefix match in the rule. */
static void check_prefix_replacement(sl_vctx *v, const json_t *rule)
{
    if (single_prefix_match(rule))
        return;
    const char *field = NULL;
    long i = prefix_replacing_filter(json_object_get(rule, "filters"), &field);
    if (i >= 0) {
        char sub[128];
        snprintf(sub, sizeof(sub), "filters[%ld].%s.path.type", i, field);
        sl_v_invalid(v, sub, "when using ReplacePrefixMatch, exactly one PathPrefix match must be specified in the rule");
    }
    size_t b;
    const json_t *br;
    json_array_foreach(json_object_get(rule, "backendRefs"), b, br)
    {
        i = prefix_replacing_filter(json_object_get(br, "filters"), &field);
        if (i >= 0) {
            char sub[160];
            snprintf(sub, sizeof(sub), "backendRefs[%zu].filters[%ld].%s.path.type", b, i, field);
            sl_v_invalid(v, sub, "when using ReplacePrefixMatch, exactly one PathPrefix match must be specified in the rule");
        }
    }
}

/* CEL: a redirect answers the request itself, so it cannot also have backends. */
static void check_redirect_backends(sl_vctx *v, const json_t *rule)
{
    const json_t *backends = json_object_get(rule, "backendRefs");
    if (!json_is_array(backends) || json_array_size(backends) == 0)
        return;
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(rule, "filters"), i, f)
    {
        if (json_is_object(f) && sl_v_present(f, "requestRedirect")) {
            char sub[64];
            snprintf(sub, sizeof(sub), "filters[%zu].requestRedirect", i);
            sl_v_fail(v, sub, "FieldValueForbidden", "RequestRedirect filter must not be used together with backendRefs");
        }
    }
}

static void check_timeouts(sl_vctx *v, const json_t *rule)
{
    const json_t *t = sl_v_get_object(v, rule, "timeouts");
    if (!t)
        return;
    size_t prev = sl_v_field(v, "timeouts");
    long long req = 0, backend = 0;
    bool has_req = sl_v_duration(v, t, "request", &req);
    bool has_backend = sl_v_duration(v, t, "backendRequest", &backend);
    /* A zero request timeout disables it, so it bounds nothing. */
    if (has_req && has_backend && req != 0 && backend > req)
        sl_v_invalid(v, "backendRequest", "backendRequest timeout cannot be longer than request timeout");
    sl_v_pop(v, prev);
}

static void check_rule(sl_vctx *v, const json_t *rule)
{
    const json_t *matches = sl_v_get_list(v, rule, "matches", 0, 64, false);
    size_t i;
    const json_t *x;
    json_array_foreach(matches, i, x)
    {
        size_t prev = sl_v_field(v, "matches");
        const json_t *m = sl_v_list_object(v, matches, i);
        if (m) {
            sl_v_index(v, i);
            check_match(v, m);
        }
        sl_v_pop(v, prev);
    }
    sl_v_route_filters(v, rule, "filters", http_filter_types);
    check_backend_refs(v, rule);
    check_redirect_backends(v, rule);
    check_prefix_replacement(v, rule);
    check_timeouts(v, rule);
    sl_v_retry(v, rule, "retry", -1);
    sl_v_session_persistence(v, rule);
}

/* Validates an HTTPRoute's spec; see kinds.h. Records every problem in v. */
void sl_validate_httproute(sl_vctx *v, const json_t *obj) { sl_v_route_spec(v, obj, 1, check_rule); }

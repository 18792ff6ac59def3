/* Route filters (HTTPRoute and GRPCRoute rules and backendRefs): one table maps
 * each filter type to its configuration field and its checker, so the "type
 * selects exactly one config field" CEL rules are written once. */
#include "daemon/validate.h"

#include <string.h>

typedef void (*filter_check_fn)(sl_vctx *v, const json_t *cfg);

typedef struct {
    const char *type;  /* "RequestRedirect" */
    const char *field; /* "requestRedirect" */
    filter_check_fn check;
    bool repeatable;   /* mirrors and extension refs may appear several times */
} filter_kind;

static bool is_precise_hostname(const char *s)
{
    return strncmp(s, "*.", 2) != 0 && sl_is_gateway_hostname(s);
}

static void check_precise_hostname(sl_vctx *v, const json_t *cfg)
{
    const char *h = sl_v_get_string(v, cfg, "hostname");
    if (h && !is_precise_hostname(h))
        sl_v_invalid(v, "hostname", "must be a lowercase RFC 1123 hostname without wildcard; IP addresses are not allowed");
}

/* HTTPPathModifier: the type selects which replacement field must be set. */
static void check_path_modifier(sl_vctx *v, const json_t *cfg)
{
    static const char *const types[] = {"ReplaceFullPath", "ReplacePrefixMatch", NULL};
    const json_t *pm = sl_v_get_object(v, cfg, "path");
    if (!pm)
        return;
    size_t prev = sl_v_field(v, "path");
    const char *type = sl_v_req_string(v, pm, "type");
    if (type && !sl_v_enum(v, "type", type, types))
        type = NULL;
    const char *full = sl_v_get_string(v, pm, "replaceFullPath");
    const char *prefix = sl_v_get_string(v, pm, "replacePrefixMatch");
    bool has_full = sl_v_present(pm, "replaceFullPath") != NULL;
    bool has_prefix = sl_v_present(pm, "replacePrefixMatch") != NULL;
    if (full)
        sl_v_max_len(v, "replaceFullPath", full, 1024);
    if (prefix)
        sl_v_max_len(v, "replacePrefixMatch", prefix, 1024);
    if (type && strcmp(type, "ReplaceFullPath") == 0) {
        if (!has_full)
            sl_v_fail(v, "replaceFullPath", "FieldValueRequired", "Required value: replaceFullPath must be specified when type is set to 'ReplaceFullPath'");
        if (has_prefix)
            sl_v_fail(v, "replacePrefixMatch", "FieldValueForbidden", "type must be 'ReplacePrefixMatch' when replacePrefixMatch is set");
    } else if (type) {
        if (!has_prefix)
            sl_v_fail(v, "replacePrefixMatch", "FieldValueRequired", "Required value: replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'");
        if (has_full)
            sl_v_fail(v, "replaceFullPath", "FieldValueForbidden", "type must be 'ReplaceFullPath' when replaceFullPath is set");
    }
    sl_v_pop(v, prev);
}

static void check_redirect(sl_vctx *v, const json_t *cfg)
{
    static const char *const schemes[] = {"http", "https", NULL};
    const char *scheme = sl_v_get_string(v, cfg, "scheme");
    if (scheme)
        sl_v_enum(v, "scheme", scheme, schemes);
    check_precise_hostname(v, cfg);
    check_path_modifier(v, cfg);
    sl_v_int_range(v, cfg, "port", 1, 65535, false, NULL);
    long long code;
    if (sl_v_get_int(v, cfg, "statusCode", &code) && code != 301 && code != 302 && code != 303 && code != 307 &&
        code != 308)
        sl_v_fail(v, "statusCode", "FieldValueNotSupported",
                  "Unsupported value: %lld: supported values: 301, 302, 303, 307, 308", code);
}

static void check_rewrite(sl_vctx *v, const json_t *cfg)
{
    check_precise_hostname(v, cfg);
    check_path_modifier(v, cfg);
}

bool sl_is_cors_origin(const char *s)
{
    if (strcmp(s, "*") == 0)
        return true;
    const char *sep = strstr(s, "://");
    if (!sep || sep == s || !sep[3] || strlen(s) > 253)
        return false;
    for (const char *p = s; p < sep; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (p > s && ((*p >= '0' && *p <= '9') || strchr("+-.", *p)))))
            return false;
    for (const char *p = sep + 3; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-.*:[]", *p)))
            return false;
    return true;
}

static void cors_list(sl_vctx *v, const json_t *cfg, const char *key, size_t max, int what)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "*", NULL};
    const json_t *list = sl_v_get_list(v, cfg, key, 0, max, false);
    size_t i, n = json_array_size(list);
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        size_t prev = sl_v_field(v, key);
        sl_v_index(v, i);
        const char *s = json_string_value(x);
        if (!s)
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be a string");
        else if (what == 0 && !sl_is_cors_origin(s))
            sl_v_invalid(v, NULL, "must be \"*\" or an origin of the form <scheme>://<host>(:<port>)");
        else if (what == 1 && sl_v_enum(v, NULL, s, methods) && strcmp(s, "*") == 0 && n > 1)
            sl_v_invalid(v, NULL, "\"*\" must be the only method when it is used");
        else if (what == 2 && strcmp(s, "*") != 0 && !sl_is_http_token(s))
            sl_v_invalid(v, NULL, "must be \"*\" or a valid HTTP header name");
        sl_v_pop(v, prev);
    }
}

void sl_v_cors(sl_vctx *v, const json_t *cfg)
{
    cors_list(v, cfg, "allowOrigins", 64, 0);
    cors_list(v, cfg, "allowMethods", 9, 1);
    cors_list(v, cfg, "allowHeaders", 64, 2);
    cors_list(v, cfg, "exposeHeaders", 64, 2);
    bool b;
    sl_v_get_bool(v, cfg, "allowCredentials", &b);
    sl_v_int_range(v, cfg, "maxAge", 1, 2147483647, false, NULL);
}

static const filter_kind filter_kinds[] = {
    {"RequestHeaderModifier", "requestHeaderModifier", sl_v_header_modifier, false},
    {"ResponseHeaderModifier", "responseHeaderModifier", sl_v_header_modifier, false},
    {"RequestMirror", "requestMirror", sl_v_request_mirror, true},
    {"RequestRedirect", "requestRedirect", check_redirect, false},
    {"URLRewrite", "urlRewrite", check_rewrite, false},
    {"CORS", "cors", sl_v_cors, false},
    {"ExtensionRef", "extensionRef", sl_v_local_object_ref, true},
};

static bool allowed_type(const char *const *allowed, const char *t)
{
    for (; *allowed; allowed++)
        if (strcmp(*allowed, t) == 0)
            return true;
    return false;
}

/* One filter: its type is required and must be allowed; the config field of its
 * type is required and the config fields of the other allowed types forbidden. */
static void check_filter(sl_vctx *v, const json_t *f, const char *const *allowed)
{
    const char *type = sl_v_req_string(v, f, "type");
    if (type && !sl_v_enum(v, "type", type, allowed))
        type = NULL;
    for (size_t k = 0; k < sizeof(filter_kinds) / sizeof(filter_kinds[0]); k++) {
        const filter_kind *fk = &filter_kinds[k];
        if (!allowed_type(allowed, fk->type))
            continue;
        bool selected = type && strcmp(type, fk->type) == 0;
        const json_t *cfg = sl_v_present(f, fk->field);
        if (!cfg) {
            if (selected)
                sl_v_fail(v, fk->field, "FieldValueRequired", "Required value: filter.%s must be specified for %s filter.type", fk->field, fk->type);
            continue;
        }
        if (!selected) {
            if (type)
                sl_v_fail(v, fk->field, "FieldValueForbidden", "filter.%s must be nil if the filter.type is not %s", fk->field, fk->type);
            continue;
        }
        if (!sl_v_get_object(v, f, fk->field))
            continue;
        size_t prev = sl_v_field(v, fk->field);
        fk->check(v, cfg);
        sl_v_pop(v, prev);
    }
}

static bool type_is(const json_t *f, const char *t)
{
    const json_t *x = json_object_get(f, "type");
    return json_is_string(x) && strcmp(json_string_value(x), t) == 0;
}

void sl_v_route_filters(sl_vctx *v, const json_t *parent, const char *key, const char *const *allowed)
{
    const json_t *list = sl_v_get_list(v, parent, key, 0, 16, false);
    if (!list)
        return;
    size_t prev = sl_v_field(v, key);
    size_t i;
    const json_t *x;
    bool redirect = false, rewrite = false;
    json_array_foreach(list, i, x)
    {
        const json_t *f = sl_v_list_object(v, list, i);
        if (!f)
            continue;
        size_t p2 = sl_v_index(v, i);
        check_filter(v, f, allowed);
        redirect |= type_is(f, "RequestRedirect");
        rewrite |= type_is(f, "URLRewrite");
        for (size_t k = 0; k < sizeof(filter_kinds) / sizeof(filter_kinds[0]); k++) {
            if (filter_kinds[k].repeatable || !type_is(f, filter_kinds[k].type))
                continue;
            for (size_t j = 0; j < i; j++)
                if (type_is(json_array_get(list, j), filter_kinds[k].type)) {
                    sl_v_fail(v, "type", "FieldValueDuplicate", "%s filter cannot be repeated", filter_kinds[k].type);
                    break;
                }
        }
        sl_v_pop(v, p2);
    }
    if (redirect && rewrite)
        sl_v_invalid(v, NULL, "may specify either a RequestRedirect or a URLRewrite filter, but not both");
    sl_v_pop(v, prev);
}

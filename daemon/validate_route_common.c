/* Checks shared by the route validators (HTTPRoute, GRPCRoute) and the policies
 * that reuse route shapes (TrafficPolicy headers and retries, BackendTLSPolicy
 * targets). The rules follow the Gateway API CRD schemas and CEL rules (v1.x). */
#include "daemon/validate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define GW_GROUP "gateway.networking.k8s.io"


/* String field or a default, without recording anything (for comparisons of
 * fields whose own problems are reported elsewhere). */
static const char *str_or(const json_t *obj, const char *key, const char *dflt)
{
    const json_t *x = json_object_get(obj, key);
    return json_is_string(x) ? json_string_value(x) : dflt;
}

static long long int_or(const json_t *obj, const char *key, long long dflt)
{
    const json_t *x = json_object_get(obj, key);
    return json_is_integer(x) ? json_integer_value(x) : dflt;
}

static void check_group(sl_vctx *v, const json_t *ref)
{
    const char *g = sl_v_get_string(v, ref, "group");
    if (g && !sl_is_api_group(g))
        sl_v_invalid(v, "group", "must be empty or a DNS subdomain (lowercase alphanumerics, '-' and '.')");
}

static void check_kind(sl_vctx *v, const json_t *ref, bool required)
{
    const char *k = required ? sl_v_req_string(v, ref, "kind") : sl_v_get_string(v, ref, "kind");
    if (k && !sl_is_api_kind(k))
        sl_v_invalid(v, "kind", "must start with a letter and contain only alphanumerics and '-', at most 63 characters");
}

static void check_name(sl_vctx *v, const json_t *ref)
{
    const char *n = sl_v_req_string(v, ref, "name");
    if (n)
        sl_v_max_len(v, "name", n, 253);
}

static void check_namespace(sl_vctx *v, const json_t *ref, bool required)
{
    const char *ns = required ? sl_v_req_string(v, ref, "namespace") : sl_v_get_string(v, ref, "namespace");
    if (ns && !sl_is_dns1123_label(ns))
        sl_v_invalid(v, "namespace", "must be a lowercase RFC 1123 label");
}

static void check_section_name(sl_vctx *v, const json_t *ref, const char *key)
{
    const char *s = sl_v_get_string(v, ref, key);
    if (s && !sl_is_section_name(s))
        sl_v_invalid(v, key, "must be lowercase alphanumerics, '-' or '.', starting and ending with an alphanumeric, at most 253 characters");
}

static bool ns_equal(const json_t *a, const json_t *b)
{
    return strcmp(str_or(a, "namespace", ""), str_or(b, "namespace", "")) == 0;
}

/* Same parent after defaulting group and kind, as the CEL rules compare them. */
static bool same_parent(const json_t *a, const json_t *b)
{
    return strcmp(str_or(a, "group", GW_GROUP), str_or(b, "group", GW_GROUP)) == 0 &&
           strcmp(str_or(a, "kind", "Gateway"), str_or(b, "kind", "Gateway")) == 0 &&
           strcmp(str_or(a, "name", ""), str_or(b, "name", "")) == 0 && ns_equal(a, b);
}

/* The two parentRefs CEL rules: references to the same parent must all set
 * sectionName/port the same way, and must then differ in them. */
static void parent_ref_duplicates(sl_vctx *v, const json_t *refs)
{
    size_t n = json_array_size(refs);
    for (size_t j = 1; j < n; j++) {
        const json_t *b = json_array_get(refs, j);
        if (!json_is_object(b))
            continue;
        for (size_t i = 0; i < j; i++) {
            const json_t *a = json_array_get(refs, i);
            if (!json_is_object(a) || !same_parent(a, b))
                continue;
            const char *sa = str_or(a, "sectionName", ""), *sb = str_or(b, "sectionName", "");
            long long pa = int_or(a, "port", 0), pb = int_or(b, "port", 0);
            size_t prev = sl_v_index(v, j);
            if ((!*sa) != (!*sb) || (pa == 0) != (pb == 0))
                sl_v_invalid(v, NULL, "sectionName or port must be specified when parentRefs includes 2 or more references to the same parent");
            else if (strcmp(sa, sb) == 0 && pa == pb)
                sl_v_fail(v, NULL, "FieldValueDuplicate", "sectionName or port must be unique when parentRefs includes 2 or more references to the same parent");
            sl_v_pop(v, prev);
            break;
        }
    }
}

void sl_v_parent_refs(sl_vctx *v, const json_t *spec)
{
    const json_t *refs = sl_v_get_list(v, spec, "parentRefs", 0, 32, false);
    if (!refs)
        return;
    size_t prev = sl_v_field(v, "parentRefs");
    size_t i;
    const json_t *r;
    json_array_foreach(refs, i, r)
    {
        const json_t *ref = sl_v_list_object(v, refs, i);
        if (!ref)
            continue;
        size_t p2 = sl_v_index(v, i);
        check_group(v, ref);
        check_kind(v, ref, false);
        check_namespace(v, ref, false);
        check_name(v, ref);
        check_section_name(v, ref, "sectionName");
        sl_v_int_range(v, ref, "port", 1, 65535, false, NULL);
        sl_v_pop(v, p2);
    }
    parent_ref_duplicates(v, refs);
    sl_v_pop(v, prev);
}

void sl_v_route_hostnames(sl_vctx *v, const json_t *spec)
{
    const json_t *hosts = sl_v_get_list(v, spec, "hostnames", 0, 16, false);
    size_t i;
    const json_t *h;
    json_array_foreach(hosts, i, h)
    {
        size_t prev = sl_v_field(v, "hostnames");
        sl_v_index(v, i);
        if (!json_is_string(h))
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be a string");
        else if (!sl_is_gateway_hostname(json_string_value(h)))
            sl_v_invalid(v, NULL, "must be a lowercase RFC 1123 hostname, optionally prefixed by \"*.\"; IP addresses are not allowed");
        sl_v_pop(v, prev);
    }
}

void sl_v_backend_object_ref(sl_vctx *v, const json_t *ref)
{
    check_group(v, ref);
    check_kind(v, ref, false);
    check_name(v, ref);
    check_namespace(v, ref, false);
    bool has_port = sl_v_int_range(v, ref, "port", 1, 65535, false, NULL);
    /* CEL: a Service (the default group and kind) needs a port. */
    bool is_service = !*str_or(ref, "group", "") && strcmp(str_or(ref, "kind", "Service"), "Service") == 0;
    if (is_service && !has_port && !sl_v_present(ref, "port"))
        sl_v_fail(v, "port", "FieldValueRequired", "Required value: must have port for Service reference");
}

void sl_v_local_object_ref(sl_vctx *v, const json_t *ref)
{
    /* group is required but may be "" (the core group). */
    if (!sl_v_present(ref, "group"))
        sl_v_required(v, "group");
    else
        check_group(v, ref);
    check_kind(v, ref, true);
    check_name(v, ref);
}

/* A header value may not carry CR, LF or other control characters: they would
 * let a configuration inject extra header lines. */
static bool is_header_value(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

static void check_header_name(sl_vctx *v, const char *sub, const char *name)
{
    if (!sl_is_http_token(name))
        sl_v_invalid(v, sub, "must be a valid HTTP header name (RFC 9110 token)");
    else
        sl_v_max_len(v, sub, name, 256);
}

/* Records a duplicate when `name` (case-insensitively) is already in seen[0..n). */
static bool seen_header(const char *const *seen, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(seen[i], name) == 0)
            return true;
    return false;
}

enum { MAX_HEADER_ACTIONS = 48 };

static void header_list(sl_vctx *v, const json_t *hf, const char *key, const char **seen, size_t *nseen)
{
    const json_t *list = sl_v_get_list(v, hf, key, 0, 16, false);
    if (!list)
        return;
    size_t prev = sl_v_field(v, key);
    size_t i;
    const json_t *h;
    json_array_foreach(list, i, h)
    {
        const json_t *hdr = sl_v_list_object(v, list, i);
        if (!hdr)
            continue;
        size_t p2 = sl_v_index(v, i);
        const char *name = sl_v_req_string(v, hdr, "name");
        if (name) {
            check_header_name(v, "name", name);
            if (seen_header(seen, *nseen, name))
                sl_v_fail(v, "name", "FieldValueDuplicate", "Duplicate value: \"%s\": only one action is permitted per header name", name);
            else if (*nseen < MAX_HEADER_ACTIONS)
                seen[(*nseen)++] = name;
        }
        const char *value = sl_v_req_string(v, hdr, "value");
        if (value && sl_v_max_len(v, "value", value, 4096) && !is_header_value(value))
            sl_v_invalid(v, "value", "must not contain control characters");
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

void sl_v_header_modifier(sl_vctx *v, const json_t *hf)
{
    /* The Gateway API allows one action per header name across set, add and
     * remove, and header names compare case-insensitively. */
    const char *seen[MAX_HEADER_ACTIONS];
    size_t nseen = 0;
    header_list(v, hf, "set", seen, &nseen);
    header_list(v, hf, "add", seen, &nseen);
    const json_t *rm = sl_v_get_list(v, hf, "remove", 0, 16, false);
    size_t i;
    const json_t *h;
    json_array_foreach(rm, i, h)
    {
        size_t prev = sl_v_field(v, "remove");
        sl_v_index(v, i);
        if (!json_is_string(h)) {
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be a string");
        } else {
            const char *name = json_string_value(h);
            check_header_name(v, NULL, name);
            if (seen_header(seen, nseen, name))
                sl_v_fail(v, NULL, "FieldValueDuplicate", "Duplicate value: \"%s\": only one action is permitted per header name", name);
            else if (nseen < MAX_HEADER_ACTIONS)
                seen[nseen++] = name;
        }
        sl_v_pop(v, prev);
    }
}

bool sl_v_regex(sl_vctx *v, const char *sub, const char *value)
{
    char err[300];
    if (sl_regex_compiles(value, err, sizeof(err)))
        return true;
    sl_v_invalid(v, sub, "invalid regular expression: %s", err);
    return false;
}

void sl_v_header_matches(sl_vctx *v, const json_t *parent, const char *key)
{
    static const char *const types[] = {"Exact", "RegularExpression", NULL};
    const json_t *list = sl_v_get_list(v, parent, key, 0, 16, false);
    if (!list)
        return;
    size_t prev = sl_v_field(v, key);
    const char *seen[16];
    size_t nseen = 0;
    size_t i;
    const json_t *m;
    json_array_foreach(list, i, m)
    {
        const json_t *hm = sl_v_list_object(v, list, i);
        if (!hm)
            continue;
        size_t p2 = sl_v_index(v, i);
        const char *name = sl_v_req_string(v, hm, "name");
        if (name) {
            check_header_name(v, "name", name);
            if (seen_header(seen, nseen, name))
                sl_v_fail(v, "name", "FieldValueDuplicate", "Duplicate value: \"%s\" (header names compare case-insensitively)", name);
            else if (nseen < 16)
                seen[nseen++] = name;
        }
        const char *type = sl_v_get_string(v, hm, "type");
        bool regex = false;
        if (type && sl_v_enum(v, "type", type, types))
            regex = strcmp(type, "RegularExpression") == 0;
        const char *value = sl_v_req_string(v, hm, "value");
        if (value && sl_v_max_len(v, "value", value, 4096)) {
            if (regex)
                sl_v_regex(v, "value", value);
            else if (!is_header_value(value))
                sl_v_invalid(v, "value", "must not contain control characters");
        }
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

void sl_v_request_mirror(sl_vctx *v, const json_t *m)
{
    const json_t *ref = sl_v_get_object(v, m, "backendRef");
    if (!ref) {
        if (!sl_v_present(m, "backendRef"))
            sl_v_required(v, "backendRef");
    } else {
        size_t prev = sl_v_field(v, "backendRef");
        sl_v_backend_object_ref(v, ref);
        sl_v_pop(v, prev);
    }
    sl_v_int_range(v, m, "percent", 0, 100, false, NULL);
    const json_t *frac = sl_v_get_object(v, m, "fraction");
    if (frac) {
        size_t prev = sl_v_field(v, "fraction");
        long long num = 0, den = 100;
        bool has_num = sl_v_int_range(v, frac, "numerator", 0, 2147483647, true, &num);
        bool has_den = sl_v_int_range(v, frac, "denominator", 1, 2147483647, false, &den);
        if (has_num && (has_den || !sl_v_present(frac, "denominator")) && num > den)
            sl_v_invalid(v, "numerator", "numerator must be less than or equal to denominator");
        sl_v_pop(v, prev);
    }
    if (sl_v_present(m, "percent") && frac)
        sl_v_fail(v, "fraction", "FieldValueForbidden", "only one of percent or fraction may be specified");
}

void sl_v_retry(sl_vctx *v, const json_t *parent, const char *key, long long max_attempts)
{
    const json_t *r = sl_v_get_object(v, parent, key);
    if (!r)
        return;
    size_t prev = sl_v_field(v, key);
    sl_v_int_range(v, r, "attempts", 0, max_attempts < 0 ? 2147483647 : max_attempts, false, NULL);
    const json_t *codes = sl_v_get_array(v, r, "codes");
    size_t i;
    const json_t *c;
    json_array_foreach(codes, i, c)
    {
        size_t p2 = sl_v_field(v, "codes");
        sl_v_index(v, i);
        if (!json_is_integer(c))
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be an integer");
        else if (json_integer_value(c) < 400 || json_integer_value(c) > 599)
            sl_v_invalid(v, NULL, "must be between 400 and 599, inclusive");
        else
            for (size_t j = 0; j < i; j++)
                if (json_equal(json_array_get(codes, j), (json_t *)c)) {
                    sl_v_fail(v, NULL, "FieldValueDuplicate", "Duplicate value: %lld", (long long)json_integer_value(c));
                    break;
                }
        sl_v_pop(v, p2);
    }
    sl_v_duration(v, r, "backoff", NULL);
    sl_v_pop(v, prev);
}

void sl_v_rule_names(sl_vctx *v, const json_t *rules)
{
    size_t n = json_array_size(rules);
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(rules, i);
        if (!json_is_object(r))
            continue;
        size_t prev = sl_v_field(v, "rules");
        sl_v_index(v, i);
        const char *name = sl_v_get_string(v, r, "name");
        if (name) {
            if (!sl_is_section_name(name))
                sl_v_invalid(v, "name", "must be lowercase alphanumerics, '-' or '.', starting and ending with an alphanumeric, at most 253 characters");
            for (size_t j = 0; j < i; j++)
                if (strcmp(str_or(json_array_get(rules, j), "name", ""), name) == 0) {
                    sl_v_fail(v, "name", "FieldValueDuplicate", "Duplicate value: \"%s\": rule names must be unique within the route", name);
                    break;
                }
        }
        sl_v_pop(v, prev);
    }
}

void sl_v_session_persistence(sl_vctx *v, const json_t *rule)
{
    static const char *const types[] = {"Cookie", "Header", NULL};
    static const char *const lifetimes[] = {"Permanent", "Session", NULL};
    const json_t *sp = sl_v_get_object(v, rule, "sessionPersistence");
    if (!sp)
        return;
    size_t prev = sl_v_field(v, "sessionPersistence");
    const char *name = sl_v_get_string(v, sp, "sessionName");
    if (name && sl_v_max_len(v, "sessionName", name, 128) && !sl_is_http_token(name))
        sl_v_invalid(v, "sessionName", "Invalid value: \"%s\": a cookie or header name (an HTTP token)", name);
    else if (name && (sl_is_framing_header(name) || strcasecmp(name, "set-cookie") == 0 ||
                      strcasecmp(name, "cookie") == 0 || strcasecmp(name, "host") == 0))
        sl_v_invalid(v, "sessionName", "Invalid value: \"%s\": a field that frames or routes messages cannot carry "
                     "a session", name);
    const char *type = sl_v_get_string(v, sp, "type");
    if (type)
        sl_v_enum(v, "type", type, types);
    sl_v_duration(v, sp, "absoluteTimeout", NULL);
    sl_v_duration(v, sp, "idleTimeout", NULL);
    const json_t *cc = sl_v_get_object(v, sp, "cookieConfig");
    if (cc) {
        size_t p2 = sl_v_field(v, "cookieConfig");
        const char *lt = sl_v_get_string(v, cc, "lifetimeType");
        if (lt && sl_v_enum(v, "lifetimeType", lt, lifetimes) && strcmp(lt, "Permanent") == 0 &&
            !sl_v_present(sp, "absoluteTimeout"))
            sl_v_fail(v, "lifetimeType", "FieldValueRequired",
                      "Required value: a Permanent cookie needs absoluteTimeout (its Max-Age)");
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

void sl_v_total_matches(sl_vctx *v, const json_t *rules)
{
    size_t total = 0, i;
    const json_t *r;
    json_array_foreach(rules, i, r)
    {
        const json_t *m = json_object_get(r, "matches");
        /* An omitted matches list defaults to one PathPrefix "/" match. */
        total += json_is_array(m) ? json_array_size(m) : 1;
    }
    if (total > 128)
        sl_v_invalid(v, "rules", "while 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be at most 128 (got %zu)", total);
}

void sl_v_policy_target_refs(sl_vctx *v, const json_t *spec, const char *const *kinds)
{
    const json_t *refs = sl_v_get_list(v, spec, "targetRefs", 1, 16, true);
    if (!refs)
        return;
    size_t prev = sl_v_field(v, "targetRefs");
    size_t i;
    const json_t *r;
    json_array_foreach(refs, i, r)
    {
        const json_t *ref = sl_v_list_object(v, refs, i);
        if (!ref)
            continue;
        size_t p2 = sl_v_index(v, i);
        if (kinds) {
            check_group(v, ref);
            const char *k = sl_v_req_string(v, ref, "kind");
            if (k)
                sl_v_enum(v, "kind", k, kinds);
        } else {
            sl_v_local_object_ref(v, ref);
        }
        if (kinds)
            check_name(v, ref);
        check_section_name(v, ref, "sectionName");
        for (size_t j = 0; j < i; j++) {
            const json_t *o = json_array_get(refs, j);
            if (json_is_object(o) && strcmp(str_or(o, "group", ""), str_or(ref, "group", "")) == 0 &&
                strcmp(str_or(o, "kind", ""), str_or(ref, "kind", "")) == 0 &&
                strcmp(str_or(o, "name", ""), str_or(ref, "name", "")) == 0 &&
                strcmp(str_or(o, "sectionName", ""), str_or(ref, "sectionName", "")) == 0) {
                sl_v_fail(v, NULL, "FieldValueDuplicate", "Duplicate value: the same target (and sectionName) is referenced twice");
                break;
            }
        }
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

/* Validates the spec every route kind shares (parentRefs, hostnames, rules with
 * their names and match totals), calling check_rule for each rule object. */
void sl_v_route_spec(sl_vctx *v, const json_t *obj, size_t min_rules, void (*check_rule)(sl_vctx *, const json_t *))
{
    const json_t *spec = sl_v_get_object(v, obj, "spec");
    if (!spec) {
        if (!sl_v_present(obj, "spec"))
            sl_v_required(v, "spec");
        return;
    }
    size_t prev = sl_v_field(v, "spec");
    sl_v_parent_refs(v, spec);
    sl_v_route_hostnames(v, spec);
    const json_t *rules = sl_v_get_list(v, spec, "rules", min_rules, 16, false);
    size_t i;
    const json_t *x;
    json_array_foreach(rules, i, x)
    {
        size_t p2 = sl_v_field(v, "rules");
        const json_t *r = sl_v_list_object(v, rules, i);
        if (r) {
            sl_v_index(v, i);
            check_rule(v, r);
        }
        sl_v_pop(v, p2);
    }
    sl_v_rule_names(v, rules);
    sl_v_total_matches(v, rules);
    sl_v_pop(v, prev);
}

void sl_v_weighted_backend_refs(sl_vctx *v, const json_t *rule, size_t min, const char *const *filter_types)
{
    const json_t *list = sl_v_get_list(v, rule, "backendRefs", min, 16, min > 0);
    if (!list)
        return;
    size_t prev = sl_v_field(v, "backendRefs");
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        const json_t *b = sl_v_list_object(v, list, i);
        if (!b)
            continue;
        size_t p2 = sl_v_index(v, i);
        sl_v_backend_object_ref(v, b);
        sl_v_int_range(v, b, "weight", 0, 1000000, false, NULL);
        if (filter_types)
            sl_v_route_filters(v, b, "filters", filter_types);
        else if (sl_v_present(b, "filters"))
            sl_v_fail(v, "filters", "FieldValueForbidden", "Forbidden: a connection route has no filters");
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

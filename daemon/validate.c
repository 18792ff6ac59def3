#include "daemon/validate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/cidr.h"

void sl_vctx_init(sl_vctx *v)
{
    v->causes = json_array();
    v->path[0] = '\0';
    v->len = 0;
    v->schema_from = 0;
}

void sl_vctx_free(sl_vctx *v)
{
    json_decref(v->causes);
    v->causes = NULL;
}

size_t sl_vctx_count(const sl_vctx *v) { return json_array_size(v->causes); }

size_t sl_v_field(sl_vctx *v, const char *name)
{
    size_t prev = v->len;
    int n = snprintf(v->path + v->len, sizeof(v->path) - v->len, "%s%s", v->len ? "." : "", name);
    if (n > 0 && (size_t)n < sizeof(v->path) - v->len)
        v->len += (size_t)n;
    else
        v->path[v->len] = '\0';
    return prev;
}

size_t sl_v_index(sl_vctx *v, size_t i)
{
    size_t prev = v->len;
    int n = snprintf(v->path + v->len, sizeof(v->path) - v->len, "[%zu]", i);
    if (n > 0 && (size_t)n < sizeof(v->path) - v->len)
        v->len += (size_t)n;
    else
        v->path[v->len] = '\0';
    return prev;
}

void sl_v_pop(sl_vctx *v, size_t previous_len)
{
    v->len = previous_len;
    v->path[v->len] = '\0';
}

void sl_v_fail(sl_vctx *v, const char *sub, const char *reason, const char *fmt, ...)
{
    char field[1200];
    if (sub && *sub)
        snprintf(field, sizeof(field), "%s%s%s", v->path, v->len ? "." : "", sub);
    else
        snprintf(field, sizeof(field), "%s", v->path);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* The schema (daemon/api_schema.h) and a kind's own checks may both find
     * the same problem: the schema's cause is dropped when the kind's checks
     * already gave one for this field and reason (their words say more). */
    for (size_t i = 0; i + 1 < v->schema_from; i++) {
        const json_t *c = json_array_get(v->causes, i);
        if (strcmp(json_string_value(json_object_get(c, "field")), field) == 0 &&
            strcmp(json_string_value(json_object_get(c, "reason")), reason) == 0)
            return;
    }
    size_t n = json_array_size(v->causes);
    if (n >= SL_V_MAX_CAUSES)
        return;
    if (n == SL_V_MAX_CAUSES - 1) {
        json_array_append_new(v->causes, json_pack("{s:s, s:s, s:s}", "field", field, "message",
                                                   "too many problems: only the first ones are listed", "reason",
                                                   "FieldValueInvalid"));
        return;
    }
    json_array_append_new(v->causes,
                          json_pack("{s:s, s:s, s:s}", "field", field, "message", msg, "reason", reason));
}

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool sl_is_dns1123_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

bool sl_is_dns1035_label(const char *s)
{
    return sl_is_dns1123_label(s) && s[0] >= 'a' && s[0] <= 'z';
}

bool sl_is_dns1123_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        char label[64];
        if (len == 0 || len > 63)
            return false;
        memcpy(label, p, len);
        label[len] = '\0';
        if (!sl_is_dns1123_label(label))
            return false;
        if (!dot)
            return true;
        p = dot + 1;
    }
}

bool sl_is_gateway_hostname(const char *s)
{
    if (strncmp(s, "*.", 2) == 0)
        s += 2;
    if (!sl_is_dns1123_subdomain(s))
        return false;
    /* IP addresses are not hostnames: an all-numeric last label means an address. */
    const char *last = strrchr(s, '.');
    last = last ? last + 1 : s;
    bool all_digits = true;
    for (const char *p = last; *p; p++)
        if (!isdigit((unsigned char)*p))
            all_digits = false;
    return !all_digits;
}

bool sl_is_framing_header(const char *s)
{
    static const char *const names[] = {"host", "content-length", "transfer-encoding", "connection", "keep-alive",
                                        "upgrade", "te", "trailer", "proxy-connection", "expect", NULL};
    for (int i = 0; names[i]; i++)
        if (strcasecmp(s, names[i]) == 0)
            return true;
    return false;
}

bool sl_is_http_token(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p))
            continue;
        if (!strchr("!#$%&'*+-.^_`|~", *p))
            return false;
    }
    return true;
}

static bool is_name_part(const char *s, size_t n)
{
    if (n == 0 || n > 63)
        return false;
    if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
            return false;
    return true;
}

bool sl_is_qualified_name(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash)
        return is_name_part(s, strlen(s));
    size_t plen = (size_t)(slash - s);
    if (plen == 0 || plen > 253)
        return false;
    char prefix[254];
    memcpy(prefix, s, plen);
    prefix[plen] = '\0';
    if (!sl_is_dns1123_subdomain(prefix))
        return false;
    return is_name_part(slash + 1, strlen(slash + 1));
}

bool sl_is_label_value(const char *s)
{
    size_t n = strlen(s);
    return n == 0 || is_name_part(s, n);
}

const json_t *sl_v_get_object(sl_vctx *v, const json_t *parent, const char *key)
{
    const json_t *x = json_object_get(parent, key);
    if (!x || json_is_null(x))
        return NULL;
    if (!json_is_object(x)) {
        sl_v_fail(v, key, "FieldValueTypeInvalid", "must be an object");
        return NULL;
    }
    return x;
}

const json_t *sl_v_get_array(sl_vctx *v, const json_t *parent, const char *key)
{
    const json_t *x = json_object_get(parent, key);
    if (!x || json_is_null(x))
        return NULL;
    if (!json_is_array(x)) {
        sl_v_fail(v, key, "FieldValueTypeInvalid", "must be a list");
        return NULL;
    }
    return x;
}

const char *sl_v_get_string(sl_vctx *v, const json_t *parent, const char *key)
{
    const json_t *x = json_object_get(parent, key);
    if (!x || json_is_null(x))
        return NULL;
    if (!json_is_string(x)) {
        sl_v_fail(v, key, "FieldValueTypeInvalid", "must be a string");
        return NULL;
    }
    return json_string_value(x);
}

bool sl_v_get_int(sl_vctx *v, const json_t *parent, const char *key, long long *out)
{
    const json_t *x = json_object_get(parent, key);
    if (!x || json_is_null(x))
        return false;
    if (!json_is_integer(x)) {
        sl_v_fail(v, key, "FieldValueTypeInvalid", "must be an integer");
        return false;
    }
    *out = json_integer_value(x);
    return true;
}

bool sl_v_enum(sl_vctx *v, const char *sub, const char *value, const char *const *allowed)
{
    for (const char *const *a = allowed; *a; a++)
        if (strcmp(*a, value) == 0)
            return true;
    char list[512] = "";
    size_t used = 0;
    for (const char *const *a = allowed; *a; a++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s\"%s\"", used ? ", " : "", *a);
        if (n < 0 || (size_t)n >= sizeof(list) - used)
            break;
        used += (size_t)n;
    }
    sl_v_fail(v, sub, "FieldValueNotSupported", "Unsupported value: \"%s\": supported values: %s",
              value, list);
    return false;
}

static void validate_string_map(sl_vctx *v, const json_t *meta, const char *key, bool values_are_labels)
{
    const json_t *m = sl_v_get_object(v, meta, key);
    if (!m)
        return;
    size_t prev = sl_v_field(v, key);
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)m, k, val)
    {
        if (!sl_is_qualified_name(k))
            sl_v_invalid(v, NULL, "key \"%s\" must be a qualified name ([prefix/]name, alphanumerics, '-', '_', '.')", k);
        if (!json_is_string(val)) {
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "value of \"%s\" must be a string", k);
            continue;
        }
        if (values_are_labels && !sl_is_label_value(json_string_value(val)))
            sl_v_invalid(v, NULL, "value of \"%s\" must be at most 63 characters of [A-Za-z0-9._-], beginning and ending with an alphanumeric", k);
    }
    sl_v_pop(v, prev);
}

void sl_validate_metadata(sl_vctx *v, const json_t *obj, bool namespaced, bool name_is_label)
{
    const json_t *meta = sl_v_get_object(v, obj, "metadata");
    if (!meta) {
        sl_v_required(v, "metadata");
        return;
    }
    size_t prev = sl_v_field(v, "metadata");
    const char *name = sl_v_get_string(v, meta, "name");
    if (!name || !*name)
        sl_v_required(v, "name");
    else if (name_is_label ? !sl_is_dns1123_label(name) : !sl_is_dns1123_subdomain(name))
        sl_v_invalid(v, "name",
                     name_is_label
                         ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', start and end with an alphanumeric character, and be at most 63 characters"
                         : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', start and end with an alphanumeric character, and be at most 253 characters");
    const char *ns = sl_v_get_string(v, meta, "namespace");
    if (namespaced) {
        if (ns && *ns && !sl_is_dns1123_label(ns))
            sl_v_invalid(v, "namespace", "must be a lowercase RFC 1123 label");
    }
    validate_string_map(v, meta, "labels", true);
    validate_string_map(v, meta, "annotations", false);
    sl_v_pop(v, prev);
}

/* ---- Helpers for the per-kind validators ---- */

size_t sl_v_key(sl_vctx *v, const char *key)
{
    size_t prev = v->len;
    int n = snprintf(v->path + v->len, sizeof(v->path) - v->len, "[%s]", key);
    if (n > 0 && (size_t)n < sizeof(v->path) - v->len)
        v->len += (size_t)n;
    else
        v->path[v->len] = '\0';
    return prev;
}

/* Present means present and not null: a JSON null is how merge patches and
 * some clients spell "unset". */
const json_t *sl_v_present(const json_t *parent, const char *key)
{
    const json_t *x = json_object_get(parent, key);
    return x && !json_is_null(x) ? x : NULL;
}


const json_t *sl_v_list_object(sl_vctx *v, const json_t *list, size_t i)
{
    const json_t *x = json_array_get(list, i);
    if (json_is_object(x))
        return x;
    size_t prev = sl_v_index(v, i);
    sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be an object");
    sl_v_pop(v, prev);
    return NULL;
}

bool sl_v_get_bool(sl_vctx *v, const json_t *parent, const char *key, bool *out)
{
    const json_t *x = sl_v_present(parent, key);
    if (!x)
        return false;
    if (!json_is_boolean(x)) {
        sl_v_fail(v, key, "FieldValueTypeInvalid", "must be a boolean");
        return false;
    }
    *out = json_is_true(x);
    return true;
}

const char *sl_v_req_string(sl_vctx *v, const json_t *parent, const char *key)
{
    if (!sl_v_present(parent, key)) {
        sl_v_required(v, key);
        return NULL;
    }
    const char *s = sl_v_get_string(v, parent, key);
    if (s && !*s) {
        sl_v_required(v, key);
        return NULL;
    }
    return s;
}

const json_t *sl_v_get_list(sl_vctx *v, const json_t *parent, const char *key, size_t min, size_t max,
                            bool required)
{
    if (!sl_v_present(parent, key)) {
        if (required)
            sl_v_required(v, key);
        return NULL;
    }
    const json_t *a = sl_v_get_array(v, parent, key);
    if (!a)
        return NULL;
    size_t n = json_array_size(a);
    if (n < min) {
        if (n == 0 && required)
            sl_v_required(v, key);
        else
            sl_v_invalid(v, key, "must have at least %zu items", min);
    } else if (n > max) {
        sl_v_fail(v, key, "FieldValueTooMany", "must have at most %zu items", max);
    }
    return a;
}

bool sl_v_int_range(sl_vctx *v, const json_t *parent, const char *key, long long lo, long long hi,
                    bool required, long long *out)
{
    long long x;
    if (!sl_v_present(parent, key)) {
        if (required)
            sl_v_required(v, key);
        return false;
    }
    if (!sl_v_get_int(v, parent, key, &x))
        return false;
    if (x < lo || x > hi) {
        sl_v_invalid(v, key, "must be between %lld and %lld, inclusive", lo, hi);
        return false;
    }
    if (out)
        *out = x;
    return true;
}

bool sl_v_max_len(sl_vctx *v, const char *sub, const char *s, size_t max)
{
    if (strlen(s) <= max)
        return true;
    sl_v_fail(v, sub, "FieldValueTooLong", "may not be more than %zu bytes", max);
    return false;
}

bool sl_parse_gateway_duration(const char *s, long long *ms)
{
    long long total = 0;
    int parts = 0;
    const char *p = s;
    while (*p) {
        if (++parts > 4)
            return false;
        long long n = 0;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (++digits > 5)
                return false;
            n = n * 10 + (*p++ - '0');
        }
        if (digits == 0)
            return false;
        /* "ms" must be tried before "m". */
        if (p[0] == 'm' && p[1] == 's') {
            total += n;
            p += 2;
        } else if (*p == 'h') {
            total += n * 3600000;
            p++;
        } else if (*p == 'm') {
            total += n * 60000;
            p++;
        } else if (*p == 's') {
            total += n * 1000;
            p++;
        } else {
            return false;
        }
    }
    if (parts == 0)
        return false;
    if (ms)
        *ms = total;
    return true;
}

bool sl_is_ipv4(const char *s)
{
    unsigned char buf[sizeof(struct in_addr)];
    return inet_pton(AF_INET, s, buf) == 1;
}

bool sl_is_ipv6(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET6, s, buf) == 1;
}

bool sl_is_ip_literal(const char *s) { return sl_is_ipv4(s) || sl_is_ipv6(s); }

bool sl_is_cidr(const char *s)
{
    uint8_t family, prefix, addr[16];
    return sl_cidr_parse(s, &family, addr, &prefix);
}

bool sl_is_base64(const char *s)
{
    size_t n = strlen(s);
    if (n % 4 != 0)
        return false;
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            /* Padding only at the end, at most two characters. */
            pad++;
            if (i + 2 < n || pad > 2)
                return false;
            continue;
        }
        if (pad)
            return false;
        if (!isalnum((unsigned char)c) && c != '+' && c != '/')
            return false;
    }
    return true;
}

bool sl_is_config_key(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253 || strcmp(s, ".") == 0 || strncmp(s, "..", 2) == 0)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-._", *p))
            return false;
    return true;
}

bool sl_is_iana_svc_name(const char *s)
{
    size_t n = strlen(s);
    bool letter = false;
    if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
        return false;
    for (const char *p = s; *p; p++) {
        if (*p >= 'a' && *p <= 'z')
            letter = true;
        else if (!isdigit((unsigned char)*p) && *p != '-')
            return false;
    }
    return letter;
}

/* Dot-separated labels of [a-z0-9-], each starting and ending alphanumeric. The
 * Gateway API patterns for Group and SectionName do not cap label length. */
static bool is_dotted_lower(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!is_lower_alnum(s[i]) && s[i] != '-')
                return false;
            continue;
        }
        if (i == start || s[start] == '-' || s[i - 1] == '-')
            return false;
        start = i + 1;
    }
    return true;
}

bool sl_is_api_group(const char *s) { return !*s || is_dotted_lower(s, strlen(s)); }

bool sl_is_section_name(const char *s) { return is_dotted_lower(s, strlen(s)); }

bool sl_is_api_kind(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || !isalpha((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return false;
    return true;
}

bool sl_is_domain_prefixed(const char *s, const char *name_chars)
{
    const char *slash = strchr(s, '/');
    if (!slash || !is_dotted_lower(s, (size_t)(slash - s)) || !slash[1])
        return false;
    for (const char *p = slash + 1; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(name_chars, *p))
            return false;
    return true;
}

bool sl_regex_compiles(const char *re, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &off, NULL);
    if (c) {
        pcre2_code_free(c);
        return true;
    }
    PCRE2_UCHAR msg[256];
    if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
        snprintf((char *)msg, sizeof(msg), "error %d", code);
    snprintf(err, errlen, "%s at offset %zu", (const char *)msg, (size_t)off);
    return false;
}

bool sl_v_duration(sl_vctx *v, const json_t *parent, const char *key, long long *ms)
{
    const char *s = sl_v_get_string(v, parent, key);
    if (!s)
        return false;
    if (!sl_parse_gateway_duration(s, ms)) {
        sl_v_invalid(v, key, "must be a Gateway API Duration (^([0-9]{1,5}(h|m|s|ms)){1,4}$), e.g. \"1h30m\" or \"500ms\"");
        return false;
    }
    return true;
}

static void label_selector_expressions(sl_vctx *v, const json_t *exprs)
{
    static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
    size_t i;
    const json_t *e;
    size_t prev = sl_v_field(v, "matchExpressions");
    json_array_foreach(exprs, i, e)
    {
        size_t p2 = sl_v_index(v, i);
        if (!json_is_object(e)) {
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be an object");
            sl_v_pop(v, p2);
            continue;
        }
        const char *k = sl_v_req_string(v, e, "key");
        if (k && !sl_is_qualified_name(k))
            sl_v_invalid(v, "key", "must be a qualified name");
        const char *op = sl_v_req_string(v, e, "operator");
        const json_t *vals = sl_v_get_array(v, e, "values");
        size_t nvals = vals ? json_array_size(vals) : 0;
        if (op && sl_v_enum(v, "operator", op, ops)) {
            bool needs_values = strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0;
            if (needs_values && nvals == 0)
                sl_v_required(v, "values");
            else if (!needs_values && nvals > 0)
                sl_v_fail(v, "values", "FieldValueForbidden", "may not be specified when operator is %s", op);
        }
        size_t j;
        const json_t *val;
        json_array_foreach(vals, j, val)
        {
            size_t p3 = sl_v_field(v, "values");
            sl_v_index(v, j);
            if (!json_is_string(val))
                sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be a string");
            else if (!sl_is_label_value(json_string_value(val)))
                sl_v_invalid(v, NULL, "must be a valid label value");
            sl_v_pop(v, p3);
        }
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

void sl_v_label_selector(sl_vctx *v, const json_t *parent, const char *key)
{
    const json_t *sel = sl_v_get_object(v, parent, key);
    if (!sel)
        return;
    size_t prev = sl_v_field(v, key);
    const json_t *ml = sl_v_get_object(v, sel, "matchLabels");
    if (ml) {
        const char *k;
        const json_t *val;
        json_object_foreach((json_t *)ml, k, val)
        {
            size_t p2 = sl_v_field(v, "matchLabels");
            sl_v_key(v, k);
            if (!sl_is_qualified_name(k))
                sl_v_invalid(v, NULL, "key must be a qualified name");
            if (!json_is_string(val))
                sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be a string");
            else if (!sl_is_label_value(json_string_value(val)))
                sl_v_invalid(v, NULL, "must be a valid label value");
            sl_v_pop(v, p2);
        }
    }
    const json_t *exprs = sl_v_get_array(v, sel, "matchExpressions");
    if (exprs)
        label_selector_expressions(v, exprs);
    sl_v_pop(v, prev);
}

void sl_v_string_map(sl_vctx *v, const json_t *parent, const char *key, size_t max_entries, size_t max_value)
{
    const json_t *m = sl_v_get_object(v, parent, key);
    if (!m)
        return;
    if (json_object_size(m) > max_entries)
        sl_v_fail(v, key, "FieldValueTooMany", "must have at most %zu entries", max_entries);
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)m, k, val)
    {
        size_t prev = sl_v_field(v, key);
        sl_v_key(v, k);
        if (!sl_is_qualified_name(k))
            sl_v_invalid(v, NULL, "key must be a qualified name ([prefix/]name)");
        if (!json_is_string(val))
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be a string");
        else
            sl_v_max_len(v, NULL, json_string_value(val), max_value);
        sl_v_pop(v, prev);
    }
}

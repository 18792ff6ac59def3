/* The check of a value against a spec schema (daemon/api_schema.h): what the
 * Kubernetes API server checks for a CRD with a structural schema, with the
 * messages our hand-written checks use, so that an object is judged the same
 * whichever of the two finds its problem. A JSON null counts as absent, as it
 * does everywhere in our validation (merge patches spell "unset" that way). */
#include <stdio.h>
#include <string.h>

#include "daemon/api_schema.h"

static const char *type_words(const char *type)
{
    if (strcmp(type, "object") == 0)
        return "must be an object";
    if (strcmp(type, "array") == 0)
        return "must be a list";
    if (strcmp(type, "string") == 0)
        return "must be a string";
    if (strcmp(type, "integer") == 0)
        return "must be an integer";
    if (strcmp(type, "number") == 0)
        return "must be a number";
    return "must be a boolean";
}

static bool type_ok(const char *type, const json_t *x)
{
    if (strcmp(type, "object") == 0)
        return json_is_object(x);
    if (strcmp(type, "array") == 0)
        return json_is_array(x);
    if (strcmp(type, "string") == 0)
        return json_is_string(x);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(x);
    if (strcmp(type, "number") == 0)
        return json_is_number(x);
    return json_is_boolean(x);
}

/* Characters (code points) of a UTF-8 string, as Kubernetes counts lengths. */
static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool limit(const json_t *s, const char *key, long long *out)
{
    const json_t *x = json_object_get(s, key);
    if (!json_is_integer(x))
        return false;
    *out = json_integer_value(x);
    return true;
}

/* An empty string or list below its minimum: "Required value" when its object
 * requires it (as our own checks say), else a plain invalid value. */
static void too_short(sl_vctx *v, bool required, bool empty, const char *fmt, long long min)
{
    if (empty && required)
        sl_v_required(v, NULL);
    else
        sl_v_invalid(v, NULL, fmt, min);
}

static void check_string(sl_vctx *v, const json_t *s, const char *str, bool required)
{
    const json_t *en = json_object_get(s, "enum");
    if (en) { /* (as the hand-written checks say it: sl_v_enum) */
        const char *allowed[65];
        size_t i, n = 0;
        const json_t *e;
        json_array_foreach(en, i, e) if (n < 64) allowed[n++] = json_string_value(e);
        allowed[n] = NULL;
        sl_v_enum(v, NULL, str, allowed);
        return;
    }
    long long lo, hi;
    size_t len = utf8_length(str);
    if (limit(s, "minLength", &lo) && (long long)len < lo) {
        too_short(v, required, len == 0, "must be at least %lld characters", lo);
        return;
    }
    if (limit(s, "maxLength", &hi) && (long long)len > hi) {
        sl_v_fail(v, NULL, "FieldValueTooLong", "may not be more than %lld characters", hi);
        return; /* (no pattern run over a string that is already too long) */
    }
    const char *re = json_string_value(json_object_get(s, "pattern"));
    if (re && sl_api_schema_match(re, str) != 1)
        sl_v_invalid(v, NULL, "Invalid value: \"%.200s\": must match %s", str, re);
}

static void check_number(sl_vctx *v, const json_t *s, const json_t *x)
{
    const json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
    double d = json_number_value(x);
    bool low = mn && d < json_number_value(mn), high = mx && d > json_number_value(mx);
    if (!low && !high)
        return;
    if (mn && mx && json_is_integer(mn) && json_is_integer(mx))
        sl_v_invalid(v, NULL, "must be between %lld and %lld, inclusive", (long long)json_integer_value(mn),
                     (long long)json_integer_value(mx));
    else if (mn && mx)
        sl_v_invalid(v, NULL, "must be between %g and %g, inclusive", json_number_value(mn), json_number_value(mx));
    else if (low)
        sl_v_invalid(v, NULL, "must be at least %g", json_number_value(mn));
    else
        sl_v_invalid(v, NULL, "must be at most %g", json_number_value(mx));
}

static void check_node(sl_vctx *v, const json_t *s, const json_t *x, bool required);

static void check_array(sl_vctx *v, const json_t *s, const json_t *a, bool required)
{
    long long lo, hi;
    size_t n = json_array_size(a);
    if (limit(s, "minItems", &lo) && (long long)n < lo)
        too_short(v, required, n == 0, "must have at least %lld items", lo);
    if (limit(s, "maxItems", &hi) && (long long)n > hi) {
        sl_v_fail(v, NULL, "FieldValueTooMany", "must have at most %lld items", hi);
        return; /* (a list far too long is not walked item by item) */
    }
    const json_t *items = json_object_get(s, "items");
    size_t i;
    const json_t *x;
    json_array_foreach(a, i, x)
    {
        size_t prev = sl_v_index(v, i);
        check_node(v, items, x, false);
        sl_v_pop(v, prev);
    }
}

/* Edit distance of two short names (for "did you mean"), capped at 3. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 3;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] > 3 ? 3 : row[lb];
}

static void unknown_field(sl_vctx *v, const json_t *props, const char *key)
{
    const char *best = NULL;
    size_t best_d = 3;
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)props, k, x)
    {
        size_t d = strcasecmp(k, key) == 0 ? 0 : distance(k, key);
        if (d < best_d)
            best = k, best_d = d;
    }
    if (best)
        sl_v_fail(v, key, "FieldValueNotSupported", "unknown field \"%s\" (did you mean \"%s\"?)", key, best);
    else
        sl_v_fail(v, key, "FieldValueNotSupported", "unknown field \"%s\"", key);
}

static bool is_required(const json_t *s, const char *key)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(s, "required"), i, r) if (strcmp(json_string_value(r), key) == 0) return true;
    return false;
}

static void check_object(sl_vctx *v, const json_t *s, const json_t *o)
{
    const json_t *props = json_object_get(s, "properties"), *addl = json_object_get(s, "additionalProperties");
    bool open = json_is_true(json_object_get(s, "x-kubernetes-preserve-unknown-fields"));
    long long lo, hi;
    size_t present = 0;
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)o, k, x) present += !json_is_null(x);
    if (limit(s, "minProperties", &lo) && (long long)present < lo)
        sl_v_invalid(v, NULL, "must have at least %lld fields", lo);
    if (limit(s, "maxProperties", &hi) && (long long)present > hi)
        sl_v_fail(v, NULL, "FieldValueTooMany", "must have at most %lld fields", hi);
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(s, "required"), i, r)
    {
        const json_t *got = json_object_get(o, json_string_value(r));
        if (!got || json_is_null(got))
            sl_v_required(v, json_string_value(r));
    }
    json_object_foreach((json_t *)o, k, x)
    {
        if (json_is_null(x))
            continue;
        const json_t *sub = props ? json_object_get(props, k) : addl;
        if (!sub) {
            if (props && !open)
                unknown_field(v, props, k);
            continue;
        }
        size_t prev = props ? sl_v_field(v, k) : sl_v_key(v, k);
        check_node(v, sub, x, props && is_required(s, k));
        sl_v_pop(v, prev);
    }
}

static void check_node(sl_vctx *v, const json_t *s, const json_t *x, bool required)
{
    if (!s || json_is_null(x))
        return;
    if (json_is_true(json_object_get(s, "x-kubernetes-int-or-string"))) {
        if (!json_is_integer(x) && !json_is_string(x))
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be an integer or a string");
        return;
    }
    const char *type = json_string_value(json_object_get(s, "type"));
    if (!type) /* free-form (x-kubernetes-preserve-unknown-fields alone) */
        return;
    if (!type_ok(type, x)) {
        sl_v_fail(v, NULL, "FieldValueTypeInvalid", "%s", type_words(type));
        return;
    }
    if (json_is_string(x))
        check_string(v, s, json_string_value(x), required);
    else if (json_is_number(x))
        check_number(v, s, x);
    else if (json_is_array(x))
        check_array(v, s, x, required);
    else if (json_is_object(x))
        check_object(v, s, x);
}

void sl_v_schema(sl_vctx *v, const json_t *s, const json_t *x) { check_node(v, s, x, true); }

void sl_schema_prune(const json_t *s, json_t *x, const char *path, json_t *pruned)
{
    if (!s || !json_is_object(s))
        return;
    const json_t *props = json_object_get(s, "properties");
    if (json_is_array(x) && json_object_get(s, "items")) {
        size_t i;
        json_t *item;
        json_array_foreach(x, i, item)
        {
            char sub[1024];
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            sl_schema_prune(json_object_get(s, "items"), item, sub, pruned);
        }
        return;
    }
    if (!json_is_object(x))
        return;
    const json_t *addl = json_object_get(s, "additionalProperties");
    bool open = json_is_true(json_object_get(s, "x-kubernetes-preserve-unknown-fields"));
    const char *k;
    json_t *val;
    void *tmp;
    json_object_foreach_safe(x, tmp, k, val)
    {
        char sub[1024];
        snprintf(sub, sizeof(sub), props ? "%s.%s" : "%s[%s]", path, k);
        const json_t *child = props ? json_object_get(props, k) : addl;
        if (child)
            sl_schema_prune(child, val, sub, pruned);
        else if (props && !open) {
            json_array_append_new(pruned, json_string(sub));
            json_object_del(x, k);
        }
    }
}

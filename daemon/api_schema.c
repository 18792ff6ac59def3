/* Loading and linting of the embedded spec schemas (the api/ directory); the check of
 * a value against one is in daemon/schema_check.c. See daemon/api_schema.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "daemon/api_schema.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/yaml_json.h"

#define MAX_SCHEMAS 8
#define MAX_PATTERNS 256

static struct {
    char stem[64];
    json_t *schema;
} schemas[MAX_SCHEMAS];
static size_t nschemas;

/* Compiled patterns of the loaded schemas, keyed by the pattern's text. */
static struct {
    const char *text;
    pcre2_code *code;
} patterns[MAX_PATTERNS];
static size_t npatterns;

static const char *const types[] = {"object", "array", "string", "integer", "number", "boolean", NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static pcre2_code *compile_pattern(const char *re, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &code, &off, NULL);
    if (!c && err) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof(msg));
        snprintf(err, errlen, "pattern %s does not compile at offset %zu: %s", re, (size_t)off, (char *)msg);
    }
    return c;
}

static pcre2_code *cached_pattern(const char *re)
{
    for (size_t i = 0; i < npatterns; i++)
        if (strcmp(patterns[i].text, re) == 0)
            return patterns[i].code;
    return NULL;
}

static void load_all(void);
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

int sl_api_schema_match(const char *re, const char *s)
{
    pthread_once(&load_once, load_all); /* (the cache is filled before anything reads it) */
    pcre2_code *c = cached_pattern(re), *owned = NULL;
    if (!c)
        c = owned = compile_pattern(re, NULL, 0);
    if (!c)
        return -1;
    /* Bounded work whatever the input (the strings are short: maxLength is
     * checked first, but a pattern need not have one). */
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (mc) {
        pcre2_set_match_limit(mc, 100000);
        pcre2_set_heap_limit(mc, 4096); /* KiB */
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int rc = md ? pcre2_match(c, (PCRE2_SPTR)s, strlen(s), 0, 0, md, mc) : -1;
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    pcre2_code_free(owned);
    if (rc >= 0)
        return 1;
    return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

static bool lint_node(const json_t *s, char *path, size_t pathlen, size_t used, char *err, size_t errlen);

static bool lint_child(const json_t *child, const char *seg, char *path, size_t pathlen, size_t used, char *err,
                       size_t errlen)
{
    int n = snprintf(path + used, pathlen - used, "%s", seg);
    size_t u = (n > 0 && (size_t)n < pathlen - used) ? used + (size_t)n : used;
    bool ok = lint_node(child, path, pathlen, u, err, errlen);
    path[used] = '\0';
    return ok;
}

static bool lint_fail(char *err, size_t errlen, const char *path, const char *what)
{
    snprintf(err, errlen, "%s: %s", path[0] ? path : "(top)", what);
    return false;
}

static bool lint_node(const json_t *s, char *path, size_t pathlen, size_t used, char *err, size_t errlen)
{
    static const char *const keys[] = {"type", "description", "properties", "required", "additionalProperties",
                                       "items", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern",
                                       "minItems", "maxItems", "minProperties", "maxProperties",
                                       "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string", NULL};
    if (!json_is_object(s))
        return lint_fail(err, errlen, path, "a schema must be an object");
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)s, k, val)
    {
        if (!in_list(k, keys)) {
            char what[160];
            snprintf(what, sizeof(what), "keyword \"%s\" is not understood", k);
            return lint_fail(err, errlen, path, what);
        }
    }
    const json_t *keep = json_object_get(s, "x-kubernetes-preserve-unknown-fields"),
                 *ios = json_object_get(s, "x-kubernetes-int-or-string");
    if ((keep && !json_is_true(keep)) || (ios && !json_is_true(ios)))
        return lint_fail(err, errlen, path, "x-kubernetes-* markers are given as true or not at all");
    if (ios && json_object_get(s, "type"))
        return lint_fail(err, errlen, path, "x-kubernetes-int-or-string takes no type");
    const char *type = json_string_value(json_object_get(s, "type"));
    bool free_form = json_is_true(json_object_get(s, "x-kubernetes-preserve-unknown-fields")) ||
                     json_is_true(json_object_get(s, "x-kubernetes-int-or-string"));
    if (!type && !free_form)
        return lint_fail(err, errlen, path, "every schema needs a type (a structural schema)");
    if (type && !in_list(type, types))
        return lint_fail(err, errlen, path, "type must be object, array, string, integer, number or boolean");
    const json_t *props = json_object_get(s, "properties"), *addl = json_object_get(s, "additionalProperties");
    if (props && addl)
        return lint_fail(err, errlen, path, "properties and additionalProperties cannot both be given");
    if ((props || addl || json_object_get(s, "required")) && type && strcmp(type, "object") != 0)
        return lint_fail(err, errlen, path, "properties belong to type object");
    if (json_object_get(s, "items") && (!type || strcmp(type, "array") != 0))
        return lint_fail(err, errlen, path, "items belong to type array");
    if (type && strcmp(type, "array") == 0 && !json_object_get(s, "items"))
        return lint_fail(err, errlen, path, "an array needs items");
    static const char *const counts[] = {"minLength", "maxLength", "minItems", "maxItems", "minProperties",
                                         "maxProperties", NULL};
    for (const char *const *c = counts; *c; c++) {
        const json_t *x = json_object_get(s, *c);
        if (x && (!json_is_integer(x) || json_integer_value(x) < 0))
            return lint_fail(err, errlen, path, "a length limit must be a non-negative integer");
    }
    for (const char *const *c = (const char *const[]){"minimum", "maximum", NULL}; *c; c++) {
        const json_t *x = json_object_get(s, *c);
        if (x && !json_is_number(x))
            return lint_fail(err, errlen, path, "minimum and maximum must be numbers");
    }
    const json_t *en = json_object_get(s, "enum");
    if (en && (!type || strcmp(type, "string") != 0))
        return lint_fail(err, errlen, path, "enum belongs to type string (the only one checked)");
    if (en) {
        size_t i;
        const json_t *e;
        if (!json_is_array(en) || json_array_size(en) == 0 || json_array_size(en) > 64)
            return lint_fail(err, errlen, path, "enum must be a list of 1 to 64 values");
        json_array_foreach(en, i, e) if (!json_is_string(e)) return lint_fail(err, errlen, path,
                                                                              "enum values must be strings");
    }
    const json_t *req = json_object_get(s, "required");
    if (req) {
        size_t i;
        const json_t *e;
        if (!json_is_array(req))
            return lint_fail(err, errlen, path, "required must be a list");
        json_array_foreach(req, i, e)
        {
            if (!json_is_string(e) || !json_object_get(props, json_string_value(e)))
                return lint_fail(err, errlen, path, "required names a property that is not listed");
        }
    }
    const json_t *pat = json_object_get(s, "pattern");
    if (pat) {
        if (!json_is_string(pat))
            return lint_fail(err, errlen, path, "pattern must be a string");
        char why[300];
        pcre2_code *c = compile_pattern(json_string_value(pat), why, sizeof(why));
        if (!c)
            return lint_fail(err, errlen, path, why);
        pcre2_code_free(c);
    }
    if (props) {
        if (!json_is_object(props))
            return lint_fail(err, errlen, path, "properties must be an object");
        json_object_foreach((json_t *)props, k, val)
        {
            char seg[200];
            snprintf(seg, sizeof(seg), ".%s", k);
            if (!lint_child(val, seg, path, pathlen, used, err, errlen))
                return false;
        }
    }
    if (addl && !lint_child(addl, "{*}", path, pathlen, used, err, errlen))
        return false;
    const json_t *items = json_object_get(s, "items");
    if (items && !lint_child(items, "[*]", path, pathlen, used, err, errlen))
        return false;
    return true;
}

bool sl_api_schema_lint(const json_t *schema, char *err, size_t errlen)
{
    char path[1024] = "";
    return lint_node(schema, path, sizeof(path), 0, err, errlen);
}

static void cache_patterns(const json_t *s)
{
    const char *re = json_string_value(json_object_get(s, "pattern"));
    if (re && !cached_pattern(re) && npatterns < MAX_PATTERNS) {
        patterns[npatterns].text = re; /* (the schema lives as long as the process) */
        patterns[npatterns].code = compile_pattern(re, NULL, 0);
        npatterns++;
    }
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)json_object_get(s, "properties"), k, val) cache_patterns(val);
    if (json_object_get(s, "additionalProperties"))
        cache_patterns(json_object_get(s, "additionalProperties"));
    if (json_object_get(s, "items"))
        cache_patterns(json_object_get(s, "items"));
}

static void load_all(void)
{
    for (const sl_embedded_text *f = sl_api_schema_files; f->name; f++) {
        char err[512] = "not exactly one document";
        if (nschemas == MAX_SCHEMAS) {
            sl_log_error("schema", "more compiled-in schemas than MAX_SCHEMAS (%d): api/%s", MAX_SCHEMAS, f->name);
            abort();
        }
        json_t *docs = sl_yaml_load(f->text, strlen(f->text), err, sizeof(err));
        json_t *schema = docs && json_array_size(docs) == 1 ? json_incref(json_array_get(docs, 0)) : NULL;
        json_decref(docs);
        if (!schema) {
            sl_log_error("schema", "the compiled-in api/%s is not one YAML document: %s", f->name, err);
            abort();
        }
        if (!sl_api_schema_lint(schema, err, sizeof(err))) {
            sl_log_error("schema", "the compiled-in api/%s: %s", f->name, err);
            abort();
        }
        const char *dot = strchr(f->name, '.');
        snprintf(schemas[nschemas].stem, sizeof(schemas[0].stem), "%.*s",
                 (int)(dot ? (size_t)(dot - f->name) : strlen(f->name)), f->name);
        schemas[nschemas].schema = schema;
        cache_patterns(schema);
        nschemas++;
    }
}

const json_t *sl_api_schema(const char *stem)
{
    pthread_once(&load_once, load_all);
    for (size_t i = 0; i < nschemas; i++)
        if (strcmp(schemas[i].stem, stem) == 0)
            return schemas[i].schema;
    return NULL;
}

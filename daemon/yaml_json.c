/* YAML manifests <-> JSON objects (see yaml_json.h). The reading side builds
 * jansson values from libyaml's parser events (the events, not libyaml's
 * document tree, since only they tell a plain scalar from a quoted one, which
 * decides its type); the writing side feeds libyaml's emitter. */
#include "daemon/yaml_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

/* ------------------------------------------------------------------ reading */

typedef struct frame {
    json_t *value;  /* the array or object being filled */
    char *key;      /* an object's key waiting for its value; NULL: a key comes next */
    char *anchor;   /* the collection's anchor, registered once it is complete */
} frame;

typedef struct loader {
    frame stack[SL_YAML_MAX_DEPTH];
    int depth;
    json_t *root;     /* the current document's value */
    bool have_root;
    json_t *anchors;  /* anchor name -> value (complete collections and scalars) */
    size_t nodes;
    size_t max_nodes; /* the budget: aliases count in full */
    char *err;
    size_t errlen;
    size_t document;  /* index of the current document */
} loader;

static bool fail(loader *l, const yaml_mark_t *m, const char *fmt, const char *arg)
{
    char what[300];
    snprintf(what, sizeof(what), fmt, arg ? arg : "");
    snprintf(l->err, l->errlen, "document %zu, line %zu, column %zu: %s", l->document, (size_t)m->line + 1,
             (size_t)m->column + 1, what);
    return false;
}

static bool matches_all(const char *s, const char *set)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!strchr(set, *s))
            return false;
    return true;
}

/* The YAML 1.2 core schema's float forms ("1.5", "-.5", "2e10", "1.": no "inf" or "nan"). */
static bool is_float(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    bool digits = false;
    while (*p >= '0' && *p <= '9') {
        p++;
        digits = true;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            digits = true;
        }
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

static bool is_word(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return true;
    return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", NULL};

/* An integer of the core schema: decimal, 0o octal, 0x hex. NULL-terminated s. */
static bool parse_int(const char *s, json_int_t *out)
{
    const char *digits = s;
    int base = 10;
    if (strncmp(s, "0o", 2) == 0 && matches_all(s + 2, "01234567")) {
        digits = s + 2;
        base = 8;
    } else if (strncmp(s, "0x", 2) == 0 && matches_all(s + 2, "0123456789abcdefABCDEF")) {
        digits = s + 2;
        base = 16;
    } else {
        const char *p = (*s == '-' || *s == '+') ? s + 1 : s;
        if (!matches_all(p, "0123456789"))
            return false;
    }
    errno = 0;
    char *end;
    long long v = strtoll(digits, &end, base);
    if (errno || *end)
        return false; /* out of range: read as a float */
    *out = (json_int_t)v;
    return true;
}

/* The JSON value of a scalar event: by its explicit tag, or for a plain
 * untagged scalar by the core schema; quoted scalars are strings. */
static json_t *scalar_value(loader *l, const yaml_event_t *e)
{
    const char *text = (const char *)e->data.scalar.value;
    const char *tag = (const char *)e->data.scalar.tag;
    bool plain = e->data.scalar.plain_implicit && !tag;
    json_int_t iv;
    if (tag && strcmp(tag, "!") == 0)
        tag = NULL, plain = false; /* the non-specific tag: a string */
    if (tag && strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0) {
        fail(l, &e->start_mark, "the tag %s is not supported (only the core schema's: !!str, !!int, !!float, "
             "!!bool, !!null)", tag);
        return NULL;
    }
    const char *t = tag ? tag + strlen(TAG_PREFIX) : NULL;
    if (!t && !plain)
        return json_stringn(text, e->data.scalar.length);
    if (t && strcmp(t, "str") == 0)
        return json_stringn(text, e->data.scalar.length);
    if ((!t || strcmp(t, "null") == 0) && is_word(text, null_words))
        return json_null();
    if ((!t || strcmp(t, "bool") == 0) && is_word(text, true_words))
        return json_true();
    if ((!t || strcmp(t, "bool") == 0) && is_word(text, false_words))
        return json_false();
    if ((!t || strcmp(t, "int") == 0) && parse_int(text, &iv))
        return json_integer(iv);
    if ((!t || strcmp(t, "float") == 0 || strcmp(t, "int") == 0) && is_float(text))
        return json_real(strtod(text, NULL));
    if (!t)
        return json_stringn(text, e->data.scalar.length);
    fail(l, &e->start_mark, "the value is not a valid !!%s", t);
    return NULL;
}

static bool too_many_nodes(loader *l, const yaml_mark_t *m)
{
    char limit[32];
    snprintf(limit, sizeof(limit), "%zu", l->max_nodes);
    return fail(l, m, "more than %s nodes (aliases count in full)", limit);
}

/* How deeply v nests (1: a scalar). Values built here never nest deeper than
 * SL_YAML_MAX_DEPTH, so this recursion is bounded. */
static int value_depth(const json_t *v)
{
    int deepest = 0;
    size_t i;
    const char *k;
    json_t *x;
    int d;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            if ((d = value_depth(x)) > deepest)
                deepest = d;
        }
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x)
        {
            if ((d = value_depth(x)) > deepest)
                deepest = d;
        }
    }
    return deepest + 1;
}

/* Counts the nodes of v against the budget. */
static size_t count_nodes(const json_t *v)
{
    size_t n = 1, i;
    const char *k;
    json_t *x;
    if (json_is_array(v))
        json_array_foreach(v, i, x) n += count_nodes(x);
    else if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x) n += count_nodes(x);
    return n;
}

/* Puts a finished value where it belongs: the document's root, the next item
 * of a sequence, or a mapping's key (a scalar's text) or value. Takes v. */
static bool place(loader *l, json_t *v, const char *key_text, const yaml_mark_t *m)
{
    if (++l->nodes > l->max_nodes) {
        json_decref(v);
        return too_many_nodes(l, m);
    }
    if (l->depth == 0) {
        l->root = v;
        l->have_root = true;
        return true;
    }
    frame *f = &l->stack[l->depth - 1];
    if (json_is_array(f->value))
        return json_array_append_new(f->value, v) == 0 || fail(l, m, "out of memory%s", NULL);
    if (!f->key) {
        if (!key_text) {
            json_decref(v);
            return fail(l, m, "a mapping key must be a scalar (JSON keys are strings)%s", NULL);
        }
        if (strcmp(key_text, "<<") == 0) {
            json_decref(v);
            return fail(l, m, "merge keys (<<) are not supported%s", NULL);
        }
        f->key = strdup(key_text); /* (key_text may live in v) */
        json_decref(v);
        return f->key != NULL || fail(l, m, "out of memory%s", NULL);
    }
    if (json_object_get(f->value, f->key)) {
        json_decref(v);
        return fail(l, m, "duplicate key \"%s\"", f->key);
    }
    int rc = json_object_set_new(f->value, f->key, v);
    free(f->key);
    f->key = NULL;
    return rc == 0 || fail(l, m, "out of memory%s", NULL);
}

static bool remember(loader *l, const char *anchor, json_t *v)
{
    return !anchor || json_object_set(l->anchors, anchor, v) == 0;
}

static bool open_collection(loader *l, json_t *v, const yaml_char_t *anchor, const yaml_mark_t *m)
{
    if (!v)
        return fail(l, m, "out of memory%s", NULL);
    if (l->depth == 0 || !json_is_object(l->stack[l->depth - 1].value) || l->stack[l->depth - 1].key) {
        /* (a value, not a key: keys are scalars) */
    } else {
        json_decref(v);
        return fail(l, m, "a mapping key must be a scalar (JSON keys are strings)%s", NULL);
    }
    if (l->depth == SL_YAML_MAX_DEPTH) {
        json_decref(v);
        return fail(l, m, "nested more than %s levels deep", "200");
    }
    frame *f = &l->stack[l->depth++];
    f->value = v;
    f->key = NULL;
    f->anchor = anchor ? strdup((const char *)anchor) : NULL;
    return true;
}

static bool close_collection(loader *l, const yaml_mark_t *m)
{
    frame *f = &l->stack[--l->depth];
    json_t *v = f->value;
    char *anchor = f->anchor;
    free(f->key);
    f->key = NULL;
    bool ok = remember(l, anchor, v);
    free(anchor);
    return ok ? place(l, v, NULL, m) : (json_decref(v), fail(l, m, "out of memory%s", NULL));
}

static bool handle(loader *l, yaml_event_t *e, json_t *docs)
{
    switch (e->type) {
    case YAML_DOCUMENT_START_EVENT:
        l->root = NULL;
        l->have_root = false;
        return true;
    case YAML_DOCUMENT_END_EVENT:
        json_array_append_new(docs, l->have_root ? l->root : json_null());
        l->root = NULL;
        l->have_root = false;
        l->document++;
        return true;
    case YAML_SCALAR_EVENT: {
        json_t *v = scalar_value(l, e);
        if (!v)
            return false;
        const char *anchor = (const char *)e->data.scalar.anchor;
        if (!remember(l, anchor, v)) {
            json_decref(v);
            return fail(l, &e->start_mark, "out of memory%s", NULL);
        }
        return place(l, v, (const char *)e->data.scalar.value, &e->start_mark);
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)e->data.alias.anchor;
        json_t *target = json_object_get(l->anchors, name);
        if (!target)
            return fail(l, &e->start_mark, "unknown (or not yet complete) anchor *%s", name);
        /* An alias is a copy: it may not nest deeper than the limit (a chain of
         * anchors, each wrapping the last, would otherwise build any depth from
         * a few bytes), nor exceed the node budget. */
        if (l->depth + value_depth(target) > SL_YAML_MAX_DEPTH)
            return fail(l, &e->start_mark, "the alias *%s nests deeper than " SL_YAML_MAX_DEPTH_TEXT " levels", name);
        size_t n = count_nodes(target);
        if (n > l->max_nodes - l->nodes)
            return too_many_nodes(l, &e->start_mark);
        l->nodes += n - 1;
        json_t *copy = json_deep_copy(target);
        /* An alias used as a key: its scalar's text. */
        const char *key_text = json_is_string(copy) ? json_string_value(copy) : NULL;
        char keybuf[64];
        if (json_is_integer(copy)) {
            snprintf(keybuf, sizeof(keybuf), "%" JSON_INTEGER_FORMAT, json_integer_value(copy));
            key_text = keybuf;
        }
        return copy ? place(l, copy, key_text, &e->start_mark) : fail(l, &e->start_mark, "out of memory%s", NULL);
    }
    case YAML_SEQUENCE_START_EVENT:
        return open_collection(l, json_array(), e->data.sequence_start.anchor, &e->start_mark);
    case YAML_MAPPING_START_EVENT:
        return open_collection(l, json_object(), e->data.mapping_start.anchor, &e->start_mark);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return close_collection(l, &e->start_mark);
    default:
        return true; /* stream start/end, no event */
    }
}

json_t *sl_yaml_load(const char *text, size_t len, char *err, size_t errlen)
{
    return sl_yaml_load_limited(text, len, SL_YAML_MAX_NODES, err, errlen);
}

json_t *sl_yaml_load_limited(const char *text, size_t len, size_t max_nodes, char *err, size_t errlen)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    loader l = {.anchors = json_object(), .err = err, .errlen = errlen,
                .max_nodes = max_nodes < SL_YAML_MAX_NODES ? max_nodes : SL_YAML_MAX_NODES};
    json_t *docs = json_array();
    bool ok = docs && l.anchors;
    for (bool done = false; ok && !done;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&parser, &e)) {
            snprintf(err, errlen, "document %zu, line %zu, column %zu: %s%s%s", l.document,
                     (size_t)parser.problem_mark.line + 1, (size_t)parser.problem_mark.column + 1,
                     parser.problem ? parser.problem : "invalid YAML", parser.context ? " " : "",
                     parser.context ? parser.context : "");
            ok = false;
            break;
        }
        done = e.type == YAML_STREAM_END_EVENT;
        ok = handle(&l, &e, docs);
        yaml_event_delete(&e);
    }
    while (l.depth > 0) {
        frame *f = &l.stack[--l.depth];
        json_decref(f->value);
        free(f->key);
        free(f->anchor);
    }
    json_decref(l.root);
    json_decref(l.anchors);
    yaml_parser_delete(&parser);
    if (!ok) {
        json_decref(docs);
        return NULL;
    }
    return docs;
}

/* ------------------------------------------------------------------ writing */

typedef struct outbuf {
    char *data;
    size_t len, cap;
    bool failed;
} outbuf;

static int write_out(void *arg, unsigned char *buffer, size_t size)
{
    outbuf *o = arg;
    if (o->len + size + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + size + 1)
            cap *= 2;
        char *d = realloc(o->data, cap);
        if (!d) {
            o->failed = true;
            return 0;
        }
        o->data = d;
        o->cap = cap;
    }
    memcpy(o->data + o->len, buffer, size);
    o->len += size;
    o->data[o->len] = '\0';
    return 1;
}

static const char *const yaml11_words[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On",
                                           "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", "-.inf", "+.inf",
                                           ".nan", ".NaN", ".NAN", "=", NULL};

/* Whether a string written plain could read back as something else: a core
 * schema null, bool or number, a YAML 1.1 one (yes/no/on/off, which kubectl's
 * YAML library still reads as booleans), or anything that starts like a number
 * or a date (1.1 octals, sexagesimals and timestamps). Such strings are quoted. */
static bool needs_quotes(const char *s)
{
    if (is_word(s, null_words) || is_word(s, true_words) || is_word(s, false_words) || is_word(s, yaml11_words))
        return true;
    const char *p = (*s == '-' || *s == '+' || *s == '.') ? s + 1 : s;
    if (*p == '.')
        p++;
    return *p >= '0' && *p <= '9';
}

static int emit_scalar(yaml_emitter_t *em, const char *text, size_t len, yaml_scalar_style_t style, bool typed)
{
    yaml_event_t e;
    /* typed: a number, bool or null, read back by the schema (plain, implicit). A
     * string: plain when it cannot be misread, else quoted. */
    if (!yaml_scalar_event_initialize(&e, NULL, NULL, (yaml_char_t *)text, (int)len, 1, !typed, style))
        return 0;
    return yaml_emitter_emit(em, &e);
}

static int emit_value(yaml_emitter_t *em, const json_t *v)
{
    yaml_event_t e;
    char num[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (!yaml_mapping_start_event_initialize(&e, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
            !yaml_emitter_emit(em, &e))
            return 0;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            size_t klen = strlen(k);
            if (!emit_scalar(em, k, klen, needs_quotes(k) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE,
                             false) ||
                !emit_value(em, x))
                return 0;
        }
        return yaml_mapping_end_event_initialize(&e) && yaml_emitter_emit(em, &e);
    }
    case JSON_ARRAY: {
        if (!yaml_sequence_start_event_initialize(&e, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(em, &e))
            return 0;
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (!emit_value(em, x)) return 0;
        return yaml_sequence_end_event_initialize(&e) && yaml_emitter_emit(em, &e);
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
        if (strlen(s) != len)
            style = YAML_DOUBLE_QUOTED_SCALAR_STYLE; /* an embedded NUL: escaped */
        else if (needs_quotes(s))
            style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        else if (memchr(s, '\n', len))
            style = YAML_LITERAL_SCALAR_STYLE; /* (the emitter falls back to quotes where a block cannot hold it) */
        return emit_scalar(em, s, len, style, false);
    }
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return emit_scalar(em, num, strlen(num), YAML_PLAIN_SCALAR_STYLE, true);
    case JSON_REAL: {
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        if (!strpbrk(num, ".eEn")) /* "1" would read back as an integer */
            strcat(num, ".0");
        return emit_scalar(em, num, strlen(num), YAML_PLAIN_SCALAR_STYLE, true);
    }
    case JSON_TRUE: return emit_scalar(em, "true", 4, YAML_PLAIN_SCALAR_STYLE, true);
    case JSON_FALSE: return emit_scalar(em, "false", 5, YAML_PLAIN_SCALAR_STYLE, true);
    default: return emit_scalar(em, "null", 4, YAML_PLAIN_SCALAR_STYLE, true);
    }
}

char *sl_yaml_dump(const json_t *docs)
{
    yaml_emitter_t em;
    outbuf o = {0};
    if (!yaml_emitter_initialize(&em))
        return NULL;
    yaml_emitter_set_output(&em, write_out, &o);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1); /* no folding of long lines */
    yaml_emitter_set_indent(&em, 2);
    yaml_event_t e;
    int ok = yaml_stream_start_event_initialize(&e, YAML_UTF8_ENCODING) && yaml_emitter_emit(&em, &e);
    size_t i;
    json_t *doc;
    json_array_foreach(docs, i, doc)
    {
        if (!ok)
            break;
        ok = yaml_document_start_event_initialize(&e, NULL, NULL, NULL, 0) && yaml_emitter_emit(&em, &e) &&
             emit_value(&em, doc) && yaml_document_end_event_initialize(&e, 1) && yaml_emitter_emit(&em, &e);
    }
    ok = ok && yaml_stream_end_event_initialize(&e) && yaml_emitter_emit(&em, &e) && yaml_emitter_flush(&em);
    yaml_emitter_delete(&em);
    if (!ok || o.failed) {
        free(o.data);
        return NULL;
    }
    if (!o.data)
        o.data = strdup("");
    return o.data;
}

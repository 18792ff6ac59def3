#include "admin/admin_select.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQUIREMENTS 32
#define MAX_VALUES 16
#define MAX_TOKEN 320

typedef enum { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOT_EXISTS } sel_op;

typedef struct {
    char key[MAX_TOKEN];
    sel_op op;
    int nvalues;
    char values[MAX_VALUES][64];
} requirement;

struct sl_selector {
    bool fields; /* key is a field path rather than a label key */
    int count;
    requirement req[MAX_REQUIREMENTS];
};

typedef struct {
    const char *s;
    size_t pos;
} lexer;

static void skip_ws(lexer *lx)
{
    while (lx->s[lx->pos] == ' ' || lx->s[lx->pos] == '\t')
        lx->pos++;
}

/* Note: strchr finds the terminator too, so NUL must be excluded explicitly. */
static bool is_word_char(char c) { return c && (isalnum((unsigned char)c) || strchr("-_./", c)); }

/* Reads a key or value word into out. Returns its length (0 if none). */
static size_t read_word(lexer *lx, char *out, size_t outlen)
{
    skip_ws(lx);
    size_t n = 0;
    while (is_word_char(lx->s[lx->pos])) {
        if (n + 1 >= outlen)
            return 0;
        out[n++] = lx->s[lx->pos++];
    }
    out[n] = '\0';
    return n;
}

static bool parse_set(lexer *lx, requirement *r, char *err, size_t errlen)
{
    skip_ws(lx);
    if (lx->s[lx->pos] != '(') {
        snprintf(err, errlen, "expected '(' after 'in'/'notin' for key \"%s\"", r->key);
        return false;
    }
    lx->pos++;
    for (;;) {
        if (r->nvalues == MAX_VALUES) {
            snprintf(err, errlen, "too many values for key \"%s\"", r->key);
            return false;
        }
        if (!read_word(lx, r->values[r->nvalues], sizeof(r->values[0]))) {
            snprintf(err, errlen, "expected a value (at most %zu characters) in the set of key \"%s\"",
                     sizeof(r->values[0]) - 1, r->key);
            return false;
        }
        r->nvalues++;
        skip_ws(lx);
        char c = lx->s[lx->pos];
        if (c == ',') {
            lx->pos++;
            continue;
        }
        if (c == ')') {
            lx->pos++;
            return true;
        }
        snprintf(err, errlen, "expected ',' or ')' in the values of key \"%s\"", r->key);
        return false;
    }
}

static sl_selector *parse(const char *text, bool fields, char *err, size_t errlen)
{
    sl_selector *sel = calloc(1, sizeof(*sel));
    if (!sel) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sel->fields = fields;
    if (!text)
        return sel;
    lexer lx = {text, 0};
    skip_ws(&lx);
    if (!text[lx.pos])
        return sel;
    for (;;) {
        if (sel->count == MAX_REQUIREMENTS) {
            snprintf(err, errlen, "too many requirements (at most %d)", MAX_REQUIREMENTS);
            goto fail;
        }
        requirement *r = &sel->req[sel->count];
        skip_ws(&lx);
        bool negated = false;
        if (!fields && text[lx.pos] == '!') {
            negated = true;
            lx.pos++;
        }
        if (!read_word(&lx, r->key, sizeof(r->key))) {
            snprintf(err, errlen, "expected a key at position %zu", lx.pos);
            goto fail;
        }
        skip_ws(&lx);
        const char *rest = text + lx.pos;
        if (negated) {
            r->op = OP_NOT_EXISTS;
        } else if (strncmp(rest, "==", 2) == 0 || strncmp(rest, "!=", 2) == 0) {
            r->op = rest[0] == '!' ? OP_NE : OP_EQ;
            lx.pos += 2;
            read_word(&lx, r->values[0], sizeof(r->values[0]));
            r->nvalues = 1;
        } else if (rest[0] == '=') {
            r->op = OP_EQ;
            lx.pos++;
            read_word(&lx, r->values[0], sizeof(r->values[0]));
            r->nvalues = 1;
        } else if (!fields && strncmp(rest, "notin", 5) == 0 && !is_word_char(rest[5])) {
            r->op = OP_NOTIN;
            lx.pos += 5;
            if (!parse_set(&lx, r, err, errlen))
                goto fail;
        } else if (!fields && strncmp(rest, "in", 2) == 0 && !is_word_char(rest[2])) {
            r->op = OP_IN;
            lx.pos += 2;
            if (!parse_set(&lx, r, err, errlen))
                goto fail;
        } else if (!fields && (rest[0] == ',' || rest[0] == '\0')) {
            r->op = OP_EXISTS;
        } else {
            snprintf(err, errlen, "unexpected \"%.20s\" after key \"%s\"", rest, r->key);
            goto fail;
        }
        if (fields && strcmp(r->key, "metadata.name") != 0 && strcmp(r->key, "metadata.namespace") != 0) {
            snprintf(err, errlen, "field label not supported: %s", r->key);
            goto fail;
        }
        sel->count++;
        skip_ws(&lx);
        if (text[lx.pos] == '\0')
            return sel;
        if (text[lx.pos] != ',') {
            snprintf(err, errlen, "expected ',' at position %zu", lx.pos);
            goto fail;
        }
        lx.pos++;
    }
fail:
    free(sel);
    return NULL;
}

sl_selector *sl_label_selector_parse(const char *text, char *err, size_t errlen)
{
    return parse(text, false, err, errlen);
}

sl_selector *sl_field_selector_parse(const char *text, char *err, size_t errlen)
{
    return parse(text, true, err, errlen);
}

static const char *lookup(const sl_selector *sel, const requirement *r, const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    if (sel->fields) {
        const char *v = json_string_value(json_object_get(meta, r->key + strlen("metadata.")));
        return v ? v : "";
    }
    return json_string_value(json_object_get(json_object_get(meta, "labels"), r->key));
}

static bool in_values(const requirement *r, const char *v)
{
    for (int i = 0; i < r->nvalues; i++)
        if (strcmp(r->values[i], v) == 0)
            return true;
    return false;
}

bool sl_selector_matches(const sl_selector *sel, const json_t *obj)
{
    if (!sel)
        return true;
    for (int i = 0; i < sel->count; i++) {
        const requirement *r = &sel->req[i];
        const char *v = lookup(sel, r, obj);
        bool ok;
        switch (r->op) {
        case OP_EQ: ok = v && strcmp(v, r->values[0]) == 0; break;
        case OP_NE: ok = !v || strcmp(v, r->values[0]) != 0; break;
        case OP_IN: ok = v && in_values(r, v); break;
        case OP_NOTIN: ok = !v || !in_values(r, v); break;
        case OP_EXISTS: ok = v != NULL; break;
        case OP_NOT_EXISTS: ok = v == NULL; break;
        default: ok = false; break;
        }
        if (!ok)
            return false;
    }
    return true;
}

void sl_selector_free(sl_selector *sel) { free(sel); }

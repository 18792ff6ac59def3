/* The prompt guard's engine (aiPromptGuard, policy_ai_prompt_guard.c):
 * patterns compiled once per snapshot (PCRE2 with JIT), applied to the text of
 * a request's prompt (reject or mask), of a JSON answer and of a streamed
 * answer (mask).
 *
 * A match is masked as "<LABEL>" (the pattern's name in capitals: <EMAIL>).
 * Streams are masked event by event: each choice's text is held back until
 * HOLD bytes follow it (or the choice ends), so that a match split across
 * events is still seen whole; held text goes out, masked, in the next events
 * and at the latest with the choice's finish_reason. A match longer than HOLD
 * that starts in text already sent cannot be masked. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "common/ai.h"
#include "common/log.h"
#include "workers/ai.h"
#include "workers/conn.h"
#include "workers/policy.h"

#define HOLD 128 /* bytes of a streamed choice's text held back for matches across events */

typedef struct guard_rule {
    pcre2_code *code;
    uint8_t side; /* 0 request, SL_GUARD_RESPONSE */
    char mask[72];
} guard_rule;

typedef struct sl_ai_guard {
    pcre2_match_data *md;
    size_t n;
    guard_rule rules[];
} sl_ai_guard;

void *sl_ai_guard_prepare(const sl_snapshot *s, const sl_snap_policy *p)
{
    sl_ai_guard *g = calloc(1, sizeof(*g) + p->items.count * sizeof(guard_rule));
    if (!g || !(g->md = pcre2_match_data_create(4, NULL))) {
        free(g);
        return NULL;
    }
    for (uint32_t i = 0; i < p->items.count; i++) {
        const sl_snap_policy_item *it = SL_SNAP_GET(s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, p->items.first + i);
        int err;
        PCRE2_SIZE off;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)sl_snap_cstr(s, it->a), it->a.len,
                                         PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err, &off, NULL);
        if (!code) {
            /* The master compiled it when it was stored: only a PCRE2 of another mind gets here. */
            sl_log_error("policy", "aiPromptGuard of TrafficPolicy %s: a pattern does not compile: it is left out",
                         sl_snap_cstr(s, p->source));
            continue;
        }
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* the interpreter when JIT is not there */
        guard_rule *r = &g->rules[g->n++];
        r->code = code;
        r->side = it->flags & SL_GUARD_RESPONSE;
        snprintf(r->mask, sizeof(r->mask), "<%s>", sl_snap_cstr(s, it->b));
    }
    return g;
}

void sl_ai_guard_free(void *state)
{
    sl_ai_guard *g = state;
    for (size_t i = 0; i < g->n; i++)
        pcre2_code_free(g->rules[i].code);
    pcre2_match_data_free(g->md);
    free(g);
}

static sl_ai_guard *guard_of(const sl_conn *c)
{
    return c->guard_policy ? sl_policy_state(c, c->guard_policy) : NULL;
}

/* The first rule of `side` that matches text, or NULL. */
static const guard_rule *first_match(sl_ai_guard *g, uint8_t side, const char *text, size_t len)
{
    for (size_t i = 0; i < g->n; i++) {
        if (g->rules[i].side != side)
            continue;
        /* A match, or an error (a match or depth limit hit): a guard fails closed. */
        int rc = pcre2_match(g->rules[i].code, (PCRE2_SPTR)text, len, 0, 0, g->md, NULL);
        if (rc >= 0 || rc < PCRE2_ERROR_NOMATCH)
            return &g->rules[i];
    }
    return NULL;
}

/* text with every match of side's rules masked (malloc'd, *outlen), or NULL
 * when nothing matched (or memory ran out: the text is then left as it is). */
static char *masked(sl_ai_guard *g, uint8_t side, const char *text, size_t len, size_t *outlen)
{
    char *cur = NULL;
    size_t cur_len = len;
    for (size_t i = 0; i < g->n; i++) {
        const guard_rule *r = &g->rules[i];
        const char *in = cur ? cur : text;
        if (r->side != side || pcre2_match(r->code, (PCRE2_SPTR)in, cur_len, 0, 0, g->md, NULL) < 0)
            continue;
        uint32_t opts = PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_LITERAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH;
        PCRE2_SIZE size = cur_len + 64;
        for (int tries = 0; tries < 2; tries++) {
            char *out = malloc(size + 1);
            if (!out)
                break;
            PCRE2_SIZE n = size;
            int rc = pcre2_substitute(r->code, (PCRE2_SPTR)in, cur_len, 0, opts, g->md, NULL, (PCRE2_SPTR)r->mask,
                                      strlen(r->mask), (PCRE2_UCHAR *)out, &n);
            if (rc == PCRE2_ERROR_NOMEMORY) {
                free(out);
                size = n; /* the length needed (OVERFLOW_LENGTH) */
                continue;
            }
            if (rc < 0) {
                free(out);
                break;
            }
            free(cur);
            cur = out;
            cur_len = n;
            in = cur;
            break;
        }
    }
    *outlen = cur_len;
    return cur;
}

/* Masks a JSON string value in place; true when it changed. */
static bool mask_string(sl_ai_guard *g, uint8_t side, json_t *str)
{
    size_t n;
    char *m = masked(g, side, json_string_value(str), json_string_length(str), &n);
    if (!m)
        return false;
    bool ok = json_string_setn(str, m, n) == 0; /* a match ends on a character's boundary: valid UTF-8 */
    free(m);
    return ok;
}

/* The text of a prompt part: a string, or the "text" of content blocks. Each
 * string is checked (rule found: *hit) or masked. */
typedef struct walk {
    sl_ai_guard *g;
    bool mask;
    bool changed;
    const guard_rule *hit;
} walk;

static void walk_text(walk *w, json_t *v, int depth)
{
    if (w->hit || depth > 8)
        return;
    if (json_is_string(v)) {
        if (w->mask)
            w->changed |= mask_string(w->g, 0, v);
        else
            w->hit = first_match(w->g, 0, json_string_value(v), json_string_length(v));
        return;
    }
    size_t i;
    json_t *x;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) walk_text(w, x, depth + 1);
        return;
    }
    if (!json_is_object(v))
        return;
    /* A message ({role, content}) or a content block ({type: text, text}). */
    walk_text(w, json_object_get(v, "content"), depth + 1);
    walk_text(w, json_object_get(v, "text"), depth + 1);
}

/* The output tokens a call asks for, capped (and set when absent), in the
 * fields of its API: chat and completions max_tokens / max_completion_tokens
 * (set: max_completion_tokens for OpenAI and Azure, whose reasoning models
 * refuse max_tokens; max_tokens for the others), Messages max_tokens,
 * Responses max_output_tokens. */
static bool cap_tokens(const sl_conn *c, json_t *root, uint64_t cap)
{
    bool changed = false;
    const char *keys[2] = {NULL, NULL};
    const char *set = NULL;
    if (c->ai_flags & SL_AI_REQ_COMPLETIONS) {
        keys[0] = "max_tokens";
        keys[1] = "max_completion_tokens";
        const sl_snap_backend *be = sl_ai_backend(c);
        bool openai = be && (be->ai_provider == SL_AI_OPENAI || be->ai_provider == SL_AI_AZURE_OPENAI);
        set = openai ? "max_completion_tokens" : "max_tokens";
    } else if (c->ai_flags & SL_AI_REQ_MESSAGES) {
        keys[0] = set = "max_tokens";
    } else if (c->ai_flags & SL_AI_REQ_RESPONSES) {
        keys[0] = set = "max_output_tokens";
    } else {
        return false; /* embeddings and the like produce no tokens */
    }
    bool any = false;
    for (size_t i = 0; i < 2 && keys[i]; i++) {
        json_t *v = json_object_get(root, keys[i]);
        if (!v)
            continue;
        any = true;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > cap) {
            json_object_set_new(root, keys[i], json_integer((json_int_t)cap));
            changed = true;
        }
    }
    if (!any) {
        json_object_set_new(root, set, json_integer((json_int_t)cap));
        changed = true;
    }
    return changed;
}

static char *error_json(const char *message)
{
    json_t *e = json_pack("{s:{s:s, s:s, s:n, s:s}}", "error", "message", message, "type", "invalid_request_error",
                          "param", "code", "content_blocked");
    char *text = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    return text;
}

int sl_ai_guard_request(sl_conn *c, json_t *root, bool *changed, char **error)
{
    const sl_snap_policy *p = c->guard_policy;
    if (!p)
        return 0;
    if (p->num[0])
        *changed |= cap_tokens(c, root, p->num[0]);
    sl_ai_guard *g = guard_of(c);
    if (!g) {
        if (!p->items.count)
            return 0;
        *error = error_json("the prompt guard is not available (see the gateway's log)");
        return 503; /* its patterns could not be prepared: a guard fails closed */
    }
    walk w = {.g = g, .mask = p->u[0] != 0};
    static const char *const parts[] = {"messages", "system", "prompt", "input"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        walk_text(&w, json_object_get(root, parts[i]), 0);
    *changed |= w.changed;
    if (!w.hit)
        return 0;
    const sl_snapshot *s = &c->snap->s;
    char message[400];
    if (p->a.len)
        snprintf(message, sizeof(message), "%s", sl_snap_cstr(s, p->a));
    else
        snprintf(message, sizeof(message), "the request was blocked by the gateway's prompt guard (%s)", w.hit->mask);
    sl_log_debug("policy", "aiPromptGuard of TrafficPolicy %s refused a request from %s: %s", sl_snap_cstr(s, p->source),
                 c->peer, w.hit->mask);
    *error = error_json(message);
    return 403;
}

bool sl_ai_guard_reads_requests(const sl_conn *c)
{
    const sl_snap_policy *p = c->guard_policy;
    if (!p)
        return false;
    if (p->b.len)
        return true; /* the webhook is asked about every body */
    const sl_snapshot *s = &c->snap->s;
    for (uint32_t i = 0; i < p->items.count; i++)
        if (!(SL_SNAP_GET(s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, p->items.first + i)->flags & SL_GUARD_RESPONSE))
            return true;
    return p->num[0] != 0;
}

bool sl_ai_guard_masks_answers(const sl_conn *c)
{
    sl_ai_guard *g = guard_of(c);
    for (size_t i = 0; g && i < g->n; i++)
        if (g->rules[i].side == SL_GUARD_RESPONSE)
            return true;
    return false;
}

/* Masks the answer texts of a parsed answer: OpenAI's choices[].message.content
 * (and .text of completions), Anthropic's content[].text. */
static bool mask_answer(sl_ai_guard *g, json_t *root)
{
    bool changed = false;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(root, "choices"), i, x)
    {
        json_t *content = json_object_get(json_object_get(x, "message"), "content");
        if (json_is_string(content))
            changed |= mask_string(g, SL_GUARD_RESPONSE, content);
        if (json_is_string(json_object_get(x, "text")))
            changed |= mask_string(g, SL_GUARD_RESPONSE, json_object_get(x, "text"));
    }
    json_array_foreach(json_object_get(root, "content"), i, x)
    {
        if (json_is_string(json_object_get(x, "text")))
            changed |= mask_string(g, SL_GUARD_RESPONSE, json_object_get(x, "text"));
    }
    return changed;
}

char *sl_ai_guard_answer(sl_conn *c, const char *body, size_t len, bool *fail)
{
    sl_ai_guard *g = guard_of(c);
    json_t *root = g ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    *fail = !root; /* unreadable, or no guard to read it with: nothing unmasked gets out */
    char *out = root && mask_answer(g, root) ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return out;
}

/* ---- streams ---- */

/* The length of text's prefix that can go now: all but HOLD bytes (not
 * splitting a UTF-8 sequence), and not into a match that reaches past it. */
static size_t safe_prefix(sl_ai_guard *g, const char *text, size_t len)
{
    if (len <= HOLD)
        return 0;
    size_t cut = len - HOLD;
    while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
        cut--;
    for (bool moved = true; moved && cut > 0;) {
        moved = false;
        for (size_t i = 0; i < g->n; i++) {
            const guard_rule *r = &g->rules[i];
            PCRE2_SIZE from = 0;
            while (r->side == SL_GUARD_RESPONSE && from < len &&
                   pcre2_match(r->code, (PCRE2_SPTR)text, len, from, 0, g->md, NULL) >= 0) {
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(g->md);
                if (ov[0] < cut && ov[1] > cut) {
                    cut = ov[0];
                    moved = true;
                }
                if (ov[0] >= cut)
                    break;
                from = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
            }
        }
    }
    return cut;
}

/* Sets holder[key] (a choice's delta.content, or a completion's text) to
 * `text` (n bytes), masked. */
static void put_masked(sl_ai_guard *g, json_t *holder, const char *key, const char *text, size_t n)
{
    size_t mlen;
    char *m = masked(g, SL_GUARD_RESPONSE, text, n, &mlen);
    json_t *value = m ? json_stringn(m, mlen) : NULL;
    json_object_set_new(holder, key, value ? value : json_stringn(text, n));
    free(m);
}

/* Where a streamed choice carries its text: delta.content (chat), text
 * (completions); *key set. NULL when it carries none. */
static json_t *text_holder(json_t *choice, const char **key)
{
    json_t *delta = json_object_get(choice, "delta");
    if (json_is_string(json_object_get(delta, "content"))) {
        *key = "content";
        return delta;
    }
    if (json_is_string(json_object_get(choice, "text"))) {
        *key = "text";
        return choice;
    }
    return NULL;
}

/* Anthropic's own stream (a /messages call passed through): each text delta
 * is masked as it comes (its events are not held back). */
static bool mask_anthropic_event(sl_ai_guard *g, json_t *root)
{
    const char *type = json_string_value(json_object_get(root, "type"));
    if (!type || strcmp(type, "content_block_delta") != 0)
        return false;
    json_t *text = json_object_get(json_object_get(root, "delta"), "text");
    return json_is_string(text) && mask_string(g, SL_GUARD_RESPONSE, text);
}

char *sl_ai_guard_chunk(sl_conn *c, sl_ai_guard_stream *gs, const char *data, size_t len, bool *drop)
{
    *drop = false;
    sl_ai_guard *g = guard_of(c);
    if (!g) {
        *drop = true; /* its patterns could not be prepared: nothing unmasked gets out */
        return NULL;
    }
    json_t *root = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        *drop = true; /* not JSON: it cannot be read, so it is not passed on */
        return NULL;
    }
    json_t *choices = json_object_get(root, "choices");
    if (!json_is_array(choices)) {
        char *out = mask_anthropic_event(g, root) ? json_dumps(root, JSON_COMPACT) : NULL;
        json_decref(root);
        return out;
    }
    if (!gs->skeleton) {
        gs->skeleton = json_deep_copy(root);
        json_object_set_new(gs->skeleton, "choices", json_array());
        json_object_del(gs->skeleton, "usage");
    }
    size_t i;
    json_t *choice;
    json_array_foreach(choices, i, choice)
    {
        const char *key = NULL;
        json_t *holder = text_holder(choice, &key);
        if (holder && key[0] == 't')
            gs->completions = true;
        json_int_t index = json_integer_value(json_object_get(choice, "index"));
        if (index < 0 || index >= SL_AI_GUARD_CHOICES) {
            /* Beyond the choices held back: masked event by event. */
            if (holder)
                mask_string(g, SL_GUARD_RESPONSE, json_object_get(holder, key));
            continue;
        }
        sl_dbuf *held = &gs->held[index];
        const json_t *piece = holder ? json_object_get(holder, key) : NULL;
        if (piece && !sl_dbuf_append(held, json_string_value(piece), json_string_length(piece))) {
            json_decref(root);
            *drop = true;
            return NULL;
        }
        const json_t *finish = json_object_get(choice, "finish_reason");
        bool ends = finish && !json_is_null(finish);
        const char *text = held->data + held->start;
        size_t n = ends ? sl_dbuf_len(held) : safe_prefix(g, text, sl_dbuf_len(held));
        if (n && !holder) {
            /* The choice ends with text still held: it goes in this chunk. */
            if (gs->completions) {
                holder = choice;
                key = "text";
            } else {
                holder = json_object_get(choice, "delta");
                if (!json_is_object(holder)) {
                    holder = json_object();
                    json_object_set_new(choice, "delta", holder);
                }
                key = "content";
            }
        }
        if (holder)
            put_masked(g, holder, key, text, n);
        sl_dbuf_consume(held, n);
    }
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}

char *sl_ai_guard_stream_end(sl_conn *c, sl_ai_guard_stream *gs)
{
    sl_ai_guard *g = guard_of(c);
    if (!g || !gs->skeleton)
        return NULL;
    json_t *chunk = json_deep_copy(gs->skeleton);
    json_t *choices = json_object_get(chunk, "choices");
    for (int i = 0; i < SL_AI_GUARD_CHOICES; i++) {
        sl_dbuf *held = &gs->held[i];
        if (!sl_dbuf_len(held))
            continue;
        json_t *choice = json_pack("{s:i, s:{}, s:n}", "index", i, "delta", "finish_reason");
        json_t *holder = gs->completions ? choice : json_object_get(choice, "delta");
        put_masked(g, holder, gs->completions ? "text" : "content", held->data + held->start, sl_dbuf_len(held));
        sl_dbuf_consume(held, sl_dbuf_len(held));
        json_array_append_new(choices, choice);
    }
    char *out = json_array_size(choices) ? json_dumps(chunk, JSON_COMPACT) : NULL;
    json_decref(chunk);
    return out;
}

void sl_ai_guard_stream_free(sl_ai_guard_stream *gs)
{
    for (int i = 0; i < SL_AI_GUARD_CHOICES; i++)
        sl_dbuf_free(&gs->held[i]);
    json_decref(gs->skeleton);
    gs->skeleton = NULL;
}

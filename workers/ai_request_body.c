/* Request bodies of AI routes (workers/ai.h), rewritten once whole: the
 * Backend's ai.model replaces the client's model, and an OpenAI-shaped chat
 * stream is made to end with its usage (stream_options.include_usage), so
 * that streamed answers are counted too. When the client had not asked for
 * that usage chunk itself, the response hook keeps it from the client (it gets
 * the stream it asked for). A body that needs no change goes as it came,
 * byte for byte. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ai.h"
#include "common/ai_translate.h"
#include "workers/ai.h"
#include "workers/conn.h"

static bool ends_with(sl_slice s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s.len >= n && memcmp(s.ptr + s.len - n, suffix, n) == 0;
}

uint16_t sl_ai_request_kind(const sl_http1_request *req, const sl_snap_backend *be)
{
    uint16_t flags = 0;
    if (ends_with(req->path, "/messages"))
        flags |= SL_AI_REQ_MESSAGES;
    else if (ends_with(req->path, "/responses"))
        flags |= SL_AI_REQ_RESPONSES;
    if (ends_with(req->path, "/chat/completions"))
        flags |= SL_AI_REQ_CHAT | SL_AI_REQ_COMPLETIONS;
    else if (ends_with(req->path, "/completions"))
        flags |= SL_AI_REQ_COMPLETIONS;
    if (req->meth == SL_HTTP1_METHOD_GET && ends_with(req->path, "/models"))
        flags |= SL_AI_REQ_LIST;
    const sl_ai_dialect *dialect = sl_ai_dialect_for(be->ai_provider);
    if ((flags & SL_AI_REQ_CHAT) && dialect)
        flags |= SL_AI_REQ_TRANSLATE;
    if (req->meth == SL_HTTP1_METHOD_POST && ends_with(req->path, "/embeddings")) {
        flags |= SL_AI_REQ_EMBEDDINGS;
        /* (Vertex AI embeds through its own :predict, not Gemini's batchEmbedContents: passed as sent.) */
        if (dialect && dialect->embeddings_request && be->ai_provider != SL_AI_VERTEXAI)
            flags |= SL_AI_REQ_TRANSLATE;
    }
    /* (Vertex AI's publisher model list is not Gemini's: it passes as it is.) */
    if (dialect && dialect->models && be->ai_provider != SL_AI_VERTEXAI && req->meth == SL_HTTP1_METHOD_GET &&
        ends_with(req->path, "/models"))
        flags |= SL_AI_REQ_MODELS | SL_AI_REQ_TRANSLATE;
    return flags;
}

bool sl_ai_rewrites_body(const sl_snap_backend *be, uint16_t flags, const sl_http1_request *req)
{
    if (flags & (SL_AI_REQ_COMPLETIONS | SL_AI_REQ_TRANSLATE))
        return true; /* streams are asked for their usage; chat calls and embeddings may be translated */
    if (be->ai_aws_key_id.len)
        return true; /* SigV4 signs the body's hash: every body is read whole first */
    if (!be->ai_model.len && !be->ai_aliases.len)
        return false; /* nothing to change: uploads, audio, files... stream through as they come */
    return sl_ai_json_body(req);
}

bool sl_ai_json_body(const sl_http1_request *req)
{
    const sl_http1_header *type = sl_http1_request_header(req, "content-type");
    if (!type)
        return true; /* FastAPI-based servers (vLLM...) read a body without a type as JSON */
    if (sl_media_type_is(type->value, "application/json"))
        return true;
    /* application/<anything>+json */
    sl_slice v = type->value;
    size_t end = 0;
    while (end < v.len && v.ptr[end] != ';' && v.ptr[end] != ' ' && v.ptr[end] != '\t')
        end++;
    return end > 17 && sl_slice_ieq(sl_slice_make(v.ptr, 12), sl_slice_make("application/", 12)) &&
           sl_slice_ieq(sl_slice_make(v.ptr + end - 5, 5), sl_slice_make("+json", 5));
}

/* The bytes of text in what a prompt is made of (the strings under messages,
 * input, prompt, system and tools), for a token estimate before the provider
 * counts: JSON's own punctuation and the other members are no prompt. */
static uint64_t text_bytes(const json_t *v, int depth)
{
    if (json_is_string(v))
        return json_string_length(v);
    uint64_t n = 0;
    if (depth > 32)
        return 0; /* a nesting no prompt has (jansson allows 2048) */
    if (json_is_array(v)) {
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x) n += text_bytes(x, depth + 1);
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k, x) n += text_bytes(x, depth + 1);
    }
    return n;
}

static uint64_t prompt_text_bytes(const json_t *root)
{
    static const char *const parts[] = {"messages", "input", "prompt", "system", "tools"};
    uint64_t n = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        n += text_bytes(json_object_get(root, parts[i]), 0);
    return n;
}

/* OpenAI's error shape for a request the gateway refuses (malloc'd). */
static char *error_json(const char *message)
{
    return sl_ai_error_text(message, "invalid_request_error", NULL);
}

/* The body that goes upstream: doc (consumed) as compact JSON into out. 0, or
 * 503 when memory runs out. */
static int serialise(json_t *doc, sl_dbuf *out)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    bool ok = text && sl_dbuf_append(out, text, strlen(text));
    free(text);
    return ok ? 0 : 503;
}

/* A chat call to a provider of another dialect: the OpenAI body (model
 * already set) in the provider's form; the target, when it names the model,
 * in c->ai_path. */
static int translate(sl_conn *c, const sl_snap_backend *be, json_t *root, sl_dbuf *out, char **error)
{
    const sl_ai_dialect *dialect = sl_ai_dialect_for(be->ai_provider);
    const json_t *options = json_object_get(root, "stream_options");
    if (json_is_true(json_object_get(options, "include_usage")))
        c->ai_flags |= SL_AI_REQ_CLIENT_USAGE;
    bool stream = json_is_true(json_object_get(root, "stream"));
    if (stream)
        c->ai_flags |= SL_AI_REQ_STREAM;
    char why[256] = "";
    bool embeddings = (c->ai_flags & SL_AI_REQ_EMBEDDINGS) != 0;
    const char *format = json_string_value(json_object_get(root, "encoding_format"));
    if (embeddings && format && strcmp(format, "base64") == 0)
        c->ai_flags |= SL_AI_REQ_BASE64;
    json_t *msg = !dialect    ? NULL
                  : embeddings ? dialect->embeddings_request(root, why, sizeof(why))
                               : dialect->request(root, why, sizeof(why));
    if (!msg) {
        *error = error_json(dialect ? why : "this provider speaks no translated dialect");
        return 400;
    }
    const char *model = json_string_value(json_object_get(root, "model")); /* the dialect checked it */
    c->ai_model = strdup(model);
    if (embeddings || dialect->chat_path) {
        char path[1024];
        const char *base = sl_snap_cstr(&c->snap->s, be->ai_base_path);
        if (embeddings ? !dialect->embeddings_path(path, sizeof(path), base, model)
                       : !dialect->chat_path(path, sizeof(path), base, model, stream)) {
            json_decref(msg);
            *error = error_json("model: this name cannot be sent in the provider's path (too long, empty, or a dot segment)");
            return 400;
        }
        c->ai_path = strdup(path);
    }
    if (!c->ai_model || ((embeddings || dialect->chat_path) && !c->ai_path)) {
        json_decref(msg);
        return 503;
    }
    return serialise(msg, out);
}

/* Whether the parsed body changed: model and usage. */
/* The model an alias stands for in ai.modelAliases' compiled list ("alias\tmodel\n"
 * lines), or an empty slice. */
static sl_slice alias_of(sl_slice list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list.ptr, *end = list.ptr + list.len;
    while (p < end) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *nl = tab ? memchr(tab, '\n', (size_t)(end - tab)) : NULL;
        if (!nl)
            break;
        if ((size_t)(tab - p) == n && memcmp(p, name, n) == 0)
            return sl_slice_make(tab + 1, (size_t)(nl - tab - 1));
        p = nl + 1;
    }
    return sl_slice_make("", 0);
}

/* The model the provider will be asked for (ai.model, an alias's model, or
 * the body's), for pricing a prompt before it is sent. */
static void priced_model(const sl_conn *c, const sl_snap_backend *be, const json_t *root, char *out, size_t cap)
{
    const sl_snapshot *s = &c->snap->s;
    const char *had = json_string_value(json_object_get(root, "model"));
    sl_slice model = {0};
    if (be->ai_model.len)
        model = sl_slice_make(sl_snap_cstr(s, be->ai_model), be->ai_model.len);
    else if (be->ai_aliases.len && had)
        model = alias_of(sl_slice_make(sl_snap_cstr(s, be->ai_aliases), be->ai_aliases.len), had);
    if (!model.len && had)
        model = sl_slice_from_cstr(had);
    snprintf(out, cap, "%.*s", (int)(model.len < cap ? model.len : cap - 1), model.ptr ? model.ptr : "");
}

static bool rewrite(sl_conn *c, const sl_snap_backend *be, json_t *root)
{
    bool changed = false;
    const sl_snapshot *s = &c->snap->s;
    const char *had = json_string_value(json_object_get(root, "model"));
    sl_slice model = {0};
    const sl_ai_dialect *dialect = sl_ai_dialect_for(be->ai_provider);
    if (dialect && dialect->chat_path && !(c->ai_flags & SL_AI_REQ_TRANSLATE))
        return false; /* Gemini's and Bedrock's own calls name the model in their path, not their body */
    if (be->ai_model.len)
        model = sl_slice_make(sl_snap_cstr(s, be->ai_model), be->ai_model.len);
    else if (be->ai_aliases.len && had)
        model = alias_of(sl_slice_make(sl_snap_cstr(s, be->ai_aliases), be->ai_aliases.len), had);
    if (model.len && (!had || strlen(had) != model.len || memcmp(had, model.ptr, model.len) != 0)) {
        json_object_set_new(root, "model", json_stringn(model.ptr, model.len));
        changed = true;
    }
    if (sl_ai_dialect_for(be->ai_provider) || !(c->ai_flags & SL_AI_REQ_COMPLETIONS) ||
        !json_is_true(json_object_get(root, "stream")))
        return changed;
    c->ai_flags |= SL_AI_REQ_STREAM;
    json_t *options = json_object_get(root, "stream_options");
    if (json_is_true(json_object_get(options, "include_usage")))
        return changed; /* the client asked for it: it gets it */
    if (!json_is_object(options)) {
        options = json_object();
        json_object_set_new(root, "stream_options", options);
    }
    json_object_set_new(options, "include_usage", json_true());
    c->ai_flags |= SL_AI_REQ_USAGE_ADDED;
    return true;
}

int sl_ai_request_body(sl_conn *c, sl_dbuf *in, sl_dbuf *out, char **error)
{
    const sl_snap_backend *be = sl_ai_backend(c);
    /* What a translation for another Backend of a failover chain chose goes. */
    free(c->ai_path);
    free(c->ai_model);
    c->ai_path = c->ai_model = NULL;
    /* Parsed as strictly as any provider would read it: a body that the
     * gateway reads one way and a provider another (a duplicate "model", a
     * NUL, a number too big to keep) would slip past ai.model and counting. */
    json_t *root = be ? json_loadb(in->data + in->start, sl_dbuf_len(in), JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES,
                                   NULL)
                      : NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        *error = error_json("the request body must be a JSON object without duplicate members or numbers beyond "
                            "64 bits (the gateway rewrites this request: ai.model, usage, translation)");
        return 400;
    }
    bool guarded = false;
    int refused = sl_ai_guard_request(c, root, &guarded, error);
    if (refused) {
        json_decref(root);
        return refused;
    }
    uint64_t prompt_bytes = prompt_text_bytes(root);
    char model[257];
    priced_model(c, be, root, model, sizeof(model));
    if (!sl_ai_budget_fit(c, prompt_bytes, model)) {
        json_decref(root);
        c->budget.refused = true;
        return 429; /* answered by sl_ai_budget_refuse (proxy.c) */
    }
    if (!sl_ai_tokens_fit(c, prompt_bytes)) {
        json_decref(root);
        return 429; /* answered by sl_ai_tokens_refuse (proxy.c) */
    }
    if (c->ai_flags & SL_AI_REQ_TRANSLATE) {
        rewrite(c, be, root); /* ai.model */
        int status = translate(c, be, root, out, error);
        json_decref(root);
        return status;
    }
    if (!rewrite(c, be, root) && !guarded) {
        json_decref(root);
        *out = *in; /* as it came */
        *in = (sl_dbuf){0};
        return 0;
    }
    return serialise(root, out);
}

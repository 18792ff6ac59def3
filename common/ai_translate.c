/* The dialect registry and what the dialects share: see ai_translate.h. */
#include "common/ai_translate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ai.h"

const sl_ai_dialect *sl_ai_dialect_for(unsigned provider)
{
    switch (provider) {
    case SL_AI_ANTHROPIC: return &sl_ai_dialect_anthropic;
    case SL_AI_GEMINI:
    case SL_AI_VERTEXAI: return &sl_ai_dialect_gemini; /* Vertex AI serves Gemini's API under its own path */
    case SL_AI_BEDROCK: return &sl_ai_dialect_bedrock;
    default: return NULL;
    }
}

void sl_ai_utf8_whole(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--; /* continuation bytes at the end */
    if (i > 0 && ((unsigned char)s[i - 1] & 0x80)) {
        unsigned char lead = (unsigned char)s[i - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (n - (i - 1) < need)
            s[i - 1] = '\0';
    }
}

void sl_ai_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
    sl_ai_utf8_whole(dst);
}

void sl_ai_why(char *why, size_t len, const char *fmt, const char *arg)
{
    /* What the client named (a role, a part's type) may be long: shortened. */
    char part[201];
    sl_ai_copy(part, sizeof(part), arg);
    snprintf(why, len, fmt, part);
    sl_ai_utf8_whole(why);
}

bool sl_ai_data_url(const char *url, char *media, size_t cap, const char **data)
{
    if (!url || strncmp(url, "data:", 5) != 0)
        return false;
    const char *semi = strchr(url, ';'), *comma = strchr(url, ',');
    if (!semi || !comma || semi > comma || strncmp(semi, ";base64,", 8) != 0)
        return false;
    size_t n = (size_t)(semi - (url + 5));
    if (n == 0 || n >= cap)
        return false;
    memcpy(media, url + 5, n);
    media[n] = '\0';
    *data = comma + 1;
    return true;
}

size_t sl_ai_put_segment(char *out, size_t cap, size_t at, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || !s[0])
        return cap; /* a dot segment would name another path */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                     *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (at + (plain ? 1 : 3) >= cap)
            return cap;
        if (plain) {
            out[at++] = (char)*p;
        } else {
            out[at++] = '%';
            out[at++] = hex[*p >> 4];
            out[at++] = hex[*p & 15];
        }
    }
    if (at >= cap)
        return cap;
    out[at] = '\0';
    return at;
}

json_t *sl_ai_usage_object(int64_t input, int64_t output, int64_t cached)
{
    input = input > 0 ? input : 0;
    output = output > 0 ? output : 0;
    json_t *u = json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)input, "completion_tokens",
                          (json_int_t)output, "total_tokens", (json_int_t)(input + output));
    if (cached > 0)
        json_object_set_new(u, "prompt_tokens_details", json_pack("{s:I}", "cached_tokens", (json_int_t)cached));
    return u;
}

int64_t sl_ai_count(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : 0;
}

json_t *sl_ai_tool_args(const json_t *call)
{
    const char *args = json_string_value(json_object_get(json_object_get(call, "function"), "arguments"));
    json_t *input = args && args[0] ? json_loads(args, JSON_DECODE_ANY, NULL) : json_object();
    if (!json_is_object(input)) {
        json_decref(input);
        return NULL;
    }
    return input;
}

bool sl_ai_tool_calls(json_t *blocks, const json_t *message,
                      json_t *(*block)(const char *id, const char *name, json_t *args), char *why, size_t whylen)
{
    size_t i;
    const json_t *call;
    json_array_foreach(json_object_get(message, "tool_calls"), i, call)
    {
        const char *id = json_string_value(json_object_get(call, "id"));
        const char *name = json_string_value(json_object_get(json_object_get(call, "function"), "name"));
        json_t *args = sl_ai_tool_args(call);
        if (!id || !name || !args) {
            json_decref(args);
            sl_ai_why(why, whylen, "%s", "messages: a tool call needs an id, a function name and arguments that are a "
                                         "JSON object");
            return false;
        }
        json_array_append_new(blocks, block(id, name, args));
    }
    return true;
}

json_t *sl_ai_tools(const json_t *chat, json_t *(*decl)(const char *name, const json_t *fn), char *why, size_t whylen)
{
    json_t *list = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(chat, "tools"), i, t)
    {
        const json_t *fn = json_object_get(t, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!name) {
            json_decref(list);
            sl_ai_why(why, whylen, "%s", "tools: each tool needs function.name");
            return NULL;
        }
        json_array_append_new(list, decl(name, fn));
    }
    return list;
}

char *sl_ai_content_text(const json_t *content)
{
    if (json_is_string(content))
        return strdup(json_string_value(content));
    size_t total = 1, i;
    const json_t *part;
    json_array_foreach(content, i, part) total += json_string_length(json_object_get(part, "text"));
    char *text = malloc(total);
    if (!text)
        return NULL;
    size_t n = 0;
    json_array_foreach(content, i, part)
    {
        const json_t *t = json_object_get(part, "text");
        memcpy(text + n, json_string_value(t) ? json_string_value(t) : "", json_string_length(t));
        n += json_string_length(t);
    }
    text[n] = '\0';
    return text;
}

json_t *sl_ai_openai_error(const char *message, const char *type, const char *code)
{
    return json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", message, "type", type, "param", "code", code);
}

char *sl_ai_error_text(const char *message, const char *type, const char *code)
{
    json_t *e = sl_ai_openai_error(message, type, code);
    char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    return text;
}

const char *sl_ai_error_type(int status)
{
    switch (status) {
    case 400: case 404: case 413: case 422: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    default: return "api_error";
    }
}

int64_t sl_ai_max_tokens(const json_t *chat)
{
    const json_t *max = json_object_get(chat, "max_completion_tokens");
    if (!json_is_integer(max))
        max = json_object_get(chat, "max_tokens");
    return json_is_integer(max) && json_integer_value(max) > 0 ? (int64_t)json_integer_value(max) : 0;
}

bool sl_ai_build_turns(const sl_ai_turns *spec, const json_t *messages, json_t *system, json_t *turns, char *why,
                       size_t whylen)
{
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        sl_ai_why(why, whylen, "%s", "messages: a non-empty array is required");
        return false;
    }
    for (size_t i = 0; i < json_array_size(messages); i++) {
        const json_t *m = json_array_get(messages, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)) {
            if (!spec->system_blocks(system, json_object_get(m, "content"), why, whylen))
                return false;
            continue;
        }
        const char *as = !role                                                    ? NULL
                         : strcmp(role, "assistant") == 0                         ? spec->assistant_role
                         : strcmp(role, "user") == 0 || strcmp(role, "tool") == 0 ? "user"
                                                                                  : NULL;
        if (!as) {
            char fmt[96];
            snprintf(fmt, sizeof(fmt), "messages: role %%s cannot be sent to %s", spec->provider);
            sl_ai_why(why, whylen, fmt, role ? role : "(none)");
            return false;
        }
        json_t *blocks = json_array();
        json_array_append_new(turns, json_pack("{s:s, s:o}", "role", as, spec->blocks_key, blocks));
        if (!spec->message_blocks(blocks, messages, i, why, whylen))
            return false;
    }
    sl_ai_compact_turns(turns, spec->blocks_key);
    return true;
}

bool sl_ai_model_path(char *out, size_t cap, const char *base, const char *middle, const char *model,
                      const char *suffix)
{
    int n = snprintf(out, cap, "%s%s", base, middle);
    if (n < 0 || (size_t)n >= cap)
        return false;
    size_t at = sl_ai_put_segment(out, cap, (size_t)n, model);
    int m = at < cap ? snprintf(out + at, cap - at, "%s", suffix) : -1;
    return m >= 0 && at + (size_t)m < cap;
}

void sl_ai_compact_turns(json_t *turns, const char *blocks_key)
{
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(turns, i, t)
    {
        json_t *blocks = json_object_get(t, blocks_key);
        if (json_array_size(blocks) == 0)
            continue; /* providers refuse empty turns (an assistant message with neither text nor calls) */
        json_t *last = json_array_get(out, json_array_size(out) - 1);
        const char *role = json_string_value(json_object_get(t, "role"));
        const char *last_role = json_string_value(json_object_get(last, "role"));
        if (last && role && last_role && strcmp(role, last_role) == 0)
            json_array_extend(json_object_get(last, blocks_key), blocks);
        else
            json_array_append(out, t);
    }
    json_array_clear(turns);
    json_array_extend(turns, out);
    json_decref(out);
}

const char *sl_ai_tool_name(const json_t *messages, size_t before, const char *tool_call_id)
{
    for (size_t i = before; i-- > 0;) {
        size_t k;
        const json_t *call;
        json_array_foreach(json_object_get(json_array_get(messages, i), "tool_calls"), k, call)
        {
            const char *id = json_string_value(json_object_get(call, "id"));
            if (id && tool_call_id && strcmp(id, tool_call_id) == 0)
                return json_string_value(json_object_get(json_object_get(call, "function"), "name"));
        }
    }
    return NULL;
}

json_t *sl_ai_embedding_base64(const json_t *values)
{
    size_t n = json_array_size(values);
    unsigned char *raw = malloc(n * 4 + 1);
    char *text = malloc((n * 4 + 2) / 3 * 4 + 1);
    json_t *out = NULL;
    if (raw && text) {
        for (size_t i = 0; i < n; i++) {
            float f = (float)json_number_value(json_array_get(values, i));
            uint32_t u;
            memcpy(&u, &f, 4);
            raw[4 * i] = (unsigned char)u;
            raw[4 * i + 1] = (unsigned char)(u >> 8);
            raw[4 * i + 2] = (unsigned char)(u >> 16);
            raw[4 * i + 3] = (unsigned char)(u >> 24);
        }
        static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t len = n * 4, k = 0;
        for (size_t i = 0; i < len; i += 3) {
            uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < len ? (uint32_t)raw[i + 1] << 8 : 0) |
                         (i + 2 < len ? raw[i + 2] : 0);
            text[k++] = b64[v >> 18 & 63];
            text[k++] = b64[v >> 12 & 63];
            text[k++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
            text[k++] = i + 2 < len ? b64[v & 63] : '=';
        }
        text[k] = '\0';
        out = json_string(text);
    }
    free(raw);
    free(text);
    return out ? out : json_string("");
}

void sl_ai_stream_init(sl_ai_stream *s, int64_t created, bool include_usage, const char *model)
{
    memset(s, 0, sizeof(*s));
    s->created = created;
    s->include_usage = include_usage;
    s->input_tokens = s->output_tokens = s->cached_tokens = -1;
    snprintf(s->id, sizeof(s->id), "chatcmpl-sluice-%lld", (long long)created);
    sl_ai_copy(s->model, sizeof(s->model), model);
    for (size_t i = 0; i < SL_AI_STREAM_BLOCKS; i++)
        s->block_tool[i] = -1;
}

static bool emit_json(json_t *doc, sl_ai_emit_fn emit, void *arg)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    bool ok = text && emit(text, arg);
    free(text);
    return ok;
}

bool sl_ai_stream_chunk(sl_ai_stream *s, json_t *delta, const char *finish, sl_ai_emit_fn emit, void *arg)
{
    json_t *chunk = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s?, s:n}]}", "id", s->id, "object",
                              "chat.completion.chunk", "created", (json_int_t)s->created, "model", s->model,
                              "choices", "index", 0, "delta", delta, "finish_reason", finish, "logprobs");
    if (s->include_usage)
        json_object_set_new(chunk, "usage", json_null());
    return emit_json(chunk, emit, arg);
}

bool sl_ai_stream_start(sl_ai_stream *s, sl_ai_emit_fn emit, void *arg)
{
    if (s->started)
        return true;
    s->started = true;
    return sl_ai_stream_chunk(s, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, emit, arg);
}

bool sl_ai_stream_end(sl_ai_stream *s, sl_ai_emit_fn emit, void *arg)
{
    if (s->done)
        return true;
    s->done = true;
    if (s->include_usage) {
        json_t *chunk = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", s->id, "object", "chat.completion.chunk",
                                  "created", (json_int_t)s->created, "model", s->model, "choices", "usage",
                                  sl_ai_usage_object(s->input_tokens, s->output_tokens, s->cached_tokens));
        if (!emit_json(chunk, emit, arg))
            return false;
    }
    return emit("[DONE]", arg);
}

bool sl_ai_stream_cut(sl_ai_stream *s, sl_ai_emit_fn emit, void *arg)
{
    if (s->done)
        return true;
    return sl_ai_stream_error(
        s, sl_ai_openai_error("the provider's stream ended before its end", "api_error", "stream_cut_short"), emit,
        arg);
}

bool sl_ai_stream_error(sl_ai_stream *s, json_t *error, sl_ai_emit_fn emit, void *arg)
{
    s->done = true;
    return emit_json(error, emit, arg) && emit("[DONE]", arg);
}

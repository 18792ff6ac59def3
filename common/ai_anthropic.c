/* OpenAI Chat Completions <-> Anthropic Messages (the dialect of
 * common/ai_translate.h). Written from both providers' API references:
 *   request   messages (system/developer into `system`; text and image parts;
 *             assistant tool_calls into tool_use blocks; tool messages into
 *             tool_result blocks), max_tokens (required by Anthropic),
 *             temperature, top_p, stop, tools, tool_choice, stream;
 *   response  content blocks into the message (text joined, tool_use into
 *             tool_calls), stop_reason into finish_reason, usage;
 *   stream    Anthropic's events into chat.completion.chunk objects;
 *   errors    Anthropic's error object into OpenAI's. */
#include "common/ai_translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Anthropic requires max_tokens; OpenAI clients often leave it out. */
#define DEFAULT_MAX_TOKENS 4096

/* An OpenAI image_url part as an Anthropic image block: data URLs become
 * base64 sources, other URLs url sources. NULL when the data URL is malformed. */
static json_t *image_block(const json_t *part)
{
    const char *url = json_string_value(json_object_get(json_object_get(part, "image_url"), "url"));
    if (!url)
        return NULL;
    if (strncmp(url, "data:", 5) != 0)
        return json_pack("{s:s, s:{s:s, s:s}}", "type", "image", "source", "type", "url", "url", url);
    char media[64];
    const char *data;
    if (!sl_ai_data_url(url, media, sizeof(media), &data))
        return NULL;
    return json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "image", "source", "type", "base64", "media_type", media,
                     "data", data);
}

/* An OpenAI message content (a string or an array of parts) as Anthropic
 * content blocks; NULL (why set) for a part that cannot be carried. */
static json_t *content_blocks(const json_t *content, char *why, size_t whylen)
{
    json_t *blocks = json_array();
    if (json_is_string(content)) {
        if (json_string_length(content))
            json_array_append_new(blocks, json_pack("{s:s, s:O}", "type", "text", "text", content));
        return blocks;
    }
    size_t i;
    const json_t *part;
    json_array_foreach(content, i, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *b = NULL;
        if (type && strcmp(type, "text") == 0 && json_is_string(json_object_get(part, "text")))
            b = json_pack("{s:s, s:O}", "type", "text", "text", json_object_get(part, "text"));
        else if (type && strcmp(type, "image_url") == 0)
            b = image_block(part);
        if (!b) {
            sl_ai_why(why, whylen, "messages: a content part of type %s cannot be sent to Anthropic",
                    type ? type : "(none)");
            json_decref(blocks);
            return NULL;
        }
        json_array_append_new(blocks, b);
    }
    return blocks;
}

/* The text of a system message's content (string or text parts). */
static void append_system(json_t **system, const json_t *content)
{
    json_t *blocks = json_is_string(content) ? NULL : (json_t *)content;
    if (json_is_string(content) && json_string_length(content)) {
        json_array_append_new(*system, json_pack("{s:s, s:O}", "type", "text", "text", content));
        return;
    }
    size_t i;
    const json_t *part;
    json_array_foreach(blocks, i, part) if (json_is_string(json_object_get(part, "text")))
        json_array_append_new(*system, json_pack("{s:s, s:O}", "type", "text", "text", json_object_get(part, "text")));
}

/* A tool call as a tool_use block. */
static json_t *tool_use(const char *id, const char *name, json_t *args)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id", id, "name", name, "input", args);
}

/* A tool message as a user message with a tool_result block. */
static json_t *tool_result(const json_t *m, char *why, size_t whylen)
{
    const char *id = json_string_value(json_object_get(m, "tool_call_id"));
    if (!id) {
        sl_ai_why(why, whylen, "%s", "messages: a tool message needs tool_call_id");
        return NULL;
    }
    json_t *content = content_blocks(json_object_get(m, "content"), why, whylen);
    if (!content)
        return NULL;
    return json_pack("{s:s, s:[{s:s, s:s, s:o}]}", "role", "user", "content", "type", "tool_result", "tool_use_id",
                     id, "content", content);
}

static bool add_messages(json_t *out, const json_t *messages, char *why, size_t whylen)
{
    json_t *system = json_array(), *list = json_array();
    size_t i;
    const json_t *m;
    bool ok = json_is_array(messages) && json_array_size(messages) > 0;
    if (!ok)
        sl_ai_why(why, whylen, "%s", "messages: a non-empty array is required");
    json_array_foreach(messages, i, m)
    {
        if (!ok)
            break;
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *content = json_object_get(m, "content");
        if (role && (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)) {
            append_system(&system, content);
        } else if (role && strcmp(role, "tool") == 0) {
            json_t *r = tool_result(m, why, whylen);
            ok = r != NULL;
            if (ok)
                json_array_append_new(list, r);
        } else if (role && (strcmp(role, "user") == 0 || strcmp(role, "assistant") == 0)) {
            json_t *blocks = json_is_null(content) || !content ? json_array() : content_blocks(content, why, whylen);
            ok = blocks != NULL;
            if (ok && strcmp(role, "assistant") == 0)
                ok = sl_ai_tool_calls(blocks, m, tool_use, why, whylen);
            if (ok)
                json_array_append_new(list, json_pack("{s:s, s:o}", "role", role, "content", blocks));
            else
                json_decref(blocks);
        } else {
            sl_ai_why(why, whylen, "messages: role %s cannot be sent to Anthropic", role ? role : "(none)");
            ok = false;
        }
    }
    if (ok && json_array_size(system))
        json_object_set(out, "system", system);
    if (ok)
        json_object_set(out, "messages", list);
    json_decref(system);
    json_decref(list);
    return ok;
}

/* A function tool as a Messages tool. */
static json_t *tool_decl(const char *name, const json_t *fn)
{
    json_t *schema = json_object_get(fn, "parameters");
    json_t *tool = json_pack("{s:s, s:o}", "name", name, "input_schema",
                             json_is_object(schema) ? json_incref(schema) : json_pack("{s:s}", "type", "object"));
    if (json_is_string(json_object_get(fn, "description")))
        json_object_set(tool, "description", json_object_get(fn, "description"));
    return tool;
}

static bool add_tools(json_t *out, const json_t *chat, char *why, size_t whylen)
{
    json_t *list = sl_ai_tools(chat, tool_decl, why, whylen);
    if (!list)
        return false;
    if (json_array_size(list))
        json_object_set(out, "tools", list);
    json_decref(list);
    const json_t *choice = json_object_get(chat, "tool_choice");
    const char *c = json_string_value(choice);
    if (c && strcmp(c, "auto") == 0)
        json_object_set_new(out, "tool_choice", json_pack("{s:s}", "type", "auto"));
    else if (c && strcmp(c, "required") == 0)
        json_object_set_new(out, "tool_choice", json_pack("{s:s}", "type", "any"));
    else if (c && strcmp(c, "none") == 0)
        json_object_set_new(out, "tool_choice", json_pack("{s:s}", "type", "none"));
    else if (json_is_object(choice)) {
        const char *name = json_string_value(json_object_get(json_object_get(choice, "function"), "name"));
        if (!name) {
            sl_ai_why(why, whylen, "%s", "tool_choice: function.name is required");
            return false;
        }
        json_object_set_new(out, "tool_choice", json_pack("{s:s, s:s}", "type", "tool", "name", name));
    }
    return true;
}

static json_t *request(const json_t *chat, char *why, size_t whylen)
{
    if (!json_is_object(chat)) {
        sl_ai_why(why, whylen, "%s", "the request body must be a JSON object");
        return NULL;
    }
    json_t *out = json_object();
    const json_t *model = json_object_get(chat, "model");
    if (!json_is_string(model)) {
        sl_ai_why(why, whylen, "%s", "model: a string is required");
        json_decref(out);
        return NULL;
    }
    json_object_set(out, "model", (json_t *)model);
    /* What Anthropic cannot do is refused rather than silently dropped. */
    const json_t *n = json_object_get(chat, "n");
    const char *format = json_string_value(json_object_get(json_object_get(chat, "response_format"), "type"));
    const char *refused = json_is_integer(n) && json_integer_value(n) != 1 ? "n: Anthropic gives one choice (n: 1)"
                          : format && strcmp(format, "text") != 0
                              ? "response_format: Anthropic has no JSON mode; ask for JSON in the prompt or use a tool"
                          : json_is_true(json_object_get(chat, "logprobs")) ? "logprobs: Anthropic gives none"
                                                                           : NULL;
    if (refused) {
        sl_ai_why(why, whylen, "%s", refused);
        json_decref(out);
        return NULL;
    }
    if (!add_messages(out, json_object_get(chat, "messages"), why, whylen) || !add_tools(out, chat, why, whylen)) {
        json_decref(out);
        return NULL;
    }
    if (json_is_false(json_object_get(chat, "parallel_tool_calls")) && json_object_get(out, "tools")) {
        json_t *choice = json_object_get(out, "tool_choice");
        if (!choice) {
            choice = json_pack("{s:s}", "type", "auto");
            json_object_set_new(out, "tool_choice", choice);
        }
        json_object_set_new(choice, "disable_parallel_tool_use", json_true());
    }
    const json_t *max = json_object_get(chat, "max_completion_tokens");
    if (!json_is_integer(max))
        max = json_object_get(chat, "max_tokens");
    json_object_set_new(out, "max_tokens",
                        json_integer(json_is_integer(max) && json_integer_value(max) > 0 ? json_integer_value(max)
                                                                                          : DEFAULT_MAX_TOKENS));
    static const char *const copied[] = {"temperature", "top_p", "stream"};
    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)
        if (json_object_get(chat, copied[i]))
            json_object_set(out, copied[i], json_object_get(chat, copied[i]));
    const json_t *stop = json_object_get(chat, "stop");
    if (json_is_string(stop))
        json_object_set_new(out, "stop_sequences", json_pack("[O]", stop));
    else if (json_is_array(stop) && json_array_size(stop))
        json_object_set(out, "stop_sequences", (json_t *)stop);
    const json_t *user = json_object_get(chat, "user");
    if (json_is_string(user))
        json_object_set_new(out, "metadata", json_pack("{s:O}", "user_id", user));
    return out;
}

/* Seconds since the epoch of an RFC 3339 UTC time ("2025-02-19T00:00:00Z"), 0 when unreadable. */
static int64_t epoch_of(const char *t)
{
    struct tm tm = {0};
    if (!t || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                     &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t v = timegm(&tm);
    return v < 0 ? 0 : (int64_t)v;
}

static json_t *models(const json_t *list)
{
    json_t *data = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(list, "data"), i, m)
    {
        const char *id = json_string_value(json_object_get(m, "id"));
        if (id)
            json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model", "created",
                                                  (json_int_t)epoch_of(json_string_value(
                                                      json_object_get(m, "created_at"))),
                                                  "owned_by", "anthropic"));
    }
    return json_pack("{s:s, s:o}", "object", "list", "data", data);
}

static const char *finish_reason(const char *stop_reason)
{
    if (!stop_reason)
        return NULL;
    if (strcmp(stop_reason, "max_tokens") == 0 || strcmp(stop_reason, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(stop_reason, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(stop_reason, "refusal") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}

static json_t *response(const json_t *message, const char *model, int64_t created)
{
    json_t *text = NULL, *calls = json_array();
    size_t i;
    const json_t *b;
    json_array_foreach(json_object_get(message, "content"), i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (type && strcmp(type, "text") == 0 && json_is_string(json_object_get(b, "text"))) {
            if (!text) {
                text = json_copy(json_object_get(b, "text"));
            } else {
                char *joined = NULL;
                if (asprintf(&joined, "%s%s", json_string_value(text), json_string_value(json_object_get(b, "text"))) >= 0) {
                    json_decref(text);
                    text = json_string(joined);
                    free(joined);
                }
            }
        } else if (type && strcmp(type, "tool_use") == 0) {
            const json_t *input = json_object_get(b, "input");
            char *args = input ? json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            json_array_append_new(calls, json_pack("{s:O?, s:s, s:{s:O?, s:s}}", "id", json_object_get(b, "id"),
                                                   "type", "function", "function", "name",
                                                   json_object_get(b, "name"), "arguments", args ? args : "{}"));
            free(args);
        }
    }
    json_t *msg = json_pack("{s:s, s:o}", "role", "assistant", "content", text ? text : json_null());
    if (json_array_size(calls))
        json_object_set(msg, "tool_calls", calls);
    json_decref(calls);
    const char *finish = finish_reason(json_string_value(json_object_get(message, "stop_reason")));
    const json_t *usage = json_object_get(message, "usage");
    const json_t *named = json_object_get(message, "model");
    return json_pack("{s:O?, s:s, s:I, s:s, s:[{s:i, s:o, s:s?, s:n}], s:o}", "id", json_object_get(message, "id"),
                     "object", "chat.completion", "created", (json_int_t)created, "model",
                     json_is_string(named) ? json_string_value(named) : model ? model : "", "choices", "index", 0,
                     "message", msg, "finish_reason", finish, "logprobs", "usage",
                     sl_ai_usage_object(sl_ai_count(usage, "input_tokens"), sl_ai_count(usage, "output_tokens"),
                                        sl_ai_count(usage, "cache_read_input_tokens")));
}

static json_t *error(const json_t *body, int status, const char *fallback)
{
    const json_t *err = json_object_get(body, "error");
    const char *message = json_string_value(json_object_get(err, "message"));
    const char *type = json_string_value(json_object_get(err, "type"));
    if (!type)
        type = sl_ai_error_type(status);
    return sl_ai_openai_error(message ? message : fallback, type, type);
}

static bool stream_event(sl_ai_stream *s, const char *event, size_t event_len, const char *data, size_t len,
                         sl_ai_emit_fn emit, void *arg)
{
    (void)event;
    (void)event_len; /* the data names its type too */
    if (s->done)
        return true;
    json_t *ev = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    bool ok = true;
    if (!type) {
        /* not an event of the Messages stream: nothing to say */
    } else if (strcmp(type, "message_start") == 0) {
        const json_t *m = json_object_get(ev, "message");
        sl_ai_copy(s->id, sizeof(s->id), json_string_value(json_object_get(m, "id")));
        if (json_is_string(json_object_get(m, "model")))
            sl_ai_copy(s->model, sizeof(s->model), json_string_value(json_object_get(m, "model")));
        const json_t *usage = json_object_get(m, "usage");
        s->input_tokens = sl_ai_count(usage, "input_tokens");
        s->output_tokens = sl_ai_count(usage, "output_tokens");
        s->cached_tokens = sl_ai_count(usage, "cache_read_input_tokens");
        ok = sl_ai_stream_start(s, emit, arg);
    } else if (strcmp(type, "content_block_start") == 0) {
        const json_t *b = json_object_get(ev, "content_block");
        json_int_t index = json_integer_value(json_object_get(ev, "index"));
        const char *btype = json_string_value(json_object_get(b, "type"));
        if (btype && strcmp(btype, "tool_use") == 0 && index >= 0 && index < SL_AI_STREAM_BLOCKS) {
            int t = s->tools++;
            s->block_tool[index] = t;
            ok = sl_ai_stream_chunk(s,
                                    json_pack("{s:[{s:i, s:O?, s:s, s:{s:O?, s:s}}]}", "tool_calls", "index", t, "id",
                                              json_object_get(b, "id"), "type", "function", "function", "name",
                                              json_object_get(b, "name"), "arguments", ""),
                                    NULL, emit, arg);
        }
    } else if (strcmp(type, "content_block_delta") == 0) {
        const json_t *d = json_object_get(ev, "delta");
        const char *dtype = json_string_value(json_object_get(d, "type"));
        json_int_t index = json_integer_value(json_object_get(ev, "index"));
        if (dtype && strcmp(dtype, "text_delta") == 0 && json_is_string(json_object_get(d, "text")))
            ok = sl_ai_stream_chunk(s, json_pack("{s:O}", "content", json_object_get(d, "text")), NULL, emit, arg);
        else if (dtype && strcmp(dtype, "input_json_delta") == 0 && index >= 0 && index < SL_AI_STREAM_BLOCKS &&
                 s->block_tool[index] >= 0 && json_is_string(json_object_get(d, "partial_json")))
            ok = sl_ai_stream_chunk(s,
                                    json_pack("{s:[{s:i, s:{s:O}}]}", "tool_calls", "index", s->block_tool[index],
                                              "function", "arguments", json_object_get(d, "partial_json")),
                                    NULL, emit, arg);
    } else if (strcmp(type, "message_delta") == 0) {
        const json_t *usage = json_object_get(ev, "usage");
        if (json_object_get(usage, "output_tokens"))
            s->output_tokens = sl_ai_count(usage, "output_tokens");
        if (json_object_get(usage, "input_tokens"))
            s->input_tokens = sl_ai_count(usage, "input_tokens");
        const char *finish =
            finish_reason(json_string_value(json_object_get(json_object_get(ev, "delta"), "stop_reason")));
        if (finish)
            ok = sl_ai_stream_chunk(s, json_object(), finish, emit, arg);
    } else if (strcmp(type, "message_stop") == 0) {
        ok = sl_ai_stream_end(s, emit, arg);
    } else if (strcmp(type, "error") == 0) {
        ok = sl_ai_stream_error(s, error(ev, 500, "the provider ended the stream with an error"), emit, arg);
    }
    json_decref(ev);
    return ok;
}

const sl_ai_dialect sl_ai_dialect_anthropic = {
    .name = "Anthropic",
    .request = request,
    .response = response,
    .error = error,
    .models = models,
    .stream_event = stream_event,
    .chat_suffix = "/messages",
    .stream_ends_itself = true,
};

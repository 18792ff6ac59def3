/* OpenAI Chat Completions <-> Amazon Bedrock Converse (the dialect of
 * common/ai_translate.h). Written from AWS's API reference (Bedrock Runtime:
 * Converse, ConverseStream; docs.aws.amazon.com/bedrock/latest/APIReference):
 *   request   messages into messages of content blocks (text; image with
 *             base64 bytes from data URLs; toolUse from tool_calls; toolResult
 *             from tool messages, in a user turn), system/developer into
 *             system, the sampling fields into inferenceConfig, tools and
 *             tool_choice into toolConfig; the model goes into the path
 *             (/model/{modelId}/converse, /converse-stream);
 *   response  output.message into the message, stopReason into
 *             finish_reason, usage {inputTokens, outputTokens};
 *   stream    ConverseStream's events (AWS event-stream framing, decoded by
 *             common/aws_eventstream.c): messageStart, contentBlockStart,
 *             contentBlockDelta, contentBlockStop, messageStop, metadata
 *             (usage), and exceptions;
 *   errors    {"message": ...} with the status into OpenAI's shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ai_translate.h"

/* An image data URL as an image block ({format, source: {bytes}}), or NULL. */
static json_t *image_block(const json_t *part)
{
    const char *url = json_string_value(json_object_get(json_object_get(part, "image_url"), "url"));
    char media[64];
    const char *data;
    if (!sl_ai_data_url(url, media, sizeof(media), &data))
        return NULL;
    static const char *const formats[] = {"png", "jpeg", "gif", "webp"};
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strncmp(media, "image/", 6) == 0 && strcmp(media + 6, formats[i]) == 0)
            return json_pack("{s:{s:s, s:{s:s}}}", "image", "format", formats[i], "source", "bytes", data);
    return NULL;
}

/* An OpenAI content appended to blocks; false (why set). */
static bool add_content(json_t *blocks, const json_t *content, char *why, size_t whylen)
{
    if (json_is_string(content)) {
        if (json_string_length(content))
            json_array_append_new(blocks, json_pack("{s:O}", "text", content));
        return true;
    }
    size_t i;
    const json_t *part;
    json_array_foreach(content, i, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *b = NULL;
        if (type && strcmp(type, "text") == 0 && json_is_string(json_object_get(part, "text"))) {
            if (!json_string_length(json_object_get(part, "text")))
                continue; /* Bedrock refuses blank text blocks */
            b = json_pack("{s:O}", "text", json_object_get(part, "text"));
        } else if (type && strcmp(type, "image_url") == 0) {
            b = image_block(part);
            if (!b) {
                sl_ai_why(why, whylen, "%s", "messages: an image for Bedrock must be a base64 data URL of a PNG, "
                                             "JPEG, GIF or WebP image");
                return false;
            }
        } else {
            sl_ai_why(why, whylen, "messages: a content part of type %s cannot be sent to Bedrock",
                      type ? type : "(none)");
            return false;
        }
        json_array_append_new(blocks, b);
    }
    return true;
}

/* A tool call as a toolUse block. */
static json_t *tool_use(const char *id, const char *name, json_t *args)
{
    return json_pack("{s:{s:s, s:s, s:o}}", "toolUse", "toolUseId", id, "name", name, "input", args);
}

/* The blocks one message adds; false (why set). */
static bool message_blocks(json_t *blocks, const json_t *messages, size_t i, char *why, size_t whylen)
{
    const json_t *m = json_array_get(messages, i);
    const char *role = json_string_value(json_object_get(m, "role"));
    if (strcmp(role, "tool") == 0) {
        const char *id = json_string_value(json_object_get(m, "tool_call_id"));
        if (!id) {
            sl_ai_why(why, whylen, "%s", "messages: a tool message needs tool_call_id");
            return false;
        }
        char *text = sl_ai_content_text(json_object_get(m, "content"));
        json_t *v = text ? json_loads(text, 0, NULL) : NULL;
        json_t *content = json_is_object(v) ? json_pack("[{s:O}]", "json", v)
                                            : json_pack("[{s:s}]", "text", text && text[0] ? text : " ");
        json_decref(v);
        free(text);
        json_array_append_new(blocks, json_pack("{s:{s:s, s:o}}", "toolResult", "toolUseId", id, "content", content));
        return true;
    }
    const json_t *content = json_object_get(m, "content");
    if (content && !json_is_null(content) && !add_content(blocks, content, why, whylen))
        return false;
    return sl_ai_tool_calls(blocks, m, tool_use, why, whylen);
}

static const sl_ai_turns turns = {"Bedrock", "assistant", "content", add_content, message_blocks};

/* messages into system and messages. */
static bool add_messages(json_t *out, const json_t *messages, char *why, size_t whylen)
{
    json_t *system = json_array(), *list = json_array();
    bool ok = sl_ai_build_turns(&turns, messages, system, list, why, whylen);
    if (ok && json_array_size(system))
        json_object_set(out, "system", system);
    if (ok)
        json_object_set(out, "messages", list);
    json_decref(system);
    json_decref(list);
    return ok;
}

/* Converse wants a toolConfig whenever the conversation has tool blocks: a
 * history of tool calls without the tools offered again names each one with
 * an open schema. */
static void tools_of_history(json_t *out, const json_t *chat)
{
    json_t *list = json_array(), *seen = json_object();
    size_t i, k;
    const json_t *m, *call;
    json_array_foreach(json_object_get(chat, "messages"), i, m) json_array_foreach(json_object_get(m, "tool_calls"), k,
                                                                                    call)
    {
        const char *name = json_string_value(json_object_get(json_object_get(call, "function"), "name"));
        if (name && !json_object_get(seen, name)) {
            json_object_set_new(seen, name, json_true());
            json_array_append_new(list, json_pack("{s:{s:s, s:{s:{s:s}}}}", "toolSpec", "name", name, "inputSchema",
                                                  "json", "type", "object"));
        }
    }
    if (json_array_size(list))
        json_object_set_new(out, "toolConfig", json_pack("{s:O}", "tools", list));
    json_decref(list);
    json_decref(seen);
}

/* A function tool as a toolSpec. */
static json_t *tool_decl(const char *name, const json_t *fn)
{
    const json_t *schema = json_object_get(fn, "parameters");
    json_t *spec = json_pack("{s:s, s:{s:o}}", "name", name, "inputSchema", "json",
                             json_is_object(schema) ? json_incref((json_t *)schema) : json_pack("{s:s}", "type", "object"));
    if (json_is_string(json_object_get(fn, "description")))
        json_object_set(spec, "description", json_object_get(fn, "description"));
    return json_pack("{s:o}", "toolSpec", spec);
}

static bool add_tools(json_t *out, const json_t *chat, char *why, size_t whylen)
{
    const json_t *tools = json_object_get(chat, "tools");
    const json_t *choice = json_object_get(chat, "tool_choice");
    const char *c = json_string_value(choice);
    if (!json_array_size(tools)) {
        tools_of_history(out, chat);
        return true; /* (a tool_choice without tools chooses nothing) */
    }
    if (c && strcmp(c, "none") == 0) {
        sl_ai_why(why, whylen, "%s", "tool_choice: Bedrock's Converse has no \"none\"; leave the tools out instead");
        return false;
    }
    json_t *list = sl_ai_tools(chat, tool_decl, why, whylen);
    if (!list)
        return false;
    json_t *config = json_pack("{s:o}", "tools", list);
    if (c && strcmp(c, "required") == 0)
        json_object_set_new(config, "toolChoice", json_pack("{s:{}}", "any"));
    else if (c && strcmp(c, "auto") == 0)
        json_object_set_new(config, "toolChoice", json_pack("{s:{}}", "auto"));
    else if (json_is_object(choice)) {
        const char *name = json_string_value(json_object_get(json_object_get(choice, "function"), "name"));
        if (!name) {
            json_decref(config);
            sl_ai_why(why, whylen, "%s", "tool_choice: function.name is required");
            return false;
        }
        json_object_set_new(config, "toolChoice", json_pack("{s:{s:s}}", "tool", "name", name));
    }
    json_object_set_new(out, "toolConfig", config);
    return true;
}

static json_t *request(const json_t *chat, char *why, size_t whylen)
{
    if (!json_is_object(chat)) {
        sl_ai_why(why, whylen, "%s", "the request body must be a JSON object");
        return NULL;
    }
    if (!json_is_string(json_object_get(chat, "model"))) {
        sl_ai_why(why, whylen, "%s", "model: a string is required");
        return NULL;
    }
    const json_t *n = json_object_get(chat, "n");
    const char *format = json_string_value(json_object_get(json_object_get(chat, "response_format"), "type"));
    const char *refused = json_is_number(n) && json_number_value(n) != 1 ? "n: Bedrock gives one choice (n: 1)"
                          : format && strcmp(format, "text") != 0
                              ? "response_format: Bedrock's Converse has no JSON mode; ask for JSON in the prompt or "
                                "use a tool"
                          : json_is_true(json_object_get(chat, "logprobs")) ? "logprobs: Bedrock gives none"
                                                                           : NULL;
    if (refused) {
        sl_ai_why(why, whylen, "%s", refused);
        return NULL;
    }
    json_t *out = json_object();
    if (!add_messages(out, json_object_get(chat, "messages"), why, whylen) || !add_tools(out, chat, why, whylen)) {
        json_decref(out);
        return NULL;
    }
    json_t *inference = json_object();
    int64_t max = sl_ai_max_tokens(chat);
    if (max)
        json_object_set_new(inference, "maxTokens", json_integer((json_int_t)max));
    if (json_is_number(json_object_get(chat, "temperature")))
        json_object_set(inference, "temperature", json_object_get(chat, "temperature"));
    if (json_is_number(json_object_get(chat, "top_p")))
        json_object_set(inference, "topP", json_object_get(chat, "top_p"));
    const json_t *stop = json_object_get(chat, "stop");
    if (json_is_string(stop))
        json_object_set_new(inference, "stopSequences", json_pack("[O]", stop));
    else if (json_is_array(stop) && json_array_size(stop))
        json_object_set(inference, "stopSequences", (json_t *)stop);
    if (json_object_size(inference))
        json_object_set(out, "inferenceConfig", inference);
    json_decref(inference);
    return out; /* the model and stream go into the path */
}

static const char *finish_reason(const char *stop)
{
    if (!stop)
        return NULL;
    if (strcmp(stop, "max_tokens") == 0 || strcmp(stop, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(stop, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(stop, "guardrail_intervened") == 0 || strcmp(stop, "content_filtered") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence */
}

static json_t *response(const json_t *answer, const char *model, int64_t created)
{
    const json_t *msg = json_object_get(json_object_get(answer, "output"), "message");
    size_t total = 0, i;
    const json_t *b;
    json_array_foreach(json_object_get(msg, "content"), i, b) total += json_string_length(json_object_get(b, "text"));
    char *text = malloc(total + 1);
    size_t n = 0;
    bool any = false;
    json_t *calls = json_array();
    json_array_foreach(json_object_get(msg, "content"), i, b)
    {
        const json_t *t = json_object_get(b, "text");
        const json_t *use = json_object_get(b, "toolUse");
        if (json_is_string(t) && text) {
            memcpy(text + n, json_string_value(t), json_string_length(t));
            n += json_string_length(t);
            any = true;
        } else if (json_is_object(use)) {
            const json_t *input = json_object_get(use, "input");
            char *args = json_is_object(input) ? json_dumps(input, JSON_COMPACT) : NULL;
            json_array_append_new(calls, json_pack("{s:O?, s:s, s:{s:O?, s:s}}", "id", json_object_get(use, "toolUseId"),
                                                   "type", "function", "function", "name", json_object_get(use, "name"),
                                                   "arguments", args ? args : "{}"));
            free(args);
        }
    }
    json_t *content = any ? json_stringn(text, n) : json_null();
    free(text);
    json_t *message = json_pack("{s:s, s:o}", "role", "assistant", "content", content ? content : json_null());
    if (json_array_size(calls))
        json_object_set(message, "tool_calls", calls);
    json_decref(calls);
    const json_t *usage = json_object_get(answer, "usage");
    char id[64];
    snprintf(id, sizeof(id), "chatcmpl-sluice-%lld", (long long)created);
    return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s?, s:n}], s:o}", "id", id, "object", "chat.completion",
                     "created", (json_int_t)created, "model", model ? model : "", "choices", "index", 0, "message",
                     message, "finish_reason",
                     finish_reason(json_string_value(json_object_get(answer, "stopReason"))), "logprobs", "usage",
                     sl_ai_usage_object(sl_ai_count(usage, "inputTokens"), sl_ai_count(usage, "outputTokens"),
                                        sl_ai_count(usage, "cacheReadInputTokens")));
}

static json_t *error(const json_t *body, int status, const char *fallback)
{
    const char *message = json_string_value(json_object_get(body, "message"));
    if (!message)
        message = json_string_value(json_object_get(body, "Message"));
    return sl_ai_openai_error(message ? message : fallback, sl_ai_error_type(status), NULL);
}

static bool is(const char *event, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(event, name, len) == 0;
}

/* The status an error of a ConverseStream stands for, by its exception name. */
static int exception_status(const char *event, size_t len)
{
    static const struct {
        const char *name;
        int status;
    } known[] = {{"throttlingException", 429},         {"validationException", 400},
                 {"serviceUnavailableException", 503}, {"modelTimeoutException", 504},
                 {"accessDeniedException", 403},       {"resourceNotFoundException", 404}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (is(event, len, known[i].name))
            return known[i].status;
    return 500; /* internalServerException, modelStreamErrorException, ... */
}

static bool stream_event(sl_ai_stream *s, const char *event, size_t event_len, const char *data, size_t len,
                         sl_ai_emit_fn emit, void *arg)
{
    if (s->done)
        return true;
    json_t *ev = json_loadb(data, len, 0, NULL);
    bool ok = true;
    json_int_t index = json_integer_value(json_object_get(ev, "contentBlockIndex"));
    bool indexed = index >= 0 && index < SL_AI_STREAM_BLOCKS;
    if ((event_len > 9 && memcmp(event + event_len - 9, "Exception", 9) == 0) || is(event, event_len, "error")) {
        /* An exception (throttlingException, validationException...), or an
         * error message of the framing ({code, message} from its headers). */
        const char *code = is(event, event_len, "error") ? json_string_value(json_object_get(ev, "code")) : event;
        size_t code_len = code ? strlen(code) : 0;
        json_t *err = error(ev, exception_status(code ? code : "", code_len),
                            code && code[0] ? code : "the provider ended the stream with an error");
        if (code && code[0])
            json_object_set_new(json_object_get(err, "error"), "code", json_string(code));
        ok = sl_ai_stream_error(s, err, emit, arg);
    } else if (is(event, event_len, "messageStart")) {
        ok = sl_ai_stream_start(s, emit, arg);
    } else if (is(event, event_len, "contentBlockStart")) {
        const json_t *use = json_object_get(json_object_get(ev, "start"), "toolUse");
        if (json_is_object(use) && indexed) {
            int t = s->tools++;
            s->block_tool[index] = t;
            ok = sl_ai_stream_start(s, emit, arg) &&
                 sl_ai_stream_chunk(s,
                                    json_pack("{s:[{s:i, s:O?, s:s, s:{s:O?, s:s}}]}", "tool_calls", "index", t, "id",
                                              json_object_get(use, "toolUseId"), "type", "function", "function",
                                              "name", json_object_get(use, "name"), "arguments", ""),
                                    NULL, emit, arg);
        }
    } else if (is(event, event_len, "contentBlockDelta")) {
        const json_t *d = json_object_get(ev, "delta");
        const json_t *text = json_object_get(d, "text");
        const json_t *input = json_object_get(json_object_get(d, "toolUse"), "input");
        ok = sl_ai_stream_start(s, emit, arg);
        if (ok && json_is_string(text))
            ok = sl_ai_stream_chunk(s, json_pack("{s:O}", "content", text), NULL, emit, arg);
        else if (ok && json_is_string(input) && indexed && s->block_tool[index] >= 0)
            ok = sl_ai_stream_chunk(s,
                                    json_pack("{s:[{s:i, s:{s:O}}]}", "tool_calls", "index", s->block_tool[index],
                                              "function", "arguments", input),
                                    NULL, emit, arg);
    } else if (is(event, event_len, "messageStop")) {
        const char *finish = finish_reason(json_string_value(json_object_get(ev, "stopReason")));
        ok = sl_ai_stream_start(s, emit, arg) &&
             sl_ai_stream_chunk(s, json_object(), finish ? finish : "stop", emit, arg);
    } else if (is(event, event_len, "metadata")) {
        const json_t *usage = json_object_get(ev, "usage");
        if (json_is_object(usage)) {
            s->input_tokens = sl_ai_count(usage, "inputTokens");
            s->output_tokens = sl_ai_count(usage, "outputTokens");
            s->cached_tokens = sl_ai_count(usage, "cacheReadInputTokens");
        }
        ok = sl_ai_stream_end(s, emit, arg); /* the last event of a ConverseStream */
    }
    json_decref(ev);
    return ok;
}

static bool chat_path(char *out, size_t cap, const char *base, const char *model, bool stream)
{
    return sl_ai_model_path(out, cap, base, "/model/", model, stream ? "/converse-stream" : "/converse");
}

/* Embeddings through InvokeModel, whose body is the model family's own:
 * Amazon Titan ({inputText, dimensions}: one text a call) and Cohere Embed
 * ({texts, input_type}). The model id may carry a region prefix ("us."). */
static bool family(const char *model, const char *name)
{
    const char *at = strstr(model, name);
    return at && (at == model || (at[-1] == '.' && at - model < 8));
}

static json_t *embeddings_request(const json_t *req, char *why, size_t whylen)
{
    const char *model = json_string_value(json_object_get(req, "model"));
    const json_t *input = json_object_get(req, "input");
    const json_t *dims = json_object_get(req, "dimensions");
    if (!model) {
        sl_ai_why(why, whylen, "%s", "model: a string is required");
        return NULL;
    }
    if (family(model, "amazon.titan-embed")) {
        const json_t *text = json_is_string(input) ? input
                             : json_array_size(input) == 1 && json_is_string(json_array_get(input, 0))
                                 ? json_array_get(input, 0)
                                 : NULL;
        if (!text) {
            sl_ai_why(why, whylen, "%s", "input: Amazon Titan embeds one text a call: a string");
            return NULL;
        }
        json_t *out = json_pack("{s:O}", "inputText", text);
        if (json_is_integer(dims))
            json_object_set(out, "dimensions", (json_t *)dims);
        return out;
    }
    if (family(model, "cohere.embed")) {
        json_t *texts = json_is_string(input) ? json_pack("[O]", input) : json_copy((json_t *)input);
        size_t i;
        const json_t *x;
        bool ok = json_array_size(texts) > 0 && json_array_size(texts) <= 96;
        json_array_foreach(texts, i, x) ok = ok && json_is_string(x);
        if (!ok) {
            json_decref(texts);
            sl_ai_why(why, whylen, "%s", "input: Cohere Embed takes 1 to 96 texts");
            return NULL;
        }
        return json_pack("{s:o, s:s}", "texts", texts, "input_type", "search_document");
    }
    sl_ai_why(why, whylen, "%s", "model: embeddings through Bedrock are translated for Amazon Titan Embed and "
                                 "Cohere Embed models");
    return NULL;
}

static bool embeddings_path(char *out, size_t cap, const char *base, const char *model)
{
    return sl_ai_model_path(out, cap, base, "/model/", model, "/invoke");
}

static json_t *embeddings_response(const json_t *answer, const char *model, bool base64)
{
    json_t *vectors = json_array();
    const json_t *titan = json_object_get(answer, "embedding");
    const json_t *cohere = json_object_get(answer, "embeddings");
    if (json_is_object(cohere))
        cohere = json_object_get(cohere, "float"); /* with embedding_types */
    if (json_is_array(titan))
        json_array_append(vectors, (json_t *)titan);
    else if (json_is_array(cohere))
        json_array_extend(vectors, (json_t *)cohere);
    json_t *data = json_array();
    size_t i;
    const json_t *v;
    json_array_foreach(vectors, i, v) json_array_append_new(
        data, json_pack("{s:s, s:I, s:o}", "object", "embedding", "index", (json_int_t)i, "embedding",
                        base64 ? sl_ai_embedding_base64(v) : json_incref((json_t *)v)));
    json_decref(vectors);
    json_t *out = json_pack("{s:s, s:o, s:s}", "object", "list", "data", data, "model", model ? model : "");
    const json_t *count = json_object_get(answer, "inputTextTokenCount");
    if (json_is_integer(count))
        json_object_set_new(out, "usage", json_pack("{s:O, s:O}", "prompt_tokens", count, "total_tokens", count));
    return out;
}

const sl_ai_dialect sl_ai_dialect_bedrock = {
    .name = "Bedrock",
    .request = request,
    .response = response,
    .error = error,
    .stream_event = stream_event,
    .chat_path = chat_path,
    .aws_event_stream = true,
    .stream_ends_itself = true,
    .embeddings_request = embeddings_request,
    .embeddings_path = embeddings_path,
    .embeddings_response = embeddings_response,
};

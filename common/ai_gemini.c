/* OpenAI Chat Completions <-> Gemini generateContent (the dialect of
 * common/ai_translate.h), for Google AI Studio (generativelanguage) and
 * Vertex AI, which serve the same API under different paths. Written from
 * Google's API reference (ai.google.dev/api/generate-content):
 *   request   messages into contents (role "model" for the assistant; text,
 *             inlineData for data URLs, fileData for other URLs; tool_calls
 *             into functionCall parts, tool messages into functionResponse
 *             parts named after the call they answer), system/developer into
 *             systemInstruction, tools into functionDeclarations (JSON Schema
 *             as parametersJsonSchema), tool_choice into functionCallingConfig,
 *             the sampling fields and response_format into generationConfig;
 *             the model goes into the path (models/{model}:generateContent);
 *   response  candidates into choices, finishReason into finish_reason,
 *             usageMetadata into usage;
 *   stream    streamGenerateContent?alt=sse: each event is a partial response;
 *             the stream has no end event (the body's end is it);
 *   errors    {"error": {code, message, status}} into OpenAI's shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/ai_translate.h"

/* Tool call ids the gateway made up (Gemini gave none): not sent back. */
#define MADE_UP_ID "sluice-call-"
/* A function call's thoughtSignature rides in its OpenAI id after this mark:
 * Gemini 3 wants it back, unchanged, with the call in the conversation's
 * history (ai.google.dev/gemini-api/docs/thought-signatures), and an OpenAI
 * client keeps nothing of a call but its id, name and arguments. */
#define SIGNATURE_MARK "~ts~"

/* A tool call id as Gemini knows it: the id (or NULL when the gateway made
 * it up) into id, and its thoughtSignature (or NULL). malloc'd id. */
static char *gemini_id(const char *openai_id, const char **signature)
{
    const char *mark = strstr(openai_id, SIGNATURE_MARK);
    *signature = mark ? mark + strlen(SIGNATURE_MARK) : NULL;
    size_t n = mark ? (size_t)(mark - openai_id) : strlen(openai_id);
    if (strncmp(openai_id, MADE_UP_ID, strlen(MADE_UP_ID)) == 0)
        return NULL;
    return strndup(openai_id, n);
}

/* The media type of an image URL from its extension, or NULL. */
static const char *image_type(const char *url)
{
    static const char *const types[][2] = {{".png", "image/png"},   {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
                                           {".webp", "image/webp"}, {".gif", "image/gif"},  {".heic", "image/heic"}};
    const char *end = url + strcspn(url, "?#");
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t n = strlen(types[i][0]);
        if ((size_t)(end - url) > n && strncasecmp(end - n, types[i][0], n) == 0)
            return types[i][1];
    }
    return NULL;
}

/* One OpenAI content part as a Gemini part, or NULL (why set). */
static json_t *part_of(const json_t *part, char *why, size_t whylen)
{
    const char *type = json_string_value(json_object_get(part, "type"));
    if (type && strcmp(type, "text") == 0 && json_is_string(json_object_get(part, "text")))
        return json_pack("{s:O}", "text", json_object_get(part, "text"));
    if (type && strcmp(type, "image_url") == 0) {
        const char *url = json_string_value(json_object_get(json_object_get(part, "image_url"), "url"));
        char media[64];
        const char *data;
        if (url && sl_ai_data_url(url, media, sizeof(media), &data))
            return json_pack("{s:{s:s, s:s}}", "inlineData", "mimeType", media, "data", data);
        const char *mime = url && strncmp(url, "data:", 5) != 0 ? image_type(url) : NULL;
        if (mime)
            return json_pack("{s:{s:s, s:s}}", "fileData", "mimeType", mime, "fileUri", url);
        sl_ai_why(why, whylen, "%s", "messages: an image for Gemini must be a base64 data URL, or a URL ending in "
                                     ".png, .jpg, .jpeg, .webp, .gif or .heic");
        return NULL;
    }
    sl_ai_why(why, whylen, "messages: a content part of type %s cannot be sent to Gemini", type ? type : "(none)");
    return NULL;
}

/* An OpenAI content (string or parts) appended to parts; false (why set). */
static bool add_content(json_t *parts, const json_t *content, char *why, size_t whylen)
{
    if (json_is_string(content)) {
        if (json_string_length(content))
            json_array_append_new(parts, json_pack("{s:O}", "text", content));
        return true;
    }
    size_t i;
    const json_t *p;
    json_array_foreach(content, i, p)
    {
        json_t *g = part_of(p, why, whylen);
        if (!g)
            return false;
        json_array_append_new(parts, g);
    }
    return true;
}

/* A tool message's content as a functionResponse's response: a JSON object
 * as it is, anything else as {"content": text}. */
static json_t *tool_response(const json_t *content)
{
    char *text = sl_ai_content_text(content);
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(v)) {
        json_decref(v);
        v = json_pack("{s:s}", "content", text ? text : "");
    }
    free(text);
    return v;
}

/* A tool call as a functionCall part (its thoughtSignature, carried in the id, back on it). */
static json_t *function_call(const char *id, const char *name, json_t *args)
{
    json_t *fc = json_pack("{s:s, s:o}", "name", name, "args", args);
    const char *signature;
    char *gid = gemini_id(id, &signature);
    if (gid)
        json_object_set_new(fc, "id", json_string(gid));
    free(gid);
    json_t *part = json_pack("{s:o}", "functionCall", fc);
    if (signature && signature[0])
        json_object_set_new(part, "thoughtSignature", json_string(signature));
    return part;
}

/* The parts one message adds (role already chosen), or false (why set). */
static bool message_parts(json_t *parts, const json_t *messages, size_t i, char *why, size_t whylen)
{
    const json_t *m = json_array_get(messages, i);
    const char *role = json_string_value(json_object_get(m, "role"));
    if (strcmp(role, "tool") == 0) {
        const char *id = json_string_value(json_object_get(m, "tool_call_id"));
        const char *name = sl_ai_tool_name(messages, i, id);
        if (!name) {
            sl_ai_why(why, whylen, "%s", "messages: a tool message's tool_call_id must be the id of a tool call of an "
                                         "earlier assistant message (Gemini needs the function's name)");
            return false;
        }
        json_t *fr = json_pack("{s:s, s:o}", "name", name, "response", tool_response(json_object_get(m, "content")));
        const char *signature;
        char *gid = gemini_id(id, &signature);
        if (gid)
            json_object_set_new(fr, "id", json_string(gid));
        free(gid);
        json_array_append_new(parts, json_pack("{s:o}", "functionResponse", fr));
        return true;
    }
    const json_t *content = json_object_get(m, "content");
    if (content && !json_is_null(content) && !add_content(parts, content, why, whylen))
        return false;
    return sl_ai_tool_calls(parts, m, function_call, why, whylen);
}

static const sl_ai_turns turns = {"Gemini", "model", "parts", add_content, message_parts};

/* messages into contents and systemInstruction. */
static bool add_messages(json_t *out, const json_t *messages, char *why, size_t whylen)
{
    json_t *system = json_array(), *contents = json_array();
    bool ok = sl_ai_build_turns(&turns, messages, system, contents, why, whylen);
    if (ok && json_array_size(system))
        json_object_set_new(out, "systemInstruction", json_pack("{s:O}", "parts", system));
    if (ok)
        json_object_set(out, "contents", contents);
    json_decref(system);
    json_decref(contents);
    return ok;
}

/* A function tool as a functionDeclaration. */
static json_t *tool_decl(const char *name, const json_t *fn)
{
    json_t *d = json_pack("{s:s}", "name", name);
    if (json_is_string(json_object_get(fn, "description")))
        json_object_set(d, "description", json_object_get(fn, "description"));
    if (json_is_object(json_object_get(fn, "parameters")))
        json_object_set(d, "parametersJsonSchema", json_object_get(fn, "parameters"));
    return d;
}

static bool add_tools(json_t *out, const json_t *chat, char *why, size_t whylen)
{
    json_t *decls = sl_ai_tools(chat, tool_decl, why, whylen);
    if (!decls)
        return false;
    if (json_array_size(decls))
        json_object_set_new(out, "tools", json_pack("[{s:O}]", "functionDeclarations", decls));
    json_decref(decls);
    const json_t *choice = json_object_get(chat, "tool_choice");
    const char *c = json_string_value(choice);
    json_t *config = NULL;
    if (c && strcmp(c, "auto") == 0)
        config = json_pack("{s:s}", "mode", "AUTO");
    else if (c && strcmp(c, "required") == 0)
        config = json_pack("{s:s}", "mode", "ANY");
    else if (c && strcmp(c, "none") == 0)
        config = json_pack("{s:s}", "mode", "NONE");
    else if (json_is_object(choice)) {
        const char *name = json_string_value(json_object_get(json_object_get(choice, "function"), "name"));
        if (!name) {
            sl_ai_why(why, whylen, "%s", "tool_choice: function.name is required");
            return false;
        }
        config = json_pack("{s:s, s:[s]}", "mode", "ANY", "allowedFunctionNames", name);
    }
    if (config)
        json_object_set_new(out, "toolConfig", json_pack("{s:o}", "functionCallingConfig", config));
    return true;
}

static void add_generation_config(json_t *out, const json_t *chat)
{
    json_t *g = json_object();
    static const char *const copied[][2] = {{"temperature", "temperature"}, {"top_p", "topP"},
                                            {"seed", "seed"},               {"presence_penalty", "presencePenalty"},
                                            {"frequency_penalty", "frequencyPenalty"}, {"n", "candidateCount"}};
    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)
        if (json_is_number(json_object_get(chat, copied[i][0])))
            json_object_set(g, copied[i][1], json_object_get(chat, copied[i][0]));
    int64_t max = sl_ai_max_tokens(chat);
    if (max)
        json_object_set_new(g, "maxOutputTokens", json_integer((json_int_t)max));
    const json_t *stop = json_object_get(chat, "stop");
    if (json_is_string(stop))
        json_object_set_new(g, "stopSequences", json_pack("[O]", stop));
    else if (json_is_array(stop) && json_array_size(stop))
        json_object_set(g, "stopSequences", (json_t *)stop);
    const json_t *format = json_object_get(chat, "response_format");
    const char *ftype = json_string_value(json_object_get(format, "type"));
    if (ftype && (strcmp(ftype, "json_object") == 0 || strcmp(ftype, "json_schema") == 0)) {
        json_object_set_new(g, "responseMimeType", json_string("application/json"));
        const json_t *schema = json_object_get(json_object_get(format, "json_schema"), "schema");
        if (json_is_object(schema))
            json_object_set(g, "responseJsonSchema", (json_t *)schema);
    }
    if (json_object_size(g))
        json_object_set(out, "generationConfig", g);
    json_decref(g);
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
    const char *refused = json_is_true(json_object_get(chat, "stream")) && json_is_number(n) &&
                                  json_number_value(n) != 1
                              ? "n: Gemini streams one choice (n: 1)"
                          : json_is_true(json_object_get(chat, "logprobs")) ? "logprobs: not translated for Gemini"
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
    add_generation_config(out, chat);
    return out; /* the model and stream go into the path */
}

static const char *finish_reason(const char *reason, bool tool_calls)
{
    if (!reason)
        return NULL;
    if (strcmp(reason, "MAX_TOKENS") == 0)
        return "length";
    static const char *const filtered[] = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                                           "IMAGE_SAFETY"};
    for (size_t i = 0; i < sizeof(filtered) / sizeof(filtered[0]); i++)
        if (strcmp(reason, filtered[i]) == 0)
            return "content_filter";
    return tool_calls ? "tool_calls" : "stop";
}

/* A functionCall part as an OpenAI tool call (index given for a stream's
 * delta, -1 for a message); its thoughtSignature rides in the id. */
static json_t *tool_call(const json_t *part, int index, int made_up)
{
    const json_t *fc = json_object_get(part, "functionCall");
    char id[64];
    const char *given = json_string_value(json_object_get(fc, "id"));
    if (!given) {
        snprintf(id, sizeof(id), MADE_UP_ID "%d", made_up);
        given = id;
    }
    const char *signature = json_string_value(json_object_get(part, "thoughtSignature"));
    char *full = NULL;
    if (signature && asprintf(&full, "%s" SIGNATURE_MARK "%s", given, signature) < 0)
        full = NULL;
    const json_t *args = json_object_get(fc, "args");
    char *text = json_is_object(args) ? json_dumps(args, JSON_COMPACT) : NULL; /* none: "{}" */
    const char *name = json_string_value(json_object_get(fc, "name"));
    json_t *call = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", full ? full : given, "type", "function", "function",
                             "name", name ? name : "", "arguments", text ? text : "{}");
    free(text);
    free(full);
    if (call && index >= 0)
        json_object_set_new(call, "index", json_integer(index));
    return call;
}

/* A candidate's text (thoughts left out), or NULL when it has none. */
static json_t *candidate_text(const json_t *parts)
{
    size_t total = 0, i;
    const json_t *p;
    json_array_foreach(parts, i, p) if (!json_is_true(json_object_get(p, "thought"))) total +=
        json_string_length(json_object_get(p, "text"));
    bool any = false;
    char *text = malloc(total + 1);
    if (!text)
        return NULL;
    size_t n = 0;
    json_array_foreach(parts, i, p)
    {
        const json_t *t = json_object_get(p, "text");
        if (json_is_string(t) && !json_is_true(json_object_get(p, "thought"))) {
            memcpy(text + n, json_string_value(t), json_string_length(t));
            n += json_string_length(t);
            any = true;
        }
    }
    text[n] = '\0';
    json_t *v = any ? json_stringn(text, n) : NULL;
    free(text);
    return v;
}

static json_t *usage_of(const json_t *meta)
{
    return sl_ai_usage_object(sl_ai_count(meta, "promptTokenCount"),
                              sl_ai_count(meta, "candidatesTokenCount") + sl_ai_count(meta, "thoughtsTokenCount"),
                              sl_ai_count(meta, "cachedContentTokenCount"));
}

static json_t *response(const json_t *answer, const char *model, int64_t created)
{
    json_t *choices = json_array();
    size_t i;
    const json_t *cand;
    int made_up = 0;
    json_array_foreach(json_object_get(answer, "candidates"), i, cand)
    {
        const json_t *parts = json_object_get(json_object_get(cand, "content"), "parts");
        json_t *calls = json_array();
        size_t k;
        const json_t *p;
        json_array_foreach(parts, k, p) if (json_is_object(json_object_get(p, "functionCall")))
            json_array_append_new(calls, tool_call(p, -1, made_up++));
        json_t *text = candidate_text(parts);
        json_t *msg = json_pack("{s:s, s:o}", "role", "assistant", "content", text ? text : json_null());
        if (json_array_size(calls))
            json_object_set(msg, "tool_calls", calls);
        const json_t *index = json_object_get(cand, "index");
        json_array_append_new(
            choices, json_pack("{s:I, s:o, s:s?, s:n}", "index",
                               json_is_integer(index) ? json_integer_value(index) : (json_int_t)i, "message", msg,
                               "finish_reason",
                               finish_reason(json_string_value(json_object_get(cand, "finishReason")),
                                             json_array_size(calls) > 0),
                               "logprobs"));
        json_decref(calls);
    }
    if (json_array_size(choices) == 0 && json_object_get(json_object_get(answer, "promptFeedback"), "blockReason"))
        json_array_append_new(choices, json_pack("{s:i, s:{s:s, s:n}, s:s, s:n}", "index", 0, "message", "role",
                                                 "assistant", "content", "finish_reason", "content_filter", "logprobs"));
    char id[64];
    snprintf(id, sizeof(id), "chatcmpl-sluice-%lld", (long long)created);
    const char *rid = json_string_value(json_object_get(answer, "responseId"));
    const char *version = json_string_value(json_object_get(answer, "modelVersion"));
    return json_pack("{s:s, s:s, s:I, s:s, s:o, s:o}", "id", rid ? rid : id, "object", "chat.completion", "created",
                     (json_int_t)created, "model", version ? version : model ? model : "", "choices", choices, "usage",
                     usage_of(json_object_get(answer, "usageMetadata")));
}

static json_t *error(const json_t *body, int status, const char *fallback)
{
    const json_t *e = json_object_get(json_is_array(body) ? json_array_get(body, 0) : body, "error");
    const char *message = json_string_value(json_object_get(e, "message"));
    const char *code = json_string_value(json_object_get(e, "status"));
    return sl_ai_openai_error(message ? message : fallback, sl_ai_error_type(status), code);
}

static json_t *models(const json_t *list)
{
    json_t *data = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(list, "models"), i, m)
    {
        const char *name = json_string_value(json_object_get(m, "name"));
        if (name)
            json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s}", "id",
                                                  strncmp(name, "models/", 7) == 0 ? name + 7 : name, "object",
                                                  "model", "created", 0, "owned_by", "google"));
    }
    return json_pack("{s:s, s:o}", "object", "list", "data", data);
}

static bool stream_event(sl_ai_stream *s, const char *event, size_t event_len, const char *data, size_t len,
                         sl_ai_emit_fn emit, void *arg)
{
    (void)event;
    (void)event_len;
    if (s->done)
        return true;
    json_t *ev = json_loadb(data, len, 0, NULL);
    bool ok = true;
    if (json_is_object(json_object_get(ev, "error"))) {
        ok = sl_ai_stream_error(s, error(ev, 500, "the provider ended the stream with an error"), emit, arg);
        json_decref(ev);
        return ok;
    }
    if (!json_is_object(ev)) {
        json_decref(ev);
        return true; /* not a response: nothing to say */
    }
    const char *rid = json_string_value(json_object_get(ev, "responseId"));
    if (rid && !s->started)
        sl_ai_copy(s->id, sizeof(s->id), rid);
    const char *version = json_string_value(json_object_get(ev, "modelVersion"));
    if (version)
        sl_ai_copy(s->model, sizeof(s->model), version);
    const json_t *meta = json_object_get(ev, "usageMetadata");
    if (json_is_object(meta)) {
        s->input_tokens = sl_ai_count(meta, "promptTokenCount");
        s->output_tokens = sl_ai_count(meta, "candidatesTokenCount") + sl_ai_count(meta, "thoughtsTokenCount");
        s->cached_tokens = sl_ai_count(meta, "cachedContentTokenCount");
    }
    ok = sl_ai_stream_start(s, emit, arg);
    const json_t *cand = json_array_get(json_object_get(ev, "candidates"), 0);
    size_t k;
    const json_t *p;
    json_array_foreach(json_object_get(json_object_get(cand, "content"), "parts"), k, p)
    {
        if (!ok)
            break;
        const json_t *text = json_object_get(p, "text");
        if (json_is_object(json_object_get(p, "functionCall"))) {
            int t = s->tools++;
            ok = sl_ai_stream_chunk(s, json_pack("{s:[o]}", "tool_calls", tool_call(p, t, t)),
                                    NULL, emit, arg);
        } else if (json_is_string(text) && json_string_length(text) && !json_is_true(json_object_get(p, "thought"))) {
            ok = sl_ai_stream_chunk(s, json_pack("{s:O}", "content", text), NULL, emit, arg);
        }
    }
    const char *finish = finish_reason(json_string_value(json_object_get(cand, "finishReason")), s->tools > 0);
    if (!cand && json_object_get(json_object_get(ev, "promptFeedback"), "blockReason"))
        finish = "content_filter";
    if (ok && finish)
        ok = sl_ai_stream_chunk(s, json_object(), finish, emit, arg);
    json_decref(ev);
    return ok;
}

static bool chat_path(char *out, size_t cap, const char *base, const char *model, bool stream)
{
    if (strncmp(model, "models/", 7) == 0)
        model += 7; /* the API's own prefix, which some clients include */
    return sl_ai_model_path(out, cap, base, "/models/", model,
                            stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
}

/* OpenAI's embeddings request as batchEmbedContents: one request per input. */
static json_t *embeddings_request(const json_t *req, char *why, size_t whylen)
{
    const char *model = json_string_value(json_object_get(req, "model"));
    const json_t *input = json_object_get(req, "input");
    if (!model) {
        sl_ai_why(why, whylen, "%s", "model: a string is required");
        return NULL;
    }
    json_t *list = json_array();
    if (json_is_string(input))
        json_array_append(list, (json_t *)input);
    size_t i;
    const json_t *x;
    json_array_foreach(input, i, x)
    {
        if (!json_is_string(x)) {
            json_decref(list);
            sl_ai_why(why, whylen, "%s", "input: Gemini embeds text: a string or an array of strings");
            return NULL;
        }
        json_array_append(list, (json_t *)x);
    }
    if (json_array_size(list) == 0 || json_array_size(list) > 2048) {
        json_decref(list);
        sl_ai_why(why, whylen, "%s", "input: 1 to 2048 texts are required");
        return NULL;
    }
    char *name = NULL;
    if (asprintf(&name, "models/%s", strncmp(model, "models/", 7) == 0 ? model + 7 : model) < 0) {
        json_decref(list);
        sl_ai_why(why, whylen, "%s", "out of memory");
        return NULL;
    }
    const json_t *dims = json_object_get(req, "dimensions");
    json_t *requests = json_array();
    json_array_foreach(list, i, x)
    {
        json_t *r = json_pack("{s:s, s:{s:[{s:O}]}}", "model", name, "content", "parts", "text", x);
        if (json_is_integer(dims))
            json_object_set(r, "outputDimensionality", (json_t *)dims);
        json_array_append_new(requests, r);
    }
    json_decref(list);
    free(name);
    return json_pack("{s:o}", "requests", requests);
}

static bool embeddings_path(char *out, size_t cap, const char *base, const char *model)
{
    if (strncmp(model, "models/", 7) == 0)
        model += 7;
    return sl_ai_model_path(out, cap, base, "/models/", model, ":batchEmbedContents");
}

static json_t *embeddings_response(const json_t *answer, const char *model, bool base64)
{
    json_t *data = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(answer, "embeddings"), i, e)
    {
        const json_t *values = json_object_get(e, "values");
        json_array_append_new(data, json_pack("{s:s, s:I, s:o}", "object", "embedding", "index", (json_int_t)i,
                                              "embedding",
                                              base64 ? sl_ai_embedding_base64(values)
                                                     : json_is_array(values) ? json_incref((json_t *)values)
                                                                             : json_array()));
    }
    json_t *out = json_pack("{s:s, s:o, s:s}", "object", "list", "data", data, "model", model ? model : "");
    const json_t *meta = json_object_get(answer, "usageMetadata"); /* (given by some models) */
    if (json_is_object(meta)) {
        int64_t n = sl_ai_count(meta, "promptTokenCount");
        json_object_set_new(out, "usage", json_pack("{s:I, s:I}", "prompt_tokens", (json_int_t)n, "total_tokens",
                                                    (json_int_t)n));
    }
    return out;
}

const sl_ai_dialect sl_ai_dialect_gemini = {
    .name = "Gemini",
    .request = request,
    .response = response,
    .error = error,
    .models = models,
    .stream_event = stream_event,
    .chat_path = chat_path,
    .embeddings_request = embeddings_request,
    .embeddings_path = embeddings_path,
    .embeddings_response = embeddings_response,
};

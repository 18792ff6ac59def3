/* Unit tests of the Gemini and Bedrock dialects (common/ai_gemini.c,
 * common/ai_bedrock.c): request, response, error and stream translation,
 * against the shapes of Google's and AWS's API references. */
#include <stdlib.h>
#include <string.h>

#include "common/ai_translate.h"
#include "tests/unit/unit.h"

static json_t *load(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    CHECK(j != NULL);
    return j;
}

static const char *str_at(const json_t *root, const char *path)
{
    /* "a.b.0.c": members and array indexes */
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    const json_t *v = root;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, "."))
        v = (*tok >= '0' && *tok <= '9') ? json_array_get(v, (size_t)atoi(tok)) : json_object_get(v, tok);
    return json_string_value(v);
}

static const json_t *at(const json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    const json_t *v = root;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, "."))
        v = (*tok >= '0' && *tok <= '9') ? json_array_get(v, (size_t)atoi(tok)) : json_object_get(v, tok);
    return v;
}

/* A conversation with every kind of message: system, user with an image,
 * assistant tool calls, two tool results, user again. */
static const char *conversation =
    "{\"model\":\"m-1\",\"temperature\":0.5,\"max_tokens\":9,\"stop\":\"END\","
    "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},"
    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0=\"}}]},"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
    "{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
    "{\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"time\",\"arguments\":\"\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_a\",\"content\":\"{\\\"temp\\\":21}\"},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_b\",\"content\":\"noon\"},"
    "{\"role\":\"user\",\"content\":\"thanks\"}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"weather\",\"description\":\"w\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}],"
    "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"weather\"}}}";

static void gemini_request(void)
{
    const sl_ai_dialect *d = &sl_ai_dialect_gemini;
    char why[256] = "";
    json_t *chat = load(conversation);
    json_t *req = d->request(chat, why, sizeof(why));
    CHECK(req != NULL);
    CHECK_STR(str_at(req, "systemInstruction.parts.0.text"), "be brief");
    const json_t *contents = json_object_get(req, "contents");
    CHECK(json_array_size(contents) == 3); /* user, model, user: the tool results and the next words are one turn */
    CHECK_STR(str_at(req, "contents.0.role"), "user");
    CHECK_STR(str_at(req, "contents.0.parts.1.inlineData.mimeType"), "image/png");
    CHECK_STR(str_at(req, "contents.1.role"), "model");
    CHECK_STR(str_at(req, "contents.1.parts.0.functionCall.name"), "weather");
    CHECK_STR(str_at(req, "contents.1.parts.0.functionCall.args.city"), "Paris");
    CHECK_STR(str_at(req, "contents.1.parts.0.functionCall.id"), "call_a");
    /* The tool results are one turn, named after the calls they answer. */
    CHECK_STR(str_at(req, "contents.2.parts.0.functionResponse.name"), "weather");
    CHECK(json_integer_value(at(req, "contents.2.parts.0.functionResponse.response.temp")) == 21);
    CHECK_STR(str_at(req, "contents.2.parts.1.functionResponse.response.content"), "noon");
    CHECK_STR(str_at(req, "contents.2.parts.2.text"), "thanks");
    CHECK(json_integer_value(at(req, "generationConfig.maxOutputTokens")) == 9);
    CHECK_STR(str_at(req, "generationConfig.stopSequences.0"), "END");
    CHECK_STR(str_at(req, "tools.0.functionDeclarations.0.name"), "weather");
    CHECK_STR(str_at(req, "tools.0.functionDeclarations.0.parametersJsonSchema.type"), "object");
    CHECK_STR(str_at(req, "toolConfig.functionCallingConfig.mode"), "ANY");
    CHECK_STR(str_at(req, "toolConfig.functionCallingConfig.allowedFunctionNames.0"), "weather");
    CHECK(json_object_get(req, "model") == NULL); /* it goes into the path */
    json_decref(req);
    json_decref(chat);
    /* A tool result that answers no call cannot be named. */
    chat = load("{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"x\",\"content\":\"y\"}]}");
    CHECK(d->request(chat, why, sizeof(why)) == NULL && strstr(why, "tool_call_id") != NULL);
    json_decref(chat);
    char path[256];
    CHECK(d->chat_path(path, sizeof(path), "/v1beta", "gemini-2.5-flash", false));
    CHECK_STR(path, "/v1beta/models/gemini-2.5-flash:generateContent");
    CHECK(d->chat_path(path, sizeof(path), "/v1beta", "models/a b", true));
    CHECK_STR(path, "/v1beta/models/a%20b:streamGenerateContent?alt=sse");
    CHECK(!d->chat_path(path, 20, "/v1beta", "gemini-2.5-flash", false)); /* does not fit */
}

static void gemini_response(void)
{
    const sl_ai_dialect *d = &sl_ai_dialect_gemini;
    json_t *answer = load("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
                          "{\"text\":\"thinking\",\"thought\":true},{\"text\":\"Hel\"},{\"text\":\"lo\"},"
                          "{\"functionCall\":{\"name\":\"weather\",\"args\":{\"city\":\"Oslo\"}}}]},"
                          "\"finishReason\":\"STOP\",\"index\":0}],"
                          "\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":2,"
                          "\"thoughtsTokenCount\":3,\"totalTokenCount\":9},\"modelVersion\":\"gemini-x\","
                          "\"responseId\":\"r1\"}");
    json_t *res = d->response(answer, "asked", 7);
    CHECK_STR(str_at(res, "choices.0.message.content"), "Hello"); /* thoughts left out */
    CHECK_STR(str_at(res, "choices.0.message.tool_calls.0.function.name"), "weather");
    CHECK_STR(str_at(res, "choices.0.message.tool_calls.0.function.arguments"), "{\"city\":\"Oslo\"}");
    CHECK_STR(str_at(res, "choices.0.finish_reason"), "tool_calls");
    CHECK(json_integer_value(at(res, "usage.prompt_tokens")) == 4);
    CHECK(json_integer_value(at(res, "usage.completion_tokens")) == 5);
    CHECK_STR(str_at(res, "model"), "gemini-x");
    CHECK_STR(str_at(res, "id"), "r1");
    json_decref(res);
    json_decref(answer);
    answer = load("{\"candidates\":[{\"content\":{\"parts\":[]},\"finishReason\":\"SAFETY\"}]}");
    res = d->response(answer, "asked", 7);
    CHECK_STR(str_at(res, "choices.0.finish_reason"), "content_filter");
    CHECK_STR(str_at(res, "model"), "asked");
    json_decref(res);
    json_decref(answer);
    json_t *err = load("{\"error\":{\"code\":429,\"message\":\"quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}");
    json_t *oe = d->error(err, 429, "fallback");
    CHECK_STR(str_at(oe, "error.message"), "quota");
    CHECK_STR(str_at(oe, "error.type"), "rate_limit_error");
    CHECK_STR(str_at(oe, "error.code"), "RESOURCE_EXHAUSTED");
    json_decref(oe);
    json_decref(err);
    json_t *list = load("{\"models\":[{\"name\":\"models/gemini-a\"},{\"name\":\"models/gemini-b\"}]}");
    json_t *ol = d->models(list);
    CHECK_STR(str_at(ol, "data.1.id"), "gemini-b");
    json_decref(ol);
    json_decref(list);
}

static bool collect(const char *text, void *arg)
{
    char *out = arg;
    strncat(out, text, 8000 - strlen(out) - 2);
    strcat(out, "|");
    return true;
}

static void gemini_stream(void)
{
    const sl_ai_dialect *d = &sl_ai_dialect_gemini;
    sl_ai_stream st;
    sl_ai_stream_init(&st, 5, true, "asked");
    static char out[8000];
    out[0] = '\0';
    const char *events[] = {
        "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hi\"}]}}],"
        "\"usageMetadata\":{\"promptTokenCount\":3},\"modelVersion\":\"g-1\",\"responseId\":\"r9\"}",
        "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\" there\"}]},"
        "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":2}}",
    };
    for (size_t i = 0; i < 2; i++)
        CHECK(d->stream_event(&st, "", 0, events[i], strlen(events[i]), collect, out));
    CHECK(strstr(out, "[DONE]") == NULL); /* Gemini's stream says nothing at its end: the body's end does */
    CHECK(sl_ai_stream_end(&st, collect, out));
    CHECK(strstr(out, "\"role\":\"assistant\"") != NULL);
    CHECK(strstr(out, "\"content\":\" there\"") != NULL);
    CHECK(strstr(out, "\"finish_reason\":\"stop\"") != NULL);
    CHECK(strstr(out, "\"id\":\"r9\"") != NULL && strstr(out, "\"model\":\"g-1\"") != NULL);
    CHECK(strstr(out, "\"total_tokens\":5") != NULL);
    size_t n = strlen(out);
    CHECK(n > 7 && strcmp(out + n - 7, "[DONE]|") == 0);
    CHECK(st.input_tokens == 3 && st.output_tokens == 2);
    /* A function call arrives whole. */
    sl_ai_stream_init(&st, 5, false, "asked");
    out[0] = '\0';
    const char *call = "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{}}}]},"
                       "\"finishReason\":\"STOP\"}]}";
    CHECK(d->stream_event(&st, "", 0, call, strlen(call), collect, out));
    CHECK(strstr(out, "\"tool_calls\":[{\"id\":\"sluice-call-0\"") != NULL);
    CHECK(strstr(out, "\"finish_reason\":\"tool_calls\"") != NULL);
    /* An error ends it. */
    out[0] = '\0';
    const char *error = "{\"error\":{\"code\":500,\"message\":\"boom\",\"status\":\"INTERNAL\"}}";
    CHECK(d->stream_event(&st, "", 0, error, strlen(error), collect, out));
    CHECK(strstr(out, "\"message\":\"boom\"") != NULL && strstr(out, "[DONE]") != NULL);
}

static void gemini_thought_signatures_and_empty_turns(void)
{
    const sl_ai_dialect *d = &sl_ai_dialect_gemini;
    /* A call's thoughtSignature rides in its OpenAI id... */
    json_t *answer = load("{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\","
                          "\"args\":{}},\"thoughtSignature\":\"c2ln+/=\"}]},\"finishReason\":\"STOP\"}]}");
    json_t *res = d->response(answer, "m", 1);
    const char *id = str_at(res, "choices.0.message.tool_calls.0.id");
    CHECK_STR(id, "sluice-call-0~ts~c2ln+/=");
    /* ...and goes back on the call's part, with the call and its answer. */
    char chat_text[1024];
    snprintf(chat_text, sizeof(chat_text),
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
             "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"%s\",\"type\":\"function\","
             "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
             "{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":\"ok\"},"
             "{\"role\":\"assistant\",\"content\":null},{\"role\":\"user\",\"content\":\"\"}]}",
             id ? id : "", id ? id : "");
    json_t *chat = load(chat_text);
    char why[256] = "";
    json_t *req = d->request(chat, why, sizeof(why));
    CHECK(req != NULL);
    CHECK_STR(str_at(req, "contents.1.parts.0.thoughtSignature"), "c2ln+/=");
    CHECK(at(req, "contents.1.parts.0.functionCall.id") == NULL); /* made up by the gateway: not sent */
    CHECK_STR(str_at(req, "contents.2.parts.0.functionResponse.name"), "f");
    /* Empty turns (an assistant with nothing, a blank user message) are left out. */
    CHECK(json_array_size(json_object_get(req, "contents")) == 3);
    json_decref(req);
    json_decref(chat);
    json_decref(res);
    json_decref(answer);
}

static void bedrock_request(void)
{
    const sl_ai_dialect *d = &sl_ai_dialect_bedrock;
    char why[256] = "";
    json_t *chat = load(conversation);
    json_t *req = d->request(chat, why, sizeof(why));
    CHECK(req != NULL);
    CHECK_STR(str_at(req, "system.0.text"), "be brief");
    CHECK_STR(str_at(req, "messages.0.role"), "user");
    CHECK_STR(str_at(req, "messages.0.content.1.image.format"), "png");
    CHECK_STR(str_at(req, "messages.0.content.1.image.source.bytes"), "iVBORw0=");
    CHECK_STR(str_at(req, "messages.1.content.0.toolUse.toolUseId"), "call_a");
    CHECK_STR(str_at(req, "messages.1.content.0.toolUse.input.city"), "Paris");
    CHECK_STR(str_at(req, "messages.2.role"), "user");
    CHECK(json_integer_value(at(req, "messages.2.content.0.toolResult.content.0.json.temp")) == 21);
    CHECK_STR(str_at(req, "messages.2.content.1.toolResult.content.0.text"), "noon");
    CHECK_STR(str_at(req, "messages.2.content.2.text"), "thanks"); /* one user turn */
    CHECK(json_array_size(json_object_get(req, "messages")) == 3);
    CHECK(json_integer_value(at(req, "inferenceConfig.maxTokens")) == 9);
    CHECK_STR(str_at(req, "toolConfig.tools.0.toolSpec.inputSchema.json.type"), "object");
    CHECK_STR(str_at(req, "toolConfig.toolChoice.tool.name"), "weather");
    json_decref(req);
    json_decref(chat);
    chat = load("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                "\"image_url\":{\"url\":\"https://x/y.png\"}}]}]}");
    CHECK(d->request(chat, why, sizeof(why)) == NULL && strstr(why, "data URL") != NULL);
    json_decref(chat);
    char path[256];
    CHECK(d->chat_path(path, sizeof(path), "", "anthropic.claude-3-5-haiku-20241022-v1:0", true));
    CHECK_STR(path, "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream");
    CHECK(!d->chat_path(path, sizeof(path), "", "..", false)); /* a dot segment names another path */
    /* A history of tool calls without the tools: Converse still gets a toolConfig naming them. */
    chat = load("{\"model\":\"m\",\"tool_choice\":\"none\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t\",\"type\":\"function\","
                "\"function\":{\"name\":\"lookup\",\"arguments\":\"{}\"}}]},"
                "{\"role\":\"tool\",\"tool_call_id\":\"t\",\"content\":\"r\"}]}");
    req = d->request(chat, why, sizeof(why));
    CHECK(req != NULL);
    CHECK_STR(str_at(req, "toolConfig.tools.0.toolSpec.name"), "lookup");
    json_decref(req);
    json_decref(chat);
}

static void bedrock_response_and_stream(void)
{
    const sl_ai_dialect *d = &sl_ai_dialect_bedrock;
    json_t *answer = load("{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"Hi\"},"
                          "{\"toolUse\":{\"toolUseId\":\"t1\",\"name\":\"f\",\"input\":{\"a\":1}}}]}},"
                          "\"stopReason\":\"tool_use\",\"usage\":{\"inputTokens\":5,\"outputTokens\":6,"
                          "\"totalTokens\":11}}");
    json_t *res = d->response(answer, "amazon.nova-lite-v1:0", 3);
    CHECK_STR(str_at(res, "choices.0.message.content"), "Hi");
    CHECK_STR(str_at(res, "choices.0.message.tool_calls.0.id"), "t1");
    CHECK_STR(str_at(res, "choices.0.finish_reason"), "tool_calls");
    CHECK_STR(str_at(res, "model"), "amazon.nova-lite-v1:0");
    CHECK(json_integer_value(at(res, "usage.total_tokens")) == 11);
    json_decref(res);
    json_decref(answer);
    json_t *err = load("{\"message\":\"Too many tokens\"}");
    json_t *oe = d->error(err, 429, "fallback");
    CHECK_STR(str_at(oe, "error.message"), "Too many tokens");
    CHECK_STR(str_at(oe, "error.type"), "rate_limit_error");
    json_decref(oe);
    json_decref(err);

    sl_ai_stream st;
    sl_ai_stream_init(&st, 5, true, "amazon.nova-lite-v1:0");
    static char out[8000];
    out[0] = '\0';
    const char *events[][2] = {
        {"messageStart", "{\"role\":\"assistant\"}"},
        {"contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}"},
        {"contentBlockStop", "{\"contentBlockIndex\":0}"},
        {"contentBlockStart", "{\"contentBlockIndex\":1,\"start\":{\"toolUse\":{\"toolUseId\":\"t1\",\"name\":\"f\"}}}"},
        {"contentBlockDelta", "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"{\\\"a\\\":\"}}}"},
        {"messageStop", "{\"stopReason\":\"tool_use\"}"},
        {"metadata", "{\"usage\":{\"inputTokens\":5,\"outputTokens\":6,\"totalTokens\":11}}"},
    };
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        CHECK(d->stream_event(&st, events[i][0], strlen(events[i][0]), events[i][1], strlen(events[i][1]), collect,
                              out));
    CHECK(strstr(out, "\"content\":\"Hi\"") != NULL);
    CHECK(strstr(out, "\"tool_calls\":[{\"index\":0,\"id\":\"t1\"") != NULL);
    CHECK(strstr(out, "\"arguments\":\"{\\\"a\\\":\"") != NULL);
    CHECK(strstr(out, "\"finish_reason\":\"tool_calls\"") != NULL);
    CHECK(strstr(out, "\"total_tokens\":11") != NULL);
    size_t n = strlen(out);
    CHECK(n > 7 && strcmp(out + n - 7, "[DONE]|") == 0);
    /* An exception ends a stream with OpenAI's error shape. */
    sl_ai_stream_init(&st, 5, false, "m");
    out[0] = '\0';
    CHECK(d->stream_event(&st, "throttlingException", 19, "{\"message\":\"slow down\"}", 23, collect, out));
    CHECK(strstr(out, "\"message\":\"slow down\"") != NULL && strstr(out, "[DONE]") != NULL);
}

static void embeddings(void)
{
    char why[256] = "", path[256];
    /* Gemini: one request per text; base64 floats when asked. */
    const sl_ai_dialect *g = &sl_ai_dialect_gemini;
    json_t *req = load("{\"model\":\"gemini-embedding-001\",\"input\":[\"a\",\"b\"],\"dimensions\":8}");
    json_t *out = g->embeddings_request(req, why, sizeof(why));
    CHECK_STR(str_at(out, "requests.1.content.parts.0.text"), "b");
    CHECK_STR(str_at(out, "requests.0.model"), "models/gemini-embedding-001");
    CHECK(json_integer_value(at(out, "requests.0.outputDimensionality")) == 8);
    CHECK(g->embeddings_path(path, sizeof(path), "/v1beta", "gemini-embedding-001"));
    CHECK_STR(path, "/v1beta/models/gemini-embedding-001:batchEmbedContents");
    json_decref(out);
    json_decref(req);
    json_t *answer = load("{\"embeddings\":[{\"values\":[1.0,-2.0]}]}");
    out = g->embeddings_response(answer, "m", true);
    CHECK_STR(str_at(out, "data.0.embedding"), "AACAPwAAAMA="); /* 1.0f, -2.0f little-endian */
    json_decref(out);
    json_decref(answer);
    /* Bedrock: Titan's body and answer. */
    const sl_ai_dialect *b = &sl_ai_dialect_bedrock;
    req = load("{\"model\":\"us.amazon.titan-embed-text-v2:0\",\"input\":\"hi\"}");
    out = b->embeddings_request(req, why, sizeof(why));
    CHECK_STR(str_at(out, "inputText"), "hi");
    json_decref(out);
    json_decref(req);
    answer = load("{\"embedding\":[0.5],\"inputTextTokenCount\":1}");
    out = b->embeddings_response(answer, "m", false);
    CHECK(json_integer_value(at(out, "usage.prompt_tokens")) == 1 && json_real_value(at(out, "data.0.embedding.0")) == 0.5);
    json_decref(out);
    json_decref(answer);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(gemini_request),  UNIT_TEST(gemini_response),
        UNIT_TEST(gemini_stream),   UNIT_TEST(gemini_thought_signatures_and_empty_turns),
        UNIT_TEST(bedrock_request),
        UNIT_TEST(bedrock_response_and_stream), UNIT_TEST(embeddings),
    };
    return sl_unit_run("ai_dialects", tests, sizeof(tests) / sizeof(tests[0]));
}

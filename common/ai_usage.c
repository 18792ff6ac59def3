/* Token usage from provider responses: see ai_usage.h. */
#include "common/ai_usage.h"

#include <jansson.h>
#include <string.h>

#include "common/ai.h"

void sl_ai_usage_init(sl_ai_usage *u)
{
    memset(u, 0, sizeof(*u));
    u->input = u->output = u->cached = -1;
}

/* A non-negative integer member, or -1. */
static int64_t count(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (int64_t)json_integer_value(v) : -1;
}

static void take(int64_t *dst, int64_t v)
{
    if (v >= 0)
        *dst = v;
}

static void read_model(const json_t *o, sl_ai_usage *u)
{
    const char *m = json_string_value(json_object_get(o, "model"));
    if (m && m[0]) {
        size_t n = strlen(m) < sizeof(u->model) - 1 ? strlen(m) : sizeof(u->model) - 1;
        memcpy(u->model, m, n);
        u->model[n] = '\0';
    }
}

static void read_anthropic(const json_t *root, sl_ai_usage *u)
{
    /* message_start nests the message; a whole response is the message. */
    const json_t *msg = json_object_get(root, "message");
    if (!json_is_object(msg))
        msg = root;
    read_model(msg, u);
    const json_t *usage = json_object_get(msg, "usage");
    if (!json_is_object(usage))
        usage = json_object_get(root, "usage"); /* message_delta */
    if (!json_is_object(usage))
        return;
    u->seen = true;
    take(&u->input, count(usage, "input_tokens"));
    take(&u->output, count(usage, "output_tokens"));
    take(&u->cached, count(usage, "cache_read_input_tokens"));
}

static void read_openai(const json_t *root, sl_ai_usage *u)
{
    read_model(root, u);
    const json_t *usage = json_object_get(root, "usage");
    if (!json_is_object(usage))
        return; /* streamed chunks before the last carry "usage": null */
    u->seen = true;
    take(&u->input, count(usage, "prompt_tokens"));
    take(&u->output, count(usage, "completion_tokens"));
    int64_t total = count(usage, "total_tokens");
    if (u->output < 0 && u->input >= 0 && total >= u->input)
        u->output = total - u->input; /* embeddings: no completion */
    take(&u->cached, count(json_object_get(usage, "prompt_tokens_details"), "cached_tokens"));
}

/* Gemini (and Vertex AI): usageMetadata, modelVersion; in every streamed event. */
static void read_gemini(const json_t *root, sl_ai_usage *u)
{
    const char *version = json_string_value(json_object_get(root, "modelVersion"));
    if (version && version[0]) {
        size_t n = strlen(version) < sizeof(u->model) - 1 ? strlen(version) : sizeof(u->model) - 1;
        memcpy(u->model, version, n);
        u->model[n] = '\0';
    }
    const json_t *meta = json_object_get(root, "usageMetadata");
    if (!json_is_object(meta))
        return;
    u->seen = true;
    take(&u->input, count(meta, "promptTokenCount"));
    int64_t out = count(meta, "candidatesTokenCount"), thoughts = count(meta, "thoughtsTokenCount");
    take(&u->output, out >= 0 && thoughts >= 0 ? out + thoughts : out);
    take(&u->cached, count(meta, "cachedContentTokenCount"));
}

/* Bedrock Converse: usage {inputTokens, outputTokens} (a ConverseStream's metadata event too). */
static void read_bedrock(const json_t *root, sl_ai_usage *u)
{
    const json_t *usage = json_object_get(root, "usage");
    if (!json_is_object(usage))
        return;
    u->seen = true;
    take(&u->input, count(usage, "inputTokens"));
    take(&u->output, count(usage, "outputTokens"));
    take(&u->cached, count(usage, "cacheReadInputTokens"));
}

bool sl_ai_usage_read(unsigned provider, const char *json, size_t len, sl_ai_usage *u)
{
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return false;
    }
    if (provider == SL_AI_ANTHROPIC)
        read_anthropic(root, u);
    else if (provider == SL_AI_GEMINI || provider == SL_AI_VERTEXAI)
        read_gemini(root, u);
    else if (provider == SL_AI_BEDROCK)
        read_bedrock(root, u);
    else
        read_openai(root, u);
    json_decref(root);
    return true;
}

int64_t sl_ai_usage_total(const sl_ai_usage *u)
{
    if (u->input < 0 && u->output < 0)
        return -1;
    return (u->input > 0 ? u->input : 0) + (u->output > 0 ? u->output : 0);
}

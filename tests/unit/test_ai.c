/* Unit tests of the AI data plane's parsers: the server-sent events reader
 * (common/sse.c), the usage reader (common/ai_usage.c), the provider table
 * (common/ai.c) and the path mapping of AI backends (workers/ai_request.c). */
#include <stdlib.h>
#include <string.h>

#include "common/ai.h"
#include "common/ai_prices.h"
#include "common/ai_translate.h"
#include "common/ai_usage.h"
#include "common/sse.h"
#include "tests/unit/unit.h"
#include "workers/ai.h"

typedef struct {
    char events[8][64];
    char data[8][256];
    int n;
} got_events;

static void collect(const char *event, size_t elen, const char *data, size_t len, void *arg)
{
    got_events *g = arg;
    if (g->n >= 8)
        return;
    snprintf(g->events[g->n], sizeof(g->events[0]), "%.*s", (int)elen, event);
    snprintf(g->data[g->n], sizeof(g->data[0]), "%.*s", (int)len, data);
    g->n++;
}

static void sse_line_ends_and_fields(void)
{
    const char *in = ": comment\r\nevent: ping\r\ndata: {}\r\n\r\ndata: a\rdata:b\r\rdata: x\n\nid: 1\nretry: 5\n\n";
    got_events g = {0};
    sl_sse p;
    sl_sse_init(&p, 1024);
    /* One byte at a time: the reader keeps state across any cut. */
    for (size_t i = 0; in[i]; i++)
        CHECK(sl_sse_feed(&p, in + i, 1, collect, &g));
    CHECK(g.n == 3);
    CHECK_STR(g.events[0], "ping");
    CHECK_STR(g.data[0], "{}");
    CHECK_STR(g.events[1], "");
    CHECK_STR(g.data[1], "a\nb"); /* data lines joined by LF; "data:b" without the space */
    CHECK_STR(g.data[2], "x");
    sl_sse_free(&p);
}

static void sse_oversized_event_is_dropped_whole(void)
{
    got_events g = {0};
    sl_sse p;
    sl_sse_init(&p, 8);
    const char *in = "data: 0123456789abcdef\ndata: more\n\ndata: small\n\n";
    CHECK(sl_sse_feed(&p, in, strlen(in), collect, &g));
    CHECK(g.n == 1);
    CHECK_STR(g.data[0], "small");
    CHECK(p.dropped == 1);
    sl_sse_free(&p);
}

static void usage_openai_shapes(void)
{
    sl_ai_usage u;
    sl_ai_usage_init(&u);
    const char *body = "{\"model\":\"gpt-x\",\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":30,"
                       "\"total_tokens\":42,\"prompt_tokens_details\":{\"cached_tokens\":8}}}";
    CHECK(sl_ai_usage_read(SL_AI_OPENAI, body, strlen(body), &u));
    CHECK(u.seen && u.input == 12 && u.output == 30 && u.cached == 8 && sl_ai_usage_total(&u) == 42);
    CHECK_STR(u.model, "gpt-x");
    /* A stream chunk before the last: "usage": null changes nothing. */
    const char *chunk = "{\"model\":\"gpt-x\",\"choices\":[],\"usage\":null}";
    CHECK(sl_ai_usage_read(SL_AI_OPENAI, chunk, strlen(chunk), &u));
    CHECK(u.input == 12 && u.output == 30);
    /* Embeddings: no completion, the total says so. */
    sl_ai_usage_init(&u);
    const char *emb = "{\"usage\":{\"prompt_tokens\":6,\"total_tokens\":6}}";
    CHECK(sl_ai_usage_read(SL_AI_OPENAI_COMPATIBLE, emb, strlen(emb), &u));
    CHECK(u.input == 6 && u.output == 0 && u.cached == -1);
    /* A total below the prompt is no count of anything (found by fuzz_sse). */
    sl_ai_usage_init(&u);
    const char *odd = "{\"usage\":{\"prompt_tokens\":37,\"total_tokens\":7}}";
    CHECK(sl_ai_usage_read(SL_AI_OPENAI, odd, strlen(odd), &u));
    CHECK(u.input == 37 && u.output == -1);
    /* Not JSON, negative or non-integer counts: nothing taken. */
    sl_ai_usage_init(&u);
    CHECK(!sl_ai_usage_read(SL_AI_OPENAI, "[DONE]", 6, &u));
    const char *bad = "{\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":\"7\"}}";
    CHECK(sl_ai_usage_read(SL_AI_OPENAI, bad, strlen(bad), &u));
    CHECK(u.input == -1 && u.output == -1 && sl_ai_usage_total(&u) == -1);
}

static void usage_anthropic_stream(void)
{
    sl_ai_usage u;
    sl_ai_usage_init(&u);
    const char *start = "{\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":"
                        "25,\"output_tokens\":1,\"cache_read_input_tokens\":5}}}";
    const char *delta = "{\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":15}}";
    CHECK(sl_ai_usage_read(SL_AI_ANTHROPIC, start, strlen(start), &u));
    CHECK(sl_ai_usage_read(SL_AI_ANTHROPIC, delta, strlen(delta), &u));
    CHECK(u.input == 25 && u.output == 15 && u.cached == 5);
    CHECK_STR(u.model, "claude-x");
}

static void provider_table(void)
{
    CHECK(sl_ai_provider_from_name("OpenAI") == SL_AI_OPENAI);
    CHECK(sl_ai_provider_from_name("Anthropic") == SL_AI_ANTHROPIC);
    CHECK(sl_ai_provider_from_name("openai") == SL_AI_NONE); /* names are exact, as validation has them */
    CHECK(sl_ai_provider_get(SL_AI_ANTHROPIC)->key_style == SL_AI_KEY_X_API_KEY);
    CHECK(sl_ai_provider_get(999) == sl_ai_provider_get(SL_AI_NONE));
    CHECK(sl_ai_provider_get(SL_AI_GEMINI)->key_style == SL_AI_KEY_GOOG);
    for (unsigned p = 1; p < SL_AI_NPROVIDERS; p++)
        CHECK(sl_ai_provider_get(p)->served); /* every provider has its dialect now */
    CHECK(sl_ai_dialect_for(SL_AI_VERTEXAI) == &sl_ai_dialect_gemini);
    CHECK(sl_ai_dialect_for(SL_AI_OPENAI) == NULL && sl_ai_dialect_for(SL_AI_AZURE_OPENAI) == NULL);
}

/* A snapshot with one string section holding base, for sl_ai_map_path. */
static void map(const char *base, const char *path, const char *want)
{
    static uint8_t blob[4096] __attribute__((aligned(8)));
    memset(blob, 0, sizeof(blob));
    sl_snap_header *h = (sl_snap_header *)blob;
    h->sections[SL_SNAP_STRINGS].off = sizeof(*h);
    memcpy(blob + sizeof(*h), base, strlen(base) + 1);
    h->sections[SL_SNAP_STRINGS].count = (uint32_t)strlen(base) + 1;
    sl_snapshot s = {blob, sizeof(blob)};
    sl_snap_backend be = {.state = SL_SNAP_NONE, .balancer = SL_SNAP_NONE, .ai_provider = SL_AI_OPENAI_COMPATIBLE,
                          .ai_base_path = {0, (uint32_t)strlen(base)}};
    char space[256];
    sl_buf b = {.data = space, .cap = sizeof(space)};
    memcpy(space, "POST ", 5);
    memcpy(space + 5, path, strlen(path));
    b.end = 5 + strlen(path);
    CHECK(sl_ai_map_path(&s, &be, &b, 5));
    space[b.end] = '\0';
    CHECK_STR(space + 5, want);
}

static void path_mapping(void)
{
    map("/api/v1", "/v1/chat/completions", "/api/v1/chat/completions");
    map("/api/v1/", "/v1/chat/completions?x=1", "/api/v1/chat/completions?x=1");
    map("/v1", "/v1/models", "/v1/models");
    map("", "/v1/models", "/models");
    map("/openai", "/v1", "/openai");
    map("/api", "/v10/x", "/v10/x");          /* not the /v1 segment */
    map("/api", "/other/v1/x", "/other/v1/x"); /* not at the front */
}

static bool collect_chunk(const char *text, void *arg)
{
    char *out = arg;
    strncat(out, text, 4000 - strlen(out) - 2);
    strcat(out, "|");
    return true;
}

static void anthropic_translation(void)
{
    char why[256] = "";
    json_t *chat = json_loads("{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"d\"},"
                              "{\"role\":\"user\",\"content\":\"u\"}],\"max_completion_tokens\":7,"
                              "\"tool_choice\":\"required\",\"stop\":[\"x\",\"y\"]}",
                              0, NULL);
    const sl_ai_dialect *d = &sl_ai_dialect_anthropic;
    json_t *req = d->request(chat, why, sizeof(why));
    CHECK(req != NULL);
    CHECK(json_integer_value(json_object_get(req, "max_tokens")) == 7);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(req, "system"), 0), "text")), "d");
    CHECK(json_array_size(json_object_get(req, "messages")) == 1);
    CHECK_STR(json_string_value(json_object_get(json_object_get(req, "tool_choice"), "type")), "any");
    CHECK(json_array_size(json_object_get(req, "stop_sequences")) == 2);
    json_decref(req);
    json_decref(chat);
    /* Refusals name what cannot be carried. */
    chat = json_loads("{\"model\":\"m\",\"messages\":[{\"role\":\"function\",\"content\":\"x\"}]}", 0, NULL);
    CHECK(d->request(chat, why, sizeof(why)) == NULL && strstr(why, "function") != NULL);
    json_decref(chat);
    chat = json_loads("{\"model\":\"m\",\"messages\":[]}", 0, NULL);
    CHECK(d->request(chat, why, sizeof(why)) == NULL && strstr(why, "non-empty") != NULL);
    json_decref(chat);
    /* Stop reasons. */
    static const char *const stops[][2] = {{"max_tokens", "length"}, {"tool_use", "tool_calls"},
                                           {"end_turn", "stop"}, {"refusal", "content_filter"}};
    for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
        json_t *msg = json_pack("{s:s, s:[], s:s}", "model", "c", "content", "stop_reason", stops[i][0]);
        json_t *res = d->response(msg, "asked", 1);
        CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(res, "choices"), 0),
                                                    "finish_reason")),
                  stops[i][1]);
        CHECK_STR(json_string_value(json_object_get(res, "model")), "c"); /* the answer names it */
        json_decref(res);
        json_decref(msg);
    }
    /* A stream: role chunk, text, finish, usage (asked for), [DONE]; nothing after. */
    sl_ai_stream st;
    sl_ai_stream_init(&st, 5, true, "asked");
    static char out[4000];
    out[0] = '\0';
    const char *events[] = {
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg1\",\"model\":\"c\",\"usage\":{\"input_tokens\":3}}}",
        "{\"type\":\"ping\"}",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}",
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}",
        "{\"type\":\"message_stop\"}",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"late\"}}",
    };
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        CHECK(d->stream_event(&st, "", 0, events[i], strlen(events[i]), collect_chunk, out));
    CHECK(strstr(out, "\"role\":\"assistant\"") != NULL);
    CHECK(strstr(out, "\"content\":\"hi\"") != NULL);
    CHECK(strstr(out, "\"finish_reason\":\"stop\"") != NULL);
    CHECK(strstr(out, "\"total_tokens\":5") != NULL);
    CHECK(strstr(out, "late") == NULL);
    size_t n = strlen(out);
    CHECK(n > 7 && strcmp(out + n - 7, "[DONE]|") == 0);
}

static void default_prices(void)
{
    static const struct {
        const char *model;
        double input; /* 0: no default */
    } cases[] = {
        {"gpt-4o", 2.50},
        {"gpt-4o-2024-08-06", 2.50},               /* a dated version */
        {"gpt-4o-mini-2024-07-18", 0.15},          /* the longest name that starts it */
        {"gpt-4o-audio-preview", 0},               /* another model, not a version */
        {"o3-pro", 0},
        {"claude-sonnet-4-5-20250929", 3.00},
        {"claude-opus-4-5-20251101", 5.00},
        {"claude-opus-4-1-20250805", 15.00},
        {"anthropic.claude-3-5-haiku-20241022-v1:0", 0.80}, /* Bedrock's ids */
        {"us.amazon.nova-lite-v1:0", 0.06},
        {"gemini-2.5-flash", 0.30},
        {"gemini-2.5-flash-lite", 0.10},
        {"test-small", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const sl_ai_price *p = sl_ai_default_price(cases[i].model);
        if (cases[i].input == 0) {
            CHECK(p == NULL);
        } else {
            CHECK(p != NULL && p->input == cases[i].input);
            if (p && p->input != cases[i].input)
                fprintf(stderr, "  %s: %f\n", cases[i].model, p->input);
        }
    }
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(sse_line_ends_and_fields), UNIT_TEST(sse_oversized_event_is_dropped_whole),
        UNIT_TEST(usage_openai_shapes),      UNIT_TEST(usage_anthropic_stream),
        UNIT_TEST(provider_table),           UNIT_TEST(path_mapping),
        UNIT_TEST(anthropic_translation),    UNIT_TEST(default_prices),
    };
    return sl_unit_run("ai", tests, sizeof(tests) / sizeof(tests[0]));
}

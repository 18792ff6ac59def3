/* libFuzzer target: the server-sent events reader (common/sse.c) and the usage
 * reader (common/ai_usage.c), which read every streamed answer of an LLM
 * provider on an AI route. The first byte of an input chooses where it is cut
 * in two; the rest is the stream. Invariants: reading it in two pieces gives
 * exactly the events of reading it whole (the reader is incremental, whatever
 * the network's pieces); no event's data exceeds the limit; the usage of each
 * event and of the whole input (as a held JSON answer), read in every dialect, has counts >= -1 and a
 * NUL-terminated model; every dialect's translation of it (request, response, error, stream) is well-formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ai.h"
#include "common/ai_translate.h"
#include "common/ai_usage.h"
#include "common/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENT 512

typedef struct {
    unsigned char digest[64]; /* a running fingerprint of the events seen */
    size_t events;
} seen;

static void check_usage(const char *d, size_t n)
{
    static const unsigned dialects[] = {SL_AI_OPENAI, SL_AI_ANTHROPIC, SL_AI_GEMINI, SL_AI_BEDROCK};
    for (size_t k = 0; k < sizeof(dialects) / sizeof(dialects[0]); k++) {
        sl_ai_usage u;
        sl_ai_usage_init(&u);
        sl_ai_usage_read(dialects[k], d, n, &u);
        if (u.input < -1 || u.output < -1 || u.cached < -1 || memchr(u.model, '\0', sizeof(u.model)) == NULL)
            abort();
    }
}

/* A translated chunk is JSON, or the [DONE] marker. */
static bool check_chunk(const char *text, void *arg)
{
    (void)arg;
    if (strcmp(text, "[DONE]") != 0) {
        json_t *j = json_loads(text, 0, NULL);
        if (!json_is_object(j))
            abort();
        json_decref(j);
    }
    return true;
}

static const sl_ai_dialect *const translators[] = {&sl_ai_dialect_anthropic, &sl_ai_dialect_gemini,
                                                   &sl_ai_dialect_bedrock};
#define NTRANSLATORS (sizeof(translators) / sizeof(translators[0]))
static sl_ai_stream translation[NTRANSLATORS];

/* The translations of a document: whatever it is, the results are
 * well-formed; a translated request always has its messages (Gemini: contents). */
static void check_translation(const char *d, size_t n)
{
    json_t *doc = json_loadb(d, n, JSON_DECODE_ANY, NULL);
    for (size_t k = 0; k < NTRANSLATORS; k++) {
        const sl_ai_dialect *t = translators[k];
        char why[256];
        json_t *req = t->request(doc, why, sizeof(why));
        const char *list = t == &sl_ai_dialect_gemini ? "contents" : "messages";
        if (req && !json_is_array(json_object_get(req, list)))
            abort();
        json_t *res = t->response(doc, "m", 0);
        json_t *err = t->error(doc, 429, "fallback");
        json_t *models = t->models ? t->models(doc) : json_pack("{s:[]}", "data");
        if (!json_is_object(res) || !json_is_string(json_object_get(json_object_get(err, "error"), "message")) ||
            !json_is_array(json_object_get(models, "data")))
            abort();
        char path[256];
        if (t->chat_path && t->chat_path(path, sizeof(path), "/v1", d && n ? "m/x:y" : "", n & 1) &&
            strlen(path) >= sizeof(path))
            abort();
        if (t->embeddings_request) {
            json_t *ereq = t->embeddings_request(doc, why, sizeof(why));
            json_t *eres = t->embeddings_response(doc, "m", n & 2);
            if (!json_is_array(json_object_get(eres, "data")))
                abort();
            json_decref(ereq);
            json_decref(eres);
        }
        json_decref(models);
        json_decref(req);
        json_decref(res);
        json_decref(err);
    }
    json_decref(doc);
}

static void on_event(const char *event, size_t elen, const char *d, size_t n, void *arg)
{
    seen *s = arg;
    for (size_t k = 0; k < NTRANSLATORS; k++)
        translators[k]->stream_event(&translation[k], event, elen, d, n, check_chunk, NULL);
    if (n > MAX_EVENT || elen >= 64 || event[elen] != '\0' || d[n] != '\0')
        abort();
    s->events++;
    /* A cheap order-sensitive fingerprint of (type, data). */
    for (size_t i = 0; i < elen; i++)
        s->digest[i % 64] = (unsigned char)(s->digest[i % 64] * 31 + (unsigned char)event[i]);
    s->digest[0] ^= (unsigned char)elen;
    for (size_t i = 0; i < n; i++)
        s->digest[(i + 7) % 64] = (unsigned char)(s->digest[(i + 7) % 64] * 33 + (unsigned char)d[i]);
    s->digest[1] ^= (unsigned char)n;
    check_usage(d, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    size_t cut = size > 1 ? data[0] % size : 0;
    const char *stream = (const char *)data + 1;
    size_t len = size - 1;
    if (cut > len)
        cut = len;
    check_usage(stream, len); /* the whole input as a held JSON answer */
    check_translation(stream, len);
    for (size_t k = 0; k < NTRANSLATORS; k++)
        sl_ai_stream_init(&translation[k], 0, data[0] & 1, "m");
    seen whole = {{0}, 0}, pieces = {{0}, 0};
    sl_sse a, b;
    sl_sse_init(&a, MAX_EVENT);
    sl_sse_init(&b, MAX_EVENT);
    if (!sl_sse_feed(&a, stream, len, on_event, &whole) || !sl_sse_feed(&b, stream, cut, on_event, &pieces) ||
        !sl_sse_feed(&b, stream + cut, len - cut, on_event, &pieces))
        abort(); /* out of memory is not expected at these sizes */
    if (whole.events != pieces.events || memcmp(whole.digest, pieces.digest, sizeof(whole.digest)) != 0 ||
        a.dropped != b.dropped)
        abort();
    sl_sse_free(&a);
    sl_sse_free(&b);
    for (size_t k = 0; k < NTRANSLATORS; k++)
        sl_ai_stream_end(&translation[k], check_chunk, NULL);
    return 0;
}

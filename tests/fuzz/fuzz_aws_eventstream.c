/* libFuzzer target: the AWS event-stream reader (common/aws_eventstream.c),
 * which reads every streamed answer of Amazon Bedrock on an AI route, and the
 * Bedrock stream translation fed by it. The first byte of an input chooses
 * where it is cut in two; the rest is the stream. Invariants: reading it in
 * two pieces gives exactly the events (and the same verdict) of reading it
 * whole; every event's name and data are NUL-terminated and within the limit;
 * every translated chunk is JSON or [DONE]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ai_translate.h"
#include "common/aws_eventstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGE 4096

typedef struct {
    unsigned char digest[64];
    size_t events;
    sl_ai_stream tr;
} seen;

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

static void on_event(const char *event, size_t elen, const char *d, size_t n, void *arg)
{
    seen *s = arg;
    if (n > MAX_MESSAGE || elen > MAX_MESSAGE || event[elen] != '\0' || d[n] != '\0')
        abort();
    sl_ai_dialect_bedrock.stream_event(&s->tr, event, elen, d, n, check_chunk, NULL);
    s->events++;
    for (size_t i = 0; i < elen; i++)
        s->digest[i % 64] = (unsigned char)(s->digest[i % 64] * 31 + (unsigned char)event[i]);
    for (size_t i = 0; i < n; i++)
        s->digest[(i + 7) % 64] = (unsigned char)(s->digest[(i + 7) % 64] * 33 + (unsigned char)d[i]);
    s->digest[1] ^= (unsigned char)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    const char *stream = (const char *)data + 1;
    size_t len = size - 1;
    size_t cut = len ? data[0] % (len + 1) : 0;
    static seen whole, pieces;
    memset(&whole, 0, sizeof(whole));
    memset(&pieces, 0, sizeof(pieces));
    sl_ai_stream_init(&whole.tr, 0, data[0] & 1, "m");
    sl_ai_stream_init(&pieces.tr, 0, data[0] & 1, "m");
    sl_aws_es a, b;
    sl_aws_es_init(&a, MAX_MESSAGE);
    sl_aws_es_init(&b, MAX_MESSAGE);
    bool ok_a = sl_aws_es_feed(&a, stream, len, on_event, &whole);
    bool ok_b = sl_aws_es_feed(&b, stream, cut, on_event, &pieces) &&
                sl_aws_es_feed(&b, stream + cut, len - cut, on_event, &pieces);
    if (ok_a != ok_b || whole.events != pieces.events || memcmp(whole.digest, pieces.digest, sizeof(whole.digest)) != 0)
        abort();
    sl_ai_stream_end(&whole.tr, check_chunk, NULL);
    sl_aws_es_free(&a);
    sl_aws_es_free(&b);
    return 0;
}

/* AWS event-stream reader: see aws_eventstream.h. */
#include "common/aws_eventstream.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define PRELUDE 12
#define TRAILER 4

void sl_aws_es_init(sl_aws_es *p, size_t max)
{
    memset(p, 0, sizeof(*p));
    p->max = max;
}

void sl_aws_es_free(sl_aws_es *p)
{
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = 0;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint32_t crc(const unsigned char *b, size_t n) { return (uint32_t)crc32(0L, b, (uInt)n); }

/* The size of a header value of `type` at v (end: the headers' end), or -1. */
static long value_size(unsigned type, const unsigned char *v, const unsigned char *end)
{
    static const int fixed[] = {0, 0, 1, 2, 4, 8, -1, -1, 8, 16}; /* bool true/false, byte, short, int, long, -, -, timestamp, uuid */
    if (type > 9)
        return -1;
    if (type == 6 || type == 7) { /* bytes, string: a 16-bit length first */
        if (end - v < 2)
            return -1;
        return 2 + ((long)v[0] << 8 | v[1]);
    }
    return fixed[type];
}

/* Reads the headers of one message: the event's name into name/name_len
 * (pointing into h). false when they are malformed. */
static bool read_headers(const unsigned char *h, size_t len, const unsigned char **name, size_t *name_len)
{
    const unsigned char *p = h, *end = h + len;
    const unsigned char *event = NULL, *exception = NULL;
    size_t event_len = 0, exception_len = 0;
    while (p < end) {
        size_t nl = *p++;
        if (nl == 0 || (size_t)(end - p) < nl + 1)
            return false;
        const unsigned char *hn = p;
        p += nl;
        unsigned type = *p++;
        long size = value_size(type, p, end);
        if (size < 0 || (size_t)(end - p) < (size_t)size)
            return false;
        if (type == 7 && nl == 11 && memcmp(hn, ":event-type", 11) == 0) {
            event = p + 2;
            event_len = (size_t)size - 2;
        } else if (type == 7 && nl == 15 && memcmp(hn, ":exception-type", 15) == 0) {
            exception = p + 2;
            exception_len = (size_t)size - 2;
        }
        p += size;
    }
    *name = exception ? exception : event;
    *name_len = exception ? exception_len : event_len;
    return true;
}

/* One whole message at m (total bytes). false when malformed. */
static bool message(sl_aws_es *p, const unsigned char *m, size_t total, sl_aws_es_fn on_event, void *arg)
{
    uint32_t headers_len = be32(m + 4);
    if (crc(m, 8) != be32(m + 8) || crc(m, total - TRAILER) != be32(m + total - TRAILER) ||
        headers_len > total - PRELUDE - TRAILER)
        return false;
    const unsigned char *name;
    size_t name_len;
    if (!read_headers(m + PRELUDE, headers_len, &name, &name_len))
        return false;
    size_t payload_len = total - PRELUDE - TRAILER - headers_len;
    /* Both handed on NUL-terminated: copies, the message's bytes stay as they are. */
    char *copy = malloc(name_len + payload_len + 2);
    if (!copy)
        return false;
    if (name_len)
        memcpy(copy, name, name_len);
    copy[name_len] = '\0';
    memcpy(copy + name_len + 1, m + PRELUDE + headers_len, payload_len);
    copy[name_len + 1 + payload_len] = '\0';
    on_event(copy, name_len, copy + name_len + 1, payload_len, arg);
    free(copy);
    (void)p;
    return true;
}

bool sl_aws_es_feed(sl_aws_es *p, const char *data, size_t len, sl_aws_es_fn on_event, void *arg)
{
    if (p->failed)
        return false;
    if (p->len + len > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + len)
            cap *= 2;
        char *b = realloc(p->buf, cap);
        if (!b) {
            p->failed = true;
            return false;
        }
        p->buf = b;
        p->cap = cap;
    }
    if (len)
        memcpy(p->buf + p->len, data, len);
    p->len += len;
    size_t at = 0;
    while (p->len - at >= PRELUDE) {
        const unsigned char *m = (const unsigned char *)p->buf + at;
        uint32_t total = be32(m);
        if (total < PRELUDE + TRAILER || total > p->max) {
            p->failed = true;
            return false;
        }
        if (p->len - at < total)
            break;
        if (!message(p, m, total, on_event, arg)) {
            p->failed = true;
            return false;
        }
        at += total;
    }
    if (at) {
        memmove(p->buf, p->buf + at, p->len - at);
        p->len -= at;
    }
    return true;
}

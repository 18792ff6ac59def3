/* AWS event-stream reader: see aws_eventstream.h. */
#include "common/aws_eventstream.h"

#include <stdint.h>
#include <stdio.h>
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

/* What the headers of one message say (pointers into them). */
typedef struct es_headers {
    const unsigned char *event, *exception, *message_type, *error_code, *error_message;
    size_t event_len, exception_len, message_type_len, error_code_len, error_message_len;
} es_headers;

/* Whether header hn (nl bytes) is `name`. */
static bool named(const unsigned char *hn, size_t nl, const char *name)
{
    return nl == strlen(name) && memcmp(hn, name, nl) == 0;
}

/* Reads the headers of one message. false when they are malformed. */
static bool read_headers(const unsigned char *h, size_t len, es_headers *out)
{
    const unsigned char *p = h, *end = h + len;
    memset(out, 0, sizeof(*out));
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
        if (type == 7) {
            const unsigned char *v = p + 2;
            size_t vl = (size_t)size - 2;
            if (named(hn, nl, ":event-type"))
                out->event = v, out->event_len = vl;
            else if (named(hn, nl, ":exception-type"))
                out->exception = v, out->exception_len = vl;
            else if (named(hn, nl, ":message-type"))
                out->message_type = v, out->message_type_len = vl;
            else if (named(hn, nl, ":error-code"))
                out->error_code = v, out->error_code_len = vl;
            else if (named(hn, nl, ":error-message"))
                out->error_message = v, out->error_message_len = vl;
        }
        p += size;
    }
    return true;
}

/* An error message (:message-type error) as an event named "error" whose
 * data is {"code": ..., "message": ...} (malloc'd), or NULL. */
static char *error_payload(const es_headers *h, size_t *len)
{
    /* Both values are copied as JSON strings: quotes, backslashes and control
     * characters escaped. */
    size_t cap = 40 + 6 * (h->error_code_len + h->error_message_len);
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t n = 0;
    const unsigned char *vals[2] = {h->error_code, h->error_message};
    size_t lens[2] = {h->error_code_len, h->error_message_len};
    const char *keys[2] = {"{\"code\":\"", "\",\"message\":\""};
    for (int k = 0; k < 2; k++) {
        n += (size_t)snprintf(out + n, cap - n, "%s", keys[k]);
        for (size_t i = 0; i < lens[k]; i++) {
            unsigned char ch = vals[k][i];
            if (ch == '"' || ch == '\\')
                n += (size_t)snprintf(out + n, cap - n, "\\%c", ch);
            else if (ch < 0x20)
                n += (size_t)snprintf(out + n, cap - n, "\\u%04x", ch);
            else
                out[n++] = (char)ch;
        }
    }
    n += (size_t)snprintf(out + n, cap - n, "\"}");
    *len = n;
    return out;
}

/* One whole message at m (total bytes). false when malformed. */
static bool message(sl_aws_es *p, const unsigned char *m, size_t total, sl_aws_es_fn on_event, void *arg)
{
    uint32_t headers_len = be32(m + 4);
    if (crc(m, 8) != be32(m + 8) || crc(m, total - TRAILER) != be32(m + total - TRAILER) ||
        headers_len > total - PRELUDE - TRAILER)
        return false;
    es_headers h;
    if (!read_headers(m + PRELUDE, headers_len, &h))
        return false;
    const unsigned char *name = h.exception ? h.exception : h.event;
    size_t name_len = h.exception ? h.exception_len : h.event_len;
    const unsigned char *payload = m + PRELUDE + headers_len;
    size_t payload_len = total - PRELUDE - TRAILER - headers_len;
    char *made = NULL;
    if (h.message_type_len == 5 && memcmp(h.message_type, "error", 5) == 0) {
        /* An error message says what in its headers, not its payload. */
        made = error_payload(&h, &payload_len);
        if (!made)
            return false;
        payload = (const unsigned char *)made;
        name = (const unsigned char *)"error";
        name_len = 5;
    }
    /* Both handed on NUL-terminated: copies, the message's bytes stay as they are. */
    char *copy = malloc(name_len + payload_len + 2);
    if (!copy) {
        free(made);
        return false;
    }
    if (name_len)
        memcpy(copy, name, name_len);
    copy[name_len] = '\0';
    memcpy(copy + name_len + 1, payload, payload_len);
    copy[name_len + 1 + payload_len] = '\0';
    free(made);
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

/* AWS's event-stream framing (application/vnd.amazon.eventstream), as Amazon
 * Bedrock's ConverseStream sends its events. Each message: a 12-byte prelude
 * (total length, headers length, both big-endian 32-bit, and the prelude's
 * CRC-32), headers (name, type, value), the payload, and the CRC-32 of all
 * that. An incremental reader: fed the body in whatever pieces the network
 * gives, it hands each message on as an event, with the same callback as the
 * server-sent events reader (common/sse.h): the name is the :event-type header
 * (or, for an exception, the :exception-type), the data the payload. */
#ifndef SL_AWS_EVENTSTREAM_H
#define SL_AWS_EVENTSTREAM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sl_aws_es {
    char *buf;        /* bytes of the message not complete yet */
    size_t len, cap;
    size_t max;       /* a message larger than this is refused */
    bool failed;      /* a malformed message was met: the stream is unreadable from here */
} sl_aws_es;

/* event (NUL-terminated, event_len bytes) and data (NUL-terminated, len bytes). */
typedef void (*sl_aws_es_fn)(const char *event, size_t event_len, const char *data, size_t len, void *arg);

void sl_aws_es_init(sl_aws_es *p, size_t max);
/* Reads bytes; calls on_event for each complete message. false when a
 * message is malformed (sizes, CRC, headers) or larger than max, or memory
 * ran out: nothing more is read. */
bool sl_aws_es_feed(sl_aws_es *p, const char *data, size_t len, sl_aws_es_fn on_event, void *arg);
void sl_aws_es_free(sl_aws_es *p);

#endif

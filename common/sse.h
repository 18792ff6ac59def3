/* An incremental reader of server-sent events (the WHATWG HTML "event stream"
 * format, which OpenAI and Anthropic streams use): bytes in, whatever pieces
 * they come in; one call per complete event out, with its `event` type and
 * its `data` lines joined by "\n". Lines end with LF, CRLF or CR; comments and
 * unknown fields are skipped. An event larger than its limit is dropped whole
 * (counted), so memory per stream stays bounded. */
#ifndef SL_SSE_H
#define SL_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*sl_sse_event_fn)(const char *event, size_t event_len, const char *data, size_t data_len, void *arg);

typedef struct sl_sse {
    char *line;            /* the line being read (malloc'd) */
    size_t line_len, line_cap;
    char *data;            /* the event's data so far */
    size_t data_len, data_cap;
    char event[64];        /* the event's type ("" for the default "message") */
    size_t event_len;
    size_t max_event;      /* bytes of data an event may carry */
    bool skipping;         /* the current event went over max_event */
    bool after_cr;         /* the last byte was CR: an LF next ends nothing more */
    bool has_data;         /* a data field was seen in this event */
    uint64_t dropped;      /* events dropped for size */
    size_t at;             /* during a call of fn: the offset, in the bytes given to
                            * sl_sse_feed, of the line end that completed the event
                            * (its raw bytes end at at + 1, or + 2 after a CR of a CRLF) */
} sl_sse;

void sl_sse_init(sl_sse *p, size_t max_event);
/* Reads len bytes; calls fn for each event they complete. false when out of memory. */
bool sl_sse_feed(sl_sse *p, const char *buf, size_t len, sl_sse_event_fn fn, void *arg);
void sl_sse_free(sl_sse *p);

#endif

/* Distributed tracing: the W3C traceparent of each request is continued (or a
 * new trace started, sampled by --trace-sample-ratio) and sent upstream, and
 * each sampled request becomes one OpenTelemetry SERVER span. Workers batch
 * their spans and export them with OTLP over HTTP (JSON encoding) to
 * --otlp-endpoint through the worker's non-blocking HTTP client: the loop
 * never waits for the collector, and spans that find the batch full (a
 * collector down or slow) are dropped and counted. */
#ifndef SL_TRACING_H
#define SL_TRACING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"

struct sl_conn;
struct sl_worker;
struct sl_http1_request;
struct sl_buf;

/* The trace of one request (in sl_conn). */
typedef struct sl_trace {
    bool on;          /* tracing is configured: a traceparent goes upstream */
    bool sampled;     /* ...and this request's span is exported */
    bool has_parent;  /* a valid traceparent came in */
    uint8_t trace_id[16], parent_id[8], span_id[8];
} sl_trace;

/* Master, before forking: the collector's URL ("" or NULL: tracing off), the
 * share of new traces sampled ("0".."1", NULL: 1) and sluice's version (for the
 * spans' resource). False with a message in err. */
bool sl_tracing_configure(const char *endpoint, const char *ratio, const char *sluice_version, char *err,
                          size_t errlen);
bool sl_tracing_enabled(void);

/* Worker: start the exporter (its batch timer). A stopping worker's loop
 * exports on while it drains; spans of its last second may be lost. */
void sl_tracing_worker_init(struct sl_worker *w);

/* A request's head was parsed: its trace, from its traceparent or new. */
void sl_trace_begin(struct sl_conn *c, const struct sl_http1_request *req);
/* Whether a received field is not passed upstream as it came: traceparent
 * (this hop's goes instead), and tracestate when a new trace starts (the
 * specification says to drop it with an invalid or missing traceparent). */
bool sl_trace_replaces(const struct sl_conn *c, sl_slice name);
/* The traceparent field sent upstream ("traceparent: ...\r\n"), when on. */
void sl_trace_upstream_field(const struct sl_conn *c, struct sl_buf *b);
/* The request ended: its span, when sampled. */
void sl_trace_end(struct sl_conn *c);

#endif

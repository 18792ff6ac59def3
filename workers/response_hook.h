/* Response body hooks: code that reads, holds or rewrites a response body on its
 * way to the client (the AI data plane's usage accounting and, later, provider
 * translation and guards). A hook is a small ops table; the proxy (proxy.c,
 * proxy_response_hook.c) gives it the body de-chunked, whatever the upstream's
 * framing, and sends what it emits with framing of its own (Content-Length when
 * the hook knows the length, else chunked, or close-delimited for HTTP/1.0).
 * A response with a hook is never spliced and never borrowed by HTTP/2 frames:
 * its bytes go through the hook.
 *
 * Which hook a request gets is decided once its backend is chosen
 * (sl_response_hook_for): one place lists them. */
#ifndef SL_RESPONSE_HOOK_H
#define SL_RESPONSE_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"
#include "common/snapshot.h"
#include "workers/dbuf.h"

struct sl_conn;

typedef struct sl_response_hook {
    const char *name;
    /* The upstream's response head is parsed (c->w->res; c->status set), and it
     * has a body. Returns true to take the body: it then reaches on_body, and
     * the head waits until the hook releases it (sl_res_release_head, or its
     * first sl_res_emit). false: the response passes untouched. */
    bool (*on_head)(struct sl_conn *c);
    /* Body bytes, de-chunked, in order; last: the body ends with them (exactly
     * one call says last, perhaps with no bytes). Emits what the client gets
     * with sl_res_emit. Returns false to cut the response short (the client
     * connection closes). */
    bool (*on_body)(struct sl_conn *c, sl_slice data, bool last);
    /* The request is over (answered, failed or abandoned): frees
     * c->res_hook_state. Called whether or not on_head took the body. */
    void (*release)(struct sl_conn *c);
    /* Optional: JSON members for the access log line (",\"k\":v..."), into out;
     * returns their length (0: none). */
    size_t (*log_fields)(const struct sl_conn *c, char *out, size_t cap);
    /* Optional: span attributes for the request's trace (workers/tracing.c), as
     * OTLP JSON members (",{\"key\":...,\"value\":{...}}"...) appended to b;
     * false when out of memory. */
    bool (*span_attributes)(const struct sl_conn *c, sl_dbuf *b);
    /* The Content-Type the client gets instead of the upstream's (a body the
     * hook turns into another format), or NULL to keep it. Optional. */
    const char *(*content_type)(const struct sl_conn *c);
} sl_response_hook;

/* The hook for requests to backend be (NULL: none). */
const sl_response_hook *sl_response_hook_for(const sl_snapshot *s, const sl_snap_backend *be);

/* For hooks: sends the held response head, with extra_fields ("Name: value\r\n"
 * lines, or NULL) added; length: the body's length when the hook knows it
 * (Content-Length), -1 when it streams. Once per response. */
void sl_res_release_head(struct sl_conn *c, const char *extra_fields, int64_t length);
/* For hooks: body bytes for the client (the head is released first, streaming,
 * if the hook had not). false when out of memory (the response is cut short). */
bool sl_res_emit(struct sl_conn *c, const void *data, size_t len);
/* For hooks: the same for a whole buffer, which the proxy takes over (it is
 * left empty): moved rather than copied when nothing else waits. */
bool sl_res_emit_buffer(struct sl_conn *c, sl_dbuf *b);

#endif

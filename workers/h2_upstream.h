/* HTTP/2 to backends that declare it (h2c: a Service port with appProtocol
 * kubernetes.io/h2c, or a Backend with protocol H2C), with nghttp2.
 *
 * Many requests share few connections: a worker keeps HTTP/2 sessions per
 * endpoint address and opens a stream per request, and only opens another
 * connection when the backend's SETTINGS_MAX_CONCURRENT_STREAMS is reached.
 *
 * To the proxy a stream looks like an upstream connection of its own (an
 * sl_upstream with fd -1): it writes the request as HTTP/1.1 (head, then the
 * body, chunked or not) and reads the response as HTTP/1.1 (its body chunked,
 * the HTTP/2 trailers in the chunked trailer section, which is how gRPC's
 * grpc-status reaches the client). So retries, timeouts, filters and response
 * handling are the same code for both protocols. Flow control follows the
 * proxy: a stream's response window reopens as the proxy reads, and its
 * request buffer takes bytes only while there is room. */
#ifndef SL_H2_UPSTREAM_H
#define SL_H2_UPSTREAM_H

#include "workers/worker_internal.h"

/* A stream to addr on a new or shared session. NULL (errno set) when no
 * connection can even be started. The stream is "connected" at once: requests
 * wait inside the session until the connection is up. */
sl_upstream *sl_h2up_open(sl_worker *w, const struct sockaddr_storage *addr, socklen_t len);
/* Takes request bytes (HTTP/1.1 framing). -1 with errno EAGAIN when none fit
 * now (the owner is woken when there is room), EPIPE when the stream failed. */
ssize_t sl_h2up_write(sl_upstream *u, const void *p, size_t n);
/* Gives response bytes (HTTP/1.1 framing). 0: no more will come (the end, or
 * the stream or its connection failed); -1 with errno EAGAIN: not yet. */
ssize_t sl_h2up_read(sl_upstream *u, void *buf, size_t n);
/* The proxy is done with the stream (cancelled if it is still open). */
void sl_h2up_release(sl_upstream *u);
/* Worker hooks: send queued frames (before the loop waits); close sessions
 * without streams (drain, exit). */
void sl_h2up_flush_pending(sl_worker *w);
void sl_h2up_close_idle(sl_worker *w);

#endif

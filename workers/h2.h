/* HTTP/2 towards clients (RFC 9113, with nghttp2): over TLS after ALPN "h2",
 * and in cleartext when a connection opens with the client preface (prior
 * knowledge, h2c).
 *
 * How streams reuse the HTTP/1.1 machinery: each request stream gets an sl_conn
 * of its own (no socket; c->h2s set) whose input is the request written as an
 * HTTP/1.1 message (head, then the body: as is with a content-length, chunked
 * otherwise). It is parsed, routed, filtered and proxied exactly like a request
 * read from an HTTP/1.1 socket. What the proxy would write to the client
 * socket is handed to the stream instead (sl_h2_stream_take), which parses the
 * HTTP/1.1 response it was given and turns it into HEADERS, DATA and trailing
 * HEADERS frames. Every routing, filter, retry and timeout rule therefore holds
 * for HTTP/2 by construction.
 *
 * Back-pressure: a stream's request body enters its buffer only as fast as the
 * proxy forwards it (the stream's flow-control window is reopened as the
 * buffer empties); a stream's response buffer takes bytes only while it has
 * room, and room comes back as nghttp2 sends DATA within the client's window.
 *
 * Abuse: the session allows a bounded number of concurrent streams and header
 * bytes, and closes the connection (GOAWAY ENHANCE_YOUR_CALM) on floods of
 * client stream resets (rapid reset, CVE-2023-44487) or CONTINUATION frames
 * (CVE-2024-27316 class). */
#ifndef SL_H2_H
#define SL_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

#include "workers/worker_internal.h"

typedef struct sl_h2_session sl_h2_session;
typedef struct sl_h2_stream sl_h2_stream;

/* The client connection preface (RFC 9113 3.4). */
#define SL_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define SL_H2_PREFACE_LEN 24

/* Turns the client connection c into an HTTP/2 connection; the bytes already
 * read (c->in) start with the client preface. Returns false when c was closed. */
bool sl_h2_start(sl_conn *c);

/* Socket events of an HTTP/2 connection. */
void sl_h2_io(sl_conn *c, int revents);
/* The connection's timer fired (idle, or the preface/settings not received). */
void sl_h2_timeout(sl_conn *c);
/* Frees the session and ends every stream's request (the connection closes). */
void sl_h2_free(sl_conn *c);
/* Drain: say GOAWAY, finish open streams, then close. */
void sl_h2_shutdown(sl_conn *c);

/* For a stream's sl_conn (c->h2s != NULL): */
/* Takes response bytes (HTTP/1.1 framing) written by the proxy or a local
 * answer. Returns how many were taken; -1 with errno EAGAIN when none fit now
 * (the stream calls sl_conn_flush again once there is room). */
ssize_t sl_h2_stream_take(sl_conn *c, const struct iovec *iov, int n);
/* The request ended normally (sl_conn_finish_request): the response is complete. */
void sl_h2_stream_finished(sl_conn *c);
/* The stream's sl_conn is going away (sl_conn_close): resets the stream unless
 * its response was complete, and frees the request side. */
void sl_h2_stream_conn_closed(sl_conn *c);
/* Called on every state change: reopens the flow-control window as the request
 * buffer empties. */
void sl_h2_stream_update(sl_conn *c);
/* True when the request is a gRPC call (content-type application/grpc...):
 * local errors are then answered as gRPC statuses. */
bool sl_h2_stream_is_grpc(const sl_conn *c);

/* Socket events the connection waits for. */
int sl_h2_events(sl_conn *c);
/* The TLS session a request arrived on (the connection's, for a stream). */
SSL *sl_h2_stream_ssl(const sl_conn *c);

/* Worker hook (ev_prepare): sends what sessions have queued. */
void sl_h2_flush_pending(sl_worker *w);

#endif

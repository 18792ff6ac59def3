/* A worker's HTTP client, for calls that a policy makes while a request waits
 * (extAuth): libcurl's multi interface driven by the worker's libev loop, so a
 * call never blocks the loop, and libcurl's connection cache keeps connections
 * to each service alive and reuses them.
 *
 * A call's completion is always reported from the loop, never from inside
 * sl_http_call_start, so a caller can start a call and return. */
#ifndef SL_HTTP_CLIENT_H
#define SL_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
typedef struct sl_http_call sl_http_call;

#define SL_HTTP_REPLY_MAX_BODY 65536   /* a longer reply body fails the call */
#define SL_HTTP_REPLY_MAX_HEADERS 16384
#define SL_HTTP_ERROR_SIZE 256 /* libcurl's CURL_ERROR_SIZE, without its header here */

typedef struct sl_http_reply {
    long status;        /* 0 when the call failed (then error says why) */
    bool bad_request;   /* ...because the call itself was malformed (its URL), not the service */
    char error[SL_HTTP_ERROR_SIZE]; /* why it failed */
    char *headers;      /* the reply's header lines, "Name: value\r\n"..., NUL-terminated */
    size_t headers_len;
    char *body;         /* NUL-terminated */
    size_t body_len;
} sl_http_reply;

/* Called once when the call is over (reply->status 0: it failed); the call is
 * freed after it returns. */
typedef void (*sl_http_done)(const sl_http_reply *reply, void *arg);

/* Starts a call: method, absolute http(s) URL, request header lines
 * ("Name: value", each NUL-terminated, nheaders of them), no body. Returns
 * NULL when the call cannot start (out of memory). */
sl_http_call *sl_http_call_start(struct ev_loop *loop, const char *method, const char *url,
                                 const char *const *headers, size_t nheaders, uint32_t timeout_ms,
                                 sl_http_done done, void *arg);

/* ...with a request body (copied; NULL: none) and a limit of its own on the
 * reply's body. The method is sent as given (POST for a body). */
sl_http_call *sl_http_call_post(struct ev_loop *loop, const char *method, const char *url,
                                const char *const *headers, size_t nheaders, const void *body, size_t body_len,
                                size_t max_reply, uint32_t timeout_ms, sl_http_done done, void *arg);

/* A streamed call's body bytes, as they arrive (reply: the status and the
 * header lines; its body is not kept). Called from the loop; it may cancel the
 * call (then done is never called). */
typedef void (*sl_http_chunk)(const sl_http_reply *reply, const char *data, size_t len, void *arg);

/* ...whose reply body goes to chunk as it arrives instead of being kept:
 * done then reports the end (or the failure) with an empty body. max_burst
 * bounds the bytes that may arrive between two turns of the loop. */
sl_http_call *sl_http_call_stream(struct ev_loop *loop, const char *method, const char *url,
                                  const char *const *headers, size_t nheaders, const void *body, size_t body_len,
                                  size_t max_burst, uint32_t timeout_ms, sl_http_chunk chunk, sl_http_done done,
                                  void *arg);

/* Abandons a call that has not completed: done is never called. */
void sl_http_call_cancel(sl_http_call *call);

/* Calls in flight in this worker (for tests and metrics). */
unsigned sl_http_calls_in_flight(void);

#endif

/* Request buffering: see proxy_buffer.c. */
#ifndef SL_PROXY_BUFFER_H
#define SL_PROXY_BUFFER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sl_conn sl_conn;

/* Decides whether c's request body is read whole before the upstream is
 * connected (Content-Length body up to --request-buffer-bytes, not yet all
 * here) and, if so, makes c->in large enough and sets c->buffering. Returns
 * true when buffering started. */
bool sl_proxy_buffer_begin(sl_conn *c);
/* True once the whole buffered body is in c->in. */
bool sl_proxy_buffer_complete(const sl_conn *c);
/* When the client's request body is overdue: --body-idle-timeout after its
 * last byte, or --body-timeout after the request started, whichever is first. */
uint64_t sl_proxy_body_deadline(const sl_conn *c);

#endif

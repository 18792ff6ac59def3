/* Shared by both ends of HTTP/2 (h2_session.c towards clients, h2_upstream.c
 * towards backends): moving the frames nghttp2 has serialised into a
 * connection's output buffer. */
#ifndef SL_H2_OUT_H
#define SL_H2_OUT_H

#include <nghttp2/nghttp2.h>

#include "workers/worker_internal.h"

/* Copies queued frames into out while it has room and holds less than
 * fill_to bytes. A chunk that did not fit
 * whole stays in *pending / *pending_len and goes first next time (nghttp2
 * owns that memory until the next nghttp2_session_mem_send). Returns 0, or
 * the nghttp2 error code (negative) that ends the session. */
int sl_h2_mem_send_into(nghttp2_session *ng, sl_buf *out, size_t fill_to, const uint8_t **pending, size_t *pending_len);

#endif

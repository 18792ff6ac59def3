/* Request buffering (as nginx's proxy_request_buffering): a request body of
 * known length up to --request-buffer-bytes is read whole before the upstream
 * is chosen and connected, so a slow client costs memory here instead of a
 * connection on the backend. Larger bodies, chunked bodies, HTTP/2 streams
 * (flow-controlled per stream) and protocol upgrades stream as before. */
#include <string.h>

#include "common/settings.h"
#include "workers/conn.h"
#include "workers/proxy_buffer.h"

bool sl_proxy_buffer_begin(sl_conn *c)
{
    uint64_t limit = (uint64_t)sl_setting(SL_SET_REQUEST_BUFFER_BYTES);
    const sl_body *rb = &c->req_body;
    if (limit == 0 || c->h2s || c->upgrade_requested || rb->done || rb->kind != SL_BODY_LENGTH ||
        rb->remaining > limit || sl_buf_len(&c->in) >= rb->remaining)
        return false;
    /* Room for the whole body after what is already here; the bytes before
     * c->in.start (the consumed head) are not needed any more. */
    size_t have = sl_buf_len(&c->in);
    size_t need = (size_t)rb->remaining + 4096;
    if (need > sl_buf_room(&c->in) + have) {
        sl_buf bigger = {0};
        size_t cap = need > sl_cbuf_size() ? need : sl_cbuf_size();
        if (sl_buf_alloc(&bigger, cap) != 0)
            return false; /* out of memory: stream it instead */
        memcpy(bigger.data, c->in.data + c->in.start, have);
        bigger.end = have;
        sl_cbuf_put(c->w, &c->in);
        c->in = bigger;
    } else {
        sl_buf_compact(&c->in);
    }
    c->buffering = true;
    return true;
}

bool sl_proxy_buffer_complete(const sl_conn *c)
{
    return sl_buf_len(&c->in) >= c->req_body.remaining;
}

uint64_t sl_proxy_body_deadline(const sl_conn *c)
{
    uint64_t idle = c->last_client_ms + (uint64_t)sl_setting(SL_SET_BODY_IDLE_TIMEOUT_MS);
    uint64_t total = c->started_ms + (uint64_t)sl_setting(SL_SET_BODY_TIMEOUT_MS);
    return idle < total ? idle : total;
}

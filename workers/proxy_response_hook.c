/* The proxy's side of response body hooks (response_hook.h): the held head,
 * the framing of what a hook emits, and the choice of hook per backend. The
 * feeding of body bytes to the hook is in proxy.c, next to the body scanner. */
#include <stdio.h>
#include <string.h>

#include "workers/a2a.h"
#include "workers/ai.h"
#include "workers/conn.h"
#include "workers/filters.h"
#include "workers/response_hook.h"

const sl_response_hook *sl_response_hook_for(const sl_snapshot *s, const sl_snap_backend *be)
{
    (void)s;
    /* The one list of hooks: AI backends' accounting (and, as they come,
     * provider translation and guards). */
    if (be->ai_provider)
        return &sl_ai_response_hook;
    if (be->a2a)
        return &sl_a2a_response_hook; /* the agent card's URLs */
    return NULL;
}

void sl_res_head_end(sl_conn *c, sl_buf *b)
{
    if (c->close_after || !c->keep_alive || c->w->draining)
        sl_buf_append(b, "Connection: close\r\n", 19);
    else if (c->version_minor == 0)
        sl_buf_append(b, "Connection: keep-alive\r\n", 24);
    sl_buf_append(b, "\r\n", 2);
}

bool sl_res_hook_take(sl_conn *c)
{
    if (!c->res_hook || c->tunnel || c->res_body.kind == SL_BODY_NONE || c->method == SL_HTTP1_METHOD_HEAD)
        return false;
    if (!c->res_hook->on_head(c))
        return false;
    if (sl_cbuf_get(c->w, &c->res_held) != 0)
        return false; /* out of memory: it passes untouched rather than failing */
    c->res_hooked = true;
    c->res_head_held = true;
    c->res_hook_last = false;
    c->res_out_chunked = false;
    if (c->res_body.kind == SL_BODY_CHUNKED)
        c->res_body.dechunk = true;
    /* The head as the client would get it, less its framing (the hook's output
     * has its own): filters.c leaves Content-Length out for a hooked response. */
    sl_filters_response_head(c, &c->res_held);
    return true;
}

void sl_res_release_head(sl_conn *c, const char *extra_fields, int64_t length)
{
    if (!c->res_head_held)
        return;
    c->res_head_held = false;
    sl_buf *b = &c->out;
    sl_buf_append(b, c->res_held.data + c->res_held.start, sl_buf_len(&c->res_held));
    sl_cbuf_put(c->w, &c->res_held);
    if (extra_fields)
        sl_buf_puts(b, extra_fields);
    if (length >= 0) {
        sl_buf_append(b, "Content-Length: ", 16);
        sl_buf_put_uint(b, (uint64_t)length);
        sl_buf_append(b, "\r\n", 2);
    } else if (c->version_minor == 0) {
        c->close_after = true; /* HTTP/1.0 knows no chunked: the end is the close */
    } else {
        sl_buf_append(b, "Transfer-Encoding: chunked\r\n", 28);
        c->res_out_chunked = true;
    }
    sl_res_head_end(c, b);
}

bool sl_res_emit(sl_conn *c, const void *data, size_t len)
{
    if (c->res_head_held)
        sl_res_release_head(c, NULL, -1);
    if (len == 0)
        return true;
    if (!c->res_out_chunked)
        return sl_dbuf_append(&c->res_out, data, len);
    char size[24];
    int n = snprintf(size, sizeof(size), "%zx\r\n", len);
    return sl_dbuf_append(&c->res_out, size, (size_t)n) && sl_dbuf_append(&c->res_out, data, len) &&
           sl_dbuf_append(&c->res_out, "\r\n", 2);
}

bool sl_res_emit_buffer(sl_conn *c, sl_dbuf *b)
{
    if (c->res_head_held)
        sl_res_release_head(c, NULL, -1);
    if (!c->res_out_chunked && sl_dbuf_len(&c->res_out) == 0) {
        sl_dbuf_free(&c->res_out);
        c->res_out = *b;
        *b = (sl_dbuf){0};
        return true;
    }
    bool ok = sl_res_emit(c, b->data + b->start, sl_dbuf_len(b));
    sl_dbuf_free(b);
    return ok;
}

void sl_res_hook_end(sl_conn *c)
{
    if (c->res_hook && c->res_hook->release)
        c->res_hook->release(c);
    c->res_hook = NULL;
    c->res_hook_state = NULL;
    c->res_hooked = c->res_head_held = c->res_hook_last = c->res_out_chunked = false;
    sl_cbuf_put(c->w, &c->res_held);
    sl_dbuf_free(&c->res_out);
}

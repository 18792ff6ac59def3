/* A response of our own whose body is written as it is made: a head, then
 * chunks (HTTP/1.1 chunked framing; an HTTP/2 stream turns them into DATA
 * frames), then the end. The MCP gateway streams a target's notifications to
 * its client this way while the call runs (workers/mcp_gateway.c). The
 * request waits in state SL_CONN_POLICY meanwhile (the socket is read only for
 * the client's leaving: watch_eof). A client that does not read its stream is
 * dropped once more than SL_CONN_STREAM_MAX bytes wait for it. */
#include <stdio.h>
#include <string.h>

#include "workers/conn.h"

#define SL_CONN_STREAM_MAX (4u << 20)

bool sl_conn_can_stream(const sl_conn *c) { return c->h2s || c->version_minor >= 1; }

/* Room for n more bytes in c->out: compacted, or moved to a larger buffer of its own. */
static bool reserve(sl_conn *c, size_t n)
{
    if (sl_cbuf_get(c->w, &c->out) != 0)
        return false;
    if (sl_buf_room(&c->out) >= n)
        return true;
    sl_buf_compact(&c->out);
    if (sl_buf_room(&c->out) >= n)
        return true;
    /* The limit is on what the client has not taken yet: a large piece for a reader that keeps up is fine. */
    if (sl_buf_len(&c->out) > SL_CONN_STREAM_MAX)
        return false;
    size_t need = sl_buf_len(&c->out) + n;
    sl_buf grown = {0};
    if (sl_buf_alloc(&grown, need * 2 > SL_CONN_STREAM_MAX ? need : need * 2) != 0)
        return false;
    sl_buf_append(&grown, c->out.data + c->out.start, sl_buf_len(&c->out));
    sl_cbuf_put(c->w, &c->out);
    c->out = grown;
    return true;
}

/* Writes what waits; false when the connection closed (c is gone). */
static bool push(sl_conn *c)
{
    if (!sl_conn_flush(c))
        return false;
    sl_conn_update(c);
    return true;
}

bool sl_conn_stream_begin(sl_conn *c, int status, const char *headers)
{
    size_t n = strlen(headers) + 128;
    if (!reserve(c, n)) {
        sl_conn_close(c);
        return false;
    }
    sl_buf_printf(&c->out, "HTTP/1.1 %d %s\r\n%sTransfer-Encoding: chunked\r\n%s\r\n", status, sl_http_reason(status),
                  headers, c->keep_alive ? "" : "Connection: close\r\n");
    c->status = status;
    return push(c);
}

bool sl_conn_stream_write(sl_conn *c, const char *data, size_t len)
{
    if (len == 0)
        return true;
    if (!reserve(c, len + 24)) {
        sl_conn_close(c); /* a client that does not read: dropped, not buffered without end */
        return false;
    }
    sl_buf_printf(&c->out, "%zx\r\n", len);
    sl_buf_append(&c->out, data, len);
    sl_buf_append(&c->out, "\r\n", 2);
    c->bytes_out += len;
    return push(c);
}

void sl_conn_stream_end(sl_conn *c)
{
    if (!reserve(c, 8)) {
        sl_conn_close(c);
        return;
    }
    sl_buf_append(&c->out, "0\r\n\r\n", 5);
    c->state = SL_CONN_LOCAL; /* the request finishes once this is written */
    if (sl_conn_flush(c))
        sl_conn_update(c);
}

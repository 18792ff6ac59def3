/* One HTTP/2 request stream: its header fields become an HTTP/1.1 request head
 * for the stream's sl_conn, its DATA frames the request body; the HTTP/1.1
 * response the proxy writes back is parsed and sent as HEADERS, DATA and
 * trailing HEADERS frames (gRPC status trailers ride in the chunked trailer
 * section between the two). See h2.h for why. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/settings.h"
#include "workers/h2_internal.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

static bool name_is(const uint8_t *name, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(name, lit, n) == 0;
}

static char *dup_value(const uint8_t *v, size_t len)
{
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, v, len);
        s[len] = '\0';
    }
    return s;
}

sl_h2_stream *sl_h2_stream_new(sl_h2_session *s, int32_t id)
{
    sl_h2_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->sess = s;
    st->id = id;
    st->next = s->streams;
    if (s->streams)
        s->streams->prev = st;
    s->streams = st;
    s->nstreams++;
    return st;
}

void sl_h2_stream_free(sl_h2_stream *st)
{
    sl_h2_session *s = st->sess;
    sl_worker *w = s->c->w;
    st->closed = true;
    if (st->conn) {
        sl_conn *c = st->conn;
        /* A Content-Length body leaves from the upstream buffer (borrow), so its
         * last DATA frame can end the stream before the request has noticed that
         * it is complete: it then finishes normally (logged, upstream reused). */
        if (c->state == SL_CONN_PROXY && sl_proxy_complete(c))
            sl_conn_finish_request(c);
        else
            sl_conn_close(c); /* the client reset it, or the connection went */
    }
    if (st->prev)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    s->nstreams--;
    sl_cbuf_put(w, &st->fields);
    sl_cbuf_put(w, &st->rhead);
    sl_bodybuf_put(w, &st->data);
    free(st->path);
    free(st->authority);
    free(st->cookie);
    free(st);
}

/* ---- the request ---- */

int sl_h2_stream_header(sl_h2_stream *st, const uint8_t *name, size_t namelen, const uint8_t *value,
                        size_t valuelen)
{
    size_t limit = (size_t)sl_setting(SL_SET_MAX_HEAD_BYTES);
    st->head_bytes += namelen + valuelen + 4;
    if (st->head_bytes > 4 * limit)
        return NGHTTP2_ERR_CALLBACK_FAILURE; /* an endless header block: drop the connection */
    if (st->head_bytes > limit)
        st->too_large = true; /* answered with 431 once the block ends */
    if (st->too_large)
        return 0;
    if (namelen && name[0] == ':') {
        if (name_is(name, namelen, ":method")) {
            if (valuelen > SL_HTTP1_METHOD_MAX) {
                st->too_large = true;
                return 0;
            }
            memcpy(st->method, value, valuelen);
            st->method[valuelen] = '\0';
        } else if (name_is(name, namelen, ":path")) {
            free(st->path);
            st->path = dup_value(value, valuelen);
        } else if (name_is(name, namelen, ":authority")) {
            free(st->authority);
            st->authority = dup_value(value, valuelen);
        } else if (name_is(name, namelen, ":protocol")) {
            if (valuelen == 9 && strncasecmp((const char *)value, "websocket", 9) == 0)
                st->websocket = true;
            else
                st->bad_protocol = true;
        }
        /* :scheme is ours to know. */
        return 0;
    }
    if (name_is(name, namelen, "host")) {
        if (!st->authority) /* :authority wins when both are present (RFC 9113 8.3.1) */
            st->authority = dup_value(value, valuelen);
        return 0;
    }
    if (name_is(name, namelen, "cookie")) {
        /* HTTP/2 may split cookies into one field per crumb; HTTP/1.1 wants one. */
        size_t old = st->cookie ? strlen(st->cookie) : 0;
        char *joined = realloc(st->cookie, old + valuelen + 3);
        if (!joined)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        if (old)
            memcpy(joined + old, "; ", 2), old += 2;
        memcpy(joined + old, value, valuelen);
        joined[old + valuelen] = '\0';
        st->cookie = joined;
        return 0;
    }
    /* TE (only "trailers" passes nghttp2) is hop-by-hop; an Expect would wait for
     * a 100 that the stream does not need. */
    if (name_is(name, namelen, "te") || name_is(name, namelen, "expect"))
        return 0;
    if (name_is(name, namelen, "content-length"))
        st->has_content_length = true;
    if (name_is(name, namelen, "content-type") && valuelen >= 16 &&
        strncasecmp((const char *)value, "application/grpc", 16) == 0)
        st->grpc = true;
    sl_worker *w = st->sess->c->w;
    if (sl_cbuf_get(w, &st->fields) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (sl_buf_room(&st->fields) < namelen + valuelen + 4) {
        st->too_large = true;
        return 0;
    }
    sl_buf_append(&st->fields, name, namelen);
    sl_buf_append(&st->fields, ": ", 2);
    sl_buf_append(&st->fields, value, valuelen);
    sl_buf_append(&st->fields, "\r\n", 2);
    return 0;
}

/* Writes the request as an HTTP/1.1 head into c->in. A WebSocket extended
 * CONNECT becomes the HTTP/1.1 Upgrade request (RFC 8441 section 5), with a
 * Sec-WebSocket-Key of our own since HTTP/2 clients send none. */
static bool write_head(sl_h2_stream *st, sl_conn *c)
{
    sl_buf *b = &c->in;
    const char *target = st->path ? st->path : "/";
    if (st->websocket) {
        unsigned char raw[16];
        char key[32];
        RAND_bytes(raw, sizeof(raw));
        EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
        if (!sl_buf_printf(b, "GET %s HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: %s\r\n",
                           target, key))
            return false;
    } else {
        if (strcmp(st->method, "CONNECT") == 0)
            target = st->authority ? st->authority : "";
        if (!sl_buf_printf(b, "%s %s HTTP/1.1\r\n", st->method, target))
            return false;
    }
    if (st->authority && !sl_buf_printf(b, "Host: %s\r\n", st->authority))
        return false;
    if (st->fields.data && !sl_buf_append(b, st->fields.data + st->fields.start, sl_buf_len(&st->fields)))
        return false;
    if (st->cookie && !sl_buf_printf(b, "Cookie: %s\r\n", st->cookie))
        return false;
    if (st->req_chunked && !sl_buf_append(b, "Transfer-Encoding: chunked\r\n", 28))
        return false;
    return sl_buf_append(b, "\r\n", 2);
}

void sl_h2_stream_begin(sl_h2_stream *st, bool end_stream)
{
    sl_h2_session *s = st->sess;
    sl_worker *w = s->c->w;
    st->req_end = end_stream;
    st->req_chunked = !end_stream && !st->has_content_length && !st->websocket;
    sl_conn *c = sl_conn_new_stream(s->c, st);
    if (!c) {
        nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    st->conn = c;
    /* A request with a body gets a buffer with room for a whole window of it. */
    int rc = end_stream ? sl_cbuf_get(w, &c->in)
                        : sl_buf_alloc(&c->in, sl_cbuf_size() + SL_H2_STREAM_WINDOW + SL_H2_FRAMING_SLACK);
    st->big_in = !end_stream && rc == 0;
    if (rc != 0) {
        sl_conn_close(c);
        return;
    }
    if (st->bad_protocol || (strcmp(st->method, "CONNECT") == 0 && !st->websocket)) {
        /* Plain CONNECT (a forward proxy's job) and protocols other than
         * websocket are not ours to tunnel. */
        c->started_ms = sl_now_ms();
        c->started_us = sl_now_us();
        snprintf(c->log_method, sizeof(c->log_method), "%.15s", st->method);
        sl_conn_respond(c, 501, "CONNECT is only supported for :protocol websocket\n", true);
        return;
    }
    if (st->too_large || !write_head(st, c)) {
        c->in.start = c->in.end = 0;
        c->started_ms = sl_now_ms();
        c->started_us = sl_now_us();
        snprintf(c->log_method, sizeof(c->log_method), "%.15s", st->method);
        atomic_fetch_add(&w->slot->bad_requests, 1);
        sl_conn_respond(c, 431, "request header fields too large\n", true);
        return;
    }
    sl_cbuf_put(w, &st->fields);
    sl_conn_process_input(c);
}

/* Appends a run of body bytes (with chunk framing when the body is chunked).
 * Returns false when it does not fit. */
static bool append_body(sl_h2_stream *st, const uint8_t *data, size_t len)
{
    sl_conn *c = st->conn;
    size_t need = len + (st->req_chunked ? SL_HTTP1_CHUNK_HEADER_MAX + 2 : 0);
    if (sl_buf_room(&c->in) < need && c->in.start) {
        c->replay_len = -1; /* the body moves: no resending from here on */
        sl_buf_compact(&c->in);
    }
    if (sl_buf_room(&c->in) < need)
        return false;
    if (st->req_chunked) {
        if (len == 0)
            return true;
        char hdr[SL_HTTP1_CHUNK_HEADER_MAX];
        size_t hl = sl_http1_chunk_header(hdr, len);
        sl_buf_append(&c->in, hdr, hl);
        sl_buf_append(&c->in, data, len);
        sl_buf_append(&c->in, SL_HTTP1_CHUNK_END, 2);
    } else {
        sl_buf_append(&c->in, data, len);
    }
    st->unacked += len;
    c->last_client_ms = sl_now_ms();
    return true;
}

static bool append_last_chunk(sl_h2_stream *st)
{
    sl_conn *c = st->conn;
    if (!st->req_chunked)
        return true;
    if (sl_buf_room(&c->in) < 5 && c->in.start) {
        c->replay_len = -1;
        sl_buf_compact(&c->in);
    }
    return sl_buf_append(&c->in, SL_HTTP1_LAST_CHUNK, 5);
}

int sl_h2_stream_data(sl_h2_stream *st, const uint8_t *data, size_t len)
{
    sl_conn *c = st->conn;
    c->bytes_in += len;
    if (c->state != SL_CONN_PROXY && c->state != SL_CONN_POLICY) {
        /* Answered already (a local response): the body goes nowhere. */
        nghttp2_session_consume_stream(st->sess->ng, st->id, len);
        return 0;
    }
    if (!append_body(st, data, len)) {
        /* More framing than the slack allows (a client sending tiny frames):
         * hold this chunk and stop reading the connection until it fits. */
        st->held = data;
        st->held_len = len;
        st->sess->paused = true;
        return NGHTTP2_ERR_PAUSE;
    }
    if (c->state == SL_CONN_PROXY) /* while a policy waits the body only gathers */
        sl_proxy_client_event(c);
    return 0;
}

void sl_h2_stream_end(sl_h2_stream *st)
{
    st->req_end = true;
    sl_conn *c = st->conn;
    if (!c || (c->state != SL_CONN_PROXY && c->state != SL_CONN_POLICY))
        return;
    bool waiting = c->state == SL_CONN_POLICY; /* then the body only gathers */
    if (st->websocket) {
        /* The client ended its half of the tunnel: like a TCP close. */
        c->client_eof = true;
        if (!waiting)
            sl_proxy_client_event(c);
        return;
    }
    if (st->held || !append_last_chunk(st)) {
        st->end_pending = true;
        return;
    }
    if (!waiting)
        sl_proxy_client_event(c);
}

void sl_h2_stream_update(sl_conn *c)
{
    sl_h2_stream *st = c->h2s;
    sl_h2_session *s = st->sess;
    if (st->held && append_body(st, st->held, st->held_len)) {
        st->held = NULL;
        st->wake = true;
        sl_h2_session_unpause(s);
        sl_h2_session_schedule(s);
    }
    if (st->end_pending && !st->held && append_last_chunk(st)) {
        st->end_pending = false;
        st->wake = true;
        sl_h2_session_schedule(s);
    }
    /* The window reopens once what is buffered could not stop a whole window
     * more from fitting: the client never sends more than the buffer holds. */
    if (st->unacked && !st->held && sl_buf_len(&c->in) <= sl_cbuf_size()) {
        nghttp2_session_consume_stream(s->ng, st->id, st->unacked);
        st->unacked = 0;
        sl_h2_session_schedule(s);
    }
}

void sl_h2_stream_wake(sl_h2_stream *st)
{
    sl_conn *c = st->conn;
    if (c->state == SL_CONN_PROXY)
        sl_proxy_client_event(c);
    else if (sl_conn_flush(c))
        sl_conn_update(c);
}

bool sl_h2_stream_is_grpc(const sl_conn *c) { return c->h2s && c->h2s->grpc; }

SSL *sl_h2_stream_ssl(const sl_conn *c) { return c->h2s ? c->h2s->sess->c->ssl : c->ssl; }

/* ---- the response ---- */

/* Parses the trailer section captured after the last data run (the last-chunk
 * line, then field lines) into nva. Returns the number of fields. */
static size_t parse_trailers(sl_h2_stream *st, nghttp2_nv *nva, size_t cap)
{
    char *p = st->rhead.data ? st->rhead.data + st->rhead.start : NULL;
    char *end = p ? st->rhead.data + st->rhead.end : NULL;
    size_t n = 0;
    bool seen_last_chunk = false;
    while (p && p < end && n < cap) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        char *line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        if (line_end > p) {
            if (!seen_last_chunk) {
                seen_last_chunk = true;
            } else {
                char *colon = memchr(p, ':', (size_t)(line_end - p));
                if (colon) {
                    for (char *q = p; q < colon; q++)
                        if (*q >= 'A' && *q <= 'Z')
                            *q = (char)(*q - 'A' + 'a');
                    char *v = colon + 1;
                    while (v < line_end && (*v == ' ' || *v == '\t'))
                        v++;
                    char *ve = line_end;
                    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                        ve--;
                    nva[n++] = (nghttp2_nv){(uint8_t *)p, (uint8_t *)v, (size_t)(colon - p), (size_t)(ve - v),
                                            NGHTTP2_NV_FLAG_NONE};
                }
            }
        }
        p = eol + 1;
    }
    return n;
}

/* Body bytes of a borrowing stream ready in its request's upstream buffer (none
 * while bytes copied earlier wait in `data`: those go first). The pointer is
 * found anew each time, since the buffer may be compacted between frames. */
static size_t borrowable(sl_h2_stream *st, const char **ptr)
{
    sl_conn *c = st->conn;
    if (!st->borrow || !c || c->state != SL_CONN_PROXY || sl_buf_len(&st->data))
        return 0;
    size_t n = sl_proxy_pending_body(c, ptr);
    return n < st->body_left ? n : (size_t)st->body_left;
}

/* DATA frames are not copied into nghttp2: read_data only says how many bytes
 * the next frame carries (NGHTTP2_DATA_FLAG_NO_COPY), and sl_h2_send_data
 * writes them, when the frame goes out, into the connection's output straight
 * from the stream's buffer or, for a Content-Length body, from the proxy's
 * upstream buffer. */
static ssize_t read_data(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *ud)
{
    sl_h2_stream *st = source->ptr;
    const char *unused;
    size_t have = sl_buf_len(&st->data);
    size_t avail = have ? have : borrowable(st, &unused);
    size_t n = avail < length ? avail : length;
    if (!have && st->borrow) {
        size_t fill = sl_h2_record_payload_max(st->sess);
        if (n > fill && avail >= SL_H2_DIRECT_MIN)
            n = fill; /* the frame ends where a full TLS record does */
    }
    if (n)
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    bool last = st->body_end ? have == n : (st->borrow && !have && n > 0 && n == st->body_left);
    if (last) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        nghttp2_nv nva[SL_HTTP1_DEFAULT_MAX_TRAILERS];
        size_t nt = parse_trailers(st, nva, sizeof(nva) / sizeof(nva[0]));
        if (nt && nghttp2_submit_trailer(ng, id, nva, nt) == 0)
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        return (ssize_t)n;
    }
    if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

int sl_h2_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd, size_t length,
                    nghttp2_data_source *source, void *ud)
{
    sl_h2_session *s = ud;
    sl_h2_stream *st = source->ptr;
    if (sl_buf_len(&s->out) >= SL_TLS_RECORD_MAX)
        return NGHTTP2_ERR_WOULDBLOCK; /* a record's worth waits: the socket first */
    const char *src;
    bool borrowed = !sl_buf_len(&st->data) && borrowable(st, &src) >= length;
    int direct = 0;
    if (borrowed) {
        sl_conn *c = st->conn;
        direct = sl_h2_write_frame_direct(s, framehd, (char *)src, length, (size_t)(src - c->uin.data));
        if (direct < 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE; /* the connection failed: it closes */
    }
    if (!direct) {
        if (sl_buf_room(&s->out) < 9 + length)
            sl_buf_compact(&s->out);
        if (sl_buf_room(&s->out) < 9 + length)
            return NGHTTP2_ERR_WOULDBLOCK; /* asked again once the socket took some */
        sl_buf_append(&s->out, framehd, 9);
    }
    if (sl_buf_len(&st->data)) {
        sl_buf_append(&s->out, st->data.data + st->data.start, length);
        st->data.start += length;
        if (sl_buf_len(&st->data) == 0)
            st->data.start = st->data.end = 0;
    } else if (borrowed) {
        /* The bytes leave the upstream buffer here, as a write would take them. */
        if (!direct)
            sl_buf_append(&s->out, src, length);
        sl_conn *c = st->conn;
        atomic_fetch_add(&c->w->slot->bytes_out, (uint64_t)length);
        sl_proxy_body_written(c, length);
        st->body_left -= length;
        if (st->body_left == 0)
            st->body_end = true;
    } else {
        return NGHTTP2_ERR_CALLBACK_FAILURE; /* read_data promised bytes that are gone */
    }
    st->wake = true;
    return 0;
}

/* More DATA bytes (or their end) are ready: nghttp2 should ask again. */
static void data_ready(sl_h2_stream *st)
{
    if (st->deferred) {
        st->deferred = false;
        nghttp2_session_resume_data(st->sess->ng, st->id);
    }
    sl_h2_session_schedule(st->sess);
}

/* Sends the response HEADERS from the parsed head (names lower-cased in place,
 * connection-specific fields dropped). */
static int submit_head(sl_h2_stream *st, const sl_http1_response *res)
{
    nghttp2_nv nva[SL_HTTP1_HEADERS_CAP + 1];
    char status[4];
    snprintf(status, sizeof(status), "%03d", res->code);
    size_t n = 0;
    nva[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < res->nheaders; i++) {
        const sl_http1_header *h = &res->headers[i];
        if (h->hop || (res->code == 200 && st->websocket && sl_slice_ieq_cstr(h->name, "sec-websocket-accept")))
            continue;
        char *name = (char *)h->name.ptr;
        for (size_t k = 0; k < h->name.len; k++)
            if (name[k] >= 'A' && name[k] <= 'Z')
                name[k] = (char)(name[k] - 'A' + 'a');
        nva[n++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)h->value.ptr, h->name.len, h->value.len,
                                NGHTTP2_NV_FLAG_NONE};
    }
    bool body = res->body == SL_HTTP1_BODY_CHUNKED || res->body == SL_HTTP1_BODY_CLOSE ||
                (res->body == SL_HTTP1_BODY_LENGTH && res->content_length > 0);
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_data};
    return nghttp2_submit_response(st->sess->ng, st->id, nva, n, body ? &prd : NULL);
}

/* Takes head bytes until the head is complete. Returns the bytes used, or -1. */
static ssize_t take_head(sl_h2_stream *st, sl_conn *c, const char *p, size_t len)
{
    sl_worker *w = c->w;
    if (sl_cbuf_get(w, &st->rhead) != 0)
        return -1;
    size_t before = sl_buf_len(&st->rhead);
    size_t k = sl_buf_room(&st->rhead) < len ? sl_buf_room(&st->rhead) : len;
    if (k == 0)
        return -1;
    sl_buf_append(&st->rhead, p, k);
    sl_http1_response *res = &w->h2res;
    int rc = sl_http1_parse_response(st->rhead.data, sl_buf_len(&st->rhead), &st->rscan, res, &w->limits, c->method);
    if (rc == SL_AGAIN)
        return (ssize_t)k;
    bool tunnel = st->websocket && rc == SL_OK && res->code == 101;
    if (rc == SL_ERR || (res->code < 200 && !tunnel)) {
        sl_log_warn("h2", "stream %d: cannot convert the response: %s", st->id, res->error ? res->error : "1xx");
        return -1;
    }
    st->head_done = true;
    st->body_kind = tunnel ? SL_HTTP1_BODY_CLOSE : res->body;
    st->body_left = res->content_length;
    /* (A hooked response's bytes are the hook's output, not the upstream buffer's.) */
    st->borrow = !tunnel && res->body == SL_HTTP1_BODY_LENGTH && res->content_length > 0 && c->state == SL_CONN_PROXY &&
                 !c->res_hooked;
    if (tunnel) {
        /* 101 Switching Protocols is 200 on an extended CONNECT; the tunnel's
         * bytes follow as DATA until either side ends the stream. */
        res->code = 200;
        res->body = SL_HTTP1_BODY_CLOSE;
    }
    if (res->body == SL_HTTP1_BODY_CHUNKED)
        sl_http1_chunked_init(&st->chunked, &w->limits);
    if (res->body == SL_HTTP1_BODY_NONE || (res->body == SL_HTTP1_BODY_LENGTH && res->content_length == 0))
        st->body_end = true;
    if (submit_head(st, res) != 0)
        return -1;
    sl_h2_session_schedule(st->sess);
    size_t used = res->head_len - before;
    st->rhead.start = st->rhead.end = 0; /* from now on: the trailer capture */
    return (ssize_t)used;
}

/* Takes body bytes into the DATA buffer, as far as it has room. Returns the
 * bytes used, or -1 on a framing error. */
static ssize_t take_body(sl_h2_stream *st, const char *p, size_t len)
{
    if (st->body_end || st->body_kind == SL_HTTP1_BODY_NONE)
        return (ssize_t)len; /* nothing more belongs to this response */
    sl_conn *c = st->conn;
    if (st->borrow && c && p >= c->uin.data && p < c->uin.data + c->uin.cap)
        return 0; /* left where it is: the DATA frames are written from there */
    if (sl_bodybuf_get(st->sess->c->w, &st->data) != 0)
        return -1;
    if (sl_buf_room(&st->data) == 0)
        sl_buf_compact(&st->data);
    size_t room = sl_buf_room(&st->data);
    if (room == 0)
        return 0;
    if (st->body_kind != SL_HTTP1_BODY_CHUNKED) {
        size_t k = len < room ? len : room;
        if (st->body_kind == SL_HTTP1_BODY_LENGTH && k > st->body_left)
            k = (size_t)st->body_left;
        sl_buf_append(&st->data, p, k);
        if (st->body_kind == SL_HTTP1_BODY_LENGTH) {
            st->body_left -= k;
            if (st->body_left == 0)
                st->body_end = true;
        }
        return (ssize_t)k;
    }
    size_t used = 0;
    while (used < len && sl_buf_room(&st->data)) {
        size_t in = len - used < sl_buf_room(&st->data) ? len - used : sl_buf_room(&st->data);
        size_t consumed = 0;
        sl_slice data;
        int rc = sl_http1_chunked_parse(&st->chunked, p + used, in, &consumed, &data);
        if (rc == SL_ERR)
            return -1;
        if (data.len) {
            st->rhead.start = st->rhead.end = 0; /* framing before data is no trailer */
            sl_buf_append(&st->data, data.ptr, data.len);
        } else if (st->rhead.data) {
            sl_buf_append(&st->rhead, p + used, consumed); /* dropped if it does not fit */
        }
        used += consumed;
        if (rc == SL_OK) {
            st->body_end = true;
            break;
        }
        if (consumed == 0)
            break;
    }
    return (ssize_t)used;
}

/* The sessions' frames go out once per loop iteration (h2_prepare_cb), and one
 * iteration can bring in hundreds of responses (about 250 per epoll_wait with
 * 500 streams of 64 KiB): the first bodies read would be out of the CPU's cache
 * by the time they are sealed. Past this many bytes, the flush runs right after
 * the current callback instead (libev runs a fed watcher next), from its usual
 * context. 128, 256 and 512 KiB were measured; 256 KiB cut the CPU per 64 KiB
 * request by about 3 % and left small responses as they were. */
#define H2_EARLY_FLUSH_BYTES (256 * 1024)

static void flush_early_if_much(sl_worker *w, const struct iovec *iov, int n)
{
    for (int i = 0; i < n; i++)
        w->h2_taken_unflushed += iov[i].iov_len;
    if (w->h2_taken_unflushed >= H2_EARLY_FLUSH_BYTES)
        ev_feed_event(w->loop, &w->h2_prepare, EV_PREPARE);
}

ssize_t sl_h2_stream_take(sl_conn *c, const struct iovec *iov, int n)
{
    sl_h2_stream *st = c->h2s;
    if (st->closed) {
        errno = EPIPE;
        return -1;
    }
    size_t taken = 0;
    flush_early_if_much(st->sess->c->w, iov, n);
    for (int i = 0; i < n; i++) {
        const char *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        while (len) {
            ssize_t k = st->head_done ? take_body(st, p, len) : take_head(st, c, p, len);
            if (k < 0) {
                errno = EPROTO;
                return -1;
            }
            if (k == 0)
                goto full;
            p += k;
            len -= (size_t)k;
            taken += (size_t)k;
        }
    }
full:;
    const char *unused;
    if (st->head_done && (sl_buf_len(&st->data) || st->body_end || borrowable(st, &unused)))
        data_ready(st);
    if (taken == 0) {
        errno = EAGAIN;
        return -1;
    }
    return (ssize_t)taken;
}

void sl_h2_stream_finished(sl_conn *c)
{
    c->h2s->finished = true;
}

void sl_h2_stream_conn_closed(sl_conn *c)
{
    sl_h2_stream *st = c->h2s;
    if (st->big_in)
        sl_buf_free(&c->in);
    st->conn = NULL;
    if (st->closed)
        return;
    sl_h2_session *s = st->sess;
    /* A WebSocket tunnel ends by closing: that is its normal end. */
    bool tunnel_ended = st->websocket && st->head_done && st->body_kind == SL_HTTP1_BODY_CLOSE;
    if ((st->finished || tunnel_ended) && st->head_done) {
        st->body_end = true; /* a body that ran until "close" ends here */
        data_ready(st);
    } else {
        /* The response was cut short (upstream gone mid-body, a timeout): the
         * HTTP/2 way of closing the connection is resetting the stream. */
        nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        sl_h2_session_schedule(s);
    }
    if (st->unacked) {
        nghttp2_session_consume_stream(s->ng, st->id, st->unacked);
        st->unacked = 0;
    }
    if (st->held) {
        st->held = NULL;
        sl_h2_session_unpause(s);
    }
}

/* An HTTP/2 client connection: the nghttp2 server session, reading and writing
 * the socket (plain or TLS), the idle timer, drain (GOAWAY) and the limits
 * that close abusive connections. Requests themselves live in h2_stream.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/settings.h"
#include "workers/h2_internal.h"
#include "workers/h2_out.h"
#include "workers/sys_io.h"
#include "workers/tls.h"

static sl_h2_session *session_of(sl_conn *c) { return c->h2; }

static sl_h2_stream *stream_of(nghttp2_session *ng, int32_t id)
{
    return nghttp2_session_get_stream_user_data(ng, id);
}

/* Ends the connection with GOAWAY(code) once the queued frames are out. */
static void close_with(sl_h2_session *s, uint32_t code, const char *why)
{
    if (s->fatal)
        return;
    sl_log_warn("h2", "client %s: closing the connection: %s", s->c->peer, why);
    atomic_fetch_add(&s->c->w->slot->h2_abusive_closes, 1);
    nghttp2_session_terminate_session(s->ng, code);
    s->fatal = true;
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud)
{
    sl_h2_session *s = ud;
    if (hd->type == NGHTTP2_HEADERS) {
        s->continuations = 0;
    } else if (hd->type == NGHTTP2_CONTINUATION && ++s->continuations > SL_H2_MAX_CONTINUATIONS) {
        /* A header block split into endless CONTINUATION frames ties up the
         * decoder without ever producing a request. */
        sl_log_warn("h2", "client %s: CONTINUATION flood; closing the connection", s->c->peer);
        atomic_fetch_add(&s->c->w->slot->h2_abusive_closes, 1);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    sl_h2_session *s = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    sl_h2_stream *st = sl_h2_stream_new(s, frame->hd.stream_id);
    if (!st)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* out of memory: refuse the stream */
    nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
    s->streams_opened++;
    atomic_fetch_add(&s->c->w->slot->h2_streams, 1);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    sl_h2_session *s = ud;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    sl_h2_stream *st = stream_of(ng, frame->hd.stream_id);
    if (!st)
        return 0;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        return sl_h2_stream_header(st, name, namelen, value, valuelen);
    /* Request trailers are not forwarded; they still count against the limit. */
    st->head_bytes += namelen + valuelen;
    if (st->head_bytes > 4 * (size_t)sl_setting(SL_SET_MAX_HEAD_BYTES)) {
        sl_log_warn("h2", "client %s: endless header block; closing the connection", s->c->peer);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

/* A request whose head is complete starts only once the whole read has been
 * parsed: a stream the client resets in the same read (rapid reset,
 * CVE-2023-44487) then ends before any upstream work, and its reset is counted
 * first. A stream whose body or trailers arrive starts at once. */
static void begin_later(sl_h2_session *s, sl_h2_stream *st, bool end_stream)
{
    st->begin_pending = true;
    st->begin_end_stream = end_stream;
    s->begins_pending++;
}

static void begin_now(sl_h2_stream *st)
{
    if (!st->begin_pending)
        return;
    st->begin_pending = false;
    st->sess->begins_pending--;
    sl_h2_stream_begin(st, st->begin_end_stream);
}

/* Starts the requests whose HEADERS came in the read just parsed and that are
 * still open. From the list's head each time: starting one may end others. */
static void begin_pending_streams(sl_h2_session *s)
{
    if (s->fatal)
        return; /* closing for abuse: the streams end with the connection */
    while (s->begins_pending) {
        sl_h2_stream *st = s->streams;
        while (st && !st->begin_pending)
            st = st->next;
        if (!st) {
            s->begins_pending = 0;
            return;
        }
        begin_now(st);
    }
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    sl_h2_session *s = ud;
    bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    sl_h2_stream *st;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        st = stream_of(ng, frame->hd.stream_id);
        if (!st)
            return 0;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            begin_later(s, st, end_stream);
        } else if (end_stream) {
            begin_now(st);
            sl_h2_stream_end(st);
        }
        return 0;
    case NGHTTP2_DATA:
        st = stream_of(ng, frame->hd.stream_id);
        if (st && end_stream) {
            begin_now(st);
            sl_h2_stream_end(st);
        }
        return 0;
    case NGHTTP2_RST_STREAM:
        /* Rapid reset (CVE-2023-44487): streams opened and cancelled at once cost
         * us a request each and the client nearly nothing. Resets are fine in
         * moderation; a connection that mostly resets is closed. */
        s->client_resets++;
        if (s->client_resets > SL_H2_RESET_FLOOR && s->client_resets * 2 > s->streams_opened)
            close_with(s, NGHTTP2_ENHANCE_YOUR_CALM, "too many stream resets (rapid reset)");
        return 0;
    default: return 0;
    }
}

static int on_data_chunk_recv(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                              void *ud)
{
    /* The connection window reopens at once: each stream's own window is what
     * bounds the memory, and one slow upstream must not stall the others. */
    nghttp2_session_consume_connection(ng, len);
    sl_h2_stream *st = stream_of(ng, id);
    if (st)
        begin_now(st);
    if (!st || !st->conn) {
        nghttp2_session_consume_stream(ng, id, len); /* nobody reads it: discard */
        return 0;
    }
    return sl_h2_stream_data(st, data, len);
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *ud)
{
    sl_h2_stream *st = stream_of(ng, id);
    if (st && st->begin_pending) {
        st->begin_pending = false; /* reset before it started: no upstream work at all */
        st->sess->begins_pending--;
    }
    if (st) {
        nghttp2_session_set_stream_user_data(ng, id, NULL);
        sl_h2_stream_free(st);
    }
    return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    /* A complete response sent while the client is still uploading: ask it to
     * stop (RFC 9113 8.1, RST_STREAM with NO_ERROR). */
    if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        sl_h2_stream *st = stream_of(ng, frame->hd.stream_id);
        if (st && !st->req_end)
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int on_error(nghttp2_session *ng, int code, const char *msg, size_t len, void *ud)
{
    sl_h2_session *s = ud;
    sl_log_debug("h2", "client %s: %.*s", s->c->peer, (int)len, msg);
    return 0;
}

static nghttp2_session_callbacks *callbacks(void)
{
    static nghttp2_session_callbacks *cbs;
    if (cbs)
        return cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_error_callback2(cbs, on_error);
    nghttp2_session_callbacks_set_send_data_callback(cbs, sl_h2_send_data);
    return cbs;
}

/* ---- the connection ---- */

static void update(sl_h2_session *s)
{
    sl_conn *c = s->c;
    /* Idle (no stream open): the keep-alive timeout closes it; while streams run,
     * their own timers are the ones that matter. */
    c->deadline_ms = sl_now_ms() + (uint64_t)(s->nstreams ? 3600000 : sl_setting(SL_SET_KEEPALIVE_TIMEOUT_MS));
    sl_conn_update(c);
}

int sl_h2_events(sl_conn *c)
{
    sl_h2_session *s = session_of(c);
    int events = 0;
    if (!s->paused && !c->client_eof && nghttp2_session_want_read(s->ng))
        events |= EV_READ;
    if (sl_buf_len(&s->out) || s->send_len || s->pending || (c->ssl && sl_tls_unsent(c->ssl)))
        events |= EV_WRITE;
    return events;
}

/* Writes s->out to the socket. Returns false when the connection was closed. */
static bool write_out(sl_h2_session *s)
{
    sl_conn *c = s->c;
    while (sl_buf_len(&s->out)) {
        struct iovec iov = {s->out.data + s->out.start, sl_buf_len(&s->out)};
        ssize_t wr = c->ssl ? sl_tls_writev(c->ssl, &iov, 1, &c->tls_write_wants_read) : sl_sys_writev(c->fd, &iov, 1);
        if (wr < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            if (errno == EINTR)
                continue;
            sl_conn_close(c);
            return false;
        }
        atomic_fetch_add(&c->w->slot->bytes_out, (uint64_t)wr);
        s->out.start += (size_t)wr;
    }
    s->out.start = s->out.end = 0;
    return true;
}

/* Lets streams whose DATA buffer has room again produce more. Returns true when
 * any did. */
static bool wake_streams(sl_h2_session *s)
{
    bool any = false;
    for (sl_h2_stream *st = s->streams; st; st = st->next) {
        if (st->wake && st->conn) {
            st->wake = false;
            sl_h2_stream_wake(st);
            any = true;
        }
    }
    return any;
}

/* Sends what nghttp2 has queued, lets streams refill, and repeats while the
 * socket takes it. Returns false when the connection was closed. */
static bool session_send(sl_h2_session *s)
{
    sl_conn *c = s->c;
    /* Records sealed in an earlier turn that the socket did not take go first
     * (over TLS, records wait in a batch until the turn ends: tls_batch.c). */
    int out = c->ssl ? sl_tls_flush(c->ssl) : 1;
    if (out == 1 && sl_bodybuf_get(c->w, &s->out) != 0)
        out = -1; /* out of memory: this connection goes, the worker stays */
    for (int round = 0; out == 1 && round < 64; round++) {
        /* What the socket did not take goes first: frames are made only when
         * they can leave (so DATA stays where it is until then, see
         * sl_h2_write_frame_direct), and a record's worth at a time. */
        if (sl_buf_len(&s->out)) {
            if (!write_out(s))
                return false;
            if (sl_buf_len(&s->out))
                break;
        }
        int rc = sl_h2_mem_send_into(s->ng, &s->out, SL_TLS_RECORD_MAX, &s->send_ptr, &s->send_len);
        if (rc < 0) {
            sl_log_warn("h2", "client %s: %s", c->peer, nghttp2_strerror(rc));
            sl_conn_close(c);
            return false;
        }
        if (!write_out(s))
            return false;
        bool blocked = sl_buf_len(&s->out) > 0;
        bool woke = wake_streams(s);
        if (blocked || (!woke && s->send_len == 0 && !nghttp2_session_want_write(s->ng)))
            break;
    }
    if (out == 1 && c->ssl && sl_tls_flush(c->ssl) < 0)
        out = -1; /* the turn ends: the batch goes (what the socket leaves waits for EV_WRITE) */
    if (out < 0) {
        sl_conn_close(c);
        return false;
    }
    if (sl_buf_len(&s->out) == 0)
        sl_bodybuf_put(c->w, &s->out); /* an idle connection holds no buffer */
    bool idle = sl_buf_len(&s->out) == 0 && s->send_len == 0 && !nghttp2_session_want_write(s->ng) &&
                (!c->ssl || sl_tls_unsent(c->ssl) == 0);
    if (idle && (c->client_eof || (s->goaway && s->nstreams == 0) ||
                 (!nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng)))) {
        sl_conn_close(c);
        return false;
    }
    update(s);
    return true;
}

/* Feeds the bytes read so far to nghttp2. Returns false when the connection was closed. */
static bool session_feed(sl_h2_session *s)
{
    sl_conn *c = s->c;
    if (s->paused || sl_buf_len(&c->in) == 0)
        return true;
    ssize_t n = nghttp2_session_mem_recv(s->ng, (const uint8_t *)c->in.data + c->in.start, sl_buf_len(&c->in));
    if (n < 0) {
        if (n != NGHTTP2_ERR_CALLBACK_FAILURE)
            sl_log_debug("h2", "client %s: %s", c->peer, nghttp2_strerror((int)n));
        atomic_fetch_add(&c->w->slot->bad_requests, 1);
        sl_conn_close(c);
        return false;
    }
    /* When a stream paused the session, the held chunk still points into c->in:
     * the bytes stay (and are not compacted away) until it found room. */
    c->in.start += (size_t)n;
    begin_pending_streams(s);
    if (sl_buf_len(&c->in) == 0 && !s->paused)
        c->in.start = c->in.end = 0;
    return true;
}

bool sl_h2_start(sl_conn *c)
{
    sl_h2_session *s = calloc(1, sizeof(*s));
    nghttp2_option *opt = NULL;
    nghttp2_session_callbacks *cbs = callbacks();
    if (!s || !cbs || nghttp2_option_new(&opt) != 0) {
        free(s);
        sl_conn_close(c);
        return false;
    }
    /* Windows are reopened by hand, as request bodies leave their buffers. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_settings(opt, 32);
    int rc = nghttp2_session_server_new2(&s->ng, cbs, s, opt);
    nghttp2_option_del(opt);
    if (rc != 0) {
        free(s);
        sl_conn_close(c);
        return false;
    }
    s->c = c;
    c->h2 = s;
    c->state = SL_CONN_H2;
    if (c->ssl && !sl_tls_batch_writes(c->ssl, c->fd, c->w))
        sl_log_warn("h2", "client %s: cannot batch TLS records; writing each on its own", c->peer);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, SL_H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, SL_H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)sl_setting(SL_SET_MAX_HEAD_BYTES)},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1}, /* WebSockets over HTTP/2 (RFC 8441) */
    };
    nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    atomic_fetch_add(&c->w->slot->h2_connections, 1);
    if (!session_feed(s))
        return false;
    return session_send(s);
}

void sl_h2_io(sl_conn *c, int revents)
{
    sl_h2_session *s = session_of(c);
    if (c->ssl) {
        if ((revents & EV_WRITE) && c->tls_read_wants_write)
            revents |= EV_READ;
        if ((revents & EV_READ) && c->tls_write_wants_read)
            revents |= EV_WRITE;
    }
    if ((revents & EV_READ) && !s->paused) {
        if (!sl_conn_read(c))
            return;
        if (!session_feed(s))
            return;
    }
    session_send(s);
}

void sl_h2_timeout(sl_conn *c)
{
    sl_h2_session *s = session_of(c);
    if (s->nstreams) {
        update(s);
        return;
    }
    nghttp2_session_terminate_session(s->ng, NGHTTP2_NO_ERROR);
    s->goaway = true;
    if (sl_bodybuf_get(c->w, &s->out) != 0) {
        sl_conn_close(c);
        return;
    }
    ssize_t n;
    while ((n = nghttp2_session_mem_send(s->ng, &s->send_ptr)) > 0)
        sl_buf_append(&s->out, s->send_ptr, (size_t)n);
    s->send_len = 0;
    if (write_out(s))
        sl_conn_close(c);
}

void sl_h2_shutdown(sl_conn *c)
{
    sl_h2_session *s = session_of(c);
    if (s->goaway)
        return;
    s->goaway = true;
    nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
    sl_h2_session_schedule(s);
}

void sl_h2_free(sl_conn *c)
{
    sl_h2_session *s = session_of(c);
    if (!s)
        return;
    sl_worker *w = c->w;
    if (s->pending) {
        for (sl_h2_session **p = &w->h2_pending; *p; p = &(*p)->next_pending) {
            if (*p == s) {
                *p = s->next_pending;
                break;
            }
        }
    }
    /* End every request still running, then let nghttp2 go: deleting the
     * session does not call on_stream_close, so the streams are freed here. */
    while (s->streams) {
        sl_h2_stream *st = s->streams;
        st->closed = true;
        nghttp2_session_set_stream_user_data(s->ng, st->id, NULL);
        sl_h2_stream_free(st);
    }
    nghttp2_session_del(s->ng);
    sl_bodybuf_put(w, &s->out);
    free(s);
    c->h2 = NULL;
}

void sl_h2_session_schedule(sl_h2_session *s)
{
    if (s->pending)
        return;
    s->pending = true;
    s->next_pending = s->c->w->h2_pending;
    s->c->w->h2_pending = s;
}

void sl_h2_session_unpause(sl_h2_session *s)
{
    if (!s->paused)
        return;
    s->paused = false;
    /* The rest of the input is already read: process it on the next turn. */
    ev_feed_event(s->c->w->loop, &s->c->io, EV_READ);
}

void sl_h2_flush_pending(sl_worker *w)
{
    /* Bounded: a session that keeps rescheduling itself is left for the socket's
     * write readiness (sl_h2_events asks for EV_WRITE while it is pending). */
    for (int i = 0; i < 1024 && w->h2_pending; i++) {
        sl_h2_session *s = w->h2_pending;
        w->h2_pending = s->next_pending;
        s->pending = false;
        session_send(s);
    }
    for (sl_h2_session *s = w->h2_pending; s; s = s->next_pending)
        sl_conn_update(s->c);
}

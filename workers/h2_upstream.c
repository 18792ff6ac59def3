/* HTTP/2 (h2c) towards backends: sessions shared by a worker's requests, one
 * stream per request, HTTP/1.1 bytes in and out on the proxy's side. See
 * h2_upstream.h for the shape. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "common/log.h"
#include "common/settings.h"
#include "workers/conn.h"
#include "workers/h2_out.h"
#include "workers/h2_upstream.h"

#define UP_STREAM_WINDOW 65535
#define UP_CONN_WINDOW (16 << 20)
#define UP_SLACK 16384

typedef struct sl_h2up_session sl_h2up_session;

typedef struct sl_h2up_stream {
    sl_h2up_session *sess;
    sl_upstream *u;
    int32_t id;                 /* 0 until the request head was submitted */
    struct sl_h2up_stream *prev, *next;
    bool closed;                /* nghttp2 is done with it */
    bool wake;                  /* the owner has something to do */

    /* Request: HTTP/1.1 from the proxy. */
    sl_buf head;                /* the request head until parsed; then response fields */
    sl_http1_scan scan;
    bool head_done;
    int body_kind;
    uint64_t body_left;
    sl_http1_chunked chunked;
    sl_buf sbuf;                /* request body bytes for DATA frames */
    bool req_end;
    bool deferred;

    /* Response: HTTP/1.1 for the proxy. */
    sl_buf rbuf;
    int status;
    bool has_cl, res_headers_done, res_chunked, res_end, failed;
    size_t unacked;
    const uint8_t *held;
    size_t held_len;
} sl_h2up_stream;

struct sl_h2up_session {
    sl_worker *w;
    int fd;
    ev_io io;
    ev_timer idle;
    nghttp2_session *ng;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool connected, dead, goaway, paused, busy;
    sl_buf out, in;
    const uint8_t *send_ptr;
    size_t send_len;
    sl_h2up_stream *streams;
    size_t nstreams;
    sl_h2up_session *next;
    bool pending;
    sl_h2up_session *next_pending;
};

static void session_update(sl_h2up_session *s);
static void session_free(sl_h2up_session *s);

static void schedule(sl_h2up_session *s)
{
    if (s->pending || s->dead)
        return;
    s->pending = true;
    s->next_pending = s->w->h2up_pending;
    s->w->h2up_pending = s;
}

static sl_h2up_stream *stream_of(nghttp2_session *ng, int32_t id)
{
    return nghttp2_session_get_stream_user_data(ng, id);
}

/* Lets the owners of streams with news move on. */
static void wake_streams(sl_h2up_session *s)
{
    s->busy = true;
    for (sl_h2up_stream *st = s->streams, *next; st; st = next) {
        next = st->next;
        if (st->wake && st->u->owner) {
            st->wake = false;
            sl_proxy_upstream_event(st->u->owner);
        }
    }
    s->busy = false;
}

/* The connection failed: every stream ends (its owner sees the end of input). */
static void session_fail(sl_h2up_session *s, const char *why)
{
    if (s->dead)
        return;
    char addr[64] = "?";
    const void *a = s->addr.ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)&s->addr)->sin6_addr
                                                  : (const void *)&((const struct sockaddr_in *)&s->addr)->sin_addr;
    inet_ntop(s->addr.ss_family, a, addr, sizeof(addr));
    unsigned port = ntohs(s->addr.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&s->addr)->sin6_port
                                                        : ((const struct sockaddr_in *)&s->addr)->sin_port);
    sl_log_warn("h2up", "HTTP/2 connection to %s port %u: %s", addr, port, why);
    s->dead = true;
    ev_io_stop(s->w->loop, &s->io);
    for (sl_h2up_stream *st = s->streams; st; st = st->next) {
        if (!st->res_end)
            st->failed = true;
        st->closed = true;
        st->wake = true;
    }
    wake_streams(s); /* the caller frees the session once no stream is left */
}

/* ---- nghttp2 callbacks ---- */

static bool append_field(sl_buf *b, const uint8_t *name, size_t nl, const uint8_t *value, size_t vl)
{
    if (sl_buf_room(b) < nl + vl + 4)
        return false;
    sl_buf_append(b, name, nl);
    sl_buf_append(b, ": ", 2);
    sl_buf_append(b, value, vl);
    sl_buf_append(b, "\r\n", 2);
    return true;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    sl_h2up_stream *st = stream_of(ng, frame->hd.stream_id);
    if (!st)
        return 0;
    if (nl == 7 && memcmp(name, ":status", 7) == 0) {
        st->status = vl == 3 ? (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0') : 0;
        return 0;
    }
    if (nl && name[0] == ':')
        return 0;
    if (nl == 14 && memcmp(name, "content-length", 14) == 0 && !st->res_headers_done)
        st->has_cl = true;
    if (!append_field(&st->head, name, nl, value, vl))
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* more than a head may hold: reset */
    return 0;
}

/* Puts bytes into the response buffer (compacting first). */
static bool rbuf_put(sl_h2up_stream *st, const void *p, size_t n)
{
    if (sl_buf_room(&st->rbuf) < n)
        sl_buf_compact(&st->rbuf);
    return sl_buf_append(&st->rbuf, p, n);
}

static void response_head(sl_h2up_stream *st, bool end_stream)
{
    char line[64];
    snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", st->status, sl_http_reason(st->status));
    st->res_chunked = !end_stream && !st->has_cl;
    bool ok = rbuf_put(st, line, strlen(line)) && rbuf_put(st, st->head.data, sl_buf_len(&st->head));
    if (st->res_chunked)
        ok = ok && rbuf_put(st, "Transfer-Encoding: chunked\r\n", 28);
    else if (end_stream && !st->has_cl)
        ok = ok && rbuf_put(st, "Content-Length: 0\r\n", 19);
    ok = ok && rbuf_put(st, "\r\n", 2);
    if (!ok)
        st->failed = true;
    st->head.start = st->head.end = 0; /* from now on: trailer fields */
    st->res_headers_done = true;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    sl_h2up_session *s = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        s->goaway = true; /* no new streams here; nghttp2 closes the refused ones */
        return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    sl_h2up_stream *st = stream_of(ng, frame->hd.stream_id);
    if (!st)
        return 0;
    bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS) {
        if (!st->res_headers_done) {
            if (st->status >= 100 && st->status < 200) {
                st->head.start = st->head.end = 0; /* interim response: wait for the final one */
                return 0;
            }
            response_head(st, end);
            if (end)
                st->res_end = true;
        } else if (end) {
            /* Trailers: the chunked trailer section (dropped if the body was not chunked). */
            if (st->res_chunked &&
                !(rbuf_put(st, "0\r\n", 3) && rbuf_put(st, st->head.data, sl_buf_len(&st->head)) &&
                  rbuf_put(st, "\r\n", 2)))
                st->failed = true;
            st->res_end = true;
        }
    } else if (end) {
        if (st->res_chunked && !rbuf_put(st, SL_HTTP1_LAST_CHUNK, 5))
            st->failed = true;
        st->res_end = true;
    }
    st->wake = true;
    return 0;
}

static bool put_data(sl_h2up_stream *st, const uint8_t *data, size_t len)
{
    size_t need = len + (st->res_chunked ? SL_HTTP1_CHUNK_HEADER_MAX + 2 : 0);
    if (sl_buf_room(&st->rbuf) < need)
        sl_buf_compact(&st->rbuf);
    if (sl_buf_room(&st->rbuf) < need)
        return false;
    if (st->res_chunked && len) {
        char hdr[SL_HTTP1_CHUNK_HEADER_MAX];
        size_t hl = sl_http1_chunk_header(hdr, len);
        sl_buf_append(&st->rbuf, hdr, hl);
        sl_buf_append(&st->rbuf, data, len);
        sl_buf_append(&st->rbuf, SL_HTTP1_CHUNK_END, 2);
    } else {
        sl_buf_append(&st->rbuf, data, len);
    }
    st->unacked += len;
    return true;
}

static int on_data_chunk_recv(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                              void *ud)
{
    sl_h2up_session *s = ud;
    nghttp2_session_consume_connection(ng, len);
    sl_h2up_stream *st = stream_of(ng, id);
    if (!st) {
        nghttp2_session_consume_stream(ng, id, len);
        return 0;
    }
    st->wake = true;
    if (!put_data(st, data, len)) {
        /* Framing outgrew the slack: hold the chunk, stop reading this connection. */
        st->held = data;
        st->held_len = len;
        s->paused = true;
        return NGHTTP2_ERR_PAUSE;
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *ud)
{
    sl_h2up_stream *st = stream_of(ng, id);
    if (!st)
        return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    st->closed = true;
    if (!st->res_end) {
        st->failed = true;
        sl_log_debug("h2up", "stream %d closed before the response ended: %s", id,
                     nghttp2_http2_strerror(error_code));
    }
    st->wake = true;
    return 0;
}

static nghttp2_session_callbacks *callbacks(void)
{
    static nghttp2_session_callbacks *cbs;
    if (cbs)
        return cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    return cbs;
}

/* ---- the connection ---- */

static void session_free(sl_h2up_session *s)
{
    sl_worker *w = s->w;
    for (sl_h2up_session **p = &w->h2up_sessions; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    for (sl_h2up_session **p = &w->h2up_pending; *p; p = &(*p)->next_pending) {
        if (*p == s) {
            *p = s->next_pending;
            break;
        }
    }
    ev_io_stop(w->loop, &s->io);
    ev_timer_stop(w->loop, &s->idle);
    close(s->fd);
    nghttp2_session_del(s->ng);
    sl_bodybuf_put(w, &s->out);
    sl_bodybuf_put(w, &s->in);
    free(s);
}

/* Writes what nghttp2 queued. Returns false when the session failed. */
static bool session_send(sl_h2up_session *s)
{
    if (!s->connected || s->dead)
        return true;
    for (;;) {
        int rc = sl_h2_mem_send_into(s->ng, &s->out, SIZE_MAX, &s->send_ptr, &s->send_len);
        if (rc < 0) {
            session_fail(s, nghttp2_strerror(rc));
            return false;
        }
        if (sl_buf_len(&s->out) == 0)
            return true;
        ssize_t wr = write(s->fd, s->out.data + s->out.start, sl_buf_len(&s->out));
        if (wr < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            if (errno == EINTR)
                continue;
            session_fail(s, strerror(errno));
            return false;
        }
        s->out.start += (size_t)wr;
        if (sl_buf_len(&s->out) == 0)
            s->out.start = s->out.end = 0;
    }
}

static bool session_feed(sl_h2up_session *s)
{
    if (s->paused || sl_buf_len(&s->in) == 0)
        return true;
    ssize_t n = nghttp2_session_mem_recv(s->ng, (const uint8_t *)s->in.data + s->in.start, sl_buf_len(&s->in));
    if (n < 0) {
        session_fail(s, nghttp2_strerror((int)n));
        return false;
    }
    s->in.start += (size_t)n;
    if (sl_buf_len(&s->in) == 0 && !s->paused)
        s->in.start = s->in.end = 0;
    return true;
}

static void session_update(sl_h2up_session *s)
{
    if (s->dead)
        return;
    int events = 0;
    if (!s->connected || sl_buf_len(&s->out) || s->send_len)
        events |= EV_WRITE;
    if (s->connected && !s->paused)
        events |= EV_READ;
    if ((s->io.events & (EV_READ | EV_WRITE)) != events) {
        ev_io_stop(s->w->loop, &s->io);
        ev_io_modify(&s->io, events);
        if (events)
            ev_io_start(s->w->loop, &s->io);
    }
    if (s->nstreams == 0 && !ev_is_active(&s->idle)) {
        ev_timer_set(&s->idle, (double)sl_setting(SL_SET_UPSTREAM_IDLE_MS) / 1000.0, 0.);
        ev_timer_start(s->w->loop, &s->idle);
    } else if (s->nstreams && ev_is_active(&s->idle)) {
        ev_timer_stop(s->w->loop, &s->idle);
    }
}

/* Sends, lets owners react, and repeats while that produced more to send. */
static void session_run(sl_h2up_session *s)
{
    for (int i = 0; i < 8 && !s->dead; i++) {
        if (!session_send(s))
            break;
        bool any = false;
        for (sl_h2up_stream *st = s->streams; st; st = st->next)
            any |= st->wake && st->u->owner;
        if (!any)
            break;
        wake_streams(s);
    }
    if (s->dead) {
        if (s->nstreams == 0)
            session_free(s);
        return;
    }
    session_update(s);
}

static void session_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    sl_h2up_session *s = io->data;
    if (!s->connected && (revents & EV_WRITE)) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            atomic_fetch_add(&s->w->slot->upstream_connect_errors, 1);
            session_fail(s, strerror(err));
            session_run(s);
            return;
        }
        s->connected = true;
    }
    if ((revents & EV_READ) && !s->paused) {
        for (;;) {
            if (sl_buf_room(&s->in) == 0)
                sl_buf_compact(&s->in);
            if (sl_buf_room(&s->in) == 0)
                break;
            ssize_t n = read(s->fd, s->in.data + s->in.end, sl_buf_room(&s->in));
            if (n > 0) {
                s->in.end += (size_t)n;
                if (!session_feed(s))
                    break;
                if (s->paused)
                    break;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            session_fail(s, n == 0 ? "the backend closed the connection" : strerror(errno));
            break;
        }
    }
    session_run(s);
}

static void idle_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    sl_h2up_session *s = t->data;
    if (s->nstreams)
        return;
    nghttp2_session_terminate_session(s->ng, NGHTTP2_NO_ERROR);
    session_send(s);
    session_free(s);
}

static sl_h2up_session *session_new(sl_worker *w, const struct sockaddr_storage *addr, socklen_t len)
{
    nghttp2_session_callbacks *cbs = callbacks();
    if (!cbs) {
        errno = ENOMEM;
        return NULL;
    }
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    bool connected = connect(fd, (const struct sockaddr *)addr, len) == 0;
    if (!connected && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return NULL;
    }
    sl_h2up_session *s = calloc(1, sizeof(*s));
    nghttp2_option *opt = NULL;
    if (!s || nghttp2_option_new(&opt) != 0 || sl_bodybuf_get(w, &s->out) != 0 || sl_bodybuf_get(w, &s->in) != 0) {
        if (s) {
            sl_bodybuf_put(w, &s->out);
            free(s);
        }
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    nghttp2_option_set_no_auto_window_update(opt, 1);
    int rc = nghttp2_session_client_new2(&s->ng, cbs, s, opt);
    nghttp2_option_del(opt);
    if (rc != 0) {
        sl_bodybuf_put(w, &s->out);
        sl_bodybuf_put(w, &s->in);
        free(s);
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    s->w = w;
    s->fd = fd;
    s->connected = connected;
    memcpy(&s->addr, addr, len);
    s->addrlen = len;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, UP_STREAM_WINDOW},
    };
    nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0, UP_CONN_WINDOW);
    ev_io_init(&s->io, session_io_cb, fd, 0); /* session_update starts it */
    s->io.data = s;
    ev_init(&s->idle, idle_cb);
    s->idle.data = s;
    s->next = w->h2up_sessions;
    w->h2up_sessions = s;
    session_update(s);
    return s;
}

static bool same_addr(const sl_h2up_session *s, const struct sockaddr_storage *addr, socklen_t len)
{
    return s->addrlen == len && memcmp(&s->addr, addr, len) == 0;
}

sl_upstream *sl_h2up_open(sl_worker *w, const struct sockaddr_storage *addr, socklen_t len)
{
    sl_h2up_session *s = NULL;
    for (sl_h2up_session *c = w->h2up_sessions; c; c = c->next) {
        if (c->dead || c->goaway || !same_addr(c, addr, len))
            continue;
        uint32_t max = nghttp2_session_get_remote_settings(c->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        if (c->nstreams < max) {
            s = c;
            break;
        }
    }
    if (!s && !(s = session_new(w, addr, len)))
        return NULL;
    sl_upstream *u = calloc(1, sizeof(*u));
    sl_h2up_stream *st = calloc(1, sizeof(*st));
    if (!u || !st || sl_buf_alloc(&st->rbuf, sl_cbuf_size() + UP_STREAM_WINDOW + UP_SLACK) != 0) {
        free(u);
        free(st);
        errno = ENOMEM;
        return NULL;
    }
    u->fd = -1;
    u->be_slot = UINT32_MAX; /* not counted: streams share a connection */
    u->w = w;
    u->h2 = st;
    u->connected = true;
    memcpy(&u->addr, addr, len);
    u->addrlen = len;
    st->u = u;
    st->sess = s;
    st->next = s->streams;
    if (s->streams)
        s->streams->prev = st;
    s->streams = st;
    s->nstreams++;
    session_update(s);
    return u;
}

/* ---- the request ---- */

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *ud)
{
    sl_h2up_stream *st = source->ptr;
    size_t n = sl_buf_len(&st->sbuf) < length ? sl_buf_len(&st->sbuf) : length;
    if (n) {
        memcpy(buf, st->sbuf.data + st->sbuf.start, n);
        st->sbuf.start += n;
        if (sl_buf_len(&st->sbuf) == 0)
            st->sbuf.start = st->sbuf.end = 0;
        st->wake = true; /* room for more of the body */
    }
    if (sl_buf_len(&st->sbuf) == 0 && st->req_end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* Submits the request from its parsed HTTP/1.1 head. */
static bool submit_request(sl_h2up_stream *st, const sl_http1_request *req)
{
    nghttp2_nv nva[SL_HTTP1_HEADERS_CAP + 5];
    size_t n = 0;
#define NV(nm, nl, v, vl) (nghttp2_nv){(uint8_t *)(nm), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NONE}
    nva[n++] = NV(":method", 7, req->method.ptr, req->method.len);
    nva[n++] = NV(":scheme", 7, "http", 4);
    nva[n++] = NV(":authority", 10, req->host.ptr, req->host.len);
    nva[n++] = NV(":path", 5, req->target.ptr, req->target.len);
    /* TE: trailers is the one TE HTTP/2 allows, and gRPC servers insist on it. */
    nva[n++] = NV("te", 2, "trailers", 8);
    for (size_t i = 0; i < req->nheaders; i++) {
        const sl_http1_header *h = &req->headers[i];
        if (h->hop || h->id == SL_HTTP1_H_HOST)
            continue;
        char *name = (char *)h->name.ptr; /* our own copy of the head: lower-case it in place */
        for (size_t k = 0; k < h->name.len; k++)
            if (name[k] >= 'A' && name[k] <= 'Z')
                name[k] = (char)(name[k] - 'A' + 'a');
        nva[n++] = NV(name, h->name.len, h->value.ptr, h->value.len);
    }
#undef NV
    bool body = req->body == SL_HTTP1_BODY_CHUNKED || (req->body == SL_HTTP1_BODY_LENGTH && req->content_length > 0);
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_body};
    int32_t id = nghttp2_submit_request(st->sess->ng, NULL, nva, n, body ? &prd : NULL, st);
    if (id < 0)
        return false;
    st->id = id;
    st->body_kind = req->body;
    st->body_left = req->content_length;
    if (req->body == SL_HTTP1_BODY_CHUNKED)
        sl_http1_chunked_init(&st->chunked, &st->u->w->limits);
    st->req_end = !body;
    return true;
}

static ssize_t take_head(sl_h2up_stream *st, const char *p, size_t len)
{
    sl_worker *w = st->u->w;
    if (sl_cbuf_get(w, &st->head) != 0)
        return -1;
    size_t before = sl_buf_len(&st->head);
    size_t k = sl_buf_room(&st->head) < len ? sl_buf_room(&st->head) : len;
    if (k == 0)
        return -1;
    sl_buf_append(&st->head, p, k);
    int rc = sl_http1_parse_request(st->head.data, sl_buf_len(&st->head), &st->scan, &w->h2req, &w->limits);
    if (rc == SL_AGAIN)
        return (ssize_t)k;
    if (rc == SL_ERR || !submit_request(st, &w->h2req))
        return -1;
    st->head_done = true;
    size_t used = w->h2req.head_len - before;
    st->head.start = st->head.end = 0; /* now collects the response fields */
    return (ssize_t)used;
}

static ssize_t take_body(sl_h2up_stream *st, const char *p, size_t len)
{
    if (st->req_end)
        return (ssize_t)len;
    if (sl_bodybuf_get(st->u->w, &st->sbuf) != 0)
        return -1;
    if (sl_buf_room(&st->sbuf) == 0)
        sl_buf_compact(&st->sbuf);
    size_t room = sl_buf_room(&st->sbuf);
    if (room == 0)
        return 0;
    if (st->body_kind == SL_HTTP1_BODY_LENGTH) {
        size_t k = len < room ? len : room;
        if (k > st->body_left)
            k = (size_t)st->body_left;
        sl_buf_append(&st->sbuf, p, k);
        st->body_left -= k;
        st->req_end = st->body_left == 0;
        return (ssize_t)k;
    }
    size_t used = 0;
    while (used < len && sl_buf_room(&st->sbuf)) {
        size_t in = len - used < sl_buf_room(&st->sbuf) ? len - used : sl_buf_room(&st->sbuf);
        size_t consumed = 0;
        sl_slice data;
        int rc = sl_http1_chunked_parse(&st->chunked, p + used, in, &consumed, &data);
        if (rc == SL_ERR)
            return -1;
        sl_buf_append(&st->sbuf, data.ptr, data.len);
        used += consumed;
        if (rc == SL_OK) {
            st->req_end = true;
            break;
        }
        if (consumed == 0)
            break;
    }
    return (ssize_t)used;
}

ssize_t sl_h2up_write(sl_upstream *u, const void *buf, size_t len)
{
    sl_h2up_stream *st = u->h2;
    if (st->failed || st->closed || st->sess->dead) {
        errno = EPIPE;
        return -1;
    }
    const char *p = buf;
    size_t taken = 0;
    while (len) {
        ssize_t k = st->head_done ? take_body(st, p, len) : take_head(st, p, len);
        if (k < 0) {
            errno = EPROTO;
            return -1;
        }
        if (k == 0)
            break;
        p += k;
        len -= (size_t)k;
        taken += (size_t)k;
    }
    if (st->deferred && (sl_buf_len(&st->sbuf) || st->req_end)) {
        st->deferred = false;
        nghttp2_session_resume_data(st->sess->ng, st->id);
    }
    schedule(st->sess);
    if (taken == 0) {
        errno = EAGAIN;
        return -1;
    }
    return (ssize_t)taken;
}

/* ---- the response ---- */

ssize_t sl_h2up_read(sl_upstream *u, void *buf, size_t len)
{
    sl_h2up_stream *st = u->h2;
    sl_h2up_session *s = st->sess;
    size_t n = sl_buf_len(&st->rbuf) < len ? sl_buf_len(&st->rbuf) : len;
    if (n) {
        memcpy(buf, st->rbuf.data + st->rbuf.start, n);
        st->rbuf.start += n;
        if (sl_buf_len(&st->rbuf) == 0)
            st->rbuf.start = st->rbuf.end = 0;
    }
    if (st->held && put_data(st, st->held, st->held_len)) {
        st->held = NULL;
        s->paused = false;
        ev_feed_event(s->w->loop, &s->io, EV_READ);
    }
    /* The window reopens once the buffer could take a whole window again. */
    if (st->unacked && !st->held && !st->closed && sl_buf_len(&st->rbuf) <= sl_cbuf_size()) {
        nghttp2_session_consume_stream(s->ng, st->id, st->unacked);
        st->unacked = 0;
        schedule(s);
    }
    if (n)
        return (ssize_t)n;
    if (st->res_end || st->failed)
        return 0;
    errno = EAGAIN;
    return -1;
}

void sl_h2up_release(sl_upstream *u)
{
    sl_h2up_stream *st = u->h2;
    sl_h2up_session *s = st->sess;
    sl_worker *w = u->w;
    if (!s->dead && st->id > 0) {
        nghttp2_session_set_stream_user_data(s->ng, st->id, NULL);
        if (!st->closed) {
            nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
            schedule(s);
        }
    }
    if (st->held) {
        st->held = NULL;
        s->paused = false;
        if (!s->dead)
            ev_feed_event(w->loop, &s->io, EV_READ);
    }
    if (st->prev)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    s->nstreams--;
    sl_cbuf_put(w, &st->head);
    sl_bodybuf_put(w, &st->sbuf);
    sl_buf_free(&st->rbuf);
    free(st);
    free(u);
    if (s->dead) {
        if (s->nstreams == 0 && !s->busy)
            session_free(s);
    } else {
        session_update(s);
    }
}

void sl_h2up_flush_pending(sl_worker *w)
{
    for (int i = 0; i < 1024 && w->h2up_pending; i++) {
        sl_h2up_session *s = w->h2up_pending;
        w->h2up_pending = s->next_pending;
        s->pending = false;
        session_run(s);
    }
}

void sl_h2up_close_idle(sl_worker *w)
{
    for (sl_h2up_session *s = w->h2up_sessions, *next; s; s = next) {
        next = s->next;
        if (s->nstreams == 0)
            session_free(s);
    }
}

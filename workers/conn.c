/* The client side of a connection: reading and parsing request heads, routing,
 * local answers (errors, 404), keep-alive and pipelining, timeouts, and the
 * access log line of each request. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/settings.h"
#include "workers/ai.h"
#include "workers/conn.h"
#include "workers/mcp.h"
#include "workers/response_hook.h"
#include "workers/sys_io.h"
#include "workers/h2.h"
#include "workers/access_log_format.h"
#include "workers/tls.h"
#include "workers/tracing.h"
#include "workers/traffic_series.h"

static void conn_io_cb(struct ev_loop *loop, ev_io *io, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *t, int revents);
static void process_input(sl_conn *c);
static bool read_client(sl_conn *c);
static void respond_grpc(sl_conn *c, int status, const char *body);
static void respond(sl_conn *c, int status, const char *headers, const char *content_type, const char *body,
                    size_t blen);

bool sl_conn_read(sl_conn *c) { return read_client(c); }
void sl_conn_process_input(sl_conn *c) { process_input(c); }

const char *sl_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 429: return "Too Many Requests";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 421: return "Misdirected Request";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static void peer_text(const struct sockaddr_storage *peer, char *out, size_t outlen)
{
    if (peer->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, out, (socklen_t)outlen);
    else if (peer->ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;
        /* IPv4 clients of a dual-stack listener: log them as IPv4. */
        if (IN6_IS_ADDR_V4MAPPED(a6))
            inet_ntop(AF_INET, &a6->s6_addr[12], out, (socklen_t)outlen);
        else
            inet_ntop(AF_INET6, a6, out, (socklen_t)outlen);
    }
    else
        snprintf(out, outlen, "unknown");
}

void sl_conn_accept(sl_worker *w, int listener_index, int fd, const struct sockaddr_storage *peer)
{
    sl_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        /* Out of memory on the request path: refuse this connection, keep serving. */
        close(fd);
        return;
    }
    c->w = w;
    c->fd = fd;
    c->listener = listener_index;
    /* Responses go out in a few writes (head, body pieces): without TCP_NODELAY,
     * Nagle holds the last small segment until the client's delayed ACK (~40 ms). */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* HTTPS listeners: a TLS session from the current snapshot's certificates. */
    sl_wsnap_refresh(w);
    uint32_t pi = w->snap ? w->snap->port_of_socket[listener_index] : SL_SNAP_NONE;
    if (pi != SL_SNAP_NONE) {
        const sl_snap_port *port = SL_SNAP_GET(&w->snap->s, SL_SNAP_PORTS, sl_snap_port, pi);
        c->proxy_mode = port->proxy_protocol;
        c->l4 = port->protocol == SL_PROTO_TLS ? SL_ROUTE_TLS : port->protocol == SL_PROTO_TCP ? SL_ROUTE_TCP : 0;
    }
    if (pi != SL_SNAP_NONE && SL_SNAP_GET(&w->snap->s, SL_SNAP_PORTS, sl_snap_port, pi)->protocol == SL_PROTO_HTTPS) {
        c->ssl = sl_tls_accept(w->snap->tls, pi, fd);
        if (!c->ssl) {
            free(c);
            close(fd); /* no usable certificate: nothing to talk with */
            return;
        }
        c->secure = true;
    }
    peer_text(peer, c->peer, sizeof(c->peer));
    c->peer_ip = c->client = sl_ip_from_sockaddr(peer);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    if (w->nconns > w->nconns_peak)
        w->nconns_peak = w->nconns;
    atomic_fetch_add(&w->slot->connections_accepted, 1);
    atomic_store(&w->slot->connections_open, w->nconns);
    ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
    c->io.data = c;
    ev_init(&c->timer, conn_timer_cb);
    c->timer.data = c;
    c->state = SL_CONN_READ_HEAD;
    c->deadline_ms = sl_now_ms() + (uint64_t)sl_setting(SL_SET_HEADER_TIMEOUT_MS);
    ev_io_start(w->loop, &c->io);
    sl_conn_update(c);
    if (c->l4 == SL_ROUTE_TCP && !c->proxy_mode)
        sl_l4_input(c); /* to its backend at once: the server may speak first */
}

sl_conn *sl_conn_new_stream(sl_conn *parent, sl_h2_stream *st)
{
    sl_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->w = parent->w;
    c->fd = -1;
    c->h2s = st;
    c->secure = parent->secure;
    c->listener = parent->listener;
    memcpy(c->peer, parent->peer, sizeof(c->peer));
    c->peer_ip = c->client = parent->peer_ip;
    ev_init(&c->timer, conn_timer_cb);
    c->timer.data = c;
    c->state = SL_CONN_READ_HEAD;
    c->deadline_ms = sl_now_ms() + (uint64_t)sl_setting(SL_SET_HEADER_TIMEOUT_MS);
    return c;
}

/* What the policies left on the connection for one request (claims, extra
 * upstream fields, a held head, the passed rate limit): gone at its end. */
static void release_policy_state(sl_conn *c)
{
    free(c->claims);
    c->claims = NULL;
    c->claim_headers = (sl_snap_range){0, 0};
    free(c->up_extra);
    c->up_extra = NULL;
    c->up_replace = NULL;
    free(c->held_head);
    c->held_head = NULL;
    c->rl_policy = NULL;
    c->mcp_authz = NULL;
    c->mcp_rl = NULL;
    sl_res_hook_end(c);
    sl_ai_tokens_end(c);
    sl_ai_budget_end(c);
    sl_collect_end(c);
    sl_mcp_end(c);
    sl_lb_request_end(c); /* (a retry waiting out its backoff still holds its charge) */
}

static void log_request(sl_conn *c);
static void count_status(sl_worker *w, int status);

/* A request (or a passed-through connection) ended: counted, traced, logged. */
static void request_ended(sl_conn *c)
{
    /* What is still unread in the buffer is the next request's (pipelining):
     * counted for that one (see the keep-alive reset in sl_conn_finish_request). */
    uint64_t ahead = c->h2s || c->l4 ? 0 : sl_buf_len(&c->in);
    c->bytes_in = c->bytes_in > ahead ? c->bytes_in - ahead : 0;
    if (c->status)
        count_status(c->w, c->status);
    sl_traffic_request_done(c);
    sl_trace_end(c);
    log_request(c);
    memset(&c->trace, 0, sizeof(c->trace)); /* (a next request answered before dispatch has none) */
}

void sl_conn_close(sl_conn *c)
{
    sl_worker *w = c->w;
    if (c->l4 && c->log_method[0]) {
        /* A passed-through connection: one line when it ends (status 0, or the
         * 404 or 5xx it would have had when it could not be passed on). */
        request_ended(c);
    }
    if (c->up)
        sl_proxy_detach(c, false);
    if (c->policy_cancel) {
        c->policy_cancel(c); /* a policy's call in flight is abandoned */
        c->policy_cancel = NULL;
    }
    release_policy_state(c); /* before the snapshot goes: a response hook's release may use it */
    if (c->snap) {
        sl_wsnap_release(w, c->snap);
        c->snap = NULL;
    }
    if (c->h2s) {
        /* A stream: no socket; the session carries on. */
        ev_timer_stop(w->loop, &c->timer);
        sl_h2_stream_conn_closed(c);
        sl_cbuf_put(w, &c->in);
        sl_cbuf_put(w, &c->out);
        sl_cbuf_put(w, &c->uout);
        sl_bodybuf_put(w, &c->uin);
        free(c->log_extra);
        free(c);
        return;
    }
    if (c->h2)
        sl_h2_free(c);
    ev_io_stop(w->loop, &c->io);
    ev_timer_stop(w->loop, &c->timer);
    sl_tls_close(c->ssl);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    atomic_store(&w->slot->connections_open, w->nconns);
    sl_cbuf_put(w, &c->in);
    sl_cbuf_put(w, &c->out);
    sl_cbuf_put(w, &c->uout);
    sl_bodybuf_put(w, &c->uin);
    sl_l4_splice_release(c);
    sl_splice_release(c);
    free(c->proxy_buf);
    free(c->log_extra);
    free(c);
}

static void log_request(sl_conn *c)
{
    if (c->w->args.access_log_fd < 0)
        return; /* --access-log off: not even formatted */
    sl_access_log_line(c->w, c);
}

static void count_status(sl_worker *w, int status)
{
    sl_worker_slot *s = w->slot;
    if (status >= 500)
        atomic_fetch_add(&s->responses_5xx, 1);
    else if (status >= 400)
        atomic_fetch_add(&s->responses_4xx, 1);
    else if (status >= 300)
        atomic_fetch_add(&s->responses_3xx, 1);
    else
        atomic_fetch_add(&s->responses_2xx, 1);
}

void sl_conn_finish_request(sl_conn *c)
{
    sl_worker *w = c->w;
    if (c->status)
        request_ended(c);
    c->route = NULL; /* (the next request on the connection has its own, or none) */
    /* What a hook or a collected body kept is not kept past its request (an
     * idle keep-alive connection holds no such memory). */
    sl_res_hook_end(c);
    sl_ai_tokens_end(c);
    sl_ai_budget_end(c);
    sl_collect_end(c);
    sl_mcp_end(c);
    if (c->h2s)
        sl_h2_stream_finished(c);
    if (c->up)
        sl_proxy_detach(c, c->up_reusable_hint && c->req_body.done && c->res_body.done && !c->up_eof &&
                               c->res_body.kind != SL_BODY_CLOSE);
    if (c->snap) {
        sl_wsnap_release(w, c->snap);
        c->snap = NULL;
    }
    c->requests++;
    if (c->close_after || !c->keep_alive || w->draining || sl_setting(SL_SET_KEEPALIVE_TIMEOUT_MS) == 0) {
        c->state = SL_CONN_CLOSING;
        if (sl_buf_len(&c->out) == 0) {
            sl_conn_close(c);
            return;
        }
        sl_conn_update(c);
        return;
    }
    /* Keep-alive: the next request may already be in the buffer (pipelining). */
    c->state = SL_CONN_READ_HEAD;
    c->status = 0;
    c->bytes_out = 0;
    c->bytes_in = sl_buf_len(&c->in); /* (a pipelined next request already read) */
    c->log_route[0] = c->log_upstream[0] = '\0';
    memset(&c->scan, 0, sizeof(c->scan));
    c->deadline_ms = sl_now_ms() + (uint64_t)(sl_buf_len(&c->in) ? sl_setting(SL_SET_HEADER_TIMEOUT_MS)
                                                                  : sl_setting(SL_SET_KEEPALIVE_TIMEOUT_MS));
    /* Idle keep-alive connections hold no buffer (the next read takes one). */
    sl_cbuf_put(w, &c->uout);
    sl_bodybuf_put(w, &c->uin);
    sl_splice_release(c);
    if (sl_buf_len(&c->out) == 0)
        sl_cbuf_put(w, &c->out);
    if (sl_buf_len(&c->in) == 0)
        sl_cbuf_put(w, &c->in);
    sl_conn_update(c);
    if (sl_buf_len(&c->in))
        process_input(c);
}

void sl_conn_respond(sl_conn *c, int status, const char *body, bool close_conn)
{
    sl_conn_respond_with(c, status, "", body, close_conn);
}

void sl_conn_respond_with(sl_conn *c, int status, const char *extra_headers, const char *body, bool close_conn)
{
    if (close_conn)
        c->close_after = true;
    respond(c, status, extra_headers, "Content-Type: text/plain; charset=utf-8\r\n", body, strlen(body));
}

void sl_conn_respond_json(sl_conn *c, int status, const char *body, bool close_conn)
{
    if (close_conn)
        c->close_after = true;
    respond(c, status, "", "Content-Type: application/json\r\n", body, strlen(body));
}

void sl_conn_respond_raw(sl_conn *c, int status, const char *headers, const char *body, size_t blen)
{
    respond(c, status, headers, "", body, blen);
}

void sl_conn_respond_big(sl_conn *c, int status, const char *headers, const char *body, size_t blen)
{
    if (sl_cbuf_get(c->w, &c->out) != 0) {
        sl_conn_close(c);
        return;
    }
    size_t need = sl_buf_len(&c->out) + 512 + strlen(headers) + blen;
    if (sl_buf_room(&c->out) + c->out.start < need) {
        /* A buffer of its own (freed, not pooled, when the request ends: sl_cbuf_put). */
        sl_buf grown = {0};
        if (sl_buf_alloc(&grown, need) != 0) {
            respond(c, 503, "", "Content-Type: text/plain\r\n", "out of memory\n", 14);
            return;
        }
        sl_buf_append(&grown, c->out.data + c->out.start, sl_buf_len(&c->out));
        sl_cbuf_put(c->w, &c->out);
        c->out = grown;
    }
    respond(c, status, headers, "", body, blen);
}

/* Queues a local response: header lines (each "Name: value\r\n"), then the
 * content type line, the length and the body; finishes the request. */
static void respond(sl_conn *c, int status, const char *headers, const char *content_type, const char *body,
                    size_t blen)
{
    if (c->l4) {
        /* A passed-through connection cannot carry an HTTP answer: it closes,
         * just after (callers may still touch c), and the access log keeps the
         * status it would have had. */
        c->status = status;
        sl_proxy_detach(c, false);
        c->state = SL_CONN_CLOSING;
        c->deadline_ms = sl_now_ms();
        sl_conn_update(c);
        return;
    }
    if (sl_cbuf_get(c->w, &c->out) != 0) {
        sl_conn_close(c);
        return;
    }
    if (c->req_body.kind != SL_BODY_NONE && !c->req_body.done)
        c->close_after = true; /* the unread request body would be taken for the next request */
    if (status >= 400 && sl_h2_stream_is_grpc(c)) {
        respond_grpc(c, status, body);
        return;
    }
    /* A body larger than the buffer leaves room for (an extAuth service's
     * page) is cut, and its length says so: the head is written for what goes. */
    size_t head_max = 256 + strlen(headers) + strlen(content_type);
    size_t room = sl_buf_room(&c->out) > head_max ? sl_buf_room(&c->out) - head_max : 0;
    if (blen > room)
        blen = room;
    sl_buf_printf(&c->out, "HTTP/1.1 %d %s\r\n%s%sContent-Length: %zu\r\n%s\r\n", status, sl_http_reason(status),
                  headers, content_type, blen, c->close_after || !c->keep_alive ? "Connection: close\r\n" : "");
    if (c->method != SL_HTTP1_METHOD_HEAD)
        sl_buf_append(&c->out, body, blen);
    c->status = status;
    c->bytes_out += blen;
    c->state = SL_CONN_LOCAL;
    if (sl_conn_flush(c))
        sl_conn_update(c);
}

/* A gRPC client understands errors only as gRPC statuses: a "trailers-only"
 * response (HTTP 200, grpc-status and grpc-message, no body), with the status
 * that gRPC's HTTP mapping gives the HTTP code. */
static void respond_grpc(sl_conn *c, int status, const char *body)
{
    int code = status == 400 ? 13 /* INTERNAL */ : status == 401 ? 16 /* UNAUTHENTICATED */
             : status == 403 ? 7 /* PERMISSION_DENIED */ : status == 404 ? 12 /* UNIMPLEMENTED */
             : (status == 429 || status == 502 || status == 503 || status == 504) ? 14 /* UNAVAILABLE */
             : 2 /* UNKNOWN */;
    char msg[200];
    size_t n = 0;
    /* grpc-message is percent-encoded: keep printable ASCII but '%'. */
    for (const unsigned char *p = (const unsigned char *)body; *p && n + 4 < sizeof(msg); p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '%')
            msg[n++] = (char)*p;
        else if (*p != '\n')
            n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%%%02X", *p);
    }
    msg[n] = '\0';
    sl_buf_printf(&c->out,
                  "HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\nGrpc-Status: %d\r\nGrpc-Message: %s\r\n"
                  "Content-Length: 0\r\n\r\n",
                  code, msg);
    c->status = status;
    c->state = SL_CONN_LOCAL;
    if (sl_conn_flush(c))
        sl_conn_update(c);
}

bool sl_conn_flush(sl_conn *c)
{
    for (;;) {
        struct iovec iov[2];
        int n = 0;
        size_t total = 0;
        if (sl_buf_len(&c->out)) {
            iov[n].iov_base = c->out.data + c->out.start;
            iov[n].iov_len = sl_buf_len(&c->out);
            total += iov[n++].iov_len;
        }
        const char *body = NULL;
        size_t blen = c->state == SL_CONN_PROXY ? sl_proxy_pending_body(c, &body) : 0;
        if (blen) {
            iov[n].iov_base = (void *)body;
            iov[n].iov_len = blen;
            total += iov[n++].iov_len;
        }
        if (n == 0)
            break;
        ssize_t wr = c->h2s ? sl_h2_stream_take(c, iov, n)
                     : c->ssl ? sl_tls_writev(c->ssl, iov, n, &c->tls_write_wants_read)
                              : sl_sys_writev(c->fd, iov, n);
        if (wr < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            if (errno == EINTR)
                continue;
            sl_conn_close(c); /* the client went away: drop this request */
            return false;
        }
        atomic_fetch_add(&c->w->slot->bytes_out, (uint64_t)wr);
        size_t left = (size_t)wr;
        size_t from_out = left < sl_buf_len(&c->out) ? left : sl_buf_len(&c->out);
        c->out.start += from_out;
        left -= from_out;
        if (sl_buf_len(&c->out) == 0)
            c->out.start = c->out.end = 0;
        if (left) {
            sl_proxy_body_written(c, left);
        }
        if ((size_t)wr < total)
            return true; /* partial write: wait for room */
    }
    if (sl_buf_len(&c->out))
        return true;
    if (c->state == SL_CONN_LOCAL) {
        sl_conn_finish_request(c);
        return false;
    }
    if (c->state == SL_CONN_CLOSING) {
        sl_conn_close(c);
        return false;
    }
    if (c->state == SL_CONN_PROXY && sl_proxy_complete(c)) {
        sl_conn_finish_request(c);
        return false;
    }
    return true;
}

void sl_conn_update(sl_conn *c)
{
    sl_worker *w = c->w;
    if (c->h2s) {
        sl_h2_stream_update(c); /* a stream has no socket; only its timer */
        goto timer;
    }
    int events = 0;
    switch (c->state) {
    case SL_CONN_READ_HEAD:
        if (!c->client_eof)
            events |= EV_READ;
        break;
    case SL_CONN_PROXY:
        if (c->l4_splicing) {
            events = sl_l4_splice_events(c, false);
            goto watch;
        }
        /* Read while there is room: the request body, or early bytes of the next
         * pipelined request (keeping EV_READ on saves an epoll_ctl per request). */
        if (!c->client_eof && (!c->in.data || sl_buf_room(&c->in) + c->in.start > 0))
            events |= EV_READ;
        break;
    case SL_CONN_H2: events = sl_h2_events(c); break;
    case SL_CONN_POLICY:
        if (c->watch_eof && !c->client_eof && (!c->in.data || sl_buf_room(&c->in) + c->in.start > 0))
            events |= EV_READ;
        break;
    default: break;
    }
    const char *unused;
    if (sl_buf_len(&c->out) || (c->state == SL_CONN_PROXY && (sl_proxy_pending_body(c, &unused) || c->pipe_bytes)))
        events |= EV_WRITE;
    if (c->ssl) {
        /* TLS can need the other direction to make progress on this one. */
        if ((events & EV_READ) && c->tls_read_wants_write)
            events |= EV_WRITE;
        if ((events & EV_WRITE) && c->tls_write_wants_read)
            events |= EV_READ;
        /* Decrypted bytes already inside OpenSSL raise no socket event. */
        if ((events & EV_READ) && SSL_pending(c->ssl) > 0 && sl_buf_room(&c->in) + c->in.start > 0)
            ev_feed_event(w->loop, &c->io, EV_READ);
    }
watch:
    if ((c->io.events & (EV_READ | EV_WRITE)) != events) {
        ev_io_stop(w->loop, &c->io);
        ev_io_modify(&c->io, events); /* same fd: no EV__IOFDSET, so no epoll_ctl ADD that fails with EEXIST */
        if (events)
            ev_io_start(w->loop, &c->io);
    }
timer:
    /* The timer only moves earlier: a later deadline is found when it fires (the
     * callback re-arms), which keeps timer heap work off the per-request path. */
    if (ev_is_active(&c->timer) && c->timer_at_ms <= c->deadline_ms)
        return;
    uint64_t now = sl_now_ms();
    double after = c->deadline_ms > now ? (double)(c->deadline_ms - now) / 1000.0 : 0.001;
    ev_timer_stop(w->loop, &c->timer);
    ev_timer_set(&c->timer, after, 0.);
    ev_timer_start(w->loop, &c->timer);
    c->timer_at_ms = c->deadline_ms;
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    sl_conn *c = t->data;
    c->timer_at_ms = 0;
    if (sl_now_ms() + 1 < c->deadline_ms) {
        sl_conn_update(c); /* deadline moved: re-arm */
        return;
    }
    switch (c->state) {
    case SL_CONN_READ_HEAD:
        if (sl_buf_len(&c->in) == 0 || c->l4) {
            sl_conn_close(c); /* idle keep-alive connection, or a ClientHello that never came whole */
            return;
        }
        c->keep_alive = false;
        snprintf(c->log_method, sizeof(c->log_method), "-");
        c->started_ms = sl_now_ms();
        c->started_us = sl_now_us();
        sl_conn_respond(c, 408, "request head not received in time\n", true);
        return;
    case SL_CONN_PROXY: sl_proxy_timeout(c); return;
    case SL_CONN_H2: sl_h2_timeout(c); return;
    default: sl_conn_close(c); return;
    }
}

/* Reads what the client sent into c->in. Returns false when the connection was closed. */
static bool read_client(sl_conn *c)
{
    if (sl_cbuf_get(c->w, &c->in) != 0) {
        sl_conn_close(c); /* out of memory: this connection goes, the worker stays */
        return false;
    }
    for (;;) {
        if (sl_buf_room(&c->in) == 0) {
            c->replay_len = -1; /* the body's bytes move: no resending from here on */
            sl_buf_compact(&c->in);
        }
        if (sl_buf_room(&c->in) == 0)
            return true;
        ssize_t n = c->ssl ? sl_tls_read(c->ssl, c->in.data + c->in.end, sl_buf_room(&c->in), &c->tls_read_wants_write)
                           : sl_sys_read(c->fd, c->in.data + c->in.end, sl_buf_room(&c->in));
        if (n > 0) {
            c->in.end += (size_t)n;
            c->last_client_ms = sl_now_ms();
            c->tunnel_activity_ms = c->last_client_ms;
            atomic_fetch_add(&c->w->slot->bytes_in, (uint64_t)n);
            c->bytes_in += (uint64_t)n;
            /* A short plain read means the socket is drained; TLS may still hold
             * decrypted bytes, so it reads on until OpenSSL wants more. */
            if ((size_t)n < 4096 && !c->ssl)
                return true;
            continue;
        }
        if (n == 0) {
            c->client_eof = true;
            return true;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return true;
        if (errno == EINTR)
            continue;
        sl_conn_close(c);
        return false;
    }
}

static void copy_slice(char *dst, size_t dstlen, sl_slice s)
{
    size_t n = s.len < dstlen - 1 ? s.len : dstlen - 1;
    if (n)
        memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

/* The User-Agent and Referer, for an access log format that has them. */
static void keep_log_extra(sl_conn *c, const sl_http1_request *req)
{
    if (!c->log_extra && !(c->log_extra = malloc(sizeof(*c->log_extra))))
        return;
    const sl_http1_header *agent = sl_http1_request_header(req, "user-agent");
    const sl_http1_header *referer = sl_http1_request_header(req, "referer");
    copy_slice(c->log_extra->agent, sizeof(c->log_extra->agent), agent ? agent->value : (sl_slice){"", 0});
    copy_slice(c->log_extra->referer, sizeof(c->log_extra->referer), referer ? referer->value : (sl_slice){"", 0});
}

/* True when a TLS connection's request is for a host that another listener of
 * the port serves than the one its handshake chose by SNI (RFC 9110 421, as the
 * Gateway API asks): the Host picks a listener with the same rules as SNI. */
static bool misdirected(sl_conn *c, SSL *ssl, sl_slice host)
{
    const char *chosen = sl_tls_chosen_hostname(ssl);
    if (!chosen || !SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))
        return false;
    const sl_snapshot *s = &c->snap->s;
    uint32_t pi = c->snap->port_of_socket[c->listener];
    if (pi == SL_SNAP_NONE)
        return false;
    const sl_snap_port *p = SL_SNAP_GET(s, SL_SNAP_PORTS, sl_snap_port, pi);
    const char *best = NULL;
    int best_rank = -1;
    for (uint32_t i = 0; i < p->certs.count; i++) {
        const sl_snap_cert *ct = SL_SNAP_GET(s, SL_SNAP_CERTS, sl_snap_cert, p->certs.first + i);
        const char *pattern = sl_snap_cstr(s, ct->hostname);
        int rank;
        if (!pattern[0]) {
            rank = 1;
        } else if (pattern[0] == '*') {
            size_t pl = ct->hostname.len - 1; /* ".example.com" */
            if (!(host.len > pl && strncasecmp(host.ptr + host.len - pl, pattern + 1, pl) == 0))
                continue;
            rank = 100 + (int)pl;
        } else {
            if (!(host.len == ct->hostname.len && strncasecmp(host.ptr, pattern, host.len) == 0))
                continue;
            rank = 10000;
        }
        if (rank > best_rank) {
            best = pattern;
            best_rank = rank;
        }
    }
    return best && strcasecmp(best, chosen) != 0;
}

/* Routes the parsed request head (w->req) and starts proxying or answers locally. */
static void dispatch(sl_conn *c)
{
    sl_worker *w = c->w;
    sl_http1_request *req = &w->req;
    /* The head is consumed now, whatever answers it (the proxy copies what it
     * needs into the upstream head; local answers need nothing more). Its bytes
     * stay in place until the next read, so req's slices remain valid here. */
    c->in.start += req->head_len;
    /* --keepalive-timeout 0 turns keep-alive off: every answer says so. */
    c->keep_alive = req->keep_alive && sl_setting(SL_SET_KEEPALIVE_TIMEOUT_MS) > 0 && !c->h2s;
    c->version_minor = req->version_minor;
    c->method = req->meth;
    c->expect_continue = req->expect_continue;
    copy_slice(c->log_method, sizeof(c->log_method), req->method);
    copy_slice(c->log_host, sizeof(c->log_host), req->host);
    copy_slice(c->log_path, sizeof(c->log_path), req->target);
    if (sl_log_format_wants_agent() || sl_log_format_wants_referer())
        keep_log_extra(c, req);
    sl_trace_begin(c, req);
    c->origin[0] = '\0';
    c->client_id = "";
    c->client = c->peer_ip; /* realIp may say otherwise for this request */
    c->nauth = 0;
    release_policy_state(c);
    memset(&c->req_body, 0, sizeof(c->req_body));
    if (req->body == SL_HTTP1_BODY_LENGTH && req->content_length > 0) {
        c->req_body.kind = SL_BODY_LENGTH;
        c->req_body.remaining = req->content_length;
    } else if (req->body == SL_HTTP1_BODY_CHUNKED) {
        c->req_body.kind = SL_BODY_CHUNKED;
        sl_http1_chunked_init(&c->req_body.chunked, &w->limits);
    } else {
        c->req_body.done = true;
    }
    atomic_fetch_add(&w->slot->requests, 1);
    if (req->meth == SL_HTTP1_METHOD_CONNECT) {
        /* A tunnel to any host:port is a forward proxy's job, not a gateway's:
         * no route allows it, so it never reaches an upstream (which would see
         * "CONNECT /" and might answer 200 to a tunnel that does not exist). */
        sl_conn_respond_with(c, 405, "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n",
                             "CONNECT (tunnelling) is not allowed on this gateway\n", true);
        return;
    }

    /* Each request runs on the snapshot current when it started, to its end. */
    sl_wsnap_refresh(w);
    c->snap = w->snap;
    if (!c->snap) {
        sl_conn_respond(c, 503, "no configuration yet\n", false);
        return;
    }
    c->snap->refs++;
    uint32_t port_index = c->snap->port_of_socket[c->listener];
    if (port_index == SL_SNAP_NONE) {
        sl_conn_respond(c, 404, "no route for this listener\n", false);
        return;
    }
    /* A port that routes by model reads the model from the body first. */
    if (c->snap->route_by_model[c->listener] && sl_ai_model_route_begin(c) != 0)
        return; /* routed once the body is here, or answered */
    sl_conn_route(c);
}

void sl_conn_route(sl_conn *c)
{
    const sl_http1_request *req = &c->w->req;
    uint32_t port_index = c->snap->port_of_socket[c->listener];
    /* Host without its port. IPv6 literals keep their brackets. */
    sl_slice host = req->host;
    for (size_t i = host.len; i > 0; i--) {
        char ch = host.ptr[i - 1];
        if (ch == ':') {
            host.len = i - 1;
            break;
        }
        if (ch < '0' || ch > '9')
            break;
    }
    sl_route_request rr = {
        .host = host,
        .path = req->path.len ? req->path : sl_slice_from_cstr("/"),
        .query = req->query,
        .method = req->method,
        .headers = req->headers,
        .nheaders = req->nheaders,
    };
    SSL *ssl = sl_h2_stream_ssl(c);
    if (ssl && misdirected(c, ssl, host)) {
        sl_conn_respond(c, 421, "this connection's certificate is not for that host\n", false);
        return;
    }
    if (sl_mcp_oauth_metadata(c, &rr, port_index))
        return; /* an MCP route's OAuth metadata: the gateway's own answer */
    const sl_snap_route *route = NULL;
    sl_route_result res = sl_router_lookup(&c->snap->s, c->snap->regex, port_index, &rr, &route);
    if (res == SL_ROUTE_FOUND && route && (route->kind == SL_ROUTE_TLS || route->kind == SL_ROUTE_TCP))
        res = SL_ROUTE_NO_MATCH; /* a connection route on a port shared with HTTP (conflicting listeners) */
    if (res != SL_ROUTE_FOUND) {
        sl_conn_respond(c, 404, "no route matches this request\n", false);
        return;
    }
    /* "namespace/name" (both bounded by the validator: 63 + 1 + 63 < 160). */
    const sl_snapshot *s = &c->snap->s;
    size_t nl = route->route_ns.len < 80 ? route->route_ns.len : 79;
    size_t ml = route->route_name.len < sizeof(c->log_route) - nl - 2 ? route->route_name.len
                                                                      : sizeof(c->log_route) - nl - 2;
    memcpy(c->log_route, sl_snap_cstr(s, route->route_ns), nl);
    c->log_route[nl] = '/';
    memcpy(c->log_route + nl + 1, sl_snap_cstr(s, route->route_name), ml);
    c->log_route[nl + 1 + ml] = '\0';
    sl_proxy_start(c, route);
}

/* A new connection speaks HTTP/2: ALPN said "h2", or (cleartext) it opens
 * with the client preface (prior knowledge). */
static bool starts_http2(sl_conn *c)
{
    if (c->ssl) {
        const unsigned char *proto = NULL;
        unsigned int len = 0;
        SSL_get0_alpn_selected(c->ssl, &proto, &len);
        return len == 2 && memcmp(proto, "h2", 2) == 0;
    }
    return sl_buf_len(&c->in) >= SL_H2_PREFACE_LEN &&
           memcmp(c->in.data + c->in.start, SL_H2_PREFACE, SL_H2_PREFACE_LEN) == 0;
}

static void process_input(sl_conn *c)
{
    sl_worker *w = c->w;
    if (c->state != SL_CONN_READ_HEAD)
        return;
    if (sl_buf_len(&c->in) == 0) {
        if (c->client_eof)
            sl_conn_close(c);
        return;
    }
    if (c->requests == 0 || c->scan.pos == 0) {
        /* The first bytes of a request start its header clock. */
        if (c->scan.pos == 0 && c->requests > 0)
            c->deadline_ms = sl_now_ms() + (uint64_t)sl_setting(SL_SET_HEADER_TIMEOUT_MS);
    }
    if (c->requests == 0 && c->ssl && c->scan.pos == 0 && !sl_tls_version_ok(c->ssl)) {
        sl_log_debug("worker", "client %s: TLS version below the listener's minimum", c->peer);
        sl_conn_close(c);
        return;
    }
    if (c->requests == 0 && !c->h2s && c->scan.pos == 0 && starts_http2(c)) {
        sl_h2_start(c);
        return;
    }
    if (c->requests == 0 && !c->ssl && c->scan.pos == 0 && sl_buf_len(&c->in) < SL_H2_PREFACE_LEN &&
        memcmp(c->in.data + c->in.start, SL_H2_PREFACE, sl_buf_len(&c->in)) == 0 && !c->client_eof) {
        sl_conn_update(c); /* maybe the HTTP/2 preface: wait for all of it */
        return;
    }
    if (c->in.start > 0 && c->scan.pos == 0)
        sl_buf_compact(&c->in);
    int rc = sl_http1_parse_request(c->in.data + c->in.start, sl_buf_len(&c->in), &c->scan, &w->req, &w->limits);
    if (rc == SL_AGAIN) {
        if (c->client_eof) {
            sl_conn_close(c); /* closed mid-head: nothing to answer */
            return;
        }
        sl_conn_update(c);
        return;
    }
    c->started_ms = sl_now_ms();
    c->started_us = sl_now_us();
    if (rc == SL_ERR) {
        atomic_fetch_add(&w->slot->bad_requests, 1);
        snprintf(c->log_method, sizeof(c->log_method), "-");
        snprintf(c->log_path, sizeof(c->log_path), "-");
        c->log_host[0] = '\0';
        c->keep_alive = false;
        c->in.start = c->in.end = 0;
        sl_log_debug("worker", "client %s: %s", c->peer, w->req.error);
        char body[200];
        snprintf(body, sizeof(body), "%s\n", w->req.error ? w->req.error : "bad request");
        sl_conn_respond(c, w->req.status ? w->req.status : 400, body, true);
        return;
    }
    dispatch(c);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    sl_conn *c = io->data;
    if (c->proxy_mode && (!(revents & EV_READ) || !sl_conn_proxy_header(c)))
        return; /* before its PROXY header nothing else is read or written */
    if (c->l4 && c->state == SL_CONN_READ_HEAD) {
        /* A connection routed by its first bytes (TLS) or by its listener (TCP). */
        if ((revents & EV_READ) && !read_client(c))
            return;
        sl_l4_input(c);
        return;
    }
    if (c->state == SL_CONN_H2) {
        sl_h2_io(c, revents);
        return;
    }
    if (c->l4_splicing) {
        if (revents & EV_READ)
            c->l4_client_readable = true;
        sl_proxy_client_event(c); /* (nothing is read into `in`: the bytes go by splice) */
        return;
    }
    if (c->ssl) {
        /* A read that waited for writability, or a write that waited for readability. */
        if ((revents & EV_WRITE) && c->tls_read_wants_write)
            revents |= EV_READ;
        if ((revents & EV_READ) && c->tls_write_wants_read)
            revents |= EV_WRITE;
    }
    if (revents & EV_WRITE) {
        if (!sl_conn_flush(c))
            return;
    }
    if (revents & EV_READ) {
        if (!read_client(c))
            return;
        if (c->state == SL_CONN_READ_HEAD) {
            process_input(c);
            return;
        }
        if (c->state == SL_CONN_PROXY) {
            sl_proxy_client_event(c);
            return;
        }
        if (c->state == SL_CONN_POLICY && c->client_eof) {
            sl_conn_close(c); /* it left while its answer was being made (watch_eof) */
            return;
        }
    }
    if (c->state == SL_CONN_PROXY && (revents & EV_WRITE)) {
        sl_proxy_client_event(c);
        return;
    }
    sl_conn_update(c);
}

void sl_conn_close_idle(sl_worker *w)
{
    sl_conn *c = w->conns;
    while (c) {
        sl_conn *next = c->next;
        if (c->state == SL_CONN_READ_HEAD && sl_buf_len(&c->in) == 0)
            sl_conn_close(c);
        else if (c->state == SL_CONN_H2)
            sl_h2_shutdown(c);
        c = next;
    }
}

void sl_conn_close_all(sl_worker *w)
{
    while (w->conns)
        sl_conn_close(w->conns);
}

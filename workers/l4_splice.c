/* Zero-copy relay of passed-through connections (TLS passthrough, TCP).
 *
 * Once a TLS or TCP connection's upstream is connected and everything read
 * so far (the ClientHello, early bytes, a PROXY header) is out, its bytes move
 * by splice(2), socket -> pipe -> socket, in both directions: the kernel
 * passes page references along and the worker never copies a byte. Each
 * direction has its pipe (the response direction uses `pipe`, as response
 * splicing does; the client's direction `l4_pipe`), filled only when empty,
 * so a side that does not read holds the other back (one pipe's worth in
 * flight, the same back-pressure as the copying path).
 *
 * End-of-stream goes on per direction once its pipe is empty (TCP half-close);
 * the connection ends when both directions have, or nothing moves for
 * --tunnel-idle-timeout (proxy.c's timer). Only for plain sockets on both
 * sides, which a passed-through connection always has. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/settings.h"
#include "workers/conn.h"
#include "workers/sys_io.h"

/* What one splice into a pipe asks for: the default pipe size (16 pages). */
#define PIPE_BYTES 65536

bool sl_l4_splice_ready(const sl_conn *c)
{
    return c->l4 && !c->l4_splicing && c->state == SL_CONN_PROXY && c->up && c->up->connected && c->fd >= 0 &&
           sl_setting(SL_SET_SPLICE_MIN_BYTES) > 0 && !c->ssl && !c->up->ssl && !c->req_body.done &&
           !c->res_body.done && sl_buf_len(&c->in) == 0 && sl_buf_len(&c->uout) == 0 && sl_buf_len(&c->uin) == 0 &&
           sl_buf_len(&c->out) == 0 && c->res_ready == 0;
}

bool sl_l4_splice_start(sl_conn *c)
{
    if (!sl_splice_start(c)) /* the response direction's pipe (from the pool) */
        return false;
    if (pipe2(c->l4_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        sl_splice_release(c);
        return false; /* out of descriptors: copying carries on */
    }
    c->l4_splicing = true;
    c->l4_pipe_bytes = 0;
    c->l4_client_readable = true; /* (unknown: one try tells) */
    c->up->readable = true;
    return true;
}

void sl_l4_splice_release(sl_conn *c)
{
    if (!c->l4_splicing)
        return;
    c->l4_splicing = false;
    close(c->l4_pipe[0]);
    close(c->l4_pipe[1]);
    c->l4_pipe_bytes = 0;
    sl_splice_release(c);
}

typedef enum { MOVED_NONE, MOVED_SOME, MOVE_FAILED } move_result;

/* Client -> pipe -> upstream, as far as both sockets allow. */
static move_result client_to_upstream(sl_conn *c)
{
    int up = c->up->fd;
    move_result r = MOVED_NONE;
    for (;;) {
        if (c->l4_pipe_bytes > 0) {
            ssize_t n = sl_sys_splice(c->l4_pipe[0], up, c->l4_pipe_bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                c->l4_pipe_bytes -= (size_t)n;
                r = MOVED_SOME;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return r; /* the upstream's socket is full */
            return MOVE_FAILED; /* the upstream is gone */
        }
        if (c->req_body.done || !c->l4_client_readable)
            return r;
        ssize_t n = sl_sys_splice(c->fd, c->l4_pipe[1], PIPE_BYTES, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            c->l4_pipe_bytes += (size_t)n;
            atomic_fetch_add(&c->w->slot->bytes_in, (uint64_t)n);
            r = MOVED_SOME;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->l4_client_readable = false;
            return r;
        }
        /* 0: the client's end-of-stream; an error (a reset) ends its direction too. */
        c->client_eof = true;
        c->req_body.done = true;
        return r;
    }
}

/* Upstream -> pipe -> client. */
static move_result upstream_to_client(sl_conn *c)
{
    sl_upstream *u = c->up;
    move_result r = MOVED_NONE;
    for (;;) {
        if (c->pipe_bytes > 0) {
            ssize_t n = sl_sys_splice(c->pipe[0], c->fd, c->pipe_bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                c->pipe_bytes -= (size_t)n;
                c->bytes_out += (uint64_t)n;
                atomic_fetch_add(&c->w->slot->bytes_out, (uint64_t)n);
                atomic_fetch_add(&c->w->slot->bytes_spliced, (uint64_t)n);
                r = MOVED_SOME;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return r; /* the client's socket is full */
            return MOVE_FAILED; /* the client is gone */
        }
        if (c->res_body.done || !u->readable)
            return r;
        ssize_t n = sl_sys_splice(u->fd, c->pipe[1], PIPE_BYTES, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            c->pipe_bytes += (size_t)n;
            r = MOVED_SOME;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            u->readable = false;
            return r;
        }
        c->up_eof = true; /* end-of-stream (or a reset) from the upstream */
        c->res_body.done = true;
        return r;
    }
}

int sl_l4_splice_events(const sl_conn *c, bool upstream_side)
{
    int events = 0;
    if (upstream_side) {
        if (!c->res_body.done && c->pipe_bytes == 0)
            events |= EV_READ;
        if (c->l4_pipe_bytes > 0)
            events |= EV_WRITE;
    } else {
        if (!c->req_body.done && c->l4_pipe_bytes == 0)
            events |= EV_READ;
        if (c->pipe_bytes > 0)
            events |= EV_WRITE;
    }
    return events;
}

bool sl_l4_splice_pump(sl_conn *c)
{
    move_result a = client_to_upstream(c);
    move_result b = a == MOVE_FAILED ? MOVE_FAILED : upstream_to_client(c);
    if (a == MOVE_FAILED || b == MOVE_FAILED) {
        sl_conn_close(c); /* one side went away with bytes still to give it */
        return false;
    }
    if (a == MOVED_SOME || b == MOVED_SOME)
        c->tunnel_activity_ms = sl_now_ms();
    /* Each end-of-stream goes on once its direction's bytes are out. */
    if (c->req_body.done && c->l4_pipe_bytes == 0 && !c->l4_up_shut) {
        shutdown(c->up->fd, SHUT_WR);
        c->l4_up_shut = true;
    }
    if (c->res_body.done && c->pipe_bytes == 0 && !c->l4_client_shut) {
        shutdown(c->fd, SHUT_WR);
        c->l4_client_shut = true;
    }
    if (c->l4_up_shut && c->l4_client_shut) {
        sl_conn_finish_request(c); /* both directions ended */
        return false;
    }
    c->deadline_ms = c->tunnel_activity_ms + (uint64_t)sl_setting(SL_SET_TUNNEL_IDLE_MS);
    return true;
}

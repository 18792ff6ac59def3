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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/settings.h"
#include "workers/conn.h"
#include "workers/sys_io.h"

/* What one splice into a pipe asks for: the default pipe size (16 pages). */
#define PIPE_BYTES 65536
/* Pipe-fulls one direction moves per event: then the loop serves the others
 * (a fast pair of endpoints would otherwise keep a worker to itself). */
#define FILLS_PER_EVENT 4
/* Descriptors a spliced connection holds: its two sockets and two pipes. */
#define FDS_SPLICED 6

/* Whether this worker can afford another spliced connection's descriptors:
 * a splice ends up costing three times a copied connection's, so past half
 * the descriptor limit connections are copied instead. */
static bool fd_budget(const sl_worker *w)
{
    static rlim_t limit;
    if (limit == 0) {
        struct rlimit rl;
        limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 1048576;
    }
    return (rlim_t)(w->nconns + 1) * FDS_SPLICED < limit / 2;
}

bool sl_l4_splice_ready(const sl_conn *c)
{
    return c->l4 && !c->l4_splicing && c->state == SL_CONN_PROXY && c->up && c->up->connected && c->fd >= 0 &&
           sl_setting(SL_SET_SPLICE_MIN_BYTES) > 0 && !c->ssl && !c->up->ssl && !c->req_body.done &&
           !c->res_body.done && sl_buf_len(&c->in) == 0 && sl_buf_len(&c->uout) == 0 && sl_buf_len(&c->uin) == 0 &&
           sl_buf_len(&c->out) == 0 && c->res_ready == 0 && fd_budget(c->w);
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
    if (c->l4_pipe[0] >= 0) {
        close(c->l4_pipe[0]);
        close(c->l4_pipe[1]);
    }
    c->l4_pipe_bytes = 0;
    sl_splice_release(c);
}

/* MOVED_MORE: the per-event share was used up with more to move (the loop
 * comes back to it); MOVE_FAILED: the connection cannot go on. */
typedef enum { MOVED_NONE, MOVED_SOME, MOVED_MORE, MOVE_FAILED } move_result;

/* Reads and drops what the client sends once the upstream stopped reading
 * (l4_discard): closing with its bytes unread would send the client a reset,
 * which makes its kernel drop the answer's last bytes before they are read. */
static move_result discard_client(sl_conn *c)
{
    char scratch[16384];
    move_result r = MOVED_NONE;
    for (int reads = 0; !c->req_body.done && c->l4_client_readable; reads++) {
        if (reads == FILLS_PER_EVENT * 4)
            return MOVED_MORE;
        ssize_t n = read(c->fd, scratch, sizeof(scratch));
        if (n > 0) {
            r = MOVED_SOME;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->l4_client_readable = false;
        } else if (n < 0) {
            return MOVE_FAILED;
        } else {
            c->client_eof = c->req_body.done = true;
        }
    }
    return r;
}

/* The upstream will not take the client's bytes any more (it closed or
 * reset): that direction ends, what its pipe holds is dropped, and the
 * client's further bytes are read and dropped; the upstream's answer still
 * goes to the client. */
static void upstream_stopped_reading(sl_conn *c)
{
    c->l4_discard = true;
    c->l4_up_shut = true; /* (nothing to tell it: it is gone that way) */
    if (c->l4_pipe_bytes > 0) {
        /* A pipe cannot be emptied without reading it: a fresh one, for the accounting. */
        close(c->l4_pipe[0]);
        close(c->l4_pipe[1]);
        if (pipe2(c->l4_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
            c->l4_pipe[0] = c->l4_pipe[1] = -1;
        c->l4_pipe_bytes = 0;
    }
}

/* Client -> pipe -> upstream, as far as both sockets allow. */
static move_result client_to_upstream(sl_conn *c)
{
    if (c->l4_discard)
        return discard_client(c);
    int up = c->up->fd;
    move_result r = MOVED_NONE;
    for (int fills = 0;;) {
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
            upstream_stopped_reading(c);
            return discard_client(c) == MOVE_FAILED ? MOVE_FAILED : r;
        }
        if (c->req_body.done || !c->l4_client_readable)
            return r;
        if (fills++ == FILLS_PER_EVENT)
            return MOVED_MORE;
        ssize_t n = sl_sys_splice(c->fd, c->l4_pipe[1], PIPE_BYTES, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            c->l4_pipe_bytes += (size_t)n;
            atomic_fetch_add(&c->w->slot->bytes_in, (uint64_t)n);
            c->bytes_in += (uint64_t)n;
            r = MOVED_SOME;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->l4_client_readable = false;
            return r;
        }
        if (n < 0)
            return MOVE_FAILED; /* a reset: the client is gone, as the copying path treats it */
        c->client_eof = true; /* its end-of-stream: its direction ends, answers still come */
        c->req_body.done = true;
        return r;
    }
}

/* Upstream -> pipe -> client. */
static move_result upstream_to_client(sl_conn *c)
{
    sl_upstream *u = c->up;
    move_result r = MOVED_NONE;
    for (int fills = 0;;) {
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
        if (fills++ == FILLS_PER_EVENT)
            return MOVED_MORE;
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
        if (c->l4_pipe_bytes > 0 && !c->l4_discard)
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
    if (a == MOVE_FAILED || b == MOVE_FAILED || c->l4_pipe[0] < 0) {
        sl_conn_close(c); /* the client went away (or reset), or no pipe could be made */
        return false;
    }
    if (a != MOVED_NONE || b != MOVED_NONE)
        c->tunnel_activity_ms = sl_now_ms();
    /* A share used up: come back after the loop has served the others. */
    if (a == MOVED_MORE)
        ev_feed_event(c->w->loop, &c->io, EV_READ);
    if (b == MOVED_MORE)
        ev_feed_event(c->w->loop, &c->up->io, EV_READ);
    /* Each end-of-stream goes on once its direction's bytes are out. */
    if (c->req_body.done && c->l4_pipe_bytes == 0 && !c->l4_up_shut) {
        shutdown(c->up->fd, SHUT_WR);
        c->l4_up_shut = true;
    }
    if (c->res_body.done && c->pipe_bytes == 0 && !c->l4_client_shut) {
        shutdown(c->fd, SHUT_WR);
        c->l4_client_shut = true;
        if (c->l4_discard)
            c->l4_linger_until_ms = sl_now_ms() + SL_L4_LINGER_MS;
    }
    if (c->l4_up_shut && c->l4_client_shut && c->req_body.done) {
        sl_conn_finish_request(c); /* both directions ended */
        return false;
    }
    c->deadline_ms = c->tunnel_activity_ms + (uint64_t)sl_setting(SL_SET_TUNNEL_IDLE_MS);
    if (c->l4_linger_until_ms && c->l4_linger_until_ms < c->deadline_ms)
        c->deadline_ms = c->l4_linger_until_ms; /* (then sl_proxy_timeout closes it) */
    return true;
}

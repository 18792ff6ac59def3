/* Zero-copy response bodies. Once the head of a response is out and the body
 * still to come is large and of known length, the body moves from the upstream
 * socket into a pipe and from the pipe to the client socket with splice(2): the
 * kernel passes page references along and the worker never copies the bytes
 * (for a 64 KiB body, the copies in and out of user space were about a third of
 * the CPU a request cost). Only for plain TCP on both sides: TLS and HTTP/2 need the
 * bytes in user space.
 *
 * The pipe is filled only when empty and emptied before the next fill, so the
 * upstream is read only while the client keeps up (the same back-pressure as
 * the copying path, with at most one pipe's worth in flight). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/settings.h"
#include "workers/conn.h"
#include "workers/sys_io.h"

/* What one splice into the pipe asks for: the default pipe size (16 pages). */
#define PIPE_BYTES 65536

bool sl_splice_possible(const sl_conn *c)
{
    return sl_setting(SL_SET_SPLICE_MIN_BYTES) > 0 && !c->ssl && !c->h2s && !c->h2 && c->up && !c->up->ssl &&
           !c->up->h2;
}

bool sl_splice_should_start(const sl_conn *c)
{
    /* (A hooked response's bytes go through its hook: never spliced.) */
    return !c->splicing && !c->res_hooked && c->res_head_done && c->res_body.kind == SL_BODY_LENGTH && !c->res_body.done &&
           c->res_ready == 0 && sl_buf_len(&c->uin) == 0 && sl_buf_len(&c->out) == 0 && c->req_body.done &&
           c->res_body.remaining >= (uint64_t)sl_setting(SL_SET_SPLICE_MIN_BYTES) && sl_splice_possible(c);
}

bool sl_splice_start(sl_conn *c)
{
    sl_worker *w = c->w;
    if (w->npipe_pool > 0) {
        w->npipe_pool--;
        c->pipe[0] = w->pipe_pool[w->npipe_pool][0];
        c->pipe[1] = w->pipe_pool[w->npipe_pool][1];
    } else if (pipe2(c->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        return false; /* out of descriptors: copy instead */
    }
    c->splicing = true;
    c->pipe_bytes = 0;
    return true;
}

/* As many empty pipes are kept as responses were spliced at once, so a busy
 * worker does not make and close pipes per request; but at most 1024, and at
 * most an eighth of the descriptor limit, which client connections need more. */
static int pool_max(sl_worker *w)
{
    if (w->pipe_pool_max == 0) {
        int cap = (int)(sizeof(w->pipe_pool) / sizeof(w->pipe_pool[0]));
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 16 < (rlim_t)cap)
            cap = (int)(rl.rlim_cur / 16); /* two descriptors a pipe: an eighth of the limit */
        w->pipe_pool_max = cap > 0 ? cap : 1;
    }
    return w->pipe_pool_max;
}

void sl_splice_release(sl_conn *c)
{
    if (!c->splicing)
        return;
    sl_worker *w = c->w;
    c->splicing = false;
    if (c->pipe_bytes == 0 && w->npipe_pool < pool_max(w)) {
        w->pipe_pool[w->npipe_pool][0] = c->pipe[0];
        w->pipe_pool[w->npipe_pool][1] = c->pipe[1];
        w->npipe_pool++;
    } else {
        /* Bytes of a cut-short response are still in it: a pipe cannot be emptied
         * without reading them, so it goes. */
        close(c->pipe[0]);
        close(c->pipe[1]);
    }
    c->pipe_bytes = 0;
}

void sl_splice_close_pool(sl_worker *w)
{
    while (w->npipe_pool > 0) {
        w->npipe_pool--;
        close(w->pipe_pool[w->npipe_pool][0]);
        close(w->pipe_pool[w->npipe_pool][1]);
    }
}

/* The client took n more body bytes. */
static void delivered(sl_conn *c, size_t n)
{
    c->pipe_bytes -= n;
    c->bytes_out += n;
    c->res_body.remaining -= n;
    atomic_fetch_add(&c->w->slot->bytes_out, (uint64_t)n);
    atomic_fetch_add(&c->w->slot->bytes_spliced, (uint64_t)n);
    /* Progress towards the client counts as activity, as in the copying path. */
    c->up_deadline_ms = sl_now_ms() + sl_conn_idle_ms(c);
    if (c->res_body.remaining == 0)
        c->res_body.done = true;
}

sl_splice_result sl_splice_move(sl_conn *c)
{
    sl_upstream *u = c->up;
    for (;;) {
        if (c->pipe_bytes > 0) {
            /* No SPLICE_F_MORE even when more of the body follows: it corks a
             * partial segment until the next write, which a slow upstream could
             * delay for as long as it pauses. */
            ssize_t n = sl_sys_splice(c->pipe[0], c->fd, c->pipe_bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                delivered(c, (size_t)n);
                if (c->res_body.done)
                    return SL_SPLICE_WAIT;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return SL_SPLICE_WAIT; /* the client's socket is full */
            return SL_SPLICE_CLIENT_GONE;
        }
        if (c->res_body.remaining == 0 || !u->readable)
            return SL_SPLICE_WAIT;
        size_t want = c->res_body.remaining < PIPE_BYTES ? (size_t)c->res_body.remaining : PIPE_BYTES;
        ssize_t n = sl_sys_splice(u->fd, c->pipe[1], want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            c->pipe_bytes += (size_t)n;
            c->up_deadline_ms = sl_now_ms() + sl_conn_idle_ms(c);
            if ((size_t)n < want)
                u->readable = false; /* (nearly certainly) drained; the loop says when more is here */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            u->readable = false;
            return SL_SPLICE_WAIT;
        }
        c->up_eof = true;
        return SL_SPLICE_UPSTREAM_CUT; /* closed (or failed) in the middle of the body */
    }
}

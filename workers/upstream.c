/* Upstream connections: non-blocking connects and a per-worker keep-alive pool,
 * so that most requests reuse a warm connection instead of paying a handshake. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/endpoint_state.h"
#include "common/log.h"
#include "common/snapshot.h"
#include "common/settings.h"
#include "workers/conn.h"
#include <openssl/ssl.h>
#include "workers/h2_upstream.h"

#include <sys/resource.h>

/* The pool holds at most this many idle connections, and never more than a
 * quarter of the worker's descriptors: idle upstream connections must not
 * take the descriptors new clients need. */
#define POOL_MAX_IDLE 1024

static size_t pool_max(void)
{
    static size_t max;
    if (!max) {
        struct rlimit rl;
        max = POOL_MAX_IDLE;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 4 < max)
            max = rl.rlim_cur / 4 ? (size_t)(rl.rlim_cur / 4) : 1;
    }
    return max;
}

static bool same_addr(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr_storage *b,
                      socklen_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static void unlink_idle(sl_worker *w, sl_upstream *u)
{
    for (sl_upstream **p = &w->idle; *p; p = &(*p)->next_idle) {
        if (*p == u) {
            *p = u->next_idle;
            w->nidle--;
            break;
        }
    }
    u->next_idle = NULL;
}

static void destroy(sl_worker *w, sl_upstream *u)
{
    sl_ep_state *st = sl_ep_slot(u->be_slot);
    if (st)
        sl_ep_give_back(&st->connections, st, u->be_tag);
    ev_io_stop(w->loop, &u->io);
    SSL_free(u->ssl);
    close(u->fd);
    free(u);
}

/* An idle pooled connection became readable: the upstream closed it (or sent
 * something unasked, which makes it unusable). */
static void idle_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    sl_upstream *u = io->data;
    if (u->owner) {
        sl_proxy_upstream_cb(loop, io, revents);
        return;
    }
    unlink_idle(u->w, u);
    destroy(u->w, u);
}

/* Closes pooled connections idle for longer than --upstream-idle-timeout. Run
 * from the worker's 100 ms tick rather than a timer per connection, which
 * would be started and stopped with every request. */
void sl_upstream_expire_idle(sl_worker *w)
{
    uint64_t now = sl_now_ms(), limit = (uint64_t)sl_setting(SL_SET_UPSTREAM_IDLE_MS);
    for (sl_upstream **p = &w->idle; *p;) {
        sl_upstream *u = *p;
        if (now - u->idle_since_ms >= limit) {
            *p = u->next_idle;
            w->nidle--;
            destroy(w, u);
        } else {
            p = &u->next_idle;
        }
    }
}

/* Closes one idle pooled connection counted in backend slot `slot` (to make
 * room under its maxConnections); false when this worker has none. */
static bool shed_idle_of(sl_worker *w, uint32_t slot)
{
    for (sl_upstream **p = &w->idle; *p; p = &(*p)->next_idle) {
        sl_upstream *u = *p;
        if (u->be_slot == slot) {
            *p = u->next_idle;
            w->nidle--;
            destroy(w, u);
            return true;
        }
    }
    return false;
}

sl_upstream *sl_upstream_get(sl_worker *w, const struct sockaddr_storage *addr, socklen_t len, bool check_idle,
                             uint64_t tls_id, const sl_upstream_limit *limit)
{
    for (sl_upstream *u = w->idle, *next; u; u = next) {
        next = u->next_idle;
        if (same_addr(&u->addr, u->addrlen, addr, len) && u->tls_id == tls_id) {
            unlink_idle(w, u);
            /* The upstream may have closed it since the loop last looked (the close
             * and this request can arrive in the same iteration): a peek tells. */
            char probe;
            ssize_t n = check_idle ? recv(u->fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT) : -1;
            if (check_idle && (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))) {
                destroy(w, u);
                continue;
            }
            /* The watcher stays on EV_READ (as while idle): the request head is
             * written at once, and EV_WRITE is asked for only if the socket is full,
             * which saves two epoll_ctl calls per request. */
            u->reused = true;
            u->readable = false;
            return u;
        }
    }
    sl_ep_state *st = limit ? sl_ep_slot(limit->slot) : NULL;
    if (st && limit->max && atomic_load_explicit(&st->connections, memory_order_relaxed) >= limit->max &&
        !shed_idle_of(w, limit->slot)) {
        errno = EBUSY; /* at maxConnections, and no idle one of the backend's here to make room */
        return NULL;
    }
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && sl_upstream_shed_idle(w, 8) > 0)
        fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    bool connected = false;
    if (connect(fd, (const struct sockaddr *)addr, len) == 0) {
        connected = true;
    } else if (errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return NULL;
    }
    sl_upstream *u = calloc(1, sizeof(*u));
    if (!u) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    u->fd = fd;
    u->w = w;
    u->be_slot = SL_SNAP_NONE;
    if (st) {
        u->be_slot = limit->slot;
        u->be_tag = atomic_load_explicit(&st->tag, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->connections, 1, memory_order_relaxed);
    }
    u->tls_id = tls_id;
    u->connected = connected;
    memcpy(&u->addr, addr, len);
    u->addrlen = len;
    ev_io_init(&u->io, idle_cb, fd, EV_WRITE);
    u->io.data = u;
    ev_io_start(w->loop, &u->io);
    return u;
}

void sl_upstream_release(sl_worker *w, sl_upstream *u, bool reusable)
{
    u->owner = NULL;
    if (u->h2) {
        sl_h2up_release(u);
        return;
    }
    if (!reusable || w->draining || w->nidle >= pool_max()) {
        destroy(w, u);
        return;
    }
    /* Watch for the upstream closing it while idle. */
    ev_io_stop(w->loop, &u->io);
    ev_io_modify(&u->io, EV_READ);
    ev_io_start(w->loop, &u->io);
    u->idle_since_ms = sl_now_ms();
    u->reused = false;
    u->next_idle = w->idle;
    w->idle = u;
    w->nidle++;
}

size_t sl_upstream_shed_idle(sl_worker *w, size_t n)
{
    /* The list is newest first: the oldest (least likely to be reused soon, and
     * the most likely to have been closed by the upstream) are at its end. */
    size_t closed = 0;
    while (closed < n && w->idle) {
        sl_upstream **p = &w->idle;
        while ((*p)->next_idle)
            p = &(*p)->next_idle;
        sl_upstream *u = *p;
        *p = NULL;
        w->nidle--;
        destroy(w, u);
        closed++;
    }
    return closed;
}

void sl_upstream_close_idle(sl_worker *w)
{
    sl_h2up_close_idle(w);
    while (w->idle) {
        sl_upstream *u = w->idle;
        w->idle = u->next_idle;
        w->nidle--;
        destroy(w, u);
    }
}

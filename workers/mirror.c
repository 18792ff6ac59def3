/* RequestMirror: a fire-and-forget copy of the request to another backend. The
 * copy (head plus the body when it is already complete in the input buffer) is
 * written on its own connection, whatever comes back is read and dropped, and
 * nothing about it can delay or fail the main request. */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "workers/ai.h"
#include "workers/conn.h"
#include "workers/filters.h"

#define MIRROR_TIMEOUT_S 10.0
#define MIRROR_MAX_BYTES (256 * 1024)

typedef struct sl_mirror {
    ev_io io;
    ev_timer timer;
    struct ev_loop *loop;
    int fd;
    char *data;
    size_t len, off;
    bool sent;
} sl_mirror;

static void mirror_free(sl_mirror *m)
{
    ev_io_stop(m->loop, &m->io);
    ev_timer_stop(m->loop, &m->timer);
    close(m->fd);
    free(m->data);
    free(m);
}

static void mirror_timeout(struct ev_loop *loop, ev_timer *t, int revents) { mirror_free(t->data); }

static void mirror_io(struct ev_loop *loop, ev_io *io, int revents)
{
    sl_mirror *m = io->data;
    if (!m->sent) {
        ssize_t n = write(m->fd, m->data + m->off, m->len - m->off);
        if (n < 0 && (errno == EAGAIN || errno == EINTR || errno == EINPROGRESS))
            return;
        if (n <= 0) {
            mirror_free(m);
            return;
        }
        m->off += (size_t)n;
        if (m->off < m->len)
            return;
        m->sent = true;
        shutdown(m->fd, SHUT_WR); /* the upstream answers and closes */
        ev_io_stop(loop, &m->io);
        ev_io_modify(&m->io, EV_READ);
        ev_io_start(loop, &m->io);
        return;
    }
    char sink[4096];
    ssize_t n = read(m->fd, sink, sizeof(sink));
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
        return;
    mirror_free(m);
}

void sl_mirror_send(sl_conn *c, uint32_t backend_index)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, backend_index);
    if (be->endpoints.count == 0)
        return;
    /* A request to an AI backend is not mirrored: its head carries the
     * provider's key, which no other backend may see. */
    if (sl_ai_backend(c))
        return;
    /* The body goes along only when it is already here in full. */
    size_t body = 0;
    const char *from = c->in.data + c->in.start;
    if (c->req_from_out) { /* read whole before routing (by model): it waits in req_out */
        from = c->req_out.data + c->req_out.start;
        body = sl_dbuf_len(&c->req_out);
    } else if (c->req_body.kind == SL_BODY_LENGTH) {
        if (sl_buf_len(&c->in) < c->req_body.remaining)
            return;
        body = (size_t)c->req_body.remaining;
    } else if (c->req_body.kind == SL_BODY_CHUNKED) {
        return;
    }
    size_t head = sl_buf_len(&c->uout);
    if (head + body > MIRROR_MAX_BYTES)
        return;
    /* Round robin over the endpoints that are usable (not found unhealthy, not ejected). */
    uint32_t start = c->snap->rr[backend_index]++, ei = be->endpoints.first + start % be->endpoints.count;
    uint64_t now = 0;
    for (uint32_t k = 0; k < be->endpoints.count; k++) {
        uint32_t cand = be->endpoints.first + (start + k) % be->endpoints.count;
        if (sl_ep_usable(sl_ep_slot(SL_SNAP_GET(s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, cand)->state), &now)) {
            ei = cand;
            break;
        }
    }
    const sl_snap_endpoint *ep = SL_SNAP_GET(s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, ei);
    struct sockaddr_storage ss;
    socklen_t len;
    sl_endpoint_sockaddr(ep, &ss, &len);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
        close(fd);
        return;
    }
    sl_mirror *m = calloc(1, sizeof(*m));
    char *data = malloc(head + body);
    if (!m || !data) {
        free(m);
        free(data);
        close(fd);
        return;
    }
    memcpy(data, c->uout.data + c->uout.start, head);
    if (body)
        memcpy(data + head, from, body);
    m->loop = c->w->loop;
    m->fd = fd;
    m->data = data;
    m->len = head + body;
    ev_io_init(&m->io, mirror_io, fd, EV_WRITE);
    m->io.data = m;
    ev_io_start(m->loop, &m->io);
    ev_timer_init(&m->timer, mirror_timeout, MIRROR_TIMEOUT_S, 0.);
    m->timer.data = m;
    ev_timer_start(m->loop, &m->timer);
}

/* A share of the requests (numerator/denominator) is copied. */
static void before_upstream(sl_conn *c, const sl_snap_filter *f)
{
    if (f->backend == SL_SNAP_NONE || (uint32_t)(rand() % (int)f->denominator) >= f->numerator)
        return;
    sl_mirror_send(c, f->backend);
}

static void compile(sl_filter_env *env, const json_t *filter)
{
    const json_t *m = json_object_get(filter, "requestMirror");
    sl_snap_filter rec = {.type = SL_FILTER_MIRROR, .numerator = 100, .denominator = 100};
    rec.backend = env->backend(env, json_object_get(m, "backendRef"));
    if (rec.backend != SL_SNAP_NONE &&
        ((const sl_snap_backend *)sl_sb_at(env->b, SL_SNAP_BACKENDS, rec.backend))->protocol == SL_BACKEND_HTTPS) {
        /* Mirrors are written in clear text: a backend that must be reached
         * over TLS (Backend HTTPS, BackendTLSPolicy) gets no copy at all. */
        sl_log_warn("compiler", "route %s/%s: no RequestMirror to a backend reached over TLS (not supported)",
                    env->route_ns, env->route_name);
        rec.backend = SL_SNAP_NONE;
    }
    const json_t *fraction = json_object_get(m, "fraction");
    if (json_is_integer(json_object_get(m, "percent"))) {
        rec.numerator = (uint32_t)json_integer_value(json_object_get(m, "percent"));
    } else if (fraction) {
        rec.numerator = (uint32_t)json_integer_value(json_object_get(fraction, "numerator"));
        rec.denominator = (uint32_t)json_integer_value(json_object_get(fraction, "denominator"));
        if (!rec.denominator)
            rec.denominator = 100;
    }
    env->push(env, &rec);
}

const sl_filter_ops sl_filter_mirror = {
    .name = "RequestMirror",
    .type = SL_FILTER_MIRROR,
    .compile = compile,
    .before_upstream = before_upstream,
};

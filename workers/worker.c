/* The worker process: its event loop, accepting connections, the periodic tick
 * (snapshot switch, heartbeat, drain progress) and stopping. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/settings.h"
#include "workers/conn.h"
#include "workers/h2.h"
#include "workers/tls.h"
#include "workers/h2_upstream.h"

static struct ev_loop *now_loop;

/* Milliseconds of the loop's clock: libev reads the time once per iteration, so
 * the many deadline computations of a request cost no system call. */
uint64_t sl_now_us(void)
{
    if (now_loop)
        return (uint64_t)(ev_now(now_loop) * 1e6);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t sl_now_ms(void) { return sl_now_us() / 1000u; }

static void set_accepting(sl_worker *w, bool on)
{
    if (w->accepting == on)
        return;
    w->accepting = on;
    for (int i = 0; i < w->args.nsockets; i++) {
        if (w->args.sockets[i].fd < 0)
            continue;
        if (on)
            ev_io_start(w->loop, &w->listeners[i].io);
        else
            ev_io_stop(w->loop, &w->listeners[i].io);
    }
}

static void resume_accept_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    sl_worker *w = t->data;
    if (!w->draining)
        set_accepting(w, true);
}

/* True when this worker holds clearly more than its share of the group's client
 * connections. Every worker sharing a listening socket is woken for a new
 * connection and the quickest would take them all (a burst lands on one worker);
 * a worker over its share steps back for a moment and lets the others accept. */
static bool over_share(sl_worker *w)
{
    uint64_t total = 0, workers = 0;
    uint32_t gid = w->args.gateway_id;
    for (int i = 0; i < SL_MAX_WORKERS; i++) {
        const sl_worker_slot *s = &w->args.control->slots[i];
        if (!atomic_load_explicit(&s->pid, memory_order_relaxed) ||
            atomic_load_explicit(&s->gateway_id, memory_order_relaxed) != gid)
            continue;
        workers++;
        total += atomic_load_explicit(&s->connections_open, memory_order_relaxed);
    }
    return workers > 1 && (uint64_t)w->nconns * workers > total + 8 * workers;
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    sl_listener *l = io->data;
    sl_worker *w = l->w;
    if (over_share(w)) {
        set_accepting(w, false);
        ev_timer_set(&w->accept_pause, 0.005, 0.);
        ev_timer_start(loop, &w->accept_pause);
        return;
    }
    /* Take only a few per wakeup: every worker sharing the socket is woken, and a
     * worker that took the whole backlog would leave the others idle (a burst of
     * new connections then spreads over the workers). */
    for (int n = 0; n < 4; n++) {
        if ((int64_t)w->nconns >= sl_setting(SL_SET_MAX_CONNECTIONS)) {
            set_accepting(w, false);
            return;
        }
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(io->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                /* Idle upstream connections give way to clients first. */
                if (sl_upstream_shed_idle(w, 8) > 0)
                    continue;
                sl_log_warn("worker", "out of file descriptors: pausing accept");
                set_accepting(w, false);
            }
            return;
        }
        sl_conn_accept(w, l->index, fd, &peer);
    }
}

void sl_worker_flush_h2(sl_worker *w)
{
    w->h2_taken_unflushed = 0;
    if (w->h2up_pending)
        sl_h2up_flush_pending(w);
    if (w->h2_pending)
        sl_h2_flush_pending(w);
    if (w->h2up_pending)
        sl_h2up_flush_pending(w);
}

static void h2_prepare_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
    sl_worker_flush_h2(p->data);
}

static void finish_if_drained(sl_worker *w)
{
    if (!w->draining)
        return;
    sl_conn_close_idle(w);
    if (w->nconns == 0 || sl_now_ms() >= w->drain_deadline_ms) {
        if (w->nconns)
            sl_log_warn("worker", "drain deadline passed with %zu connections open; closing them", w->nconns);
        sl_conn_close_all(w);
        sl_upstream_close_idle(w);
        sl_splice_close_pool(w);
        sl_access_log_flush(w);
        ev_break(w->loop, EVBREAK_ALL);
    }
}

/* After a peak of connections has passed (a burst, a flood of idle keep-alive
 * connections), the heap's freed chunks go back to the kernel: glibc keeps
 * them otherwise, and the worker's RSS would stay at the peak for good. */
static void give_back_memory(sl_worker *w)
{
    if (w->nconns_peak < w->nconns + 256)
        return;
    malloc_trim(0);
    w->nconns_peak = w->nconns;
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    sl_worker *w = t->data;
    atomic_store(&w->slot->heartbeat_ms, sl_now_ms());
    if (getppid() != w->args.control->master_pid) {
        /* The master is gone: workers never outlive it. */
        sl_access_log_flush(w);
        _exit(0);
    }
    sl_wsnap_refresh(w);
    sl_upstream_expire_idle(w);
    if (++w->ticks % 10 == 0) {
        sl_buf_pools_trim(w);
        give_back_memory(w);
    }
    if (!w->draining && !w->accepting && (int64_t)w->nconns < sl_setting(SL_SET_MAX_CONNECTIONS))
        set_accepting(w, true);
    finish_if_drained(w);
}

static void start_drain(sl_worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    w->drain_deadline_ms = sl_now_ms() + (uint64_t)sl_setting(SL_SET_DRAIN_TIMEOUT_MS);
    set_accepting(w, false);
    for (int i = 0; i < w->args.nsockets; i++) {
        if (w->args.sockets[i].fd >= 0)
            close(w->args.sockets[i].fd); /* the master and the other workers keep theirs */
        w->args.sockets[i].fd = -1;
    }
    sl_log_info("worker", "draining %zu connections (deadline %lld ms)", w->nconns,
                (long long)sl_setting(SL_SET_DRAIN_TIMEOUT_MS));
    finish_if_drained(w);
}

/* Stop signals arrive through a signalfd: the master keeps them blocked in every
 * thread, the worker inherits that mask, and libev's own signal handling belongs
 * to the master's default loop, which the worker must not touch. */
static void signal_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    sl_worker *w = io->data;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGQUIT) {
            sl_access_log_flush(w);
            _exit(0);
        }
        start_drain(w);
    }
}

static void listener_init(sl_worker *w, int i)
{
    w->listeners[i].w = w;
    w->listeners[i].index = i;
    ev_io_init(&w->listeners[i].io, accept_cb, w->args.sockets[i].fd, EV_READ);
    w->listeners[i].io.data = &w->listeners[i];
}

/* A socket handed over (or taken away) by the master: the listeners change while
 * every open connection carries on. */
static void ctl_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    sl_worker *w = io->data;
    for (;;) {
        sl_ctl_msg msg;
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {&msg, sizeof(msg)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
        ssize_t n = recvmsg(io->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n == 0) {
            ev_io_stop(loop, io); /* the master is gone; the tick notices */
            return;
        }
        if (n != (ssize_t)sizeof(msg))
            return;
        int fd = -1;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
            memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        msg.address[sizeof(msg.address) - 1] = '\0';
        if (msg.op == SL_CTL_ADD_SOCKET && fd >= 0) {
            if (w->draining || w->args.nsockets == SL_WORKER_MAX_SOCKETS) {
                close(fd);
                continue;
            }
            int i = w->args.nsockets++;
            w->args.sockets[i].fd = fd;
            w->args.sockets[i].port = msg.port;
            memcpy(w->args.sockets[i].address, msg.address, sizeof(msg.address));
            listener_init(w, i);
            if (w->accepting)
                ev_io_start(loop, &w->listeners[i].io);
            if (w->snap)
                sl_wsnap_bind_ports(w, w->snap);
            sl_log_info("worker", "listening on %s:%u too", msg.address[0] ? msg.address : "*", msg.port);
        } else if ((msg.op == SL_CTL_ACCESS_LOG || msg.op == SL_CTL_LOG) && fd >= 0) {
            int target = msg.op == SL_CTL_LOG ? STDERR_FILENO : w->args.access_log_fd;
            if (msg.op == SL_CTL_ACCESS_LOG)
                sl_access_log_flush(w); /* what is buffered belongs to the old file */
            if (target >= 0 && dup2(fd, target) >= 0 && msg.op == SL_CTL_ACCESS_LOG)
                fcntl(target, F_SETFL, fcntl(target, F_GETFL) | O_NONBLOCK);
            close(fd);
        } else if (msg.op == SL_CTL_REMOVE_SOCKET) {
            if (fd >= 0)
                close(fd);
            for (int i = 0; i < w->args.nsockets; i++) {
                sl_worker_socket *s = &w->args.sockets[i];
                if (s->fd >= 0 && s->port == msg.port && strcmp(s->address, msg.address) == 0) {
                    ev_io_stop(loop, &w->listeners[i].io);
                    close(s->fd);
                    s->fd = -1; /* the index stays: open connections refer to it */
                    sl_log_info("worker", "no longer listening on %s:%u", msg.address[0] ? msg.address : "*",
                                msg.port);
                }
            }
        }
    }
}

void sl_worker_main(const sl_worker_args *args)
{
    /* Die with the master even if it is killed outright. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != args->control->master_pid)
        _exit(0);
    static sl_worker worker;
    sl_worker *w = &worker;
    memset(w, 0, sizeof(*w));
    w->args = *args;
    w->slot = &args->control->slots[args->slot];
    w->limits = sl_http1_default_limits;
    w->limits.max_head = (size_t)sl_setting(SL_SET_MAX_HEAD_BYTES);
    sl_buf_pools_init(w);
    w->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
    if (!w->loop) {
        sl_log_error("worker", "cannot create an event loop");
        _exit(70);
    }
    now_loop = w->loop;
    sl_tls_use_shared_tickets(w->args.control);
    for (int i = 0; i < w->args.nsockets; i++)
        listener_init(w, i);
    if (w->args.ctl_fd >= 0) {
        ev_io_init(&w->ctl, ctl_cb, w->args.ctl_fd, EV_READ);
        w->ctl.data = w;
        ev_io_start(w->loop, &w->ctl);
    }
    ev_init(&w->accept_pause, resume_accept_cb);
    w->accept_pause.data = w;
    ev_prepare_init(&w->h2_prepare, h2_prepare_cb);
    w->h2_prepare.data = w;
    ev_prepare_start(w->loop, &w->h2_prepare);
    ev_timer_init(&w->tick, tick_cb, 0., 0.1);
    w->tick.data = w;
    ev_timer_start(w->loop, &w->tick);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGQUIT);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        sl_log_error("worker", "cannot create a signalfd");
        _exit(70);
    }
    ev_io_init(&w->signals, signal_cb, sfd, EV_READ);
    w->signals.data = w;
    ev_io_start(w->loop, &w->signals);
    signal(SIGPIPE, SIG_IGN);
    uint32_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (uint32_t)getpid() * 2654435761u;
    sl_lb_seed(seed); /* random picks differ from worker to worker */
    sl_access_log_init(w);
    sl_tracing_worker_init(w);
    sl_wsnap_refresh(w);
    set_accepting(w, true);
    atomic_store(&w->slot->heartbeat_ms, sl_now_ms());
    sl_log_info("worker", "worker %d of gateway %s/%s started (generation %llu)", (int)getpid(),
                w->args.gateway_ns, w->args.gateway_name,
                (unsigned long long)(w->snap ? w->snap->generation : 0));
    ev_run(w->loop, 0);
    sl_log_info("worker", "worker %d stopped", (int)getpid());
    _exit(0);
}

#include "daemon/supervisor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/log_tail.h"
#include "common/series.h"
#include "common/settings.h"
#include "daemon/spawner.h"
#include "workers/worker.h"

#define SV_MAX_SOCKETS 256
#define SV_MAX_GROUPS 128
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define STABLE_AFTER_MS 30000

typedef struct sv_socket {
    bool used;
    char address[64];
    uint16_t port;
    int fd;          /* -1 when binding failed */
    int owner;       /* group index */
    char error[160];
} sv_socket;

typedef struct sv_port_error {
    uint16_t port;
    char message[160];
} sv_port_error;

typedef struct sv_group {
    bool used;
    bool live;       /* still in the snapshot */
    uint32_t id;
    char ns[64], name[256];
    int want;
    int nsockets;
    int sockets[SL_WORKER_MAX_SOCKETS]; /* indices into sv->sockets */
    unsigned crashes;
    uint64_t backoff_until_ms;
    int nerrors;
    sv_port_error errors[16]; /* ports that could not be bound, for listener status */
    int nprev_errors;
    sv_port_error prev_errors[16]; /* the previous snapshot's, to log only new problems */
} sv_group;

typedef struct sv_worker {
    pid_t pid;       /* 0: free */
    int ctl;         /* our end of the worker's control socket, -1: none */
    int group;
    bool draining;
    uint64_t started_ms;
} sv_worker;

struct sl_supervisor {
    struct ev_loop *loop;
    int worker_uid, worker_gid;
    sl_control *control;
    int access_log_fd;
    sv_socket sockets[SV_MAX_SOCKETS];
    sv_group groups[SV_MAX_GROUPS];
    sv_worker workers[SL_MAX_WORKERS]; /* index = control block slot */
    uint32_t next_group_id;
    unsigned long restarts;
    ev_child child;
    ev_timer respawn;
    ev_timer stop_deadline;
    bool stopping;
    void (*done)(void *);
    void *done_arg;
};

static uint64_t now_ms(void) { return (uint64_t)(ev_time() * 1000.0); }

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 256 ? (int)n : 1;
}

static int count_workers(const sl_supervisor *sv, int group, bool include_draining)
{
    int n = 0;
    for (int i = 0; i < SL_MAX_WORKERS; i++)
        if (sv->workers[i].pid && sv->workers[i].group == group && (include_draining || !sv->workers[i].draining))
            n++;
    return n;
}

/* Opens a listening socket for address:port ("" = all addresses, IPv6 dual-stack
 * when available). Returns the fd or -1 with a message. */
static int open_listener(const char *address, uint16_t port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST};
    struct addrinfo *ai = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    int gai = getaddrinfo(address[0] ? address : NULL, portstr, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "invalid address %s: %s", address, gai_strerror(gai));
        return -1;
    }
    /* For "all addresses" prefer the IPv6 wildcard, which also takes IPv4. */
    struct addrinfo *pick = ai;
    for (struct addrinfo *p = ai; p && !address[0]; p = p->ai_next)
        if (p->ai_family == AF_INET6)
            pick = p;
    int fd = socket(pick->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && pick->ai_family == AF_INET6 && pick != ai) {
        pick = ai;
        fd = socket(pick->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (pick->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, pick->ai_addr, pick->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        snprintf(err, errlen, "cannot listen on %s%s%u: %s", address, address[0] ? ":" : "port ", port,
                 strerror(errno));
        close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* Records a port problem for the listener status; logs it when it is new (the same
 * conflict is found again at every snapshot). */
static void record_error(sv_group *g, uint16_t port, const char *why)
{
    if (g->nerrors == (int)(sizeof(g->errors) / sizeof(g->errors[0])))
        return;
    bool known = false;
    for (int k = 0; k < g->nprev_errors; k++)
        known |= g->prev_errors[k].port == port && strcmp(g->prev_errors[k].message, why) == 0;
    if (!known)
        sl_log_error("supervisor", "gateway %s/%s: %s", g->ns, g->name, why);
    g->errors[g->nerrors].port = port;
    size_t n = strnlen(why, sizeof(g->errors[0].message) - 1);
    memmove(g->errors[g->nerrors].message, why, n);
    g->errors[g->nerrors].message[n] = '\0';
    g->nerrors++;
}

/* The socket for address:port owned by group gi, opened if needed. Returns its
 * index, or -1 when another group owns that port (a conflict) or it failed. */
static int acquire_socket(sl_supervisor *sv, int gi, const char *address, uint16_t port)
{
    int free_slot = -1;
    for (int i = 0; i < SV_MAX_SOCKETS; i++) {
        sv_socket *s = &sv->sockets[i];
        if (!s->used) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (s->port != port)
            continue;
        /* The same port on "all addresses" and on one address collide too. */
        if (strcmp(s->address, address) == 0 || !s->address[0] || !address[0]) {
            if (s->owner == gi && strcmp(s->address, address) == 0)
                return s->fd >= 0 ? i : -1;
            sv_group *other = &sv->groups[s->owner];
            char why[160];
            snprintf(why, sizeof(why), "port %u is already used by gateway %s/%s", port, other->ns, other->name);
            record_error(&sv->groups[gi], port, why);
            return -1;
        }
    }
    if (free_slot < 0) {
        sl_log_error("supervisor", "too many listening sockets (%d)", SV_MAX_SOCKETS);
        return -1;
    }
    sv_socket *s = &sv->sockets[free_slot];
    memset(s, 0, sizeof(*s));
    s->used = true;
    s->owner = gi;
    s->port = port;
    snprintf(s->address, sizeof(s->address), "%s", address);
    s->fd = open_listener(address, port, s->error, sizeof(s->error));
    if (s->fd < 0) {
        char why[sizeof(s->error)];
        memcpy(why, s->error, sizeof(why));
        memset(s, 0, sizeof(*s));
        record_error(&sv->groups[gi], port, why);
        s->fd = -1;
        return -1;
    }
    sl_log_info("supervisor", "gateway %s/%s listening on %s:%u", sv->groups[gi].ns, sv->groups[gi].name,
                address[0] ? address : "*", port);
    return free_slot;
}

static void release_socket(sl_supervisor *sv, int si)
{
    sv_socket *s = &sv->sockets[si];
    if (s->fd >= 0)
        close(s->fd);
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

static void drain_worker(sl_supervisor *sv, int slot)
{
    sv_worker *wk = &sv->workers[slot];
    if (!wk->pid || wk->draining)
        return;
    wk->draining = true;
    kill(wk->pid, SIGTERM);
}

/* Starts one worker of group gi in a free slot (through the spawner: daemon/spawner.h). */
static void spawn_worker(sl_supervisor *sv, int gi)
{
    sv_group *g = &sv->groups[gi];
    int slot = -1;
    for (int i = 0; i < SL_MAX_WORKERS; i++)
        if (!sv->workers[i].pid && !atomic_load(&sv->control->slots[i].pid)) {
            slot = i;
            break;
        }
    if (slot < 0) {
        sl_log_error("supervisor", "no free worker slot (limit %d)", SL_MAX_WORKERS);
        return;
    }
    sl_worker_args args;
    memset(&args, 0, sizeof(args));
    args.control = sv->control;
    args.slot = slot;
    args.gateway_id = g->id;
    snprintf(args.gateway_ns, sizeof(args.gateway_ns), "%s", g->ns);
    snprintf(args.gateway_name, sizeof(args.gateway_name), "%s", g->name);
    args.access_log_fd = sv->access_log_fd;
    args.log_fd = STDERR_FILENO;
    for (int i = 0; i < g->nsockets; i++) {
        sv_socket *s = &sv->sockets[g->sockets[i]];
        args.sockets[args.nsockets].fd = s->fd;
        args.sockets[args.nsockets].port = s->port;
        snprintf(args.sockets[args.nsockets].address, sizeof(args.sockets[0].address), "%s", s->address);
        args.nsockets++;
    }
    int pair[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0) {
        args.ctl_fd = pair[1];
    } else {
        args.ctl_fd = -1;
        sl_log_warn("supervisor", "no control socket for a worker: %s", strerror(errno));
    }
    sl_worker_slot *ws = &sv->control->slots[slot];
    char gateway[sizeof(ws->gateway)];
    snprintf(gateway, sizeof(gateway), "%s/%s", g->ns, g->name);
    if (strncmp(ws->gateway, gateway, sizeof(ws->gateway)) != 0) {
        sl_log_tail_reset((uint32_t)slot); /* another Gateway's last requests are not this one's */
        atomic_store(&sv->control->slot_restarts[slot], 0);
    }
    /* A fresh slot: counters start at zero for each worker process. */
    memset((void *)ws, 0, sizeof(*ws));
    atomic_store(&ws->gateway_id, g->id);
    memcpy(ws->gateway, gateway, sizeof(ws->gateway));
    sl_series_slot_used((uint32_t)slot); /* its traffic series carry on from the slot's last worker */
    pid_t pid = sl_spawner_spawn(&args, sv->worker_uid, sv->worker_gid);
    if (pid < 0) {
        sl_log_error("supervisor", "cannot start a worker: %s", strerror(errno));
        if (pair[0] >= 0) {
            close(pair[0]);
            close(pair[1]);
        }
        return;
    }
    if (pair[1] >= 0)
        close(pair[1]);
    atomic_store(&ws->pid, pid);
    sv->workers[slot] =
        (sv_worker){.pid = pid, .ctl = pair[0], .group = gi, .draining = false, .started_ms = now_ms()};
}

static void schedule_respawn(sl_supervisor *sv);

/* Starts missing workers and drains surplus ones, for every live group. */
static void reconcile_workers(sl_supervisor *sv)
{
    if (sv->stopping)
        return;
    uint64_t now = now_ms();
    for (int gi = 0; gi < SV_MAX_GROUPS; gi++) {
        sv_group *g = &sv->groups[gi];
        if (!g->used || !g->live)
            continue;
        if (g->nsockets == 0)
            continue; /* nothing to serve: every port failed or conflicted */
        int have = count_workers(sv, gi, false);
        if (have < g->want && now < g->backoff_until_ms)
            continue;
        for (; have < g->want; have++)
            spawn_worker(sv, gi);
        for (int i = 0; i < SL_MAX_WORKERS && have > g->want; i++)
            if (sv->workers[i].pid && sv->workers[i].group == gi && !sv->workers[i].draining) {
                drain_worker(sv, i);
                have--;
            }
    }
    schedule_respawn(sv);
}

static void respawn_cb(struct ev_loop *loop, ev_timer *t, int revents) { reconcile_workers(t->data); }

static void schedule_respawn(sl_supervisor *sv)
{
    uint64_t now = now_ms(), next = 0;
    for (int gi = 0; gi < SV_MAX_GROUPS; gi++) {
        sv_group *g = &sv->groups[gi];
        if (g->used && g->live && g->nsockets && count_workers(sv, gi, false) < g->want && g->backoff_until_ms > now)
            if (!next || g->backoff_until_ms < next)
                next = g->backoff_until_ms;
    }
    ev_timer_stop(sv->loop, &sv->respawn);
    if (next) {
        ev_timer_set(&sv->respawn, (double)(next - now) / 1000.0, 0.);
        ev_timer_start(sv->loop, &sv->respawn);
    }
}

/* Frees groups that are gone and whose workers have all exited. */
static void collect_groups(sl_supervisor *sv)
{
    for (int gi = 0; gi < SV_MAX_GROUPS; gi++) {
        sv_group *g = &sv->groups[gi];
        if (g->used && !g->live && count_workers(sv, gi, true) == 0) {
            sl_log_info("supervisor", "gateway %s/%s stopped", g->ns, g->name);
            memset(g, 0, sizeof(*g));
        }
    }
}

static void child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    sl_supervisor *sv = w->data;
    pid_t pid = w->rpid;
    int status = w->rstatus;
    if (sl_spawner_reaped(pid, status))
        return;
    for (int i = 0; i < SL_MAX_WORKERS; i++) {
        sv_worker *wk = &sv->workers[i];
        if (wk->pid != pid)
            continue;
        sv_group *g = &sv->groups[wk->group];
        bool expected = wk->draining || sv->stopping || !g->live;
        char how[64];
        if (WIFSIGNALED(status))
            snprintf(how, sizeof(how), "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
        if (expected) {
            sl_log_info("supervisor", "worker %d of gateway %s/%s %s", (int)pid, g->ns, g->name, how);
        } else {
            uint64_t lived = now_ms() - wk->started_ms;
            if (lived > STABLE_AFTER_MS)
                g->crashes = 0;
            g->crashes++;
            uint64_t backoff = (uint64_t)BACKOFF_MIN_MS << (g->crashes > 7 ? 7 : g->crashes - 1);
            if (backoff > BACKOFF_MAX_MS)
                backoff = BACKOFF_MAX_MS;
            g->backoff_until_ms = now_ms() + backoff;
            sv->restarts++;
            atomic_fetch_add(&sv->control->worker_restarts, 1);
            atomic_fetch_add(&sv->control->slot_restarts[i], 1);
            sl_log_error("supervisor", "worker %d of gateway %s/%s %s after %llu ms; restarting in %llu ms (%u in a row)",
                         (int)pid, g->ns, g->name, how, (unsigned long long)lived, (unsigned long long)backoff,
                         g->crashes);
        }
        atomic_store(&sv->control->slots[i].pid, 0);
        if (wk->ctl >= 0)
            close(wk->ctl);
        memset(wk, 0, sizeof(*wk));
        wk->ctl = -1;
        break;
    }
    collect_groups(sv);
    if (sv->stopping) {
        int left = 0;
        for (int i = 0; i < SL_MAX_WORKERS; i++)
            left += sv->workers[i].pid != 0;
        if (left == 0 && sv->done) {
            ev_timer_stop(sv->loop, &sv->stop_deadline);
            void (*done)(void *) = sv->done;
            sv->done = NULL;
            done(sv->done_arg);
        }
        return;
    }
    reconcile_workers(sv);
}

sl_supervisor *sl_supervisor_create(struct ev_loop *loop, sl_control *control, int access_log_fd, int worker_uid,
                                    int worker_gid)
{
    sl_supervisor *sv = calloc(1, sizeof(*sv));
    if (!sv)
        abort();
    sv->worker_uid = worker_uid;
    sv->worker_gid = worker_gid;
    sv->loop = loop;
    sv->control = control;
    sv->access_log_fd = access_log_fd;
    sv->next_group_id = 1;
    for (int i = 0; i < SV_MAX_SOCKETS; i++)
        sv->sockets[i].fd = -1;
    for (int i = 0; i < SL_MAX_WORKERS; i++)
        sv->workers[i].ctl = -1;
    ev_child_init(&sv->child, child_cb, 0, 0);
    sv->child.data = sv;
    ev_child_start(loop, &sv->child);
    ev_init(&sv->respawn, respawn_cb);
    sv->respawn.data = sv;
    return sv;
}

static int find_group(sl_supervisor *sv, const char *ns, const char *name)
{
    for (int gi = 0; gi < SV_MAX_GROUPS; gi++)
        if (sv->groups[gi].used && sv->groups[gi].live && strcmp(sv->groups[gi].ns, ns) == 0 &&
            strcmp(sv->groups[gi].name, name) == 0)
            return gi;
    return -1;
}

/* Sends one control message to a worker, with a descriptor when fd >= 0. */
static bool send_ctl(sv_worker *wk, const sl_ctl_msg *msg, int fd)
{
    if (wk->ctl < 0)
        return false;
    struct iovec iov = {(void *)msg, sizeof(*msg)};
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof(cbuf);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    return sendmsg(wk->ctl, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(*msg);
}

/* Tells one worker to add (fd >= 0) or drop a listening socket. */
static void send_socket(sv_worker *wk, uint32_t op, const sv_socket *s)
{
    sl_ctl_msg msg = {.op = op, .port = s->port};
    snprintf(msg.address, sizeof(msg.address), "%s", s->address);
    if (!send_ctl(wk, &msg, op == SL_CTL_ADD_SOCKET ? s->fd : -1) && wk->ctl >= 0)
        sl_log_warn("supervisor", "cannot reach worker %d to change its sockets: %s", (int)wk->pid, strerror(errno));
}

void sl_supervisor_reopen_logs(sl_supervisor *sv, int access_log_fd)
{
    if (access_log_fd >= 0 && sv->access_log_fd >= 0) {
        /* Same descriptor number, new file: workers spawned from now on get it. */
        dup2(access_log_fd, sv->access_log_fd);
        close(access_log_fd);
    }
    for (int i = 0; i < SL_MAX_WORKERS; i++) {
        sv_worker *wk = &sv->workers[i];
        if (wk->pid <= 0 || wk->ctl < 0)
            continue;
        sl_ctl_msg access = {.op = SL_CTL_ACCESS_LOG}, log = {.op = SL_CTL_LOG};
        if ((sv->access_log_fd >= 0 && !send_ctl(wk, &access, sv->access_log_fd)) ||
            !send_ctl(wk, &log, STDERR_FILENO))
            sl_log_warn("supervisor", "cannot hand worker %d its reopened logs: %s", (int)wk->pid, strerror(errno));
    }
}

/* A Gateway left the snapshot: its workers drain and its sockets close. */
static void remove_group(sl_supervisor *sv, int gi)
{
    sv_group *g = &sv->groups[gi];
    sl_log_info("supervisor", "gateway %s/%s removed: draining its workers", g->ns, g->name);
    g->live = false;
    for (int w = 0; w < SL_MAX_WORKERS; w++)
        if (sv->workers[w].pid && sv->workers[w].group == gi)
            drain_worker(sv, w);
    for (int s = 0; s < g->nsockets; s++)
        release_socket(sv, g->sockets[s]);
    g->nsockets = 0;
}

static bool same_sockets(const int *a, int na, const int *b, int nb)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

void sl_supervisor_apply(sl_supervisor *sv, const sl_snapshot *snap)
{
    if (sv->stopping)
        return;
    bool seen[SV_MAX_GROUPS] = {false};
    /* Gateways that are gone release their sockets first, so that a Gateway that
     * wanted one of their ports gets it in this same pass. */
    for (int gi = 0; gi < SV_MAX_GROUPS; gi++) {
        sv_group *g = &sv->groups[gi];
        if (!g->used || !g->live)
            continue;
        bool present = false;
        for (uint32_t i = 0; i < sl_snap_count(snap, SL_SNAP_GATEWAYS) && !present; i++) {
            const sl_snap_gateway *gw = SL_SNAP_GET(snap, SL_SNAP_GATEWAYS, sl_snap_gateway, i);
            present = gw->ports.count > 0 && strcmp(sl_snap_cstr(snap, gw->ns), g->ns) == 0 &&
                      strcmp(sl_snap_cstr(snap, gw->name), g->name) == 0;
        }
        if (!present)
            remove_group(sv, gi);
    }
    for (uint32_t i = 0; i < sl_snap_count(snap, SL_SNAP_GATEWAYS); i++) {
        const sl_snap_gateway *gw = SL_SNAP_GET(snap, SL_SNAP_GATEWAYS, sl_snap_gateway, i);
        /* Nothing to serve (a rejected Gateway, or only listeners of protocols
         * sluice does not serve): no workers. Its status says why. */
        if (gw->ports.count == 0)
            continue;
        const char *ns = sl_snap_cstr(snap, gw->ns), *name = sl_snap_cstr(snap, gw->name);
        int gi = find_group(sv, ns, name);
        if (gi < 0) {
            for (int k = 0; k < SV_MAX_GROUPS && gi < 0; k++)
                if (!sv->groups[k].used)
                    gi = k;
            if (gi < 0) {
                sl_log_error("supervisor", "too many gateways (limit %d): %s/%s is not started", SV_MAX_GROUPS, ns,
                             name);
                continue;
            }
            sv_group *g = &sv->groups[gi];
            memset(g, 0, sizeof(*g));
            g->used = g->live = true;
            g->id = sv->next_group_id++;
            snprintf(g->ns, sizeof(g->ns), "%s", ns);
            snprintf(g->name, sizeof(g->name), "%s", name);
            sl_log_info("supervisor", "starting gateway %s/%s", ns, name);
        }
        sv_group *g = &sv->groups[gi];
        seen[gi] = true;
        memcpy(g->prev_errors, g->errors, sizeof(g->errors));
        g->nprev_errors = g->nerrors;
        g->nerrors = 0;
        g->want = gw->workers ? (int)gw->workers : cpu_count();
        int want_sockets[SL_WORKER_MAX_SOCKETS];
        int nwant = 0;
        for (uint32_t p = 0; p < gw->ports.count && nwant < SL_WORKER_MAX_SOCKETS; p++) {
            const sl_snap_port *port = SL_SNAP_GET(snap, SL_SNAP_PORTS, sl_snap_port, gw->ports.first + p);
            int si = acquire_socket(sv, gi, sl_snap_cstr(snap, port->address), port->port);
            if (si >= 0)
                want_sockets[nwant++] = si;
        }
        if (!same_sockets(want_sockets, nwant, g->sockets, g->nsockets)) {
            /* The running workers are handed the new sockets and drop the old ones:
             * the listeners that stay keep every connection (no restart). */
            for (int w = 0; w < SL_MAX_WORKERS; w++) {
                sv_worker *wk = &sv->workers[w];
                if (!wk->pid || wk->group != gi || wk->draining)
                    continue;
                for (int k = 0; k < nwant; k++) {
                    bool had = false;
                    for (int o = 0; o < g->nsockets; o++)
                        had |= g->sockets[o] == want_sockets[k];
                    if (!had)
                        send_socket(wk, SL_CTL_ADD_SOCKET, &sv->sockets[want_sockets[k]]);
                }
                for (int o = 0; o < g->nsockets; o++) {
                    bool kept = false;
                    for (int k = 0; k < nwant; k++)
                        kept |= want_sockets[k] == g->sockets[o];
                    if (!kept)
                        send_socket(wk, SL_CTL_REMOVE_SOCKET, &sv->sockets[g->sockets[o]]);
                }
            }
            for (int o = 0; o < g->nsockets; o++) {
                bool kept = false;
                for (int k = 0; k < nwant; k++)
                    kept |= want_sockets[k] == g->sockets[o];
                if (!kept)
                    release_socket(sv, g->sockets[o]);
            }
            memcpy(g->sockets, want_sockets, sizeof(int) * (size_t)nwant);
            g->nsockets = nwant;
            g->crashes = 0;
            g->backoff_until_ms = 0;
        }
    }
    for (int gi = 0; gi < SV_MAX_GROUPS; gi++)
        if (sv->groups[gi].used && sv->groups[gi].live && !seen[gi])
            remove_group(sv, gi);
    /* Sockets whose group no longer wants them (a bind that failed, say). */
    for (int si = 0; si < SV_MAX_SOCKETS; si++) {
        sv_socket *s = &sv->sockets[si];
        if (!s->used)
            continue;
        sv_group *g = &sv->groups[s->owner];
        bool wanted = false;
        for (int k = 0; g->used && g->live && k < g->nsockets; k++)
            wanted |= g->sockets[k] == si;
        if (!wanted)
            release_socket(sv, si);
    }
    collect_groups(sv);
    reconcile_workers(sv);
}

bool sl_supervisor_ready(const sl_supervisor *sv)
{
    for (int gi = 0; gi < SV_MAX_GROUPS; gi++) {
        const sv_group *g = &sv->groups[gi];
        if (g->used && g->live && g->nsockets && count_workers(sv, gi, false) < g->want)
            return false;
    }
    return true;
}

bool sl_supervisor_needs_retry(const sl_supervisor *sv)
{
    for (int gi = 0; gi < SV_MAX_GROUPS; gi++)
        if (sv->groups[gi].used && sv->groups[gi].live && sv->groups[gi].nerrors)
            return true;
    return false;
}

int sl_supervisor_worker_count(const sl_supervisor *sv)
{
    int n = 0;
    for (int i = 0; i < SL_MAX_WORKERS; i++)
        n += sv->workers[i].pid != 0;
    return n;
}

unsigned long sl_supervisor_restarts(const sl_supervisor *sv) { return sv->restarts; }

/* The oldest snapshot generation any current worker of group gi runs; 0 when
 * the group is short of workers. */
static uint64_t group_generation(const sl_supervisor *sv, int gi)
{
    const sv_group *g = &sv->groups[gi];
    if (g->want <= 0 || count_workers(sv, gi, false) < g->want)
        return 0;
    uint64_t oldest = UINT64_MAX;
    for (int i = 0; i < SL_MAX_WORKERS; i++) {
        const sv_worker *wk = &sv->workers[i];
        if (!wk->pid || wk->group != gi || wk->draining)
            continue;
        uint64_t gen = atomic_load(&sv->control->slots[i].generation);
        if (gen < oldest)
            oldest = gen;
    }
    return oldest == UINT64_MAX ? 0 : oldest;
}

uint64_t sl_supervisor_group_generation(const sl_supervisor *sv, const char *ns, const char *name)
{
    for (int gi = 0; gi < SV_MAX_GROUPS; gi++) {
        const sv_group *g = &sv->groups[gi];
        if (g->used && g->live && strcmp(g->ns, ns) == 0 && strcmp(g->name, name) == 0)
            return group_generation(sv, gi);
    }
    return 0;
}

bool sl_supervisor_all_run(const sl_supervisor *sv, uint64_t generation)
{
    for (int gi = 0; gi < SV_MAX_GROUPS; gi++) {
        const sv_group *g = &sv->groups[gi];
        if (g->used && g->live && g->want > 0 && group_generation(sv, gi) < generation)
            return false;
    }
    return true;
}

bool sl_supervisor_group_state(const sl_supervisor *sv, const char *ns, const char *name, int *running, int *want)
{
    for (int gi = 0; gi < SV_MAX_GROUPS; gi++) {
        const sv_group *g = &sv->groups[gi];
        if (g->used && g->live && strcmp(g->ns, ns) == 0 && strcmp(g->name, name) == 0) {
            *running = count_workers(sv, gi, false);
            *want = g->want;
            return true;
        }
    }
    return false;
}

const char *sl_supervisor_port_error(const sl_supervisor *sv, const char *ns, const char *name, int port)
{
    for (int gi = 0; gi < SV_MAX_GROUPS; gi++) {
        const sv_group *g = &sv->groups[gi];
        if (!g->used || !g->live || strcmp(g->ns, ns) != 0 || strcmp(g->name, name) != 0)
            continue;
        for (int k = 0; k < g->nsockets; k++)
            if (sv->sockets[g->sockets[k]].port == port)
                return "";
        for (int k = 0; k < g->nerrors; k++)
            if (g->errors[k].port == port)
                return g->errors[k].message;
        return "the port could not be bound";
    }
    return "the gateway is not running";
}

static void stop_deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    sl_supervisor *sv = t->data;
    for (int i = 0; i < SL_MAX_WORKERS; i++)
        if (sv->workers[i].pid) {
            sl_log_warn("supervisor", "worker %d did not stop in time: killing it", (int)sv->workers[i].pid);
            kill(sv->workers[i].pid, SIGKILL);
        }
}

void sl_supervisor_stop(sl_supervisor *sv, bool graceful, void (*done)(void *), void *arg)
{
    sv->stopping = true;
    sv->done = done;
    sv->done_arg = arg;
    ev_timer_stop(sv->loop, &sv->respawn);
    int left = 0;
    for (int i = 0; i < SL_MAX_WORKERS; i++)
        if (sv->workers[i].pid) {
            kill(sv->workers[i].pid, graceful ? SIGTERM : SIGQUIT);
            sv->workers[i].draining = true;
            left++;
        }
    for (int si = 0; si < SV_MAX_SOCKETS; si++)
        if (sv->sockets[si].used)
            release_socket(sv, si);
    if (left == 0) {
        sv->done = NULL;
        done(arg);
        return;
    }
    ev_timer_init(&sv->stop_deadline, stop_deadline_cb,
                  (double)(graceful ? sl_setting(SL_SET_DRAIN_TIMEOUT_MS) + 2000 : 2000) / 1000.0, 0.);
    sv->stop_deadline.data = sv;
    ev_timer_start(sv->loop, &sv->stop_deadline);
}

void sl_supervisor_free(sl_supervisor *sv)
{
    if (!sv)
        return;
    ev_child_stop(sv->loop, &sv->child);
    ev_timer_stop(sv->loop, &sv->respawn);
    free(sv);
}

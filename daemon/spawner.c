#include "daemon/spawner.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fork_guard.h"
#include "common/log.h"

/* The most descriptors one request carries: the listening sockets, the access
 * log, the log and the worker's control socket. */
#define MAX_FDS (SL_WORKER_MAX_SOCKETS + 3)
/* A request is answered in microseconds; a spawner silent this long is broken. */
#define ANSWER_TIMEOUT_MS 5000

typedef struct spawn_request {
    sl_worker_args args; /* its fds are replaced by the received ones, in this order:
                          * sockets, then access log, then control socket */
    int uid, gid;
    int nfds;
} spawn_request;

typedef struct spawn_reply {
    pid_t pid; /* > 0: the worker; else err says why */
    int err;
} spawn_reply;

static int spawner_fd = -1;  /* the master's end; -1: no spawner */
static pid_t spawner_pid = 0; /* until reaped, also after it was given up */

/* Closes every descriptor above 2 except those in keep. */
static void close_other_fds(const int *keep, int nkeep)
{
    int sorted[MAX_FDS];
    int n = 0;
    for (int i = 0; i < nkeep && n < MAX_FDS; i++)
        if (keep[i] > 2)
            sorted[n++] = keep[i];
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            int t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    unsigned int from = 3;
    for (int i = 0; i < n; i++) {
        if ((unsigned int)sorted[i] > from)
            close_range(from, (unsigned int)sorted[i] - 1, 0);
        from = (unsigned int)sorted[i] + 1;
    }
    close_range(from, ~0u, 0);
}

/* The descriptor fields of args that hold one (>= 0), in request order:
 * sockets, then the access log, the log, then the control socket; returns how many. */
static int fd_fields(sl_worker_args *args, int **fields)
{
    int n = 0;
    for (int i = 0; i < args->nsockets && i < SL_WORKER_MAX_SOCKETS; i++)
        if (args->sockets[i].fd >= 0)
            fields[n++] = &args->sockets[i].fd;
    if (args->access_log_fd >= 0)
        fields[n++] = &args->access_log_fd;
    if (args->log_fd >= 0)
        fields[n++] = &args->log_fd;
    if (args->ctl_fd >= 0)
        fields[n++] = &args->ctl_fd;
    return n;
}

/* The descriptors a worker keeps; returns how many. */
static int worker_fds(const sl_worker_args *args, int *fds)
{
    sl_worker_args copy = *args;
    int *fields[MAX_FDS];
    int n = fd_fields(&copy, fields);
    for (int i = 0; i < n; i++)
        fds[i] = *fields[i];
    return n;
}

/* The new process's side, however it was started: it becomes a worker. */
__attribute__((noreturn)) static void become_worker(const sl_worker_args *args, int uid, int gid)
{
    /* The stop signals stay blocked (the worker reads them from a signalfd);
     * the master's SIGHUP and SIGCHLD mean nothing here. */
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, SIGHUP);
    sigaddset(&unblock, SIGCHLD);
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN); /* (log reopening is the master's: it hands workers the new files) */
    signal(SIGCHLD, SIG_DFL);
    pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
    int keep[MAX_FDS];
    close_other_fds(keep, worker_fds(args, keep));
    if (args->log_fd >= 0 && args->log_fd != STDERR_FILENO) {
        /* The master's log as it is now (--log-file reopened since the spawner started). */
        dup2(args->log_fd, STDERR_FILENO);
        close(args->log_fd);
    }
    prctl(PR_SET_NAME, "sluiced");
    /* Workers run unprivileged; the master keeps its identity so it can bind
     * privileged ports for Gateways created later. */
    if (uid >= 0 && (setgroups(0, NULL) != 0 || setgid((gid_t)gid) != 0 || setuid((uid_t)uid) != 0)) {
        sl_log_error("worker", "cannot switch to uid %d gid %d: %s", uid, gid, strerror(errno));
        _exit(71);
    }
    sl_worker_main(args);
}

/* ---- the spawner process ---- */

/* Reads one request with its descriptors; 0 on end of input, -1 on a broken one
 * (its descriptors closed, *err set), 1 when req is ready. */
static int read_request(int fd, spawn_request *req, int *err)
{
    char control[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    struct iovec iov = {.iov_base = req, .iov_len = sizeof(*req)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
    ssize_t n;
    do
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return 0;
    int fds[MAX_FDS];
    int nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k && nfds < MAX_FDS; i++)
                memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
    int *fields[MAX_FDS];
    int expected = -1;
    if (n == (ssize_t)sizeof(*req) && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && req->args.nsockets >= 0 &&
        req->args.nsockets <= SL_WORKER_MAX_SOCKETS)
        expected = fd_fields(&req->args, fields);
    if (expected != nfds || expected != req->nfds) {
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        *err = EPROTO;
        return -1;
    }
    for (int i = 0; i < nfds; i++)
        *fields[i] = fds[i];
    return 1;
}

__attribute__((noreturn)) static void spawner_main(int fd, pid_t master)
{
    prctl(PR_SET_NAME, "sluiced-spawn");
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != master)
        _exit(0);
    int keep[] = {fd};
    close_other_fds(keep, 1);
    for (;;) {
        spawn_request req;
        spawn_reply reply = {.pid = -1, .err = 0};
        int rc = read_request(fd, &req, &reply.err);
        if (rc == 0)
            _exit(0); /* the master closed its end: it is stopping or gone */
        if (rc == 1) {
            /* CLONE_PARENT: the worker is the master's child, as if it had forked it. */
            pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
            if (pid == 0) {
                close(fd);
                become_worker(&req.args, req.uid, req.gid);
            }
            reply.pid = pid;
            reply.err = pid < 0 ? errno : 0;
            int fds[MAX_FDS];
            int n = worker_fds(&req.args, fds);
            for (int i = 0; i < n; i++)
                close(fds[i]);
        }
        if (send(fd, &reply, sizeof(reply), MSG_NOSIGNAL) != (ssize_t)sizeof(reply))
            _exit(1);
    }
}

bool sl_spawner_start(void)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        sl_log_error("spawner", "no socket for the worker spawner (%s); the master forks workers itself",
                     strerror(errno));
        return false;
    }
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(pair[0]);
        spawner_main(pair[1], master);
    }
    close(pair[1]);
    if (pid < 0) {
        sl_log_error("spawner", "cannot fork the worker spawner (%s); the master forks workers itself",
                     strerror(errno));
        close(pair[0]);
        return false;
    }
    spawner_fd = pair[0];
    spawner_pid = pid;
    return true;
}

/* The spawner misbehaved: stop using it (it is reaped by the master's SIGCHLD). */
static void give_up(const char *why)
{
    sl_log_error("spawner", "worker spawner %d %s; the master forks workers itself from now on", (int)spawner_pid,
                 why);
    kill(spawner_pid, SIGKILL);
    close(spawner_fd);
    spawner_fd = -1;
}

/* Asks the spawner; -2 when it could not answer (then it has been given up). */
static pid_t ask_spawner(const sl_worker_args *args, int uid, int gid)
{
    spawn_request req;
    memset(&req, 0, sizeof(req));
    req.args = *args;
    req.uid = uid;
    req.gid = gid;
    int fds[MAX_FDS];
    req.nfds = worker_fds(args, fds);
    char control[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    memset(control, 0, sizeof(control));
    struct iovec iov = {.iov_base = &req, .iov_len = sizeof(req)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (req.nfds > 0) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)req.nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)req.nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)req.nfds);
    }
    ssize_t n;
    do
        n = sendmsg(spawner_fd, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(req)) {
        give_up("does not take requests");
        return -2;
    }
    struct pollfd p = {.fd = spawner_fd, .events = POLLIN};
    int ready;
    do
        ready = poll(&p, 1, ANSWER_TIMEOUT_MS);
    while (ready < 0 && errno == EINTR);
    spawn_reply reply;
    if (ready != 1 || recv(spawner_fd, &reply, sizeof(reply), 0) != (ssize_t)sizeof(reply)) {
        give_up(ready == 0 ? "did not answer in time" : "stopped answering");
        return -2;
    }
    if (reply.pid < 0)
        errno = reply.err;
    return reply.pid;
}

pid_t sl_spawner_spawn(const sl_worker_args *args, int uid, int gid)
{
    if (spawner_fd >= 0) {
        pid_t pid = ask_spawner(args, uid, gid);
        if (pid != -2)
            return pid;
    }
    /* No spawner: fork here, with no other thread inside OpenSSL (common/fork_guard.h). */
    sl_fork_guard_enter();
    pid_t pid = fork();
    if (pid == 0)
        become_worker(args, uid, gid); /* the child never releases the guard: it runs one thread */
    sl_fork_guard_leave();
    return pid;
}

bool sl_spawner_reaped(pid_t pid, int status)
{
    if (pid <= 0 || pid != spawner_pid)
        return false;
    spawner_pid = 0;
    if (spawner_fd >= 0) {
        if (WIFSIGNALED(status))
            sl_log_error("spawner", "worker spawner %d was killed by signal %d; the master forks workers itself from now on",
                         (int)pid, WTERMSIG(status));
        else
            sl_log_error("spawner", "worker spawner %d exited with status %d; the master forks workers itself from now on",
                         (int)pid, WEXITSTATUS(status));
        close(spawner_fd);
        spawner_fd = -1;
    }
    return true;
}

void sl_spawner_stop(void)
{
    if (spawner_fd >= 0) {
        close(spawner_fd); /* the spawner exits on end of input */
        spawner_fd = -1;
    }
    if (spawner_pid <= 0)
        return;
    for (int i = 0; i < 200; i++) { /* up to 2 s */
        if (waitpid(spawner_pid, NULL, WNOHANG) != 0) {
            spawner_pid = 0;
            return;
        }
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    kill(spawner_pid, SIGKILL);
    waitpid(spawner_pid, NULL, 0);
    spawner_pid = 0;
}

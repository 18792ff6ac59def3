/* Admission of admin API connections (see admin_conns.h for the policy). */
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "admin/admin_conns.h"
#include "common/log.h"

struct sl_admin_conn {
    struct MHD_Connection *conn;
    int fd;
    bool requested; /* has sent a complete request head */
    bool busy;      /* a request (a watch included) is in progress */
    bool evicted;   /* shut down by us; waiting for libmicrohttpd to close it */
    sl_admin_conn *older, *newer;
};

void sl_admin_conns_init(sl_admin_conns *t, unsigned limit, unsigned header_timeout_s, unsigned idle_timeout_s)
{
    *t = (sl_admin_conns){.limit = limit, .header_timeout_s = header_timeout_s, .idle_timeout_s = idle_timeout_s};
    pthread_mutex_init(&t->lock, NULL);
}

void sl_admin_conns_destroy(sl_admin_conns *t)
{
    /* libmicrohttpd has closed every connection (and told us) before this. */
    pthread_mutex_destroy(&t->lock);
}

/* Whether bytes wait on c's socket: a request on its way, not yet parsed. */
static bool has_input(const sl_admin_conn *c)
{
    int n = 0;
    return ioctl(c->fd, FIONREAD, &n) == 0 && n > 0;
}

/* The connection to close to make room: the oldest that never sent a request
 * head, else the oldest idle one; never one serving a request, nor one whose
 * request has arrived but is not parsed yet (connections are registered by
 * their own threads, so a busy machine can register a real client before the
 * idle ones that connected earlier). Lock held. */
static sl_admin_conn *pick_victim(sl_admin_conns *t)
{
    sl_admin_conn *idle = NULL;
    for (sl_admin_conn *c = t->oldest; c; c = c->newer) {
        if (c->evicted || c->busy || has_input(c))
            continue;
        if (!c->requested)
            return c;
        if (!idle)
            idle = c;
    }
    return idle;
}

/* Ends c's connection: its thread sees the shutdown and closes it (the entry
 * stays until libmicrohttpd reports the close, so its fd is never reused under
 * us). Lock held. */
static void evict(sl_admin_conns *t, sl_admin_conn *c)
{
    c->evicted = true;
    t->open--;
    t->evicted_total++;
    shutdown(c->fd, SHUT_RDWR);
}

static void on_started(sl_admin_conns *t, struct MHD_Connection *conn, void **socket_context)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    sl_admin_conn *c = calloc(1, sizeof(*c));
    if (!c || !ci) {
        /* Cannot track it: do not serve it either. */
        free(c);
        if (ci)
            shutdown(ci->connect_fd, SHUT_RDWR);
        return;
    }
    c->conn = conn;
    c->fd = ci->connect_fd;
    *socket_context = c;
    /* A client has header_timeout_s to send its first request head. */
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, t->header_timeout_s);
    pthread_mutex_lock(&t->lock);
    c->older = t->newest;
    if (t->newest)
        t->newest->newer = c;
    else
        t->oldest = c;
    t->newest = c;
    t->open++;
    bool warned = false;
    while (t->open > t->limit) {
        sl_admin_conn *v = pick_victim(t);
        if (!v)
            break; /* every other connection is serving a request */
        if (!warned && t->evicted_total % 1000 == 0)
            sl_log_warn("admin", "%u admin connections open (limit %u): closing the oldest that sent no request",
                        t->open, t->limit);
        warned = true;
        evict(t, v);
    }
    pthread_mutex_unlock(&t->lock);
}

static void on_closed(sl_admin_conns *t, void **socket_context)
{
    sl_admin_conn *c = *socket_context;
    if (!c)
        return;
    pthread_mutex_lock(&t->lock);
    if (c->older)
        c->older->newer = c->newer;
    else
        t->oldest = c->newer;
    if (c->newer)
        c->newer->older = c->older;
    else
        t->newest = c->older;
    if (!c->evicted)
        t->open--;
    pthread_mutex_unlock(&t->lock);
    free(c);
    *socket_context = NULL;
}

void sl_admin_conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode code)
{
    sl_admin_conns *t = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        on_started(t, conn, socket_context);
    else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        on_closed(t, socket_context);
}

static sl_admin_conn *entry_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void sl_admin_conns_request_started(sl_admin_conns *t, struct MHD_Connection *conn)
{
    sl_admin_conn *c = entry_of(conn);
    if (!c)
        return;
    pthread_mutex_lock(&t->lock);
    bool first = !c->requested;
    c->requested = true;
    c->busy = true;
    pthread_mutex_unlock(&t->lock);
    if (first)
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, t->idle_timeout_s);
}

void sl_admin_conns_request_done(sl_admin_conns *t, struct MHD_Connection *conn)
{
    sl_admin_conn *c = entry_of(conn);
    if (!c)
        return;
    pthread_mutex_lock(&t->lock);
    /* Idle again: it goes to the back of the eviction order among idle ones. */
    c->busy = false;
    if (t->newest != c) {
        if (c->older)
            c->older->newer = c->newer;
        else
            t->oldest = c->newer;
        c->newer->older = c->older;
        c->older = t->newest;
        c->newer = NULL;
        t->newest->newer = c;
        t->newest = c;
    }
    pthread_mutex_unlock(&t->lock);
}

/* Admission of admin API connections: a bounded table of open connections in
 * which a crowd of idle ones can never lock out a client that sends its request.
 *
 * libmicrohttpd runs one thread per connection and knows only a global limit,
 * which idle connections fill (then everyone is refused: /healthz and token
 * holders too). Here every connection is tracked from accept to close; when a
 * new one would pass the limit, the oldest connection that has not sent a
 * complete request head is closed, else the oldest idle keep-alive one. Many
 * clients may share one address (NAT, loopback), so no per-address rule is
 * used: what counts is whether a connection is doing anything. A connection
 * that sends no complete head within the header timeout is closed too. */
#ifndef SL_ADMIN_CONNS_H
#define SL_ADMIN_CONNS_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sl_admin_conn sl_admin_conn;

typedef struct sl_admin_conns {
    pthread_mutex_t lock;
    sl_admin_conn *oldest, *newest; /* in order of arrival */
    unsigned open;                  /* tracked and not being closed */
    unsigned limit;
    unsigned header_timeout_s;
    unsigned idle_timeout_s;
    uint64_t evicted_total;         /* closed to make room (metrics) */
} sl_admin_conns;

void sl_admin_conns_init(sl_admin_conns *t, unsigned limit, unsigned header_timeout_s, unsigned idle_timeout_s);
void sl_admin_conns_destroy(sl_admin_conns *t);

/* MHD_OPTION_NOTIFY_CONNECTION callback (cls: the sl_admin_conns). */
void sl_admin_conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode code);
/* A complete request head arrived on conn: it is busy until request_done. */
void sl_admin_conns_request_started(sl_admin_conns *t, struct MHD_Connection *conn);
/* The request on conn finished: the connection is idle (keep-alive). */
void sl_admin_conns_request_done(sl_admin_conns *t, struct MHD_Connection *conn);

#endif

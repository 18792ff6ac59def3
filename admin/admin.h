/* The admin API: a Kubernetes-style REST server (libmicrohttpd, thread per
 * connection, so a slow client or a long watch never holds up anyone else). */
#ifndef SL_ADMIN_H
#define SL_ADMIN_H

#include <stdbool.h>

#include "common/control.h"
#include "daemon/store.h"

typedef struct sl_admin sl_admin;

typedef struct sl_admin_config {
    const char *address; /* "HOST:PORT"; HOST may be an IPv4 or [IPv6] literal or "localhost" */
    sl_store *store;
    const sl_control *control; /* for /debug/snapshot; may be NULL */
    const char *tls_cert;      /* PEM files; NULL: plain HTTP */
    const char *tls_key;
    const char *client_ca;     /* PEM; clients with a certificate it signed are authenticated */
    const char *config_dir;    /* --config-dir: its objects (SL_CONFIG_FILE_ANNOTATION) are not written here */
    const char *web_dir;       /* the dashboard's files, served at /ui/ (NULL: /ui/ answers 404) */
    const char *kube_server;   /* --kubernetes: its cluster's objects (SL_SYNCED_ANNOTATION) are not written
                                * here (the string outlives the admin API) */
    /* More of /metrics from the master's subsystems (the Kubernetes leader
     * election and status writer): malloc'd Prometheus text, or NULL for none. */
    char *(*extra_metrics)(void *arg);
    void *extra_metrics_arg;
} sl_admin_config;

/* Starts serving. Refuses (NULL, message in err) to bind a non-loopback address
 * when the store holds no tokens and no client CA is configured. */
sl_admin *sl_admin_start(const sl_admin_config *cfg, char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
int sl_admin_port(const sl_admin *a);
/* Marks the server ready for /readyz. */
void sl_admin_set_ready(sl_admin *a, bool ready);
/* Ends watches, stops accepting and waits for in-flight requests. */
void sl_admin_stop(sl_admin *a);

/* Splits "HOST:PORT" ("[::1]:9901", "127.0.0.1:9901", ":9901"). Returns 0 on success. */
int sl_admin_parse_address(const char *address, char *host, size_t hostlen, int *port);

#endif

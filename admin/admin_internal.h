/* Internals shared by the admin API's files: the request being served and the
 * reply helpers. Not used outside admin/. */
#ifndef SL_ADMIN_INTERNAL_H
#define SL_ADMIN_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "admin/admin.h"
#include "admin/admin_conns.h"
#include "admin/admin_tls.h"
#include "admin/admin_metrics.h"
#include "admin/admin_path.h"
#include "admin/admin_status.h"
#include "daemon/store.h"

/* token_hash of a request authenticated by its client certificate. */
#define SL_ADMIN_BY_CLIENT_CERT "client-certificate"

/* Largest request body accepted (Kubernetes' own limit is 3 MiB). */
#define SL_ADMIN_MAX_BODY (3u * 1024u * 1024u)

struct sl_admin {
    struct MHD_Daemon *mhd;
    sl_store *store;
    const sl_control *control;
    int port;
    volatile bool ready;
    volatile bool stopping;
    bool require_token; /* bound to a non-loopback address: never serve without a token */
    const char *config_dir; /* --config-dir, or NULL: its objects are refused writes (admin_resources.c) */
    const char *kube_server; /* --kubernetes: the cluster whose objects are refused writes, or NULL */
    char *(*extra_metrics)(void *arg); /* (sl_admin_config) */
    void *extra_metrics_arg;
    const char *web_dir;    /* the dashboard's files (admin_ui.c), or NULL: none found */
    sl_admin_metrics metrics;
    sl_admin_conns conns;
    sl_admin_tls tls;
};

typedef struct sl_admin_req {
    sl_admin *admin;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    const char *body;
    size_t body_len;
    unsigned status_code; /* set when the reply is queued, for metrics */
    const char *verb;     /* Kubernetes verb for metrics: get, list, create, ... */
    const char *live;     /* ?wait=live: "true" or "false" (Sluice-Live header); NULL when not asked */
    char token_hash[65];  /* the bearer token that authorized it ("" when none was needed,
                           * SL_ADMIN_BY_CLIENT_CERT for a verified client certificate) */
} sl_admin_req;

/* admin_debug_workers.c: GET /debug/workers. */
enum MHD_Result sl_admin_debug_workers(sl_admin_req *r);
/* admin_debug_access_log.c: GET /debug/access-log, the workers' last requests. */
enum MHD_Result sl_admin_debug_access_log(sl_admin_req *r);

/* admin_ui.c: GET /ui and /ui/... (the dashboard's files). */
enum MHD_Result sl_admin_handle_ui(sl_admin_req *r);

/* Queries a URL parameter; NULL when absent. */
const char *sl_admin_query(sl_admin_req *r, const char *key);
/* A URL parameter that counts something (limit, timeoutSeconds): *out = its
 * value, or -1 when absent. Returns false, having answered 400, when it is
 * present and not a non-negative decimal integer. */
bool sl_admin_query_count(sl_admin_req *r, const char *key, long long *out, enum MHD_Result *res);
/* Queries a request header; NULL when absent. */
const char *sl_admin_header(sl_admin_req *r, const char *name);

/* Sends a JSON body (steals the reference). When the request's Accept prefers
 * application/vnd.kubernetes.protobuf and the body has a protobuf form (an object
 * of a kind listed in admin_protobuf.h, or a Status), it goes in that encoding
 * instead, as Kubernetes answers its typed clients. */
enum MHD_Result sl_admin_reply_json(sl_admin_req *r, unsigned code, json_t *body);
/* Sends a plain-text body (copied). */
enum MHD_Result sl_admin_reply_text(sl_admin_req *r, unsigned code, const char *content_type, const char *text);
/* The same with a malloc'd body of len bytes that the answer takes over (freed when sent). */
enum MHD_Result sl_admin_reply_owned(sl_admin_req *r, unsigned code, const char *content_type, char *body, size_t len);
/* ...and, once sent (or if it cannot be), release(cls) is called instead of free(body). */
enum MHD_Result sl_admin_reply_owned_cb(sl_admin_req *r, unsigned code, const char *content_type, char *body,
                                        size_t len, void (*release)(void *), void *cls);
/* Sends a Kubernetes Status failure. causes (stolen, may be NULL) becomes details.causes;
 * kind/name (may be NULL) fill details.kind/name. */
enum MHD_Result sl_admin_reply_error(sl_admin_req *r, unsigned code, const char *reason, const char *kind,
                                     const char *name, json_t *causes, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Handlers, each in its own file. */
enum MHD_Result sl_admin_handle_resource(sl_admin_req *r, const sl_admin_path *p);
enum MHD_Result sl_admin_handle_watch(sl_admin_req *r, const sl_admin_path *p);
/* Returns true and replies when the URL is a discovery document. */
bool sl_admin_handle_discovery(sl_admin_req *r, enum MHD_Result *result);
enum MHD_Result sl_admin_handle_metrics(sl_admin_req *r);
/* Checks the Authorization header. Returns true when the request may go on;
 * otherwise it has replied 401 and *result is set. */
bool sl_admin_authorize(sl_admin_req *r, enum MHD_Result *result);
/* Whether a long request (a watch) authorized by token_hash ("" when no token was
 * needed) may go on: false once its token was revoked, or once tokens exist
 * for a request that came in without one. */
bool sl_admin_still_authorized(sl_admin *a, const char *token_hash);

#endif

/* The admin API server: libmicrohttpd setup, request bodies, dispatch to the
 * handlers, metrics and access logging. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "admin/admin_internal.h"
#include "common/log.h"
#include "common/settings.h"
#include "common/sl.h"
#include "config.h"
#include "daemon/snapshot_render.h"
#include "daemon/traffic_history.h"

/* Per-request state kept across libmicrohttpd's calls for one request. */
typedef struct req_state {
    char *body;
    size_t len, cap;
    bool too_large;
    bool replied_early;
    struct timespec started;
    sl_admin_req req;
} req_state;

const char *sl_admin_query(sl_admin_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

bool sl_admin_query_count(sl_admin_req *r, const char *key, long long *out, enum MHD_Result *res)
{
    const char *v = sl_admin_query(r, key);
    *out = -1;
    if (!v)
        return true;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || n < 0 || errno == ERANGE || v[0] == '+' || v[0] == ' ') {
        *res = sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                    "%s must be a non-negative integer, not \"%s\"", key, v);
        return false;
    }
    *out = n;
    return true;
}

const char *sl_admin_header(sl_admin_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static enum MHD_Result reply_version(sl_admin_req *r)
{
    return sl_admin_reply_json(r, 200,
                               json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", "1", "minor",
                                         "32", "gitVersion", "v1.32.0-sluice-" PACKAGE_VERSION, "gitCommit", "",
                                         "gitTreeState", "clean", "buildDate", SL_BUILD_DATE, "goVersion", "n/a",
                                         "compiler", "gcc", "platform", "linux/amd64"));
}

typedef struct effective_query {
    const char *kind, *ns, *name;
} effective_query;

static json_t *effective_cb(const sl_snapshot *s, void *arg)
{
    const effective_query *q = arg;
    return sl_snapshot_effective_policy(s, q->kind, q->ns, q->name);
}

/* 200 with fn(current snapshot, arg), or 503 when there is no snapshot yet. */
static enum MHD_Result reply_from_current(sl_admin_req *r, json_t *(*fn)(const sl_snapshot *, void *), void *arg)
{
    char why[256] = "";
    json_t *doc = r->admin->control ? sl_snapshot_with_current(r->admin->control, fn, arg, why, sizeof(why)) : NULL;
    if (!doc)
        return sl_admin_reply_error(r, 503, "ServiceUnavailable", NULL, NULL, NULL, "%s", why[0] ? why : "no snapshot");
    return sl_admin_reply_json(r, 200, doc);
}

typedef struct budget_query {
    const char *policy, *key;
} budget_query;

static json_t *budgets_cb(const sl_snapshot *s, void *arg)
{
    const budget_query *q = arg;
    return sl_snapshot_ai_budgets(s, q->policy, q->key);
}

/* GET /debug/ai-budgets[?policy=NS/NAME][&key=KEY] */
static enum MHD_Result reply_ai_budgets(sl_admin_req *r)
{
    budget_query q = {sl_admin_query(r, "policy"), sl_admin_query(r, "key")};
    return reply_from_current(r, budgets_cb, &q);
}

typedef struct backend_query {
    const char *ns, *name;
} backend_query;

static json_t *backends_cb(const sl_snapshot *s, void *arg)
{
    const backend_query *q = arg;
    return sl_snapshot_backends(s, q->ns, q->name);
}

/* GET /debug/backends[?namespace=NS][&name=NAME] */
static enum MHD_Result reply_backends(sl_admin_req *r)
{
    backend_query q = {sl_admin_query(r, "namespace"), sl_admin_query(r, "name")};
    return reply_from_current(r, backends_cb, &q);
}

/* GET /debug/effective-policy?kind=HTTPRoute&namespace=NS&name=NAME */
static enum MHD_Result reply_effective_policy(sl_admin_req *r)
{
    effective_query q = {sl_admin_query(r, "kind"), sl_admin_query(r, "namespace"), sl_admin_query(r, "name")};
    if (!q.kind)
        q.kind = "HTTPRoute";
    if (!q.ns || !q.ns[0])
        q.ns = "default";
    if (strcmp(q.kind, "HTTPRoute") != 0 && strcmp(q.kind, "GRPCRoute") != 0)
        return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                    "kind must be HTTPRoute or GRPCRoute, not \"%s\"", q.kind);
    if (!q.name || !q.name[0])
        return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL, "name is required");
    return reply_from_current(r, effective_cb, &q);
}

/* GET /debug/traffic?kind=K&namespace=NS&name=N[&section=S][&seconds=N]:
 * the object's last minutes, one value per second (daemon/traffic_history.c). */
static enum MHD_Result reply_traffic(sl_admin_req *r)
{
    const char *kind = sl_admin_query(r, "kind"), *ns = sl_admin_query(r, "namespace");
    const char *name = sl_admin_query(r, "name"), *seconds = sl_admin_query(r, "seconds");
    if (!kind || !name || !name[0])
        return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL, "kind and name are required");
    char *end = NULL;
    long n = seconds ? strtol(seconds, &end, 10) : 900;
    if (seconds && (end == seconds || *end || n < 1 || n > 900))
        return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                    "seconds must be a whole number from 1 to 900, not \"%s\"", seconds);
    const char *texts[] = {kind, ns ? ns : "", name, sl_admin_query(r, "section") ? sl_admin_query(r, "section") : ""};
    for (size_t i = 0; i < 4; i++) {
        json_t *valid = json_string(texts[i]); /* (NULL for text that is not UTF-8) */
        if (!valid)
            return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                        "kind, namespace, name and section must be UTF-8 text");
        json_decref(valid);
    }
    char err[256] = "";
    json_t *doc = sl_traffic_history_query(kind, ns && ns[0] ? ns : "default", name, sl_admin_query(r, "section"),
                                           (unsigned)n, err, sizeof(err));
    if (!doc)
        return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL, "%s", err);
    return sl_admin_reply_json(r, 200, doc);
}

static enum MHD_Result dispatch(sl_admin_req *r)
{
    const char *url = r->url;
    enum MHD_Result res;
    r->verb = "other";
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0) {
        r->verb = "health";
        return sl_admin_reply_text(r, 200, "text/plain", "ok\n");
    }
    if (strcmp(url, "/readyz") == 0) {
        r->verb = "health";
        return r->admin->ready ? sl_admin_reply_text(r, 200, "text/plain", "ok\n")
                               : sl_admin_reply_text(r, 503, "text/plain", "not ready\n");
    }
    if (strcmp(url, "/ui") == 0 || strncmp(url, "/ui/", 4) == 0) {
        r->verb = "ui";
        return sl_admin_handle_ui(r); /* static files, no data: no token (the page sends its own to the API) */
    }
    if (!sl_admin_authorize(r, &res))
        return res;
    if (strcmp(url, "/metrics") == 0) {
        r->verb = "metrics";
        return sl_admin_handle_metrics(r);
    }
    if (strcmp(url, "/debug/snapshot") == 0) {
        r->verb = "debug";
        char why[256] = "";
        const char *raw = sl_admin_query(r, "raw");
        bool want_raw = raw && (strcmp(raw, "1") == 0 || strcmp(raw, "true") == 0);
        json_t *doc = r->admin->control ? sl_snapshot_render_current(r->admin->control, want_raw, why, sizeof(why))
                                        : NULL;
        if (!doc)
            return sl_admin_reply_error(r, 503, "ServiceUnavailable", NULL, NULL, NULL, "%s",
                                        why[0] ? why : "no snapshot");
        return sl_admin_reply_json(r, 200, doc);
    }
    if (strcmp(url, "/debug/effective-policy") == 0) {
        r->verb = "debug";
        return reply_effective_policy(r);
    }
    if (strcmp(url, "/debug/workers") == 0) {
        r->verb = "debug";
        return sl_admin_debug_workers(r);
    }
    if (strcmp(url, "/debug/backends") == 0) {
        r->verb = "debug";
        return reply_backends(r);
    }
    if (strcmp(url, "/debug/access-log") == 0) {
        r->verb = "debug";
        return sl_admin_debug_access_log(r);
    }
    if (strcmp(url, "/debug/traffic") == 0) {
        r->verb = "debug";
        return reply_traffic(r);
    }
    if (strcmp(url, "/debug/ai-budgets") == 0) {
        r->verb = "debug";
        return reply_ai_budgets(r);
    }
    if (strcmp(url, "/version") == 0 || strcmp(url, "/version/") == 0) {
        r->verb = "discovery";
        return reply_version(r);
    }
    sl_admin_path p;
    int rc = sl_admin_path_parse(url, &p);
    if (rc == SL_OK) {
        const char *watch = sl_admin_query(r, "watch");
        if (watch && (strcmp(watch, "1") == 0 || strcmp(watch, "true") == 0) && strcmp(r->method, "GET") == 0) {
            r->verb = "watch";
            return sl_admin_handle_watch(r, &p);
        }
        return sl_admin_handle_resource(r, &p);
    }
    if (rc == SL_ERR && sl_admin_handle_discovery(r, &res)) {
        r->verb = "discovery";
        return res;
    }
    return sl_admin_reply_error(r, 404, "NotFound", NULL, NULL, NULL,
                                "the server could not find the requested resource (%s %s)", r->method, url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    sl_admin *a = cls;
    req_state *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &st->started);
        st->req.admin = a;
        st->req.conn = conn;
        st->req.method = method;
        st->req.url = url;
        st->req.verb = "other";
        *con_cls = st;
        sl_admin_conns_request_started(&a->conns, conn);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > SL_ADMIN_MAX_BODY) {
            st->replied_early = true;
            return sl_admin_reply_error(&st->req, 413, "RequestEntityTooLarge", NULL, NULL, NULL,
                                        "request body is larger than the limit of %u bytes", SL_ADMIN_MAX_BODY);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (st->too_large || st->len + n > SL_ADMIN_MAX_BODY) {
            st->too_large = true;
            return MHD_YES;
        }
        if (st->len + n + 1 > st->cap) {
            size_t cap = st->cap ? st->cap * 2 : 4096;
            while (cap < st->len + n + 1)
                cap *= 2;
            char *nb = realloc(st->body, cap);
            if (!nb)
                return MHD_NO;
            st->body = nb;
            st->cap = cap;
        }
        memcpy(st->body + st->len, upload_data, n);
        st->len += n;
        st->body[st->len] = '\0';
        return MHD_YES;
    }
    if (st->replied_early)
        return MHD_YES;
    if (st->too_large)
        return sl_admin_reply_error(&st->req, 413, "RequestEntityTooLarge", NULL, NULL, NULL,
                                    "request body is larger than the limit of %u bytes", SL_ADMIN_MAX_BODY);
    st->req.body = st->body ? st->body : "";
    st->req.body_len = st->len;
    return dispatch(&st->req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    sl_admin *a = cls;
    req_state *st = *con_cls;
    sl_admin_conns_request_done(&a->conns, conn);
    if (!st)
        return;
    double secs = seconds_since(&st->started);
    unsigned code = st->req.status_code ? st->req.status_code : 0;
    if (strcmp(st->req.verb, "watch") != 0)
        sl_admin_metrics_observe(&a->metrics, st->req.verb, code, secs);
    sl_log_debug("admin", "%s %s -> %u (%.1f ms)", st->req.method, st->req.url, code, secs * 1000);
    free(st->body);
    free(st);
    *con_cls = NULL;
}

int sl_admin_parse_address(const char *address, char *host, size_t hostlen, int *port)
{
    const char *colon;
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (!close || close[1] != ':')
            return -1;
        size_t n = (size_t)(close - address - 1);
        if (n >= hostlen)
            return -1;
        memcpy(host, address + 1, n);
        host[n] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(address, ':');
        if (!colon)
            return -1;
        size_t n = (size_t)(colon - address);
        if (n >= hostlen)
            return -1;
        memcpy(host, address, n);
        host[n] = '\0';
    }
    /* Digits only: strtol alone would take signs and leading blanks. */
    if (colon[1] < '0' || colon[1] > '9')
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a6))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(a6))
            return a6->s6_addr[12] == 127;
    }
    return false;
}

sl_admin *sl_admin_start(const sl_admin_config *cfg, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (sl_admin_parse_address(cfg->address, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "invalid admin address \"%s\": expected HOST:PORT", cfg->address);
        return NULL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int gai = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve admin address \"%s\": %s", cfg->address, gai_strerror(gai));
        return NULL;
    }
    int tokens = sl_store_token_count(cfg->store);
    if (tokens == 0 && !cfg->client_ca && !is_loopback(ai->ai_addr)) {
        snprintf(err, errlen,
                 "refusing to serve the admin API on non-loopback address %s without tokens; create one with "
                 "'sluiced token create NAME --state-dir DIR', give --admin-client-ca, or bind 127.0.0.1",
                 cfg->address);
        freeaddrinfo(ai);
        return NULL;
    }
    sl_admin *a = calloc(1, sizeof(*a));
    if (!a) {
        freeaddrinfo(ai);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (sl_admin_tls_load(&a->tls, cfg->tls_cert, cfg->tls_key, cfg->client_ca, err, errlen) != 0) {
        freeaddrinfo(ai);
        free(a);
        return NULL;
    }
    a->store = cfg->store;
    a->control = cfg->control;
    a->config_dir = cfg->config_dir;
    a->kube_server = cfg->kube_server;
    a->extra_metrics = cfg->extra_metrics;
    a->extra_metrics_arg = cfg->extra_metrics_arg;
    a->web_dir = cfg->web_dir;
    /* Off loopback, or with a client CA (the operator asked for mutual TLS),
     * every request must authenticate: a token or a client certificate. */
    a->require_token = !is_loopback(ai->ai_addr) || cfg->client_ca;
    sl_admin_metrics_init(&a->metrics);
    unsigned limit = (unsigned)sl_setting(SL_SET_ADMIN_MAX_CONNECTIONS);
    sl_admin_conns_init(&a->conns, limit, (unsigned)sl_setting(SL_SET_ADMIN_HEADER_TIMEOUT_S),
                        (unsigned)sl_setting(SL_SET_ADMIN_IDLE_TIMEOUT_S));
    /* poll(), not select(): descriptors past FD_SETSIZE (1024) must work. One
     * thread per connection lets a watch sleep in its callback. libmicrohttpd's
     * own limit is only a backstop above ours: ours closes idle connections to
     * make room, libmicrohttpd's would refuse every newcomer. The room between
     * them holds the connections ours closed whose threads have not ended yet:
     * under a flood on a busy machine those lag, so it is generous. */
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* TLS options go in an array: they are there only when TLS is on. */
    struct MHD_OptionItem tls_opts[4] = {{MHD_OPTION_END, 0, NULL}};
    int nt = 0;
    if (a->tls.cert_pem) {
        flags |= MHD_USE_TLS;
        tls_opts[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, a->tls.cert_pem};
        tls_opts[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, a->tls.key_pem};
        if (a->tls.client_ca_pem)
            tls_opts[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, a->tls.client_ca_pem};
        tls_opts[nt] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    a->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_NOTIFY_CONNECTION,
                              sl_admin_conns_notify, &a->conns, MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned)sl_setting(SL_SET_ADMIN_IDLE_TIMEOUT_S), MHD_OPTION_CONNECTION_LIMIT,
                              limit * 4 + 512, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                              MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024), MHD_OPTION_ARRAY, tls_opts,
                              MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!a->mhd) {
        snprintf(err, errlen, "cannot listen on %s (address in use or not available%s)", cfg->address,
                 a->tls.cert_pem ? ", or the TLS certificate and key do not load or match" : "");
        sl_admin_tls_free(&a->tls);
        sl_admin_conns_destroy(&a->conns);
        sl_admin_metrics_destroy(&a->metrics);
        free(a);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info ? info->port : port;
    sl_log_info("admin", "admin API listening on %s (port %d, %s)%s%s", cfg->address, a->port,
                a->tls.cert_pem ? "HTTPS" : "plain HTTP", tokens ? ", bearer tokens required" : "",
                a->tls.client_ca_pem ? ", client certificates accepted" : "");
    return a;
}

int sl_admin_port(const sl_admin *a) { return a->port; }

void sl_admin_set_ready(sl_admin *a, bool ready) { a->ready = ready; }

void sl_admin_stop(sl_admin *a)
{
    if (!a)
        return;
    a->stopping = true;
    sl_store_wake_all(a->store);
    MHD_stop_daemon(a->mhd);
    sl_admin_tls_free(&a->tls);
    sl_admin_conns_destroy(&a->conns);
    sl_admin_metrics_destroy(&a->metrics);
    free(a);
}

/* sluiced: the master process. Opens the store, serves the admin API, runs the
 * controller, compiles snapshots after every change and supervises the worker
 * groups of the Gateways. Its main thread runs one libev loop: signals, child
 * exits, and "the store changed" notifications from the controller thread. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>

#include "admin/admin.h"
#include "common/log.h"
#include "common/log_tail.h"
#include "common/redis_addr.h"
#include "common/settings.h"
#include "common/zones.h"
#include "common/endpoint_state.h"
#include "daemon/endpoint_slots.h"
#include "daemon/series_ids.h"
#include "common/series.h"
#include "daemon/health_checker.h"
#include "config.h"
#include "daemon/compiler.h"
#include "daemon/config_dir.h"
#include "daemon/controller.h"
#include "daemon/export.h"
#include "daemon/service_notify.h"
#include "daemon/fetcher.h"
#include "daemon/redis_health.h"
#include "daemon/gateway_status.h"
#include "daemon/liveness.h"
#include "common/mcp_table.h"
#include "daemon/mcp_key.h"
#include "daemon/route_status.h"
#include "daemon/publisher.h"
#include "daemon/store.h"
#include "daemon/spawner.h"
#include "daemon/supervisor.h"
#include "daemon/kube_lease.h"
#include "daemon/kube_crds.h"
#include "daemon/kube_rbac.h"
#include "daemon/kube_refs.h"
#include "daemon/kube_status.h"
#include "daemon/kube_sync.h"
#include "daemon/traffic_history.h"
#include "daemon/tokens.h"
#include "workers/access_log_format.h"
#include "workers/tracing.h"

#define DEFAULT_STATE_DIR "/var/lib/sluice"
#define DEFAULT_ADMIN "127.0.0.1:9901"

typedef struct master {
    struct ev_loop *loop;
    sl_store *store;
    sl_admin *admin;
    sl_controller *controller;
    sl_control *control;
    double tickets_rotated; /* loop time of the last ticket key rotation */
    sl_publisher publisher;
    sl_supervisor *supervisor;
    ev_async changed;
    ev_timer compile_later;     /* a change held back by --compile-interval */
    double compile_ended;       /* ev_time() when the last compile ended, 0: none yet */
    ev_signal sigterm, sigint, sigquit, sighup;
    ev_timer readiness;
    ev_timer liveness_timer;    /* while a change is not yet live everywhere: checks often */
    int64_t compiled_rv;
    sl_compile_memo memo;       /* the last full compile's tables, for endpoint-only compiles */
    int64_t memo_rv;            /* the store's config version that full compile read */
    unsigned long long endpoint_compiles; /* (logged now and then) */
    uint64_t compiled_fetch;    /* sl_fetcher_version() of the last compile */
    sl_liveness liveness;
    json_t *computed;           /* the last compile's route and Gateway status (sl_compile) */
    size_t routes_pending;      /* route parents whose sluice.dev/Programmed waits for workers */
    uint64_t pending_seen;      /* the workers' generations when pending routes were last checked */
    unsigned retry_ticks;
    int exit_code;
    sl_config_dir *config_dir;  /* --config-dir's watcher, or NULL */
    sl_kube_sync *kube;         /* --kubernetes: the cluster's mirror, or NULL */
    int64_t kube_listed_rv;     /* the store's version when the cluster's first lists were in */
    sl_kube_lease *kube_lease;  /* --kubernetes: the leader election */
    sl_kube_status *kube_status; /* --kubernetes: the leader's status writes to the cluster */
    sl_kube_refs *kube_refs;    /* --kubernetes: the Secrets and ConfigMaps our objects name */
    _Atomic bool status_settled; /* the store's status is computed from its current objects */
    ev_signal sigusr1;
    const char *log_file;       /* --log-file, or NULL (standard error) */
    const char *access_log;     /* --access-log as given */
    int worker_uid, worker_gid;
} master;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sluiced [--state-dir DIR] [--admin HOST:PORT] [--log-level LEVEL] [--access-log PATH]\n"
            "               [data plane settings]\n"
            "       sluiced token create NAME|list|revoke ID --state-dir DIR\n"
            "       sluiced export --state-dir DIR [--output yaml|json]\n"
            "       sluiced kubernetes-rbac [--namespace NS]   (the RBAC of --kubernetes, as YAML)\n"
            "       sluiced kubernetes-crds   (the CRDs of TrafficPolicy, Backend, BackendPolicy, as YAML)\n"
            "\n"
            "  --state-dir DIR            where the SQLite store lives (env SLUICE_STATE_DIR; default %s)\n"
            "  --admin HOST:PORT          admin API address (env SLUICE_ADMIN; default %s);\n"
            "                             non-loopback addresses need at least one token\n"
            "  --config-dir DIR           apply the manifests (*.yaml, *.yml, *.json) of DIR at start and\n"
            "                             whenever they change; the objects they define belong to DIR\n"
            "  --kubernetes               mirror a Kubernetes cluster's Gateway API objects (and their\n"
            "                             Services, EndpointSlices, TLS Secrets) into the store\n"
            "  --kubeconfig PATH          the cluster of --kubernetes (default: in-cluster, from the\n"
            "                             pod's service account)\n"
            "  --kubernetes-namespaces LIST  read namespaced objects of only these namespaces\n"
            "                             (comma-separated; default: all)\n"
            "  --kubernetes-gateway-classes LIST  mirror only these GatewayClasses and their\n"
            "                             Gateways (comma-separated; default: all)\n"
            "  --kubernetes-lease NS/NAME the Lease that elects the replica writing status to the\n"
            "                             cluster (default: the pod's namespace/%s)\n"
            "  --log-level LEVEL          error, warn, info (default) or debug\n"
            "  --log-file PATH            write the log (master and workers) to PATH instead of standard\n"
            "                             error; SIGUSR1 reopens it and the access log (logrotate)\n"
            "  --access-log PATH          where workers write access log lines: a file, '-' for\n"
            "                             standard output (default), or 'off'\n"
            "  --access-log-format F      json (default), json:FIELD,..., combined, or a template\n"
            "                             with $variables (docs/configuration.md#access-log)\n"
            "  --otlp-endpoint URL        export spans with OTLP/HTTP JSON to this collector (env\n"
            "                             SLUICE_OTLP_ENDPOINT); requests carry a W3C traceparent upstream\n"
            "  --trace-sample-ratio R     share of new traces sampled, 0 to 1 (default 1)\n"
            "  --web-dir DIR              the dashboard's files, served at /ui/ (default: the installed\n"
            "                             ones, else this build's source tree)\n"
            "  --user NAME                run the workers as this user (the master keeps its identity\n"
            "                             to bind privileged ports)\n"
            "  --redis ADDRESS            Redis of Global rate limits: HOST:PORT, [IPv6]:PORT or\n"
            "                             unix:/path (env SLUICE_REDIS)\n"
            "  --admin-tls-cert FILE      serve the admin API over HTTPS with this PEM certificate (chain)\n"
            "  --admin-tls-key FILE       ...and this PEM private key\n"
            "  --admin-client-ca FILE     accept client certificates signed by these PEM CAs as full\n"
            "                             credentials (mutual TLS); then every request must present one\n"
            "                             or a bearer token, on loopback too\n"
            "  --version                  print the version and exit\n"
            "  --help                     print this help and exit\n"
            "\n"
            "Data plane settings:\n",
            DEFAULT_STATE_DIR, DEFAULT_ADMIN, SL_KUBE_LEASE_DEFAULT_NAME);
    sl_settings_usage(f);
}

/* The workers' progress in one number, to notice when it moved. */
static uint64_t workers_fingerprint(const master *m)
{
    uint64_t sum = 0;
    for (int i = 0; i < SL_MAX_WORKERS; i++)
        sum += atomic_load(&m->control->slots[i].generation) * (uint64_t)(i + 1);
    return sum;
}

/* Sets control->live_rv (the config resourceVersion every worker runs, for
 * writes that wait until they are live) and re-checks the routes whose
 * sluice.dev/Programmed waits for workers. Returns true while something waits. */
static bool check_liveness(master *m)
{
    if (m->compiled_rv > atomic_load(&m->control->live_rv) &&
        sl_supervisor_all_run(m->supervisor, m->publisher.generation))
        atomic_store(&m->control->live_rv, m->compiled_rv);
    if (m->routes_pending && m->computed) {
        uint64_t seen = workers_fingerprint(m);
        if (seen != m->pending_seen) {
            m->pending_seen = seen;
            m->routes_pending = sl_route_status_sync(m->store, m->computed, &m->liveness, m->supervisor);
        }
    }
    return m->routes_pending || m->compiled_rv > atomic_load(&m->control->live_rv);
}

static void liveness_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    master *m = t->data;
    if (!check_liveness(m))
        ev_timer_stop(loop, t);
}

/* After a compile: remembers which snapshot holds which generation of each
 * object, writes route status (after publishing, so the workers never wait for
 * this durable write) and watches the workers catch up. */
static void compiled(master *m, json_t *route_status, uint64_t snapshot)
{
    sl_liveness_compiled(&m->liveness, route_status, snapshot);
    /* The same status as the last compile's (timestamps aside: an endpoint
     * moved, say): what the store holds is already it, and going over every
     * route again would cost as much as the compile (10,000 routes). */
    bool same = m->computed && sl_status_equal(m->computed, route_status);
    json_decref(m->computed);
    m->computed = route_status;
    m->pending_seen = workers_fingerprint(m);
    if (!same)
        m->routes_pending = sl_route_status_sync(m->store, m->computed, &m->liveness, m->supervisor);
    if (check_liveness(m))
        ev_timer_again(m->loop, &m->liveness_timer);
}

/* Compiles and publishes when the store moved, then lets the supervisor match
 * the worker groups to the new snapshot. Runs on the main loop. */
static void recompile(master *m)
{
    /* Status writes (ours, after each compile, and the controller's) move the
     * resourceVersion but change nothing the compiler reads: no compile. */
    int64_t rv = sl_store_config_rv(m->store);
    /* What the compiler reads besides the store: fetched documents, Redis's health.
     * Read first: a change during the compile is not lost. */
    uint64_t fetched = sl_fetcher_version() + sl_redis_health_version();
    if (rv == m->compiled_rv && fetched == m->compiled_fetch)
        return;
    atomic_fetch_add(&m->control->compiles, 1);
    uint64_t generation = m->publisher.generation + 1;
    size_t size;
    json_t *route_status = NULL;
    uint64_t began = sl_mono_us();
    /* Nothing but EndpointSlices changed since the last full compile (pods come
     * and go): only the endpoints are compiled again. */
    bool endpoints_only = sl_compile_endpoints_possible(&m->memo) && fetched == m->compiled_fetch &&
                          sl_store_changed_only(m->store, m->memo_rv, "EndpointSlice");
    void *blob = NULL;
    if (endpoints_only) {
        blob = sl_compile_endpoints(m->store, &m->memo, generation, &size);
        /* Something else committed while it ran: its tables may mix the two (Services). */
        if (!sl_store_changed_only(m->store, m->memo_rv, "EndpointSlice")) {
            free(blob);
            blob = NULL;
        } else {
            route_status = json_incref(m->memo.route_status);
            if (m->endpoint_compiles++ % 1000 == 0)
                sl_log_info("compiler", "only endpoints changed: compiled them alone (%llu such compiles so far)",
                            m->endpoint_compiles);
        }
    }
    if (!blob) {
        blob = sl_compile_with_memo(m->store, generation, &size, &route_status, &m->memo);
        m->memo_rv = rv;
    }
    sl_histogram_observe(&sl_compile_latency, sl_mono_us() - began);
    char why[200];
    if (!sl_snapshot_verify(blob, size, why, sizeof(why))) {
        /* A compiler bug must never reach a worker: keep serving the previous one. */
        sl_log_error("compiler", "compiled snapshot fails verification (%s); keeping generation %llu", why,
                     (unsigned long long)m->publisher.generation);
        sl_zones_cancel_release(); /* the snapshot in force still names its zones */
        sl_ep_slots_cancel();
        sl_series_ids_cancel();
        free(blob);
        json_decref(route_status);
        return;
    }
    /* Same content as what runs (only the version moved, e.g. a status write):
     * nothing to publish. The checksum covers everything but the header. */
    sl_snapshot current = sl_publisher_current(&m->publisher);
    if (current.base && sl_snap_hdr(&current)->checksum == ((const sl_snap_header *)blob)->checksum &&
        sl_snap_hdr(&current)->size == size) {
        m->compiled_rv = rv;
        m->compiled_fetch = fetched;
        sl_zones_commit_release(); /* same zones as what runs: nothing is freed */
        sl_ep_slots_commit();
        sl_series_ids_commit();
        free(blob);
        compiled(m, route_status, m->publisher.generation);
        return;
    }
    if (sl_publisher_publish(&m->publisher, blob, size) == 0) {
        m->compiled_rv = rv;
        m->compiled_fetch = fetched;
        sl_zones_commit_release();
        sl_ep_slots_commit();
        sl_series_ids_commit();
        sl_log_info("compiler", "published snapshot generation %llu (%zu bytes, resourceVersion %lld)",
                    (unsigned long long)generation, size, (long long)rv);
        sl_snapshot snap = sl_publisher_current(&m->publisher);
        sl_supervisor_apply(m->supervisor, &snap);
        sl_health_update(&snap);
    } else {
        sl_zones_cancel_release(); /* the snapshot in force still names its zones */
        sl_ep_slots_cancel();
        sl_series_ids_cancel();
    }
    free(blob);
    compiled(m, route_status, m->publisher.generation);
}

/* A change: compiled at once, unless the last compile ended less than
 * --compile-interval ago; then once that has passed, with whatever else came
 * meanwhile. Under a stream of changes (endpoints churning in a cluster) the
 * master thus compiles at most that often, batching them, instead of back to
 * back; a lone change is not delayed. */
static void changed_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    master *m = w->data;
    double gap = (double)sl_setting(SL_SET_COMPILE_INTERVAL_MS) / 1000.0;
    double wait = m->compile_ended + gap - ev_time();
    if (m->compile_ended > 0 && wait > 0) {
        if (!ev_is_active(&m->compile_later)) {
            ev_timer_set(&m->compile_later, wait, 0);
            ev_timer_start(loop, &m->compile_later);
        }
        return;
    }
    recompile(m);
    m->compile_ended = ev_time();
}

static void compile_later_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    master *m = t->data;
    recompile(m);
    m->compile_ended = ev_time();
}

/* Called by the controller thread after it reconciled a change. */
static void notify_changed(void *arg)
{
    master *m = arg;
    ev_async_send(m->loop, &m->changed);
}

/* Every tick: readiness for /readyz, and Gateway status from what runs. */
static void readiness_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    master *m = t->data;
    /* With --kubernetes: once every kind of the cluster has been listed into
     * the store and what it wrote has been compiled. */
    if (m->kube && !m->kube_listed_rv && sl_kube_sync_ready(m->kube))
        m->kube_listed_rv = sl_store_config_rv(m->store);
    bool synced = !m->kube || (m->kube_listed_rv && m->compiled_rv >= m->kube_listed_rv);
    atomic_store(&m->status_settled, synced && m->compiled_rv == sl_store_config_rv(m->store));
    bool ready = m->compiled_rv > 0 && sl_supervisor_ready(m->supervisor) && synced;
    sl_admin_set_ready(m->admin, ready);
    if (ready) {
        char status[200];
        snprintf(status, sizeof(status), "serving: %d workers, configuration %lld", sl_supervisor_worker_count(m->supervisor),
                 (long long)m->compiled_rv);
        sl_service_ready(status); /* (once) */
    }
    /* Session ticket keys age out: a new one seals, the last one still opens. */
    double now = ev_now(loop);
    if (m->tickets_rotated == 0)
        m->tickets_rotated = now;
    if (now - m->tickets_rotated >= (double)sl_setting(SL_SET_TICKET_ROTATION_S)) {
        sl_ticket_keys_rotate(m->control, true);
        m->tickets_rotated = now;
        sl_log_info("main", "rotated the TLS session ticket keys");
    }
    sl_snapshot snap = sl_publisher_current(&m->publisher);
    /* Ports that could not be bound are tried again (once a second). */
    if (snap.base && sl_supervisor_needs_retry(m->supervisor) && ++m->retry_ticks % 4 == 0)
        sl_supervisor_apply(m->supervisor, &snap);
    sl_gateway_status_sync(m->store, &snap, m->supervisor, &m->liveness);
}

static void stopped_cb(void *arg)
{
    master *m = arg;
    ev_break(m->loop, EVBREAK_ALL);
}

static void stop_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    master *m = w->data;
    static bool stopping;
    if (stopping) {
        if (w->signum == SIGQUIT || w->signum == SIGINT)
            sl_supervisor_stop(m->supervisor, false, stopped_cb, m);
        return;
    }
    stopping = true;
    bool graceful = w->signum != SIGQUIT;
    sl_log_info("main", "received %s, %s", strsignal(w->signum), graceful ? "draining workers" : "stopping now");
    sl_service_stopping();
    sl_admin_set_ready(m->admin, false);
    ev_timer_stop(loop, &m->readiness);
    sl_supervisor_stop(m->supervisor, graceful, stopped_cb, m);
}

static void hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    sl_log_info("main", "SIGHUP: nothing to reload (configuration lives in the store)");
}

/* --log-file: the master's log (and, through their standard error, the
 * workers'), opened in place of standard error. */
static bool open_log_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        sl_log_error("main", "cannot open log file %s: %s", path, strerror(errno));
        return false;
    }
    if (fd != STDERR_FILENO) {
        dup2(fd, STDERR_FILENO); /* (dup2 clears close-on-exec on the copy) */
        close(fd);
    }
    return true;
}

/* SIGUSR1 (logrotate's postrotate): the access log and the log file are opened
 * again by their names, and every worker is handed the new files. Standard
 * output and error themselves are not reopened: their owner (systemd, a pipe)
 * keeps them. */
static void usr1_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    master *m = w->data;
    if (m->log_file && !open_log_file(m->log_file))
        return;
    int access = -1;
    if (m->access_log && strcmp(m->access_log, "-") != 0 && strcmp(m->access_log, "off") != 0) {
        access = open(m->access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (access < 0) {
            sl_log_error("main", "SIGUSR1: cannot open access log %s: %s (the old file stays in use)", m->access_log,
                         strerror(errno));
        } else if (m->worker_uid >= 0 && fchown(access, (uid_t)m->worker_uid, (gid_t)m->worker_gid) != 0) {
            /* (workers write through the descriptor they are handed: ownership is for tools) */
        }
    }
    sl_supervisor_reopen_logs(m->supervisor, access);
    sl_log_info("main", "SIGUSR1: reopened %s%s%s", m->log_file ? m->log_file : "",
                m->log_file && access >= 0 ? " and " : "", access >= 0 ? m->access_log : "");
}

/* Opens the access log destination; returns the fd, -1 for none. */
static int open_access_log(const char *spec)
{
    if (!spec || strcmp(spec, "-") == 0)
        return dup(STDOUT_FILENO);
    if (strcmp(spec, "off") == 0)
        return -1;
    int fd = open(spec, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        sl_log_error("main", "cannot open access log %s: %s", spec, strerror(errno));
        exit(1);
    }
    return fd;
}

/* One sluiced per state dir: the master is the store's only writer and the
 * keeper of its resourceVersion sequence. The lock is held for the process's life. */
static bool lock_state_dir(const char *dir)
{
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        sl_log_error("main", "cannot create state dir %s: %s", dir, strerror(errno));
        return false;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/sluiced.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        sl_log_error("main", "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        sl_log_error("main", "another sluiced is already using state dir %s", dir);
        close(fd);
        return false;
    }
    return true; /* fd stays open on purpose */
}

/* The dashboard's files: --web-dir, else the installed ones, else the source
 * tree this binary was built from (a build tree runs without installing). */
static const char *find_web_dir(const char *flag)
{
    if (flag) {
        if (access(flag, R_OK | X_OK) != 0)
            sl_log_warn("main", "--web-dir %s: %s; /ui/ answers 404", flag, strerror(errno));
        return flag;
    }
    static const char *const candidates[] = {SL_WEB_DIR_INSTALLED, SL_WEB_DIR_SOURCE};
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        char index[4200];
        snprintf(index, sizeof(index), "%s/index.html", candidates[i]);
        if (access(index, R_OK) == 0)
            return candidates[i];
    }
    sl_log_warn("main", "no dashboard files in %s or %s (--web-dir): /ui/ answers 404", SL_WEB_DIR_INSTALLED,
                SL_WEB_DIR_SOURCE);
    return NULL;
}

/* --kubernetes: the leader election for the Lease spec ("NS/NAME", or NULL for
 * the default) and the status writer that only the leader runs. */
static bool start_kube_status(master *m, const char *spec, char *err, size_t errlen)
{
    char ns[254], name[254], identity[300];
    sl_kube_lease_default_namespace(ns, sizeof(ns));
    snprintf(name, sizeof(name), "%s", SL_KUBE_LEASE_DEFAULT_NAME);
    if (spec) {
        const char *slash = strchr(spec, '/');
        if (!slash || slash == spec || !slash[1] || strchr(slash + 1, '/') || (size_t)(slash - spec) >= sizeof(ns) ||
            strlen(slash + 1) >= sizeof(name)) {
            snprintf(err, errlen, "--kubernetes-lease %s: not NAMESPACE/NAME", spec);
            return false;
        }
        snprintf(ns, sizeof(ns), "%.*s", (int)(slash - spec), spec);
        snprintf(name, sizeof(name), "%s", slash + 1);
    }
    sl_kube_lease_identity(identity, sizeof(identity));
    m->kube_lease = sl_kube_lease_start(sl_kube_sync_config(m->kube), ns, name, identity,
                                        (unsigned)sl_setting(SL_SET_KUBE_LEASE_DURATION_S), err, errlen);
    if (!m->kube_lease)
        return false;
    m->kube_status = sl_kube_status_start(m->store, m->kube, m->kube_lease, &m->status_settled, err, errlen);
    if (!m->kube_status)
        return false;
    m->kube_refs = sl_kube_refs_start(m->store, m->kube, err, errlen);
    return m->kube_refs != NULL;
}

/* The status writer first (it reads the mirror), then the election (a leader
 * gives the Lease up), then the mirror. */
static void stop_kube(master *m)
{
    sl_kube_refs_stop(m->kube_refs);
    m->kube_refs = NULL;
    sl_kube_status_stop(m->kube_status);
    m->kube_status = NULL;
    sl_kube_lease_stop(m->kube_lease);
    m->kube_lease = NULL;
    sl_kube_sync_stop(m->kube);
    m->kube = NULL;
}

static char *kube_metrics(void *arg)
{
    master *m = arg;
    char *lease = m->kube_lease ? sl_kube_lease_metrics(m->kube_lease) : NULL;
    char *writes = m->kube_status ? sl_kube_status_metrics(m->kube_status) : NULL;
    char *out = NULL;
    if (lease && writes && asprintf(&out, "%s%s", lease, writes) < 0)
        out = NULL;
    free(lease);
    free(writes);
    return out;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "token") == 0)
        return sl_token_main(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "export") == 0)
        return sl_export_main(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "kubernetes-rbac") == 0)
        return sl_kube_rbac_main(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "kubernetes-crds") == 0)
        return sl_kube_crds_main(argc - 2, argv + 2);

    const char *state_dir = getenv("SLUICE_STATE_DIR");
    const char *admin_addr = getenv("SLUICE_ADMIN");
    const char *access_log = "-";
    const char *redis = getenv("SLUICE_REDIS");
    const char *admin_tls_cert = NULL, *admin_tls_key = NULL, *admin_client_ca = NULL;
    const char *config_dir = NULL;
    const char *kubeconfig = NULL, *kube_lease = NULL, *kube_namespaces = NULL, *kube_classes = NULL;
    bool kubernetes = false;
    const char *log_file = NULL;
    const char *otlp_endpoint = getenv("SLUICE_OTLP_ENDPOINT"), *trace_ratio = NULL;
    const char *web_dir = NULL;
    int worker_uid = -1, worker_gid = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = sl_settings_parse_arg(argc, argv, &i);
        if (rc < 0)
            return 2;
        if (rc > 0) {
            i--; /* sl_settings_parse_arg already moved past the flag */
            continue;
        }
        const char *value = NULL;
        const char *flags_with_value[] = {"--state-dir",      "--admin",          "--log-level",
                                          "--access-log",     "--user",           "--admin-tls-cert",
                                          "--admin-tls-key",  "--admin-client-ca", "--redis",
                                          "--config-dir",     "--log-file",       "--access-log-format",
                                          "--otlp-endpoint",  "--trace-sample-ratio", "--web-dir",
                                          "--kubeconfig",     "--kubernetes-lease", "--kubernetes-namespaces",
                                          "--kubernetes-gateway-classes"};
        for (size_t f = 0; f < sizeof(flags_with_value) / sizeof(flags_with_value[0]); f++) {
            size_t n = strlen(flags_with_value[f]);
            if (strncmp(a, flags_with_value[f], n) == 0 && (a[n] == '=' || a[n] == '\0')) {
                if (a[n] == '=')
                    value = a + n + 1;
                else if (i + 1 < argc)
                    value = argv[++i];
                else {
                    fprintf(stderr, "sluiced: %s needs a value\n", flags_with_value[f]);
                    return 2;
                }
                break;
            }
        }
        if (value && strncmp(a, "--config-dir", 12) == 0) {
            config_dir = value;
        } else if (value && strncmp(a, "--kubernetes-gateway-classes", 28) == 0) {
            kube_classes = value;
        } else if (value && strncmp(a, "--kubernetes-namespaces", 23) == 0) {
            kube_namespaces = value;
        } else if (value && strncmp(a, "--kubernetes-lease", 18) == 0) {
            kube_lease = value;
        } else if (value && strncmp(a, "--kubeconfig", 12) == 0) {
            kubeconfig = value;
        } else if (strcmp(a, "--kubernetes") == 0) {
            kubernetes = true;
        } else if (value && strncmp(a, "--log-file", 10) == 0) {
            log_file = value;
        } else if (value && strncmp(a, "--admin-tls-cert", 16) == 0) {
            admin_tls_cert = value;
        } else if (value && strncmp(a, "--admin-tls-key", 15) == 0) {
            admin_tls_key = value;
        } else if (value && strncmp(a, "--admin-client-ca", 17) == 0) {
            admin_client_ca = value;
        } else if (value && strcmp(a, "--redis") == 0) {
            redis = value;
        } else if (value && strncmp(a, "--redis=", 8) == 0) {
            redis = value;
        } else if (value && strncmp(a, "--state-dir", 11) == 0) {
            state_dir = value;
        } else if (value && strncmp(a, "--admin", 7) == 0) {
            admin_addr = value;
        } else if (value && strncmp(a, "--web-dir", 9) == 0) {
            web_dir = value;
        } else if (value && strncmp(a, "--otlp-endpoint", 15) == 0) {
            otlp_endpoint = value;
        } else if (value && strncmp(a, "--trace-sample-ratio", 20) == 0) {
            trace_ratio = value;
        } else if (value && strncmp(a, "--access-log-format", 19) == 0) {
            char err[600];
            if (!sl_log_format_set(value, err, sizeof(err))) { /* workers inherit the compiled format */
                fprintf(stderr, "sluiced: %s\n", err);
                return 2;
            }
        } else if (value && strncmp(a, "--access-log", 12) == 0) {
            access_log = value;
        } else if (value && strncmp(a, "--user", 6) == 0) {
            struct passwd *pw = getpwnam(value);
            if (!pw) {
                fprintf(stderr, "sluiced: unknown user \"%s\"\n", value);
                return 2;
            }
            if (geteuid() != 0 && geteuid() != pw->pw_uid) {
                fprintf(stderr, "sluiced: --user %s needs sluiced to start as root\n", value);
                return 2;
            }
            worker_uid = (int)pw->pw_uid;
            worker_gid = (int)pw->pw_gid;
        } else if (value && strncmp(a, "--log-level", 11) == 0) {
            sl_log_level level;
            if (sl_log_parse_level(value, &level) != 0) {
                fprintf(stderr, "sluiced: unknown log level \"%s\" (error, warn, info, debug)\n", value);
                return 2;
            }
            sl_log_set_level(level);
        } else if (strcmp(a, "--version") == 0) {
            printf("sluiced %s\n", PACKAGE_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "sluiced: unknown argument \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
    }
    char trace_err[1200];
    if (!sl_tracing_configure(otlp_endpoint, trace_ratio, PACKAGE_VERSION, trace_err, sizeof(trace_err))) {
        fprintf(stderr, "sluiced: %s\n", trace_err); /* workers inherit what was configured */
        return 2;
    }
    if (!state_dir || !*state_dir)
        state_dir = DEFAULT_STATE_DIR;
    if (!admin_addr || !*admin_addr)
        admin_addr = DEFAULT_ADMIN;
    /* Parsed before anything forks: workers inherit it. */
    if (redis && *redis && !sl_redis_addr_parse(redis, &sl_redis)) {
        fprintf(stderr, "sluiced: --redis %s: not HOST:PORT, [IPv6]:PORT or unix:/path\n", redis);
        return 2;
    }
    char redis_why[200];
    if (sl_redis.set && !sl_redis_addr_resolve(&sl_redis, redis_why, sizeof(redis_why))) {
        fprintf(stderr, "sluiced: --redis %s: %s\n", redis, redis_why);
        return 2;
    }

    /* Signals reach the main loop through signalfd; block them before any thread
     * starts so that no other thread takes them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGQUIT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);
    sigaddset(&sigs, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    static master m;
    m.loop = ev_default_loop(EVFLAG_SIGNALFD | EVFLAG_NOENV);
    if (!m.loop) {
        fprintf(stderr, "sluiced: cannot create the event loop\n");
        return 1;
    }
    if (log_file && !open_log_file(log_file))
        return 1;
    m.log_file = log_file;
    m.access_log = access_log;
    m.worker_uid = worker_uid;
    m.worker_gid = worker_gid;
    sl_log_info("main", "sluiced %s starting (state dir %s)", PACKAGE_VERSION, state_dir);
    /* Shared memory every worker inherits: mapped before anything forks. */
    m.control = sl_control_create();
    /* Shared state that outlives snapshots (rate limits): mapped before anything forks. */
    sl_zones_create((size_t)sl_setting(SL_SET_SHARED_ZONE_BYTES));
    sl_ep_table_create((uint32_t)sl_setting(SL_SET_ENDPOINT_SLOTS));
    sl_mcp_table_create(SL_MCP_TABLE_SLOTS);
    sl_series_create((uint32_t)sl_setting(SL_SET_METRICS_SERIES));
    sl_log_tail_create();
    /* Before any thread starts: workers are forked from this single-threaded copy. */
    sl_spawner_start();
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: the fetcher's HTTP client */
    sl_publisher_init(&m.publisher, m.control, worker_uid, worker_gid);
    char err[1024];
    if (!lock_state_dir(state_dir))
        return 1;
    if (!sl_mcp_key_load(state_dir, m.control->mcp_session_key, err, sizeof(err))) {
        sl_log_error("main", "the MCP session key: %s", err);
        return 1;
    }
    m.store = sl_store_open(state_dir, err, sizeof(err));
    if (!m.store) {
        sl_log_error("main", "cannot open the store: %s", err);
        return 1;
    }
    if (config_dir) {
        /* Applied before the first compile: the first snapshot already has it. */
        m.config_dir = sl_config_dir_start(m.store, config_dir, err, sizeof(err));
        if (!m.config_dir) {
            sl_log_error("main", "%s", err);
            sl_store_close(m.store);
            return 1;
        }
    }
    if ((kubeconfig || kube_lease || kube_namespaces || kube_classes) && !kubernetes) {
        sl_log_error("main", "%s belongs to --kubernetes, which is not given",
                     kubeconfig        ? "--kubeconfig"
                     : kube_lease      ? "--kubernetes-lease"
                     : kube_namespaces ? "--kubernetes-namespaces"
                                       : "--kubernetes-gateway-classes");
        sl_config_dir_stop(m.config_dir);
        sl_store_close(m.store);
        return 2;
    }
    if (kubernetes) {
        sl_kube_config kc;
        if (!sl_kube_config_load(kubeconfig, &kc, err, sizeof(err)) ||
            !(m.kube = sl_kube_sync_start(m.store, &kc,
                                          &(sl_kube_sync_options){.namespaces = kube_namespaces,
                                                                  .gateway_classes = kube_classes},
                                          err, sizeof(err)))) {
            sl_log_error("main", "--kubernetes: %s", err);
            sl_config_dir_stop(m.config_dir);
            sl_store_close(m.store);
            return 1;
        }
        if (!start_kube_status(&m, kube_lease, err, sizeof(err))) {
            sl_log_error("main", "--kubernetes: %s", err);
            sl_kube_sync_stop(m.kube);
            sl_config_dir_stop(m.config_dir);
            sl_store_close(m.store);
            return 1;
        }
    }
    sl_admin_config cfg = {.address = admin_addr,
                           .store = m.store,
                           .control = m.control,
                           .tls_cert = admin_tls_cert,
                           .tls_key = admin_tls_key,
                           .client_ca = admin_client_ca,
                           .config_dir = config_dir,
                           .kube_server = m.kube ? sl_kube_sync_server(m.kube) : NULL,
                           .extra_metrics = m.kube ? kube_metrics : NULL,
                           .extra_metrics_arg = &m,
                           .web_dir = find_web_dir(web_dir)};
    m.admin = sl_admin_start(&cfg, err, sizeof(err));
    if (!m.admin) {
        sl_log_error("main", "%s", err);
        stop_kube(&m);
        sl_config_dir_stop(m.config_dir);
        sl_store_close(m.store);
        return 1;
    }
    m.supervisor = sl_supervisor_create(m.loop, m.control, open_access_log(access_log), worker_uid, worker_gid);
    ev_async_init(&m.changed, changed_cb);
    m.changed.data = &m;
    ev_init(&m.compile_later, compile_later_cb);
    m.compile_later.data = &m;
    ev_async_start(m.loop, &m.changed);
    ev_signal_init(&m.sigterm, stop_signal_cb, SIGTERM);
    ev_signal_init(&m.sigint, stop_signal_cb, SIGINT);
    ev_signal_init(&m.sigquit, stop_signal_cb, SIGQUIT);
    ev_signal_init(&m.sighup, hup_cb, SIGHUP);
    ev_signal_init(&m.sigusr1, usr1_cb, SIGUSR1);
    ev_signal *sig[] = {&m.sigterm, &m.sigint, &m.sigquit, &m.sighup, &m.sigusr1};
    for (size_t i = 0; i < 5; i++) {
        sig[i]->data = &m;
        ev_signal_start(m.loop, sig[i]);
    }
    ev_timer_init(&m.readiness, readiness_cb, 0.05, 0.25);
    /* Workers switch snapshots within their 100 ms tick: look every 10 ms. */
    ev_init(&m.liveness_timer, liveness_cb);
    m.liveness_timer.repeat = 0.01;
    m.liveness_timer.data = &m;
    m.readiness.data = &m;
    ev_timer_start(m.loop, &m.readiness);
    sl_service_watchdog_start(m.loop);
    m.compiled_rv = -1;
    sl_liveness_init(&m.liveness);
    sl_fetcher_start(notify_changed, &m); /* before the first compile, which registers what to fetch */
    sl_redis_health_start(notify_changed, &m);
    sl_health_start();
    sl_traffic_history_start(m.control);
    recompile(&m);
    m.controller = sl_controller_start(m.store, notify_changed, &m);
    sl_log_info("main", "ready");

    ev_run(m.loop, 0);

    sl_admin_set_ready(m.admin, false);
    sl_admin_stop(m.admin);
    sl_config_dir_stop(m.config_dir);
    stop_kube(&m);
    sl_controller_stop(m.controller);
    sl_fetcher_stop();
    sl_redis_health_stop();
    sl_health_stop();
    sl_traffic_history_stop();
    sl_publisher_close(&m.publisher);
    sl_compile_memo_clear(&m.memo);
    sl_supervisor_free(m.supervisor);
    sl_spawner_stop();
    json_decref(m.computed);
    sl_liveness_free(&m.liveness);
    sl_store_close(m.store);
    curl_global_cleanup();
    sl_log_info("main", "stopped");
    return m.exit_code;
}

/* Leader election with a coordination.k8s.io/v1 Lease (see kube_lease.h). */
#include "daemon/kube_lease.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/kube_client.h"
#include "daemon/objects.h"

struct sl_kube_lease {
    sl_kube_client *client;
    char ns[254], name[254], identity[256];
    unsigned lease_s;
    unsigned renew_deadline_ms; /* a leader unable to renew for this long steps down */
    unsigned retry_ms;          /* how often the Lease is read (and, leading, renewed) */
    _Atomic bool stop;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* guards what follows (read by the status writer and /metrics) */
    double renewed_at;    /* monotonic seconds of our last successful write of the Lease, 0: never */
    bool leading;
    char holder[256];     /* the holder we last saw */
    unsigned long long transitions; /* leadership changes this replica saw */
    /* The record last seen, and when it was first seen by our clock: a holder
     * whose record has not changed for lease_s has lost it (client-go compares
     * observation times, not the renewTime written by another machine's clock). */
    char seen_record[600];
    double seen_at;
};

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A MicroTime: RFC 3339 with microseconds, in UTC. */
static void micro_time_now(char out[40])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%06ldZ", base, (long)tv.tv_usec);
}

void sl_kube_lease_default_namespace(char *out, size_t cap)
{
    snprintf(out, cap, "default");
    const char *env = getenv("POD_NAMESPACE");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return;
    }
    FILE *f = fopen(SL_KUBE_SA_DIR "/namespace", "r");
    if (!f)
        return;
    char line[256];
    if (fgets(line, sizeof(line), f)) {
        line[strcspn(line, " \r\n")] = '\0';
        if (*line)
            snprintf(out, cap, "%s", line);
    }
    fclose(f);
}

void sl_kube_lease_identity(char *out, size_t cap)
{
    char host[200] = "";
    const char *pod = getenv("POD_NAME");
    if (pod && *pod)
        snprintf(host, sizeof(host), "%s", pod);
    else if (gethostname(host, sizeof(host) - 1) != 0 || !*host)
        snprintf(host, sizeof(host), "sluiced");
    snprintf(out, cap, "%s_%ld_%08lx", host, (long)getpid(), (unsigned long)random());
}

static void lease_path(const sl_kube_lease *l, bool item, char *out, size_t cap)
{
    snprintf(out, cap, "/apis/coordination.k8s.io/v1/namespaces/%s/leases%s%s", l->ns, item ? "/" : "",
             item ? l->name : "");
}

static json_t *lease_spec(const sl_kube_lease *l, const char *holder, const char *acquired, const char *renewed,
                          json_int_t transitions)
{
    return json_pack("{s:s, s:i, s:s, s:s, s:I}", "holderIdentity", holder, "leaseDurationSeconds", (int)l->lease_s,
                     "acquireTime", acquired, "renewTime", renewed, "leaseTransitions", transitions);
}

/* renewed_at: when the write that renewed the Lease was sent (not when its
 * answer came: a late answer must not lengthen our term past what the other
 * replicas, who saw the write, count), 0 for none. */
static void set_state(sl_kube_lease *l, bool leading, const char *holder, double renewed_at)
{
    pthread_mutex_lock(&l->lock);
    bool was = l->leading;
    bool new_holder = strcmp(l->holder, holder) != 0;
    l->leading = leading;
    if (renewed_at > 0)
        l->renewed_at = renewed_at;
    snprintf(l->holder, sizeof(l->holder), "%s", holder);
    if (was != leading)
        l->transitions++;
    pthread_mutex_unlock(&l->lock);
    if (leading && !was)
        sl_log_info("kubernetes", "this replica (%s) now leads: it writes status to the cluster (Lease %s/%s)",
                    l->identity, l->ns, l->name);
    else if (!leading && was)
        sl_log_warn("kubernetes", "this replica (%s) no longer leads (Lease %s/%s now held by %s)", l->identity, l->ns,
                    l->name, *holder ? holder : "no one");
    else if (!leading && new_holder && *holder)
        sl_log_info("kubernetes", "%s leads (Lease %s/%s); this replica (%s) follows", holder, l->ns, l->name,
                    l->identity);
}

/* Creates the Lease, held by us. */
static void create(sl_kube_lease *l)
{
    char now[40], path[600], err[300];
    micro_time_now(now);
    json_t *doc = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "coordination.k8s.io/v1", "kind", "Lease",
                            "metadata", "name", l->name, "namespace", l->ns, "spec",
                            lease_spec(l, l->identity, now, now, 0));
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    lease_path(l, false, path, sizeof(path));
    char *answer = NULL;
    double sent = monotonic_s();
    long status = body ? sl_kube_request(l->client, "POST", path, body, &answer, err, sizeof(err)) : 0;
    if (status == 201 || status == 200)
        set_state(l, true, l->identity, sent);
    else if (status != 409) /* 409: another replica created it first */
        sl_log_warn("kubernetes", "cannot create the Lease %s/%s: %s", l->ns, l->name,
                    status == 403 ? "forbidden (403): RBAC must allow create on leases" : status ? "an error" : err);
    free(body);
    free(answer);
}

/* One round: read the Lease; renew it when ours, take it over when its holder
 * let it expire. False when the API server could not be asked. */
static bool try_acquire_or_renew(sl_kube_lease *l)
{
    char path[600], err[300];
    lease_path(l, true, path, sizeof(path));
    char *answer = NULL;
    long status = sl_kube_request(l->client, "GET", path, NULL, &answer, err, sizeof(err));
    if (status == 404) {
        free(answer);
        create(l);
        return true;
    }
    json_t *lease = status == 200 ? json_loads(answer, 0, NULL) : NULL;
    free(answer);
    if (!json_is_object(lease)) {
        sl_log_warn("kubernetes", "cannot read the Lease %s/%s: %s", l->ns, l->name,
                    status == 403 ? "forbidden (403): RBAC must allow get on leases" : status ? "an error" : err);
        json_decref(lease);
        return false;
    }
    /* (copied: the spec is replaced below, and with it these strings) */
    json_t *spec = json_object_get(lease, "spec");
    char holder[256], renewed[64], acquired[64];
    snprintf(holder, sizeof(holder), "%s", sl_js(spec, "holderIdentity"));
    snprintf(renewed, sizeof(renewed), "%s", sl_js(spec, "renewTime"));
    snprintf(acquired, sizeof(acquired), "%s", sl_js(spec, "acquireTime"));
    json_int_t transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
    json_int_t their_duration = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    char record[600];
    snprintf(record, sizeof(record), "%s|%s|%lld", holder, renewed, (long long)their_duration);
    double now_s = monotonic_s();
    if (strcmp(record, l->seen_record) != 0) {
        snprintf(l->seen_record, sizeof(l->seen_record), "%s", record);
        l->seen_at = now_s;
    }
    bool mine = strcmp(holder, l->identity) == 0;
    double duration = their_duration > 0 ? (double)their_duration : (double)l->lease_s;
    if (!mine && *holder && l->seen_at + duration > now_s) {
        set_state(l, false, holder, 0); /* another replica holds it, and renews it */
        json_decref(lease);
        return true;
    }
    char now[40];
    micro_time_now(now);
    json_t *meta = json_object_get(lease, "metadata");
    json_object_del(meta, "managedFields");
    json_object_set_new(lease, "spec", lease_spec(l, l->identity, mine && acquired[0] ? acquired : now, now,
                                                  mine ? transitions : transitions + 1));
    char *body = json_dumps(lease, JSON_COMPACT);
    json_decref(lease);
    char *put_answer = NULL;
    double sent = monotonic_s();
    long put = body ? sl_kube_request(l->client, "PUT", path, body, &put_answer, err, sizeof(err)) : 0;
    free(body);
    free(put_answer);
    if (put == 200) {
        if (!mine)
            sl_log_info("kubernetes", "the Lease %s/%s %s: taking it over", l->ns, l->name,
                        *holder ? "expired" : "was given up");
        set_state(l, true, l->identity, sent);
        return true;
    }
    if (put == 409) /* another replica wrote it between our read and our write */
        return true;
    sl_log_warn("kubernetes", "cannot %s the Lease %s/%s: %s", mine ? "renew" : "take over", l->ns, l->name,
                put == 403 ? "forbidden (403): RBAC must allow update on leases" : put ? "an error" : err);
    return false;
}

static void nap_ms(sl_kube_lease *l, unsigned ms)
{
    for (unsigned slept = 0; slept < ms && !atomic_load(&l->stop); slept += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* A leader that stops gives the Lease up (holder "", a one-second duration),
 * as client-go's ReleaseOnCancel does, so another replica takes over at once. */
static void release(sl_kube_lease *l)
{
    char path[600], err[300];
    lease_path(l, true, path, sizeof(path));
    char *answer = NULL;
    long status = sl_kube_request(l->client, "GET", path, NULL, &answer, err, sizeof(err));
    json_t *lease = status == 200 ? json_loads(answer, 0, NULL) : NULL;
    free(answer);
    json_t *spec = json_object_get(lease, "spec");
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    if (holder && strcmp(holder, l->identity) == 0) {
        char now[40];
        micro_time_now(now);
        json_object_set_new(spec, "holderIdentity", json_string(""));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
        json_object_set_new(spec, "renewTime", json_string(now));
        char *body = json_dumps(lease, JSON_COMPACT);
        answer = NULL;
        if (body && sl_kube_request(l->client, "PUT", path, body, &answer, err, sizeof(err)) == 200)
            sl_log_info("kubernetes", "gave up the Lease %s/%s", l->ns, l->name);
        free(body);
        free(answer);
    }
    json_decref(lease);
}

static void *run(void *arg)
{
    sl_kube_lease *l = arg;
    while (!atomic_load(&l->stop)) {
        try_acquire_or_renew(l);
        pthread_mutex_lock(&l->lock);
        bool overdue = l->leading && monotonic_s() - l->renewed_at > l->renew_deadline_ms / 1000.0;
        pthread_mutex_unlock(&l->lock);
        if (overdue) {
            sl_log_warn("kubernetes", "could not renew the Lease %s/%s within %u ms: stepping down", l->ns, l->name,
                        l->renew_deadline_ms);
            set_state(l, false, "", 0);
        }
        nap_ms(l, l->retry_ms);
    }
    return NULL;
}

sl_kube_lease *sl_kube_lease_start(const sl_kube_config *cfg, const char *ns, const char *name,
                                   const char *identity, unsigned lease_s, char *err, size_t errlen)
{
    sl_kube_lease *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(l->ns, sizeof(l->ns), "%s", ns);
    snprintf(l->name, sizeof(l->name), "%s", name);
    snprintf(l->identity, sizeof(l->identity), "%s", identity);
    l->lease_s = lease_s;
    /* client-go's defaults are 15 s, 10 s and 2 s: the same proportions. */
    l->renew_deadline_ms = lease_s * 2000 / 3;
    l->retry_ms = lease_s * 2000 / 15;
    pthread_mutex_init(&l->lock, NULL);
    l->client = sl_kube_client_new(cfg, &l->stop);
    if (!l->client || pthread_create(&l->thread, NULL, run, l) != 0) {
        snprintf(err, errlen, "cannot start the leader election");
        sl_kube_lease_stop(l);
        return NULL;
    }
    l->started = true;
    sl_log_info("kubernetes", "competing for the Lease %s/%s as %s (%u s)", l->ns, l->name, l->identity, lease_s);
    return l;
}

void sl_kube_lease_stop(sl_kube_lease *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, true);
    if (l->started)
        pthread_join(l->thread, NULL);
    if (l->leading && l->client) {
        atomic_store(&l->stop, false); /* (the client gives up its requests on a stop) */
        release(l);
    }
    sl_kube_client_free(l->client);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

bool sl_kube_lease_leading(sl_kube_lease *l)
{
    pthread_mutex_lock(&l->lock);
    bool leading = l->leading && monotonic_s() - l->renewed_at <= l->renew_deadline_ms / 1000.0;
    pthread_mutex_unlock(&l->lock);
    return leading;
}

char *sl_kube_lease_metrics(sl_kube_lease *l)
{
    bool leading = sl_kube_lease_leading(l); /* (what the status writer goes by) */
    pthread_mutex_lock(&l->lock);
    char *out = NULL;
    int n = asprintf(&out,
                     "# HELP sluice_kubernetes_leader 1 while this replica leads (holds the Lease and writes status "
                     "to the cluster), else 0.\n# TYPE sluice_kubernetes_leader gauge\n"
                     "sluice_kubernetes_leader{identity=\"%s\",lease=\"%s/%s\"} %d\n"
                     "# HELP sluice_kubernetes_leader_changes_total Times this replica began or stopped leading.\n"
                     "# TYPE sluice_kubernetes_leader_changes_total counter\n"
                     "sluice_kubernetes_leader_changes_total %llu\n",
                     l->identity, l->ns, l->name, leading ? 1 : 0, l->transitions);
    pthread_mutex_unlock(&l->lock);
    return n < 0 ? NULL : out;
}

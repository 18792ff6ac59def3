/* Status written back to the cluster (see kube_status.h). */
#include "daemon/kube_status.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/controller.h"
#include "daemon/kube_client.h"
#include "daemon/objects.h"
#include "daemon/store_mirror.h"

#define CONFLICT_RETRIES 3
#define RETRY_AFTER_S 2.0 /* a failed write is tried again this long after */

/* The kinds whose status goes back, and what of it is ours: the whole status
 * (entries NULL: the object's class is ours), or our entries of one list. */
typedef struct status_kind {
    const char *kind, *entries;
} status_kind;

static const status_kind kinds[] = {
    {"GatewayClass", NULL},         {"Gateway", NULL},
    {"HTTPRoute", "parents"},       {"GRPCRoute", "parents"},
    {"TLSRoute", "parents"},        {"TCPRoute", "parents"},
    {"BackendTLSPolicy", "ancestors"}, {"TrafficPolicy", "ancestors"},
    {"BackendPolicy", "ancestors"},
};

enum { W_WRITTEN, W_CONFLICT, W_ERROR, W_RESULTS };
static const char *const result_names[W_RESULTS] = {"written", "conflict", "error"};

struct sl_kube_status {
    sl_store *store;
    sl_kube_sync *ks;
    sl_kube_lease *lease;
    const _Atomic bool *settled;
    sl_kube_client *client;
    _Atomic bool stop;
    pthread_t thread;
    bool started;
    _Atomic unsigned long long results[W_RESULTS];
    /* "Kind/ns/name" -> "local rv/cluster rv" when the two were last found to
     * agree: a pass skips them until either moves (a pass then costs a string
     * compare per object, not a comparison of statuses). Rebuilt by each pass. */
    json_t *agreed;
    unsigned errors_logged;
};

bool sl_kube_status_written(const char *kind)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(kinds); i++)
        if (strcmp(kinds[i].kind, kind) == 0)
            return true;
    return false;
}

/* Whether the GatewayClass named class is ours (cached per pass in classes). */
static bool class_is_ours(sl_store *s, json_t *classes, const char *class_name)
{
    json_t *known = json_object_get(classes, class_name);
    if (known)
        return json_is_true(known);
    json_t *gc = NULL;
    bool ours = sl_store_get(s, "GatewayClass", "", class_name, &gc) == SL_OK &&
                strcmp(sl_js(json_object_get(gc, "spec"), "controllerName"), SL_CONTROLLER_NAME) == 0;
    json_decref(gc);
    json_object_set_new(classes, class_name, json_boolean(ours));
    return ours;
}

/* With --kubernetes-gateway-classes another deployment serves the Gateways of
 * other classes under the same controllerName: an entry of ours for a Gateway
 * this store does not have is that deployment's to keep or drop. */
static bool others_to_judge(sl_kube_status *w, const char *ref_key, const json_t *local, const json_t *entry)
{
    if (!sl_kube_sync_picks_classes(w->ks))
        return false;
    const json_t *ref = json_object_get(entry, ref_key);
    const char *group = json_object_get(ref, "group") ? sl_js(ref, "group") : "gateway.networking.k8s.io";
    const char *kind = json_object_get(ref, "kind") ? sl_js(ref, "kind") : "Gateway";
    if (strcmp(group, "gateway.networking.k8s.io") != 0 || strcmp(kind, "Gateway") != 0)
        return false;
    const char *ns = json_object_get(ref, "namespace") ? sl_js(ref, "namespace") : sl_obj_namespace(local);
    json_t *gw = NULL;
    bool absent = sl_store_get(w->store, "Gateway", ns, sl_js(ref, "name"), &gw) == SL_NOTFOUND;
    json_decref(gw);
    return absent;
}

/* The status the cluster should have for local (the store's object), given the
 * cluster's current one; NULL when none of it is ours to write. */
static json_t *desired_status(sl_kube_status *w, const status_kind *sk, const json_t *local, const json_t *cluster,
                              json_t *classes)
{
    const json_t *mine = json_object_get(local, "status");
    if (!sk->entries) {
        const json_t *spec = json_object_get(local, "spec");
        bool ours = strcmp(sk->kind, "GatewayClass") == 0
                        ? strcmp(sl_js(spec, "controllerName"), SL_CONTROLLER_NAME) == 0
                        : class_is_ours(w->store, classes, sl_js(spec, "gatewayClassName"));
        /* (no conditions yet: the controller has not looked at it) */
        return ours && json_object_get(mine, "conditions") ? json_deep_copy(mine) : NULL;
    }
    /* Every entry keeps its place in the cluster's list: another controller's
     * as it is, ours replaced by what the store says for the same parent (or
     * dropped when the store has none); ours that are new go last. Rebuilding
     * the list in another order would rewrite an unchanged status only to move
     * entries, and a controller that puts its own last would answer in kind,
     * for ever. */
    const char *ref_key = strcmp(sk->entries, "parents") == 0 ? "parentRef" : "ancestorRef";
    const json_t *wanted = json_object_get(mine, sk->entries);
    size_t nwanted = json_array_size(wanted);
    bool *placed = calloc(nwanted ? nwanted : 1, sizeof(*placed));
    json_t *out = json_is_object(cluster) ? json_deep_copy(cluster) : json_object();
    json_t *list = json_array();
    if (!placed || !out || !list) {
        free(placed);
        json_decref(out);
        json_decref(list);
        return NULL;
    }
    size_t i, j;
    json_t *e, *w2;
    json_array_foreach(json_object_get(cluster, sk->entries), i, e) {
        if (strcmp(sl_js(e, "controllerName"), SL_CONTROLLER_NAME) != 0) {
            json_array_append(list, e);
            continue;
        }
        bool matched = false;
        json_array_foreach(wanted, j, w2) {
            if (!placed[j] && strcmp(sl_js(w2, "controllerName"), SL_CONTROLLER_NAME) == 0 &&
                json_equal(json_object_get(w2, ref_key), json_object_get(e, ref_key))) {
                json_array_append(list, w2);
                placed[j] = matched = true;
                break;
            }
        }
        if (!matched && others_to_judge(w, ref_key, local, e))
            json_array_append(list, e);
    }
    json_array_foreach(wanted, j, w2) {
        if (!placed[j] && strcmp(sl_js(w2, "controllerName"), SL_CONTROLLER_NAME) == 0)
            json_array_append(list, w2);
    }
    free(placed);
    if (json_array_size(list) > 0 || json_object_get(out, sk->entries))
        json_object_set(out, sk->entries, list);
    json_decref(list);
    return out;
}

/* The cluster's current state of the object at path (after a conflict); seq:
 * the cluster state's entry as it was read before. */
static json_t *read_back(sl_kube_status *w, const char *kind, const char *path, json_int_t seq)
{
    char err[300];
    char *answer = NULL;
    long status = sl_kube_request(w->client, "GET", path, NULL, &answer, err, sizeof(err));
    json_t *obj = status == 200 ? json_loads(answer, 0, NULL) : NULL;
    free(answer);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }
    sl_kube_cluster_state_offer(sl_kube_sync_cluster(w->ks), kind, obj, seq);
    json_t *entry = json_pack("{s:O?, s:O?, s:I}", "resourceVersion",
                              json_object_get(json_object_get(obj, "metadata"), "resourceVersion"), "status",
                              json_object_get(obj, "status"), "seq", seq);
    json_decref(obj);
    return entry;
}

static void log_failure(sl_kube_status *w, const json_t *local, const char *kind, long status, const char *err)
{
    if (w->errors_logged++ % 20 != 0)
        return; /* (a server refusing every write would otherwise fill the log) */
    sl_log_warn("kubernetes", "cannot write the status of %s %s%s%s to the cluster: %s", kind, sl_obj_namespace(local),
                *sl_obj_namespace(local) ? "/" : "", sl_obj_name(local),
                status == 403 ? "forbidden (403): RBAC must allow update on its status subresource"
                : status == 422 ? "the cluster refused it as invalid (422)"
                : status ? "an error status" : err);
}

/* Brings the cluster's status of local (a synced object) to what the store
 * says. False when a write failed and should be tried again. */
static bool write_one(sl_kube_status *w, const status_kind *sk, const json_t *local, json_t *classes, json_t *agreed_now)
{
    const char *ns = sl_obj_namespace(local), *name = sl_obj_name(local), *api_version;
    char path[1200], item[1200];
    if (!sl_kube_sync_item_path(sk->kind, ns, name, "status", path, sizeof(path), &api_version) ||
        !sl_kube_sync_item_path(sk->kind, ns, name, NULL, item, sizeof(item), &api_version))
        return true;
    char key[1200], stamp[128], cluster_rv[64];
    snprintf(key, sizeof(key), "%s/%s/%s", sk->kind, ns, name);
    sl_kube_cluster_state_rv(sl_kube_sync_cluster(w->ks), sk->kind, ns, name, cluster_rv, sizeof(cluster_rv));
    snprintf(stamp, sizeof(stamp), "%lld/%s", (long long)sl_obj_resource_version(local), cluster_rv);
    const char *agreed = json_string_value(json_object_get(w->agreed, key));
    if (agreed && strcmp(agreed, stamp) == 0) {
        json_object_set_new(agreed_now, key, json_string(stamp));
        return true;
    }
    if (!cluster_rv[0])
        return true; /* (not seen in the cluster yet: its event comes, and with it another pass) */
    json_t *cluster = sl_kube_cluster_state_get(sl_kube_sync_cluster(w->ks), sk->kind, ns, name);
    for (int attempt = 0; cluster; attempt++) {
        const json_t *have = json_object_get(cluster, "status");
        json_t *want = desired_status(w, sk, local, have, classes);
        json_t *empty = json_object();
        bool same = !want || sl_status_equal(want, have ? have : empty);
        json_decref(empty);
        if (same && attempt == 0)
            json_object_set_new(agreed_now, key, json_string(stamp));
        if (same || attempt > CONFLICT_RETRIES) {
            json_decref(want);
            json_decref(cluster);
            return same;
        }
        if (!sl_kube_lease_leading(w->lease)) { /* (stepped down meanwhile: the new leader writes) */
            json_decref(want);
            json_decref(cluster);
            return true;
        }
        json_t *meta = json_pack("{s:s, s:O}", "name", name, "resourceVersion",
                                 json_object_get(cluster, "resourceVersion"));
        if (*ns)
            json_object_set_new(meta, "namespace", json_string(ns));
        json_int_t seq = json_integer_value(json_object_get(cluster, "seq"));
        json_t *doc = json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", api_version, "kind", sk->kind, "metadata",
                                meta, "status", want);
        char *body = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        char err[300], *answer = NULL;
        long status = body ? sl_kube_request(w->client, "PUT", path, body, &answer, err, sizeof(err)) : 0;
        free(body);
        json_decref(cluster);
        cluster = NULL;
        if (status == 200) {
            json_t *written = json_loads(answer, 0, NULL);
            if (json_is_object(written)) /* (the next pass compares with this, unless an event came meanwhile) */
                sl_kube_cluster_state_offer(sl_kube_sync_cluster(w->ks), sk->kind, written, seq);
            json_decref(written);
            free(answer);
            atomic_fetch_add(&w->results[W_WRITTEN], 1);
            sl_log_debug("kubernetes", "wrote the status of %s %s%s%s", sk->kind, ns, *ns ? "/" : "", name);
            return true;
        }
        free(answer);
        if (status == 404)
            return true; /* gone from the cluster: its DELETED event follows */
        if (status != 409) {
            atomic_fetch_add(&w->results[W_ERROR], 1);
            log_failure(w, local, sk->kind, status, err);
            return false;
        }
        atomic_fetch_add(&w->results[W_CONFLICT], 1); /* changed since we saw it: read it and try again */
        if (!(cluster = read_back(w, sk->kind, item, seq)))
            return false;
    }
    return true;
}

/* One look at every synced object whose status goes back. False when a write
 * is to be tried again. */
static bool pass(sl_kube_status *w)
{
    bool all_done = true;
    const char *server = sl_kube_sync_server(w->ks);
    json_t *classes = json_object();
    json_t *agreed_now = json_object(); /* (objects gone since drop out) */
    for (size_t k = 0; k < SL_ARRAY_LEN(kinds) && !atomic_load(&w->stop) && sl_kube_lease_leading(w->lease); k++) {
        json_t *items = NULL;
        int64_t unused;
        if (sl_store_list_shared(w->store, kinds[k].kind, &items, &unused) != SL_OK) {
            json_decref(items);
            all_done = false;
            continue;
        }
        size_t i;
        json_t *obj;
        json_array_foreach(items, i, obj) {
            const char *from = sl_mirror_mark(obj, SL_SYNCED_ANNOTATION);
            if (from && strcmp(from, server) == 0 && !write_one(w, &kinds[k], obj, classes, agreed_now))
                all_done = false;
            if (atomic_load(&w->stop) || !sl_kube_lease_leading(w->lease))
                break;
        }
        json_decref(items);
    }
    json_decref(classes);
    json_decref(w->agreed);
    w->agreed = agreed_now;
    return all_done;
}

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    sl_kube_status *w = arg;
    int64_t waited = -1, seen_rv = -1; /* the store's version last waited past, and last written from */
    unsigned long seen_changes = 0;
    bool was_leading = false;
    double retry_at = 0;
    while (!atomic_load(&w->stop)) {
        waited = sl_store_wait(w->store, waited, 250);
        if (!sl_kube_lease_leading(w->lease)) {
            was_leading = false;
            continue;
        }
        int64_t rv = sl_store_current_rv(w->store);
        unsigned long changes = sl_kube_cluster_state_changes(sl_kube_sync_cluster(w->ks));
        bool due = !was_leading || rv != seen_rv || changes != seen_changes ||
                   (retry_at > 0 && monotonic_s() >= retry_at);
        if (!due)
            continue;
        if (!atomic_load(w->settled)) {
            /* The status of a change is still being computed: look again soon
             * (the compile's status write moves the store's version too). */
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        bool done = pass(w);
        seen_rv = rv;
        seen_changes = changes;
        was_leading = true;
        retry_at = done ? 0 : monotonic_s() + RETRY_AFTER_S;
    }
    return NULL;
}

sl_kube_status *sl_kube_status_start(sl_store *s, sl_kube_sync *ks, sl_kube_lease *lease,
                                     const _Atomic bool *settled, char *err, size_t errlen)
{
    sl_kube_status *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->store = s;
    w->ks = ks;
    w->lease = lease;
    w->settled = settled;
    w->agreed = json_object();
    w->client = sl_kube_client_new(sl_kube_sync_config(ks), &w->stop);
    if (!w->client || pthread_create(&w->thread, NULL, run, w) != 0) {
        snprintf(err, errlen, "cannot start the status writer");
        sl_kube_status_stop(w);
        return NULL;
    }
    w->started = true;
    return w;
}

void sl_kube_status_stop(sl_kube_status *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    sl_store_wake_all(w->store);
    if (w->started)
        pthread_join(w->thread, NULL);
    sl_kube_client_free(w->client);
    json_decref(w->agreed);
    free(w);
}

char *sl_kube_status_metrics(sl_kube_status *w)
{
    char *out = NULL;
    int n = asprintf(&out,
                     "# HELP sluice_kubernetes_status_writes_total Status writes to the cluster's objects by result "
                     "(conflicts are read again and retried).\n"
                     "# TYPE sluice_kubernetes_status_writes_total counter\n"
                     "sluice_kubernetes_status_writes_total{result=\"%s\"} %llu\n"
                     "sluice_kubernetes_status_writes_total{result=\"%s\"} %llu\n"
                     "sluice_kubernetes_status_writes_total{result=\"%s\"} %llu\n",
                     result_names[W_WRITTEN], atomic_load(&w->results[W_WRITTEN]), result_names[W_CONFLICT],
                     atomic_load(&w->results[W_CONFLICT]), result_names[W_ERROR], atomic_load(&w->results[W_ERROR]));
    return n < 0 ? NULL : out;
}

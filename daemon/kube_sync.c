/* The cluster's objects mirrored into the store (see kube_sync.h). */
#include "daemon/kube_sync.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/api_schema.h"
#include "daemon/kinds.h"
#include "daemon/kube_client.h"
#include "daemon/kube_status.h"
#include "daemon/objects.h"
#include "daemon/store_mirror.h"
#include "daemon/validate.h"

#define PAGE 500              /* objects per list page */
#define WATCH_SECONDS 290     /* a watch asks the server to end after this (plus jitter), then resumes */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define BATCH_MAX 1000       /* watch events per store transaction at most */
#define NAMESPACE_WAIT_S 10  /* namespaced kinds wait this long at most for the Namespaces' first list */

/* What is mirrored: the kind as the store keeps it, where the cluster serves
 * it, and the apiVersion it is stored at. */
typedef struct resource {
    const char *kind, *path, *api_version, *query;
} resource;

#define GW "/apis/gateway.networking.k8s.io/"
#define SLUICE "/apis/gateway.sluice.dev/v1alpha1/"
static const resource resources[] = {
    {"Namespace", "/api/v1/namespaces", "v1", NULL},
    {"Service", "/api/v1/services", "v1", NULL},
    {"Secret", "/api/v1/secrets", "v1", "fieldSelector=type%3Dkubernetes.io%2Ftls"},
    {"EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices", "discovery.k8s.io/v1", NULL},
    {"GatewayClass", GW "v1/gatewayclasses", "gateway.networking.k8s.io/v1", NULL},
    {"Gateway", GW "v1/gateways", "gateway.networking.k8s.io/v1", NULL},
    {"HTTPRoute", GW "v1/httproutes", "gateway.networking.k8s.io/v1", NULL},
    {"GRPCRoute", GW "v1/grpcroutes", "gateway.networking.k8s.io/v1", NULL},
    /* (the experimental channel's version that every release since 1.0 serves) */
    {"TLSRoute", GW "v1alpha2/tlsroutes", "gateway.networking.k8s.io/v1alpha2", NULL},
    {"TCPRoute", GW "v1alpha2/tcproutes", "gateway.networking.k8s.io/v1alpha2", NULL},
    {"ReferenceGrant", GW "v1beta1/referencegrants", "gateway.networking.k8s.io/v1beta1", NULL},
    {"BackendTLSPolicy", GW "v1/backendtlspolicies", "gateway.networking.k8s.io/v1", NULL},
    {"TrafficPolicy", SLUICE "trafficpolicies", "gateway.sluice.dev/v1alpha1", NULL},
    {"Backend", SLUICE "backends", "gateway.sluice.dev/v1alpha1", NULL},
    {"BackendPolicy", SLUICE "backendpolicies", "gateway.sluice.dev/v1alpha1", NULL},
};
#define NRES (sizeof(resources) / sizeof(resources[0]))

struct sl_kube_sync;

typedef struct reflector {
    struct sl_kube_sync *ks;
    const resource *res;
    char ns[64];        /* --kubernetes-namespaces: the one namespace read, "" for all */
    char path[600];     /* the collection read: res->path, or its namespace's */
    const sl_kind *kind;
    sl_kube_client *client;
    pthread_t thread;
    bool started;
    char rv[64];        /* the last resourceVersion seen: a watch resumes from it */
    bool gone;          /* the watch said 410 Gone: list again */
    bool failed;        /* the watch was ended for an error (an ERROR event, a store write): back off */
    unsigned events;    /* events of the current watch */
    /* Events applied together, in one store transaction: those that one read
     * of the watch brought (kube_client.h's on_pause), up to BATCH_MAX. */
    bool batch_open;
    unsigned batch_events;
    char batch_rv[64];  /* the version the batch reaches: r->rv once committed */
    _Atomic bool listed; /* the first list is in the store */
    _Atomic unsigned missing_logged;   /* lists answered 404 (the kind is not served) */
    _Atomic unsigned forbidden_logged; /* lists answered 403 (not ours to read) */
} reflector;

struct sl_kube_sync {
    sl_store *store;
    sl_kube_config cfg;
    _Atomic bool stop;
    pthread_mutex_t lock; /* guards namespaces_listed, with its condition */
    pthread_cond_t namespaces;
    bool namespaces_listed;
    sl_kube_cluster_state *cluster; /* the cluster's status of what kube_status.c writes back */
    reflector *r;   /* one per kind, or per kind and namespace of --kubernetes-namespaces */
    json_t *classes; /* --kubernetes-gateway-classes: name -> true, or NULL for all */
    size_t nr;
};

static const char *text_or_empty(const json_t *v)
{
    const char *t = json_string_value(v);
    return t ? t : "";
}

/* Sleeps ms (returns early on stop). */
static void nap(sl_kube_sync *ks, unsigned ms)
{
    for (unsigned slept = 0; slept < ms && !atomic_load(&ks->stop); slept += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static unsigned jitter(unsigned ms)
{
    return ms / 2 + (unsigned)(random() % (ms / 2 + 1)); /* (spreads replicas and kinds apart) */
}

/* ---- into the store ---- */

/* obj (an item of the cluster, consumed) as the store keeps it: typed, its
 * cluster identity in annotations; NULL (logged) when our validation refuses it. */
static json_t *stored_form(reflector *r, json_t *obj)
{
    json_object_set_new(obj, "apiVersion", json_string(r->res->api_version));
    json_object_set_new(obj, "kind", json_string(r->res->kind));
    json_t *meta = sl_obj_metadata(obj);
    json_object_del(meta, "managedFields");
    /* Fields our schema does not know are dropped, as an API server with our
     * CRDs drops them: an object from before the CRDs were updated (or written
     * past them) still applies, without what sluice would not read anyway. */
    const json_t *schema = sl_api_schema(r->kind->singular);
    if (schema && json_is_object(json_object_get(obj, "spec"))) {
        json_t *pruned = json_array();
        sl_schema_prune(schema, json_object_get(obj, "spec"), "spec", pruned);
        if (json_array_size(pruned) > 0)
            sl_log_warn("kubernetes", "%s %s%s%s from the cluster: %s%s is not a field of ours: left out "
                        "(apply deploy/kubernetes/crds.yaml of this version so that the API server says so)",
                        r->res->kind, sl_obj_namespace(obj), r->kind->namespaced ? "/" : "", sl_obj_name(obj),
                        json_string_value(json_array_get(pruned, 0)),
                        json_array_size(pruned) > 1 ? " (and more)" : "");
        json_decref(pruned);
    }
    sl_vctx v;
    sl_vctx_init(&v);
    sl_kind_validate(r->kind, &v, obj);
    if (sl_vctx_count(&v) > 0) {
        json_t *c = json_array_get(v.causes, 0);
        sl_log_warn("kubernetes", "%s %s%s%s from the cluster is not mirrored: %s: %s%s", r->res->kind,
                    sl_obj_namespace(obj), r->kind->namespaced ? "/" : "", sl_obj_name(obj),
                    json_string_value(json_object_get(c, "field")), json_string_value(json_object_get(c, "message")),
                    sl_vctx_count(&v) > 1 ? " (and more)" : "");
        sl_vctx_free(&v);
        json_decref(obj);
        return NULL;
    }
    sl_vctx_free(&v);
    return obj;
}

/* Writes obj (consumed) within the open transaction. */
/* Whether obj is mirrored: with --kubernetes-gateway-classes, a GatewayClass of
 * the list, or a Gateway of one of its classes; any other object. */
static bool picked(const reflector *r, const json_t *obj)
{
    if (!r->ks->classes)
        return true;
    if (strcmp(r->res->kind, "GatewayClass") == 0)
        return json_object_get(r->ks->classes, sl_obj_name(obj)) != NULL;
    if (strcmp(r->res->kind, "Gateway") == 0)
        return json_object_get(r->ks->classes,
                               text_or_empty(json_object_get(json_object_get(obj, "spec"), "gatewayClassName"))) !=
               NULL;
    return true;
}

static int delete_synced(reflector *r, const char *ns, const char *name);

static int put(reflector *r, json_t *obj)
{
    if (!picked(r, obj)) { /* (another deployment's: gone from here if it was ours before) */
        int rc = delete_synced(r, sl_obj_namespace(obj), sl_obj_name(obj));
        json_decref(obj);
        return rc;
    }
    json_t *meta = sl_obj_metadata(obj);
    char uid[80], rv[64];
    snprintf(uid, sizeof(uid), "%s", text_or_empty(json_object_get(meta, "uid")));
    snprintf(rv, sizeof(rv), "%s", text_or_empty(json_object_get(meta, "resourceVersion")));
    json_int_t generation = json_integer_value(json_object_get(meta, "generation"));
    if (sl_kube_status_written(r->res->kind))
        sl_kube_cluster_state_put(r->ks->cluster, r->res->kind, obj);
    obj = stored_form(r, obj);
    if (!obj)
        return SL_OK;
    const char *marks[] = {SL_SYNCED_ANNOTATION, r->ks->cfg.server, SL_CLUSTER_UID_ANNOTATION, uid,
                           SL_CLUSTER_RV_ANNOTATION, rv, NULL};
    sl_mirror_result result;
    bool was_marked;
    json_t *keep = json_incref(obj);
    int rc = sl_mirror_put(r->ks->store, r->kind, obj, marks, SL_CLUSTER_RV_ANNOTATION, generation, &result,
                           &was_marked);
    if (rc == SL_OK && result == SL_MIRROR_UPDATED && !was_marked)
        sl_log_info("kubernetes", "%s %s%s%s, written before through the admin API, now comes from the cluster",
                    r->res->kind, sl_obj_namespace(keep), r->kind->namespaced ? "/" : "", sl_obj_name(keep));
    json_decref(keep);
    return rc;
}

/* Deletes the stored object ns/name of the kind if the cluster put it there. */
static int delete_synced(reflector *r, const char *ns, const char *name)
{
    if (sl_kube_status_written(r->res->kind))
        sl_kube_cluster_state_delete(r->ks->cluster, r->res->kind, r->kind->namespaced ? ns : "", name);
    json_t *old = NULL;
    int rc = sl_store_get(r->ks->store, r->kind->kind, r->kind->namespaced ? ns : "", name, &old);
    if (rc == SL_NOTFOUND)
        return SL_OK;
    if (rc == SL_OK && sl_mirror_mark(old, SL_SYNCED_ANNOTATION))
        rc = sl_mirror_delete(r->ks->store, r->kind, old);
    json_decref(old);
    return rc;
}

/* Ends the write transaction begun (began) for work that returned rc:
 * committed, or rolled back; false (logged) when nothing was written. */
static bool finish_write(reflector *r, bool began, int rc)
{
    sl_store *s = r->ks->store;
    if (began && rc == SL_OK && sl_store_write_commit(s) == SL_OK)
        return true;
    if (began && rc != SL_OK)
        sl_store_write_rollback(s);
    sl_log_error("kubernetes", "the store refused a write of %s objects from the cluster; trying again",
                 r->res->kind);
    return false;
}

/* ---- list ---- */

static void list_path(reflector *r, const char *cont, char *out, size_t cap)
{
    snprintf(out, cap, "%s?limit=%d%s%s%s%s", r->path, PAGE, r->res->query ? "&" : "",
             r->res->query ? r->res->query : "", cont && *cont ? "&continue=" : "", cont && *cont ? cont : "");
}

/* An answer's Status code (410 Gone...), or 0. */
static long status_code(const char *answer)
{
    json_t *doc = answer ? json_loads(answer, 0, NULL) : NULL;
    long code = (long)json_integer_value(json_object_get(doc, "code"));
    json_decref(doc);
    return code;
}

/* Lists every object of the kind into the store, then deletes the synced
 * ones the cluster no longer has. False (logged) to try again later. */
static bool list(reflector *r)
{
    char path[2048], err[512], cont[4096] = "";
    json_t *seen = json_object(); /* "ns/name" of every listed object */
    bool ok = true;
    unsigned restarts = 0;
    for (;;) {
        list_path(r, cont, path, sizeof(path));
        char *answer = NULL;
        long status = sl_kube_request(r->client, "GET", path, NULL, &answer, err, sizeof(err));
        json_t *doc = status == 200 ? json_loads(answer, 0, NULL) : NULL;
        if (status == 410 && cont[0] && restarts++ < 3) { /* the continue token expired: start over */
            free(answer);
            json_decref(doc);
            json_object_clear(seen);
            cont[0] = '\0';
            continue;
        }
        if (!json_is_array(json_object_get(doc, "items"))) {
            if (atomic_load(&r->ks->stop))
                ; /* (stopping: not a problem) */
            else if (status == 404 && atomic_fetch_add(&r->missing_logged, 1) % 20 == 0)
                sl_log_warn("kubernetes", "the cluster does not serve %s (%s): its CRD is not installed? "
                            "Looking again later", r->res->kind, r->path);
            else if (status == 403 && atomic_fetch_add(&r->forbidden_logged, 1) % 20 == 0)
                sl_log_warn("kubernetes", "cannot list %s: forbidden (403): the credentials may not list it (RBAC); "
                            "looking again later", r->res->kind);
            else if (status != 404 && status != 403)
                sl_log_warn("kubernetes", "cannot list %s: %s", r->res->kind,
                            status == 401 ? "the API server refused our credentials (401)"
                            : status ? "the server answered an error" : err);
            if (status && status != 404)
                sl_log_debug("kubernetes", "%ld: %.300s", status, answer ? answer : "");
            free(answer);
            json_decref(doc);
            ok = false;
            break;
        }
        free(answer);
        json_t *items = json_object_get(doc, "items");
        sl_store *s = r->ks->store;
        bool began = sl_store_write_begin(s) == SL_OK;
        int rc = SL_OK;
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item) {
            char key[600];
            snprintf(key, sizeof(key), "%s/%s", sl_obj_namespace(item), sl_obj_name(item));
            json_object_set_new(seen, key, json_true());
            if (began && rc == SL_OK)
                rc = put(r, json_deep_copy(item));
        }
        ok = finish_write(r, began, rc);
        const json_t *meta = json_object_get(doc, "metadata");
        snprintf(cont, sizeof(cont), "%s", text_or_empty(json_object_get(meta, "continue")));
        snprintf(r->rv, sizeof(r->rv), "%s", text_or_empty(json_object_get(meta, "resourceVersion")));
        json_decref(doc);
        if (!ok || !cont[0])
            break;
        if (atomic_load(&r->ks->stop)) {
            ok = false; /* (an unfinished list deletes nothing) */
            break;
        }
    }
    if (ok) { /* what the cluster no longer has */
        json_t *items = NULL;
        int64_t unused;
        sl_store *s = r->ks->store;
        bool began = sl_store_write_begin(s) == SL_OK;
        int rc = began ? sl_store_list(s, r->kind->kind, r->ns, &items, &unused) : SL_ERR;
        size_t i;
        json_t *obj;
        json_array_foreach(items, i, obj) {
            char key[600];
            snprintf(key, sizeof(key), "%s/%s", sl_obj_namespace(obj), sl_obj_name(obj));
            /* (a Secret read because something names it is kube_refs.c's, not this list's) */
            if (rc == SL_OK && sl_mirror_mark(obj, SL_SYNCED_ANNOTATION) && !sl_mirror_mark(obj, SL_SYNCED_BY_ANNOTATION) &&
                !json_object_get(seen, key))
                rc = sl_mirror_delete(s, r->kind, obj);
        }
        json_decref(items);
        ok = finish_write(r, began, rc);
        if (ok && sl_kube_status_written(r->res->kind))
            sl_kube_cluster_state_retain(r->ks->cluster, r->res->kind, r->ns, seen);
    }
    json_decref(seen);
    return ok;
}

/* ---- watch ---- */

/* Commits the open batch of events; the watch resumes from its version once
 * it is in the store. False (the watch ends, to come back from the version
 * before the batch) when the store refused it. */
static bool flush(reflector *r)
{
    bool ok = true;
    if (r->batch_open) {
        r->batch_open = false;
        ok = finish_write(r, true, SL_OK);
        r->failed |= !ok;
    }
    if (ok && r->batch_rv[0])
        snprintf(r->rv, sizeof(r->rv), "%s", r->batch_rv);
    r->batch_rv[0] = '\0';
    r->batch_events = 0;
    return ok;
}

static bool on_pause(void *arg)
{
    reflector *r = arg;
    return flush(r) && !atomic_load(&r->ks->stop);
}

/* Applies one ADDED, MODIFIED or DELETED event (at version rv) within the batch. */
static bool apply_event(reflector *r, const char *type, json_t *obj, const char *rv)
{
    sl_store *s = r->ks->store;
    if (!r->batch_open) {
        if (sl_store_write_begin(s) != SL_OK) {
            finish_write(r, false, SL_ERR); /* (logs) */
            r->failed = true;
            return false;
        }
        r->batch_open = true;
    }
    int rc = type[0] == 'D' ? delete_synced(r, sl_obj_namespace(obj), sl_obj_name(obj))
                            : put(r, json_deep_copy(obj)); /* (put makes it the store's form) */
    if (rc != SL_OK) {
        r->batch_open = false;
        finish_write(r, true, rc); /* (rolls the batch back, logs) */
        r->batch_rv[0] = '\0';
        r->failed = true;
        return false; /* (resumes from the version before the batch: its events come again) */
    }
    r->events++;
    if (rv) /* (before a flush: the batch's version is this event's once committed) */
        snprintf(r->batch_rv, sizeof(r->batch_rv), "%s", rv);
    return ++r->batch_events < BATCH_MAX || flush(r);
}

static bool on_event(void *arg, const char *line, size_t len)
{
    reflector *r = arg;
    json_t *ev = json_loadb(line, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    bool go_on = true;
    if (!type || !json_is_object(obj)) {
        sl_log_warn("kubernetes", "a watch of %s sent something that is not an event: %.200s", r->res->kind, line);
    } else if (strcmp(type, "ERROR") == 0) {
        long code = (long)json_integer_value(json_object_get(obj, "code"));
        flush(r); /* (what came before the error stands) */
        r->gone = code == 410;
        r->failed = !r->gone;
        if (!r->gone)
            sl_log_warn("kubernetes", "the watch of %s ended with an error: %.300s", r->res->kind,
                        text_or_empty(json_object_get(obj, "message")));
        go_on = false;
    } else {
        const char *rv = json_string_value(json_object_get(sl_obj_metadata(obj), "resourceVersion"));
        if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0 || strcmp(type, "DELETED") == 0)
            go_on = apply_event(r, type, obj, rv);
        else if (rv) /* (a BOOKMARK only moves the version) */
            snprintf(r->batch_rv, sizeof(r->batch_rv), "%s", rv);
    }
    json_decref(ev);
    return go_on && !atomic_load(&r->ks->stop);
}

/* Watches from r->rv until the stream ends; false after an error, or a watch
 * that ended within a second having brought nothing (a proxy that closes
 * streams, say): back off, as client-go does. */
static bool watch(reflector *r)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char path[2048], err[512];
    unsigned seconds = WATCH_SECONDS + (unsigned)(random() % 30);
    snprintf(path, sizeof(path), "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u%s%s",
             r->path, r->rv, seconds, r->res->query ? "&" : "", r->res->query ? r->res->query : "");
    char *answer = NULL;
    r->gone = r->failed = false;
    r->events = 0;
    /* Quiet for longer than the server's own end (bookmarks come about every minute): dead. */
    long status = sl_kube_watch(r->client, path, seconds + 60, on_event, on_pause, r, &answer, err, sizeof(err));
    flush(r); /* (a watch ended mid-read, by a stop, leaves its batch) */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    bool short_and_empty = t1.tv_sec - t0.tv_sec < 1 && r->events == 0;
    if (status == 410 || status_code(answer) == 410)
        r->gone = true;
    else if (status != 200 && !atomic_load(&r->ks->stop))
        sl_log_warn("kubernetes", "the watch of %s failed: %s", r->res->kind,
                    status == 401 ? "the API server refused our credentials (401)"
                    : status == 403 ? "forbidden (403): the credentials may not watch it (RBAC)"
                    : status ? (answer ? answer : "an error status") : err);
    free(answer);
    return r->gone || (status == 200 && !r->failed && !short_and_empty);
}

/* ---- the reflector's thread ---- */

static void mark_listed(reflector *r)
{
    if (atomic_exchange(&r->listed, true))
        return;
    sl_log_info("kubernetes", "%s: in sync with the cluster", r->res->kind);
    if (strcmp(r->res->kind, "Namespace") == 0) {
        pthread_mutex_lock(&r->ks->lock);
        r->ks->namespaces_listed = true;
        pthread_cond_broadcast(&r->ks->namespaces);
        pthread_mutex_unlock(&r->ks->lock);
    }
}

static void *run(void *arg)
{
    reflector *r = arg;
    sl_kube_sync *ks = r->ks;
    if (r->kind->namespaced) {
        /* The objects' namespaces first (their labels select routes), but not
         * for ever: Namespaces may be forbidden to us while the rest is not. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += NAMESPACE_WAIT_S;
        pthread_mutex_lock(&ks->lock);
        while (!ks->namespaces_listed && !atomic_load(&ks->stop) &&
               pthread_cond_timedwait(&ks->namespaces, &ks->lock, &until) == 0)
            ;
        pthread_mutex_unlock(&ks->lock);
    }
    unsigned backoff = BACKOFF_MIN_MS;
    while (!atomic_load(&ks->stop)) {
        if (!list(r)) {
            nap(ks, jitter(backoff));
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        mark_listed(r);
        backoff = BACKOFF_MIN_MS;
        while (!atomic_load(&ks->stop)) {
            if (watch(r)) {
                if (r->gone) {
                    sl_log_info("kubernetes", "%s: resourceVersion %s is gone from the cluster: listing again",
                                r->res->kind, r->rv);
                    break;
                }
                backoff = BACKOFF_MIN_MS;
                continue; /* the stream ended (its timeout): resume from the last version */
            }
            nap(ks, jitter(backoff));
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
    }
    return NULL;
}

const char *sl_kube_sync_server(const sl_kube_sync *ks) { return ks->cfg.server; }

bool sl_kube_sync_resource(size_t i, const char **kind, const char **path)
{
    if (i >= NRES)
        return false;
    *kind = resources[i].kind;
    *path = resources[i].path;
    return true;
}

const sl_kube_config *sl_kube_sync_config(const sl_kube_sync *ks) { return &ks->cfg; }

sl_kube_cluster_state *sl_kube_sync_cluster(sl_kube_sync *ks) { return ks->cluster; }

bool sl_kube_sync_item_path(const char *kind, const char *ns, const char *name, const char *sub, char *out,
                            size_t cap, const char **api_version)
{
    for (size_t i = 0; i < NRES; i++) {
        const resource *res = &resources[i];
        if (strcmp(res->kind, kind) != 0)
            continue;
        const char *plural = strrchr(res->path, '/');
        int n = ns && *ns ? snprintf(out, cap, "%.*s/namespaces/%s%s/%s%s%s", (int)(plural - res->path), res->path, ns,
                                     plural, name, sub ? "/" : "", sub ? sub : "")
                          : snprintf(out, cap, "%s/%s%s%s", res->path, name, sub ? "/" : "", sub ? sub : "");
        *api_version = res->api_version;
        return n > 0 && (size_t)n < cap;
    }
    return false;
}

/* Splits a comma-separated list of names (a JSON array): namespaces (DNS
 * labels) or, dots allowed, GatewayClasses (DNS subdomains); NULL with err
 * naming flag for a name that is not one. */
static json_t *parse_names(const char *list, const char *flag, bool subdomain, char *err, size_t errlen)
{
    json_t *names = json_array();
    const char *p = list;
    size_t max = subdomain ? 253 : 63;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        bool ok = n > 0 && n <= max && p[0] != '-' && p[n - 1] != '-' && p[0] != '.' && p[n - 1] != '.';
        for (size_t i = 0; ok && i < n; i++)
            ok = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
                 (subdomain && p[i] == '.');
        if (!ok) {
            snprintf(err, errlen, "%s: \"%.*s\" is not a %s name (lower-case letters, digits%s and '-', at most %zu)",
                     flag, (int)(n > 80 ? 80 : n), p, subdomain ? "GatewayClass" : "namespace",
                     subdomain ? ", '.'" : "", max);
            json_decref(names);
            return NULL;
        }
        json_array_append_new(names, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    return names;
}

/* Objects synced from this cluster in namespaces no longer read (an earlier
 * run read more) are removed: nothing would ever update or delete them. */
static void forget_outside(sl_kube_sync *ks, const json_t *names)
{
    for (size_t i = 0; i < NRES; i++) {
        const sl_kind *k = sl_kind_by_name(resources[i].kind);
        if (!k || !k->namespaced || sl_store_write_begin(ks->store) != SL_OK)
            continue;
        json_t *items = NULL;
        int64_t unused;
        int rc = sl_store_list(ks->store, k->kind, "", &items, &unused);
        size_t j, n;
        json_t *obj, *name;
        json_array_foreach(items, j, obj) {
            const char *from = sl_mirror_mark(obj, SL_SYNCED_ANNOTATION);
            bool inside = false;
            json_array_foreach(names, n, name) inside |= strcmp(json_string_value(name), sl_obj_namespace(obj)) == 0;
            if (rc == SL_OK && from && strcmp(from, ks->cfg.server) == 0 && !inside)
                rc = sl_mirror_delete(ks->store, k, obj);
        }
        json_decref(items);
        if (rc != SL_OK || sl_store_write_commit(ks->store) != SL_OK) {
            if (rc != SL_OK)
                sl_store_write_rollback(ks->store);
            sl_log_warn("kubernetes", "could not remove the %s objects of namespaces no longer read", k->kind);
        }
    }
}

/* Sets up r to read resource res (in namespace ns, NULL: all) and starts its thread. */
static bool start_reflector(sl_kube_sync *ks, reflector *r, const resource *res, const char *ns)
{
    r->ks = ks;
    r->res = res;
    r->kind = sl_kind_by_name(res->kind);
    if (ns) {
        const char *plural = strrchr(res->path, '/');
        snprintf(r->ns, sizeof(r->ns), "%s", ns);
        snprintf(r->path, sizeof(r->path), "%.*s/namespaces/%s%s", (int)(plural - res->path), res->path, ns, plural);
    } else {
        snprintf(r->path, sizeof(r->path), "%s", res->path);
    }
    r->client = r->kind ? sl_kube_client_new(&ks->cfg, &ks->stop) : NULL;
    if (!r->client || pthread_create(&r->thread, NULL, run, r) != 0)
        return false;
    r->started = true;
    return true;
}

bool sl_kube_sync_picks_classes(const sl_kube_sync *ks) { return ks->classes != NULL; }

sl_kube_sync *sl_kube_sync_start(sl_store *s, sl_kube_config *cfg, const sl_kube_sync_options *opt, char *err,
                                 size_t errlen)
{
    const char *namespaces = opt ? opt->namespaces : NULL;
    json_t *names = parse_names(namespaces, "--kubernetes-namespaces", false, err, errlen);
    json_t *class_list = names ? parse_names(opt ? opt->gateway_classes : NULL, "--kubernetes-gateway-classes", true,
                                             err, errlen)
                               : NULL;
    if (!names || !class_list) {
        json_decref(names);
        return NULL;
    }
    sl_kube_sync *ks = calloc(1, sizeof(*ks));
    size_t per_kind = json_array_size(names) ? json_array_size(names) : 1;
    reflector *r = calloc(NRES * per_kind, sizeof(*r));
    sl_kube_cluster_state *cluster = sl_kube_cluster_state_new();
    if (!ks || !r || !cluster) {
        snprintf(err, errlen, "out of memory");
        free(ks);
        free(r);
        sl_kube_cluster_state_free(cluster);
        json_decref(names);
        json_decref(class_list);
        return NULL;
    }
    ks->store = s;
    ks->cluster = cluster;
    ks->r = r;
    if (json_array_size(class_list)) {
        ks->classes = json_object();
        size_t ci;
        json_t *cn;
        json_array_foreach(class_list, ci, cn) json_object_set(ks->classes, json_string_value(cn), json_true());
    }
    json_decref(class_list);
    ks->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg)); /* (taken over) */
    pthread_mutex_init(&ks->lock, NULL);
    pthread_cond_init(&ks->namespaces, NULL);
    if (strncmp(ks->cfg.server, "http://", 7) == 0)
        sl_log_warn("kubernetes", "%s: the API server is reached over plain http://: credentials and objects cross "
                    "the network in the clear (for test and lab servers only)", ks->cfg.where);
    if (json_array_size(names))
        forget_outside(ks, names);
    srandom((unsigned)time(NULL) ^ (unsigned)(uintptr_t)ks);
    for (size_t i = 0; i < NRES; i++) {
        const sl_kind *k = sl_kind_by_name(resources[i].kind);
        bool split = k && k->namespaced && json_array_size(names) > 0;
        for (size_t n = 0; n < (split ? json_array_size(names) : 1); n++) {
            const char *ns = split ? json_string_value(json_array_get(names, n)) : NULL;
            if (!start_reflector(ks, &ks->r[ks->nr++], &resources[i], ns)) {
                snprintf(err, errlen, "cannot start the sync of %s", resources[i].kind);
                json_decref(names);
                sl_kube_sync_stop(ks);
                return NULL;
            }
        }
    }
    char *list = json_array_size(names) ? strdup(namespaces) : NULL;
    char *classes = ks->classes ? strdup(opt->gateway_classes) : NULL;
    sl_log_info("kubernetes", "mirroring the cluster at %s (%s)%s%s%s%s", ks->cfg.server, ks->cfg.where,
                list ? ", namespaced objects of the namespaces " : "", list ? list : "",
                classes ? ", the Gateways of the GatewayClasses " : "", classes ? classes : "");
    free(list);
    free(classes);
    json_decref(names);
    return ks;
}

void sl_kube_sync_stop(sl_kube_sync *ks)
{
    if (!ks)
        return;
    atomic_store(&ks->stop, true);
    pthread_mutex_lock(&ks->lock);
    pthread_cond_broadcast(&ks->namespaces);
    pthread_mutex_unlock(&ks->lock);
    for (size_t i = 0; i < ks->nr; i++) {
        if (ks->r[i].started)
            pthread_join(ks->r[i].thread, NULL);
        sl_kube_client_free(ks->r[i].client);
    }
    sl_kube_config_free(&ks->cfg);
    sl_kube_cluster_state_free(ks->cluster);
    json_decref(ks->classes);
    pthread_cond_destroy(&ks->namespaces);
    pthread_mutex_destroy(&ks->lock);
    free(ks->r);
    free(ks);
}

bool sl_kube_sync_ready(const sl_kube_sync *ks)
{
    for (size_t i = 0; ks && i < ks->nr; i++)
        if (!atomic_load(&ks->r[i].listed) && atomic_load(&ks->r[i].missing_logged) == 0 &&
            atomic_load(&ks->r[i].forbidden_logged) == 0)
            return false; /* (a kind the cluster does not serve, or lets us read, does not hold readiness up) */
    return true;
}

/* Secrets and ConfigMaps our objects name, read one by one (see kube_refs.h). */
#include "daemon/kube_refs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/kinds.h"
#include "daemon/kube_client.h"
#include "daemon/objects.h"
#include "daemon/store_mirror.h"
#include "daemon/validate.h"

/* The kinds whose objects name Secrets and ConfigMaps. */
static const char *const naming_kinds[] = {"Gateway", "Backend", "TrafficPolicy", "BackendPolicy", "BackendTLSPolicy"};

struct sl_kube_refs {
    sl_store *store;
    sl_kube_sync *ks;
    sl_kube_client *client;
    _Atomic bool stop;
    pthread_t thread;
    bool started;
    json_t *fetched_at; /* "Kind/ns/name" -> monotonic second it was last read */
};

/* How a kind's objects name Secrets and ConfigMaps. */
typedef struct {
    const char *ns;      /* the naming object's namespace */
    const char *ca_kind; /* what a kind-less caCertificateRef names */
    bool own_ns_only;    /* refs to other namespaces are refused (no ReferenceGrant applies): not read */
} ref_context;

/* Adds the reference ref (a {group, kind, namespace, name} object) with the
 * default kind dflt, in the context's namespace unless it says another. */
static void add_ref(json_t *out, const json_t *ref, const char *dflt, const ref_context *rc)
{
    if (!json_is_object(ref) || sl_js(ref, "group")[0])
        return; /* (core objects only) */
    const char *ns = rc->ns;
    if (json_object_get(ref, "namespace")) {
        if (rc->own_ns_only && strcmp(sl_js(ref, "namespace"), ns) != 0)
            return;
        ns = sl_js(ref, "namespace");
    }
    const char *kind = json_object_get(ref, "kind") ? sl_js(ref, "kind") : dflt;
    if (strcmp(kind, "Secret") != 0 && strcmp(kind, "ConfigMap") != 0)
        return;
    const char *name = sl_js(ref, "name");
    if (!name[0])
        return;
    char key[600];
    snprintf(key, sizeof(key), "%s/%s/%s", kind, ns, name);
    json_object_set_new(out, key, json_true());
}

/* Every reference under v (anywhere in an object's spec). */
static void walk(json_t *out, const json_t *v, const ref_context *rc)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) walk(out, x, rc);
        return;
    }
    if (!json_is_object(v))
        return;
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
        if (strcmp(k, "secretRef") == 0 || strcmp(k, "authSecretRef") == 0 || strcmp(k, "clientCertificateRef") == 0) {
            add_ref(out, x, "Secret", rc);
        } else if (strcmp(k, "secretRefs") == 0 || strcmp(k, "certificateRefs") == 0 ||
                   strcmp(k, "caCertificateRefs") == 0) {
            size_t i;
            json_t *ref;
            json_array_foreach(x, i, ref) add_ref(out, ref, strcmp(k, "caCertificateRefs") == 0 ? rc->ca_kind : "Secret",
                                                  rc);
        } else {
            walk(out, x, rc);
        }
    }
}

json_t *sl_kube_refs_collect(sl_store *s)
{
    json_t *out = json_object();
    for (size_t i = 0; i < SL_ARRAY_LEN(naming_kinds); i++) {
        json_t *items = NULL;
        int64_t unused;
        if (sl_store_list_shared(s, naming_kinds[i], &items, &unused) == SL_OK) {
            size_t j;
            json_t *obj;
            /* A kind-less caCertificateRef names a Secret in a Backend (as
             * compiler_backend_tls.c reads it), a ConfigMap elsewhere; only
             * Gateways reach other namespaces (by ReferenceGrant). */
            bool backend = strcmp(naming_kinds[i], "Backend") == 0;
            bool granted = strcmp(naming_kinds[i], "Gateway") == 0;
            json_array_foreach(items, j, obj)
            {
                ref_context rc = {sl_obj_namespace(obj), backend ? "Secret" : "ConfigMap", !granted};
                walk(out, json_object_get(obj, "spec"), &rc);
            }
        }
        json_decref(items);
    }
    return out;
}

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes (obj given) or deletes (obj NULL) the stored kind ns/name, if it is
 * ours to: one this module read, or none yet. */
static void store_ref(sl_kube_refs *r, const sl_kind *k, const char *ns, const char *name, json_t *obj)
{
    sl_store *s = r->store;
    if (sl_store_write_begin(s) != SL_OK) {
        json_decref(obj);
        return;
    }
    json_t *old = NULL;
    int rc = sl_store_get(s, k->kind, ns, name, &old);
    bool ours = rc == SL_NOTFOUND || (rc == SL_OK && sl_mirror_mark(old, SL_SYNCED_BY_ANNOTATION));
    rc = rc == SL_NOTFOUND ? SL_OK : rc;
    if (ours && obj) {
        json_t *meta = sl_obj_metadata(obj);
        char uid[80], rv[64];
        snprintf(uid, sizeof(uid), "%s", sl_js(meta, "uid"));
        snprintf(rv, sizeof(rv), "%s", sl_js(meta, "resourceVersion"));
        json_int_t generation = json_integer_value(json_object_get(meta, "generation"));
        json_object_del(meta, "managedFields");
        const char *marks[] = {SL_SYNCED_ANNOTATION, sl_kube_sync_server(r->ks), SL_CLUSTER_UID_ANNOTATION, uid,
                               SL_CLUSTER_RV_ANNOTATION, rv, SL_SYNCED_BY_ANNOTATION, "reference", NULL};
        sl_mirror_result result;
        bool was_marked;
        rc = sl_mirror_put(s, k, json_incref(obj), marks, SL_CLUSTER_RV_ANNOTATION, generation, &result, &was_marked);
    } else if (ours && old) {
        rc = sl_mirror_delete(s, k, old);
    }
    json_decref(old);
    json_decref(obj);
    if (rc == SL_OK)
        sl_store_write_commit(s);
    else
        sl_store_write_rollback(s);
}

/* Reads kind ns/name from the cluster into the store. */
static void fetch(sl_kube_refs *r, const char *kind, const char *ns, const char *name)
{
    const sl_kind *k = sl_kind_by_name(kind);
    char path[1200];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/%s/%s", ns, k->plural, name);
    char err[300], *answer = NULL;
    long status = sl_kube_request(r->client, "GET", path, NULL, &answer, err, sizeof(err));
    json_t *obj = status == 200 ? json_loads(answer, 0, NULL) : NULL;
    free(answer);
    if (status == 404) {
        store_ref(r, k, ns, name, NULL);
        return;
    }
    if (!json_is_object(obj)) {
        if (!atomic_load(&r->stop))
            sl_log_warn("kubernetes", "cannot read %s %s/%s, which an object names: %s", kind, ns, name,
                        status == 403 ? "forbidden (403): RBAC must allow get on it" : status ? "an error status" : err);
        json_decref(obj);
        return;
    }
    if (strcmp(kind, "Secret") == 0 && strcmp(sl_js(obj, "type"), "kubernetes.io/tls") == 0) {
        json_decref(obj); /* (the Secrets' list and watch have it) */
        return;
    }
    json_object_set_new(obj, "apiVersion", json_string("v1"));
    json_object_set_new(obj, "kind", json_string(kind));
    sl_vctx v;
    sl_vctx_init(&v);
    sl_kind_validate(k, &v, obj);
    bool valid = sl_vctx_count(&v) == 0;
    sl_vctx_free(&v);
    if (!valid) {
        sl_log_warn("kubernetes", "%s %s/%s from the cluster is not mirrored: our validation refuses it", kind, ns, name);
        json_decref(obj);
        return;
    }
    store_ref(r, k, ns, name, obj);
}

/* Removes what this module stored that nothing names any more. */
static void forget_unnamed(sl_kube_refs *r, const json_t *named)
{
    static const char *const kinds[] = {"Secret", "ConfigMap"};
    for (size_t i = 0; i < SL_ARRAY_LEN(kinds); i++) {
        json_t *items = NULL;
        int64_t unused;
        if (sl_store_list(r->store, kinds[i], "", &items, &unused) == SL_OK) {
            size_t j;
            json_t *obj;
            json_array_foreach(items, j, obj) {
                char key[600];
                snprintf(key, sizeof(key), "%s/%s/%s", kinds[i], sl_obj_namespace(obj), sl_obj_name(obj));
                if (sl_mirror_mark(obj, SL_SYNCED_BY_ANNOTATION) && !json_object_get(named, key)) {
                    store_ref(r, sl_kind_by_name(kinds[i]), sl_obj_namespace(obj), sl_obj_name(obj), NULL);
                    json_object_del(r->fetched_at, key);
                }
            }
        }
        json_decref(items);
    }
}

static void *run(void *arg)
{
    sl_kube_refs *r = arg;
    int64_t seen = -1, named_at = -1;
    json_t *named = NULL; /* what the objects name, as of the store's config version named_at */
    while (!atomic_load(&r->stop)) {
        int64_t rv = sl_store_wait(r->store, seen, 1000);
        int64_t config = sl_store_config_rv(r->store);
        /* What is named changes only with the objects, not with status writes
         * (every compile's) or with the Secrets this thread writes itself. */
        if (config != named_at) {
            json_decref(named);
            named = sl_kube_refs_collect(r->store);
            forget_unnamed(r, named);
            named_at = config;
        }
        double now = monotonic_s();
        const char *key;
        json_t *unused;
        json_object_foreach(named, key, unused) {
            double at = json_real_value(json_object_get(r->fetched_at, key));
            if (at > 0 && now - at < SL_KUBE_REFS_POLL_S)
                continue; /* (read lately; a change in the cluster shows at the next poll) */
            char kind[16], ns[256], name[256];
            if (sscanf(key, "%15[^/]/%255[^/]/%255s", kind, ns, name) != 3)
                continue;
            fetch(r, kind, ns, name);
            json_object_set_new(r->fetched_at, key, json_real(now));
            if (atomic_load(&r->stop))
                break;
        }
        seen = rv;
    }
    json_decref(named);
    return NULL;
}

sl_kube_refs *sl_kube_refs_start(sl_store *s, sl_kube_sync *ks, char *err, size_t errlen)
{
    sl_kube_refs *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->store = s;
    r->ks = ks;
    r->fetched_at = json_object();
    r->client = sl_kube_client_new(sl_kube_sync_config(ks), &r->stop);
    if (!r->client || pthread_create(&r->thread, NULL, run, r) != 0) {
        snprintf(err, errlen, "cannot start reading the Secrets and ConfigMaps our objects name");
        sl_kube_refs_stop(r);
        return NULL;
    }
    r->started = true;
    return r;
}

void sl_kube_refs_stop(sl_kube_refs *r)
{
    if (!r)
        return;
    atomic_store(&r->stop, true);
    sl_store_wake_all(r->store);
    if (r->started)
        pthread_join(r->thread, NULL);
    sl_kube_client_free(r->client);
    json_decref(r->fetched_at);
    free(r);
}

/* The cluster's view of status-bearing objects (see kube_cluster_state.h). */
#include "daemon/kube_cluster_state.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/objects.h"

struct sl_kube_cluster_state {
    pthread_mutex_t lock;
    json_t *by_key; /* "Kind/ns/name" -> {"resourceVersion", "status", "seq"} */
    json_int_t seq; /* the last entry's: each record gets the next */
    _Atomic unsigned long changes;
};

sl_kube_cluster_state *sl_kube_cluster_state_new(void)
{
    sl_kube_cluster_state *cs = calloc(1, sizeof(*cs));
    if (!cs)
        return NULL;
    pthread_mutex_init(&cs->lock, NULL);
    cs->by_key = json_object();
    return cs;
}

void sl_kube_cluster_state_free(sl_kube_cluster_state *cs)
{
    if (!cs)
        return;
    json_decref(cs->by_key);
    pthread_mutex_destroy(&cs->lock);
    free(cs);
}

static void key_of(const char *kind, const char *ns, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s/%s", kind, ns ? ns : "", name);
}

/* Sets the entry of obj; when only_seq >= 0, only if the entry's seq is that. */
static void record(sl_kube_cluster_state *cs, const char *kind, const json_t *obj, json_int_t only_seq)
{
    char key[700];
    key_of(kind, sl_obj_namespace(obj), sl_obj_name(obj), key, sizeof(key));
    const json_t *rv = json_object_get(json_object_get(obj, "metadata"), "resourceVersion");
    const json_t *status = json_object_get(obj, "status");
    pthread_mutex_lock(&cs->lock);
    const json_t *old = json_object_get(cs->by_key, key);
    if (only_seq < 0 || json_integer_value(json_object_get(old, "seq")) == only_seq) {
        json_t *entry = json_pack("{s:O?, s:O?, s:I}", "resourceVersion", rv, "status", status, "seq",
                                  (json_int_t)++cs->seq);
        json_object_set_new(cs->by_key, key, entry);
    }
    pthread_mutex_unlock(&cs->lock);
    atomic_fetch_add(&cs->changes, 1);
}

void sl_kube_cluster_state_put(sl_kube_cluster_state *cs, const char *kind, const json_t *obj)
{
    record(cs, kind, obj, -1);
}

void sl_kube_cluster_state_offer(sl_kube_cluster_state *cs, const char *kind, const json_t *obj, json_int_t seq)
{
    record(cs, kind, obj, seq);
}

void sl_kube_cluster_state_delete(sl_kube_cluster_state *cs, const char *kind, const char *ns, const char *name)
{
    char key[700];
    key_of(kind, ns, name, key, sizeof(key));
    pthread_mutex_lock(&cs->lock);
    json_object_del(cs->by_key, key);
    pthread_mutex_unlock(&cs->lock);
    atomic_fetch_add(&cs->changes, 1);
}

void sl_kube_cluster_state_retain(sl_kube_cluster_state *cs, const char *kind, const char *ns, const json_t *listed)
{
    size_t kind_len = strlen(kind), ns_len = strlen(ns);
    pthread_mutex_lock(&cs->lock);
    const char *key;
    json_t *entry;
    void *iter;
    json_object_foreach_safe(cs->by_key, iter, key, entry) {
        const char *ns_name = key + kind_len + 1; /* (valid once the kind matched) */
        if (strncmp(key, kind, kind_len) == 0 && key[kind_len] == '/' &&
            (!ns_len || (strncmp(ns_name, ns, ns_len) == 0 && ns_name[ns_len] == '/')) &&
            !json_object_get(listed, ns_name))
            json_object_del(cs->by_key, key);
    }
    pthread_mutex_unlock(&cs->lock);
    atomic_fetch_add(&cs->changes, 1);
}

json_t *sl_kube_cluster_state_get(sl_kube_cluster_state *cs, const char *kind, const char *ns, const char *name)
{
    char key[700];
    key_of(kind, ns, name, key, sizeof(key));
    pthread_mutex_lock(&cs->lock);
    json_t *entry = json_deep_copy(json_object_get(cs->by_key, key));
    pthread_mutex_unlock(&cs->lock);
    return entry;
}

void sl_kube_cluster_state_rv(sl_kube_cluster_state *cs, const char *kind, const char *ns, const char *name, char *out,
                              size_t cap)
{
    char key[700];
    key_of(kind, ns, name, key, sizeof(key));
    pthread_mutex_lock(&cs->lock);
    const char *rv = json_string_value(json_object_get(json_object_get(cs->by_key, key), "resourceVersion"));
    snprintf(out, cap, "%s", rv ? rv : "");
    pthread_mutex_unlock(&cs->lock);
}

unsigned long sl_kube_cluster_state_changes(sl_kube_cluster_state *cs) { return atomic_load(&cs->changes); }

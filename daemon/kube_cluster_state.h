/* What the cluster says of the objects whose status sluice writes back: each
 * one's resourceVersion and status as the syncer last saw them (kube_sync.c
 * keeps it, from lists and watch events), for the status writer
 * (kube_status.c) to compare with the status the store has computed and to
 * write with optimistic concurrency. A table under a lock, read and written by
 * different threads; a counter moves with every change so the writer knows
 * when to look again. */
#ifndef SL_KUBE_CLUSTER_STATE_H
#define SL_KUBE_CLUSTER_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct sl_kube_cluster_state sl_kube_cluster_state;

sl_kube_cluster_state *sl_kube_cluster_state_new(void);
void sl_kube_cluster_state_free(sl_kube_cluster_state *cs);

/* Records obj (an object of kind as the cluster serves it; not consumed). */
void sl_kube_cluster_state_put(sl_kube_cluster_state *cs, const char *kind, const json_t *obj);
/* Forgets kind ns/name. */
void sl_kube_cluster_state_delete(sl_kube_cluster_state *cs, const char *kind, const char *ns, const char *name);
/* Forgets every object of kind (in namespace ns; "" for all) whose "ns/name" is
 * not a key of listed (after a complete list). */
void sl_kube_cluster_state_retain(sl_kube_cluster_state *cs, const char *kind, const char *ns, const json_t *listed);

/* A new {"resourceVersion", "status"} of kind ns/name, or NULL when unknown. */
json_t *sl_kube_cluster_state_get(sl_kube_cluster_state *cs, const char *kind, const char *ns, const char *name);

/* The resourceVersion of kind ns/name into out ("" when unknown), without a copy of its status. */
void sl_kube_cluster_state_rv(sl_kube_cluster_state *cs, const char *kind, const char *ns, const char *name, char *out,
                              size_t cap);

/* Moves with every change. */
unsigned long sl_kube_cluster_state_changes(sl_kube_cluster_state *cs);

#endif

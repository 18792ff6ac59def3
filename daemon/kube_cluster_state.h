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

/* Records obj (an object of kind as the cluster serves it; not consumed), as a
 * list or watch event brought it: events come in order, so each replaces what
 * was known. */
void sl_kube_cluster_state_put(sl_kube_cluster_state *cs, const char *kind, const json_t *obj);
/* Records obj as the answer of our own request (a status write, a read) did:
 * only if no event changed the entry since it was read with sequence seq (an
 * event applied meanwhile may be newer than the answer; the watch brings the
 * answer's version in its turn anyway). */
void sl_kube_cluster_state_offer(sl_kube_cluster_state *cs, const char *kind, const json_t *obj, json_int_t seq);
/* Forgets kind ns/name. */
void sl_kube_cluster_state_delete(sl_kube_cluster_state *cs, const char *kind, const char *ns, const char *name);
/* Forgets every object of kind (in namespace ns; "" for all) whose "ns/name" is
 * not a key of listed (after a complete list). */
void sl_kube_cluster_state_retain(sl_kube_cluster_state *cs, const char *kind, const char *ns, const json_t *listed);

/* A new {"resourceVersion", "status", "seq"} of kind ns/name (seq: for
 * sl_kube_cluster_state_offer), or NULL when unknown. */
json_t *sl_kube_cluster_state_get(sl_kube_cluster_state *cs, const char *kind, const char *ns, const char *name);

/* The resourceVersion of kind ns/name into out ("" when unknown), without a copy of its status. */
void sl_kube_cluster_state_rv(sl_kube_cluster_state *cs, const char *kind, const char *ns, const char *name, char *out,
                              size_t cap);

/* Moves with every change. */
unsigned long sl_kube_cluster_state_changes(sl_kube_cluster_state *cs);

#endif

/* `sluiced --kubernetes`: the cluster's objects mirrored into the store.
 *
 * For each kind (Namespaces, Services, EndpointSlices, TLS Secrets, the
 * Gateway API kinds, our own), a thread does what client-go's reflector does:
 * list every object a page at a time (limit and continue), make the store's
 * synced objects of that kind the same (create, replace, delete), then watch
 * from the list's resourceVersion with bookmarks, applying each event; a
 * dropped stream resumes from the last version seen, a 410 Gone (the version
 * was compacted away) lists again, errors back off with jitter. Objects come
 * into the store as they are in the cluster, with annotations that say so
 * (SL_SYNCED_ANNOTATION, the cluster's uid and resourceVersion); the admin API
 * refuses to change them. The store then compiles them like any other object:
 * the syncer is only another writer. */
#ifndef SL_KUBE_SYNC_H
#define SL_KUBE_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/kube_cluster_state.h"
#include "daemon/kube_config.h"
#include "daemon/store.h"

#define SL_SYNCED_ANNOTATION "sluice.dev/synced-from"          /* value: the cluster's server URL */
#define SL_CLUSTER_UID_ANNOTATION "sluice.dev/cluster-uid"
#define SL_CLUSTER_RV_ANNOTATION "sluice.dev/cluster-resource-version"
/* On Secrets and ConfigMaps read because our objects name them (kube_refs.c),
 * not listed: value "reference". */
#define SL_SYNCED_BY_ANNOTATION "sluice.dev/synced-by"

typedef struct sl_kube_sync sl_kube_sync;

typedef struct sl_kube_sync_options {
    /* NULL or "" for every namespace, or a comma-separated list of the only
     * namespaces whose objects are read (one list and watch per kind and
     * namespace, so that RBAC may grant only those; synced objects of other
     * namespaces, from an earlier run, are removed). */
    const char *namespaces;
    /* NULL or "" for every GatewayClass, or a comma-separated list of the only
     * GatewayClasses mirrored, with the Gateways of those classes alone
     * (another deployment serves the others). */
    const char *gateway_classes;
} sl_kube_sync_options;

/* Starts mirroring the cluster cfg names (cfg is taken over) as opt says.
 * NULL with err when it cannot start. */
sl_kube_sync *sl_kube_sync_start(sl_store *s, sl_kube_config *cfg, const sl_kube_sync_options *opt, char *err,
                                 size_t errlen);

/* Whether --kubernetes-gateway-classes limits the Gateways mirrored. */
bool sl_kube_sync_picks_classes(const sl_kube_sync *k);
void sl_kube_sync_stop(sl_kube_sync *k);

/* The cluster's server URL (valid until sl_kube_sync_stop). */
const char *sl_kube_sync_server(const sl_kube_sync *k);

/* The cluster's configuration (valid until sl_kube_sync_stop). */
const sl_kube_config *sl_kube_sync_config(const sl_kube_sync *k);

/* The cluster's resourceVersion and status of every object whose status is
 * written back (kube_status.h), as last listed or watched. */
sl_kube_cluster_state *sl_kube_sync_cluster(sl_kube_sync *k);

/* The cluster's path of the object kind ns/name (ns "" or NULL: cluster-scoped),
 * with "/sub" (a subresource) when sub is not NULL, and the apiVersion it is
 * served at. False for a kind that is not mirrored, or a path too long. */
bool sl_kube_sync_item_path(const char *kind, const char *ns, const char *name, const char *sub, char *out,
                            size_t cap, const char **api_version);

/* The i-th kind mirrored and the collection it is read from ("/api/v1/services",
 * "/apis/GROUP/VERSION/PLURAL"); false past the last (for the RBAC it needs). */
bool sl_kube_sync_resource(size_t i, const char **kind, const char **path);

/* Whether every kind has finished its first list (for /readyz). */
bool sl_kube_sync_ready(const sl_kube_sync *k);

#endif

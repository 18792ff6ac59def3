/* Status written back to the cluster (`sluiced --kubernetes`): the status that
 * the store holds for the cluster's objects (computed here exactly as on bare
 * metal) goes to their status subresource in the cluster, by the leader only
 * (kube_lease.h):
 * - GatewayClasses naming our controller, and Gateways of those classes:
 *   their whole status (conditions, addresses, listeners) is ours;
 * - HTTPRoutes and GRPCRoutes (status.parents) and the policies
 *   (status.ancestors): only the entries whose controllerName is ours; other
 *   controllers' entries are kept as the cluster has them.
 * A write carries the resourceVersion last seen; a conflict reads the object
 * again and retries. Nothing is written while the store's compiled status is
 * behind its objects, nor when the cluster already says the same (timestamps
 * aside). */
#ifndef SL_KUBE_STATUS_H
#define SL_KUBE_STATUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "daemon/kube_lease.h"
#include "daemon/kube_sync.h"
#include "daemon/store.h"

/* Whether the status of objects of kind is written back. */
bool sl_kube_status_written(const char *kind);

typedef struct sl_kube_status sl_kube_status;

/* Starts the writer. settled: true while the store's status is computed from
 * its current objects (the master sets it); lease: writes only while it leads. */
sl_kube_status *sl_kube_status_start(sl_store *s, sl_kube_sync *ks, sl_kube_lease *lease,
                                     const _Atomic bool *settled, char *err, size_t errlen);
void sl_kube_status_stop(sl_kube_status *w);

/* Prometheus text of the writes (sluice_kubernetes_status_writes_total), malloc'd. */
char *sl_kube_status_metrics(sl_kube_status *w);

#endif

/* Leader election among the replicas of `sluiced --kubernetes`, with a
 * coordination.k8s.io/v1 Lease as client-go's leaderelection does it: every
 * replica reads the Lease every retry period; the one named in holderIdentity
 * renews it (renewTime); the others take it over (optimistic concurrency on its
 * resourceVersion) once it has not changed, by their own clock, for
 * leaseDurationSeconds. A leader that cannot renew within the renew deadline
 * steps down. On a clean stop the leader gives the Lease up, so another
 * replica need not wait for it to expire.
 *
 * Only the leader writes status back to the cluster (kube_status.c); every
 * replica mirrors the cluster and proxies. */
#ifndef SL_KUBE_LEASE_H
#define SL_KUBE_LEASE_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/kube_config.h"

#define SL_KUBE_LEASE_DEFAULT_NAME "sluice-leader"

typedef struct sl_kube_lease sl_kube_lease;

/* Starts competing for the Lease ns/name of the cluster cfg names (cfg must
 * outlive the election), as identity, for lease_s seconds at a time. NULL with
 * err when it cannot start. */
sl_kube_lease *sl_kube_lease_start(const sl_kube_config *cfg, const char *ns, const char *name,
                                   const char *identity, unsigned lease_s, char *err, size_t errlen);
/* Stops competing; a leader gives the Lease up first. */
void sl_kube_lease_stop(sl_kube_lease *l);

/* True while this replica leads: its last renewal is within the renew deadline. */
bool sl_kube_lease_leading(sl_kube_lease *l);

/* Prometheus text of the election (sluice_kubernetes_leader...), malloc'd. */
char *sl_kube_lease_metrics(sl_kube_lease *l);

/* The namespace the Lease is in by default: the pod's own (from the service
 * account's namespace file or POD_NAMESPACE), else "default". */
void sl_kube_lease_default_namespace(char *out, size_t cap);

/* This replica's identity: POD_NAME or the host name, with the process id and a
 * random suffix so that two replicas on one host differ. */
void sl_kube_lease_identity(char *out, size_t cap);

#endif

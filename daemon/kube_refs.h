/* Secrets and ConfigMaps that our objects name, read one by one from the
 * cluster (`sluiced --kubernetes`). The syncer lists only kubernetes.io/tls
 * Secrets (a cluster may hold 50,000 others) and no ConfigMaps; an AI
 * Backend's API key, a basicAuth or apiKeyAuth policy's Secret, a
 * BackendTLSPolicy's CA ConfigMap are other types. A thread collects what the
 * stored Gateways, Backends, TrafficPolicies, BackendPolicies and
 * BackendTLSPolicies name (secretRef, secretRefs, authSecretRef,
 * clientCertificateRef, certificateRefs, caCertificateRefs), GETs each when it
 * is first named and again every SL_KUBE_REFS_POLL_S seconds, and keeps it in
 * the store marked as synced (SL_SYNCED_BY_ANNOTATION "reference"); it goes
 * when nothing names it any more or the cluster no longer has it. */
#ifndef SL_KUBE_REFS_H
#define SL_KUBE_REFS_H

#include <jansson.h>

#include "daemon/kube_sync.h"
#include "daemon/store.h"

#define SL_KUBE_REFS_POLL_S 10

typedef struct sl_kube_refs sl_kube_refs;

sl_kube_refs *sl_kube_refs_start(sl_store *s, sl_kube_sync *ks, char *err, size_t errlen);
void sl_kube_refs_stop(sl_kube_refs *r);

/* "Kind/ns/name" -> true of every Secret and ConfigMap the store's objects name
 * (a new object; exposed for tests). */
json_t *sl_kube_refs_collect(sl_store *s);

#endif

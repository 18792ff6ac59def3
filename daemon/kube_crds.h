/* `sluiced kubernetes-crds`: the CustomResourceDefinitions of our own kinds
 * (TrafficPolicy, Backend, BackendPolicy), printed as YAML from the kinds
 * table and the compiled-in spec schemas (the api/ directory), so that
 * deploy/kubernetes/crds.yaml says what the admin API's validation says: a
 * test compares the two. */
#ifndef SL_KUBE_CRDS_H
#define SL_KUBE_CRDS_H

#include <jansson.h>

/* The CRDs as a JSON array of documents; NULL when a kind of ours has no
 * schema (a build defect). */
json_t *sl_kube_crds(void);

int sl_kube_crds_main(int argc, char **argv);

#endif

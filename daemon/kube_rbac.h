/* `sluiced kubernetes-rbac [--namespace NS]`: the ServiceAccount, ClusterRole,
 * Role and bindings that `sluiced --kubernetes` needs, printed as YAML from the
 * syncer's own tables (what it lists and watches, the status it writes, the
 * Lease it takes), so that deploy/kubernetes/rbac.yaml cannot drift from the
 * code: a test compares the two. */
#ifndef SL_KUBE_RBAC_H
#define SL_KUBE_RBAC_H

int sl_kube_rbac_main(int argc, char **argv);

#endif

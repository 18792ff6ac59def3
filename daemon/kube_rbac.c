/* The RBAC of `sluiced --kubernetes` (see kube_rbac.h). */
#include "daemon/kube_rbac.h"

#include <stdio.h>
#include <string.h>

#include "daemon/kube_status.h"
#include "daemon/kube_sync.h"

/* The API group and plural of a collection path. */
static void group_and_plural(const char *path, char *group, size_t gcap, const char **plural)
{
    *plural = strrchr(path, '/') + 1;
    group[0] = '\0';
    if (strncmp(path, "/apis/", 6) == 0) {
        const char *g = path + 6;
        snprintf(group, gcap, "%.*s", (int)strcspn(g, "/"), g);
    }
}

/* One rule: the resources of group (with suffix, e.g. "/status") whose kind
 * passes want, and verbs. */
static void rule(const char *group, bool (*want)(const char *kind), const char *suffix, const char *verbs)
{
    printf("  - apiGroups: [\"%s\"]\n    resources: [", group);
    const char *kind, *path, *sep = "";
    for (size_t i = 0; sl_kube_sync_resource(i, &kind, &path); i++) {
        char g[128];
        const char *plural;
        group_and_plural(path, g, sizeof(g), &plural);
        if (strcmp(g, group) == 0 && (!want || want(kind))) {
            printf("%s%s%s", sep, plural, suffix);
            sep = ", ";
        }
    }
    printf("]\n    verbs: [%s]\n", verbs);
}

static bool any(const char *group, bool (*want)(const char *kind))
{
    const char *kind, *path;
    for (size_t i = 0; sl_kube_sync_resource(i, &kind, &path); i++) {
        char g[128];
        const char *plural;
        group_and_plural(path, g, sizeof(g), &plural);
        if (strcmp(g, group) == 0 && (!want || want(kind)))
            return true;
    }
    return false;
}

int sl_kube_rbac_main(int argc, char **argv)
{
    const char *ns = "sluice-system";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--namespace") == 0 && i + 1 < argc)
            ns = argv[++i];
        else {
            fprintf(stderr, "usage: sluiced kubernetes-rbac [--namespace NS]\n");
            return 2;
        }
    }
    printf("# The RBAC of `sluiced --kubernetes`, from `sluiced kubernetes-rbac --namespace %s`\n"
           "# (generated from the syncer's tables: do not edit; tests compare it with the code).\n"
           "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sluice\n  namespace: %s\n"
           "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: sluice\nrules:\n"
           "  # mirrored into the store: listed and watched\n", ns, ns);
    /* The groups in the order the syncer's table first names them. */
    char seen[8][128];
    size_t nseen = 0;
    const char *kind, *path;
    for (size_t i = 0; sl_kube_sync_resource(i, &kind, &path); i++) {
        char g[128];
        const char *plural;
        group_and_plural(path, g, sizeof(g), &plural);
        bool known = false;
        for (size_t j = 0; j < nseen; j++)
            known |= strcmp(seen[j], g) == 0;
        if (known || nseen == 8)
            continue;
        snprintf(seen[nseen++], sizeof(seen[0]), "%s", g);
        rule(g, NULL, "", "get, list, watch");
    }
    printf("  # read one by one when our objects name them (a Backend's API key, a CA bundle)\n"
           "  - apiGroups: [\"\"]\n    resources: [secrets, configmaps]\n    verbs: [get]\n");
    printf("  # status written back by the leader\n");
    for (size_t j = 0; j < nseen; j++)
        if (any(seen[j], sl_kube_status_written))
            rule(seen[j], sl_kube_status_written, "/status", "update");
    printf("---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: sluice\n"
           "roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: sluice\n"
           "subjects:\n  - kind: ServiceAccount\n    name: sluice\n    namespace: %s\n"
           "---\n# leader election (--kubernetes-lease, default %s/sluice-leader)\n"
           "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: sluice-leader-election\n"
           "  namespace: %s\nrules:\n  - apiGroups: [\"coordination.k8s.io\"]\n    resources: [leases]\n"
           "    verbs: [get, create, update]\n"
           "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n"
           "  name: sluice-leader-election\n  namespace: %s\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n"
           "  kind: Role\n  name: sluice-leader-election\nsubjects:\n  - kind: ServiceAccount\n    name: sluice\n"
           "    namespace: %s\n",
           ns, ns, ns, ns, ns);
    return 0;
}

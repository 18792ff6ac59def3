/* BackendTLSPolicy: which policy applies to which Service port, as the Gateway
 * API says (BackendTLSPolicySpec.targetRefs, GEP-713). A policy targets a whole
 * Service or one of its ports by name (sectionName); for a port, a policy naming
 * it beats one for the whole Service. Policies with the same target (Service and
 * sectionName) conflict: the older one (metadata.creationTimestamp) applies, then
 * the first by namespace/name; the others do not apply to that target and are
 * reported Accepted False, reason Conflicted. The compiler (what runs) and the
 * policy status (what is reported) both ask here, so they cannot disagree. Pure
 * functions over the stored objects: no store access. */
#ifndef SL_BACKENDTLS_RULES_H
#define SL_BACKENDTLS_RULES_H

#include <jansson.h>
#include <stdbool.h>

/* True when policy a takes precedence over b: older, then namespace/name first. */
bool sl_btls_precedes(const json_t *a, const json_t *b);

/* The policy that takes precedence over `policy` for one of its targets (same
 * namespace, Service and sectionName), NULL when it wins all of them. *target
 * (when not NULL) is set to the targetRef it loses. */
const json_t *sl_btls_conflict(const json_t *policies, const json_t *policy, const json_t **target);

/* The policy that applies to port `port_name` of Service ns/service: the winner
 * among those naming that port, else the winner among those naming the whole
 * Service; NULL when no policy targets it. */
const json_t *sl_btls_for_port(const json_t *policies, const char *ns, const char *service, const char *port_name);

/* The same rules for any policy kind that targets objects by group, kind, name
 * and sectionName (BackendPolicy): */
/* the policy that wins over `policy` for one of its targets (only those of
 * only_kind, when not NULL), NULL when it wins all of them; */
const json_t *sl_target_conflict(const json_t *policies, const json_t *policy, const char *only_kind,
                                 const json_t **target);
/* the policy that applies to section `section` of group/kind ns/name: the winner
 * among those naming the section, else among those naming the whole object. */
const json_t *sl_target_policy(const json_t *policies, const char *group, const char *kind, const char *ns,
                               const char *name, const char *section);

#endif

/* BackendTLSPolicy precedence and conflicts; see backendtls_rules.h. */
#include "daemon/backendtls_rules.h"

#include <string.h>

static const char *js(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static const char *meta(const json_t *o, const char *k) { return js(json_object_get(o, "metadata"), k); }

bool sl_btls_precedes(const json_t *a, const json_t *b)
{
    /* RFC 3339 timestamps in UTC, as the store writes them, sort as text. */
    int by_age = strcmp(meta(a, "creationTimestamp"), meta(b, "creationTimestamp"));
    if (by_age)
        return by_age < 0;
    int by_ns = strcmp(meta(a, "namespace"), meta(b, "namespace"));
    return by_ns ? by_ns < 0 : strcmp(meta(a, "name"), meta(b, "name")) < 0;
}

/* Does the policy have the target (group/kind `name`, sectionName `section`, ""
 * for the whole object)? */
static bool has_target(const json_t *policy, const char *group, const char *kind, const char *name,
                       const char *section)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(policy, "spec"), "targetRefs"), i, t)
        if (strcmp(js(t, "group"), group) == 0 && strcmp(js(t, "kind"), kind) == 0 &&
            strcmp(js(t, "name"), name) == 0 && strcmp(js(t, "sectionName"), section) == 0)
            return true;
    return false;
}

/* The policy of namespace ns that wins the target, NULL when none has it. */
static const json_t *winner(const json_t *policies, const char *ns, const char *group, const char *kind,
                            const char *name, const char *section)
{
    const json_t *best = NULL;
    size_t i;
    json_t *p;
    json_array_foreach(policies, i, p)
        if (strcmp(meta(p, "namespace"), ns) == 0 && has_target(p, group, kind, name, section) &&
            (!best || sl_btls_precedes(p, best)))
            best = p;
    return best;
}

const json_t *sl_target_conflict(const json_t *policies, const json_t *policy, const char *only_kind,
                                 const json_t **target)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(policy, "spec"), "targetRefs"), i, t)
    {
        if (only_kind && strcmp(js(t, "kind"), only_kind) != 0)
            continue;
        const json_t *w =
            winner(policies, meta(policy, "namespace"), js(t, "group"), js(t, "kind"), js(t, "name"), js(t, "sectionName"));
        if (w && w != policy) {
            if (target)
                *target = t;
            return w;
        }
    }
    return NULL;
}

const json_t *sl_target_policy(const json_t *policies, const char *group, const char *kind, const char *ns,
                               const char *name, const char *section)
{
    const json_t *p = section[0] ? winner(policies, ns, group, kind, name, section) : NULL;
    return p ? p : winner(policies, ns, group, kind, name, "");
}

const json_t *sl_btls_conflict(const json_t *policies, const json_t *policy, const json_t **target)
{
    return sl_target_conflict(policies, policy, "Service", target);
}

const json_t *sl_btls_for_port(const json_t *policies, const char *ns, const char *service, const char *port_name)
{
    return sl_target_policy(policies, "", "Service", ns, service, port_name);
}

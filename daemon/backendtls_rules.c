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

/* A targetRef sluice applies BackendTLSPolicy to: a core Service. */
static bool is_service(const json_t *t) { return js(t, "group")[0] == '\0' && strcmp(js(t, "kind"), "Service") == 0; }

/* Does the policy have the target (Service `service`, sectionName `section`, "" for
 * the whole Service)? */
static bool has_target(const json_t *policy, const char *service, const char *section)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(policy, "spec"), "targetRefs"), i, t)
        if (is_service(t) && strcmp(js(t, "name"), service) == 0 && strcmp(js(t, "sectionName"), section) == 0)
            return true;
    return false;
}

/* The policy of namespace ns that wins target (service, section), NULL when none has it. */
static const json_t *winner(const json_t *policies, const char *ns, const char *service, const char *section)
{
    const json_t *best = NULL;
    size_t i;
    json_t *p;
    json_array_foreach(policies, i, p)
        if (strcmp(meta(p, "namespace"), ns) == 0 && has_target(p, service, section) &&
            (!best || sl_btls_precedes(p, best)))
            best = p;
    return best;
}

const json_t *sl_btls_conflict(const json_t *policies, const json_t *policy, const json_t **target)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(policy, "spec"), "targetRefs"), i, t)
    {
        if (!is_service(t))
            continue;
        const json_t *w = winner(policies, meta(policy, "namespace"), js(t, "name"), js(t, "sectionName"));
        if (w && w != policy) {
            if (target)
                *target = t;
            return w;
        }
    }
    return NULL;
}

const json_t *sl_btls_for_port(const json_t *policies, const char *ns, const char *service, const char *port_name)
{
    const json_t *p = port_name[0] ? winner(policies, ns, service, port_name) : NULL;
    return p ? p : winner(policies, ns, service, "");
}

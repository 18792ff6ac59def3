/* Compiler: BackendPolicy status (GEP-713 PolicyStatus). One status.ancestors
 * entry per Gateway whose routes send traffic to a targeted Service or
 * Backend, each with an Accepted condition at the policy's generation:
 *
 *   True  Accepted        the policy applies to its targets;
 *   False Conflicted      an older policy (then the first by name) has the same
 *                         target (Service and sectionName, or Backend), so
 *                         this one does not apply there;
 *   False TargetNotFound  a target does not exist (or has no such port); when
 *                         no Gateway sends to any target, the entry's
 *                         ancestorRef is the missing target itself.
 *
 * What applies where is decided by sl_target_policy (backendtls_rules.h), the
 * same function the compiler uses, so status and traffic agree. */
#include <stdio.h>
#include <string.h>

#include "daemon/backendtls_rules.h"
#include "daemon/compiler_internal.h"
#include "daemon/controller.h"

#define GW_GROUP "gateway.networking.k8s.io"
#define SLUICE_GROUP "gateway.sluice.dev"

static bool is_backend_kind(const json_t *t) { return strcmp(sl_js(t, "kind"), "Backend") == 0; }

/* Does backendRef `ref` of a route in route_ns reach target t of the policy? */
static bool ref_reaches(sl_compile_ctx *c, const char *route_kind, const char *route_ns, const json_t *ref,
                        const json_t *policy, const json_t *t)
{
    const char *group = sl_js(ref, "group");
    const char *kind = json_object_get(ref, "kind") ? sl_js(ref, "kind") : "Service";
    const char *ns = json_object_get(ref, "namespace") ? sl_js(ref, "namespace") : route_ns;
    const char *name = sl_js(ref, "name");
    if (strcmp(ns, sl_jmeta(policy, "namespace")) != 0 || strcmp(name, sl_js(t, "name")) != 0 ||
        strcmp(kind, sl_js(t, "kind")) != 0 || strcmp(group, sl_js(t, "group")) != 0)
        return false;
    return strcmp(ns, route_ns) == 0 || sl_compile_granted(c, route_kind, route_ns, ns, group, kind, name);
}

/* The Gateways that routes of `kind` attached to them send through to the policy's targets. */
static void collect_gateways(sl_compile_ctx *c, const char *kind, const json_t *routes, const json_t *policy,
                             json_t *out)
{
    size_t i, j, k, l, m;
    json_t *route, *parent, *rule, *ref, *t;
    json_array_foreach(routes, i, route)
    {
        char key[650];
        snprintf(key, sizeof(key), "%s/%s/%s", kind, sl_jmeta(route, "namespace"), sl_jmeta(route, "name"));
        const json_t *entry = json_object_get(c->route_status, key);
        if (!entry)
            continue;
        bool reaches = false;
        json_array_foreach(json_object_get(json_object_get(route, "spec"), "rules"), j, rule)
            json_array_foreach(json_object_get(rule, "backendRefs"), k, ref)
                json_array_foreach(json_object_get(json_object_get(policy, "spec"), "targetRefs"), l, t)
                    reaches |= ref_reaches(c, kind, sl_jmeta(route, "namespace"), ref, policy, t);
        if (!reaches)
            continue;
        json_array_foreach(json_object_get(entry, "parents"), m, parent)
        {
            if (!sl_compile_condition_true(json_object_get(parent, "conditions"), "Accepted"))
                continue;
            const json_t *pr = json_object_get(parent, "parentRef");
            sl_compile_add_gateway(out, json_object_get(pr, "namespace") ? sl_js(pr, "namespace") : sl_jmeta(route, "namespace"),
                        sl_js(pr, "name"));
        }
    }
}

/* The first target that does not exist, NULL when all do (why in msg). */
static const json_t *missing_target(sl_compile_ctx *c, const json_t *policy, char *msg, size_t len)
{
    const char *ns = sl_jmeta(policy, "namespace");
    size_t i, j;
    json_t *t, *port;
    json_array_foreach(json_object_get(json_object_get(policy, "spec"), "targetRefs"), i, t)
    {
        const char *name = sl_js(t, "name"), *section = sl_js(t, "sectionName");
        if (is_backend_kind(t)) {
            if (!sl_compile_find_object(c->backends, ns, name)) {
                snprintf(msg, len, "Backend %s/%s does not exist", ns, name);
                return t;
            }
            continue;
        }
        const json_t *svc = sl_compile_find_object(c->services, ns, name);
        if (!svc) {
            snprintf(msg, len, "Service %s/%s does not exist", ns, name);
            return t;
        }
        bool found = !section[0];
        json_array_foreach(json_object_get(json_object_get(svc, "spec"), "ports"), j, port)
            found |= strcmp(sl_js(port, "name"), section) == 0;
        if (!found) {
            snprintf(msg, len, "Service %s/%s has no port named %s", ns, name, section);
            return t;
        }
    }
    return NULL;
}

static json_t *accepted_condition(sl_compile_ctx *c, const json_t *policy, json_int_t gen, const json_t **missing)
{
    char msg[700];
    const char *reason = "Accepted", *message = "the policy applies to its targets";
    const json_t *target = NULL;
    const json_t *winner = sl_target_conflict(c->backendpolicies, policy, NULL, &target);
    if ((*missing = missing_target(c, policy, msg, sizeof(msg)))) {
        reason = "TargetNotFound";
        message = msg;
    } else if (winner) {
        snprintf(msg, sizeof(msg), "BackendPolicy %s/%s takes precedence for %s %s%s%s (older, or first by name)",
                 sl_jmeta(winner, "namespace"), sl_jmeta(winner, "name"), sl_js(target, "kind"), sl_js(target, "name"),
                 sl_js(target, "sectionName")[0] ? " port " : "", sl_js(target, "sectionName"));
        reason = "Conflicted";
        message = msg;
    }
    return sl_condition("Accepted", strcmp(reason, "Accepted") == 0 ? "True" : "False", reason, message, gen);
}

static void policy_status(sl_compile_ctx *c, const json_t *policy)
{
    json_int_t gen = json_integer_value(json_object_get(json_object_get(policy, "metadata"), "generation"));
    const json_t *missing = NULL;
    json_t *cond = accepted_condition(c, policy, gen, &missing);
    json_t *gateways = json_array();
    collect_gateways(c, "HTTPRoute", c->httproutes, policy, gateways);
    collect_gateways(c, "GRPCRoute", c->grpcroutes, policy, gateways);
    json_t *ancestors = json_array();
    size_t i;
    json_t *g;
    json_array_foreach(gateways, i, g)
    {
        json_t *ref = json_pack("{s:s, s:s, s:s, s:s}", "group", GW_GROUP, "kind", "Gateway", "namespace",
                                sl_js(g, "namespace"), "name", sl_js(g, "name"));
        json_array_append_new(ancestors, json_pack("{s:o, s:s, s:[O]}", "ancestorRef", ref, "controllerName",
                                                   SL_CONTROLLER_NAME, "conditions", cond));
    }
    if (json_array_size(gateways) == 0 && missing) {
        /* No Gateway to report under: the missing target stands for one. */
        json_t *ref = json_pack("{s:s, s:s, s:s, s:s}", "group", is_backend_kind(missing) ? SLUICE_GROUP : "",
                                "kind", sl_js(missing, "kind"), "namespace", sl_jmeta(policy, "namespace"), "name",
                                sl_js(missing, "name"));
        json_array_append_new(ancestors, json_pack("{s:o, s:s, s:[O]}", "ancestorRef", ref, "controllerName",
                                                   SL_CONTROLLER_NAME, "conditions", cond));
    }
    json_decref(cond);
    json_decref(gateways);
    char key[650];
    snprintf(key, sizeof(key), "BackendPolicy/%s/%s", sl_jmeta(policy, "namespace"), sl_jmeta(policy, "name"));
    json_object_set_new(c->route_status, key,
                        json_pack("{s:s, s:s, s:I, s:s, s:o}", "namespace", sl_jmeta(policy, "namespace"), "name",
                                  sl_jmeta(policy, "name"), "generation", gen, "resourceVersion",
                                  sl_jmeta(policy, "resourceVersion"), "ancestors", ancestors));
}

void sl_compile_backend_policy_status(sl_compile_ctx *c)
{
    size_t i;
    json_t *policy;
    json_array_foreach(c->backendpolicies, i, policy) policy_status(c, policy);
}

/* Compiler: BackendTLSPolicy status (Gateway API v1.6 PolicyStatus, GEP-713).
 * A policy's ancestors are our Gateways: one entry for each Gateway that a route
 * attached to it sends traffic through to the targeted Service (a backendRef;
 * RequestMirror copies are not sent to backends reached over TLS, so a mirror's
 * backendRef does not count). Each entry carries, at the policy's generation:
 *
 *   Accepted      True Accepted; or False with TargetNotFound (no such Service,
 *                 or no port named sectionName), Conflicted (another policy
 *                 wins the same target: backendtls_rules.h), Invalid (a
 *                 wellKnownCACertificates set sluice does not know), or
 *                 NoValidCACertificate (no caCertificateRef is usable);
 *   ResolvedRefs  True ResolvedRefs; or False with InvalidKind (a reference to
 *                 something other than a ConfigMap or Secret) or
 *                 InvalidCACertificateRef (missing, without "ca.crt", or no PEM
 *                 certificate in it).
 *
 * What the compiler makes of a policy (compiler_backend_tls.c) follows the same
 * rules, so traffic and status agree: an Accepted policy is what the worker
 * applies, a policy without usable CA certificates makes requests fail (502). */
#include <stdio.h>
#include <string.h>

#include "daemon/backendtls_rules.h"
#include "daemon/compiler_internal.h"
#include "daemon/controller.h"

#define GW_GROUP "gateway.networking.k8s.io"

/* Does the policy target Service `name` (whole, or one of its ports)? */
static bool targets_service(const json_t *policy, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(policy, "spec"), "targetRefs"), i, t)
        if (sl_js(t, "group")[0] == '\0' && strcmp(sl_js(t, "kind"), "Service") == 0 &&
            strcmp(sl_js(t, "name"), name) == 0)
            return true;
    return false;
}

/* Does this backendRef of a route in route_ns reach, in effect, a Service the
 * policy targets? */
static bool ref_reaches(sl_compile_ctx *c, const char *route_kind, const char *route_ns, const json_t *ref,
                        const json_t *policy)
{
    const char *kind = json_object_get(ref, "kind") ? sl_js(ref, "kind") : "Service";
    const char *ns = json_object_get(ref, "namespace") ? sl_js(ref, "namespace") : route_ns;
    const char *name = sl_js(ref, "name");
    if (sl_js(ref, "group")[0] || strcmp(kind, "Service") != 0 || strcmp(ns, sl_jmeta(policy, "namespace")) != 0 ||
        !targets_service(policy, name))
        return false;
    return strcmp(ns, route_ns) == 0 || sl_compile_granted(c, route_kind, route_ns, ns, "", "Service", name);
}

static bool route_reaches(sl_compile_ctx *c, const char *route_kind, const json_t *route, const json_t *policy)
{
    const char *route_ns = sl_jmeta(route, "namespace");
    size_t i, j;
    json_t *rule, *ref;
    json_array_foreach(json_object_get(json_object_get(route, "spec"), "rules"), i, rule)
    {
        json_array_foreach(json_object_get(rule, "backendRefs"), j, ref)
            if (ref_reaches(c, route_kind, route_ns, ref, policy))
                return true;
    }
    return false;
}

bool sl_compile_condition_true(const json_t *conds, const char *type)
{
    size_t i;
    json_t *cd;
    json_array_foreach(conds, i, cd) if (strcmp(sl_js(cd, "type"), type) == 0) return strcmp(sl_js(cd, "status"), "True") == 0;
    return false;
}

void sl_compile_add_gateway(json_t *out, const char *ns, const char *name)
{
    size_t i;
    json_t *g;
    json_array_foreach(out, i, g) if (strcmp(sl_js(g, "namespace"), ns) == 0 && strcmp(sl_js(g, "name"), name) == 0) return;
    json_array_append_new(out, json_pack("{s:s, s:s}", "namespace", ns, "name", name));
}

/* The Gateways that routes of `kind` attached to them send through to the policy's targets. */
static void collect_gateways(sl_compile_ctx *c, const char *kind, const json_t *routes, const json_t *policy,
                             json_t *out)
{
    size_t i, j;
    json_t *route, *parent;
    json_array_foreach(routes, i, route)
    {
        char key[650];
        snprintf(key, sizeof(key), "%s/%s/%s", kind, sl_jmeta(route, "namespace"), sl_jmeta(route, "name"));
        const json_t *entry = json_object_get(c->route_status, key);
        if (!entry || !route_reaches(c, kind, route, policy))
            continue;
        json_array_foreach(json_object_get(entry, "parents"), j, parent)
        {
            if (!sl_compile_condition_true(json_object_get(parent, "conditions"), "Accepted"))
                continue;
            const json_t *ref = json_object_get(parent, "parentRef");
            sl_compile_add_gateway(out, json_object_get(ref, "namespace") ? sl_js(ref, "namespace") : sl_jmeta(route, "namespace"),
                        sl_js(ref, "name"));
        }
    }
}

/* Why a target is not there (TargetNotFound), NULL when every target is. */
static const char *missing_target(sl_compile_ctx *c, const json_t *policy, char *msg, size_t len)
{
    size_t i, j;
    json_t *t, *port;
    json_array_foreach(json_object_get(json_object_get(policy, "spec"), "targetRefs"), i, t)
    {
        const json_t *svc = sl_compile_find_object(c->services, sl_jmeta(policy, "namespace"), sl_js(t, "name"));
        const char *section = sl_js(t, "sectionName");
        if (!svc) {
            snprintf(msg, len, "Service %s/%s does not exist", sl_jmeta(policy, "namespace"), sl_js(t, "name"));
            return msg;
        }
        bool found = !section[0];
        json_array_foreach(json_object_get(json_object_get(svc, "spec"), "ports"), j, port)
            found |= strcmp(sl_js(port, "name"), section) == 0;
        if (!found) {
            snprintf(msg, len, "Service %s/%s has no port named %s", sl_jmeta(policy, "namespace"), sl_js(t, "name"),
                     section);
            return msg;
        }
    }
    return NULL;
}

/* The policy's two conditions (the same for every ancestor). */
static json_t *conditions(sl_compile_ctx *c, const json_t *policy, json_int_t gen)
{
    const json_t *validation = json_object_get(json_object_get(policy, "spec"), "validation");
    const char *well_known = sl_js(validation, "wellKnownCACertificates");
    sl_ca_refs cas = {0};
    if (!well_known[0])
        sl_compile_ca_refs(c, NULL, sl_jmeta(policy, "namespace"), json_object_get(validation, "caCertificateRefs"),
                           "ConfigMap", &cas);
    char msg[700];
    const char *reason = "Accepted", *message = "the policy applies to its targets";
    const json_t *target = NULL;
    const json_t *winner = sl_btls_conflict(c->backendtlspolicies, policy, &target);
    if (missing_target(c, policy, msg, sizeof(msg))) {
        reason = "TargetNotFound";
        message = msg;
    } else if (winner) {
        snprintf(msg, sizeof(msg), "BackendTLSPolicy %s/%s takes precedence for Service %s%s%s (older, or first by name)",
                 sl_jmeta(winner, "namespace"), sl_jmeta(winner, "name"), sl_js(target, "name"),
                 sl_js(target, "sectionName")[0] ? " port " : "", sl_js(target, "sectionName"));
        reason = "Conflicted";
        message = msg;
    } else if (well_known[0] && strcmp(well_known, "System") != 0) {
        snprintf(msg, sizeof(msg), "wellKnownCACertificates %s is not a set sluice knows (only System)", well_known);
        reason = "Invalid";
        message = msg;
    } else if (!well_known[0] && cas.usable == 0) {
        reason = "NoValidCACertificate";
        message = "no caCertificateRef is usable: requests to its targets fail";
    }
    json_t *conds = json_array();
    json_array_append_new(conds, sl_condition("Accepted", strcmp(reason, "Accepted") == 0 ? "True" : "False", reason,
                                              message, gen));
    const char *refs_reason = cas.problem == SL_REF_OK            ? "ResolvedRefs"
                              : cas.problem == SL_REF_INVALID_KIND ? "InvalidKind"
                                                                  : "InvalidCACertificateRef";
    json_array_append_new(conds, sl_condition("ResolvedRefs", cas.problem == SL_REF_OK ? "True" : "False", refs_reason,
                                              cas.problem == SL_REF_OK ? "references resolved" : cas.message, gen));
    sl_ca_refs_free(&cas);
    return conds;
}

void sl_compile_btls_status(sl_compile_ctx *c)
{
    size_t i, j;
    json_t *policy, *g;
    json_array_foreach(c->backendtlspolicies, i, policy)
    {
        json_t *gateways = json_array();
        collect_gateways(c, "HTTPRoute", c->httproutes, policy, gateways);
        collect_gateways(c, "GRPCRoute", c->grpcroutes, policy, gateways);
        if (json_array_size(gateways) == 0) {
            /* Relevant to none of our Gateways: no entry (the sync removes old ones). */
            json_decref(gateways);
            continue;
        }
        json_int_t gen = json_integer_value(json_object_get(json_object_get(policy, "metadata"), "generation"));
        json_t *conds = conditions(c, policy, gen);
        json_t *ancestors = json_array();
        json_array_foreach(gateways, j, g)
        {
            json_t *ref = json_pack("{s:s, s:s, s:s, s:s}", "group", GW_GROUP, "kind", "Gateway", "namespace",
                                    sl_js(g, "namespace"), "name", sl_js(g, "name"));
            json_array_append_new(ancestors, json_pack("{s:o, s:s, s:o}", "ancestorRef", ref, "controllerName",
                                                       SL_CONTROLLER_NAME, "conditions", json_deep_copy(conds)));
        }
        json_decref(conds);
        json_decref(gateways);
        char key[650];
        snprintf(key, sizeof(key), "BackendTLSPolicy/%s/%s", sl_jmeta(policy, "namespace"), sl_jmeta(policy, "name"));
        json_object_set_new(c->route_status, key,
                            json_pack("{s:s, s:s, s:I, s:s, s:o}", "namespace", sl_jmeta(policy, "namespace"), "name",
                                      sl_jmeta(policy, "name"), "generation", gen, "resourceVersion",
                                      sl_jmeta(policy, "resourceVersion"), "ancestors", ancestors));
    }
}

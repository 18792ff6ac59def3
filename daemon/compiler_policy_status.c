/* Compiler: TrafficPolicy status (GEP-713 PolicyStatus). One status.ancestors
 * entry per Gateway the policy reaches: the targeted Gateway (with the
 * listener's sectionName when it targets one), or the Gateways a targeted
 * route is attached to. Each carries two conditions at the policy's generation:
 *
 *   Accepted  True Accepted (an invalid policy is refused when written); False
 *             Invalid when a section cannot be compiled (the message says why).
 *   Attached  True Attached: every section is in effect where it applies;
 *             True Merged: some sections are, others are overridden (in
 *             part, or where they apply) by more specific or older policies
 *             (named in the message);
 *             False Overridden: every section is overridden;
 *             False TargetNotFound: no target exists (the entry's ancestorRef
 *             is then the missing target itself); the policy applies, without
 *             being written again, once the target appears;
 *             False Unsupported: it only has sections sluice does not enforce
 *             yet (named in the message; also named when others are enforced),
 *             or sections that reached only TLS passthrough and TCP routes,
 *             where they cannot act (named too: only ipAccess acts there).
 *
 * Whether a section won or lost comes from compiling the chains
 * (compiler_policies.c), so status and traffic agree. */
#include <stdio.h>
#include <string.h>

#include "daemon/compiler_internal.h"
#include "daemon/controller.h"
#include "workers/policy.h"

#define GW_GROUP "gateway.networking.k8s.io"

/* TrafficPolicy sections, and the ones enforced outside the registry (tls and
 * proxyProtocol are compiled with the listeners: compiler_tls.c, compiler.c). */
static const char *const all_sections[] = {"rateLimit", "timeouts",  "retry",      "ipAccess",  "headers",
                                           "tls",       "bodyLimit", "apiKeyAuth", "basicAuth", "cors",
                                           "csrf",      "realIp",    "authorization", "proxyProtocol", "jwt", "extAuth",
                                           "aiTokenLimit", "aiBudget", "aiPromptGuard", "mcpAuthorization", "mcpRateLimit"};

static bool enforced(const char *section)
{
    return strcmp(section, "tls") == 0 || strcmp(section, "proxyProtocol") == 0 || sl_policy_kind_of(section) >= 0;
}

static bool has_named(const json_t *list, const char *name)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) if (strcmp(sl_js(x, "name"), name) == 0) return true;
    return false;
}

static void add_ancestor(json_t *ancestors, const char *ns, const char *name, const char *section)
{
    size_t i;
    json_t *a;
    json_array_foreach(ancestors, i, a)
    {
        const json_t *r = json_object_get(a, "ancestorRef");
        if (strcmp(sl_js(r, "namespace"), ns) == 0 && strcmp(sl_js(r, "name"), name) == 0 &&
            strcmp(sl_js(r, "sectionName"), section) == 0)
            return;
    }
    json_t *ref = json_pack("{s:s, s:s, s:s, s:s}", "group", GW_GROUP, "kind", "Gateway", "namespace", ns, "name", name);
    if (section[0])
        json_object_set_new(ref, "sectionName", json_string(section));
    json_array_append_new(ancestors, json_pack("{s:o}", "ancestorRef", ref));
}

/* The Gateways that accepted the route (from the routes' computed status). */
static void route_gateways(sl_compile_ctx *c, const char *kind, const json_t *route, json_t *ancestors)
{
    char key[650];
    snprintf(key, sizeof(key), "%s/%s/%s", kind, sl_jmeta(route, "namespace"), sl_jmeta(route, "name"));
    size_t i, j;
    json_t *parent, *cd;
    json_array_foreach(json_object_get(json_object_get(c->route_status, key), "parents"), i, parent)
    {
        bool accepted = false;
        json_array_foreach(json_object_get(parent, "conditions"), j, cd) accepted |=
            strcmp(sl_js(cd, "type"), "Accepted") == 0 && strcmp(sl_js(cd, "status"), "True") == 0;
        if (!accepted)
            continue;
        const json_t *ref = json_object_get(parent, "parentRef");
        add_ancestor(ancestors,
                     json_object_get(ref, "namespace") ? sl_js(ref, "namespace") : sl_jmeta(route, "namespace"),
                     sl_js(ref, "name"), "");
    }
}

/* Resolves one targetRef into ancestors; false (with why) when it is missing. */
static bool resolve_target(sl_compile_ctx *c, const char *ns, const json_t *t, json_t *ancestors, char *why,
                           size_t len)
{
    const char *kind = sl_js(t, "kind"), *name = sl_js(t, "name"), *section = sl_js(t, "sectionName");
    if (strcmp(kind, "Gateway") == 0) {
        const json_t *gw = sl_compile_find_object(c->gateways, ns, name);
        if (gw && !sl_compile_gateway_is_ours(c, ns, name))
            return true; /* another controller's Gateway: not ours to report on */
        if (!gw) {
            snprintf(why, len, "Gateway %s/%s does not exist", ns, name);
            return false;
        }
        if (section[0] && !has_named(json_object_get(json_object_get(gw, "spec"), "listeners"), section)) {
            snprintf(why, len, "Gateway %s/%s has no listener named %s", ns, name, section);
            return false;
        }
        add_ancestor(ancestors, ns, name, section);
        return true;
    }
    const json_t *routes = strcmp(kind, "GRPCRoute") == 0   ? c->grpcroutes
                           : strcmp(kind, "TLSRoute") == 0 ? c->tlsroutes
                           : strcmp(kind, "TCPRoute") == 0 ? c->tcproutes
                                                           : c->httproutes;
    const json_t *route = sl_compile_find_object(routes, ns, name);
    if (!route) {
        snprintf(why, len, "%s %s/%s does not exist", kind, ns, name);
        return false;
    }
    if (section[0] && !has_named(json_object_get(json_object_get(route, "spec"), "rules"), section)) {
        snprintf(why, len, "%s %s/%s has no rule named %s", kind, ns, name, section);
        return false;
    }
    route_gateways(c, kind, route, ancestors);
    return true;
}

static void append(char *buf, size_t len, const char *sep, const char *text)
{
    size_t n = strlen(buf);
    if (n < len)
        snprintf(buf + n, len - n, "%s%s", n ? sep : "", text);
}

/* The Attached condition's status, reason and message from the sections' effects. */
static void attached(sl_compile_ctx *c, const json_t *policy, const char **status, const char **reason, char *msg,
                     size_t len, char *invalid, size_t ilen)
{
    char key[300];
    snprintf(key, sizeof(key), "%s/%s", sl_jmeta(policy, "namespace"), sl_jmeta(policy, "name"));
    const json_t *effects = json_object_get(c->policy_effects, key);
    const json_t *spec = json_object_get(policy, "spec");
    int in_effect = 0, overridden = 0, partial = 0;
    char lost[600] = "", unsupported[200] = "", connections_only[200] = "";
    for (size_t i = 0; i < sizeof(all_sections) / sizeof(all_sections[0]); i++) {
        const char *section = all_sections[i];
        if (!json_object_get(spec, section))
            continue;
        if (!enforced(section)) {
            append(unsupported, sizeof(unsupported), ", ", section);
            continue;
        }
        const json_t *e = json_object_get(effects, section);
        if (json_object_get(e, "invalid")) {
            char line[400];
            snprintf(line, sizeof(line), "%s: %s", section, sl_js(e, "invalid"));
            append(invalid, ilen, "; ", line);
        }
        if (json_is_true(json_object_get(e, "connections"))) {
            /* It reached TLS passthrough or TCP routes, where it cannot act. */
            append(connections_only, sizeof(connections_only), ", ", section);
            if (!json_is_true(json_object_get(e, "won")) && !json_object_get(e, "winner")) {
                continue; /* nowhere else: not in effect at all */
            }
        }
        if (e && !json_is_true(json_object_get(e, "won")) && json_object_get(e, "winner")) {
            char line[400];
            snprintf(line, sizeof(line), "%s is overridden by TrafficPolicy %s (a more specific target, or older)",
                     section, sl_js(e, "winner"));
            append(lost, sizeof(lost), "; ", line);
            overridden++;
        } else {
            in_effect++; /* won somewhere, or nothing is attached below the target yet */
            if (json_object_get(e, "winner")) {
                char line[400];
                snprintf(line, sizeof(line), "%s is overridden in part by TrafficPolicy %s (a more specific target, "
                         "or older)", section, sl_js(e, "winner"));
                append(lost, sizeof(lost), "; ", line);
                partial++;
            }
        }
    }
    if (in_effect && (overridden || partial)) {
        *status = "True";
        *reason = "Merged";
        snprintf(msg, len, "merged with other policies: %s", lost);
    } else if (overridden) {
        *status = "False";
        *reason = "Overridden";
        snprintf(msg, len, "%s", lost);
    } else if (in_effect) {
        *status = "True";
        *reason = "Attached";
        snprintf(msg, len, "the policy is in effect on its targets");
    } else {
        *status = "False";
        *reason = "Unsupported";
        msg[0] = '\0';
    }
    if (unsupported[0]) {
        size_t n = strlen(msg);
        snprintf(msg + n, len - n, "%ssluice does not enforce %s yet", n ? "; " : "", unsupported);
    }
    if (connections_only[0]) {
        size_t n = strlen(msg);
        snprintf(msg + n, len - n, "%s%s %s not apply to TLS passthrough and TCP connections", n ? "; " : "",
                 connections_only, strchr(connections_only, ',') ? "do" : "does");
    }
}

static void policy_status(sl_compile_ctx *c, const json_t *policy)
{
    const char *ns = sl_jmeta(policy, "namespace");
    json_int_t gen = json_integer_value(json_object_get(json_object_get(policy, "metadata"), "generation"));
    json_t *ancestors = json_array();
    char missing[600] = "";
    size_t i;
    json_t *t;
    json_t *targets = json_object_get(json_object_get(policy, "spec"), "targetRefs");
    json_array_foreach(targets, i, t)
    {
        char why[300];
        if (!resolve_target(c, ns, t, ancestors, why, sizeof(why)))
            append(missing, sizeof(missing), "; ", why);
    }
    const char *astatus, *areason;
    char amsg[1200], invalid[600] = "";
    attached(c, policy, &astatus, &areason, amsg, sizeof(amsg), invalid, sizeof(invalid));
    if (json_array_size(ancestors) == 0 && !missing[0]) {
        json_decref(ancestors); /* it concerns none of our Gateways (yet) */
        return;
    }
    if (json_array_size(ancestors) == 0) {
        /* No target exists: each missing target is its own ancestor entry. */
        json_array_foreach(targets, i, t)
        {
            json_t *ref = json_pack("{s:s, s:s, s:s, s:s}", "group", GW_GROUP, "kind", sl_js(t, "kind"), "namespace",
                                    ns, "name", sl_js(t, "name"));
            if (sl_js(t, "sectionName")[0])
                json_object_set_new(ref, "sectionName", json_string(sl_js(t, "sectionName")));
            json_array_append_new(ancestors, json_pack("{s:o}", "ancestorRef", ref));
        }
        astatus = "False";
        areason = "TargetNotFound";
        snprintf(amsg, sizeof(amsg), "%s", missing);
    } else if (missing[0]) {
        size_t n = strlen(amsg);
        snprintf(amsg + n, sizeof(amsg) - n, "; not found: %s", missing);
    }
    json_array_foreach(ancestors, i, t)
    {
        json_t *conds = json_array();
        json_array_append_new(conds, sl_condition("Accepted", invalid[0] ? "False" : "True",
                                                  invalid[0] ? "Invalid" : "Accepted",
                                                  invalid[0] ? invalid : "the policy is valid", gen));
        json_array_append_new(conds, sl_condition("Attached", astatus, areason, amsg, gen));
        json_object_set_new(t, "controllerName", json_string(SL_CONTROLLER_NAME));
        json_object_set_new(t, "conditions", conds);
    }
    char key[650];
    snprintf(key, sizeof(key), "TrafficPolicy/%s/%s", ns, sl_jmeta(policy, "name"));
    json_object_set_new(c->route_status, key,
                        json_pack("{s:s, s:s, s:I, s:s, s:o}", "namespace", ns, "name", sl_jmeta(policy, "name"),
                                  "generation", gen, "resourceVersion", sl_jmeta(policy, "resourceVersion"),
                                  "ancestors", ancestors));
}

void sl_compile_policy_status(sl_compile_ctx *c)
{
    size_t i;
    json_t *policy;
    json_array_foreach(c->trafficpolicies, i, policy) policy_status(c, policy);
}

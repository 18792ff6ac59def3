/* Compiler: TrafficPolicy attachment and merging into per-route policy chains.
 *
 * A TrafficPolicy attaches through targetRefs (in its own namespace) to a
 * Gateway, one listener of it (sectionName), an HTTPRoute or GRPCRoute, or one
 * rule of it (sectionName = the rule's name). For each route entry (a rule of
 * a route on a listener) and each policy kind of the registry, the section in
 * force comes from the most specific policy that has it: rule > route >
 * listener > Gateway; at one level the older policy wins (creationTimestamp,
 * then namespace/name), as GEP-713 says. Each (policy, section) is compiled
 * once into POLICIES; a chain is a range of links to them, in phase order.
 *
 * Who won and who lost is remembered for the policies' status
 * (compiler_policy_status.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/zones.h"
#include "daemon/compiler_internal.h"
#include "daemon/fetcher.h"
#include "daemon/redis_health.h"
#include "workers/policy.h"

/* Attachment levels, least specific first. */
enum { LEVEL_NONE = -1, LEVEL_GATEWAY = 0, LEVEL_LISTENER = 1, LEVEL_ROUTE = 2, LEVEL_RULE = 3 };

/* Where a route entry sits: what targetRefs can name. */
typedef struct entry_place {
    const char *gw_ns, *gw_name, *listener;
    const char *route_kind, *route_ns, *route_name, *rule;
} entry_place;

static int target_level(const json_t *ref, const char *policy_ns, const entry_place *e)
{
    const char *kind = sl_js(ref, "kind"), *name = sl_js(ref, "name"), *section = sl_js(ref, "sectionName");
    if (strcmp(kind, "Gateway") == 0 && strcmp(policy_ns, e->gw_ns) == 0 && strcmp(name, e->gw_name) == 0) {
        if (!section[0])
            return LEVEL_GATEWAY;
        return strcmp(section, e->listener) == 0 ? LEVEL_LISTENER : LEVEL_NONE;
    }
    if (strcmp(kind, e->route_kind) == 0 && strcmp(policy_ns, e->route_ns) == 0 && strcmp(name, e->route_name) == 0) {
        if (!section[0])
            return LEVEL_ROUTE;
        return e->rule[0] && strcmp(section, e->rule) == 0 ? LEVEL_RULE : LEVEL_NONE;
    }
    return LEVEL_NONE;
}

/* The most specific level at which the policy applies to the entry. */
static int policy_level(const json_t *policy, const entry_place *e)
{
    int best = LEVEL_NONE;
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(json_object_get(policy, "spec"), "targetRefs"), i, ref)
    {
        int l = target_level(ref, sl_jmeta(policy, "namespace"), e);
        if (l > best)
            best = l;
    }
    return best;
}

/* At one level: does a take precedence over b (older, then namespace/name)? */
static bool precedes(const json_t *a, const json_t *b)
{
    int t = strcmp(sl_jmeta(a, "creationTimestamp"), sl_jmeta(b, "creationTimestamp"));
    if (t)
        return t < 0;
    int n = strcmp(sl_jmeta(a, "namespace"), sl_jmeta(b, "namespace"));
    if (n)
        return n < 0;
    return strcmp(sl_jmeta(a, "name"), sl_jmeta(b, "name")) < 0;
}

static void policy_key(const json_t *policy, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", sl_jmeta(policy, "namespace"), sl_jmeta(policy, "name"));
}

/* The effect record of (policy, section): {"won": bool, "winner": "ns/name"}. */
static json_t *effect(sl_compile_ctx *c, const json_t *policy, const char *section)
{
    char key[300];
    policy_key(policy, key, sizeof(key));
    json_t *p = json_object_get(c->policy_effects, key);
    if (!p) {
        p = json_object();
        json_object_set_new(c->policy_effects, key, p);
    }
    json_t *s = json_object_get(p, section);
    if (!s) {
        s = json_pack("{s:b}", "won", 0);
        json_object_set_new(p, section, s);
    }
    return s;
}

static bool secret_data(const sl_policy_env *env, const char *name,
                        void (*fn)(const char *key, const char *value, size_t len, void *arg), void *arg)
{
    const sl_compile_ctx *c = env->compiler;
    const json_t *secret = NULL;
    size_t i;
    json_t *x;
    json_array_foreach(c->secrets, i, x) if (strcmp(sl_jmeta(x, "namespace"), env->ns) == 0 &&
                                             strcmp(sl_jmeta(x, "name"), name) == 0) secret = x;
    if (!secret)
        return false;
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get((json_t *)secret, "data"), key, value)
    {
        size_t len = 0;
        char *decoded = sl_base64_decode(json_string_value(value) ? json_string_value(value) : "", &len);
        if (decoded)
            fn(key, decoded, len, arg);
        free(decoded);
    }
    return true;
}

/* The POLICIES index of (policy, kind), compiled on first use; SL_SNAP_NONE
 * when the section cannot take effect (logged once, told in status). */
static uint32_t compiled(sl_compile_ctx *c, const json_t *policy, unsigned kind)
{
    const sl_policy_ops *ops = sl_policy_kinds[kind];
    char key[400];
    snprintf(key, sizeof(key), "%s/%s/%s", sl_jmeta(policy, "namespace"), sl_jmeta(policy, "name"), ops->section);
    const json_t *have = json_object_get(c->policy_index, key);
    if (have)
        return (uint32_t)json_integer_value(have);
    sl_snap_policy rec = {.kind = (uint16_t)kind, .phase = ops->phase};
    char source[300], why[300] = "";
    policy_key(policy, source, sizeof(source));
    rec.source = sl_sb_str(&c->b, source);
    uint32_t index = SL_SNAP_NONE;
    sl_policy_env env = {.b = &c->b, .ns = sl_jmeta(policy, "namespace"), .source = source,
                         .secret_data = secret_data, .fetched = sl_fetcher_get,
                         .redis_health = sl_redis_health, .compiler = c};
    if (ops->compile(&env, json_object_get(json_object_get(policy, "spec"), ops->section), &rec, why, sizeof(why))) {
        index = sl_sb_add(&c->b, SL_SNAP_POLICIES, &rec);
        if (why[0]) {
            sl_log_warn("compiler", "TrafficPolicy %s: %s", source, why);
            json_object_set_new(effect(c, policy, ops->section), "invalid", json_string(why));
        }
    } else {
        sl_log_warn("compiler", "TrafficPolicy %s: %s; the section has no effect", source, why);
        json_object_set_new(effect(c, policy, ops->section), "invalid", json_string(why));
    }
    json_object_set_new(c->policy_index, key, json_integer(index));
    return index;
}

/* Registry kinds in phase order (stable: registry order within a phase). */
static void kinds_by_phase(unsigned *order)
{
    unsigned n = 0;
    for (int phase = 0; phase < SL_NPHASES; phase++)
        for (unsigned k = 0; k < sl_policy_nkinds; k++)
            if (sl_policy_kinds[k]->phase == phase)
                order[n++] = k;
}

sl_snap_range sl_compile_policy_chain(sl_compile_ctx *c, const json_t *route, size_t rule_index,
                                      uint32_t listener_index)
{
    sl_snap_range none = {0, 0};
    if (json_array_size(c->trafficpolicies) == 0)
        return none;
    const sl_snap_listener *l = sl_sb_at(&c->b, SL_SNAP_LISTENERS, listener_index);
    const sl_snap_gateway *g = sl_sb_at(&c->b, SL_SNAP_GATEWAYS, l->gateway);
    const json_t *rule = json_array_get(json_object_get(json_object_get(route, "spec"), "rules"), rule_index);
    /* Copies: compiling a policy adds strings, which may move the string table. */
    char gw_ns[64], gw_name[256], listener[256];
    snprintf(gw_ns, sizeof(gw_ns), "%s", sl_compile_str(c, g->ns));
    snprintf(gw_name, sizeof(gw_name), "%s", sl_compile_str(c, g->name));
    snprintf(listener, sizeof(listener), "%s", sl_compile_str(c, l->name));
    entry_place e = {gw_ns, gw_name, listener, c->route_kind, sl_jmeta(route, "namespace"), sl_jmeta(route, "name"),
                     sl_js(rule, "name")};
    /* A TLSRoute or TCPRoute carries connections: only the kinds that apply to them. */
    bool connections = strcmp(c->route_kind, "TLSRoute") == 0 || strcmp(c->route_kind, "TCPRoute") == 0;
    unsigned order[64];
    kinds_by_phase(order);
    uint32_t links[64];
    uint32_t n = 0;
    for (unsigned oi = 0; oi < sl_policy_nkinds && oi < 64; oi++) {
        const char *section = sl_policy_kinds[order[oi]]->section;
        const json_t *best = NULL;
        int best_level = LEVEL_NONE;
        size_t i;
        json_t *p;
        json_array_foreach(c->trafficpolicies, i, p)
        {
            if (!json_object_get(json_object_get(p, "spec"), section))
                continue;
            int level = policy_level(p, &e);
            if (level == LEVEL_NONE)
                continue;
            if (level > best_level || (level == best_level && precedes(p, best))) {
                best = p;
                best_level = level;
            }
        }
        if (!best)
            continue;
        if (connections && !sl_policy_kinds[order[oi]]->connections) {
            /* (status: it reached a connection route, where it does not apply) */
            json_array_foreach(c->trafficpolicies, i, p) if (json_object_get(json_object_get(p, "spec"), section) &&
                                                             policy_level(p, &e) != LEVEL_NONE)
                json_object_set_new(effect(c, p, section), "connections", json_true());
            continue;
        }
        char winner[300];
        policy_key(best, winner, sizeof(winner));
        json_object_set_new(effect(c, best, section), "won", json_true());
        json_array_foreach(c->trafficpolicies, i, p)
        {
            if (p == best || !json_object_get(json_object_get(p, "spec"), section) || policy_level(p, &e) == LEVEL_NONE)
                continue;
            json_object_set_new(effect(c, p, section), "winner", json_string(winner));
        }
        uint32_t index = compiled(c, best, order[oi]);
        if (index == SL_SNAP_NONE)
            continue;
        links[n++] = index;
        if (sl_policy_kinds[order[oi]]->zone) {
            char key[32];
            snprintf(key, sizeof(key), "%u/%u", l->gateway, order[oi]);
            json_object_set_new(c->zone_users, key, json_pack("[I, I]", (json_int_t)l->gateway, (json_int_t)order[oi]));
        }
    }
    if (n == 0)
        return none;
    /* Entries of one rule share their chain; neighbours often have the same one. */
    uint32_t have = sl_sb_count(&c->b, SL_SNAP_POLICY_LINKS);
    if (c->last_chain.count == n) {
        bool same = true;
        for (uint32_t i = 0; i < n && same; i++)
            same = ((const sl_snap_policy_link *)sl_sb_at(&c->b, SL_SNAP_POLICY_LINKS, c->last_chain.first + i))
                       ->policy == links[i];
        if (same)
            return c->last_chain;
    }
    for (uint32_t i = 0; i < n; i++) {
        sl_snap_policy_link link = {links[i]};
        sl_sb_add(&c->b, SL_SNAP_POLICY_LINKS, &link);
    }
    c->last_chain = (sl_snap_range){have, n};
    return c->last_chain;
}

void sl_compile_policy_zones(sl_compile_ctx *c)
{
    int keep[SL_ZONES_MAX];
    int nkeep = 0;
    const char *key;
    json_t *use;
    json_object_foreach(c->zone_users, key, use)
    {
        uint32_t gi = (uint32_t)json_integer_value(json_array_get(use, 0));
        unsigned kind = (unsigned)json_integer_value(json_array_get(use, 1));
        const sl_policy_ops *ops = sl_policy_kinds[kind];
        const sl_snap_gateway *g = sl_sb_at(&c->b, SL_SNAP_GATEWAYS, gi);
        char name[120];
        snprintf(name, sizeof(name), "%s:%s/%s", ops->section, sl_compile_str(c, g->ns), sl_compile_str(c, g->name));
        int zone = sl_zone_ensure(name, ops->zone_size(), ops->zone);
        if (zone < 0)
            continue; /* logged; the kind runs without its state (each says how) */
        if (nkeep < SL_ZONES_MAX)
            keep[nkeep++] = zone;
        sl_snap_zone rec = {.gateway = gi, .kind = (uint16_t)kind, .zone = (uint32_t)zone};
        sl_sb_add(&c->b, SL_SNAP_ZONES, &rec);
    }
    /* Zones of Gateways (or kinds) that no longer use them: freed once this
     * snapshot is published (the master commits the plan), not before. */
    sl_zones_cancel_release();
    for (unsigned k = 0; k < sl_policy_nkinds; k++) {
        if (!sl_policy_kinds[k]->zone)
            continue;
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "%s:", sl_policy_kinds[k]->section);
        sl_zones_plan_release(prefix, keep, nkeep);
    }
}

const json_t *sl_compile_listener_section(sl_compile_ctx *c, const json_t *gw, const json_t *listener,
                                          const char *section)
{
    const json_t *best = NULL, *best_policy = NULL;
    int best_rank = -1;
    size_t i;
    json_t *p;
    json_array_foreach(c->trafficpolicies, i, p)
    {
        const json_t *spec = json_object_get(p, "spec");
        if (!json_object_get(spec, section) || strcmp(sl_jmeta(p, "namespace"), sl_jmeta(gw, "namespace")) != 0)
            continue;
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(spec, "targetRefs"), k, t)
        {
            const char *name = sl_js(t, "sectionName");
            if (strcmp(sl_js(t, "kind"), "Gateway") != 0 || strcmp(sl_js(t, "name"), sl_jmeta(gw, "name")) != 0 ||
                (name[0] && strcmp(name, sl_js(listener, "name")) != 0))
                continue;
            int rank = name[0] ? LEVEL_LISTENER : LEVEL_GATEWAY;
            if (rank > best_rank || (rank == best_rank && precedes(p, best_policy))) {
                best = json_object_get(spec, section);
                best_policy = p;
                best_rank = rank;
            }
        }
    }
    return best;
}

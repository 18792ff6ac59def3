/* Policy kind mcpAuthorization: which tools, prompts and resources of an MCP
 * route each caller may see and use, once authentication said who it is.
 *
 *   mcpAuthorization:
 *     defaultAction: Deny            # when no rule matches: Deny (default) | Allow
 *     rules:                         # the first rule that matches decides
 *     - action: Allow                # Allow | Deny
 *       tools: [alpha_echo, beta_get-sum]  # names as the client sees them ("*" wildcards)
 *       prompts: [...]
 *       resources: ["alpha+demo:*"]  # URIs (and URI templates) as the client sees them
 *       a2aMethods: [SendMessage]    # on an A2A route: JSON-RPC methods (workers/a2a_card.c)
 *       clientIds: [ci-bot]          # any of these clients (apiKeyAuth, basicAuth, jwt)
 *       claims:                      # JWT claims: each listed claim has one of its values
 *       - {name: groups, values: [admin]}
 *
 * A rule applies to an item when it lists the item's kind and one of its
 * patterns matches the name (a rule that lists no kind applies to every item),
 * and its clientIds and claims, when given, hold. The MCP gateway asks for each
 * entry of a list it answers (a denied one is not listed) and for each call (a
 * denied one gets the answer an unknown name gets): workers/mcp_gateway.c. On
 * the request itself the kind only records that it is in force.
 *
 * Compiled: three items per rule: {flags = 1 for Allow, a = tools, b =
 * prompts, num = the kinds it lists (bit per sl_mcp_item_kind)}, {a =
 * resources, b = clientIds}, {a = a2aMethods, b = claims}; lists one per line.
 * num[0] = 1 when the default is Allow. */
#include <string.h>

#include "daemon/compile_values.h"
#include "workers/conn.h"
#include "workers/mcp.h"
#include "workers/policy.h"

#define ALLOW 1
#define ITEMS_PER_RULE 3

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    const char *def = json_string_value(json_object_get(section, "defaultAction"));
    rec->num[0] = def && strcmp(def, "Allow") == 0;
    rec->items.first = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(section, "rules"), i, r)
    {
        const char *action = json_string_value(json_object_get(r, "action"));
        sl_snap_policy_item names = {.flags = action && strcmp(action, "Allow") == 0 ? ALLOW : 0};
        names.a = sl_compile_join_lines(env->b, json_object_get(r, "tools"));
        names.b = sl_compile_join_lines(env->b, json_object_get(r, "prompts"));
        sl_snap_policy_item who = {0}, claims = {0};
        who.a = sl_compile_join_lines(env->b, json_object_get(r, "resources"));
        who.b = sl_compile_join_lines(env->b, json_object_get(r, "clientIds"));
        claims.b = sl_authz_compile_claims(env->b, json_object_get(r, "claims"));
        claims.a = sl_compile_join_lines(env->b, json_object_get(r, "a2aMethods"));
        /* A kind the rule does not list is marked, so "lists no kind" is known at a glance. */
        names.num = json_object_get(r, "tools") ? 1 : 0;
        names.num |= json_object_get(r, "prompts") ? 2 : 0;
        names.num |= json_object_get(r, "resources") ? 4 : 0;
        names.num |= json_object_get(r, "a2aMethods") ? 8 : 0;
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &names);
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &who);
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &claims);
    }
    rec->items.count = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS) - rec->items.first;
    return true;
}

static bool check(const sl_snapshot *s, const sl_snap_policy *p)
{
    (void)s;
    return p->items.count % ITEMS_PER_RULE == 0;
}

bool sl_mcp_allowed(const sl_conn *c, sl_mcp_item_kind kind, const char *name)
{
    const sl_snap_policy *p = c->mcp_authz;
    if (!p)
        return true;
    const sl_snapshot *s = &c->snap->s;
    for (uint32_t i = 0; i + ITEMS_PER_RULE <= p->items.count; i += ITEMS_PER_RULE) {
        const sl_snap_policy_item *names = SL_SNAP_GET(s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, p->items.first + i);
        const sl_snap_policy_item *who = names + 1, *claims = names + 2;
        if (names->num) {
            sl_snap_str list = kind == SL_MCP_TOOL     ? names->a
                               : kind == SL_MCP_PROMPT ? names->b
                               : kind == SL_MCP_RESOURCE ? who->a
                                                       : claims->a;
            if (!(names->num & (1u << kind)) ||
                !sl_mcp_listed(sl_slice_make(sl_snap_cstr(s, list), list.len), name))
                continue;
        }
        if (who->b.len && (!c->client_id[0] || !sl_line_listed(sl_snap_cstr(s, who->b),
                                                               sl_slice_from_cstr(c->client_id), false)))
            continue;
        if (claims->b.len && !sl_authz_claims_match(c, sl_snap_cstr(s, claims->b)))
            continue;
        return names->flags & ALLOW;
    }
    return p->num[0] != 0;
}

/* Only recorded here: the MCP gateway applies it to what it lists and calls. */
static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    c->mcp_authz = p;
    return SL_POLICY_NEXT;
}

const sl_policy_ops sl_policy_mcp_authorization = {
    .section = "mcpAuthorization",
    .phase = SL_PHASE_ACCESS,
    .compile = compile,
    .check = check,
    .on_request = on_request,
};

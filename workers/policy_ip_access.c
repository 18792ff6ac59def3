/* Policy kind ipAccess: who may call, by client address.
 *
 *   ipAccess: {allow: [CIDR...], deny: [CIDR...]}
 *
 * A client in a deny range is refused; otherwise, when allow lists anything,
 * a client outside every allow range is refused; otherwise it passes. So deny
 * carves holes into allow ("allow 10.0.0.0/8, deny 10.9.0.0/16"), and a list
 * of deny ranges alone refuses only those. Refused: 403, logged at info with
 * the policy's name (the client is not told which policy). A passed-through
 * connection (TLS, TCP) that is refused is closed before any upstream is
 * reached (its access log line has 403).
 *
 * Compiled: one item per CIDR (flags 1: allow, 0: deny), num[0] = how many
 * allow ranges there are. The address is the TCP peer's. */
#include <stdio.h>
#include <string.h>

#include "common/cidr.h"
#include "common/log.h"
#include "workers/conn.h"
#include "workers/policy.h"

#define ALLOW 1

static bool add_ranges(sl_snap_builder *b, const json_t *list, uint8_t flags, char *why, size_t whylen)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
    {
        sl_snap_policy_item it = {.flags = flags};
        if (!json_is_string(x) || !sl_cidr_parse(json_string_value(x), &it.family, it.addr, &it.prefix)) {
            snprintf(why, whylen, "ipAccess: %s is not a CIDR", json_is_string(x) ? json_string_value(x) : "(not a string)");
            return false;
        }
        sl_sb_add(b, SL_SNAP_POLICY_ITEMS, &it);
    }
    return true;
}

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    sl_snap_builder *b = env->b;
    rec->items.first = sl_sb_count(b, SL_SNAP_POLICY_ITEMS);
    const json_t *allow = json_object_get(section, "allow");
    if (!add_ranges(b, allow, ALLOW, why, whylen) || !add_ranges(b, json_object_get(section, "deny"), 0, why, whylen))
        return false;
    rec->items.count = sl_sb_count(b, SL_SNAP_POLICY_ITEMS) - rec->items.first;
    rec->num[0] = json_array_size(allow);
    return true;
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    const sl_snapshot *s = &c->snap->s;
    bool allowed = p->num[0] == 0;
    for (uint32_t i = 0; i < p->items.count; i++) {
        const sl_snap_policy_item *it = SL_SNAP_GET(s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, p->items.first + i);
        if (!sl_cidr_contains(it->family, it->addr, it->prefix, &c->client))
            continue;
        if (!(it->flags & ALLOW)) {
            allowed = false;
            break;
        }
        allowed = true;
    }
    if (allowed)
        return SL_POLICY_NEXT;
    sl_log_info("policy", "client %s refused by the ipAccess of TrafficPolicy %s", c->peer, sl_snap_cstr(s, p->source));
    sl_conn_respond(c, 403, "access denied\n", false);
    return SL_POLICY_ANSWERED;
}

const sl_policy_ops sl_policy_ip_access = {
    .section = "ipAccess",
    .phase = SL_PHASE_ACCESS,
    .connections = true, /* who may connect to a TCP or TLS passthrough listener, too */
    .compile = compile,
    .on_request = on_request,
};

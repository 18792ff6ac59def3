/* Policy kind mcpRateLimit: how often a client may call each tool of an MCP
 * route, counted across every worker of the Gateway.
 *
 *   mcpRateLimit: {requests: 10, unit: Minute, burst: 5, key: ClientId,
 *                  tools: ["search_*"]}    # the tools it counts (names as clients see them); default all
 *
 * rateLimit's token bucket (policy_rate_limit.c), one per (policy, client key,
 * tool): a client that calls search_web ten times a minute may still call
 * search_news. The key is rateLimit's (ClientIP, Header, ClientId, Claim,
 * Route), read when the request is routed; scope is Local only. A tools/call
 * without a token gets 429 with Retry-After and a JSON-RPC error (the MCP
 * gateway asks: sl_mcp_rate_limit). On the request itself the kind only
 * records its key.
 *
 * Compiled: as rateLimit (num[], a, flags), b = tools (one glob per line). */
#include <string.h>

#include "common/zones.h"
#include "daemon/compile_values.h"
#include "workers/conn.h"
#include "workers/limit_table.h"
#include "workers/mcp.h"
#include "workers/policy.h"
#include "workers/rate_limit.h"

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    if (!sl_rate_limit_compile(env, section, rec, why, whylen))
        return false;
    rec->flags &= (uint8_t)~SL_RATE_LIMIT_GLOBAL; /* (the validator refuses scope Global) */
    rec->b = sl_compile_join_lines(env->b, json_object_get(section, "tools"));
    return true;
}

static const sl_zone_kind mcp_rate_zone = {"mcpRateLimit", sl_limit_table_init};

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    c->mcp_rl = p;
    c->mcp_rl_key = sl_rate_limit_bucket_key(c, p); /* (the request's head is the worker's only now) */
    return SL_POLICY_NEXT;
}

uint64_t sl_mcp_rate_limit(sl_conn *c, const char *tool)
{
    const sl_snap_policy *p = c->mcp_rl;
    if (!p)
        return 0;
    const sl_snapshot *s = &c->snap->s;
    if (p->b.len && !sl_mcp_listed(sl_slice_make(sl_snap_cstr(s, p->b), p->b.len), tool))
        return 0;
    sl_limit_table *t = c->snap->zones[p->kind];
    if (!t || !t->nslots)
        return 0; /* no zone (the arena is full: logged by the master) */
    uint64_t left, full_in_ms;
    return sl_rate_limit_take(t, sl_limit_hash(c->mcp_rl_key, tool, strlen(tool)) | 1, p, &left, &full_in_ms);
}

const sl_policy_ops sl_policy_mcp_rate_limit = {
    .section = "mcpRateLimit",
    .phase = SL_PHASE_LIMIT,
    .compile = compile,
    .on_request = on_request,
    .zone = &mcp_rate_zone,
    .zone_size = sl_limit_table_size,
};

/* Policy kind headers: request and response header modifiers for every route
 * the policy covers.
 *
 *   headers:
 *     request:  {set: [{name, value}], add: [{name, value}], remove: [name]}
 *     response: {set: [...], add: [...], remove: [...]}
 *
 * The same operations as HTTPRoute's RequestHeaderModifier and
 * ResponseHeaderModifier, applied to the header names that the route's own
 * modifiers (its rule's and backendRef's) leave alone: per name, the route
 * wins. Response modifiers apply to responses from the upstream, not to
 * answers the gateway gives itself (403, 429, 504...).
 *
 * Compiled: FILTERS records of the header filter types (one per operation);
 * u[0], u[1]: the request range (first, count); u[2], u[3]: the response range. */
#include <string.h>

#include "daemon/compile_values.h"
#include "workers/conn.h"
#include "workers/policy.h"

static void add_filter(const sl_snap_filter *f, void *b) { sl_sb_add(b, SL_SNAP_FILTERS, f); }

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    sl_snap_builder *b = env->b;
    (void)why;
    (void)whylen;
    rec->u[0] = sl_sb_count(b, SL_SNAP_FILTERS);
    sl_compile_header_ops(b, json_object_get(section, "request"), SL_FILTER_REQUEST_HEADER, add_filter, b);
    rec->u[1] = sl_sb_count(b, SL_SNAP_FILTERS) - rec->u[0];
    rec->u[2] = sl_sb_count(b, SL_SNAP_FILTERS);
    sl_compile_header_ops(b, json_object_get(section, "response"), SL_FILTER_RESPONSE_HEADER, add_filter, b);
    rec->u[3] = sl_sb_count(b, SL_SNAP_FILTERS) - rec->u[2];
    return true;
}

/* The ranges are numbers to the verifier: they must lie in FILTERS and hold
 * header filters only. */
static bool check(const sl_snapshot *s, const sl_snap_policy *p)
{
    uint32_t n = sl_snap_count(s, SL_SNAP_FILTERS);
    for (int r = 0; r < 2; r++) {
        uint64_t first = p->u[2 * r], count = p->u[2 * r + 1];
        if (first + count > n)
            return false;
        for (uint64_t i = 0; i < count; i++) {
            const sl_snap_filter *f = SL_SNAP_GET(s, SL_SNAP_FILTERS, sl_snap_filter, first + i);
            if (f->type != (r ? SL_FILTER_RESPONSE_HEADER : SL_FILTER_REQUEST_HEADER))
                return false;
        }
    }
    return true;
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    c->policy_req_headers = (sl_snap_range){p->u[0], p->u[1]};
    c->policy_res_headers = (sl_snap_range){p->u[2], p->u[3]};
    return SL_POLICY_NEXT;
}

const sl_policy_ops sl_policy_headers = {
    .section = "headers",
    .phase = SL_PHASE_REQUEST,
    .compile = compile,
    .check = check,
    .on_request = on_request,
};

/* Policy kind timeouts: how long a request may take where its route rule does
 * not say.
 *
 *   timeouts: {request: 30s, idle: 5m}
 *
 * request: the whole request, from its first byte to the response head (504
 * after), as an HTTPRoute rule's timeouts.request, which wins when set. idle:
 * how long the upstream may stay silent while the request waits for it, for
 * this route instead of --response-timeout (504 after; a rule's
 * timeouts.backendRequest still bounds each attempt when shorter).
 *
 * Compiled: u[0] request ms, u[1] idle ms (0: not set). */
#include "daemon/compile_values.h"
#include "workers/conn.h"
#include "workers/policy.h"

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    (void)env;
    (void)why;
    (void)whylen;
    rec->u[0] = sl_duration_ms(json_string_value(json_object_get(section, "request")));
    rec->u[1] = sl_duration_ms(json_string_value(json_object_get(section, "idle")));
    return true;
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    if (!c->request_timeout_ms && p->u[0])
        c->request_timeout_ms = p->u[0];
    if (p->u[1])
        c->idle_timeout_ms = p->u[1];
    return SL_POLICY_NEXT;
}

const sl_policy_ops sl_policy_timeouts = {
    .section = "timeouts",
    .phase = SL_PHASE_UPSTREAM,
    .compile = compile,
    .on_request = on_request,
};

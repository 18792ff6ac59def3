/* Policy kind retry: retries where the route rule has no retry of its own.
 *
 *   retry: {attempts: 2, codes: [502, 503], backoff: 250ms}
 *
 * The same semantics as an HTTPRoute rule's retry (proxy.c): an attempt that
 * answered one of the codes, or could not connect, is tried again on the next
 * endpoint after the backoff, up to `attempts` more times, when the request
 * body is still at hand. A rule that sets retry (attempts above zero) keeps
 * its own.
 *
 * Compiled: u[0] attempts, u[1] backoff ms, num[0..3] the codes as a bit set
 * (bit code - 400). */
#include "daemon/compile_values.h"
#include "workers/conn.h"
#include "workers/policy.h"

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    (void)env;
    (void)why;
    (void)whylen;
    json_int_t attempts = json_integer_value(json_object_get(section, "attempts"));
    rec->u[0] = attempts > 0 ? (uint32_t)attempts : 0;
    rec->u[1] = sl_duration_ms(json_string_value(json_object_get(section, "backoff")));
    sl_status_code_bits(json_object_get(section, "codes"), rec->num);
    return true;
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    if (c->action->retry_attempts)
        return SL_POLICY_NEXT; /* the rule's own */
    c->retries_left = p->u[0];
    c->retry_codes = p->num;
    c->retry_backoff_ms = p->u[1];
    return SL_POLICY_NEXT;
}

const sl_policy_ops sl_policy_retry = {
    .section = "retry",
    .phase = SL_PHASE_UPSTREAM,
    .compile = compile,
    .on_request = on_request,
};

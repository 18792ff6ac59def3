/* Policy kind bodyLimit: the largest request body a route takes.
 *
 *   bodyLimit: {maxRequestBytes: 1048576}
 *
 * A request that announces a larger body (Content-Length) gets 413 at once,
 * before any of it is read (and before a 100 Continue), and the connection
 * closes; a chunked (or HTTP/2) body is counted as it passes (the request body
 * hook: de-chunked bytes) and, once it goes over, the upstream request is
 * abandoned (none of the excess reaches it) and the client gets 413 and a
 * closed connection. 0 allows no body at all.
 *
 * Compiled: num[0] = maxRequestBytes. */
#include "common/log.h"
#include "workers/conn.h"
#include "workers/policy.h"

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    (void)env;
    (void)why;
    (void)whylen;
    json_int_t max = json_integer_value(json_object_get(section, "maxRequestBytes"));
    rec->num[0] = max > 0 ? (uint64_t)max : 0;
    return true;
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    uint64_t max = p->num[0];
    bool has_body = c->req_body.kind != SL_BODY_NONE && !(c->req_body.kind == SL_BODY_LENGTH && !c->req_body.remaining);
    if ((c->req_body.kind == SL_BODY_LENGTH && c->req_body.remaining > max) || (max == 0 && has_body)) {
        sl_log_info("policy", "client %s: request body over the bodyLimit of TrafficPolicy %s (%llu bytes)", c->peer,
                    sl_snap_cstr(&c->snap->s, p->source), (unsigned long long)max);
        c->req_body.done = true; /* not read: the connection closes after the answer */
        sl_conn_respond(c, 413, "request body too large\n", true);
        return SL_POLICY_ANSWERED;
    }
    return SL_POLICY_NEXT; /* chunked and HTTP/2 bodies: counted as they pass */
}

static int on_request_body(sl_conn *c, const sl_snap_policy *p, sl_slice data, uint64_t offset, bool last)
{
    (void)last;
    if (offset + data.len <= p->num[0])
        return 0;
    sl_log_info("policy", "client %s: request body over the bodyLimit of TrafficPolicy %s (%llu bytes)", c->peer,
                sl_snap_cstr(&c->snap->s, p->source), (unsigned long long)p->num[0]);
    return 413;
}

const sl_policy_ops sl_policy_body_limit = {
    .section = "bodyLimit",
    .phase = SL_PHASE_LIMIT,
    .compile = compile,
    .on_request = on_request,
    .on_request_body = on_request_body,
};

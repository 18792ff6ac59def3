/* Policy kind cors: the HTTPRoute CORS filter's behaviour for every route the
 * policy covers that has no CORS filter of its own (the route's wins).
 *
 *   cors: {allowOrigins: [https://app.example.com], allowMethods: [GET, POST],
 *          allowHeaders: [Authorization], exposeHeaders: [X-Request-Id],
 *          allowCredentials: true, maxAge: 600}
 *
 * Preflights (OPTIONS with Access-Control-Request-Method) are answered by the
 * gateway (filter_cors.c: the CORS fields when the origin is allowed); they
 * are answered in the access phase before any authentication, since browsers
 * send preflights without credentials (the route's own CORS filter is served
 * as early: proxy.c). Responses to allowed origins get the CORS fields.
 *
 * Compiled: one CORS filter record in FILTERS; u[0] = its index. */
#include "daemon/compile_values.h"
#include "workers/conn.h"
#include "workers/filters.h"
#include "workers/policy.h"

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    sl_snap_filter f = sl_compile_cors(env->b, section);
    rec->u[0] = sl_sb_add(env->b, SL_SNAP_FILTERS, &f);
    return true;
}

static bool check(const sl_snapshot *s, const sl_snap_policy *p)
{
    return p->u[0] < sl_snap_count(s, SL_SNAP_FILTERS) &&
           SL_SNAP_GET(s, SL_SNAP_FILTERS, sl_snap_filter, p->u[0])->type == SL_FILTER_CORS;
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    const sl_snapshot *s = &c->snap->s;
    if (sl_filter_find(s, c->action->filters, SL_FILTER_CORS))
        return SL_POLICY_NEXT; /* the route's own CORS filter wins */
    c->policy_cors = SL_SNAP_GET(s, SL_SNAP_FILTERS, sl_snap_filter, p->u[0]);
    return sl_cors_preflight(c, c->policy_cors) ? SL_POLICY_ANSWERED : SL_POLICY_NEXT;
}

const sl_policy_ops sl_policy_cors = {
    .section = "cors",
    .phase = SL_PHASE_ACCESS, /* registered before the authentication kinds */
    .compile = compile,
    .check = check,
    .on_request = on_request,
};

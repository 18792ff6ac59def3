/* OAuth 2.0 Protected Resource Metadata (RFC 9728) for MCP routes that a jwt
 * policy protects, as MCP's authorization specification asks: a client that
 * gets 401 learns from the challenge where the metadata is, and from the
 * metadata which authorization server issues tokens for this resource.
 *
 *   401 ... WWW-Authenticate: Bearer realm="sluice", resource_metadata=
 *           "<scheme>://<host>/.well-known/oauth-protected-resource<path>"
 *   GET /.well-known/oauth-protected-resource<path>   (no token needed)
 *   200 {"resource": "<scheme>://<host><path>", "authorization_servers": [the
 *        jwt providers' issuers], "bearer_methods_supported": ["header"]}
 *
 * <path> is the MCP endpoint's path; the document is answered when that path
 * routes (same listener, host) to a Backend of type MCP whose route has a jwt
 * policy, before any route that would take the well-known path itself. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "workers/conn.h"
#include "workers/mcp.h"
#include "workers/policy.h"
#include "workers/router.h"

#define WELL_KNOWN "/.well-known/oauth-protected-resource"

static bool is_mcp_route(const sl_snapshot *s, const sl_snap_route *route)
{
    if (route->kind != SL_ROUTE_HTTP)
        return false;
    const sl_snap_action *a = SL_SNAP_GET(s, SL_SNAP_ACTIONS, sl_snap_action, route->action);
    for (uint32_t i = 0; i < a->backend_refs.count; i++) {
        const sl_snap_backend_ref *r = SL_SNAP_GET(s, SL_SNAP_BACKEND_REFS, sl_snap_backend_ref, a->backend_refs.first + i);
        if (r->backend != SL_SNAP_NONE &&
            SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, r->backend)->mcp_targets.count)
            return true;
    }
    return false;
}

/* The route's jwt policy, or NULL. */
static const sl_snap_policy *jwt_of(const sl_snapshot *s, const sl_snap_route *route)
{
    static int jwt = -2;
    if (jwt == -2)
        jwt = sl_policy_kind_of("jwt");
    for (uint32_t i = 0; i < route->policies.count; i++) {
        const sl_snap_policy_link *l = SL_SNAP_GET(s, SL_SNAP_POLICY_LINKS, sl_snap_policy_link, route->policies.first + i);
        const sl_snap_policy *p = SL_SNAP_GET(s, SL_SNAP_POLICIES, sl_snap_policy, l->policy);
        if ((int)p->kind == jwt)
            return p;
    }
    return NULL;
}

/* "<scheme>://<host>" of the request. */
static void origin_of(const sl_conn *c, sl_slice host, char *out, size_t cap)
{
    snprintf(out, cap, "%s://%.*s", c->secure ? "https" : "http", (int)(host.len < 256 ? host.len : 256), host.ptr);
}

bool sl_mcp_oauth_metadata(sl_conn *c, const sl_route_request *rr, uint32_t port_index)
{
    size_t wl = strlen(WELL_KNOWN);
    if (rr->path.len < wl || memcmp(rr->path.ptr, WELL_KNOWN, wl) != 0 ||
        (rr->path.len > wl && rr->path.ptr[wl] != '/') || !sl_slice_eq_cstr(rr->method, "GET"))
        return false;
    sl_route_request inner = *rr;
    inner.path = rr->path.len > wl ? sl_slice_make(rr->path.ptr + wl, rr->path.len - wl) : sl_slice_from_cstr("/");
    inner.query = sl_slice_make(NULL, 0);
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_route *route = NULL;
    if (sl_router_lookup(s, c->snap->regex, port_index, &inner, &route) != SL_ROUTE_FOUND || !route ||
        !is_mcp_route(s, route))
        return false;
    const sl_snap_policy *jwt = jwt_of(s, route);
    if (!jwt)
        return false;
    char origin[300], resource[2400];
    origin_of(c, c->w->req.host, origin, sizeof(origin));
    snprintf(resource, sizeof(resource), "%s%.*s", origin, (int)(inner.path.len < 2048 ? inner.path.len : 2048),
             inner.path.ptr);
    json_t *servers = json_array();
    for (uint32_t i = 0; i < jwt->items.count;) {
        const sl_snap_policy_item *h = SL_SNAP_GET(s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, jwt->items.first + i);
        if (h->b.len)
            json_array_append_new(servers, json_string(sl_snap_cstr(s, h->b)));
        i += 1 + h->num; /* (the layout policy_jwt.c's check verified) */
    }
    json_t *doc = json_pack("{s:s, s:o, s:[s], s:s}", "resource", resource, "authorization_servers", servers,
                            "bearer_methods_supported", "header", "resource_name",
                            sl_snap_cstr(s, route->route_name));
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    snprintf(c->log_upstream, sizeof(c->log_upstream), "mcp-oauth");
    if (!text) {
        sl_conn_respond(c, 503, "out of memory\n", false);
        return true;
    }
    sl_conn_respond_raw(c, 200, "Content-Type: application/json\r\nCache-Control: max-age=300\r\n", text, strlen(text));
    free(text);
    return true;
}

bool sl_mcp_oauth_challenge(const sl_conn *c, char *out, size_t cap)
{
    if (!c->route || !is_mcp_route(&c->snap->s, c->route))
        return false;
    const sl_http1_request *req = &c->w->req;
    char origin[300];
    origin_of(c, req->host, origin, sizeof(origin));
    /* The path goes into a quoted string: a quote or a backslash in it (a strange path) leaves the parameter out. */
    if (memchr(req->path.ptr, '"', req->path.len) || memchr(req->path.ptr, '\\', req->path.len))
        return false;
    int n = snprintf(out, cap, ", resource_metadata=\"%s%s%.*s\"", origin, WELL_KNOWN,
                     (int)(req->path.len < 2048 ? req->path.len : 2048), req->path.ptr);
    return n > 0 && (size_t)n < cap;
}

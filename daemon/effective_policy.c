/* /debug/effective-policy: the policies in force on a route, read from the
 * snapshot the workers run (so it shows what traffic meets, not what the store
 * says should happen). One entry per Gateway, listener and rule that the route
 * serves, with its chain: each section, its phase and the TrafficPolicy it
 * came from (the most specific attachment, or the older policy at one level). */
#include <stdio.h>
#include <string.h>

#include "daemon/snapshot_render.h"

/* Is there already an entry for this listener and rule? */
static bool have_entry(const json_t *entries, uint32_t listener, uint32_t rule)
{
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) if (json_integer_value(json_object_get(e, "_listener")) == listener &&
                                          json_integer_value(json_object_get(e, "rule")) == rule) return true;
    return false;
}

json_t *sl_snapshot_effective_policy(const sl_snapshot *s, const char *kind, const char *ns, const char *name)
{
    uint8_t want = strcmp(kind, "GRPCRoute") == 0 ? SL_ROUTE_GRPC : SL_ROUTE_HTTP;
    json_t *entries = json_array();
    for (uint32_t vi = 0; vi < sl_snap_count(s, SL_SNAP_VHOSTS); vi++) {
        const sl_snap_vhost *v = SL_SNAP_GET(s, SL_SNAP_VHOSTS, sl_snap_vhost, vi);
        for (uint32_t ri = 0; ri < v->routes.count; ri++) {
            const sl_snap_route *r = SL_SNAP_GET(s, SL_SNAP_ROUTES, sl_snap_route, v->routes.first + ri);
            if (r->kind != want || strcmp(sl_snap_cstr(s, r->route_ns), ns) != 0 ||
                strcmp(sl_snap_cstr(s, r->route_name), name) != 0 || have_entry(entries, v->listener, r->rule_index))
                continue;
            const sl_snap_listener *l = SL_SNAP_GET(s, SL_SNAP_LISTENERS, sl_snap_listener, v->listener);
            const sl_snap_gateway *g = SL_SNAP_GET(s, SL_SNAP_GATEWAYS, sl_snap_gateway, l->gateway);
            char gw[400];
            snprintf(gw, sizeof(gw), "%s/%s", sl_snap_cstr(s, g->ns), sl_snap_cstr(s, g->name));
            json_array_append_new(entries, json_pack("{s:I, s:s, s:s, s:I, s:o}", "_listener", (json_int_t)v->listener,
                                                     "gateway", gw, "listener", sl_snap_cstr(s, l->name), "rule",
                                                     (json_int_t)r->rule_index, "policies",
                                                     sl_snapshot_render_chain(s, r->policies)));
        }
    }
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) json_object_del(e, "_listener");
    return json_pack("{s:s, s:s, s:s, s:I, s:o}", "kind", kind, "namespace", ns, "name", name, "generation",
                     (json_int_t)sl_snap_hdr(s)->generation, "attachments", entries);
}

/* Compiler, part 2: which listeners each HTTPRoute attaches to (parentRefs,
 * allowedRoutes, hostname intersection), and the route entries of every virtual
 * host in the Gateway API's precedence order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "daemon/compiler_internal.h"
#include "daemon/controller.h"
#include "daemon/gateway_rules.h"
#include "daemon/objects.h"
#include "daemon/series_ids.h"

#define GW_GROUP "gateway.networking.k8s.io"

/* ---- hostnames ---- */

/* True when `host` (exact) is matched by `pattern` ("*.example.com" matches any
 * name with one or more labels before ".example.com"). */
static bool wildcard_matches(const char *pattern, const char *host)
{
    if (strncmp(pattern, "*.", 2) != 0)
        return strcasecmp(pattern, host) == 0;
    const char *suffix = pattern + 1; /* ".example.com" */
    size_t hl = strlen(host), sl = strlen(suffix);
    return hl > sl && strcasecmp(host + hl - sl, suffix) == 0;
}

/* The intersection of a listener hostname and a route hostname, per the
 * Gateway API: writes the more specific of the two into out and returns true when
 * they intersect. An empty listener hostname matches everything. */
static bool intersect_hostnames(const char *listener, const char *route, char *out, size_t outlen)
{
    if (!listener[0]) {
        snprintf(out, outlen, "%s", route);
        return true;
    }
    if (!route[0]) {
        snprintf(out, outlen, "%s", listener);
        return true;
    }
    bool lw = strncmp(listener, "*.", 2) == 0, rw = strncmp(route, "*.", 2) == 0;
    if (!lw && !rw) {
        if (strcasecmp(listener, route) != 0)
            return false;
        snprintf(out, outlen, "%s", route);
        return true;
    }
    if (lw && !rw) {
        if (!wildcard_matches(listener, route))
            return false;
        snprintf(out, outlen, "%s", route);
        return true;
    }
    if (!lw && rw) {
        if (!wildcard_matches(route, listener))
            return false;
        snprintf(out, outlen, "%s", listener);
        return true;
    }
    /* Both wildcards: the longer (more specific) one, if one contains the other. */
    const char *longer = strlen(listener) >= strlen(route) ? listener : route;
    const char *shorter = longer == listener ? route : listener;
    if (strcasecmp(longer, shorter) != 0 && !wildcard_matches(shorter, longer + 2))
        return false;
    snprintf(out, outlen, "%s", longer);
    return true;
}

/* ---- attachment ---- */

static const json_t *find_namespace(sl_compile_ctx *c, const char *name)
{
    size_t i;
    json_t *ns;
    json_array_foreach(c->namespaces, i, ns) if (strcmp(sl_jmeta(ns, "name"), name) == 0) return ns;
    return NULL;
}

/* A namespace's label `key`, NULL when it has none. SL_NAMESPACE_NAME_LABEL is
 * always the name: the admin API sets it on every write, and a Namespace stored
 * by an older sluiced (without it) must match as one stored today does. */
static const char *namespace_label(const json_t *ns, const char *key)
{
    if (strcmp(key, SL_NAMESPACE_NAME_LABEL) == 0)
        return sl_jmeta(ns, "name");
    return json_string_value(json_object_get(json_object_get(json_object_get(ns, "metadata"), "labels"), key));
}

/* matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist) of a
 * LabelSelector against a namespace's labels. */
static bool selector_matches(const json_t *selector, const json_t *ns)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(selector, "matchLabels"), k, v)
    {
        const char *have = namespace_label(ns, k);
        if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
            return false;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(selector, "matchExpressions"), i, e)
    {
        const char *key = sl_js(e, "key"), *op = sl_js(e, "operator");
        const char *have = namespace_label(ns, key);
        bool in = false;
        size_t j;
        json_t *val;
        json_array_foreach(json_object_get(e, "values"), j, val) if (have && json_is_string(val) &&
                                                                    strcmp(json_string_value(val), have) == 0)
            in = true;
        if ((strcmp(op, "In") == 0 && !in) || (strcmp(op, "NotIn") == 0 && in) ||
            (strcmp(op, "Exists") == 0 && !have) || (strcmp(op, "DoesNotExist") == 0 && have))
            return false;
    }
    return true;
}

/* Does the listener's allowedRoutes admit a route of c->route_kind from namespace route_ns? */
static bool listener_allows(sl_compile_ctx *c, const json_t *listener, const char *gw_ns, const char *route_ns)
{
    const json_t *allowed = json_object_get(listener, "allowedRoutes");
    if (!sl_listener_supports_kind(listener, c->route_kind))
        return false;
    const json_t *namespaces = json_object_get(allowed, "namespaces");
    const char *from = sl_js(namespaces, "from");
    if (!from[0] || strcmp(from, "Same") == 0)
        return strcmp(gw_ns, route_ns) == 0;
    if (strcmp(from, "All") == 0)
        return true;
    if (strcmp(from, "Selector") == 0) {
        const json_t *ns = find_namespace(c, route_ns);
        return ns && selector_matches(json_object_get(namespaces, "selector"), ns);
    }
    return false;
}

static void lowercase(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* The vhost of `host` among the routes of the listeners named `group` (their
 * hostname) on a port: listeners are isolated from one another, so the same host
 * served by two listeners is two vhosts. `listener` is recorded when the vhost is
 * made (the first listener of the group to serve it). */
static pending_vhost *vhost_for(sl_compile_ctx *c, uint32_t port, uint32_t listener, const char *group,
                                const char *host)
{
    for (size_t i = 0; i < c->nvhosts; i++)
        if (c->vhosts[i].port == port && strcasecmp(c->vhosts[i].host, host) == 0 &&
            strcasecmp(c->vhosts[i].group, group) == 0)
            return &c->vhosts[i];
    if (c->nvhosts == c->vhosts_cap) {
        c->vhosts_cap = c->vhosts_cap ? c->vhosts_cap * 2 : 16;
        c->vhosts = realloc(c->vhosts, c->vhosts_cap * sizeof(*c->vhosts));
        if (!c->vhosts)
            abort();
    }
    pending_vhost *v = &c->vhosts[c->nvhosts++];
    memset(v, 0, sizeof(*v));
    v->port = port;
    v->listener = listener;
    snprintf(v->host, sizeof(v->host), "%s", host);
    snprintf(v->group, sizeof(v->group), "%s", group);
    lowercase(v->host);
    lowercase(v->group);
    return v;
}

/* The PORTS indexes of the listener's port number on every address the Gateway
 * binds (at most max); none for a listener without a socket. */
static size_t listener_ports(sl_compile_ctx *c, const sl_snap_listener *l, uint32_t *ports, size_t max)
{
    if (l->port_index == SL_SNAP_NONE)
        return 0;
    const sl_snap_gateway *g = sl_sb_at(&c->b, SL_SNAP_GATEWAYS, l->gateway);
    uint16_t port_number = ((const sl_snap_port *)sl_sb_at(&c->b, SL_SNAP_PORTS, l->port_index))->port;
    size_t n = 0;
    for (uint32_t p = g->ports.first; p < g->ports.first + g->ports.count && n < max; p++)
        if (((const sl_snap_port *)sl_sb_at(&c->b, SL_SNAP_PORTS, p))->port == port_number)
            ports[n++] = p;
    return n;
}

static void vhost_push(pending_vhost *v, const pending_route *r)
{
    if (v->nroutes == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->routes = realloc(v->routes, v->cap * sizeof(*v->routes));
        if (!v->routes)
            abort();
    }
    v->routes[v->nroutes++] = *r;
}

static uint32_t add_matches(sl_compile_ctx *c, const json_t *list, uint32_t *count)
{
    uint32_t first = sl_sb_count(&c->b, SL_SNAP_HEADER_MATCHES);
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m)
    {
        sl_snap_header_match rec = {
            .type = strcmp(sl_js(m, "type"), "RegularExpression") == 0 ? SL_MATCH_REGEX : SL_MATCH_EXACT,
            .name = sl_sb_str(&c->b, sl_js(m, "name")),
            .value = sl_sb_str(&c->b, sl_js(m, "value")),
        };
        sl_sb_add(&c->b, SL_SNAP_HEADER_MATCHES, &rec);
    }
    *count = (uint32_t)json_array_size(list);
    return first;
}

/* A GRPCRoute method match as a path match: gRPC calls are POST /Service/Method.
 * Exact service and method give an exact path, a service alone a prefix, and
 * anything with a regular expression (or a method alone) an anchored regex. */
static void grpc_path(const json_t *m, char *out, size_t outlen, uint8_t *type)
{
    const json_t *method = json_object_get(m, "method");
    const char *svc = sl_js(method, "service"), *meth = sl_js(method, "method");
    bool regex = strcmp(sl_js(method, "type"), "RegularExpression") == 0;
    if (!method || (!svc[0] && !meth[0])) {
        snprintf(out, outlen, "/");
        *type = SL_PATH_PREFIX;
    } else if (!regex && svc[0] && meth[0]) {
        snprintf(out, outlen, "/%s/%s", svc, meth);
        *type = SL_PATH_EXACT;
    } else if (!regex && svc[0]) {
        snprintf(out, outlen, "/%s/", svc);
        *type = SL_PATH_PREFIX;
    } else {
        /* Exact parts are quoted (\Q...\E) inside the expression. */
        snprintf(out, outlen, "/%s%s%s/%s%s%s", svc[0] && !regex ? "\\Q" : "", svc[0] ? svc : "[^/]+",
                 svc[0] && !regex ? "\\E" : "", meth[0] && !regex ? "\\Q" : "", meth[0] ? meth : "[^/]+",
                 meth[0] && !regex ? "\\E" : "");
        *type = SL_PATH_REGEX;
    }
}

/* Adds the entries of every rule of `route` to the vhosts of `hosts` on the listener. */
static void attach(sl_compile_ctx *c, const json_t *route, uint32_t listener_index, const char *const *hosts,
                   size_t nhosts, const uint32_t *actions)
{
    const sl_snap_listener *l = sl_sb_at(&c->b, SL_SNAP_LISTENERS, listener_index);
    bool grpc = strcmp(c->route_kind, "GRPCRoute") == 0;
    const sl_snap_gateway *gw = sl_sb_at(&c->b, SL_SNAP_GATEWAYS, l->gateway);
    uint32_t listener_series = sl_series_listener((const char *)c->b.tab[SL_SNAP_STRINGS].data + gw->ns.off,
                                                  (const char *)c->b.tab[SL_SNAP_STRINGS].data + gw->name.off,
                                                  (const char *)c->b.tab[SL_SNAP_STRINGS].data + l->name.off);
    /* The listener's port on every address the Gateway binds. */
    uint32_t ports[16];
    size_t nports = listener_ports(c, l, ports, 16);
    /* A copy: adding strings below may move the string table. */
    char group[256];
    snprintf(group, sizeof(group), "%s", (const char *)c->b.tab[SL_SNAP_STRINGS].data + l->hostname.off);
    size_t ri;
    json_t *rule;
    json_array_foreach(json_object_get(json_object_get(route, "spec"), "rules"), ri, rule)
    {
        const json_t *matches = json_object_get(rule, "matches");
        size_t nm = json_array_size(matches) ? json_array_size(matches) : 1;
        /* (On a TLSRoute or TCPRoute: only the kinds that apply to connections.) */
        sl_snap_range policies = sl_compile_policy_chain(c, route, ri, listener_index);
        uint32_t series =
            sl_series_route(c->route_kind, sl_jmeta(route, "namespace"), sl_jmeta(route, "name"), (unsigned)ri);
        for (size_t mi = 0; mi < nm; mi++) {
            const json_t *m = json_array_get(matches, mi); /* NULL: the default match, prefix "/" */
            const json_t *path = json_object_get(m, "path");
            const char *ptype = sl_js(path, "type");
            const char *pval = json_object_get(path, "value") ? sl_js(path, "value") : "/";
            pending_route pr = {.created = sl_jmeta(route, "creationTimestamp"), .match_index = (uint32_t)mi};
            pr.rec.path_type = strcmp(ptype, "Exact") == 0               ? SL_PATH_EXACT
                               : strcmp(ptype, "RegularExpression") == 0 ? SL_PATH_REGEX
                                                                         : SL_PATH_PREFIX;
            char grpc_buf[600];
            if (grpc) {
                grpc_path(m, grpc_buf, sizeof(grpc_buf), &pr.rec.path_type);
                /* path_text outlives this loop (precedence sorting): keep a copy. */
                json_array_append_new(c->keep, json_string(grpc_buf));
                pval = json_string_value(json_array_get(c->keep, json_array_size(c->keep) - 1));
            }
            /* A prefix's trailing slash does not change what it matches. */
            size_t plen = strlen(pval);
            while (pr.rec.path_type == SL_PATH_PREFIX && plen > 1 && pval[plen - 1] == '/')
                plen--;
            pr.rec.path = sl_sb_strn(&c->b, pval, plen);
            pr.path_text = pval;
            pr.path_len = plen;
            pr.rec.method = sl_sb_str(&c->b, sl_js(m, "method"));
            pr.rec.header_matches.first = add_matches(c, json_object_get(m, "headers"), &pr.rec.header_matches.count);
            pr.rec.query_matches.first =
                add_matches(c, json_object_get(m, "queryParams"), &pr.rec.query_matches.count);
            pr.nheaders = pr.rec.header_matches.count;
            pr.nqueries = pr.rec.query_matches.count;
            pr.rec.action = actions[ri];
            pr.rec.rule_index = (uint32_t)ri;
            pr.rec.series = series;
            pr.rec.listener_series = listener_series;
            pr.rec.route_ns = sl_sb_str(&c->b, sl_jmeta(route, "namespace"));
            pr.rec.route_name = sl_sb_str(&c->b, sl_jmeta(route, "name"));
            pr.rec.policies = policies;
            pr.rec.kind = grpc                                     ? SL_ROUTE_GRPC
                          : strcmp(c->route_kind, "TLSRoute") == 0 ? SL_ROUTE_TLS
                          : strcmp(c->route_kind, "TCPRoute") == 0 ? SL_ROUTE_TCP
                                                                   : SL_ROUTE_HTTP;
            for (size_t p = 0; p < nports; p++)
                for (size_t h = 0; h < nhosts; h++)
                    vhost_push(vhost_for(c, ports[p], listener_index, group, hosts[h]), &pr);
        }
    }
}

/* What attaching through one parentRef gave: whether the parent is one of our
 * Gateways, how many listeners took the route, and the Gateway API reason when
 * none did. */
typedef struct attach_result {
    bool ours;
    int attached;
    const char *reason;
    const char *message;
} attach_result;

/* Attaches one route through one parentRef. */
static attach_result attach_parent(sl_compile_ctx *c, const json_t *route, const json_t *ref, const uint32_t *actions)
{
    attach_result res = {false, 0, "NoMatchingParent", "no listener matches the parentRef's sectionName and port"};
    bool section_match = false, allowed = false, rejected = false;
    const char *route_ns = sl_jmeta(route, "namespace");
    const char *group = json_object_get(ref, "group") ? sl_js(ref, "group") : GW_GROUP;
    const char *kind = json_object_get(ref, "kind") ? sl_js(ref, "kind") : "Gateway";
    if (strcmp(group, GW_GROUP) != 0 || strcmp(kind, "Gateway") != 0)
        return res;
    const char *gw_ns = json_object_get(ref, "namespace") ? sl_js(ref, "namespace") : route_ns;
    const char *gw_name = sl_js(ref, "name");
    const char *section = sl_js(ref, "sectionName");
    long long port = sl_ji(ref, "port", 0);
    const json_t *route_hosts = json_object_get(json_object_get(route, "spec"), "hostnames");

    for (uint32_t gi = 0; gi < sl_sb_count(&c->b, SL_SNAP_GATEWAYS); gi++) {
        const sl_snap_gateway *g = sl_sb_at(&c->b, SL_SNAP_GATEWAYS, gi);
        const char *strings = (const char *)c->b.tab[SL_SNAP_STRINGS].data;
        if (strcmp(strings + g->ns.off, gw_ns) != 0 || strcmp(strings + g->name.off, gw_name) != 0)
            continue;
        res.ours = true;
        /* The Gateway object, for its listeners' allowedRoutes. */
        const json_t *gw_obj = NULL;
        size_t i;
        json_t *x;
        json_array_foreach(c->gateways, i, x) if (strcmp(sl_jmeta(x, "namespace"), gw_ns) == 0 &&
                                                  strcmp(sl_jmeta(x, "name"), gw_name) == 0) gw_obj = x;
        const json_t *listeners = json_object_get(json_object_get(gw_obj, "spec"), "listeners");
        /* A rejected Gateway serves nothing, so no route attaches to it. */
        rejected = sl_gateway_parameters_invalid(gw_obj, NULL, 0);
        sl_snap_range lr = g->listeners;
        for (uint32_t li = 0; li < lr.count; li++) {
            const json_t *lj = json_array_get(listeners, li);
            if (section[0] && strcmp(section, sl_js(lj, "name")) != 0)
                continue;
            if (port && port != sl_ji(lj, "port", 0))
                continue;
            section_match = true;
            if (rejected || !listener_allows(c, lj, gw_ns, route_ns))
                continue;
            allowed = true;
            const char *lhost = sl_js(lj, "hostname");
            char hostbuf[16][256];
            const char *hosts[16];
            size_t nhosts = 0;
            if (json_array_size(route_hosts) == 0) {
                snprintf(hostbuf[0], sizeof(hostbuf[0]), "%s", lhost);
                hosts[nhosts] = hostbuf[nhosts];
                nhosts++;
            } else {
                size_t hi;
                json_t *h;
                json_array_foreach(route_hosts, hi, h)
                {
                    if (nhosts < 16 && intersect_hostnames(lhost, json_string_value(h), hostbuf[nhosts], 256)) {
                        /* The same effective host twice would duplicate entries. */
                        bool dup = false;
                        for (size_t k = 0; k < nhosts; k++)
                            dup |= strcasecmp(hostbuf[k], hostbuf[nhosts]) == 0;
                        if (!dup) {
                            hosts[nhosts] = hostbuf[nhosts];
                            nhosts++;
                        }
                    }
                }
            }
            if (nhosts == 0)
                continue;
            attach(c, route, lr.first + li, hosts, nhosts, actions);
            ((sl_snap_listener *)sl_sb_at(&c->b, SL_SNAP_LISTENERS, lr.first + li))->attached_routes++;
            res.attached++;
        }
    }
    if (res.attached) {
        res.reason = "Accepted";
        res.message = "the route is attached to the Gateway";
    } else if (section_match && rejected) {
        res.reason = "NotAllowedByListeners";
        res.message = "the Gateway is not accepted (see its status), so none of its listeners admits routes";
    } else if (section_match && !allowed) {
        res.reason = "NotAllowedByListeners";
        res.message = "no listener's allowedRoutes admits this route (namespace or kind)";
    } else if (allowed) {
        res.reason = "NoMatchingListenerHostname";
        res.message = "no hostname of the route intersects a listener's hostname";
    }
    return res;
}

/* Records our status for one parentRef of a route in c->route_status. */
static void record_parent_status(sl_compile_ctx *c, const json_t *route, const json_t *ref, const attach_result *r,
                                 const char *refs_reason, const char *refs_message)
{
    char key[650];
    snprintf(key, sizeof(key), "%s/%s/%s", c->route_kind, sl_jmeta(route, "namespace"), sl_jmeta(route, "name"));
    json_t *entry = json_object_get(c->route_status, key);
    if (!entry) {
        entry = json_pack("{s:s, s:s, s:I, s:s, s:[]}", "namespace", sl_jmeta(route, "namespace"), "name",
                          sl_jmeta(route, "name"), "generation",
                          (json_int_t)json_integer_value(json_object_get(json_object_get(route, "metadata"),
                                                                         "generation")),
                          "resourceVersion", sl_jmeta(route, "resourceVersion"), "parents");
        json_object_set_new(c->route_status, key, entry);
    }
    json_int_t gen = json_integer_value(json_object_get(entry, "generation"));
    json_t *conds = json_array();
    json_array_append_new(conds, sl_condition("Accepted", r->attached ? "True" : "False", r->reason, r->message, gen));
    json_array_append_new(conds, sl_condition("ResolvedRefs", strcmp(refs_reason, "ResolvedRefs") == 0 ? "True" : "False",
                                              refs_reason, refs_message, gen));
    /* The parentRef as the API server would hold it, defaults filled in. */
    json_t *parent_ref = json_deep_copy(ref);
    if (!json_object_get(parent_ref, "group"))
        json_object_set_new(parent_ref, "group", json_string(GW_GROUP));
    if (!json_object_get(parent_ref, "kind"))
        json_object_set_new(parent_ref, "kind", json_string("Gateway"));
    json_array_append_new(json_object_get(entry, "parents"),
                          json_pack("{s:o, s:s, s:o}", "parentRef", parent_ref, "controllerName", SL_CONTROLLER_NAME,
                                    "conditions", conds));
}

/* Does this parentRef name one of the Gateways being compiled? */
static bool names_our_gateway(sl_compile_ctx *c, const json_t *route, const json_t *ref)
{
    const char *group = json_object_get(ref, "group") ? sl_js(ref, "group") : GW_GROUP;
    const char *kind = json_object_get(ref, "kind") ? sl_js(ref, "kind") : "Gateway";
    if (strcmp(group, GW_GROUP) != 0 || strcmp(kind, "Gateway") != 0)
        return false;
    const char *ns = json_object_get(ref, "namespace") ? sl_js(ref, "namespace") : sl_jmeta(route, "namespace");
    return sl_compile_gateway_is_ours(c, ns, sl_js(ref, "name"));
}

bool sl_compile_gateway_is_ours(sl_compile_ctx *c, const char *ns, const char *name)
{
    const char *strings = (const char *)c->b.tab[SL_SNAP_STRINGS].data;
    for (uint32_t gi = 0; gi < sl_sb_count(&c->b, SL_SNAP_GATEWAYS); gi++) {
        const sl_snap_gateway *g = sl_sb_at(&c->b, SL_SNAP_GATEWAYS, gi);
        if (strcmp(strings + g->ns.off, ns) == 0 && strcmp(strings + g->name.off, name) == 0)
            return true;
    }
    return false;
}

static void compile_kind(sl_compile_ctx *c, const json_t *routes)
{
    size_t i;
    json_t *route;
    json_array_foreach(routes, i, route)
    {
        const json_t *rules = json_object_get(json_object_get(route, "spec"), "rules");
        size_t nrules = json_array_size(rules);
        uint32_t *actions = calloc(nrules ? nrules : 1, sizeof(uint32_t));
        if (!actions)
            abort();
        bool built = false;
        size_t pi;
        json_t *ref;
        json_array_foreach(json_object_get(json_object_get(route, "spec"), "parentRefs"), pi, ref)
        {
            /* Actions are built once per route, on its first parentRef that names
             * one of our Gateways, so unattached routes cost nothing. */
            if (!built && names_our_gateway(c, route, ref)) {
                for (size_t r = 0; r < nrules; r++)
                    actions[r] = sl_compile_action(c, route, json_array_get(rules, r));
                built = true;
            }
            attach_result r = attach_parent(c, route, ref, actions);
            if (r.ours) {
                const char *refs_reason, *refs_message;
                sl_compile_refs_condition(c, route, &refs_reason, &refs_message);
                record_parent_status(c, route, ref, &r, refs_reason, refs_message);
            }
        }
        free(actions);
    }
}

/* Every listener with a socket and a hostname claims that hostname on its port,
 * with routes or without: the request for a host whose most specific listener has
 * no route must end in that listener's (empty) vhost, never in the routes of a
 * less specific listener. A listener without hostname is the least specific
 * there is, so it needs no such vhost. */
static void add_listener_vhosts(sl_compile_ctx *c)
{
    for (uint32_t li = 0; li < sl_sb_count(&c->b, SL_SNAP_LISTENERS); li++) {
        const sl_snap_listener *l = sl_sb_at(&c->b, SL_SNAP_LISTENERS, li);
        if (l->hostname.len == 0)
            continue;
        uint32_t ports[16];
        size_t nports = listener_ports(c, l, ports, 16);
        char host[256];
        snprintf(host, sizeof(host), "%s", (const char *)c->b.tab[SL_SNAP_STRINGS].data + l->hostname.off);
        for (size_t p = 0; p < nports; p++)
            vhost_for(c, ports[p], li, host, host);
    }
}

void sl_compile_routes(sl_compile_ctx *c)
{
    add_listener_vhosts(c);
    c->route_kind = "HTTPRoute";
    compile_kind(c, c->httproutes);
    c->route_kind = "GRPCRoute";
    compile_kind(c, c->grpcroutes);
    c->route_kind = "TLSRoute";
    compile_kind(c, c->tlsroutes);
    c->route_kind = "TCPRoute";
    compile_kind(c, c->tcproutes);
    c->route_kind = "HTTPRoute";
}

/* ---- precedence ---- */

/* qsort has no context argument: the string table the index comparison reads. */
static const char *index_strings_base;

static int cmp_routes(const void *pa, const void *pb)
{
    const pending_route *a = pa, *b = pb;
    /* Exact before prefix before regex. */
    static const int rank[] = {[SL_PATH_EXACT] = 0, [SL_PATH_PREFIX] = 1, [SL_PATH_REGEX] = 2};
    if (rank[a->rec.path_type] != rank[b->rec.path_type])
        return rank[a->rec.path_type] - rank[b->rec.path_type];
    if (a->rec.path.len != b->rec.path.len)
        return a->rec.path.len > b->rec.path.len ? -1 : 1; /* longer first */
    /* Different paths of one length never match the same request (Exact or
     * PathPrefix), so ordering them by text changes no outcome; it makes the
     * entries of each path contiguous for the path index. */
    int pc = memcmp(a->path_text, b->path_text, a->path_len); /* lengths are equal here */
    if (pc)
        return pc;
    bool am = a->rec.method.len > 0, bm = b->rec.method.len > 0;
    if (am != bm)
        return am ? -1 : 1;
    if (a->nheaders != b->nheaders)
        return a->nheaders > b->nheaders ? -1 : 1;
    if (a->nqueries != b->nqueries)
        return a->nqueries > b->nqueries ? -1 : 1;
    int t = strcmp(a->created, b->created); /* RFC 3339 UTC sorts as text: oldest first */
    if (t)
        return t;
    /* Different routes of the same age: alphabetical namespace/name, which is the
     * store's order, kept by the stable sort. */
    if (a->rec.route_ns.off != b->rec.route_ns.off || a->rec.route_name.off != b->rec.route_name.off)
        return 0;
    if (a->rec.rule_index != b->rec.rule_index)
        return a->rec.rule_index < b->rec.rule_index ? -1 : 1;
    return a->match_index < b->match_index ? -1 : (a->match_index > b->match_index);
}

/* Exact hosts first (sorted for binary search), then wildcards, longest first,
 * then the catch-all. */
static int host_rank(const char *h) { return !h[0] ? 2 : (h[0] == '*' ? 1 : 0); }

static int cmp_vhosts(const void *pa, const void *pb)
{
    const pending_vhost *a = pa, *b = pb;
    if (a->port != b->port)
        return a->port < b->port ? -1 : 1;
    int ra = host_rank(a->host), rb = host_rank(b->host);
    if (ra != rb)
        return ra - rb;
    if (ra == 1 && strlen(a->host) != strlen(b->host))
        return strlen(a->host) > strlen(b->host) ? -1 : 1;
    int hc = strcmp(a->host, b->host);
    /* After drop_unreachable_vhosts no two vhosts of a port share a host (hostname
     * patterns that share a host are nested, so one of the two listeners shadows
     * the other there); the group only makes the order total. */
    return hc ? hc : strcmp(a->group, b->group);
}

static int cmp_index(const void *pa, const void *pb)
{
    const sl_snap_path_index *a = pa, *b = pb;
    return strcmp(index_strings_base + a->path.off, index_strings_base + b->path.off);
}

/* One PATH_INDEX run per (type, path) of the vhost's sorted entries, exact and
 * prefix runs each sorted by path for binary search; regex entries by range. */
static void build_path_index(sl_compile_ctx *c, const pending_vhost *v, sl_snap_vhost *rec)
{
    for (int type = SL_PATH_PREFIX; type <= SL_PATH_EXACT; type++) {
        size_t start = sl_sb_count(&c->b, SL_SNAP_PATH_INDEX);
        for (size_t k = 0; k < v->nroutes;) {
            const sl_snap_route *r = &v->routes[k].rec;
            size_t j = k + 1;
            while (j < v->nroutes && v->routes[j].rec.path_type == r->path_type &&
                   v->routes[j].path_len == v->routes[k].path_len &&
                   memcmp(v->routes[j].path_text, v->routes[k].path_text, v->routes[k].path_len) == 0)
                j++;
            if (r->path_type == type) {
                sl_snap_path_index pi = {.path = r->path,
                                         .routes = {rec->routes.first + (uint32_t)k, (uint32_t)(j - k)}};
                sl_sb_add(&c->b, SL_SNAP_PATH_INDEX, &pi);
            }
            k = j;
        }
        size_t n = sl_sb_count(&c->b, SL_SNAP_PATH_INDEX) - start;
        index_strings_base = (const char *)c->b.tab[SL_SNAP_STRINGS].data;
        if (n > 1)
            qsort(sl_sb_at(&c->b, SL_SNAP_PATH_INDEX, (uint32_t)start), n, sizeof(sl_snap_path_index), cmp_index);
        sl_snap_range r = {(uint32_t)start, (uint32_t)n};
        if (type == SL_PATH_EXACT)
            rec->exact_index = r;
        else
            rec->prefix_index = r;
    }
    uint32_t first_regex = (uint32_t)v->nroutes;
    for (size_t k = 0; k < v->nroutes; k++)
        if (v->routes[k].rec.path_type == SL_PATH_REGEX) {
            first_regex = (uint32_t)k;
            break;
        }
    rec->regex_routes = (sl_snap_range){rec->routes.first + first_regex, (uint32_t)v->nroutes - first_regex};
}

/* Stable merge sort: routes arrive in store order (namespace, name), then rule
 * and match order, which is the spec's last tie-breaker; stability keeps it. */
static void stable_sort_routes(pending_route *r, size_t n)
{
    if (n < 2)
        return;
    pending_route *tmp = malloc(n * sizeof(*tmp));
    if (!tmp)
        abort();
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = cmp_routes(&r[b], &r[a]) < 0 ? r[b++] : r[a++];
            while (a < mid)
                tmp[k++] = r[a++];
            while (b < hi)
                tmp[k++] = r[b++];
        }
        memcpy(r, tmp, n * sizeof(*tmp));
    }
    free(tmp);
}

/* True when every host that hostname pattern `inner` matches is matched by
 * `outer` too ("" matches any host, "*.x" one or more labels before ".x"). */
static bool hostname_within(const char *inner, const char *outer)
{
    if (!outer[0])
        return true;
    if (!inner[0])
        return false;
    if (strcasecmp(inner, outer) == 0)
        return true;
    if (strncmp(outer, "*.", 2) != 0)
        return false;
    return wildcard_matches(outer, strncmp(inner, "*.", 2) == 0 ? inner + 2 : inner);
}

/* Listener isolation: a request belongs to the most specific listener of its port
 * whose hostname matches its host, and only that listener's routes serve it. A
 * vhost of one listener is unreachable when a more specific listener of the port
 * (known by its own vhost, see add_listener_vhosts) claims every host it covers:
 * e.g. a route on a listener without hostname, with the route hostname
 * "a.example.com", beside a listener "*.example.com". */
static bool vhost_unreachable(const sl_compile_ctx *c, const pending_vhost *v)
{
    for (size_t i = 0; i < c->nvhosts; i++) {
        const pending_vhost *own = &c->vhosts[i];
        if (own->port != v->port || strcmp(own->host, own->group) != 0 || strcmp(own->group, v->group) == 0)
            continue; /* not another listener's own vhost on this port */
        if (hostname_within(own->group, v->group) && hostname_within(v->host, own->group))
            return true;
    }
    return false;
}

/* Drops the unreachable vhosts, so that the most specific vhost covering a host is
 * always one of the listener the host belongs to: the router starts there and
 * falls back only to that listener's other vhosts. A listener's own vhost is never
 * dropped (hostnames of listeners on one port differ). */
static void drop_unreachable_vhosts(sl_compile_ctx *c)
{
    bool *drop = calloc(c->nvhosts ? c->nvhosts : 1, sizeof(bool));
    if (!drop)
        abort();
    for (size_t i = 0; i < c->nvhosts; i++)
        drop[i] = vhost_unreachable(c, &c->vhosts[i]);
    size_t kept = 0;
    for (size_t i = 0; i < c->nvhosts; i++) {
        if (drop[i])
            free(c->vhosts[i].routes);
        else
            c->vhosts[kept++] = c->vhosts[i];
    }
    c->nvhosts = kept;
    free(drop);
}

void sl_compile_emit_vhosts(sl_compile_ctx *c)
{
    drop_unreachable_vhosts(c);
    if (c->nvhosts > 1)
        qsort(c->vhosts, c->nvhosts, sizeof(*c->vhosts), cmp_vhosts);
    for (size_t i = 0; i < c->nvhosts; i++) {
        pending_vhost *v = &c->vhosts[i];
        stable_sort_routes(v->routes, v->nroutes);
        sl_snap_vhost rec = {.host = sl_sb_str(&c->b, v->host), .listener = v->listener};
        rec.routes.first = sl_sb_count(&c->b, SL_SNAP_ROUTES);
        for (size_t k = 0; k < v->nroutes; k++)
            sl_sb_add(&c->b, SL_SNAP_ROUTES, &v->routes[k].rec);
        rec.routes.count = (uint32_t)v->nroutes;
        build_path_index(c, v, &rec);
        uint32_t vi = sl_sb_add(&c->b, SL_SNAP_VHOSTS, &rec);
        /* Vhosts are sorted by port, so each port's range is contiguous. */
        sl_snap_port *p = sl_sb_at(&c->b, SL_SNAP_PORTS, v->port);
        if (p->vhosts.count == 0)
            p->vhosts.first = vi;
        p->vhosts.count++;
        free(v->routes);
    }
    free(c->vhosts);
    c->vhosts = NULL;
    c->nvhosts = 0;
}

/* Compiler, part 1: the Gateways of our classes, their sockets and listeners,
 * then the routes (compiler_routes.c) and backends (compiler_backends.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/compiler_internal.h"
#include "daemon/endpoint_slots.h"
#include "daemon/series_ids.h"
#include "daemon/fetcher.h"
#include "daemon/controller.h"
#include "daemon/gateway_rules.h"
#include "daemon/objects.h"

json_t *sl_compile_list_kind(sl_store *s, const char *kind)
{
    json_t *items;
    int64_t rv;
    if (sl_store_list_shared(s, kind, &items, &rv) != SL_OK) {
        sl_log_error("compiler", "cannot list %s; compiling without them", kind);
        json_array_clear(items);
    }
    return items;
}

static bool class_is_ours(sl_compile_ctx *c, const char *class_name)
{
    size_t i;
    json_t *gc;
    json_array_foreach(c->gateway_classes, i, gc)
    {
        if (strcmp(sl_jmeta(gc, "name"), class_name) == 0)
            return strcmp(sl_js(json_object_get(gc, "spec"), "controllerName"), SL_CONTROLLER_NAME) == 0;
    }
    return false;
}

static uint8_t protocol_code(const char *p)
{
    if (strcmp(p, "HTTP") == 0)
        return SL_PROTO_HTTP;
    if (strcmp(p, "HTTPS") == 0)
        return SL_PROTO_HTTPS;
    if (strcmp(p, "TLS") == 0)
        return SL_PROTO_TLS;
    return SL_PROTO_TCP;
}

#define MAX_ADDRESSES 16

/* The local addresses a Gateway binds: its IPAddress addresses, else all ("").
 * Returns how many were written. */
static size_t gateway_addresses(const json_t *gw, const char **out)
{
    size_t n = 0, i;
    json_t *a;
    json_array_foreach(json_object_get(json_object_get(gw, "spec"), "addresses"), i, a)
    {
        const char *type = sl_js(a, "type");
        if ((!type[0] || strcmp(type, "IPAddress") == 0) && n < MAX_ADDRESSES)
            out[n++] = sl_js(a, "value");
    }
    if (n == 0)
        out[n++] = "";
    return n;
}

static uint32_t workers_of(const json_t *gw)
{
    const char *w = sl_js(json_object_get(json_object_get(gw, "metadata"), "annotations"), "sluice.dev/workers");
    long n = w[0] ? strtol(w, NULL, 10) : 0;
    return n > 0 && n <= 256 ? (uint32_t)n : 0;
}

static void compile_gateway(sl_compile_ctx *c, const json_t *gw)
{
    sl_snap_builder *b = &c->b;
    const json_t *spec = json_object_get(gw, "spec");
    sl_snap_gateway g = {
        .ns = sl_sb_str(b, sl_jmeta(gw, "namespace")),
        .name = sl_sb_str(b, sl_jmeta(gw, "name")),
        .class_name = sl_sb_str(b, sl_js(spec, "gatewayClassName")),
        .workers = workers_of(gw),
    };
    uint32_t gi = sl_sb_count(b, SL_SNAP_GATEWAYS);
    const char *addresses[MAX_ADDRESSES];
    size_t naddresses = gateway_addresses(gw, addresses);
    g.ports.first = sl_sb_count(b, SL_SNAP_PORTS);
    g.listeners.first = sl_sb_count(b, SL_SNAP_LISTENERS);
    /* A Gateway the API says to reject (its parametersRef) keeps its listener
     * records, for status, but binds nothing: no worker group runs for it. */
    bool rejected = sl_gateway_parameters_invalid(gw, NULL, 0);
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(spec, "listeners"), i, l)
    {
        uint16_t port = (uint16_t)sl_ji(l, "port", 0);
        uint8_t proto = protocol_code(sl_js(l, "protocol"));
        /* One socket per (address, port); listeners on one port share it. A
         * listener whose protocol sluice does not serve gets none (port_index
         * SL_SNAP_NONE): nothing would answer on it. */
        uint32_t first = SL_SNAP_NONE;
        for (size_t a = 0; a < naddresses && !rejected && sl_listener_protocol_served(l); a++) {
            uint32_t pi = SL_SNAP_NONE;
            sl_snap_str addr = sl_sb_str(b, addresses[a]);
            for (uint32_t p = g.ports.first; p < sl_sb_count(b, SL_SNAP_PORTS); p++) {
                const sl_snap_port *pr = sl_sb_at(b, SL_SNAP_PORTS, p);
                if (pr->port == port && pr->address.off == addr.off && pr->address.len == addr.len)
                    pi = p;
            }
            if (pi == SL_SNAP_NONE) {
                sl_snap_port rec = {.gateway = gi, .port = port, .protocol = proto, .address = addr};
                pi = sl_sb_add(b, SL_SNAP_PORTS, &rec);
            }
            /* A PROXY header is read per socket: any listener on it that asks for one turns it on. */
            const json_t *pp = sl_compile_listener_section(c, gw, l, "proxyProtocol");
            sl_snap_port *prec = sl_sb_at(b, SL_SNAP_PORTS, pi);
            if (pp && prec->proxy_protocol != SL_PROXY_PROTOCOL_REQUIRED)
                prec->proxy_protocol = json_is_true(json_object_get(pp, "optional")) ? SL_PROXY_PROTOCOL_OPTIONAL
                                                                                      : SL_PROXY_PROTOCOL_REQUIRED;
            if (first == SL_SNAP_NONE)
                first = pi;
        }
        sl_snap_listener rec = {
            .gateway = gi,
            .port_index = first,
            .name = sl_sb_str(b, sl_js(l, "name")),
            .hostname = sl_sb_str(b, sl_js(l, "hostname")),
        };
        sl_sb_add(b, SL_SNAP_LISTENERS, &rec);
    }
    /* Certificates socket by socket, so that each one's range is contiguous. */
    for (uint32_t p = g.ports.first; p < sl_sb_count(b, SL_SNAP_PORTS); p++) {
        uint16_t port = ((const sl_snap_port *)sl_sb_at(b, SL_SNAP_PORTS, p))->port;
        for (uint32_t li = g.listeners.first; li < sl_sb_count(b, SL_SNAP_LISTENERS); li++) {
            const sl_snap_listener *rec = sl_sb_at(b, SL_SNAP_LISTENERS, li);
            if (rec->port_index == SL_SNAP_NONE ||
                ((const sl_snap_port *)sl_sb_at(b, SL_SNAP_PORTS, rec->port_index))->port != port)
                continue;
            const json_t *lj = json_array_get(json_object_get(spec, "listeners"), li - g.listeners.first);
            if (strcmp(sl_js(lj, "protocol"), "HTTPS") == 0 || strcmp(sl_js(lj, "protocol"), "TLS") == 0) {
                uint8_t st = sl_compile_listener_certs(c, gw, lj, li, p);
                ((sl_snap_listener *)sl_sb_at(b, SL_SNAP_LISTENERS, li))->tls_status = st;
            }
        }
    }
    g.ports.count = sl_sb_count(b, SL_SNAP_PORTS) - g.ports.first;
    g.listeners.count = sl_sb_count(b, SL_SNAP_LISTENERS) - g.listeners.first;
    sl_compile_gateway_backend_cert(c, gw, &g);
    sl_sb_add(b, SL_SNAP_GATEWAYS, &g);
}

void sl_compile_memo_clear(sl_compile_memo *memo)
{
    if (!memo)
        return;
    if (memo->valid)
        sl_sb_free(&memo->b);
    json_decref(memo->backend_info);
    json_decref(memo->route_status);
    memset(memo, 0, sizeof(*memo));
}

bool sl_compile_endpoints_possible(const sl_compile_memo *memo) { return memo->valid && !memo->resolves; }

void *sl_compile(sl_store *s, uint64_t generation, size_t *size, json_t **route_status)
{
    return sl_compile_with_memo(s, generation, size, route_status, NULL);
}

void *sl_compile_with_memo(sl_store *s, uint64_t generation, size_t *size, json_t **route_status,
                           sl_compile_memo *memo)
{
    sl_compile_ctx c = {.store = s};
    sl_sb_init(&c.b);
    int64_t rv = sl_store_current_rv(s);
    c.gateway_classes = sl_compile_list_kind(s, "GatewayClass");
    c.gateways = sl_compile_list_kind(s, "Gateway");
    c.httproutes = sl_compile_list_kind(s, "HTTPRoute");
    c.grpcroutes = sl_compile_list_kind(s, "GRPCRoute");
    c.tlsroutes = sl_compile_list_kind(s, "TLSRoute");
    c.tcproutes = sl_compile_list_kind(s, "TCPRoute");
    c.configmaps = sl_compile_list_kind(s, "ConfigMap");
    c.backendtlspolicies = sl_compile_list_kind(s, "BackendTLSPolicy");
    c.trafficpolicies = sl_compile_list_kind(s, "TrafficPolicy");
    c.backendpolicies = sl_compile_list_kind(s, "BackendPolicy");
    c.services = sl_compile_list_kind(s, "Service");
    c.endpointslices = sl_compile_list_kind(s, "EndpointSlice");
    c.backends = sl_compile_list_kind(s, "Backend");
    c.namespaces = sl_compile_list_kind(s, "Namespace");
    c.referencegrants = sl_compile_list_kind(s, "ReferenceGrant");
    c.secrets = sl_compile_list_kind(s, "Secret");
    c.backend_index = json_object();
    c.route_status = json_object();
    c.keep = json_array();
    c.policy_index = json_object();
    c.policy_effects = json_object();
    c.zone_users = json_object();

    sl_fetcher_begin(); /* documents (JWKS URIs) that no policy asks for now are forgotten */
    sl_ep_slots_begin(); /* endpoint slots that no backend asks for now are released once published */
    sl_series_ids_begin(); /* so are traffic series */
    size_t i;
    json_t *gw;
    json_array_foreach(c.gateways, i, gw)
    {
        if (!class_is_ours(&c, sl_js(json_object_get(gw, "spec"), "gatewayClassName")))
            continue;
        compile_gateway(&c, gw);
        /* Which generation of the Gateway this compile holds (daemon/liveness.c). */
        char key[300];
        snprintf(key, sizeof(key), "Gateway/%s/%s", sl_jmeta(gw, "namespace"), sl_jmeta(gw, "name"));
        json_object_set_new(c.route_status, key,
                            json_pack("{s:I}", "generation",
                                      json_integer_value(json_object_get(json_object_get(gw, "metadata"),
                                                                         "generation"))));
    }
    sl_compile_routes(&c);
    sl_compile_emit_vhosts(&c);
    sl_compile_btls_status(&c);
    sl_compile_policy_status(&c);
    sl_compile_policy_zones(&c);
    sl_compile_backend_policy_status(&c);
    sl_ep_slots_end();
    sl_series_ids_end();
    sl_fetcher_end();

    json_decref(c.gateway_classes);
    json_decref(c.gateways);
    json_decref(c.httproutes);
    json_decref(c.grpcroutes);
    json_decref(c.tlsroutes);
    json_decref(c.tcproutes);
    json_decref(c.configmaps);
    json_decref(c.backendtlspolicies);
    json_decref(c.trafficpolicies);
    json_decref(c.backendpolicies);
    json_decref(c.services);
    json_decref(c.endpointslices);
    json_decref(c.slices_by_service);
    json_decref(c.backends);
    json_decref(c.namespaces);
    json_decref(c.referencegrants);
    json_decref(c.secrets);
    json_decref(c.backend_index);
    json_decref(c.keep);
    json_decref(c.policy_index);
    json_decref(c.policy_effects);
    json_decref(c.zone_users);
    if (memo) {
        sl_compile_memo_clear(memo);
        sl_sb_clone(&memo->b, &c.b, SL_SB_ALL);
        memo->backend_info = json_incref(c.backend_info);
        memo->resolves = c.resolved_names;
        memo->route_status = json_incref(c.route_status);
        memo->valid = true;
    }
    json_decref(c.backend_info);
    if (route_status)
        *route_status = c.route_status;
    else
        json_decref(c.route_status);
    return sl_sb_finish(&c.b, generation, (uint64_t)rv, size);
}

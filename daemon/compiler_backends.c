/* Compiler, part 3: a rule's action, with its backendRefs resolved to endpoint
 * sets: Services through their EndpointSlices, sluice Backends through their
 * static hosts. Cross-namespace references need a ReferenceGrant. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "daemon/backendtls_rules.h"
#include "daemon/compile_values.h"
#include "daemon/compiler_internal.h"
#include "daemon/validate.h"

#define SLUICE_GROUP "gateway.sluice.dev"

const json_t *sl_compile_find_object(const json_t *list, const char *ns, const char *name)
{
    /* A binary search: the lists come from the store in (namespace, name)
     * order, compared bytewise as strcmp does (a scan made every route's
     * lookup of its Service cost the number of Services). */
    size_t lo = 0, hi = json_array_size(list);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const json_t *o = json_array_get(list, mid);
        int cmp = strcmp(sl_jmeta(o, "namespace"), ns);
        if (cmp == 0)
            cmp = strcmp(sl_jmeta(o, "name"), name);
        if (cmp == 0)
            return o;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool sl_compile_granted(sl_compile_ctx *c, const char *from_kind, const char *from_ns, const char *to_ns,
                        const char *to_group, const char *to_kind, const char *name)
{
    size_t i;
    json_t *g;
    json_array_foreach(c->referencegrants, i, g)
    {
        if (strcmp(sl_jmeta(g, "namespace"), to_ns) != 0)
            continue;
        const json_t *spec = json_object_get(g, "spec");
        bool from_ok = false, to_ok = false;
        size_t j;
        json_t *f;
        json_array_foreach(json_object_get(spec, "from"), j, f) if (
            strcmp(sl_js(f, "group"), "gateway.networking.k8s.io") == 0 && strcmp(sl_js(f, "kind"), from_kind) == 0 &&
            strcmp(sl_js(f, "namespace"), from_ns) == 0) from_ok = true;
        json_array_foreach(json_object_get(spec, "to"), j, f) if (
            strcmp(sl_js(f, "group"), to_group) == 0 && strcmp(sl_js(f, "kind"), to_kind) == 0 &&
            (!sl_js(f, "name")[0] || strcmp(sl_js(f, "name"), name) == 0)) to_ok = true;
        if (from_ok && to_ok)
            return true;
    }
    return false;
}

/* Adds the endpoints for host:port (an IP literal, or a name resolved now). */
void sl_compile_host_endpoints(sl_compile_ctx *c, const char *host, uint16_t port, uint32_t weight)
{
    sl_snap_endpoint e = {.port = port, .host = sl_sb_str(&c->b, host), .state = SL_SNAP_NONE, .weight = weight};
    if (inet_pton(AF_INET, host, e.addr) == 1) {
        e.family = AF_INET;
        sl_sb_add(&c->b, SL_SNAP_ENDPOINTS, &e);
        return;
    }
    if (inet_pton(AF_INET6, host, e.addr) == 1) {
        e.family = AF_INET6;
        sl_sb_add(&c->b, SL_SNAP_ENDPOINTS, &e);
        return;
    }
    c->resolved_names = true; /* (an endpoint-only compile would not look it up again) */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0) {
        sl_log_warn("compiler", "cannot resolve backend host %s; it gets no traffic", host);
        return;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        sl_snap_endpoint r = e;
        memset(r.addr, 0, sizeof(r.addr));
        if (ai->ai_family == AF_INET) {
            r.family = AF_INET;
            memcpy(r.addr, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
        } else if (ai->ai_family == AF_INET6) {
            r.family = AF_INET6;
            memcpy(r.addr, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
        } else {
            continue;
        }
        sl_sb_add(&c->b, SL_SNAP_ENDPOINTS, &r);
    }
    freeaddrinfo(res);
}

sl_snap_backend sl_compile_backend_record(sl_compile_ctx *c, const char *kind, const char *ns, const char *name)
{
    return (sl_snap_backend){
        .state = SL_SNAP_NONE,
        .series = SL_SNAP_NONE,
        .balancer = SL_SNAP_NONE,
        .kind = sl_sb_str(&c->b, kind),
        .ns = sl_sb_str(&c->b, ns),
        .name = sl_sb_str(&c->b, name),
    };
}

static uint8_t app_protocol(const char *p)
{
    if (strcmp(p, "kubernetes.io/h2c") == 0 || strcmp(p, "h2c") == 0 || strcmp(p, "H2C") == 0)
        return SL_BACKEND_H2C;
    if (strcmp(p, "https") == 0 || strcmp(p, "HTTPS") == 0 || strcmp(p, "kubernetes.io/wss") == 0)
        return SL_BACKEND_HTTPS;
    return SL_BACKEND_HTTP;
}

/* The EndpointSlices labelled with the Service ns/name (an index made once per
 * compile: a scan of every slice for every Service cost Services x slices). */
static const json_t *slices_of(sl_compile_ctx *c, const char *ns, const char *name)
{
    if (!c->slices_by_service) {
        c->slices_by_service = json_object();
        size_t i;
        json_t *slice;
        json_array_foreach(c->endpointslices, i, slice)
        {
            const json_t *labels = json_object_get(json_object_get(slice, "metadata"), "labels");
            char key[600];
            snprintf(key, sizeof(key), "%s/%s", sl_jmeta(slice, "namespace"), sl_js(labels, "kubernetes.io/service-name"));
            json_t *list = json_object_get(c->slices_by_service, key);
            if (!list) {
                list = json_array();
                json_object_set_new(c->slices_by_service, key, list);
            }
            json_array_append(list, slice);
        }
    }
    char key[600];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    return json_object_get(c->slices_by_service, key);
}

void sl_compile_service_endpoints(sl_compile_ctx *c, const char *ns, const char *name, const char *port_name)
{
    size_t i;
    json_t *slice;
    json_array_foreach(slices_of(c, ns, name), i, slice)
    {
        const char *type = sl_js(slice, "addressType");
        if (strcmp(type, "IPv4") != 0 && strcmp(type, "IPv6") != 0)
            continue;
        /* The slice port that carries this Service port: same name (both may be ""). */
        long long target = -1;
        size_t j;
        json_t *sp;
        json_array_foreach(json_object_get(slice, "ports"), j, sp) if (strcmp(sl_js(sp, "name"), port_name) == 0)
            target = sl_ji(sp, "port", -1);
        if (target <= 0 || target > 65535)
            continue;
        json_t *ep;
        json_array_foreach(json_object_get(slice, "endpoints"), j, ep)
        {
            const json_t *ready = json_object_get(json_object_get(ep, "conditions"), "ready");
            if (json_is_false(ready))
                continue;
            size_t k;
            json_t *addr;
            json_array_foreach(json_object_get(ep, "addresses"), k, addr)
                sl_compile_host_endpoints(c, json_string_value(addr), (uint16_t)target, 1);
        }
    }
}

/* A Service port's endpoints, from the EndpointSlices labelled with the Service's name. */
static uint32_t service_backend(sl_compile_ctx *c, const char *ns, const char *name, long long port)
{
    const json_t *svc = sl_compile_find_object(c->services, ns, name);
    if (!svc)
        return SL_SNAP_NONE;
    const json_t *svc_port = NULL;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(json_object_get(svc, "spec"), "ports"), i, p) if (sl_ji(p, "port", 0) == port)
        svc_port = p;
    if (!svc_port)
        return SL_SNAP_NONE;
    const char *port_name = sl_js(svc_port, "name");
    sl_snap_backend be = sl_compile_backend_record(c, "Service", ns, name);
    be.port = (uint32_t)port;
    be.protocol = app_protocol(sl_js(svc_port, "appProtocol"));
    sl_compile_service_tls(c, ns, name, port_name, &be);
    sl_compile_tls_identity(c, &be);
    be.endpoints.first = sl_sb_count(&c->b, SL_SNAP_ENDPOINTS);
    sl_compile_service_endpoints(c, ns, name, port_name);
    be.endpoints.count = sl_sb_count(&c->b, SL_SNAP_ENDPOINTS) - be.endpoints.first;
    uint32_t index = sl_sb_add(&c->b, SL_SNAP_BACKENDS, &be);
    json_object_set_new(sl_compile_backend_info(c, index), "portName", json_string(port_name));
    return index;
}

/* A sluice Backend object of type A2A: the agent's host and port, proxied over
 * HTTP; its agent card's URLs are rewritten by the worker (workers/a2a.h). */
static uint32_t a2a_backend(sl_compile_ctx *c, const char *ns, const char *name)
{
    const json_t *a2a = json_object_get(json_object_get(sl_compile_find_object(c->backends, ns, name), "spec"), "a2a");
    sl_snap_backend be = sl_compile_backend_record(c, "Backend", ns, name);
    be.protocol = SL_BACKEND_HTTP;
    be.a2a = 1;
    be.endpoints.first = sl_sb_count(&c->b, SL_SNAP_ENDPOINTS);
    sl_compile_host_endpoints(c, sl_js(a2a, "host"), (uint16_t)sl_ji(a2a, "port", 80), 1);
    be.endpoints.count = sl_sb_count(&c->b, SL_SNAP_ENDPOINTS) - be.endpoints.first;
    return sl_sb_add(&c->b, SL_SNAP_BACKENDS, &be);
}

/* A sluice Backend object of type Static. */
static uint32_t static_backend(sl_compile_ctx *c, const char *ns, const char *name)
{
    const json_t *obj = sl_compile_find_object(c->backends, ns, name);
    const json_t *spec = json_object_get(obj, "spec");
    if (!obj || strcmp(sl_js(spec, "type"), "Static") != 0)
        return SL_SNAP_NONE;
    const json_t *st = json_object_get(spec, "static");
    sl_snap_backend be = sl_compile_backend_record(c, "Backend", ns, name);
    be.protocol = app_protocol(sl_js(st, "protocol"));
    sl_compile_static_tls(c, ns, st, &be);
    sl_compile_tls_identity(c, &be);
    be.endpoints.first = sl_sb_count(&c->b, SL_SNAP_ENDPOINTS);
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(st, "hosts"), i, h)
        sl_compile_host_endpoints(c, sl_js(h, "host"), (uint16_t)sl_ji(h, "port", 80),
                                  (uint32_t)sl_ji(h, "weight", 1));
    be.endpoints.count = sl_sb_count(&c->b, SL_SNAP_ENDPOINTS) - be.endpoints.first;
    return sl_sb_add(&c->b, SL_SNAP_BACKENDS, &be);
}

uint32_t sl_compile_backend(sl_compile_ctx *c, const char *route_ns, const json_t *ref)
{
    const char *group = sl_js(ref, "group");
    const char *kind = json_object_get(ref, "kind") ? sl_js(ref, "kind") : "Service";
    const char *name = sl_js(ref, "name");
    const char *ns = json_object_get(ref, "namespace") ? sl_js(ref, "namespace") : route_ns;
    long long port = sl_ji(ref, "port", 0);
    if (strcmp(ns, route_ns) != 0 && !sl_compile_granted(c, c->route_kind, route_ns, ns, group, kind, name))
        return SL_SNAP_NONE;
    /* gRPC is HTTP/2 end to end: a GRPCRoute's backends get their own records,
     * spoken to over h2c whatever the Service port declares. */
    bool grpc = strcmp(c->route_kind, "GRPCRoute") == 0;
    bool connections = strcmp(c->route_kind, "TLSRoute") == 0 || strcmp(c->route_kind, "TCPRoute") == 0;
    char key[700];
    snprintf(key, sizeof(key), "%s%s/%s/%s/%s/%lld", grpc ? "grpc:" : connections ? "l4:" : "", group, kind, ns, name, port);
    json_t *known = json_object_get(c->backend_index, key);
    if (known)
        return (uint32_t)json_integer_value(known);
    uint32_t index = SL_SNAP_NONE;
    if (group[0] == '\0' && strcmp(kind, "Service") == 0)
        index = service_backend(c, ns, name, port);
    else if (strcmp(group, SLUICE_GROUP) == 0 && strcmp(kind, "Backend") == 0)
    {
        const char *type = sl_js(json_object_get(sl_compile_find_object(c->backends, ns, name), "spec"), "type");
        index = strcmp(type, "AI") == 0    ? (connections ? SL_SNAP_NONE : sl_compile_ai_backend(c, ns, name))
                : strcmp(type, "MCP") == 0 ? (connections || grpc ? SL_SNAP_NONE : sl_compile_mcp_backend(c, ns, name))
                : strcmp(type, "A2A") == 0 ? (connections || grpc ? SL_SNAP_NONE : a2a_backend(c, ns, name))
                                           : static_backend(c, ns, name);
    }
    if (grpc && index != SL_SNAP_NONE) {
        sl_snap_backend *be = sl_sb_at(&c->b, SL_SNAP_BACKENDS, index);
        if (be->protocol == SL_BACKEND_HTTPS) {
            /* HTTP/2 to backends is cleartext only: speaking h2c to a backend that
             * must be reached over TLS would send the calls unprotected, so its
             * share fails instead (500) and the BackendTLSPolicy's status says why. */
            sl_log_warn("compiler", "%s/%s port %lld: gRPC over TLS to backends is not supported; its calls fail", ns,
                        name, port);
            index = SL_SNAP_NONE;
        } else {
            be->protocol = SL_BACKEND_H2C;
        }
    }
    if (index != SL_SNAP_NONE)
        sl_compile_backend_traffic(c, index, group, kind, ns, name, port);
    json_object_set_new(c->backend_index, key, json_integer(index));
    return index;
}

/* A Duration in whole seconds (rounded up; 0 when absent): sessions may last
 * longer than the 49 days a count of milliseconds holds in 32 bits. */
static uint32_t duration_s(const char *text)
{
    long long ms = 0;
    if (!text[0] || !sl_parse_gateway_duration(text, &ms) || ms <= 0)
        return 0;
    long long s = (ms + 999) / 1000;
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

uint32_t sl_compile_action(sl_compile_ctx *c, const json_t *route, const json_t *rule)
{
    const char *route_ns = sl_jmeta(route, "namespace");
    sl_snap_action a = {0};
    /* Resolve first: resolution appends backends, endpoints and filters, and the
     * refs of one action must be contiguous. */
    const json_t *refs = json_object_get(rule, "backendRefs");
    size_t n = json_array_size(refs);
    sl_snap_backend_ref *resolved = calloc(n ? n : 1, sizeof(*resolved));
    if (!resolved)
        abort();
    for (size_t i = 0; i < n; i++) {
        const json_t *ref = json_array_get(refs, i);
        long long w = sl_ji(ref, "weight", 1);
        resolved[i].weight = (uint32_t)(w < 0 ? 0 : w);
        resolved[i].backend = sl_compile_backend(c, route_ns, ref);
        resolved[i].filters = sl_compile_filters(c, route, json_object_get(ref, "filters"));
    }
    a.filters = sl_compile_filters(c, route, json_object_get(rule, "filters"));
    a.backend_refs.first = sl_sb_count(&c->b, SL_SNAP_BACKEND_REFS);
    for (size_t i = 0; i < n; i++) {
        sl_sb_add(&c->b, SL_SNAP_BACKEND_REFS, &resolved[i]);
        a.total_weight += resolved[i].weight;
    }
    free(resolved);
    a.backend_refs.count = (uint32_t)n;
    const json_t *timeouts = json_object_get(rule, "timeouts");
    a.request_timeout_ms = sl_duration_ms(sl_js(timeouts, "request"));
    a.backend_request_timeout_ms = sl_duration_ms(sl_js(timeouts, "backendRequest"));
    const json_t *sp = json_object_get(rule, "sessionPersistence");
    if (sp) {
        /* GEP-1619: a cookie by default; the name is ours to choose when not given. */
        a.session_type = strcmp(sl_js(sp, "type"), "Header") == 0 ? SL_SESSION_HEADER : SL_SESSION_COOKIE;
        a.session_permanent = strcmp(sl_js(json_object_get(sp, "cookieConfig"), "lifetimeType"), "Permanent") == 0;
        a.session_absolute_s = duration_s(sl_js(sp, "absoluteTimeout"));
        a.session_idle_s = duration_s(sl_js(sp, "idleTimeout"));
        a.session_name = sl_sb_str(&c->b, sl_js(sp, "sessionName")[0] ? sl_js(sp, "sessionName") : "sluice-session");
    }
    const json_t *retry = json_object_get(rule, "retry");
    if (retry) {
        long long attempts = sl_ji(retry, "attempts", 0);
        a.retry_attempts = attempts > 0 ? (uint32_t)attempts : 0;
        a.retry_backoff_ms = sl_duration_ms(sl_js(retry, "backoff"));
        sl_status_code_bits(json_object_get(retry, "codes"), a.retry_codes);
    }
    return sl_sb_add(&c->b, SL_SNAP_ACTIONS, &a);
}

/* Why one backendRef does not resolve, or NULL when it does. */
static const char *ref_problem(sl_compile_ctx *c, const char *route_ns, const json_t *ref, const char **message)
{
    const char *group = sl_js(ref, "group");
    const char *kind = json_object_get(ref, "kind") ? sl_js(ref, "kind") : "Service";
    const char *name = sl_js(ref, "name");
    const char *ns = json_object_get(ref, "namespace") ? sl_js(ref, "namespace") : route_ns;
    bool service = group[0] == '\0' && strcmp(kind, "Service") == 0;
    bool backend = strcmp(group, SLUICE_GROUP) == 0 && strcmp(kind, "Backend") == 0;
    if (!service && !backend) {
        *message = "backendRefs may name a Service or a gateway.sluice.dev Backend";
        return "InvalidKind";
    }
    if (strcmp(ns, route_ns) != 0 && !sl_compile_granted(c, c->route_kind, route_ns, ns, group, kind, name)) {
        *message = "a backendRef to another namespace needs a ReferenceGrant there";
        return "RefNotPermitted";
    }
    const json_t *obj = sl_compile_find_object(service ? c->services : c->backends, ns, name);
    if (!obj) {
        *message = service ? "the referenced Service does not exist" : "the referenced Backend does not exist";
        return "BackendNotFound";
    }
    bool grpc = strcmp(c->route_kind, "GRPCRoute") == 0;
    if (service) {
        long long port = sl_ji(ref, "port", 0);
        const json_t *svc_port = NULL;
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(json_object_get(obj, "spec"), "ports"), i, p) if (sl_ji(p, "port", 0) == port)
            svc_port = p;
        if (!svc_port) {
            *message = "the referenced Service has no such port";
            return "BackendNotFound";
        }
        if (grpc && sl_btls_for_port(c->backendtlspolicies, ns, name, sl_js(svc_port, "name"))) {
            *message = "a BackendTLSPolicy asks for TLS to this Service port; sluice speaks gRPC to backends over h2c only";
            return "UnsupportedProtocol";
        }
        return NULL;
    }
    const char *type = sl_js(json_object_get(obj, "spec"), "type");
    bool connections = strcmp(c->route_kind, "TLSRoute") == 0 || strcmp(c->route_kind, "TCPRoute") == 0;
    if (connections && strcmp(type, "Static") != 0) {
        *message = "a TLSRoute or TCPRoute passes connections to Services and Backends of type Static only";
        return "UnsupportedProtocol";
    }
    if (strcmp(type, "AI") == 0)
        return sl_compile_ai_problem(c, obj, grpc, message);
    if (strcmp(type, "MCP") == 0)
        return sl_compile_mcp_problem(obj, grpc, message);
    if (strcmp(type, "A2A") == 0 && grpc) {
        *message = "a GRPCRoute cannot route to a Backend of type A2A (its JSON-RPC binding is served)";
        return "UnsupportedProtocol";
    }
    if (grpc && strcmp(sl_js(json_object_get(json_object_get(obj, "spec"), "static"), "protocol"), "HTTPS") == 0) {
        *message = "the Backend is reached over HTTPS; sluice speaks gRPC to backends over h2c only";
        return "UnsupportedProtocol";
    }
    return NULL;
}

void sl_compile_refs_condition(sl_compile_ctx *c, const json_t *route, const char **reason, const char **message)
{
    *reason = "ResolvedRefs";
    *message = "every backendRef resolves";
    const char *route_ns = sl_jmeta(route, "namespace");
    size_t i, j;
    json_t *rule, *ref;
    json_array_foreach(json_object_get(json_object_get(route, "spec"), "rules"), i, rule)
    {
        json_array_foreach(json_object_get(rule, "backendRefs"), j, ref)
        {
            const char *why = ref_problem(c, route_ns, ref, message);
            if (why) {
                *reason = why;
                return;
            }
        }
    }
}

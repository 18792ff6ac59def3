/* Compiler: a backend's traffic settings. Each resolved backend and each of
 * its endpoints gets its slot in the shared endpoint table (health, ejections
 * and requests in flight carry over from one snapshot to the next); the
 * BackendPolicy that targets it (the Service port by name, else the whole
 * Service; or the Backend) becomes its BALANCERS record, with its hash
 * policies, health check and, for ring hash and maglev, the ring or table
 * built from its endpoints (compiler_lb_tables.c). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/backendtls_rules.h"
#include "daemon/compile_values.h"
#include "daemon/compiler_internal.h"
#include "daemon/endpoint_slots.h"
#include "daemon/series_ids.h"

#define SLUICE_GROUP "gateway.sluice.dev"

static long long duration_or(const json_t *o, const char *key, long long dflt)
{
    const char *d = sl_js(o, key);
    return d[0] ? sl_duration_ms(d) : dflt;
}

static uint32_t hash_policies(sl_compile_ctx *c, const json_t *algo)
{
    uint32_t first = sl_sb_count(&c->b, SL_SNAP_HASH_POLICIES);
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(algo, "hashPolicies"), i, h)
    {
        sl_snap_hash_policy p = {.terminal = json_is_true(json_object_get(h, "terminal"))};
        const json_t *part;
        if ((part = json_object_get(h, "header")))
            p.kind = SL_HASH_HEADER;
        else if ((part = json_object_get(h, "cookie")))
            p.kind = SL_HASH_COOKIE;
        else if ((part = json_object_get(h, "queryParameter")))
            p.kind = SL_HASH_QUERY;
        else if ((part = json_object_get(h, "sourceIP")))
            p.kind = SL_HASH_SOURCE_IP;
        else
            continue;
        p.name = sl_sb_str(&c->b, sl_js(part, "name"));
        sl_sb_add(&c->b, SL_SNAP_HASH_POLICIES, &p);
    }
    return first;
}

static uint32_t health_check(sl_compile_ctx *c, const json_t *hc)
{
    if (!hc)
        return SL_SNAP_NONE;
    sl_snap_health_check r = {
        .interval_ms = (uint32_t)duration_or(hc, "interval", 5000),
        .timeout_ms = (uint32_t)duration_or(hc, "timeout", 1000),
        .jitter_ms = (uint32_t)duration_or(hc, "jitter", 0),
        .healthy_threshold = (uint32_t)sl_ji(hc, "healthyThreshold", 2),
        .unhealthy_threshold = (uint32_t)sl_ji(hc, "unhealthyThreshold", 2),
    };
    const json_t *http = json_object_get(hc, "http"), *grpc = json_object_get(hc, "grpc");
    if (http) {
        r.kind = SL_HC_HTTP;
        r.path = sl_sb_str(&c->b, sl_js(http, "path"));
        r.host = sl_sb_str(&c->b, sl_js(http, "host"));
        r.method = sl_sb_str(&c->b, sl_js(http, "method")[0] ? sl_js(http, "method") : "GET");
        const json_t *codes = json_object_get(http, "expectedStatuses");
        size_t i;
        json_t *code;
        json_array_foreach(codes, i, code)
        {
            long long v = json_integer_value(code) - 100;
            if (v >= 0 && v < 512)
                r.statuses[v / 64] |= 1ull << (v % 64);
        }
        if (json_array_size(codes) == 0)
            for (int v = 100; v < 300; v++) /* 2xx and 3xx, as HAProxy's httpchk */
                r.statuses[v / 64] |= 1ull << (v % 64);
    } else if (grpc) {
        r.kind = SL_HC_GRPC;
        r.service = sl_sb_str(&c->b, sl_js(grpc, "serviceName"));
        r.host = sl_sb_str(&c->b, sl_js(grpc, "authority"));
    } else {
        r.kind = SL_HC_TCP;
    }
    return sl_sb_add(&c->b, SL_SNAP_HEALTH_CHECKS, &r);
}

static void slow_start(sl_snap_balancer *b, const json_t *algo)
{
    const json_t *ss = json_object_get(algo, "slowStart");
    if (!ss)
        return;
    b->slow_start_ms = (uint32_t)duration_or(ss, "window", 0);
    const char *aggr = sl_js(ss, "aggression");
    double a = aggr[0] ? strtod(aggr, NULL) : 1.0;
    b->slow_start_aggression = (uint16_t)(a * 1000 + 0.5);
    b->slow_start_min_percent = (uint16_t)sl_ji(ss, "minWeightPercent", 10);
}

/* The BALANCERS record of BackendPolicy p. */
static uint32_t balancer(sl_compile_ctx *c, const json_t *p, uint32_t *ring_min, uint32_t *ring_max)
{
    const json_t *spec = json_object_get(p, "spec");
    const json_t *lb = json_object_get(spec, "loadBalancer");
    const json_t *od = json_object_get(spec, "outlierDetection");
    const json_t *cb = json_object_get(spec, "circuitBreakers");
    const json_t *rb = json_object_get(cb, "retryBudget");
    char source[300];
    snprintf(source, sizeof(source), "%s/%s", sl_jmeta(p, "namespace"), sl_jmeta(p, "name"));
    sl_snap_balancer b = {
        .policy = sl_sb_str(&c->b, source),
        .algorithm = SL_LB_ROUND_ROBIN,
        .choice_count = 2,
        .panic_percent = (uint8_t)sl_ji(lb, "healthyPanicThreshold", 50),
        .connect_timeout_ms = (uint32_t)duration_or(spec, "connectTimeout", 0),
        /* Without outlierDetection: the defaults' (workers/balancer.c). */
        .consecutive_5xx = (uint32_t)sl_ji(od, "consecutive5xx", od ? 5 : 0),
        .consecutive_local = (uint32_t)sl_ji(od, "consecutiveConnectFailures", 1),
        .base_ejection_ms = (uint32_t)duration_or(od, "baseEjectionTime", od ? 30000 : 10000),
        .max_ejection_ms = (uint32_t)duration_or(od, "maxEjectionTime", od ? 300000 : 10000),
        .ejection_interval_ms = (uint32_t)duration_or(od, "interval", 10000),
        .max_ejection_percent = (uint8_t)sl_ji(od, "maxEjectionPercent", od ? 50 : 100),
        .max_connections = (uint32_t)sl_ji(cb, "maxConnections", 0),
        .max_pending = (uint32_t)sl_ji(cb, "maxPendingRequests", 0),
        .max_requests = (uint32_t)sl_ji(cb, "maxRequests", 0),
        .retry_budget_percent = (uint32_t)sl_ji(rb, "budgetPercent", 20),
        .min_retry_concurrency = (uint32_t)sl_ji(rb, "minRetryConcurrency", 3),
        .health_check = health_check(c, json_object_get(spec, "healthCheck")),
    };
    const json_t *algo;
    if ((algo = json_object_get(lb, "leastRequest"))) {
        b.algorithm = SL_LB_LEAST_REQUEST;
        b.choice_count = (uint8_t)sl_ji(algo, "choiceCount", 2);
        slow_start(&b, algo);
    } else if ((algo = json_object_get(lb, "random"))) {
        b.algorithm = SL_LB_RANDOM;
    } else if ((algo = json_object_get(lb, "ringHash"))) {
        b.algorithm = SL_LB_RING_HASH;
        *ring_min = (uint32_t)sl_ji(algo, "minimumRingSize", 1024);
        *ring_max = (uint32_t)sl_ji(algo, "maximumRingSize", 8388608);
    } else if ((algo = json_object_get(lb, "maglev"))) {
        b.algorithm = SL_LB_MAGLEV;
    } else if ((algo = json_object_get(lb, "roundRobin"))) {
        slow_start(&b, algo);
    }
    b.hash_policies.first = hash_policies(c, algo);
    b.hash_policies.count = sl_sb_count(&c->b, SL_SNAP_HASH_POLICIES) - b.hash_policies.first;
    return sl_sb_add(&c->b, SL_SNAP_BALANCERS, &b);
}

/* The name of Service port `port` ("" when unnamed or unknown). */
static const char *service_port_name(sl_compile_ctx *c, const char *ns, const char *name, long long port)
{
    const json_t *svc = sl_compile_find_object(c->services, ns, name);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(json_object_get(svc, "spec"), "ports"), i, p) if (sl_ji(p, "port", 0) == port)
        return sl_js(p, "name");
    return "";
}

void sl_compile_backend_slots(sl_compile_ctx *c, uint32_t backend, const char *key_prefix)
{
    char key[700];
    int n = snprintf(key, sizeof(key), "%s", key_prefix);
    sl_snap_backend *be = sl_sb_at(&c->b, SL_SNAP_BACKENDS, backend);
    be->state = sl_ep_slot_for(key);
    sl_snap_range eps = be->endpoints;
    for (uint32_t i = 0; i < eps.count; i++) {
        sl_snap_endpoint *e = sl_sb_at(&c->b, SL_SNAP_ENDPOINTS, eps.first + i);
        /* By the resolved address: every address of a name is an endpoint of its own. */
        char text[INET6_ADDRSTRLEN];
        inet_ntop(e->family, e->addr, text, sizeof(text));
        snprintf(key + n, sizeof(key) - (size_t)n, "|%s|%u", text, e->port);
        e->state = sl_ep_slot_for(key);
    }
}

json_t *sl_compile_backend_info(sl_compile_ctx *c, uint32_t backend)
{
    if (!c->backend_info)
        c->backend_info = json_object();
    char index[16];
    snprintf(index, sizeof(index), "%u", backend);
    json_t *info = json_object_get(c->backend_info, index);
    if (!info) {
        info = json_object();
        json_object_set_new(c->backend_info, index, info);
    }
    return info;
}

void sl_compile_backend_traffic(sl_compile_ctx *c, uint32_t backend, const char *group, const char *kind,
                                const char *ns, const char *name, long long port)
{
    /* The slots' key, kept for the endpoint-only compiles (which know the
     * record, not the ref it came from: its port, say). */
    char key[700];
    snprintf(key, sizeof(key), "%s/%s/%s/%s/%lld", group, kind, ns, name, port);
    json_object_set_new(sl_compile_backend_info(c, backend), "slots", json_string(key));
    sl_compile_backend_slots(c, backend, key);
    sl_snap_backend *be = sl_sb_at(&c->b, SL_SNAP_BACKENDS, backend);
    be->series = sl_series_backend(kind, ns, name, port);
    const bool service = strcmp(kind, "Service") == 0;
    const json_t *p = service ? sl_target_policy(c->backendpolicies, "", "Service", ns, name,
                                                 service_port_name(c, ns, name, port))
                              : sl_target_policy(c->backendpolicies, SLUICE_GROUP, "Backend", ns, name, "");
    be = sl_sb_at(&c->b, SL_SNAP_BACKENDS, backend);
    be->balancer = SL_SNAP_NONE;
    if (!p)
        return;
    uint32_t ring_min = 0, ring_max = 0;
    uint32_t bal = balancer(c, p, &ring_min, &ring_max);
    be = sl_sb_at(&c->b, SL_SNAP_BACKENDS, backend);
    be->balancer = bal;
    const sl_snap_balancer *rec = sl_sb_at(&c->b, SL_SNAP_BALANCERS, bal);
    if (rec->algorithm == SL_LB_RING_HASH) {
        json_object_set_new(sl_compile_backend_info(c, backend), "ring", json_pack("[I, I]", (json_int_t)ring_min,
                                                                                   (json_int_t)ring_max));
        sl_compile_ring(c, backend, ring_min, ring_max);
    }
    else if (rec->algorithm == SL_LB_MAGLEV)
        sl_compile_maglev(c, backend);
}

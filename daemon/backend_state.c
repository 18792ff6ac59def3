/* What the endpoint table says about the current snapshot's backends, for
 * operators: GET /debug/backends (JSON) and the per-endpoint series of
 * /metrics. A backend that two records share (an HTTPRoute's and a
 * GRPCRoute's view of one Service port) shares one slot and is shown once. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/endpoint_state.h"
#include "common/series.h"
#include "daemon/snapshot_render.h"

static const char *const algorithm_names[SL_LB_COUNT] = {"roundRobin", "leastRequest", "random", "ringHash", "maglev"};

static void backend_label(const sl_snapshot *s, const sl_snap_backend *b, char *out, size_t len)
{
    if (b->port)
        snprintf(out, len, "%s/%s/%s:%u", sl_snap_cstr(s, b->kind), sl_snap_cstr(s, b->ns), sl_snap_cstr(s, b->name),
                 b->port);
    else
        snprintf(out, len, "%s/%s/%s", sl_snap_cstr(s, b->kind), sl_snap_cstr(s, b->ns), sl_snap_cstr(s, b->name));
}

static void endpoint_label(const sl_snap_endpoint *e, char *out, size_t len)
{
    char text[INET6_ADDRSTRLEN];
    inet_ntop(e->family, e->addr, text, sizeof(text));
    snprintf(out, len, e->family == AF_INET6 ? "[%s]:%u" : "%s:%u", text, e->port);
}

/* Is backend i the first record with its slot (or without one)? */
static bool first_of_slot(const sl_snapshot *s, uint32_t i)
{
    const sl_snap_backend *b = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, i);
    if (b->state == SL_SNAP_NONE)
        return true;
    for (uint32_t k = 0; k < i; k++)
        if (SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, k)->state == b->state)
            return false;
    return true;
}

static const char *health_name(uint32_t h)
{
    return h == SL_HEALTH_HEALTHY ? "Healthy" : h == SL_HEALTH_UNHEALTHY ? "Unhealthy" : "Unknown";
}

static json_t *render_endpoint(const sl_snap_endpoint *e, uint64_t now)
{
    char addr[80];
    endpoint_label(e, addr, sizeof(addr));
    json_t *j = json_pack("{s:s, s:i}", "address", addr, "weight", (int)e->weight);
    const sl_ep_state *st = sl_ep_slot(e->state);
    if (!st) {
        json_object_set_new(j, "state", json_string("untracked")); /* no slot: --endpoint-slots is full */
        return j;
    }
    uint64_t until = atomic_load(&st->ejected_until_ms), probe = 0;
    bool ejected = until > now;
    json_object_set_new(j, "health", json_string(health_name(atomic_load(&st->health))));
    json_object_set_new(j, "usable", json_boolean(sl_ep_usable(st, &probe)));
    json_object_set_new(j, "ejected", json_boolean(ejected));
    if (ejected)
        json_object_set_new(j, "ejectedForMs", json_integer((json_int_t)(until - now)));
    json_object_set_new(j, "activeRequests", json_integer(atomic_load(&st->active)));
    json_object_set_new(j, "requests", json_integer((json_int_t)atomic_load(&st->requests)));
    json_object_set_new(j, "failures", json_integer((json_int_t)atomic_load(&st->failures)));
    json_object_set_new(j, "ejections", json_integer((json_int_t)atomic_load(&st->ejections_total)));
    return j;
}

json_t *sl_snapshot_backends(const sl_snapshot *s, const char *ns, const char *name)
{
    json_t *out = json_array();
    uint64_t now = sl_ep_now_ms();
    for (uint32_t i = 0; i < sl_snap_count(s, SL_SNAP_BACKENDS); i++) {
        const sl_snap_backend *b = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, i);
        if (!first_of_slot(s, i) || (ns && strcmp(ns, sl_snap_cstr(s, b->ns)) != 0) ||
            (name && strcmp(name, sl_snap_cstr(s, b->name)) != 0))
            continue;
        const sl_snap_balancer *cfg =
            b->balancer == SL_SNAP_NONE ? NULL : SL_SNAP_GET(s, SL_SNAP_BALANCERS, sl_snap_balancer, b->balancer);
        json_t *j = json_pack("{s:s, s:s, s:s, s:i}", "kind", sl_snap_cstr(s, b->kind), "namespace",
                              sl_snap_cstr(s, b->ns), "name", sl_snap_cstr(s, b->name), "port", (int)b->port);
        json_object_set_new(j, "policy", cfg ? json_string(sl_snap_cstr(s, cfg->policy)) : json_null());
        uint8_t a = cfg ? cfg->algorithm : SL_LB_ROUND_ROBIN;
        json_object_set_new(j, "loadBalancer", json_string(a < SL_LB_COUNT ? algorithm_names[a] : "?"));
        json_object_set_new(j, "healthCheck", json_boolean(cfg && cfg->health_check != SL_SNAP_NONE));
        const sl_ep_state *st = sl_ep_slot(b->state);
        if (st) {
            json_object_set_new(j, "activeRequests", json_integer(atomic_load(&st->active)));
            json_object_set_new(j, "connections", json_integer(atomic_load(&st->connections)));
            json_object_set_new(j, "pendingRequests", json_integer(atomic_load(&st->pending)));
            json_object_set_new(j, "retriesInFlight", json_integer(atomic_load(&st->retries)));
            json_t *over = json_object();
            static const char *const limits[SL_CB_COUNT] = {"maxConnections", "maxPendingRequests", "maxRequests",
                                                            "retryBudget"};
            for (int k = 0; k < SL_CB_COUNT; k++)
                json_object_set_new(over, limits[k], json_integer((json_int_t)atomic_load(&st->overflows[k])));
            json_object_set_new(j, "circuitBreakerOverflows", over);
        }
        sl_series t;
        if (sl_series_sum(b->series, &t)) {
            /* Its traffic since it was first seen (the same counts as /metrics' sluice_backend_*). */
            json_object_set_new(j, "traffic",
                                json_pack("{s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}}", "attempts",
                                          (json_int_t)t.attempts, "retries", (json_int_t)t.retries, "connectErrors",
                                          (json_int_t)t.connect_errors, "timeouts", (json_int_t)t.timeouts,
                                          "responses", "1xx", (json_int_t)t.responses[0], "2xx",
                                          (json_int_t)t.responses[1], "3xx", (json_int_t)t.responses[2], "4xx",
                                          (json_int_t)t.responses[3], "5xx", (json_int_t)t.responses[4]));
        }
        json_t *eps = json_array();
        for (uint32_t k = 0; k < b->endpoints.count; k++)
            json_array_append_new(eps, render_endpoint(SL_SNAP_GET(s, SL_SNAP_ENDPOINTS, sl_snap_endpoint,
                                                                   b->endpoints.first + k),
                                                       now));
        json_object_set_new(j, "endpoints", eps);
        json_array_append_new(out, j);
    }
    return json_pack("{s:o}", "backends", out);
}

/* Appends printf-formatted text to *buf (size *cap, used *len); false when out of memory. */
static bool add(char **buf, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static bool add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return false;
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return true;
        }
        char *bigger = realloc(*buf, *cap * 2 + (size_t)n);
        if (!bigger)
            return false;
        *buf = bigger;
        *cap = *cap * 2 + (size_t)n;
    }
}

json_t *sl_snapshot_backend_metrics(const sl_snapshot *s, void *arg)
{
    (void)arg;
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    buf[0] = '\0';
    static const struct {
        const char *name, *type, *help;
    } series[] = {
        {"sluice_endpoint_usable", "gauge",
         "1 when the endpoint gets requests: not found unhealthy by the active check, not ejected."},
        {"sluice_endpoint_healthy", "gauge", "Active health check verdict: 1 healthy, 0 unhealthy, -1 not checked."},
        {"sluice_endpoint_active_requests", "gauge", "Requests in flight to the endpoint, all workers."},
        {"sluice_endpoint_requests_total", "counter", "Attempts sent to the endpoint."},
        {"sluice_endpoint_failures_total", "counter", "Attempts that failed: 5xx, no connection, timeout."},
        {"sluice_endpoint_ejections_total", "counter", "Times the passive checks ejected the endpoint."},
    };
    uint64_t now = 0;
    bool ok = true;
    for (size_t k = 0; k < sizeof(series) / sizeof(series[0]) && ok; k++) {
        ok = add(&buf, &len, &cap, "# HELP %s %s\n# TYPE %s %s\n", series[k].name, series[k].help, series[k].name,
                 series[k].type);
        for (uint32_t i = 0; i < sl_snap_count(s, SL_SNAP_BACKENDS) && ok; i++) {
            const sl_snap_backend *b = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, i);
            if (!first_of_slot(s, i))
                continue;
            char bl[400];
            backend_label(s, b, bl, sizeof(bl));
            for (uint32_t e = 0; e < b->endpoints.count && ok; e++) {
                const sl_snap_endpoint *ep = SL_SNAP_GET(s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, b->endpoints.first + e);
                const sl_ep_state *st = sl_ep_slot(ep->state);
                if (!st)
                    continue;
                char el[80];
                endpoint_label(ep, el, sizeof(el));
                uint32_t h = atomic_load(&st->health);
                long long v = k == 0   ? sl_ep_usable(st, &now)
                              : k == 1 ? (h == SL_HEALTH_HEALTHY ? 1 : h == SL_HEALTH_UNHEALTHY ? 0 : -1)
                              : k == 2 ? (long long)atomic_load(&st->active)
                              : k == 3 ? (long long)atomic_load(&st->requests)
                              : k == 4 ? (long long)atomic_load(&st->failures)
                                       : (long long)atomic_load(&st->ejections_total);
                ok = add(&buf, &len, &cap, "%s{backend=\"%s\",endpoint=\"%s\"} %lld\n", series[k].name, bl, el, v);
            }
        }
    }
    ok = ok && add(&buf, &len, &cap,
                   "# HELP sluice_backend_circuit_breaker_overflows_total Requests a backend's circuit breaker "
                   "refused, by limit.\n# TYPE sluice_backend_circuit_breaker_overflows_total counter\n");
    static const char *const limits[SL_CB_COUNT] = {"maxConnections", "maxPendingRequests", "maxRequests",
                                                    "retryBudget"};
    for (uint32_t i = 0; i < sl_snap_count(s, SL_SNAP_BACKENDS) && ok; i++) {
        const sl_snap_backend *b = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, i);
        const sl_ep_state *st = sl_ep_slot(b->state);
        if (!st || !first_of_slot(s, i) || b->balancer == SL_SNAP_NONE)
            continue;
        char bl[400];
        backend_label(s, b, bl, sizeof(bl));
        for (int k = 0; k < SL_CB_COUNT && ok; k++)
            ok = add(&buf, &len, &cap, "sluice_backend_circuit_breaker_overflows_total{backend=\"%s\",limit=\"%s\"} %llu\n",
                     bl, limits[k], (unsigned long long)atomic_load(&st->overflows[k]));
    }
    json_t *j = ok ? json_string(buf) : NULL;
    free(buf);
    return j;
}

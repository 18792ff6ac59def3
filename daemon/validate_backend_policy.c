/* Validation of BackendPolicy (gateway.sluice.dev/v1alpha1): how the gateway
 * treats the endpoints of the Services and Backends it targets. Sections and
 * fields are named as kgateway's BackendConfigPolicy names them (loadBalancer,
 * healthCheck, connectTimeout), with outlierDetection and circuitBreakers as
 * Envoy's; docs/policies.md describes each field and its default. */
#include <stdlib.h>
#include <string.h>

#include "daemon/kinds.h"
#include "daemon/validate.h"

#define SLUICE_GROUP "gateway.sluice.dev"

static const char *str_or(const json_t *o, const char *k, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : dflt;
}

/* Targets: core Services (sectionName: a port name) and sluice Backends. */
static void check_targets(sl_vctx *v, const json_t *spec)
{
    static const char *const kinds[] = {"Service", "Backend", NULL};
    sl_v_policy_target_refs(v, spec, kinds);
    size_t prev = sl_v_field(v, "targetRefs");
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(spec, "targetRefs"), i, t)
    {
        const char *group = str_or(t, "group", ""), *kind = str_or(t, "kind", "");
        size_t p2 = sl_v_index(v, i);
        if (strcmp(kind, "Service") == 0 && group[0])
            sl_v_fail(v, "group", "FieldValueNotSupported",
                      "Unsupported value: \"%s\": a Service is in the core group (\"\")", group);
        else if (strcmp(kind, "Backend") == 0 && strcmp(group, SLUICE_GROUP) != 0)
            sl_v_fail(v, "group", "FieldValueNotSupported",
                      "Unsupported value: \"%s\": supported values: \"" SLUICE_GROUP "\" for a Backend", group);
        if (strcmp(kind, "Backend") == 0 && json_object_get(t, "sectionName"))
            sl_v_fail(v, "sectionName", "FieldValueForbidden",
                      "Forbidden: a Backend has no sections (sectionName names a Service port)");
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

/* A positive duration at parent.key (at most max_ms). */
static void check_positive_duration(sl_vctx *v, const json_t *parent, const char *key, long long max_ms)
{
    long long ms;
    if (sl_v_duration(v, parent, key, &ms) && (ms <= 0 || ms > max_ms))
        sl_v_invalid(v, key, "Invalid value: must be more than 0 and at most %lld s", max_ms / 1000);
}

static void check_slow_start(sl_vctx *v, const json_t *algo)
{
    const json_t *ss = sl_v_get_object(v, algo, "slowStart");
    if (!ss)
        return;
    size_t prev = sl_v_field(v, "slowStart");
    if (!sl_v_present(ss, "window"))
        sl_v_required(v, "window");
    check_positive_duration(v, ss, "window", 3600000);
    const char *aggr = sl_v_get_string(v, ss, "aggression");
    if (aggr) {
        char *end = NULL;
        double a = strtod(aggr, &end);
        if (!end || *end || end == aggr || !(a >= 0.001) || a > 10.0)
            sl_v_invalid(v, "aggression", "Invalid value: \"%s\": a number from 0.001 to 10", aggr);
    }
    sl_v_int_range(v, ss, "minWeightPercent", 0, 100, false, NULL);
    sl_v_pop(v, prev);
}

static void check_hash_policies(sl_vctx *v, const json_t *algo)
{
    const json_t *list = sl_v_get_list(v, algo, "hashPolicies", 1, 16, false);
    size_t prev = sl_v_field(v, "hashPolicies");
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        const json_t *h = sl_v_list_object(v, list, i);
        if (!h)
            continue;
        size_t p2 = sl_v_index(v, i);
        static const char *const kinds[] = {"header", "cookie", "queryParameter", "sourceIP"};
        int n = 0;
        for (size_t k = 0; k < 4; k++) {
            const json_t *part = sl_v_get_object(v, h, kinds[k]);
            if (!part)
                continue;
            n++;
            if (k < 3) {
                size_t p3 = sl_v_field(v, kinds[k]);
                const char *name = sl_v_req_string(v, part, "name");
                if (name && k == 0 && !sl_is_http_token(name))
                    sl_v_invalid(v, "name", "Invalid value: \"%s\": a header name is an HTTP token", name);
                if (name)
                    sl_v_max_len(v, "name", name, 256);
                sl_v_pop(v, p3);
            }
        }
        if (n != 1)
            sl_v_fail(v, NULL, "FieldValueInvalid",
                      "Invalid value: exactly one of header, cookie, queryParameter or sourceIP must be set");
        bool terminal;
        sl_v_get_bool(v, h, "terminal", &terminal);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

static void check_load_balancer(sl_vctx *v, const json_t *spec)
{
    const json_t *lb = sl_v_get_object(v, spec, "loadBalancer");
    if (!lb)
        return;
    size_t prev = sl_v_field(v, "loadBalancer");
    sl_v_int_range(v, lb, "healthyPanicThreshold", 0, 100, false, NULL);
    static const char *const algos[] = {"roundRobin", "leastRequest", "random", "ringHash", "maglev"};
    int n = 0;
    for (size_t k = 0; k < 5; k++) {
        const json_t *a = sl_v_get_object(v, lb, algos[k]);
        if (!a)
            continue;
        n++;
        size_t p2 = sl_v_field(v, algos[k]);
        if (k <= 1)
            check_slow_start(v, a);
        if (k == 1)
            sl_v_int_range(v, a, "choiceCount", 2, 10, false, NULL);
        if (k >= 3) {
            check_hash_policies(v, a);
            if (!sl_v_present(a, "hashPolicies"))
                sl_v_required(v, "hashPolicies");
        }
        if (k == 3) {
            long long lo = 1024, hi = 8388608;
            sl_v_int_range(v, a, "minimumRingSize", 1, 8388608, false, &lo);
            sl_v_int_range(v, a, "maximumRingSize", 1, 8388608, false, &hi);
            if (lo > hi)
                sl_v_invalid(v, "minimumRingSize", "Invalid value: %lld: more than maximumRingSize (%lld)", lo, hi);
        }
        sl_v_pop(v, p2);
    }
    if (n > 1)
        sl_v_fail(v, NULL, "FieldValueInvalid",
                  "Invalid value: at most one of roundRobin, leastRequest, random, ringHash or maglev may be set");
    sl_v_pop(v, prev);
}

static void check_expected_statuses(sl_vctx *v, const json_t *http)
{
    const json_t *list = sl_v_get_list(v, http, "expectedStatuses", 1, 64, false);
    size_t prev = sl_v_field(v, "expectedStatuses");
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        if (!json_is_integer(x) || json_integer_value(x) < 100 || json_integer_value(x) > 599) {
            size_t p2 = sl_v_index(v, i);
            sl_v_invalid(v, NULL, "Invalid value: a status code from 100 to 599");
            sl_v_pop(v, p2);
        }
    }
    sl_v_pop(v, prev);
}

static void check_health_check(sl_vctx *v, const json_t *spec)
{
    const json_t *hc = sl_v_get_object(v, spec, "healthCheck");
    if (!hc)
        return;
    size_t prev = sl_v_field(v, "healthCheck");
    check_positive_duration(v, hc, "interval", 3600000);
    check_positive_duration(v, hc, "timeout", 600000);
    long long jitter_ms, interval_ms = 5000;
    sl_v_duration(v, hc, "interval", &interval_ms);
    if (sl_v_duration(v, hc, "jitter", &jitter_ms) && jitter_ms > interval_ms)
        sl_v_invalid(v, "jitter", "Invalid value: at most the interval (%lld ms)", interval_ms);
    sl_v_int_range(v, hc, "unhealthyThreshold", 1, 100, false, NULL);
    sl_v_int_range(v, hc, "healthyThreshold", 1, 100, false, NULL);
    const json_t *http = sl_v_get_object(v, hc, "http");
    const json_t *tcp = sl_v_get_object(v, hc, "tcp");
    const json_t *grpc = sl_v_get_object(v, hc, "grpc");
    if ((http != NULL) + (tcp != NULL) + (grpc != NULL) != 1)
        sl_v_fail(v, NULL, "FieldValueInvalid", "Invalid value: exactly one of http, tcp or grpc must be set");
    if (http) {
        size_t p2 = sl_v_field(v, "http");
        const char *path = sl_v_req_string(v, http, "path");
        if (path && (path[0] != '/' || strpbrk(path, " \t\r\n") || !sl_v_max_len(v, "path", path, 1024)))
            sl_v_invalid(v, "path", "Invalid value: \"%s\": a path starting with '/', without spaces", path);
        const char *host = sl_v_get_string(v, http, "host");
        if (host && !sl_is_gateway_hostname(host) && !sl_is_ip_literal(host))
            sl_v_invalid(v, "host", "Invalid value: \"%s\": a hostname or an IP address", host);
        static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH",
                                              NULL};
        const char *method = sl_v_get_string(v, http, "method");
        if (method)
            sl_v_enum(v, "method", method, methods);
        check_expected_statuses(v, http);
        sl_v_pop(v, p2);
    }
    if (grpc) {
        size_t p2 = sl_v_field(v, "grpc");
        const char *service = sl_v_get_string(v, grpc, "serviceName");
        if (service && (strpbrk(service, " \t\r\n") || !sl_v_max_len(v, "serviceName", service, 256)))
            sl_v_invalid(v, "serviceName", "Invalid value: a gRPC service name has no spaces");
        const char *authority = sl_v_get_string(v, grpc, "authority");
        if (authority && !sl_is_gateway_hostname(authority) && !sl_is_ip_literal(authority))
            sl_v_invalid(v, "authority", "Invalid value: \"%s\": a hostname or an IP address", authority);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

static void check_outlier_detection(sl_vctx *v, const json_t *spec)
{
    const json_t *od = sl_v_get_object(v, spec, "outlierDetection");
    if (!od)
        return;
    size_t prev = sl_v_field(v, "outlierDetection");
    sl_v_int_range(v, od, "consecutive5xx", 0, 1000, false, NULL);
    sl_v_int_range(v, od, "consecutiveConnectFailures", 0, 1000, false, NULL);
    check_positive_duration(v, od, "interval", 3600000);
    check_positive_duration(v, od, "baseEjectionTime", 3600000);
    check_positive_duration(v, od, "maxEjectionTime", 86400000);
    sl_v_int_range(v, od, "maxEjectionPercent", 0, 100, false, NULL);
    sl_v_pop(v, prev);
}

static void check_circuit_breakers(sl_vctx *v, const json_t *spec)
{
    const json_t *cb = sl_v_get_object(v, spec, "circuitBreakers");
    if (!cb)
        return;
    size_t prev = sl_v_field(v, "circuitBreakers");
    sl_v_int_range(v, cb, "maxConnections", 1, 1000000000, false, NULL);
    sl_v_int_range(v, cb, "maxPendingRequests", 1, 1000000000, false, NULL);
    sl_v_int_range(v, cb, "maxRequests", 1, 1000000000, false, NULL);
    const json_t *rb = sl_v_get_object(v, cb, "retryBudget");
    if (rb) {
        size_t p2 = sl_v_field(v, "retryBudget");
        sl_v_int_range(v, rb, "budgetPercent", 0, 100, false, NULL);
        sl_v_int_range(v, rb, "minRetryConcurrency", 0, 1000000, false, NULL);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

void sl_validate_backendpolicy(sl_vctx *v, const json_t *obj)
{
    const json_t *spec = sl_v_spec(v, obj);
    if (!spec)
        return;
    size_t prev = sl_v_field(v, "spec");
    check_targets(v, spec);
    check_positive_duration(v, spec, "connectTimeout", 600000);
    check_load_balancer(v, spec);
    check_health_check(v, spec);
    check_outlier_detection(v, spec);
    check_circuit_breakers(v, spec);
    static const char *const sections[] = {"connectTimeout", "loadBalancer", "healthCheck", "outlierDetection",
                                           "circuitBreakers"};
    bool any = false;
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        any |= sl_v_present(spec, sections[i]) != NULL;
    if (!any)
        sl_v_fail(v, NULL, "FieldValueRequired",
                  "Required value: at least one of connectTimeout, loadBalancer, healthCheck, outlierDetection or "
                  "circuitBreakers must be specified");
    sl_v_pop(v, prev);
}

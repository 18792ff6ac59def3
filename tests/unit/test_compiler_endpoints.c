/* Endpoint-only compiles (daemon/compiler_endpoints.c): after EndpointSlices
 * change, the snapshot they build from the last full compile's tables says the
 * same as a full compile of the store (rendered as /debug/snapshot renders it):
 * every backend's endpoints, their consistent-hash tables, the routes; and the
 * store says when only EndpointSlices changed. */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/endpoint_state.h"
#include "common/snapshot.h"
#include "daemon/compiler.h"
#include "daemon/snapshot_render.h"
#include "tests/unit/compile_fixture.h"
#include "tests/unit/unit.h"

static void put_config(sl_cfix *f)
{
    sl_cfix_put(f, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},'spec':{'gatewayClassName':"
                   "'sluice','listeners':[{'name':'http','port':80,'protocol':'HTTP'}]}}");
    sl_cfix_put(f, "{'kind':'HTTPRoute','metadata':{'name':'r','namespace':'default'},'spec':{'parentRefs':[{'name':'gw'}],"
                   "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/a'}}],'backendRefs':[{'name':'a','port':80}]},"
                   "{'matches':[{'path':{'type':'PathPrefix','value':'/admin'}}],'backendRefs':[{'name':'a','port':81}]},"
                   "{'matches':[{'path':{'type':'PathPrefix','value':'/b'}}],'backendRefs':[{'name':'b','port':80}]},"
                   "{'matches':[{'path':{'type':'PathPrefix','value':'/m'}}],'backendRefs':[{'name':'m','port':80}]},"
                   "{'matches':[{'path':{'type':'PathPrefix','value':'/s'}}],'backendRefs':[{'group':'gateway.sluice.dev',"
                   "'kind':'Backend','name':'st'}]}]}}");
    sl_cfix_put(f, "{'kind':'GRPCRoute','metadata':{'name':'g','namespace':'default'},'spec':{'parentRefs':[{'name':'gw'}],"
                   "'hostnames':['grpc.example.com'],'rules':[{'backendRefs':[{'name':'a','port':80}]}]}}");
    sl_cfix_put(f, "{'kind':'Service','metadata':{'name':'a','namespace':'default'},'spec':{'ports':["
                   "{'name':'http','port':80},{'name':'admin','port':81}]}}");
    sl_cfix_put(f, "{'kind':'Service','metadata':{'name':'b','namespace':'default'},'spec':{'ports':[{'name':'http','port':80}]}}");
    sl_cfix_put(f, "{'kind':'Service','metadata':{'name':'m','namespace':'default'},'spec':{'ports':[{'name':'http','port':80}]}}");
    sl_cfix_put(f, "{'kind':'Backend','metadata':{'name':'st','namespace':'default'},'spec':{'type':'Static',"
                   "'static':{'hosts':[{'host':'10.9.0.1','port':8080,'weight':3},{'host':'10.9.0.2','port':8080}]}}}");
    /* b by ring hash, m by maglev, st by ring hash with its own sizes. */
    sl_cfix_put(f, "{'kind':'BackendPolicy','metadata':{'name':'rb','namespace':'default'},'spec':{'targetRefs':"
                   "[{'group':'','kind':'Service','name':'b'}],'loadBalancer':{'ringHash':{'minimumRingSize':64,"
                   "'maximumRingSize':256,'hashPolicies':[{'header':{'name':'x-user'}}]}}}}");
    sl_cfix_put(f, "{'kind':'BackendPolicy','metadata':{'name':'mm','namespace':'default'},'spec':{'targetRefs':"
                   "[{'group':'','kind':'Service','name':'m'}],'loadBalancer':{'maglev':{'hashPolicies':"
                   "[{'header':{'name':'x-user'}}]}}}}");
    sl_cfix_put(f, "{'kind':'BackendPolicy','metadata':{'name':'rs','namespace':'default'},'spec':{'targetRefs':"
                   "[{'group':'gateway.sluice.dev','kind':'Backend','name':'st'}],'loadBalancer':{'ringHash':{"
                   "'minimumRingSize':32,'maximumRingSize':128,'hashPolicies':[{'header':{'name':'x-user'}}]}}}}");
}

/* EndpointSlice NAME of Service SVC with the addresses 10.OCTET.0.1..n on port PORT (named http). */
static void put_slice(sl_cfix *f, const char *name, const char *svc, int octet, int n, int port, const char *port_name)
{
    char eps[4096] = "";
    size_t len = 0;
    for (int i = 1; i <= n; i++)
        len += (size_t)snprintf(eps + len, sizeof(eps) - len, "%s{'addresses':['10.%d.0.%d']%s}", len ? "," : "", octet,
                                i, i == 2 ? ",'conditions':{'ready':false}" : "");
    sl_cfix_put(f, "{'kind':'EndpointSlice','apiVersion':'discovery.k8s.io/v1','metadata':{'name':'%s','namespace':"
                   "'default','labels':{'kubernetes.io/service-name':'%s'}},'addressType':'IPv4','endpoints':[%s],"
                   "'ports':[{'name':'%s','port':%d}]}",
                name, svc, eps, port_name, port);
}

static json_t *render(void *blob, size_t size)
{
    char why[256] = "";
    if (!sl_snapshot_verify(blob, size, why, sizeof(why))) {
        fprintf(stderr, "  snapshot does not verify: %s\n", why);
        return NULL;
    }
    sl_snapshot s = {blob, size};
    return sl_snapshot_render(&s);
}

/* The endpoint-only compile from memo and a full compile of the store say the same. */
static bool same_as_full(sl_cfix *f, const sl_compile_memo *memo)
{
    size_t fast_size, full_size;
    void *fast = sl_compile_endpoints(f->store, memo, 7, &fast_size);
    void *full = sl_compile(f->store, 7, &full_size, NULL);
    json_t *a = render(fast, fast_size), *b = render(full, full_size);
    /* (the sizes and checksums differ: strings of old endpoints stay unused in the string table) */
    json_object_del(a, "bytes");
    json_object_del(a, "checksum");
    json_object_del(b, "bytes");
    json_object_del(b, "checksum");
    bool same = a && b && json_equal(a, b);
    /* What the rendering leaves out: every endpoint's slot and weight, each
     * backend's ranges and slot, and the consistent-hash tables, entry by entry. */
    sl_snapshot x = {fast, fast_size}, y = {full, full_size};
    same = same && sl_snap_count(&x, SL_SNAP_ENDPOINTS) == sl_snap_count(&y, SL_SNAP_ENDPOINTS) &&
           sl_snap_count(&x, SL_SNAP_BACKENDS) == sl_snap_count(&y, SL_SNAP_BACKENDS) &&
           sl_snap_count(&x, SL_SNAP_LB_ENTRIES) == sl_snap_count(&y, SL_SNAP_LB_ENTRIES);
    for (uint32_t i = 0; same && i < sl_snap_count(&x, SL_SNAP_ENDPOINTS); i++) {
        const sl_snap_endpoint *p = SL_SNAP_GET(&x, SL_SNAP_ENDPOINTS, sl_snap_endpoint, i);
        const sl_snap_endpoint *q = SL_SNAP_GET(&y, SL_SNAP_ENDPOINTS, sl_snap_endpoint, i);
        same = p->family == q->family && p->port == q->port && memcmp(p->addr, q->addr, 16) == 0 &&
               p->state == q->state && p->weight == q->weight &&
               strcmp(sl_snap_cstr(&x, p->host), sl_snap_cstr(&y, q->host)) == 0;
    }
    for (uint32_t i = 0; same && i < sl_snap_count(&x, SL_SNAP_BACKENDS); i++) {
        const sl_snap_backend *p = SL_SNAP_GET(&x, SL_SNAP_BACKENDS, sl_snap_backend, i);
        const sl_snap_backend *q = SL_SNAP_GET(&y, SL_SNAP_BACKENDS, sl_snap_backend, i);
        same = memcmp(&p->endpoints, &q->endpoints, sizeof(p->endpoints)) == 0 &&
               memcmp(&p->lb_entries, &q->lb_entries, sizeof(p->lb_entries)) == 0 && p->state == q->state &&
               p->balancer == q->balancer && p->series == q->series && p->protocol == q->protocol;
    }
    same = same && (sl_snap_count(&x, SL_SNAP_LB_ENTRIES) == 0 ||
                    memcmp(SL_SNAP_GET(&x, SL_SNAP_LB_ENTRIES, sl_snap_lb_entry, 0),
                          SL_SNAP_GET(&y, SL_SNAP_LB_ENTRIES, sl_snap_lb_entry, 0),
                           sl_snap_count(&x, SL_SNAP_LB_ENTRIES) * sizeof(sl_snap_lb_entry)) == 0);
    if (!same) {
        char *ta = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS), *tb = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(stderr, "  endpoint-only: %.1500s\n  full:          %.1500s\n", ta ? ta : "", tb ? tb : "");
        free(ta);
        free(tb);
    }
    json_decref(a);
    json_decref(b);
    free(fast);
    free(full);
    return same;
}

static void test_endpoint_changes_compile_as_a_full_compile_would(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    put_config(&f);
    put_slice(&f, "a-1", "a", 1, 3, 8080, "http");
    put_slice(&f, "a-2", "a", 2, 2, 8080, "http");
    put_slice(&f, "a-admin", "a", 3, 1, 9090, "admin");
    put_slice(&f, "b-1", "b", 4, 5, 8080, "http");
    put_slice(&f, "m-1", "m", 5, 4, 8080, "http");
    sl_compile_memo memo = {0};
    size_t size;
    int64_t memo_rv = sl_store_config_rv(f.store);
    json_t *status = NULL;
    free(sl_compile_with_memo(f.store, 1, &size, &status, &memo));
    CHECK(memo.valid);
    CHECK(sl_store_changed_only(f.store, memo_rv, "EndpointSlice"));
    CHECK(same_as_full(&f, &memo)); /* (nothing changed) */
    CHECK(sl_compile_endpoints_possible(&memo));
    /* Endpoints come and go, a slice goes, another comes, a ring's and a maglev's endpoints move. */
    put_slice(&f, "a-1", "a", 1, 6, 8080, "http");
    sl_cfix_put(&f, "{'kind':'EndpointSlice','apiVersion':'discovery.k8s.io/v1','metadata':{'name':'a-2','namespace':"
                    "'default','labels':{'kubernetes.io/service-name':'a'}},'addressType':'IPv4','endpoints':[],"
                    "'ports':[{'name':'http','port':8080}]}");
    put_slice(&f, "b-1", "b", 4, 3, 8081, "http");
    put_slice(&f, "b-2", "b", 6, 2, 8081, "http");
    put_slice(&f, "m-1", "m", 5, 9, 8080, "http");
    CHECK(sl_store_changed_only(f.store, memo_rv, "EndpointSlice"));
    CHECK(same_as_full(&f, &memo));
    size_t fs;
    void *fast = sl_compile_endpoints(f.store, &memo, 8, &fs);
    sl_snapshot fsnap = {fast, fs};
    CHECK(sl_snap_count(&fsnap, SL_SNAP_LB_ENTRIES) > 0); /* (the ring and the maglev were compared) */
    free(fast);
    /* Every endpoint of a Service gone. */
    put_slice(&f, "m-1", "m", 5, 0, 8080, "http");
    CHECK(same_as_full(&f, &memo));
    /* Anything else changing is not for the endpoint-only path. */
    put_slice(&f, "a-admin", "a", 3, 2, 9090, "admin");
    sl_cfix_put(&f, "{'kind':'Service','metadata':{'name':'b','namespace':'default'},'spec':{'ports':[{'name':'http',"
                    "'port':80,'appProtocol':'kubernetes.io/h2c'}]}}");
    CHECK(!sl_store_changed_only(f.store, memo_rv, "EndpointSlice"));
    CHECK(sl_store_changed_only(f.store, sl_store_config_rv(f.store), "EndpointSlice"));
    json_decref(status);
    sl_compile_memo_clear(&memo);
    CHECK(!memo.valid);
    sl_cfix_close(&f);
}

/* The cases a review found (each compared both ways, with slots): */

static void base(sl_cfix *f)
{
    sl_cfix_put(f, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},'spec':{'gatewayClassName':"
                   "'sluice','listeners':[{'name':'http','port':80,'protocol':'HTTP'}]}}");
    sl_cfix_put(f, "{'kind':'Service','metadata':{'name':'a','namespace':'default'},'spec':{'ports':[{'name':'http','port':80}]}}");
    put_slice(f, "a-1", "a", 1, 2, 8080, "http");
}

/* HTTPRoute r: /a to Service a, and the rule `more` (JSON with single quotes; "" for none). */
static void put_route(sl_cfix *f, const char *more)
{
    sl_cfix_put(f, "{'kind':'HTTPRoute','metadata':{'name':'r','namespace':'default'},'spec':{'parentRefs':[{'name':'gw'}],"
                   "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/a'}}],'backendRefs':[{'name':'a','port':80}]}"
                   "%s%s]}}",
                more[0] ? "," : "", more);
}

/* Full compile into a memo, one EndpointSlice changes, then both ways compared. */
static void check_after_slice_change(sl_cfix *f)
{
    sl_compile_memo memo = {0};
    size_t size;
    free(sl_compile_with_memo(f->store, 1, &size, NULL, &memo));
    CHECK(sl_compile_endpoints_possible(&memo));
    put_slice(f, "a-1", "a", 1, 3, 8080, "http");
    CHECK(same_as_full(f, &memo));
    sl_compile_memo_clear(&memo);
}

/* A Backend ref with a port: its slots' key has that port, which the record does not. */
static void test_backend_ref_with_port_keeps_its_slots(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    base(&f);
    put_route(&f, "{'matches':[{'path':{'type':'PathPrefix','value':'/s'}}],'backendRefs':[{'group':"
                  "'gateway.sluice.dev','kind':'Backend','name':'st','port':8080}]}");
    sl_cfix_put(&f, "{'kind':'Backend','metadata':{'name':'st','namespace':'default'},'spec':{'type':'Static',"
                    "'static':{'hosts':[{'host':'10.9.0.1','port':8080},{'host':'10.9.0.2','port':8080}]}}}");
    check_after_slice_change(&f);
    sl_cfix_close(&f);
}

/* An AI Backend's fallback: a record without slots. */
static void test_ai_fallback_gets_no_slots(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    base(&f);
    put_route(&f, "{'matches':[{'path':{'type':'PathPrefix','value':'/ai'}}],'backendRefs':[{'group':"
                  "'gateway.sluice.dev','kind':'Backend','name':'ai1'}]}");
    sl_cfix_put(&f, "{'kind':'Backend','metadata':{'name':'ai1','namespace':'default'},'spec':{'type':'AI','ai':{"
                    "'provider':'OpenAICompatible','host':'10.7.0.1','port':8000,'fallbacks':[{'name':'ai2'}]}}}");
    sl_cfix_put(&f, "{'kind':'Backend','metadata':{'name':'ai2','namespace':'default'},'spec':{'type':'AI','ai':{"
                    "'provider':'OpenAICompatible','host':'10.7.0.2','port':8000}}}");
    check_after_slice_change(&f);
    sl_cfix_close(&f);
}

/* A GRPCRoute to a Service port over TLS: the record is made, then not used (no slots). */
static void test_unused_grpc_tls_record_gets_no_slots(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    base(&f);
    sl_cfix_put(&f, "{'kind':'Service','metadata':{'name':'t','namespace':'default'},'spec':{'ports':[{'name':'https',"
                    "'port':443,'appProtocol':'https'}]}}");
    put_slice(&f, "t-1", "t", 3, 2, 8443, "https");
    put_route(&f, "");
    sl_cfix_put(&f, "{'kind':'GRPCRoute','metadata':{'name':'g','namespace':'default'},'spec':{'parentRefs':[{'name':'gw'}],"
                    "'hostnames':['grpc.example.com'],'rules':[{'backendRefs':[{'name':'t','port':443}]}]}}");
    check_after_slice_change(&f);
    sl_cfix_close(&f);
}

/* One port number twice (UDP and TCP): the port the full compile picked. */
static void test_a_port_number_twice_keeps_its_port(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    base(&f);
    sl_cfix_put(&f, "{'kind':'Service','metadata':{'name':'d','namespace':'default'},'spec':{'ports':["
                    "{'name':'dns','port':53,'protocol':'UDP'},{'name':'dnstcp','port':53,'protocol':'TCP'}]}}");
    sl_cfix_put(&f, "{'kind':'EndpointSlice','apiVersion':'discovery.k8s.io/v1','metadata':{'name':'d-1','namespace':"
                    "'default','labels':{'kubernetes.io/service-name':'d'}},'addressType':'IPv4','endpoints':"
                    "[{'addresses':['10.5.0.1']}],'ports':[{'name':'dns','port':5353,'protocol':'UDP'},"
                    "{'name':'dnstcp','port':5354,'protocol':'TCP'}]}");
    put_route(&f, "{'matches':[{'path':{'type':'PathPrefix','value':'/d'}}],'backendRefs':[{'name':'d','port':53}]}");
    check_after_slice_change(&f);
    sl_cfix_close(&f);
}

/* A backend host that is a name: each compile looks it up, so no endpoint-only compiles. */
static void test_a_host_name_takes_full_compiles(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    base(&f);
    sl_cfix_put(&f, "{'kind':'HTTPRoute','metadata':{'name':'r','namespace':'default'},'spec':{'parentRefs':[{'name':'gw'}],"
                    "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/s'}}],'backendRefs':[{'group':"
                    "'gateway.sluice.dev','kind':'Backend','name':'st'}]}]}}");
    sl_cfix_put(&f, "{'kind':'Backend','metadata':{'name':'st','namespace':'default'},'spec':{'type':'Static',"
                    "'static':{'hosts':[{'host':'localhost','port':8080}]}}}");
    sl_compile_memo memo = {0};
    size_t size;
    free(sl_compile_with_memo(f.store, 1, &size, NULL, &memo));
    CHECK(memo.valid && !sl_compile_endpoints_possible(&memo));
    sl_compile_memo_clear(&memo);
    sl_cfix_close(&f);
}

int main(void)
{
    /* Slots as the master has them (a test without the table would see none either way). */
    uint32_t nslots = 4096;
    sl_ep_states = calloc(1, offsetof(sl_ep_table, slots) + (size_t)nslots * sizeof(sl_ep_state));
    if (!sl_ep_states)
        return 1;
    sl_ep_states->nslots = nslots;
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_endpoint_changes_compile_as_a_full_compile_would),
        UNIT_TEST(test_backend_ref_with_port_keeps_its_slots),
        UNIT_TEST(test_ai_fallback_gets_no_slots),
        UNIT_TEST(test_unused_grpc_tls_record_gets_no_slots),
        UNIT_TEST(test_a_port_number_twice_keeps_its_port),
        UNIT_TEST(test_a_host_name_takes_full_compiles),
    };
    return sl_unit_run("compiler_endpoints", tests, sizeof(tests) / sizeof(tests[0]));
}

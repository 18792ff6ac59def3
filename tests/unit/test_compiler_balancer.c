/* From BackendPolicies to the snapshot's balancers: which policy a backend
 * gets (a Service port by name beats the whole Service, the older wins), the
 * defaults without one, and the consistent-hashing structures: a key keeps its
 * endpoint, and when one of ten endpoints leaves only about a tenth of the keys
 * move (ring hash: exactly the leaving endpoint's own). The lookups below are
 * the workers' (workers/lb_hash.c) written out again over the snapshot. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lb_hash.h"
#include "common/snapshot.h"
#include "tests/unit/compile_fixture.h"
#include "tests/unit/unit.h"

#define KEYS 20000

static void put_route(sl_cfix *f)
{
    sl_cfix_put(f, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},'spec':{'gatewayClassName':"
                   "'sluice','listeners':[{'name':'http','port':80,'protocol':'HTTP'}]}}");
    sl_cfix_put(f, "{'kind':'HTTPRoute','metadata':{'name':'r','namespace':'default'},'spec':{'parentRefs':[{'name':'gw'}],"
                   "'rules':[{'backendRefs':[{'group':'gateway.sluice.dev','kind':'Backend','name':'be'}]},"
                   "{'matches':[{'path':{'type':'PathPrefix','value':'/s'}}],'backendRefs':[{'name':'svc','port':80}]}]}}");
    sl_cfix_put(f, "{'kind':'Service','metadata':{'name':'svc','namespace':'default'},'spec':{'ports':["
                   "{'name':'http','port':80},{'name':'admin','port':81}]}}");
}

/* Backend be with hosts 10.0.0.1..n (skipping `skip`, 0 for none). */
static void put_hosts(sl_cfix *f, int n, int skip)
{
    char hosts[4096] = "";
    size_t len = 0;
    for (int i = 1; i <= n; i++)
        if (i != skip)
            len += (size_t)snprintf(hosts + len, sizeof(hosts) - len, "%s{'host':'10.0.0.%d','port':80}",
                                    len ? "," : "", i);
    sl_cfix_put(f, "{'kind':'Backend','metadata':{'name':'be','namespace':'default'},'spec':{'type':'Static',"
                   "'static':{'hosts':[%s]}}}",
                hosts);
}

static const sl_snap_backend *find_backend(const sl_cfix *f, const char *name)
{
    for (uint32_t i = 0; i < sl_snap_count(&f->snap, SL_SNAP_BACKENDS); i++) {
        const sl_snap_backend *b = SL_SNAP_GET(&f->snap, SL_SNAP_BACKENDS, sl_snap_backend, i);
        if (strcmp(sl_snap_cstr(&f->snap, b->name), name) == 0)
            return b;
    }
    return NULL;
}

/* The last octet of the endpoint that key k lands on. */
static int lookup(const sl_cfix *f, const sl_snap_backend *b, uint8_t algorithm, int k)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "user-%d", k);
    /* As lb_hash.c folds one header part: the value, then a NUL. */
    uint64_t h = sl_lb_hash_end(sl_lb_hash_more(sl_lb_hash_more(sl_lb_hash_start(), key, (size_t)n), "\0", 1));
    uint32_t cells = b->lb_entries.count, cell;
    if (algorithm == SL_LB_MAGLEV) {
        cell = (uint32_t)(h % cells);
    } else {
        uint32_t point = (uint32_t)(h >> 32), lo = 0, hi = cells;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (SL_SNAP_GET(&f->snap, SL_SNAP_LB_ENTRIES, sl_snap_lb_entry, b->lb_entries.first + mid)->point < point)
                lo = mid + 1;
            else
                hi = mid;
        }
        cell = lo % cells;
    }
    uint32_t e = SL_SNAP_GET(&f->snap, SL_SNAP_LB_ENTRIES, sl_snap_lb_entry, b->lb_entries.first + cell)->endpoint;
    const sl_snap_endpoint *ep = SL_SNAP_GET(&f->snap, SL_SNAP_ENDPOINTS, sl_snap_endpoint, b->endpoints.first + e);
    return ep->addr[3];
}

static void check_disruption(const char *algo, uint8_t algorithm)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    put_route(&f);
    put_hosts(&f, 10, 0);
    sl_cfix_put(&f, "{'kind':'BackendPolicy','metadata':{'name':'p','namespace':'default'},'spec':{'targetRefs':"
                    "[{'group':'gateway.sluice.dev','kind':'Backend','name':'be'}],'loadBalancer':{'%s':"
                    "{'hashPolicies':[{'header':{'name':'x-user'}}]}}}}",
                algo);
    int *before = calloc(KEYS, sizeof(int));
    CHECK(before != NULL);
    if (before && sl_cfix_compile(&f)) {
        const sl_snap_backend *b = find_backend(&f, "be");
        CHECK(b && b->balancer != SL_SNAP_NONE && b->lb_entries.count > 0);
        int per[11] = {0};
        for (int k = 0; b && k < KEYS; k++) {
            before[k] = lookup(&f, b, algorithm, k);
            per[before[k]]++;
        }
        /* An even spread: each endpoint within 30% of a tenth. */
        for (int i = 1; i <= 10; i++)
            CHECK(per[i] > KEYS / 10 * 7 / 10 && per[i] < KEYS / 10 * 13 / 10);
        put_hosts(&f, 10, 4);
        if (sl_cfix_compile(&f)) {
            b = find_backend(&f, "be");
            int moved = 0, own = 0, others = 0;
            for (int k = 0; b && k < KEYS; k++) {
                int now = lookup(&f, b, algorithm, k);
                CHECK(now != 4);
                own += before[k] == 4;
                if (now != before[k]) {
                    moved++;
                    others += before[k] != 4;
                }
            }
            printf("  %s: one of 10 endpoints left: %.1f%% of %d keys moved (ideal %.1f%%: its own)\n", algo,
                   100.0 * moved / KEYS, KEYS, 100.0 * own / KEYS);
            CHECK(moved >= own);
            CHECK(moved < KEYS * 13 / 100);
            if (algorithm == SL_LB_RING_HASH)
                CHECK(others == 0);
        }
    }
    free(before);
    sl_cfix_close(&f);
}

static void test_ring_hash_moves_only_the_leaving_endpoints_keys(void) { check_disruption("ringHash", SL_LB_RING_HASH); }

static void test_maglev_moves_about_a_tenth(void) { check_disruption("maglev", SL_LB_MAGLEV); }

static const sl_snap_balancer *balancer_of(const sl_cfix *f, const sl_snap_backend *b)
{
    return b && b->balancer != SL_SNAP_NONE ? SL_SNAP_GET(&f->snap, SL_SNAP_BALANCERS, sl_snap_balancer, b->balancer)
                                            : NULL;
}

static void test_which_policy_applies(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    put_route(&f);
    put_hosts(&f, 3, 0);
    /* The whole Service (older) and its port by name (newer): the port's wins for it. */
    sl_cfix_put(&f, "{'kind':'BackendPolicy','metadata':{'name':'whole','namespace':'default','creationTimestamp':"
                    "'2020-01-01T00:00:00Z'},'spec':{'targetRefs':[{'group':'','kind':'Service','name':'svc'}],"
                    "'loadBalancer':{'random':{}}}}");
    sl_cfix_put(&f, "{'kind':'BackendPolicy','metadata':{'name':'port','namespace':'default','creationTimestamp':"
                    "'2021-01-01T00:00:00Z'},'spec':{'targetRefs':[{'group':'','kind':'Service','name':'svc',"
                    "'sectionName':'http'}],'loadBalancer':{'leastRequest':{'choiceCount':3}},"
                    "'circuitBreakers':{'maxRequests':7},'outlierDetection':{}}}");
    /* Two for the Backend: the older applies, the newer is Conflicted. */
    sl_cfix_put(&f, "{'kind':'BackendPolicy','metadata':{'name':'old','namespace':'default','creationTimestamp':"
                    "'2020-01-01T00:00:00Z'},'spec':{'targetRefs':[{'group':'gateway.sluice.dev','kind':'Backend',"
                    "'name':'be'}],'connectTimeout':'250ms','healthCheck':{'tcp':{}}}}");
    sl_cfix_put(&f, "{'kind':'BackendPolicy','metadata':{'name':'new','namespace':'default','creationTimestamp':"
                    "'2022-01-01T00:00:00Z'},'spec':{'targetRefs':[{'group':'gateway.sluice.dev','kind':'Backend',"
                    "'name':'be'}],'connectTimeout':'9s'}}");
    if (sl_cfix_compile(&f)) {
        const sl_snap_balancer *svc = balancer_of(&f, find_backend(&f, "svc"));
        CHECK(svc && svc->algorithm == SL_LB_LEAST_REQUEST && svc->choice_count == 3 && svc->max_requests == 7);
        /* outlierDetection present with no fields: its own defaults, not the implicit ones. */
        CHECK(svc && svc->consecutive_5xx == 5 && svc->base_ejection_ms == 30000 && svc->max_ejection_percent == 50);
        const sl_snap_balancer *be = balancer_of(&f, find_backend(&f, "be"));
        CHECK(be && be->connect_timeout_ms == 250 && be->health_check != SL_SNAP_NONE);
        CHECK(be && strcmp(sl_snap_cstr(&f.snap, be->policy), "default/old") == 0);
        const json_t *st = json_object_get(f.status, "BackendPolicy/default/new");
        const json_t *cond = json_array_get(json_object_get(json_array_get(json_object_get(st, "ancestors"), 0),
                                                            "conditions"), 0);
        CHECK_STR(json_string_value(json_object_get(cond, "reason")), "Conflicted");
        st = json_object_get(f.status, "BackendPolicy/default/old");
        cond = json_array_get(json_object_get(json_array_get(json_object_get(st, "ancestors"), 0), "conditions"), 0);
        CHECK_STR(json_string_value(json_object_get(cond, "reason")), "Accepted");
    }
    sl_cfix_close(&f);
}

static void test_weights_reach_the_endpoints_and_defaults_stay_off(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    put_route(&f);
    sl_cfix_put(&f, "{'kind':'Backend','metadata':{'name':'be','namespace':'default'},'spec':{'type':'Static',"
                    "'static':{'hosts':[{'host':'10.0.0.1','port':80,'weight':5},{'host':'10.0.0.2','port':80}]}}}");
    if (sl_cfix_compile(&f)) {
        const sl_snap_backend *b = find_backend(&f, "be");
        CHECK(b && b->endpoints.count == 2 && b->balancer == SL_SNAP_NONE && b->lb_entries.count == 0);
        if (b) {
            CHECK(SL_SNAP_GET(&f.snap, SL_SNAP_ENDPOINTS, sl_snap_endpoint, b->endpoints.first)->weight == 5);
            CHECK(SL_SNAP_GET(&f.snap, SL_SNAP_ENDPOINTS, sl_snap_endpoint, b->endpoints.first + 1)->weight == 1);
        }
    }
    sl_cfix_close(&f);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_ring_hash_moves_only_the_leaving_endpoints_keys),
        UNIT_TEST(test_maglev_moves_about_a_tenth),
        UNIT_TEST(test_which_policy_applies),
        UNIT_TEST(test_weights_reach_the_endpoints_and_defaults_stay_off),
    };
    return sl_unit_run("compiler_balancer", tests, sizeof(tests) / sizeof(tests[0]));
}

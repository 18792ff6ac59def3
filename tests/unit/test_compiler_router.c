/* End-to-end tests from stored objects to routing decisions, without any process:
 * objects are written into a store in a temporary dir as the admin API would,
 * compiled into a snapshot (daemon/compiler*.c), verified, and requests are routed
 * with the worker's router (workers/router.c). Covers the Gateway API's route
 * precedence, hostnames, attachment (parentRefs, allowedRoutes), backend
 * resolution (ReferenceGrant, EndpointSlices, weights), filters and the route
 * status the compiler reports. */
#include <arpa/inet.h>
#include <ftw.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sl.h"
#include "common/snapshot.h"
#include "daemon/compiler.h"
#include "daemon/kinds.h"
#include "daemon/objects.h"
#include "daemon/store.h"
#include "tests/unit/compile_fixture.h"
#include "tests/unit/unit.h"
#include "workers/filters.h"
#include "workers/router.h"

/* ---- fixture ---- */

/* The compile fixture (compile_fixture.c) and the router built on its snapshot. */
typedef struct env {
    sl_cfix f;
    sl_regex_set *rx;
    char result[256]; /* the last lookup, as text */
    const sl_snap_route *route; /* the last route found */
} env;

static bool env_open(env *e)
{
    memset(e, 0, sizeof(*e));
    return sl_cfix_open(&e->f);
}

static void env_close(env *e)
{
    sl_regex_set_free(e->rx);
    e->rx = NULL;
    sl_cfix_close(&e->f);
}

/* Writes one object given as JSON with single quotes for double quotes. Objects
 * without metadata.creationTimestamp get a fixed one, so that ages only differ
 * where a test says so. */
static void put(env *e, const char *text) { sl_cfix_put(&e->f, "%s", text); }

static void putf(env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(env *e, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    put(e, buf);
}

/* The usual Gateway: default/gw, class sluice, one HTTP listener "http" on 80. */
static void put_gateway(env *e)
{
    put(e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
           "'spec':{'gatewayClassName':'sluice','listeners':[{'name':'http','port':80,'protocol':'HTTP'}]}}");
}

/* An HTTPRoute default/<name> on default/gw with the given hostnames (a JSON
 * array) and rules (a JSON array), single-quoted. */
static void put_route(env *e, const char *name, const char *hostnames, const char *rules)
{
    putf(e,
         "{'kind':'HTTPRoute','metadata':{'name':'%s','namespace':'default'},"
         "'spec':{'parentRefs':[{'name':'gw'}],'hostnames':%s,'rules':%s}}",
         name, hostnames, rules);
}

/* Compiles and verifies; the snapshot stays in e until the next compile. */
static bool compile(env *e)
{
    sl_regex_set_free(e->rx);
    e->rx = NULL;
    if (!sl_cfix_compile(&e->f))
        return false;
    e->rx = sl_regex_set_build(&e->f.snap);
    return true;
}

/* The PORTS index of Gateway ns/name's socket on `port`, or SL_SNAP_NONE. */
static uint32_t port_of(env *e, const char *ns, const char *gw, uint16_t port)
{
    for (uint32_t i = 0; i < sl_snap_count(&e->f.snap, SL_SNAP_PORTS); i++) {
        const sl_snap_port *p = SL_SNAP_GET(&e->f.snap, SL_SNAP_PORTS, sl_snap_port, i);
        const sl_snap_gateway *g = SL_SNAP_GET(&e->f.snap, SL_SNAP_GATEWAYS, sl_snap_gateway, p->gateway);
        if (p->port == port && strcmp(sl_snap_cstr(&e->f.snap, g->ns), ns) == 0 &&
            strcmp(sl_snap_cstr(&e->f.snap, g->name), gw) == 0)
            return i;
    }
    return SL_SNAP_NONE;
}

/* Routes a request arriving on port `port` of default/gw. `target` may carry a
 * query; headers are "Name: value" strings ending with NULL. Returns
 * "name#rule" ("ns/name#rule" outside default), "NO_HOST", "NO_MATCH" or
 * "NO_PORT". */
static const char *lookup_h(env *e, uint16_t port, const char *method, const char *host, const char *target,
                            const char *const *headers)
{
    e->route = NULL;
    if (!e->f.blob)
        return "NO_SNAPSHOT";
    uint32_t pi = port_of(e, "default", "gw", port);
    if (pi == SL_SNAP_NONE)
        return "NO_PORT";
    sl_http1_header hs[16];
    size_t nh = 0;
    for (size_t i = 0; headers && headers[i] && nh < 16; i++) {
        const char *colon = strchr(headers[i], ':');
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        hs[nh] = (sl_http1_header){.name = sl_slice_make(headers[i], (size_t)(colon - headers[i])),
                                   .value = sl_slice_from_cstr(v)};
        nh++;
    }
    const char *q = strchr(target, '?');
    sl_route_request req = {
        .host = sl_slice_from_cstr(host),
        .path = sl_slice_make(target, q ? (size_t)(q - target) : strlen(target)),
        .query = q ? sl_slice_from_cstr(q + 1) : sl_slice_make(NULL, 0),
        .method = sl_slice_from_cstr(method),
        .headers = hs,
        .nheaders = nh,
    };
    const sl_snap_route *r = NULL;
    sl_route_result res = sl_router_lookup(&e->f.snap, e->rx, pi, &req, &r);
    if (res == SL_ROUTE_NO_HOST)
        return "NO_HOST";
    if (res == SL_ROUTE_NO_MATCH)
        return "NO_MATCH";
    if (res != SL_ROUTE_FOUND || !r)
        return "BAD_RESULT";
    e->route = r;
    const char *ns = sl_snap_cstr(&e->f.snap, r->route_ns);
    if (strcmp(ns, "default") == 0)
        snprintf(e->result, sizeof(e->result), "%s#%u", sl_snap_cstr(&e->f.snap, r->route_name), r->rule_index);
    else
        snprintf(e->result, sizeof(e->result), "%s/%s#%u", ns, sl_snap_cstr(&e->f.snap, r->route_name),
                 r->rule_index);
    return e->result;
}

static const char *lookup(env *e, const char *method, const char *host, const char *target)
{
    return lookup_h(e, 80, method, host, target, NULL);
}

#define HDRS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The condition `type` of parent `parent` of route ns/name in the last compile's
 * route status: its reason, prefixed with "True:" or "False:". */
static const char *cond(env *e, const char *ns, const char *name, size_t parent, const char *type)
{
    char key[256];
    snprintf(key, sizeof(key), "HTTPRoute/%s/%s", ns, name);
    const json_t *entry = json_object_get(e->f.status, key);
    if (!entry)
        return "NO_STATUS";
    const json_t *p = json_array_get(json_object_get(entry, "parents"), parent);
    if (!p)
        return "NO_PARENT";
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(p, "conditions"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0) {
            snprintf(e->result, sizeof(e->result), "%s:%s", json_string_value(json_object_get(c, "status")),
                     json_string_value(json_object_get(c, "reason")));
            return e->result;
        }
    }
    return "NO_CONDITION";
}

/* The action of the last route found. */
static const sl_snap_action *last_action(env *e)
{
    if (!e->route)
        return NULL;
    return SL_SNAP_GET(&e->f.snap, SL_SNAP_ACTIONS, sl_snap_action, e->route->action);
}

static const sl_snap_backend_ref *last_ref(env *e, uint32_t i)
{
    const sl_snap_action *a = last_action(e);
    if (!a || i >= a->backend_refs.count)
        return NULL;
    return SL_SNAP_GET(&e->f.snap, SL_SNAP_BACKEND_REFS, sl_snap_backend_ref, a->backend_refs.first + i);
}

/* ---- path precedence ---- */

static void test_exact_over_prefix(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    /* The prefix route is older and alphabetically first: Exact still wins. */
    put(&e, "{'kind':'HTTPRoute','metadata':{'name':'a-prefix','namespace':'default',"
            "'creationTimestamp':'2020-01-01T00:00:00Z'},'spec':{'parentRefs':[{'name':'gw'}],"
            "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/foo'}}]}]}}");
    put_route(&e, "b-exact", "[]", "[{'matches':[{'path':{'type':'Exact','value':'/foo'}}]}]");
    /* An Exact entry whose header does not match falls back to the prefix. */
    put_route(&e, "c-exact-hdr", "[]",
              "[{'matches':[{'path':{'type':'Exact','value':'/foo/h'},'headers':[{'name':'x','value':'1'}]}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/foo/h", HDRS("x: 1")), "c-exact-hdr#0");
        CHECK_STR(lookup(&e, "GET", "h", "/foo/h"), "a-prefix#0");
        CHECK_STR(lookup(&e, "GET", "h", "/foo"), "b-exact#0");
        CHECK_STR(lookup(&e, "GET", "h", "/foo/bar"), "a-prefix#0");
        CHECK_STR(lookup(&e, "GET", "h", "/foo/"), "a-prefix#0"); /* Exact /foo is not /foo/ */
        CHECK_STR(lookup(&e, "GET", "h", "/foo?x=1"), "b-exact#0");
        CHECK_STR(lookup(&e, "GET", "h", "/fo"), "NO_MATCH");
        CHECK_STR(lookup(&e, "GET", "h", "/FOO"), "NO_MATCH"); /* paths are case-sensitive */
    }
    env_close(&e);
}

static void test_longest_prefix_first(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    /* Listed shortest first, so only sorting gives the longest-first order. */
    put_route(&e, "r", "[]",
              "[{'matches':[{'path':{'type':'PathPrefix','value':'/'}}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/foo'}}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/foo/bar'}}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/foo/bar/baz/qux'}}]}]");
    put_route(&e, "s", "[]", "[{'matches':[{'path':{'type':'PathPrefix','value':'/zz'}}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "h", "/foo/bar/baz"), "r#2");
        CHECK_STR(lookup(&e, "GET", "h", "/foo/bar/baz/qux/1"), "r#3");
        CHECK_STR(lookup(&e, "GET", "h", "/foo/bar/baz/qu"), "r#2");
        CHECK_STR(lookup(&e, "GET", "h", "/foo/bar"), "r#2");
        CHECK_STR(lookup(&e, "GET", "h", "/foo/barx"), "r#1");
        CHECK_STR(lookup(&e, "GET", "h", "/foo"), "r#1");
        CHECK_STR(lookup(&e, "GET", "h", "/foo//bar"), "r#1");
        CHECK_STR(lookup(&e, "GET", "h", "/x"), "r#0");
        CHECK_STR(lookup(&e, "GET", "h", "/"), "r#0");
        CHECK_STR(lookup(&e, "GET", "h", "/zz/top"), "s#0");
        CHECK_STR(lookup(&e, "GET", "h", "/zzz"), "r#0");
    }
    env_close(&e);
}

static void test_segment_wise_prefix(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    put_route(&e, "foo", "['foo.test']", "[{'matches':[{'path':{'type':'PathPrefix','value':'/foo'}}]}]");
    put_route(&e, "slash", "['slash.test']", "[{'matches':[{'path':{'type':'PathPrefix','value':'/foo/'}}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "foo.test", "/foo"), "foo#0");
        CHECK_STR(lookup(&e, "GET", "foo.test", "/foo/"), "foo#0");
        CHECK_STR(lookup(&e, "GET", "foo.test", "/foo/bar"), "foo#0");
        CHECK_STR(lookup(&e, "GET", "foo.test", "/foo/bar/baz?q=1"), "foo#0");
        CHECK_STR(lookup(&e, "GET", "foo.test", "/foobar"), "NO_MATCH");
        CHECK_STR(lookup(&e, "GET", "foo.test", "/fo"), "NO_MATCH");
        CHECK_STR(lookup(&e, "GET", "foo.test", "/"), "NO_MATCH");
        /* A trailing slash in the prefix changes nothing. */
        CHECK_STR(lookup(&e, "GET", "slash.test", "/foo"), "slash#0");
        CHECK_STR(lookup(&e, "GET", "slash.test", "/foo/"), "slash#0");
        CHECK_STR(lookup(&e, "GET", "slash.test", "/foo/bar"), "slash#0");
        CHECK_STR(lookup(&e, "GET", "slash.test", "/foobar"), "NO_MATCH");
    }
    env_close(&e);
}

static void test_default_match_is_prefix_slash(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    put_route(&e, "any", "[]", "[{'backendRefs':[]}]"); /* no matches: PathPrefix / */
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "h", "/"), "any#0");
        CHECK_STR(lookup(&e, "DELETE", "other", "/a/b/c?d"), "any#0");
        CHECK(e.route && e.route->path_type == SL_PATH_PREFIX);
    }
    env_close(&e);
}

/* ---- method, headers, query ---- */

static void test_method_beats_no_method(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    /* The method-less route is older and first alphabetically. */
    put(&e, "{'kind':'HTTPRoute','metadata':{'name':'a-any','namespace':'default',"
            "'creationTimestamp':'2020-01-01T00:00:00Z'},'spec':{'parentRefs':[{'name':'gw'}],"
            "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/api'}}]}]}}");
    put_route(&e, "b-get", "[]", "[{'matches':[{'path':{'type':'PathPrefix','value':'/api'},'method':'GET'}]}]");
    /* A longer prefix still beats a method. */
    put_route(&e, "c-long", "[]", "[{'matches':[{'path':{'type':'PathPrefix','value':'/api/v2'}}]}]");
    /* A longer prefix whose method does not match falls back to the shorter one. */
    put_route(&e, "d-long-get", "[]",
              "[{'matches':[{'path':{'type':'PathPrefix','value':'/api/v3'},'method':'GET'}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "h", "/api/v3/x"), "d-long-get#0");
        CHECK_STR(lookup(&e, "POST", "h", "/api/v3/x"), "a-any#0");
        CHECK_STR(lookup(&e, "GET", "h", "/api/x"), "b-get#0");
        CHECK_STR(lookup(&e, "POST", "h", "/api/x"), "a-any#0");
        CHECK_STR(lookup(&e, "get", "h", "/api/x"), "a-any#0"); /* methods are case-sensitive */
        CHECK_STR(lookup(&e, "GET", "h", "/api/v2/x"), "c-long#0");
    }
    env_close(&e);
}

static void test_more_headers_beat_fewer(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    put_route(&e, "r", "[]",
              "[{'matches':[{'path':{'type':'PathPrefix','value':'/'}}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/'},'headers':[{'name':'x-a','value':'1'}]}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/'},'headers':[{'name':'x-a','value':'1'},"
              "{'name':'X-B','value':'2'}]}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/", HDRS("X-A: 1", "x-b: 2")), "r#2");
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/", HDRS("x-b: 2", "X-a: 1", "other: z")), "r#2");
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/", HDRS("x-a: 1")), "r#1");
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/", HDRS("x-a: 1", "x-b: 3")), "r#1");
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/", HDRS("x-a: 2", "x-b: 2")), "r#0");
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/", HDRS("x-a: 1 ")), "r#0"); /* exact: no trimming here */
        CHECK_STR(lookup(&e, "GET", "h", "/"), "r#0");
    }
    env_close(&e);
}

static void test_more_query_params_beat_fewer(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    put_route(&e, "r", "[]",
              "[{'matches':[{'path':{'type':'PathPrefix','value':'/s'}}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/s'},'queryParams':[{'name':'a','value':'1'}]}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/s'},'queryParams':[{'name':'a','value':'1'},"
              "{'name':'b','value':'two'}]}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "h", "/s?a=1&b=two"), "r#2");
        CHECK_STR(lookup(&e, "GET", "h", "/s?b=two&x=&a=1"), "r#2");
        CHECK_STR(lookup(&e, "GET", "h", "/s?a=1"), "r#1");
        CHECK_STR(lookup(&e, "GET", "h", "/s?a=1&b=TWO"), "r#1"); /* values are case-sensitive */
        CHECK_STR(lookup(&e, "GET", "h", "/s?A=1"), "r#0");       /* names too */
        CHECK_STR(lookup(&e, "GET", "h", "/s?aa=1"), "r#0");
        CHECK_STR(lookup(&e, "GET", "h", "/s"), "r#0");
        CHECK_STR(lookup(&e, "GET", "h", "/s?"), "r#0");
    }
    env_close(&e);
}

static void test_method_beats_headers_beat_query(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    put_route(&e, "r", "[]",
              "[{'matches':[{'path':{'type':'PathPrefix','value':'/'},'queryParams':[{'name':'q','value':'1'},"
              "{'name':'r','value':'1'}]}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/'},'headers':[{'name':'h','value':'1'}]}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/'},'method':'PUT'}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup_h(&e, 80, "PUT", "h", "/?q=1&r=1", HDRS("h: 1")), "r#2");
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/?q=1&r=1", HDRS("h: 1")), "r#1");
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/?q=1&r=1", HDRS("h: 0")), "r#0");
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/?q=1", HDRS("h: 0")), "NO_MATCH");
    }
    env_close(&e);
}

/* ---- ties: age, then namespace/name, then rule order ---- */

static void test_older_route_wins_ties(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    put(&e, "{'kind':'HTTPRoute','metadata':{'name':'a-new','namespace':'default',"
            "'creationTimestamp':'2024-06-01T00:00:00Z'},'spec':{'parentRefs':[{'name':'gw'}],"
            "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/t'}}]}]}}");
    put(&e, "{'kind':'HTTPRoute','metadata':{'name':'b-old','namespace':'default',"
            "'creationTimestamp':'2023-06-01T00:00:00Z'},'spec':{'parentRefs':[{'name':'gw'}],"
            "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/t'}}]}]}}");
    put(&e, "{'kind':'HTTPRoute','metadata':{'name':'c-older-exact','namespace':'default',"
            "'creationTimestamp':'2024-06-01T00:00:01Z'},'spec':{'parentRefs':[{'name':'gw'}],"
            "'rules':[{'matches':[{'path':{'type':'Exact','value':'/u'}}]}]}}");
    put(&e, "{'kind':'HTTPRoute','metadata':{'name':'d-oldest-exact','namespace':'default',"
            "'creationTimestamp':'2024-06-01T00:00:00Z'},'spec':{'parentRefs':[{'name':'gw'}],"
            "'rules':[{'matches':[{'path':{'type':'Exact','value':'/u'}}]}]}}");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "h", "/t"), "b-old#0");
        CHECK_STR(lookup(&e, "GET", "h", "/t/x"), "b-old#0");
        CHECK_STR(lookup(&e, "GET", "h", "/u"), "d-oldest-exact#0");
    }
    env_close(&e);
}

static void test_same_age_alphabetical(void)
{
    env e;
    if (!env_open(&e))
        return;
    put(&e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
            "'spec':{'gatewayClassName':'sluice','listeners':[{'name':'http','port':80,'protocol':'HTTP',"
            "'allowedRoutes':{'namespaces':{'from':'All'}}}]}}");
    put(&e, "{'kind':'Namespace','metadata':{'name':'aaa'}}");
    put(&e, "{'kind':'Namespace','metadata':{'name':'zzz'}}");
    /* Written in reverse order, all of one age. */
    const char *order[][2] = {{"zzz", "a"}, {"default", "b"}, {"default", "a"}, {"aaa", "z"}};
    for (size_t i = 0; i < 4; i++)
        putf(&e,
             "{'kind':'HTTPRoute','metadata':{'name':'%s','namespace':'%s'},'spec':{'parentRefs':"
             "[{'name':'gw','namespace':'default'}],'rules':[{'matches':[{'path':{'type':'PathPrefix','value':"
             "'/p'}}]},{'matches':[{'path':{'type':'PathPrefix','value':'/q'}}]},"
             "{'matches':[{'path':{'type':'PathPrefix','value':'/q'}}]}]}}",
             order[i][1], order[i][0]);
    put_route(&e, "m", "[]", "[{'matches':[{'path':{'type':'Exact','value':'/m'}},{'path':{'type':'Exact','value':'/m'}}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "h", "/p"), "aaa/z#0");
        /* Within one route, the earlier rule. */
        CHECK_STR(lookup(&e, "GET", "h", "/q"), "aaa/z#1");
        CHECK_STR(lookup(&e, "GET", "h", "/m"), "m#0");
        /* Every entry of /p is present once per route, in namespace/name order. */
        uint32_t pi = port_of(&e, "default", "gw", 80);
        const sl_snap_port *p = SL_SNAP_GET(&e.f.snap, SL_SNAP_PORTS, sl_snap_port, pi);
        CHECK(p->vhosts.count == 1);
        const sl_snap_vhost *v = SL_SNAP_GET(&e.f.snap, SL_SNAP_VHOSTS, sl_snap_vhost, p->vhosts.first);
        const char *want[] = {"aaa/z", "default/a", "default/b", "zzz/a"};
        size_t seen = 0;
        for (uint32_t i = 0; i < v->routes.count; i++) {
            const sl_snap_route *r = SL_SNAP_GET(&e.f.snap, SL_SNAP_ROUTES, sl_snap_route, v->routes.first + i);
            if (strcmp(sl_snap_cstr(&e.f.snap, r->path), "/p") != 0)
                continue;
            char got[128];
            snprintf(got, sizeof(got), "%s/%s", sl_snap_cstr(&e.f.snap, r->route_ns),
                     sl_snap_cstr(&e.f.snap, r->route_name));
            if (seen < 4)
                CHECK_STR(got, want[seen]);
            seen++;
        }
        CHECK(seen == 4);
    }
    env_close(&e);
}

/* ---- regular expressions ---- */

static void test_regex_path_and_headers(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    put_route(&e, "rx", "['rx.test']",
              "[{'matches':[{'path':{'type':'RegularExpression','value':'/items/[0-9]+'}}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/h'},'headers':[{'type':'RegularExpression',"
              "'name':'x-version','value':'v[0-9]+'}]}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/h'},'queryParams':[{'type':'RegularExpression',"
              "'name':'id','value':'[a-f]{3}'}]}]}]");
    /* On another host, a prefix "/" next to a regex: prefixes come first. */
    put_route(&e, "mixed", "['mixed.test']",
              "[{'matches':[{'path':{'type':'RegularExpression','value':'/a.*'}}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/b'}}]}]");
    if (compile(&e)) {
        CHECK(e.rx != NULL);
        CHECK_STR(lookup(&e, "GET", "rx.test", "/items/42"), "rx#0");
        CHECK_STR(lookup(&e, "GET", "rx.test", "/items/42?x=y"), "rx#0");
        CHECK_STR(lookup(&e, "GET", "rx.test", "/items/42/x"), "NO_MATCH"); /* end-anchored */
        CHECK_STR(lookup(&e, "GET", "rx.test", "/x/items/42"), "NO_MATCH"); /* start-anchored */
        CHECK_STR(lookup(&e, "GET", "rx.test", "/items/"), "NO_MATCH");
        CHECK_STR(lookup_h(&e, 80, "GET", "rx.test", "/h", HDRS("X-Version: v12")), "rx#1");
        CHECK_STR(lookup_h(&e, 80, "GET", "rx.test", "/h", HDRS("X-Version: v12-beta")), "NO_MATCH");
        CHECK_STR(lookup_h(&e, 80, "GET", "rx.test", "/h", HDRS("X-Version: xv1")), "NO_MATCH");
        CHECK_STR(lookup(&e, "GET", "rx.test", "/h?id=abc"), "rx#2");
        CHECK_STR(lookup(&e, "GET", "rx.test", "/h?id=abcd"), "NO_MATCH");
        CHECK_STR(lookup(&e, "GET", "mixed.test", "/abc"), "mixed#0");
        CHECK_STR(lookup(&e, "GET", "mixed.test", "/b/c"), "mixed#1");
        CHECK_STR(lookup(&e, "GET", "mixed.test", "/c"), "NO_MATCH");
    }
    env_close(&e);
}

/* ---- hostnames ---- */

static void test_hostnames_exact_and_wildcard(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    put_route(&e, "exact", "['a.example.com']", "[{'matches':[{'path':{'type':'PathPrefix','value':'/'}}]}]");
    put_route(&e, "wild", "['*.example.com']", "[{'matches':[{'path':{'type':'PathPrefix','value':'/'}}]}]");
    put_route(&e, "deeper", "['*.b.example.com']", "[{'matches':[{'path':{'type':'PathPrefix','value':'/'}}]}]");
    put_route(&e, "other", "['other.org']", "[{'matches':[{'path':{'type':'Exact','value':'/only'}}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "a.example.com", "/"), "exact#0");
        CHECK_STR(lookup(&e, "GET", "A.Example.COM", "/"), "exact#0");
        CHECK_STR(lookup(&e, "GET", "c.example.com", "/x"), "wild#0");
        CHECK_STR(lookup(&e, "GET", "a.c.example.com", "/"), "wild#0");
        CHECK_STR(lookup(&e, "GET", "x.b.example.com", "/"), "deeper#0");
        CHECK_STR(lookup(&e, "GET", "b.example.com", "/"), "wild#0");
        CHECK_STR(lookup(&e, "GET", "example.com", "/"), "NO_HOST");
        CHECK_STR(lookup(&e, "GET", "xexample.com", "/"), "NO_HOST");
        CHECK_STR(lookup(&e, "GET", ".example.com", "/"), "NO_HOST");
        CHECK_STR(lookup(&e, "GET", "a.example.com.evil", "/"), "NO_HOST");
        CHECK_STR(lookup(&e, "GET", "other.org", "/only"), "other#0");
        CHECK_STR(lookup(&e, "GET", "other.org", "/else"), "NO_MATCH");
        CHECK_STR(lookup(&e, "GET", "", "/"), "NO_HOST");
    }
    /* A route without hostnames makes a catch-all. */
    put_route(&e, "zany", "[]", "[{'matches':[{'path':{'type':'PathPrefix','value':'/'}}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "example.com", "/"), "zany#0");
        CHECK_STR(lookup(&e, "GET", "anything", "/z"), "zany#0");
        CHECK_STR(lookup(&e, "GET", "a.example.com", "/"), "exact#0");
        CHECK_STR(lookup(&e, "GET", "c.example.com", "/"), "wild#0");
    }
    env_close(&e);
}

/* Gateway API (HTTPRouteSpec.hostnames): with intersecting hostnames, "precedence
 * must be given to rules from the HTTPRoute with the largest number of characters
 * in a matching non-wildcard hostname..." - the rules of less specific routes still
 * apply to a host when the more specific route has no matching rule. */
static void test_hostnames_less_specific_rules_still_apply(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    put_route(&e, "exact", "['a.example.com']", "[{'matches':[{'path':{'type':'PathPrefix','value':'/a'}}]}]");
    put_route(&e, "wild", "['*.example.com']", "[{'matches':[{'path':{'type':'PathPrefix','value':'/w'}}]}]");
    put_route(&e, "any", "[]", "[{'matches':[{'path':{'type':'PathPrefix','value':'/any'}}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "a.example.com", "/a"), "exact#0");
        CHECK_STR(lookup(&e, "GET", "a.example.com", "/w"), "wild#0");
        CHECK_STR(lookup(&e, "GET", "a.example.com", "/any"), "any#0");
        CHECK_STR(lookup(&e, "GET", "b.example.com", "/any"), "any#0");
        CHECK_STR(lookup(&e, "GET", "b.example.com", "/a"), "NO_MATCH");
    }
    env_close(&e);
}

static void test_listener_hostname_intersection(void)
{
    env e;
    if (!env_open(&e))
        return;
    put(&e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
            "'spec':{'gatewayClassName':'sluice','listeners':[{'name':'http','port':80,'protocol':'HTTP',"
            "'hostname':'*.example.com'}]}}");
    put_route(&e, "two", "['a.example.com','other.org']", "[{'matches':[{'path':{'type':'PathPrefix','value':'/two'}}]}]");
    put_route(&e, "none", "[]", "[{'matches':[{'path':{'type':'PathPrefix','value':'/none'}}]}]");
    put_route(&e, "narrow", "['*.b.example.com']", "[{'matches':[{'path':{'type':'PathPrefix','value':'/narrow'}}]}]");
    put_route(&e, "broad", "['*.com']", "[{'matches':[{'path':{'type':'PathPrefix','value':'/broad'}}]}]");
    put_route(&e, "off", "['other.org']", "[{'matches':[{'path':{'type':'PathPrefix','value':'/off'}}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "a.example.com", "/two"), "two#0");
        CHECK_STR(lookup(&e, "GET", "other.org", "/two"), "NO_HOST");
        CHECK_STR(lookup(&e, "GET", "z.example.com", "/none"), "none#0");
        CHECK_STR(lookup(&e, "GET", "example.com", "/none"), "NO_HOST");
        CHECK_STR(lookup(&e, "GET", "x.b.example.com", "/narrow"), "narrow#0");
        CHECK_STR(lookup(&e, "GET", "z.example.com", "/narrow"), "NO_MATCH");
        /* *.com narrowed to the listener's *.example.com. */
        CHECK_STR(lookup(&e, "GET", "z.example.com", "/broad"), "broad#0");
        CHECK_STR(lookup(&e, "GET", "z.other.com", "/broad"), "NO_HOST");
        CHECK_STR(cond(&e, "default", "two", 0, "Accepted"), "True:Accepted");
        CHECK_STR(cond(&e, "default", "off", 0, "Accepted"), "False:NoMatchingListenerHostname");
        /* Which vhosts exist: exact, then wildcards longest first. */
        uint32_t pi = port_of(&e, "default", "gw", 80);
        const sl_snap_port *p = SL_SNAP_GET(&e.f.snap, SL_SNAP_PORTS, sl_snap_port, pi);
        const char *want[] = {"a.example.com", "*.b.example.com", "*.example.com"};
        CHECK(p->vhosts.count == 3);
        for (uint32_t i = 0; i < p->vhosts.count && i < 3; i++) {
            const sl_snap_vhost *v = SL_SNAP_GET(&e.f.snap, SL_SNAP_VHOSTS, sl_snap_vhost, p->vhosts.first + i);
            CHECK_STR(sl_snap_cstr(&e.f.snap, v->host), want[i]);
        }
    }
    env_close(&e);
}

static void test_no_host_and_no_match(void)
{
    env e;
    if (!env_open(&e))
        return;
    put(&e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
            "'spec':{'gatewayClassName':'sluice','listeners':[{'name':'http','port':80,'protocol':'HTTP',"
            "'hostname':'a.example.com'}]}}");
    put_route(&e, "r", "[]", "[{'matches':[{'path':{'type':'Exact','value':'/here'}}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "a.example.com", "/here"), "r#0");
        CHECK_STR(lookup(&e, "GET", "b.example.com", "/here"), "NO_HOST");
        CHECK_STR(lookup(&e, "GET", "a.example.com", "/there"), "NO_MATCH");
        CHECK(sl_router_vhost(&e.f.snap, port_of(&e, "default", "gw", 80), sl_slice_from_cstr("A.EXAMPLE.COM")) !=
              SL_SNAP_NONE);
        CHECK(sl_router_vhost(&e.f.snap, port_of(&e, "default", "gw", 80), sl_slice_from_cstr("b.example.com")) ==
              SL_SNAP_NONE);
    }
    env_close(&e);
}

/* ---- listener isolation ---- */

/* The Gateway of the GatewayHTTPListenerIsolation conformance test: four HTTP
 * listeners on one port, from the least to the most specific hostname. */
static void put_isolation_gateway(env *e)
{
    put(e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
           "'spec':{'gatewayClassName':'sluice','listeners':["
           "{'name':'empty','port':80,'protocol':'HTTP'},"
           "{'name':'wild','port':80,'protocol':'HTTP','hostname':'*.example.com'},"
           "{'name':'foo','port':80,'protocol':'HTTP','hostname':'*.foo.example.com'},"
           "{'name':'abc','port':80,'protocol':'HTTP','hostname':'abc.foo.example.com'}]}}");
}

/* A route through one listener (sectionName), path /<listener>, with hostnames. */
static void put_listener_route(env *e, const char *listener, const char *hostnames)
{
    putf(e,
         "{'kind':'HTTPRoute','metadata':{'name':'to-%s','namespace':'default'},"
         "'spec':{'parentRefs':[{'name':'gw','sectionName':'%s'}],'hostnames':%s,"
         "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/%s'}}]}]}}",
         listener, listener, hostnames, listener);
}

/* Each host belongs to its most specific listener, and only that listener's route
 * answers it: the 16 requests of the conformance test. */
static void check_isolation(env *e)
{
    static const char *const hosts[][2] = {{"bar.com", "empty"},
                                           {"bar.example.com", "wild"},
                                           {"bar.foo.example.com", "foo"},
                                           {"abc.foo.example.com", "abc"}};
    static const char *const listeners[] = {"empty", "wild", "foo", "abc"};
    for (size_t h = 0; h < 4; h++) {
        for (size_t l = 0; l < 4; l++) {
            char path[64], want[64];
            snprintf(path, sizeof(path), "/%s", listeners[l]);
            if (strcmp(hosts[h][1], listeners[l]) == 0)
                snprintf(want, sizeof(want), "to-%s#0", listeners[l]);
            else
                snprintf(want, sizeof(want), "NO_MATCH");
            const char *got = lookup(e, "GET", hosts[h][0], path);
            if (strcmp(got, want) != 0) {
                fprintf(stderr, "  host %s path %s: got %s, expected %s\n", hosts[h][0], path, got, want);
                sl_unit_failures++;
            }
        }
    }
}

static void test_listener_isolation_listener_hostnames(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_isolation_gateway(&e);
    for (size_t i = 0; i < 4; i++)
        put_listener_route(&e, (const char *[]){"empty", "wild", "foo", "abc"}[i], "[]");
    if (compile(&e)) {
        check_isolation(&e);
        CHECK_STR(lookup(&e, "GET", "x.y.foo.example.com", "/foo"), "to-foo#0");
        CHECK_STR(lookup(&e, "GET", "example.com", "/empty"), "to-empty#0");
    }
    env_close(&e);
}

/* The same with route hostnames that intersect several listeners: a route of a
 * less specific listener never serves a host that a more specific one claims. */
static void test_listener_isolation_route_hostnames(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_isolation_gateway(&e);
    const char *all = "['bar.com','*.example.com','*.foo.example.com','abc.foo.example.com']";
    for (size_t i = 0; i < 4; i++)
        put_listener_route(&e, (const char *[]){"empty", "wild", "foo", "abc"}[i], all);
    if (compile(&e)) {
        check_isolation(&e);
        for (size_t i = 0; i < 4; i++)
            CHECK_STR(cond(&e, "default", (const char *[]){"to-empty", "to-wild", "to-foo", "to-abc"}[i], 0,
                           "Accepted"),
                      "True:Accepted");
        /* Only what a listener can serve is left: one vhost per listener. */
        uint32_t pi = port_of(&e, "default", "gw", 80);
        const sl_snap_port *p = SL_SNAP_GET(&e.f.snap, SL_SNAP_PORTS, sl_snap_port, pi);
        const char *want[] = {"abc.foo.example.com", "bar.com", "*.foo.example.com", "*.example.com"};
        CHECK(p->vhosts.count == 4);
        for (uint32_t i = 0; i < p->vhosts.count && i < 4; i++) {
            const sl_snap_vhost *v = SL_SNAP_GET(&e.f.snap, SL_SNAP_VHOSTS, sl_snap_vhost, p->vhosts.first + i);
            CHECK_STR(sl_snap_cstr(&e.f.snap, v->host), want[i]);
        }
    }
    env_close(&e);
}

/* A listener without routes still claims its hosts: they answer 404, not the
 * routes of a less specific listener. Within one listener, the rules of less
 * specific route hostnames still apply (hostname precedence, not isolation). */
static void test_listener_isolation_listener_without_routes(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_isolation_gateway(&e);
    put_listener_route(&e, "empty", "[]");
    putf(&e, "{'kind':'HTTPRoute','metadata':{'name':'wild-specific','namespace':'default'},"
             "'spec':{'parentRefs':[{'name':'gw','sectionName':'wild'}],'hostnames':['x.example.com'],"
             "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/x'}}]}]}}");
    put_listener_route(&e, "wild", "[]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "abc.foo.example.com", "/empty"), "NO_MATCH");
        CHECK_STR(lookup(&e, "GET", "q.foo.example.com", "/empty"), "NO_MATCH");
        CHECK_STR(lookup(&e, "GET", "q.foo.example.com", "/wild"), "NO_MATCH");
        CHECK_STR(lookup(&e, "GET", "q.example.com", "/empty"), "NO_MATCH");
        CHECK_STR(lookup(&e, "GET", "q.example.com", "/wild"), "to-wild#0");
        CHECK_STR(lookup(&e, "GET", "x.example.com", "/x"), "wild-specific#0");
        CHECK_STR(lookup(&e, "GET", "x.example.com", "/wild"), "to-wild#0");
        CHECK_STR(lookup(&e, "GET", "x.example.com", "/empty"), "NO_MATCH");
        CHECK_STR(lookup(&e, "GET", "other.org", "/empty"), "to-empty#0");
    }
    env_close(&e);
}

/* ---- listeners and Gateways that serve nothing ---- */

/* A listener of a protocol sluice does not serve gets no socket and no route;
 * the Gateway's other listeners work as ever. */
static void test_unserved_protocol_listener(void)
{
    env e;
    if (!env_open(&e))
        return;
    put(&e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
            "'spec':{'gatewayClassName':'sluice','listeners':["
            "{'name':'http','port':80,'protocol':'HTTP'},"
            "{'name':'invalid','port':1111,'protocol':'INVALID','allowedRoutes':{'kinds':[{'kind':'HTTPRoute'}]}},"
            "{'name':'udp','port':9000,'protocol':'UDP'}]}}");
    put_route(&e, "r", "[]", "[{}]");
    putf(&e, "{'kind':'HTTPRoute','metadata':{'name':'to-invalid','namespace':'default'},"
             "'spec':{'parentRefs':[{'name':'gw','sectionName':'invalid'}],'rules':[{}]}}");
    if (compile(&e)) {
        CHECK(sl_snap_count(&e.f.snap, SL_SNAP_PORTS) == 1);
        CHECK(port_of(&e, "default", "gw", 1111) == SL_SNAP_NONE);
        CHECK(port_of(&e, "default", "gw", 9000) == SL_SNAP_NONE);
        const sl_snap_listener *ls = sl_snap_table(&e.f.snap, SL_SNAP_LISTENERS);
        CHECK(sl_snap_count(&e.f.snap, SL_SNAP_LISTENERS) == 3);
        CHECK(ls[0].port_index != SL_SNAP_NONE && ls[0].attached_routes == 1);
        CHECK(ls[1].port_index == SL_SNAP_NONE && ls[1].attached_routes == 0);
        CHECK(ls[2].port_index == SL_SNAP_NONE && ls[2].attached_routes == 0);
        CHECK_STR(lookup(&e, "GET", "any", "/"), "r#0");
        CHECK_STR(cond(&e, "default", "to-invalid", 0, "Accepted"), "False:NotAllowedByListeners");
    }
    env_close(&e);
}

/* A Gateway whose infrastructure.parametersRef sluice cannot use is rejected:
 * compiled (its status needs its listeners) but with no socket and no route. */
static void test_rejected_gateway_serves_nothing(void)
{
    env e;
    if (!env_open(&e))
        return;
    put(&e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
            "'spec':{'gatewayClassName':'sluice','listeners':[{'name':'http','port':80,'protocol':'HTTP'}],"
            "'infrastructure':{'parametersRef':{'group':'invalid.io','kind':'InvalidParameters','name':'p'}}}}");
    put_route(&e, "r", "[]", "[{}]");
    if (compile(&e)) {
        CHECK(sl_snap_count(&e.f.snap, SL_SNAP_GATEWAYS) == 1);
        CHECK(sl_snap_count(&e.f.snap, SL_SNAP_PORTS) == 0);
        CHECK(sl_snap_count(&e.f.snap, SL_SNAP_LISTENERS) == 1);
        const sl_snap_listener *l = sl_snap_table(&e.f.snap, SL_SNAP_LISTENERS);
        CHECK(l->port_index == SL_SNAP_NONE && l->attached_routes == 0);
        CHECK_STR(cond(&e, "default", "r", 0, "Accepted"), "False:NotAllowedByListeners");
    }
    env_close(&e);
}

/* allowedRoutes.namespaces.selector on kubernetes.io/metadata.name picks the
 * namespace by name, also for a Namespace stored without the label (by a sluice
 * from before it was set). */
static void test_selector_on_namespace_name_label(void)
{
    env e;
    if (!env_open(&e))
        return;
    put(&e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
            "'spec':{'gatewayClassName':'sluice','listeners':[{'name':'sel','port':80,'protocol':'HTTP',"
            "'allowedRoutes':{'namespaces':{'from':'Selector','selector':{'matchLabels':"
            "{'kubernetes.io/metadata.name':'team'}}}}},"
            "{'name':'expr','port':81,'protocol':'HTTP','allowedRoutes':{'namespaces':{'from':'Selector',"
            "'selector':{'matchExpressions':[{'key':'kubernetes.io/metadata.name','operator':'In',"
            "'values':['old']}]}}}}]}}");
    put(&e, "{'kind':'Namespace','metadata':{'name':'team'}}");
    put(&e, "{'kind':'Namespace','metadata':{'name':'other'}}");
    put(&e, "{'kind':'Namespace','metadata':{'name':'old'}}");
    /* "old" as an older sluice stored it: no labels at all. */
    json_t *old;
    if (sl_store_get(e.f.store, "Namespace", "", "old", &old) == SL_OK) {
        json_object_del(sl_obj_metadata(old), "labels");
        CHECK(sl_store_write_begin(e.f.store) == SL_OK);
        int64_t rv = sl_store_next_rv(e.f.store);
        CHECK(sl_store_put(e.f.store, "Namespace", old, "MODIFIED", rv) == SL_OK);
        CHECK(sl_store_write_commit(e.f.store) == SL_OK);
        json_decref(old);
    } else {
        CHECK(!"namespace old stored");
    }
    const char *nss[] = {"team", "other", "old"};
    for (size_t i = 0; i < 3; i++)
        putf(&e,
             "{'kind':'HTTPRoute','metadata':{'name':'r','namespace':'%s'},'spec':{'parentRefs':"
             "[{'name':'gw','namespace':'default'}],'rules':[{'matches':[{'path':{'type':'PathPrefix','value':"
             "'/%s'}}]}]}}",
             nss[i], nss[i]);
    if (compile(&e)) {
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/team", NULL), "team/r#0");
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/other", NULL), "NO_MATCH");
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/old", NULL), "NO_MATCH");
        CHECK_STR(lookup_h(&e, 81, "GET", "h", "/old", NULL), "old/r#0");
        CHECK_STR(lookup_h(&e, 81, "GET", "h", "/team", NULL), "NO_MATCH");
        CHECK_STR(cond(&e, "other", "r", 0, "Accepted"), "False:NotAllowedByListeners");
    }
    env_close(&e);
}

/* ---- attachment ---- */

static void test_parent_ref_section_and_port(void)
{
    env e;
    if (!env_open(&e))
        return;
    put(&e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
            "'spec':{'gatewayClassName':'sluice','listeners':["
            "{'name':'web','port':80,'protocol':'HTTP','hostname':'web.test'},"
            "{'name':'web2','port':80,'protocol':'HTTP','hostname':'web2.test'},"
            "{'name':'admin','port':8080,'protocol':'HTTP'}]}}");
    putf(&e, "{'kind':'HTTPRoute','metadata':{'name':'%s','namespace':'default'},'spec':{'parentRefs':[%s],"
             "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/%s'}}]}]}}",
         "by-section", "{'name':'gw','sectionName':'web2'}", "s");
    putf(&e, "{'kind':'HTTPRoute','metadata':{'name':'%s','namespace':'default'},'spec':{'parentRefs':[%s],"
             "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/%s'}}]}]}}",
         "by-port", "{'name':'gw','port':8080}", "p");
    putf(&e, "{'kind':'HTTPRoute','metadata':{'name':'%s','namespace':'default'},'spec':{'parentRefs':[%s],"
             "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/%s'}}]}]}}",
         "everywhere", "{'name':'gw'}", "e");
    putf(&e, "{'kind':'HTTPRoute','metadata':{'name':'%s','namespace':'default'},'spec':{'parentRefs':[%s],"
             "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/%s'}}]}]}}",
         "bad-section", "{'name':'gw','sectionName':'nope'}", "x");
    putf(&e, "{'kind':'HTTPRoute','metadata':{'name':'%s','namespace':'default'},'spec':{'parentRefs':[%s],"
             "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/%s'}}]}]}}",
         "bad-port", "{'name':'gw','port':9999}", "y");
    putf(&e, "{'kind':'HTTPRoute','metadata':{'name':'%s','namespace':'default'},'spec':{'parentRefs':[%s],"
             "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/%s'}}]}]}}",
         "section-and-port", "{'name':'gw','sectionName':'web','port':8080}", "z");
    if (compile(&e)) {
        CHECK(sl_snap_count(&e.f.snap, SL_SNAP_PORTS) == 2);
        CHECK_STR(lookup(&e, "GET", "web2.test", "/s"), "by-section#0");
        CHECK_STR(lookup(&e, "GET", "web.test", "/s"), "NO_MATCH");
        CHECK_STR(lookup_h(&e, 8080, "GET", "any", "/s", NULL), "NO_MATCH");
        CHECK_STR(lookup_h(&e, 8080, "GET", "any", "/p", NULL), "by-port#0");
        CHECK_STR(lookup(&e, "GET", "web.test", "/p"), "NO_MATCH");
        CHECK_STR(lookup(&e, "GET", "web.test", "/e"), "everywhere#0");
        CHECK_STR(lookup(&e, "GET", "web2.test", "/e"), "everywhere#0");
        CHECK_STR(lookup_h(&e, 8080, "GET", "any", "/e", NULL), "everywhere#0");
        CHECK_STR(lookup(&e, "GET", "other.test", "/e"), "NO_HOST");
        CHECK_STR(lookup_h(&e, 8080, "GET", "any", "/x", NULL), "NO_MATCH");
        CHECK_STR(lookup_h(&e, 8080, "GET", "any", "/z", NULL), "NO_MATCH");
        CHECK_STR(cond(&e, "default", "by-section", 0, "Accepted"), "True:Accepted");
        CHECK_STR(cond(&e, "default", "by-port", 0, "Accepted"), "True:Accepted");
        CHECK_STR(cond(&e, "default", "bad-section", 0, "Accepted"), "False:NoMatchingParent");
        CHECK_STR(cond(&e, "default", "bad-port", 0, "Accepted"), "False:NoMatchingParent");
        CHECK_STR(cond(&e, "default", "section-and-port", 0, "Accepted"), "False:NoMatchingParent");
        /* attachedRoutes per listener: web 1 (everywhere), web2 2, admin 2. */
        const sl_snap_listener *ls = sl_snap_table(&e.f.snap, SL_SNAP_LISTENERS);
        CHECK(sl_snap_count(&e.f.snap, SL_SNAP_LISTENERS) == 3);
        CHECK(ls[0].attached_routes == 1);
        CHECK(ls[1].attached_routes == 2);
        CHECK(ls[2].attached_routes == 2);
    }
    env_close(&e);
}

static void test_allowed_routes_namespaces(void)
{
    env e;
    if (!env_open(&e))
        return;
    put(&e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
            "'spec':{'gatewayClassName':'sluice','listeners':["
            "{'name':'same','port':80,'protocol':'HTTP'},"
            "{'name':'all','port':81,'protocol':'HTTP','allowedRoutes':{'namespaces':{'from':'All'}}},"
            "{'name':'sel','port':82,'protocol':'HTTP','allowedRoutes':{'namespaces':{'from':'Selector',"
            "'selector':{'matchLabels':{'env':'prod'}}}}},"
            "{'name':'expr','port':83,'protocol':'HTTP','allowedRoutes':{'namespaces':{'from':'Selector',"
            "'selector':{'matchExpressions':[{'key':'env','operator':'In','values':['dev','test']}]}}}}]}}");
    put(&e, "{'kind':'Namespace','metadata':{'name':'prod','labels':{'env':'prod'}}}");
    put(&e, "{'kind':'Namespace','metadata':{'name':'dev','labels':{'env':'dev'}}}");
    const char *nss[] = {"default", "prod", "dev"};
    for (size_t i = 0; i < 3; i++)
        putf(&e,
             "{'kind':'HTTPRoute','metadata':{'name':'r','namespace':'%s'},'spec':{'parentRefs':"
             "[{'name':'gw','namespace':'default'}],'rules':[{'matches':[{'path':{'type':'PathPrefix','value':"
             "'/%s'}}]}]}}",
             nss[i], nss[i]);
    /* A route that names only the selector listener from a namespace it excludes. */
    put(&e, "{'kind':'HTTPRoute','metadata':{'name':'only-sel','namespace':'dev'},'spec':{'parentRefs':"
            "[{'name':'gw','namespace':'default','sectionName':'sel'}],'rules':[{}]}}");
    if (compile(&e)) {
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/default", NULL), "r#0");
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/prod", NULL), "NO_MATCH");
        CHECK_STR(lookup_h(&e, 80, "GET", "h", "/dev", NULL), "NO_MATCH");
        CHECK_STR(lookup_h(&e, 81, "GET", "h", "/default", NULL), "r#0");
        CHECK_STR(lookup_h(&e, 81, "GET", "h", "/prod", NULL), "prod/r#0");
        CHECK_STR(lookup_h(&e, 81, "GET", "h", "/dev", NULL), "dev/r#0");
        CHECK_STR(lookup_h(&e, 82, "GET", "h", "/default", NULL), "NO_MATCH");
        CHECK_STR(lookup_h(&e, 82, "GET", "h", "/prod", NULL), "prod/r#0");
        CHECK_STR(lookup_h(&e, 82, "GET", "h", "/dev", NULL), "NO_MATCH");
        CHECK_STR(lookup_h(&e, 83, "GET", "h", "/dev", NULL), "dev/r#0");
        CHECK_STR(lookup_h(&e, 83, "GET", "h", "/prod", NULL), "NO_MATCH");
        CHECK_STR(cond(&e, "dev", "only-sel", 0, "Accepted"), "False:NotAllowedByListeners");
        CHECK_STR(cond(&e, "dev", "r", 0, "Accepted"), "True:Accepted");
    }
    env_close(&e);
}

static void test_gateway_of_other_class_ignored(void)
{
    env e;
    if (!env_open(&e))
        return;
    put(&e, "{'kind':'GatewayClass','metadata':{'name':'foreign'},'spec':{'controllerName':'example.com/other'}}");
    put(&e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
            "'spec':{'gatewayClassName':'foreign','listeners':[{'name':'http','port':80,'protocol':'HTTP'}]}}");
    put_route(&e, "r", "[]", "[{}]");
    if (compile(&e)) {
        CHECK(sl_snap_count(&e.f.snap, SL_SNAP_GATEWAYS) == 0);
        CHECK(sl_snap_count(&e.f.snap, SL_SNAP_ROUTES) == 0);
        CHECK(json_object_size(e.f.status) == 0);
        CHECK_STR(lookup(&e, "GET", "h", "/"), "NO_PORT");
    }
    env_close(&e);
}

/* ---- backends ---- */

static void put_service_and_slices(env *e, const char *ns)
{
    putf(e,
         "{'kind':'Service','metadata':{'name':'web','namespace':'%s'},'spec':{'ports':["
         "{'name':'http','port':80,'targetPort':8080},{'name':'metrics','port':9090}]}}",
         ns);
    putf(e,
         "{'kind':'EndpointSlice','metadata':{'name':'web-1','namespace':'%s','labels':"
         "{'kubernetes.io/service-name':'web'}},'addressType':'IPv4','ports':[{'name':'metrics','port':9100},"
         "{'name':'http','port':8080}],'endpoints':[{'addresses':['10.0.0.1'],'conditions':{'ready':true}},"
         "{'addresses':['10.0.0.2'],'conditions':{'ready':false}},{'addresses':['10.0.0.3']}]}",
         ns);
    putf(e,
         "{'kind':'EndpointSlice','metadata':{'name':'web-2','namespace':'%s','labels':"
         "{'kubernetes.io/service-name':'web'}},'addressType':'IPv6','ports':[{'name':'http','port':8081}],"
         "'endpoints':[{'addresses':['fd00::4'],'conditions':{'ready':true}}]}",
         ns);
    putf(e,
         "{'kind':'EndpointSlice','metadata':{'name':'api-1','namespace':'%s','labels':"
         "{'kubernetes.io/service-name':'api'}},'addressType':'IPv4','ports':[{'name':'http','port':7000}],"
         "'endpoints':[{'addresses':['10.9.9.9']}]}",
         ns);
}

static void test_service_endpointslice_resolution(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    put_service_and_slices(&e, "default");
    put_route(&e, "r", "[]",
              "[{'matches':[{'path':{'type':'PathPrefix','value':'/web'}}],'backendRefs':[{'name':'web','port':80}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/m'}}],'backendRefs':[{'name':'web','port':9090}]},"
              "{'matches':[{'path':{'type':'PathPrefix','value':'/again'}}],'backendRefs':[{'name':'web','port':80}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "h", "/web"), "r#0");
        const sl_snap_backend_ref *ref = last_ref(&e, 0);
        CHECK(ref && ref->backend != SL_SNAP_NONE);
        uint32_t web80 = ref ? ref->backend : SL_SNAP_NONE;
        if (ref && ref->backend != SL_SNAP_NONE) {
            const sl_snap_backend *b = SL_SNAP_GET(&e.f.snap, SL_SNAP_BACKENDS, sl_snap_backend, ref->backend);
            CHECK_STR(sl_snap_cstr(&e.f.snap, b->kind), "Service");
            CHECK_STR(sl_snap_cstr(&e.f.snap, b->name), "web");
            CHECK_STR(sl_snap_cstr(&e.f.snap, b->ns), "default");
            CHECK(b->port == 80);
            /* Ready (or unconditioned) endpoints of both slices, on the port named "http". */
            CHECK(b->endpoints.count == 3);
            char seen[256] = "";
            for (uint32_t i = 0; i < b->endpoints.count; i++) {
                const sl_snap_endpoint *ep =
                    SL_SNAP_GET(&e.f.snap, SL_SNAP_ENDPOINTS, sl_snap_endpoint, b->endpoints.first + i);
                char one[80];
                snprintf(one, sizeof(one), "%s:%u,", sl_snap_cstr(&e.f.snap, ep->host), ep->port);
                strncat(seen, one, sizeof(seen) - strlen(seen) - 1);
                if (strcmp(sl_snap_cstr(&e.f.snap, ep->host), "10.0.0.1") == 0) {
                    uint8_t want[4] = {10, 0, 0, 1};
                    CHECK(ep->family == AF_INET);
                    CHECK(memcmp(ep->addr, want, 4) == 0);
                }
                if (strcmp(sl_snap_cstr(&e.f.snap, ep->host), "fd00::4") == 0) {
                    CHECK(ep->family == AF_INET6);
                    CHECK(ep->addr[0] == 0xfd && ep->addr[15] == 4);
                }
            }
            CHECK_STR(seen, "10.0.0.1:8080,10.0.0.3:8080,fd00::4:8081,");
        }
        CHECK_STR(lookup(&e, "GET", "h", "/m"), "r#1");
        ref = last_ref(&e, 0);
        CHECK(ref && ref->backend != SL_SNAP_NONE && ref->backend != web80);
        if (ref && ref->backend != SL_SNAP_NONE) {
            const sl_snap_backend *b = SL_SNAP_GET(&e.f.snap, SL_SNAP_BACKENDS, sl_snap_backend, ref->backend);
            CHECK(b->port == 9090);
            CHECK(b->endpoints.count == 2); /* web-2 has no "metrics" port */
            if (b->endpoints.count >= 1)
                CHECK(SL_SNAP_GET(&e.f.snap, SL_SNAP_ENDPOINTS, sl_snap_endpoint, b->endpoints.first)->port == 9100);
        }
        /* The same Service port twice is one backend. */
        CHECK_STR(lookup(&e, "GET", "h", "/again"), "r#2");
        ref = last_ref(&e, 0);
        CHECK(ref && ref->backend == web80);
        CHECK_STR(cond(&e, "default", "r", 0, "ResolvedRefs"), "True:ResolvedRefs");
    }
    env_close(&e);
}

static void test_cross_namespace_needs_reference_grant(void)
{
    env e;
    if (!env_open(&e))
        return;
    put(&e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
            "'spec':{'gatewayClassName':'sluice','listeners':[{'name':'http','port':80,'protocol':'HTTP',"
            "'allowedRoutes':{'namespaces':{'from':'All'}}}]}}");
    put(&e, "{'kind':'Namespace','metadata':{'name':'app'}}");
    put(&e, "{'kind':'Namespace','metadata':{'name':'backend'}}");
    put_service_and_slices(&e, "backend");
    put(&e, "{'kind':'HTTPRoute','metadata':{'name':'r','namespace':'app'},'spec':{'parentRefs':"
            "[{'name':'gw','namespace':'default'}],'rules':[{'backendRefs':[{'name':'web','namespace':'backend',"
            "'port':80}]}]}}");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "h", "/"), "app/r#0");
        const sl_snap_backend_ref *ref = last_ref(&e, 0);
        CHECK(ref && ref->backend == SL_SNAP_NONE);
        CHECK(ref && ref->weight == 1); /* kept, so its share answers 500 */
        CHECK(last_action(&e) && last_action(&e)->total_weight == 1);
        CHECK_STR(cond(&e, "app", "r", 0, "ResolvedRefs"), "False:RefNotPermitted");
        CHECK_STR(cond(&e, "app", "r", 0, "Accepted"), "True:Accepted");
    }
    /* A grant for another kind or from another namespace does not help. */
    put(&e, "{'kind':'ReferenceGrant','metadata':{'name':'wrong','namespace':'backend'},'spec':{"
            "'from':[{'group':'gateway.networking.k8s.io','kind':'HTTPRoute','namespace':'default'}],"
            "'to':[{'group':'','kind':'Service'}]}}");
    put(&e, "{'kind':'ReferenceGrant','metadata':{'name':'wrong2','namespace':'app'},'spec':{"
            "'from':[{'group':'gateway.networking.k8s.io','kind':'HTTPRoute','namespace':'app'}],"
            "'to':[{'group':'','kind':'Service'}]}}");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "h", "/"), "app/r#0");
        const sl_snap_backend_ref *ref = last_ref(&e, 0);
        CHECK(ref && ref->backend == SL_SNAP_NONE);
        CHECK_STR(cond(&e, "app", "r", 0, "ResolvedRefs"), "False:RefNotPermitted");
    }
    put(&e, "{'kind':'ReferenceGrant','metadata':{'name':'ok','namespace':'backend'},'spec':{"
            "'from':[{'group':'gateway.networking.k8s.io','kind':'HTTPRoute','namespace':'app'}],"
            "'to':[{'group':'','kind':'Service','name':'web'}]}}");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "h", "/"), "app/r#0");
        const sl_snap_backend_ref *ref = last_ref(&e, 0);
        CHECK(ref && ref->backend != SL_SNAP_NONE);
        if (ref && ref->backend != SL_SNAP_NONE) {
            const sl_snap_backend *b = SL_SNAP_GET(&e.f.snap, SL_SNAP_BACKENDS, sl_snap_backend, ref->backend);
            CHECK_STR(sl_snap_cstr(&e.f.snap, b->ns), "backend");
            CHECK(b->endpoints.count == 3);
        }
        CHECK_STR(cond(&e, "app", "r", 0, "ResolvedRefs"), "True:ResolvedRefs");
    }
    env_close(&e);
}

static void test_weights_copied(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    put_service_and_slices(&e, "default");
    put_route(&e, "r", "[]",
              "[{'backendRefs':[{'name':'web','port':80,'weight':3},{'name':'web','port':9090,'weight':1},"
              "{'name':'web','port':80,'weight':0},{'name':'missing','port':80,'weight':6}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "h", "/"), "r#0");
        const sl_snap_action *a = last_action(&e);
        CHECK(a && a->backend_refs.count == 4);
        CHECK(a && a->total_weight == 10);
        const uint32_t want[] = {3, 1, 0, 6};
        for (uint32_t i = 0; i < 4; i++) {
            const sl_snap_backend_ref *ref = last_ref(&e, i);
            CHECK(ref && ref->weight == want[i]);
        }
        CHECK(last_ref(&e, 3) && last_ref(&e, 3)->backend == SL_SNAP_NONE);
        CHECK(last_ref(&e, 0) && last_ref(&e, 2) && last_ref(&e, 0)->backend == last_ref(&e, 2)->backend);
        CHECK_STR(cond(&e, "default", "r", 0, "ResolvedRefs"), "False:BackendNotFound");
    }
    env_close(&e);
}

static void test_filters_recorded(void)
{
    env e;
    if (!env_open(&e))
        return;
    put_gateway(&e);
    put_route(&e, "r", "[]",
              "[{'filters':[{'type':'RequestHeaderModifier','requestHeaderModifier':{"
              "'set':[{'name':'X-Set','value':'s'}],'add':[{'name':'X-Add','value':'a'}],'remove':['X-Gone']}}],"
              "'backendRefs':[{'name':'web','port':80,'filters':[{'type':'ResponseHeaderModifier',"
              "'responseHeaderModifier':{'add':[{'name':'X-Be','value':'b'}]}}]}]}]");
    if (compile(&e)) {
        CHECK_STR(lookup(&e, "GET", "h", "/"), "r#0");
        const sl_snap_action *a = last_action(&e);
        CHECK(a && a->filters.count == 3);
        if (a && a->filters.count == 3) {
            const sl_snap_filter *f = SL_SNAP_GET(&e.f.snap, SL_SNAP_FILTERS, sl_snap_filter, a->filters.first);
            const uint8_t ops[] = {SL_HDR_SET, SL_HDR_ADD, SL_HDR_REMOVE};
            const char *names[] = {"X-Set", "X-Add", "X-Gone"};
            const char *values[] = {"s", "a", ""};
            for (int i = 0; i < 3; i++) {
                CHECK(f[i].type == SL_FILTER_REQUEST_HEADER);
                CHECK(f[i].op == ops[i]);
                CHECK_STR(sl_snap_cstr(&e.f.snap, f[i].name), names[i]);
                CHECK_STR(sl_snap_cstr(&e.f.snap, f[i].value), values[i]);
            }
        }
        const sl_snap_backend_ref *ref = last_ref(&e, 0);
        CHECK(ref && ref->filters.count == 1);
        if (ref && ref->filters.count == 1) {
            const sl_snap_filter *f = SL_SNAP_GET(&e.f.snap, SL_SNAP_FILTERS, sl_snap_filter, ref->filters.first);
            CHECK(f->type == SL_FILTER_RESPONSE_HEADER);
            CHECK(f->op == SL_HDR_ADD);
            CHECK_STR(sl_snap_cstr(&e.f.snap, f->name), "X-Be");
        }
    }
    env_close(&e);
}

/* ---- route status ---- */

static void test_route_status_reasons(void)
{
    env e;
    if (!env_open(&e))
        return;
    put(&e, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},"
            "'spec':{'gatewayClassName':'sluice','listeners':[{'name':'http','port':80,'protocol':'HTTP',"
            "'hostname':'only.test'}]}}");
    put(&e, "{'kind':'Namespace','metadata':{'name':'other'}}");
    put(&e, "{'kind':'Service','metadata':{'name':'svc','namespace':'default'},'spec':{'ports':[{'port':80}]}}");
    put(&e, "{'kind':'Service','metadata':{'name':'svc','namespace':'other'},'spec':{'ports':[{'port':80}]}}");
    put_route(&e, "ok", "[]", "[{'backendRefs':[{'name':'svc','port':80}]}]");
    put_route(&e, "no-svc", "[]", "[{'backendRefs':[{'name':'nope','port':80}]}]");
    put_route(&e, "no-port", "[]", "[{'backendRefs':[{'name':'svc','port':81}]}]");
    put_route(&e, "cross", "[]", "[{'backendRefs':[{'name':'svc','namespace':'other','port':80}]}]");
    put_route(&e, "bad-kind", "[]", "[{'backendRefs':[{'kind':'ConfigMap','name':'svc'}]}]");
    put_route(&e, "bad-host", "['elsewhere.test']", "[{'backendRefs':[{'name':'svc','port':80}]}]");
    put(&e, "{'kind':'HTTPRoute','metadata':{'name':'no-parent','namespace':'default'},'spec':{'parentRefs':"
            "[{'name':'gw','sectionName':'missing'}],'rules':[{}]}}");
    put(&e, "{'kind':'HTTPRoute','metadata':{'name':'from-other','namespace':'other'},'spec':{'parentRefs':"
            "[{'name':'gw','namespace':'default'}],'rules':[{}]}}");
    put(&e, "{'kind':'HTTPRoute','metadata':{'name':'not-ours','namespace':'default'},'spec':{'parentRefs':"
            "[{'name':'absent-gateway'}],'rules':[{}]}}");
    /* Two parentRefs: one status entry per parent of ours. */
    put(&e, "{'kind':'HTTPRoute','metadata':{'name':'two-parents','namespace':'default'},'spec':{'parentRefs':"
            "[{'name':'gw','sectionName':'http'},{'name':'gw','sectionName':'zzz'}],'rules':[{}]}}");
    if (compile(&e)) {
        CHECK_STR(cond(&e, "default", "ok", 0, "Accepted"), "True:Accepted");
        CHECK_STR(cond(&e, "default", "ok", 0, "ResolvedRefs"), "True:ResolvedRefs");
        CHECK_STR(cond(&e, "default", "no-svc", 0, "Accepted"), "True:Accepted");
        CHECK_STR(cond(&e, "default", "no-svc", 0, "ResolvedRefs"), "False:BackendNotFound");
        CHECK_STR(cond(&e, "default", "no-port", 0, "ResolvedRefs"), "False:BackendNotFound");
        CHECK_STR(cond(&e, "default", "cross", 0, "ResolvedRefs"), "False:RefNotPermitted");
        CHECK_STR(cond(&e, "default", "bad-kind", 0, "ResolvedRefs"), "False:InvalidKind");
        CHECK_STR(cond(&e, "default", "bad-host", 0, "Accepted"), "False:NoMatchingListenerHostname");
        CHECK_STR(cond(&e, "default", "no-parent", 0, "Accepted"), "False:NoMatchingParent");
        CHECK_STR(cond(&e, "other", "from-other", 0, "Accepted"), "False:NotAllowedByListeners");
        CHECK_STR(cond(&e, "default", "not-ours", 0, "Accepted"), "NO_STATUS");
        CHECK_STR(cond(&e, "default", "two-parents", 0, "Accepted"), "True:Accepted");
        CHECK_STR(cond(&e, "default", "two-parents", 1, "Accepted"), "False:NoMatchingParent");
        /* The entry carries the parentRef and our controller name. */
        const json_t *entry = json_object_get(e.f.status, "HTTPRoute/default/ok");
        const json_t *p0 = json_array_get(json_object_get(entry, "parents"), 0);
        CHECK_STR(json_string_value(json_object_get(p0, "controllerName")), "sluice.dev/gateway-controller");
        CHECK_STR(json_string_value(json_object_get(json_object_get(p0, "parentRef"), "name")), "gw");
        CHECK(json_array_size(json_object_get(entry, "parents")) == 1);
        /* Unresolved backends still route (their share answers 500); unattached ones do not. */
        CHECK_STR(lookup(&e, "GET", "only.test", "/"), "bad-kind#0");
        CHECK(last_ref(&e, 0) && last_ref(&e, 0)->backend == SL_SNAP_NONE);
    }
    env_close(&e);
}

/* The filter registry is indexed by record type: each entry compiles to its own index. */
static void test_filter_registry_is_indexed_by_record_type(void)
{
    for (unsigned t = 0; t < SL_FILTER_NKINDS; t++)
        if (sl_filter_kinds[t]) {
            CHECK(sl_filter_kinds[t]->type == t);
            CHECK(sl_filter_kind_named(sl_filter_kinds[t]->name) == sl_filter_kinds[t]);
        }
    CHECK(sl_filter_kind_named("ExtensionRef") == NULL);
    CHECK(sl_filter_kind_named("RequestMirror") != NULL && sl_filter_kind_named("URLRewrite") != NULL);
}

int main(void)
{
    sl_log_set_level(SL_LOG_ERROR);
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_filter_registry_is_indexed_by_record_type),
        UNIT_TEST(test_exact_over_prefix),
        UNIT_TEST(test_longest_prefix_first),
        UNIT_TEST(test_segment_wise_prefix),
        UNIT_TEST(test_default_match_is_prefix_slash),
        UNIT_TEST(test_method_beats_no_method),
        UNIT_TEST(test_more_headers_beat_fewer),
        UNIT_TEST(test_more_query_params_beat_fewer),
        UNIT_TEST(test_method_beats_headers_beat_query),
        UNIT_TEST(test_older_route_wins_ties),
        UNIT_TEST(test_same_age_alphabetical),
        UNIT_TEST(test_regex_path_and_headers),
        UNIT_TEST(test_hostnames_exact_and_wildcard),
        UNIT_TEST(test_hostnames_less_specific_rules_still_apply),
        UNIT_TEST(test_listener_hostname_intersection),
        UNIT_TEST(test_no_host_and_no_match),
        UNIT_TEST(test_listener_isolation_listener_hostnames),
        UNIT_TEST(test_listener_isolation_route_hostnames),
        UNIT_TEST(test_listener_isolation_listener_without_routes),
        UNIT_TEST(test_unserved_protocol_listener),
        UNIT_TEST(test_rejected_gateway_serves_nothing),
        UNIT_TEST(test_selector_on_namespace_name_label),
        UNIT_TEST(test_parent_ref_section_and_port),
        UNIT_TEST(test_allowed_routes_namespaces),
        UNIT_TEST(test_gateway_of_other_class_ignored),
        UNIT_TEST(test_service_endpointslice_resolution),
        UNIT_TEST(test_cross_namespace_needs_reference_grant),
        UNIT_TEST(test_weights_copied),
        UNIT_TEST(test_filters_recorded),
        UNIT_TEST(test_route_status_reasons),
    };
    return sl_unit_run("compiler_router", tests, sizeof(tests) / sizeof(tests[0]));
}

/* Route table benchmark: builds stores with 10, 1,000 and 10,000 HTTPRoutes and
 * measures, in-process, the snapshot compile time (median of 5), the snapshot
 * size, and router lookups per second on random requests (hits and misses). The
 * HTTP throughput with many routes belongs to the proxy benchmark (bench/proxy.sh).
 *
 *   cd build && make libsluice.a && gcc -std=c11 -O2 -D_GNU_SOURCE -I.. -I. \
 *     -o /tmp/routes_bench ../bench/routes_bench.c libsluice.a -lmicrohttpd -lsqlite3 \
 *     -lssl -lcrypto -lnghttp2 -ljansson -lpcre2-8 -lev -lpthread
 *   /tmp/routes_bench [sizes...]        (default 10 1000 10000)
 *
 * Route mix: hosts h0..h99.example.com (fewer for small tables), N/hosts routes
 * per host; every route has one rule with one match on /svcJ/...: three in four
 * PathPrefix /svcJ/api, one in four Exact /svcJ/exact; one in ten also requires
 * the header x-canary: yes. Each rule sends to a Service with an EndpointSlice. */
#include <ftw.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sl.h"
#include "common/snapshot.h"
#include "daemon/compiler.h"
#include "daemon/kinds.h"
#include "daemon/objects.h"
#include "daemon/store.h"
#include "workers/router.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void put(sl_store *s, json_t *o)
{
    const char *kind = json_string_value(json_object_get(o, "kind"));
    int64_t rv = sl_store_next_rv(s);
    sl_obj_prepare_create(sl_kind_by_name(kind), o, rv);
    if (sl_store_put(s, kind, o, "ADDED", rv) != SL_OK) {
        fprintf(stderr, "routes_bench: storing %s failed\n", kind);
        exit(1);
    }
    json_decref(o);
}

typedef struct shape {
    int hosts, per_host;
} shape;

static shape shape_of(int n)
{
    shape sh = {n >= 100 ? 100 : n, 0};
    sh.per_host = n / sh.hosts;
    return sh;
}

static bool route_is_exact(int j) { return j % 4 == 3; }
static bool route_has_header(int j) { return j % 10 == 9; }

/* Writes the Gateway, a Service with its EndpointSlice and n HTTPRoutes, all in
 * one transaction. */
static void fill_store(sl_store *s, int n)
{
    shape sh = shape_of(n);
    if (sl_store_write_begin(s) != SL_OK)
        exit(1);
    put(s, json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:[{s:s, s:i, s:s}]}}", "kind", "Gateway", "metadata", "name",
                     "gw", "namespace", "default", "spec", "gatewayClassName", "sluice", "listeners", "name", "http",
                     "port", 80, "protocol", "HTTP"));
    put(s, json_pack("{s:s, s:{s:s, s:s}, s:{s:[{s:s, s:i}]}}", "kind", "Service", "metadata", "name", "web",
                     "namespace", "default", "spec", "ports", "name", "http", "port", 80));
    put(s, json_pack("{s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:[{s:s, s:i}], s:[{s:[s]}, {s:[s]}]}", "kind",
                     "EndpointSlice", "metadata", "name", "web-1", "namespace", "default", "labels",
                     "kubernetes.io/service-name", "web", "addressType", "IPv4", "ports", "name", "http", "port", 8080,
                     "endpoints", "addresses", "10.0.0.1", "addresses", "10.0.0.2"));
    for (int h = 0; h < sh.hosts; h++) {
        for (int j = 0; j < sh.per_host; j++) {
            char name[64], host[64], path[64];
            snprintf(name, sizeof(name), "r-%d-%d", h, j);
            snprintf(host, sizeof(host), "h%d.example.com", h);
            snprintf(path, sizeof(path), route_is_exact(j) ? "/svc%d/exact" : "/svc%d/api", j);
            json_t *match = json_pack("{s:{s:s, s:s}}", "path", "type", route_is_exact(j) ? "Exact" : "PathPrefix",
                                      "value", path);
            if (route_has_header(j))
                json_object_set_new(match, "headers", json_pack("[{s:s, s:s}]", "name", "x-canary", "value", "yes"));
            json_t *route = json_pack(
                "{s:s, s:{s:s, s:s}, s:{s:[{s:s}], s:[s], s:[{s:[o], s:[{s:s, s:i}]}]}}", "kind", "HTTPRoute",
                "metadata", "name", name, "namespace", "default", "spec", "parentRefs", "name", "gw", "hostnames",
                host, "rules", "matches", match, "backendRefs", "name", "web", "port", 80);
            put(s, route);
        }
    }
    if (sl_store_write_commit(s) != SL_OK) {
        fprintf(stderr, "routes_bench: commit failed\n");
        exit(1);
    }
}

typedef struct request {
    char host[64], path[96];
    bool canary;
    int expect; /* 1: must be found, 0: must miss */
    char want[64]; /* the route name when found */
} request;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* Random requests: about 90% hits (with the header where a route needs it),
 * 10% misses (an unknown path on a known host, or an unknown host). */
static void make_requests(request *reqs, size_t count, int n)
{
    shape sh = shape_of(n);
    for (size_t i = 0; i < count; i++) {
        request *r = &reqs[i];
        int h = (int)(rnd() % (uint32_t)sh.hosts), j = (int)(rnd() % (uint32_t)sh.per_host);
        snprintf(r->host, sizeof(r->host), "h%d.example.com", h);
        uint32_t kind = rnd() % 10;
        if (kind == 0) {
            snprintf(r->path, sizeof(r->path), "/nowhere/%u", rnd() % 1000);
            r->expect = 0;
        } else if (kind == 1 && i % 2) {
            snprintf(r->host, sizeof(r->host), "unknown%u.example.org", rnd() % 1000);
            snprintf(r->path, sizeof(r->path), "/svc%d/api", j);
            r->expect = 0;
        } else {
            if (route_is_exact(j))
                snprintf(r->path, sizeof(r->path), "/svc%d/exact", j);
            else
                snprintf(r->path, sizeof(r->path), "/svc%d/api/v1/items/%u", j, rnd() % 100000);
            r->canary = route_has_header(j);
            r->expect = 1;
            snprintf(r->want, sizeof(r->want), "r-%d-%d", h, j);
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct result {
    int routes;
    double compile_ms;
    double endpoints_ms; /* an endpoint-only compile after one EndpointSlice changed (median of 5) */
    size_t size;
    uint32_t entries;
    double lookups_per_s;
    double hit_ratio;
} result;

static int run(int n, result *out)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/sluice-routes-bench.XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    char err[512] = "";
    sl_store *s = sl_store_open(dir, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "routes_bench: %s\n", err);
        return 1;
    }
    fill_store(s, n);

    double times[5];
    void *blob = NULL;
    size_t size = 0;
    for (int i = 0; i < 5; i++) {
        free(blob);
        double t0 = now_s();
        blob = sl_compile(s, (uint64_t)i + 1, &size, NULL);
        times[i] = (now_s() - t0) * 1000.0;
    }
    qsort(times, 5, sizeof(double), cmp_double);
    /* One endpoint changes, five times: the endpoint-only compile (compiler.h). */
    sl_compile_memo memo = {0};
    size_t memo_size;
    free(sl_compile_with_memo(s, 6, &memo_size, NULL, &memo));
    double ep_times[5];
    for (int i = 0; i < 5; i++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "10.0.1.%d", i + 1);
        if (sl_store_write_begin(s) != SL_OK)
            exit(1);
        put(s, json_pack("{s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:[{s:s, s:i}], s:[{s:[s]}, {s:[s]}]}", "kind",
                         "EndpointSlice", "metadata", "name", "web-1", "namespace", "default", "labels",
                         "kubernetes.io/service-name", "web", "addressType", "IPv4", "ports", "name", "http", "port",
                         8080, "endpoints", "addresses", addr, "addresses", "10.0.0.2"));
        if (sl_store_write_commit(s) != SL_OK)
            exit(1);
        size_t ep_size;
        double t0 = now_s();
        void *ep_blob = sl_compile_endpoints(s, &memo, (uint64_t)i + 7, &ep_size);
        ep_times[i] = (now_s() - t0) * 1000.0;
        char ep_why[256];
        if (!sl_snapshot_verify(ep_blob, ep_size, ep_why, sizeof(ep_why))) {
            fprintf(stderr, "routes_bench: endpoint-only snapshot does not verify: %s\n", ep_why);
            return 1;
        }
        free(ep_blob);
    }
    qsort(ep_times, 5, sizeof(double), cmp_double);
    out->endpoints_ms = ep_times[2];
    sl_compile_memo_clear(&memo);
    char why[256];
    if (!sl_snapshot_verify(blob, size, why, sizeof(why))) {
        fprintf(stderr, "routes_bench: snapshot does not verify: %s\n", why);
        return 1;
    }
    sl_snapshot snap = {blob, size};
    sl_regex_set *rx = sl_regex_set_build(&snap);
    uint32_t port = 0; /* the only socket */

    enum { NREQ = 4096 };
    request *reqs = calloc(NREQ, sizeof(*reqs));
    sl_route_request *rr = calloc(NREQ, sizeof(*rr));
    static sl_http1_header canary = {.name = {"X-Canary", 8}, .value = {"yes", 3}};
    make_requests(reqs, NREQ, n);
    for (size_t i = 0; i < NREQ; i++) {
        const char *q = strchr(reqs[i].path, '?');
        rr[i] = (sl_route_request){.host = sl_slice_from_cstr(reqs[i].host),
                                   .path = sl_slice_make(reqs[i].path, q ? (size_t)(q - reqs[i].path)
                                                                         : strlen(reqs[i].path)),
                                   .method = sl_slice_from_cstr("GET"),
                                   .headers = reqs[i].canary ? &canary : NULL,
                                   .nheaders = reqs[i].canary ? 1 : 0};
    }
    /* Check every answer once before timing. */
    size_t hits = 0;
    for (size_t i = 0; i < NREQ; i++) {
        const sl_snap_route *r = NULL;
        sl_route_result res = sl_router_lookup(&snap, rx, port, &rr[i], &r);
        bool found = res == SL_ROUTE_FOUND;
        if (found != (reqs[i].expect == 1) ||
            (found && strcmp(sl_snap_cstr(&snap, r->route_name), reqs[i].want) != 0)) {
            fprintf(stderr, "routes_bench: %s%s routed wrong: result %d, route %s, wanted %s\n", reqs[i].host,
                    reqs[i].path, (int)res, found ? sl_snap_cstr(&snap, r->route_name) : "-",
                    reqs[i].expect ? reqs[i].want : "a miss");
            return 1;
        }
        hits += found;
    }
    uint64_t done = 0, sink = 0;
    double t0 = now_s(), elapsed = 0;
    while (elapsed < 1.0) {
        for (size_t i = 0; i < 1024; i++) {
            const sl_snap_route *r = NULL;
            sink += (uint64_t)sl_router_lookup(&snap, rx, port, &rr[(done + i) & (NREQ - 1)], &r);
            sink += r ? r->rule_index : 0;
        }
        done += 1024;
        elapsed = now_s() - t0;
    }
    if (sink == UINT64_MAX)
        printf("(unlikely)\n");

    out->routes = n;
    out->compile_ms = times[2];
    out->size = size;
    out->entries = sl_snap_count(&snap, SL_SNAP_ROUTES);
    out->lookups_per_s = (double)done / elapsed;
    out->hit_ratio = (double)hits / NREQ;

    sl_regex_set_free(rx);
    free(reqs);
    free(rr);
    free(blob);
    sl_store_close(s);
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}

int main(int argc, char **argv)
{
    sl_log_set_level(SL_LOG_ERROR);
    int sizes[16], nsizes = 0;
    for (int i = 1; i < argc && nsizes < 16; i++)
        sizes[nsizes++] = atoi(argv[i]);
    if (nsizes == 0) {
        sizes[0] = 10;
        sizes[1] = 1000;
        sizes[2] = 10000;
        nsizes = 3;
    }
    result res[16];
    for (int i = 0; i < nsizes; i++) {
        if (sizes[i] <= 0 || run(sizes[i], &res[i]) != 0)
            return 1;
    }
    printf("%8s %8s %12s %13s %12s %14s %6s\n", "routes", "entries", "compile_ms", "endpoints_ms", "size_bytes",
           "lookups_per_s", "hits");
    for (int i = 0; i < nsizes; i++)
        printf("%8d %8u %12.2f %13.2f %12zu %14.0f %5.0f%%\n", res[i].routes, res[i].entries, res[i].compile_ms,
               res[i].endpoints_ms, res[i].size, res[i].lookups_per_s, res[i].hit_ratio * 100);
    for (int i = 0; i < nsizes; i++)
        printf("RESULT routes=%d compile_ms=%.2f endpoints_ms=%.2f lookups_per_s=%.0f snapshot_bytes=%zu\n",
               res[i].routes, res[i].compile_ms, res[i].endpoints_ms, res[i].lookups_per_s, res[i].size);
    return 0;
}

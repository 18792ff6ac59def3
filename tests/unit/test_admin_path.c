/* Unit tests for admin/admin_path.c (Kubernetes REST path parsing) and for
 * sl_admin_parse_address (admin/admin_server.c). */
#include <stdbool.h>
#include <stdlib.h>

#include "admin/admin.h"
#include "admin/admin_path.h"
#include "common/sl.h"
#include "tests/unit/unit.h"

/* Parses a heap copy of url, so a sanitizer build catches reads past its end. */
static int parse(const char *url, sl_admin_path *p)
{
    char *copy = strdup(url);
    int rc = sl_admin_path_parse(copy, p);
    free(copy);
    return rc;
}

static const char *kind_name(const sl_admin_path *p) { return p->kind ? p->kind->kind : "(none)"; }

static void test_core_namespaced_item(void)
{
    sl_admin_path p;
    CHECK(parse("/api/v1/namespaces/default/services/x", &p) == SL_OK);
    CHECK_STR(kind_name(&p), "Service");
    CHECK_STR(p.group, "");
    CHECK_STR(p.version, "v1");
    CHECK_STR(p.plural, "services");
    CHECK_STR(p.ns, "default");
    CHECK_STR(p.name, "x");
    CHECK_STR(p.subresource, "");

    CHECK(parse("/api/v1/namespaces/default/services/x/status", &p) == SL_OK);
    CHECK_STR(p.name, "x");
    CHECK_STR(p.subresource, "status");

    CHECK(parse("/api/v1/namespaces/default/configmaps", &p) == SL_OK);
    CHECK_STR(kind_name(&p), "ConfigMap");
    CHECK_STR(p.ns, "default");
    CHECK_STR(p.name, "");

    CHECK(parse("/api/v1/services", &p) == SL_OK);
    CHECK_STR(kind_name(&p), "Service");
    CHECK_STR(p.ns, "");
    CHECK_STR(p.name, "");
}

static void test_namespaces(void)
{
    sl_admin_path p;
    CHECK(parse("/api/v1/namespaces", &p) == SL_OK);
    CHECK_STR(kind_name(&p), "Namespace");
    CHECK_STR(p.plural, "namespaces");
    CHECK_STR(p.ns, "");
    CHECK_STR(p.name, "");

    CHECK(parse("/api/v1/namespaces/foo", &p) == SL_OK);
    CHECK_STR(kind_name(&p), "Namespace");
    CHECK_STR(p.ns, "");
    CHECK_STR(p.name, "foo");
    CHECK_STR(p.subresource, "");

    CHECK(parse("/api/v1/namespaces/foo/status", &p) == SL_OK);
    CHECK_STR(kind_name(&p), "Namespace");
    CHECK_STR(p.ns, "");
    CHECK_STR(p.name, "foo");
    CHECK_STR(p.subresource, "status");

    /* Subresources other than status are not served. */
    CHECK(parse("/api/v1/namespaces/foo/finalize", &p) == SL_NOTFOUND);
    /* A Namespace does not live in a namespace. */
    CHECK(parse("/api/v1/namespaces/foo/namespaces/bar", &p) == SL_NOTFOUND);
    CHECK(parse("/api/v1/namespaces/foo/namespaces", &p) == SL_NOTFOUND);
}

static void test_gateway_group(void)
{
    sl_admin_path p;
    CHECK(parse("/apis/gateway.networking.k8s.io/v1/namespaces/ns/httproutes/r/status", &p) == SL_OK);
    CHECK_STR(kind_name(&p), "HTTPRoute");
    CHECK_STR(p.group, "gateway.networking.k8s.io");
    CHECK_STR(p.version, "v1");
    CHECK_STR(p.plural, "httproutes");
    CHECK_STR(p.ns, "ns");
    CHECK_STR(p.name, "r");
    CHECK_STR(p.subresource, "status");

    CHECK(parse("/apis/gateway.networking.k8s.io/v1/httproutes", &p) == SL_OK);
    CHECK_STR(kind_name(&p), "HTTPRoute");
    CHECK_STR(p.ns, "");
    CHECK_STR(p.name, "");

    CHECK(parse("/apis/gateway.networking.k8s.io/v1/namespaces/ns/httproutes", &p) == SL_OK);
    CHECK_STR(p.ns, "ns");
    CHECK_STR(p.name, "");

    CHECK(parse("/apis/gateway.networking.k8s.io/v1/gatewayclasses/sluice", &p) == SL_OK);
    CHECK_STR(kind_name(&p), "GatewayClass");
    CHECK_STR(p.ns, "");
    CHECK_STR(p.name, "sluice");

    CHECK(parse("/apis/gateway.networking.k8s.io/v1/gatewayclasses/sluice/status", &p) == SL_OK);
    CHECK_STR(p.subresource, "status");

    /* Both served versions of ReferenceGrant. */
    CHECK(parse("/apis/gateway.networking.k8s.io/v1beta1/referencegrants", &p) == SL_OK);
    CHECK_STR(kind_name(&p), "ReferenceGrant");
    CHECK_STR(p.version, "v1beta1");
    CHECK(parse("/apis/gateway.networking.k8s.io/v1/referencegrants", &p) == SL_OK);
    CHECK_STR(kind_name(&p), "ReferenceGrant");
    CHECK_STR(p.version, "v1");

    /* A namespace named like a subresource is still a namespace. */
    CHECK(parse("/apis/gateway.networking.k8s.io/v1/namespaces/status/httproutes/x", &p) == SL_OK);
    CHECK_STR(p.ns, "status");
    CHECK_STR(p.name, "x");
    CHECK(parse("/api/v1/namespaces/status/services", &p) == SL_OK);
    CHECK_STR(p.ns, "status");
    CHECK_STR(kind_name(&p), "Service");
}

static void test_not_found(void)
{
    sl_admin_path p;
    CHECK(parse("/api/v1/pods", &p) == SL_NOTFOUND);
    CHECK(parse("/api/v1/namespaces/x/pods/y", &p) == SL_NOTFOUND);
    CHECK(parse("/api/v2/services", &p) == SL_NOTFOUND);
    CHECK(parse("/apis/apps/v1/namespaces/x/deployments", &p) == SL_NOTFOUND);
    CHECK(parse("/apis/apps/v1/deployments", &p) == SL_NOTFOUND);
    CHECK(parse("/apis/gateway.networking.k8s.io/v9/httproutes", &p) == SL_NOTFOUND);
    /* GRPCRoute is served only as v1. */
    CHECK(parse("/apis/gateway.networking.k8s.io/v1beta1/grpcroutes", &p) == SL_NOTFOUND);
    /* Core resources are not under /apis, gateway ones not under /api. */
    CHECK(parse("/api/v1/httproutes", &p) == SL_NOTFOUND);
    CHECK(parse("/apis/gateway.networking.k8s.io/v1/services", &p) == SL_NOTFOUND);
    /* Cluster-scoped kinds under namespaces/. */
    CHECK(parse("/apis/gateway.networking.k8s.io/v1/namespaces/ns/gatewayclasses/sluice", &p) == SL_NOTFOUND);
    CHECK(parse("/apis/gateway.networking.k8s.io/v1/namespaces/ns/gatewayclasses", &p) == SL_NOTFOUND);
    /* Subresources other than status. */
    CHECK(parse("/api/v1/namespaces/default/services/x/proxy", &p) == SL_NOTFOUND);
    CHECK(parse("/apis/gateway.networking.k8s.io/v1/namespaces/ns/httproutes/r/scale", &p) == SL_NOTFOUND);
    CHECK(parse("/apis/gateway.networking.k8s.io/v1/gatewayclasses/sluice/finalize", &p) == SL_NOTFOUND);
    /* Too deep. */
    CHECK(parse("/api/v1/namespaces/default/services/x/status/more", &p) == SL_NOTFOUND);
    CHECK(parse("/apis/gateway.networking.k8s.io/v1/httproutes/r/status/more", &p) == SL_NOTFOUND);
    /* "namespaces/{ns}" with nothing after it in a group: no such resource. */
    CHECK(parse("/apis/gateway.networking.k8s.io/v1/namespaces/ns", &p) == SL_NOTFOUND);
}

static void test_not_resource_paths(void)
{
    sl_admin_path p;
    static const char *const urls[] = {
        "/healthz", "/readyz", "/metrics", "/", "", "/api", "/api/", "/api/v1", "/api/v1/",
        "/apis", "/apis/", "/apis/g", "/apis/g/v", "/apis/gateway.networking.k8s.io/v1", "/openapi/v2",
        "/apisx/g/v/r", "/version",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        int rc = parse(urls[i], &p);
        if (rc != SL_ERR)
            fprintf(stderr, "  %s: got %d, want SL_ERR\n", urls[i], rc);
        CHECK(rc == SL_ERR);
    }
}

static void test_long_segments(void)
{
    sl_admin_path p;
    char name[300], url[1200];

    /* A 253-character name fits; one of 300 does not. */
    memset(name, 'n', 253);
    name[253] = '\0';
    snprintf(url, sizeof(url), "/api/v1/namespaces/default/services/%s", name);
    CHECK(parse(url, &p) == SL_OK);
    CHECK(strlen(p.name) == 253);

    memset(name, 'n', 299);
    name[299] = '\0';
    snprintf(url, sizeof(url), "/api/v1/namespaces/default/services/%s", name);
    CHECK(parse(url, &p) == SL_NOTFOUND);

    /* Over-long namespace, plural, version and group. */
    memset(name, 'a', 100);
    name[100] = '\0';
    snprintf(url, sizeof(url), "/api/v1/namespaces/%s/services/x", name);
    CHECK(parse(url, &p) == SL_NOTFOUND);
    snprintf(url, sizeof(url), "/api/v1/%s", name);
    CHECK(parse(url, &p) == SL_NOTFOUND);
    snprintf(url, sizeof(url), "/api/%s/services", name);
    CHECK(parse(url, &p) == SL_NOTFOUND);
    snprintf(url, sizeof(url), "/apis/g/%s/things", name);
    CHECK(parse(url, &p) == SL_NOTFOUND);
    memset(name, 'g', 200);
    name[200] = '\0';
    snprintf(url, sizeof(url), "/apis/%s/v1/things", name);
    CHECK(parse(url, &p) == SL_NOTFOUND);
    snprintf(url, sizeof(url), "/api/v1/namespaces/default/services/x/%.40s", name);
    CHECK(parse(url, &p) == SL_NOTFOUND);

    /* A URL longer than any buffer. */
    char *huge = malloc(5000);
    strcpy(huge, "/api/v1/namespaces/default/services/");
    size_t off = strlen(huge);
    memset(huge + off, 'x', 4999 - off);
    huge[4999] = '\0';
    CHECK(parse(huge, &p) == SL_NOTFOUND);
    huge[1] = 'h';
    huge[2] = 'e';
    huge[3] = 'y';
    CHECK(parse(huge, &p) == SL_ERR);
    free(huge);
}

static void test_many_segments(void)
{
    sl_admin_path p;
    char url[512] = "/api/v1/namespaces/default/services/x/status";
    for (int i = 0; i < 20; i++)
        strcat(url, "/s");
    CHECK(parse(url, &p) == SL_NOTFOUND);
    char url2[512] = "/apis/g";
    for (int i = 0; i < 40; i++)
        strcat(url2, "/a");
    CHECK(parse(url2, &p) == SL_NOTFOUND);
    /* Many empty segments collapse and do not count. */
    CHECK(parse("/api//v1///namespaces//default/services////x", &p) == SL_OK);
    CHECK_STR(p.name, "x");
}

static void test_parse_clears_output(void)
{
    sl_admin_path p;
    CHECK(parse("/api/v1/namespaces/default/services/x/status", &p) == SL_OK);
    CHECK(parse("/api/v1/services", &p) == SL_OK);
    CHECK_STR(p.ns, "");
    CHECK_STR(p.name, "");
    CHECK_STR(p.subresource, "");
    CHECK(parse("/healthz", &p) == SL_ERR);
    CHECK(p.kind == NULL);
}

static void test_parse_address_ok(void)
{
    char host[64];
    int port = -1;
    CHECK(sl_admin_parse_address("127.0.0.1:9901", host, sizeof(host), &port) == 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK(port == 9901);

    CHECK(sl_admin_parse_address("[::1]:80", host, sizeof(host), &port) == 0);
    CHECK_STR(host, "::1");
    CHECK(port == 80);

    CHECK(sl_admin_parse_address(":9901", host, sizeof(host), &port) == 0);
    CHECK_STR(host, "");
    CHECK(port == 9901);

    CHECK(sl_admin_parse_address("localhost:1", host, sizeof(host), &port) == 0);
    CHECK_STR(host, "localhost");
    CHECK(port == 1);

    CHECK(sl_admin_parse_address("0.0.0.0:0", host, sizeof(host), &port) == 0);
    CHECK_STR(host, "0.0.0.0");
    CHECK(port == 0);

    CHECK(sl_admin_parse_address("[fe80::1%eth0]:65535", host, sizeof(host), &port) == 0);
    CHECK_STR(host, "fe80::1%eth0");
    CHECK(port == 65535);
}

static void test_parse_address_bad(void)
{
    static const char *const bad[] = {
        "nocolon", "1.2.3.4:99999", "[::1]9901", "1.2.3.4:", "1.2.3.4:-1", "1.2.3.4:80x", "[::1]", "[::1:80",
        "[::1]:", "host:port", "", ":", "1.2.3.4:65536",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char host[64] = "";
        int port = -7;
        int rc = sl_admin_parse_address(bad[i], host, sizeof(host), &port);
        if (rc == 0)
            fprintf(stderr, "  \"%s\" accepted (host \"%s\", port %d)\n", bad[i], host, port);
        CHECK(rc != 0);
    }

    /* A host that does not fit is refused, not truncated or overrun. */
    char small[8] = "";
    int port = 0;
    CHECK(sl_admin_parse_address("verylonghostname:80", small, sizeof(small), &port) != 0);
    CHECK(sl_admin_parse_address("[2001:db8::1234]:80", small, sizeof(small), &port) != 0);
    CHECK(sl_admin_parse_address("1234567:80", small, sizeof(small), &port) == 0);
    CHECK_STR(small, "1234567");
}

/* The port is digits only: no sign, no whitespace (strtol would allow both). */
static void test_parse_address_port_digits_only(void)
{
    static const char *const bad[] = {"1.2.3.4:+80", "1.2.3.4: 80", "[::1]:+1", "localhost:\t9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char host[64] = "";
        int port = -7;
        int rc = sl_admin_parse_address(bad[i], host, sizeof(host), &port);
        if (rc == 0)
            fprintf(stderr, "  \"%s\" accepted (host \"%s\", port %d)\n", bad[i], host, port);
        CHECK(rc != 0);
    }
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_core_namespaced_item),
        UNIT_TEST(test_namespaces),
        UNIT_TEST(test_gateway_group),
        UNIT_TEST(test_not_found),
        UNIT_TEST(test_not_resource_paths),
        UNIT_TEST(test_long_segments),
        UNIT_TEST(test_many_segments),
        UNIT_TEST(test_parse_clears_output),
        UNIT_TEST(test_parse_address_ok),
        UNIT_TEST(test_parse_address_bad),
        UNIT_TEST(test_parse_address_port_digits_only),
    };
    return sl_unit_run("admin_path", tests, sizeof(tests) / sizeof(tests[0]));
}

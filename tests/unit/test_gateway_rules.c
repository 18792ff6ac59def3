/* daemon/gateway_rules.c: which protocols sluice serves, which route kinds a
 * listener supports (status.supportedKinds, ResolvedRefs InvalidRouteKinds), and
 * Gateway parameters (Accepted False, InvalidParameters). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/gateway_rules.h"
#include "tests/unit/unit.h"

/* JSON with single quotes for double quotes. */
static json_t *load(const char *text)
{
    char *s = strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    if (!j) {
        fprintf(stderr, "  bad test JSON: %s: %s\n", err.text, text);
        sl_unit_failures++;
    }
    free(s);
    return j;
}

/* The kinds of supportedKinds, comma-separated, in order ("" when empty); each
 * must carry the group gateway.networking.k8s.io. */
static const char *kinds_of(const char *listener, char *out, size_t len)
{
    json_t *l = load(listener);
    json_t *kinds = sl_listener_supported_kinds(l);
    out[0] = '\0';
    size_t i;
    json_t *k;
    json_array_foreach(kinds, i, k)
    {
        if (strcmp(json_string_value(json_object_get(k, "group")), "gateway.networking.k8s.io") != 0)
            sl_unit_failures++;
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s", i ? "," : "", json_string_value(json_object_get(k, "kind")));
    }
    json_decref(kinds);
    json_decref(l);
    return out;
}

static size_t invalid_of(const char *listener, char *msg, size_t len)
{
    json_t *l = load(listener);
    size_t n = sl_listener_invalid_kinds(l, msg, len);
    json_decref(l);
    return n;
}

static void test_protocols_served(void)
{
    static const char *const served[] = {"HTTP", "HTTPS"};
    static const char *const not_served[] = {"TLS", "UDP", "INVALID", "http", "example.com/proto", ""};
    char buf[128];
    for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++) {
        snprintf(buf, sizeof(buf), "{'name':'l','port':80,'protocol':'%s'}", served[i]);
        json_t *l = load(buf);
        CHECK(sl_listener_protocol_served(l));
        json_decref(l);
    }
    for (size_t i = 0; i < sizeof(not_served) / sizeof(not_served[0]); i++) {
        snprintf(buf, sizeof(buf), "{'name':'l','port':80,'protocol':'%s'}", not_served[i]);
        json_t *l = load(buf);
        CHECK(!sl_listener_protocol_served(l));
        json_decref(l);
    }
}

static void test_supported_kinds(void)
{
    char out[256];
    /* No allowedRoutes.kinds: the protocol decides. */
    CHECK_STR(kinds_of("{'protocol':'HTTP'}", out, sizeof(out)), "HTTPRoute,GRPCRoute");
    CHECK_STR(kinds_of("{'protocol':'HTTPS'}", out, sizeof(out)), "HTTPRoute,GRPCRoute");
    CHECK_STR(kinds_of("{'protocol':'INVALID'}", out, sizeof(out)), "");
    CHECK_STR(kinds_of("{'protocol':'TLS','allowedRoutes':{'kinds':[{'kind':'TLSRoute'}]}}", out, sizeof(out)), "");
    /* Listed kinds: those sluice serves, group omitted or explicit. */
    CHECK_STR(kinds_of("{'protocol':'HTTP','allowedRoutes':{'kinds':[{'kind':'HTTPRoute'}]}}", out, sizeof(out)),
              "HTTPRoute");
    CHECK_STR(kinds_of("{'protocol':'HTTP','allowedRoutes':{'kinds':[{'kind':'InvalidRoute'},{'kind':'HTTPRoute'}]}}",
                       out, sizeof(out)),
              "HTTPRoute");
    CHECK_STR(kinds_of("{'protocol':'HTTP','allowedRoutes':{'kinds':[{'kind':'InvalidRoute'}]}}", out, sizeof(out)), "");
    CHECK_STR(kinds_of("{'protocol':'HTTP','allowedRoutes':{'kinds':[{'group':'gateway.networking.k8s.io',"
                       "'kind':'GRPCRoute'}]}}",
                       out, sizeof(out)),
              "GRPCRoute");
    /* Another group, even the core one (""), is not the Gateway API's HTTPRoute. */
    CHECK_STR(kinds_of("{'protocol':'HTTP','allowedRoutes':{'kinds':[{'group':'','kind':'HTTPRoute'},"
                       "{'group':'example.com','kind':'GRPCRoute'}]}}",
                       out, sizeof(out)),
              "");
    /* An HTTP kind on a protocol sluice does not serve. */
    CHECK_STR(kinds_of("{'protocol':'INVALID','allowedRoutes':{'kinds':[{'kind':'HTTPRoute'}]}}", out, sizeof(out)),
              "");
}

static void test_supports_kind(void)
{
    json_t *l = load("{'protocol':'HTTP','allowedRoutes':{'kinds':[{'kind':'GRPCRoute'}]}}");
    CHECK(sl_listener_supports_kind(l, "GRPCRoute"));
    CHECK(!sl_listener_supports_kind(l, "HTTPRoute"));
    CHECK(!sl_listener_supports_kind(l, "TLSRoute"));
    json_decref(l);
    l = load("{'protocol':'HTTPS'}");
    CHECK(sl_listener_supports_kind(l, "HTTPRoute"));
    CHECK(!sl_listener_supports_kind(l, "TCPRoute"));
    json_decref(l);
    l = load("{'protocol':'TCP','allowedRoutes':{'kinds':[{'kind':'HTTPRoute'}]}}");
    CHECK(!sl_listener_supports_kind(l, "HTTPRoute"));
    json_decref(l);
}

static void test_invalid_kinds(void)
{
    char msg[256];
    CHECK(invalid_of("{'protocol':'HTTP'}", msg, sizeof(msg)) == 0);
    CHECK(invalid_of("{'protocol':'INVALID'}", msg, sizeof(msg)) == 0);
    CHECK(invalid_of("{'protocol':'HTTP','allowedRoutes':{'kinds':[{'kind':'HTTPRoute'},{'kind':'GRPCRoute'}]}}", msg,
                     sizeof(msg)) == 0);
    CHECK(invalid_of("{'protocol':'HTTP','allowedRoutes':{'kinds':[{'kind':'InvalidRoute'},{'kind':'HTTPRoute'},"
                     "{'group':'x.io','kind':'Y'}]}}",
                     msg, sizeof(msg)) == 2);
    CHECK(strstr(msg, "gateway.networking.k8s.io/InvalidRoute") != NULL);
    CHECK(strstr(msg, "x.io/Y") != NULL);
    CHECK(strstr(msg, "/HTTPRoute") == NULL);
    CHECK(invalid_of("{'protocol':'UDP','allowedRoutes':{'kinds':[{'kind':'HTTPRoute'}]}}", msg, sizeof(msg)) == 1);
    CHECK(strstr(msg, "protocol UDP") != NULL);
    /* TCP serves TCPRoute; TLS serves TLSRoute in Passthrough mode only (a TLS
     * listener without tls.mode Passthrough is not served at all). */
    CHECK(invalid_of("{'protocol':'TCP','allowedRoutes':{'kinds':[{'kind':'HTTPRoute'},{'kind':'TCPRoute'}]}}", msg,
                     sizeof(msg)) == 1);
    CHECK(strstr(msg, "it serves TCPRoute") != NULL);
    CHECK_STR(kinds_of("{'protocol':'TCP'}", msg, sizeof(msg)), "TCPRoute");
    CHECK_STR(kinds_of("{'protocol':'TLS','tls':{'mode':'Passthrough'}}", msg, sizeof(msg)), "TLSRoute");
    CHECK_STR(kinds_of("{'protocol':'TLS','tls':{'mode':'Terminate'}}", msg, sizeof(msg)), "");
    /* The count does not need a message; a short buffer truncates it. */
    CHECK(invalid_of("{'protocol':'HTTP','allowedRoutes':{'kinds':[{'kind':'A'},{'kind':'B'}]}}", NULL, 0) == 2);
    CHECK(invalid_of("{'protocol':'HTTP','allowedRoutes':{'kinds':[{'kind':'A'},{'kind':'B'}]}}", msg, 8) == 2);
    CHECK(strlen(msg) == 7);
}

static void test_parameters(void)
{
    char msg[256];
    json_t *gw = load("{'spec':{'gatewayClassName':'sluice','listeners':[]}}");
    CHECK(!sl_gateway_parameters_invalid(gw, msg, sizeof(msg)));
    json_decref(gw);
    gw = load("{'spec':{'infrastructure':{'labels':{'a':'b'}}}}");
    CHECK(!sl_gateway_parameters_invalid(gw, msg, sizeof(msg)));
    json_decref(gw);
    gw = load("{'spec':{'infrastructure':{'parametersRef':{'group':'invalid.io','kind':'InvalidParameters',"
              "'name':'invalid'}}}}");
    CHECK(sl_gateway_parameters_invalid(gw, msg, sizeof(msg)));
    CHECK(strstr(msg, "invalid.io/InvalidParameters \"invalid\"") != NULL);
    CHECK(sl_gateway_parameters_invalid(gw, NULL, 0));
    json_decref(gw);
    /* A kind sluice stores (ConfigMap, core group) is no parameters kind either. */
    gw = load("{'spec':{'infrastructure':{'parametersRef':{'group':'','kind':'ConfigMap','name':'p'}}}}");
    CHECK(sl_gateway_parameters_invalid(gw, msg, sizeof(msg)));
    CHECK(strstr(msg, "ConfigMap \"p\"") != NULL);
    json_decref(gw);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_protocols_served), UNIT_TEST(test_supported_kinds), UNIT_TEST(test_supports_kind),
        UNIT_TEST(test_invalid_kinds),    UNIT_TEST(test_parameters),
    };
    return sl_unit_run("gateway_rules", tests, sizeof(tests) / sizeof(tests[0]));
}

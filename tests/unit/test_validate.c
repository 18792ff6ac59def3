/* Unit tests for the per-kind validators (daemon/validate_*.c): valid objects
 * produce no cause, invalid ones name the exact Kubernetes-style field paths. */
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>

#include "daemon/kinds.h"
#include "daemon/validate.h"
#include "tests/unit/unit.h"

/* JSON literals are written with single quotes so they stay readable in C;
 * this turns them into JSON (no test value needs a literal quote). */
static json_t *load(const char *text)
{
    char *s = strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    if (!j)
        fprintf(stderr, "  bad test JSON: %s (line %d): %s\n", err.text, err.line, text);
    free(s);
    return j;
}

/* Runs the kind's validator (spec only, as the store calls it after metadata)
 * and returns its causes; the caller owns the reference. */
static json_t *run(const char *kind, const char *text)
{
    const sl_kind *k = sl_kind_by_name(kind);
    json_t *obj = load(text);
    sl_vctx v;
    sl_vctx_init(&v);
    if (k && obj)
        k->validate(&v, obj);
    json_t *causes = json_incref(v.causes);
    sl_vctx_free(&v);
    json_decref(obj);
    return causes;
}

static bool has_field(const json_t *causes, const char *field)
{
    size_t i;
    const json_t *c;
    json_array_foreach(causes, i, c)
        if (strcmp(json_string_value(json_object_get(c, "field")), field) == 0)
            return true;
    return false;
}

static void dump(const json_t *causes)
{
    char *s = json_dumps(causes, JSON_INDENT(2));
    fprintf(stderr, "  causes: %s\n", s);
    free(s);
}

/* Checks that validating `text` yields a cause at every listed field (and, with
 * no fields listed, no cause at all). Returns the number of causes. */
static size_t expect(int line, const char *kind, const char *text, ...)
{
    json_t *causes = run(kind, text);
    va_list ap;
    va_start(ap, text);
    int nfields = 0;
    bool ok = true;
    for (const char *f; (f = va_arg(ap, const char *)) != NULL; nfields++)
        if (!has_field(causes, f)) {
            fprintf(stderr, "  line %d: %s: missing cause at \"%s\"\n", line, kind, f);
            ok = false;
        }
    va_end(ap);
    if (nfields == 0 && json_array_size(causes) != 0) {
        fprintf(stderr, "  line %d: %s: expected a valid object\n", line, kind);
        ok = false;
    }
    if (!ok) {
        dump(causes);
        sl_unit_failures++;
    }
    size_t n = json_array_size(causes);
    json_decref(causes);
    return n;
}

#define VALID(kind, text) expect(__LINE__, kind, text, (const char *)NULL)
#define INVALID(kind, text, ...) expect(__LINE__, kind, text, __VA_ARGS__, (const char *)NULL)

/* ---- helpers ---- */

static void test_helpers(void)
{
    long long ms = 0;
    CHECK(sl_parse_gateway_duration("1h30m", &ms) && ms == 5400000);
    CHECK(sl_parse_gateway_duration("500ms", &ms) && ms == 500);
    CHECK(sl_parse_gateway_duration("0s", &ms) && ms == 0);
    CHECK(sl_parse_gateway_duration("1h1m1s1ms", &ms) && ms == 3661001);
    CHECK(!sl_parse_gateway_duration("", NULL));
    CHECK(!sl_parse_gateway_duration("1h1m1s1ms1h", NULL));
    CHECK(!sl_parse_gateway_duration("100000s", NULL));
    CHECK(!sl_parse_gateway_duration("1.5s", NULL));
    CHECK(!sl_parse_gateway_duration("5", NULL));
    CHECK(!sl_parse_gateway_duration("5d", NULL));
    CHECK(sl_is_cidr("10.0.0.0/8") && sl_is_cidr("2001:db8::/32") && sl_is_cidr("0.0.0.0/0"));
    CHECK(!sl_is_cidr("10.0.0.0/33") && !sl_is_cidr("10.0.0.0") && !sl_is_cidr("::/129") && !sl_is_cidr("x/8"));
    CHECK(sl_is_base64("") && sl_is_base64("aGVsbG8=") && sl_is_base64("aGk="));
    CHECK(!sl_is_base64("aGVsbG8") && !sl_is_base64("a=bc") && !sl_is_base64("!!!!"));
    CHECK(sl_is_config_key("tls.crt") && sl_is_config_key("a-b_c"));
    CHECK(!sl_is_config_key("..a") && !sl_is_config_key("a/b") && !sl_is_config_key(""));
    CHECK(sl_is_iana_svc_name("http") && sl_is_iana_svc_name("h2c-alt"));
    CHECK(!sl_is_iana_svc_name("8080") && !sl_is_iana_svc_name("a--b") && !sl_is_iana_svc_name("averyveryverylongname"));
    CHECK(sl_is_section_name("http") && sl_is_section_name("a.b-c") && !sl_is_section_name("Http") && !sl_is_section_name(""));
    CHECK(sl_is_api_group("") && sl_is_api_group("gateway.networking.k8s.io") && !sl_is_api_group("Gateway"));
    CHECK(sl_is_api_kind("Service") && !sl_is_api_kind("9ervice") && !sl_is_api_kind("Ser_vice"));
    CHECK(sl_is_domain_prefixed("sluice.dev/gateway-controller", "-") && !sl_is_domain_prefixed("gateway-controller", "-"));
    char err[128];
    CHECK(sl_regex_compiles("^/v[0-9]+/.*$", err, sizeof(err)));
    CHECK(!sl_regex_compiles("(unclosed", err, sizeof(err)));
    CHECK(sl_is_ip_literal("192.0.2.1") && sl_is_ip_literal("::1") && !sl_is_ip_literal("192.0.2.300"));
}

/* ---- Gateway API kinds ---- */

static void test_gatewayclass(void)
{
    VALID("GatewayClass", "{'spec':{'controllerName':'sluice.dev/gateway-controller'}}");
    VALID("GatewayClass", "{'spec':{'controllerName':'sluice.dev/gateway-controller','parametersRef':"
                          "{'group':'','kind':'ConfigMap','name':'cfg','namespace':'default'}}}");
    INVALID("GatewayClass", "{'spec':{}}", "spec.controllerName");
    INVALID("GatewayClass", "{}", "spec");
    INVALID("GatewayClass", "{'spec':{'controllerName':'gateway-controller'}}", "spec.controllerName");
    INVALID("GatewayClass", "{'spec':{'controllerName':'Sluice.dev/x'}}", "spec.controllerName");
    INVALID("GatewayClass", "{'spec':{'controllerName':'sluice.dev/x','parametersRef':{'kind':'9x'}}}",
            "spec.parametersRef.group", "spec.parametersRef.kind", "spec.parametersRef.name");
    INVALID("GatewayClass", "{'spec':{'controllerName':42}}", "spec.controllerName");
}

#define GW_OK "{'spec':{'gatewayClassName':'sluice','listeners':[" \
              "{'name':'http','port':80,'protocol':'HTTP','allowedRoutes':{'namespaces':{'from':'Same'}}}," \
              "{'name':'https','port':443,'protocol':'HTTPS','hostname':'*.example.com'," \
              " 'tls':{'mode':'Terminate','certificateRefs':[{'kind':'Secret','group':'','name':'cert'}]}}," \
              "{'name':'tls','port':8443,'protocol':'TLS','tls':{'mode':'Passthrough'}}," \
              "{'name':'tcp','port':9000,'protocol':'TCP','allowedRoutes':{'kinds':[{'kind':'TCPRoute'}]}}," \
              "{'name':'custom','port':9001,'protocol':'example.com/proto'}," \
              "{'name':'sel','port':81,'protocol':'HTTP','allowedRoutes':{'namespaces':{'from':'Selector'," \
              " 'selector':{'matchLabels':{'team':'a'},'matchExpressions':[{'key':'env','operator':'In','values':['x']}]}}}}]," \
              "'addresses':[{'type':'IPAddress','value':'192.0.2.1'},{'value':'2001:db8::1'},{'type':'Hostname','value':'lb.example.com'}]}}"

static void test_gateway_valid(void) { VALID("Gateway", GW_OK); }

static void test_gateway_invalid(void)
{
    INVALID("Gateway", "{'spec':{'listeners':[{'name':'a','port':80,'protocol':'HTTP'}]}}", "spec.gatewayClassName");
    INVALID("Gateway", "{'spec':{'gatewayClassName':'sluice','listeners':[]}}", "spec.listeners");
    INVALID("Gateway", "{'spec':{'gatewayClassName':'sluice'}}", "spec.listeners");
    INVALID("Gateway", "{'spec':{'gatewayClassName':'Bad_Class','listeners':[{'name':'a','port':80,'protocol':'HTTP'}]}}",
            "spec.gatewayClassName");
    INVALID("Gateway",
            "{'spec':{'gatewayClassName':'sluice','listeners':["
            "{'name':'a','port':80,'protocol':'HTTP'},"
            "{'name':'a','port':0,'protocol':'HTTP'},"
            "{'name':'Bad','port':'80','protocol':'-FTP'},"
            "{'name':'c','port':65536,'hostname':'10.0.0.1'},"
            "{'name':'d','port':80,'protocol':'HTTP','tls':{'mode':'Terminate'}},"
            "{'name':'e','port':443,'protocol':'HTTPS'},"
            "{'name':'f','port':9000,'protocol':'TCP','hostname':'a.example.com'},"
            "{'name':'g','port':8443,'protocol':'TLS'},"
            "{'name':'h','port':8444,'protocol':'HTTPS','tls':{'mode':'Passthrough'}},"
            "{'name':'i','port':8445,'protocol':'HTTPS','tls':{'mode':'Terminate'}},"
            "{'name':'j','port':8446,'protocol':'HTTPS','tls':{'mode':'Other','certificateRefs':[{'name':'c','kind':'1x'}]}},"
            "{'name':'k','port':82,'protocol':'HTTP','allowedRoutes':{'namespaces':{'from':'Selector'}}},"
            "{'name':'l','port':83,'protocol':'HTTP','allowedRoutes':{'namespaces':{'from':'Everywhere'},'kinds':[{'group':'x'}]}},"
            "{'name':'m','port':80,'protocol':'HTTP'}"
            "]}}",
            "spec.listeners[1].name", "spec.listeners[1].port", "spec.listeners[2].name", "spec.listeners[2].port",
            "spec.listeners[2].protocol", "spec.listeners[3].port", "spec.listeners[3].protocol",
            "spec.listeners[3].hostname", "spec.listeners[4].tls", "spec.listeners[5].tls",
            "spec.listeners[6].hostname", "spec.listeners[7].tls", "spec.listeners[8].tls.mode",
            "spec.listeners[9].tls.certificateRefs", "spec.listeners[10].tls.mode",
            "spec.listeners[10].tls.certificateRefs[0].kind",
            "spec.listeners[11].allowedRoutes.namespaces.selector",
            "spec.listeners[12].allowedRoutes.namespaces.from", "spec.listeners[12].allowedRoutes.kinds[0].kind",
            "spec.listeners[13]");
    INVALID("Gateway",
            "{'spec':{'gatewayClassName':'sluice','listeners':[{'name':'a','port':80,'protocol':'HTTP'}],"
            "'addresses':[{'type':'IPAddress','value':'300.1.1.1'},{'type':'Hostname','value':'Bad_Host'},"
            "{'type':'Weird','value':'x'},{'value':'192.0.2.1'},{'type':'IPAddress','value':'192.0.2.1'}]}}",
            "spec.addresses[0].value", "spec.addresses[1].value", "spec.addresses[2].type", "spec.addresses[4].value");
    INVALID("Gateway", "{'spec':{'gatewayClassName':'sluice','listeners':[{'name':'t','port':8443,'protocol':'TLS','tls':{}}]}}",
            "spec.listeners[0].tls.mode");
    INVALID("Gateway", "{'spec':{'gatewayClassName':'sluice','listeners':'x'}}", "spec.listeners");
    /* Listener TLS options: sluice defines none, so a key would be stored and
     * ignored; it is refused, naming the key. */
    INVALID("Gateway",
            "{'spec':{'gatewayClassName':'sluice','listeners':[{'name':'s','port':443,'protocol':'HTTPS',"
            "'tls':{'certificateRefs':[{'name':'c'}],'options':{'example.com/min-version':'1.3'}}}]}}",
            "spec.listeners[0].tls.options[example.com/min-version]");
}

/* Listener protocol: the CRD's pattern, not the list of protocols sluice serves.
 * A token such as "INVALID" is stored (its listener reports UnsupportedProtocol). */
static void test_gateway_listener_protocol(void)
{
    static const char *const ok[] = {"HTTP", "INVALID", "FTP", "x", "h2-c", "example.com/proto", "a.b-c.d/X9"};
    static const char *const bad[] = {"", "-HTTP", "HTTP-", "HTTP/1.1", "with space", "http_2", "example.com/",
                                      "example.com/a-b", "/x"};
    char buf[1024];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(buf, sizeof(buf), "{'spec':{'gatewayClassName':'sluice','listeners':[{'name':'a','port':80,'protocol':'%s'}]}}",
                 ok[i]);
        VALID("Gateway", buf);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(buf, sizeof(buf), "{'spec':{'gatewayClassName':'sluice','listeners':[{'name':'a','port':80,'protocol':'%s'}]}}",
                 bad[i]);
        INVALID("Gateway", buf, "spec.listeners[0].protocol");
    }
    char longest[300];
    memset(longest, 'P', 255);
    longest[255] = '\0';
    snprintf(buf, sizeof(buf), "{'spec':{'gatewayClassName':'sluice','listeners':[{'name':'a','port':80,'protocol':'%s'}]}}",
             longest);
    VALID("Gateway", buf);
    snprintf(buf, sizeof(buf), "{'spec':{'gatewayClassName':'sluice','listeners':[{'name':'a','port':80,'protocol':'%sP'}]}}",
             longest);
    INVALID("Gateway", buf, "spec.listeners[0].protocol");
}

static void test_referencegrant(void)
{
    VALID("ReferenceGrant", "{'spec':{'from':[{'group':'gateway.networking.k8s.io','kind':'HTTPRoute','namespace':'a'}],"
                            "'to':[{'group':'','kind':'Service'},{'group':'','kind':'Secret','name':'s'}]}}");
    INVALID("ReferenceGrant", "{'spec':{}}", "spec.from", "spec.to");
    INVALID("ReferenceGrant", "{'spec':{'from':[{'kind':'HTTPRoute'}],'to':[{'group':'','name':''}]}}",
            "spec.from[0].group", "spec.from[0].namespace", "spec.to[0].kind", "spec.to[0].name");
    INVALID("ReferenceGrant", "{'spec':{'from':[{'group':'','kind':'HTTPRoute','namespace':'Bad_NS'}],'to':[{'group':'Bad','kind':'S'}]}}",
            "spec.from[0].namespace", "spec.to[0].group");
}

static void test_backendtlspolicy(void)
{
    VALID("BackendTLSPolicy", "{'spec':{'targetRefs':[{'group':'','kind':'Service','name':'svc','sectionName':'https'}],"
                              "'validation':{'caCertificateRefs':[{'group':'','kind':'ConfigMap','name':'ca'}],'hostname':'svc.example.com'}}}");
    VALID("BackendTLSPolicy", "{'spec':{'targetRefs':[{'group':'','kind':'Service','name':'svc'}],"
                              "'validation':{'wellKnownCACertificates':'System','hostname':'svc.example.com',"
                              "'subjectAltNames':[{'type':'Hostname','hostname':'a.example.com'},{'type':'URI','uri':'spiffe://x/y'}]}}}");
    INVALID("BackendTLSPolicy", "{'spec':{'targetRefs':[]}}", "spec.targetRefs", "spec.validation");
    INVALID("BackendTLSPolicy",
            "{'spec':{'targetRefs':[{'kind':'Service','name':'a'},{'group':'','kind':'Service','name':'a'}],"
            "'validation':{'hostname':'*.example.com','subjectAltNames':[{'type':'Hostname'}]}}}",
            "spec.targetRefs[0].group", "spec.targetRefs[1]", "spec.validation.caCertificateRefs",
            "spec.validation.hostname", "spec.validation.subjectAltNames[0].hostname");
    INVALID("BackendTLSPolicy",
            "{'spec':{'targetRefs':[{'group':'','kind':'Service','name':'a'}],'validation':{'hostname':'a.b',"
            "'wellKnownCACertificates':'Mozilla','caCertificateRefs':[{'group':'','kind':'ConfigMap','name':'ca'}]}}}",
            "spec.validation.wellKnownCACertificates");
}

/* What sluice cannot apply is refused rather than stored and ignored: targets
 * other than core Services, and options (it defines none). An implementation's
 * own wellKnownCACertificates name is the API's to accept (status reports it). */
static void test_backendtlspolicy_unsupported(void)
{
#define BTLS_VALIDATION "'validation':{'hostname':'svc.example.com','caCertificateRefs':[{'group':'','kind':'ConfigMap','name':'ca'}]}"
    INVALID("BackendTLSPolicy",
            "{'spec':{'targetRefs':[{'group':'gateway.sluice.dev','kind':'Backend','name':'b'},"
            "{'group':'','kind':'Pod','name':'p'}]," BTLS_VALIDATION "}}",
            "spec.targetRefs[0].group", "spec.targetRefs[1].kind");
    INVALID("BackendTLSPolicy",
            "{'spec':{'targetRefs':[{'group':'','kind':'Service','name':'svc'}],'options':{'example.com/min':'1.3'},"
            BTLS_VALIDATION "}}",
            "spec.options[example.com/min]");
    VALID("BackendTLSPolicy", "{'spec':{'targetRefs':[{'group':'','kind':'Service','name':'svc'}],"
                              "'validation':{'wellKnownCACertificates':'example.com/my-cas','hostname':'svc.example.com'}}}");
    INVALID("BackendTLSPolicy", "{'spec':{'targetRefs':[{'group':'','kind':'Service','name':'svc'}],"
                                "'validation':{'wellKnownCACertificates':'Mozilla','hostname':'svc.example.com'}}}",
            "spec.validation.wellKnownCACertificates");
#undef BTLS_VALIDATION
}

/* Gateway spec.tls: frontend client certificate validation and the backend
 * client certificate (Gateway API v1.6 GatewayTLSConfig). */
static void test_gateway_tls(void)
{
#define GW_TLS(tls) "{'spec':{'gatewayClassName':'sluice','listeners':[{'name':'a','port':80,'protocol':'HTTP'}],'tls':" tls "}}"
    VALID("Gateway", GW_TLS("{'backend':{'clientCertificateRef':{'name':'client','namespace':'other'}},"
                            "'frontend':{'default':{'validation':{'caCertificateRefs':[{'group':'','kind':'ConfigMap','name':'ca'}]}},"
                            "'perPort':[{'port':8443,'tls':{'validation':{'mode':'AllowInsecureFallback',"
                            "'caCertificateRefs':[{'group':'','kind':'ConfigMap','name':'ca2','namespace':'x'}]}}},"
                            "{'port':9443,'tls':{}}]}}"));
    INVALID("Gateway", GW_TLS("{'frontend':{'perPort':[{'port':0,'tls':{}},{'port':0,'tls':{}},{'port':1}]}}"),
            "spec.tls.frontend.default", "spec.tls.frontend.perPort[0].port", "spec.tls.frontend.perPort[2].tls");
    INVALID("Gateway", GW_TLS("{'frontend':{'default':{'validation':{'mode':'Sometimes'}},"
                              "'perPort':[{'port':443,'tls':{}},{'port':443,'tls':{'validation':{'caCertificateRefs':[{'name':'x'}]}}}]}}"),
            "spec.tls.frontend.default.validation.caCertificateRefs", "spec.tls.frontend.default.validation.mode",
            "spec.tls.frontend.perPort[1].port", "spec.tls.frontend.perPort[1].tls.validation.caCertificateRefs[0].group",
            "spec.tls.frontend.perPort[1].tls.validation.caCertificateRefs[0].kind");
    INVALID("Gateway", GW_TLS("{'backend':{'clientCertificateRef':{'group':'Bad_Group','namespace':'Bad_NS'}}}"),
            "spec.tls.backend.clientCertificateRef.name", "spec.tls.backend.clientCertificateRef.group",
            "spec.tls.backend.clientCertificateRef.namespace");
#undef GW_TLS
}

/* ---- HTTPRoute ---- */

static void test_httproute_valid(void)
{
    VALID("HTTPRoute",
          "{'spec':{'parentRefs':[{'name':'gw','sectionName':'http'},{'name':'gw','sectionName':'https'},"
          "{'name':'gw2','namespace':'infra','port':8080,'group':'gateway.networking.k8s.io','kind':'Gateway'}],"
          "'hostnames':['example.com','*.example.org'],"
          "'rules':[{'name':'main','matches':[{'path':{'type':'PathPrefix','value':'/api'},"
          "'headers':[{'name':'X-Version','value':'v1'},{'name':'x-re','type':'RegularExpression','value':'^a.*$'}],"
          "'queryParams':[{'name':'q','value':'1'},{'name':'Q','value':'2'}],'method':'GET'},"
          "{'path':{'type':'RegularExpression','value':'^/v[0-9]+/.*'}},{'path':{'type':'Exact','value':'/a%20b'}},{}],"
          "'filters':[{'type':'RequestHeaderModifier','requestHeaderModifier':{'set':[{'name':'A','value':'1'}],"
          "'add':[{'name':'B','value':'2'}],'remove':['C']}},"
          "{'type':'ResponseHeaderModifier','responseHeaderModifier':{'set':[{'name':'A','value':'1'}]}},"
          "{'type':'RequestMirror','requestMirror':{'backendRef':{'name':'mirror','port':80},'fraction':{'numerator':1,'denominator':4}}},"
          "{'type':'RequestMirror','requestMirror':{'backendRef':{'name':'mirror2','port':80},'percent':50}},"
          "{'type':'CORS','cors':{'allowOrigins':['https://www.foo.com','https://*.bar.com'],'allowMethods':['GET','OPTIONS'],"
          "'allowHeaders':['x-a'],'exposeHeaders':['x-b'],'allowCredentials':true,'maxAge':3600}},"
          "{'type':'ExtensionRef','extensionRef':{'group':'example.com','kind':'Filter','name':'f'}}],"
          "'backendRefs':[{'name':'svc','port':8080,'weight':10},{'name':'b','kind':'Backend','group':'gateway.sluice.dev'}],"
          "'timeouts':{'request':'10s','backendRequest':'2s'},'retry':{'attempts':3,'codes':[500,502],'backoff':'100ms'}},"
          "{'matches':[{'path':{'type':'PathPrefix','value':'/old'}}],"
          "'filters':[{'type':'URLRewrite','urlRewrite':{'hostname':'new.example.com','path':{'type':'ReplacePrefixMatch','replacePrefixMatch':'/new'}}}],"
          "'backendRefs':[{'name':'svc','port':8080}],'timeouts':{'request':'0s','backendRequest':'5s'}},"
          "{'filters':[{'type':'RequestRedirect','requestRedirect':{'scheme':'https','hostname':'x.example.com','port':443,"
          "'statusCode':301,'path':{'type':'ReplacePrefixMatch','replacePrefixMatch':'/'}}}]},"
          "{'matches':[{'path':{'type':'Exact','value':'/full'}}],"
          "'filters':[{'type':'RequestRedirect','requestRedirect':{'path':{'type':'ReplaceFullPath','replaceFullPath':'/x'}}}]}]}}");
}

#define RULE(json) "{'spec':{'parentRefs':[{'name':'gw'}],'rules':[" json "]}}"

static void test_httproute_paths(void)
{
    INVALID("HTTPRoute",
            RULE("{'matches':[{'path':{'type':'PathPrefix','value':'foo'}},{'path':{'type':'Exact','value':'/a//b'}},"
                 "{'path':{'value':'/a/./b'}},{'path':{'type':'Exact','value':'/a/../b'}},{'path':{'value':'/a%2fb'}},"
                 "{'path':{'value':'/a%2Fb'}},{'path':{'value':'/a#b'}},{'path':{'value':'/a/.'}},{'path':{'value':'/a/..'}},"
                 "{'path':{'type':'Prefix','value':'/'}},{'path':{'type':'RegularExpression','value':'(/x'}},"
                 "{'path':{'value':'/a b'}},{'path':{'value':5}}]}"),
            "spec.rules[0].matches[0].path.value", "spec.rules[0].matches[1].path.value",
            "spec.rules[0].matches[2].path.value", "spec.rules[0].matches[3].path.value",
            "spec.rules[0].matches[4].path.value", "spec.rules[0].matches[5].path.value",
            "spec.rules[0].matches[6].path.value", "spec.rules[0].matches[7].path.value",
            "spec.rules[0].matches[8].path.value", "spec.rules[0].matches[9].path.type",
            "spec.rules[0].matches[10].path.value", "spec.rules[0].matches[11].path.value",
            "spec.rules[0].matches[12].path.value");
    /* Each problem is reported, not just the first: 13 bad matches, 13 causes. */
    CHECK(expect(__LINE__, "HTTPRoute", RULE("{'matches':[{'path':{'value':'x//'}}]}"),
                 "spec.rules[0].matches[0].path.value", (const char *)NULL) == 2);
}

static void test_httproute_matches(void)
{
    INVALID("HTTPRoute",
            RULE("{'matches':[{'headers':[{'name':'X-A','value':'1'},{'name':'x-a','value':'2'},{'name':'bad name','value':'1'},"
                 "{'name':'ok','type':'Fuzzy','value':'1'},{'name':'re','type':'RegularExpression','value':'[a-'},{'name':'empty','value':''}],"
                 "'queryParams':[{'name':'q','value':'1'},{'name':'q','value':'2'},{'name':'r','type':'RegularExpression','value':'*'}],"
                 "'method':'FETCH'}]}"),
            "spec.rules[0].matches[0].headers[1].name", "spec.rules[0].matches[0].headers[2].name",
            "spec.rules[0].matches[0].headers[3].type", "spec.rules[0].matches[0].headers[4].value",
            "spec.rules[0].matches[0].headers[5].value", "spec.rules[0].matches[0].queryParams[1].name",
            "spec.rules[0].matches[0].queryParams[2].value", "spec.rules[0].matches[0].method");
}

static void test_httproute_filters(void)
{
    INVALID("HTTPRoute",
            RULE("{'filters':[{'type':'RequestHeaderModifier'},"
                 "{'type':'RequestHeaderModifier','requestHeaderModifier':{'set':[{'name':'A','value':'1'}],'add':[{'name':'a','value':'2'}],'remove':['A','x y']},"
                 " 'urlRewrite':{}},"
                 "{'type':'Teleport'},{'type':'RequestRedirect','requestRedirect':{'statusCode':304,'scheme':'ftp','port':0,'hostname':'*.x.com'}},"
                 "{'type':'URLRewrite','urlRewrite':{'path':{'type':'ReplaceFullPath','replacePrefixMatch':'/x'}}},"
                 "{'type':'RequestMirror','requestMirror':{'percent':10,'fraction':{'numerator':5,'denominator':2}}},"
                 "{'type':'ExtensionRef','extensionRef':{'name':'x'}}]}"),
            "spec.rules[0].filters[0].requestHeaderModifier", "spec.rules[0].filters[1].type",
            "spec.rules[0].filters[1].requestHeaderModifier.add[0].name",
            "spec.rules[0].filters[1].requestHeaderModifier.remove[0]",
            "spec.rules[0].filters[1].requestHeaderModifier.remove[1]", "spec.rules[0].filters[1].urlRewrite",
            "spec.rules[0].filters[2].type", "spec.rules[0].filters[3].requestRedirect.statusCode",
            "spec.rules[0].filters[3].requestRedirect.scheme", "spec.rules[0].filters[3].requestRedirect.port",
            "spec.rules[0].filters[3].requestRedirect.hostname",
            "spec.rules[0].filters[4].urlRewrite.path.replaceFullPath",
            "spec.rules[0].filters[4].urlRewrite.path.replacePrefixMatch",
            "spec.rules[0].filters[5].requestMirror.backendRef", "spec.rules[0].filters[5].requestMirror.fraction",
            "spec.rules[0].filters[5].requestMirror.fraction.numerator",
            "spec.rules[0].filters[6].extensionRef.group", "spec.rules[0].filters[6].extensionRef.kind",
            "spec.rules[0].filters");
    /* ReplacePrefixMatch needs exactly one PathPrefix match in the rule. */
    INVALID("HTTPRoute",
            RULE("{'matches':[{'path':{'type':'Exact','value':'/a'}}],'filters':[{'type':'URLRewrite','urlRewrite':"
                 "{'path':{'type':'ReplacePrefixMatch','replacePrefixMatch':'/b'}}}],'backendRefs':[{'name':'s','port':80,"
                 "'filters':[{'type':'RequestRedirect','requestRedirect':{'path':{'type':'ReplacePrefixMatch','replacePrefixMatch':'/'}}}]}]}"),
            "spec.rules[0].filters[0].urlRewrite.path.type",
            "spec.rules[0].backendRefs[0].filters[0].requestRedirect.path.type");
    INVALID("HTTPRoute", RULE("{'filters':[{'type':'RequestRedirect','requestRedirect':{}}],'backendRefs':[{'name':'s','port':80}]}"),
            "spec.rules[0].filters[0].requestRedirect");
    INVALID("HTTPRoute", RULE("{'filters':[{'type':'ResponseHeaderModifier','responseHeaderModifier':{'set':[{'name':'A','value':'a\\r\\nB: c'}]}}]}"),
            "spec.rules[0].filters[0].responseHeaderModifier.set[0].value");
}

static void test_httproute_backends_and_rules(void)
{
    INVALID("HTTPRoute",
            "{'spec':{'parentRefs':[{'name':'gw'},{'name':'gw'},{'name':'gw2','sectionName':'a'},{'name':'gw2'},"
            "{'port':0,'kind':'9','group':'X','namespace':'Bad','sectionName':'Bad'}],"
            "'hostnames':['10.0.0.1','Bad.example.com','a.*.com'],"
            "'rules':[{'name':'r','backendRefs':[{'name':'a'},{'port':80},{'name':'c','port':80,'weight':-1},"
            "{'name':'d','kind':'Backend','group':'gateway.sluice.dev'},{'name':'e','port':80,'weight':1000001}],"
            "'timeouts':{'request':'1s','backendRequest':'2s'},'retry':{'attempts':-1,'codes':[200,500,500],'backoff':'1x'}},"
            "{'name':'r','timeouts':{'request':'forever'}},{'name':'Bad_Name','sessionPersistence':{'type':'Magic','idleTimeout':'x'}}]}}",
            "spec.parentRefs[1]", "spec.parentRefs[3]", "spec.parentRefs[4].port", "spec.parentRefs[4].kind",
            "spec.parentRefs[4].group", "spec.parentRefs[4].namespace", "spec.parentRefs[4].sectionName",
            "spec.parentRefs[4].name", "spec.hostnames[0]", "spec.hostnames[1]", "spec.hostnames[2]",
            "spec.rules[0].backendRefs[0].port", "spec.rules[0].backendRefs[1].name",
            "spec.rules[0].backendRefs[2].weight", "spec.rules[0].backendRefs[4].weight",
            "spec.rules[0].timeouts.backendRequest", "spec.rules[0].retry.attempts", "spec.rules[0].retry.codes[0]",
            "spec.rules[0].retry.codes[2]", "spec.rules[0].retry.backoff", "spec.rules[1].name",
            "spec.rules[1].timeouts.request", "spec.rules[2].name", "spec.rules[2].sessionPersistence.type",
            "spec.rules[2].sessionPersistence.idleTimeout");
    /* Type errors are causes too. */
    INVALID("HTTPRoute", "{'spec':{'parentRefs':{},'hostnames':'a.com','rules':[{'matches':[{'path':'x'}],'backendRefs':[{'name':'a','port':'80'}]},7]}}",
            "spec.parentRefs", "spec.hostnames", "spec.rules[0].matches[0].path", "spec.rules[0].backendRefs[0].port",
            "spec.rules[1]");
    INVALID("HTTPRoute", "{'spec':{'hostnames':['a.com','b.com','c.com','d.com','e.com','f.com','g.com','h.com','i.com',"
                         "'j.com','k.com','l.com','m.com','n.com','o.com','p.com','q.com'],'rules':[]}}",
            "spec.hostnames", "spec.rules");
    INVALID("HTTPRoute", "{}", "spec");
}

/* ---- GRPCRoute ---- */

static void test_grpcroute(void)
{
    VALID("GRPCRoute",
          "{'spec':{'parentRefs':[{'name':'gw'}],'hostnames':['grpc.example.com'],'rules':[{'name':'echo',"
          "'matches':[{'method':{'service':'grpc.health.v1.Health','method':'Check'}},{'method':{'service':'foo.Bar'}},"
          "{'method':{'type':'RegularExpression','service':'foo\\\\..*','method':'Get.*'}},"
          "{'headers':[{'name':'x-tenant','value':'a'}]}],"
          "'filters':[{'type':'RequestHeaderModifier','requestHeaderModifier':{'add':[{'name':'x','value':'y'}]}},"
          "{'type':'RequestMirror','requestMirror':{'backendRef':{'name':'m','port':9000}}}],"
          "'backendRefs':[{'name':'svc','port':9000,'weight':1}]}]}}");
    INVALID("GRPCRoute",
            RULE("{'matches':[{'method':{}},{'method':{'service':'bad/service','method':'bad.method'}},"
                 "{'method':{'type':'Prefix','service':'a'}},{'method':{'type':'RegularExpression','method':'(x'}},"
                 "{'headers':[{'name':'a','value':'1'},{'name':'A','value':'2'}]}],"
                 "'filters':[{'type':'URLRewrite','urlRewrite':{}},{'type':'ResponseHeaderModifier','responseHeaderModifier':{}},"
                 "{'type':'ResponseHeaderModifier','responseHeaderModifier':{}},{'type':'RequestMirror'}],"
                 "'backendRefs':[{'name':'svc'}]}"),
            "spec.rules[0].matches[0].method", "spec.rules[0].matches[1].method.service",
            "spec.rules[0].matches[1].method.method", "spec.rules[0].matches[2].method.type",
            "spec.rules[0].matches[3].method.method", "spec.rules[0].matches[4].headers[1].name",
            "spec.rules[0].filters[0].type", "spec.rules[0].filters[2].type",
            "spec.rules[0].filters[3].requestMirror", "spec.rules[0].backendRefs[0].port");
}

/* ---- core kinds ---- */

static void test_service(void)
{
    VALID("Service", "{'metadata':{'name':'web'},'spec':{'selector':{'app':'web'},'ports':[{'name':'http','port':80,"
                     "'targetPort':8080,'protocol':'TCP','appProtocol':'kubernetes.io/h2c'},{'name':'named','port':81,'targetPort':'http-alt'}]}}");
    VALID("Service", "{'metadata':{'name':'ext'},'spec':{'type':'ExternalName','externalName':'db.example.com'}}");
    VALID("Service", "{'metadata':{'name':'headless'},'spec':{'clusterIP':'None'}}");
    INVALID("Service",
            "{'metadata':{'name':'1web'},'spec':{'type':'Magic','ports':[{'port':0,'protocol':'ICMP','targetPort':'8080'},"
            "{'name':'a','port':80,'targetPort':70000},{'name':'a','port':80},{'name':'Bad','port':'x','targetPort':true}]}}",
            "metadata.name", "spec.type", "spec.ports[0].name", "spec.ports[0].port", "spec.ports[0].protocol",
            "spec.ports[0].targetPort", "spec.ports[1].targetPort", "spec.ports[2].name", "spec.ports[2]",
            "spec.ports[3].name", "spec.ports[3].port", "spec.ports[3].targetPort");
    INVALID("Service", "{'metadata':{'name':'ext'},'spec':{'type':'ExternalName'}}", "spec.externalName");
    INVALID("Service", "{'metadata':{'name':'svc'},'spec':{'clusterIP':'1.2.3'}}", "spec.ports", "spec.clusterIP");
}

static void test_secret_configmap(void)
{
    VALID("Secret", "{'type':'kubernetes.io/tls','data':{'tls.crt':'Y2VydA==','tls.key':'a2V5'}}");
    VALID("Secret", "{'type':'kubernetes.io/tls','data':{'tls.crt':'Y2VydA=='},'stringData':{'tls.key':'plain'}}");
    VALID("Secret", "{'data':{'a':''}}");
    INVALID("Secret", "{'type':'kubernetes.io/tls','data':{'x':'not base64!','bad/key':'YQ==','n':1}}",
            "data[tls.crt]", "data[tls.key]", "data[x]", "data[bad/key]", "data[n]");
    INVALID("Secret", "{'type':5,'stringData':{'a':1}}", "type", "stringData[a]");
    VALID("ConfigMap", "{'data':{'config.yaml':'a: 1'},'binaryData':{'blob':'AAE='}}");
    INVALID("ConfigMap", "{'data':{'a':1,'..x':'y','dup':'1'},'binaryData':{'b':'%%%','dup':'AA=='}}",
            "data[a]", "data[..x]", "binaryData[b]", "data[dup]");
}

static void test_endpointslice(void)
{
    VALID("EndpointSlice", "{'addressType':'IPv4','endpoints':[{'addresses':['10.0.0.1'],'conditions':{'ready':true,'serving':true,"
                           "'terminating':false},'hostname':'pod-1','nodeName':'node.a'}],'ports':[{'name':'http','port':8080,'protocol':'TCP'}]}");
    VALID("EndpointSlice", "{'addressType':'IPv6','ports':[{'name':'first-port','port':3000,'protocol':'TCP'}]}");
    VALID("EndpointSlice", "{'addressType':'FQDN','endpoints':[{'addresses':['backend.example.com']}]}");
    INVALID("EndpointSlice",
            "{'endpoints':[{'addresses':[]},{'conditions':{'ready':'yes'}}],'ports':[{'port':70000,'protocol':'HTTP','name':'Bad'},"
            "{'name':'x'},{'name':'x'}]}",
            "addressType", "endpoints[0].addresses", "endpoints[1].addresses", "endpoints[1].conditions.ready",
            "ports[0].port", "ports[0].protocol", "ports[0].name", "ports[2].name");
    INVALID("EndpointSlice", "{'addressType':'IPv4','endpoints':[{'addresses':['::1','10.0.0.1','host']}]}",
            "endpoints[0].addresses[0]", "endpoints[0].addresses[2]");
    INVALID("EndpointSlice", "{'addressType':'IPv5'}", "addressType");
}

static void test_namespace(void)
{
    VALID("Namespace", "{'metadata':{'name':'a'}}");
    VALID("Namespace", "{'metadata':{'name':'a'},'spec':{'finalizers':['kubernetes']}}");
    INVALID("Namespace", "{'spec':{'finalizers':[1]}}", "spec.finalizers[0]");
}

/* ---- our kinds ---- */

static void test_backend(void)
{
    VALID("Backend", "{'spec':{'type':'Static','static':{'hosts':[{'host':'10.0.0.1','port':8080},{'host':'api.internal','port':443},"
                     "{'host':'::1','port':80}],'protocol':'HTTPS','tls':{'sni':'api.internal','caCertificateRefs':[{'name':'ca','kind':'ConfigMap'}]}}}}");
    VALID("Backend", "{'spec':{'type':'AI','ai':{'provider':'OpenAI','model':'gpt-4o','authSecretRef':{'name':'openai-key'}}}}");
    VALID("Backend", "{'spec':{'type':'AI','ai':{'provider':'OpenAICompatible','host':'llm.local','port':8000,'path':'/v1'}}}");
    VALID("Backend", "{'spec':{'type':'MCP','mcp':{'targets':[{'name':'files','host':'mcp.local','port':3000,'path':'/mcp'},"
                     "{'name':'search','host':'10.0.0.2','port':3001,'protocol':'SSE'}]}}}");
    VALID("Backend", "{'spec':{'type':'A2A','a2a':{'host':'agent.local','port':9000,'path':'/'}}}");
    INVALID("Backend", "{'spec':{}}", "spec.type");
    INVALID("Backend", "{'spec':{'type':'Static','ai':{'provider':'OpenAI'}}}", "spec.static", "spec.ai");
    INVALID("Backend", "{'spec':{'type':'Lambda'}}", "spec.type");
    INVALID("Backend",
            "{'spec':{'type':'Static','static':{'hosts':[{'host':'*.x.com','port':0},{'port':80},{'host':'a.b','port':'80'}],"
            "'protocol':'HTTP','tls':{'sni':'*.x','caCertificateRefs':[{'kind':'Pod'}]}}}}",
            "spec.static.hosts[0].host", "spec.static.hosts[0].port", "spec.static.hosts[1].host",
            "spec.static.hosts[2].port", "spec.static.tls", "spec.static.tls.sni",
            "spec.static.tls.caCertificateRefs[0].name", "spec.static.tls.caCertificateRefs[0].kind");
    INVALID("Backend", "{'spec':{'type':'Static','static':{'hosts':[]}}}", "spec.static.hosts");
    INVALID("Backend", "{'spec':{'type':'AI','ai':{'provider':'Skynet','path':'v1','port':99999,'authSecretRef':{}}}}",
            "spec.ai.provider", "spec.ai.path", "spec.ai.port", "spec.ai.authSecretRef.name");
    INVALID("Backend", "{'spec':{'type':'AI','ai':{'provider':'AzureOpenAI'}}}", "spec.ai.host");
    INVALID("Backend", "{'spec':{'type':'MCP','mcp':{'targets':[{'name':'a','host':'h','port':1,'protocol':'WebSocket'},"
                       "{'name':'a','port':2},{'name':'Bad_Name','host':'h','port':3}]}}}",
            "spec.mcp.targets[0].protocol", "spec.mcp.targets[1].name", "spec.mcp.targets[1].host", "spec.mcp.targets[2].name");
    INVALID("Backend", "{'spec':{'type':'A2A','a2a':{}}}", "spec.a2a.host", "spec.a2a.port");
}

static void test_backendpolicy(void)
{
    VALID("BackendPolicy",
          "{'spec':{'targetRefs':[{'group':'','kind':'Service','name':'web','sectionName':'http'},"
          "{'group':'gateway.sluice.dev','kind':'Backend','name':'be'}],'connectTimeout':'2s',"
          "'loadBalancer':{'healthyPanicThreshold':30,'leastRequest':{'choiceCount':3,'slowStart':{'window':'30s',"
          "'aggression':'1.5','minWeightPercent':5}}},'healthCheck':{'interval':'5s','timeout':'1s','jitter':'1s',"
          "'unhealthyThreshold':3,'healthyThreshold':2,'http':{'path':'/healthz','host':'web.internal','method':'HEAD',"
          "'expectedStatuses':[200,204]}},'outlierDetection':{'consecutive5xx':5,'consecutiveConnectFailures':2,"
          "'interval':'10s','baseEjectionTime':'30s','maxEjectionTime':'5m','maxEjectionPercent':50},"
          "'circuitBreakers':{'maxConnections':100,'maxPendingRequests':10,'maxRequests':100,"
          "'retryBudget':{'budgetPercent':0,'minRetryConcurrency':1}}}}");
    VALID("BackendPolicy", "{'spec':{'targetRefs':[{'group':'','kind':'Service','name':'web'}],"
                           "'loadBalancer':{'maglev':{'hashPolicies':[{'cookie':{'name':'s'},'terminal':true},"
                           "{'sourceIP':{}}]}},'healthCheck':{'grpc':{'serviceName':'svc.v1.Echo'}}}}");
    INVALID("BackendPolicy",
            "{'spec':{'targetRefs':[{'group':'x.io','kind':'Service','name':'web'},{'kind':'Backend','name':'b',"
            "'sectionName':'s'},{'kind':'HTTPRoute','name':'r'}],'connectTimeout':'0s',"
            "'loadBalancer':{'random':{},'ringHash':{'minimumRingSize':10,'maximumRingSize':5,"
            "'hashPolicies':[{'header':{'name':'bad header'}},{}]},'roundRobin':{'slowStart':{'aggression':'0'}}},"
            "'healthCheck':{'interval':'1s','jitter':'2s','http':{'path':'x'},'tcp':{},'unhealthyThreshold':0},"
            "'outlierDetection':{'consecutive5xx':-1,'maxEjectionPercent':101},"
            "'circuitBreakers':{'maxRequests':0,'retryBudget':{'budgetPercent':200}}}}",
            "spec.targetRefs[0].group", "spec.targetRefs[1].group", "spec.targetRefs[1].sectionName",
            "spec.targetRefs[2].kind", "spec.connectTimeout", "spec.loadBalancer",
            "spec.loadBalancer.ringHash.minimumRingSize", "spec.loadBalancer.ringHash.hashPolicies[0].header.name",
            "spec.loadBalancer.ringHash.hashPolicies[1]", "spec.loadBalancer.roundRobin.slowStart.window",
            "spec.loadBalancer.roundRobin.slowStart.aggression", "spec.healthCheck", "spec.healthCheck.jitter",
            "spec.healthCheck.http.path", "spec.healthCheck.unhealthyThreshold",
            "spec.outlierDetection.consecutive5xx", "spec.outlierDetection.maxEjectionPercent",
            "spec.circuitBreakers.maxRequests", "spec.circuitBreakers.retryBudget.budgetPercent");
    INVALID("BackendPolicy", "{'spec':{'targetRefs':[{'group':'','kind':'Service','name':'web'}]}}", "spec");
    INVALID("BackendPolicy", "{'spec':{'targetRefs':[{'group':'','kind':'Service','name':'web'}],"
                             "'loadBalancer':{'maglev':{}}}}",
            "spec.loadBalancer.maglev.hashPolicies");
}

static void test_trafficpolicy(void)
{
    VALID("TrafficPolicy",
          "{'spec':{'targetRefs':[{'group':'gateway.networking.k8s.io','kind':'HTTPRoute','name':'r'},"
          "{'kind':'Gateway','name':'gw','sectionName':'http'}],"
          "'rateLimit':{'requests':100,'unit':'Minute','burst':10,'key':'Header','header':'X-Api-Key'},"
          "'timeouts':{'request':'30s','idle':'5m'},'retry':{'attempts':2,'codes':[502,503],'backoff':'250ms'},"
          "'ipAccess':{'allow':['10.0.0.0/8','2001:db8::/32'],'deny':['10.1.0.0/16']},"
          "'headers':{'request':{'set':[{'name':'X-A','value':'1'}]},'response':{'remove':['Server']}}}}");
    INVALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'HTTPRoute','name':'r'}]}}", "spec");
    INVALID("TrafficPolicy",
            "{'spec':{'targetRefs':[{'kind':'Service','name':'s'},{'group':'','kind':'Gateway'},{'kind':'HTTPRoute','name':'r'},"
            "{'kind':'HTTPRoute','name':'r'}],"
            "'rateLimit':{'requests':0,'unit':'Day','burst':-1,'key':'Header'},'timeouts':{'request':'30','idle':'1d'},"
            "'retry':{'attempts':11,'codes':[600]},'ipAccess':{'allow':['10.0.0.0/33','1.2.3.4'],'deny':['nope']},"
            "'headers':{'request':{'set':[{'name':'a','value':'1'}],'remove':['A']}}}}",
            "spec.targetRefs[0].kind", "spec.targetRefs[1].name", "spec.targetRefs[1].group", "spec.targetRefs[3]",
            "spec.rateLimit.requests", "spec.rateLimit.unit", "spec.rateLimit.burst", "spec.rateLimit.header",
            "spec.timeouts.request", "spec.timeouts.idle", "spec.retry.attempts", "spec.retry.codes[0]",
            "spec.ipAccess.allow[0]", "spec.ipAccess.allow[1]", "spec.ipAccess.deny[0]",
            "spec.headers.request.remove[0]");
    INVALID("TrafficPolicy", "{'spec':{'rateLimit':{'requests':1,'unit':'Second','header':'x'},'ipAccess':{}}}",
            "spec.targetRefs", "spec.rateLimit.header", "spec.ipAccess.allow");
    VALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'Gateway','name':'gw'}],'bodyLimit':{'maxRequestBytes':0}}}");
    INVALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'Gateway','name':'gw'}],'bodyLimit':{}}}",
            "spec.bodyLimit.maxRequestBytes");
    INVALID("TrafficPolicy",
            "{'spec':{'targetRefs':[{'kind':'Gateway','name':'gw'}],'bodyLimit':{'maxRequestBytes':-1}}}",
            "spec.bodyLimit.maxRequestBytes");
    VALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'HTTPRoute','name':'r'}],'apiKeyAuth':{'secretRefs':"
                           "[{'name':'keys'}],'header':'X-Key','bearer':true,'clientIdHeader':'X-Client'},"
                           "'rateLimit':{'requests':5,'unit':'Second','key':'ClientId'}}}");
    INVALID("TrafficPolicy",
            "{'spec':{'targetRefs':[{'kind':'HTTPRoute','name':'r'}],'apiKeyAuth':{'secretRefs':[{'name':'Bad_Name'},{}],"
            "'header':'bad header','bearer':'yes','clientIdHeader':'a:b'}}}",
            "spec.apiKeyAuth.secretRefs[0].name", "spec.apiKeyAuth.secretRefs[1].name", "spec.apiKeyAuth.header",
            "spec.apiKeyAuth.bearer", "spec.apiKeyAuth.clientIdHeader");
    INVALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'HTTPRoute','name':'r'}],'apiKeyAuth':{}}}",
            "spec.apiKeyAuth.secretRefs");
    VALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'HTTPRoute','name':'r'}],'basicAuth':{'secretRef':"
                           "{'name':'users'},'key':'.htpasswd','realm':'my api','clientIdHeader':'X-User'}}}");
    INVALID("TrafficPolicy",
            "{'spec':{'targetRefs':[{'kind':'HTTPRoute','name':'r'}],'basicAuth':{'secretRef':{},'key':'a/b',"
            "'realm':'say \\\"hi\\\"','clientIdHeader':'a b'}}}",
            "spec.basicAuth.secretRef.name", "spec.basicAuth.key", "spec.basicAuth.realm",
            "spec.basicAuth.clientIdHeader");
    INVALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'HTTPRoute','name':'r'}],'basicAuth':{}}}",
            "spec.basicAuth.secretRef");
    VALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'HTTPRoute','name':'r'}],'cors':{'allowOrigins':"
                           "['https://a.example'],'allowMethods':['GET'],'maxAge':60},'csrf':{'additionalOrigins':"
                           "['https://b.example','https://*.c.example']}}}");
    INVALID("TrafficPolicy",
            "{'spec':{'targetRefs':[{'kind':'HTTPRoute','name':'r'}],'cors':{'allowOrigins':['nope'],'maxAge':0},"
            "'csrf':{'additionalOrigins':['*','ftp//x']}}}",
            "spec.cors.allowOrigins[0]", "spec.cors.maxAge", "spec.csrf.additionalOrigins[0]",
            "spec.csrf.additionalOrigins[1]");
    VALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'Gateway','name':'gw'}],'realIp':{'trustedProxies':"
                           "['10.0.0.0/8','2001:db8::/32'],'header':'X-Real-IP'}}}");
    INVALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'Gateway','name':'gw'}],'realIp':{'trustedProxies':"
                             "['10.0.0.0'],'header':'X Real'}}}",
            "spec.realIp.trustedProxies[0]", "spec.realIp.header");
    INVALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'Gateway','name':'gw'}],'realIp':{}}}",
            "spec.realIp.trustedProxies");
    VALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'Gateway','name':'gw'}],'authorization':{'defaultAction':"
                           "'Allow','rules':[{'action':'Deny','clientIds':['bob'],'methods':['DELETE'],'paths':['/a*']},"
                           "{'action':'Allow'}]}}}");
    INVALID("TrafficPolicy",
            "{'spec':{'targetRefs':[{'kind':'Gateway','name':'gw'}],'authorization':{'defaultAction':'Maybe','rules':"
            "[{'clientIds':['a b'],'methods':[],'paths':['x']}]}}}",
            "spec.authorization.defaultAction", "spec.authorization.rules[0].action",
            "spec.authorization.rules[0].clientIds[0]", "spec.authorization.rules[0].methods",
            "spec.authorization.rules[0].paths[0]");
    VALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'Gateway','name':'gw','sectionName':'http'}],"
                           "'proxyProtocol':{'optional':true}}}");
    INVALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'HTTPRoute','name':'r'}],'proxyProtocol':{}}}",
            "spec.proxyProtocol");
    INVALID("TrafficPolicy", "{'spec':{'targetRefs':[{'kind':'Gateway','name':'gw'}],'proxyProtocol':{'optional':1}}}",
            "spec.proxyProtocol.optional");
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_helpers),
        UNIT_TEST(test_gatewayclass),
        UNIT_TEST(test_gateway_valid),
        UNIT_TEST(test_gateway_invalid),
        UNIT_TEST(test_gateway_listener_protocol),
        UNIT_TEST(test_referencegrant),
        UNIT_TEST(test_backendtlspolicy),
        UNIT_TEST(test_backendtlspolicy_unsupported),
        UNIT_TEST(test_gateway_tls),
        UNIT_TEST(test_httproute_valid),
        UNIT_TEST(test_httproute_paths),
        UNIT_TEST(test_httproute_matches),
        UNIT_TEST(test_httproute_filters),
        UNIT_TEST(test_httproute_backends_and_rules),
        UNIT_TEST(test_grpcroute),
        UNIT_TEST(test_service),
        UNIT_TEST(test_secret_configmap),
        UNIT_TEST(test_endpointslice),
        UNIT_TEST(test_namespace),
        UNIT_TEST(test_backend),
        UNIT_TEST(test_trafficpolicy),
        UNIT_TEST(test_backendpolicy),
    };
    return sl_unit_run("validate", tests, sizeof(tests) / sizeof(tests[0]));
}

/* From stored objects to TLS settings in the snapshot and to status:
 * BackendTLSPolicy (which policy a Service port gets, conflicts,
 * subjectAltNames, CA references, its status.ancestors), a Gateway's backend
 * client certificate (spec.tls.backend) and its client certificate validation
 * (spec.tls.frontend, beside a TrafficPolicy's tls.clientCertificate). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/snapshot.h"
#include "tests/unit/compile_fixture.h"
#include "tests/unit/unit.h"

/* Throwaway self-signed certificates (EC P-256), used as CAs and, with KEY_ONE,
 * as a certificate with its key. */
static const char CERT_ONE[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBljCCATugAwIBAgIUIiycnIV0DcJjF+I8R3A2LLBUb/YwCgYIKoZIzj0EAwIw\n"
    "HzEdMBsGA1UEAwwUc2x1aWNlIHVuaXQgdGVzdCBvbmUwIBcNMjYxMjA1MTE1OTEx\n"
    "WhgPMjEyNjExMTExMTU5MTFaMB8xHTAbBgNVBAMMFHNsdWljZSB1bml0IHRlc3Qg\n"
    "b25lMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEb+lTFO2Q9E1rOFHe8pECeYYh\n"
    "G0tsdu0/wujO8SOj+UMEI2qs+S5HVzBhdkjfKr6ed9DpvDyetZOFg35z6MCnS6NT\n"
    "MFEwHQYDVR0OBBYEFGcInXXCqPVJnWa3cnKYgmACTHh9MB8GA1UdIwQYMBaAFGcI\n"
    "nXXCqPVJnWa3cnKYgmACTHh9MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID\n"
    "SQAwRgIhAO9AnEUuWTilNQ7tAvHaVXYl5Hub9C4YQnOh+Slq+0NVAiEAsZMbxM0A\n"
    "jlBvbARDhAWnpnkVz/YblYzOuvoUe3G2gnU=\n"
    "-----END CERTIFICATE-----\n";
static const char KEY_ONE[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/OqXz5m5A4RAC/XO\n"
    "jAtZtgYO+2FnE6LN7sO4ixlKJRKhRANCAARv6VMU7ZD0TWs4Ud7ykQJ5hiEbS2x2\n"
    "7T/C6M7xI6P5QwQjaqz5LkdXMGF2SN8qvp530Om8PJ61k4WDfnPowKdL\n"
    "-----END PRIVATE KEY-----\n";
static const char CERT_TWO[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBlTCCATugAwIBAgIUPJUuroeN3RBj9HeEuEthjgFQ/WswCgYIKoZIzj0EAwIw\n"
    "HzEdMBsGA1UEAwwUc2x1aWNlIHVuaXQgdGVzdCB0d28wIBcNMjYxMjA1MTE1OTEx\n"
    "WhgPMjEyNjExMTExMTU5MTFaMB8xHTAbBgNVBAMMFHNsdWljZSB1bml0IHRlc3Qg\n"
    "dHdvMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFWSBP6uQWE/dFt7fY5tPejT3\n"
    "HVFHgvR4QFtpitFNXGzAaiF9pJc2UNEu3zftC/p+p4pGoMt68zVPFWObtiSU8KNT\n"
    "MFEwHQYDVR0OBBYEFAqydjqWnTFg/zGI8ombq0JhEfXbMB8GA1UdIwQYMBaAFAqy\n"
    "djqWnTFg/zGI8ombq0JhEfXbMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID\n"
    "SAAwRQIgIUr+yYxkKL3z5jRZVCnhVI/kbtx+elYtwUcIPKr7sy8CIQCUBoRNt3CD\n"
    "MkCCP44YKOH99TJmRfzreORHzQX4WGJESA==\n"
    "-----END CERTIFICATE-----\n";

/* ---- objects ---- */

static void configmap(sl_cfix *f, const char *ns, const char *name, const char *ca_pem)
{
    json_t *data = json_object();
    if (ca_pem)
        json_object_set_new(data, "ca.crt", json_string(ca_pem));
    sl_cfix_put_json(f, json_pack("{s:s, s:{s:s, s:s}, s:o}", "kind", "ConfigMap", "metadata", "name", name,
                                  "namespace", ns, "data", data));
}

static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        abort();
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

static void tls_secret(sl_cfix *f, const char *ns, const char *name, const char *cert, const char *key)
{
    char *c = b64(cert), *k = b64(key);
    sl_cfix_put_json(f, json_pack("{s:s, s:{s:s, s:s}, s:s, s:{s:s, s:s}}", "kind", "Secret", "metadata", "name",
                                  name, "namespace", ns, "type", "kubernetes.io/tls", "data", "tls.crt", c, "tls.key",
                                  k));
    free(c);
    free(k);
}

/* default/gw (HTTP on 80), Service default/svc (https-1 on 443, https-2 on
 * 8443) and a route sending /a to svc:443 and /b to svc:8443. */
static void put_base(sl_cfix *f)
{
    sl_cfix_put(f, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},'spec':{'gatewayClassName':"
                   "'sluice','listeners':[{'name':'http','port':80,'protocol':'HTTP'}]}}");
    sl_cfix_put(f, "{'kind':'Service','metadata':{'name':'svc','namespace':'default'},'spec':{'ports':["
                   "{'name':'https-1','port':443},{'name':'https-2','port':8443}]}}");
    sl_cfix_put(f, "{'kind':'HTTPRoute','metadata':{'name':'r','namespace':'default'},'spec':{'parentRefs':[{'name':'gw'}],"
                   "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/a'}}],'backendRefs':[{'name':'svc','port':443}]},"
                   "{'matches':[{'path':{'type':'PathPrefix','value':'/b'}}],'backendRefs':[{'name':'svc','port':8443}]}]}}");
}

/* A BackendTLSPolicy default/<name>, created at `created`, on targets (a JSON
 * list, single-quoted) with `validation` (a JSON object, single-quoted). */
static void policy(sl_cfix *f, const char *name, const char *created, const char *targets, const char *validation)
{
    sl_cfix_put(f, "{'kind':'BackendTLSPolicy','metadata':{'name':'%s','namespace':'default','creationTimestamp':'%s'},"
                   "'spec':{'targetRefs':%s,'validation':%s}}",
                name, created, targets, validation);
}

#define SVC "[{'group':'','kind':'Service','name':'svc'}]"
#define SVC_PORT(p) "[{'group':'','kind':'Service','name':'svc','sectionName':'" p "'}]"
#define CA_REF(n) "'caCertificateRefs':[{'group':'','kind':'ConfigMap','name':'" n "'}]"

/* ---- reading the snapshot and the status ---- */

static const sl_snap_backend *backend(sl_cfix *f, const char *name, uint32_t port)
{
    for (uint32_t i = 0; i < sl_snap_count(&f->snap, SL_SNAP_BACKENDS); i++) {
        const sl_snap_backend *b = SL_SNAP_GET(&f->snap, SL_SNAP_BACKENDS, sl_snap_backend, i);
        if (strcmp(sl_snap_cstr(&f->snap, b->name), name) == 0 && b->port == port)
            return b;
    }
    return NULL;
}

static const char *sni_of(sl_cfix *f, const char *name, uint32_t port)
{
    const sl_snap_backend *b = backend(f, name, port);
    if (!b)
        return "NO_BACKEND";
    return b->protocol == SL_BACKEND_HTTPS ? sl_snap_cstr(&f->snap, b->tls_sni) : "PLAIN";
}

/* "Status:Reason" of condition `type` of the first ancestor of policy default/name. */
static const char *policy_cond(sl_cfix *f, const char *name, const char *type)
{
    static char out[200];
    char key[200];
    snprintf(key, sizeof(key), "BackendTLSPolicy/default/%s", name);
    const json_t *a = json_array_get(json_object_get(json_object_get(f->status, key), "ancestors"), 0);
    if (!a)
        return "NO_ANCESTOR";
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(a, "conditions"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0) {
            snprintf(out, sizeof(out), "%s:%s", json_string_value(json_object_get(c, "status")),
                     json_string_value(json_object_get(c, "reason")));
            return out;
        }
    }
    return "NO_CONDITION";
}

static const sl_snap_gateway *gateway(sl_cfix *f, const char *name)
{
    for (uint32_t i = 0; i < sl_snap_count(&f->snap, SL_SNAP_GATEWAYS); i++) {
        const sl_snap_gateway *g = SL_SNAP_GET(&f->snap, SL_SNAP_GATEWAYS, sl_snap_gateway, i);
        if (strcmp(sl_snap_cstr(&f->snap, g->name), name) == 0)
            return g;
    }
    return NULL;
}

/* ---- BackendTLSPolicy: which policy applies ---- */

/* Same target: the older policy applies, then the first by name; a policy naming
 * the port beats one for the whole Service, whatever its age. */
static void test_policy_precedence(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    put_base(&f);
    configmap(&f, "default", "ca", CERT_ONE);
    policy(&f, "b-newer", "2021-01-01T00:00:00Z", SVC, "{'hostname':'newer.example'," CA_REF("ca") "}");
    policy(&f, "a-older", "2020-01-01T00:00:00Z", SVC, "{'hostname':'older.example'," CA_REF("ca") "}");
    policy(&f, "z-port", "2023-01-01T00:00:00Z", SVC_PORT("https-1"), "{'hostname':'port.example'," CA_REF("ca") "}");
    if (sl_cfix_compile(&f)) {
        CHECK_STR(sni_of(&f, "svc", 443), "port.example");
        CHECK_STR(sni_of(&f, "svc", 8443), "older.example");
        CHECK_STR(policy_cond(&f, "a-older", "Accepted"), "True:Accepted");
        CHECK_STR(policy_cond(&f, "b-newer", "Accepted"), "False:Conflicted");
        CHECK_STR(policy_cond(&f, "z-port", "Accepted"), "True:Accepted");
        CHECK_STR(policy_cond(&f, "z-port", "ResolvedRefs"), "True:ResolvedRefs");
    }
    /* Same age: the first by namespace/name wins. */
    policy(&f, "b-newer", "2019-01-01T00:00:00Z", SVC_PORT("https-2"), "{'hostname':'b.example'," CA_REF("ca") "}");
    policy(&f, "c-same-age", "2019-01-01T00:00:00Z", SVC_PORT("https-2"), "{'hostname':'c.example'," CA_REF("ca") "}");
    if (sl_cfix_compile(&f)) {
        CHECK_STR(sni_of(&f, "svc", 8443), "b.example");
        CHECK_STR(policy_cond(&f, "b-newer", "Accepted"), "True:Accepted");
        CHECK_STR(policy_cond(&f, "c-same-age", "Accepted"), "False:Conflicted");
        CHECK_STR(policy_cond(&f, "a-older", "Accepted"), "True:Accepted");
    }
    sl_cfix_close(&f);
}

/* The ancestors are the Gateways whose attached routes reach a target. */
static void test_policy_ancestors(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    put_base(&f);
    configmap(&f, "default", "ca", CERT_ONE);
    sl_cfix_put(&f, "{'kind':'Service','metadata':{'name':'unused','namespace':'default'},'spec':{'ports':[{'port':443}]}}");
    policy(&f, "p", "2020-01-01T00:00:00Z", SVC, "{'hostname':'svc.example'," CA_REF("ca") "}");
    policy(&f, "unused", "2020-01-01T00:00:00Z", "[{'group':'','kind':'Service','name':'unused'}]",
           "{'hostname':'svc.example'," CA_REF("ca") "}");
    if (sl_cfix_compile(&f)) {
        const json_t *st = json_object_get(f.status, "BackendTLSPolicy/default/p");
        const json_t *a = json_array_get(json_object_get(st, "ancestors"), 0);
        CHECK(json_array_size(json_object_get(st, "ancestors")) == 1);
        CHECK_STR(json_string_value(json_object_get(json_object_get(a, "ancestorRef"), "name")), "gw");
        CHECK_STR(json_string_value(json_object_get(json_object_get(a, "ancestorRef"), "namespace")), "default");
        CHECK_STR(json_string_value(json_object_get(json_object_get(a, "ancestorRef"), "kind")), "Gateway");
        CHECK_STR(json_string_value(json_object_get(a, "controllerName")), "sluice.dev/gateway-controller");
        CHECK(json_integer_value(json_object_get(st, "generation")) == 1);
        /* No route of ours reaches it: no entry (the sync removes ours). */
        CHECK(json_object_get(f.status, "BackendTLSPolicy/default/unused") == NULL);
    }
    sl_cfix_close(&f);
}

/* ---- BackendTLSPolicy: references and their status ---- */

static void test_policy_reasons(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    put_base(&f);
    configmap(&f, "default", "ca", CERT_ONE);
    configmap(&f, "default", "no-key", NULL);
    configmap(&f, "default", "garbage", "not a certificate");
    sl_cfix_put(&f, "{'kind':'Service','metadata':{'name':'s2','namespace':'default'},'spec':{'ports':[{'name':'p','port':1}]}}");
    sl_cfix_put(&f, "{'kind':'HTTPRoute','metadata':{'name':'r2','namespace':'default'},'spec':{'parentRefs':[{'name':'gw'}],"
                    "'rules':[{'backendRefs':[{'name':'s2','port':1},{'name':'gone','port':1}]}]}}");
    static const struct {
        const char *name, *target, *validation, *accepted, *refs;
    } cases[] = {
        {"missing", SVC_PORT("https-1"), "{'hostname':'h'," CA_REF("nope") "}", "False:NoValidCACertificate",
         "False:InvalidCACertificateRef"},
        {"no-key", SVC_PORT("https-2"), "{'hostname':'h'," CA_REF("no-key") "}", "False:NoValidCACertificate",
         "False:InvalidCACertificateRef"},
        {"garbage", "[{'group':'','kind':'Service','name':'s2'}]", "{'hostname':'h'," CA_REF("garbage") "}",
         "False:NoValidCACertificate", "False:InvalidCACertificateRef"},
        {"kind", SVC, "{'hostname':'h','caCertificateRefs':[{'group':'invalid.io','kind':'InvalidKind','name':'x'}]}",
         "False:NoValidCACertificate", "False:InvalidKind"},
        {"no-port", "[{'group':'','kind':'Service','name':'s2','sectionName':'other'}]", "{'hostname':'h'," CA_REF("ca") "}",
         "False:TargetNotFound", "True:ResolvedRefs"},
        {"no-service", "[{'group':'','kind':'Service','name':'gone'}]", "{'hostname':'h'," CA_REF("ca") "}",
         "False:TargetNotFound", "True:ResolvedRefs"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        policy(&f, cases[i].name, "2020-01-01T00:00:00Z", cases[i].target, cases[i].validation);
    if (sl_cfix_compile(&f)) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            CHECK_STR(policy_cond(&f, cases[i].name, "Accepted"), cases[i].accepted);
            CHECK_STR(policy_cond(&f, cases[i].name, "ResolvedRefs"), cases[i].refs);
        }
        /* Nothing usable to trust: verification with an empty bundle (502), never plain. */
        const sl_snap_backend *b = backend(&f, "svc", 443);
        CHECK(b && b->protocol == SL_BACKEND_HTTPS && b->tls_verify == SL_UPTLS_VERIFY_CA && b->tls_ca.len == 0);
    }
    /* One usable reference is enough to be Accepted; the other is still reported. */
    policy(&f, "missing", "2020-01-01T00:00:00Z", SVC_PORT("https-1"),
           "{'hostname':'h','caCertificateRefs':[{'group':'','kind':'ConfigMap','name':'nope'},"
           "{'group':'','kind':'ConfigMap','name':'ca'}]}");
    policy(&f, "kind", "2020-01-01T00:00:00Z", SVC, "{'hostname':'h','wellKnownCACertificates':'example.com/mine'}");
    policy(&f, "no-key", "2020-01-01T00:00:00Z", SVC_PORT("https-2"), "{'hostname':'h','wellKnownCACertificates':'System'}");
    if (sl_cfix_compile(&f)) {
        CHECK_STR(policy_cond(&f, "missing", "Accepted"), "True:Accepted");
        CHECK_STR(policy_cond(&f, "missing", "ResolvedRefs"), "False:InvalidCACertificateRef");
        CHECK_STR(policy_cond(&f, "kind", "Accepted"), "False:Invalid");
        CHECK_STR(policy_cond(&f, "no-key", "Accepted"), "True:Accepted");
        CHECK_STR(policy_cond(&f, "no-key", "ResolvedRefs"), "True:ResolvedRefs");
        const sl_snap_backend *b = backend(&f, "svc", 443);
        CHECK(b && b->tls_ca.len == strlen(CERT_ONE) + 1); /* the usable one, not the missing one */
        b = backend(&f, "svc", 8443);
        CHECK(b && b->tls_verify == SL_UPTLS_VERIFY_SYSTEM);
    }
    sl_cfix_close(&f);
}

/* subjectAltNames reach the snapshot, and they and everything else TLS depends
 * on separate the connection pools (tls_identity). */
static void test_policy_sans_and_identity(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    put_base(&f);
    configmap(&f, "default", "ca", CERT_ONE);
    policy(&f, "p1", "2020-01-01T00:00:00Z", SVC_PORT("https-1"),
           "{'hostname':'svc.example'," CA_REF("ca") ",'subjectAltNames':[{'type':'Hostname','hostname':'a.example'},"
           "{'type':'URI','uri':'spiffe://td/ns/x/sa/y'}]}");
    policy(&f, "p2", "2020-01-01T00:00:00Z", SVC_PORT("https-2"), "{'hostname':'svc.example'," CA_REF("ca") "}");
    if (sl_cfix_compile(&f)) {
        const sl_snap_backend *b1 = backend(&f, "svc", 443), *b2 = backend(&f, "svc", 8443);
        CHECK(b1 && b2);
        if (b1 && b2) {
            CHECK_STR(sl_snap_cstr(&f.snap, b1->tls_sans), "DNS:a.example\nURI:spiffe://td/ns/x/sa/y\n");
            CHECK_STR(sl_snap_cstr(&f.snap, b1->tls_sni), "svc.example");
            CHECK_STR(sl_snap_cstr(&f.snap, b2->tls_sans), "");
            CHECK(b1->tls_identity != 0 && b2->tls_identity != 0 && b1->tls_identity != b2->tls_identity);
        }
    }
    sl_cfix_close(&f);
}

/* gRPC goes to backends over h2c only: a Service port that must be reached over
 * TLS is not sent unprotected calls; the route says why. */
static void test_grpc_refuses_tls_backends(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    put_base(&f);
    configmap(&f, "default", "ca", CERT_ONE);
    policy(&f, "p", "2020-01-01T00:00:00Z", SVC_PORT("https-1"), "{'hostname':'svc.example'," CA_REF("ca") "}");
    sl_cfix_put(&f, "{'kind':'GRPCRoute','metadata':{'name':'g','namespace':'default'},'spec':{'parentRefs':[{'name':'gw'}],"
                    "'rules':[{'backendRefs':[{'name':'svc','port':443}]}]}}");
    if (sl_cfix_compile(&f)) {
        const json_t *p = json_array_get(json_object_get(json_object_get(f.status, "GRPCRoute/default/g"), "parents"), 0);
        const json_t *refs = json_array_get(json_object_get(p, "conditions"), 1);
        CHECK_STR(json_string_value(json_object_get(refs, "type")), "ResolvedRefs");
        CHECK_STR(json_string_value(json_object_get(refs, "reason")), "UnsupportedProtocol");
        /* The HTTPRoute's share of the same port is unaffected. */
        CHECK_STR(sni_of(&f, "svc", 443), "svc.example");
        bool h2c_to_tls_port = false;
        for (uint32_t i = 0; i < sl_snap_count(&f.snap, SL_SNAP_BACKENDS); i++) {
            const sl_snap_backend *b = SL_SNAP_GET(&f.snap, SL_SNAP_BACKENDS, sl_snap_backend, i);
            h2c_to_tls_port |= b->protocol == SL_BACKEND_H2C && b->port == 443;
        }
        CHECK(!h2c_to_tls_port);
    }
    sl_cfix_close(&f);
}

/* Mirrors are written in clear text, so a backend reached over TLS gets none
 * (rather than the copy going out unprotected); a plain one still does. */
static void test_no_clear_text_mirror_to_tls_backends(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    put_base(&f);
    configmap(&f, "default", "ca", CERT_ONE);
    policy(&f, "p", "2020-01-01T00:00:00Z", SVC_PORT("https-1"), "{'hostname':'svc.example'," CA_REF("ca") "}");
    sl_cfix_put(&f, "{'kind':'HTTPRoute','metadata':{'name':'m','namespace':'default'},'spec':{'parentRefs':[{'name':'gw'}],"
                    "'rules':[{'matches':[{'path':{'type':'PathPrefix','value':'/m'}}],'backendRefs':[{'name':'svc','port':8443}],"
                    "'filters':[{'type':'RequestMirror','requestMirror':{'backendRef':{'name':'svc','port':443}}},"
                    "{'type':'RequestMirror','requestMirror':{'backendRef':{'name':'svc','port':8443}}}]}]}}");
    if (sl_cfix_compile(&f)) {
        uint32_t mirrors = 0, to_plain = 0;
        for (uint32_t i = 0; i < sl_snap_count(&f.snap, SL_SNAP_FILTERS); i++) {
            const sl_snap_filter *flt = SL_SNAP_GET(&f.snap, SL_SNAP_FILTERS, sl_snap_filter, i);
            if (flt->type != SL_FILTER_MIRROR)
                continue;
            mirrors++;
            if (flt->backend == SL_SNAP_NONE)
                continue;
            const sl_snap_backend *b = SL_SNAP_GET(&f.snap, SL_SNAP_BACKENDS, sl_snap_backend, flt->backend);
            CHECK(b->protocol != SL_BACKEND_HTTPS);
            to_plain += b->port == 8443;
        }
        CHECK(mirrors == 2 && to_plain == 1);
    }
    sl_cfix_close(&f);
}

/* ---- Gateway spec.tls.backend: the client certificate for TLS backends ---- */

static void test_gateway_backend_client_cert(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    put_base(&f);
    configmap(&f, "default", "ca", CERT_ONE);
    policy(&f, "p", "2020-01-01T00:00:00Z", SVC, "{'hostname':'svc.example'," CA_REF("ca") "}");
    tls_secret(&f, "default", "client", CERT_ONE, KEY_ONE);
    tls_secret(&f, "other", "client", CERT_ONE, KEY_ONE);
    static const struct {
        const char *ref;
        uint8_t status;
    } cases[] = {
        {"{'name':'client'}", SL_REF_OK},
        {"{'group':'','kind':'Secret','name':'missing'}", SL_REF_INVALID},
        {"{'kind':'ConfigMap','name':'client'}", SL_REF_INVALID_KIND},
        {"{'group':'example.com','kind':'Secret','name':'client'}", SL_REF_INVALID_KIND},
        {"{'name':'client','namespace':'other'}", SL_REF_NOT_PERMITTED},
    };
    uint64_t identity_with = 0, identity_without = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_cfix_put(&f, "{'kind':'Gateway','metadata':{'name':'gw','namespace':'default'},'spec':{'gatewayClassName':"
                        "'sluice','listeners':[{'name':'http','port':80,'protocol':'HTTP'}],"
                        "'tls':{'backend':{'clientCertificateRef':%s}}}}",
                    cases[i].ref);
        if (!sl_cfix_compile(&f))
            continue;
        const sl_snap_gateway *g = gateway(&f, "gw");
        CHECK(g && g->backend_cert_status == cases[i].status);
        if (!g)
            continue;
        bool ok = cases[i].status == SL_REF_OK;
        CHECK(ok ? strcmp(sl_snap_cstr(&f.snap, g->backend_cert_pem), CERT_ONE) == 0 : g->backend_cert_pem.len == 0);
        CHECK(ok ? strcmp(sl_snap_cstr(&f.snap, g->backend_key_pem), KEY_ONE) == 0 : g->backend_key_pem.len == 0);
        CHECK(ok ? g->backend_cert_message.len == 0 : g->backend_cert_message.len > 0);
        const sl_snap_backend *b = backend(&f, "svc", 443);
        if (b && ok)
            identity_with = b->tls_identity;
        if (b && cases[i].status == SL_REF_INVALID)
            identity_without = b->tls_identity;
    }
    /* A connection made with the client certificate is not pooled with one made without. */
    CHECK(identity_with && identity_without && identity_with != identity_without);
    /* A ReferenceGrant lets the Gateway use the other namespace's Secret. */
    sl_cfix_put(&f, "{'kind':'ReferenceGrant','metadata':{'name':'g','namespace':'other'},'spec':{"
                    "'from':[{'group':'gateway.networking.k8s.io','kind':'Gateway','namespace':'default'}],"
                    "'to':[{'group':'','kind':'Secret'}]}}");
    if (sl_cfix_compile(&f)) {
        const sl_snap_gateway *g = gateway(&f, "gw");
        CHECK(g && g->backend_cert_status == SL_REF_OK && g->backend_cert_pem.len > 0);
    }
    sl_cfix_close(&f);
}

/* ---- Gateway spec.tls.frontend: client certificate validation ---- */

/* The certificate records of the HTTPS listener on `port` (the first one). */
static const sl_snap_cert *cert_on(sl_cfix *f, uint16_t port, uint32_t *count)
{
    for (uint32_t i = 0; i < sl_snap_count(&f->snap, SL_SNAP_PORTS); i++) {
        const sl_snap_port *p = SL_SNAP_GET(&f->snap, SL_SNAP_PORTS, sl_snap_port, i);
        if (p->port != port)
            continue;
        *count = p->certs.count;
        return p->certs.count ? SL_SNAP_GET(&f->snap, SL_SNAP_CERTS, sl_snap_cert, p->certs.first) : NULL;
    }
    *count = 0;
    return NULL;
}

static const sl_snap_listener *listener(sl_cfix *f, const char *name)
{
    for (uint32_t i = 0; i < sl_snap_count(&f->snap, SL_SNAP_LISTENERS); i++) {
        const sl_snap_listener *l = SL_SNAP_GET(&f->snap, SL_SNAP_LISTENERS, sl_snap_listener, i);
        if (strcmp(sl_snap_cstr(&f->snap, l->name), name) == 0)
            return l;
    }
    return NULL;
}

/* gw-tls: HTTPS listeners "a" on 443 and "b" on 8443 (Secret cert), with spec.tls
 * `tls` (a JSON object, single-quoted). */
static void put_tls_gateway(sl_cfix *f, const char *tls)
{
    sl_cfix_put(f,
                "{'kind':'Gateway','metadata':{'name':'gw-tls','namespace':'default'},'spec':{'gatewayClassName':'sluice',"
                "'listeners':[{'name':'a','port':443,'protocol':'HTTPS','tls':{'certificateRefs':[{'name':'cert'}]}},"
                "{'name':'b','port':8443,'protocol':'HTTPS','hostname':'b.example','tls':{'certificateRefs':[{'name':'cert'}]}}],"
                "'tls':%s}}",
                tls);
}

static void test_frontend_validation(void)
{
    sl_cfix f;
    if (!sl_cfix_open(&f))
        return;
    tls_secret(&f, "default", "cert", CERT_ONE, KEY_ONE);
    configmap(&f, "default", "ca1", CERT_ONE);
    configmap(&f, "other", "ca2", CERT_TWO);
    /* A TrafficPolicy's clientCertificate applies only where spec.tls.frontend does not. */
    sl_cfix_put(&f, "{'kind':'TrafficPolicy','metadata':{'name':'tp','namespace':'default'},'spec':{'targetRefs':"
                    "[{'group':'gateway.networking.k8s.io','kind':'Gateway','name':'gw-tls'}],'tls':{'clientCertificate':"
                    "{'mode':'Optional','caCertificateRefs':[{'kind':'ConfigMap','name':'ca1'}]}}}}");
    put_tls_gateway(&f, "{'frontend':{'default':{'validation':{'caCertificateRefs':[{'group':'','kind':'ConfigMap','name':'ca1'}]}},"
                        "'perPort':[{'port':8443,'tls':{'validation':{'mode':'AllowInsecureFallback','caCertificateRefs':"
                        "[{'group':'','kind':'ConfigMap','name':'ca2','namespace':'other'}]}}}]}}");
    uint32_t n;
    if (sl_cfix_compile(&f)) {
        const sl_snap_cert *a = cert_on(&f, 443, &n);
        CHECK(a && a->client_cert == SL_CLIENT_CERT_REQUIRE);
        CHECK(a && strncmp(sl_snap_cstr(&f.snap, a->client_ca), CERT_ONE, strlen(CERT_ONE)) == 0);
        /* ca2 is in another namespace and no ReferenceGrant allows it: listener b is not accepted. */
        CHECK(cert_on(&f, 8443, &n) == NULL && n == 0);
        const sl_snap_listener *lb = listener(&f, "b");
        CHECK(lb && lb->frontend_status == SL_REF_NOT_PERMITTED && lb->frontend_no_ca == 1 && lb->frontend_message.len);
        const sl_snap_listener *la = listener(&f, "a");
        CHECK(la && la->frontend_status == SL_REF_OK && la->frontend_no_ca == 0);
    }
    sl_cfix_put(&f, "{'kind':'ReferenceGrant','metadata':{'name':'g','namespace':'other'},'spec':{"
                    "'from':[{'group':'gateway.networking.k8s.io','kind':'Gateway','namespace':'default'}],"
                    "'to':[{'group':'','kind':'ConfigMap','name':'ca2'}]}}");
    if (sl_cfix_compile(&f)) {
        const sl_snap_cert *b = cert_on(&f, 8443, &n);
        CHECK(b && b->client_cert == SL_CLIENT_CERT_INSECURE_FALLBACK);
        CHECK(b && strncmp(sl_snap_cstr(&f.snap, b->client_ca), CERT_TWO, strlen(CERT_TWO)) == 0);
        CHECK(listener(&f, "b") && listener(&f, "b")->frontend_status == SL_REF_OK);
    }
    /* One unusable reference among usable ones: served, and reported. */
    put_tls_gateway(&f, "{'frontend':{'default':{'validation':{'caCertificateRefs':["
                        "{'group':'','kind':'Service','name':'x'},{'group':'','kind':'ConfigMap','name':'ca1'}]}}}}");
    if (sl_cfix_compile(&f)) {
        const sl_snap_cert *a = cert_on(&f, 443, &n);
        CHECK(a && a->client_cert == SL_CLIENT_CERT_REQUIRE);
        const sl_snap_listener *la = listener(&f, "a");
        CHECK(la && la->frontend_status == SL_REF_INVALID_KIND && la->frontend_no_ca == 0);
    }
    /* Without spec.tls.frontend the TrafficPolicy's clientCertificate applies. */
    put_tls_gateway(&f, "{}");
    if (sl_cfix_compile(&f)) {
        const sl_snap_cert *a = cert_on(&f, 443, &n);
        CHECK(a && a->client_cert == SL_CLIENT_CERT_OPTIONAL);
        CHECK(listener(&f, "a") && listener(&f, "a")->frontend_message.len == 0);
    }
    sl_cfix_close(&f);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_policy_precedence),
        UNIT_TEST(test_policy_ancestors),
        UNIT_TEST(test_policy_reasons),
        UNIT_TEST(test_policy_sans_and_identity),
        UNIT_TEST(test_grpc_refuses_tls_backends),
        UNIT_TEST(test_no_clear_text_mirror_to_tls_backends),
        UNIT_TEST(test_gateway_backend_client_cert),
        UNIT_TEST(test_frontend_validation),
    };
    return sl_unit_run("compiler_tls", tests, sizeof(tests) / sizeof(tests[0]));
}

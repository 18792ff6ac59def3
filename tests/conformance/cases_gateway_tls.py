"""Gateway TLS conformance tests ported from the upstream suite (v1.6.1): client
certificate validation on HTTPS listeners (spec.tls.frontend: default, perPort,
AllowInsecureFallback, invalid CA references) and the client certificate a
Gateway presents to TLS backends (spec.tls.backend.clientCertificateRef).

Registers its cases in cases.CASES. The helpers mirror conformance/utils:
GatewayListenerMustHaveConditions (listener_conditions) and
tls.MakeTLSRequestAndExpectFailureResponse (expect_tls_failure).
"""

import http.client

from cases import Collector, T, accepted, case, eventually, resolved_refs_true
from cases_btls import ACCEPTED, cond, policy_condition
from cases_gateway import gateway_condition, namespaces_ready
from harness import CONSISTENCY_TIMEOUT, INFRA, Failure, poll

V1, V2 = "infra-backend-v1", "infra-backend-v2"
DEFAULT_CLIENT = (INFRA, "tls-validity-checks-client-certificate")
PER_PORT_CLIENT = (INFRA, "tls-validity-checks-per-port-client-certificate")


def tls_addr(h, gw, port):
    return h.gateway_ip(gw), h.map_port(port)


def expect_tls_failure(h, addr, tc):
    """MakeTLSRequestAndExpectFailureResponse: one request, which must fail (no
    HTTP answer at all: the handshake or the connection fails); when it offers
    a client certificate, the gateway must have asked for one."""
    requested = []
    try:
        resp = h.tls_request(addr, tc["tls"], tc["method"], tc["path"], tc["host"], {}, client_cert=tc["client_cert"],
                             requested=requested)
    except (OSError, http.client.HTTPException):  # ssl.SSLError is an OSError
        resp = None
    if resp is not None:
        raise Failure("%s with SNI %s should fail, the gateway answered %d" % (tc["path"], tc["tls"], resp.status))
    if tc["client_cert"] and not any(requested):
        raise Failure("the gateway did not ask for the client certificate")


def listener_conditions(h, gw, listener, wants, ns=INFRA):
    """GatewayListenerMustHaveConditions: the listener has every condition of wants."""
    def check():
        g = h.get("Gateway", ns, gw)
        for l in (g or {}).get("status", {}).get("listeners", []):
            if l.get("name") != listener:
                continue
            for w in wants:
                c = next((c for c in l.get("conditions", []) if c.get("type") == w["type"]), None)
                if not c or c.get("status") != w["status"] or (w.get("reason") and c.get("reason") != w["reason"]):
                    return False, "condition %s: want %s/%s, have %s" % (
                        w["type"], w["status"], w.get("reason") or "*", c and (c.get("status"), c.get("reason")))
            return True, None
        return False, "listener %s not in the Gateway's status" % listener
    poll(check, CONSISTENCY_TIMEOUT, "Gateway %s/%s listener %s conditions" % (ns, gw, listener))


OK_LISTENER = [cond("ResolvedRefs", "True"), cond("Accepted", "True"), cond("Programmed", "True")]


def not_accepted_listener(refs_reason):
    return [cond("ResolvedRefs", "False", refs_reason), cond("Accepted", "False", "NoValidCACertificate"),
            cond("Programmed", "False")]


def _routes_accepted(h, gw, routes):
    accepted(h, gw, routes)
    for r in routes:
        resolved_refs_true(h, r, gw)


# ------------------------------------------------------------------ GatewayFrontendClientCertificateValidation
@case("gateway-with-clientcertificate-validation", "core (frontend client certificate validation)")
def _client_validation(h):
    gw = "client-validation-default"
    _routes_accepted(h, gw, ["client-certificate-validation-https-test",
                             "client-certificate-validation-https-test-no-hostname"])
    c = Collector()
    default, per_port = tls_addr(h, gw, 443), tls_addr(h, gw, 8443)
    c.step("default: the default CA's client certificate passes", eventually, h, default,
           T("/", V1, host="example.org", tls="example.org", client_cert=DEFAULT_CLIENT))
    c.step("default: the per-port CA's client certificate fails", expect_tls_failure, h, default,
           T("/", host="example.org", tls="example.org", client_cert=PER_PORT_CLIENT))
    c.step("per port: the per-port CA's client certificate passes", eventually, h, per_port,
           T("/", V2, host="second-example.org", tls="second-example.org", client_cert=PER_PORT_CLIENT))
    c.step("per port: the default CA's client certificate fails", expect_tls_failure, h, per_port,
           T("/", host="second-example.org", tls="second-example.org", client_cert=DEFAULT_CLIENT))
    c.done()


# ------------------------------------------------------------------ ...InsecureFallback
@case("gateway-with-clientcertificate-validation-insecure-fallback",
      "extended (frontend client certificate validation, insecure fallback)")
def _insecure_fallback(h):
    gw = "client-validation-insecure-fallback"
    _routes_accepted(h, gw, ["client-cert-validation-insecure-fallback-test",
                             "client-cert-validation-insecure-fallback-test-no-hostname"])
    c = Collector()
    c.step("InsecureFrontendValidationMode condition", gateway_condition, h, gw,
           cond("InsecureFrontendValidationMode", "True", "ConfigurationChanged"))
    for port, backend, host, matching, other in ((443, V1, "example.org", DEFAULT_CLIENT, PER_PORT_CLIENT),
                                                 (8443, V2, "second-example.org", PER_PORT_CLIENT, DEFAULT_CLIENT)):
        addr = tls_addr(h, gw, port)
        for what, cert in (("matching", matching), ("non-matching", other), ("no", None)):
            c.step("port %d: %s client certificate passes" % (port, what), eventually, h, addr,
                   T("/", backend, host=host, tls=host, client_cert=cert))
    c.done()


# ------------------------------------------------------------------ GatewayFrontendInvalidDefaultClientCertificateValidation
@case("gateway-invalid-default-frontend-client-certificate-validation",
      "core (frontend client certificate validation)")
def _invalid_default(h):
    gw = "invalid-default-client-validation-config"
    c = Collector()

    def http_listener():
        listener_conditions(h, gw, "http", OK_LISTENER)
        eventually(h, h.gw_addr(gw, 80), T("/", V1, host="example.org"))
    c.step("the HTTP listener is not affected", http_listener)

    def https_listener():
        listener_conditions(h, gw, "https", not_accepted_listener("InvalidCACertificateRef"))
        expect_tls_failure(h, tls_addr(h, gw, 443), T("/", host="example.org", tls="example.org"))
    c.step("the HTTPS listener is not accepted and serves nothing", https_listener)
    c.done()


# ------------------------------------------------------------------ GatewayInvalidFrontendClientCertificateValidation
@case("gateway-with-invalid-clientcertificate-validation", "core (frontend client certificate validation)")
def _invalid_validation(h):
    gw = "gateway-with-invalid-client-cert-validation"
    c = Collector()
    for listener, wants in (("https", OK_LISTENER),
                            ("https-unresolved", not_accepted_listener("InvalidCACertificateRef")),
                            ("https-invalid-kind", not_accepted_listener("InvalidCACertificateKind")),
                            ("https-grant-missing", not_accepted_listener("RefNotPermitted"))):
        c.step(listener, listener_conditions, h, gw, listener, wants)
    c.done()


# ------------------------------------------------------------------ GatewayInvalidTLSBackendConfiguration
@case("gateway-invalid-tls-backend-configuration", "core (backend client certificate)")
def _invalid_backend(h):
    c = Collector()
    for gw, reason in (("gateway-client-certificate-nonexistent-secret", "InvalidClientCertificateRef"),
                       ("gateway-client-certificate-unsupported-group", "InvalidClientCertificateRef"),
                       ("gateway-client-certificate-unsupported-kind", "InvalidClientCertificateRef"),
                       ("gateway-client-certificate-malformed-secret", "InvalidClientCertificateRef"),
                       ("gateway-client-certificate-missing-reference-grant", "RefNotPermitted")):
        c.step(gw + ": ResolvedRefs False " + reason, gateway_condition, h, gw, cond("ResolvedRefs", "False", reason))
        c.step(gw + ": still Accepted", gateway_condition, h, gw, cond("Accepted", "True", "Accepted"))
    c.done()


# ------------------------------------------------------------------ GatewayTLSBackendClientCertificate
@case("gateway-tls-backend-client-certificate", "core (backend client certificate)")
def _backend_client_cert(h):
    gw = route = "gateway-tls-backend-client-certificate"
    namespaces_ready(h, [INFRA])
    addr = accepted(h, gw, [route])
    resolved_refs_true(h, route, gw)
    policy_condition(h, "gateway-tls-backend-client-certificate-test", gw, ACCEPTED)
    gateway_condition(h, gw, cond("ResolvedRefs", "True", "ResolvedRefs"))
    eventually(h, addr, T("/", ns=INFRA, host="abc.example.com", sni="abc.example.com",
                          peer_cert=(INFRA, "tls-checks-client-certificate")))

"""TLS from sluice to backends: a Backend with protocol HTTPS (CA bundle from a
ConfigMap or a Secret, SNI, insecureSkipVerify) and a Service port covered by a
BackendTLSPolicy (hostname or subjectAltNames, its status.ancestors), with the
Gateway's client certificate (spec.tls.backend) when the backend asks for one.
The origin is the data plane's echo origin behind Python's ssl with a
certificate from a throwaway CA (openssl CLI); it records the SNI each
handshake carried and the client certificate it was shown."""

import base64
import shutil
import ssl
import tempfile
import time

import pytest
import requests

from conftest import path_for
from dataplane import (BACKENDS, ROUTES, SERVICES, SLICES, Origin, created, make_dataplane, pattern,  # noqa: F401
                       route, wait_until)
from test_tls import PKI, pki  # noqa: F401

CONFIGMAPS = path_for("configmaps", "default", group="")
SECRETS = path_for("secrets", "default", group="")
POLICIES = path_for("backendtlspolicies", "default", version="v1alpha3")
GATEWAYS = path_for("gateways", "default")
SLUICE_GROUP = "gateway.sluice.dev"


class TLSOrigin(Origin):
    """The echo origin, each connection wrapped in TLS with `leaf`; with
    client_ca (a CA file) every client must present a certificate it signed."""

    def __init__(self, name, leaf, client_ca=None):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(leaf.cert_path, leaf.key_path)
        if client_ca:
            self.ctx.load_verify_locations(client_ca)
            self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.snis = []
        self.handshakes = 0
        self.failed_handshakes = 0
        self.client_certs = []  # DER of the client certificate of each handshake (None: none)
        self.ctx.sni_callback = lambda sock, name, ctx: self.snis.append(name)
        super().__init__(name)

    def _serve(self, s):
        try:
            s.settimeout(10)
            t = self.ctx.wrap_socket(s, server_side=True)
            t.settimeout(None)
        except (ssl.SSLError, OSError):
            with self.lock:
                self.failed_handshakes += 1
            s.close()
            return
        with self.lock:
            self.handshakes += 1
            self.client_certs.append(t.getpeercert(binary_form=True))
        super()._serve(t)


def tls_backend(name, port, tls, host="127.0.0.1"):
    return {"apiVersion": SLUICE_GROUP + "/v1alpha1", "kind": "Backend", "metadata": {"name": name},
            "spec": {"type": "Static", "static": {"hosts": [{"host": host, "port": port}], "protocol": "HTTPS",
                                                  "tls": tls}}}


def ca_configmap(name, pem):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"ca.crt": pem.decode()}}


@pytest.fixture
def tls_dp(make_dataplane, pki):
    dp = make_dataplane()
    leaf = pki.leaf("backend.internal")
    origin = TLSOrigin("tls-origin", leaf)
    dp.extra_origins.append(origin)
    with open(pki.ca, "rb") as f:
        ca_pem = f.read()
    created(dp.sluiced.post(CONFIGMAPS, ca_configmap("backend-ca", ca_pem)))
    return dp, origin, ca_pem


def add_route(dp, name, backend_name, path):
    created(dp.sluiced.post(ROUTES, route(name, backend_name, path=path)))


def test_https_backend_verified_with_a_configmap_ca(tls_dp):
    dp, origin, _ = tls_dp
    created(dp.sluiced.post(BACKENDS, tls_backend("sec", origin.port, {
        "sni": "backend.internal", "caCertificateRefs": [{"kind": "ConfigMap", "name": "backend-ca"}]})))
    add_route(dp, "sec", "sec", "/sec")
    # (Until the route is programmed, the data plane's route for "/" answers from its origin.)
    r = wait_until(lambda: (lambda r: r.headers.get("X-Origin") == "tls-origin" and r)(dp.get("/sec/a?x=1")),
                   what="served over TLS")
    assert r.status_code == 200
    assert r.json()["target"] == "/sec/a?x=1"
    assert "backend.internal" in origin.snis
    # Connections are pooled: many requests, few handshakes.
    for i in range(30):
        assert dp.get("/sec/%d" % i).status_code == 200
    assert origin.handshakes <= 3
    # Bodies both ways through TLS.
    n = 5 * 1024 * 1024
    r = dp.get("/sec/big?size=%d" % n)
    assert r.status_code == 200 and r.content == pattern(n)
    body = bytes(range(256)) * 8192
    r = requests.post(dp.url + "/sec/up", data=body, timeout=30)
    assert r.status_code == 200 and r.json()["body_len"] == len(body)


def test_https_backend_with_a_secret_ca_and_host_as_name(tls_dp, pki):
    dp, origin, ca_pem = tls_dp
    created(dp.sluiced.post(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ca-secret"},
                                      "type": "Opaque", "data": {"ca.crt": base64.b64encode(ca_pem).decode()}}))
    # No tls.sni: the host's name is the name sent and checked ("localhost"
    # resolves to 127.0.0.1; the certificate is for backend.internal: refused).
    created(dp.sluiced.post(BACKENDS, tls_backend("bysecret", origin.port, {
        "sni": "backend.internal", "caCertificateRefs": [{"name": "ca-secret"}]})))
    add_route(dp, "bysecret", "bysecret", "/bysecret")
    wait_until(lambda: dp.get("/bysecret").headers.get("X-Origin") == "tls-origin", what="served with the Secret's CA")
    created(dp.sluiced.post(BACKENDS, tls_backend("byhost", origin.port, {
        "caCertificateRefs": [{"name": "ca-secret"}]}, host="localhost")))
    add_route(dp, "byhost", "byhost", "/byhost")
    # "localhost" may also resolve to ::1 (where nothing listens: 502 too), so
    # requests go on until one has reached the origin over 127.0.0.1.
    wait_until(lambda: dp.get("/byhost").status_code == 502 and "localhost" in origin.snis,
               what="name mismatch refused after a handshake naming localhost")


def test_unverifiable_backends_get_502_and_a_clear_log(tls_dp):
    dp, origin, _ = tls_dp
    other = PKI(tempfile.mkdtemp(prefix="sluice-pki-other-"))
    try:
        with open(other.ca, "rb") as f:
            created(dp.sluiced.post(CONFIGMAPS, ca_configmap("other-ca", f.read())))
    finally:
        shutil.rmtree(other.dir, ignore_errors=True)
    created(dp.sluiced.post(BACKENDS, tls_backend("wrongca", origin.port, {
        "sni": "backend.internal", "caCertificateRefs": [{"kind": "ConfigMap", "name": "other-ca"}]})))
    created(dp.sluiced.post(BACKENDS, tls_backend("wrongname", origin.port, {
        "sni": "someone-else.internal", "caCertificateRefs": [{"kind": "ConfigMap", "name": "backend-ca"}]})))
    created(dp.sluiced.post(BACKENDS, tls_backend("insecure", origin.port, {
        "sni": "backend.internal", "insecureSkipVerify": True})))
    created(dp.sluiced.post(BACKENDS, tls_backend("noca", origin.port, {
        "sni": "backend.internal", "caCertificateRefs": [{"kind": "ConfigMap", "name": "missing"}]})))
    for name in ("wrongca", "wrongname", "insecure", "noca"):
        add_route(dp, name, name, "/" + name)
    wait_until(lambda: dp.get("/insecure").headers.get("X-Origin") == "tls-origin", what="insecureSkipVerify served")
    for path in ("/wrongca", "/wrongname", "/noca"):  # (502 only once each route is programmed)
        wait_until(lambda: dp.get(path).status_code == 502, what="502 for " + path)
    log = dp.sluiced.log()
    assert "certificate verify failed" in log
    assert "not found" in log  # the missing CA ConfigMap is named in the compiler's warning


def test_backend_tls_policy_on_a_service(tls_dp):
    dp, origin, _ = tls_dp
    s = dp.sluiced
    created(s.post(SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "secure-svc"},
                              "spec": {"ports": [{"name": "https", "port": 443}]}}))
    created(s.post(SLICES, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                            "metadata": {"name": "secure-svc-1", "labels": {"kubernetes.io/service-name": "secure-svc"}},
                            "addressType": "IPv4", "endpoints": [{"addresses": ["127.0.0.1"]}],
                            "ports": [{"name": "https", "port": origin.port}]}))
    created(s.post(ROUTES, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                            "metadata": {"name": "svc-tls"},
                            "spec": {"parentRefs": [{"name": "gw"}], "rules": [{
                                "matches": [{"path": {"type": "PathPrefix", "value": "/svc-tls"}}],
                                "backendRefs": [{"name": "secure-svc", "port": 443}]}]}}))
    # Without a policy sluice speaks plain HTTP to the TLS port: the origin
    # refuses the handshake and the request fails.
    wait_until(lambda: dp.get("/svc-tls").status_code == 502, what="plain HTTP to a TLS port fails")
    created(s.post(POLICIES, {"apiVersion": "gateway.networking.k8s.io/v1alpha3", "kind": "BackendTLSPolicy",
                              "metadata": {"name": "secure-svc-tls"},
                              "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "secure-svc"}],
                                       "validation": {"hostname": "backend.internal",
                                                      "caCertificateRefs": [{"group": "", "kind": "ConfigMap",
                                                                             "name": "backend-ca"}]}}}))
    r = wait_until(lambda: (lambda r: r.status_code == 200 and r)(dp.get("/svc-tls/x")), what="policy applied")
    assert r.headers["X-Origin"] == "tls-origin"
    assert origin.snis[-1] == "backend.internal"
    snap = s.get("/debug/snapshot").text
    assert '"HTTPS"' in snap and "backend.internal" in snap


def secure_service(s, name, port, path):
    """Service `name` (port "https" 443) whose endpoint is 127.0.0.1:port, and an
    HTTPRoute of the same name sending `path` to it through Gateway gw."""
    created(s.post(SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                              "spec": {"ports": [{"name": "https", "port": 443}]}}))
    created(s.post(SLICES, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                            "metadata": {"name": name + "-1", "labels": {"kubernetes.io/service-name": name}},
                            "addressType": "IPv4", "endpoints": [{"addresses": ["127.0.0.1"]}],
                            "ports": [{"name": "https", "port": port}]}))
    created(s.post(ROUTES, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                            "metadata": {"name": name},
                            "spec": {"parentRefs": [{"name": "gw"}], "rules": [{
                                "matches": [{"path": {"type": "PathPrefix", "value": path}}],
                                "backendRefs": [{"name": name, "port": 443}]}]}}))


def btls_policy(name, service, validation):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy", "metadata": {"name": name},
            "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": service}], "validation": validation}}


CA_REFS = [{"group": "", "kind": "ConfigMap", "name": "backend-ca"}]
V1_POLICIES = path_for("backendtlspolicies", "default")


def status_of(dp, name, want):
    """Waits until our status.ancestors entry of policy `name` for Gateway
    default/gw has the conditions of want ({type: (status, reason)}) at the
    policy's generation; returns the policy."""
    def check():
        p = dp.sluiced.get(V1_POLICIES + "/" + name).json()
        for a in (p.get("status") or {}).get("ancestors") or []:
            if a.get("controllerName") != "sluice.dev/gateway-controller":
                continue
            assert a["ancestorRef"] == {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                        "namespace": "default", "name": "gw"}, a
            conds = {c["type"]: c for c in a["conditions"]}
            if all(t in conds and (conds[t]["status"], conds[t]["reason"]) == v and
                   conds[t]["observedGeneration"] == p["metadata"]["generation"] for t, v in want.items()):
                return p
        return None
    return wait_until(check, what="BackendTLSPolicy %s status %s" % (name, want))


def test_backend_tls_policy_status(tls_dp):
    """status.ancestors: the Gateway whose route reaches the Service, with
    Accepted and ResolvedRefs at the policy's generation; a newer policy for the
    same target is Conflicted; our entry goes when no route reaches it."""
    dp, origin, _ = tls_dp
    s = dp.sluiced
    secure_service(s, "st-svc", origin.port, "/st")
    created(s.post(V1_POLICIES, btls_policy("st-1", "st-svc", {"hostname": "backend.internal",
                                                               "caCertificateRefs": CA_REFS})))
    status_of(dp, "st-1", {"Accepted": ("True", "Accepted"), "ResolvedRefs": ("True", "ResolvedRefs")})
    wait_until(lambda: dp.get("/st").status_code == 200, what="served through the policy")
    created(s.post(V1_POLICIES, btls_policy("st-2", "st-svc", {"hostname": "someone-else.internal",
                                                               "caCertificateRefs": CA_REFS})))
    status_of(dp, "st-2", {"Accepted": ("False", "Conflicted")})
    assert dp.get("/st").status_code == 200  # the older policy still applies
    created(s.patch(V1_POLICIES + "/st-1", {"spec": {"validation": {"caCertificateRefs": [
        {"group": "", "kind": "ConfigMap", "name": "missing"}]}}}))
    p = status_of(dp, "st-1", {"Accepted": ("False", "NoValidCACertificate"),
                               "ResolvedRefs": ("False", "InvalidCACertificateRef")})
    assert p["metadata"]["generation"] == 2
    wait_until(lambda: dp.get("/st").status_code == 502, what="nothing to trust: 502")
    assert s.delete(ROUTES + "/st-svc").status_code == 200
    wait_until(lambda: not s.get(V1_POLICIES + "/st-1").json()["status"]["ancestors"],
               what="our ancestor entry removed")


def test_backend_tls_policy_subject_alt_names(make_dataplane, pki):
    """With subjectAltNames the certificate must carry one of them (DNS or URI)
    and the hostname is the SNI only: a certificate valid for the hostname is
    refused when no SAN matches, and one that is not is accepted when one does."""
    dp = make_dataplane()
    s = dp.sluiced
    leaf = pki.leaf("backend.internal", sans=["backend.internal", "spiffe://cluster.local/ns/default/sa/backend"])
    origin = TLSOrigin("san-origin", leaf)
    dp.extra_origins.append(origin)
    with open(pki.ca, "rb") as f:
        created(s.post(CONFIGMAPS, ca_configmap("backend-ca", f.read())))
    secure_service(s, "san-svc", origin.port, "/san")
    created(s.post(V1_POLICIES, btls_policy("san", "san-svc", {"hostname": "backend.internal",
                                                               "caCertificateRefs": CA_REFS})))
    wait_until(lambda: dp.get("/san").status_code == 200, what="served by hostname")

    def sans(hostname, entries):
        # ?wait=live: the answer comes once every worker runs the change.
        r = s.patch(V1_POLICIES + "/san?wait=live", {"spec": {"validation": {"hostname": hostname,
                                                                             "subjectAltNames": entries}}})
        created(r)
        assert r.headers.get("Sluice-Live") == "true", r.headers
    sans("backend.internal", [{"type": "Hostname", "hostname": "other.internal"}])
    wait_until(lambda: dp.get("/san").status_code == 502, what="no SAN matches: refused")
    assert "hostname mismatch" in s.log()
    sans("backend.internal", [{"type": "URI", "uri": "spiffe://cluster.local/ns/default/sa/other"}])
    assert dp.get("/san").status_code == 502
    sans("nothing.internal", [{"type": "Hostname", "hostname": "other.internal"},
                              {"type": "URI", "uri": "spiffe://cluster.local/ns/default/sa/backend"}])
    wait_until(lambda: dp.get("/san").status_code == 200, what="the URI SAN matches")
    assert origin.snis[-1] == "nothing.internal"  # the hostname is still the SNI
    sans("nothing.internal", [{"type": "Hostname", "hostname": "backend.internal"}])
    wait_until(lambda: dp.get("/san/x").status_code == 200, what="the DNS SAN matches")
    assert "DNS:backend.internal" in s.get("/debug/snapshot").text


def test_gateway_presents_its_client_certificate(tls_dp, pki):
    """spec.tls.backend.clientCertificateRef: the Gateway's workers show that
    certificate to TLS backends; when it no longer resolves they show none (and
    no pooled connection made with it is reused), and the Gateway says why."""
    dp, _, _ = tls_dp
    s = dp.sluiced
    origin = TLSOrigin("mtls-origin", pki.leaf("backend.internal"), client_ca=pki.ca)
    dp.extra_origins.append(origin)
    secure_service(s, "mtls-svc", origin.port, "/mtls")
    created(s.post(V1_POLICIES, btls_policy("mtls", "mtls-svc", {"hostname": "backend.internal",
                                                                 "caCertificateRefs": CA_REFS})))
    wait_until(lambda: dp.get("/mtls").status_code == 502 and origin.failed_handshakes > 0,
               what="TLS without a client certificate refused by the origin")
    client = pki.leaf("gateway-client", eku="clientAuth")
    created(s.post(path_for("secrets", "default", group=""), {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gw-client"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": base64.b64encode(client.cert_pem).decode(),
                 "tls.key": base64.b64encode(client.key_pem).decode()}}))
    created(s.patch(GATEWAYS + "/gw", {"spec": {"tls": {"backend": {"clientCertificateRef": {"name": "gw-client"}}}}}))
    wait_until(lambda: dp.get("/mtls").status_code == 200, what="served with the client certificate")
    assert origin.client_certs[-1] == client.der

    def gateway_refs():
        conds = {c["type"]: c for c in s.get(GATEWAYS + "/gw").json()["status"]["conditions"]}
        return conds.get("ResolvedRefs", {}).get("reason")
    wait_until(lambda: gateway_refs() == "ResolvedRefs", what="Gateway ResolvedRefs True")
    created(s.patch(GATEWAYS + "/gw", {"spec": {"tls": {"backend": {"clientCertificateRef": {"name": "missing"}}}}}))
    wait_until(lambda: gateway_refs() == "InvalidClientCertificateRef", what="Gateway ResolvedRefs False")
    wait_until(lambda: dp.get("/mtls").status_code == 502, what="no client certificate any more")

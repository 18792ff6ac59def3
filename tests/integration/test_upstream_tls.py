"""TLS from sluice to backends: a Backend with protocol HTTPS (CA bundle from a
ConfigMap or a Secret, SNI, insecureSkipVerify) and a Service port covered by a
BackendTLSPolicy. The origin is the data plane's echo origin behind Python's
ssl with a certificate from a throwaway CA (openssl CLI); it records the SNI
each handshake carried."""

import base64
import shutil
import ssl
import tempfile

import pytest
import requests

from conftest import path_for
from dataplane import (BACKENDS, ROUTES, SERVICES, SLICES, Origin, created, make_dataplane, pattern,  # noqa: F401
                       route, wait_until)
from test_tls import PKI, pki  # noqa: F401

CONFIGMAPS = path_for("configmaps", "default", group="")
SECRETS = path_for("secrets", "default", group="")
POLICIES = path_for("backendtlspolicies", "default", version="v1alpha3")
SLUICE_GROUP = "gateway.sluice.dev"


class TLSOrigin(Origin):
    """The echo origin, each connection wrapped in TLS with `leaf`."""

    def __init__(self, name, leaf):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(leaf.cert_path, leaf.key_path)
        self.snis = []
        self.handshakes = 0
        self.ctx.sni_callback = lambda sock, name, ctx: self.snis.append(name)
        super().__init__(name)

    def _serve(self, s):
        try:
            s.settimeout(10)
            t = self.ctx.wrap_socket(s, server_side=True)
            t.settimeout(None)
        except (ssl.SSLError, OSError):
            s.close()
            return
        with self.lock:
            self.handshakes += 1
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
    wait_until(lambda: dp.get("/byhost").status_code == 502, what="name mismatch refused")
    assert "localhost" in origin.snis


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

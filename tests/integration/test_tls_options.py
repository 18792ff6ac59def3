"""Listener TLS options through a TrafficPolicy's `tls` section (targetRefs a
Gateway, optionally one listener by sectionName): minimum version, TLS 1.2
cipher suites, and client certificates (mTLS, Require or Optional) with the
verified identity passed to the backend in X-Forwarded-Client-Cert. Real
clients: openssl s_client, curl and Python's ssl."""

import hashlib
import ssl

import pytest

from conftest import GW, path_for
from dataplane import RawClient, connect, created, make_dataplane, wait_until  # noqa: F401
from test_tls import (curl, echo_headers, https_listener, pki, req, s_client, tls_plane,  # noqa: F401
                      wait_https)

POLICIES = path_for("trafficpolicies", "default", group="gateway.sluice.dev", version="v1alpha1")
CONFIGMAPS = path_for("configmaps", "default", group="")


def policy(name, tls, section=None, gw="gws"):
    ref = {"group": GW, "kind": "Gateway", "name": gw}
    if section:
        ref["sectionName"] = section
    return {"apiVersion": "gateway.sluice.dev/v1alpha1", "kind": "TrafficPolicy", "metadata": {"name": name},
            "spec": {"targetRefs": [ref], "tls": tls}}


@pytest.fixture
def plane(make_dataplane, pki):
    leaf = pki.leaf("a.example")
    tp = tls_plane(make_dataplane, pki, lambda p: [https_listener("https", p, "cert-a", hostname="a.example")],
                   {"cert-a": leaf})
    wait_https(pki, tp.port, "a.example")
    with open(pki.ca, "rb") as f:
        created(tp.sl.post(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "client-ca"},
                                        "data": {"ca.crt": f.read().decode()}}))
    return tp


def handshake(port, args):
    rc, out = s_client(port, ["-servername", "a.example"] + args)
    return rc == 0 and "Cipher is (NONE)" not in out and "New, " in out, out


def test_min_version_13(plane):
    assert handshake(plane.port, ["-tls1_2"])[0]
    created(plane.sl.post(POLICIES, policy("v13", {"minVersion": "1.3"}, section="https")))
    wait_until(lambda: not handshake(plane.port, ["-tls1_2"])[0], what="TLS 1.2 refused")
    ok, out = handshake(plane.port, ["-tls1_3"])
    assert ok and "TLSv1.3" in out, out


def test_cipher_suites(plane):
    created(plane.sl.post(POLICIES, policy("ciphers", {"ciphers": ["ECDHE-ECDSA-AES256-GCM-SHA384"]})))
    wait_until(lambda: not handshake(plane.port, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])[0],
               what="AES128 refused")
    ok, out = handshake(plane.port, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"])
    assert ok and "ECDHE-ECDSA-AES256-GCM-SHA384" in out, out


def test_client_certificate_required(plane, pki):
    client = pki.leaf("client-one", eku="clientAuth")
    created(plane.sl.post(POLICIES, policy("mtls", {"clientCertificate": {
        "caCertificateRefs": [{"kind": "ConfigMap", "name": "client-ca"}]}})))

    def refused_without_cert():
        rc, out, err = curl(plane.pki, plane.port, "a.example", "/m", args=["-o", "/dev/null", "-w", "%{http_code}"])
        return rc != 0
    wait_until(refused_without_cert, what="requests without a client certificate refused")
    rc, out, err = curl(plane.pki, plane.port, "a.example", "/with-cert",
                        args=["--cert", client.cert_path, "--key", client.key_path])
    assert rc == 0, err
    h = echo_headers_raw(out)
    xfcc = h["x-forwarded-client-cert"]
    assert xfcc.startswith("Hash=" + hashlib.sha256(client.der).hexdigest() + ";")
    assert 'Subject="CN=client-one"' in xfcc
    # HTTP/2 streams carry it too.
    rc, out, err = curl(plane.pki, plane.port, "a.example", "/with-cert-h2",
                        args=["--http2", "--cert", client.cert_path, "--key", client.key_path])
    assert rc == 0 and "x-forwarded-client-cert" in echo_headers_raw(out), err
    # A certificate from another CA is refused.
    import tempfile
    from test_tls import PKI
    other = PKI(tempfile.mkdtemp(prefix="sluice-pki-x-"))
    stranger = other.leaf("stranger", eku="clientAuth")
    rc, out, err = curl(plane.pki, plane.port, "a.example", "/stranger",
                        args=["--cert", stranger.cert_path, "--key", stranger.key_path])
    assert rc != 0


def test_client_certificate_optional_and_no_spoofing(plane, pki):
    client = pki.leaf("client-two", eku="clientAuth")
    created(plane.sl.post(POLICIES, policy("mtls-opt", {"clientCertificate": {
        "mode": "Optional", "caCertificateRefs": [{"kind": "ConfigMap", "name": "client-ca"}]}})))

    def asks_for_certs():
        rc, out = s_client(plane.port, ["-servername", "a.example"])
        return "Acceptable client certificate CA names" in out
    wait_until(asks_for_certs, what="the listener asks for client certificates")
    # Without a certificate: served, and a forged header is dropped.
    rc, out, err = curl(plane.pki, plane.port, "a.example", "/anon",
                        args=["-H", "X-Forwarded-Client-Cert: Hash=forged"])
    assert rc == 0, err
    assert "x-forwarded-client-cert" not in echo_headers_raw(out)
    rc, out, err = curl(plane.pki, plane.port, "a.example", "/named",
                        args=["--cert", client.cert_path, "--key", client.key_path])
    assert rc == 0 and 'Subject="CN=client-two"' in echo_headers_raw(out)["x-forwarded-client-cert"]


def test_tls_section_only_for_gateways(plane):
    bad = policy("bad", {"minVersion": "1.3"})
    bad["spec"]["targetRefs"] = [{"group": GW, "kind": "HTTPRoute", "name": "rs"}]
    r = plane.sl.post(POLICIES, bad)
    assert r.status_code == 422
    assert any(c["field"] == "spec.tls" for c in r.json()["details"]["causes"])
    r = plane.sl.post(POLICIES, policy("badv", {"minVersion": "1.1"}))
    assert r.status_code == 422
    assert any(c["field"] == "spec.tls.minVersion" for c in r.json()["details"]["causes"])


def echo_headers_raw(out):
    import json
    return {k.lower(): v for k, v in json.loads(out)["headers"]}


def test_python_client_with_certificate(plane, pki):
    client = pki.leaf("client-three", eku="clientAuth")
    created(plane.sl.post(POLICIES, policy("mtls-py", {"clientCertificate": {
        "caCertificateRefs": [{"kind": "ConfigMap", "name": "client-ca"}]}}, section="https")))
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.load_cert_chain(client.cert_path, client.key_path)

    def served():
        s = ctx.wrap_socket(connect(plane.port), server_hostname="a.example")
        try:
            c = RawClient(s)
            c.send(req("a.example", "/py"))
            r = c.read_response()
            # Until the policy is programmed the certificate is not asked for (no header).
            return r.status == 200 and "x-forwarded-client-cert" in echo_headers_raw(r.body) and r
        finally:
            s.close()
    r = wait_until(served, what="mTLS with Python's ssl")
    assert "client-three" in echo_headers_raw(r.body)["x-forwarded-client-cert"]

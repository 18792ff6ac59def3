"""TLS termination on HTTPS listeners, with real clients (curl, openssl s_client,
Python's ssl) and throwaway certificates made with the openssl CLI: verification
against the test CA, X-Forwarded-Proto, certificate choice by SNI, ALPN, protocol
versions, 421 for misdirected requests, certificate rotation without restarts,
unusable / missing / cross-namespace Secrets in listener status, large bodies,
and garbage on the TLS port."""

import base64
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from conftest import GW, path_for
from dataplane import (PATTERN_BLOCK, RawClient, children_of, connect, created, free_port,  # noqa: F401
                       make_dataplane, pid_alive, wait_until)

SECRETS = path_for("secrets", "default", group="")
GWPATH = path_for("gateways", "default")
ROUTES = path_for("httproutes", "default")
NAMESPACES = path_for("namespaces", group="")
SLUICE_GROUP = "gateway.sluice.dev"

pytestmark = pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("curl")),
                                reason="skipped, because the openssl and curl command-line tools are not installed")


# ---------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------

def _run(args, timeout=30, check=True, **kw):
    cp = subprocess.run(args, capture_output=True, timeout=timeout, **kw)
    if check and cp.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(args), cp.returncode, cp.stderr[-2000:]))
    return cp


class Leaf:
    def __init__(self, d, name):
        self.cert_path = os.path.join(d, name + ".crt")
        self.key_path = os.path.join(d, name + ".key")
        with open(self.cert_path, "rb") as f:
            self.cert_pem = f.read()
        with open(self.key_path, "rb") as f:
            self.key_pem = f.read()
        self.der = ssl.PEM_cert_to_DER_cert(self.cert_pem.decode())


class PKI:
    """A throwaway CA in a temp dir; leaf(name, cn, sans) issues an ECDSA P-256
    server certificate signed by it (a SAN with "://" is a URI, one starting with a
    digit an IP address, the others DNS names)."""

    def __init__(self, d):
        self.dir = d
        self.ca = os.path.join(d, "ca.crt")
        self.ca_key = os.path.join(d, "ca.key")
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-subj", "/CN=sluice test CA", "-days", "2", "-keyout", self.ca_key, "-out", self.ca,
              "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        self.n = 0

    def leaf(self, cn, sans=None, eku="serverAuth"):
        self.n += 1
        name = "leaf%d" % self.n
        key, csr, crt = (os.path.join(self.dir, name + ext) for ext in (".key", ".csr", ".crt"))
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=%s\n"
                    "keyUsage=digitalSignature\n" % (",".join(("URI:" if "://" in s else "IP:" if s[:1].isdigit()
                                                                   else "DNS:") + s for s in (sans or [cn])), eku))
        _run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-subj", "/CN=" + cn, "-keyout", key, "-out", csr])
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-set_serial",
              str(int.from_bytes(os.urandom(8), "big")), "-days", "2", "-extfile", ext, "-out", crt])
        return Leaf(self.dir, name)


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="sluice-pki-")
    yield PKI(d)
    shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------
# Objects
# ---------------------------------------------------------------------------

def secret(name, leaf=None, namespace="default", crt=None, key=None):
    crt = crt if crt is not None else leaf.cert_pem
    key = key if key is not None else leaf.key_pem
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(crt).decode(), "tls.key": base64.b64encode(key).decode()}}


def put_secret(sl, obj):
    ns = obj["metadata"]["namespace"]
    coll = path_for("secrets", ns, group="")
    r = sl.post(coll, obj)
    if r.status_code == 409:
        r = sl.put(coll + "/" + obj["metadata"]["name"], obj)
    return created(r)


def https_listener(name, port, secret_name, hostname=None, secret_ns=None):
    ref = {"kind": "Secret", "group": "", "name": secret_name}
    if secret_ns:
        ref["namespace"] = secret_ns
    l = {"name": name, "port": port, "protocol": "HTTPS", "tls": {"mode": "Terminate", "certificateRefs": [ref]}}
    if hostname:
        l["hostname"] = hostname
    return l


def gateway(name, listeners, workers=1):
    return {"apiVersion": GW + "/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": "default", "annotations": {"sluice.dev/workers": str(workers)}},
            "spec": {"gatewayClassName": "sluice", "listeners": listeners}}


def tls_route(name, parent, path="/", hostnames=None, filters=None):
    rule = {"matches": [{"path": {"type": "PathPrefix", "value": path}}]}
    if filters:
        rule["filters"] = filters  # (a redirect rule has no backends)
    else:
        rule["backendRefs"] = [{"group": SLUICE_GROUP, "kind": "Backend", "name": "be"}]
    spec = {"parentRefs": [{"name": parent}], "rules": [rule]}
    if hostnames:
        spec["hostnames"] = hostnames
    return {"apiVersion": GW + "/v1", "kind": "HTTPRoute", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


def listener_status(sl, gw, name):
    st = sl.get(GWPATH + "/" + gw).json().get("status", {})
    for l in st.get("listeners", []):
        if l["name"] == name:
            return {c["type"]: c for c in l.get("conditions", [])}
    return None


def wait_listener(sl, gw, name, pred, timeout=10, what="listener status"):
    return wait_until(lambda: (lambda c: c if c and pred(c) else None)(listener_status(sl, gw, name)),
                      timeout=timeout, what="%s of %s/%s" % (what, gw, name))


def is_programmed(c):
    return c.get("Programmed", {}).get("status") == "True" and c.get("ResolvedRefs", {}).get("status") == "True"


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------

def client_ctx(pki, alpn=None, check_hostname=True):
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.check_hostname = check_hostname
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_connect(pki, port, sni, alpn=None, check_hostname=True, timeout=5.0):
    raw = connect(port, timeout)
    try:
        return client_ctx(pki, alpn, check_hostname).wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise


def req(host, path="/", extra=b""):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n" + extra + b"\r\n"


def https_get(pki, port, sni, host=None, path="/", check_hostname=True):
    """One request on a fresh TLS connection; returns (Response, peer certificate DER)."""
    with tls_connect(pki, port, sni, check_hostname=check_hostname) as s:
        der = s.getpeercert(binary_form=True)
        c = RawClient(s)
        c.send(req(host or sni, path))
        return c.read_response(), der


def wait_https(pki, port, sni, host=None, path="/", status=200, der=None, timeout=10):
    def ok():
        r, got = https_get(pki, port, sni, host, path)
        return r.status == status and (der is None or got == der) and r
    return wait_until(ok, timeout=timeout, what="https://%s:%d%s answering %d" % (sni, port, path, status))


def curl(pki, port, host, path="/", args=(), timeout=60):
    """curl verifying against the test CA, host resolved to 127.0.0.1; returns
    (returncode, stdout bytes, stderr text)."""
    cmd = ["curl", "-sS", "--max-time", str(timeout - 5), "--cacert", pki.ca, "--resolve",
           "%s:%d:127.0.0.1" % (host, port)] + list(args) + ["https://%s:%d%s" % (host, port, path)]
    cp = subprocess.run(cmd, capture_output=True, timeout=timeout)
    return cp.returncode, cp.stdout, cp.stderr.decode(errors="replace")


def s_client(port, args=(), timeout=15):
    """openssl s_client handshake (stdin closed, so it quits right after); returns
    (returncode, combined output)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + list(args)
    cp = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return cp.returncode, (cp.stdout + cp.stderr).decode(errors="replace")


def subject_cn(out):
    for line in out.splitlines():
        if line.startswith("subject="):
            return line.split("CN = ", 1)[1].strip() if "CN = " in line else line
    return None


def echo_headers(resp):
    return {k.lower(): v for k, v in resp.json()["headers"]}


# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

class TLSPlane:
    def __init__(self, dp, pki):
        self.dp, self.pki, self.sl = dp, pki, dp.sluiced
        self.leaves = {}

    def workers(self):
        return self.dp.workers()


def tls_plane(make_dataplane, pki, listeners_fn, certs, workers=1, route_hostnames=None, gw_name="gws", args=()):
    """A running sluiced (with the HTTP data plane "gw" and Backend "be") plus a
    Gateway gw_name with the listeners listeners_fn(port) returns, Secrets
    name -> Leaf in certs, and HTTPRoute "rs" -> be on it."""
    dp = make_dataplane(args=args)
    tp = TLSPlane(dp, pki)
    for name, leaf in certs.items():
        put_secret(tp.sl, secret(name, leaf))
        tp.leaves[name] = leaf
    tp.port = free_port()
    created(tp.sl.post(ROUTES, tls_route("rs", gw_name, hostnames=route_hostnames)))
    created(tp.sl.post(GWPATH, gateway(gw_name, listeners_fn(tp.port), workers=workers)))
    return tp


@pytest.fixture
def single(make_dataplane, pki):
    """One HTTPS listener for a.example (certificate CN a.example)."""
    leaf = pki.leaf("a.example")
    tp = tls_plane(make_dataplane, pki, lambda p: [https_listener("https", p, "cert-a", hostname="a.example")],
                   {"cert-a": leaf}, workers=2)
    wait_https(pki, tp.port, "a.example")
    return tp


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

def test_https_request_verified_with_the_ca(single, pki):
    rc, out, err = curl(pki, single.port, "a.example", "/hello?x=1",
                        args=["-H", "X-Test: 1", "-w", "\n%{http_code} %{ssl_verify_result}"])
    assert rc == 0, err
    body, _, tail = out.rpartition(b"\n")
    assert tail == b"200 0", out
    echo = json.loads(body)
    assert echo["target"] == "/hello?x=1"
    h = {k.lower(): v for k, v in echo["headers"]}
    assert h["x-forwarded-proto"] == "https"
    assert "proto=https" in h["forwarded"]
    assert h["host"] == "a.example:%d" % single.port
    # Without the CA the certificate cannot be verified (curl exit 60).
    cp = subprocess.run(["curl", "-sS", "--max-time", "10", "--resolve", "a.example:%d:127.0.0.1" % single.port,
                         "https://a.example:%d/" % single.port], capture_output=True, timeout=20)
    assert cp.returncode == 60, cp.stderr
    # The plain HTTP data plane still says http.
    r = single.dp.get("/plain")
    assert r.status_code == 200 and {k.lower(): v for k, v in r.json()["headers"]}["x-forwarded-proto"] == "http"


def test_keep_alive_and_pipelining_over_tls(single, pki):
    with tls_connect(pki, single.port, "a.example") as s:
        c = RawClient(s)
        for i in range(5):
            c.send(req("a.example", "/k%d" % i))
            r = c.read_response()
            assert r.status == 200 and r.json()["target"] == "/k%d" % i
        c.send(b"".join(req("a.example", "/p%d" % i) for i in range(10)))
        for i in range(10):
            r = c.read_response()
            assert r.status == 200 and r.json()["target"] == "/p%d" % i


@pytest.fixture
def sni_plane(make_dataplane, pki):
    leaves = {"cert-a": pki.leaf("a.example"), "cert-wild": pki.leaf("wild", ["*.wild.example"]),
              "cert-exact": pki.leaf("exact.wild.example"),
              "cert-default": pki.leaf("default", ["default.example"])}

    def listeners(p):
        return [https_listener("a", p, "cert-a", hostname="a.example"),
                https_listener("wild", p, "cert-wild", hostname="*.wild.example"),
                https_listener("exact", p, "cert-exact", hostname="exact.wild.example"),
                https_listener("any", p, "cert-default")]
    tp = tls_plane(make_dataplane, pki, listeners, leaves)
    wait_https(pki, tp.port, "a.example")
    for l in ("a", "wild", "exact", "any"):
        wait_listener(tp.sl, "gws", l, is_programmed)
    return tp


@pytest.mark.parametrize("sni,cn", [("a.example", "a.example"), ("A.Example", "a.example"),
                                    ("x.wild.example", "wild"), ("deep.x.wild.example", "wild"),
                                    ("exact.wild.example", "exact.wild.example"),
                                    ("wild.example", "default"), ("other.example", "default")])
def test_certificate_chosen_by_sni(sni_plane, sni, cn):
    rc, out = s_client(sni_plane.port, ["-servername", sni])
    assert rc == 0, out
    assert subject_cn(out) == cn, out


def test_no_sni_gets_the_catch_all_certificate(sni_plane):
    rc, out = s_client(sni_plane.port, ["-noservername"])
    assert rc == 0, out
    assert subject_cn(out) == "default", out


def test_curl_verifies_each_sni_certificate(sni_plane, pki):
    for host in ("a.example", "x.wild.example", "exact.wild.example"):
        rc, out, err = curl(pki, sni_plane.port, host, "/", args=["-o", "/dev/null", "-w", "%{http_code}"])
        assert rc == 0 and out == b"200", (host, out, err)


def test_unknown_sni_without_catch_all_is_refused(make_dataplane, pki):
    tp = tls_plane(make_dataplane, pki, lambda p: [https_listener("a", p, "cert-a", hostname="a.example")],
                   {"cert-a": pki.leaf("a.example")})
    wait_https(pki, tp.port, "a.example")
    rc, out = s_client(tp.port, ["-servername", "nope.example"])
    assert rc != 0, out
    assert "unrecognized name" in out, out
    with pytest.raises(ssl.SSLError):
        https_get(pki, tp.port, "nope.example", check_hostname=False)
    # The listener still serves its own name afterwards.
    r, _ = https_get(pki, tp.port, "a.example")
    assert r.status == 200


def test_alpn_http11(single, pki):
    # h2 is preferred when offered (tests/integration/test_http2.py); HTTP/1.1
    # when it is the client's only protocol.
    rc, out = s_client(single.port, ["-servername", "a.example", "-alpn", "http/1.1"])
    assert rc == 0 and "ALPN protocol: http/1.1" in out, out
    rc, out = s_client(single.port, ["-servername", "a.example", "-alpn", "spdy/3"])
    assert rc == 0 and "No ALPN negotiated" in out, out
    # A client offering only protocols we do not speak gets no ALPN answer, and
    # can still speak HTTP/1.1.
    with tls_connect(pki, single.port, "a.example", alpn=["spdy/3"]) as s:
        assert s.selected_alpn_protocol() is None
        c = RawClient(s)
        c.send(req("a.example", "/after-unknown-offer"))
        assert c.read_response().status == 200
    with tls_connect(pki, single.port, "a.example", alpn=["http/1.1"]) as s:
        assert s.selected_alpn_protocol() == "http/1.1"
    rc, out, err = curl(pki, single.port, "a.example", "/", args=["--http1.1", "-o", "/dev/null", "-w",
                                                                   "%{http_version}"])
    assert rc == 0 and out == b"1.1", (out, err)


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_old_tls_versions_refused(single, flag):
    # SECLEVEL=0 so that the client itself is willing to offer the old version.
    rc, out = s_client(single.port, ["-servername", "a.example", flag, "-cipher", "DEFAULT:@SECLEVEL=0"])
    assert rc != 0, out
    assert "protocol version" in out or "unsupported protocol" in out, out
    assert "Cipher is (NONE)" in out or "Cipher    : 0000" in out or "New, (NONE)" in out, out


@pytest.mark.parametrize("flag,proto", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls12_and_tls13_accepted(single, flag, proto, pki):
    rc, out = s_client(single.port, ["-servername", "a.example", flag])
    assert rc == 0, out
    assert "Protocol  : %s" % proto in out or "Protocol: %s" % proto in out or ", %s," % proto in out, out
    ctx = client_ctx(pki)
    v = ssl.TLSVersion.TLSv1_2 if proto == "TLSv1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version = v
    with ctx.wrap_socket(connect(single.port), server_hostname="a.example") as s:
        assert s.version() == proto
        c = RawClient(s)
        c.send(req("a.example"))
        assert c.read_response().status == 200


def _misdirected(pki, port, cases):
    bad = []
    for sni, host, want in cases:
        r, _ = https_get(pki, port, sni, host, check_hostname=False)
        if r.status != want:
            bad.append("SNI %s Host %s: want %d, got %d" % (sni, host, want, r.status))
    assert not bad, "\n".join(bad)


def test_misdirected_request_gets_421(sni_plane, pki):
    """A Host outside the hostname of the listener the SNI chose gets 421."""
    port = sni_plane.port
    _misdirected(pki, port, [
        ("a.example", "a.example", 200), ("a.example", "A.EXAMPLE", 200), ("a.example", "a.example:%d" % port, 200),
        ("a.example", "x.wild.example", 421), ("a.example", "other.example", 421),
        ("x.wild.example", "y.wild.example", 200), ("x.wild.example", "wild.example", 421),
        ("x.wild.example", "a.example", 421), ("exact.wild.example", "exact.wild.example", 200),
        ("exact.wild.example", "x.wild.example", 421),
        ("other.example", "other.example", 200), ("other.example", "unknown.example", 200)])


def test_misdirected_host_of_another_listener_gets_421(sni_plane, pki):
    """The Gateway API's rule (conformance test HTTPRouteHTTPSListenerDetectMisdirectedRequests):
    a Host that another listener of the port serves is misdirected even when it fits
    the SNI listener's hostname: the catch-all listener's connection asking for a
    name with its own listener, or a wildcard listener's connection asking for a
    name that has an exact listener."""
    _misdirected(pki, sni_plane.port, [
        ("x.wild.example", "exact.wild.example", 421),
        ("other.example", "a.example", 421), ("other.example", "x.wild.example", 421),
        ("other.example", "exact.wild.example", 421)])


def test_connection_usable_after_a_421(sni_plane, pki):
    """A 421 answer keeps the connection open; the next request on it is judged on
    its own Host."""
    with tls_connect(pki, sni_plane.port, "a.example") as s:
        c = RawClient(s)
        c.send(req("a.example", "/first"))
        assert c.read_response().status == 200
        c.send(req("x.wild.example", "/misdirected"))
        assert c.read_response().status == 421
        c.send(req("a.example", "/second"))
        r = c.read_response()
        assert r.status == 200, r
        assert r.json()["target"] == "/second"


def test_redirect_keeps_https(make_dataplane, pki):
    tp = tls_plane(make_dataplane, pki, lambda p: [https_listener("https", p, "cert-a", hostname="a.example")],
                   {"cert-a": pki.leaf("a.example")})
    created(tp.sl.post(ROUTES, tls_route("redir", "gws", path="/old", filters=[
        {"type": "RequestRedirect", "requestRedirect": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/new"}}}])))
    r = wait_https(pki, tp.port, "a.example", path="/old", status=302)
    assert r.header("location") == "https://a.example:%d/new" % tp.port, r


def test_certificate_rotation_without_restart(single, pki):
    sl, port = single.sl, single.port
    old = single.leaves["cert-a"]
    pids = single.workers()
    assert len(pids) == 3  # gw's worker and the two of gws
    keep = tls_connect(pki, port, "a.example")
    try:
        assert keep.getpeercert(binary_form=True) == old.der
        c = RawClient(keep)
        c.send(req("a.example", "/before"))
        assert c.read_response().status == 200
        new = pki.leaf("a.example")
        assert new.der != old.der
        put_secret(sl, secret("cert-a", new))
        # New connections (on every worker) get the new certificate.
        wait_https(pki, port, "a.example", der=new.der)
        for _ in range(10):
            _, der = https_get(pki, port, "a.example")
            assert der == new.der
        # The established connection keeps working (same session, old certificate).
        c.send(req("a.example", "/after"))
        r = c.read_response()
        assert r.status == 200 and r.json()["target"] == "/after"
        assert keep.getpeercert(binary_form=True) == old.der
    finally:
        keep.close()
    assert single.workers() == pids
    wait_listener(sl, "gws", "https", is_programmed)


def test_listener_renumbering_keeps_established_tls_connection(sni_plane, pki):
    """A configuration change that shifts listener indices in the snapshot (a new
    Gateway whose name sorts first) must not change how an established TLS
    connection's requests are judged."""
    port = sni_plane.port
    with tls_connect(pki, port, "a.example") as s:
        c = RawClient(s)
        c.send(req("a.example", "/one"))
        assert c.read_response().status == 200
        gen = sni_plane.dp.generation()
        other = free_port()
        created(sni_plane.sl.post(GWPATH, gateway("aaa", [
            {"name": "h1", "port": other, "protocol": "HTTP", "hostname": "zzz.example"},
            {"name": "h2", "port": other, "protocol": "HTTP", "hostname": "yyy.example"}])))
        wait_until(lambda: sni_plane.dp.generation() != gen, what="a new snapshot")
        time.sleep(0.3)  # the worker's tick switches snapshots
        c.send(req("a.example", "/two"))
        r = c.read_response()
        assert r.status == 200, r
        c.send(req("x.wild.example", "/three"))
        assert c.read_response().status == 421


def test_handshake_spanning_a_snapshot_change(single, pki):
    """A connection accepted before a configuration change whose ClientHello arrives
    after it: the handshake must complete with a certificate of the port."""
    port = single.port
    pids = single.workers()
    raws = [connect(port) for _ in range(3)]
    try:
        time.sleep(0.2)  # accepted (and its TLS session made) on the current snapshot
        for i in range(3):
            gen = single.dp.generation()
            put_secret(single.sl, secret("cert-a", pki.leaf("a.example")))
            wait_until(lambda: single.dp.generation() != gen, what="a new snapshot")
        time.sleep(0.5)
        for raw in raws:
            s = client_ctx(pki).wrap_socket(raw, server_hostname="a.example")
            c = RawClient(s)
            c.send(req("a.example", "/late"))
            assert c.read_response().status == 200
            s.close()
    finally:
        for raw in raws:
            raw.close()
    r, _ = https_get(pki, port, "a.example")
    assert r.status == 200
    assert single.workers() == pids, "a worker died:\n" + single.sl.log()[-2000:]


@pytest.mark.parametrize("breakage", ["garbage", "mismatched-key", "missing", "not-base64-pem", "empty"])
def test_unusable_secret_reported_and_fixable(make_dataplane, pki, breakage):
    good = pki.leaf("good.example")
    other = pki.leaf("other.example")
    fixed = pki.leaf("bad.example")
    dp = make_dataplane()
    sl = dp.sluiced
    put_secret(sl, secret("good", good))
    if breakage == "garbage":
        put_secret(sl, secret("bad", crt=b"-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n",
                              key=b"garbage"))
    elif breakage == "mismatched-key":
        put_secret(sl, secret("bad", crt=fixed.cert_pem, key=other.key_pem))
    elif breakage == "not-base64-pem":
        put_secret(sl, secret("bad", crt=fixed.cert_pem.replace(b"-----BEGIN CERTIFICATE-----", b""),
                              key=fixed.key_pem))
    elif breakage == "empty":
        put_secret(sl, secret("bad", crt=b"", key=b""))
    p_good, p_bad = free_port(), free_port()
    created(sl.post(ROUTES, tls_route("rs", "gws")))
    created(sl.post(GWPATH, gateway("gws", [https_listener("good", p_good, "good"),
                                            https_listener("bad", p_bad, "bad")], workers=2)))
    conds = wait_listener(sl, "gws", "bad", lambda c: c.get("ResolvedRefs", {}).get("status") == "False")
    assert conds["ResolvedRefs"]["reason"] == "InvalidCertificateRef", conds
    assert conds["Programmed"]["status"] == "False", conds
    assert conds["Accepted"]["status"] == "True", conds
    wait_listener(sl, "gws", "good", is_programmed)
    r = wait_https(pki, p_good, "good.example")
    assert r.status == 200
    # The bad listener's port offers no certificate: the handshake fails, nothing crashes.
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        https_get(pki, p_bad, "bad.example")
    pids = dp.workers()
    assert dp.sluiced.proc.poll() is None
    # Fixing the Secret makes the listener programmed and serving.
    put_secret(sl, secret("bad", fixed))
    wait_listener(sl, "gws", "bad", is_programmed, what="programmed after the fix")
    r = wait_https(pki, p_bad, "bad.example")
    assert r.status == 200
    assert https_get(pki, p_good, "good.example")[0].status == 200
    assert dp.workers() == pids
    gst = sl.get(GWPATH + "/gws").json()["status"]
    assert {c["type"]: c for c in gst["conditions"]}["Programmed"]["status"] == "True"
    assert "not programmed" not in {c["type"]: c for c in gst["conditions"]}["Programmed"]["message"]


def test_non_base64_secret_data_rejected_or_reported(make_dataplane, pki):
    dp = make_dataplane()
    sl = dp.sluiced
    obj = secret("weird", pki.leaf("w.example"))
    obj["data"]["tls.crt"] = "!!!not base64!!!"
    r = sl.post(SECRETS, obj)
    if r.status_code in (200, 201):
        p = free_port()
        created(sl.post(GWPATH, gateway("gws", [https_listener("w", p, "weird")])))
        conds = wait_listener(sl, "gws", "w", lambda c: c.get("ResolvedRefs", {}).get("status") == "False")
        assert conds["ResolvedRefs"]["reason"] == "InvalidCertificateRef"
    else:
        assert r.status_code in (400, 422), r.text


def test_certificate_in_another_namespace_needs_a_reference_grant(make_dataplane, pki):
    dp = make_dataplane()
    sl = dp.sluiced
    created(sl.post(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "certs"}}))
    leaf = pki.leaf("x.example")
    put_secret(sl, secret("shared", leaf, namespace="certs"))
    p = free_port()
    created(sl.post(ROUTES, tls_route("rs", "gws")))
    created(sl.post(GWPATH, gateway("gws", [https_listener("x", p, "shared", secret_ns="certs")])))
    conds = wait_listener(sl, "gws", "x", lambda c: c.get("ResolvedRefs", {}).get("status") == "False")
    assert conds["ResolvedRefs"]["reason"] == "RefNotPermitted", conds
    assert conds["Programmed"]["status"] == "False"
    grants = path_for("referencegrants", "certs", version="v1beta1")

    def grant(name, to_name=None, from_ns="default", from_kind="Gateway"):
        to = {"group": "", "kind": "Secret"}
        if to_name:
            to["name"] = to_name
        return {"apiVersion": GW + "/v1beta1", "kind": "ReferenceGrant",
                "metadata": {"name": name, "namespace": "certs"},
                "spec": {"from": [{"group": GW, "kind": from_kind, "namespace": from_ns}], "to": [to]}}
    # Grants that do not cover the reference change nothing.
    created(sl.post(grants, grant("other-secret", to_name="not-this-one")))
    created(sl.post(grants, grant("other-ns", from_ns="elsewhere")))
    created(sl.post(grants, grant("other-kind", from_kind="HTTPRoute")))
    time.sleep(0.5)
    conds = listener_status(sl, "gws", "x")
    assert conds["ResolvedRefs"]["reason"] == "RefNotPermitted", conds
    created(sl.post(grants, grant("ok", to_name="shared")))
    wait_listener(sl, "gws", "x", is_programmed)
    r = wait_https(pki, p, "x.example")
    assert r.status == 200
    # Withdrawing the grant withdraws the certificate.
    assert sl.delete(grants + "/ok").status_code == 200
    conds = wait_listener(sl, "gws", "x", lambda c: c.get("ResolvedRefs", {}).get("status") == "False")
    assert conds["ResolvedRefs"]["reason"] == "RefNotPermitted"
    wait_until(lambda: _handshake_fails(pki, p, "x.example"), what="handshake refused without the grant")


def _handshake_fails(pki, port, sni):
    try:
        https_get(pki, port, sni)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    return False


def test_large_download_and_upload_over_tls(single, pki, tmp_path):
    n = 64 << 20
    want = hashlib.sha256(PATTERN_BLOCK * (n // len(PATTERN_BLOCK))).hexdigest()
    out = tmp_path / "down"
    rc, _, err = curl(pki, single.port, "a.example", "/big?size=%d" % n, args=["-o", str(out)], timeout=120)
    assert rc == 0, err
    assert out.stat().st_size == n
    h = hashlib.sha256()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    assert h.hexdigest() == want
    out.unlink()
    up = tmp_path / "up"
    data = os.urandom(1 << 20) * 64
    up.write_bytes(data)
    rc, body, err = curl(pki, single.port, "a.example", "/upload",
                         args=["--data-binary", "@" + str(up), "-H", "Content-Type: application/octet-stream"],
                         timeout=120)
    assert rc == 0, err
    echo = json.loads(body)
    assert echo["body_len"] == len(data)
    assert echo["body_sha256"] == hashlib.sha256(data).hexdigest()
    # Chunked upload (unknown length) too.
    rc, body, err = curl(pki, single.port, "a.example", "/upload-chunked",
                         args=["--data-binary", "@" + str(up), "-H", "Transfer-Encoding: chunked"], timeout=120)
    assert rc == 0, err
    echo = json.loads(body)
    assert echo["body_len"] == len(data) and echo["body_sha256"] == hashlib.sha256(data).hexdigest()


def random_not_sslv2_hello(n):
    """Random bytes that do not happen to start like a record OpenSSL must wait
    for: an SSLv2-format ClientHello (high bit set, message type 1 in the third
    byte, a record of up to 32 KiB), or a TLS record header whose version's
    major byte is 3 (the second byte): OpenSSL reads the whole record, up to
    its announced length, before it looks at the content type. Either one
    rightly waits for the rest, so it would not be closed at once."""
    while True:
        p = os.urandom(n)
        if not (p[0] & 0x80 and p[2] == 1) and p[1] != 3:
            return p


def test_garbage_client_hello_closes_only_that_connection(single, pki):
    pids = single.workers()
    keep = tls_connect(pki, single.port, "a.example")
    try:
        c = RawClient(keep)
        c.send(req("a.example", "/before"))
        assert c.read_response().status == 200
        payloads = [random_not_sslv2_hello(517) for _ in range(8)]
        # A TLS record header announcing a handshake, followed by junk.
        payloads += [b"\x16\x03\x01\x02\x00" + os.urandom(512), b"\x16\x03\x01\xff\xff" + os.urandom(64),
                     b"\x16\x03\x03\x00\x05\x01\x00\x00\x01\x00", b"\x16" * 4096]
        for p in payloads:
            with connect(single.port) as s:
                try:
                    s.sendall(p)
                except OSError:
                    continue
                assert RawClient(s).closed_within(5), p[:16]
        c.send(req("a.example", "/after"))
        assert c.read_response().status == 200
    finally:
        keep.close()
    r, _ = https_get(pki, single.port, "a.example")
    assert r.status == 200
    assert single.workers() == pids


def test_client_closing_mid_handshake(single, pki):
    pids = single.workers()
    hello = None
    for i in range(20):
        s = connect(single.port)
        if i % 2:
            # A real ClientHello start, then the client goes away.
            o = ssl.MemoryBIO()
            inc = ssl.MemoryBIO()
            obj = client_ctx(pki).wrap_bio(inc, o, server_hostname="a.example")
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
            hello = o.read()
            s.sendall(hello[: len(hello) // (1 + i % 3)])
        s.close()
    r, _ = https_get(pki, single.port, "a.example")
    assert r.status == 200
    assert single.workers() == pids
    assert hello


def test_plain_http_on_https_port_is_closed(single, pki):
    with connect(single.port) as s:
        c = RawClient(s)
        c.send(req("a.example"))
        assert c.closed_within(5)
        assert not bytes(c.buf).startswith(b"HTTP/1.1 200"), bytes(c.buf)[:100]
        assert b"X-Origin" not in bytes(c.buf)
    r, _ = https_get(pki, single.port, "a.example")
    assert r.status == 200


def test_https_and_http_listeners_on_one_gateway(make_dataplane, pki):
    leaf = pki.leaf("a.example")
    ph = free_port()
    tp = tls_plane(make_dataplane, pki, lambda p: [https_listener("https", p, "cert-a"),
                                                    {"name": "http", "port": ph, "protocol": "HTTP"}],
                   {"cert-a": leaf})
    wait_https(pki, tp.port, "a.example")
    r = wait_until(lambda: (lambda r: r.status_code == 200 and r)(
        __import__("requests").get("http://127.0.0.1:%d/" % ph, timeout=3)), what="plain listener")
    assert {k.lower(): v for k, v in r.json()["headers"]}["x-forwarded-proto"] == "http"
    r, _ = https_get(pki, tp.port, "a.example")
    assert echo_headers(r)["x-forwarded-proto"] == "https"


def test_secret_of_another_type_is_an_invalid_certificate_ref(make_dataplane, pki):
    """certificateRefs name kubernetes.io/tls Secrets; an Opaque Secret that happens
    to carry tls.crt / tls.key keys is not one."""
    dp = make_dataplane()
    sl = dp.sluiced
    obj = secret("opaque", pki.leaf("o.example"))
    obj["type"] = "Opaque"
    created(sl.post(SECRETS, obj))
    p = free_port()
    created(sl.post(GWPATH, gateway("gws", [https_listener("o", p, "opaque")])))
    conds = wait_listener(sl, "gws", "o", lambda c: "ResolvedRefs" in c)
    time.sleep(0.5)
    conds = listener_status(sl, "gws", "o")
    assert conds["ResolvedRefs"]["status"] == "False", conds
    assert conds["ResolvedRefs"]["reason"] == "InvalidCertificateRef", conds

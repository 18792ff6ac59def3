"""Drives the Gateway API's conformance manifests (HTTPRoute, Gateway, BackendTLSPolicy, TLSRoute and TCPRoute tests) through a local sluiced.

One Harness per test module: it starts the echo backends (one EchoReplica per
Deployment replica, each on its own loopback address), one sluiced on a temporary
state dir, applies the rewritten base manifests once, and then applies and
deletes each conformance test's objects in turn.

Rewrites done to the upstream manifests (the YAML files themselves are untouched):
  * "{GATEWAY_CLASS_NAME}" -> "sluice";
  * every Gateway gets its own loopback address (spec.addresses, type IPAddress);
  * listener ports 80/443/8080/8090 become free unprivileged ports (the same
    mapping for every Gateway, since each has its own address), and so do
    HTTPRoute parentRefs[].port;
  * Gateway spec.tls.frontend.perPort[].port follows the listener port map
    (which also covers 6443, 7443 and 8443, the client certificate tests' ports);
  * the TLS Secrets the upstream suite creates itself (tls-validity-checks-certificate
    and the others of its setup) are made here with the openssl CLI: a throwaway CA
    and one leaf per Secret with the upstream SANs, stored before the Gateways;
    the CA ConfigMaps of its setup (tls-checks-ca-certificate, the client
    certificate validation CAs, mismatch-ca-certificate, web-backend-cm) get a CA
    each, and the Secrets upstream signs with them (the tls-backend's serving
    certificate, the client certificates) are signed by that CA;
  * Deployments are replaced by echo replicas (HTTP/1.1 on backend_port, h2c
    prior knowledge on h2c_port), those that serve TLS (TLS_SERVER_CERT) by TLS
    echo replicas on tls_port with their Secret's certificate (and their
    ConfigMap's client CAs for TLS_CLIENT_CACERTS), those with TCP_ECHO_SERVER
    by the upstream tcpserver's line protocol (plain on backend_port, over TLS
    on tls_port when they have a certificate); a test manifest's
    Deployments run while the test does. Every Service whose selector picks a
    Deployment gets an EndpointSlice (label kubernetes.io/service-name) listing
    the replicas, with the Service's port names and targetPorts 3000 -> backend_port,
    3001 -> h2c_port, 8443 -> tls_port; the manual EndpointSlices of the
    service-types test get the infra-backend-v1 replicas, as the upstream suite does.
"""

import base64
import concurrent.futures
import copy
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

import yaml

from echo import EchoReplica, TCPEchoReplica, TLSEchoReplica, can_bind, server_context

sys.path.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
from h2client import H2Client  # noqa: E402  (tests/integration/h2client.py)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CONTROLLER = "sluice.dev/gateway-controller"
GW_GROUP = "gateway.networking.k8s.io"
INFRA = "gateway-conformance-infra"
APP = "gateway-conformance-app-backend"
WEB = "gateway-conformance-web-backend"

# kind -> (api prefix, plural, namespaced)
KINDS = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Service": ("/api/v1", "services", True),
    "Secret": ("/api/v1", "secrets", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "EndpointSlice": ("/apis/discovery.k8s.io/v1", "endpointslices", True),
    "GatewayClass": ("/apis/gateway.networking.k8s.io/v1", "gatewayclasses", False),
    "Gateway": ("/apis/gateway.networking.k8s.io/v1", "gateways", True),
    "HTTPRoute": ("/apis/gateway.networking.k8s.io/v1", "httproutes", True),
    "GRPCRoute": ("/apis/gateway.networking.k8s.io/v1", "grpcroutes", True),
    "ReferenceGrant": ("/apis/gateway.networking.k8s.io/v1beta1", "referencegrants", True),
    "BackendTLSPolicy": ("/apis/gateway.networking.k8s.io/v1", "backendtlspolicies", True),
    "TLSRoute": ("/apis/gateway.networking.k8s.io/v1", "tlsroutes", True),
    "TCPRoute": ("/apis/gateway.networking.k8s.io/v1", "tcproutes", True),
}

# Fast, bounded eventual consistency (the upstream suite allows 30 s and wants 3
# consecutive successes; sluice reloads in well under a second).
CONSISTENCY_TIMEOUT = float(os.environ.get("SL_CONFORMANCE_TIMEOUT", "6"))
CONSECUTIVE = 2
# The upstream suite reads the address to test from Gateway status.addresses;
# sluice does not fill it in yet, so by default the harness uses the address it
# assigned in spec.addresses (SL_CONFORMANCE_STRICT_ADDRESSES=1 requires it).
STRICT_ADDRESSES = os.environ.get("SL_CONFORMANCE_STRICT_ADDRESSES") == "1"


# The Secrets the upstream suite creates in its setup (ConformanceTestSuite.Setup,
# kubernetes.MustCreateSelfSignedCertSecret): namespace, name, SANs. Upstream signs
# each leaf by itself; here one throwaway CA signs them all, and HTTPS requests are
# verified against that CA.
SUITE_SECRETS = [
    (WEB, "certificate", ["*"]),
    # "*.wildcard.org": the misdirected-requests test connects with SNI
    # third-example.wildcard.org and verifies the certificate for that name.
    (INFRA, "tls-validity-checks-certificate", ["*", "*.org", "*.wildcard.org"]),
]

# The CA ConfigMaps the upstream suite creates (kubernetes.MustCreateCACertConfigMap):
# namespace, name. Each is a CA of its own; "ca.crt" holds its certificate.
SUITE_CAS = [
    (WEB, "web-backend-cm"),
    (INFRA, "tls-validity-checks-ca-certificate"),
    (INFRA, "tls-validity-checks-per-port-ca-certificate"),
    (INFRA, "tls-checks-ca-certificate"),
    (INFRA, "mismatch-ca-certificate"),
]

# The Secrets it signs with those CAs: namespace, name, the CA ConfigMap's name
# (same namespace), and the SANs of a serving certificate (a name, an IP or a
# URI, as upstream's generateRSACert sorts them) or None for a client certificate.
SUITE_CA_SIGNED = [
    (INFRA, "tls-validity-checks-client-certificate", "tls-validity-checks-ca-certificate", None),
    (INFRA, "tls-validity-checks-per-port-client-certificate", "tls-validity-checks-per-port-ca-certificate", None),
    (INFRA, "tls-checks-certificate", "tls-checks-ca-certificate",
     ["abc.example.com", "spiffe://abc.example.com/test-identity", "other.example.com"]),
    (INFRA, "tls-checks-client-certificate", "tls-checks-ca-certificate", None),
    # The TLS tcp-backend's serving certificate (TLSRoute passthrough tests).
    (INFRA, "tls-passthrough-checks-certificate", "tls-checks-ca-certificate", ["abc.example.com"]),
    (APP, "tls-passthrough-checks-certificate", (INFRA, "tls-checks-ca-certificate"), ["abc.example.com"]),
    (INFRA, "tls-terminate-checks-certificate", "tls-checks-ca-certificate", ["tls.example.com"]),
]


def _openssl(*args):
    cp = subprocess.run(["openssl"] + list(args), capture_output=True, timeout=60)
    if cp.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), cp.stderr.decode(errors="replace")[-1000:]))


def _san(name):
    """A SAN entry for openssl's subjectAltName: an IP, a URI or a DNS name."""
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in name and "://" not in name else socket.AF_INET, name)
        return "IP:" + name
    except OSError:
        return ("URI:" if "://" in name else "DNS:") + name


class CertAuthority:
    """A throwaway CA (openssl CLI, ECDSA P-256) in dir; issue() makes a leaf."""

    def __init__(self, d, cn="sluice conformance CA"):
        os.makedirs(d, exist_ok=True)
        self.dir = d
        self.cert = os.path.join(d, "ca.crt")
        self.key = os.path.join(d, "ca.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", "/CN=" + cn, "-days", "2", "-keyout", self.key, "-out", self.cert,
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        with open(self.cert, "rb") as f:
            self.cert_pem = f.read()
        self.n = 0
        self.paths = {}  # cert PEM -> (cert file, key file)

    def issue(self, sans, cn="default"):
        """Returns (cert PEM, key PEM) of a leaf with the upstream subject (CN
        default, O Acme Co): a server certificate for sans (DNS names, IPs,
        URIs), or a client certificate when sans is None."""
        self.n += 1
        base = os.path.join(self.dir, "leaf%d" % self.n)
        with open(base + ".ext", "w") as f:
            if sans is None:
                f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
                        "keyUsage=digitalSignature,keyEncipherment\n")
            else:
                f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                        "keyUsage=digitalSignature,keyEncipherment\n" % ",".join(_san(n) for n in sans))
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", "/O=Acme Co/CN=%s" % cn, "-keyout", base + ".key", "-out", base + ".csr")
        _openssl("x509", "-req", "-in", base + ".csr", "-CA", self.cert, "-CAkey", self.key,
                 "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
                 "-extfile", base + ".ext", "-out", base + ".crt")
        with open(base + ".crt", "rb") as f:
            crt = f.read()
        with open(base + ".key", "rb") as f:
            key = f.read()
        self.paths[crt] = (base + ".crt", base + ".key")
        return crt, key


def ca_configmap(ns, name, ca):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": {"ca.crt": ca.cert_pem.decode()}}


def tls_secret(ns, name, crt, key):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(crt).decode(), "tls.key": base64.b64encode(key).decode()}}


def go_hostname_match(pattern, host):
    """crypto/x509's matchHostnames: a leading "*" label matches exactly one label;
    a lone "*" matches nothing with more than one label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if not pattern or not host:
        return False
    pl, hl = pattern.split("."), host.split(".")
    if len(pl) != len(hl):
        return False
    return all((i == 0 and p == "*") or p == h for i, (p, h) in enumerate(zip(pl, hl)))


def sluiced_path():
    return os.environ.get("SLUICED") or os.path.join(REPO, "build", "sbin", "sluiced")


def conformance_dir():
    return os.environ.get("SL_CONFORMANCE") or os.path.join(os.path.dirname(REPO), "shared", "conformance", "gateway-api")


def free_port(ip="127.0.0.1"):
    """Below the kernel's ephemeral range, as tests/integration/conftest.py's:
    no outgoing connection can take it before the Gateway binds it."""
    for _ in range(2000):
        port = random.randint(10000, 32000)
        with socket.socket() as s:
            try:
                s.bind((ip, port))
            except OSError:
                continue
        return port
    s = socket.socket()
    s.bind((ip, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def load_yaml(path):
    with open(path) as f:
        text = f.read().replace("{GATEWAY_CLASS_NAME}", "sluice")
    return [d for d in yaml.safe_load_all(text) if d]


class Failure(AssertionError):
    pass


def poll(fn, timeout, what, interval=0.1):
    """fn() returns (ok, detail); poll until ok or timeout (raises Failure with the last detail)."""
    deadline = time.monotonic() + timeout
    detail = None
    while True:
        try:
            ok, detail = fn()
        except (OSError, http.client.HTTPException, ValueError) as e:
            ok, detail = False, "error: %r" % e
        if ok:
            return detail
        if time.monotonic() >= deadline:
            raise Failure("%s: %s" % (what, detail))
        time.sleep(interval)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body
        try:
            self.echo = json.loads(body) if body else None
        except ValueError:
            self.echo = None

    def header_values(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


class Harness:
    def __init__(self):
        self.dir = conformance_dir()
        self.octet = None
        self.proc = None
        self.state = None
        self.replicas = {}  # (ns, deployment) -> [EchoReplica]
        self.gw_ip = {}  # gateway name -> ip
        self.port_map = {}
        self.applied = []
        self.log_path = None
        self.ca = None
        self.certs = {}  # (ns, secret name) -> (cert PEM, key PEM)
        self.cas = {}  # (ns, ConfigMap name) -> CertAuthority
        self.cert_files = {}  # (ns, secret name) -> (cert file, key file)
        self.test_deployments = []  # (ns, name) of the current test's Deployments

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        exe = sluiced_path()
        if not os.access(exe, os.X_OK):
            raise RuntimeError("sluiced not found at %s (set SLUICED)" % exe)
        # A loopback /16 of our own, so that concurrent runs do not collide.
        for _ in range(50):
            self.octet = random.randint(20, 250)
            if can_bind("127.%d.0.1" % self.octet, 0):
                break
        self.backend_port = 3000
        probe = ["127.%d.%d.%d" % (self.octet, s, r) for s in (1, 2) for r in (1, 2)]
        if not all(can_bind(ip, 3000) for ip in probe):
            self.backend_port = free_port()
        self.h2c_port = 3001  # the upstream echo's h2c port
        if self.h2c_port == self.backend_port or not all(can_bind(ip, 3001) for ip in probe):
            self.h2c_port = free_port()
            while self.h2c_port == self.backend_port:
                self.h2c_port = free_port()
        self.tls_port = 8443  # the upstream echo's TLS port
        if self.tls_port in (self.backend_port, self.h2c_port) or not all(can_bind(ip, 8443) for ip in probe):
            self.tls_port = free_port()
            while self.tls_port in (self.backend_port, self.h2c_port):
                self.tls_port = free_port()
        gwip = "127.%d.0.1" % self.octet
        used = set()
        for orig in (80, 443, 8080, 8090, 8443, 7443, 6443):
            p = free_port(gwip)
            while p in used or p in (80, 81, 443, 8080, 8090, 8443, 8083):
                p = free_port(gwip)
            used.add(p)
            self.port_map[orig] = p
        self.state = tempfile.mkdtemp(prefix="sl-conformance-")
        os.makedirs(os.path.join(self.state, "pki"))
        self.ca = CertAuthority(os.path.join(self.state, "pki"))
        for ns, name, sans in SUITE_SECRETS:
            self.certs[(ns, name)] = self.ca.issue(sans)
        for ns, name in SUITE_CAS:
            self.cas[(ns, name)] = CertAuthority(os.path.join(self.state, "pki", ns, name), cn=name)
        for ns, name, ca_name, sans in SUITE_CA_SIGNED:
            ca = self.cas[ca_name if isinstance(ca_name, tuple) else (ns, ca_name)]
            self.certs[(ns, name)] = ca.issue(sans)
            self.cert_files[(ns, name)] = ca.paths[self.certs[(ns, name)][0]]
        self.admin_port = free_port()
        self.admin = "127.0.0.1:%d" % self.admin_port
        self.log_path = os.path.join(self.state, "sluiced.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([exe, "--state-dir", self.state, "--admin", self.admin, "--access-log", "off"],
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        poll(lambda: (self._raw("GET", "/healthz")[0] == 200, "not healthy"), 15, "sluiced /healthz")
        self._apply_base()
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGQUIT)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        for reps in self.replicas.values():
            for r in reps:
                r.stop()
        self.replicas.clear()
        if self.state:
            if os.environ.get("SL_CONFORMANCE_KEEP"):
                print("state kept in", self.state)
            else:
                shutil.rmtree(self.state, ignore_errors=True)

    def sluiced_log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    # ---------------------------------------------------------------- admin API
    def _raw(self, method, path, body=None, ctype="application/json"):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        try:
            data = json.dumps(body).encode() if body is not None else None
            c.request(method, path, body=data, headers={"Content-Type": ctype} if data else {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def _coll(self, kind, ns):
        prefix, plural, namespaced = KINDS[kind]
        if namespaced:
            return "%s/namespaces/%s/%s" % (prefix, ns, plural)
        return "%s/%s" % (prefix, plural)

    def get(self, kind, ns, name):
        st, body = self._raw("GET", self._coll(kind, ns) + "/" + name)
        return json.loads(body) if st == 200 else None

    def list(self, kind, ns):
        """The items of kind in namespace ns (all of them for cluster-scoped kinds)."""
        st, body = self._raw("GET", self._coll(kind, ns))
        if st != 200:
            raise Failure("list %s in %s: %d %s" % (kind, ns, st, body[:300]))
        return json.loads(body).get("items", [])

    def put_object(self, obj):
        kind = obj["kind"]
        ns = obj["metadata"].get("namespace", "default")
        coll = self._coll(kind, ns)
        st, body = self._raw("POST", coll, obj)
        if st == 409:
            obj = copy.deepcopy(obj)
            obj["metadata"].pop("resourceVersion", None)
            st, body = self._raw("PUT", coll + "/" + obj["metadata"]["name"], obj)
        if st >= 300:
            raise Failure("apply %s %s/%s: %d %s" % (kind, ns, obj["metadata"]["name"], st, body[:500]))
        return json.loads(body)

    def patch(self, kind, ns, name, patch):
        st, body = self._raw("PATCH", self._coll(kind, ns) + "/" + name, patch, "application/merge-patch+json")
        if st >= 300:
            raise Failure("patch %s %s/%s: %d %s" % (kind, ns, name, st, body[:300]))
        return json.loads(body)

    def delete(self, obj):
        kind = obj["kind"]
        ns = obj["metadata"].get("namespace", "default")
        st, _ = self._raw("DELETE", self._coll(kind, ns) + "/" + obj["metadata"]["name"])
        return st

    # ---------------------------------------------------------------- manifests
    def gateway_ip(self, name):
        if name not in self.gw_ip:
            self.gw_ip[name] = "127.%d.0.%d" % (self.octet, len(self.gw_ip) + 1)
        return self.gw_ip[name]

    def map_port(self, p):
        return self.port_map.get(p, p)

    def rewrite(self, obj):
        obj = copy.deepcopy(obj)
        kind = obj.get("kind")
        if kind == "Gateway":
            spec = obj["spec"]
            spec["addresses"] = [{"type": "IPAddress", "value": self.gateway_ip(obj["metadata"]["name"])}]
            for l in spec.get("listeners", []):
                l["port"] = self.map_port(l["port"])
            for pp in (spec.get("tls") or {}).get("frontend", {}).get("perPort") or []:
                if "port" in pp:
                    pp["port"] = self.map_port(pp["port"])
        elif kind in ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute"):
            for pr in obj.get("spec", {}).get("parentRefs", []) or []:
                if "port" in pr:
                    pr["port"] = self.map_port(pr["port"])
        elif kind == "EndpointSlice":
            obj = self._fill_manual_slice(obj)
        return obj

    def _fill_manual_slice(self, obj):
        # The service-types test's manual EndpointSlices: the upstream suite
        # fills them with the infra-backend-v1 pod addresses (IPv4 only here).
        for p in obj.get("ports") or []:
            if "port" in p:
                p["port"] = self.echo_port(p["port"])
        if obj.get("addressType") == "IPv4" and not obj.get("endpoints"):
            obj["endpoints"] = [{"addresses": [r.ip], "conditions": {"ready": True},
                                 "targetRef": {"kind": "Pod", "name": r.pod, "namespace": r.namespace}}
                                for r in self.replicas.get((INFRA, "infra-backend-v1"), [])]
        return obj

    def echo_port(self, target_port):
        """Where the echo replicas serve the upstream echo's port: 3000 (HTTP/1.1),
        3001 (h2c) and 8443 (TLS) are remapped, anything else stays."""
        return {3000: self.backend_port, 3001: self.h2c_port, 8443: self.tls_port}.get(target_port, target_port)

    def _slice_for(self, svc, reps):
        ports = []
        for i, p in enumerate(svc["spec"].get("ports", [])):
            entry = {"port": self.echo_port(p.get("targetPort", p["port"])), "protocol": p.get("protocol", "TCP")}
            if p.get("name"):
                entry["name"] = p["name"]
            if p.get("appProtocol"):
                entry["appProtocol"] = p["appProtocol"]
            ports.append(entry)
        return {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": svc["metadata"]["name"] + "-echo", "namespace": svc["metadata"]["namespace"],
                         "labels": {"kubernetes.io/service-name": svc["metadata"]["name"]}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [r.ip], "conditions": {"ready": True},
                           "targetRef": {"kind": "Pod", "name": r.pod, "namespace": r.namespace}} for r in reps],
            "ports": ports,
        }

    def _tls_context(self, dep):
        """The TLS echo's context for a Deployment with TLS_SERVER_CERT: the
        certificate of the Secret its volume mounts, the client CAs of its
        ConfigMap volume when TLS_CLIENT_CACERTS is set. None when the harness
        does not make that Secret."""
        ns = dep["metadata"]["namespace"]
        pod = dep["spec"]["template"]["spec"]
        env = {e["name"] for e in pod["containers"][0].get("env", [])}
        secret = configmap = None
        for vol in pod.get("volumes") or []:
            secret = (vol.get("secret") or {}).get("secretName") or secret
            configmap = (vol.get("configMap") or {}).get("name") or configmap
        if (ns, secret) not in self.certs:
            return None
        client_ca = self.cas[(ns, configmap)].cert_pem if "TLS_CLIENT_CACERTS" in env and configmap else None
        return server_context(*self.certs[(ns, secret)], client_ca)

    def _start_deployment(self, dep, index):
        ns = dep["metadata"]["namespace"]
        name = dep["metadata"]["name"]
        env = {e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0].get("env", [])}
        if "GRPC_ECHO_SERVER" in env or "coredns" in name:
            return  # gRPC and DNS backends serve no test here
        reps = []
        if "TCP_ECHO_SERVER" in env:
            ctx = self._tls_context(dep) if "TLS_SERVER_CERT" in env else None
            values = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0].get("env", [])}
            for r in range(dep["spec"].get("replicas", 1)):
                ip = "127.%d.%d.%d" % (self.octet, index, r + 1)
                reps.append(TCPEchoReplica(ns, "%s-%d" % (name, r), values.get("SERVICE_NAME") or "", ip,
                                           self.backend_port, self.tls_port, ctx).start())
            self.replicas[(ns, name)] = reps
            return
        if "TLS_SERVER_CERT" in env:
            ctx = self._tls_context(dep)
            if ctx is None:
                return
            for r in range(dep["spec"].get("replicas", 1)):
                ip = "127.%d.%d.%d" % (self.octet, index, r + 1)
                reps.append(TLSEchoReplica(ns, "%s-%d" % (name, r), ip, self.tls_port, ctx).start())
            self.replicas[(ns, name)] = reps
            return
        for r in range(dep["spec"].get("replicas", 1)):
            ip = "127.%d.%d.%d" % (self.octet, index, r + 1)
            reps.append(EchoReplica(ns, "%s-%d" % (name, r), ip, self.backend_port, self.h2c_port).start())
        self.replicas[(ns, name)] = reps

    def endpoints_objects(self, objs):
        """EndpointSlices for the Services among objs whose selector names an echo Deployment."""
        out = []
        for o in objs:
            if o.get("kind") != "Service":
                continue
            sel = (o["spec"].get("selector") or {}).get("app")
            reps = self.replicas.get((o["metadata"]["namespace"], sel))
            if reps:
                out.append(self._slice_for(o, reps))
        return out

    def _apply_base(self):
        objs = load_yaml(os.path.join(self.dir, "base", "manifests.yaml"))
        idx = 1
        for o in objs:
            if o.get("kind") == "Deployment":
                self._start_deployment(o, idx)
                idx += 1
        pending = [self.rewrite(o) for o in objs if o.get("kind") in KINDS]
        pending += self.endpoints_objects(objs)
        # The suite's own Secrets and ConfigMaps, after the Namespaces and before the Gateways.
        pending += [tls_secret(ns, name, *self.certs[(ns, name)]) for ns, name, _ in SUITE_SECRETS]
        pending += [tls_secret(ns, name, *self.certs[(ns, name)]) for ns, name, _, _ in SUITE_CA_SIGNED]
        pending += [ca_configmap(ns, name, self.cas[(ns, name)]) for ns, name in SUITE_CAS]
        order = {"Namespace": 0, "Secret": 1, "ConfigMap": 1}
        for o in sorted(pending, key=lambda o: order.get(o["kind"], 2)):
            self.put_object(o)
        for gw in ("same-namespace", "same-namespace-with-https-listener", "all-namespaces", "backend-namespaces"):
            self.wait_gateway_programmed(gw, INFRA, timeout=20)

    def apply_test(self, fnames):
        """Applies the objects of one test's manifest file(s) (a name or a list of
        names, as upstream's ConformanceTest.Manifests)."""
        objs = []
        for fname in [fnames] if isinstance(fnames, str) else fnames:
            objs += load_yaml(os.path.join(self.dir, "tests", fname))
        # The test's own Deployments run while it does (after the base ones' addresses).
        for o in objs:
            if o.get("kind") == "Deployment":
                self._start_deployment(o, 200 + len(self.test_deployments))
                self.test_deployments.append((o["metadata"]["namespace"], o["metadata"]["name"]))
        pending = [self.rewrite(o) for o in objs if o.get("kind") in KINDS]
        pending += self.endpoints_objects(objs)
        order = {"Namespace": 0, "Service": 1, "EndpointSlice": 2, "ReferenceGrant": 3, "Gateway": 4}
        pending.sort(key=lambda o: order.get(o["kind"], 9))
        applied = []
        for o in pending:
            applied.append(self.put_object(o))
        self.applied = pending
        return applied

    def delete_test(self):
        for o in reversed(self.applied):
            self.delete(o)
        self.applied = []
        for key in self.test_deployments:
            for r in self.replicas.pop(key, []):
                r.stop()
        self.test_deployments = []

    # ---------------------------------------------------------------- status
    def wait_gateway_programmed(self, name, ns=INFRA, timeout=CONSISTENCY_TIMEOUT):
        def check():
            gw = self.get("Gateway", ns, name)
            if not gw:
                return False, "no such Gateway"
            conds = {c["type"]: c for c in gw.get("status", {}).get("conditions", [])}
            p = conds.get("Programmed", {})
            if p.get("status") != "True":
                return False, "Programmed=%s (%s)" % (p.get("status"), p.get("reason"))
            if STRICT_ADDRESSES and not gw.get("status", {}).get("addresses"):
                return False, "no status.addresses"
            return True, gw
        return poll(check, timeout, "Gateway %s/%s programmed" % (ns, name))

    def route(self, name, ns=INFRA):
        """The route of that name: an HTTPRoute, else a TLSRoute or TCPRoute (no
        upstream test has two kinds of route by one name)."""
        for kind in ("HTTPRoute", "TLSRoute", "TCPRoute"):
            r = self.get(kind, ns, name)
            if r:
                return r
        return None

    # ---------------------------------------------------------------- traffic
    def gw_addr(self, gw_name, orig_port=80):
        return self.gateway_ip(gw_name), self.map_port(orig_port)

    def request(self, addr, method="GET", path="/", host=None, headers=None, timeout=5.0):
        ip, port = addr
        c = http.client.HTTPConnection(ip, port, timeout=timeout)
        return self._exchange(c, ip, port, method, path, host, headers)

    @staticmethod
    def _exchange(c, ip, port, method, path, host, headers):
        try:
            c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            c.putheader("Host", host if host else "%s:%d" % (ip, port))
            for k, v in (headers or {}).items():
                c.putheader(k, v)
            c.putheader("User-Agent", "Go-http-client/1.1")
            if method in ("POST", "PUT", "PATCH"):
                c.putheader("Content-Length", "0")
            c.endheaders()
            r = c.getresponse()
            body = r.read() if method != "HEAD" else b""
            return Response(r.status, r.getheaders(), body)
        finally:
            c.close()

    def h2c_request(self, addr, method="GET", path="/", host=None, headers=None, timeout=5.0):
        """One request over a new HTTP/2 cleartext connection with prior knowledge
        (upstream's H2CPriorKnowledgeProtocol): :authority is host, or ip:port."""
        ip, port = addr
        hs = [(k.lower(), v) for k, v in (headers or {}).items()] + [("user-agent", "Go-http-client/2.0")]
        with H2Client.connect(port, host=ip, timeout=timeout) as c:
            sid = c.request(method, path, authority=host if host else "%s:%d" % (ip, port), headers=hs)
            try:
                st = c.response(sid, timeout)
            except AssertionError as e:  # timed out, or the connection closed
                raise ConnectionError("h2c: %s (GOAWAY %r)" % (e, c.goaway)) from None
        if st.reset is not None or st.status is None:
            raise ConnectionError("h2c stream %d reset by the gateway (error code %r)" % (sid, st.reset))
        return Response(st.status, [(k, v) for k, v in st.headers if not k.startswith(":")],
                        bytes(st.data) if method != "HEAD" else b"")

    def tls_request(self, addr, server, method="GET", path="/", host=None, headers=None, timeout=5.0,
                    secret=(INFRA, "tls-validity-checks-certificate"), client_cert=None, requested=None):
        """An HTTPS request with SNI server, verified like the upstream roundtripper:
        the chain against the CA that signed the Secret's certificate, the name
        against the leaf's SANs with Go's rules (one label per "*"). client_cert:
        the (namespace, name) of a suite Secret whose certificate to present when
        asked. requested (a list) gets True appended when the gateway asked for
        a client certificate (it sent a CertificateRequest: what upstream's
        GetClientCertificate hook notices), also when the request then fails."""
        ip, port = addr
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        ctx.check_hostname = False  # OpenSSL refuses "*.org"; Go's rules are applied below
        requested = [] if requested is None else requested
        if client_cert:
            ctx.load_cert_chain(*self.cert_files[client_cert])
        # (A private hook, but the only way Python shows the handshake's messages.)
        ctx._msg_callback = lambda conn, direction, version, ctype, mtype, data: requested.append(
            direction == "read" and mtype == ssl._TLSMessageType.CERTIFICATE_REQUEST)
        raw = socket.create_connection((ip, port), timeout=timeout)
        try:
            s = ctx.wrap_socket(raw, server_hostname=server)
        except BaseException:
            raw.close()
            raise
        try:
            cert = s.getpeercert()
            sans = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
            if not any(go_hostname_match(p, server) for p in sans):
                raise ssl.SSLCertVerificationError("certificate (SANs %s) is not valid for %s" % (sans, server))
            if crt_der(self.certs[secret][0]) != s.getpeercert(binary_form=True):
                raise ssl.SSLError("the gateway served another certificate than Secret %s/%s" % secret)
            c = http.client.HTTPConnection(ip, port, timeout=timeout)
            c.sock = s
            return self._exchange(c, ip, port, method, path, host, headers)
        finally:
            s.close()

    def replicas_of(self, ns, deployment):
        return self.replicas.get((ns, deployment), [])


def crt_der(pem):
    return ssl.PEM_cert_to_DER_cert(pem.decode())


def run_parallel(fns, workers=16):
    """Runs callables concurrently (the upstream cases run with t.Parallel());
    returns the list of failure messages."""
    errors = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
        futs = {ex.submit(f): name for name, f in fns}
        for fut in concurrent.futures.as_completed(futs):
            try:
                fut.result()
            except AssertionError as e:
                errors.append("%s: %s" % (futs[fut], e))
    return sorted(errors)

"""TLSRoute and TCPRoute conformance tests ported from the upstream suite
(conformance/tests/tlsroute-*.go and tcproute-*.go): passthrough by SNI to
TLS backends, TCP connections, hostname intersection, weights, attachment by
port and sectionName, and the routes' and listeners' status.

Registers its cases in cases.CASES. The helpers mirror conformance/utils:
tcp.MakeTCPRequestAndExpectEventuallyValidResponse (tcp_expect), tcp.EchoSendOnce
(echo_send_once), tls.MakeTLSConnectionAndExpectEventuallyConnectionRejection
(tls_rejected), tls.MakeTLSRequestAndExpectEventuallyConsistentResponse
(https_expect), kubernetes.GatewayAndTLSRoutesMustBeAccepted (routes_accepted).
The backends speak the upstream tcpserver's line protocol (echo.TCPEchoReplica).

The tests of TLS termination on a TLS listener (feature TLSRouteModeTerminate)
are in known_failures.txt: sluice passes TLS through only, and the upstream
suite skips them for an implementation that does not claim the feature.
"""

import http.client
import json
import socket
import ssl
import time

from cases import (Collector, case, gateway_listeners, gateway_zero_routes, no_accepted_parents, resolved_refs_true,
                   route_condition, route_parents, _route_parents_subset, weighted_distribution)
from cases_gateway import namespaces_ready
from harness import CONSECUTIVE, CONSISTENCY_TIMEOUT, INFRA, WEB, Failure, poll

WELCOME = b"Gateway API Test TCP Server\n"
ACCEPTED = [{"type": "Accepted", "status": "True", "reason": "Accepted"}]


def cond(t, status, reason=None):
    return {"type": t, "status": status, "reason": reason}


# ------------------------------------------------------------------ addresses and status
def listener_addr(h, gw, listener=None, ns=INFRA):
    """WaitForGatewayAddress: the Gateway's address and the (rewritten) port of the
    named listener, or of its first listener."""
    g = h.get("Gateway", ns, gw)
    if not g:
        raise Failure("no Gateway %s/%s" % (ns, gw))
    ls = g["spec"]["listeners"]
    l = next((l for l in ls if l["name"] == listener), None) if listener else ls[0]
    if not l:
        raise Failure("Gateway %s/%s has no listener %s" % (ns, gw, listener))
    return h.gateway_ip(gw), l["port"]


def routes_accepted(h, gw, routes, listener=None, ns=INFRA):
    """GatewayAndTLSRoutesMustBeAccepted (and its TCPRoute twin): the Gateway is
    programmed, every route has an Accepted parent for it. Returns the listener's
    address and the first route's hostnames."""
    h.wait_gateway_programmed(gw, ns)
    for r in routes:
        _route_parents_subset(h, r, ns, [dict(gw=gw, gw_ns=ns, section=listener, conds=ACCEPTED)])
    route = h.route(routes[0], ns) or {}
    return listener_addr(h, gw, listener, ns), route.get("spec", {}).get("hostnames") or []


def accepted_parent(gw, section=None, port=None):
    """An Accepted parent status for gw; its parentRef as the route wrote it
    (cases.route_parents compares sectionName and port too)."""
    return dict(gw=gw, gw_ns=INFRA, section=section, port=port, conds=ACCEPTED)


# ------------------------------------------------------------------ traffic
def _connect(h, addr, server_name=None, ca=None, timeout=5.0):
    raw = socket.create_connection(addr, timeout=timeout)
    if server_name is None:
        return raw
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cadata=h.cas[ca].cert_pem.decode())
    try:
        return ctx.wrap_socket(raw, server_hostname=server_name)
    except BaseException:
        raw.close()
        raise


def _line(f):
    line = f.readline()
    if not line.endswith(b"\n"):
        raise OSError("connection closed before a whole line (got %r)" % line)
    return line


def tcp_exchange(h, addr, server_name=None, ca=None):
    """One dial of WaitForValidTCPResponse: the welcome line, PING, IS_TLS and
    TEST. Returns (IS_TLS answer, TEST payload)."""
    s = _connect(h, addr, server_name, ca)
    try:
        f = s.makefile("rb")
        welcome = _line(f)
        if welcome != WELCOME:
            raise Failure("welcome message %r, want %r" % (welcome, WELCOME))
        s.sendall(b"PING\n")
        if _line(f) != b"PONG\n":
            raise Failure("PING not answered with PONG")
        s.sendall(b"IS_TLS\n")
        is_tls = _line(f).rstrip(b"\n").decode()
        s.sendall(b"TEST\n")
        return is_tls, json.loads(_line(f))
    finally:
        s.close()


def tcp_expect(h, addr, backend, ns=INFRA, server_name=None, ca=None, backend_tls=False, hostname=None):
    """MakeTCPRequestAndExpectEventuallyValidResponse: a fresh connection (over TLS
    with SNI server_name, verified against the CA ConfigMap ca, when given)
    eventually reaches a pod of backend in ns, which says whether it saw TLS and,
    when hostname is given, the server name it saw."""
    def check():
        try:
            is_tls, p = tcp_exchange(h, addr, server_name, ca)
        except (OSError, ValueError) as e:
            return False, "%s: %s" % (type(e).__name__, e)
        if is_tls != ("true" if backend_tls else "false"):
            return False, "IS_TLS answered %s" % is_tls
        if p.get("namespace") != ns or not p.get("pod", "").startswith(backend + "-"):
            return False, "reached %s/%s, want %s/%s-*" % (p.get("namespace"), p.get("pod"), ns, backend)
        if hostname and (p.get("tls") or {}).get("serverName") != hostname:
            return False, "the backend saw server name %r, want %r" % ((p.get("tls") or {}).get("serverName"), hostname)
        return True, None
    _consistently(check, "TCP %s:%d -> %s/%s" % (addr[0], addr[1], ns, backend))


def _consistently(check, what):
    streak = [0]

    def step():
        ok, why = check()
        streak[0] = streak[0] + 1 if ok else 0
        return streak[0] >= CONSECUTIVE, why
    poll(step, CONSISTENCY_TIMEOUT, what)


def echo_send_once(addr, timeout=5.0):
    """tcp.EchoSendOnce: the pod that answers TEST on a new connection."""
    with socket.create_connection(addr, timeout=timeout) as s:
        f = s.makefile("rb")
        welcome = _line(f)
        if welcome != WELCOME:
            raise Failure("welcome message %r" % welcome)
        s.sendall(b"TEST\n")
        pod = json.loads(_line(f)).get("pod")
        if not pod:
            raise Failure("the TEST answer has no pod")
        return pod


def tls_rejected(h, addr, server_name):
    """MakeTLSConnectionAndExpectEventuallyConnectionRejection: a TLS handshake with
    this SNI eventually fails (the gateway has no route for it and closes)."""
    def check():
        raw = socket.create_connection(addr, timeout=5.0)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            ctx.wrap_socket(raw, server_hostname=server_name).close()
        except (OSError, ssl.SSLError):
            return True, None
        finally:
            raw.close()
        return False, "the TLS handshake with SNI %s succeeded" % server_name
    _consistently(check, "TLS %s:%d with SNI %s rejected" % (addr[0], addr[1], server_name))


def https_expect(h, addr, server_name, backend, ns=INFRA, secret=(INFRA, "tls-checks-certificate"),
                 ca=(INFRA, "tls-checks-ca-certificate")):
    """MakeTLSRequestAndExpectEventuallyConsistentResponse: GET / with SNI and Host
    server_name, over TLS that the backend terminates with the certificate of the
    Secret (verified against its CA), eventually answered 200 by a pod of backend."""
    want_der = ssl.PEM_cert_to_DER_cert(h.certs[secret][0].decode())

    def check():
        try:
            s = _connect(h, addr, server_name, ca)
        except (OSError, ssl.SSLError) as e:
            return False, "%s: %s" % (type(e).__name__, e)
        try:
            if s.getpeercert(binary_form=True) != want_der:
                return False, "the certificate is not Secret %s/%s's" % secret
            c = http.client.HTTPConnection(*addr, timeout=5.0)
            c.sock = s
            c.request("GET", "/", headers={"Host": server_name})
            r = c.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException) as e:
            return False, "%s: %s" % (type(e).__name__, e)
        finally:
            s.close()
        if r.status != 200:
            return False, "status %d" % r.status
        echo = json.loads(body or b"{}")
        if echo.get("namespace") != ns or not echo.get("pod", "").startswith(backend + "-"):
            return False, "answered by %s/%s, want %s/%s-*" % (echo.get("namespace"), echo.get("pod"), ns, backend)
        return True, None
    _consistently(check, "HTTPS %s:%d SNI %s -> %s" % (addr[0], addr[1], server_name, backend))


# ------------------------------------------------------------------ TLSRoute
@case("tlsroute-simple-same-namespace", "TLSRoute")
def _tls_simple(h):
    namespaces_ready(h, [INFRA])
    addr, hostnames = routes_accepted(h, "gateway-tlsroute", ["gateway-conformance-infra-test"])
    if len(hostnames) != 1:
        raise Failure("found %d hostnames" % len(hostnames))
    tcp_expect(h, addr, "tcp-backend", server_name=hostnames[0], ca=(INFRA, "tls-checks-ca-certificate"),
               backend_tls=True, hostname=hostnames[0])


@case("tlsroute-hostname-intersection", "TLSRoute")
def _tls_hostname_intersection(h):
    namespaces_ready(h, [INFRA])
    c = Collector()
    groups = [
        ("gw-tlsroute-exact-hostname-x-1", ["tlsroute-more-specific-wc-hostname-x-1"], False, "non.matching.com"),
        ("gw-tlsroute-more-specific-wc-hostname-x-2",
         ["tlsroute-exact-hostname-x-2", "tlsroute-less-specific-wc-hostname-x-2"], True, "non.matching.com"),
        ("gw-tlsroute-less-specific-wc-hostname-x-3",
         ["tlsroute-exact-hostname-x-3", "tlsroute-more-specific-wc-hostname-x-3"], True, "non.matching.com"),
        ("gw-tlsroute-empty-hostname-x-4",
         ["tlsroute-exact-hostname-x-4", "tlsroute-less-specific-wc-hostname-x-4"], True, "non.matching.org"),
    ]
    for gw, routes, other, rejected in groups:
        def run(gw=gw, routes=routes, other=other, rejected=rejected):
            addr, _ = routes_accepted(h, gw, routes)
            for r in routes:
                resolved_refs_true(h, r, gw)
            https_expect(h, addr, "abc.example.com", "tls-backend")
            if other:
                https_expect(h, addr, "other.example.com", "tls-backend-2")
            tls_rejected(h, addr, rejected)
        c.step(gw, run)
    c.done()


def _invalid_backend(route, gw, reason):
    def run(h):
        namespaces_ready(h, [INFRA])
        addr, hostnames = routes_accepted(h, gw, [route])
        route_condition(h, route, gw, cond("ResolvedRefs", "False", reason))
        tls_rejected(h, addr, hostnames[0])
    return run


case("tlsroute-invalid-backendref-nonexistent", "TLSRoute")(
    _invalid_backend("invalid-backend-ref-nonexistent", "gateway-tlsroute-invalid-backend-ref-nonexistent",
                     "BackendNotFound"))
case("tlsroute-invalid-backendref-unknown-kind", "TLSRoute")(
    _invalid_backend("invalid-backend-ref-unknown-kind", "gateway-tlsroute-invalid-backend-ref-unknown-kind",
                     "InvalidKind"))


@case("tlsroute-invalid-reference-grant", "TLSRoute, ReferenceGrant")
def _tls_invalid_refgrant(h):
    gw, route = "gateway-tlsroute-referencegrant", "gateway-conformance-infra-test"
    routes_accepted(h, gw, [route])
    route_condition(h, route, gw, cond("ResolvedRefs", "False", "RefNotPermitted"))


@case("tlsroute-invalid-no-matching-listener-hostname", "TLSRoute")
def _tls_no_matching_hostname(h):
    namespaces_ready(h, [INFRA])
    c = Collector()
    not_accepted = cond("Accepted", "False", "NoMatchingListenerHostname")
    c.step("route 1", route_condition, h, "tlsroute-hostname-mismatch-1", "gateway-tls-exact-hostname", not_accepted)
    c.step("route 2", route_condition, h, "tlsroute-hostname-mismatch-2", "gateway-tls-wildcard-hostname", not_accepted)
    for r in ("tlsroute-hostname-mismatch-1", "tlsroute-hostname-mismatch-2"):
        c.step(r + " no parents", no_accepted_parents, h, r)
    for gw in ("gateway-tls-exact-hostname", "gateway-tls-wildcard-hostname"):
        c.step(gw + " zero routes", gateway_zero_routes, h, gw)
    c.done()


@case("tlsroute-invalid-no-matching-listener", "TLSRoute")
def _tls_no_matching_listener(h):
    namespaces_ready(h, [INFRA])
    c = Collector()
    not_allowed = cond("Accepted", "False", "NotAllowedByListeners")
    c.step("HTTP listener", route_condition, h, "tlsroute-not-allowed-protocol-http", "gateway-tlsroute-http-only",
           not_allowed)
    c.step("HTTPS listener", route_condition, h, "tlsroute-not-allowed-protocol-https", "gateway-tlsroute-https-only",
           not_allowed)
    c.step("no such sectionName", route_condition, h, "tlsroute-no-matching-section-name",
           "gateway-tlsroute-tls-passthrough-only", cond("Accepted", "False", "NoMatchingParent"))
    for r in ("tlsroute-not-allowed-protocol-http", "tlsroute-not-allowed-protocol-https",
              "tlsroute-no-matching-section-name"):
        c.step(r + " no parents", no_accepted_parents, h, r)
    for gw in ("gateway-tlsroute-http-only", "gateway-tlsroute-https-only"):
        c.step(gw + " zero routes", gateway_zero_routes, h, gw)
    c.done()


@case("tlsroute-listener-passthrough-supported-kinds", "TLSRoute")
def _tls_passthrough_kinds(h):
    gateway_listeners(h, "gateway-tlsroute-passthrough-supported-kind", [
        dict(name="tls-passthrough", kinds=["TLSRoute"], attached=0,
             conds=[cond("ResolvedRefs", "False", "InvalidRouteKinds")])])


@case("tlsroute-listener-terminate-not-supported", "TLSRoute")
def _tls_terminate_unsupported(h):
    gateway_listeners(h, "gateway-tlsroute-terminate-unsupported", [
        dict(name="tls-terminate", kinds=[], attached=0, conds=[cond("Accepted", "False", "UnsupportedValue")])])


# ------------------------------------------------------------------ TCPRoute
@case("tcproute-weighted-routing", "TCPRoute")
def _tcp_weighted(h):
    namespaces_ready(h, [INFRA])
    addr, _ = routes_accepted(h, "tcp-weighted-gateway", ["tcp-weighted-route"], listener="tcp")
    poll(lambda: (_try(echo_send_once, addr), "no TCP echo answer"), CONSISTENCY_TIMEOUT, "TCP echo on %s:%d" % addr)
    weighted_distribution(lambda: echo_send_once(addr),
                          {"tcp-backend-v1": 0.7, "tcp-backend-v2": 0.3, "tcp-backend-v3": 0.0}, "connections")


def _try(fn, *args):
    try:
        fn(*args)
        return True
    except (OSError, ValueError, AssertionError):
        return False


@case("tcproute-multiple-routes-attachment", "TCPRoute")
def _tcp_multiple_routes(h):
    gw, older, newer = "tcp-multi-route-attach-gateway", "tcproute-attach-older", "tcproute-attach-newer"
    namespaces_ready(h, [INFRA])
    addr, _ = routes_accepted(h, gw, [older], listener="tcp")
    time.sleep(1)  # (upstream: so the newer route is younger by a whole second)
    h.put_object(h.rewrite({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "TCPRoute",
        "metadata": {"name": newer, "namespace": INFRA},
        "spec": {"parentRefs": [{"name": gw, "sectionName": "tcp"}],
                 "rules": [{"backendRefs": [{"name": "tcp-attach-backend-2", "port": 3000}]}]}}))
    c = Collector()
    c.step("older accepted", route_condition, h, older, gw, ACCEPTED[0])
    c.step("newer accepted", route_condition, h, newer, gw, ACCEPTED[0])
    c.step("2 attached routes", gateway_listeners, h, gw, [
        dict(name="tcp", kinds=["TCPRoute"], attached=2, conds=[cond("Accepted", "True", "Accepted")])])

    def oldest_only():
        tcp_expect(h, addr, "tcp-attach-backend-1")
        for i in range(100):
            pod = echo_send_once(addr)
            if not pod.startswith("tcp-attach-backend-1-"):
                raise Failure("connection %d/100 reached %s; only the oldest route's backend may answer" % (i + 1, pod))
    c.step("only the oldest route", oldest_only)
    c.done()


@case("tcproute-parentref-attach-all", "TCPRoute")
def _tcp_attach_all(h):
    gw = "tcp-attach-all-gateway"
    namespaces_ready(h, [INFRA])
    c = Collector()
    c.step("accepted", route_parents, h, "tcp-route-attach-all", INFRA, [accepted_parent(gw)])
    for listener in ("one", "two", "three", "four"):
        c.step("listener " + listener, lambda l=listener: tcp_expect(h, listener_addr(h, gw, l), "tcp-echo-attach-all"))
    c.done()


@case("tcproute-parentref-port-and-section-name", "TCPRoute")
def _tcp_port_and_section(h):
    gw = "tcp-multi-listener-gateway"
    namespaces_ready(h, [INFRA])
    c = Collector()
    for route, listener, backend, ref in (("tcp-route-by-port", "one", "tcp-echo-one", (None, 9300)),
                                          ("tcp-route-by-section", "two", "tcp-echo-two", ("two", None)),
                                          ("tcp-route-by-section-and-port", "three", "tcp-echo-three", ("three", 9302))):
        def run(route=route, listener=listener, backend=backend, ref=ref):
            route_parents(h, route, INFRA, [accepted_parent(gw, *ref)])
            tcp_expect(h, listener_addr(h, gw, listener), backend)
        c.step(route, run)
    c.done()


@case("tcproute-reference-grant", "TCPRoute, ReferenceGrant")
def _tcp_refgrant(h):
    gw, route = "tcp-reference-grant-gateway", "tcp-reference-grant"
    namespaces_ready(h, [INFRA, WEB])
    addr, _ = routes_accepted(h, gw, [route], listener="tcp")
    tcp_expect(h, addr, "tcp-reference-grant-backend", ns=WEB)
    grant = h.get("ReferenceGrant", WEB, "tcp-reference-grant")
    if not grant:
        raise Failure("no ReferenceGrant %s/tcp-reference-grant" % WEB)
    h.delete(grant)
    route_condition(h, route, gw, cond("ResolvedRefs", "False", "RefNotPermitted"))


@case("tcproute-invalid-backendref-nonexistent", "TCPRoute")
def _tcp_nonexistent(h):
    namespaces_ready(h, [INFRA])
    route_condition(h, "tcp-route-invalid-backend-ref-nonexistent", "tcp-gateway-invalid-backend",
                    cond("ResolvedRefs", "False", "BackendNotFound"))


@case("tcproute-invalid-cross-namespace-backend-ref", "TCPRoute, ReferenceGrant")
def _tcp_cross_ns(h):
    gw, route = "tcp-invalid-cross-namespace-backend-ref-gateway", "tcp-invalid-cross-namespace-backend-ref"
    namespaces_ready(h, [INFRA, WEB])
    routes_accepted(h, gw, [route], listener="tcp")
    route_condition(h, route, gw, cond("ResolvedRefs", "False", "RefNotPermitted"))


@case("tcproute-invalid-non-tcp-listener", "TCPRoute")
def _tcp_non_tcp_listener(h):
    gw = "tcp-mixed-protocol-gateway"
    namespaces_ready(h, [INFRA])
    c = Collector()
    c.step("not allowed", route_condition, h, "tcp-route", gw, cond("Accepted", "False", "NotAllowedByListeners"))
    c.step("zero routes", gateway_zero_routes, h, gw)
    c.done()


# ------------------------------------------------------------------ TLS termination on TLS listeners
# (feature TLSRouteModeTerminate, not claimed: these are in known_failures.txt)
@case("tlsroute-listener-terminate-supported-kinds", "TLSRoute, TLSRouteModeTerminate")
def _tls_terminate_kinds(h):
    gateway_listeners(h, "gateway-tlsroute-terminate-supported", [
        dict(name="tls-terminate", kinds=["TLSRoute"], attached=0, conds=[cond("Accepted", "True", "Accepted")])])


@case("tlsroute-listener-mixed-termination-not-supported", "TLSRoute, TLSRouteModeTerminate")
def _tls_mixed_unsupported(h):
    conflict = [cond("Accepted", "False", "ProtocolConflict")]
    gateway_listeners(h, "gateway-tlsroute-mixed-termination-not-supported", [
        dict(name="tls-terminate", kinds=[], attached=0, conds=conflict),
        dict(name="tls-passthrough", kinds=[], attached=0, conds=conflict)])


@case("tlsroute-terminate-simple-same-namespace", "TLSRoute, TLSRouteModeTerminate")
def _tls_terminate_simple(h):
    namespaces_ready(h, [INFRA])
    addr, hostnames = routes_accepted(h, "gateway-tlsroute-terminate", ["tlsroute-terminated-test"])
    tcp_expect(h, addr, "tcp-backend", server_name=hostnames[0], ca=(INFRA, "tls-checks-ca-certificate"))


@case("tlsroute-mixed-termination-same-namespace", "TLSRoute, TLSRouteModeTerminate, TLSRouteModeMixed")
def _tls_mixed(h):
    gw = "gateway-tlsroute-mixed-termination"
    namespaces_ready(h, [INFRA])
    addr, passthrough = routes_accepted(h, gw, ["gateway-conformance-mixed-passthroughroute"])
    ok = [cond("Accepted", "True", "Accepted")]
    gateway_listeners(h, gw, [dict(name="tls-terminate", kinds=["TLSRoute"], attached=1, conds=ok),
                              dict(name="tls-passthrough", kinds=["TLSRoute"], attached=1, conds=ok)])
    _, terminate = routes_accepted(h, gw, ["gateway-conformance-mixed-terminateroute"])
    ca = (INFRA, "tls-checks-ca-certificate")
    tcp_expect(h, addr, "tcp-backend", server_name=terminate[0], ca=ca)
    tcp_expect(h, addr, "tcp-backend", server_name=passthrough[0], ca=ca, backend_tls=True, hostname=passthrough[0])

"""Per-test expectations ported from the upstream Gateway API conformance suite
(conformance/tests/httproute-*.go, v1.x): what each test sends, which backend
(namespace / pod prefix) must answer, the request the backend must see, the
response headers, the redirect target, and the route / Gateway status.

Every upstream HTTPRoute test file has one entry in CASES: name -> Case(manifest(s),
features, run); cases_gateway.py adds the Gateway tests that run.
run(h) raises AssertionError (with every failing sub-case listed) on failure.
Request semantics follow conformance/utils/http: the backend must see the
request's path, method and headers unless an expected request is given; a
Host header check happens only when one is expected; the echo body gives the
namespace and pod (pod name prefix = Deployment); 3xx answers are checked
against the Location header (host, port, scheme, path).
"""

import math
import re
import ssl
import threading
import time
import urllib.parse
import uuid as uuidlib

from harness import (APP, CONSECUTIVE, CONSISTENCY_TIMEOUT, CONTROLLER, GW_GROUP, INFRA, WEB, Failure,
                     crt_der, poll, run_parallel)

CASES = {}


class Case:
    def __init__(self, name, manifest, features, run):
        self.name, self.manifest, self.features, self.run = name, manifest, features, run


def case(name, features="core", manifest=None):
    def deco(fn):
        CASES[name] = Case(name, manifest or (name + ".yaml"), features, fn)
        return fn
    return deco


# ------------------------------------------------------------------ requests
def T(path="/", backend=None, ns=None, status=200, method="GET", host=None, headers=None,
      exp=None, resp_headers=None, resp_absent=None, valid=None, ignore_ws=False, redirect=None,
      backend_set=None, name=None, gw=None, tls=None, h2c=False, sni=None, peer_cert=None, client_cert=None):
    """One upstream ExpectedResponse. exp: dict(path, host, headers, absent, method) of
    the request the backend must see (default: the request itself). tls: send it over
    TLS with this server name (SNI), as upstream's MakeTLSRequest... does. h2c: send it
    over HTTP/2 cleartext with prior knowledge (upstream's H2CPriorKnowledgeProtocol),
    and require that the backend got it over HTTP/2 too (the echo's proto).
    sni: the server name the (TLS) backend must have seen from the gateway
    (ExpectedRequest.SNI); peer_cert: the (namespace, Secret) whose certificate
    the backend must have seen the gateway present (ExpectedRequest.ClientCert).
    client_cert: the (namespace, Secret) whose certificate the client presents
    when the gateway asks; the gateway must ask (upstream: "client certificate
    was not presented during the handshake")."""
    if backend is not None and ns is None:
        ns = INFRA
    return dict(path=path, backend=backend or "", ns=ns or "", status=status, method=method, host=host,
                headers=headers or {}, exp=exp, resp_headers=resp_headers, resp_absent=resp_absent or [],
                valid=valid or {}, ignore_ws=ignore_ws, redirect=redirect, backend_set=backend_set or {},
                name=name, gw=gw, tls=tls, h2c=h2c, sni=sni, peer_cert=peer_cert, client_cert=client_cert)


def describe(tc):
    if tc["name"]:
        return tc["name"]
    s = "%s %s%s" % (tc["method"], tc["host"] or "", tc["path"])
    if tc["tls"]:
        s = "[sni %s] %s" % (tc["tls"], s)
    if tc["h2c"]:
        s = "[h2c] " + s
    if tc["headers"]:
        s += " %s" % tc["headers"]
    return s + (" -> %s" % tc["backend"] if tc["backend"] else " -> %d" % (tc["status"] if isinstance(tc["status"], int) else tc["status"][0]))


def compare(h, addr, tc, resp):
    """Mirrors CompareRequest of the upstream suite; returns an error string or None."""
    statuses = tc["status"] if isinstance(tc["status"], (list, tuple)) else [tc["status"]]
    if tc["client_cert"] and not getattr(resp, "cert_requested", False):
        return "the gateway did not ask for the client certificate"
    if resp.status not in statuses:
        return "expected status %s, got %d (%s)" % (statuses, resp.status, resp.body[:120])
    echo = resp.echo or {}
    if resp.status == 200:
        exp = tc["exp"]
        if exp is None:
            exp = dict(path=tc["path"], host=tc["host"], headers=tc["headers"], absent=[])
        e_method = tc["method"] if tc["exp"] is None else (exp.get("method") or "GET")
        if exp.get("host") and exp["host"] != echo.get("host", ""):
            return "expected host %r, got %r" % (exp["host"], echo.get("host"))
        if exp.get("path", "") != echo.get("path", ""):
            return "expected path %r, got %r" % (exp.get("path", ""), echo.get("path"))
        if e_method != echo.get("method", ""):
            if not (echo == {} and tc["exp"] is not None):
                return "expected method %r, got %r" % (e_method, echo.get("method"))
        if tc["ns"] != echo.get("namespace", ""):
            return "expected namespace %r, got %r" % (tc["ns"], echo.get("namespace", ""))
        if tc["h2c"] and echo.get("proto") != "HTTP/2.0":
            return "expected the backend to see HTTP/2.0, it saw %r" % echo.get("proto")
        seen = {k.lower(): v for k, v in (echo.get("headers") or {}).items()}
        for k, v in (exp.get("headers") or {}).items():
            if k.lower() not in seen:
                return "backend did not see header %s (saw %s)" % (k, sorted(seen))
            if ",".join(seen[k.lower()]) != v:
                return "backend saw %s: %r, expected %r" % (k, ",".join(seen[k.lower()]), v)
        for k in exp.get("absent") or []:
            if k.lower() in seen:
                return "backend saw header %s: %r, expected it absent" % (k, seen[k.lower()])
        got = {}
        for k, v in resp.headers:
            got.setdefault(k.lower(), []).append(v)
        for k, v in (tc["resp_headers"] or {}).items():
            if k.lower() not in got:
                return "response lacks header %s" % k
            if ",".join(got[k.lower()]) != v:
                return "response header %s: %r, expected %r" % (k, ",".join(got[k.lower()]), v)
        for k, alts in tc["valid"].items():
            if k.lower() not in got:
                return "response lacks header %s" % k
            val = ",".join(got[k.lower()])
            norm = (lambda s: re.sub(r"\s+", "", s)) if tc["ignore_ws"] else (lambda s: s)
            if norm(val) not in [norm(a) for a in alts]:
                return "response header %s: %r, expected one of %r" % (k, val, alts)
        for k in tc["resp_absent"]:
            if k.lower() in got:
                return "response header %s present (%r), expected absent" % (k, got[k.lower()])
        if not echo.get("pod", "").startswith(tc["backend"]):
            return "expected pod %s*, got %r" % (tc["backend"], echo.get("pod", ""))
        if tc["sni"] and (echo.get("tls") or {}).get("serverName") != tc["sni"]:
            return "expected the backend to see SNI %r, it saw %r" % (tc["sni"], echo.get("tls"))
        if tc["peer_cert"]:
            want = crt_der(h.certs[tc["peer_cert"]][0])
            seen = [ssl.PEM_cert_to_DER_cert(p) for p in (echo.get("tls") or {}).get("peerCertificates") or []]
            if want not in seen:
                return "expected the backend to see the client certificate of Secret %s/%s" % tc["peer_cert"]
    elif 300 <= resp.status < 400 and tc["redirect"] is not None:
        loc = dict((k.lower(), v) for k, v in resp.headers).get("location", "")
        u = urllib.parse.urlsplit(loc)
        r = tc["redirect"]
        if r.get("host") and r["host"] != (u.hostname or ""):
            return "redirect host %r, expected %r (Location %r)" % (u.hostname, r["host"], loc)
        scheme = u.scheme or "http"
        port = str(u.port) if u.port else ""
        want_port = r.get("port")
        if isinstance(want_port, str) and want_port.startswith("@"):
            want_port = str(h.map_port(int(want_port[1:])))  # the (remapped) listener port
        if want_port is None:
            if scheme == "http" and port not in ("", "80"):
                return "redirect port %r, expected 80 or none (Location %r)" % (port, loc)
            if scheme == "https" and port not in ("", "443"):
                return "redirect port %r, expected 443 or none (Location %r)" % (port, loc)
        elif want_port != port:
            return "redirect port %r, expected %r (Location %r)" % (port, want_port, loc)
        if (r.get("scheme") or "http") != scheme:
            return "redirect scheme %r, expected %r (Location %r)" % (scheme, r.get("scheme") or "http", loc)
        want_path = r.get("path") or urllib.parse.urlsplit(tc["path"]).path
        if want_path != u.path:
            return "redirect path %r, expected %r (Location %r)" % (u.path, want_path, loc)
    return None


def send(h, addr, tc):
    headers = dict(tc["headers"])
    headers["X-Echo-Set-Header"] = ",".join("%s:%s" % kv for kv in tc["backend_set"].items())
    if tc["tls"]:
        requested = []
        resp = h.tls_request(addr, tc["tls"], tc["method"], tc["path"], tc["host"], headers,
                             client_cert=tc["client_cert"], requested=requested)
        resp.cert_requested = any(requested)
        return resp
    if tc["h2c"]:
        return h.h2c_request(addr, tc["method"], tc["path"], tc["host"], headers)
    return h.request(addr, tc["method"], tc["path"], tc["host"], headers)


def eventually(h, addr, tc, timeout=None):
    """MakeRequestAndExpectEventuallyConsistentResponse: CONSECUTIVE successes in a row."""
    state = {"ok": 0}

    def once():
        try:
            resp = send(h, addr, tc)
        except ssl.SSLError as e:  # an OSError: handshake failures are retried like refused connections
            return False, "TLS: %s" % e
        err = compare(h, addr, tc, resp)
        if err:
            state["ok"] = 0
            return False, err
        state["ok"] += 1
        return state["ok"] >= CONSECUTIVE, "only %d consecutive successes" % state["ok"]
    poll(once, timeout or CONSISTENCY_TIMEOUT, describe(tc), interval=0.15)


def run_cases(h, addr, cases, prefix=""):
    errs = run_parallel([(prefix + describe(tc), (lambda tc=tc: eventually(h, tc.get("gw") or addr, tc))) for tc in cases])
    if errs:
        raise Failure("%d/%d request cases failed:\n  " % (len(errs), len(cases)) + "\n  ".join(errs))


# ------------------------------------------------------------------ status
def _defaults(pr, route_ns):
    return (pr.get("group", GW_GROUP) or GW_GROUP, pr.get("kind", "Gateway"), pr.get("name"))


def _cond_ok(conds, want):
    for w in want:
        c = next((c for c in conds if c.get("type") == w["type"]), None)
        if not c or c.get("status") != w["status"] or (w.get("reason") and c.get("reason") != w["reason"]):
            return False, "condition %s: want %s/%s, have %s" % (
                w["type"], w["status"], w.get("reason") or "*", c and (c.get("status"), c.get("reason")))
    return True, None


def route_parents(h, route, ns, expected, namespace_required=False, timeout=None):
    """HTTPRouteMustHaveParents: expected is a list of dict(gw, gw_ns, section, port, ns_set, conds).
    parentRef group/kind are compared with the API defaults applied (CRD defaulting)."""
    def check():
        r = h.route(route, ns)
        if not r:
            return False, "route %s/%s missing" % (ns, route)
        parents = r.get("status", {}).get("parents", [])
        if len(parents) != len(expected):
            return False, "expected %d parents, got %d: %s" % (len(expected), len(parents), parents)
        for e in expected:
            found = None
            for p in parents:
                pr = p.get("parentRef", {})
                if _defaults(pr, ns) != (GW_GROUP, "Gateway", e["gw"]):
                    continue
                pns = pr.get("namespace")
                if namespace_required or pns is not None:
                    want_ns = e["gw_ns"] if e.get("ns_set", True) else None
                    if pns != want_ns and not (not namespace_required and pns == e["gw_ns"]):
                        continue
                if pr.get("sectionName") != e.get("section") or pr.get("port") != e.get("port"):
                    continue
                if p.get("controllerName") != CONTROLLER:
                    return False, "controllerName %r" % p.get("controllerName")
                ok, why = _cond_ok(p.get("conditions", []), e["conds"])
                if not ok:
                    return False, "parent %s: %s" % (e["gw"], why)
                found = p
            if not found:
                return False, "no parent status matching %s in %s" % (e, parents)
        return True, None
    poll(check, timeout or CONSISTENCY_TIMEOUT, "HTTPRoute %s/%s parents" % (ns, route))


ACCEPTED = [{"type": "Accepted", "status": "True"}]


def accepted(h, gw, routes, gw_ns=INFRA, listeners=None, route_ns=INFRA):
    """GatewayAndHTTPRoutesMustBeAccepted: the Gateway is programmed, each route has an
    Accepted parent per (listener of the) Gateway. Returns the Gateway address (port 80)."""
    h.wait_gateway_programmed(gw, gw_ns)
    for r in routes:
        exp = [dict(gw=gw, gw_ns=gw_ns, section=l, conds=ACCEPTED) for l in (listeners or [None])]
        _route_parents_subset(h, r, route_ns, exp)
    return h.gw_addr(gw)


def _route_parents_subset(h, route, ns, expected):
    """Like route_parents but only the parents naming this Gateway are compared."""
    def check():
        r = h.route(route, ns)
        if not r:
            return False, "route %s/%s missing" % (ns, route)
        parents = r.get("status", {}).get("parents", [])
        for e in expected:
            # Like HTTPRouteMustHaveCondition: parents are found by Gateway name; a
            # listener's sectionName is preferred when the route names it.
            mine = [p for p in parents if _defaults(p.get("parentRef", {}), ns)[2] == e["gw"]]
            exact = [p for p in mine if p.get("parentRef", {}).get("sectionName") == e.get("section")]
            mine = exact or mine
            if not mine:
                return False, "no parent status for %s (section %s): %s" % (e["gw"], e.get("section"), parents)
            ok, why = _cond_ok(mine[0].get("conditions", []), e["conds"])
            if not ok:
                return False, "parent %s: %s" % (e["gw"], why)
            if mine[0].get("controllerName") != CONTROLLER:
                return False, "controllerName %r" % mine[0].get("controllerName")
        return True, None
    poll(check, CONSISTENCY_TIMEOUT, "HTTPRoute %s/%s accepted" % (ns, route))


def route_condition(h, route, gw, cond, route_ns=INFRA, gw_ns=INFRA):
    """HTTPRouteMustHaveCondition: the parent status for gw has this condition."""
    _route_parents_subset(h, route, route_ns, [dict(gw=gw, gw_ns=gw_ns, conds=[cond])])


def resolved_refs_true(h, route, gw, route_ns=INFRA):
    route_condition(h, route, gw, {"type": "ResolvedRefs", "status": "True"}, route_ns)


def no_accepted_parents(h, route, ns=INFRA):
    """HTTPRouteMustHaveNoAcceptedParents."""
    def check():
        r = h.route(route, ns)
        parents = (r or {}).get("status", {}).get("parents", [])
        for p in parents:
            for c in p.get("conditions", []):
                if c.get("type") == "Accepted" and c.get("status") == "True":
                    return False, "parent %s is Accepted" % p.get("parentRef")
        return True, None
    poll(check, CONSISTENCY_TIMEOUT, "HTTPRoute %s/%s has no accepted parents" % (ns, route))


def gateway_zero_routes(h, gw, ns=INFRA):
    def check():
        g = h.get("Gateway", ns, gw)
        ls = (g or {}).get("status", {}).get("listeners", [])
        bad = [(l.get("name"), l.get("attachedRoutes")) for l in ls if l.get("attachedRoutes", 0) != 0]
        return not bad, "listeners with routes attached: %s" % bad
    poll(check, CONSISTENCY_TIMEOUT, "Gateway %s/%s has 0 routes" % (ns, gw))


def stale_conditions(obj, conds):
    """ConditionsHaveLatestObservedGeneration: the conditions whose observedGeneration
    is not the object's generation, as (type, observedGeneration) pairs."""
    gen = obj.get("metadata", {}).get("generation")
    return [(c.get("type"), c.get("observedGeneration")) for c in conds if c.get("observedGeneration") != gen]


def gateway_listeners(h, gw, want, ns=INFRA):
    """GatewayStatusMustHaveListeners: the Gateway's conditions are at its latest
    generation, and status.listeners has exactly the listeners of want, each with
    its supportedKinds ("kinds", default [HTTPRoute]: these must be there, an
    implementation may support more; an empty list means none at all), its
    conditions (a reason of None matches any) and attachedRoutes."""
    def check():
        g = h.get("Gateway", ns, gw)
        if not g:
            return False, "no such Gateway"
        stale = stale_conditions(g, g.get("status", {}).get("conditions", []))
        if stale:
            return False, "Gateway conditions not at generation %s: %s" % (g["metadata"].get("generation"), stale)
        ls = {l.get("name"): l for l in g.get("status", {}).get("listeners", [])}
        if len(ls) != len(want):
            return False, "expected %d listeners in status, got %s" % (len(want), list(ls))
        for w in want:
            l = ls.get(w["name"])
            if not l:
                return False, "no status for listener %s" % w["name"]
            kinds = [(k.get("group") or GW_GROUP, k.get("kind")) for k in l.get("supportedKinds") or []]
            wkinds = w.get("kinds", ["HTTPRoute"])
            if not wkinds and kinds:
                return False, "listener %s supportedKinds %s, expected none" % (w["name"], kinds)
            missing = [k for k in wkinds if (GW_GROUP, k) not in kinds]
            if missing:
                return False, "listener %s supportedKinds %s lacks %s" % (w["name"], kinds, missing)
            if l.get("attachedRoutes") != w["attached"]:
                return False, "listener %s attachedRoutes %s, expected %s" % (w["name"], l.get("attachedRoutes"), w["attached"])
            ok, why = _cond_ok(l.get("conditions", []), w["conds"])
            if not ok:
                return False, "listener %s: %s" % (w["name"], why)
        return True, None
    poll(check, CONSISTENCY_TIMEOUT, "Gateway %s/%s listener status" % (ns, gw))


class Collector:
    """Runs every step of a test and reports all failures together (upstream's t.Run)."""

    def __init__(self):
        self.errors = []

    def step(self, name, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except AssertionError as e:
            self.errors.append("[%s] %s" % (name, e))
            return None

    def done(self):
        if self.errors:
            raise Failure("\n".join(self.errors))


SAME = "same-namespace"
HTTPS_GW = "same-namespace-with-https-listener"


def simple(route, cases, gw=SAME, resolved=True, routes=None):
    """The common shape: Gateway and route(s) accepted, ResolvedRefs true, then requests."""
    def run(h):
        rs = routes or [route]
        addr = accepted(h, gw, rs)
        if resolved:
            for r in rs:
                resolved_refs_true(h, r, gw)
        run_cases(h, addr, cases)
    return run


# ================================================================== the tests
V1, V2, V3 = "infra-backend-v1", "infra-backend-v2", "infra-backend-v3"

case("httproute-simple-same-namespace")(simple("gateway-conformance-infra-test", [T("/", V1)]))

case("httproute-exact-path-matching")(simple("exact-matching", [
    T("/one", V1), T("/two", V2), T("/", status=404), T("/one/example", status=404), T("/two/", status=404)]))

case("httproute-header-matching")(simple("header-matching", [
    T("/", V1, headers={"Version": "one"}), T("/", V2, headers={"Version": "two"}),
    T("/", V1, headers={"Version": "two", "Color": "orange"}), T("/", V2, headers={"Version": "two", "Color": "blue"}),
    T("/", status=404, headers={"Color": "orange"}), T("/", status=404, headers={"Some-Other-Header": "one"}),
    T("/", V1, headers={"Color": "blue"}), T("/", V1, headers={"Color": "green"}),
    T("/", V2, headers={"Color": "red"}), T("/", V2, headers={"Color": "yellow"}),
    T("/", status=404, headers={"Color": "purple"})]))

case("httproute-query-param-matching", "extended")(simple("query-param-matching", [
    T("/?animal=whale", V1), T("/?animal=dolphin", V2), T("/?animal=dolphin&color=blue", V3),
    T("/?ANIMAL=Whale", V3), T("/?animal=whale&otherparam=irrelevant", V1), T("/?animal=dolphin&color=yellow", V2),
    T("/?color=blue", status=404), T("/?animal=dog", status=404), T("/?animal=whaledolphin", status=404),
    T("/", status=404), T("/path1?animal=whale", V1), T("/?animal=whale", V2, headers={"version": "one"}),
    T("/path2?animal=whale", V3, headers={"version": "two"}), T("/path3?animal=shark", V1),
    T("/path4?animal=kraken", V1, headers={"version": "three"}), T("/?animal=shark", status=404),
    T("/path4?animal=kraken", status=404), T("/path5?animal=hydra", V1),
    T("/?animal=hydra", V3, headers={"version": "four"})]))

case("httproute-method-matching", "extended")(simple("method-matching", [
    T("/", V1, method="POST"), T("/", V2, method="GET"), T("/", status=404, method="HEAD"),
    T("/path1", V1, method="GET"), T("/", V2, method="PUT", headers={"version": "one"}),
    T("/path2", V3, method="POST", headers={"version": "two"}), T("/path3", V1, method="PATCH"),
    T("/path4", V1, method="DELETE", headers={"version": "three"}), T("/", status=404, method="PUT"),
    T("/path4", status=404, method="DELETE"), T("/path5", V1, method="PATCH"),
    T("/", V2, method="PATCH", headers={"version": "four"})]))

case("httproute-matching")(simple("matching", [
    T("/", V1), T("/example", V1), T("/", V1, headers={"Version": "one"}), T("/v2", V2), T("/v2/example", V2),
    T("/", V2, headers={"Version": "two"})], resolved=False))

case("httproute-matching-across-routes")(simple(None, [
    T("/", V1, host="example.com"), T("/example", V1, host="example.com"), T("/example", V1, host="example.net"),
    T("/example", V1, host="example.com", headers={"Version": "one"}), T("/v2", V2, host="example.com"),
    T("/v2", V1, host="example.net"), T("/v2/example", V2, host="example.com"),
    T("/", V2, host="example.com", headers={"Version": "two"})], routes=["matching-part1", "matching-part2"]))

case("httproute-path-match-order")(simple("path-matching-order", [
    T("/match/exact/one", V3), T("/match/exact", V2), T("/match", V1), T("/match/prefix/one/any", V2),
    T("/match/prefix/any", V1), T("/match/any", V3)]))

case("httproute-named-rule")(simple("http-named-rules", [T("/named", V1), T("/unnamed", V2)]))


@case("httproute-cross-namespace")
def _cross_ns(h):
    addr = accepted(h, "backend-namespaces", ["cross-namespace"], route_ns=WEB)
    resolved_refs_true(h, "cross-namespace", "backend-namespaces", route_ns=WEB)
    run_cases(h, addr, [T("/", "web-backend", ns=WEB)])


@case("httproute-reference-grant")
def _refgrant(h):
    addr = accepted(h, SAME, ["reference-grant"])
    resolved_refs_true(h, "reference-grant", SAME)
    run_cases(h, addr, [T("/", "web-backend", ns=WEB)])


@case("httproute-multiple-gateways")
def _multi_gw(h):
    c = Collector()
    a1 = c.step("same-namespace", accepted, h, SAME, ["multiple-gateways-shared-route", "same-namespace-dedicated-route"])
    a2 = c.step("all-namespaces", accepted, h, "all-namespaces", ["multiple-gateways-shared-route", "all-namespaces-dedicated-route"])
    a1, a2 = h.gw_addr(SAME), h.gw_addr("all-namespaces")
    c.step("requests", run_cases, h, a1, [T("/shared", V1, gw=a1), T("/", V2, gw=a1), T("/shared", V1, gw=a2), T("/", V3, gw=a2)])
    c.done()


@case("httproute-hostname-intersection")
def _hostname_intersection(h):
    c = Collector()
    gw = "httproute-hostname-intersection"
    routes = ["specific-host-matches-listener-specific-host", "specific-host-matches-listener-wildcard-host",
              "wildcard-host-matches-listener-specific-host", "wildcard-host-matches-listener-wildcard-host"]
    c.step("routes accepted", accepted, h, gw, routes)
    for r in routes:
        c.step("resolvedRefs " + r, resolved_refs_true, h, r, gw)
    addr = h.gw_addr(gw)
    c.step("intersecting", run_cases, h, addr, [
        T("/s1", V1, host="very.specific.com"), T("/s1", V1, host="very.specific.com:1234"),
        T("/s1", status=404, host="non.matching.com"), T("/s1", status=404, host="foo.nonmatchingwildcard.io"),
        T("/s1", status=404, host="foo.wildcard.io"), T("/non-matching-prefix", status=404, host="very.specific.com"),
        T("/s2", V2, host="foo.wildcard.io"), T("/s2", V2, host="bar.wildcard.io"), T("/s2", V2, host="foo.bar.wildcard.io"),
        T("/s2", status=404, host="non.matching.com"), T("/s2", status=404, host="wildcard.io"),
        T("/s2", status=404, host="very.specific.com"), T("/non-matching-prefix", status=404, host="foo.wildcard.io"),
        T("/s3", V3, host="very.specific.com"), T("/s3", status=404, host="non.matching.com"),
        T("/s3", status=404, host="foo.specific.com"), T("/s3", status=404, host="foo.wildcard.io"),
        T("/non-matching-prefix", status=404, host="very.specific.com"),
        T("/s4", V1, host="foo.anotherwildcard.io"), T("/s4", V1, host="bar.anotherwildcard.io"),
        T("/s4", V1, host="foo.bar.anotherwildcard.io"), T("/s4", status=404, host="anotherwildcard.io"),
        T("/s4", status=404, host="foo.wildcard.io"), T("/s4", status=404, host="very.specific.com"),
        T("/non-matching-prefix", status=404, host="foo.anotherwildcard.io")])
    c.step("no-intersecting-hosts status", route_parents, h, "no-intersecting-hosts", INFRA, [dict(
        gw=gw, gw_ns=INFRA, conds=[{"type": "Accepted", "status": "False", "reason": "NoMatchingListenerHostname"}])],
        namespace_required=True)
    c.step("not intersecting", run_cases, h, addr, [T("/s5", status=404, host="specific.but.wrong.com"),
                                                  T("/s5", status=404, host="wildcard.io")])
    lconds = [{"type": "Accepted", "status": "True"}, {"type": "ResolvedRefs", "status": "True"}]
    c.step("attachedRoutes", gateway_listeners, h, gw, [
        dict(name="listener-1", conds=lconds, attached=2), dict(name="listener-2", conds=lconds, attached=1),
        dict(name="listener-3", conds=lconds, attached=1)])
    gw2 = "httproute-hostname-intersection-all"
    c.step("unspecified-hostname listener accepted", accepted, h, gw2, [gw2])
    c.step("unspecified-hostname resolvedRefs", resolved_refs_true, h, gw2, gw2)
    a2 = h.gw_addr(gw2)
    c.step("unspecified-hostname listener", run_cases, h, a2, [
        T("/", V2, host="first.com"), T("/", V2, host="sub.first.com"), T("/", V2, host="second.com"),
        T("/", V2, host="sub.second.com"), T("/", status=404, host="third.com"), T("/", status=404, host="sub.third.com")])
    c.done()


@case("httproute-listener-hostname-matching")
def _listener_hostname(h):
    c = Collector()
    gw = "httproute-listener-hostname-matching"
    for route, ls in (("backend-v1", ["listener-1"]), ("backend-v2", ["listener-2"]), ("backend-v3", ["listener-3", "listener-4"])):
        c.step("accepted " + route, accepted, h, gw, [route], listeners=ls)
        c.step("resolvedRefs " + route, resolved_refs_true, h, route, gw)
    c.step("requests", run_cases, h, h.gw_addr(gw), [
        T("/", V1, host="bar.com"), T("/", V2, host="foo.bar.com"), T("/", V3, host="baz.bar.com"),
        T("/", V3, host="boo.bar.com"), T("/", V3, host="multiple.prefixes.bar.com"),
        T("/", V3, host="multiple.prefixes.foo.com"), T("/", status=404, host="foo.com"),
        T("/", status=404, host="no.matching.host")])
    c.done()


@case("httproute-listener-port-matching", "extended")
def _listener_port(h):
    c = Collector()
    gw = "httproute-listener-port-matching"
    for route, ls in (("backend-v1", ["listener-1"]), ("backend-v2", ["listener-2"]), ("backend-v3", ["listener-4"])):
        c.step("accepted " + route, accepted, h, gw, [route], listeners=ls)
        c.step("resolvedRefs " + route, resolved_refs_true, h, route, gw)
    a80, a8080, a8090 = h.gw_addr(gw, 80), h.gw_addr(gw, 8080), h.gw_addr(gw, 8090)
    c.step("requests", run_cases, h, a80, [
        T("/", V1, host="foo.com", gw=a80), T("/", V2, host="foo.com:8080", gw=a8080),
        T("/", V2, host="bar.com:8080", gw=a8080), T("/", V3, host="foo.com:8090", gw=a8090),
        T("/", status=404, host="bar.com:8090", gw=a8090)])
    c.done()


@case("httproute-disallowed-kind")
def _disallowed_kind(h):
    c = Collector()
    r, gw = "disallowed-kind", "tlsroutes-only"
    c.step("resolvedRefs", resolved_refs_true, h, r, gw)
    c.step("Accepted=False NotAllowedByListeners", route_condition, h, r, gw,
           {"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners"})
    c.step("no accepted parents", no_accepted_parents, h, r)
    c.step("0 routes attached", gateway_zero_routes, h, gw)
    c.done()


def _invalid_parent(route, gw, reason, route_ns=INFRA, resolved=True):
    def run(h):
        c = Collector()
        if resolved:
            c.step("resolvedRefs", resolved_refs_true, h, route, gw, route_ns=route_ns)
        c.step("Accepted=False " + reason, route_condition, h, route, gw,
               {"type": "Accepted", "status": "False", "reason": reason}, route_ns=route_ns)
        c.step("no accepted parents", no_accepted_parents, h, route, route_ns)
        c.step("0 routes attached", gateway_zero_routes, h, gw)
        c.done()
    return run


case("httproute-invalid-cross-namespace-parent-ref")(_invalid_parent(
    "invalid-cross-namespace-parent-ref", SAME, "NotAllowedByListeners", route_ns=WEB))
case("httproute-invalid-parentref-not-matching-listener-port", "extended")(_invalid_parent(
    "httproute-listener-not-matching-route-port", SAME, "NoMatchingParent"))
case("httproute-invalid-parentref-not-matching-section-name")(_invalid_parent(
    "httproute-listener-not-matching-section-name", SAME, "NoMatchingParent"))
case("httproute-invalid-parentref-section-name-not-matching-port", "extended")(_invalid_parent(
    "httproute-listener-section-name-not-matching-port", "gateway-with-one-not-matching-port-and-section-name-route",
    "NoMatchingParent", resolved=False))


def _invalid_backend(route, reason, path):
    def run(h):
        c = Collector()
        addr = c.step("accepted", accepted, h, SAME, [route]) or h.gw_addr(SAME)
        c.step("ResolvedRefs=False " + reason, route_condition, h, route, SAME,
               {"type": "ResolvedRefs", "status": "False", "reason": reason})
        c.step("500", run_cases, h, addr, [T(path, status=500)])
        c.done()
    return run


case("httproute-invalid-backendref-unknown-kind")(_invalid_backend("invalid-backend-ref-unknown-kind", "InvalidKind", "/v2"))
case("httproute-invalid-cross-namespace-backend-ref")(_invalid_backend("invalid-cross-namespace-backend-ref", "RefNotPermitted", "/"))
case("httproute-invalid-nonexistent-backendref")(_invalid_backend("invalid-nonexistent-backend-ref", "BackendNotFound", "/"))
case("httproute-invalid-reference-grant")(_invalid_backend("reference-grant", "RefNotPermitted", "/"))


@case("httproute-partially-invalid-via-invalid-reference-grant")
def _partially_invalid(h):
    c = Collector()
    r = "invalid-reference-grant"
    addr = c.step("accepted", accepted, h, SAME, [r]) or h.gw_addr(SAME)
    c.step("ResolvedRefs=False RefNotPermitted", route_condition, h, r, SAME,
           {"type": "ResolvedRefs", "status": "False", "reason": "RefNotPermitted"})
    c.step("requests", run_cases, h, addr, [T("/v2", status=500), T("/", "app-backend-v1", ns=APP)])
    c.done()


@case("httproute-observed-generation-bump")
def _generation_bump(h):
    name = "observed-generation-bump"
    h.wait_gateway_programmed(SAME)

    def latest(r):
        g = r["metadata"]["generation"]
        bad = [(c["type"], c.get("observedGeneration")) for p in r.get("status", {}).get("parents", [])
               for c in p.get("conditions", []) if c.get("observedGeneration") != g]
        parents = r.get("status", {}).get("parents", [])
        return bool(parents) and not bad, "generation %d, stale conditions %s, parents %s" % (g, bad, len(parents))
    poll(lambda: latest(h.route(name)), CONSISTENCY_TIMEOUT, "conditions at the latest generation (before)")
    orig = h.route(name)
    rules = orig["spec"]["rules"]
    rules[0]["backendRefs"][0]["name"] = "infra-backend-v2"
    h.patch("HTTPRoute", INFRA, name, {"spec": {"rules": rules}})
    route_condition(h, name, SAME, {"type": "Accepted", "status": "True"})
    poll(lambda: latest(h.route(name)), CONSISTENCY_TIMEOUT, "conditions at the latest generation (after)")
    if h.route(name)["metadata"]["generation"] == orig["metadata"]["generation"]:
        raise Failure("generation did not change after a spec update")


@case("httproute-omitted-backendrefs")
def _omitted(h):
    c = Collector()
    r = "omitted-backendrefs"
    h.wait_gateway_programmed(SAME)
    c.step("resolvedRefs", resolved_refs_true, h, r, SAME)
    c.step("parents", route_parents, h, r, INFRA, [dict(gw=SAME, gw_ns=INFRA, ns_set=False, conds=ACCEPTED)],
           namespace_required=True)
    c.step("requests", run_cases, h, h.gw_addr(SAME), [
        T("/forward", V1), T("/omitted-no-forward", status=500), T("/empty-no-forward", status=500)])
    c.done()


@case("httproute-service-types")
def _service_types(h):
    run = simple("service-types", [T("/manual-endpointslices", V1), T("/headless", V1),
                                   T("/headless-manual-endpointslices", V1)])
    run(h)


def weighted_distribution(sample, want, what="requests", total=500, tries=3):
    """weight.TestWeightedDistribution: total samples, 10 at a time, each the pod
    name sample() returns (it raises on a failed one); every backend of want gets
    its share within 5 points, exactly those with a weight get any. Up to tries
    rounds (upstream retries too)."""
    import concurrent.futures
    last = None
    for _ in range(tries):
        seen, errs, lock = {}, [], threading.Lock()

        def one(_i):
            try:
                pod = sample()
            except (OSError, ValueError, AssertionError) as e:
                with lock:
                    errs.append(str(e))
                return
            with lock:
                for b in want:
                    if pod.startswith(b + "-"):
                        seen[b] = seen.get(b, 0) + 1
        with concurrent.futures.ThreadPoolExecutor(10) as ex:
            list(ex.map(one, range(total)))
        problems = ["failed %s: %s" % (what, errs[:5])] if errs else []
        weighted = sum(1 for p in want.values() if p > 0)
        if len(seen) != weighted:
            problems.append("expected exactly %d backends to receive traffic, got %s" % (weighted, seen))
        for b, p in want.items():
            got = seen.get(b, 0) / float(total)
            if abs(got - p) > 0.05:
                problems.append("%s got %.3f of the %s, want %.2f +/- 0.05" % (b, got, what, p))
        if not problems:
            return
        last = problems
    raise Failure("weighted distribution: %s" % last)


@case("httproute-weight")
def _weight(h):
    addr = accepted(h, SAME, ["weighted-backends"])
    resolved_refs_true(h, "weighted-backends", SAME)
    eventually(h, addr, T("/", ns=INFRA))

    def sample():
        r = send(h, addr, T("/", ns=INFRA))
        if r.status != 200:
            raise Failure("status %d" % r.status)
        return (r.echo or {}).get("pod", "")
    weighted_distribution(sample, {V1: 0.7, V2: 0.3, V3: 0.0})


# ------------------------------------------------------------------ redirects
def R(req_path, code, tls=None, **redirect):
    """A redirect case; tls: sent over TLS with that server name, also the Host."""
    return T(req_path, status=code, redirect=redirect, ns=INFRA, tls=tls, host=tls)


case("httproute-303-redirect", "extended")(simple("303-redirect", [
    T("/see-other", status=303, method="POST", redirect={"path": "/see-other", "port": "@80"})]))
case("httproute-307-redirect", "extended")(simple("307-redirect", [
    T("/temporary", status=307, method="POST", redirect={"path": "/temporary", "port": "@80"})]))
case("httproute-308-redirect", "extended")(simple("308-redirect", [
    T("/permanent", status=308, method="POST", redirect={"path": "/permanent", "port": "@80"})]))

# Redirects that keep the scheme and set no port go to the listener's port: 80
# upstream (omitted or :80), the remapped listener port here ("@80").
case("httproute-redirect-host-and-status")(simple("redirect-host-and-status", [
    R("/hostname-redirect", 302, host="example.org", port="@80"),
    R("/host-and-status", 301, host="example.org", port="@80")]))

case("httproute-redirect-path", "extended")(simple("redirect-path", [
    R("/original-prefix/lemon", 302, path="/replacement-prefix/lemon", port="@80"),
    R("/full/path/original", 302, path="/full-path-replacement", port="@80"),
    R("/path-and-host", 302, host="example.org", path="/replacement-prefix", port="@80"),
    R("/path-and-status", 301, path="/replacement-prefix", port="@80"),
    R("/full-path-and-host", 302, host="example.org", path="/replacement-full", port="@80"),
    R("/full-path-and-status", 301, path="/replacement-full", port="@80")]))

case("httproute-redirect-port", "extended")(simple("redirect-port", [
    R("/port", 302, port="8083"), R("/port-and-host", 302, host="example.org", port="8083"),
    R("/port-and-status", 301, port="8083"), R("/port-and-host-and-status", 302, port="8083", host="example.org")]))

case("httproute-redirect-scheme", "extended")(simple("redirect-scheme", [
    R("/scheme", 302, scheme="https"), R("/scheme-and-host", 302, host="example.org", scheme="https"),
    R("/scheme-and-status", 301, scheme="https"),
    R("/scheme-and-host-and-status", 302, scheme="https", host="example.org")]))


@case("httproute-redirect-port-and-scheme", "extended")
def _redirect_port_scheme(h):
    c = Collector()
    c.step("accepted :80", accepted, h, SAME, ["http-route-for-listener-on-port-80"])
    c.step("resolvedRefs :80", resolved_refs_true, h, "http-route-for-listener-on-port-80", SAME)
    g8080 = "same-namespace-with-http-listener-on-8080"
    c.step("accepted :8080", accepted, h, g8080, ["http-route-for-listener-on-port-8080"])
    c.step("resolvedRefs :8080", resolved_refs_true, h, "http-route-for-listener-on-port-8080", g8080)
    a80, a8080 = h.gw_addr(SAME, 80), h.gw_addr(g8080, 8080)
    c.step("listener 80", run_cases, h, a80, [
        R("/scheme-nil-and-port-nil", 302, scheme="http", host="example.org", port="@80"),
        R("/scheme-nil-and-port-80", 302, scheme="http", host="example.org"),
        R("/scheme-nil-and-port-8080", 302, scheme="http", host="example.org", port="8080"),
        R("/scheme-https-and-port-nil", 302, scheme="https", host="example.org"),
        R("/scheme-https-and-port-443", 302, scheme="https", host="example.org"),
        R("/scheme-https-and-port-8443", 302, scheme="https", host="example.org", port="8443")])
    c.step("listener 8080", run_cases, h, a8080, [
        R("/scheme-nil-and-port-nil", 302, scheme="http", host="example.org", port="@8080"),
        R("/scheme-nil-and-port-80", 302, scheme="http", host="example.org"),
        R("/scheme-https-and-port-nil", 302, scheme="https", host="example.org")])
    g443, r443 = HTTPS_GW, "http-route-for-listener-on-port-443"
    c.step("accepted :443", accepted, h, g443, [r443])
    c.step("resolvedRefs :443", resolved_refs_true, h, r443, g443)
    a443 = h.gw_addr(g443, 443)
    tls = dict(tls="example.org")
    c.step("listener 443", run_cases, h, a443, [
        R("/scheme-nil-and-port-nil", 302, scheme="https", host="example.org", port="@443", **tls),
        R("/scheme-nil-and-port-443", 302, scheme="https", host="example.org", **tls),
        R("/scheme-nil-and-port-8443", 302, scheme="https", host="example.org", port="8443", **tls),
        R("/scheme-http-and-port-nil", 302, scheme="http", host="example.org", **tls),
        R("/scheme-http-and-port-80", 302, scheme="http", host="example.org", **tls),
        R("/scheme-http-and-port-8080", 302, scheme="http", host="example.org", port="8080", **tls)])
    c.done()


# ------------------------------------------------------------------ header modifiers
def _req_mod_cases():
    return [
        T("/set", V1, headers={"Some-Other-Header": "val"},
          exp=dict(path="/set", headers={"Some-Other-Header": "val", "X-Header-Set": "set-overwrites-values"})),
        T("/set", V1, headers={"Some-Other-Header": "val", "X-Header-Set": "some-other-value"},
          exp=dict(path="/set", headers={"Some-Other-Header": "val", "X-Header-Set": "set-overwrites-values"})),
        T("/add", V1, headers={"Some-Other-Header": "val"},
          exp=dict(path="/add", headers={"Some-Other-Header": "val", "X-Header-Add": "add-appends-values"})),
        T("/add", V1, headers={"Some-Other-Header": "val", "X-Header-Add": "some-other-value"},
          exp=dict(path="/add", headers={"Some-Other-Header": "val", "X-Header-Add": "some-other-value,add-appends-values"})),
        T("/remove", V1, headers={"X-Header-Remove": "val"}, exp=dict(path="/remove", absent=["X-Header-Remove"])),
        T("/multiple", V1, headers={"X-Header-Set-2": "set-val-2", "X-Header-Add-2": "add-val-2",
                                    "X-Header-Remove-2": "remove-val-2", "Another-Header": "another-header-val"},
          exp=dict(path="/multiple", headers={
              "X-Header-Set-1": "header-set-1", "X-Header-Set-2": "header-set-2", "X-Header-Add-1": "header-add-1",
              "X-Header-Add-2": "add-val-2,header-add-2", "X-Header-Add-3": "header-add-3",
              "Another-Header": "another-header-val"}, absent=["X-Header-Remove-1", "X-Header-Remove-2"])),
        T("/case-insensitivity", V1, headers={"x-header-set": "original-val-set", "x-header-add": "original-val-add",
                                              "x-header-remove": "original-val-remove", "Another-Header": "another-header-val"},
          exp=dict(path="/case-insensitivity", headers={"X-Header-Set": "header-set", "X-Header-Add": "original-val-add,header-add",
                                                        "Another-Header": "another-header-val"},
                   absent=["x-header-remove", "X-Header-Remove"])),
    ]


case("httproute-request-header-modifier")(simple("request-header-modifier", _req_mod_cases()))
case("httproute-request-header-modifier-backend", "extended")(simple("request-header-modifier", _req_mod_cases()))


@case("httproute-request-header-modifier-backend-weights", "extended")
def _backend_weights(h):
    r = "request-header-modifier-backend-weights"
    addr = accepted(h, SAME, [r])
    resolved_refs_true(h, r, SAME)
    hits, bad = {}, []
    for _ in range(40):
        resp = send(h, addr, T("/"))
        echo = resp.echo or {}
        pod = echo.get("pod", "")
        b = next((x for x in (V1, V2) if pod.startswith(x)), None)
        seen = {k.lower(): v for k, v in (echo.get("headers") or {}).items()}
        if resp.status != 200 or not b:
            bad.append("status %d pod %r" % (resp.status, pod))
            continue
        hits[b] = hits.get(b, 0) + 1
        if seen.get("backend") != [b]:
            bad.append("%s saw Backend: %r" % (b, seen.get("backend")))
    if bad or len(hits) != 2:
        raise Failure("per-backend header filters: hits %s, problems %s" % (hits, bad[:6]))


RESP_MOD = [
    T("/set", V1, backend_set={"Some-Other-Header": "val"},
      resp_headers={"Some-Other-Header": "val", "X-Header-Set": "set-overwrites-values"}),
    T("/set", V1, backend_set={"Some-Other-Header": "val", "X-Header-Set": "some-other-value"},
      resp_headers={"Some-Other-Header": "val", "X-Header-Set": "set-overwrites-values"}),
    T("/add", V1, backend_set={"Some-Other-Header": "val"},
      resp_headers={"Some-Other-Header": "val", "X-Header-Add": "add-appends-values"}),
    T("/add", V1, backend_set={"Some-Other-Header": "val", "X-Header-Add": "some-other-value"},
      resp_headers={"Some-Other-Header": "val", "X-Header-Add": "some-other-value,add-appends-values"}),
    T("/remove", V1, backend_set={"X-Header-Remove": "val"}, resp_absent=["X-Header-Remove"]),
    T("/multiple", V1, backend_set={"X-Header-Set-2": "set-val-2", "X-Header-Add-2": "add-val-2",
                                    "X-Header-Remove-2": "remove-val-2", "Another-Header": "another-header-val"},
      resp_headers={"X-Header-Set-1": "header-set-1", "X-Header-Set-2": "header-set-2", "X-Header-Add-1": "header-add-1",
                    "X-Header-Add-2": "add-val-2,header-add-2", "X-Header-Add-3": "header-add-3",
                    "Another-Header": "another-header-val"}, resp_absent=["X-Header-Remove-1", "X-Header-Remove-2"]),
    T("/case-insensitivity", V1, backend_set={"x-header-set": "original-val-set", "x-header-add": "original-val-add",
                                              "x-header-remove": "original-val-remove", "Another-Header": "another-header-val",
                                              "x-lowercase-add": "original-val-x-lowercase-add",
                                              "x-mixedcase-add-1": "original-val-x-mixedcase-add-1",
                                              "X-mixeDcase-add-2": "original-val-X-mixeDcase-add-2",
                                              "X-UPPERCASE-ADD": "original-val-X-UPPERCASE-ADD"},
      resp_headers={"X-Header-Set": "header-set", "X-Header-Add": "original-val-add,header-add",
                    "Another-Header": "another-header-val",
                    "x-lowercase-add": "original-val-x-lowercase-add,lowercase-add",
                    "x-mixedcase-add-1": "original-val-x-mixedcase-add-1,mixedcase-add-1",
                    "x-mixedcase-add-2": "original-val-X-mixeDcase-add-2,mixedcase-add-2",
                    "x-uppercase-add": "original-val-X-UPPERCASE-ADD,uppercase-add"},
      resp_absent=["x-header-remove", "X-Header-Remove"]),
    T("/response-and-request-header-modifiers", V1,
      headers={"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1"},
      exp=dict(path="/response-and-request-header-modifiers",
               headers={"X-Header-Add": "header-val-1", "X-Header-Add-Append": "append-val-1,header-val-2",
                        "X-Header-Set": "set-overwrites-values"}, absent=["X-Header-Remove"]),
      backend_set={"X-Header-Set-2": "set-val-2", "X-Header-Add-2": "add-val-2", "X-Header-Remove-2": "remove-val-2",
                   "Another-Header": "another-header-val"},
      resp_headers={"X-Header-Set-1": "header-set-1", "X-Header-Set-2": "header-set-2", "X-Header-Add-1": "header-add-1",
                    "X-Header-Add-2": "add-val-2,header-add-2", "Another-Header": "another-header-val"},
      resp_absent=["X-Header-Remove-1", "X-Header-Remove-2"]),
]
case("httproute-response-header-modifier")(simple("response-header-modifier", RESP_MOD, resolved=False))

MOD_HDRS = {"X-Header-Add": "header-val-1", "X-Header-Add-Append": "append-val-1,header-val-2",
            "X-Header-Set": "set-overwrites-values"}

case("httproute-rewrite-host", "extended")(simple("rewrite-host", [
    T("/one", V1, host="rewrite.example", exp=dict(path="/one", host="one.example.org")),
    T("/two", V2, host="rewrite.example", exp=dict(path="/two", host="example.org")),
    T("/rewrite-host-and-modify-headers", V2, host="rewrite.example",
      headers={"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1"},
      exp=dict(path="/rewrite-host-and-modify-headers", host="test.example.org", headers=MOD_HDRS, absent=["X-Header-Remove"]))]))

case("httproute-rewrite-path", "extended")(simple("rewrite-path", [
    T("/prefix/one/two", V1, exp=dict(path="/one/two")),
    T("/full/one/two", V1, exp=dict(path="/one")),
    T("/full/rewrite-path-and-modify-headers/test", V1,
      headers={"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1", "X-Header-Set": "set-val"},
      exp=dict(path="/test", headers=MOD_HDRS, absent=["X-Header-Remove"])),
    T("/prefix/rewrite-path-and-modify-headers/one", V1,
      headers={"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1", "X-Header-Set": "set-val"},
      exp=dict(path="/prefix/one", headers=MOD_HDRS, absent=["X-Header-Remove"])),
    T("/strip-prefix/three", V1, exp=dict(path="/three")),
    T("/strip-prefix", V1, exp=dict(path="/"))]))


# ------------------------------------------------------------------ mirrors
def _mirrored(h, targets, path, want=True, timeout=3.0):
    """ExpectMirroredRequest: each mirror target's replicas saw the path (the
    upstream suite reads the pods' logs)."""
    def check():
        missing = [t for t in targets if not any(
            s["path"] == path for r in h.replicas_of(INFRA, t) for s in r.seen())]
        return not missing, "mirror target(s) %s never received %s" % (missing, path)
    poll(check, timeout, "mirrored %s" % path)


def _mirror_test(route, groups):
    def run(h):
        addr = accepted(h, SAME, [route])
        errs = []
        for tc, targets in groups:
            for t in targets:
                for r in h.replicas_of(INFRA, t):
                    r.clear()
            try:
                eventually(h, addr, tc)
                _mirrored(h, targets, tc["path"])
            except AssertionError as e:
                errs.append("%s: %s" % (describe(tc), e))
        if errs:
            raise Failure("\n".join(errs))
    return run


case("httproute-request-mirror", "extended")(_mirror_test("request-mirror", [
    (T("/mirror", V1, exp=dict(path="/mirror")), [V2]),
    (T("/mirror-and-modify-headers", V1, headers={"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1"},
       exp=dict(path="/mirror-and-modify-headers", headers=MOD_HDRS, absent=["X-Header-Remove"])), [V2])]))

case("httproute-request-multiple-mirrors", "extended")(_mirror_test("request-multiple-mirrors", [
    (T("/multi-mirror", V1, exp=dict(path="/multi-mirror")), [V2, V3]),
    (T("/multi-mirror-and-modify-request-headers", V1,
       headers={"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1"},
       exp=dict(path="/multi-mirror-and-modify-request-headers", headers=MOD_HDRS, absent=["X-Header-Remove"])),
     [V2, V3])]))


@case("httproute-request-percentage-mirror", "extended")
def _percent_mirror(h):
    r = "request-percentage-mirror"
    addr = accepted(h, SAME, [r])
    errs = []
    for path, pct, headers in (("/percent-mirror", 0.20, {}), ("/percent-mirror-fraction", 0.50, {}),
                               ("/percent-mirror-and-modify-headers", 0.35,
                                {"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1"})):
        for rep in h.replicas_of(INFRA, V2):
            rep.clear()
        n = 200
        tc = T(path, V1, headers=headers,
               exp=dict(path=path, headers=MOD_HDRS if headers else {}, absent=["X-Header-Remove"] if headers else []))
        try:
            eventually(h, addr, tc)
        except AssertionError as e:
            errs.append(str(e))
            continue
        for rep in h.replicas_of(INFRA, V2):
            rep.clear()
        for _ in range(n):
            send(h, addr, tc)
        time.sleep(0.3)
        got = sum(1 for rep in h.replicas_of(INFRA, V2) for s in rep.seen() if s["path"] == path) / float(n)
        if abs(got - pct) > 0.10:
            errs.append("%s mirrored %.2f of requests, want %.2f +/- 0.10" % (path, got, pct))
    if errs:
        raise Failure("\n".join(errs))


# ------------------------------------------------------------------ CORS
def _pre(path, origin, method, req_headers=None, status=(200, 204), valid=None, absent=None, resp=None, name=None):
    hd = {"Origin": origin, "access-control-request-method": method}
    if req_headers:
        hd["access-control-request-headers"] = req_headers
    t = T(path, method="OPTIONS", headers=hd, status=list(status), valid=valid, resp_absent=absent,
          resp_headers=resp, ignore_ws=True, exp=dict(path="", method="OPTIONS"), name=name)
    t["ns"] = ""
    return t


XH12 = ["x-header-1, x-header-2", "x-header-2, x-header-1"]
FULL = lambda o: {"access-control-allow-origin": [o], "access-control-allow-methods": ["GET, OPTIONS", "OPTIONS, GET"],
                  "access-control-allow-headers": XH12,
                  "access-control-expose-headers": ["x-header-3, x-header-4", "x-header-4, x-header-3"],
                  "access-control-max-age": ["3600"], "access-control-allow-credentials": ["true"]}

case("httproute-cors", "extended")(simple(None, [
    _pre("/cors-1", "https://www.foo.com", "GET", "x-header-1, x-header-2", valid=FULL("https://www.foo.com"), name="preflight exact origin"),
    _pre("/cors-1", "https://www.bar.com", "GET", "x-header-1, x-header-2", status=(200,), valid=FULL("https://www.bar.com"), name="preflight wildcard origin"),
    _pre("/cors-1", "https://xpto.www.bar.com", "GET", "x-header-1, x-header-2", status=(200,),
         valid=FULL("https://xpto.www.bar.com"), name="preflight wildcard origin, several labels"),
    _pre("/cors-1", "https://foobar.com", "GET", status=(200, 204, 403), absent=["access-control-allow-origin"], name="preflight non-matching origin"),
    T("/cors-1", V1, status=[200, 204], headers={"Origin": "https://www.foo.com", "access-control-request-method": "GET",
                                               "access-control-request-headers": "x-header-1, x-header-2"},
      resp_headers={"access-control-allow-origin": "https://www.foo.com"}, name="simple request exact origin"),
    T("/cors-1", V1, status=[200, 204], headers={"Origin": "https://www.bar.com", "access-control-request-method": "GET",
                                               "access-control-request-headers": "x-header-1, x-header-2"},
      resp_headers={"access-control-allow-origin": "https://www.bar.com"}, name="simple request wildcard origin"),
    T("/cors-1", V1, headers={"Origin": "https://foobar.com", "access-control-request-method": "GET"},
      resp_absent=["access-control-allow-origin"], name="simple request non-matching origin"),
    _pre("/cors-2", "https://www.foo.com", "POST", valid={"access-control-allow-methods": ["POST", "*"]},
         resp={"access-control-allow-origin": "https://www.foo.com"}, absent=["access-control-allow-credentials"],
         name="preflight POST with allowMethods *"),
    _pre("/cors-2", "https://www.foo.com", "POST", status=(200,), absent=["Access-Control-Allow-Credentials"],
         name="preflight without credentials"),
    _pre("/cors-wildcard-origin", "https://foobar.com", "PUT",
         valid={"access-control-allow-origin": ["https://foobar.com", "*"], "access-control-allow-methods": ["PUT"]},
         absent=["Access-Control-Allow-Credentials"], name="preflight wildcard origin *"),
    _pre("/cors-wildcard-origin", "https://foobar.com:12345", "PUT",
         valid={"access-control-allow-origin": ["https://foobar.com:12345", "*"], "access-control-allow-methods": ["PUT"]},
         absent=["Access-Control-Allow-Credentials"], name="preflight wildcard origin with port"),
    T("/cors-wildcard-origin", V1, method="PUT", headers={"Origin": "https://foobar.com:12345"},
      valid={"access-control-allow-origin": ["https://foobar.com:12345", "*"]}, name="request wildcard origin with port"),
    T("/cors-wildcard-origin", V1, method="PUT", status=[200, 204], headers={"Origin": "https://foobar.com"},
      valid={"access-control-allow-origin": ["https://foobar.com", "*"]}, resp_absent=["Access-Control-Allow-Credentials"],
      name="simple request wildcard origin"),
    _pre("/cors-wildcard-methods-headers", "https://other.foo.com", "PUT", "x-header-1, x-header-2", status=(200,),
         valid={"access-control-allow-origin": ["https://other.foo.com"], "access-control-allow-methods": ["PUT"],
                "access-control-allow-headers": XH12, "access-control-allow-credentials": ["true"]},
         name="preflight with credentials echoes origin, method, headers"),
    _pre("/cors-wildcard-methods-headers-unauth", "https://other.foo.com", "PUT", "x-header-1, x-header-2", status=(200,),
         valid={"access-control-allow-origin": ["https://other.foo.com", "*"], "access-control-allow-methods": ["PUT", "*"],
                "access-control-allow-headers": XH12 + ["*"]}, absent=["access-control-allow-credentials"],
         name="preflight without credentials on unauth path"),
    T("/cors-wildcard-methods-headers", V1, headers={"Origin": "https://other.foo.com", "Authorization": "Bearer test"},
      valid={"access-control-allow-origin": ["https://other.foo.com"], "access-control-allow-credentials": ["true"]},
      name="simple request with credentials echoes origin"),
    T("/cors-wildcard-methods-headers-unauth", V1, headers={"Origin": "https://other.foo.com", "Authorization": "Bearer test"},
      valid={"access-control-allow-origin": ["https://other.foo.com"]}, resp_absent=["access-control-allow-credentials"],
      name="simple request with credentials on unauth path"),
], routes=["cors-multiple-origins-methods-headers", "cors-wildcard-methods", "cors-wildcard-origin",
           "cors-wildcard-methods-headers"]))


# ------------------------------------------------------------------ retries and timeouts
@case("httproute-retry", "extended")
def _retry(h):
    addr = accepted(h, SAME, ["retries"])
    resolved_refs_true(h, "retries", SAME)
    specs = [("/retry/code-500-attempts-3", 500, 2, 200), ("/retry/code-500-attempts-3", 500, 4, 500),
             ("/retry/code-500-attempts-3", 503, 2, 503), ("/retry/code-all-attempts-2", 500, 1, 200),
             ("/retry/code-all-attempts-2", 500, 3, 500)]
    for code in (502, 503, 504):
        specs += [("/retry/code-all-attempts-2", code, 1, 200), ("/retry/code-all-attempts-2", code, 3, code)]

    def one(path, code, after, want):
        def probe():
            q = urllib.parse.urlencode({"responseCode": code, "succeedAfter": after, "uuid": str(uuidlib.uuid4())})
            tc = T(path + "?" + q, V3 if want == 200 else None, ns=INFRA, status=want)
            err = compare(h, addr, tc, send(h, addr, tc))
            return err is None, err
        poll(probe, CONSISTENCY_TIMEOUT, "%s code %d succeedAfter %d -> %d" % (path, code, after, want), interval=0.2)
    errs = run_parallel([("%s %d/%d" % s[:3], (lambda s=s: one(*s))) for s in specs])
    if errs:
        raise Failure("\n".join(errs))


case("httproute-timeout-backend-request", "extended")(simple("backend-request-timeout", [
    T("/backend-timeout", status=200, exp=dict(path="/backend-timeout"), ns=INFRA),
    T("/backend-timeout?delay=1s", status=504, exp={}),
    T("/disable-backend-timeout?delay=1s", V1, exp=dict(path="/disable-backend-timeout?delay=1s"))]))

case("httproute-timeout-request", "extended")(simple("request-timeout", [
    T("/request-timeout", status=200, exp=dict(path="/request-timeout"), ns=INFRA),
    T("/request-timeout?delay=1s", status=504, exp={}),
    T("/disable-request-timeout?delay=1s", V1, exp=dict(path="/disable-request-timeout?delay=1s"))]))


# ------------------------------------------------------------------ backend protocols
@case("httproute-backend-protocol-websocket", "extended")
def _websocket(h):
    import socket
    from echo import ws_frame, ws_read_frame
    addr = accepted(h, SAME, ["backend-protocol-ws"])
    resolved_refs_true(h, "backend-protocol-ws", SAME)

    def probe():
        s = socket.create_connection(addr, timeout=3)
        try:
            s.sendall(("GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" % addr).encode())
            f = s.makefile("rb")
            status = f.readline()
            if b" 101 " not in status:
                return False, "handshake answered %r" % status.strip()
            while f.readline() not in (b"\r\n", b""):
                pass
            s.sendall(ws_frame(1, b"Test"))
            op, data = ws_read_frame(f)
            return data == b"Test", "echoed %r" % data
        finally:
            s.close()
    poll(probe, CONSISTENCY_TIMEOUT, "websocket echo through the Gateway")


# The route's backend is infra-backend-v1 port 8081 (appProtocol kubernetes.io/h2c,
# targetPort 3001: the echo replicas' h2c server).
case("httproute-backend-protocol-h2c", "extended")(simple("backend-protocol-h2c", [
    T("/", V1, h2c=True)]))


# ------------------------------------------------------------------ HTTPS listeners
@case("httproute-https-listener")
def _https_listener(h):
    routes = ["httproute-https-test", "httproute-https-test-no-hostname"]
    accepted(h, HTTPS_GW, routes)
    for r in routes:
        resolved_refs_true(h, r, HTTPS_GW)
    # Upstream: the request's Host and the TLS server name are the same.
    run_cases(h, h.gw_addr(HTTPS_GW, 443), [
        T("/", V1, host="example.org", tls="example.org"),
        T("/", status=404, host="unknown-example.org", tls="unknown-example.org"),
        T("/", V2, host="second-example.org", tls="second-example.org")])


@case("httproute-https-listener-detect-misdirected-requests", "extended")
def _https_misdirected(h):
    routes = ["https-listener-detect-misdirected-requests-test-%d" % i for i in (1, 2, 3, 4)]
    accepted(h, HTTPS_GW, routes)
    for r in routes:
        resolved_refs_true(h, r, HTTPS_GW)
    p = "/detect-misdirected-requests"
    cases = [
        ("example.org", "example.org", 200, V1), ("example.org", "second-example.org", 421, None),
        ("example.org", "unknown-example.org", 404, None),
        ("second-example.org", "second-example.org", 200, V2), ("second-example.org", "example.org", 421, None),
        ("second-example.org", "unknown-example.org", 421, None),
        ("third-example.wildcard.org", "third-example.wildcard.org", 200, V3),
        ("third-example.wildcard.org", "fith-example.wildcard.org", 200, V3),
        ("third-example.wildcard.org", "fourth-example.wildcard.org", 421, None),
        ("third-example.wildcard.org", "second-example.org", 421, None),
        ("third-example.wildcard.org", "unknown-example.org", 421, None),
        # No infra-backend-v4: the fourth route uses infra-backend-v1.
        ("fourth-example.wildcard.org", "fourth-example.wildcard.org", 200, V1),
        ("fourth-example.wildcard.org", "fith-example.wildcard.org", 421, None),
        ("unknown-example.org", "example.org", 200, V1), ("unknown-example.org", "unknown-example.org", 404, None),
    ]
    run_cases(h, h.gw_addr(HTTPS_GW, 443), [
        T(p, backend, ns=INFRA, status=status, host=host, tls=sni) for sni, host, status, backend in cases])

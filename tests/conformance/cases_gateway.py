"""Gateway-level conformance tests ported from the upstream suite
(conformance/tests/gateway-*.go, v1.6.1): listener status (supportedKinds,
conditions, attachedRoutes), Gateway conditions and listener isolation.

Registers its cases in cases.CASES. The helpers mirror conformance/utils/kubernetes:
GatewayMustHaveCondition and GatewayMustHaveLatestConditions (gateway_condition),
GatewayStatusMustHaveListeners (cases.gateway_listeners), NamespacesMustBeReady
(namespaces_ready), HTTPRouteMustHaveCondition (cases.route_condition).
"""

from cases import (Collector, T, accepted, case, gateway_listeners, resolved_refs_true, route_condition,
                   run_cases, stale_conditions)
from harness import CONSISTENCY_TIMEOUT, INFRA, poll

# The annotation that keeps a Gateway out of NamespacesMustBeReady: upstream
# expects such Gateways not to become ready.
SKIP_READINESS = "gateway-api/skip-this-for-readiness"


def gateway_condition(h, gw, want, ns=INFRA):
    """GatewayMustHaveLatestConditions, then GatewayMustHaveCondition: every
    Gateway condition carries the latest generation, and one of them is want
    (type, status, and reason unless None)."""
    def check():
        g = h.get("Gateway", ns, gw)
        if not g:
            return False, "no such Gateway"
        conds = g.get("status", {}).get("conditions", [])
        stale = stale_conditions(g, conds)
        if stale:
            return False, "conditions not at generation %s: %s" % (g["metadata"].get("generation"), stale)
        c = next((c for c in conds if c.get("type") == want["type"]), None)
        if not c or c.get("status") != want["status"] or (want.get("reason") and c.get("reason") != want["reason"]):
            return False, "condition %s: want %s/%s, have %s" % (
                want["type"], want["status"], want.get("reason") or "*", c and (c.get("status"), c.get("reason")))
        return True, None
    poll(check, CONSISTENCY_TIMEOUT, "Gateway %s/%s condition %s" % (ns, gw, want["type"]))


def namespaces_ready(h, namespaces):
    """NamespacesMustBeReady, for the Gateways: every Gateway of the namespaces
    (but those annotated to be skipped) is Accepted and Programmed with conditions
    at its latest generation. The echo replicas stand in for the pods and are up
    before any test runs."""
    def check():
        for ns in namespaces:
            for g in h.list("Gateway", ns):
                name = g["metadata"]["name"]
                if (g["metadata"].get("annotations") or {}).get(SKIP_READINESS) == "true":
                    continue
                conds = g.get("status", {}).get("conditions", [])
                stale = stale_conditions(g, conds)
                if stale:
                    return False, "Gateway %s/%s conditions not at the latest generation: %s" % (ns, name, stale)
                for t in ("Accepted", "Programmed"):
                    if not any(c.get("type") == t and c.get("status") == "True" for c in conds):
                        return False, "Gateway %s/%s not %s yet" % (ns, name, t)
        return True, None
    poll(check, CONSISTENCY_TIMEOUT, "namespaces %s ready" % namespaces)


def cond(type_, status, reason=None):
    return {"type": type_, "status": status, "reason": reason}


def listener(name, conds, attached=0, kinds=("HTTPRoute",)):
    return dict(name=name, conds=conds, attached=attached, kinds=list(kinds))


# ------------------------------------------------------------------ GatewayWithAttachedRoutes
@case("gateway-with-attached-routes")
def _attached_routes(h):
    c = Collector()
    ok = [cond("Accepted", "True"), cond("ResolvedRefs", "True")]
    # The listeners select routes by the kubernetes.io/metadata.name label that
    # every Namespace carries.
    c.step("one valid route attached", gateway_listeners, h, "gateway-with-one-attached-route",
           [listener("http", ok, attached=1)])
    c.step("two valid routes attached", gateway_listeners, h, "gateway-with-two-attached-routes",
           [listener("http", ok, attached=2)])
    c.step("route with a hostname no listener has", route_condition, h, "http-route-not-accepted",
           "gateway-with-two-attached-routes", cond("Accepted", "False", "NoMatchingListenerHostname"))
    gw = "unresolved-gateway-with-one-attached-unresolved-route"
    c.step("attachedRoutes counted on a listener with unresolved refs", gateway_listeners, h, gw,
           [listener("tls", [cond("Programmed", "False"), cond("ResolvedRefs", "False")], attached=1)])
    c.step("route with an unresolved backend", route_condition, h, "http-route-4", gw, cond("ResolvedRefs", "False"))
    c.done()


# ------------------------------------------------------------------ GatewayInvalidRouteKind
@case("gateway-invalid-route-kind")
def _invalid_route_kind(h):
    c = Collector()
    invalid = [cond("ResolvedRefs", "False", "InvalidRouteKinds")]
    c.step("only an invalid kind: no supportedKinds", gateway_listeners, h, "gateway-only-invalid-route-kind",
           [listener("http", invalid, kinds=())])
    c.step("an invalid kind and HTTPRoute: HTTPRoute supported", gateway_listeners, h,
           "gateway-supported-and-invalid-route-kind", [listener("http", invalid)])
    c.done()


# ------------------------------------------------------------------ GatewayListenerUnsupportedProtocol
@case("gateway-invalid-listeners-unsupported-protocol")
def _unsupported_protocol(h):
    c = Collector()
    unsupported = listener("invalid", [cond("Accepted", "False", "UnsupportedProtocol")], kinds=())
    gw = "gateway-only-unsupported-protocols"
    c.step("no listener accepted: Gateway not accepted", gateway_condition, h, gw,
           cond("Accepted", "False", "ListenersNotValid"))
    c.step("no listener accepted: listener status", gateway_listeners, h, gw, [unsupported])
    gw = "gateway-supported-and-unsupported-protocols"
    c.step("one listener accepted: Gateway accepted", gateway_condition, h, gw,
           cond("Accepted", "True", "ListenersNotValid"))
    c.step("one listener accepted: listener status", gateway_listeners, h, gw,
           [listener("http", [cond("Accepted", "True", "Accepted")]), unsupported])
    c.done()


# ------------------------------------------------------------------ GatewayInvalidParametersRef
@case("gateway-invalid-parameters-ref")
def _invalid_parameters_ref(h):
    gateway_condition(h, "gateway-invalid-parameters-ref", cond("Accepted", "False", "InvalidParameters"))


# ------------------------------------------------------------------ GatewayHTTPListenerIsolation
V1 = "infra-backend-v1"

# A request whose host matches a more specific listener reaches only that
# listener's routes; each route's path names its listener.
ISOLATION = [T(path, V1 if path == want else None, ns=INFRA, status=200 if path == want else 404, host=host)
             for host, want in (("bar.com", "/empty-hostname"), ("bar.example.com", "/wildcard-example-com"),
                                ("bar.foo.example.com", "/wildcard-foo-example-com"),
                                ("abc.foo.example.com", "/abc-foo-example-com"))
             for path in ("/empty-hostname", "/wildcard-example-com", "/wildcard-foo-example-com",
                          "/abc-foo-example-com")]


@case("gateway-http-listener-isolation", manifest=["gateway-http-listener-isolation.yaml",
                                                   "gateway-http-listener-isolation-with-hostname-intersection.yaml"])
def _http_listener_isolation(h):
    namespaces_ready(h, [INFRA])
    c = Collector()
    for gw, suffix, what in (("http-listener-isolation", "", "hostnames only in listeners"),
                             ("http-listener-isolation-with-hostname-intersection", "-with-hostname-intersection",
                              "intersecting hostnames in listeners and routes")):
        routes = ["attaches-to-%s%s" % (l, suffix) for l in
                  ("empty-hostname", "wildcard-example-com", "wildcard-foo-example-com", "abc-foo-example-com")]
        addr = c.step(what + ": accepted", accepted, h, gw, routes) or h.gw_addr(gw)
        for r in routes:
            c.step(what + ": resolvedRefs " + r, resolved_refs_true, h, r, gw)
        c.step(what, run_cases, h, addr, ISOLATION)
    c.done()

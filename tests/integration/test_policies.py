"""TrafficPolicy: attachment (Gateway, listener, route, rule), precedence,
GEP-713 status, and the ipAccess section enforced by the workers.

Clients come from different loopback addresses (127.0.0.2, 127.0.0.3, ...: all
of 127.0.0.0/8 is local on Linux) so that address rules can be told apart."""

import subprocess
import time

from dataplane import GW, GWPATH, ROUTES, HTTPFrom, backend_ref, created, make_dataplane, wait_until  # noqa: F401

SLUICE_GROUP = "gateway.sluice.dev"
POLICIES = "/apis/gateway.sluice.dev/v1alpha1/namespaces/default/trafficpolicies"


def get_from(port, source, path="/", host="example.com"):
    """Status of GET path sent from the loopback address `source`."""
    c = HTTPFrom(port, source)
    try:
        c.request("GET", path, headers={"Host": host})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def policy(name, targets, **sections):
    spec = {"targetRefs": targets}
    spec.update(sections)
    return {"apiVersion": SLUICE_GROUP + "/v1alpha1", "kind": "TrafficPolicy",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def to_route(name="r", rule=None):
    t = {"group": GW, "kind": "HTTPRoute", "name": name}
    if rule:
        t["sectionName"] = rule
    return t


def to_gateway(name="gw", listener=None):
    t = {"group": GW, "kind": "Gateway", "name": name}
    if listener:
        t["sectionName"] = listener
    return t


def wait_status(dp, source, want, path="/"):
    wait_until(lambda: get_from(dp.port, source, path) == want, timeout=10,
               what="GET %s from %s answering %d" % (path, source, want))


def attached(sl, name, reason=None):
    """The policy's single ancestor entry, once its Attached reason is `reason`."""
    def ok():
        st = sl.get(POLICIES + "/" + name).json().get("status", {})
        anc = st.get("ancestors", [])
        if not anc:
            return None
        conds = {c["type"]: c for c in anc[0]["conditions"]}
        if reason and conds.get("Attached", {}).get("reason") != reason:
            return None
        return anc
    return wait_until(ok, timeout=10, what="TrafficPolicy %s Attached %s" % (name, reason))


def conditions(entry):
    return {c["type"]: c for c in entry["conditions"]}


def test_ip_access_deny_on_a_route_refuses_those_clients_only(make_dataplane):
    dp = make_dataplane(workers=2)
    pids = dp.workers()
    created(dp.sluiced.post(POLICIES, policy("deny2", [to_route()], ipAccess={"deny": ["127.0.0.2/32"]})))
    wait_status(dp, "127.0.0.2", 403)
    # Both workers enforce it, and the others still pass.
    for _ in range(20):
        assert get_from(dp.port, "127.0.0.2") == 403
        assert get_from(dp.port, "127.0.0.1") == 200
        assert get_from(dp.port, "127.0.0.4") == 200
    # HTTP/2 streams meet the same chain.
    for source, want in (("127.0.0.2", "403"), ("127.0.0.1", "200")):
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                              "--http2-prior-knowledge", "--interface", source, "--local-port", "20000-20999", "http://127.0.0.1:%d/" % dp.port],
                             capture_output=True, text=True, timeout=10).stdout
        assert out == "2 " + want, out
    assert dp.workers() == pids, "a policy change restarted workers"
    (entry,) = attached(dp.sluiced, "deny2", "Attached")
    assert entry["ancestorRef"]["kind"] == "Gateway" and entry["ancestorRef"]["name"] == "gw"
    assert entry["controllerName"] == "sluice.dev/gateway-controller"
    c = conditions(entry)
    assert c["Accepted"]["status"] == "True"
    assert c["Attached"]["status"] == "True"
    assert "refused by the ipAccess of TrafficPolicy default/deny2" in dp.sluiced.log()
    # Deleting the policy lifts the rule.
    assert dp.sluiced.delete(POLICIES + "/deny2").status_code == 200
    wait_status(dp, "127.0.0.2", 200)


def test_allow_list_refuses_everyone_else_and_deny_carves_holes(make_dataplane):
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, policy("allow", [to_gateway()],
                                             ipAccess={"allow": ["127.0.0.0/24"], "deny": ["127.0.0.3/32"]})))
    wait_status(dp, "127.0.0.3", 403)
    assert get_from(dp.port, "127.0.0.1") == 200
    assert get_from(dp.port, "127.0.0.200") == 200
    assert get_from(dp.port, "127.0.1.1") == 403  # outside the allow list
    assert get_from(dp.port, "127.0.0.3") == 403  # inside it, but denied


def test_more_specific_attachment_wins_section_by_section(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    # A second rule, named, for /admin.
    r = sl.get(ROUTES + "/r").json()
    r["spec"]["rules"].insert(0, {"name": "admin", "matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                                  "backendRefs": [backend_ref("be")]})
    created(sl.put(ROUTES + "/r", r))
    # The Gateway denies all of loopback; the route lets it in again; the rule
    # shuts /admin to all but 127.0.0.1.
    created(sl.post(POLICIES, policy("gw-deny", [to_gateway()], ipAccess={"deny": ["127.0.0.0/8"]})))
    wait_status(dp, "127.0.0.1", 403)
    created(sl.post(POLICIES, policy("route-allow", [to_route()], ipAccess={"allow": ["127.0.0.0/8"]})))
    wait_status(dp, "127.0.0.1", 200)
    created(sl.post(POLICIES, policy("rule-admin", [to_route(rule="admin")], ipAccess={"allow": ["127.0.0.1/32"]})))
    wait_status(dp, "127.0.0.2", 403, path="/admin/x")
    assert get_from(dp.port, "127.0.0.1", "/admin/x") == 200
    assert get_from(dp.port, "127.0.0.2", "/other") == 200
    (gw_entry,) = attached(sl, "gw-deny", "Overridden")
    assert conditions(gw_entry)["Attached"]["status"] == "False"
    assert "default/route-allow" in conditions(gw_entry)["Attached"]["message"]
    # route-allow still applies to the other rule: it is merged, not overridden.
    (route_entry,) = attached(sl, "route-allow", "Merged")
    assert "default/rule-admin" in conditions(route_entry)["Attached"]["message"]
    attached(sl, "rule-admin", "Attached")
    # What the workers run, rule by rule.
    eff = sl.get("/debug/effective-policy?kind=HTTPRoute&namespace=default&name=r").json()
    by_rule = {a["rule"]: a for a in eff["attachments"]}
    assert set(by_rule) == {0, 1}, eff
    assert by_rule[0]["gateway"] == "default/gw" and by_rule[0]["listener"] == "http"
    assert by_rule[0]["policies"] == [{"section": "ipAccess", "phase": "access", "policy": "default/rule-admin"}]
    assert by_rule[1]["policies"] == [{"section": "ipAccess", "phase": "access", "policy": "default/route-allow"}]
    assert sl.get("/debug/effective-policy?kind=Service&name=r").status_code == 400
    assert sl.get("/debug/effective-policy?kind=HTTPRoute&name=nothing").json()["attachments"] == []
    # A listener-level policy sits between the Gateway and the route.
    assert sl.delete(POLICIES + "/route-allow").status_code == 200
    wait_status(dp, "127.0.0.2", 403)
    created(sl.post(POLICIES, policy("listener", [to_gateway(listener="http")], ipAccess={"deny": ["127.0.0.9/32"]})))
    wait_status(dp, "127.0.0.2", 200)
    assert get_from(dp.port, "127.0.0.9") == 403
    attached(sl, "gw-deny", "Overridden")


def test_at_one_level_the_older_policy_wins(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    created(sl.post(POLICIES, policy("z-old", [to_route()], ipAccess={"deny": ["127.0.0.2/32"]})))
    wait_status(dp, "127.0.0.2", 403)
    time.sleep(1.1)  # creationTimestamp has one-second resolution
    # Newer and first by name: still loses.
    created(sl.post(POLICIES, policy("a-new", [to_route()], ipAccess={"deny": ["127.0.0.5/32"]})))
    (entry,) = attached(sl, "a-new", "Overridden")
    assert "default/z-old" in conditions(entry)["Attached"]["message"]
    assert get_from(dp.port, "127.0.0.2") == 403
    assert get_from(dp.port, "127.0.0.5") == 200
    attached(sl, "z-old", "Attached")


def test_missing_target_is_reported_and_applies_once_it_appears(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    created(sl.post(POLICIES, policy("early", [to_route("later")], ipAccess={"deny": ["127.0.0.2/32"]})))
    (entry,) = attached(sl, "early", "TargetNotFound")
    assert entry["ancestorRef"]["kind"] == "HTTPRoute" and entry["ancestorRef"]["name"] == "later"
    assert "HTTPRoute default/later does not exist" in conditions(entry)["Attached"]["message"]
    rv = sl.get(POLICIES + "/early").json()["metadata"]["generation"]
    later = {"apiVersion": GW + "/v1", "kind": "HTTPRoute", "metadata": {"name": "later", "namespace": "default"},
             "spec": {"parentRefs": [{"name": "gw"}],
                      "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/later"}}],
                                 "backendRefs": [backend_ref("be")]}]}}
    created(sl.post(ROUTES, later))
    wait_status(dp, "127.0.0.2", 403, path="/later")
    assert get_from(dp.port, "127.0.0.2", "/") == 200
    (entry,) = attached(sl, "early", "Attached")
    assert entry["ancestorRef"] == {"group": GW, "kind": "Gateway", "namespace": "default", "name": "gw"}
    assert sl.get(POLICIES + "/early").json()["metadata"]["generation"] == rv


def test_policies_on_another_controllers_gateway_get_no_status_from_us(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    other = {"apiVersion": GW + "/v1", "kind": "Gateway", "metadata": {"name": "foreign", "namespace": "default"},
             "spec": {"gatewayClassName": "someone-else", "listeners": [{"name": "h", "port": 1, "protocol": "HTTP"}]}}
    created(sl.post(GWPATH, other))
    created(sl.post(POLICIES, policy("theirs", [to_gateway("foreign")], ipAccess={"deny": ["127.0.0.2/32"]})))
    created(sl.post(POLICIES, policy("mine", [to_route()], ipAccess={"deny": ["127.0.0.3/32"]})))
    attached(sl, "mine", "Attached")
    assert "status" not in sl.get(POLICIES + "/theirs").json() or \
        not sl.get(POLICIES + "/theirs").json()["status"].get("ancestors")
    assert get_from(dp.port, "127.0.0.2") == 200


def get_via(port, source, xff, path="/"):
    """GET from `source` carrying X-Forwarded-For: xff (as a proxy in front would)."""
    c = HTTPFrom(port, source)
    try:
        c.request("GET", path, headers={"Host": "example.com", "X-Forwarded-For": xff})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def test_real_ip_from_trusted_proxies_only(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    created(sl.post(POLICIES, policy("edge", [to_gateway()], realIp={"trustedProxies": ["127.0.0.1/32", "10.0.0.0/8"]},
                                     ipAccess={"deny": ["203.0.113.0/24"]})))
    wait_until(lambda: get_via(dp.port, "127.0.0.1", "203.0.113.5") == 403, timeout=10, what="realIp in force")
    assert get_via(dp.port, "127.0.0.1", "198.51.100.1") == 200
    assert get_via(dp.port, "127.0.0.1", "203.0.113.5, 10.1.2.3") == 403       # through another trusted proxy
    assert get_via(dp.port, "127.0.0.1", "203.0.113.5, 198.51.100.1") == 200   # the rightmost untrusted counts
    assert get_via(dp.port, "127.0.0.1", "junk, 203.0.113.9:4711") == 403       # a port is ignored
    assert get_via(dp.port, "127.0.0.2", "203.0.113.5") == 200                  # untrusted peer: header ignored
    # The real client keys rate limits and is logged; the peer is logged too.
    created(sl.post(POLICIES, policy("limit", [to_route()], rateLimit={"requests": 1, "unit": "Hour"})))
    wait_until(lambda: get_via(dp.port, "127.0.0.1", "198.51.100.77") == 429, timeout=10, what="the limit")
    assert get_via(dp.port, "127.0.0.1", "198.51.100.2") == 200
    assert get_via(dp.port, "127.0.0.1", "198.51.100.2") == 429
    assert get_via(dp.port, "127.0.0.1", "198.51.100.3") == 200
    wait_until(lambda: '"client":"198.51.100.3","peer":"127.0.0.1"' in sl.log(), timeout=5, what="the access log")

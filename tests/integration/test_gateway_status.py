"""Gateway status as written by sluice from what actually runs."""

import socket
import time

from conftest import GW, free_port, path_for
from dataplane import children_of, wait_until

GWPATH = path_for("gateways", "default")


def gateway(name, listeners, workers="1", addresses=None):
    spec = {"gatewayClassName": "sluice", "listeners": listeners}
    if addresses:
        spec["addresses"] = addresses
    return {"apiVersion": GW + "/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": "default", "annotations": {"sluice.dev/workers": workers}},
            "spec": spec}


def wait_status(sluiced, name, pred, timeout=10):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = sluiced.get(GWPATH + "/" + name).json().get("status", {})
        if pred(last):
            return last
        time.sleep(0.05)
    raise AssertionError("status of %s never satisfied the condition: %r" % (name, last))


def cond(conds, type_):
    return next((c for c in conds if c["type"] == type_), None)


def listener(status, name):
    return next(l for l in status["listeners"] if l["name"] == name)


def test_programmed_gateway_status(sluiced):
    port = free_port()
    assert sluiced.post(GWPATH, gateway("g", [{"name": "http", "protocol": "HTTP", "port": port}],
                                        addresses=[{"type": "IPAddress", "value": "127.0.0.1"}])).status_code == 201
    route = {"apiVersion": GW + "/v1", "kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "default"},
             "spec": {"parentRefs": [{"name": "g"}]}}
    assert sluiced.post(path_for("httproutes", "default"), route).status_code == 201
    st = wait_status(sluiced, "g", lambda s: cond(s.get("conditions", []), "Programmed") and
                     cond(s["conditions"], "Programmed")["status"] == "True" and
                     s["listeners"][0]["attachedRoutes"] == 1)
    gen = sluiced.get(GWPATH + "/g").json()["metadata"]["generation"]
    assert cond(st["conditions"], "Accepted")["status"] == "True"
    assert all(c["observedGeneration"] == gen for c in st["conditions"])
    assert st["addresses"] == [{"type": "IPAddress", "value": "127.0.0.1"}]
    l = listener(st, "http")
    assert l["supportedKinds"] == [{"group": GW, "kind": "HTTPRoute"}, {"group": GW, "kind": "GRPCRoute"}]
    assert cond(l["conditions"], "Accepted")["status"] == "True"
    assert cond(l["conditions"], "Conflicted")["status"] == "False"


def test_listener_problems_are_reported(sluiced):
    port = free_port()
    listeners = [
        {"name": "http", "protocol": "HTTP", "port": port},
        {"name": "tcp", "protocol": "TCP", "port": port},
        {"name": "tls", "protocol": "HTTPS", "port": free_port(),
         "tls": {"mode": "Terminate", "certificateRefs": [{"name": "cert"}]}},
    ]
    assert sluiced.post(GWPATH, gateway("g", listeners)).status_code == 201
    st = wait_status(sluiced, "g", lambda s: len(s.get("listeners", [])) == 3)
    for name in ("http", "tcp"):
        conds = listener(st, name)["conditions"]
        assert cond(conds, "Conflicted")["status"] == "True"
        assert cond(conds, "Conflicted")["reason"] == "ProtocolConflict"
        assert cond(conds, "Accepted")["status"] == "False"
    # An HTTPS listener whose Secret does not exist: accepted, but not programmed.
    tls = listener(st, "tls")["conditions"]
    assert cond(tls, "ResolvedRefs")["status"] == "False"
    assert cond(tls, "ResolvedRefs")["reason"] == "InvalidCertificateRef"
    assert cond(tls, "Programmed")["status"] == "False"


def test_port_held_by_another_gateway_is_port_unavailable(sluiced):
    port = free_port()
    assert sluiced.post(GWPATH, gateway("first", [{"name": "http", "protocol": "HTTP", "port": port}])).status_code == 201
    wait_status(sluiced, "first", lambda s: cond(s.get("conditions", []), "Programmed") and
                cond(s["conditions"], "Programmed")["status"] == "True")
    assert sluiced.post(GWPATH, gateway("second", [{"name": "http", "protocol": "HTTP", "port": port}])).status_code == 201
    st = wait_status(sluiced, "second", lambda s: s.get("listeners") and
                     cond(s["listeners"][0]["conditions"], "Accepted")["status"] == "False")
    acc = cond(st["listeners"][0]["conditions"], "Accepted")
    assert acc["reason"] == "PortUnavailable"
    assert "default/first" in acc["message"]
    # The first one keeps serving and keeps its status.
    st1 = sluiced.get(GWPATH + "/first").json()["status"]
    assert cond(st1["conditions"], "Programmed")["status"] == "True"


def bound(port):
    """True when something accepts connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except ConnectionRefusedError:
        return False


def conditions_at(st, type_, status, reason):
    c = cond(st.get("conditions", []), type_)
    return bool(c) and c["status"] == status and c["reason"] == reason


def test_unsupported_protocol_listener(sluiced):
    """Any protocol the API's pattern allows is stored; a listener sluice does not
    serve is not accepted (UnsupportedProtocol), supports no kind and binds no
    port, while the Gateway serves its other listeners (Accepted True with reason
    ListenersNotValid)."""
    http, other = free_port(), free_port()
    r = sluiced.post(GWPATH, gateway("g", [{"name": "http", "protocol": "HTTP", "port": http},
                                           {"name": "invalid", "protocol": "INVALID", "port": other}]))
    assert r.status_code == 201, r.text
    st = wait_status(sluiced, "g", lambda s: conditions_at(s, "Programmed", "True", "Programmed"))
    assert conditions_at(st, "Accepted", "True", "ListenersNotValid")
    assert "invalid" in cond(st["conditions"], "Accepted")["message"]
    bad = listener(st, "invalid")
    assert bad["supportedKinds"] == [] and bad["attachedRoutes"] == 0
    assert cond(bad["conditions"], "Accepted")["status"] == "False"
    assert cond(bad["conditions"], "Accepted")["reason"] == "UnsupportedProtocol"
    assert "INVALID" in cond(bad["conditions"], "Accepted")["message"]
    assert cond(bad["conditions"], "Programmed")["status"] == "False"
    good = listener(st, "http")
    assert cond(good["conditions"], "Accepted")["reason"] == "Accepted"
    assert bound(http) and not bound(other)


def test_gateway_without_served_listener_is_not_accepted(sluiced):
    """No listener accepted: the Gateway is not accepted (ListenersNotValid), not
    programmed, and no worker runs for it."""
    port, port2 = free_port(), free_port()
    r = sluiced.post(GWPATH, gateway("g", [{"name": "a", "protocol": "INVALID", "port": port},
                                           {"name": "b", "protocol": "example.com/proto", "port": port2}]))
    assert r.status_code == 201, r.text
    st = wait_status(sluiced, "g", lambda s: conditions_at(s, "Accepted", "False", "ListenersNotValid"))
    assert conditions_at(st, "Programmed", "False", "Invalid")
    gen = sluiced.get(GWPATH + "/g").json()["metadata"]["generation"]
    assert all(c["observedGeneration"] == gen for c in st["conditions"])
    assert [cond(l["conditions"], "Accepted")["reason"] for l in st["listeners"]] == ["UnsupportedProtocol"] * 2
    assert not bound(port) and not bound(port2)
    assert children_of(sluiced.proc.pid) == []


def test_invalid_route_kinds(sluiced):
    """allowedRoutes.kinds that sluice cannot serve: ResolvedRefs False with reason
    InvalidRouteKinds; supportedKinds keeps only the served ones, and a listener
    left with none is not programmed and takes no route."""
    only, mixed = free_port(), free_port()
    listeners = [
        {"name": "only", "protocol": "HTTP", "port": only, "allowedRoutes": {"kinds": [{"kind": "InvalidRoute"}]}},
        {"name": "mixed", "protocol": "HTTP", "port": mixed,
         "allowedRoutes": {"kinds": [{"kind": "InvalidRoute"}, {"kind": "HTTPRoute"}]}},
    ]
    assert sluiced.post(GWPATH, gateway("g", listeners)).status_code == 201
    route = {"apiVersion": GW + "/v1", "kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "default"},
             "spec": {"parentRefs": [{"name": "g"}]}}
    assert sluiced.post(path_for("httproutes", "default"), route).status_code == 201
    st = wait_status(sluiced, "g", lambda s: len(s.get("listeners", [])) == 2 and
                     listener(s, "mixed")["attachedRoutes"] == 1)
    for name in ("only", "mixed"):
        refs = cond(listener(st, name)["conditions"], "ResolvedRefs")
        assert (refs["status"], refs["reason"]) == ("False", "InvalidRouteKinds"), name
        assert "gateway.networking.k8s.io/InvalidRoute" in refs["message"]
    assert listener(st, "only")["supportedKinds"] == []
    assert listener(st, "only")["attachedRoutes"] == 0
    assert cond(listener(st, "only")["conditions"], "Programmed")["status"] == "False"
    assert listener(st, "mixed")["supportedKinds"] == [{"group": GW, "kind": "HTTPRoute"}]
    assert cond(listener(st, "mixed")["conditions"], "Programmed")["status"] == "True"
    assert conditions_at(st, "Accepted", "True", "Accepted")


def test_invalid_parameters_ref_rejects_the_gateway(sluiced):
    """sluice has no Gateway parameters kind: a Gateway with a parametersRef is not
    accepted (InvalidParameters), binds nothing and takes no route; without it, it
    serves."""
    port = free_port()
    gw = gateway("g", [{"name": "http", "protocol": "HTTP", "port": port}])
    gw["spec"]["infrastructure"] = {"parametersRef": {"group": "invalid.io", "kind": "InvalidParameters",
                                                      "name": "invalid"}}
    assert sluiced.post(GWPATH, gw).status_code == 201
    route = {"apiVersion": GW + "/v1", "kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "default"},
             "spec": {"parentRefs": [{"name": "g"}]}}
    assert sluiced.post(path_for("httproutes", "default"), route).status_code == 201
    st = wait_status(sluiced, "g", lambda s: conditions_at(s, "Accepted", "False", "InvalidParameters"))
    assert "invalid.io/InvalidParameters" in cond(st["conditions"], "Accepted")["message"]
    assert conditions_at(st, "Programmed", "False", "Invalid")
    assert listener(st, "http")["attachedRoutes"] == 0
    assert not bound(port)
    assert children_of(sluiced.proc.pid) == []

    def route_accepted(status):
        parents = sluiced.get(path_for("httproutes", "default", "r")).json().get("status", {}).get("parents", [])
        return parents and cond(parents[0]["conditions"], "Accepted")["status"] == status and parents[0]
    parent = wait_until(lambda: route_accepted("False"), what="route not accepted")
    assert cond(parent["conditions"], "Accepted")["reason"] == "NotAllowedByListeners"

    r = sluiced.patch(GWPATH + "/g", {"spec": {"infrastructure": None}})
    assert r.status_code == 200, r.text
    st = wait_status(sluiced, "g", lambda s: conditions_at(s, "Programmed", "True", "Programmed"))
    assert conditions_at(st, "Accepted", "True", "Accepted")
    wait_until(lambda: route_accepted("True"), what="route accepted")
    wait_until(lambda: bound(port), what="port %d bound" % port)

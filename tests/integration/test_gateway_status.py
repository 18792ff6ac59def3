"""Gateway status as written by sluice from what actually runs."""

import time

from conftest import GW, free_port, path_for

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

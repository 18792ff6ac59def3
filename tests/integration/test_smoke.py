"""The shortest path through the control plane: start, store, read back, stop."""

from conftest import GW, httproute, path_for


def test_store_and_read_back(sluiced):
    r = sluiced.post(path_for("httproutes", "default"), httproute("smoke", path="/smoke"))
    assert r.status_code == 201, r.text
    got = sluiced.get(path_for("httproutes", "default", "smoke")).json()
    assert got["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/smoke"
    assert got["apiVersion"] == GW + "/v1"


def test_builtin_gatewayclasses_are_accepted(sluiced):
    import time
    for name in ("sluice", "sluice-ai"):
        deadline = time.monotonic() + 5
        conds = []
        while time.monotonic() < deadline:
            gc = sluiced.get(path_for("gatewayclasses", name=name)).json()
            conds = gc.get("status", {}).get("conditions", [])
            if conds:
                break
            time.sleep(0.05)
        accepted = [c for c in conds if c["type"] == "Accepted"]
        assert accepted and accepted[0]["status"] == "True", gc
        assert accepted[0]["observedGeneration"] == gc["metadata"]["generation"]


def test_foreign_gatewayclass_is_left_alone(sluiced):
    import time
    gc = {"apiVersion": GW + "/v1", "kind": "GatewayClass", "metadata": {"name": "other"},
          "spec": {"controllerName": "example.com/other-controller"}}
    assert sluiced.post(path_for("gatewayclasses"), gc).status_code == 201
    mine = {"apiVersion": GW + "/v1", "kind": "GatewayClass", "metadata": {"name": "mine"},
            "spec": {"controllerName": "sluice.dev/gateway-controller"}}
    assert sluiced.post(path_for("gatewayclasses"), mine).status_code == 201
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if sluiced.get(path_for("gatewayclasses", name="mine")).json().get("status"):
            break
        time.sleep(0.05)
    assert sluiced.get(path_for("gatewayclasses", name="mine")).json()["status"]["conditions"][0]["status"] == "True"
    assert "status" not in sluiced.get(path_for("gatewayclasses", name="other")).json()

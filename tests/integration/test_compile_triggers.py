"""What makes the master compile a new snapshot: a change of anything but
status. Status writes (the route and Gateway status sluice writes after each
compile, or a client's PUT to /status) move the resourceVersion but never run
the compiler again."""

import time

from conftest import GW, free_port, httproute, path_for
from dataplane import make_dataplane, wait_until  # noqa: F401 - fixture

ROUTES = path_for("httproutes", "default")
GWPATH = path_for("gateways", "default")


def compiles(s):
    for line in s.get("/metrics").text.splitlines():
        if line.startswith("sluice_snapshot_compiles_total "):
            return int(line.split()[1])
    raise AssertionError("no sluice_snapshot_compiles_total in /metrics")


def settled(s):
    """The compile count once it has stopped moving (status writes done)."""
    last = compiles(s)
    for _ in range(20):
        time.sleep(0.15)
        now = compiles(s)
        if now == last:
            return now
        last = now
    return last


def test_a_route_change_compiles_once_and_its_status_write_does_not_compile(sluiced):
    gw = {"apiVersion": GW + "/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "default",
                                                                   "annotations": {"sluice.dev/workers": "1"}},
          "spec": {"gatewayClassName": "sluice", "listeners": [{"name": "http", "protocol": "HTTP",
                                                                "port": free_port()}]}}
    assert sluiced.post(GWPATH, gw).status_code == 201
    c0 = settled(sluiced)
    rv0 = int(sluiced.get(ROUTES).json()["metadata"]["resourceVersion"])
    assert sluiced.post(ROUTES, httproute("r1", parent="gw")).status_code == 201
    # The route's status (parents: Accepted...) is written after the compile...
    wait_until(lambda: sluiced.get(ROUTES + "/r1").json().get("status", {}).get("parents"), timeout=10,
               what="route status")
    c1 = settled(sluiced)
    rv1 = int(sluiced.get(ROUTES).json()["metadata"]["resourceVersion"])
    assert rv1 >= rv0 + 2  # the create and at least one status write
    # ...and costs no second compile.
    assert c1 - c0 == 1, (c0, c1)
    # A client's own status write does not compile either.
    obj = sluiced.get(ROUTES + "/r1").json()
    obj["status"]["parents"][0]["conditions"][0]["message"] = "touched"
    r = sluiced.put(ROUTES + "/r1/status", obj)
    assert r.status_code == 200, r.text
    assert settled(sluiced) == c1
    # A spec change does.
    obj = sluiced.get(ROUTES + "/r1").json()
    obj["spec"]["hostnames"] = ["a.example.com"]
    assert sluiced.put(ROUTES + "/r1", obj).status_code == 200
    wait_until(lambda: compiles(sluiced) > c1, timeout=5, what="a compile for the spec change")


def test_debug_snapshot_raw_shows_every_section_field_by_field(make_dataplane):
    """/debug/snapshot?raw=1 renders the blob the workers run from the sections'
    descriptors: every section, every record, every field (references as
    indexes and ranges that stay within their sections)."""
    dp = make_dataplane()
    raw = dp.sluiced.get("/debug/snapshot?raw=1").json()
    nice = dp.sluiced.get("/debug/snapshot").json()
    assert raw["generation"] == nice["generation"] and raw["format"] >= 6
    secs = raw["sections"]
    for name in ("gateways", "ports", "listeners", "vhosts", "routes", "header_matches", "actions", "backend_refs",
                 "backends", "endpoints", "filters", "path_index", "certs"):
        assert isinstance(secs[name], list), name
    assert secs["strings"] > 0
    gw = secs["gateways"][0]
    assert gw["ns"] == "default" and gw["name"] == "gw" and gw["class_name"] == "sluice"
    assert "reserved" not in gw
    # Every range and index points inside its section.
    assert gw["listeners"]["first"] + gw["listeners"]["count"] <= len(secs["listeners"])
    ep = secs["endpoints"][0]
    assert ep["host"] == "127.0.0.1" and ep["port"] == dp.origin.port
    be = secs["backends"][0]
    assert be["endpoints"]["first"] + be["endpoints"]["count"] <= len(secs["endpoints"])
    route = secs["routes"][0]
    assert route["route_name"] == "r" and 0 <= route["action"] < len(secs["actions"])

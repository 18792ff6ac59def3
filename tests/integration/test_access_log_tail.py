"""The workers' last requests (GET /debug/access-log, common/log_tail.h), which
the dashboard's Logs view reads: every request of a real sluiced is there with
its fields whether or not an access log is written, filtered by Gateway, status
and route, newest last, bounded per worker, kept across a worker's crash; and
bad queries are refused with a Status."""
import os
import signal

import pytest  # noqa: F401
import requests

from conftest import free_port
from dataplane import (BACKENDS, GWPATH, ROUTES, ClosedPortOrigin, backend, backend_ref, created,  # noqa: F401
                       gateway, make_dataplane, route, wait_until)


def tail(sl, **query):
    r = sl.get("/debug/access-log", params=query)
    assert r.status_code == 200, r.text
    lines = r.json()["lines"]
    assert [l["msec"] for l in lines] == sorted(l["msec"] for l in lines)  # oldest first, newest last
    return lines


def split_route():
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "split", "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/dead"}}],
                 "backendRefs": [backend_ref("dead")]}]}}


def test_last_requests_with_their_fields_and_filters(make_dataplane):
    dp = make_dataplane(workers=2)
    sl = dp.sluiced
    closed = ClosedPortOrigin()
    created(sl.post(BACKENDS, backend("dead", [closed.port])))
    created(sl.post(ROUTES + "?wait=live", split_route()))
    for i in range(6):
        assert requests.get(dp.url + "/ok/%d?q=1" % i, headers={"User-Agent": "t"}, timeout=10).status_code == 200
    for i in range(3):
        assert requests.get(dp.url + "/dead/%d" % i, timeout=10).status_code in (502, 503)
    wait_until(lambda: len([l for l in tail(sl) if l["path"].startswith("/dead/")]) == 3, timeout=10,
               what="the requests in the workers' records")
    lines = tail(sl, gateway="default/gw")
    ok = [l for l in lines if l["path"].startswith("/ok/")]
    assert [l["path"] for l in ok] == ["/ok/%d?q=1" % i for i in range(6)]  # in the order they were made
    first = ok[0]
    assert first["gateway"] == "default/gw" and first["method"] == "GET" and first["status"] == 200
    assert first["route"] == "default/r" and first["upstream"] == "127.0.0.1:%d" % dp.origin.port
    assert first["client"] == "127.0.0.1" and first["host"].startswith("127.0.0.1")
    assert first["bytes_sent"] > 0 and first["duration_ms"] >= 0 and first["trace_id"] == ""
    # Filters: a class, a code, a route; a limit keeps the newest.
    dead = tail(sl, status="5xx")
    assert [l["path"] for l in dead] == ["/dead/%d" % i for i in range(3)]
    assert all(l["route"] == "default/split" for l in dead)
    assert tail(sl, status=str(dead[0]["status"]), route="default/split") == dead
    assert tail(sl, status="404") == []
    assert [l["path"] for l in tail(sl, route="default/split", limit=2)] == ["/dead/1", "/dead/2"]
    assert tail(sl, gateway="default/other") == []
    # A long route name (kept cut, as the access log keeps it) is still found by its full name.
    long_name = "r" + "x" * 60 + "." + "y" * 60 + "." + "z" * 60  # (past the 159 bytes kept)
    created(sl.post(ROUTES + "?wait=live", route(long_name, "be", path="/long")))
    assert requests.get(dp.url + "/long/1", timeout=10).status_code == 200
    wait_until(lambda: tail(sl, route="default/" + long_name), timeout=10, what="the long route's request")
    (line,) = tail(sl, route="default/" + long_name)
    assert line["path"] == "/long/1" and ("default/" + long_name).startswith(line["route"])
    for query, word in [({"status": "6xx"}, "status must be"), ({"status": "20"}, "status must be"),
                        ({"limit": "0"}, "limit must be"), ({"limit": "x"}, "limit must be"),
                        ({"limit": "2001"}, "limit must be")]:
        r = sl.get("/debug/access-log", params=query)
        assert r.status_code == 400 and word in r.json()["message"], (query, r.text)


def test_bounded_per_worker_kept_across_a_crash_and_per_gateway(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    with requests.Session() as s:
        for i in range(300):
            assert s.get(dp.url + "/n/%d" % i, timeout=10).status_code == 200
    wait_until(lambda: any(l["path"] == "/n/299" for l in tail(sl, limit=2000)), timeout=10, what="the last request")
    lines = tail(sl, limit=2000)
    assert len(lines) == sl.get("/debug/access-log").json()["recordsPerWorker"] == 256  # one worker's ring
    assert lines[-1]["path"] == "/n/299" and lines[0]["path"] == "/n/%d" % (300 - 256)
    # A worker's crash does not lose what it served.
    (pid,) = dp.workers()
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: dp.workers() and dp.workers() != [pid] and dp.get("/after").status_code == 200,
               timeout=20, what="a new worker")
    paths = [l["path"] for l in tail(sl, limit=2000)]
    assert "/n/299" in paths and "/after" in paths
    # Another Gateway's requests are its own.
    port = free_port()
    created(sl.post(GWPATH, gateway("gw2", port)))
    created(sl.post(ROUTES, route("r2", "be", parent="gw2")))
    wait_until(lambda: requests.get("http://127.0.0.1:%d/two" % port, timeout=2).status_code == 200, timeout=15,
               what="gw2 serving")
    wait_until(lambda: [l["path"] for l in tail(sl, gateway="default/gw2")] != [], timeout=10, what="gw2's lines")
    assert {l["gateway"] for l in tail(sl, gateway="default/gw2")} == {"default/gw2"}
    assert "/two" not in [l["path"] for l in tail(sl, gateway="default/gw", limit=2000)]

"""Hot reload (configuration changes without restarts) and the supervision of the
worker groups: Gateways starting, stopping and moving, crashes, signals."""

import os
import signal
import socket
import threading
import time

import requests

from dataplane import (BACKENDS, GWPATH, ROUTES, Origin, backend, backend_ref, children_of, connect,  # noqa: F401
                       created, free_port, gateway, get_req, make_dataplane, pid_alive, route, wait_until,
                       RawClient)


def refuses(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def serves(port, path="/", want=200):
    try:
        return requests.get("http://127.0.0.1:%d%s" % (port, path), timeout=2).status_code == want
    except requests.RequestException:
        return False


class Background:
    """Runs one request in a thread; .result is the Response or the exception."""

    def __init__(self, url, **kw):
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(url,), kwargs=kw, daemon=True)
        self.thread.start()

    def _run(self, url, **kw):
        try:
            self.result = requests.get(url, timeout=15, **kw)
        except Exception as e:  # noqa: BLE001 - the test inspects it
            self.result = e

    def wait(self, timeout=15):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "request still running"
        return self.result


def add_gateway(dp, name, port, workers=1, route_name=None, origin=None):
    """A second Gateway with its own route (to origin or the main one)."""
    s = dp.sluiced
    be = "be"
    if origin is not None:
        be = "be-" + name
        created(s.post(BACKENDS, backend(be, [origin.port])))
    created(s.post(ROUTES, route(route_name or "r-" + name, be, parent=name)))
    created(s.post(GWPATH, gateway(name, port, workers=workers)))


def test_route_change_takes_effect_without_restart(make_dataplane):
    dp = make_dataplane(workers=2)
    pids = dp.workers()
    assert len(pids) == 2
    gen = dp.generation()
    b = dp.new_origin("b")
    created(dp.sluiced.post(BACKENDS, backend("be-b", [b.port])))
    created(dp.sluiced.patch(ROUTES + "/r", {"spec": {"rules": [{
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [backend_ref("be-b")]}]}}))
    dp.wait_serving(origin_name="b", timeout=10)
    # Every worker switched (several requests land on both workers).
    for _ in range(20):
        assert dp.get("/").headers["X-Origin"] == "b"
    assert dp.generation() > gen
    # Path change.
    created(dp.sluiced.patch(ROUTES + "/r", {"spec": {"rules": [{
        "matches": [{"path": {"type": "PathPrefix", "value": "/v2"}}], "backendRefs": [backend_ref("be-b")]}]}}))
    wait_until(lambda: dp.get("/v1").status_code == 404, what="old path gone")
    assert dp.get("/v2/x").status_code == 200
    assert dp.workers() == pids, "workers were restarted for a route change"


def test_request_in_flight_during_change_completes_on_old_backend(make_dataplane):
    dp = make_dataplane()
    b = dp.new_origin("b")
    created(dp.sluiced.post(BACKENDS, backend("be-b", [b.port])))
    bg = Background(dp.url + "/?delay=1000")
    wait_until(lambda: dp.origin.heads >= 2, timeout=5, what="slow request at the origin")
    t = time.monotonic()
    created(dp.sluiced.patch(ROUTES + "/r", {"spec": {"rules": [{
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [backend_ref("be-b")]}]}}))
    dp.wait_serving(origin_name="b", timeout=10)
    switched_after = time.monotonic() - t
    r = bg.wait()
    assert isinstance(r, requests.Response), r
    assert r.status_code == 200
    assert r.headers["X-Origin"] == "origin"
    # The switch did not wait for the slow request.
    assert switched_after < 0.9, switched_after


def test_second_gateway_starts_and_stops(make_dataplane):
    dp = make_dataplane()
    pids1 = dp.workers()
    port2 = free_port()
    other = dp.new_origin("other")
    add_gateway(dp, "gw2", port2, workers=2, origin=other)
    wait_until(lambda: len(dp.workers()) == 3, what="gw2 workers")
    new = set(dp.workers()) - set(pids1)
    assert len(new) == 2
    dp.wait_serving(port=port2, origin_name="other")
    assert dp.get("/").headers["X-Origin"] == "origin"
    # Delete it: its workers stop and its port refuses; gw's workers are untouched.
    r = dp.sluiced.delete(GWPATH + "/gw2")
    assert r.status_code == 200, r.text
    wait_until(lambda: all(not pid_alive(p) for p in new), what="gw2 workers gone")
    wait_until(lambda: refuses(port2), what="gw2 port refusing")
    assert dp.workers() == pids1
    assert dp.get("/").status_code == 200


def test_listener_port_change_moves_group_only(make_dataplane):
    dp = make_dataplane()
    pids1 = set(dp.workers())
    port2 = free_port()
    add_gateway(dp, "gw2", port2)
    wait_until(lambda: serves(port2), what="gw2 serving")
    gw2_pids = set(dp.workers()) - pids1
    assert len(gw2_pids) == 1
    # A keep-alive connection to gw2 that must survive gw's move.
    c = RawClient(connect(port2))
    c.send(get_req("/before"))
    assert c.read_response().status == 200
    old = dp.port
    new = free_port()
    gw = dp.sluiced.get(GWPATH + "/gw").json()
    gw["spec"]["listeners"][0]["port"] = new
    assert dp.sluiced.put(GWPATH + "/gw", gw).status_code == 200
    wait_until(lambda: serves(new), what="gw on its new port")
    wait_until(lambda: refuses(old), what="old port refusing")
    c.send(get_req("/after"))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/after"
    c.sock.close()
    # Nobody restarted: gw's workers were handed the new socket and dropped the old one.
    assert all(pid_alive(p) for p in gw2_pids)
    assert pids1 <= set(dp.workers())
    assert len(dp.workers()) == 2
    assert serves(port2)
    assert "no longer listening on *:%d" % old in dp.sluiced.log()


def test_changing_one_listener_leaves_the_others_connections_alone(make_dataplane):
    """A Gateway with two listeners: moving one of them to another port does not
    restart the workers, and a keep-alive connection on the other listener goes on
    on the very same TCP connection."""
    dp = make_dataplane()
    pids = set(dp.workers())
    second = free_port()
    gw = dp.sluiced.get(GWPATH + "/gw").json()
    gw["spec"]["listeners"].append({"name": "second", "protocol": "HTTP", "port": second})
    assert dp.sluiced.put(GWPATH + "/gw", gw).status_code == 200
    wait_until(lambda: serves(second), what="second listener serving")
    assert set(dp.workers()) == pids
    c = RawClient(connect(dp.port))
    c.send(get_req("/one"))
    assert c.read_response().status == 200
    moved = free_port()
    gw = dp.sluiced.get(GWPATH + "/gw").json()
    gw["spec"]["listeners"][1]["port"] = moved
    assert dp.sluiced.put(GWPATH + "/gw", gw).status_code == 200
    wait_until(lambda: serves(moved), what="moved listener serving")
    wait_until(lambda: refuses(second), what="old port of the moved listener refusing")
    c.send(get_req("/two"))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/two"
    c.sock.close()
    assert set(dp.workers()) == pids


def test_two_gateways_on_one_port(make_dataplane):
    dp = make_dataplane()
    pids = dp.workers()
    other = dp.new_origin("other")
    add_gateway(dp, "clash", dp.port, origin=other)
    wait_until(lambda: "already" in dp.sluiced.log() and "clash" in dp.sluiced.log(), timeout=5,
               what="the conflict in the log")
    time.sleep(0.3)
    assert dp.sluiced.proc.poll() is None
    assert dp.sluiced.get("/healthz").status_code == 200
    assert dp.workers() == pids, "a worker group was started for the conflicting Gateway"
    for _ in range(10):
        r = dp.get("/")
        assert r.status_code == 200 and r.headers["X-Origin"] == "origin"


def test_port_conflict_clears_when_the_owner_is_deleted(make_dataplane):
    dp = make_dataplane()
    other = dp.new_origin("other")
    add_gateway(dp, "clash", dp.port, origin=other)
    wait_until(lambda: "clash" in dp.sluiced.log(), timeout=5, what="clash seen by the supervisor")
    assert dp.get("/").headers["X-Origin"] == "origin"
    # The first Gateway goes: the port is free, the second one takes it (no further change needed).
    assert dp.sluiced.delete(GWPATH + "/gw").status_code == 200
    dp.wait_serving(origin_name="other", timeout=5)


def test_killed_worker_is_respawned(make_dataplane):
    dp = make_dataplane(workers=2)
    pids = dp.workers()
    assert len(pids) == 2
    victim = pids[0]
    os.kill(victim, signal.SIGKILL)
    t = time.monotonic()
    codes = []
    while time.monotonic() - t < 1.0:
        codes.append(dp.get("/").status_code)
    assert set(codes) == {200}, codes
    wait_until(lambda: len(dp.workers()) == 2 and victim not in dp.workers(), timeout=5, what="respawn")
    assert pids[1] in dp.workers()
    log = dp.sluiced.log()
    line = [ln for ln in log.splitlines() if str(victim) in ln and ("signal 9" in ln or "Killed" in ln)]
    assert line, log[-3000:]
    for _ in range(10):
        assert dp.get("/").status_code == 200


def test_workers_annotation(make_dataplane):
    dp = make_dataplane(workers=2)
    assert len(dp.workers()) == 2
    assert dp.sluiced.get("/debug/snapshot").json()["gateways"][0]["workers"] == 2
    created(dp.sluiced.patch(GWPATH + "/gw", {"metadata": {"annotations": {"sluice.dev/workers": "1"}}}))
    wait_until(lambda: len(dp.workers()) == 1, what="scaled down to 1 worker")
    created(dp.sluiced.patch(GWPATH + "/gw", {"metadata": {"annotations": {"sluice.dev/workers": "3"}}}))
    wait_until(lambda: len(dp.workers()) == 3, what="scaled up to 3 workers")
    assert dp.get("/").status_code == 200


def test_sigterm_drains_in_flight_requests(make_dataplane):
    dp = make_dataplane(workers=2)
    pids = dp.workers()
    bg = Background(dp.url + "/?delay=1500")
    wait_until(lambda: dp.origin.heads >= 2, timeout=5, what="slow request at the origin")
    t = time.monotonic()
    dp.sluiced.proc.send_signal(signal.SIGTERM)
    # New connections are refused while the slow request still runs.
    wait_until(lambda: refuses(dp.port), timeout=1.0, interval=0.02, what="listening socket closed")
    assert time.monotonic() - t < 1.2
    r = bg.wait()
    assert isinstance(r, requests.Response), r
    assert r.status_code == 200
    assert dp.sluiced.proc.wait(10) == 0
    for p in pids:
        wait_until(lambda: not pid_alive(p), timeout=3, what="worker %d gone" % p)
    assert refuses(dp.port)


def test_sigterm_closes_idle_keepalive_connections_at_once(make_dataplane):
    """Idle keep-alive connections do not hold up the drain; a connection whose
    request is in flight gets its response with Connection: close, then closes."""
    dp = make_dataplane()
    idle = RawClient(connect(dp.port))
    idle.send(get_req("/idle"))
    assert idle.read_response().status == 200
    busy = RawClient(connect(dp.port))
    busy.sock.settimeout(10)
    busy.send(get_req("/?delay=800"))
    wait_until(lambda: dp.origin.heads >= 3, timeout=5, what="slow request at the origin")
    t = time.monotonic()
    dp.sluiced.proc.send_signal(signal.SIGTERM)
    assert idle.closed_within(1.0), "idle keep-alive connection kept open during the drain"
    r = busy.read_response()
    assert r.status == 200
    assert r.header("Connection") == "close"
    assert busy.closed_within(2)
    assert dp.sluiced.proc.wait(10) == 0
    assert time.monotonic() - t < 3.0
    idle.sock.close()
    busy.sock.close()


def test_drain_timeout_bounds_the_stop(make_dataplane):
    dp = make_dataplane(args=["--drain-timeout", "500"])
    pids = dp.workers()
    c = RawClient(connect(dp.port))
    c.send(get_req("/?hang=1"))
    wait_until(lambda: dp.origin.heads >= 2, timeout=5, what="hanging request at the origin")
    t = time.monotonic()
    dp.sluiced.proc.send_signal(signal.SIGTERM)
    assert dp.sluiced.proc.wait(10) == 0
    took = time.monotonic() - t
    assert 0.4 < took < 3.5, took
    assert c.closed_within(2)
    c.sock.close()
    for p in pids:
        wait_until(lambda: not pid_alive(p), timeout=2, what="worker %d gone" % p)


def test_deleting_a_gateway_lets_its_requests_finish(make_dataplane):
    dp = make_dataplane()
    port2 = free_port()
    add_gateway(dp, "gw2", port2)
    wait_until(lambda: serves(port2), what="gw2 serving")
    heads0 = dp.origin.heads
    bg = Background("http://127.0.0.1:%d/?delay=1000" % port2)
    wait_until(lambda: dp.origin.heads > heads0, timeout=5, what="slow request at the origin")
    assert dp.sluiced.delete(GWPATH + "/gw2").status_code == 200
    wait_until(lambda: refuses(port2), timeout=5, what="gw2 port refusing")
    r = bg.wait()
    assert isinstance(r, requests.Response), r
    assert r.status_code == 200


def test_sigquit_stops_at_once(make_dataplane):
    dp = make_dataplane(workers=2)
    pids = dp.workers()
    c = RawClient(connect(dp.port))
    c.send(get_req("/?hang=1"))
    wait_until(lambda: dp.origin.heads >= 2, timeout=5, what="hanging request at the origin")
    t = time.monotonic()
    dp.sluiced.proc.send_signal(signal.SIGQUIT)
    rc = dp.sluiced.proc.wait(5)
    took = time.monotonic() - t
    assert took < 1.5, took
    assert rc == 0
    assert c.closed_within(2), "the in-flight connection was left open"
    c.sock.close()
    for p in pids:
        wait_until(lambda: not pid_alive(p), timeout=2, what="worker %d gone" % p)
    assert refuses(dp.port)


def test_master_kill9_takes_workers_with_it(make_dataplane):
    dp = make_dataplane(workers=2)
    pids = dp.workers()
    assert len(pids) == 2
    dp.sluiced.kill9()
    for p in pids:
        wait_until(lambda: not pid_alive(p), timeout=5, what="worker %d gone after the master" % p)
    assert refuses(dp.port)


def test_gateway_addresses_pick_the_bound_addresses(make_dataplane):
    """spec.addresses: the Gateway listens on each IPAddress given, and only there."""
    dp = make_dataplane()
    port = free_port()
    gw = gateway("addr", port)
    gw["spec"]["addresses"] = [{"type": "IPAddress", "value": "127.0.0.2"},
                               {"type": "IPAddress", "value": "127.0.0.3"}]
    created(dp.sluiced.post(ROUTES, route("r-addr", "be", parent="addr")))
    created(dp.sluiced.post(GWPATH, gw))

    def serves_on(addr):
        try:
            return requests.get("http://%s:%d/" % (addr, port), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(lambda: serves_on("127.0.0.2") and serves_on("127.0.0.3"), what="both addresses serving")
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex(("127.0.0.1", port)) != 0, "bound an address that was not asked for"
    st = wait_until(lambda: dp.sluiced.get(GWPATH + "/addr").json().get("status"), what="status written")
    assert [a["value"] for a in st["addresses"]] == ["127.0.0.2", "127.0.0.3"]

"""The admin API under abuse: thousands of idle connections from one address
(as NAT or loopback would bring) never lock out /healthz or a token holder; a
connection that sends no request head is closed after --admin-header-timeout;
a watch in progress is never closed to make room."""

import json
import os
import resource
import socket
import threading
import time

import pytest
import requests

from conftest import httproute, path_for
from dataplane import wait_until
from test_api_auth import bearer, create_token

ROUTES = path_for("httproutes", "default")


def open_idle(port, n, deadline_s=90.0):
    """Opens up to n established connections to 127.0.0.1:port that send nothing."""
    socks = []
    end = time.monotonic() + deadline_s
    while len(socks) < n and time.monotonic() < end:
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip("skipped, because this process may open only %d files (needs %d)" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def metric(s, name, token=None):
    text = s.get("/metrics", headers=bearer(token) if token else {}).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no %s in /metrics" % name)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_ten_thousand_idle_connections_do_not_lock_out_clients(make_sluiced):
    raise_nofile(10300)
    s = make_sluiced()
    os.makedirs(s.state_dir, exist_ok=True)
    token = create_token(s.state_dir, "ops")
    s.start()
    assert s.post(ROUTES, httproute("before"), headers=bearer(token)).status_code == 201
    idle = open_idle(s.port, 10000)
    try:
        assert len(idle) == 10000

        def served():
            r = requests.get(s.url + "/healthz", timeout=10)
            assert r.status_code == 200 and r.text == "ok\n"
            r = requests.get(s.url + ROUTES + "/before", headers=bearer(token), timeout=10)
            assert r.status_code == 200, r.text
            assert requests.get(s.url + ROUTES, timeout=10).status_code == 401

        served()  # while the flood is still being accepted
        # Until the server has taken in the whole flood (closing idle ones to stay
        # within its limit, default 256)...
        wait_until(lambda: metric(s, "sluice_admin_connections_evicted_total", token) >= 10000 - 256,
                   timeout=60, what="the flood accepted")
        served()  # ...and after
        r = requests.post(s.url + ROUTES, json=httproute("during"), headers=bearer(token), timeout=10)
        assert r.status_code == 201, r.text
        assert metric(s, "sluice_admin_connections", token) <= 256
        assert open_fds(s.proc.pid) < 256 + 200
    finally:
        close_all(idle)


def test_connection_without_a_request_head_is_closed(make_sluiced):
    s = make_sluiced(extra_args=["--admin-header-timeout", "1"]).start()
    partial = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no end of head
    keep = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    keep.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200" in keep.recv(4096).split(b"\r\n")[0]
    t0 = time.monotonic()
    partial.settimeout(6)
    assert partial.recv(4096) == b""  # closed, not answered
    took = time.monotonic() - t0
    assert 0.5 <= took < 5, took
    # The connection that did send a request is still usable (idle timeout: 120 s).
    keep.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    keep.settimeout(5)
    assert b"200" in keep.recv(4096).split(b"\r\n")[0]
    partial.close()
    keep.close()


def test_a_watch_is_never_closed_to_make_room(make_sluiced):
    s = make_sluiced(extra_args=["--admin-max-connections", "16"]).start()
    events = []
    ready = threading.Event()

    def watch():
        with requests.get(s.url + ROUTES + "?watch=1", stream=True, timeout=30) as r:
            ready.set()
            for line in r.iter_lines():
                if line:
                    events.append(json.loads(line))
                    if len(events) == 2:
                        return

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    assert ready.wait(10)
    assert s.post(ROUTES, httproute("a")).status_code == 201
    idle = open_idle(s.port, 500)
    try:
        assert len(idle) == 500
        deadline = time.monotonic() + 10
        # Requests still get through while the flood sits there.
        assert requests.post(s.url + ROUTES, json=httproute("b"), timeout=10).status_code == 201
        t.join(max(0.1, deadline - time.monotonic()))
    finally:
        close_all(idle)
    assert [e["object"]["metadata"]["name"] for e in events] == ["a", "b"], events

"""The per-worker pool of idle upstream connections: requests reuse a pooled
connection, and one idle for longer than --upstream-idle-timeout is closed."""

import time

import requests

from concurrent.futures import ThreadPoolExecutor

from dataplane import Origin, RawClient, connect, get_req, make_dataplane, start_dataplane, wait_until  # noqa: F401


def origin_connections(origin):
    with origin.lock:
        return len(origin.socks)


def test_requests_reuse_a_pooled_connection(make_dataplane):
    dp = make_dataplane(args=["--upstream-idle-timeout", "60000"])
    seen = [dp.get("/").json()["conn_request"] for _ in range(5)]
    # One at a time through one worker: each request after the first arrives on
    # the connection the previous one used.
    assert seen[-4:] == [seen[-5] + 1, seen[-5] + 2, seen[-5] + 3, seen[-5] + 4], seen
    assert origin_connections(dp.origin) >= 1


def test_idle_upstream_connections_are_closed_after_the_timeout(make_dataplane):
    dp = make_dataplane(args=["--upstream-idle-timeout", "400"])
    wait_until(lambda: origin_connections(dp.origin) == 0, timeout=5, what="warm-up connections closed")
    assert dp.get("/").status_code == 200
    t = time.monotonic()
    assert origin_connections(dp.origin) == 1
    wait_until(lambda: origin_connections(dp.origin) == 0, timeout=5, what="the idle pooled connection closed")
    took = time.monotonic() - t
    # Not before the timeout (less the time the request itself took), and
    # within the 100 ms tick that checks the pool (plus scheduling slack).
    assert took >= 0.3, took
    assert took < 2.0, took


def test_post_is_not_resent_when_a_reused_connection_closes(make_dataplane):
    """A backend that reads a POST on a pooled connection and closes without an
    answer may have acted on it: the proxy must answer 502, never send it again
    (RFC 9110 9.2.2; nginx's default). The backend must have seen it once."""
    origin = Origin("dropper", drop_reused=True)
    dp = make_dataplane(args=["--upstream-idle-timeout", "60000"], origin=origin)
    # After any successful GET the pooled connection has served exactly one
    # request, so the next request goes out as its second and is dropped.
    assert dp.get("/warm").status_code == 200
    before = origin.nrequests
    r = requests.post(dp.url + "/order", data=b"buy 1", timeout=10)
    assert r.status_code == 502, (r.status_code, r.text)
    time.sleep(0.2)  # a resend would reach the origin by now
    posts = [q for q in origin.requests[before:] if q["method"] == "POST"]
    assert len(posts) == 1, posts


def test_get_is_resent_when_a_reused_connection_closes(make_dataplane):
    """The same failure for an idempotent request is hidden from the client: it is
    sent once more on a fresh connection."""
    origin = Origin("dropper", drop_reused=True)
    dp = make_dataplane(args=["--upstream-idle-timeout", "60000"], origin=origin)
    assert dp.get("/warm").status_code == 200
    before = origin.nrequests
    r = dp.get("/again")
    assert r.status_code == 200 and r.json()["target"] == "/again"
    gets = [q for q in origin.requests[before:] if q["target"] == "/again"]
    assert len(gets) == 2, gets  # the dropped one and the resend


def test_idle_upstream_connections_give_way_to_clients_when_descriptors_run_out(make_sluiced):
    """With 256 descriptors, idle pooled upstream connections must not keep new
    clients out: the pool is sized from the limit, and accept closes the oldest
    idle ones before it pauses."""
    s = make_sluiced(extra_args=["--upstream-idle-timeout", "600000"], nofile=256).start()
    dp = start_dataplane(s)
    try:
        # 120 requests at once leave up to 120 upstream connections to pool.
        with ThreadPoolExecutor(120) as ex:
            codes = list(ex.map(lambda i: requests.get(dp.url + "/?delay=300", timeout=20).status_code, range(120)))
        assert codes == [200] * 120
        # Then 200 clients that each make a request and stay connected.
        clients = []
        try:
            for i in range(200):
                c = RawClient(connect(dp.port, timeout=10))
                c.send(get_req("/c%d" % i))
                r = c.read_response()
                assert r.status == 200, (i, r)
                clients.append(c)
        finally:
            for c in clients:
                c.sock.close()
        assert len(clients) == 200
    finally:
        dp.close()

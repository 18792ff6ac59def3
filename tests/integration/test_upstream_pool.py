"""The per-worker pool of idle upstream connections: requests reuse a pooled
connection, and one idle for longer than --upstream-idle-timeout is closed."""

import time

from dataplane import make_dataplane, wait_until  # noqa: F401 - fixture


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

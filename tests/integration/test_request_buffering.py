"""Request buffering (--request-buffer-bytes): slow clients with small bodies
hold memory on the gateway, never a backend connection; larger bodies stream
as they come; --body-timeout bounds the whole body however steadily it trickles."""

import hashlib
import threading
import time

from dataplane import RawClient, connect, make_dataplane, wait_until  # noqa: F401 - fixture


def slow_post(port, body, pieces, pause, path="/up"):
    """Sends a POST whose body arrives in `pieces` parts `pause` seconds apart;
    returns (client, response)."""
    c = RawClient(connect(port, timeout=30))
    c.send(b"POST %s HTTP/1.1\r\nHost: a.example\r\nContent-Length: %d\r\n\r\n" % (path.encode(), len(body)))
    step = -(-len(body) // pieces)
    for i in range(0, len(body), step):
        time.sleep(pause)
        c.send(body[i:i + step])
    return c, c.read_response()


def test_slow_small_bodies_hold_no_backend_connection(make_dataplane):
    dp = make_dataplane()
    heads0, conns0 = dp.origin.heads, dp.origin.connections
    body = bytes(range(256)) * 8  # 2 KiB, under the 64 KiB default
    results = []

    def client(i):
        c, r = slow_post(dp.port, body, pieces=8, pause=0.15, path="/slow%d" % i)
        results.append(r)
        c.sock.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    time.sleep(0.6)  # every client is half-way through its body
    assert dp.origin.heads == heads0, "requests reached the backend before their bodies were whole"
    assert dp.origin.connections == conns0
    for t in threads:
        t.join(30)
    assert len(results) == 50 and all(r.status == 200 for r in results)
    want = hashlib.sha256(body).hexdigest()
    assert all(r.json()["body_len"] == len(body) and r.json()["body_sha256"] == want for r in results)


def test_body_larger_than_the_buffer_streams(make_dataplane):
    dp = make_dataplane(args=["--request-buffer-bytes", "1024"])
    body = b"x" * 4096
    heads0 = dp.origin.heads
    done = []

    def client():
        c, r = slow_post(dp.port, body, pieces=4, pause=0.3)
        done.append(r)
        c.sock.close()

    t = threading.Thread(target=client)
    t.start()
    # Streaming: the head is at the backend long before the body is complete.
    wait_until(lambda: dp.origin.heads > heads0, timeout=1.0, what="the head at the origin")
    assert not done
    t.join(10)
    assert done[0].status == 200 and done[0].json()["body_len"] == len(body)


def test_buffering_off_streams(make_dataplane):
    dp = make_dataplane(args=["--request-buffer-bytes", "0"])
    heads0 = dp.origin.heads
    done = []
    t = threading.Thread(target=lambda: done.append(slow_post(dp.port, b"y" * 100, pieces=4, pause=0.3)[1]))
    t.start()
    wait_until(lambda: dp.origin.heads > heads0, timeout=1.0, what="the head at the origin")
    t.join(10)
    assert done[0].status == 200


def test_body_timeout_bounds_a_steady_trickle(make_dataplane):
    """Each byte comes well within --body-idle-timeout, yet the whole body is
    overdue: 408 after --body-timeout, and the backend never sees the request."""
    dp = make_dataplane(args=["--body-timeout", "800", "--body-idle-timeout", "5000"])
    heads0 = dp.origin.heads
    c = RawClient(connect(dp.port, timeout=10))
    c.send(b"POST /trickle HTTP/1.1\r\nHost: a.example\r\nContent-Length: 100\r\n\r\n")
    t0 = time.monotonic()
    status = None
    for _ in range(40):
        try:
            c.send(b"z")
        except OSError:
            break
        c.sock.settimeout(0.1)
        try:
            data = c.sock.recv(4096)
        except OSError:
            continue
        c.buf += data
        if b"\r\n\r\n" in c.buf:
            status = int(bytes(c.buf).split(b" ", 2)[1])
            break
    took = time.monotonic() - t0
    assert status == 408, (status, bytes(c.buf[:200]))
    assert 0.6 <= took < 3, took
    assert dp.origin.heads == heads0
    c.sock.close()


def test_expect_continue_with_buffering(make_dataplane):
    """A client that waits for 100 Continue gets it before its body is read."""
    dp = make_dataplane()
    c = RawClient(connect(dp.port, timeout=10))
    c.send(b"POST /ec HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    interim = c.read_response(allow_interim=True)
    assert interim.status == 100
    c.send(b"hello")
    r = c.read_response()
    assert r.status == 200 and r.json()["body_len"] == 5
    c.sock.close()


def test_a_buffered_body_after_an_earlier_response_on_the_connection(make_dataplane):
    """The second request of a keep-alive connection, its body in pieces: while it is
    buffered, nothing of the first response may make it look finished."""
    dp = make_dataplane()
    c = RawClient(connect(dp.port, timeout=30))
    c.send(b"GET /first HTTP/1.1\r\nHost: a.example\r\n\r\n")
    assert c.read_response().status == 200
    body = b"0123456789" * 300
    c.send(b"POST /second HTTP/1.1\r\nHost: a.example\r\nContent-Length: %d\r\n\r\n" % len(body))
    for i in range(0, len(body), 1000):
        time.sleep(0.2)
        c.send(body[i:i + 1000])
    r = c.read_response()
    assert r.status == 200, r
    echo = r.json()
    assert echo["target"] == "/second" and echo["body_sha256"] == hashlib.sha256(body).hexdigest(), echo
    c.send(b"GET /third HTTP/1.1\r\nHost: a.example\r\n\r\n")
    assert c.read_response().status == 200

"""Large response bodies of known length move from the upstream socket to the
client socket by splice(2) (--splice-min-bytes): the bytes must arrive intact,
keep-alive and pipelining must work around them, a backend dying mid-body or a
client leaving mid-body must cut only that response, and no pipe may leak."""

import hashlib
import os
import re
import socket
import time

import pytest

from dataplane import (PATTERN_BLOCK, RawClient, connect, make_dataplane, pattern,  # noqa: F401 - fixture
                       wait_until)

KIB = 1024
MIB = 1 << 20


def spliced_bytes(dp):
    text = dp.sluiced.get("/metrics").text
    m = re.search(r'^sluice_spliced_bytes_total\{gateway="default/gw"\} (\d+)$', text, re.M)
    assert m, text[-2000:]
    return int(m.group(1))


def sent_bytes(dp):
    text = dp.sluiced.get("/metrics").text
    m = re.search(r'^sluice_sent_bytes_total\{gateway="default/gw"\} (\d+)$', text, re.M)
    assert m, text[-2000:]
    return int(m.group(1))


def expected_sha(n):
    h = hashlib.sha256()
    block = memoryview(PATTERN_BLOCK)
    while n:
        take = min(n, len(block))
        h.update(block[:take])
        n -= take
    return h.hexdigest()


def read_body(c, n):
    """Reads exactly n body bytes from RawClient c; returns their SHA-256."""
    h = hashlib.sha256()
    while len(c.buf) < n:
        c._fill()
    h.update(bytes(c.buf[:n]))
    del c.buf[:n]
    return h.hexdigest()


def get_head(c, path):
    c.send(b"GET %s HTTP/1.1\r\nHost: splice.example\r\n\r\n" % path)
    while b"\r\n\r\n" not in c.buf:
        c._fill()
    i = c.buf.find(b"\r\n\r\n")
    head = bytes(c.buf[:i]).decode("latin-1")
    del c.buf[:i + 4]
    return head


def worker_fds(dp):
    (w,) = dp.workers()
    return len(os.listdir("/proc/%d/fd" % w))


@pytest.fixture
def dp(make_dataplane):
    return make_dataplane(workers=1)


@pytest.mark.parametrize("size", [40 * KIB, 64 * KIB + 1, 5 * MIB + 7])
def test_spliced_bodies_arrive_intact(dp, size):
    c = RawClient(connect(dp.port, timeout=20))
    # The first large response on an upstream connection is read whole (up to
    # 72 KiB) before the rest is spliced; after it, the first read of each
    # response on that connection takes only about a head, and the body moves
    # by splice. With one worker and one request at a time, the pool hands the
    # same upstream connection back each time.
    for i in range(3):
        before = spliced_bytes(dp)
        sent_before = sent_bytes(dp)
        head = get_head(c, b"/?size=%d" % size)
        assert head.startswith("HTTP/1.1 200"), head
        assert "content-length: %d" % size in head.lower(), head
        assert read_body(c, size) == expected_sha(size)
        if i == 0:
            continue
        # All of the body but what came with the head (at most the first 4 KiB
        # read) went by splice, and the sent-bytes counter includes it.
        spliced = wait_until(lambda: spliced_bytes(dp) - before >= size - 4 * KIB and spliced_bytes(dp) - before,
                             what="spliced bytes counted")
        assert spliced <= size
        assert sent_bytes(dp) - sent_before >= size


def test_small_bodies_are_not_spliced(dp):
    before = spliced_bytes(dp)
    for _ in range(5):
        r = dp.get("/?size=%d" % (16 * KIB))
        assert r.status_code == 200
        assert r.content == pattern(16 * KIB)
    assert spliced_bytes(dp) == before


def test_splicing_can_be_switched_off(make_dataplane):
    dp = make_dataplane(args=["--splice-min-bytes", "0"])
    r = dp.get("/?size=%d" % (3 * MIB))
    assert r.status_code == 200
    assert r.content == pattern(3 * MIB)
    assert spliced_bytes(dp) == 0


def test_keepalive_and_pipelining_around_spliced_bodies(dp):
    sizes = [1 * MIB, 100, 200 * KIB, 0, 64 * KIB]
    c = RawClient(connect(dp.port, timeout=20))
    # All five requests at once: each response must end exactly where the next begins.
    c.send(b"".join(b"GET /?size=%d HTTP/1.1\r\nHost: splice.example\r\n\r\n" % n for n in sizes))
    for n in sizes:
        r = c.read_response()
        assert r.status == 200
        assert len(r.body) == n
        assert r.body == pattern(n)
    # And a HEAD of a large body: a head alone, the connection still usable.
    c.send(b"HEAD /?size=%d HTTP/1.1\r\nHost: splice.example\r\n\r\n" % (8 * MIB))
    r = c.read_response(head_request=True)
    assert r.status == 200
    assert r.header("content-length") == str(8 * MIB)
    c.send(b"GET /?size=%d HTTP/1.1\r\nHost: splice.example\r\n\r\n" % (300 * KIB))
    r = c.read_response()
    assert r.body == pattern(300 * KIB)
    # Every request went over one client connection.
    assert dp.origin.nrequests >= len(sizes) + 2


def test_backend_dying_mid_body_cuts_only_that_response(dp):
    size, cut = 2 * MIB, 700 * KIB
    c = RawClient(connect(dp.port, timeout=10))
    head = get_head(c, b"/?size=%d&cut=%d" % (size, cut))
    assert head.startswith("HTTP/1.1 200"), head
    got = bytearray(c.buf)
    c.sock.settimeout(10)
    while True:
        data = c.sock.recv(MIB)
        if not data:
            break
        got += data
    # The client sees the connection close short of Content-Length, never a
    # response padded or merged with another.
    assert len(got) == cut
    assert bytes(got) == pattern(cut)
    assert "in the middle of the body" in dp.sluiced.log()
    # The worker goes on serving, spliced bodies included.
    r = dp.get("/?size=%d" % MIB)
    assert r.status_code == 200 and r.content == pattern(MIB)


def test_clients_leaving_mid_body_leak_no_pipes(dp):
    # Warm up: the worker makes its pool of pipes and upstream connections.
    for _ in range(3):
        assert dp.get("/?size=%d" % MIB).status_code == 200
    base = worker_fds(dp)
    for _ in range(40):
        s = connect(dp.port, timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.sendall(b"GET /?size=%d HTTP/1.1\r\nHost: splice.example\r\n\r\n" % (64 * MIB))
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # reset with most of the body still to come
    r = dp.get("/?size=%d" % MIB)
    assert r.status_code == 200 and r.content == pattern(MIB)
    # Pipes of cut responses are closed, not pooled; upstream connections of cut
    # responses are closed too. What remains is about what there was.
    wait_until(lambda: worker_fds(dp) <= base + 4, what="worker descriptors back near %d (now %d)" %
               (base, worker_fds(dp)))


def test_a_pausing_backend_does_not_hold_back_what_it_sent(dp):
    # The origin sends 300 KiB of a 1 MiB body, then pauses for 2 s: what it
    # sent must reach the client during the pause (a spliced piece must not wait
    # in the kernel for the rest of the body).
    size, first, pause = MIB, 300 * KIB, 2.0
    c = RawClient(connect(dp.port, timeout=20))
    for i in range(2):  # the second response is spliced from its first bytes on
        t = time.monotonic()
        head = get_head(c, b"/?size=%d&pause_at=%d&pause_ms=%d" % (size, first, pause * 1000))
        assert head.startswith("HTTP/1.1 200"), head
        while len(c.buf) < first:
            c._fill()
        took = time.monotonic() - t
        assert took < pause - 0.5, "the first %d bytes took %.2f s (pause %.1f s)" % (first, took, pause)
        assert read_body(c, size) == expected_sha(size)

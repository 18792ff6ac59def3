"""Large bodies stream through the proxy in bounded memory, both ways, and a slow
client holds back the origin instead of making the worker buffer the response.

SL_STREAM_MIB sets the transfer size (default 1024 = 1 GiB)."""

import hashlib
import os
import socket
import time

import pytest

from dataplane import (PATTERN_BLOCK, RawClient, RssSampler, connect, make_dataplane,  # noqa: F401 - fixture
                       pattern)

MIB = 1 << 20
SIZE = int(os.environ.get("SL_STREAM_MIB", "1024")) * MIB
RSS_GROWTH_LIMIT_KIB = 64 * 1024
TRANSFER_LIMIT_S = 60


@pytest.fixture
def dp(make_dataplane):
    d = make_dataplane(workers=1)
    workers = d.workers()
    assert len(workers) == 1, workers
    d.worker = workers[0]
    return d


def send_body(sock, n, chunked):
    """Sends n pattern bytes (1 MiB pieces, as chunks if chunked); returns their SHA-256."""
    h = hashlib.sha256()
    block = memoryview(PATTERN_BLOCK)
    left = n
    while left:
        take = min(left, len(block))
        piece = block[:take]
        h.update(piece)
        if chunked:
            sock.sendall(b"%x\r\n" % take)
            sock.sendall(piece)
            sock.sendall(b"\r\n")
        else:
            sock.sendall(piece)
        left -= take
    if chunked:
        sock.sendall(b"0\r\n\r\n")
    return h.hexdigest()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_large_upload_streams(dp, chunked):
    s = connect(dp.port, timeout=30)
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % SIZE
    t = time.monotonic()
    with RssSampler(dp.worker) as rss:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: up.example\r\n" + framing + b"\r\n")
        digest = send_body(s, SIZE, chunked)
        c = RawClient(s)
        r = c.read_response()
    took = time.monotonic() - t
    s.close()
    print("upload %s: %d MiB in %.1fs (%.0f MiB/s), worker RSS %d -> max %d KiB" % (
        "chunked" if chunked else "length", SIZE // MIB, took, SIZE / MIB / took, rss.first, rss.max))
    assert r.status == 200
    e = r.json()
    assert e["chunked"] == chunked
    assert e["body_len"] == SIZE
    assert e["body_sha256"] == digest
    assert rss.max - rss.first < RSS_GROWTH_LIMIT_KIB, (rss.first, rss.max)
    assert took < TRANSFER_LIMIT_S


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_large_download_streams(dp, chunked):
    s = connect(dp.port, timeout=30)
    c = RawClient(s)
    t = time.monotonic()
    double = memoryview(PATTERN_BLOCK * 2)
    with RssSampler(dp.worker) as rss:
        s.sendall(b"GET /?size=%d%s HTTP/1.1\r\nHost: down.example\r\n\r\n" % (SIZE, b"&chunked=1" if chunked else b""))
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        i = c.buf.find(b"\r\n\r\n")
        head = bytes(c.buf[:i]).decode("latin-1")
        assert head.startswith("HTTP/1.1 200"), head
        rest = bytes(c.buf[i + 4:])
        if chunked:
            assert "transfer-encoding: chunked" in head.lower()
            got, bad = _read_chunked(s, rest, double)
        else:
            assert "content-length: %d" % SIZE in head.lower()
            got, bad = _read_length(s, rest, SIZE, double)
    took = time.monotonic() - t
    s.close()
    print("download %s: %d MiB in %.1fs (%.0f MiB/s), worker RSS %d -> max %d KiB" % (
        "chunked" if chunked else "length", got // MIB, took, got / MIB / took, rss.first, rss.max))
    assert got == SIZE
    assert bad is None, "content differs at offset %s" % bad
    assert rss.max - rss.first < RSS_GROWTH_LIMIT_KIB, (rss.first, rss.max)
    assert took < TRANSFER_LIMIT_S


def _check(data, offset, double):
    """True when data equals the pattern at offset (len(data) <= 1 MiB)."""
    o = offset % MIB
    return double[o:o + len(data)] == data


def _read_length(s, rest, n, double):
    got, bad = 0, None
    if rest:
        if not _check(rest, 0, double):
            bad = 0
        got = len(rest)
    buf = bytearray(MIB)
    mv = memoryview(buf)
    while got < n:
        k = s.recv_into(mv, min(MIB, n - got))
        if k == 0:
            break
        if bad is None and not _check(mv[:k], got, double):
            bad = got
        got += k
    return got, bad


def _read_chunked(s, rest, double):
    """Decodes a chunked body as it arrives; returns (data bytes, first bad offset)."""
    buf = bytearray(rest)
    got, bad = 0, None

    def need(k):
        while len(buf) < k:
            data = s.recv(MIB)
            if not data:
                raise EOFError
            buf.extend(data)

    while True:
        while b"\r\n" not in buf[:40]:
            need(len(buf) + 1)
        j = buf.find(b"\r\n")
        size = int(bytes(buf[:j]).split(b";")[0], 16)
        del buf[:j + 2]
        if size == 0:
            need(2)
            assert bytes(buf[:2]) == b"\r\n"
            return got, bad
        left = size
        while left:
            if not buf:
                need(1)
            take = min(left, len(buf), MIB)
            piece = bytes(buf[:take])
            del buf[:take]
            if bad is None and not _check(piece, got, double):
                bad = got
            got += take
            left -= take
        need(2)
        assert bytes(buf[:2]) == b"\r\n"
        del buf[:2]


def test_slow_reader_does_not_make_the_worker_buffer(dp):
    size = 256 * MIB
    s = connect(dp.port, timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    with RssSampler(dp.worker) as rss:
        s.sendall(b"GET /?size=%d HTTP/1.1\r\nHost: slow.example\r\n\r\n" % size)
        first = bytearray()
        while b"\r\n\r\n" not in first:
            data = s.recv(65536)
            assert data
            first += data
        head_len = first.find(b"\r\n\r\n") + 4
        assert first.startswith(b"HTTP/1.1 200"), bytes(first[:200])
        total = head_len + size
        read = len(first)
        t = time.monotonic()
        # Read 64 KiB every 20 ms for 2 s: about 6 MiB.
        while time.monotonic() - t < 2.0:
            data = s.recv(65536)
            assert data
            read += len(data)
            time.sleep(0.02)
        sent_while_slow = dp.origin.sent_body_bytes
        read_while_slow = read
        rss_slow = rss.max
        # Then drain it all at full speed.
        buf = bytearray(MIB)
        while read < total:
            k = s.recv_into(buf)
            if k == 0:
                break
            read += k
    s.close()
    print("slow reader: read %.1f MiB, origin sent %.1f MiB in 2 s, worker RSS %d -> %d (slow) -> %d KiB" % (
        read_while_slow / MIB, sent_while_slow / MIB, rss.first, rss_slow, rss.max))
    # The origin was held back: only the socket buffers on the way were ahead of the client.
    assert sent_while_slow - read_while_slow < 48 * MIB, (sent_while_slow, read_while_slow)
    assert rss_slow - rss.first < 16 * 1024, (rss.first, rss_slow)
    assert read == total
    assert rss.max - rss.first < RSS_GROWTH_LIMIT_KIB

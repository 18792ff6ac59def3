"""HTTP/2 towards clients: cleartext with prior knowledge (h2c) and over TLS
(ALPN h2), with real clients (curl --http2 / --http2-prior-knowledge, nghttp2's
library inside curl, Python's h2, openssl s_client). Covers routing by
:authority, request bodies with and without content-length, flow control and
back-pressure both ways, response trailers, limits (header size, concurrent
streams), gRPC-style errors, abuse (rapid reset, CONTINUATION flood, garbage)
and drain."""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import hpack
import pytest

from conftest import free_port
from dataplane import (BACKENDS, ROUTES, backend, created, make_dataplane, pattern, route,  # noqa: F401
                       wait_until)
from h2client import H2Client, frame
from test_tls import curl as tls_curl, pki, s_client, single  # noqa: F401

pytestmark = pytest.mark.skipif(not shutil.which("curl"), reason="skipped, because curl is not installed")


def curl_h2c(port, path, args=()):
    cmd = ["curl", "-sS", "--max-time", "30", "--http2-prior-knowledge"] + list(args) + \
        ["http://127.0.0.1:%d%s" % (port, path)]
    cp = subprocess.run(cmd, capture_output=True, timeout=40)
    return cp.returncode, cp.stdout, cp.stderr.decode(errors="replace")


def echo_headers(body):
    return {k.lower(): v for k, v in json.loads(body)["headers"]}


def metric(sl, name):
    total = 0
    for line in sl.get("/metrics").text.splitlines():
        if line.startswith(name + "{"):
            total += int(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def dp(make_dataplane):
    return make_dataplane()


# ---------------------------------------------------------------------------
# Cleartext, prior knowledge
# ---------------------------------------------------------------------------

def test_h2c_prior_knowledge_with_curl(dp):
    rc, out, err = curl_h2c(dp.port, "/echo?x=1", ["-H", "X-Test: yes", "-w", "\n%{http_version}"])
    assert rc == 0, err
    body, _, version = out.rpartition(b"\n")
    assert version == b"2"
    echo = json.loads(body)
    # The origin got an ordinary HTTP/1.1 request with the stream's fields.
    assert echo["version"] == "HTTP/1.1" and echo["target"] == "/echo?x=1" and echo["method"] == "GET"
    h = echo_headers(body)
    assert h["host"] == "127.0.0.1:%d" % dp.port
    assert h["x-test"] == "yes" and h["x-forwarded-proto"] == "http"
    # HTTP/1.1 keeps working on the same listener.
    assert dp.get("/plain").status_code == 200


def test_h2c_streams_run_concurrently_on_one_connection(dp):
    n = 20
    n0 = dp.origin.nrequests
    with H2Client.connect(dp.port) as c:
        sids = [c.request("GET", "/s%d?delay=2000" % i) for i in range(n)]
        # Every request reaches the origin while none has been answered yet.
        wait_until(lambda: dp.origin.nrequests >= n0 + n, timeout=10, what="all streams at the origin")
        c.pump(0.1)
        assert not any(c.streams[s].done for s in sids)
        for i, sid in enumerate(sids):
            st = c.response(sid)
            assert st.status == 200, st.headers
            assert json.loads(bytes(st.data))["target"] == "/s%d?delay=2000" % i
    assert c.remote_settings.get(3) == 128  # SETTINGS_MAX_CONCURRENT_STREAMS
    assert c.remote_settings.get(6, 0) >= 8192  # SETTINGS_MAX_HEADER_LIST_SIZE


def test_h2c_routes_by_authority(dp, make_dataplane):
    other = dp.new_origin("special")
    sl = dp.sluiced
    created(sl.post(BACKENDS, backend("be-special", [other.port])))
    created(sl.post(ROUTES, route("r-special", "be-special", path="/special", hostnames=["special.example"])))
    dp.wait_serving("/special", origin_name="special", host="special.example")
    with H2Client.connect(dp.port) as c:
        a = c.request("GET", "/special", authority="special.example")
        b = c.request("GET", "/special", authority="other.example")
        assert c.response(a).header("x-origin") == "special"
        assert c.response(b).header("x-origin") == "origin"


def test_h2c_upload_with_content_length(dp):
    body = os.urandom(2 * 1024 * 1024 + 17)
    with tempfile.NamedTemporaryFile() as f:
        f.write(body)
        f.flush()
        rc, out, err = curl_h2c(dp.port, "/up", ["--data-binary", "@" + f.name, "-H",
                                                  "Content-Type: application/octet-stream"])
    assert rc == 0, err
    echo = json.loads(out)
    assert echo["method"] == "POST" and echo["body_len"] == len(body)
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert not echo["chunked"]


def test_h2c_upload_without_content_length_is_chunked_upstream(dp):
    body = os.urandom(3 * 1024 * 1024 + 5)
    with H2Client.connect(dp.port) as c:
        sid = c.request("POST", "/up-chunked", body=body)
        st = c.response(sid, timeout=60)
    assert st.status == 200
    echo = json.loads(bytes(st.data))
    assert echo["chunked"] and echo["body_len"] == len(body)
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_h2c_many_tiny_data_frames(dp):
    # 4,000 one-byte DATA frames: the chunked framing outgrows the slack of the
    # stream buffer, so the session pauses reading until the proxy catches up.
    with H2Client.connect(dp.port) as c:
        sid = c.request("POST", "/tiny", end=False)
        for i in range(4000):
            c.conn.send_data(sid, bytes([i % 256]))
            if i % 500 == 0:
                c.flush()
        c.conn.end_stream(sid)
        c.flush()
        st = c.response(sid, timeout=60)
    echo = json.loads(bytes(st.data))
    assert echo["body_len"] == 4000
    assert echo["body_sha256"] == hashlib.sha256(bytes(i % 256 for i in range(4000))).hexdigest()


def test_h2c_large_download_with_small_client_window(dp):
    n = 8 * 1024 * 1024
    with H2Client.connect(dp.port, window=16384) as c:
        sid = c.request("GET", "/big?size=%d" % n)
        st = c.response(sid, timeout=60)
    assert st.status == 200 and len(st.data) == n
    assert bytes(st.data) == pattern(n)


def test_h2c_slow_reader_holds_back_the_upstream(dp):
    # The client never returns window: sluice may send it 64 KiB; its buffers
    # fill and it stops reading the origin instead of buffering 200 MiB.
    n = 200 * 1024 * 1024
    with H2Client.connect(dp.port, ack_data=False) as c:
        sid = c.request("GET", "/huge?size=%d" % n)
        c.wait(lambda: len(c.streams[sid].data) >= 65535, what="the first window of data")
        for _ in range(6):
            c.pump(0.5)
        got = len(c.streams[sid].data)
        sent = dp.origin.sent_body_bytes
        assert got <= 65535
        assert sent < 32 * 1024 * 1024, "origin sent %d bytes to a reader that took %d" % (sent, got)
    # The connection is gone; the worker carries on.
    assert dp.get("/after").status_code == 200


def test_h2c_content_length_bodies_arrive_whole_or_reset(dp):
    # Content-Length bodies go out as DATA frames written straight from the
    # upstream buffer: several at once on one connection arrive intact, and one
    # whose backend dies mid-body ends with RST_STREAM, never with a short
    # END_STREAM that would look complete.
    sizes = [70000, 1 << 20, 5 << 20]
    with H2Client.connect(dp.port) as c:
        sids = [c.request("GET", "/whole?size=%d" % n) for n in sizes]
        cut = c.request("GET", "/cut?size=%d&cut=%d" % (2 << 20, 700 * 1024))
        for sid, n in zip(sids, sizes):
            st = c.response(sid, timeout=60)
            assert st.status == 200 and bytes(st.data) == pattern(n)
        c.wait(lambda: c.streams[cut].reset is not None or c.streams[cut].ended, what="the cut stream to end")
        st = c.streams[cut]
        assert st.reset is not None and not st.ended, (st.reset, st.ended, len(st.data))
        assert len(st.data) <= 700 * 1024 and bytes(st.data) == pattern(len(st.data))
    assert dp.get("/after").status_code == 200


def test_h2c_response_trailers_pass_through(dp):
    with H2Client.connect(dp.port) as c:
        sid = c.request("GET", "/t?chunked=1&trailer=grpc-status:0")
        st = c.response(sid)
    assert st.status == 200
    assert json.loads(bytes(st.data))["target"].startswith("/t?")
    assert st.trailers is not None and ("grpc-status", "0") in st.trailers


def test_h2c_head_and_no_content(dp):
    with H2Client.connect(dp.port) as c:
        h = c.request("HEAD", "/head")
        n = c.request("GET", "/nc?status=204")
        sh, sn = c.response(h), c.response(n)
    assert sh.status == 200 and len(sh.data) == 0 and int(sh.header("content-length")) > 0
    assert sn.status == 204 and len(sn.data) == 0


def test_h2c_header_list_too_large_gets_431(dp):
    with H2Client.connect(dp.port) as c:
        sid = c.request("GET", "/big-head", headers=[("x-big", "a" * 20000)])
        st = c.response(sid)
        assert st.status == 431
        # The connection survives it.
        ok = c.request("GET", "/ok")
        assert c.response(ok).status == 200


def test_h2c_local_answers_and_errors(dp):
    sl = dp.sluiced
    dead = free_port()
    created(sl.post(BACKENDS, backend("be-dead", [dead])))
    created(sl.post(ROUTES, route("r-dead", "be-dead", path="/dead.Service/")))
    dp.wait_serving("/")
    wait_until(lambda: dp.get("/dead.Service/x").status_code == 502, what="route to the dead backend")
    with H2Client.connect(dp.port) as c:
        plain = c.request("GET", "/dead.Service/x")
        grpc = c.request("POST", "/dead.Service/Call", headers=[("content-type", "application/grpc"),
                                                                 ("te", "trailers")],
                         body=b"\x00\x00\x00\x00\x00")
        sp, sg = c.response(plain), c.response(grpc)
    assert sp.status == 502 and b"upstream" in bytes(sp.data)
    # A gRPC client gets a gRPC status: UNAVAILABLE (14), trailers-only.
    assert sg.status == 200 and sg.header("content-type") == "application/grpc"
    assert sg.header("grpc-status") == "14" and sg.header("grpc-message")


def test_h2c_client_reset_cancels_only_that_stream(dp):
    with H2Client.connect(dp.port) as c:
        slow = c.request("GET", "/slow?delay=1500")
        wait_until(lambda: any("/slow" in r["target"] for r in dp.origin.requests), what="the slow request at the origin")
        c.reset(slow)
        sid = c.request("GET", "/next")
        assert c.response(sid).status == 200
        c.pump(0.2)
        assert not c.closed


# ---------------------------------------------------------------------------
# Abuse
# ---------------------------------------------------------------------------

def test_rapid_reset_closes_the_connection(dp):
    before = metric(dp.sluiced, "sluice_http2_abusive_connections_total")
    conns0 = dp.origin.connections
    with H2Client.connect(dp.port) as c:
        for i in range(400):
            if c.closed or c.goaway is not None:
                break
            sid = c.conn.get_next_available_stream_id()
            c.conn.send_headers(sid, [(":method", "GET"), (":path", "/rr%d?delay=500" % i), (":scheme", "http"),
                                      (":authority", "example.com")])
            c.conn.reset_stream(sid, error_code=8)
            if i % 20 == 19:
                c.flush()
                c.pump(0.01)
        c.flush()
        assert c.wait_closed(10), "the connection stayed open"
        assert c.goaway == 11  # ENHANCE_YOUR_CALM
    assert metric(dp.sluiced, "sluice_http2_abusive_connections_total") == before + 1
    # A stream reset in the same read as its HEADERS never costs an upstream
    # connection or request (a pair split across two reads may: a few at most).
    time.sleep(0.2)
    assert sum("/rr" in r["target"] for r in dp.origin.requests) <= 3
    assert dp.origin.connections - conns0 <= 3, dp.origin.connections - conns0
    with H2Client.connect(dp.port) as c2:
        assert c2.response(c2.request("GET", "/still-serving")).status == 200


def test_continuation_flood_closes_the_connection(dp):
    enc = hpack.Encoder()
    block = enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")] +
                       [("x-h%d" % i, "v" * 40) for i in range(200)])
    pieces = [block[i:i + 64] for i in range(0, len(block), 64)]
    s = socket.create_connection(("127.0.0.1", dp.port), timeout=10)
    try:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0))
        out = frame(1, 0x1, 1, pieces[0])  # HEADERS, END_STREAM, no END_HEADERS
        for p in pieces[1:-1]:
            out += frame(9, 0, 1, p)  # CONTINUATION without END_HEADERS
        try:
            s.sendall(out)
        except OSError:
            pass
        got = b""
        while True:
            try:
                d = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not d:
                break
            got += d
        # It was closed (not left waiting for the end of the block).
        assert not d
    finally:
        s.close()
    assert dp.get("/alive").status_code == 200


def test_garbage_after_the_preface_is_refused(dp):
    s = socket.create_connection(("127.0.0.1", dp.port), timeout=10)
    try:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 64)
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        # GOAWAY (type 7) before the close.
        assert b"\x07\x00\x00\x00\x00\x00" in data or data == b""
    finally:
        s.close()
    s = socket.create_connection(("127.0.0.1", dp.port), timeout=10)
    try:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
        assert s.recv(65536) in (b"",) or s.recv(65536) == b""
    except ConnectionResetError:
        pass
    finally:
        s.close()
    assert dp.get("/alive").status_code == 200


def test_drain_finishes_open_streams(make_dataplane):
    # (curl rather than Python's h2, which stops reading frames after a GOAWAY
    # even for streams the GOAWAY lets finish.)
    dp = make_dataplane()
    n0 = dp.origin.nrequests
    proc = subprocess.Popen(["curl", "-sS", "--max-time", "30", "--http2-prior-knowledge", "-w", "\n%{http_code}",
                             "http://127.0.0.1:%d/drain?delay=1500" % dp.port],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: dp.origin.nrequests > n0, what="the request at the origin")
        dp.sluiced.proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    body, _, code = out.rpartition(b"\n")
    assert code == b"200" and json.loads(body)["target"] == "/drain?delay=1500"
    assert dp.sluiced.proc.wait(timeout=20) == 0


# ---------------------------------------------------------------------------
# TLS (ALPN h2)
# ---------------------------------------------------------------------------

def test_alpn_prefers_h2(single, pki):
    rc, out = s_client(single.port, ["-servername", "a.example", "-alpn", "h2,http/1.1"])
    assert rc == 0 and "ALPN protocol: h2" in out, out
    rc, out = s_client(single.port, ["-servername", "a.example", "-alpn", "http/1.1,h2"])
    assert rc == 0 and "ALPN protocol: h2" in out, out
    rc, out = s_client(single.port, ["-servername", "a.example", "-alpn", "http/1.1"])
    assert rc == 0 and "ALPN protocol: http/1.1" in out, out


def test_curl_http2_over_tls(single, pki):
    rc, out, err = tls_curl(pki, single.port, "a.example", "/tls-h2?q=1",
                            args=["--http2", "-H", "X-A: 1", "-w", "\n%{http_version}"])
    assert rc == 0, err
    body, _, version = out.rpartition(b"\n")
    assert version == b"2"
    h = echo_headers(body)
    assert h["x-forwarded-proto"] == "https" and h["host"] == "a.example:%d" % single.port
    assert h["x-a"] == "1"
    # --http1.1 still gets HTTP/1.1 on the same listener.
    rc, out, err = tls_curl(pki, single.port, "a.example", "/", args=["--http1.1", "-o", "/dev/null", "-w",
                                                                       "%{http_version}"])
    assert rc == 0 and out == b"1.1", err


def test_h2_over_tls_multiplexed_downloads(single, pki):
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", single.port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="a.example")
    assert s.selected_alpn_protocol() == "h2"
    sizes = [1, 1000, 70000, 1 << 20, 3 << 20]
    with H2Client(s) as c:
        sids = [c.request("GET", "/dl?size=%d" % n, authority="a.example", scheme="https") for n in sizes]
        for sid, n in zip(sids, sizes):
            st = c.response(sid, timeout=60)
            assert st.status == 200 and bytes(st.data) == pattern(n)


def small_rcvbuf_socket(port):
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", port))
    return raw


def slow_reader_downloads(sock, **req):
    # Content-Length bodies are written straight from the upstream buffer (over
    # TLS record by record, in clear text with writev). A reader with a tiny
    # receive buffer that pauses between reads, with the HTTP/2 windows wide
    # open, makes the socket refuse writes half-way again and again: every body
    # still arrives intact and in order, and a backend dying mid-body still
    # ends its stream with RST_STREAM.
    sizes = [65536, 70000, 1 << 20, 5000, 2 << 20, 300001]
    with H2Client(sock, window=4 << 20) as c:
        c.conn.increment_flow_control_window(32 << 20)
        c.flush()
        sids = [c.request("GET", "/slow?size=%d" % n, **req) for n in sizes]
        cut = c.request("GET", "/cut?size=%d&cut=%d" % (1 << 20, 300 * 1024), **req)
        time.sleep(0.3)  # sluice fills the socket before anything is read
        deadline = time.monotonic() + 60
        while not all(c.streams[sid].done for sid in sids + [cut]):
            assert time.monotonic() < deadline, "timed out"
            assert c.pump(0.2), "connection closed (%r)" % c.error
            time.sleep(0.002)
        for sid, n in zip(sids, sizes):
            st = c.streams[sid]
            assert st.status == 200 and st.ended and len(st.data) == n and bytes(st.data) == pattern(n), sid
        st = c.streams[cut]
        assert st.reset is not None and not st.ended, (st.reset, st.ended, len(st.data))
        assert len(st.data) <= 300 * 1024 and bytes(st.data) == pattern(len(st.data))


def test_h2c_slow_reader_gets_every_byte(dp):
    slow_reader_downloads(small_rcvbuf_socket(dp.port))
    assert dp.get("/after").status_code == 200


def test_h2_over_tls_slow_reader_gets_every_byte(single, pki):
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.set_alpn_protocols(["h2"])
    s = ctx.wrap_socket(small_rcvbuf_socket(single.port), server_hostname="a.example")
    slow_reader_downloads(s, authority="a.example", scheme="https")


# ---------------------------------------------------------------------------
# Streaming (server-sent events) without buffering, both protocols
# ---------------------------------------------------------------------------

def test_server_sent_events_stream_through_http1(dp):
    s = socket.create_connection(("127.0.0.1", dp.port), timeout=10)
    try:
        s.sendall(b"GET /sse?events=5&every=400 HTTP/1.1\r\nHost: example.com\r\nAccept: text/event-stream\r\n\r\n")
        got = b""
        while b"data: event 0" not in got:
            d = s.recv(65536)
            assert d, "closed before the first event"
            got += d
        # The first event arrived while the origin was still producing the rest.
        assert dp.origin.sse_sent < 5
        assert b"text/event-stream" in got
        while b"0\r\n\r\n" not in got:
            d = s.recv(65536)
            assert d
            got += d
        assert all(b"data: event %d" % i in got for i in range(5))
    finally:
        s.close()


def test_server_sent_events_stream_through_http2(dp):
    with H2Client.connect(dp.port) as c:
        sid = c.request("GET", "/sse?events=5&every=400", headers=[("accept", "text/event-stream")])
        st = c.streams[sid]
        c.wait(lambda: b"data: event 0" in st.data, what="the first event")
        assert dp.origin.sse_sent < 5 and not st.done
        st = c.response(sid)
    assert st.header("content-type") == "text/event-stream"
    assert bytes(st.data) == b"".join(b"data: event %d\n\n" % i for i in range(5))

"""Request smuggling and malformed requests through the real proxy: each bad
request gets its 4xx/5xx answer, the connection is closed, and the origin never
sees it; the gateway keeps serving. Also the header and keep-alive timeouts."""

import time

import pytest

from dataplane import RawClient, connect, get_req, make_dataplane  # noqa: F401 - fixture

H = b"Host: a.example\r\n"


def post(extra, body=b""):
    return b"POST /smuggle HTTP/1.1\r\n" + H + extra + b"\r\n" + body


CASES = [
    # framing conflicts
    ("cl_and_te", post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\nGET /x HTTP/1.1\r\n\r\n"),
     400),
    ("te_and_cl", post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"), 400),
    ("cl_differing_duplicates", post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), 400),
    ("cl_differing_list", post(b"Content-Length: 5, 6\r\n", b"hello!"), 400),
    ("cl_plus_sign", post(b"Content-Length: +5\r\n", b"hello"), 400),
    ("cl_minus_sign", post(b"Content-Length: -5\r\n", b"hello"), 400),
    ("cl_inner_space", post(b"Content-Length: 1 0\r\n", b"helloworld"), 400),
    ("cl_hex", post(b"Content-Length: 0x5\r\n", b"hello"), 400),
    ("cl_empty", post(b"Content-Length: \r\n", b""), 400),
    ("cl_huge", post(b"Content-Length: 99999999999999999999999\r\n", b""), 400),
    ("te_not_chunked", post(b"Transfer-Encoding: gzip\r\n", b"0\r\n\r\n"), 400),
    ("te_chunked_then_gzip", post(b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"), 400),
    ("te_chunked_twice", post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400),
    ("te_chunked_bad_token", post(b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), 400),
    ("te_gzip_chunked_unsupported", post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501),
    ("te_in_http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    # field syntax
    ("obs_fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\r\n c\r\n\r\n", 400),
    ("obs_fold_tab", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\r\n\tc\r\n\r\n", 400),
    ("bare_lf_everywhere", b"GET / HTTP/1.1\nHost: a.example\n\n", 400),
    ("bare_lf_in_field", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\nX-B: c\r\n\r\n", 400),
    ("bare_cr_in_value", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\rc\r\n\r\n", 400),
    ("bare_cr_in_request_line", b"GET / HTTP/1.1\r" + H + b"\r\n", 400),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost : a.example\r\n\r\n", 400),
    ("space_before_colon_cl", post(b"Content-Length : 5\r\n", b"hello"), 400),
    ("nul_in_value", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\x00c\r\n\r\n", 400),
    ("nul_in_name", b"GET / HTTP/1.1\r\n" + H + b"X-\x00A: b\r\n\r\n", 400),
    ("empty_field_name", b"GET / HTTP/1.1\r\n" + H + b": b\r\n\r\n", 400),
    # Host
    ("missing_host_11", b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    ("two_hosts", b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", 400),
    ("bad_host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("host_userinfo", b"GET / HTTP/1.1\r\nHost: u@a.example\r\n\r\n", 400),
    # request line
    ("no_version", b"GET /\r\n" + H + b"\r\n", 400),
    ("double_space", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("bad_method_char", b"G(ET / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("lowercase_version", b"GET / http/1.1\r\n" + H + b"\r\n", 400),
    ("version_garbage", b"GET / HTTP/1.1x\r\n" + H + b"\r\n", 400),
    ("target_with_space", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target_not_origin_form", b"GET a/b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("binary_garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n", 400),
    ("http2_in_h1_line", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("http3", b"GET / HTTP/3.0\r\n" + H + b"\r\n", 505),
    ("http12", b"GET / HTTP/1.2\r\n" + H + b"\r\n", 505),
    # limits
    ("target_too_long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ("too_many_headers", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n",
     431),
    ("header_too_large", b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 20000 + b"\r\n\r\n", 431),
    # bodies
    ("chunk_size_not_hex", post(b"Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_sign", post(b"Transfer-Encoding: chunked\r\n", b"+5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_overflow", post(b"Transfer-Encoding: chunked\r\n", b"1" + b"0" * 20 + b"\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_missing_crlf", post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhelloX0\r\n\r\n"), 400),
    ("chunk_bare_lf", post(b"Transfer-Encoding: chunked\r\n", b"5\nhello\n0\n\n"), 400),
    # a tunnel to anywhere is not a gateway's job: refused, never sent upstream as "CONNECT /"
    ("connect_tunnel", b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 405),
    ("connect_tunnel_with_bytes", b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n\x16\x03\x01", 405),
]


@pytest.fixture
def dp(make_dataplane):
    return make_dataplane()


@pytest.mark.parametrize("name,data,status", CASES, ids=[c[0] for c in CASES])
def test_bad_request_rejected_and_closed(dp, name, data, status):
    heads0, reqs0 = dp.origin.heads, dp.origin.nrequests
    c = RawClient(connect(dp.port))
    c.sock.settimeout(5)
    c.send(data)
    r = c.read_response()
    assert r.status == status, (name, r)
    assert r.header("Connection") == "close", r.headers
    assert c.closed_within(3), "connection left open after a %d" % r.status
    c.sock.close()
    # Give a forwarding mistake a moment to show at the origin.
    time.sleep(0.05)
    assert dp.origin.nrequests == reqs0, dp.origin.requests[reqs0:]
    if not name.startswith("chunk_"):
        # Head errors never reach the origin at all. (A bad chunk follows a valid
        # head that may already be on its way: the origin only ever sees a cut-off body.)
        assert dp.origin.heads == heads0
    # The gateway still serves a valid request on a fresh connection.
    r = RawClient(connect(dp.port))
    r.send(get_req("/after"))
    res = r.read_response()
    assert res.status == 200 and res.json()["target"] == "/after"
    r.sock.close()


def test_smuggled_request_after_bad_framing_never_runs(dp):
    """The classic CL.TE desync: whatever follows the rejected request on the same
    connection is never parsed as a request of its own."""
    c = RawClient(connect(dp.port))
    c.sock.settimeout(5)
    c.send(post(b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n") +
           b"GET /smuggled HTTP/1.1\r\n" + H + b"\r\n")
    r = c.read_response()
    assert r.status == 400
    assert c.closed_within(3)
    assert not c.buf, "a second response followed: %r" % bytes(c.buf[:200])
    time.sleep(0.1)
    assert all("/smuggled" not in q["target"] for q in dp.origin.requests)


def test_chunked_body_with_trailing_request_is_not_smuggled(dp):
    """A valid chunked request followed by a pipelined one: the proxy stops the body
    exactly at the last chunk and forwards the second request as its own."""
    c = RawClient(connect(dp.port))
    c.sock.settimeout(5)
    c.send(post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n") + get_req("/second"))
    r1, r2 = c.read_response(), c.read_response()
    assert r1.json()["body_len"] == 5 and r1.json()["target"] == "/smuggle"
    assert r2.json()["target"] == "/second"
    c.sock.close()


@pytest.mark.parametrize("framing", [b"Content-Length: 5\r\nContent-Length: 5\r\n", b"Content-Length: 5, 5\r\n",
                                     b"Content-Length: 5 ,5\r\n"], ids=["two_lines", "list", "list_spaces"])
def test_identical_duplicate_content_length_forwarded_as_one(dp, framing):
    """RFC 9110 8.6: a repeated identical length is one length; the upstream gets
    a single "Content-Length: 5", never a list it might read differently."""
    c = RawClient(connect(dp.port))
    c.send(post(framing, b"hello"))
    r = c.read_response()
    assert r.status == 200 and r.json()["body_len"] == 5
    sent = [v for k, v in r.json()["headers"] if k.lower() == "content-length"]
    assert sent == ["5"], sent
    c.sock.close()


def test_connect_answer_says_allowed_methods(dp):
    r = RawClient(connect(dp.port))
    r.send(b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n")
    res = r.read_response()
    assert res.status == 405 and "GET" in (res.header("Allow") or ""), res
    assert b"CONNECT" in res.body
    r.sock.close()


def test_header_timeout_gives_408(make_dataplane):
    dp = make_dataplane(args=["--header-timeout", "300"])
    c = RawClient(connect(dp.port))
    c.sock.settimeout(5)
    t = time.monotonic()
    c.send(b"GET /slow HTTP/1.1\r\nHost: a.example\r\nX-Half: ")
    r = c.read_response()
    took = time.monotonic() - t
    assert r.status == 408
    assert 0.2 < took < 2.0, took
    assert c.closed_within(3)
    c.sock.close()
    assert dp.origin.heads == 1  # only the readiness probe of make_dataplane
    # Trickling a head byte by byte does not extend the deadline.
    c = RawClient(connect(dp.port))
    c.sock.settimeout(5)
    t = time.monotonic()
    try:
        for ch in b"GET /trickle HTTP/1.1\r\nHost: a.example\r\nX-Slow: " + b"x" * 100:
            c.send(bytes([ch]))
            time.sleep(0.02)
            if time.monotonic() - t > 3:
                break
    except OSError:
        pass
    r = c.read_response()
    assert r.status == 408
    assert time.monotonic() - t < 2.5
    c.sock.close()


def test_idle_connection_closed_by_header_timeout_without_answer(make_dataplane):
    dp = make_dataplane(args=["--header-timeout", "300"])
    c = RawClient(connect(dp.port))
    t = time.monotonic()
    assert c.closed_within(3)
    assert time.monotonic() - t > 0.2
    assert not c.buf  # nothing was sent: nothing is answered
    c.sock.close()


def test_keepalive_timeout_closes_idle_connection(make_dataplane):
    dp = make_dataplane(args=["--keepalive-timeout", "500", "--header-timeout", "10000"])
    c = RawClient(connect(dp.port))
    c.sock.settimeout(5)
    c.send(get_req("/one"))
    assert c.read_response().status == 200
    t = time.monotonic()
    assert c.closed_within(4), "idle keep-alive connection not closed"
    took = time.monotonic() - t
    assert 0.35 < took < 2.5, took
    assert not c.buf
    c.sock.close()
    # Within the timeout it stays usable.
    c = RawClient(connect(dp.port))
    c.sock.settimeout(5)
    c.send(get_req("/one"))
    assert c.read_response().status == 200
    time.sleep(0.2)
    c.send(get_req("/two"))
    assert c.read_response().json()["target"] == "/two"
    c.sock.close()


def test_keepalive_timeout_zero_disables_keepalive(make_dataplane):
    dp = make_dataplane(args=["--keepalive-timeout", "0"])
    c = RawClient(connect(dp.port))
    c.sock.settimeout(5)
    c.send(get_req("/one"))
    r = c.read_response()
    assert r.status == 200
    assert r.header("Connection") == "close"
    assert c.closed_within(2)
    c.sock.close()


def test_max_header_bytes_setting(make_dataplane):
    dp = make_dataplane(args=["--max-header-bytes", "2048"])
    c = RawClient(connect(dp.port))
    c.sock.settimeout(5)
    c.send(b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 3000 + b"\r\n\r\n")
    assert c.read_response().status == 431
    assert c.closed_within(3)
    c.sock.close()
    c = RawClient(connect(dp.port))
    c.send(b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 1500 + b"\r\n\r\n")
    assert c.read_response().status == 200
    c.sock.close()


def test_body_idle_timeout_gives_408(make_dataplane):
    dp = make_dataplane(args=["--body-idle-timeout", "300"])
    c = RawClient(connect(dp.port))
    c.sock.settimeout(5)
    t = time.monotonic()
    c.send(post(b"Content-Length: 10\r\n", b"abc"))
    r = c.read_response()
    took = time.monotonic() - t
    assert r.status == 408, r
    assert 0.2 < took < 2.0, took
    assert c.closed_within(3)
    c.sock.close()
    time.sleep(0.1)
    assert all(q["target"] != "/smuggle" for q in dp.origin.requests)

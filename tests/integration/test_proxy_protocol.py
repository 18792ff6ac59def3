"""PROXY protocol (v1 text, v2 binary) on a Gateway's listeners, turned on by a
TrafficPolicy's proxyProtocol section: the stated client is the connection's
peer for logs, X-Forwarded-For, ipAccess and rate limits; a connection without
the header (when required) or with a malformed one is closed unanswered."""

import json
import socket
import ssl
import struct
import time

from dataplane import GWPATH, RawClient, connect, created, make_dataplane, wait_until  # noqa: F401
from test_policies import POLICIES, policy, to_gateway
from test_tls import client_ctx, https_listener, pki, tls_plane  # noqa: F401

REQ = b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"


def v2_header(src, dst="127.0.0.1", sport=40000, dport=80, command=1):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20 | command, 0x11]) + struct.pack("!H", len(body)) + body)


def exchange(port, *pieces, pause=0.0):
    """Sends the pieces (pausing between them) and returns (status, body) or None when the
    connection closed without an answer."""
    with connect(port) as s:
        for i, p in enumerate(pieces):
            if i and pause:
                time.sleep(pause)
            s.sendall(p)
        try:
            r = RawClient(s).read_response()
        except (ConnectionError, OSError, ValueError, IndexError):
            return None
        return r.status, r.body


def proxied(dp, optional=False):
    created(dp.sluiced.post(POLICIES, policy("pp", [to_gateway()], proxyProtocol={"optional": optional},
                                             ipAccess={"deny": ["203.0.113.0/24"]})))


def test_v1_and_v2_headers_state_the_client(make_dataplane):
    dp = make_dataplane()
    proxied(dp)
    wait_until(lambda: exchange(dp.port, REQ) is None, timeout=10, what="the PROXY header required")
    r = exchange(dp.port, b"PROXY TCP4 198.51.100.1 127.0.0.1 5000 80\r\n" + REQ)
    assert r and r[0] == 200, r
    headers = {k.lower(): v for k, v in json.loads(r[1])["headers"]}
    assert headers["x-forwarded-for"] == "198.51.100.1", headers
    assert exchange(dp.port, b"PROXY TCP4 203.0.113.7 127.0.0.1 5000 80\r\n" + REQ)[0] == 403
    r = exchange(dp.port, v2_header("198.51.100.2") + REQ)
    assert r and r[0] == 200, r
    assert exchange(dp.port, v2_header("203.0.113.9") + REQ)[0] == 403
    # v2 LOCAL (a balancer's health check): the TCP peer stands.
    assert exchange(dp.port, v2_header("203.0.113.9", command=0) + REQ)[0] == 200
    # IPv6 in v1, and the header arriving in pieces.
    r = exchange(dp.port, b"PROXY TCP6 2001:db8::5 ::1 5000 80\r\n" + REQ)
    assert r and r[0] == 200
    r = exchange(dp.port, b"PROXY TCP4 203.0", b".113.8 127.0.0.1 50", b"00 80\r\n" + REQ, pause=0.2)
    assert r and r[0] == 403, r
    r = exchange(dp.port, v2_header("198.51.100.3")[:10], v2_header("198.51.100.3")[10:] + REQ, pause=0.2)
    assert r and r[0] == 200, r
    wait_until(lambda: '"client":"198.51.100.2"' in dp.sluiced.log(), timeout=5, what="the stated client logged")


def test_missing_or_malformed_headers_close_the_connection(make_dataplane):
    dp = make_dataplane()
    proxied(dp)
    wait_until(lambda: exchange(dp.port, REQ) is None, timeout=10, what="the PROXY header required")
    for bad in (b"PROXY TCP4 1.2.3 127.0.0.1 5000 80\r\n", b"PROXY TCP4 198.51.100.1 127.0.0.1 99999 80\r\n",
                b"PROXY TCP5 198.51.100.1 127.0.0.1 5000 80\r\n", b"PROXY " + b"x" * 120,
                b"\r\n\r\n\x00\r\nQUIT\n\x30\x11\x00\x0c" + b"\x00" * 12):
        assert exchange(dp.port, bad + REQ) is None, bad
    # The worker lives on and serves a good one.
    assert exchange(dp.port, b"PROXY TCP4 198.51.100.1 127.0.0.1 5000 80\r\n" + REQ)[0] == 200


def test_optional_headers(make_dataplane):
    dp = make_dataplane()
    proxied(dp, optional=True)
    wait_until(lambda: (exchange(dp.port, b"PROXY TCP4 203.0.113.7 127.0.0.1 5000 80\r\n" + REQ) or [0])[0] == 403,
               timeout=10, what="the optional PROXY header used")
    assert exchange(dp.port, REQ)[0] == 200
    # A request that starts like a header but is not one still reaches HTTP whole (the bytes
    # taken while it looked like a header are given back to the request).
    r = exchange(dp.port, b"PRO", b"PFIND / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", pause=0.2)
    assert r and r[0] == 200 and json.loads(r[1])["method"] == "PROPFIND", r


def test_proxy_header_before_tls_on_an_https_listener(make_dataplane, pki):
    leaf = pki.leaf("a.example")
    tp = tls_plane(make_dataplane, pki, lambda p: [https_listener("https", p, "cert-a", hostname="a.example")],
                   {"cert-a": leaf})
    created(tp.sl.post(POLICIES, policy("pp", [to_gateway("gws")], proxyProtocol={},
                                        ipAccess={"deny": ["203.0.113.0/24"]})))

    def over_tls(header):
        raw = connect(tp.port)
        try:
            raw.sendall(header)
            s = client_ctx(pki).wrap_socket(raw, server_hostname="a.example")
        except (OSError, ssl.SSLError):
            raw.close()
            return None
        with s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n")
            return RawClient(s).read_response().status

    wait_until(lambda: over_tls(b"PROXY TCP4 203.0.113.7 127.0.0.1 5000 443\r\n") == 403, timeout=10,
               what="the PROXY header read before the handshake")
    assert over_tls(b"PROXY TCP4 198.51.100.1 127.0.0.1 5000 443\r\n") == 200
    assert over_tls(v2_header("198.51.100.4", dport=443)) == 200
    assert over_tls(b"") is None  # required: a bare TLS handshake is closed

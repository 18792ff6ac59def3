"""The HTTP/1.1 proxy, basic behaviour: what reaches the origin, what comes back,
connection management and the local error answers."""

import hashlib
import json
import os
import threading
import time

import requests

from dataplane import (BACKENDS, ROUTES, SERVICES, SLICES, ClosedPortOrigin, RawClient, backend, backend_ref,
                       connect, created, get_req, make_dataplane, pattern, raw_request, route, wait_until)

HOP = {"connection", "keep-alive", "te", "upgrade", "proxy-connection", "transfer-encoding"}


def hdr(echo, name):
    vals = [v for k, v in echo["headers"] if k.lower() == name.lower()]
    return vals


def test_request_forwarded_intact(make_dataplane):
    dp = make_dataplane()
    body = os.urandom(70000)
    r = requests.post(dp.url + "/a/b%20c/?x=1&y=two&x=3", data=body, timeout=10,
                      headers={"Host": "shop.example.com:8080", "X-Custom": "v1", "Content-Type": "x/y"})
    assert r.status_code == 200
    e = r.json()
    assert e["method"] == "POST"
    assert e["target"] == "/a/b%20c/?x=1&y=two&x=3"
    assert e["version"] == "HTTP/1.1"
    assert e["body_len"] == len(body)
    assert e["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert hdr(e, "Host") == ["shop.example.com:8080"]
    assert hdr(e, "X-Custom") == ["v1"]
    assert hdr(e, "Content-Type") == ["x/y"]
    assert hdr(e, "Content-Length") == [str(len(body))]
    # Other methods keep their name.
    for m in ("PUT", "DELETE", "PATCH", "OPTIONS", "PURGE"):
        r = requests.request(m, dp.url + "/m", timeout=10)
        assert r.status_code == 200, m
        assert r.json()["method"] == m


def test_forwarding_headers_added(make_dataplane):
    dp = make_dataplane()
    e = dp.get("/fwd", headers={"Host": "h.example"}).json()
    # The client is 127.0.0.1 (IPv4): it is named as such, not as an IPv4-mapped IPv6 address.
    assert hdr(e, "X-Forwarded-For") == ["127.0.0.1"], e["headers"]
    assert hdr(e, "X-Forwarded-Proto") == ["http"]
    assert hdr(e, "X-Forwarded-Host") == ["h.example"]
    fwd = hdr(e, "Forwarded")
    assert len(fwd) == 1, e["headers"]
    params = dict(p.split("=", 1) for p in fwd[0].split(";"))
    assert params["for"].strip('"') == "127.0.0.1", fwd
    assert params["host"].strip('"') == "h.example"
    assert params["proto"] == "http"


def test_forwarding_headers_appended_to_existing(make_dataplane):
    dp = make_dataplane()
    e = dp.get("/fwd", headers={"Host": "h.example", "X-Forwarded-For": "203.0.113.7",
                                "Forwarded": "for=203.0.113.7", "X-Forwarded-Proto": "https",
                                "X-Forwarded-Host": "spoofed.example"}).json()
    xff = hdr(e, "X-Forwarded-For")
    assert len(xff) == 1
    parts = [p.strip() for p in xff[0].split(",")]
    assert parts[0] == "203.0.113.7" and len(parts) == 2
    assert parts[1] in ("127.0.0.1", "::ffff:127.0.0.1")
    fwd = hdr(e, "Forwarded")
    assert len(fwd) == 1 and fwd[0].startswith("for=203.0.113.7, for="), fwd
    # The proxy states the protocol and host it saw itself; the client's claims are not passed on.
    assert hdr(e, "X-Forwarded-Proto") == ["http"]
    assert hdr(e, "X-Forwarded-Host") == ["h.example"]


def test_forwarding_headers_appended_to_repeated_fields(make_dataplane):
    """Several X-Forwarded-For / Forwarded field lines form one list (RFC 9110 5.3):
    none of the earlier hops may be dropped."""
    dp = make_dataplane()
    c = RawClient(connect(dp.port))
    c.send(b"GET /fwd HTTP/1.1\r\nHost: h.example\r\nX-Forwarded-For: 198.51.100.1\r\n"
           b"X-Forwarded-For: 198.51.100.2\r\nForwarded: for=198.51.100.1\r\nForwarded: for=198.51.100.2\r\n\r\n")
    e = c.read_response().json()
    c.sock.close()
    xff = ", ".join(hdr(e, "X-Forwarded-For"))
    assert [p.strip() for p in xff.split(",")] == ["198.51.100.1", "198.51.100.2", "127.0.0.1"], e["headers"]
    fwd = ", ".join(hdr(e, "Forwarded"))
    assert fwd.startswith("for=198.51.100.1, for=198.51.100.2, for="), e["headers"]


def test_hop_by_hop_request_headers_removed(make_dataplane):
    dp = make_dataplane()
    c = RawClient(connect(dp.port))
    c.send(b"GET /hop HTTP/1.1\r\nHost: a.example\r\nConnection: keep-alive, X-Secret, x-other\r\n"
           b"X-Secret: 1\r\nX-Other: 2\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: foo/2\r\n"
           b"Proxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n")
    r = c.read_response()
    assert r.status == 200
    e = r.json()
    names = {k.lower() for k, _ in e["headers"]}
    for h in HOP | {"x-secret", "x-other"}:
        assert h not in names, (h, e["headers"])
    assert hdr(e, "X-Kept") == ["yes"]
    c.sock.close()


def test_hop_by_hop_response_headers_removed(make_dataplane):
    dp = make_dataplane()
    c = RawClient(connect(dp.port))
    c.send(get_req("/?hop=1"))
    r = c.read_response()
    assert r.status == 200
    names = {k.lower() for k, _ in r.headers}
    for h in ("x-hop-listed", "keep-alive", "proxy-connection", "te", "upgrade"):
        assert h not in names, (h, r.headers)
    assert r.header("Connection") in (None, "keep-alive"), r.headers
    assert r.header("X-End-To-End") == "kept"
    # Still keep-alive: the next request on the connection works.
    c.send(get_req("/after"))
    assert c.read_response().json()["target"] == "/after"
    c.sock.close()


def test_keep_alive_client_and_upstream_reuse(make_dataplane):
    dp = make_dataplane()
    conns_before = dp.origin.connections
    c = RawClient(connect(dp.port))
    seen = []
    for i in range(6):
        c.send(get_req("/ka/%d" % i))
        r = c.read_response()
        assert r.status == 200
        assert r.header("Connection") != "close"
        e = r.json()
        assert e["target"] == "/ka/%d" % i
        seen.append(e["conn_request"])
    c.sock.close()
    # One upstream connection carried them all (the pooled one from the readiness
    # probe, or at most one new one).
    assert dp.origin.connections - conns_before <= 1, (conns_before, dp.origin.connections)
    assert seen == list(range(seen[0], seen[0] + 6)), seen
    # A second client connection reuses the pooled upstream connection too.
    e = dp.get("/again").json()
    assert e["conn_request"] == seen[-1] + 1
    assert dp.origin.connections - conns_before <= 1


def test_connection_close_from_client(make_dataplane):
    dp = make_dataplane()
    c = RawClient(connect(dp.port))
    c.send(get_req("/bye", extra=b"Connection: close\r\n"))
    r = c.read_response()
    assert r.status == 200
    assert r.header("Connection") == "close"
    assert c.closed_within(3)
    c.sock.close()


def test_pooled_connection_closed_by_origin_is_not_an_error(make_dataplane):
    """The origin closes its side after a response without saying so: the next
    request, which would reuse that pooled connection, still gets its answer."""
    dp = make_dataplane()
    for i in range(5):
        r = dp.get("/?silentclose=1&i=%d" % i)
        assert r.status_code == 200, (i, r.status_code, r.text)
        assert r.json()["target"] == "/?silentclose=1&i=%d" % i


def test_post_on_pooled_connection_the_origin_closed(make_dataplane):
    """Same, for a request with a body right behind the response (pipelined, so it
    takes the pooled connection at once): the origin closed that connection
    (legal at any time for an idle keep-alive connection) and never saw the POST,
    so the proxy must not turn it into a 502 (check the pooled connection before
    reuse, or resend while the body is still at hand)."""
    dp = make_dataplane()
    for i in range(5):
        c = RawClient(connect(dp.port))
        c.send(get_req("/?silentclose=1") + b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        first, second = c.read_response(), c.read_response()
        c.sock.close()
        assert first.status == 200
        assert second.status == 200, (i, second)
        assert second.json()["body_len"] == 3


def test_absolute_form_target(make_dataplane):
    dp = make_dataplane()
    c = RawClient(connect(dp.port))
    c.send(b"GET http://abs.example:8080/p/q?x=1 HTTP/1.1\r\nHost: ignored.example\r\n\r\n")
    r = c.read_response()
    assert r.status == 200
    e = r.json()
    assert e["target"] == "/p/q?x=1"
    assert hdr(e, "Host") == ["abs.example:8080"]
    c.sock.close()


def test_pipelining(make_dataplane):
    dp = make_dataplane()
    c = RawClient(connect(dp.port))
    c.send(get_req("/p1") + b"POST /p2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" + get_req("/p3"))
    got = [c.read_response() for _ in range(3)]
    assert [r.status for r in got] == [200, 200, 200]
    assert [r.json()["target"] for r in got] == ["/p1", "/p2", "/p3"]
    assert got[1].json()["body_len"] == 5
    c.sock.close()


def test_http10_client(make_dataplane):
    dp = make_dataplane()
    # No Host is fine in HTTP/1.0; the connection closes after the response.
    c = RawClient(connect(dp.port))
    c.send(b"GET /old HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200
    assert r.json()["target"] == "/old"
    assert c.closed_within(3), "HTTP/1.0 connection without keep-alive stays open"
    c.sock.close()
    # Keep-alive on request, and a chunked origin response is decoded for 1.0 and ended by close.
    c = RawClient(connect(dp.port))
    c.send(b"GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.header("Connection").lower() == "keep-alive", r
    c.send(b"GET /?chunked=1&size=5000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r = c.read_response()
    assert r.status == 200
    assert r.header("Transfer-Encoding") is None
    assert r.body == pattern(5000)
    assert c.closed_within(3)
    c.sock.close()


def test_head(make_dataplane):
    dp = make_dataplane()
    c = RawClient(connect(dp.port))
    c.send(b"HEAD /?size=1000 HTTP/1.1\r\nHost: a\r\n\r\n")
    r = c.read_response(head_request=True)
    assert r.status == 200
    assert r.header("Content-Length") == "1000"
    # No body followed: the next response starts right away.
    c.send(get_req("/next"))
    r = c.read_response()
    assert r.status == 200 and r.json()["target"] == "/next"
    assert dp.origin.requests[-2]["method"] == "HEAD"
    c.sock.close()


def test_chunked_request_body(make_dataplane):
    dp = make_dataplane()
    parts = [os.urandom(n) for n in (1, 100, 65536, 3, 200000)]
    whole = b"".join(parts)
    data = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    for p in parts:
        data += b"%x;ext=1\r\n" % len(p) + p + b"\r\n"
    data += b"0\r\n\r\n"
    c = RawClient(connect(dp.port))
    # Sent in odd slices so that chunk headers are split across reads.
    for i in range(0, len(data), 7777):
        c.send(data[i:i + 7777])
        time.sleep(0.001)
    r = c.read_response()
    assert r.status == 200
    e = r.json()
    assert e["chunked"] is True
    assert e["body_len"] == len(whole)
    assert e["body_sha256"] == hashlib.sha256(whole).hexdigest()
    # The connection is usable afterwards (the body was consumed exactly).
    c.send(get_req("/after"))
    assert c.read_response().json()["target"] == "/after"
    c.sock.close()


def test_chunked_response_body(make_dataplane):
    dp = make_dataplane()
    c = RawClient(connect(dp.port))
    c.send(get_req("/?chunked=1&size=3000000"))
    r = c.read_response()
    assert r.status == 200
    assert r.header("Transfer-Encoding") == "chunked"
    assert r.header("Content-Length") is None
    assert len(r.body) == 3000000
    assert r.body == pattern(3000000)
    c.send(get_req("/after"))
    assert c.read_response().json()["target"] == "/after"
    c.sock.close()


def test_origin_answers_before_the_body_is_sent(make_dataplane):
    """The origin refuses an upload before reading it: the client gets that answer
    and the connection is closed (the rest of the body is not a request)."""
    dp = make_dataplane()
    s = connect(dp.port, timeout=10)
    c = RawClient(s)
    size = 64 << 20
    s.sendall(b"POST /?early=1 HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)

    def upload():
        block = b"x" * (1 << 20)
        try:
            for _ in range(size >> 20):
                s.sendall(block)
        except OSError:
            pass
    t = threading.Thread(target=upload, daemon=True)
    t.start()
    r = c.read_response()
    assert r.status == 403 and r.body == b"denied"
    assert c.closed_within(15)
    t.join(15)
    assert not t.is_alive()
    s.close()
    assert dp.get("/").status_code == 200
    # The proxy closed the connection after that answer: the answer has to say so.
    assert r.header("Connection") == "close", r.headers


def test_expect_100_continue(make_dataplane):
    dp = make_dataplane()
    c = RawClient(connect(dp.port))
    c.send(b"PUT /exp HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
    c.sock.settimeout(5)
    interim = c.read_response(allow_interim=True)
    assert interim.status == 100
    c.send(b"0123456789")
    r = c.read_response()
    assert r.status == 200
    e = r.json()
    assert e["body_len"] == 10
    assert e["body_sha256"] == hashlib.sha256(b"0123456789").hexdigest()
    c.sock.close()


def test_404_for_no_matching_host_or_path(make_dataplane):
    dp = make_dataplane()
    created(dp.sluiced.post(ROUTES, route("api", "be", path="/api", hostnames=["app.example.com"])))
    created(dp.sluiced.patch(ROUTES + "/r", {"spec": {"hostnames": ["www.example.com"]}}))
    wait_until(lambda: dp.get("/api/x", headers={"Host": "app.example.com"}).status_code == 200,
               what="route api served")
    wait_until(lambda: dp.get("/", headers={"Host": "other.example"}).status_code == 404,
               what="route r restricted to www.example.com")
    assert dp.get("/api/x", headers={"Host": "app.example.com:%d" % dp.port}).status_code == 200
    assert dp.get("/other", headers={"Host": "app.example.com"}).status_code == 404
    assert dp.get("/api", headers={"Host": "nope.example.com"}).status_code == 404
    assert dp.get("/anything", headers={"Host": "www.example.com"}).status_code == 200
    # Host names compare case-insensitively; a query does not hide the path.
    assert dp.get("/api/x", headers={"Host": "APP.Example.COM"}).status_code == 200
    assert dp.get("/api?x=1", headers={"Host": "app.example.com"}).status_code == 200
    n = dp.origin.nrequests
    r = dp.get("/apix", headers={"Host": "app.example.com"})
    assert r.status_code == 404  # PathPrefix matches whole segments
    assert dp.origin.nrequests == n


def test_local_answer_to_a_request_with_a_body(make_dataplane):
    """A 404 for a POST whose body was not read: the proxy closes the connection
    after the answer (the body would otherwise be parsed as the next request), so
    the answer must say Connection: close; nothing of the body is run as a request."""
    dp = make_dataplane(hostnames=["only.example"])
    c = RawClient(connect(dp.port))
    c.sock.settimeout(5)
    c.send(b"POST /x HTTP/1.1\r\nHost: other.example\r\nContent-Length: 40\r\n\r\n" +
           b"GET /smuggled HTTP/1.1\r\nHost: only.example\r\n\r\n"[:40])
    r = c.read_response()
    assert r.status == 404
    assert c.closed_within(3)
    assert not c.buf, bytes(c.buf)
    assert r.header("Connection") == "close", r.headers
    c.sock.close()
    assert all("/smuggled" not in q["target"] for q in dp.origin.requests)


def test_500_for_unresolvable_backend_ref(make_dataplane):
    dp = make_dataplane()
    rt = route("missing", "no-such-backend", path="/missing")
    created(dp.sluiced.post(ROUTES, rt))
    wait_until(lambda: dp.get("/missing").status_code == 500, what="500 for an unresolved backendRef")
    assert dp.get("/").status_code == 200
    # Half the weight unresolved: that share answers 500, the rest is served.
    created(dp.sluiced.patch(ROUTES + "/missing", {"spec": {"rules": [{
        "matches": [{"path": {"type": "PathPrefix", "value": "/missing"}}],
        "backendRefs": [backend_ref("be"), backend_ref("no-such-backend")]}]}}))
    wait_until(lambda: dp.get("/missing").status_code == 200, what="split route programmed")
    codes = {dp.get("/missing").status_code for _ in range(40)}
    assert codes == {200, 500}


def test_503_for_backend_without_endpoints(make_dataplane):
    dp = make_dataplane()
    s = dp.sluiced
    created(s.post(SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
                              "spec": {"ports": [{"name": "http", "port": 80}]}}))
    created(s.post(ROUTES, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                            "metadata": {"name": "svc"},
                            "spec": {"parentRefs": [{"name": "gw"}], "rules": [{
                                "matches": [{"path": {"type": "PathPrefix", "value": "/svc"}}],
                                "backendRefs": [{"name": "svc", "port": 80}]}]}}))
    wait_until(lambda: dp.get("/svc").status_code == 503, what="503 for a Service without endpoints")
    # Endpoints appear: served.
    created(s.post(SLICES, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                            "metadata": {"name": "svc-1", "labels": {"kubernetes.io/service-name": "svc"}},
                            "addressType": "IPv4",
                            "endpoints": [{"addresses": ["127.0.0.1"]}],
                            "ports": [{"name": "http", "port": dp.origin.port}]}))
    wait_until(lambda: dp.get("/svc/x").status_code == 200, what="Service endpoints served")
    assert dp.get("/svc/x").json()["target"] == "/svc/x"


def test_502_when_origin_port_closed(make_dataplane):
    dp = make_dataplane()
    closed = ClosedPortOrigin()
    created(dp.sluiced.post(BACKENDS, backend("dead", [closed.port])))
    created(dp.sluiced.post(ROUTES, route("dead", "dead", path="/dead")))
    # Until the route is programmed, "/" of route r takes /dead (200).
    wait_until(lambda: dp.get("/dead").status_code == 502, what="502 for a closed origin port")
    assert dp.get("/").status_code == 200


def test_504_response_timeout(make_dataplane):
    dp = make_dataplane(args=["--response-timeout", "500"])
    t = time.monotonic()
    r = dp.get("/?hang=1")
    took = time.monotonic() - t
    assert r.status_code == 504
    assert 0.4 < took < 3.0, took
    # A slower-than-nothing but answering origin within the limit is fine.
    assert dp.get("/?delay=100").status_code == 200


def test_504_route_request_timeout(make_dataplane):
    dp = make_dataplane(timeout="300ms")
    t = time.monotonic()
    r = dp.get("/?delay=2000")
    took = time.monotonic() - t
    assert r.status_code == 504
    assert 0.2 < took < 1.5, took
    assert dp.get("/?delay=50").status_code == 200


def test_access_log_json_lines(make_dataplane, tmp_path):
    log = tmp_path / "access.log"
    dp = make_dataplane(args=["--access-log", str(log)])
    assert dp.get("/logged?q=1").status_code == 200
    assert requests.post(dp.url + "/posted", data=b"x", timeout=10).status_code == 200
    raw_request(dp.port, b"GET / HTTP/1.1\r\n\r\n")  # 400: no Host

    def lines():
        if not log.exists():
            return None
        got = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
        return len(got) >= 4 and got
    got = wait_until(lines, timeout=5, what="access log lines")
    by_path = {(e["method"], e["path"]): e for e in got}
    assert by_path[("GET", "/logged?q=1")]["status"] == 200
    assert by_path[("POST", "/posted")]["status"] == 200
    assert any(e["status"] == 400 for e in got), got
    for e in got:
        assert isinstance(e["status"], int) and "method" in e and "path" in e

"""TrafficPolicy extAuth: an external authorization service (Envoy ext_authz
HTTP semantics) called by the worker without blocking it, over kept-alive
connections: a 2xx lets the request through with chosen reply fields added
upstream, anything else is the client's answer, and a service that times out
or is down fails by failureMode. The service here is a real HTTP server in the
test (http.server) that allows, denies and stalls by the token it is shown."""

import http.server
import json
import threading
import time

import pytest
import requests

from dataplane import created, make_dataplane, wait_until  # noqa: F401
from h2client import H2Client
from test_auth import echoed
from test_policies import POLICIES, policy, to_route


class AuthService:
    """Allows "Bearer good" (replying X-User-Id, X-Other), stalls "Bearer slow"
    for `stall` seconds, refuses anything else with 401 and its own fields."""

    def __init__(self, stall=2.0):
        self.seen, self.peers, self.stall = [], set(), stall
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the worker's client reuses connections

            def handle_one(self):
                outer.seen.append({"method": self.command, "path": self.path,
                                   "headers": {k.lower(): v for k, v in self.headers.items()}})
                outer.peers.add(self.client_address)
                auth = self.headers.get("Authorization", "")
                if auth == "Bearer slow":
                    time.sleep(outer.stall)
                if auth in ("Bearer big", "Bearer nocontent", "Bearer good-noid"):
                    status = {"Bearer big": 401, "Bearer nocontent": 304, "Bearer good-noid": 200}[auth]
                    body = b"x" * 30000 if status == 401 else b""
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if auth in ("Bearer good", "Bearer slow"):
                    self.send_response(200)
                    self.send_header("X-User-Id", "alice")
                    self.send_header("X-Other", "not-listed")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b"denied by authz\n"
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Bearer realm="corp"')
                self.send_header("X-Reason", "bad-token")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_one

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/authz" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    s = AuthService()
    yield s
    s.close()


def ext_plane(make_dataplane, section, workers=1):
    dp = make_dataplane(workers=workers)
    created(dp.sluiced.post(POLICIES, policy("authz", [to_route()], extAuth=section)))
    wait_until(lambda: dp.get("/").status_code == 401, timeout=10, what="extAuth in force")
    return dp


def bearer(token, **extra):
    h = {"Authorization": "Bearer " + token}
    h.update(extra)
    return h


def test_allowed_requests_reach_the_upstream_with_the_services_fields(make_dataplane, service):
    dp = ext_plane(make_dataplane, {"url": service.url, "headersToUpstream": ["X-User-Id"]})
    n0 = dp.origin.nrequests
    r = dp.get("/orders/7?x=1", headers=bearer("good", **{"X-User-Id": "mallory", "Cookie": "s=1", "X-Secret": "no"}))
    assert r.status_code == 200, (r.status_code, r.text)
    h = echoed(r)
    assert h["x-user-id"] == "alice" and "x-other" not in h, h
    assert dp.origin.nrequests == n0 + 1
    check = service.seen[-1]
    assert check["method"] == "GET" and check["path"] == "/authz/orders/7?x=1", check
    sent = check["headers"]
    assert sent["authorization"] == "Bearer good" and sent["cookie"] == "s=1", sent
    assert "x-secret" not in sent and sent["x-forwarded-for"] == "127.0.0.1", sent
    assert sent["x-forwarded-host"].startswith("example.com") or sent["x-forwarded-host"], sent
    # The method is the request's.
    assert requests.delete(dp.url + "/orders/7", headers=bearer("good"), timeout=10).status_code == 200
    assert service.seen[-1]["method"] == "DELETE"


def test_a_refusal_is_the_clients_answer(make_dataplane, service):
    dp = ext_plane(make_dataplane, {"url": service.url})
    n0 = dp.origin.nrequests
    r = dp.get("/x", headers=bearer("bad"))
    assert r.status_code == 401 and r.text == "denied by authz\n", (r.status_code, r.text)
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="corp"' and r.headers["X-Reason"] == "bad-token"
    assert r.headers["Content-Type"] == "text/plain"
    assert dp.origin.nrequests == n0
    # The connection carries on: keep-alive after a refusal.
    with requests.Session() as s:
        assert s.get(dp.url + "/x", headers=bearer("bad"), timeout=10).status_code == 401
        assert s.get(dp.url + "/x", headers=bearer("good"), timeout=10).status_code == 200


@pytest.mark.parametrize("mode,code", [("Deny", 403), ("Allow", 200)])
def test_a_slow_service_fails_by_failure_mode(make_dataplane, service, mode, code):
    dp = ext_plane(make_dataplane, {"url": service.url, "timeout": "300ms", "failureMode": mode})
    assert dp.get("/", headers=bearer("slow")).status_code == code
    wait_until(lambda: "extAuth service of TrafficPolicy default/authz failed" in dp.sluiced.log(), timeout=5,
               what="the failure logged")


@pytest.mark.parametrize("mode,code", [("Deny", 403), ("Allow", 200)])
def test_a_service_that_is_down_fails_by_failure_mode(make_dataplane, mode, code):
    s = AuthService()
    url = s.url
    s.close()
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, policy("authz", [to_route()], extAuth={"url": url, "failureMode": mode})))
    wait_until(lambda: dp.get("/", headers=bearer("good")).status_code == code, timeout=10, what="failure mode")


def test_the_worker_serves_others_while_a_check_waits(make_dataplane, service):
    dp = ext_plane(make_dataplane, {"url": service.url, "timeout": "5s"}, workers=1)
    slow = {}
    t = threading.Thread(target=lambda: slow.update(r=dp.get("/", headers=bearer("slow"))))
    t.start()
    wait_until(lambda: any(c["headers"].get("authorization") == "Bearer slow" for c in service.seen), timeout=5,
               what="the slow check at the service")
    # One worker: these are answered while the slow check is still pending.
    for _ in range(5):
        assert dp.get("/", headers=bearer("good")).status_code == 200
        assert dp.get("/", headers=bearer("bad")).status_code == 401
    assert t.is_alive()
    t.join(10)
    assert slow["r"].status_code == 200


def test_checks_reuse_connections_and_work_over_http2(make_dataplane, service):
    dp = ext_plane(make_dataplane, {"url": service.url, "timeout": "5s"})
    peers0 = len(service.peers)
    with requests.Session() as s:
        for _ in range(20):
            assert s.get(dp.url + "/", headers=bearer("good"), timeout=10).status_code == 200
    assert len(service.peers) - peers0 <= 2, service.peers  # kept alive, not one per check
    with H2Client.connect(dp.port) as c:
        ok = c.request("GET", "/h2", headers=[("authorization", "Bearer good")])
        bad = c.request("GET", "/h2", headers=[("authorization", "Bearer bad")])
        slow = c.request("GET", "/h2", headers=[("authorization", "Bearer slow")])
        assert c.response(ok).status == 200
        refused = c.response(bad)
        assert refused.status == 401 and bytes(refused.data) == b"denied by authz\n"
        assert c.response(slow).status == 200
        assert json.loads(bytes(c.streams[ok].data))["target"] == "/h2"


def test_a_stream_reset_while_its_check_waits_cancels_the_check(make_dataplane, service):
    dp = ext_plane(make_dataplane, {"url": service.url, "timeout": "5s"})
    with H2Client.connect(dp.port) as c:
        sid = c.request("GET", "/", headers=[("authorization", "Bearer slow")])
        wait_until(lambda: any(x["headers"].get("authorization") == "Bearer slow" for x in service.seen),
                   timeout=5, what="the slow check at the service")
        c.reset(sid)
        after = c.request("GET", "/", headers=[("authorization", "Bearer good")])
        assert c.response(after).status == 200
    assert dp.get("/", headers=bearer("good")).status_code == 200


def test_invalid_ext_auth_sections_get_422(make_dataplane):
    dp = make_dataplane()
    bad = {
        "spec.extAuth.url": {"url": "ftp://x/"},
        "spec.extAuth.timeout": {"url": "http://127.0.0.1:1/", "timeout": "5m"},
        "spec.extAuth.failureMode": {"url": "http://127.0.0.1:1/", "failureMode": "Maybe"},
        "spec.extAuth.headersToUpstream[0]": {"url": "http://127.0.0.1:1/", "headersToUpstream": ["bad header"]},
    }
    for field, section in bad.items():
        r = dp.sluiced.post(POLICIES, policy("bad", [to_route()], extAuth=section))
        assert r.status_code == 422, (field, r.status_code, r.text)
        assert field in [c["field"] for c in r.json()["details"]["causes"]], (field, r.text)
    r = dp.sluiced.post(POLICIES, policy("bad", [to_route()], extAuth={}))
    assert r.status_code == 422 and "spec.extAuth.url" in r.text


def test_the_check_sees_the_path_the_upstream_sees(make_dataplane, service):
    # A service URL without a path, and an absolute-form request target.
    dp = ext_plane(make_dataplane, {"url": "http://127.0.0.1:%d" % service.port})
    import socket
    with socket.create_connection(("127.0.0.1", dp.port), timeout=10) as s:
        s.sendall(b"GET http://example.com/orders/9?x=2 HTTP/1.1\r\nHost: example.com\r\n"
                  b"Authorization: Bearer good\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert service.seen[-1]["path"] == "/orders/9?x=2", service.seen[-1]


def test_refusals_of_every_shape_keep_the_connection_in_step(make_dataplane, service):
    dp = ext_plane(make_dataplane, {"url": service.url, "headersToUpstream": ["X-User-Id"]})
    with requests.Session() as s:
        r = s.get(dp.url + "/", headers=bearer("big"), timeout=10)  # a page larger than the output buffer
        assert r.status_code == 401 and len(r.content) == int(r.headers["Content-Length"]) > 0, r.headers
        r = s.get(dp.url + "/", headers=bearer("nocontent"), timeout=10)  # a 304 refusal: no body
        assert r.status_code == 304 and r.content == b"", r.headers
        # Allowed without X-User-Id in the reply: the client's own never reaches the upstream.
        r = s.get(dp.url + "/", headers=bearer("good-noid", **{"X-User-Id": "admin"}), timeout=10)
        assert r.status_code == 200 and "x-user-id" not in echoed(r), echoed(r)
        assert s.get(dp.url + "/", headers=bearer("good"), timeout=10).status_code == 200


def test_http2_request_bodies_wait_with_their_request(make_dataplane, service):
    dp = ext_plane(make_dataplane, {"url": service.url, "timeout": "5s"})
    body = b"z" * 50000
    with H2Client.connect(dp.port) as c:
        sid = c.request("POST", "/upload", headers=[("authorization", "Bearer slow")], body=body)
        st = c.response(sid)
        assert st.status == 200, st.headers
        echo = json.loads(bytes(st.data))
        assert echo["body_len"] == len(body), echo


def test_framing_fields_cannot_come_from_the_service(make_dataplane):
    dp = make_dataplane()
    r = dp.sluiced.post(POLICIES, policy("bad", [to_route()], extAuth={"url": "http://127.0.0.1:1/",
                                                                        "headersToUpstream": ["Transfer-Encoding"]}))
    assert r.status_code == 422 and "spec.extAuth.headersToUpstream[0]" in r.text, r.text

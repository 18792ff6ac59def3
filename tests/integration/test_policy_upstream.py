"""TrafficPolicy timeouts, retry and headers: the same semantics as the
HTTPRoute fields and filters they mirror, applied where the route sets none of
its own."""

import json
import time

import requests

from dataplane import ROUTES, RawClient, connect, created, make_dataplane, raw_request, wait_until  # noqa: F401
from test_policies import POLICIES, policy, to_gateway, to_route


def in_force(dp, path, status):
    wait_until(lambda: dp.get(path, timeout=15).status_code == status, timeout=15,
               what="GET %s answering %d" % (path, status))


def test_request_timeout_answers_504_where_the_rule_has_none(make_dataplane):
    dp = make_dataplane()
    assert dp.get("/?delay=1500").status_code == 200
    created(dp.sluiced.post(POLICIES, policy("t", [to_route()], timeouts={"request": "500ms"})))
    in_force(dp, "/?delay=1500", 504)
    t = time.monotonic()
    assert dp.get("/?delay=3000").status_code == 504
    assert time.monotonic() - t < 2.5
    assert dp.get("/?delay=100").status_code == 200
    # The rule's own timeout wins over the policy's.
    r = dp.sluiced.get(ROUTES + "/r").json()
    r["spec"]["rules"][0]["timeouts"] = {"request": "5s"}
    created(dp.sluiced.put(ROUTES + "/r", r))
    in_force(dp, "/?delay=1500", 200)


def test_idle_timeout_bounds_the_upstreams_silence(make_dataplane):
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, policy("t", [to_gateway()], timeouts={"idle": "400ms"})))
    in_force(dp, "/?delay=1200", 504)
    assert dp.get("/?delay=50").status_code == 200


def test_retry_from_a_policy_tries_again_on_the_codes(make_dataplane):
    dp = make_dataplane()
    before = dp.origin.nrequests
    assert dp.get("/?status=503").status_code == 503
    assert dp.origin.nrequests - before == 1
    created(dp.sluiced.post(POLICIES, policy("r", [to_route()], retry={"attempts": 2, "codes": [503]})))
    wait_until(lambda: (lambda n0: dp.get("/?status=503").status_code == 503 and dp.origin.nrequests - n0 == 3)(
        dp.origin.nrequests), timeout=10, what="three attempts per request")
    # Other codes are not retried.
    n0 = dp.origin.nrequests
    assert dp.get("/?status=502").status_code == 502
    assert dp.origin.nrequests - n0 == 1
    # A rule with its own retry keeps it.
    r = dp.sluiced.get(ROUTES + "/r").json()
    r["spec"]["rules"][0]["retry"] = {"attempts": 1, "codes": [502]}
    created(dp.sluiced.put(ROUTES + "/r", r))
    wait_until(lambda: (lambda n0: dp.get("/?status=502").status_code == 502 and dp.origin.nrequests - n0 == 2)(
        dp.origin.nrequests), timeout=10, what="the rule's own retry")
    n0 = dp.origin.nrequests
    assert dp.get("/?status=503").status_code == 503
    assert dp.origin.nrequests - n0 == 1


def echoed_headers(resp):
    return {k.lower(): v for k, v in resp.json()["headers"]}


def test_header_modifiers_apply_where_the_route_leaves_the_name_alone(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    created(sl.post(POLICIES, policy("h", [to_gateway()], headers={
        "request": {"set": [{"name": "X-Env", "value": "prod"}, {"name": "X-Team", "value": "edge"}],
                    "add": [{"name": "X-Added", "value": "1"}], "remove": ["X-Secret"]},
        "response": {"set": [{"name": "X-Served-By", "value": "sluice"}], "remove": ["X-Origin"]}})))
    wait_until(lambda: "x-env" in echoed_headers(dp.get("/")), timeout=10, what="the policy's headers")
    r = dp.get("/", headers={"X-Secret": "s", "X-Env": "dev", "X-Keep": "k"})
    h = echoed_headers(r)
    assert h["x-env"] == "prod" and h["x-team"] == "edge" and h["x-added"] == "1" and h["x-keep"] == "k", h
    assert "x-secret" not in h
    assert r.headers["X-Served-By"] == "sluice" and "X-Origin" not in r.headers, r.headers
    # The route's own modifier of X-Team wins; the policy's others stay.
    route = sl.get(ROUTES + "/r").json()
    route["spec"]["rules"][0]["filters"] = [{"type": "RequestHeaderModifier",
                                             "requestHeaderModifier": {"set": [{"name": "X-Team", "value": "route"}]}}]
    created(sl.put(ROUTES + "/r", route))
    wait_until(lambda: echoed_headers(dp.get("/")).get("x-team") == "route", timeout=10, what="the route's X-Team")
    h = echoed_headers(dp.get("/"))
    assert h["x-env"] == "prod" and list(h).count("x-team") == 1, h


def test_body_limit_refuses_large_bodies_before_they_reach_the_upstream(make_dataplane):
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, policy("b", [to_route()], bodyLimit={"maxRequestBytes": 1000})))
    wait_until(lambda: requests_post(dp, b"x" * 1001).status_code == 413, timeout=10, what="the body limit")
    n0 = dp.origin.nrequests  # (requests before the limit was in force reached the origin whole)
    # Announced too large: 413 at once, nothing sent upstream, the connection closed.
    with connect(dp.port) as s:
        c = RawClient(s)
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        r = c.read_response(allow_interim=True)
        assert r.status == 413, r.status  # no 100 Continue first
        assert r.header("connection") == "close"
    assert requests_post(dp, b"y" * 1000).status_code == 200
    assert dp.origin.nrequests == n0 + 1
    # Chunked: counted as it passes; the excess never reaches the upstream.
    with connect(dp.port) as s:
        c = RawClient(s)
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"258\r\n" + b"a" * 600 + b"\r\n258\r\n" + b"b" * 600 + b"\r\n0\r\n\r\n")
        r = c.read_response()
        assert r.status == 413, r.status
    chunked_ok = raw_request(dp.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"1f4\r\n" + b"c" * 500 + b"\r\n0\r\n\r\n")
    assert chunked_ok.status == 200
    assert json.loads(chunked_ok.body)["body_len"] == 500
    assert all(req.get("body_len", 0) <= 1000 for req in dp.origin.requests[n0:]), "excess reached the origin"


def requests_post(dp, body):
    return requests.post(dp.url + "/", data=body, timeout=10)


def test_cors_from_a_policy_answers_preflights_before_authentication(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    created(sl.post("/api/v1/namespaces/default/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keys"}, "type": "Opaque",
        "data": {"app": "a2V5LTE="}}))  # key-1
    created(sl.post(POLICIES, policy("c", [to_route()], cors={
        "allowOrigins": ["https://app.example"], "allowMethods": ["GET", "POST"], "allowHeaders": ["X-API-Key"],
        "maxAge": 600}, apiKeyAuth={"secretRefs": [{"name": "keys"}]})))
    wait_until(lambda: dp.get("/").status_code == 401, timeout=10, what="the policy in force")
    pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "X-API-Key"}
    r = requests.options(dp.url + "/", headers=pre, timeout=10)
    assert r.status_code == 200, r.status_code
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example", r.headers
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    r = requests.options(dp.url + "/", headers=dict(pre, Origin="https://evil.example"), timeout=10)
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers, r.headers
    r = dp.get("/", headers={"Origin": "https://app.example", "X-API-Key": "key-1"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "https://app.example", r.headers
    # The route's own CORS filter wins.
    route = dp.sluiced.get(ROUTES + "/r").json()
    route["spec"]["rules"][0]["filters"] = [{"type": "CORS", "cors": {"allowOrigins": ["https://other.example"]}}]
    created(dp.sluiced.put(ROUTES + "/r", route))
    wait_until(lambda: "Access-Control-Allow-Origin" not in requests.options(dp.url + "/", headers=pre,
                                                                              timeout=10).headers,
               timeout=10, what="the route's CORS filter")
    r = requests.options(dp.url + "/", headers=dict(pre, Origin="https://other.example"), timeout=10)
    assert r.headers.get("Access-Control-Allow-Origin") == "https://other.example", r.headers


def test_csrf_refuses_unsafe_cross_site_requests(make_dataplane):
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, policy("x", [to_route()], csrf={"additionalOrigins": ["https://admin.example",
                                                                                            "https://*.partner.example"]})))
    own = "http://127.0.0.1:%d" % dp.port

    def post(**headers):
        return requests.post(dp.url + "/", data=b"x", headers=headers, timeout=10).status_code
    wait_until(lambda: post(Origin="https://evil.example") == 403, timeout=10, what="csrf in force")
    assert post(Origin=own) == 200
    assert post(Origin="https://admin.example") == 200
    assert post(Origin="https://eu.partner.example") == 200
    assert post() == 403  # no source at all
    assert post(Referer=own + "/form?a=1") == 200
    assert post(Referer="https://evil.example/page") == 403
    assert post(Origin="null") == 403
    assert requests.delete(dp.url + "/", headers={"Origin": "https://evil.example"}, timeout=10).status_code == 403
    assert dp.get("/", headers={"Origin": "https://evil.example"}).status_code == 200  # safe methods pass


def test_body_limit_counts_de_chunked_bytes_of_http1_and_http2_bodies(make_dataplane):
    from h2client import H2Client
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, policy("b", [to_route()], bodyLimit={"maxRequestBytes": 1000})))
    wait_until(lambda: requests_post(dp, b"x" * 1001).status_code == 413, timeout=10, what="the body limit")
    # 1000 bytes in 100 chunks of 10: the framing does not count, each byte counts once.
    chunks = b"".join(b"a\r\n" + b"z" * 10 + b"\r\n" for _ in range(100))
    r = raw_request(dp.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    assert r.status == 200 and json.loads(r.body)["body_len"] == 1000, r.status
    r = raw_request(dp.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks +
                    b"1\r\nz\r\n0\r\n\r\n")
    assert r.status == 413, r.status
    # HTTP/2: DATA frames are the body, counted the same way.
    with H2Client.connect(dp.port) as c:
        ok = c.request("POST", "/", body=b"q" * 1000)
        big = c.request("POST", "/", body=b"q" * 1500)
        st = c.response(ok)
        assert st.status == 200 and json.loads(bytes(st.data))["body_len"] == 1000
        assert c.response(big).status == 413

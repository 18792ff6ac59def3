"""Errors of the admin API: every one a Kubernetes Status object with the right
code and reason; 422 names each bad field; nothing invalid is stored."""

import json
import socket

import pytest
import requests

from conftest import GW, httproute, path_for

ROUTES = path_for("httproutes", "default")
MAX_BODY = 3 * 1024 * 1024


def assert_status(r, code, reason):
    assert r.status_code == code, "%s %s -> %d: %s" % (r.request.method, r.request.url, r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    st = r.json()
    assert st["kind"] == "Status", st
    assert st["apiVersion"] == "v1", st
    assert st["status"] == "Failure", st
    assert st["reason"] == reason, st
    assert st["code"] == code, st
    assert isinstance(st["message"], str) and st["message"], st
    return st


def raw_post(s, path, data, ctype="application/json"):
    return requests.post(s.url + path, data=data, headers={"Content-Type": ctype}, timeout=10)


# ---- 400 ----

@pytest.mark.parametrize("data", [b"{", b'{"kind": }', b"not json at all", b'{"a":1,"a":2}', b""])
def test_malformed_json_is_400(sluiced, data):
    st = assert_status(raw_post(sluiced, ROUTES, data), 400, "BadRequest")
    assert "JSON" in st["message"] or "json" in st["message"]


@pytest.mark.parametrize("body", ["[]", "[1,2]", '"a string"', "42", "null", "true"])
def test_body_not_an_object_is_400(sluiced, body):
    st = assert_status(raw_post(sluiced, ROUTES, body.encode()), 400, "BadRequest")
    if body.startswith("["):
        assert "object" in st["message"]
    assert sluiced.get(ROUTES).json()["items"] == []


def test_malformed_put_and_patch_are_400(sluiced):
    assert sluiced.post(ROUTES, httproute("r1")).status_code == 201
    r = requests.put(sluiced.url + path_for("httproutes", "default", "r1"), data=b"{oops", timeout=10)
    assert_status(r, 400, "BadRequest")
    r = requests.patch(sluiced.url + path_for("httproutes", "default", "r1"), data=b"[1]",
                       headers={"Content-Type": "application/merge-patch+json"}, timeout=10)
    assert_status(r, 400, "BadRequest")


def test_kind_not_matching_url_is_400(sluiced):
    body = httproute("r1")
    body["kind"] = "GRPCRoute"
    st = assert_status(sluiced.post(ROUTES, body), 400, "BadRequest")
    assert "GRPCRoute" in st["message"]
    assert sluiced.get(path_for("httproutes", "default", "r1")).status_code == 404


@pytest.mark.parametrize("api_version", ["v1", "apps/v1", GW + "/v2", "gateway.sluice.dev/v1alpha1"])
def test_api_version_not_matching_url_is_400(sluiced, api_version):
    body = httproute("r1")
    body["apiVersion"] = api_version
    st = assert_status(sluiced.post(ROUTES, body), 400, "BadRequest")
    assert api_version in st["message"]
    assert sluiced.get(path_for("httproutes", "default", "r1")).status_code == 404


def test_kind_mismatch_on_core_kind_is_400(sluiced):
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {}}
    assert_status(sluiced.post("/api/v1/namespaces/default/configmaps", body), 400, "BadRequest")


def test_namespace_in_body_differs_from_url_is_400(sluiced):
    other = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}
    assert sluiced.post("/api/v1/namespaces", other).status_code == 201
    st = assert_status(sluiced.post(ROUTES, httproute("r1", namespace="other")), 400, "BadRequest")
    assert "other" in st["message"]
    assert sluiced.get(path_for("httproutes", "other", "r1")).status_code == 404
    assert sluiced.get(path_for("httproutes", "default", "r1")).status_code == 404


def test_namespace_mismatch_on_put_is_400(sluiced):
    assert sluiced.post(ROUTES, httproute("r1")).status_code == 201
    assert sluiced.post("/api/v1/namespaces", {"metadata": {"name": "other"}}).status_code == 201
    r = sluiced.put(path_for("httproutes", "default", "r1"), httproute("r1", namespace="other"))
    assert_status(r, 400, "BadRequest")


# ---- 404 ----

@pytest.mark.parametrize("path", [
    "/apis/apps/v1/namespaces/default/deployments",
    "/apis/apps/v1/namespaces/default/deployments/web",
    "/api/v1/pods",
    "/api/v1/namespaces/default/pods",
    "/apis/%s/v1/namespaces/default/widgets" % GW,
    "/apis/%s/v9/namespaces/default/httproutes" % GW,
    "/apis/gateway.sluice.dev/v1/namespaces/default/backends",
])
def test_unknown_resource_is_404(sluiced, path):
    assert_status(sluiced.get(path), 404, "NotFound")
    assert_status(sluiced.post(path, {"metadata": {"name": "x"}}), 404, "NotFound")


@pytest.mark.parametrize("path", ["/nope", "/apis/nope.example.com", "/apis/nope.example.com/v1", "/api/v2",
                                  "/ui-not-here", "/api/v1/namespaces/default/services/a/b/c/d"])
def test_unknown_path_is_404(sluiced, path):
    assert_status(sluiced.get(path), 404, "NotFound")


def test_missing_object_is_404_naming_it(sluiced):
    st = assert_status(sluiced.get(path_for("httproutes", "default", "ghost")), 404, "NotFound")
    assert "ghost" in st["message"]
    assert st["details"]["name"] == "ghost"
    assert_status(sluiced.delete(path_for("httproutes", "default", "ghost")), 404, "NotFound")


def test_unknown_subresource_is_404(sluiced):
    assert sluiced.post(ROUTES, httproute("r1")).status_code == 201
    assert_status(sluiced.get(path_for("httproutes", "default", "r1") + "/scale"), 404, "NotFound")


def test_create_in_missing_namespace_is_404(sluiced):
    r = sluiced.post(path_for("httproutes", "nowhere"), httproute("r1", namespace="nowhere"))
    st = assert_status(r, 404, "NotFound")
    assert "nowhere" in st["message"]
    assert "namespace" in st["message"]
    assert sluiced.get(path_for("httproutes", "nowhere", "r1")).status_code == 404
    r = sluiced.post("/api/v1/namespaces/nowhere/configmaps", {"metadata": {"name": "c"}})
    assert "nowhere" in assert_status(r, 404, "NotFound")["message"]


# ---- 405 ----

@pytest.mark.parametrize("method,path", [
    ("PUT", ROUTES),
    ("PATCH", ROUTES),
    ("POST", path_for("httproutes", "default", "r1")),
    ("POST", path_for("httproutes")),            # all-namespaces list is read-only
    ("DELETE", path_for("httproutes")),
    ("DELETE", path_for("httproutes", "default", "r1") + "/status"),
    ("POST", path_for("httproutes", "default", "r1") + "/status"),
])
def test_wrong_method_is_405(sluiced, method, path):
    assert sluiced.post(ROUTES, httproute("r1")).status_code == 201
    r = requests.request(method, sluiced.url + path, data=json.dumps(httproute("r1")),
                         headers={"Content-Type": "application/merge-patch+json"}, timeout=10)
    assert_status(r, 405, "MethodNotAllowed")
    assert sluiced.get(path_for("httproutes", "default", "r1")).status_code == 200


# ---- 413 ----

def big_body():
    obj = httproute("big")
    obj["metadata"]["annotations"] = {"filler": "x" * (MAX_BODY + 1024)}
    return json.dumps(obj).encode()


def test_body_over_limit_with_content_length_is_413(sluiced):
    data = big_body()
    assert len(data) > MAX_BODY
    r = requests.post(sluiced.url + ROUTES, data=data, headers={"Content-Type": "application/json"}, timeout=20)
    assert_status(r, 413, "RequestEntityTooLarge")
    assert sluiced.get(path_for("httproutes", "default", "big")).status_code == 404


def test_body_over_limit_chunked_is_413(sluiced):
    data = big_body()

    def chunks():
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]

    r = requests.post(sluiced.url + ROUTES, data=chunks(), headers={"Content-Type": "application/json"},
                      timeout=20)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert_status(r, 413, "RequestEntityTooLarge")
    assert sluiced.get(path_for("httproutes", "default", "big")).status_code == 404
    # the server is still fine afterwards
    assert sluiced.post(ROUTES, httproute("small")).status_code == 201


def test_content_length_header_alone_over_limit_is_413(sluiced):
    """A client announcing a huge body gets 413 without having to send it."""
    with socket.create_connection(("127.0.0.1", sluiced.port), timeout=10) as sock:
        sock.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\nConnection: close\r\n\r\n{" % (ROUTES, 50 * MAX_BODY)).encode())
        resp = b""
        while b"\r\n\r\n" not in resp:
            chunk = sock.recv(4096)
            if not chunk:
                break
            resp += chunk
    assert resp.startswith(b"HTTP/1.1 413"), resp[:200]


def test_body_just_under_limit_is_not_413(sluiced):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "near"}, "data": {}}
    overhead = len(json.dumps(obj).encode())
    obj["data"]["k"] = "x" * (MAX_BODY - overhead - 200)
    data = json.dumps(obj).encode()
    assert len(data) < MAX_BODY
    r = requests.post(sluiced.url + "/api/v1/namespaces/default/configmaps", data=data, timeout=20)
    assert r.status_code != 413, r.text[:300]


# ---- 415 ----

@pytest.mark.parametrize("ctype", ["application/json-patch+json", "application/apply-patch+yaml", "text/plain"])
def test_unsupported_patch_type_is_415(sluiced, ctype):
    assert sluiced.post(ROUTES, httproute("r1")).status_code == 201
    body = [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}] if "json-patch" in ctype else \
        {"metadata": {"labels": {"a": "b"}}}
    r = sluiced.patch(path_for("httproutes", "default", "r1"), body, content_type=ctype)
    assert_status(r, 415, "UnsupportedMediaType")
    assert "labels" not in sluiced.get(path_for("httproutes", "default", "r1")).json()["metadata"]


# ---- 422 ----

def causes(st):
    return sorted(c["field"] for c in st["details"]["causes"])


def assert_invalid(r, fields, kind, name):
    st = assert_status(r, 422, "Invalid")
    assert causes(st) == sorted(fields), st
    for c in st["details"]["causes"]:
        assert c["message"], c
        assert c["field"] in st["message"]
    assert st["details"]["kind"] == kind
    assert st["details"]["name"] == name
    return st


def test_httproute_with_three_errors(sluiced):
    body = httproute("bad", path="no-slash")
    rule = body["spec"]["rules"][0]
    rule["matches"][0]["headers"] = [{"name": "bad header:", "value": "x"}]
    rule["backendRefs"] = [{"name": "svc", "port": 80, "weight": -1}]
    assert_invalid(sluiced.post(ROUTES, body),
                   ["spec.rules[0].matches[0].path.value", "spec.rules[0].matches[0].headers[0].name",
                    "spec.rules[0].backendRefs[0].weight"], "HTTPRoute", "bad")
    assert sluiced.get(path_for("httproutes", "default", "bad")).status_code == 404


def test_httproute_errors_in_later_rules_are_indexed(sluiced):
    body = httproute("bad")
    body["spec"]["rules"].append({"matches": [{"path": {"type": "Exact", "value": "x"}}],
                                  "backendRefs": [{"name": "a", "port": 80}, {"name": "b", "port": 80,
                                                                               "weight": -5}]})
    assert_invalid(sluiced.post(ROUTES, body),
                   ["spec.rules[1].matches[0].path.value", "spec.rules[1].backendRefs[1].weight"],
                   "HTTPRoute", "bad")


def test_gateway_with_two_errors(sluiced):
    body = {"apiVersion": GW + "/v1", "kind": "Gateway", "metadata": {"name": "gw"},
            "spec": {"gatewayClassName": "sluice",
                     "listeners": [{"name": "web", "port": 0, "protocol": "HTTP"},
                                   {"name": "web", "port": 18081, "protocol": "HTTP"}]}}
    assert_invalid(sluiced.post(path_for("gateways", "default"), body),
                   ["spec.listeners[0].port", "spec.listeners[1].name"], "Gateway", "gw")
    assert sluiced.get(path_for("gateways", "default", "gw")).status_code == 404


def test_service_with_bad_port_and_name(sluiced):
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "Bad_Name"},
            "spec": {"ports": [{"name": "http", "port": 70000}]}}
    assert_invalid(sluiced.post("/api/v1/namespaces/default/services", body),
                   ["metadata.name", "spec.ports[0].port"], "Service", "Bad_Name")
    assert sluiced.get("/api/v1/namespaces/default/services/Bad_Name").status_code == 404


def test_service_port_out_of_range(sluiced):
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
            "spec": {"ports": [{"name": "http", "port": 70000}]}}
    st = assert_invalid(sluiced.post("/api/v1/namespaces/default/services", body), ["spec.ports[0].port"],
                        "Service", "svc")
    assert st["code"] == 422
    assert sluiced.get("/api/v1/namespaces/default/services/svc").status_code == 404


@pytest.mark.parametrize("name", ["Bad_Name", "UPPER", "-leading", "trailing-", "a" * 254, "has space"])
def test_invalid_metadata_name(sluiced, name):
    body = httproute(name)
    r = sluiced.post(ROUTES, body)
    st = assert_status(r, 422, "Invalid")
    assert "metadata.name" in causes(st)
    assert sluiced.get(ROUTES).json()["items"] == []


def test_missing_name_is_422(sluiced):
    body = httproute("x")
    del body["metadata"]["name"]
    st = assert_status(sluiced.post(ROUTES, body), 422, "Invalid")
    assert "metadata.name" in causes(st)


def test_invalid_update_is_422_and_keeps_old(sluiced):
    assert sluiced.post(ROUTES, httproute("r1", path="/good")).status_code == 201
    body = sluiced.get(path_for("httproutes", "default", "r1")).json()
    body["spec"]["rules"][0]["matches"][0]["path"]["value"] = "bad"
    body["spec"]["rules"][0]["backendRefs"] = [{"name": "svc", "port": 80, "weight": -1}]
    assert_invalid(sluiced.put(path_for("httproutes", "default", "r1"), body),
                   ["spec.rules[0].matches[0].path.value", "spec.rules[0].backendRefs[0].weight"],
                   "HTTPRoute", "r1")
    got = sluiced.get(path_for("httproutes", "default", "r1")).json()
    assert got["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/good"
    assert got["metadata"]["generation"] == 1


def test_invalid_sluice_kinds(sluiced):
    tp = {"apiVersion": "gateway.sluice.dev/v1alpha1", "kind": "TrafficPolicy", "metadata": {"name": "tp"},
          "spec": {"targetRefs": [{"group": GW, "kind": "Gateway", "name": "gw"}],
                   "rateLimit": {"requests": 0, "unit": "Fortnight"}}}
    assert_invalid(sluiced.post("/apis/gateway.sluice.dev/v1alpha1/namespaces/default/trafficpolicies", tp),
                   ["spec.rateLimit.requests", "spec.rateLimit.unit"], "TrafficPolicy", "tp")
    be = {"apiVersion": "gateway.sluice.dev/v1alpha1", "kind": "Backend", "metadata": {"name": "be"},
          "spec": {"type": "Static", "static": {"hosts": [{"host": "10.0.0.1", "port": 0}]},
                   "ai": {"provider": "OpenAI"}}}
    assert_invalid(sluiced.post("/apis/gateway.sluice.dev/v1alpha1/namespaces/default/backends", be),
                   ["spec.static.hosts[0].port", "spec.ai"], "Backend", "be")
    assert sluiced.get("/apis/gateway.sluice.dev/v1alpha1/trafficpolicies").json()["items"] == []
    assert sluiced.get("/apis/gateway.sluice.dev/v1alpha1/backends").json()["items"] == []


def test_secret_bad_base64_and_missing_tls_key(sluiced):
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": "!!!not base64!!!"}}
    st = assert_status(sluiced.post("/api/v1/namespaces/default/secrets", body), 422, "Invalid")
    fields = causes(st)
    assert any("tls.crt" in f for f in fields), fields
    assert any("tls.key" in f for f in fields), fields
    assert sluiced.get("/api/v1/namespaces/default/secrets/s").status_code == 404


def test_nothing_invalid_stored_and_version_unchanged(sluiced):
    before = sluiced.get(ROUTES).json()["metadata"]["resourceVersion"]
    assert sluiced.post(ROUTES, httproute("x", path="bad")).status_code == 422
    assert sluiced.get(ROUTES).json()["metadata"]["resourceVersion"] == before


# ---- all errors are Status objects ----

def test_errors_are_status_objects_everywhere(sluiced):
    checks = [
        (sluiced.get("/api/v1/namespaces/default/services/none"), 404, "NotFound"),
        (raw_post(sluiced, ROUTES, b"{"), 400, "BadRequest"),
        (requests.put(sluiced.url + ROUTES, json={}, timeout=10), 405, "MethodNotAllowed"),
        (sluiced.get("/api/v1/namespaces/default/configmaps", params={"fieldSelector": "spec.x=1"}), 400,
         "BadRequest"),
    ]
    for r, code, reason in checks:
        assert_status(r, code, reason)


# ---- requests that used to be taken silently ----

def test_numeric_resource_version_on_put_is_400(sluiced):
    assert sluiced.post(ROUTES, httproute("r1")).status_code == 201
    obj = sluiced.get(ROUTES + "/r1").json()
    rv = obj["metadata"]["resourceVersion"]
    obj["metadata"]["resourceVersion"] = int(rv)  # a number, not the string the API gave
    st = assert_status(sluiced.put(ROUTES + "/r1", obj), 400, "BadRequest")
    assert "resourceVersion" in st["message"] and "string" in st["message"]
    assert sluiced.get(ROUTES + "/r1").json()["metadata"]["resourceVersion"] == rv
    # A stale one, as a string, is still a conflict.
    obj["metadata"]["resourceVersion"] = "1"
    assert_status(sluiced.put(ROUTES + "/r1", obj), 409, "Conflict")


@pytest.mark.parametrize("patch,field", [({"metadata": {"name": "r2"}}, "metadata.name"),
                                         ({"metadata": {"namespace": "other"}}, "metadata.namespace"),
                                         ({"kind": "GRPCRoute"}, "kind")],
                         ids=["name", "namespace", "kind"])
def test_patch_that_changes_identity_is_400(sluiced, patch, field):
    assert sluiced.post(ROUTES, httproute("r1")).status_code == 201
    before = sluiced.get(ROUTES + "/r1").json()
    st = assert_status(sluiced.patch(ROUTES + "/r1", patch), 400, "BadRequest")
    assert field in st["message"]
    assert sluiced.get(ROUTES + "/r1").json() == before
    assert sluiced.get(ROUTES + "/r2").status_code == 404
    # The same values as the object's own are fine (kubectl sends some back).
    same = {"kind": "HTTPRoute", "metadata": {"name": "r1", "namespace": "default", "labels": {"a": "b"}}}
    r = sluiced.patch(ROUTES + "/r1", same)
    assert r.status_code == 200 and r.json()["metadata"]["labels"] == {"a": "b"}


@pytest.mark.parametrize("query", ["limit=abc", "limit=-5", "limit=", "limit=1.5", "timeoutSeconds=abc",
                                   "timeoutSeconds=-1", "watch=1&timeoutSeconds=x", "watch=1&limit=-1"])
def test_invalid_limit_and_timeout_are_400(sluiced, query):
    r = requests.get(sluiced.url + ROUTES + "?" + query, timeout=10)
    st = assert_status(r, 400, "BadRequest")
    assert query.split("&")[-1].split("=")[0] in st["message"]


def test_valid_limit_and_timeout_are_taken(sluiced):
    assert sluiced.get(ROUTES + "?limit=500").status_code == 200
    r = requests.get(sluiced.url + ROUTES + "?watch=1&timeoutSeconds=1", timeout=10)
    assert r.status_code == 200  # and it ended by itself after a second

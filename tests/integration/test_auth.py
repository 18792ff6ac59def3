"""TrafficPolicy apiKeyAuth: keys from Secrets (client id -> key), presented in
a header or as a bearer token, checked by hash; the client id goes to the
upstream, the access log and rate-limit keys; the key is never forwarded; a
missing or unknown key gets 401; a missing Secret fails closed. basicAuth: users
from an htpasswd file in a Secret (bcrypt and SHA-crypt, made with Debian's
htpasswd)."""

import base64
import shutil
import subprocess

import pytest
import requests

from dataplane import created, make_dataplane, wait_until  # noqa: F401
from test_policies import POLICIES, attached, conditions, policy, to_route

SECRETS = "/api/v1/namespaces/default/secrets"


def secret(name, entries):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
            "type": "Opaque", "data": {k: base64.b64encode(v.encode()).decode() for k, v in entries.items()}}


def echoed(resp):
    return {k.lower(): v for k, v in resp.json()["headers"]}


def api_key_plane(make_dataplane, **extra):
    dp = make_dataplane()
    created(dp.sluiced.post(SECRETS, secret("api-keys", {"alice": "key-a-123", "bob": "key-b-456"})))
    section = {"secretRefs": [{"name": "api-keys"}], "clientIdHeader": "X-Client-Id", "bearer": True}
    section.update(extra)
    created(dp.sluiced.post(POLICIES, policy("keys", [to_route()], apiKeyAuth=section)))
    wait_until(lambda: dp.get("/").status_code == 401, timeout=10, what="apiKeyAuth in force")
    return dp


def test_requests_need_a_known_key_and_the_upstream_learns_who_called(make_dataplane):
    dp = api_key_plane(make_dataplane)
    r = dp.get("/")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Bearer realm="sluice"', r.headers
    assert dp.get("/", headers={"X-API-Key": "key-a-124"}).status_code == 401
    assert dp.get("/", headers={"X-API-Key": ""}).status_code == 401
    n0 = dp.origin.nrequests
    r = dp.get("/", headers={"X-API-Key": "key-a-123", "X-Client-Id": "mallory"})
    assert r.status_code == 200
    h = echoed(r)
    assert h["x-client-id"] == "alice" and "x-api-key" not in h, h
    assert dp.origin.nrequests == n0 + 1  # refused requests never reached it
    r = dp.get("/", headers={"Authorization": "Bearer key-b-456"})
    assert r.status_code == 200
    h = echoed(r)
    assert h["x-client-id"] == "bob" and "authorization" not in h, h
    wait_until(lambda: '"client_id":"bob"' in dp.sluiced.log(), timeout=5, what="the client id in the access log")
    (entry,) = attached(dp.sluiced, "keys", "Attached")
    assert conditions(entry)["Accepted"]["status"] == "True"


def test_keys_change_with_the_secret_without_restarts(make_dataplane):
    dp = api_key_plane(make_dataplane)
    pids = dp.workers()
    assert dp.get("/", headers={"X-API-Key": "key-c-789"}).status_code == 401
    s = dp.sluiced.get(SECRETS + "/api-keys").json()
    s["data"] = secret("api-keys", {"alice": "key-a-new", "carol": "key-c-789"})["data"]
    created(dp.sluiced.put(SECRETS + "/api-keys", s))
    wait_until(lambda: dp.get("/", headers={"X-API-Key": "key-c-789"}).status_code == 200, timeout=10,
               what="carol's key accepted")
    assert dp.get("/", headers={"X-API-Key": "key-b-456"}).status_code == 401  # bob is gone
    assert dp.get("/", headers={"X-API-Key": "key-a-123"}).status_code == 401  # alice's old key too
    assert echoed(dp.get("/", headers={"X-API-Key": "key-a-new"}))["x-client-id"] == "alice"
    assert dp.workers() == pids


def test_a_missing_secret_fails_closed_and_is_reported(make_dataplane):
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, policy("keys", [to_route()], apiKeyAuth={"secretRefs": [{"name": "nope"}]})))
    wait_until(lambda: dp.get("/").status_code == 401, timeout=10, what="requests refused")
    assert dp.get("/", headers={"X-API-Key": "anything"}).status_code == 401
    (entry,) = attached(dp.sluiced, "keys", "Attached")
    c = conditions(entry)
    assert c["Accepted"]["status"] == "False" and c["Accepted"]["reason"] == "Invalid", c
    assert "Secret default/nope does not exist" in c["Accepted"]["message"]


def test_rate_limits_by_client_id(make_dataplane):
    dp = api_key_plane(make_dataplane, header="X-Key")
    p = dp.sluiced.get(POLICIES + "/keys").json()
    p["spec"]["rateLimit"] = {"requests": 2, "unit": "Hour", "key": "ClientId"}
    created(dp.sluiced.put(POLICIES + "/keys", p))
    wait_until(lambda: dp.get("/", headers={"X-Key": "key-b-456"}).status_code == 429, timeout=10,
               what="bob limited")
    codes = [dp.get("/", headers={"X-Key": "key-a-123"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429], codes
    # The key in the configured header only; X-API-Key is not looked at now.
    assert dp.get("/", headers={"X-API-Key": "key-a-123"}).status_code == 401


def htpasswd(*args):
    """One htpasswd line made by Debian's htpasswd (apache2-utils)."""
    out = subprocess.run(["htpasswd", "-nb"] + list(args), capture_output=True, text=True, check=True).stdout
    return out.strip()


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


needs_htpasswd = pytest.mark.skipif(not shutil.which("htpasswd"),
                                    reason="skipped, because htpasswd (apache2-utils) is not installed")


@needs_htpasswd
def test_basic_auth_checks_htpasswd_users(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    lines = [htpasswd("-B", "alice", "pw1"), htpasswd("-5", "bob", "pw:2"), htpasswd("-2", "carol", "pw3"),
             htpasswd("-m", "dave", "pw4")]
    created(sl.post(SECRETS, secret("users", {"htpasswd": "\n".join(lines) + "\n"})))
    created(sl.post(POLICIES, policy("basic", [to_route()], basicAuth={
        "secretRef": {"name": "users"}, "realm": "api", "clientIdHeader": "X-User"})))
    wait_until(lambda: dp.get("/").status_code == 401, timeout=10, what="basicAuth in force")
    r = dp.get("/")
    assert r.headers["WWW-Authenticate"] == 'Basic realm="api", charset="UTF-8"', r.headers
    r = dp.get("/", headers=basic("alice", "pw1"))
    assert r.status_code == 200
    h = echoed(r)
    assert h["x-user"] == "alice" and "authorization" not in h, h
    assert dp.get("/", headers=basic("alice", "pw1")).status_code == 200  # from the worker's cache
    assert dp.get("/", headers=basic("bob", "pw:2")).status_code == 200  # a colon in the password
    assert dp.get("/", headers=basic("carol", "pw3")).status_code == 200
    for user, pw in (("alice", "pw2"), ("alice", ""), ("eve", "pw1"), ("dave", "pw4")):
        assert dp.get("/", headers=basic(user, pw)).status_code == 401, (user, pw)
    assert dp.get("/", headers={"Authorization": "Basic !!notbase64"}).status_code == 401
    (entry,) = attached(sl, "basic", "Attached")
    c = conditions(entry)
    assert c["Accepted"]["status"] == "False" and "dave" in c["Accepted"]["message"], c
    # A new password: the old one (even if remembered by a worker) no longer works.
    s = sl.get(SECRETS + "/users").json()
    s["data"] = secret("users", {"htpasswd": htpasswd("-B", "alice", "pw9") + "\n"})["data"]
    created(sl.put(SECRETS + "/users", s))
    wait_until(lambda: dp.get("/", headers=basic("alice", "pw9")).status_code == 200, timeout=10,
               what="alice's new password")
    assert dp.get("/", headers=basic("alice", "pw1")).status_code == 401
    assert dp.get("/", headers=basic("bob", "pw:2")).status_code == 401


def test_authorization_rules_after_authentication(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    created(sl.post(SECRETS, secret("api-keys", {"alice": "ka", "bob": "kb", "carol": "kc"})))
    created(sl.post(POLICIES, policy("az", [to_route()], apiKeyAuth={"secretRefs": [{"name": "api-keys"}]},
                                     authorization={"rules": [
                                         {"action": "Deny", "clientIds": ["bob"], "paths": ["/admin*"]},
                                         {"action": "Allow", "clientIds": ["alice", "bob"]},
                                         {"action": "Allow", "methods": ["GET", "HEAD"], "paths": ["/public/*"]}]})))
    wait_until(lambda: dp.get("/x", headers={"X-API-Key": "kc"}).status_code == 403, timeout=10,
               what="authorization in force")

    def call(key, path, method="GET"):
        return requests.request(method, dp.url + path, headers={"X-API-Key": key}, timeout=10).status_code
    assert call("ka", "/admin/x") == 200
    assert call("kb", "/admin/x") == 403
    assert call("kb", "/x") == 200
    assert call("kc", "/x") == 403          # no rule: the default denies
    assert call("kc", "/public/a/b") == 200
    assert call("kc", "/public/a", "POST") == 403
    assert call("nope", "/public/a") == 401  # authentication comes first
    # Paths are compared as an upstream reads them: these are all /admin/x.
    for path in ("/%61dmin/x", "//admin/x", "/x/../admin/x", "/./admin/x"):
        assert call("kb", path) == 403, path
    assert call("kb", "/x%2f..%2fadmin") == 200  # an encoded slash is not a separator: not resolved
    assert call("ka", "/admin/" + "a" * 2100) == 403  # too long to normalise: refused
    # defaultAction Allow turns the last rule's job around.
    p = sl.get(POLICIES + "/az").json()
    p["spec"]["authorization"] = {"defaultAction": "Allow", "rules": [{"action": "Deny", "methods": ["DELETE"]}]}
    created(sl.put(POLICIES + "/az", p))
    wait_until(lambda: call("kc", "/x") == 200, timeout=10, what="the new rules")
    assert call("kc", "/x", "DELETE") == 403


@needs_htpasswd
def test_two_authentication_sections_both_keep_their_credentials_private(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    created(sl.post(SECRETS, secret("api-keys", {"alice": "key-a"})))
    created(sl.post(SECRETS, secret("users", {"htpasswd": htpasswd("-B", "bob", "pw") + "\n"})))
    created(sl.post(POLICIES, policy("gw-keys", [{"kind": "Gateway", "name": "gw"}], apiKeyAuth={
        "secretRefs": [{"name": "api-keys"}], "clientIdHeader": "X-Client-Id"})))
    created(sl.post(POLICIES, policy("route-basic", [to_route()], basicAuth={"secretRef": {"name": "users"}})))
    creds = dict(basic("bob", "pw"), **{"X-API-Key": "key-a", "X-Client-Id": "admin"})
    wait_until(lambda: dp.get("/", headers={"X-API-Key": "key-a"}).status_code == 401, timeout=10,
               what="both sections in force")
    r = dp.get("/", headers=creds)
    assert r.status_code == 200
    h = echoed(r)
    assert "x-api-key" not in h and "authorization" not in h, h
    assert h.get("x-client-id") in ("alice", "bob"), h  # never the client's own claim

"""TrafficPolicy jwt: bearer tokens signed by a provider's keys (JWKS inline or
from a Secret), checked for algorithm, signature, issuer, audience, exp and
nbf; claims copied to upstream headers and usable by rateLimit and
authorization. Tokens are made in the test with the openssl command line
(jwt_tokens.py): valid ones with every supported algorithm, and the attacks
(alg none, HS256 keyed with the public key, another key, tampered payload)."""

import base64
import http.server
import json
import threading
import time

import pytest
import requests

from dataplane import created, make_dataplane, wait_until  # noqa: F401
from jwt_tokens import Key, hs256_with_public_key, jwks, unsigned_token
from test_auth import SECRETS, echoed, secret
from test_policies import POLICIES, attached, conditions, policy, to_route

ISSUER = "https://id.example.test"
ALGS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("jwt"))
    made = {alg: Key(alg, d, kid="k-" + alg.lower()) for alg in ALGS}
    made["other"] = Key("RS256", d, kid="k-rs256")  # same kid, a key the provider does not have
    made["rotated"] = Key("ES256", d, kid="k-new")
    return made


def claims(**extra):
    c = {"iss": ISSUER, "aud": "orders", "sub": "alice", "exp": int(time.time()) + 600}
    c.update(extra)
    return c


def provider(source, **extra):
    p = {"name": "corp", "issuer": ISSUER, "audiences": ["orders", "billing"], "jwks": source,
         "claimsToHeaders": [{"claim": "email", "header": "X-User-Email"},
                             {"claim": "groups", "header": "X-Groups"}]}
    p.update(extra)
    return p


def bearer(token):
    return {"Authorization": "Bearer " + token}


def jwt_plane(make_dataplane, keys, section=None, **sections):
    dp = make_dataplane()
    section = section or {"providers": [provider({"inline": jwks(*[keys[a] for a in ALGS])})]}
    created(dp.sluiced.post(POLICIES, policy("tokens", [to_route()], jwt=section, **sections)))
    wait_until(lambda: dp.get("/").status_code == 401, timeout=10, what="jwt in force")
    return dp


def refusal(resp):
    assert resp.status_code == 401, (resp.status_code, resp.text)
    return resp.headers["WWW-Authenticate"]


def test_tokens_of_every_algorithm_pass_and_claims_reach_the_upstream(make_dataplane, keys):
    dp = jwt_plane(make_dataplane, keys)
    assert refusal(dp.get("/")) == 'Bearer realm="sluice"'
    n0 = dp.origin.nrequests
    for alg in ALGS:
        token = keys[alg].token(claims(sub="user-" + alg, email=alg + "@example.test", groups=["a", "b"]))
        r = dp.get("/", headers=dict(bearer(token), **{"X-User-Email": "forged@example.test"}))
        assert r.status_code == 200, (alg, r.status_code, r.headers)
        h = echoed(r)
        assert h["x-user-email"] == alg + "@example.test", (alg, h)
        assert h["x-groups"] == "a, b" and "authorization" not in h, (alg, h)
    assert dp.origin.nrequests == n0 + len(ALGS)
    wait_until(lambda: '"client_id":"user-EdDSA"' in dp.sluiced.log(), timeout=5, what="the client id in the log")
    (entry,) = attached(dp.sluiced, "tokens", "Attached")
    assert conditions(entry)["Accepted"]["status"] == "True", entry


def test_bad_tokens_are_refused_with_the_reason(make_dataplane, keys):
    dp = jwt_plane(make_dataplane, keys)
    rs = keys["RS256"]
    now = int(time.time())
    good = rs.token(claims())
    header, payload, sig = good.split(".")
    tampered_payload = base64.urlsafe_b64encode(json.dumps(claims(sub="root")).encode()).rstrip(b"=").decode()
    cases = {
        "token expired": rs.token(claims(exp=now - 3600)),
        "token not yet valid": rs.token(claims(nbf=now + 3600)),
        "audience not allowed": rs.token(claims(aud="payroll")),
        "issuer not trusted": rs.token(claims(iss="https://evil.example.test")),
        "signature not verified": keys["other"].token(claims()),
        "unsupported algorithm": unsigned_token(claims()),
    }
    for why, token in cases.items():
        got = refusal(dp.get("/", headers=bearer(token)))
        assert 'error="invalid_token"' in got and 'error_description="%s"' % why in got, (why, got)
    # Algorithm confusion: HMAC keyed with the RSA public key finds no key that fits.
    assert "unsupported algorithm" in refusal(dp.get("/", headers=bearer(hs256_with_public_key(rs, claims()))))
    assert "signature not verified" in refusal(
        dp.get("/", headers=bearer(".".join([header, tampered_payload, sig]))))
    for junk in ["x", "a.b", "a.b.c.d", "%%%.e30.", header + ".e30." + sig]:
        refusal(dp.get("/", headers=bearer(junk)))
    # An array audience with one allowed entry passes.
    assert dp.get("/", headers=bearer(rs.token(claims(aud=["payroll", "billing"])))).status_code == 200


def test_a_cached_token_still_expires(make_dataplane, keys):
    section = {"clockSkew": "0s", "providers": [provider({"inline": jwks(keys["ES256"])})]}
    dp = jwt_plane(make_dataplane, keys, section)
    token = keys["ES256"].token(claims(exp=int(time.time()) + 3))
    assert [dp.get("/", headers=bearer(token)).status_code for _ in range(3)] == [200, 200, 200]
    wait_until(lambda: dp.get("/", headers=bearer(token)).status_code == 401, timeout=10, what="the token expiring")
    assert "token expired" in refusal(dp.get("/", headers=bearer(token)))


def test_keys_from_a_secret_rotate_without_restarts(make_dataplane, keys):
    dp = make_dataplane()
    sl = dp.sluiced
    created(sl.post(SECRETS, secret("idp-keys", {"jwks": jwks(keys["ES256"])})))
    section = {"providers": [provider({"secretRef": {"name": "idp-keys"}})]}
    created(sl.post(POLICIES, policy("tokens", [to_route()], jwt=section)))
    wait_until(lambda: dp.get("/").status_code == 401, timeout=10, what="jwt in force")
    pids = dp.workers()
    old, new = keys["ES256"].token(claims()), keys["rotated"].token(claims())
    assert dp.get("/", headers=bearer(old)).status_code == 200
    assert dp.get("/", headers=bearer(new)).status_code == 401
    s = sl.get(SECRETS + "/idp-keys").json()
    s["data"] = secret("idp-keys", {"jwks": jwks(keys["rotated"])})["data"]
    created(sl.put(SECRETS + "/idp-keys", s))
    wait_until(lambda: dp.get("/", headers=bearer(new)).status_code == 200, timeout=10, what="the new key")
    assert dp.get("/", headers=bearer(old)).status_code == 401  # no longer in the JWKS (nor in the cache)
    assert dp.workers() == pids


def test_a_missing_secret_fails_closed_and_is_reported(make_dataplane, keys):
    dp = make_dataplane()
    section = {"providers": [provider({"secretRef": {"name": "nope"}})]}
    created(dp.sluiced.post(POLICIES, policy("tokens", [to_route()], jwt=section)))
    wait_until(lambda: dp.get("/").status_code == 401, timeout=10, what="requests refused")
    assert dp.get("/", headers=bearer(keys["ES256"].token(claims()))).status_code == 401
    (entry,) = attached(dp.sluiced, "tokens", "Attached")
    c = conditions(entry)
    assert c["Accepted"]["status"] == "False" and "Secret nope does not exist" in c["Accepted"]["message"], c


def test_forward_token_and_client_id_claim(make_dataplane, keys):
    p = provider({"inline": jwks(keys["EdDSA"])}, forwardToken=True, clientIdClaim="email")
    dp = jwt_plane(make_dataplane, keys, {"providers": [p]})
    token = keys["EdDSA"].token(claims(email="carol@example.test"))
    h = echoed(dp.get("/", headers=bearer(token)))
    assert h["authorization"] == "Bearer " + token, h
    wait_until(lambda: '"client_id":"carol@example.test"' in dp.sluiced.log(), timeout=5, what="the client id")


def test_rate_limit_by_claim_and_authorization_by_claims(make_dataplane, keys):
    es = keys["ES256"]
    section = {"providers": [provider({"inline": jwks(es)})]}
    authz = {"rules": [{"action": "Allow", "claims": [{"name": "groups", "values": ["admins"]}]},
                       {"action": "Allow", "methods": ["GET"], "claims": [{"name": "scope", "values": ["read"]}]}]}
    dp = jwt_plane(make_dataplane, keys, section, authorization=authz,
                   rateLimit={"requests": 2, "unit": "Hour", "key": "Claim", "claim": "tenant"})
    admin = es.token(claims(groups=["staff", "admins"], tenant="t1"))
    reader = es.token(claims(scope="profile read", tenant="t2"))
    nobody = es.token(claims(scope="profile", tenant="t3"))
    assert dp.get("/", headers=bearer(nobody)).status_code == 403
    assert dp.get("/", headers=bearer(reader)).status_code == 200
    assert requests.post(dp.url + "/", headers=bearer(reader), timeout=10).status_code == 403  # GET only
    # tenant t1 has 2 per hour; t2 has used one of its own.
    assert [dp.get("/", headers=bearer(admin)).status_code for _ in range(3)] == [200, 200, 429]
    assert dp.get("/", headers=bearer(reader)).status_code == 200
    assert dp.get("/", headers=bearer(reader)).status_code == 429


def test_invalid_jwt_sections_get_422_naming_the_field(make_dataplane, keys):
    dp = make_dataplane()
    bad = {
        "spec.jwt.providers": {"providers": []},
        "spec.jwt.providers[0].jwks": {"providers": [{"name": "a", "jwks": {"inline": "{}", "uri": "http://x/"}}]},
        "spec.jwt.providers[0].jwks.inline": {"providers": [{"name": "a", "jwks": {"inline": "not json"}}]},
        "spec.jwt.providers[1].name": {"providers": [provider({"inline": jwks(keys["ES256"])}),
                                                     provider({"inline": jwks(keys["ES256"])})]},
        "spec.jwt.providers[0].claimsToHeaders[0].header": {"providers": [
            provider({"inline": jwks(keys["ES256"])}, claimsToHeaders=[{"claim": "x", "header": "Bad Header"}])]},
        "spec.jwt.clockSkew": {"clockSkew": "1h", "providers": [provider({"inline": jwks(keys["ES256"])})]},
    }
    for field, section in bad.items():
        r = dp.sluiced.post(POLICIES, policy("bad", [to_route()], jwt=section))
        assert r.status_code == 422, (field, r.status_code, r.text)
        causes = [c["field"] for c in r.json()["details"]["causes"]]
        assert field in causes, (field, causes)


class JwksServer:
    """An identity provider's JWKS endpoint: serves `body` with `status`."""

    def __init__(self, body):
        self.body, self.status, self.hits = body, 200, 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                data = outer.body.encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/.well-known/jwks.json" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks_server(keys):
    s = JwksServer(jwks(keys["ES256"]))
    yield s
    s.close()


def accepted_message(sl):
    (entry,) = attached(sl, "tokens")
    c = conditions(entry)["Accepted"]
    return c["status"], c.get("message", "")


def test_keys_from_a_uri_are_fetched_and_refreshed(make_dataplane, keys, jwks_server):
    dp = make_dataplane()
    section = {"providers": [provider({"uri": jwks_server.url, "refreshInterval": "1s"})]}
    created(dp.sluiced.post(POLICIES, policy("tokens", [to_route()], jwt=section)))
    old, new = keys["ES256"].token(claims()), keys["rotated"].token(claims())
    wait_until(lambda: dp.get("/", headers=bearer(old)).status_code == 200, timeout=15, what="keys fetched")
    wait_until(lambda: accepted_message(dp.sluiced)[0] == "True", timeout=10, what="Accepted once fetched")
    pids = dp.workers()
    assert dp.get("/", headers=bearer(new)).status_code == 401
    jwks_server.body = jwks(keys["rotated"])
    wait_until(lambda: dp.get("/", headers=bearer(new)).status_code == 200, timeout=15, what="the rotated key")
    assert dp.get("/", headers=bearer(old)).status_code == 401
    assert dp.workers() == pids
    assert "fetched http://127.0.0.1" in dp.sluiced.log()


def test_a_failing_uri_keeps_the_last_good_keys_and_says_so(make_dataplane, keys, jwks_server):
    dp = make_dataplane()
    section = {"providers": [provider({"uri": jwks_server.url, "refreshInterval": "1s"})]}
    created(dp.sluiced.post(POLICIES, policy("tokens", [to_route()], jwt=section)))
    token = keys["ES256"].token(claims())
    wait_until(lambda: dp.get("/", headers=bearer(token)).status_code == 200, timeout=15, what="keys fetched")
    jwks_server.status = 500
    wait_until(lambda: "HTTP status 500" in accepted_message(dp.sluiced)[1], timeout=15, what="the failure reported")
    status, message = accepted_message(dp.sluiced)
    assert status == "False" and "stays in use" in message, message
    assert dp.get("/", headers=bearer(token)).status_code == 200
    jwks_server.status, jwks_server.body = 200, "<html>not json</html>"
    wait_until(lambda: "not JSON" in accepted_message(dp.sluiced)[1], timeout=15, what="garbage reported")
    assert dp.get("/", headers=bearer(token)).status_code == 200
    jwks_server.body = jwks(keys["ES256"])
    wait_until(lambda: accepted_message(dp.sluiced)[0] == "True", timeout=15, what="recovered")
    assert "cannot fetch" in dp.sluiced.log()


def test_an_unreachable_uri_fails_closed(make_dataplane, keys, jwks_server):
    url = jwks_server.url
    jwks_server.close()  # nothing listens there now
    dp = make_dataplane()
    section = {"providers": [provider({"uri": url})]}
    created(dp.sluiced.post(POLICIES, policy("tokens", [to_route()], jwt=section)))
    wait_until(lambda: "onnect" in accepted_message(dp.sluiced)[1], timeout=15, what="the failure reported")
    assert accepted_message(dp.sluiced)[0] == "False"
    assert dp.get("/", headers=bearer(keys["ES256"].token(claims()))).status_code == 401


def test_several_authorization_fields_are_refused(make_dataplane, keys):
    dp = jwt_plane(make_dataplane, keys)
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", dp.port, timeout=10)
    c.putrequest("GET", "/")
    c.putheader("Authorization", "Bearer " + keys["ES256"].token(claims()))
    c.putheader("Authorization", "Bearer forged.unchecked.token")
    c.endheaders()
    r = c.getresponse()
    r.read()
    c.close()
    assert r.status == 400 and 'error="invalid_request"' in r.getheader("WWW-Authenticate"), r.getheaders()


def test_only_claims_to_headers_reach_the_upstream(make_dataplane, keys):
    dp = jwt_plane(make_dataplane, keys)
    # A claim named like a key's kid, or any claim not listed, is never a header.
    token = keys["ES256"].token(claims(**{"k-es256": "kid-claim-value", "role": "root-claim-value"}))
    r = dp.get("/", headers=bearer(token))
    assert r.status_code == 200
    values = [v for _k, v in r.json()["headers"]]
    assert "kid-claim-value" not in values and "root-claim-value" not in values, r.json()["headers"]


def test_claims_may_not_fill_framing_fields(make_dataplane, keys):
    dp = make_dataplane()
    p = provider({"inline": jwks(keys["ES256"])}, claimsToHeaders=[{"claim": "x", "header": "Content-Length"}])
    r = dp.sluiced.post(POLICIES, policy("bad", [to_route()], jwt={"providers": [p]}))
    assert r.status_code == 422 and "spec.jwt.providers[0].claimsToHeaders[0].header" in r.text, r.text


def test_authorization_with_many_long_claim_values_compiles(make_dataplane, keys):
    dp = make_dataplane()
    values = ["v%03d-" % i + "x" * 240 for i in range(16)]
    authz = {"rules": [{"action": "Allow", "claims": [{"name": "c%d" % k + "n" * 120, "values": values}
                                                       for k in range(8)]}]}
    created(dp.sluiced.post(POLICIES, policy("big", [to_route()], authorization=authz)))
    wait_until(lambda: dp.get("/").status_code == 403, timeout=10, what="the policy in force")
    assert dp.sluiced.get("/readyz").status_code == 200

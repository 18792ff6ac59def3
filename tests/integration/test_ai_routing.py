"""Routing by model: on a port where a route matches on x-sluice-ai-model, the
gateway reads a JSON POST's body before routing and sets that header from its
"model", so standard HTTPRoute matches send models to providers. A client's own
x-sluice-ai-model never picks the route there. Providers are test doubles
(llm_provider.py); the origin is dataplane.py's echo server."""

import hashlib
import json
import socket
import time

import pytest
import requests

from dataplane import BACKENDS, ROUTES, SLUICE_GROUP, created, make_dataplane, replace, wait_until  # noqa: F401
from h2client import H2Client
from llm_provider import Provider
from test_ai import KEY, ai_backend, read_until
from test_auth import SECRETS, secret

POLICIES = "/apis/gateway.sluice.dev/v1alpha1/namespaces/default/trafficpolicies"


@pytest.fixture
def providers():
    a, b = Provider(), Provider()
    yield a, b
    a.close()
    b.close()


def model_match(value, kind="Exact"):
    return {"path": {"type": "PathPrefix", "value": "/v1"},
            "headers": [{"type": kind, "name": "x-sluice-ai-model", "value": value}]}


def ref(name, kind="Backend"):
    if kind == "Backend":
        return {"group": SLUICE_GROUP, "kind": "Backend", "name": name}
    return {"name": name}


def models_route(name="models"):
    """model-b to provider B, plain-* to the echo origin (a plain Backend), the
    rest of /v1 to provider A."""
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                {"matches": [model_match("model-b")], "backendRefs": [ref("llm-b")]},
                {"matches": [model_match("plain-.*", "RegularExpression")], "backendRefs": [ref("be")]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}], "backendRefs": [ref("llm-a")]}]}}


def routing_plane(make_dataplane, providers, args=()):
    a, b = providers
    dp = make_dataplane(args=list(args))
    s = dp.sluiced
    created(s.post(SECRETS, secret("llm-key", {"apiKey": KEY})))
    created(s.post(BACKENDS, ai_backend("llm-a", "OpenAICompatible", a.port)))
    created(s.post(BACKENDS, ai_backend("llm-b", "OpenAICompatible", b.port)))
    created(s.post(ROUTES, models_route()))

    def in_force():
        n = len(b.requests)
        r = requests.post(dp.url + "/v1/chat/completions", timeout=5,
                          json={"model": "model-b", "messages": [{"role": "user", "content": "hi"}]})
        return r.status_code == 200 and len(b.requests) > n
    wait_until(in_force, timeout=10, what="the model route in force")
    return dp


def ask(dp, model, headers=None, **kw):
    body = {"model": model, "messages": [{"role": "user", "content": "which provider"}]}
    return requests.post(dp.url + "/v1/chat/completions", json=body, headers=headers or {}, timeout=10, **kw)


def test_the_body_model_picks_the_provider_and_the_client_cannot(make_dataplane, providers):
    a, b = providers
    dp = routing_plane(make_dataplane, providers)
    na, nb = len(a.requests), len(b.requests)
    r = ask(dp, "model-b")
    assert r.status_code == 200 and len(b.requests) == nb + 1 and len(a.requests) == na
    assert b.last()["headers"]["x-sluice-ai-model"] == "model-b"
    assert b.last()["headers"]["authorization"] == "Bearer " + KEY
    r = ask(dp, "test-small")
    assert r.status_code == 200 and len(a.requests) == na + 1
    assert a.last()["headers"]["x-sluice-ai-model"] == "test-small"
    # The client's own header neither routes nor reaches the provider.
    r = ask(dp, "test-small", headers={"X-Sluice-AI-Model": "model-b"})
    assert r.status_code == 200 and len(a.requests) == na + 2 and len(b.requests) == nb + 1
    assert a.last()["headers"]["x-sluice-ai-model"] == "test-small"
    assert a.last()["body"]["model"] == "test-small"
    # Without a model in the body there is no header: the catch-all rule takes it,
    # also when the client sends one of its own (dropped).
    r = requests.post(dp.url + "/v1/chat/completions", json={"messages": []},
                      headers={"x-sluice-ai-model": "model-b"}, timeout=10)
    assert len(a.requests) == na + 3 and "x-sluice-ai-model" not in a.last()["headers"]
    r = requests.get(dp.url + "/v1/models", headers={"x-sluice-ai-model": "model-b"}, timeout=10)
    assert r.status_code == 200 and len(a.requests) == na + 4 and "x-sluice-ai-model" not in a.last()["headers"]
    # The list: provider A's (the catch-all sends it any model), and the model routed to B.
    assert [m["id"] for m in r.json()["data"]] == ["test-small", "model-b"], r.text
    # Bodies without a Content-Type, or of a +json type, are read as JSON too (servers do).
    for headers in ({}, {"Content-Type": "application/vnd.example+json; charset=utf-8"}):
        data = json.dumps({"model": "model-b", "messages": []}).encode()
        req = requests.Request("POST", dp.url + "/v1/chat/completions", data=data, headers=headers).prepare()
        req.headers.pop("Content-Type", None) if not headers else None
        nb2 = len(b.requests)
        assert requests.Session().send(req, timeout=10).status_code == 200
        assert len(b.requests) == nb2 + 1, headers
    # A model name that cannot be a field value is not one.
    r = ask(dp, "model-b\r\nx-evil: 1")
    assert len(a.requests) == na + 5 and "x-evil" not in a.last()["headers"]


def test_chunked_http2_keep_alive_and_100_continue(make_dataplane, providers):
    a, b = providers
    dp = routing_plane(make_dataplane, providers)
    data = json.dumps({"model": "model-b", "messages": [{"role": "user", "content": "chunked"}]}).encode()

    def pieces():
        yield data[:7]
        yield data[7:]
    nb = len(b.requests)
    r = requests.post(dp.url + "/v1/chat/completions", data=pieces(), timeout=10,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and len(b.requests) == nb + 1
    assert b.last()["raw"] == data and int(b.last()["headers"]["content-length"]) == len(data)
    # HTTP/2, a body larger than the stream's first window.
    words = " ".join("w%d" % i for i in range(20000))
    big = json.dumps({"model": "model-b", "messages": [{"role": "user", "content": words}]}).encode()
    with H2Client.connect(dp.port) as h2:
        sid = h2.request("POST", "/v1/chat/completions", body=big, headers=[("content-type", "application/json")])
        st = h2.response(sid, timeout=30)
        assert st.status == 200, st.headers
        sid = h2.request("POST", "/v1/chat/completions", body=data.replace(b"model-b", b"test-small"),
                         headers=[("content-type", "application/json")])
        assert h2.response(sid, timeout=30).status == 200
    assert b.last()["raw"] == big and a.last()["body"]["model"] == "test-small"
    # One connection: a late body, then 100 Continue, each routed by its own model.
    s = socket.create_connection(("127.0.0.1", dp.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(data), data[:20]))
    time.sleep(0.3)
    s.sendall(data[20:])
    got = read_until(s, b"echo: chunked")
    assert got.startswith(b"HTTP/1.1 200") and b.last()["raw"] == data
    na = len(a.requests)
    other = data.replace(b"model-b", b"model-x")
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(other))
    got = read_until(s, b"100 Continue\r\n\r\n")
    s.sendall(other)
    got = read_until(s, b"echo: chunked", got.split(b"100 Continue\r\n\r\n", 1)[1])
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    assert len(a.requests) == na + 1 and a.last()["body"]["model"] == "model-x"
    s.close()


def test_a_plain_backend_gets_the_body_as_sent(make_dataplane, providers):
    dp = routing_plane(make_dataplane, providers)
    data = b'{"model":"plain-echo",  "input": "spaces and order kept"}'
    r = requests.post(dp.url + "/v1/anything", data=data, timeout=10,
                      headers={"Content-Type": "application/json", "Authorization": "Bearer own"})
    assert r.status_code == 200 and "X-Origin" in r.headers
    echo = r.json()
    assert echo["body_sha256"] == hashlib.sha256(data).hexdigest() and echo["body_len"] == len(data)
    fields = {k.lower(): v for k, v in echo["headers"]}
    assert fields["x-sluice-ai-model"] == "plain-echo"
    assert fields["authorization"] == "Bearer own"  # a plain backend: the client's credential goes on
    assert int(fields["content-length"]) == len(data)


def test_limits_and_body_policies_apply(make_dataplane, providers):
    a, b = providers
    dp = routing_plane(make_dataplane, providers, args=["--ai-max-request-bytes", "2000"])
    nb = len(b.requests)
    r = requests.post(dp.url + "/v1/chat/completions", timeout=10, headers={"Content-Type": "application/json"},
                      data=json.dumps({"model": "model-b", "pad": "x" * 3000}))
    assert r.status_code == 413 and len(b.requests) == nb
    # A route's bodyLimit sees a body read before routing (chunked: no declared length).
    created(dp.sluiced.post(POLICIES, {
        "apiVersion": SLUICE_GROUP + "/v1alpha1", "kind": "TrafficPolicy",
        "metadata": {"name": "small", "namespace": "default"},
        "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "models"}],
                 "bodyLimit": {"maxRequestBytes": 100}}}))
    data = json.dumps({"model": "model-b", "pad": "y" * 500}).encode()

    def chunked():
        yield data

    def refused():
        r = requests.post(dp.url + "/v1/chat/completions", data=chunked(), timeout=10,
                          headers={"Content-Type": "application/json"})
        return r.status_code == 413
    wait_until(refused, timeout=10, what="bodyLimit in force")
    nb = len(b.requests)  # (before the policy was in force, the body went on)
    assert refused() and len(b.requests) == nb
    assert ask(dp, "model-b").status_code == 200 and len(b.requests) == nb + 1


def test_ports_without_model_matches_pass_the_clients_header(make_dataplane, providers):
    """Only a port with a route matching on the header reads bodies before routing."""
    dp = make_dataplane()
    r = requests.post(dp.url + "/x", data=b'{"model":"m"}', timeout=10,
                      headers={"Content-Type": "application/json", "x-sluice-ai-model": "mine"})
    fields = {k.lower(): v for k, v in r.json()["headers"]}
    assert fields["x-sluice-ai-model"] == "mine"


# ---- failover along ai.fallbacks ----

def chain_plane(make_dataplane, providers, primary_port, primary_model="test-small", fallback_extra=None, args=()):
    """Backend "first" (to primary_port) with ai.fallbacks [second] (provider B), and
    route "ai" for /v1 to "first"."""
    a, b = providers
    dp = make_dataplane(args=list(args))
    s = dp.sluiced
    created(s.post(SECRETS, secret("llm-key", {"apiKey": KEY})))
    created(s.post(SECRETS, secret("other-key", {"apiKey": "sk-other-provider"})))
    second = ai_backend("second", "OpenAICompatible", b.port, secret_name="other-key", **(fallback_extra or {}))
    created(s.post(BACKENDS, second))
    created(s.post(BACKENDS, ai_backend("first", "OpenAICompatible", primary_port, model=primary_model,
                                        fallbacks=[{"name": "second"}])))
    created(s.post(ROUTES, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                            "metadata": {"name": "ai", "namespace": "default"},
                            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                                {"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
                                 "backendRefs": [ref("first")]}]}}))
    wait_until(lambda: requests.get(dp.url + "/v1/models", timeout=5).status_code == 200 and
               "X-Origin" not in requests.get(dp.url + "/v1/models", timeout=5).headers,
               timeout=10, what="the AI route in force")
    return dp


def failovers(dp):
    for line in dp.sluiced.get("/metrics").text.splitlines():
        if line.startswith("sluice_ai_failovers_total{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_failover_on_429_with_the_next_providers_key_and_back_off(make_dataplane, providers):
    a, b = providers
    # The primary's ai.model makes provider A answer 429 (its "fail-429" model).
    dp = chain_plane(make_dataplane, providers, a.port, primary_model="fail-429")
    na, nb = len(a.requests), len(b.requests)
    r = ask(dp, "test-small", headers={"Authorization": "Bearer client"})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "echo: which provider"
    assert len(a.requests) == na + 1 and len(b.requests) == nb + 1
    # Each provider got its own key and the request as meant for it.
    assert a.last()["headers"]["authorization"] == "Bearer " + KEY and a.last()["body"]["model"] == "fail-429"
    assert b.last()["headers"]["authorization"] == "Bearer sk-other-provider"
    assert b.last()["body"]["model"] == "test-small"
    assert failovers(dp) == 1
    # The failing provider is skipped for a while: the next request goes straight to B.
    r = ask(dp, "test-small")
    assert r.status_code == 200 and len(a.requests) == na + 1 and len(b.requests) == nb + 2


def test_failover_on_a_dead_provider_and_to_a_translated_one(make_dataplane, providers):
    a, b = providers
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there
    dp = chain_plane(make_dataplane, providers, port, fallback_extra={"model": "test-small"})
    # The fallback speaks Anthropic's API: the OpenAI request is translated for it.
    s = dp.sluiced
    created(s.post(BACKENDS, ai_backend("claude", "Anthropic", b.port, secret_name="other-key")))
    r = replace(s, BACKENDS + "/first", lambda o: o["spec"]["ai"].update(fallbacks=[{"name": "claude"}]))
    assert r.status_code == 200

    def translated():
        r = ask(dp, "claude-test")
        return r.status_code == 200 and b.last()["path"] == "/v1/messages" and r
    r = wait_until(translated, timeout=10, what="the chain to Anthropic in force")
    assert r.json()["object"] == "chat.completion"
    assert b.last()["headers"]["x-api-key"] == "sk-other-provider"
    # A stream too: nothing reached the client before the failover.
    r = requests.post(dp.url + "/v1/chat/completions", stream=True, timeout=10,
                      json={"model": "claude-test", "stream": True,
                            "messages": [{"role": "user", "content": "one two"}]})
    assert r.status_code == 200 and b"[DONE]" in r.content


def test_the_last_failure_reaches_the_client_and_fallbacks_are_checked(make_dataplane, providers):
    a, b = providers
    dp = chain_plane(make_dataplane, providers, a.port, primary_model="fail-429",
                     fallback_extra={"model": "fail-429"})
    r = ask(dp, "x")
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
    # A chain naming a Backend that does not exist: the route says so.
    s = dp.sluiced
    created(s.post(BACKENDS, ai_backend("broken", "OpenAI", a.port, fallbacks=[{"name": "nowhere"}])))
    r = replace(s, ROUTES + "/ai", lambda o: o["spec"]["rules"][0].update(backendRefs=[ref("broken")]))
    assert r.status_code == 200

    def resolved_refs():
        for p in s.get(ROUTES + "/ai").json().get("status", {}).get("parents", []):
            for c in p["conditions"]:
                if c["type"] == "ResolvedRefs" and c["status"] == "False":
                    return c
    c = wait_until(resolved_refs, timeout=10, what="ResolvedRefs False")
    assert c["reason"] == "BackendNotFound" and "ai.fallbacks[0]" in c["message"], c
    bad = ai_backend("bad", "OpenAI", a.port, fallbacks=[{"name": "Not_A_Name"}])
    r = s.post(BACKENDS, bad)
    assert r.status_code == 422 and "spec.ai.fallbacks[0].name" in r.text, r.text


def test_bodies_held_at_once_are_bounded_per_worker(make_dataplane, providers):
    """--ai-buffer-bytes: bodies read before routing count against one budget per worker."""
    dp = routing_plane(make_dataplane, providers, args=["--ai-buffer-bytes", "1048576"])
    first = socket.create_connection(("127.0.0.1", dp.port))
    body = b'{"model": "model-b", "pad": "' + b"x" * 900000 + b'"}'
    first.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body[:800000])
    time.sleep(0.5)  # 800 KB held by the worker, the rest not sent yet
    r = requests.post(dp.url + "/v1/chat/completions", timeout=10, headers={"Content-Type": "application/json"},
                      data=json.dumps({"model": "model-b", "pad": "y" * 300000}))
    assert r.status_code == 503, r.text
    first.sendall(body[800000:])
    got = read_until(first, b"\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    first.close()
    # Once those bodies are gone, the budget is there again.
    assert ask(dp, "model-b").status_code == 200
    r = requests.post(dp.url + "/v1/chat/completions", timeout=10, headers={"Content-Type": "application/json"},
                      data=json.dumps({"model": "model-b", "pad": "y" * 300000,
                                       "messages": [{"role": "user", "content": "x"}]}))
    assert r.status_code == 200

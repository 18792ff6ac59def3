"""TrafficPolicy aiTokenLimit: a budget of LLM tokens per key and unit, shared by
the Gateway's workers (scope Local) or by every sluiced using one Redis (scope
Global). A spent budget (zero or below) gets 429 before anything is sent; a
prompt whose estimate does not fit gets 429 once its body is read; the
provider's own count is charged after the answer (streams too). The provider
is the test double of llm_provider.py (prompt tokens: the words of the
messages; completion: the words of "echo: " + the last user message)."""

import json
import shutil

import pytest
import requests

from dataplane import HTTPFrom, created, make_dataplane, wait_until  # noqa: F401
from test_ai import ai_plane, provider, stream_events  # noqa: F401
from test_policies import POLICIES, attached, conditions, policy, to_route
from test_rate_limit_global import Redis


def token_limit(**tl):
    spec = {"tokens": 20, "unit": "Hour"}
    spec.update(tl)
    return policy("tokens", [to_route("ai")], aiTokenLimit=spec)


def chat_from(port, source, text="a b", model="test-small", stream=False):
    """POST a chat completion from loopback address `source`: status, headers, body."""
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    c = HTTPFrom(port, source, timeout=10)
    try:
        c.request("POST", "/v1/chat/completions", body=json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def in_force(dp, source="127.0.0.9"):
    """Another client's budget shows the policy in force: spend it, see 429."""
    def refused():
        return chat_from(dp.port, source, " ".join(["w"] * 30))[0] == 429
    wait_until(refused, timeout=10, what="the token limit in force")


def test_budget_is_charged_the_providers_count(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider)
    created(dp.sluiced.post(POLICIES, token_limit()))
    in_force(dp)
    n = len(provider.requests)
    # Each call uses 2 prompt + 3 completion tokens ("a b" -> "echo: a b"): 20 tokens
    # let four through; the fourth leaves 0, the fifth is refused before it is sent.
    codes = [chat_from(dp.port, "127.0.0.1")[0] for _ in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429], codes
    assert len(provider.requests) == n + 4
    st, h, body = chat_from(dp.port, "127.0.0.1")
    assert st == 429 and 0 < int(h["Retry-After"]) <= 180, h  # a token back every 180 s
    assert h["RateLimit-Policy"] == '"default/tokens";q=20;w=3600;pk=tokens', h
    assert h["RateLimit"].startswith('"default/tokens";r=0;t='), h
    err = json.loads(body)["error"]
    assert err["code"] == "rate_limit_exceeded" and "default/tokens" in err["message"]
    # Another client has a budget of its own.
    assert chat_from(dp.port, "127.0.0.2")[0] == 200
    (entry,) = attached(dp.sluiced, "tokens")
    assert conditions(entry)["Accepted"]["status"] == "True"


def test_two_workers_share_the_budget_and_errors_cost_nothing(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, workers=2)
    created(dp.sluiced.post(POLICIES, token_limit(tokens=50)))
    in_force(dp)
    # Provider errors are not charged.
    for _ in range(5):
        assert chat_from(dp.port, "127.0.0.1", model="fail-429")[0] == 429
    # 50 tokens at 5 a call: exactly ten pass, over new connections spread over both workers.
    codes = [chat_from(dp.port, "127.0.0.1")[0] for _ in range(14)]
    assert codes.count(200) == 10 and codes[-4:] == [429] * 4, codes


def test_streams_are_charged_and_big_prompts_must_fit(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider)
    created(dp.sluiced.post(POLICIES, token_limit(tokens=100)))
    in_force(dp)
    # A streamed answer is charged its usage (the gateway asked for it): 3 + 4 = 7.
    r = requests.post(dp.url + "/v1/chat/completions", stream=True, timeout=10,
                      json={"model": "test-small", "stream": True,
                            "messages": [{"role": "user", "content": "one two three"}]})
    assert r.status_code == 200 and stream_events(r)[-1] == "[DONE]"
    # 93 left: a prompt of ~400 bytes (estimate 101, capped at the whole budget, 100)
    # does not fit, and nothing is sent.
    n = len(provider.requests)
    st, h, body = chat_from(dp.port, "127.0.0.1", " ".join(["word"] * 80))
    assert st == 429 and len(provider.requests) == n, (st, body)
    assert "does not fit" in json.loads(body)["error"]["message"]
    assert int(h["Retry-After"]) >= 1
    # A small one still fits.
    assert chat_from(dp.port, "127.0.0.1")[0] == 200


def test_validation(make_dataplane, provider):
    dp = make_dataplane()
    for bad, field in (({"tokens": 0, "unit": "Hour"}, "spec.aiTokenLimit.tokens"),
                       ({"tokens": 10, "unit": "Second"}, "spec.aiTokenLimit.unit"),
                       ({"tokens": 10, "unit": "Day", "failureMode": "Deny"}, "spec.aiTokenLimit.failureMode"),
                       ({"tokens": 10, "unit": "Day", "key": "Header"}, "spec.aiTokenLimit.header")):
        r = dp.sluiced.post(POLICIES, policy("bad", [to_route("ai")], aiTokenLimit=bad))
        assert r.status_code == 422, r.text
        assert any(c["field"] == field for c in r.json()["details"]["causes"]), r.text


@pytest.mark.skipif(not shutil.which("redis-server"),
                    reason="skipped, because redis-server is not installed (deploy/install-deps.sh --tests)")
def test_global_budget_is_shared_by_two_nodes(make_dataplane, provider, tmp_path):
    redis = Redis(str(tmp_path))
    try:
        nodes = [ai_plane(make_dataplane, provider, args=["--redis", redis.address]) for _ in range(2)]
        for dp in nodes:
            created(dp.sluiced.post(POLICIES, token_limit(tokens=20, scope="Global")))
            in_force(dp, source="127.0.0.%d" % (9 + nodes.index(dp)))
        # 5 tokens a call, alternating nodes: four pass between them, then both refuse.
        codes = [chat_from(nodes[i % 2].port, "127.0.0.1")[0] for i in range(6)]
        assert codes == [200, 200, 200, 200, 429, 429], codes
        st, h, _ = chat_from(nodes[0].port, "127.0.0.1")
        assert st == 429 and h["RateLimit-Policy"].startswith('"default/tokens";q=20'), h
    finally:
        redis.stop()

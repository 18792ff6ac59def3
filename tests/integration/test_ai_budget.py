"""TrafficPolicy aiBudget: what a key may spend per UTC day or month, in tokens
or in USD (by the answering Backend's ai.prices), shared by the Gateway's
workers (scope Local) or by every sluiced using one Redis (scope Global). A
key that spent its budget gets 429 (OpenAI's insufficient_quota) until the
period renews; what each key spent is listed by the admin API
(/debug/ai-budgets). The provider is llm_provider.py's double (prompt tokens:
the words of the messages; completion: the words of "echo: " + the last user
message, so "a b" costs 2 + 3 = 5 tokens)."""

import json
import shutil

import pytest

from dataplane import HTTPFrom, created, make_dataplane, wait_until  # noqa: F401
from test_ai import ai_plane, provider  # noqa: F401
from test_policies import POLICIES, attached, conditions, policy, to_route
from test_rate_limit_global import Redis


def budget(**spec):
    return policy("budget", [to_route("ai")], aiBudget=spec)


def chat_from(port, source, text="a b", headers=None):
    body = {"model": "test-small", "messages": [{"role": "user", "content": text}]}
    c = HTTPFrom(port, source, timeout=10)
    try:
        c.request("POST", "/v1/chat/completions", body=json.dumps(body),
                  headers=dict({"Content-Type": "application/json"}, **(headers or {})))
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def listing(dp, **query):
    r = dp.sluiced.get("/debug/ai-budgets", params=query)
    assert r.status_code == 200, r.text
    return r.json()["budgets"]


def in_force(dp, source="127.0.0.9", text=" ".join(["w"] * 60), headers=None):
    """Another key's budget shows the policy in force: spend it, see 429."""
    wait_until(lambda: chat_from(dp.port, source, text, headers)[0] == 429, timeout=10, what="the budget in force")


def test_token_budget_per_day_shared_by_two_workers(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, workers=2)
    created(dp.sluiced.post(POLICIES, budget(tokens=12, period="Day")))
    in_force(dp)
    # 5 tokens a call over new connections (both workers): 0, 5, 10 spent pass; 15 is over.
    codes = [chat_from(dp.port, "127.0.0.1")[0] for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429], codes
    st, h, body = chat_from(dp.port, "127.0.0.1")
    err = json.loads(body)["error"]
    assert st == 429 and err["code"] == "insufficient_quota" and "default/budget" in err["message"], body
    assert 0 < int(h["Retry-After"]) <= 86400, h
    (mine,) = listing(dp, key="127.0.0.1")
    assert mine == dict(mine, policy="default/budget", gateway="default/gw", spent=15, budget=12, left=0,
                        unit="tokens", period="Day", scope="Local"), mine
    assert 0 < mine["renewsInSeconds"] <= 86400
    # Another client has a budget of its own; both are listed.
    assert chat_from(dp.port, "127.0.0.2")[0] == 200
    keys = {b["key"]: b["spent"] for b in listing(dp, policy="default/budget")}
    assert keys["127.0.0.2"] == 5 and keys["127.0.0.1"] == 15
    (entry,) = attached(dp.sluiced, "budget")
    assert conditions(entry)["Accepted"]["status"] == "True"


def test_money_budget_per_month_by_header(make_dataplane, provider):
    """USD 2 per million prompt tokens and 8 per million completion tokens: a
    call of 2 + 3 tokens costs USD 0.000028; a budget of USD 0.00005 lets two pass."""
    dp = ai_plane(make_dataplane, provider, prices=[{"model": "*", "input": 2, "output": 8}])
    created(dp.sluiced.post(POLICIES, budget(costUSD=0.00005, period="Month", key="Header", header="x-team")))
    in_force(dp, headers={"x-team": "warm-up"})
    team = {"x-team": "search"}
    codes = [chat_from(dp.port, "127.0.0.1", headers=team)[0] for _ in range(3)]
    assert codes == [200, 200, 429], codes
    assert chat_from(dp.port, "127.0.0.1", headers={"x-team": "ads"})[0] == 200  # the key is the team
    (mine,) = listing(dp, key="search")
    assert mine["unit"] == "USD" and mine["period"] == "Month" and mine["budget"] == pytest.approx(0.00005)
    assert mine["spent"] == pytest.approx(0.000056) and mine["left"] == 0, mine
    assert 0 < mine["renewsInSeconds"] <= 31 * 86400


def test_a_prompt_must_fit_in_what_is_left(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider)
    created(dp.sluiced.post(POLICIES, budget(tokens=40, period="Day")))
    in_force(dp, text=" ".join(["w"] * 200))
    n = len(provider.requests)
    assert chat_from(dp.port, "127.0.0.1")[0] == 200  # 5 spent, 35 left
    # About 75 tokens of prompt (300 bytes): more than is left, refused before it is sent.
    st, _, body = chat_from(dp.port, "127.0.0.1", text=" ".join(["abc"] * 75))
    assert st == 429 and "does not fit" in json.loads(body)["error"]["message"], body
    assert len(provider.requests) == n + 1
    assert listing(dp, key="127.0.0.1")[0]["spent"] == 5  # a refused prompt costs nothing


def test_validation(make_dataplane, provider):
    dp = make_dataplane()
    for bad, field in (({"tokens": 10, "costUSD": 1, "period": "Day"}, "spec.aiBudget.costUSD"),
                       ({"period": "Day"}, "spec.aiBudget.tokens"),
                       ({"tokens": 10, "period": "Week"}, "spec.aiBudget.period"),
                       ({"costUSD": -1, "period": "Month"}, "spec.aiBudget.costUSD"),
                       ({"tokens": 10, "period": "Day", "key": "Claim"}, "spec.aiBudget.claim")):
        r = dp.sluiced.post(POLICIES, policy("bad", [to_route("ai")], aiBudget=bad))
        assert r.status_code == 422, r.text
        assert any(c["field"] == field for c in r.json()["details"]["causes"]), r.text


@pytest.mark.skipif(not shutil.which("redis-server"),
                    reason="skipped, because redis-server is not installed (deploy/install-deps.sh --tests)")
def test_global_budget_is_shared_by_two_nodes(make_dataplane, provider, tmp_path):
    redis = Redis(str(tmp_path))
    try:
        nodes = [ai_plane(make_dataplane, provider, args=["--redis", redis.address]) for _ in range(2)]
        for i, dp in enumerate(nodes):
            created(dp.sluiced.post(POLICIES, budget(tokens=12, period="Day", scope="Global")))
            in_force(dp, source="127.0.0.%d" % (9 + i))
        codes = [chat_from(nodes[i % 2].port, "127.0.0.1")[0] for i in range(5)]
        assert codes == [200, 200, 200, 429, 429], codes
        # Each node lists the total Redis returned at its last charge.
        wait_until(lambda: listing(nodes[0], key="127.0.0.1")[0]["spent"] == 15, timeout=5,
                   what="the Global total in node 0's listing")
        assert listing(nodes[0], key="127.0.0.1")[0]["scope"] == "Global"
    finally:
        redis.stop()


def test_the_key_is_taken_when_checked_and_kept_to_the_charge(make_dataplane, provider):
    """A header-keyed budget is charged to the key the request was checked
    with, even when the worker reads other requests while it waits for its
    answer; a credential as the key is listed by its last 4 characters only."""
    import threading
    dp = ai_plane(make_dataplane, provider)
    created(dp.sluiced.post(POLICIES, budget(tokens=1000, period="Day", key="Header", header="x-team")))
    in_force(dp, text=" ".join(["w"] * 1100), headers={"x-team": "warm-up"})
    slow = threading.Thread(target=lambda: chat_from(dp.port, "127.0.0.1", "a b", {"x-team": "alpha"}))
    body = {"model": "slow-2s", "messages": [{"role": "user", "content": "a b"}]}

    def alpha():
        c = HTTPFrom(dp.port, "127.0.0.1", timeout=10)
        c.request("POST", "/v1/chat/completions", body=json.dumps(body),
                  headers={"Content-Type": "application/json", "x-team": "alpha"})
        assert c.getresponse().status == 200
        c.close()
    slow = threading.Thread(target=alpha)
    slow.start()
    for _ in range(3):  # read by the same worker while alpha's answer is awaited
        assert chat_from(dp.port, "127.0.0.1", headers={"x-team": "beta"})[0] == 200
    slow.join(15)
    spent = {b["key"]: b["spent"] for b in listing(dp, policy="default/budget")}
    assert spent.get("alpha") == 5 and spent.get("beta") == 15, spent
    # A credential is not shown.
    created(dp.sluiced.put("/apis/gateway.sluice.dev/v1alpha1/namespaces/default/trafficpolicies/budget",
                           budget(tokens=1000, period="Day", key="Header", header="Authorization")))
    wait_until(lambda: any(b["key"] == "...9876" for b in listing(dp)) or
               chat_from(dp.port, "127.0.0.1", headers={"Authorization": "Bearer sk-secret-9876"})[0] != 200,
               timeout=10, what="the credential-keyed budget")
    keys = [b["key"] for b in listing(dp)]
    assert "...9876" in keys and not any("secret" in k for k in keys), keys


def test_money_prompts_are_priced_by_their_model_and_local_answers_cost_nothing(make_dataplane, provider):
    """The prompt estimate is priced at the model's own line (no "*" line);
    a request answered by the gateway itself on a kept-alive connection costs
    nothing."""
    import requests
    dp = ai_plane(make_dataplane, provider, prices=[{"model": "test-small", "input": 1000, "output": 1000}])
    created(dp.sluiced.post(POLICIES, budget(costUSD=0.02, period="Day")))
    in_force(dp, text=" ".join(["w"] * 30))  # 30 words at USD 0.001 a token: over USD 0.02
    s = requests.Session()
    r = s.post(dp.url + "/v1/chat/completions", timeout=10, json={"model": "test-small", "messages": [
        {"role": "user", "content": "a b"}]})
    assert r.status_code == 200  # 5 tokens: USD 0.005
    r = s.post(dp.url + "/v1/chat/completions", timeout=10, data=b"{not json",
               headers={"Content-Type": "application/json"})
    assert r.status_code == 400  # answered by the gateway on the same connection: no charge
    (mine,) = listing(dp, key="127.0.0.1")
    assert mine["spent"] == pytest.approx(0.005), mine
    # About 250 tokens of prompt at USD 0.001: USD 0.25, more than what is left: refused unsent.
    n = len(provider.requests)
    st, _, body = chat_from(dp.port, "127.0.0.1", text=" ".join(["abc"] * 250))
    assert st == 429 and "does not fit" in json.loads(body)["error"]["message"], body
    assert len(provider.requests) == n
    assert listing(dp, key="127.0.0.1")[0]["spent"] == pytest.approx(0.005)

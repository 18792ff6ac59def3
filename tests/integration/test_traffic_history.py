"""The master's per-second traffic history (GET /debug/traffic,
daemon/traffic_history.c), which the dashboard's charts read: exact counts per
second from real traffic through a real sluiced, by Gateway, route rule and
backend; latency percentiles that come from the requests' own durations; a
deleted route's history not shown under a new route of the same index; a
Gateway's LLM tokens by model and aiBudget spending by key; and
clear errors for bad queries."""
import time

import pytest  # noqa: F401
import requests

from dataplane import (BACKENDS, ROUTES, ClosedPortOrigin, backend, created,  # noqa: F401
                       make_dataplane, route, wait_until)
from test_ai import ai_plane, provider  # noqa: F401
from test_ai_budget import budget, chat_from
from test_policies import POLICIES
from test_traffic_metrics import two_rule_route


def history(sl, **query):
    r = sl.get("/debug/traffic", params=query)
    assert r.status_code == 200, r.text
    doc = r.json()
    n = len(doc["time"])
    for cls in ("1xx", "2xx", "3xx", "4xx", "5xx"):
        assert len(doc["responses"][cls]) == n
    for p in ("p50", "p90", "p99"):
        assert len(doc["latencySeconds"][p]) == n
    assert doc["time"] == sorted(doc["time"]) and len(set(doc["time"])) == n
    return doc


def total(doc, cls):
    return sum(v or 0 for v in doc["responses"][cls])


def test_history_counts_every_request_by_second(make_dataplane):
    dp = make_dataplane(workers=2)
    sl = dp.sluiced
    closed = ClosedPortOrigin()
    created(sl.post(BACKENDS, backend("dead", [closed.port])))
    created(sl.post(ROUTES, two_rule_route("split", "be", "dead")))
    dp.wait_serving("/good/x")
    # A request at T is counted in the second the sampler next wakes in: floor(T) or
    # ceil(T) (it wakes just after each second, later under load). So the seconds from
    # floor(start) on hold all the requests below and none of wait_serving's, 2.2 s before.
    time.sleep(2.2)
    start = int(time.time())
    good, bad = 25, 3
    for i in range(good):
        assert requests.get(dp.url + "/good/%d" % i, timeout=10).status_code == 200
    for i in range(bad):
        assert requests.get(dp.url + "/bad/%d" % i, timeout=10).status_code in (502, 503)

    def counted(**query):
        doc = history(sl, **query)
        since = [i for i, t in enumerate(doc["time"]) if t >= start]
        return doc, since

    def rule_total(rule, cls):
        doc, since = counted(kind="HTTPRoute", namespace="default", name="split", section=str(rule))
        return sum(doc["responses"][cls][i] or 0 for i in since)

    wait_until(lambda: rule_total(0, "2xx") >= good and rule_total(1, "5xx") >= bad, timeout=10,
               what="the history to have the requests")
    # Exact, per rule: the two workers' seconds add up to what was sent.
    assert rule_total(0, "2xx") == good and rule_total(1, "5xx") == bad
    assert rule_total(0, "5xx") == 0 and rule_total(1, "2xx") == 0
    # The route as a whole: its rules summed.
    doc, since = counted(kind="HTTPRoute", namespace="default", name="split")
    assert doc["series"] == 2
    assert sum(doc["responses"]["2xx"][i] for i in since) == good
    assert sum(doc["responses"]["5xx"][i] for i in since) == bad
    # Every second with requests has latency percentiles, ordered; idle seconds have none.
    busy = [i for i in since if doc["responses"]["2xx"][i] or doc["responses"]["5xx"][i]]
    assert busy
    for i in busy:
        p50, p90, p99 = (doc["latencySeconds"][p][i] for p in ("p50", "p90", "p99"))
        assert 0 < p50 <= p90 <= p99 < 10
    for i in set(range(len(doc["time"]))) - set(busy) - set(range(since[0] if since else 0)):
        assert doc["latencySeconds"]["p50"][i] is None
    # The Gateway (its listener) saw all of them; the backends their own.
    gw, since = counted(kind="Gateway", namespace="default", name="gw")
    assert sum(gw["responses"]["2xx"][i] for i in since) == good
    assert sum(gw["responses"]["5xx"][i] for i in since) == bad
    assert gw["tokens"]["byModel"] == {} and gw["spending"]["byKey"] == []
    be, since = counted(kind="Backend", namespace="default", name="be")
    assert sum(be["responses"]["2xx"][i] for i in since) == good
    assert gw["historyFrom"] is not None and gw["historyFrom"] <= gw["time"][0]


def test_a_deleted_routes_history_is_not_its_successors(make_dataplane):
    dp = make_dataplane(args=["--drain-timeout", "1"])
    sl = dp.sluiced
    created(sl.post(ROUTES + "?wait=live", route("old", "be", path="/old")))
    for i in range(7):
        assert dp.get("/old/%d" % i).status_code == 200
    wait_until(lambda: total(history(sl, kind="HTTPRoute", name="old"), "2xx") == 7, timeout=10,
               what="old's requests in the history")
    assert sl.delete(ROUTES + "/old").status_code == 200
    # Gone from the configuration: its name no longer finds any series.
    wait_until(lambda: history(sl, kind="HTTPRoute", name="old")["series"] == 0, timeout=10,
               what="old's series to be released")
    assert total(history(sl, kind="HTTPRoute", name="old"), "2xx") == 0
    # A new route (which may get old's index once it is free) starts empty.
    time.sleep(11.5)  # --drain-timeout + 10 s: the index can be handed out again
    created(sl.post(ROUTES + "?wait=live", route("new", "be", path="/new")))
    assert dp.get("/new/1").status_code == 200
    wait_until(lambda: total(history(sl, kind="HTTPRoute", name="new"), "2xx") == 1, timeout=10,
               what="new's request in the history")
    time.sleep(1.1)
    assert total(history(sl, kind="HTTPRoute", name="new"), "2xx") == 1


def test_seconds_limits_the_answer_and_bad_queries_are_refused(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    wait_until(lambda: len(history(sl, kind="Gateway", name="gw")["time"]) >= 3, timeout=10,
               what="three seconds of history")
    assert len(history(sl, kind="Gateway", name="gw", seconds=2)["time"]) == 2
    for query, word in [({"kind": "Pod", "name": "x"}, "kind must be"),
                        ({"kind": "Gateway"}, "name are required"),
                        ({"kind": "Gateway", "name": "gw", "seconds": "0"}, "seconds must be"),
                        ({"kind": "Gateway", "name": "gw", "seconds": "9x"}, "seconds must be"),
                        ({"kind": "Gateway", "name": "gw", "seconds": "901"}, "seconds must be"),
                        ({"kind": "HTTPRoute", "name": b"\xff"}, "must be UTF-8")]:
        r = sl.get("/debug/traffic", params=query)
        assert r.status_code == 400, (query, r.text)
        assert r.json()["kind"] == "Status" and word in r.json()["message"], r.text
    # An object with no series answers empty columns, not an error.
    doc = history(sl, kind="HTTPRoute", name="nosuch")
    assert doc["series"] == 0 and total(doc, "2xx") == 0


def test_llm_tokens_by_model_and_budget_spending_by_key(make_dataplane, provider):  # noqa: F811
    dp = ai_plane(make_dataplane, provider, workers=2)
    created(dp.sluiced.post(POLICIES + "?wait=live", budget(tokens=100000, period="Day")))
    # "a b" costs 2 prompt + 3 completion tokens (llm_provider.py's count).
    for source, calls in (("127.0.0.1", 3), ("127.0.0.2", 2)):
        for _ in range(calls):
            assert chat_from(dp.port, source)[0] == 200

    def tokens():
        doc = history(dp.sluiced, kind="Gateway", name="gw")
        model = doc["tokens"]["byModel"].get("test-small", {})
        for column in model.values():
            assert len(column) == len(doc["tokens"]["time"]) == len(doc["tokens"]["spanSeconds"])
        return doc, {k: sum(v) for k, v in model.items()}

    wait_until(lambda: tokens()[1].get("output") == 15 and spent(tokens()[0], "127.0.0.2") == 10,
               timeout=10, what="the tokens in the history")
    doc, by_model = tokens()
    assert by_model == {"requests": 5, "input": 10, "output": 15}
    assert spent(doc, "127.0.0.1") == 15 and spent(doc, "127.0.0.2") == 10
    assert [k["unit"] for k in doc["spending"]["byKey"]] == ["tokens", "tokens"]
    assert [k["key"] for k in doc["spending"]["byKey"]] == ["127.0.0.1", "127.0.0.2"]  # the biggest spender first
    assert doc["spending"]["otherKeys"] == 0 and doc["tokens"]["otherModels"] == 0


def spent(doc, key, unit="tokens"):
    (entry,) = [k for k in doc["spending"]["byKey"] if k["key"] == key and k["unit"] == unit] or [{"spent": []}]
    assert len(entry["spent"]) in (0, len(doc["spending"]["time"]))
    return sum(entry["spent"])


def test_keys_shown_alike_are_counted_apart(make_dataplane, provider):  # noqa: F811
    """Two credentials the listing shows alike ("...abcd") are two budget slots:
    each one's spending counts once, and seconds without traffic stay at zero."""
    dp = ai_plane(make_dataplane, provider)
    created(dp.sluiced.post(POLICIES + "?wait=live", budget(tokens=1000000, period="Day", key="Header",
                                                          header="x-api-key")))
    for key, calls in (("AAAAAAAAAAAAabcd", 4), ("BBBBBBBBBBBBabcd", 1)):
        for _ in range(calls):
            assert chat_from(dp.port, "127.0.0.1", headers={"x-api-key": key})[0] == 200
    shown = {b["key"] for b in dp.sluiced.get("/debug/ai-budgets").json()["budgets"]}
    assert len(shown) == 1  # the case in point: one text for both keys
    (text,) = shown
    wait_until(lambda: spent(history(dp.sluiced, kind="Gateway", name="gw"), text) == 25, timeout=10,
               what="both keys' spending")
    time.sleep(3)  # seconds without traffic
    assert spent(history(dp.sluiced, kind="Gateway", name="gw"), text) == 25

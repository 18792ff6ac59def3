"""TrafficPolicy rateLimit (local): token buckets in shared memory, shared by
every worker of the Gateway, kept across configuration changes, keyed by
client address or header, answered with 429, Retry-After and the IETF
RateLimit fields; the bucket table is bounded (LRU eviction, counted)."""

import threading
import time

from dataplane import GW, HTTPFrom, ROUTES, backend_ref, created, make_dataplane, wait_until  # noqa: F401
from test_policies import POLICIES, policy, to_route


def get(port, headers=None, source="127.0.0.1", path="/"):
    c = HTTPFrom(port, source)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        r.read()
        return r.status, dict(r.getheaders())
    finally:
        c.close()


def limit(name="limit", **rl):
    return policy(name, [to_route()], rateLimit=rl)


def wait_limited(dp, headers=None, source="127.0.0.1"):
    """Polls until the policy is in force (a 429 comes back)."""
    wait_until(lambda: get(dp.port, headers, source)[0] == 429, timeout=10, what="the rate limit in force")


def test_the_limit_is_shared_by_the_workers_of_the_gateway(make_dataplane):
    dp = make_dataplane(workers=2)
    # Ten per hour: no refill during the test, so exactly ten pass.
    created(dp.sluiced.post(POLICIES, limit(requests=10, unit="Hour")))
    wait_limited(dp, source="127.0.0.9")  # another client's bucket: 127.0.0.1 starts full
    codes = []
    lock = threading.Lock()

    def client():
        for _ in range(10):
            st, _h = get(dp.port)  # a new connection each time: both workers answer
            with lock:
                codes.append(st)
    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(200) == 10, codes
    assert codes.count(429) == 30, codes
    st, h = get(dp.port)
    assert st == 429
    assert 0 < int(h["Retry-After"]) <= 360, h
    assert h["RateLimit-Policy"] == '"default/limit";q=10;w=3600', h
    assert h["RateLimit"] == '"default/limit";r=0;t=%s' % h["Retry-After"], h


def test_buckets_refill_and_burst(make_dataplane):
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, limit(requests=2, unit="Second", burst=3)))
    wait_limited(dp, source="127.0.0.9")
    # A new bucket holds `requests` tokens.
    codes = [get(dp.port, source="127.0.0.2")[0] for _ in range(4)]
    assert codes == [200, 200, 429, 429], codes
    # After a quiet spell it holds requests + burst (2 per second: full after 2.5 s).
    time.sleep(3.0)
    codes = [get(dp.port, source="127.0.0.2")[0] for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes.count(200) <= 6, codes


def test_keys_by_header_fall_back_to_the_address(make_dataplane):
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, limit(requests=3, unit="Hour", key="Header", header="X-Api-Key")))
    wait_limited(dp, {"X-Api-Key": "probe"})
    for key in ("alice", "bob"):
        codes = [get(dp.port, {"X-Api-Key": key})[0] for _ in range(4)]
        assert codes == [200, 200, 200, 429], (key, codes)
    # No header: counted by address (127.0.0.3 has its own bucket, shared by its requests).
    codes = [get(dp.port, source="127.0.0.3")[0] for _ in range(4)]
    assert codes == [200, 200, 200, 429], codes
    # The same address with a key is that key's bucket, not the address's.
    assert get(dp.port, {"X-Api-Key": "carol"}, source="127.0.0.3")[0] == 200


def test_buckets_survive_configuration_changes(make_dataplane):
    dp = make_dataplane(workers=2)
    sl = dp.sluiced
    created(sl.post(POLICIES, limit(requests=5, unit="Hour")))
    wait_limited(dp, source="127.0.0.9")
    codes = [get(dp.port, source="127.0.0.4")[0] for _ in range(6)]
    assert codes == [200] * 5 + [429], codes
    gen = dp.generation()
    # An unrelated route, then a change of the policy itself (a larger burst).
    other = {"apiVersion": GW + "/v1", "kind": "HTTPRoute", "metadata": {"name": "other", "namespace": "default"},
             "spec": {"parentRefs": [{"name": "gw"}],
                      "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/other"}}],
                                 "backendRefs": [backend_ref("be")]}]}}
    created(sl.post(ROUTES, other))
    p = sl.get(POLICIES + "/limit").json()
    p["spec"]["rateLimit"]["burst"] = 5
    created(sl.put(POLICIES + "/limit", p))
    wait_until(lambda: dp.generation() >= gen + 2, timeout=10, what="two new snapshots")
    time.sleep(0.3)  # the workers' tick
    assert get(dp.port, source="127.0.0.4")[0] == 429, "the bucket was reset by a configuration change"
    # Deleting the policy lifts the limit.
    assert sl.delete(POLICIES + "/limit").status_code == 200
    wait_until(lambda: get(dp.port, source="127.0.0.4")[0] == 200, timeout=10, what="the limit lifted")


def test_a_full_table_evicts_the_least_recently_used_and_counts_it(make_dataplane):
    dp = make_dataplane(args=["--rate-limit-entries", "64"])
    created(dp.sluiced.post(POLICIES, limit(requests=1, unit="Hour", key="Header", header="X-Api-Key")))
    wait_limited(dp, {"X-Api-Key": "probe"})
    for i in range(300):
        assert get(dp.port, {"X-Api-Key": "k%d" % i})[0] == 200
    metrics = dp.sluiced.get("/metrics").text
    line = [ln for ln in metrics.splitlines() if ln.startswith('sluice_rate_limit_evictions_total{gateway="default/gw"}')]
    assert line, metrics[-2000:]
    assert int(line[0].split()[-1]) >= 300 - 64, line
    # The most recent keys are still there: they are limited.
    assert get(dp.port, {"X-Api-Key": "k299"})[0] == 429


def test_a_fast_client_gets_no_more_than_the_rate(make_dataplane):
    """Many requests within each millisecond must not each be credited that
    millisecond's refill again (100 per second: about 100 per second pass)."""
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, limit(requests=100, unit="Second")))
    wait_until(lambda: any(p["section"] == "rateLimit" for a in dp.sluiced.get(
        "/debug/effective-policy?name=r").json()["attachments"] for p in a["policies"]), timeout=10,
        what="the limit compiled")
    time.sleep(0.3)  # the workers' tick
    import requests as rq
    s = rq.Session()  # one keep-alive connection: as fast as the gateway answers
    t0 = time.monotonic()
    codes = [s.get(dp.url + "/", timeout=10).status_code for _ in range(600)]
    elapsed = time.monotonic() - t0
    passed = codes.count(200)
    assert passed <= 100 + 100 * elapsed + 5, (passed, elapsed)
    assert passed >= 100, (passed, elapsed)


def test_allowed_responses_tell_the_client_its_budget(make_dataplane):
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, limit(requests=3, unit="Minute", burst=1)))
    wait_limited(dp, source="127.0.0.9")
    seen = []
    for _ in range(3):
        st, h = get(dp.port, source="127.0.0.4")
        assert st == 200 and h["RateLimit-Policy"] == '"default/limit";q=3;w=60', h
        seen.append(h["RateLimit"])
    # A new bucket holds 3 (of 4): 2, 1, 0 left; full again in 40, 60, 80 s (a token every 20 s).
    left = [int(x.split(";r=")[1].split(";")[0]) for x in seen]
    reset = [int(x.split(";t=")[1]) for x in seen]
    assert left == [2, 1, 0], seen
    assert all(38 <= t <= 81 for t in reset) and reset == sorted(reset), seen
    # An upstream's own RateLimit fields do not reach the client beside the gateway's.
    c = HTTPFrom(dp.port, "127.0.0.5")
    c.request("GET", "/?header=RateLimit:%20upstream")
    r = c.getresponse()
    r.read()
    c.close()
    fields = [v for k, v in r.getheaders() if k.lower() == "ratelimit"]
    assert r.status == 200 and len(fields) == 1 and fields[0].startswith('"default/limit";r=2'), fields


def test_a_keep_alive_connection_forgets_the_last_requests_limit(make_dataplane):
    import requests
    dp = make_dataplane()
    sl = dp.sluiced
    created(sl.post(POLICIES, limit(requests=100, unit="Minute")))
    with requests.Session() as s:
        wait_until(lambda: "RateLimit" in s.get(dp.url + "/", timeout=10).headers, timeout=10, what="limit in force")
        pids = dp.workers()
        assert sl.delete(POLICIES + "/limit").status_code == 200
        # Another connection sees the change; then this one, on its old keep-alive connection.
        wait_until(lambda: "RateLimit" not in dp.get("/").headers, timeout=10, what="limit gone")
        r = s.get(dp.url + "/", timeout=10)
        assert r.status_code == 200 and "RateLimit" not in r.headers and "RateLimit-Policy" not in r.headers, r.headers
    assert dp.workers() == pids

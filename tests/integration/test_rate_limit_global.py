"""TrafficPolicy rateLimit with scope Global: buckets in a real Redis
(redis-server from Debian, started by the test on its own port), shared by
every worker of two sluiced processes that use it; failureMode Allow or Deny
when Redis is down or not configured, with a metric and the policy's status
saying so; counting resumes when Redis is back."""

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import SLUICED, free_port
from dataplane import created, make_dataplane, wait_until  # noqa: F401
from test_policies import POLICIES, attached, conditions, policy, to_route
from test_rate_limit import get

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"),
                                reason="skipped, because redis-server is not installed (deploy/install-deps.sh --tests)")


def command_calls(port):
    """Redis's own count of calls per command (INFO commandstats, a RESP bulk string)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"INFO commandstats\r\n")
        data = b""
        while b"\r\n" not in data:
            data += s.recv(65536)
        head, _, body = data.partition(b"\r\n")
        size = int(head[1:])
        while len(body) < size:
            body += s.recv(65536)
    calls = {}
    for line in body[:size].decode().splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.partition(":")
            calls[name[len("cmdstat_"):]] = int(rest.split("calls=")[1].split(",")[0])
    return calls


def ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class Redis:
    """A redis-server of this test: no persistence, loopback only."""

    def __init__(self, directory, port=None):
        self.dir, self.port, self.proc = directory, port or free_port(), None
        self.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--protected-mode", "no"],
            stdout=open(os.path.join(self.dir, "redis.log"), "ab"), stderr=subprocess.STDOUT)
        wait_until(lambda: ping(self.port), timeout=10, what="redis-server answering")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def redis(tmp_path):
    r = Redis(str(tmp_path))
    yield r
    r.stop()


def global_limit(**extra):
    rl = {"requests": 10, "unit": "Hour", "scope": "Global"}
    rl.update(extra)
    return policy("limit", [to_route()], rateLimit=rl)


def metric(sl, name):
    for line in sl.get("/metrics").text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def status_message(sl):
    (entry,) = attached(sl, "limit")
    return conditions(entry)["Accepted"]


def test_two_sluiced_nodes_share_one_budget(make_dataplane, redis):
    a = make_dataplane(args=("--redis", redis.address), workers=2)
    b = make_dataplane(args=("--redis", redis.address))
    for dp in (a, b):
        created(dp.sluiced.post(POLICIES, global_limit()))
        # Another client's bucket shows the policy in force without touching 127.0.0.1's.
        wait_until(lambda: get(dp.port, source="127.0.0.9")[0] in (200, 429) and
                   dp.sluiced.get(POLICIES + "/limit").json().get("status"), timeout=10, what="policy applied")
    for _ in range(10):  # use up 127.0.0.9's budget from both nodes
        get(a.port, source="127.0.0.9")
    wait_until(lambda: get(b.port, source="127.0.0.9")[0] == 429, timeout=10, what="the shared budget used up")
    codes = []
    lock = threading.Lock()

    def client(port):
        for _ in range(8):
            st, _h = get(port)  # new connections: both of a's workers answer too
            with lock:
                codes.append(st)
    threads = [threading.Thread(target=client, args=(p,)) for p in (a.port, a.port, b.port)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(200) == 10 and codes.count(429) == 14, codes
    st, h = get(b.port)
    assert st == 429 and 0 < int(h["Retry-After"]) <= 360, h
    assert h["RateLimit-Policy"] == '"default/limit";q=10;w=3600', h
    assert status_message(a.sluiced)["status"] == "True"
    # The script is sent whole only when Redis does not know it (at most once per worker
    # connection, racing at start); every other check names it by its SHA-1.
    calls = command_calls(redis.port)
    assert calls.get("evalsha", 0) >= 24 and 1 <= calls.get("eval", 0) <= 3, calls
    # Allowed answers carry the budget left, counted across both nodes.
    st, h = get(a.port, source="127.0.0.6")
    assert st == 200 and h["RateLimit"].startswith('"default/limit";r=9;t='), h
    st, h = get(b.port, source="127.0.0.6")
    assert st == 200 and h["RateLimit"].startswith('"default/limit";r=8;t='), h
    assert 0 < int(h["RateLimit"].split(";t=")[1]) <= 720, h  # a token every 360 s; two spent


def test_burst_and_refill(make_dataplane, redis):
    dp = make_dataplane(args=("--redis", redis.address))
    created(dp.sluiced.post(POLICIES, global_limit(requests=2, unit="Second", burst=2)))
    wait_until(lambda: get(dp.port, source="127.0.0.9")[0] == 200 and
               [get(dp.port, source="127.0.0.9")[0] for _ in range(6)].count(429) > 0, timeout=10,
               what="the limit in force")
    # A fresh client may send `requests` at once; after a quiet spell, requests + burst.
    codes = [get(dp.port)[0] for _ in range(4)]
    assert codes[:2] == [200, 200] and 429 in codes[2:], codes
    time.sleep(2.2)  # the bucket refills at 2/s to its capacity of 4
    codes = [get(dp.port)[0] for _ in range(6)]
    assert codes.count(200) >= 4 and codes[-1] == 429, codes


@pytest.mark.parametrize("mode,code", [("Allow", 200), ("Deny", 503)])
def test_redis_down_fails_by_failure_mode_and_counting_resumes(make_dataplane, redis, mode, code):
    dp = make_dataplane(args=("--redis", redis.address, "--redis-timeout", "300"))
    created(dp.sluiced.post(POLICIES, global_limit(requests=3, failureMode=mode)))
    wait_until(lambda: get(dp.port, source="127.0.0.9")[0] == 200, timeout=10, what="policy in force")
    redis.stop()
    wait_until(lambda: get(dp.port)[0] == code, timeout=15, what="failureMode deciding")
    assert [get(dp.port)[0] for _ in range(5)] == [code] * 5  # no budget is counted meanwhile
    assert metric(dp.sluiced, "sluice_rate_limit_redis_errors_total") >= 5
    wait_until(lambda: "unreachable" in status_message(dp.sluiced).get("message", ""), timeout=15,
               what="the status saying Redis is unreachable")
    assert status_message(dp.sluiced)["status"] == "False"
    redis.start()
    wait_until(lambda: get(dp.port, source="127.0.0.7")[0] == 200, timeout=15, what="Redis used again")
    codes = [get(dp.port, source="127.0.0.8")[0] for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429], codes
    wait_until(lambda: status_message(dp.sluiced)["status"] == "True", timeout=15, what="status healthy again")
    assert "redis" in dp.sluiced.log().lower()


def test_without_redis_configured_the_policy_says_so(make_dataplane):
    dp = make_dataplane()
    created(dp.sluiced.post(POLICIES, global_limit(requests=1)))
    wait_until(lambda: "needs Redis" in status_message(dp.sluiced).get("message", ""), timeout=10,
               what="the status naming the missing --redis")
    assert [get(dp.port)[0] for _ in range(3)] == [200, 200, 200]  # failureMode Allow (the default)


def test_failure_mode_needs_scope_global(make_dataplane):
    dp = make_dataplane()
    r = dp.sluiced.post(POLICIES, policy("bad", [to_route()], rateLimit={"requests": 1, "unit": "Second",
                                                                           "failureMode": "Deny"}))
    assert r.status_code == 422 and "spec.rateLimit.failureMode" in r.text, r.text
    r = dp.sluiced.post(POLICIES, policy("bad", [to_route()], rateLimit={"requests": 1, "unit": "Second",
                                                                           "scope": "Cluster"}))
    assert r.status_code == 422 and "spec.rateLimit.scope" in r.text, r.text


def test_a_bad_redis_address_is_refused_at_start(tmp_path):
    r = subprocess.run([SLUICED, "--state-dir", str(tmp_path), "--redis", "nowhere"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2 and "--redis nowhere" in r.stderr, r.stderr

"""Per route rule, listener and backend series in /metrics (common/series.h):
exact counts from real traffic through a real sluiced, histograms that add up,
a bounded label set (--metrics-series), counts that survive a worker's crash,
and text that Prometheus' own promtool accepts."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import free_port, path_for
from dataplane import (BACKENDS, GWPATH, ROUTES, ClosedPortOrigin, backend, backend_ref, created,  # noqa: F401
                       make_dataplane, replace, route, wait_until)

GRPCROUTES = path_for("grpcroutes", "default")

SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value}, checking the text's shape on the way:
    every sample belongs to the family its last TYPE line named."""
    samples, family = {}, None
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            family = line.split()[2]
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.fullmatch(line)
        assert m, "not a sample line: %r" % line
        name = m.group(1)
        assert family and (name == family or name.startswith(family + "_")), \
            "%s outside its family (%s)" % (name, family)
        key = (name, frozenset(LABEL.findall(m.group(2) or "")))
        assert key not in samples, "duplicate series %r" % line
        samples[key] = float(m.group(3))
    return samples


def value(samples, name, **labels):
    want = frozenset((k, str(v)) for k, v in labels.items())
    return samples.get((name, want), 0.0)


def scrape(sl):
    r = sl.get("/metrics")
    assert r.status_code == 200
    return parse(r.text)


def histogram_of(samples, name, **labels):
    """(cumulative buckets by le, count, sum), checked for consistency."""
    buckets = {}
    for (n, ls), v in samples.items():
        d = dict(ls)
        if n == name + "_bucket" and all(d.get(k) == str(x) for k, x in labels.items()) and \
                len(d) == len(labels) + 1:
            buckets[d["le"]] = v
    order = sorted(buckets, key=lambda le: float("inf") if le == "+Inf" else float(le))
    values = [buckets[le] for le in order]
    assert values == sorted(values), "buckets are not cumulative: %r" % buckets
    count = value(samples, name + "_count", **labels)
    assert buckets.get("+Inf") == count
    return buckets, count, value(samples, name + "_sum", **labels)


def two_rule_route(name, good, bad):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/good"}}],
                 "backendRefs": [backend_ref(good)]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/bad"}}],
                 "backendRefs": [backend_ref(bad)]}]}}


def wait_count(sl, expected, name, **labels):
    """Counters move as a request ends, which can be just after its client has the answer."""
    return wait_until(lambda: value(scrape(sl), name, **labels) >= expected and scrape(sl),
                      timeout=10, what="%s%r to reach %s" % (name, labels, expected))


def test_route_listener_and_backend_series_count_every_request(make_dataplane):
    dp = make_dataplane(workers=2)
    sl = dp.sluiced
    closed = ClosedPortOrigin()
    created(sl.post(BACKENDS, backend("dead", [closed.port])))
    created(sl.post(ROUTES, two_rule_route("split", "be", "dead")))
    dp.wait_serving("/good/x")
    before = scrape(sl)
    good, bad = 30, 4
    for i in range(good):
        r = requests.get(dp.url + "/good/%d" % i, data=b"x" * 100, timeout=10)
        assert r.status_code == 200
    for i in range(bad):
        assert requests.get(dp.url + "/bad/%d" % i, timeout=10).status_code in (502, 503)
    rule0 = dict(kind="HTTPRoute", namespace="default", route="split", rule=0)
    rule1 = dict(kind="HTTPRoute", namespace="default", route="split", rule=1)
    s = wait_count(sl, value(before, "sluice_route_requests_total", code="5xx", **rule1) + bad,
                   "sluice_route_requests_total", code="5xx", **rule1)
    s = wait_count(sl, value(before, "sluice_route_requests_total", code="2xx", **rule0) + good,
                   "sluice_route_requests_total", code="2xx", **rule0)
    # Exact: the two workers' sections add up to what was sent, no more.
    assert value(s, "sluice_route_requests_total", code="2xx", **rule0) == \
        value(before, "sluice_route_requests_total", code="2xx", **rule0) + good
    assert value(s, "sluice_route_requests_total", code="5xx", **rule1) == bad
    assert value(s, "sluice_route_requests_total", code="2xx", **rule1) == 0
    buckets, count, total = histogram_of(s, "sluice_route_request_duration_seconds", **rule0)
    assert count == value(s, "sluice_route_requests_total", code="2xx", **rule0) and 0 < total < count * 5
    assert len(buckets) == 13
    assert value(s, "sluice_route_received_bytes_total", **rule0) >= good * 100
    assert value(s, "sluice_route_sent_bytes_total", **rule0) > 0
    # The listener saw both rules' requests (and the ones before).
    listener = dict(namespace="default", gateway="gw", listener="http")
    assert value(s, "sluice_listener_requests_total", code="2xx", **listener) == \
        value(before, "sluice_listener_requests_total", code="2xx", **listener) + good
    assert value(s, "sluice_listener_requests_total", code="5xx", **listener) == bad
    histogram_of(s, "sluice_listener_request_duration_seconds", **listener)
    # The backends: answers and their upstream latency; the dead one's connect errors.
    be = dict(backend="Backend/default/be")
    assert value(s, "sluice_backend_responses_total", code="2xx", **be) == \
        value(before, "sluice_backend_responses_total", code="2xx", **be) + good
    assert value(s, "sluice_backend_attempts_total", **be) >= value(s, "sluice_backend_responses_total",
                                                                     code="2xx", **be)
    _, upstream_count, _ = histogram_of(s, "sluice_backend_response_duration_seconds", **be)
    assert upstream_count == value(s, "sluice_backend_responses_total", code="2xx", **be)
    # The master's own work: every compile and store write is timed.
    _, compiles, _ = histogram_of(s, "sluice_snapshot_compile_duration_seconds")
    _, writes, _ = histogram_of(s, "sluice_store_write_duration_seconds")
    assert compiles >= 2 and writes >= 4  # (the objects created above)
    dead = dict(backend="Backend/default/dead")
    assert value(s, "sluice_backend_connect_errors_total", **dead) >= bad
    assert value(s, "sluice_backend_responses_total", code="2xx", **dead) == 0


def test_counts_survive_a_worker_crash_and_a_route_edit(make_dataplane):
    dp = make_dataplane(workers=2)
    sl = dp.sluiced
    labels = dict(kind="HTTPRoute", namespace="default", route="r", rule=0, code="2xx")
    for i in range(20):
        assert dp.get("/c%d" % i).status_code == 200
    s = wait_count(sl, 20, "sluice_route_requests_total", **labels)
    seen = value(s, "sluice_route_requests_total", **labels)
    for pid in dp.workers():
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: len(dp.workers()) >= 2 and dp.get("/").status_code == 200, timeout=20,
               what="workers restarted")
    after = value(scrape(sl), "sluice_route_requests_total", **labels)
    assert after >= seen + 1, "a restarted worker's slot lost its counts (%s < %s)" % (after, seen + 1)
    # An edit of the route (a new snapshot) keeps its series.
    def label(obj):
        obj["metadata"].setdefault("labels", {})["edited"] = "yes"
    assert replace(sl, ROUTES + "/r", label).status_code == 200
    assert dp.get("/again").status_code == 200
    s = wait_count(sl, after + 1, "sluice_route_requests_total", **labels)
    assert value(s, "sluice_route_requests_total", **labels) == after + 1


def test_label_set_is_bounded_by_metrics_series(make_dataplane):
    # 16 indexes: 3 overflow series, then the listener, backend "be", route "r" and 10 more.
    dp = make_dataplane(args=["--metrics-series", "16"])
    sl = dp.sluiced
    for i in range(20):
        # (the last write waits until every worker runs it: "/" of route r would serve /m19 before)
        created(sl.post(ROUTES + ("?wait=live" if i == 19 else ""), route("m%d" % i, "be", path="/m%d" % i)))
    for i in range(20):
        assert dp.get("/m%d" % i).status_code == 200
    s = wait_until(lambda: value(scrape(sl), "sluice_route_requests_total", kind="_other", namespace="_other",
                                 route="_other", rule="_other", code="2xx") >= 1 and scrape(sl),
                   what="overflow series")
    routes = {dict(ls).get("route") for (n, ls) in s if n == "sluice_route_requests_total"}
    assert len(routes) <= 13, routes
    assert "_other" in routes
    counted = sum(v for (n, ls), v in s.items() if n == "sluice_route_requests_total" and
                  dict(ls)["route"] in {"m%d" % i for i in range(20)} | {"_other"})
    assert counted >= 20  # every request is counted somewhere
    assert "traffic series (--metrics-series)" in sl.log()


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(not PROMTOOL,
                    reason="promtool (Debian package prometheus) is not installed")
def test_promtool_check_metrics(make_dataplane):  # noqa: F811
    dp = make_dataplane()
    for i in range(5):
        assert dp.get("/p%d" % i).status_code == 200
    wait_count(dp.sluiced, 5, "sluice_route_requests_total", kind="HTTPRoute", namespace="default", route="r", rule=0,
               code="2xx")
    text = dp.sluiced.get("/metrics").text
    out = subprocess.run([PROMTOOL or "promtool", "check", "metrics"], input=text.encode(), capture_output=True,
                         timeout=60)
    # promtool exits 1 for lint warnings too (e.g. counters without _total):
    # only errors in the format itself fail this test, and every lint line is shown.
    report = (out.stdout + out.stderr).decode()
    assert "error while linting" not in report and "text format parsing error" not in report, report
    assert out.returncode == 0, report


def test_long_names_and_route_kinds_keep_their_own_series(make_dataplane):
    """Names are up to 253 characters: two listeners that differ only at their end
    have a series each, with their whole names; and an HTTPRoute and a GRPCRoute
    of the same name are two series, told apart by their kind."""
    dp = make_dataplane()
    sl = dp.sluiced
    gw_name, l1, l2 = ".".join(["g" * 63] * 3) + "." + "g" * 61, "x" * 130 + "1", "x" * 130 + "2"
    p1, p2 = free_port(), free_port()
    gw = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
          "metadata": {"name": gw_name, "namespace": "default"},
          "spec": {"gatewayClassName": "sluice", "listeners": [
              {"name": l1, "port": p1, "protocol": "HTTP"}, {"name": l2, "port": p2, "protocol": "HTTP"}]}}
    created(sl.post(GWPATH, gw))
    created(sl.post(ROUTES + "?wait=live", route("long", "be", parent=gw_name)))
    for port in (p1, p1, p2):
        wait_until(lambda: requests.get("http://127.0.0.1:%d/l" % port, timeout=5).status_code == 200,
                   what="port %d serving" % port)
    s = wait_count(sl, 1, "sluice_listener_requests_total", namespace="default", gateway=gw_name, listener=l2,
                   code="2xx")
    assert value(s, "sluice_listener_requests_total", namespace="default", gateway=gw_name, listener=l1,
                 code="2xx") >= 2
    # A GRPCRoute named like the HTTPRoute "r": its own series (in the snapshot: a different index).
    grpc = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": {"name": "r", "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["grpc.example"],
                     "rules": [{"backendRefs": [backend_ref("be")]}]}}
    created(sl.post(GRPCROUTES + "?wait=live", grpc))
    routes = sl.get("/debug/snapshot?raw=1").json()["sections"]["routes"]
    by_kind = {(r["route_name"], r["kind"]): r["series"] for r in routes if r["route_name"] == "r"}
    assert len(set(by_kind.values())) == 2, by_kind


def test_a_request_outliving_its_route_never_counts_into_the_next_owner(make_dataplane):
    """A series index freed by a deleted route goes to another object after
    --drain-timeout plus 10 s; a request that started on the old route and is
    still running then (a slow answer, a stream) must not count into it."""
    dp = make_dataplane(args=["--metrics-series", "16", "--drain-timeout", "0"])
    sl = dp.sluiced
    created(sl.post(ROUTES + "?wait=live", route("victim", "be", path="/victim")))
    slow = {}
    t = threading.Thread(target=lambda: slow.update(r=requests.get(dp.url + "/victim?delay=15000", timeout=30)))
    t.start()
    wait_until(lambda: any("/victim" in r["target"] for r in list(dp.origin.requests)), what="the slow request")
    assert sl.delete(ROUTES + "/victim").status_code == 200
    time.sleep(11)  # past --drain-timeout (0) + 10 s: the index may be handed out again
    # Enough new routes to take every free index (the table has 13).
    for i in range(12):
        created(sl.post(ROUTES + ("?wait=live" if i == 11 else ""), route("fill%d" % i, "be", path="/fill%d" % i)))
    t.join(timeout=30)
    assert slow["r"].status_code == 200
    time.sleep(0.5)
    s = scrape(sl)
    counted = {dict(ls)["route"]: v for (n, ls), v in s.items() if n == "sluice_route_requests_total"}
    assert not any(name.startswith("fill") for name in counted), counted

"""Operations side of sluiced: health, version, discovery, metrics, the command
line, signals, the admin port and the log format."""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import GW, SLUICED, httproute, path_for

ROUTES = path_for("httproutes", "default")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d) +(error|warn|info|debug) +"
                      r"[a-z][a-z0-9_-]*: \S")


# ---- health and version ----

def test_healthz(sluiced):
    r = sluiced.get("/healthz")
    assert r.status_code == 200
    assert r.text.strip() == "ok"


def test_readyz(sluiced):
    r = sluiced.get("/readyz")
    assert r.status_code == 200
    assert r.text.strip() == "ok"


def test_version(sluiced):
    r = sluiced.get("/version")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    v = r.json()
    assert v["major"].isdigit() and v["minor"].isdigit()
    assert re.match(r"v\d+\.\d+\.\d+", v["gitVersion"]), v
    assert v["gitVersion"].startswith("v%s.%s." % (v["major"], v["minor"]))


# ---- discovery ----

def test_discovery_api(sluiced):
    doc = sluiced.get("/api").json()
    assert doc["kind"] == "APIVersions"
    assert doc["versions"] == ["v1"]


def test_discovery_api_v1(sluiced):
    r = sluiced.get("/api/v1")
    assert r.status_code == 200
    doc = r.json()
    assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == "v1"
    res = {x["name"]: x for x in doc["resources"]}
    for name in ("services", "namespaces", "secrets", "configmaps"):
        assert name in res, sorted(res)
        assert {"get", "list", "create", "update", "patch", "delete"} <= set(res[name]["verbs"])
    assert res["namespaces"]["namespaced"] is False
    assert res["services"]["namespaced"] is True
    assert res["services"]["kind"] == "Service"
    assert "pods" not in res


def test_discovery_apis(sluiced):
    doc = sluiced.get("/apis").json()
    assert doc["kind"] == "APIGroupList"
    groups = {g["name"]: g for g in doc["groups"]}
    expected = {GW: "v1", "discovery.k8s.io": "v1", "gateway.sluice.dev": "v1alpha1"}
    for name, preferred in expected.items():
        assert name in groups, sorted(groups)
        g = groups[name]
        assert g["preferredVersion"] == {"groupVersion": "%s/%s" % (name, preferred), "version": preferred}
        assert {"groupVersion": "%s/%s" % (name, preferred), "version": preferred} in g["versions"]
    gw_versions = {v["version"] for v in groups[GW]["versions"]}
    assert {"v1", "v1beta1"} <= gw_versions


def test_discovery_group(sluiced):
    r = sluiced.get("/apis/" + GW)
    assert r.status_code == 200
    doc = r.json()
    assert doc["kind"] == "APIGroup" and doc["name"] == GW
    assert doc["preferredVersion"]["version"] == "v1"


def test_discovery_group_version(sluiced):
    r = sluiced.get("/apis/%s/v1" % GW)
    assert r.status_code == 200
    doc = r.json()
    assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == GW + "/v1"
    res = {x["name"]: x for x in doc["resources"]}
    for name in ("httproutes", "httproutes/status", "gateways", "gateways/status", "gatewayclasses", "grpcroutes",
                 "referencegrants", "backendtlspolicies"):
        assert name in res, sorted(res)
    assert res["httproutes"]["kind"] == "HTTPRoute" and res["httproutes"]["namespaced"] is True
    assert res["gatewayclasses"]["namespaced"] is False
    assert "watch" in res["httproutes"]["verbs"]
    assert set(res["httproutes/status"]["verbs"]) >= {"get", "patch", "update"}
    sluice = {x["name"] for x in sluiced.get("/apis/gateway.sluice.dev/v1alpha1").json()["resources"]}
    assert {"backends", "trafficpolicies"} <= sluice
    disc = {x["name"] for x in sluiced.get("/apis/discovery.k8s.io/v1").json()["resources"]}
    assert "endpointslices" in disc


def test_discovery_unknown_group_is_404(sluiced):
    assert sluiced.get("/apis/apps/v1").status_code == 404
    assert sluiced.get("/apis/%s/v7" % GW).status_code == 404


# ---- metrics ----

def scrape(s):
    r = s.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    return r.text


def metric(text, name, **labels):
    """Value of one sample, or 0 when absent. Labels match in any order."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)", line)
        assert m, "not a Prometheus sample line: %r" % line
        if m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if got == {k: str(v) for k, v in labels.items()}:
            return float(m.group(4))
    return 0.0


def wait_metric(s, expected, name, **labels):
    """Counters are updated when a request completes, which may be just after the
    client has its answer: wait briefly for them to reach `expected`."""
    deadline = time.monotonic() + 2
    while True:
        text = scrape(s)
        value = metric(text, name, **labels)
        if value >= expected or time.monotonic() > deadline:
            return value, text
        time.sleep(0.05)


def test_metrics_format(sluiced):
    sluiced.get(ROUTES)
    text = scrape(sluiced)
    assert "# TYPE sluice_admin_requests_total counter" in text
    assert "# HELP sluice_admin_requests_total " in text
    assert "# TYPE sluice_admin_request_duration_seconds histogram" in text
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            assert re.match(r"# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* \S", line), line
            continue
        assert re.fullmatch(r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"'
                            r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? -?[0-9.e+-]+|.* [+-]Inf|.* NaN', line), line
    assert text.endswith("\n")


def test_metrics_count_requests_exactly(sluiced):
    before = scrape(sluiced)
    get200 = metric(before, "sluice_admin_requests_total", verb="get", code=200)
    get404 = metric(before, "sluice_admin_requests_total", verb="get", code=404)
    list200 = metric(before, "sluice_admin_requests_total", verb="list", code=200)
    create201 = metric(before, "sluice_admin_requests_total", verb="create", code=201)
    create422 = metric(before, "sluice_admin_requests_total", verb="create", code=422)
    for i in range(3):
        assert sluiced.post(ROUTES, httproute("r%d" % i)).status_code == 201
    assert sluiced.post(ROUTES, httproute("bad", path="nope")).status_code == 422
    for _ in range(5):
        assert sluiced.get(path_for("httproutes", "default", "r0")).status_code == 200
    for _ in range(2):
        assert sluiced.get(path_for("httproutes", "default", "missing")).status_code == 404
    for _ in range(4):
        assert sluiced.get(ROUTES).status_code == 200
    value, after = wait_metric(sluiced, get200 + 5, "sluice_admin_requests_total", verb="get", code=200)
    assert value == get200 + 5
    _, after = wait_metric(sluiced, list200 + 4, "sluice_admin_requests_total", verb="list", code=200)
    assert metric(after, "sluice_admin_requests_total", verb="get", code=404) == get404 + 2
    assert metric(after, "sluice_admin_requests_total", verb="list", code=200) == list200 + 4
    assert metric(after, "sluice_admin_requests_total", verb="create", code=201) == create201 + 3
    assert metric(after, "sluice_admin_requests_total", verb="create", code=422) == create422 + 1


def test_metrics_other_verbs(sluiced):
    assert sluiced.post(ROUTES, httproute("r1")).status_code == 201
    assert sluiced.patch(path_for("httproutes", "default", "r1"), {"metadata": {"labels": {"a": "b"}}}) \
        .status_code == 200
    obj = sluiced.get(path_for("httproutes", "default", "r1")).json()
    assert sluiced.put(path_for("httproutes", "default", "r1"), obj).status_code == 200
    assert sluiced.delete(path_for("httproutes", "default", "r1")).status_code == 200
    _, text = wait_metric(sluiced, 1, "sluice_admin_requests_total", verb="delete", code=200)
    for verb in ("create", "patch", "update", "delete"):
        assert metric(text, "sluice_admin_requests_total", verb=verb,
                      code=201 if verb == "create" else 200) == 1, (verb, text)


def test_latency_histogram(sluiced):
    before = scrape(sluiced)
    count0 = metric(before, "sluice_admin_request_duration_seconds_count")
    for _ in range(6):
        sluiced.get(ROUTES)
    count, text = wait_metric(sluiced, count0 + 7, "sluice_admin_request_duration_seconds_count")
    assert count >= count0 + 7  # the six GETs and the first scrape
    buckets = []
    for line in text.splitlines():
        m = re.fullmatch(r'sluice_admin_request_duration_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            buckets.append((float(m.group(1)), float(m.group(2))))
    assert len(buckets) >= 5
    assert buckets[-1][0] == float("inf")
    assert [b[0] for b in buckets] == sorted(b[0] for b in buckets)
    assert all(b[1] >= a[1] for a, b in zip(buckets, buckets[1:])), buckets
    assert buckets[-1][1] == metric(text, "sluice_admin_request_duration_seconds_count")
    total = metric(text, "sluice_admin_request_duration_seconds_sum")
    assert 0 < total < 60


# ---- command line ----

def run(*args, timeout=10, env=None):
    return subprocess.run([SLUICED] + list(args), capture_output=True, text=True, timeout=timeout, env=env)


def test_version_flag():
    cp = run("--version")
    assert cp.returncode == 0
    assert re.search(r"\d+\.\d+\.\d+", cp.stdout), cp.stdout


def test_help_flag():
    cp = run("--help")
    assert cp.returncode == 0
    for opt in ("--state-dir", "--admin", "--log-level", "--version", "--help"):
        assert opt in cp.stdout


@pytest.mark.parametrize("args", [["--no-such-option"], ["--log-level", "loud"], ["stray-argument"]])
def test_bad_command_line_exits_2(tmp_path, args):
    cp = run("--state-dir", str(tmp_path / "st"), "--admin", "127.0.0.1:1", *args)
    assert cp.returncode == 2, (cp.returncode, cp.stderr)
    assert cp.stderr
    assert not (tmp_path / "st").exists()  # nothing was started


# ---- signals and lifecycle ----

def test_sigterm_exits_0_and_logs_stopped(make_sluiced):
    s = make_sluiced().start()
    assert s.stop(signal.SIGTERM) == 0
    log = s.log()
    assert re.search(r"^\S+ info +main: stopped$", log, re.M), log[-500:]


def test_sigint_exits_0(make_sluiced):
    s = make_sluiced().start()
    assert s.stop(signal.SIGINT) == 0
    assert "stopped" in s.log()


def test_sighup_does_not_stop(make_sluiced):
    s = make_sluiced().start()
    s.proc.send_signal(signal.SIGHUP)
    time.sleep(0.2)
    assert s.proc.poll() is None
    assert s.get("/healthz").status_code == 200
    assert s.stop() == 0


def port_refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def test_sigterm_closes_admin_port(make_sluiced):
    s = make_sluiced().start()
    assert not port_refused(s.port)
    assert s.stop() == 0
    assert port_refused(s.port)


def test_second_sluiced_on_same_port_fails(make_sluiced):
    first = make_sluiced().start()
    second = make_sluiced("state2", port=first.port)
    second.start(wait=False)
    try:
        rc = second.proc.wait(5)
    except subprocess.TimeoutExpired:
        rc = None
    assert rc is not None and rc != 0, "a second sluiced started on port %d:\n%s" % (first.port, second.log())
    log = second.log()
    assert str(first.port) in log, log
    assert re.search(r"in use|cannot listen|bind", log), log
    # the first one is unaffected
    assert first.get("/healthz").status_code == 200


def test_state_survives_restart(make_sluiced):
    s = make_sluiced().start()
    assert s.post(ROUTES, httproute("r1")).status_code == 201
    assert s.stop() == 0
    s.start()
    assert s.get(path_for("httproutes", "default", "r1")).status_code == 200


# ---- log ----

def test_log_lines_are_well_formed(make_sluiced):
    s = make_sluiced().start()
    s.post(ROUTES, httproute("r1"))
    s.get("/no/such/path")
    s.delete(path_for("httproutes", "default", "r1"))
    assert s.stop() == 0
    lines = s.log().splitlines()
    assert len(lines) >= 4
    for line in lines:
        assert LOG_LINE.match(line), "badly formed log line: %r" % line
    text = "\n".join(lines)
    assert re.search(r" info +main: .*start", text)
    assert re.search(r" info +admin: .*listening", text)
    assert re.search(r" info +admin: .*HTTPRoute default/r1", text)


def test_debug_logs_each_request(make_sluiced):
    s = make_sluiced(extra_args=["--log-level", "debug"]).start()
    marker = "debug-marker-%d" % os.getpid()
    assert s.get(path_for("httproutes", "default", marker)).status_code == 404
    assert s.post(ROUTES, httproute("r1")).status_code == 201
    assert s.stop() == 0
    lines = s.log().splitlines()
    got = [l for l in lines if marker in l]
    assert len(got) == 1, got
    assert re.search(r" debug +admin: GET /apis/.*%s.* 404" % marker, got[0]), got[0]
    assert any(re.search(r" debug +admin: POST %s .*201" % re.escape(ROUTES), l) for l in lines), lines
    for line in lines:
        assert LOG_LINE.match(line), line


def test_info_level_does_not_log_requests(make_sluiced):
    s = make_sluiced().start()
    marker = "quiet-marker-%d" % os.getpid()
    s.get(path_for("httproutes", "default", marker))
    assert s.stop() == 0
    assert marker not in s.log()

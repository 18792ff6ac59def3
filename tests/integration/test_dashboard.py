"""The web dashboard (web/, served at /ui/): its files and their headers, and
the page itself in a real headless Chromium (Debian's chromium, driven by
playwright-core from npm: tests/browser/dashboard.mjs): a Gateway created
through the API appears without a reload, the route list filters, the
traffic charts draw a running load, objects are created, edited and deleted
(after a confirmation) as YAML checked by the server, and the token login
refuses a wrong token."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import SRCDIR, free_port, httproute, path_for
from dataplane import (BACKENDS, GWPATH, ROUTES, ClosedPortOrigin, backend, created, gateway,  # noqa: F401
                       make_dataplane, send_until_closed, wait_until)
from test_access_log_tail import split_route
from test_ai import ai_plane, provider  # noqa: F401 - fixture
from test_ai_budget import budget, chat_from
from test_policies import POLICIES
from test_api_auth import create_token

BROWSER_DIR = os.path.join(SRCDIR, "tests", "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/lib/chromium/chromium")


def browser_missing():
    if not shutil.which("node"):
        return "node is not installed (deploy/install-deps.sh --tests)"
    if not os.path.exists(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        return "playwright-core is not installed in tests/browser (tests/tools/install.sh)"
    if not os.access(CHROMIUM, os.X_OK):
        return "Debian's chromium is not installed (deploy/install-deps.sh --tests)"
    return None


needs_browser = pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")


def run_browser(base, *args, timeout=60):
    cp = subprocess.run(["node", os.path.join(BROWSER_DIR, "dashboard.mjs"), base] + list(args),
                        capture_output=True, text=True, timeout=timeout, cwd=BROWSER_DIR)
    lines = [l for l in cp.stdout.splitlines() if l.startswith("{")]
    assert lines, "no result from the browser (rc %d):\n%s\n%s" % (cp.returncode, cp.stdout[-2000:], cp.stderr[-2000:])
    result = json.loads(lines[-1])
    assert "failure" not in result, result["failure"] + "\n" + cp.stderr[-2000:]
    assert not result.get("errors"), result["errors"]  # no JavaScript error on the page
    return result


def raw_get(port, path):
    return send_until_closed(port, ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())


def test_files_are_served_with_their_types_and_a_strict_policy(sluiced):
    r = sluiced.get("/ui", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/ui/"
    r = sluiced.get("/ui/")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="app.js">' in r.text
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert sluiced.get("/ui/app.js").headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert sluiced.get("/ui/style.css").headers["Content-Type"] == "text/css; charset=utf-8"
    for bad in ("/ui/../README.md", "/ui/..%2fREADME.md", "/ui/.hidden.js", "/ui/nope.js", "/ui/app.exe",
                "/ui//etc/passwd"):
        assert raw_get(sluiced.port, bad).startswith(b"HTTP/1.1 404"), bad
    assert sluiced.post("/ui/", {}).status_code == 405


@needs_browser
def test_a_gateway_created_through_the_api_appears_without_a_reload(sluiced):
    base = "http://127.0.0.1:%d" % sluiced.port
    proc = subprocess.Popen(["node", os.path.join(BROWSER_DIR, "dashboard.mjs"), base, "overview-live", "live-gw"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=BROWSER_DIR)
    try:
        first = proc.stdout.readline()
        assert json.loads(first) == {"ready": True}, first + proc.stderr.read()
        created(sluiced.post(GWPATH, gateway("live-gw", free_port())))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    result = json.loads(out.strip().splitlines()[-1])
    assert "failure" not in result, result.get("failure", "") + err[-2000:]
    assert result["mark"] == 42  # the same page: set before the Gateway existed, still there
    assert "default/live-gw" in result["text"] and "class sluice" in result["text"]
    assert "http" in result["text"] and not result["errors"]


@needs_browser
def test_routes_filter(sluiced):
    for i in range(30):
        created(sluiced.post(ROUTES, httproute("shop-%d" % i if i % 3 == 0 else "api-%d" % i, path="/p%d" % i)))
    with_filters = httproute("shop-filtered", path="/f")
    with_filters["spec"]["rules"][0]["filters"] = [
        {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-a", "value": "1"}]}},
        {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/v2"}}}]
    created(sluiced.post(ROUTES, with_filters))
    result = run_browser("http://127.0.0.1:%d" % sluiced.port, "routes", "shop", "31")
    assert result["count"].startswith("11 of 31 routes")
    assert sorted(result["rows"]) == sorted(["default/shop-%d" % i for i in range(0, 30, 3)] + ["default/shop-filtered"])
    assert result["filters"]["default/shop-filtered"] == "RequestHeaderModifier, rewrite /v2"
    assert result["filters"]["default/shop-0"] == ""


@needs_browser
def test_token_login_refuses_a_wrong_token(make_sluiced):
    s = make_sluiced()
    os.makedirs(s.state_dir, exist_ok=True)
    token = create_token(s.state_dir, "dash")
    s.start()
    headers = {"Authorization": "Bearer " + token}
    created(s.post(GWPATH, gateway("guarded", free_port()), headers=headers))
    base = "http://127.0.0.1:%d" % s.port
    wrong = run_browser(base, "login", "sl_" + "0" * 64)
    assert wrong["refused"] is True and wrong["error"] == "The token was refused."
    assert wrong["token"] is None and wrong["gateways"] == []  # nothing kept, nothing shown
    right = run_browser(base, "login", token)
    assert right["refused"] is False and right["error"] == ""
    assert right["gateways"] == ["default/guarded"]
    assert right["token"] == token  # in sessionStorage (gone with the tab), never in a cookie


@needs_browser
def test_editing_a_route_as_yaml(make_dataplane):
    """An invalid edit shows the server's field error at its line and stores
    nothing; a valid one, saved, changes where traffic goes."""
    dp = make_dataplane()
    other = dp.new_origin("other")
    created(dp.sluiced.post(BACKENDS, backend("other", [other.port])))
    path = ROUTES + "/r"
    before = dp.sluiced.get(path).json()
    base = "http://127.0.0.1:%d" % dp.sluiced.port
    bad = run_browser(base, "edit", path, "value: /\n", "value: nope\n")
    assert bad["status"].startswith("invalid"), bad
    (problem,) = bad["problems"]
    assert problem["field"] == "spec.rules[0].matches[0].path.value"
    assert "must be an absolute path" in problem["text"]
    lines = bad["text"].split("\n")
    assert lines[problem["line"] - 1].strip() == "value: nope", (problem, bad["text"])
    after = dp.sluiced.get(path).json()
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]  # nothing stored
    good = run_browser(base, "edit", path, "name: be\n", "name: other\n", "save")
    assert good["status"].startswith("saved"), good
    assert dp.sluiced.get(path).json()["spec"]["rules"][0]["backendRefs"][0]["name"] == "other"
    dp.wait_serving("/after-edit", origin_name="other")  # a real request reaches the other backend


@needs_browser
def test_backends_and_policies_views(make_dataplane):
    dp = make_dataplane()
    for i in range(5):
        assert dp.get("/b%d" % i).status_code == 200
    base = "http://127.0.0.1:%d" % dp.sluiced.port
    b = run_browser(base, "backends", "Backend/default/be")
    assert b["endpoints"] == 1 and "127.0.0.1:%d" % dp.origin.port in b["text"]
    assert "Unknown" in b["text"]  # no health check: the endpoint's health is not known
    attempts = int(b["text"].split("attempts ")[1].split(" ")[0])
    assert attempts >= 6  # the five above and wait_serving's
    policy = {"apiVersion": "gateway.sluice.dev/v1alpha1", "kind": "TrafficPolicy",
              "metadata": {"name": "office", "namespace": "default"},
              "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}],
                       "ipAccess": {"allow": ["127.0.0.0/8"]}}}
    created(dp.sluiced.post(path_for("trafficpolicies", "default", group="gateway.sluice.dev",
                                     version="v1alpha1") + "?wait=live", policy))
    p = run_browser(base, "policies", "default/office", "r")
    assert "HTTPRoute/r" in p["row"] and "ipAccess" in p["row"] and "Accepted" in p["row"]
    assert "ipAccess" in p["effective"] and "default/office" in p["effective"] and "default/gw" in p["effective"]


@needs_browser
def test_screenshots_of_each_view(make_dataplane, tmp_path):
    """docs/dashboard.md shows these: taken by every test run, so they stay true
    (into docs/dashboard/ when the source tree is writable, as in a checkout;
    a read-only tree, as make distcheck has, gets them in a scratch dir)."""
    dp = make_dataplane()
    for i in range(3):
        created(dp.sluiced.post(ROUTES, httproute("shop-%d" % i, parent="gw", path="/shop/%d" % i)))
    created(dp.sluiced.post(path_for("trafficpolicies", "default", group="gateway.sluice.dev", version="v1alpha1"),
                            {"apiVersion": "gateway.sluice.dev/v1alpha1", "kind": "TrafficPolicy",
                             "metadata": {"name": "office", "namespace": "default"},
                             "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                                      "name": "r"}], "ipAccess": {"allow": ["127.0.0.0/8"]}}}))
    for i in range(20):
        dp.get("/s%d" % i)
    docs = os.path.join(SRCDIR, "docs", "dashboard")
    target = docs if os.access(docs, os.W_OK) else str(tmp_path)
    base = "http://127.0.0.1:%d" % dp.sluiced.port
    load = Load(dp.url)  # the charts have something to show
    try:
        for view in ("overview", "routes", "backends", "policies", "edit" + ROUTES + "/r",
                     "traffic/HTTPRoute/default/r", "logs", "new"):
            name = view.split("/")[0]
            path = os.path.join(target, name + ".png")
            result = run_browser(base, "screenshot", view, path)
            assert result["saved"] == path
            with open(path, "rb") as f:
                head = f.read(8)
            assert head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 5000, (path, os.path.getsize(path))
    finally:
        load.stop()


def test_debug_workers_reports_each_group(make_dataplane):
    dp = make_dataplane(workers=2)
    for i in range(10):
        assert dp.get("/w%d" % i).status_code == 200
    doc = dp.sluiced.get("/debug/workers").json()
    (g,) = [x for x in doc["gateways"] if x["gateway"] == "default/gw"]
    assert sorted(w["pid"] for w in g["workers"]) == sorted(dp.workers())
    assert all(w["generation"] == doc["generation"] and w["heartbeatAgeMs"] < 5000 for w in g["workers"])
    assert g["responses"]["2xx"] >= 11 and sum(g["latencyBuckets"]) == sum(g["responses"].values())
    assert len(doc["latencyBoundsSeconds"]) == len(g["latencyBuckets"]) - 1
    assert g["restarts"] == 0
    # A worker that dies is restarted, and its group counts it.
    victim = dp.workers()[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(dp.workers()) == 2 and victim not in dp.workers(), timeout=20, what="the restart")

    def group():
        (g,) = [x for x in dp.sluiced.get("/debug/workers").json()["gateways"] if x["gateway"] == "default/gw"]
        return g

    # (the new process exists a moment before the master records its pid: the
    # spawner forks it and then answers, which a slow machine makes visible)
    wait_until(lambda: len(group()["workers"]) == 2, timeout=10, what="the new worker in /debug/workers")
    g = group()
    assert g["restarts"] == 1 and sorted(w["pid"] for w in g["workers"]) == sorted(dp.workers())


@needs_browser
def test_overview_shows_live_traffic(make_dataplane):
    import threading
    dp = make_dataplane(workers=2)
    stop = threading.Event()

    def load():
        s = __import__("requests").Session()
        while not stop.is_set():
            s.get(dp.url + "/load", timeout=5)

    t = threading.Thread(target=load)
    t.start()
    try:
        result = run_browser("http://127.0.0.1:%d" % dp.sluiced.port, "overview-traffic", "default/gw")
    finally:
        stop.set()
        t.join(timeout=10)
    assert "req/s" in result["text"] and "% 5xx" in result["text"] and "p99" in result["text"], result["text"]
    for pid in dp.workers():
        assert str(pid) in result["text"]


def edit_while(base, path, change, frm, to):
    """The editor opened on path; change() runs while it is open; then the edit is saved."""
    proc = subprocess.Popen(["node", os.path.join(BROWSER_DIR, "dashboard.mjs"), base, "edit-conflict", path, frm, to],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=BROWSER_DIR)
    try:
        first = proc.stdout.readline()
        assert json.loads(first) == {"ready": True}, first + proc.stderr.read()
        change()
        out, err = proc.communicate("go\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    result = json.loads(out.strip().splitlines()[-1])
    assert "failure" not in result, result.get("failure", "") + err[-2000:]
    return result


@needs_browser
def test_editor_rides_over_status_writes_but_not_over_real_changes(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    base = "http://127.0.0.1:%d" % sl.port
    path = ROUTES + "/r"

    def status_write():  # what the controller does as a configuration goes live: only status moves
        obj = sl.get(path).json()
        obj["status"]["parents"][0]["conditions"][0]["message"] = "touched by the test"
        assert sl.put(path + "/status", obj).status_code == 200

    result = edit_while(base, path, status_write, "value: /\n", "value: /saved\n")
    assert result["status"].startswith("saved"), result
    assert sl.get(path).json()["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/saved"

    def someone_else():
        obj = sl.get(path).json()
        obj["metadata"].setdefault("labels", {})["by"] = "someone-else"
        assert sl.put(path, obj).status_code == 200

    result = edit_while(base, path, someone_else, "value: /saved\n", "value: /mine\n")
    assert result["status"].startswith("The object changed"), result
    kept = sl.get(path).json()
    assert kept["metadata"]["labels"]["by"] == "someone-else"
    assert kept["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/saved"


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed (deploy/install-deps.sh --tests)")
def test_field_errors_point_at_their_yaml_line():
    cp = subprocess.run(["node", os.path.join(BROWSER_DIR, "line_of_field.mjs")], capture_output=True, text=True,
                        timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert cp.stdout.count("ok ") == 8


@needs_browser
def test_views_left_behind_end_their_watches(make_dataplane):
    dp = make_dataplane()
    result = run_browser("http://127.0.0.1:%d" % dp.sluiced.port, "switch", "6", "Backend/default/be")
    assert result["live"] == "live"


class Load:
    """Requests to the data plane from a thread until stopped (at most 60 s)."""

    def __init__(self, url, path="/load"):
        self.stop_event = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self.run, args=(url + path,), daemon=True)
        self.thread.start()

    def run(self, url):
        deadline = time.monotonic() + 60
        with requests.Session() as s:
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                s.get(url, timeout=5)
                self.sent += 1
                time.sleep(0.01)

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=10)


@needs_browser
def test_charts_show_traffic_while_a_load_runs(make_dataplane):
    dp = make_dataplane()
    base = "http://127.0.0.1:%d" % dp.sluiced.port
    load = Load(dp.url)
    try:
        gw = run_browser(base, "charts", "overview", "Gateway/default/gw", "requests", "latency")
        route = run_browser(base, "charts", "traffic/HTTPRoute/default/r", "HTTPRoute/default/r", "requests", "latency")
        be = run_browser(base, "charts", "traffic/Backend/default/be", "Backend/default/be", "requests")
    finally:
        load.stop()
    assert load.sent > 0
    for result in (gw, route, be):
        requests_chart = result["charts"]["requests"]
        assert requests_chart["canvas"] and requests_chart["nonzero"] >= 1 and requests_chart["max"] > 0, result
        assert " req/s" in result["summary"] and not result["summary"].startswith("last 0"), result
    # The latency chart is in milliseconds, and a loopback answer takes well under a second.
    assert 0 < gw["charts"]["latency"]["max"] < 1000, gw
    assert "2xx" in gw["charts"]["requests"]["legend"] and "p99" in gw["charts"]["latency"]["legend"]


@needs_browser
def test_creating_an_object_from_the_page(make_dataplane):
    """#/new: an invalid object shows the server's field error at its line and
    stores nothing (a dry run); a valid one is created and serves traffic."""
    dp = make_dataplane()
    base = "http://127.0.0.1:%d" % dp.sluiced.port
    bad = run_browser(base, "new", "HTTPRoute", "value: /\n", "value: no-slash\n")
    assert bad["status"].startswith("invalid"), bad
    (problem,) = bad["problems"]
    assert problem["field"] == "spec.rules[0].matches[0].path.value" and "absolute path" in problem["text"]
    assert bad["text"].split("\n")[problem["line"] - 1].strip() == "value: no-slash"
    assert dp.sluiced.get(ROUTES + "/my-route").status_code == 404  # the check stored nothing
    # A Gateway on a port of its own: created, then open in the editor.
    port = free_port()
    good = run_browser(base, "new", "Gateway", "port: 8080", "port: %d" % port, "create")
    assert good["status"].startswith("valid"), good
    assert good["hash"] == "#/edit" + GWPATH + "/my-gateway"
    gw = dp.sluiced.get(GWPATH + "/my-gateway")
    assert gw.status_code == 200 and gw.json()["spec"]["listeners"][0]["port"] == port
    # It is a real Gateway: its listener takes connections (route r attaches to gw only: 404).
    wait_until(lambda: requests.get("http://127.0.0.1:%d/" % port, timeout=2).status_code == 404, timeout=15,
               what="the new Gateway's listener")
    # A kind the API does not have is named as such, without a request.
    odd = run_browser(base, "new", "Service", "kind: Service", "kind: Servise")
    assert odd["status"] == "this API has no kind Servise in v1", odd


@needs_browser
def test_deleting_asks_first(make_dataplane):
    dp = make_dataplane()
    created(dp.sluiced.post(ROUTES, httproute("doomed", path="/doomed")))
    base = "http://127.0.0.1:%d" % dp.sluiced.port
    result = run_browser(base, "delete", ROUTES + "/doomed")
    assert len(result["asked"]) == 2 and "doomed" in result["asked"][0]
    assert result["afterDismiss"] == "as stored"  # dismissed: nothing happened
    assert result["status"] == "deleted"
    assert dp.sluiced.get(ROUTES + "/doomed").status_code == 404


def browse_live(base, *args, then=None, timeout=60):
    """Runs a scenario that says {"ready": true} first; then() acts; the scenario's result."""
    proc = subprocess.Popen(["node", os.path.join(BROWSER_DIR, "dashboard.mjs"), base] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=BROWSER_DIR)
    try:
        first = proc.stdout.readline()
        assert first.startswith("{"), first + proc.stderr.read()
        ready = json.loads(first)
        assert ready.get("ready") is True, ready.get("failure", ready)
        if then:
            then()
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    result = json.loads(out.strip().splitlines()[-1])
    assert "failure" not in result, result.get("failure", "") + err[-2000:]
    assert not result.get("errors"), result["errors"]
    result["ready"] = ready
    return result


@needs_browser
def test_logs_view_follows_the_last_requests_with_filters(make_dataplane):
    dp = make_dataplane()
    closed = ClosedPortOrigin()
    created(dp.sluiced.post(BACKENDS, backend("dead", [closed.port])))
    created(dp.sluiced.post(ROUTES + "?wait=live", split_route()))
    for i in range(4):
        assert dp.get("/fine/%d" % i).status_code == 200
    for i in range(2):
        assert dp.get("/dead/%d" % i).status_code in (502, 503)
    base = "http://127.0.0.1:%d" % dp.sluiced.port
    # Unfiltered: a request made after the page is up shows without a reload, newest first.
    result = browse_live(base, "logs", "-", "-", "/made-later", then=lambda: dp.get("/made-later"))
    requests_shown = [r["request"] for r in result["rows"]]
    assert "/made-later" in requests_shown[0], requests_shown[:3]
    assert any("/fine/3" in r for r in requests_shown) and any("/dead/1" in r for r in requests_shown)
    # A class, with a route: only the dead route's 5xx.
    result = browse_live(base, "logs", "5xx", "default/split", "/dead/later",
                         then=lambda: dp.get("/dead/later"))
    assert result["rows"] and all(r["status"] >= 500 and r["route"] == "default/split" for r in result["rows"])
    assert [r["request"].split(" ", 1)[1].split("/", 1)[1] for r in result["rows"]][:1] == ["dead/later"]
    assert len(result["rows"]) == 3
    assert result["ready"]["typed"] == "default/split"  # typed slowly across redraws, kept whole


@needs_browser
def test_ai_gateway_charts_tokens_by_model_and_spending_by_key(make_dataplane, provider):  # noqa: F811
    dp = ai_plane(make_dataplane, provider)
    created(dp.sluiced.post(POLICIES + "?wait=live", budget(tokens=100000, period="Day")))
    for source in ("127.0.0.1", "127.0.0.2", "127.0.0.2"):
        assert chat_from(dp.port, source)[0] == 200
    result = run_browser("http://127.0.0.1:%d" % dp.sluiced.port, "charts", "overview", "Gateway/default/gw",
                         "tokens", "keys")
    tokens, keys = result["charts"]["tokens"], result["charts"]["keys"]
    assert tokens["canvas"] and tokens["nonzero"] >= 1 and "test-small" in tokens["legend"], tokens
    assert keys["nonzero"] >= 1 and "127.0.0.2 (tokens)" in keys["legend"] and "127.0.0.1" in keys["legend"], keys
    # The busiest second's tokens/s is at most what was spent in all: 3 calls of 5 tokens.
    assert 0 < tokens["max"] <= 15 and 0 < keys["max"] <= 10

"""Watch streams of the admin API (GET ...?watch=1): ordering and completeness of
events, initial state, scoping and selectors, resuming from a resourceVersion,
410 Expired for versions the event log no longer holds, timeouts, and many
concurrent or abandoned watches."""

import concurrent.futures
import json
import queue
import socket
import threading
import time

import pytest
import requests

from conftest import GW, httproute, path_for

ROUTES = path_for("httproutes")  # cluster-wide collection
SL_STORE_EVENT_LOG_KEEP = 10000  # daemon/store.h


def routes(ns="default", name=None):
    return path_for("httproutes", ns, name)


class Watch:
    """One watch stream read by a background thread into a queue of decoded events."""

    _END = object()

    def __init__(self, s, path, read_timeout=60, **params):
        params.setdefault("watch", "1")
        self.session = requests.Session()
        self.resp = self.session.get(s.url + path, params=params, stream=True, timeout=(5, read_timeout))
        self.status_code = self.resp.status_code
        self.q = queue.Queue()
        self.ended = threading.Event()
        self.error = None
        self.thread = None
        if self.status_code == 200:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()

    def _read(self):
        buf = b""
        try:
            for chunk in self.resp.iter_content(chunk_size=None):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        self.q.put(json.loads(line))
        except Exception as e:  # closed by us, or a broken stream
            self.error = e
        finally:
            if buf.strip():
                self.error = self.error or ValueError("partial line at end of stream: %r" % buf[:200])
            self.ended.set()
            self.q.put(self._END)

    def next(self, timeout=10):
        """The next event; AssertionError when none arrives in time or the stream ended."""
        try:
            ev = self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no watch event within %ss" % timeout)
        if ev is self._END:
            self.q.put(self._END)
            raise AssertionError("watch stream ended (%r)" % (self.error,))
        return ev

    def take(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        return [self.next(max(0.01, deadline - time.monotonic())) for _ in range(n)]

    def nothing_more(self, wait=0.5):
        """Asserts that no further event arrives within `wait` seconds."""
        try:
            ev = self.q.get(timeout=wait)
        except queue.Empty:
            return
        if ev is self._END:
            self.q.put(self._END)
            return
        raise AssertionError("unexpected extra watch event: %s %s rv=%s" % (
            ev["type"], ev["object"]["metadata"].get("name"), ev["object"]["metadata"].get("resourceVersion")))

    def close(self):
        try:
            sock = self.resp.raw._fp.fp.raw._sock
            sock.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
        self.resp.close()
        self.session.close()
        if self.thread:
            self.thread.join(5)


@pytest.fixture
def watches():
    opened = []

    def open_watch(s, path, **kw):
        w = Watch(s, path, **kw)
        opened.append(w)
        return w

    yield open_watch
    for w in opened:
        w.close()


def list_rv(s, path=ROUTES):
    r = s.get(path)
    assert r.status_code == 200, r.text
    return r.json()["metadata"]["resourceVersion"]


def rv_of(ev):
    return int(ev["object"]["metadata"]["resourceVersion"])


def summary(events):
    return [(e["type"], e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"]) for e in events]


def create(s, name, ns="default", **kw):
    r = s.post(routes(ns), httproute(name, ns, **kw))
    assert r.status_code == 201, r.text
    return r.json()


def merge_patch(s, path, body, session=None):
    return (session or requests).patch(s.url + path, data=json.dumps(body), timeout=10,
                                       headers={"Content-Type": "application/merge-patch+json"})


def metric(s, name):
    for line in s.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("metric %s not found" % name)


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def test_watch_sees_50_mixed_writes_once_in_order(sluiced, watches):
    create(sluiced, "pre-existing")
    w = watches(sluiced, ROUTES, resourceVersion=list_rv(sluiced))

    expected = []  # (type, name, resourceVersion or None)
    live = []
    i = 0
    while len(expected) < 50:
        step = len(expected)
        if step % 5 in (0, 1) or not live:  # create
            name = "w%d" % i
            i += 1
            obj = create(sluiced, name, hostnames=["h%d.example.com" % step])
            live.append(name)
            expected.append(("ADDED", name, obj["metadata"]["resourceVersion"]))
        elif step % 5 == 2:  # merge patch
            name = live[step % len(live)]
            r = merge_patch(sluiced, routes("default", name), {"spec": {"hostnames": ["p%d.example.com" % step]}})
            assert r.status_code == 200, r.text
            expected.append(("MODIFIED", name, r.json()["metadata"]["resourceVersion"]))
        elif step % 5 == 3:  # put
            name = live[-1]
            cur = sluiced.get(routes("default", name)).json()
            cur["spec"]["hostnames"] = ["u%d.example.com" % step]
            r = sluiced.put(routes("default", name), cur)
            assert r.status_code == 200, r.text
            expected.append(("MODIFIED", name, r.json()["metadata"]["resourceVersion"]))
        else:  # delete
            name = live.pop(0)
            r = sluiced.delete(routes("default", name))
            assert r.status_code == 200, r.text
            expected.append(("DELETED", name, None))

    events = w.take(50, timeout=15)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [(t, n) for t, n, _ in expected]
    rvs = [rv_of(e) for e in events]
    assert all(a < b for a, b in zip(rvs, rvs[1:])), rvs
    for ev, (typ, name, rv) in zip(events, expected):
        assert ev["object"]["apiVersion"] == GW + "/v1" and ev["object"]["kind"] == "HTTPRoute"
        assert ev["object"]["metadata"]["namespace"] == "default"
        if rv is not None:
            assert ev["object"]["metadata"]["resourceVersion"] == rv, (typ, name)
        if typ == "MODIFIED":
            assert ev["object"]["spec"]["hostnames"][0][0] in "pu"
    w.nothing_more(0.5)
    # One more write still arrives, right after the batch.
    create(sluiced, "after-batch")
    ev = w.next()
    assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "after-batch")
    assert rv_of(ev) > rvs[-1]


def test_watch_without_resource_version_starts_with_current_state(sluiced, watches):
    names = ["s%d" % i for i in range(5)]
    for n in names:
        create(sluiced, n)
    r = sluiced.post(path_for("namespaces", group=""),
                     {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "elsewhere"}})
    assert r.status_code == 201, r.text
    create(sluiced, "not-in-default", ns="elsewhere")
    w = watches(sluiced, routes("default"))
    initial = w.take(5)
    assert sorted(e["object"]["metadata"]["name"] for e in initial) == names
    assert all(e["type"] == "ADDED" for e in initial)
    w.nothing_more(0.5)
    r = merge_patch(sluiced, routes("default", "s2"), {"metadata": {"labels": {"x": "y"}}})
    assert r.status_code == 200
    ev = w.next()
    assert (ev["type"], ev["object"]["metadata"]["name"]) == ("MODIFIED", "s2")
    assert ev["object"]["metadata"]["labels"] == {"x": "y"}
    assert rv_of(ev) > max(rv_of(e) for e in initial)


def test_namespace_scoped_watch(sluiced, watches):
    for ns in ("ns-a", "ns-b"):
        r = sluiced.post(path_for("namespaces", group=""),
                         {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        assert r.status_code == 201, r.text
    rv = list_rv(sluiced)
    wa = watches(sluiced, routes("ns-a"), resourceVersion=rv)
    wall = watches(sluiced, ROUTES, resourceVersion=rv)
    for name, ns in (("b1", "ns-b"), ("a1", "ns-a"), ("b2", "ns-b"), ("a2", "ns-a"), ("b3", "ns-b"), ("a3", "ns-a")):
        create(sluiced, name, ns=ns)
    assert sluiced.delete(routes("ns-b", "b1")).status_code == 200
    assert sluiced.delete(routes("ns-a", "a1")).status_code == 200
    got = summary(wa.take(4))
    assert got == [("ADDED", "ns-a", "a1"), ("ADDED", "ns-a", "a2"), ("ADDED", "ns-a", "a3"),
                   ("DELETED", "ns-a", "a1")]
    wa.nothing_more(0.5)
    got = summary(wall.take(8))
    assert [x[2] for x in got] == ["b1", "a1", "b2", "a2", "b3", "a3", "b1", "a1"]
    # A watch of another kind in the same namespace sees none of these.
    wsvc = watches(sluiced, path_for("services", "ns-a", group=""), resourceVersion=rv)
    wsvc.nothing_more(0.5)


def test_field_selector_watch(sluiced, watches):
    rv = list_rv(sluiced)
    w = watches(sluiced, ROUTES, resourceVersion=rv, fieldSelector="metadata.name=target")
    assert w.status_code == 200, w.resp.text
    create(sluiced, "other")
    create(sluiced, "target")
    assert merge_patch(sluiced, routes("default", "other"), {"metadata": {"labels": {"a": "b"}}}).status_code == 200
    assert merge_patch(sluiced, routes("default", "target"), {"metadata": {"labels": {"a": "b"}}}).status_code == 200
    assert sluiced.delete(routes("default", "other")).status_code == 200
    assert sluiced.delete(routes("default", "target")).status_code == 200
    got = summary(w.take(3))
    assert got == [("ADDED", "default", "target"), ("MODIFIED", "default", "target"), ("DELETED", "default", "target")]
    w.nothing_more(0.5)


def test_label_selector_watch(sluiced, watches):
    rv = list_rv(sluiced)
    w = watches(sluiced, routes("default"), resourceVersion=rv, labelSelector="app=web")
    assert w.status_code == 200, w.resp.text
    wset = watches(sluiced, routes("default"), resourceVersion=rv, labelSelector="app in (web,api),tier!=x")
    assert wset.status_code == 200, wset.resp.text
    for name, labels in (("r1", {"app": "web"}), ("r2", {"app": "db"}), ("r3", None), ("r4", {"app": "web"}),
                         ("r5", {"app": "api", "tier": "x"}), ("r6", {"app": "api"})):
        body = httproute(name)
        if labels:
            body["metadata"]["labels"] = labels
        r = sluiced.post(routes("default"), body)
        assert r.status_code == 201, r.text
    assert [x[2] for x in summary(w.take(2))] == ["r1", "r4"]
    w.nothing_more(0.5)
    assert [x[2] for x in summary(wset.take(3))] == ["r1", "r4", "r6"]
    wset.nothing_more(0.2)
    # The same selectors filter plain lists.
    r = sluiced.get(routes("default"), params={"labelSelector": "app=web"})
    assert r.status_code == 200, r.text
    assert sorted(i["metadata"]["name"] for i in r.json()["items"]) == ["r1", "r4"]


def test_invalid_selector_is_400(sluiced):
    r = sluiced.get(routes("default"), params={"watch": "1", "labelSelector": "app in web"}, timeout=5)
    assert r.status_code == 400
    assert r.json()["kind"] == "Status" and r.json()["reason"] == "BadRequest"
    r = sluiced.get(routes("default"), params={"watch": "1", "fieldSelector": "spec.hostnames=x"}, timeout=5)
    assert r.status_code == 400
    r = sluiced.get(routes("default"), params={"watch": "1", "resourceVersion": "abc"}, timeout=5)
    assert r.status_code == 400


def test_resume_from_middle_replays_exactly_the_later_events(sluiced, watches):
    rvs = []
    for i in range(10):
        rvs.append(int(create(sluiced, "m%d" % i)["metadata"]["resourceVersion"]))
    for i in range(5):
        r = merge_patch(sluiced, routes("default", "m%d" % i), {"spec": {"hostnames": ["x.example.com"]}})
        assert r.status_code == 200
        rvs.append(int(r.json()["metadata"]["resourceVersion"]))
    for i in range(5, 10):
        assert sluiced.delete(routes("default", "m%d" % i)).status_code == 200
    full = watches(sluiced, ROUTES, resourceVersion=rvs[0] - 1)
    history = full.take(20)
    assert [rv_of(e) for e in history[:15]] == rvs
    all_rvs = [rv_of(e) for e in history]
    assert all(a < b for a, b in zip(all_rvs, all_rvs[1:]))

    for cut in (7, 12, 16):
        w = watches(sluiced, ROUTES, resourceVersion=all_rvs[cut])
        got = w.take(20 - cut - 1)
        assert summary(got) == summary(history[cut + 1:])
        assert [rv_of(e) for e in got] == all_rvs[cut + 1:]
        w.nothing_more(0.3)
    # From the very last version: nothing, until the next write.
    w = watches(sluiced, ROUTES, resourceVersion=all_rvs[-1])
    w.nothing_more(0.3)
    create(sluiced, "next")
    assert summary([w.next()]) == [("ADDED", "default", "next")]


def test_watch_from_expired_resource_version_is_410(sluiced):
    create(sluiced, "churn")
    rv0 = int(list_rv(sluiced))
    n = SL_STORE_EVENT_LOG_KEEP + 20
    local = threading.local()

    def write(i):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return merge_patch(sluiced, routes("default", "churn"), {"metadata": {"labels": {"i": str(i)}}},
                           session=local.s).status_code

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        futs = [ex.submit(write, i) for i in range(n)]
        codes = []
        for f in futs:
            codes.append(f.result(timeout=max(1, 60 - (time.monotonic() - t0))))
    elapsed = time.monotonic() - t0
    assert codes.count(200) == n, {c: codes.count(c) for c in set(codes)}
    rv1 = int(list_rv(sluiced))
    assert rv1 >= rv0 + n

    r = sluiced.get(routes("default"), params={"watch": "1", "resourceVersion": str(rv0)}, timeout=10)
    assert r.status_code == 410, r.text[:500]
    st = r.json()
    assert st["kind"] == "Status" and st["status"] == "Failure"
    assert st["reason"] == "Expired" and st["code"] == 410
    # Resuming from a recent version inside the retained log still works and starts right after it.
    recent = rv1 - SL_STORE_EVENT_LOG_KEEP // 2
    w = Watch(sluiced, routes("default"), resourceVersion=str(recent))
    try:
        assert w.status_code == 200
        ev = w.next()
        assert rv_of(ev) == recent + 1 and ev["type"] == "MODIFIED"
    finally:
        w.close()
    assert elapsed < 60


def test_timeout_seconds_ends_stream(sluiced):
    t0 = time.monotonic()
    r = requests.get(sluiced.url + routes("default"),
                     params={"watch": "1", "resourceVersion": list_rv(sluiced), "timeoutSeconds": "2"},
                     stream=True, timeout=(5, 15))
    assert r.status_code == 200
    body = b"".join(r.iter_content(chunk_size=None))  # returns when the server ends the stream
    elapsed = time.monotonic() - t0
    assert body.strip() == b""
    assert 0.9 <= elapsed <= 5.0, elapsed
    # With initial state and timeoutSeconds the events come first, then the end.
    create(sluiced, "t1")
    t0 = time.monotonic()
    r = requests.get(sluiced.url + routes("default"), params={"watch": "1", "timeoutSeconds": "1"},
                     stream=True, timeout=(5, 15))
    lines = [json.loads(l) for l in b"".join(r.iter_content(chunk_size=None)).splitlines() if l.strip()]
    assert summary(lines) == [("ADDED", "default", "t1")]
    assert time.monotonic() - t0 <= 4.0


def test_many_concurrent_watches_and_lists(sluiced, watches):
    for i in range(20):
        create(sluiced, "base%d" % i)
    rv = list_rv(sluiced)
    ws = [watches(sluiced, ROUTES, resourceVersion=rv) for _ in range(50)]
    assert all(w.status_code == 200 for w in ws)
    wait_for(lambda: metric(sluiced, "sluice_admin_watches") >= 50, 10, "50 open watches in /metrics")

    def lister(k):
        s = requests.Session()
        worst = 0.0
        for _ in range(10):
            t = time.monotonic()
            r = s.get(sluiced.url + (routes("default") if k % 2 else ROUTES), timeout=10)
            worst = max(worst, time.monotonic() - t)
            # 20, or 21 once "during-lists" (created concurrently) is in.
            assert r.status_code == 200 and len(r.json()["items"]) in (20, 21)
            t = time.monotonic()
            assert s.get(sluiced.url + "/healthz", timeout=10).status_code == 200
            worst = max(worst, time.monotonic() - t)
        s.close()
        return worst

    with concurrent.futures.ThreadPoolExecutor(10) as ex:
        futs = [ex.submit(lister, k) for k in range(10)]
        # Writes while the lists run: every watch must see each of them.
        create(sluiced, "during-lists")
        worst = max(f.result(timeout=60) for f in futs)
    assert worst < 5.0, "a list call took %.2fs with 50 watches open" % worst
    create(sluiced, "after-lists")
    for w in ws:
        got = summary(w.take(2, timeout=10))
        assert got == [("ADDED", "default", "during-lists"), ("ADDED", "default", "after-lists")]


def _raw_watch(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(("GET %s?watch=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n" % path).encode())
    return s


def test_abandoned_watches_are_cleaned_up(sluiced):
    create(sluiced, "existing")
    base = metric(sluiced, "sluice_admin_watches")
    socks = []
    try:
        for i in range(100):
            socks.append(_raw_watch(sluiced.port, routes("default")))
        # Each gets its headers and the initial ADDED event.
        for s in socks[:10]:
            data = b""
            deadline = time.monotonic() + 5
            while b"existing" not in data and time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"HTTP/1.1 200") and b"existing" in data, data[:300]
        wait_for(lambda: metric(sluiced, "sluice_admin_watches") >= base + 100, 10, "100 open watches")
    finally:
        for i, s in enumerate(socks):
            if i % 2:  # half of them reset rather than closed
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
    # Writes right away make the abandoned watches write to dead sockets.
    for i in range(3):
        create(sluiced, "after-abandon-%d" % i)
    t = time.monotonic()
    assert sluiced.get("/healthz", timeout=5).status_code == 200
    r = sluiced.get(routes("default"), timeout=5)
    assert r.status_code == 200 and len(r.json()["items"]) == 4
    assert time.monotonic() - t < 5
    wait_for(lambda: metric(sluiced, "sluice_admin_watches") <= base, 15, "sluice_admin_watches to drop back")
    # And a new watch still works.
    w = Watch(sluiced, routes("default"), resourceVersion=list_rv(sluiced))
    try:
        create(sluiced, "final")
        assert summary([w.next()]) == [("ADDED", "default", "final")]
    finally:
        w.close()
    assert sluiced.proc.poll() is None

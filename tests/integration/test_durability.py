"""Durability of the store: objects survive a clean restart and a kill -9 in the
middle of a stream of writes (every acknowledged write is there afterwards),
resourceVersions keep growing across restarts, the SQLite file is in WAL mode
with its schema recorded, and start-up refuses a database from a newer schema or
a state dir it cannot create, with a clear message."""

import glob
import os
import sqlite3
import threading
import time

import requests

from conftest import GW, httproute, path_for


def routes(ns="default", name=None):
    return path_for("httproutes", ns, name)


def db_file(state_dir):
    dbs = [p for p in glob.glob(os.path.join(state_dir, "*.db"))]
    assert len(dbs) == 1, "expected one SQLite database in %s, found %s" % (state_dir, os.listdir(state_dir))
    return dbs[0]


def list_rv(s, path=routes()):
    r = s.get(path)
    assert r.status_code == 200, r.text
    return int(r.json()["metadata"]["resourceVersion"])


def wait_exit(s, timeout=15):
    try:
        return s.proc.wait(timeout)
    except Exception:
        s.proc.kill()
        s.proc.wait()
        raise AssertionError("sluiced did not exit within %ss:\n%s" % (timeout, s.log()[-3000:]))


def sample_objects():
    """A few objects of different kinds, in dependency order."""
    return [
        (path_for("namespaces", group=""), {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": "durable", "labels": {"team": "a"}}}),
        (path_for("services", "durable", group=""), {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "durable"},
            "spec": {"ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}}),
        (path_for("configmaps", "durable", group=""), {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "durable"},
            "data": {"k": "v", "multi": "line1\nline2\n"}}),
        (path_for("gateways", "durable"), {
            "apiVersion": GW + "/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "durable"},
            "spec": {"gatewayClassName": "sluice-other-controller",
                     "listeners": [{"name": "http", "port": 18080, "protocol": "HTTP"}]}}),
        (routes("durable"), httproute("r1", "durable", path="/a",
                                      hostnames=["a.example.com"])),
    ]


def create_samples(s):
    stored = {}
    for coll, obj in sample_objects():
        r = s.post(coll, obj)
        assert r.status_code == 201, r.text
        stored[coll + "/" + obj["metadata"]["name"]] = r.json()
    # An update and a delete too, so the state is more than a list of creates.
    r = s.patch(routes("durable", "r1"), {"metadata": {"annotations": {"note": "patched"}},
                                          "spec": {"hostnames": ["b.example.com"]}})
    assert r.status_code == 200, r.text
    stored[routes("durable", "r1")] = r.json()
    r = s.post(routes("durable"), httproute("gone", "durable"))
    assert r.status_code == 201
    assert s.delete(routes("durable", "gone")).status_code == 200
    return stored


def check_samples(s, stored):
    for path, obj in stored.items():
        r = s.get(path)
        assert r.status_code == 200, (path, r.text)
        got = r.json()
        for k in ("uid", "resourceVersion", "generation", "creationTimestamp", "labels", "annotations"):
            assert got["metadata"].get(k) == obj["metadata"].get(k), (path, k)
        for k in ("spec", "data"):
            assert got.get(k) == obj.get(k), (path, k)
    assert s.get(routes("durable", "gone")).status_code == 404


def test_clean_restart_keeps_objects(make_sluiced):
    s = make_sluiced().start()
    stored = create_samples(s)
    rv_before = list_rv(s)
    assert s.stop() == 0, s.log()[-3000:]

    s.start()
    check_samples(s, stored)
    assert list_rv(s) == rv_before
    r = s.post(routes("durable"), httproute("new-after-restart", "durable"))
    assert r.status_code == 201, r.text
    assert int(r.json()["metadata"]["resourceVersion"]) > rv_before
    # The built-in GatewayClasses are there once, not seeded twice.
    r = s.get(path_for("gatewayclasses"))
    names = [i["metadata"]["name"] for i in r.json()["items"]]
    assert sorted(n for n in names if n.startswith("sluice")) == ["sluice", "sluice-ai"]

    # A second clean restart: still all there, including the post-restart write.
    assert s.stop() == 0
    s.start()
    check_samples(s, stored)
    assert s.get(routes("durable", "new-after-restart")).status_code == 200


def test_kill9_mid_stream_keeps_every_acknowledged_write(make_sluiced):
    s = make_sluiced().start()
    r = s.post(path_for("namespaces", group=""), {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": "stream"}})
    assert r.status_code == 201, r.text
    rv_start = list_rv(s)

    attempted, acked = set(), {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(t):
        sess = requests.Session()
        i = 0
        while not stop.is_set():
            name = "k-%d-%d" % (t, i)
            i += 1
            with lock:
                attempted.add(name)
            try:
                r = sess.post(s.url + routes("stream"), json=httproute(name, "stream", hostnames=[name + ".test"]),
                              timeout=5)
            except requests.RequestException:
                continue  # the server went away: unacknowledged
            if 200 <= r.status_code < 300:
                with lock:
                    acked[name] = r.json()
        sess.close()

    threads = [threading.Thread(target=writer, args=(t,), daemon=True) for t in range(6)]
    for t in threads:
        t.start()
    # Let the writes flow, then pull the plug mid-stream.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= 300:
                break
        time.sleep(0.02)
    s.kill9()
    # After the kill, give the writers a moment to fail, then stop them.
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(10)
        assert not t.is_alive(), "writer thread did not stop"
    assert len(acked) >= 50, "too few writes before the kill (%d)" % len(acked)

    s.start()
    r = s.get(routes("stream"))
    assert r.status_code == 200
    items = {i["metadata"]["name"]: i for i in r.json()["items"]}
    missing = sorted(set(acked) - set(items))
    assert not missing, "%d acknowledged creates lost after kill -9, e.g. %s" % (len(missing), missing[:5])
    extra = sorted(set(items) - attempted)
    assert not extra, "objects nobody attempted: %s" % extra[:5]
    # At most one in-flight (unacknowledged) create per writer may have landed.
    assert len(items) - len(acked) <= len(threads)
    for name, obj in acked.items():
        got = items[name]
        assert got["metadata"]["uid"] == obj["metadata"]["uid"]
        assert got["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
        assert got["spec"] == obj["spec"]

    # resourceVersions continue above everything seen before the kill.
    max_acked = max(int(o["metadata"]["resourceVersion"]) for o in acked.values())
    rv_after = list_rv(s)
    assert rv_after >= max_acked > rv_start
    r = s.post(routes("stream"), httproute("after-crash", "stream"))
    assert r.status_code == 201, r.text
    new_rv = int(r.json()["metadata"]["resourceVersion"])
    assert new_rv > rv_after and new_rv > max(int(i["metadata"]["resourceVersion"]) for i in items.values())
    # The watch log survived too: resuming from before the stream replays it.
    r = requests.get(s.url + routes("stream"), params={"watch": "1", "resourceVersion": str(rv_start),
                                                       "timeoutSeconds": "1"}, stream=True, timeout=(5, 10))
    assert r.status_code == 200
    events = [l for l in b"".join(r.iter_content(chunk_size=None)).splitlines() if l.strip()]
    assert len(events) == len(items) + 1


def test_sqlite_wal_mode_and_schema_migrations(make_sluiced):
    s = make_sluiced().start()
    assert s.post(routes(), httproute("r")).status_code == 201
    path = db_file(s.state_dir)
    # While sluiced runs, the WAL side files exist.
    assert os.path.exists(path + "-wal")
    assert s.stop() == 0
    con = sqlite3.connect(path, timeout=5)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        rows = con.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").fetchall()
        assert rows and rows[0][0] == 1, rows
        assert all(r[1] and r[2] for r in rows), rows
        versions = [r[0] for r in rows]
        assert versions == sorted(set(versions))
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    # Restarting does not apply version 1 again.
    s.start()
    assert s.stop() == 0
    con = sqlite3.connect(path, timeout=5)
    try:
        assert con.execute("SELECT count(*) FROM schema_migrations WHERE version = 1").fetchone()[0] == 1
    finally:
        con.close()
    assert "newer than" not in s.log()


def test_future_schema_is_refused(make_sluiced):
    s = make_sluiced().start()
    assert s.post(routes(), httproute("keep-me")).status_code == 201
    assert s.stop() == 0
    path = db_file(s.state_dir)
    con = sqlite3.connect(path, timeout=5)
    try:
        cols = [r[1] for r in con.execute("PRAGMA table_info(schema_migrations)")]
        row = {"version": 999, "name": "999_from_the_future.sql", "applied_at": "2099-01-01T00:00:00Z"}
        con.execute("INSERT INTO schema_migrations (%s) VALUES (%s)" % (
            ",".join(c for c in cols if c in row), ",".join("?" for c in cols if c in row)),
                    [row[c] for c in cols if c in row])
        con.commit()
    finally:
        con.close()
    log_before = len(s.log())
    s.start(wait=False)
    rc = wait_exit(s)
    assert rc != 0
    msg = s.log()[log_before:]
    assert "999" in msg and "schema" in msg.lower(), msg
    # Nothing was listening, and the database was left alone.
    try:
        requests.get(s.url + "/healthz", timeout=1)
        reachable = True
    except requests.RequestException:
        reachable = False
    assert not reachable
    con = sqlite3.connect(path, timeout=5)
    try:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == 999
        assert con.execute("SELECT count(*) FROM objects WHERE name = 'keep-me'").fetchone()[0] == 1
    finally:
        con.close()


def test_uncreatable_state_dir_fails_clearly(make_sluiced, state_dir):
    blocker = os.path.join(state_dir, "a-file")
    with open(blocker, "w") as f:
        f.write("not a directory\n")
    s = make_sluiced(sub="log-holder")  # its log goes next to a creatable path...
    s.state_dir = os.path.join(blocker, "state")  # ...while the state dir is under a file
    s.start(wait=False)
    rc = wait_exit(s)
    assert rc != 0
    msg = s.log()
    assert os.path.join(blocker, "state") in msg or blocker in msg, msg
    assert "directory" in msg.lower() or "not a dir" in msg.lower() or "cannot" in msg.lower(), msg
    # The file is untouched.
    with open(blocker) as f:
        assert f.read() == "not a directory\n"


def test_admin_port_in_use_fails_clearly(make_sluiced):
    """A second sluiced on a busy admin address must not start (it would serve a
    different store on the same port)."""
    first = make_sluiced(sub="one").start()
    second = make_sluiced(sub="two", port=first.port)
    second.start(wait=False)
    try:
        rc = second.proc.wait(5)
    except Exception:
        rc = None
    assert rc is not None and rc != 0, "a second sluiced started on port %d, already used by the first" % first.port
    assert str(first.port) in second.log(), second.log()
    assert first.get("/healthz").status_code == 200

"""Bearer tokens of the admin API: `sluiced token create|list|revoke`, requests
with and without them, hashed storage, and the loopback-only rule without tokens."""

import glob
import json
import os
import re
import sqlite3
import subprocess
import threading
import time

import requests

from conftest import SLUICED, free_port, httproute, path_for

ROUTES = path_for("httproutes", "default")


def token_cmd(state_dir, *args, check=True):
    cp = subprocess.run([SLUICED, "token"] + list(args) + ["--state-dir", state_dir], capture_output=True,
                        text=True, timeout=20)
    if check:
        assert cp.returncode == 0, "token %s failed (%d): %s%s" % (args, cp.returncode, cp.stdout, cp.stderr)
    return cp


def create_token(state_dir, name, *flags):
    cp = token_cmd(state_dir, "create", name, *flags)
    lines = cp.stdout.strip().splitlines()
    assert len(lines) == 1, cp.stdout  # the token, and only the token, on stdout
    token = lines[0].strip()
    assert len(token) >= 32 and " " not in token, token
    return token


def bearer(token):
    return {"Authorization": "Bearer " + token}


def assert_401(r):
    assert r.status_code == 401, "%s -> %d: %s" % (r.request.url, r.status_code, r.text)
    st = r.json()
    assert st["kind"] == "Status" and st["apiVersion"] == "v1"
    assert st["status"] == "Failure" and st["code"] == 401 and st["reason"] == "Unauthorized"


def test_token_create_prints_token_once(make_sluiced):
    s = make_sluiced()
    os.makedirs(s.state_dir, exist_ok=True)
    t1 = create_token(s.state_dir, "ci")
    t2 = create_token(s.state_dir, "ops")
    assert t1 != t2
    listing = token_cmd(s.state_dir, "list").stdout
    assert t1 not in listing and t2 not in listing
    assert t1[-16:] not in listing and t2[-16:] not in listing


def test_requests_need_a_token(make_sluiced):
    s = make_sluiced()
    os.makedirs(s.state_dir, exist_ok=True)
    token = create_token(s.state_dir, "admin")
    s.start()
    # health endpoints stay open
    assert s.get("/healthz").status_code == 200
    assert s.get("/readyz").status_code == 200
    for path in (ROUTES, "/api", "/apis", "/api/v1", "/version", "/metrics", "/api/v1/namespaces/default",
                 "/no/such/path"):
        assert_401(s.get(path))
        assert_401(s.get(path, headers=bearer("sl_" + "0" * 64)))
    assert_401(s.post(ROUTES, httproute("r1")))
    assert_401(s.delete("/api/v1/namespaces/default"))
    assert_401(s.get(ROUTES, headers={"Authorization": token}))           # no scheme
    assert_401(s.get(ROUTES, headers={"Authorization": "Basic " + token}))
    assert_401(s.get(ROUTES, headers=bearer(token[:-1])))
    assert_401(s.get(ROUTES, headers=bearer(token + "x")))
    # nothing got through
    assert s.get(ROUTES, headers=bearer(token)).json()["items"] == []
    assert s.get("/api/v1/namespaces/default", headers=bearer(token)).status_code == 200
    # with the token everything works
    r = s.post(ROUTES, httproute("r1"), headers=bearer(token))
    assert r.status_code == 201, r.text
    assert s.get(path_for("httproutes", "default", "r1"), headers=bearer(token)).status_code == 200
    assert s.get("/version", headers=bearer(token)).status_code == 200
    assert s.get("/metrics", headers=bearer(token)).status_code == 200
    assert s.get("/api/v1", headers=bearer(token)).status_code == 200
    assert s.delete(path_for("httproutes", "default", "r1"), headers=bearer(token)).status_code == 200


def test_several_tokens_each_work(make_sluiced):
    s = make_sluiced()
    os.makedirs(s.state_dir, exist_ok=True)
    a = create_token(s.state_dir, "a")
    b = create_token(s.state_dir, "b")
    s.start()
    assert s.get(ROUTES, headers=bearer(a)).status_code == 200
    assert s.get(ROUTES, headers=bearer(b)).status_code == 200


def test_token_list_shows_id_and_name_not_secret(make_sluiced):
    s = make_sluiced()
    os.makedirs(s.state_dir, exist_ok=True)
    token = create_token(s.state_dir, "deploy-bot")
    cp = token_cmd(s.state_dir, "list")
    assert "deploy-bot" in cp.stdout
    rows = [l for l in cp.stdout.splitlines() if "deploy-bot" in l]
    assert len(rows) == 1
    token_id = rows[0].split()[0]
    assert re.fullmatch(r"[0-9a-zA-Z_-]{4,}", token_id), rows[0]
    assert token_id != "deploy-bot"
    assert token not in cp.stdout and token not in cp.stderr
    secret_part = token.split("_", 1)[-1]
    assert secret_part[:12] not in cp.stdout


def test_token_revoke_by_id(make_sluiced):
    s = make_sluiced()
    os.makedirs(s.state_dir, exist_ok=True)
    keep = create_token(s.state_dir, "keep")
    gone = create_token(s.state_dir, "gone")
    s.start()
    assert s.get(ROUTES, headers=bearer(gone)).status_code == 200
    listing = token_cmd(s.state_dir, "list").stdout
    gone_id = [l for l in listing.splitlines() if " gone " in l + " "][0].split()[0]
    token_cmd(s.state_dir, "revoke", gone_id)
    assert "gone" not in token_cmd(s.state_dir, "list").stdout
    assert_401(s.get(ROUTES, headers=bearer(gone)))
    assert s.get(ROUTES, headers=bearer(keep)).status_code == 200


def test_token_revoke_last_token_reopens_loopback(make_sluiced):
    s = make_sluiced()
    os.makedirs(s.state_dir, exist_ok=True)
    token = create_token(s.state_dir, "only")
    s.start()
    assert s.get(ROUTES, headers=bearer(token)).status_code == 200
    token_cmd(s.state_dir, "revoke", "only")
    # the revoked token is no longer a credential of anything...
    assert "only" not in token_cmd(s.state_dir, "list").stdout
    # ...and with no tokens left a loopback server is open again (documented rule)
    assert s.get(ROUTES).status_code == 200


def test_token_revoke_unknown_fails(make_sluiced):
    s = make_sluiced()
    os.makedirs(s.state_dir, exist_ok=True)
    create_token(s.state_dir, "a")
    cp = token_cmd(s.state_dir, "revoke", "no-such-token", check=False)
    assert cp.returncode != 0
    assert "no-such-token" in cp.stderr


def test_token_created_while_running_applies_immediately(make_sluiced):
    s = make_sluiced().start()
    assert s.get(ROUTES).status_code == 200
    token = create_token(s.state_dir, "late")
    assert_401(s.get(ROUTES))
    assert s.get(ROUTES, headers=bearer(token)).status_code == 200


def test_token_stored_hashed(make_sluiced):
    s = make_sluiced()
    os.makedirs(s.state_dir, exist_ok=True)
    token = create_token(s.state_dir, "secret-check")
    s.start()
    assert s.get(ROUTES, headers=bearer(token)).status_code == 200
    s.stop()
    db = os.path.join(s.state_dir, "sluice.db")
    assert os.path.exists(db)
    secret = token.split("_", 1)[-1]
    needles = {token, secret, secret[:24], secret[-24:]}
    # every file of the store (database, WAL, journal), as raw bytes
    for path in glob.glob(os.path.join(s.state_dir, "*")):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
            for n in needles:
                assert n.encode() not in data, "%s contains the token" % path
                assert n.upper().encode() not in data, "%s contains the token" % path
    # and every text cell of every table
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert tables
        cells = 0
        for t in tables:
            for row in con.execute('SELECT * FROM "%s"' % t.replace('"', '""')):
                for cell in row:
                    text = cell.decode("latin-1") if isinstance(cell, bytes) else str(cell)
                    cells += 1
                    for n in needles:
                        assert n not in text and n.lower() not in text.lower(), "table %s holds the token" % t
        assert cells > 0
        # the token's name is there: it was stored, just not its secret
        assert any("secret-check" in str(c) for t in tables for row in con.execute('SELECT * FROM "%s"' % t)
                   for c in row)
    finally:
        con.close()


def test_non_loopback_without_tokens_refuses_to_start(make_sluiced):
    port = free_port()
    s = make_sluiced(extra_args=["--admin", "0.0.0.0:%d" % port], port=port)
    s.start(wait=False)
    rc = s.proc.wait(20)
    assert rc != 0
    log = s.log().lower()
    assert "token" in log, log
    assert "0.0.0.0" in log
    # nothing listens on the port
    try:
        requests.get("http://127.0.0.1:%d/healthz" % port, timeout=1)
        listening = True
    except requests.RequestException:
        listening = False
    assert not listening


def test_non_loopback_with_token_starts(make_sluiced):
    port = free_port()
    s = make_sluiced(extra_args=["--admin", "0.0.0.0:%d" % port], port=port)
    os.makedirs(s.state_dir, exist_ok=True)
    token = create_token(s.state_dir, "remote")
    s.start()
    assert s.proc.poll() is None
    assert s.get("/healthz").status_code == 200
    assert_401(s.get(ROUTES))
    assert s.get(ROUTES, headers=bearer(token)).status_code == 200
    assert s.stop() == 0


def test_token_command_usage_errors(tmp_path):
    cp = subprocess.run([SLUICED, "token", "create"], capture_output=True, text=True, timeout=10,
                        env=dict(os.environ, SLUICE_STATE_DIR="/nonexistent-sluice-test"))
    assert cp.returncode == 2
    assert cp.stdout == ""
    cp = subprocess.run([SLUICED, "token", "frobnicate", "--state-dir", str(tmp_path / "st")], capture_output=True, text=True,
                        timeout=10)
    assert cp.returncode != 0


def test_read_only_token_reads_but_never_writes(make_sluiced):
    s = make_sluiced()
    os.makedirs(s.state_dir, exist_ok=True)
    full = create_token(s.state_dir, "ops")
    ro = create_token(s.state_dir, "viewer", "--read-only")
    assert "read " in token_cmd(s.state_dir, "list").stdout  # the scope is listed
    s.start()
    assert s.post(ROUTES, httproute("r1"), headers=bearer(full)).status_code == 201
    r1 = path_for("httproutes", "default", "r1")
    for path in (ROUTES, r1, "/metrics", "/debug/snapshot", "/api/v1", "/version"):
        assert s.get(path, headers=bearer(ro)).status_code == 200, path
    with requests.get(s.url + ROUTES + "?watch=1&timeoutSeconds=1", headers=bearer(ro), stream=True,
                      timeout=10) as w:
        assert w.status_code == 200
        assert json.loads(next(w.iter_lines()))["object"]["metadata"]["name"] == "r1"
    for r in (s.post(ROUTES, httproute("r2"), headers=bearer(ro)),
              s.put(r1, s.get(r1, headers=bearer(full)).json(), headers=bearer(ro)),
              requests.patch(s.url + r1, data=json.dumps({"metadata": {"labels": {"a": "b"}}}), timeout=10,
                             headers=dict(bearer(ro), **{"Content-Type": "application/merge-patch+json"})),
              s.delete(r1, headers=bearer(ro))):
        assert r.status_code == 403, (r.request.method, r.text)
        st = r.json()
        assert st["kind"] == "Status" and st["reason"] == "Forbidden" and "read-only" in st["message"]
    obj = s.get(r1, headers=bearer(full)).json()
    assert "labels" not in obj["metadata"] or "a" not in obj["metadata"]["labels"]
    assert s.get(path_for("httproutes", "default", "r2"), headers=bearer(full)).status_code == 404


def test_watch_ends_when_its_token_is_revoked(make_sluiced):
    s = make_sluiced()
    os.makedirs(s.state_dir, exist_ok=True)
    keep = create_token(s.state_dir, "keep")
    gone = create_token(s.state_dir, "gone")
    s.start()
    ended = {}

    def watch(name, token):
        t0 = time.monotonic()
        try:
            with requests.get(s.url + ROUTES + "?watch=1", headers=bearer(token), stream=True, timeout=30) as r:
                for _ in r.iter_lines():
                    pass
        except requests.RequestException:
            pass  # the server stopping at the end of the test cuts the other watch
        ended[name] = time.monotonic() - t0

    threads = [threading.Thread(target=watch, args=(n, t), daemon=True) for n, t in (("keep", keep), ("gone", gone))]
    for t in threads:
        t.start()
    time.sleep(0.5)
    token_cmd(s.state_dir, "revoke", "gone")
    threads[1].join(5)
    assert "gone" in ended, "the watch of a revoked token is still open"
    time.sleep(1.5)
    assert "keep" not in ended, "the watch of a valid token ended too"
    # ...and the revoked token gets nothing more.
    assert_401(s.get(ROUTES, headers=bearer(gone)))

"""The Debian package, built from this tree with dpkg-buildpackage and checked
for real: lintian clean (no error or warning), the expected files, the unit
verified by systemd-analyze, then installed on this machine with dpkg (the
sluice user, its directories), run as the unit runs it (user sluice, port 80
through the ambient CAP_NET_BIND_SERVICE, --config-dir /etc/sluice/conf.d),
upgraded in place with the store kept, removed (state kept) and purged (state
gone). No systemd runs here, so the service itself is not started by systemd:
its command line is run the way the unit does.

It installs a package, so it runs only as root, and only once per suite run
(SL_PACKAGE_TEST=0 skips it; tests/run.sh --sanitizers does)."""

import os
import shutil
import socket
import subprocess
import time

import pytest
import requests

from conftest import free_port

SRCDIR = os.environ.get("SL_SRCDIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TOOLS = ["dpkg-buildpackage", "dh", "lintian", "dpkg", "setpriv", "adduser"]
missing = [t for t in TOOLS if not shutil.which(t)]
pytestmark = [
    pytest.mark.skipif(os.environ.get("SL_PACKAGE_TEST") == "0", reason="skipped, because SL_PACKAGE_TEST=0 "
                       "(tests/run.sh --sanitizers: the package is checked in the plain run)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="skipped, because installing a package needs root"),
    pytest.mark.skipif(bool(missing), reason="skipped, because %s is not installed (deploy/install-deps.sh --tests "
                       "installs debhelper, lintian, git and adduser)" % ", ".join(missing)),
    pytest.mark.skipif(not os.path.isdir(os.path.join(SRCDIR, "debian")), reason="skipped, because %s has no debian/"
                       % SRCDIR),
]


def run(*cmd, **kw):
    kw.setdefault("timeout", 120)
    return subprocess.run(list(cmd), capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """Builds the package from a copy of the tree's files (what git tracks, and
    what it would track; without git, a release tarball's files): dpkg-buildpackage
    -b, unsigned, unit tests left to tests/run.sh."""
    top = tmp_path_factory.mktemp("deb")
    src = top / "sluice"
    files = run("git", "-C", SRCDIR, "ls-files", "-co", "--exclude-standard")
    if files.returncode == 0:
        names = files.stdout.splitlines()
    else:  # a release tarball's tree (make distcheck): every file but build directories
        names = []
        skip = {"build", "build-san", "_build", "_inst", ".git", "node_modules", "bin"}
        for d, dirs, fs in os.walk(SRCDIR):
            dirs[:] = [x for x in dirs if x not in skip and not x.startswith("obj-")]
            names += [os.path.relpath(os.path.join(d, f), SRCDIR) for f in fs]
    src.mkdir()
    for f in names:
        path = os.path.join(SRCDIR, f)
        if os.path.isfile(path):
            os.makedirs(os.path.dirname(str(src / f)), exist_ok=True)
            shutil.copy2(path, str(src / f))
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=%d" % (os.cpu_count() or 2))
    cp = run("dpkg-buildpackage", "-b", "-uc", "-us", cwd=str(src), env=env, timeout=1200)
    assert cp.returncode == 0, (cp.stdout + cp.stderr)[-4000:]
    debs = [p for p in os.listdir(str(top)) if p.startswith("sluice_") and p.endswith(".deb")]
    assert len(debs) == 1, os.listdir(str(top))
    return str(top / debs[0]), str(top)


def test_lintian_clean_and_contents(deb):
    path, top = deb
    changes = [p for p in os.listdir(top) if p.endswith(".changes")]
    cp = run("lintian", "--tag-display-limit", "0", os.path.join(top, changes[0]), timeout=300)
    problems = [l for l in cp.stdout.splitlines() if l[:2] in ("E:", "W:")]
    assert not problems, cp.stdout
    contents = run("dpkg-deb", "-c", path).stdout
    paths = [l.split()[-1] for l in contents.splitlines()]
    for f in ("./usr/sbin/sluiced", "./lib/systemd/system/sluice.service", "./etc/logrotate.d/sluice",
              "./etc/sluice/sluiced.env", "./etc/sluice/conf.d/example.yaml.disabled",
              "./usr/share/man/man8/sluiced.8.gz", "./usr/share/doc/sluice/operations.md.gz",
              "./usr/share/sluice/web/index.html", "./usr/share/sluice/web/app.js", "./usr/share/sluice/web/style.css",
              "./usr/share/sluice/web/charts.js", "./usr/share/sluice/web/vendor/uplot/uPlot.esm.js"):
        assert f in paths, (f, contents)
    assert not [p for p in paths if p.startswith("./usr/bin/")]
    depends = run("dpkg-deb", "-f", path, "Depends").stdout
    for lib in ("libsqlite3", "libssl3", "libev4", "libjansson4", "libyaml-0-2", "libsystemd0", "adduser"):
        assert lib in depends, depends


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def start_as_the_unit(admin_port):
    """The unit's command line and identity without systemd: user sluice, the
    ambient CAP_NET_BIND_SERVICE, --state-dir and --config-dir as in ExecStart."""
    log = open("/var/log/sluice/test-start.log", "ab")
    return subprocess.Popen(["setpriv", "--reuid", "sluice", "--regid", "sluice", "--init-groups",
                             "--inh-caps", "+net_bind_service", "--ambient-caps", "+net_bind_service",
                             "/usr/sbin/sluiced", "--state-dir", "/var/lib/sluice", "--config-dir",
                             "/etc/sluice/conf.d", "--admin", "127.0.0.1:%d" % admin_port,
                             "--access-log", "/var/log/sluice/access.log"], stdout=log, stderr=subprocess.STDOUT)


def wait_for(fn, what, timeout=20):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            out = fn()
            if out:
                return out
        except (OSError, requests.RequestException) as e:
            last = e
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s (%r)" % (what, last))


def stop(p):
    p.terminate()
    assert p.wait(30) == 0


def test_install_run_upgrade_remove_purge(deb):
    path, _ = deb
    cp = run("dpkg", "-i", path, timeout=300)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    try:
        assert run("id", "-u", "sluice").returncode == 0
        for d in ("/var/lib/sluice", "/var/log/sluice"):
            st = os.stat(d)
            assert st.st_mode & 0o777 == 0o750 and st.st_uid == int(run("id", "-u", "sluice").stdout), d
        if shutil.which("systemd-analyze"):
            cp = run("systemd-analyze", "verify", "/lib/systemd/system/sluice.service")
            assert cp.returncode == 0, cp.stdout + cp.stderr
        # The example manifests, enabled, on port 80 when it is free (else another port: the
        # capability part is then not shown).
        origin = subprocess.Popen(["python3", "-m", "http.server", "8081", "--bind", "127.0.0.1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = 80 if port_free(80) else free_port()
        with open("/etc/sluice/conf.d/example.yaml.disabled") as f:
            example = f.read().replace("port: 80\n", "port: %d\n" % port)
        with open("/etc/sluice/conf.d/example.yaml", "w") as f:
            f.write(example)
        admin = free_port()
        p = start_as_the_unit(admin)
        try:
            wait_for(lambda: requests.get("http://127.0.0.1:%d/" % port, timeout=2).status_code == 200,
                     "the example route on port %d" % port)
            with open("/proc/%d/status" % p.pid) as f:
                uids = next(l for l in f if l.startswith("Uid:")).split()[1:]
            assert set(uids) == {run("id", "-u", "sluice").stdout.strip()}, uids  # (setpriv exec'd sluiced)
            r = requests.post("http://127.0.0.1:%d/api/v1/namespaces" % admin,
                              json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kept"}}, timeout=5)
            assert r.status_code == 201, r.text
            # The dashboard, from the package's files.
            r = requests.get("http://127.0.0.1:%d/ui/" % admin, timeout=5)
            assert r.status_code == 200 and 'src="app.js"' in r.text, r.text[:300]
        finally:
            stop(p)
        # An upgrade in place (the same version again runs the upgrade path): the store stays.
        cp = run("dpkg", "-i", path, timeout=300)
        assert cp.returncode == 0, cp.stdout + cp.stderr
        p = start_as_the_unit(admin)
        try:
            wait_for(lambda: requests.get("http://127.0.0.1:%d/api/v1/namespaces/kept" % admin, timeout=2)
                     .status_code == 200, "the namespace kept across the upgrade")
        finally:
            stop(p)
            origin.terminate()
            origin.wait(10)
        os.remove("/etc/sluice/conf.d/example.yaml")
        # Removed: the program goes, the store and the settings stay.
        cp = run("dpkg", "-r", "sluice", timeout=300)
        assert cp.returncode == 0, cp.stdout + cp.stderr
        assert not os.path.exists("/usr/sbin/sluiced")
        assert os.path.exists("/var/lib/sluice/sluice.db") and os.path.exists("/etc/sluice/sluiced.env")
    finally:
        # Purged: nothing is left (whatever happened above).
        cp = run("dpkg", "--purge", "sluice", timeout=300)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    for gone in ("/var/lib/sluice", "/var/log/sluice", "/etc/sluice/sluiced.env", "/lib/systemd/system/sluice.service"):
        assert not os.path.exists(gone), gone

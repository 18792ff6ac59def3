"""Fixtures for integration tests: each test gets a real sluiced on a fresh state
dir and a free loopback port, started as a separate process and stopped (and its
log checked for sanitizer reports) afterwards.

The binary is $SLUICED (set by `make check`), else ../../sbin/sluiced."""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("SL_SRCDIR", os.path.abspath(os.path.join(HERE, "..", "..")))
SLUICED = os.environ.get("SLUICED", os.path.join(SRCDIR, "sbin", "sluiced"))
CONFORMANCE = os.environ.get(
    "SL_CONFORMANCE", os.path.abspath(os.path.join(SRCDIR, "..", "shared", "conformance", "gateway-api")))

GW = "gateway.networking.k8s.io"
# Lines that mean a sanitizer or an internal invariant went off: a test that
# leaves one in the log fails, whatever it asserted.
BAD_LOG_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer", " alert ")


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORTS_GIVEN = set()


def free_port():
    """A port for a listener a test is about to start, below the kernel's
    ephemeral range: the kernel never picks it for an outgoing connection, so
    no client socket of the busy suite can take it between this check and the
    bind (a port from bind(0) could be, and a Gateway then failed with
    EADDRINUSE). Each port is handed out once per run."""
    high = _ephemeral_low() - 1
    for _ in range(2000):
        port = random.randint(10000, high)
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
    with socket.socket() as s:  # (a crowded range: what the kernel offers)
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stuck_stacks(pid):
    """Backtraces of a process that would not stop and of its children (gdb, when
    installed), so a hang seen once on a CI machine says where it hung."""
    if not shutil.which("gdb"):
        return "(no gdb: no backtraces)"
    pids = [pid]
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rfind(")") + 2:].split()
        if int(rest[1]) == pid:
            pids.append(int(d))
    out = []
    for p in pids:
        try:
            r = subprocess.run(["gdb", "-batch", "-p", str(p), "-ex", "bt"], capture_output=True,
                               text=True, timeout=30)
            frames = [ln for ln in r.stdout.splitlines() if ln.startswith("#")]
            out.append("pid %d:\n%s" % (p, "\n".join(frames[:25])))
        except (OSError, subprocess.TimeoutExpired) as e:
            out.append("pid %d: gdb failed: %s" % (p, e))
    return "\n".join(out)


class Sluiced:
    """One sluiced process. start() waits for /readyz; stop() sends SIGTERM."""

    def __init__(self, state_dir, port=None, extra_args=(), env=None, nofile=None):
        self.state_dir = state_dir
        self.nofile = nofile  # RLIMIT_NOFILE for the process (and so its workers)
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.env = env
        self.proc = None
        self.log_path = os.path.join(state_dir + ".logs", "sluiced.log")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, wait=True):
        env = dict(os.environ)
        env.update(self.env or {})
        log = open(self.log_path, "ab")
        limit = self.nofile

        def set_limits():
            if limit:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        self.proc = subprocess.Popen(
            [SLUICED, "--state-dir", self.state_dir, "--admin", "127.0.0.1:%d" % self.port] + self.extra_args,
            stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=set_limits if limit else None)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sluiced exited with %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("sluiced did not become ready:\n" + self.log())

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stacks = stuck_stacks(self.proc.pid)
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("sluiced did not stop within %ss of %s\n%s\nlog tail:\n%s"
                                 % (timeout, sig, stacks, self.log()[-3000:]))

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # ---- REST helpers ----
    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=kw.pop("timeout", 10), **kw)

    def post(self, path, obj, **kw):
        return requests.post(self.url + path, json=obj, timeout=kw.pop("timeout", 10), **kw)

    def put(self, path, obj, **kw):
        return requests.put(self.url + path, json=obj, timeout=kw.pop("timeout", 10), **kw)

    def patch(self, path, obj, content_type="application/merge-patch+json", **kw):
        return requests.patch(self.url + path, data=json.dumps(obj), timeout=kw.pop("timeout", 10),
                              headers={"Content-Type": content_type}, **kw)

    def delete(self, path, **kw):
        return requests.delete(self.url + path, timeout=kw.pop("timeout", 10), **kw)

    # The kubectl binary kubectl() runs (test_kubectl.py sets each pinned version in turn).
    kubectl_bin = os.environ.get("SL_KUBECTL", "kubectl")

    def kubectl(self, *args, input=None, check=True, timeout=60):
        """Runs kubectl (self.kubectl_bin) against this server; returns CompletedProcess."""
        env = dict(os.environ, KUBECONFIG=os.devnull)
        cp = subprocess.run([self.kubectl_bin, "--server=" + self.url] + list(args), input=input, env=env,
                            capture_output=True, text=True, timeout=timeout)
        if check and cp.returncode != 0:
            raise AssertionError("kubectl %s failed (%d):\n%s%s" % (" ".join(args), cp.returncode, cp.stdout,
                                                                    cp.stderr))
        return cp


# Pinned kubectl versions the suite runs against (tests/tools/install.sh provides them).
KUBECTL_VERSIONS = ("1.20", "1.32")
KUBECTL_DIR = os.path.join(SRCDIR, "tests", "tools", "bin")


def kubectl_path(version):
    """The pinned kubectl of that version, or None when tests/tools/install.sh could not provide it."""
    p = os.path.join(KUBECTL_DIR, "kubectl-" + version)
    return p if os.access(p, os.X_OK) else None


def path_for(kind, namespace=None, name=None, group=GW, version="v1", plural=None):
    """Builds a REST path: path_for("httproutes", "default", "r1")."""
    plural = plural or kind
    base = "/api/%s" % version if group == "" else "/apis/%s/%s" % (group, version)
    if namespace:
        base += "/namespaces/" + namespace
    base += "/" + plural
    if name:
        base += "/" + name
    return base


@pytest.fixture
def state_dir():
    d = tempfile.mkdtemp(prefix="sluice-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(d + ".logs", ignore_errors=True)


@pytest.fixture
def sluiced(state_dir):
    """A running sluiced; after the test it is stopped and its log must be clean."""
    s = Sluiced(os.path.join(state_dir, "state")).start()
    yield s
    rc = s.stop()
    log = s.log()
    for marker in BAD_LOG_MARKERS:
        assert marker not in log, "sluiced log contains %r:\n%s" % (marker, log[-4000:])
    assert rc == 0, "sluiced exited with %s on SIGTERM:\n%s" % (rc, log[-4000:])


@pytest.fixture
def make_sluiced(state_dir):
    """Factory for tests that need several processes or restarts on one state dir."""
    started = []

    def make(sub="state", **kw):
        s = Sluiced(os.path.join(state_dir, sub), **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        if s.proc and s.proc.poll() is None:
            s.stop()
        log = s.log()
        for marker in BAD_LOG_MARKERS:
            assert marker not in log, "sluiced log contains %r:\n%s" % (marker, log[-4000:])


def httproute(name, namespace="default", path="/", parent="gw", **spec):
    """A small valid HTTPRoute."""
    body = {"parentRefs": [{"name": parent}],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}]}]}
    body.update(spec)
    return {"apiVersion": GW + "/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": namespace}, "spec": body}

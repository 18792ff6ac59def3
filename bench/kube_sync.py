#!/usr/bin/python3
"""Benchmark of `sluiced --kubernetes` against the fake API server of the tests
(tests/integration/kube_fake.py; no real cluster runs here, see docs/kubernetes.md):

1. initial sync: the "cluster" holds ROUTES HTTPRoutes (each to one of SERVICES
   Services with an EndpointSlice); time from sluiced's start to the last route
   serving;
2. route change to traffic: a route's path is changed in the cluster, CHANGES
   times, one after the other; time until the new path answers (median, p99);
3. endpoint churn: for SECONDS seconds, RATE EndpointSlice changes a second, each
   moving one Service's endpoint from one origin to another; time until a request
   to a route of that Service reaches the new origin (median, p99, max), and the
   master's CPU over the churn (its utime + stime from /proc, workers excluded).

    bench/kube_sync.py --sluiced build/sbin/sluiced [--routes 10000] [--services 1000]
                       [--rate 10] [--seconds 30] [--changes 50]

Loads go to 127.0.0.1 only and stop by themselves.
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from kube_fake import FakeKube  # noqa: E402

GW = "gateway.networking.k8s.io"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def origin(name):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("X-Origin", name)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def service(i):
    return {"metadata": {"name": "svc%d" % i, "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 80}]}}


def endpoint_slice(i, port):
    return {"metadata": {"name": "svc%d-1" % i, "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "svc%d" % i}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["127.0.0.1"]}],
            "ports": [{"name": "http", "port": port}]}


def route(i, services, path=None):
    return {"metadata": {"name": "r%d" % i, "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw"}],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path or "/r%d" % i}}],
                                "backendRefs": [{"name": "svc%d" % (i % services), "port": 80}]}]}}


def probe(port, path, want_origin=None, timeout=30.0):
    """Seconds until GET path answers 200 (from want_origin when given); None past timeout."""
    start = time.monotonic()
    conn = None
    while time.monotonic() - start < timeout:
        try:
            conn = conn or HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            if r.status == 200 and (want_origin is None or r.getheader("X-Origin") == want_origin):
                return time.monotonic() - start
        except OSError:
            conn = None
        time.sleep(0.01)
    return None


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compile_seconds(admin_port):
    """(sum, count) of the master's compile time histogram, from /metrics."""
    conn = HTTPConnection("127.0.0.1", admin_port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    found = {}
    for line in text.splitlines():
        for part in ("_sum", "_count"):
            if line.startswith("sluice_snapshot_compile_duration_seconds" + part + " "):
                found[part] = float(line.split()[-1])
    return found.get("_sum", 0.0), found.get("_count", 0.0)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sluiced", required=True)
    ap.add_argument("--routes", type=int, default=10000)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--changes", type=int, default=50)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="sluice-kube-bench-")
    origins = [origin("A"), origin("B")]
    ports = [o.server_address[1] for o in origins]
    fake = FakeKube(bookmark_every=5.0)
    gw_port, admin_port = free_port(), free_port()
    fake.apply("namespaces", {"metadata": {"name": "default"}})
    fake.apply("gatewayclasses", {"metadata": {"name": "sluice"}, "spec": {"controllerName": "sluice.dev/gateway-controller"}})
    fake.apply("gateways", {"metadata": {"name": "gw", "namespace": "default"},
                            "spec": {"gatewayClassName": "sluice",
                                     "listeners": [{"name": "http", "port": gw_port, "protocol": "HTTP"}]}})
    for i in range(a.services):
        fake.apply("services", service(i))
        fake.apply("endpointslices", endpoint_slice(i, ports[0]))
    for i in range(a.routes):
        fake.apply("httproutes", route(i, a.services))
    fake.compact()  # (the list has it all; watches then scan only new events)
    binary = os.path.join(tmp, "sluiced")
    shutil.copy(a.sluiced, binary)
    log = open(os.path.join(tmp, "log"), "w")
    began = time.monotonic()
    proc = subprocess.Popen([binary, "--state-dir", os.path.join(tmp, "state"), "--admin", "127.0.0.1:%d" % admin_port,
                             "--kubernetes", "--kubeconfig", fake.kubeconfig(os.path.join(tmp, "kubeconfig")),
                             "--access-log", "off", "--metrics-series", str(max(16384, 2 * a.routes + 64))],
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        took = probe(gw_port, "/r%d/x" % (a.routes - 1), timeout=600)
        if took is None:
            sys.exit("the routes never served; log in %s" % tmp)
        initial = time.monotonic() - began
        print("initial sync: %d HTTPRoutes, %d Services: last route serving %.2f s after start" %
              (a.routes, a.services, initial))

        latencies = []
        for k in range(a.changes):
            i = a.services + (k * 7919) % (a.routes - a.services)  # (not a route the churn probes)
            fake.apply("httproutes", route(i, a.services, path="/moved%d" % k))
            t = probe(gw_port, "/moved%d/x" % k)
            latencies.append(t if t is not None else float("inf"))
        print("route change to traffic (%d changes): median %.0f ms, p99 %.0f ms, max %.0f ms" %
              (a.changes, 1000 * statistics.median(latencies), 1000 * pct(latencies, 99), 1000 * max(latencies)))

        churn, lock, threads, missed = [], threading.Lock(), [], []
        side = {}

        def change(i):
            now = side.get(i, 0) ^ 1
            side[i] = now
            fake.apply("endpointslices", endpoint_slice(i, ports[now]))
            # A route of Service i: route i (routes are spread over the Services).
            t = probe(gw_port, "/r%d/x" % i, want_origin="AB"[now], timeout=30)
            with lock:
                churn.append(t if t is not None else float("inf"))
                if t is None:
                    missed.append(i)

        compiles0 = compile_seconds(admin_port)
        cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
        n = 0
        while time.monotonic() - wall0 < a.seconds:
            i = (n * 613) % a.services
            n += 1
            th = threading.Thread(target=change, args=(i,))
            th.start()
            threads.append(th)
            time.sleep(max(0.0, wall0 + n / a.rate - time.monotonic()))
        cpu1, wall1 = cpu_seconds(proc.pid), time.monotonic()
        compiles1 = compile_seconds(admin_port)
        for th in threads:
            th.join()
        print("endpoint churn: %d EndpointSlice changes at %.0f/s over %.0f s: change to traffic median %.0f ms, "
              "p99 %.0f ms, max %.0f ms; master CPU %.2f cores" %
              (len(churn), a.rate, wall1 - wall0, 1000 * statistics.median(churn), 1000 * pct(churn, 99),
               1000 * max(churn), (cpu1 - cpu0) / (wall1 - wall0)))
        n_compiles = compiles1[1] - compiles0[1]
        print("  compiles during the churn: %d, %.0f ms each on average" %
              (n_compiles, 1000 * (compiles1[0] - compiles0[0]) / max(1, n_compiles)))
        if missed:
            print("  changes that did not reach traffic within 30 s: Services %s" % missed[:20])
        print("RESULT routes=%d initial_s=%.2f route_change_p50_ms=%.0f route_change_p99_ms=%.0f "
              "churn_p50_ms=%.0f churn_p99_ms=%.0f master_cores=%.2f" %
              (a.routes, initial, 1000 * statistics.median(latencies), 1000 * pct(latencies, 99),
               1000 * statistics.median(churn), 1000 * pct(churn, 99), (cpu1 - cpu0) / (wall1 - wall0)))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        fake.stop()
        for o in origins:
            o.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

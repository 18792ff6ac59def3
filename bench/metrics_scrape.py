#!/usr/bin/python3
"""What a Prometheus scrape of /metrics costs the master with many busy routes.

Starts sluiced (a copy of --sluiced) with --config-dir holding one Gateway,
one Static Backend (a tiny Python origin on 127.0.0.1) and --routes HTTPRoutes
(10,000), each with its own path; sends one request to every route so that each
route rule has a series (the worst case: idle routes render nothing); then
scrapes /metrics --scrapes times and reports, per scrape, the master's own CPU
time (utime+stime of the master process from /proc, so the admin thread that
renders counts and the workers do not) and the wall time the client waited,
with the size of the text. Every process started here is stopped on exit.

Usage: bench/metrics_scrape.py [--sluiced PATH] [--routes 10000] [--scrapes 20] [--workers 2]"""

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body are two writes: no 40 ms delayed-ACK wait

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def manifests(routes, gw_port, origin_port, workers):
    yield """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default, annotations: {sluice.dev/workers: "%d"}}
spec:
  gatewayClassName: sluice
  listeners: [{name: http, port: %d, protocol: HTTP}]
---
apiVersion: gateway.sluice.dev/v1alpha1
kind: Backend
metadata: {name: be, namespace: default}
spec: {type: Static, static: {hosts: [{host: 127.0.0.1, port: %d}]}}
""" % (workers, gw_port, origin_port)
    for i in range(routes):
        yield """---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r%d, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules: [{matches: [{path: {type: Exact, value: /r%d}}], backendRefs: [{group: gateway.sluice.dev, kind: Backend, name: be}]}]
""" % (i, i)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get(port, path, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    return r.status, body, c


class Run:
    """A copy of sluiced (in a scratch dir) serving --config-dir with `routes`
    HTTPRoutes to a tiny origin, once every route is live; stop() ends it all."""

    def __init__(self, sluiced, routes, workers, prefix):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        binary = os.path.join(self.tmp, "sluiced")
        shutil.copy(sluiced, binary)
        self.origin = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
        threading.Thread(target=self.origin.serve_forever, daemon=True).start()
        self.gw_port, self.admin_port = free_port(), free_port()
        os.makedirs(os.path.join(self.tmp, "conf"))
        with open(os.path.join(self.tmp, "conf", "routes.yaml"), "w") as f:
            f.writelines(manifests(routes, self.gw_port, self.origin.server_address[1], workers))
        self.proc = subprocess.Popen([binary, "--state-dir", os.path.join(self.tmp, "state"), "--admin",
                                      "127.0.0.1:%d" % self.admin_port, "--config-dir", os.path.join(self.tmp, "conf"),
                                      "--access-log", "off", "--metrics-series", str(max(16384, routes + 64))],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "log"), "w"))
        try:
            self.conn = self.wait_live(routes)
        except BaseException:
            self.stop()
            raise

    def wait_live(self, routes):
        """The last route serving: the whole configuration is live. Its connection."""
        deadline = time.monotonic() + 300
        conn = None
        while True:
            try:
                status, _, conn = get(self.gw_port, "/r%d" % (routes - 1))
                if status == 200:
                    return conn
            except OSError:
                conn = None
            if time.monotonic() > deadline or self.proc.poll() is not None:
                with open(os.path.join(self.tmp, "log")) as f:
                    sys.exit("sluiced did not serve the routes:\n" + f.read()[-3000:])
            time.sleep(0.2)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.origin.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sluiced", default=os.environ.get("SLUICED", os.path.join(HERE, "..", "build", "sbin",
                                                                                 "sluiced")))
    ap.add_argument("--routes", type=int, default=10000)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    run = Run(args.sluiced, args.routes, args.workers, "sl-scrape-")
    proc, gw_port, admin_port, conn = run.proc, run.gw_port, run.admin_port, run.conn
    try:
        t0 = time.monotonic()
        for i in range(args.routes):
            status, _, conn = get(gw_port, "/r%d" % i, conn)
            assert status == 200, (i, status)
        print("traffic: one request to each of %d routes in %.1f s" % (args.routes, time.monotonic() - t0))
        admin = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=60)
        status, body, admin = get(admin_port, "/metrics", admin)
        assert status == 200
        series = body.count(b'sluice_route_requests_total{kind="HTTPRoute",namespace="default"')
        assert series >= args.routes, "only %d route series" % series
        if os.environ.get("SCRAPE_PAUSE"):
            print("pid", proc.pid, "admin port", admin_port, flush=True)
            time.sleep(float(os.environ["SCRAPE_PAUSE"]))
        cpu0, wall = cpu_seconds(proc.pid), 0.0
        for _ in range(args.scrapes):
            t = time.monotonic()
            status, body, admin = get(admin_port, "/metrics", admin)
            wall += time.monotonic() - t
            assert status == 200
        cpu = cpu_seconds(proc.pid) - cpu0
        print("scrape: %d route series, %d lines, %.1f MB of text" % (series, body.count(b"\n"), len(body) / 1e6))
        print("scrape: master CPU %.1f ms per scrape, client wait %.1f ms per scrape (%d scrapes)" %
              (cpu * 1000 / args.scrapes, wall * 1000 / args.scrapes, args.scrapes))
    finally:
        run.stop()


if __name__ == "__main__":
    main()

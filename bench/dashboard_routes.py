#!/usr/bin/python3
"""The dashboard's Routes view with many routes: time to first render and to
apply a filter, in Debian's headless Chromium (tests/browser/dashboard.mjs,
scenario "routes"; playwright-core from tests/tools/install.sh).

Starts sluiced (a copy of --sluiced) with --config-dir holding one Gateway, one
Static Backend and --routes HTTPRoutes (10,000), then opens #/routes --runs
times (a fresh browser each time): "first render" is from the navigation to
the count line saying every route arrived (the watch's initial events parsed,
the table of the first 500 drawn); "filter" is from typing a filter that keeps
one route to the table showing only it. Medians and extremes are printed.

Usage: bench/dashboard_routes.py [--sluiced PATH] [--routes 10000] [--runs 5]"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER = os.path.join(HERE, "..", "tests", "browser")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manifests(routes, gw_port):
    yield """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: sluice
  listeners: [{name: http, port: %d, protocol: HTTP}]
---
apiVersion: gateway.sluice.dev/v1alpha1
kind: Backend
metadata: {name: be, namespace: default}
spec: {type: Static, static: {hosts: [{host: 127.0.0.1, port: 9}]}}
""" % gw_port
    for i in range(routes):
        yield """---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: route-%05d, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [app%d.example.com]
  rules: [{matches: [{path: {type: PathPrefix, value: /svc/%d}}], backendRefs: [{group: gateway.sluice.dev, kind: Backend, name: be}]}]
""" % (i, i % 50, i)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sluiced", default=os.environ.get("SLUICED", os.path.join(HERE, "..", "build", "sbin", "sluiced")))
    ap.add_argument("--routes", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(BROWSER, "node_modules", "playwright-core")):
        sys.exit("playwright-core is not installed: run tests/tools/install.sh")
    tmp = tempfile.mkdtemp(prefix="sl-dash-")
    binary = os.path.join(tmp, "sluiced")
    shutil.copy(args.sluiced, binary)
    os.makedirs(os.path.join(tmp, "conf"))
    with open(os.path.join(tmp, "conf", "routes.yaml"), "w") as f:
        f.writelines(manifests(args.routes, free_port()))
    admin = free_port()
    proc = subprocess.Popen([binary, "--state-dir", os.path.join(tmp, "state"), "--admin", "127.0.0.1:%d" % admin,
                             "--config-dir", os.path.join(tmp, "conf"), "--access-log", "off",
                             "--web-dir", os.path.join(HERE, "..", "web")],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "log"), "w"))
    try:
        deadline = time.monotonic() + 300
        url = "http://127.0.0.1:%d/apis/gateway.networking.k8s.io/v1/httproutes" % admin
        while True:  # every route stored (--config-dir applies them in one transaction)
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    doc = json.load(r)
                if len(doc["items"]) >= args.routes:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit("sluiced did not load the routes; see %s/log" % tmp)
            time.sleep(0.5)
        first, filt = [], []
        for _ in range(args.runs):
            cp = subprocess.run(["node", os.path.join(BROWSER, "dashboard.mjs"), "http://127.0.0.1:%d" % admin,
                                 "routes", "route-04321", str(args.routes)],
                                capture_output=True, text=True, timeout=300, cwd=BROWSER)
            result = json.loads(cp.stdout.strip().splitlines()[-1])
            if "failure" in result:
                sys.exit(result["failure"])
            assert result["rows"] == ["default/route-04321"], result["rows"]
            first.append(result["firstRender"])
            filt.append(result["filterMs"])
        print("routes view, %d routes, %d runs: first render median %d ms (min %d, max %d); "
              "filter to one route median %d ms (min %d, max %d)" %
              (args.routes, args.runs, statistics.median(first), min(first), max(first),
               statistics.median(filt), min(filt), max(filt)))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

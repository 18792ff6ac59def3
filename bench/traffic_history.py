#!/usr/bin/python3
"""What the dashboard's per-second traffic history costs the master with many busy routes.

Starts sluiced as bench/metrics_scrape.py does (--config-dir with one Gateway, one
Backend and --routes HTTPRoutes, each with its own path), then keeps every route busy
with wrk (a Lua script that walks the routes' paths in turn) for --seconds, and reports:
the CPU time of the master's history thread (named sl-history, read from
/proc/PID/task) per second of sampling; the master's RSS growth; and for the Gateway
and for one route, the wall time of GET /debug/traffic and what its samples cover
(when the route ring is full its seconds merge: fewer, longer samples, same window). Every process
started here is stopped on exit.

Usage: bench/traffic_history.py [--sluiced PATH] [--routes 10000] [--seconds 30] [--workers 2]"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import time

from metrics_scrape import HERE, Run, get

LUA = """
local i = 0
request = function()
  i = (i + 1) %% %d
  return wrk.format("GET", "/r" .. i)
end
"""


def thread_cpu(pid, name):
    total = 0.0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip() != name:
                    continue
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sluiced", default=os.environ.get("SLUICED", os.path.join(HERE, "..", "build", "sbin",
                                                                                 "sluiced")))
    ap.add_argument("--routes", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    run = Run(args.sluiced, args.routes, args.workers, "sl-history-")
    proc, gw_port, admin_port, tmp = run.proc, run.gw_port, run.admin_port, run.tmp
    with open(os.path.join(tmp, "walk.lua"), "w") as f:
        f.write(LUA % args.routes)
    try:
        rss0, cpu0 = rss_kib(proc.pid), thread_cpu(proc.pid, "sl-history")
        t0 = time.monotonic()
        wrk = subprocess.run(["wrk", "-t1", "-c32", "-d%ds" % args.seconds, "-s", os.path.join(tmp, "walk.lua"),
                              "http://127.0.0.1:%d/" % gw_port], capture_output=True, text=True,
                             timeout=args.seconds + 60)
        elapsed = time.monotonic() - t0
        cpu = thread_cpu(proc.pid, "sl-history") - cpu0
        rss = rss_kib(proc.pid) - rss0
        rate = [l for l in wrk.stdout.splitlines() if "Requests/sec" in l]
        print("load: %s over %d routes for %.0f s" % (rate[0].strip() if rate else "?", args.routes, elapsed))
        admin = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=60)
        timings = {}
        for kind, name in (("Gateway", "gw"), ("HTTPRoute", "r1234")):
            t = time.monotonic()
            status, body, admin = get(admin_port, "/debug/traffic?kind=%s&name=%s" % (kind, name), admin)
            timings[kind] = (time.monotonic() - t) * 1000
            assert status == 200, body
            doc = json.loads(body)
            busy = sum(1 for v in doc["responses"]["2xx"] if v)
            spans = doc["spanSeconds"] or [0]
            timings[kind + " seconds"] = (busy, len(doc["time"]), len(body), sum(spans), min(spans), max(spans))
        print("history thread: %.1f ms of CPU per second of sampling (%.2f%% of a core)" %
              (cpu * 1000 / elapsed, cpu * 100 / elapsed))
        print("master RSS: +%.1f MB over the run" % (rss / 1024))
        for kind in ("Gateway", "HTTPRoute"):
            busy, n, size, covered, shortest, longest = timings[kind + " seconds"]
            print("GET /debug/traffic %s: %.1f ms, %d bytes; %d samples (%d with requests) covering %d s, "
                  "each %d to %d s long" % (kind, timings[kind], size, n, busy, covered, shortest, longest))
    finally:
        run.stop()


if __name__ == "__main__":
    main()

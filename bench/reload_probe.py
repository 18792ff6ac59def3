#!/usr/bin/python3
"""Helper of bench/reload.sh (hot-reload benchmark). Debian's python3 + python3-requests only.

Subcommands (every one bounded in time, printing human lines and one "KEY k=v ..." line):
  freeports N                      print N free TCP ports on 127.0.0.1
  setup     ...                    create Backends origin-a/-b, Gateway "bench", HTTPRoute "bench"
  latency   ...                    PATCH the route A<->B, time until the proxy shows the change
  flip      ...                    PATCH the route A<->B every INTERVAL for DURATION (under load)
  kill      ...                    kill -9 a worker at given times, time the respawn and first service
  conns     ...                    client connections held by each worker
"""
import argparse
import calendar
import http.client
import json
import math
import os
import signal
import socket
import statistics
import sys
import time

import requests

NS = "default"
ROUTE_PATH = "/apis/gateway.networking.k8s.io/v1/namespaces/%s/httproutes/bench" % NS
MERGE = {"Content-Type": "application/merge-patch+json"}
ORIGIN_HEADER = "X-Origin"


def now():
    return time.perf_counter()


def ms(seconds):
    return seconds * 1000.0


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))
    return v[k]


def route_patch(backend):
    return json.dumps({"spec": {"rules": [{"backendRefs": [
        {"group": "gateway.sluice.dev", "kind": "Backend", "name": backend}]}]}})


def split_hostport(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


# ---------------------------------------------------------------- freeports
def cmd_freeports(a):
    socks = []
    for _ in range(a.n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


# ---------------------------------------------------------------- setup
def cmd_setup(a):
    base = a.admin.rstrip("/")
    sess = requests.Session()
    deadline = now() + a.timeout

    def post(path, obj):
        r = sess.post(base + path, json=obj, timeout=5)
        if r.status_code not in (200, 201):
            sys.exit("setup: POST %s -> %d %s" % (path, r.status_code, r.text[:300]))

    for name, port in (("origin-a", a.port_a), ("origin-b", a.port_b)):
        post("/apis/gateway.sluice.dev/v1alpha1/namespaces/%s/backends" % NS, {
            "apiVersion": "gateway.sluice.dev/v1alpha1", "kind": "Backend",
            "metadata": {"name": name},
            "spec": {"type": "Static", "static": {"hosts": [{"host": "127.0.0.1", "port": port}]}}})
    post("/apis/gateway.networking.k8s.io/v1/namespaces/%s/gateways" % NS, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "bench", "annotations": {"sluice.dev/workers": str(a.workers)}},
        "spec": {"gatewayClassName": "sluice",
                 "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
                 "listeners": [{"name": "http", "protocol": "HTTP", "port": a.gw_port}]}})
    post("/apis/gateway.networking.k8s.io/v1/namespaces/%s/httproutes" % NS, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "bench"},
        "spec": {"parentRefs": [{"name": "bench"}],
                 "rules": [{"backendRefs": [
                     {"group": "gateway.sluice.dev", "kind": "Backend", "name": "origin-a"}]}]}})
    # Ready: /readyz 200 and the proxy answers from origin A.
    last = "nothing yet"
    while now() < deadline:
        try:
            rz = sess.get(base + "/readyz", timeout=2).status_code
            r = requests.get("http://127.0.0.1:%d/" % a.gw_port, timeout=2)
            last = "readyz %d, proxy %d %s" % (rz, r.status_code, r.headers.get(ORIGIN_HEADER))
            if rz == 200 and r.status_code == 200 and r.headers.get(ORIGIN_HEADER) == "A":
                print("setup: gateway with %d worker(s) on 127.0.0.1:%d ready (%s)" % (a.workers, a.gw_port, last))
                return
        except requests.RequestException as e:
            last = repr(e)
        time.sleep(0.05)
    sys.exit("setup: gateway not ready after %.0f s (last: %s)" % (a.timeout, last))


# ---------------------------------------------------------------- latency
class Admin:
    """One keep-alive connection to the admin API, reopened if it drops."""

    def __init__(self, hostport):
        self.host, self.port = split_hostport(hostport)
        self.conn = None

    def patch(self, backend):
        body = route_patch(backend)
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                t0 = now()
                self.conn.request("PATCH", ROUTE_PATH, body=body, headers=MERGE)
                r = self.conn.getresponse()
                t_ack = now()  # status line and headers of the answer arrived
                r.read()
                return r.status, t0, t_ack
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError


def probe_get(conn):
    """GET / on a keep-alive proxy connection; returns (status, origin, t_sent, t_received)."""
    t_sent = now()
    conn.request("GET", "/")
    r = conn.getresponse()
    t_recv = now()
    r.read()
    return r.status, r.headers.get(ORIGIN_HEADER), t_sent, t_recv


def log_window(path, t_from, t_to):
    """Lines of the sluiced log stamped between two wall-clock times (UTC, ms precision)."""
    if not path:
        return []
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                try:
                    st = time.strptime(line[:19], "%Y-%m-%dT%H:%M:%S")
                    t = calendar.timegm(st) + int(line[20:23]) / 1000.0
                except ValueError:
                    continue
                if t_from <= t <= t_to:
                    out.append(line.rstrip("\n"))
    except OSError:
        pass
    return out[:12]


def cmd_latency(a):
    admin = Admin(a.admin)
    ph, pp = split_hostport(a.proxy)
    current = "A"
    lat, lat_sent, patch_ms, stale_counts = [], [], [], []
    bad_patch = timeouts = probe_errors = non200 = flaps = outliers = 0
    t_end = now() + a.max_seconds
    done = 0
    for i in range(a.iters):
        if now() > t_end:
            print("latency: stopping after %d iterations (time bound %.0f s)" % (i, a.max_seconds))
            break
        target = "B" if current == "A" else "A"
        status, t0, t_ack = admin.patch("origin-" + target.lower())
        patch_ms.append(ms(t_ack - t0))
        if not 200 <= status < 300:
            bad_patch += 1
            print("latency: PATCH answered %d" % status)
            continue
        conn = http.client.HTTPConnection(ph, pp, timeout=5)  # fresh keep-alive session
        stale = 0
        seen = None
        deadline = t_ack + a.timeout
        while now() < deadline:
            try:
                st, origin, t_sent, t_recv = probe_get(conn)
            except (OSError, http.client.HTTPException) as e:
                probe_errors += 1
                print("latency: probe error: %r" % (e,))
                conn.close()
                conn = http.client.HTTPConnection(ph, pp, timeout=5)
                continue
            if st != 200:
                non200 += 1
            if origin == target:
                seen = (t_sent, t_recv)
                break
            stale += 1
        conn.close()
        current = target
        done += 1
        if seen is None:
            timeouts += 1
            print("latency: iteration %d: change to %s not seen within %.1f s" % (i, target, a.timeout))
            continue
        lat.append(ms(seen[1] - t_ack))
        if lat[-1] > a.outlier_ms:
            outliers += 1
        if lat[-1] > a.outlier_ms and outliers <= a.show_outliers:
            wall = time.time() - (now() - t_ack)  # wall clock of the 2xx, for the sluiced log
            print("latency: outlier: iteration %d, 2xx at %s.%03dZ, change seen %.1f ms later after %d stale responses"
                  % (i, time.strftime("%H:%M:%S", time.gmtime(wall)), int(wall * 1000) % 1000, lat[-1], stale))
            for line in log_window(a.sluiced_log, wall - 0.005, wall + lat[-1] / 1000.0 + 0.005):
                print("latency:   sluiced: " + line)
        lat_sent.append(ms(max(0.0, seen[0] - t_ack)))
        stale_counts.append(stale)
        # Once seen, every new connection must see it too (no worker left behind).
        for _ in range(a.confirm):
            c2 = http.client.HTTPConnection(ph, pp, timeout=5)
            try:
                st, origin, _, _ = probe_get(c2)
                if origin != target:
                    flaps += 1
            except (OSError, http.client.HTTPException):
                probe_errors += 1
            c2.close()
    if not lat:
        print("latency: no change was ever seen")
        print("LATENCY iterations=%d seen=0 timeouts=%d bad_patch=%d probe_errors=%d" % (done, timeouts, bad_patch, probe_errors))
        return
    stale_after = sum(1 for s in stale_counts if s > 0)
    if outliers > a.show_outliers:
        print("latency: ... %d more outliers not shown" % (outliers - a.show_outliers))
    print("latency: %d reloads, change seen in %d (not within %.1f s: %d); PATCH non-2xx: %d; slower than %.0f ms: %d"
          % (done, len(lat), a.timeout, timeouts, bad_patch, a.outlier_ms, outliers))
    print("latency: 2xx -> first response showing the change (received): median %.2f ms, p90 %.2f, p99 %.2f, max %.2f"
          % (statistics.median(lat), pct(lat, 90), pct(lat, 99), max(lat)))
    print("latency: 2xx -> that request sent: median %.2f ms, p99 %.2f, max %.2f"
          % (statistics.median(lat_sent), pct(lat_sent, 99), max(lat_sent)))
    print("latency: reloads where a request sent after the 2xx still got the old backend: %d of %d (max %d stale in a row)"
          % (stale_after, len(lat), max(stale_counts)))
    print("latency: PATCH round trip median %.2f ms, max %.2f; probe errors %d, probe non-200 %d, flaps after change %d"
          % (statistics.median(patch_ms), max(patch_ms), probe_errors, non200, flaps))
    print("LATENCY iterations=%d seen=%d timeouts=%d median_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
          "sent_median_ms=%.2f stale_reloads=%d max_stale=%d patch_median_ms=%.2f patch_max_ms=%.2f "
          "bad_patch=%d probe_errors=%d probe_non200=%d flaps=%d outliers=%d"
          % (done, len(lat), timeouts, statistics.median(lat), pct(lat, 90), pct(lat, 99), max(lat),
             statistics.median(lat_sent), stale_after, max(stale_counts), statistics.median(patch_ms),
             max(patch_ms), bad_patch, probe_errors, non200, flaps, outliers))


# ---------------------------------------------------------------- flip
def cmd_flip(a):
    admin = Admin(a.admin)
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
    t_start = now()
    t_end = t_start + a.duration
    k = 0
    ok = bad = errors = 0
    lat = []
    statuses = {}
    while not stop["flag"] and now() < t_end:
        target = "origin-b" if k % 2 == 0 else "origin-a"
        try:
            status, t0, t_ack = admin.patch(target)
            lat.append(ms(t_ack - t0))
            statuses[status] = statuses.get(status, 0) + 1
            if 200 <= status < 300:
                ok += 1
            else:
                bad += 1
        except (OSError, http.client.HTTPException) as e:
            errors += 1
            print("flip: PATCH failed: %r" % (e,))
        k += 1
        wake = t_start + k * a.interval
        delay = wake - now()
        if delay > 0:
            time.sleep(delay)
    # Leave the route on origin A, as the next phase expects.
    if k % 2 == 1:
        try:
            admin.patch("origin-a")
        except (OSError, http.client.HTTPException):
            pass
    el = now() - t_start
    if lat:
        print("flip: %d route changes in %.1f s (2xx %d, other %d %s, failed %d); PATCH median %.2f ms, p99 %.2f, max %.2f"
              % (k, el, ok, bad, statuses, errors, statistics.median(lat), pct(lat, 99), max(lat)))
    print("FLIP changes=%d ok=%d bad=%d failed=%d patch_median_ms=%.2f patch_p99_ms=%.2f patch_max_ms=%.2f"
          % (k, ok, bad, errors, statistics.median(lat) if lat else -1, pct(lat, 99) if lat else -1,
             max(lat) if lat else -1))


# ---------------------------------------------------------------- kill
def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == ppid and fields[0] != "Z":
            out.append(int(d))
    return sorted(out)


def client_inodes(port):
    """Socket inodes of ESTABLISHED TCP connections whose local port is `port`."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(parts[9])
        except OSError:
            pass
    return inodes


def client_conns(pids, port):
    """{pid: number of client connections (on the gateway port) it holds}."""
    inodes = client_inodes(port)
    out = {}
    for pid in pids:
        n = 0
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    n += 1
        except OSError:
            pass
        out[pid] = n
    return out


def cmd_conns(a):
    c = client_conns(children(a.master), a.port)
    print("CONNS " + "+".join(str(c[p]) for p in sorted(c)))


def syscw(pid):
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("syscw:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cmd_kill(a):
    ph, pp = split_hostport(a.proxy)
    t_start = now()
    times = [float(x) for x in a.at.split(",")]
    results = []
    for n, at in enumerate(times):
        delay = t_start + at - now()
        if delay > 0:
            time.sleep(delay)
        before = children(a.master)
        if not before:
            print("kill: no worker of %d to kill at t=%.1f s" % (a.master, at))
            results.append(None)
            continue
        # The busiest worker: the one holding the most client connections.
        socks = client_conns(before, pp)
        victim = max(before, key=lambda p: socks[p])
        t_kill = now()
        os.kill(victim, signal.SIGKILL)
        respawned = served = None
        new = None
        probes = probe_errors = probe_non200 = 0
        deadline = t_kill + a.timeout
        # A worker is "started" when a new child of the master appears; it has "served" once it
        # has made 2 write(v) calls beyond the single log line it writes when it starts
        # (forwarding a request upstream and writing the response to the client).
        while now() < deadline and served is None:
            if new is None:
                for p in children(a.master):
                    if p not in before:
                        new = p
                        respawned = now()
                        break
            if new is not None:
                w = syscw(new)
                if w is not None and w >= 3:
                    served = now()
                    break
            # Fresh connections give the new worker a chance to accept one even when the
            # load generator's keep-alive connections all sit on another worker.
            try:
                c = http.client.HTTPConnection(ph, pp, timeout=1)
                c.request("GET", "/", headers={"Connection": "close"})
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    probe_non200 += 1
                c.close()
            except (OSError, http.client.HTTPException):
                probe_errors += 1
            probes += 1
            time.sleep(0.001)
        res = {"at": at, "victim": victim, "new": new, "victim_sockets": socks[victim],
               "respawn_ms": ms(respawned - t_kill) if respawned else None,
               "served_ms": ms(served - t_kill) if served else None,
               "probes": probes, "probe_errors": probe_errors, "probe_non200": probe_non200}
        results.append(res)
        print("kill: t=%.1f s killed worker %d (holding %d client connections; workers had %s); new worker %s after %s ms, "
              "first served after %s ms (%d probe requests meanwhile: %d failed, %d non-200)"
              % (at, victim, socks[victim], "/".join(str(socks[p]) for p in before), new, "%.1f" % res["respawn_ms"] if respawned else "never",
                 "%.1f" % res["served_ms"] if served else "never (within %.0f s)" % a.timeout,
                 probes, probe_errors, probe_non200))
    ok = [r for r in results if r]
    kv = ["kills=%d" % len(ok)]
    for i, r in enumerate(ok, 1):
        kv.append("respawn%d_ms=%s" % (i, "%.1f" % r["respawn_ms"] if r["respawn_ms"] is not None else "never"))
        kv.append("served%d_ms=%s" % (i, "%.1f" % r["served_ms"] if r["served_ms"] is not None else "never"))
    kv.append("probe_errors=%d" % sum(r["probe_errors"] for r in ok))
    kv.append("probe_non200=%d" % sum(r["probe_non200"] for r in ok))
    print("KILL " + " ".join(kv))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("freeports")
    s.add_argument("n", type=int)
    s = sub.add_parser("setup")
    s.add_argument("--admin", required=True, help="http://127.0.0.1:PORT")
    s.add_argument("--workers", type=int, required=True)
    s.add_argument("--gw-port", type=int, required=True)
    s.add_argument("--port-a", type=int, required=True)
    s.add_argument("--port-b", type=int, required=True)
    s.add_argument("--timeout", type=float, default=15)
    s = sub.add_parser("latency")
    s.add_argument("--admin", required=True, help="127.0.0.1:PORT")
    s.add_argument("--proxy", required=True, help="127.0.0.1:PORT")
    s.add_argument("--iters", type=int, default=200)
    s.add_argument("--timeout", type=float, default=3.0, help="per reload")
    s.add_argument("--confirm", type=int, default=2, help="fresh connections checked after the change")
    s.add_argument("--max-seconds", type=float, default=60)
    s.add_argument("--outlier-ms", type=float, default=20, help="print reloads slower than this")
    s.add_argument("--sluiced-log", help="print its lines around outliers")
    s.add_argument("--show-outliers", type=int, default=4, help="how many outliers to detail")
    s = sub.add_parser("flip")
    s.add_argument("--admin", required=True)
    s.add_argument("--interval", type=float, default=0.05)
    s.add_argument("--duration", type=float, required=True)
    s = sub.add_parser("conns")
    s.add_argument("--master", type=int, required=True)
    s.add_argument("--port", type=int, required=True)
    s = sub.add_parser("kill")
    s.add_argument("--master", type=int, required=True)
    s.add_argument("--proxy", required=True)
    s.add_argument("--at", default="5,10")
    s.add_argument("--timeout", type=float, default=4.0)
    a = p.parse_args()
    {"freeports": cmd_freeports, "setup": cmd_setup, "latency": cmd_latency, "flip": cmd_flip,
     "kill": cmd_kill, "conns": cmd_conns}[a.cmd](a)


if __name__ == "__main__":
    main()

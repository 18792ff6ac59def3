#!/usr/bin/python3
"""Failover benchmark: under steady load, one of three endpoints fails and comes
back; how many requests fail, and how long until traffic returns to it. Two
ways to fail, side by side in one run:

  kill    SIGKILL of its whole nginx (connections reset, new ones refused), then
          a fresh start
  freeze  SIGSTOP of its nginx (connections accepted by the kernel, never
          answered: a black hole), then SIGCONT

Every proxy gets the same 1 s per-try response timeout, 2 retries where it can
retry, and 1 s health checks where it has them:

  sluice-active   BackendPolicy healthCheck (HTTP, every 1 s) and route retry
  sluice-passive  no policy at all: sluice's defaults (next endpoint on a
                  refused or reset connection; a refusing endpoint skipped 10 s)
  haproxy         option httpchk (inter 1s fall 1 rise 1), observe layer7,
                  retries 2 with redispatch and retry-on conn-failure
  nginx           passive max_fails=1 fail_timeout=10s, proxy_next_upstream
                  error timeout

The load is a Python client on loopback (8 threads, keep-alive connections,
each request timed); it is modest on purpose: the point is the error timeline,
not throughput. Every request that is not a 200 (or gets no answer) counts as
an error. Usage: bench/failover.py [--sluiced PATH] [--seconds 14]"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_net import free_port, wait_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)




ORIGIN_CONF = """daemon off; master_process on; worker_processes 1; pid {d}/nginx.pid;
error_log {d}/error.log crit;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
  uwsgi_temp_path {d}; scgi_temp_path {d}; keepalive_requests 100000000;
  server {{ listen 127.0.0.1:{port}; location / {{ add_header X-Origin {name}; return 200 "ok"; }} }} }}
"""

NGINX_CONF = """daemon off; master_process on; worker_processes 1; pid {d}/nginx.pid;
error_log {d}/error.log crit;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
  uwsgi_temp_path {d}; scgi_temp_path {d};
  upstream origins {{ {servers} keepalive 64; }}
  server {{ listen 127.0.0.1:{port};
    location / {{ proxy_pass http://origins; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_next_upstream error timeout; proxy_connect_timeout 1s; proxy_read_timeout 1s; }} }} }}
"""

HAPROXY_CONF = """global
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 1s
    timeout client 30s
    timeout server 1s
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend fe
    bind 127.0.0.1:{port}
    default_backend origins
backend origins
    option httpchk GET /
    http-check expect status 200
    default-server inter 1s fall 1 rise 1 observe layer7 error-limit 1 on-error mark-down
{servers}
"""


class Origin:
    def __init__(self, tmp, name):
        self.name, self.port = name, free_port()
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(ORIGIN_CONF.format(d=self.dir, port=self.port, name=name))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["nginx", "-c", os.path.join(self.dir, "nginx.conf"), "-p", self.dir],
                                     start_new_session=True, stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            sys.exit("origin %s did not start" % self.name)

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def freeze(self, on):
        os.killpg(self.proc.pid, signal.SIGSTOP if on else signal.SIGCONT)


class Load:
    """Threads sending GET / on keep-alive connections, recording each outcome."""

    def __init__(self, port, threads=8):
        self.port, self.threads = port, threads
        self.records = []  # (time, ok, origin)
        self.durations = []  # each request's time (from its start to the next one's)
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def _run(self):
        conn, mine, took = None, [], []
        while not self.stop.is_set():
            t = time.monotonic()
            if mine:
                took.append(t - mine[-1][0])
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/")
                r = conn.getresponse()
                r.read()
                mine.append((t, r.status == 200, r.getheader("X-Origin")))
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                mine.append((t, False, None))
                if conn:
                    conn.close()
                conn = None
        with self.lock:
            self.records.extend(mine)
            self.durations.extend(took)

    def start(self):
        self.workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for w in self.workers:
            w.start()

    def finish(self):
        self.stop.set()
        for w in self.workers:
            w.join(10)
        return sorted(self.records)


def admin_call(admin, method, path, obj):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (admin, path), method=method,
                                 data=json.dumps(obj).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


def start_sluice(tmp, sluiced, origins, active):
    admin, port = free_port(), free_port()
    state = tempfile.mkdtemp(dir=tmp)
    proc = subprocess.Popen([sluiced, "--state-dir", state, "--admin", "127.0.0.1:%d" % admin, "--access-log", "off"],
                            stdout=open(os.path.join(state, "log"), "w"), stderr=subprocess.STDOUT)
    wait_port(admin)
    sg, gw = "/apis/gateway.sluice.dev/v1alpha1/namespaces/default", \
        "/apis/gateway.networking.k8s.io/v1/namespaces/default"
    admin_call(admin, "POST", sg + "/backends", {
        "apiVersion": "gateway.sluice.dev/v1alpha1", "kind": "Backend", "metadata": {"name": "be"},
        "spec": {"type": "Static", "static": {"hosts": [{"host": "127.0.0.1", "port": o.port} for o in origins]}}})
    rule = {"backendRefs": [{"group": "gateway.sluice.dev", "kind": "Backend", "name": "be"}],
            "timeouts": {"backendRequest": "1s"}}
    if active:
        rule["retry"] = {"attempts": 2, "codes": [502, 503, 504]}
        admin_call(admin, "POST", sg + "/backendpolicies", {
            "apiVersion": "gateway.sluice.dev/v1alpha1", "kind": "BackendPolicy", "metadata": {"name": "hc"},
            "spec": {"targetRefs": [{"group": "gateway.sluice.dev", "kind": "Backend", "name": "be"}],
                     "healthCheck": {"interval": "1s", "timeout": "500ms", "unhealthyThreshold": 1,
                                     "healthyThreshold": 1, "http": {"path": "/"}}}})
    admin_call(admin, "POST", gw + "/httproutes", {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r"},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [rule]}})
    admin_call(admin, "POST", gw + "/gateways", {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "gw", "annotations": {"sluice.dev/workers": "1"}},
        "spec": {"gatewayClassName": "sluice", "listeners": [{"name": "http", "port": port, "protocol": "HTTP"}]}})
    wait_port(port)
    time.sleep(1.5)  # the health check's first round
    return proc, port


def start_haproxy(tmp, origins):
    port = free_port()
    servers = "\n".join("    server %s 127.0.0.1:%d check" % (o.name, o.port) for o in origins)
    path = os.path.join(tmp, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(HAPROXY_CONF.format(port=port, servers=servers))
    proc = subprocess.Popen(["haproxy", "-f", path], stderr=subprocess.DEVNULL)
    wait_port(port)
    time.sleep(1.5)
    return proc, port


def start_nginx(tmp, origins):
    port = free_port()
    d = os.path.join(tmp, "nginx-proxy")
    os.makedirs(d, exist_ok=True)
    servers = " ".join("server 127.0.0.1:%d max_fails=1 fail_timeout=10s;" % o.port for o in origins)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(d=d, port=port, servers=servers))
    proc = subprocess.Popen(["nginx", "-c", os.path.join(d, "nginx.conf"), "-p", d], start_new_session=True,
                            stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def scenario(name, start, tmp, seconds, mode):
    origins = [Origin(tmp, "%s-o%d" % (name, i)) for i in range(3)]
    for o in origins:
        o.start()
    proc, port = start(origins)
    victim = origins[1]
    load = Load(port)
    t0 = time.monotonic()
    load.start()
    kill_at, back_at = t0 + seconds * 0.3, t0 + seconds * 0.65
    time.sleep(kill_at - time.monotonic())
    if mode == "kill":
        victim.kill()
    else:
        victim.freeze(True)
    time.sleep(back_at - time.monotonic())
    if mode == "kill":
        victim.start()
    else:
        victim.freeze(False)
    restarted = time.monotonic()
    time.sleep(t0 + seconds - time.monotonic())
    records = load.finish()
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        proc.terminate()
    proc.wait(10)
    for o in origins:
        try:
            o.freeze(False)
            o.kill()
        except ProcessLookupError:
            pass
    errors = [t for t, ok, _ in records if not ok]
    after_kill = [t for t in errors if t >= kill_at - 0.01]
    reroute = (max(after_kill) - kill_at) if after_kill else 0.0
    back = [t for t, ok, o in records if ok and o == victim.name and t >= restarted]
    return {"proxy": name, "mode": mode, "requests": len(records), "errors": len(errors),
            "slow": sum(1 for d in load.durations if d >= 1.0),
            "reroute_ms": round(reroute * 1000), "back_after_ms": round((back[0] - restarted) * 1000) if back else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluiced", default=os.path.join(ROOT, "build", "sbin", "sluiced"))
    ap.add_argument("--seconds", type=float, default=14)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sluice-failover-")
    results = []
    proxies = [("sluice-active", lambda o: start_sluice(tmp, args.sluiced, o, True)),
               ("sluice-passive", lambda o: start_sluice(tmp, args.sluiced, o, False))]
    if shutil.which("haproxy"):
        proxies.append(("haproxy", lambda o: start_haproxy(tmp, o)))
    if shutil.which("nginx"):
        proxies.append(("nginx", lambda o: start_nginx(tmp, o)))
    try:
        for mode in ("kill", "freeze"):
            for name, start in proxies:
                results.append(scenario(name, start, tmp, args.seconds, mode))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%-7s %-15s %9s %7s %9s %11s %14s" % ("mode", "proxy", "requests", "errors", "slow_1s", "reroute_ms",
                                               "back_after_ms"))
    for r in results:
        print("%-7s %-15s %9d %7d %9d %11d %14s" % (r["mode"], r["proxy"], r["requests"], r["errors"], r["slow"],
                                                    r["reroute_ms"],
                                                    r["back_after_ms"] if r["back_after_ms"] is not None else "never"))
    print("(slow_1s: requests that took a second or more (a try timed out); reroute_ms: from the failure to the "
          "last failed request; back_after_ms: from the restart (SIGCONT) to the first answer from that endpoint)")


if __name__ == "__main__":
    main()

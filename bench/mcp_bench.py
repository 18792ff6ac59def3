#!/usr/bin/python3
"""Benchmark of the MCP gateway (docs/ai.md, MCP):

1. added latency of tools/call: the same call, one after the other over one
   keep-alive connection, sent straight to an MCP server and through sluice
   (a route to a Backend of type MCP with that one server as its target):
   median and p99 of each, and the difference;
2. tools/list merge: 10 targets of 100 tools each behind one route; the time of
   a whole tools/list through sluice (ten calls fanned out, merged, prefixed),
   against one target's tools/list sent straight to it.

The MCP servers are tests/mcp/paged_server.mjs (the official SDK's server
classes; `tests/tools/install.sh` installs the SDK). Every exchange is checked
(the answer's text, the count of tools); a wrong one stops the run.

    bench/mcp_bench.py --sluiced build/sbin/sluiced [--calls 2000] [--lists 200]

Loads go to 127.0.0.1 only and stop by themselves.
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
MCP_DIR = os.path.join(HERE, "..", "tests", "mcp")
ACCEPT = "application/json, text/event-stream"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def admin_call(admin, method, path, obj):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (admin, path), method=method,
                                 data=json.dumps(obj).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


class Client:
    """One keep-alive connection speaking MCP's Streamable HTTP."""

    def __init__(self, port, path="/mcp"):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.path = path
        self.session = None
        self.ids = 0

    def post(self, method, params=None, notify=False):
        body = {"jsonrpc": "2.0", "method": method, "params": params or {}}
        if not notify:
            self.ids += 1
            body["id"] = self.ids
        headers = {"Content-Type": "application/json", "Accept": ACCEPT}
        if self.session:
            headers["Mcp-Session-Id"] = self.session
            headers["MCP-Protocol-Version"] = "2025-11-25"
        self.conn.request("POST", self.path, json.dumps(body), headers)
        r = self.conn.getresponse()
        data = r.read()
        if notify:
            return None
        if r.getheader("Mcp-Session-Id"):
            self.session = r.getheader("Mcp-Session-Id")
        if (r.getheader("Content-Type") or "").startswith("text/event-stream"):
            events = [json.loads(line[6:]) for line in data.decode().splitlines() if line.startswith("data: ") and len(line) > 6]
            msg = events[-1]
        else:
            msg = json.loads(data)
        if "result" not in msg:
            sys.exit("%s failed: %s" % (method, msg))
        return msg["result"]

    def open(self):
        self.post("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                 "clientInfo": {"name": "bench", "version": "1"}})
        self.post("notifications/initialized", notify=True)
        return self


def timed(fn, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def summary(ms):
    ms = sorted(ms)
    return statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sluiced", required=True)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--lists", type=int, default=200)
    ap.add_argument("--targets", type=int, default=10)
    ap.add_argument("--tools", type=int, default=100)
    args = ap.parse_args()
    node = shutil.which("node")
    if not node or not os.path.isdir(os.path.join(MCP_DIR, "node_modules", "@modelcontextprotocol", "sdk")):
        sys.exit("needs node and tests/mcp/node_modules (tests/tools/install.sh)")
    tmp = tempfile.mkdtemp(prefix="mcp-bench-")
    procs = []
    try:
        servers = []
        for i in range(args.targets):
            port = free_port()
            env = dict(os.environ, PORT=str(port), TOOLS=str(args.tools), PAGE=str(args.tools + 2))
            procs.append(subprocess.Popen([node, os.path.join(MCP_DIR, "paged_server.mjs")], env=env, cwd=MCP_DIR,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            servers.append(port)
        admin, port = free_port(), free_port()
        state = os.path.join(tmp, "state")
        os.makedirs(state)
        procs.append(subprocess.Popen([args.sluiced, "--state-dir", state, "--admin", "127.0.0.1:%d" % admin,
                                       "--access-log", "off"], stdout=open(os.path.join(tmp, "log"), "w"),
                                      stderr=subprocess.STDOUT))
        if not all(wait_port(p) for p in servers + [admin]):
            sys.exit("a server did not start")
        sg = "/apis/gateway.sluice.dev/v1alpha1/namespaces/default"
        gw = "/apis/gateway.networking.k8s.io/v1/namespaces/default"

        def backend(name, ports):
            admin_call(admin, "POST", sg + "/backends", {
                "apiVersion": "gateway.sluice.dev/v1alpha1", "kind": "Backend", "metadata": {"name": name},
                "spec": {"type": "MCP", "mcp": {"targets": [
                    {"name": "t%d" % i, "host": "127.0.0.1", "port": p} for i, p in enumerate(ports)]}}})
            admin_call(admin, "POST", gw + "/httproutes", {
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": name},
                "spec": {"parentRefs": [{"name": "gw"}], "rules": [{
                    "matches": [{"path": {"type": "PathPrefix", "value": "/" + name}}],
                    "backendRefs": [{"group": "gateway.sluice.dev", "kind": "Backend", "name": name}]}]}})

        backend("one", servers[:1])
        backend("many", servers)
        admin_call(admin, "POST", gw + "/gateways", {
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "gw", "annotations": {"sluice.dev/workers": "1"}},
            "spec": {"gatewayClassName": "sluice", "listeners": [{"name": "http", "port": port, "protocol": "HTTP"}]}})
        if not wait_port(port):
            sys.exit("the gateway did not listen")
        time.sleep(1.0)

        direct = Client(servers[0]).open()
        gateway = Client(port, "/one").open()

        def call(c, expect):
            def run():
                res = c.post("tools/call", {"name": "tool-7", "arguments": {"n": 1}})
                if res["content"][0]["text"] != expect:
                    sys.exit("wrong answer: %s" % res)
            return run

        expect = 'tool-7 {"n":1}'
        for c in (direct, gateway):
            timed(call(c, expect), 100)  # warm-up
        d = timed(call(direct, expect), args.calls)
        g = timed(call(gateway, expect), args.calls)
        dm, dp = summary(d)
        gm, gp = summary(g)
        print("tools/call, %d sequential calls over one keep-alive connection:" % args.calls)
        print("  direct:      median %.3f ms, p99 %.3f ms" % (dm, dp))
        print("  via sluice:  median %.3f ms, p99 %.3f ms" % (gm, gp))
        print("  added:       median %.3f ms, p99 %.3f ms" % (gm - dm, gp - dp))

        many = Client(port, "/many").open()
        want = args.targets * (args.tools + 2)

        def merged():
            n = len(many.post("tools/list")["tools"])
            if n != want:
                sys.exit("tools/list gave %d tools, not %d" % (n, want))

        def single():
            n = len(direct.post("tools/list")["tools"])
            if n != args.tools + 2:
                sys.exit("tools/list gave %d tools" % n)

        # What the gateway waits for: all ten targets asked at once (one thread and connection each).
        clients = [Client(p).open() for p in servers]
        pool = ThreadPoolExecutor(max_workers=len(clients))

        def parallel():
            counts = list(pool.map(lambda c: len(c.post("tools/list")["tools"]), clients))
            if sum(counts) != want:
                sys.exit("the targets listed %d tools, not %d" % (sum(counts), want))

        timed(merged, 20)
        timed(single, 20)
        timed(parallel, 20)
        m = timed(merged, args.lists)
        s = timed(single, args.lists)
        pa = timed(parallel, args.lists)
        pool.shutdown()
        mm, mp = summary(m)
        sm, sp = summary(s)
        print("tools/list, %d targets of %d tools (%d tools merged), %d lists:" % (args.targets, args.tools + 2,
                                                                                 want, args.lists))
        print("  one target direct:       median %.3f ms, p99 %.3f ms" % (sm, sp))
        print("  all targets direct, at once (the client does it): median %.3f ms, p99 %.3f ms" % summary(pa))
        print("  merged via sluice:       median %.3f ms, p99 %.3f ms" % (mm, mp))
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""L4 (TCP passthrough) benchmark: bulk throughput and connection rate through
sluice, HAProxy and nginx side by side in one run, all on 127.0.0.1.

Targets (each with one worker / thread, no logging):

  direct       the client straight to the backend: what the load tools manage alone
  sluice       a Gateway with TCP listeners and TCPRoutes to Static Backends; the
               bytes move by splice(2) both ways (the default)
  sluice-copy  the same with --splice-min-bytes 0: bytes copied through the worker
  haproxy      mode tcp, its defaults plus `option splice-request` and `option
               splice-response`: it splices both ways too (`option splice-auto`
               was tried first: in 2.6.12 its heuristics never chose to splice
               here, one splice(2) call in 256 MiB, the rest recvfrom/sendto)
  haproxy-copy mode tcp with its defaults: no splicing, 16 KiB buffers
  nginx        stream { proxy_pass } with its defaults (proxy_buffer_size 16k);
               skipped, with the reason, when the stream module is not there
               (Debian: package libnginx-mod-stream)

The backend and the clients are Python processes forked by this script (no
socat or iperf3 needed): a sender moves its bytes with os.sendfile() from a
memfd (no copy through user space), a receiver reads with recv_into() into a
1 MiB buffer (one copy, as any real receiver), so both ends run near line rate
and most of the CPU is left to the proxy. Measurements:

  down1 / downN  1 and N (--conns, 8) connections download --bytes (1 GiB) in
                 all from the backend through the proxy: Gbit/s
  up1 / upN      the same amount uploaded to the backend, which answers with the
                 count it received: Gbit/s (--no-upload skips them)
  conn/s         --rate-procs (4) client processes, each a loop of: connect,
                 read the backend's 6-byte greeting and its close, close; the
                 backend (--greet-procs, 2, processes) greets and closes
  CPU            the proxy's own CPU time (utime+stime of all its processes, from
                 /proc) per GiB moved (downN) and per connection (conn/s)

Every measurement stops by itself (a bulk one after --max-secs even if its bytes
have not all arrived, then reported as 'capped'; the connection rate after
--rate-secs) and runs --rounds (2) times, rounds interleaved over the targets so
that drift spreads over all of them; the best round is kept. Every exchange is
checked (byte counts, the greeting); a failure is counted as an error. Every
process started here is stopped by its PID on exit.

Usage: bench/l4_throughput.py [--sluiced PATH] [--proxies LIST] [--rounds 2] ...
Env: SLUICED (default build/sbin/sluiced; a copy is run), NGINX, HAPROXY
(binaries, default from PATH), NGINX_STREAM_MODULE (default
/usr/lib/nginx/modules/ngx_stream_module.so when nginx has it as a dynamic module)."""

import argparse
import grp
import json
import multiprocessing
import os
import pwd
import resource
import shlex
import shutil
import signal
import socket
import struct
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
GW = "gateway.networking.k8s.io"
SG = "gateway.sluice.dev"
GREETING = b"hello\n"
DATA_BYTES = 64 << 20  # the memfd the senders send from
RECV_BUF = 1 << 20
CHUNK = 4 << 20  # one sendfile() call at most
CLK_TCK = os.sysconf("SC_CLK_TCK")
ALL_TARGETS = ["direct", "sluice", "sluice-copy", "haproxy", "haproxy-copy", "nginx"]
DEFAULT_TARGETS = "direct,sluice,sluice-copy,haproxy,haproxy-copy,nginx"
# Ratio rows: like against like (splicing with splicing, copying with copying), and what splicing is worth.
PAIRS = [("sluice", "haproxy"), ("sluice", "nginx"), ("sluice-copy", "haproxy-copy"), ("sluice-copy", "nginx"),
         ("sluice", "sluice-copy"), ("haproxy", "haproxy-copy")]
SPLICE_OPT = "    option splice-request\n    option splice-response"  # haproxy's splicing, both ways




def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# ---------------------------------------------------------------------------
# /proc
# ---------------------------------------------------------------------------

def proc_stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()  # fields from 3 (state) on
    except OSError:
        return None


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[0] != "Z" and int(st[1]) == pid:
                out.append(int(d))
    return out


def cpu_seconds(pids):
    """utime+stime of these processes (all their threads), in seconds."""
    t = 0
    for p in pids:
        st = proc_stat(p)
        if st:
            t += int(st[11]) + int(st[12])
    return t / CLK_TCK


# ---------------------------------------------------------------------------
# Backend: bulk (download / upload) and greet servers, forked processes
# ---------------------------------------------------------------------------

def make_data():
    fd = os.memfd_create("l4bench")
    block = os.urandom(1 << 20)
    for _ in range(DATA_BYTES >> 20):
        os.write(fd, block)
    return fd


def send_n(sock, data_fd, n):
    """Sends n bytes from the memfd with sendfile(); returns what was sent."""
    sent, fd = 0, sock.fileno()
    while sent < n:
        off = sent % DATA_BYTES
        k = os.sendfile(fd, data_fd, off, min(n - sent, DATA_BYTES - off, CHUNK))
        if k == 0:
            break
        sent += k
    return sent


def read_line(sock, limit=64):
    b = b""
    while not b.endswith(b"\n") and len(b) < limit:
        d = sock.recv(1)
        if not d:
            break
        b += d
    return b


def bulk_conn(c, data_fd):
    """One bulk connection: 'D n\\n' -> n bytes then close; 'U n\\n' + n bytes
    -> 'ok n\\n' (or the count so far when the client ends early). Neither
    direction waits for a half-close to pass through the proxy."""
    try:
        head = read_line(c).split()
        if len(head) == 2 and head[0] == b"D":
            send_n(c, data_fd, int(head[1]))
        elif len(head) == 2 and head[0] == b"U":
            want = int(head[1])
            buf = memoryview(bytearray(RECV_BUF))
            got = 0
            while got < want:
                n = c.recv_into(buf, min(RECV_BUF, want - got))
                if not n:
                    break
                got += n
            c.sendall(b"ok %d\n" % got)
    except OSError:
        pass
    c.close()


def bulk_server(ls, data_fd):
    while True:
        c, _ = ls.accept()
        threading.Thread(target=bulk_conn, args=(c, data_fd), daemon=True).start()


def greet_server(ls):
    while True:
        try:
            c, _ = ls.accept()
        except OSError:
            continue
        try:
            c.send(GREETING)
        except OSError:
            pass
        c.close()


def listen_socket():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    return s


# ---------------------------------------------------------------------------
# Clients, forked per measurement
# ---------------------------------------------------------------------------

def timeouts(s, secs):
    tv = struct.pack("ll", int(secs), 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)


def bulk_client(port, direction, nbytes, max_secs, start_at, data_fd, q):
    """One connection moving nbytes down or up; puts (t0, t1, bytes, error, capped)."""
    err, capped, moved, t0 = None, False, 0, start_at
    try:
        s = socket.socket()
        timeouts(s, 10)
        s.connect(("127.0.0.1", port))
        time.sleep(max(0.0, start_at - time.monotonic()))
        t0 = time.monotonic()
        deadline = t0 + max_secs
        if direction == "down":
            buf = bytearray(RECV_BUF)
            s.sendall(b"D %d\n" % nbytes)
            while moved < nbytes:
                n = s.recv_into(buf)
                if not n:
                    err = "connection closed after %d of %d bytes" % (moved, nbytes)
                    break
                moved += n
                if time.monotonic() > deadline:
                    capped = True
                    break
        else:
            s.sendall(b"U %d\n" % nbytes)
            sent = 0
            while sent < nbytes:
                sent += send_n(s, data_fd, min(nbytes - sent, CHUNK))
                if time.monotonic() > deadline:
                    capped = True
                    break
            if capped:
                moved = sent  # (sent, not yet all received: the backend waits for the rest)
            else:
                reply = read_line(s).split()
                if len(reply) != 2 or reply[0] != b"ok":
                    err = "no count from the backend (%r)" % reply
                else:
                    moved = int(reply[1])
                    if moved != sent:
                        err = "backend got %d of %d bytes" % (moved, sent)
        t1 = time.monotonic()
        s.close()
    except OSError as e:
        err, t1 = "%s after %d bytes" % (e, moved), time.monotonic()
    q.put((t0, t1, moved, err, capped))


def rate_client(port, secs, start_at, q):
    """Connections one after another for secs: connect, read the greeting and
    the close, close. Puts (connections, errors, first error)."""
    time.sleep(max(0.0, start_at - time.monotonic()))
    end = time.monotonic() + secs
    n = errs = 0
    first = None
    addr = ("127.0.0.1", port)
    while time.monotonic() < end:
        s = socket.socket()
        try:
            timeouts(s, 5)
            s.connect(addr)
            got = b""
            while True:
                d = s.recv(64)
                if not d:
                    break
                got += d
            if got == GREETING:
                n += 1
            else:
                errs += 1
                first = first or "got %r" % got
        except OSError as e:
            errs += 1
            first = first or str(e)
        finally:
            s.close()
    q.put((n, errs, first))


CTX = multiprocessing.get_context("fork")


def run_procs(targets, timeout):
    """Starts one process per (function, args), each putting one result on the
    queue passed last; returns the results. Processes still running after
    timeout are killed (their result is missing)."""
    q = CTX.Queue()
    procs = [CTX.Process(target=f, args=args + (q,), daemon=True) for f, args in targets]
    for p in procs:
        p.start()
    out = []
    end = time.monotonic() + timeout
    for _ in procs:
        try:
            out.append(q.get(timeout=max(0.1, end - time.monotonic())))
        except Exception:  # queue.Empty
            break
    for p in procs:
        p.join(max(0.1, end - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()
    return out


# ---------------------------------------------------------------------------
# Proxies
# ---------------------------------------------------------------------------

class Proxy:
    """A started proxy: its name, bulk and greet ports, its master process."""

    def __init__(self, name, bulk, greet, proc=None, session=False):
        self.name, self.bulk, self.greet, self.proc, self.session = name, bulk, greet, proc, session
        self.pids_seen = set()

    def pids(self):
        if not self.proc:
            return []
        ps = [self.proc.pid] + children_of(self.proc.pid)
        self.pids_seen.update(ps)
        return ps

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        self.pids()
        try:
            if self.session:
                os.killpg(self.proc.pid, signal.SIGTERM)
            else:
                self.proc.terminate()
            self.proc.wait(10)
        except (subprocess.TimeoutExpired, ProcessLookupError, PermissionError):
            self.proc.kill()
            self.proc.wait(5)
        for p in self.pids_seen - {self.proc.pid}:  # a worker that outlived its master
            st = proc_stat(p)
            if st and st[0] != "Z":
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def admin_call(admin, method, path, obj):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (admin, path), method=method,
                                 data=json.dumps(obj).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


def start_sluice(tmp, name, sluiced, backends, workers, splice):
    admin, bulk, greet = free_port(), free_port(), free_port()
    state = os.path.join(tmp, name)
    os.makedirs(state)
    args = [sluiced, "--state-dir", state, "--admin", "127.0.0.1:%d" % admin, "--access-log", "off",
            "--log-level", "warn"]
    if not splice:
        args += ["--splice-min-bytes", "0"]
    proc = subprocess.Popen(args, stdout=open(os.path.join(state, "log"), "w"), stderr=subprocess.STDOUT)
    p = Proxy(name, bulk, greet, proc)
    try:
        configure_sluice(admin, backends, workers, bulk, greet)
    except (OSError, RuntimeError):
        p.stop()
        raise RuntimeError("%s: sluiced could not be set up (log: %s/log)" % (name, state))
    return p


def configure_sluice(admin, backends, workers, bulk, greet):
    if not wait_port(admin):
        raise RuntimeError("no admin port")
    ns = "/namespaces/default"
    for be, port in backends.items():
        admin_call(admin, "POST", "/apis/%s/v1alpha1%s/backends" % (SG, ns), {
            "apiVersion": SG + "/v1alpha1", "kind": "Backend", "metadata": {"name": be},
            "spec": {"type": "Static", "static": {"hosts": [{"host": "127.0.0.1", "port": port}]}}})
        admin_call(admin, "POST", "/apis/%s/v1alpha2%s/tcproutes" % (GW, ns), {
            "apiVersion": GW + "/v1alpha2", "kind": "TCPRoute", "metadata": {"name": be},
            "spec": {"parentRefs": [{"name": "l4", "sectionName": be}],
                     "rules": [{"backendRefs": [{"group": SG, "kind": "Backend", "name": be}]}]}})
    admin_call(admin, "POST", "/apis/%s/v1%s/gateways" % (GW, ns), {
        "apiVersion": GW + "/v1", "kind": "Gateway",
        "metadata": {"name": "l4", "annotations": {"sluice.dev/workers": str(workers)}},
        "spec": {"gatewayClassName": "sluice", "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
                 "listeners": [{"name": "bulk", "port": bulk, "protocol": "TCP"},
                               {"name": "greet", "port": greet, "protocol": "TCP"}]}})


HAPROXY_CONF = """# bench/l4_throughput.py: {name}
global
    nbthread {workers}
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
{splice}
frontend bulk
    bind 127.0.0.1:{bulk} backlog 4096
    default_backend bulk
backend bulk
    server bulk 127.0.0.1:{bulk_be}
frontend greet
    bind 127.0.0.1:{greet} backlog 4096
    default_backend greet
backend greet
    server greet 127.0.0.1:{greet_be}
"""


def start_haproxy(tmp, name, haproxy, backends, workers, splice):
    bulk, greet = free_port(), free_port()
    d = os.path.join(tmp, name)
    os.makedirs(d)
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(HAPROXY_CONF.format(name=name, workers=workers, bulk=bulk, greet=greet, bulk_be=backends["bulk"],
                                    greet_be=backends["greet"], splice=SPLICE_OPT if splice else ""))
    proc = subprocess.Popen([haproxy, "-db", "-f", path], stdout=open(os.path.join(d, "log"), "w"),
                            stderr=subprocess.STDOUT)
    return Proxy(name, bulk, greet, proc)


NGINX_CONF = """# bench/l4_throughput.py: nginx stream proxy
{load_module}daemon off; master_process on; worker_processes {workers}; pid {d}/nginx.pid; user {user} {group};
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
stream {{
  server {{ listen 127.0.0.1:{bulk} backlog=4096; proxy_pass 127.0.0.1:{bulk_be}; }}
  server {{ listen 127.0.0.1:{greet} backlog=4096; proxy_pass 127.0.0.1:{greet_be}; }}
}}
"""


def nginx_env():
    """The environment without NGINX: nginx reads that variable as a list of
    inherited listening sockets."""
    return {k: v for k, v in os.environ.items() if k != "NGINX"}


def nginx_stream(nginx):
    """(load_module line or "", None) when nginx can run a stream block, else
    (None, why not)."""
    try:
        v = subprocess.run([nginx, "-V"], capture_output=True, text=True, timeout=10,
                           env=nginx_env()).stderr
    except OSError as e:
        return None, "nginx not runnable: %s" % e
    if "--with-stream=dynamic" in v or "--with-stream" not in v:
        mod = os.environ.get("NGINX_STREAM_MODULE", "/usr/lib/nginx/modules/ngx_stream_module.so")
        if not os.path.exists(mod):
            return None, ("nginx has no stream module: %s is missing (Debian: apt-get install libnginx-mod-stream; "
                          "or set NGINX_STREAM_MODULE)" % mod)
        return "load_module %s;\n" % mod, None
    return "", None


def start_nginx(tmp, name, nginx, backends, workers, load_module):
    bulk, greet = free_port(), free_port()
    d = os.path.join(tmp, name)
    os.makedirs(d)
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(NGINX_CONF.format(load_module=load_module, workers=workers, d=d, bulk=bulk, greet=greet,
                                  bulk_be=backends["bulk"], greet_be=backends["greet"],
                                  user=pwd.getpwuid(os.getuid()).pw_name, group=grp.getgrgid(os.getgid()).gr_name))
    env = nginx_env()
    test = subprocess.run([nginx, "-t", "-p", d, "-c", path, "-e", os.path.join(d, "error.log")],
                          capture_output=True, text=True, env=env)
    if test.returncode != 0:
        raise RuntimeError("nginx -t: " + test.stderr.strip())
    proc = subprocess.Popen([nginx, "-p", d, "-c", path, "-e", os.path.join(d, "error.log")],
                            start_new_session=True, stdout=open(os.path.join(d, "log"), "w"),
                            stderr=subprocess.STDOUT, env=env)
    return Proxy(name, bulk, greet, proc, session=True)


def check_proxy(p, timeout=15):
    """Waits until the proxy passes a greeting and a 1 MiB download; raises if not."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        if p.proc and p.proc.poll() is not None:
            raise RuntimeError("%s exited (%s)" % (p.name, p.proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", p.greet), timeout=2) as s:
                got = s.recv(64)
            with socket.create_connection(("127.0.0.1", p.bulk), timeout=2) as s:
                s.sendall(b"D %d\n" % (1 << 20))
                n = 0
                while True:
                    d = s.recv(1 << 20)
                    if not d:
                        break
                    n += len(d)
            if got == GREETING and n == 1 << 20:
                return
            last = "greeting %r, %d bytes" % (got, n)
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    raise RuntimeError("%s does not pass traffic: %s" % (p.name, last))


# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------

def measure_bulk(p, direction, conns, total, max_secs, data_fd):
    per = total // conns
    cpu0 = cpu_seconds(p.pids())
    start_at = time.monotonic() + 0.3
    res = run_procs([(bulk_client, (p.bulk, direction, per, max_secs, start_at, data_fd))] * conns, max_secs + 15)
    cpu1 = cpu_seconds(p.pids())
    errors = [r[3] for r in res if r[3]] + ["client lost"] * (conns - len(res))
    moved = sum(r[2] for r in res)
    secs = max(r[1] for r in res) - min(r[0] for r in res) if res else 0
    return {"gbps": moved * 8 / secs / 1e9 if secs > 0 else 0.0, "bytes": moved, "secs": secs,
            "errors": len(errors), "first_error": errors[0] if errors else None,
            "capped": any(r[4] for r in res), "cpu_s_per_gib": (cpu1 - cpu0) / (moved / (1 << 30)) if moved else None}


def measure_rate(p, procs, secs):
    cpu0 = cpu_seconds(p.pids())
    start_at = time.monotonic() + 0.3
    res = run_procs([(rate_client, (p.greet, secs, start_at))] * procs, secs + 15)
    cpu1 = cpu_seconds(p.pids())
    n = sum(r[0] for r in res)
    errs = sum(r[1] for r in res) + (procs - len(res))
    first = next((r[2] for r in res if r[2]), None) or ("client lost" if len(res) < procs else None)
    return {"cps": n / secs, "conns": n, "errors": errs, "first_error": first,
            "cpu_us_per_conn": (cpu1 - cpu0) * 1e6 / n if n else None}


def machine_busy(secs=1.0):
    """Share of all CPUs busy over secs, from /proc/stat (in %)."""
    def ticks():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return v[0] + v[1] + v[2] + v[5] + v[6] + v[7], sum(v)
    b0, t0 = ticks()
    time.sleep(secs)
    b1, t1 = ticks()
    return 100.0 * (b1 - b0) / max(1, t1 - t0)


def wait_quiet(limit, wait):
    """Waits (at most wait seconds) until the 1-minute load average is at most
    limit and the CPUs are under 25 % busy; returns (load, busy %)."""
    end = time.monotonic() + wait
    while True:
        load, busy = os.getloadavg()[0], machine_busy()
        if (load <= limit and busy < 25) or time.monotonic() >= end:
            return load, busy
        log("load average %.2f (limit %.2f), CPUs %.0f%% busy: waiting (up to %d s more)" %
            (load, limit, busy, end - time.monotonic()))
        time.sleep(10)


def fmt(v, spec="%.2f", not_applicable=False):
    return "n/a" if not_applicable else "—" if v is None else spec % v


def ratio(a, b):
    return "—" if not a or not b else "%.3f" % (a / b)


def summarize(targets, results, bulk_kinds, conns):
    """Per target: the best of the error-free rounds of each measurement, the
    CPU figures of those best rounds, errors and capped measurements of all."""
    def ok(t, kind):
        return [r for r in results[(t, kind)] if not r["errors"]]

    def best_round(t, kind, key):
        rs = ok(t, kind)
        return max(rs, key=lambda r: r[key]) if rs else None

    rows = {}
    for t in targets:
        row = {}
        for k in bulk_kinds:
            b = best_round(t, k, "gbps")
            row[k] = b["gbps"] if b else None
        b = best_round(t, "down%d" % conns, "gbps")
        row["cpu_s_per_gib"] = b["cpu_s_per_gib"] if b and t != "direct" else None
        b = best_round(t, "rate", "cps")
        row["conn/s"] = b["cps"] if b else None
        row["cpu_us_per_conn"] = b["cpu_us_per_conn"] if b and t != "direct" else None
        row["errors"] = sum(r["errors"] for k in bulk_kinds + ["rate"] for r in results[(t, k)])
        row["capped"] = sum(r["capped"] for k in bulk_kinds for r in results[(t, k)])
        rows[t] = row
    return rows


def table(head, rows):
    print("| " + " | ".join(head) + " |")
    print("| --- |" + " ---: |" * (len(head) - 1))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


def report(targets, rows, bulk_kinds, args):
    """The results table, the ratios of like against like, a RESULT line."""
    print()
    table(["proxy"] + ["%s Gbit/s" % k for k in bulk_kinds] +
          ["conn/s", "CPU s/GiB (down%d)" % args.conns, "CPU µs/conn", "errors", "capped"],
          [[t] + [fmt(rows[t][k]) for k in bulk_kinds] +
           [fmt(rows[t]["conn/s"], "%.0f"), fmt(rows[t]["cpu_s_per_gib"], "%.2f", t == "direct"),
            fmt(rows[t]["cpu_us_per_conn"], "%.1f", t == "direct"), str(rows[t]["errors"]), str(rows[t]["capped"])]
           for t in targets])
    pairs = [(a, b) for a, b in PAIRS if a in targets and b in targets]
    if pairs:
        print()
        print("Ratios (throughput and conn/s above 1, CPU below 1 favour the first):")
        print()
        keys = bulk_kinds + ["conn/s", "cpu_s_per_gib", "cpu_us_per_conn"]
        table(["ratio"] + bulk_kinds + ["conn/s", "CPU/GiB", "CPU/conn"],
              [["%s / %s" % (a, b)] + [ratio(rows[a][k], rows[b][k]) for k in keys] for a, b in pairs])
    print()
    print("(Gbit/s: bytes moved / time from the first connection's start to the last one's last byte; "
          "conn/s: %d client processes, each connect + greeting + close in a loop, %.0f s; "
          "CPU: utime+stime of the proxy's processes in the best round; capped: measurements stopped "
          "by --max-secs before all their bytes moved)" % (args.rate_procs, args.rate_secs))
    fields = []
    for t in targets:
        name = t.replace("-", "_")
        fields += ["%s_%s=%s" % (name, k, "NA" if rows[t][k] is None else "%.3f" % rows[t][k]) for k in bulk_kinds]
        fields.append("%s_connps=%s" % (name, "NA" if rows[t]["conn/s"] is None else "%.0f" % rows[t]["conn/s"]))
        fields.append("%s_errors=%d" % (name, rows[t]["errors"]))
    print("RESULT " + " ".join(fields))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sluiced", default=os.environ.get("SLUICED", os.path.join(ROOT, "build", "sbin", "sluiced")),
                    help="the sluiced binary (env SLUICED; default build/sbin/sluiced); a copy of it is run")
    ap.add_argument("--proxies", default=DEFAULT_TARGETS, help="comma-separated, of: " + ",".join(ALL_TARGETS))
    ap.add_argument("--workers", type=int, default=1, help="sluice workers = nginx worker_processes = HAProxy nbthread")
    ap.add_argument("--rounds", type=int, default=2, help="each measurement this many times; the best is kept")
    ap.add_argument("--bytes", type=int, default=1 << 30, help="bytes moved per bulk measurement, in all")
    ap.add_argument("--conns", type=int, default=8, help="parallel connections of downN/upN")
    ap.add_argument("--max-secs", type=float, default=6, help="a bulk measurement stops after this (capped)")
    ap.add_argument("--rate-secs", type=float, default=3, help="length of a connection-rate measurement")
    ap.add_argument("--rate-procs", type=int, default=4, help="client processes of the connection rate")
    ap.add_argument("--greet-procs", type=int, default=2, help="backend processes answering the connection rate")
    ap.add_argument("--no-upload", action="store_true", help="skip up1/upN")
    ap.add_argument("--quiet-load", type=float, default=1.5, help="wait while the 1-min load average is above this")
    ap.add_argument("--quiet-wait", type=float, default=180, help="...at most this many seconds")
    ap.add_argument("--max-total-secs", type=int, default=600, help="watchdog for the whole run")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    args = ap.parse_args()
    targets = [t.strip() for t in args.proxies.split(",") if t.strip()]
    for t in targets:
        if t not in ALL_TARGETS:
            ap.error("unknown target %s" % t)

    cmd = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT) if sys.argv[0].startswith(ROOT)
                                             else sys.argv[0]] + sys.argv[1:])
    env_shown = " ".join("%s=%s" % (k, shlex.quote(os.environ[k])) for k in ("SLUICED", "NGINX", "HAPROXY",
                                                                         "NGINX_STREAM_MODULE") if k in os.environ)
    command = (env_shown + " " + cmd).strip()
    log("command: %s" % command)

    def watchdog(signum, frame):
        raise SystemExit("l4_throughput.py: watchdog: the run took over %d s" % args.max_total_secs)
    signal.signal(signal.SIGALRM, watchdog)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit("l4_throughput.py: terminated"))
    signal.alarm(args.max_total_secs)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    skipped = {}
    wanted_sluice = [t for t in targets if t.startswith("sluice")]
    if wanted_sluice and not os.access(args.sluiced, os.X_OK):
        sys.exit("l4_throughput.py: %s not built (cd build && make -j2 sbin/sluiced), or set SLUICED" % args.sluiced)
    haproxy = os.environ.get("HAPROXY") or shutil.which("haproxy")
    nginx = os.environ.get("NGINX") or shutil.which("nginx")
    for t in targets:
        if t.startswith("haproxy") and not haproxy:
            skipped[t] = "haproxy not installed (Debian: apt-get install haproxy), or set HAPROXY"
    nginx_module = None
    if "nginx" in targets:
        if not nginx:
            skipped["nginx"] = "nginx not installed (Debian: apt-get install nginx libnginx-mod-stream), or set NGINX"
        else:
            nginx_module, why = nginx_stream(nginx)
            if why:
                skipped["nginx"] = why
    for t, why in skipped.items():
        log("skipping %s: %s" % (t, why))
    targets = [t for t in targets if t not in skipped]

    load, busy = wait_quiet(args.quiet_load, args.quiet_wait)
    log("before the run: load average %.2f, CPUs %.0f%% busy (%d CPUs)" % (load, busy, os.cpu_count()))

    tmp = tempfile.mkdtemp(prefix="sluice-l4-")
    children, proxies = [], {}
    try:
        sluiced = os.path.join(tmp, "sluiced")
        if wanted_sluice:
            shutil.copy2(args.sluiced, sluiced)  # others may rebuild the tree meanwhile
        data_fd = make_data()
        bulk_ls, greet_ls = listen_socket(), listen_socket()
        backends = {"bulk": bulk_ls.getsockname()[1], "greet": greet_ls.getsockname()[1]}
        for f, a in [(bulk_server, (bulk_ls, data_fd))] + [(greet_server, (greet_ls,))] * args.greet_procs:
            pr = CTX.Process(target=f, args=a, daemon=True)
            pr.start()
            children.append(pr)
        versions = []
        for t in targets:
            if t == "direct":
                proxies[t] = Proxy(t, backends["bulk"], backends["greet"])
            elif t.startswith("sluice"):
                proxies[t] = start_sluice(tmp, t, sluiced, backends, args.workers, splice=(t == "sluice"))
            elif t.startswith("haproxy"):
                proxies[t] = start_haproxy(tmp, t, haproxy, backends, args.workers, splice=(t == "haproxy"))
            elif t == "nginx":
                proxies[t] = start_nginx(tmp, t, nginx, backends, args.workers, nginx_module)
        for t in targets:
            check_proxy(proxies[t])
        if wanted_sluice:
            versions.append(subprocess.run([sluiced, "--version"], capture_output=True, text=True).stdout.strip()
                            + " (%s)" % args.sluiced)
        if any(t.startswith("haproxy") for t in targets):
            versions.append(subprocess.run([haproxy, "-v"], capture_output=True, text=True).stdout.split("\n")[0])
        if "nginx" in targets:
            versions.append(subprocess.run([nginx, "-v"], capture_output=True, text=True,
                                           env=nginx_env()).stderr.strip())
        log("; ".join(versions))
        log("targets: %s; backend bulk :%d greet :%d; %s" % (", ".join(targets), backends["bulk"], backends["greet"],
                                                          ", ".join("%s :%d/:%d" % (t, p.bulk, p.greet)
                                                                    for t, p in proxies.items())))

        kinds = [("down1", "down", 1), ("down%d" % args.conns, "down", args.conns)]
        if not args.no_upload:
            kinds += [("up1", "up", 1), ("up%d" % args.conns, "up", args.conns)]
        results = {}  # (target, kind) -> [result per round]
        for rnd in range(args.rounds):
            for t in targets:
                p = proxies[t]
                line = []
                for kind, direction, conns in kinds:
                    r = measure_bulk(p, direction, conns, args.bytes, args.max_secs, data_fd)
                    results.setdefault((t, kind), []).append(r)
                    line.append("%s %.2f Gbit/s%s%s" % (kind, r["gbps"], " capped" if r["capped"] else "",
                                                        " ERRORS %d (%s)" % (r["errors"], r["first_error"])
                                                        if r["errors"] else ""))
                r = measure_rate(p, args.rate_procs, args.rate_secs)
                results.setdefault((t, "rate"), []).append(r)
                line.append("%.0f conn/s%s" % (r["cps"], " ERRORS %d (%s)" % (r["errors"], r["first_error"])
                                               if r["errors"] else ""))
                log("round %d %-12s %s" % (rnd + 1, t, ", ".join(line)))
                if p.proc and p.proc.poll() is not None:
                    raise RuntimeError("%s exited during the run (%s)" % (t, p.proc.returncode))
        load_after = os.getloadavg()[0]
        rows = summarize(targets, results, [k for k, _, _ in kinds], args.conns)
        print()
        print("Command: %s" % command)
        print("Date: %s; %d CPUs, 127.0.0.1 only; before the run load average %.2f and CPUs %.0f%% busy "
              "(%.2f after); %d round(s), best kept" % (time.strftime("%Y-%m-%d %H:%M %Z"), os.cpu_count(), load,
                                                          busy, load_after, args.rounds))
        print("Versions: %s" % "; ".join(versions))
        for t, why in skipped.items():
            print("Skipped %s: %s" % (t, why))
        report(targets, rows, [k for k, _, _ in kinds], args)
        return 1 if any(rows[t]["errors"] for t in targets) else 0
    finally:
        signal.alarm(0)
        for p in proxies.values():
            p.stop()
        for c in children:
            c.kill()
            c.join(5)
        if args.keep:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

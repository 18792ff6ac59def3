# Helpers for bench/proxy.sh (sourced, not run). Process bookkeeping, /proc sampling,
# statistics, and the two small programs the benchmark writes into its temp dir: the wrk
# report script and the idle keep-alive connection holder.
# shellcheck shell=bash

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

is_zombie() { [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]; }

# stop_pid PID [signal] [grace seconds]: signal, wait, then SIGKILL. Returns 1 if SIGKILL was needed.
stop_pid() {
    local pid=$1 sig=${2:-TERM} grace=${3:-5} i
    alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    kill -"$sig" "$pid" 2>/dev/null
    for ((i = 0; i < grace * 20; i++)); do
        alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
        is_zombie "$pid" && { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 1
}

# children_of PID: live (non-zombie) children of PID, from /proc/*/stat (field 4 = ppid).
children_of() {
    local parent=$1 f st
    for f in /proc/[0-9]*/stat; do
        read -r st 2>/dev/null <"$f" || continue
        st=${st##*) }
        set -- $st
        if [ "$2" = "$parent" ] && [ "$1" != Z ]; then f=${f#/proc/}; echo "${f%/stat}"; fi
    done
}

# family PID: PID and its live children (a proxy's master and workers).
family() { echo "$1"; children_of "$1"; }

# cpu_ticks PID...: utime+stime (fields 14 and 15 of /proc/PID/stat, clock ticks), summed.
# Threads are included (the process's own counters cover all of its threads).
cpu_ticks() {
    local p s=0 st
    for p in "$@"; do
        read -r st 2>/dev/null <"/proc/$p/stat" || continue
        st=${st##*) }       # fields from 3 (state) on
        set -- $st
        s=$((s + ${12} + ${13}))
    done
    echo $s
}

# machine_ticks: "busy total" clock ticks of all CPUs from /proc/stat
# (busy = user+nice+system+irq+softirq+steal; total adds idle and iowait).
machine_ticks() {
    awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6; exit }' /proc/stat
}

# reaped_ticks: utime+stime of the script's waited-for children (fields 16 and 17).
# $$, not $BASHPID: called as $(reaped_ticks), $BASHPID would be the subshell.
reaped_ticks() {
    local st
    read -r st <"/proc/$$/stat"
    st=${st##*) }
    set -- $st
    echo $((${14} + ${15}))
}

# rss_kib PID...: VmRSS summed (KiB).
rss_kib() {
    local p s=0 v
    for p in "$@"; do
        v=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$p/status" 2>/dev/null)
        s=$((s + ${v:-0}))
    done
    echo $s
}

# median X...: median of numbers (mean of the middle two for an even count); "n/a" if none.
median() {
    printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g | awk '
        { v[NR] = $1 }
        END { if (NR == 0) { print "n/a"; exit }
              if (NR % 2) printf "%.6g\n", v[(NR + 1) / 2]
              else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A/B with 3 decimals, "n/a" if either is missing or B is 0.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "n/a"; else printf "%.3f\n", a / b }'
}

# fmt N DIGITS: fixed decimals, or the input unchanged if not a number.
fmt() { awk -v x="$1" -v d="$2" 'BEGIN { if (x ~ /^-?[0-9.e+]+$/) printf "%.*f\n", d, x; else print x }'; }

# kv FILE TAG KEY: value of KEY=... on the last line of FILE starting with TAG.
kv() { grep "^$2 " "$1" 2>/dev/null | tail -1 | tr ' ' '\n' | sed -n "s/^$3=//p"; }

# freeports N: N free TCP ports on 127.0.0.1.
freeports() {
    /usr/bin/python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_http URL EXPECTED_BYTES [tries]: wait until URL answers 200 with a body of that size.
wait_http() {
    local url=$1 want=$2 tries=${3:-200} got
    for ((i = 0; i < tries; i++)); do
        got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 2 "$url" 2>/dev/null)
        [ "$got" = "200 $want" ] && return 0
        sleep 0.05
    done
    echo "wait_http: $url answered '$got', wanted '200 $want'" >&2
    return 1
}

# api METHOD PATH [JSON]: a call to sluice's admin API at $ADMIN that ends the run on an answer
# whose status is not in $API_OK (default "200 201"); $TMP/api.out keeps the answer.
api() {
    local code
    code=$(curl -s -o "$TMP/api.out" -w '%{http_code}' -X "$1" "$ADMIN$2" -H 'Content-Type: application/json' \
        ${3:+--data "$3"})
    case " ${API_OK:-200 201} " in
    *" $code "*) ;;
    *) echo "$(basename "$0"): $1 $2 answered $code: $(cat "$TMP/api.out")" >&2; exit 1 ;;
    esac
}

# write_helpers DIR: the wrk report script and the idle-connection holder.
write_helpers() {
    cat >"$1/report.lua" <<'EOF'
-- One machine-readable line from wrk's done hook (latency in microseconds in wrk).
done = function(summary, latency, requests)
  local e = summary.errors
  local n = summary.requests
  io.write(string.format(
    "WRK requests=%d duration_s=%.3f rps=%.1f bytes_per_req=%.0f connect=%d read=%d write=%d " ..
    "timeout=%d non2xx3xx=%d lat_p50_ms=%.3f lat_p99_ms=%.3f lat_max_ms=%.3f\n",
    n, summary.duration / 1e6, n / (summary.duration / 1e6), n > 0 and summary.bytes / n or 0,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
EOF
    cat >"$1/idle_conns.py" <<'EOF'
# Open N keep-alive connections to HOST:PORT, send one GET on each (one at a time, so the
# proxy needs only one upstream connection), read the whole response, and keep them all
# open and idle. Prints "READY open=N failed=F" to stdout, then waits for SIGTERM/SIGINT or
# the hold time, then closes everything.
import resource, signal, socket, sys, time
host, port, n, path, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
req = ("GET %s HTTP/1.1\r\nHost: bench\r\nUser-Agent: idle-conns\r\n\r\n" % path).encode()

def one():
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise IOError("closed before the head")
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    if status != 200 or length is None:
        raise IOError("status %d, content-length %s" % (status, length))
    while len(body) < length:
        d = s.recv(65536)
        if not d:
            raise IOError("closed in the body")
        body += d
    return s

socks, failed, first_err = [], 0, None
t0 = time.time()
for i in range(n):
    try:
        socks.append(one())
    except Exception as e:
        failed += 1
        first_err = first_err or repr(e)
        if failed > 50:
            break
print("READY open=%d failed=%d open_secs=%.2f first_error=%s" % (len(socks), failed, time.time() - t0,
      (first_err or "none").replace(" ", "_")), flush=True)
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
signal.signal(signal.SIGINT, lambda *a: stop.append(1))
end = time.time() + hold
while not stop and time.time() < end:
    time.sleep(0.1)
# Still open? A closed peer shows up as a readable socket with EOF.
import select
poller = select.poll()
byfd = {}
for s in socks:
    poller.register(s, select.POLLIN)
    byfd[s.fileno()] = s
closed = 0
for fd, ev in poller.poll(0):
    try:
        if byfd[fd].recv(1, socket.MSG_PEEK) == b"":
            closed += 1
    except OSError:
        closed += 1
print("DONE closed_by_peer=%d" % closed, flush=True)
for s in socks:
    s.close()
EOF
}

# stop_proxies: stops whatever of sluice ($SL_PID, with its workers in $SL_SEEN),
# nginx ($NX_PID) and HAProxy ($HA_PID) the script started; a sluice worker that
# outlives its master or a master that ignores SIGTERM is reported through the
# script's bug() and killed.
stop_proxies() {
    if [ -n "$SL_PID" ]; then
        local p left=()
        for p in $(children_of "$SL_PID"); do SL_SEEN+=("$p"); done
        stop_pid "$SL_PID" TERM 10 || bug "sluiced $SL_PID did not stop within 10 s of SIGTERM; killed"
        for p in "${SL_SEEN[@]}"; do alive "$p" && ! is_zombie "$p" && left+=("$p"); done
        if [ ${#left[@]} -gt 0 ]; then
            sleep 0.5
            for p in "${left[@]}"; do
                alive "$p" && { bug "sluice worker $p outlived its master; killed"; kill -KILL "$p" 2>/dev/null; }
            done
        fi
        SL_PID=""; SL_SEEN=()
    fi
    [ -n "$NX_PID" ] && { stop_pid "$NX_PID" TERM 5; NX_PID=""; }
    [ -n "$HA_PID" ] && { stop_pid "$HA_PID" TERM 5; HA_PID=""; }
}

#!/usr/bin/env bash
# Proxy-path benchmark: sluice against nginx and HAProxy, side by side, on loopback.
#
# One nginx origin (/small: 100-byte body, /big: 64 KiB static file) behind three proxies,
# each with one route to it and upstream keep-alive: sluice (Gateway + Backend + HTTPRoute),
# nginx (proxy_pass, upstream keepalive 64) and HAProxy (mode http, http-reuse always).
# wrk drives them in interleaved rounds (sluice nginx haproxy sluice nginx haproxy ...) for
# each variant (workers x connections x body); per proxy the medians over the rounds of
# requests/s, p50 and p99 latency, and CPU time per request (utime+stime of all the proxy's
# processes from /proc/PID/stat, sampled around each run). Then memory per idle keep-alive
# connection (RSS of all the proxy's processes before and after opening IDLE_CONNS of them),
# optional `perf stat -e instructions` per request, and optional `perf record` of the
# sluice worker under load. Every process started here is stopped by PID on exit.
#
# usage: bench/proxy.sh            (full run, ~14 minutes on 2 cores)
#        QUICK=1 bench/proxy.sh    (1 round of 2 s per variant, 2,000 idle connections; < 2 min)
# env (defaults for the full run; QUICK=1 changes those marked *):
#   ROUNDS=3*  DURATION=10* (s per run)  WARMUP=1 (s per proxy and variant, not counted)
#   WORKERS_LIST="1 2"  CONNS_LIST="50 500"  BODIES="small big"  PROXIES="sluice nginx haproxy"
#   NGINX_KEEPALIVE=64 (nginx's upstream keepalive cache per worker)
#   WRK_THREADS=2  ORIGIN_WORKERS=1  IDLE_CONNS=10000*  MEM_WORKERS=1 (worker count of the memory test)
#   PROFILE=1* (perf record of the sluice worker, 1 worker, 50 conns, small)  PROFILE_SECS=10
#   PROFILE_CG=fp (perf record -g; "dwarf" for --call-graph dwarf: callers through code without frame pointers)
#   QUIET_PCT=10 QUIET_WAIT=120 (wait up to QUIET_WAIT s for other processes to use < QUIET_PCT% CPU)
#   SYSCALLS=0 (1: system calls per request, from perf stat -e raw_syscalls:sys_enter)
#   ACCESS_LOG=0 (1: every proxy logs each request to a file, buffered: sluice its default JSON line
#     (or SL_LOG_FORMAT, e.g. combined) to --access-log FILE; nginx `access_log FILE combined
#     buffer=64k flush=1s`; HAProxy `option httplog` to `log stdout` redirected to a file)
#   ROUTE_TABLE=10000* (0 = off): after the 1-worker variants, that many more route entries are
#     added to sluice (HTTPRoutes of 16 rules x 8 matches, Exact and PathPrefix paths that /small
#     does not match, so each lookup searches the whole index) and variant w1-c50-small-rN runs
#     again; nginx and HAProxy keep one route and serve as the same-time reference
#   PERF_STAT=auto (instructions/request if the machine supports the counter; 0 = off)
#   SLUICED (default build/sbin/sluiced, copied to the temp dir at start), WRK, NGINX, HAPROXY
#   MAX_SECS (watchdog for the whole run)  KEEP=1 (keep the temp dir)  RESULTS_DIR (copy raw results there)
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/proxy_lib.sh"

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-2}; IDLE_CONNS=${IDLE_CONNS:-2000}; PROFILE=${PROFILE:-0}
    MAX_SECS=${MAX_SECS:-300}; ROUTE_TABLE=${ROUTE_TABLE:-0}
else
    ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-10}; IDLE_CONNS=${IDLE_CONNS:-10000}; PROFILE=${PROFILE:-1}
    MAX_SECS=${MAX_SECS:-1800}; ROUTE_TABLE=${ROUTE_TABLE:-10000}
fi
WARMUP=${WARMUP:-1}
WORKERS_LIST=${WORKERS_LIST:-"1 2"}
CONNS_LIST=${CONNS_LIST:-"50 500"}
BODIES=${BODIES:-"small big"}
PROXIES=${PROXIES:-"sluice nginx haproxy"}
WRK_THREADS=${WRK_THREADS:-2}
ORIGIN_WORKERS=${ORIGIN_WORKERS:-1}
NGINX_KEEPALIVE=${NGINX_KEEPALIVE:-64}
MEM_WORKERS=${MEM_WORKERS:-$(echo $WORKERS_LIST | cut -d' ' -f1)}
PROFILE_SECS=${PROFILE_SECS:-10}
PROFILE_CG=${PROFILE_CG:-fp}
PERF_STAT=${PERF_STAT:-auto}
QUIET_PCT=${QUIET_PCT:-10}
SYSCALLS=${SYSCALLS:-0}
QUIET_WAIT=${QUIET_WAIT:-120}
KEEP=${KEEP:-0}
ACCESS_LOG=${ACCESS_LOG:-0}
SL_LOG_FORMAT=${SL_LOG_FORMAT:-}
RESULTS_DIR=${RESULTS_DIR:-}
SLUICED_SRC=${SLUICED:-$HERE/../build/sbin/sluiced}
WRK=${WRK:-wrk}
NGINX=${NGINX:-nginx}
HAPROXY=${HAPROXY:-haproxy}
PY=/usr/bin/python3
SMALL_BYTES=100
BIG_BYTES=65536

for tool in "$WRK" "$NGINX" "$HAPROXY" curl ss; do
    command -v "$tool" >/dev/null || { echo "proxy.sh: $tool not found" >&2; exit 2; }
done
[ -x "$SLUICED_SRC" ] || { echo "proxy.sh: $SLUICED_SRC not built (cd build && make -j2)" >&2; exit 2; }
for p in $PROXIES; do
    case $p in sluice | nginx | haproxy) ;; *) echo "proxy.sh: unknown proxy $p" >&2; exit 2 ;; esac
done

ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
CLK_TCK=$(getconf CLK_TCK)

TMP=$(mktemp -d /tmp/sluice-proxy.XXXXXX)
mkdir -p "$TMP/res"
T0=$(date +%s.%N)
log() { printf '[%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*"; }

# A copy of the binary: others may rebuild build/sbin/sluiced while this runs.
SLUICED=$TMP/sluiced
cp "$SLUICED_SRC" "$SLUICED"

# ------------------------------------------------------------------ process bookkeeping
ORIGIN_PID=""
SL_PID=""; NX_PID=""; HA_PID=""
SL_SEEN=()        # every sluice worker pid seen (checked after it stops)
BG_PIDS=()
WATCHDOG=""

bug() { echo "$*" | tee -a "$TMP/bugs"; }


cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$WATCHDOG" ] && { kill "$WATCHDOG" 2>/dev/null; wait "$WATCHDOG" 2>/dev/null; }
    local p
    for p in "${BG_PIDS[@]}"; do stop_pid "$p" TERM 2; done
    stop_proxies >/dev/null 2>&1
    [ -n "$ORIGIN_PID" ] && stop_pid "$ORIGIN_PID" TERM 5
    if [ -n "$RESULTS_DIR" ]; then
        mkdir -p "$RESULTS_DIR" && cp -r "$TMP/res" "$TMP"/*.txt "$RESULTS_DIR/" 2>/dev/null
    fi
    if [ "$KEEP" = 1 ] || [ $rc -ne 0 ]; then
        echo "proxy.sh: logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'echo "proxy.sh: interrupted" >&2; exit 130' INT TERM

# Watchdog: the whole run is bounded.
(
    trap 'kill $sp 2>/dev/null; exit 0' TERM
    sleep "$MAX_SECS" & sp=$!
    wait $sp
    echo "proxy.sh: watchdog: still running after $MAX_SECS s, aborting" >&2
    kill -TERM $$
) &
WATCHDOG=$!

run_bg() { # run_bg OUTFILE CMD...: start in background; sets LAST_PID
    local out=$1; shift
    "$@" >"$out" 2>&1 &
    LAST_PID=$!
    BG_PIDS+=("$LAST_PID")
}
wait_bg() {
    local pid=$1 rc=0 keep=() p
    wait "$pid" || rc=$?
    for p in "${BG_PIDS[@]}"; do [ "$p" != "$pid" ] && keep+=("$p"); done
    BG_PIDS=("${keep[@]}")
    return $rc
}

write_helpers "$TMP"

# ------------------------------------------------------------------ perf availability
PERF_OK=0
if [ "$PERF_STAT" != 0 ] && command -v perf >/dev/null; then
    if perf stat -x, -e instructions true 2>&1 | grep -q '^[0-9][0-9]*,'; then
        PERF_OK=1
    else
        PERF_NOTE="perf stat -e instructions: not supported on this machine (no hardware counters exposed); instructions/request not measured"
    fi
else
    PERF_NOTE="perf stat off (PERF_STAT=0 or perf missing)"
fi
[ "$PERF_OK" = 1 ] && PERF_NOTE="perf stat -e instructions: supported; instructions/request measured"
# Optional: system calls per request (tracepoint raw_syscalls:sys_enter; adds a little overhead to every run).
SYSC_OK=0
if [ "$SYSCALLS" = 1 ] && command -v perf >/dev/null && perf stat -x, -e raw_syscalls:sys_enter true 2>&1 | grep -q '^[0-9][0-9]*,'; then
    SYSC_OK=1
fi
PERF_EVENTS=""
[ "$PERF_OK" = 1 ] && PERF_EVENTS=instructions
[ "$SYSC_OK" = 1 ] && PERF_EVENTS+="${PERF_EVENTS:+,}raw_syscalls:sys_enter"

# ------------------------------------------------------------------ origin
read -r ORIGIN_PORT < <(freeports 1)
odir=$TMP/origin
mkdir -p "$odir/www"
head -c $BIG_BYTES /dev/urandom >"$odir/www/big"
SMALL_BODY=$(printf 'x%.0s' $(seq $((SMALL_BYTES - 1))))'\\n'
sed -e "s|@PORT@|$ORIGIN_PORT|g" -e "s|@PREFIX@|$odir|g" -e "s|@WORKERS@|$ORIGIN_WORKERS|g" \
    -e "s|@SMALL_BODY@|$SMALL_BODY|g" \
    -e "s|@USER@|$(id -un)|g" -e "s|@GROUP@|$(id -gn)|g" "$HERE/conf/origin-nginx.conf" >"$odir/nginx.conf"
"$NGINX" -p "$odir" -c "$odir/nginx.conf" -e "$odir/error.log" >"$odir/stdout" 2>&1 &
ORIGIN_PID=$!
wait_http "http://127.0.0.1:$ORIGIN_PORT/small" $SMALL_BYTES && wait_http "http://127.0.0.1:$ORIGIN_PORT/big" $BIG_BYTES ||
    { echo "proxy.sh: origin did not start:" >&2; cat "$odir/error.log" "$odir/stdout" >&2; exit 1; }

# ------------------------------------------------------------------ proxies
start_sluice() { # start_sluice W
    local W=$1 dir=$TMP/sluice-w$1 admin port ok=0
    mkdir -p "$dir"
    read -r admin port < <(freeports 2)
    SL_ADMIN=$admin; SL_PORT=$port; SL_LOG=$dir/sluiced.log
    local logging=(--access-log off)
    [ "$ACCESS_LOG" = 1 ] && logging=(--access-log "$dir/access.log")
    [ "$ACCESS_LOG" = 1 ] && [ -n "$SL_LOG_FORMAT" ] && logging+=(--access-log-format "$SL_LOG_FORMAT")
    "$SLUICED" --state-dir "$dir/state" --admin "127.0.0.1:$admin" "${logging[@]}" >"$dir/stdout" 2>"$SL_LOG" &
    SL_PID=$!
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null && { ok=1; break; }
        alive "$SL_PID" || break
        sleep 0.05
    done
    [ $ok = 1 ] || { echo "proxy.sh: sluiced did not start:" >&2; cat "$SL_LOG" >&2; return 1; }
    local base=http://127.0.0.1:$admin
    post() {
        local code
        code=$(curl -s -o "$dir/post.out" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" "$base$1")
        case $code in 200 | 201) ;; *) echo "proxy.sh: POST $1 -> $code $(cat "$dir/post.out")" >&2; return 1 ;; esac
    }
    post /apis/gateway.sluice.dev/v1alpha1/namespaces/default/backends \
        '{"apiVersion":"gateway.sluice.dev/v1alpha1","kind":"Backend","metadata":{"name":"origin"},
          "spec":{"type":"Static","static":{"hosts":[{"host":"127.0.0.1","port":'"$ORIGIN_PORT"'}]}}}' || return 1
    post /apis/gateway.networking.k8s.io/v1/namespaces/default/gateways \
        '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway",
          "metadata":{"name":"bench","annotations":{"sluice.dev/workers":"'"$W"'"}},
          "spec":{"gatewayClassName":"sluice","addresses":[{"type":"IPAddress","value":"127.0.0.1"}],
                  "listeners":[{"name":"http","protocol":"HTTP","port":'"$port"'}]}}' || return 1
    post /apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes \
        '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"bench"},
          "spec":{"parentRefs":[{"name":"bench"}],
                  "rules":[{"backendRefs":[{"group":"gateway.sluice.dev","kind":"Backend","name":"origin"}]}]}}' || return 1
    wait_http "http://127.0.0.1:$port/small" $SMALL_BYTES 400 && wait_http "http://127.0.0.1:$port/big" $BIG_BYTES ||
        { cat "$SL_LOG" >&2; return 1; }
    local n=0
    for _ in $(seq 100); do
        n=$(children_of "$SL_PID" | wc -l)
        [ "$n" = "$W" ] && break
        sleep 0.05
    done
    [ "$n" = "$W" ] || bug "sluice: $n worker process(es) running, $W configured"
    for p in $(children_of "$SL_PID"); do SL_SEEN+=("$p"); done
}

start_nginx() { # start_nginx W
    local W=$1 dir=$TMP/nginx-w$1
    mkdir -p "$dir"
    read -r NX_PORT < <(freeports 1)
    sed -e "s|@PORT@|$NX_PORT|g" -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" -e "s|@PREFIX@|$dir|g" -e "s|@WORKERS@|$W|g" \
        -e "s|@KEEPALIVE@|$NGINX_KEEPALIVE|g" \
        -e "s|@USER@|$(id -un)|g" -e "s|@GROUP@|$(id -gn)|g" "$HERE/conf/nginx-proxy.conf" >"$dir/nginx.conf"
    [ "$ACCESS_LOG" = 1 ] &&
        sed -i "s|access_log off;|access_log $dir/access.log combined buffer=64k flush=1s;|" "$dir/nginx.conf"
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout" 2>&1 &
    NX_PID=$!
    wait_http "http://127.0.0.1:$NX_PORT/small" $SMALL_BYTES && wait_http "http://127.0.0.1:$NX_PORT/big" $BIG_BYTES ||
        { cat "$dir/error.log" "$dir/stdout" >&2; return 1; }
}

start_haproxy() { # start_haproxy W (W threads in one process)
    local W=$1 dir=$TMP/haproxy-w$1
    mkdir -p "$dir"
    read -r HA_PORT < <(freeports 1)
    # Enough for the idle-connection test (one descriptor each) under the descriptor limit.
    local maxconn=$((IDLE_CONNS + 1000))
    [ $maxconn -ge 4096 ] || maxconn=4096
    [ $maxconn -le $((NOFILE - 500)) ] || maxconn=$((NOFILE - 500))
    sed -e "s|@PORT@|$HA_PORT|g" -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" -e "s|@THREADS@|$W|g" \
        -e "s|@MAXCONN@|$maxconn|g" "$HERE/conf/haproxy.cfg" >"$dir/haproxy.cfg"
    [ "$ACCESS_LOG" = 1 ] &&
        sed -i -e "s|^global$|global\n    log stdout format raw local0|" -e "s|^defaults$|defaults\n    log global\n    option httplog|" \
            "$dir/haproxy.cfg"
    "$HAPROXY" -db -f "$dir/haproxy.cfg" >"$dir/stdout" 2>&1 &
    HA_PID=$!
    wait_http "http://127.0.0.1:$HA_PORT/small" $SMALL_BYTES && wait_http "http://127.0.0.1:$HA_PORT/big" $BIG_BYTES ||
        { cat "$dir/stdout" >&2; return 1; }
}

proxy_port() { case $1 in sluice) echo "$SL_PORT" ;; nginx) echo "$NX_PORT" ;; haproxy) echo "$HA_PORT" ;; esac; }
proxy_master() { case $1 in sluice) echo "$SL_PID" ;; nginx) echo "$NX_PID" ;; haproxy) echo "$HA_PID" ;; esac; }
proxy_pids() { family "$(proxy_master "$1")"; }

sluice_restarts() { grep -c 'restarting in' "$SL_LOG" 2>/dev/null || true; }

# ------------------------------------------------------------------ one wrk run
# run_one PROXY VARIANT CONNS PATH SECONDS [count=1]: results appended to $TMP/res/VARIANT.PROXY.*
run_one() {
    local P=$1 V=$2 C=$3 path=$4 secs=$5 count=${6:-1}
    local url="http://127.0.0.1:$(proxy_port "$P")$path" out=$TMP/res/$V.$P.wrk.$RANDOM
    local pids t0 t1 pids_after perfpid="" restarts0
    pids=$(proxy_pids "$P" | tr '\n' ' ')
    [ "$P" = sluice ] && restarts0=$(sluice_restarts)
    if [ "$count" = 1 ] && [ -n "$PERF_EVENTS" ]; then
        run_bg "$out.perf" perf stat -x, -e "$PERF_EVENTS" -p "$(echo $pids | tr ' ' ,)" -- sleep "$secs"
        perfpid=$LAST_PID
    fi
    local m0 m1 o0 o1 r0 r1 opids
    opids=$(family "$ORIGIN_PID" | tr '\n' ' ')
    read -r -a m0 < <(machine_ticks)
    o0=$(cpu_ticks $opids)
    r0=$(reaped_ticks)
    t0=$(cpu_ticks $pids)
    local wt0=() wt1=() q
    for q in $pids; do wt0+=("$(cpu_ticks "$q")"); done
    run_bg "$out" timeout $((secs + 30)) "$WRK" -t"$WRK_THREADS" -c"$C" -d"${secs}s" --timeout 5s --latency \
        -s "$TMP/report.lua" "$url"
    wait_bg "$LAST_PID" || echo "    wrk ($P, $V) exited with status $?"
    t1=$(cpu_ticks $pids)
    r1=$(reaped_ticks)
    o1=$(cpu_ticks $opids)
    read -r -a m1 < <(machine_ticks)
    for q in $pids; do wt1+=("$(cpu_ticks "$q")"); done
    [ -n "$perfpid" ] && wait_bg "$perfpid"
    pids_after=$(proxy_pids "$P" | tr '\n' ' ')
    if [ "$P" = sluice ]; then
        local rs1; rs1=$(sluice_restarts)
        [ "$rs1" = "$restarts0" ] || bug "sluice ($V): $((rs1 - restarts0)) worker restart(s): $(grep -E 'restarting in|killed by|exited' "$SL_LOG" | tail -3 | tr '\n' ' ')"
        alive "$SL_PID" || bug "sluice ($V): the master $SL_PID died"
    fi
    [ "$pids" = "$pids_after" ] || echo "    note: $P processes changed during the run ($pids -> $pids_after); CPU time of that run is unreliable"
    [ "$count" = 1 ] || return 0
    local req k
    req=$(kv "$out" WRK requests)
    if [ -z "$req" ]; then
        bug "$P ($V): wrk gave no result: $(tail -3 "$out" | tr '\n' ' ')"
        return 0
    fi
    for k in rps lat_p50_ms lat_p99_ms bytes_per_req connect read write timeout non2xx3xx requests; do
        kv "$out" WRK $k >>"$TMP/res/$V.$P.$k"
    done
    awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { if (n > 0) printf "%.3f\n", d / hz * 1e6 / n }' >>"$TMP/res/$V.$P.cpu_us"
    if [ -n "$perfpid" ]; then
        local ins; ins=$(grep -m1 ',instructions,' "$out.perf" | cut -d, -f1)
        [[ "$ins" =~ ^[0-9]+$ ]] && awk -v i="$ins" -v n="$req" 'BEGIN { printf "%.0f\n", i / n }' >>"$TMP/res/$V.$P.instr"
        ins=$(grep -m1 ',raw_syscalls:sys_enter,' "$out.perf" | cut -d, -f1)
        [[ "$ins" =~ ^[0-9]+$ ]] && awk -v i="$ins" -v n="$req" 'BEGIN { printf "%.2f\n", i / n }' >>"$TMP/res/$V.$P.sysc"
    fi
    local e=$(($(kv "$out" WRK connect) + $(kv "$out" WRK read) + $(kv "$out" WRK write) + $(kv "$out" WRK timeout)))
    local nb; nb=$(kv "$out" WRK non2xx3xx)
    if [ "$P" = sluice ] && { [ "$e" != 0 ] || [ "$nb" != 0 ]; }; then
        bug "sluice ($V, round): socket errors connect/read/write/timeout $(kv "$out" WRK connect)/$(kv "$out" WRK read)/$(kv "$out" WRK write)/$(kv "$out" WRK timeout), non-2xx/3xx $nb, of $req requests"
    fi
    # CPU split between the processes (master first): shows how evenly the workers share the load.
    local split="" i
    for ((i = 0; i < ${#wt0[@]}; i++)); do
        split+="${split:+/}$(awk -v a="${wt1[$i]}" -v b="${wt0[$i]}" -v d=$((t1 - t0)) 'BEGIN { printf "%.0f", (d > 0 ? (a - b) * 100 / d : 0) }')"
    done
    echo "$split" >>"$TMP/res/$V.$P.split"
    # CPU used on the machine by anything but this proxy, the origin and wrk, in % of all
    # CPUs: other work running alongside makes the run less trustworthy.
    local other
    other=$(awk -v b=$((m1[0] - m0[0])) -v t=$((m1[1] - m0[1])) -v p=$((t1 - t0)) -v o=$((o1 - o0)) -v r=$((r1 - r0)) \
        'BEGIN { x = t > 0 ? (b - p - o - r) * 100 / t : 0; if (x < 0) x = 0; printf "%.0f", x }')
    echo "$other" >>"$TMP/res/$V.$P.other"
    printf '    %-8s %9s req/s  p50 %7s ms  p99 %7s ms  cpu %7s us/req  errors %s  non-2xx %s  cpu%% master/workers %s  other load %s%%\n' "$P" \
        "$(kv "$out" WRK rps)" "$(kv "$out" WRK lat_p50_ms)" "$(kv "$out" WRK lat_p99_ms)" \
        "$(tail -1 "$TMP/res/$V.$P.cpu_us")" "$e" "$nb" "$split" "$other"
}

# ------------------------------------------------------------------ idle connection memory
mem_test() { # mem_test PROXY W
    local P=$1 W=$2 port pids before after out line open est i
    port=$(proxy_port "$P")
    sleep 0.5
    pids=$(proxy_pids "$P" | tr '\n' ' ')
    before=$(rss_kib $pids)
    out=$TMP/res/mem.$P.out
    run_bg "$out" timeout 300 $PY "$TMP/idle_conns.py" 127.0.0.1 "$port" "$IDLE_CONNS" /small 240
    local cpid=$LAST_PID
    for ((i = 0; i < 2400; i++)); do
        grep -q '^READY' "$out" && break
        alive "$cpid" || break
        sleep 0.05
    done
    line=$(grep '^READY' "$out")
    if [ -z "$line" ]; then
        bug "$P: idle-connection client failed: $(tail -3 "$out" | tr '\n' ' ')"
        stop_pid "$cpid" TERM 2; wait_bg "$cpid"
        return
    fi
    sleep 1
    after=$(rss_kib $(proxy_pids "$P"))
    est=$(ss -Htn state established "( dport = :$port )" 2>/dev/null | wc -l)
    stop_pid "$cpid" TERM 10; wait_bg "$cpid"
    open=$(kv "$out" READY open)
    local failed closed per
    failed=$(kv "$out" READY failed)
    closed=$(kv "$out" DONE closed_by_peer)
    per=$(awk -v a="$after" -v b="$before" -v n="$open" 'BEGIN { if (n > 0) printf "%.2f\n", (a - b) / n; else print "n/a" }')
    printf '%s %s %s %s %s %s %s %s\n' "$P" "$open" "$failed" "$est" "$before" "$after" "$per" "${closed:-?}" >>"$TMP/res/mem"
    log "  $P: $open idle keep-alive connections open ($failed failed, $est established at measurement), RSS $before -> $after KiB: $per KiB/connection; closed by the proxy before the end: ${closed:-?}"
    [ "$failed" = 0 ] || [ "$P" != sluice ] || bug "sluice: $failed of $IDLE_CONNS idle connections failed ($(kv "$out" READY first_error))"
    sleep 1 # let the proxy close them
}

# ------------------------------------------------------------------ profile of the sluice worker
profile_sluice() {
    command -v perf >/dev/null || { echo "perf missing: no profile" >"$TMP/profile.txt"; return; }
    local wpid; wpid=$(children_of "$SL_PID" | head -1)
    log "profile: perf record ($PROFILE_CG call graph) -p $wpid (sluice worker) for $PROFILE_SECS s under wrk -c50 /small"
    run_bg "$TMP/res/profile.wrk" timeout $((PROFILE_SECS + 40)) "$WRK" -t"$WRK_THREADS" -c50 -d"$((PROFILE_SECS + 4))s" \
        --timeout 5s -s "$TMP/report.lua" "http://127.0.0.1:$SL_PORT/small"
    local w=$LAST_PID
    sleep 2
    local cg=(-g)
    [ "$PROFILE_CG" = dwarf ] && cg=(--call-graph dwarf,16384)
    perf record "${cg[@]}" -p "$wpid" -o "$TMP/perf.data" -- sleep "$PROFILE_SECS" >"$TMP/perf-record.out" 2>&1
    wait_bg "$w"
    {
        echo "# perf record ${cg[*]} -p <sluice worker> -- sleep $PROFILE_SECS, under wrk -t$WRK_THREADS -c50 /small ($(kv "$TMP/res/profile.wrk" WRK rps) req/s)"
        grep -E 'samples|Captured' "$TMP/perf-record.out" | sed 's/^/# /'
        echo "## self time by symbol (top 25)"
        perf report -i "$TMP/perf.data" --stdio --no-children -g none --sort dso,sym --percent-limit 0.2 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -25
        echo "## self time by DSO"
        perf report -i "$TMP/perf.data" --stdio --no-children -g none --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -10
        echo "## inclusive (children) by symbol in sluiced, top 30"
        perf report -i "$TMP/perf.data" --stdio --children -g none --sort dso,sym --percent-limit 1 2>/dev/null |
            grep -v '^#' | grep -v '^$' | grep -E 'sluiced|libev|libc' | head -30
        echo "## callers of the formatted-output functions (vfprintf)"
        perf report -i "$TMP/perf.data" --stdio --no-children -G --sort sym -S __vfprintf_internal 2>/dev/null |
            grep -v '^#' | grep -v '^$' | grep -E '[0-9]+\.[0-9]+%.*(sl_|conn|proxy|filter|route|start_)' | head -15
    } >"$TMP/profile.txt"
    cp "$TMP/perf.data" "$TMP/res/perf.data" 2>/dev/null
}

# ------------------------------------------------------------------ the run
log "sluice proxy benchmark: $(nproc) CPU(s) ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), kernel $(uname -r)"
log "sluice $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null)$(git -C "$HERE/.." diff --quiet HEAD -- . 2>/dev/null || echo '+dirty'), $($NGINX -v 2>&1 | sed 's/.*version: //'), $($HAPROXY -v | head -1 | cut -d' ' -f1-3), $($WRK -v 2>&1 | head -1 | cut -d' ' -f1-2)"
log "rounds $ROUNDS x ${DURATION}s (+${WARMUP}s warm-up), workers [$WORKERS_LIST], connections [$CONNS_LIST], bodies [$BODIES], wrk -t$WRK_THREADS, origin nginx with $ORIGIN_WORKERS worker(s) on 127.0.0.1:$ORIGIN_PORT, nginx proxy upstream keepalive $NGINX_KEEPALIVE, nofile $NOFILE"
log "$PERF_NOTE"

# Other work on the machine skews everything: wait (bounded) for a quiet machine first.
busy_pct() { # busy % of all CPUs over $1 seconds
    local a b
    read -r -a a < <(machine_ticks); sleep "$1"; read -r -a b < <(machine_ticks)
    awk -v b=$((b[0] - a[0])) -v t=$((b[1] - a[1])) 'BEGIN { printf "%.0f", (t > 0 ? b * 100 / t : 0) }'
}
q=$(busy_pct 1)
if [ "$q" -gt "$QUIET_PCT" ]; then
    log "machine busy ($q% of all CPUs used by other processes); waiting up to ${QUIET_WAIT}s for it to drop under $QUIET_PCT%"
    end=$(($(date +%s) + QUIET_WAIT))
    while [ "$q" -gt "$QUIET_PCT" ] && [ "$(date +%s)" -lt "$end" ]; do q=$(busy_pct 2); done
    log "machine busy $q% now; starting (every run records the CPU used by other processes: column 'other load')"
fi

# add_route_table N: N more route entries on the running sluice; waits until they are served.
add_route_table() {
    local n=$1 per=128 dir=$TMP/routes nroutes i
    mkdir -p "$dir"
    nroutes=$(((n + per - 1) / per))
    python3 - "$n" "$per" "$dir" <<'PYEOF' || return 1
import json, sys
n, per, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ref = {"group": "gateway.sluice.dev", "kind": "Backend", "name": "origin"}
for r in range((n + per - 1) // per):
    idx = list(range(r * per, min(n, (r + 1) * per)))
    rules = []
    for k in range(0, len(idx), 8):
        matches = [{"path": {"type": "Exact" if i % 2 else "PathPrefix", "value": "/t%d/%s" % (i, "x" if i % 2 else "p")}}
                   for i in idx[k:k + 8]]
        rules.append({"matches": matches, "backendRefs": [ref]})
    obj = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "table-%d" % r},
           "spec": {"parentRefs": [{"name": "bench"}], "rules": rules}}
    with open("%s/table-%d.json" % (out, r), "w") as f:
        json.dump(obj, f)
PYEOF
    for ((i = 0; i < nroutes; i++)); do
        curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary "@$dir/table-$i.json" \
            "http://127.0.0.1:$SL_ADMIN/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes" ||
            { echo "proxy.sh: cannot create route table-$i" >&2; return 1; }
    done
    # The last route's status is written after the snapshot with it was published.
    for _ in $(seq 600); do
        curl -s "http://127.0.0.1:$SL_ADMIN/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/table-$((nroutes - 1))" |
            grep -q '"Accepted"' && return 0
        sleep 0.1
    done
    echo "proxy.sh: the route table was not programmed in 60 s" >&2
    return 1
}

VARIANTS=()
for W in $WORKERS_LIST; do
    start_sluice "$W" || exit 1
    start_nginx "$W" || exit 1
    start_haproxy "$W" || exit 1
    log "[$W worker(s)] sluice $SL_PID (workers $(children_of "$SL_PID" | tr '\n' ' ')) on :$SL_PORT, nginx $NX_PID (workers $(children_of "$NX_PID" | tr '\n' ' ')) on :$NX_PORT, haproxy $HA_PID ($W thread(s)) on :$HA_PORT"

    if [ "$W" = "$MEM_WORKERS" ] && [ "$IDLE_CONNS" -gt 0 ]; then
        log "[$W worker(s)] memory per idle keep-alive connection: $IDLE_CONNS connections, one GET /small on each, then idle"
        for P in $PROXIES; do mem_test "$P" "$W"; done
    fi

    for C in $CONNS_LIST; do
        for B in $BODIES; do
            V=w$W-c$C-$B
            VARIANTS+=("$V")
            log "[$V] warm-up ${WARMUP}s each, then $ROUNDS round(s) of ${DURATION}s: wrk -t$WRK_THREADS -c$C /$B"
            for P in $PROXIES; do run_one "$P" "$V" "$C" "/$B" "$WARMUP" 0; done
            for ((r = 1; r <= ROUNDS; r++)); do
                for P in $PROXIES; do run_one "$P" "$V" "$C" "/$B" "$DURATION"; done
            done
        done
    done

    if [ "$PROFILE" = 1 ] && [ "$W" = 1 ] && [[ " $PROXIES " == *" sluice "* ]]; then
        profile_sluice
    fi
    if [ "$ROUTE_TABLE" -gt 0 ] && [ "$W" = 1 ] && [[ " $PROXIES " == *" sluice "* ]]; then
        log "[w1] adding $ROUTE_TABLE route entries to sluice"
        t_rt=$(date +%s.%N)
        add_route_table "$ROUTE_TABLE" || exit 1
        log "[w1] route table programmed in $(echo "$(date +%s.%N) - $t_rt" | bc | cut -c1-5)s"
        V=w1-c50-small-r$ROUTE_TABLE
        VARIANTS+=("$V")
        log "[$V] warm-up ${WARMUP}s each, then $ROUNDS round(s) of ${DURATION}s: wrk -t$WRK_THREADS -c50 /small"
        for P in $PROXIES; do run_one "$P" "$V" 50 /small "$WARMUP" 0; done
        for ((r = 1; r <= ROUNDS; r++)); do
            for P in $PROXIES; do run_one "$P" "$V" 50 /small "$DURATION"; done
        done
    fi
    n=$(children_of "$SL_PID" | wc -l)
    [ "$n" = "$W" ] || bug "sluice: $n worker(s) running after the $W-worker runs"
    stop_proxies
done

# ------------------------------------------------------------------ report
med() { local f=$TMP/res/$1; [ -s "$f" ] && median $(cat "$f") || echo n/a; }
sum() { local f=$TMP/res/$1; [ -s "$f" ] && awk '{ s += $1 } END { print s + 0 }' "$f" || echo n/a; }
rounds() { local f=$TMP/res/$1; [ -s "$f" ] && awk '{ printf "%s%.0f", (NR > 1 ? " / " : ""), $1 }' "$f" || echo n/a; }
errs() { echo "$(sum "$1.connect")/$(sum "$1.read")/$(sum "$1.write")/$(sum "$1.timeout")"; }

{
    echo "### Throughput, latency and CPU (medians over $ROUNDS round(s) of ${DURATION}s)"
    echo
    hdr="| variant | proxy | req/s | p50 ms | p99 ms | CPU µs/req |"
    sep="| --- | --- | ---: | ---: | ---: | ---: |"
    [ "$PERF_OK" = 1 ] && { hdr+=" instr/req |"; sep+=" ---: |"; }
    [ "$SYSC_OK" = 1 ] && { hdr+=" syscalls/req |"; sep+=" ---: |"; }
    echo "$hdr errors c/r/w/t | non-2xx | bytes/resp | req/s per round | CPU % per process (last round) | other load % (max) |"
    echo "$sep --- | ---: | ---: | --- | --- | ---: |"
    for V in "${VARIANTS[@]}"; do
        for P in $PROXIES; do
            row="| $V | $P | $(fmt "$(med "$V.$P.rps")" 0) | $(fmt "$(med "$V.$P.lat_p50_ms")" 3) | $(fmt "$(med "$V.$P.lat_p99_ms")" 3) | $(fmt "$(med "$V.$P.cpu_us")" 2) |"
            [ "$PERF_OK" = 1 ] && row+=" $(med "$V.$P.instr") |"
            [ "$SYSC_OK" = 1 ] && row+=" $(med "$V.$P.sysc") |"
            echo "$row $(errs "$V.$P") | $(sum "$V.$P.non2xx3xx") | $(fmt "$(med "$V.$P.bytes_per_req")" 0) | $(rounds "$V.$P.rps") | $(tail -1 "$TMP/res/$V.$P.split" 2>/dev/null) | $(sort -n "$TMP/res/$V.$P.other" 2>/dev/null | tail -1) |"
        done
    done
    echo
    echo "### Ratios (sluice / other; req/s above 1 and CPU/req below 1 favour sluice)"
    echo
    echo "| variant | req/s vs nginx | req/s vs HAProxy | CPU/req vs nginx | CPU/req vs HAProxy | p99 vs nginx | p99 vs HAProxy |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for V in "${VARIANTS[@]}"; do
        echo "| $V | $(ratio "$(med "$V.sluice.rps")" "$(med "$V.nginx.rps")") | $(ratio "$(med "$V.sluice.rps")" "$(med "$V.haproxy.rps")") | $(ratio "$(med "$V.sluice.cpu_us")" "$(med "$V.nginx.cpu_us")") | $(ratio "$(med "$V.sluice.cpu_us")" "$(med "$V.haproxy.cpu_us")") | $(ratio "$(med "$V.sluice.lat_p99_ms")" "$(med "$V.nginx.lat_p99_ms")") | $(ratio "$(med "$V.sluice.lat_p99_ms")" "$(med "$V.haproxy.lat_p99_ms")") |"
    done
    RT=w1-c50-small-r$ROUTE_TABLE
    if [ "$ROUTE_TABLE" -gt 0 ] && [ -s "$TMP/res/$RT.sluice.rps" ] && [ -s "$TMP/res/w1-c50-small.sluice.rps" ]; then
        echo
        echo "### Route table scale (sluice with $ROUTE_TABLE more route entries / with one route; 1 worker, 50 connections)"
        echo
        echo "| measure | one route | $ROUTE_TABLE more | ratio | the same ratio for nginx (drift between the two phases) |"
        echo "| --- | ---: | ---: | ---: | ---: |"
        echo "| req/s | $(fmt "$(med w1-c50-small.sluice.rps)" 0) | $(fmt "$(med "$RT.sluice.rps")" 0) | $(ratio "$(med "$RT.sluice.rps")" "$(med w1-c50-small.sluice.rps)") | $(ratio "$(med "$RT.nginx.rps")" "$(med w1-c50-small.nginx.rps)") |"
        echo "| CPU µs/req | $(fmt "$(med w1-c50-small.sluice.cpu_us)" 2) | $(fmt "$(med "$RT.sluice.cpu_us")" 2) | $(ratio "$(med "$RT.sluice.cpu_us")" "$(med w1-c50-small.sluice.cpu_us)") | $(ratio "$(med "$RT.nginx.cpu_us")" "$(med w1-c50-small.nginx.cpu_us)") |"
    fi
    if [ -s "$TMP/res/mem" ]; then
        echo
        echo "### Memory per idle keep-alive connection ($MEM_WORKERS worker(s), $IDLE_CONNS connections, one GET /small each)"
        echo
        echo "| proxy | open | failed | established at measurement | RSS before KiB | RSS after KiB | KiB/connection | closed by proxy while idle |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        while read -r p o f e b a k c; do echo "| $p | $o | $f | $e | $b | $a | $k | $c |"; done <"$TMP/res/mem"
    fi
} >"$TMP/table.txt"
echo
cat "$TMP/table.txt"
echo
echo "$PERF_NOTE"
if [ -s "$TMP/profile.txt" ]; then
    echo
    echo "### Profile of the sluice worker"
    cat "$TMP/profile.txt"
fi
if [ -s "$TMP/bugs" ]; then
    echo
    echo "Problems seen:"
    sed 's/^/  /' "$TMP/bugs"
fi
echo
for V in "${VARIANTS[@]}"; do
    line="RESULT variant=$V"
    for P in $PROXIES; do line+=" ${P}_rps=$(fmt "$(med "$V.$P.rps")" 0)"; done
    line+=" ratio_nginx=$(ratio "$(med "$V.sluice.rps")" "$(med "$V.nginx.rps")") ratio_haproxy=$(ratio "$(med "$V.sluice.rps")" "$(med "$V.haproxy.rps")")"
    for P in $PROXIES; do line+=" ${P}_p50_ms=$(med "$V.$P.lat_p50_ms") ${P}_p99_ms=$(med "$V.$P.lat_p99_ms")"; done
    for P in $PROXIES; do line+=" cpu_us_per_req_${P}=$(med "$V.$P.cpu_us")"; done
    [ "$PERF_OK" = 1 ] && for P in $PROXIES; do line+=" instr_per_req_${P}=$(med "$V.$P.instr")"; done
    [ "$SYSC_OK" = 1 ] && for P in $PROXIES; do line+=" syscalls_per_req_${P}=$(med "$V.$P.sysc")"; done
    for P in $PROXIES; do line+=" ${P}_errors=$(errs "$V.$P" | tr / +) ${P}_non2xx=$(sum "$V.$P.non2xx3xx")"; done
    echo "$line"
done
if [ -s "$TMP/res/mem" ]; then
    line="RESULT variant=idle-memory workers=$MEM_WORKERS conns=$IDLE_CONNS"
    while read -r p o f e b a k c; do line+=" ${p}_kib_per_conn=$k ${p}_open=$o"; done <"$TMP/res/mem"
    echo "$line"
fi
[ ! -s "$TMP/bugs" ]

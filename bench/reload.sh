#!/usr/bin/env bash
# Hot-reload benchmark for sluice: reload latency, steady load while the route changes every
# 50 ms, and worker kills under load. Everything on 127.0.0.1, free ports, temp dirs; every
# process started here is stopped by PID on exit. See bench/README.md.
#
# usage: bench/reload.sh [--workers "1 2"] [--iters 200] [--load-secs 30] [--kill-secs 20]
#                        [--kill-at 5,10] [--flip-ms 50] [--keep]
#        (--load-secs 0 or --kill-secs 0 skip that phase)
# env:   SLUICED (default build/sbin/sluiced next to this dir), WRK (default wrk),
#        NGINX (default nginx), MAX_SECS (watchdog for the whole run, default 420)
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SLUICED=${SLUICED:-$HERE/../build/sbin/sluiced}
WRK=${WRK:-wrk}
NGINX=${NGINX:-nginx}
PY=/usr/bin/python3
PROBE=$HERE/reload_probe.py
MAX_SECS=${MAX_SECS:-420}

WORKERS_LIST="1 2"
ITERS=200
LOAD_SECS=30
KILL_SECS=20
KILL_AT=5,10
FLIP_MS=50
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
    --workers) WORKERS_LIST=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --load-secs) LOAD_SECS=$2; shift 2 ;;
    --kill-secs) KILL_SECS=$2; shift 2 ;;
    --kill-at) KILL_AT=$2; shift 2 ;;
    --flip-ms) FLIP_MS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "reload.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

for tool in "$WRK" "$NGINX" curl; do
    command -v "$tool" >/dev/null || { echo "reload.sh: $tool not found" >&2; exit 2; }
done
[ -x "$SLUICED" ] || { echo "reload.sh: $SLUICED not built (cd build && make -j2)" >&2; exit 2; }
$PY -c 'import requests' 2>/dev/null || { echo "reload.sh: $PY lacks requests (apt install python3-requests)" >&2; exit 2; }

TMP=$(mktemp -d /tmp/sluice-reload.XXXXXX)
# Run a copy: others may rebuild build/sbin/sluiced while this runs.
cp "$SLUICED" "$TMP/sluiced"
SLUICED_SRC=$SLUICED
SLUICED=$TMP/sluiced
T0=$(date +%s.%N)
log() { printf '[%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*"; }

# ------------------------------------------------------------------ process bookkeeping
NGINX_PIDS=()     # nginx masters (they stop their own workers)
SL_PID=""         # the current sluiced
SL_WORKERS=()     # every worker pid of it we have seen (checked after it stops)
BG_PIDS=()        # wrk, helpers
WATCHDOG=""
FAILED=0

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# stop PID [signal] [grace seconds]: signal, wait, then SIGKILL. Returns 1 if SIGKILL was needed.
stop_pid() {
    local pid=$1 sig=${2:-TERM} grace=${3:-5} i
    alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    kill -"$sig" "$pid" 2>/dev/null
    for ((i = 0; i < grace * 20; i++)); do
        alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
        # A zombie child of ours counts as stopped.
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 1
}

worker_pids() { # children of the sluiced master, from /proc/*/stat (field 4 = ppid)
    local f st
    for f in /proc/[0-9]*/stat; do
        read -r st 2>/dev/null <"$f" || continue
        st=${st##*) }      # after the command name: state ppid ...
        set -- $st
        [ "$2" = "$SL_PID" ] && [ "$1" != Z ] && { f=${f#/proc/}; echo "${f%/stat}"; }
    done
}

worker_cpu() { # "pid:ticks ..." (utime+stime) of the current workers
    local p st
    for p in $(worker_pids); do
        read -r st 2>/dev/null <"/proc/$p/stat" || continue
        st=${st##*) }
        set -- $st
        printf '%s:%s ' "$p" $(( ${12} + ${13} ))
    done
}

# cpu_split BEFORE AFTER: CPU seconds each worker used in between, e.g. "9.1+0.3"
cpu_split() {
    local hz out="" e p t b
    hz=$(getconf CLK_TCK)
    for e in $2; do
        p=${e%%:*}; t=${e#*:}; b=0
        for x in $1; do [ "${x%%:*}" = "$p" ] && b=${x#*:}; done
        out+="${out:++}$(echo "scale=1; ($t - $b) / $hz" | bc | sed 's/^\./0./')"
    done
    echo "${out:-?}"
}

remember_workers() {
    local p
    for p in $(worker_pids); do
        [[ " ${SL_WORKERS[*]} " == *" $p "* ]] || SL_WORKERS+=("$p")
    done
}

# stop_sluiced: SIGTERM (drain), report how long it took and whether workers outlived it.
stop_sluiced() {
    [ -n "$SL_PID" ] || return 0
    remember_workers
    local t rc=0 p left=()
    t=$(date +%s.%N)
    if ! stop_pid "$SL_PID" TERM 10; then
        echo "BUG: sluiced $SL_PID did not stop within 10 s of SIGTERM; killed" | tee -a "$TMP/bugs"
        rc=1
    fi
    STOP_SECS=$(echo "$(date +%s.%N) - $t" | bc)
    for p in "${SL_WORKERS[@]}"; do
        if alive "$p" && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]; then
            left+=("$p")
        fi
    done
    if [ ${#left[@]} -gt 0 ]; then
        sleep 0.5
        for p in "${left[@]}"; do
            if alive "$p"; then
                echo "BUG: worker $p outlived its master $SL_PID; killed" | tee -a "$TMP/bugs"
                kill -KILL "$p" 2>/dev/null
            fi
        done
    fi
    SL_PID=""
    SL_WORKERS=()
    return $rc
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$WATCHDOG" ] && { kill "$WATCHDOG" 2>/dev/null; wait "$WATCHDOG" 2>/dev/null; }
    local p
    for p in "${BG_PIDS[@]}"; do stop_pid "$p" TERM 2; done
    stop_sluiced >/dev/null 2>&1
    for p in "${NGINX_PIDS[@]}"; do stop_pid "$p" QUIT 3 || stop_pid "$p" TERM 2; done
    if [ "$KEEP" = 1 ] || [ $rc -ne 0 ] || [ "$FAILED" = 1 ]; then
        echo "reload.sh: logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'echo "reload.sh: interrupted" >&2; exit 130' INT TERM

# Watchdog: the whole run is bounded.
# (sleep runs in the background of the subshell so that a TERM from cleanup ends it at once.)
(
    sleep "$MAX_SECS" &
    sp=$!
    trap 'kill $sp 2>/dev/null; exit 0' TERM
    wait $sp && { echo "reload.sh: watchdog: still running after $MAX_SECS s, aborting" >&2; kill -TERM $$; }
) &
WATCHDOG=$!

# run_bg NAME CMD...: start in background with output in $TMP/NAME.out; sets LAST_PID.
run_bg() {
    local name=$1; shift
    "$@" >"$TMP/$name.out" 2>&1 &
    LAST_PID=$!
    BG_PIDS+=("$LAST_PID")
}
# wait_bg PID: wait (interruptible by the traps) and drop it from BG_PIDS.
wait_bg() {
    local pid=$1 rc=0
    wait "$pid" || rc=$?
    local keep=() p
    for p in "${BG_PIDS[@]}"; do [ "$p" != "$pid" ] && keep+=("$p"); done
    BG_PIDS=("${keep[@]}")
    return $rc
}

# run_fg CMD...: run in the background and wait for it, so that INT/TERM are handled at once
# (bash defers traps while a foreground command runs).
run_fg() {
    "$@" &
    local pid=$! rc=0
    BG_PIDS+=("$pid")
    wait_bg "$pid" || rc=$?
    return $rc
}

# kv FILE TAG KEY: value of KEY=... on the last line of FILE starting with TAG.
kv() {
    grep "^$2 " "$1" 2>/dev/null | tail -1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}

# ------------------------------------------------------------------ origins (nginx A and B)
read -r PORT_A PORT_B < <($PY "$PROBE" freeports 2)
for name in A B; do
    port=$PORT_A; [ $name = B ] && port=$PORT_B
    dir=$TMP/origin-$name
    mkdir -p "$dir"
    sed -e "s|@NAME@|$name|g" -e "s|@PORT@|$port|g" -e "s|@PREFIX@|$dir|g" \
        -e "s|@USER@|$(id -un)|g" -e "s|@GROUP@|$(id -gn)|g" "$HERE/reload_origin.conf" >"$dir/nginx.conf"
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout" 2>&1 &
    NGINX_PIDS+=($!)
done
for name in A B; do
    port=$PORT_A; [ $name = B ] && port=$PORT_B
    ok=0
    for _ in $(seq 100); do
        [ "$(curl -s -o /dev/null -D - "http://127.0.0.1:$port/" | tr -d '\r' | sed -n 's/^X-Origin: //Ip')" = $name ] && { ok=1; break; }
        sleep 0.05
    done
    [ $ok = 1 ] || { echo "reload.sh: origin $name on port $port did not start:"; cat "$TMP/origin-$name/error.log" "$TMP/origin-$name/stdout"; exit 1; } >&2
done
log "origins: A on 127.0.0.1:$PORT_A (nginx $($NGINX -v 2>&1 | sed 's/.*\///')), B on 127.0.0.1:$PORT_B"

origin_count() { # requests logged by an origin so far
    wc -l <"$TMP/origin-$1/access.log" 2>/dev/null || echo 0
}

# The wrk report: one machine-readable line from the done hook.
cat >"$TMP/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d duration_s=%.3f rps=%.0f connect=%d read=%d write=%d timeout=%d non2xx3xx=%d " ..
    "lat_p50_ms=%.2f lat_p99_ms=%.2f lat_max_ms=%.2f\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
EOF

declare -A R # results: R[W:key]

snapshot_generation() {
    curl -s "http://127.0.0.1:$ADMIN_PORT/debug/snapshot" | $PY -c 'import json,sys; print(json.load(sys.stdin)["generation"])' 2>/dev/null || echo "?"
}

crash_lines() { # unexpected worker exits logged by the supervisor so far
    grep -c 'restarting in' "$SL_LOG" 2>/dev/null || true
}

run_variant() {
    local W=$1 dir=$TMP/w$1
    mkdir -p "$dir"
    read -r ADMIN_PORT GW_PORT < <($PY "$PROBE" freeports 2)
    SL_LOG=$dir/sluiced.log
    "$SLUICED" --state-dir "$dir/state" --admin "127.0.0.1:$ADMIN_PORT" --access-log off 2>"$SL_LOG" >"$dir/sluiced.stdout" &
    SL_PID=$!
    local ok=0
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz" >/dev/null && { ok=1; break; }
        alive "$SL_PID" || break
        sleep 0.05
    done
    [ $ok = 1 ] || { echo "reload.sh: sluiced did not start:" >&2; cat "$SL_LOG" >&2; exit 1; }
    run_fg timeout 30 $PY "$PROBE" setup --admin "http://127.0.0.1:$ADMIN_PORT" --workers "$W" \
        --gw-port "$GW_PORT" --port-a "$PORT_A" --port-b "$PORT_B" || { cat "$SL_LOG" >&2; exit 1; }
    remember_workers
    log "[$W worker(s)] sluiced $SL_PID, admin 127.0.0.1:$ADMIN_PORT, gateway 127.0.0.1:$GW_PORT, workers: $(worker_pids | tr '\n' ' ')"

    # ---- 1. reload latency
    log "[$W worker(s)] reload latency: $ITERS route changes A<->B, polling through the proxy"
    run_fg timeout 120 $PY "$PROBE" latency --admin "127.0.0.1:$ADMIN_PORT" --proxy "127.0.0.1:$GW_PORT" \
        --iters "$ITERS" --max-seconds 90 --sluiced-log "$SL_LOG" >"$dir/latency.out" 2>&1
    sed 's/^/    /' "$dir/latency.out" | grep -v '^    LATENCY '
    local k
    for k in median_ms p90_ms p99_ms max_ms seen iterations timeouts stale_reloads max_stale bad_patch probe_errors flaps patch_median_ms outliers; do
        R[$W:reload_$k]=$(kv "$dir/latency.out" LATENCY $k)
    done

    # ---- 2. steady load while the route changes every FLIP_MS
    if [ "$LOAD_SECS" != 0 ]; then
    log "[$W worker(s)] load: wrk -t2 -c50 -d${LOAD_SECS}s while the route changes every ${FLIP_MS} ms"
    local a0 b0 g0 c0 flip wrkpid
    a0=$(origin_count A); b0=$(origin_count B); g0=$(snapshot_generation); c0=$(crash_lines)
    remember_workers
    local workers_before cpu0; workers_before=$(worker_pids | tr '\n' ' '); cpu0=$(worker_cpu)
    run_bg "w$W-flip" timeout $((LOAD_SECS + 20)) $PY "$PROBE" flip --admin "127.0.0.1:$ADMIN_PORT" \
        --interval "$(echo "scale=3; $FLIP_MS / 1000" | bc)" --duration "$LOAD_SECS"
    flip=$LAST_PID
    run_bg "w$W-load" timeout $((LOAD_SECS + 20)) "$WRK" -t2 -c50 -d"${LOAD_SECS}s" --timeout 2s --latency \
        -s "$TMP/report.lua" "http://127.0.0.1:$GW_PORT/"
    wrkpid=$LAST_PID
    run_fg sleep "$(echo "$LOAD_SECS / 2" | bc -l)"
    R[$W:load_conns]=$($PY "$PROBE" conns --master "$SL_PID" --port "$GW_PORT" | sed -n 's/^CONNS //p')
    wait_bg $wrkpid || echo "    wrk exited with status $?"
    wait_bg $flip || echo "    route changer exited with status $?"
    sleep 0.3 # nginx flushes its buffered access logs every 100 ms
    remember_workers
    local out=$TMP/w$W-load.out
    sed -n '/Latency Distribution/,/^Req/p' "$out" | sed 's/^/    /'
    grep -E '^ *(Non-2xx|Socket errors)' "$out" | sed 's/^/    /'
    sed 's/^/    /' "$TMP/w$W-flip.out" | grep -v '^    FLIP '
    for k in requests rps connect read write timeout non2xx3xx lat_p50_ms lat_p99_ms lat_max_ms; do
        R[$W:load_$k]=$(kv "$out" WRK $k)
    done
    for k in changes ok bad failed patch_p99_ms patch_max_ms; do
        R[$W:flip_$k]=$(kv "$TMP/w$W-flip.out" FLIP $k)
    done
    R[$W:load_served_a]=$(($(origin_count A) - a0))
    R[$W:load_served_b]=$(($(origin_count B) - b0))
    R[$W:load_generations]=$(( $(snapshot_generation) - g0 )) 2>/dev/null || R[$W:load_generations]="?"
    R[$W:load_crashes]=$(( $(crash_lines) - c0 ))
    local workers_after; workers_after=$(worker_pids | tr '\n' ' ')
    R[$W:load_cpu]=$(cpu_split "$cpu0" "$(worker_cpu)")
    [ "$workers_before" = "$workers_after" ] || echo "    workers changed during the load phase: [$workers_before] -> [$workers_after]"
    echo "    served by origin A: ${R[$W:load_served_a]}, by origin B: ${R[$W:load_served_b]}; snapshots published: ${R[$W:load_generations]}; worker crashes: ${R[$W:load_crashes]}"
    echo "    per worker: client connections at mid-run ${R[$W:load_conns]}, CPU seconds ${R[$W:load_cpu]}"
    if [ "${R[$W:load_crashes]}" != 0 ]; then
        grep -E 'restarting in|killed by|exited with' "$SL_LOG" | sed 's/^/    sluiced: /' | tail -5
        echo "BUG: $W worker(s): ${R[$W:load_crashes]} worker crash(es) during the load phase (see above)" >>"$TMP/bugs"
    fi

    fi

    # ---- 3. kill test: same load, kill -9 a worker at KILL_AT
    if [ "$KILL_SECS" != 0 ]; then
    log "[$W worker(s)] kill: wrk -t2 -c50 -d${KILL_SECS}s, kill -9 a worker at t=${KILL_AT} s"
    local killer r0
    r0=$(grep -c 'restarting in' "$SL_LOG")
    run_bg "w$W-kload" timeout $((KILL_SECS + 20)) "$WRK" -t2 -c50 -d"${KILL_SECS}s" --timeout 2s --latency \
        -s "$TMP/report.lua" "http://127.0.0.1:$GW_PORT/"
    wrkpid=$LAST_PID
    run_bg "w$W-kill" timeout $((KILL_SECS + 20)) $PY "$PROBE" kill --master "$SL_PID" \
        --proxy "127.0.0.1:$GW_PORT" --at "$KILL_AT"
    killer=$LAST_PID
    wait_bg $wrkpid || echo "    wrk exited with status $?"
    wait_bg $killer || echo "    kill helper exited with status $?"
    out=$TMP/w$W-kload.out
    grep -E '^ *(Non-2xx|Socket errors|Requests/sec)' "$out" | sed 's/^/    /'
    sed 's/^/    /' "$TMP/w$W-kill.out" | grep -v '^    KILL '
    grep 'restarting in' "$SL_LOG" | tail -n +$((r0 + 1)) | sed 's/^/    sluiced: /'
    for k in requests rps connect read write timeout non2xx3xx lat_max_ms; do
        R[$W:kill_$k]=$(kv "$out" WRK $k)
    done
    for k in kills respawn1_ms served1_ms respawn2_ms served2_ms probe_errors probe_non200; do
        R[$W:kill_$k]=$(kv "$TMP/w$W-kill.out" KILL $k)
    done
    R[$W:kill_backoffs]=$(grep 'restarting in' "$SL_LOG" | tail -n +$((r0 + 1)) | sed -n 's/.*restarting in \([0-9]*\) ms.*/\1/p' | paste -sd/)
    local n_now; n_now=$(worker_pids | wc -l)
    [ "$n_now" = "$W" ] || echo "BUG: $W worker(s): $n_now worker(s) running after the kill test" | tee -a "$TMP/bugs"
    fi

    # ---- stop
    stop_sluiced
    log "[$W worker(s)] sluiced stopped (SIGTERM) in $(printf '%.2f' "$STOP_SECS") s"
    R[$W:stop_s]=$(printf '%.2f' "$STOP_SECS")
    # Anything else sluiced complained about (the kills above are expected).
    local other
    other=$(grep -E '^[^ ]+ (error|warn) ' "$SL_LOG" | grep -v 'killed by signal 9 (Killed)')
    if [ -n "$other" ]; then
        echo "    sluiced logged $(echo "$other" | wc -l) other error/warning line(s), e.g.:"
        echo "$other" | head -5 | sed 's/^/    sluiced: /'
    fi
    R[$W:log_problems]=$(printf '%s' "$other" | grep -c . || true)
}

log "binary: $SLUICED_SRC ($("$SLUICED" --version 2>&1), built $(date -u -r "$SLUICED_SRC" +%Y-%m-%dT%H:%M:%SZ), git $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?')); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
log "sluice hot-reload benchmark: $(nproc) CPU(s), workers ${WORKERS_LIST}, $ITERS reloads, load ${LOAD_SECS}s, kill ${KILL_SECS}s at ${KILL_AT}"
for W in $WORKERS_LIST; do
    run_variant "$W"
done

# ------------------------------------------------------------------ report
v() { local x=${R[$1]:-}; echo "${x:-n/a}"; }
errs() { # sum of wrk socket errors for W and phase
    local s=0 k x
    for k in connect read write timeout; do x=${R[$1:$2_$k]:-0}; s=$((s + ${x:-0})); done
    echo $s
}
_lat1() { echo "$(v $1:reload_median_ms) / $(v $1:reload_p90_ms)"; }
_lat2() { echo "$(v $1:reload_p99_ms) / $(v $1:reload_max_ms)"; }
_seen() { echo "$(v $1:reload_seen) / $(v $1:reload_iterations) ($(v $1:reload_timeouts))"; }
_slow() { v $1:reload_outliers; }
_stale() { echo "$(v $1:reload_stale_reloads) (max $(v $1:reload_max_stale) in a row)"; }
_rps() { v $1:load_rps; }
_req() { v $1:load_requests; }
_lerr() { echo "$(v $1:load_connect)/$(v $1:load_read)/$(v $1:load_write)/$(v $1:load_timeout)"; }
_lnon() { v $1:load_non2xx3xx; }
_llat() { echo "$(v $1:load_lat_p50_ms) / $(v $1:load_lat_p99_ms) / $(v $1:load_lat_max_ms)"; }
_flips() { echo "$(v $1:flip_ok) / $(v $1:flip_changes)"; }
_patch() { echo "$(v $1:flip_patch_p99_ms) / $(v $1:flip_patch_max_ms)"; }
_ab() { echo "$(v $1:load_served_a) / $(v $1:load_served_b)"; }
_crash() { v $1:load_crashes; }
_cpu() { v $1:load_cpu; }
_conns() { v $1:load_conns; }
_krps() { v $1:kill_rps; }
_kerr() { echo "$(v $1:kill_connect)/$(v $1:kill_read)/$(v $1:kill_write)/$(v $1:kill_timeout)"; }
_knon() { v $1:kill_non2xx3xx; }
_k1() { echo "$(v $1:kill_respawn1_ms) / $(v $1:kill_served1_ms)"; }
_k2() { echo "$(v $1:kill_respawn2_ms) / $(v $1:kill_served2_ms)"; }
_kb() { v $1:kill_backoffs; }
_stop() { v $1:stop_s; }
_logp() { v $1:log_problems; }
row() { local label=$1 f=$2; printf '| %-52s' "$label"; for W in $WORKERS_LIST; do printf ' | %-20s' "$($f "$W")"; done; echo ' |'; }
{
    printf '| %-52s' "metric"; for W in $WORKERS_LIST; do printf ' | %-20s' "$W worker(s)"; done; echo ' |'
    printf '| %-52s' "---"; for W in $WORKERS_LIST; do printf ' | %-20s' "---"; done; echo ' |'
    row "reload latency median / p90 (ms)" _lat1
    row "reload latency p99 / max (ms)" _lat2
    row "reloads seen / done (not seen in 3 s)" _seen
    row "reloads slower than 20 ms" _slow
    row "reloads where a request after the 2xx got old config" _stale
    row "load: requests/s" _rps
    row "load: requests total" _req
    row "load: errors connect/read/write/timeout" _lerr
    row "load: non-2xx/3xx responses" _lnon
    row "load: latency p50 / p99 / max (ms)" _llat
    row "load: route changes 2xx / sent" _flips
    row "load: PATCH p99 / max (ms)" _patch
    row "load: responses from origin A / B" _ab
    row "load: worker crashes" _crash
    row "load: client connections per worker (mid-run)" _conns
    row "load: CPU seconds used by each worker" _cpu
    row "kill: requests/s" _krps
    row "kill: errors connect/read/write/timeout" _kerr
    row "kill: non-2xx/3xx responses" _knon
    row "kill 1: respawned / served after (ms)" _k1
    row "kill 2: respawned / served after (ms)" _k2
    row "kill: supervisor backoffs logged (ms)" _kb
    row "stop (SIGTERM) took (s)" _stop
    row "other error/warn lines in the sluiced log" _logp
} >"$TMP/table"
log "done; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
cat "$TMP/table"
if [ -s "$TMP/bugs" ]; then
    FAILED=1
    echo
    echo "Problems seen:"
    sed 's/^/  /' "$TMP/bugs"
fi

# Last line: machine-readable; unprefixed keys for the first variant, wN_ for the others.
line="RESULT"
first=1
for W in $WORKERS_LIST; do
    p=""; [ $first = 1 ] || p="w${W}_"
    line+=" ${p}workers=$W ${p}reload_median_ms=$(v $W:reload_median_ms) ${p}reload_p90_ms=$(v $W:reload_p90_ms)"
    line+=" ${p}reload_p99_ms=$(v $W:reload_p99_ms) ${p}reload_max_ms=$(v $W:reload_max_ms) ${p}reload_unseen=$(v $W:reload_timeouts)"
    line+=" ${p}load_rps=$(v $W:load_rps) ${p}load_requests=$(v $W:load_requests) ${p}load_errors=$(errs $W load)"
    line+=" ${p}load_non2xx=$(v $W:load_non2xx3xx) ${p}load_route_changes=$(v $W:flip_ok)"
    line+=" ${p}kill_errors=$(errs $W kill) ${p}kill_non2xx=$(v $W:kill_non2xx3xx)"
    line+=" ${p}kill_served1_ms=$(v $W:kill_served1_ms) ${p}kill_served2_ms=$(v $W:kill_served2_ms)"
    first=0
done
echo
echo "$line"

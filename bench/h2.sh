#!/usr/bin/env bash
# HTTP/2 over TLS benchmark: sluice against nginx and HAProxy, side by side, on loopback.
#
# The same nginx origin as bench/proxy.sh (/small: 100-byte body, /big: 64 KiB static file)
# behind three TLS-terminating proxies, each with one route to it and upstream keep-alive
# (HTTP/1.1 to the origin), all serving the same throwaway self-signed ECDSA P-256
# certificate for bench.local and offering ALPN h2:
#   sluice   a Secret (kubernetes.io/tls), a Gateway with one HTTPS listener (Terminate),
#            a Backend and an HTTPRoute, created through the admin API
#   nginx    bench/conf/nginx-h2.conf: listen ssl http2, proxy_pass to an upstream with keepalive
#   HAProxy  bench/conf/haproxy-h2.cfg: bind ssl alpn h2,http/1.1, http-reuse always
# h2load drives them over TLS (SNI bench.local, ALPN h2; --connect-to 127.0.0.1) in
# interleaved rounds (sluice nginx haproxy sluice nginx haproxy ...) for each variant
# (workers x body). Per proxy: the median over the rounds of requests/s, CPU time per request
# (utime+stime of all the proxy's processes from /proc/PID/stat, sampled around each h2load
# run), h2load's mean request time; every failed, errored or timed-out request and every
# non-2xx response is counted and flagged. Every process started here is stopped by PID on exit.
#
# usage: bench/h2.sh                        (full run: 2 x 2 variants x 3 proxies x 3 rounds of 10 s, ~6.5 min)
#        ROUNDS=1 DURATION=2 bench/h2.sh    (smoke run, ~1 min)
# env:
#   ROUNDS=3  DURATION=10 (s per measured h2load run)  WARMUP=1 (s of unmeasured h2load per proxy and variant)
#   WORKERS_LIST="1 2" (sluice workers / nginx worker_processes / HAProxy nbthread)
#   BODIES="small big"  CONNS=50 (h2load -c)  STREAMS=10 (h2load -m, concurrent streams per connection)
#   H2LOAD_THREADS=2 (h2load -t)  PROXIES="sluice nginx haproxy"  ORIGIN_WORKERS=1
#   NGINX_KEEPALIVE=1024 (nginx's idle upstream connections per worker: sluice keeps up to 1024; with
#       CONNS x STREAMS = 500 requests in flight, nginx's usual 64 would open and close origin
#       connections all the time and measure that instead)
#   SLUICED (default build/sbin/sluiced, copied to the temp dir at start), H2LOAD, NGINX, HAPROXY
#   MAX_SECS (watchdog for the whole run)  KEEP=1 (keep the temp dir)
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/proxy_lib.sh"

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-2}; fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
WORKERS_LIST=${WORKERS_LIST:-"1 2"}
BODIES=${BODIES:-"small big"}
CONNS=${CONNS:-50}
STREAMS=${STREAMS:-10}
H2LOAD_THREADS=${H2LOAD_THREADS:-2}
PROXIES=${PROXIES:-"sluice nginx haproxy"}
ORIGIN_WORKERS=${ORIGIN_WORKERS:-1}
NGINX_KEEPALIVE=${NGINX_KEEPALIVE:-1024}
KEEP=${KEEP:-0}
SLUICED_SRC=${SLUICED:-$(cd "$HERE/.." && pwd)/build/sbin/sluiced}
H2LOAD=${H2LOAD:-h2load}
NGINX=${NGINX:-nginx}
HAPROXY=${HAPROXY:-haproxy}
SMALL_BYTES=100
BIG_BYTES=65536
MAX_CONCURRENT=128   # sluice's SETTINGS_MAX_CONCURRENT_STREAMS, given to nginx and HAProxy too
SNI=bench.local

nw=$(echo $WORKERS_LIST | wc -w); nb=$(echo $BODIES | wc -w); np=$(echo $PROXIES | wc -w)
MAX_SECS=${MAX_SECS:-$((2 * (nw * nb * np * (WARMUP + 4 + ROUNDS * (DURATION + 4)) + nw * 60) + 120))}

for tool in "$H2LOAD" curl openssl base64 bc; do
    command -v "$tool" >/dev/null || { echo "h2.sh: $tool not found" >&2; exit 2; }
done
for p in $PROXIES; do
    case $p in sluice | nginx | haproxy) ;; *) echo "h2.sh: unknown proxy $p" >&2; exit 2 ;; esac
    [ "$p" = haproxy ] && { command -v "$HAPROXY" >/dev/null || { echo "h2.sh: $HAPROXY not found" >&2; exit 2; }; }
done
for b in $BODIES; do
    case $b in small | big) ;; *) echo "h2.sh: unknown body $b (small or big)" >&2; exit 2 ;; esac
done
command -v "$NGINX" >/dev/null || { echo "h2.sh: $NGINX not found (it is also the origin)" >&2; exit 2; }
curl -V | grep -qi 'http2' || { echo "h2.sh: curl without HTTP/2 support" >&2; exit 2; }
[ "$CONNS" -ge "$H2LOAD_THREADS" ] || H2LOAD_THREADS=$CONNS
if [ "$STREAMS" -gt "$MAX_CONCURRENT" ]; then
    echo "h2.sh: STREAMS=$STREAMS is over the $MAX_CONCURRENT concurrent streams the proxies allow" >&2; exit 2
fi

ulimit -n "$(ulimit -Hn)" 2>/dev/null
CLK_TCK=$(getconf CLK_TCK)

TMP=$(mktemp -d /tmp/sluice-h2.XXXXXX)
mkdir -p "$TMP/res"
T0=$(date +%s.%N)
log() { printf '[%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*"; }
bug() { echo "$*" | tee -a "$TMP/bugs"; }

# ------------------------------------------------------------------ process bookkeeping
ORIGIN_PID=""
SL_PID=""; NX_PID=""; HA_PID=""
SL_SEEN=()
BG_PIDS=()
WATCHDOG=""


cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$WATCHDOG" ] && { kill "$WATCHDOG" 2>/dev/null; wait "$WATCHDOG" 2>/dev/null; }
    local p
    for p in "${BG_PIDS[@]}"; do stop_pid "$p" TERM 2; done
    stop_proxies >/dev/null 2>&1
    [ -n "$ORIGIN_PID" ] && stop_pid "$ORIGIN_PID" TERM 5
    if [ "$KEEP" = 1 ] || [ $rc -ne 0 ]; then
        echo "h2.sh: logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'echo "h2.sh: interrupted" >&2; exit 130' INT TERM

(
    trap 'kill $sp 2>/dev/null; exit 0' TERM
    sleep "$MAX_SECS" & sp=$!
    wait $sp
    echo "h2.sh: watchdog: still running after $MAX_SECS s, aborting" >&2
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

# A copy of the binary: others may rebuild build/sbin/sluiced while this runs (and it may be
# missing for a moment while they do).
SLUICED=$TMP/sluiced
if [[ " $PROXIES " == *" sluice "* ]]; then
    for _ in $(seq 120); do [ -x "$SLUICED_SRC" ] && cp "$SLUICED_SRC" "$SLUICED" 2>/dev/null && break; sleep 1; done
    [ -x "$SLUICED" ] || { echo "h2.sh: $SLUICED_SRC not built (cd build && make -j2)" >&2; exit 2; }
fi

# ------------------------------------------------------------------ certificate
CERT=$TMP/tls/bench.crt; KEY=$TMP/tls/bench.key; PEM=$TMP/tls/bench.pem
mkdir -p "$TMP/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" -keyout "$KEY" -out "$CERT" >"$TMP/tls/openssl.out" 2>&1 ||
    { echo "h2.sh: openssl failed:" >&2; cat "$TMP/tls/openssl.out" >&2; exit 1; }
cat "$CERT" "$KEY" >"$PEM"
chmod 600 "$KEY" "$PEM"

# ------------------------------------------------------------------ origin (as bench/proxy.sh)
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
    { echo "h2.sh: origin did not start:" >&2; cat "$odir/error.log" "$odir/stdout" >&2; exit 1; }

# wait_h2 PORT PATH EXPECTED_BYTES [tries]: wait until https://bench.local:PORT/PATH (on
# 127.0.0.1) answers 200 over HTTP/2 with a body of that size.
wait_h2() {
    local port=$1 path=$2 want=$3 tries=${4:-200} got i
    for ((i = 0; i < tries; i++)); do
        got=$(curl -sk --http2 --resolve "$SNI:$port:127.0.0.1" -o /dev/null -w '%{http_code} %{size_download} %{http_version}' \
            --max-time 2 "https://$SNI:$port$path" 2>/dev/null)
        [ "$got" = "200 $want 2" ] && return 0
        sleep 0.05
    done
    echo "wait_h2: https://$SNI:$port$path answered '$got', wanted '200 $want 2' (status, bytes, HTTP version)" >&2
    return 1
}
wait_h2_both() { wait_h2 "$1" /small $SMALL_BYTES "${2:-200}" && wait_h2 "$1" /big $BIG_BYTES; }

# ------------------------------------------------------------------ proxies
start_sluice() { # start_sluice W
    local W=$1 dir=$TMP/sluice-w$1 admin port ok=0
    mkdir -p "$dir"
    read -r admin port < <(freeports 2)
    SL_PORT=$port; SL_LOG=$dir/sluiced.log
    "$SLUICED" --state-dir "$dir/state" --admin "127.0.0.1:$admin" --access-log off >"$dir/stdout" 2>"$SL_LOG" &
    SL_PID=$!
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null && { ok=1; break; }
        alive "$SL_PID" || break
        sleep 0.05
    done
    [ $ok = 1 ] || { echo "h2.sh: sluiced did not start:" >&2; cat "$SL_LOG" >&2; return 1; }
    local base=http://127.0.0.1:$admin
    post() {
        local code
        code=$(curl -s -o "$dir/post.out" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" "$base$1")
        case $code in 200 | 201) ;; *) echo "h2.sh: POST $1 -> $code $(cat "$dir/post.out")" >&2; return 1 ;; esac
    }
    post /api/v1/namespaces/default/secrets \
        '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"bench-tls"},"type":"kubernetes.io/tls",
          "data":{"tls.crt":"'"$(base64 -w0 "$CERT")"'","tls.key":"'"$(base64 -w0 "$KEY")"'"}}' || return 1
    post /apis/gateway.sluice.dev/v1alpha1/namespaces/default/backends \
        '{"apiVersion":"gateway.sluice.dev/v1alpha1","kind":"Backend","metadata":{"name":"origin"},
          "spec":{"type":"Static","static":{"hosts":[{"host":"127.0.0.1","port":'"$ORIGIN_PORT"'}]}}}' || return 1
    post /apis/gateway.networking.k8s.io/v1/namespaces/default/gateways \
        '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway",
          "metadata":{"name":"bench","annotations":{"sluice.dev/workers":"'"$W"'"}},
          "spec":{"gatewayClassName":"sluice","addresses":[{"type":"IPAddress","value":"127.0.0.1"}],
                  "listeners":[{"name":"https","protocol":"HTTPS","port":'"$port"',
                                "tls":{"mode":"Terminate","certificateRefs":[{"kind":"Secret","group":"","name":"bench-tls"}]}}]}}' || return 1
    post /apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes \
        '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"bench"},
          "spec":{"parentRefs":[{"name":"bench"}],
                  "rules":[{"backendRefs":[{"group":"gateway.sluice.dev","kind":"Backend","name":"origin"}]}]}}' || return 1
    wait_h2_both "$port" 400 || { cat "$SL_LOG" >&2; return 1; }
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
        -e "s|@KEEPALIVE@|$NGINX_KEEPALIVE|g" -e "s|@CERT@|$CERT|g" -e "s|@KEY@|$KEY|g" -e "s|@STREAMS@|$MAX_CONCURRENT|g" \
        -e "s|@USER@|$(id -un)|g" -e "s|@GROUP@|$(id -gn)|g" "$HERE/conf/nginx-h2.conf" >"$dir/nginx.conf"
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout" 2>&1 &
    NX_PID=$!
    wait_h2_both "$NX_PORT" || { cat "$dir/error.log" "$dir/stdout" >&2; return 1; }
}

start_haproxy() { # start_haproxy W (W threads in one process)
    local W=$1 dir=$TMP/haproxy-w$1
    mkdir -p "$dir"
    read -r HA_PORT < <(freeports 1)
    sed -e "s|@PORT@|$HA_PORT|g" -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" -e "s|@THREADS@|$W|g" \
        -e "s|@PEM@|$PEM|g" -e "s|@STREAMS@|$MAX_CONCURRENT|g" "$HERE/conf/haproxy-h2.cfg" >"$dir/haproxy.cfg"
    "$HAPROXY" -db -f "$dir/haproxy.cfg" >"$dir/stdout" 2>&1 &
    HA_PID=$!
    wait_h2_both "$HA_PORT" || { cat "$dir/stdout" >&2; return 1; }
}

start_proxy() { case $1 in sluice) start_sluice "$2" ;; nginx) start_nginx "$2" ;; haproxy) start_haproxy "$2" ;; esac; }
proxy_port() { case $1 in sluice) echo "$SL_PORT" ;; nginx) echo "$NX_PORT" ;; haproxy) echo "$HA_PORT" ;; esac; }
proxy_master() { case $1 in sluice) echo "$SL_PID" ;; nginx) echo "$NX_PID" ;; haproxy) echo "$HA_PID" ;; esac; }
proxy_pids() { family "$(proxy_master "$1")"; }
sluice_restarts() { grep -c 'restarting in' "$SL_LOG" 2>/dev/null || true; }

# ------------------------------------------------------------------ h2load output
# h2_summary FILE: one "H2 key=value ..." line from h2load's report (appended to FILE):
#   rps, total/started/done/succeeded/failed/errored/timeout requests, s2xx..s5xx status
#   codes, body bytes received and per done request, mean request time (ms), TLS protocol,
#   cipher, ALPN.
h2_summary() {
    awk '
        function ms(v) { # "1.23ms" "456us" "1.02s" -> milliseconds
            if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v + 0 }
        /^finished in/ { rps = $4 }
        /^requests:/ { total = $2; started = $4; done_ = $6; ok = $8; failed = $10; errored = $12; timeout = $14 }
        /^status codes:/ { s2 = $3; s3 = $5; s4 = $7; s5 = $9 }
        /^traffic:/ { if (match($0, /\(([0-9]+)\) data/)) { d = substr($0, RSTART + 1, RLENGTH - 1); sub(/\).*/, "", d); data = d } }
        /^time for request:/ { lat = ms($6) }
        /^TLS Protocol:/ { proto = $3 }
        /^Cipher:/ { cipher = $2 }
        /^Application protocol:/ { alpn = $3 }
        END {
            if (rps == "") exit
            sub(/,$/, "", rps)
            printf "H2 rps=%s total=%s started=%s ndone=%s succeeded=%s failed=%s errored=%s timeout=%s s2xx=%s s3xx=%s s4xx=%s s5xx=%s data=%.0f bytes_per_req=%.0f lat_mean_ms=%.3f proto=%s cipher=%s alpn=%s\n",
                rps, total, started, done_, ok, failed, errored, timeout, s2, s3, s4, s5, data + 0,
                (done_ > 0 ? data / done_ : 0), lat, proto, cipher, alpn
        }' "$1" >>"$1"
}

# ------------------------------------------------------------------ one h2load run
# run_one PROXY VARIANT PATH SECONDS [count=1]: results appended to $TMP/res/VARIANT.PROXY.*
run_one() {
    local P=$1 V=$2 path=$3 secs=$4 count=${5:-1}
    local port out pids pids_after t0 t1 r0 r1 o0 o1 m0 m1 opids restarts0=""
    port=$(proxy_port "$P")
    out=$TMP/res/$V.$P.h2load.$RANDOM
    pids=$(proxy_pids "$P" | tr '\n' ' ')
    opids=$(family "$ORIGIN_PID" | tr '\n' ' ')
    [ "$P" = sluice ] && restarts0=$(sluice_restarts)
    read -r -a m0 < <(machine_ticks)
    o0=$(cpu_ticks $opids)
    r0=$(reaped_ticks)
    t0=$(cpu_ticks $pids)
    local wt0=() wt1=() q
    for q in $pids; do wt0+=("$(cpu_ticks "$q")"); done
    run_bg "$out" timeout $((secs + 30)) "$H2LOAD" -t"$H2LOAD_THREADS" -c"$CONNS" -m"$STREAMS" -D"$secs" \
        --connect-to="127.0.0.1:$port" "https://$SNI:$port$path"
    wait_bg "$LAST_PID" || echo "    h2load ($P, $V) exited with status $?"
    t1=$(cpu_ticks $pids)
    r1=$(reaped_ticks)
    o1=$(cpu_ticks $opids)
    read -r -a m1 < <(machine_ticks)
    for q in $pids; do wt1+=("$(cpu_ticks "$q")"); done
    pids_after=$(proxy_pids "$P" | tr '\n' ' ')
    if [ "$P" = sluice ]; then
        local rs1; rs1=$(sluice_restarts)
        [ "$rs1" = "$restarts0" ] || bug "sluice ($V): $((rs1 - restarts0)) worker restart(s): $(grep -E 'restarting in|killed by|exited' "$SL_LOG" | tail -3 | tr '\n' ' ')"
        alive "$SL_PID" || bug "sluice ($V): the master $SL_PID died"
    fi
    [ "$pids" = "$pids_after" ] || echo "    note: $P processes changed during the run ($pids -> $pids_after); CPU time of that run is unreliable"
    h2_summary "$out"
    local done_ k
    done_=$(kv "$out" H2 ndone)
    if [ -z "$done_" ]; then
        bug "$P ($V): h2load gave no result: $(grep -v '^$' "$out" | tail -3 | tr '\n' ' ')"
        return 0
    fi
    # Problems: failed/errored/timed-out requests, non-2xx answers, not h2, wrong body size.
    local failed errored timeout non2xx want flag=""
    failed=$(kv "$out" H2 failed); errored=$(kv "$out" H2 errored); timeout=$(kv "$out" H2 timeout)
    non2xx=$(($(kv "$out" H2 s3xx) + $(kv "$out" H2 s4xx) + $(kv "$out" H2 s5xx)))
    want=$SMALL_BYTES; [ "$path" = /big ] && want=$BIG_BYTES
    [ "$failed" = 0 ] && [ "$errored" = 0 ] && [ "$timeout" = 0 ] || flag+="failed/errored/timeout $failed/$errored/$timeout of $(kv "$out" H2 total); "
    [ "$non2xx" = 0 ] || flag+="non-2xx $non2xx (3xx/4xx/5xx $(kv "$out" H2 s3xx)/$(kv "$out" H2 s4xx)/$(kv "$out" H2 s5xx)); "
    [ "$(kv "$out" H2 alpn)" = h2 ] || flag+="ALPN '$(kv "$out" H2 alpn)', not h2; "
    # h2load's data bytes include the partly received bodies of the streams still open when
    # it stops (started - done of them): done x size <= data <= started x size.
    local data started
    data=$(kv "$out" H2 data); started=$(kv "$out" H2 started)
    [ "$data" -ge $((done_ * want)) ] && [ "$data" -le $((started * want)) ] ||
        flag+="$data body bytes for $done_ responses done ($started started), not $want each; "
    [ -n "$flag" ] && bug "$P ($V$([ "$count" = 1 ] || echo ', warm-up')): ${flag%; }"
    [ "$count" = 1 ] || return 0
    for k in rps ndone failed errored timeout s3xx s4xx s5xx lat_mean_ms bytes_per_req proto cipher alpn; do
        kv "$out" H2 $k >>"$TMP/res/$V.$P.$k"
    done
    echo "$non2xx" >>"$TMP/res/$V.$P.non2xx"
    awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$done_" 'BEGIN { if (n > 0) printf "%.3f\n", d / hz * 1e6 / n }' >>"$TMP/res/$V.$P.cpu_us"
    # h2load's own CPU per request (the client does TLS too: shows when it is the bottleneck).
    awk -v d=$((r1 - r0)) -v hz="$CLK_TCK" -v n="$done_" 'BEGIN { if (n > 0) printf "%.3f\n", d / hz * 1e6 / n }' >>"$TMP/res/$V.$P.client_us"
    local split="" i
    for ((i = 0; i < ${#wt0[@]}; i++)); do
        split+="${split:+/}$(awk -v a="${wt1[$i]}" -v b="${wt0[$i]}" -v d=$((t1 - t0)) 'BEGIN { printf "%.0f", (d > 0 ? (a - b) * 100 / d : 0) }')"
    done
    # CPU used on the machine by anything but this proxy, the origin and h2load, in % of all CPUs.
    local other
    other=$(awk -v b=$((m1[0] - m0[0])) -v t=$((m1[1] - m0[1])) -v p=$((t1 - t0)) -v o=$((o1 - o0)) -v r=$((r1 - r0)) \
        'BEGIN { x = t > 0 ? (b - p - o - r) * 100 / t : 0; if (x < 0) x = 0; printf "%.0f", x }')
    echo "$other" >>"$TMP/res/$V.$P.other"
    printf '    %-8s %9s req/s  mean %7s ms  cpu %7s us/req  client %6s us/req  failed/errored/timeout %s/%s/%s  non-2xx %s  %s %s %s  cpu%% per process %s  other load %s%%\n' \
        "$P" "$(kv "$out" H2 rps)" "$(kv "$out" H2 lat_mean_ms)" "$(tail -1 "$TMP/res/$V.$P.cpu_us")" \
        "$(tail -1 "$TMP/res/$V.$P.client_us")" "$failed" "$errored" "$timeout" "$non2xx" \
        "$(kv "$out" H2 alpn)" "$(kv "$out" H2 proto)" "$(kv "$out" H2 cipher)" "$split" "$other"
}

# ------------------------------------------------------------------ the run
log "sluice HTTP/2-over-TLS benchmark: $(nproc) CPU(s) ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "sluice $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null), $($NGINX -v 2>&1 | sed 's/.*version: //')$([[ " $PROXIES " == *" haproxy "* ]] && echo ", $($HAPROXY -v | head -1 | cut -d' ' -f1-3)"), $($H2LOAD --version | head -1), $(openssl version | cut -d' ' -f1-2)"
[ -x "$SLUICED" ] && log "sluiced: copy of $SLUICED_SRC ($(stat -c '%y' "$SLUICED_SRC" 2>/dev/null | cut -d. -f1), $(stat -c %s "$SLUICED") bytes, sha256 $(sha256sum "$SLUICED" | cut -c1-12))"
log "rounds $ROUNDS x ${DURATION}s (+${WARMUP}s warm-up), workers [$WORKERS_LIST], bodies [$BODIES], h2load -t$H2LOAD_THREADS -c$CONNS -m$STREAMS over TLS (SNI $SNI, ECDSA P-256), origin nginx with $ORIGIN_WORKERS worker(s) on 127.0.0.1:$ORIGIN_PORT, nginx upstream keepalive $NGINX_KEEPALIVE, watchdog ${MAX_SECS}s"
[ $((CONNS * STREAMS)) -le "$NGINX_KEEPALIVE" ] || [[ " $PROXIES " != *" nginx "* ]] ||
    log "note: $((CONNS * STREAMS)) requests in flight but nginx caches only $NGINX_KEEPALIVE idle upstream connections per worker: it will open and close origin connections"

VARIANTS=()
for W in $WORKERS_LIST; do
    for P in $PROXIES; do start_proxy "$P" "$W" || exit 1; done
    msg="[$W worker(s)]"
    for P in $PROXIES; do msg+=" $P $(proxy_master "$P") ($(children_of "$(proxy_master "$P")" | wc -l) child process(es)) on :$(proxy_port "$P");"; done
    log "${msg%;}"
    for B in $BODIES; do
        V=w$W-$B
        VARIANTS+=("$V")
        log "[$V] warm-up ${WARMUP}s each, then $ROUNDS round(s) of ${DURATION}s: h2load -t$H2LOAD_THREADS -c$CONNS -m$STREAMS https://$SNI/$B"
        for P in $PROXIES; do run_one "$P" "$V" "/$B" "$WARMUP" 0; done
        for ((r = 1; r <= ROUNDS; r++)); do
            for P in $PROXIES; do run_one "$P" "$V" "/$B" "$DURATION"; done
        done
    done
    if [ -n "$SL_PID" ]; then
        n=$(children_of "$SL_PID" | wc -l)
        [ "$n" = "$W" ] || bug "sluice: $n worker(s) running after the $W-worker runs"
        grep -E '\b(error|crit|fatal)\b' "$SL_LOG" | head -5 | while read -r l; do bug "sluice log: $l"; done
    fi
    stop_proxies
done

# ------------------------------------------------------------------ report
med() { local f=$TMP/res/$1; [ -s "$f" ] && median $(cat "$f") || echo n/a; }
sum() { local f=$TMP/res/$1; [ -s "$f" ] && awk '{ s += $1 } END { print s + 0 }' "$f" || echo n/a; }
rounds() { local f=$TMP/res/$1; [ -s "$f" ] && awk '{ printf "%s%.0f", (NR > 1 ? " / " : ""), $1 }' "$f" || echo n/a; }
uniq_vals() { local f=$TMP/res/$1; [ -s "$f" ] && sort -u "$f" | tr '\n' ' ' | sed 's/ $//' || echo n/a; }
has() { [[ " $PROXIES " == *" $1 "* ]]; }
flagcell() { # flagcell V P: "ok" or what went wrong, summed over the measured rounds
    local V=$1 P=$2 f e t n
    f=$(sum "$V.$P.failed"); e=$(sum "$V.$P.errored"); t=$(sum "$V.$P.timeout"); n=$(sum "$V.$P.non2xx")
    if [ "$f" = n/a ]; then echo "**no result**"
    elif [ "$f$e$t$n" = 0000 ] && [ "$(uniq_vals "$V.$P.alpn")" = h2 ]; then echo ok
    else echo "**FLAG** failed $f, errored $e, timeout $t, non-2xx $n, ALPN $(uniq_vals "$V.$P.alpn")"; fi
}

{
    echo "h2load -t$H2LOAD_THREADS -c$CONNS -m$STREAMS over TLS, medians over $ROUNDS round(s) of ${DURATION}s; CPU µs/req = utime+stime of all the proxy's processes / requests done; client µs/req = the same for h2load; B/resp = body bytes received / responses done (a little over the body size for /big: the streams still open when h2load stops add their partial bodies); other load = CPU used by other processes on the machine during the run, in % of all CPUs"
    for V in "${VARIANTS[@]}"; do
        echo
        vw=${V%%-*}
        echo "#### $V: ${vw#w} worker(s), /${V#*-}"
        echo
        echo "| proxy | req/s | req/s per round | CPU µs/req | client µs/req | mean ms | B/resp | failures, non-2xx | TLS | other load % (max) |"
        echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- | --- | ---: |"
        for P in $PROXIES; do
            echo "| $P | $(fmt "$(med "$V.$P.rps")" 0) | $(rounds "$V.$P.rps") | $(fmt "$(med "$V.$P.cpu_us")" 2) | $(fmt "$(med "$V.$P.client_us")" 2) | $(fmt "$(med "$V.$P.lat_mean_ms")" 2) | $(fmt "$(med "$V.$P.bytes_per_req")" 0) | $(flagcell "$V" "$P") | $(uniq_vals "$V.$P.alpn") $(uniq_vals "$V.$P.proto") $(uniq_vals "$V.$P.cipher") | $(sort -n "$TMP/res/$V.$P.other" 2>/dev/null | tail -1) |"
        done
        line=""
        for O in nginx haproxy; do
            has sluice && has $O || continue
            line+="${line:+; }sluice/$O: req/s $(ratio "$(med "$V.sluice.rps")" "$(med "$V.$O.rps")"), CPU/req $(ratio "$(med "$V.sluice.cpu_us")" "$(med "$V.$O.cpu_us")")"
        done
        [ -n "$line" ] && { echo; echo "Ratios: $line."; }
    done
    if has sluice && { has nginx || has haproxy; }; then
        echo
        echo "#### Ratios (sluice / other; req/s above 1 and CPU/req below 1 favour sluice)"
        echo
        echo "| variant | req/s vs nginx | req/s vs HAProxy | CPU/req vs nginx | CPU/req vs HAProxy |"
        echo "| --- | ---: | ---: | ---: | ---: |"
        for V in "${VARIANTS[@]}"; do
            echo "| $V | $(ratio "$(med "$V.sluice.rps")" "$(med "$V.nginx.rps")") | $(ratio "$(med "$V.sluice.rps")" "$(med "$V.haproxy.rps")") | $(ratio "$(med "$V.sluice.cpu_us")" "$(med "$V.nginx.cpu_us")") | $(ratio "$(med "$V.sluice.cpu_us")" "$(med "$V.haproxy.cpu_us")") |"
        done
    fi
} >"$TMP/table.txt"
echo
cat "$TMP/table.txt"
if [ -s "$TMP/bugs" ]; then
    echo
    echo "Problems seen:"
    sed 's/^/  /' "$TMP/bugs"
fi
echo
line="RESULT bench=h2 rounds=$ROUNDS duration_s=$DURATION conns=$CONNS streams=$STREAMS h2load_threads=$H2LOAD_THREADS"
for V in "${VARIANTS[@]}"; do
    k=${V//-/_}
    for P in $PROXIES; do
        line+=" ${k}_${P}_rps=$(fmt "$(med "$V.$P.rps")" 0) ${k}_${P}_cpu_us_per_req=$(med "$V.$P.cpu_us")"
        line+=" ${k}_${P}_failed=$(sum "$V.$P.failed") ${k}_${P}_errored=$(sum "$V.$P.errored") ${k}_${P}_timeout=$(sum "$V.$P.timeout") ${k}_${P}_non2xx=$(sum "$V.$P.non2xx")"
    done
    has sluice && has nginx && line+=" ${k}_ratio_nginx=$(ratio "$(med "$V.sluice.rps")" "$(med "$V.nginx.rps")") ${k}_cpu_ratio_nginx=$(ratio "$(med "$V.sluice.cpu_us")" "$(med "$V.nginx.cpu_us")")"
    has sluice && has haproxy && line+=" ${k}_ratio_haproxy=$(ratio "$(med "$V.sluice.rps")" "$(med "$V.haproxy.rps")") ${k}_cpu_ratio_haproxy=$(ratio "$(med "$V.sluice.cpu_us")" "$(med "$V.haproxy.cpu_us")")"
done
line+=" problems=$( [ -s "$TMP/bugs" ] && wc -l <"$TMP/bugs" || echo 0)"
echo "$line"
[ ! -s "$TMP/bugs" ]

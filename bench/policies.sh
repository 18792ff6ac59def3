#!/usr/bin/env bash
# Policy cost benchmark: CPU per request of each TrafficPolicy section on the proxy path,
# relative to the same proxy without it, beside nginx with its nearest equivalent, in one run.
#
# One nginx origin (/small: 100-byte body) behind two proxies with one worker each and
# upstream keep-alive: sluice (Gateway + Backend + HTTPRoute; each variant is a TrafficPolicy
# on the route, applied through the admin API with no restart) and nginx (proxy_pass with
# upstream keepalive; each variant its own configuration). Variants:
#   none       no policy
#   ipAccess   allow 127.0.0.0/8, deny 10.0.0.0/8        nginx: allow/deny
#   rateLimit  a local limit never reached (1e9/s)        nginx: limit_req (zone, nodelay)
#   apiKeyAuth a key in X-API-Key                          nginx: map of the header + return 401
#   basicAuth  SHA-512-crypt htpasswd user                 nginx: auth_basic (hashes every request)
#   jwt        an ES256 bearer token (inline JWKS; after the first request, from the cache)
#              nginx: none (JWT checks are nginx Plus only): not measured
#   extAuth    every request checked by an HTTP service (the origin nginx answering 204 on /authz/)
#              nginx: auth_request to the same service, over kept-alive connections
#   globalRateLimit  rateLimit with scope Global (a local redis-server, never reached)
#              nginx: none in open source: not measured
# wrk (2 threads, CONNS connections, the variant's credentials) drives them in rounds that go
# over every variant in turn (sluice then nginx for each); per proxy and variant the medians
# over the rounds of requests/s and CPU time per request (utime+stime of the proxy's processes
# from /proc/PID/stat around each run).
#
# usage: bench/policies.sh                  (5 rounds of 5 s per proxy and variant, ~5 min)
#        QUICK=1 bench/policies.sh          (1 round of 2 s, ~1 min)
# env: ROUNDS DURATION WARMUP=1 CONNS=50 VARIANTS="none ipAccess rateLimit apiKeyAuth basicAuth jwt extAuth globalRateLimit"
#      SLUICED (default build/sbin/sluiced, copied at start) WRK NGINX KEEP=1 (keep the temp dir)
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/proxy_lib.sh"

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-2}; fi
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-50}
VARIANTS=${VARIANTS:-"none ipAccess rateLimit apiKeyAuth basicAuth jwt extAuth globalRateLimit"}
KEEP=${KEEP:-0}
SLUICED_SRC=${SLUICED:-$(cd "$HERE/.." && pwd)/build/sbin/sluiced}
WRK=${WRK:-wrk}
NGINX=${NGINX:-nginx}
API_KEY=bench-key-0123456789
USER_PW=bench:s3cret-pw
CLK_TCK=$(getconf CLK_TCK)

for tool in "$WRK" "$NGINX" curl htpasswd base64 openssl python3 redis-server; do
    command -v "$tool" >/dev/null || { echo "policies.sh: $tool not found" >&2; exit 2; }
done
[ -x "$SLUICED_SRC" ] || { echo "policies.sh: $SLUICED_SRC not built" >&2; exit 2; }

TMP=$(mktemp -d /tmp/sluice-policies.XXXXXX)
SL_PID=""; NX_PID=""; HA_PID=""; SL_SEEN=(); ORIGIN_PID=""; REDIS_PID=""
bug() { echo "BUG: $*" | tee -a "$TMP/bugs" >&2; }
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_proxies >/dev/null 2>&1
    [ -n "$ORIGIN_PID" ] && stop_pid "$ORIGIN_PID" TERM 5
    [ -n "$REDIS_PID" ] && stop_pid "$REDIS_PID" TERM 5
    if [ "$KEEP" = 1 ] || [ $rc -ne 0 ]; then echo "policies.sh: files kept in $TMP" >&2; else rm -rf "$TMP"; fi
    exit $rc
}
trap cleanup EXIT
trap 'echo "policies.sh: interrupted" >&2; exit 130' INT TERM
write_helpers "$TMP"
cp "$SLUICED_SRC" "$TMP/sluiced"
read -r ORIGIN_PORT SL_PORT NX_PORT ADMIN_PORT REDIS_PORT <<<"$(freeports 5)"
ADMIN=http://127.0.0.1:$ADMIN_PORT

# ---- origin
mkdir -p "$TMP/origin/www"
head -c 100 /dev/zero | tr '\0' 'x' >"$TMP/origin/www/small"
cat >"$TMP/origin/nginx.conf" <<EOF
user $(id -un) $(id -gn);
worker_processes 1;
daemon off;
pid $TMP/origin/nginx.pid;
error_log $TMP/origin/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$ORIGIN_PORT; root $TMP/origin/www; location / { } location /authz/ { return 204; } }
}
EOF
"$NGINX" -p "$TMP/origin" -c "$TMP/origin/nginx.conf" >"$TMP/origin/out" 2>&1 &
ORIGIN_PID=$!
wait_http "http://127.0.0.1:$ORIGIN_PORT/small" 100 || exit 1

# ---- credentials, the same for both proxies
htpasswd -nb -5 "${USER_PW%%:*}" "${USER_PW#*:}" >"$TMP/htpasswd"
BASIC="Basic $(printf '%s' "$USER_PW" | base64 -w0)"
# An ES256 key, its JWKS and a token valid for a day (made with openssl by the tests' helper).
python3 - "$TMP" "$HERE/../tests/integration" <<'PY'
import json, sys, time
sys.path.insert(0, sys.argv[2])
from jwt_tokens import Key, jwks
k = Key("ES256", sys.argv[1], kid="bench")
open(sys.argv[1] + "/jwks.json", "w").write(jwks(k))
open(sys.argv[1] + "/token", "w").write(k.token({"iss": "bench", "sub": "bench", "exp": int(time.time()) + 86400}))
PY
TOKEN=$(cat "$TMP/token")
JWKS_JSON=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$TMP/jwks.json")

# ---- sluice
# ---- redis (Global rate limits)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!

"$TMP/sluiced" --state-dir "$TMP/sl-state" --admin "127.0.0.1:$ADMIN_PORT" --access-log off \
    --redis "127.0.0.1:$REDIS_PORT" \
    >"$TMP/sluiced.log" 2>&1 &
SL_PID=$!
for ((i = 0; i < 100; i++)); do curl -sf "$ADMIN/readyz" >/dev/null && break; sleep 0.05; done
API_OK="200 201 404" # (proxy_lib.sh's api: a policy deleted before it was made is fine)
GW=/apis/gateway.networking.k8s.io/v1/namespaces/default
SG=/apis/gateway.sluice.dev/v1alpha1/namespaces/default
api POST /api/v1/namespaces/default/secrets "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"keys\"},\"data\":{\"bench\":\"$(printf '%s' "$API_KEY" | base64 -w0)\"}}"
api POST /api/v1/namespaces/default/secrets "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"users\"},\"data\":{\"htpasswd\":\"$(base64 -w0 <"$TMP/htpasswd")\"}}"
api POST $SG/backends "{\"apiVersion\":\"gateway.sluice.dev/v1alpha1\",\"kind\":\"Backend\",\"metadata\":{\"name\":\"origin\"},\"spec\":{\"type\":\"Static\",\"static\":{\"hosts\":[{\"host\":\"127.0.0.1\",\"port\":$ORIGIN_PORT}]}}}"
api POST $GW/httproutes "{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"HTTPRoute\",\"metadata\":{\"name\":\"r\"},\"spec\":{\"parentRefs\":[{\"name\":\"gw\"}],\"rules\":[{\"backendRefs\":[{\"group\":\"gateway.sluice.dev\",\"kind\":\"Backend\",\"name\":\"origin\"}]}]}}"
api POST $GW/gateways "{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"Gateway\",\"metadata\":{\"name\":\"gw\",\"annotations\":{\"sluice.dev/workers\":\"1\"}},\"spec\":{\"gatewayClassName\":\"sluice\",\"listeners\":[{\"name\":\"http\",\"port\":$SL_PORT,\"protocol\":\"HTTP\"}]}}"
wait_http "http://127.0.0.1:$SL_PORT/small" 100 || exit 1

sluice_section() { # the TrafficPolicy section of a variant (JSON), "" for none
    case $1 in
    ipAccess) echo '"ipAccess":{"allow":["127.0.0.0/8"],"deny":["10.0.0.0/8"]}' ;;
    rateLimit) echo '"rateLimit":{"requests":1000000000,"unit":"Second"}' ;;
    apiKeyAuth) echo '"apiKeyAuth":{"secretRefs":[{"name":"keys"}]}' ;;
    basicAuth) echo '"basicAuth":{"secretRef":{"name":"users"}}' ;;
    jwt) echo "\"jwt\":{\"providers\":[{\"name\":\"bench\",\"issuer\":\"bench\",\"jwks\":{\"inline\":$JWKS_JSON}}]}" ;;
    extAuth) echo "\"extAuth\":{\"url\":\"http://127.0.0.1:$ORIGIN_PORT/authz\"}" ;;
    globalRateLimit) echo '"rateLimit":{"requests":1000000000,"unit":"Second","scope":"Global","failureMode":"Deny"}' ;;
    esac
}
nginx_directives() { # the nginx location directives of a variant
    case $1 in
    ipAccess) echo 'allow 127.0.0.0/8; deny 10.0.0.0/8; deny all;' ;;
    rateLimit) echo 'limit_req zone=bench burst=1000000 nodelay;' ;;
    apiKeyAuth) echo 'if ($api_client = "") { return 401; }' ;;
    basicAuth) echo "auth_basic bench; auth_basic_user_file $TMP/htpasswd;" ;;
    extAuth) echo 'auth_request /_authz;' ;;
    esac
}
credentials() { # wrk -H arguments of a variant
    case $1 in
    apiKeyAuth) printf '%s\n' -H "X-API-Key: $API_KEY" ;;
    basicAuth) printf '%s\n' -H "Authorization: $BASIC" ;;
    jwt) printf '%s\n' -H "Authorization: Bearer $TOKEN" ;;
    esac
}
# The answer without credentials that shows the variant is in force (200 for the others).
unauthorized_code() { case $1 in apiKeyAuth | basicAuth | jwt) echo 401 ;; *) echo 200 ;; esac; }
# Variants nginx (open source) has no equivalent for: measured for sluice only.
nginx_has() { [ "$1" != jwt ] && [ "$1" != globalRateLimit ]; }

apply_sluice() {
    api DELETE $SG/trafficpolicies/bench
    local section
    section=$(sluice_section "$1")
    [ -n "$section" ] && api POST $SG/trafficpolicies "{\"apiVersion\":\"gateway.sluice.dev/v1alpha1\",\"kind\":\"TrafficPolicy\",\"metadata\":{\"name\":\"bench\"},\"spec\":{\"targetRefs\":[{\"kind\":\"HTTPRoute\",\"name\":\"r\"}],$section}}"
    local want got i
    want=$(unauthorized_code "$1")
    for ((i = 0; i < 200; i++)); do
        got=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SL_PORT/small")
        # A variant that answers as "none" does is in force once the route's effective policy shows it.
        if [ "$got" = "$want" ] && { [ "$1" = none ] || [ "$want" != 200 ] ||
            curl -s "$ADMIN/debug/effective-policy?kind=HTTPRoute&namespace=default&name=r" |
                grep -q "\"$(sluice_section "$1" | cut -d'"' -f2)\""; }; then
            return 0
        fi
        sleep 0.05
    done
    echo "policies.sh: sluice variant $1 not in force (answered $got, wanted $want)" >&2
    exit 1
}

start_nginx() {
    stop_pid "${NX_PID:-}" TERM 5 2>/dev/null
    NX_PID=""
    mkdir -p "$TMP/nginx-$1"
    cat >"$TMP/nginx-$1/nginx.conf" <<EOF
user $(id -un) $(id -gn);
worker_processes 1;
daemon off;
pid $TMP/nginx-$1/nginx.pid;
error_log $TMP/nginx-$1/error.log;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests 1000000;
    limit_req_zone \$binary_remote_addr zone=bench:10m rate=1000000000r/s;
    map \$http_x_api_key \$api_client { "$API_KEY" bench; default ""; }
    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$NX_PORT;
        location / {
            $(nginx_directives "$1")
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /_authz {
            internal;
            proxy_pass http://origin/authz\$request_uri;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    "$NGINX" -p "$TMP/nginx-$1" -c "$TMP/nginx-$1/nginx.conf" >"$TMP/nginx-$1/out" 2>&1 &
    NX_PID=$!
    local want got i
    want=$(unauthorized_code "$1")
    for ((i = 0; i < 200; i++)); do
        got=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NX_PORT/small")
        [ "$got" = "$want" ] && return 0
        sleep 0.05
    done
    echo "policies.sh: nginx variant $1 not in force (answered $got, wanted $want)" >&2
    exit 1
}

# measure PROXY VARIANT PORT PIDS...: one wrk run; appends "rps cpu_us_per_request" to the results.
measure() {
    local proxy=$1 variant=$2 port=$3
    shift 3
    local args=()
    mapfile -t args < <(credentials "$variant")
    local t0 t1 out
    t0=$(cpu_ticks "$@")
    out=$("$WRK" -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/report.lua" "${args[@]}" \
        "http://127.0.0.1:$port/small" 2>&1)
    t1=$(cpu_ticks "$@")
    local line requests rps bad
    line=$(echo "$out" | grep '^WRK ')
    requests=$(echo "$line" | tr ' ' '\n' | sed -n 's/^requests=//p')
    rps=$(echo "$line" | tr ' ' '\n' | sed -n 's/^rps=//p')
    bad=$(echo "$line" | tr ' ' '\n' | sed -n 's/^non2xx3xx=//p')
    [ "${bad:-1}" = 0 ] || bug "$proxy $variant: $bad answers were not 2xx/3xx"
    local cpu
    cpu=$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v n="${requests:-0}" 'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "n/a" }')
    echo "$rps $cpu" >>"$TMP/res-$proxy-$variant"
}


echo "policies.sh: $ROUNDS rounds of ${DURATION}s, $CONNS connections, variants: $VARIANTS"
# Rounds go over every variant in turn (none ipAccess ... none ipAccess ...), so that a drift
# of the machine (frequency, caches, other load) spreads over all of them.
for ((r = 0; r < ROUNDS; r++)); do
    for variant in $VARIANTS; do
        apply_sluice "$variant"
        nginx_has "$variant" && start_nginx "$variant"
        mapfile -t cred < <(credentials "$variant")
        "$WRK" -t2 -c"$CONNS" -d"${WARMUP}s" "${cred[@]}" "http://127.0.0.1:$SL_PORT/small" >/dev/null 2>&1
        nginx_has "$variant" &&
            "$WRK" -t2 -c"$CONNS" -d"${WARMUP}s" "${cred[@]}" "http://127.0.0.1:$NX_PORT/small" >/dev/null 2>&1
        measure sluice "$variant" "$SL_PORT" $(family "$SL_PID")
        nginx_has "$variant" && measure nginx "$variant" "$NX_PORT" $(family "$NX_PID")
    done
    echo "  round $((r + 1)) done"
done

col() { median $(awk -v c="$2" '{ print $c }' "$TMP/res-$1" 2>/dev/null); }
echo
echo "| variant | sluice req/s | sluice CPU µs/req | sluice vs none | nginx req/s | nginx CPU µs/req | nginx vs none |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
base_s=$(col sluice-none 2); base_n=$(col nginx-none 2)
for variant in $VARIANTS; do
    s_rps=$(col "sluice-$variant" 1); s_cpu=$(col "sluice-$variant" 2)
    if nginx_has "$variant"; then
        n_rps=$(col "nginx-$variant" 1); n_cpu=$(col "nginx-$variant" 2)
        nginx_cells="$(fmt "$n_rps" 0) | $n_cpu | $(ratio "$n_cpu" "$base_n")"
    else
        nginx_cells="— | — | — (no equivalent)"
    fi
    echo "| $variant | $(fmt "$s_rps" 0) | $s_cpu | $(ratio "$s_cpu" "$base_s") | $nginx_cells |"
done
[ -f "$TMP/bugs" ] && { echo "policies.sh: problems seen:" >&2; cat "$TMP/bugs" >&2; exit 1; }
exit 0

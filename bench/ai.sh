#!/usr/bin/env bash
# AI gateway benchmark: what a route to an AI Backend adds, in latency and in the gateway's
# CPU per request, against calling the provider directly and against a plain route.
#
# The provider is an nginx answering POST /v1/chat/completions with a fixed OpenAI chat
# completion (about 600 bytes, with usage), and POST /s/v1/chat/completions with a fixed
# stream of CHUNKS chat.completion.chunk events, its usage chunk and [DONE] (about 200 bytes
# each), so the provider's own cost is small and the same on every path. sluice (one worker)
# has three routes to it, told apart by Host:
#   plain   a Static Backend: the proxy path with no AI processing (the control)
#   plainstream  the same Static Backend with a URLRewrite to /s/v1: the stream, proxied plainly
#           (the control for stream)
#   json    an AI Backend (OpenAICompatible, a key from a Secret): the request body is
#           collected and parsed, the key injected, the answer held, its usage parsed, sent
#           with x-sluice-ai-* fields; metrics and the access log's fields counted
#   stream  the same Backend kind with ai.path /s/v1: "stream": true requests, so the gateway
#           adds stream_options.include_usage to the body, passes the events on as they
#           complete and keeps its usage chunk from the client
#   guard   json with a TrafficPolicy aiPromptGuard: the prompt checked against the Email,
#           CreditCard and ApiKey patterns (Reject), the answer's text masked for Email
#   guardstream  stream with the same guard: every event parsed, its text held back and masked,
#           re-serialised
#   gemini, geministream  json and stream to a Gemini Backend: the request translated to
#           generateContent (the same answer in Gemini's shape, fixed), the answer and each
#           event translated back
#   bedrock, bedrockstream  the same to a Bedrock Backend: Converse, each request signed with
#           SigV4 over its body, the stream read from AWS's event-stream framing
# wrk (2 threads, CONNS connections, a small chat request body) drives: the provider directly
# (direct), then each route through sluice, in rounds; per variant the medians over the rounds
# of requests/s, p50/p99 latency and (through sluice) CPU time of sluice's processes per request
# (utime+stime from /proc/PID/stat around each run). The stream variant's CPU per request is also
# given per event.
#
# usage: bench/ai.sh                 (5 rounds of 5 s per variant, ~2 min)
#        QUICK=1 bench/ai.sh         (1 round of 2 s)
# env: ROUNDS DURATION WARMUP=1 CONNS=50 CHUNKS=20 SLUICED (default build/sbin/sluiced) WRK NGINX KEEP=1
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/proxy_lib.sh"

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-2}; fi
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-50}
CHUNKS=${CHUNKS:-20}
THREADS=$((CONNS < 2 ? 1 : 2))
KEEP=${KEEP:-0}
SLUICED_SRC=${SLUICED:-$(cd "$HERE/.." && pwd)/build/sbin/sluiced}
WRK=${WRK:-wrk}
NGINX=${NGINX:-nginx}
CLK_TCK=$(getconf CLK_TCK)
VARIANTS=${VARIANTS:-"direct plain json plainstream stream guard guardstream gemini geministream bedrock bedrockstream"}

for tool in "$WRK" "$NGINX" curl python3; do
    command -v "$tool" >/dev/null || { echo "ai.sh: $tool not found" >&2; exit 2; }
done
[ -x "$SLUICED_SRC" ] || { echo "ai.sh: $SLUICED_SRC not built" >&2; exit 2; }

TMP=$(mktemp -d /tmp/sluice-ai-bench.XXXXXX)
SL_PID=""; NX_PID=""; HA_PID=""; SL_SEEN=(); ORIGIN_PID=""
bug() { echo "BUG: $*" | tee -a "$TMP/bugs" >&2; }
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_proxies >/dev/null 2>&1
    [ -n "$ORIGIN_PID" ] && stop_pid "$ORIGIN_PID" TERM 5
    if [ "$KEEP" = 1 ] || [ $rc -ne 0 ]; then echo "ai.sh: files kept in $TMP" >&2; else rm -rf "$TMP"; fi
    exit $rc
}
trap cleanup EXIT
trap 'echo "ai.sh: interrupted" >&2; exit 130' INT TERM
write_helpers "$TMP"
cp "$SLUICED_SRC" "$TMP/sluiced"
read -r ORIGIN_PORT SL_PORT ADMIN_PORT <<<"$(freeports 3)"
ADMIN=http://127.0.0.1:$ADMIN_PORT

# ---- the provider: fixed answers written by python (valid JSON, exact usage)
mkdir -p "$TMP/origin/www/v1/chat" "$TMP/origin/www/s/v1/chat"
python3 - "$TMP/origin/www" "$CHUNKS" <<'PY'
import json, sys
root, n = sys.argv[1], int(sys.argv[2])
answer = {"id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": "bench-model",
          "system_fingerprint": "fp_bench",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "The answer is forty-two. " * 12},
                       "logprobs": None, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 24, "completion_tokens": 72, "total_tokens": 96,
                    "prompt_tokens_details": {"cached_tokens": 0}}}
open(root + "/v1/chat/completions", "w").write(json.dumps(answer))
base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "bench-model",
        "system_fingerprint": "fp_bench"}
events = []
for i in range(n):
    delta = {"content": "word%d " % i} if i else {"role": "assistant", "content": ""}
    events.append(dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
                       usage=None))
events.append(dict(base, choices=[{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}], usage=None))
events.append(dict(base, choices=[], usage={"prompt_tokens": 24, "completion_tokens": n, "total_tokens": 24 + n}))
open(root + "/s/v1/chat/completions", "w").write("".join("data: %s\n\n" % json.dumps(e) for e in events) +
                                                  "data: [DONE]\n\n")
# The same answers in Gemini's and Bedrock's shapes.
import os, struct, zlib
text = "The answer is forty-two. " * 12
os.makedirs(root + "/v1beta/models", exist_ok=True)
os.makedirs(root + "/model/bench-model", exist_ok=True)
gem = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
       "usageMetadata": {"promptTokenCount": 24, "candidatesTokenCount": 72, "totalTokenCount": 96},
       "modelVersion": "bench-model", "responseId": "bench"}
open(root + "/v1beta/models/bench-model:generateContent", "w").write(json.dumps(gem))
ev = []
for i in range(n):
    c = {"content": {"role": "model", "parts": [{"text": "word%d " % i}]}, "index": 0}
    if i == n - 1:
        c["finishReason"] = "STOP"
    ev.append({"candidates": [c], "usageMetadata": {"promptTokenCount": 24, "candidatesTokenCount": i + 1,
                                                     "totalTokenCount": 25 + i}, "modelVersion": "bench-model"})
open(root + "/v1beta/models/bench-model:streamGenerateContent", "w").write(
    "".join("data: %s\r\n\r\n" % json.dumps(e) for e in ev))
open(root + "/model/bench-model/converse", "w").write(json.dumps(
    {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
     "usage": {"inputTokens": 24, "outputTokens": 72, "totalTokens": 96}, "metrics": {"latencyMs": 1}}))
def hdr(k, v):
    k, v = k.encode(), v.encode()
    return bytes([len(k)]) + k + bytes([7]) + struct.pack(">H", len(v)) + v
def msg(event, payload):
    h = hdr(":message-type", "event") + hdr(":event-type", event) + hdr(":content-type", "application/json")
    p = json.dumps(payload).encode()
    pre = struct.pack(">II", 16 + len(h) + len(p), len(h))
    pre += struct.pack(">I", zlib.crc32(pre))
    b = pre + h + p
    return b + struct.pack(">I", zlib.crc32(b))
frames = [msg("messageStart", {"role": "assistant"})]
frames += [msg("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "word%d " % i}}) for i in range(n)]
frames += [msg("contentBlockStop", {"contentBlockIndex": 0}), msg("messageStop", {"stopReason": "end_turn"}),
           msg("metadata", {"usage": {"inputTokens": 24, "outputTokens": n, "totalTokens": 24 + n},
                            "metrics": {"latencyMs": 1}})]
open(root + "/model/bench-model/converse-stream", "wb").write(b"".join(frames))
PY
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
    client_body_buffer_size 64k;
    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        root $TMP/origin/www;
        location = /v1/chat/completions { default_type application/json; error_page 405 =200 \$uri; }
        location = /s/v1/chat/completions { default_type text/event-stream; chunked_transfer_encoding on;
                                            error_page 405 =200 \$uri; }
        location = /v1/models { return 200 '{"object":"list","data":[]}'; }
        location ~ :generateContent\$ { default_type application/json; error_page 405 =200 \$uri; }
        location ~ :streamGenerateContent\$ { default_type text/event-stream; chunked_transfer_encoding on;
                                            error_page 405 =200 \$uri; }
        location ~ /converse\$ { default_type application/json; error_page 405 =200 \$uri; }
        location ~ /converse-stream\$ { default_type application/vnd.amazon.eventstream;
                                      chunked_transfer_encoding on; error_page 405 =200 \$uri; }
    }
}
EOF
"$NGINX" -p "$TMP/origin" -c "$TMP/origin/nginx.conf" >"$TMP/origin/out" 2>&1 &
ORIGIN_PID=$!
wait_http "http://127.0.0.1:$ORIGIN_PORT/v1/models" 27 || exit 1

# ---- sluice
"$TMP/sluiced" --state-dir "$TMP/sl-state" --admin "127.0.0.1:$ADMIN_PORT" --access-log off \
    >"$TMP/sluiced.log" 2>&1 &
SL_PID=$!
for ((i = 0; i < 100; i++)); do curl -sf "$ADMIN/readyz" >/dev/null && break; sleep 0.05; done
GW=/apis/gateway.networking.k8s.io/v1/namespaces/default
SG=/apis/gateway.sluice.dev/v1alpha1/namespaces/default
api POST /api/v1/namespaces/default/secrets "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"key\"},\"data\":{\"apiKey\":\"$(printf 'sk-bench-0123456789' | base64 -w0)\"}}"
api POST $SG/backends "{\"apiVersion\":\"gateway.sluice.dev/v1alpha1\",\"kind\":\"Backend\",\"metadata\":{\"name\":\"plain\"},\"spec\":{\"type\":\"Static\",\"static\":{\"hosts\":[{\"host\":\"127.0.0.1\",\"port\":$ORIGIN_PORT}]}}}"
for be in json:/v1 stream:/s/v1; do
    api POST $SG/backends "{\"apiVersion\":\"gateway.sluice.dev/v1alpha1\",\"kind\":\"Backend\",\"metadata\":{\"name\":\"${be%%:*}\"},\"spec\":{\"type\":\"AI\",\"ai\":{\"provider\":\"OpenAICompatible\",\"host\":\"127.0.0.1\",\"port\":$ORIGIN_PORT,\"protocol\":\"HTTP\",\"path\":\"${be#*:}\",\"authSecretRef\":{\"name\":\"key\"}}}}"
done
api POST /api/v1/namespaces/default/secrets "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"aws\"},\"data\":{\"accessKeyId\":\"$(printf 'AKIDBENCH' | base64 -w0)\",\"secretAccessKey\":\"$(printf 'bench-secret' | base64 -w0)\"}}"
for be in gemini:Gemini:key bedrock:Bedrock:aws; do
    IFS=: read -r name provider secret <<<"$be"
    api POST $SG/backends "{\"apiVersion\":\"gateway.sluice.dev/v1alpha1\",\"kind\":\"Backend\",\"metadata\":{\"name\":\"$name\"},\"spec\":{\"type\":\"AI\",\"ai\":{\"provider\":\"$provider\",\"host\":\"127.0.0.1\",\"port\":$ORIGIN_PORT,\"protocol\":\"HTTP\",\"authSecretRef\":{\"name\":\"$secret\"}}}}"
done
for r in plain json stream guard:json guardstream:stream gemini geministream:gemini bedrock bedrockstream:bedrock; do
    api POST $GW/httproutes "{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"HTTPRoute\",\"metadata\":{\"name\":\"${r%%:*}\"},\"spec\":{\"parentRefs\":[{\"name\":\"gw\"}],\"hostnames\":[\"${r%%:*}.bench\"],\"rules\":[{\"backendRefs\":[{\"group\":\"gateway.sluice.dev\",\"kind\":\"Backend\",\"name\":\"${r#*:}\"}]}]}}"
done
GUARD='{"request":{"builtins":["Email","CreditCard","ApiKey"]},"response":{"builtins":["Email"]}}'
for r in guard guardstream; do
    api POST $SG/trafficpolicies "{\"apiVersion\":\"gateway.sluice.dev/v1alpha1\",\"kind\":\"TrafficPolicy\",\"metadata\":{\"name\":\"$r\"},\"spec\":{\"targetRefs\":[{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"HTTPRoute\",\"name\":\"$r\"}],\"aiPromptGuard\":$GUARD}}"
done
api POST $GW/httproutes "{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"HTTPRoute\",\"metadata\":{\"name\":\"plainstream\"},\"spec\":{\"parentRefs\":[{\"name\":\"gw\"}],\"hostnames\":[\"plainstream.bench\"],\"rules\":[{\"matches\":[{\"path\":{\"type\":\"PathPrefix\",\"value\":\"/v1\"}}],\"filters\":[{\"type\":\"URLRewrite\",\"urlRewrite\":{\"path\":{\"type\":\"ReplacePrefixMatch\",\"replacePrefixMatch\":\"/s/v1\"}}}],\"backendRefs\":[{\"group\":\"gateway.sluice.dev\",\"kind\":\"Backend\",\"name\":\"plain\"}]}]}}"
api POST $GW/gateways "{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"Gateway\",\"metadata\":{\"name\":\"gw\",\"annotations\":{\"sluice.dev/workers\":\"1\"}},\"spec\":{\"gatewayClassName\":\"sluice-ai\",\"listeners\":[{\"name\":\"http\",\"port\":$SL_PORT,\"protocol\":\"HTTP\"}]}}"

# ---- the request each variant sends (wrk script: POST with a chat body, and the report)
request_body() {
    local stream=false
    case $1 in *stream) stream=true ;; esac
    printf '{"model":"bench-model","stream":%s,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"What is the answer to life, the universe and everything? Reply in one sentence."}]}' "$stream"
}
for v in $VARIANTS; do
    { printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' "$(request_body "$v")"
      printf 'wrk.headers["Authorization"] = "Bearer client-key"\n'
      [ "$v" != direct ] && printf 'wrk.headers["Host"] = "%s.bench"\n' "$v"
      cat "$TMP/report.lua"; } >"$TMP/wrk-$v.lua"
done
url_of() { # the URL a variant's requests go to
    case $1 in
    direct) echo "http://127.0.0.1:$ORIGIN_PORT/v1/chat/completions" ;;
    *) echo "http://127.0.0.1:$SL_PORT/v1/chat/completions" ;;
    esac
}
# Each path answers as it should before anything is measured.
check() {
    local v=$1 out i
    for ((i = 0; i < 100; i++)); do
        out=$(curl -s -D "$TMP/check-head" -X POST "$(url_of "$v")" -H 'Content-Type: application/json' \
            ${2:+-H "Host: $2"} --data "$(request_body "$v")")
        case $v in
        direct | plain) echo "$out" | grep -q '"total_tokens": 96' && return 0 ;;
        json | guard | gemini | bedrock) grep -qi '^x-sluice-ai-total-tokens: 96' "$TMP/check-head" && return 0 ;;
        geministream | bedrockstream)
            echo "$out" | grep -q 'data: \[DONE\]' && echo "$out" | grep -q '"content":"word1 ' && return 0 ;;
        stream) echo "$out" | grep -q 'data: \[DONE\]' && ! echo "$out" | grep -q '"choices": \[\]' && return 0 ;;
        guardstream) echo "$out" | grep -q 'data: \[DONE\]' && echo "$out" | grep -q '"content":"word1 ' && return 0 ;;
        plainstream) echo "$out" | grep -q '"choices": \[\]' && return 0 ;;
        esac
        sleep 0.05
    done
    echo "ai.sh: variant $v does not answer as expected: $out" >&2
    exit 1
}
check direct; check plain plain.bench; check json json.bench; check plainstream plainstream.bench
check stream stream.bench; check guard guard.bench; check guardstream guardstream.bench
for v in gemini geministream bedrock bedrockstream; do check "$v" "$v.bench"; done

measure() { # measure VARIANT: one wrk run; appends "rps p50 p99 cpu_us_per_request"
    local v=$1 t0 t1 out
    local pids=("$SL_PID")
    [ "$v" != direct ] && pids=($(family "$SL_PID"))
    t0=$(cpu_ticks "${pids[@]}")
    out=$("$WRK" -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/wrk-$v.lua" "$(url_of "$v")" 2>&1)
    t1=$(cpu_ticks "${pids[@]}")
    local line requests rps p50 p99 bad
    line=$(echo "$out" | grep '^WRK ')
    requests=$(echo "$line" | tr ' ' '\n' | sed -n 's/^requests=//p')
    rps=$(echo "$line" | tr ' ' '\n' | sed -n 's/^rps=//p')
    p50=$(echo "$line" | tr ' ' '\n' | sed -n 's/^lat_p50_ms=//p')
    p99=$(echo "$line" | tr ' ' '\n' | sed -n 's/^lat_p99_ms=//p')
    bad=$(echo "$line" | tr ' ' '\n' | sed -n 's/^non2xx3xx=//p')
    [ "${bad:-1}" = 0 ] || bug "$v: $bad answers were not 2xx/3xx"
    local cpu="n/a"
    [ "$v" != direct ] && cpu=$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v n="${requests:-0}" \
        'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "n/a" }')
    echo "$rps $p50 $p99 $cpu" >>"$TMP/res-$v"
}

echo "ai.sh: $ROUNDS rounds of ${DURATION}s, $CONNS connections, $CHUNKS events per stream"
for ((r = 0; r < ROUNDS; r++)); do
    for v in $VARIANTS; do
        "$WRK" -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$TMP/wrk-$v.lua" "$(url_of "$v")" >/dev/null 2>&1
        measure "$v"
    done
    echo "  round $((r + 1)) done"
done

col() { median $(awk -v c="$2" '{ print $c }' "$TMP/res-$1" 2>/dev/null); }
echo
echo "| variant | req/s | p50 ms | p99 ms | sluice CPU µs/req | vs its plain control |"
echo "| --- | --- | --- | --- | --- | --- |"
for v in $VARIANTS; do
    cpu=$(col "$v" 4)
    vs="—"
    case $v in
    json | guard | gemini | bedrock) vs=$(ratio "$cpu" "$(col plain 4)") ;;
    *stream) [ "$v" != plainstream ] && vs=$(ratio "$cpu" "$(col plainstream 4)") ;;
    esac
    echo "| $v | $(fmt "$(col "$v" 1)" 0) | $(col "$v" 2) | $(col "$v" 3) | $cpu | $vs |"
done
echo
awk -v a="$(col json 4)" -v b="$(col plain 4)" -v s="$(col stream 4)" -v p="$(col plainstream 4)" -v n="$((CHUNKS + 3))" \
    'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/) printf "json: the AI route adds %.2f µs of sluice CPU per request\n", a - b;
             if (s ~ /^[0-9.]+$/ && p ~ /^[0-9.]+$/) printf "stream: the AI route adds %.2f µs per request, %.2f µs per event (%d events per answer)\n", s - p, (s - p) / n, n }'
awk -v g="$(col guard 4)" -v a="$(col json 4)" -v gs="$(col guardstream 4)" -v s="$(col stream 4)" -v n="$((CHUNKS + 3))" \
    'BEGIN { if (g ~ /^[0-9.]+$/ && a ~ /^[0-9.]+$/) printf "guard: the prompt guard adds %.2f µs per request\n", g - a;
             if (gs ~ /^[0-9.]+$/ && s ~ /^[0-9.]+$/) printf "guardstream: masking a stream adds %.2f µs per request, %.2f µs per event\n", gs - s, (gs - s) / n }'
for d in gemini bedrock; do
    awk -v d="$d" -v t="$(col "$d" 4)" -v a="$(col json 4)" -v ts="$(col "${d}stream" 4)" -v s="$(col stream 4)" \
        -v n="$((CHUNKS + 3))" 'BEGIN { if (t ~ /^[0-9.]+$/ && a ~ /^[0-9.]+$/) printf "%s: translating adds %.2f µs per request over the OpenAI-shaped AI route", d, t - a;
             if (ts ~ /^[0-9.]+$/ && s ~ /^[0-9.]+$/) printf "; %.2f µs per streamed answer, %.2f µs per event", ts - s, (ts - s) / n; print "" }'
done
[ -f "$TMP/bugs" ] && { echo "ai.sh: problems seen:" >&2; cat "$TMP/bugs" >&2; exit 1; }
exit 0

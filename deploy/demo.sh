#!/bin/sh
# Builds sluice if needed, starts a demo origin on 127.0.0.1:8081 and sluiced on
# ./demo-state with the admin API on 127.0.0.1:9901, stores the demo Gateway (port
# 8080), Backend and HTTPRoute, and sends a request through the gateway.
# Stop both with: kill $(cat demo-state/sluiced.pid demo-state/origin.pid)
set -e
cd "$(dirname "$0")/.."
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build
if [ ! -f build/Makefile ]; then (cd build && ../configure -q); fi
make -C build -j"$(nproc)" >/dev/null
mkdir -p demo-state
if [ -f demo-state/origin.pid ] && kill -0 "$(cat demo-state/origin.pid)" 2>/dev/null; then
    :
else
    /usr/bin/python3 -m http.server 8081 --bind 127.0.0.1 --directory deploy/demo/site \
        >demo-state/origin.log 2>&1 &
    echo $! >demo-state/origin.pid
fi
if [ -f demo-state/sluiced.pid ] && kill -0 "$(cat demo-state/sluiced.pid)" 2>/dev/null; then
    echo "sluiced is already running (pid $(cat demo-state/sluiced.pid))"
else
    build/sbin/sluiced --state-dir demo-state --admin 127.0.0.1:9901 --access-log demo-state/access.log \
        >demo-state/sluiced.log 2>&1 &
    echo $! >demo-state/sluiced.pid
fi
i=0
until curl -fsS http://127.0.0.1:9901/readyz >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then echo "sluiced did not start; see demo-state/sluiced.log"; exit 1; fi
    sleep 0.1
done
# Store the demo objects through the admin API (kubectl apply works too).
/usr/bin/python3 - <<'PY'
import json, urllib.request, urllib.error, yaml
base = "http://127.0.0.1:9901"
for doc in yaml.safe_load_all(open("deploy/demo/demo.yaml")):
    group, _, version = doc["apiVersion"].rpartition("/")
    plural = {"Gateway": "gateways", "HTTPRoute": "httproutes", "Backend": "backends"}[doc["kind"]]
    path = "%s/namespaces/%s/%s" % ("/apis/%s/%s" % (group, version) if group else "/api/" + version,
                                    doc["metadata"]["namespace"], plural)
    req = urllib.request.Request(base + path, data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req)
        print("stored %s %s" % (doc["kind"], doc["metadata"]["name"]))
    except urllib.error.HTTPError as e:
        if e.code != 409:
            raise SystemExit("storing %s failed: %s" % (doc["kind"], e.read().decode()))
        print("%s %s already stored" % (doc["kind"], doc["metadata"]["name"]))
PY
# The Gateway's workers start within a moment of the Gateway being stored.
i=0
until out=$(curl -fsS http://127.0.0.1:8080/ 2>/dev/null); do
    i=$((i + 1))
    if [ $i -gt 100 ]; then echo "the demo gateway did not answer; see demo-state/sluiced.log"; exit 1; fi
    sleep 0.1
done
# A few seconds of requests, so the dashboard's charts and Logs view have something to show.
for i in $(seq 1 30); do curl -fsS -o /dev/null http://127.0.0.1:8080/ || true; sleep 0.1; done
echo
echo "$ curl http://127.0.0.1:8080/"
echo "$out"
echo
echo "sluiced is running (pid $(cat demo-state/sluiced.pid)); admin API on http://127.0.0.1:9901"
echo "  dashboard: http://127.0.0.1:9901/ui/   (charts and Logs show the 30 requests just sent)"
echo "  more traffic: for i in \$(seq 600); do curl -s -o /dev/null http://127.0.0.1:8080/; sleep 0.1; done"
echo "  curl -s http://127.0.0.1:9901/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/demo"
echo "  kubectl --server=http://127.0.0.1:9901 get gateways,httproutes -A"
echo "  curl -s http://127.0.0.1:9901/debug/snapshot     # what the workers run"
echo "  tail demo-state/access.log                       # one JSON line per request"
echo "stop it with: kill \$(cat demo-state/sluiced.pid demo-state/origin.pid)"

#!/usr/bin/python3
"""Makes the seed of fuzz_snapshot (tests/fuzz/corpus/snapshot/): starts sluiced
(SLUICED, default build/sbin/sluiced) on a scratch state directory, posts a
Gateway, Secrets, AI Backends (with a base path, a key, aliases and a fallback
chain), a route to them and TrafficPolicies with every section's example from
docs/policies.md, then copies the newest snapshot from /dev/shm. Run it again
whenever the snapshot format or the policy registry's order changes:

    SLUICED=/path/to/sluiced tests/fuzz/make-snapshot-seed.py
"""

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SLUICED = os.environ.get("SLUICED", os.path.join(ROOT, "build", "sbin", "sluiced"))
SG = "gateway.sluice.dev"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, obj=None):
    data = json.dumps(obj).encode() if obj is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        sys.exit("%s %s: %d %s" % (method, path, e.code, e.read().decode()[:400]))


def section_examples():
    """Each `### name` section of docs/policies.md whose first yaml block starts with `name:`."""
    text = open(os.path.join(ROOT, "docs", "policies.md")).read()
    out = {}
    for m in re.finditer(r"^### (\w+)\n(.*?)(?=^### |^## |\Z)", text, re.S | re.M):
        name, body = m.group(1), m.group(2)
        block = re.search(r"```yaml\n(.*?)```", body, re.S)
        if block:
            doc = yaml.safe_load(block.group(1))
            if isinstance(doc, dict) and name in doc:
                out[name] = doc[name]
    return out


def main():
    state = tempfile.mkdtemp(prefix="sluice-seed.")
    admin = free_port()
    proc = subprocess.Popen([SLUICED, "--state-dir", state, "--admin", "127.0.0.1:%d" % admin],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/healthz" % admin, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        ns = "/api/v1/namespaces/default"
        sgp = "/apis/%s/v1alpha1/namespaces/default" % SG
        gwp = "/apis/gateway.networking.k8s.io/v1/namespaces/default"
        key = {"apiKey": "c2stc2VlZA=="}
        for name in ("llm-key", "team-keys"):
            call(admin, "POST", ns + "/secrets", {"apiVersion": "v1", "kind": "Secret",
                                                  "metadata": {"name": name, "namespace": "default"}, "data": key})
        call(admin, "POST", gwp + "/gateways", {
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "default"},
            "spec": {"gatewayClassName": "sluice-ai",
                     "listeners": [{"name": "http", "port": free_port(), "protocol": "HTTP"}]}})
        backends = {
            "claude": {"provider": "Anthropic", "host": "127.0.0.1", "port": 9, "protocol": "HTTP",
                       "authSecretRef": {"name": "llm-key"}},
            "local": {"provider": "OpenAICompatible", "host": "127.0.0.1", "port": 9, "protocol": "HTTP",
                      "path": "/api/v1", "authSecretRef": {"name": "llm-key"},
                      "modelAliases": {"fast": "small-model", "smart": "big-model"},
                      "prices": [{"model": "small-model", "input": 0.15, "output": 0.6}, {"model": "*", "input": 1, "output": 4}],
                      "fallbacks": [{"name": "claude"}]},
        }
        for name, ai in backends.items():
            call(admin, "POST", sgp + "/backends", {"apiVersion": SG + "/v1alpha1", "kind": "Backend",
                                                    "metadata": {"name": name, "namespace": "default"},
                                                    "spec": {"type": "AI", "ai": ai}})
        call(admin, "POST", gwp + "/httproutes", {
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "ai", "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/v1"},
                              "headers": [{"name": "x-sluice-ai-model", "value": "fast"}]}],
                 "backendRefs": [{"group": SG, "kind": "Backend", "name": "local"}]},
                {"backendRefs": [{"group": SG, "kind": "Backend", "name": "claude", "weight": 3},
                                 {"group": SG, "kind": "Backend", "name": "local"}]}]}})
        # BackendPolicies: balancers with hash policies (a maglev table, a ring)
        # and a health check, so those sections carry records too.
        call(admin, "POST", sgp + "/backendpolicies", {
            "apiVersion": SG + "/v1alpha1", "kind": "BackendPolicy",
            "metadata": {"name": "bp-local", "namespace": "default"},
            "spec": {"targetRefs": [{"group": SG, "kind": "Backend", "name": "local"}],
                     "loadBalancer": {"maglev": {"hashPolicies": [{"header": {"name": "x-user"}, "terminal": True},
                                                                  {"sourceIP": {}}]}},
                     "healthCheck": {"interval": "5s", "http": {"path": "/healthz", "expectedStatuses": [200, 204]}},
                     "outlierDetection": {"consecutive5xx": 3}, "circuitBreakers": {"maxRequests": 100}}})
        call(admin, "POST", sgp + "/backendpolicies", {
            "apiVersion": SG + "/v1alpha1", "kind": "BackendPolicy",
            "metadata": {"name": "bp-claude", "namespace": "default"},
            "spec": {"targetRefs": [{"group": SG, "kind": "Backend", "name": "claude"}],
                     "loadBalancer": {"ringHash": {"minimumRingSize": 64,
                                                   "hashPolicies": [{"cookie": {"name": "session"}}]}},
                     "healthCheck": {"grpc": {"serviceName": "llm"}}}})
        sections = section_examples()
        # The reference examples list alternatives side by side: keep one.
        for alt in ("header", "claim"):
            sections.get("rateLimit", {}).pop(alt, None)
        gateway_only = {"proxyProtocol", "tls", "realIp"}
        for i, (name, spec) in enumerate(sorted(sections.items())):
            target = {"group": "gateway.networking.k8s.io", "kind": "Gateway" if name in gateway_only else "HTTPRoute",
                      "name": "gw" if name in gateway_only else "ai"}
            call(admin, "POST", sgp + "/trafficpolicies", {
                "apiVersion": SG + "/v1alpha1", "kind": "TrafficPolicy",
                "metadata": {"name": "p%02d-%s" % (i, name.lower()), "namespace": "default"},
                "spec": {"targetRefs": [target], name: spec}})
        time.sleep(2)  # the last compile published
        shms = sorted(glob.glob("/dev/shm/sluice-%d-*" % proc.pid), key=os.path.getmtime)
        if not shms:
            sys.exit("no snapshot of pid %d in /dev/shm" % proc.pid)
        fmt = open(os.path.join(ROOT, "common", "snapshot.h")).read()
        version = re.search(r"#define SL_SNAP_FORMAT (\d+)", fmt).group(1)
        size = os.path.getsize(shms[-1])
        out_dir = os.path.join(HERE, "corpus", "snapshot")
        for old in glob.glob(os.path.join(out_dir, "snap_v*")):
            os.remove(old)
        dest = os.path.join(out_dir, "snap_v%s_%d_allpolicies_ai" % (version, size))
        shutil.copyfile(shms[-1], dest)
        print("%s (%d sections: %s)" % (dest, len(sections), ", ".join(sorted(sections))))
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()

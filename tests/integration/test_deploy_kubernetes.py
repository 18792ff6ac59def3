"""deploy/kubernetes/: the manifests that run `sluiced --kubernetes` in a cluster. No
cluster or container runtime runs here, so what is checked is what can be without one:
rbac.yaml is what `sluiced kubernetes-rbac` generates from the syncer's tables, and it
is enough (and needed) against the fake API server enforcing it; the workloads' flags
parse; the CRDs are what `sluiced kubernetes-crds` generates from the schemas in api/,
name our kinds as the admin API serves them, and every check they state is one the admin
API makes too; the example objects are valid for sluiced."""
import os
import re
import subprocess

import requests
import yaml

from conftest import SLUICED, free_port, path_for
from dataplane import Origin, wait_until
from kube_fake import FakeKube
from test_kubernetes_status import gateway_class, traffic_policy
from test_kubernetes_sync import backend, gateway, route

TOP = os.environ.get("SL_SRCDIR") or os.path.join(os.path.dirname(__file__), "..", "..")
DEPLOY = os.path.join(TOP, "deploy", "kubernetes")


def manifest(name):
    with open(os.path.join(DEPLOY, name)) as f:
        return f.read()


def docs(name):
    return [d for d in yaml.safe_load_all(manifest(name)) if d]


def test_rbac_yaml_is_what_the_code_needs():
    cp = subprocess.run([SLUICED, "kubernetes-rbac", "--namespace", "sluice-system"], capture_output=True, text=True,
                        timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == manifest("rbac.yaml"), "deploy/kubernetes/rbac.yaml is stale: regenerate it with " \
                                               "`sluiced kubernetes-rbac --namespace sluice-system`"
    kinds = [d["kind"] for d in docs("rbac.yaml")]
    assert kinds == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]


def test_crds_yaml_is_what_the_code_generates():
    cp = subprocess.run([SLUICED, "kubernetes-crds"], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == manifest("crds.yaml"), "deploy/kubernetes/crds.yaml is stale: regenerate it with " \
                                               "`sluiced kubernetes-crds`"


def structural_problems(schema, where="spec"):
    """What makes a schema non-structural for the API server: a node without a type
    (unless it is free-form), properties beside additionalProperties, an array
    without items."""
    free = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get("x-kubernetes-int-or-string")
    if "type" not in schema and not free:
        yield where + ": no type"
    if "properties" in schema and "additionalProperties" in schema:
        yield where + ": properties and additionalProperties"
    if schema.get("type") == "array" and "items" not in schema:
        yield where + ": array without items"
    for k, sub in schema.get("properties", {}).items():
        yield from structural_problems(sub, where + "." + k)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from structural_problems(schema[key], where + "[*]")


def test_the_crd_schemas_are_structural_and_complete():
    for crd in docs("crds.yaml"):
        (version,) = crd["spec"]["versions"]
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        assert list(structural_problems(spec)) == [], crd["metadata"]["name"]
        # Closed: the spec keeps no unknown fields (they are refused, not pruned behind the user's back).
        assert not spec.get("x-kubernetes-preserve-unknown-fields"), crd["metadata"]["name"]
        assert "targetRefs" in spec["properties"] or crd["spec"]["names"]["kind"] == "Backend"


def mutations(schema, path=()):
    """(path, value) pairs that break one rule of the schema each: an unknown field in
    every closed object, a value of the wrong type at every node, and values outside each
    enum, range, length and pattern. Paths are tuples of keys, 0 for a list's first item
    and ("map",) for a map's entry."""
    t = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        yield path, [1]
        return
    if t and path:
        yield path, (7 if t in ("string", "boolean", "object", "array") else "seven")
    if t == "object" and "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        yield path + ("notAFieldOfOurs",), 1
    for k, sub in schema.get("properties", {}).items():
        yield from mutations(sub, path + (k,))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from mutations(schema["additionalProperties"], path + (("map",),))
    if t == "array":
        yield from mutations(schema["items"], path + (0,))
        if "maxItems" in schema and schema["maxItems"] < 100:
            yield path, [sample(schema["items"])] * (schema["maxItems"] + 1)
    if t == "string":
        if "enum" in schema:
            yield path, "NotOneOfThem"
        if "maxLength" in schema:
            yield path, "x" * (schema["maxLength"] + 1)
        if "pattern" in schema:
            for bad in ("", "!", "not a match!", "x" * 300):
                if bad and not re.search(schema["pattern"], bad):
                    yield path, bad
                    break
    if t in ("integer", "number"):
        if "minimum" in schema:
            yield path, schema["minimum"] - 1
        if "maximum" in schema:
            yield path, schema["maximum"] + 1


def sample(schema):
    return {"object": {}, "array": [], "string": "x", "integer": 1, "number": 1, "boolean": True}.get(
        schema.get("type"), "x")


def put_at(path, value):
    """The smallest spec with value at path: lists of one item, maps of one key "k"."""
    if not path:
        return value
    inner = put_at(path[1:], value)
    if isinstance(path[0], int):
        return [inner]
    return {"k" if isinstance(path[0], tuple) else path[0]: inner}


def field_of(path):
    out = "spec"
    for key in path:
        out += "[0]" if isinstance(key, int) else "[k]" if isinstance(key, tuple) else "." + key
    return out


def test_what_the_crds_refuse_the_admin_api_refuses(sluiced):
    """Every rule the CRDs state (types, unknown fields, enums, ranges, lengths,
    patterns) is checked on the admin API too, at the same field: a mutation of each is
    answered 422 with a cause naming that field."""
    ns = path_for("namespaces", group="", version="v1")
    if sluiced.get(ns + "/default").status_code == 404:
        assert sluiced.post(ns, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}).status_code == 201
    tried = 0
    for crd in docs("crds.yaml"):
        kind = crd["spec"]["names"]["kind"]
        (version,) = crd["spec"]["versions"]
        spec_schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        url = path_for(crd["spec"]["names"]["plural"], "default", group="gateway.sluice.dev",
                       version="v1alpha1") + "?dryRun=All"
        missed = []
        for path, value in mutations(spec_schema):
            spec = put_at(path, value)
            obj = {"apiVersion": "gateway.sluice.dev/v1alpha1", "kind": kind,
                   "metadata": {"name": "m", "namespace": "default"}, "spec": spec}
            r = sluiced.post(url, obj)
            fields = [c["field"] for c in r.json().get("details", {}).get("causes", [])] if r.status_code == 422 else []
            if field_of(path) not in fields:
                missed.append((field_of(path), value, r.status_code, fields[:4]))
            tried += 1
        assert missed == [], (kind, len(missed), missed[:10])
    assert tried > 500, tried  # (the three schemas state hundreds of rules)


def test_the_workloads_run_sluiced_in_sync_mode_with_probes():
    for name, kind in (("deployment.yaml", "Deployment"), ("daemonset.yaml", "DaemonSet")):
        (workload,) = [d for d in docs(name) if d["kind"] == kind]
        pod = workload["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "sluice"
        (c,) = pod["containers"]
        assert "--kubernetes" in c["args"]
        assert {e["name"] for e in c["env"]} == {"POD_NAME", "POD_NAMESPACE"}
        assert c["livenessProbe"]["exec"]["command"][-1].endswith("/healthz")
        assert c["readinessProbe"]["exec"]["command"][-1].endswith("/readyz")
        # The flags are sluiced's (it stops at --version once every flag before it parsed).
        cp = subprocess.run([SLUICED] + c["args"] + ["--version"], capture_output=True, text=True, timeout=30)
        assert cp.returncode == 0 and cp.stdout.startswith("sluiced "), (name, cp.stderr)


def test_the_crds_name_our_kinds_as_the_admin_api_serves_them(sluiced):
    served = sluiced.get("/apis/gateway.sluice.dev/v1alpha1").json()["resources"]
    served = {r["name"]: r for r in served if "/" not in r["name"]}
    crds = docs("crds.yaml")
    assert {c["spec"]["names"]["plural"] for c in crds} == {"trafficpolicies", "backends", "backendpolicies"}
    for crd in crds:
        names = crd["spec"]["names"]
        r = served[names["plural"]]
        assert (r["kind"], r["singularName"], r["namespaced"]) == (names["kind"], names["singular"], True)
        assert r.get("shortNames", []) == names.get("shortNames", [])
        assert crd["metadata"]["name"] == "%s.gateway.sluice.dev" % names["plural"]
        (version,) = crd["spec"]["versions"]
        assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}


def test_the_example_objects_are_valid_for_sluiced(sluiced):
    ours = 0
    for name in ("gatewayclasses.yaml", "example.yaml"):
        for obj in docs(name):
            group, _, version = obj["apiVersion"].rpartition("/")
            if obj["kind"] == "Deployment":
                continue  # (not a kind sluice stores)
            plural = {"GatewayClass": "gatewayclasses", "Gateway": "gateways", "Service": "services",
                      "HTTPRoute": "httproutes"}[obj["kind"]]
            ns = obj["metadata"].get("namespace")
            path = path_for(plural, ns, group=group, version=version) + "?dryRun=All"
            if ns and sluiced.get(path_for("namespaces", group="", version="v1", name=ns)).status_code == 404:
                assert sluiced.post(path_for("namespaces", group="", version="v1"),
                                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}).status_code == 201
            r = sluiced.post(path, obj) if obj["kind"] != "GatewayClass" else sluiced.put(
                path_for(plural, None, obj["metadata"]["name"], group=group, version=version) + "?dryRun=All", obj)
            assert r.status_code in (200, 201), (name, obj["kind"], r.text)
            ours += 1
    assert ours == 6  # (two GatewayClasses, the Gateway, two Services, the HTTPRoute)


def run_with_rbac(make_sluiced, tmp_path, rbac_text, sub):
    fake = FakeKube()
    origin = Origin("o")
    fake.load_rbac(rbac_text)
    fake.apply("namespaces", {"metadata": {"name": "default"}})
    fake.apply("gatewayclasses", gateway_class())
    fake.apply("gateways", gateway(free_port()))
    fake.apply("backends", backend("be", origin.port))
    fake.apply("httproutes", route("r", "/app"))
    fake.apply("trafficpolicies", traffic_policy())
    config = fake.kubeconfig(str(tmp_path / ("kubeconfig-" + sub)))
    s = make_sluiced(sub, extra_args=["--kubernetes", "--kubeconfig", config, "--kubernetes-lease",
                                      "sluice-system/sluice-leader", "--kubernetes-lease-duration", "3"])
    s.start()
    return fake, origin, s


def test_the_rbac_is_enough_and_needed(make_sluiced, tmp_path):
    # With exactly rbac.yaml's permissions: everything syncs, status is written, the Lease is held.
    fake, origin, s = run_with_rbac(make_sluiced, tmp_path, manifest("rbac.yaml"), "enough")
    try:
        wait_until(lambda: fake.get("httproutes", "r").get("status"), timeout=20, what="route status written")
        wait_until(lambda: fake.get("trafficpolicies", "tp").get("status"), timeout=20, what="policy status written")
        lease = fake.get("leases", "sluice-leader", namespace="sluice-system")
        assert lease and lease["spec"]["holderIdentity"]
        assert requests.get(s.url + "/readyz", timeout=5).status_code == 200
        assert fake.refused == [], fake.refused
    finally:
        s.stop()
        fake.stop()
        origin.stop()
    # Without the status rules: the writes are refused, and the log says what RBAC must allow.
    trimmed = manifest("rbac.yaml").replace("/status", "/status-not-granted")
    fake, origin, s = run_with_rbac(make_sluiced, tmp_path, trimmed, "trimmed")
    try:
        wait_until(lambda: ("update", "gateway.networking.k8s.io", "httproutes/status", "default") in fake.refused,
                   timeout=20, what="the status write refused")
        wait_until(lambda: "RBAC must allow update on its status subresource" in s.log(), timeout=10,
                   what="the log naming the RBAC problem")
        assert "status" not in fake.get("httproutes", "r")
    finally:
        s.stop()
        fake.stop()
        origin.stop()

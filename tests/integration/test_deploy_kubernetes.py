"""deploy/kubernetes/: the manifests that run `sluiced --kubernetes` in a cluster. No
cluster or container runtime runs here, so what is checked is what can be without one:
rbac.yaml is what `sluiced kubernetes-rbac` generates from the syncer's tables, and it
is enough (and needed) against the fake API server enforcing it; the workloads' flags
parse; the CRDs name our kinds as the admin API serves them; the example objects are
valid for sluiced."""
import os
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

"""kubectl (real binaries, pointed at sluiced with --server: Debian 12's 1.20 and a
current 1.32, each test run with both; tests/tools/install.sh provides them) drives
the admin API: apply/get/delete of the Gateway API conformance manifests,
apply idempotence, output formats, watches, validation errors and the small
imperative commands (create namespace|secret|configmap, label, annotate, patch)."""

import base64
import collections
import copy
import glob
import json
import os
import subprocess
import time

import pytest
import yaml

from conftest import CONFORMANCE, GW, KUBECTL_VERSIONS, kubectl_path, path_for

BASE = os.path.join(CONFORMANCE, "base", "manifests.yaml")
ROUTE_FILES = sorted(glob.glob(os.path.join(CONFORMANCE, "tests", "httproute-*.yaml")))
# The Gateway API manifests live in ../shared (not in a release tarball).
needs_manifests = pytest.mark.skipif(not os.path.isfile(BASE), reason="skipped, because the Gateway API conformance manifests "
                                     "are not at %s (set SL_CONFORMANCE)" % CONFORMANCE)

# kind -> (group, version, plural, namespaced)
REST = {
    "Namespace": ("", "v1", "namespaces", False),
    "Service": ("", "v1", "services", True),
    "ConfigMap": ("", "v1", "configmaps", True),
    "Secret": ("", "v1", "secrets", True),
    "EndpointSlice": ("discovery.k8s.io", "v1", "endpointslices", True),
    "GatewayClass": (GW, "v1", "gatewayclasses", False),
    "Gateway": (GW, "v1", "gateways", True),
    "HTTPRoute": (GW, "v1", "httproutes", True),
    "ReferenceGrant": (GW, "v1beta1", "referencegrants", True),
}


def rest_path(kind, namespace=None, name=None):
    group, version, plural, namespaced = REST[kind]
    return path_for(plural, namespace if namespaced else None, name, group=group, version=version)


def load_docs(path):
    with open(path) as f:
        text = f.read().replace("{GATEWAY_CLASS_NAME}", "sluice")
    return [d for d in yaml.safe_load_all(text) if d]


def write_docs(path, docs):
    with open(path, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    return path


def key(doc):
    md = doc["metadata"]
    ns = md.get("namespace") if REST.get(doc["kind"], (0, 0, 0, True))[3] else None
    return doc["kind"], ns, md["name"]


def unique(docs):
    """The objects the docs describe, later duplicates replacing earlier ones."""
    out = collections.OrderedDict()
    for d in docs:
        out[key(d)] = d
    return out


@pytest.fixture(autouse=True, params=KUBECTL_VERSIONS, ids=["kubectl" + v for v in KUBECTL_VERSIONS])
def kubectl_version(request, sluiced):
    """Every test of this module runs once with each pinned kubectl."""
    path = kubectl_path(request.param)
    if not path:
        pytest.skip("skipped, because kubectl %s is not in tests/tools/bin (tests/tools/install.sh could not provide it)"
                    % request.param)
    sluiced.kubectl_bin = path
    return request.param


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


def apply_base(s, workdir, with_deployments=False):
    docs = load_docs(BASE)
    if not with_deployments:
        docs = [d for d in docs if d["kind"] != "Deployment"]
    path = write_docs(os.path.join(str(workdir), "base.yaml"), docs)
    return s.kubectl("apply", "-f", path, "--validate=false", check=False), docs


def route_dir(workdir):
    d = os.path.join(str(workdir), "routes")
    os.makedirs(d, exist_ok=True)
    docs = []
    for f in ROUTE_FILES:
        fd = load_docs(f)
        docs += fd
        write_docs(os.path.join(d, os.path.basename(f)), fd)
    return d, docs


def assert_subset(want, got, where=""):
    """Every field of want is in got with the same value (got may add defaults)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), (where, want, got)
        for k, v in want.items():
            assert k in got, (where, k, got)
            assert_subset(v, got[k], where + "." + k)
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (where, want, got)
        for i, (a, b) in enumerate(zip(want, got)):
            assert_subset(a, b, "%s[%d]" % (where, i))
    else:
        assert want == got, (where, want, got)


def list_names(s, kind, namespace=None):
    r = s.get(rest_path(kind, namespace))
    assert r.status_code == 200, r.text
    return sorted(i["metadata"]["name"] for i in r.json()["items"])


SMALL_ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: small
  namespace: default
  labels:
    app: small
spec:
  parentRefs:
  - name: gw
  hostnames:
  - small.example.com
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /v1
      headers:
      - name: X-Env
        value: canary
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        add:
        - name: X-Added
          value: "yes"
    backendRefs:
    - name: svc-a
      port: 8080
      weight: 3
    - name: svc-b
      port: 8080
      weight: 1
"""


@needs_manifests
def test_apply_base_manifests_stores_everything_but_deployments(sluiced, workdir, kubectl_version):
    docs = load_docs(BASE)
    path = write_docs(os.path.join(str(workdir), "base-full.yaml"), docs)
    cp = sluiced.kubectl("apply", "-f", path, "--validate=false", check=False)

    deployments = [d for d in docs if d["kind"] == "Deployment"]
    others = [d for d in docs if d["kind"] != "Deployment"]
    assert deployments, "the base manifests should contain Deployments"
    assert {d["kind"] for d in others} == {"Namespace", "Gateway", "Service", "ConfigMap"}

    # Non-zero, with one clear "no matches for kind Deployment" per Deployment...
    assert cp.returncode != 0
    assert cp.stderr.count('no matches for kind "Deployment" in version "apps/v1"') == len(deployments), cp.stderr
    if kubectl_version != "1.20":  # 1.20 says 'unable to recognize FILE' without naming the object
        for d in deployments:
            assert 'name: "%s" namespace: "%s"' % (d["metadata"]["name"], d["metadata"]["namespace"]) in cp.stderr
    # ...and nothing else went wrong: every stderr line is about the Deployments.
    for line in cp.stderr.splitlines():
        assert "Deployment" in line or line.startswith("ensure CRDs are installed"), line
    # Every other object was reported as created.
    for d in others:
        assert "/%s created" % d["metadata"]["name"] in cp.stdout, (d["kind"], d["metadata"]["name"], cp.stdout)

    # The store holds every Namespace, Gateway, Service, ConfigMap, counts per namespace matching.
    want = collections.Counter((d["kind"], d["metadata"].get("namespace")) for d in others)
    for (kind, ns), n in want.items():
        if kind == "Namespace":
            names = list_names(sluiced, kind)
            expect = {d["metadata"]["name"] for d in others if d["kind"] == "Namespace"}
            assert expect <= set(names)
            assert len(expect) == n
            continue
        names = list_names(sluiced, kind, ns)
        expect = sorted(d["metadata"]["name"] for d in others if d["kind"] == kind and d["metadata"]["namespace"] == ns)
        assert names == expect, (kind, ns)
    for d in others:
        k, ns, name = key(d)
        r = sluiced.get(rest_path(k, ns, name))
        assert r.status_code == 200, (k, ns, name, r.text)
        got = r.json()
        assert got["kind"] == k and got["metadata"]["name"] == name
        if "spec" in d:
            assert_subset(d["spec"], got["spec"], k + " " + name)
    gw = sluiced.get(rest_path("Gateway", "gateway-conformance-infra", "same-namespace")).json()
    assert gw["spec"]["gatewayClassName"] == "sluice"
    assert gw["spec"]["listeners"][0]["port"] == 80
    cm = [d for d in others if d["kind"] == "ConfigMap"][0]
    got = sluiced.get(rest_path("ConfigMap", cm["metadata"]["namespace"], cm["metadata"]["name"])).json()
    assert got["data"] == cm["data"]

    # The exit code is non-zero only because of the Deployments: without them, 0.
    path2 = write_docs(os.path.join(str(workdir), "base-nodeploy.yaml"), others)
    cp2 = sluiced.kubectl("apply", "-f", path2, "--validate=false", check=False)
    assert cp2.returncode == 0, cp2.stderr
    assert cp2.stderr == ""

    # No apps/v1 API: a direct POST of a Deployment is a 404 Status.
    r = sluiced.post("/apis/apps/v1/namespaces/x/deployments", deployments[0])
    assert r.status_code == 404
    assert r.json().get("kind") == "Status" and r.json().get("code") == 404


@needs_manifests
def test_apply_all_httproute_conformance_tests(sluiced, workdir):
    cp, _ = apply_base(sluiced, workdir)
    assert cp.returncode == 0, cp.stderr
    d, docs = route_dir(workdir)
    assert len(ROUTE_FILES) > 40
    cp = sluiced.kubectl("apply", "-f", d, "--validate=false", check=False, timeout=120)
    assert cp.returncode == 0, cp.stderr[-3000:]
    objs = unique(docs)
    kinds = collections.Counter(k[0] for k in objs)
    assert set(kinds) == {"HTTPRoute", "ReferenceGrant", "Service", "EndpointSlice", "Gateway"}, kinds
    for (kind, ns, name), doc in objs.items():
        r = sluiced.get(rest_path(kind, ns, name))
        assert r.status_code == 200, (kind, ns, name, r.text)
        got = r.json()
        for field in ("spec", "data"):
            if field in doc:
                assert_subset(doc[field], got[field], "%s %s/%s" % (kind, ns, name))
    # Cluster-wide lists hold exactly the expected HTTPRoutes and ReferenceGrants.
    for kind in ("HTTPRoute", "ReferenceGrant", "EndpointSlice"):
        r = sluiced.get(rest_path(kind))
        assert r.status_code == 200, r.text
        got = sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in r.json()["items"])
        assert got == sorted((k[1], k[2]) for k in objs if k[0] == kind), kind

    # kubectl get httproutes -A lists every name.
    cp = sluiced.kubectl("get", "httproutes", "-A")
    listed = {tuple(line.split()[:2]) for line in cp.stdout.splitlines()[1:]}
    for kind, ns, name in objs:
        if kind == "HTTPRoute":
            assert (ns, name) in listed, (ns, name)
    assert len(listed) == kinds["HTTPRoute"]

    # Re-applying the whole set changes nothing apart from the routes defined twice.
    dups = collections.Counter(key(x) for x in docs)
    # sluice writes route and Gateway status after each change: let that settle (the
    # global resourceVersion stops moving) before measuring.
    rv_before = None
    for _ in range(100):
        rv_now = sluiced.get(rest_path("HTTPRoute")).json()["metadata"]["resourceVersion"]
        if rv_now == rv_before:
            break
        rv_before = rv_now
        time.sleep(0.5)
    single = [x for x in docs if dups[key(x)] == 1]
    path = write_docs(os.path.join(str(workdir), "singles.yaml"), single)
    cp = sluiced.kubectl("apply", "-f", path, "--validate=false")
    lines = cp.stdout.splitlines()
    assert len(lines) == len(single)
    assert all(line.endswith(" unchanged") for line in lines), [l for l in lines if not l.endswith("unchanged")]
    assert sluiced.get(rest_path("HTTPRoute")).json()["metadata"]["resourceVersion"] == rv_before


def test_reapply_unchanged_then_change_bumps_generation(sluiced, workdir):
    path = os.path.join(str(workdir), "r.yaml")
    with open(path, "w") as f:
        f.write(SMALL_ROUTE)
    cp = sluiced.kubectl("apply", "-f", path, "--validate=false")
    assert "httproute.gateway.networking.k8s.io/small created" in cp.stdout
    obj1 = sluiced.get(rest_path("HTTPRoute", "default", "small")).json()
    assert obj1["metadata"]["generation"] == 1

    cp = sluiced.kubectl("apply", "-f", path, "--validate=false")
    assert cp.stdout.strip() == "httproute.gateway.networking.k8s.io/small unchanged"
    obj2 = sluiced.get(rest_path("HTTPRoute", "default", "small")).json()
    assert obj2["metadata"]["resourceVersion"] == obj1["metadata"]["resourceVersion"]
    assert obj2["metadata"]["generation"] == 1

    with open(path, "w") as f:
        f.write(SMALL_ROUTE.replace("value: /v1", "value: /v2"))
    cp = sluiced.kubectl("apply", "-f", path, "--validate=false")
    assert cp.stdout.strip() == "httproute.gateway.networking.k8s.io/small configured"
    obj3 = sluiced.get(rest_path("HTTPRoute", "default", "small")).json()
    assert obj3["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/v2"
    assert obj3["metadata"]["generation"] == 2
    assert int(obj3["metadata"]["resourceVersion"]) > int(obj1["metadata"]["resourceVersion"])
    assert obj3["metadata"]["uid"] == obj1["metadata"]["uid"]

    # A label-only change is not a spec change: resourceVersion moves, generation does not.
    with open(path, "w") as f:
        f.write(SMALL_ROUTE.replace("value: /v1", "value: /v2").replace("app: small", "app: smaller"))
    cp = sluiced.kubectl("apply", "-f", path, "--validate=false")
    assert "configured" in cp.stdout
    obj4 = sluiced.get(rest_path("HTTPRoute", "default", "small")).json()
    assert obj4["metadata"]["labels"]["app"] == "smaller"
    assert obj4["metadata"]["generation"] == 2
    assert int(obj4["metadata"]["resourceVersion"]) > int(obj3["metadata"]["resourceVersion"])


def test_get_yaml_and_json_round_trip_the_spec(sluiced, workdir):
    path = os.path.join(str(workdir), "r.yaml")
    with open(path, "w") as f:
        f.write(SMALL_ROUTE)
    sluiced.kubectl("apply", "-f", path, "--validate=false")
    want = yaml.safe_load(SMALL_ROUTE)
    rest = sluiced.get(rest_path("HTTPRoute", "default", "small")).json()

    y = yaml.safe_load(sluiced.kubectl("get", "httproute", "small", "-n", "default", "-o", "yaml").stdout)
    j = json.loads(sluiced.kubectl("get", "httproute", "small", "-n", "default", "-o", "json").stdout)
    for got in (y, j):
        assert got["apiVersion"] == GW + "/v1"
        assert got["kind"] == "HTTPRoute"
        assert got["metadata"]["name"] == "small" and got["metadata"]["namespace"] == "default"
        assert got["metadata"]["labels"] == {"app": "small"}
        assert got["metadata"]["uid"] == rest["metadata"]["uid"]
        assert got["metadata"]["resourceVersion"] == rest["metadata"]["resourceVersion"]
        assert got["spec"] == want["spec"]

    # The yaml output can be fed back to kubectl apply unchanged.
    out = os.path.join(str(workdir), "out.yaml")
    for k in ("resourceVersion", "uid", "creationTimestamp", "generation"):
        y["metadata"].pop(k, None)
    y.pop("status", None)
    write_docs(out, [y])
    cp = sluiced.kubectl("apply", "-f", out, "--validate=false")
    assert "unchanged" in cp.stdout
    assert sluiced.get(rest_path("HTTPRoute", "default", "small")).json()["spec"] == want["spec"]


def test_get_gatewayclasses(sluiced):
    cp = sluiced.kubectl("get", "gatewayclasses")
    names = [line.split()[0] for line in cp.stdout.splitlines()[1:]]
    assert "sluice" in names and "sluice-ai" in names
    j = json.loads(sluiced.kubectl("get", "gatewayclass", "sluice", "-o", "json").stdout)
    assert j["spec"]["controllerName"] == "sluice.dev/gateway-controller"


@needs_manifests
def test_delete_f_deletes(sluiced, workdir):
    cp, _ = apply_base(sluiced, workdir)
    assert cp.returncode == 0, cp.stderr
    f = os.path.join(CONFORMANCE, "tests", "httproute-reference-grant.yaml")
    docs = load_docs(f)
    path = write_docs(os.path.join(str(workdir), "rg.yaml"), docs)
    sluiced.kubectl("apply", "-f", path, "--validate=false")
    for d in docs:
        kind, ns, name = key(d)
        assert sluiced.get(rest_path(kind, ns, name)).status_code == 200
    cp = sluiced.kubectl("delete", "-f", path)
    for d in docs:
        kind, ns, name = key(d)
        assert '"%s" deleted' % name in cp.stdout, cp.stdout
        r = sluiced.get(rest_path(kind, ns, name))
        assert r.status_code == 404, (kind, ns, name, r.text)
        assert r.json()["reason"] == "NotFound"
    # Deleting again: kubectl reports NotFound and fails.
    cp = sluiced.kubectl("delete", "-f", path, check=False)
    assert cp.returncode != 0
    assert "NotFound" in cp.stderr or "not found" in cp.stderr
    # --ignore-not-found succeeds.
    sluiced.kubectl("delete", "-f", path, "--ignore-not-found")


def test_get_watch_prints_new_route(sluiced, workdir):
    env = dict(os.environ, KUBECONFIG=os.devnull)
    out_path = os.path.join(str(workdir), "watch.out")
    with open(out_path, "w") as out:
        proc = subprocess.Popen(["kubectl", "--server=" + sluiced.url, "get", "httproutes", "-A", "-w"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        # Wait until the watch is open on the server (or give up and rely on the later check).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = sluiced.get("/metrics").text
            if any(l.startswith("sluice_admin_watches ") and float(l.split()[1]) >= 1 for l in m.splitlines()):
                break
            time.sleep(0.05)
        r = sluiced.post(rest_path("HTTPRoute", "default"), {
            "apiVersion": GW + "/v1", "kind": "HTTPRoute", "metadata": {"name": "seen-by-watch"},
            "spec": {"parentRefs": [{"name": "gw"}]}})
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline:
            with open(out_path) as f:
                text = f.read()
            if "seen-by-watch" in text:
                break
            time.sleep(0.05)
        assert any(l.split()[:2] == ["default", "seen-by-watch"] for l in text.splitlines()), text
        assert proc.poll() is None, "kubectl get -w exited early:\n" + text
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_apply_invalid_route_names_field(sluiced, workdir):
    bad = yaml.safe_load(SMALL_ROUTE)
    bad["metadata"]["name"] = "bad"
    bad["spec"]["rules"][0]["matches"][0]["path"]["value"] = "foo"
    path = write_docs(os.path.join(str(workdir), "bad.yaml"), [bad])
    cp = sluiced.kubectl("apply", "-f", path, "--validate=false", check=False)
    assert cp.returncode != 0
    assert "spec.rules[0].matches[0].path.value" in cp.stderr, cp.stderr
    assert "invalid" in cp.stderr.lower()
    assert sluiced.get(rest_path("HTTPRoute", "default", "bad")).status_code == 404

    # Same through REST: 422 Invalid with the field in details.causes.
    r = sluiced.post(rest_path("HTTPRoute", "default"), bad)
    assert r.status_code == 422
    st = r.json()
    assert st["kind"] == "Status" and st["reason"] == "Invalid" and st["code"] == 422
    assert "spec.rules[0].matches[0].path.value" in [c.get("field") for c in st["details"]["causes"]]

    # An invalid change to an existing route is rejected and leaves it as it was.
    good = copy.deepcopy(bad)
    good["spec"]["rules"][0]["matches"][0]["path"]["value"] = "/ok"
    write_docs(path, [good])
    sluiced.kubectl("apply", "-f", path, "--validate=false")
    before = sluiced.get(rest_path("HTTPRoute", "default", "bad")).json()
    write_docs(path, [bad])
    cp = sluiced.kubectl("apply", "-f", path, "--validate=false", check=False)
    assert cp.returncode != 0
    assert "spec.rules[0].matches[0].path.value" in cp.stderr, cp.stderr
    after = sluiced.get(rest_path("HTTPRoute", "default", "bad")).json()
    assert after["spec"] == before["spec"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


# ---- kubectl create: kubectl 1.32 sends these as application/vnd.kubernetes.protobuf and
# asks for protobuf back (its Status errors too); 1.20 sends JSON. Both must store the
# same objects, which `kubectl get -o json` and the REST API then show field for field.

SERVER_META = {"uid", "resourceVersion", "creationTimestamp", "generation"}


def get_both_ways(s, kind, namespace, name):
    """The object through REST and through `kubectl get -o json`, which must agree."""
    r = s.get(rest_path(kind, namespace, name))
    assert r.status_code == 200, r.text
    rest = r.json()
    args = ["get", kind.lower(), name, "-o", "json"] + (["-n", namespace] if namespace else [])
    assert json.loads(s.kubectl(*args).stdout) == rest
    md = rest["metadata"]
    assert md["name"] == name and md.get("namespace") == namespace
    assert len(md["uid"]) == 36 and md["resourceVersion"].isdigit() and md["generation"] == 1
    assert time.strptime(md["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    return rest


def b64(data):
    return base64.b64encode(data).decode()


def test_create_namespace(sluiced, kubectl_version):
    cp = sluiced.kubectl("create", "namespace", "team-a")
    assert cp.stdout.strip() == "namespace/team-a created"
    ns = get_both_ways(sluiced, "Namespace", None, "team-a")
    assert set(ns) == {"apiVersion", "kind", "metadata", "spec"}, ns
    assert ns["apiVersion"] == "v1" and ns["kind"] == "Namespace" and ns["spec"] == {}
    # No labels were sent; the only one allowed is the server's own name label.
    assert set(ns["metadata"]) - {"labels"} == {"name"} | SERVER_META, ns
    assert ns["metadata"].get("labels", {}) in ({}, {"kubernetes.io/metadata.name": "team-a"}), ns
    assert "namespace/team-a" in sluiced.kubectl("get", "namespaces", "-o", "name").stdout.split()

    # Errors come back as Status objects kubectl reads (protobuf for 1.32) and reports.
    cp = sluiced.kubectl("create", "namespace", "team-a", check=False)
    assert cp.returncode != 0
    assert 'Error from server (AlreadyExists): namespaces "team-a" already exists' in cp.stderr, cp.stderr
    cp = sluiced.kubectl("create", "namespace", "Team_A", check=False)
    assert cp.returncode != 0
    assert 'The Namespace "Team_A" is invalid: metadata.name: ' in cp.stderr, cp.stderr
    assert sluiced.get(rest_path("Namespace", None, "Team_A")).status_code == 404
    # The namespace is usable: objects can be created in it.
    sluiced.kubectl("create", "configmap", "in-team-a", "-n", "team-a", "--from-literal=k=v")
    assert sluiced.get(rest_path("ConfigMap", "team-a", "in-team-a")).json()["data"] == {"k": "v"}


def test_create_secret_tls(sluiced, workdir, kubectl_version):
    crt, key = os.path.join(str(workdir), "tls.crt"), os.path.join(str(workdir), "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=pb.example.com"],
                   check=True, capture_output=True)
    cp = sluiced.kubectl("create", "secret", "tls", "site-tls", "-n", "default", "--cert", crt, "--key", key)
    assert cp.stdout.strip() == "secret/site-tls created"
    sec = get_both_ways(sluiced, "Secret", "default", "site-tls")
    assert set(sec) == {"apiVersion", "kind", "metadata", "data", "type"}, sec
    assert sec["apiVersion"] == "v1" and sec["kind"] == "Secret" and sec["type"] == "kubernetes.io/tls"
    assert set(sec["metadata"]) == {"name", "namespace"} | SERVER_META, sec["metadata"]
    with open(crt, "rb") as f:
        want_crt = f.read()
    with open(key, "rb") as f:
        want_key = f.read()
    assert sec["data"] == {"tls.crt": b64(want_crt), "tls.key": b64(want_key)}
    assert base64.b64decode(sec["data"]["tls.key"]) == want_key


def test_create_secret_generic(sluiced, workdir, kubectl_version):
    blob_path = os.path.join(str(workdir), "blob")
    blob = bytes(range(256)) * 3  # every byte value: not UTF-8
    with open(blob_path, "wb") as f:
        f.write(blob)
    cp = sluiced.kubectl("create", "secret", "generic", "creds", "--from-literal=user=admin",
                         "--from-literal=password=s3cr3t with spaces & \u00fcn\u00efcode", "--from-literal=empty=",
                         "--from-file=blob=" + blob_path)
    assert cp.stdout.strip() == "secret/creds created"
    sec = get_both_ways(sluiced, "Secret", "default", "creds")
    # kubectl sets no type (Kubernetes would default it to Opaque; sluice stores what it gets).
    assert set(sec) == {"apiVersion", "kind", "metadata", "data"}, sec
    assert set(sec["metadata"]) == {"name", "namespace"} | SERVER_META, sec["metadata"]
    want = {"user": b"admin", "password": "s3cr3t with spaces & \u00fcn\u00efcode".encode(), "empty": b"",
            "blob": blob}
    assert sec["data"] == {k: b64(v) for k, v in want.items()}
    assert {k: base64.b64decode(v) for k, v in sec["data"].items()} == want

    cp = sluiced.kubectl("create", "secret", "generic", "typed", "-n", "default", "--type=example.com/custom",
                         "--from-literal=a=b")
    sec = get_both_ways(sluiced, "Secret", "default", "typed")
    assert sec["type"] == "example.com/custom" and sec["data"] == {"a": b64(b"b")}


def test_create_configmap(sluiced, workdir, kubectl_version):
    logo_path = os.path.join(str(workdir), "logo")
    logo = b"\x89PNG\r\n\x1a\n\x00\xff\xfe" + bytes(range(128, 256))
    with open(logo_path, "wb") as f:
        f.write(logo)
    cp = sluiced.kubectl("create", "configmap", "settings", "--from-literal=color=blue", "--from-literal=size=10",
                         "--from-literal=greeting=hello, w\u00f6rld", "--from-file=logo=" + logo_path,
                         "--save-config")
    assert cp.stdout.strip() == "configmap/settings created"
    cm = get_both_ways(sluiced, "ConfigMap", "default", "settings")
    assert set(cm) == {"apiVersion", "kind", "metadata", "data", "binaryData"}, cm
    assert cm["apiVersion"] == "v1" and cm["kind"] == "ConfigMap"
    assert cm["data"] == {"color": "blue", "size": "10", "greeting": "hello, w\u00f6rld"}
    # A file that is not UTF-8 goes to binaryData, base64.
    assert cm["binaryData"] == {"logo": b64(logo)}
    # --save-config records the object as sent, in an annotation.
    md = cm["metadata"]
    assert set(md) == {"name", "namespace", "annotations"} | SERVER_META, md
    assert set(md["annotations"]) == {"kubectl.kubernetes.io/last-applied-configuration"}
    applied = json.loads(md["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert applied == {"kind": "ConfigMap", "apiVersion": "v1",
                       "metadata": {"name": "settings", "creationTimestamp": None},
                       "data": cm["data"], "binaryData": cm["binaryData"]}


def test_label_annotate_patch(sluiced):
    r = sluiced.post(rest_path("Namespace"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    assert r.status_code == 201, r.text

    r = sluiced.post(rest_path("HTTPRoute", "x"), {
        "apiVersion": GW + "/v1", "kind": "HTTPRoute", "metadata": {"name": "r1"},
        "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["a.example.com"]}})
    assert r.status_code == 201, r.text
    gen = r.json()["metadata"]["generation"]

    sluiced.kubectl("label", "namespace", "x", "team=blue")
    assert sluiced.get(rest_path("Namespace", None, "x")).json()["metadata"]["labels"]["team"] == "blue"

    sluiced.kubectl("label", "httproute", "r1", "-n", "x", "tier=edge")
    sluiced.kubectl("annotate", "httproute", "r1", "-n", "x", "owner=ops")
    obj = sluiced.get(rest_path("HTTPRoute", "x", "r1")).json()
    assert obj["metadata"]["labels"]["tier"] == "edge"
    assert obj["metadata"]["annotations"]["owner"] == "ops"
    assert obj["metadata"]["generation"] == gen  # metadata only

    # Overwriting a label needs --overwrite; removing uses "key-".
    cp = sluiced.kubectl("label", "httproute", "r1", "-n", "x", "tier=core", check=False)
    assert cp.returncode != 0
    sluiced.kubectl("label", "httproute", "r1", "-n", "x", "tier=core", "--overwrite")
    assert sluiced.get(rest_path("HTTPRoute", "x", "r1")).json()["metadata"]["labels"]["tier"] == "core"
    sluiced.kubectl("label", "httproute", "r1", "-n", "x", "tier-")
    assert "tier" not in sluiced.get(rest_path("HTTPRoute", "x", "r1")).json()["metadata"].get("labels", {})

    # Label selectors through kubectl.
    sluiced.kubectl("label", "httproute", "r1", "-n", "x", "sel=yes")
    r2 = sluiced.post(rest_path("HTTPRoute", "x"), {
        "apiVersion": GW + "/v1", "kind": "HTTPRoute", "metadata": {"name": "r2"},
        "spec": {"parentRefs": [{"name": "gw"}]}})
    assert r2.status_code == 201
    cp = sluiced.kubectl("get", "httproutes", "-n", "x", "-l", "sel=yes", "-o", "name")
    assert cp.stdout.split() == ["httproute.gateway.networking.k8s.io/r1"]

    cp = sluiced.kubectl("patch", "httproute", "r1", "-n", "x", "--type=merge",
                         "-p", '{"spec":{"hostnames":["b.example.com"]}}')
    assert "patched" in cp.stdout
    obj = sluiced.get(rest_path("HTTPRoute", "x", "r1")).json()
    assert obj["spec"]["hostnames"] == ["b.example.com"]
    assert obj["spec"]["parentRefs"] == [{"name": "gw"}]
    assert obj["metadata"]["generation"] == gen + 1

    # An invalid patch is refused with the field named.
    cp = sluiced.kubectl("patch", "httproute", "r1", "-n", "x", "--type=merge", "-p",
                         '{"spec":{"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"foo"}}]}]}}',
                         check=False)
    assert cp.returncode != 0
    assert "spec.rules[0].matches[0].path.value" in cp.stderr, cp.stderr

    cp = sluiced.kubectl("delete", "httproute", "r1", "r2", "-n", "x")
    assert sluiced.get(rest_path("HTTPRoute", "x", "r1")).status_code == 404
    cp = sluiced.kubectl("get", "httproutes", "-n", "x")
    assert "No resources found" in cp.stdout + cp.stderr

"""--config-dir DIR (the directory's manifests are the truth for the objects they
define) and `sluiced export` (the store as manifests): applied at start and on
every change, invalid sets refused whole with file, document and field in the
log, objects from files refused to the admin API, objects of the API left alone,
and the export -> --config-dir / kubectl apply round trip on the Gateway API
conformance manifests."""

import glob
import json
import os
import shutil
import subprocess
import time

import pytest
import requests
import yaml

from conftest import CONFORMANCE, SLUICED, Sluiced, free_port, path_for
from dataplane import Origin, wait_until

GW_GROUP = "gateway.networking.k8s.io"
SLUICE_GROUP = "gateway.sluice.dev"
MARK = "sluice.dev/config-file"
ROUTES = path_for("httproutes", "default")
BACKENDS = path_for("backends", "default", group=SLUICE_GROUP, version="v1alpha1")


def manifests(gw_port, origin_port, path="/", extra=""):
    return """# a Gateway, a Backend and a route, as kubectl takes them
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: files, namespace: default}
spec:
  gatewayClassName: sluice
  listeners:
  - {name: http, protocol: HTTP, port: %d}
---
apiVersion: gateway.sluice.dev/v1alpha1
kind: Backend
metadata:
  name: origin
spec:                      # (no namespace: default, as kubectl apply without -n)
  type: Static
  static:
    hosts: [{host: 127.0.0.1, port: %d}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: files, namespace: default, labels: {version: "2"}}
spec:
  parentRefs: [{name: files}]
  rules:
  - matches: [{path: {type: PathPrefix, value: "%s"}}]
    backendRefs: [{group: gateway.sluice.dev, kind: Backend, name: origin}]
%s""" % (gw_port, origin_port, path, extra)


def write(d, name, text):
    tmp = os.path.join(d, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(d, name))  # as editors and ConfigMap volumes do: one atomic change


def status_of(port, path):
    try:
        return requests.get("http://127.0.0.1:%d%s" % (port, path), timeout=2).status_code
    except requests.RequestException:
        return None


@pytest.fixture
def conf(tmp_path):
    d = tmp_path / "conf"
    d.mkdir()
    return str(d)


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.stop()


def start(tmp_path, conf, *extra):
    return Sluiced(str(tmp_path / "state"), extra_args=["--config-dir", conf, "--access-log", "off"] + list(extra)).start()


def test_files_are_applied_changed_refused_and_deleted(tmp_path, conf, origin):
    port = free_port()
    write(conf, "app.yaml", manifests(port, origin.port))
    sl = start(tmp_path, conf)
    try:
        # At start, before the first snapshot: the route serves at once.
        wait_until(lambda: status_of(port, "/") == 200, timeout=15, what="the route from the file")
        route = sl.get(ROUTES + "/files").json()
        assert route["metadata"]["annotations"][MARK] == "app.yaml"
        assert route["metadata"]["labels"] == {"version": "2"}  # a quoted "2" stays a string
        assert sl.get(BACKENDS + "/origin").json()["metadata"]["namespace"] == "default"
        assert "config-dir: %s: 1 file, 3 objects: 3 created" % conf in sl.log()

        # The admin API may not write them (409, naming the file); status is the controller's.
        for r in (sl.delete(ROUTES + "/files"),
                  requests.patch(sl.url + ROUTES + "/files", data=json.dumps({"metadata": {"labels": {"x": "y"}}}),
                                 headers={"Content-Type": "application/merge-patch+json"}, timeout=5),
                  requests.put(sl.url + ROUTES + "/files", data=json.dumps(route), timeout=5)):
            assert r.status_code == 409, r.text
            assert "comes from the file %s/app.yaml (--config-dir)" % conf in r.json()["message"]
        assert route["status"]["parents"], route  # (written by the controller all the same)

        # An object of the admin API lives beside them and outlives every pass.
        api_route = {"apiVersion": GW_GROUP + "/v1", "kind": "HTTPRoute",
                     "metadata": {"name": "by-api", "namespace": "default"},
                     "spec": {"parentRefs": [{"name": "files"}],
                              "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                                         "backendRefs": [{"group": SLUICE_GROUP, "kind": "Backend", "name": "origin"}]}]}}
        assert sl.post(ROUTES, api_route).status_code == 201

        # A change of the file: the new path serves, the old one no longer does.
        write(conf, "app.yaml", manifests(port, origin.port, path="/v2"))
        wait_until(lambda: status_of(port, "/v2/x") == 200 and status_of(port, "/") == 404, timeout=10,
                   what="the changed route")
        assert sl.get(ROUTES + "/files").json()["metadata"]["generation"] == 2

        # An invalid set changes nothing: each problem logged with file, document and field.
        write(conf, "bad.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: bad}\n"
                                "spec:\n  parentRefs: [{name: files}]\n  rules: [{matches: [{path: {type: Nope}}]}]\n"
                                "---\napiVersion: v9\nkind: Foo\n---\n")
        write(conf, "app.yaml", manifests(port, origin.port, path="/v3"))
        wait_until(lambda: "2 problems; nothing applied" in sl.log(), timeout=10, what="the refused pass")
        log = sl.log()
        assert "%s/bad.yaml, document 0: HTTPRoute bad is invalid: spec.rules[0].matches[0].path.type: " \
               "Unsupported value: \"Nope\"" % conf in log
        assert "%s/bad.yaml, document 1: no kind Foo is served at v9" % conf in log
        time.sleep(0.5)
        assert status_of(port, "/v2/x") == 200 and status_of(port, "/v3/x") == 404  # the last good set runs
        assert sl.get(ROUTES + "/bad").status_code == 404

        # Broken YAML too: the place of the error is given.
        write(conf, "bad.yaml", "kind: [unclosed\n")
        wait_until(lambda: "%s/bad.yaml: not valid YAML: document 0, line 2" % conf in sl.log(), timeout=10,
                   what="the YAML error")

        # Fixed: the whole set applies; JSON files and kind: List are manifests too.
        os.remove(os.path.join(conf, "bad.yaml"))
        write(conf, "more.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
            {"apiVersion": SLUICE_GROUP + "/v1alpha1", "kind": "Backend",
             "metadata": {"name": "b2", "namespace": "team"},
             "spec": {"type": "Static", "static": {"hosts": [{"host": "127.0.0.1", "port": origin.port}]}}}]}))
        wait_until(lambda: status_of(port, "/v3/x") == 200, timeout=10, what="the fixed set")
        team = path_for("backends", "team", "b2", group=SLUICE_GROUP, version="v1alpha1")
        assert sl.get(team).json()["metadata"]["annotations"][MARK] == "more.json"
        # Nor may the API take them away by a Namespace or a collection delete.
        r = sl.delete(path_for("namespaces", name="team", group="", version="v1"))
        assert r.status_code == 409 and "it comes from the file" in r.json()["message"], r.text
        r = sl.delete(path_for("backends", "default", group=SLUICE_GROUP, version="v1alpha1"))
        assert r.status_code == 200 and r.json()["items"] == []  # (the file's Backend is skipped)
        assert sl.get(BACKENDS + "/origin").status_code == 200

        # An object defined twice is refused, naming both places.
        write(conf, "twice.yaml", manifests(port, origin.port).split("---")[1])
        wait_until(lambda: "Backend/default/origin is also defined in" in sl.log(), timeout=10, what="the duplicate")
        os.remove(os.path.join(conf, "twice.yaml"))

        # Files removed: their objects go, the API's object stays.
        os.remove(os.path.join(conf, "more.json"))
        write(conf, "app.yaml", manifests(port, origin.port, path="/v3").split("---\napiVersion: gateway.networking"
                                                                                ".k8s.io/v1\nkind: HTTPRoute")[0])
        wait_until(lambda: sl.get(ROUTES + "/files").status_code == 404 and sl.get(team).status_code == 404,
                   timeout=10, what="the removed objects deleted")
        assert sl.get(path_for("namespaces", name="team", group="", version="v1")).status_code == 404
        assert sl.get(ROUTES + "/by-api").status_code == 200
        wait_until(lambda: status_of(port, "/api/x") == 200, timeout=10, what="the API's route still served")
    finally:
        assert sl.stop() == 0


def test_restart_keeps_the_set_and_a_missing_dir_stops_the_start(tmp_path, conf, origin):
    port = free_port()
    write(conf, "app.yaml", manifests(port, origin.port))
    sl = start(tmp_path, conf)
    wait_until(lambda: status_of(port, "/") == 200, timeout=15, what="the route")
    uid = sl.get(ROUTES + "/files").json()["metadata"]["uid"]
    assert sl.stop() == 0
    # The same files again: nothing to write (the objects are the same ones, at generation 1).
    sl = start(tmp_path, conf)
    try:
        meta = sl.get(ROUTES + "/files").json()["metadata"]
        assert meta["uid"] == uid and meta["generation"] == 1
        assert "0 created, 0 updated, 0 deleted, 3 unchanged" in sl.log()
    finally:
        assert sl.stop() == 0
    cp = subprocess.run([SLUICED, "--state-dir", str(tmp_path / "state2"), "--admin", "127.0.0.1:%d" % free_port(),
                         "--config-dir", str(tmp_path / "nope")], capture_output=True, text=True, timeout=20)
    assert cp.returncode == 1
    assert "--config-dir %s: No such file or directory" % (tmp_path / "nope") in cp.stdout + cp.stderr


# ------------------------------------------------------------------ export round trip

# kind -> (group, version, plural, namespaced): the conformance manifests' kinds.
KINDS = {
    "Namespace": ("", "v1", "namespaces", False),
    "Service": ("", "v1", "services", True),
    "Secret": ("", "v1", "secrets", True),
    "ConfigMap": ("", "v1", "configmaps", True),
    "EndpointSlice": ("discovery.k8s.io", "v1", "endpointslices", True),
    "GatewayClass": (GW_GROUP, "v1", "gatewayclasses", False),
    "Gateway": (GW_GROUP, "v1", "gateways", True),
    "HTTPRoute": (GW_GROUP, "v1", "httproutes", True),
    "GRPCRoute": (GW_GROUP, "v1", "grpcroutes", True),
    "TLSRoute": (GW_GROUP, "v1", "tlsroutes", True),
    "TCPRoute": (GW_GROUP, "v1", "tcproutes", True),
    "ReferenceGrant": (GW_GROUP, "v1beta1", "referencegrants", True),
    "BackendTLSPolicy": (GW_GROUP, "v1", "backendtlspolicies", True),
    "TrafficPolicy": (SLUICE_GROUP, "v1alpha1", "trafficpolicies", True),
    "Backend": (SLUICE_GROUP, "v1alpha1", "backends", True),
    "BackendPolicy": (SLUICE_GROUP, "v1alpha1", "backendpolicies", True),
}
SERVER_META = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")
needs_manifests = pytest.mark.skipif(not os.path.isdir(os.path.join(CONFORMANCE, "tests")),
                                     reason="skipped, because the Gateway API conformance manifests are not at %s"
                                     % CONFORMANCE)


def coll(kind, ns=None):
    group, version, plural, namespaced = KINDS[kind]
    return path_for(plural, ns if namespaced else None, group=group, version=version)


def store_contents(sl):
    """Every object of every kind, as users wrote them: (kind, ns, name) -> object."""
    out = {}
    for kind, (_, _, _, namespaced) in KINDS.items():
        r = sl.get(coll(kind))
        assert r.status_code == 200, r.text
        for o in r.json()["items"]:
            md = o["metadata"]
            for f in SERVER_META:
                md.pop(f, None)
            ann = md.get("annotations", {})
            for a in (MARK, "kubectl.kubernetes.io/last-applied-configuration"):
                ann.pop(a, None)
            if not ann:
                md.pop("annotations", None)
            labels = md.get("labels", {})
            if kind == "Namespace":
                labels.pop("kubernetes.io/metadata.name", None)
            if not labels:
                md.pop("labels", None)
            o.pop("status", None)
            o.pop("apiVersion", None)
            o.pop("kind", None)
            out[(kind, md.get("namespace") if namespaced else None, md["name"])] = o
    return out


def conformance_objects():
    files = [os.path.join(CONFORMANCE, "base", "manifests.yaml")] + sorted(
        glob.glob(os.path.join(CONFORMANCE, "tests", "*.yaml")))
    objs = []
    for f in files:
        with open(f) as fh:
            text = fh.read().replace("{GATEWAY_CLASS_NAME}", "sluice")
        objs += [d for d in yaml.safe_load_all(text) if d and d.get("kind") in KINDS]
    return objs


@needs_manifests
def test_export_round_trips_through_config_dir_and_kubectl(tmp_path):
    a = Sluiced(str(tmp_path / "a"), extra_args=["--access-log", "off"]).start()
    try:
        created = 0
        for o in conformance_objects():
            ns = o["metadata"].get("namespace", "default")
            path = coll(o["kind"], ns)
            r = a.post(path, o)
            if r.status_code == 409:  # (a name several tests use: the last one wins)
                cur = a.get(path + "/" + o["metadata"]["name"]).json()
                o["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
                r = requests.put(a.url + path + "/" + o["metadata"]["name"], data=json.dumps(o), timeout=10)
            if r.status_code in (200, 201):
                created += 1
        assert created > 300, created
        want = store_contents(a)
        kinds = {k[0] for k in want}
        assert {"Namespace", "Gateway", "HTTPRoute", "TLSRoute", "TCPRoute", "Secret", "ConfigMap",
                "BackendTLSPolicy", "ReferenceGrant", "EndpointSlice", "Service"} <= kinds, kinds
    finally:
        assert a.stop() == 0
    # Exported while sluiced is not running (it reads the store file).
    cp = subprocess.run([SLUICED, "export", "--state-dir", str(tmp_path / "a")], capture_output=True, text=True,
                        timeout=60)
    assert cp.returncode == 0, cp.stderr
    text = cp.stdout
    assert text.startswith("---\napiVersion: v1\nkind: Namespace\n")
    assert "uid:" not in text and "resourceVersion:" not in text and "creationTimestamp:" not in text
    # Python's YAML reads it as the same objects (the text is plain YAML, not our dialect).
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert len(docs) == len(want)

    # Into a new store through --config-dir: the same objects.
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "export.yaml").write_text(text)
    b = Sluiced(str(tmp_path / "b"), extra_args=["--config-dir", str(conf), "--access-log", "off"]).start()
    try:
        got = store_contents(b)
        assert set(got) == set(want), set(got) ^ set(want)
        diff = [k for k in want if got[k] != want[k]]
        assert not diff, (diff[:3], [(want[k], got[k]) for k in diff[:1]])
        # And exporting that store gives the same text.
        cp2 = subprocess.run([SLUICED, "export", "--state-dir", str(tmp_path / "b")], capture_output=True, text=True,
                             timeout=60)
        assert cp2.returncode == 0 and cp2.stdout == text
    finally:
        assert b.stop() == 0

    # Into a third through kubectl apply -f.
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("skipped the kubectl half, because kubectl is not installed")
    c = Sluiced(str(tmp_path / "c"), extra_args=["--access-log", "off"]).start()
    try:
        path = tmp_path / "export.yaml"
        path.write_text(text)
        cp = subprocess.run([kubectl, "--server=" + c.url, "apply", "--validate=false", "-f", str(path)],
                            capture_output=True, text=True, timeout=300)
        assert cp.returncode == 0, cp.stderr[-3000:]
        got = store_contents(c)
        assert set(got) == set(want), set(got) ^ set(want)
        diff = [k for k in want if got[k] != want[k]]
        assert not diff, (diff[:3], [(want[k], got[k]) for k in diff[:1]])
    finally:
        assert c.stop() == 0

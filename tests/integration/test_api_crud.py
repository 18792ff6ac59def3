"""The admin API's resource verbs against a real sluiced: create, get, list,
selectors, replace, patch, the /status subresource, delete, deletecollection,
cluster-scoped kinds, built-in objects, resourceVersions, generateName, dryRun
and a round trip of every stored kind."""

import base64
import copy
import re
import uuid

import pytest

from conftest import GW, httproute, path_for

SLUICE = "gateway.sluice.dev"
ROUTES = path_for("httproutes", "default")


def route_path(name, ns="default"):
    return path_for("httproutes", ns, name)


def create(s, path, obj):
    r = s.post(path, obj)
    assert r.status_code == 201, r.text
    return r.json()


def rv(obj):
    return int(obj["metadata"]["resourceVersion"])


def names(resp):
    assert resp.status_code == 200, resp.text
    return sorted(i["metadata"]["name"] for i in resp.json()["items"])


def make_namespace(s, name, labels=None):
    meta = {"name": name}
    if labels:
        meta["labels"] = labels
    return create(s, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": meta})


# ---- create / get / list ----

def test_create_sets_server_fields(sluiced):
    body = httproute("r1")
    body["metadata"]["uid"] = "client-chosen"
    body["metadata"]["generation"] = 7
    r = sluiced.post(ROUTES, body)
    assert r.status_code == 201, r.text
    obj = r.json()
    meta = obj["metadata"]
    assert obj["apiVersion"] == GW + "/v1"
    assert obj["kind"] == "HTTPRoute"
    assert meta["name"] == "r1" and meta["namespace"] == "default"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert isinstance(meta["resourceVersion"], str) and int(meta["resourceVersion"]) > 0
    assert obj["spec"] == body["spec"]


def test_create_fills_apiversion_kind_and_namespace(sluiced):
    body = httproute("r1")
    del body["apiVersion"], body["kind"], body["metadata"]["namespace"]
    obj = create(sluiced, ROUTES, body)
    assert obj["apiVersion"] == GW + "/v1"
    assert obj["kind"] == "HTTPRoute"
    assert obj["metadata"]["namespace"] == "default"
    got = sluiced.get(route_path("r1")).json()
    assert got["apiVersion"] == GW + "/v1" and got["kind"] == "HTTPRoute"


def test_get_returns_what_create_returned(sluiced):
    created = create(sluiced, ROUTES, httproute("r1", path="/a"))
    r = sluiced.get(route_path("r1"))
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == created


def test_list(sluiced):
    create(sluiced, ROUTES, httproute("a"))
    last = create(sluiced, ROUTES, httproute("b"))
    r = sluiced.get(ROUTES)
    assert r.status_code == 200
    doc = r.json()
    assert doc["kind"] == "HTTPRouteList"
    assert doc["apiVersion"] == GW + "/v1"
    assert int(doc["metadata"]["resourceVersion"]) >= rv(last)
    assert names(r) == ["a", "b"]
    for item in doc["items"]:
        assert item["kind"] == "HTTPRoute" and item["apiVersion"] == GW + "/v1"


def test_list_empty_has_items_array(sluiced):
    r = sluiced.get(ROUTES)
    assert r.status_code == 200
    assert r.json()["items"] == []


def test_list_across_namespaces(sluiced):
    make_namespace(sluiced, "other")
    create(sluiced, ROUTES, httproute("a"))
    create(sluiced, path_for("httproutes", "other"), httproute("b", namespace="other"))
    assert names(sluiced.get(ROUTES)) == ["a"]
    assert names(sluiced.get(path_for("httproutes", "other"))) == ["b"]
    r = sluiced.get(path_for("httproutes"))
    assert names(r) == ["a", "b"]
    assert {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in r.json()["items"]} == {
        ("default", "a"), ("other", "b")}
    assert r.json()["kind"] == "HTTPRouteList"


@pytest.fixture
def labelled(sluiced):
    for name, labels in [("r-prod", {"env": "prod", "tier": "web"}), ("r-stage", {"env": "stage"}),
                         ("r-dev", {"env": "dev", "tier": "db"}), ("r-none", None)]:
        body = httproute(name)
        if labels:
            body["metadata"]["labels"] = labels
        create(sluiced, ROUTES, body)
    return sluiced


@pytest.mark.parametrize("selector,expected", [
    ("env=prod", ["r-prod"]),
    ("env==prod", ["r-prod"]),
    ("env!=prod", ["r-dev", "r-none", "r-stage"]),
    ("env in (prod,stage)", ["r-prod", "r-stage"]),
    ("env notin (prod,stage)", ["r-dev", "r-none"]),
    ("tier", ["r-dev", "r-prod"]),
    ("!tier", ["r-none", "r-stage"]),
    ("env,!tier", ["r-stage"]),
    ("env=prod,tier=web", ["r-prod"]),
    ("env=prod,tier=db", []),
])
def test_label_selector(labelled, selector, expected):
    assert names(labelled.get(ROUTES, params={"labelSelector": selector})) == expected


def test_label_selector_malformed_is_400(labelled):
    r = labelled.get(ROUTES, params={"labelSelector": "env in prod"})
    assert r.status_code == 400
    assert r.json()["reason"] == "BadRequest"


def test_field_selector(sluiced):
    make_namespace(sluiced, "other")
    create(sluiced, ROUTES, httproute("a"))
    create(sluiced, ROUTES, httproute("b"))
    create(sluiced, path_for("httproutes", "other"), httproute("a", namespace="other"))
    assert names(sluiced.get(ROUTES, params={"fieldSelector": "metadata.name=b"})) == ["b"]
    assert names(sluiced.get(ROUTES, params={"fieldSelector": "metadata.name!=b"})) == ["a"]
    all_ns = path_for("httproutes")
    r = sluiced.get(all_ns, params={"fieldSelector": "metadata.namespace=other"})
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in r.json()["items"]] == [("other", "a")]
    r = sluiced.get(all_ns, params={"fieldSelector": "metadata.name=a"})
    assert sorted(i["metadata"]["namespace"] for i in r.json()["items"]) == ["default", "other"]
    r = sluiced.get(all_ns, params={"fieldSelector": "metadata.name=a,metadata.namespace=default"})
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in r.json()["items"]] == [("default", "a")]


def test_field_selector_unsupported_field_is_400(sluiced):
    r = sluiced.get(ROUTES, params={"fieldSelector": "spec.hostnames=x"})
    assert r.status_code == 400
    assert r.json()["kind"] == "Status"


# ---- replace (PUT) ----

def test_put_spec_change_bumps_generation(sluiced):
    created = create(sluiced, ROUTES, httproute("r1", path="/a"))
    body = copy.deepcopy(created)
    body["spec"]["rules"][0]["matches"][0]["path"]["value"] = "/b"
    r = sluiced.put(route_path("r1"), body)
    assert r.status_code == 200, r.text
    obj = r.json()
    assert obj["metadata"]["generation"] == 2
    assert rv(obj) > rv(created)
    assert obj["metadata"]["uid"] == created["metadata"]["uid"]
    assert obj["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert sluiced.get(route_path("r1")).json()["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/b"


def test_put_metadata_only_keeps_generation(sluiced):
    created = create(sluiced, ROUTES, httproute("r1"))
    body = copy.deepcopy(created)
    body["metadata"]["labels"] = {"team": "blue"}
    r = sluiced.put(route_path("r1"), body)
    assert r.status_code == 200, r.text
    obj = r.json()
    assert obj["metadata"]["generation"] == 1
    assert obj["metadata"]["labels"] == {"team": "blue"}
    assert rv(obj) > rv(created)


def test_put_without_resource_version_is_unconditional(sluiced):
    created = create(sluiced, ROUTES, httproute("r1"))
    body = httproute("r1", path="/z")
    r = sluiced.put(route_path("r1"), body)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["uid"] == created["metadata"]["uid"]
    assert r.json()["metadata"]["generation"] == 2


def test_put_ignores_server_owned_metadata(sluiced):
    created = create(sluiced, ROUTES, httproute("r1"))
    body = copy.deepcopy(created)
    body["metadata"]["uid"] = "forged"
    body["metadata"]["generation"] = 99
    body["metadata"]["creationTimestamp"] = "2000-01-01T00:00:00Z"
    body["metadata"]["labels"] = {"a": "b"}
    obj = sluiced.put(route_path("r1"), body).json()
    assert obj["metadata"]["uid"] == created["metadata"]["uid"]
    assert obj["metadata"]["generation"] == 1
    assert obj["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]


def test_put_stale_resource_version_conflicts(sluiced):
    created = create(sluiced, ROUTES, httproute("r1"))
    first = copy.deepcopy(created)
    first["metadata"]["labels"] = {"v": "1"}
    assert sluiced.put(route_path("r1"), first).status_code == 200
    stale = copy.deepcopy(created)
    stale["metadata"]["labels"] = {"v": "2"}
    r = sluiced.put(route_path("r1"), stale)
    assert r.status_code == 409
    st = r.json()
    assert st["kind"] == "Status" and st["reason"] == "Conflict" and st["code"] == 409
    assert sluiced.get(route_path("r1")).json()["metadata"]["labels"] == {"v": "1"}


def test_put_missing_object_is_404(sluiced):
    r = sluiced.put(route_path("nope"), httproute("nope"))
    assert r.status_code == 404
    assert r.json()["reason"] == "NotFound"


def test_put_name_mismatch_is_400(sluiced):
    create(sluiced, ROUTES, httproute("r1"))
    r = sluiced.put(route_path("r1"), httproute("r2"))
    assert r.status_code == 400
    assert r.json()["reason"] == "BadRequest"


def test_noop_put_keeps_resource_version(sluiced):
    created = create(sluiced, ROUTES, httproute("r1"))
    r = sluiced.put(route_path("r1"), copy.deepcopy(created))
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert r.json()["metadata"]["generation"] == 1
    # nothing was written: the next write gets the very next version
    other = create(sluiced, ROUTES, httproute("r2"))
    assert rv(other) == rv(created) + 1


def test_noop_patch_keeps_resource_version(sluiced):
    body = httproute("r1")
    body["metadata"]["labels"] = {"a": "b"}
    created = create(sluiced, ROUTES, body)
    r = sluiced.patch(route_path("r1"), {"metadata": {"labels": {"a": "b"}}})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_concurrent_creates_get_distinct_versions(sluiced):
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: sluiced.post(ROUTES, httproute("c%02d" % i)), range(24)))
    assert [r.status_code for r in results] == [201] * 24, [r.text for r in results if r.status_code != 201]
    versions = [rv(r.json()) for r in results]
    assert len(set(versions)) == 24
    assert len(names(sluiced.get(ROUTES))) == 24
    # the list's version covers all of them
    assert int(sluiced.get(ROUTES).json()["metadata"]["resourceVersion"]) >= max(versions)


def test_post_existing_name_already_exists(sluiced):
    create(sluiced, ROUTES, httproute("r1", path="/a"))
    r = sluiced.post(ROUTES, httproute("r1", path="/b"))
    assert r.status_code == 409
    st = r.json()
    assert st["kind"] == "Status" and st["reason"] == "AlreadyExists" and st["code"] == 409
    assert "r1" in st["message"]
    assert sluiced.get(route_path("r1")).json()["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/a"


# ---- patch ----

@pytest.mark.parametrize("ctype", ["application/merge-patch+json", "application/strategic-merge-patch+json",
                                   "application/merge-patch+json; charset=utf-8"])
def test_merge_patch(sluiced, ctype):
    body = httproute("r1", hostnames=["a.example.com"])
    body["metadata"]["labels"] = {"keep": "1", "drop": "2"}
    created = create(sluiced, ROUTES, body)
    patch = {"metadata": {"labels": {"drop": None, "new": "3"}}, "spec": {"hostnames": ["b.example.com"]}}
    r = sluiced.patch(route_path("r1"), patch, content_type=ctype)
    assert r.status_code == 200, r.text
    obj = r.json()
    assert obj["metadata"]["labels"] == {"keep": "1", "new": "3"}
    assert obj["spec"]["hostnames"] == ["b.example.com"]
    assert obj["spec"]["rules"] == body["spec"]["rules"]  # untouched keys stay
    assert obj["metadata"]["generation"] == 2
    assert rv(obj) > rv(created)
    assert sluiced.get(route_path("r1")).json() == obj


def test_merge_patch_null_deletes_spec_key(sluiced):
    create(sluiced, ROUTES, httproute("r1", hostnames=["a.example.com"]))
    r = sluiced.patch(route_path("r1"), {"spec": {"hostnames": None}})
    assert r.status_code == 200, r.text
    assert "hostnames" not in r.json()["spec"]
    assert "hostnames" not in sluiced.get(route_path("r1")).json()["spec"]


def test_patch_metadata_only_keeps_generation(sluiced):
    create(sluiced, ROUTES, httproute("r1"))
    obj = sluiced.patch(route_path("r1"), {"metadata": {"annotations": {"note": "x"}}}).json()
    assert obj["metadata"]["generation"] == 1
    assert obj["metadata"]["annotations"] == {"note": "x"}


def test_patch_stale_resource_version_conflicts(sluiced):
    created = create(sluiced, ROUTES, httproute("r1"))
    assert sluiced.patch(route_path("r1"), {"metadata": {"labels": {"a": "1"}}}).status_code == 200
    r = sluiced.patch(route_path("r1"), {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"],
                                                      "labels": {"a": "2"}}})
    assert r.status_code == 409
    assert r.json()["reason"] == "Conflict"
    assert sluiced.get(route_path("r1")).json()["metadata"]["labels"] == {"a": "1"}


def test_patch_with_current_resource_version(sluiced):
    created = create(sluiced, ROUTES, httproute("r1"))
    r = sluiced.patch(route_path("r1"), {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"],
                                                      "labels": {"a": "1"}}})
    assert r.status_code == 200, r.text
    assert rv(r.json()) > rv(created)


def test_patch_cannot_rename_or_move(sluiced):
    create(sluiced, ROUTES, httproute("r1"))
    r = sluiced.patch(route_path("r1"), {"metadata": {"name": "r2", "namespace": "kube-system"}})
    assert r.status_code in (200, 400), r.text
    assert sluiced.get(route_path("r1")).status_code == 200
    assert sluiced.get(route_path("r2")).status_code == 404


def test_patch_missing_object_is_404(sluiced):
    r = sluiced.patch(route_path("nope"), {"metadata": {"labels": {"a": "b"}}})
    assert r.status_code == 404
    assert r.json()["reason"] == "NotFound"


def test_patch_producing_invalid_object_is_422(sluiced):
    create(sluiced, ROUTES, httproute("r1", path="/ok"))
    r = sluiced.patch(route_path("r1"), {"spec": {"rules": [{"matches": [{"path": {"type": "PathPrefix",
                                                                                     "value": "nope"}}]}]}})
    assert r.status_code == 422
    assert sluiced.get(route_path("r1")).json()["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/ok"


# ---- /status ----

STATUS = {"parents": [{"parentRef": {"name": "gw"}, "controllerName": "example.com/other-controller",
                       "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                                       "message": "", "lastTransitionTime": "2025-01-01T00:00:00Z",
                                       "observedGeneration": 1}]}]}


def test_status_put_changes_only_status(sluiced):
    created = create(sluiced, ROUTES, httproute("r1", path="/a"))
    body = copy.deepcopy(created)
    body["status"] = STATUS
    body["spec"]["rules"][0]["matches"][0]["path"]["value"] = "/changed"
    body["metadata"]["labels"] = {"ignored": "yes"}
    r = sluiced.put(route_path("r1") + "/status", body)
    assert r.status_code == 200, r.text
    obj = r.json()
    assert obj["status"] == STATUS
    assert obj["spec"] == created["spec"]
    assert "labels" not in obj["metadata"]
    assert obj["metadata"]["generation"] == 1
    assert rv(obj) > rv(created)
    got = sluiced.get(route_path("r1")).json()
    assert got["status"] == STATUS and got["spec"] == created["spec"]


def test_status_patch(sluiced):
    created = create(sluiced, ROUTES, httproute("r1"))
    r = sluiced.patch(route_path("r1") + "/status", {"status": STATUS, "spec": {"hostnames": ["x.example.com"]}})
    assert r.status_code == 200, r.text
    obj = r.json()
    assert obj["status"] == STATUS
    assert "hostnames" not in obj["spec"]
    assert obj["metadata"]["generation"] == 1
    r = sluiced.patch(route_path("r1") + "/status", {"status": {"parents": []}})
    assert r.json()["status"] == {"parents": []}
    assert sluiced.get(route_path("r1")).json()["status"] == {"parents": []}
    assert rv(r.json()) > rv(created)


def test_status_put_stale_resource_version_conflicts(sluiced):
    created = create(sluiced, ROUTES, httproute("r1"))
    assert sluiced.patch(route_path("r1") + "/status", {"status": STATUS}).status_code == 200
    stale = copy.deepcopy(created)
    stale["status"] = {"parents": []}
    r = sluiced.put(route_path("r1") + "/status", stale)
    assert r.status_code == 409
    assert r.json()["reason"] == "Conflict"
    assert sluiced.get(route_path("r1")).json()["status"] == STATUS


def test_status_get(sluiced):
    create(sluiced, ROUTES, httproute("r1"))
    sluiced.patch(route_path("r1") + "/status", {"status": STATUS})
    r = sluiced.get(route_path("r1") + "/status")
    assert r.status_code == 200
    assert r.json()["status"] == STATUS


def test_main_resource_ignores_status(sluiced):
    body = httproute("r1")
    body["status"] = STATUS
    created = create(sluiced, ROUTES, body)
    assert "status" not in created
    assert "status" not in sluiced.get(route_path("r1")).json()
    # set a status the proper way, then try to overwrite it through the main resource
    sluiced.patch(route_path("r1") + "/status", {"status": STATUS})
    cur = sluiced.get(route_path("r1")).json()
    cur["status"] = {"parents": []}
    cur["metadata"]["labels"] = {"x": "y"}
    r = sluiced.put(route_path("r1"), cur)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == STATUS
    r = sluiced.patch(route_path("r1"), {"status": {"parents": []}})
    assert r.status_code == 200, r.text
    assert sluiced.get(route_path("r1")).json()["status"] == STATUS


def test_status_of_kind_without_status_is_404(sluiced):
    create(sluiced, "/api/v1/namespaces/default/configmaps",
           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}})
    r = sluiced.patch("/api/v1/namespaces/default/configmaps/c/status", {"status": {"x": 1}})
    assert r.status_code == 404


# ---- delete ----

def test_delete(sluiced):
    created = create(sluiced, ROUTES, httproute("r1"))
    r = sluiced.delete(route_path("r1"))
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["uid"] == created["metadata"]["uid"]
    r = sluiced.get(route_path("r1"))
    assert r.status_code == 404
    assert r.json()["reason"] == "NotFound"
    assert names(sluiced.get(ROUTES)) == []
    r = sluiced.delete(route_path("r1"))
    assert r.status_code == 404


def test_recreate_after_delete_gets_new_uid(sluiced):
    first = create(sluiced, ROUTES, httproute("r1"))
    assert sluiced.delete(route_path("r1")).status_code == 200
    second = create(sluiced, ROUTES, httproute("r1"))
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert second["metadata"]["generation"] == 1


def test_deletecollection_with_label_selector(sluiced):
    for name, app in [("a", "x"), ("b", "x"), ("c", "y")]:
        body = httproute(name)
        body["metadata"]["labels"] = {"app": app}
        create(sluiced, ROUTES, body)
    r = sluiced.delete(ROUTES, params={"labelSelector": "app=x"})
    assert r.status_code == 200, r.text
    assert names(r) == ["a", "b"]
    assert names(sluiced.get(ROUTES)) == ["c"]


def test_delete_namespace_removes_its_objects(sluiced):
    make_namespace(sluiced, "doomed")
    make_namespace(sluiced, "kept")
    create(sluiced, path_for("httproutes", "doomed"), httproute("r1", namespace="doomed"))
    create(sluiced, "/api/v1/namespaces/doomed/configmaps",
           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": "v"}})
    create(sluiced, path_for("httproutes", "kept"), httproute("r1", namespace="kept"))
    r = sluiced.delete("/api/v1/namespaces/doomed")
    assert r.status_code == 200, r.text
    assert sluiced.get("/api/v1/namespaces/doomed").status_code == 404
    assert sluiced.get(path_for("httproutes", "doomed", "r1")).status_code == 404
    assert sluiced.get("/api/v1/namespaces/doomed/configmaps/cm").status_code == 404
    assert sluiced.get(path_for("httproutes", "kept", "r1")).status_code == 200
    assert [i["metadata"]["namespace"] for i in sluiced.get(path_for("httproutes")).json()["items"]] == ["kept"]
    # and creating in it again needs the namespace back
    r = sluiced.post(path_for("httproutes", "doomed"), httproute("r2", namespace="doomed"))
    assert r.status_code == 404


# ---- cluster-scoped kinds and built-ins ----

def test_builtin_objects(sluiced):
    r = sluiced.get(path_for("gatewayclasses"))
    assert r.status_code == 200
    classes = {i["metadata"]["name"]: i for i in r.json()["items"]}
    assert {"sluice", "sluice-ai"} <= set(classes)
    for name in ("sluice", "sluice-ai"):
        assert classes[name]["spec"]["controllerName"] == "sluice.dev/gateway-controller"
        one = sluiced.get(path_for("gatewayclasses", name=name))
        assert one.status_code == 200
        assert one.json()["spec"]["controllerName"] == "sluice.dev/gateway-controller"
        assert "namespace" not in one.json()["metadata"]
    ns = sluiced.get("/api/v1/namespaces/default")
    assert ns.status_code == 200
    assert ns.json()["kind"] == "Namespace" and ns.json()["apiVersion"] == "v1"
    assert "default" in names(sluiced.get("/api/v1/namespaces"))


def test_builtins_not_recreated_after_delete_and_restart(make_sluiced):
    s = make_sluiced().start()
    assert s.delete(path_for("gatewayclasses", name="sluice-ai")).status_code == 200
    s.stop()
    s.start()
    assert s.get(path_for("gatewayclasses", name="sluice-ai")).status_code == 404
    assert s.get(path_for("gatewayclasses", name="sluice")).status_code == 200


def test_gatewayclass_cluster_scoped(sluiced):
    body = {"apiVersion": GW + "/v1", "kind": "GatewayClass", "metadata": {"name": "mine"},
            "spec": {"controllerName": "example.com/ctl"}}
    obj = create(sluiced, path_for("gatewayclasses"), body)
    assert "namespace" not in obj["metadata"]
    r = sluiced.get(path_for("gatewayclasses", name="mine"))
    assert r.status_code == 200 and r.json()["spec"] == body["spec"]
    # a cluster-scoped kind has no namespaced path
    assert sluiced.get("/apis/%s/v1/namespaces/default/gatewayclasses/mine" % GW).status_code == 404
    assert sluiced.delete(path_for("gatewayclasses", name="mine")).status_code == 200
    assert sluiced.get(path_for("gatewayclasses", name="mine")).status_code == 404


NAME_LABEL = "kubernetes.io/metadata.name"


def test_namespace_crud(sluiced):
    obj = make_namespace(sluiced, "team-a", labels={"team": "a"})
    assert obj["kind"] == "Namespace" and "namespace" not in obj["metadata"]
    r = sluiced.get("/api/v1/namespaces/team-a")
    assert r.status_code == 200 and r.json()["metadata"]["labels"] == {"team": "a", NAME_LABEL: "team-a"}
    assert names(sluiced.get("/api/v1/namespaces", params={"labelSelector": "team=a"})) == ["team-a"]
    r = sluiced.patch("/api/v1/namespaces/team-a", {"metadata": {"labels": {"team": "b"}}})
    assert r.status_code == 200 and r.json()["metadata"]["labels"] == {"team": "b", NAME_LABEL: "team-a"}
    assert sluiced.delete("/api/v1/namespaces/team-a").status_code == 200
    assert sluiced.get("/api/v1/namespaces/team-a").status_code == 404


def test_namespace_name_label_always_equals_the_name(sluiced):
    """As the Kubernetes API server does: every Namespace carries
    kubernetes.io/metadata.name = its name, set on create and kept through
    replacements and patches whatever the client sends."""
    assert sluiced.get("/api/v1/namespaces/default").json()["metadata"]["labels"] == {NAME_LABEL: "default"}
    obj = make_namespace(sluiced, "team-b", labels={NAME_LABEL: "forged", "team": "b"})
    assert obj["metadata"]["labels"] == {NAME_LABEL: "team-b", "team": "b"}
    # A replacement without labels: the label comes back, and nothing else changed,
    # so nothing is written.
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b", "labels": {"team": "b"}}}
    r = sluiced.put("/api/v1/namespaces/team-b", body)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["labels"] == {NAME_LABEL: "team-b", "team": "b"}
    assert r.json()["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
    for patch in ({"metadata": {"labels": {NAME_LABEL: None}}}, {"metadata": {"labels": {NAME_LABEL: "other"}}},
                  {"metadata": {"labels": None}}):
        r = sluiced.patch("/api/v1/namespaces/team-b", patch)
        assert r.status_code == 200, r.text
        assert r.json()["metadata"]["labels"].get(NAME_LABEL) == "team-b", patch
    assert sluiced.get("/api/v1/namespaces/team-b").json()["metadata"]["labels"] == {NAME_LABEL: "team-b"}
    assert names(sluiced.get("/api/v1/namespaces", params={"labelSelector": NAME_LABEL + "=team-b"})) == ["team-b"]
    assert names(sluiced.get("/api/v1/namespaces", params={"labelSelector": NAME_LABEL})) == ["default", "team-b"]


def test_namespace_status_subresource(sluiced):
    make_namespace(sluiced, "ns1")
    r = sluiced.patch("/api/v1/namespaces/ns1/status", {"status": {"phase": "Active"}})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == {"phase": "Active"}
    assert sluiced.get("/api/v1/namespaces/ns1").json()["status"] == {"phase": "Active"}


# ---- resourceVersion, generateName, dryRun ----

def test_resource_version_global_and_increasing(sluiced):
    seen = []
    seen.append(rv(make_namespace(sluiced, "ns1")))
    seen.append(rv(create(sluiced, ROUTES, httproute("r1"))))
    seen.append(rv(create(sluiced, "/api/v1/namespaces/default/configmaps",
                          {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})))
    seen.append(rv(sluiced.patch(route_path("r1"), {"metadata": {"labels": {"a": "b"}}}).json()))
    seen.append(rv(create(sluiced, path_for("gatewayclasses"),
                          {"apiVersion": GW + "/v1", "kind": "GatewayClass", "metadata": {"name": "x"},
                           "spec": {"controllerName": "example.com/x"}})))
    seen.append(rv(sluiced.patch(route_path("r1") + "/status", {"status": STATUS}).json()))
    assert all(b > a for a, b in zip(seen, seen[1:])), seen
    assert len(set(seen)) == len(seen)
    # every list reports the store's version, whatever the kind
    for path in (ROUTES, "/api/v1/namespaces", path_for("gatewayclasses")):
        assert int(sluiced.get(path).json()["metadata"]["resourceVersion"]) >= seen[-1]
    # a delete is a write too
    sluiced.delete(route_path("r1"))
    after = rv(create(sluiced, ROUTES, httproute("r2")))
    assert after > seen[-1] + 1


def test_resource_version_survives_restart(make_sluiced):
    s = make_sluiced().start()
    before = rv(create(s, ROUTES, httproute("r1")))
    s.stop()
    s.start()
    assert rv(s.get(route_path("r1")).json()) == before
    assert rv(create(s, ROUTES, httproute("r2"))) > before


def test_generate_name(sluiced):
    body = httproute("")
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "gen-"
    a = create(sluiced, ROUTES, body)
    b = create(sluiced, ROUTES, body)
    na, nb = a["metadata"]["name"], b["metadata"]["name"]
    assert na.startswith("gen-") and len(na) > len("gen-")
    assert nb.startswith("gen-") and na != nb
    assert sluiced.get(route_path(na)).status_code == 200
    assert sluiced.get(route_path(nb)).status_code == 200


def test_dry_run_create_stores_nothing(sluiced):
    before = sluiced.get(ROUTES).json()["metadata"]["resourceVersion"]
    r = sluiced.post(ROUTES, httproute("dry"), params={"dryRun": "All"})
    assert r.status_code == 201, r.text
    assert r.json()["metadata"]["name"] == "dry"
    assert sluiced.get(route_path("dry")).status_code == 404
    assert sluiced.get(ROUTES).json()["metadata"]["resourceVersion"] == before


def test_dry_run_update_patch_delete_store_nothing(sluiced):
    created = create(sluiced, ROUTES, httproute("r1", path="/a"))
    body = copy.deepcopy(created)
    body["spec"]["rules"][0]["matches"][0]["path"]["value"] = "/b"
    r = sluiced.put(route_path("r1"), body, params={"dryRun": "All"})
    assert r.status_code == 200, r.text
    r = sluiced.patch(route_path("r1") + "?dryRun=All", {"metadata": {"labels": {"a": "b"}}})
    assert r.status_code == 200, r.text
    r = sluiced.delete(route_path("r1"), params={"dryRun": "All"})
    assert r.status_code == 200, r.text
    assert sluiced.get(route_path("r1")).json() == created
    r = sluiced.delete(ROUTES, params={"dryRun": "All"})
    assert r.status_code == 200
    assert sluiced.get(route_path("r1")).json() == created


def test_dry_run_still_validates(sluiced):
    r = sluiced.post(ROUTES, httproute("dry", path="nope"), params={"dryRun": "All"})
    assert r.status_code == 422


# ---- every stored kind round-trips ----

B64 = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()
B64KEY = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n").decode()

KINDS = [
    # (collection path, item path prefix, object)
    ("", "v1", "namespaces", False,
     {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "rt-ns", "labels": {"a": "b"}}}),
    ("", "v1", "services", True,
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
      "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                                      "protocol": "TCP"}]}}),
    ("", "v1", "secrets", True,
     {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cert"}, "type": "kubernetes.io/tls",
      "data": {"tls.crt": B64, "tls.key": B64KEY}}),
    ("", "v1", "configmaps", True,
     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ca"},
      "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n...\n"}}),
    ("discovery.k8s.io", "v1", "endpointslices", True,
     {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
      "metadata": {"name": "svc-abc", "labels": {"kubernetes.io/service-name": "svc"}},
      "addressType": "IPv4",
      "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}],
      "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}),
    (GW, "v1", "gatewayclasses", False,
     {"apiVersion": GW + "/v1", "kind": "GatewayClass", "metadata": {"name": "rt-class"},
      "spec": {"controllerName": "example.com/rt", "description": "round trip"}}),
    (GW, "v1", "gateways", True,
     {"apiVersion": GW + "/v1", "kind": "Gateway", "metadata": {"name": "gw"},
      "spec": {"gatewayClassName": "sluice",
               "listeners": [{"name": "http", "port": 18080, "protocol": "HTTP"}]}}),
    (GW, "v1", "httproutes", True, httproute("route", hostnames=["www.example.com"])),
    (GW, "v1", "grpcroutes", True,
     {"apiVersion": GW + "/v1", "kind": "GRPCRoute", "metadata": {"name": "grpc"},
      "spec": {"parentRefs": [{"name": "gw"}],
               "rules": [{"matches": [{"method": {"type": "Exact", "service": "echo.Echo", "method": "Say"}}],
                          "backendRefs": [{"name": "svc", "port": 50051}]}]}}),
    (GW, "v1beta1", "referencegrants", True,
     {"apiVersion": GW + "/v1beta1", "kind": "ReferenceGrant", "metadata": {"name": "grant"},
      "spec": {"from": [{"group": GW, "kind": "HTTPRoute", "namespace": "other"}],
               "to": [{"group": "", "kind": "Service"}]}}),
    (GW, "v1", "referencegrants", True,
     {"apiVersion": GW + "/v1", "kind": "ReferenceGrant", "metadata": {"name": "grant-v1"},
      "spec": {"from": [{"group": GW, "kind": "HTTPRoute", "namespace": "other"}],
               "to": [{"group": "", "kind": "Secret", "name": "cert"}]}}),
    (GW, "v1", "backendtlspolicies", True,
     {"apiVersion": GW + "/v1", "kind": "BackendTLSPolicy", "metadata": {"name": "btls"},
      "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "svc"}],
               "validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}],
                              "hostname": "svc.example.com"}}}),
    (SLUICE, "v1alpha1", "trafficpolicies", True,
     {"apiVersion": SLUICE + "/v1alpha1", "kind": "TrafficPolicy", "metadata": {"name": "tp"},
      "spec": {"targetRefs": [{"group": GW, "kind": "Gateway", "name": "gw"}],
               "rateLimit": {"requests": 10, "unit": "Second"}}}),
    (SLUICE, "v1alpha1", "backends", True,
     {"apiVersion": SLUICE + "/v1alpha1", "kind": "Backend", "metadata": {"name": "be"},
      "spec": {"type": "Static", "static": {"hosts": [{"host": "10.0.0.2", "port": 8080}], "protocol": "HTTP"}}}),
]


def strip_server_fields(obj):
    obj = copy.deepcopy(obj)
    for k in ("uid", "creationTimestamp", "generation", "resourceVersion"):
        obj["metadata"].pop(k, None)
    obj.pop("status", None)
    return obj


@pytest.mark.parametrize("group,version,plural,namespaced,obj", KINDS,
                         ids=["%s-%s" % (k[2], k[1]) for k in KINDS])
def test_every_kind_round_trips(sluiced, group, version, plural, namespaced, obj):
    ns = "default" if namespaced else None
    coll = path_for(plural, ns, group=group, version=version)
    item = path_for(plural, ns, obj["metadata"]["name"], group=group, version=version)
    r = sluiced.post(coll, obj)
    assert r.status_code == 201, r.text
    expected = copy.deepcopy(obj)
    if namespaced:
        expected["metadata"]["namespace"] = "default"
    if obj["kind"] == "Namespace":  # the label the server sets on every Namespace
        expected["metadata"].setdefault("labels", {})[NAME_LABEL] = obj["metadata"]["name"]
    assert strip_server_fields(r.json()) == expected
    got = sluiced.get(item)
    assert got.status_code == 200, got.text
    assert strip_server_fields(got.json()) == expected
    assert got.json()["metadata"]["uid"] == r.json()["metadata"]["uid"]
    listed = sluiced.get(coll).json()
    assert listed["kind"] == obj["kind"] + "List"
    assert obj["metadata"]["name"] in [i["metadata"]["name"] for i in listed["items"]]
    assert sluiced.delete(item).status_code == 200
    assert sluiced.get(item).status_code == 404


def test_reference_grant_served_at_both_versions(sluiced):
    body = {"apiVersion": GW + "/v1beta1", "kind": "ReferenceGrant", "metadata": {"name": "g"},
            "spec": {"from": [{"group": GW, "kind": "HTTPRoute", "namespace": "other"}],
                     "to": [{"group": "", "kind": "Service"}]}}
    create(sluiced, path_for("referencegrants", "default", version="v1beta1"), body)
    v1 = sluiced.get(path_for("referencegrants", "default", "g", version="v1"))
    assert v1.status_code == 200, v1.text
    assert v1.json()["apiVersion"] == GW + "/v1"
    assert v1.json()["spec"] == body["spec"]
    b1 = sluiced.get(path_for("referencegrants", "default", "g", version="v1beta1"))
    assert b1.json()["apiVersion"] == GW + "/v1beta1"
    assert b1.json()["metadata"]["uid"] == v1.json()["metadata"]["uid"]


def test_secret_tls_round_trips_base64(sluiced):
    body = KINDS[2][4]
    create(sluiced, "/api/v1/namespaces/default/secrets", body)
    got = sluiced.get("/api/v1/namespaces/default/secrets/cert").json()
    assert got["type"] == "kubernetes.io/tls"
    assert base64.b64decode(got["data"]["tls.crt"]).startswith(b"-----BEGIN CERTIFICATE-----")
    assert got["data"] == body["data"]


def test_unicode_and_large_values_round_trip(sluiced):
    text = "h\u00e9llo \u2603 " + uuid.uuid4().hex * 200
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big",
                                                                  "annotations": {"note": "\u00e7a va"}},
            "data": {"text": text}}
    create(sluiced, "/api/v1/namespaces/default/configmaps", body)
    got = sluiced.get("/api/v1/namespaces/default/configmaps/big").json()
    assert got["data"]["text"] == text
    assert got["metadata"]["annotations"]["note"] == "\u00e7a va"

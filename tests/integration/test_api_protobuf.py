"""The admin API's Kubernetes protobuf encoding (application/vnd.kubernetes.protobuf),
driven over REST with bodies the test encodes itself (k8s_protobuf.py, written from
Kubernetes' generated.proto field numbers, not from sluice's code): Service and
EndpointSlice creates read back field for field, protobuf answers and Status errors
when the client asks for them, and clear 400 and 415 answers for bodies sluice
cannot read. kubectl's own protobuf requests are in test_kubectl.py."""

import base64
import calendar
import time

import requests

import k8s_protobuf as pb
from conftest import path_for

PB = pb.MEDIA_TYPE
SERVICES = path_for("services", "default", group="", version="v1")
SLICES = path_for("endpointslices", "default", group="discovery.k8s.io", version="v1")


def send_pb(s, path, body, accept="application/json", method="POST"):
    """Sends a protobuf body (POST, or `method`), asking for `accept` back."""
    return requests.request(method, s.url + path, data=body, timeout=10,
                            headers={"Content-Type": PB, "Accept": accept})


def web_service(name="web", **meta):
    ports = [pb.service_port("http", "TCP", 80, 8080),
             pb.service_port("grpc", "TCP", 9090, "grpc-port", app_protocol="kubernetes.io/h2c")]
    return pb.envelope("v1", "Service", pb.service(
        pb.object_meta(name, labels={"app": "web", "tier": "edge"}, annotations={"owner": "ops team"}, **meta),
        ports, selector={"app": "web"}))


def epoch(rfc3339):
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def test_service_created_from_protobuf_reads_back_every_field(sluiced):
    r = send_pb(sluiced, SERVICES, web_service())
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"] == "application/json"
    created = r.json()
    got = sluiced.get(SERVICES + "/web").json()
    assert got == created
    assert got["apiVersion"] == "v1" and got["kind"] == "Service"
    md = got["metadata"]
    assert set(md) == {"name", "namespace", "labels", "annotations", "uid", "resourceVersion", "creationTimestamp",
                       "generation"}, md
    assert md["name"] == "web" and md["namespace"] == "default"
    assert md["labels"] == {"app": "web", "tier": "edge"} and md["annotations"] == {"owner": "ops team"}
    # Go writes every zero field (clusterIP "", nodePort 0, sessionAffinity "", ...):
    # like Kubernetes' JSON, sluice leaves them out. The status sent is dropped on create.
    assert "status" not in got
    assert got["spec"] == {
        "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                  {"name": "grpc", "protocol": "TCP", "appProtocol": "kubernetes.io/h2c", "port": 9090,
                   "targetPort": "grpc-port"}],
        "selector": {"app": "web"}, "type": "ClusterIP"}

    # The same object, asked for as protobuf, comes back in the envelope.
    r = sluiced.get(SERVICES + "/web", headers={"Accept": PB + ", */*"})
    assert r.status_code == 200 and r.headers["Content-Type"] == PB
    api, kind, obj = pb.unwrap(r.content)
    assert (api, kind) == ("v1", "Service")
    meta = pb.read_meta(obj)
    assert meta == {"name": "web", "namespace": "default", "uid": md["uid"], "resourceVersion": md["resourceVersion"],
                    "generation": 1, "creationTimestamp": epoch(md["creationTimestamp"]),
                    "labels": {"app": "web", "tier": "edge"}, "annotations": {"owner": "ops team"}}
    spec = pb.parse(pb.one(obj, 2))
    ports = [pb.parse(p) for p in spec[1]]
    assert [(pb.text(p, 1), pb.text(p, 2), pb.one(p, 3)) for p in ports] == [("http", "TCP", 80), ("grpc", "TCP", 9090)]
    assert pb.parse(pb.one(ports[0], 4)) == {1: [0], 2: [8080]}  # IntOrString int
    assert pb.parse(pb.one(ports[1], 4)) == {1: [1], 3: [b"grpc-port"]}  # IntOrString string
    assert pb.text(ports[1], 6) == "kubernetes.io/h2c"
    assert pb.as_map(spec, 2) == {"app": b"web"} and pb.text(spec, 4) == "ClusterIP"

    # A replace (PUT) in protobuf, with the resourceVersion, updates it.
    body = pb.envelope("v1", "Service", pb.service(
        pb.object_meta("web", resource_version=md["resourceVersion"], labels={"app": "web"}),
        [pb.service_port("http", "TCP", 8080, 80)], selector={"app": "web"}))
    r = send_pb(sluiced, SERVICES + "/web", body, accept=PB, method="PUT")
    assert r.status_code == 200 and r.headers["Content-Type"] == PB
    meta2 = pb.read_meta(pb.unwrap(r.content)[2])
    assert int(meta2["resourceVersion"]) > int(md["resourceVersion"]) and meta2["generation"] == 2
    got = sluiced.get(SERVICES + "/web").json()
    assert got["spec"]["ports"] == [{"name": "http", "protocol": "TCP", "port": 8080, "targetPort": 80}]
    assert got["metadata"]["labels"] == {"app": "web"} and "annotations" not in got["metadata"]


def test_endpointslice_created_from_protobuf_keeps_conditions(sluiced):
    body = pb.envelope("discovery.k8s.io/v1", "EndpointSlice", pb.endpoint_slice(
        pb.object_meta("web-abc12", labels={"kubernetes.io/service-name": "web"}), "IPv4",
        [pb.endpoint(["10.0.0.1"], ready=True),
         pb.endpoint(["10.0.0.2", "10.0.0.3"], ready=False, serving=True, terminating=False, hostname="pod-b",
                     node_name="node-1", zone="zone-a", target_ref={"kind": "Pod", "namespace": "default",
                                                                    "name": "web-b"})],
        [pb.endpoint_port("http", "TCP", 8080, "http"), pb.endpoint_port("", None, 9090)]))
    r = send_pb(sluiced, SLICES, body, accept=PB + ",application/json")
    assert r.status_code == 201, r.content
    assert r.headers["Content-Type"] == PB
    assert pb.unwrap(r.content)[:2] == ("discovery.k8s.io/v1", "EndpointSlice")
    got = sluiced.get(SLICES + "/web-abc12").json()
    assert got["apiVersion"] == "discovery.k8s.io/v1" and got["kind"] == "EndpointSlice"
    assert got["metadata"]["labels"] == {"kubernetes.io/service-name": "web"}
    assert got["addressType"] == "IPv4"
    # ready: false is an answer (this endpoint takes no traffic), not an unset field.
    assert got["endpoints"] == [
        {"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
        {"addresses": ["10.0.0.2", "10.0.0.3"], "conditions": {"ready": False, "serving": True, "terminating": False},
         "hostname": "pod-b", "nodeName": "node-1", "zone": "zone-a",
         "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-b"}}]
    assert got["ports"] == [{"name": "http", "protocol": "TCP", "port": 8080, "appProtocol": "http"},
                            {"port": 9090}]

    # Round trip through protobuf: what comes back decodes to the same endpoints.
    r = sluiced.get(SLICES + "/web-abc12", headers={"Accept": PB})
    obj = pb.unwrap(r.content)[2]
    eps = [pb.parse(e) for e in obj[2]]
    assert [[a.decode() for a in e[1]] for e in eps] == [["10.0.0.1"], ["10.0.0.2", "10.0.0.3"]]
    assert pb.parse(pb.one(eps[1], 2)) == {1: [0], 2: [1], 3: [0]}


def test_secret_and_configmap_from_protobuf_keep_bytes(sluiced):
    blob = bytes(range(256))
    body = pb.envelope("v1", "Secret", pb.secret(pb.object_meta("bin"), {"blob": blob, "empty": b""}, "Opaque",
                                                  immutable=False))
    r = send_pb(sluiced, path_for("secrets", "default", group="", version="v1"), body)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["type"] == "Opaque" and got["immutable"] is False
    assert got["data"] == {"blob": base64.b64encode(blob).decode(), "empty": ""}
    body = pb.envelope("v1", "ConfigMap", pb.configmap(pb.object_meta("cm"), {"k": "v\u00e9"}, {"raw": b"\x00\xff"}))
    r = send_pb(sluiced, path_for("configmaps", "default", group="", version="v1"), body)
    assert r.status_code == 201, r.text
    assert r.json()["data"] == {"k": "v\u00e9"} and r.json()["binaryData"] == {"raw": "AP8="}


def test_errors_are_status_objects_in_the_format_asked_for(sluiced):
    assert send_pb(sluiced, SERVICES, web_service()).status_code == 201
    # 409 as protobuf: a meta/v1 Status in the envelope, as kubectl 1.32 reads it.
    r = send_pb(sluiced, SERVICES, web_service(), accept=PB + ", */*")
    assert r.status_code == 409 and r.headers["Content-Type"] == PB
    st = pb.read_status(r.content)
    assert st["apiVersion"] == "v1" and st["kind"] == "Status"
    assert (st["status"], st["reason"], st["code"]) == ("Failure", "AlreadyExists", 409)
    assert st["message"] == 'services "web" already exists'
    assert (st["details"]["name"], st["details"]["kind"]) == ("web", "services")
    # 422 names every bad field in details.causes.
    r = send_pb(sluiced, SERVICES, pb.envelope("v1", "Service", pb.service(
        pb.object_meta("Bad_Name"), [pb.service_port("http", "SCTPX", 80, 8080)])), accept=PB)
    assert r.status_code == 422
    st = pb.read_status(r.content)
    assert st["reason"] == "Invalid" and st["code"] == 422
    fields = [c["field"] for c in st["details"]["causes"]]
    assert "metadata.name" in fields and "spec.ports[0].protocol" in fields, st
    # 404 for a missing namespace; the same errors in JSON when JSON is preferred.
    body = pb.envelope("v1", "Service", pb.service(pb.object_meta("web"), [pb.service_port("", "TCP", 80, 80)]))
    r = send_pb(sluiced, path_for("services", "nowhere", group="", version="v1"), body, accept=PB)
    assert r.status_code == 404 and pb.read_status(r.content)["message"] == 'namespaces "nowhere" not found'
    r = send_pb(sluiced, path_for("services", "nowhere", group="", version="v1"), body,
                accept="application/json, " + PB)
    assert r.status_code == 404 and r.json()["message"] == 'namespaces "nowhere" not found'
    # Lists have no protobuf form here: JSON, which a client asking "protobuf or */*" reads.
    r = sluiced.get(SERVICES, headers={"Accept": PB + ", */*"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json()["kind"] == "ServiceList"


def test_invalid_protobuf_bodies_are_400_with_the_reason(sluiced):
    good = pb.envelope("v1", "Service", pb.service(pb.object_meta("web"), [pb.service_port("", "TCP", 80, 80)]))
    cases = [
        (b'{"metadata":{"name":"web"}}', 'the body does not start with the 4 bytes "k8s\\x00"'),
        (good[:-7], "not a valid runtime.Unknown message"),
        (pb.envelope("v1", "Service", b"\x0a\x05\x0a\x01"), "the Service in the body is not a valid "
                                                            "k8s.core.v1.Service message"),
        (pb.envelope("v1", "Service", pb.f_msg(1, pb.f_str(1, b"w\xffb"))),
         "the Service in the body cannot be read: metadata.name: not valid UTF-8"),
        (pb.envelope("v1", "Service", pb.f_msg(2, pb.f_msg(1, pb.f_msg(4, pb.f_int(1, 7) + pb.f_int(2, 80))))),
         "spec.ports[0].targetPort: type 7 is neither 0 (intVal) nor 1 (strVal)"),
    ]
    for body, why in cases:
        r = send_pb(sluiced, SERVICES, body)
        assert r.status_code == 400, (body, r.text)
        st = r.json()
        assert st["kind"] == "Status" and st["reason"] == "BadRequest" and st["code"] == 400
        assert st["message"].startswith("the request body is not valid application/vnd.kubernetes.protobuf: ")
        assert why in st["message"], (why, st["message"])
        r = send_pb(sluiced, SERVICES, body, accept=PB)
        assert r.status_code == 400 and pb.read_status(r.content)["message"] == st["message"]
    assert sluiced.get(SERVICES).json()["items"] == []


def test_kinds_without_protobuf_are_415_naming_the_accepted_ones(sluiced):
    gw = "gateway.networking.k8s.io"
    routes = path_for("httproutes", "default")
    r = send_pb(sluiced, routes, pb.envelope(gw + "/v1", "HTTPRoute", pb.f_msg(1, pb.f_str(1, "r"))))
    assert r.status_code == 415
    st = r.json()
    assert st["reason"] == "UnsupportedMediaType" and st["code"] == 415
    assert st["message"] == (
        'kind "HTTPRoute" of apiVersion "gateway.networking.k8s.io/v1" is not accepted as '
        "application/vnd.kubernetes.protobuf; the kinds accepted are Namespace (v1), Secret (v1), ConfigMap (v1), "
        "Service (v1), EndpointSlice (discovery.k8s.io/v1); send other kinds as application/json")
    # An envelope that leaves typeMeta empty takes the URL's kind: the same answer.
    r = send_pb(sluiced, routes, pb.MAGIC + pb.f_bytes(2, pb.f_msg(1, pb.f_str(1, "r"))))
    assert r.status_code == 415 and 'kind "HTTPRoute"' in r.json()["message"]
    # A compressed object, and other protobuf media types, are 415 too.
    r = send_pb(sluiced, SERVICES, pb.envelope("v1", "Service", b"", content_encoding="gzip"))
    assert r.status_code == 415 and 'contentEncoding "gzip" is not supported' in r.json()["message"]
    r = requests.post(sluiced.url + SERVICES, data=b"\x0a\x00", headers={"Content-Type": "application/x-protobuf"},
                      timeout=10)
    assert r.status_code == 415
    assert r.json()["message"].endswith("accepted media types include: application/json, " + PB)
    # A protobuf Service posted to the EndpointSlice collection is refused by kind.
    r = send_pb(sluiced, SLICES, web_service())
    assert r.status_code == 400 and "does not match" in r.json()["message"]
    assert sluiced.get(routes).json()["items"] == [] and sluiced.get(SLICES).json()["items"] == []

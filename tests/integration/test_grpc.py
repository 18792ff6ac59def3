"""gRPC through sluice with Debian's python3-grpcio on both ends: a gRPC client
speaking h2c (and TLS) to the gateway, GRPCRoutes matching by service, method
(exact and regular expression) and headers, header filters, weighted
backends, status and trailers passed through, UNAVAILABLE when the backend is
down, and the routes' status conditions. The servers use generic handlers on
raw bytes, so no generated protobuf code is needed."""

import threading
from concurrent import futures

import grpc
import pytest

from conftest import GW, free_port, path_for
from dataplane import BACKENDS, ROUTES, backend, created, make_dataplane, wait_until  # noqa: F401

GRPCROUTES = path_for("grpcroutes", "default")
GWPATH = path_for("gateways", "default")
SLUICE_GROUP = "gateway.sluice.dev"
SERVICE = "sluice.test.Echo"


class GrpcServer:
    """A gRPC server named `name` for SERVICE: Say (unary echo, with the client's
    metadata in the reply), Fail (NOT_FOUND), Stream (n messages), Upload
    (counts bytes); every reply carries trailing metadata x-served-by."""

    def __init__(self, name):
        self.name = name
        self.calls = 0
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        handlers = {
            "Say": grpc.unary_unary_rpc_method_handler(self.say),
            "Other": grpc.unary_unary_rpc_method_handler(self.say),
            "Fail": grpc.unary_unary_rpc_method_handler(self.fail),
            "Stream": grpc.unary_stream_rpc_method_handler(self.stream),
            "Upload": grpc.stream_unary_rpc_method_handler(self.upload),
        }
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _count(self, ctx):
        with self.lock:
            self.calls += 1
        ctx.set_trailing_metadata((("x-served-by", self.name),))

    def say(self, request, ctx):
        self._count(ctx)
        md = dict(ctx.invocation_metadata())
        extra = ("|" + md["x-added"]) if "x-added" in md else ""
        return self.name.encode() + b":" + request + extra.encode()

    def fail(self, request, ctx):
        self._count(ctx)
        ctx.abort(grpc.StatusCode.NOT_FOUND, "nothing here")

    def stream(self, request, ctx):
        self._count(ctx)
        n = int(request.decode())
        for i in range(n):
            yield b"%d:" % i + b"x" * 1024

    def upload(self, it, ctx):
        self._count(ctx)
        total = 0
        for msg in it:
            total += len(msg)
        return str(total).encode()

    def stop(self):
        self.server.stop(0)


def ref(name, weight=None):
    r = {"group": SLUICE_GROUP, "kind": "Backend", "name": name}
    if weight is not None:
        r["weight"] = weight
    return r


def grpcroute(name, rules, parent="gw"):
    return {"apiVersion": GW + "/v1", "kind": "GRPCRoute", "metadata": {"name": name, "namespace": "default"},
            "spec": {"parentRefs": [{"name": parent}], "rules": rules}}


class Plane:
    def __init__(self, dp, a, b):
        self.dp, self.a, self.b = dp, a, b
        self.channel = grpc.insecure_channel("127.0.0.1:%d" % dp.port)

    def call(self, method, req=b"hi", metadata=(), timeout=10):
        return self.channel.unary_unary("/%s/%s" % (SERVICE, method)).with_call(req, metadata=metadata,
                                                                                 timeout=timeout)


@pytest.fixture
def plane(make_dataplane):
    dp = make_dataplane()
    a, b = GrpcServer("A"), GrpcServer("B")
    sl = dp.sluiced
    created(sl.post(BACKENDS, backend("ga", [a.port])))
    created(sl.post(BACKENDS, backend("gb", [b.port])))
    created(sl.post(GRPCROUTES, grpcroute("echo", [
        {"matches": [{"method": {"service": SERVICE, "method": "Say"}}], "backendRefs": [ref("ga")]},
        {"matches": [{"method": {"service": SERVICE, "method": "Say"}, "headers": [{"name": "x-variant",
                                                                                      "value": "b"}]}],
         "backendRefs": [ref("gb")]},
        {"matches": [{"method": {"type": "RegularExpression", "service": "sluice\\.test\\.E.*",
                                 "method": "Str.*"}}], "backendRefs": [ref("gb")]},
        {"matches": [{"method": {"service": SERVICE}}], "backendRefs": [ref("gb")],
         "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [
             {"name": "x-added", "value": "by-sluice"}]}}]},
    ])))
    p = Plane(dp, a, b)

    def ready():
        try:
            return p.call("Say", timeout=2)[0] == b"A:hi"
        except grpc.RpcError:
            return False
    wait_until(ready, timeout=15, what="gRPC through the gateway")
    yield p
    p.channel.close()
    a.stop()
    b.stop()


def trailing(call):
    return dict(call.trailing_metadata() or ())


def test_unary_call_with_trailers(plane):
    resp, call = plane.call("Say", b"hello", metadata=(("x-client", "1"),))
    assert resp == b"A:hello"
    assert call.code() == grpc.StatusCode.OK
    assert trailing(call)["x-served-by"] == "A"


def test_header_match_beats_the_plain_rule(plane):
    resp, call = plane.call("Say", b"v", metadata=(("x-variant", "b"),))
    assert resp == b"B:v" and trailing(call)["x-served-by"] == "B"


def test_service_match_and_request_header_filter(plane):
    resp, _ = plane.call("Other", b"o")
    # Rule 4 (service only) with its RequestHeaderModifier.
    assert resp == b"B:o|by-sluice"


def test_status_and_message_pass_through(plane):
    with pytest.raises(grpc.RpcError) as e:
        plane.call("Fail")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == "nothing here"
    assert dict(e.value.trailing_metadata() or ())["x-served-by"] == "B"


def test_server_streaming_by_regex_method(plane):
    stream = plane.channel.unary_stream("/%s/Stream" % SERVICE)
    msgs = list(stream(b"300", timeout=30))
    assert len(msgs) == 300
    assert msgs[0].startswith(b"0:") and msgs[-1].startswith(b"299:") and len(msgs[-1]) == 1024 + 4
    assert plane.b.calls >= 1


def test_client_streaming(plane):
    upload = plane.channel.stream_unary("/%s/Upload" % SERVICE)
    parts = [b"y" * 10000 for _ in range(200)]
    assert upload(iter(parts), timeout=30) == str(10000 * 200).encode()


def upstream_connections(port):
    """Established TCP connections to 127.0.0.1:port (from /proc/net/tcp)."""
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            rem, st = parts[2], parts[3]
            if st == "01" and rem == "0100007F:%04X" % port:
                n += 1
    return n


def test_many_concurrent_calls_share_the_connection(plane):
    say = plane.channel.unary_unary("/%s/Say" % SERVICE)
    futs = [say.future(b"%d" % i, timeout=20) for i in range(200)]
    assert [f.result() for f in futs] == [b"A:%d" % i for i in range(200)]
    # 200 calls in flight went over HTTP/2 streams of one connection per worker
    # (the data plane has one worker), not 200 connections.
    assert 1 <= upstream_connections(plane.a.port) <= 2


def test_unmatched_method_is_unimplemented(plane):
    # Without the data plane's catch-all HTTPRoute for "/", a method no route
    # matches gets the gateway's 404, which a gRPC client must see as UNIMPLEMENTED.
    sl = plane.dp.sluiced
    assert sl.delete(ROUTES + "/r").status_code == 200

    def code():
        try:
            plane.channel.unary_unary("/other.Service/Call")(b"", timeout=5)
            return None
        except grpc.RpcError as e:
            return e.code()
    wait_until(lambda: code() == grpc.StatusCode.UNIMPLEMENTED, what="UNIMPLEMENTED for an unrouted method")
    # The GRPCRoute still serves its methods.
    assert plane.call("Say", b"still")[0] == b"A:still"


def test_backend_down_is_unavailable(make_dataplane):
    dp = make_dataplane()
    sl = dp.sluiced
    created(sl.post(BACKENDS, backend("gdead", [free_port()])))
    created(sl.post(GRPCROUTES, grpcroute("dead", [
        {"matches": [{"method": {"service": "dead.Service"}}], "backendRefs": [ref("gdead")]}])))
    ch = grpc.insecure_channel("127.0.0.1:%d" % dp.port)
    try:
        def code():
            try:
                ch.unary_unary("/dead.Service/Call")(b"", timeout=5)
                return None
            except grpc.RpcError as e:
                return e.code()
        wait_until(lambda: code() == grpc.StatusCode.UNAVAILABLE, timeout=15,
                   what="UNAVAILABLE from a dead gRPC backend")
    finally:
        ch.close()


def test_weighted_backends(make_dataplane):
    dp = make_dataplane()
    a, b = GrpcServer("A"), GrpcServer("B")
    try:
        sl = dp.sluiced
        created(sl.post(BACKENDS, backend("wa", [a.port])))
        created(sl.post(BACKENDS, backend("wb", [b.port])))
        created(sl.post(GRPCROUTES, grpcroute("w", [
            {"matches": [{"method": {"service": SERVICE}}], "backendRefs": [ref("wa", 3), ref("wb", 1)]}])))
        ch = grpc.insecure_channel("127.0.0.1:%d" % dp.port)
        say = ch.unary_unary("/%s/Say" % SERVICE)

        def ready():
            try:
                return say(b"", timeout=2)
            except grpc.RpcError:
                return None
        wait_until(ready, timeout=15, what="gRPC route w")
        a.calls = b.calls = 0
        for _ in range(400):
            say(b"", timeout=10)
        ch.close()
        # 3:1 -> expect 300 / 100; allow a wide band for randomness.
        assert 240 <= a.calls <= 360 and a.calls + b.calls == 400, (a.calls, b.calls)
    finally:
        a.stop()
        b.stop()


def test_grpcroute_status_and_listener_kinds(plane):
    sl = plane.dp.sluiced

    def accepted():
        r = sl.get(GRPCROUTES + "/echo").json()
        parents = r.get("status", {}).get("parents", [])
        if not parents:
            return None
        conds = {c["type"]: c for c in parents[0]["conditions"]}
        return conds.get("Accepted", {}).get("status") == "True" and conds
    conds = wait_until(accepted, what="GRPCRoute accepted")
    assert conds["ResolvedRefs"]["status"] == "True"
    assert conds["Accepted"]["observedGeneration"] == 1
    gw = wait_until(lambda: sl.get(GWPATH + "/gw").json().get("status") and sl.get(GWPATH + "/gw").json(),
                    what="Gateway status")
    kinds = [k["kind"] for k in gw["status"]["listeners"][0]["supportedKinds"]]
    assert kinds == ["HTTPRoute", "GRPCRoute"]
    assert gw["status"]["listeners"][0]["attachedRoutes"] == 2  # the HTTPRoute and the GRPCRoute


def test_grpcroute_with_missing_backend_reports_it(plane):
    sl = plane.dp.sluiced
    created(sl.post(GRPCROUTES, grpcroute("broken", [
        {"matches": [{"method": {"service": "broken.Service"}}], "backendRefs": [ref("nope")]}])))

    def resolved():
        r = sl.get(GRPCROUTES + "/broken").json()
        parents = r.get("status", {}).get("parents", [])
        return parents and {c["type"]: c for c in parents[0]["conditions"]}
    conds = wait_until(resolved, what="GRPCRoute status")
    assert conds["ResolvedRefs"]["status"] == "False"
    assert conds["ResolvedRefs"]["reason"] == "BackendNotFound"
    with pytest.raises(grpc.RpcError) as e:
        plane.channel.unary_unary("/broken.Service/X")(b"", timeout=10)
    # The share that cannot be resolved answers 500: gRPC's mapping makes it UNKNOWN.
    assert e.value.code() == grpc.StatusCode.UNKNOWN

"""A gRPC server that speaks the gRPC health checking protocol
(grpc.health.v1.Health/Check) with the real grpcio library, for the active
gRPC health checks. Debian's python3-grpcio has no grpc_health module, so the
two messages are encoded by hand: HealthCheckRequest {string service = 1} and
HealthCheckResponse {ServingStatus status = 1} (SERVING = 1, NOT_SERVING = 2)."""

import threading
from concurrent import futures

import grpc

from conftest import free_port


def _service_of(request):
    # field 1, wire type 2: 0x0a, length, bytes
    if len(request) >= 2 and request[0] == 0x0A:
        return request[2:2 + request[1]].decode()
    return ""


class HealthServer:
    def __init__(self):
        self.port = free_port()
        self.lock = threading.Lock()
        self.serving = {"": True}
        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": grpc.unary_unary_rpc_method_handler(self._check)})
        self.server.add_generic_rpc_handlers((handler,))
        self.server.add_insecure_port("127.0.0.1:%d" % self.port)
        self.server.start()

    def set(self, service, serving):
        with self.lock:
            self.serving[service] = serving

    def _check(self, request, context):
        service = _service_of(request)
        with self.lock:
            known = service in self.serving
            ok = self.serving.get(service, False)
        if not known:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return bytes([0x08, 1 if ok else 2])

    def stop(self):
        self.server.stop(0)


def start():
    s = HealthServer()
    s.set("echo", True)
    return s

"""Echo backend for the Gateway API conformance harness.

A local stand-in for the upstream echo server image: every replica of a
Deployment is one threaded HTTP/1.1 server on its own loopback address and port,
plus (when given an h2c port) an HTTP/2 cleartext server on a second port, see
H2EchoServer. It answers with a JSON body describing the request it received:

    {"path": request URI (query included), "host": Host header, "method",
     "proto": "HTTP/1.1" (or "HTTP/2.0"), "headers": {Canonical-Name: [values...]},
     "namespace": ..., "pod": ...}

Behaviour driven by the request (as the upstream echo server does):
  X-Echo-Set-Header: Name:value,Name2:value2   sets those response headers
  ?delay=1s / 500ms                             waits before answering
  /status/NNN                                   answers with status NNN
  ?uuid=U&responseCode=C&succeedAfter=N         retry simulation: the first N
                                                requests with uuid U answer C
  GET /ws with Upgrade: websocket               echoes websocket frames

Every received request is recorded (for mirror checks): see EchoReplica.seen().
The h2c server only echoes (none of the behaviours above).

A replica of a Deployment that serves TLS (upstream: TLS_SERVER_CERT and
TLS_SERVER_PRIVKEY, optionally TLS_CLIENT_CACERTS) is a TLSEchoReplica: the
same HTTP/1.1 echo on its TLS port with the Secret's certificate, whose body
also carries "tls": {"version", "serverName" (the SNI the client sent),
"negotiatedProtocol", "cipherSuite", "peerCertificates" (PEM)}, as upstream's
echo-basic reports it. With client CA certificates, a client certificate is
asked for and checked when given (Go's VerifyClientCertIfGiven).

Runs on Debian's /usr/bin/python3 (the h2c server needs python3-h2).
"""

import base64
import hashlib
import json
import re
import socket
import os
import socketserver
import ssl
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import h2.config
import h2.connection
import h2.events
import h2.exceptions

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def canonical(name):
    """Go's http.CanonicalHeaderKey."""
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


def parse_duration(s):
    """A Go time.ParseDuration subset: 1s, 500ms, 1.5s, 2m."""
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ms|us|ns|s|m|h)", s):
        total += float(num) * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total


class _Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "conformance-echo"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet
        pass

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                self.rfile.read(size + 2)
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)

    def _send(self, code, body=b"", extra=()):
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _handle(self):
        rep = self.server.replica
        self._read_body()
        headers = {}
        for k, v in self.headers.items():
            if k.lower() == "host":
                continue
            headers.setdefault(canonical(k), []).append(v)
        rep.record({"path": self.path, "method": self.command, "headers": headers,
                    "host": self.headers.get("Host", "")})
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket()
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        m = re.match(r"^/status/(\d\d\d)$", self.path)
        if m:
            return self._send(int(m.group(1)))
        if "delay" in q:
            time.sleep(parse_duration(q["delay"][0]))
        if "uuid" in q and "succeedAfter" in q:
            code = int(q.get("responseCode", ["500"])[0])
            if rep.attempt(q["uuid"][0]) <= int(q["succeedAfter"][0]):
                return self._send(code, b'{"message":"simulated failure"}',
                                  [("Content-Type", "application/json")])
        echo = {
            "path": self.path, "host": self.headers.get("Host", ""), "method": self.command,
            "proto": self.request_version, "headers": headers,
            "namespace": rep.namespace, "ingress": "", "service": "", "pod": rep.pod,
        }
        if isinstance(self.connection, ssl.SSLSocket):
            echo["tls"] = tls_assertions(self.connection)
        body = json.dumps(echo, indent=1).encode()
        extra = []
        for spec in self.headers.get_all("X-Echo-Set-Header") or []:
            for kv in spec.split(","):
                kv = kv.strip()
                if not kv:
                    continue
                name, _, value = kv.partition(":")
                extra.append((name, value.strip()))
        extra += [("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff")]
        self._send(200, body, extra)

    def _websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        try:
            while True:
                op, payload = ws_read_frame(self.rfile)
                if op is None or op == 8:
                    self.wfile.write(ws_frame(8, b"", mask=False))
                    break
                self.wfile.write(ws_frame(op, payload, mask=False))
                self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = _handle


def ws_frame(op, payload, mask=True):
    head = bytes([0x80 | op])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mbit | 127]) + n.to_bytes(8, "big")
    if mask:
        key = b"\x01\x02\x03\x04"
        return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


def ws_read_frame(f):
    h = f.read(2)
    if len(h) < 2:
        return None, b""
    op = h[0] & 0x0F
    n = h[1] & 0x7F
    if n == 126:
        n = int.from_bytes(f.read(2), "big")
    elif n == 127:
        n = int.from_bytes(f.read(8), "big")
    key = f.read(4) if h[1] & 0x80 else None
    data = f.read(n)
    if key:
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return op, data


class H2EchoServer(socketserver.ThreadingTCPServer):
    """The echo over HTTP/2 cleartext with prior knowledge (no Upgrade, no TLS).

    Why it exists: the upstream echo image also listens for h2c on targetPort
    3001, which infra-backend-v1's Service exposes as port 8081 with appProtocol
    kubernetes.io/h2c; httproute-backend-protocol-h2c checks that the gateway
    speaks HTTP/2 to such a backend, and the echo's "proto" says it did.

    One h2 server connection per TCP connection (one thread each); every stream
    is answered when its request ends with the same JSON as the HTTP/1 echo
    (host from :authority). Request bodies are read, acknowledged (so that
    uploads do not stall on flow control) and dropped.
    """
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, replica, ip, port):
        self.replica = replica
        super().__init__((ip, port), _H2Handler)


class _H2Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.requests = {}  # stream id -> request headers, until the request ends
        self.pending = {}   # stream id -> response body bytes not sent yet (flow control)
        try:
            self.request.sendall(self.conn.data_to_send())
            while self._serve_once():
                pass
        except OSError:
            pass

    def _serve_once(self):
        """Reads once, handles the events, writes; False when the connection is done."""
        data = self.request.recv(65536)
        if not data:
            return False
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.request.sendall(self.conn.data_to_send())  # the GOAWAY
            return False
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                self.requests[ev.stream_id] = ev.headers
            elif isinstance(ev, h2.events.DataReceived):
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self._answer(ev.stream_id, self.requests.pop(ev.stream_id, []))
            elif isinstance(ev, h2.events.StreamReset):
                self.requests.pop(ev.stream_id, None)
                self.pending.pop(ev.stream_id, None)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                return False
        self._send_pending()
        self.request.sendall(self.conn.data_to_send())
        return True

    def _answer(self, sid, hs):
        rep = self.server.replica
        pseudo = {k: v for k, v in hs if k.startswith(":")}
        headers = {}
        for k, v in hs:
            if not k.startswith(":") and k != "host":
                headers.setdefault(canonical(k), []).append(v)
        host = pseudo.get(":authority") or dict(hs).get("host", "")
        method, path = pseudo.get(":method", ""), pseudo.get(":path", "")
        rep.record({"path": path, "method": method, "headers": headers, "host": host})
        body = json.dumps({
            "path": path, "host": host, "method": method, "proto": "HTTP/2.0", "headers": headers,
            "namespace": rep.namespace, "ingress": "", "service": "", "pod": rep.pod,
        }, indent=1).encode()
        self.conn.send_headers(sid, [(":status", "200"), ("content-type", "application/json"),
                                     ("content-length", str(len(body))),
                                     ("x-content-type-options", "nosniff")],
                               end_stream=method == "HEAD")
        if method != "HEAD":
            self.pending[sid] = body

    def _send_pending(self):
        """Sends what the flow-control windows allow; the rest waits for WINDOW_UPDATE."""
        for sid, body in list(self.pending.items()):
            while body:
                n = min(len(body), self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
                if n <= 0:
                    break
                self.conn.send_data(sid, body[:n], end_stream=n == len(body))
                body = body[n:]
            if body:
                self.pending[sid] = body
            else:
                del self.pending[sid]


def tls_assertions(conn):
    """upstream echo-basic's TLSAssertions for a TLS connection."""
    out = {"version": {"TLSv1.3": "TLSv1.3", "TLSv1.2": "TLSv1.2"}.get(conn.version(), conn.version() or ""),
           "serverName": getattr(conn, "sl_server_name", "") or "",
           "cipherSuite": (conn.cipher() or ("",))[0]}
    if conn.selected_alpn_protocol():
        out["negotiatedProtocol"] = conn.selected_alpn_protocol()
    peer = conn.getpeercert(binary_form=True)
    if peer:
        # Python gives the leaf only; a client that sends a chain shows its leaf.
        out["peerCertificates"] = [ssl.DER_cert_to_PEM_cert(peer)]
    return out


class _TLSServer(_Server):
    """The HTTP/1.1 echo behind TLS; the handshake runs in the connection's thread."""

    def __init__(self, addr, ctx):
        self.ctx = ctx
        super().__init__(addr, _Handler)

    def finish_request(self, request, client_address):
        try:
            request.settimeout(10)
            conn = self.ctx.wrap_socket(request, server_side=True)
            conn.settimeout(None)
        except (ssl.SSLError, OSError):
            return  # a failed handshake is the client's business (its error says why)
        try:
            super().finish_request(conn, client_address)
        finally:
            try:
                conn.close()
            except OSError:
                pass


def server_context(cert_pem, key_pem, client_ca_pem=None):
    """An ssl.SSLContext serving cert/key (PEM bytes); with client_ca_pem a client
    certificate is asked for and verified when given. Records each
    connection's SNI as sl_server_name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="btls-echo-") as d:
        cf, kf = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        with open(cf, "wb") as f:
            f.write(cert_pem)
        with open(kf, "wb") as f:
            f.write(key_pem)
        ctx.load_cert_chain(cf, kf)
    if client_ca_pem:
        ctx.load_verify_locations(cadata=client_ca_pem.decode())
        ctx.verify_mode = ssl.CERT_OPTIONAL

    def sni(conn, name, _ctx):
        conn.sl_server_name = name
    ctx.sni_callback = sni
    return ctx


class _Recorder:
    """What the handlers ask of a replica: record requests, count retry attempts."""

    def _init_recorder(self):
        self._lock = threading.Lock()
        self._seen = []
        self._attempts = {}

    def record(self, req):
        with self._lock:
            self._seen.append(req)
            if len(self._seen) > 5000:
                del self._seen[:1000]

    def seen(self):
        with self._lock:
            return list(self._seen)

    def clear(self):
        with self._lock:
            self._seen.clear()

    def attempt(self, uuid):
        with self._lock:
            self._attempts[uuid] = self._attempts.get(uuid, 0) + 1
            return self._attempts[uuid]


class TLSEchoReplica(_Recorder):
    """One replica of a Deployment that serves TLS (upstream: echo-basic with
    TLS_SERVER_CERT): the HTTP/1.1 echo over TLS on (ip, port); ctx from
    server_context()."""

    def __init__(self, namespace, pod, ip, port, ctx):
        self.namespace, self.pod, self.ip, self.port = namespace, pod, ip, port
        self.h2c_port = None
        self._init_recorder()
        self.server = _TLSServer((ip, port), ctx)
        self.server.replica = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="echo-tls-%s" % pod, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class EchoReplica(_Recorder):
    """One replica ("pod") of an echo Deployment, serving HTTP/1.1 on (ip, port)
    and, when h2c_port is given, h2c prior knowledge on (ip, h2c_port)."""

    def __init__(self, namespace, pod, ip, port, h2c_port=None):
        self.namespace, self.pod, self.ip, self.port, self.h2c_port = namespace, pod, ip, port, h2c_port
        self._init_recorder()
        self.server = _Server((ip, port), _Handler)
        self.server.replica = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="echo-%s" % pod, daemon=True)
        self.h2c_server = self.h2c_thread = None
        if h2c_port is not None:
            self.h2c_server = H2EchoServer(self, ip, h2c_port)
            self.h2c_thread = threading.Thread(target=self.h2c_server.serve_forever, kwargs={"poll_interval": 0.2},
                                               name="echo-h2c-%s" % pod, daemon=True)

    def start(self):
        self.thread.start()
        if self.h2c_thread:
            self.h2c_thread.start()
        return self

    def stop(self):
        for srv in (self.server, self.h2c_server):
            if srv:
                srv.shutdown()
                srv.server_close()


class _TCPEchoHandler(socketserver.BaseRequestHandler):
    """upstream echo-basic's tcpserver: a welcome line, then one answer per
    line: PING -> PONG, IS_TLS -> true/false, TEST -> the TCPAssertions JSON
    (the pod context, isTLS and, over TLS, what the handshake negotiated)."""

    def handle(self):
        srv, conn = self.server, self.request
        conn.settimeout(10)
        if srv.ctx:
            try:
                conn = srv.ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                return
        r = srv.replica
        payload = {"namespace": r.namespace, "ingress": "", "service": r.service, "pod": r.pod,
                   "tcpport": str(r.port), "tlsport": str(r.tls_port or 8443), "isTLS": bool(srv.ctx)}
        if srv.ctx:
            a = tls_assertions(conn)
            a.pop("peerCertificates", None)
            payload["tls"] = a
        r.record({"pod": r.pod, "tls": bool(srv.ctx)})
        try:
            conn.sendall(b"Gateway API Test TCP Server\n")
            f = conn.makefile("rb")
            for line in f:
                cmd = line.rstrip(b"\r\n")
                if cmd == b"TEST":
                    conn.sendall(json.dumps(payload).encode() + b"\n")
                elif cmd == b"IS_TLS":
                    conn.sendall(b"true\n" if srv.ctx else b"false\n")
                elif cmd == b"PING":
                    conn.sendall(b"PONG\n")
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


class _TCPEchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, replica, ip, port, ctx):
        self.replica, self.ctx = replica, ctx
        super().__init__((ip, port), _TCPEchoHandler)


class TCPEchoReplica(_Recorder):
    """One replica of a Deployment with TCP_ECHO_SERVER (upstream: echo-basic's
    tcpserver): the line protocol in plain TCP on (ip, port) and, with ctx (its
    TLS_SERVER_CERT Secret), over TLS on (ip, tls_port)."""

    def __init__(self, namespace, pod, service, ip, port, tls_port=None, ctx=None):
        self.namespace, self.pod, self.service, self.ip = namespace, pod, service, ip
        self.port, self.tls_port, self.h2c_port = port, tls_port if ctx else None, None
        self._init_recorder()
        self.servers = [_TCPEchoServer(self, ip, port, None)]
        if ctx:
            self.servers.append(_TCPEchoServer(self, ip, tls_port, ctx))
        self.threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                                         name="echo-tcp-%s" % pod, daemon=True) for s in self.servers]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()


def can_bind(ip, port):
    s = socket.socket()
    try:
        s.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


if __name__ == "__main__":  # manual use: /usr/bin/python3 echo.py NS POD IP PORT [H2C_PORT]
    import sys
    h2c = int(sys.argv[5]) if len(sys.argv) > 5 else None
    r = EchoReplica(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), h2c).start()
    print("echo %s/%s on %s:%d" % (r.namespace, r.pod, r.ip, r.port) + (" (h2c on %d)" % h2c if h2c else ""))
    r.thread.join()

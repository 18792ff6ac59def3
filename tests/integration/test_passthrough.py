"""TLSRoute (TLS passthrough by SNI) and TCPRoute on Gateway listeners of
protocol TLS (tls.mode Passthrough) and TCP: the gateway holds no certificate
and reads nothing but the ClientHello's server name; real TLS servers (Python's
ssl, certificates from the openssl CLI) terminate TLS behind it, and plain TCP
servers (one speaks first) sit behind TCP listeners."""

import collections
import fcntl
import hashlib
import shutil
import socket
import ssl
import struct
import termios
import threading
import time

import pytest

from conftest import free_port, path_for
from dataplane import BACKENDS, GWPATH, SLUICE_GROUP, ClosedPortOrigin, backend, created, replace, wait_until  # noqa: F401
from test_tls import PKI, pki  # noqa: F401

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="skipped, because the openssl CLI is not installed")

GW_GROUP = "gateway.networking.k8s.io"
TLSROUTES = path_for("tlsroutes", "default")
TCPROUTES = path_for("tcproutes", "default", version="v1alpha2")


class Server:
    """A listening socket on 127.0.0.1 whose connections are served by
    self._serve(sock), one thread each."""

    def __init__(self, backlog=64):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def stop(self):
        self.sock.close()


class TLSServer(Server):
    """Terminates TLS with its own certificate and answers each line with its name."""

    def __init__(self, name, leaf):
        self.name = name
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(leaf.cert_path, leaf.key_path)
        self.handshakes = 0
        super().__init__()

    def _serve(self, raw):
        try:
            raw.settimeout(10)
            s = self.ctx.wrap_socket(raw, server_side=True)
            self.handshakes += 1
            data = s.recv(4096)
            s.sendall(b"%s:%s" % (self.name.encode(), data))
            s.close()
        except (OSError, ssl.SSLError):
            raw.close()


class TCPServer(Server):
    """A plain TCP server that greets first ("<name>\\n"), then echoes."""

    def __init__(self, name):
        self.name = name
        self.greeted = 0
        super().__init__()

    def _serve(self, s):
        try:
            s.settimeout(10)
            self.greeted += 1
            s.sendall(self.name.encode() + b"\n")
            while True:
                data = s.recv(65536)
                if not data:
                    break
                s.sendall(data)
        except OSError:
            pass
        s.close()


def gateway(port, protocol, hostname=None, mode="Passthrough"):
    listener = {"name": "l4", "port": port, "protocol": protocol}
    if protocol == "TLS":
        listener["tls"] = {"mode": mode}
    if hostname:
        listener["hostname"] = hostname
    return {"apiVersion": GW_GROUP + "/v1", "kind": "Gateway",
            "metadata": {"name": "gw4", "namespace": "default", "annotations": {"sluice.dev/workers": "2"}},
            "spec": {"gatewayClassName": "sluice", "listeners": [listener]}}


def ref(name, weight=None):
    r = {"group": SLUICE_GROUP, "kind": "Backend", "name": name}
    if weight is not None:
        r["weight"] = weight
    return r


def tls_route(name, hostnames, backend_name):
    return {"apiVersion": GW_GROUP + "/v1", "kind": "TLSRoute", "metadata": {"name": name, "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw4"}], "hostnames": hostnames,
                     "rules": [{"backendRefs": [ref(backend_name)]}]}}


def tcp_route(name, refs):
    return {"apiVersion": GW_GROUP + "/v1alpha2", "kind": "TCPRoute", "metadata": {"name": name, "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw4"}], "rules": [{"backendRefs": refs}]}}


def tls_ask(pki, port, sni, payload=b"hello"):
    ctx = ssl.create_default_context(cafile=pki.ca)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            s.sendall(payload)
            return s.recv(4096)


def route_parents(sl, path, name):
    return sl.get(path + "/" + name).json().get("status", {}).get("parents", [])


def accepted(parent):
    return {c["type"]: c for c in parent["conditions"]}["Accepted"]


def test_tls_passthrough_reaches_the_backend_by_sni(sluiced, pki):
    sl = sluiced
    a, b = TLSServer("A", pki.leaf("a.example.com")), TLSServer("B", pki.leaf("b.example.com"))
    try:
        port = free_port()
        created(sl.post(BACKENDS, backend("tls-a", [a.port])))
        created(sl.post(BACKENDS, backend("tls-b", [b.port])))
        created(sl.post(TLSROUTES, tls_route("ra", ["a.example.com"], "tls-a")))
        created(sl.post(TLSROUTES, tls_route("rb", ["b.example.com"], "tls-b")))
        created(sl.post(GWPATH, gateway(port, "TLS", hostname="*.example.com")))
        wait_until(lambda: tls_ask(pki, port, "a.example.com") == b"A:hello", timeout=15, what="TLS passthrough")
        # Each name reaches its own backend, whose certificate the client checks:
        # the gateway terminates nothing.
        for _ in range(5):
            assert tls_ask(pki, port, "a.example.com", b"x") == b"A:x"
            assert tls_ask(pki, port, "b.example.com", b"y") == b"B:y"
        # No route for the name: the connection closes, no handshake completes.
        before = a.handshakes + b.handshakes
        with pytest.raises((ssl.SSLError, OSError)):
            tls_ask(pki, port, "c.example.com")
        assert a.handshakes + b.handshakes == before
        # Not TLS at all: closed.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
            s.settimeout(5)
            assert s.recv(100) == b""
        # Status: the listener serves TLSRoute, two routes attached, each route Accepted.
        wait_until(lambda: sl.get(GWPATH + "/gw4").json().get("status", {}).get("listeners"), timeout=10,
                   what="the listener's status")
        wait_until(lambda: route_parents(sl, TLSROUTES, "ra"), timeout=10, what="ra status")
        ls = sl.get(GWPATH + "/gw4").json()["status"]["listeners"][0]
        assert ls["supportedKinds"] == [{"group": GW_GROUP, "kind": "TLSRoute"}], ls
        assert ls["attachedRoutes"] == 2
        assert accepted(route_parents(sl, TLSROUTES, "ra")[0])["status"] == "True"
        # A route whose hostname the listener does not cover does not attach.
        created(sl.post(TLSROUTES, tls_route("rz", ["z.other.org"], "tls-a")))
        wait_until(lambda: route_parents(sl, TLSROUTES, "rz"), timeout=10, what="rz status")
        assert accepted(route_parents(sl, TLSROUTES, "rz")[0])["reason"] == "NoMatchingListenerHostname"
    finally:
        a.stop()
        b.stop()


def test_tcp_route_passes_bytes_both_ways_and_splits_by_weight(sluiced):
    sl = sluiced
    one, two = TCPServer("one"), TCPServer("two")
    dead = ClosedPortOrigin()
    try:
        port = free_port()
        created(sl.post(BACKENDS, backend("t1", [one.port, dead.port])))
        created(sl.post(BACKENDS, backend("t2", [two.port])))
        created(sl.post(TCPROUTES, tcp_route("tcp", [ref("t1", 3), ref("t2", 1)])))
        created(sl.post(GWPATH, gateway(port, "TCP")))

        def greet():
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.settimeout(5)
                with s.makefile("rb") as f:
                    name = f.readline().strip().decode()  # the server speaks first
                    s.sendall(b"ping\n")
                    assert f.readline() == b"ping\n"
                    return name
        wait_until(lambda: greet() in ("one", "two"), timeout=15, what="the TCP route")
        counts = collections.Counter(greet() for _ in range(200))
        # 3:1 by weight; the dead endpoint of t1 costs no connection (the next one is tried).
        assert sum(counts.values()) == 200
        assert 120 <= counts["one"] <= 180, counts
        # A large transfer goes through whole.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with s.makefile("rb") as f:  # (closed too: the connection ends here)
                f.readline()
                blob = bytes(range(256)) * 4096
                threading.Thread(target=s.sendall, args=(blob,), daemon=True).start()
                got = f.read(len(blob))
                assert got == blob
        wait_until(lambda: sl.get(GWPATH + "/gw4").json().get("status", {}).get("listeners"), timeout=10,
                   what="the listener's status")
        gw = sl.get(GWPATH + "/gw4").json()
        assert gw["status"]["listeners"][0]["supportedKinds"] == [{"group": GW_GROUP, "kind": "TCPRoute"}]
    finally:
        one.stop()
        two.stop()


def test_validation_and_unserved_listeners(sluiced):
    sl = sluiced
    r = sl.post(TCPROUTES, {"apiVersion": GW_GROUP + "/v1alpha2", "kind": "TCPRoute",
                            "metadata": {"name": "bad", "namespace": "default"},
                            "spec": {"parentRefs": [{"name": "gw4"}], "hostnames": ["a.example.com"],
                                     "rules": [{"backendRefs": [], "matches": [{}]}]}})
    assert r.status_code == 422, r.text
    fields = {c["field"] for c in r.json()["details"]["causes"]}
    assert {"spec.hostnames", "spec.rules[0].backendRefs", "spec.rules[0].matches"} <= fields, fields
    # A TLS listener that would terminate is not served (sluice passes TLS through).
    gw = gateway(free_port(), "TLS", mode="Terminate")
    gw["spec"]["listeners"][0]["tls"]["certificateRefs"] = [{"name": "none"}]
    created(sl.post(GWPATH, gw))

    def listener_accepted():
        st = sl.get(GWPATH + "/gw4").json().get("status", {}).get("listeners", [])
        return st and {c["type"]: c for c in st[0]["conditions"]}.get("Accepted")
    wait_until(listener_accepted, timeout=10, what="listener status")
    cond = listener_accepted()
    assert cond["status"] == "False" and cond["reason"] == "UnsupportedValue", cond
    assert "Passthrough" in cond["message"]


class CollectingServer(Server):
    """Reads until the client's end-of-stream, then answers with what it got and closes."""

    def _serve(self, s):
        got = b""
        try:
            s.settimeout(10)
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
            s.sendall(b"got %d bytes" % len(got))
        except OSError:
            pass
        s.close()


def test_tcp_half_close_and_a_silent_endpoint(sluiced):
    sl = sluiced
    collector, greeter = CollectingServer(), TCPServer("greeter")
    # An endpoint whose accept queue is full: SYNs are dropped, connecting hangs.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    fillers = [socket.socket() for _ in range(3)]
    for f in fillers:
        f.setblocking(False)
        try:
            f.connect(("127.0.0.1", silent.getsockname()[1]))
        except BlockingIOError:
            pass
    try:
        port, port2 = free_port(), free_port()
        created(sl.post(BACKENDS, backend("collect", [collector.port])))
        created(sl.post(BACKENDS, backend("greet", [silent.getsockname()[1], greeter.port])))
        # (Before the Gateway: its workers' first snapshot has it.)
        created(sl.post(path_for("backendpolicies", "default", group=SLUICE_GROUP, version="v1alpha1"), {
            "apiVersion": SLUICE_GROUP + "/v1alpha1", "kind": "BackendPolicy",
            "metadata": {"name": "fast-connect", "namespace": "default"},
            "spec": {"targetRefs": [{"group": SLUICE_GROUP, "kind": "Backend", "name": "greet"}],
                     "connectTimeout": "300ms"}}))
        created(sl.post(TCPROUTES, tcp_route("tcp", [ref("collect")])))
        gw = gateway(port, "TCP")
        gw["spec"]["listeners"].append({"name": "two", "port": port2, "protocol": "TCP"})
        created(sl.post(GWPATH, gw))
        created(sl.post(TCPROUTES, {"apiVersion": GW_GROUP + "/v1alpha2", "kind": "TCPRoute",
                                    "metadata": {"name": "greet", "namespace": "default"},
                                    "spec": {"parentRefs": [{"name": "gw4", "sectionName": "two"}],
                                             "rules": [{"backendRefs": [ref("greet")]}]}}))
        created(replace(sl, TCPROUTES + "/tcp", lambda r: r["spec"]["parentRefs"][0].update(sectionName="l4")))

        def ask():
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"x" * 1000)
                s.shutdown(socket.SHUT_WR)  # the client is done; its answer still comes
                s.settimeout(5)
                return s.recv(100)
        wait_until(lambda: ask() == b"got 1000 bytes", timeout=15, what="a half-closed client answered")
        # A connection meant for the silent endpoint goes to the other one after the connect timeout.
        for _ in range(4):
            t = time.monotonic()
            with socket.create_connection(("127.0.0.1", port2), timeout=10) as s:
                s.settimeout(10)
                with s.makefile("rb") as f:
                    assert f.readline() == b"greeter\n"
            assert time.monotonic() - t < 3
    finally:
        collector.stop()
        greeter.stop()
        silent.close()
        for f in fillers:
            f.close()


class EchoServer(Server):
    """Sends back every byte it gets, until the client's end-of-stream."""

    def _serve(self, s):
        try:
            s.settimeout(20)
            while True:
                d = s.recv(262144)
                if not d:
                    break
                s.sendall(d)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        s.close()


def spliced_and_sent(sl):
    out = {"sluice_spliced_bytes_total": 0, "sluice_sent_bytes_total": 0}
    for line in sl.get("/metrics").text.splitlines():
        name = line.split("{", 1)[0]
        if name in out and 'gateway="default/gw4"' in line:
            out[name] += int(line.rsplit(" ", 1)[1])
    return out["sluice_spliced_bytes_total"], out["sluice_sent_bytes_total"]


@pytest.mark.parametrize("splice", [True, False], ids=["spliced", "copied"])
def test_tcp_bytes_move_by_splice_both_ways(make_sluiced, splice):
    """A passed-through connection's bytes move by splice(2) once it is connected
    (--splice-min-bytes 0 turns that off: copied through the worker): 16 MiB
    each way arrive intact, in order, with the half-close passed on."""
    sl = make_sluiced(extra_args=[] if splice else ["--splice-min-bytes", "0"]).start()
    echo = EchoServer()
    try:
        port = free_port()
        created(sl.post(BACKENDS, backend("echo", [echo.port])))
        created(sl.post(TCPROUTES, tcp_route("tcp", [ref("echo")])))
        created(sl.post(GWPATH, gateway(port, "TCP")))

        def ping():
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"ping")
                s.shutdown(socket.SHUT_WR)
                s.settimeout(5)
                return s.recv(10)
        wait_until(lambda: ping() == b"ping", timeout=15, what="the TCP route")
        spliced0, sent0 = spliced_and_sent(sl)
        size = 16 << 20
        blob = hashlib.sha256(b"seed").digest() * (size // 32)
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            def send_all():
                s.sendall(blob)
                s.shutdown(socket.SHUT_WR)  # the client is done: the echo then ends its side
            threading.Thread(target=send_all, daemon=True).start()
            got = bytearray()
            s.settimeout(20)
            while True:
                d = s.recv(1 << 20)
                if not d:
                    break  # the upstream's end-of-stream came through
                got += d
        assert len(got) == size and hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()
        spliced = wait_until(lambda: spliced_and_sent(sl)[1] - sent0 >= size and spliced_and_sent(sl), timeout=5,
                             what="the sent bytes counted")
        if splice:
            assert spliced[0] - spliced0 == size, (spliced, spliced0)  # every byte to the client, none copied
        else:
            assert spliced[0] == spliced0 == 0
    finally:
        echo.stop()


TRAFFICPOLICIES = path_for("trafficpolicies", "default", group=SLUICE_GROUP, version="v1alpha1")


def traffic_policy(name, target_kind, target_name, **sections):
    spec = {"targetRefs": [{"group": GW_GROUP, "kind": target_kind, "name": target_name}]}
    spec.update(sections)
    return {"apiVersion": SLUICE_GROUP + "/v1alpha1", "kind": "TrafficPolicy",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def greeting_from(port, source):
    """The first line the server behind a TCP listener sends to a client on the
    loopback address source; b"" when the gateway closes the connection."""
    s = socket.socket()
    try:
        s.settimeout(5)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        with s.makefile("rb") as f:
            return f.readline()
    except ConnectionResetError:
        return b""
    finally:
        s.close()


def attached_condition(sl, name):
    anc = sl.get(TRAFFICPOLICIES + "/" + name).json().get("status", {}).get("ancestors", [])
    return anc and {c["type"]: c for c in anc[0]["conditions"]}.get("Attached")


def test_ip_access_applies_to_tcp_and_tls_connections_other_sections_do_not(sluiced, pki):
    """A TrafficPolicy's ipAccess refuses connections on TCP and TLS passthrough
    routes (closed before any upstream is reached, 403 in the access log); the
    sections that cannot act on a connection are named in its status."""
    sl = sluiced
    greeter = TCPServer("greeter")
    leaf = pki.leaf("abc.example.com")
    tls_server = TLSServer("tls-one", leaf)
    try:
        port, tls_port = free_port(), free_port()
        created(sl.post(BACKENDS, backend("greet", [greeter.port])))
        created(sl.post(BACKENDS, backend("tls1", [tls_server.port])))
        created(sl.post(TCPROUTES, tcp_route("tcp", [ref("greet")])))
        created(sl.post(GWPATH, gateway(port, "TCP")))
        wait_until(lambda: greeting_from(port, "127.0.0.2") == b"greeter\n", timeout=15, what="the TCP route")
        created(sl.post(TRAFFICPOLICIES, traffic_policy("deny2", "TCPRoute", "tcp",
                                                        ipAccess={"deny": ["127.0.0.2/32"]})))
        wait_until(lambda: greeting_from(port, "127.0.0.2") == b"", timeout=10, what="127.0.0.2 refused")
        handshakes = greeter.greeted
        for _ in range(10):
            assert greeting_from(port, "127.0.0.2") == b""
            assert greeting_from(port, "127.0.0.3") == b"greeter\n"
        assert greeter.greeted == handshakes + 10  # the refused ones never reached it
        cond = wait_until(lambda: (attached_condition(sl, "deny2") or {}).get("reason") == "Attached"
                          and attached_condition(sl, "deny2"), timeout=10, what="deny2 Attached")
        assert cond["status"] == "True", cond
        assert "refused by the ipAccess of TrafficPolicy default/deny2" in sl.log()
        # A section that cannot act on connections: not in effect, and status says why.
        created(sl.post(TRAFFICPOLICIES, traffic_policy("limits", "TCPRoute", "tcp",
                                                        rateLimit={"requests": 1, "unit": "Minute"})))
        cond = wait_until(lambda: (attached_condition(sl, "limits") or {}).get("reason") == "Unsupported"
                          and attached_condition(sl, "limits"), timeout=10, what="limits Unsupported")
        assert cond["status"] == "False" and "rateLimit does not apply to TLS passthrough and TCP connections" in \
            cond["message"], cond
        for _ in range(3):
            assert greeting_from(port, "127.0.0.3") == b"greeter\n"  # no limit applied
        # The same ipAccess on a Gateway with a TLS passthrough listener.
        created(sl.post(TLSROUTES, tls_route("tls", ["abc.example.com"], "tls1")))
        gw = gateway(tls_port, "TLS")
        gw["metadata"]["name"] = "gw-tls"
        created(sl.post(GWPATH, gw))
        created(replace(sl, TLSROUTES + "/tls", lambda r: r["spec"]["parentRefs"][0].update(name="gw-tls")))
        wait_until(lambda: tls_ask(pki, tls_port, "abc.example.com") == b"tls-one:hello", timeout=15,
                   what="the TLS route")
        created(sl.post(TRAFFICPOLICIES, traffic_policy("allow-none", "Gateway", "gw-tls",
                                                        ipAccess={"allow": ["10.0.0.0/8"]})))

        def refused():
            try:
                tls_ask(pki, tls_port, "abc.example.com")
                return False
            except (OSError, ssl.SSLError):
                return True
        wait_until(refused, timeout=10, what="TLS connections refused")
        before = tls_server.handshakes
        for _ in range(5):
            assert refused()
        assert tls_server.handshakes == before  # closed by the gateway: the backend never saw them
    finally:
        greeter.stop()
        tls_server.stop()


class TalkerServer(Server):
    """Sends `size` bytes, waits until the gateway has them all (acknowledged),
    and closes, reading nothing: the unread bytes make its kernel answer the
    gateway with a reset, so the gateway's writes fail from then on."""

    def __init__(self, size):
        self.size = size
        super().__init__()

    def _serve(self, s):
        try:
            s.sendall(b"z" * self.size)
            deadline = time.monotonic() + 10
            # (a close with bytes not yet acknowledged would drop them: not the gateway's doing)
            while struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\0" * 4))[0] and time.monotonic() < deadline:
                time.sleep(0.005)
        except OSError:
            pass
        s.close()


@pytest.mark.parametrize("splice", [True, False], ids=["spliced", "copied"])
def test_server_answer_survives_a_server_that_stops_reading(make_sluiced, splice):
    """An upstream that answers and closes while the client still sends: the
    client's direction ends (its bytes have nowhere to go), but every byte the
    upstream sent still reaches the client."""
    sl = make_sluiced(extra_args=[] if splice else ["--splice-min-bytes", "0"]).start()
    size = 4 << 20
    talker = TalkerServer(size)
    try:
        port = free_port()
        created(sl.post(BACKENDS, backend("talker", [talker.port])))
        created(sl.post(TCPROUTES, tcp_route("tcp", [ref("talker")])))
        created(sl.post(GWPATH, gateway(port, "TCP")))

        def reach():
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.settimeout(5)
                return len(s.recv(10)) > 0
        wait_until(reach, timeout=15, what="the TCP route")
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.settimeout(10)

                def send():  # the client sends on (more than the upstream's buffers hold) while it reads
                    for _ in range(256):
                        try:
                            s.sendall(b"c" * 65536)
                        except OSError:
                            return
                sender = threading.Thread(target=send, daemon=True)
                sender.start()
                got = 0
                while True:
                    try:
                        d = s.recv(1 << 20)
                    except ConnectionResetError:
                        break
                    if not d:
                        break
                    got += len(d)
                assert got == size, (got, size)
                s.shutdown(socket.SHUT_RDWR)  # (wakes the sender if it waits: the client is really done)
                sender.join(10)
    finally:
        talker.stop()


def test_a_section_that_cannot_act_on_connections_is_unsupported_for_every_policy(sluiced):
    """Two policies with rateLimit on a Gateway that has only a TCP listener:
    neither acts, and both say so (the one that would win and the one it
    would override)."""
    sl = sluiced
    greeter = TCPServer("greeter")
    try:
        port = free_port()
        created(sl.post(BACKENDS, backend("greet", [greeter.port])))
        created(sl.post(TCPROUTES, tcp_route("tcp", [ref("greet")])))
        created(sl.post(GWPATH, gateway(port, "TCP")))
        for name in ("older", "newer"):
            created(sl.post(TRAFFICPOLICIES, traffic_policy(name, "Gateway", "gw4",
                                                            rateLimit={"requests": 1, "unit": "Minute"})))
        for name in ("older", "newer"):
            cond = wait_until(lambda: (attached_condition(sl, name) or {}).get("reason") == "Unsupported"
                              and attached_condition(sl, name), timeout=10, what="%s Unsupported" % name)
            assert cond["status"] == "False" and "does not apply to TLS passthrough and TCP" in cond["message"], cond
    finally:
        greeter.stop()

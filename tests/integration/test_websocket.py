"""WebSocket (HTTP/1.1 Upgrade) through the proxy with Debian's python3-websockets:
the handshake reaches the backend, frames flow both ways, a configuration change
does not cut an open tunnel, and an idle tunnel is closed after
--tunnel-idle-timeout."""

import asyncio
import threading
import time

import websockets

from dataplane import (BACKENDS, ROUTES, backend, created, free_port, make_dataplane, route,  # noqa: F401
                       wait_until)


class EchoServer:
    """A websockets echo server on its own thread and event loop."""

    def __init__(self):
        self.port = free_port()
        self.paths = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(5)

    async def _echo(self, ws):
        self.paths.append(ws.request.path if hasattr(ws, "request") and ws.request else getattr(ws, "path", ""))
        async for message in ws:
            await ws.send("echo:" + message)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def main():
            self.stop_event = asyncio.Event()
            async with websockets.serve(self._echo, "127.0.0.1", self.port):
                self.ready.set()
                await self.stop_event.wait()

        self.loop.run_until_complete(main())

    def stop(self):
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(5)


def ws_dataplane(make_dataplane, args=()):
    dp = make_dataplane(args=args)
    server = EchoServer()
    created(dp.sluiced.post(BACKENDS, backend("ws", [server.port])))
    created(dp.sluiced.post(ROUTES, route("ws", "ws", path="/ws")))
    wait_until(lambda: "/ws" in str(dp.sluiced.get("/debug/snapshot").json()), what="ws route compiled")
    return dp, server


def test_websocket_echo_through_the_gateway(make_dataplane):
    dp, server = ws_dataplane(make_dataplane)

    async def talk():
        async with websockets.connect("ws://127.0.0.1:%d/ws/chat" % dp.port, open_timeout=5) as c:
            replies = []
            for m in ("hello", "x" * 100000, "bye"):
                await c.send(m)
                replies.append(await asyncio.wait_for(c.recv(), 5))
            return replies

    replies = asyncio.run(talk())
    server.stop()
    assert replies[0] == "echo:hello"
    assert replies[1] == "echo:" + "x" * 100000
    assert replies[2] == "echo:bye"


def test_config_change_does_not_cut_an_open_tunnel(make_dataplane):
    dp, server = ws_dataplane(make_dataplane)

    async def talk():
        async with websockets.connect("ws://127.0.0.1:%d/ws" % dp.port, open_timeout=5) as c:
            await c.send("before")
            first = await asyncio.wait_for(c.recv(), 5)
            gen = dp.generation()
            # An unrelated route change: a new snapshot while the tunnel is open.
            created(dp.sluiced.post(ROUTES, route("other", "be", path="/other")))
            deadline = time.monotonic() + 5
            while dp.generation() == gen and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert dp.generation() != gen
            await c.send("after")
            second = await asyncio.wait_for(c.recv(), 5)
            return first, second

    first, second = asyncio.run(talk())
    server.stop()
    assert (first, second) == ("echo:before", "echo:after")


def test_idle_tunnel_is_closed(make_dataplane):
    dp, server = ws_dataplane(make_dataplane, args=("--tunnel-idle-timeout", "1000"))

    async def talk():
        async with websockets.connect("ws://127.0.0.1:%d/ws" % dp.port, open_timeout=5, ping_interval=None) as c:
            await c.send("ping")
            assert await asyncio.wait_for(c.recv(), 5) == "echo:ping"
            t = time.monotonic()
            try:
                await asyncio.wait_for(c.recv(), 6)
            except websockets.ConnectionClosed:
                return time.monotonic() - t
            return None

    waited = asyncio.run(talk())
    server.stop()
    assert waited is not None, "the idle tunnel was not closed"
    assert 0.5 < waited < 5


def test_upgrade_refused_by_backend_is_a_plain_response(make_dataplane):
    """A backend that does not switch protocols answers normally; the client gets
    that answer, not a tunnel."""
    dp = make_dataplane()
    r = dp.get("/plain", headers={"Connection": "Upgrade", "Upgrade": "websocket"})
    assert r.status_code == 200
    seen = r.json()
    names = [h[0].lower() for h in seen["headers"]]
    assert "upgrade" in names  # forwarded, so a WebSocket backend could accept it


# ---------------------------------------------------------------------------
# WebSocket over HTTP/2 (RFC 8441 extended CONNECT), with Python's h2 and
# hand-made WebSocket frames (python3-websockets speaks HTTP/1.1 only)
# ---------------------------------------------------------------------------

def ws_frame(text, mask=b"\x01\x02\x03\x04"):
    """A masked client text frame (RFC 6455 5.2), payload under 126 bytes."""
    payload = text.encode()
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_messages(data):
    """The unmasked server text frames in data (payloads under 126 bytes)."""
    out, i = [], 0
    while i + 2 <= len(data):
        n = data[i + 1] & 0x7F
        if i + 2 + n > len(data):
            break
        out.append(bytes(data[i + 2:i + 2 + n]).decode())
        i += 2 + n
    return out


def test_websocket_over_http2_extended_connect(make_dataplane):
    from h2client import H2Client, Stream
    dp, server = ws_dataplane(make_dataplane)
    try:
        with H2Client.connect(dp.port) as c:
            c.pump(0.2)
            assert c.remote_settings.get(8) == 1  # SETTINGS_ENABLE_CONNECT_PROTOCOL
            sid = c.conn.get_next_available_stream_id()
            c.streams[sid] = Stream()
            c.conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                                      (":path", "/ws/h2"), (":authority", "example.com"),
                                      ("sec-websocket-version", "13")])
            c.flush()
            st = c.streams[sid]
            c.wait(lambda: st.headers is not None, what="the CONNECT answer")
            assert st.status == 200 and not st.done
            assert st.header("sec-websocket-accept") is None
            for word in ("one", "two", "three"):
                c.conn.send_data(sid, ws_frame(word))
                c.flush()
            c.wait(lambda: len(ws_messages(st.data)) >= 3, what="three echoes")
            assert ws_messages(st.data) == ["echo:one", "echo:two", "echo:three"]
            # Another stream on the same connection works meanwhile.
            other = c.request("GET", "/plain-on-the-side")
            assert c.response(other).status == 200
            # Ending our half of the stream closes the tunnel cleanly.
            c.conn.end_stream(sid)
            c.flush()
            c.wait(lambda: st.done, what="the tunnel's end")
            assert st.reset is None
        assert "/ws/h2" in server.paths
    finally:
        server.stop()


def test_http2_connect_without_websocket_is_refused(make_dataplane):
    from h2client import H2Client, Stream
    dp = make_dataplane()
    with H2Client.connect(dp.port) as c:
        c.pump(0.2)
        sid = c.conn.get_next_available_stream_id()
        c.streams[sid] = Stream()
        c.conn.config.validate_outbound_headers = False  # plain CONNECT has no :path (RFC 9113 8.5)
        c.conn.send_headers(sid, [(":method", "CONNECT"), (":authority", "example.com:443")])
        c.flush()
        assert c.response(sid).status == 501

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

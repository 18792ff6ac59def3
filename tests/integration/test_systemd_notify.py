"""systemd's notification protocol (what a Type=notify unit with WatchdogSec=
waits for): sluiced sends READY=1 only once every Gateway's workers run,
WATCHDOG=1 at half of $WATCHDOG_USEC from the master's loop, and STOPPING=1
when it stops. The test plays systemd's side: a unix datagram socket named by
$NOTIFY_SOCKET, as sd_notify(3) describes."""

import os
import socket
import time

from conftest import Sluiced, free_port
from dataplane import GWPATH, created, wait_until


class NotifySocket:
    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.messages = []  # (monotonic time, {key: value})

    def poll(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except (socket.timeout, BlockingIOError):
                return self.messages
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append((time.monotonic(), fields))

    def with_key(self, key):
        return [m for m in self.poll() if key in m[1]]

    def close(self):
        self.sock.close()


def test_ready_watchdog_and_stopping(tmp_path):
    ns = NotifySocket(str(tmp_path / "notify"))
    gw_port = free_port()
    # A Gateway stored before the start: READY=1 must wait for its workers.
    sl = Sluiced(str(tmp_path / "state"), extra_args=["--access-log", "off"],
                 env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "400000"})
    sl.start()
    try:
        ready = wait_until(lambda: ns.with_key("READY"), timeout=15, what="READY=1")
        assert ready[0][1]["READY"] == "1" and ready[0][1]["STATUS"].startswith("serving:"), ready
        created(sl.post(GWPATH, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                                 "metadata": {"name": "gw", "namespace": "default"},
                                 "spec": {"gatewayClassName": "sluice",
                                          "listeners": [{"name": "http", "protocol": "HTTP", "port": gw_port}]}}))
        # Keep-alives keep coming (every 200 ms: half of WATCHDOG_USEC); counted
        # over 1.5 s with room for a busy machine.
        before = len(ns.with_key("WATCHDOG"))
        time.sleep(1.5)
        beats = len(ns.with_key("WATCHDOG")) - before
        assert 3 <= beats <= 9, beats
        assert len(ns.with_key("READY")) == 1  # sent once
    finally:
        assert sl.stop() == 0
    stopping = ns.with_key("STOPPING")
    assert stopping and stopping[0][1]["STOPPING"] == "1"
    ns.close()


def test_ready_waits_for_the_workers_of_stored_gateways(tmp_path):
    ns = NotifySocket(str(tmp_path / "notify"))
    gw_port = free_port()
    state = str(tmp_path / "state")
    first = Sluiced(state, extra_args=["--access-log", "off"]).start()
    created(first.post(GWPATH, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                                "metadata": {"name": "gw", "namespace": "default",
                                             "annotations": {"sluice.dev/workers": "2"}},
                                "spec": {"gatewayClassName": "sluice",
                                         "listeners": [{"name": "http", "protocol": "HTTP", "port": gw_port}]}}))
    assert first.stop() == 0
    sl = Sluiced(state, extra_args=["--access-log", "off"], env={"NOTIFY_SOCKET": ns.path})
    sl.start(wait=False)
    try:
        ready = wait_until(lambda: ns.with_key("READY"), timeout=15, what="READY=1")
        # By then the Gateway's port answers (its workers run).
        with socket.create_connection(("127.0.0.1", gw_port), timeout=2):
            pass
        assert "serving: 2 workers" in ready[0][1]["STATUS"], ready
        assert not ns.with_key("WATCHDOG")  # no WatchdogSec: no keep-alives
    finally:
        assert sl.stop() == 0
        ns.close()
    assert os.path.exists(state)

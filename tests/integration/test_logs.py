"""Log files and rotation: --log-file takes the master's and the workers' log,
--access-log a file, and SIGUSR1 (logrotate's postrotate) reopens both by name,
the running workers included, without a restart and without losing a line."""

import json
import os
import signal
import time

from dataplane import GWPATH, make_dataplane, wait_until  # noqa: F401 - fixture


def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def test_sigusr1_reopens_the_log_and_the_access_log(make_dataplane, tmp_path):
    log, access = str(tmp_path / "sluiced.log"), str(tmp_path / "access.log")
    dp = make_dataplane(args=["--log-file", log, "--access-log", access], workers=2)
    pids = dp.workers()
    for i in range(5):
        assert dp.get("/before-%d" % i).status_code == 200
    wait_until(lambda: sum("/before-" in l for l in lines(access)) == 5, timeout=10, what="5 access log lines")
    assert any("worker %d of gateway default/gw started" % pids[0] in l for l in lines(log)), lines(log)[-5:]
    # logrotate: rename the files, then SIGUSR1 to the master.
    os.rename(log, log + ".1")
    os.rename(access, access + ".1")
    dp.sluiced.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: any("SIGUSR1: reopened %s and %s" % (log, access) in l for l in lines(log)), timeout=10,
               what="the master's line in the new log file")
    for i in range(20):
        assert dp.get("/after-%d" % i).status_code == 200
    # Every request after the signal is in the new access log, none in the old one, whichever
    # worker served it.
    wait_until(lambda: sum("/after-" in l for l in lines(access)) == 20, timeout=10, what="20 new access log lines")
    assert not any("/after-" in l for l in lines(access + ".1"))
    assert sum("/before-" in l for l in lines(access + ".1")) == 5
    assert all(json.loads(l)["status"] == 200 for l in lines(access))
    # A running worker logs into the new file too: a listener added is announced by each worker.
    gw = dp.sluiced.get(GWPATH + "/gw").json()
    from conftest import free_port
    port2 = free_port()
    gw["spec"]["listeners"].append({"name": "second", "protocol": "HTTP", "port": port2})
    assert dp.sluiced.put(GWPATH + "/gw", gw).status_code == 200
    wait_until(lambda: sum("listening on *:%d too" % port2 in l for l in lines(log)) == 2, timeout=10,
               what="both workers' lines in the new log")
    assert dp.workers() == pids  # nothing restarted
    assert not any("listening on *:%d too" % port2 in l for l in lines(log + ".1"))
    # The process keeps running and stops cleanly (checked by the fixture).
    time.sleep(0.1)
    assert dp.sluiced.proc.poll() is None

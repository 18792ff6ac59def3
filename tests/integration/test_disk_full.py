"""A full disk under the state dir: writes answer 507 with a message that says
so, nothing half-written is kept, the master keeps running, and writes work
again once there is room. Runs on a small tmpfs (needs root to mount it)."""

import os
import subprocess
import tempfile

import pytest
import requests

from conftest import Sluiced, httproute, path_for

ROUTES = path_for("httproutes", "default")


@pytest.fixture
def small_disk():
    if os.geteuid() != 0:
        pytest.skip("skipped, because mounting a small tmpfs needs root")
    d = tempfile.mkdtemp(prefix="sluice-full-")
    cp = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", d], capture_output=True, text=True)
    if cp.returncode != 0:
        os.rmdir(d)
        pytest.skip("skipped, because a tmpfs cannot be mounted here: " + cp.stderr.strip())
    yield d
    subprocess.run(["umount", "-l", d], capture_output=True)
    os.rmdir(d)


def fill(path):
    """Writes a file until the disk is full; returns its path."""
    filler = os.path.join(path, "filler")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_full_disk_answers_507_and_recovers(small_disk):
    s = Sluiced(os.path.join(small_disk, "state"))
    s.log_path = os.path.join(tempfile.mkdtemp(prefix="sluice-full-log-"), "sluiced.log")
    s.start()
    try:
        assert s.post(ROUTES, httproute("before")).status_code == 201
        filler = fill(small_disk)
        big = httproute("during")
        big["metadata"]["annotations"] = {"note": "x" * 200000}
        r = s.post(ROUTES, big)
        assert r.status_code == 507, (r.status_code, r.text)
        st = r.json()
        assert st["kind"] == "Status" and st["code"] == 507 and "full" in st["message"], st
        assert s.get("/healthz").status_code == 200
        assert s.get(ROUTES + "/during").status_code == 404
        assert s.get(ROUTES + "/before").status_code == 200
        os.unlink(filler)
        r = s.post(ROUTES, big)
        assert r.status_code == 201, r.text
        assert s.get(ROUTES + "/during").json()["metadata"]["annotations"]["note"] == "x" * 200000
    finally:
        s.stop()
    assert "runtime error:" not in s.log()

"""`make install` lays sluiced out as a system daemon: the binary in sbin/."""

import os
import shutil
import subprocess

import pytest

from conftest import SLUICED

BUILDDIR = os.path.dirname(os.path.dirname(os.path.abspath(SLUICED)))


@pytest.mark.skipif(not os.path.isfile(os.path.join(BUILDDIR, "Makefile")),
                    reason="skipped, because sluiced was not built in an automake build tree (no Makefile next to sbin/)")
def test_make_install_puts_sluiced_in_sbin(tmp_path):
    dest = str(tmp_path / "root")
    cp = subprocess.run(["make", "-C", BUILDDIR, "install", "DESTDIR=" + dest], capture_output=True, text=True,
                        timeout=300)
    assert cp.returncode == 0, cp.stdout[-2000:] + cp.stderr[-2000:]
    found = [os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs]
    daemons = [f for f in found if os.path.basename(f) == "sluiced"]
    assert len(daemons) == 1 and daemons[0].endswith("sbin/sluiced"), found
    assert os.access(os.path.join(dest, daemons[0]), os.X_OK)
    out = subprocess.run([os.path.join(dest, daemons[0]), "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "sluiced" in out.stdout + out.stderr
    shutil.rmtree(dest)

"""Tests that need something missing say so: without the Gateway API manifests
(a release tarball has no ../shared) the conformance suite reports itself
skipped with the reason, and passes nothing vacuously."""

import os
import subprocess
import sys

from conftest import SLUICED, SRCDIR


def test_conformance_without_manifests_reports_skipped(tmp_path):
    env = dict(os.environ, SL_CONFORMANCE=str(tmp_path / "no-manifests-here"), SLUICED=SLUICED)
    cp = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                         os.path.join(SRCDIR, "tests", "conformance")],
                        capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp_path))
    out = cp.stdout + cp.stderr
    assert cp.returncode == 0, out[-3000:]
    assert "skipped, because the Gateway API conformance manifests" in out, out[-3000:]
    last = out.strip().splitlines()[-1]
    assert "skipped" in last and "passed" not in last, last

"""The operator docs stay true to the code: docs/architecture.md lists every C
file with its own description (build-aux/doc-layout.py)."""

import os
import subprocess

from conftest import SRCDIR


def test_architecture_layout_lists_every_file():
    cp = subprocess.run(["/usr/bin/python3", os.path.join(SRCDIR, "build-aux", "doc-layout.py"), "--check", SRCDIR],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    with open(os.path.join(SRCDIR, "docs", "architecture.md")) as f:
        doc = f.read()
    for d in ("daemon", "admin", "workers", "common"):
        for name in os.listdir(os.path.join(SRCDIR, d)):
            if name.endswith(".c"):
                assert "| `%s` |" % name in doc, name

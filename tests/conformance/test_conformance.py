"""Gateway API conformance (upstream manifests, upstream expectations) against a
local sluiced and echo backends: every HTTPRoute, TLSRoute and TCPRoute test, the Gateway tests of
cases_gateway.py and cases_gateway_tls.py, and every BackendTLSPolicy test
(cases_btls.py). One test per upstream test file.

Run:  /usr/bin/python3 -m pytest tests/conformance
Env:  SLUICED (default build/sbin/sluiced), SL_CONFORMANCE (default
      ../shared/conformance/gateway-api next to the repo), SL_CONFORMANCE_TIMEOUT
      (seconds per eventually-consistent check, default 6), SL_CONFORMANCE_ONLY=1
      (ignore known_failures.txt: run everything), SL_CONFORMANCE_KEEP=1 (keep state dir).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cases  # noqa: E402
import cases_btls  # noqa: E402,F401  (registers the BackendTLSPolicy cases)
import cases_gateway  # noqa: E402,F401  (registers the Gateway cases in cases.CASES)
import cases_gateway_tls  # noqa: E402,F401  (registers the Gateway TLS cases)
import cases_l4  # noqa: E402,F401  (registers the TLSRoute and TCPRoute cases)
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def known_failures():
    out = {}
    with open(os.path.join(HERE, "known_failures.txt")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, reason = line.partition(" ")
            out[name] = reason.strip() or "known failure"
    return out


KNOWN = {} if os.environ.get("SL_CONFORMANCE_ONLY") == "1" else known_failures()
ALL = sorted(cases.CASES)


def _available():
    d = harness.conformance_dir()
    return os.path.isfile(os.path.join(d, "base", "manifests.yaml")) and os.access(harness.sluiced_path(), os.X_OK)


pytestmark = pytest.mark.skipif(not _available(), reason="skipped, because the Gateway API conformance manifests (%s) or the "
                                "sluiced binary are not there (set SL_CONFORMANCE / SLUICED)" % harness.conformance_dir())


@pytest.fixture(scope="module")
def h():
    hs = harness.Harness()
    try:
        hs.start()
    except Exception:
        tail = hs.sluiced_log_tail()
        hs.stop()
        raise RuntimeError("harness start failed; sluiced log tail:\n" + tail)
    yield hs
    hs.stop()


def test_every_upstream_file_has_a_case():
    """Every upstream HTTPRoute, TLSRoute and TCPRoute test has a case; every other case names upstream
    manifests that exist (the Gateway tests are a chosen few, see docs/conformance.md)."""
    d = os.path.join(harness.conformance_dir(), "tests")
    prefixes = ("httproute-", "tlsroute-", "tcproute-")
    files = sorted(f[:-5] for f in os.listdir(d) if f.startswith(prefixes) and f.endswith(".yaml"))
    routes = sorted(n for n in ALL if n.startswith(prefixes))
    assert files == routes, "cases.py and the upstream test files differ: %s" % sorted(set(files) ^ set(routes))
    for name in ALL:
        m = cases.CASES[name].manifest
        missing = [f for f in ([m] if isinstance(m, str) else m) if not os.path.isfile(os.path.join(d, f))]
        assert not missing, "case %s names manifests that are not upstream: %s" % (name, missing)
    stale = set(KNOWN) - set(ALL)
    assert not stale, "known_failures.txt names unknown tests: %s" % stale


@pytest.mark.parametrize("name", ALL)
def test_conformance(h, name):
    if name in KNOWN:
        pytest.skip("skipped, because %s is a known failure: %s" % (name, KNOWN[name]))
    c = cases.CASES[name]
    h.apply_test(c.manifest)
    try:
        c.run(h)
    except AssertionError as e:
        pytest.fail("%s (%s):\n%s" % (name, c.features, e), pytrace=False)
    finally:
        h.delete_test()

"""Read-your-write: "Programmed" means live. A Gateway's Programmed (with its
observedGeneration) and a route parent's sluice.dev/Programmed turn true only
once every worker runs a snapshot holding that change, and a write with
?wait=live answers only then; so a script that waits sees its change on the
very next request (before, up to several requests after a 2xx still saw the
old configuration)."""

import subprocess

import pytest
import requests

from conftest import kubectl_path
from dataplane import BACKENDS, ROUTES, backend, created, make_dataplane, route, wait_until  # noqa: F401

PROGRAMMED = "sluice.dev/Programmed"


def route_parent_condition(dp, name, type_):
    st = dp.sluiced.get(ROUTES + "/" + name).json().get("status", {})
    for p in st.get("parents", []):
        for c in p.get("conditions", []):
            if c["type"] == type_:
                return c
    return None


def switch_route(dp, to_backend, query=""):
    obj = dp.sluiced.get(ROUTES + "/r").json()
    obj["spec"]["rules"][0]["backendRefs"][0]["name"] = to_backend
    return dp.sluiced.put(ROUTES + "/r" + query, obj)


def origins_seen(dp, n):
    s = requests.Session()
    return [s.get(dp.url + "/x%d" % i, timeout=5).headers.get("X-Origin") for i in range(n)]


@pytest.fixture
def two_origins(make_dataplane):
    dp = make_dataplane(workers=2)
    other = dp.new_origin("other")
    created(dp.sluiced.post(BACKENDS, backend("be2", [other.port])))
    return dp


def test_write_with_wait_live_is_seen_by_the_next_request(two_origins):
    dp = two_origins
    for i, (target, name) in enumerate([("be2", "other"), ("be", "origin")] * 3):
        r = switch_route(dp, target, "?wait=live")
        assert r.status_code == 200, r.text
        assert r.headers.get("Sluice-Live") == "true", r.headers
        seen = origins_seen(dp, 30)
        assert seen == [name] * 30, (i, seen)


def test_route_parent_programmed_follows_the_workers(two_origins):
    dp = two_origins
    c = route_parent_condition(dp, "r", PROGRAMMED)
    wait_until(lambda: (route_parent_condition(dp, "r", PROGRAMMED) or {}).get("status") == "True", timeout=10,
               what="route r programmed")
    gen0 = dp.sluiced.get(ROUTES + "/r").json()["metadata"]["generation"]
    assert switch_route(dp, "be2").status_code == 200
    # Once it says True for the new generation, every request goes to the new backend.
    wait_until(lambda: (lambda c: c and c["status"] == "True" and c["observedGeneration"] == gen0 + 1)(
        route_parent_condition(dp, "r", PROGRAMMED)), timeout=10, what="the new generation programmed")
    assert origins_seen(dp, 30) == ["other"] * 30
    c = route_parent_condition(dp, "r", PROGRAMMED)
    assert c["reason"] == "Programmed" and "snapshot" in c["message"]


def test_route_not_accepted_is_not_programmed(two_origins):
    dp = two_origins
    bad = route("orphan", "be", parent="no-such-gateway")
    created(dp.sluiced.post(ROUTES, bad))
    # A parentRef to a Gateway that does not exist gets no status of ours at all;
    # one to our Gateway with a sectionName it lacks is not accepted.
    bad = route("wrongsection", "be")
    bad["spec"]["parentRefs"][0]["sectionName"] = "nope"
    created(dp.sluiced.post(ROUTES, bad))
    wait_until(lambda: route_parent_condition(dp, "wrongsection", PROGRAMMED), timeout=10, what="status")
    c = route_parent_condition(dp, "wrongsection", PROGRAMMED)
    assert c["status"] == "False" and c["reason"] == "Invalid"


@pytest.mark.parametrize("version", ["1.32"])
def test_kubectl_wait_then_the_change_is_live(two_origins, version):
    exe = kubectl_path(version)
    if not exe:
        pytest.skip("skipped, because kubectl %s is not in tests/tools/bin" % version)
    dp = two_origins
    base = [exe, "--server=" + dp.sluiced.url]
    for target, name in [("be2", "other"), ("be", "origin")]:
        gen = dp.sluiced.get(ROUTES + "/r").json()["metadata"]["generation"]
        assert switch_route(dp, target).status_code == 200
        # The documented way to wait for a route (kubectl >= 1.23: jsonpath waits).
        cp = subprocess.run(base + ["wait", "httproute/r", "--timeout=20s",
                                    "--for=jsonpath={.status.parents[0].conditions[?(@.type==\"%s\")].observedGeneration}=%d"
                                    % (PROGRAMMED, gen + 1)],
                            capture_output=True, text=True, timeout=60)
        assert cp.returncode == 0, cp.stderr
        cp = subprocess.run(base + ["wait", "httproute/r", "--timeout=20s",
                                    "--for=jsonpath={.status.parents[0].conditions[?(@.type==\"%s\")].status}=True"
                                    % PROGRAMMED], capture_output=True, text=True, timeout=60)
        assert cp.returncode == 0, cp.stderr
        assert origins_seen(dp, 30) == [name] * 30


@pytest.mark.parametrize("version", ["1.20", "1.32"])
def test_kubectl_wait_for_gateway_programmed(two_origins, version):
    """After `kubectl wait --for=condition=Programmed` on a Gateway whose change
    is recorded (observedGeneration), every request sees that change: here the
    listener is narrowed to one hostname, so other hosts get 404."""
    exe = kubectl_path(version)
    if not exe:
        pytest.skip("skipped, because kubectl %s is not in tests/tools/bin" % version)
    dp = two_origins
    path = "/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways/gw"
    gw = dp.sluiced.get(path).json()
    gw["spec"]["listeners"][0]["hostname"] = "only.example.com"
    r = dp.sluiced.put(path, gw)
    assert r.status_code == 200, r.text
    gen = r.json()["metadata"]["generation"]

    def programmed():
        st = dp.sluiced.get(path).json().get("status", {})
        c = [c for c in st.get("conditions", []) if c["type"] == "Programmed"]
        return c and c[0]

    # kubectl 1.20 does not compare observedGeneration itself: a script waits
    # for the status to be about this generation first (documented in api.md).
    wait_until(lambda: programmed() and programmed()["observedGeneration"] == gen, timeout=10,
               what="status of generation %d" % gen)
    cp = subprocess.run([exe, "--server=" + dp.sluiced.url, "wait", "gateway/gw", "--for=condition=Programmed",
                         "--timeout=20s"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert programmed()["status"] == "True" and programmed()["observedGeneration"] == gen
    s = requests.Session()
    codes = [s.get(dp.url + "/h%d" % i, timeout=5).status_code for i in range(30)]
    assert codes == [404] * 30, codes
    codes = [s.get(dp.url + "/h%d" % i, headers={"Host": "only.example.com"}, timeout=5).status_code
             for i in range(30)]
    assert codes == [200] * 30, codes

"""`sluiced --kubernetes` writes status back to the cluster (the fake API server of
kube_fake.py; docs/kubernetes.md says what it covers): the status the cluster gets
is what bare metal reports for the same objects; only the leader of a Lease
writes; another controller's entries are kept; a write that conflicts is read
again and retried; two replicas elect one leader and the other takes over when
the first dies (within the lease duration) or stops (at once)."""
import copy
import re
import signal
import threading
import time

import pytest
import requests

from conftest import free_port, path_for
from dataplane import Origin, wait_until
from kube_fake import FakeKube
from test_kubernetes_sync import SLUICE_GROUP, backend, gateway, route

GW = "gateway.networking.k8s.io"
LEASE_S = 3  # --kubernetes-lease-duration of these tests
OTHER = {"parentRef": {"group": GW, "kind": "Gateway", "name": "theirs"}, "controllerName": "example.com/other",
         "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "theirs",
                         "observedGeneration": 1, "lastTransitionTime": "2026-12-01T00:00:00Z"}]}


def gateway_class():
    return {"apiVersion": GW + "/v1", "kind": "GatewayClass", "metadata": {"name": "sluice"},
            "spec": {"controllerName": "sluice.dev/gateway-controller"}}


def traffic_policy():
    return {"apiVersion": SLUICE_GROUP + "/v1alpha1", "kind": "TrafficPolicy",
            "metadata": {"name": "tp", "namespace": "default"},
            "spec": {"targetRefs": [{"group": GW, "kind": "HTTPRoute", "name": "r"}],
                     "rateLimit": {"requests": 1000, "unit": "Second"}}}


def objects(port, origin_port):
    """What both the cluster and bare metal get: a Gateway, a Backend, a route that
    resolves, one whose backend is missing, and a policy on the first."""
    broken = route("broken", "/broken", "missing")
    return [("gateways", gateway(port)), ("backends", backend("be", origin_port)), ("httproutes", route("r", "/app")),
            ("httproutes", broken), ("trafficpolicies", traffic_policy())]


def admin_path(plural, name=None):
    """The admin API's path of a namespaced object of these tests."""
    if plural in ("backends", "trafficpolicies"):
        return path_for(plural, "default", name, group=SLUICE_GROUP, version="v1alpha1")
    return path_for(plural, "default", name)


def comparable(status):
    """A status without what differs between two runs of the same objects:
    timestamps, and the snapshot and worker counts in messages."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if k != "lastTransitionTime"}
        if isinstance(v, list):
            return [clean(x) for x in v]
        if isinstance(v, str):
            return re.sub(r"\d+ workers", "N workers", re.sub(r"snapshot \d+", "snapshot N", v))
        return v
    return clean(status)


@pytest.fixture
def origin():
    o = Origin("o")
    yield o
    o.stop()


@pytest.fixture
def seeded(origin):
    """Makes fake API servers with the default Namespace, our GatewayClass and the first
    `count` of objects() (all when None), stopped after the test."""
    made = []

    def make(count=None):
        fake = FakeKube()
        made.append(fake)
        fake.apply("namespaces", {"metadata": {"name": "default"}})
        fake.apply("gatewayclasses", gateway_class())
        for plural, obj in objects(free_port(), origin.port)[:count]:
            fake.apply(plural, obj)
        return fake
    yield make
    for fake in made:
        fake.stop()


def metric(sluiced, name):
    text = requests.get(sluiced.url + "/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def leads(sluiced):
    return metric(sluiced, "sluice_kubernetes_leader{") == 1


def replica(make_sluiced, fake, tmp_path, sub):
    config = fake.kubeconfig(str(tmp_path / ("kubeconfig-" + sub)))
    s = make_sluiced(sub, extra_args=["--kubernetes", "--kubeconfig", config, "--kubernetes-lease-duration",
                                      str(LEASE_S), "--kubernetes-lease", "sluice-system/leader"])
    s.start()
    return s


def test_status_in_the_cluster_matches_bare_metal(make_sluiced, tmp_path, origin, seeded):
    fake = seeded()
    fake.set_status("httproutes", "r", {"parents": [OTHER]})
    synced = replica(make_sluiced, fake, tmp_path, "synced")
    bare = make_sluiced("bare")
    bare.start()
    for plural, obj in objects(free_port(), origin.port):
        assert bare.post(admin_path(plural), obj).status_code == 201

    def ours(status, key):
        return [e for e in status.get(key, []) if e["controllerName"] == "sluice.dev/gateway-controller"]

    def programmed(status):
        return any(c["type"] == "sluice.dev/Programmed" and c["status"] == "True"
                   for p in ours(status, "parents") for c in p["conditions"])
    wait_until(lambda: programmed(fake.get("httproutes", "r").get("status", {})), timeout=20,
               what="the route's status written to the cluster")
    wait_until(lambda: programmed(bare.get(admin_path("httproutes", "r")).json().get("status", {})),
               timeout=20, what="the bare-metal route's status")
    time.sleep(1.5)  # (both settle: the Gateway's status follows its workers once a second)

    for plural, name, key in (("httproutes", "r", "parents"), ("httproutes", "broken", "parents"),
                              ("trafficpolicies", "tp", "ancestors"), ("gateways", "gw", None)):
        in_cluster = fake.get(plural, name)["status"]
        on_bare = bare.get(admin_path(plural, name)).json()["status"]
        if key:
            assert comparable(ours(in_cluster, key)) == comparable(ours(on_bare, key)), (plural, name)
            assert ours(in_cluster, key), (plural, name)
        else:
            assert comparable(in_cluster) == comparable(on_bare)
    # What the two say: one route resolves, the other names a missing backend.
    broken = ours(fake.get("httproutes", "broken")["status"], "parents")[0]["conditions"]
    assert {c["type"]: c["status"] for c in broken}["ResolvedRefs"] == "False"
    # Another controller's entry is kept beside ours.
    assert comparable(OTHER) in comparable(fake.get("httproutes", "r")["status"]["parents"])
    # The GatewayClass is accepted, with the cluster's generation.
    cond = fake.get("gatewayclasses", "sluice")["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["observedGeneration"]) == ("Accepted", "True", 1)
    # Writes went through the status subresource, and only where something changed.
    kinds = {w[0] for w in fake.status_writes}
    assert {"gatewayclasses", "gateways", "httproutes", "trafficpolicies"} <= kinds
    writes = len(fake.status_writes)
    time.sleep(2)
    assert len(fake.status_writes) == writes, fake.status_writes[writes:]
    assert metric(synced, 'sluice_kubernetes_status_writes_total{result="written"}') == writes


def test_a_change_conflicts_failures_and_other_controllers(make_sluiced, tmp_path, origin, seeded):
    fake = seeded(3)
    synced = replica(make_sluiced, fake, tmp_path, "synced")

    def generation_seen(gen):
        def check():
            parents = fake.get("httproutes", "r").get("status", {}).get("parents", [])
            return any(c["observedGeneration"] == gen for p in parents for c in p["conditions"])
        return check
    wait_until(generation_seen(1), timeout=20, what="the route's status")
    # The route changes in the cluster (generation 2) and the next two status
    # writes meet a newer version: read again, retried, written.
    fake.conflicts = 2
    fake.apply("httproutes", route("r", "/changed"))
    assert fake.get("httproutes", "r")["metadata"]["generation"] == 2
    wait_until(generation_seen(2), timeout=20, what="generation 2's status despite the conflicts")
    assert metric(synced, 'sluice_kubernetes_status_writes_total{result="conflict"}') >= 2
    # Another controller rewrites the status, dropping our entry: ours comes back and theirs stays.
    fake.set_status("httproutes", "r", {"parents": [OTHER]})
    wait_until(generation_seen(2), timeout=20, what="our entry written again")
    parents = fake.get("httproutes", "r")["status"]["parents"]
    assert [p["controllerName"] for p in parents] == ["example.com/other", "sluice.dev/gateway-controller"]
    # A route deleted from the cluster while we look: nothing is left to fight over.
    fake.delete("httproutes", "r")
    wait_until(lambda: synced.get(admin_path("httproutes", "r")).status_code == 404, timeout=10,
               what="the route gone from the store")
    assert metric(synced, 'sluice_kubernetes_status_writes_total{result="error"}') == 0
    # A slow API server whose next two status writes fail: tried again until written.
    fake.delay = 0.2
    fake.failures = 2
    fake.apply("httproutes", route("r2", "/two"))
    wait_until(lambda: fake.get("httproutes", "r2").get("status"), timeout=30, what="r2's status after failures")
    assert metric(synced, 'sluice_kubernetes_status_writes_total{result="error"}') == 2
    assert "cannot write the status of HTTPRoute default/r2 to the cluster" in synced.log()


def test_two_replicas_elect_one_leader_and_the_other_takes_over(make_sluiced, tmp_path, origin, seeded):
    fake = seeded(0)
    a = replica(make_sluiced, fake, tmp_path, "a")
    b = replica(make_sluiced, fake, tmp_path, "b")
    wait_until(lambda: leads(a) or leads(b), timeout=15, what="a leader")
    time.sleep(LEASE_S)  # (a second leader would show by now)
    assert [leads(a), leads(b)].count(True) == 1
    leader, follower = (a, b) if leads(a) else (b, a)
    lease = fake.get("leases", "leader", namespace="sluice-system")["spec"]
    assert lease["holderIdentity"] in requests.get(leader.url + "/metrics", timeout=5).text
    assert lease["leaseDurationSeconds"] == LEASE_S
    wait_until(lambda: "status" in fake.get("gatewayclasses", "sluice"), timeout=10, what="the leader's write")
    assert metric(follower, 'sluice_kubernetes_status_writes_total{result="written"}') == 0
    assert "follows" in follower.log()

    # The leader dies without giving the Lease up: the follower takes it over
    # once it has not been renewed for the lease duration.
    leader.kill9()
    died = time.monotonic()
    wait_until(lambda: leads(follower), timeout=LEASE_S + 10, what="the follower taking over")
    took = time.monotonic() - died
    # (the lease duration, plus the follower's 0.4 s retry period and this poll's step)
    assert took <= LEASE_S + 2, took
    assert "taking it over" in follower.log()
    after = fake.get("leases", "leader", namespace="sluice-system")["spec"]
    assert after["leaseTransitions"] == lease["leaseTransitions"] + 1
    # The new leader writes: a change of the class reaches its status.
    fake.apply("gatewayclasses", dict(gateway_class(), spec={"controllerName": "sluice.dev/gateway-controller",
                                                              "description": "changed"}))
    wait_until(lambda: fake.get("gatewayclasses", "sluice")["status"]["conditions"][0]["observedGeneration"] == 2,
               timeout=10, what="the new leader's status write")

    # A third replica joins and follows; the leader stops cleanly and gives
    # the Lease up, so the third takes over without waiting for it to expire.
    c = replica(make_sluiced, fake, tmp_path, "c")
    wait_until(lambda: "follows" in c.log(), timeout=15, what="the third replica following")
    assert not leads(c)
    follower.stop(signal.SIGTERM)
    stopped = time.monotonic()
    assert "gave up the Lease sluice-system/leader" in follower.log()
    wait_until(lambda: leads(c), timeout=LEASE_S, what="the third replica taking over at once")
    assert time.monotonic() - stopped < LEASE_S


def test_entries_keep_their_places_so_no_controller_fights_over_the_order(make_sluiced, tmp_path, origin, seeded):
    fake = seeded()
    stop = threading.Event()
    try:
        s = replica(make_sluiced, fake, tmp_path, "a")
        wait_until(lambda: fake.get("httproutes", "r").get("status", {}).get("parents"), timeout=30, what="status")
        time.sleep(2)
        ours = fake.get("httproutes", "r")["status"]["parents"]
        written = 'sluice_kubernetes_status_writes_total{result="written"}'
        # The cluster holds [ours, theirs], ours unchanged: nothing to write, the order stays.
        before = metric(s, written)
        fake.set_status("httproutes", "r", {"parents": ours + [OTHER]})
        time.sleep(3)
        assert metric(s, written) == before
        assert [p["controllerName"] for p in fake.get("httproutes", "r")["status"]["parents"]] == \
            ["sluice.dev/gateway-controller", "example.com/other"]

        # Another controller that keeps others' entries and puts its own last: no endless rewriting.
        def other():
            while not stop.is_set():
                st = fake.get("httproutes", "r").get("status", {})
                parents = st.get("parents", [])
                if not parents or parents[-1]["controllerName"] != OTHER["controllerName"]:
                    keep = [p for p in parents if p["controllerName"] != OTHER["controllerName"]]
                    fake.set_status("httproutes", "r", dict(st, parents=keep + [copy.deepcopy(OTHER)]))
                time.sleep(0.05)
        threading.Thread(target=other, daemon=True).start()
        time.sleep(5)
        assert metric(s, written) - before < 3
    finally:
        stop.set()


def test_no_status_write_after_losing_the_lease(make_sluiced, tmp_path, origin, seeded):
    fake = seeded()
    puts = []  # (monotonic, path) of status PUTs as they arrive
    plain = fake.handle_write
    delay = [0.0]

    def slow_status(h, method):
        if h.path.split("?")[0].endswith("/status"):
            puts.append((time.monotonic(), h.path))
            time.sleep(delay[0])
        return plain(h, method)
    fake.handle_write = slow_status
    stop = threading.Event()
    try:
        s = replica(make_sluiced, fake, tmp_path, "a")
        wait_until(lambda: leads(s), timeout=15, what="leading")
        wait_until(lambda: all(fake.get(p, n).get("status") for p, n in
                               [("gatewayclasses", "sluice"), ("gateways", "gw"), ("httproutes", "r"),
                                ("trafficpolicies", "tp")]), timeout=30, what="the first status")
        time.sleep(1.5)
        # Every status write now takes a second, and four statuses need one each.
        delay[0] = 1.0
        del puts[:]
        fake.set_status("gatewayclasses", "sluice", {})
        fake.set_status("gateways", "gw", {})
        fake.set_status("httproutes", "r", {"parents": []})
        fake.set_status("trafficpolicies", "tp", {"ancestors": []})
        wait_until(lambda: puts, timeout=10, what="a status write")
        # Meanwhile another replica takes the Lease.
        lease = fake.get("leases", "leader", namespace="sluice-system")

        def intruder():
            while not stop.is_set():
                lease["spec"]["holderIdentity"] = "intruder"
                lease["spec"]["renewTime"] = "2026-12-06T00:00:%02d.000000Z" % (int(time.monotonic() * 10) % 60)
                fake.apply("leases", lease)
                time.sleep(0.3)
        threading.Thread(target=intruder, daemon=True).start()
        wait_until(lambda: not leads(s), timeout=5, what="stepping down", interval=0.02)
        lost = time.monotonic()
        time.sleep(5)
        # (a write already sent when it stepped down may still arrive just after)
        late = [(round(t - lost, 2), p) for t, p in puts if t > lost + 0.5]
        assert not late, late
        assert "no longer leads" in s.log()
    finally:
        stop.set()


def test_two_deployments_split_by_gateway_class_share_route_status(make_sluiced, tmp_path, origin, seeded):
    fake = seeded(0)
    other_class = gateway_class()
    other_class["metadata"]["name"] = "other-class"
    fake.apply("gatewayclasses", other_class)
    ports = {"a": free_port(), "b": free_port()}
    for side, cls in (("a", "sluice"), ("b", "other-class")):
        gw = gateway(ports[side])
        gw["metadata"]["name"] = "gw-" + side
        gw["spec"]["gatewayClassName"] = cls
        fake.apply("gateways", gw)
    fake.apply("backends", backend("be", origin.port))
    r = route("r", "/app")
    r["spec"]["parentRefs"] = [{"name": "gw-a"}, {"name": "gw-b"}]
    fake.apply("httproutes", r)
    config = fake.kubeconfig(str(tmp_path / "kubeconfig"))
    deployments = {}
    for side, cls in (("a", "sluice"), ("b", "other-class")):
        deployments[side] = make_sluiced(side, extra_args=[
            "--kubernetes", "--kubeconfig", config, "--kubernetes-gateway-classes", cls,
            "--kubernetes-lease", "sluice-system/leader-" + side, "--kubernetes-lease-duration", "3"])
        deployments[side].start()

    def ours():
        parents = fake.get("httproutes", "r").get("status", {}).get("parents", [])
        return sorted(p["parentRef"]["name"] for p in parents
                      if p["controllerName"] == "sluice.dev/gateway-controller" and
                      any(c["type"] == "Accepted" and c["status"] == "True" for c in p["conditions"]))
    # Each deployment serves its own Gateway and writes its own entry; neither removes the other's.
    wait_until(lambda: ours() == ["gw-a", "gw-b"], timeout=30, what="both deployments' entries")
    for side in ("a", "b"):
        wait_until(lambda: requests.get("http://127.0.0.1:%d/app/x" % ports[side], timeout=5).status_code == 200,
                   timeout=20, what="deployment %s serving" % side)
    a_gateways = [g["metadata"]["name"] for g in deployments["a"].get(path_for("gateways")).json()["items"]]
    assert a_gateways == ["gw-a"]
    assert deployments["a"].get(path_for("gatewayclasses", name="other-class")).status_code == 404
    written = 'sluice_kubernetes_status_writes_total{result="written"}'

    def counts():
        return [metric(deployments[side], written) for side in ("a", "b")]
    settled = counts()
    for _ in range(20):  # (the Gateways' Programmed conditions follow their workers)
        time.sleep(1.5)
        now = counts()
        if now == settled:
            break
        settled = now
    time.sleep(3)
    assert counts() == settled  # (no fight)
    assert ours() == ["gw-a", "gw-b"]
    # A Gateway moved to the other class leaves a's store and traffic.
    gw = gateway(ports["a"])
    gw["metadata"]["name"] = "gw-a"
    gw["spec"]["gatewayClassName"] = "other-class"
    fake.apply("gateways", gw)
    wait_until(lambda: deployments["a"].get(path_for("gateways", "default", "gw-a")).status_code == 404,
               timeout=10, what="gw-a gone from a")

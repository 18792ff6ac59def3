"""`sluiced --kubernetes`: a cluster's objects mirrored into the store, against the
fake API server of kube_fake.py (no real API server can run here; docs/kubernetes.md
says what the fake covers). Objects created, changed and deleted in the "cluster"
reach traffic; they are marked as the cluster's and the admin API refuses to change
them while local objects stay writable; a compaction (410 Gone) and a restart of the
API server resync without losing or duplicating anything; errors back off; HTTPS with
the cluster's CA, client certificates and a rotating token file work; a bad kubeconfig
is named."""
import base64
import json
import os
import subprocess
import time

import pytest  # noqa: F401
import requests

from conftest import SLUICED, free_port, path_for
from dataplane import Origin, wait_until
from kube_fake import FakeKube
from test_tls import PKI

SLUICE_GROUP = "gateway.sluice.dev"
ROUTES = path_for("httproutes", "default")


def gateway(port):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "default"},
            "spec": {"gatewayClassName": "sluice", "listeners": [{"name": "http", "port": port, "protocol": "HTTP"}]}}


def backend(name, port):
    return {"apiVersion": SLUICE_GROUP + "/v1alpha1", "kind": "Backend", "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "Static", "static": {"hosts": [{"host": "127.0.0.1", "port": port}]}}}


def route(name, path, backend_name="be"):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw"}],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}],
                                "backendRefs": [{"group": SLUICE_GROUP, "kind": "Backend", "name": backend_name}]}]}}


def seed(fake, gateway_port, origin_port, path):
    """The objects every sync test starts from: the default Namespace, a Gateway on
    gateway_port, Backend "be" to the origin, and HTTPRoute "r" for path."""
    fake.apply("namespaces", {"metadata": {"name": "default"}})
    fake.apply("gateways", gateway(gateway_port))
    fake.apply("backends", backend("be", origin_port))
    fake.apply("httproutes", route("r", path))


class Cluster:
    """The fake API server with a Namespace, a Gateway on a free port, a Backend
    to a real origin and an HTTPRoute, and a sluiced mirroring it."""

    def __init__(self, make_sluiced, tmp_path, forbidden=()):
        self.fake = FakeKube()
        self.fake.forbidden = set(forbidden)
        self.origin = Origin("in-cluster")
        self.port = free_port()
        seed(self.fake, self.port, self.origin.port, "/app")
        config = self.fake.kubeconfig(str(tmp_path / "kubeconfig"))
        self.sluiced = make_sluiced("state", extra_args=["--kubernetes", "--kubeconfig", config])
        self.sluiced.start()

    def get(self, path, **kw):
        return requests.get("http://127.0.0.1:%d%s" % (self.port, path), timeout=5, **kw)

    def served(self, path, by=None):
        def ok():
            try:
                r = self.get(path)
            except requests.RequestException:
                return False
            return r.status_code == 200 and (by is None or r.headers.get("X-Origin") == by)
        return ok

    def close(self):
        self.fake.stop()
        self.origin.stop()


@pytest.fixture
def cluster(make_sluiced, tmp_path):
    c = Cluster(make_sluiced, tmp_path)
    yield c
    c.close()


def test_cluster_objects_reach_traffic_and_follow_changes(cluster):
    wait_until(cluster.served("/app/1", "in-cluster"), timeout=20, what="the cluster's route serving")
    stored = cluster.sluiced.get(ROUTES + "/r").json()
    ann = stored["metadata"]["annotations"]
    assert ann["sluice.dev/synced-from"] == cluster.fake.url
    assert ann["sluice.dev/cluster-uid"] == cluster.fake.objects["httproutes"][("default", "r")]["metadata"]["uid"]
    assert int(ann["sluice.dev/cluster-resource-version"]) > 100
    assert "managedFields" not in stored["metadata"]
    # A change in the cluster: the route moves to another path.
    cluster.fake.apply("httproutes", route("r", "/moved"))
    wait_until(cluster.served("/moved/1"), timeout=10, what="the changed route")
    wait_until(lambda: cluster.get("/app/1").status_code == 404, timeout=10, what="the old path gone")
    # A new route and another backend.
    other = Origin("other")
    try:
        cluster.fake.apply("backends", backend("be2", other.port))
        cluster.fake.apply("httproutes", route("r2", "/two", "be2"))
        wait_until(cluster.served("/two/x", "other"), timeout=10, what="the new route")
        # Deleted in the cluster: gone from the store and from traffic.
        cluster.fake.delete("httproutes", "r2")
        wait_until(lambda: cluster.sluiced.get(ROUTES + "/r2").status_code == 404, timeout=10, what="r2 deleted")
        wait_until(lambda: cluster.get("/two/x").status_code == 404, timeout=10, what="r2 out of traffic")
    finally:
        other.stop()


def test_synced_objects_are_refused_and_local_ones_stay_writable(cluster):
    wait_until(cluster.served("/app/1"), timeout=20, what="the cluster's route serving")
    r = cluster.sluiced.get(ROUTES + "/r").json()
    r["spec"]["rules"][0]["matches"][0]["path"]["value"] = "/hijack"
    for resp in (cluster.sluiced.put(ROUTES + "/r", r),
                 cluster.sluiced.patch(ROUTES + "/r", {"metadata": {"labels": {"x": "y"}}}),
                 cluster.sluiced.delete(ROUTES + "/r")):
        assert resp.status_code == 409, resp.text
        doc = resp.json()
        assert doc["kind"] == "Status" and doc["reason"] == "Conflict"
        assert "synced from the Kubernetes cluster at %s" % cluster.fake.url in doc["message"]
        assert "change it in the cluster" in doc["message"]
    assert cluster.sluiced.get(ROUTES + "/r").json()["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/app"
    # Deleting the whole collection leaves the cluster's objects.
    assert cluster.sluiced.delete(ROUTES).status_code == 200
    assert cluster.sluiced.get(ROUTES + "/r").status_code == 200
    # A local object beside them is the admin API's as ever.
    local = route("local", "/local")
    resp = cluster.sluiced.post(ROUTES, local)
    assert resp.status_code == 201, resp.text
    wait_until(cluster.served("/local/1", "in-cluster"), timeout=10, what="the local route")
    # (read, change, write back, as a controller does: the route's status may be written
    # between the read and the write, and then the write's resourceVersion is stale: 409)
    for _ in range(5):
        local = cluster.sluiced.get(ROUTES + "/local").json()
        local["metadata"]["labels"] = {"edited": "yes"}
        resp = cluster.sluiced.put(ROUTES + "/local", local)
        if resp.status_code != 409:
            break
        assert "synced from" not in resp.text, resp.text
    assert resp.status_code == 200, resp.text
    assert cluster.sluiced.delete(ROUTES + "/local").status_code == 200


def names_in_store(sluiced):
    return sorted(o["metadata"]["name"] for o in sluiced.get(ROUTES).json()["items"])


def test_fields_our_schemas_do_not_know_are_dropped_not_the_object(cluster):
    """A policy written before our CRDs were applied may carry a field sluice does not
    know: it is mirrored without it (as the API server would prune it), with a warning,
    rather than left out (which would serve the route without its policy)."""
    wait_until(cluster.served("/app/1"), timeout=20, what="the cluster's route serving")
    cluster.fake.apply("secrets", {"metadata": {"name": "keys", "namespace": "default"}, "type": "Opaque",
                                   "data": {"alice": base64.b64encode(b"key-a").decode()}})
    cluster.fake.apply("trafficpolicies", {
        "metadata": {"name": "auth", "namespace": "default"},
        "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}],
                 "apiKeyAuth": {"secretRefs": [{"name": "keys"}], "hedaer": "X-Key"}}})
    wait_until(lambda: cluster.get("/app/1").status_code == 401, timeout=20, what="the policy in force")
    # (the key's Secret is read by name once the policy names it: it may come a moment later)
    wait_until(lambda: cluster.get("/app/1", headers={"X-API-Key": "key-a"}).status_code == 200, timeout=20,
               what="the key from the named Secret")
    stored = cluster.sluiced.get(path_for("trafficpolicies", "default", "auth", group=SLUICE_GROUP,
                                          version="v1alpha1")).json()
    assert "hedaer" not in stored["spec"]["apiKeyAuth"]
    assert "spec.apiKeyAuth.hedaer is not a field of ours" in cluster.sluiced.log()


def test_a_compaction_relists_and_a_restart_resumes_without_loss_or_duplicates(cluster):
    wait_until(cluster.served("/app/1"), timeout=20, what="the cluster's route serving")
    lists_before = cluster.fake.count("list", "httproutes")
    # The history is compacted while the watches are down: resuming gets 410 Gone
    # and the syncer lists again; what changed meanwhile is all there.
    # (the watches are held down meanwhile, so that the syncer cannot have seen the
    # last event before the compaction: it would then resume without a 410)
    cluster.fake.hold_watches()
    cluster.fake.apply("httproutes", route("during-1", "/d1"))
    cluster.fake.apply("httproutes", route("during-2", "/d2"))
    cluster.fake.delete("httproutes", "during-1")
    cluster.fake.compact()
    cluster.fake.release_watches()
    wait_until(lambda: cluster.fake.count("list", "httproutes") > lists_before, timeout=15, what="a new list")
    wait_until(lambda: names_in_store(cluster.sluiced) == ["during-2", "r"], timeout=10,
               what="the store the same as the cluster")
    assert "listing again" in cluster.sluiced.log()
    wait_until(cluster.served("/d2/x"), timeout=10, what="the route made meanwhile")
    # The API server goes away and comes back (its state kept): the watches resume.
    cluster.fake.stop()
    time.sleep(1)
    cluster.fake.start()
    cluster.fake.apply("httproutes", route("after", "/after"))
    wait_until(cluster.served("/after/x"), timeout=40, what="a route made after the restart")
    assert names_in_store(cluster.sluiced) == ["after", "during-2", "r"]
    # Many objects at once go through list pages (limit 500).
    lists = cluster.fake.count("list", "httproutes")
    cluster.fake.hold_watches()
    for i in range(1200):
        cluster.fake.apply("httproutes", route("bulk-%04d" % i, "/bulk/%d" % i))
    cluster.fake.compact()
    cluster.fake.release_watches()
    wait_until(lambda: cluster.fake.count("list", "httproutes") >= lists + 3, timeout=60, what="a paged list")
    wait_until(lambda: len(names_in_store(cluster.sluiced)) == 1203, timeout=60, what="every object mirrored")
    wait_until(cluster.served("/bulk/1199"), timeout=30, what="the last bulk route serving")


def test_a_bad_kubeconfig_is_named(make_sluiced, tmp_path):
    cases = [("missing", None, "cannot read"),
             ("no-context", "apiVersion: v1\nkind: Config\nclusters: []\n", "has no current-context"),
             ("no-cluster", "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n"
                            "  context: {cluster: nowhere, user: u}\n", "names cluster nowhere"),
             ("exec", "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n"
                      "  context: {cluster: k, user: u}\nclusters:\n- name: k\n  cluster: {server: 'https://x:6443'}\n"
                      "users:\n- name: u\n  user: {exec: {command: aws}}\n", "which sluiced does not run")]
    for name, text, word in cases:
        path = str(tmp_path / name)
        if text is not None:
            with open(path, "w") as f:
                f.write(text)
        state = str(tmp_path / ("state-" + name))
        cp = subprocess.run([SLUICED, "--state-dir", state, "--admin", "127.0.0.1:%d" % free_port(), "--kubernetes",
                             "--kubeconfig", path], capture_output=True, text=True, timeout=30)
        assert cp.returncode == 1, (name, cp.returncode, cp.stderr[-2000:])
        assert word in cp.stderr and "--kubernetes" in cp.stderr, (name, cp.stderr[-2000:])
    env = dict(os.environ)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    cp = subprocess.run([SLUICED, "--state-dir", str(tmp_path / "state-in"), "--admin", "127.0.0.1:%d" % free_port(),
                         "--kubernetes"], capture_output=True, text=True, timeout=30, env=env)
    assert cp.returncode == 1 and "not in a pod" in cp.stderr, cp.stderr[-2000:]


def test_watch_errors_back_off_and_forbidden_kinds_do_not_block(make_sluiced, tmp_path):
    """A watch the server ends at once with an ERROR event is retried with growing
    pauses, not in a loop; Namespaces the credentials may not read (403) neither
    stop the other kinds nor readiness."""
    c = Cluster(make_sluiced, tmp_path, forbidden=["namespaces"])
    try:
        wait_until(c.served("/app/1", "in-cluster"), timeout=30, what="the cluster's route without Namespaces")
        assert c.sluiced.get("/readyz").status_code == 200
        assert "forbidden (403)" in c.sluiced.log()
        c.fake.watch_errors["httproutes"] = 500
        c.fake.drop_watches()
        before = c.fake.count("watch", "httproutes")
        time.sleep(4)
        retries = c.fake.count("watch", "httproutes") - before
        assert 1 <= retries <= 8, retries  # 0.5, 1, 2, 4 s pauses with jitter: a handful, not thousands
        assert "etcdserver: request timed out" in c.sluiced.log()
        # Once the server is well again, changes flow.
        del c.fake.watch_errors["httproutes"]
        c.fake.apply("httproutes", route("later", "/later"))
        wait_until(c.served("/later/x"), timeout=40, what="a route after the errors")
    finally:
        c.close()


def test_sync_marks_belong_to_the_syncer(cluster, make_sluiced):
    """An object may not claim to be a cluster's (it would be locked); one left
    marked by an earlier run with --kubernetes is writable without it."""
    wait_until(lambda: cluster.sluiced.get(ROUTES + "/r").status_code == 200, timeout=20, what="the synced route")
    cluster.sluiced.stop()
    sluiced = make_sluiced("state")  # the same store, without --kubernetes
    sluiced.start()
    assert sluiced.delete(ROUTES + "/r").status_code == 200
    obj = route("claims", "/c")
    obj["metadata"]["annotations"] = {"sluice.dev/synced-from": "https://nowhere"}
    r = sluiced.post(ROUTES, obj)
    assert r.status_code == 422, r.text
    (cause,) = r.json()["details"]["causes"]
    assert cause["field"] == "metadata.annotations[sluice.dev/synced-from]"
    assert "Kubernetes syncer" in cause["message"]


def tls_cluster_config(path, fake, ca_pem, client=None, token_file=None):
    """A kubeconfig for an HTTPS fake: the CA inline (base64 folded at 64 columns,
    as some tools write it), a client certificate and key as files relative to the
    kubeconfig, or a token file."""
    folded = "\n".join(base64.b64encode(ca_pem).decode()[i:i + 64]
                       for i in range(0, len(base64.b64encode(ca_pem)), 64))
    user = {}
    if client:
        for name, data in (("client.crt", client.cert_pem), ("client.key", client.key_pem)):
            with open(os.path.join(os.path.dirname(path), name), "wb") as f:
                f.write(data)
        user = {"client-certificate": "client.crt", "client-key": "client.key"}
    if token_file:
        user = {"tokenFile": token_file}
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "tls",
           "contexts": [{"name": "tls", "context": {"cluster": "k", "user": "u"}}],
           "clusters": [{"name": "k", "cluster": {"server": fake.url, "certificate-authority-data": "FOLDED"}}],
           "users": [{"name": "u", "user": user}]}
    with open(path, "w") as f:  # (JSON is YAML; the CA data goes in as a folded block scalar)
        f.write(json.dumps(doc, indent=1).replace('"FOLDED"', '"' + folded.replace("\n", "\\n") + '"'))
    return path


def test_https_with_the_clusters_ca_client_certificates_and_a_rotating_token(make_sluiced, tmp_path):
    pki = PKI(str(tmp_path))
    server = pki.leaf("127.0.0.1", ["127.0.0.1"])
    client = pki.leaf("sluiced", eku="clientAuth")
    with open(pki.ca, "rb") as f:
        ca_pem = f.read()
    origin = Origin("tls-cluster")
    # Client certificates: the fake requires one signed by the CA.
    fake = FakeKube(token=None, tls=(server.cert_path, server.key_path, pki.ca))
    try:
        port = free_port()
        seed(fake, port, origin.port, "/tls")
        os.makedirs(str(tmp_path / "cert"))
        config = tls_cluster_config(str(tmp_path / "cert" / "kubeconfig"), fake, ca_pem, client=client)
        s = make_sluiced("state-cert", extra_args=["--kubernetes", "--kubeconfig", config])
        s.start()
        url = "http://127.0.0.1:%d/tls/1" % port
        wait_until(lambda: requests.get(url, timeout=2).headers.get("X-Origin") == "tls-cluster", timeout=20,
                   what="the route over HTTPS with a client certificate")
        s.stop()
    finally:
        fake.stop()
    # A token file, read again when it changes (the fake's token rotates with it).
    fake = FakeKube(token="first", tls=(server.cert_path, server.key_path, None))
    try:
        seed(fake, port, origin.port, "/tls")
        token_file = str(tmp_path / "token")
        with open(token_file, "w") as f:
            f.write("first\n")
        os.makedirs(str(tmp_path / "tok"))
        config = tls_cluster_config(str(tmp_path / "tok" / "kubeconfig"), fake, ca_pem, token_file=token_file)
        s = make_sluiced("state-token", extra_args=["--kubernetes", "--kubeconfig", config])
        s.start()
        wait_until(lambda: requests.get(url, timeout=2).status_code == 200, timeout=20, what="the route by token")
        fake.token = "second"
        time.sleep(1.1)  # (a new modification time)
        with open(token_file, "w") as f:
            f.write("second\n")
        fake.drop_watches()  # the next requests must carry the new token
        fake.apply("httproutes", route("r2", "/rotated"))
        wait_until(lambda: requests.get("http://127.0.0.1:%d/rotated/1" % port, timeout=2).status_code == 200,
                   timeout=30, what="a route read with the rotated token")
        s.stop()
    finally:
        fake.stop()
    # A server certificate from another CA is refused, whatever the system trusts.
    os.makedirs(str(tmp_path / "other"))
    other = PKI(str(tmp_path / "other"))
    stranger = other.leaf("127.0.0.1", ["127.0.0.1"])
    fake = FakeKube(token=None, tls=(stranger.cert_path, stranger.key_path, None))
    try:
        fake.apply("namespaces", {"metadata": {"name": "default"}})
        os.makedirs(str(tmp_path / "bad"))
        config = tls_cluster_config(str(tmp_path / "bad" / "kubeconfig"), fake, ca_pem, client=client)
        s = make_sluiced("state-bad", extra_args=["--kubernetes", "--kubeconfig", config])
        s.start(wait=False)
        wait_until(lambda: "SSL" in s.log() or "certificate" in s.log(), timeout=20, what="the refusal logged")
        assert fake.count("list", "namespaces") == 0  # (no request got through the handshake)
        s.stop()
    finally:
        fake.stop()
        origin.stop()


def test_in_cluster_configuration_from_the_pods_files(make_sluiced, tmp_path):
    """Without --kubeconfig: the API server from KUBERNETES_SERVICE_HOST/PORT over HTTPS,
    trusted by the service account's ca.crt, with its token (read again when the kubelet
    rotates it). The files are a pod's, in another directory (SLUICE_SERVICEACCOUNT_DIR)."""
    pki = PKI(str(tmp_path))
    server = pki.leaf("127.0.0.1", ["127.0.0.1"])
    origin = Origin("in-pod")
    fake = FakeKube(token="pod-token-1", tls=(server.cert_path, server.key_path, None))
    sa = tmp_path / "serviceaccount"
    os.makedirs(str(sa))
    with open(pki.ca, "rb") as src, open(str(sa / "ca.crt"), "wb") as dst:
        dst.write(src.read())
    with open(str(sa / "token"), "w") as f:
        f.write("pod-token-1")
    try:
        port = free_port()
        seed(fake, port, origin.port, "/pod")
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(fake.port),
               "SLUICE_SERVICEACCOUNT_DIR": str(sa)}
        s = make_sluiced("state-pod", extra_args=["--kubernetes"], env=env)
        s.start()
        wait_until(lambda: requests.get("http://127.0.0.1:%d/pod/1" % port, timeout=2).headers.get("X-Origin") ==
                   "in-pod", timeout=20, what="the route read with the pod's configuration")
        assert "in-cluster (https://127.0.0.1:%d)" % fake.port in s.log()
        # The kubelet rotates the token: the next requests carry the new one.
        fake.token = "pod-token-2"
        time.sleep(1.1)  # (a new modification time)
        with open(str(sa / "token"), "w") as f:
            f.write("pod-token-2")
        fake.drop_watches()
        fake.apply("httproutes", route("r2", "/rotated-in-pod"))
        wait_until(lambda: requests.get("http://127.0.0.1:%d/rotated-in-pod/1" % port, timeout=2).status_code == 200,
                   timeout=30, what="a route read with the rotated token")
        s.stop()
    finally:
        fake.stop()
        origin.stop()


def test_only_the_namespaces_given_are_read(make_sluiced, tmp_path):
    fake = FakeKube()
    origin = Origin("team")
    port = free_port()
    try:
        for ns in ("team-a", "team-b", "other"):
            fake.apply("namespaces", {"metadata": {"name": ns}})
            be, r = backend("be", origin.port), route("r-" + ns, "/" + ns)
            be["metadata"]["namespace"] = r["metadata"]["namespace"] = ns
            fake.apply("backends", be)
            fake.apply("httproutes", r)
        gw = gateway(port)
        gw["metadata"]["namespace"] = "team-a"
        gw["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "All"}}
        fake.apply("gateways", gw)
        for ns in ("team-b", "other"):  # (their routes attach to team-a's Gateway)
            r = route("r-" + ns, "/" + ns)
            r["metadata"]["namespace"] = ns
            r["spec"]["parentRefs"] = [{"name": "gw", "namespace": "team-a"}]
            fake.apply("httproutes", r)
        r = route("r-team-a", "/team-a")
        r["metadata"]["namespace"] = "team-a"
        fake.apply("httproutes", r)
        config = fake.kubeconfig(str(tmp_path / "kubeconfig"))
        sl = make_sluiced("state", extra_args=["--kubernetes", "--kubeconfig", config,
                                               "--kubernetes-namespaces", "team-a,team-b"])
        sl.start()

        def served(path):
            def ok():
                try:
                    return requests.get("http://127.0.0.1:%d%s/x" % (port, path), timeout=5).status_code == 200
                except requests.RequestException:
                    return False
            return ok

        def routes_in_store():
            return sorted("%s/%s" % (o["metadata"]["namespace"], o["metadata"]["name"])
                          for o in sl.get(path_for("httproutes")).json()["items"])
        wait_until(served("/team-b"), timeout=20, what="team-b's route through team-a's Gateway")
        assert served("/team-a")()
        assert routes_in_store() == ["team-a/r-team-a", "team-b/r-team-b"]
        assert requests.get("http://127.0.0.1:%d/other/x" % port, timeout=5).status_code == 404
        # Each namespace is read on its own (RBAC may grant only those), never the whole cluster.
        assert fake.count("list", "httproutes") >= 2
        assert "namespaced objects of the namespaces team-a,team-b" in sl.log()
        # A change in a namespace read comes through; one in another does not.
        r = route("r-team-b", "/team-b-moved")
        r["metadata"]["namespace"] = "team-b"
        r["spec"]["parentRefs"] = [{"name": "gw", "namespace": "team-a"}]
        fake.apply("httproutes", r)
        wait_until(served("/team-b-moved"), timeout=10, what="team-b's change")
        sl.stop()
        # Started again with team-a alone: team-b's objects from the first run go.
        sl2 = make_sluiced("state", extra_args=["--kubernetes", "--kubeconfig", config,
                                                "--kubernetes-namespaces", "team-a"])
        sl2.start()
        sl = sl2
        wait_until(lambda: routes_in_store() == ["team-a/r-team-a"], timeout=20, what="team-b's route removed")
        wait_until(lambda: requests.get("http://127.0.0.1:%d/team-b-moved/x" % port, timeout=5).status_code == 404,
                   timeout=10, what="team-b out of traffic")
    finally:
        fake.stop()
        origin.stop()
    cp = subprocess.run([SLUICED, "--state-dir", str(tmp_path / "state-bad"), "--admin", "127.0.0.1:%d" % free_port(),
                         "--kubernetes", "--kubeconfig", config, "--kubernetes-namespaces", "ok,Not_A_Namespace"],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 1 and '"Not_A_Namespace" is not a namespace name' in cp.stderr, cp.stderr[-2000:]


def test_secrets_our_objects_name_are_read_one_by_one(cluster):
    """An apiKeyAuth policy names an Opaque Secret: the syncer lists only TLS Secrets, so it
    is read by name, kept in step, and forgotten once nothing names it."""
    def key_secret(keys):
        return {"metadata": {"name": "api-keys", "namespace": "default"}, "type": "Opaque",
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in keys.items()}}
    cluster.fake.apply("secrets", key_secret({"alice": "key-a-123"}))
    cluster.fake.apply("secrets", {"metadata": {"name": "unrelated", "namespace": "default"}, "type": "Opaque",
                                   "data": {"x": base64.b64encode(b"y").decode()}})
    policy = {"metadata": {"name": "keys", "namespace": "default"},
              "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}],
                       "apiKeyAuth": {"secretRefs": [{"name": "api-keys"}]}}}
    cluster.fake.apply("trafficpolicies", policy)
    wait_until(lambda: cluster.get("/app/1").status_code == 401, timeout=20, what="apiKeyAuth in force")
    wait_until(lambda: cluster.get("/app/1", headers={"X-API-Key": "key-a-123"}).status_code == 200, timeout=20,
               what="the key from the named Secret")
    secrets = path_for("secrets", "default", group="", version="v1")
    stored = cluster.sluiced.get(secrets + "/api-keys").json()
    assert stored["metadata"]["annotations"]["sluice.dev/synced-by"] == "reference"
    assert cluster.sluiced.get(secrets + "/unrelated").status_code == 404  # (not named: not read)
    assert cluster.sluiced.delete(secrets + "/api-keys").status_code == 409  # (the cluster's)
    # The Secret changes in the cluster: the new key works within the poll period.
    cluster.fake.apply("secrets", key_secret({"alice": "key-a-999"}))
    wait_until(lambda: cluster.get("/app/1", headers={"X-API-Key": "key-a-999"}).status_code == 200, timeout=30,
               what="the changed key")
    # Nothing names it any more: it leaves the store.
    cluster.fake.delete("trafficpolicies", "keys")
    wait_until(lambda: cluster.sluiced.get(secrets + "/api-keys").status_code == 404, timeout=20,
               what="the Secret forgotten")
    # A Backend's kind-less caCertificateRef names a Secret (a BackendTLSPolicy's would name a ConfigMap).
    cluster.fake.apply("secrets", {"metadata": {"name": "be-ca", "namespace": "default"}, "type": "Opaque",
                                   "data": {"ca.crt": base64.b64encode(b"not used by this test").decode()}})
    tls_backend = backend("tls-be", 443)
    tls_backend["spec"]["static"].update({"protocol": "HTTPS", "tls": {"caCertificateRefs": [{"name": "be-ca"}]}})
    cluster.fake.apply("backends", tls_backend)
    wait_until(lambda: cluster.sluiced.get(secrets + "/be-ca").status_code == 200, timeout=20,
               what="the Backend's CA Secret read")


def test_tcproutes_are_mirrored_and_carry_traffic(make_sluiced, tmp_path):
    fake = FakeKube()
    origin = Origin("l4")
    port = free_port()
    try:
        fake.apply("namespaces", {"metadata": {"name": "default"}})
        fake.apply("gateways", {"metadata": {"name": "tcp", "namespace": "default"},
                                "spec": {"gatewayClassName": "sluice",
                                         "listeners": [{"name": "raw", "port": port, "protocol": "TCP"}]}})
        fake.apply("backends", backend("be", origin.port))
        fake.apply("tcproutes", {"metadata": {"name": "t", "namespace": "default"},
                                 "spec": {"parentRefs": [{"name": "tcp", "sectionName": "raw"}],
                                          "rules": [{"backendRefs": [{"group": SLUICE_GROUP, "kind": "Backend",
                                                                       "name": "be"}]}]}})
        config = fake.kubeconfig(str(tmp_path / "kubeconfig"))
        sl = make_sluiced("state", extra_args=["--kubernetes", "--kubeconfig", config])
        sl.start()

        def through():
            try:
                r = requests.get("http://127.0.0.1:%d/x" % port, timeout=5)
                return r.status_code == 200 and r.headers.get("X-Origin") == "l4"
            except requests.RequestException:
                return False
        wait_until(through, timeout=20, what="the cluster's TCPRoute carrying a connection")
        stored = sl.get(path_for("tcproutes", "default", "t", version="v1alpha2")).json()
        assert stored["metadata"]["annotations"]["sluice.dev/synced-from"] == fake.url
        # Its status goes back to the cluster (the only replica leads).
        wait_until(lambda: [p["controllerName"] for p in fake.get("tcproutes", "t").get("status", {}).get("parents", [])]
                   == ["sluice.dev/gateway-controller"], timeout=20, what="the TCPRoute's status in the cluster")
    finally:
        fake.stop()
        origin.stop()

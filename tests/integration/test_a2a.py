"""The A2A proxy: a route to a Backend of type A2A proxies an Agent2Agent agent,
its agent card rewritten to name the gateway (with the route's prefix and
URLRewrite taken into account). Driven by the official A2A JavaScript SDK
(@a2a-js/sdk 1.3.0: the agent on its server classes, tests/mcp/a2a_agent.mjs;
the client's ClientFactory, tests/mcp/a2a_client.mjs), pinned in
tests/mcp/package-lock.json."""

import json
import os
import shutil
import subprocess

import pytest
import requests

from conftest import free_port
from dataplane import BACKENDS, ROUTES, SLUICE_GROUP, created, make_dataplane, wait_until  # noqa: F401
from test_mcp import Everything

MCP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mcp")
NODE = shutil.which("node")
MISSING = None
if not NODE:
    MISSING = "skipped, because node is not installed (deploy/install-deps.sh --tests installs it)"
elif not os.path.isdir(os.path.join(MCP_DIR, "node_modules", "@a2a-js", "sdk")):
    MISSING = "skipped, because tests/mcp has no node_modules (tests/tools/install.sh runs npm ci there)"
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


class Agent:
    def __init__(self, steps=3, delay_ms=300):
        self.port = free_port()
        env = dict(os.environ, PORT=str(self.port), STEPS=str(steps), DELAY_MS=str(delay_ms))
        self.proc = subprocess.Popen([NODE, os.path.join(MCP_DIR, "a2a_agent.mjs")], env=env, cwd=MCP_DIR,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: Everything.listening(self), timeout=20, what="the agent on port %d" % self.port)

    stop = Everything.stop


@pytest.fixture
def agent():
    a = Agent()
    yield a
    a.stop()


def a2a_plane(make_dataplane, agent, prefix="/agents/counter", args=()):
    dp = make_dataplane(args=list(args))
    created(dp.sluiced.post(BACKENDS, {
        "apiVersion": SLUICE_GROUP + "/v1alpha1", "kind": "Backend",
        "metadata": {"name": "counter", "namespace": "default"},
        "spec": {"type": "A2A", "a2a": {"host": "127.0.0.1", "port": agent.port}}}))
    created(dp.sluiced.post(ROUTES, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "agents", "namespace": "default"},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
            "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch",
                                                                         "replacePrefixMatch": "/"}}}],
            "backendRefs": [{"group": SLUICE_GROUP, "kind": "Backend", "name": "counter"}]}]}}))
    card = dp.url + prefix + "/.well-known/agent-card.json"
    wait_until(lambda: requests.get(card, timeout=5).status_code == 200 and
               "X-Origin" not in requests.get(card, timeout=5).headers, timeout=15, what="the A2A route in force")
    return dp


def a2a(url, ops):
    out = subprocess.run([NODE, os.path.join(MCP_DIR, "a2a_client.mjs"), json.dumps({"url": url, "ops": ops})],
                         capture_output=True, timeout=120, cwd=MCP_DIR)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return json.loads(out.stdout)


def text(parts):
    return " ".join(p["content"]["value"] for p in parts if p.get("content", {}).get("$case") == "text")


def test_the_card_names_the_gateway_with_the_routes_prefix(make_dataplane, agent):
    dp = a2a_plane(make_dataplane, agent)
    r = requests.get(dp.url + "/agents/counter/.well-known/agent-card.json", timeout=10)
    card = r.json()
    # The agent says http://127.0.0.1:<its port>/a2a/jsonrpc; the client must call the gateway, under the
    # route's prefix (which the URLRewrite takes away again on the way to the agent).
    assert card["supportedInterfaces"][0]["url"] == dp.url + "/agents/counter/a2a/jsonrpc", card
    assert card["documentationUrl"] == dp.url + "/agents/counter/docs"
    assert card["provider"]["url"] == dp.url + "/agents/counter/about"
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert str(agent.port) not in r.text
    direct = requests.get("http://127.0.0.1:%d/.well-known/agent-card.json" % agent.port, timeout=10).json()
    assert direct["supportedInterfaces"][0]["url"].startswith("http://127.0.0.1:%d/" % agent.port)


def test_messages_and_a_streamed_task_through_the_gateway(make_dataplane, agent):
    dp = a2a_plane(make_dataplane, agent)
    got = a2a(dp.url + "/agents/counter/", [{"op": "card"}, {"op": "send", "text": "three little words"},
                                             {"op": "stream", "text": "one two"},
                                             {"op": "cancelStream", "text": "cancel-me"}])
    assert "connectError" not in got, got
    card, sent, streamed, cancelled = got["results"]
    assert card["supportedInterfaces"][0]["url"].startswith(dp.url + "/agents/counter/"), card
    assert sent["status"]["state"] == 3 and text(sent["status"]["message"]["parts"]) == "3 words", sent
    kinds = [e["kind"] for e in streamed["events"]]
    assert kinds == ["task", "artifactUpdate", "artifactUpdate", "artifactUpdate", "statusUpdate"], kinds
    assert text(streamed["events"][-1]["value"]["status"]["message"]["parts"]) == "2 words"
    # Streamed as the agent made them (300 ms apart), not held until the end.
    assert streamed["events"][-1]["at"] - streamed["events"][1]["at"] >= 400, streamed["events"]
    events = cancelled["events"]
    assert events[1]["cancelled"]["status"]["state"] == 5, events  # TASK_STATE_CANCELED
    assert events[-1]["kind"] == "statusUpdate" and events[-1]["value"]["status"]["state"] == 5


def test_a2a_backends_are_validated(make_dataplane):
    dp = make_dataplane()
    r = dp.sluiced.post(BACKENDS, {"apiVersion": SLUICE_GROUP + "/v1alpha1", "kind": "Backend",
                                   "metadata": {"name": "bad", "namespace": "default"},
                                   "spec": {"type": "A2A", "a2a": {"host": "127.0.0.1"}}})
    assert r.status_code == 422 and "spec.a2a.port" in r.text, r.text


def test_calls_are_logged_and_counted_by_method(make_dataplane, agent, tmp_path):
    access = str(tmp_path / "access.log")
    dp = a2a_plane(make_dataplane, agent, args=["--access-log", access])
    got = a2a(dp.url + "/agents/counter/", [{"op": "send", "text": "a b"}, {"op": "stream", "text": "c"}])
    assert "connectError" not in got and all("error" not in r for r in got["results"]), got

    def lines():
        with open(access) as f:
            return [json.loads(l) for l in f if '"a2a_method"' in l]
    wait_until(lambda: len(lines()) == 2, timeout=10, what="two log lines")
    assert sorted(e["a2a_method"] for e in lines()) == ["SendMessage", "SendStreamingMessage"], lines()

    def counted():
        text = dp.sluiced.get("/metrics").text
        return all('sluice_a2a_requests_total{gateway="default/gw",backend="default/counter",method="%s",'
                   'status="ok"} 1' % m in text for m in ("SendMessage", "SendStreamingMessage"))
    wait_until(counted, timeout=10, what="the A2A series")


def test_methods_authorised_and_limited_per_caller(make_dataplane, agent):
    from test_auth import SECRETS, secret
    from test_policies import POLICIES, policy, to_route
    dp = a2a_plane(make_dataplane, agent)
    created(dp.sluiced.post(SECRETS, secret("agent-keys", {"ops": "key-ops-1", "guest": "key-guest-1"})))
    created(dp.sluiced.post(POLICIES, policy("agent-access", [to_route("agents")],
                                             apiKeyAuth={"secretRefs": [{"name": "agent-keys"}]},
                                             mcpAuthorization={"defaultAction": "Allow", "rules": [
                                                 {"action": "Deny", "a2aMethods": ["CancelTask", "tasks/*"],
                                                  "clientIds": ["guest"]}]},
                                             mcpRateLimit={"requests": 2, "unit": "Hour", "key": "ClientId",
                                                           "tools": ["SendMessage"]})))
    url = dp.url + "/agents/counter/a2a/jsonrpc"

    def call(key, method, params, rid=1):
        return requests.post(url, json={"jsonrpc": "2.0", "id": rid, "method": method, "params": params},
                             headers={"X-API-Key": key, "A2A-Version": "1.0"}, timeout=20)

    def send(key):
        return call(key, "SendMessage", {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "a"}]}})

    wait_until(lambda: call("", "GetTask", {"id": "x"}).status_code == 401, timeout=10, what="the policy in force")
    # Cancelling is ops' business: the guest's CancelTask is refused before it reaches the agent.
    r = call("key-guest-1", "CancelTask", {"id": "nope"}, rid=5)
    assert r.status_code == 403 and r.json()["id"] == 5 and "CancelTask" in r.json()["error"]["message"], r.text
    # What the gateway cannot check does not pass: another content type is read all the same, a body
    # without a method is refused, and the REST binding (not JSON-RPC) is not served under these rules.
    body = json.dumps({"jsonrpc": "2.0", "id": 6, "method": "CancelTask", "params": {"id": "nope", "x": "\u0000"}})
    r = requests.post(url, data=body, headers={"X-API-Key": "key-guest-1", "Content-Type": "text/plain"}, timeout=10)
    assert r.status_code == 403, r.text
    r = requests.post(url, data="[1, 2]", headers={"X-API-Key": "key-guest-1"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600, r.text
    r = requests.get(dp.url + "/agents/counter/tasks/nope", headers={"X-API-Key": "key-ops-1"}, timeout=10)
    assert r.status_code == 403, r.text
    card = requests.get(dp.url + "/agents/counter/.well-known/agent-card.json", headers={"X-API-Key": "key-ops-1"},
                        timeout=10)
    assert card.status_code == 200 and card.json()["supportedInterfaces"][0]["url"].startswith(dp.url)
    r = call("key-ops-1", "CancelTask", {"id": "nope"})
    assert r.status_code == 200 and r.json()["error"]["code"] == -32001, r.text  # the agent's own answer
    # SendMessage twice an hour per client; other methods and other clients are not counted.
    assert [send("key-guest-1").status_code for _ in range(3)] == [200, 200, 429]
    r = send("key-guest-1")
    assert r.status_code == 429 and "SendMessage" in r.json()["error"]["message"]
    assert send("key-ops-1").status_code == 200
    assert call("key-guest-1", "GetTask", {"id": "x"}).status_code == 200

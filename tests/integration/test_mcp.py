"""The MCP gateway: a route to a Backend of type MCP serves one MCP endpoint
(Streamable HTTP) in front of several MCP servers. Driven by the official
TypeScript SDK's client (@modelcontextprotocol/sdk) against real MCP servers
(@modelcontextprotocol/server-everything over Streamable HTTP), both pinned in
tests/mcp/package-lock.json and installed by tests/tools/install.sh."""

import json
import os
import shutil
import socket
import subprocess
import time

import pytest
import requests

from conftest import free_port
from dataplane import BACKENDS, ROUTES, SLUICE_GROUP, created, make_dataplane, wait_until  # noqa: F401

MCP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mcp")
EVERYTHING = os.path.join(MCP_DIR, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")
NODE = shutil.which("node")
MISSING = None
if not NODE:
    MISSING = "skipped, because node is not installed (deploy/install-deps.sh --tests installs it)"
elif not os.path.isfile(EVERYTHING):
    MISSING = "skipped, because tests/mcp has no node_modules (tests/tools/install.sh runs npm ci there)"
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

ACCEPT = "application/json, text/event-stream"


class Everything:
    """One @modelcontextprotocol/server-everything process over Streamable HTTP."""

    def __init__(self):
        self.port = free_port()
        env = dict(os.environ, PORT=str(self.port))
        self.proc = subprocess.Popen([NODE, EVERYTHING, "streamableHttp"], env=env, cwd=MCP_DIR,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.listening, timeout=20, what="server-everything on port %d" % self.port)

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def servers():
    made = []

    def make(n=1):
        for _ in range(n):
            made.append(Everything())
        return made[-n:]
    yield make
    for s in made:
        s.stop()


def mcp_backend(name, targets, **mcp):
    spec = {"targets": targets}
    spec.update(mcp)
    return {"apiVersion": SLUICE_GROUP + "/v1alpha1", "kind": "Backend",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"type": "MCP", "mcp": spec}}


def mcp_route(name, backend, prefix="/mcp"):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw"}],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
                                "backendRefs": [{"group": SLUICE_GROUP, "kind": "Backend", "name": backend}]}]}}


def target(name, server, **extra):
    t = {"name": name, "host": "127.0.0.1", "port": server.port, "path": "/mcp"}
    t.update(extra)
    return t


def initialize(url, version="2025-11-25"):
    return requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                    "params": {"protocolVersion": version, "capabilities": {},
                                               "clientInfo": {"name": "probe", "version": "1"}}},
                         headers={"Accept": ACCEPT}, timeout=10)


def mcp_plane(make_dataplane, targets, workers=1, args=(), **mcp):
    dp = make_dataplane(workers=workers, args=list(args))
    created(dp.sluiced.post(BACKENDS, mcp_backend("tools", targets, **mcp)))
    created(dp.sluiced.post(ROUTES, mcp_route("mcp", "tools")))
    wait_until(lambda: "Mcp-Session-Id" in initialize(dp.url + "/mcp").headers, timeout=15,
               what="the MCP route in force")
    return dp


def client(url, ops, session=None, headers=None):
    cmd = {"url": url, "ops": ops, "session": session, "headers": headers or {}}
    out = subprocess.run([NODE, os.path.join(MCP_DIR, "mcp_client.mjs"), json.dumps(cmd)], capture_output=True,
                         timeout=120, cwd=MCP_DIR)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return json.loads(out.stdout)


def names(result, key="name"):
    return sorted(item[key] for item in result["items"])


def test_two_servers_behind_one_endpoint_merged_and_prefixed(make_dataplane, servers):
    a, b = servers(2)
    dp = mcp_plane(make_dataplane, [target("alpha", a), target("beta", b)])
    got = client(dp.url + "/mcp", [{"op": "listTools"}, {"op": "callTool", "name": "alpha_echo",
                                                         "arguments": {"message": "hi there"}},
                                   {"op": "callTool", "name": "beta_get-sum", "arguments": {"a": 2, "b": 40}},
                                   {"op": "listPrompts"}, {"op": "listResources"}])
    assert "connectError" not in got, json.dumps(got)[:3000]
    assert got.get("serverVersion", {}).get("name") == "sluice-mcp-gateway", json.dumps(got)[:3000]
    tools = names(got["results"][0])
    assert "alpha_echo" in tools and "beta_echo" in tools, tools
    assert all(t.startswith(("alpha_", "beta_")) for t in tools)
    assert len(tools) % 2 == 0 and tools.count("alpha_echo") == 1
    echo = got["results"][1]["result"]
    assert "hi there" in json.dumps(echo["content"]), echo
    assert "42" in json.dumps(got["results"][2]["result"]["content"]), got["results"][2]
    prompts = names(got["results"][3])
    assert "alpha_simple-prompt" in prompts and "beta_simple-prompt" in prompts, prompts
    resources = names(got["results"][4], "uri")
    assert any(r.startswith("alpha+demo://") for r in resources), resources[:5]
    # A tool's links to resources are in the client's terms too: reading one finds its server.
    got = client(dp.url + "/mcp", [{"op": "callTool", "name": "beta_get-resource-links", "arguments": {"count": 2}}])
    links = [c["uri"] for c in got["results"][0]["result"]["content"] if c["type"] == "resource_link"]
    assert len(links) == 2 and all(u.startswith("beta+") for u in links), links
    got = client(dp.url + "/mcp", [{"op": "readResource", "uri": links[0]}])
    assert got["results"][0]["contents"][0]["uri"] == links[0], got["results"][0]


class Paged:
    """One tests/mcp/paged_server.mjs process (the SDK's own server classes)."""

    def __init__(self, tools=30, page=10, port=None):
        self.port = port or free_port()
        env = dict(os.environ, PORT=str(self.port), TOOLS=str(tools), PAGE=str(page))
        self.proc = subprocess.Popen([NODE, os.path.join(MCP_DIR, "paged_server.mjs")], env=env, cwd=MCP_DIR,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: Everything.listening(self), timeout=20, what="paged_server on port %d" % self.port)

    stop = Everything.stop


@pytest.fixture
def paged():
    made = []

    def make(**kw):
        made.append(Paged(**kw))
        return made[-1]
    yield make
    for s in made:
        s.stop()


def rpc(url, method, params=None, session=None, rid=7, headers=None):
    h = {"Accept": ACCEPT}
    if session:
        h["Mcp-Session-Id"] = session
        h["MCP-Protocol-Version"] = "2025-11-25"
    h.update(headers or {})
    body = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if rid is not None:
        body["id"] = rid
    return requests.post(url, json=body, headers=h, timeout=30)


def message(r):
    """The JSON-RPC response of an answer (JSON, or the last event of a stream)."""
    if r.headers.get("Content-Type", "").startswith("text/event-stream"):
        events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
        return events[-1]
    return r.json()


def open_session(url):
    r = initialize(url)
    assert r.status_code == 200, r.text
    sid = r.headers["Mcp-Session-Id"]
    assert rpc(url, "notifications/initialized", session=sid, rid=None).status_code == 202
    return sid


def text_of(resp):
    return " ".join(c.get("text", "") for c in resp["result"]["content"])


def test_progress_notifications_are_streamed_as_they_happen(make_dataplane, servers):
    (a,) = servers(1)
    dp = mcp_plane(make_dataplane, [target("only", a)])
    got = client(dp.url + "/mcp", [{"op": "callTool", "name": "trigger-long-running-operation",
                                    "arguments": {"duration": 2, "steps": 4}, "progress": True},
                                   {"op": "listTools"}])
    assert "connectError" not in got, got
    # One target: names as the server gives them, and its own serverInfo and instructions.
    assert got["serverVersion"]["name"] == "mcp-servers/everything"
    assert "Everything Server" in got["instructions"]
    call = got["results"][0]
    assert [p["progress"] for p in call["progress"]] == [1, 2, 3, 4], call
    assert "completed" in json.dumps(call["result"]).lower(), call
    # The server sends a step every 0.5 s and the result after the fourth: the first step
    # reached the client while the call ran, not with its result.
    assert call["at"] - call["progress"][0]["at"] >= 1000, call
    assert "echo" in names(got["results"][1])


def test_server_requests_reach_the_client_and_its_answers_the_server(make_dataplane, servers):
    a, b = servers(2)
    dp = mcp_plane(make_dataplane, [target("a", a), target("b", b)], workers=2)
    cmd = {"url": dp.url + "/mcp", "answers": True, "session": None, "headers": {},
           "ops": [{"op": "callTool", "name": "b_trigger-sampling-request", "arguments": {"prompt": "hello"}},
                   {"op": "callTool", "name": "a_trigger-elicitation-request"}]}
    out = subprocess.run([NODE, os.path.join(MCP_DIR, "mcp_client.mjs"), json.dumps(cmd)], capture_output=True,
                         timeout=120, cwd=MCP_DIR)
    got = json.loads(out.stdout)
    assert "connectError" not in got, got
    sampled = got["results"][0]
    assert "sampled by the client" in json.dumps(sampled["result"]), sampled
    assert [x["method"] for x in got["asked"]][:1] == ["sampling/createMessage"], got["asked"]
    assert "elicitation/create" in [x["method"] for x in got["asked"]], got
    assert "decline" in json.dumps(got["results"][1]).lower(), got["results"][1]


def test_a_session_is_served_by_any_worker(make_dataplane, paged):
    p = paged(tools=5, page=10)
    dp = mcp_plane(make_dataplane, [target("p", p)], workers=2)
    url = dp.url + "/mcp"
    sid = open_session(url)
    for i in range(30):
        # A new connection each time: the kernel spreads them over both workers.
        r = rpc(url, "tools/call", {"name": "tool-%d" % (i % 5), "arguments": {"i": i}}, session=sid,
                headers={"Connection": "close"})
        assert r.status_code == 200, r.text
        assert text_of(message(r)) == 'tool-%d {"i":%d}' % (i % 5, i)
    doc = dp.sluiced.get("/debug/workers").json()
    (g,) = [x for x in doc["gateways"] if x["gateway"] == "default/gw"]
    assert len(g["workers"]) == 2
    # One session with the target, however many workers served it.
    stats = json.loads(text_of(message(rpc(url, "tools/call", {"name": "sessions"}, session=sid))))
    assert stats["initialized"] == 2, stats  # the mcp_plane probe's and this one


def test_sessions_that_are_missing_forged_or_ended(make_dataplane, paged):
    p = paged(tools=3)
    dp = mcp_plane(make_dataplane, [target("p", p)])
    url = dp.url + "/mcp"
    r = rpc(url, "tools/list")
    assert r.status_code == 400 and "Mcp-Session-Id" in r.json()["error"]["message"]
    sid = open_session(url)
    assert rpc(url, "tools/list", session=sid).status_code == 200
    forged = sid[:-6] + ("AAAAAA" if not sid.endswith("AAAAAA") else "BBBBBB")
    r = rpc(url, "tools/list", session=forged)
    assert r.status_code == 404 and r.json()["error"]["message"] == "Session not found"
    assert rpc(url, "tools/list", session="v1.not-a-session").status_code == 404
    # GET opens the session's stream of the target's messages.
    r = requests.get(url, headers={"Accept": "text/event-stream", "Mcp-Session-Id": sid}, stream=True, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream"), r.headers
    r.close()
    # A request without an id would reach every target unrouted and unchecked: refused.
    r = rpc(url, "tools/call", {"name": "tool-0"}, session=sid, rid=None)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600, r.text
    r = requests.delete(url, headers={"Mcp-Session-Id": sid}, timeout=10)
    assert r.status_code == 200
    assert rpc(url, "tools/list", session=sid).status_code == 404
    stats_sid = open_session(url)
    stats = json.loads(text_of(message(rpc(url, "tools/call", {"name": "sessions"}, session=stats_sid))))
    assert stats["open"] == 2, stats  # the probe's and this one: the deleted session ended at the target too
    r = requests.post(url, data=b"[1, 2", headers={"Accept": ACCEPT, "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32700
    r = requests.post(url, json=[{"jsonrpc": "2.0", "id": 1, "method": "ping"}], headers={"Accept": ACCEPT},
                      timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600


def test_a_target_that_dies_degrades_and_one_that_returns_is_initialised_again(make_dataplane, servers, paged):
    a, = servers(1)
    p = paged(tools=3)
    dp = mcp_plane(make_dataplane, [target("ev", a), target("p", p)], workers=2)
    url = dp.url + "/mcp"
    sid = open_session(url)
    before = names({"items": message(rpc(url, "tools/list", session=sid))["result"]["tools"]})
    assert "ev_echo" in before and "p_tool-0" in before
    port = p.port
    p.stop()
    r = rpc(url, "tools/list", session=sid)
    after = names({"items": message(r)["result"]["tools"]})
    assert "ev_echo" in after and not any(n.startswith("p_") for n in after), after
    r = rpc(url, "tools/call", {"name": "p_tool-1", "arguments": {}}, session=sid)
    assert r.status_code == 200 and message(r)["error"]["code"] == -32603
    assert "ev_echo" in names({"items": message(rpc(url, "tools/list", session=sid))["result"]["tools"]})
    # Back (a restart: it knows no session): the gateway opens a new one with it, the client sees nothing.
    p2 = paged(tools=3, port=port)
    r = rpc(url, "tools/call", {"name": "p_tool-1", "arguments": {"x": 1}}, session=sid)
    assert text_of(message(r)) == 'tool-1 {"x":1}', r.text
    for _ in range(10):
        # New connections, so both workers serve some: the new session is shared (common/mcp_table.c).
        r = rpc(url, "tools/call", {"name": "p_tool-2"}, session=sid, headers={"Connection": "close"})
        assert "result" in message(r), r.text
    stats = json.loads(text_of(message(rpc(url, "tools/call", {"name": "p_sessions"}, session=sid))))
    assert stats["initialized"] == 1, stats  # once, not at every request
    assert p2.proc.poll() is None


def test_pages_filters_and_a_clash_free_merge(make_dataplane, servers, paged):
    a, = servers(1)
    p = paged(tools=30, page=10)
    dp = mcp_plane(make_dataplane, [target("ev", a, include=["echo", "get-*"], exclude=["get-env"]),
                                    target("p", p, exclude=["forget-*"])])
    got = client(dp.url + "/mcp", [{"op": "listTools"}, {"op": "listToolsPage"},
                                   {"op": "callTool", "name": "ev_get-env"},
                                   {"op": "callTool", "name": "ev_get-sum", "arguments": {"a": 1, "b": 2}},
                                   {"op": "callTool", "name": "p_forget-sessions"}])
    listed = got["results"][0]
    tools = names(listed)
    assert listed["pages"] == 4, listed["pages"]  # the paged target's 32 tools in pages of 10, through the gateway's cursors
    assert sum(1 for t in tools if t.startswith("p_tool-")) == 30 and "p_sessions" in tools
    assert "p_forget-sessions" not in tools
    ev = [t for t in tools if t.startswith("ev_")]
    assert "ev_echo" in ev and "ev_get-sum" in ev and "ev_get-env" not in ev
    assert all(t == "ev_echo" or t.startswith("ev_get-") for t in ev), ev
    first = got["results"][1]
    assert first["nextCursor"].startswith("v1.") and len(first["tools"]) == len(ev) + 10
    assert "Unknown tool" in got["results"][2]["error"]
    assert "3" in json.dumps(got["results"][3]["result"]["content"])
    assert "Unknown tool" in got["results"][4]["error"]
    # A cursor the gateway did not give is refused.
    sid = got["sessionId"]
    r = rpc(dp.url + "/mcp", "tools/list", {"cursor": "v1.made-up"}, session=sid)
    assert r.status_code == 200 and message(r)["error"]["code"] == -32602


def test_prefix_modes(make_dataplane, servers, paged):
    a, = servers(1)
    p = paged(tools=2)
    dp = make_dataplane()
    created(dp.sluiced.post(BACKENDS, mcp_backend("never", [target("ev", a), target("p", p)], prefixMode="Never")))
    created(dp.sluiced.post(BACKENDS, mcp_backend("always", [target("ev", a)], prefixMode="Always")))
    created(dp.sluiced.post(ROUTES, mcp_route("never", "never", "/never")))
    created(dp.sluiced.post(ROUTES, mcp_route("always", "always", "/always")))
    for path in ("/never", "/always"):
        wait_until(lambda: "Mcp-Session-Id" in initialize(dp.url + path).headers, timeout=15, what=path)
    got = client(dp.url + "/never", [{"op": "listTools"}, {"op": "callTool", "name": "tool-1", "arguments": {"k": 2}},
                                     {"op": "callTool", "name": "echo", "arguments": {"message": "plain"}}])
    tools = names(got["results"][0])
    assert "echo" in tools and "tool-0" in tools and "sessions" in tools and tools.count("sessions") == 1
    assert text_of(got["results"][1]) == 'tool-1 {"k":2}'
    assert "plain" in text_of(got["results"][2])
    got = client(dp.url + "/always", [{"op": "listTools"}, {"op": "callTool", "name": "ev_echo",
                                                            "arguments": {"message": "x"}}])
    assert all(t.startswith("ev_") for t in names(got["results"][0]))
    assert "x" in text_of(got["results"][1])


def test_invalid_mcp_backends_are_refused_naming_the_field(make_dataplane):
    dp = make_dataplane()
    bad = mcp_backend("bad", [{"name": "t", "host": "127.0.0.1", "port": 1}], prefixMode="Sometimes")
    r = dp.sluiced.post(BACKENDS, bad)
    assert r.status_code == 422 and "spec.mcp.prefixMode" in r.text, r.text
    bad = mcp_backend("bad", [{"name": "t", "host": "127.0.0.1", "port": 1, "include": [""]}])
    r = dp.sluiced.post(BACKENDS, bad)
    assert r.status_code == 422 and "spec.mcp.targets[0].include[0]" in r.text, r.text
    bad = mcp_backend("bad", [{"name": "t", "host": "127.0.0.1", "port": 1}], sessionMaxAge="721h")
    r = dp.sluiced.post(BACKENDS, bad)
    assert r.status_code == 422 and "spec.mcp.sessionMaxAge" in r.text and "720h" in r.text, r.text
    bad = mcp_backend("bad", [{"name": "t", "host": "127.0.0.1", "port": 1}], sessionMaxAge="soon")
    r = dp.sluiced.post(BACKENDS, bad)
    assert r.status_code == 422 and "spec.mcp.sessionMaxAge" in r.text, r.text


def test_tools_authorised_by_jwt_claim_are_the_only_ones_listed_and_callable(make_dataplane, servers, paged,
                                                                             tmp_path):
    from jwt_tokens import Key, jwks
    from test_jwt import ISSUER, claims, provider
    from test_policies import POLICIES, policy, to_route
    key = Key("ES256", str(tmp_path), kid="mcp")
    a, = servers(1)
    p = paged(tools=3)
    dp = mcp_plane(make_dataplane, [target("ev", a), target("p", p)])
    authz = {"defaultAction": "Deny", "rules": [
        {"action": "Deny", "tools": ["ev_get-env"]},
        {"action": "Allow", "tools": ["ev_*", "p_tool-*"], "prompts": ["*"],
         "claims": [{"name": "groups", "values": ["tools"]}]},
        {"action": "Allow", "tools": ["ev_echo"]},
    ]}
    created(dp.sluiced.post(POLICIES, policy("mcp-auth", [to_route("mcp")],
                                             jwt={"providers": [provider({"inline": jwks(key)})]},
                                             mcpAuthorization=authz)))
    wait_until(lambda: initialize(dp.url + "/mcp").status_code == 401, timeout=10, what="the policy in force")
    url = dp.url + "/mcp"
    staff = {"Authorization": "Bearer " + key.token(claims(groups=["tools"]))}
    guest = {"Authorization": "Bearer " + key.token(claims(groups=["visitors"], sub="mallory"))}
    ops = [{"op": "listTools"}, {"op": "callTool", "name": "ev_get-sum", "arguments": {"a": 1, "b": 1}},
           {"op": "callTool", "name": "ev_get-env"}, {"op": "callTool", "name": "ev_echo",
                                                      "arguments": {"message": "ok"}},
           {"op": "callTool", "name": "p_sessions"}, {"op": "listPrompts"}]
    got = client(url, ops, headers=staff)
    assert "connectError" not in got, got
    tools = names(got["results"][0])
    assert "ev_get-sum" in tools and "p_tool-0" in tools and "ev_echo" in tools
    assert "ev_get-env" not in tools and "p_sessions" not in tools  # denied, and not allowed
    assert "2" in text_of(got["results"][1])
    assert "Unknown tool" in got["results"][2]["error"]
    assert "ok" in text_of(got["results"][3])
    assert "Unknown tool" in got["results"][4]["error"]
    assert got["results"][5]["items"], "staff see prompts"
    got = client(url, ops, headers=guest)
    assert names(got["results"][0]) == ["ev_echo"]
    assert "Unknown tool" in got["results"][1]["error"] and "Unknown tool" in got["results"][2]["error"]
    assert "ok" in text_of(got["results"][3])
    assert got["results"][5]["items"] == []
    # A session is its caller's: another caller who learns the id cannot use it.
    r = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "p", "version": "1"}}},
        headers=dict(staff, Accept=ACCEPT), timeout=10)
    staff_sid = r.headers["Mcp-Session-Id"]
    assert rpc(url, "tools/list", session=staff_sid, headers=staff).status_code == 200
    r = rpc(url, "tools/list", session=staff_sid, headers=guest)
    assert r.status_code == 404 and r.json()["error"]["message"] == "Session not found", r.text
    # Without a token there is no MCP at all.
    nobody = client(url, [], headers={})
    assert "401" in nobody["connectError"] or nobody.get("code") == 401, nobody
    # The 401 says where the OAuth metadata is (RFC 9728), which names the token issuer; the SDK finds it.
    r = initialize(url)
    metadata = dp.url + "/.well-known/oauth-protected-resource/mcp"
    assert r.status_code == 401 and 'resource_metadata="%s"' % metadata in r.headers["WWW-Authenticate"], r.headers
    doc = requests.get(metadata, timeout=10).json()
    assert doc["resource"] == url and doc["authorization_servers"] == [ISSUER], doc
    cmd = {"url": url, "noConnect": True, "ops": [{"op": "discoverResource"}]}
    out = subprocess.run([NODE, os.path.join(MCP_DIR, "mcp_client.mjs"), json.dumps(cmd)], capture_output=True,
                         timeout=60, cwd=MCP_DIR)
    found = json.loads(out.stdout)["results"][0]
    assert found.get("resource") == url and found.get("authorization_servers") == [ISSUER], found
    # A path that is no MCP route's is routed as any other (here: the plane's catch-all route to its origin).
    assert "X-Origin" in requests.get(dp.url + "/.well-known/oauth-protected-resource/elsewhere", timeout=10).headers
    r = dp.sluiced.post(POLICIES, policy("bad", [to_route("mcp")], mcpAuthorization={"rules": [{"action": "Maybe"}]}))
    assert r.status_code == 422 and "spec.mcpAuthorization.rules[0].action" in r.text, r.text


def test_the_get_stream_merges_the_targets_messages(make_dataplane, servers):
    a, b = servers(2)
    dp = mcp_plane(make_dataplane, [target("a", a), target("b", b)])
    # Simulated logging sends a message every 5 s on each session's GET stream (not in answer to a request).
    got = client(dp.url + "/mcp", [{"op": "setLoggingLevel", "level": "debug"},
                                   {"op": "callTool", "name": "a_toggle-simulated-logging"},
                                   {"op": "callTool", "name": "b_toggle-simulated-logging"},
                                   {"op": "wait", "ms": 6500}])
    assert "connectError" not in got, got
    assert "Started simulated" in text_of(got["results"][1]), got["results"][1]
    assert len(got["logs"]) >= 2, got["logs"]
    # A GET without a session is refused; one that takes no stream gets 405.
    url = dp.url + "/mcp"
    assert requests.get(url, headers={"Accept": "text/event-stream"}, timeout=10).status_code == 400
    assert requests.get(url, headers={"Accept": "application/json"}, timeout=10).status_code == 405


def test_metrics_and_access_log_per_call(make_dataplane, servers, paged, tmp_path):
    a, = servers(1)
    p = paged(tools=2)
    access = str(tmp_path / "access.log")
    dp = mcp_plane(make_dataplane, [target("ev", a), target("p", p)], args=["--access-log", access])
    got = client(dp.url + "/mcp", [{"op": "callTool", "name": "ev_echo", "arguments": {"message": "m"}},
                                   {"op": "callTool", "name": "ev_echo", "arguments": {"message": "n"}},
                                   {"op": "callTool", "name": "p_tool-9"},
                                   {"op": "listTools"}])
    assert "connectError" not in got, got
    p.stop()
    got = client(dp.url + "/mcp", [{"op": "callTool", "name": "p_tool-1"}])

    def series(text, **labels):
        total = 0
        for line in text.splitlines():
            if line.startswith("sluice_mcp_requests_total{") and all('%s="%s"' % kv in line for kv in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def counted():
        text = dp.sluiced.get("/metrics").text
        return (series(text, backend="default/tools", target="ev", method="tools/call", name="ev_echo",
                       status="ok") == 2 and
                series(text, target="p", method="tools/call", name="p_tool-9", status="error") == 1 and
                series(text, method="tools/list", status="ok") >= 1 and
                series(text, method="tools/call", name="p_tool-1", status="failed") == 1 and
                "sluice_mcp_request_duration_seconds_bucket{" in text)
    wait_until(counted, timeout=10, what="the MCP series")

    def lines():
        with open(access) as f:
            return [json.loads(l) for l in f if '"mcp_method"' in l]
    wait_until(lambda: any(e.get("mcp_name") == "p_tool-1" for e in lines()), timeout=10, what="the log lines")
    echo = [e for e in lines() if e.get("mcp_name") == "ev_echo"]
    assert len(echo) == 2 and echo[0]["mcp_target"] == "ev" and echo[0]["mcp_status"] == "ok", echo
    assert echo[0]["mcp_method"] == "tools/call" and echo[0]["upstream"] == "mcp" and echo[0]["status"] == 200
    failed = [e for e in lines() if e.get("mcp_name") == "p_tool-1"][0]
    assert failed["mcp_status"] == "failed" and failed["mcp_target"] == "p", failed


def test_rate_limits_per_client_and_tool(make_dataplane, servers):
    from test_policies import POLICIES, policy, to_route
    a, = servers(1)
    dp = mcp_plane(make_dataplane, [target("ev", a)], prefixMode="Always")
    created(dp.sluiced.post(POLICIES, policy("tool-limits", [to_route("mcp")], mcpRateLimit={
        "requests": 2, "unit": "Hour", "key": "Header", "header": "X-Team", "tools": ["ev_echo", "ev_get-*"]})))
    url = dp.url + "/mcp"

    def echo(sid, team):
        return rpc(url, "tools/call", {"name": "ev_echo", "arguments": {"message": "x"}}, session=sid,
                   headers={"X-Team": team})

    sid = open_session(url)
    wait_until(lambda: echo(sid, "probe").status_code == 200 and echo(sid, "probe").status_code == 200 and
               echo(sid, "probe").status_code == 429, timeout=10, what="the limit in force")
    assert [echo(sid, "red").status_code for _ in range(3)] == [200, 200, 429]
    r = echo(sid, "red")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert r.json()["error"]["code"] == -32000 and "ev_echo" in r.json()["error"]["message"]
    # Another tool of the same client has a bucket of its own; a tool it does not count, none; another team, its own.
    sums = [rpc(url, "tools/call", {"name": "ev_get-sum", "arguments": {"a": 1, "b": 2}}, session=sid,
                headers={"X-Team": "red"}).status_code for _ in range(3)]
    assert sums == [200, 200, 429], sums
    tiny = [rpc(url, "tools/call", {"name": "ev_toggle-subscriber-updates"}, session=sid,
                headers={"X-Team": "red"}).status_code for _ in range(2)]
    assert tiny == [200, 200], tiny
    others = [rpc(url, "tools/list", session=sid, headers={"X-Team": "red"}).status_code for _ in range(4)]
    assert others == [200] * 4, others  # lists are not tool calls
    assert echo(sid, "blue").status_code == 200
    r = dp.sluiced.post(POLICIES, policy("bad", [to_route("mcp")], mcpRateLimit={
        "requests": 1, "unit": "Minute", "scope": "Global"}))
    assert r.status_code == 422 and "spec.mcpRateLimit.scope" in r.text, r.text


def client_v2(url, ops, mode="auto", headers=None):
    cmd = {"url": url, "ops": ops, "mode": mode, "headers": headers or {}}
    out = subprocess.run([NODE, os.path.join(MCP_DIR, "mcp_client_v2.mjs"), json.dumps(cmd)], capture_output=True,
                         timeout=120, cwd=MCP_DIR)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return json.loads(out.stdout)


def test_the_2026_07_28_client_speaks_the_stateless_version_through_the_gateway(make_dataplane, servers, paged):
    a, = servers(1)
    p = paged(tools=3)
    dp = mcp_plane(make_dataplane, [target("ev", a), target("p", p)], workers=2)
    url = dp.url + "/mcp"
    ops = [{"op": "listTools"}, {"op": "callTool", "name": "ev_echo", "arguments": {"message": "modern"}},
           {"op": "callTool", "name": "p_tool-2", "arguments": {"k": 1}},
           {"op": "callTool", "name": "ev_trigger-long-running-operation", "arguments": {"duration": 1, "steps": 2},
            "progress": True}]
    got = client_v2(url, ops)
    assert "connectError" not in got, got
    assert got["protocolVersion"] == "2026-07-28", got  # the probe found a modern server: no initialize
    assert got["serverVersion"]["name"] == "sluice-mcp-gateway"
    tools = names(got["results"][0])
    assert "ev_echo" in tools and "p_tool-0" in tools
    assert "modern" in text_of(got["results"][1])
    assert text_of(got["results"][2]) == 'p_tool-2 {"k":1}'.replace("p_tool-2", "tool-2")
    assert [x["progress"] for x in got["results"][3]["progress"]] == [1, 2], got["results"][3]
    # An anonymous caller shares no session with the targets: each request's own ends with it (open: the
    # plane's probe's, and the one serving this very call).
    def sessions(headers=None):
        """The paged target's counts, asked with one 2026-07-28 request (no discover of its own)."""
        meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}
        h = {"Accept": ACCEPT, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
             "Mcp-Name": "p_sessions"}
        h.update(headers or {})
        r = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                     "params": {"name": "p_sessions", "_meta": meta}}, headers=h, timeout=10)
        return json.loads(text_of(message(r)))
    # (The ends are sent as the answers go: a moment may pass before the target has them.)
    wait_until(lambda: sessions()["open"] == 2, timeout=10, what="the anonymous sessions ended")
    stats = sessions()
    # An authenticated caller's sessions are shared by its requests, whichever worker and process.
    from test_auth import SECRETS, secret
    from test_policies import POLICIES, policy, to_route
    created(dp.sluiced.post(SECRETS, secret("mcp-keys", {"team-a": "key-a"})))
    created(dp.sluiced.post(POLICIES, policy("keys", [to_route("mcp")], apiKeyAuth={"secretRefs": [{"name": "mcp-keys"}]})))
    wait_until(lambda: initialize(url).status_code == 401, timeout=10, what="apiKeyAuth in force")
    key = {"X-API-Key": "key-a"}
    base = sessions(key)  # (this makes the caller's shared session with the paged target)
    for _ in range(2):
        got = client_v2(url, [{"op": "callTool", "name": "p_tool-1"}, {"op": "callTool", "name": "p_tool-0"}],
                        headers=key)
        assert got["protocolVersion"] == "2026-07-28" and "error" not in got["results"][1], got
    # Both clients' calls used the shared session: the only new ones were their discovers', ended since.
    wait_until(lambda: sessions(key)["open"] == base["open"], timeout=10, what="the discovers' sessions ended")
    assert sessions(key)["initialized"] - base["initialized"] == 2, (base, sessions(key))
    # The rules of the version: headers that disagree with the body are refused; a legacy client still works.
    h = {"Accept": ACCEPT, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list", "X-API-Key": "key-a"}
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    r = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "prompts/list", "params": {"_meta": meta}},
                      headers=h, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020, r.text
    r = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}, headers=h, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] in (-32020, -32602), r.text
    meta9 = dict(meta, **{"io.modelcontextprotocol/protocolVersion": "2099-01-01"})
    r = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta9}},
                      headers=dict(h, **{"MCP-Protocol-Version": "2099-01-01"}), timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32022, r.text
    assert r.json()["error"]["data"]["supported"] == ["2026-07-28"]
    r = requests.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}},
                      headers=h, timeout=10)
    res = message(r)["result"]
    assert res["resultType"] == "complete" and res["ttlMs"] == 0 and "ev_echo" in [t["name"] for t in res["tools"]]
    assert client(url, [{"op": "listTools"}], headers=key)["results"][0]["items"]  # a legacy client, alongside
    # 2026-07-28 has no GET stream and no DELETE.
    assert requests.delete(url, headers=dict(h), timeout=10).status_code == 405


def test_a_client_that_leaves_cancels_the_call_at_the_target(make_dataplane, paged):
    p = paged(tools=1)
    dp = mcp_plane(make_dataplane, [target("p", p)])
    url = dp.url + "/mcp"
    sid = open_session(url)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(url, json={"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "slow"}},
                      headers={"Accept": ACCEPT, "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"},
                      timeout=1)

    def cancelled():
        stats = json.loads(text_of(message(rpc(url, "tools/call", {"name": "sessions"}, session=sid))))
        return stats["cancelled"] == 1
    wait_until(cancelled, timeout=10, what="the target told of the cancellation")

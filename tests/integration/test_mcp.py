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


def mcp_plane(make_dataplane, targets, workers=1, **mcp):
    dp = make_dataplane(workers=workers)
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

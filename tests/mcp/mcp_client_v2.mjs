// Drives the gateway with the v2 MCP client SDK (@modelcontextprotocol/client,
// pinned in package-lock.json), with version negotiation on (mode "auto"): the
// client probes for 2026-07-28 (server/discover) and uses it when the server
// speaks it, else falls back to initialize (2025-11-25).
// Usage: node mcp_client_v2.mjs '{"url": "...", "ops": [{"op": "listTools"}, {"op": "callTool", ...}]}'
// Prints {"protocolVersion", "serverVersion", "results": [...]}.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const cmd = JSON.parse(process.argv[2]);
const client = new Client({ name: "sluice-v2-client", version: "2.0.0" },
                          { capabilities: {}, versionNegotiation: { mode: cmd.mode || "auto" } });
const transport = new StreamableHTTPClientTransport(new URL(cmd.url), { requestInit: { headers: cmd.headers || {} } });
const out = { results: [] };
try {
    await client.connect(transport);
    out.protocolVersion = client.getNegotiatedProtocolVersion();
    out.serverVersion = client.getServerVersion();
    out.capabilities = client.getServerCapabilities();
    for (const op of cmd.ops || []) {
        try {
            if (op.op === "listTools") {
                const all = [];
                let cursor;
                do {
                    const page = await client.listTools(cursor ? { cursor } : {});
                    all.push(...page.tools);
                    cursor = page.nextCursor;
                } while (cursor);
                out.results.push({ items: all });
            } else if (op.op === "callTool") {
                const progress = [];
                const result = await client.callTool({ name: op.name, arguments: op.arguments || {} },
                    op.progress ? { onprogress: (p) => progress.push({ ...p, at: Date.now() }) } : undefined);
                out.results.push({ result, progress, at: Date.now() });
            } else if (op.op === "listPrompts") {
                out.results.push(await client.listPrompts());
            } else {
                throw new Error("unknown op " + op.op);
            }
        } catch (e) {
            out.results.push({ error: String(e && e.message || e), code: e && e.code });
        }
    }
} catch (e) {
    out.connectError = String(e && e.message || e);
}
console.log(JSON.stringify(out));
await client.close().catch(() => {});
process.exit(0);

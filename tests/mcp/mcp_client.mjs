// Drives an MCP server (here: the sluice gateway) with the official TypeScript
// SDK's client (@modelcontextprotocol/sdk, pinned in package-lock.json), as an
// application would. Usage: node mcp_client.mjs '<json command>'
//   {"url": "http://127.0.0.1:PORT/mcp", "session": "<id to resume, optional>",
//    "ops": [{"op": "listTools"}, {"op": "callTool", "name": "...", "arguments": {...}, "progress": true}, ...]}
// Prints one JSON object: {"sessionId", "serverVersion", "capabilities", "instructions", "results": [...]};
// an op that fails gives {"error": message, "code": code} in its place and the rest go on.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { discoverOAuthProtectedResourceMetadata } from "@modelcontextprotocol/sdk/client/auth.js";
import { CreateMessageRequestSchema, ElicitRequestSchema, LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const cmd = JSON.parse(process.argv[2]);
// "answers": the client offers sampling and elicitation, and answers the servers' requests itself.
const capabilities = cmd.answers ? { sampling: {}, elicitation: {} } : {};
const client = new Client({ name: "sluice-test-client", version: "1.0.0" }, { capabilities });
const asked = [];
const logs = []; // notifications/message, from any stream (the GET stream among them)
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push({ ...n.params, at: Date.now() }));
if (cmd.answers) {
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
        asked.push({ method: "sampling/createMessage", at: Date.now() });
        return { model: "test-model", role: "assistant", content: { type: "text", text: "sampled by the client" } };
    });
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
        asked.push({ method: "elicitation/create", at: Date.now() });
        return { action: "decline" };
    });
}
const transport = new StreamableHTTPClientTransport(new URL(cmd.url), {
    sessionId: cmd.session || undefined, // (given: the session is resumed, no initialize)
    requestInit: { headers: cmd.headers || {} },
});

async function all(list, key, params) {
    const out = [];
    let cursor;
    let pages = 0;
    do {
        const page = await list({ ...(params || {}), cursor });
        out.push(...page[key]);
        cursor = page.nextCursor;
        pages++;
    } while (cursor && pages < 100);
    return { items: out, pages };
}

async function run(op) {
    switch (op.op) {
    case "listTools": return await all((p) => client.listTools(p), "tools");
    case "listPrompts": return await all((p) => client.listPrompts(p), "prompts");
    case "listResources": return await all((p) => client.listResources(p), "resources");
    case "listResourceTemplates": return await all((p) => client.listResourceTemplates(p), "resourceTemplates");
    case "listToolsPage": return await client.listTools(op.cursor ? { cursor: op.cursor } : {});
    case "callTool": {
        const progress = [];
        const options = op.progress ? { onprogress: (p) => progress.push({ ...p, at: Date.now() }) } : {};
        const result = await client.callTool({ name: op.name, arguments: op.arguments || {} }, undefined, options);
        return { result, progress, at: Date.now() };
    }
    case "getPrompt": return await client.getPrompt({ name: op.name, arguments: op.arguments || {} });
    case "readResource": return await client.readResource({ uri: op.uri });
    case "complete": return await client.complete({ ref: op.ref, argument: op.argument });
    case "ping": return await client.ping();
    case "discoverResource": return await discoverOAuthProtectedResourceMetadata(new URL(cmd.url));
    case "wait": await new Promise((r) => setTimeout(r, op.ms)); return { waited: op.ms };
    case "setLoggingLevel": return await client.setLoggingLevel(op.level);
    case "terminate": await transport.terminateSession(); return { terminated: true };
    default: throw new Error("unknown op " + op.op);
    }
}

const out = { results: [] };
try {
    if (!cmd.noConnect) // ("noConnect": only ops that need no session, like discoverResource)
        await client.connect(transport);
    out.sessionId = transport.sessionId;
    out.serverVersion = client.getServerVersion();
    out.capabilities = client.getServerCapabilities();
    out.instructions = client.getInstructions();
    out.protocolVersion = transport.protocolVersion;
    for (const op of cmd.ops || []) {
        try {
            out.results.push(await run(op));
        } catch (e) {
            out.results.push({ error: String(e && e.message || e), code: e && e.code });
        }
    }
} catch (e) {
    out.connectError = String(e && e.message || e);
    out.code = e && e.code;
}
out.asked = asked;
out.logs = logs;
console.log(JSON.stringify(out));
await client.close().catch(() => {});
process.exit(0);

// A second kind of MCP server for the gateway's tests and benchmark, built on
// the official SDK's server classes (@modelcontextprotocol/sdk: Server and
// StreamableHTTPServerTransport, stateful sessions): TOOLS tools named
// "<PREFIX>tool-<i>", listed in pages of PAGE (cursors), each answering
// "<name> <arguments as JSON>"; "sessions" answers how many sessions were
// initialised and are open and how many "slow" calls were cancelled; "slow"
// answers after 5 s unless cancelled; "forget-sessions" drops every session, so the
// next request of each gets 404 (as after a restart of the server).
// Usage: PORT=... TOOLS=100 PAGE=25 node paged_server.mjs
import http from "node:http";
import { randomUUID } from "node:crypto";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema, isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";

const port = Number(process.env.PORT || 3200);
const count = Number(process.env.TOOLS || 100);
const page = Number(process.env.PAGE || 25);
const prefix = process.env.PREFIX || "";
const transports = new Map();
let initialized = 0;
let cancelled = 0; // "slow" calls whose client cancelled them (notifications/cancelled)

const tools = [];
for (let i = 0; i < count; i++)
    tools.push({ name: `${prefix}tool-${i}`, description: `tool number ${i}`, inputSchema: { type: "object" } });
tools.push({ name: "sessions", description: "sessions initialised and open", inputSchema: { type: "object" } });
tools.push({ name: "forget-sessions", description: "drops every session", inputSchema: { type: "object" } });
tools.push({ name: "slow", description: "answers after 5 s, unless cancelled first", inputSchema: { type: "object" } });

function makeServer() {
    const server = new Server({ name: "paged-server", version: "1.0.0" }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async (req) => {
        const from = req.params?.cursor ? Number(Buffer.from(req.params.cursor, "base64").toString()) : 0;
        const to = Math.min(from + page, tools.length);
        const out = { tools: tools.slice(from, to) };
        if (to < tools.length)
            out.nextCursor = Buffer.from(String(to)).toString("base64");
        return out;
    });
    server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
        const name = req.params.name;
        if (name === "sessions")
            return { content: [{ type: "text", text: JSON.stringify({ initialized, open: transports.size, cancelled }) }] };
        if (name === "slow") {
            await new Promise((resolve) => {
                const timer = setTimeout(resolve, 5000);
                extra.signal.addEventListener("abort", () => { cancelled++; clearTimeout(timer); resolve(); });
            });
            return { content: [{ type: "text", text: "slow done" }] };
        }
        if (name === "forget-sessions") {
            transports.clear();
            return { content: [{ type: "text", text: "forgotten" }] };
        }
        if (!tools.some((t) => t.name === name))
            throw new Error(`unknown tool ${name}`);
        return { content: [{ type: "text", text: `${name} ${JSON.stringify(req.params.arguments || {})}` }] };
    });
    return server;
}

http.createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req)
        body += chunk;
    let parsed;
    try {
        parsed = body ? JSON.parse(body) : undefined;
    } catch {
        res.writeHead(400).end();
        return;
    }
    const sid = req.headers["mcp-session-id"];
    let transport = sid ? transports.get(sid) : undefined;
    if (!transport) {
        if (sid || req.method !== "POST" || !isInitializeRequest(parsed)) {
            res.writeHead(sid ? 404 : 400, { "Content-Type": "application/json" });
            res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } }));
            return;
        }
        transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            onsessioninitialized: (id) => {
                initialized++;
                transports.set(id, transport);
            },
        });
        transport.onclose = () => transport.sessionId && transports.delete(transport.sessionId);
        await makeServer().connect(transport);
    }
    await transport.handleRequest(req, res, parsed);
}).listen(port, "127.0.0.1");

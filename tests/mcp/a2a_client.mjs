// Drives an A2A agent (here: through the sluice gateway) with the official A2A
// JavaScript SDK's client (@a2a-js/sdk: ClientFactory, which reads the agent
// card and talks to the interface URL the card names).
// Usage: node a2a_client.mjs '{"url": "http://127.0.0.1:PORT/agents/counter", "ops": [...]}'
//   {"op": "card"}                                 the card the client got
//   {"op": "send", "text": "..."}                  message/send: the task (or message) it returned
//   {"op": "stream", "text": "..."}                SendStreamingMessage: every event, with the time it arrived
//   {"op": "cancelStream", "text": "cancel-me"}    a stream whose task is cancelled after its first event
// Prints {"results": [...]}; a failed op gives {"error": message}.
import { randomUUID } from "node:crypto";
import { ClientFactory } from "@a2a-js/sdk/client";
import { Role } from "@a2a-js/sdk";

const cmd = JSON.parse(process.argv[2]);
const factory = new ClientFactory();
const out = { results: [] };
const message = (text) => ({ message: { messageId: randomUUID(), role: Role.ROLE_USER, parts: [{ content: { $case: "text", value: text }, metadata: {}, filename: "", mediaType: "text/plain" }],
                                        contextId: undefined, taskId: undefined, extensions: [], metadata: {},
                                        referenceTaskIds: [] } });
try {
    const client = await factory.createFromUrl(cmd.url);
    for (const op of cmd.ops || []) {
        try {
            if (op.op === "card") {
                out.results.push(await client.getAgentCard());
            } else if (op.op === "send") {
                out.results.push(await client.sendMessage(message(op.text)));
            } else if (op.op === "stream" || op.op === "cancelStream") {
                const events = [];
                for await (const ev of client.sendMessageStream(message(op.text))) {
                    events.push({ kind: ev.payload?.$case, value: ev.payload?.value, at: Date.now() });
                    if (op.op === "cancelStream" && events.length === 1) {
                        const id = ev.payload?.value?.id ?? ev.payload?.value?.taskId;
                        events.push({ cancelled: await client.cancelTask({ id, metadata: {} }) });
                    }
                }
                out.results.push({ events });
            } else {
                throw new Error("unknown op " + op.op);
            }
        } catch (e) {
            out.results.push({ error: String(e && e.message || e) });
        }
    }
} catch (e) {
    out.connectError = String(e && e.message || e);
}
console.log(JSON.stringify(out, (k, v) => (typeof v === "bigint" ? Number(v) : v)));
process.exit(0);

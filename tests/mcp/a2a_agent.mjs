// An A2A agent for the gateway's tests, built on the official A2A JavaScript
// SDK (@a2a-js/sdk, server side: DefaultRequestHandler, jsonRpcHandler,
// agentCardHandler on express). It answers a message with a task that works in
// STEPS steps (an artifact each, DELAY_MS apart) and completes; a message whose
// text is "cancel-me" waits until it is cancelled. The card names the agent's
// own address (http://127.0.0.1:PORT/a2a/jsonrpc), which the gateway rewrites.
// Usage: PORT=... node a2a_agent.mjs
import express from "express";
import { randomUUID } from "node:crypto";
import { AgentEvent, DefaultRequestHandler, InMemoryTaskStore } from "@a2a-js/sdk/server";
import { UserBuilder, agentCardHandler, jsonRpcHandler } from "@a2a-js/sdk/server/express";
import { Role, TaskState } from "@a2a-js/sdk";

const port = Number(process.env.PORT || 4100);
const steps = Number(process.env.STEPS || 3);
const delay = Number(process.env.DELAY_MS || 200);
const base = `http://127.0.0.1:${port}`;

const card = {
    name: "sluice test agent",
    description: "Counts the words of a message, one step at a time.",
    version: "1.0.0",
    supportedInterfaces: [{ url: `${base}/a2a/jsonrpc`, protocolBinding: "JSONRPC", protocolVersion: "1.0" }],
    provider: { organization: "sluice tests", url: `${base}/about` },
    documentationUrl: `${base}/docs`,
    capabilities: { streaming: true, pushNotifications: false },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ["text/plain"],
    defaultOutputModes: ["text/plain"],
    skills: [{ id: "count", name: "count words", description: "counts words", tags: ["test"], examples: [],
               inputModes: [], outputModes: [], securityRequirements: [] }],
    signatures: [],
};

const cancelled = new Set();
const executor = {
    async execute(ctx, bus) {
        const text = (ctx.userMessage?.parts || []).map((p) => (p.content?.$case === "text" ? p.content.value : "")).join(" ");
        const taskId = ctx.taskId, contextId = ctx.contextId;
        bus.publish(AgentEvent.task({ id: taskId, contextId, status: { state: TaskState.TASK_STATE_SUBMITTED },
                                      history: [ctx.userMessage], artifacts: [], metadata: {} }));
        const total = text === "cancel-me" ? 1000 : steps;
        for (let i = 1; i <= total; i++) {
            if (cancelled.has(taskId))
                break;
            await new Promise((r) => setTimeout(r, delay));
            bus.publish(AgentEvent.artifactUpdate({ taskId, contextId, append: false, lastChunk: i === total,
                artifact: { artifactId: `step-${i}`, name: `step ${i}`, parts: [{ content: { $case: "text", value: `step ${i} of ${total}` }, metadata: {}, filename: "", mediaType: "text/plain" }] } }));
        }
        const words = text.split(/\s+/).filter(Boolean).length;
        bus.publish(AgentEvent.statusUpdate({ taskId, contextId, metadata: {},
            status: { state: cancelled.has(taskId) ? TaskState.TASK_STATE_CANCELED : TaskState.TASK_STATE_COMPLETED,
                      message: { messageId: randomUUID(), role: Role.ROLE_AGENT, taskId, contextId,
                                 parts: [{ content: { $case: "text", value: `${words} words` }, metadata: {}, filename: "", mediaType: "text/plain" }] } } }));
        bus.finished();
    },
    async cancelTask(taskId, bus) {
        cancelled.add(taskId);
    },
};

const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor);
const app = express();
app.use("/.well-known/agent-card.json", agentCardHandler({ agentCardProvider: handler }));
app.use("/a2a/jsonrpc", jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
app.listen(port, "127.0.0.1");

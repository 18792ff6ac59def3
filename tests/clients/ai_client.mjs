// Drives the gateway with the official OpenAI and Anthropic client libraries,
// for tests/integration/test_ai_sdk.py. Usage: node ai_client.mjs '<json>' where
// json is {"sdk": "openai"|"anthropic", "baseURL", "apiKey", "op", "params"}.
// Prints one JSON object: what the library returned (streams: the events'
// text joined, the usage seen, the number of events), or {"error": ...}.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const cmd = JSON.parse(process.argv[2]);

async function openai() {
  const client = new OpenAI({ baseURL: cmd.baseURL, apiKey: cmd.apiKey, maxRetries: 0, timeout: 20000 });
  switch (cmd.op) {
    case 'chat': {
      const { data, response } = await client.chat.completions.create(cmd.params).withResponse();
      return { result: data, headers: Object.fromEntries(response.headers.entries()) };
    }
    case 'chat-stream': {
      const stream = await client.chat.completions.create({ ...cmd.params, stream: true });
      let text = '', usage = null, events = 0;
      for await (const chunk of stream) {
        events++;
        if (chunk.choices.length) text += chunk.choices[0].delta.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      return { text, usage, events };
    }
    case 'embeddings':
      return { result: await client.embeddings.create(cmd.params) };
    case 'models': {
      const ids = [];
      for await (const m of client.models.list()) ids.push(m.id);
      return { ids };
    }
    default:
      throw new Error('unknown op ' + cmd.op);
  }
}

async function anthropic() {
  const client = new Anthropic({ baseURL: cmd.baseURL, apiKey: cmd.apiKey, maxRetries: 0, timeout: 20000 });
  switch (cmd.op) {
    case 'messages':
      return { result: await client.messages.create(cmd.params) };
    case 'messages-stream': {
      const stream = client.messages.stream(cmd.params);
      let text = '', events = 0;
      stream.on('text', (t) => { text += t; });
      stream.on('streamEvent', () => { events++; });
      const final = await stream.finalMessage();
      return { text, usage: final.usage, events };
    }
    default:
      throw new Error('unknown op ' + cmd.op);
  }
}

try {
  const out = await (cmd.sdk === 'anthropic' ? anthropic() : openai());
  process.stdout.write(JSON.stringify(out));
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e && e.message || e), status: e && e.status || null,
                                        code: e && e.code || null, type: e && e.type || null }));
}

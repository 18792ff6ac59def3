"""Test doubles of Google's and Amazon's LLM APIs, for the AI gateway tests:
the real services cannot be reached from here. Written from the published API
references, shape for shape:

  Gemini (ai.google.dev/api/generate-content, .../api/models):
    POST {base}/models/{model}:generateContent           a GenerateContentResponse:
        candidates[{content{role: model, parts}, finishReason, index}],
        usageMetadata{promptTokenCount, candidatesTokenCount, totalTokenCount},
        modelVersion, responseId
    POST {base}/models/{model}:streamGenerateContent?alt=sse   the same,
        piece by piece, as server-sent events with no end event
    POST {base}/models/{model}:batchEmbedContents        {embeddings: [{values}]}, one per
        request's content (no usage: Gemini counts none for embeddings)
    GET  {base}/models                                   {models: [{name: "models/..."}]}
    the key in x-goog-api-key (Google AI Studio) or an OAuth token in
    Authorization: Bearer (Vertex AI, whose base is
    /v1/projects/{p}/locations/{l}/publishers/google)
    errors: {"error": {"code", "message", "status"}}
  Bedrock Runtime (docs.aws.amazon.com/bedrock/latest/APIReference):
    POST /model/{modelId}/converse           {output{message{role, content}},
        stopReason, usage{inputTokens, outputTokens, totalTokens}, metrics}
    POST /model/{modelId}/invoke             InvokeModel of an embedding model: Amazon Titan
        ({inputText} -> {embedding, inputTextTokenCount}) or Cohere Embed ({texts,
        input_type} -> {embeddings, id, response_type: "embeddings_floats"})
    POST /model/{modelId}/converse-stream    application/vnd.amazon.eventstream:
        messageStart, contentBlockStart, contentBlockDelta, contentBlockStop,
        messageStop, metadata, each an event-stream message (prelude, headers,
        payload, CRC-32s)
    requests signed with AWS SigV4 (checked here as AWS checks them: a wrong
    signature gets 403) or a Bedrock API key as a bearer token
    errors: {"message"} with x-amzn-ErrorType

Token counts are the words of the prompt and of the answer, as in
llm_provider.py. A prompt naming "weather" (with tools offered) gets a tool
call; Gemini's carries a thoughtSignature, which must come back with the call
in the history (400 otherwise, as Gemini 3 answers). Model "fail-429" gets
429 in the provider's own error shape. Bedrock streams of model "cut-stream"
end after their first text (no messageStop, no metadata); of model
"error-stream", with an event-stream error message (:message-type error)."""

import hashlib
import hmac
import http.server
import json
import struct
import threading
import urllib.parse
import zlib

AWS_KEY_ID = "AKIDTESTEXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def words(text):
    return len(str(text).split())


def es_header(name, value):
    n, v = name.encode(), value.encode()
    return bytes([len(n)]) + n + bytes([7]) + struct.pack(">H", len(v)) + v


def es_message(event, payload, exception=None):
    """One AWS event-stream message."""
    h = es_header(":message-type", "exception" if exception else "event")
    h += es_header(":exception-type", exception) if exception else es_header(":event-type", event)
    h += es_header(":content-type", "application/json")
    p = json.dumps(payload).encode()
    total = 12 + len(h) + len(p) + 4
    prelude = struct.pack(">II", total, len(h))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + h + p
    return body + struct.pack(">I", zlib.crc32(body))


def es_error(code, message):
    """An event-stream error message: what went wrong is in its headers."""
    h = es_header(":message-type", "error") + es_header(":error-code", code) + es_header(":error-message", message)
    total = 12 + len(h) + 4
    prelude = struct.pack(">II", total, len(h))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + h
    return body + struct.pack(">I", zlib.crc32(body))


def sigv4_expected(method, raw_target, headers, body, secret):
    """The signature AWS computes for a request, from its Authorization field's
    scope and signed headers (docs.aws.amazon.com/IAM/latest/UserGuide/
    reference_sigv-create-signed-request.html)."""
    auth = headers.get("authorization", "")
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    scope = fields["Credential"].split("/", 1)[1]
    date, region, service, _ = scope.split("/")
    signed = fields["SignedHeaders"].split(";")
    path, _, query = raw_target.partition("?")
    canon_path = urllib.parse.quote(path, safe="/~")  # every service but S3 signs the path encoded twice
    params = sorted((urllib.parse.quote(k, safe="~"), urllib.parse.quote(v, safe="~"))
                    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True))
    canon_query = "&".join("%s=%s" % kv for kv in params)
    canon_headers = "".join("%s:%s\n" % (h, headers.get(h, "").strip()) for h in signed)
    canonical = "\n".join([method, canon_path, canon_query, canon_headers, ";".join(signed),
                           hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", headers.get("x-amz-date", ""), scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), fields["Signature"], region, service


def gemini_text(contents, system=None):
    """The last user text of Gemini contents, and the prompt's word count."""
    last, n = "", sum(words(p.get("text", "")) for p in (system or {}).get("parts", []))
    for c in contents or []:
        for p in c.get("parts", []):
            if "text" in p:
                n += words(p["text"])
                if c.get("role") == "user":
                    last = p["text"]
    return last, n


def bedrock_text(messages, system):
    last, n = "", sum(words(s.get("text", "")) for s in system or [])
    for m in messages or []:
        for b in m.get("content", []):
            if "text" in b:
                n += words(b["text"])
                if m.get("role") == "user":
                    last = b["text"]
    return last, n


class GoogleAwsProvider:
    def __init__(self):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def read_body(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {"_raw": raw.decode("latin-1")}
                outer.requests.append({"method": self.command, "path": self.path, "raw": raw, "body": body,
                                       "headers": {k.lower(): v for k, v in self.headers.items()}})
                return raw, body

            def send_json(self, status, obj, extra=()):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in extra:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def start_chunked(self, content_type):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

            def chunk(self, raw):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
                self.wfile.flush()

            def do_GET(self):
                self.read_body()
                if self.path.endswith("/models") and self.headers.get("x-goog-api-key"):
                    self.send_json(200, {"models": [{"name": "models/test-small", "displayName": "Test",
                                                     "supportedGenerationMethods": ["generateContent"]}]})
                else:
                    self.send_json(404, {"error": {"code": 404, "message": "no such path", "status": "NOT_FOUND"}})

            def do_POST(self):
                raw, body = self.read_body()
                path = self.path.split("?")[0]
                if path.startswith("/model/"):
                    self.bedrock(raw, body, urllib.parse.unquote(path.split("/")[2]), path.endswith("-stream"))
                elif path.endswith(":batchEmbedContents"):
                    self.send_json(200, {"embeddings": [
                        {"values": [0.5, -0.25, float(words(r["content"]["parts"][0]["text"]))]}
                        for r in body.get("requests", [])]})
                elif ":generateContent" in path or ":streamGenerateContent" in path:
                    model = urllib.parse.unquote(path.rsplit("/models/", 1)[1].split(":")[0])
                    self.gemini(body, model, ":streamGenerateContent" in path)
                else:
                    self.send_json(404, {"error": {"code": 404, "message": "no such path: " + self.path,
                                                   "status": "NOT_FOUND"}})

            def gemini(self, body, model, stream):
                if not (self.headers.get("x-goog-api-key") or self.headers.get("authorization")):
                    self.send_json(401, {"error": {"code": 401, "message": "no credential",
                                                   "status": "UNAUTHENTICATED"}})
                    return
                if model == "fail-429":
                    self.send_json(429, {"error": {"code": 429, "message": "Resource has been exhausted",
                                                   "status": "RESOURCE_EXHAUSTED"}})
                    return
                for c in body.get("contents", []):
                    for part in c.get("parts", []):
                        if "functionCall" in part and part.get("thoughtSignature") != "sig-abc":
                            self.send_json(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                                           "message": "Function call is missing a thought_signature"}})
                            return
                last, p = gemini_text(body.get("contents"), body.get("systemInstruction"))
                decls = [d for t in body.get("tools", []) for d in t.get("functionDeclarations", [])]
                if decls and "weather" in last:
                    parts = [{"functionCall": {"name": decls[0]["name"], "args": {"city": "Paris"}},
                              "thoughtSignature": "sig-abc"}]
                else:
                    answer = "echo: " + last
                    parts = [{"text": answer}]
                c = words(parts[0].get("text", "x y"))
                usage = {"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": p + c}
                base = {"modelVersion": model + "-001", "responseId": "resp-gemini-1"}
                if not stream:
                    self.send_json(200, dict(base, candidates=[{"content": {"role": "model", "parts": parts},
                                                                "finishReason": "STOP", "index": 0}],
                                             usageMetadata=usage))
                    return
                self.start_chunked("text/event-stream")
                pieces = parts if "functionCall" in parts[0] else \
                    [{"text": w + " "} for w in parts[0]["text"].split(" ")]
                for i, piece in enumerate(pieces):
                    last_piece = i == len(pieces) - 1
                    ev = dict(base, candidates=[dict({"content": {"role": "model", "parts": [piece]}, "index": 0},
                                                     **({"finishReason": "STOP"} if last_piece else {}))],
                              usageMetadata=usage if last_piece else {"promptTokenCount": p})
                    self.chunk(("data: %s\r\n\r\n" % json.dumps(ev)).encode())
                self.chunk(b"")

            def bedrock(self, raw, body, model, stream):
                auth = self.headers.get("authorization", "")
                if auth.startswith("AWS4-HMAC-SHA256 "):
                    hdrs = {k.lower(): v for k, v in self.headers.items()}
                    want, got, region, service = sigv4_expected(self.command, self.path, hdrs, raw, AWS_SECRET)
                    if want != got or service != "bedrock" or AWS_KEY_ID not in auth:
                        self.send_json(403, {"message": "The request signature we calculated does not match the "
                                                        "signature you provided."},
                                       extra=[("x-amzn-ErrorType", "InvalidSignatureException")])
                        return
                elif not auth.startswith("Bearer "):
                    self.send_json(403, {"message": "Missing Authentication Token"})
                    return
                if model == "fail-429":
                    self.send_json(429, {"message": "Too many requests, please wait before trying again."},
                                   extra=[("x-amzn-ErrorType", "ThrottlingException")])
                    return
                if self.path.split("?")[0].endswith("/invoke"):
                    if "titan-embed" in model:
                        n = words(body["inputText"])
                        self.send_json(200, {"embedding": [0.5, -0.25, float(n)], "inputTextTokenCount": n})
                    else:
                        self.send_json(200, {"id": "e1", "response_type": "embeddings_floats", "texts": body["texts"],
                                             "embeddings": [[0.5, -0.25, float(words(t))] for t in body["texts"]]})
                    return
                last, p = bedrock_text(body.get("messages"), body.get("system"))
                tools = (body.get("toolConfig") or {}).get("tools") or []
                tool = tools and "weather" in last
                answer = "echo: " + last
                c = 3 if tool else words(answer)
                usage = {"inputTokens": p, "outputTokens": c, "totalTokens": p + c}
                if not stream:
                    content = ([{"toolUse": {"toolUseId": "tooluse_1", "name": tools[0]["toolSpec"]["name"],
                                             "input": {"city": "Paris"}}}] if tool else [{"text": answer}])
                    self.send_json(200, {"output": {"message": {"role": "assistant", "content": content}},
                                         "stopReason": "tool_use" if tool else "end_turn", "usage": usage,
                                         "metrics": {"latencyMs": 12}})
                    return
                self.start_chunked("application/vnd.amazon.eventstream")
                frames = [es_message("messageStart", {"role": "assistant"})]
                if tool:
                    frames.append(es_message("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {
                        "toolUseId": "tooluse_1", "name": tools[0]["toolSpec"]["name"]}}}))
                    for part in ('{"city": ', '"Paris"}'):
                        frames.append(es_message("contentBlockDelta", {"contentBlockIndex": 0,
                                                                       "delta": {"toolUse": {"input": part}}}))
                else:
                    for i, w in enumerate(answer.split(" ")):
                        frames.append(es_message("contentBlockDelta", {"contentBlockIndex": 0,
                                                                       "delta": {"text": w if i == 0 else " " + w}}))
                if model == "cut-stream":
                    frames = frames[:2]
                elif model == "error-stream":
                    frames = frames[:2] + [es_error("ModelStreamError", "the model stopped")]
                else:
                    frames.append(es_message("contentBlockStop", {"contentBlockIndex": 0}))
                if model not in ("cut-stream", "error-stream"):
                    frames.append(es_message("messageStop", {"stopReason": "tool_use" if tool else "end_turn"}))
                    frames.append(es_message("metadata", {"usage": usage, "metrics": {"latencyMs": 12}}))
                data = b"".join(frames)
                # Cut across message boundaries, as a network would.
                for i in range(0, len(data), 37):
                    self.chunk(data[i:i + 37])
                self.chunk(b"")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last(self):
        return self.requests[-1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()

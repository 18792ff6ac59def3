"""A test double of LLM providers' HTTP APIs, for the AI gateway tests: the real
providers cannot be reached from here. Written from the providers' published
API references, shape for shape:

  OpenAI (platform.openai.com/docs/api-reference):
    POST /v1/chat/completions  chat.completion JSON, or with "stream": true a
        text/event-stream of chat.completion.chunk events ended by
        "data: [DONE]"; with stream_options.include_usage the last chunk has
        empty choices and the usage (earlier chunks carry "usage": null)
    POST /v1/embeddings        a list of embedding objects with usage
        {prompt_tokens, total_tokens}
    GET  /v1/models            a list of model objects
    errors: {"error": {"message", "type", "param", "code"}} with the status
  Anthropic (docs.anthropic.com/en/api/messages, .../messages-streaming):
    POST /v1/messages          a message JSON with usage {input_tokens,
        output_tokens}; streamed: message_start (message.usage), content_block_
        start/delta/stop, message_delta (usage.output_tokens), message_stop

Token counts are deterministic (words of the messages, words of the answer) so
tests can assert them exactly. Every request is recorded (method, path,
headers, JSON body). Models with special behaviour:
  "fail-429"       429 rate_limit_exceeded (OpenAI error shape)
  "chunked-json"   the JSON answer with Transfer-Encoding: chunked
  "gated-stream"   a stream that stops after its first chunk until .gate is set (.upstream_closed
                   is set when writing the rest fails: the gateway closed the connection)
  "big-json"       an answer of about 300 KB (its content is 300000 'x')
  "big-stream"     a stream of 400 events of about 16 KB each (6.4 MB: more than the
                   kernel's socket buffers hold), written at once
  "fake-counts"    the answer carries x-sluice-ai-total-tokens: 999 of its own
  "slow-2s"        answers after 2 s (a model that thinks)
  "crlf-gated"     a stream with CRLF line ends: a comment, then (once .gate is set) one
                   event, then (once .gate2 is set) the rest; .stage1/.stage2 say how far
"""

import http.server
import json
import threading
import time


def words(text):
    return len(str(text).split())


def prompt_tokens(messages, system=""):
    n = words(system) if isinstance(system, str) else 0
    for m in messages or []:
        c = m.get("content", "")
        if isinstance(c, list):
            c = " ".join(p.get("text", "") for p in c if isinstance(p, dict))
        n += words(c)
    return n


def last_user_text(messages):
    for m in reversed(messages or []):
        if m.get("role") == "user":
            c = m.get("content", "")
            if isinstance(c, list):
                c = " ".join(p.get("text", "") for p in c if isinstance(p, dict))
            return c
    return ""


class Provider:
    def __init__(self):
        self.requests = []
        self.gate = threading.Event()
        self.gate2 = threading.Event()
        self.stage1 = threading.Event()
        self.stage2 = threading.Event()
        self.first_chunk_sent = threading.Event()
        self.upstream_closed = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    raw = b""  # an HTTP/2 client's body reaches the provider chunked
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailer fields, up to the blank line
                            break
                        raw += self.rfile.read(size + 2)[:size]
                else:
                    n = int(self.headers.get("Content-Length") or 0)
                    raw = self.rfile.read(n) if n else b""
                self.raw = raw
                try:
                    return json.loads(raw) if raw else {}
                except ValueError:
                    return {"_raw": raw.decode("latin-1")}

            def record(self, body):
                outer.requests.append({"method": self.command, "path": self.path,
                                       "headers": {k.lower(): v for k, v in self.headers.items()},
                                       "body": body, "raw": getattr(self, "raw", b"")})

            def send_json(self, status, obj, chunked=False, extra=()):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in extra:
                    self.send_header(k, v)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    half = len(data) // 2
                    for part in (data[:half], data[half:]):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def start_stream(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

            def event(self, data, name=None):
                text = ("event: %s\n" % name if name else "") + "data: %s\n\n" % data
                raw = text.encode()
                try:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
                    self.wfile.flush()
                except OSError:
                    outer.upstream_closed.set()
                    raise

            def end_stream(self):
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def do_GET(self):
                self.record(None)
                if self.path.endswith("/models") and self.headers.get("anthropic-version"):
                    # Anthropic's list (docs.anthropic.com/en/api/models-list)
                    self.send_json(200, {"data": [{"type": "model", "id": "test-small", "display_name": "Test",
                                                   "created_at": "2025-02-19T00:00:00Z"}],
                                         "has_more": False, "first_id": "test-small", "last_id": "test-small"})
                elif self.path.endswith("/models"):
                    self.send_json(200, {"object": "list", "data": [
                        {"id": "test-small", "object": "model", "created": 1700000000, "owned_by": "test"}]})
                else:
                    self.send_json(404, {"error": {"message": "no such path", "type": "invalid_request_error",
                                                   "param": None, "code": "not_found"}})

            def do_POST(self):
                body = self.body()
                self.record(body)
                if self.path.endswith("/chat/completions"):
                    self.chat(body)
                elif self.path.endswith("/embeddings"):
                    inputs = body.get("input", [])
                    inputs = inputs if isinstance(inputs, list) else [inputs]
                    n = sum(words(i) for i in inputs)
                    self.send_json(200, {"object": "list", "model": body.get("model", ""),
                                         "data": [{"object": "embedding", "index": i,
                                                   "embedding": [0.5, -0.25, float(words(x))]}
                                                  for i, x in enumerate(inputs)],
                                         "usage": {"prompt_tokens": n, "total_tokens": n}})
                elif self.path.endswith("/messages"):
                    self.messages(body)
                else:
                    self.send_json(404, {"error": {"message": "no such path: " + self.path,
                                                   "type": "invalid_request_error", "param": None,
                                                   "code": "not_found"}})

            def chat(self, body):
                model = body.get("model", "")
                if model == "fail-429":
                    self.send_json(429, {"error": {"message": "Rate limit reached", "type": "requests",
                                                   "param": None, "code": "rate_limit_exceeded"}})
                    return
                if model == "slow-2s":
                    time.sleep(2)
                msgs = body.get("messages", [])
                answer = "echo: " + last_user_text(msgs)
                if model == "big-json":
                    answer = "x" * 300000
                p, c = prompt_tokens(msgs), words(answer)
                usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                         "prompt_tokens_details": {"cached_tokens": 0}}
                if model == "crlf-gated" and body.get("stream"):
                    self.start_stream()

                    def raw(text):
                        b = text.encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
                        self.wfile.flush()
                    raw(": PROCESSING\r\n\r\n")
                    outer.stage1.set()
                    outer.gate.wait(20)
                    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model}
                    raw("data: %s\r\n\r\n" % json.dumps(dict(base, choices=[
                        {"index": 0, "delta": {"role": "assistant", "content": "first"}, "finish_reason": None}],
                        usage=None)))
                    outer.stage2.set()
                    outer.gate2.wait(20)
                    raw("data: %s\r\n\r\n" % json.dumps(dict(base, choices=[
                        {"index": 0, "delta": {}, "finish_reason": "stop"}], usage=None)))
                    if (body.get("stream_options") or {}).get("include_usage"):
                        raw("data: %s\r\n\r\n" % json.dumps(dict(base, choices=[], usage=usage)))
                    raw("data: [DONE]\r\n\r\n")
                    self.end_stream()
                    return
                if model == "big-stream" and body.get("stream"):
                    self.start_stream()
                    base = {"id": "chatcmpl-big", "object": "chat.completion.chunk", "created": 1, "model": model}
                    for i in range(400):
                        self.event(json.dumps(dict(base, choices=[{"index": 0, "delta": {"content": "y" * 16000},
                                                                   "finish_reason": None}])))
                    self.event(json.dumps(dict(base, choices=[], usage=dict(usage, completion_tokens=20,
                                                                            total_tokens=p + 20))))
                    self.event("[DONE]")
                    self.end_stream()
                    return
                if not body.get("stream"):
                    self.send_json(200, {
                        "id": "chatcmpl-test1", "object": "chat.completion", "created": int(time.time()),
                        "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                     "finish_reason": "stop", "logprobs": None}],
                        "usage": usage}, chunked=(model == "chunked-json"),
                        extra=[("x-sluice-ai-total-tokens", "999")] if model == "fake-counts" else ())
                    return
                include = bool((body.get("stream_options") or {}).get("include_usage"))
                self.start_stream()
                base = {"id": "chatcmpl-test2", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": model}
                pieces = answer.split(" ")
                for i, piece in enumerate(pieces):
                    chunk = dict(base, choices=[{"index": 0, "delta": ({"role": "assistant"} if i == 0 else {}) |
                                                 {"content": piece if i == 0 else " " + piece},
                                                 "finish_reason": None}])
                    if include:
                        chunk["usage"] = None
                    self.event(json.dumps(chunk))
                    if i == 0 and model == "gated-stream":
                        outer.first_chunk_sent.set()
                        outer.gate.wait(20)
                    elif model == "gated-stream":
                        time.sleep(0.005)  # a model's pace: a closed connection shows before the answer ends
                self.event(json.dumps(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}],
                                           **({"usage": None} if include else {}))))
                if include:
                    self.event(json.dumps(dict(base, choices=[], usage=usage)))
                self.event("[DONE]")
                self.end_stream()

            def messages(self, body):
                msgs = body.get("messages", [])
                model = body.get("model", "")
                if model == "fail-429":
                    self.send_json(429, {"type": "error", "error": {"type": "rate_limit_error",
                                                                     "message": "Number of requests exceeded"}})
                    return
                system = body.get("system", "")
                if isinstance(system, list):  # text blocks
                    system = " ".join(b.get("text", "") for b in system)
                answer = "echo: " + last_user_text(msgs)
                p, c = prompt_tokens(msgs, system), words(answer)
                tool = body.get("tools") and "weather" in last_user_text(msgs)
                content = ([{"type": "tool_use", "id": "toolu_01", "name": body["tools"][0]["name"],
                             "input": {"city": "Paris", "unit": "C"}}] if tool
                           else [{"type": "text", "text": answer}])
                msg = {"id": "msg_test1", "type": "message", "role": "assistant", "model": model,
                       "content": content, "stop_reason": "tool_use" if tool else "end_turn",
                       "stop_sequence": None, "usage": {"input_tokens": p, "output_tokens": c}}
                if not body.get("stream"):
                    self.send_json(200, msg)
                    return
                if tool:
                    self.start_stream()
                    start = dict(msg, content=[], stop_reason=None, usage={"input_tokens": p, "output_tokens": 1})
                    self.event(json.dumps({"type": "message_start", "message": start}), "message_start")
                    self.event(json.dumps({"type": "content_block_start", "index": 0, "content_block": {
                        "type": "tool_use", "id": "toolu_01", "name": body["tools"][0]["name"], "input": {}}}),
                        "content_block_start")
                    for part in ('{"city": ', '"Paris", "unit"', ': "C"}'):
                        self.event(json.dumps({"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "input_json_delta", "partial_json": part}}),
                                   "content_block_delta")
                    self.event(json.dumps({"type": "content_block_stop", "index": 0}), "content_block_stop")
                    self.event(json.dumps({"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                                           "usage": {"output_tokens": c}}), "message_delta")
                    self.event(json.dumps({"type": "message_stop"}), "message_stop")
                    self.end_stream()
                    return
                self.start_stream()
                start = dict(msg, content=[], stop_reason=None, usage={"input_tokens": p, "output_tokens": 1})
                self.event(json.dumps({"type": "message_start", "message": start}), "message_start")
                self.event(json.dumps({"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}), "content_block_start")
                self.event(json.dumps({"type": "ping"}), "ping")
                for piece in answer.split(" "):
                    self.event(json.dumps({"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "text_delta", "text": piece + " "}}),
                               "content_block_delta")
                self.event(json.dumps({"type": "content_block_stop", "index": 0}), "content_block_stop")
                self.event(json.dumps({"type": "message_delta",
                                       "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                       "usage": {"output_tokens": c}}), "message_delta")
                self.event(json.dumps({"type": "message_stop"}), "message_stop")
                self.end_stream()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last(self):
        return self.requests[-1]

    def close(self):
        self.gate.set()
        self.gate2.set()
        self.server.shutdown()
        self.server.server_close()

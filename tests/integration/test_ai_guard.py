"""TrafficPolicy aiPromptGuard on AI routes: built-in and PCRE2 patterns that
reject a prompt (403, OpenAI's error shape) or mask it before it leaves, mask
the answer (JSON, and streams event by event: a match split across events is
still masked), and cap max_tokens. The provider is llm_provider.py's double
(it answers "echo: " + the last user message; streams word by word)."""

import json

import requests

from dataplane import created, make_dataplane, wait_until  # noqa: F401
from test_ai import ai_plane, chat, provider, stream_events  # noqa: F401
from test_policies import POLICIES, policy, to_route

CARD = "4111 1111 1111 1111"


def guard_plane(make_dataplane, provider, provider_name="OpenAICompatible", **guard):
    dp = ai_plane(make_dataplane, provider, provider_name=provider_name)
    created(dp.sluiced.post(POLICIES, policy("guard", [to_route("ai")], aiPromptGuard=guard)))
    return dp


def ask(dp, text, **extra):
    body = {"model": "test-small", "messages": [{"role": "user", "content": text}]}
    body.update(extra)
    return chat(dp, body)


def test_reject_keeps_the_prompt_from_the_provider(make_dataplane, provider):
    dp = guard_plane(make_dataplane, provider, request={
        "builtins": ["Email", "ApiKey"], "matches": [{"name": "ticket", "pattern": "TICKET-[0-9]+"}]})
    wait_until(lambda: ask(dp, "mail bob@example.com").status_code == 403, timeout=10, what="the guard in force")
    n = len(provider.requests)
    for text in ("mail bob@example.com please", "my key is sk-abcdefghijklmnopqrstuvwxyz123", "see TICKET-42"):
        r = ask(dp, text)
        assert r.status_code == 403, (text, r.text)
        err = r.json()["error"]
        assert err["code"] == "content_blocked" and "prompt guard" in err["message"], err
    # Parts of a message (content blocks) and the system prompt are checked too.
    r = chat(dp, {"model": "m", "messages": [
        {"role": "system", "content": "reply to alice@example.org"},
        {"role": "user", "content": [{"type": "text", "text": "hello"}]}]})
    assert r.status_code == 403
    r = chat(dp, {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "TICKET-7"}]}]})
    assert r.status_code == 403
    assert len(provider.requests) == n  # nothing reached the provider
    r = ask(dp, "nothing secret here")
    assert r.status_code == 200 and len(provider.requests) == n + 1
    # A body the guard cannot read does not pass unread; one without a type is read as JSON.
    r = requests.post(dp.url + "/v1/audio/transcriptions", data=b"RIFF....", timeout=10,
                      headers={"Content-Type": "audio/wav"})
    assert r.status_code == 415 and len(provider.requests) == n + 1
    req = requests.Request("POST", dp.url + "/v1/chat/completions", data=json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "bob@example.com"}]}).encode()).prepare()
    req.headers.pop("Content-Type", None)
    assert requests.Session().send(req, timeout=10).status_code == 403
    assert len(provider.requests) == n + 1


def test_mask_the_prompt_and_the_answer(make_dataplane, provider):
    dp = guard_plane(make_dataplane, provider, request={"action": "Mask", "builtins": ["Ssn"],
                                                         "matches": [{"name": "project-code", "pattern": "PRJ-\\d+"}]},
                     response={"builtins": ["Email"]}, maxTokens=256)

    def masked():
        r = ask(dp, "ssn 123-45-6789 of PRJ-77")
        return r.status_code == 200 and provider.last()["body"]["messages"][0]["content"] == \
            "ssn <SSN> of <PROJECT_CODE>"
    wait_until(masked, timeout=10, what="the guard in force")
    # The answer's text is masked too (the echo repeats the prompt).
    r = ask(dp, "write to carol@example.net soon")
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "echo: write to <EMAIL> soon"
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert "carol" not in r.text
    # max_tokens: capped, and set when the client gave none (an OpenAI-compatible server: max_tokens).
    ask(dp, "hi", max_tokens=100000)
    assert provider.last()["body"]["max_tokens"] == 256
    ask(dp, "hi")
    assert provider.last()["body"]["max_tokens"] == 256
    # Anthropic's Messages API, passed through: capped too.
    r = requests.post(dp.url + "/v1/messages", timeout=10, json={
        "model": "m", "max_tokens": 99999, "messages": [{"role": "user", "content": "hello"}]})
    assert provider.last()["body"]["max_tokens"] == 256
    ask(dp, "hi", max_completion_tokens=10)
    assert provider.last()["body"]["max_completion_tokens"] == 10


def test_streams_are_masked_across_events_and_still_flow(make_dataplane, provider):
    dp = guard_plane(make_dataplane, provider, response={"builtins": ["CreditCard", "Email"]})
    filler = " ".join(["word"] * 60)  # 300 bytes: more than the guard holds back
    text = filler + " pay with " + CARD + " or dave@example.com now " + filler
    body = {"model": "test-small", "stream": True, "messages": [{"role": "user", "content": text}]}

    def in_force():
        return "<CREDIT_CARD>" in "".join(
            (e["choices"][0]["delta"].get("content") or "") for e in stream_events(chat(dp, body, stream=True))[:-1]
            if e["choices"])
    wait_until(in_force, timeout=10, what="the guard in force")
    events = stream_events(chat(dp, body, stream=True))
    assert events[-1] == "[DONE]"
    contents = [(e["choices"][0]["delta"].get("content") or "") for e in events[:-1] if e["choices"]]
    assert "".join(contents) == "echo: " + filler + " pay with <CREDIT_CARD> or <EMAIL> now " + filler
    assert not any(ch.isdigit() for c in contents for ch in c)  # no piece of the card got out
    # Text flowed before the stream's end: not everything waited for the last event.
    finish = next(i for i, e in enumerate(events) if e != "[DONE]" and e["choices"] and
                  e["choices"][0].get("finish_reason"))
    assert sum(len(c) for c in contents[:finish]) > 200, contents
    # The usage chunk the gateway asked for is still kept from the client, and counted.
    assert all(e["choices"] for e in events[:-1])


def test_translated_answers_are_masked(make_dataplane, provider):
    dp = guard_plane(make_dataplane, provider, provider_name="Anthropic", response={"builtins": ["Email"]})

    def masked():
        r = ask(dp, "to erin@example.com")
        return r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "echo: to <EMAIL>"
    wait_until(masked, timeout=10, what="the guard in force")
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "to erin@example.com ok"}]}
    events = stream_events(chat(dp, body, stream=True))
    text = "".join((e["choices"][0]["delta"].get("content") or "") for e in events[:-1] if e["choices"])
    assert text.strip() == "echo: to <EMAIL> ok" and events[-1] == "[DONE]"  # (the double adds a space per piece)
    # Anthropic's own stream, passed through (/v1/messages): its event names are kept,
    # its text deltas masked.
    r = requests.post(dp.url + "/v1/messages", stream=True, timeout=10, json={
        "model": "m", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "to erin@example.com"}]})
    raw = r.content.decode()
    assert r.status_code == 200 and "event: message_start" in raw and "event: content_block_delta" in raw, raw
    assert "erin@" not in raw and "<EMAIL>" in raw, raw


def test_validation(make_dataplane, provider):
    dp = make_dataplane()
    for guard, field in (({"request": {"matches": [{"pattern": "(unclosed"}]}},
                          "spec.aiPromptGuard.request.matches[0].pattern"),
                         ({"response": {"action": "Reject", "builtins": ["Email"]}},
                          "spec.aiPromptGuard.response.action"),
                         ({"request": {"builtins": ["Passport"]}}, "spec.aiPromptGuard.request.builtins[0]"),
                         ({"request": {"action": "Mask"}}, "spec.aiPromptGuard.request"),
                         ({"maxTokens": 0}, "spec.aiPromptGuard.maxTokens"),
                         ({"request": {"builtins": ["Email"], "matches": [{"name": "a b", "pattern": "x"}]}},
                          "spec.aiPromptGuard.request.matches[0].name")):
        r = dp.sluiced.post(POLICIES, policy("bad", [to_route("ai")], aiPromptGuard=guard))
        assert r.status_code == 422, (guard, r.text)
        assert any(c["field"] == field for c in r.json()["details"]["causes"]), r.text


class Webhook:
    """The operator's guard service: answers each question with what
    `decide(question)` returns (a JSON-able dict, or None for 204), after
    `delay` seconds. Records the questions."""

    def __init__(self, decide, delay=0.0):
        import http.server
        import threading
        import time
        self.questions = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                q = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.questions.append({"question": q, "type": self.headers.get("Content-Type")})
                time.sleep(delay)
                answer = decide(q)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(204 if answer is None else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/check" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def decide(q):
    text = q["body"]["messages"][-1]["content"]
    if "forbidden" in text:
        return {"action": "deny", "reason": "no forbidden topics", "status": 451}
    if "rewrite" in text:
        return {"action": "rewrite", "body": dict(q["body"], messages=[{"role": "user", "content": "rewritten"}])}
    if "silent" in text:
        return None  # 204: allowed
    return {"action": "allow"}


def test_webhook_allows_denies_and_rewrites(make_dataplane, provider):
    hook = Webhook(decide)
    try:
        dp = guard_plane(make_dataplane, provider, request={"webhook": {"url": hook.url, "timeout": "2s"}})
        wait_until(lambda: ask(dp, "forbidden").status_code == 451, timeout=10, what="the webhook in force")
        n = len(provider.requests)
        r = ask(dp, "forbidden topic")
        assert r.status_code == 451 and r.json()["error"]["message"] == "no forbidden topics", r.text
        assert r.json()["error"]["code"] == "content_blocked" and len(provider.requests) == n
        r = ask(dp, "hello there")
        assert r.status_code == 200 and provider.last()["body"]["messages"][-1]["content"] == "hello there"
        r = ask(dp, "please rewrite me")
        assert r.status_code == 200 and provider.last()["body"]["messages"] == [{"role": "user", "content": "rewritten"}]
        assert r.json()["choices"][0]["message"]["content"] == "echo: rewritten"
        assert ask(dp, "silent approval").status_code == 200
        q = hook.questions[-1]
        assert q["type"] == "application/json"
        assert q["question"] == dict(q["question"], phase="request", policy="default/guard", route="default/ai")
        assert q["question"]["client"]["address"].startswith("127.0.0.1")
        assert q["question"]["body"]["model"] == "test-small"
        # A body the provider reads as JSON is read so for the webhook too (a NUL is JSON).
        r = requests.post(dp.url + "/v1/chat/completions", timeout=10, headers={"Content-Type": "application/json"},
                          data=b'{"model":"m","messages":[{"role":"user","content":"forbidden \\u0000"}]}')
        assert r.status_code == 451, r.text
        # A body never goes past the guard by asking to switch protocols.
        r = requests.post(dp.url + "/v1/chat/completions", timeout=10,
                          headers={"Connection": "Upgrade", "Upgrade": "foo"},
                          json={"model": "m", "messages": [{"role": "user", "content": "forbidden"}]})
        assert r.status_code == 400 and "switch protocols" in r.text, r.text
        # A cleartext HTTP/2 offer (curl --http2) is declined: the request goes on, guarded.
        r = requests.post(dp.url + "/v1/chat/completions", timeout=10,
                          headers={"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c",
                                   "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA"},
                          json={"model": "m", "messages": [{"role": "user", "content": "forbidden"}]})
        assert r.status_code == 451, r.text
        # The connection serves the next request after a denial (the body was read whole).
        s = requests.Session()
        for text, code in (("forbidden", 451), ("fine", 200), ("forbidden", 451)):
            r = s.post(dp.url + "/v1/chat/completions", timeout=10,
                       json={"model": "m", "messages": [{"role": "user", "content": text}]})
            assert r.status_code == code
    finally:
        hook.close()


def test_webhook_failures_fail_closed_unless_told(make_dataplane, provider):
    slow = Webhook(decide, delay=1.5)
    try:
        dp = guard_plane(make_dataplane, provider, request={"webhook": {"url": slow.url, "timeout": "300ms"}})
        wait_until(lambda: ask(dp, "x").status_code == 503, timeout=10, what="the webhook in force")
        n = len(provider.requests)
        r = ask(dp, "anything")
        assert r.status_code == 503 and r.json()["error"]["code"] == "guard_unavailable", r.text
        assert len(provider.requests) == n
        # failureMode Allow: an unreachable service lets the request go as it came.
        created(dp.sluiced.put("/apis/gateway.sluice.dev/v1alpha1/namespaces/default/trafficpolicies/guard",
                               policy("guard", [to_route("ai")], aiPromptGuard={"request": {"webhook": {
                                   "url": "http://127.0.0.1:9/never", "failureMode": "Allow"}}})))
        wait_until(lambda: ask(dp, "anything").status_code == 200, timeout=10, what="failureMode Allow in force")
        assert provider.last()["body"]["messages"][-1]["content"] == "anything"
        # The webhook is for requests only; its URL must be one.
        for bad, field in (({"response": {"webhook": {"url": slow.url}}}, "spec.aiPromptGuard.response.webhook"),
                           ({"request": {"webhook": {"url": "ftp://x"}}}, "spec.aiPromptGuard.request.webhook.url"),
                           ({"request": {"webhook": {"url": slow.url, "timeout": "2m"}}},
                            "spec.aiPromptGuard.request.webhook.timeout")):
            r = dp.sluiced.post(POLICIES, policy("bad", [to_route("ai")], aiPromptGuard=bad))
            assert r.status_code == 422 and any(c["field"] == field for c in r.json()["details"]["causes"]), r.text
    finally:
        slow.close()


def test_webhook_wait_ends_with_its_client_and_serves_http2(make_dataplane, provider):
    import socket
    import time
    from h2client import H2Client
    hook = Webhook(decide, delay=0.8)
    try:
        # (A body idle timeout shorter than the webhook's answer: the wait is the webhook's, not the body's.)
        dp = ai_plane(make_dataplane, provider, args=["--body-idle-timeout", "300"])
        created(dp.sluiced.post(POLICIES, policy("guard", [to_route("ai")], aiPromptGuard={
            "request": {"webhook": {"url": hook.url, "timeout": "5s"}}})))
        wait_until(lambda: ask(dp, "forbidden").status_code == 451, timeout=15, what="the webhook in force")
        n = len(provider.requests)
        # A client that leaves while the webhook thinks: nothing is sent for it.
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "leaving"}]}).encode()
        s = socket.create_connection(("127.0.0.1", dp.port))
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        time.sleep(0.2)
        s.close()
        time.sleep(1.2)
        assert len(provider.requests) == n
        # HTTP/2: the stream waits for the webhook, then goes.
        with H2Client.connect(dp.port) as h2:
            data = json.dumps({"model": "m", "messages": [{"role": "user", "content": "over h2"}]}).encode()
            sid = h2.request("POST", "/v1/chat/completions", body=data, headers=[("content-type", "application/json")])
            st = h2.response(sid)
            assert st.status == 200 and json.loads(bytes(st.data))["choices"][0]["message"]["content"] == "echo: over h2"
    finally:
        hook.close()

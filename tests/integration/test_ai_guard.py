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

"""The AI gateway driven by the official client libraries from npm (`openai`,
`@anthropic-ai/sdk`, pinned in tests/clients/package-lock.json and installed by
tests/tools/install.sh), with their base URL set to the gateway, against the
provider test double (llm_provider.py). What a real application sees: the
libraries parse every answer and stream the gateway passes on."""

import json
import os
import shutil
import subprocess

import pytest

from dataplane import make_dataplane  # noqa: F401
from test_ai import KEY, ai_plane, metric_value, metrics, provider  # noqa: F401
from dataplane import wait_until

CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients")
NODE = shutil.which("node")
MISSING = None
if not NODE:
    MISSING = "skipped, because node is not installed (deploy/install-deps.sh --tests installs it)"
elif not os.path.isdir(os.path.join(CLIENTS, "node_modules", "openai")):
    MISSING = "skipped, because tests/clients has no node_modules (tests/tools/install.sh runs npm ci there)"
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def run(sdk, base_url, op, params=None, api_key="client-side-key"):
    cmd = {"sdk": sdk, "baseURL": base_url, "apiKey": api_key, "op": op, "params": params or {}}
    out = subprocess.run([NODE, os.path.join(CLIENTS, "ai_client.mjs"), json.dumps(cmd)], capture_output=True,
                         timeout=60, cwd=CLIENTS)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return json.loads(out.stdout)


def test_openai_library_chat_stream_embeddings_models(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider)
    base = dp.url + "/v1"
    got = run("openai", base, "chat", {"model": "test-small",
                                        "messages": [{"role": "user", "content": "from the sdk"}]})
    assert "error" not in got, got
    assert got["result"]["choices"][0]["message"]["content"] == "echo: from the sdk"
    assert got["result"]["usage"]["total_tokens"] == 7
    assert got["headers"]["x-sluice-ai-total-tokens"] == "7"
    assert provider.last()["headers"]["authorization"] == "Bearer " + KEY  # not the library's own key
    got = run("openai", base, "chat-stream", {"model": "test-small", "stream_options": {"include_usage": True},
                                               "messages": [{"role": "user", "content": "stream me please"}]})
    assert got["text"] == "echo: stream me please" and got["usage"]["prompt_tokens"] == 3, got
    got = run("openai", base, "embeddings", {"model": "embed-1", "input": "three little words"})
    assert got["result"]["usage"]["prompt_tokens"] == 3 and len(got["result"]["data"]) == 1
    assert run("openai", base, "models")["ids"] == ["test-small"]
    # A provider's 429 reaches the library as its RateLimitError shape.
    got = run("openai", base, "chat", {"model": "fail-429", "messages": [{"role": "user", "content": "x"}]})
    assert got["status"] == 429 and got["code"] == "rate_limit_exceeded", got
    labels = {"backend": "default/llm", "gen_ai_response_model": "test-small"}
    wait_until(lambda: metric_value(metrics(dp), "gen_ai_client_token_usage_count", gen_ai_token_type="input",
                                    **labels) == 2, timeout=5, what="two counted chats")


def test_anthropic_library_messages_and_stream(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, provider_name="Anthropic")
    params = {"model": "claude-test", "max_tokens": 100, "messages": [{"role": "user", "content": "hello claude"}]}
    got = run("anthropic", dp.url, "messages", params)
    assert "error" not in got, got
    assert got["result"]["content"][0]["text"] == "echo: hello claude"
    assert got["result"]["usage"] == {"input_tokens": 2, "output_tokens": 3}
    seen = provider.last()["headers"]
    assert seen["x-api-key"] == KEY and seen["anthropic-version"]
    got = run("anthropic", dp.url, "messages-stream", params)
    assert got["text"].strip() == "echo: hello claude" and got["usage"]["output_tokens"] == 3, got
    labels = {"backend": "default/llm", "gen_ai_response_model": "claude-test"}
    wait_until(lambda: metric_value(metrics(dp), "gen_ai_client_token_usage_sum", gen_ai_token_type="output",
                                    **labels) == 6, timeout=5, what="both answers counted")


def test_openai_library_against_an_anthropic_backend(make_dataplane, provider):
    """One OpenAI-compatible endpoint for Anthropic too: the gateway translates."""
    dp = ai_plane(make_dataplane, provider, provider_name="Anthropic")
    base = dp.url + "/v1"
    got = run("openai", base, "chat", {"model": "claude-test", "messages": [
        {"role": "system", "content": "short"}, {"role": "user", "content": "hi there"}]})
    assert "error" not in got, got
    assert got["result"]["choices"][0]["message"]["content"] == "echo: hi there"
    assert got["result"]["usage"]["prompt_tokens"] == 3
    assert provider.last()["path"] == "/v1/messages"
    got = run("openai", base, "chat-stream", {"model": "claude-test", "stream_options": {"include_usage": True},
                                               "messages": [{"role": "user", "content": "a streamed one"}]})
    assert got["text"].strip() == "echo: a streamed one" and got["usage"]["completion_tokens"] == 4, got
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    got = run("openai", base, "chat", {"model": "claude-test", "tools": [tool],
                                        "messages": [{"role": "user", "content": "weather in Paris?"}]})
    call = got["result"]["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather" and json.loads(call["function"]["arguments"])["city"] == "Paris"
    got = run("openai", base, "chat", {"model": "fail-429", "messages": [{"role": "user", "content": "x"}]})
    assert got["status"] == 429 and got["type"] == "rate_limit_error", got


# ---- limits, failover and guards, as the libraries see them ----

def test_openai_library_meets_token_limits_guards_and_failover(make_dataplane, provider):
    from test_ai_guard import CARD
    from test_ai_tokens import in_force, token_limit
    from test_policies import POLICIES, policy, to_route
    from dataplane import created
    dp = ai_plane(make_dataplane, provider, workers=2)
    base = dp.url + "/v1"
    s = dp.sluiced
    created(s.post(POLICIES, token_limit(tokens=20)))
    in_force(dp)
    # 5 tokens a call ("a b" -> "echo: a b"): four pass, then the library's RateLimitError.
    ask = {"model": "test-small", "messages": [{"role": "user", "content": "a b"}]}
    results = [run("openai", base, "chat", ask) for _ in range(5)]
    assert all("error" not in r for r in results[:4]), results
    assert results[4]["status"] == 429 and results[4]["code"] == "rate_limit_exceeded", results[4]
    # A guard: a blocked prompt is the library's PermissionDeniedError; a stream is masked.
    assert s.delete(POLICIES + "/tokens").status_code == 200
    created(s.post(POLICIES, policy("guard", [to_route("ai")], aiPromptGuard={
        "request": {"builtins": ["Ssn"]}, "response": {"builtins": ["CreditCard"]}})))
    blocked = {"model": "test-small", "messages": [{"role": "user", "content": "ssn 123-45-6789"}]}
    got = wait_until(lambda: (lambda r: r.get("status") == 403 and r)(run("openai", base, "chat", blocked)),
                     timeout=10, what="the guard in force")
    assert got["code"] == "content_blocked", got
    got = run("openai", base, "chat-stream", {"model": "test-small", "messages": [
        {"role": "user", "content": "card " + CARD + " thanks"}]})
    assert got["text"] == "echo: card <CREDIT_CARD> thanks", got


def test_libraries_fail_over_and_anthropic_streams_stay_readable_under_a_guard(make_dataplane, provider):
    from llm_provider import Provider
    from test_ai import ai_backend
    from test_policies import POLICIES, policy, to_route
    from dataplane import BACKENDS, ROUTES, created, replace
    dp = ai_plane(make_dataplane, provider, provider_name="Anthropic")
    s = dp.sluiced
    # The route's Backend "llm" (Anthropic) gets a chain: a first provider that answers 429.
    other = Provider()
    try:
        created(s.post(BACKENDS, ai_backend("busy", "OpenAICompatible", other.port, model="fail-429",
                                            fallbacks=[{"name": "llm"}])))
        r = replace(s, ROUTES + "/ai", lambda o: o["spec"]["rules"][0]["backendRefs"][0].update(name="busy"))
        assert r.status_code == 200
        params = {"model": "claude-test", "messages": [{"role": "user", "content": "are you there"}]}
        got = wait_until(lambda: (lambda r: "error" not in r and r)(run("openai", dp.url + "/v1", "chat", params)),
                         timeout=10, what="the chain in force")
        assert got["result"]["choices"][0]["message"]["content"].strip() == "echo: are you there"
        assert other.requests and other.last()["body"]["model"] == "fail-429"
    finally:
        other.close()
    # The Anthropic library reads a masked stream of Anthropic's own events.
    r = replace(s, ROUTES + "/ai", lambda o: o["spec"]["rules"][0]["backendRefs"][0].update(name="llm"))
    assert r.status_code == 200
    created(s.post(POLICIES, policy("guard", [to_route("ai")], aiPromptGuard={"response": {"builtins": ["Email"]}})))
    params = {"model": "claude-test", "max_tokens": 100,
              "messages": [{"role": "user", "content": "mail frank@example.com today"}]}

    def masked():
        got = run("anthropic", dp.url, "messages-stream", params)
        return "error" not in got and "<EMAIL>" in got["text"] and got
    got = wait_until(masked, timeout=10, what="the guard in force")
    assert got["text"].strip() == "echo: mail <EMAIL> today" and got["usage"]["output_tokens"] == 4, got


def test_openai_library_against_gemini_and_bedrock(make_dataplane):
    """The same OpenAI library, unchanged, in front of Gemini and of Bedrock
    (the gateway translates; Bedrock's requests are signed with SigV4)."""
    from llm_provider_google_aws import AWS_KEY_ID, AWS_SECRET, GoogleAwsProvider
    from test_ai_providers import plane
    cloud = GoogleAwsProvider()
    try:
        for name, data in (("Gemini", None), ("Bedrock", {"accessKeyId": AWS_KEY_ID, "secretAccessKey": AWS_SECRET})):
            dp = plane(make_dataplane, cloud, name, secret_data=data)
            base = dp.url + "/v1"
            got = run("openai", base, "chat", {"model": "m-1", "messages": [{"role": "user", "content": "hello sdk"}]})
            assert got["result"]["choices"][0]["message"]["content"] == "echo: hello sdk", (name, got)
            assert got["result"]["usage"]["total_tokens"] == 5, (name, got)
            got = run("openai", base, "chat-stream", {"model": "m-1", "stream_options": {"include_usage": True},
                                                       "messages": [{"role": "user", "content": "stream it"}]})
            assert got["text"].strip() == "echo: stream it" and got["usage"]["prompt_tokens"] == 2, (name, got)
            got = run("openai", base, "chat", {"model": "fail-429", "messages": [{"role": "user", "content": "x"}]})
            assert got["status"] == 429, (name, got)
            if name == "Gemini":  # (Bedrock's embeddings are not translated)
                got = run("openai", base, "embeddings", {"model": "gemini-embedding-001", "input": "four words right here"})
                assert got["result"]["data"][0]["embedding"] == [0.5, -0.25, 4.0], got
    finally:
        cloud.close()

"""The AI data plane, part 1: routes to Backends of type AI. The gateway sends
the provider's API key from a Secret (the client's own credential never
reaches the provider), the provider's Host and base path, and counts tokens
from the provider's usage: a JSON answer is held whole and sent with count
fields and Content-Length; a stream passes through event by event as it
arrives and is counted from its usage events (access log, gen_ai metrics).
The provider is a test double (llm_provider.py) written from OpenAI's and
Anthropic's API references: the real ones cannot be reached from here."""

import json
import re
import socket
import time

import pytest
import requests

from dataplane import BACKENDS, ROUTES, SLUICE_GROUP, created, make_dataplane, wait_until  # noqa: F401
from h2client import H2Client
from llm_provider import Provider
from test_auth import SECRETS, secret

KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def provider():
    p = Provider()
    yield p
    p.close()


def ai_backend(name, provider_name, port, secret_name="llm-key", **extra):
    ai = {"provider": provider_name, "host": "127.0.0.1", "port": port, "protocol": "HTTP"}
    if secret_name:
        ai["authSecretRef"] = {"name": secret_name}
    ai.update(extra)
    return {"apiVersion": SLUICE_GROUP + "/v1alpha1", "kind": "Backend",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"type": "AI", "ai": ai}}


def ai_route(name, backend, prefix):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw"}],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
                                "backendRefs": [{"group": SLUICE_GROUP, "kind": "Backend", "name": backend}]}]}}


def ai_plane(make_dataplane, provider, provider_name="OpenAICompatible", prefix="/v1", args=(), workers=1, **extra):
    dp = make_dataplane(args=list(args), workers=workers)
    created(dp.sluiced.post(SECRETS, secret("llm-key", {"apiKey": KEY})))
    created(dp.sluiced.post(BACKENDS, ai_backend("llm", provider_name, provider.port, **extra)))
    created(dp.sluiced.post(ROUTES, ai_route("ai", "llm", prefix)))
    wait_until(lambda: served_by_provider(dp, prefix), timeout=10, what="the AI route in force")
    return dp


def served_by_provider(dp, prefix="/v1"):
    """The AI route answers its model list: the provider's, or the gateway's for a
    route that names its models (the origin behind route "r" answers 200 to anything)."""
    r = requests.get(dp.url + prefix + "/models", timeout=5)
    return r.status_code == 200 and "X-Origin" not in r.headers and b'"object":' in r.content and b'"list"' in r.content


def chat(dp, body, headers=None, stream=False, path="/v1/chat/completions"):
    h = {"Authorization": "Bearer client-own-token"}
    h.update(headers or {})
    return requests.post(dp.url + path, json=body, headers=h, timeout=20, stream=stream)


def metrics(dp):
    return dp.sluiced.get("/metrics").text


def metric_value(text, name, **labels):
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all('%s="%s"' % (k, v) in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_chat_answer_is_counted_and_the_key_is_the_gateways(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider)
    body = {"model": "test-small", "messages": [{"role": "system", "content": "be brief"},
                                                {"role": "user", "content": "hello there gateway"}]}
    r = chat(dp, body, headers={"X-Api-Key": "client-other-key"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["choices"][0]["message"]["content"] == "echo: hello there gateway"
    assert got["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9,
                            "prompt_tokens_details": {"cached_tokens": 0}}
    # The counts, in the head of the answer (held whole, so its length is known).
    assert r.headers["x-sluice-ai-prompt-tokens"] == "5"
    assert r.headers["x-sluice-ai-completion-tokens"] == "4"
    assert r.headers["x-sluice-ai-total-tokens"] == "9"
    assert r.headers["x-sluice-ai-model"] == "test-small"
    assert int(r.headers["Content-Length"]) == len(r.content)
    # The provider got the gateway's key, its own Host, and none of the client's credentials.
    seen = provider.last()
    assert seen["path"] == "/v1/chat/completions"
    assert seen["headers"]["authorization"] == "Bearer " + KEY
    assert "x-api-key" not in seen["headers"]
    assert seen["headers"]["host"] == "127.0.0.1:%d" % provider.port
    assert seen["body"] == body
    # The key never travels back to the client.
    assert KEY not in r.text and all(KEY not in v for v in r.headers.values())


def test_stream_passes_through_as_it_arrives_and_is_counted(make_dataplane, provider, tmp_path):
    log = tmp_path / "access.log"
    dp = ai_plane(make_dataplane, provider, args=["--access-log", str(log)])
    body = {"model": "gated-stream", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "one two three"}]}
    r = chat(dp, body, stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    assert "x-sluice-ai-total-tokens" not in r.headers  # a stream's head goes before its usage
    lines = r.iter_lines()
    first = next(line for line in lines if line)
    # The first event reached the client while the provider still holds the rest:
    # the gateway does not wait for the whole answer.
    assert provider.first_chunk_sent.is_set() and not provider.gate.is_set()
    assert json.loads(first[len(b"data: "):])["choices"][0]["delta"]["content"] == "echo:"
    provider.gate.set()
    events = [first] + [line for line in lines if line]
    assert events[-1] == b"data: [DONE]"
    last = json.loads(events[-2][len(b"data: "):])
    assert last["usage"]["prompt_tokens"] == 3 and last["usage"]["completion_tokens"] == 4
    text = "".join(json.loads(e[6:])["choices"][0]["delta"].get("content", "")
                   for e in events[:-1] if json.loads(e[6:])["choices"])
    assert text == "echo: one two three"

    def logged():
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()] if log.exists() else []
        return [x for x in lines if x.get("path") == "/v1/chat/completions"]
    entry = wait_until(lambda: logged() and logged()[-1], timeout=5, what="the access log line")
    assert entry["ai_provider"] == "openai" and entry["ai_model"] == "gated-stream"
    assert entry["ai_input_tokens"] == 3 and entry["ai_output_tokens"] == 4
    m = metrics(dp)
    labels = {"backend": "default/llm", "gen_ai_response_model": "gated-stream", "gen_ai_provider_name": "openai"}
    assert metric_value(m, "gen_ai_client_token_usage_sum", gen_ai_token_type="input", **labels) == 3
    assert metric_value(m, "gen_ai_client_token_usage_sum", gen_ai_token_type="output", **labels) == 4
    assert metric_value(m, "gen_ai_client_token_usage_count", gen_ai_token_type="output", **labels) == 1
    assert metric_value(m, "gen_ai_server_time_to_first_token_seconds_count", **labels) == 1
    assert metric_value(m, "gen_ai_client_operation_duration_seconds_count", **labels) == 1
    # Time per output token: the 3 tokens after the first, streamed after the gate opened.
    assert metric_value(m, "gen_ai_server_time_per_output_token_seconds_count", **labels) == 1
    assert metric_value(m, "gen_ai_server_time_per_output_token_seconds_sum", **labels) >= 0
    # 4 output tokens fall in the le="4" bucket, not in le="1".
    assert metric_value(m, "gen_ai_client_token_usage_bucket", gen_ai_token_type="output", le="1", **labels) == 0
    assert metric_value(m, "gen_ai_client_token_usage_bucket", gen_ai_token_type="output", le="4", **labels) == 1


def test_a_client_that_leaves_mid_stream_cancels_the_provider_call(make_dataplane, provider):
    """The gateway closes its connection to the provider when the client leaves:
    the model stops generating (and billing) for nobody."""
    import time
    dp = ai_plane(make_dataplane, provider)
    body = json.dumps({"model": "gated-stream", "stream": True,
                       "messages": [{"role": "user", "content": " ".join(["w"] * 200)}]}).encode()
    s = socket.create_connection(("127.0.0.1", dp.port), timeout=10)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    assert s.recv(65536).startswith(b"HTTP/1.1 200")
    assert provider.first_chunk_sent.wait(10)
    s.close()
    time.sleep(0.3)  # the gateway sees the client's close
    provider.gate.set()  # the provider goes on writing: into a connection the gateway closed
    assert provider.upstream_closed.wait(10)


def test_chunked_answers_and_http2_clients(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider)
    # The provider frames its JSON chunked: the client gets it de-chunked, with a length.
    r = chat(dp, {"model": "chunked-json", "messages": [{"role": "user", "content": "a b"}]})
    assert r.status_code == 200 and r.json()["usage"]["total_tokens"] == 5
    assert r.headers["x-sluice-ai-total-tokens"] == "5" and "Transfer-Encoding" not in r.headers
    assert int(r.headers["Content-Length"]) == len(r.content)
    # HTTP/2 (h2c prior knowledge): the held answer and a stream.
    with H2Client.connect(dp.port) as h2:
        body = json.dumps({"model": "test-small", "messages": [{"role": "user", "content": "x y z"}]}).encode()
        sid = h2.request("POST", "/v1/chat/completions", body=body, headers=[("content-type", "application/json")])
        st = h2.response(sid)
        assert st.status == 200, st.headers
        assert st.header("x-sluice-ai-prompt-tokens") == "3"
        assert int(st.header("content-length")) == len(st.data)
        assert json.loads(bytes(st.data))["usage"]["completion_tokens"] == 4
        body = json.dumps({"model": "s", "stream": True, "stream_options": {"include_usage": True},
                           "messages": [{"role": "user", "content": "p q"}]}).encode()
        sid = h2.request("POST", "/v1/chat/completions", body=body, headers=[("content-type", "application/json")])
        st = h2.response(sid)
        assert st.status == 200 and bytes(st.data).endswith(b"data: [DONE]\n\n"), bytes(st.data)[-200:]
        assert b'"prompt_tokens": 2' in st.data


def test_embeddings_models_and_provider_errors(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider)
    r = chat(dp, {"model": "embed-1", "input": ["four words right here", "two more"]}, path="/v1/embeddings")
    assert r.status_code == 200 and len(r.json()["data"]) == 2
    assert r.headers["x-sluice-ai-prompt-tokens"] == "6" and r.headers["x-sluice-ai-total-tokens"] == "6"
    r = requests.get(dp.url + "/v1/models", timeout=10)
    assert r.status_code == 200 and r.json()["data"][0]["id"] == "test-small"
    assert provider.last()["headers"]["authorization"] == "Bearer " + KEY
    # A provider's error passes to the client as the provider said it, uncounted.
    r = chat(dp, {"model": "fail-429", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
    assert "x-sluice-ai-total-tokens" not in r.headers


def test_anthropic_messages_pass_through_with_its_key_style(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, provider_name="Anthropic")
    body = {"model": "claude-test", "max_tokens": 64, "system": "short",
            "messages": [{"role": "user", "content": "hi from sdk"}]}
    r = chat(dp, body, path="/v1/messages", headers={"x-api-key": "client-key"})
    assert r.status_code == 200, r.text
    assert r.json()["content"][0]["text"] == "echo: hi from sdk"
    assert r.headers["x-sluice-ai-prompt-tokens"] == "4"
    assert r.headers["x-sluice-ai-completion-tokens"] == "4"
    seen = provider.last()["headers"]
    assert seen["x-api-key"] == KEY and "authorization" not in seen
    assert seen["anthropic-version"] == "2023-06-01"
    # A client's own anthropic-version is kept.
    chat(dp, body, path="/v1/messages", headers={"anthropic-version": "2024-01-01"})
    assert provider.last()["headers"]["anthropic-version"] == "2024-01-01"
    # Streamed: message_start gives the input, message_delta the output.
    r = chat(dp, dict(body, stream=True), path="/v1/messages", stream=True)
    events = [line for line in r.iter_lines() if line.startswith(b"event: ")]
    assert events[0] == b"event: message_start" and events[-1] == b"event: message_stop"
    labels = {"backend": "default/llm", "gen_ai_response_model": "claude-test", "gen_ai_provider_name": "anthropic"}
    wait_until(lambda: metric_value(metrics(dp), "gen_ai_client_token_usage_count", gen_ai_token_type="input",
                                    **labels) == 3, timeout=5, what="three counted answers")
    m = metrics(dp)
    assert metric_value(m, "gen_ai_client_token_usage_sum", gen_ai_token_type="input", **labels) == 12
    assert metric_value(m, "gen_ai_client_token_usage_sum", gen_ai_token_type="output", **labels) == 12


def test_base_path_and_no_key(make_dataplane, provider):
    # ai.path replaces the client's /v1: an OpenAI-compatible server under /api/v1.
    dp = ai_plane(make_dataplane, provider, path="/api/v1", secret_name=None)
    r = chat(dp, {"model": "m", "messages": [{"role": "user", "content": "q"}]})
    assert r.status_code == 200
    seen = provider.last()
    assert seen["path"] == "/api/v1/chat/completions"
    # Without a key configured, the client's own credential is what the provider gets.
    assert seen["headers"]["authorization"] == "Bearer client-own-token"


def test_azure_openai_v1_api(make_dataplane, provider):
    """Azure OpenAI's v1 API: OpenAI's API under /openai/v1, the key as api-key."""
    dp = ai_plane(make_dataplane, provider, provider_name="AzureOpenAI")
    r = chat(dp, {"model": "my-deployment", "messages": [{"role": "user", "content": "hi azure"}]},
             headers={"api-key": "client-own"})
    assert r.status_code == 200 and r.headers["x-sluice-ai-total-tokens"] == "5"
    seen = provider.last()
    assert seen["path"] == "/openai/v1/chat/completions" and "?" not in seen["path"]
    assert seen["headers"]["api-key"] == KEY and "authorization" not in seen["headers"]
    assert seen["body"]["model"] == "my-deployment"


def test_missing_secret_is_reported(make_dataplane, provider):
    dp = make_dataplane()
    s = dp.sluiced
    created(s.post(BACKENDS, ai_backend("nokey", "OpenAI", provider.port, secret_name="absent")))
    created(s.post(ROUTES, ai_route("nokey-route", "nokey", "/nokey")))
    # Bedrock takes AWS credentials (or an apiKey): a Secret with neither is no credential.
    created(s.post(SECRETS, secret("half-aws", {"accessKeyId": "AKID"})))
    created(s.post(BACKENDS, ai_backend("aws", "Bedrock", provider.port, secret_name="half-aws")))
    created(s.post(ROUTES, ai_route("aws-route", "aws", "/aws")))

    def refs(name):
        st = s.get(ROUTES + "/" + name).json().get("status", {}).get("parents", [])
        conds = {c["type"]: c for c in st[0]["conditions"]} if st else {}
        return conds.get("ResolvedRefs")
    c = wait_until(lambda: refs("nokey-route") and refs("nokey-route")["status"] == "False" and refs("nokey-route"),
                   timeout=10, what="ResolvedRefs on nokey-route")
    assert c["reason"] == "BackendNotFound" and "default/absent" in c["message"], c
    c = wait_until(lambda: refs("aws-route") and refs("aws-route")["status"] == "False" and refs("aws-route"),
                   timeout=10, what="ResolvedRefs on aws-route")
    assert c["reason"] == "BackendNotFound" and "secretAccessKey" in c["message"], c
    assert requests.post(dp.url + "/nokey/v1/chat/completions", json={}, timeout=10).status_code == 500
    assert requests.post(dp.url + "/aws/v1/chat/completions", json={}, timeout=10).status_code == 500
    assert provider.requests == []  # nothing reached the provider without its key
    # The Secret appears: the route resolves and traffic flows with the key.
    created(s.post(SECRETS, secret("absent", {"apiKey": "sk-late"})))
    wait_until(lambda: refs("nokey-route")["status"] == "True", timeout=10, what="ResolvedRefs True")


def test_provider_places_are_validated(make_dataplane):
    """ai.project belongs to VertexAI (and it needs one); ai.region to VertexAI and Bedrock."""
    s = make_dataplane().sluiced
    r = s.post(BACKENDS, ai_backend("v", "VertexAI", 1, secret_name=None))
    assert r.status_code == 422 and "spec.ai.project" in r.text, r.text
    r = s.post(BACKENDS, ai_backend("o", "OpenAI", 1, secret_name=None, region="us-east-1", project="my-project"))
    assert r.status_code == 422 and "spec.ai.region" in r.text and "spec.ai.project" in r.text, r.text
    r = s.post(BACKENDS, ai_backend("b", "Bedrock", 1, secret_name=None, region="US East"))
    assert r.status_code == 422 and "spec.ai.region" in r.text, r.text


def test_the_key_is_not_shown_by_debug_snapshot(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider)
    raw = dp.sluiced.get("/debug/snapshot?raw=1").text
    assert KEY not in raw
    be = [b for b in json.loads(raw)["sections"]["backends"] if b["name"] == "llm"][0]
    assert be["ai_key"] == "(secret, %d bytes)" % len(KEY) and be["ai_provider"] > 0
    assert KEY not in dp.sluiced.get("/debug/snapshot").text


def test_protocol_is_validated(make_dataplane, provider):
    dp = make_dataplane()
    r = dp.sluiced.post(BACKENDS, ai_backend("bad", "OpenAI", provider.port, protocol="SPDY"))
    assert r.status_code == 422 and "spec.ai.protocol" in r.text, r.text
    # ai.path goes into request lines: nothing but a URL path may be in it.
    for path in ["/v1 HTTP/1.1\r\nX-Injected: yes", "/v1/a b", "v1", "/v1/%zz"]:
        r = dp.sluiced.post(BACKENDS, ai_backend("bad", "OpenAI", provider.port, path=path))
        assert r.status_code == 422 and "spec.ai.path" in r.text, (path, r.text)
    assert dp.sluiced.post(BACKENDS, ai_backend("good", "OpenAI", provider.port, path="/api/v1;x=%2F")).status_code == 201


def stream_events(resp):
    return [json.loads(line[6:]) if line != b"data: [DONE]" else "[DONE]"
            for line in resp.iter_lines() if line.startswith(b"data: ")]


def test_streams_are_counted_even_when_the_client_did_not_ask_for_usage(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider)
    body = {"model": "test-small", "stream": True, "messages": [{"role": "user", "content": "count me in"}]}
    r = chat(dp, body, stream=True)
    events = stream_events(r)
    # The gateway asked the provider for the usage chunk...
    sent = provider.last()["body"]
    assert sent["stream_options"] == {"include_usage": True} and sent["messages"] == body["messages"]
    assert int(provider.last()["headers"]["content-length"]) == len(provider.last()["raw"])
    # ...and keeps it from the client, which gets the stream it asked for.
    assert events[-1] == "[DONE]"
    assert all(e["choices"] for e in events[:-1]), events[-3:]
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert text == "echo: count me in"
    labels = {"backend": "default/llm", "gen_ai_response_model": "test-small"}
    wait_until(lambda: metric_value(metrics(dp), "gen_ai_client_token_usage_sum", gen_ai_token_type="output",
                                    **labels) == 4, timeout=5, what="the stream counted")
    assert metric_value(metrics(dp), "gen_ai_client_token_usage_sum", gen_ai_token_type="input", **labels) == 3
    # A client that asked for usage gets the chunk, and its own stream_options are kept.
    body["stream_options"] = {"include_usage": True}
    events = stream_events(chat(dp, body, stream=True))
    assert events[-2]["choices"] == [] and events[-2]["usage"]["total_tokens"] == 7
    # A body that needs no change is sent byte for byte, as the client wrote it.
    raw = b'{ "model" : "test-small",\n "messages": [{"role": "user", "content": "as is"}] }'
    r = requests.post(dp.url + "/v1/chat/completions", data=raw, headers={"Content-Type": "application/json"},
                      timeout=10)
    assert r.status_code == 200 and provider.last()["raw"] == raw


def test_backend_model_overrides_the_clients(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, model="forced-model")
    r = chat(dp, {"model": "client-choice", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    assert provider.last()["body"]["model"] == "forced-model"
    assert r.headers["x-sluice-ai-model"] == "forced-model"


def test_prices_turn_counts_into_cost(make_dataplane, provider, tmp_path):
    log = tmp_path / "access.log"
    dp = ai_plane(make_dataplane, provider, args=["--access-log", str(log)], prices=[
        {"model": "test-small", "input": 2.5, "output": 10, "cachedInput": 1.25},
        {"model": "*", "input": 1, "output": 2}])
    body = {"model": "test-small", "messages": [{"role": "system", "content": "be brief"},
                                                {"role": "user", "content": "hello there gateway"}]}
    r = chat(dp, body)
    # 5 prompt tokens at 2.5 USD per million, 4 completion tokens at 10.
    assert r.status_code == 200 and r.headers["x-sluice-ai-cost-usd"] == "0.000052500", r.headers
    body["model"] = "other-model"  # priced by the "*" line: 5 * 1 + 4 * 2
    assert chat(dp, body).headers["x-sluice-ai-cost-usd"] == "0.000013000"
    labels = {"backend": "default/llm", "gen_ai_response_model": "test-small"}
    assert metric_value(metrics(dp), "sluice_ai_cost_usd_total", **labels) == pytest.approx(0.0000525)

    def logged():
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()] if log.exists() else []
        return [x for x in lines if x.get("path") == "/v1/chat/completions"]
    entry = wait_until(lambda: len(logged()) >= 2 and logged()[-1], timeout=5, what="the access log lines")
    assert entry["ai_cost_usd"] == pytest.approx(0.000013)
    bad = ai_backend("bad", "OpenAI", provider.port, prices=[{"model": "m", "input": -1, "output": 1}])
    r = dp.sluiced.post(BACKENDS, bad)
    assert r.status_code == 422 and "spec.ai.prices[0].input" in r.text, r.text


def test_shipped_default_prices(make_dataplane, provider):
    """Without ai.prices, a well-known model is priced by the shipped list
    (gpt-4o-mini: USD 0.15 per million prompt tokens, 0.60 per million
    completion tokens); an unknown one has no cost; a Backend's own line wins."""
    dp = ai_plane(make_dataplane, provider)
    body = {"model": "gpt-4o-mini-2024-07-18", "messages": [{"role": "user", "content": "hello there gateway"}]}
    r = chat(dp, body)  # 3 prompt tokens, 4 completion tokens
    assert r.headers["x-sluice-ai-cost-usd"] == "0.000002850", r.headers
    body["model"] = "test-small"
    assert "x-sluice-ai-cost-usd" not in chat(dp, body).headers
    created(dp.sluiced.post(BACKENDS, ai_backend("own", "OpenAI", provider.port,
                                                 prices=[{"model": "*", "input": 1, "output": 1}])))
    created(dp.sluiced.post(ROUTES, ai_route("own", "own", "/own")))
    wait_until(lambda: served_by_provider(dp, "/own/v1"), timeout=10, what="the second route")
    body["model"] = "gpt-4o-mini"
    r = chat(dp, body, path="/own/v1/chat/completions")
    assert r.headers["x-sluice-ai-cost-usd"] == "0.000007000", r.headers


def test_model_aliases(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, modelAliases={"fast": "test-small", "smart": "big-model"})
    r = chat(dp, {"model": "fast", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and provider.last()["body"]["model"] == "test-small"
    chat(dp, {"model": "smart", "messages": [{"role": "user", "content": "hi"}]})
    assert provider.last()["body"]["model"] == "big-model"
    raw = b'{"model": "not-an-alias", "messages": [{"role": "user", "content": "hi"}]}'
    requests.post(dp.url + "/v1/chat/completions", data=raw, headers={"Content-Type": "application/json"},
                  timeout=10)
    assert provider.last()["raw"] == raw  # unchanged, byte for byte
    # Embeddings (any JSON body) are mapped too.
    r = requests.post(dp.url + "/v1/embeddings", json={"model": "fast", "input": "a b"}, timeout=10)
    assert r.status_code == 200 and provider.last()["body"]["model"] == "test-small"
    # The model list: the provider's (any model goes to it), with the aliases clients may use.
    n = len(provider.requests)
    r = requests.get(dp.url + "/v1/models", timeout=10)
    assert [m["id"] for m in r.json()["data"]] == ["test-small", "fast", "smart"], r.text
    assert len(provider.requests) == n + 1 and r.headers["content-length"] == str(len(r.content))
    # Names are checked: a newline would break the compiled list.
    bad = ai_backend("bad", "OpenAI", provider.port, modelAliases={"x\ny": "m"})
    r = dp.sluiced.post(BACKENDS, bad)
    assert r.status_code == 422 and "spec.ai.modelAliases" in r.text, r.text


def test_request_bodies_chunked_http2_large_and_too_large(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, args=["--ai-max-request-bytes", "400000"])
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "chunked upload"}]}
    data = json.dumps(body).encode()

    def pieces():
        yield data[:10]
        yield data[10:]
    # HTTP/1 chunked upload: collected, rewritten, sent with a length.
    r = requests.post(dp.url + "/v1/chat/completions", data=pieces(), headers={"Content-Type": "application/json"},
                      timeout=10, stream=True)
    assert r.status_code == 200 and stream_events(r)[-1] == "[DONE]"
    seen = provider.last()
    assert "transfer-encoding" not in seen["headers"] and int(seen["headers"]["content-length"]) == len(seen["raw"])
    assert seen["body"]["stream_options"] == {"include_usage": True}
    # HTTP/2, with a body several times the stream window (the gateway keeps reading).
    words = " ".join("w%d" % i for i in range(40000))  # about 270 KB
    big = json.dumps({"model": "m", "messages": [{"role": "user", "content": words}]}).encode()
    with H2Client.connect(dp.port) as h2:
        sid = h2.request("POST", "/v1/chat/completions", body=big, headers=[("content-type", "application/json")])
        st = h2.response(sid, timeout=30)
        assert st.status == 200, st.headers
        assert st.header("x-sluice-ai-prompt-tokens") == "40000"
    assert provider.last()["raw"] == big
    # Beyond --ai-max-request-bytes: 413, and nothing reaches the provider.
    n = len(provider.requests)
    huge = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 500000}]}).encode()
    r = requests.post(dp.url + "/v1/chat/completions", data=huge, headers={"Content-Type": "application/json"},
                      timeout=10)
    assert r.status_code == 413 and len(provider.requests) == n


def test_ai_requests_are_not_mirrored(make_dataplane, provider):
    """A mirror would see the provider's key in the head: AI routes do not mirror."""
    dp = make_dataplane()
    s = dp.sluiced
    created(s.post(SECRETS, secret("llm-key", {"apiKey": KEY})))
    created(s.post(BACKENDS, ai_backend("llm", "OpenAICompatible", provider.port)))
    route = ai_route("ai", "llm", "/v1")
    route["spec"]["rules"][0]["filters"] = [{"type": "RequestMirror", "requestMirror": {
        "backendRef": {"group": SLUICE_GROUP, "kind": "Backend", "name": "be"}}}]
    created(s.post(ROUTES, route))
    wait_until(lambda: served_by_provider(dp), timeout=10, what="the AI route")
    n = dp.origin.nrequests
    # A request without a body would be mirrored whole: the guard is what stops it.
    assert requests.get(dp.url + "/v1/models", headers={"Authorization": "Bearer c"}, timeout=10).status_code == 200
    assert chat(dp, {"model": "m", "messages": [{"role": "user", "content": "x"}]}).status_code == 200
    time.sleep(0.5)
    assert dp.origin.nrequests == n


WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def test_openai_chat_is_translated_to_anthropic_messages(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, provider_name="Anthropic")
    body = {"model": "claude-test", "messages": [{"role": "system", "content": "be brief"},
                                                 {"role": "user", "content": "hello claude"}],
            "max_tokens": 50, "temperature": 0.2, "stop": "END"}
    r = chat(dp, body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["object"] == "chat.completion" and got["model"] == "claude-test"
    assert got["choices"][0]["message"] == {"role": "assistant", "content": "echo: hello claude"}
    assert got["choices"][0]["finish_reason"] == "stop"
    assert got["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    assert r.headers["x-sluice-ai-total-tokens"] == "7"
    seen = provider.last()
    assert seen["path"] == "/v1/messages" and seen["headers"]["x-api-key"] == KEY
    sent = seen["body"]
    assert sent["system"] == [{"type": "text", "text": "be brief"}]
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hello claude"}]}]
    assert sent["max_tokens"] == 50 and sent["temperature"] == 0.2 and sent["stop_sequences"] == ["END"]
    # Without max_tokens, Anthropic's required field gets a default.
    chat(dp, {"model": "claude-test", "messages": [{"role": "user", "content": "x"}]})
    assert provider.last()["body"]["max_tokens"] == 4096


def test_translated_tool_calls_and_results(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, provider_name="Anthropic")
    ask = {"role": "user", "content": "what is the weather in Paris"}
    r = chat(dp, {"model": "claude-test", "tools": [WEATHER_TOOL], "tool_choice": "auto", "messages": [ask]})
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["id"] == "toolu_01" and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris", "unit": "C"}
    sent = provider.last()["body"]
    assert sent["tools"] == [{"name": "get_weather", "description": "The weather in a city",
                              "input_schema": WEATHER_TOOL["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "auto"}
    # The tool's result goes back as a tool_result block of a user turn.
    follow = [ask, choice["message"], {"role": "tool", "tool_call_id": "toolu_01", "content": "18 C, sunny"}]
    r = chat(dp, {"model": "claude-test", "tools": [WEATHER_TOOL], "messages": follow})
    assert r.status_code == 200, r.text
    sent = provider.last()["body"]["messages"]
    assert sent[1] == {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                                                         "input": {"city": "Paris", "unit": "C"}}]}
    assert sent[2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01",
                                                    "content": [{"type": "text", "text": "18 C, sunny"}]}]}
    # Streamed: the tool call arrives as OpenAI's tool_calls deltas.
    r = chat(dp, {"model": "claude-test", "tools": [WEATHER_TOOL], "stream": True, "messages": [ask]}, stream=True)
    events = stream_events(r)
    assert events[-1] == "[DONE]"
    deltas = [e["choices"][0]["delta"] for e in events[:-1] if e["choices"]]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0]["id"] == "toolu_01" and calls[0]["function"]["name"] == "get_weather"
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Paris", "unit": "C"}
    assert [e["choices"][0]["finish_reason"] for e in events[:-1] if e["choices"]][-1] == "tool_calls"


def test_translated_streams_and_errors(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, provider_name="Anthropic")
    body = {"model": "claude-test", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "stream it now"}]}
    r = chat(dp, body, stream=True)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    events = stream_events(r)
    assert events[-1] == "[DONE]"
    assert all(e["object"] == "chat.completion.chunk" for e in events[:-1])
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1] if e["choices"])
    assert text.strip() == "echo: stream it now"
    assert events[-2]["choices"] == [] and events[-2]["usage"] == {"prompt_tokens": 3, "completion_tokens": 4,
                                                                   "total_tokens": 7}
    # Without include_usage, no usage chunk; the stream is counted all the same.
    del body["stream_options"]
    events = stream_events(chat(dp, body, stream=True))
    assert all(e["choices"] for e in events[:-1])
    labels = {"backend": "default/llm", "gen_ai_response_model": "claude-test", "gen_ai_provider_name": "anthropic"}
    wait_until(lambda: metric_value(metrics(dp), "gen_ai_client_token_usage_sum", gen_ai_token_type="input",
                                    **labels) == 6, timeout=5, what="both streams counted")
    # A provider error comes in OpenAI's error shape, with the provider's status.
    r = chat(dp, {"model": "fail-429", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "rate_limit_error" and "exceeded" in r.json()["error"]["message"]
    # What cannot be translated is refused by the gateway, in OpenAI's shape, and not sent.
    n = len(provider.requests)
    r = chat(dp, {"model": "claude-test", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]})
    assert r.status_code == 400 and "input_audio" in r.json()["error"]["message"], r.text
    r = requests.post(dp.url + "/v1/chat/completions", data=b"not json", timeout=10)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert len(provider.requests) == n
    # Images: a data URL becomes a base64 source.
    img = {"role": "user", "content": [{"type": "text", "text": "what is this"},
                                       {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}
    assert chat(dp, {"model": "claude-test", "messages": [img]}).status_code == 200
    assert provider.last()["body"]["messages"][0]["content"][1] == {
        "type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}


def dechunk(data):
    out = b""
    while True:
        line, data = data.split(b"\r\n", 1)
        n = int(line, 16)
        if n == 0:
            return out
        out, data = out + data[:n], data[n + 2:]


def test_large_answers_slow_clients_and_keep_alive(make_dataplane, provider, tmp_path):
    log = tmp_path / "access.log"
    dp = ai_plane(make_dataplane, provider, args=["--access-log", str(log)])
    # An answer far above --splice-min-bytes still goes through the hook: head, counts, length.
    r = chat(dp, {"model": "big-json", "messages": [{"role": "user", "content": "a b c"}]})
    assert r.status_code == 200 and len(r.json()["choices"][0]["message"]["content"]) == 300000
    assert r.headers["x-sluice-ai-prompt-tokens"] == "3" and int(r.headers["Content-Length"]) == len(r.content)
    # A client that reads nothing for a while: the stream's end comes while the gateway
    # holds more than its mark for that client; it must still end.
    body = json.dumps({"model": "big-stream", "stream": True,
                       "messages": [{"role": "user", "content": "slow reader"}]}).encode()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", dp.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    time.sleep(1.5)
    s.settimeout(10)
    got = b""
    while not got.endswith(b"\r\n0\r\n\r\n"):
        part = s.recv(65536)
        assert part, got[-300:]
        got += part
    s.close()
    body = dechunk(got.split(b"\r\n\r\n", 1)[1])
    assert body.count(b'"content": "' + b"y" * 16000) == 400 and body.endswith(b"data: [DONE]\n\n")
    # An upstream's own x-sluice-ai-* fields are not passed on: the counts are the gateway's.
    r = chat(dp, {"model": "fake-counts", "messages": [{"role": "user", "content": "a b"}]})
    assert r.headers["x-sluice-ai-total-tokens"] == "5"
    # Answers are asked for uncompressed (usage must be readable).
    assert provider.last()["headers"]["accept-encoding"] == "identity"
    # Keep-alive: the next request on the connection carries nothing of the AI one.
    with requests.Session() as sess:
        r1 = sess.post(dp.url + "/v1/chat/completions", json={"model": "test-small",
                                                              "messages": [{"role": "user", "content": "q"}]})
        r2 = sess.get(dp.url + "/plain")
        assert r1.status_code == 200 and r2.status_code == 200 and "X-Origin" in r2.headers
        assert "x-sluice-ai-total-tokens" not in r2.headers

    def plain_lines():
        if not log.exists():
            return []
        return [json.loads(x) for x in log.read_text().splitlines() if '"/plain"' in x]
    entry = wait_until(lambda: plain_lines() and plain_lines()[-1], timeout=5, what="the /plain log line")
    assert "ai_provider" not in entry, entry


def read_until(sock, marker, got=b"", timeout=5):
    sock.settimeout(timeout)
    while marker not in got:
        part = sock.recv(65536)
        assert part, got[-300:]
        got += part
    return got


def test_keep_alive_requests_with_late_bodies_and_100_continue(make_dataplane, provider):
    """A body that arrives after its head, or after 100 Continue, on a connection that
    already served a request: the new request is collected, not taken as finished."""
    dp = ai_plane(make_dataplane, provider)
    body = json.dumps({"model": "test-small", "messages": [{"role": "user", "content": "late body here"}]}).encode()
    s = socket.create_connection(("127.0.0.1", dp.port))
    s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
    got = read_until(s, b'"test-small"')
    # Head and a piece of the body now, the rest later.
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body[:20]))
    time.sleep(0.5)
    s.sendall(body[20:])
    got = read_until(s, b"echo: late body here")
    assert b"HTTP/1.1 200" in got and b"HTTP/1.1 400" not in got, got[-500:]
    # Expect: 100-continue on the same connection.
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
    got = read_until(s, b"100 Continue\r\n\r\n")
    s.sendall(body)
    got = read_until(s, b"echo: late body here", got.split(b"100 Continue\r\n\r\n", 1)[1])
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    s.close()
    assert provider.last()["raw"] == body
    # A declared length beyond --ai-max-request-bytes: 413 at once, no 100 Continue.
    s = socket.create_connection(("127.0.0.1", dp.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Expect: 100-continue\r\nContent-Length: 99999999999\r\n\r\n")
    got = read_until(s, b"\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 413") and b"100 Continue" not in got, got
    s.close()


def test_bodies_that_could_be_read_two_ways_are_refused(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, model="forced-model")
    # A route whose every model is named answers its model list itself.
    n = len(provider.requests)
    r = requests.get(dp.url + "/v1/models", timeout=10)
    assert r.status_code == 200 and r.json() == {"object": "list", "data": [
        {"id": "forced-model", "object": "model", "created": 0, "owned_by": "openai"}]}, r.text
    assert len(provider.requests) == n
    for raw in [b'{"model":"forced-model","model":"expensive","messages":[]}',
                b'{"model":"x","stream":true,"seed":18446744073709551616,"messages":[]}', b"[1,2]"]:
        r = requests.post(dp.url + "/v1/chat/completions", data=raw, headers={"Content-Type": "application/json"},
                          timeout=10)
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error", (raw, r.text)
    assert len(provider.requests) == n
    # A NUL inside a string is JSON (\u0000): read, and the model still replaced.
    r = requests.post(dp.url + "/v1/chat/completions", headers={"Content-Type": "application/json"}, timeout=10,
                      data=b'{"model":"a\\u0000b","messages":[{"role":"user","content":"x"}]}')
    assert r.status_code == 200 and provider.last()["body"]["model"] == "forced-model"


def test_uploads_are_not_collected(make_dataplane, provider):
    """Only bodies the gateway rewrites are read whole: others stream through, at any size."""
    dp = ai_plane(make_dataplane, provider, args=["--ai-max-request-bytes", "100000"])
    r = requests.post(dp.url + "/v1/files", files={"file": ("a.jsonl", b"x" * 300000)}, timeout=20)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"  # the provider's own answer
    assert provider.last()["path"] == "/v1/files"


def test_stripped_streams_keep_crlf_events_and_comments_moving(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider)
    body = json.dumps({"model": "crlf-gated", "stream": True,
                       "messages": [{"role": "user", "content": "x"}]}).encode()
    s = socket.create_connection(("127.0.0.1", dp.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    # The head and the provider's comment arrive while it works (nothing waits for an event).
    got = read_until(s, b": PROCESSING")
    assert provider.stage1.is_set() and not provider.gate.is_set()
    assert got.startswith(b"HTTP/1.1 200")
    provider.gate.set()
    # The first event arrives whole, with its CRLF blank line, while the provider holds the rest.
    got = read_until(s, b'"content": "first"', got)
    got = read_until(s, b'"content": "first"', got)
    tail = got.split(b'"content": "first"', 1)[1]
    got = read_until(s, b"\r\n\r\n", tail) if b"\r\n\r\n" not in tail else got
    assert not provider.gate2.is_set()
    provider.gate2.set()
    got = read_until(s, b"\r\n0\r\n\r\n", got)
    s.close()
    assert provider.last()["body"]["stream_options"] == {"include_usage": True}
    assert b'"choices": []' not in got and b"data: [DONE]" in got


def test_translation_refuses_what_anthropic_cannot_do(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, provider_name="Anthropic")
    base = {"model": "claude-test", "messages": [{"role": "user", "content": "x"}]}
    for extra, word in [({"n": 2}, "n:"), ({"response_format": {"type": "json_object"}}, "response_format"),
                        ({"logprobs": True}, "logprobs")]:
        r = chat(dp, dict(base, **extra))
        assert r.status_code == 400 and word in r.json()["error"]["message"], r.text
    r = chat(dp, dict(base, tools=[WEATHER_TOOL], parallel_tool_calls=False))
    assert r.status_code == 200
    assert provider.last()["body"]["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_anthropic_model_list_in_openais_shape(make_dataplane, provider):
    dp = ai_plane(make_dataplane, provider, provider_name="Anthropic")
    r = requests.get(dp.url + "/v1/models", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"object": "list", "data": [{"id": "test-small", "object": "model", "created": 1739923200,
                                                    "owned_by": "anthropic"}]}
    assert provider.last()["headers"]["x-api-key"] == KEY
    assert "gen_ai_client_token_usage_count{" not in metrics(dp)  # a list is no LLM call


def test_providers_may_think_longer_than_the_response_timeout(make_dataplane, provider):
    """--ai-response-timeout (10 min by default) is what --response-timeout is for AI routes."""
    body = {"model": "slow-2s", "messages": [{"role": "user", "content": "think"}]}
    dp = ai_plane(make_dataplane, provider, args=["--response-timeout", "1000"])
    assert requests.get(dp.url + "/slow?delay=2000", timeout=10).status_code == 504  # a plain route times out
    r = chat(dp, body)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "echo: think"
    dp2 = ai_plane(make_dataplane, provider, args=["--response-timeout", "1000", "--ai-response-timeout", "500"])
    assert chat(dp2, body).status_code == 504

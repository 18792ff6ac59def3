"""Providers that speak their own APIs, behind the gateway's OpenAI-compatible
endpoint: Gemini (Google AI Studio), Vertex AI and Amazon Bedrock (Converse,
signed with AWS SigV4). The client speaks OpenAI's Chat Completions; the
gateway translates requests, answers, errors and streams (Bedrock's in AWS's
event-stream framing) and counts tokens from each provider's own usage. The
providers are test doubles (llm_provider_google_aws.py) written from Google's
and AWS's API references; the Bedrock double checks SigV4 signatures as AWS
does."""

import json

import pytest
import requests

from h2client import H2Client
from dataplane import BACKENDS, ROUTES, SLUICE_GROUP, created, make_dataplane, wait_until  # noqa: F401
from llm_provider_google_aws import AWS_KEY_ID, AWS_SECRET, GoogleAwsProvider
from test_ai import KEY, ai_backend, ai_route, metric_value, metrics
from test_auth import SECRETS, secret


@pytest.fixture
def cloud():
    p = GoogleAwsProvider()
    yield p
    p.close()


def plane(make_dataplane, cloud, provider_name, secret_data=None, workers=1, **extra):
    dp = make_dataplane(workers=workers)
    created(dp.sluiced.post(SECRETS, secret("llm-key", secret_data or {"apiKey": KEY})))
    created(dp.sluiced.post(BACKENDS, ai_backend("llm", provider_name, cloud.port, **extra)))
    created(dp.sluiced.post(ROUTES, ai_route("ai", "llm", "/v1")))
    wait_until(lambda: ready(dp), timeout=10, what="the AI route in force")
    return dp


def ready(dp):
    """The route is in force: its answers are the gateway's translation (a
    malformed call gets the gateway's own 400), not the default origin's."""
    r = requests.post(dp.url + "/v1/chat/completions", json={"model": "m", "messages": []}, timeout=5)
    return r.status_code == 400 and "non-empty" in r.text


def chat(dp, body, stream=False):
    return requests.post(dp.url + "/v1/chat/completions", json=body, stream=stream, timeout=20,
                         headers={"Authorization": "Bearer client-own-token"})


def sse_chunks(r):
    out = []
    for line in r.iter_lines():
        if line.startswith(b"data: "):
            data = line[6:].decode()
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


WEATHER_TOOL = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                                  "parameters": {"type": "object",
                                                                 "properties": {"city": {"type": "string"}}}}}]


def test_gemini_chat_translated_with_the_key_in_its_field(make_dataplane, cloud):
    dp = plane(make_dataplane, cloud, "Gemini")
    r = chat(dp, {"model": "gemini-test", "max_tokens": 50,
                  "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi gemini"}]})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["object"] == "chat.completion" and got["choices"][0]["message"]["content"] == "echo: hi gemini"
    assert got["choices"][0]["finish_reason"] == "stop"
    assert got["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    assert r.headers["x-sluice-ai-total-tokens"] == "7" and r.headers["x-sluice-ai-model"] == "gemini-test-001"
    seen = cloud.last()
    assert seen["path"] == "/v1beta/models/gemini-test:generateContent"
    assert seen["headers"]["x-goog-api-key"] == KEY and "authorization" not in seen["headers"]
    assert seen["body"]["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert seen["body"]["contents"] == [{"role": "user", "parts": [{"text": "hi gemini"}]}]
    assert seen["body"]["generationConfig"] == {"maxOutputTokens": 50} and "model" not in seen["body"]
    # The model list in OpenAI's shape.
    models = requests.get(dp.url + "/v1/models", timeout=5).json()
    assert [m["id"] for m in models["data"]] == ["test-small"] and cloud.last()["path"] == "/v1beta/models"


def test_gemini_stream_tools_and_errors(make_dataplane, cloud):
    dp = plane(make_dataplane, cloud, "Gemini")
    r = chat(dp, {"model": "gemini-test", "stream": True, "stream_options": {"include_usage": True},
                  "messages": [{"role": "user", "content": "stream me now"}]}, stream=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    chunks = sse_chunks(r)
    assert chunks[-1] == "[DONE]"
    assert cloud.last()["path"] == "/v1beta/models/gemini-test:streamGenerateContent?alt=sse"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1] if c["choices"])
    assert text.strip() == "echo: stream me now"
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1] if c["choices"] and
            c["choices"][0]["finish_reason"]] == ["stop"]
    assert chunks[-2]["choices"] == [] and chunks[-2]["usage"]["total_tokens"] == 7
    # A tool call, then its result sent back: Gemini gets the function's name with it.
    r = chat(dp, {"model": "gemini-test", "tools": WEATHER_TOOL, "tool_choice": "required",
                  "messages": [{"role": "user", "content": "weather in Paris?"}]})
    msg = r.json()["choices"][0]
    assert msg["finish_reason"] == "tool_calls"
    call = msg["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather" and json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    sent = cloud.last()["body"]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert sent["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["type"] == "object"
    r = chat(dp, {"model": "gemini-test", "tools": WEATHER_TOOL,
                  "messages": [{"role": "user", "content": "weather in Paris?"},
                               {"role": "assistant", "content": None, "tool_calls": [call]},
                               {"role": "tool", "tool_call_id": call["id"], "content": "{\"celsius\": 21}"},
                               {"role": "user", "content": "so?"}]})
    assert r.status_code == 200, r.text
    contents = cloud.last()["body"]["contents"]
    assert contents[1]["role"] == "model" and contents[1]["parts"][0]["functionCall"]["name"] == "get_weather"
    assert contents[2]["parts"][0]["functionResponse"] == {"name": "get_weather", "response": {"celsius": 21}}
    # The call's thoughtSignature went back with it (the double refuses a call without it, as Gemini 3 does).
    assert contents[1]["parts"][0]["thoughtSignature"] == "sig-abc"
    # The provider's error in OpenAI's shape, with its status.
    r = chat(dp, {"model": "fail-429", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "rate_limit_error" and r.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
    # Counted by provider and model.
    wait_until(lambda: metric_value(metrics(dp), "gen_ai_client_token_usage_count", gen_ai_token_type="input",
                                    gen_ai_provider_name="gcp.gemini") == 3, timeout=5, what="three counted chats")


def test_gemini_embeddings(make_dataplane, cloud):
    import base64
    import struct
    dp = plane(make_dataplane, cloud, "Gemini")
    r = requests.post(dp.url + "/v1/embeddings", timeout=10, json={
        "model": "gemini-embedding-001", "input": ["one two", "three"], "dimensions": 3})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["object"] == "list" and got["model"] == "gemini-embedding-001"
    assert [d["embedding"] for d in got["data"]] == [[0.5, -0.25, 2.0], [0.5, -0.25, 1.0]]
    assert [d["index"] for d in got["data"]] == [0, 1]
    seen = cloud.last()
    assert seen["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert seen["body"]["requests"][0] == {"model": "models/gemini-embedding-001", "outputDimensionality": 3,
                                           "content": {"parts": [{"text": "one two"}]}}
    # encoding_format base64 (what the OpenAI libraries ask for by default): float32 little-endian.
    r = requests.post(dp.url + "/v1/embeddings", timeout=10,
                      json={"model": "gemini-embedding-001", "input": "a b c", "encoding_format": "base64"})
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    assert struct.unpack("<3f", raw) == (0.5, -0.25, 3.0)
    r = requests.post(dp.url + "/v1/embeddings", timeout=10, json={"model": "g", "input": [[1, 2, 3]]})
    assert r.status_code == 400 and "input" in r.json()["error"]["message"]


def test_vertex_ai_path_and_bearer_token(make_dataplane, cloud):
    dp = plane(make_dataplane, cloud, "VertexAI", project="my-project-42", region="europe-west4")
    r = chat(dp, {"model": "gemini-test", "messages": [{"role": "user", "content": "hi vertex"}]})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "echo: hi vertex"
    seen = cloud.last()
    assert seen["path"] == ("/v1/projects/my-project-42/locations/europe-west4/publishers/google/models/"
                            "gemini-test:generateContent")
    assert seen["headers"]["authorization"] == "Bearer " + KEY and "x-goog-api-key" not in seen["headers"]


AWS_SECRET_DATA = {"accessKeyId": AWS_KEY_ID, "secretAccessKey": AWS_SECRET}


def test_bedrock_converse_signed_with_sigv4(make_dataplane, cloud):
    dp = plane(make_dataplane, cloud, "Bedrock", secret_data=dict(AWS_SECRET_DATA, sessionToken="session-tok"),
               region="us-west-2")
    model = "anthropic.claude-3-5-haiku-20241022-v1:0"
    r = chat(dp, {"model": model, "max_tokens": 64, "temperature": 0.2,
                  "messages": [{"role": "developer", "content": "terse"}, {"role": "user", "content": "hi bedrock"}]})
    assert r.status_code == 200, r.text  # the double answers 403 to a wrong signature
    got = r.json()
    assert got["choices"][0]["message"]["content"] == "echo: hi bedrock" and got["model"] == model
    assert got["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    assert r.headers["x-sluice-ai-model"] == model
    seen = cloud.last()
    assert seen["path"] == "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    auth = seen["headers"]["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=%s/" % AWS_KEY_ID) and "/us-west-2/bedrock/aws4_request" in auth
    assert seen["headers"]["x-amz-security-token"] == "session-tok"
    assert seen["body"]["system"] == [{"text": "terse"}]
    assert seen["body"]["inferenceConfig"] == {"maxTokens": 64, "temperature": 0.2}
    # Nothing of the credentials goes back to the client.
    assert AWS_SECRET not in r.text and all(AWS_KEY_ID not in v for v in r.headers.values())
    # A Bedrock error (throttling) in OpenAI's shape.
    r = chat(dp, {"model": "fail-429", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 429 and r.json()["error"]["message"].startswith("Too many requests")


def test_bedrock_stream_from_aws_event_stream(make_dataplane, cloud):
    dp = plane(make_dataplane, cloud, "Bedrock", secret_data=AWS_SECRET_DATA)
    r = chat(dp, {"model": "amazon.nova-lite-v1:0", "stream": True, "stream_options": {"include_usage": True},
                  "messages": [{"role": "user", "content": "stream from bedrock"}]}, stream=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    chunks = sse_chunks(r)
    assert cloud.last()["path"] == "/model/amazon.nova-lite-v1%3A0/converse-stream"
    assert "us-east-1/bedrock/aws4_request" in cloud.last()["headers"]["authorization"]  # the default region
    assert chunks[-1] == "[DONE]"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1] if c["choices"])
    assert text == "echo: stream from bedrock"
    assert chunks[-2]["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    # A stream cut short (no messageStop, no metadata), and one ended by an
    # error message: the client is told, not handed an ordinary end.
    for model, code in (("cut-stream", "stream_cut_short"), ("error-stream", "ModelStreamError")):
        r = chat(dp, {"model": model, "stream": True, "messages": [{"role": "user", "content": "a b c"}]},
                 stream=True)
        chunks = sse_chunks(r)
        assert chunks[-1] == "[DONE]" and chunks[-2]["error"]["code"] == code, (model, chunks)
        assert not any(c.get("choices") and c["choices"][0]["finish_reason"] for c in chunks[:-2]), chunks
    # A streamed tool call: its arguments arrive in pieces.
    r = chat(dp, {"model": "amazon.nova-lite-v1:0", "stream": True, "tools": WEATHER_TOOL,
                  "messages": [{"role": "user", "content": "weather please"}]}, stream=True)
    chunks = sse_chunks(r)
    calls = [t for c in chunks[:-1] if c["choices"] for t in c["choices"][0]["delta"].get("tool_calls") or []]
    assert calls[0]["id"] == "tooluse_1" and calls[0]["function"]["name"] == "get_weather"
    assert json.loads("".join(t["function"].get("arguments") or "" for t in calls)) == {"city": "Paris"}
    assert any(c["choices"] and c["choices"][0]["finish_reason"] == "tool_calls" for c in chunks[:-1])
    assert cloud.last()["body"]["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"] == "object"
    # An HTTP/2 client gets the same server-sent events.
    with H2Client.connect(dp.port) as h2:
        body = json.dumps({"model": "amazon.nova-lite-v1:0", "stream": True,
                           "messages": [{"role": "user", "content": "over h2"}]}).encode()
        sid = h2.request("POST", "/v1/chat/completions", body=body, headers=[("content-type", "application/json")])
        st = h2.response(sid)
        assert st.status == 200 and st.header("content-type") == "text/event-stream", st.headers
        assert bytes(st.data).endswith(b"data: [DONE]\n\n") and b'"content":" h2"' in st.data, bytes(st.data)
    # Streams are counted too (from the metadata event).
    wait_until(lambda: metric_value(metrics(dp), "gen_ai_client_token_usage_sum", gen_ai_token_type="input",
                                    gen_ai_provider_name="aws.bedrock") == 7, timeout=5, what="counted streams")


def test_bedrock_embeddings_titan_and_cohere(make_dataplane, cloud):
    dp = plane(make_dataplane, cloud, "Bedrock", secret_data=AWS_SECRET_DATA)
    r = requests.post(dp.url + "/v1/embeddings", timeout=10,
                      json={"model": "amazon.titan-embed-text-v2:0", "input": "three little words", "dimensions": 256})
    assert r.status_code == 200, r.text  # signed: the double checks it
    got = r.json()
    assert got["data"] == [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25, 3.0]}]
    assert got["usage"] == {"prompt_tokens": 3, "total_tokens": 3} and r.headers["x-sluice-ai-prompt-tokens"] == "3"
    seen = cloud.last()
    assert seen["path"] == "/model/amazon.titan-embed-text-v2%3A0/invoke"
    assert seen["body"] == {"inputText": "three little words", "dimensions": 256}
    r = requests.post(dp.url + "/v1/embeddings", timeout=10,
                      json={"model": "cohere.embed-english-v3", "input": ["a b", "c"]})
    assert [d["embedding"][2] for d in r.json()["data"]] == [2.0, 1.0]
    assert cloud.last()["body"] == {"texts": ["a b", "c"], "input_type": "search_document"}
    # Titan embeds one text a call; other models are not translated.
    r = requests.post(dp.url + "/v1/embeddings", timeout=10,
                      json={"model": "amazon.titan-embed-text-v2:0", "input": ["a", "b"]})
    assert r.status_code == 400 and "one text" in r.json()["error"]["message"]
    r = requests.post(dp.url + "/v1/embeddings", timeout=10, json={"model": "meta.llama3", "input": "x"})
    assert r.status_code == 400 and "Titan" in r.json()["error"]["message"]


def test_bedrock_api_key_and_a_bad_signature(make_dataplane, cloud):
    dp = plane(make_dataplane, cloud, "Bedrock")  # an apiKey entry: a Bedrock API key, sent as a bearer token
    r = chat(dp, {"model": "amazon.nova-lite-v1:0", "messages": [{"role": "user", "content": "key"}]})
    assert r.status_code == 200 and cloud.last()["headers"]["authorization"] == "Bearer " + KEY
    # A wrong secret: the provider refuses the signature, the client gets OpenAI's error shape.
    created(dp.sluiced.post(SECRETS, secret("wrong", {"accessKeyId": AWS_KEY_ID, "secretAccessKey": "nope"})))
    created(dp.sluiced.post(BACKENDS, ai_backend("wrong", "Bedrock", cloud.port, secret_name="wrong")))
    created(dp.sluiced.post(ROUTES, ai_route("wrong", "wrong", "/w")))
    wait_until(lambda: requests.post(dp.url + "/w/v1/chat/completions", json={}, timeout=5).status_code == 400,
               timeout=10, what="the second route")
    r = requests.post(dp.url + "/w/v1/chat/completions", timeout=10,
                      json={"model": "amazon.nova-lite-v1:0", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 403 and "signature" in r.json()["error"]["message"]


def test_failover_from_gemini_to_openai(make_dataplane, cloud):
    """The next provider speaks OpenAI's API: the request goes in its own
    path and shape, nothing of Gemini's translation kept."""
    from llm_provider import Provider
    openai = Provider()
    try:
        dp = make_dataplane()
        s = dp.sluiced
        created(s.post(SECRETS, secret("llm-key", {"apiKey": KEY})))
        created(s.post(BACKENDS, ai_backend("oai", "OpenAICompatible", openai.port, model="test-small")))
        created(s.post(BACKENDS, ai_backend("gem", "Gemini", cloud.port, fallbacks=[{"name": "oai"}])))
        created(s.post(ROUTES, ai_route("ai", "gem", "/v1")))
        wait_until(lambda: ready(dp), timeout=10, what="the AI route in force")
        for stream in (False, True):
            r = chat(dp, {"model": "fail-429", "stream": stream, "messages": [{"role": "user", "content": "hi"}]},
                     stream=stream)
            assert r.status_code == 200, r.text
            seen = openai.last()
            assert seen["path"] == "/v1/chat/completions", seen["path"]
            assert seen["body"]["messages"] == [{"role": "user", "content": "hi"}] and "contents" not in seen["body"]
            assert seen["headers"]["authorization"] == "Bearer " + KEY and "x-goog-api-key" not in seen["headers"]
            if stream:
                assert sse_chunks(r)[-1] == "[DONE]"
            else:
                assert r.json()["choices"][0]["message"]["content"] == "echo: hi"
    finally:
        openai.close()


def test_failover_across_dialects(make_dataplane, cloud):
    """Gemini refuses (429): the request is said again in Bedrock's dialect, signed."""
    dp = make_dataplane()
    s = dp.sluiced
    created(s.post(SECRETS, secret("llm-key", {"apiKey": KEY})))
    created(s.post(SECRETS, secret("aws", AWS_SECRET_DATA)))
    created(s.post(BACKENDS, ai_backend("nova", "Bedrock", cloud.port, secret_name="aws",
                                        model="amazon.nova-lite-v1:0")))
    created(s.post(BACKENDS, ai_backend("gem", "Gemini", cloud.port, fallbacks=[{"name": "nova"}])))
    created(s.post(ROUTES, ai_route("ai", "gem", "/v1")))
    wait_until(lambda: ready(dp), timeout=10, what="the AI route in force")
    r = chat(dp, {"model": "fail-429", "messages": [{"role": "user", "content": "hello anyone"}]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "echo: hello anyone"
    assert r.json()["model"] == "amazon.nova-lite-v1:0"
    paths = [q["path"] for q in cloud.requests if q["method"] == "POST"]
    assert paths[-2:] == ["/v1beta/models/fail-429:generateContent", "/model/amazon.nova-lite-v1%3A0/converse"]


class TokenEndpoint:
    """Google's OAuth 2.0 token endpoint for service accounts, as a test double
    (developers.google.com/identity/protocols/oauth2/service-account): takes
    grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and an RS256-signed
    JWT assertion, checks its signature with the account's public key (the
    openssl command) and its claims, and answers an access token."""

    def __init__(self, public_pem, tmp):
        import base64
        import http.server
        import subprocess
        import threading
        import time
        import urllib.parse
        self.grants = []
        outer = self

        def b64(s):
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                grant = form.get("grant_type", [""])[0]
                head, claims, sig = form.get("assertion", ["..."])[0].split(".")
                (tmp / "signed").write_bytes(("%s.%s" % (head, claims)).encode())
                (tmp / "sig").write_bytes(b64(sig))
                ok = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(tmp / "pub.pem"), "-signature",
                                     str(tmp / "sig"), str(tmp / "signed")], capture_output=True).returncode == 0
                h, c = json.loads(b64(head)), json.loads(b64(claims))
                now = time.time()
                valid = (ok and grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" and h["alg"] == "RS256" and
                         c["scope"] == "https://www.googleapis.com/auth/cloud-platform" and
                         c["aud"] == outer.url and c["iat"] <= now + 5 and 0 < c["exp"] - c["iat"] <= 3600)
                outer.grants.append({"valid": valid, "header": h, "claims": c})
                if not valid:
                    self.answer(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
                    return
                self.answer(200, {"access_token": "ya29.test-%d" % len(outer.grants), "expires_in": 3599,
                                  "token_type": "Bearer"})

        (tmp / "pub.pem").write_text(public_pem)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/token" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_vertex_ai_service_account_key(make_dataplane, cloud, tmp_path):
    """A Secret holding a service account's JSON key: the master trades a JWT
    signed with it for an access token, which Vertex AI gets."""
    import subprocess
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                    str(tmp_path / "key.pem")], check=True, capture_output=True)
    public = subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "key.pem"), "-pubout"], check=True,
                            capture_output=True).stdout.decode()
    tokens = TokenEndpoint(public, tmp_path)
    try:
        account = {"type": "service_account", "project_id": "my-project-42", "private_key_id": "k1",
                   "private_key": (tmp_path / "key.pem").read_text(),
                   "client_email": "gateway@my-project-42.iam.gserviceaccount.com", "token_uri": tokens.url}
        dp = plane(make_dataplane, cloud, "VertexAI", secret_data={"serviceAccountKey": json.dumps(account, indent=2)},
                   project="my-project-42", region="us-central1")
        r = chat(dp, {"model": "gemini-test", "messages": [{"role": "user", "content": "hi vertex"}]})
        assert r.status_code == 200, r.text
        assert cloud.last()["headers"]["authorization"] == "Bearer ya29.test-1"
        grant = tokens.grants[0]
        assert grant["valid"] and grant["header"]["kid"] == "k1"
        assert grant["claims"]["iss"] == "gateway@my-project-42.iam.gserviceaccount.com"
        # A key that is no service account key: the route says so.
        created(dp.sluiced.post(SECRETS, secret("broken", {"serviceAccountKey": "{\"client_email\": \"x\"}"})))
        created(dp.sluiced.post(BACKENDS, ai_backend("broken", "VertexAI", cloud.port, secret_name="broken",
                                                     project="my-project-42")))
        created(dp.sluiced.post(ROUTES, ai_route("broken", "broken", "/b")))

        def refs():
            st = dp.sluiced.get(ROUTES + "/broken").json().get("status", {}).get("parents", [])
            return {c["type"]: c for c in st[0]["conditions"]}.get("ResolvedRefs") if st else None
        c = wait_until(lambda: refs() and refs()["status"] == "False" and refs(), timeout=10, what="the status")
        assert "serviceAccountKey" in c["message"] and "service account key" in c["message"], c
    finally:
        tokens.close()

"""Tracing: W3C traceparent continued or started and sent upstream, spans
exported with OTLP/HTTP JSON to a collector, sampling by ratio and by the
parent's flag, and a collector that is down costs traffic nothing.

The collector is a test double (no OpenTelemetry Collector runs here): an HTTP
server that takes POST /v1/traces and checks every body against the OTLP JSON
encoding of ExportTraceServiceRequest as opentelemetry-proto defines it
(opentelemetry/proto/collector/trace/v1/trace_service.proto, trace/v1/trace.proto,
common/v1/common.proto, resource/v1/resource.proto, and the OTLP specification's
JSON rules: ids in lowercase hex, 64-bit integers as decimal strings, enums as
integers, lowerCamelCase field names), failing the test on any departure."""
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import free_port
from dataplane import ROUTES, make_dataplane, replace, wait_until  # noqa: F401 - fixture

HEX32, HEX16 = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{16}")
UINT64 = re.compile(r"[0-9]{1,20}")


def check_keys(obj, allowed, where):
    assert isinstance(obj, dict), "%s: not an object: %r" % (where, obj)
    extra = set(obj) - set(allowed)
    assert not extra, "%s: fields OTLP does not define: %s" % (where, sorted(extra))


def check_uint64(v, where):
    assert (isinstance(v, str) and UINT64.fullmatch(v)) or (isinstance(v, int) and v >= 0), \
        "%s: not a uint64 (decimal string or integer): %r" % (where, v)
    assert int(v) < 2 ** 64, where


def check_any_value(v, where):
    check_keys(v, {"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"},
               where)
    assert len(v) == 1, "%s: an AnyValue holds exactly one value: %r" % (where, v)
    kind, x = next(iter(v.items()))
    if kind == "stringValue":
        assert isinstance(x, str), where
    elif kind == "boolValue":
        assert isinstance(x, bool), where
    elif kind == "intValue":
        assert (isinstance(x, str) and re.fullmatch(r"-?[0-9]+", x)) or isinstance(x, int), where
    elif kind == "doubleValue":
        assert isinstance(x, (int, float)), where
    elif kind == "arrayValue":
        check_keys(x, {"values"}, where)
        for i, e in enumerate(x.get("values", [])):
            check_any_value(e, "%s[%d]" % (where, i))
    elif kind == "kvlistValue":
        check_keys(x, {"values"}, where)
        check_attributes(x.get("values", []), where)
    else:
        assert isinstance(x, str), where


def check_attributes(attrs, where):
    assert isinstance(attrs, list), where
    keys = set()
    for i, kv in enumerate(attrs):
        check_keys(kv, {"key", "value"}, "%s.attributes[%d]" % (where, i))
        assert isinstance(kv.get("key"), str) and kv["key"], where
        assert kv["key"] not in keys, "%s: attribute %s twice" % (where, kv["key"])
        keys.add(kv["key"])
        check_any_value(kv["value"], "%s.%s" % (where, kv["key"]))


def check_span(s, where):
    check_keys(s, {"traceId", "spanId", "traceState", "parentSpanId", "flags", "name", "kind", "startTimeUnixNano",
                   "endTimeUnixNano", "attributes", "droppedAttributesCount", "events", "droppedEventsCount",
                   "links", "droppedLinksCount", "status"}, where)
    assert HEX32.fullmatch(s["traceId"]) and s["traceId"] != "0" * 32, where
    assert HEX16.fullmatch(s["spanId"]) and s["spanId"] != "0" * 16, where
    assert s.get("parentSpanId", "") == "" or HEX16.fullmatch(s["parentSpanId"]), where
    assert isinstance(s.get("name"), str) and s["name"], where
    assert s.get("kind", 0) in range(6), where
    check_uint64(s["startTimeUnixNano"], where + ".startTimeUnixNano")
    check_uint64(s["endTimeUnixNano"], where + ".endTimeUnixNano")
    assert int(s["startTimeUnixNano"]) <= int(s["endTimeUnixNano"]), where
    # A time in this century, in nanoseconds.
    assert 1.6e18 < int(s["startTimeUnixNano"]) < 4.1e18, where
    check_attributes(s.get("attributes", []), where)
    if "status" in s:
        check_keys(s["status"], {"message", "code"}, where + ".status")
        assert s["status"].get("code", 0) in (0, 1, 2), where


def check_export_request(doc):
    """Every departure from ExportTraceServiceRequest's JSON encoding fails."""
    check_keys(doc, {"resourceSpans"}, "request")
    spans = []
    for i, rs in enumerate(doc["resourceSpans"]):
        where = "resourceSpans[%d]" % i
        check_keys(rs, {"resource", "scopeSpans", "schemaUrl"}, where)
        check_keys(rs.get("resource", {}), {"attributes", "droppedAttributesCount"}, where + ".resource")
        check_attributes(rs.get("resource", {}).get("attributes", []), where + ".resource")
        for j, ss in enumerate(rs.get("scopeSpans", [])):
            w2 = "%s.scopeSpans[%d]" % (where, j)
            check_keys(ss, {"scope", "spans", "schemaUrl"}, w2)
            check_keys(ss.get("scope", {}), {"name", "version", "attributes", "droppedAttributesCount"}, w2)
            for k, s in enumerate(ss.get("spans", [])):
                check_span(s, "%s.spans[%d]" % (w2, k))
                spans.append((rs["resource"], s))
    return spans


class Collector:
    """OTLP/HTTP receiver on 127.0.0.1: keeps the spans of every valid request."""

    def __init__(self, status=200):
        self.spans, self.errors, self.posts, self.status = [], [], 0, status
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    assert self.path == "/v1/traces", self.path
                    assert self.headers.get("Content-Type") == "application/json", self.headers.get("Content-Type")
                    spans = check_export_request(json.loads(body))
                    with outer.lock:
                        outer.spans.extend(spans)
                        outer.posts += 1
                except Exception as e:  # noqa: BLE001 - reported by the test
                    with outer.lock:
                        outer.errors.append("%s: %s" % (type(e).__name__, e))
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def span_of(self, trace_id):
        with self.lock:
            assert not self.errors, self.errors
            return [(r, s) for r, s in self.spans if s["traceId"] == trace_id]

    def close(self):
        self.server.shutdown()


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.close()
    assert not c.errors, c.errors


def upstream_traceparent(resp):
    echo = resp.json()
    values = [v for k, v in echo["headers"] if k.lower() == "traceparent"]
    assert len(values) == 1, echo["headers"]
    m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])", values[0])
    assert m, values[0]
    return m.group(1), m.group(2), m.group(3)


def attrs(span):
    out = {}
    for kv in span.get("attributes", []):
        (kind, v), = kv["value"].items()
        out[kv["key"]] = int(v) if kind == "intValue" else v
    return out


def test_new_trace_goes_upstream_and_is_exported(make_dataplane, collector, tmp_path):
    access = str(tmp_path / "access.log")
    dp = make_dataplane(args=["--otlp-endpoint", "http://127.0.0.1:%d" % collector.port, "--access-log", access,
                              "--access-log-format", "json:path,trace_id"])
    r = dp.get("/traced/a?x=1", headers={"User-Agent": "t/1"})
    assert r.status_code == 200
    trace_id, span_id, flags = upstream_traceparent(r)
    assert flags == "01"
    spans = wait_until(lambda: collector.span_of(trace_id), timeout=10, what="the span at the collector")
    assert len(spans) == 1
    resource, span = spans[0]
    assert span["spanId"] == span_id  # the upstream's parent is this hop's span
    assert span.get("parentSpanId", "") == ""
    assert span["kind"] == 2 and span["name"] == "GET /"
    a = attrs(span)
    assert a["http.request.method"] == "GET" and a["url.path"] == "/traced/a" and a["url.query"] == "x=1"
    assert a["url.scheme"] == "http" and a["network.protocol.version"] == "1.1"
    assert a["http.response.status_code"] == 200 and a["http.route"] == "/"
    assert a["sluice.route"] == "default/r" and a["sluice.upstream.address"] == "127.0.0.1:%d" % dp.origin.port
    assert "status" not in span or span["status"].get("code", 0) == 0
    ra = attrs(resource)
    assert ra["service.name"] == "sluice" and ra["sluice.gateway"] == "default/gw"
    # The access log line names the trace, so logs and traces meet.
    with open(access) as f:
        logged = [json.loads(line) for line in f if "/traced/a" in line]
    assert logged == [{"path": "/traced/a?x=1", "trace_id": trace_id}]


def test_incoming_parent_is_continued_and_its_flag_decides(make_dataplane, collector):
    dp = make_dataplane(args=["--otlp-endpoint", "http://127.0.0.1:%d/v1/traces" % collector.port])
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    r = dp.get("/cont", headers={"traceparent": parent, "tracestate": "vendor=x"})
    trace_id, span_id, flags = upstream_traceparent(r)
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and flags == "01"
    assert span_id != "00f067aa0ba902b7"
    assert [v for k, v in r.json()["headers"] if k.lower() == "tracestate"] == ["vendor=x"]
    (_, span), = wait_until(lambda: collector.span_of(trace_id), timeout=10, what="the span")
    assert span["parentSpanId"] == "00f067aa0ba902b7" and span["spanId"] == span_id
    # Not sampled upstream of us: not sampled here either, but still propagated.
    r = dp.get("/unsampled", headers={"traceparent": "00-11111111111111111111111111111111-2222222222222222-00"})
    trace_id, span_id, flags = upstream_traceparent(r)
    assert trace_id == "1" * 32 and flags == "00"
    # An invalid one (uppercase hex) is ignored: a new trace.
    r = dp.get("/invalid", headers={"traceparent": "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"})
    new_trace, _, _ = upstream_traceparent(r)
    assert new_trace != "4bf92f3577b34da6a3ce929d0e0e4736"
    wait_until(lambda: collector.span_of(new_trace), timeout=10, what="the invalid one's new trace")
    time.sleep(1.5)  # a batch interval and more: the unsampled request's span would have come
    assert collector.span_of("1" * 32) == []


def test_sample_ratio_zero_and_errors(make_dataplane, collector):
    dp = make_dataplane(args=["--otlp-endpoint", "http://127.0.0.1:%d" % collector.port,
                              "--trace-sample-ratio", "0"])
    traces = [upstream_traceparent(dp.get("/r%d" % i)) for i in range(20)]
    assert all(f == "00" for _, _, f in traces)
    assert len({t for t, _, _ in traces}) == 20  # every request a trace of its own
    # A sampled parent still wins over the ratio; a 5xx is an error span.
    parent = "00-abcdefabcdefabcdefabcdefabcdef01-0102030405060708-01"
    r = dp.get("/r?status=503", headers={"traceparent": parent})
    assert r.status_code == 503
    (_, span), = wait_until(lambda: collector.span_of("abcdefabcdefabcdefabcdefabcdef01"), timeout=10,
                            what="the sampled parent's span")
    assert span["status"]["code"] == 2 and attrs(span)["error.type"] == "503"
    assert attrs(span)["http.response.status_code"] == 503
    time.sleep(1.5)
    with collector.lock:
        assert len(collector.spans) == 1, [s["traceId"] for _, s in collector.spans]


def test_collector_down_costs_traffic_nothing(make_dataplane):
    down = free_port()
    dp = make_dataplane(args=["--otlp-endpoint", "http://127.0.0.1:%d" % down])
    for i in range(50):
        assert dp.get("/d%d" % i).status_code == 200
    text = wait_until(lambda: (lambda t: "sluice_trace_export_errors_total{gateway=\"default/gw\"} 0" not in t and t)(
        dp.sluiced.get("/metrics").text), timeout=15, what="an export error counted")
    m = re.search(r'sluice_trace_spans_exported_total\{gateway="default/gw"\} (\d+)', text)
    assert m and int(m.group(1)) >= 50
    assert "exporting spans to http://127.0.0.1:%d/v1/traces failed" % down in dp.sluiced.log()


def test_bad_tracing_flags_refuse_to_start(tmp_path):
    import subprocess
    from conftest import SLUICED
    for args, named in ((["--otlp-endpoint", "ftp://x"], "not an http:// or https:// URL"),
                        (["--trace-sample-ratio", "1.5"], "not a number from 0 to 1")):
        cp = subprocess.run([SLUICED, "--state-dir", str(tmp_path / "s"), "--admin", "127.0.0.1:1"] + args,
                            capture_output=True, text=True, timeout=30)
        assert cp.returncode == 2 and named in cp.stderr, cp.stderr


def test_requests_without_tracing_carry_no_traceparent(make_dataplane):
    dp = make_dataplane()
    r = dp.get("/plain", headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    # Tracing off: the client's header passes through untouched, nothing is added.
    assert [v for k, v in r.json()["headers"] if k.lower() == "traceparent"] == \
        ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]
    assert requests.get(dp.url + "/plain2", timeout=5).json()["headers"] and \
        not [v for k, v in requests.get(dp.url + "/p3", timeout=5).json()["headers"] if k.lower() == "traceparent"]


def test_ai_route_span_has_gen_ai_attributes(make_dataplane, collector):
    from test_ai import Provider, ai_plane, chat  # the LLM provider double and its helpers
    provider = Provider()
    try:
        dp = ai_plane(make_dataplane, provider, args=["--otlp-endpoint", "http://127.0.0.1:%d" % collector.port])
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        r = chat(dp, {"model": "test-small", "messages": [{"role": "user", "content": "hello there gateway"}]},
                 headers={"traceparent": parent})
        assert r.status_code == 200, r.text
        (_, span), = wait_until(lambda: collector.span_of("0af7651916cd43dd8448eb211c80319c"), timeout=10,
                                what="the AI request's span")
        a = attrs(span)
        assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.response.model"] == "test-small"
        assert a["gen_ai.usage.input_tokens"] == 3 and a["gen_ai.usage.output_tokens"] == 4
        assert a["http.request.method"] == "POST" and a["sluice.route"] == "default/ai"
        # The provider saw this hop's span as its parent.
        seen = provider.last()["headers"]
        assert seen["traceparent"] == "00-0af7651916cd43dd8448eb211c80319c-%s-01" % span["spanId"]
    finally:
        provider.close()


def test_one_traceparent_upstream_even_when_a_filter_sets_one(make_dataplane, collector, tmp_path):
    access = str(tmp_path / "access.log")
    dp = make_dataplane(args=["--otlp-endpoint", "http://127.0.0.1:%d" % collector.port, "--access-log", access,
                              "--access-log-format", "json:path,status,trace_id"])
    def add_filter(route):
        route["spec"]["rules"][0]["filters"] = [{"type": "RequestHeaderModifier", "requestHeaderModifier": {
            "add": [{"name": "traceparent", "value": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}],
            "set": [{"name": "x-seen", "value": "1"}]}}]
    # (replace: GET and PUT again when the master's status write came in between, 409)
    assert replace(dp.sluiced, ROUTES + "/r", add_filter).status_code == 200
    wait_until(lambda: any(k.lower() == "x-seen" for k, _ in dp.get("/probe").json()["headers"]),
               what="the filter in force")
    r = dp.get("/filtered", headers={"tracestate": "vendor=dropped"})
    assert [v for k, v in r.json()["headers"] if k.lower() == "x-seen"] == ["1"]
    trace_id, span_id, _ = upstream_traceparent(r)  # (asserts there is exactly one)
    assert trace_id != "0af7651916cd43dd8448eb211c80319c"
    # A new trace: a tracestate that came without a valid traceparent is not passed on.
    assert not [v for k, v in r.json()["headers"] if k.lower() == "tracestate"]
    # On one keep-alive connection: a traced request, then a malformed one (400,
    # answered before any trace starts): its log line names no trace.
    with socket.create_connection(("127.0.0.1", dp.port), timeout=5) as s:
        s.sendall(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        s.sendall(b"GET /second HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 400")
    lines = wait_until(lambda: (lambda ls: len(ls) >= 3 and ls)(
        [json.loads(x) for x in open(access).read().splitlines()]), what="three log lines")
    by_status = {e["status"]: e for e in lines}
    assert re.fullmatch(r"[0-9a-f]{32}", by_status[200]["trace_id"])
    assert by_status[400]["trace_id"] == ""


def test_ipv6_host_in_span(make_dataplane, collector):
    dp = make_dataplane(args=["--otlp-endpoint", "http://127.0.0.1:%d" % collector.port])
    r = dp.get("/v6", headers={"Host": "[::1]:8080"})
    assert r.status_code == 200
    trace_id, _, _ = upstream_traceparent(r)
    (_, span), = wait_until(lambda: collector.span_of(trace_id), timeout=10, what="the span")
    assert attrs(span)["server.address"] == "::1"  # without the port and the brackets

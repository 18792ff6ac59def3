/* Tracing: traceparent in and out, spans batched and exported with OTLP/HTTP
 * JSON; see tracing.h. The span's attributes follow OpenTelemetry's semantic
 * conventions for HTTP servers (http.request.method, url.path, url.scheme,
 * server.address, client.address, network.protocol.version,
 * http.response.status_code, http.route, error.type). */
#include "workers/tracing.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/log.h"
#include "common/trace_context.h"
#include "workers/conn.h"
#include "workers/dbuf.h"
#include "workers/http_client.h"
#include "workers/response_hook.h"
#include "workers/worker_internal.h"

#define BATCH_SPANS 512          /* a batch goes as soon as it has this many */
#define BATCH_SECONDS 1.0        /* ...or this long after its first span */
#define MAX_PENDING_SPANS 8192   /* beyond (collector slow or down), spans are dropped */
#define MAX_EXPORTS_IN_FLIGHT 2
#define EXPORT_TIMEOUT_MS 10000

static char endpoint[1024];
static char sluice_version_text[32]; /* sluice's, for the resource and the scope */
static uint64_t sample_below; /* a new trace is sampled when a random 64-bit value is below this */
static bool sample_all;

bool sl_tracing_configure(const char *url, const char *ratio, const char *sluice_version, char *err, size_t errlen)
{
    endpoint[0] = '\0';
    snprintf(sluice_version_text, sizeof(sluice_version_text), "%s", sluice_version);
    double r = 1.0;
    if (ratio) {
        char *end;
        r = strtod(ratio, &end);
        if (end == ratio || *end || !(r >= 0 && r <= 1)) {
            snprintf(err, errlen, "--trace-sample-ratio %s: not a number from 0 to 1", ratio);
            return false;
        }
    }
    sample_all = r >= 1.0;
    sample_below = sample_all ? UINT64_MAX : (uint64_t)(r * 18446744073709551616.0); /* r < 1: in range */
    if (!url || !*url)
        return true;
    bool http = strncmp(url, "http://", 7) == 0, https = strncmp(url, "https://", 8) == 0;
    const char *host = url + (http ? 7 : 8);
    if ((!http && !https) || !*host || *host == '/') {
        snprintf(err, errlen, "--otlp-endpoint %s: not an http:// or https:// URL", url);
        return false;
    }
    /* OTLP/HTTP's default path when the URL has none (the specification's OTEL_EXPORTER_OTLP_ENDPOINT rule). */
    const char *path = strchr(host, '/');
    int n = !path ? snprintf(endpoint, sizeof(endpoint), "%s/v1/traces", url)
            : strcmp(path, "/") == 0 ? snprintf(endpoint, sizeof(endpoint), "%sv1/traces", url)
                                     : snprintf(endpoint, sizeof(endpoint), "%s", url);
    if (n < 0 || (size_t)n >= sizeof(endpoint)) {
        snprintf(err, errlen, "--otlp-endpoint: the URL is too long");
        endpoint[0] = '\0';
        return false;
    }
    return true;
}

bool sl_tracing_enabled(void) { return endpoint[0] != '\0'; }

/* --- ids ---------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t next_random(void)
{
    /* splitmix64: ids need to be unique, not secret (the specification asks for randomness, not unpredictability) */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void random_bytes(uint8_t *out, size_t n)
{
    do {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t v = next_random();
            memcpy(out + i, &v, n - i < 8 ? n - i : 8);
        }
    } while (out[0] == 0 && out[n - 1] == 0 && next_random() != 0); /* (never all zeros in practice) */
}

/* --- the batch ---------------------------------------------------------- */

static struct {
    sl_worker *w;
    ev_timer timer;
    sl_dbuf spans;  /* span objects, comma-separated */
    unsigned count;
    unsigned in_flight;
    char resource[1024]; /* the batch's opening: resource and scope */
    uint64_t export_errors;
} batch;

static void export_done(const sl_http_reply *reply, void *arg)
{
    (void)arg;
    batch.in_flight--;
    if (reply->status >= 200 && reply->status < 300)
        return;
    atomic_fetch_add(&batch.w->slot->trace_export_errors, 1);
    /* One line per error would flood the log while a collector is down: the first and every 100th. */
    if (batch.export_errors++ % 100 == 0)
        sl_log_warn("tracing", "exporting spans to %s failed: %s%s", endpoint,
                    reply->status ? "HTTP status " : reply->error,
                    reply->status ? (reply->status >= 500 ? "5xx" : "4xx") : "");
}

static void export_batch(void)
{
    if (!batch.count || batch.in_flight >= MAX_EXPORTS_IN_FLIGHT)
        return;
    static const char tail[] = "]}]}]}";
    size_t head = strlen(batch.resource);
    size_t len = head + sl_dbuf_len(&batch.spans) + sizeof(tail) - 1;
    char *body = malloc(len);
    if (!body)
        return;
    memcpy(body, batch.resource, head);
    memcpy(body + head, batch.spans.data + batch.spans.start, sl_dbuf_len(&batch.spans));
    memcpy(body + head + sl_dbuf_len(&batch.spans), tail, sizeof(tail) - 1);
    static const char *const headers[] = {"Content-Type: application/json"};
    sl_http_call *call = sl_http_call_post(batch.w->loop, "POST", endpoint, headers, 1, body, len, 65536,
                                           EXPORT_TIMEOUT_MS, export_done, NULL);
    free(body); /* (the call copied it) */
    if (!call)
        return;
    batch.in_flight++;
    atomic_fetch_add(&batch.w->slot->trace_spans_exported, batch.count);
    batch.count = 0;
    sl_dbuf_consume(&batch.spans, sl_dbuf_len(&batch.spans));
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)t;
    (void)revents;
    export_batch();
}

void sl_tracing_worker_init(sl_worker *w)
{
    if (!sl_tracing_enabled())
        return;
    if (getrandom(&rng_state, sizeof(rng_state), GRND_NONBLOCK) != (ssize_t)sizeof(rng_state))
        rng_state = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)sl_now_us();
    batch.w = w;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(batch.resource, sizeof(batch.resource),
             "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
             "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"sluice\"}},"
             "{\"key\":\"service.version\",\"value\":{\"stringValue\":\"%s\"}},"
             "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"%.200s\"}},"
             "{\"key\":\"process.pid\",\"value\":{\"intValue\":\"%d\"}},"
             "{\"key\":\"sluice.gateway\",\"value\":{\"stringValue\":\"%.60s/%.250s\"}}]},"
             "\"scopeSpans\":[{\"scope\":{\"name\":\"sluice\",\"version\":\"%s\"},\"spans\":[",
             sluice_version_text, host, (int)getpid(), w->args.gateway_ns, w->args.gateway_name, sluice_version_text);
    ev_timer_init(&batch.timer, timer_cb, BATCH_SECONDS, BATCH_SECONDS);
    ev_timer_start(w->loop, &batch.timer);
}


/* --- per request -------------------------------------------------------- */

void sl_trace_begin(sl_conn *c, const sl_http1_request *req)
{
    sl_trace *t = &c->trace;
    memset(t, 0, sizeof(*t));
    if (!sl_tracing_enabled())
        return;
    t->on = true;
    const sl_http1_header *h = sl_http1_request_header(req, "traceparent");
    sl_trace_parent p;
    if (h && sl_traceparent_parse(h->value.ptr, h->value.len, &p)) {
        /* A parent that came in decides (its sampled flag), as a parent-based sampler does. */
        memcpy(t->trace_id, p.trace_id, 16);
        memcpy(t->parent_id, p.parent_id, 8);
        t->has_parent = true;
        t->sampled = (p.flags & 1) != 0;
    } else {
        random_bytes(t->trace_id, 16);
        t->sampled = sample_all || next_random() < sample_below;
    }
    random_bytes(t->span_id, 8);
}

bool sl_trace_replaces(const sl_conn *c, sl_slice name)
{
    if (!c->trace.on)
        return false;
    return sl_slice_ieq_cstr(name, "traceparent") || (!c->trace.has_parent && sl_slice_ieq_cstr(name, "tracestate"));
}

void sl_trace_upstream_field(const sl_conn *c, sl_buf *b)
{
    if (!c->trace.on)
        return;
    char v[SL_TRACEPARENT_LEN + 1];
    sl_traceparent_write(c->trace.trace_id, c->trace.span_id, c->trace.sampled ? 1 : 0, v);
    sl_buf_append(b, "traceparent: ", 13);
    sl_buf_append(b, v, SL_TRACEPARENT_LEN);
    sl_buf_append(b, "\r\n", 2);
}

/* A JSON string for an OTLP string value (UTF-8): ", \ and control
 * characters escaped. What reaches a span is ASCII (the request target and
 * Host are, by the parser's rules); any other byte becomes U+FFFD, so the
 * payload stays valid UTF-8 whatever comes. */
static bool put_json(sl_dbuf *b, const char *s, size_t n)
{
    bool ok = sl_dbuf_append(b, "\"", 1);
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (u[i] >= 0x20 && u[i] < 0x7f && u[i] != '"' && u[i] != '\\')
            continue;
        char esc[8];
        int k = u[i] == '"' || u[i] == '\\' ? snprintf(esc, sizeof(esc), "\\%c", u[i])
                : u[i] >= 0x7f                ? snprintf(esc, sizeof(esc), "\\ufffd")
                                              : snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
        ok = ok && sl_dbuf_append(b, s + run, i - run) && sl_dbuf_append(b, esc, (size_t)k);
        run = i + 1;
    }
    return ok && sl_dbuf_append(b, s + run, n - run) && sl_dbuf_append(b, "\"", 1);
}

/* The host of a Host field: without its port, and without the brackets of an IPv6 literal. */
static sl_slice host_of(const char *host)
{
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        return end ? (sl_slice){host + 1, (size_t)(end - host - 1)} : (sl_slice){host, strlen(host)};
    }
    return (sl_slice){host, strcspn(host, ":")};
}

static bool put_text(sl_dbuf *b, const char *s) { return sl_dbuf_append(b, s, strlen(s)); }

static bool attr_str(sl_dbuf *b, const char *key, const char *v, size_t n, bool first)
{
    return put_text(b, first ? "{\"key\":\"" : ",{\"key\":\"") && put_text(b, key) &&
           put_text(b, "\",\"value\":{\"stringValue\":") && put_json(b, v, n) && put_text(b, "}}");
}

static bool attr_int(sl_dbuf *b, const char *key, long long v)
{
    char text[160];
    int n = snprintf(text, sizeof(text), ",{\"key\":\"%s\",\"value\":{\"intValue\":\"%lld\"}}", key, v);
    return sl_dbuf_append(b, text, (size_t)n);
}

void sl_trace_end(sl_conn *c)
{
    sl_trace *t = &c->trace;
    if (!t->sampled || !batch.w || !c->status) {
        t->sampled = false;
        return;
    }
    t->sampled = false; /* (one span per request) */
    if (batch.count >= MAX_PENDING_SPANS) {
        atomic_fetch_add(&batch.w->slot->trace_spans_dropped, 1);
        return;
    }
    sl_dbuf *b = &batch.spans;
    size_t mark = b->end;
    char ids[64], text[200];
    const char *path = c->log_path, *query = strchr(path, '?');
    size_t path_len = query ? (size_t)(query - path) : strlen(path);
    char route_path[200] = "";
    if (c->route && c->snap)
        snprintf(route_path, sizeof(route_path), "%s", sl_snap_cstr(&c->snap->s, c->route->path));
    bool ok = put_text(b, batch.count ? ",{\"traceId\":\"" : "{\"traceId\":\"");
    sl_hex_lower(t->trace_id, 16, ids);
    ok = ok && put_text(b, ids) && put_text(b, "\",\"spanId\":\"");
    sl_hex_lower(t->span_id, 8, ids);
    ok = ok && put_text(b, ids);
    if (t->has_parent) {
        sl_hex_lower(t->parent_id, 8, ids);
        ok = ok && put_text(b, "\",\"parentSpanId\":\"") && put_text(b, ids);
    }
    /* The span's name: "{method} {http.route}" when a route matched, else the method. */
    snprintf(text, sizeof(text), "%s%s%s", c->log_method, route_path[0] ? " " : "", route_path);
    ok = ok && put_text(b, "\",\"name\":") && put_json(b, text, strlen(text));
    uint64_t end_us = sl_now_us();
    snprintf(text, sizeof(text), ",\"kind\":2,\"startTimeUnixNano\":\"%llu000\",\"endTimeUnixNano\":\"%llu000\","
             "\"attributes\":[",
             (unsigned long long)c->started_us, (unsigned long long)(end_us > c->started_us ? end_us : c->started_us));
    ok = ok && put_text(b, text);
    ok = ok && attr_str(b, "http.request.method", c->log_method, strlen(c->log_method), true);
    ok = ok && attr_str(b, "url.path", path, path_len, false);
    if (query && query[1])
        ok = ok && attr_str(b, "url.query", query + 1, strlen(query + 1), false);
    ok = ok && attr_str(b, "url.scheme", c->secure ? "https" : "http", c->secure ? 5 : 4, false);
    sl_slice server = host_of(c->log_host);
    ok = ok && attr_str(b, "server.address", server.ptr, server.len, false);
    ok = ok && attr_str(b, "network.peer.address", c->peer, strlen(c->peer), false);
    const char *version = c->h2s ? "2" : c->version_minor ? "1.1" : "1.0";
    ok = ok && attr_str(b, "network.protocol.version", version, strlen(version), false);
    ok = ok && attr_int(b, "http.response.status_code", c->status);
    if (route_path[0])
        ok = ok && attr_str(b, "http.route", route_path, strlen(route_path), false);
    if (c->log_route[0])
        ok = ok && attr_str(b, "sluice.route", c->log_route, strlen(c->log_route), false);
    if (c->log_upstream[0])
        ok = ok && attr_str(b, "sluice.upstream.address", c->log_upstream, strlen(c->log_upstream), false);
    if (c->client_id && c->client_id[0])
        ok = ok && attr_str(b, "sluice.client_id", c->client_id, strlen(c->client_id), false);
    if (c->res_hook && c->res_hook->span_attributes)
        ok = ok && c->res_hook->span_attributes(c, b); /* AI routes: gen_ai.* */
    if (c->status >= 500) {
        /* A server span is an error on a 5xx (not on a 4xx: the client's doing). */
        snprintf(text, sizeof(text), "%d", c->status);
        ok = ok && attr_str(b, "error.type", text, strlen(text), false) && put_text(b, "],\"status\":{\"code\":2}}");
    } else {
        ok = ok && put_text(b, "]}");
    }
    if (!ok) {
        b->end = mark; /* out of memory: this span is left out whole */
        atomic_fetch_add(&batch.w->slot->trace_spans_dropped, 1);
        return;
    }
    if (++batch.count >= BATCH_SPANS)
        export_batch();
}

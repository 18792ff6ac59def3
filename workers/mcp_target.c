/* One exchange between the MCP gateway and one target (workers/mcp.h): a
 * JSON-RPC message POSTed with the target's session id, and its answer, which
 * a Streamable HTTP server gives as one JSON message or as an event stream
 * (notifications and requests first, the response last; the stream ends with
 * the response). The whole answer is read before the gateway answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/sse.h"
#include "workers/http_client.h"
#include "workers/mcp.h"

sl_http_call *sl_mcp_target_send(struct ev_loop *loop, const char *url, const char *http_method, const char *session,
                                 const char *version, const char *body, size_t len, uint32_t timeout_ms,
                                 void (*chunk)(const sl_http_reply *reply, const char *data, size_t len, void *arg),
                                 void (*done)(const sl_http_reply *reply, void *arg), void *arg)
{
    char sid[4200], ver[64];
    const char *headers[4];
    size_t n = 0;
    headers[n++] = "Content-Type: application/json";
    headers[n++] = "Accept: application/json, text/event-stream";
    if (session && *session) {
        snprintf(sid, sizeof(sid), "Mcp-Session-Id: %s", session);
        headers[n++] = sid;
    }
    if (version && *version) {
        snprintf(ver, sizeof(ver), "MCP-Protocol-Version: %s", version);
        headers[n++] = ver;
    }
    return sl_http_call_stream(loop, http_method, url, headers, n, body, body ? len : 0, SL_MCP_MAX_REPLY, timeout_ms,
                               chunk, done, arg);
}

bool sl_mcp_header(const char *lines, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    for (const char *p = lines; p && *p;) {
        /* Lines end with LF (CRLF: the CR is trimmed with the value's spaces): a bare LF ends one too. */
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            const char *end = p + len;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                end--;
            if (memchr(v, '\r', (size_t)(end - v)))
                return false; /* (a CR inside a value: not something to send on) */
            if ((size_t)(end - v) >= cap)
                return false;
            memcpy(out, v, (size_t)(end - v));
            out[end - v] = '\0';
            return true;
        }
        p = eol ? eol + 1 : NULL;
    }
    return false;
}

/* A message from the target: the response (the first message with an id and a
 * result or an error) or one more of the others. */
static void take_message(sl_mcp_reader *r, json_t *msg)
{
    if (!json_is_object(msg)) {
        json_decref(msg);
        return;
    }
    bool response = !json_object_get(msg, "method") && json_object_get(msg, "id") &&
                    (json_object_get(msg, "result") || json_object_get(msg, "error"));
    if (response && !r->reply.response)
        r->reply.response = msg;
    else if (r->on_message)
        r->on_message(msg, r->arg);
    else
        json_array_append_new(r->reply.messages, msg);
}

static void on_event(const char *event, size_t event_len, const char *data, size_t data_len, void *arg)
{
    if (event_len && !(event_len == 7 && memcmp(event, "message", 7) == 0))
        return;
    if (data_len == 0)
        return; /* a priming event (an id to resume from, no message) */
    take_message(arg, json_loadb(data, data_len, 0, NULL));
}

void sl_mcp_reader_init(sl_mcp_reader *r)
{
    memset(r, 0, sizeof(*r));
    r->reply.messages = json_array();
    sl_sse_init(&r->sse, SL_MCP_MAX_REPLY);
}

void sl_mcp_reader_feed(sl_mcp_reader *r, const sl_http_reply *head, const char *data, size_t len)
{
    if (!r->started && head->status >= 200) {
        char value[4200];
        r->started = true;
        r->stream = sl_mcp_header(head->headers, "Content-Type", value, sizeof(value)) &&
                    strncasecmp(value, "text/event-stream", 17) == 0;
    }
    if (len == 0)
        return; /* (the head alone: data may be NULL) */
    if (r->stream) {
        sl_sse_feed(&r->sse, data, len, on_event, r);
        return;
    }
    if (r->json_len + len > SL_MCP_MAX_REPLY)
        return; /* (the HTTP client refuses more than that anyway) */
    if (r->json_len + len + 1 > r->json_cap) {
        size_t cap = (r->json_len + len + 1) * 2;
        char *grown = realloc(r->json, cap);
        if (!grown)
            return;
        r->json = grown;
        r->json_cap = cap;
    }
    memcpy(r->json + r->json_len, data, len);
    r->json_len += len;
}

void sl_mcp_reader_end(sl_mcp_reader *r, const sl_http_reply *in)
{
    sl_mcp_reply *out = &r->reply;
    out->status = in->status;
    if (!in->status) {
        snprintf(out->error, sizeof(out->error), "%s", in->error);
        return;
    }
    char value[4200];
    if (sl_mcp_header(in->headers, "Mcp-Session-Id", value, sizeof(value)))
        out->session = strdup(value);
    if (r->stream) {
        sl_sse_feed(&r->sse, "\n\n", 2, on_event, r); /* an event the stream did not end */
    } else if (r->json_len) {
        json_t *doc = json_loadb(r->json, r->json_len, 0, NULL);
        if (json_is_array(doc)) {
            size_t i;
            json_t *m;
            json_array_foreach(doc, i, m) take_message(r, json_incref(m));
            json_decref(doc);
        } else {
            take_message(r, doc);
        }
    }
    if (in->status < 200 || in->status > 299)
        snprintf(out->error, sizeof(out->error), "the target answered %ld", in->status);
    else if (!out->response && in->status != 202)
        snprintf(out->error, sizeof(out->error), "the target answered %ld without a JSON-RPC response", in->status);
}

void sl_mcp_reader_free(sl_mcp_reader *r)
{
    sl_mcp_reply_free(&r->reply);
    sl_sse_free(&r->sse);
    free(r->json);
    r->json = NULL;
    r->json_len = r->json_cap = 0;
    r->started = r->stream = false;
}

void sl_mcp_reply_read(const sl_http_reply *in, sl_mcp_reply *out)
{
    sl_mcp_reader r;
    sl_mcp_reader_init(&r);
    if (in->status)
        sl_mcp_reader_feed(&r, in, in->body ? in->body : "", in->body_len);
    sl_mcp_reader_end(&r, in);
    *out = r.reply;
    r.reply = (sl_mcp_reply){0};
    sl_mcp_reader_free(&r);
}

void sl_mcp_reply_free(sl_mcp_reply *r)
{
    free(r->session);
    json_decref(r->response);
    json_decref(r->messages);
    memset(r, 0, sizeof(*r));
}

/* The MCP gateway's handling of one client request (workers/mcp.h).
 *
 * POST carries one JSON-RPC message:
 *   initialize        sent to every target; the answer merges what they offer,
 *                     and its Mcp-Session-Id seals the targets' session ids
 *   tools/list, prompts/list, resources/list, resources/templates/list
 *                     sent to every target of the session; entries prefixed,
 *                     filtered and merged; the cursor is the gateway's own
 *   tools/call, prompts/get, resources/read|subscribe|unsubscribe,
 *   completion/complete
 *                     sent to the target the name's prefix names, without it
 *   logging/setLevel  sent to every target
 *   ping              answered here
 *   a notification    sent to every target (202)
 * DELETE ends the session with every target; GET (a server-to-client stream)
 * is not offered (405, which clients expect). The answer is JSON, or an event
 * stream when the targets sent notifications along (progress, logging): they
 * come first, in target order, then the response. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown" /* (a fuzz build, without config.h) */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mcp_table.h"
#include "common/settings.h"
#include "workers/conn.h"
#include "workers/http_client.h"
#include "workers/mcp.h"
#include "workers/policy.h"

#define SESSION_HEADER_MAX 16384

/* What the request's head said (kept in c->mcp while the body arrives). */
struct sl_mcp_req {
    const sl_snap_backend *be;
    char *session;     /* the Mcp-Session-Id field, or NULL */
    bool accepts_sse;  /* Accept names text/event-stream */
    sl_mcp_modern_head modern; /* MCP-Protocol-Version, Mcp-Method, Mcp-Name (2026-07-28: mcp_modern.c) */
    sl_mcp_log log;    /* what it did (metrics, access log) */
    struct mcp_exchange *ex;
};

/* ---- Answers ----
 * An answer is made while the exchange lives and sent once it is gone
 * (conclude): sending may end the request, which ends what it holds. */

typedef struct mcp_answer {
    bool streamed;      /* body is the stream's last event(s): the stream ends after it */
    uint8_t outcome;    /* sl_mcp_outcome, for metrics and the log */
    int status;
    char *headers;      /* header lines (malloc'd), or NULL */
    const char *type;   /* Content-Type, or NULL: no body */
    char *body;         /* malloc'd, or NULL */
    size_t len;
} mcp_answer;

static void answer_set(mcp_answer *a, int status, const char *headers, const char *type, char *body, size_t len)
{
    free(a->headers);
    free(a->body);
    a->streamed = false;
    a->outcome = status == 0 || status >= 400 ? SL_MCP_FAILED : SL_MCP_OK;
    a->status = status;
    a->headers = headers && *headers ? strdup(headers) : NULL;
    a->type = type;
    a->body = body;
    a->len = len;
}

static void answer_json(mcp_answer *a, int status, const char *headers, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        answer_set(a, 503, NULL, NULL, NULL, 0);
    else
        answer_set(a, status, headers, "application/json", text, strlen(text));
}

static json_t *rpc_error(const json_t *id, int code, const char *message)
{
    return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", "code", code,
                     "message", message);
}

static json_t *rpc_result(const json_t *id, json_t *result)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "result",
                     result ? result : json_object());
}

static void answer_error(mcp_answer *a, int status, const json_t *id, int code, const char *message)
{
    answer_json(a, status, NULL, rpc_error(id, code, message));
    a->outcome = status >= 400 || code == -32603 ? SL_MCP_FAILED : SL_MCP_ERROR;
}

/* Sends a (and frees it). */
static void answer_send(sl_conn *c, mcp_answer *a)
{
    if (a->streamed) {
        if (sl_conn_stream_write(c, a->body ? a->body : "", a->len))
            sl_conn_stream_end(c);
    } else if (a->status == 0 || (a->status == 503 && !a->type)) {
        sl_conn_respond(c, 503, "out of memory\n", true);
    } else {
        char *head = NULL;
        if (asprintf(&head, "%s%s%s%s", a->headers ? a->headers : "", a->type ? "Content-Type: " : "",
                     a->type ? a->type : "", a->type ? "\r\n" : "") < 0)
            head = NULL;
        if (head)
            sl_conn_respond_big(c, a->status, head, a->body ? a->body : "", a->len);
        else
            sl_conn_respond(c, 503, "out of memory\n", true);
        free(head);
    }
    answer_set(a, 0, NULL, NULL, NULL, 0);
}

typedef enum {
    STEP_INITIALIZE, /* initialize: every target */
    STEP_BROADCAST,  /* a notification, logging/setLevel: every target of the session */
    STEP_LIST,       /* a list: every target of the session (or those a cursor names) */
    STEP_LOOKUP,     /* a name without a prefix (prefixMode Never): lists first, to find its target */
    STEP_CALL,       /* one target */
    STEP_DELETE,     /* DELETE: every target of the session */
    STEP_RESPONSE,   /* the client's answer to a target's request: that target */
    STEP_LISTEN,     /* GET: every target's stream of messages, merged into one */
    STEP_DISCOVER,   /* 2026-07-28 server/discover: every target initialised (a new shared session) */
} mcp_step;

/* Where a target's exchange is: the message itself, or first a new session
 * with it (the target lost the one of this client's session, or had none). */
typedef enum { PHASE_SEND = 0, PHASE_INIT, PHASE_NOTIFY } mcp_phase;

typedef struct mcp_slot {
    struct mcp_exchange *ex;
    uint32_t target;   /* index among the Backend's targets */
    sl_http_call *call;
    sl_mcp_reply reply; /* its answer, once complete */
    sl_mcp_reader rd;   /* ...as it arrives */
    bool used;
    mcp_phase phase;
    bool repaired;     /* a new session was made in this exchange: not again */
    json_t *init_result; /* ...its initialize result (server/discover merges them), or NULL */
    char version[32];  /* the version this target's session speaks, when not the client session's (modern) */
    char *fresh;       /* ...its id (malloc'd), or NULL */
    json_t *msg;       /* the message for this target (NULL: DELETE), kept to send after a repair */
    const char *http_method;
} mcp_slot;

typedef struct mcp_exchange {
    sl_conn *c;
    const sl_snapshot *s;
    const sl_snap_backend *be;
    const uint8_t *key;
    json_t *msg;             /* the client's message */
    const char *method;      /* ...its method (in msg), or NULL */
    mcp_step step;
    const sl_mcp_list_kind *list; /* STEP_LIST, STEP_LOOKUP */
    bool uri;                /* STEP_CALL: the message names a URI */
    sl_mcp_session sess;
    json_t *cursors;         /* STEP_LIST: target name -> its cursor (a continued list), or NULL */
    mcp_answer answer;       /* what the client gets, sent when the exchange is over */
    char aad[600];           /* (cursor_aad's) */
    bool streaming;          /* the client's answer is a stream already under way (its head is sent) */
    bool modern;             /* a 2026-07-28 request: no client session; the targets' sessions are shared by
                              * (Backend, caller), kept in the table under modern_key */
    char modern_key[600];
    sl_dbuf outq;            /* events for that stream, written once the reader returns */
    unsigned pending;
    uint32_t ntargets;
    mcp_slot slots[];
} mcp_exchange;

static bool is_call(const char *m);

/* Whether s is 1..max visible ASCII characters (what a header may carry as it is). */
static bool plain_token(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
            return false;
    return n >= 1 && n <= max;
}

static const sl_snap_mcp_target *target_at(const mcp_exchange *ex, uint32_t i)
{
    return SL_SNAP_GET(ex->s, SL_SNAP_MCP_TARGETS, sl_snap_mcp_target, ex->be->mcp_targets.first + i);
}

static const char *target_name(const mcp_exchange *ex, uint32_t i) { return sl_snap_cstr(ex->s, target_at(ex, i)->name); }

/* What a cursor is sealed for: its Backend, and being a cursor (a session id is no cursor). */
static const char *cursor_aad(mcp_exchange *ex)
{
    snprintf(ex->aad, sizeof(ex->aad), "cursor %s", sl_snap_cstr(ex->s, ex->be->mcp_id));
    return ex->aad;
}

static uint32_t call_timeout(const sl_conn *c)
{
    return c->request_timeout_ms ? c->request_timeout_ms : SL_MCP_CALL_TIMEOUT_MS;
}

/* A message a target sends the client (a notification, or a request of its
 * own: sampling, elicitation, roots) in the client's terms: a request's id
 * names the target ("sluice~<target>~<its id as JSON>"), so the client's
 * answer finds its way back; a resource URI gets the target's prefix. */
static void outward(const mcp_exchange *ex, uint32_t target, json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *id = json_object_get(msg, "id");
    if (method && id) {
        char *text = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
        char *wrapped = NULL;
        if (text && asprintf(&wrapped, "sluice~%s~%s", target_name(ex, target), text) >= 0) {
            json_object_set_new(msg, "id", json_string(wrapped));
            free(wrapped);
        }
        free(text);
    }
    json_t *params = json_object_get(msg, "params");
    const char *uri = json_string_value(json_object_get(params, "uri"));
    if (method && uri && sl_mcp_prefixed(ex->be) && strncmp(method, "notifications/resources/", 24) == 0) {
        char *outer = sl_mcp_outer_name(ex->s, target_at(ex, target), true, uri);
        if (outer)
            json_object_set_new(params, "uri", json_string(outer));
        free(outer);
    }
}

/* The response, after the messages the targets sent along (an event stream
 * when there are some and the client takes one). */
static void answer_messages(mcp_exchange *ex, const char *headers, json_t *response)
{
    if (ex->modern && ex->method)
        sl_mcp_modern_shape(response, ex->method);
    json_t *others = json_array();
    for (uint32_t i = 0; i < ex->ntargets; i++) {
        size_t k;
        json_t *m;
        json_array_foreach(ex->slots[i].used ? ex->slots[i].reply.messages : NULL, k, m)
        {
            if (ex->modern && json_object_get(m, "id"))
                continue; /* (2026-07-28 has no requests from servers) */
            outward(ex, i, m);
            json_array_append(others, m);
        }
    }
    if (json_array_size(others) == 0 || !ex->c->mcp->accepts_sse) {
        json_decref(others);
        answer_json(&ex->answer, 200, headers, response);
        return;
    }
    json_array_append_new(others, response);
    size_t cap = 4096, len = 0, i;
    char *body = malloc(cap);
    json_t *m;
    json_array_foreach(others, i, m)
    {
        char *text = json_dumps(m, JSON_COMPACT);
        size_t n = text ? strlen(text) : 0;
        if (body && len + n + 32 > cap) {
            while (len + n + 32 > cap)
                cap *= 2;
            char *grown = realloc(body, cap);
            if (!grown)
                free(body);
            body = grown;
        }
        if (body && text)
            len += (size_t)snprintf(body + len, cap - len, "event: message\ndata: %s\n\n", text);
        free(text);
    }
    json_decref(others);
    char h[SESSION_HEADER_MAX + 64];
    snprintf(h, sizeof(h), "%sCache-Control: no-cache\r\n", headers ? headers : "");
    if (body)
        answer_set(&ex->answer, 200, h, "text/event-stream", body, len);
    else
        answer_set(&ex->answer, 503, NULL, NULL, NULL, 0);
}

/* ---- The exchange ---- */

static void exchange_free(mcp_exchange *ex)
{
    for (uint32_t i = 0; i < ex->ntargets; i++) {
        if (ex->slots[i].call)
            sl_http_call_cancel(ex->slots[i].call);
        sl_mcp_reply_free(&ex->slots[i].reply);
        sl_mcp_reader_free(&ex->slots[i].rd);
        free(ex->slots[i].fresh);
        json_decref(ex->slots[i].msg);
        json_decref(ex->slots[i].init_result);
    }
    answer_set(&ex->answer, 0, NULL, NULL, NULL, 0);
    sl_dbuf_free(&ex->outq);
    json_decref(ex->msg);
    json_decref(ex->cursors);
    sl_mcp_session_free(&ex->sess);
    free(ex);
}

/* The client left (or the request ended) while targets were called. */
static void tell_cancelled(mcp_exchange *ex);
static void end_ephemeral(mcp_exchange *ex);

static void exchange_cancel(sl_conn *c)
{
    mcp_exchange *ex = c->policy_op;
    c->policy_op = NULL;
    if (c->mcp)
        c->mcp->ex = NULL;
    if (ex) {
        tell_cancelled(ex);
        end_ephemeral(ex);
        exchange_free(ex);
    }
}

/* What the exchange did, for metrics and the access log. */
static void record(mcp_exchange *ex)
{
    sl_mcp_log *l = &ex->c->mcp->log;
    snprintf(l->backend, sizeof(l->backend), "%s", sl_snap_cstr(ex->s, ex->be->mcp_id));
    const char *method = ex->step == STEP_LISTEN   ? "GET"
                         : ex->step == STEP_DELETE ? "DELETE"
                         : ex->step == STEP_RESPONSE || (!ex->method && ex->msg) ? "response"
                         : ex->method                                            ? ex->method
                                                                                 : "invalid";
    /* Labels clients cannot multiply: the methods of the specification, names that reached a target. */
    static const char *const known[] = {"GET", "DELETE", "response", "initialize", "ping", "tools/list",
                                        "tools/call", "prompts/list", "prompts/get", "resources/list",
                                        "resources/templates/list", "resources/read", "resources/subscribe",
                                        "resources/unsubscribe", "completion/complete", "logging/setLevel",
                                        "server/discover"};
    bool listed = strncmp(method, "notifications/", 14) == 0 && strlen(method) < sizeof(l->method);
    for (size_t k = 0; !listed && k < sizeof(known) / sizeof(known[0]); k++)
        listed = strcmp(method, known[k]) == 0;
    snprintf(l->method, sizeof(l->method), "%s", listed ? method : "other");
    l->target[0] = l->name[0] = '\0';
    if (ex->step == STEP_CALL || ex->step == STEP_RESPONSE)
        for (uint32_t i = 0; i < ex->ntargets; i++)
            if (ex->slots[i].used)
                snprintf(l->target, sizeof(l->target), "%s", target_name(ex, i));
    if (ex->method && is_call(ex->method) && l->target[0]) {
        const json_t *params = json_object_get(ex->msg, "params");
        if (strcmp(ex->method, "completion/complete") == 0)
            params = json_object_get(params, "ref");
        const char *name = json_string_value(json_object_get(params, "name"));
        if (!name)
            name = json_string_value(json_object_get(params, "uri"));
        snprintf(l->name, sizeof(l->name), "%s", name ? name : "");
    }
    l->outcome = ex->answer.outcome;
    sl_mcp_count(ex->c, l);
}

/* The exchange is over: it goes, then its answer is sent. */
static void conclude(mcp_exchange *ex)
{
    sl_conn *c = ex->c;
    record(ex);
    if (ex->streaming && !ex->answer.streamed) {
        /* The stream is under way: the answer is its last event (a JSON-RPC
         * error or response); an empty one just ends it. */
        char *event = NULL;
        int n = ex->answer.body && ex->answer.type && strcmp(ex->answer.type, "application/json") == 0
                    ? asprintf(&event, "event: message\ndata: %.*s\n\n", (int)ex->answer.len, ex->answer.body)
                    : asprintf(&event, "%s", "");
        answer_set(&ex->answer, 200, NULL, NULL, n >= 0 ? event : NULL, n >= 0 ? (size_t)n : 0);
        ex->answer.streamed = true;
    }
    mcp_answer a = ex->answer;
    ex->answer = (mcp_answer){0};
    c->policy_cancel = NULL;
    c->policy_op = NULL;
    c->mcp->ex = NULL;
    c->watch_eof = false;
    end_ephemeral(ex);
    exchange_free(ex);
    c->state = SL_CONN_PROXY; /* (answering moves it on) */
    answer_send(c, &a);
}

static void finish(mcp_exchange *ex);

/* Whether target i is in the session (it answered initialize). */
static bool in_session(const mcp_exchange *ex, uint32_t i)
{
    return json_object_get(ex->sess.targets, target_name(ex, i)) != NULL;
}

/* What the shared table knows the client's targets' sessions by: its session
 * id, or for a modern client (no session) the Backend and the caller. */
static const char *table_session(const mcp_exchange *ex)
{
    if (!ex->modern)
        return ex->c->mcp->session;
    /* An anonymous modern caller shares nothing (its sessions last one request), nor does a discover. */
    return ex->modern_key[0] && ex->step != STEP_DISCOVER ? ex->modern_key : NULL;
}

/* The session id target i has in this client's session: one made again
 * (this exchange's, or the shared table's), else the one the session began with. */
static const char *target_session(mcp_exchange *ex, uint32_t i, char *buf, size_t cap)
{
    if (ex->slots[i].fresh)
        return ex->slots[i].fresh;
    const char *sid = table_session(ex);
    if (sid && ex->step != STEP_INITIALIZE && sl_mcp_table_get(sl_mcp_table_key(sid, target_name(ex, i)), buf, cap)) {
        char *tab = ex->modern ? strchr(buf, '\t') : NULL;
        if (tab) { /* a modern caller's shared session: "<version>\t<session id>" */
            *tab = '\0';
            snprintf(ex->slots[i].version, sizeof(ex->slots[i].version), "%s", buf);
            return tab + 1;
        }
        return buf;
    }
    return json_string_value(json_object_get(ex->sess.targets, target_name(ex, i)));
}

static void on_reply(const sl_http_reply *reply, void *arg);

/* A target's message during a call: queued for the client's stream (written
 * once the reader returns: writing may end the connection, and the exchange
 * with it). */
static void on_side_message(json_t *msg, void *arg)
{
    mcp_slot *slot = arg;
    mcp_exchange *ex = slot->ex;
    if (ex->modern && json_object_get(msg, "id")) {
        /* 2026-07-28 has no requests from server to client: a legacy target's cannot be passed on. */
        sl_log_info("mcp", "%s: target %s asked a 2026-07-28 client %s: not passed on", sl_snap_cstr(ex->s, ex->be->mcp_id),
                    target_name(ex, slot->target), json_string_value(json_object_get(msg, "method")) ?: "something");
        json_decref(msg);
        return;
    }
    outward(ex, slot->target, msg);
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return;
    sl_dbuf_append(&ex->outq, "event: message\ndata: ", 21);
    sl_dbuf_append(&ex->outq, text, strlen(text));
    sl_dbuf_append(&ex->outq, "\n\n", 2);
    free(text);
}

/* Writes the queued events to the client's stream, opening it first (open:
 * even with none queued). false: the connection closed, and ex is gone. */
static bool flush_outq(mcp_exchange *ex, bool open)
{
    if (sl_dbuf_len(&ex->outq) == 0 && !open)
        return true;
    sl_conn *c = ex->c;
    sl_dbuf q = ex->outq;
    ex->outq = (sl_dbuf){0};
    bool alive = ex->streaming ||
                 sl_conn_stream_begin(c, 200, "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n");
    if (alive) {
        ex->streaming = true;
        alive = sl_conn_stream_write(c, q.data + q.start, sl_dbuf_len(&q));
    }
    sl_dbuf_free(&q);
    return alive;
}

/* Bytes of a target's answer, as they arrive. */
static void on_chunk(const sl_http_reply *reply, const char *data, size_t len, void *arg)
{
    mcp_slot *slot = arg;
    mcp_exchange *ex = slot->ex;
    sl_mcp_reader_feed(&slot->rd, reply, data, len);
    /* A GET stream is answered as soon as one target's stream is open (its first bytes, a priming event). */
    bool open_listen = ex->step == STEP_LISTEN && !ex->streaming && reply->status == 200 && slot->rd.stream &&
                       slot->phase == PHASE_SEND; /* (not the answer to a repair's initialize) */
    flush_outq(ex, open_listen); /* (c, and ex with it, may be gone after: nothing more here) */
}

/* Sends slot's current message (by its phase) to its target. false: it could not start. */
static bool send_slot(mcp_exchange *ex, mcp_slot *slot)
{
    json_t *msg = slot->msg;
    const char *method = slot->http_method;
    char sidbuf[SL_MCP_TABLE_VALUE + 1];
    const char *sid = target_session(ex, slot->target, sidbuf, sizeof(sidbuf));
    const char *version = ex->step == STEP_INITIALIZE ? NULL : slot->version[0] ? slot->version : ex->sess.version;
    json_t *own = NULL;
    if (slot->phase == PHASE_INIT) {
        /* The client's initialize again, as the session recorded it. */
        const json_t *client = ex->sess.client;
        json_t *caps = json_object_get(client, "capabilities"), *info = json_object_get(client, "clientInfo");
        own = json_pack("{s:s, s:s, s:s, s:{s:s, s:o, s:o}}", "jsonrpc", "2.0", "id", "sluice-reinit", "method",
                        "initialize", "params", "protocolVersion", ex->sess.version, "capabilities",
                        caps ? json_deep_copy(caps) : json_object(), "clientInfo",
                        info ? json_deep_copy(info) : json_pack("{s:s, s:s}", "name", "sluice", "version", "1"));
        msg = own;
        method = "POST";
        sid = NULL;
        version = NULL;
    } else if (slot->phase == PHASE_NOTIFY) {
        own = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
        msg = own;
        method = "POST";
    }
    char *body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(own);
    if (msg && !body)
        return false;
    sl_mcp_reply_free(&slot->reply);
    sl_mcp_reader_free(&slot->rd);
    sl_mcp_reader_init(&slot->rd);
    slot->rd.arg = slot;
    /* A call's notifications and requests reach the client as they come (a stream of its own). */
    if ((ex->step == STEP_CALL || ex->step == STEP_LISTEN) && slot->phase == PHASE_SEND && ex->c->mcp->accepts_sse &&
        sl_conn_can_stream(ex->c))
        slot->rd.on_message = on_side_message;
    slot->call = sl_mcp_target_send(ex->c->w->loop, sl_snap_cstr(ex->s, target_at(ex, slot->target)->url), method,
                                    sid, version, body, body ? strlen(body) : 0,
                                    ex->step == STEP_LISTEN ? 1000u * (ex->be->mcp_session_s < 86400 ? ex->be->mcp_session_s : 86400)
                                                            : call_timeout(ex->c), on_chunk,
                                    on_reply, slot);
    free(body);
    if (slot->call)
        ex->pending++;
    return slot->call != NULL;
}

static void forget(const sl_http_reply *reply, void *arg)
{
    (void)reply;
    (void)arg;
}

/* A modern exchange's sessions that nobody shares (an anonymous caller's, a
 * discover's) end with it, at every target that gave one. */
static void end_ephemeral(mcp_exchange *ex)
{
    if (!ex->modern || table_session(ex))
        return;
    for (uint32_t i = 0; i < ex->ntargets; i++) {
        const mcp_slot *slot = &ex->slots[i];
        if (slot->fresh && *slot->fresh)
            sl_mcp_target_send(ex->c->w->loop, sl_snap_cstr(ex->s, target_at(ex, i)->url), "DELETE", slot->fresh,
                               slot->version[0] ? slot->version : ex->sess.version, NULL, 0, call_timeout(ex->c), NULL,
                               forget, NULL);
    }
}

/* The client left while targets worked on its request: each target that has
 * it gets notifications/cancelled (MCP's cancellation; nobody waits for the
 * answer), so it can stop. */
static void tell_cancelled(mcp_exchange *ex)
{
    for (uint32_t i = 0; i < ex->ntargets; i++) {
        mcp_slot *slot = &ex->slots[i];
        const json_t *id = json_object_get(slot->msg, "id");
        if (!slot->call || slot->phase != PHASE_SEND || !id || ex->modern)
            continue; /* (2026-07-28 targets would take the closed stream as the cancellation) */
        json_t *note = json_pack("{s:s, s:s, s:{s:O, s:s}}", "jsonrpc", "2.0", "method", "notifications/cancelled",
                                 "params", "requestId", id, "reason", "the client left");
        char *body = note ? json_dumps(note, JSON_COMPACT) : NULL;
        json_decref(note);
        char sidbuf[SL_MCP_TABLE_VALUE + 1];
        if (body)
            sl_mcp_target_send(ex->c->w->loop, sl_snap_cstr(ex->s, target_at(ex, i)->url), "POST",
                               target_session(ex, i, sidbuf, sizeof(sidbuf)), ex->sess.version, body, strlen(body),
                               call_timeout(ex->c), NULL, forget, NULL);
        free(body);
    }
}

/* Whether a target's answer says it does not know the session id it was sent:
 * 404 (the specification's answer), or a 400 about the session (what some
 * servers, server-everything among them, answer). */
static bool session_lost(const sl_mcp_reply *r)
{
    if (r->status == 404)
        return true;
    const char *m = json_string_value(json_object_get(json_object_get(r->response, "error"), "message"));
    return r->status == 400 && m && strcasestr(m, "session");
}

/* A new session with the slot's target inside the client's session: the
 * answer to initialize, then notifications/initialized; its id is kept in the
 * shared table, so every worker uses it from now on. */
static bool repair_step(mcp_exchange *ex, mcp_slot *slot)
{
    const char *name = target_name(ex, slot->target);
    if (slot->phase == PHASE_SEND) {
        if (slot->repaired || !session_lost(&slot->reply) || ex->step == STEP_INITIALIZE || ex->step == STEP_DELETE)
            return false;
        sl_log_info("mcp", "%s: target %s lost the session: initialising it again",
                    sl_snap_cstr(ex->s, ex->be->mcp_id), name);
        slot->phase = PHASE_INIT;
        return send_slot(ex, slot);
    }
    if (slot->phase == PHASE_INIT) {
        const json_t *result = json_object_get(slot->reply.response, "result");
        if (!json_is_object(result))
            return false; /* the target is still down: its answer stays the failed initialize */
        free(slot->fresh);
        slot->fresh = strdup(slot->reply.session ? slot->reply.session : "");
        json_decref(slot->init_result);
        slot->init_result = json_incref((json_t *)result);
        const char *sid = table_session(ex);
        const char *v = json_string_value(json_object_get(result, "protocolVersion"));
        if (ex->modern && v)
            snprintf(slot->version, sizeof(slot->version), "%s", v);
        char value[SL_MCP_TABLE_VALUE + 40];
        snprintf(value, sizeof(value), "%s%s%s", ex->modern ? slot->version : "", ex->modern ? "\t" : "",
                 slot->fresh ? slot->fresh : "");
        if (sid && slot->fresh)
            if (!sl_mcp_table_put(sl_mcp_table_key(sid, name), value, strlen(value), (uint64_t)time(NULL), 0))
                sl_log_warn("mcp", "%s: target %s's new session id could not be kept (longer than %d bytes, or the "
                                   "MCP session table is missing): the next request initialises it again",
                            sl_snap_cstr(ex->s, ex->be->mcp_id), name, SL_MCP_TABLE_VALUE);
        slot->phase = PHASE_NOTIFY;
        return send_slot(ex, slot);
    }
    /* PHASE_NOTIFY: the message itself, once (server/discover has none for a target: done). */
    if (ex->step == STEP_DISCOVER)
        return false;
    slot->phase = PHASE_SEND;
    slot->repaired = true;
    return send_slot(ex, slot);
}

static void on_reply(const sl_http_reply *reply, void *arg)
{
    mcp_slot *slot = arg;
    mcp_exchange *ex = slot->ex;
    slot->call = NULL;
    ex->pending--;
    sl_mcp_reader_end(&slot->rd, reply);
    if (!flush_outq(ex, false))
        return; /* (an event the stream did not end, and writing it found the client gone) */
    sl_mcp_reply_free(&slot->reply);
    slot->reply = slot->rd.reply;
    slot->rd.reply = (sl_mcp_reply){0};
    sl_mcp_reader_free(&slot->rd);
    if (repair_step(ex, slot))
        return;
    if (slot->reply.error[0] && !(ex->step == STEP_LISTEN && slot->reply.status == 405))
        sl_log_warn("mcp", "target %s of %s: %s", target_name(ex, slot->target), sl_snap_cstr(ex->s, ex->be->mcp_id),
                    slot->reply.error);
    if (ex->pending == 0) {
        finish(ex);
        if (ex->pending == 0)
            conclude(ex); /* (a lookup goes on with a call) */
    }
}

/* Sends msg (NULL: a DELETE) to target i; a target that is not in the session
 * (it failed at initialize) is initialised first. false: it could not start. */
static bool send_to(mcp_exchange *ex, uint32_t i, const json_t *msg, const char *http_method)
{
    mcp_slot *slot = &ex->slots[i];
    json_decref(slot->msg);
    slot->msg = msg ? json_deep_copy(msg) : NULL;
    slot->ex = ex;
    slot->target = i;
    slot->used = true;
    slot->http_method = http_method;
    char sidbuf[SL_MCP_TABLE_VALUE + 1];
    bool joins = ex->step != STEP_INITIALIZE && ex->step != STEP_DELETE && !in_session(ex, i) &&
                 !slot->fresh && !(table_session(ex) && target_session(ex, i, sidbuf, sizeof(sidbuf)));
    joins = joins || ex->step == STEP_DISCOVER; /* (a new shared session, whose initialize result discover needs) */
    slot->phase = joins ? PHASE_INIT : PHASE_SEND;
    slot->repaired = slot->repaired || joins;
    return send_slot(ex, slot);
}

/* Sends msg to every target of the session (those the cursors name, when
 * continuing a list). Returns how many calls started. */
static unsigned send_all(mcp_exchange *ex, const json_t *msg, const char *http_method)
{
    unsigned started = 0;
    for (uint32_t i = 0; i < ex->ntargets; i++) {
        char sidbuf[SL_MCP_TABLE_VALUE + 1];
        if (ex->step == STEP_DELETE && !target_session(ex, i, sidbuf, sizeof(sidbuf)))
            continue; /* no session there to end */
        const json_t *m = msg;
        json_t *own = NULL;
        if (ex->cursors) {
            json_t *cursor = json_object_get(ex->cursors, target_name(ex, i));
            if (!cursor)
                continue;
            own = json_deep_copy(msg);
            json_t *params = json_object_get(own, "params");
            if (!json_is_object(params)) {
                params = json_object();
                json_object_set_new(own, "params", params);
            }
            json_object_set(params, "cursor", cursor);
            m = own;
        }
        started += send_to(ex, i, m, http_method);
        json_decref(own);
    }
    return started;
}

/* ---- Merging answers ---- */

/* The version of the session: the oldest one the targets answered with
 * (versions are dates), so every target speaks it. */
static const char *negotiated_version(const mcp_exchange *ex)
{
    const char *agreed = NULL;
    for (uint32_t i = 0; i < ex->ntargets; i++) {
        const char *v = json_string_value(
            json_object_get(json_object_get(ex->slots[i].reply.response, "result"), "protocolVersion"));
        if (v && (!agreed || strcmp(v, agreed) < 0))
            agreed = v;
    }
    return agreed;
}

/* What the gateway offers: the union of what the targets offer, of the
 * capabilities it knows how to serve. */
static void merge_capabilities(json_t *into, const json_t *caps)
{
    static const char *const known[] = {"tools", "prompts", "resources", "logging", "completions"};
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
        json_t *cap = json_object_get(caps, known[k]);
        if (!json_is_object(cap))
            continue;
        json_t *have = json_object_get(into, known[k]);
        if (!have) {
            have = json_object();
            json_object_set_new(into, known[k], have);
        }
        const char *flag;
        json_t *value;
        json_object_foreach(cap, flag, value)
        {
            if (json_is_true(value))
                json_object_set(have, flag, value);
        }
    }
}

/* What target i offered at its initialize: the result of a new session made
 * in this exchange (server/discover's), else the answer to the client's initialize. */
static const json_t *offer_of(const mcp_exchange *ex, uint32_t i)
{
    const json_t *made = ex->slots[i].init_result;
    return made ? made : json_object_get(ex->slots[i].reply.response, "result");
}

/* The instructions of several targets, each under its name. */
static json_t *joined_instructions(const mcp_exchange *ex)
{
    json_t *out = NULL;
    for (uint32_t i = 0; i < ex->ntargets; i++) {
        const char *text = json_string_value(json_object_get(offer_of(ex, i), "instructions"));
        if (!text)
            continue;
        if (ex->ntargets == 1)
            return json_string(text);
        char *joined = NULL;
        const char *before = out ? json_string_value(out) : "";
        if (asprintf(&joined, "%s%s## %s\n\n%s", before, *before ? "\n\n" : "", target_name(ex, i), text) < 0)
            continue;
        json_decref(out);
        out = json_string(joined);
        free(joined);
    }
    return out;
}

static void finish_initialize(mcp_exchange *ex)
{
    const json_t *id = json_object_get(ex->msg, "id");
    json_t *caps = json_object(), *sessions = json_object();
    const json_t *info = NULL;
    for (uint32_t i = 0; i < ex->ntargets; i++) {
        const sl_mcp_reply *r = &ex->slots[i].reply;
        const json_t *result = json_object_get(r->response, "result");
        if (!json_is_object(result) || !json_is_string(json_object_get(result, "protocolVersion")))
            continue;
        if (r->session && !plain_token(r->session, SL_MCP_TARGET_SID_MAX)) {
            sl_log_warn("mcp", "%s: target %s gave a session id that is not 1..%d visible ASCII characters: left out",
                        sl_snap_cstr(ex->s, ex->be->mcp_id), target_name(ex, i), SL_MCP_TARGET_SID_MAX);
            continue;
        }
        json_object_set_new(sessions, target_name(ex, i), json_string(r->session ? r->session : ""));
        merge_capabilities(caps, json_object_get(result, "capabilities"));
        info = json_object_get(result, "serverInfo");
    }
    const char *version = negotiated_version(ex);
    if (!json_object_size(sessions) || !version) {
        json_decref(caps);
        json_decref(sessions);
        sl_log_warn("mcp", "%s: no target answered initialize", sl_snap_cstr(ex->s, ex->be->mcp_id));
        answer_error(&ex->answer, 502, id, -32603, "no MCP server behind this gateway answered initialize");
        return;
    }
    snprintf(ex->sess.version, sizeof(ex->sess.version), "%s", version);
    snprintf(ex->sess.caller, sizeof(ex->sess.caller), "%s", ex->c->client_id ? ex->c->client_id : "");
    ex->sess.created = (uint64_t)time(NULL);
    json_decref(ex->sess.targets);
    ex->sess.targets = sessions;
    char *sid = sl_mcp_session_id(ex->key, sl_snap_cstr(ex->s, ex->be->mcp_id), &ex->sess);
    if (!sid) {
        json_decref(caps);
        answer_error(&ex->answer, 502, id, -32603,
                     "the session could not be made (the targets' session ids and the client's capabilities "
                     "would not fit in a header)");
        return;
    }
    /* One target: the gateway is transparent (its name and version); several: the gateway's own. */
    json_t *server = ex->ntargets == 1 && info
                         ? json_deep_copy(info)
                         : json_pack("{s:s, s:s}", "name", "sluice-mcp-gateway", "version", PACKAGE_VERSION);
    json_t *result = json_pack("{s:s, s:o, s:o}", "protocolVersion", version, "capabilities", caps, "serverInfo", server);
    json_t *instructions = joined_instructions(ex);
    if (instructions)
        json_object_set_new(result, "instructions", instructions);
    char headers[SESSION_HEADER_MAX];
    snprintf(headers, sizeof(headers), "Mcp-Session-Id: %s\r\n", sid);
    free(sid);
    answer_messages(ex, headers, rpc_result(id, result));
}

static void finish_list(mcp_exchange *ex)
{
    const json_t *id = json_object_get(ex->msg, "id");
    json_t *merged = json_object(), *next = json_object();
    bool prefixed = sl_mcp_prefixed(ex->be);
    unsigned clashes = 0, answered = 0, asked = 0;
    for (uint32_t i = 0; i < ex->ntargets; i++) {
        if (!ex->slots[i].used)
            continue;
        asked++;
        json_t *result = json_object_get(ex->slots[i].reply.response, "result");
        if (!json_is_object(result))
            continue; /* a target that failed: its entries are missing (the log says why) */
        answered++;
        sl_mcp_merge_list(ex->s, target_at(ex, i), prefixed, ex->list, result, merged, &clashes);
        json_t *cursor = json_object_get(result, "nextCursor");
        if (json_is_string(cursor))
            json_object_set(next, target_name(ex, i), cursor);
    }
    /* What the caller may not use, it does not see (mcpAuthorization). */
    json_t *entries = json_object_get(merged, ex->list->array);
    sl_mcp_item_kind kind = strcmp(ex->list->array, "tools") == 0     ? SL_MCP_TOOL
                            : strcmp(ex->list->array, "prompts") == 0 ? SL_MCP_PROMPT
                                                                      : SL_MCP_RESOURCE;
    for (size_t k = json_array_size(entries); k-- > 0;) {
        const char *name = json_string_value(json_object_get(json_array_get(entries, k), ex->list->key));
        if (!name || !sl_mcp_allowed(ex->c, kind, name))
            json_array_remove(entries, k);
    }
    if (clashes)
        sl_log_warn("mcp", "%s: %u %s offered by more than one target (prefixMode Never): the first target's are listed",
                    sl_snap_cstr(ex->s, ex->be->mcp_id), clashes, ex->list->array);
    if (!json_object_get(merged, ex->list->array))
        json_object_set_new(merged, ex->list->array, json_array());
    if (json_object_size(next)) {
        char *text = json_dumps(next, JSON_COMPACT);
        char *cursor = text ? sl_mcp_seal(ex->key, cursor_aad(ex), text, strlen(text)) : NULL;
        if (cursor)
            json_object_set_new(merged, "nextCursor", json_string(cursor));
        free(text);
        free(cursor);
    }
    json_decref(next);
    if (asked && !answered) {
        json_decref(merged);
        answer_error(&ex->answer, 200, id, -32603, "no MCP server behind this gateway answered");
        return;
    }
    answer_messages(ex, NULL, rpc_result(id, merged));
}

/* obj.uri, a URI of target i, in the client's terms. */
static void prefix_uri(const mcp_exchange *ex, uint32_t i, json_t *obj)
{
    const char *uri = json_string_value(json_object_get(obj, "uri"));
    char *outer = uri ? sl_mcp_outer_name(ex->s, target_at(ex, i), true, uri) : NULL;
    if (outer)
        json_object_set_new(obj, "uri", json_string(outer));
    free(outer);
}

/* A call's answer: the target's response, the URIs it carries put back in the client's terms. */
static void finish_call(mcp_exchange *ex, uint32_t i)
{
    const sl_mcp_reply *r = &ex->slots[i].reply;
    const json_t *id = json_object_get(ex->msg, "id");
    if (!r->response) {
        char why[400];
        snprintf(why, sizeof(why), "the MCP server %s did not answer: %s", target_name(ex, i),
                 r->error[0] ? r->error : "no response");
        answer_error(&ex->answer, 200, id, -32603, why);
        return;
    }
    json_t *response = json_deep_copy(r->response);
    json_object_set(response, "id", (json_t *)id);
    bool failed = json_object_get(response, "error") != NULL;
    if (sl_mcp_prefixed(ex->be)) {
        /* Resource URIs in the answer, in the client's terms, so that reading them finds this target:
         * resources/read's contents, and the links and embedded resources of tool results and prompts. */
        const json_t *result = json_object_get(response, "result");
        size_t k;
        json_t *item;
        json_array_foreach(json_object_get(result, "contents"), k, item) prefix_uri(ex, i, item);
        json_array_foreach(json_object_get(result, "content"), k, item)
        {
            const char *type = json_string_value(json_object_get(item, "type"));
            if (type && strcmp(type, "resource_link") == 0)
                prefix_uri(ex, i, item);
            else if (type && strcmp(type, "resource") == 0)
                prefix_uri(ex, i, json_object_get(item, "resource"));
        }
        json_array_foreach(json_object_get(result, "messages"), k, item)
        {
            json_t *content = json_object_get(item, "content");
            const char *type = json_string_value(json_object_get(content, "type"));
            if (type && strcmp(type, "resource_link") == 0)
                prefix_uri(ex, i, content);
            else if (type && strcmp(type, "resource") == 0)
                prefix_uri(ex, i, json_object_get(content, "resource"));
        }
    }
    answer_messages(ex, NULL, response);
    ex->answer.outcome = failed ? SL_MCP_ERROR : SL_MCP_OK;
}

static void start_call(mcp_exchange *ex, uint32_t target, const char *inner);

/* A name without a prefix (prefixMode Never): the first target whose list has it. */
static void finish_lookup(mcp_exchange *ex)
{
    const json_t *params = json_object_get(ex->msg, "params");
    if (strcmp(ex->method, "completion/complete") == 0)
        params = json_object_get(params, "ref");
    const char *name = json_string_value(json_object_get(params, ex->uri ? "uri" : "name"));
    for (uint32_t i = 0; name && i < ex->ntargets; i++) {
        const json_t *result = json_object_get(ex->slots[i].reply.response, "result");
        size_t k;
        const json_t *e;
        json_array_foreach(json_object_get(result, ex->list->array), k, e)
        {
            const char *v = json_string_value(json_object_get(e, ex->list->key));
            if (v && strcmp(v, name) == 0 && sl_mcp_offered(ex->s, target_at(ex, i), name)) {
                for (uint32_t j = 0; j < ex->ntargets; j++) {
                    sl_mcp_reply_free(&ex->slots[j].reply);
                    ex->slots[j].used = false;
                }
                start_call(ex, i, name);
                return;
            }
        }
    }
    answer_error(&ex->answer, 200, json_object_get(ex->msg, "id"), -32602, "Unknown name: no MCP server offers it");
}

/* server/discover (2026-07-28): what the targets' initialize results offer, merged. */
static void finish_discover(mcp_exchange *ex)
{
    json_t *caps = json_object();
    const json_t *info = NULL;
    unsigned ok = 0;
    for (uint32_t i = 0; i < ex->ntargets; i++) {
        const json_t *result = ex->slots[i].init_result;
        if (!result)
            continue;
        ok++;
        merge_capabilities(caps, json_object_get(result, "capabilities"));
        info = json_object_get(result, "serverInfo");
    }
    if (!ok) {
        json_decref(caps);
        answer_error(&ex->answer, 502, json_object_get(ex->msg, "id"), -32603, "no MCP server behind this gateway answered");
        return;
    }
    json_t *server = ex->ntargets == 1 && info
                         ? json_deep_copy(info)
                         : json_pack("{s:s, s:s}", "name", "sluice-mcp-gateway", "version", PACKAGE_VERSION);
    json_t *result = json_pack("{s:s, s:[s], s:o, s:{s:o}, s:i, s:s}", "resultType", "complete", "supportedVersions",
                               "2026-07-28", "capabilities", caps, "_meta", "io.modelcontextprotocol/serverInfo", server,
                               "ttlMs", 0, "cacheScope", "private");
    json_t *instructions = joined_instructions(ex);
    if (instructions)
        json_object_set_new(result, "instructions", instructions);
    answer_messages(ex, NULL, rpc_result(json_object_get(ex->msg, "id"), result));
}

/* Every target answered: the exchange's answer is made (or, after a lookup, a call starts). */
static void finish(mcp_exchange *ex)
{
    const json_t *id = json_object_get(ex->msg, "id");
    switch (ex->step) {
    case STEP_INITIALIZE: finish_initialize(ex); return;
    case STEP_LIST: finish_list(ex); return;
    case STEP_LOOKUP: finish_lookup(ex); return;
    case STEP_CALL:
        for (uint32_t i = 0; i < ex->ntargets; i++)
            if (ex->slots[i].used) {
                finish_call(ex, i);
                return;
            }
        answer_error(&ex->answer, 200, id, -32603, "no MCP server answered");
        return;
    case STEP_BROADCAST:
        if (id)
            answer_messages(ex, NULL, rpc_result(id, NULL));
        else
            answer_set(&ex->answer, 202, NULL, NULL, NULL, 0);
        return;
    case STEP_RESPONSE: answer_set(&ex->answer, 202, NULL, NULL, NULL, 0); return;
    case STEP_DISCOVER: finish_discover(ex); return;
    case STEP_LISTEN:
        /* Every stream ended (a stream under way ends with them); none opened: 405, as a server without one. */
        answer_set(&ex->answer, 405, "Allow: GET, POST, DELETE\r\n", NULL, NULL, 0);
        return;
    case STEP_DELETE:
        /* Ended for every worker: the id gets 404 from now on. */
        /* Kept until the id would have expired anyway: no later entry may push it out. */
        if (sl_mcp_table_put(sl_mcp_table_key(ex->c->mcp->session, ""), "-", 1, (uint64_t)time(NULL),
                             ex->sess.created + ex->be->mcp_session_s + 1))
            answer_set(&ex->answer, 200, NULL, NULL, NULL, 0);
        else
            answer_error(&ex->answer, 503, NULL, -32603, "the session's end could not be recorded (the MCP session "
                                                         "table is full or missing): it still works");
        return;
    }
}

/* ---- Dispatch ---- */

/* Sends the client's message to one target, the name in it (params.name, or
 * params.uri, or params.ref's) replaced by the target's own. */
static void start_call(mcp_exchange *ex, uint32_t target, const char *inner)
{
    ex->step = STEP_CALL;
    json_t *msg = json_deep_copy(ex->msg);
    json_t *params = json_object_get(msg, "params");
    if (strcmp(ex->method, "completion/complete") == 0)
        params = json_object_get(params, "ref");
    json_object_set_new(params, ex->uri ? "uri" : "name", json_string(inner));
    if (!send_to(ex, target, msg, "POST"))
        answer_error(&ex->answer, 503, json_object_get(ex->msg, "id"), -32603, "out of memory");
    json_decref(msg);
}

/* Sends a call to the target its name's prefix names. */
static void route_call(mcp_exchange *ex)
{
    const json_t *params = json_object_get(ex->msg, "params");
    const json_t *holder = strcmp(ex->method, "completion/complete") == 0 ? json_object_get(params, "ref") : params;
    ex->uri = json_object_get(holder, "uri") != NULL && !json_object_get(holder, "name");
    const char *name = json_string_value(json_object_get(holder, ex->uri ? "uri" : "name"));
    const json_t *id = json_object_get(ex->msg, "id");
    if (!name || !json_is_object(holder)) {
        answer_error(&ex->answer, 200, id, -32602,
                     ex->uri ? "Invalid params: uri must be a string" : "Invalid params: name must be a string");
        return;
    }
    const char *ref_type = json_string_value(json_object_get(holder, "type"));
    sl_mcp_item_kind kind = strcmp(ex->method, "tools/call") == 0 ? SL_MCP_TOOL
                            : strcmp(ex->method, "prompts/get") == 0 || (ref_type && strcmp(ref_type, "ref/prompt") == 0)
                                ? SL_MCP_PROMPT
                                : SL_MCP_RESOURCE;
    if (!sl_mcp_allowed(ex->c, kind, name)) {
        /* Denied is answered as unknown: the caller learns nothing of what it may not use. */
        sl_log_info("mcp", "%s: client %s (%s) may not use %s %s (mcpAuthorization)", sl_snap_cstr(ex->s, ex->be->mcp_id),
                    ex->c->peer, ex->c->client_id[0] ? ex->c->client_id : "anonymous",
                    kind == SL_MCP_TOOL ? "tool" : kind == SL_MCP_PROMPT ? "prompt" : "resource", name);
        char why[400];
        snprintf(why, sizeof(why), "%s: %.200s (no MCP server of this gateway offers it)",
                 kind == SL_MCP_TOOL ? "Unknown tool" : "Unknown name", name);
        answer_error(&ex->answer, 200, id, -32602, why);
        return;
    }
    uint64_t wait_ms = kind == SL_MCP_TOOL ? sl_mcp_rate_limit(ex->c, name) : 0;
    if (wait_ms) {
        /* Over the route's mcpRateLimit for this tool: 429, as rateLimit answers, with a JSON-RPC error. */
        char headers[64], why[400];
        snprintf(headers, sizeof(headers), "Retry-After: %llu\r\n", (unsigned long long)((wait_ms + 999) / 1000));
        snprintf(why, sizeof(why), "Too many calls of %.200s: retry in %llu s (mcpRateLimit)", name,
                 (unsigned long long)((wait_ms + 999) / 1000));
        answer_json(&ex->answer, 429, headers, rpc_error(id, -32000, why));
        sl_log_debug("mcp", "client %s over the mcpRateLimit of tool %s", ex->c->peer, name);
        return;
    }
    const char *inner = name;
    uint32_t target = 0;
    if (sl_mcp_prefixed(ex->be)) {
        target = sl_mcp_split_name(ex->s, ex->be, ex->uri, name, &inner);
    } else if (ex->ntargets > 1) {
        /* No prefix to go by: the first target that lists it, as the merged list shows. */
        ex->step = STEP_LOOKUP;
        ex->list = sl_mcp_list_kind_of(strcmp(ex->method, "tools/call") == 0 ? "tools/list"
                                       : ex->uri                            ? "resources/list"
                                                                            : "prompts/list");
        json_t *list = json_pack("{s:s, s:s, s:s}", "jsonrpc", "2.0", "id", "sluice-lookup", "method", ex->list->method);
        unsigned started = send_all(ex, list, "POST");
        json_decref(list);
        if (!started)
            answer_error(&ex->answer, 200, id, -32602, "Unknown name: no MCP server offers it");
        return;
    }
    if (target == SL_SNAP_NONE || !sl_mcp_offered(ex->s, target_at(ex, target), inner)) {
        char why[400];
        snprintf(why, sizeof(why), "%s: %.200s (no MCP server of this gateway offers it)",
                 strcmp(ex->method, "tools/call") == 0 ? "Unknown tool" : "Unknown name", name);
        answer_error(&ex->answer, 200, id, -32602, why);
        return;
    }
    start_call(ex, target, inner);
}

static bool is_call(const char *m)
{
    static const char *const calls[] = {"tools/call",          "prompts/get",           "resources/read",
                                        "resources/subscribe", "resources/unsubscribe", "completion/complete"};
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
        if (strcmp(m, calls[i]) == 0)
            return true;
    return false;
}

/* Reads the client's session into ex->sess; false, with the answer set (400, 404), when there is none. */
static bool open_session(mcp_exchange *ex)
{
    const char *sid = ex->c->mcp->session;
    const json_t *id = json_object_get(ex->msg, "id");
    if (!sid) {
        answer_error(&ex->answer, 400, id, -32000, "Bad Request: the Mcp-Session-Id header is required");
        return false;
    }
    char ended[8];
    if (!sl_mcp_session_read(ex->key, sl_snap_cstr(ex->s, ex->be->mcp_id), sid, strlen(sid), (uint64_t)time(NULL),
                             ex->be->mcp_session_s, &ex->sess) ||
        sl_mcp_table_get(sl_mcp_table_key(sid, ""), ended, sizeof(ended)) ||
        strcmp(ex->sess.caller, ex->c->client_id ? ex->c->client_id : "") != 0) {
        /* (Not this caller's: another one who learnt the id cannot use it.) */
        answer_error(&ex->answer, 404, id, -32001, "Session not found");
        return false;
    }
    return true;
}

/* Starts what a list asks: every target of the session, or those its cursor names. */
static void start_list(mcp_exchange *ex)
{
    const json_t *id = json_object_get(ex->msg, "id");
    ex->step = STEP_LIST;
    const char *cursor = json_string_value(json_object_get(json_object_get(ex->msg, "params"), "cursor"));
    if (cursor) {
        char *text = sl_mcp_unseal(ex->key, cursor_aad(ex), cursor, strlen(cursor));
        ex->cursors = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        if (!json_is_object(ex->cursors)) {
            answer_error(&ex->answer, 200, id, -32602, "Invalid params: the cursor is not one this gateway gave");
            return;
        }
    }
    json_t *msg = json_deep_copy(ex->msg);
    json_object_del(json_object_get(msg, "params"), "cursor");
    unsigned started = send_all(ex, msg, "POST");
    json_decref(msg);
    if (!started)
        finish_list(ex); /* no target to ask: an empty list */
}

/* The client's answer to a target's request (sampling, elicitation, roots):
 * the id the gateway gave the request names the target and its own id. */
static void route_response(mcp_exchange *ex)
{
    const char *id = json_string_value(json_object_get(ex->msg, "id"));
    const char *name = id && strncmp(id, "sluice~", 7) == 0 ? id + 7 : NULL;
    const char *sep = name ? strchr(name, '~') : NULL;
    json_t *inner = sep ? json_loads(sep + 1, JSON_DECODE_ANY, NULL) : NULL;
    uint32_t target = SL_SNAP_NONE;
    for (uint32_t i = 0; sep && i < ex->ntargets; i++)
        if (strlen(target_name(ex, i)) == (size_t)(sep - name) && strncmp(target_name(ex, i), name, (size_t)(sep - name)) == 0)
            target = i;
    if (!inner || target == SL_SNAP_NONE) {
        json_decref(inner);
        sl_log_info("mcp", "%s: client %s answered a request no target made (id %s): dropped",
                    sl_snap_cstr(ex->s, ex->be->mcp_id), ex->c->peer, id ? id : "not a string");
        answer_set(&ex->answer, 202, NULL, NULL, NULL, 0);
        return;
    }
    ex->step = STEP_RESPONSE;
    json_t *msg = json_deep_copy(ex->msg);
    json_object_set_new(msg, "id", inner);
    if (!send_to(ex, target, msg, "POST"))
        answer_set(&ex->answer, 503, NULL, NULL, NULL, 0);
    json_decref(msg);
}

/* A 2026-07-28 request: no session; the targets' sessions are the caller's
 * shared ones (the table, under modern_key), made on first use. */
static void dispatch_modern(mcp_exchange *ex)
{
    sl_conn *c = ex->c;
    int status = 0;
    json_t *refusal = sl_mcp_modern_check(&c->mcp->modern, ex->msg, &status);
    if (refusal) {
        answer_json(&ex->answer, status, NULL, refusal);
        ex->answer.outcome = SL_MCP_ERROR;
        return;
    }
    const json_t *id = json_object_get(ex->msg, "id");
    const char *m = ex->method;
    snprintf(ex->modern_key, sizeof(ex->modern_key), "modern %s %s", sl_snap_cstr(ex->s, ex->be->mcp_id),
             c->client_id ? c->client_id : "");
    snprintf(ex->sess.version, sizeof(ex->sess.version), "2025-11-25"); /* what the targets are spoken to in */
    snprintf(ex->sess.caller, sizeof(ex->sess.caller), "%s", c->client_id ? c->client_id : "");
    ex->sess.targets = json_object();
    ex->sess.client = sl_mcp_modern_client(ex->msg);
    if (!id) {
        answer_set(&ex->answer, 202, NULL, NULL, NULL, 0); /* (cancellation is the closing of a stream now) */
        return;
    }
    if (strcmp(m, "server/discover") == 0) {
        ex->step = STEP_DISCOVER;
        json_t *none = json_object();
        if (!send_all(ex, none, "POST"))
            answer_error(&ex->answer, 502, id, -32603, "no MCP server behind this gateway could be reached");
        json_decref(none);
        return;
    }
    if ((ex->list = sl_mcp_list_kind_of(m))) {
        start_list(ex);
        return;
    }
    if (strcmp(m, "tools/call") == 0 || strcmp(m, "prompts/get") == 0 || strcmp(m, "resources/read") == 0 ||
        strcmp(m, "completion/complete") == 0) {
        route_call(ex);
        return;
    }
    answer_error(&ex->answer, 404, id, -32601, "Method not found");
}

/* Starts what the message asks, or sets the answer. */
static void dispatch(mcp_exchange *ex)
{
    const json_t *id = json_object_get(ex->msg, "id");
    const char *m = ex->method;
    if (m && strcmp(m, "initialize") == 0) {
        ex->step = STEP_INITIALIZE;
        ex->sess.targets = json_object();
        /* Kept in the session: a target initialised again later gets the same. */
        const json_t *params = json_object_get(ex->msg, "params");
        ex->sess.client = json_object();
        if (json_is_object(json_object_get(params, "capabilities")))
            json_object_set(ex->sess.client, "capabilities", json_object_get(params, "capabilities"));
        const json_t *info = json_object_get(params, "clientInfo");
        if (json_is_object(info)) /* (its name and version: icons and the like would only swell the id) */
            json_object_set_new(ex->sess.client, "clientInfo",
                                json_pack("{s:s, s:s}", "name", json_string_value(json_object_get(info, "name"))
                                                              ? json_string_value(json_object_get(info, "name")) : "",
                                          "version", json_string_value(json_object_get(info, "version"))
                                                         ? json_string_value(json_object_get(info, "version")) : ""));
        if (!send_all(ex, ex->msg, "POST"))
            answer_error(&ex->answer, 502, id, -32603, "no MCP server behind this gateway could be reached");
        return;
    }
    if (!open_session(ex))
        return;
    if (!m) {
        route_response(ex);
        return;
    }
    if (strcmp(m, "ping") == 0 && id) {
        answer_json(&ex->answer, 200, NULL, rpc_result(id, NULL));
        return;
    }
    if (!id && strncmp(m, "notifications/", 14) != 0) {
        /* A request without an id would run at every target unchecked (no name is routed, no authorisation). */
        answer_error(&ex->answer, 400, NULL, -32600, "Invalid Request: only notifications/* may come without an id");
        return;
    }
    if (!id || strcmp(m, "logging/setLevel") == 0) {
        ex->step = STEP_BROADCAST;
        if (!send_all(ex, ex->msg, "POST"))
            finish(ex);
        return;
    }
    if ((ex->list = sl_mcp_list_kind_of(m))) {
        start_list(ex);
        return;
    }
    if (is_call(m)) {
        route_call(ex);
        return;
    }
    if (ex->ntargets == 1) {
        ex->step = STEP_CALL; /* one target: whatever it understands */
        if (!send_to(ex, 0, ex->msg, "POST"))
            answer_error(&ex->answer, 503, id, -32603, "out of memory");
        return;
    }
    answer_error(&ex->answer, 200, id, -32601, "Method not found");
}

bool sl_mcp_take_head(sl_conn *c)
{
    const sl_http1_request *req = &c->w->req;
    struct sl_mcp_req *r = calloc(1, sizeof(*r));
    if (!r)
        return false;
    c->mcp = r;
    const sl_http1_header *h = sl_http1_request_header(req, "mcp-session-id");
    if (h && h->value.len && h->value.len < SESSION_HEADER_MAX) {
        r->session = strndup(h->value.ptr, h->value.len);
        if (!r->session)
            return false;
    }
    for (size_t i = 0; i < req->nheaders; i++)
        if (sl_slice_ieq_cstr(req->headers[i].name, "accept") &&
            memmem(req->headers[i].value.ptr, req->headers[i].value.len, "text/event-stream", 17))
            r->accepts_sse = true;
    static const struct {
        const char *name;
        size_t off, cap;
    } modern[] = {{"mcp-protocol-version", offsetof(sl_mcp_modern_head, version), sizeof(r->modern.version)},
                  {"mcp-method", offsetof(sl_mcp_modern_head, method), sizeof(r->modern.method)},
                  {"mcp-name", offsetof(sl_mcp_modern_head, name), sizeof(r->modern.name)}};
    for (size_t k = 0; k < sizeof(modern) / sizeof(modern[0]); k++) {
        h = sl_http1_request_header(req, modern[k].name);
        if (h && h->value.len < modern[k].cap)
            memcpy((char *)&r->modern + modern[k].off, h->value.ptr, h->value.len); /* (calloc'd: NUL-terminated) */
    }
    return true;
}

void sl_mcp_serve(sl_conn *c, const sl_snap_backend *be)
{
    snprintf(c->log_upstream, sizeof(c->log_upstream), "mcp");
    bool modern_get = c->mcp->modern.version[0] && strcmp(c->mcp->modern.version, "2026-07-28") >= 0;
    bool listen = c->method == SL_HTTP1_METHOD_GET && c->mcp->accepts_sse && sl_conn_can_stream(c) && !modern_get;
    if ((c->method != SL_HTTP1_METHOD_POST && c->method != SL_HTTP1_METHOD_DELETE && !listen) ||
        (modern_get && c->method != SL_HTTP1_METHOD_POST)) { /* (2026-07-28 has neither GET streams nor DELETE) */
        sl_conn_respond_raw(c, 405, "Allow: GET, POST, DELETE\r\n", "", 0);
        return;
    }
    mcp_exchange *ex = calloc(1, sizeof(*ex) + be->mcp_targets.count * sizeof(mcp_slot));
    if (!ex) {
        sl_conn_respond(c, 503, "out of memory\n", true);
        return;
    }
    ex->c = c;
    ex->s = &c->snap->s;
    ex->be = be;
    ex->ntargets = be->mcp_targets.count;
    ex->key = c->w->args.control->mcp_session_key;
    c->mcp->ex = ex;
    c->policy_op = ex;
    c->policy_cancel = exchange_cancel;
    if (listen) {
        ex->step = STEP_LISTEN;
        if (open_session(ex) && !send_all(ex, NULL, "GET"))
            finish(ex);
    } else if (c->method == SL_HTTP1_METHOD_DELETE) {
        ex->step = STEP_DELETE;
        if (open_session(ex) && !send_all(ex, NULL, "DELETE"))
            finish(ex);
    } else {
        const sl_dbuf *b = &c->req_hold;
        ex->msg = json_loadb(b->data ? b->data + b->start : "", sl_dbuf_len(b), 0, NULL);
        if (json_is_array(ex->msg))
            answer_error(&ex->answer, 400, NULL, -32600, "Invalid Request: JSON-RPC batches are not supported");
        else if (!json_is_object(ex->msg))
            answer_error(&ex->answer, 400, NULL, -32700, "Parse error: the body is not a JSON-RPC message");
        else {
            ex->method = json_string_value(json_object_get(ex->msg, "method"));
            ex->modern = sl_mcp_modern_version(c->mcp->modern.version, ex->msg) != NULL;
            if (ex->modern)
                dispatch_modern(ex);
            else
                dispatch(ex);
        }
    }
    if (ex->pending == 0) {
        conclude(ex); /* answered without a target */
        return;
    }
    c->state = SL_CONN_POLICY;
    c->watch_eof = true; /* a client that leaves ends the calls made for it */
    c->deadline_ms = sl_now_ms() + (listen ? 1000ull * (be->mcp_session_s < 86400 ? be->mcp_session_s : 86400) : 6ull * call_timeout(c)) + 5000;
    sl_conn_update(c);
}

const sl_mcp_log *sl_mcp_request_log(const sl_conn *c) { return c->mcp ? &c->mcp->log : NULL; }

void sl_mcp_end(sl_conn *c)
{
    if (!c->mcp)
        return;
    if (c->mcp->ex) {
        if (c->policy_op == c->mcp->ex) {
            c->policy_op = NULL;
            c->policy_cancel = NULL;
        }
        exchange_free(c->mcp->ex);
    }
    free(c->mcp->session);
    free(c->mcp);
    c->mcp = NULL;
    c->watch_eof = false;
}

/* The A2A agent card through the gateway (workers/a2a.h). A client reads the
 * card, then calls the URL it names: the agent's own address, which the client
 * must not reach past the gateway. So a card request's answer is held whole
 * (cards are small: bounded by A2A_CARD_MAX) and its URLs rewritten to the
 * gateway's scheme and host (the client's Host) and to the path the client
 * uses: the route's prefix and URLRewrite are accounted for by comparing the
 * client's path of the card with the agent's (the request as sent upstream). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "workers/a2a.h"
#include "workers/conn.h"
#include "workers/mcp.h"
#include "workers/policy.h"

#define A2A_CARD_MAX (1u << 20)

static const char *const card_paths[] = {"/.well-known/agent-card.json", "/.well-known/agent.json"};

typedef struct a2a_card {
    bool card;               /* a card request (the fields below) */
    char method[64];         /* a JSON-RPC call's method, or "" */
    char origin[300];        /* "<scheme>://<host>" the client used */
    char client_base[1100];  /* the client's path of the card, without the well-known part */
    char upstream_base[1100]; /* ...and the agent's */
    sl_dbuf body;
} a2a_card;

/* The length of path without its well-known card suffix, or -1 when it has none. */
static long card_base(const char *path, size_t len)
{
    for (size_t i = 0; i < sizeof(card_paths) / sizeof(card_paths[0]); i++) {
        size_t n = strlen(card_paths[i]);
        if (len >= n && memcmp(path + len - n, card_paths[i], n) == 0)
            return (long)(len - n);
    }
    return -1;
}

bool sl_a2a_card_request(const sl_conn *c)
{
    const sl_http1_request *req = &c->w->req;
    return c->method == SL_HTTP1_METHOD_GET && card_base(req->path.ptr, req->path.len) >= 0;
}

void sl_a2a_request(sl_conn *c)
{
    const sl_http1_request *req = &c->w->req;
    long client = card_base(req->path.ptr, req->path.len);
    if (client < 0 || c->method != SL_HTTP1_METHOD_GET)
        return;
    /* The upstream head starts "GET <path>[?query] HTTP/1.1". */
    const char *h = c->uout.data + c->uout.start, *end = h + sl_buf_len(&c->uout);
    const char *p = memchr(h, ' ', (size_t)(end - h));
    const char *q = p ? p + 1 : NULL;
    while (q && q < end && *q != ' ' && *q != '?')
        q++;
    long upstream = p && q ? card_base(p + 1, (size_t)(q - p - 1)) : -1;
    if (upstream < 0 || (size_t)client >= sizeof(((a2a_card *)0)->client_base) ||
        (size_t)upstream >= sizeof(((a2a_card *)0)->upstream_base))
        return;
    a2a_card *st = calloc(1, sizeof(*st));
    if (!st)
        return;
    st->card = true;
    snprintf(st->origin, sizeof(st->origin), "%s://%.*s", c->secure ? "https" : "http",
             (int)(req->host.len < 256 ? req->host.len : 256), req->host.ptr);
    memcpy(st->client_base, req->path.ptr, (size_t)client);
    memcpy(st->upstream_base, p + 1, (size_t)upstream);
    c->res_hook_state = st;
}

/* "<scheme>://<authority>" of url: its length, or 0 when it is not an absolute http(s) URL. */
static size_t origin_len(const char *url)
{
    const char *s = strstr(url, "://");
    if (!s || (strncmp(url, "http", 4) != 0))
        return 0;
    const char *path = strpbrk(s + 3, "/?#");
    return path ? (size_t)(path - url) : strlen(url);
}

/* url for the client: the gateway's origin, the path mapped (malloc'd), or NULL. */
static char *mapped(const char *url, const char *origin, const char *client_base, const char *upstream_base)
{
    size_t o = origin_len(url);
    if (!o)
        return NULL;
    const char *path = url + o;
    size_t ub = strlen(upstream_base);
    /* Under the agent's base (at a segment boundary): the client's base instead. */
    if (strncmp(path, upstream_base, ub) == 0 && (path[ub] == '\0' || path[ub] == '/' || path[ub] == '?'))
        path += ub;
    else
        client_base = "";
    char *out = NULL;
    return asprintf(&out, "%s%s%s", origin, client_base, *path ? path : "/") < 0 ? NULL : out;
}

static void rewrite_field(json_t *obj, const char *key, const char *origin, const char *cb, const char *ub,
                          const char *agent, size_t agent_len)
{
    const char *url = json_string_value(json_object_get(obj, key));
    if (!url || (agent && (origin_len(url) != agent_len || strncmp(url, agent, agent_len) != 0)))
        return;
    char *m = mapped(url, origin, cb, ub);
    if (m)
        json_object_set_new(obj, key, json_string(m));
    free(m);
}

char *sl_a2a_rewrite_card(const char *in, size_t len, const char *origin, const char *client_base,
                          const char *upstream_base, size_t *out_len, bool *dropped)
{
    json_t *card = json_loadb(in, len, 0, NULL);
    if (!json_is_object(card)) {
        json_decref(card);
        return NULL;
    }
    /* The agent's own origin: that of its first interface (v1.0), or its url (v0.3). */
    json_t *ifaces = json_object_get(card, "supportedInterfaces");
    const char *first = json_string_value(json_object_get(json_array_get(ifaces, 0), "url"));
    if (!first)
        first = json_string_value(json_object_get(card, "url"));
    char agent[512] = "";
    size_t agent_len = first ? origin_len(first) : 0;
    if (agent_len && agent_len < sizeof(agent))
        memcpy(agent, first, agent_len);
    else
        agent_len = 0;
    size_t i;
    json_t *x;
    json_array_foreach(ifaces, i, x) rewrite_field(x, "url", origin, client_base, upstream_base, NULL, 0);
    rewrite_field(card, "url", origin, client_base, upstream_base, NULL, 0);
    json_array_foreach(json_object_get(card, "additionalInterfaces"), i, x)
        rewrite_field(x, "url", origin, client_base, upstream_base, NULL, 0);
    if (agent_len) {
        rewrite_field(card, "documentationUrl", origin, client_base, upstream_base, agent, agent_len);
        rewrite_field(card, "iconUrl", origin, client_base, upstream_base, agent, agent_len);
        rewrite_field(json_object_get(card, "provider"), "url", origin, client_base, upstream_base, agent, agent_len);
    }
    *dropped = json_array_size(json_object_get(card, "signatures")) > 0;
    json_object_del(card, "signatures");
    char *out = json_dumps(card, JSON_COMPACT);
    json_decref(card);
    *out_len = out ? strlen(out) : 0;
    return out;
}

static bool on_head(sl_conn *c)
{
    const a2a_card *st = c->res_hook_state;
    const sl_http1_header *ct = NULL;
    for (size_t i = 0; i < c->w->res.nheaders; i++)
        if (sl_slice_ieq_cstr(c->w->res.headers[i].name, "content-type"))
            ct = &c->w->res.headers[i];
    return st && st->card && c->status == 200 && ct && ct->value.len >= 16 &&
           memmem(ct->value.ptr, ct->value.len, "json", 4) != NULL;
}

static bool on_body(sl_conn *c, sl_slice data, bool last)
{
    a2a_card *st = c->res_hook_state;
    if (sl_dbuf_len(&st->body) + data.len > A2A_CARD_MAX) {
        sl_log_warn("a2a", "route %s: the agent card is larger than %u bytes: cut", c->log_route, A2A_CARD_MAX);
        return false;
    }
    if (data.len && !sl_dbuf_append(&st->body, data.ptr, data.len))
        return false;
    if (!last)
        return true;
    size_t len = 0;
    bool dropped = false;
    char *card = sl_a2a_rewrite_card(st->body.data ? st->body.data + st->body.start : "", sl_dbuf_len(&st->body),
                                     st->origin, st->client_base, st->upstream_base, &len, &dropped);
    if (!card) {
        /* Not a card we can read: passed on as it came. */
        sl_res_release_head(c, NULL, (int64_t)sl_dbuf_len(&st->body));
        return sl_res_emit_buffer(c, &st->body);
    }
    if (dropped)
        sl_log_info("a2a", "route %s: the agent card's signatures were dropped (its URLs are rewritten)", c->log_route);
    sl_res_release_head(c, NULL, (int64_t)len);
    bool ok = sl_res_emit(c, card, len);
    free(card);
    return ok;
}

/* A JSON-RPC error for the call doc (its id), malloc'd. */
static char *rpc_error(const json_t *doc, int code, const char *message)
{
    json_t *e = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
                          json_object_get(doc, "id") ? json_object_get(doc, "id") : json_null(), "error", "code", code,
                          "message", message);
    char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    return text;
}

int sl_a2a_request_body(sl_conn *c, const sl_dbuf *body, char **error_json)
{
    /* Read as agents read it (a NUL, \u0000, is JSON). */
    json_t *doc = json_loadb(body->data ? body->data + body->start : "", sl_dbuf_len(body), JSON_ALLOW_NUL, NULL);
    const char *method = json_string_value(json_object_get(doc, "method"));
    if (!method && (c->mcp_authz || c->mcp_rl)) {
        /* Under per-method rules a call must say its method where the gateway reads it: what it cannot check
         * does not pass. */
        *error_json = rpc_error(doc, -32600, "Invalid Request: a JSON-RPC call with a method is expected");
        json_decref(doc);
        return 400;
    }
    a2a_card *st = c->res_hook_state;
    if (method && !st && (st = calloc(1, sizeof(*st))))
        c->res_hook_state = st;
    if (method && st)
        snprintf(st->method, sizeof(st->method), "%s", method);
    int status = 0;
    char why[300];
    if (method && !sl_mcp_allowed(c, SL_MCP_A2A_METHOD, method)) {
        sl_log_info("a2a", "route %s: client %s (%s) may not call %s (mcpAuthorization)", c->log_route, c->peer,
                    c->client_id && c->client_id[0] ? c->client_id : "anonymous", method);
        snprintf(why, sizeof(why), "Forbidden: %.200s is not allowed for this client", method);
        *error_json = rpc_error(doc, -32000, why);
        status = 403;
    } else if (method) {
        uint64_t wait_ms = sl_mcp_rate_limit(c, method);
        if (wait_ms) {
            snprintf(why, sizeof(why), "Too many calls of %.200s: retry in %llu s (mcpRateLimit)", method,
                     (unsigned long long)((wait_ms + 999) / 1000));
            *error_json = rpc_error(doc, -32000, why);
            status = 429;
        }
    }
    json_decref(doc);
    return status;
}

/* An A2A call, counted with the MCP gateway's entries (protocol A2A). */
static void count(sl_conn *c, const a2a_card *st)
{
    if (!c->snap)
        return;
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, c->backend_index);
    sl_mcp_log l = {.protocol = SL_AGENT_A2A, .outcome = c->status > 0 && c->status < 400 ? SL_MCP_OK : SL_MCP_FAILED};
    snprintf(l.backend, sizeof(l.backend), "%s/%s", sl_snap_cstr(s, be->ns), sl_snap_cstr(s, be->name));
    /* The methods of A2A 1.0 and 0.3 by name; anything else is "other" (clients cannot multiply labels). */
    static const char *const known[] = {"SendMessage", "SendStreamingMessage", "GetTask", "ListTasks", "CancelTask",
                                        "SubscribeToTask", "CreateTaskPushNotificationConfig",
                                        "GetTaskPushNotificationConfig", "ListTaskPushNotificationConfigs",
                                        "DeleteTaskPushNotificationConfig", "GetExtendedAgentCard", "message/send",
                                        "message/stream", "tasks/get", "tasks/cancel", "tasks/resubscribe",
                                        "tasks/pushNotificationConfig/set", "tasks/pushNotificationConfig/get",
                                        "tasks/pushNotificationConfig/list", "tasks/pushNotificationConfig/delete",
                                        "agent/getAuthenticatedExtendedCard"};
    const char *method = "other";
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
        if (strcmp(st->method, known[k]) == 0)
            method = known[k];
    snprintf(l.method, sizeof(l.method), "%.*s", (int)sizeof(l.method) - 1, method);
    sl_mcp_count(c, &l);
}

static void release(sl_conn *c)
{
    a2a_card *st = c->res_hook_state;
    if (!st)
        return;
    if (st->method[0] && c->status)
        count(c, st);
    sl_dbuf_free(&st->body);
    free(st);
    c->res_hook_state = NULL;
}

/* The access log's a2a_method field of a JSON-RPC call. */
static size_t log_fields(const sl_conn *c, char *out, size_t cap)
{
    const a2a_card *st = c->res_hook_state;
    if (!st || !st->method[0])
        return 0;
    json_t *m = json_string(st->method);
    char *v = m ? json_dumps(m, JSON_ENCODE_ANY) : NULL;
    json_decref(m);
    int n = v ? snprintf(out, cap, ",\"a2a_method\":%s", v) : 0;
    free(v);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

const sl_response_hook sl_a2a_response_hook = {
    .name = "a2a",
    .on_head = on_head,
    .on_body = on_body,
    .release = release,
    .log_fields = log_fields,
};

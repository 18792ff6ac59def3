/* The prompt guard's webhook (aiPromptGuard.request.webhook; workers/ai.h):
 * before a request's body goes to a model, an HTTP service of the operator's
 * decides whether it may (allow), may not (deny, with a reason), or may as it
 * rewrote it (rewrite). The request waits for the answer in the body's
 * collection (proxy_collect.c): the call is made with the worker's HTTP
 * client (http_client.h), so the loop never blocks, and a client that leaves
 * cancels it.
 *
 *   POST <url>  Content-Type: application/json
 *   {"phase": "request", "policy": "ns/name", "route": "ns/name",
 *    "client": {"address": "...", "id": "..."}, "body": {...the request body...}}
 *
 *   200 {"action": "allow"}                     (or 204)
 *   200 {"action": "deny", "reason": "...", "status": 403}   (status 400..499, default 403)
 *   200 {"action": "rewrite", "body": {...}}    (a JSON object: the body from now on)
 *
 * Anything else (another status, a malformed answer, no answer within the
 * timeout) is a failure: 503 to the client, or, with failureMode Allow, the
 * request goes on as it came. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ai_translate.h"
#include "common/log.h"
#include "common/settings.h"
#include "workers/ai.h"
#include "workers/conn.h"
#include "workers/http_client.h"

enum { VERDICT_NONE, VERDICT_ALLOW, VERDICT_DENY, VERDICT_REWRITE, VERDICT_FAILED };

struct sl_guard_wait {
    sl_http_call *call; /* in flight, or NULL once answered */
    int verdict;
    int status;         /* deny's */
    char *reason;       /* deny's, or why it failed (malloc'd) */
    char *body;         /* rewrite's (malloc'd) */
    size_t body_len;
    uint64_t started_ms;
};

static const sl_snap_policy *webhook_policy(const sl_conn *c)
{
    const sl_snap_policy *p = c->guard_policy;
    return p && p->b.len ? p : NULL;
}

static void set_failed(struct sl_guard_wait *g, const char *why)
{
    g->verdict = VERDICT_FAILED;
    free(g->reason);
    g->reason = strdup(why);
}

/* Reads the service's answer into g. */
static void read_answer(struct sl_guard_wait *g, const sl_http_reply *reply)
{
    char why[SL_HTTP_ERROR_SIZE + 64];
    if (reply->status == 204) {
        g->verdict = VERDICT_ALLOW;
        return;
    }
    if (reply->status != 200) {
        if (reply->status)
            snprintf(why, sizeof(why), "the webhook answered %ld", reply->status);
        else
            snprintf(why, sizeof(why), "the webhook failed: %s", reply->error);
        set_failed(g, why);
        return;
    }
    json_t *root = json_loadb(reply->body ? reply->body : "", reply->body_len, 0, NULL);
    const char *action = json_string_value(json_object_get(root, "action"));
    const json_t *status = json_object_get(root, "status");
    const json_t *body = json_object_get(root, "body");
    if (action && strcmp(action, "allow") == 0) {
        g->verdict = VERDICT_ALLOW;
    } else if (action && strcmp(action, "deny") == 0) {
        g->verdict = VERDICT_DENY;
        json_int_t st = json_is_integer(status) ? json_integer_value(status) : 403;
        g->status = st >= 400 && st <= 499 ? (int)st : 403;
        const char *reason = json_string_value(json_object_get(root, "reason"));
        g->reason = strdup(reason ? reason : "the prompt guard's webhook refused this request");
    } else if (action && strcmp(action, "rewrite") == 0 && json_is_object(body)) {
        g->body = json_dumps(body, JSON_COMPACT);
        g->body_len = g->body ? strlen(g->body) : 0;
        g->verdict = g->body ? VERDICT_REWRITE : VERDICT_FAILED;
    } else {
        set_failed(g, "the webhook's answer is not {\"action\": \"allow\"|\"deny\"|\"rewrite\", ...}");
    }
    json_decref(root);
}

static void answered(const sl_http_reply *reply, void *arg)
{
    sl_conn *c = arg;
    struct sl_guard_wait *g = c->guard_wait;
    g->call = NULL;
    read_answer(g, reply);
    sl_proxy_collect_resume(c);
}

/* The call's body: what the service is asked about (malloc'd), or NULL. */
/* The call's body for the request body b (consumed): what the service is
 * asked about (malloc'd), or NULL. */
static char *question(const sl_conn *c, const sl_snap_policy *p, json_t *b)
{
    const sl_snapshot *s = &c->snap->s;
    json_t *q = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:o}", "phase", "request", "policy", sl_snap_cstr(s, p->source),
                          "route", c->log_route, "client", "address", c->peer, "id", c->client_id, "body", b);
    char *text = q ? json_dumps(q, JSON_COMPACT) : NULL;
    json_decref(q);
    return text;
}

int sl_ai_guard_webhook(sl_conn *c, sl_dbuf *body, char **error)
{
    const sl_snap_policy *p = webhook_policy(c);
    if (!p)
        return 0;
    struct sl_guard_wait *g = c->guard_wait;
    if (g && g->call)
        return -1; /* still waiting */
    if (!g) {
        /* Read as the body's own reading reads it (a NUL, \u0000, is JSON):
         * what it lets through, the webhook sees. */
        json_t *parsed = json_loadb(body->data + body->start, sl_dbuf_len(body),
                                    JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(parsed)) {
            json_decref(parsed);
            return 0; /* not a JSON object: the body's own reading refuses it (400) */
        }
        char *text = question(c, p, parsed);
        if (!text) {
            *error = sl_ai_error_text("the prompt guard's webhook cannot be asked about this body", "api_error",
                                "guard_unavailable");
            return 503; /* (fails closed whatever failureMode says: the question could not even be put) */
        }
        g = calloc(1, sizeof(*g));
        static const char *const headers[] = {"Content-Type: application/json", "Accept: application/json"};
        if (g)
            g->call = sl_http_call_post(c->w->loop, "POST", sl_snap_cstr(&c->snap->s, p->b), headers, 2, text,
                                        strlen(text), (size_t)sl_setting(SL_SET_AI_MAX_REQUEST_BYTES),
                                        (uint32_t)p->num[1], answered, c);
        free(text);
        if (!g || !g->call) {
            free(g);
            *error = sl_ai_error_text("the prompt guard's webhook cannot be called (out of memory)", "api_error",
                                "guard_unavailable");
            return 503;
        }
        g->started_ms = sl_now_ms();
        c->guard_wait = g;
        return -1;
    }
    /* Answered: the verdict is applied once. */
    int verdict = g->verdict;
    g->verdict = VERDICT_NONE;
    switch (verdict) {
    case VERDICT_DENY:
        sl_log_debug("policy", "client %s: the aiPromptGuard webhook of %s denied the request: %s", c->peer,
                     sl_snap_cstr(&c->snap->s, p->source), g->reason);
        *error = sl_ai_error_text(g->reason, "invalid_request_error", "content_blocked");
        return g->status;
    case VERDICT_REWRITE:
        sl_dbuf_free(body);
        if (!sl_dbuf_append(body, g->body, g->body_len))
            return 503;
        return 0;
    case VERDICT_FAILED:
        sl_log_warn("policy", "aiPromptGuard %s: %s (failureMode %s)", sl_snap_cstr(&c->snap->s, p->source),
                    g->reason ? g->reason : "failed", p->u[1] ? "Allow: the request goes on" : "Deny: 503");
        if (p->u[1])
            return 0;
        *error = sl_ai_error_text("the prompt guard's webhook did not answer; the request is not sent", "api_error",
                            "guard_unavailable");
        return 503;
    default:
        return 0;
    }
}

uint64_t sl_ai_guard_webhook_deadline(const sl_conn *c)
{
    const sl_snap_policy *p = webhook_policy(c);
    uint64_t started = c->guard_wait ? c->guard_wait->started_ms : sl_now_ms();
    return started + (p ? p->num[1] : 2000) + 2000;
}

void sl_ai_guard_webhook_expire(sl_conn *c)
{
    struct sl_guard_wait *g = c->guard_wait;
    if (!g || !g->call)
        return;
    sl_http_call_cancel(g->call);
    g->call = NULL;
    set_failed(g, "the webhook did not answer in time");
    sl_proxy_collect_resume(c); /* failureMode decides */
}

bool sl_ai_guard_webhook_waiting(const sl_conn *c)
{
    return c->guard_wait && c->guard_wait->call;
}

void sl_ai_guard_webhook_end(sl_conn *c)
{
    struct sl_guard_wait *g = c->guard_wait;
    if (!g)
        return;
    if (g->call)
        sl_http_call_cancel(g->call); /* the client left, or the request is over */
    free(g->reason);
    free(g->body);
    free(g);
    c->guard_wait = NULL;
}

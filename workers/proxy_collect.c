/* Collecting a request body whole before it goes upstream, for routes whose
 * bodies the gateway rewrites (AI backends: model override, usage in streams;
 * workers/ai_request_body.c). The body is taken out of the input buffer as it
 * arrives, de-chunked (HTTP/1 chunked and HTTP/2 DATA alike), into req_hold: the
 * client's buffer empties, so an HTTP/2 stream's window reopens and an HTTP/1
 * client is never stalled by a full buffer. Once complete it is rewritten into
 * req_out, which is what goes upstream (and again on a retry), with a
 * Content-Length; the upstream head, built without framing, is finished then.
 * Bounded by --ai-max-request-bytes (413 beyond). Request body policies
 * (bodyLimit) see the client's bytes as they arrive, as on any route. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/settings.h"
#include "workers/a2a.h"
#include "workers/ai.h"
#include "workers/conn.h"
#include "workers/policy.h"
#include "workers/proxy_buffer.h"

bool sl_collect_begin(sl_conn *c)
{
    const sl_body *rb = &c->req_body;
    if (rb->kind != SL_BODY_LENGTH && rb->kind != SL_BODY_CHUNKED)
        return false;
    c->req_hold = (sl_dbuf){0};
    c->req_out = (sl_dbuf){0};
    c->buffering = true;
    return true;
}

static int take(sl_conn *c, const char *data, size_t n, bool last)
{
    if (sl_dbuf_len(&c->req_hold) + n > (uint64_t)sl_setting(SL_SET_AI_MAX_REQUEST_BYTES))
        return 413;
    /* Every body this worker holds counts against one budget. */
    if (c->w->collected_bytes + n > (uint64_t)sl_setting(SL_SET_AI_BUFFER_BYTES)) {
        sl_log_warn("proxy", "client %s: AI request bodies held by this worker reach --ai-buffer-bytes: 503", c->peer);
        return 503;
    }
    c->w->collected_bytes += n;
    c->collected += n;
    if (c->body_hooks) {
        int refusal = sl_policy_run_body(c, sl_slice_make(data, n), last);
        if (refusal) {
            c->body_refusal = refusal;
            return refusal;
        }
    }
    return sl_dbuf_append(&c->req_hold, data, n) ? 0 : 503;
}

/* The upstream head (built without framing) gets the length of req_out, which
 * is what goes upstream from now on. */
static int finish_head(sl_conn *c)
{
    size_t len = sl_dbuf_len(&c->req_out);
    sl_buf *h = &c->uout;
    /* The head ends with its blank line: the length goes before it. */
    if (sl_buf_len(h) < 2 || memcmp(h->data + h->end - 2, "\r\n", 2) != 0)
        return 500;
    h->end -= 2;
    if (!sl_ai_finish_head(c, h))
        return 431;
    if (!sl_buf_append(h, "Content-Length: ", 16) || !sl_buf_put_uint(h, len) || !sl_buf_append(h, "\r\n\r\n", 4))
        return 431;
    c->collecting = false;
    c->buffering = false;
    c->req_from_out = true;
    c->body_hooks = false; /* they saw the client's bytes */
    c->req_body.kind = SL_BODY_LENGTH;
    c->req_body.remaining = len;
    c->req_body.done = len == 0;
    return 1;
}

/* A request that may fail over to another provider keeps the client's body
 * (rewriting consumes it). false: out of memory. */
static bool keep_client_body(sl_conn *c)
{
    sl_dbuf_free(&c->req_client);
    if (!c->ai_failover)
        return true;
    return sl_dbuf_append(&c->req_client, c->req_hold.data + c->req_hold.start, sl_dbuf_len(&c->req_hold)) ||
           sl_dbuf_len(&c->req_hold) == 0;
}

/* The whole body in req_hold rewritten into req_out for the AI backend (the
 * client's kept first when it may fail over). 0, or the status instead. */
static int rewrite_held(sl_conn *c, char **error_json)
{
    if (!sl_ai_backend(c)) {
        /* An A2A call: read for its method (workers/a2a_card.c), sent as it came. */
        int refused = sl_a2a_request_body(c, &c->req_hold, error_json);
        if (refused)
            return refused;
        c->req_out = c->req_hold;
        c->req_hold = (sl_dbuf){0};
        return 0;
    }
    /* The prompt guard's webhook first: it may rewrite the client's body (-1: its answer is awaited). */
    int asked = sl_ai_guard_webhook(c, &c->req_hold, error_json);
    if (asked)
        return asked;
    if (!keep_client_body(c))
        return 503;
    int status = sl_ai_request_body(c, &c->req_hold, &c->req_out, error_json);
    if (!status)
        sl_dbuf_free(&c->req_hold);
    return status;
}

int sl_collect_again(sl_conn *c, char **error_json)
{
    sl_dbuf in = {0};
    if (!sl_dbuf_append(&in, c->req_client.data + c->req_client.start, sl_dbuf_len(&c->req_client)) &&
        sl_dbuf_len(&c->req_client))
        return 503;
    sl_dbuf_free(&c->req_out);
    int status = sl_ai_request_body(c, &in, &c->req_out, error_json);
    sl_dbuf_free(&in);
    return status ? status : finish_head(c);
}

/* The body is whole: rewritten into req_out, and the upstream head finished
 * with its length. Before routing (by model), it only waits in req_hold. */
static int complete(sl_conn *c, char **error_json)
{
    if (c->route_pending || c->mcp) {
        /* Routing waits for it, or the MCP gateway reads it as it came. */
        c->collecting = c->buffering = false;
        return 1;
    }
    int status = rewrite_held(c, error_json);
    return status ? status : finish_head(c);
}

int sl_collect_step(sl_conn *c, char **error_json)
{
    sl_body *rb = &c->req_body;
    int status = 0;
    if (c->guard_wait) {
        /* The body came whole already and waits for the guard's webhook. */
        if (sl_ai_guard_webhook_waiting(c))
            return -1;
        status = rewrite_held(c, error_json);
        return status ? status : finish_head(c);
    }
    if (rb->kind == SL_BODY_LENGTH) {
        size_t avail = sl_buf_len(&c->in);
        size_t n = avail < rb->remaining ? avail : (size_t)rb->remaining;
        if (n) {
            status = take(c, c->in.data + c->in.start, n, n == rb->remaining);
            c->in.start += n;
            rb->remaining -= n;
        }
        if (!status && rb->remaining == 0)
            status = complete(c, error_json);
    } else {
        while (!status) {
            size_t consumed = 0;
            sl_slice data = {0};
            int rc = sl_http1_chunked_parse(&rb->chunked, c->in.data + c->in.start, sl_buf_len(&c->in), &consumed,
                                            &data);
            c->in.start += consumed;
            if (rc == SL_ERR)
                return 400;
            if (data.len || rc == SL_OK)
                status = take(c, data.ptr, data.len, rc == SL_OK);
            if (!status && rc == SL_OK)
                status = complete(c, error_json);
            if (rc == SL_OK || consumed == 0)
                break;
        }
    }
    if (sl_buf_len(&c->in) == 0)
        c->in.start = c->in.end = 0;
    return status;
}

int sl_collect_before_route(sl_conn *c)
{
    if (c->req_body.kind == SL_BODY_LENGTH &&
        c->req_body.remaining > (uint64_t)sl_setting(SL_SET_AI_MAX_REQUEST_BYTES))
        return 413; /* refused from its length alone, before a 100 Continue invites it */
    if (!sl_collect_begin(c))
        return 500;
    if (sl_cbuf_get(c->w, &c->out) != 0)
        return 503;
    /* Nothing of an earlier request on this connection may count for this one. */
    c->route = NULL;
    c->body_hooks = false;
    c->tunnel = c->retry_pending = false;
    sl_proxy_reset_response(c);
    c->collecting = true;
    c->route_pending = true;
    if (c->expect_continue) {
        sl_buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        c->expect_continue = false;
    }
    c->last_client_ms = sl_now_ms();
    c->state = SL_CONN_PROXY;
    c->deadline_ms = sl_proxy_body_deadline(c);
    sl_proxy_client_event(c); /* what already arrived */
    return 0;
}

int sl_collect_held(sl_conn *c, bool rewrite, char **error_json)
{
    if (c->body_hooks) {
        /* The route's body policies see it now, whole (it came before the route was known). */
        int refusal = sl_policy_run_body(c, sl_slice_make(c->req_hold.data + c->req_hold.start,
                                                          sl_dbuf_len(&c->req_hold)), true);
        if (refusal) {
            c->body_refusal = refusal;
            return refusal;
        }
    }
    c->body_held = false;
    if (rewrite) {
        int status = rewrite_held(c, error_json);
        if (status)
            return status;
    } else {
        c->req_out = c->req_hold; /* goes as it came */
        c->req_hold = (sl_dbuf){0};
    }
    return finish_head(c);
}

void sl_collect_end(sl_conn *c)
{
    c->w->collected_bytes -= c->collected;
    c->collected = 0;
    sl_dbuf_free(&c->req_hold);
    sl_dbuf_free(&c->req_out);
    sl_dbuf_free(&c->req_client);
    c->ai_failover = false;
    sl_ai_guard_webhook_end(c);
    c->collecting = c->req_from_out = c->route_pending = c->body_held = false;
    c->ai_flags = 0;
    free(c->ai_path);
    free(c->ai_model);
    c->ai_path = c->ai_model = NULL;
}

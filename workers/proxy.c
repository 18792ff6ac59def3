/* The upstream side of a request: choosing a backend and an endpoint, writing
 * the rewritten request head and streaming the request body, then reading the
 * response head, rewriting it and streaming the body back through bounded
 * buffers. Whichever side is slower sets the pace: a buffer that is full stops
 * reading from the other side (back-pressure), so memory per request is fixed. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/settings.h"
#include "workers/conn.h"
#include "workers/a2a.h"
#include "workers/mcp.h"
#include "workers/proxy_buffer.h"
#include "workers/sys_io.h"
#include "workers/filters.h"
#include "workers/ai.h"
#include "workers/policy.h"
#include "workers/response_hook.h"
#include "workers/h2_upstream.h"
#include "workers/traffic_series.h"
#include "workers/tls.h"
#include "workers/upstream_tls.h"

static void pump(sl_conn *c);
static void begin_upstream(sl_conn *c);
static size_t request_body_ready(sl_conn *c, bool *error);
static void wait_for_policy(sl_conn *c);
static void after_policies(sl_conn *c);
static void buffering_event(sl_conn *c);
static void collect_failed(sl_conn *c, int status, char *error_json);
static bool reparse_head(sl_conn *c);
static bool rewind_body(sl_conn *c);
static bool try_failover(sl_conn *c, int code);
static bool next_endpoint(sl_conn *c);

/* A waiting policy's own timeout ends the wait; this only bounds it if that failed. */
#define POLICY_WAIT_LIMIT_MS 120000

/* Reads of a full `uin` per event at most (4 x 72 KiB). */
#define SL_PUMP_PASSES 4
/* The first read of a response when its body may be spliced. */
#define SL_HEAD_READ 4096

/* Picks a backendRef by weight (an unresolved one, whose share answers 500, has
 * backend == SL_SNAP_NONE). */
static const sl_snap_backend_ref *pick_backend(const sl_snapshot *s, const sl_snap_action *a)
{
    uint32_t r = sl_lb_random() % a->total_weight;
    for (uint32_t i = 0; i < a->backend_refs.count; i++) {
        const sl_snap_backend_ref *br = SL_SNAP_GET(s, SL_SNAP_BACKEND_REFS, sl_snap_backend_ref,
                                                    a->backend_refs.first + i);
        if (r < br->weight)
            return br;
        r -= br->weight;
    }
    return NULL;
}

void sl_endpoint_sockaddr(const sl_snap_endpoint *e, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (e->family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(e->port);
        memcpy(&a6->sin6_addr, e->addr, 16);
        *len = sizeof(*a6);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons(e->port);
        memcpy(&a4->sin_addr, e->addr, 4);
        *len = sizeof(*a4);
    }
}

/* "host:port" ("[v6]:port") of an endpoint, for logs, without printf (once per request). */
static void upstream_text(char *out, size_t outlen, const sl_snapshot *s, const sl_snap_endpoint *ep)
{
    sl_buf b = {out, outlen - 1, 0, 0};
    bool v6 = ep->family == AF_INET6;
    if (v6)
        sl_buf_append(&b, "[", 1);
    sl_buf_append(&b, sl_snap_cstr(s, ep->host), ep->host.len);
    sl_buf_append(&b, v6 ? "]:" : ":", v6 ? 2 : 1);
    sl_buf_put_uint(&b, ep->port);
    out[b.end] = '\0';
}

/* The deadline for the upstream's next sign of life while the response head is
 * awaited: the response (idle) timeout from now, and never past the try's
 * backendRequest deadline, however long the request body takes to send. */
static uint64_t response_deadline(const sl_conn *c)
{
    uint64_t t = sl_now_ms() + sl_conn_idle_ms(c);
    return c->try_deadline_ms && !c->res_head_done && c->try_deadline_ms < t ? c->try_deadline_ms : t;
}

/* When the chosen backend's new connection must be made by: its BackendPolicy's
 * connectTimeout, else --connect-timeout. */
static uint64_t connect_deadline(const sl_conn *c)
{
    const sl_snap_balancer *cfg =
        sl_lb_settings(&c->snap->s, SL_SNAP_GET(&c->snap->s, SL_SNAP_BACKENDS, sl_snap_backend, c->backend_index));
    return sl_now_ms() + (cfg->connect_timeout_ms ? cfg->connect_timeout_ms
                                                  : (uint64_t)sl_setting(SL_SET_CONNECT_TIMEOUT_MS));
}

/* A connection (pooled or new) to the chosen endpoint, with TLS when the backend
 * asks for it, or an HTTP/2 stream for an h2c backend. NULL with errno set;
 * EPROTO when TLS could not even be set up, EBUSY when the backend's
 * maxConnections is reached and no pooled connection is free. */
static sl_upstream *open_upstream(sl_conn *c, bool check_idle)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, c->backend_index);
    if (c->l4) {
        /* A connection passed through: a fresh TCP connection of its own, never
         * pooled (no pooled connection has this identity) and never TLS here. */
        sl_upstream_limit limit = {.slot = be->state, .max = sl_lb_settings(s, be)->max_connections};
        return sl_upstream_get(c->w, &c->up_addr, c->up_addrlen, false, UINT64_MAX, &limit);
    }
    if (be->protocol == SL_BACKEND_H2C)
        return sl_h2up_open(c->w, &c->up_addr, c->up_addrlen);
    sl_upstream_limit limit = {.slot = be->state, .max = sl_lb_settings(s, be)->max_connections};
    sl_upstream *u = sl_upstream_get(c->w, &c->up_addr, c->up_addrlen, check_idle, sl_uptls_identity(s, be), &limit);
    if (u && be->protocol == SL_BACKEND_HTTPS && !u->ssl) {
        const sl_snap_endpoint *ep = SL_SNAP_GET(s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, c->endpoint_index);
        u->ssl = sl_uptls_session(c->snap->uptls ? c->snap->uptls[c->backend_index] : NULL, s, be, u->fd,
                                  sl_snap_cstr(s, ep->host));
        if (!u->ssl) {
            sl_upstream_release(c->w, u, false);
            errno = EPROTO;
            return NULL;
        }
    }
    return u;
}

/* Out of descriptors, ports or memory here: says nothing about the endpoint. */
static bool local_error(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM || err == EADDRNOTAVAIL;
}

/* Over a circuit breaker's limit: the request fails fast, saying which. */
static void circuit_open(sl_conn *c, int limit)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, c->backend_index);
    char header[96], body[200];
    snprintf(header, sizeof(header), "x-sluice-circuit-breaker: %s\r\n", sl_lb_limit_name(limit));
    snprintf(body, sizeof(body), "the circuit breaker of %s %s/%s is open (%s)\n", sl_snap_cstr(s, be->kind),
             sl_snap_cstr(s, be->ns), sl_snap_cstr(s, be->name), sl_lb_limit_name(limit));
    atomic_fetch_add(&c->w->slot->circuit_breaker_rejections, 1);
    c->state = SL_CONN_LOCAL;
    sl_conn_respond_with(c, 503, header, body, false);
}

/* Picks an endpoint of the chosen backend and connects (or takes a pooled
 * connection). An endpoint that cannot be connected to is noted (passive
 * check) and the next untried one is taken, as nginx's proxy_next_upstream
 * error does: nothing of the request was sent. Returns false when the request
 * was answered. `retry`: the attempt retries a failed one, admitted (and
 * charged to the retry budget) by try_retry. */
static bool start_attempt(sl_conn *c, uint32_t bi, bool retry)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, bi);
    c->backend_index = bi;
    int refused = retry ? 0 : sl_lb_admit(c, bi, false);
    if (refused) {
        circuit_open(c, refused - 1);
        return false;
    }
    for (;;) {
        uint32_t ei = sl_lb_pick(c, bi);
        const sl_snap_endpoint *ep = SL_SNAP_GET(s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, ei);
        sl_endpoint_sockaddr(ep, &c->up_addr, &c->up_addrlen);
        upstream_text(c->log_upstream, sizeof(c->log_upstream), s, ep);
        c->uout.start = 0; /* the head is kept whole for a retry */
        c->uin.start = c->uin.end = 0;
        c->res_ready = 0;
        c->res_head_done = false;
        c->res_body_end_seen = false;
        memset(&c->res_body, 0, sizeof(c->res_body));
        memset(&c->rscan, 0, sizeof(c->rscan));
        c->up_eof = false;
        c->up_wrote = false;
        c->up_refused = false;
        c->retried = false;
        c->endpoint_index = ei;
        c->try_deadline_ms = c->action && c->action->backend_request_timeout_ms
                                 ? sl_now_ms() + c->action->backend_request_timeout_ms
                                 : 0;
        sl_lb_attempt_begin(c, bi, ei);
        sl_traffic_attempt(c, retry);
        /* A pooled connection the upstream already closed is found by a peek
         * before use when the request could not be sent again on a fresh one. */
        c->up = open_upstream(c, c->replay_len < 0 || !sl_http1_method_idempotent(c->method));
        if (!c->up && errno == EPROTO) {
            sl_lb_attempt_end(c);
            sl_log_warn("proxy", "cannot start TLS to %s", c->log_upstream);
            c->state = SL_CONN_LOCAL;
            sl_conn_respond(c, 502, "cannot start TLS to the upstream\n", true);
            return false;
        }
        if (!c->up && errno == EBUSY) {
            sl_lb_attempt_end(c);
            sl_ep_state *st = sl_ep_slot(be->state);
            if (st)
                atomic_fetch_add_explicit(&st->overflows[SL_CB_MAX_CONNECTIONS], 1, memory_order_relaxed);
            circuit_open(c, SL_CB_MAX_CONNECTIONS);
            return false;
        }
        if (!c->up) {
            int err = errno;
            sl_traffic_connect_error(c);
            sl_log_warn("proxy", "cannot connect to %s: %s", c->log_upstream, strerror(err));
            bool local = local_error(err);
            if (!local)
                sl_lb_judge(c, SL_LB_CONNECT_FAILED);
            sl_lb_attempt_end(c);
            if (!local && sl_lb_untried_left(c, bi))
                continue;
            if (try_failover(c, 502))
                return false; /* the next provider of the chain has it (started, or answered) */
            c->state = SL_CONN_LOCAL;
            sl_conn_respond(c, 502, "cannot connect to the upstream\n", true);
            return false;
        }
        c->up->owner = c;
        c->state = SL_CONN_PROXY;
        if (c->l4) {
            /* No response head to wait for: bytes both ways from the start. */
            c->res_head_done = true;
            c->res_body.kind = SL_BODY_TUNNEL;
            c->tunnel = true;
            c->tunnel_activity_ms = sl_now_ms();
        }
        if (c->up->connected)
            sl_lb_attempt_connected(c);
        c->up_deadline_ms = c->up->connected ? response_deadline(c) : connect_deadline(c);
        return true;
    }
}

/* The attempt's connection failed where sending the request again is safe
 * (the caller knows: nothing of it was written, or it is idempotent and whole
 * at hand): the next untried endpoint of the backend gets it. False when none
 * is left. */
static bool next_endpoint(sl_conn *c)
{
    if (!sl_lb_untried_left(c, c->backend_index) || !rewind_body(c))
        return false;
    sl_proxy_detach(c, false);
    sl_log_debug("proxy", "%s %s: trying another endpoint after %s failed", c->log_method, c->log_path,
                 c->log_upstream);
    if (start_attempt(c, c->backend_index, false))
        pump(c);
    return true;
}

void sl_proxy_start_connection(sl_conn *c, const sl_snap_route *route)
{
    sl_worker *w = c->w;
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_action *a = SL_SNAP_GET(s, SL_SNAP_ACTIONS, sl_snap_action, route->action);
    c->route = route;
    c->action = a;
    c->rule_filters = c->backend_filters = (sl_snap_range){0, 0};
    c->policy_req_headers = c->policy_res_headers = (sl_snap_range){0, 0};
    c->retries_left = 0;
    c->keep_alive = false;
    c->close_after = true;
    memset(&c->req_body, 0, sizeof(c->req_body));
    c->req_body.kind = SL_BODY_TUNNEL;
    c->replay_start = c->in.start;
    c->replay_len = (int64_t)sl_buf_len(&c->in); /* what came so far (a ClientHello) goes to the next endpoint too */
    const sl_snap_backend_ref *bref = a->total_weight ? pick_backend(s, a) : NULL;
    if (!bref || bref->backend == SL_SNAP_NONE ||
        SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, bref->backend)->endpoints.count == 0 ||
        sl_cbuf_get(w, &c->out) != 0 || sl_bodybuf_get(w, &c->uin) != 0) { /* (no request head: no uout) */
        sl_log_warn("proxy", "client %s: %s route %s has no usable backend; closing", c->peer, c->log_method,
                    c->log_route);
        c->status = 503;
        sl_conn_close(c);
        return;
    }
    c->state = SL_CONN_PROXY;
    sl_lb_request_begin(c, bref->backend);
    if (start_attempt(c, bref->backend, false)) /* (when it fails, the connection is closed: see respond) */
        pump(c);
}

void sl_proxy_reset_response(sl_conn *c)
{
    /* The previous response on this connection is over: nothing of it may make
     * this request look complete while its body is still being read. */
    c->res_head_done = false;
    c->res_ready = 0;
    c->res_body_end_seen = false;
    memset(&c->res_body, 0, sizeof(c->res_body));
    c->up_wrote = false; /* (nothing of this request has gone upstream yet: budgets charge by it) */
}

void sl_proxy_start(sl_conn *c, const sl_snap_route *route)
{
    sl_worker *w = c->w;
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_action *a = SL_SNAP_GET(s, SL_SNAP_ACTIONS, sl_snap_action, route->action);
    c->route = route;
    c->action = a;
    c->request_timeout_ms = a->request_timeout_ms;
    c->rule_filters = a->filters;
    c->backend_filters = (sl_snap_range){0, 0};
    c->policy_req_headers = c->policy_res_headers = (sl_snap_range){0, 0};
    c->policy_cors = NULL;
    c->guard_policy = NULL;
    c->retries_left = a->retry_attempts;
    c->retry_codes = a->retry_codes;
    c->retry_backoff_ms = a->retry_backoff_ms;
    c->idle_timeout_ms = 0;
    c->body_hooks = false;
    c->body_seen = 0;
    c->body_refusal = 0;
    c->body_length = c->req_body.kind == SL_BODY_LENGTH ? c->req_body.remaining : 0;
    c->retry_pending = false;
    sl_proxy_reset_response(c);
    c->upgrade_requested = w->req.upgrade;
    c->tunnel = false;
    if (sl_cbuf_get(w, &c->out) != 0) {
        sl_conn_respond(c, 503, "out of memory\n", true);
        return;
    }
    /* A preflight of the route's own CORS filter is answered before the
     * policies: browsers send it without credentials. */
    if (sl_cors_preflight(c, sl_filter_find(s, a->filters, SL_FILTER_CORS)))
        return;
    sl_policy_result r = sl_policy_run_request(c, s, route);
    if (r == SL_POLICY_WAIT)
        wait_for_policy(c);
    else if (r == SL_POLICY_NEXT)
        after_policies(c);
}

/* Copies the request head (w->req, which dispatch consumed from c->in) for a
 * later reparse_head, unless a copy is kept already. false: out of memory. */
static bool hold_head(sl_conn *c)
{
    if (c->held_head)
        return true;
    const sl_http1_request *req = &c->w->req;
    c->held_from = c->in.data + c->in.start - req->head_len; /* dispatch consumed the head */
    c->held_head = malloc(req->head_len ? req->head_len : 1);
    if (!c->held_head)
        return false;
    memcpy(c->held_head, c->held_from, req->head_len);
    c->held_len = req->head_len;
    return true;
}

/* Holds the request while a policy waits for a service: its head is copied (the
 * worker's parsed head, w->req, serves other connections meanwhile) and nothing
 * is read from the client. */
static void wait_for_policy(sl_conn *c)
{
    if (!hold_head(c)) {
        if (c->policy_cancel)
            c->policy_cancel(c);
        c->policy_cancel = NULL;
        sl_conn_respond(c, 503, "out of memory\n", true);
        return;
    }
    c->state = SL_CONN_POLICY;
    c->deadline_ms = sl_now_ms() + POLICY_WAIT_LIMIT_MS;
    sl_conn_update(c);
}

/* w->req again, parsed from the held copy; a slice that policies kept into the
 * original head (a credential's field) is moved to the copy. */
static bool reparse_head(sl_conn *c)
{
    sl_worker *w = c->w;
    sl_http1_scan scan;
    memset(&scan, 0, sizeof(scan));
    if (sl_http1_parse_request(c->held_head, c->held_len, &scan, &w->req, &w->limits) != SL_OK)
        return false;
    for (uint8_t k = 0; k < c->nauth; k++) {
        const char *p = c->strip_fields[k].ptr;
        if (p && p >= c->held_from && p < c->held_from + c->held_len)
            c->strip_fields[k].ptr = c->held_head + (p - c->held_from);
    }
    return true;
}

void sl_policy_wait_over(sl_conn *c)
{
    c->policy_cancel = NULL;
    c->policy_op = NULL;
}

void sl_policy_resume(sl_conn *c)
{
    sl_policy_wait_over(c);
    if (!reparse_head(c)) {
        sl_conn_respond(c, 500, "cannot resume the request\n", true);
        return;
    }
    c->state = SL_CONN_PROXY;
    sl_policy_result r = sl_policy_run_chain(c, &c->snap->s, c->route->policies, c->policy_next);
    if (r == SL_POLICY_WAIT)
        wait_for_policy(c);
    else if (r == SL_POLICY_NEXT)
        after_policies(c);
}

/* A request to a Backend of type MCP: its body (one JSON-RPC message) is read
 * whole, then the MCP gateway answers it (workers/mcp.h). */
static void mcp_begin(sl_conn *c, const sl_snap_backend *be)
{
    if (!sl_mcp_take_head(c)) {
        sl_conn_respond(c, 503, "out of memory\n", true);
        return;
    }
    c->mcp_backend = be;
    if (c->req_body.done || c->req_body.kind == SL_BODY_NONE) {
        sl_mcp_serve(c, be);
        return;
    }
    if (c->req_body.kind == SL_BODY_LENGTH && c->req_body.remaining > (uint64_t)sl_setting(SL_SET_AI_MAX_REQUEST_BYTES)) {
        c->req_body.done = true; /* not read: the connection closes after the answer */
        sl_conn_respond(c, 413, "request body too large\n", true);
        return;
    }
    if (!sl_collect_begin(c)) {
        c->req_body.done = true;
        sl_conn_respond(c, 400, "an MCP request carries a JSON-RPC message\n", true);
        return;
    }
    c->collecting = true;
    if (c->expect_continue) {
        sl_buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        c->expect_continue = false;
    }
    c->last_client_ms = sl_now_ms();
    c->state = SL_CONN_PROXY;
    c->deadline_ms = sl_proxy_body_deadline(c);
    buffering_event(c); /* what already arrived */
}

/* The request passed its policies: filters that answer, then the backend. */
static void after_policies(sl_conn *c)
{
    sl_worker *w = c->w;
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_route *route = c->route;
    const sl_snap_action *a = c->action;
    if (sl_filters_answer(c, route, a))
        return;
    if (a->total_weight == 0) {
        sl_conn_respond(c, 500, "the route has no usable backend\n", false);
        return;
    }
    /* A session stays with its endpoint across a weighted split (GEP-1619). */
    const sl_snap_backend_ref *bref = sl_lb_session_ref(c, a);
    if (!bref)
        bref = pick_backend(s, a);
    if (!bref || bref->backend == SL_SNAP_NONE) {
        sl_conn_respond(c, 500, "the backend of this route cannot be resolved\n", false);
        return;
    }
    c->backend_filters = bref->filters;
    uint32_t bi = bref->backend;
    const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, bi);
    c->ai_failover = false;
    if (be->ai_fallbacks.count) {
        /* A chain of AI providers (ai_failover.c): one that failed lately is
         * skipped; the head is kept to be built again for the next one. */
        bi = sl_ai_failover_start(c, bi);
        be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, bi);
        if (!hold_head(c)) {
            sl_conn_respond(c, 503, "out of memory\n", true);
            return;
        }
    }
    if (be->ai_provider && sl_ai_models_answer(c, route))
        return; /* GET .../models: the models the route serves */
    if (be->mcp_targets.count) {
        mcp_begin(c, be); /* answered by the MCP gateway, not proxied */
        return;
    }
    if (be->endpoints.count == 0) {
        sl_conn_respond(c, 503, "the backend has no endpoints\n", false);
        return;
    }
    c->backend_index = bi;
    sl_lb_request_begin(c, bi); /* (w->req is ours: a hashing key is read from it) */
    c->res_hook = sl_response_hook_for(s, be);
    if (be->ai_provider && !c->idle_timeout_ms)
        c->idle_timeout_ms = (uint32_t)sl_setting(SL_SET_AI_RESPONSE_TIMEOUT_MS); /* a policy's timeouts win */
    if (sl_cbuf_get(w, &c->uout) != 0 || sl_bodybuf_get(w, &c->uin) != 0) {
        sl_conn_respond(c, 503, "out of memory\n", true);
        return;
    }
    /* An AI route rewrites request bodies: they are collected whole first. */
    /* w->req is the worker's: read it while it is ours. */
    c->ai_flags = be->ai_provider ? sl_ai_request_kind(&w->req, be) : 0;
    if (be->ai_provider && c->upgrade_requested && sl_slice_ieq_cstr(w->req.upgrade_proto, "h2c"))
        c->upgrade_requested = false; /* a cleartext HTTP/2 offer (curl --http2): declined, the request goes on */
    /* A body that may go to another provider is collected too (rewritten for each). */
    bool guard_reads = be->ai_provider && c->guard_policy && sl_ai_guard_reads_requests(c);
    bool rewrite = be->ai_provider && !c->upgrade_requested &&
                   (sl_ai_rewrites_body(be, c->ai_flags, &w->req) ||
                    ((c->ai_failover || guard_reads) && sl_ai_json_body(&w->req)));
    /* An A2A call (a JSON-RPC POST) is read whole for its method (metrics, log), then sent as it came. */
    /* Under per-method rules (mcpAuthorization, mcpRateLimit) every request is read so, whatever its type:
     * a call that is not read cannot be checked (sl_a2a_request_body refuses what it cannot read). */
    bool a2a_rules = be->a2a && (c->mcp_authz || c->mcp_rl);
    if (a2a_rules && c->method != SL_HTTP1_METHOD_POST && !sl_a2a_card_request(c)) {
        sl_conn_respond(c, 403, "this agent's route checks each JSON-RPC call: only POST calls and its card are "
                                "served\n", !c->req_body.done && c->req_body.kind != SL_BODY_NONE);
        return;
    }
    rewrite = rewrite || (be->a2a && c->method == SL_HTTP1_METHOD_POST && !c->upgrade_requested &&
                          (a2a_rules || sl_ai_json_body(&w->req)));
    if ((be->ai_provider || a2a_rules) && c->upgrade_requested && !c->req_body.done &&
        c->req_body.kind != SL_BODY_NONE) {
        /* A body that would go upstream unread (a switch of protocols tunnels
         * it): no guard, budget or count could see it. */
        c->req_body.done = true; /* not read: the connection closes after the answer */
        sl_conn_respond(c, 400, "an AI route does not switch protocols for a request with a body\n", true);
        return;
    }
    if (guard_reads && !c->req_body.done && !c->body_held && !sl_ai_json_body(&w->req)) {
        /* A body the prompt guard cannot read (an upload) does not pass it unread. */
        c->req_body.done = true; /* not read: the connection closes after the answer */
        sl_conn_respond(c, 415, "the prompt guard of this route reads JSON request bodies only\n", true);
        return;
    }
    /* A body read before routing (by model) is whole already: the head is
     * built for it as for one being collected. */
    c->collecting = c->body_held || (rewrite && !c->req_body.done && sl_collect_begin(c));
    if (c->collecting && !c->body_held && c->req_body.kind == SL_BODY_LENGTH &&
        c->req_body.remaining > (uint64_t)sl_setting(SL_SET_AI_MAX_REQUEST_BYTES)) {
        /* Refused from its length alone, before a 100 Continue invites it. */
        c->collecting = c->buffering = false;
        c->req_body.done = true; /* not read: the connection closes after the answer */
        sl_conn_respond(c, 413, "request body too large\n", true);
        return;
    }
    if (!sl_filters_request_head(c, route, a->filters, bref->filters)) {
        sl_conn_respond(c, 431, "request head too large to forward\n", true);
        return;
    }
    if (be->a2a)
        sl_a2a_request(c); /* a request for the agent card: its URLs are rewritten */
    c->req_ready = 0;
    if (c->expect_continue && !c->req_body.done)
        sl_buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    c->last_client_ms = sl_now_ms();
    if (c->body_held) {
        c->state = SL_CONN_PROXY;
        char *error_json = NULL;
        int status = sl_collect_held(c, rewrite, &error_json);
        if (status > 1)
            collect_failed(c, status, error_json);
        else if (status < 0) {
            c->deadline_ms = sl_ai_guard_webhook_deadline(c); /* the guard's webhook is asked: */
            sl_conn_update(c);                                 /* sl_proxy_collect_resume goes on */
        }
        else
            begin_upstream(c);
        return;
    }
    if (c->collecting) {
        c->state = SL_CONN_PROXY;
        c->deadline_ms = sl_proxy_body_deadline(c);
        buffering_event(c); /* what already arrived */
        return;
    }
    if (sl_proxy_buffer_begin(c)) {
        /* The body is read whole first (proxy_buffer.c): no upstream yet. */
        c->state = SL_CONN_PROXY;
        c->deadline_ms = sl_proxy_body_deadline(c);
        sl_conn_update(c);
        return;
    }
    begin_upstream(c);
}

/* Mirrors the request, then connects to the chosen backend and starts moving. */
static void begin_upstream(sl_conn *c)
{
    /* A body that is already here in full can be sent again (retry, or a pooled
     * connection that turns out closed), and goes along with mirrors. */
    c->replay_start = c->in.start;
    c->replay_len = c->req_body.kind == SL_BODY_NONE ? 0
                    : c->req_from_out ? (int64_t)sl_dbuf_len(&c->req_out)
                    : (c->req_body.kind == SL_BODY_LENGTH && sl_buf_len(&c->in) >= c->req_body.remaining)
                        ? (int64_t)c->req_body.remaining
                        : -1;
    if (c->body_hooks && c->replay_len > 0) {
        /* The policies see a body that is here in full before any copy of it
         * leaves (a mirror's). */
        bool refused;
        request_body_ready(c, &refused);
        if (refused) {
            c->req_body.done = true; /* not read further: the connection closes after the answer */
            c->state = SL_CONN_LOCAL;
            sl_conn_respond(c, c->body_refusal, c->body_refusal == 413 ? "request body too large\n" : "refused\n",
                            true);
            return;
        }
    }
    sl_filters_before_upstream(c, c->action->filters);
    if (!start_attempt(c, c->backend_index, false))
        return;
    pump(c);
}

/* A body being collected cannot go upstream: the request gets `status`
 * instead (with error_json, malloc'd, as its body when there is one). */
static void collect_failed(sl_conn *c, int status, char *error_json)
{
    c->buffering = false;
    c->collecting = false;
    c->req_body.done = true; /* not read further: the connection closes after the answer */
    c->state = SL_CONN_LOCAL;
    if (status == 429 && c->budget.refused && c->budget.policy && !error_json) {
        sl_ai_budget_refuse(c); /* the body was read whole: the connection goes on */
        return;
    }
    c->budget.refused = false;
    if (status == 429 && c->tl_policy && !error_json) {
        sl_ai_tokens_refuse(c); /* the body was read whole: the connection goes on */
        return;
    }
    if (error_json) {
        /* The body was read whole: the connection can serve the next request. */
        sl_conn_respond_json(c, status, error_json, false);
        free(error_json);
        return;
    }
    char text[80];
    snprintf(text, sizeof(text), "%s\n", status == 413 ? "request body too large" : sl_http_reason(status));
    sl_conn_respond(c, status, text, true);
}

/* A client event while the body is being buffered: once it is whole, the
 * request goes upstream; a client that leaves first is dropped. */
static void buffering_event(sl_conn *c)
{
    if (c->collecting) {
        char *error_json = NULL;
        int status = sl_collect_step(c, &error_json);
        if (status > 1) {
            collect_failed(c, status, error_json);
            return;
        }
        if (status == 1 && c->route_pending) {
            /* Read before routing: the route can be chosen now. */
            c->route_pending = false;
            c->body_held = true;
            if (!sl_ai_model_route_body(c)) {
                c->state = SL_CONN_LOCAL;
                sl_conn_respond(c, 431, "request head too large to route by model\n", true);
                return;
            }
            sl_conn_route(c);
            return;
        }
        if (status == 1 && c->mcp) {
            sl_mcp_serve(c, c->mcp_backend);
            return;
        }
        if (status == 1) {
            begin_upstream(c);
            return;
        }
        if (status < 0) {
            /* The guard's webhook is asked: its answer goes on (sl_proxy_collect_resume). */
            if (c->client_eof) {
                sl_conn_close(c);
                return;
            }
            c->deadline_ms = sl_ai_guard_webhook_deadline(c);
            sl_conn_update(c);
            return;
        }
    }
    if (c->collecting || !sl_proxy_buffer_complete(c)) {
        if (c->client_eof) {
            sl_conn_close(c);
            return;
        }
        if (!sl_conn_flush(c))
            return;
        c->deadline_ms = sl_proxy_body_deadline(c);
        sl_conn_update(c);
        return;
    }
    c->buffering = false;
    begin_upstream(c);
}

void sl_proxy_collect_resume(sl_conn *c)
{
    buffering_event(c);
}

/* Request body bytes at the front of c->in that may go to the upstream now. */
static size_t request_body_ready(sl_conn *c, bool *error)
{
    *error = false;
    if (c->body_refusal) { /* refused once: nothing more of it goes anywhere */
        *error = true;
        return 0;
    }
    sl_body *rb = &c->req_body;
    if (c->req_from_out)
        return (size_t)rb->remaining; /* the rewritten body, whole in req_out */
    size_t avail = sl_buf_len(&c->in);
    if (rb->kind == SL_BODY_TUNNEL)
        return avail;
    if (rb->kind == SL_BODY_LENGTH) {
        size_t ready = avail < rb->remaining ? avail : (size_t)rb->remaining;
        /* The hooks see each byte once: a resent body (retry) was seen already. */
        uint64_t front = c->body_length - rb->remaining;
        if (c->body_hooks && front + ready > c->body_seen) {
            size_t skip = (size_t)(c->body_seen - front);
            sl_slice data = sl_slice_make(c->in.data + c->in.start + skip, ready - skip);
            c->body_refusal = sl_policy_run_body(c, data, front + ready == c->body_length);
            if (c->body_refusal) {
                *error = true; /* none of these bytes go upstream */
                return 0;
            }
        }
        return ready;
    }
    if (rb->kind != SL_BODY_CHUNKED)
        return 0;
    /* Validate chunked framing ahead of what was forwarded, and stop exactly at
     * the end of the body (what follows is the next pipelined request). */
    while (!rb->chunked.error && !sl_http1_chunked_done(&rb->chunked) && c->req_ready < avail) {
        size_t consumed = 0;
        sl_slice data;
        int rc = sl_http1_chunked_parse(&rb->chunked, c->in.data + c->in.start + c->req_ready, avail - c->req_ready,
                                        &consumed, &data);
        if (rc == SL_ERR) {
            *error = true;
            return 0;
        }
        if (c->body_hooks && (data.len || rc == SL_OK)) {
            c->body_refusal = sl_policy_run_body(c, data, rc == SL_OK);
            if (c->body_refusal) {
                *error = true; /* a policy refused the body: none of this chunk goes upstream */
                return 0;
            }
        }
        c->req_ready += consumed;
        if (rc == SL_OK || consumed == 0)
            break;
    }
    return c->req_ready;
}

/* Logs why TLS to the upstream failed (a verification error names itself). */
static void tls_failure(sl_conn *c)
{
    if (!c->up || !c->up->ssl || errno == ECONNRESET || errno == EPIPE)
        return;
    char why[200];
    sl_log_warn("proxy", "TLS with upstream %s failed: %s", c->log_upstream, sl_uptls_error(c->up->ssl, why, sizeof(why)));
}

/* Sends the head and whatever request body is ready. Returns false if the
 * request was answered or the connection closed. */
static bool write_upstream(sl_conn *c)
{
    sl_upstream *u = c->up;
    if (c->l4_discard) {
        c->in.start = c->in.end; /* (nobody to take them: see l4_discard) */
        return true;
    }
    for (;;) {
        bool bad = false;
        size_t body = sl_buf_len(&c->uout) ? 0 : request_body_ready(c, &bad);
        if (bad) {
            int refusal = c->body_refusal;
            if (!refusal)
                sl_log_debug("proxy", "client %s: bad chunked body: %s", c->peer, c->req_body.chunked.error);
            sl_proxy_detach(c, false);
            c->req_body.done = true; /* nothing more will be read */
            c->state = SL_CONN_LOCAL;
            if (c->res_head_done) {
                sl_conn_close(c); /* an answer is under way: it cannot become another */
            } else if (refusal) {
                char text[80];
                snprintf(text, sizeof(text), "%s\n", refusal == 413 ? "request body too large" : sl_http_reason(refusal));
                sl_conn_respond(c, refusal, text, true);
            } else {
                sl_conn_respond(c, 400, "malformed chunked request body\n", true);
            }
            return false;
        }
        struct iovec iov = {0};
        if (sl_buf_len(&c->uout)) {
            iov.iov_base = c->uout.data + c->uout.start;
            iov.iov_len = sl_buf_len(&c->uout);
        } else if (body && c->req_from_out) {
            iov.iov_base = c->req_out.data + c->req_out.end - (size_t)c->req_body.remaining;
            iov.iov_len = body;
        } else if (body) {
            iov.iov_base = c->in.data + c->in.start;
            iov.iov_len = body;
        } else {
            break;
        }
        ssize_t n = u->h2    ? sl_h2up_write(u, iov.iov_base, iov.iov_len)
                    : u->ssl ? sl_tls_writev(u->ssl, &iov, 1, &u->tls_write_wants_read)
                             : sl_sys_writev(u->fd, &iov, 1);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            if (errno == EINTR)
                continue;
            if (c->l4) {
                /* A passed-through connection's upstream stopped reading: what it
                 * already sent still goes to the client (read on to its end). */
                c->l4_discard = c->l4_up_shut = true;
                c->in.start = c->in.end;
                return true;
            }
            c->up_refused = errno == EPIPE || errno == ECONNRESET;
            tls_failure(c);
            c->up_eof = true; /* treated like a close: see read_upstream */
            return true;
        }
        if (n > 0)
            c->up_wrote = true;
        if (sl_buf_len(&c->uout)) {
            c->uout.start += (size_t)n;
            continue;
        }
        if (c->req_from_out) {
            c->req_body.remaining -= (uint64_t)n;
            c->up_deadline_ms = response_deadline(c);
            continue;
        }
        c->in.start += (size_t)n;
        if (c->req_body.kind == SL_BODY_LENGTH)
            c->req_body.remaining -= (uint64_t)n;
        else if (c->req_body.kind == SL_BODY_CHUNKED)
            c->req_ready -= (size_t)n;
        else if (c->req_body.kind == SL_BODY_TUNNEL)
            c->tunnel_activity_ms = sl_now_ms();
        c->up_deadline_ms = response_deadline(c);
    }
    sl_body *rb = &c->req_body;
    if (!rb->done && ((rb->kind == SL_BODY_LENGTH && rb->remaining == 0) ||
                      (rb->kind == SL_BODY_CHUNKED && sl_http1_chunked_done(&rb->chunked) && c->req_ready == 0)))
        rb->done = true;
    if (sl_buf_len(&c->in) == 0)
        c->in.start = c->in.end = 0;
    return true;
}

/* Writes the response head for the client from w->res (filters applied) and
 * settles how the body is framed towards the client. */
static void build_response_head(sl_conn *c)
{
    sl_body *rb = &c->res_body;
    sl_buf *b = &c->out;
    sl_filters_response_head(c, b);
    if (c->tunnel) {
        sl_buf_append(b, "\r\n", 2);
        return;
    }
    if (rb->kind == SL_BODY_CHUNKED) {
        if (c->version_minor == 0) {
            rb->dechunk = true; /* HTTP/1.0 clients do not know chunked: end by closing */
            c->close_after = true;
        } else {
            sl_buf_append(b, "Transfer-Encoding: chunked\r\n", 28);
        }
    }
    if (rb->kind == SL_BODY_CLOSE)
        c->close_after = true;
    sl_res_head_end(c, b);
}

/* Puts the request body back in front of the input buffer for another attempt.
 * Returns false when it is no longer there (streamed, or the buffer moved). */
static bool rewind_body(sl_conn *c)
{
    if (c->replay_len < 0)
        return false;
    if (c->req_from_out) {
        c->req_body.remaining = sl_dbuf_len(&c->req_out);
        c->req_body.done = c->req_body.remaining == 0;
        return true;
    }
    if (c->req_body.kind == SL_BODY_LENGTH) {
        if (c->in.end < c->replay_start + (size_t)c->replay_len)
            c->in.end = c->replay_start + (size_t)c->replay_len;
        c->in.start = c->replay_start;
        c->req_body.remaining = (uint64_t)c->replay_len;
        c->req_body.done = c->replay_len == 0;
    }
    return true;
}

/* Whether a request that got no answer on a reused connection may be sent
 * again. The upstream may have acted on a POST before closing, so only
 * idempotent requests (RFC 9110 9.2.2) are resent, or requests the upstream
 * cannot have seen: none of it was written, or its kernel refused the bytes
 * with a reset because the socket was already closed (the keep-alive race: the
 * upstream closed an idle connection as we reused it). nginx resends no POST. */
static bool resend_is_safe(sl_conn *c, sl_upstream *u)
{
    if (!c->up_wrote || sl_http1_method_idempotent(c->method) || c->up_refused)
        return true;
    if (u->ssl || u->h2)
        return false;
    int err = 0;
    socklen_t len = sizeof(err);
    return getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && (err == ECONNRESET || err == EPIPE);
}

/* A retry of the rule's policy: same backend, next endpoint, after the backoff.
 * Only requests whose body is still at hand are retried (a streamed body is
 * gone). Returns true when a retry was started or scheduled. */
static bool try_retry(sl_conn *c, int code)
{
    const sl_snap_action *a = c->action;
    if (c->request_timeout_ms && sl_now_ms() >= c->started_ms + c->request_timeout_ms)
        return false;
    if (!a || c->retries_left == 0 || c->replay_len < 0 || code < 400 || code >= 656 ||
        !(c->retry_codes[(code - 400) / 64] & (1ull << ((code - 400) % 64))))
        return false;
    if (sl_lb_admit(c, c->backend_index, true))
        return false; /* the retry budget is spent: this answer stands (counted in the overflows) */
    if (!rewind_body(c))
        return false;
    c->retries_left--;
    sl_proxy_detach(c, false);
    sl_lb_charge_retry(c, c->backend_index);
    sl_log_debug("proxy", "retrying %s %s after %d (%u left)", c->log_method, c->log_path, code, c->retries_left);
    if (c->retry_backoff_ms) {
        c->retry_pending = true;
        c->deadline_ms = sl_now_ms() + c->retry_backoff_ms;
        c->up_deadline_ms = c->deadline_ms;
        sl_conn_update(c);
        return true;
    }
    if (start_attempt(c, c->backend_index, true))
        pump(c);
    return true;
}

/* The request again, for AI Backend `next`: the head built anew from the kept
 * copy (its provider's Host, path, key), the body rewritten for it. */
static bool switch_backend(sl_conn *c, uint32_t next)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, next);
    if (!reparse_head(c))
        return false;
    /* What the answer in hand is read with, kept for when the switch fails and
     * that answer goes to the client after all. */
    uint32_t was_index = c->backend_index;
    const sl_response_hook *was_hook = c->res_hook;
    uint16_t was_flags = c->ai_flags;
    c->backend_index = next;
    c->res_hook = sl_response_hook_for(s, be);
    c->ai_flags = sl_ai_request_kind(&c->w->req, be);
    bool body = c->req_from_out;
    c->collecting = body; /* the head goes without framing: the body's length follows */
    bool ok = sl_filters_request_head(c, c->route, c->action->filters, c->backend_filters);
    if (ok && !body) {
        ok = rewind_body(c);
    } else if (ok) {
        char *error_json = NULL;
        ok = sl_collect_again(c, &error_json) == 1; /* e.g. a request the next provider's dialect cannot say */
        free(error_json);
        c->replay_len = (int64_t)sl_dbuf_len(&c->req_out);
    }
    if (ok)
        sl_lb_request_begin(c, next);
    if (!ok) {
        c->backend_index = was_index;
        c->res_hook = was_hook;
        c->ai_flags = was_flags;
        c->collecting = false;
        c->ai_failover = false; /* the request is no longer in a state to be sent again */
    }
    return ok;
}

/* Failover along an AI Backend's chain (ai_failover.c) after a 429, a 5xx or
 * no answer, while nothing of the answer reached the client. */
static bool try_failover(sl_conn *c, int code)
{
    if (!c->ai_failover || (code != 429 && code < 500))
        return false;
    sl_ai_provider_result(&c->snap->s, c->backend_index, true);
    if (c->request_timeout_ms && sl_now_ms() >= c->started_ms + c->request_timeout_ms)
        return false;
    uint32_t next = sl_ai_failover_next(c);
    if (next == SL_SNAP_NONE || c->replay_len < 0 || !switch_backend(c, next))
        return false;
    sl_proxy_detach(c, false);
    atomic_fetch_add(&c->w->slot->ai_failovers, 1);
    sl_log_debug("proxy", "%s %s: provider answered %d, failing over to Backend %s", c->log_method, c->log_path,
                 code, sl_snap_cstr(&c->snap->s, SL_SNAP_GET(&c->snap->s, SL_SNAP_BACKENDS, sl_snap_backend,
                                                             next)->name));
    if (start_attempt(c, next, false))
        pump(c);
    return true;
}

static void fail_upstream(sl_conn *c, int status, const char *why, bool may_retry);

static void upstream_failed(sl_conn *c, int status, const char *why) { fail_upstream(c, status, why, true); }

/* The attempt failed: a retry of the rule's policy or the next AI provider
 * takes the request (unless the caller asked the retry already), else the
 * client gets `status` (or the cut-short response). */
static void fail_upstream(sl_conn *c, int status, const char *why, bool may_retry)
{
    if (!c->res_head_done && ((may_retry && try_retry(c, status)) || try_failover(c, status)))
        return;
    sl_log_warn("proxy", "upstream %s for %s %s: %s", c->log_upstream, c->log_method, c->log_path, why);
    sl_proxy_detach(c, false);
    if (c->res_head_done && c->res_head_held) {
        /* A hook held the head: nothing of this response reached the client. */
        sl_res_hook_end(c);
        c->res_head_done = false;
    }
    if (c->res_head_done) {
        /* Part of the response is already out: all we can do is cut it short. */
        c->status = c->status ? c->status : status;
        c->close_after = true;
        c->keep_alive = false;
        sl_conn_close(c);
        return;
    }
    c->state = SL_CONN_LOCAL;
    char body[160];
    snprintf(body, sizeof(body), "%s\n", why);
    sl_conn_respond(c, status, body, true);
}

/* Finds the response body bytes ready for the client in uin. */
static void scan_response_body(sl_conn *c)
{
    sl_body *rb = &c->res_body;
    size_t avail = sl_buf_len(&c->uin);
    switch (rb->kind) {
    case SL_BODY_NONE: rb->done = true; c->res_ready = 0; return;
    case SL_BODY_LENGTH:
        c->res_ready = avail < rb->remaining ? avail : (size_t)rb->remaining;
        return;
    case SL_BODY_CLOSE:
    case SL_BODY_TUNNEL: c->res_ready = avail; return;
    case SL_BODY_CHUNKED:
        if (rb->dechunk) {
            /* Decoded data runs only: skip framing bytes in front of each run. */
            while (c->res_ready == 0 && !c->res_body_end_seen && sl_buf_len(&c->uin)) {
                size_t consumed = 0;
                sl_slice data;
                int rc = sl_http1_chunked_parse(&rb->chunked, c->uin.data + c->uin.start, sl_buf_len(&c->uin),
                                                &consumed, &data);
                if (rc == SL_ERR)
                    return;
                c->uin.start += consumed - data.len;
                c->res_ready = data.len;
                if (rc == SL_OK)
                    c->res_body_end_seen = true;
                if (consumed == 0)
                    break;
            }
            return;
        }
        while (!c->res_body_end_seen && c->res_ready < avail) {
            size_t consumed = 0;
            sl_slice data;
            int rc = sl_http1_chunked_parse(&rb->chunked, c->uin.data + c->uin.start + c->res_ready,
                                            avail - c->res_ready, &consumed, &data);
            c->res_ready += consumed;
            if (rc == SL_ERR)
                return;
            if (rc == SL_OK)
                c->res_body_end_seen = true;
            if (consumed == 0)
                break;
        }
        return;
    }
}

static void check_response_done(sl_conn *c)
{
    sl_body *rb = &c->res_body;
    if (rb->done || !c->res_head_done)
        return;
    if ((rb->kind == SL_BODY_LENGTH && rb->remaining == 0) || rb->kind == SL_BODY_NONE ||
        (rb->kind == SL_BODY_CHUNKED && c->res_body_end_seen && c->res_ready == 0) ||
        ((rb->kind == SL_BODY_CLOSE || rb->kind == SL_BODY_TUNNEL) && c->up_eof && sl_buf_len(&c->uin) == 0))
        rb->done = true;
}

/* Parses the response head once it is complete. Returns false when the request
 * was answered otherwise. */
static bool parse_response_head(sl_conn *c)
{
    sl_worker *w = c->w;
    for (;;) {
        int rc = sl_http1_parse_response(c->uin.data + c->uin.start, sl_buf_len(&c->uin), &c->rscan, &w->res,
                                         &w->limits, c->method);
        if (rc == SL_AGAIN) {
            if (sl_buf_len(&c->uin) >= c->uin.cap - 1) {
                upstream_failed(c, 502, "response head too large");
                return false;
            }
            return true;
        }
        if (rc == SL_ERR) {
            char why[200];
            snprintf(why, sizeof(why), "invalid response from the upstream: %s", w->res.error);
            upstream_failed(c, 502, why);
            return false;
        }
        if (w->res.code < 200 && w->res.code != 101) {
            /* Interim responses are not forwarded (we never sent Expect upstream). */
            c->uin.start += w->res.head_len;
            memset(&c->rscan, 0, sizeof(c->rscan));
            if (c->uin.start > 0)
                sl_buf_compact(&c->uin);
            continue;
        }
        break;
    }
    sl_traffic_answered(c, w->res.code);
    sl_body *rb = &c->res_body;
    memset(rb, 0, sizeof(*rb));
    switch (w->res.body) {
    case SL_HTTP1_BODY_LENGTH:
        rb->kind = w->res.content_length ? SL_BODY_LENGTH : SL_BODY_NONE;
        rb->remaining = w->res.content_length;
        break;
    case SL_HTTP1_BODY_CHUNKED:
        rb->kind = SL_BODY_CHUNKED;
        sl_http1_chunked_init(&rb->chunked, &w->limits);
        break;
    case SL_HTTP1_BODY_CLOSE: rb->kind = SL_BODY_CLOSE; break;
    default: rb->kind = SL_BODY_NONE; break;
    }
    if (w->res.code == 101) {
        if (!c->upgrade_requested || !w->res.upgrade) {
            upstream_failed(c, 502, "the upstream switched protocols unasked");
            return false;
        }
        /* From here on the connection is a tunnel: bytes both ways, no framing,
         * until either side closes; it is never reused. */
        c->tunnel = true;
        c->tunnel_activity_ms = sl_now_ms();
        c->close_after = true;
        c->keep_alive = false;
        rb->kind = SL_BODY_TUNNEL;
        c->req_body.kind = SL_BODY_TUNNEL;
        c->req_body.done = false;
    } else {
        sl_lb_judge(c, w->res.code >= 500 ? SL_LB_ANSWERED_5XX : SL_LB_ANSWERED);
        if (try_retry(c, w->res.code) || try_failover(c, w->res.code))
            return false;
    }
    if (c->ai_failover && w->res.code != 429 && w->res.code < 500)
        sl_ai_provider_result(&c->snap->s, c->backend_index, false); /* it answers: trusted again */
    c->status = w->res.code;
    c->up_reusable_hint = w->res.keep_alive;
    /* The request body is no longer awaited by anyone if the upstream answered
     * early; whatever the client still sends would be taken for a new request,
     * so the connection closes (and the response head says so). */
    if (!c->req_body.done && !c->tunnel)
        c->close_after = true;
    if (!sl_res_hook_take(c))
        build_response_head(c);
    c->uin.start += w->res.head_len;
    c->res_head_done = true;
    c->up->splice_hint = !c->res_hooked && rb->kind == SL_BODY_LENGTH &&
                         rb->remaining >= (uint64_t)sl_setting(SL_SET_SPLICE_MIN_BYTES);
    return true;
}

/* Emitted bytes a hook may have waiting for the client before it is fed more:
 * the upstream is read no faster than the client takes them. */
#define HOOK_OUT_HIGH (64 * 1024)

/* Gives the body bytes ready in uin to the response hook (they leave uin: what
 * the client gets is what the hook emits). Returns false when the request was
 * answered otherwise (the hook cut it short). */
static bool feed_hook(sl_conn *c)
{
    while (!c->res_hook_last && sl_dbuf_len(&c->res_out) < HOOK_OUT_HIGH) {
        size_t n = c->res_ready;
        const char *data = c->uin.data + c->uin.start;
        if (n) {
            /* Consumed as a write to the client would (the bytes stay where
             * they are until the buffer is next compacted, after the call). */
            c->uin.start += n;
            c->res_ready = 0;
            if (c->res_body.kind == SL_BODY_LENGTH)
                c->res_body.remaining -= n;
            scan_response_body(c);
            check_response_done(c);
        }
        bool last = c->res_body.done && c->res_ready == 0;
        if (n == 0 && !last)
            break;
        if (!c->res_hook->on_body(c, sl_slice_make(data, n), last)) {
            upstream_failed(c, 502, "the response could not be processed");
            return false;
        }
        if (sl_buf_len(&c->uin) == 0)
            c->uin.start = c->uin.end = 0;
        if (last) {
            c->res_hook_last = true;
            if (c->res_head_held)
                sl_res_release_head(c, NULL, 0); /* a hook that emitted nothing: an empty body */
            if (c->res_out_chunked && !sl_dbuf_append(&c->res_out, "0\r\n\r\n", 5)) {
                upstream_failed(c, 502, "out of memory");
                return false;
            }
        }
    }
    return true;
}

/* Reads from the upstream. Returns false when the request was answered otherwise. */
static bool read_upstream(sl_conn *c)
{
    sl_upstream *u = c->up;
    c->up_more = false;
    /* Plain TCP is read only once the loop said so; TLS and HTTP/2 streams keep
     * bytes of their own that raise no socket event. */
    bool may_read = u->readable || u->ssl || u->h2;
    while (may_read && !c->up_eof) {
        if (sl_buf_room(&c->uin) == 0)
            sl_buf_compact(&c->uin);
        if (sl_buf_room(&c->uin) == 0) {
            c->up_more = true;
            break;
        }
        size_t want = sl_buf_room(&c->uin);
        /* The first read of a response that will likely be spliced takes about
         * what a head needs: the body is better left in the socket for splice(2).
         * (Otherwise one read takes all: a body of a few KiB must not cost two.) */
        bool head_only = !c->res_head_done && sl_buf_len(&c->uin) == 0 && want > SL_HEAD_READ && u->splice_hint &&
                         sl_splice_possible(c);
        if (head_only)
            want = SL_HEAD_READ;
        ssize_t n = u->h2    ? sl_h2up_read(u, c->uin.data + c->uin.end, want)
                    : u->ssl ? sl_tls_read(u->ssl, c->uin.data + c->uin.end, want, &u->tls_read_wants_write)
                             : sl_sys_read(u->fd, c->uin.data + c->uin.end, want);
        if (n > 0) {
            c->uin.end += (size_t)n;
            c->up_deadline_ms = response_deadline(c); /* (a trickled head does not escape backendRequest) */
            c->tunnel_activity_ms = sl_now_ms();
            if ((size_t)n < want && !u->ssl) {
                u->readable = false;
                break; /* short read: the socket is drained (TLS reads a record at a time) */
            }
            if (head_only) {
                c->up_more = true; /* parse the head first, then read on or splice */
                break;
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            u->readable = false;
            break;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            c->up_refused = errno == ECONNRESET;
            tls_failure(c);
        }
        c->up_eof = true;
    }
    if (!c->res_head_done && c->up_eof && sl_buf_len(&c->uin) == 0) {
        /* A pooled connection the upstream had closed: try once more on a fresh
         * one, if the request can be sent again (no body consumed yet) and
         * sending it twice is harmless (resend_is_safe). */
        bool judge = !u->reused; /* a fresh connection failed: the endpoint's doing */
        if (u->reused && !c->retried && resend_is_safe(c, u) && rewind_body(c)) {
            c->retried = true;
            sl_proxy_detach(c, false); /* (u is gone) */
            sl_lb_attempt_begin(c, c->backend_index, c->endpoint_index);
            sl_traffic_attempt(c, false);
            c->up = open_upstream(c, true);
            if (c->up) {
                c->up->owner = c;
                c->uout.start = 0; /* the head is still in the buffer */
                c->up_eof = false;
                c->up_wrote = false;
                c->up_refused = false;
                if (c->up->connected) {
                    sl_lb_attempt_connected(c);
                } else {
                    c->up_deadline_ms = connect_deadline(c);
                }
                return true;
            }
            if (errno == EBUSY) {
                sl_lb_attempt_end(c);
                circuit_open(c, SL_CB_MAX_CONNECTIONS);
                return false;
            }
            judge = !local_error(errno); /* the endpoint refused the new one (not this host's trouble) */
        }
        if (judge) {
            /* A fresh connection closed or reset unanswered: the endpoint is
             * failing. Another one gets the request when sending it again is
             * safe: nothing of it was written, or it is idempotent and whole
             * at hand (a reset does not prove a POST was not acted on). */
            sl_lb_judge(c, SL_LB_CONNECT_FAILED);
            bool safe = !c->up_wrote || (sl_http1_method_idempotent(c->method) && c->replay_len >= 0);
            if (safe && !c->upgrade_requested && next_endpoint(c))
                return false;
        }
        upstream_failed(c, 502, "the upstream closed the connection without answering");
        return false;
    }
    if (!c->res_head_done && !parse_response_head(c))
        return false;
    if (c->res_head_done && !c->res_body.done) {
        scan_response_body(c);
        if (c->res_body.kind == SL_BODY_CHUNKED && c->res_body.chunked.error) {
            upstream_failed(c, 502, "invalid chunked response body");
            return false;
        }
        if (c->up_eof && c->res_body.kind != SL_BODY_CLOSE && c->res_body.kind != SL_BODY_TUNNEL &&
            !c->res_body_end_seen &&
            !(c->res_body.kind == SL_BODY_LENGTH && c->res_ready >= c->res_body.remaining)) {
            if (c->res_ready == 0) {
                upstream_failed(c, 502, "the upstream closed the connection in the middle of the body");
                return false;
            }
        }
        check_response_done(c);
    }
    if (c->res_hooked && !c->res_hook_last) {
        /* Fed whenever there is room, also once the body is done: its end may
         * have been seen while the hook's output was over its mark. */
        if (!feed_hook(c))
            return false;
        if (c->up_eof && !c->res_body.done && c->res_body.kind != SL_BODY_CLOSE && c->res_ready == 0 &&
            sl_dbuf_len(&c->res_out) < HOOK_OUT_HIGH) {
            /* Everything that came was fed, and no more can come. */
            upstream_failed(c, 502, "the upstream closed the connection in the middle of the body");
            return false;
        }
    }
    return true;
}

size_t sl_proxy_pending_body(sl_conn *c, const char **ptr)
{
    if (c->res_hooked) {
        *ptr = c->res_out.data + c->res_out.start;
        return sl_dbuf_len(&c->res_out);
    }
    if (!c->res_head_done || c->res_ready == 0)
        return 0;
    *ptr = c->uin.data + c->uin.start;
    return c->res_ready;
}

void sl_proxy_body_written(sl_conn *c, size_t n)
{
    c->bytes_out += n; /* for the access log */
    /* Progress towards the client counts as activity: a slow reader is not an
     * upstream timeout (and the upstream is not read while the buffer is full). */
    c->up_deadline_ms = sl_now_ms() + sl_conn_idle_ms(c);
    c->tunnel_activity_ms = sl_now_ms();
    if (c->res_hooked) {
        sl_dbuf_consume(&c->res_out, n); /* the hook is fed more by the next pump */
        return;
    }
    c->uin.start += n;
    c->res_ready -= n;
    if (c->res_body.kind == SL_BODY_LENGTH)
        c->res_body.remaining -= n;
    if (sl_buf_len(&c->uin) == 0)
        c->uin.start = c->uin.end = 0;
    if (c->res_ready == 0 && c->res_body.kind != SL_BODY_NONE) {
        scan_response_body(c);
        check_response_done(c);
    }
}

bool sl_proxy_complete(sl_conn *c)
{
    if (c->l4) /* both directions ended (l4_half_close) */
        return c->res_body.done && c->req_body.done && c->res_ready == 0 && sl_buf_len(&c->out) == 0;
    if (c->res_hooked)
        return c->res_hook_last && sl_dbuf_len(&c->res_out) == 0 && sl_buf_len(&c->out) == 0;
    return c->res_head_done && c->res_body.done && c->res_ready == 0 && sl_buf_len(&c->out) == 0;
}

void sl_proxy_detach(sl_conn *c, bool reusable)
{
    sl_lb_attempt_end(c);
    if (!c->up)
        return;
    sl_upstream *u = c->up;
    c->up = NULL;
    u->owner = NULL;
    sl_upstream_release(c->w, u, reusable);
}

/* Sets the upstream watcher's events from the state of the request. */
static void update_upstream(sl_conn *c)
{
    sl_upstream *u = c->up;
    if (!u || u->h2)
        return; /* an HTTP/2 stream: its session wakes us */
    int events = 0;
    bool dummy;
    if (c->l4_splicing)
        events = sl_l4_splice_events(c, true);
    else if (!u->connected || sl_buf_len(&c->uout) || (!c->req_body.done && request_body_ready(c, &dummy)))
        events |= EV_WRITE;
    if (c->l4_splicing) {
        /* (both directions: l4_splice.c) */
    } else if (c->splicing) {
        if (c->pipe_bytes == 0 && !c->res_body.done)
            events |= EV_READ; /* the pipe is filled only when empty */
    } else if (u->connected && !c->up_eof && !c->res_body.done && sl_buf_room(&c->uin) + c->uin.start > 0 &&
               c->res_ready < sl_buf_len(&c->uin) + 1) {
        events |= EV_READ;
    }
    /* Stop reading the upstream while the client has not taken what we have. */
    if (c->res_ready > 0 && sl_buf_room(&c->uin) == 0 && c->uin.start == 0)
        events &= ~EV_READ;
    if (u->ssl) {
        /* TLS can need the other direction to make progress on this one. */
        if ((events & EV_READ) && u->tls_read_wants_write)
            events |= EV_WRITE;
        if ((events & EV_WRITE) && u->tls_write_wants_read)
            events |= EV_READ;
        /* Decrypted bytes already inside OpenSSL raise no socket event. */
        if ((events & EV_READ) && SSL_pending(u->ssl) > 0)
            ev_feed_event(c->w->loop, &u->io, EV_READ);
    }
    if ((u->io.events & (EV_READ | EV_WRITE)) != events) {
        ev_io_stop(c->w->loop, &u->io);
        ev_io_modify(&u->io, events);
        if (events)
            ev_io_start(c->w->loop, &u->io);
    }
}

/* True while the request body is incomplete and nothing of it is waiting to be
 * sent: the client is the one we are waiting for. */
static bool waiting_for_client_body(sl_conn *c)
{
    return !c->req_body.done && !c->req_from_out && sl_buf_len(&c->in) == 0 && sl_buf_len(&c->uout) == 0;
}

/* Moves data in every direction that can move, then finishes or waits. */
/* A passed-through connection closes one direction at a time (TCP half-close):
 * the client's end-of-stream goes to the upstream once its bytes are out, and
 * the upstream's to the client once its bytes are out; the connection ends
 * when both directions have. */
static void l4_half_close(sl_conn *c)
{
    if (c->req_body.done && !c->l4_up_shut && c->up && c->up->connected && sl_buf_len(&c->in) == 0) {
        shutdown(c->up->fd, SHUT_WR);
        c->l4_up_shut = true;
    }
    if (c->res_body.done && !c->l4_client_shut && c->res_ready == 0 && sl_buf_len(&c->out) == 0 && c->fd >= 0) {
        shutdown(c->fd, SHUT_WR);
        c->l4_client_shut = true;
        if (c->l4_discard)
            c->l4_linger_until_ms = sl_now_ms() + SL_L4_LINGER_MS;
    }
}

/* A passed-through connection whose bytes move by splice(2) (l4_splice.c). */
static void pump_spliced(sl_conn *c)
{
    if (!sl_l4_splice_pump(c))
        return;
    update_upstream(c);
    sl_conn_update(c);
}

static void pump(sl_conn *c)
{
    if (c->l4_splicing) {
        pump_spliced(c);
        return;
    }
    if (c->client_eof && !c->req_body.done && !(c->tunnel && sl_buf_len(&c->in))) {
        if (c->l4) {
            c->req_body.done = true; /* the client has sent everything: its answer may still come */
        } else {
            /* The client left before sending its whole request (or closed its end of a
             * tunnel, with nothing left to pass on): nobody to answer. */
            sl_conn_close(c);
            return;
        }
    }
    /* A response larger than `uin` takes several reads: as long as the client
     * takes each buffer at once, read on now rather than after the next poll (a
     * 64 KiB body plus its head would otherwise wait a whole loop iteration for
     * its last bytes). Bounded, so one large response cannot starve the rest. */
    for (int pass = 0;; pass++) {
        if (c->up && c->up->connected && !write_upstream(c))
            return;
        if (c->splicing) {
            sl_splice_result r = sl_splice_move(c);
            if (r == SL_SPLICE_CLIENT_GONE) {
                sl_conn_close(c); /* the client went away: drop this request */
                return;
            }
            if (r == SL_SPLICE_UPSTREAM_CUT) {
                upstream_failed(c, 502, "the upstream closed the connection in the middle of the body");
                return;
            }
        } else if (c->up && c->up->connected && !read_upstream(c)) {
            return;
        }
        if (!sl_conn_flush(c))
            return;
        /* A hook is fed up to its mark; when the client took all of that at
         * once, nothing else would wake it for what is still in uin. */
        while (c->state == SL_CONN_PROXY && c->res_hooked && !c->res_hook_last &&
               sl_dbuf_len(&c->res_out) == 0 && (c->res_ready > 0 || c->res_body.done)) {
            if (!feed_hook(c) || !sl_conn_flush(c))
                return;
        }
        if (c->state != SL_CONN_PROXY)
            return;
        if (sl_splice_should_start(c) && sl_splice_start(c))
            continue; /* the head and the body bytes read with it are out: splice the rest */
        if (!c->up_more || pass == SL_PUMP_PASSES - 1 || !c->up || sl_buf_len(&c->uin) > 0)
            break;
    }
    if (sl_l4_splice_ready(c) && sl_l4_splice_start(c)) {
        /* What was read before the connection was made is out: the rest goes by splice. */
        sl_cbuf_put(c->w, &c->in);
        sl_cbuf_put(c->w, &c->out);
        sl_cbuf_put(c->w, &c->uout);
        sl_bodybuf_put(c->w, &c->uin);
        pump_spliced(c);
        return;
    }
    if (c->l4 && c->client_eof && !c->req_body.done && sl_buf_len(&c->in) == 0) {
        /* Its end-of-stream came with its last bytes, now sent: no event will follow. */
        c->req_body.done = true;
        if (!sl_conn_flush(c))
            return; /* (both directions had ended: finished) */
    }
    if (c->l4)
        l4_half_close(c);
    c->deadline_ms = c->up_deadline_ms;
    if (c->l4 && c->up && !c->up->connected) {
        /* connecting: the connect timeout (up_deadline_ms) */
    } else if (c->tunnel) {
        c->deadline_ms = c->tunnel_activity_ms + (uint64_t)sl_setting(SL_SET_TUNNEL_IDLE_MS);
        if (c->l4_linger_until_ms && c->l4_linger_until_ms < c->deadline_ms)
            c->deadline_ms = c->l4_linger_until_ms;
    } else if (waiting_for_client_body(c)) {
        uint64_t body = sl_proxy_body_deadline(c);
        if (body < c->deadline_ms)
            c->deadline_ms = body;
    }
    if (c->request_timeout_ms) {
        uint64_t cap = c->started_ms + c->request_timeout_ms;
        if (c->deadline_ms > cap)
            c->deadline_ms = cap;
    }
    update_upstream(c);
    sl_conn_update(c);
}

void sl_proxy_client_event(sl_conn *c)
{
    if (c->buffering)
        buffering_event(c);
    else
        pump(c);
}

void sl_proxy_upstream_event(sl_conn *c) { pump(c); }

void sl_proxy_upstream_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    sl_upstream *u = io->data;
    sl_conn *c = u->owner;
    if (!c)
        return;
    if (!u->connected && (revents & EV_WRITE)) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            sl_traffic_connect_error(c);
            char why[160];
            snprintf(why, sizeof(why), "cannot connect to the upstream: %s", strerror(err));
            sl_log_warn("proxy", "cannot connect to %s: %s", c->log_upstream, strerror(err));
            sl_lb_judge(c, SL_LB_CONNECT_FAILED);
            if (!next_endpoint(c))
                upstream_failed(c, 502, why);
            return;
        }
        u->connected = true;
        sl_lb_attempt_connected(c);
        c->up_deadline_ms = response_deadline(c);
    }
    if (revents & EV_READ)
        u->readable = true;
    pump(c);
}

void sl_proxy_timeout(sl_conn *c)
{
    if (sl_ai_guard_webhook_waiting(c)) {
        /* (The webhook's own timeout ends its call first: this is the safety net.) */
        sl_ai_guard_webhook_expire(c);
        return;
    }
    if (c->l4 && c->up && !c->up->connected) {
        sl_traffic_connect_error(c);
        sl_log_warn("proxy", "timed out connecting to %s", c->log_upstream);
        sl_lb_judge(c, SL_LB_CONNECT_FAILED);
        if (!next_endpoint(c))
            upstream_failed(c, 502, "timed out connecting to the upstream");
        return;
    }
    if (c->tunnel) {
        sl_log_debug("proxy", "closing idle tunnel %s -> %s", c->peer, c->log_upstream);
        sl_conn_close(c);
        return;
    }
    if (c->buffering && sl_now_ms() < sl_proxy_body_deadline(c)) {
        c->deadline_ms = sl_proxy_body_deadline(c); /* not yet: the client sent more since */
        sl_conn_update(c);
        return;
    }
    if (c->retry_pending) {
        c->retry_pending = false;
        if (start_attempt(c, c->backend_index, true))
            pump(c);
        return;
    }
    if ((c->buffering || waiting_for_client_body(c)) && sl_now_ms() >= sl_proxy_body_deadline(c)) {
        c->buffering = false;
        sl_proxy_detach(c, false);
        c->req_body.done = true; /* give up on it: the connection closes after the answer */
        c->state = SL_CONN_LOCAL;
        if (c->res_head_done) {
            sl_conn_close(c);
            return;
        }
        sl_conn_respond(c, 408, "request body not received in time\n", true);
        return;
    }
    if (c->request_timeout_ms && sl_now_ms() >= c->started_ms + c->request_timeout_ms && !c->res_head_done) {
        sl_traffic_timeout(c);
        upstream_failed(c, 504, "the request timed out");
        return;
    }
    if (c->up && !c->up->connected) {
        sl_traffic_connect_error(c);
        sl_log_warn("proxy", "timed out connecting to %s", c->log_upstream);
        sl_lb_judge(c, SL_LB_CONNECT_FAILED);
        if (!next_endpoint(c))
            upstream_failed(c, 502, "timed out connecting to the upstream");
        return;
    }
    sl_traffic_timeout(c);
    if (!c->res_head_done && c->req_body.done) {
        /* (While the client is still sending the body, the wait is the client's,
         * not the endpoint's fault.) */
        sl_lb_judge(c, SL_LB_TIMED_OUT);
        sl_log_warn("proxy", "upstream %s did not answer %s %s in time", c->log_upstream, c->log_method, c->log_path);
        /* nginx's proxy_next_upstream timeout: an idempotent request whole at
         * hand goes to the next endpoint (a rule's retry on 504 comes first). */
        if (try_retry(c, 504))
            return;
        if (sl_http1_method_idempotent(c->method) && c->replay_len >= 0 && !c->upgrade_requested &&
            !c->ai_failover && next_endpoint(c))
            return;
        fail_upstream(c, 504, "the upstream did not answer in time", false);
        return;
    }
    upstream_failed(c, 504, "the upstream did not answer in time");
}

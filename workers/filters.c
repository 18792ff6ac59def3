/* HTTPRoute filters, where the request path calls them: answers the gateway
 * gives itself, the upstream request head, the client's response head, and
 * mirrors. Each filter's own logic is in its file (filter_redirect.c,
 * filter_cors.c, filter_headers.c; rewrites in filter_util.c's path writer);
 * the forwarding fields in forwarded.c. */
#include "workers/filters.h"

#include "common/ai_translate.h"

#include "workers/ai.h"
#include "workers/jwt_cache.h"
#include "workers/rate_limit.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool sl_filters_answer(sl_conn *c, const sl_snap_route *route, const sl_snap_action *a)
{
    /* (CORS preflights were answered before the policies ran: proxy.c.) */
    const sl_snapshot *s = &c->snap->s;
    for (uint32_t i = 0; i < a->filters.count; i++) {
        const sl_snap_filter *f = sl_filter_at(s, a->filters.first + i);
        const sl_filter_ops *ops = f->type < SL_FILTER_NKINDS ? sl_filter_kinds[f->type] : NULL;
        if (ops && ops->answer && ops->answer(c, route, f))
            return true;
    }
    return false;
}

static const sl_snap_policy_item *claim_header(const sl_conn *c, uint32_t i)
{
    return SL_SNAP_GET(&c->snap->s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, c->claim_headers.first + i);
}

/* A received field that authentication consumed or that claims an identity
 * (including a field that a JWT's claims fill). */
static bool auth_field(const sl_conn *c, sl_slice name)
{
    for (uint8_t k = 0; k < c->nauth; k++)
        if (name.ptr == c->strip_fields[k].ptr || (c->id_headers[k].len && sl_slice_ieq(name, c->id_headers[k])))
            return true;
    for (uint32_t i = 0; i < c->claim_headers.count; i++) {
        const sl_snap_policy_item *it = claim_header(c, i);
        if (it->b.len && sl_slice_ieq(name, sl_slice_make(sl_snap_cstr(&c->snap->s, it->b), it->b.len)))
            return true;
    }
    if (sl_line_listed(c->up_replace, name, true))
        return true;
    for (const char *l = c->up_extra; l && *l;) { /* "Name: value\r\n" lines */
        const char *colon = strchr(l, ':');
        if (!colon)
            break;
        if (sl_slice_ieq(name, sl_slice_make(l, (size_t)(colon - l))))
            return true;
        const char *eol = strstr(colon, "\r\n");
        l = eol ? eol + 2 : colon + strlen(colon);
    }
    return false;
}

/* A JWT's claimsToHeaders: one field per claim the token has (arrays joined with ", "). */
static void put_claim_headers(sl_conn *c, sl_buf *b)
{
    const sl_snapshot *s = &c->snap->s;
    for (uint32_t i = 0; i < c->claim_headers.count; i++) {
        const sl_snap_policy_item *it = claim_header(c, i);
        const char *v = it->a.len && it->b.len ? sl_claims_get(c->claims, sl_snap_cstr(s, it->a)) : NULL;
        if (!v)
            continue;
        sl_buf_append(b, sl_snap_cstr(s, it->b), it->b.len);
        sl_buf_append(b, ": ", 2);
        for (const char *nl; (nl = strchr(v, '\n')); v = nl + 1) {
            sl_buf_append(b, v, (size_t)(nl - v));
            sl_buf_append(b, ", ", 2);
        }
        sl_buf_append(b, v, strlen(v));
        sl_buf_append(b, "\r\n", 2);
    }
}

bool sl_filters_request_head(sl_conn *c, const sl_snap_route *route, sl_snap_range rule, sl_snap_range backend)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_http1_request *req = &c->w->req;
    sl_buf *b = &c->uout;
    b->start = b->end = 0;
    sl_snap_range ranges[2] = {rule, backend};
    const sl_snap_filter *rewrite = sl_filter_find(s, rule, SL_FILTER_REWRITE);
    const sl_snap_backend *ai = sl_ai_backend(c);
    sl_buf_append(b, req->method.ptr, req->method.len);
    sl_buf_append(b, " ", 1);
    if (req->form == SL_HTTP1_FORM_ASTERISK) {
        sl_buf_append(b, "*", 1);
    } else {
        size_t path_at = b->end;
        sl_filter_write_path(b, s, route, rewrite && rewrite->path_mod ? rewrite : NULL, req->path);
        if (req->query.ptr) {
            sl_buf_append(b, "?", 1);
            sl_buf_append(b, req->query.ptr, req->query.len);
        }
        if (ai && !sl_ai_map_path(s, ai, b, path_at))
            return false;
        const sl_ai_dialect *dialect = ai && (c->ai_flags & SL_AI_REQ_TRANSLATE) ? sl_ai_dialect_for(ai->ai_provider) : NULL;
        if (dialect && dialect->chat_suffix)
            sl_ai_translate_path(b, path_at, dialect->chat_suffix); /* (a target naming the model comes later) */
    }
    /* Host: a header modifier's value, else the rewrite's hostname, else as received. */
    sl_slice host = req->host;
    const sl_snap_filter *policy_host = sl_headers_policy_host(s, c->policy_req_headers, ranges, 2);
    if (policy_host)
        host = sl_filter_str(s, policy_host->value);
    if (rewrite && rewrite->hostname.len)
        host = sl_filter_str(s, rewrite->hostname);
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < ranges[k].count; i++) {
            const sl_snap_filter *f = sl_filter_at(s, ranges[k].first + i);
            if (f->type == SL_FILTER_REQUEST_HEADER && f->op == SL_HDR_SET && sl_slice_ieq_cstr(sl_filter_str(s, f->name), "host"))
                host = sl_filter_str(s, f->value);
        }
    if (ai)
        host = sl_ai_authority(s, ai); /* the provider serves its own name only */
    sl_buf_append(b, " HTTP/1.1\r\nHost: ", 17);
    sl_buf_append(b, host.ptr, host.len);
    sl_buf_append(b, "\r\n", 2);
    for (size_t i = 0; i < req->nheaders; i++) {
        const sl_http1_header *h = &req->headers[i];
        if (h->hop || h->id == SL_HTTP1_H_HOST || h->id == SL_HTTP1_H_EXPECT)
            continue;
        if (sl_forwarded_is_ours(h->name) || sl_trace_replaces(c, h->name))
            continue; /* rewritten below (a client's own client-cert claim is never passed on) */
        if ((c->nauth || c->up_extra || c->up_replace) && auth_field(c, h->name))
            continue; /* a credential the gateway checked, or a client's claim of who it is */
        if (ai && (sl_ai_drops_field(ai, h->name) || sl_slice_ieq_cstr(h->name, "accept-encoding")))
            continue; /* the client's own credential: the gateway sends the provider's; and answers
                       * must come uncompressed for the gateway to read their usage */
        if (c->collecting && h->id == SL_HTTP1_H_CONTENT_LENGTH)
            continue; /* the body is collected and rewritten: its length comes with it (proxy_collect.c) */
        if (sl_headers_replaced(s, ranges, 2, SL_FILTER_REQUEST_HEADER, h->name) ||
            sl_headers_policy_replaces(s, c->policy_req_headers, ranges, 2, SL_FILTER_REQUEST_HEADER, h->name))
            continue;
        sl_headers_put(b, h->name, h->value);
    }
    /* Host is placed by the request line's writer; with tracing on, this hop's
     * traceparent is the one the upstream gets (sl_forwarded_fields). */
    static const char *const plain[] = {"host", NULL}, *const traced[] = {"host", "traceparent", NULL};
    const char *const *skip = c->trace.on ? traced : plain;
    sl_headers_emit_ops(b, s, ranges, 2, SL_FILTER_REQUEST_HEADER, skip);
    sl_headers_emit_policy(b, s, c->policy_req_headers, ranges, 2, SL_FILTER_REQUEST_HEADER, skip);
    if (req->upgrade && c->upgrade_requested) {
        /* Hop-by-hop, but the upstream must see the request to switch protocols
         * (an offer the gateway declined is not passed on). */
        sl_buf_printf(b, "Upgrade: %.*s\r\nConnection: Upgrade\r\n", (int)req->upgrade_proto.len,
                      req->upgrade_proto.ptr);
    }
    if (req->body == SL_HTTP1_BODY_CHUNKED && !c->collecting)
        sl_buf_append(b, "Transfer-Encoding: chunked\r\n", 28);
    sl_forwarded_fields(c, b);
    for (uint8_t k = 0; k < c->nauth && c->client_id[0]; k++)
        if (c->id_headers[k].len)
            sl_headers_put(b, c->id_headers[k], sl_slice_from_cstr(c->client_id));
    if (c->claims)
        put_claim_headers(c, b);
    if (c->up_extra)
        sl_buf_puts(b, c->up_extra);
    if (ai && !sl_ai_request_fields(c, ai, b))
        return false;
    return sl_buf_append(b, "\r\n", 2);
}

void sl_filters_response_head(sl_conn *c, sl_buf *b)
{
    const sl_http1_response *res = &c->w->res;
    const sl_snapshot *s = &c->snap->s;
    sl_snap_range ranges[2] = {c->rule_filters, c->backend_filters};
    size_t rn = res->reason.len < 100 ? res->reason.len : 100;
    sl_buf_append(b, "HTTP/1.1 ", 9);
    sl_buf_put_uint(b, (uint64_t)res->code);
    sl_buf_append(b, " ", 1);
    sl_buf_append(b, res->reason.ptr, rn);
    sl_buf_append(b, "\r\n", 2);
    /* A hook that turns the body into another format says so. */
    const char *hook_type = c->res_hooked && c->res_hook->content_type ? c->res_hook->content_type(c) : NULL;
    if (hook_type)
        sl_buf_printf(b, "Content-Type: %s\r\n", hook_type);
    for (size_t i = 0; i < res->nheaders; i++) {
        const sl_http1_header *h = &res->headers[i];
        if (hook_type && sl_slice_ieq_cstr(h->name, "content-type"))
            continue;
        if (h->hop || sl_headers_replaced(s, ranges, 2, SL_FILTER_RESPONSE_HEADER, h->name) ||
            sl_headers_policy_replaces(s, c->policy_res_headers, ranges, 2, SL_FILTER_RESPONSE_HEADER, h->name))
            continue;
        if (c->rl_policy && (sl_slice_ieq_cstr(h->name, "ratelimit") || sl_slice_ieq_cstr(h->name, "ratelimit-policy")))
            continue; /* the gateway's limit is the one the client meets */
        if (c->res_hooked && h->id == SL_HTTP1_H_CONTENT_LENGTH)
            continue; /* a hook's output is framed anew (sl_res_release_head) */
        if (h->name.len > 12 && strncasecmp(h->name.ptr, "x-sluice-ai-", 12) == 0 && sl_ai_backend(c))
            continue; /* the gateway's own counts: an upstream does not speak for it */
        sl_headers_put(b, h->name, h->value);
    }
    sl_headers_emit_ops(b, s, ranges, 2, SL_FILTER_RESPONSE_HEADER, NULL);
    sl_headers_emit_policy(b, s, c->policy_res_headers, ranges, 2, SL_FILTER_RESPONSE_HEADER, NULL);
    if (c->tunnel)
        sl_buf_printf(b, "Upgrade: %.*s\r\nConnection: Upgrade\r\n", (int)res->upgrade_proto.len,
                      res->upgrade_proto.ptr);
    const sl_snap_filter *cors = sl_filter_find(s, c->rule_filters, SL_FILTER_CORS);
    if (!cors)
        cors = c->policy_cors;
    if (cors && c->origin[0] && sl_cors_origin_allowed(s, cors, c->origin))
        sl_cors_headers(b, s, cors, c->origin, false, "", "");
    if (c->rl_policy)
        sl_rate_limit_fields(c, b);
    if (c->lb.session_emit)
        sl_lb_session_emit(c, b);
}

void sl_filters_before_upstream(sl_conn *c, sl_snap_range rule)
{
    const sl_snapshot *s = &c->snap->s;
    for (uint32_t i = 0; i < rule.count; i++) {
        const sl_snap_filter *f = sl_filter_at(s, rule.first + i);
        const sl_filter_ops *ops = f->type < SL_FILTER_NKINDS ? sl_filter_kinds[f->type] : NULL;
        if (ops && ops->before_upstream)
            ops->before_upstream(c, f);
    }
}

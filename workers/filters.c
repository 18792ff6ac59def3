#include "workers/filters.h"
#include "workers/h2.h"
#include "workers/tls.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/settings.h"

static sl_slice str(const sl_snapshot *s, sl_snap_str x) { return sl_slice_make(sl_snap_cstr(s, x), x.len); }

static const sl_snap_filter *filter_at(const sl_snapshot *s, uint32_t i)
{
    return SL_SNAP_GET(s, SL_SNAP_FILTERS, sl_snap_filter, i);
}

static const sl_snap_filter *find_filter(const sl_snapshot *s, sl_snap_range r, uint8_t type)
{
    for (uint32_t i = 0; i < r.count; i++)
        if (filter_at(s, r.first + i)->type == type)
            return filter_at(s, r.first + i);
    return NULL;
}

/* The path after a prefix replacement (Gateway API ReplacePrefixMatch): the
 * matched prefix is replaced, keeping exactly one '/' at the seam. */
static void replace_prefix(sl_buf *b, sl_slice path, sl_slice prefix, sl_slice replacement)
{
    sl_slice rest = path.len >= prefix.len ? sl_slice_make(path.ptr + prefix.len, path.len - prefix.len)
                                           : sl_slice_make(path.ptr, 0);
    if (prefix.len == 1 && prefix.ptr[0] == '/')
        rest = path; /* "/" matched everything; the whole path is the rest */
    while (replacement.len > 0 && replacement.ptr[replacement.len - 1] == '/')
        replacement.len--;
    size_t before = b->end;
    sl_buf_append(b, replacement.ptr, replacement.len);
    if (rest.len && rest.ptr[0] != '/')
        sl_buf_append(b, "/", 1);
    sl_buf_append(b, rest.ptr, rest.len);
    if (b->end == before)
        sl_buf_append(b, "/", 1);
}

/* Writes the path the upstream (or the redirect) gets: rewritten or as received. */
static void write_path(sl_buf *b, const sl_snapshot *s, const sl_snap_route *route, const sl_snap_filter *f,
                       sl_slice path)
{
    if (!path.len)
        path = sl_slice_from_cstr("/");
    if (f && f->path_mod == SL_PATHMOD_FULL) {
        sl_buf_append(b, sl_snap_cstr(s, f->path), f->path.len);
    } else if (f && f->path_mod == SL_PATHMOD_PREFIX && route->path_type == SL_PATH_PREFIX) {
        replace_prefix(b, path, str(s, route->path), str(s, f->path));
    } else {
        sl_buf_append(b, path.ptr, path.len);
    }
}

/* ---- redirects and CORS preflights ---- */

static bool origin_allowed(const sl_snapshot *s, const sl_snap_filter *f, const char *origin)
{
    const char *list = sl_snap_cstr(s, f->origins);
    while (*list) {
        const char *nl = strchr(list, '\n');
        size_t n = nl ? (size_t)(nl - list) : strlen(list);
        char pattern[256];
        if (n < sizeof(pattern)) {
            memcpy(pattern, list, n);
            pattern[n] = '\0';
            if (strcmp(pattern, "*") == 0 || fnmatch(pattern, origin, 0) == 0)
                return true;
        }
        list += n + (nl ? 1 : 0);
    }
    return false;
}

static bool list_has_star(const sl_snapshot *s, sl_snap_str list)
{
    const char *l = sl_snap_cstr(s, list);
    return strcmp(l, "*") == 0 || strncmp(l, "*\n", 2) == 0 || strstr(l, "\n*\n") ||
           (strlen(l) >= 2 && strcmp(l + strlen(l) - 2, "\n*") == 0);
}

/* Appends a list (one item per line) as a comma-separated header value. */
static void append_list(sl_buf *b, const sl_snapshot *s, sl_snap_str list)
{
    const char *l = sl_snap_cstr(s, list);
    for (const char *p = l; *p; p++) {
        if (*p == '\n')
            sl_buf_append(b, ", ", 2);
        else
            sl_buf_append(b, p, 1);
    }
}

/* The CORS headers of an answer to an allowed origin. The origin is echoed (with
 * Vary: Origin) rather than "*", which also works with credentials. A "*" in the
 * allowed methods or headers is answered with what the preflight asked for, since
 * browsers do not take "*" for requests with credentials. */
static void cors_headers(sl_buf *b, const sl_snapshot *s, const sl_snap_filter *f, const char *origin, bool preflight,
                         const char *requested_method, const char *requested_headers)
{
    sl_buf_printf(b, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", origin);
    if (f->credentials)
        sl_buf_append(b, "Access-Control-Allow-Credentials: true\r\n", 40);
    if (f->expose.len) {
        sl_buf_append(b, "Access-Control-Expose-Headers: ", 31);
        append_list(b, s, f->expose);
        sl_buf_append(b, "\r\n", 2);
    }
    if (!preflight)
        return;
    sl_buf_append(b, "Access-Control-Allow-Methods: ", 30);
    if (list_has_star(s, f->methods) && requested_method[0])
        sl_buf_append(b, requested_method, strlen(requested_method));
    else if (f->methods.len)
        append_list(b, s, f->methods);
    else
        sl_buf_append(b, "GET, HEAD, POST", 15);
    sl_buf_append(b, "\r\n", 2);
    if (f->headers.len) {
        sl_buf_append(b, "Access-Control-Allow-Headers: ", 30);
        if (list_has_star(s, f->headers) && requested_headers[0])
            sl_buf_append(b, requested_headers, strlen(requested_headers));
        else
            append_list(b, s, f->headers);
        sl_buf_append(b, "\r\n", 2);
    }
    if (f->max_age)
        sl_buf_printf(b, "Access-Control-Max-Age: %u\r\n", f->max_age);
}

static bool answer_redirect(sl_conn *c, const sl_snap_route *route, const sl_snap_filter *f)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_http1_request *req = &c->w->req;
    const char *scheme = f->scheme.len ? sl_snap_cstr(s, f->scheme) : c->secure ? "https" : "http";
    /* The host without its port. */
    sl_slice host = req->host;
    const char *colon = memchr(host.ptr, ':', host.len);
    if (colon && host.ptr[0] != '[')
        host.len = (size_t)(colon - host.ptr);
    if (f->hostname.len)
        host = str(s, f->hostname);
    unsigned port = f->port;
    if (!port) {
        if (f->scheme.len)
            port = strcmp(scheme, "https") == 0 ? 443 : strcmp(scheme, "http") == 0 ? 80 : c->w->args.sockets[c->listener].port;
        else
            port = c->w->args.sockets[c->listener].port;
    }
    bool default_port = (strcmp(scheme, "http") == 0 && port == 80) || (strcmp(scheme, "https") == 0 && port == 443);
    sl_buf loc;
    if (sl_buf_alloc(&loc, 2048 + req->target.len) != 0) {
        sl_conn_respond(c, 503, "out of memory\n", true);
        return true;
    }
    sl_buf_printf(&loc, "%s://%.*s", scheme, (int)host.len, host.ptr);
    if (!default_port)
        sl_buf_printf(&loc, ":%u", port);
    write_path(&loc, s, route, f->path_mod ? f : NULL, req->path);
    if (req->query.ptr) {
        sl_buf_append(&loc, "?", 1);
        sl_buf_append(&loc, req->query.ptr, req->query.len);
    }
    sl_buf_append(&loc, "", 1);
    char extra[2200];
    snprintf(extra, sizeof(extra), "Location: %s\r\n", loc.data);
    sl_buf_free(&loc);
    sl_conn_respond_with(c, f->status ? f->status : 302, extra, "", false);
    return true;
}

bool sl_filters_answer(sl_conn *c, const sl_snap_route *route, const sl_snap_action *a)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_http1_request *req = &c->w->req;
    const sl_snap_filter *cors = find_filter(s, a->filters, SL_FILTER_CORS);
    const sl_http1_header *origin = sl_http1_request_header(req, "origin");
    if (cors && origin) {
        snprintf(c->origin, sizeof(c->origin), "%.*s", (int)origin->value.len, origin->value.ptr);
        const sl_http1_header *acrm = sl_http1_request_header(req, "access-control-request-method");
        if (req->meth == SL_HTTP1_METHOD_OPTIONS && acrm) {
            char extra[2048] = "";
            if (origin_allowed(s, cors, c->origin)) {
                const sl_http1_header *acrh = sl_http1_request_header(req, "access-control-request-headers");
                char requested[512] = "", method[64];
                if (acrh)
                    snprintf(requested, sizeof(requested), "%.*s", (int)acrh->value.len, acrh->value.ptr);
                snprintf(method, sizeof(method), "%.*s", (int)acrm->value.len, acrm->value.ptr);
                sl_buf b = {extra, sizeof(extra), 0, 0};
                cors_headers(&b, s, cors, c->origin, true, method, requested);
                extra[b.end < sizeof(extra) ? b.end : sizeof(extra) - 1] = '\0';
            }
            sl_conn_respond_with(c, 200, extra, "", false);
            return true;
        }
    }
    const sl_snap_filter *redirect = find_filter(s, a->filters, SL_FILTER_REDIRECT);
    if (redirect)
        return answer_redirect(c, route, redirect);
    return false;
}

/* ---- header modifiers ---- */

/* True when a RequestHeaderModifier/ResponseHeaderModifier of `type` in either
 * range sets or removes `name` (so the received field is dropped). */
static bool replaced(const sl_snapshot *s, const sl_snap_range *ranges, int nranges, uint8_t type, sl_slice name)
{
    for (int k = 0; k < nranges; k++)
        for (uint32_t i = 0; i < ranges[k].count; i++) {
            const sl_snap_filter *f = filter_at(s, ranges[k].first + i);
            if (f->type == type && (f->op == SL_HDR_SET || f->op == SL_HDR_REMOVE) &&
                sl_slice_ieq(name, str(s, f->name)))
                return true;
        }
    return false;
}

static void emit_header_ops(sl_buf *b, const sl_snapshot *s, const sl_snap_range *ranges, int nranges, uint8_t type,
                            bool skip_host)
{
    for (int op = SL_HDR_SET; op <= SL_HDR_ADD; op++)
        for (int k = 0; k < nranges; k++)
            for (uint32_t i = 0; i < ranges[k].count; i++) {
                const sl_snap_filter *f = filter_at(s, ranges[k].first + i);
                if (f->type != type || f->op != op)
                    continue;
                if (skip_host && sl_slice_ieq_cstr(str(s, f->name), "host"))
                    continue;
                sl_buf_printf(b, "%s: %s\r\n", sl_snap_cstr(s, f->name), sl_snap_cstr(s, f->value));
            }
}

static void put_header(sl_buf *b, sl_slice name, sl_slice value)
{
    sl_buf_append(b, name.ptr, name.len);
    sl_buf_append(b, ": ", 2);
    sl_buf_append(b, value.ptr, value.len);
    sl_buf_append(b, "\r\n", 2);
}

bool sl_filters_request_head(sl_conn *c, const sl_snap_route *route, sl_snap_range rule, sl_snap_range backend)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_http1_request *req = &c->w->req;
    sl_buf *b = &c->uout;
    b->start = b->end = 0;
    sl_snap_range ranges[2] = {rule, backend};
    const sl_snap_filter *rewrite = find_filter(s, rule, SL_FILTER_REWRITE);
    sl_buf_append(b, req->method.ptr, req->method.len);
    sl_buf_append(b, " ", 1);
    if (req->form == SL_HTTP1_FORM_ASTERISK) {
        sl_buf_append(b, "*", 1);
    } else {
        write_path(b, s, route, rewrite && rewrite->path_mod ? rewrite : NULL, req->path);
        if (req->query.ptr) {
            sl_buf_append(b, "?", 1);
            sl_buf_append(b, req->query.ptr, req->query.len);
        }
    }
    /* Host: a header modifier's value, else the rewrite's hostname, else as received. */
    sl_slice host = req->host;
    if (rewrite && rewrite->hostname.len)
        host = str(s, rewrite->hostname);
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < ranges[k].count; i++) {
            const sl_snap_filter *f = filter_at(s, ranges[k].first + i);
            if (f->type == SL_FILTER_REQUEST_HEADER && f->op == SL_HDR_SET && sl_slice_ieq_cstr(str(s, f->name), "host"))
                host = str(s, f->value);
        }
    sl_buf_append(b, " HTTP/1.1\r\nHost: ", 17);
    sl_buf_append(b, host.ptr, host.len);
    sl_buf_append(b, "\r\n", 2);
    for (size_t i = 0; i < req->nheaders; i++) {
        const sl_http1_header *h = &req->headers[i];
        if (h->hop || h->id == SL_HTTP1_H_HOST || h->id == SL_HTTP1_H_EXPECT)
            continue;
        if (sl_slice_ieq_cstr(h->name, "x-forwarded-for") || sl_slice_ieq_cstr(h->name, "forwarded") ||
            sl_slice_ieq_cstr(h->name, "x-forwarded-proto") || sl_slice_ieq_cstr(h->name, "x-forwarded-host") ||
            sl_slice_ieq_cstr(h->name, "x-forwarded-client-cert"))
            continue; /* rewritten below (a client's own client-cert claim is never passed on) */
        if (replaced(s, ranges, 2, SL_FILTER_REQUEST_HEADER, h->name))
            continue;
        put_header(b, h->name, h->value);
    }
    emit_header_ops(b, s, ranges, 2, SL_FILTER_REQUEST_HEADER, true);
    if (req->upgrade) {
        /* Hop-by-hop, but the upstream must see the request to switch protocols. */
        sl_buf_printf(b, "Upgrade: %.*s\r\nConnection: Upgrade\r\n", (int)req->upgrade_proto.len,
                      req->upgrade_proto.ptr);
    }
    if (req->body == SL_HTTP1_BODY_CHUNKED)
        sl_buf_append(b, "Transfer-Encoding: chunked\r\n", 28);
    /* X-Forwarded-For and Forwarded: every received line in order (repeated lines
     * are one list), then this hop. */
    bool v6 = strchr(c->peer, ':') != NULL;
    static const char *const chained[] = {"x-forwarded-for", "forwarded"};
    for (int k = 0; k < 2; k++) {
        sl_buf_append(b, k == 0 ? "X-Forwarded-For: " : "Forwarded: ", k == 0 ? 17 : 11);
        for (size_t i = 0; i < req->nheaders; i++) {
            const sl_http1_header *h = &req->headers[i];
            if (!sl_slice_ieq_cstr(h->name, chained[k]) || !h->value.len)
                continue;
            sl_buf_append(b, h->value.ptr, h->value.len);
            sl_buf_append(b, ", ", 2);
        }
        if (k == 0) {
            sl_buf_puts(b, c->peer);
            sl_buf_append(b, "\r\n", 2);
        } else {
            sl_buf_append(b, "for=", 4);
            if (v6)
                sl_buf_append(b, "\"[", 2);
            sl_buf_puts(b, c->peer);
            if (v6)
                sl_buf_append(b, "]\"", 2);
            sl_buf_append(b, ";host=\"", 7);
            sl_buf_put_slice(b, req->host);
            sl_buf_puts(b, c->secure ? "\";proto=https\r\n" : "\";proto=http\r\n");
        }
    }
    sl_buf_puts(b, c->secure ? "X-Forwarded-Proto: https\r\nX-Forwarded-Host: " : "X-Forwarded-Proto: http\r\nX-Forwarded-Host: ");
    sl_buf_put_slice(b, req->host);
    sl_buf_append(b, "\r\n", 2);
    SSL *ssl = c->secure ? sl_h2_stream_ssl(c) : NULL;
    char xfcc[600];
    if (ssl && sl_tls_client_cert_header(ssl, xfcc, sizeof(xfcc)))
        sl_buf_printf(b, "X-Forwarded-Client-Cert: %s\r\n", xfcc);
    return sl_buf_append(b, "\r\n", 2);
}

void sl_filters_response_head(sl_conn *c)
{
    const sl_http1_response *res = &c->w->res;
    const sl_snapshot *s = &c->snap->s;
    sl_snap_range ranges[2] = {c->rule_filters, c->backend_filters};
    sl_buf *b = &c->out;
    size_t rn = res->reason.len < 100 ? res->reason.len : 100;
    sl_buf_append(b, "HTTP/1.1 ", 9);
    sl_buf_put_uint(b, (uint64_t)res->code);
    sl_buf_append(b, " ", 1);
    sl_buf_append(b, res->reason.ptr, rn);
    sl_buf_append(b, "\r\n", 2);
    for (size_t i = 0; i < res->nheaders; i++) {
        const sl_http1_header *h = &res->headers[i];
        if (h->hop || replaced(s, ranges, 2, SL_FILTER_RESPONSE_HEADER, h->name))
            continue;
        put_header(b, h->name, h->value);
    }
    emit_header_ops(b, s, ranges, 2, SL_FILTER_RESPONSE_HEADER, false);
    if (c->tunnel)
        sl_buf_printf(b, "Upgrade: %.*s\r\nConnection: Upgrade\r\n", (int)res->upgrade_proto.len,
                      res->upgrade_proto.ptr);
    const sl_snap_filter *cors = find_filter(s, c->rule_filters, SL_FILTER_CORS);
    if (cors && c->origin[0] && origin_allowed(s, cors, c->origin))
        cors_headers(b, s, cors, c->origin, false, "", "");
}

/* ---- mirrors ---- */

void sl_filters_mirror(sl_conn *c, sl_snap_range rule)
{
    const sl_snapshot *s = &c->snap->s;
    for (uint32_t i = 0; i < rule.count; i++) {
        const sl_snap_filter *f = filter_at(s, rule.first + i);
        if (f->type != SL_FILTER_MIRROR || f->backend == SL_SNAP_NONE)
            continue;
        if ((uint32_t)(rand() % (int)f->denominator) >= f->numerator)
            continue;
        sl_mirror_send(c, f->backend);
    }
}

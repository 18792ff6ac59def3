/* HTTP/1 response heads from upstreams: status line (RFC 9112 4) and body
 * framing (RFC 9112 6.3). Errors here are the upstream's; the proxy answers
 * the client with 502 and closes the upstream connection. */
#include "workers/http1_internal.h"

static inline int res_fail(sl_http1_response *res, const char *msg)
{
    res->error = msg;
    return SL_ERR;
}

const sl_http1_header *sl_http1_response_header(const sl_http1_response *res, const char *name)
{
    for (size_t i = 0; i < res->nheaders; i++)
        if (sl_slice_ieq_cstr(res->headers[i].name, name))
            return &res->headers[i];
    return NULL;
}

int sl_http1_parse_response(const char *buf, size_t len, sl_http1_scan *scan,
                            sl_http1_response *res, const sl_http1_limits *lim,
                            sl_http1_method req_method)
{
    sl_http1_scan local = {0, 0};
    sl_h1_err e = {NULL, 0};
    size_t start = 0, head_len = 0;
    lim = sl_h1_limits(lim);
    if (!scan)
        scan = &local;
    res->error = NULL;

    int rc = sl_h1_scan(buf, len, scan, lim->max_head, false, &start, &head_len, &e);
    if (rc == SL_AGAIN) {
        /* Refuse a non-HTTP answer early: the first bytes must be "HTTP/". */
        size_t n = len < 5 ? len : 5;
        if (memcmp(buf, "HTTP/", n) != 0)
            return res_fail(res, "not an HTTP/1 response");
        return SL_AGAIN;
    }
    if (rc == SL_ERR)
        return res_fail(res, e.msg);

    const char *p = buf, *end = buf + head_len;

    /* HTTP-version SP 3DIGIT SP reason CRLF (a missing SP before an empty
     * reason is tolerated). */
    if (end - p < 14 || memcmp(p, "HTTP/", 5) != 0 || !sl_h1_is((unsigned char)p[5], SL_H1_DIGIT) ||
        p[6] != '.' || !sl_h1_is((unsigned char)p[7], SL_H1_DIGIT) || p[8] != ' ')
        return res_fail(res, "malformed status line");
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return res_fail(res, "unsupported HTTP version in response");
    res->version_minor = p[7] - '0';
    p += 9;
    if (!sl_h1_is((unsigned char)p[0], SL_H1_DIGIT) || !sl_h1_is((unsigned char)p[1], SL_H1_DIGIT) ||
        !sl_h1_is((unsigned char)p[2], SL_H1_DIGIT))
        return res_fail(res, "malformed status code");
    res->code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    if (res->code < 100 || res->code > 599)
        return res_fail(res, "status code out of range");
    p += 3;
    if (*p == ' ')
        p++;
    else if (*p != '\r')
        return res_fail(res, "malformed status line");
    const char *r = p;
    while (sl_h1_is((unsigned char)*p, SL_H1_FVAL))
        p++;
    if (*p != '\r')
        return res_fail(res, "invalid character in reason phrase");
    if (p[1] != '\n')
        return res_fail(res, "bare CR in status line");
    res->reason.ptr = r;
    res->reason.len = (size_t)(p - r);
    p += 2;

    sl_h1_fields f;
    memset(&f, 0, sizeof f);
    f.conn = res->conn_tokens;
    rc = sl_h1_parse_fields(p, end, res->headers, &res->nheaders, lim->max_headers, &f, &e);
    if (rc != SL_OK)
        return res_fail(res, e.msg);
    res->nconn_tokens = f.nconn;

    /* Framing: the same refusals as for requests, then RFC 9112 6.3. */
    if (f.has_te) {
        if (res->version_minor == 0)
            return res_fail(res, "Transfer-Encoding in an HTTP/1.0 response");
        if (f.has_cl)
            return res_fail(res, "both Content-Length and Transfer-Encoding");
        if (!f.te_chunked_last)
            return res_fail(res, "chunked is not the final transfer coding");
        if (f.te_other)
            return res_fail(res, "unsupported transfer coding");
    }
    int code = res->code;
    res->content_length = 0;
    if (req_method == SL_HTTP1_METHOD_HEAD || code < 200 || code == 204 || code == 304 ||
        (req_method == SL_HTTP1_METHOD_CONNECT && code < 300))
        res->body = SL_HTTP1_BODY_NONE;
    else if (f.has_te)
        res->body = SL_HTTP1_BODY_CHUNKED;
    else if (f.has_cl) {
        res->body = SL_HTTP1_BODY_LENGTH;
        res->content_length = f.cl;
    } else
        res->body = SL_HTTP1_BODY_CLOSE;

    bool v11 = res->version_minor == 1;
    res->keep_alive = !f.conn_close && (v11 || f.conn_keep_alive) && res->body != SL_HTTP1_BODY_CLOSE;
    res->upgrade = code == 101 && f.has_upgrade;
    res->upgrade_proto = f.upgrade;
    sl_h1_mark_connection_listed(res->headers, res->nheaders, &f);
    res->head_len = head_len;
    return SL_OK;
}

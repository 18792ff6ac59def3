/* HTTP/1 request heads: request line (RFC 9112 3), target forms (3.2), Host
 * (3.2, RFC 9110 7.2), message body framing (RFC 9112 6) and connection
 * options (RFC 9112 9). */
#include "workers/http1_internal.h"

static inline int req_fail(sl_http1_request *req, int status, const char *msg)
{
    req->status = status;
    req->error = msg;
    return SL_ERR;
}

static sl_http1_method method_id(const char *m, size_t n)
{
#define M(lit, id)                                           \
    if (n == sizeof(lit) - 1 && memcmp(m, lit, n) == 0)      \
        return id;
    switch (n) {
    case 3:
        M("GET", SL_HTTP1_METHOD_GET)
        M("PUT", SL_HTTP1_METHOD_PUT)
        break;
    case 4:
        M("POST", SL_HTTP1_METHOD_POST)
        M("HEAD", SL_HTTP1_METHOD_HEAD)
        break;
    case 5:
        M("PATCH", SL_HTTP1_METHOD_PATCH)
        M("TRACE", SL_HTTP1_METHOD_TRACE)
        break;
    case 6:
        M("DELETE", SL_HTTP1_METHOD_DELETE)
        break;
    case 7:
        M("OPTIONS", SL_HTTP1_METHOD_OPTIONS)
        M("CONNECT", SL_HTTP1_METHOD_CONNECT)
        break;
    default:
        break;
    }
#undef M
    return SL_HTTP1_METHOD_OTHER;
}

/* Checks what has arrived of the request line before the head is complete, so
 * that garbage and oversized targets are refused early. Returns SL_AGAIN or
 * SL_ERR (req->error set). too_large: the head limit was reached. */
static int early_check(const char *buf, size_t len, size_t start, const sl_http1_scan *sc,
                       const sl_http1_limits *lim, bool too_large, sl_http1_request *req)
{
    if (start + 1 == len && buf[start] == '\r')
        return SL_AGAIN; /* maybe one more empty line before the request line */
    size_t i = start, mend = len < start + SL_HTTP1_METHOD_MAX + 1 ? len : start + SL_HTTP1_METHOD_MAX + 1;
    while (i < mend && sl_h1_is((unsigned char)buf[i], SL_H1_TOKEN))
        i++;
    if (i < mend && (buf[i] != ' ' || i == start))
        return req_fail(req, 400, "invalid character in method");
    if (i == mend && len > mend)
        return req_fail(req, 400, "method too long");
    if (i < len && (too_large || len - i - 1 > lim->max_target)) {
        /* Is the target (up to the next SP, or the end of what we have of the
         * request line) already too long? */
        size_t lend = sc->line_end ? sc->line_end - 2 : len - (buf[len - 1] == '\r');
        const char *sp = memchr(buf + i + 1, ' ', lend - i - 1);
        size_t tlen = (size_t)((sp ? sp : buf + lend) - (buf + i + 1));
        if (tlen > lim->max_target || (too_large && !sp && !sc->line_end))
            return req_fail(req, 414, "request target too long");
    }
    if (too_large)
        return req_fail(req, 431, "header section too large");
    return SL_AGAIN;
}

/* Splits an origin-form remainder ("/path?query" or "?query" or "") into path and query. */
static void split_path_query(sl_http1_request *req, const char *p, const char *end)
{
    const char *q = memchr(p, '?', (size_t)(end - p));
    req->path.ptr = p;
    req->path.len = (size_t)((q ? q : end) - p);
    if (q) {
        req->query.ptr = q + 1;
        req->query.len = (size_t)(end - q - 1);
    }
}

/* Classifies the target and fills form, scheme, path, query and (for the
 * absolute and authority forms) host. */
static int parse_target(sl_http1_request *req)
{
    const char *t = req->target.ptr, *end = t + req->target.len;
    size_t n = req->target.len;
    if (req->meth == SL_HTTP1_METHOD_CONNECT) {
        if (!sl_h1_valid_authority(t, n, true, false))
            return req_fail(req, 400, "CONNECT needs an authority-form target (host:port)");
        req->form = SL_HTTP1_FORM_AUTHORITY;
        req->host = req->target;
        return SL_OK;
    }
    if (t[0] == '/') {
        req->form = SL_HTTP1_FORM_ORIGIN;
        split_path_query(req, t, end);
        return SL_OK;
    }
    if (n == 1 && t[0] == '*') {
        if (req->meth != SL_HTTP1_METHOD_OPTIONS)
            return req_fail(req, 400, "asterisk-form target is only for OPTIONS");
        req->form = SL_HTTP1_FORM_ASTERISK;
        return SL_OK;
    }
    /* absolute-form: scheme "://" authority path-abempty [ "?" query ] */
    const char *p = t;
    while (p < end && ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
        p++;
    req->scheme.ptr = t;
    req->scheme.len = (size_t)(p - t);
    if (!(SL_H1_IEQ(t, req->scheme.len, "http") || SL_H1_IEQ(t, req->scheme.len, "https")))
        return req_fail(req, 400, "invalid request target");
    if (end - p < 3 || memcmp(p, "://", 3) != 0)
        return req_fail(req, 400, "invalid request target");
    p += 3;
    const char *a = p;
    while (p < end && *p != '/' && *p != '?')
        p++;
    if (!sl_h1_valid_authority(a, (size_t)(p - a), false, false))
        return req_fail(req, 400, "invalid authority in request target");
    req->form = SL_HTTP1_FORM_ABSOLUTE;
    req->host.ptr = a;
    req->host.len = (size_t)(p - a);
    split_path_query(req, p, end);
    return SL_OK;
}

/* Skips request-target bytes: VCHAR except '#', a word at a time when possible.
 * Stops at the first other byte; a CR is always found before end. */
static inline const char *skip_target(const char *p, const char *end)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - p >= 8) {
        uint64_t x, y, z;
        memcpy(&x, p, 8);
        y = x ^ (ones * 0x7f);
        z = x ^ (ones * '#');
        if ((((x - ones * 0x21) & ~x) | ((y - ones) & ~y) | ((z - ones) & ~z) | x) & highs)
            break;
        p += 8;
    }
    while (sl_h1_is((unsigned char)*p, SL_H1_TARGET))
        p++;
    return p;
}

int sl_http1_parse_request(const char *buf, size_t len, sl_http1_scan *scan,
                           sl_http1_request *req, const sl_http1_limits *lim)
{
    sl_http1_scan local = {0, 0};
    sl_h1_err e = {NULL, 0};
    size_t start = 0, head_len = 0;
    lim = sl_h1_limits(lim);
    if (!scan)
        scan = &local;
    req->error = NULL;
    req->status = 0;

    int rc = sl_h1_scan(buf, len, scan, lim->max_head, true, &start, &head_len, &e);
    if (rc == SL_AGAIN)
        return early_check(buf, len, start, scan, lim, false, req);
    if (rc == SL_ERR) {
        if (e.status == 431)
            return early_check(buf, len, start, scan, lim, true, req);
        return req_fail(req, e.status, e.msg);
    }

    const char *p = buf + start, *end = buf + head_len;

    /* method SP */
    const char *m = p;
    while (sl_h1_is((unsigned char)*p, SL_H1_TOKEN))
        p++;
    if (*p != ' ' || p == m)
        return req_fail(req, 400, *p == '\r' ? "incomplete request line" : "invalid character in method");
    if (p - m > SL_HTTP1_METHOD_MAX)
        return req_fail(req, 400, "method too long");
    req->method.ptr = m;
    req->method.len = (size_t)(p - m);
    req->meth = method_id(m, req->method.len);
    p++;

    /* request-target SP */
    const char *t = p;
    p = skip_target(p, end);
    if (p == t)
        return req_fail(req, 400, *p == ' ' ? "extra space in request line" : "invalid request target");
    if ((size_t)(p - t) > lim->max_target)
        return req_fail(req, 414, "request target too long");
    if (*p != ' ')
        return req_fail(req, 400, *p == '\r' ? "missing HTTP version" : "invalid character in request target");
    req->target.ptr = t;
    req->target.len = (size_t)(p - t);
    p++;

    /* HTTP-version CRLF: exactly "HTTP/" DIGIT "." DIGIT */
    if (end - p < 10 || memcmp(p, "HTTP/", 5) != 0 || !sl_h1_is((unsigned char)p[5], SL_H1_DIGIT) ||
        p[6] != '.' || !sl_h1_is((unsigned char)p[7], SL_H1_DIGIT) || p[8] != '\r')
        return req_fail(req, 400, "malformed HTTP version");
    if (p[9] != '\n')
        return req_fail(req, 400, "bare CR in request line");
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return req_fail(req, 505, "HTTP version not supported");
    req->version_minor = p[7] - '0';
    p += 10;

    /* field lines */
    sl_h1_fields f;
    memset(&f, 0, sizeof f);
    f.conn = req->conn_tokens;
    rc = sl_h1_parse_fields(p, end, req->headers, &req->nheaders, lim->max_headers, &f, &e);
    if (rc != SL_OK)
        return req_fail(req, e.status, e.msg);
    req->nconn_tokens = f.nconn;

    /* target form, host */
    req->scheme.ptr = req->path.ptr = req->query.ptr = req->host.ptr = NULL;
    req->scheme.len = req->path.len = req->query.len = req->host.len = 0;
    if (parse_target(req) != SL_OK)
        return SL_ERR;
    if (f.nhost > 1)
        return req_fail(req, 400, "more than one Host header field");
    if (f.nhost == 0 && req->version_minor == 1)
        return req_fail(req, 400, "missing Host header field");
    if (f.nhost == 1) {
        bool target_has_authority = req->form == SL_HTTP1_FORM_ABSOLUTE || req->form == SL_HTTP1_FORM_AUTHORITY;
        if (!sl_h1_valid_authority(f.host.ptr, f.host.len, false, target_has_authority))
            return req_fail(req, 400, "invalid Host header field");
        if (!target_has_authority)
            req->host = f.host;
    }

    /* body framing (RFC 9112 6.1, 6.3) */
    if (f.has_te) {
        if (req->version_minor == 0)
            return req_fail(req, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (f.has_cl)
            return req_fail(req, 400, "both Content-Length and Transfer-Encoding");
        if (!f.te_chunked_last)
            return req_fail(req, 400, "chunked is not the final transfer coding");
        if (f.te_other)
            return req_fail(req, 501, "unsupported transfer coding");
        req->body = SL_HTTP1_BODY_CHUNKED;
        req->content_length = 0;
    } else if (f.has_cl) {
        req->body = SL_HTTP1_BODY_LENGTH;
        req->content_length = f.cl;
    } else {
        req->body = SL_HTTP1_BODY_NONE;
        req->content_length = 0;
    }

    /* connection options */
    bool v11 = req->version_minor == 1;
    req->keep_alive = !f.conn_close && (v11 || f.conn_keep_alive);
    req->expect_continue = v11 && f.expect_continue;
    req->upgrade = v11 && f.conn_upgrade && f.has_upgrade;
    req->upgrade_proto = f.upgrade;
    sl_h1_mark_connection_listed(req->headers, req->nheaders, &f);
    req->head_len = head_len;
    return SL_OK;
}

const sl_http1_header *sl_http1_request_header(const sl_http1_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (sl_slice_ieq_cstr(req->headers[i].name, name))
            return &req->headers[i];
    return NULL;
}

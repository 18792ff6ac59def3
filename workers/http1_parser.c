/* HTTP/1 parser, shared part: character tables, the resumable end-of-head scan,
 * field-line parsing with the Content-Length / Transfer-Encoding / Connection
 * bookkeeping, authority syntax, and chunk-header encoding. The start lines
 * live in http1_request.c and http1_response.c, bodies in http1_chunked.c. */
#include "workers/http1_internal.h"

const sl_http1_limits sl_http1_default_limits = SL_HTTP1_LIMITS_DEFAULT;

/* Generated from the RFC 9110 / RFC 3986 ABNF; bits are the SL_H1_* classes. */
const uint8_t sl_h1_class[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x00 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x10 */
    0x42, 0x4f, 0x06, 0x43, 0x4f, 0x4f, 0x4f, 0x4f, 0x4e, 0x4e, 0x4f, 0x4f, 0x46, 0x4f, 0x4f, 0x46, /* 0x20 */
    0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x46, 0x4e, 0x46, 0x4e, 0x46, 0x46, /* 0x30 */
    0x46, 0x5f, 0x5f, 0x5f, 0x5f, 0x5f, 0x5f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, /* 0x40 */
    0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x46, 0x06, 0x46, 0x47, 0x4f, /* 0x50 */
    0x47, 0x5f, 0x5f, 0x5f, 0x5f, 0x5f, 0x5f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, /* 0x60 */
    0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x46, 0x47, 0x46, 0x4f, 0x00, /* 0x70 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0x80 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0x90 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0xa0 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0xb0 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0xc0 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0xd0 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0xe0 */
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, /* 0xf0 */
};

static inline int fail(sl_h1_err *e, int status, const char *msg)
{
    e->status = status;
    e->msg = msg;
    return SL_ERR;
}

/* ---- End of head ---- */

#define MAX_LEADING_EMPTY_LINES 8

/* Offset of the first LF in buf[i..limit), or limit. Lines in a head are short,
 * so an inline word-at-a-time loop beats a memchr call per line. */
static inline size_t find_lf(const char *buf, size_t i, size_t limit)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (limit - i >= 8) {
        uint64_t x;
        memcpy(&x, buf + i, 8);
        x ^= ones * '\n';
        uint64_t m = (x - ones) & ~x & highs; /* lowest set bit marks the first LF */
        if (m)
            return i + (size_t)(__builtin_ctzll(m) >> 3);
        i += 8;
    }
    while (i < limit && buf[i] != '\n')
        i++;
    return i;
#else
    const char *q = memchr(buf + i, '\n', limit - i);
    return q ? (size_t)(q - buf) : limit;
#endif
}

int sl_h1_scan(const char *buf, size_t len, sl_http1_scan *sc, size_t max_head,
               bool skip_empty, size_t *start, size_t *head_len, sl_h1_err *e)
{
    size_t s = 0;
    if (skip_empty) {
        /* RFC 9112 2.2: ignore empty lines before a request line (bounded). */
        for (int n = 0; s + 1 < len && buf[s] == '\r' && buf[s + 1] == '\n'; n++) {
            if (n == MAX_LEADING_EMPTY_LINES)
                return fail(e, 400, "too many empty lines before the request line");
            s += 2;
        }
        if (s + 1 == len && buf[s] == '\r') {
            *start = s;
            return SL_AGAIN;
        }
    }
    *start = s;
    size_t limit = len < max_head ? len : max_head;
    size_t i = sc->pos > s ? sc->pos : s;
    while (i < limit) {
        size_t k = find_lf(buf, i, limit);
        if (k == limit) {
            i = limit;
            break;
        }
        if (k == s || buf[k - 1] != '\r')
            return fail(e, 400, "bare LF line terminator");
        if (sc->line_end == 0) {
            sc->line_end = k + 1;
        } else if (buf[k - 2] == '\n') {
            /* k - 2 > s here: the start line ended before. */
            sc->pos = k + 1;
            *head_len = k + 1;
            return SL_OK;
        }
        i = k + 1;
    }
    sc->pos = i;
    if (len >= max_head)
        return fail(e, 431, "header section too large");
    return SL_AGAIN;
}

/* ---- Lists (RFC 9110 5.6.1) ---- */

typedef struct list_iter {
    const char *p, *end;
    bool done;
} list_iter;

/* Next comma-separated member with OWS trimmed; empty members are returned
 * (callers decide). False once the list is exhausted. */
static bool list_next(list_iter *l, sl_slice *out)
{
    if (l->done)
        return false;
    const char *c = memchr(l->p, ',', (size_t)(l->end - l->p));
    const char *b = l->p, *e = c ? c : l->end;
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    out->ptr = b;
    out->len = (size_t)(e - b);
    if (c)
        l->p = c + 1;
    else
        l->done = true;
    return true;
}

static bool is_token(sl_slice s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!sl_h1_is((unsigned char)s.ptr[i], SL_H1_TOKEN))
            return false;
    return true;
}

/* ---- Interpreted fields ---- */

/* The first member of a field's list value (the value itself when it has one). */
static sl_slice first_list_member(sl_slice v)
{
    list_iter it = {v.ptr, v.ptr + v.len, false};
    sl_slice m;
    return list_next(&it, &m) ? m : v;
}

static int on_content_length(sl_slice v, sl_h1_fields *f, sl_h1_err *e)
{
    list_iter it = {v.ptr, v.ptr + v.len, false};
    sl_slice m;
    while (list_next(&it, &m)) {
        if (m.len == 0)
            return fail(e, 400, "invalid Content-Length");
        if (m.len > 18)
            return fail(e, 400, "Content-Length too large");
        uint64_t n = 0;
        for (size_t i = 0; i < m.len; i++) {
            unsigned char c = (unsigned char)m.ptr[i];
            if (c < '0' || c > '9')
                return fail(e, 400, "invalid Content-Length");
            n = n * 10 + (c - '0');
        }
        if (f->has_cl && n != f->cl)
            return fail(e, 400, "conflicting Content-Length values");
        f->has_cl = true;
        f->cl = n;
    }
    return SL_OK;
}

static int on_transfer_encoding(sl_slice v, sl_h1_fields *f, sl_h1_err *e)
{
    list_iter it = {v.ptr, v.ptr + v.len, false};
    sl_slice m;
    f->has_te = true;
    while (list_next(&it, &m)) {
        if (m.len == 0)
            return fail(e, 400, "empty Transfer-Encoding member");
        if (SL_H1_IEQ(m.ptr, m.len, "chunked")) {
            if (f->te_chunked_last)
                return fail(e, 400, "chunked applied more than once");
            f->te_chunked_last = true;
        } else {
            if (f->te_chunked_last)
                return fail(e, 400, "chunked is not the final transfer coding");
            if (!sl_h1_is((unsigned char)m.ptr[0], SL_H1_TOKEN))
                return fail(e, 400, "invalid transfer coding");
            f->te_other = true;
        }
    }
    return SL_OK;
}

static int on_connection(sl_slice v, sl_h1_fields *f, sl_h1_err *e)
{
    list_iter it = {v.ptr, v.ptr + v.len, false};
    sl_slice m;
    while (list_next(&it, &m)) {
        if (m.len == 0)
            continue;
        if (!is_token(m))
            return fail(e, 400, "invalid Connection option");
        if (SL_H1_IEQ(m.ptr, m.len, "close"))
            f->conn_close = true;
        else if (SL_H1_IEQ(m.ptr, m.len, "keep-alive"))
            f->conn_keep_alive = true;
        else if (SL_H1_IEQ(m.ptr, m.len, "upgrade"))
            f->conn_upgrade = true;
        else
            f->conn_other++;
        if (f->nconn == SL_HTTP1_CONN_TOKENS_CAP)
            return fail(e, 400, "too many Connection options");
        f->conn[f->nconn++] = m;
    }
    return SL_OK;
}

/* Identifies the interpreted fields by length, then by name. */
static uint8_t header_id(const char *n, size_t len)
{
    switch (len) {
    case 2:
        return SL_H1_IEQ(n, len, "te") ? SL_HTTP1_H_TE : SL_HTTP1_H_OTHER;
    case 4:
        return SL_H1_IEQ(n, len, "host") ? SL_HTTP1_H_HOST : SL_HTTP1_H_OTHER;
    case 6:
        return SL_H1_IEQ(n, len, "expect") ? SL_HTTP1_H_EXPECT : SL_HTTP1_H_OTHER;
    case 7:
        if (SL_H1_IEQ(n, len, "upgrade"))
            return SL_HTTP1_H_UPGRADE;
        return SL_H1_IEQ(n, len, "trailer") ? SL_HTTP1_H_TRAILER : SL_HTTP1_H_OTHER;
    case 10:
        if (SL_H1_IEQ(n, len, "connection"))
            return SL_HTTP1_H_CONNECTION;
        return SL_H1_IEQ(n, len, "keep-alive") ? SL_HTTP1_H_KEEP_ALIVE : SL_HTTP1_H_OTHER;
    case 14:
        return SL_H1_IEQ(n, len, "content-length") ? SL_HTTP1_H_CONTENT_LENGTH : SL_HTTP1_H_OTHER;
    case 16:
        return SL_H1_IEQ(n, len, "proxy-connection") ? SL_HTTP1_H_PROXY_CONNECTION : SL_HTTP1_H_OTHER;
    case 17:
        return SL_H1_IEQ(n, len, "transfer-encoding") ? SL_HTTP1_H_TRANSFER_ENCODING : SL_HTTP1_H_OTHER;
    default:
        return SL_HTTP1_H_OTHER;
    }
}

/* Word-at-a-time helpers: does any byte of x fall below n (n <= 128)? */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static inline uint64_t has_less(uint64_t x, unsigned n) { return (x - ONES * n) & ~x & HIGHS; }
static inline uint64_t has_byte(uint64_t x, unsigned b) { return has_less(x ^ (ONES * b), 1); }

/* Skips field-value bytes; stops at the first byte that is not one. The
 * caller guarantees a CR before end, so the byte loop stops in bounds. */
static inline const char *skip_value(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        if (has_less(x, 0x20) | has_byte(x, 0x7f))
            break;
        p += 8;
    }
    while (sl_h1_is((unsigned char)*p, SL_H1_FVAL))
        p++;
    return p;
}

int sl_h1_parse_fields(const char *p, const char *end, sl_http1_header *hdrs, size_t *nheaders,
                       size_t max_headers, sl_h1_fields *f, sl_h1_err *e)
{
    size_t n = 0;
    if (max_headers > SL_HTTP1_HEADERS_CAP)
        max_headers = SL_HTTP1_HEADERS_CAP;
    for (;;) {
        /* The head ends with CRLFCRLF, so every loop below stops before end. */
        if (*p == '\r') {
            if (p[1] != '\n' || p + 2 != end)
                return fail(e, 400, "bare CR in header section");
            *nheaders = n;
            return SL_OK;
        }
        if (*p == ' ' || *p == '\t')
            return fail(e, 400, "obsolete line folding");
        const char *name = p;
        while (sl_h1_is((unsigned char)*p, SL_H1_TOKEN))
            p++;
        if (*p != ':') {
            if (*p == ' ' || *p == '\t')
                return fail(e, 400, "whitespace before colon in header field");
            return fail(e, 400, "invalid character in header field name");
        }
        if (p == name)
            return fail(e, 400, "empty header field name");
        size_t name_len = (size_t)(p - name);
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *v = p;
        p = skip_value(p, end);
        if (*p != '\r')
            return fail(e, 400, "invalid character in header field value");
        if (p[1] != '\n')
            return fail(e, 400, "bare CR in header section");
        const char *ve = p;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        p += 2;
        if (n == max_headers)
            return fail(e, 431, "too many header fields");
        sl_http1_header *h = &hdrs[n++];
        h->name.ptr = name;
        h->name.len = name_len;
        h->value.ptr = v;
        h->value.len = (size_t)(ve - v);
        h->id = header_id(name, name_len);
        h->hop = false;
        int rc = SL_OK;
        switch (h->id) {
        case SL_HTTP1_H_OTHER:
            continue;
        case SL_HTTP1_H_HOST:
            if (f->nhost++ == 0)
                f->host = h->value;
            break;
        case SL_HTTP1_H_CONTENT_LENGTH:
            /* "5, 5" or a repeated line is one length (RFC 9110 8.6): forward
             * a single "Content-Length: 5", never the list a recipient might
             * read differently. */
            h->hop = f->has_cl;
            rc = on_content_length(h->value, f, e);
            if (rc == SL_OK)
                h->value = first_list_member(h->value);
            break;
        case SL_HTTP1_H_TRANSFER_ENCODING:
            h->hop = true;
            rc = on_transfer_encoding(h->value, f, e);
            break;
        case SL_HTTP1_H_CONNECTION:
            h->hop = true;
            rc = on_connection(h->value, f, e);
            break;
        case SL_HTTP1_H_UPGRADE:
            h->hop = true;
            if (!f->has_upgrade) {
                f->has_upgrade = true;
                f->upgrade = h->value;
            }
            break;
        case SL_HTTP1_H_EXPECT:
            if (SL_H1_IEQ(h->value.ptr, h->value.len, "100-continue"))
                f->expect_continue = true;
            break;
        case SL_HTTP1_H_TE:
        case SL_HTTP1_H_KEEP_ALIVE:
        case SL_HTTP1_H_PROXY_CONNECTION:
            h->hop = true;
            break;
        default:
            break;
        }
        if (rc != SL_OK)
            return rc;
    }
}

void sl_h1_mark_connection_listed(sl_http1_header *hdrs, size_t n, const sl_h1_fields *f)
{
    if (f->conn_other == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        sl_http1_header *h = &hdrs[i];
        if (h->hop || h->id == SL_HTTP1_H_HOST || h->id == SL_HTTP1_H_CONTENT_LENGTH)
            continue;
        for (size_t j = 0; j < f->nconn; j++) {
            if (sl_slice_ieq(h->name, f->conn[j])) {
                h->hop = true;
                break;
            }
        }
    }
}

/* ---- Authority: uri-host [ ":" port ] (RFC 3986 3.2.2, RFC 9110 4.2) ---- */

bool sl_h1_valid_authority(const char *p, size_t n, bool need_port, bool allow_empty)
{
    if (n == 0)
        return allow_empty && !need_port;
    size_t i = 0;
    if (p[0] == '[') {
        /* IP-literal: IPv6address or IPvFuture; only their character set is checked. */
        for (i = 1; i < n && p[i] != ']'; i++)
            if (!sl_h1_is((unsigned char)p[i], SL_H1_REG) || p[i] == '%')
                if (p[i] != ':')
                    return false;
        if (i == n || i == 1)
            return false;
        i++;
    } else {
        while (i < n && sl_h1_is((unsigned char)p[i], SL_H1_REG)) {
            if (p[i] == '%') {
                if (i + 2 >= n || !sl_h1_is((unsigned char)p[i + 1], SL_H1_HEX) ||
                    !sl_h1_is((unsigned char)p[i + 2], SL_H1_HEX))
                    return false;
                i += 2;
            }
            i++;
        }
        if (i == 0)
            return false; /* an http(s) URI needs a non-empty host */
    }
    if (i == n)
        return !need_port;
    if (p[i] != ':')
        return false;
    size_t digits = n - i - 1;
    if (digits == 0)
        return !need_port;
    if (digits > 5)
        return false;
    unsigned port = 0;
    for (size_t j = i + 1; j < n; j++) {
        if (!sl_h1_is((unsigned char)p[j], SL_H1_DIGIT))
            return false;
        port = port * 10 + (unsigned)(p[j] - '0');
    }
    return port <= 65535;
}

/* ---- Chunked encoding ---- */

size_t sl_http1_chunk_header(char out[SL_HTTP1_CHUNK_HEADER_MAX], uint64_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (n == 0) {
        out[0] = '\0';
        return 0;
    }
    char tmp[16];
    size_t k = 0;
    while (n) {
        tmp[k++] = hex[n & 15];
        n >>= 4;
    }
    size_t len = 0;
    while (k)
        out[len++] = tmp[--k];
    out[len++] = '\r';
    out[len++] = '\n';
    out[len] = '\0';
    return len;
}

/* libFuzzer target for the HTTP/1 parser (workers/http1_*.c). Every input is
 * fed to the request parser, the response parser and the chunked decoder, with
 * default and with tiny limits, whole and split in two at several points
 * (each piece in its own exact-size heap buffer so that ASan sees any read past
 * the bytes received). Invariants checked:
 *   - return codes are SL_OK / SL_AGAIN / SL_ERR; errors carry a text and, for
 *     requests, a 4xx/5xx status from the documented set;
 *   - consumed lengths stay within the input; every slice lies in the head;
 *   - a head fed in two calls (resumable scan) parses exactly like the whole;
 *     a prefix that fails means the whole fails;
 *   - the chunked decoder makes progress, reports data that ends where
 *     consumption ends, and gives the same bytes however the input is split.
 * Also builds without libFuzzer through tests/fuzz/replay.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/http1_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz_http1: invariant failed at %s:%d: %s\n", __FILE__, \
                    __LINE__, #cond);                                                 \
            abort();                                                                  \
        }                                                                             \
    } while (0)

static const sl_http1_limits tiny = {
    .max_head = 200,
    .max_headers = 4,
    .max_target = 24,
    .max_trailer = 40,
    .max_trailers = 2,
    .max_chunk_ext = 8,
};

static sl_http1_request req_a, req_b;
static sl_http1_response res_a, res_b;

static char *dup_bytes(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    FUZZ_CHECK(c != NULL);
    if (n)
        memcpy(c, p, n);
    return c;
}

static void check_headers(const sl_http1_header *h, size_t n, const char *buf, size_t head_len)
{
    FUZZ_CHECK(n <= SL_HTTP1_HEADERS_CAP);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(h[i].name.len > 0);
        FUZZ_CHECK(sl_slice_within(h[i].name, buf, head_len));
        FUZZ_CHECK(sl_slice_within(h[i].value, buf, head_len));
        if (h[i].value.len) {
            char f = h[i].value.ptr[0], l = h[i].value.ptr[h[i].value.len - 1];
            FUZZ_CHECK(f != ' ' && f != '\t' && l != ' ' && l != '\t');
            FUZZ_CHECK(memchr(h[i].value.ptr, '\r', h[i].value.len) == NULL);
            FUZZ_CHECK(memchr(h[i].value.ptr, '\n', h[i].value.len) == NULL);
            FUZZ_CHECK(memchr(h[i].value.ptr, '\0', h[i].value.len) == NULL);
        }
    }
}

static void check_request(int rc, const sl_http1_request *r, const char *buf, size_t len,
                          const sl_http1_limits *lim)
{
    FUZZ_CHECK(rc == SL_OK || rc == SL_AGAIN || rc == SL_ERR);
    if (rc == SL_ERR) {
        FUZZ_CHECK(r->error != NULL);
        FUZZ_CHECK(r->status == 400 || r->status == 414 || r->status == 431 || r->status == 501 ||
                   r->status == 505);
        return;
    }
    if (rc != SL_OK)
        return;
    size_t hl = r->head_len;
    FUZZ_CHECK(hl >= 16 && hl <= len && hl <= lim->max_head);
    FUZZ_CHECK(memcmp(buf + hl - 4, "\r\n\r\n", 4) == 0);
    FUZZ_CHECK(r->nheaders <= lim->max_headers);
    FUZZ_CHECK(r->method.len > 0 && r->method.len <= SL_HTTP1_METHOD_MAX);
    FUZZ_CHECK(r->target.len > 0 && r->target.len <= lim->max_target);
    FUZZ_CHECK(sl_slice_within(r->method, buf, hl));
    FUZZ_CHECK(sl_slice_within(r->target, buf, hl));
    FUZZ_CHECK(sl_slice_within(r->scheme, buf, hl));
    FUZZ_CHECK(sl_slice_within(r->path, buf, hl));
    FUZZ_CHECK(sl_slice_within(r->query, buf, hl));
    FUZZ_CHECK(sl_slice_within(r->host, buf, hl));
    FUZZ_CHECK(sl_slice_within(r->upgrade_proto, buf, hl));
    FUZZ_CHECK(r->version_minor == 0 || r->version_minor == 1);
    FUZZ_CHECK(r->nconn_tokens <= SL_HTTP1_CONN_TOKENS_CAP);
    for (size_t i = 0; i < r->nconn_tokens; i++)
        FUZZ_CHECK(sl_slice_within(r->conn_tokens[i], buf, hl) && r->conn_tokens[i].len > 0);
    check_headers(r->headers, r->nheaders, buf, hl);
    FUZZ_CHECK(r->body == SL_HTTP1_BODY_NONE || r->body == SL_HTTP1_BODY_LENGTH ||
               r->body == SL_HTTP1_BODY_CHUNKED);
    if (r->body == SL_HTTP1_BODY_CHUNKED)
        FUZZ_CHECK(r->version_minor == 1);
    if (r->version_minor == 1 && r->form == SL_HTTP1_FORM_ORIGIN)
        FUZZ_CHECK(r->host.len > 0);
    if (r->form == SL_HTTP1_FORM_AUTHORITY)
        FUZZ_CHECK(r->meth == SL_HTTP1_METHOD_CONNECT);
    /* The target is visible ASCII only. */
    for (size_t i = 0; i < r->target.len; i++) {
        unsigned char c = (unsigned char)r->target.ptr[i];
        FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '#');
    }
}

static void same_request(int rc1, const sl_http1_request *x, int rc2, const sl_http1_request *y)
{
    FUZZ_CHECK(rc1 == rc2);
    if (rc1 == SL_ERR) {
        FUZZ_CHECK(x->status == y->status);
        FUZZ_CHECK(strcmp(x->error, y->error) == 0);
    } else if (rc1 == SL_OK) {
        FUZZ_CHECK(x->head_len == y->head_len && x->nheaders == y->nheaders);
        FUZZ_CHECK(x->body == y->body && x->content_length == y->content_length);
        FUZZ_CHECK(x->keep_alive == y->keep_alive && x->upgrade == y->upgrade);
        FUZZ_CHECK(x->form == y->form && x->meth == y->meth);
        FUZZ_CHECK(sl_slice_eq(x->host, y->host) && sl_slice_eq(x->target, y->target));
    }
}

static void fuzz_request(const char *data, size_t size, const sl_http1_limits *lim)
{
    int whole = sl_http1_parse_request(data, size, NULL, &req_a, lim);
    if (!lim)
        lim = &sl_http1_default_limits;
    check_request(whole, &req_a, data, size, lim);

    size_t cuts[4] = {1, size / 3, size / 2, size - 1};
    for (size_t c = 0; c < 4; c++) {
        size_t k = cuts[c];
        if (k == 0 || k >= size)
            continue;
        sl_http1_scan sc = {0, 0};
        char *pre = dup_bytes(data, k);
        int rc = sl_http1_parse_request(pre, k, &sc, &req_b, lim);
        check_request(rc, &req_b, pre, k, lim);
        free(pre);
        if (rc == SL_ERR) {
            FUZZ_CHECK(whole == SL_ERR); /* errors are prefix-closed */
            continue;
        }
        if (rc == SL_OK) {
            FUZZ_CHECK(whole == SL_OK && req_b.head_len == req_a.head_len);
            continue;
        }
        FUZZ_CHECK(sc.pos <= k);
        char *all = dup_bytes(data, size); /* the buffer may move between calls */
        rc = sl_http1_parse_request(all, size, &sc, &req_b, lim);
        check_request(rc, &req_b, all, size, lim);
        if (rc == SL_OK) {
            /* Compare slices by offset since the buffers differ. */
            FUZZ_CHECK(whole == SL_OK);
            FUZZ_CHECK(req_b.host.len == req_a.host.len &&
                       (req_a.host.len == 0 || req_b.host.ptr - all == req_a.host.ptr - data));
        }
        FUZZ_CHECK(rc == whole);
        if (rc == SL_ERR)
            FUZZ_CHECK(req_a.status == req_b.status && strcmp(req_a.error, req_b.error) == 0);
        if (rc == SL_OK)
            FUZZ_CHECK(req_a.head_len == req_b.head_len && req_a.nheaders == req_b.nheaders &&
                       req_a.body == req_b.body && req_a.content_length == req_b.content_length &&
                       req_a.keep_alive == req_b.keep_alive);
        free(all);
    }

    /* A second parse of the same bytes gives the same answer (no hidden state). */
    int again = sl_http1_parse_request(data, size, NULL, &req_b, lim);
    same_request(whole, &req_a, again, &req_b);
}

static void check_response(int rc, const sl_http1_response *r, const char *buf, size_t len,
                           const sl_http1_limits *lim)
{
    FUZZ_CHECK(rc == SL_OK || rc == SL_AGAIN || rc == SL_ERR);
    if (rc == SL_ERR)
        FUZZ_CHECK(r->error != NULL);
    if (rc != SL_OK)
        return;
    size_t hl = r->head_len;
    FUZZ_CHECK(hl <= len && hl <= lim->max_head);
    FUZZ_CHECK(memcmp(buf + hl - 4, "\r\n\r\n", 4) == 0);
    FUZZ_CHECK(r->code >= 100 && r->code <= 599);
    FUZZ_CHECK(sl_slice_within(r->reason, buf, hl));
    FUZZ_CHECK(r->nheaders <= lim->max_headers);
    check_headers(r->headers, r->nheaders, buf, hl);
    if (r->body == SL_HTTP1_BODY_CLOSE)
        FUZZ_CHECK(!r->keep_alive);
    if (r->code < 200 || r->code == 204 || r->code == 304)
        FUZZ_CHECK(r->body == SL_HTTP1_BODY_NONE);
}

static void fuzz_response(const char *data, size_t size, const sl_http1_limits *lim, sl_http1_method m)
{
    int whole = sl_http1_parse_response(data, size, NULL, &res_a, lim, m);
    if (!lim)
        lim = &sl_http1_default_limits;
    check_response(whole, &res_a, data, size, lim);
    size_t k = size / 2;
    if (k == 0)
        return;
    sl_http1_scan sc = {0, 0};
    char *pre = dup_bytes(data, k);
    int rc = sl_http1_parse_response(pre, k, &sc, &res_b, lim, m);
    check_response(rc, &res_b, pre, k, lim);
    free(pre);
    if (rc == SL_ERR) {
        FUZZ_CHECK(whole == SL_ERR);
        return;
    }
    if (rc == SL_OK) {
        FUZZ_CHECK(whole == SL_OK && res_a.head_len == res_b.head_len);
        return;
    }
    rc = sl_http1_parse_response(data, size, &sc, &res_b, lim, m);
    FUZZ_CHECK(rc == whole);
    if (rc == SL_OK)
        FUZZ_CHECK(res_a.head_len == res_b.head_len && res_a.code == res_b.code &&
                   res_a.body == res_b.body && res_a.content_length == res_b.content_length &&
                   res_a.keep_alive == res_b.keep_alive && res_a.nheaders == res_b.nheaders);
    if (rc == SL_ERR)
        FUZZ_CHECK(strcmp(res_a.error, res_b.error) == 0);
}

/* Runs the chunked decoder over buf[0..len) from state st, appending data to
 * out. Returns the last rc; *used = bytes consumed. */
static int run_chunked(sl_http1_chunked *st, const char *buf, size_t len, char *out, size_t *olen,
                       size_t *used)
{
    size_t off = 0;
    int rc = SL_AGAIN;
    while (off < len) {
        size_t n = (size_t)-1;
        sl_slice d = {NULL, 12345};
        rc = sl_http1_chunked_parse(st, buf + off, len - off, &n, &d);
        FUZZ_CHECK(rc == SL_OK || rc == SL_AGAIN || rc == SL_ERR);
        FUZZ_CHECK(n <= len - off);
        FUZZ_CHECK(d.len <= n);
        if (d.len) {
            FUZZ_CHECK(d.ptr + d.len == buf + off + n);
            memcpy(out + *olen, d.ptr, d.len);
            *olen += d.len;
        }
        off += n;
        if (rc == SL_ERR) {
            FUZZ_CHECK(st->error != NULL);
            break;
        }
        if (rc == SL_OK) {
            FUZZ_CHECK(sl_http1_chunked_done(st));
            break;
        }
        FUZZ_CHECK(n > 0); /* progress */
    }
    *used = off;
    return rc;
}

static void fuzz_chunked(const char *data, size_t size, const sl_http1_limits *lim)
{
    char *out1 = malloc(size + 1), *out2 = malloc(size + 1);
    FUZZ_CHECK(out1 && out2);
    sl_http1_chunked st;
    sl_http1_chunked_init(&st, lim);
    size_t o1 = 0, used1 = 0;
    int rc1 = run_chunked(&st, data, size, out1, &o1, &used1);
    FUZZ_CHECK(o1 <= used1 && used1 <= size);
    FUZZ_CHECK(st.total == o1);
    if (rc1 == SL_AGAIN)
        FUZZ_CHECK(used1 == size);

    size_t cuts[3] = {1, size / 2, size - 1};
    for (size_t c = 0; c < 3; c++) {
        size_t k = cuts[c];
        if (k == 0 || k >= size)
            continue;
        sl_http1_chunked_init(&st, lim);
        size_t o2 = 0, ua = 0, ub = 0;
        char *a = dup_bytes(data, k), *b = dup_bytes(data + k, size - k);
        int rc2 = run_chunked(&st, a, k, out2, &o2, &ua);
        if (rc2 == SL_AGAIN)
            rc2 = run_chunked(&st, b, size - k, out2, &o2, &ub);
        free(a);
        free(b);
        FUZZ_CHECK(rc2 == rc1);
        FUZZ_CHECK(o2 == o1 && memcmp(out1, out2, o1) == 0);
        if (rc1 != SL_ERR)
            FUZZ_CHECK(ua + ub == used1);
    }

    /* Byte by byte, for small inputs. */
    if (size <= 512) {
        sl_http1_chunked_init(&st, lim);
        size_t o3 = 0, i = 0;
        int rc3 = SL_AGAIN;
        for (; i < size && rc3 == SL_AGAIN; i++) {
            size_t u = 0;
            char *one = dup_bytes(data + i, 1);
            rc3 = run_chunked(&st, one, 1, out2, &o3, &u);
            free(one);
        }
        FUZZ_CHECK(rc3 == rc1 && o3 == o1);
        if (rc1 == SL_OK)
            FUZZ_CHECK(i == used1);
    }
    free(out1);
    free(out2);
}

/* After a successful request head, follow the framing like a server would:
 * skip or decode the body and parse the next pipelined request. */
static void fuzz_pipeline(const char *data, size_t size)
{
    size_t off = 0;
    for (int n = 0; n < 8 && off < size; n++) {
        int rc = sl_http1_parse_request(data + off, size - off, NULL, &req_a, NULL);
        if (rc != SL_OK)
            return;
        off += req_a.head_len;
        if (req_a.body == SL_HTTP1_BODY_LENGTH) {
            if (req_a.content_length > size - off)
                return;
            off += (size_t)req_a.content_length;
        } else if (req_a.body == SL_HTTP1_BODY_CHUNKED) {
            sl_http1_chunked st;
            sl_http1_chunked_init(&st, NULL);
            char *out = malloc(size - off + 1);
            size_t o = 0, used = 0;
            FUZZ_CHECK(out);
            rc = run_chunked(&st, data + off, size - off, out, &o, &used);
            free(out);
            if (rc != SL_OK)
                return;
            off += used;
        }
        FUZZ_CHECK(off <= size);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    if (size > 65536)
        return 0;
    fuzz_request(d, size, NULL);
    fuzz_request(d, size, &tiny);
    static const sl_http1_method methods[] = {SL_HTTP1_METHOD_GET, SL_HTTP1_METHOD_HEAD,
                                              SL_HTTP1_METHOD_CONNECT};
    fuzz_response(d, size, NULL, methods[size % 3]);
    fuzz_response(d, size, &tiny, SL_HTTP1_METHOD_GET);
    fuzz_chunked(d, size, NULL);
    fuzz_chunked(d, size, &tiny);
    fuzz_pipeline(d, size);
    return 0;
}

/* Unit tests for the HTTP/1 parser (workers/http1_*.c): request and response
 * heads, the smuggling refusals (one case each), limits, incremental feeding,
 * the chunked decoder and the chunk-header encoder. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/slice.h"
#include "tests/unit/unit.h"
#include "workers/http1_parser.h"

static sl_http1_request R;  /* large: keep off the stack */
static sl_http1_request R2;
static sl_http1_response S;

static int parse_n(const char *s, size_t n) { return sl_http1_parse_request(s, n, NULL, &R, NULL); }
static int parse(const char *s) { return parse_n(s, strlen(s)); }

static bool slice_is(sl_slice a, const char *s) { return sl_slice_eq_cstr(a, s); }

/* Expects a refusal with this status; prints the case when it is not. */
static void reject_n(const char *s, size_t n, int status, int line)
{
    int rc = parse_n(s, n);
    if (rc != SL_ERR || R.status != status) {
        fprintf(stderr, "  line %d: expected %d, got rc=%d status=%d (%s)\n", line, status, rc,
                R.status, R.error ? R.error : "-");
        sl_unit_failures++;
    } else if (!R.error || !*R.error) {
        fprintf(stderr, "  line %d: refusal without an error text\n", line);
        sl_unit_failures++;
    }
}
#define REJECT(s, status) reject_n((s), sizeof(s) - 1, (status), __LINE__)

static void accept_n(const char *s, size_t n, int line)
{
    int rc = parse_n(s, n);
    if (rc != SL_OK) {
        fprintf(stderr, "  line %d: expected SL_OK, got rc=%d status=%d (%s)\n", line, rc, R.status,
                R.error ? R.error : "-");
        sl_unit_failures++;
    }
}
#define ACCEPT(s) accept_n((s), sizeof(s) - 1, __LINE__)

#define H11 "GET / HTTP/1.1\r\nHost: a\r\n"
#define POST11 "POST / HTTP/1.1\r\nHost: a\r\n"

/* ---- Requests: the happy path ---- */

static void test_basic_get(void)
{
    const char *s = "GET /index.html?q=1&r=2 HTTP/1.1\r\n"
                    "Host: example.com\r\n"
                    "User-Agent:  curl/8.0  \r\n"
                    "Accept: */*\r\n"
                    "\r\n";
    CHECK(parse(s) == SL_OK);
    CHECK(R.head_len == strlen(s));
    CHECK(slice_is(R.method, "GET"));
    CHECK(R.meth == SL_HTTP1_METHOD_GET);
    CHECK(slice_is(R.target, "/index.html?q=1&r=2"));
    CHECK(R.form == SL_HTTP1_FORM_ORIGIN);
    CHECK(slice_is(R.path, "/index.html"));
    CHECK(slice_is(R.query, "q=1&r=2"));
    CHECK(R.version_minor == 1);
    CHECK(slice_is(R.host, "example.com"));
    CHECK(R.nheaders == 3);
    CHECK(slice_is(R.headers[1].name, "User-Agent"));
    CHECK(slice_is(R.headers[1].value, "curl/8.0"));
    CHECK(R.headers[0].id == SL_HTTP1_H_HOST);
    CHECK(R.headers[2].id == SL_HTTP1_H_OTHER);
    CHECK(R.body == SL_HTTP1_BODY_NONE);
    CHECK(R.keep_alive);
    CHECK(!R.expect_continue && !R.upgrade);
    /* zero-copy: slices point into the input */
    CHECK(R.method.ptr == s);
    CHECK(R.headers[1].value.ptr == strstr(s, "curl"));
    CHECK(R.host.ptr == strstr(s, "example.com"));
    CHECK(sl_http1_request_header(&R, "accept") == &R.headers[2]);
    CHECK(sl_http1_request_header(&R, "cookie") == NULL);
}

static void test_query_forms(void)
{
    CHECK(parse("GET /a HTTP/1.1\r\nHost: a\r\n\r\n") == SL_OK);
    CHECK(slice_is(R.path, "/a") && R.query.ptr == NULL && R.query.len == 0);
    CHECK(parse("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n") == SL_OK);
    CHECK(slice_is(R.path, "/a") && R.query.ptr != NULL && R.query.len == 0);
    CHECK(parse("GET /a?b?c=/d HTTP/1.1\r\nHost: a\r\n\r\n") == SL_OK);
    CHECK(slice_is(R.query, "b?c=/d"));
    CHECK(parse("GET //x/../y%20z HTTP/1.1\r\nHost: a\r\n\r\n") == SL_OK);
    CHECK(slice_is(R.path, "//x/../y%20z"));
}

static void test_values_trimmed(void)
{
    CHECK(parse(H11 "A:\t x \t\r\nB:\r\nC:   \r\nD: a\tb  c\r\n\r\n") == SL_OK);
    CHECK(R.nheaders == 5);
    CHECK(slice_is(R.headers[1].value, "x"));
    CHECK(slice_is(R.headers[2].value, ""));
    CHECK(slice_is(R.headers[3].value, ""));
    CHECK(slice_is(R.headers[4].value, "a\tb  c"));
    /* obs-text is allowed in values */
    CHECK(parse(H11 "X: caf\xc3\xa9\r\n\r\n") == SL_OK);
    /* long values go through the word-at-a-time path, including one CTL at the end */
    CHECK(parse(H11 "Cookie: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n") == SL_OK);
    REJECT(H11 "Cookie: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x7f\r\n\r\n", 400);
}

static void test_methods(void)
{
    static const struct {
        const char *m;
        sl_http1_method id;
    } cases[] = {
        {"GET", SL_HTTP1_METHOD_GET},       {"HEAD", SL_HTTP1_METHOD_HEAD},
        {"POST", SL_HTTP1_METHOD_POST},     {"PUT", SL_HTTP1_METHOD_PUT},
        {"DELETE", SL_HTTP1_METHOD_DELETE}, {"OPTIONS", SL_HTTP1_METHOD_OPTIONS},
        {"TRACE", SL_HTTP1_METHOD_TRACE},   {"PATCH", SL_HTTP1_METHOD_PATCH},
        {"get", SL_HTTP1_METHOD_OTHER},     {"PROPFIND", SL_HTTP1_METHOD_OTHER},
        {"M-SEARCH", SL_HTTP1_METHOD_OTHER},
    };
    char buf[128];
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        snprintf(buf, sizeof buf, "%s / HTTP/1.1\r\nHost: a\r\n\r\n", cases[i].m);
        CHECK(parse(buf) == SL_OK);
        CHECK(R.meth == cases[i].id);
        CHECK(slice_is(R.method, cases[i].m));
    }
    CHECK(parse("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n") == SL_OK);
    CHECK(R.meth == SL_HTTP1_METHOD_CONNECT);
    /* 32 bytes is the longest method we take */
    ACCEPT("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF / HTTP/1.1\r\nHost: a\r\n\r\n");
    REJECT("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_http10(void)
{
    CHECK(parse("GET / HTTP/1.0\r\n\r\n") == SL_OK);
    CHECK(R.version_minor == 0);
    CHECK(!R.keep_alive);
    CHECK(R.host.len == 0 && R.nheaders == 0);
    CHECK(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == SL_OK);
    CHECK(R.keep_alive);
    CHECK(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n") == SL_OK);
    CHECK(!R.keep_alive);
    CHECK(parse("GET / HTTP/1.0\r\nHost: h\r\nExpect: 100-continue\r\n"
                "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n") == SL_OK);
    CHECK(slice_is(R.host, "h"));
    CHECK(!R.expect_continue && !R.upgrade);
    CHECK(parse("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n") == SL_OK);
    CHECK(R.body == SL_HTTP1_BODY_LENGTH && R.content_length == 3);
}

static void test_connection(void)
{
    CHECK(parse(H11 "Connection: close\r\n\r\n") == SL_OK);
    CHECK(!R.keep_alive);
    CHECK(R.nconn_tokens == 1 && slice_is(R.conn_tokens[0], "close"));
    CHECK(parse(H11 "Connection: Keep-Alive, CLOSE\r\n\r\n") == SL_OK);
    CHECK(!R.keep_alive);
    CHECK(parse(H11 "Connection: ,keep-alive ,, X-Secret \r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n"
                    "X-Other: 2\r\n\r\n") == SL_OK);
    CHECK(R.keep_alive);
    CHECK(R.nconn_tokens == 2);
    CHECK(slice_is(R.conn_tokens[1], "X-Secret"));
    CHECK(R.headers[1].hop);  /* Connection */
    CHECK(R.headers[2].hop);  /* X-Secret, named by Connection */
    CHECK(R.headers[3].hop);  /* Keep-Alive */
    CHECK(!R.headers[4].hop); /* X-Other */
    CHECK(!R.headers[0].hop); /* Host */
    /* Connection may not make Host or Content-Length hop-by-hop */
    CHECK(parse("POST / HTTP/1.1\r\nConnection: host, content-length\r\nHost: a\r\n"
                "Content-Length: 1\r\n\r\n") == SL_OK);
    CHECK(!R.headers[1].hop && !R.headers[2].hop);
    /* standard hop-by-hop fields */
    CHECK(parse(H11 "TE: trailers\r\nProxy-Connection: x\r\nTrailer: y\r\n\r\n") == SL_OK);
    CHECK(R.headers[1].hop && R.headers[1].id == SL_HTTP1_H_TE);
    CHECK(R.headers[2].hop && R.headers[2].id == SL_HTTP1_H_PROXY_CONNECTION);
    CHECK(!R.headers[3].hop && R.headers[3].id == SL_HTTP1_H_TRAILER);
    REJECT(H11 "Connection: a b\r\n\r\n", 400);
    REJECT(H11 "Connection: a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\r\n\r\n", 400);
    ACCEPT(H11 "Connection: a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p\r\n\r\n");
}

static void test_upgrade_expect(void)
{
    CHECK(parse(H11 "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n") == SL_OK);
    CHECK(R.upgrade && slice_is(R.upgrade_proto, "websocket"));
    CHECK(R.headers[2].hop);
    CHECK(parse(H11 "Upgrade: websocket\r\n\r\n") == SL_OK);
    CHECK(!R.upgrade);
    CHECK(parse(H11 "Connection: upgrade\r\n\r\n") == SL_OK);
    CHECK(!R.upgrade);
    CHECK(parse(POST11 "Expect: 100-Continue\r\nContent-Length: 10\r\n\r\n") == SL_OK);
    CHECK(R.expect_continue);
    CHECK(parse(POST11 "Expect: something-else\r\n\r\n") == SL_OK);
    CHECK(!R.expect_continue);
}

static void test_content_length(void)
{
    CHECK(parse(POST11 "Content-Length: 0\r\n\r\n") == SL_OK);
    CHECK(R.body == SL_HTTP1_BODY_LENGTH && R.content_length == 0);
    CHECK(parse(POST11 "Content-Length: 123456789012345678\r\n\r\n") == SL_OK);
    CHECK(R.content_length == 123456789012345678ULL);
    /* identical duplicates are one value (RFC 9110 8.6) */
    CHECK(parse(POST11 "Content-Length: 5, 5\r\n\r\n") == SL_OK);
    CHECK(R.content_length == 5);
    /* ...and forwarded as one: the value reduced to its first member */
    CHECK(!R.headers[1].hop && R.headers[1].value.len == 1 && R.headers[1].value.ptr[0] == '5');
    CHECK(parse(POST11 "Content-Length: 5\r\ncontent-length: 5\r\n\r\n") == SL_OK);
    CHECK(R.content_length == 5);
    CHECK(!R.headers[1].hop && R.headers[2].hop); /* the repeated line is not forwarded */
    CHECK(parse(POST11 "Content-Length:  12 , 12\r\n\r\n") == SL_OK);
    CHECK(R.headers[1].value.len == 2 && memcmp(R.headers[1].value.ptr, "12", 2) == 0);
    CHECK(parse(POST11 "Content-Length: 007\r\n\r\n") == SL_OK);
    CHECK(R.content_length == 7);
}

static void test_chunked_framing(void)
{
    CHECK(parse(POST11 "Transfer-Encoding: chunked\r\n\r\n") == SL_OK);
    CHECK(R.body == SL_HTTP1_BODY_CHUNKED);
    CHECK(R.headers[1].hop);
    ACCEPT(POST11 "Transfer-Encoding: Chunked\r\n\r\n");
    ACCEPT(POST11 "Transfer-Encoding:   chunked  \r\n\r\n");
    ACCEPT(POST11 "Transfer-Encoding:\tchunked\r\n\r\n");
}

static void test_absolute_form(void)
{
    CHECK(parse("GET http://Example.COM:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n") == SL_OK);
    CHECK(R.form == SL_HTTP1_FORM_ABSOLUTE);
    CHECK(slice_is(R.scheme, "http"));
    CHECK(slice_is(R.host, "Example.COM:8080")); /* the target wins over Host */
    CHECK(slice_is(R.path, "/p/q"));
    CHECK(slice_is(R.query, "x=1"));
    CHECK(parse("GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n") == SL_OK);
    CHECK(slice_is(R.scheme, "HTTPS") && slice_is(R.host, "h") && R.path.len == 0);
    CHECK(parse("GET http://h?x HTTP/1.1\r\nHost: h\r\n\r\n") == SL_OK);
    CHECK(R.path.len == 0 && slice_is(R.query, "x"));
    CHECK(parse("GET http://[::1]:80/ HTTP/1.1\r\nHost:\r\n\r\n") == SL_OK); /* empty Host ok here */
    CHECK(slice_is(R.host, "[::1]:80"));
    CHECK(parse("GET http://h/ HTTP/1.0\r\n\r\n") == SL_OK);
    CHECK(slice_is(R.host, "h"));
    REJECT("GET http://h/ HTTP/1.1\r\n\r\n", 400);            /* Host still required */
    REJECT("GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400); /* userinfo */
    REJECT("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    REJECT("GET http:/h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    REJECT("GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    REJECT("GET h/p HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_connect_and_asterisk(void)
{
    CHECK(parse("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n") == SL_OK);
    CHECK(R.form == SL_HTTP1_FORM_AUTHORITY);
    CHECK(slice_is(R.host, "example.com:443"));
    CHECK(R.path.len == 0);
    ACCEPT("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n");
    REJECT("CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", 400);
    REJECT("CONNECT example.com: HTTP/1.1\r\nHost: example.com\r\n\r\n", 400);
    REJECT("CONNECT / HTTP/1.1\r\nHost: example.com\r\n\r\n", 400);
    REJECT("CONNECT http://a:1/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    CHECK(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") == SL_OK);
    CHECK(R.form == SL_HTTP1_FORM_ASTERISK && slice_is(R.target, "*"));
    REJECT("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_host_syntax(void)
{
    ACCEPT("GET / HTTP/1.1\r\nHost: a.example-1.com:80\r\n\r\n");
    ACCEPT("GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n");
    ACCEPT("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    ACCEPT("GET / HTTP/1.1\r\nHost: xn--bcher-kva.example:65535\r\n\r\n");
    ACCEPT("GET / HTTP/1.1\r\nHost: a%41b\r\n\r\n");
    ACCEPT("GET / HTTP/1.1\r\nHost: a:\r\n\r\n"); /* empty port is allowed by RFC 3986 */
    REJECT("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: []\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a%4\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost:\r\n\r\n", 400); /* empty Host with an origin-form target */
}

static void test_leading_empty_lines(void)
{
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(parse(s) == SL_OK);
    CHECK(R.head_len == strlen(s));
    CHECK(R.method.ptr == s + 4);
    CHECK(parse("\r\n\r\n") == SL_AGAIN);
    CHECK(parse("\r\n\r") == SL_AGAIN);
    REJECT("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_pipelined(void)
{
    const char *s = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                    "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                    "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t off = 0, len = strlen(s);
    CHECK(sl_http1_parse_request(s, len, NULL, &R, NULL) == SL_OK);
    CHECK(slice_is(R.path, "/1"));
    off += R.head_len;
    CHECK(sl_http1_parse_request(s + off, len - off, NULL, &R, NULL) == SL_OK);
    CHECK(slice_is(R.path, "/2") && R.content_length == 3);
    off += R.head_len + R.content_length;
    CHECK(sl_http1_parse_request(s + off, len - off, NULL, &R, NULL) == SL_OK);
    CHECK(slice_is(R.path, "/3"));
    CHECK(off + R.head_len == len);
}

/* Feeding any request one byte at a time (with a resumable scan) gives SL_AGAIN
 * until the last byte and then the same result as parsing it whole. */
static void check_incremental(const char *s, int line)
{
    size_t len = strlen(s);
    int whole = sl_http1_parse_request(s, len, NULL, &R2, NULL);
    sl_http1_scan sc = {0, 0};
    int rc = SL_AGAIN;
    size_t n;
    for (n = 1; n <= len && rc == SL_AGAIN; n++)
        rc = sl_http1_parse_request(s, n, &sc, &R, NULL);
    bool same = rc == whole && (rc != SL_OK || (R.head_len == R2.head_len && n - 1 == len &&
                                                R.nheaders == R2.nheaders && R.body == R2.body));
    bool same_err = rc != SL_ERR || R.status == R2.status;
    if (!same || !same_err) {
        fprintf(stderr, "  line %d: incremental rc=%d (status %d) at %zu, whole rc=%d (status %d)\n",
                line, rc, R.status, n - 1, whole, R2.status);
        sl_unit_failures++;
    }
}

static void test_incremental(void)
{
    check_incremental("GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n", __LINE__);
    check_incremental("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", __LINE__);
    check_incremental("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", __LINE__);
    check_incremental("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", __LINE__);
    check_incremental("GET / HTTP/2.0\r\nHost: a\r\n\r\n", __LINE__);
    /* a scan resumes where it stopped instead of starting over */
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\n";
    sl_http1_scan sc = {0, 0};
    CHECK(sl_http1_parse_request(s, strlen(s), &sc, &R, NULL) == SL_AGAIN);
    CHECK(sc.pos == strlen(s));
    CHECK(sc.line_end == strlen("GET / HTTP/1.1\r\n"));
    /* the buffer may move between calls (e.g. realloc) */
    char a[64], b[64];
    strcpy(a, "GET / HTTP/1.1\r\nHost: a\r\n\r");
    sl_http1_scan sc2 = {0, 0};
    CHECK(sl_http1_parse_request(a, strlen(a), &sc2, &R, NULL) == SL_AGAIN);
    strcpy(b, a);
    strcat(b, "\n");
    CHECK(sl_http1_parse_request(b, strlen(b), &sc2, &R, NULL) == SL_OK);
    CHECK(R.host.ptr == b + 22);
}

static void test_early_refusal(void)
{
    /* A TLS ClientHello on a plain port, a bare LF, a bad method: refused at once. */
    static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    CHECK(parse_n(tls, sizeof tls - 1) == SL_ERR && R.status == 400);
    CHECK(parse("GET / HTTP/1.1\nHost") == SL_ERR && R.status == 400);
    CHECK(parse("G{T /") == SL_ERR && R.status == 400);
    CHECK(parse(" GET /") == SL_ERR && R.status == 400);
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n") == SL_AGAIN);
    CHECK(parse("GE") == SL_AGAIN);
    CHECK(parse("") == SL_AGAIN);
}

/* ---- The smuggling corpus: every refusal named in the design ---- */

static void test_reject_cl_te(void)
{
    REJECT(POST11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400);
}

static void test_reject_content_length(void)
{
    REJECT(POST11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: 5, 6\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: 5,\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: ,5\r\n\r\n", 400);
    REJECT(POST11 "Content-Length:\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: +5\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: -5\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: 0x5\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: 5 5\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: 1e3\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: 5a\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: \"5\"\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: 1234567890123456789\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: 99999999999999999999999\r\n\r\n", 400);
    REJECT(POST11 "Content-Length: 5\x0b\r\n\r\n", 400);
}

static void test_reject_transfer_encoding(void)
{
    REJECT(POST11 "Transfer-Encoding: gzip\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: chunkedx\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: xchunked\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: chunked;q=1\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: \x0b" "chunked\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: chunked\x0b\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: \r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: ,chunked\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: chunked,\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: \"chunked\"\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding: identity\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding : chunked\r\n\r\n", 400);
    REJECT(POST11 "Transfer-Encoding\t: chunked\r\n\r\n", 400);
    REJECT(POST11 " Transfer-Encoding: chunked\r\n\r\n", 400);
    REJECT(POST11 "X: y\r\n Transfer-Encoding: chunked\r\n\r\n", 400);
    /* a look-alike name is just another field: framing stays Content-Length */
    ACCEPT(POST11 "Transfer_Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
    CHECK(R.body == SL_HTTP1_BODY_LENGTH && R.headers[1].id == SL_HTTP1_H_OTHER);
    /* unsupported but well-formed codings before chunked: 501 */
    REJECT(POST11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 501);
    REJECT(POST11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
    /* Transfer-Encoding in HTTP/1.0 */
    REJECT("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    REJECT("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400);
}

static void test_reject_line_endings(void)
{
    REJECT("GET / HTTP/1.1\nHost: a\n\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: b\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\n\n", 400);
    REJECT("GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400);
}

static void test_reject_field_syntax(void)
{
    REJECT(H11 "X: a\r\n b\r\n\r\n", 400);                  /* obs-fold, SP */
    REJECT(H11 "X: a\r\n\tb\r\n\r\n", 400);                 /* obs-fold, HTAB */
    REJECT("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);      /* fold on the first field line */
    REJECT(H11 "X : a\r\n\r\n", 400);                       /* whitespace before colon */
    REJECT(H11 "X\t: a\r\n\r\n", 400);
    REJECT(H11 ": a\r\n\r\n", 400);                         /* empty name */
    REJECT(H11 "X@Y: a\r\n\r\n", 400);                      /* non-token characters */
    REJECT(H11 "X(Y): a\r\n\r\n", 400);
    REJECT(H11 "X\"Y: a\r\n\r\n", 400);
    REJECT(H11 "X\x7fY: a\r\n\r\n", 400);
    REJECT(H11 "\xc3\xa9: a\r\n\r\n", 400);
    REJECT(H11 "X: a\x01" "b\r\n\r\n", 400);                /* CTLs in values */
    REJECT(H11 "X: a\x1f" "b\r\n\r\n", 400);
    REJECT(H11 "X: a\x7f" "b\r\n\r\n", 400);
    REJECT(H11 "X: a\x0b" "b\r\n\r\n", 400);
    REJECT(H11 "X: a\x0c" "b\r\n\r\n", 400);
    ACCEPT(H11 "X: a\t" "b\r\n\r\n");
}

static void test_reject_nul(void)
{
    static const char m[] = "G\0T / HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char t[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char n[] = "GET / HTTP/1.1\r\nHost: a\r\nX\0Y: z\r\n\r\n";
    static const char v[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
    static const char v2[] = "GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n";
    static const char h[] = "GET / HTTP/1.1\r\nHost: a\0.evil\r\n\r\n";
    static const char ver[] = "GET / HTTP/1.1\0\r\nHost: a\r\n\r\n";
    REJECT(m, 400);
    REJECT(t, 400);
    REJECT(n, 400);
    REJECT(v, 400);
    REJECT(v2, 400);
    REJECT(h, 400);
    REJECT(ver, 400);
}

static void test_reject_host(void)
{
    REJECT("GET / HTTP/1.1\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    REJECT("GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400);
}

static void test_reject_request_line(void)
{
    REJECT("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\t\r\nHost: a\r\n\r\n", 400);
    REJECT(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / \r\nHost: a\r\n\r\n", 400);
    REJECT("GET /\r\nHost: a\r\n\r\n", 400);
    REJECT("GET\r\nHost: a\r\n\r\n", 400);
    REJECT("GET \r\nHost: a\r\n\r\n", 400);
    REJECT("/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("G{T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_reject_version(void)
{
    REJECT("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    REJECT("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);
    REJECT("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
    REJECT("GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505);
    REJECT("PRI * HTTP/2.0\r\n\r\n", 505);
    REJECT("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/01.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1,1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTPS/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/a.b\r\nHost: a\r\n\r\n", 400);
}

static void test_reject_target(void)
{
    REJECT("GET /a\x01" "b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /a\x7f" "b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x80 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

/* ---- Limits ---- */

static char *repeat(const char *head, char c, size_t n, const char *tail)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + n + tl + 1);
    memcpy(s, head, hl);
    memset(s + hl, c, n);
    memcpy(s + hl + n, tail, tl + 1);
    return s;
}

static void test_limits(void)
{
    /* target: 414, complete or not */
    char *s = repeat("GET /", 'a', SL_HTTP1_DEFAULT_MAX_TARGET - 1, " HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(parse(s) == SL_OK);
    free(s);
    s = repeat("GET /", 'a', SL_HTTP1_DEFAULT_MAX_TARGET, " HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(parse(s) == SL_ERR && R.status == 414);
    free(s);
    s = repeat("GET /", 'a', SL_HTTP1_DEFAULT_MAX_TARGET + 10, "");
    CHECK(parse(s) == SL_ERR && R.status == 414); /* refused before the line ends */
    free(s);
    s = repeat("GET /", 'a', SL_HTTP1_DEFAULT_MAX_TARGET - 10, "");
    CHECK(parse(s) == SL_AGAIN);
    free(s);
    s = repeat("GET /", 'a', SL_HTTP1_DEFAULT_MAX_HEAD, "");
    CHECK(parse(s) == SL_ERR && R.status == 414);
    free(s);

    /* head too large: 431, complete or not */
    s = repeat(H11 "X: ", 'a', SL_HTTP1_DEFAULT_MAX_HEAD, "\r\n\r\n");
    CHECK(parse(s) == SL_ERR && R.status == 431);
    free(s);
    s = repeat(H11 "X: ", 'a', SL_HTTP1_DEFAULT_MAX_HEAD, "");
    CHECK(parse(s) == SL_ERR && R.status == 431);
    free(s);
    /* exactly at the limit is fine */
    size_t fixed = strlen(H11 "X: ") + 4;
    s = repeat(H11 "X: ", 'a', SL_HTTP1_DEFAULT_MAX_HEAD - fixed, "\r\n\r\n");
    CHECK(strlen(s) == SL_HTTP1_DEFAULT_MAX_HEAD);
    CHECK(parse(s) == SL_OK);
    free(s);

    /* header count: 431 */
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < SL_HTTP1_DEFAULT_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, i ? "X%d: y\r\n" : "Host: a\r\n", i);
    snprintf(buf + n, sizeof buf - n, "\r\n");
    CHECK(parse(buf) == SL_OK && R.nheaders == SL_HTTP1_DEFAULT_MAX_HEADERS);
    snprintf(buf + n, sizeof buf - n, "Z: 1\r\n\r\n");
    CHECK(parse(buf) == SL_ERR && R.status == 431);

    /* custom limits */
    sl_http1_limits lim = SL_HTTP1_LIMITS_DEFAULT;
    lim.max_head = 64;
    lim.max_headers = 2;
    lim.max_target = 8;
    const char *ok = "GET /1234567 HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
    CHECK(sl_http1_parse_request(ok, strlen(ok), NULL, &R, &lim) == SL_OK);
    const char *t = "GET /12345678 HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(sl_http1_parse_request(t, strlen(t), NULL, &R, &lim) == SL_ERR && R.status == 414);
    /* an over-long target is refused the same way whether or not its line is complete
     * (found by the fuzzer: corpus/http1/regress_early_414_split) */
    const char *t1 = "GET /123456789";
    CHECK(sl_http1_parse_request(t1, strlen(t1), NULL, &R, &lim) == SL_ERR && R.status == 414);
    const char *t2 = "GET /123456789 HTTP/1.1\r\nHost: a\r\n";
    CHECK(sl_http1_parse_request(t2, strlen(t2), NULL, &R, &lim) == SL_ERR && R.status == 414);
    const char *t3 = "GET /1234567 HTTP/1.1\r\nHost: a\r\n";
    CHECK(sl_http1_parse_request(t3, strlen(t3), NULL, &R, &lim) == SL_AGAIN);
    const char *h = "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\nZ: z\r\n\r\n";
    CHECK(sl_http1_parse_request(h, strlen(h), NULL, &R, &lim) == SL_ERR && R.status == 431);
    const char *big = "GET / HTTP/1.1\r\nHost: a\r\nX: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n\r\n";
    CHECK(sl_http1_parse_request(big, strlen(big), NULL, &R, &lim) == SL_ERR && R.status == 431);
    /* max_headers above the array size is clamped */
    lim = (sl_http1_limits)SL_HTTP1_LIMITS_DEFAULT;
    lim.max_headers = 100000;
    lim.max_head = 1 << 20;
    char *many = malloc(SL_HTTP1_HEADERS_CAP * 8 + 64);
    n = (size_t)sprintf(many, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < SL_HTTP1_HEADERS_CAP; i++)
        n += (size_t)sprintf(many + n, "X: y\r\n");
    sprintf(many + n, "\r\n");
    CHECK(sl_http1_parse_request(many, strlen(many), NULL, &R, &lim) == SL_ERR && R.status == 431);
    free(many);
}

/* ---- Responses ---- */

static int resp(const char *s, sl_http1_method m) { return sl_http1_parse_response(s, strlen(s), NULL, &S, NULL, m); }

static void test_response_basic(void)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nServer: x\r\n\r\nhello world!";
    CHECK(resp(s, SL_HTTP1_METHOD_GET) == SL_OK);
    CHECK(S.code == 200 && S.version_minor == 1);
    CHECK(slice_is(S.reason, "OK"));
    CHECK(S.body == SL_HTTP1_BODY_LENGTH && S.content_length == 12);
    CHECK(S.keep_alive);
    CHECK(S.nheaders == 2);
    CHECK(S.head_len == strlen(s) - 12);
    CHECK(resp("HTTP/1.1 404 Not Found Here\r\nTransfer-Encoding: chunked\r\n\r\n", SL_HTTP1_METHOD_GET) == SL_OK);
    CHECK(S.code == 404 && slice_is(S.reason, "Not Found Here") && S.body == SL_HTTP1_BODY_CHUNKED);
    CHECK(resp("HTTP/1.1 200 \r\n\r\n", SL_HTTP1_METHOD_GET) == SL_OK);
    CHECK(S.reason.len == 0 && S.body == SL_HTTP1_BODY_CLOSE && !S.keep_alive);
    CHECK(resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", SL_HTTP1_METHOD_GET) == SL_OK);
    CHECK(S.reason.len == 0 && S.keep_alive);
    CHECK(resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", SL_HTTP1_METHOD_GET) == SL_OK);
    CHECK(!S.keep_alive && S.version_minor == 0);
    CHECK(resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", SL_HTTP1_METHOD_GET) == SL_OK);
    CHECK(S.keep_alive);
    CHECK(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\n",
               SL_HTTP1_METHOD_GET) == SL_OK);
    CHECK(!S.keep_alive && S.headers[2].hop && S.nconn_tokens == 2);
    CHECK(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", SL_HTTP1_METHOD_GET) == SL_OK);
}

static void test_response_no_body(void)
{
    static const struct {
        const char *s;
        sl_http1_method m;
    } cases[] = {
        {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", SL_HTTP1_METHOD_GET},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", SL_HTTP1_METHOD_GET},
        {"HTTP/1.1 100 Continue\r\n\r\n", SL_HTTP1_METHOD_POST},
        {"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", SL_HTTP1_METHOD_GET},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", SL_HTTP1_METHOD_HEAD},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", SL_HTTP1_METHOD_HEAD},
        {"HTTP/1.1 200 Connection established\r\n\r\n", SL_HTTP1_METHOD_CONNECT},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        CHECK(resp(cases[i].s, cases[i].m) == SL_OK);
        CHECK(S.body == SL_HTTP1_BODY_NONE);
        CHECK(S.keep_alive);
    }
    CHECK(resp("HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\n", SL_HTTP1_METHOD_CONNECT) == SL_OK);
    CHECK(S.body == SL_HTTP1_BODY_LENGTH);
    CHECK(resp("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
               SL_HTTP1_METHOD_GET) == SL_OK);
    CHECK(S.upgrade && slice_is(S.upgrade_proto, "websocket") && S.body == SL_HTTP1_BODY_NONE);
}

static void test_response_errors(void)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 204 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.10 200 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 600 Nope\r\n\r\n",
        "HTTP/1.1 099 Nope\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "\r\nHTTP/1.1 200 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        int rc = resp(bad[i], SL_HTTP1_METHOD_GET);
        if (rc != SL_ERR || !S.error) {
            fprintf(stderr, "  response case %zu accepted: %s\n", i, bad[i]);
            sl_unit_failures++;
        }
    }
    CHECK(resp("HTTP/1.1 200 OK\r\n", SL_HTTP1_METHOD_GET) == SL_AGAIN);
    CHECK(resp("HTT", SL_HTTP1_METHOD_GET) == SL_AGAIN);
    CHECK(resp("<html>", SL_HTTP1_METHOD_GET) == SL_ERR);
}

/* ---- Chunked bodies ---- */

/* Decodes s in one call; returns rc and fills out/consumed. */
static int dechunk(const char *s, size_t len, char *out, size_t *consumed, size_t *out_len,
                   sl_http1_chunked *st)
{
    memcpy(out, s, len);
    sl_http1_chunked_init(st, NULL);
    return sl_http1_chunked_decode(st, out, len, consumed, out_len);
}

static void test_chunked_basic(void)
{
    const char *s = "5\r\nhello\r\n6;name=val;q=\"a \\\" b\"\r\n world\r\nA\r\n0123456789\r\n0\r\n\r\nNEXT";
    char out[256];
    size_t consumed, olen;
    sl_http1_chunked st;
    CHECK(dechunk(s, strlen(s), out, &consumed, &olen, &st) == SL_OK);
    CHECK(consumed == strlen(s) - 4);
    CHECK(olen == 21 && memcmp(out, "hello world0123456789", 21) == 0);
    CHECK(sl_http1_chunked_done(&st) && st.total == 21 && st.ntrailers == 0);
    /* after completion the decoder consumes nothing more */
    size_t n;
    sl_slice d;
    CHECK(sl_http1_chunked_parse(&st, "x", 1, &n, &d) == SL_OK && n == 0 && d.len == 0);

    /* upper-case hex, leading zeros, whitespace before ';' */
    s = "00Ff \t;x\r\n";
    sl_http1_chunked_init(&st, NULL);
    CHECK(sl_http1_chunked_parse(&st, s, strlen(s), &n, &d) == SL_AGAIN);
    CHECK(n == strlen(s) && st.remaining == 255);

    /* trailers */
    s = "1\r\na\r\n0\r\nGrpc-Status: 0\r\nX-Sum:  abc \r\n\r\n";
    CHECK(dechunk(s, strlen(s), out, &consumed, &olen, &st) == SL_OK);
    CHECK(consumed == strlen(s) && st.ntrailers == 2 && olen == 1);
    /* last-chunk with extensions, several zeros */
    s = "000;ext\r\n\r\n";
    CHECK(dechunk(s, strlen(s), out, &consumed, &olen, &st) == SL_OK && olen == 0);
}

static void test_chunked_slices(void)
{
    /* data runs are reported as slices of the input, without copying */
    const char *s = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    sl_http1_chunked st;
    sl_http1_chunked_init(&st, NULL);
    size_t off = 0, len = strlen(s), n;
    sl_slice d;
    int rc;
    char got[16];
    size_t glen = 0;
    int runs = 0;
    do {
        rc = sl_http1_chunked_parse(&st, s + off, len - off, &n, &d);
        if (d.len) {
            CHECK(d.ptr + d.len == s + off + n); /* data ends where consumption ends */
            memcpy(got + glen, d.ptr, d.len);
            glen += d.len;
            runs++;
        }
        off += n;
    } while (rc == SL_AGAIN && off < len);
    CHECK(rc == SL_OK && off == len);
    CHECK(runs == 2 && glen == 5 && memcmp(got, "abcde", 5) == 0);
}

/* Splitting the input at every point (and feeding byte by byte) gives the same
 * data, consumption and result as one call. */
static void test_chunked_split(void)
{
    const char *cases[] = {
        "5\r\nhello\r\n6;e=\"q\\\"x\"\r\n world\r\n0\r\nT: v\r\n\r\nGET",
        "1\r\nX\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
        "5\r\nhello\n\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\nT:\x01\r\n\r\n",
    };
    for (size_t c = 0; c < SL_ARRAY_LEN(cases); c++) {
        const char *s = cases[c];
        size_t len = strlen(s);
        char whole[128], part[128];
        size_t wc, wo;
        sl_http1_chunked st;
        int wrc = dechunk(s, len, whole, &wc, &wo, &st);
        for (size_t cut = 0; cut <= len; cut++) {
            sl_http1_chunked_init(&st, NULL);
            memcpy(part, s, len);
            size_t c1, o1, c2 = 0, o2 = 0;
            int rc = sl_http1_chunked_decode(&st, part, cut, &c1, &o1);
            if (rc == SL_AGAIN) {
                CHECK(c1 == cut);
                rc = sl_http1_chunked_decode(&st, part + cut, len - cut, &c2, &o2);
                memmove(part + o1, part + cut, o2);
            }
            CHECK(rc == wrc);
            if (rc != SL_ERR) {
                CHECK(c1 + c2 == wc);
                CHECK(o1 + o2 == wo && memcmp(part, whole, wo) == 0);
            }
        }
        /* one byte at a time */
        sl_http1_chunked_init(&st, NULL);
        int rc = SL_AGAIN;
        size_t i = 0, out = 0;
        for (; i < len && rc == SL_AGAIN; i++) {
            size_t n;
            sl_slice d;
            rc = sl_http1_chunked_parse(&st, s + i, 1, &n, &d);
            CHECK(n == 1 || rc == SL_ERR);
            out += d.len;
        }
        CHECK(rc == wrc);
        if (rc == SL_OK)
            CHECK(i == wc && out == wo);
    }
}

static void chunk_reject(const char *s, int line)
{
    static char out[16384];
    if (strlen(s) > sizeof out) {
        sl_unit_failures++;
        return;
    }
    size_t consumed, olen;
    sl_http1_chunked st;
    int rc = dechunk(s, strlen(s), out, &consumed, &olen, &st);
    if (rc != SL_ERR || !st.error) {
        fprintf(stderr, "  line %d: chunked input accepted (rc=%d)\n", line, rc);
        sl_unit_failures++;
    }
    /* errors are sticky */
    size_t n;
    sl_slice d;
    CHECK(sl_http1_chunked_parse(&st, "0\r\n\r\n", 5, &n, &d) == SL_ERR);
}
#define CHUNK_REJECT(s) chunk_reject((s), __LINE__)

static void test_chunked_errors(void)
{
    CHUNK_REJECT("x\r\n");                       /* not hex */
    CHUNK_REJECT("\r\n");                        /* empty size */
    CHUNK_REJECT(" 5\r\nhello\r\n0\r\n\r\n");    /* leading space */
    CHUNK_REJECT("0x5\r\nhello\r\n0\r\n\r\n");
    CHUNK_REJECT("-5\r\n");
    CHUNK_REJECT("+5\r\n");
    CHUNK_REJECT("5 \r\nhello\r\n0\r\n\r\n");    /* whitespace not followed by ';' */
    CHUNK_REJECT("5 5\r\n");
    CHUNK_REJECT("5\nhello\r\n0\r\n\r\n");       /* bare LF after size */
    CHUNK_REJECT("5\rhello\r\n");
    CHUNK_REJECT("5\r\nhello0\r\n\r\n");         /* no CRLF after data */
    CHUNK_REJECT("5\r\nhello\n0\r\n\r\n");
    CHUNK_REJECT("5\r\nhello\r0\r\n\r\n");
    CHUNK_REJECT("3\r\nhello\r\n0\r\n\r\n");     /* more data than declared */
    CHUNK_REJECT("1000000000000000\r\n");        /* 2^60: too large */
    CHUNK_REJECT("ffffffffffffffffff\r\n");      /* would overflow */
    CHUNK_REJECT("000000000000000000000000000000001\r\n"); /* 33 digits */
    CHUNK_REJECT("5;\x01\r\n");                  /* CTL in extension */
    CHUNK_REJECT("5;a=\"b\r\n");                 /* unterminated quoted string hits CR */
    CHUNK_REJECT("5;a\nb\r\n");
    CHUNK_REJECT("5;a=b,c\r\n");
    CHUNK_REJECT("0\r\n\n");                     /* bare LF ending trailers */
    CHUNK_REJECT("0\r\nX: y\n\r\n");
    CHUNK_REJECT("0\r\nX : y\r\n\r\n");
    CHUNK_REJECT("0\r\n y\r\n\r\n");             /* obs-fold */
    CHUNK_REJECT("0\r\n: y\r\n\r\n");
    CHUNK_REJECT("0\r\nX: \x7f\r\n\r\n");
    CHUNK_REJECT("0\r\n\rX");
    /* bounded extensions and trailers */
    char buf[8192];
    memset(buf, 'a', sizeof buf);
    memcpy(buf, "1;", 2);
    memcpy(buf + SL_HTTP1_DEFAULT_MAX_CHUNK_EXT + 8, "\r\n", 3);
    CHUNK_REJECT(buf);
    memset(buf, 'a', sizeof buf);
    memcpy(buf, "0\r\nX: ", 6);
    memcpy(buf + SL_HTTP1_DEFAULT_MAX_TRAILER + 8, "\r\n\r\n", 5);
    CHUNK_REJECT(buf);
    size_t n = (size_t)sprintf(buf, "0\r\n");
    for (int i = 0; i <= SL_HTTP1_DEFAULT_MAX_TRAILERS; i++)
        n += (size_t)sprintf(buf + n, "T: 1\r\n");
    sprintf(buf + n, "\r\n");
    CHUNK_REJECT(buf);
    /* just under the extension limit is fine */
    memset(buf, 'a', sizeof buf);
    memcpy(buf, "1;", 2);
    memcpy(buf + SL_HTTP1_DEFAULT_MAX_CHUNK_EXT, "\r\nx\r\n0\r\n\r\n", 11);
    char out[8192];
    size_t consumed, olen;
    sl_http1_chunked st;
    CHECK(dechunk(buf, strlen(buf), out, &consumed, &olen, &st) == SL_OK);
}

static void test_chunked_large(void)
{
    /* a chunk size near the limit is accepted and counted down across calls */
    sl_http1_chunked st;
    sl_http1_chunked_init(&st, NULL);
    size_t n;
    sl_slice d;
    CHECK(sl_http1_chunked_parse(&st, "fffffffffffffff\r\n", 17, &n, &d) == SL_AGAIN && n == 17);
    CHECK(st.remaining == 0xfffffffffffffffULL);
    char data[1000];
    memset(data, 'z', sizeof data);
    CHECK(sl_http1_chunked_parse(&st, data, sizeof data, &n, &d) == SL_AGAIN);
    CHECK(n == sizeof data && d.len == sizeof data && d.ptr == data);
    CHECK(st.remaining == 0xfffffffffffffffULL - 1000);
}

static void test_chunk_header(void)
{
    char out[SL_HTTP1_CHUNK_HEADER_MAX];
    CHECK(sl_http1_chunk_header(out, 1) == 3);
    CHECK_STR(out, "1\r\n");
    CHECK(sl_http1_chunk_header(out, 255) == 4);
    CHECK_STR(out, "ff\r\n");
    CHECK(sl_http1_chunk_header(out, 4096) == 6);
    CHECK_STR(out, "1000\r\n");
    CHECK(sl_http1_chunk_header(out, UINT64_MAX) == 18);
    CHECK_STR(out, "ffffffffffffffff\r\n");
    CHECK(sl_http1_chunk_header(out, 0) == 0);
    CHECK_STR(out, "");
    CHECK(strlen(SL_HTTP1_LAST_CHUNK) == 5);

    /* round trip: what we encode, we decode */
    char wire[256];
    size_t w = 0;
    const char *parts[] = {"hello", " ", "chunked world, 0123456789abcdef"};
    for (size_t i = 0; i < 3; i++) {
        w += sl_http1_chunk_header(out, strlen(parts[i]));
        strcpy(wire + w - strlen(out), out);
        memcpy(wire + w, parts[i], strlen(parts[i]));
        w += strlen(parts[i]);
        memcpy(wire + w, SL_HTTP1_CHUNK_END, 2);
        w += 2;
    }
    memcpy(wire + w, SL_HTTP1_LAST_CHUNK, 5);
    w += 5;
    sl_http1_chunked st;
    sl_http1_chunked_init(&st, NULL);
    size_t consumed, olen;
    CHECK(sl_http1_chunked_decode(&st, wire, w, &consumed, &olen) == SL_OK);
    CHECK(consumed == w && olen == 37 && memcmp(wire, "hello chunked world, 0123456789abcdef", 37) == 0);
}

static void test_slice_helpers(void)
{
    sl_slice a = sl_slice_from_cstr("Content-Type");
    CHECK(sl_slice_eq_cstr(a, "Content-Type"));
    CHECK(!sl_slice_eq_cstr(a, "content-type"));
    CHECK(sl_slice_ieq_cstr(a, "content-type"));
    CHECK(sl_slice_ieq_cstr(a, "CONTENT-TYPE"));
    CHECK(!sl_slice_ieq_cstr(a, "content-typ"));
    CHECK(!sl_slice_ieq_cstr(a, "content-types"));
    CHECK(sl_slice_ieq(a, sl_slice_from_cstr("cOnTeNt-TyPe")));
    CHECK(sl_slice_eq(sl_slice_make("abc", 2), sl_slice_from_cstr("ab")));
    CHECK(sl_slice_eq(sl_slice_make(NULL, 0), sl_slice_from_cstr("")));
    CHECK(sl_slice_starts_with(a, "Content-"));
    CHECK(!sl_slice_starts_with(a, "Content-Types"));
    char buf[8];
    CHECK(sl_slice_within(sl_slice_make(buf + 2, 6), buf, 8));
    CHECK(!sl_slice_within(sl_slice_make(buf + 2, 7), buf, 8));
    CHECK(sl_slice_within(sl_slice_make(NULL, 0), buf, 8));
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_basic_get),
        UNIT_TEST(test_query_forms),
        UNIT_TEST(test_values_trimmed),
        UNIT_TEST(test_methods),
        UNIT_TEST(test_http10),
        UNIT_TEST(test_connection),
        UNIT_TEST(test_upgrade_expect),
        UNIT_TEST(test_content_length),
        UNIT_TEST(test_chunked_framing),
        UNIT_TEST(test_absolute_form),
        UNIT_TEST(test_connect_and_asterisk),
        UNIT_TEST(test_host_syntax),
        UNIT_TEST(test_leading_empty_lines),
        UNIT_TEST(test_pipelined),
        UNIT_TEST(test_incremental),
        UNIT_TEST(test_early_refusal),
        UNIT_TEST(test_reject_cl_te),
        UNIT_TEST(test_reject_content_length),
        UNIT_TEST(test_reject_transfer_encoding),
        UNIT_TEST(test_reject_line_endings),
        UNIT_TEST(test_reject_field_syntax),
        UNIT_TEST(test_reject_nul),
        UNIT_TEST(test_reject_host),
        UNIT_TEST(test_reject_request_line),
        UNIT_TEST(test_reject_version),
        UNIT_TEST(test_reject_target),
        UNIT_TEST(test_limits),
        UNIT_TEST(test_response_basic),
        UNIT_TEST(test_response_no_body),
        UNIT_TEST(test_response_errors),
        UNIT_TEST(test_chunked_basic),
        UNIT_TEST(test_chunked_slices),
        UNIT_TEST(test_chunked_split),
        UNIT_TEST(test_chunked_errors),
        UNIT_TEST(test_chunked_large),
        UNIT_TEST(test_chunk_header),
        UNIT_TEST(test_slice_helpers),
    };
    return sl_unit_run("http1_parser", tests, SL_ARRAY_LEN(tests));
}

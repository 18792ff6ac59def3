/* Unit tests for workers/tls_sni.c: the server name read from a ClientHello.
 * Real hellos come from OpenSSL, made here with memory BIOs (TLS 1.2 and 1.3,
 * with and without SNI, one record or several); odd ones are built by hand. Every
 * parse reads an exact-size heap copy, so a sanitizer build catches any read
 * past the bytes received. */
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "workers/tls_sni.h"

/* Room for the largest input built here: a hello at SL_SNI_MAX_HELLO split
 * into 1-byte records would not fit, so those are built only from small hellos. */
#define WIRE_CAP (8 * SL_SNI_MAX_HELLO)

typedef struct {
    uint8_t b[WIRE_CAP];
    size_t n;
} bytes;

static bytes wire, msg, ext, scratch;

static sl_sni_result parse_cap(const uint8_t *data, size_t n, char *name, size_t namecap, size_t *namelen)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    if (n > 0)
        memcpy(copy, data, n);
    sl_sni_result r = sl_tls_sni(copy, n, name, namecap, namelen);
    free(copy);
    return r;
}

static char got[SL_SNI_MAX_NAME + 1];
static size_t got_len;

/* Parses data[0..n) into got/got_len (cleared first). */
static sl_sni_result parse(const uint8_t *data, size_t n)
{
    memset(got, 0, sizeof(got));
    got_len = 0;
    return parse_cap(data, n, got, sizeof(got), &got_len);
}

/* Whether data[0..n) gives want (and, for SL_SNI_FOUND, the name) while every
 * shorter prefix asks for more bytes. */
static bool whole_and_prefixes(const uint8_t *data, size_t n, sl_sni_result want, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (parse(data, i) != SL_SNI_AGAIN) {
            fprintf(stderr, "  prefix of %zu bytes (of %zu) is not AGAIN\n", i, n);
            return false;
        }
    sl_sni_result r = parse(data, n);
    if (r != want)
        return false;
    return want != SL_SNI_FOUND || (strcmp(got, name) == 0 && got_len == strlen(name));
}

/* ---- Building inputs ---- */

static void put(bytes *o, const void *p, size_t n)
{
    if (o->n + n > sizeof(o->b))
        abort();
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put_uint(bytes *o, size_t v, size_t nbytes)
{
    for (size_t i = nbytes; i-- > 0;) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        put(o, &c, 1);
    }
}

static void put_fill(bytes *o, uint8_t c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(o, &c, 1);
}

/* An extension of type type with n bytes of data. */
static void put_ext(bytes *o, unsigned type, const void *data, size_t n)
{
    put_uint(o, type, 2);
    put_uint(o, n, 2);
    put(o, data, n);
}

/* A server_name extension with one host_name of n bytes. */
static void put_sni(bytes *o, const char *host, size_t n)
{
    put_uint(o, 0, 2);
    put_uint(o, n + 5, 2);
    put_uint(o, n + 3, 2);
    put_uint(o, 0, 1);
    put_uint(o, n, 2);
    put(o, host, n);
}

typedef struct {
    unsigned version;
    size_t session_id, ciphers, compression;
    bool no_extensions;
} hello_shape;

static const hello_shape plain = {0x0303, 32, 4, 1, false};

/* A ClientHello handshake message into msg, with the extensions in ext. */
static void build_msg(const hello_shape *h)
{
    msg.n = 0;
    size_t body = 2 + 32 + 1 + h->session_id + 2 + h->ciphers + 1 + h->compression +
                  (h->no_extensions ? 0 : 2 + ext.n);
    put_uint(&msg, 1, 1);
    put_uint(&msg, body, 3);
    put_uint(&msg, h->version, 2);
    put_fill(&msg, 0xaa, 32);
    put_uint(&msg, h->session_id, 1);
    put_fill(&msg, 0x55, h->session_id);
    put_uint(&msg, h->ciphers, 2);
    put_fill(&msg, 0x13, h->ciphers);
    put_uint(&msg, h->compression, 1);
    put_fill(&msg, 0, h->compression);
    if (!h->no_extensions) {
        put_uint(&msg, ext.n, 2);
        put(&msg, ext.b, ext.n);
    }
}

/* Frames src[0..n) as handshake records of at most frag bytes, appended to o. */
static void frame(bytes *o, const uint8_t *src, size_t n, size_t frag)
{
    for (size_t at = 0; at < n; at += frag) {
        size_t len = n - at < frag ? n - at : frag;
        put_uint(o, 22, 1);
        put_uint(o, 0x0301, 2);
        put_uint(o, len, 2);
        put(o, src + at, len);
    }
}

/* wire = the hello of shape h with extensions ext, in records of frag bytes. */
static void build(const hello_shape *h, size_t frag)
{
    build_msg(h);
    wire.n = 0;
    frame(&wire, msg.b, msg.n, frag);
}

/* wire = a plain hello with one server_name extension naming host[0..n). */
static sl_sni_result name_result(const char *host, size_t n)
{
    ext.n = 0;
    put_sni(&ext, host, n);
    build(&plain, 16384);
    return parse(wire.b, wire.n);
}

/* A ClientHello as OpenSSL writes it, into wire: SNI host (NULL: none), TLS 1.2
 * at most when tls12, and with big set, 200 ALPN protocols in records of 512
 * bytes (OpenSSL's smallest max_send_fragment) so it spans several records. */
static void openssl_hello(const char *host, bool tls12, bool big)
{
    wire.n = 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        abort();
    if (tls12)
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    if (big) {
        SSL_CTX_set_max_send_fragment(ctx, 512);
        bytes *alpn = &scratch;
        alpn->n = 0;
        for (int i = 0; i < 200; i++) {
            char p[32];
            int n = snprintf(p, sizeof(p), "protocol-%03d", i);
            put_uint(alpn, (size_t)n, 1);
            put(alpn, p, (size_t)n);
        }
        if (SSL_CTX_set_alpn_protos(ctx, alpn->b, (unsigned)alpn->n) != 0)
            abort();
    }
    SSL *ssl = SSL_new(ctx);
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    if (!ssl || !rbio || !wbio || (host && SSL_set_tlsext_host_name(ssl, host) != 1))
        abort();
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_connect_state(ssl);
    int rc = SSL_do_handshake(ssl);
    if (rc > 0 || SSL_get_error(ssl, rc) != SSL_ERROR_WANT_READ)
        abort();
    char *p;
    long n = BIO_get_mem_data(wbio, &p);
    if (n <= 0)
        abort();
    put(&wire, p, (size_t)n);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
}

/* How many records wire holds, from its headers. */
static size_t record_count(void)
{
    size_t count = 0;
    for (size_t at = 0; at + 5 <= wire.n; at += 5 + ((size_t)wire.b[at + 3] << 8 | wire.b[at + 4]))
        count++;
    return count;
}

/* ---- Real hellos ---- */

static void test_openssl_tls13(void)
{
    openssl_hello("example.com", false, false);
    CHECK(record_count() == 1);
    CHECK(whole_and_prefixes(wire.b, wire.n, SL_SNI_FOUND, "example.com"));
    /* What follows the hello's record (a middlebox-compatibility
     * change_cipher_spec, early data, anything) is not looked at. */
    static const uint8_t after[] = {20, 3, 3, 0, 1, 1, 'G', 'E', 'T'};
    put(&wire, after, sizeof(after));
    CHECK(parse(wire.b, wire.n) == SL_SNI_FOUND);
    CHECK_STR(got, "example.com");
}

static void test_openssl_tls12(void)
{
    openssl_hello("api.example.org", true, false);
    CHECK(whole_and_prefixes(wire.b, wire.n, SL_SNI_FOUND, "api.example.org"));
}

static void test_openssl_without_sni(void)
{
    openssl_hello(NULL, false, false);
    CHECK(whole_and_prefixes(wire.b, wire.n, SL_SNI_NONE, NULL));
    openssl_hello(NULL, true, false);
    CHECK(whole_and_prefixes(wire.b, wire.n, SL_SNI_NONE, NULL));
}

static void test_openssl_names(void)
{
    char longest[SL_SNI_MAX_NAME + 2];
    memset(longest, 'a', SL_SNI_MAX_NAME);
    longest[63] = longest[127] = longest[191] = '.'; /* labels of 63, 63, 63 and 61 */
    longest[SL_SNI_MAX_NAME] = '\0';
    openssl_hello(longest, false, false);
    CHECK(whole_and_prefixes(wire.b, wire.n, SL_SNI_FOUND, longest));
    longest[SL_SNI_MAX_NAME] = '.'; /* a trailing dot: still the same host */
    longest[SL_SNI_MAX_NAME + 1] = '\0';
    openssl_hello(longest, true, false);
    longest[SL_SNI_MAX_NAME] = '\0';
    CHECK(parse(wire.b, wire.n) == SL_SNI_FOUND);
    CHECK_STR(got, longest);
    openssl_hello("WWW.Example.COM", false, false);
    CHECK(parse(wire.b, wire.n) == SL_SNI_FOUND);
    CHECK_STR(got, "www.example.com");
    openssl_hello("my host.example", false, false);
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
}

static void test_openssl_several_records(void)
{
    openssl_hello("example.com", false, true);
    CHECK(wire.n > 2048 && record_count() >= 4);
    CHECK(whole_and_prefixes(wire.b, wire.n, SL_SNI_FOUND, "example.com"));
    openssl_hello("example.com", true, true);
    CHECK(record_count() >= 4);
    CHECK(whole_and_prefixes(wire.b, wire.n, SL_SNI_FOUND, "example.com"));
}

/* A one-record hello re-split into two records at every point (the handshake
 * header itself included), and into records of one byte each. */
static void test_resplit(void)
{
    openssl_hello("split.example.com", false, false);
    CHECK(record_count() == 1);
    bytes *hs = &scratch;
    hs->n = 0;
    put(hs, wire.b + 5, wire.n - 5);
    for (size_t cut = 1; cut < hs->n; cut++) {
        wire.n = 0;
        frame(&wire, hs->b, cut, cut);
        frame(&wire, hs->b + cut, hs->n - cut, hs->n);
        CHECK(parse(wire.b, wire.n) == SL_SNI_FOUND);
        CHECK(parse(wire.b, wire.n - 1) == SL_SNI_AGAIN);
        CHECK(parse(wire.b, cut + 5) == SL_SNI_AGAIN);
    }
    wire.n = 0;
    frame(&wire, hs->b, hs->n, 1);
    CHECK(whole_and_prefixes(wire.b, wire.n, SL_SNI_FOUND, "split.example.com"));
}

/* ---- Truncated and corrupted hellos ---- */

typedef struct {
    size_t at, size;
} field;

typedef struct {
    field f[64];
    size_t n;
} fields;

static void add_field(fields *fs, size_t at, size_t size)
{
    if (fs->n == sizeof(fs->f) / sizeof(fs->f[0]))
        abort();
    fs->f[fs->n++] = (field){at, size};
}

static size_t be(size_t at, size_t size)
{
    size_t v = 0;
    for (size_t k = 0; k < size; k++)
        v = v << 8 | wire.b[at + k];
    return v;
}

/* The length fields of the one-record hello in wire, and where its host name
 * sits (trusting the input: it comes from OpenSSL). */
static void length_fields(fields *fs, size_t *name_at, size_t *name_len)
{
    size_t at = 5 + 4 + 2 + 32;
    fs->n = 0;
    add_field(fs, 3, 2);
    add_field(fs, 6, 3);
    add_field(fs, at, 1); /* session id */
    at += 1 + be(at, 1);
    add_field(fs, at, 2); /* cipher suites */
    at += 2 + be(at, 2);
    add_field(fs, at, 1); /* compression methods */
    at += 1 + be(at, 1);
    add_field(fs, at, 2); /* extensions */
    at += 2;
    while (at + 4 <= wire.n) {
        add_field(fs, at + 2, 2);
        if (be(at, 2) == 0) {
            add_field(fs, at + 4, 2); /* server_name_list */
            add_field(fs, at + 7, 2); /* host_name */
            *name_at = at + 9;
            *name_len = be(at + 7, 2);
        }
        at += 4 + be(at + 2, 2);
    }
}

static void test_corrupt_lengths(void)
{
    for (int tls12 = 0; tls12 < 2; tls12++) {
        openssl_hello("corrupt.example.com", tls12, false);
        fields fs;
        size_t name_at = 0, name_len = 0;
        length_fields(&fs, &name_at, &name_len);
        const field *f = fs.f;
        size_t count = fs.n;
        CHECK(count > 8 && name_len == strlen("corrupt.example.com"));
        CHECK(memcmp(wire.b + name_at, "corrupt.example.com", name_len) == 0);
        /* Every length field one more, one less, 256 more, zero and all ones:
         * the bytes can no longer be a hello. */
        for (size_t i = 0; i < count; i++)
            for (int how = 0; how < 5; how++) {
                uint8_t saved[3];
                memcpy(saved, wire.b + f[i].at, f[i].size);
                size_t v = be(f[i].at, f[i].size);
                size_t nv = how == 0 ? v + 1 : how == 1 ? v - 1 : how == 2 ? v + 256 : how == 3 ? 0 : SIZE_MAX;
                for (size_t k = 0; k < f[i].size; k++)
                    wire.b[f[i].at + k] = (uint8_t)(nv >> (8 * (f[i].size - 1 - k)));
                if (memcmp(wire.b + f[i].at, saved, f[i].size) == 0)
                    continue; /* e.g. 256 more in one byte, or zero for a zero length */
                sl_sni_result r = parse(wire.b, wire.n);
                if (r != SL_SNI_AGAIN && r != SL_SNI_INVALID)
                    fprintf(stderr, "  length at %zu changed (%d): result %d\n", f[i].at, how, r);
                CHECK(r == SL_SNI_AGAIN || r == SL_SNI_INVALID);
                memcpy(wire.b + f[i].at, saved, f[i].size);
            }
        /* Any byte outside the name flipped: never another name; and no prefix
         * of the changed hello reads out of bounds (ASan) or finds a name. */
        for (size_t at = 0; at < wire.n; at++) {
            if (at >= name_at && at < name_at + name_len)
                continue;
            for (int bit = 0; bit < 8; bit += 3) {
                wire.b[at] ^= (uint8_t)(1u << bit);
                sl_sni_result r = parse(wire.b, wire.n);
                CHECK(r != SL_SNI_FOUND || strcmp(got, "corrupt.example.com") == 0);
                for (size_t n = 0; n < wire.n; n += 7)
                    CHECK(parse(wire.b, n) != SL_SNI_FOUND);
                wire.b[at] ^= (uint8_t)(1u << bit);
            }
        }
        CHECK(parse(wire.b, wire.n) == SL_SNI_FOUND);
    }
}

static void test_not_tls(void)
{
    const char *http = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    CHECK(parse((const uint8_t *)http, strlen(http)) == SL_SNI_INVALID);
    CHECK(parse((const uint8_t *)http, 1) == SL_SNI_INVALID);
    CHECK(parse(NULL, 0) == SL_SNI_AGAIN);
    CHECK(sl_tls_sni(NULL, 0, got, sizeof(got), &got_len) == SL_SNI_AGAIN);
    static const struct {
        uint8_t b[10];
        size_t n;
        sl_sni_result want;
    } cases[] = {
        {{22}, 1, SL_SNI_AGAIN},
        {{22, 3}, 2, SL_SNI_AGAIN},
        {{22, 3, 1, 0}, 4, SL_SNI_AGAIN},
        {{22, 3, 1, 0x40, 0}, 5, SL_SNI_AGAIN},                  /* 16384: the most */
        {{22, 3, 1, 0x40, 1}, 5, SL_SNI_INVALID},                /* 16385 */
        {{22, 3, 1, 0x41}, 4, SL_SNI_INVALID},                   /* can only be too long */
        {{22, 3, 1, 0, 0}, 5, SL_SNI_INVALID},                   /* empty record */
        {{22, 2}, 2, SL_SNI_INVALID},                            /* not version 3.x */
        {{22, 3, 5}, 3, SL_SNI_INVALID},                         /* 3.5 */
        {{22, 3, 0, 0, 4, 1}, 6, SL_SNI_AGAIN},                  /* SSL 3.0 record */
        {{0x80, 0x2e, 1, 3, 1}, 5, SL_SNI_INVALID},              /* an SSLv2 hello */
        {{21, 3, 3, 0, 2, 2, 40}, 7, SL_SNI_INVALID},            /* an alert */
        {{22, 3, 1, 0, 4, 2, 0, 0}, 8, SL_SNI_INVALID},          /* a ServerHello */
        {{22, 3, 1, 0, 4, 1, 0xff, 0xff}, 8, SL_SNI_AGAIN},      /* length unknown yet */
        {{22, 3, 1, 0, 8, 1, 0, 0x40, 0}, 9, SL_SNI_AGAIN},     /* 16384 bytes to come */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_sni_result r = parse(cases[i].b, cases[i].n);
        if (r != cases[i].want)
            fprintf(stderr, "  case %zu: %d\n", i, r);
        CHECK(r == cases[i].want);
    }
    /* A hello too long to ever fit is refused as soon as its length is read. */
    static const uint8_t huge[] = {22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff};
    CHECK(parse(huge, sizeof(huge)) == SL_SNI_INVALID);
    /* A record (4 bytes) that runs past a hello of 2 bytes. */
    static const uint8_t past[] = {22, 3, 1, 0, 8, 1, 0, 0, 2};
    CHECK(parse(past, sizeof(past)) == SL_SNI_INVALID);
}

/* ---- Hand-built hellos ---- */

static void test_names(void)
{
    CHECK(name_result("Foo_Bar.Example-1.COM", 21) == SL_SNI_FOUND);
    CHECK_STR(got, "foo_bar.example-1.com");
    CHECK(got_len == 21);
    CHECK(name_result("example.com.", 12) == SL_SNI_FOUND);
    CHECK_STR(got, "example.com");
    CHECK(name_result("x", 1) == SL_SNI_FOUND);
    CHECK_STR(got, "x");
    static const char *const bad[] = {
        "", ".", "..", ".example.com", "example..com", "example.com..", "exa mple.com", "example.com/",
        "example.com:443", "*.example.com", "\xc3\xa9t\xc3\xa9.example", "1.2.3.4%", "a\tb",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_sni_result r = name_result(bad[i], strlen(bad[i]));
        if (r != SL_SNI_INVALID)
            fprintf(stderr, "  name \"%s\": %d\n", bad[i], r);
        CHECK(r == SL_SNI_INVALID);
    }
    CHECK(name_result("a\0b.com", 7) == SL_SNI_INVALID);
    char n[300];
    memset(n, 'a', sizeof(n));
    CHECK(name_result(n, 63) == SL_SNI_FOUND);
    CHECK(name_result(n, 64) == SL_SNI_INVALID); /* a label longer than 63 */
    for (size_t i = 63; i < sizeof(n); i += 64)
        n[i] = '.';
    CHECK(name_result(n, 253) == SL_SNI_FOUND);
    CHECK(got_len == 253);
    CHECK(name_result(n, 254) == SL_SNI_INVALID);
    n[253] = '.';
    CHECK(name_result(n, 254) == SL_SNI_FOUND && got_len == 253);
    CHECK(name_result(n, 255) == SL_SNI_INVALID);
    CHECK(name_result(n, 299) == SL_SNI_INVALID);
}

static void test_name_capacity(void)
{
    name_result("example.com", 11);
    char small[16];
    size_t len = 99;
    memset(small, '#', sizeof(small));
    CHECK(parse_cap(wire.b, wire.n, small, 12, &len) == SL_SNI_FOUND && len == 11);
    CHECK_STR(small, "example.com");
    memset(small, '#', sizeof(small));
    len = 99;
    CHECK(parse_cap(wire.b, wire.n, small, 11, &len) == SL_SNI_INVALID);
    CHECK(len == 99 && small[0] == '#');
    CHECK(parse_cap(wire.b, wire.n, NULL, 0, &len) == SL_SNI_INVALID);
}

static void test_server_name_list(void)
{
    /* Another name type (skipped, by its length) then a host_name. */
    static const uint8_t other_then_host[] = {0, 0, 0, 14, 0, 12, 7, 0, 2, 'x', 'y', 0, 0, 4, 'h', 'o', 's', 't'};
    ext.n = 0;
    put(&ext, other_then_host, sizeof(other_then_host));
    build(&plain, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_FOUND);
    CHECK_STR(got, "host");
    /* Only another name type: no host name. */
    static const uint8_t other_only[] = {0, 0, 0, 7, 0, 5, 7, 0, 2, 'x', 'y'};
    ext.n = 0;
    put(&ext, other_only, sizeof(other_only));
    build(&plain, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_NONE);
    /* Two host_names in one list (RFC 6066: one per type). */
    static const uint8_t two_hosts[] = {0, 0, 0, 12, 0, 10, 0, 0, 2, 'a', 'b', 0, 0, 2, 'c', 'd'};
    ext.n = 0;
    put(&ext, two_hosts, sizeof(two_hosts));
    build(&plain, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
    /* Broken lists: empty data, empty list, list length off by one either
     * way, an entry cut short, a name running past the list. */
    static const uint8_t broken[][12] = {
        {0, 0, 0, 0},
        {0, 0, 0, 2, 0, 0},
        {0, 0, 0, 7, 0, 6, 0, 0, 2, 'a', 'b'},
        {0, 0, 0, 7, 0, 4, 0, 0, 2, 'a', 'b'},
        {0, 0, 0, 4, 0, 2, 0, 0},
        {0, 0, 0, 7, 0, 5, 0, 0, 3, 'a', 'b'},
    };
    static const size_t broken_len[] = {4, 6, 11, 11, 8, 11};
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        ext.n = 0;
        put(&ext, broken[i], broken_len[i]);
        build(&plain, 16384);
        CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
    }
    /* Two server_name extensions, the same name or not. */
    ext.n = 0;
    put_sni(&ext, "a.example", 9);
    put_ext(&ext, 16, "\0\3\2h2", 5);
    put_sni(&ext, "a.example", 9);
    build(&plain, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
    /* A second server_name extension after one without a host_name. */
    ext.n = 0;
    put(&ext, other_only, sizeof(other_only));
    put_sni(&ext, "a.example", 9);
    build(&plain, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
    /* The extension after other ones, and unknown ones after it. */
    ext.n = 0;
    put_ext(&ext, 0xfafa, "", 0);
    put_ext(&ext, 43, "\2\3\4", 3);
    put_sni(&ext, "late.example", 12);
    put_ext(&ext, 21, "\0\0\0\0\0\0", 6);
    build(&plain, 16384);
    CHECK(whole_and_prefixes(wire.b, wire.n, SL_SNI_FOUND, "late.example"));
}

static void test_hello_fields(void)
{
    ext.n = 0;
    put_sni(&ext, "example.com", 11);
    hello_shape h = plain;
    build(&h, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_FOUND);
    h.session_id = 0;
    build(&h, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_FOUND);
    h.session_id = 33;
    build(&h, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
    h = plain;
    h.ciphers = 3;
    build(&h, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
    h.ciphers = 0;
    build(&h, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
    h = plain;
    h.compression = 0;
    build(&h, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
    h = plain;
    static const unsigned versions[] = {0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x0200, 0x0305, 0x0403, 0xfefd};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        h.version = versions[i];
        build(&h, 16384);
        CHECK(parse(wire.b, wire.n) == (i < 5 ? SL_SNI_FOUND : SL_SNI_INVALID));
    }
    /* No extensions at all (a client older than TLS 1.2), or an empty block. */
    h = plain;
    h.no_extensions = true;
    build(&h, 16384);
    CHECK(whole_and_prefixes(wire.b, wire.n, SL_SNI_NONE, NULL));
    ext.n = 0;
    build(&plain, 16384);
    CHECK(whole_and_prefixes(wire.b, wire.n, SL_SNI_NONE, NULL));
    /* An extension header cut short by the end of the hello. */
    put_uint(&ext, 0x0017, 2);
    put_uint(&ext, 0, 1);
    build(&plain, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
}

/* The hello must end with its last record, and nothing but handshake
 * records may carry it. */
static void test_record_boundaries(void)
{
    ext.n = 0;
    put_sni(&ext, "example.com", 11);
    build_msg(&plain);
    put_uint(&msg, 0x0b, 1); /* the start of another handshake message */
    wire.n = 0;
    frame(&wire, msg.b, msg.n, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
    wire.n = 0; /* the same, in a later record */
    frame(&wire, msg.b, 20, 20);
    frame(&wire, msg.b + 20, msg.n - 20, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
    CHECK(parse(wire.b, 30) == SL_SNI_INVALID); /* as soon as that record's header is in */
    msg.n--;
    wire.n = 0;
    frame(&wire, msg.b, 20, 20);
    static const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
    put(&wire, ccs, sizeof(ccs));
    frame(&wire, msg.b + 20, msg.n - 20, 16384);
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
    CHECK(parse(wire.b, 26) == SL_SNI_INVALID); /* as soon as its first byte is in */
    wire.b[25] = 23;                            /* application data */
    CHECK(parse(wire.b, wire.n) == SL_SNI_INVALID);
    wire.n = 0;
    frame(&wire, msg.b, 20, 20);
    frame(&wire, msg.b + 20, msg.n - 20, 16384);
    CHECK(whole_and_prefixes(wire.b, wire.n, SL_SNI_FOUND, "example.com"));
}

/* SL_SNI_MAX_HELLO bytes of records are accepted, one more is not (and is
 * refused as soon as the hello's length is known). */
static void test_size_bound(void)
{
    /* Header 4 + body: 2+32+1+32+2+4+1+1 + 2 + SNI(4+5+11) + padding(4 + p). */
    const size_t fixed = 4 + 75 + 2 + 20 + 4;
    for (int over = 0; over < 2; over++)
        for (int records = 2; records <= 4; records++) {
            size_t total_msg = SL_SNI_MAX_HELLO - 5 * (size_t)records + (size_t)over;
            ext.n = 0;
            put_sni(&ext, "big.example", 11);
            bytes *pad = &scratch;
            pad->n = 0;
            put_fill(pad, 0, total_msg - fixed);
            put_ext(&ext, 21, pad->b, pad->n);
            build_msg(&plain);
            CHECK(msg.n == total_msg);
            size_t frag = (msg.n + (size_t)records - 1) / (size_t)records;
            if (frag > 16384)
                frag = 16384;
            wire.n = 0;
            frame(&wire, msg.b, msg.n, frag);
            CHECK(record_count() == (size_t)records);
            CHECK(wire.n == SL_SNI_MAX_HELLO + (size_t)over);
            sl_sni_result r = parse(wire.b, wire.n);
            CHECK(r == (over ? SL_SNI_INVALID : SL_SNI_FOUND));
            /* Refused once the last record's header is in; with two records, as
             * soon as the hello's length is. */
            CHECK(parse(wire.b, wire.n - 1) == (over ? SL_SNI_INVALID : SL_SNI_AGAIN));
            if (over && records == 2)
                CHECK(parse(wire.b, 9) == SL_SNI_INVALID);
        }
    /* A small hello in many small records is fine until the records add up. */
    ext.n = 0;
    put_sni(&ext, "example.com", 11);
    build_msg(&plain);
    wire.n = 0;
    frame(&wire, msg.b, msg.n, 1);
    CHECK(wire.n < SL_SNI_MAX_HELLO && parse(wire.b, wire.n) == SL_SNI_FOUND);
    bytes *pad = &scratch;
    pad->n = 0;
    put_fill(pad, 0, 3000);
    put_ext(&ext, 21, pad->b, pad->n);
    build_msg(&plain);
    wire.n = 0;
    frame(&wire, msg.b, msg.n, 1);
    CHECK(wire.n > SL_SNI_MAX_HELLO && parse(wire.b, wire.n) == SL_SNI_INVALID);
    CHECK(parse(wire.b, SL_SNI_MAX_HELLO - 1) == SL_SNI_AGAIN);
    CHECK(parse(wire.b, SL_SNI_MAX_HELLO) == SL_SNI_INVALID); /* no room for the next record */
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_openssl_tls13),
        UNIT_TEST(test_openssl_tls12),
        UNIT_TEST(test_openssl_without_sni),
        UNIT_TEST(test_openssl_names),
        UNIT_TEST(test_openssl_several_records),
        UNIT_TEST(test_resplit),
        UNIT_TEST(test_corrupt_lengths),
        UNIT_TEST(test_not_tls),
        UNIT_TEST(test_names),
        UNIT_TEST(test_name_capacity),
        UNIT_TEST(test_server_name_list),
        UNIT_TEST(test_hello_fields),
        UNIT_TEST(test_record_boundaries),
        UNIT_TEST(test_size_bound),
    };
    return sl_unit_run("tls_sni", tests, sizeof(tests) / sizeof(tests[0]));
}

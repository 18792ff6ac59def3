/* The subjectAltNames check of TLS towards backends (workers/upstream_san.c):
 * which certificates carry one of a BackendTLSPolicy's subjectAltNames. */
#include <stdbool.h>
#include <stdlib.h>

#include <openssl/x509v3.h>

#include "tests/unit/unit.h"
#include "workers/upstream_tls.h"

/* A certificate (unsigned: only its names matter here) with subject CN `cn`
 * and the SANs `sans` in openssl's syntax, or none when NULL. */
static X509 *cert(const char *cn, const char *sans)
{
    X509 *x = X509_new();
    if (!x)
        abort();
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    if (sans) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
        if (!ext || X509_add_ext(x, ext, -1) != 1)
            abort();
        X509_EXTENSION_free(ext);
    }
    return x;
}

static void test_dns_names(void)
{
    X509 *x = cert("cn.example", "DNS:abc.example.com,DNS:*.wild.example,URI:spiffe://abc.example.com/test-identity");
    CHECK(sl_uptls_san_match(x, "DNS:abc.example.com\n"));
    CHECK(sl_uptls_san_match(x, "DNS:ABC.Example.com\n"));  /* DNS names ignore case */
    CHECK(sl_uptls_san_match(x, "DNS:abc.example.com"));    /* the last line may end without newline */
    CHECK(sl_uptls_san_match(x, "DNS:x.wild.example\n"));   /* the certificate's wildcard, one label */
    CHECK(!sl_uptls_san_match(x, "DNS:a.b.wild.example\n"));
    CHECK(sl_uptls_san_match(x, "DNS:*.wild.example\n"));   /* a wildcard entry: the same wildcard SAN */
    CHECK(!sl_uptls_san_match(x, "DNS:*.example.com\n"));
    CHECK(!sl_uptls_san_match(x, "DNS:dce.example.com\n"));
    CHECK(!sl_uptls_san_match(x, "DNS:cn.example\n"));      /* the subject CN is never a SAN */
    CHECK(!sl_uptls_san_match(x, "DNS:example.com\n"));
    X509_free(x);
    x = cert("cn.example", NULL); /* no SAN at all: nothing matches, not even the CN */
    CHECK(!sl_uptls_san_match(x, "DNS:cn.example\n"));
    X509_free(x);
}

static void test_uri_names(void)
{
    X509 *x = cert("default", "DNS:abc.example.com,URI:spiffe://abc.example.com/test-identity");
    CHECK(sl_uptls_san_match(x, "URI:spiffe://abc.example.com/test-identity\n"));
    CHECK(!sl_uptls_san_match(x, "URI:spiffe://def.example.com/test-identity\n"));
    CHECK(!sl_uptls_san_match(x, "URI:spiffe://abc.example.com/test-identity/more\n"));
    CHECK(!sl_uptls_san_match(x, "URI:spiffe://abc.example.com/test\n"));
    CHECK(!sl_uptls_san_match(x, "URI:SPIFFE://abc.example.com/test-identity\n")); /* one spelling */
    /* A URI entry is not a DNS name and the reverse. */
    CHECK(!sl_uptls_san_match(x, "URI:abc.example.com\n"));
    CHECK(!sl_uptls_san_match(x, "DNS:spiffe://abc.example.com/test-identity\n"));
    X509_free(x);
}

/* Several entries: any one of them is enough; none, or malformed lines, match nothing. */
static void test_lists(void)
{
    X509 *x = cert("default", "DNS:abc.example.com,URI:spiffe://abc.example.com/test-identity");
    CHECK(sl_uptls_san_match(x, "URI:spiffe://abc.example.com/test-identity\nDNS:abc.example.com\n"));
    CHECK(sl_uptls_san_match(x, "URI:spiffe://def.example.com/test-identity\nDNS:abc.example.com\n"));
    CHECK(sl_uptls_san_match(x, "DNS:def.example.com\nURI:spiffe://abc.example.com/test-identity\n"));
    CHECK(!sl_uptls_san_match(x, "URI:spiffe://def.example.com/test-identity\nDNS:def.example.com\n"));
    CHECK(!sl_uptls_san_match(x, ""));
    CHECK(!sl_uptls_san_match(x, "abc.example.com\nIP:abc.example.com\nDNS:\n"));
    X509_free(x);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_dns_names),
        UNIT_TEST(test_uri_names),
        UNIT_TEST(test_lists),
    };
    return sl_unit_run("upstream_san", tests, sizeof(tests) / sizeof(tests[0]));
}

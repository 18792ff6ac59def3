/* Unit tests for common/jwt.c and daemon/jwk.c (tokens and keys), and the
 * claims flattening of workers/jwt_cache.c. The vectors were made once with
 * the openssl command line (tests/integration/jwt_tokens.py): a public JWK
 * and a token it signed ({"sub":"alice"}) per algorithm family. */
#include <stdlib.h>
#include <string.h>

#include "common/jwt.h"
#include "daemon/jwk.h"
#include "tests/unit/unit.h"
#include "workers/jwt_cache.h"

static const struct {
    const char *alg, *jwk, *token;
} vectors[] = {
    {"RS256",
        "{\"kty\":\"RSA\",\"n\":\"sYfltw3DCsfAAkUFy-OrrYOIllN2xkvy_tV_oBvxHG9vVuxbLlM2TYKDsGUbMlw1KFxA_QY7HhokIt"
        "rN7aqRZUu5vSwen6vPKV66o7Rma2vwBp-28uWKAZbH_k5tGb3MGZo0Yrfy1eOdayAppsc9c__Cl44A6fwdfCNut1HKIaUZUT"
        "kGIksLPdfj3rjdtRkGO3YGHBONUv9xX5zsURsjooiU1Z2wH4G8iheqSeu8vPosgqcPREfZxFD7ZNDrfhLuIXGlnqmoEnFUQS"
        "D9TjKUZRGoeVHSHW_AXvone0QUSU97ywDPhiaNdKAypvsISZgL0fdJSaceHkZF5ZvjYmNHEQ\",\"e\":\"AQAB\",\"kid\":\"k1\"}",
        "eyJhbGciOiAiUlMyNTYiLCAidHlwIjogIkpXVCIsICJraWQiOiAiazEifQ.eyJzdWIiOiAiYWxpY2UifQ.ItEpEBLhIhDn9u"
        "uzp84l59NuDhRRHXpjG5GloYPh1SM6vJ-bmwwgD9QJ3nhPxIIDHhGj3rcadHHWNwEz_dxJVQmm0YtnZmI8ouazG8puNU--w4"
        "06bA7jB0tF7h8aVpBPPlJTjajNwSMtJIWlPWSL0QRR1HZ4rTO05WHvQlFe4_yNiqfwpbx2d_ul-JJ09FIs47HQumDsqvBJT3"
        "y5tuQPlCKZ5JmDBMrFeJ6lvZ2JVbSgtiY37BoCc1crA1zFCu1qsWxW9Wb7einQZwso2liaRJ_c2MTj23v7R_zrH0sgO6i_m5"
        "ZAGe7czh8u-OfdsBDqZD3oeK5ax5L5m1ZeX-0a6w"},
    {"PS256",
        "{\"kty\":\"RSA\",\"n\":\"pPO5ww-uqCn-ZjtysdgHxt6pQT3OIYzPEuXSp2ptMTz_zoxWtTagCku7k48fhXRYJkGoSMppvd-woQ"
        "1qPYCD-WxjaCgq8Rp6qLOu8sZOEF1sN4fOzoUFF9hU8MnUBukY5qDQBhn8mPec-ivM_s9OD56yKYFg5pHDjlTz_ggj4NcZ2o"
        "enO8En0DibiFYCUTQktMUnwmAqC7sU1uTiYTcqQVgbysM5xjbdoTHqrsd7LoezkZN8t0frT_6eHMSqiKCpPd3I9M_rQQ77eb"
        "I3t-TMK5YtA-5MsvScUqre2MbwfCGhtpcJeHeb7yIcbIeLhsEUtX0BclAKqcU8moHUF3_n4Q\",\"e\":\"AQAB\",\"kid\":\"k1\"}",
        "eyJhbGciOiAiUFMyNTYiLCAidHlwIjogIkpXVCIsICJraWQiOiAiazEifQ.eyJzdWIiOiAiYWxpY2UifQ.LOIx6U92LlZ0Ns"
        "kXDyBQpVVNy6Nj6_KOCf9vRY3LlA0BLUNiPEA5citbOuhBpQe7QaPd_4UEsw1y0pxXmRlP62vJhWOKiXGUzbHOzEeeROH1N-"
        "61ZGWLIUClowsWeMe2Az0Qxuk4yCNsH5YeCwRwZd5FUoBqtfM49n2Y7xSY-YS6cvSeEz-n-tioBC3FWJpQa8d_o4bPPXmbkj"
        "C8Iyq-UgYsSANSiI0yuaui5-Jgor53ltQAle4OIq9qONJVhs1Ot4OYsBP7nxGaxhAzJQHqe82BBRe54p1-KrlGf3AD__zOCH"
        "lOI3YbKBQwOz_kHEyLsI5YcgVgDnyZbIATwIzGtA"},
    {"ES256",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"lHGcVm06q1GpDRmhQnv6YkJPlnOi-MO2EvzCQR3xeM4\",\"y\":\"w_a672SanJPDmSV"
        "VqMYj_wMmKX95d-q7OL9Opcs1Hoc\",\"kid\":\"k1\"}",
        "eyJhbGciOiAiRVMyNTYiLCAidHlwIjogIkpXVCIsICJraWQiOiAiazEifQ.eyJzdWIiOiAiYWxpY2UifQ._sT1c_xDUk3qhI"
        "r4_RG0jj3lEktIM4ty9HKrenTzR9E9adI6NGrKkTv8ifsYdJc56-oXZ7CbfLCXvlMllobSGQ"},
    {"ES384",
        "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"GQfvS6motwSSmwtENzVLnYpJVg5TZj_VXU4JHU3pU8DaPNY9WV6meQ8yQ_-C_pha\""
        ",\"y\":\"WmElJdPGHiXYNzOLYjDApltY7CKQvcqqc1o7mabtzyweXIirFCuHB6mJL8boebvC\",\"kid\":\"k1\"}",
        "eyJhbGciOiAiRVMzODQiLCAidHlwIjogIkpXVCIsICJraWQiOiAiazEifQ.eyJzdWIiOiAiYWxpY2UifQ.TJ6g9fnV2BCItq"
        "atmAJ9ZtmQ_8Xuh0vUrwOGMAJTp3yjE7pfVFXQcZwFinq_P85UakAyz20EUlFbGYhXJDnQs8bictyui3e2pFOxafcpMtI35c"
        "DKL5Y5jFq5ILQrisce"},
    {"EdDSA",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"G0hxzwjl0wGXNr03G5_1TdVWHymQ7_NjZ-Ao19pgcZo\",\"kid\":\"k1\"}",
        "eyJhbGciOiAiRWREU0EiLCAidHlwIjogIkpXVCIsICJraWQiOiAiazEifQ.eyJzdWIiOiAiYWxpY2UifQ.GJzG2QRVCf4MP9"
        "4C1xamk90hb8SFL_JVVbMzr93DIU4SYA0m-EW2vnigiJLvgqQPojawapKCsk51RdQWPvRTAA"},
};
#define NVECTORS (sizeof(vectors) / sizeof(vectors[0]))

typedef struct key {
    sl_jwk_type type;
    sl_jwt_alg alg;
    unsigned char *der;
    size_t len;
} key;

static bool load_key(const char *jwk_text, key *k)
{
    char why[200] = "";
    json_t *jwk = json_loads(jwk_text, 0, NULL);
    bool ok = jwk && sl_jwk_to_der(jwk, &k->type, &k->alg, &k->der, &k->len, why, sizeof(why));
    json_decref(jwk);
    return ok;
}

static bool verifies(const char *token, const key *k)
{
    sl_jwt t;
    const char *why;
    if (!sl_jwt_parse(token, strlen(token), &t, &why))
        return false;
    bool ok = sl_jwt_verify(&t, k->type, k->der, k->len);
    sl_jwt_free(&t);
    return ok;
}

/* Every token verifies with its own key and with no other. */
static void test_vectors_verify_with_their_key_only(void)
{
    key keys[NVECTORS];
    for (size_t i = 0; i < NVECTORS; i++)
        CHECK(load_key(vectors[i].jwk, &keys[i]));
    for (size_t i = 0; i < NVECTORS; i++)
        for (size_t j = 0; j < NVECTORS; j++)
            CHECK(verifies(vectors[i].token, &keys[j]) == (i == j));
    for (size_t i = 0; i < NVECTORS; i++)
        free(keys[i].der);
}

/* A changed byte anywhere (header, payload or signature) fails verification. */
static void test_tampered_tokens_fail(void)
{
    key k;
    CHECK(load_key(vectors[2].jwk, &k)); /* ES256 */
    const char *tok = vectors[2].token;
    size_t n = strlen(tok);
    char *copy = strdup(tok);
    size_t positions[] = {3, strchr(tok, '.') - tok + 5, n - 3};
    for (size_t i = 0; i < 3; i++) {
        strcpy(copy, tok);
        copy[positions[i]] = copy[positions[i]] == 'A' ? 'B' : 'A';
        CHECK(!verifies(copy, &k));
    }
    free(copy);
    free(k.der);
}

static void test_parse_refusals(void)
{
    sl_jwt t;
    const char *why = "";
    CHECK(!sl_jwt_parse("abc", 3, &t, &why));
    CHECK_STR(why, "malformed token");
    CHECK(!sl_jwt_parse("a.b.c.d", 7, &t, &why));
    /* alg none, with and without a signature */
    const char *none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
    CHECK(!sl_jwt_parse(none, strlen(none), &t, &why));
    CHECK_STR(why, "unsupported algorithm");
    /* HS256 is not an algorithm we know: no key can be an HMAC secret */
    const char *hs = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
    CHECK(!sl_jwt_parse(hs, strlen(hs), &t, &why));
    CHECK_STR(why, "unsupported algorithm");
    /* a critical header extension we do not know */
    const char *crit = "eyJhbGciOiJSUzI1NiIsImNyaXQiOlsiZXhwIl19.eyJzdWIiOiJ4In0.c2ln";
    CHECK(!sl_jwt_parse(crit, strlen(crit), &t, &why));
    CHECK_STR(why, "unsupported critical header");
    /* a payload that is not an object */
    const char *arr = "eyJhbGciOiJSUzI1NiJ9.WzFd.c2ln";
    CHECK(!sl_jwt_parse(arr, strlen(arr), &t, &why));
    CHECK_STR(why, "malformed token payload");
    const char *nosig = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.";
    CHECK(!sl_jwt_parse(nosig, strlen(nosig), &t, &why));
    CHECK_STR(why, "malformed signature");
    const char *ok = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2ln";
    CHECK(sl_jwt_parse(ok, strlen(ok), &t, &why));
    CHECK(t.alg == SL_JWT_RS256);
    CHECK_STR(t.kid, "k1");
    CHECK(t.sig_len == 3 && memcmp(t.sig, "sig", 3) == 0);
    sl_jwt_free(&t);
}

static void test_base64url(void)
{
    unsigned char out[16];
    size_t n;
    CHECK(sl_base64url_decode("aGk", 3, out, sizeof(out), &n) && n == 2 && memcmp(out, "hi", 2) == 0);
    CHECK(sl_base64url_decode("", 0, out, sizeof(out), &n) && n == 0);
    CHECK(sl_base64url_decode("-_8", 3, out, sizeof(out), &n) && n == 2 && out[0] == 0xfb && out[1] == 0xff);
    CHECK(!sl_base64url_decode("aGk=", 4, out, sizeof(out), &n)); /* no padding */
    CHECK(!sl_base64url_decode("a+k", 3, out, sizeof(out), &n));  /* not the url alphabet */
    CHECK(!sl_base64url_decode("a", 1, out, sizeof(out), &n));    /* 6 bits make no byte */
    CHECK(!sl_base64url_decode("aGl", 3, out, sizeof(out), &n));  /* non-zero bits left over */
    CHECK(!sl_base64url_decode("aGVsbG8gd29ybGQgaGVsbG8", 23, out, 4, &n)); /* too small */
}

static void test_jwk_refusals(void)
{
    static const char *const bad[] = {
        "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}",                      /* symmetric */
        "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",            /* 17-bit modulus */
        "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}", /* curve */
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQ\",\"y\":\"AQ\"}", /* short coordinates */
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"}",          /* not a signature curve */
        "{\"n\":\"AQAB\"}",                                            /* no kty */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        key k;
        CHECK(!load_key(bad[i], &k));
    }
    /* use enc, and an alg that does not fit the key */
    json_t *jwk = json_loads(vectors[0].jwk, 0, NULL);
    key k;
    char why[200];
    json_object_set_new(jwk, "use", json_string("enc"));
    CHECK(!sl_jwk_to_der(jwk, &k.type, &k.alg, &k.der, &k.len, why, sizeof(why)));
    json_object_set_new(jwk, "use", json_string("sig"));
    json_object_set_new(jwk, "alg", json_string("ES256"));
    CHECK(!sl_jwk_to_der(jwk, &k.type, &k.alg, &k.der, &k.len, why, sizeof(why)));
    json_object_set_new(jwk, "alg", json_string("PS256"));
    CHECK(sl_jwk_to_der(jwk, &k.type, &k.alg, &k.der, &k.len, why, sizeof(why)) && k.alg == SL_JWT_PS256);
    free(k.der);
    json_decref(jwk);
}

static void test_claims_flatten(void)
{
    json_t *c = json_loads("{\"sub\":\"alice\",\"n\":42,\"ok\":true,\"groups\":[\"a\",\"b\",3],"
                           "\"nested\":{\"x\":1},\"bad\":\"a\\r\\nX-Evil: 1\",\"nul\":null}", 0, NULL);
    sl_claims *cl = sl_claims_flatten(c);
    CHECK_STR(sl_claims_get(cl, "sub"), "alice");
    CHECK_STR(sl_claims_get(cl, "n"), "42");
    CHECK_STR(sl_claims_get(cl, "ok"), "true");
    CHECK_STR(sl_claims_get(cl, "groups"), "a\nb\n3");
    CHECK(sl_claims_get(cl, "nested") == NULL); /* objects are left out */
    CHECK(sl_claims_get(cl, "bad") == NULL);    /* control characters could split a header */
    CHECK(sl_claims_get(cl, "nul") == NULL);
    CHECK(sl_claims_get(cl, "missing") == NULL);
    CHECK(sl_claims_get(NULL, "sub") == NULL);
    free(cl);
    json_decref(c);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_vectors_verify_with_their_key_only),
        UNIT_TEST(test_tampered_tokens_fail),
        UNIT_TEST(test_parse_refusals),
        UNIT_TEST(test_base64url),
        UNIT_TEST(test_jwk_refusals),
        UNIT_TEST(test_claims_flatten),
    };
    return sl_unit_run("jwt", tests, sizeof(tests) / sizeof(tests[0]));
}

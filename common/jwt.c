/* JSON Web Tokens: parsing the compact form and verifying its signature (see jwt.h). */
#include "common/jwt.h"

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    sl_jwk_type key;
} algs[SL_JWT_NALGS] = {
    [SL_JWT_RS256] = {"RS256", SL_JWK_RSA},  [SL_JWT_RS384] = {"RS384", SL_JWK_RSA},
    [SL_JWT_RS512] = {"RS512", SL_JWK_RSA},  [SL_JWT_PS256] = {"PS256", SL_JWK_RSA},
    [SL_JWT_PS384] = {"PS384", SL_JWK_RSA},  [SL_JWT_PS512] = {"PS512", SL_JWK_RSA},
    [SL_JWT_ES256] = {"ES256", SL_JWK_EC_P256}, [SL_JWT_ES384] = {"ES384", SL_JWK_EC_P384},
    [SL_JWT_EDDSA] = {"EdDSA", SL_JWK_ED25519},
};

sl_jwt_alg sl_jwt_alg_from_name(const char *name)
{
    for (int a = SL_JWT_RS256; name && a < SL_JWT_NALGS; a++)
        if (strcmp(algs[a].name, name) == 0)
            return (sl_jwt_alg)a;
    return SL_JWT_ALG_NONE;
}

const char *sl_jwt_alg_name(sl_jwt_alg alg)
{
    return alg > SL_JWT_ALG_NONE && alg < SL_JWT_NALGS ? algs[alg].name : "none";
}

bool sl_jwt_alg_fits(sl_jwt_alg alg, sl_jwk_type type)
{
    return alg > SL_JWT_ALG_NONE && alg < SL_JWT_NALGS && algs[alg].key == type;
}

static int b64url_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

bool sl_base64url_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen)
{
    if (len % 4 == 1)
        return false; /* 6 bits cannot end a byte */
    size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > cap)
        return false;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* The bits left over must be zero: one encoding per value. */
    if (bits && (acc & ((1u << bits) - 1)))
        return false;
    *outlen = o;
    return true;
}

/* Decodes one base64url part holding a JSON object. */
static json_t *decode_object(const char *part, size_t len, unsigned char *buf, size_t cap)
{
    size_t n;
    if (!sl_base64url_decode(part, len, buf, cap, &n))
        return NULL;
    json_t *o = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

bool sl_jwt_parse(const char *token, size_t len, sl_jwt *t, const char **why)
{
    memset(t, 0, sizeof(*t));
    if (len > SL_JWT_MAX_TOKEN) {
        *why = "token too long";
        return false;
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) || dot1 == token) {
        *why = "malformed token";
        return false;
    }
    unsigned char buf[SL_JWT_MAX_TOKEN];
    json_t *header = decode_object(token, (size_t)(dot1 - token), buf, 1024);
    if (!header) {
        *why = "malformed token header";
        return false;
    }
    t->alg = sl_jwt_alg_from_name(json_string_value(json_object_get(header, "alg")));
    const char *kid = json_string_value(json_object_get(header, "kid"));
    bool crit = json_object_get(header, "crit") != NULL;
    if (kid && strlen(kid) < sizeof(t->kid))
        strcpy(t->kid, kid);
    bool kid_ok = !json_object_get(header, "kid") || (kid && strlen(kid) < sizeof(t->kid));
    json_decref(header);
    if (t->alg == SL_JWT_ALG_NONE || crit || !kid_ok) {
        /* RFC 7515 4.1.11: a "crit" extension we do not know makes the token invalid. */
        *why = t->alg == SL_JWT_ALG_NONE ? "unsupported algorithm" : crit ? "unsupported critical header" : "bad kid";
        return false;
    }
    t->claims = decode_object(dot1 + 1, (size_t)(dot2 - dot1 - 1), buf, sizeof(buf));
    if (!t->claims) {
        *why = "malformed token payload";
        return false;
    }
    if (dot2 == token + len - 1 ||
        !sl_base64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), t->sig, sizeof(t->sig), &t->sig_len)) {
        sl_jwt_free(t);
        *why = "malformed signature";
        return false;
    }
    t->signed_part = token;
    t->signed_len = (size_t)(dot2 - token);
    return true;
}

void sl_jwt_free(sl_jwt *t)
{
    json_decref(t->claims);
    t->claims = NULL;
}

static const EVP_MD *digest_of(sl_jwt_alg alg)
{
    switch (alg) {
    case SL_JWT_RS256: case SL_JWT_PS256: case SL_JWT_ES256: return EVP_sha256();
    case SL_JWT_RS384: case SL_JWT_PS384: case SL_JWT_ES384: return EVP_sha384();
    case SL_JWT_RS512: case SL_JWT_PS512: return EVP_sha512();
    default: return NULL; /* EdDSA hashes internally */
    }
}

/* Does the decoded key really have the type the snapshot says? */
static bool key_is(EVP_PKEY *k, sl_jwk_type type)
{
    char group[32] = "";
    size_t glen = 0;
    switch (type) {
    case SL_JWK_RSA: return EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA;
    case SL_JWK_ED25519: return EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519;
    case SL_JWK_EC_P256:
    case SL_JWK_EC_P384:
        if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
            !EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen))
            return false;
        return strcmp(group, type == SL_JWK_EC_P256 ? "prime256v1" : "secp384r1") == 0;
    default: return false;
    }
}

/* JWS carries ECDSA signatures as R || S (RFC 7518 3.4); OpenSSL wants DER. */
static bool ecdsa_to_der(const sl_jwt *t, size_t coord, unsigned char *der, size_t cap, size_t *der_len)
{
    if (t->sig_len != 2 * coord)
        return false;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(t->sig, (int)coord, NULL), *s = BN_bin2bn(t->sig + coord, (int)coord, NULL);
    bool ok = es && r && s && ECDSA_SIG_set0(es, r, s) == 1;
    if (!ok) {
        BN_free(r);
        BN_free(s);
    }
    int n = ok ? i2d_ECDSA_SIG(es, NULL) : -1;
    ok = ok && n > 0 && (size_t)n <= cap;
    if (ok) {
        unsigned char *p = der;
        *der_len = (size_t)i2d_ECDSA_SIG(es, &p);
    }
    ECDSA_SIG_free(es);
    return ok;
}

bool sl_jwt_verify(const sl_jwt *t, sl_jwk_type type, const unsigned char *der, size_t der_len)
{
    if (!sl_jwt_alg_fits(t->alg, type))
        return false;
    const unsigned char *p = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)der_len);
    if (!key) {
        ERR_clear_error();
        return false;
    }
    const unsigned char *sig = t->sig;
    size_t sig_len = t->sig_len;
    unsigned char ecder[160];
    bool ok = key_is(key, type);
    if (ok && (type == SL_JWK_EC_P256 || type == SL_JWK_EC_P384)) {
        ok = ecdsa_to_der(t, type == SL_JWK_EC_P256 ? 32 : 48, ecder, sizeof(ecder), &sig_len);
        sig = ecder;
    }
    EVP_MD_CTX *ctx = ok ? EVP_MD_CTX_new() : NULL;
    EVP_PKEY_CTX *pctx = NULL;
    ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, digest_of(t->alg), NULL, key) == 1;
    if (ok && t->alg >= SL_JWT_PS256 && t->alg <= SL_JWT_PS512) /* RFC 7518 3.5: salt as long as the hash */
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)t->signed_part, t->signed_len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    ERR_clear_error(); /* a refused token must not leave errors for the next TLS call to read */
    return ok;
}

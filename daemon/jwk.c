/* JWK public keys to DER SubjectPublicKeyInfo (see jwk.h), through OpenSSL 3's
 * key-from-parameters interface. */
#include "daemon/jwk.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_RSA_BITS 2048

/* A base64url field of the JWK, decoded into out; false when absent or bad. */
static bool field(const json_t *jwk, const char *name, unsigned char *out, size_t cap, size_t *len)
{
    const char *v = json_string_value(json_object_get(jwk, name));
    return v && sl_base64url_decode(v, strlen(v), out, cap, len) && *len > 0;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *key = NULL;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return key;
}

static EVP_PKEY *rsa_key(const json_t *jwk, char *why, size_t whylen)
{
    unsigned char n[1024], e[16];
    size_t nlen, elen;
    if (!field(jwk, "n", n, sizeof(n), &nlen) || !field(jwk, "e", e, sizeof(e), &elen)) {
        snprintf(why, whylen, "an RSA key needs base64url fields n (at most 8192 bits) and e");
        return NULL;
    }
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
    if (bn && BN_num_bits(bn) < MIN_RSA_BITS) {
        snprintf(why, whylen, "RSA key of %d bits: at least %d are required", BN_num_bits(bn), MIN_RSA_BITS);
        BN_free(bn);
        BN_free(be);
        return NULL;
    }
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *key = NULL;
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
        key = from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    if (!key)
        snprintf(why, whylen, "not a usable RSA public key");
    return key;
}

static EVP_PKEY *ec_key(const json_t *jwk, sl_jwk_type *type, char *why, size_t whylen)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    size_t coord = crv && strcmp(crv, "P-256") == 0 ? 32 : crv && strcmp(crv, "P-384") == 0 ? 48 : 0;
    if (!coord) {
        snprintf(why, whylen, "EC curve %s is not supported (P-256 and P-384 are)", crv ? crv : "(none)");
        return NULL;
    }
    *type = coord == 32 ? SL_JWK_EC_P256 : SL_JWK_EC_P384;
    unsigned char point[1 + 2 * 48];
    size_t xl, yl;
    point[0] = 0x04; /* uncompressed: 04 || x || y */
    if (!field(jwk, "x", point + 1, coord, &xl) || !field(jwk, "y", point + 1 + coord, coord, &yl) || xl != coord ||
        yl != coord) {
        snprintf(why, whylen, "an EC key on %s needs base64url fields x and y of %zu bytes each", crv, coord);
        return NULL;
    }
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *key = NULL;
    if (bld &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, coord == 32 ? "prime256v1" : "secp384r1",
                                        0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * coord) == 1)
        key = from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    if (!key)
        snprintf(why, whylen, "not a point on %s", crv);
    return key;
}

static EVP_PKEY *okp_key(const json_t *jwk, char *why, size_t whylen)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    unsigned char x[32];
    size_t xl;
    if (!crv || strcmp(crv, "Ed25519") != 0) {
        snprintf(why, whylen, "OKP curve %s is not supported (Ed25519 is)", crv ? crv : "(none)");
        return NULL;
    }
    EVP_PKEY *key = field(jwk, "x", x, sizeof(x), &xl) && xl == 32
                        ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32)
                        : NULL;
    if (!key)
        snprintf(why, whylen, "an Ed25519 key needs a base64url field x of 32 bytes");
    return key;
}

bool sl_jwk_to_der(const json_t *jwk, sl_jwk_type *type, sl_jwt_alg *alg, unsigned char **der, size_t *der_len,
                   char *why, size_t whylen)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    const char *alg_name = json_string_value(json_object_get(jwk, "alg"));
    *der = NULL;
    *type = SL_JWK_NONE;
    *alg = sl_jwt_alg_from_name(alg_name);
    if (!json_is_object(jwk) || !kty) {
        snprintf(why, whylen, "not a JWK (no kty)");
        return false;
    }
    if (use && strcmp(use, "sig") != 0) {
        snprintf(why, whylen, "a key for use \"%s\", not for signatures", use);
        return false;
    }
    if (alg_name && *alg == SL_JWT_ALG_NONE) {
        snprintf(why, whylen, "algorithm %s is not supported", alg_name);
        return false;
    }
    EVP_PKEY *key = NULL;
    if (strcmp(kty, "RSA") == 0) {
        *type = SL_JWK_RSA;
        key = rsa_key(jwk, why, whylen);
    } else if (strcmp(kty, "EC") == 0) {
        key = ec_key(jwk, type, why, whylen);
    } else if (strcmp(kty, "OKP") == 0) {
        *type = SL_JWK_ED25519;
        key = okp_key(jwk, why, whylen);
    } else {
        snprintf(why, whylen, "key type %s is not supported (RSA, EC and OKP are; symmetric keys never are)", kty);
    }
    if (key && *alg != SL_JWT_ALG_NONE && !sl_jwt_alg_fits(*alg, *type)) {
        snprintf(why, whylen, "algorithm %s does not fit a %s key", alg_name, kty);
        EVP_PKEY_free(key);
        key = NULL;
    }
    int n = key ? i2d_PUBKEY(key, der) : -1;
    EVP_PKEY_free(key);
    ERR_clear_error();
    if (n <= 0) {
        if (key)
            snprintf(why, whylen, "cannot encode the key");
        return false;
    }
    *der_len = (size_t)n;
    return true;
}

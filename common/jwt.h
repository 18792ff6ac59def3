/* JSON Web Tokens signed with public keys: the compact serialisation
 * (RFC 7515 section 7.1), the asymmetric algorithms of RFC 7518 and RFC 8037,
 * and JWK public keys (RFC 7517). Verification is OpenSSL's EVP; nothing here
 * hashes or does big-number arithmetic by hand.
 *
 * Symmetric algorithms (HS256...) are not supported at all, so a token signed
 * with HMAC using a public key as the secret (the "algorithm confusion" attack)
 * finds no key that fits; `alg: none` is refused when parsed. */
#ifndef SL_JWT_H
#define SL_JWT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SL_JWT_ALG_NONE = 0, /* not an algorithm: "none" and anything unknown */
    SL_JWT_RS256,
    SL_JWT_RS384,
    SL_JWT_RS512,
    SL_JWT_PS256,
    SL_JWT_PS384,
    SL_JWT_PS512,
    SL_JWT_ES256,
    SL_JWT_ES384,
    SL_JWT_EDDSA,
    SL_JWT_NALGS
} sl_jwt_alg;

/* The kinds of public key a JWK may hold (what a compiled key records). */
typedef enum {
    SL_JWK_NONE = 0,
    SL_JWK_RSA,
    SL_JWK_EC_P256,
    SL_JWK_EC_P384,
    SL_JWK_ED25519,
} sl_jwk_type;

/* The largest token the parser takes (bytes of the compact form). */
#define SL_JWT_MAX_TOKEN 8192

/* A parsed token. `claims` is the payload object (owned: sl_jwt_free). */
typedef struct sl_jwt {
    sl_jwt_alg alg;
    char kid[128];          /* "" when the header has none */
    json_t *claims;
    const char *signed_part; /* header.payload, within the token given to sl_jwt_parse */
    size_t signed_len;
    unsigned char sig[1024]; /* the decoded signature */
    size_t sig_len;
} sl_jwt;

/* The algorithm named `name` ("RS256"...); SL_JWT_ALG_NONE for any other. */
sl_jwt_alg sl_jwt_alg_from_name(const char *name);
const char *sl_jwt_alg_name(sl_jwt_alg alg);

/* Whether a key of type `type` can verify `alg`. */
bool sl_jwt_alg_fits(sl_jwt_alg alg, sl_jwk_type type);

/* Decodes base64url without padding (RFC 7515 section 2) into out (cap bytes).
 * Returns false on a character outside the alphabet, an impossible length,
 * padding, or when out is too small. */
bool sl_base64url_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen);

/* Parses a compact JWS of len bytes (not NUL-terminated). On success the token
 * must outlive t (signed_part points into it). On failure returns false with
 * *why set to a short static reason; t holds nothing to free. */
bool sl_jwt_parse(const char *token, size_t len, sl_jwt *t, const char **why);
void sl_jwt_free(sl_jwt *t);

/* Verifies t's signature with a public key given as DER SubjectPublicKeyInfo
 * of type `type`. False when the key does not fit the algorithm or the
 * signature is wrong. */
bool sl_jwt_verify(const sl_jwt *t, sl_jwk_type type, const unsigned char *der, size_t der_len);

#endif

/* JWK public keys (RFC 7517, RFC 7518 section 6, RFC 8037) to OpenSSL's DER
 * SubjectPublicKeyInfo, which the snapshot stores and workers verify with
 * (common/jwt.h). Master only. */
#ifndef SL_JWK_H
#define SL_JWK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/jwt.h"

/* Converts one JWK (an object of a JWKS "keys" array) to DER (malloc'd into
 * *der). Returns false with why for a key that cannot verify signatures here:
 * a symmetric "oct" key, an unknown type or curve, a key whose "use" is not
 * "sig", or malformed fields. *alg is the key's "alg" restriction
 * (SL_JWT_ALG_NONE: any algorithm that fits its type). */
bool sl_jwk_to_der(const json_t *jwk, sl_jwk_type *type, sl_jwt_alg *alg, unsigned char **der, size_t *der_len,
                   char *why, size_t whylen);

#endif

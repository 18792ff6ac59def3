/* libFuzzer target: the JSON Web Token parser and verifier (common/jwt.c), which
 * read the bearer token of every request on a route with a jwt policy. Each
 * input is a token in an exact-size heap copy (ASan catches a read past the
 * end). Invariants: a token that parses names a supported algorithm, a kid
 * that fits, a claims object and a signed part within the input that ends
 * just before its second '.'; verification against a fixed key of each type
 * never crashes and never accepts (no input here was signed by those keys). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jwt.h"
#include "daemon/jwk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const jwks[] = {
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SL_JWT_MAX_TOKEN + 16)
        return 0;
    char *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    sl_jwt t;
    const char *why = NULL;
    if (sl_jwt_parse(copy, size, &t, &why)) {
        if (t.alg <= SL_JWT_ALG_NONE || t.alg >= SL_JWT_NALGS || !json_is_object(t.claims) ||
            strlen(t.kid) >= sizeof(t.kid) || t.signed_part != copy || t.signed_len >= size ||
            memchr(copy, '.', t.signed_len) == NULL || copy[t.signed_len] != '.')
            abort();
        for (size_t k = 0; k < sizeof(jwks) / sizeof(jwks[0]); k++) {
            json_t *jwk = json_loads(jwks[k], 0, NULL);
            sl_jwk_type type;
            sl_jwt_alg alg;
            unsigned char *der;
            size_t der_len;
            char problem[160];
            if (!jwk || !sl_jwk_to_der(jwk, &type, &alg, &der, &der_len, problem, sizeof(problem)))
                abort();
            if (sl_jwt_verify(&t, type, der, der_len))
                abort();
            free(der);
            json_decref(jwk);
        }
        sl_jwt_free(&t);
    } else if (!why || t.claims) {
        abort();
    }
    free(copy);
    return 0;
}

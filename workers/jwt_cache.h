/* Verified JSON Web Tokens, remembered per worker so that a client sending the
 * same token again costs a hash and a comparison, not a signature check.
 *
 * An entry belongs to one compiled jwt policy of one snapshot generation (a
 * new snapshot may carry other keys); it keeps the token, its validity window
 * and its claims flattened (sl_claims). Direct-mapped: a colliding token
 * replaces the entry, which costs that token one verification. */
#ifndef SL_JWT_CACHE_H
#define SL_JWT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SL_JWT_CACHE_ENTRIES 1024
#define SL_JWT_CACHE_MAX_TOKEN 4096 /* longer tokens are verified every time */
#define SL_CLAIMS_MAX 4096          /* bytes of flattened claims kept */

/* A token's top-level claims as "name\0value\0" pairs: strings as they are,
 * numbers and booleans as JSON text, arrays of those with one element per
 * line ('\n'). Objects, nulls and anything with a control character are left
 * out (they cannot become header values). */
typedef struct sl_claims {
    uint32_t len;
    char data[];
} sl_claims;

/* Flattens a claims object (malloc'd; NULL when out of memory). */
sl_claims *sl_claims_flatten(const json_t *claims);
/* The value of claim `name`, NUL-terminated; NULL when the token has none. */
const char *sl_claims_get(const sl_claims *cl, const char *name);
sl_claims *sl_claims_copy(const sl_claims *cl);

typedef struct sl_jwt_cached {
    uint64_t generation;
    uint32_t policy;    /* POLICIES index */
    uint32_t provider;  /* the provider's first item, relative to the policy's items */
    uint64_t hash;
    int64_t not_before;  /* seconds since the epoch, skew applied; INT64_MIN: none */
    int64_t expires;     /* ... INT64_MAX: none */
    int64_t stale_after; /* the entry is not used after this (seconds since the epoch) */
    char *token;
    size_t token_len;
    sl_claims *claims;
} sl_jwt_cached;

/* The cached entry for this token under (generation, policy), still fresh at
 * `now`, or NULL. *hash receives the token's hash for sl_jwt_cache_put. */
const sl_jwt_cached *sl_jwt_cache_get(uint64_t generation, uint32_t policy, const char *token, size_t len,
                                      int64_t now, uint64_t *hash);
/* Remembers a verified token; takes ownership of claims (freed on failure). */
void sl_jwt_cache_put(const sl_jwt_cached *e, sl_claims *claims);

#endif

/* The per-worker cache of verified tokens (see jwt_cache.h). It is process
 * state: workers are single-threaded and each has its own; the master never
 * uses it. */
#include "workers/jwt_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sl_jwt_cached *cache; /* SL_JWT_CACHE_ENTRIES, allocated on first use */

/* FNV-1a over 8-byte words: the token is hashed on every request, so cheaply;
 * entries are confirmed by comparing the whole token. */
static uint64_t token_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 1099511628211ULL;
    }
    for (; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

const sl_jwt_cached *sl_jwt_cache_get(uint64_t generation, uint32_t policy, const char *token, size_t len,
                                      int64_t now, uint64_t *hash)
{
    *hash = token_hash(token, len) ^ ((uint64_t)policy << 40);
    if (!cache)
        return NULL;
    const sl_jwt_cached *e = &cache[*hash % SL_JWT_CACHE_ENTRIES];
    if (e->token && e->hash == *hash && e->generation == generation && e->policy == policy &&
        e->token_len == len && now <= e->stale_after && now >= e->not_before && memcmp(e->token, token, len) == 0)
        return e;
    return NULL;
}

void sl_jwt_cache_put(const sl_jwt_cached *in, sl_claims *claims)
{
    if (in->token_len > SL_JWT_CACHE_MAX_TOKEN ||
        (!cache && !(cache = calloc(SL_JWT_CACHE_ENTRIES, sizeof(*cache))))) {
        free(claims);
        return;
    }
    sl_jwt_cached *e = &cache[in->hash % SL_JWT_CACHE_ENTRIES];
    char *token = malloc(in->token_len);
    if (!token) {
        free(claims);
        return;
    }
    memcpy(token, in->token, in->token_len);
    free(e->token);
    free(e->claims);
    *e = *in;
    e->token = token;
    e->claims = claims;
}

/* ---- claims ---- */

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* One scalar as text into out; false for what a header cannot carry. */
static bool scalar_text(const json_t *v, char *out, size_t cap)
{
    int n;
    if (json_is_string(v)) {
        if (!printable(json_string_value(v)))
            return false;
        n = snprintf(out, cap, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        n = snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        n = snprintf(out, cap, "%.17g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        n = snprintf(out, cap, "%s", json_is_true(v) ? "true" : "false");
    } else {
        return false;
    }
    return n >= 0 && (size_t)n < cap;
}

/* The claim's value as text (arrays one element per line). */
static bool claim_text(const json_t *v, char *out, size_t cap)
{
    if (!json_is_array(v))
        return scalar_text(v, out, cap);
    size_t i, o = 0;
    const json_t *x;
    out[0] = '\0';
    json_array_foreach(v, i, x)
    {
        if (i) {
            if (o + 1 >= cap)
                return false;
            out[o++] = '\n';
        }
        if (!scalar_text(x, out + o, cap - o))
            return false;
        o += strlen(out + o);
    }
    return true;
}

sl_claims *sl_claims_flatten(const json_t *claims)
{
    sl_claims *cl = malloc(sizeof(*cl) + SL_CLAIMS_MAX);
    if (!cl)
        return NULL;
    cl->len = 0;
    const char *name;
    const json_t *v;
    char text[SL_CLAIMS_MAX];
    json_object_foreach((json_t *)claims, name, v)
    {
        size_t nl = strlen(name);
        if (!nl || !printable(name) || !claim_text(v, text, sizeof(text)))
            continue;
        size_t tl = strlen(text);
        if (cl->len + nl + tl + 2 > SL_CLAIMS_MAX)
            continue; /* too much: this claim is left out */
        memcpy(cl->data + cl->len, name, nl + 1);
        memcpy(cl->data + cl->len + nl + 1, text, tl + 1);
        cl->len += (uint32_t)(nl + tl + 2);
    }
    return cl;
}

const char *sl_claims_get(const sl_claims *cl, const char *name)
{
    for (uint32_t i = 0; cl && i < cl->len;) {
        const char *n = cl->data + i;
        const char *v = n + strlen(n) + 1;
        if (strcmp(n, name) == 0)
            return v;
        i = (uint32_t)(v + strlen(v) + 1 - cl->data);
    }
    return NULL;
}

sl_claims *sl_claims_copy(const sl_claims *cl)
{
    sl_claims *c = malloc(sizeof(*c) + cl->len);
    if (c)
        memcpy(c, cl, sizeof(*c) + cl->len);
    return c;
}

/* Policy kind apiKeyAuth: callers present a key; the gateway knows whose it is.
 *
 *   apiKeyAuth:
 *     secretRefs: [{name: api-keys}]   # each data entry: client id -> key
 *     header: X-API-Key                # where the key is looked for (default)
 *     bearer: true                     # also accept Authorization: Bearer <key>
 *     clientIdHeader: X-Client-Id      # tell the upstream who called (optional)
 *
 * A request without a key, or with one that no Secret holds, gets 401 with
 * WWW-Authenticate. A known key makes its client id the request's: written to
 * the access log, usable as a rate-limit key (rateLimit key ClientId), and sent
 * upstream in clientIdHeader (a client's own field of that name is dropped).
 * The key itself is never forwarded: its header (or Authorization) is removed.
 *
 * Keys are not kept: the snapshot holds their SHA-256, sorted, and a presented
 * key is hashed and looked up (binary search, then a constant-time comparison
 * of the whole hash), so neither the snapshot nor the timing of a comparison
 * gives a key away.
 *
 * Compiled: one item per key (a = client id, b = the 32-byte hash), sorted by
 * hash; policy a = the key header, b = clientIdHeader ("" none), flags bit 0 =
 * bearer. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "workers/conn.h"
#include "workers/policy.h"

#define BEARER 1
#define HASH_LEN 32

typedef struct key_entry {
    char id[256];
    uint8_t hash[HASH_LEN];
} key_entry;

typedef struct key_list {
    key_entry *v;
    size_t n, cap;
} key_list;

static bool sha256(const void *data, size_t len, uint8_t out[HASH_LEN])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == HASH_LEN;
}

static void collect(const char *id, const char *value, size_t len, void *arg)
{
    key_list *l = arg;
    if (len == 0)
        return; /* an empty key would let anyone in */
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        key_entry *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            abort();
        l->v = v;
        l->cap = cap;
    }
    key_entry *e = &l->v[l->n];
    snprintf(e->id, sizeof(e->id), "%s", id);
    if (sha256(value, len, e->hash))
        l->n++;
}

static int by_hash(const void *a, const void *b)
{
    return memcmp(((const key_entry *)a)->hash, ((const key_entry *)b)->hash, HASH_LEN);
}

/* ---- master ---- */

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    key_list keys = {0};
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(section, "secretRefs"), i, ref)
    {
        const char *name = json_string_value(json_object_get(ref, "name"));
        /* A missing Secret fails closed: its keys are not accepted, the others
         * are, and status says why (a compile that returns true with `why`). */
        if (!name || !env->secret_data(env, name, collect, &keys))
            snprintf(why, whylen, "apiKeyAuth: Secret %s/%s does not exist; no key of it is accepted", env->ns,
                     name ? name : "");
    }
    if (keys.n)
        qsort(keys.v, keys.n, sizeof(*keys.v), by_hash);
    rec->items.first = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS);
    for (size_t k = 0; k < keys.n; k++) {
        sl_snap_policy_item it = {0};
        it.a = sl_sb_str(env->b, keys.v[k].id);
        it.b = sl_sb_strn(env->b, (const char *)keys.v[k].hash, HASH_LEN);
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &it);
    }
    rec->items.count = (uint32_t)keys.n;
    free(keys.v);
    const char *header = json_string_value(json_object_get(section, "header"));
    rec->a = sl_sb_str(env->b, header && header[0] ? header : "X-API-Key");
    rec->b = sl_sb_str(env->b, json_string_value(json_object_get(section, "clientIdHeader")));
    rec->flags = json_is_true(json_object_get(section, "bearer")) ? BEARER : 0;
    if (keys.n == 0)
        sl_log_warn("compiler", "apiKeyAuth of TrafficPolicy %s: its Secrets hold no key; every request gets 401",
                    env->source);
    return true;
}

/* Every item's hash is a whole hash: what the lookup reads. */
static bool check(const sl_snapshot *s, const sl_snap_policy *p)
{
    for (uint32_t i = 0; i < p->items.count; i++)
        if (SL_SNAP_GET(s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, p->items.first + i)->b.len != HASH_LEN)
            return false;
    return true;
}

/* ---- worker ---- */

/* The presented key and the name of the field it came in; false when none. */
static bool presented_key(const sl_conn *c, const sl_snap_policy *p, sl_slice *key, sl_slice *field)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_http1_request *req = &c->w->req;
    sl_slice header = sl_slice_make(sl_snap_cstr(s, p->a), p->a.len);
    for (size_t i = 0; i < req->nheaders; i++) {
        const sl_http1_header *h = &req->headers[i];
        if (sl_slice_ieq(h->name, header) && h->value.len) {
            *key = h->value;
            *field = h->name;
            return true;
        }
        if ((p->flags & BEARER) && sl_slice_ieq_cstr(h->name, "authorization") && h->value.len > 7 &&
            strncasecmp(h->value.ptr, "Bearer ", 7) == 0) {
            *key = sl_slice_make(h->value.ptr + 7, h->value.len - 7);
            *field = h->name;
            return true;
        }
    }
    return false;
}

static int by_item_hash(const void *hash, const sl_snapshot *s, const sl_snap_policy_item *it)
{
    return memcmp(hash, sl_snap_cstr(s, it->b), HASH_LEN);
}

/* The key's item; the match is confirmed in constant time. */
static const sl_snap_policy_item *lookup(const sl_snapshot *s, const sl_snap_policy *p, const uint8_t *hash)
{
    const sl_snap_policy_item *it = sl_policy_item_search(s, p, hash, by_item_hash);
    return it && CRYPTO_memcmp(hash, sl_snap_cstr(s, it->b), HASH_LEN) == 0 ? it : NULL;
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    const sl_snapshot *s = &c->snap->s;
    sl_slice key, field;
    uint8_t hash[HASH_LEN];
    const sl_snap_policy_item *it = NULL;
    bool given = presented_key(c, p, &key, &field);
    if (given && sha256(key.ptr, key.len, hash))
        it = lookup(s, p, hash);
    if (!it) {
        sl_log_info("policy", "client %s: %s API key (apiKeyAuth of TrafficPolicy %s)", c->peer,
                    given ? "unknown" : "no", sl_snap_cstr(s, p->source));
        char challenge[200];
        snprintf(challenge, sizeof(challenge), "WWW-Authenticate: %s realm=\"sluice\"\r\n",
                 (p->flags & BEARER) ? "Bearer" : "APIKey");
        sl_conn_respond_with(c, 401, challenge, given ? "unknown API key\n" : "API key required\n", false);
        return SL_POLICY_ANSWERED;
    }
    sl_conn_authenticated(c, sl_snap_cstr(s, it->a), field, sl_slice_make(sl_snap_cstr(s, p->b), p->b.len));
    return SL_POLICY_NEXT;
}

const sl_policy_ops sl_policy_api_key = {
    .section = "apiKeyAuth",
    .phase = SL_PHASE_ACCESS,
    .compile = compile,
    .check = check,
    .on_request = on_request,
};

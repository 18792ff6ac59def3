/* Policy kind basicAuth: users and passwords from an htpasswd file.
 *
 *   basicAuth:
 *     secretRef: {name: users}   # a Secret whose `htpasswd` entry (or `key`) is an htpasswd file
 *     key: htpasswd
 *     realm: api                 # in WWW-Authenticate (default "sluice")
 *     clientIdHeader: X-User     # tell the upstream who called (optional)
 *
 * A request without valid credentials gets 401 with WWW-Authenticate: Basic.
 * Passwords are checked by libcrypt's crypt_r against the file's hashes:
 * bcrypt ($2y$, $2b$: htpasswd -B), SHA-512-crypt ($6$: -5) and SHA-256-crypt
 * ($5$: -2); lines with other hashes (Apache MD5 $apr1$, {SHA}, crypt(3) DES)
 * are refused when compiled (those users cannot log in; status says which).
 * A slow hash (bcrypt) is paid once per user and password: a verified pair is
 * remembered by the worker for five minutes, as the SHA-256 of the policy, the
 * stored hash and the password (so a changed file or password misses). The
 * user name becomes the client id (access log, rateLimit key ClientId,
 * clientIdHeader); the Authorization field is not forwarded.
 *
 * Compiled: one item per user (a = name, b = hash), sorted by name; policy
 * a = realm, b = clientIdHeader. */
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "workers/conn.h"
#include "workers/policy.h"

#define CACHE_SLOTS 1024
#define CACHE_MS (5 * 60 * 1000)

typedef struct user {
    char name[128];
    char hash[256];
} user;

typedef struct user_list {
    user *v;
    size_t n, cap;
    const char *want_key;
    char problems[400];
    bool found;
} user_list;

static bool supported(const char *hash)
{
    return strncmp(hash, "$2y$", 4) == 0 || strncmp(hash, "$2b$", 4) == 0 || strncmp(hash, "$2a$", 4) == 0 ||
           strncmp(hash, "$6$", 3) == 0 || strncmp(hash, "$5$", 3) == 0;
}

static void add_user(user_list *l, const char *name, size_t nlen, const char *hash, size_t hlen)
{
    if (nlen == 0 || nlen >= sizeof(l->v[0].name) || hlen == 0 || hlen >= sizeof(l->v[0].hash))
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        user *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            abort();
        l->v = v;
        l->cap = cap;
    }
    memcpy(l->v[l->n].name, name, nlen);
    l->v[l->n].name[nlen] = '\0';
    memcpy(l->v[l->n].hash, hash, hlen);
    l->v[l->n].hash[hlen] = '\0';
    if (!supported(l->v[l->n].hash)) {
        size_t used = strlen(l->problems);
        snprintf(l->problems + used, sizeof(l->problems) - used, "%s%s", used ? ", " : "", l->v[l->n].name);
        return;
    }
    l->n++;
}

/* Secret entries: the htpasswd file, one "name:hash" per line. */
static void parse_file(const char *key, const char *value, size_t len, void *arg)
{
    user_list *l = arg;
    if (strcmp(key, l->want_key) != 0)
        return;
    l->found = true;
    const char *p = value, *end = value + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon && *p != '#')
            add_user(l, p, (size_t)(colon - p), colon + 1, (size_t)(line_end - colon - 1));
        p = eol + 1;
    }
}

static int by_name(const void *a, const void *b) { return strcmp(((const user *)a)->name, ((const user *)b)->name); }

/* ---- master ---- */

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    const char *name = json_string_value(json_object_get(json_object_get(section, "secretRef"), "name"));
    const char *key = json_string_value(json_object_get(section, "key"));
    user_list users = {.want_key = key && key[0] ? key : "htpasswd"};
    if (!name || !env->secret_data(env, name, parse_file, &users))
        snprintf(why, whylen, "basicAuth: Secret %s/%s does not exist; nobody can log in", env->ns, name ? name : "");
    else if (!users.found)
        snprintf(why, whylen, "basicAuth: Secret %s/%s has no entry %s; nobody can log in", env->ns, name,
                 users.want_key);
    else if (users.problems[0])
        snprintf(why, whylen,
                 "basicAuth: users %s have hashes sluice cannot check (use bcrypt, SHA-512 or SHA-256 crypt: "
                 "htpasswd -B, -5 or -2); they cannot log in",
                 users.problems);
    if (users.n)
        qsort(users.v, users.n, sizeof(*users.v), by_name);
    rec->items.first = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS);
    for (size_t i = 0; i < users.n; i++) {
        if (i && strcmp(users.v[i].name, users.v[i - 1].name) == 0)
            continue; /* a repeated name: the first line counts, as for Apache */
        sl_snap_policy_item it = {0};
        it.a = sl_sb_str(env->b, users.v[i].name);
        it.b = sl_sb_str(env->b, users.v[i].hash);
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &it);
    }
    rec->items.count = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS) - rec->items.first;
    free(users.v);
    const char *realm = json_string_value(json_object_get(section, "realm"));
    rec->a = sl_sb_str(env->b, realm && realm[0] ? realm : "sluice");
    rec->b = sl_sb_str(env->b, json_string_value(json_object_get(section, "clientIdHeader")));
    return true;
}

/* ---- worker ---- */

typedef struct verified {
    uint8_t digest[32];
    uint64_t until_ms;
} verified;

static verified cache[CACHE_SLOTS]; /* per worker: a worker is one thread */

static void digest(const sl_snapshot *s, const sl_snap_policy *p, const char *hash, const char *password,
                   uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, sl_snap_cstr(s, p->source), p->source.len + 1) != 1 ||
        EVP_DigestUpdate(ctx, hash, strlen(hash) + 1) != 1 || EVP_DigestUpdate(ctx, password, strlen(password)) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1)
        memset(out, 0, 32); /* cannot hash: the cache never matches an all-zero slot with a live time */
    EVP_MD_CTX_free(ctx);
}

static bool password_ok(const sl_snapshot *s, const sl_snap_policy *p, const char *hash, const char *password)
{
    uint8_t d[32];
    digest(s, p, hash, password, d);
    verified *slot = &cache[(d[0] | (unsigned)d[1] << 8) % CACHE_SLOTS];
    uint64_t now = sl_now_ms();
    if (slot->until_ms > now && CRYPTO_memcmp(slot->digest, d, 32) == 0)
        return true;
    static struct crypt_data data; /* ~32 KiB: not on the stack */
    memset(&data, 0, sizeof(data));
    const char *out = crypt_r(password, hash, &data);
    size_t n = strlen(hash);
    if (!out || out[0] == '*' || strlen(out) != n || CRYPTO_memcmp(out, hash, n) != 0)
        return false;
    memcpy(slot->digest, d, 32);
    slot->until_ms = now + CACHE_MS;
    return true;
}

/* "Authorization: Basic base64(user:password)" into user and password. */
static bool credentials(const sl_conn *c, char *name, size_t nlen, char *password, size_t plen, sl_slice *field)
{
    const sl_http1_request *req = &c->w->req;
    for (size_t i = 0; i < req->nheaders; i++) {
        const sl_http1_header *h = &req->headers[i];
        if (!sl_slice_ieq_cstr(h->name, "authorization") || h->value.len <= 6 ||
            strncasecmp(h->value.ptr, "Basic ", 6) != 0)
            continue;
        size_t in = h->value.len - 6;
        if (in > 1024 || in % 4)
            return false;
        unsigned char decoded[800];
        int n = EVP_DecodeBlock(decoded, (const unsigned char *)h->value.ptr + 6, (int)in);
        if (n < 0)
            return false;
        while (n > 0 && in > 0 && h->value.ptr[6 + in - 1] == '=') { /* DecodeBlock counts the padding */
            n--;
            in--;
        }
        const unsigned char *colon = memchr(decoded, ':', (size_t)n);
        if (!colon || (size_t)(colon - decoded) >= nlen || (size_t)(n - (colon - decoded) - 1) >= plen)
            return false;
        memcpy(name, decoded, (size_t)(colon - decoded));
        name[colon - decoded] = '\0';
        memcpy(password, colon + 1, (size_t)(n - (colon - decoded) - 1));
        password[n - (colon - decoded) - 1] = '\0';
        if (memchr(name, '\0', (size_t)(colon - decoded)) || strlen(password) != (size_t)(n - (colon - decoded) - 1))
            return false; /* a NUL inside: not a name or password htpasswd could hold */
        *field = h->name;
        return true;
    }
    return false;
}

static int by_item_name(const void *name, const sl_snapshot *s, const sl_snap_policy_item *it)
{
    return strcmp(name, sl_snap_cstr(s, it->a));
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    const sl_snapshot *s = &c->snap->s;
    char name[128], password[512];
    sl_slice field;
    bool given = credentials(c, name, sizeof(name), password, sizeof(password), &field);
    const sl_snap_policy_item *u = given ? sl_policy_item_search(s, p, name, by_item_name) : NULL;
    bool ok = u && password_ok(s, p, sl_snap_cstr(s, u->b), password);
    OPENSSL_cleanse(password, sizeof(password));
    if (!ok) {
        sl_log_info("policy", "client %s: %s (basicAuth of TrafficPolicy %s)", c->peer,
                    !given ? "no credentials" : "wrong user or password", sl_snap_cstr(s, p->source));
        char challenge[400];
        snprintf(challenge, sizeof(challenge), "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"\r\n",
                 sl_snap_cstr(s, p->a));
        sl_conn_respond_with(c, 401, challenge, "authentication required\n", false);
        return SL_POLICY_ANSWERED;
    }
    sl_conn_authenticated(c, sl_snap_cstr(s, u->a), field, sl_slice_make(sl_snap_cstr(s, p->b), p->b.len));
    return SL_POLICY_NEXT;
}

const sl_policy_ops sl_policy_basic_auth = {
    .section = "basicAuth",
    .phase = SL_PHASE_ACCESS,
    .compile = compile,
    .on_request = on_request,
};

/* AWS Signature Version 4: see aws_sigv4.h. */
#include "common/aws_sigv4.h"

#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing text; on failure `failed` and the text stays what it was. */
typedef struct text {
    char *p;
    size_t len, cap;
    bool failed;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

/* AWS's URI encoding: unreserved characters as they are (and '/' when
 * keep_slash), every other byte %XX in upper case. */
static void put_encoded(text *t, const char *s, size_t n, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            put(t, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            put(t, e, 3);
        }
    }
}

/* The path as AWS canonicalises it for every service but S3 (RFC 3986's
 * dot segments removed, empty segments collapsed, a trailing '/' kept), then
 * encoded once more. */
static void put_canonical_path(text *t, const char *path, size_t len)
{
    size_t nseg = 0, cap = len / 2 + 2;
    const char **seg = malloc(cap * sizeof(*seg));
    size_t *seglen = malloc(cap * sizeof(*seglen));
    if (!seg || !seglen) {
        free(seg);
        free(seglen);
        t->failed = true;
        return;
    }
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        size_t n = j - i;
        if (n == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (nseg)
                nseg--;
        } else if (n && !(n == 1 && path[i] == '.') && nseg < cap) {
            seg[nseg] = path + i;
            seglen[nseg++] = n;
        }
        i = j + 1;
    }
    for (size_t k = 0; k < nseg; k++) {
        put(t, "/", 1);
        put_encoded(t, seg[k], seglen[k], false);
    }
    if (nseg == 0 || (len && path[len - 1] == '/'))
        put(t, "/", 1);
    free(seg);
    free(seglen);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* s percent-decoded (malloc'd; *n its length); '+' is a '+' (as AWS reads it). */
static char *decoded(const char *s, size_t len, size_t *n)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    *n = k;
    return out;
}

/* One query parameter, encoded as the canonical query wants it. */
typedef struct param {
    text key, value;
} param;

static int param_cmp(const void *a, const void *b)
{
    const param *x = a, *y = b;
    int c = strcmp(x->key.p ? x->key.p : "", y->key.p ? y->key.p : "");
    return c ? c : strcmp(x->value.p ? x->value.p : "", y->value.p ? y->value.p : "");
}

/* The canonical query string: parameters by name (then value), each name and
 * value decoded and encoded again. */
static void put_canonical_query(text *t, const char *q, size_t len)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += q[i] == '&';
    param *ps = calloc(count + 1, sizeof(*ps));
    if (!ps) {
        t->failed = true;
        return;
    }
    size_t n = 0;
    for (const char *p = q, *end = q + len; p && p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            size_t kl, vl;
            char *k = decoded(p, (size_t)((eq ? eq : stop) - p), &kl);
            char *v = eq ? decoded(eq + 1, (size_t)(stop - eq - 1), &vl) : strdup("");
            if (!k || !v)
                t->failed = true;
            else {
                put_encoded(&ps[n].key, k, kl, false);
                put_encoded(&ps[n].value, v, eq ? vl : 0, false);
                puts_(&ps[n].key, "");
                puts_(&ps[n].value, "");
                t->failed |= ps[n].key.failed || ps[n].value.failed;
                n++;
            }
            free(k);
            free(v);
        }
        p = amp ? amp + 1 : NULL;
    }
    qsort(ps, n, sizeof(*ps), param_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(t, "&", 1);
        puts_(t, ps[i].key.p ? ps[i].key.p : "");
        put(t, "=", 1);
        puts_(t, ps[i].value.p ? ps[i].value.p : "");
    }
    for (size_t i = 0; i < n; i++) {
        free(ps[i].key.p);
        free(ps[i].value.p);
    }
    free(ps);
}

static void hex_of(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(data, len, d);
    hex_of(d, sizeof(d), hex);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

static void signing_key(const char *secret, const char *date, const char *region, const char *service,
                        unsigned char key[32])
{
    size_t n = strlen(secret) + 5;
    char *k = malloc(n);
    if (!k) {
        memset(key, 0, 32);
        return;
    }
    snprintf(k, n, "AWS4%s", secret);
    hmac(k, n - 1, date, key);
    free(k);
    hmac(key, 32, region, key);
    hmac(key, 32, service, key);
    hmac(key, 32, "aws4_request", key);
}

void sl_aws_signing_key_hex(const char *secret, const char *date, const char *region, const char *service,
                            char hex[65])
{
    unsigned char key[32];
    signing_key(secret, date, region, service, key);
    hex_of(key, 32, hex);
}

bool sl_aws_sign(const sl_aws_credentials *cred, const char *region, const char *service, const sl_aws_request *req,
                 time_t now, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&now, &tm);
    char amz_date[17], date[9];
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    strftime(date, sizeof(date), "%Y%m%d", &tm);
    bool token = cred->session_token && cred->session_token[0];
    const char *q = memchr(req->target, '?', req->target_len);
    size_t path_len = q ? (size_t)(q - req->target) : req->target_len;

    /* The canonical request. The path is encoded once more (every service
     * but S3 signs the doubly encoded path). */
    text canon = {0};
    puts_(&canon, req->method);
    put(&canon, "\n", 1);
    put_canonical_path(&canon, req->target, path_len);
    put(&canon, "\n", 1);
    if (q)
        put_canonical_query(&canon, q + 1, req->target_len - path_len - 1);
    put(&canon, "\nhost:", 6);
    puts_(&canon, req->host);
    put(&canon, "\nx-amz-date:", 12);
    puts_(&canon, amz_date);
    if (token) {
        put(&canon, "\nx-amz-security-token:", 22);
        puts_(&canon, cred->session_token);
    }
    const char *signed_fields = token ? "host;x-amz-date;x-amz-security-token" : "host;x-amz-date";
    put(&canon, "\n\n", 2);
    puts_(&canon, signed_fields);
    put(&canon, "\n", 1);
    char body_hash[65];
    sha256_hex(req->body ? req->body : "", req->body_len, body_hash);
    puts_(&canon, body_hash);
    if (canon.failed) {
        free(canon.p);
        return false;
    }
    char canon_hash[65];
    sha256_hex(canon.p, canon.len, canon_hash);
    free(canon.p);

    char scope[200], to_sign[400];
    snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, region, service);
    snprintf(to_sign, sizeof(to_sign), "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, canon_hash);
    unsigned char key[32], sig[32];
    signing_key(cred->secret_access_key, date, region, service, key);
    hmac(key, 32, to_sign, sig);
    char sig_hex[65];
    hex_of(sig, 32, sig_hex);
    int n = snprintf(out, cap,
                     "X-Amz-Date: %s\r\n%s%s%sAuthorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
                     "Signature=%s\r\n",
                     amz_date, token ? "X-Amz-Security-Token: " : "", token ? cred->session_token : "",
                     token ? "\r\n" : "", cred->access_key_id, scope, signed_fields, sig_hex);
    return n > 0 && (size_t)n < cap;
}

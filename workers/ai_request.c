/* The upstream request head for an AI backend (workers/ai.h): the provider's
 * Host, path and credential (a key in the field the provider reads, or an
 * AWS SigV4 signature for Bedrock). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ai.h"
#include "common/aws_sigv4.h"
#include "workers/ai.h"
#include "workers/conn.h"

const sl_snap_backend *sl_ai_backend(const sl_conn *c)
{
    if (!c->snap || c->backend_index == SL_SNAP_NONE ||
        c->backend_index >= sl_snap_count(&c->snap->s, SL_SNAP_BACKENDS))
        return NULL;
    const sl_snap_backend *be = SL_SNAP_GET(&c->snap->s, SL_SNAP_BACKENDS, sl_snap_backend, c->backend_index);
    return be->ai_provider ? be : NULL;
}

bool sl_ai_drops_field(const sl_snap_backend *be, sl_slice name)
{
    if (be->ai_key.len == 0 && be->ai_aws_key_id.len == 0)
        return false; /* no key configured: the client's own credential is what the provider gets */
    return sl_slice_ieq_cstr(name, "authorization") || sl_slice_ieq_cstr(name, "x-api-key") ||
           sl_slice_ieq_cstr(name, "api-key") || sl_slice_ieq_cstr(name, "x-goog-api-key") ||
           (name.len > 6 && sl_slice_ieq(sl_slice_make(name.ptr, 6), sl_slice_make("x-amz-", 6)));
}

sl_slice sl_ai_authority(const sl_snapshot *s, const sl_snap_backend *be)
{
    return sl_slice_make(sl_snap_cstr(s, be->ai_authority), be->ai_authority.len);
}

bool sl_ai_map_path(const sl_snapshot *s, const sl_snap_backend *be, sl_buf *b, size_t from)
{
    char *p = b->data + from;
    size_t n = b->end - from;
    if (n < 3 || memcmp(p, "/v1", 3) != 0 || (n > 3 && p[3] != '/' && p[3] != '?'))
        return true; /* not under the OpenAI client's base: as the client sent it */
    const char *base = sl_snap_cstr(s, be->ai_base_path);
    size_t blen = be->ai_base_path.len;
    if (blen == 3 && memcmp(base, "/v1", 3) == 0)
        return true;
    if (blen > 0 && base[blen - 1] == '/')
        blen--; /* "/api/" + "/chat..." must not give "//" */
    if (blen > 3 && sl_buf_room(b) < blen - 3)
        return false;
    memmove(p + blen, p + 3, n - 3);
    memcpy(p, base, blen);
    b->end = b->end - 3 + blen;
    return true;
}

/* The request target in a head being built (b from its start): its offset
 * and length in *at and *len. false when the request line is not there. */
static bool request_target(const sl_buf *b, size_t *at, size_t *len)
{
    const char *p = b->data + b->start, *end = b->data + b->end;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    const char *eol = sp ? memchr(sp, '\r', (size_t)(end - sp)) : NULL;
    if (!eol || eol - sp < 10 || memcmp(eol - 9, " HTTP/1.1", 9) != 0)
        return false;
    *at = (size_t)(sp + 1 - b->data);
    *len = (size_t)(eol - 9 - (sp + 1));
    return true;
}

/* Signs the head in b (its fields so far, no blank line) for Bedrock with
 * AWS SigV4 over body; the signature's fields are appended. */
static bool sign_head(const sl_conn *c, const sl_snap_backend *be, sl_buf *b, const void *body, size_t body_len)
{
    const sl_snapshot *s = &c->snap->s;
    size_t at, len;
    if (!request_target(b, &at, &len))
        return false;
    char method[16];
    size_t m = at - 1 - b->start; /* the method, up to the space before the target */
    if (m == 0 || m >= sizeof(method))
        return false;
    memcpy(method, b->data + b->start, m);
    method[m] = '\0';
    sl_aws_credentials cred = {sl_snap_cstr(s, be->ai_aws_key_id), sl_snap_cstr(s, be->ai_aws_secret),
                               sl_snap_cstr(s, be->ai_aws_token)};
    sl_aws_request req = {method, sl_snap_cstr(s, be->ai_authority), b->data + at, len, body, body_len};
    /* The fields: the date, the token (AWS does not bound its size), the authorization. */
    size_t cap = 1024 + be->ai_aws_key_id.len + 2 * be->ai_aws_token.len + be->ai_region.len;
    char *fields = malloc(cap);
    bool ok = fields && sl_aws_sign(&cred, sl_snap_cstr(s, be->ai_region), "bedrock", &req, time(NULL), fields, cap) &&
              sl_buf_puts(b, fields);
    free(fields);
    return ok;
}

bool sl_ai_request_fields(const sl_conn *c, const sl_snap_backend *be, sl_buf *b)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_ai_provider_info *info = sl_ai_provider_get(be->ai_provider);
    if (be->ai_key.len) {
        sl_slice key = sl_slice_make(sl_snap_cstr(s, be->ai_key), be->ai_key.len);
        switch (info->key_style) {
        case SL_AI_KEY_X_API_KEY: sl_buf_puts(b, "x-api-key: "); break;
        case SL_AI_KEY_API_KEY: sl_buf_puts(b, "api-key: "); break;
        case SL_AI_KEY_GOOG: sl_buf_puts(b, "x-goog-api-key: "); break;
        default: sl_buf_puts(b, "Authorization: Bearer "); break;
        }
        sl_buf_put_slice(b, key);
        sl_buf_append(b, "\r\n", 2);
    }
    sl_buf_puts(b, "Accept-Encoding: identity\r\n");
    if (be->ai_provider == SL_AI_ANTHROPIC) {
        /* Required by the Messages API; a client's own value is kept. */
        if (!sl_http1_request_header(&c->w->req, "anthropic-version"))
            sl_buf_puts(b, "anthropic-version: 2023-06-01\r\n");
    }
    /* A body being collected is signed once whole (sl_ai_finish_head); a
     * request without one now (Bedrock SigV4 collects every body). */
    if (be->ai_aws_key_id.len && !c->collecting)
        return sign_head(c, be, b, "", 0);
    return true;
}

bool sl_ai_finish_head(sl_conn *c, sl_buf *h)
{
    const sl_snap_backend *be = sl_ai_backend(c);
    if (!be)
        return true;
    size_t at, len;
    if (c->ai_path && request_target(h, &at, &len)) {
        /* The translated call's own target (it names the model). */
        size_t n = strlen(c->ai_path);
        if (n > len && sl_buf_room(h) < n - len)
            return false;
        memmove(h->data + at + n, h->data + at + len, h->end - at - len);
        memcpy(h->data + at, c->ai_path, n);
        h->end = h->end - len + n;
    }
    if (be->ai_aws_key_id.len)
        return sign_head(c, be, h, c->req_out.data + c->req_out.start, sl_dbuf_len(&c->req_out));
    return true;
}

bool sl_ai_translate_path(sl_buf *b, size_t from, const char *suffix)
{
    static const char chat[] = "/chat/completions";
    char *p = b->data + from;
    size_t n = b->end - from;
    char *q = memchr(p, '?', n);
    size_t path_len = q ? (size_t)(q - p) : n;
    size_t cl = sizeof(chat) - 1, sl = strlen(suffix);
    if (path_len < cl || memcmp(p + path_len - cl, chat, cl) != 0 || sl > cl)
        return false;
    char *at = p + path_len - cl;
    memcpy(at, suffix, sl);
    memmove(at + sl, at + cl, n - path_len);
    b->end -= cl - sl;
    return true;
}

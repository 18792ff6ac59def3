/* The upstream request head for an AI backend (workers/ai.h). */
#include <string.h>

#include "common/ai.h"
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
    if (be->ai_key.len == 0)
        return false; /* no key configured: the client's own credential is what the provider gets */
    return sl_slice_ieq_cstr(name, "authorization") || sl_slice_ieq_cstr(name, "x-api-key") ||
           sl_slice_ieq_cstr(name, "api-key");
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

void sl_ai_request_fields(const sl_conn *c, const sl_snap_backend *be, sl_buf *b)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_ai_provider_info *info = sl_ai_provider_get(be->ai_provider);
    if (be->ai_key.len) {
        sl_slice key = sl_slice_make(sl_snap_cstr(s, be->ai_key), be->ai_key.len);
        switch (info->key_style) {
        case SL_AI_KEY_X_API_KEY: sl_buf_puts(b, "x-api-key: "); break;
        case SL_AI_KEY_API_KEY: sl_buf_puts(b, "api-key: "); break;
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
}

bool sl_ai_translate_path(sl_buf *b, size_t from)
{
    static const char chat[] = "/chat/completions", messages[] = "/messages";
    char *p = b->data + from;
    size_t n = b->end - from;
    char *q = memchr(p, '?', n);
    size_t path_len = q ? (size_t)(q - p) : n;
    size_t cl = sizeof(chat) - 1, ml = sizeof(messages) - 1;
    if (path_len < cl || memcmp(p + path_len - cl, chat, cl) != 0)
        return false;
    char *at = p + path_len - cl;
    memcpy(at, messages, ml);
    memmove(at + ml, at + cl, n - path_len);
    b->end -= cl - ml;
    return true;
}

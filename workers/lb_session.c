/* Session persistence (Gateway API GEP-1619, sessionPersistence of an HTTPRoute
 * or GRPCRoute rule): the first answer carries a token, in a cookie
 * (Set-Cookie, the default) or a header of the session's name; a request that
 * brings the token back goes to the endpoint the token names, from any worker
 * (nothing about a session is kept in the gateway), for as long as that
 * endpoint can serve and the session has not timed out (when a rule splits
 * its traffic over several backendRefs, the session picks the backendRef that
 * holds its endpoint). Otherwise the request is balanced as usual and its
 * answer carries a new token.
 *
 * The token is 32 hex digits: the endpoint's id (a hash of its address and
 * port: it does not show the address), when the session began, and when it was
 * last used (for idleTimeout; then each answer refreshes it). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/lb_hash.h"
#include "workers/balancer.h"
#include "workers/conn.h"

static uint64_t endpoint_id(const sl_snap_endpoint *e)
{
    uint64_t h = sl_lb_hash_more(sl_lb_hash_start(), e->addr, e->family == AF_INET6 ? 16 : 4);
    return sl_lb_hash_end(sl_lb_hash_more(h, &e->port, sizeof(e->port)));
}

static bool hex_value(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

/* The token the request brings: from its Cookie fields or its header. */
static bool find_token(const sl_conn *c, const sl_snap_action *a, sl_slice *value)
{
    const sl_http1_request *req = &c->w->req;
    sl_slice name = sl_slice_make(sl_snap_cstr(&c->snap->s, a->session_name), a->session_name.len);
    if (a->session_type != SL_SESSION_HEADER)
        return sl_lb_cookie(req, name, value);
    for (size_t h = 0; h < req->nheaders; h++) {
        if (sl_slice_ieq(req->headers[h].name, name)) {
            *value = req->headers[h].value;
            return true;
        }
    }
    return false;
}

/* The request's valid session: its endpoint id and when it began. False when
 * there is none, it is garbled, or it timed out. */
static bool read_token(const sl_conn *c, const sl_snap_action *a, uint64_t *id, uint64_t *issued)
{
    sl_slice token;
    uint64_t used;
    if (!a || !a->session_type || c->l4 || !find_token(c, a, &token) || token.len != 32 || !hex_value(token.ptr, 16, id) ||
        !hex_value(token.ptr + 16, 8, issued) || !hex_value(token.ptr + 24, 8, &used))
        return false;
    uint64_t now = (uint64_t)time(NULL);
    return !((a->session_absolute_s && now >= *issued + a->session_absolute_s) ||
             (a->session_idle_s && now >= used + a->session_idle_s) || *issued > now + 60);
}

/* The offset of the endpoint with that id in backend be, or UINT32_MAX. */
static uint32_t find_endpoint(const sl_conn *c, const sl_snap_backend *be, uint64_t id)
{
    for (uint32_t i = 0; i < be->endpoints.count; i++)
        if (endpoint_id(SL_SNAP_GET(&c->snap->s, SL_SNAP_ENDPOINTS, sl_snap_endpoint, be->endpoints.first + i)) == id)
            return i;
    return UINT32_MAX;
}

const sl_snap_backend_ref *sl_lb_session_ref(sl_conn *c, const sl_snap_action *a)
{
    uint64_t id, issued;
    if (!a->session_type || a->backend_refs.count < 2 || !read_token(c, a, &id, &issued))
        return NULL;
    const sl_snapshot *s = &c->snap->s;
    for (uint32_t r = 0; r < a->backend_refs.count; r++) {
        const sl_snap_backend_ref *br = SL_SNAP_GET(s, SL_SNAP_BACKEND_REFS, sl_snap_backend_ref, a->backend_refs.first + r);
        if (br->backend == SL_SNAP_NONE || br->weight == 0)
            continue;
        if (find_endpoint(c, SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, br->backend), id) != UINT32_MAX)
            return br;
    }
    return NULL;
}

void sl_lb_session_begin(sl_conn *c, const sl_snap_backend *be)
{
    c->lb.pinned = 0;
    c->lb.session_emit = false;
    c->lb.session_issued = 0;
    uint64_t id, issued;
    if (!read_token(c, c->action, &id, &issued))
        return; /* none, garbled or timed out: a new session */
    uint32_t i = find_endpoint(c, be, id);
    if (i != UINT32_MAX) {
        c->lb.pinned = i + 1;
        c->lb.session_issued = (uint32_t)issued;
    }
}

void sl_lb_session_chosen(sl_conn *c, const sl_snap_backend *be, uint32_t i)
{
    const sl_snap_action *a = c->action;
    if (!a || !a->session_type)
        return;
    bool same = c->lb.pinned == i + 1;
    if (!same)
        c->lb.session_issued = (uint32_t)time(NULL); /* a new session (or one that moved) */
    c->lb.session_endpoint = endpoint_id(SL_SNAP_GET(&c->snap->s, SL_SNAP_ENDPOINTS, sl_snap_endpoint,
                                                     be->endpoints.first + i));
    /* A session that stays where it was needs no new token, unless idle
     * time is counted (the token says when it was last used). */
    c->lb.session_emit = !same || a->session_idle_s;
}

void sl_lb_session_emit(sl_conn *c, sl_buf *b)
{
    const sl_snap_action *a = c->action;
    if (!a || !a->session_type)
        return;
    const char *name = sl_snap_cstr(&c->snap->s, a->session_name);
    char token[40];
    snprintf(token, sizeof(token), "%016llx%08x%08x", (unsigned long long)c->lb.session_endpoint,
             c->lb.session_issued, (uint32_t)time(NULL));
    if (a->session_type == SL_SESSION_HEADER) {
        sl_buf_printf(b, "%s: %s\r\n", name, token);
        return;
    }
    sl_buf_printf(b, "Set-Cookie: %s=%s; Path=/; HttpOnly%s", name, token, c->secure ? "; Secure" : "");
    if (a->session_permanent && a->session_absolute_s)
        sl_buf_printf(b, "; Max-Age=%u", a->session_absolute_s);
    sl_buf_append(b, "\r\n", 2);
}

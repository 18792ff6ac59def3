/* Routing by model (workers/ai.h). On a port where some route matches on the
 * x-sluice-ai-model header, the gateway sets that header itself, before
 * routing, from the "model" of the request's JSON body, so that standard
 * HTTPRoute matches, weights and filters send models to providers. A client's
 * own x-sluice-ai-model is always replaced there (it must not pick a route the
 * body does not ask for). The body is read whole first (bounded by
 * --ai-max-request-bytes): only on such ports, only for POSTs with a JSON body;
 * every other port keeps its zero-copy path.
 *
 * The head is kept as a copy (held_head, as a waiting policy keeps it) and
 * rewritten there: the client's field dropped, the gateway's added; w->req is
 * parsed again from that copy, so routing, policies and the upstream head all
 * see the same fields. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "workers/ai.h"
#include "workers/conn.h"

#define MODEL_MAX 256 /* longer names are not set as a header (providers' names are far shorter) */

bool sl_ai_port_routes_by_model(const sl_snapshot *s, uint32_t port_index)
{
    const sl_snap_port *p = SL_SNAP_GET(s, SL_SNAP_PORTS, sl_snap_port, port_index);
    for (uint32_t vi = 0; vi < p->vhosts.count; vi++) {
        const sl_snap_vhost *v = SL_SNAP_GET(s, SL_SNAP_VHOSTS, sl_snap_vhost, p->vhosts.first + vi);
        for (uint32_t ri = 0; ri < v->routes.count; ri++) {
            const sl_snap_route *r = SL_SNAP_GET(s, SL_SNAP_ROUTES, sl_snap_route, v->routes.first + ri);
            for (uint32_t hi = 0; hi < r->header_matches.count; hi++) {
                const sl_snap_header_match *m =
                    SL_SNAP_GET(s, SL_SNAP_HEADER_MATCHES, sl_snap_header_match, r->header_matches.first + hi);
                if (sl_slice_ieq_cstr(sl_slice_make(sl_snap_cstr(s, m->name), m->name.len), SL_AI_MODEL_HEADER))
                    return true;
            }
        }
    }
    return false;
}

/* w->req, parsed again from the held copy of the head. */
static bool parse_held(sl_conn *c)
{
    sl_worker *w = c->w;
    sl_http1_scan scan;
    memset(&scan, 0, sizeof(scan));
    return sl_http1_parse_request(c->held_head, c->held_len, &scan, &w->req, &w->limits) == SL_OK;
}

/* A model name that can go in a field value as it is: printable ASCII (and
 * inner spaces), at most MODEL_MAX bytes. */
static bool usable_model(const char *m, size_t n)
{
    if (n == 0 || n > MODEL_MAX || m[0] == ' ' || m[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)m[i] < 0x20 || (unsigned char)m[i] > 0x7e)
            return false;
    return true;
}

/* Replaces the held head (w->req parsed from it) by one without the client's
 * x-sluice-ai-model fields and with "x-sluice-ai-model: model" when model is
 * given; w->req is parsed again from the new one. */
static bool rewrite_head(sl_conn *c, const char *model, size_t mlen)
{
    const sl_http1_request *req = &c->w->req;
    const char *head = c->held_head;
    size_t len = c->held_len;
    /* The blank line that ends the head ("\r\n", or a bare "\n"). */
    size_t end = len;
    if (end >= 2 && head[end - 2] == '\r')
        end -= 2;
    else if (end >= 1)
        end -= 1;
    char *fresh = malloc(len + sizeof(SL_AI_MODEL_HEADER) + 2 + mlen + 4);
    if (!fresh)
        return false;
    size_t n = 0, from = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const sl_http1_header *h = &req->headers[i];
        if (!sl_slice_ieq_cstr(h->name, SL_AI_MODEL_HEADER))
            continue;
        size_t line = (size_t)(h->name.ptr - head);
        const char *nl = memchr(head + line, '\n', end - line);
        size_t next = nl ? (size_t)(nl - head) + 1 : end;
        memcpy(fresh + n, head + from, line - from);
        n += line - from;
        from = next;
    }
    memcpy(fresh + n, head + from, end - from);
    n += end - from;
    if (model) {
        memcpy(fresh + n, SL_AI_MODEL_HEADER ": ", sizeof(SL_AI_MODEL_HEADER) + 1);
        n += sizeof(SL_AI_MODEL_HEADER) + 1;
        memcpy(fresh + n, model, mlen);
        n += mlen;
        memcpy(fresh + n, "\r\n", 2);
        n += 2;
    }
    memcpy(fresh + n, "\r\n", 2);
    n += 2;
    free(c->held_head);
    c->held_head = fresh;
    c->held_len = n;
    c->held_from = fresh; /* slices policies keep point into this copy already */
    return parse_held(c);
}

/* Keeps a copy of the head that dispatch just consumed (w->req points into it). */
static bool hold_head(sl_conn *c)
{
    const sl_http1_request *req = &c->w->req;
    const char *from = c->in.data + c->in.start - req->head_len;
    c->held_head = malloc(req->head_len ? req->head_len : 1);
    if (!c->held_head)
        return false;
    memcpy(c->held_head, from, req->head_len);
    c->held_len = req->head_len;
    c->held_from = c->held_head;
    return parse_held(c);
}

static bool wants_body(const sl_http1_request *req)
{
    if (req->meth != SL_HTTP1_METHOD_POST || req->upgrade || req->body == SL_HTTP1_BODY_NONE ||
        (req->body == SL_HTTP1_BODY_LENGTH && req->content_length == 0))
        return false;
    return sl_ai_json_body(req);
}

int sl_ai_model_route_begin(sl_conn *c)
{
    const sl_http1_request *req = &c->w->req;
    bool collect = wants_body(req);
    if (!collect && !sl_http1_request_header(req, SL_AI_MODEL_HEADER))
        return 0; /* nothing to read, nothing to drop */
    if (!hold_head(c)) {
        sl_conn_respond(c, 503, "out of memory\n", true);
        return -1;
    }
    if (!collect)
        return rewrite_head(c, NULL, 0) ? 0 : (sl_conn_respond(c, 500, "cannot route the request\n", true), -1);
    int status = sl_collect_before_route(c);
    if (status) {
        sl_conn_respond(c, status, status == 413 ? "request body too large\n" : "out of memory\n", true);
        return -1;
    }
    return 1;
}

bool sl_ai_model_route_body(sl_conn *c)
{
    if (!parse_held(c))
        return false;
    const char *model = NULL;
    size_t mlen = 0;
    json_t *root = json_loadb(c->req_hold.data + c->req_hold.start, sl_dbuf_len(&c->req_hold),
                              JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    const json_t *m = json_object_get(root, "model");
    if (json_is_string(m) && usable_model(json_string_value(m), json_string_length(m))) {
        model = json_string_value(m);
        mlen = json_string_length(m);
    }
    bool ok = rewrite_head(c, model, mlen);
    json_decref(root);
    return ok;
}

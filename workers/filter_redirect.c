/* The HTTPRoute RequestRedirect filter: the gateway answers with a Location
 * built from the request and the filter (scheme, hostname, port, path). */
#include "workers/filters.h"

#include <stdio.h>
#include <string.h>

static bool answer(sl_conn *c, const sl_snap_route *route, const sl_snap_filter *f)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_http1_request *req = &c->w->req;
    const char *scheme = f->scheme.len ? sl_snap_cstr(s, f->scheme) : c->secure ? "https" : "http";
    /* The host without its port. */
    sl_slice host = req->host;
    const char *colon = memchr(host.ptr, ':', host.len);
    if (colon && host.ptr[0] != '[')
        host.len = (size_t)(colon - host.ptr);
    if (f->hostname.len)
        host = sl_filter_str(s, f->hostname);
    unsigned port = f->port;
    if (!port) {
        if (f->scheme.len)
            port = strcmp(scheme, "https") == 0 ? 443 : strcmp(scheme, "http") == 0 ? 80 : c->w->args.sockets[c->listener].port;
        else
            port = c->w->args.sockets[c->listener].port;
    }
    bool default_port = (strcmp(scheme, "http") == 0 && port == 80) || (strcmp(scheme, "https") == 0 && port == 443);
    sl_buf loc;
    if (sl_buf_alloc(&loc, 2048 + req->target.len) != 0) {
        sl_conn_respond(c, 503, "out of memory\n", true);
        return true;
    }
    sl_buf_printf(&loc, "%s://%.*s", scheme, (int)host.len, host.ptr);
    if (!default_port)
        sl_buf_printf(&loc, ":%u", port);
    sl_filter_write_path(&loc, s, route, f->path_mod ? f : NULL, req->path);
    if (req->query.ptr) {
        sl_buf_append(&loc, "?", 1);
        sl_buf_append(&loc, req->query.ptr, req->query.len);
    }
    sl_buf_append(&loc, "", 1);
    char extra[2200];
    snprintf(extra, sizeof(extra), "Location: %s\r\n", loc.data);
    sl_buf_free(&loc);
    sl_conn_respond_with(c, f->status ? f->status : 302, extra, "", false);
    return true;
}

static void compile(sl_filter_env *env, const json_t *filter)
{
    const json_t *r = json_object_get(filter, "requestRedirect");
    const char *pv;
    json_int_t status = json_integer_value(json_object_get(r, "statusCode"));
    sl_snap_filter rec = {.type = SL_FILTER_REDIRECT, .backend = SL_SNAP_NONE};
    rec.path_mod = sl_filter_path_mod(json_object_get(r, "path"), &pv);
    rec.path = sl_sb_str(env->b, pv);
    rec.scheme = sl_sb_str(env->b, json_string_value(json_object_get(r, "scheme")));
    rec.hostname = sl_sb_str(env->b, json_string_value(json_object_get(r, "hostname")));
    rec.port = (uint16_t)json_integer_value(json_object_get(r, "port"));
    rec.status = (uint16_t)(status ? status : 302);
    env->push(env, &rec);
}

const sl_filter_ops sl_filter_redirect = {
    .name = "RequestRedirect",
    .type = SL_FILTER_REDIRECT,
    .compile = compile,
    .answer = answer,
};

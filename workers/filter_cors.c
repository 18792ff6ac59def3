/* The HTTPRoute CORS filter: preflight answers (OPTIONS with
 * Access-Control-Request-Method) and the CORS headers of responses to allowed
 * origins. */
#include "workers/filters.h"

#include "daemon/compile_values.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

bool sl_cors_origin_allowed(const sl_snapshot *s, const sl_snap_filter *f, const char *origin)
{
    const char *list = sl_snap_cstr(s, f->origins);
    while (*list) {
        const char *nl = strchr(list, '\n');
        size_t n = nl ? (size_t)(nl - list) : strlen(list);
        char pattern[256];
        if (n < sizeof(pattern)) {
            memcpy(pattern, list, n);
            pattern[n] = '\0';
            if (strcmp(pattern, "*") == 0 || fnmatch(pattern, origin, 0) == 0)
                return true;
        }
        list += n + (nl ? 1 : 0);
    }
    return false;
}

static bool list_has_star(const sl_snapshot *s, sl_snap_str list)
{
    const char *l = sl_snap_cstr(s, list);
    return strcmp(l, "*") == 0 || strncmp(l, "*\n", 2) == 0 || strstr(l, "\n*\n") ||
           (strlen(l) >= 2 && strcmp(l + strlen(l) - 2, "\n*") == 0);
}

/* Appends a list (one item per line) as a comma-separated header value. */
static void append_list(sl_buf *b, const sl_snapshot *s, sl_snap_str list)
{
    const char *l = sl_snap_cstr(s, list);
    for (const char *p = l; *p; p++) {
        if (*p == '\n')
            sl_buf_append(b, ", ", 2);
        else
            sl_buf_append(b, p, 1);
    }
}

/* The CORS headers of an answer to an allowed origin. The origin is echoed (with
 * Vary: Origin) rather than "*", which also works with credentials. A "*" in the
 * allowed methods or headers is answered with what the preflight asked for, since
 * browsers do not take "*" for requests with credentials. */
void sl_cors_headers(sl_buf *b, const sl_snapshot *s, const sl_snap_filter *f, const char *origin, bool preflight,
                     const char *requested_method, const char *requested_headers)
{
    sl_buf_printf(b, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", origin);
    if (f->credentials)
        sl_buf_append(b, "Access-Control-Allow-Credentials: true\r\n", 40);
    if (f->expose.len) {
        sl_buf_append(b, "Access-Control-Expose-Headers: ", 31);
        append_list(b, s, f->expose);
        sl_buf_append(b, "\r\n", 2);
    }
    if (!preflight)
        return;
    sl_buf_append(b, "Access-Control-Allow-Methods: ", 30);
    if (list_has_star(s, f->methods) && requested_method[0])
        sl_buf_append(b, requested_method, strlen(requested_method));
    else if (f->methods.len)
        append_list(b, s, f->methods);
    else
        sl_buf_append(b, "GET, HEAD, POST", 15);
    sl_buf_append(b, "\r\n", 2);
    if (f->headers.len) {
        sl_buf_append(b, "Access-Control-Allow-Headers: ", 30);
        if (list_has_star(s, f->headers) && requested_headers[0])
            sl_buf_append(b, requested_headers, strlen(requested_headers));
        else
            append_list(b, s, f->headers);
        sl_buf_append(b, "\r\n", 2);
    }
    if (f->max_age)
        sl_buf_printf(b, "Access-Control-Max-Age: %u\r\n", f->max_age);
}

bool sl_cors_preflight(sl_conn *c, const sl_snap_filter *cors)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_http1_request *req = &c->w->req;
    const sl_http1_header *origin = sl_http1_request_header(req, "origin");
    if (!cors || !origin)
        return false;
    snprintf(c->origin, sizeof(c->origin), "%.*s", (int)origin->value.len, origin->value.ptr);
    const sl_http1_header *acrm = sl_http1_request_header(req, "access-control-request-method");
    if (req->meth != SL_HTTP1_METHOD_OPTIONS || !acrm)
        return false;
    char extra[2048] = "";
    if (sl_cors_origin_allowed(s, cors, c->origin)) {
        const sl_http1_header *acrh = sl_http1_request_header(req, "access-control-request-headers");
        char requested[512] = "", method[64];
        if (acrh)
            snprintf(requested, sizeof(requested), "%.*s", (int)acrh->value.len, acrh->value.ptr);
        snprintf(method, sizeof(method), "%.*s", (int)acrm->value.len, acrm->value.ptr);
        sl_buf b = {extra, sizeof(extra), 0, 0};
        sl_cors_headers(&b, s, cors, c->origin, true, method, requested);
        extra[b.end < sizeof(extra) ? b.end : sizeof(extra) - 1] = '\0';
    }
    sl_conn_respond_with(c, 200, extra, "", false);
    return true;
}

static void compile(sl_filter_env *env, const json_t *filter)
{
    sl_snap_filter rec = sl_compile_cors(env->b, json_object_get(filter, "cors"));
    env->push(env, &rec);
}

/* The preflight is answered before the policies (proxy.c calls
 * sl_cors_preflight), the response fields by the response head builder. */
const sl_filter_ops sl_filter_cors = {.name = "CORS", .type = SL_FILTER_CORS, .compile = compile};

/* Policy kind extAuth: an external HTTP service decides, as Envoy's ext_authz
 * HTTP service does.
 *
 *   extAuth:
 *     url: http://authz.internal:9000/check  # the service; the request's path and query are appended
 *     timeout: 1s                             # default 1s
 *     failureMode: Deny                       # Deny (default): 403 when the service cannot answer | Allow
 *     headersToService: [Authorization, Cookie]   # request fields sent along (this is the default)
 *     headersToUpstream: [X-User-Id]          # reply fields added to the upstream request on allow
 *
 * For each request the worker calls the service (workers/http_client.c: the
 * worker's loop goes on serving others meanwhile; connections are kept alive
 * and reused) with the request's method, the URL's path followed by the
 * request's path and query, the fields named in headersToService, and
 * X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto; never a body. A 2xx
 * reply lets the request through, with the reply's fields named in
 * headersToUpstream added to it (replacing the client's fields of those
 * names). Any other reply is the answer: its status, its fields (but not the
 * hop-by-hop ones) and its body go to the client. When the service cannot be
 * reached or does not answer within the timeout: 403, or with failureMode
 * Allow the request goes on (logged either way).
 *
 * Compiled: a = the URL, b = headersToService (one per line); one item with
 * a = headersToUpstream (one per line); u[0] = timeout in ms; flags bit 0 =
 * failureMode Allow. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "daemon/compile_values.h"
#include "workers/conn.h"
#include "workers/http_client.h"
#include "workers/policy.h"
#include "workers/worker_internal.h"

#define FAILURE_ALLOW 1
#define DEFAULT_TIMEOUT_MS 1000
#define MAX_SERVICE_HEADERS 32

/* ---- master ---- */

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    const char *timeout = json_string_value(json_object_get(section, "timeout"));
    const char *mode = json_string_value(json_object_get(section, "failureMode"));
    rec->u[0] = timeout ? sl_duration_ms(timeout) : DEFAULT_TIMEOUT_MS;
    rec->flags = mode && strcmp(mode, "Allow") == 0 ? FAILURE_ALLOW : 0;
    rec->a = sl_sb_str(env->b, json_string_value(json_object_get(section, "url")));
    const json_t *to_service = json_object_get(section, "headersToService");
    json_t *defaults = to_service ? NULL : json_pack("[ss]", "Authorization", "Cookie");
    rec->b = sl_compile_join_lines(env->b, to_service ? to_service : defaults);
    json_decref(defaults);
    sl_snap_policy_item it = {0};
    it.a = sl_compile_join_lines(env->b, json_object_get(section, "headersToUpstream"));
    rec->items.first = sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &it);
    rec->items.count = 1;
    return true;
}

static bool check(const sl_snapshot *s, const sl_snap_policy *p)
{
    (void)s;
    return p->items.count == 1 && p->a.len > 0 && p->u[0] > 0;
}

/* ---- worker ---- */

/* Is header `name` (len bytes) one of the lines of `lines`? */
static bool listed(const char *lines, const char *name, size_t len)
{
    return sl_line_listed(lines, sl_slice_make(name, len), true);
}

typedef struct ext_auth_call {
    sl_conn *c;
    const sl_snap_policy *p;
    sl_http_call *call;
} ext_auth_call;

/* Copies a field line into buf as "Name: value"; false when it does not fit. */
static bool field(char **lines, size_t *n, char *buf, size_t *used, size_t cap, sl_slice name, sl_slice value)
{
    int len = snprintf(buf + *used, cap - *used, "%.*s: %.*s", (int)name.len, name.ptr, (int)value.len, value.ptr);
    if (len < 0 || (size_t)len >= cap - *used || *n >= MAX_SERVICE_HEADERS)
        return false;
    lines[(*n)++] = buf + *used;
    *used += (size_t)len + 1;
    return true;
}

/* The reply's fields that go upstream, as "Name: value\r\n" lines (malloc'd; NULL none). */
static char *upstream_fields(const char *wanted, const char *reply)
{
    size_t cap = strlen(reply) + 1, o = 0;
    char *out = malloc(cap);
    for (const char *l = reply; out && *l;) {
        size_t n = strcspn(l, "\r\n");
        const char *colon = memchr(l, ':', n);
        if (colon && listed(wanted, l, (size_t)(colon - l))) {
            memcpy(out + o, l, n);
            memcpy(out + o + n, "\r\n", 2);
            o += n + 2;
        }
        l += n;
        while (*l == '\r' || *l == '\n')
            l++;
    }
    if (out && o == 0) {
        free(out);
        return NULL;
    }
    if (out)
        out[o] = '\0';
    return out;
}

/* The reply's fields for the client, but not those that describe the connection or the body. */
static void client_fields(const char *reply, char *out, size_t cap)
{
    static const char *const skip[] = {"connection", "keep-alive", "transfer-encoding", "content-length",
                                       "proxy-connection", "upgrade", "trailer", "te", NULL};
    size_t o = 0;
    out[0] = '\0';
    for (const char *l = reply; *l;) {
        size_t n = strcspn(l, "\r\n");
        const char *colon = memchr(l, ':', n);
        bool keep = colon != NULL;
        for (int k = 0; keep && skip[k]; k++)
            keep = !((size_t)(colon - l) == strlen(skip[k]) && strncasecmp(l, skip[k], strlen(skip[k])) == 0);
        if (keep && o + n + 3 < cap) {
            memcpy(out + o, l, n);
            memcpy(out + o + n, "\r\n", 3);
            o += n + 2;
        }
        l += n;
        while (*l == '\r' || *l == '\n')
            l++;
    }
}

static void done(const sl_http_reply *reply, void *arg)
{
    ext_auth_call *x = arg;
    sl_conn *c = x->c;
    const sl_snap_policy *p = x->p;
    const sl_snapshot *s = &c->snap->s;
    free(x);
    sl_policy_wait_over(c);
    if (reply->status == 0) {
        /* failureMode is for a service that fails, not for a URL that cannot be one. */
        bool allow = (p->flags & FAILURE_ALLOW) && !reply->bad_request;
        sl_log_warn("policy", "client %s: the extAuth service of TrafficPolicy %s failed (%s): request %s", c->peer,
                    sl_snap_cstr(s, p->source), reply->error, allow ? "allowed (failureMode Allow)" : "refused");
        if (allow)
            sl_policy_resume(c);
        else
            sl_conn_respond(c, 403, "forbidden\n", false);
        return;
    }
    if (reply->status >= 200 && reply->status < 300) {
        const sl_snap_policy_item *it = SL_SNAP_GET(s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, p->items.first);
        if (it->a.len) {
            /* Every listed name is the service's to give: a client's own field of
             * that name never reaches the upstream, given by the reply or not. */
            c->up_replace = sl_snap_cstr(s, it->a);
            free(c->up_extra);
            c->up_extra = reply->headers ? upstream_fields(c->up_replace, reply->headers) : NULL;
        }
        sl_policy_resume(c);
        return;
    }
    sl_log_info("policy", "client %s: %s %s refused by the extAuth service of TrafficPolicy %s (%ld)", c->peer,
                c->log_method, c->log_path, sl_snap_cstr(s, p->source), reply->status);
    char extra[4096];
    client_fields(reply->headers ? reply->headers : "", extra, sizeof(extra));
    /* An interim (1xx) status cannot end a request; 204 and 304 carry no body. */
    int status = reply->status >= 200 && reply->status <= 599 ? (int)reply->status : 403;
    bool bodyless = status == 204 || status == 304;
    sl_conn_respond_raw(c, status, status == (int)reply->status ? extra : "",
                        reply->body && !bodyless ? reply->body : "", bodyless ? 0 : reply->body_len);
}

static void cancel(sl_conn *c)
{
    ext_auth_call *x = c->policy_op;
    sl_http_call_cancel(x->call);
    free(x);
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_http1_request *req = &c->w->req;
    /* The service's URL: its own, then the request's path and query (of an
     * absolute-form target too: the path the upstream will see; "*" asks for "/"). */
    char url[8192];
    const char *base = sl_snap_cstr(s, p->a);
    size_t bl = p->a.len;
    sl_slice path = req->form == SL_HTTP1_FORM_ASTERISK || !req->path.len ? sl_slice_from_cstr("/") : req->path;
    if (bl && base[bl - 1] == '/')
        bl--;
    int ul = snprintf(url, sizeof(url), "%.*s%.*s%s%.*s", (int)bl, base, (int)path.len, path.ptr,
                      req->query.ptr ? "?" : "", (int)req->query.len, req->query.ptr ? req->query.ptr : "");
    char method[32];
    snprintf(method, sizeof(method), "%.*s", (int)req->method.len, req->method.ptr);
    char buf[16384], client[64];
    char *lines[MAX_SERVICE_HEADERS];
    size_t n = 0, used = 0;
    bool ok = ul > 0 && (size_t)ul < sizeof(url);
    for (size_t i = 0; ok && i < req->nheaders; i++)
        if (listed(sl_snap_cstr(s, p->b), req->headers[i].name.ptr, req->headers[i].name.len))
            ok = field(lines, &n, buf, &used, sizeof(buf), req->headers[i].name, req->headers[i].value);
    if (!inet_ntop(c->client.family, c->client.addr, client, sizeof(client)))
        snprintf(client, sizeof(client), "%s", c->peer);
    ok = ok && field(lines, &n, buf, &used, sizeof(buf), sl_slice_from_cstr("X-Forwarded-For"),
                     sl_slice_from_cstr(client));
    ok = ok && field(lines, &n, buf, &used, sizeof(buf), sl_slice_from_cstr("X-Forwarded-Host"), req->host);
    ok = ok && field(lines, &n, buf, &used, sizeof(buf), sl_slice_from_cstr("X-Forwarded-Proto"),
                     sl_slice_from_cstr(c->secure ? "https" : "http"));
    ext_auth_call *x = ok ? calloc(1, sizeof(*x)) : NULL;
    if (x) {
        x->c = c;
        x->p = p;
        x->call = sl_http_call_start(c->w->loop, method, url, (const char *const *)lines, n, p->u[0], done, x);
    }
    if (!x || !x->call) {
        free(x);
        sl_log_warn("policy", "client %s: cannot call the extAuth service of TrafficPolicy %s%s", c->peer,
                    sl_snap_cstr(s, p->source), ok ? "" : " (request too large to describe)");
        if ((p->flags & FAILURE_ALLOW) && ok)
            return SL_POLICY_NEXT;
        sl_conn_respond(c, 403, "forbidden\n", false);
        return SL_POLICY_ANSWERED;
    }
    c->policy_op = x;
    c->policy_cancel = cancel;
    return SL_POLICY_WAIT;
}

const sl_policy_ops sl_policy_ext_auth = {
    .section = "extAuth",
    .phase = SL_PHASE_ACCESS,
    .compile = compile,
    .check = check,
    .on_request = on_request,
};

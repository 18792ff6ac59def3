/* Policy kind csrf: state-changing requests must come from the site itself.
 *
 *   csrf: {additionalOrigins: [https://admin.example.com, https://app.example.net]}
 *
 * For unsafe methods (anything but GET, HEAD, OPTIONS and TRACE) the source
 * origin, from Origin or else from Referer (its scheme://host[:port]), must be
 * the request's own host (the Host field) or match one of additionalOrigins
 * (exact, or with '*' wildcards): otherwise 403, as Envoy's CSRF filter does.
 * A request with neither field is refused too: browsers send Origin with every
 * cross-site unsafe request, so a gateway that cannot see the source cannot
 * tell. Phase access, before authentication (a forged request never costs a
 * password check).
 *
 * Compiled: additionalOrigins as one string, one per line (a). */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "daemon/compile_values.h"
#include "workers/conn.h"
#include "workers/policy.h"

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    rec->a = sl_compile_join_lines(env->b, json_object_get(section, "additionalOrigins"));
    return true;
}

static bool safe_method(int meth)
{
    return meth == SL_HTTP1_METHOD_GET || meth == SL_HTTP1_METHOD_HEAD || meth == SL_HTTP1_METHOD_OPTIONS ||
           meth == SL_HTTP1_METHOD_TRACE;
}

/* The source origin "scheme://host[:port]" into out; false when there is none. */
static bool source_origin(const sl_conn *c, char *out, size_t len)
{
    const sl_http1_request *req = &c->w->req;
    const sl_http1_header *h = sl_http1_request_header(req, "origin");
    if (h && h->value.len && !(h->value.len == 4 && strncmp(h->value.ptr, "null", 4) == 0)) {
        snprintf(out, len, "%.*s", (int)h->value.len, h->value.ptr);
        return true;
    }
    h = sl_http1_request_header(req, "referer");
    if (!h)
        return false;
    const char *sep = memmem(h->value.ptr, h->value.len, "://", 3);
    if (!sep)
        return false;
    const char *end = sep + 3;
    while (end < h->value.ptr + h->value.len && *end != '/' && *end != '?' && *end != '#')
        end++;
    snprintf(out, len, "%.*s", (int)(end - h->value.ptr), h->value.ptr);
    return true;
}

static bool listed(const sl_snapshot *s, sl_snap_str list, const char *origin)
{
    const char *l = sl_snap_cstr(s, list);
    while (*l) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        char pattern[256];
        if (n < sizeof(pattern)) {
            memcpy(pattern, l, n);
            pattern[n] = '\0';
            if (strcasecmp(pattern, origin) == 0 || fnmatch(pattern, origin, FNM_CASEFOLD) == 0)
                return true;
        }
        l += n + (nl ? 1 : 0);
    }
    return false;
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    if (safe_method(c->method))
        return SL_POLICY_NEXT;
    const sl_snapshot *s = &c->snap->s;
    char origin[300];
    bool known = source_origin(c, origin, sizeof(origin));
    if (known) {
        const char *host = strstr(origin, "://");
        sl_slice want = c->w->req.host;
        if (host && strlen(host + 3) == want.len && strncasecmp(host + 3, want.ptr, want.len) == 0)
            return SL_POLICY_NEXT;
        if (listed(s, p->a, origin))
            return SL_POLICY_NEXT;
    }
    sl_log_info("policy", "client %s: %s refused by the csrf of TrafficPolicy %s (source %s)", c->peer, c->log_method,
                sl_snap_cstr(s, p->source), known ? origin : "unknown");
    sl_conn_respond(c, 403, "cross-site request refused\n", false);
    return SL_POLICY_ANSWERED;
}

const sl_policy_ops sl_policy_csrf = {
    .section = "csrf",
    .phase = SL_PHASE_ACCESS,
    .compile = compile,
    .on_request = on_request,
};

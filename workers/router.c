#include "workers/router.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

/* Compiled patterns, indexed by the string offset of the pattern: both path
 * regexes and header/query regexes are snapshot strings. */
struct sl_regex_set {
    uint32_t n;
    uint32_t *offsets; /* sorted string offsets */
    pcre2_code **code;
    pcre2_match_data *md;
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

sl_regex_set *sl_regex_set_build(const sl_snapshot *s)
{
    uint32_t nroutes = sl_snap_count(s, SL_SNAP_ROUTES), nm = sl_snap_count(s, SL_SNAP_HEADER_MATCHES);
    uint32_t *offs = malloc(((size_t)nroutes + nm + 1) * sizeof(uint32_t));
    if (!offs)
        return NULL;
    uint32_t n = 0;
    for (uint32_t i = 0; i < nroutes; i++) {
        const sl_snap_route *r = SL_SNAP_GET(s, SL_SNAP_ROUTES, sl_snap_route, i);
        if (r->path_type == SL_PATH_REGEX)
            offs[n++] = r->path.off;
    }
    for (uint32_t i = 0; i < nm; i++) {
        const sl_snap_header_match *m = SL_SNAP_GET(s, SL_SNAP_HEADER_MATCHES, sl_snap_header_match, i);
        if (m->type == SL_MATCH_REGEX)
            offs[n++] = m->value.off;
    }
    if (n == 0) {
        free(offs);
        return NULL;
    }
    qsort(offs, n, sizeof(uint32_t), cmp_u32);
    uint32_t u = 0;
    for (uint32_t i = 0; i < n; i++)
        if (u == 0 || offs[u - 1] != offs[i])
            offs[u++] = offs[i];
    sl_regex_set *rx = calloc(1, sizeof(*rx));
    if (!rx) {
        free(offs);
        return NULL;
    }
    rx->n = u;
    rx->offsets = offs;
    rx->code = calloc(u, sizeof(pcre2_code *));
    rx->md = pcre2_match_data_create(16, NULL);
    for (uint32_t i = 0; rx->code && i < u; i++) {
        const char *pat = (const char *)sl_snap_table(s, SL_SNAP_STRINGS) + offs[i];
        int err;
        PCRE2_SIZE erroff;
        /* Anchored at both ends: a Gateway API regex must match the whole value. */
        rx->code[i] = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED | PCRE2_ENDANCHORED,
                                    &err, &erroff, NULL);
        if (rx->code[i])
            pcre2_jit_compile(rx->code[i], PCRE2_JIT_COMPLETE);
    }
    return rx;
}

void sl_regex_set_free(sl_regex_set *rx)
{
    if (!rx)
        return;
    for (uint32_t i = 0; rx->code && i < rx->n; i++)
        pcre2_code_free(rx->code[i]);
    free(rx->code);
    free(rx->offsets);
    pcre2_match_data_free(rx->md);
    free(rx);
}

static bool regex_matches(const sl_regex_set *rx, uint32_t pattern_off, sl_slice subject)
{
    if (!rx || !rx->code)
        return false;
    uint32_t lo = 0, hi = rx->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (rx->offsets[mid] < pattern_off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == rx->n || rx->offsets[lo] != pattern_off || !rx->code[lo])
        return false;
    int rc = pcre2_match(rx->code[lo], (PCRE2_SPTR)(subject.ptr ? subject.ptr : ""), subject.len, 0, 0, rx->md, NULL);
    return rc >= 0;
}

static sl_slice snap_slice(const sl_snapshot *s, sl_snap_str str)
{
    return sl_slice_make(sl_snap_cstr(s, str), str.len);
}

/* Compares a host (any case) with a stored lower-case host name. */
static int host_cmp(sl_slice host, sl_slice stored)
{
    size_t n = host.len < stored.len ? host.len : stored.len;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = sl_ascii_lower((unsigned char)host.ptr[i]), b = (unsigned char)stored.ptr[i];
        if (a != b)
            return a < b ? -1 : 1;
    }
    return host.len == stored.len ? 0 : (host.len < stored.len ? -1 : 1);
}

uint32_t sl_router_vhost(const sl_snapshot *s, uint32_t port_index, sl_slice host)
{
    const sl_snap_port *p = SL_SNAP_GET(s, SL_SNAP_PORTS, sl_snap_port, port_index);
    /* Exact names come first and sorted: binary search among them. */
    uint32_t first = p->vhosts.first, end = p->vhosts.first + p->vhosts.count;
    uint32_t exact_end = first;
    while (exact_end < end) {
        const sl_snap_vhost *v = SL_SNAP_GET(s, SL_SNAP_VHOSTS, sl_snap_vhost, exact_end);
        if (v->host.len == 0 || sl_snap_cstr(s, v->host)[0] == '*')
            break;
        exact_end++;
    }
    uint32_t lo = first, hi = exact_end;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const sl_snap_vhost *v = SL_SNAP_GET(s, SL_SNAP_VHOSTS, sl_snap_vhost, mid);
        int c = host_cmp(host, snap_slice(s, v->host));
        if (c == 0)
            return mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    for (uint32_t i = exact_end; i < end; i++) {
        const sl_snap_vhost *v = SL_SNAP_GET(s, SL_SNAP_VHOSTS, sl_snap_vhost, i);
        if (v->host.len == 0)
            return i; /* catch-all */
        sl_slice suffix = sl_slice_make(sl_snap_cstr(s, v->host) + 1, v->host.len - 1); /* ".example.com" */
        if (host.len > suffix.len &&
            host_cmp(sl_slice_make(host.ptr + host.len - suffix.len, suffix.len), suffix) == 0)
            return i;
    }
    return SL_SNAP_NONE;
}

static bool path_matches(const sl_snapshot *s, const sl_regex_set *rx, const sl_snap_route *r, sl_slice path)
{
    const char *v = sl_snap_cstr(s, r->path);
    size_t n = r->path.len;
    switch (r->path_type) {
    case SL_PATH_EXACT: return path.len == n && memcmp(path.ptr, v, n) == 0;
    case SL_PATH_PREFIX:
        if (n == 1 && v[0] == '/')
            return true;
        /* Segment-wise: "/foo" matches "/foo" and "/foo/bar", not "/foobar". */
        return path.len >= n && memcmp(path.ptr, v, n) == 0 && (path.len == n || path.ptr[n] == '/');
    case SL_PATH_REGEX: return regex_matches(rx, r->path.off, path);
    default: return false;
    }
}

static const sl_http1_header *find_header(const sl_route_request *req, sl_slice name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (sl_slice_ieq(req->headers[i].name, name))
            return &req->headers[i];
    return NULL;
}

bool sl_query_param(sl_slice query, sl_slice name, sl_slice *value)
{
    const char *p = query.ptr, *end = query.ptr + query.len;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - p) == name.len && memcmp(p, name.ptr, name.len) == 0) {
            *value = eq ? sl_slice_make(eq + 1, (size_t)(stop - eq - 1)) : sl_slice_make(stop, 0);
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

static bool value_matches(const sl_snapshot *s, const sl_regex_set *rx, const sl_snap_header_match *m,
                          sl_slice value)
{
    if (m->type == SL_MATCH_REGEX)
        return regex_matches(rx, m->value.off, value);
    return sl_slice_eq(value, snap_slice(s, m->value));
}

static bool route_matches(const sl_snapshot *s, const sl_regex_set *rx, const sl_snap_route *r,
                          const sl_route_request *req)
{
    if (!path_matches(s, rx, r, req->path))
        return false;
    if (r->method.len && !sl_slice_eq(req->method, snap_slice(s, r->method)))
        return false;
    for (uint32_t i = 0; i < r->header_matches.count; i++) {
        const sl_snap_header_match *m =
            SL_SNAP_GET(s, SL_SNAP_HEADER_MATCHES, sl_snap_header_match, r->header_matches.first + i);
        const sl_http1_header *h = find_header(req, snap_slice(s, m->name));
        if (!h || !value_matches(s, rx, m, h->value))
            return false;
    }
    for (uint32_t i = 0; i < r->query_matches.count; i++) {
        const sl_snap_header_match *m =
            SL_SNAP_GET(s, SL_SNAP_HEADER_MATCHES, sl_snap_header_match, r->query_matches.first + i);
        sl_slice v;
        if (!req->query.ptr || !sl_query_param(req->query, snap_slice(s, m->name), &v) || !value_matches(s, rx, m, v))
            return false;
    }
    return true;
}

/* Binary search of a vhost's path index for an exact path. */
static const sl_snap_path_index *index_find(const sl_snapshot *s, sl_snap_range r, sl_slice path)
{
    uint32_t lo = r.first, hi = r.first + r.count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const sl_snap_path_index *p = SL_SNAP_GET(s, SL_SNAP_PATH_INDEX, sl_snap_path_index, mid);
        const char *key = sl_snap_cstr(s, p->path);
        size_t n = path.len < p->path.len ? path.len : p->path.len;
        int c = memcmp(path.ptr, key, n);
        if (c == 0)
            c = path.len == p->path.len ? 0 : (path.len < p->path.len ? -1 : 1);
        if (c == 0)
            return p;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const sl_snap_route *first_match(const sl_snapshot *s, const sl_regex_set *rx, sl_snap_range r,
                                        const sl_route_request *req)
{
    for (uint32_t i = 0; i < r.count; i++) {
        const sl_snap_route *route = SL_SNAP_GET(s, SL_SNAP_ROUTES, sl_snap_route, r.first + i);
        if (route_matches(s, rx, route, req))
            return route;
    }
    return NULL;
}

/* The first matching entry of one vhost, in precedence order: Exact before any
 * prefix, then prefixes from the longest (every segment boundary of the request
 * path, longest first), then regexes. Entries of one path are already in
 * precedence order (method, headers, query, age). */
static const sl_snap_route *vhost_lookup(const sl_snapshot *s, const sl_regex_set *rx, const sl_snap_vhost *v,
                                         const sl_route_request *req)
{
    const sl_snap_route *out;
    const sl_snap_path_index *p = index_find(s, v->exact_index, req->path);
    if (p && (out = first_match(s, rx, p->routes, req)))
        return out;
    if (v->prefix_index.count) {
        size_t len = req->path.len;
        while (len > 0) {
            p = index_find(s, v->prefix_index, sl_slice_make(req->path.ptr, len));
            if (p && (out = first_match(s, rx, p->routes, req)))
                return out;
            /* The next shorter candidate ends before the previous '/'. */
            size_t cut = len - 1;
            while (cut > 0 && req->path.ptr[cut] != '/')
                cut--;
            if (cut == 0)
                break;
            len = cut;
        }
        p = index_find(s, v->prefix_index, sl_slice_from_cstr("/"));
        if (p && (out = first_match(s, rx, p->routes, req)))
            return out;
    }
    return first_match(s, rx, v->regex_routes, req);
}

static bool wildcard_covers(const sl_snapshot *s, const sl_snap_vhost *v, sl_slice host)
{
    if (v->host.len == 0)
        return true; /* catch-all */
    sl_slice suffix = sl_slice_make(sl_snap_cstr(s, v->host) + 1, v->host.len - 1); /* ".example.com" */
    return host.len > suffix.len && host_cmp(sl_slice_make(host.ptr + host.len - suffix.len, suffix.len), suffix) == 0;
}

/* The hostname of the listener a vhost belongs to. */
static sl_slice vhost_listener_host(const sl_snapshot *s, const sl_snap_vhost *v)
{
    return snap_slice(s, SL_SNAP_GET(s, SL_SNAP_LISTENERS, sl_snap_listener, v->listener)->hostname);
}

sl_route_result sl_router_lookup(const sl_snapshot *s, const sl_regex_set *rx, uint32_t port_index,
                                 const sl_route_request *req, const sl_snap_route **out)
{
    /* The most specific vhost covering the host belongs to the listener the request
     * belongs to (the compiler drops the vhosts that a more specific listener
     * shadows). Hostname specificity comes first in the Gateway API's precedence:
     * the rules of that vhost are tried first, then those of each less specific
     * vhost of the same listener (longer wildcards first, the catch-all last).
     * Other listeners' routes never serve it (listener isolation). */
    uint32_t vi = sl_router_vhost(s, port_index, req->host);
    if (vi == SL_SNAP_NONE)
        return SL_ROUTE_NO_HOST;
    const sl_snap_port *port = SL_SNAP_GET(s, SL_SNAP_PORTS, sl_snap_port, port_index);
    sl_slice listener = vhost_listener_host(s, SL_SNAP_GET(s, SL_SNAP_VHOSTS, sl_snap_vhost, vi));
    uint32_t end = port->vhosts.first + port->vhosts.count;
    for (uint32_t i = vi; i < end; i++) {
        const sl_snap_vhost *v = SL_SNAP_GET(s, SL_SNAP_VHOSTS, sl_snap_vhost, i);
        bool exact = v->host.len && sl_snap_cstr(s, v->host)[0] != '*';
        if (i != vi &&
            (exact || !wildcard_covers(s, v, req->host) || !sl_slice_eq(vhost_listener_host(s, v), listener)))
            continue; /* other exact names, wildcards that do not cover this host, other listeners */
        if ((*out = vhost_lookup(s, rx, v, req)))
            return SL_ROUTE_FOUND;
    }
    return SL_ROUTE_NO_MATCH;
}

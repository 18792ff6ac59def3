/* Policy kind authorization: who may do what, once authentication said who.
 *
 *   authorization:
 *     defaultAction: Deny            # when no rule matches: Deny (default) | Allow
 *     rules:                         # the first rule that matches decides
 *     - action: Allow                # Allow | Deny
 *       clientIds: [alice, ci-bot]   # any of these clients (apiKeyAuth, basicAuth)
 *       methods: [GET, HEAD]         # any of these methods
 *       paths: [/reports/x]          # any of these paths ('*' and '?' wildcards; '*' spans '/')
 *       claims:                      # JWT claims (jwt): each listed claim has one of its values
 *       - {name: groups, values: [admin, ops]}
 *
 * A rule matches when each of its lists that is given matches (a list matches
 * when any entry does); a rule with clientIds never matches a request without
 * a client id, one with claims never one without a JWT. A claim that is an
 * array matches when any element is one of the values, and scope or scp
 * (RFC 8693: space-separated) when any of its words is. Paths are compared in their normal form, as an upstream would
 * read them: unreserved characters percent-decoded, repeated slashes merged,
 * "." and ".." segments resolved (so /%61dmin, //admin and /x/../admin are all
 * /admin); a path too long to normalise (over 2 KiB) is refused. Denied: 403. Runs after the authentication kinds (registry
 * order), so clientIds are known; an unauthenticated request reaches it only
 * when no authentication section applies.
 *
 * Compiled: two items per rule: the first with flags = 1 for Allow, a =
 * clientIds, b = methods (one per line); the second with a = paths, b = claims
 * (one per line: the name, then each value, separated by tabs). num[0] = 1
 * when the default is Allow. */
#include <fnmatch.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "daemon/compile_values.h"
#include "workers/conn.h"
#include "workers/jwt_cache.h"
#include "workers/policy.h"

#define ALLOW 1

/* Appends s to a growing string (the compile step aborts when out of memory, as the master does). */
static void append(char **text, size_t *len, const char *s)
{
    size_t n = strlen(s);
    char *grown = realloc(*text, *len + n + 1);
    if (!grown)
        abort();
    memcpy(grown + *len, s, n + 1);
    *text = grown;
    *len += n;
}

/* "name\tvalue\tvalue\n..." for a rule's claims list. */
sl_snap_str sl_authz_compile_claims(sl_snap_builder *b, const json_t *claims)
{
    char *text = NULL;
    size_t len = 0, i, j;
    const json_t *m, *v;
    append(&text, &len, "");
    json_array_foreach(claims, i, m)
    {
        if (i)
            append(&text, &len, "\n");
        append(&text, &len, json_string_value(json_object_get(m, "name")));
        json_array_foreach(json_object_get(m, "values"), j, v)
        {
            append(&text, &len, "\t");
            append(&text, &len, json_string_value(v));
        }
    }
    sl_snap_str out = sl_sb_str(b, text);
    free(text);
    return out;
}

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    const char *def = json_string_value(json_object_get(section, "defaultAction"));
    rec->num[0] = def && strcmp(def, "Allow") == 0;
    rec->items.first = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(section, "rules"), i, r)
    {
        const char *action = json_string_value(json_object_get(r, "action"));
        sl_snap_policy_item head = {.flags = action && strcmp(action, "Allow") == 0 ? ALLOW : 0};
        head.a = sl_compile_join_lines(env->b, json_object_get(r, "clientIds"));
        head.b = sl_compile_join_lines(env->b, json_object_get(r, "methods"));
        sl_snap_policy_item paths = {0};
        paths.a = sl_compile_join_lines(env->b, json_object_get(r, "paths"));
        paths.b = sl_authz_compile_claims(env->b, json_object_get(r, "claims"));
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &head);
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &paths);
    }
    rec->items.count = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS) - rec->items.first;
    return true;
}

static bool check(const sl_snapshot *s, const sl_snap_policy *p)
{
    (void)s;
    return p->items.count % 2 == 0;
}

/* Does text match a line of list (exact, or a glob when glob)? An empty list matches anything. */
static bool in_list(const sl_snapshot *s, sl_snap_str list, const char *text, size_t tlen, bool glob)
{
    if (!list.len)
        return true;
    const char *l = sl_snap_cstr(s, list);
    if (!glob)
        return sl_line_listed(l, sl_slice_make(text, tlen), false);
    char subject[2048];
    if (tlen >= sizeof(subject))
        return false;
    memcpy(subject, text, tlen);
    subject[tlen] = '\0';
    while (*l) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        char pattern[512];
        if (n < sizeof(pattern)) {
            memcpy(pattern, l, n);
            pattern[n] = '\0';
            if (fnmatch(pattern, subject, 0) == 0)
                return true;
        }
        l += n + (nl ? 1 : 0);
    }
    return false;
}

static int hex(int ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static bool unreserved(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
           ch == '_' || ch == '~';
}

/* The path's normal form into out (NUL-terminated); its length, or -1 when it
 * does not fit. Percent-encoded unreserved characters are decoded (others stay
 * encoded, as they are not the same path), then segments are resolved. */
static long normal_path(sl_slice path, char *out, size_t outlen)
{
    char dec[2048];
    size_t n = 0;
    for (size_t i = 0; i < path.len; i++) {
        int ch = (unsigned char)path.ptr[i];
        if (ch == '%' && i + 2 < path.len + 0 && hex(path.ptr[i + 1]) >= 0 && hex(path.ptr[i + 2]) >= 0 &&
            unreserved(hex(path.ptr[i + 1]) * 16 + hex(path.ptr[i + 2]))) {
            ch = hex(path.ptr[i + 1]) * 16 + hex(path.ptr[i + 2]);
            i += 2;
        }
        if (n + 1 >= sizeof(dec))
            return -1;
        dec[n++] = (char)ch;
    }
    /* Segment by segment: "" and "." vanish, ".." drops the previous one. */
    size_t o = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && dec[i] == '/')
            i++;
        size_t start = i;
        while (i < n && dec[i] != '/')
            i++;
        size_t len = i - start;
        if (len == 0 || (len == 1 && dec[start] == '.'))
            continue;
        if (len == 2 && dec[start] == '.' && dec[start + 1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            continue;
        }
        if (o + 1 + len + 1 >= outlen)
            return -1;
        out[o++] = '/';
        memcpy(out + o, dec + start, len);
        o += len;
    }
    if (o == 0 || (n > 0 && dec[n - 1] == '/')) { /* "/" itself, and a trailing slash kept */
        if (o + 2 >= outlen)
            return -1;
        out[o++] = '/';
    }
    out[o] = '\0';
    return (long)o;
}

/* Is `want` (length n) one of the lines of the claim value `have` (or one of
 * its words, for the space-separated scope claims of RFC 8693)? */
static bool claim_has(const char *have, const char *want, size_t n, bool words)
{
    for (;;) {
        size_t l = strcspn(have, words ? "\n " : "\n");
        if (l == n && memcmp(have, want, n) == 0)
            return true;
        if (!have[l])
            return false;
        have += l + 1;
    }
}

/* Does every claim condition ("name\tv1\tv2" lines) hold for the request's JWT? */
bool sl_authz_claims_match(const sl_conn *c, const char *conds)
{
    while (*conds) {
        size_t line = strcspn(conds, "\n"), nl = strcspn(conds, "\t\n");
        char name[160];
        if (nl >= sizeof(name))
            return false;
        memcpy(name, conds, nl);
        name[nl] = '\0';
        const char *have = sl_claims_get(c->claims, name);
        bool ok = false;
        for (const char *v = conds + nl; have && !ok && v < conds + line;) {
            v++; /* the tab */
            size_t vl = strcspn(v, "\t\n");
            ok = claim_has(have, v, vl, strcmp(name, "scope") == 0 || strcmp(name, "scp") == 0);
            v += vl;
        }
        if (!ok)
            return false;
        conds += line + (conds[line] == '\n');
    }
    return true;
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    const sl_snapshot *s = &c->snap->s;
    const sl_http1_request *req = &c->w->req;
    char normal[2048];
    long plen = normal_path(req->path.len ? req->path : sl_slice_from_cstr("/"), normal, sizeof(normal));
    if (plen < 0) {
        sl_log_info("policy", "client %s: path too long to authorize (TrafficPolicy %s)", c->peer,
                    sl_snap_cstr(s, p->source));
        sl_conn_respond(c, 403, "forbidden\n", false);
        return SL_POLICY_ANSWERED;
    }
    sl_slice path = sl_slice_make(normal, (size_t)plen);
    bool allow = p->num[0] != 0;
    for (uint32_t i = 0; i + 1 < p->items.count; i += 2) {
        const sl_snap_policy_item *rule = SL_SNAP_GET(s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, p->items.first + i);
        const sl_snap_policy_item *paths =
            SL_SNAP_GET(s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, p->items.first + i + 1);
        if (rule->a.len && !c->client_id[0])
            continue;
        if (!in_list(s, rule->a, c->client_id, strlen(c->client_id), false) ||
            !in_list(s, rule->b, req->method.ptr, req->method.len, false) ||
            !in_list(s, paths->a, path.ptr, path.len, true) ||
            (paths->b.len && !sl_authz_claims_match(c, sl_snap_cstr(s, paths->b))))
            continue;
        allow = rule->flags & ALLOW;
        break;
    }
    if (allow)
        return SL_POLICY_NEXT;
    sl_log_info("policy", "client %s%s%s: %s %s denied by the authorization of TrafficPolicy %s", c->peer,
                c->client_id[0] ? " as " : "", c->client_id, c->log_method, c->log_path, sl_snap_cstr(s, p->source));
    sl_conn_respond(c, 403, "forbidden\n", false);
    return SL_POLICY_ANSWERED;
}

const sl_policy_ops sl_policy_authorization = {
    .section = "authorization",
    .phase = SL_PHASE_ACCESS, /* registered after the authentication kinds */
    .compile = compile,
    .check = check,
    .on_request = on_request,
};

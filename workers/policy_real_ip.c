/* Policy kind realIp: the client's address when it reaches the gateway through
 * proxies of its own (a load balancer, a CDN).
 *
 *   realIp: {trustedProxies: [10.0.0.0/8], header: X-Forwarded-For}
 *
 * Only when the TCP peer is a trusted proxy is the header believed: its
 * addresses (every line of it, comma-separated, in order) are read from the
 * right, skipping trusted proxies; the first untrusted address is the client
 * (as nginx's real_ip_recursive). When all are trusted, the leftmost is; an
 * entry that is not an address ends the walk (the last good one counts). The
 * client's address then serves ipAccess, rate-limit keys and the access log's
 * "client" (its "peer" stays the TCP peer); the X-Forwarded-For sent upstream
 * keeps the whole chain. A header from an untrusted peer changes nothing, so a
 * client cannot choose its own address. Phase access, before every other kind.
 *
 * Compiled: items = the trusted ranges; a = the header name. */
#include <arpa/inet.h>
#include <string.h>

#include "common/cidr.h"
#include "workers/conn.h"
#include "workers/policy.h"

static bool compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen)
{
    rec->items.first = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS);
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(section, "trustedProxies"), i, x)
    {
        sl_snap_policy_item it = {0};
        if (!json_is_string(x) || !sl_cidr_parse(json_string_value(x), &it.family, it.addr, &it.prefix)) {
            snprintf(why, whylen, "realIp: trustedProxies[%zu] is not a CIDR", i);
            return false;
        }
        sl_sb_add(env->b, SL_SNAP_POLICY_ITEMS, &it);
    }
    rec->items.count = sl_sb_count(env->b, SL_SNAP_POLICY_ITEMS) - rec->items.first;
    const char *header = json_string_value(json_object_get(section, "header"));
    rec->a = sl_sb_str(env->b, header && header[0] ? header : "X-Forwarded-For");
    return true;
}

static bool trusted(const sl_snapshot *s, const sl_snap_policy *p, const sl_ip *ip)
{
    for (uint32_t i = 0; i < p->items.count; i++) {
        const sl_snap_policy_item *it = SL_SNAP_GET(s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, p->items.first + i);
        if (sl_cidr_contains(it->family, it->addr, it->prefix, ip))
            return true;
    }
    return false;
}

/* One list entry ("1.2.3.4", "1.2.3.4:5678", "2001:db8::1", "[2001:db8::1]:443") as an address. */
static bool parse_entry(const char *p, size_t n, sl_ip *ip)
{
    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    char text[64];
    if (n == 0 || n >= sizeof(text))
        return false;
    if (*p == '[') {
        const char *close = memchr(p, ']', n);
        if (!close)
            return false;
        n = (size_t)(close - p - 1);
        p++;
    } else if (memchr(p, '.', n) && memchr(p, ':', n)) {
        n = (size_t)((const char *)memchr(p, ':', n) - p); /* IPv4 with a port */
    }
    memcpy(text, p, n);
    text[n] = '\0';
    memset(ip, 0, sizeof(*ip));
    if (inet_pton(AF_INET, text, ip->addr) == 1) {
        ip->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, ip->addr) == 1) {
        ip->family = AF_INET6;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(ip->addr, mapped, 12) == 0) { /* ::ffff:a.b.c.d is that IPv4 address */
            memmove(ip->addr, ip->addr + 12, 4);
            memset(ip->addr + 4, 0, 12);
            ip->family = AF_INET;
        }
        return true;
    }
    return false;
}

static sl_policy_result on_request(sl_conn *c, const sl_snap_policy *p)
{
    const sl_snapshot *s = &c->snap->s;
    if (!trusted(s, p, &c->client))
        return SL_POLICY_NEXT;
    const sl_http1_request *req = &c->w->req;
    sl_slice name = sl_slice_make(sl_snap_cstr(s, p->a), p->a.len);
    sl_ip found = c->client;
    bool have = false;
    /* Lines from the last, entries of each from the right. */
    for (size_t i = req->nheaders; i-- > 0;) {
        const sl_http1_header *h = &req->headers[i];
        if (!sl_slice_ieq(h->name, name))
            continue;
        size_t end = h->value.len;
        for (size_t k = h->value.len + 1; k-- > 0;) {
            if (k != 0 && h->value.ptr[k - 1] != ',')
                continue;
            sl_ip ip;
            if (!parse_entry(h->value.ptr + k, end - k, &ip))
                goto done; /* not an address: the last good one counts */
            found = ip;
            have = true;
            if (!trusted(s, p, &ip))
                goto done;
            end = k ? k - 1 : 0;
        }
    }
done:
    if (have)
        c->client = found;
    return SL_POLICY_NEXT;
}

const sl_policy_ops sl_policy_real_ip = {
    .section = "realIp",
    .phase = SL_PHASE_ACCESS,
    .compile = compile,
    .on_request = on_request,
};

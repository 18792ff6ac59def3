#include "workers/proxy_protocol.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

/* An IPv4 address written as IPv6 (::ffff:a.b.c.d) is that IPv4 address. */
static void unmap(sl_ip *ip)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (ip->family == AF_INET6 && memcmp(ip->addr, mapped, 12) == 0) {
        memmove(ip->addr, ip->addr + 12, 4);
        memset(ip->addr + 4, 0, 12);
        ip->family = AF_INET;
    }
}

static const uint8_t v2_signature[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* Version 1: "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n", at most 107 bytes. */
static sl_proxy_result parse_v1(const uint8_t *buf, size_t len, size_t *used, sl_ip *client)
{
    size_t max = len < 107 ? len : 107;
    const uint8_t *crlf = NULL;
    for (size_t i = 0; i + 1 < max; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n') {
            crlf = buf + i;
            break;
        }
    if (!crlf)
        return len >= 107 ? SL_PROXY_BAD : SL_PROXY_AGAIN;
    char line[108];
    size_t n = (size_t)(crlf - buf);
    memcpy(line, buf, n);
    line[n] = '\0';
    *used = n + 2;
    memset(client, 0, sizeof(*client));
    if (strncmp(line, "PROXY UNKNOWN", 13) == 0 && (line[13] == '\0' || line[13] == ' '))
        return SL_PROXY_OK; /* the rest of the line is to be ignored */
    int family;
    if (strncmp(line, "PROXY TCP4 ", 11) == 0)
        family = AF_INET;
    else if (strncmp(line, "PROXY TCP6 ", 11) == 0)
        family = AF_INET6;
    else
        return SL_PROXY_BAD;
    /* Exactly four fields separated by single spaces: src dst sport dport. */
    char *fields[4];
    char *p = line + 11;
    for (int f = 0; f < 4; f++) {
        if (!*p || *p == ' ')
            return SL_PROXY_BAD;
        fields[f] = p;
        char *sp = strchr(p, ' ');
        if (f < 3) {
            if (!sp)
                return SL_PROXY_BAD;
            *sp = '\0';
            p = sp + 1;
        } else if (sp) {
            return SL_PROXY_BAD;
        }
    }
    for (int f = 2; f < 4; f++) {
        size_t digits = strlen(fields[f]);
        unsigned long port = 0;
        if (digits == 0 || digits > 5 || (digits > 1 && fields[f][0] == '0'))
            return SL_PROXY_BAD;
        for (const char *d = fields[f]; *d; d++) {
            if (*d < '0' || *d > '9')
                return SL_PROXY_BAD;
            port = port * 10 + (unsigned long)(*d - '0');
        }
        if (port > 65535)
            return SL_PROXY_BAD;
    }
    uint8_t dst[16];
    if (inet_pton(family, fields[0], client->addr) != 1 || inet_pton(family, fields[1], dst) != 1) {
        memset(client, 0, sizeof(*client));
        return SL_PROXY_BAD;
    }
    client->family = (uint8_t)family;
    unmap(client);
    return SL_PROXY_OK;
}

/* Version 2: the signature, version/command, family/protocol, a 16-bit length, then addresses and TLVs. */
static sl_proxy_result parse_v2(const uint8_t *buf, size_t len, size_t *used, sl_ip *client)
{
    if (len < 16)
        return SL_PROXY_AGAIN;
    uint8_t ver_cmd = buf[12], fam = buf[13];
    size_t body = (size_t)buf[14] << 8 | buf[15];
    if ((ver_cmd >> 4) != 2 || (ver_cmd & 0x0f) > 1 || 16 + body > SL_PROXY_MAX_HEADER)
        return SL_PROXY_BAD;
    if (len < 16 + body)
        return SL_PROXY_AGAIN;
    *used = 16 + body;
    memset(client, 0, sizeof(*client));
    if ((ver_cmd & 0x0f) == 0)
        return SL_PROXY_OK; /* LOCAL: the load balancer's own connection (health checks) */
    uint8_t af = fam >> 4, proto = fam & 0x0f;
    if (proto == 1 && af == 1) { /* TCP over IPv4: src, dst, sport, dport */
        if (body < 12)
            return SL_PROXY_BAD;
        client->family = AF_INET;
        memcpy(client->addr, buf + 16, 4);
    } else if (proto == 1 && af == 2) { /* TCP over IPv6 */
        if (body < 36)
            return SL_PROXY_BAD;
        client->family = AF_INET6;
        memcpy(client->addr, buf + 16, 16);
        unmap(client);
    } else if (af > 3 || proto > 2) {
        return SL_PROXY_BAD;
    } /* UNSPEC, UDP or UNIX: the address is not one a policy can use */
    return SL_PROXY_OK;
}

sl_proxy_result sl_proxy_parse(const uint8_t *buf, size_t len, size_t *used, sl_ip *client)
{
    size_t cmp = len < 12 ? len : 12;
    if (len > 0 && buf[0] == 0x0d) {
        if (memcmp(buf, v2_signature, cmp) != 0)
            return SL_PROXY_NONE;
        return len < 12 ? SL_PROXY_AGAIN : parse_v2(buf, len, used, client);
    }
    size_t pcmp = len < 6 ? len : 6;
    if (memcmp(buf, "PROXY ", pcmp) != 0)
        return SL_PROXY_NONE;
    return len < 6 ? SL_PROXY_AGAIN : parse_v1(buf, len, used, client);
}

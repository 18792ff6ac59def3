#include "common/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

bool sl_cidr_parse(const char *text, uint8_t *family, uint8_t addr[16], uint8_t *prefix)
{
    const char *slash = strchr(text, '/');
    if (!slash || slash == text || (size_t)(slash - text) >= 64)
        return false;
    char host[64];
    memcpy(host, text, (size_t)(slash - text));
    host[slash - text] = '\0';
    const char *bits = slash + 1;
    size_t nd = strlen(bits);
    if (nd == 0 || nd > 3)
        return false;
    for (const char *p = bits; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    long len = strtol(bits, NULL, 10);
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, host, addr) == 1 && len <= 32) {
        *family = AF_INET;
    } else if (inet_pton(AF_INET6, host, addr) == 1 && len <= 128) {
        *family = AF_INET6;
    } else {
        return false;
    }
    *prefix = (uint8_t)len;
    /* Clear the host bits so that "10.1.2.3/8" means 10.0.0.0/8. */
    for (int i = 0; i < 16; i++) {
        int keep = (int)len - i * 8;
        if (keep <= 0)
            addr[i] = 0;
        else if (keep < 8)
            addr[i] &= (uint8_t)(0xff << (8 - keep));
    }
    return true;
}

bool sl_cidr_contains(uint8_t family, const uint8_t addr[16], uint8_t prefix, const sl_ip *ip)
{
    if (ip->family != family)
        return false;
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(addr, ip->addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (ip->addr[full] & mask) == addr[full];
}

sl_ip sl_ip_from_sockaddr(const struct sockaddr_storage *ss)
{
    sl_ip ip;
    memset(&ip, 0, sizeof(ip));
    if (ss->ss_family == AF_INET) {
        ip.family = AF_INET;
        memcpy(ip.addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            ip.family = AF_INET;
            memcpy(ip.addr, &a6->s6_addr[12], 4);
        } else {
            ip.family = AF_INET6;
            memcpy(ip.addr, a6, 16);
        }
    }
    return ip;
}

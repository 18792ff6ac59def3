/* Address ranges (CIDRs) and client addresses, as the policies that match on
 * the client's address use them (ipAccess, trusted proxies). An IPv4 address
 * received on a dual-stack socket (::ffff:a.b.c.d) is the IPv4 address: a rule
 * for 10.0.0.0/8 matches it. */
#ifndef SL_CIDR_H
#define SL_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct sl_ip {
    uint8_t family; /* AF_INET or AF_INET6; 0: unknown (matches nothing) */
    uint8_t addr[16];
} sl_ip;

/* "10.0.0.0/8", "2001:db8::/32": the network (host bits cleared) and its prefix
 * length. False for anything else. */
bool sl_cidr_parse(const char *text, uint8_t *family, uint8_t addr[16], uint8_t *prefix);

/* Whether ip lies in the network family/addr/prefix. */
bool sl_cidr_contains(uint8_t family, const uint8_t addr[16], uint8_t prefix, const sl_ip *ip);

/* The address of a socket peer (IPv4-mapped IPv6 becomes IPv4). */
sl_ip sl_ip_from_sockaddr(const struct sockaddr_storage *ss);

#endif

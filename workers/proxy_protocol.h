/* The PROXY protocol (HAProxy's, versions 1 and 2): a load balancer in front of
 * the gateway states the client's address in a header sent before anything
 * else on the connection (before TLS, before HTTP). A parser of network input:
 * tests/fuzz/fuzz_proxy_protocol.c feeds it arbitrary bytes. */
#ifndef SL_PROXY_PROTOCOL_H
#define SL_PROXY_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "common/cidr.h"

/* The longest header accepted: v1's 107 bytes, or v2's 16 plus addresses and
 * TLVs (a load balancer's TLVs are small; more is refused). */
#define SL_PROXY_MAX_HEADER 536

typedef enum {
    SL_PROXY_AGAIN = 0, /* need more bytes */
    SL_PROXY_OK,        /* header parsed: *used bytes; *client set (family 0: LOCAL or UNKNOWN) */
    SL_PROXY_NONE,      /* the bytes do not start with a PROXY header */
    SL_PROXY_BAD,       /* a PROXY header, malformed (or too long) */
} sl_proxy_result;

/* Parses the start of a connection's bytes. On SL_PROXY_OK, *used is the
 * header's length and *client the source address it states (family 0 when
 * the header says LOCAL, UNKNOWN, or a family other than TCP over IPv4/IPv6:
 * the connection's own peer then stands). */
sl_proxy_result sl_proxy_parse(const uint8_t *buf, size_t len, size_t *used, sl_ip *client);

#endif

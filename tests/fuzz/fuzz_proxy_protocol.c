/* libFuzzer target: the PROXY protocol header parser (workers/proxy_protocol.c),
 * which reads the first bytes of every connection on ports that enable it.
 * Each input is parsed whole and as every prefix, from an exact-size heap copy
 * (ASan catches a read past the end). Invariants: a header that parses says
 * how long it is, within the input and the limit, and states an IPv4 or IPv6
 * address or none; its prefixes parse as "need more" (never as a different
 * answer), and the header alone parses to the same result. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "workers/proxy_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sl_proxy_result parse_copy(const uint8_t *data, size_t n, size_t *used, sl_ip *ip)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    memcpy(copy, data, n);
    sl_proxy_result r = sl_proxy_parse(copy, n, used, ip);
    free(copy);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4 * SL_PROXY_MAX_HEADER)
        return 0;
    size_t used = 0;
    sl_ip ip;
    sl_proxy_result r = parse_copy(data, size, &used, &ip);
    if (r == SL_PROXY_OK) {
        if (used == 0 || used > size || used > SL_PROXY_MAX_HEADER)
            abort();
        if (ip.family != 0 && ip.family != AF_INET && ip.family != AF_INET6)
            abort();
        for (size_t n = 0; n < used; n++) {
            size_t u2;
            sl_ip ip2;
            if (parse_copy(data, n, &u2, &ip2) != SL_PROXY_AGAIN)
                abort();
        }
        size_t u3;
        sl_ip ip3;
        if (parse_copy(data, used, &u3, &ip3) != SL_PROXY_OK || u3 != used || memcmp(&ip3, &ip, sizeof(ip)) != 0)
            abort();
    }
    return 0;
}

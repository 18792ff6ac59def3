/* The --redis address (see redis_addr.h). */
#include "common/redis_addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sl_redis_addr sl_redis;

bool sl_redis_addr_parse(const char *text, sl_redis_addr *out)
{
    sl_redis_addr a;
    memset(&a, 0, sizeof(a));
    if (strlen(text) >= sizeof(a.text) - 1)
        return false;
    snprintf(a.text, sizeof(a.text), "%s", text);
    if (strncmp(text, "unix:", 5) == 0) {
        if (text[5] != '/' || strlen(text + 5) >= sizeof(a.host))
            return false;
        a.is_unix = true;
        snprintf(a.host, sizeof(a.host), "%s", text + 5);
    } else {
        const char *colon = strrchr(text, ':');
        const char *host = text;
        size_t hl = colon ? (size_t)(colon - text) : 0;
        if (text[0] == '[') { /* [::1]:6379 */
            const char *close = strchr(text, ']');
            if (!close || close + 1 != colon)
                return false;
            host = text + 1;
            hl = (size_t)(close - host);
        }
        char *end;
        long port = colon ? strtol(colon + 1, &end, 10) : 0;
        if (!colon || hl == 0 || hl >= sizeof(a.host) || *end || port < 1 || port > 65535 || colon[1] == '\0')
            return false;
        memcpy(a.host, host, hl);
        a.host[hl] = '\0';
        a.port = (int)port;
    }
    a.set = true;
    *out = a;
    return true;
}

bool sl_redis_addr_resolve(sl_redis_addr *a, char *why, size_t whylen)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (a->is_unix || inet_pton(AF_INET, a->host, buf) == 1 || inet_pton(AF_INET6, a->host, buf) == 1)
        return true;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(a->host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(why, whylen, "%s", gai_strerror(rc));
        return false;
    }
    const void *addr = res->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                                                 : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
    bool ok = inet_ntop(res->ai_family, addr, a->host, sizeof(a->host)) != NULL;
    freeaddrinfo(res);
    if (!ok)
        snprintf(why, whylen, "cannot print the address");
    return ok;
}

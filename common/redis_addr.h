/* Where Redis is (--redis): "HOST:PORT", "[IPv6]:PORT" or "unix:/path". Set by
 * the master at start-up, before workers exist, so they inherit it. */
#ifndef SL_REDIS_ADDR_H
#define SL_REDIS_ADDR_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sl_redis_addr {
    bool set;
    bool is_unix;
    char host[256]; /* or the socket's path */
    int port;
    char text[300]; /* as given, for messages */
} sl_redis_addr;

extern sl_redis_addr sl_redis;

/* Parses text into *out; false (with out untouched) when it is not an address. */
bool sl_redis_addr_parse(const char *text, sl_redis_addr *out);

/* Replaces a host name by its first address (workers connect without a
 * resolver: a blocking lookup would stall their loop). False with why when it
 * does not resolve. */
bool sl_redis_addr_resolve(sl_redis_addr *a, char *why, size_t whylen);

#endif

/* The hash of consistent hashing (ring hash and maglev): the master places
 * endpoints with it, the workers place requests with it, so both must agree.
 * FNV-1a over the bytes, then a 64-bit finaliser (splitmix64's) so that keys
 * differing in one byte land far apart. */
#ifndef SL_LB_HASH_H
#define SL_LB_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t sl_lb_hash_more(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static inline uint64_t sl_lb_hash_start(void) { return 0xcbf29ce484222325ull; }

static inline uint64_t sl_lb_hash_end(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

static inline uint64_t sl_lb_hash(const void *p, size_t n)
{
    return sl_lb_hash_end(sl_lb_hash_more(sl_lb_hash_start(), p, n));
}

#endif

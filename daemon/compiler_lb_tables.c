/* Compiler: the consistent-hashing structures of a backend, built from its
 * endpoints' addresses so that an endpoint keeps its place when others come
 * and go (workers/lb_hash.c looks requests up in them).
 *
 *   ring hash  each endpoint puts points on a ring of 2^32, in proportion to
 *              its weight (minimumRingSize points at least in all, at most
 *              maximumRingSize, a power of two per unit of weight); a key goes
 *              to the first point at or after it.
 *   maglev     a lookup table of a prime size (at least 400 cells per
 *              endpoint, up to 65521) that each endpoint fills in turn along
 *              its own permutation, turns in proportion to its weight. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lb_hash.h"
#include "daemon/compiler_internal.h"

/* Hashes of an endpoint by its resolved address (each address of a name has
 * places of its own), port, a salt and a number. */
static uint64_t endpoint_hash(sl_compile_ctx *c, const sl_snap_endpoint *e, const char *salt, uint32_t n)
{
    (void)c;
    char id[320], text[INET6_ADDRSTRLEN];
    inet_ntop(e->family, e->addr, text, sizeof(text));
    int len = snprintf(id, sizeof(id), "%s:%u%s%u", text, e->port, salt, n);
    return sl_lb_hash(id, len > 0 && (size_t)len < sizeof(id) ? (size_t)len : sizeof(id) - 1);
}

static int by_point(const void *a, const void *b)
{
    const sl_snap_lb_entry *x = a, *y = b;
    if (x->point != y->point)
        return x->point < y->point ? -1 : 1;
    return x->endpoint < y->endpoint ? -1 : x->endpoint > y->endpoint;
}

static sl_snap_endpoint endpoint_at(sl_compile_ctx *c, sl_snap_range eps, uint32_t i)
{
    return *(const sl_snap_endpoint *)sl_sb_at(&c->b, SL_SNAP_ENDPOINTS, eps.first + i);
}

static void add_entries(sl_compile_ctx *c, uint32_t backend, const sl_snap_lb_entry *entries, uint32_t n)
{
    uint32_t first = sl_sb_count(&c->b, SL_SNAP_LB_ENTRIES);
    for (uint32_t i = 0; i < n; i++)
        sl_sb_add(&c->b, SL_SNAP_LB_ENTRIES, &entries[i]);
    sl_snap_backend *be = sl_sb_at(&c->b, SL_SNAP_BACKENDS, backend);
    be->lb_entries = (sl_snap_range){first, n};
}

static uint64_t ring_points(uint32_t weight, uint64_t per, uint64_t total, uint32_t ring_max, bool scaled)
{
    if (!scaled)
        return per * weight;
    uint64_t k = (uint64_t)weight * ring_max / total;
    return k ? k : 1;
}

void sl_compile_ring(sl_compile_ctx *c, uint32_t backend, uint32_t ring_min, uint32_t ring_max)
{
    sl_snap_range eps = ((const sl_snap_backend *)sl_sb_at(&c->b, SL_SNAP_BACKENDS, backend))->endpoints;
    if (eps.count == 0)
        return;
    uint64_t total = 0;
    for (uint32_t i = 0; i < eps.count; i++)
        total += endpoint_at(c, eps, i).weight;
    /* Points per unit of weight: enough for minimumRingSize, rounded up to a
     * power of two so that it stays the same when an endpoint comes or goes
     * (only then do the other endpoints keep exactly their points, and only
     * the keys of the one that changed move); halved while over the maximum. */
    uint64_t per = 1;
    while (per * total < ring_min)
        per *= 2;
    while (per > 1 && per * total > ring_max)
        per /= 2;
    /* Weights so large that one point each is over the maximum: points in
     * proportion to weight (at least one each), as Envoy's ring does. */
    bool scaled = per * total > ring_max;
    uint64_t points = 0;
    for (uint32_t i = 0; i < eps.count; i++)
        points += ring_points(endpoint_at(c, eps, i).weight, per, total, ring_max, scaled);
    sl_snap_lb_entry *ring = malloc(points * sizeof(*ring));
    if (!ring)
        abort(); /* compiling: nothing else to do */
    uint32_t n = 0;
    for (uint32_t i = 0; i < eps.count; i++) {
        sl_snap_endpoint e = endpoint_at(c, eps, i);
        uint64_t k = ring_points(e.weight, per, total, ring_max, scaled);
        for (uint64_t j = 0; j < k; j++)
            ring[n++] = (sl_snap_lb_entry){(uint32_t)(endpoint_hash(c, &e, "_", (uint32_t)j) >> 32), i};
    }
    qsort(ring, n, sizeof(*ring), by_point);
    add_entries(c, backend, ring, n);
    free(ring);
}

static uint32_t table_size(uint32_t endpoints)
{
    static const uint32_t primes[] = {251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521};
    uint64_t want = (uint64_t)endpoints * 400;
    for (size_t i = 0; i < sizeof(primes) / sizeof(primes[0]); i++)
        if (primes[i] >= want)
            return primes[i];
    return 65521;
}

void sl_compile_maglev(sl_compile_ctx *c, uint32_t backend)
{
    sl_snap_range eps = ((const sl_snap_backend *)sl_sb_at(&c->b, SL_SNAP_BACKENDS, backend))->endpoints;
    if (eps.count == 0)
        return;
    uint32_t m = table_size(eps.count), n = eps.count;
    sl_snap_lb_entry *table = malloc(m * sizeof(*table));
    uint64_t *offset = malloc(n * sizeof(*offset)), *skip = malloc(n * sizeof(*skip)), *next = calloc(n, sizeof(*next));
    double *credit = calloc(n, sizeof(*credit));
    if (!table || !offset || !skip || !next || !credit)
        abort();
    uint32_t max_weight = 1;
    for (uint32_t i = 0; i < n; i++) {
        sl_snap_endpoint e = endpoint_at(c, eps, i);
        offset[i] = endpoint_hash(c, &e, "#offset", 0) % m;
        skip[i] = endpoint_hash(c, &e, "#skip", 0) % (m - 1) + 1;
        if (e.weight > max_weight)
            max_weight = e.weight;
    }
    for (uint32_t k = 0; k < m; k++)
        table[k] = (sl_snap_lb_entry){0, UINT32_MAX};
    uint32_t filled = 0;
    while (filled < m) {
        for (uint32_t i = 0; i < n && filled < m; i++) {
            /* A lighter endpoint takes a turn only every few rounds. */
            credit[i] += (double)endpoint_at(c, eps, i).weight / max_weight;
            if (credit[i] < 1.0)
                continue;
            credit[i] -= 1.0;
            uint32_t cell = (uint32_t)((offset[i] + next[i] * skip[i]) % m);
            while (table[cell].endpoint != UINT32_MAX) {
                next[i]++;
                cell = (uint32_t)((offset[i] + next[i] * skip[i]) % m);
            }
            table[cell] = (sl_snap_lb_entry){cell, i};
            next[i]++;
            filled++;
        }
    }
    add_entries(c, backend, table, m);
    free(table);
    free(offset);
    free(skip);
    free(next);
    free(credit);
}

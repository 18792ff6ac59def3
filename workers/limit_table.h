/* A table of per-key counters in a shared-memory zone (common/zones.h), shared
 * by the limit kinds: rateLimit's token buckets (policy_rate_limit.c) and
 * aiTokenLimit's token budgets (policy_ai_token_limit.c).
 *
 * A slot is two atomic words: the key (a seeded hash with the low bit set; 0:
 * free) and the kind's state, whose low 32 bits must be the time of its last
 * update (ms since the table's epoch): the least recently used slot of a full
 * neighbourhood (8 slots) is evicted for a new key (counted). Every update is a
 * compare-and-swap: no lock a dying worker could leave held. */
#ifndef SL_LIMIT_TABLE_H
#define SL_LIMIT_TABLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"

#define SL_LIMIT_CAS_TRIES 16

typedef struct sl_limit_slot {
    _Atomic uint64_t key;
    _Atomic uint64_t state; /* the kind's; low 32 bits: last update, ms since epoch_ms */
} sl_limit_slot;

typedef struct sl_limit_table {
    uint64_t nslots;
    uint64_t epoch_ms; /* CLOCK_MONOTONIC, common to every process */
    _Atomic uint64_t evictions;
    uint64_t reserved[5];
    sl_limit_slot slots[];
} sl_limit_table;

/* The zone's size for --rate-limit-entries slots. */
size_t sl_limit_table_size(void);
/* zone_init of a sl_zone_kind: a new table; the slots of a previous one
 * (another size) are carried over. */
void sl_limit_table_init(void *zone, size_t size, const void *old, size_t old_size);
/* Now, in the table's clock (wraps after 49 days: states compare by difference). */
uint32_t sl_limit_now(const sl_limit_table *t);
/* FNV-1a over data, from h (seed it with sl_limit_seed). */
uint64_t sl_limit_hash(uint64_t h, const void *data, size_t len);
/* The start of a key's hash: the arena's random seed and the policy's name. */
uint64_t sl_limit_seed(const char *policy_name, size_t len);
/* The slot of key in its neighbourhood, claimed with initial_state (free or
 * least recently used) when it is not there; NULL when others kept changing it. */
sl_limit_slot *sl_limit_find(sl_limit_table *t, uint64_t key, uint64_t initial_state);

#endif

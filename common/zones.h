/* Named shared-memory zones: mutable state that must outlive snapshots (rate
 * limit buckets today; token budgets, endpoint health, session keys later).
 *
 * One arena, mapped by the master at startup before anything forks (so every
 * worker has it at the same address), holds a directory of zones and their
 * memory. Only the master creates and frees zones (while compiling a
 * snapshot); a snapshot names a zone by its directory index, and workers read
 * and write its contents with atomics. The arena is reserved, not committed:
 * pages cost memory only once touched.
 *
 * A zone is created with its kind's init(zone, old): when a zone of that name
 * existed with another size (its table was resized), init gets the old
 * contents to carry over, as nginx's shared zones keep their state across
 * reloads. A freed zone's memory is reused only after --drain-timeout plus ten
 * seconds, when no worker can still run a snapshot that names it. */
#ifndef SL_ZONES_H
#define SL_ZONES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_ZONES_MAX 256

typedef struct sl_zone_kind {
    const char *name;
    /* Prepares a new zone of size bytes (zeroed); old/old_size: the previous
     * zone of the same name, or NULL. */
    void (*init)(void *zone, size_t size, const void *old, size_t old_size);
} sl_zone_kind;

typedef struct sl_zone_entry {
    char name[120];
    _Atomic uint32_t live;  /* 1: in use; workers check before touching it */
    uint32_t reserved;
    uint64_t off, size;     /* within the arena */
    uint64_t freed_ms;      /* when it was freed (reuse waits) */
} sl_zone_entry;

typedef struct sl_zones {
    uint64_t size;      /* the whole arena */
    uint64_t used;      /* bump pointer (master) */
    uint64_t hash_seed; /* random, for keys hashed into zones */
    sl_zone_entry zones[SL_ZONES_MAX];
} sl_zones;

/* The arena (NULL when none was created: unit tests, tools). */
extern sl_zones *sl_zones_arena;

/* Master, before forking: reserves an arena of `bytes`. False when it cannot. */
bool sl_zones_create(size_t bytes);

/* Master: the index of live zone `name` of `size` bytes, created (and
 * initialised) if needed; a live zone of another size is replaced by a new one
 * initialised from it. -1 when the arena is full or absent (logged). */
int sl_zone_ensure(const char *name, size_t size, const sl_zone_kind *kind);

/* Master: frees every live zone whose name starts with prefix and that is not
 * in keep (indexes, nkeep of them). */
void sl_zones_release_others(const char *prefix, const int *keep, int nkeep);

/* Master, around a publish: a compilation plans which zones of a prefix it
 * keeps (the others are to be freed), and the plan is carried out only once
 * its snapshot is published: a snapshot that fails to publish leaves the one
 * in force, and the zones it names, as they were. */
void sl_zones_plan_release(const char *prefix, const int *keep, int nkeep);
void sl_zones_commit_release(void);
void sl_zones_cancel_release(void);

/* Worker: the memory of live zone index with at least min_size bytes, NULL when
 * there is no such zone. */
void *sl_zone_get(uint32_t index, size_t min_size);

#endif

/* Master: stable indexes for keys, compile after compile. A key keeps its
 * index from one compile to the next, so state kept by index (endpoint health,
 * traffic series) survives configuration changes. An index no compile asked
 * for is released once its snapshot is published, and handed out again only
 * after --drain-timeout plus ten seconds, when no worker can still run a
 * snapshot that names it. Main thread only, except sl_slot_pool_key (below). */
#ifndef SL_SLOT_POOL_H
#define SL_SLOT_POOL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sl_slot_pool {
    const char *what;      /* for the log: "endpoint slots (--endpoint-slots)" */
    const char *when_full; /* ...and what a full pool means */
    uint32_t first, count; /* indexes handed out: first .. count-1 */
    /* Called as index is handed out to a key (its state starts afresh). */
    void (*fresh)(uint32_t index, uint32_t tag);
    json_t *index_of;  /* key -> index */
    char **key_of;     /* per index: its key while handed out (NULL: free); under `lock` */
    pthread_mutex_t lock;
    uint64_t *stamp;   /* per index: the compile that last asked for it (0: free) */
    uint64_t *freed_ms;
    uint32_t *tags;    /* per index: how many times it was handed out */
    _Atomic uint32_t unused; /* indexes from here were never handed out (read by any thread) */
    uint64_t compile_no;
    bool full_logged;
    json_t *planned;   /* keys to release on commit */
} sl_slot_pool;

/* Makes the pool's tables (false when memory is short). */
bool sl_slot_pool_init(sl_slot_pool *p, const char *what, const char *when_full, uint32_t first, uint32_t count,
                       void (*fresh)(uint32_t index, uint32_t tag));

/* Around one compile. */
void sl_slot_pool_begin(sl_slot_pool *p);
void sl_slot_pool_end(sl_slot_pool *p);

/* The index of key, or SL_SNAP_NONE when the pool is full (logged once per compile). */
uint32_t sl_slot_pool_take(sl_slot_pool *p, const char *key);

/* After sl_slot_pool_end: the snapshot was published (the indexes it dropped
 * are released) or not (they stay taken). */
void sl_slot_pool_commit(sl_slot_pool *p);
void sl_slot_pool_cancel(sl_slot_pool *p);

/* Any thread: copies the key of index into out (false: not handed out). */
bool sl_slot_pool_key(sl_slot_pool *p, uint32_t index, char *out, size_t outlen);

#endif

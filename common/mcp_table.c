/* The MCP gateway's shared session table: see mcp_table.h. Each entry has a
 * spinlock of its own: an entry is held for a copy of at most 232 bytes. */
#include <openssl/sha.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mcp_table.h"
#include "common/zones.h"

#define PROBE 8 /* entries a key may sit in, from its hash on */

typedef struct mcp_entry {
    _Atomic uint32_t lock;
    uint32_t len;
    uint64_t key;        /* 0: free */
    uint64_t stamp;      /* when written (s) */
    uint64_t keep_until; /* not evicted before then (s; an ended session's mark), 0: evictable */
    char value[SL_MCP_TABLE_VALUE];
} mcp_entry;

typedef struct mcp_table {
    uint32_t slots;
    uint32_t reserved;
    mcp_entry e[];
} mcp_table;

static mcp_table *table;

static void init_table(void *zone, size_t size, const void *old, size_t old_size)
{
    (void)old;
    (void)old_size;
    mcp_table *t = zone;
    t->slots = (uint32_t)((size - offsetof(mcp_table, e)) / sizeof(mcp_entry));
}

bool sl_mcp_table_create(uint32_t slots)
{
    static const sl_zone_kind kind = {"mcp-sessions", init_table};
    size_t size = offsetof(mcp_table, e) + (size_t)slots * sizeof(mcp_entry);
    int index = sl_zone_ensure("mcp-sessions", size, &kind);
    table = index >= 0 ? sl_zone_get((uint32_t)index, size) : NULL;
    if (!table)
        sl_log_error("mcp", "no shared memory for the MCP session table: a target that loses its session is "
                            "initialised again at each request of it");
    return table != NULL;
}

uint64_t sl_mcp_table_key(const char *session, const char *target)
{
    /* Keyed with the arena's random seed: clients, who know their session ids, cannot aim keys at entries. */
    uint64_t seed = sl_zones_arena ? sl_zones_arena->hash_seed : 0;
    size_t sl = strlen(session), tl = strlen(target), n = sizeof(seed) + sl + 1 + tl;
    unsigned char md[SHA256_DIGEST_LENGTH], small[600];
    unsigned char *buf = n <= sizeof(small) ? small : malloc(n);
    if (!buf)
        return 1;
    memcpy(buf, &seed, sizeof(seed));
    memcpy(buf + sizeof(seed), session, sl + 1); /* the NUL keeps ("ab", "c") apart from ("a", "bc") */
    memcpy(buf + sizeof(seed) + sl + 1, target, tl);
    SHA256(buf, n, md);
    if (buf != small)
        free(buf);
    uint64_t k;
    memcpy(&k, md, sizeof(k));
    return k ? k : 1;
}

/* Takes an entry's lock; false when it stays held (a worker that died holding
 * it: the entry is then left alone, never waited on without end). */
static bool lock(mcp_entry *e)
{
    for (unsigned i = 0; i < 200000; i++) {
        if (!atomic_exchange_explicit(&e->lock, 1, memory_order_acquire))
            return true;
        if (i % 64 == 63)
            sched_yield();
    }
    return false;
}

static void unlock(mcp_entry *e) { atomic_store_explicit(&e->lock, 0, memory_order_release); }

bool sl_mcp_table_get(uint64_t key, char *out, size_t cap)
{
    if (!table || !table->slots)
        return false;
    for (uint32_t i = 0; i < PROBE; i++) {
        mcp_entry *e = &table->e[(key + i) % table->slots];
        if (!lock(e))
            continue;
        bool hit = e->key == key && e->len < cap;
        if (hit) {
            memcpy(out, e->value, e->len);
            out[e->len] = '\0';
        }
        unlock(e);
        if (hit)
            return true;
    }
    return false;
}

bool sl_mcp_table_put(uint64_t key, const char *value, size_t len, uint64_t now, uint64_t keep_until)
{
    if (!table || !table->slots || len > SL_MCP_TABLE_VALUE)
        return false;
    for (int tries = 0; tries < 4; tries++) {
        /* The key's own entry, else a free one, else the oldest evictable one of the neighbourhood. */
        mcp_entry *pick = NULL;
        uint64_t seen_key = 0, seen_stamp = 0, oldest = UINT64_MAX;
        for (uint32_t i = 0; i < PROBE; i++) {
            mcp_entry *e = &table->e[(key + i) % table->slots];
            if (!lock(e))
                continue;
            uint64_t k = e->key, stamp = e->stamp, keep = e->keep_until;
            unlock(e);
            if (k == key) {
                pick = e, seen_key = k, seen_stamp = stamp;
                break;
            }
            if (k == 0 && oldest > 0)
                pick = e, seen_key = 0, seen_stamp = stamp, oldest = 0;
            else if (k && keep <= now && stamp < oldest)
                pick = e, seen_key = k, seen_stamp = stamp, oldest = stamp;
        }
        if (!pick || !lock(pick))
            return false; /* every entry there is kept (ended sessions): the caller says so */
        if (pick->key != seen_key || pick->stamp != seen_stamp) {
            unlock(pick); /* another worker took it meanwhile: choose again */
            continue;
        }
        pick->key = key;
        pick->stamp = now;
        pick->keep_until = keep_until;
        pick->len = (uint32_t)len;
        memcpy(pick->value, value, len);
        unlock(pick);
        return true;
    }
    return false;
}

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
    uint64_t key;   /* 0: free */
    uint64_t stamp; /* when written (s) */
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
    size_t sl = strlen(session), tl = strlen(target);
    unsigned char md[SHA256_DIGEST_LENGTH], small[512];
    unsigned char *buf = sl + tl + 1 <= sizeof(small) ? small : malloc(sl + tl + 1);
    if (!buf)
        return 1;
    memcpy(buf, session, sl + 1); /* the NUL keeps ("ab", "c") apart from ("a", "bc") */
    memcpy(buf + sl + 1, target, tl);
    SHA256(buf, sl + tl + 1, md);
    if (buf != small)
        free(buf);
    uint64_t k;
    memcpy(&k, md, sizeof(k));
    return k ? k : 1;
}

static void lock(mcp_entry *e)
{
    while (atomic_exchange_explicit(&e->lock, 1, memory_order_acquire))
        sched_yield();
}

static void unlock(mcp_entry *e) { atomic_store_explicit(&e->lock, 0, memory_order_release); }

bool sl_mcp_table_get(uint64_t key, char *out, size_t cap)
{
    if (!table || !table->slots)
        return false;
    for (uint32_t i = 0; i < PROBE; i++) {
        mcp_entry *e = &table->e[(key + i) % table->slots];
        lock(e);
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

bool sl_mcp_table_put(uint64_t key, const char *value, size_t len, uint64_t now)
{
    if (!table || !table->slots || len > SL_MCP_TABLE_VALUE)
        return false;
    /* The key's own entry, else a free one, else the oldest of the neighbourhood. */
    mcp_entry *pick = NULL;
    uint64_t oldest = UINT64_MAX;
    for (uint32_t i = 0; i < PROBE; i++) {
        mcp_entry *e = &table->e[(key + i) % table->slots];
        lock(e);
        uint64_t k = e->key, stamp = e->stamp;
        unlock(e);
        if (k == key) {
            pick = e;
            break;
        }
        if (k == 0 && oldest > 0) {
            pick = e;
            oldest = 0;
        } else if (stamp < oldest) {
            pick = e;
            oldest = stamp;
        }
    }
    lock(pick);
    pick->key = key;
    pick->stamp = now;
    pick->len = (uint32_t)len;
    memcpy(pick->value, value, len);
    unlock(pick);
    return true;
}

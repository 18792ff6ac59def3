#include "common/zones.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include "common/log.h"
#include "common/settings.h"

#define ALIGN 64 /* a cache line: zones never share one */
/* After this long past the drain timeout, no worker runs a snapshot that
 * names a freed zone (workers switch within their 100 ms tick; draining ones
 * exit by the drain timeout). */
#define REUSE_AFTER_DRAIN_MS 10000

sl_zones *sl_zones_arena;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool sl_zones_create(size_t bytes)
{
    void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) {
        sl_log_error("zones", "cannot reserve %zu bytes of shared memory: %s", bytes, strerror(errno));
        return false;
    }
    sl_zones *z = map;
    z->size = bytes;
    z->used = (sizeof(sl_zones) + ALIGN - 1) / ALIGN * ALIGN;
    if (getrandom(&z->hash_seed, sizeof(z->hash_seed), 0) != (ssize_t)sizeof(z->hash_seed))
        z->hash_seed = (uint64_t)mono_ms() * 0x9e3779b97f4a7c15ull;
    sl_zones_arena = z;
    return true;
}

static int find_live(const char *name)
{
    for (int i = 0; i < SL_ZONES_MAX; i++)
        if (atomic_load(&sl_zones_arena->zones[i].live) && strcmp(sl_zones_arena->zones[i].name, name) == 0)
            return i;
    return -1;
}

/* A directory entry and memory for size bytes: a freed entry of exactly that
 * size whose wait is over, else new memory from the end of the arena. */
static int allocate(size_t size)
{
    sl_zones *z = sl_zones_arena;
    uint64_t now = mono_ms();
    uint64_t wait = (uint64_t)sl_setting(SL_SET_DRAIN_TIMEOUT_MS) + REUSE_AFTER_DRAIN_MS;
    int unused = -1;
    for (int i = 0; i < SL_ZONES_MAX; i++) {
        sl_zone_entry *e = &z->zones[i];
        if (atomic_load(&e->live))
            continue;
        if (e->size == size && now - e->freed_ms >= wait)
            return i;
        if (e->size == 0 && unused < 0)
            unused = i;
    }
    size_t rounded = (size + ALIGN - 1) / ALIGN * ALIGN;
    if (unused < 0 || z->used + rounded > z->size)
        return -1;
    z->zones[unused].off = z->used;
    z->zones[unused].size = size;
    z->used += rounded;
    return unused;
}

int sl_zone_ensure(const char *name, size_t size, const sl_zone_kind *kind)
{
    if (!sl_zones_arena)
        return -1;
    int old = find_live(name);
    if (old >= 0 && sl_zones_arena->zones[old].size == size)
        return old;
    int idx = allocate(size);
    if (idx < 0) {
        sl_log_error("zones", "no room for zone %s (%zu bytes; --shared-zone-bytes is %llu, %llu used)", name, size,
                     (unsigned long long)sl_zones_arena->size, (unsigned long long)sl_zones_arena->used);
        return -1;
    }
    sl_zone_entry *e = &sl_zones_arena->zones[idx];
    uint8_t *mem = (uint8_t *)sl_zones_arena + e->off;
    memset(mem, 0, size);
    const sl_zone_entry *o = old >= 0 ? &sl_zones_arena->zones[old] : NULL;
    kind->init(mem, size, o ? (const uint8_t *)sl_zones_arena + o->off : NULL, o ? o->size : 0);
    snprintf(e->name, sizeof(e->name), "%s", name);
    atomic_store(&e->live, 1);
    if (old >= 0) {
        atomic_store(&sl_zones_arena->zones[old].live, 0);
        sl_zones_arena->zones[old].freed_ms = mono_ms();
        sl_log_info("zones", "zone %s resized to %zu bytes, its state carried over", name, size);
    }
    return idx;
}

void sl_zones_release_others(const char *prefix, const int *keep, int nkeep)
{
    if (!sl_zones_arena)
        return;
    size_t n = strlen(prefix);
    for (int i = 0; i < SL_ZONES_MAX; i++) {
        sl_zone_entry *e = &sl_zones_arena->zones[i];
        if (!atomic_load(&e->live) || strncmp(e->name, prefix, n) != 0)
            continue;
        bool kept = false;
        for (int k = 0; k < nkeep && !kept; k++)
            kept = keep[k] == i;
        if (kept)
            continue;
        atomic_store(&e->live, 0);
        e->freed_ms = mono_ms();
        sl_log_info("zones", "zone %s freed", e->name);
    }
}

/* The plan of the compilation in progress (master, main thread only). */
static struct {
    char prefix[8][64];
    int keep[8][SL_ZONES_MAX];
    int nkeep[8];
    int n;
} plan;

void sl_zones_plan_release(const char *prefix, const int *keep, int nkeep)
{
    if (plan.n == 8 || nkeep > SL_ZONES_MAX)
        return; /* more zone kinds than planned for: those zones stay until restart */
    snprintf(plan.prefix[plan.n], sizeof(plan.prefix[0]), "%s", prefix);
    if (nkeep > 0)
        memcpy(plan.keep[plan.n], keep, sizeof(int) * (size_t)nkeep);
    plan.nkeep[plan.n] = nkeep;
    plan.n++;
}

void sl_zones_commit_release(void)
{
    for (int i = 0; i < plan.n; i++)
        sl_zones_release_others(plan.prefix[i], plan.keep[i], plan.nkeep[i]);
    plan.n = 0;
}

void sl_zones_cancel_release(void)
{
    plan.n = 0;
}

void *sl_zone_get(uint32_t index, size_t min_size)
{
    if (!sl_zones_arena || index >= SL_ZONES_MAX)
        return NULL;
    const sl_zone_entry *e = &sl_zones_arena->zones[index];
    if (!atomic_load(&e->live) || e->size < min_size)
        return NULL;
    return (uint8_t *)sl_zones_arena + e->off;
}

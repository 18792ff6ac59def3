/* The shared table of the limit kinds (limit_table.h). */
#include <time.h>

#include "common/settings.h"
#include "common/zones.h"
#include "workers/limit_table.h"

#define PROBE 8

size_t sl_limit_table_size(void)
{
    return sizeof(sl_limit_table) + (size_t)sl_setting(SL_SET_RATE_LIMIT_ENTRIES) * sizeof(sl_limit_slot);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint32_t sl_limit_now(const sl_limit_table *t) { return (uint32_t)(mono_ms() - t->epoch_ms); }

void sl_limit_table_init(void *zone, size_t size, const void *old, size_t old_size)
{
    sl_limit_table *t = zone;
    t->nslots = (size - sizeof(sl_limit_table)) / sizeof(sl_limit_slot);
    t->epoch_ms = mono_ms();
    const sl_limit_table *o = old;
    if (!o || old_size < sizeof(sl_limit_table) ||
        o->nslots > (old_size - sizeof(sl_limit_table)) / sizeof(sl_limit_slot))
        return;
    t->epoch_ms = o->epoch_ms; /* the states' times stay meaningful */
    for (uint64_t i = 0; i < o->nslots; i++) {
        uint64_t key = atomic_load(&o->slots[i].key);
        if (!key)
            continue;
        for (int p = 0; p < PROBE; p++) {
            sl_limit_slot *s = &t->slots[(key + (uint64_t)p) % t->nslots];
            if (!atomic_load(&s->key)) {
                atomic_store(&s->key, key);
                atomic_store(&s->state, atomic_load(&o->slots[i].state));
                break;
            }
        }
    }
}

uint64_t sl_limit_hash(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull; /* FNV-1a, seeded per arena */
    }
    return h;
}

uint64_t sl_limit_seed(const char *policy_name, size_t len)
{
    return sl_limit_hash(0xcbf29ce484222325ull ^ sl_zones_arena->hash_seed, policy_name, len + 1);
}

sl_limit_slot *sl_limit_find(sl_limit_table *t, uint64_t key, uint64_t initial_state)
{
    for (int tries = 0; tries < SL_LIMIT_CAS_TRIES; tries++) {
        sl_limit_slot *victim = NULL;
        uint32_t oldest = 0;
        uint32_t now32 = sl_limit_now(t);
        for (int p = 0; p < PROBE; p++) {
            sl_limit_slot *s = &t->slots[(key + (uint64_t)p) % t->nslots];
            uint64_t k = atomic_load(&s->key);
            if (k == key)
                return s;
            uint32_t age = k ? now32 - (uint32_t)atomic_load(&s->state) : UINT32_MAX;
            if (!victim || age > oldest) {
                victim = s;
                oldest = age;
            }
        }
        uint64_t was = atomic_load(&victim->key);
        if (!atomic_compare_exchange_strong(&victim->key, &was, key))
            continue;
        atomic_store(&victim->state, initial_state);
        if (was)
            atomic_fetch_add(&t->evictions, 1);
        return victim;
    }
    return NULL;
}

/* The shared table of traffic series; see series.h. */
#include "common/series.h"

#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "common/control.h"
#include "common/log.h"

sl_series_table *sl_series_tab;
_Atomic uint32_t *sl_series_tags;
sl_histogram sl_compile_latency, sl_store_write_latency;

uint64_t sl_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

bool sl_series_create(uint32_t per_slot)
{
    size_t size = offsetof(sl_series_table, series) + (size_t)SL_MAX_WORKERS * per_slot * sizeof(sl_series);
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) {
        sl_log_error("metrics", "cannot reserve %zu bytes for %u traffic series per worker (--metrics-series): "
                     "routes, listeners and backends have no series", size, per_slot);
        return false;
    }
    void *tags = mmap(NULL, (size_t)per_slot * sizeof(uint32_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0);
    if (tags == MAP_FAILED) {
        munmap(map, size);
        sl_log_error("metrics", "cannot map the tags of %u traffic series: routes, listeners and backends have "
                     "no series", per_slot);
        return false;
    }
    sl_series_tags = tags;
    sl_series_tab = map;
    sl_series_tab->per_slot = per_slot;
    sl_series_tab->nslots = SL_MAX_WORKERS;
    return true;
}

void sl_series_slot_used(uint32_t slot)
{
    if (!sl_series_tab || slot >= sl_series_tab->nslots)
        return;
    uint32_t used = atomic_load(&sl_series_tab->slots_used);
    while (slot + 1 > used && !atomic_compare_exchange_weak(&sl_series_tab->slots_used, &used, slot + 1))
        ;
}

void sl_series_sum_index(uint32_t index, sl_series *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t used = sl_series_tab ? atomic_load(&sl_series_tab->slots_used) : 0;
    _Atomic uint64_t *to = (_Atomic uint64_t *)out;
    for (uint32_t slot = 0; slot < used; slot++) {
        const _Atomic uint64_t *from = (const _Atomic uint64_t *)sl_series_at(slot, index);
        for (size_t i = 0; from && i < sizeof(*out) / sizeof(uint64_t); i++)
            atomic_store_explicit(&to[i], atomic_load_explicit(&to[i], memory_order_relaxed) +
                                              atomic_load_explicit(&from[i], memory_order_relaxed),
                                  memory_order_relaxed);
    }
}

bool sl_series_sum(uint32_t packed, sl_series *out)
{
    memset(out, 0, sizeof(*out));
    if (!sl_series_named(0, packed))
        return false;
    sl_series_sum_index(packed & ((1u << SL_SERIES_INDEX_BITS) - 1), out);
    return true;
}

void sl_series_reset(uint32_t index, uint32_t tag)
{
    if (sl_series_tags && sl_series_tab && index < sl_series_tab->per_slot)
        atomic_store(&sl_series_tags[index], tag); /* first: old references stop counting */
    uint32_t used = sl_series_tab ? atomic_load(&sl_series_tab->slots_used) : 0;
    for (uint32_t slot = 0; slot < used; slot++) {
        sl_series *s = sl_series_at(slot, index);
        if (s)
            memset(s, 0, sizeof(*s)); /* no worker writes it: no snapshot names it any more */
    }
}

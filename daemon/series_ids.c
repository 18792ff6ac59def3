/* Series indexes of routes, listeners and backends; see series_ids.h. */
#include "daemon/series_ids.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/series.h"
#include "common/snapshot.h"
#include "daemon/slot_pool.h"

static sl_slot_pool pool;
static _Atomic bool made;

static void fresh(uint32_t index, uint32_t tag)
{
    sl_series_reset(index, tag); /* a new object's series starts at zero, with a new tag */
}

static bool ready(void)
{
    if (!sl_series_tab)
        return false;
    if (!made && !sl_slot_pool_init(&pool, "traffic series (--metrics-series)",
                                    "further route rules, listeners and backends count into the overflow series "
                                    "of their kind",
                                    SL_SERIES_FIRST, sl_series_tab->per_slot, fresh))
        abort(); /* at start-up: nothing runs yet */
    made = true;
    return true;
}

void sl_series_ids_begin(void)
{
    if (ready())
        sl_slot_pool_begin(&pool);
}

void sl_series_ids_end(void)
{
    if (made)
        sl_slot_pool_end(&pool);
}

void sl_series_ids_commit(void)
{
    if (made)
        sl_slot_pool_commit(&pool);
}

void sl_series_ids_cancel(void)
{
    if (made)
        sl_slot_pool_cancel(&pool);
}

/* The packed reference (sl_series_pack) of key's series: its own, or the
 * overflow series `other` when the table is full. The key is built whole
 * (names are up to 253 characters: no fixed buffer may cut two apart). */
static uint32_t take(uint32_t other, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static uint32_t take(uint32_t other, const char *fmt, ...)
{
    if (!ready())
        return SL_SNAP_NONE;
    va_list ap;
    va_start(ap, fmt);
    char *key = NULL;
    int n = vasprintf(&key, fmt, ap);
    va_end(ap);
    if (n < 0)
        return other;
    uint32_t index = sl_slot_pool_take(&pool, key);
    free(key);
    return index == SL_SNAP_NONE ? other : sl_series_pack(index, pool.tags[index]);
}

uint32_t sl_series_route(const char *kind, const char *ns, const char *name, unsigned rule)
{
    return take(SL_SERIES_OTHER_ROUTE, "route\t%s\t%s\t%s\t%u", kind, ns, name, rule);
}

uint32_t sl_series_listener(const char *ns, const char *gateway, const char *listener)
{
    return take(SL_SERIES_OTHER_LISTENER, "listener\t%s\t%s\t%s", ns, gateway, listener);
}

uint32_t sl_series_backend(const char *kind, const char *ns, const char *name, long long port)
{
    return take(SL_SERIES_OTHER_BACKEND, "backend\t%s\t%s\t%s\t%lld", kind, ns, name, port);
}

uint32_t sl_series_ids_end_index(void) { return made ? atomic_load(&pool.unused) : SL_SERIES_FIRST; }

bool sl_series_key(uint32_t index, char *out, size_t outlen)
{
    return made && sl_slot_pool_key(&pool, index, out, outlen);
}

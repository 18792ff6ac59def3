/* Series indexes of routes, listeners and backends; see series_ids.h. */
#include "daemon/series_ids.h"

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
    (void)tag;
    sl_series_reset(index); /* a new object's series starts at zero */
}

static bool ready(void)
{
    if (!sl_series_tab)
        return false;
    if (!made && !sl_slot_pool_init(&pool, "traffic series (--metrics-series): further routes, listeners and "
                                    "backends count into the overflow series of their kind",
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

static uint32_t take(const char *key, uint32_t other)
{
    if (!ready())
        return SL_SNAP_NONE;
    uint32_t index = sl_slot_pool_take(&pool, key);
    return index == SL_SNAP_NONE ? other : index;
}

uint32_t sl_series_route(const char *ns, const char *name, unsigned rule)
{
    char key[400];
    snprintf(key, sizeof(key), "route\t%s\t%s\t%u", ns, name, rule);
    return take(key, SL_SERIES_OTHER_ROUTE);
}

uint32_t sl_series_listener(const char *ns, const char *gateway, const char *listener)
{
    char key[400];
    snprintf(key, sizeof(key), "listener\t%s\t%s\t%s", ns, gateway, listener);
    return take(key, SL_SERIES_OTHER_LISTENER);
}

uint32_t sl_series_backend(const char *kind, const char *ns, const char *name, long long port)
{
    char key[400];
    snprintf(key, sizeof(key), "backend\t%s\t%s\t%s\t%lld", kind, ns, name, port);
    return take(key, SL_SERIES_OTHER_BACKEND);
}

uint32_t sl_series_ids_end_index(void) { return made ? atomic_load(&pool.unused) : SL_SERIES_FIRST; }

bool sl_series_key(uint32_t index, char *out, size_t outlen)
{
    return made && sl_slot_pool_key(&pool, index, out, outlen);
}

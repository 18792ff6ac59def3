/* The shared table of endpoint state; see endpoint_state.h. */
#include "common/endpoint_state.h"

#include <stddef.h>

#include "common/log.h"
#include "common/zones.h"

sl_ep_table *sl_ep_states;

static void init_table(void *zone, size_t size, const void *old, size_t old_size)
{
    (void)old;
    (void)old_size;
    sl_ep_table *t = zone;
    t->nslots = (uint32_t)((size - offsetof(sl_ep_table, slots)) / sizeof(sl_ep_state));
}

bool sl_ep_table_create(uint32_t slots)
{
    static const sl_zone_kind kind = {"endpoint-state", init_table};
    size_t size = offsetof(sl_ep_table, slots) + (size_t)slots * sizeof(sl_ep_state);
    int index = sl_zone_ensure("endpoint-state", size, &kind);
    sl_ep_states = index >= 0 ? sl_zone_get((uint32_t)index, size) : NULL;
    if (!sl_ep_states)
        sl_log_error("endpoints", "no shared memory for %u endpoint slots: health checks, ejections and "
                     "least-request counts are off", slots);
    return sl_ep_states != NULL;
}

/* Slots of the shared endpoint table; see endpoint_slots.h. */
#include "daemon/endpoint_slots.h"

#include <stdlib.h>
#include <string.h>

#include "common/endpoint_state.h"
#include "common/snapshot.h"
#include "daemon/slot_pool.h"

static sl_slot_pool pool;
static bool made;

/* A slot handed out anew starts from nothing learnt, usable from now. */
static void fresh(uint32_t slot, uint32_t tag)
{
    sl_ep_state *st = &sl_ep_states->slots[slot];
    memset(st, 0, sizeof(*st));
    atomic_store(&st->usable_since_ms, sl_ep_now_ms());
    atomic_store(&st->tag, tag);
}

static bool ready(void)
{
    if (!sl_ep_states)
        return false;
    if (!made && !sl_slot_pool_init(&pool, "endpoint slots (--endpoint-slots)",
                                    "further endpoints get no health checks, ejections or least-request counts", 0,
                                    sl_ep_states->nslots, fresh))
        abort(); /* at start-up: nothing runs yet */
    made = true;
    return true;
}

void sl_ep_slots_begin(void)
{
    if (ready())
        sl_slot_pool_begin(&pool);
}

uint32_t sl_ep_slot_for(const char *key) { return ready() ? sl_slot_pool_take(&pool, key) : SL_SNAP_NONE; }

void sl_ep_slots_end(void)
{
    if (made)
        sl_slot_pool_end(&pool);
}

void sl_ep_slots_commit(void)
{
    if (made)
        sl_slot_pool_commit(&pool);
}

void sl_ep_slots_cancel(void)
{
    if (made)
        sl_slot_pool_cancel(&pool);
}

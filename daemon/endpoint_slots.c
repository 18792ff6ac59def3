/* Slots of the shared endpoint table; see endpoint_slots.h. */
#include "daemon/endpoint_slots.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/endpoint_state.h"
#include "common/log.h"
#include "common/settings.h"
#include "common/snapshot.h"

/* Past the drain timeout, how long before a released slot is handed out again. */
#define REUSE_AFTER_DRAIN_MS 10000

static json_t *slot_of;      /* key -> slot */
static uint64_t *stamp;      /* per slot: the compile that last asked for it (0: free) */
static uint64_t *freed_ms;   /* per slot: when it was released */
static uint32_t *tags;       /* per slot: how many times it was handed out */
static uint32_t fresh;       /* slots below this were handed out at least once */
static uint64_t compile_no;
static bool full_logged;
static json_t *planned;      /* keys to release on commit */

static bool ready(void)
{
    if (!sl_ep_states)
        return false;
    if (!slot_of) {
        slot_of = json_object();
        stamp = calloc(sl_ep_states->nslots, sizeof(*stamp));
        freed_ms = calloc(sl_ep_states->nslots, sizeof(*freed_ms));
        tags = calloc(sl_ep_states->nslots, sizeof(*tags));
        if (!slot_of || !stamp || !freed_ms || !tags)
            abort(); /* at start-up: nothing runs yet */
    }
    return true;
}

void sl_ep_slots_begin(void)
{
    compile_no++;
    full_logged = false;
}

/* A slot nobody holds: a never used one, else a released one whose wait is over. */
static uint32_t take_free(void)
{
    if (fresh < sl_ep_states->nslots)
        return fresh++;
    uint64_t now = sl_ep_now_ms();
    uint64_t wait = (uint64_t)sl_setting(SL_SET_DRAIN_TIMEOUT_MS) + REUSE_AFTER_DRAIN_MS;
    for (uint32_t i = 0; i < sl_ep_states->nslots; i++)
        if (stamp[i] == 0 && now - freed_ms[i] >= wait)
            return i;
    return SL_SNAP_NONE;
}

uint32_t sl_ep_slot_for(const char *key)
{
    if (!ready())
        return SL_SNAP_NONE;
    json_t *known = json_object_get(slot_of, key);
    if (known) {
        uint32_t slot = (uint32_t)json_integer_value(known);
        stamp[slot] = compile_no;
        return slot;
    }
    uint32_t slot = take_free();
    if (slot == SL_SNAP_NONE) {
        if (!full_logged)
            sl_log_warn("endpoints", "all %u endpoint slots are taken (--endpoint-slots): further endpoints get "
                        "no health checks, ejections or least-request counts", sl_ep_states->nslots);
        full_logged = true;
        return SL_SNAP_NONE;
    }
    sl_ep_state *st = &sl_ep_states->slots[slot];
    memset(st, 0, sizeof(*st));
    atomic_store(&st->usable_since_ms, sl_ep_now_ms());
    atomic_store(&st->tag, ++tags[slot]);
    stamp[slot] = compile_no;
    json_object_set_new(slot_of, key, json_integer(slot));
    return slot;
}

void sl_ep_slots_end(void)
{
    if (!slot_of)
        return;
    json_decref(planned);
    planned = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(slot_of, key, v)
    {
        if (stamp[json_integer_value(v)] != compile_no)
            json_array_append_new(planned, json_string(key));
    }
}

void sl_ep_slots_commit(void)
{
    size_t i;
    json_t *k;
    uint64_t now = sl_ep_now_ms();
    json_array_foreach(planned, i, k)
    {
        json_t *v = json_object_get(slot_of, json_string_value(k));
        if (!v || stamp[json_integer_value(v)] == compile_no)
            continue; /* asked for again since */
        uint32_t slot = (uint32_t)json_integer_value(v);
        stamp[slot] = 0;
        freed_ms[slot] = now;
        json_object_del(slot_of, json_string_value(k));
    }
    json_decref(planned);
    planned = NULL;
}

void sl_ep_slots_cancel(void)
{
    json_decref(planned);
    planned = NULL;
}

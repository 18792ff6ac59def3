/* Stable indexes for keys; see slot_pool.h. */
#include "daemon/slot_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/endpoint_state.h"
#include "common/log.h"
#include "common/settings.h"
#include "common/snapshot.h"

/* Past the drain timeout, how long before a released index is handed out again. */
#define REUSE_AFTER_DRAIN_MS 10000

bool sl_slot_pool_init(sl_slot_pool *p, const char *what, const char *when_full, uint32_t first, uint32_t count,
                       void (*fresh)(uint32_t index, uint32_t tag))
{
    *p = (sl_slot_pool){.what = what, .when_full = when_full, .first = first, .count = count, .fresh = fresh,
                        .unused = first};
    pthread_mutex_init(&p->lock, NULL);
    p->index_of = json_object();
    p->key_of = calloc(count, sizeof(*p->key_of));
    p->stamp = calloc(count, sizeof(*p->stamp));
    p->freed_ms = calloc(count, sizeof(*p->freed_ms));
    p->tags = calloc(count, sizeof(*p->tags));
    return p->index_of && p->key_of && p->stamp && p->freed_ms && p->tags;
}

void sl_slot_pool_begin(sl_slot_pool *p)
{
    p->compile_no++;
    p->full_logged = false;
}

/* An index nobody holds: a never used one, else a released one whose wait is over. */
static uint32_t take_free(sl_slot_pool *p)
{
    if (p->unused < p->count)
        return p->unused++;
    uint64_t now = sl_ep_now_ms();
    uint64_t wait = (uint64_t)sl_setting(SL_SET_DRAIN_TIMEOUT_MS) + REUSE_AFTER_DRAIN_MS;
    for (uint32_t i = p->first; i < p->count; i++)
        if (p->stamp[i] == 0 && now - p->freed_ms[i] >= wait)
            return i;
    return SL_SNAP_NONE;
}

uint32_t sl_slot_pool_take(sl_slot_pool *p, const char *key)
{
    if (!p->index_of)
        return SL_SNAP_NONE;
    json_t *known = json_object_get(p->index_of, key);
    if (known) {
        uint32_t index = (uint32_t)json_integer_value(known);
        p->stamp[index] = p->compile_no;
        return index;
    }
    uint32_t index = take_free(p);
    char *copy = index == SL_SNAP_NONE ? NULL : strdup(key);
    if (!copy) {
        if (!p->full_logged)
            sl_log_warn("slots", "all %u %s are taken: %s", p->count - p->first, p->what, p->when_full);
        p->full_logged = true;
        return SL_SNAP_NONE;
    }
    p->fresh(index, ++p->tags[index]);
    p->stamp[index] = p->compile_no;
    json_object_set_new(p->index_of, key, json_integer(index));
    pthread_mutex_lock(&p->lock);
    free(p->key_of[index]);
    p->key_of[index] = copy;
    pthread_mutex_unlock(&p->lock);
    return index;
}

void sl_slot_pool_end(sl_slot_pool *p)
{
    if (!p->index_of)
        return;
    json_decref(p->planned);
    p->planned = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(p->index_of, key, v)
    {
        if (p->stamp[json_integer_value(v)] != p->compile_no)
            json_array_append_new(p->planned, json_string(key));
    }
}

void sl_slot_pool_commit(sl_slot_pool *p)
{
    size_t i;
    json_t *k;
    uint64_t now = sl_ep_now_ms();
    json_array_foreach(p->planned, i, k)
    {
        json_t *v = json_object_get(p->index_of, json_string_value(k));
        if (!v || p->stamp[json_integer_value(v)] == p->compile_no)
            continue; /* asked for again since */
        uint32_t index = (uint32_t)json_integer_value(v);
        p->stamp[index] = 0;
        p->freed_ms[index] = now;
        pthread_mutex_lock(&p->lock);
        free(p->key_of[index]);
        p->key_of[index] = NULL;
        pthread_mutex_unlock(&p->lock);
        json_object_del(p->index_of, json_string_value(k));
    }
    json_decref(p->planned);
    p->planned = NULL;
}

void sl_slot_pool_cancel(sl_slot_pool *p)
{
    json_decref(p->planned);
    p->planned = NULL;
}

bool sl_slot_pool_key(sl_slot_pool *p, uint32_t index, char *out, size_t outlen)
{
    if (index >= p->count)
        return false;
    pthread_mutex_lock(&p->lock);
    const char *key = p->key_of ? p->key_of[index] : NULL;
    if (key)
        snprintf(out, outlen, "%s", key);
    pthread_mutex_unlock(&p->lock);
    return key != NULL;
}

/* Liveness of compiled objects: see liveness.h. */
#include "daemon/liveness.h"

void sl_liveness_init(sl_liveness *l) { l->first = json_object(); }

void sl_liveness_free(sl_liveness *l)
{
    json_decref(l->first);
    l->first = NULL;
}

void sl_liveness_compiled(sl_liveness *l, const json_t *computed, uint64_t snapshot)
{
    json_t *next = json_object();
    const char *key;
    json_t *entry;
    json_object_foreach((json_t *)computed, key, entry)
    {
        json_int_t gen = json_integer_value(json_object_get(entry, "generation"));
        const json_t *was = json_object_get(l->first, key);
        /* The same generation as before keeps the snapshot it first ran in. */
        if (was && json_integer_value(json_array_get(was, 0)) == gen)
            json_object_set(next, key, (json_t *)was);
        else
            json_object_set_new(next, key, json_pack("[I, I]", gen, (json_int_t)snapshot));
    }
    json_decref(l->first);
    l->first = next;
}

uint64_t sl_liveness_needed(const sl_liveness *l, const char *key)
{
    const json_t *e = json_object_get(l->first, key);
    return e ? (uint64_t)json_integer_value(json_array_get(e, 1)) : 0;
}

/* Parsed objects kept between reads (see store_cache.h). */
#include "daemon/store_cache.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/objects.h"

struct sl_store_cache {
    json_t *kinds;  /* kind -> array of objects in (namespace, name) order */
    json_t *staged; /* [kind, ns, name, object or null] of the open transaction, in order */
};

sl_store_cache *sl_store_cache_new(void)
{
    sl_store_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->kinds = json_object();
    c->staged = json_array();
    if (!c->kinds || !c->staged) {
        sl_store_cache_free(c);
        return NULL;
    }
    return c;
}

void sl_store_cache_free(sl_store_cache *c)
{
    if (!c)
        return;
    json_decref(c->kinds);
    json_decref(c->staged);
    free(c);
}

const json_t *sl_store_cache_get(sl_store_cache *c, const char *kind) { return json_object_get(c->kinds, kind); }

void sl_store_cache_set(sl_store_cache *c, const char *kind, json_t *items)
{
    json_object_set_new(c->kinds, kind, items);
}

void sl_store_cache_stage(sl_store_cache *c, const char *kind, const char *ns, const char *name, const json_t *obj)
{
    if (!json_object_get(c->kinds, kind))
        return; /* (not kept: its first read parses it as committed) */
    json_t *copy = obj ? json_deep_copy(obj) : json_null();
    json_t *op = json_pack("[s, s, s, o]", kind, ns ? ns : "", name, copy);
    if (!op) {
        /* Out of memory: forgetting the kind keeps the cache right (it is parsed again). */
        json_object_del(c->kinds, kind);
        return;
    }
    json_array_append_new(c->staged, op);
}

/* The index of ns/name in items, or where it would go (*found false). SQLite's
 * ORDER BY namespace, name compares bytes, as strcmp does. */
static size_t position(const json_t *items, const char *ns, const char *name, int *found)
{
    size_t lo = 0, hi = json_array_size(items);
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const json_t *o = json_array_get(items, mid);
        int cmp = strcmp(sl_obj_namespace(o), ns);
        if (cmp == 0)
            cmp = strcmp(sl_obj_name(o), name);
        if (cmp == 0) {
            *found = 1;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void sl_store_cache_commit(sl_store_cache *c)
{
    size_t i;
    json_t *op;
    json_array_foreach(c->staged, i, op) {
        const char *kind = json_string_value(json_array_get(op, 0));
        json_t *items = json_object_get(c->kinds, kind);
        if (!items)
            continue;
        const char *ns = json_string_value(json_array_get(op, 1)), *name = json_string_value(json_array_get(op, 2));
        json_t *obj = json_array_get(op, 3);
        int found;
        size_t at = position(items, ns, name, &found);
        int rc = 0;
        if (json_is_null(obj))
            rc = found ? json_array_remove(items, at) : 0;
        else if (found)
            rc = json_array_set(items, at, obj);
        else
            rc = json_array_insert(items, at, obj);
        if (rc != 0)
            json_object_del(c->kinds, kind); /* (out of memory: parsed again at its next read) */
    }
    json_array_clear(c->staged);
}

void sl_store_cache_rollback(sl_store_cache *c) { json_array_clear(c->staged); }

/* Objects from outside the admin API into the store; see store_mirror.h. */
#include "daemon/store_mirror.h"

#include <stdio.h>
#include <string.h>

#include "common/sl.h"
#include "daemon/objects.h"

const char *sl_mirror_mark(const json_t *obj, const char *name)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), name));
}

/* What a user wrote of obj, without the apiVersion it was written at and the
 * annotation `ignore`. */
static json_t *compared_form(const sl_kind *k, const json_t *obj, const char *ignore)
{
    json_t *form = sl_obj_user_form(k, obj);
    json_object_del(form, "apiVersion");
    if (ignore)
        json_object_del(json_object_get(json_object_get(form, "metadata"), "annotations"), ignore);
    return form;
}

static void keep_generation(json_t *obj, json_int_t generation)
{
    if (generation > 0)
        json_object_set_new(sl_obj_metadata(obj), "generation", json_integer(generation));
}

int sl_mirror_put(sl_store *s, const sl_kind *k, json_t *obj, const char *const *marks, const char *ignore,
                  json_int_t generation, sl_mirror_result *result, bool *was_marked)
{
    json_t *meta = sl_obj_metadata(obj);
    json_t *ann = json_object_get(meta, "annotations");
    if (!json_is_object(ann)) {
        ann = json_object();
        json_object_set_new(meta, "annotations", ann);
    }
    for (size_t i = 0; marks[i]; i += 2)
        json_object_set_new(ann, marks[i], json_string(marks[i + 1]));
    *was_marked = false;
    json_t *old = NULL;
    int rc = sl_store_get(s, k->kind, k->namespaced ? sl_obj_namespace(obj) : "", sl_obj_name(obj), &old);
    if (rc == SL_NOTFOUND) {
        int64_t rv = sl_store_next_rv(s);
        sl_obj_prepare_create(k, obj, rv);
        keep_generation(obj, generation);
        *result = SL_MIRROR_CREATED;
        rc = sl_store_put(s, k->kind, obj, "ADDED", rv);
        json_decref(obj);
        return rc;
    }
    if (rc != SL_OK) {
        json_decref(obj);
        return rc;
    }
    *was_marked = sl_mirror_mark(old, marks[0]) != NULL;
    json_t *was = compared_form(k, old, ignore), *now = compared_form(k, obj, ignore);
    bool same = json_equal(was, now);
    json_decref(was);
    json_decref(now);
    if (same) {
        json_decref(old);
        json_decref(obj);
        *result = SL_MIRROR_UNCHANGED;
        return SL_OK;
    }
    int64_t rv = sl_store_next_rv(s);
    sl_obj_prepare_update(k, obj, old, rv);
    keep_generation(obj, generation);
    json_decref(old);
    *result = SL_MIRROR_UPDATED;
    rc = sl_store_put(s, k->kind, obj, "MODIFIED", rv);
    json_decref(obj);
    return rc;
}

int sl_mirror_delete(sl_store *s, const sl_kind *k, json_t *obj)
{
    int64_t rv = sl_store_next_rv(s);
    char rvs[32];
    snprintf(rvs, sizeof(rvs), "%lld", (long long)rv);
    json_object_set_new(sl_obj_metadata(obj), "resourceVersion", json_string(rvs));
    return sl_store_delete(s, k->kind, obj, rv);
}

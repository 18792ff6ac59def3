#include "daemon/controller.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/objects.h"

struct sl_controller {
    sl_store *store;
    void (*notify)(void *);
    void *notify_arg;
    pthread_t thread;
    volatile bool stop;
};

json_t *sl_condition(const char *type, const char *status, const char *reason, const char *message,
                     json_int_t observed_generation)
{
    char ts[32];
    sl_rfc3339_now(ts);
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "type", type, "status", status, "reason", reason, "message",
                     message, "observedGeneration", observed_generation, "lastTransitionTime", ts);
}

/* Finds a condition of `type` in status.conditions. */
static const json_t *find_condition(const json_t *status, const char *type)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

/* True when `want` says the same as `have` (ignoring lastTransitionTime), so that
 * rewriting it would only churn resourceVersions. */
static bool condition_same(const json_t *have, const json_t *want)
{
    if (!have)
        return false;
    static const char *const keys[] = {"status", "reason", "message", "observedGeneration"};
    for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++)
        if (!json_equal(json_object_get(have, keys[i]), json_object_get(want, keys[i])))
            return false;
    return true;
}

/* The keys of an object other than lastTransitionTime. */
static size_t keys_but_time(const json_t *o)
{
    return json_object_size(o) - (json_object_get(o, "lastTransitionTime") ? 1 : 0);
}

bool sl_status_equal(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    if (json_is_object(a) && json_is_object(b)) {
        if (keys_but_time(a) != keys_but_time(b))
            return false;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)a, k, x) {
            if (strcmp(k, "lastTransitionTime") != 0 && !sl_status_equal(x, json_object_get(b, k)))
                return false;
        }
        return true;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!sl_status_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    return json_equal(a, b);
}

json_t *sl_status_foreign_entries(const json_t *list)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *ctl = json_string_value(json_object_get(e, "controllerName"));
        if (!ctl || strcmp(ctl, SL_CONTROLLER_NAME) != 0)
            json_array_append(out, e);
    }
    return out;
}

int sl_controller_write_status(sl_store *s, const char *kind, const char *ns, const char *name,
                               int64_t expected_rv, json_t *status)
{
    if (sl_store_write_begin(s) != SL_OK) {
        json_decref(status);
        return SL_ERR;
    }
    sl_store_write_status_only(s);
    json_t *old;
    int rc = sl_store_get(s, kind, ns, name, &old);
    if (rc != SL_OK) {
        sl_store_write_rollback(s);
        json_decref(status);
        return rc;
    }
    if (sl_obj_resource_version(old) != expected_rv) {
        sl_store_write_rollback(s);
        json_decref(old);
        json_decref(status);
        return SL_CONFLICT;
    }
    if (json_equal(json_object_get(old, "status"), status)) {
        sl_store_write_rollback(s);
        json_decref(old);
        json_decref(status);
        return SL_OK;
    }
    int64_t rv = sl_store_next_rv(s);
    json_t *holder = json_pack("{s:o}", "status", status);
    json_t *updated = sl_obj_apply_status(holder, old, rv);
    json_decref(holder);
    json_decref(old);
    rc = sl_store_put(s, kind, updated, "MODIFIED", rv);
    json_decref(updated);
    if (rc != SL_OK) {
        sl_store_write_rollback(s);
        return rc;
    }
    return sl_store_write_commit(s);
}

/* GatewayClasses naming our controller are Accepted; others are not ours to touch. */
static void reconcile_gatewayclasses(sl_store *s)
{
    json_t *items;
    int64_t unused;
    if (sl_store_list(s, "GatewayClass", NULL, &items, &unused) != SL_OK) {
        json_decref(items);
        return;
    }
    size_t i;
    json_t *gc;
    json_array_foreach(items, i, gc)
    {
        const char *controller = json_string_value(json_object_get(json_object_get(gc, "spec"), "controllerName"));
        if (!controller || strcmp(controller, SL_CONTROLLER_NAME) != 0)
            continue;
        json_int_t gen = json_integer_value(json_object_get(json_object_get(gc, "metadata"), "generation"));
        json_t *want = sl_condition("Accepted", "True", "Accepted", "accepted by the sluice controller", gen);
        const json_t *status = json_object_get(gc, "status");
        if (condition_same(find_condition(status, "Accepted"), want)) {
            json_decref(want);
            continue;
        }
        json_t *new_status = json_is_object(status) ? json_deep_copy(status) : json_object();
        json_t *conds = json_array();
        size_t j;
        json_t *c;
        json_array_foreach(json_object_get(new_status, "conditions"), j, c)
        {
            const char *t = json_string_value(json_object_get(c, "type"));
            if (!t || strcmp(t, "Accepted") != 0)
                json_array_append(conds, c);
        }
        json_array_append_new(conds, want);
        json_object_set_new(new_status, "conditions", conds);
        int rc = sl_controller_write_status(s, "GatewayClass", "", sl_obj_name(gc), sl_obj_resource_version(gc),
                                            new_status);
        if (rc == SL_OK)
            sl_log_info("controller", "GatewayClass %s accepted (generation %lld)", sl_obj_name(gc),
                        (long long)gen);
        else if (rc != SL_CONFLICT && rc != SL_NOTFOUND)
            sl_log_error("controller", "cannot write the status of GatewayClass %s", sl_obj_name(gc));
    }
    json_decref(items);
}

void sl_controller_reconcile(sl_store *s) { reconcile_gatewayclasses(s); }

static void *controller_main(void *arg)
{
    sl_controller *c = arg;
    int64_t seen = -1;
    while (!c->stop) {
        int64_t rv = sl_store_current_rv(c->store);
        if (rv != seen) {
            sl_controller_reconcile(c->store);
            /* Our own status writes move rv too; the next pass finds nothing to do. */
            seen = rv;
            if (c->notify)
                c->notify(c->notify_arg);
        }
        sl_store_wait(c->store, seen, 1000);
    }
    return NULL;
}

sl_controller *sl_controller_start(sl_store *s, void (*notify)(void *), void *arg)
{
    sl_controller *c = calloc(1, sizeof(*c));
    if (!c)
        abort(); /* start-up: out of memory is fatal */
    c->store = s;
    c->notify = notify;
    c->notify_arg = arg;
    if (pthread_create(&c->thread, NULL, controller_main, c) != 0)
        abort();
    return c;
}

void sl_controller_stop(sl_controller *c)
{
    if (!c)
        return;
    c->stop = true;
    sl_store_wake_all(c->store);
    pthread_join(c->thread, NULL);
    free(c);
}

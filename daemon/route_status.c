#include "daemon/route_status.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/controller.h"
#include "daemon/objects.h"
#include "daemon/policy_status.h"

/* Our parent entry p of a route (generation gen) with its sluice.dev/Programmed
 * condition added: true once every worker of the parent Gateway runs a snapshot
 * that holds this generation of the route. Counts the pending ones. */
static json_t *with_programmed(const json_t *p, const char *route_ns, json_int_t gen, uint64_t needed,
                               const sl_supervisor *sv, size_t *pending)
{
    json_t *out = json_deep_copy(p);
    json_t *conds = json_object_get(out, "conditions");
    const json_t *ref = json_object_get(p, "parentRef");
    const char *ns = json_string_value(json_object_get(ref, "namespace"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    ns = ns ? ns : route_ns;
    name = name ? name : "";
    bool accepted = false;
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        if (type && strcmp(type, "Accepted") == 0)
            accepted = strcmp(json_string_value(json_object_get(c, "status")), "True") == 0;
    }
    char msg[400];
    if (!accepted) {
        json_array_append_new(conds, sl_condition(SL_ROUTE_PROGRAMMED, "False", "Invalid",
                                                  "not accepted by this parent", gen));
        return out;
    }
    uint64_t runs = sv ? sl_supervisor_group_generation(sv, ns, name) : 0;
    if (needed && runs >= needed) {
        snprintf(msg, sizeof(msg), "every worker of Gateway %s/%s runs this generation (snapshot %llu)", ns, name,
                 (unsigned long long)needed);
        json_array_append_new(conds, sl_condition(SL_ROUTE_PROGRAMMED, "True", "Programmed", msg, gen));
    } else {
        snprintf(msg, sizeof(msg), "waiting for the workers of Gateway %s/%s to switch to snapshot generation %llu",
                 ns, name, (unsigned long long)needed);
        json_array_append_new(conds, sl_condition(SL_ROUTE_PROGRAMMED, "False", "Pending", msg, gen));
        (*pending)++;
    }
    return out;
}

static size_t sync_kind(sl_store *store, const json_t *computed, const sl_liveness *live, const sl_supervisor *sv,
                        const char *kind)
{
    size_t pending = 0;
    json_t *routes;
    int64_t rv;
    if (sl_store_list_shared(store, kind, &routes, &rv) != SL_OK) {
        json_decref(routes);
        return 0;
    }
    size_t i;
    json_t *route;
    json_array_foreach(routes, i, route)
    {
        char key[650];
        snprintf(key, sizeof(key), "%s/%s/%s", kind, sl_obj_namespace(route), sl_obj_name(route));
        const json_t *mine = json_object_get(computed, key);
        /* Computed from an older generation of the route: the next compile has
         * it. (Generation, not resourceVersion: our own status writes move the
         * latter and compile nothing.) */
        if (mine && json_integer_value(json_object_get(mine, "generation")) !=
                        json_integer_value(json_object_get(json_object_get(route, "metadata"), "generation")))
            continue;
        const json_t *old_status = json_object_get(route, "status");
        json_t *parents = sl_status_foreign_entries(json_object_get(old_status, "parents"));
        size_t j;
        json_t *p;
        json_int_t gen = json_integer_value(json_object_get(mine, "generation"));
        uint64_t needed = sl_liveness_needed(live, key);
        json_array_foreach(json_object_get(mine, "parents"), j, p)
            json_array_append_new(parents, with_programmed(p, sl_obj_namespace(route), gen, needed, sv, &pending));
        /* (compared before copying anything: with 10,000 routes this runs for each after every compile) */
        if ((json_is_object(old_status) && sl_status_equal(json_object_get(old_status, "parents"), parents)) ||
            (!old_status && json_array_size(parents) == 0)) {
            json_decref(parents);
            continue;
        }
        json_t *status = json_is_object(old_status) ? json_deep_copy(old_status) : json_object();
        json_object_set_new(status, "parents", parents);
        int rc = sl_controller_write_status(store, kind, sl_obj_namespace(route), sl_obj_name(route),
                                            sl_obj_resource_version(route), status);
        if (rc != SL_OK && rc != SL_CONFLICT && rc != SL_NOTFOUND)
            sl_log_error("controller", "cannot write the status of %s", key);
    }
    json_decref(routes);
    return pending;
}

size_t sl_route_status_sync(sl_store *store, const json_t *computed, const sl_liveness *live,
                            const sl_supervisor *sv)
{
    /* The compiler's BackendTLSPolicy ancestors come in the same object. */
    sl_policy_status_sync(store, computed);
    return sync_kind(store, computed, live, sv, "HTTPRoute") + sync_kind(store, computed, live, sv, "GRPCRoute") +
           sync_kind(store, computed, live, sv, "TLSRoute") + sync_kind(store, computed, live, sv, "TCPRoute");
}

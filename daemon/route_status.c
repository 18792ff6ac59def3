#include "daemon/route_status.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/controller.h"
#include "daemon/objects.h"

static void sync_kind(sl_store *store, const json_t *computed, const char *kind)
{
    json_t *routes;
    int64_t rv;
    if (sl_store_list(store, kind, NULL, &routes, &rv) != SL_OK) {
        json_decref(routes);
        return;
    }
    size_t i;
    json_t *route;
    json_array_foreach(routes, i, route)
    {
        char key[650];
        snprintf(key, sizeof(key), "%s/%s/%s", kind, sl_obj_namespace(route), sl_obj_name(route));
        const json_t *mine = json_object_get(computed, key);
        /* Computed from an older version of the route: the next compile has it. */
        if (mine && strcmp(json_string_value(json_object_get(mine, "resourceVersion")),
                           json_string_value(json_object_get(json_object_get(route, "metadata"),
                                                             "resourceVersion"))) != 0)
            continue;
        const json_t *old_status = json_object_get(route, "status");
        json_t *parents = json_array();
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(old_status, "parents"), j, p)
        {
            const char *ctl = json_string_value(json_object_get(p, "controllerName"));
            if (!ctl || strcmp(ctl, SL_CONTROLLER_NAME) != 0)
                json_array_append(parents, p);
        }
        json_array_foreach(json_object_get(mine, "parents"), j, p) json_array_append(parents, p);
        json_t *status = json_is_object(old_status) ? json_deep_copy(old_status) : json_object();
        json_object_set_new(status, "parents", parents);
        if (sl_status_equal(old_status, status) || (!old_status && json_array_size(parents) == 0)) {
            json_decref(status);
            continue;
        }
        int rc = sl_controller_write_status(store, kind, sl_obj_namespace(route), sl_obj_name(route),
                                            sl_obj_resource_version(route), status);
        if (rc != SL_OK && rc != SL_CONFLICT && rc != SL_NOTFOUND)
            sl_log_error("controller", "cannot write the status of %s", key);
    }
    json_decref(routes);
}

void sl_route_status_sync(sl_store *store, const json_t *computed)
{
    sync_kind(store, computed, "HTTPRoute");
    sync_kind(store, computed, "GRPCRoute");
}

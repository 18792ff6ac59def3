/* Policy status writing (BackendTLSPolicy, TrafficPolicy, BackendPolicy); see policy_status.h. */
#include "daemon/policy_status.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/controller.h"
#include "daemon/objects.h"

/* The Gateway API's PolicyStatus holds at most 16 ancestors, whoever wrote them. */
#define MAX_ANCESTORS 16

static void sync_policy(sl_store *store, const char *kind, const json_t *policy, const json_t *mine)
{
    const json_t *old_status = json_object_get(policy, "status");
    json_t *ancestors = sl_status_foreign_entries(json_object_get(old_status, "ancestors"));
    size_t j;
    json_t *a;
    json_array_foreach(json_object_get(mine, "ancestors"), j, a)
    {
        if (json_array_size(ancestors) == MAX_ANCESTORS) {
            sl_log_warn("controller", "%s %s/%s concerns more than %d Gateways; status lists the first", kind,
                        sl_obj_namespace(policy), sl_obj_name(policy), MAX_ANCESTORS);
            break;
        }
        json_array_append(ancestors, a);
    }
    json_t *status = json_is_object(old_status) ? json_deep_copy(old_status) : json_object();
    json_object_set_new(status, "ancestors", ancestors);
    if (sl_status_equal(old_status, status) || (!old_status && json_array_size(ancestors) == 0)) {
        json_decref(status);
        return;
    }
    int rc = sl_controller_write_status(store, kind, sl_obj_namespace(policy), sl_obj_name(policy),
                                        sl_obj_resource_version(policy), status);
    if (rc != SL_OK && rc != SL_CONFLICT && rc != SL_NOTFOUND)
        sl_log_error("controller", "cannot write the status of %s %s/%s", kind, sl_obj_namespace(policy),
                     sl_obj_name(policy));
}

static void sync_kind(sl_store *store, const char *kind, const json_t *computed)
{
    json_t *policies;
    int64_t rv;
    if (sl_store_list_shared(store, kind, &policies, &rv) != SL_OK) {
        json_decref(policies);
        return;
    }
    size_t i;
    json_t *policy;
    json_array_foreach(policies, i, policy)
    {
        char key[650];
        snprintf(key, sizeof(key), "%s/%s/%s", kind, sl_obj_namespace(policy), sl_obj_name(policy));
        const json_t *mine = json_object_get(computed, key);
        /* Computed from another generation of the policy: the next compile has it.
         * (Generation, not resourceVersion: status writes move the latter and
         * compile nothing.) */
        if (mine && json_integer_value(json_object_get(mine, "generation")) !=
                        json_integer_value(json_object_get(json_object_get(policy, "metadata"), "generation")))
            continue;
        sync_policy(store, kind, policy, mine);
    }
    json_decref(policies);
}

void sl_policy_status_sync(sl_store *store, const json_t *computed)
{
    sync_kind(store, "BackendTLSPolicy", computed);
    sync_kind(store, "TrafficPolicy", computed);
    sync_kind(store, "BackendPolicy", computed);
}

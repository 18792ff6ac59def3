/* Policy status: our entries of status.ancestors of every BackendTLSPolicy and
 * TrafficPolicy, as the compiler computed them (compiler_btls_status.c,
 * compiler_policy_status.c). Entries of other
 * controllers are kept as they are; ours are removed from policies that no
 * longer concern any of our Gateways. */
#ifndef SL_POLICY_STATUS_H
#define SL_POLICY_STATUS_H

#include <jansson.h>

#include "daemon/store.h"

/* computed: from sl_compile's route_status ("Kind/ns/name" entries). Writes
 * every policy whose status differs. */
void sl_policy_status_sync(sl_store *store, const json_t *computed);

#endif

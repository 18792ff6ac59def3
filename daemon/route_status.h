/* HTTPRoute status: our entries of status.parents (Accepted and ResolvedRefs per
 * parentRef that names one of our Gateways), from what the compiler attached.
 * Entries of other controllers are kept as they are. */
#ifndef SL_ROUTE_STATUS_H
#define SL_ROUTE_STATUS_H

#include <jansson.h>

#include "daemon/store.h"

/* computed: from sl_compile's route_status. Writes every HTTPRoute whose status
 * differs, including routes that no longer name our Gateways (our old entries are
 * removed). */
void sl_route_status_sync(sl_store *store, const json_t *computed);

#endif

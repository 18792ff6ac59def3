/* Route status: our entries of status.parents (Accepted and ResolvedRefs per
 * parentRef that names one of our Gateways, from what the compiler attached, and
 * sluice.dev/Programmed: true once every worker of that Gateway runs this
 * generation of the route, so `kubectl wait` on it means the change is live).
 * Entries of other controllers are kept as they are. */
#ifndef SL_ROUTE_STATUS_H
#define SL_ROUTE_STATUS_H

#include <jansson.h>

#include "daemon/liveness.h"
#include "daemon/store.h"
#include "daemon/supervisor.h"

/* The implementation-specific condition of a route parent that says the route,
 * as it is now, runs in every worker of that parent Gateway. */
#define SL_ROUTE_PROGRAMMED "sluice.dev/Programmed"

/* computed: from sl_compile's route_status. Writes every HTTPRoute and GRPCRoute
 * whose status differs, including routes that no longer name our Gateways (our
 * old entries are removed), and every BackendTLSPolicy's (policy_status.h). Returns how many of our parent entries still wait
 * for their workers (sluice.dev/Programmed False, Pending): call again as the
 * workers switch (sv may be NULL: nothing runs yet). */
size_t sl_route_status_sync(sl_store *store, const json_t *computed, const sl_liveness *live,
                            const sl_supervisor *sv);

#endif

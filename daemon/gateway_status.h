/* Gateway status, written by the master from what actually runs: the compiled
 * snapshot (listeners, attached routes) and the supervisor (bound ports, running
 * workers). Conditions follow the Gateway API: Accepted and Programmed on the
 * Gateway; Accepted, Programmed, ResolvedRefs and Conflicted per listener with
 * attachedRoutes and supportedKinds. */
#ifndef SL_GATEWAY_STATUS_H
#define SL_GATEWAY_STATUS_H

#include "common/snapshot.h"
#include "daemon/liveness.h"
#include "daemon/store.h"
#include "daemon/supervisor.h"

/* Computes the status of every Gateway of a sluice GatewayClass and writes those
 * that changed (conditions compared without their lastTransitionTime). */
void sl_gateway_status_sync(sl_store *store, const sl_snapshot *snap, const sl_supervisor *sv,
                            const sl_liveness *live);

#endif

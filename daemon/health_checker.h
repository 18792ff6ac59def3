/* The master's endpoint watcher: one thread that runs the active health checks
 * of every backend whose BackendPolicy has a healthCheck (once per endpoint,
 * however many workers and Gateways send to it), and writes each verdict into
 * the shared endpoint table, where every worker sees it at its next pick. The
 * same thread logs every change of an endpoint's state: found unhealthy or
 * healthy again, ejected by the workers' passive checks, back from an
 * ejection. Probing uses libcurl's multi interface: many probes in flight,
 * none blocking the admin API or the compiler. */
#ifndef SL_HEALTH_CHECKER_H
#define SL_HEALTH_CHECKER_H

#include "common/snapshot.h"

/* Starts the thread (once, after the worker spawner forked). */
void sl_health_start(void);
void sl_health_stop(void);

/* Main thread, after a snapshot is published: the endpoints to watch and probe
 * from now on (state learnt about endpoints that stay is kept; an endpoint
 * whose check went away is no longer held unhealthy). */
void sl_health_update(const sl_snapshot *s);

#endif

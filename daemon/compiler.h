/* The compiler: reads the store and builds a complete configuration snapshot for
 * every Gateway of a sluice GatewayClass: its sockets, listeners, virtual hosts,
 * route entries in precedence order, and resolved backends with endpoints.
 * Anything that cannot be resolved is compiled to a defined behaviour (a backend
 * share that answers 500), never rejected here: rejection is validation's job,
 * reporting is status's. */
#ifndef SL_COMPILER_H
#define SL_COMPILER_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/store.h"

/* Compiles the store's current state. Returns a malloc'd blob (see common/snapshot.h)
 * and its size; generation is written into its header. Never returns NULL (aborts
 * when out of memory). When route_status is not NULL it receives a new object
 * "Kind/namespace/name" -> {namespace, name, generation, resourceVersion, and
 * parents[] or ancestors[]}: our entries of status.parents for every HTTPRoute and
 * GRPCRoute that names one of our Gateways, and of status.ancestors for every
 * BackendTLSPolicy (route_status.c writes them). */
void *sl_compile(sl_store *s, uint64_t generation, size_t *size, json_t **route_status);

#endif

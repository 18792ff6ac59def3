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

#include "daemon/snapshot_builder.h"
#include "daemon/store.h"

/* Compiles the store's current state. Returns a malloc'd blob (see common/snapshot.h)
 * and its size; generation is written into its header. Never returns NULL (aborts
 * when out of memory). When route_status is not NULL it receives a new object
 * "Kind/namespace/name" -> {namespace, name, generation, resourceVersion, and
 * parents[] or ancestors[]}: our entries of status.parents for every HTTPRoute and
 * GRPCRoute that names one of our Gateways, and of status.ancestors for every
 * BackendTLSPolicy (route_status.c writes them). */
void *sl_compile(sl_store *s, uint64_t generation, size_t *size, json_t **route_status);

/* What a full compile leaves for the endpoint-only compiles after it: its
 * tables before layout, and what they cannot say of each backend. */
typedef struct sl_compile_memo {
    bool valid;
    bool resolves;        /* a backend's host was a name: each compile looks it up, so full compiles only */
    sl_snap_builder b;
    json_t *backend_info; /* backend index -> {"slots", "portName", "ring"} (compiler_internal.h) */
    json_t *route_status; /* the status it computed (an endpoint-only compile computes the same) */
} sl_compile_memo;

/* sl_compile that also fills memo (replacing what it held). */
void *sl_compile_with_memo(sl_store *s, uint64_t generation, size_t *size, json_t **route_status,
                           sl_compile_memo *memo);

/* An endpoint-only compile (compiler_endpoints.c): when nothing but
 * EndpointSlices changed since the full compile that filled memo, the same
 * snapshot with every Service backend's endpoints (and their slots and
 * consistent-hash tables) read again, everything else as memo has it: the
 * routes are not compiled again. Never returns NULL. */
void *sl_compile_endpoints(sl_store *s, const sl_compile_memo *memo, uint64_t generation, size_t *size);

/* Whether memo allows endpoint-only compiles (it is valid and names no backend
 * host to look up again). */
bool sl_compile_endpoints_possible(const sl_compile_memo *memo);

void sl_compile_memo_clear(sl_compile_memo *memo);

#endif

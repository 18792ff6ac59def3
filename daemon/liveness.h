/* Liveness: when a change is running in every worker, not just stored or
 * compiled. For each Gateway and route the master remembers the first snapshot
 * generation that holds the object's current metadata.generation; a Gateway's
 * `Programmed` and a route parent's `sluice.dev/Programmed` turn true only once
 * every worker of the Gateway runs that generation or a later one (workers
 * report the generation they switched to in the control block). */
#ifndef SL_LIVENESS_H
#define SL_LIVENESS_H

#include <jansson.h>
#include <stdint.h>

typedef struct sl_liveness {
    json_t *first; /* "Kind/ns/name" -> [metadata.generation, first snapshot generation] */
} sl_liveness;

void sl_liveness_init(sl_liveness *l);
void sl_liveness_free(sl_liveness *l);
/* After a compile: computed is sl_compile's route_status (routes and, under
 * "Gateway/ns/name", Gateways, each with its "generation"); snapshot is the
 * generation that now runs that content (the one just published, or the
 * current one when the compile changed nothing). Objects no longer compiled
 * are forgotten. */
void sl_liveness_compiled(sl_liveness *l, const json_t *computed, uint64_t snapshot);
/* The snapshot generation a worker must run for key's current generation to be
 * live; 0 when the object was never compiled. */
uint64_t sl_liveness_needed(const sl_liveness *l, const char *key);

#endif

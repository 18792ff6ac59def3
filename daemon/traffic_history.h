/* Master: the last 15 minutes of traffic, one sample per second, for the
 * dashboard's charts (GET /debug/traffic), so that a page opened now shows the
 * past minutes at once. A thread reads the workers' shared counters every
 * second (the traffic series of common/series.h, the LLM entries of each
 * worker slot, the aiBudget tables) and keeps what changed in history rings
 * (daemon/history_ring.h) within --traffic-history-bytes. */
#ifndef SL_TRAFFIC_HISTORY_H
#define SL_TRAFFIC_HISTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/control.h"

/* Starts the sampler over control's counters; false (logged) without a thread. */
bool sl_traffic_history_start(const sl_control *control);
void sl_traffic_history_stop(void);

/* The history of one object: kind Gateway (its listeners summed, or one with
 * `section`; with its LLM tokens by model and by key), HTTPRoute, GRPCRoute,
 * TLSRoute or TCPRoute (its rules summed, or rule `section`), Service or
 * Backend (its ports summed, or port `section`); the last `seconds` of it.
 * NULL with a message in err for an unknown kind. */
json_t *sl_traffic_history_query(const char *kind, const char *ns, const char *name, const char *section,
                                 unsigned seconds, char *err, size_t errlen);

#endif

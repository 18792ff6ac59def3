/* Traffic series of route rules, listeners and backends (common/series.h),
 * counted by the worker. */
#ifndef SL_TRAFFIC_SERIES_H
#define SL_TRAFFIC_SERIES_H

#include <stdbool.h>

#include "workers/conn.h"

/* A request (or a passed-through connection) ended: its route rule and listener. */
void sl_traffic_request_done(sl_conn *c);
/* An attempt to c->backend_index starts (retry: it repeats an answered one). */
void sl_traffic_attempt(sl_conn *c, bool retry);
/* The upstream answered the attempt with status (its response head came). */
void sl_traffic_answered(sl_conn *c, int status);
/* The attempt's connection failed / the upstream did not answer in time
 * (also the Gateway's counters). */
void sl_traffic_connect_error(sl_conn *c);
void sl_traffic_timeout(sl_conn *c);

#endif

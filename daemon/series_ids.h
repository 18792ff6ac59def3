/* Master: which traffic series (common/series.h) each route rule, listener and
 * backend of a snapshot counts into. Indexes stay the same while the object
 * does (daemon/slot_pool.h); a full table gives the overflow series of the
 * kind. Keys are tab-separated label values: "route\tkind\tns\tname\trule",
 * "listener\tns\tgateway\tlistener", "backend\tkind\tns\tname\tport". */
#ifndef SL_SERIES_IDS_H
#define SL_SERIES_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Around one compile, and after it as its snapshot is published or not. */
void sl_series_ids_begin(void);
void sl_series_ids_end(void);
void sl_series_ids_commit(void);
void sl_series_ids_cancel(void);

/* The series of an object, packed with its tag (sl_series_pack; SL_SNAP_NONE:
 * there is no table). A route's kind: HTTPRoute, GRPCRoute, TLSRoute, TCPRoute. */
uint32_t sl_series_route(const char *kind, const char *ns, const char *name, unsigned rule);
uint32_t sl_series_listener(const char *ns, const char *gateway, const char *listener);
uint32_t sl_series_backend(const char *kind, const char *ns, const char *name, long long port);

/* Any thread: indexes from this one up were never handed out. */
uint32_t sl_series_ids_end_index(void);

/* Any thread: the key of series index (false: not handed out now). */
bool sl_series_key(uint32_t index, char *out, size_t outlen);

#endif

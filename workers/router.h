/* The router: picks the route entry for a request from a snapshot, following
 * the Gateway API: the virtual host by hostname (exact, then the longest
 * wildcard, then the catch-all), then the first entry of that host, in the
 * compiled precedence order, whose path, method, headers and query match; then
 * the less specific vhosts of the same listener only (listener isolation). */
#ifndef SL_ROUTER_H
#define SL_ROUTER_H

#include "common/slice.h"
#include "common/snapshot.h"
#include "workers/http1_parser.h"

typedef struct sl_regex_set sl_regex_set;

/* Compiles every regular expression a snapshot uses (PCRE2 with JIT). Returns
 * NULL when there are none. A pattern that fails to compile never matches. */
sl_regex_set *sl_regex_set_build(const sl_snapshot *s);
void sl_regex_set_free(sl_regex_set *r);

typedef struct sl_route_request {
    sl_slice host;   /* Host without port; any case */
    sl_slice path;   /* without the query */
    sl_slice query;  /* after '?', ptr NULL when none */
    sl_slice method;
    const sl_http1_header *headers;
    size_t nheaders;
} sl_route_request;

typedef enum {
    SL_ROUTE_FOUND = 0,
    SL_ROUTE_NO_HOST,  /* no virtual host serves this hostname: 404 */
    SL_ROUTE_NO_MATCH, /* the host exists but no rule matches: 404 */
} sl_route_result;

/* Finds the route for req arriving on the snapshot's port `port_index`.
 * On SL_ROUTE_FOUND, *out points into the snapshot. */
sl_route_result sl_router_lookup(const sl_snapshot *s, const sl_regex_set *rx, uint32_t port_index,
                                 const sl_route_request *req, const sl_snap_route **out);

/* Index of the vhost serving host on the port, or SL_SNAP_NONE. */
uint32_t sl_router_vhost(const sl_snapshot *s, uint32_t port_index, sl_slice host);

/* The value of the first query parameter named `name` (exact, case-sensitive)
 * in query (after '?'); false when there is none. */
bool sl_query_param(sl_slice query, sl_slice name, sl_slice *value);

#endif

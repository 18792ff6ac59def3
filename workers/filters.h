/* HTTPRoute filters on the worker's side: answers the gateway gives itself
 * (redirects, CORS preflights), request and response header changes, URL
 * rewrites and mirrors. The ranges come from the matched rule's action and from
 * the chosen backendRef. */
#ifndef SL_FILTERS_H
#define SL_FILTERS_H

#include "workers/conn.h"

/* Filters that answer the request themselves (RequestRedirect, a CORS preflight).
 * Returns true when a response was queued. */
bool sl_filters_answer(sl_conn *c, const sl_snap_route *route, const sl_snap_action *a);

/* Writes the request head for the upstream: method, (rewritten) target, Host,
 * the client's end-to-end fields changed by the RequestHeaderModifiers of both
 * ranges, and the forwarding fields. Returns false when it does not fit. */
bool sl_filters_request_head(sl_conn *c, const sl_snap_route *route, sl_snap_range rule, sl_snap_range backend);

/* Writes the response head for the client from the parsed upstream response,
 * with ResponseHeaderModifiers and CORS headers applied. */
void sl_filters_response_head(sl_conn *c);

/* Sends fire-and-forget copies of the request to the rule's mirror backends. */
void sl_filters_mirror(sl_conn *c, sl_snap_range rule);

#endif

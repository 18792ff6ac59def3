/* The A2A proxy in the worker: a route to a Backend of type A2A is proxied to
 * the agent like any route (its JSON-RPC calls and their event streams pass
 * through), except that the agent card, which names the URLs clients must call,
 * is rewritten so that they name the gateway (workers/a2a_card.c). */
#ifndef SL_WORKERS_A2A_H
#define SL_WORKERS_A2A_H

#include <stdbool.h>
#include <stddef.h>

#include "workers/response_hook.h"

struct sl_conn;

extern const sl_response_hook sl_a2a_response_hook;

/* A request to an A2A Backend whose upstream head is built (c->uout): a card
 * request keeps what the card's rewrite needs (the hook's state). */
void sl_a2a_request(struct sl_conn *c);

/* Whether the request (its head: w->req) asks for the agent card. */
bool sl_a2a_card_request(const struct sl_conn *c);

/* A JSON-RPC call to an A2A Backend, whole: its method is kept for the
 * access log and the metrics (the body itself goes on as it came), and checked
 * against the route's mcpAuthorization (a2aMethods) and mcpRateLimit. 0, or
 * the status it gets instead (403, 429) with *error_json (malloc'd, a
 * JSON-RPC error). */
struct sl_dbuf;
int sl_a2a_request_body(struct sl_conn *c, const struct sl_dbuf *body, char **error_json);

/* The card `in` (JSON) with its URLs rewritten: interface URLs (v1.0
 * supportedInterfaces[].url; v0.3 url, additionalInterfaces[].url) always,
 * and documentationUrl, iconUrl, provider.url when they are on the agent's own
 * origin, get `origin` and the path the client uses (a path under
 * upstream_base gets client_base in its place); signatures are dropped (they
 * would no longer verify: *dropped says so). NULL: not a JSON object. */
char *sl_a2a_rewrite_card(const char *in, size_t len, const char *origin, const char *client_base,
                          const char *upstream_base, size_t *out_len, bool *dropped);

#endif

/* What the Gateway API asks of a Gateway and its listeners that the object alone
 * decides: whether sluice serves a listener's protocol, which route kinds a
 * listener supports, and whether the Gateway's infrastructure.parametersRef can be
 * used. The compiler (what is bound, what attaches) and the Gateway status (what
 * is reported) both ask here, so they cannot disagree. Pure functions: no store. */
#ifndef SL_GATEWAY_RULES_H
#define SL_GATEWAY_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* True when sluice serves the listener's protocol: HTTP, HTTPS, TLS with
 * tls.mode Passthrough, TCP. A listener of any other protocol the API allows
 * (TLS that terminates, "UDP", "INVALID", "example.com/x") gets no socket,
 * supports no route kind and reports Accepted False, UnsupportedProtocol. */
bool sl_listener_protocol_served(const json_t *listener);

/* True when the listener admits routes of `kind` (group gateway.networking.k8s.io):
 * its protocol serves that kind (HTTP and HTTPS: HTTPRoute and GRPCRoute; TLS:
 * TLSRoute; TCP: TCPRoute), and allowedRoutes.kinds,
 * when set, names it (group omitted means gateway.networking.k8s.io). */
bool sl_listener_supports_kind(const json_t *listener, const char *kind);

/* The listener's status.supportedKinds: [{group, kind}] of the kinds it admits,
 * empty when its protocol is not served or none of allowedRoutes.kinds is
 * supported. Returns a new reference. */
json_t *sl_listener_supported_kinds(const json_t *listener);

/* How many entries of allowedRoutes.kinds the listener cannot serve (unknown kinds,
 * other groups, or any kind on a protocol sluice does not serve); 0 when all are
 * supported or none is listed. When msg is not NULL, writes a message naming them
 * (truncated to msglen) for the ResolvedRefs condition (reason InvalidRouteKinds). */
size_t sl_listener_invalid_kinds(const json_t *listener, char *msg, size_t msglen);

/* True when the Gateway's spec.infrastructure.parametersRef cannot be used; false
 * when it has none. sluice defines no kind of Gateway parameters, so every
 * reference is to a kind it does not support: the Gateway API then asks that the
 * Gateway be rejected (Accepted False, reason InvalidParameters). When msg is not
 * NULL, writes why (naming the reference) into it. */
bool sl_gateway_parameters_invalid(const json_t *gateway, char *msg, size_t msglen);

#endif

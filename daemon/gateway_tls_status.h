/* Gateway status for the Gateway's own TLS settings (spec.tls, Gateway API
 * v1.6), from what the compiler recorded in the snapshot: the listener
 * conditions of client certificate validation (tls.frontend) and the Gateway's
 * ResolvedRefs (tls.backend.clientCertificateRef, and a summary of its
 * listeners') and InsecureFrontendValidationMode conditions. gateway_status.c
 * asks here for the parts that concern them. */
#ifndef SL_GATEWAY_TLS_STATUS_H
#define SL_GATEWAY_TLS_STATUS_H

#include <jansson.h>
#include <stdbool.h>

#include "common/snapshot.h"

/* The listener ResolvedRefs reason for the CA references of its client
 * certificate validation (InvalidCACertificateRef, InvalidCACertificateKind,
 * RefNotPermitted), with *message naming the reference; NULL when they resolve
 * or there are none. l may be NULL (not compiled). */
const char *sl_frontend_refs_reason(const sl_snapshot *s, const sl_snap_listener *l, const char **message);

/* True when the listener's client certificate validation has no usable CA
 * certificate: it is not accepted (NoValidCACertificate) and serves nothing. */
bool sl_frontend_no_valid_ca(const sl_snap_listener *l);

/* Appends to conds (the Gateway's conditions, generation gen) its ResolvedRefs
 * (False with InvalidClientCertificateRef or RefNotPermitted when the backend
 * client certificate does not resolve, ListenersNotResolved when a listener's
 * ResolvedRefs is False, else True) and, when a tls.frontend mode is
 * AllowInsecureFallback, InsecureFrontendValidationMode True with reason
 * ConfigurationChanged. listeners is the status.listeners array just computed. */
void sl_gateway_tls_conditions(const json_t *gw, const sl_snapshot *s, const json_t *listeners, json_int_t gen,
                               json_t *conds);

#endif

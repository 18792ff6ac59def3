/* TLS towards backends (Backend protocol HTTPS, BackendTLSPolicy): one client
 * SSL_CTX per HTTPS backend of a snapshot, built when the worker maps it, and
 * a session per upstream connection with SNI and the certificate's name
 * checked: the backend's name, or (BackendTLSPolicy subjectAltNames) one of the
 * SANs it lists, checked instead. Every context presents the client certificate
 * of the worker's Gateway, if it has one (spec.tls.backend). A session keeps its
 * SSL_CTX alive, so pooled connections outlive the snapshot that made them. */
#ifndef SL_UPSTREAM_TLS_H
#define SL_UPSTREAM_TLS_H

#include <openssl/ssl.h>

#include "common/snapshot.h"

/* One entry per backend of the snapshot (NULL for plain ones); NULL when the
 * snapshot has no HTTPS backend. gateway: the GATEWAYS index of the worker's
 * Gateway, whose backend client certificate the contexts present
 * (SL_SNAP_NONE: none). */
SSL_CTX **sl_uptls_build(const sl_snapshot *s, uint32_t gateway);
void sl_uptls_free(SSL_CTX **ctxs, uint32_t n);
/* A client session on fd for backend `be`; `host` is the endpoint's host text,
 * the name checked when the backend names none. NULL on failure. */
SSL *sl_uptls_session(SSL_CTX *ctx, const sl_snapshot *s, const sl_snap_backend *be, int fd, const char *host);
/* Why a session failed, for the log ("certificate verify failed: ..."). */
const char *sl_uptls_error(SSL *ssl, char *buf, size_t len);
/* A number that differs between backends whose connections must not be pooled
 * together (TLS settings); 0 for plain backends. */
uint64_t sl_uptls_identity(const sl_snapshot *s, const sl_snap_backend *be);
/* True when the certificate carries one of `sans` (the snapshot's tls_sans:
 * "DNS:<hostname>" or "URI:<uri>" lines). A DNS entry matches as a host name
 * would (X509_check_host on the SANs only; a wildcard entry only the same
 * wildcard SAN); a URI entry only the same bytes. */
bool sl_uptls_san_match(X509 *cert, const char *sans);

#endif

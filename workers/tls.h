/* TLS termination in the workers (OpenSSL). Each snapshot's HTTPS ports get one
 * SSL_CTX per certificate; the first of a port is the default and its SNI
 * callback switches a connection to the certificate whose listener hostname
 * matches the name the client asked for (exact, then wildcard, then none). */
#ifndef SL_TLS_H
#define SL_TLS_H

#include <stdbool.h>

#include "common/control.h"
#include <sys/types.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

#include "workers/worker_internal.h"

typedef struct sl_tls_ctx sl_tls_ctx;

/* Builds the TLS contexts of a snapshot (NULL when it has no HTTPS port). */
sl_tls_ctx *sl_tls_build(const sl_snapshot *s);
void sl_tls_free(sl_tls_ctx *t);
/* Loads a PEM certificate chain (leaf first) and its private key into ctx, for
 * a server or a client. Returns false when either does not parse or they do
 * not match. */
bool sl_tls_ctx_use_pem(SSL_CTX *ctx, const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len);

/* A new server-side TLS session for a connection accepted on snapshot port
 * port_index; NULL when the port has no usable certificate. */
SSL *sl_tls_accept(sl_tls_ctx *t, uint32_t port_index, int fd);

/* Reads or writes through TLS with read(2)/writev(2) semantics: bytes moved, 0 at
 * the peer's close, -1 with errno EAGAIN (and *want_write set when OpenSSL needs
 * the socket writable to go on) or another errno on failure. */
ssize_t sl_tls_read(SSL *ssl, void *buf, size_t len, bool *want_write);
ssize_t sl_tls_writev(SSL *ssl, const struct iovec *iov, int n, bool *want_read);

/* Batches the records the session writes (workers/tls_batch.c): they wait in a
 * pooled buffer until it is full or sl_tls_flush, and leave in one write(2).
 * For connections whose every write path ends in sl_tls_flush (HTTP/2). */
bool sl_tls_batch_writes(SSL *ssl, int fd, sl_worker *w);
/* Bytes sealed but not yet written to the socket (0 without batching). */
size_t sl_tls_unsent(SSL *ssl);
/* Writes them: 1 when all are out, 0 when the socket is full, -1 on error. */
int sl_tls_flush(SSL *ssl);

/* The hostname of the listener whose certificate the handshake chose ("" for a
 * listener without hostname); NULL before the handshake chose one. Valid as long
 * as the session. */
const char *sl_tls_chosen_hostname(SSL *ssl);

/* Sends close_notify (best effort, never blocks) and frees. */
void sl_tls_close(SSL *ssl);
/* Seal session tickets with the master's shared, rotated keys (call before
 * sl_tls_build). */
void sl_tls_use_shared_tickets(const sl_control *c);
/* False when the negotiated version is below the chosen listener's minVersion
 * (the connection must be closed). */
bool sl_tls_version_ok(SSL *ssl);
/* The X-Forwarded-Client-Cert value for a verified client certificate
 * (Hash=<SHA-256 of the DER>;Subject="<RFC 2253>"); 0 when there is none. */
size_t sl_tls_client_cert_header(SSL *ssl, char *out, size_t outlen);

#endif

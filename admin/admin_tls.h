/* TLS for the admin API (through libmicrohttpd's TLS, which is GnuTLS): the
 * certificate and key it serves, and an optional client CA whose certificates
 * authenticate a client like a full token (mutual TLS, for kubeconfigs with
 * client-certificate-data). */
#ifndef SL_ADMIN_TLS_H
#define SL_ADMIN_TLS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct sl_admin_tls {
    char *cert_pem;      /* NULL: plain HTTP */
    char *key_pem;
    char *client_ca_pem; /* NULL: no client certificates asked for */
} sl_admin_tls;

/* Reads the PEM files (client_ca may be NULL). Returns 0, or -1 with a message
 * naming the file in err. */
int sl_admin_tls_load(sl_admin_tls *t, const char *cert, const char *key, const char *client_ca, char *err,
                      size_t errlen);
void sl_admin_tls_free(sl_admin_tls *t);
/* True when conn presented a client certificate that chains to the client CA
 * (and is within its validity). */
bool sl_admin_tls_client_verified(struct MHD_Connection *conn);

#endif

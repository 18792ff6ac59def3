/* TLS for the admin API: see admin_tls.h. */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_tls.h"

/* The whole file as a NUL-terminated string (PEM), or NULL with err set. */
static char *read_pem(const char *path, const char *what, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read the admin %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "out of memory reading %s", path);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    if (!strstr(buf, "-----BEGIN ")) {
        snprintf(err, errlen, "the admin %s %s is not PEM", what, path);
        free(buf);
        return NULL;
    }
    return buf;
}

int sl_admin_tls_load(sl_admin_tls *t, const char *cert, const char *key, const char *client_ca, char *err,
                      size_t errlen)
{
    *t = (sl_admin_tls){0};
    if (!cert && !key && !client_ca)
        return 0;
    if (!cert || !key) {
        snprintf(err, errlen, "--admin-tls-cert and --admin-tls-key go together%s",
                 client_ca ? " (and --admin-client-ca needs them)" : "");
        return -1;
    }
    t->cert_pem = read_pem(cert, "TLS certificate", err, errlen);
    t->key_pem = t->cert_pem ? read_pem(key, "TLS key", err, errlen) : NULL;
    if (t->key_pem && client_ca)
        t->client_ca_pem = read_pem(client_ca, "client CA", err, errlen);
    if (!t->cert_pem || !t->key_pem || (client_ca && !t->client_ca_pem)) {
        sl_admin_tls_free(t);
        return -1;
    }
    return 0;
}

void sl_admin_tls_free(sl_admin_tls *t)
{
    free(t->cert_pem);
    free(t->key_pem);
    free(t->client_ca_pem);
    *t = (sl_admin_tls){0};
}

bool sl_admin_tls_client_verified(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return false;
    gnutls_session_t session = (gnutls_session_t)ci->tls_session;
    unsigned int n = 0;
    if (!gnutls_certificate_get_peers(session, &n) || n == 0)
        return false; /* no certificate: authenticate with a token instead */
    /* Checked against the trust list libmicrohttpd was given (the client CA),
     * with the validity period. */
    unsigned int status = 0;
    return gnutls_certificate_verify_peers2(session, &status) == GNUTLS_E_SUCCESS && status == 0;
}

/* Client TLS to backends; see upstream_tls.h. */
#include "workers/upstream_tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "workers/tls.h"

/* SSL_CTX ex_data: the backend's subjectAltNames (a malloc'd copy), for san_verify. */
static int ex_sans = -1;

static void free_sans(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

/* The certificate of a backend with subjectAltNames must carry one of them; its
 * hostname is not checked (the Gateway API: "Hostname ... MUST NOT be used for
 * authentication" then). Runs for each certificate of the chain once OpenSSL
 * has checked it; the SANs are checked on the leaf (depth 0). */
static int san_verify(int ok, X509_STORE_CTX *x)
{
    if (!ok || X509_STORE_CTX_get_error_depth(x) != 0)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    const char *sans = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_sans) : NULL;
    if (!sans || sl_uptls_san_match(X509_STORE_CTX_get_current_cert(x), sans))
        return ok;
    X509_STORE_CTX_set_error(x, X509_V_ERR_HOSTNAME_MISMATCH);
    return 0;
}

/* The Gateway's client certificate (chain and key PEM) for the backends. */
static void use_client_cert(SSL_CTX *ctx, const sl_snapshot *s, const sl_snap_gateway *g)
{
    if (!sl_tls_ctx_use_pem(ctx, sl_snap_cstr(s, g->backend_cert_pem), g->backend_cert_pem.len,
                            sl_snap_cstr(s, g->backend_key_pem), g->backend_key_pem.len))
        /* the master checked the pair: only memory can make this fail */
        sl_log_error("worker", "cannot load the backend client certificate of gateway %s/%s", sl_snap_cstr(s, g->ns),
                     sl_snap_cstr(s, g->name));
}

static SSL_CTX *client_ctx(const sl_snapshot *s, const sl_snap_backend *be, const sl_snap_gateway *g)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn));
    switch (be->tls_verify) {
    case SL_UPTLS_INSECURE: SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); break;
    case SL_UPTLS_VERIFY_SYSTEM:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_default_verify_paths(ctx);
        break;
    default: {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        BIO *bio = BIO_new_mem_buf(sl_snap_cstr(s, be->tls_ca), (int)be->tls_ca.len);
        X509 *x;
        while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
            X509_STORE_add_cert(store, x);
            X509_free(x);
        }
        ERR_clear_error(); /* the end of the bundle reads as an error */
        BIO_free(bio);
        break;
    }
    }
    if (be->tls_verify != SL_UPTLS_INSECURE && be->tls_sans.len) {
        char *sans = strdup(sl_snap_cstr(s, be->tls_sans));
        if (!sans || SSL_CTX_set_ex_data(ctx, ex_sans, sans) != 1) {
            free(sans);
            SSL_CTX_free(ctx); /* never connect without the check it asks for */
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, san_verify);
    }
    if (g && g->backend_cert_pem.len)
        use_client_cert(ctx, s, g);
    return ctx;
}

SSL_CTX **sl_uptls_build(const sl_snapshot *s, uint32_t gateway)
{
    uint32_t n = sl_snap_count(s, SL_SNAP_BACKENDS);
    const sl_snap_gateway *g =
        gateway < sl_snap_count(s, SL_SNAP_GATEWAYS) ? SL_SNAP_GET(s, SL_SNAP_GATEWAYS, sl_snap_gateway, gateway) : NULL;
    if (ex_sans < 0)
        ex_sans = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_sans);
    SSL_CTX **ctxs = NULL;
    for (uint32_t i = 0; i < n; i++) {
        const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, i);
        if (be->protocol != SL_BACKEND_HTTPS)
            continue;
        if (!ctxs && !(ctxs = calloc(n, sizeof(*ctxs))))
            return NULL;
        ctxs[i] = client_ctx(s, be, g);
        if (!ctxs[i])
            sl_log_error("worker", "cannot make a TLS client context for backend %s/%s", sl_snap_cstr(s, be->ns),
                         sl_snap_cstr(s, be->name));
    }
    return ctxs;
}

void sl_uptls_free(SSL_CTX **ctxs, uint32_t n)
{
    if (!ctxs)
        return;
    for (uint32_t i = 0; i < n; i++)
        SSL_CTX_free(ctxs[i]);
    free(ctxs);
}

SSL *sl_uptls_session(SSL_CTX *ctx, const sl_snapshot *s, const sl_snap_backend *be, int fd, const char *host)
{
    if (!ctx)
        return NULL;
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return NULL;
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    const char *name = be->tls_sni.len ? sl_snap_cstr(s, be->tls_sni) : host;
    unsigned char addr[16];
    bool ip = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
    if (!ip && name[0])
        SSL_set_tlsext_host_name(ssl, name); /* SNI carries names only */
    /* With subjectAltNames the certificate is checked against them (san_verify), not the name. */
    if (be->tls_verify != SL_UPTLS_INSECURE && !be->tls_sans.len) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        bool ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1 : SSL_set1_host(ssl, name) == 1;
        if (!ok) {
            SSL_free(ssl);
            return NULL;
        }
    }
    return ssl;
}

const char *sl_uptls_error(SSL *ssl, char *buf, size_t len)
{
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK)
        snprintf(buf, len, "certificate verify failed: %s", X509_verify_cert_error_string(v));
    else
        snprintf(buf, len, "TLS handshake or record error");
    return buf;
}

uint64_t sl_uptls_identity(const sl_snapshot *s, const sl_snap_backend *be)
{
    (void)s;
    /* The compiler hashed what decides how a connection is made and verified. */
    return be->protocol == SL_BACKEND_HTTPS ? be->tls_identity : 0;
}

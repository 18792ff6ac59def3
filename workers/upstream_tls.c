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

static SSL_CTX *client_ctx(const sl_snapshot *s, const sl_snap_backend *be)
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
    return ctx;
}

SSL_CTX **sl_uptls_build(const sl_snapshot *s)
{
    uint32_t n = sl_snap_count(s, SL_SNAP_BACKENDS);
    SSL_CTX **ctxs = NULL;
    for (uint32_t i = 0; i < n; i++) {
        const sl_snap_backend *be = SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, i);
        if (be->protocol != SL_BACKEND_HTTPS)
            continue;
        if (!ctxs && !(ctxs = calloc(n, sizeof(*ctxs))))
            return NULL;
        ctxs[i] = client_ctx(s, be);
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
    if (be->tls_verify != SL_UPTLS_INSECURE) {
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
    if (be->protocol != SL_BACKEND_HTTPS)
        return 0;
    /* FNV-1a over what decides how a connection was verified. */
    uint64_t h = 1469598103934665603ull;
    const char *parts[] = {sl_snap_cstr(s, be->tls_sni), sl_snap_cstr(s, be->tls_ca)};
    for (int p = 0; p < 2; p++)
        for (const unsigned char *q = (const unsigned char *)parts[p]; *q; q++)
            h = (h ^ *q) * 1099511628211ull;
    h = (h ^ be->tls_verify) * 1099511628211ull;
    return h ? h : 1;
}

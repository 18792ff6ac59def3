#include "workers/tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "common/log.h"

typedef struct tls_cert {
    SSL_CTX *ctx;
    uint32_t port;
    uint32_t listener;
    char hostname[256];
    int min_version;       /* TLS1_2_VERSION or TLS1_3_VERSION */
    char *ciphers;         /* the listener's TLS 1.2 suites (NULL: ours) */
} tls_cert;

/* Reference-counted: the snapshot holds one reference and every TLS session
 * another, since a session's SNI callback may run after its snapshot is gone. */
struct sl_tls_ctx {
    tls_cert *certs;
    uint32_t ncerts;
    int refs;
};

/* Our TLS 1.2 suites: ECDHE with AEAD only (TLS 1.3's defaults are those already). */
#define SL_TLS_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

static int ex_chosen = -1; /* SSL ex_data: the tls_cert the handshake chose */
static int ex_owner = -1;  /* SSL ex_data: the sl_tls_ctx the session holds a reference to */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    /* Our preference order: HTTP/2, then HTTP/1.1. A client offering neither
     * gets no ALPN agreement (and speaks HTTP/1.1). */
    static const unsigned char ours[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours), in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static bool name_matches(const char *pattern, const char *name)
{
    if (!pattern[0])
        return true;
    if (strncmp(pattern, "*.", 2) == 0) {
        size_t pl = strlen(pattern) - 1, nl = strlen(name);
        return nl > pl && strcasecmp(name + nl - pl, pattern + 1) == 0;
    }
    return strcasecmp(pattern, name) == 0;
}

/* Picks the certificate for the SNI name among those of the port: exact names
 * first, then wildcards (longest first), then a listener without hostname. */
static int sni_cb(SSL *ssl, int *alert, void *arg)
{
    sl_tls_ctx *t = arg;
    const tls_cert *self = NULL;
    SSL_CTX *cur = SSL_get_SSL_CTX(ssl);
    for (uint32_t i = 0; i < t->ncerts; i++)
        if (t->certs[i].ctx == cur)
            self = &t->certs[i];
    if (!self)
        return SSL_TLSEXT_ERR_OK;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const tls_cert *best = NULL;
    int best_rank = -1;
    for (uint32_t i = 0; name && i < t->ncerts; i++) {
        const tls_cert *c = &t->certs[i];
        if (c->port != self->port || !name_matches(c->hostname, name))
            continue;
        int rank = !c->hostname[0] ? 1 : c->hostname[0] == '*' ? 100 + (int)strlen(c->hostname) : 10000;
        if (rank > best_rank) {
            best = c;
            best_rank = rank;
        }
    }
    if (!best) {
        /* No listener of this port serves that name: use the default (first)
         * certificate only when its listener takes any name. */
        for (uint32_t i = 0; i < t->ncerts && !best; i++)
            if (t->certs[i].port == self->port && !t->certs[i].hostname[0])
                best = &t->certs[i];
        if (!best && name) {
            *alert = SSL_AD_UNRECOGNIZED_NAME;
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        if (!best)
            best = self;
    }
    if (best->ctx != cur) {
        /* SSL_set_SSL_CTX moves the certificate, the trust store and the CA
         * names; the listener's options are the session's own to set. */
        SSL_set_SSL_CTX(ssl, best->ctx);
        SSL_set_verify(ssl, SSL_CTX_get_verify_mode(best->ctx), SSL_CTX_get_verify_callback(best->ctx));
        SSL_set_min_proto_version(ssl, best->min_version);
        SSL_set_cipher_list(ssl, best->ciphers ? best->ciphers : SL_TLS_CIPHERS);
    }
    SSL_set_ex_data(ssl, ex_chosen, (void *)best);
    return SSL_TLSEXT_ERR_OK;
}

/* Session tickets are sealed with the keys the master shares with every worker
 * (common/control.h), so a resumption works on any worker of the group and
 * survives worker restarts. Returns 1 (key found), 2 (found, but an older key:
 * issue a fresh ticket), 0 (unknown key: full handshake), -1 (error). */
static const sl_control *ticket_control;

static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    sl_ticket_key keys[2];
    sl_ticket_keys_read(ticket_control, keys);
    int rc = 0;
    const sl_ticket_key *k = NULL;
    if (enc) {
        k = &keys[0];
        memcpy(name, k->name, 16);
        if (RAND_bytes(iv, 16) != 1)
            k = NULL, rc = -1;
        else
            rc = 1;
    } else if (memcmp(name, keys[0].name, 16) == 0) {
        k = &keys[0];
        rc = 1;
    } else if (memcmp(name, keys[1].name, 16) == 0) {
        k = &keys[1];
        rc = 2;
    }
    if (k) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof(k->hmac)),
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_end(),
        };
        bool ok = (enc ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv)
                       : EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv)) == 1 &&
                  EVP_MAC_CTX_set_params(hctx, params) == 1;
        if (!ok)
            rc = -1;
    }
    OPENSSL_cleanse(keys, sizeof(keys));
    return rc;
}

void sl_tls_use_shared_tickets(const sl_control *c) { ticket_control = c; }

size_t sl_tls_client_cert_header(SSL *ssl, char *out, size_t outlen)
{
    X509 *peer = SSL_get0_peer_certificate(ssl);
    if (!peer || SSL_get_verify_result(ssl) != X509_V_OK)
        return 0;
    unsigned char md[32];
    unsigned int mdlen = 0;
    char hex[65], subject[400] = "";
    if (X509_digest(peer, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)
        return 0;
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio && X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(bio, subject, (int)sizeof(subject) - 1);
        subject[n > 0 ? n : 0] = '\0';
    }
    BIO_free(bio);
    /* Quotes and backslashes in the subject are escaped (Envoy's XFCC form). */
    char esc[800];
    size_t e = 0;
    for (const char *p = subject; *p && e + 2 < sizeof(esc); p++) {
        if (*p == '"' || *p == '\\')
            esc[e++] = '\\';
        esc[e++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    }
    esc[e] = '\0';
    int n = snprintf(out, outlen, "Hash=%s;Subject=\"%s\"", hex, esc);
    return n > 0 && (size_t)n < outlen ? (size_t)n : 0;
}

bool sl_tls_version_ok(SSL *ssl)
{
    /* The version is settled before SNI picks the listener, so a listener that
     * asks for more than the port's default listener is checked afterwards. */
    const tls_cert *chosen = ex_chosen >= 0 ? SSL_get_ex_data(ssl, ex_chosen) : NULL;
    return !chosen || SSL_version(ssl) >= chosen->min_version;
}

/* AllowInsecureFallback: a client certificate that does not verify does not end
 * the handshake. The verify result keeps the failure, so such a certificate is
 * never passed on as an identity (sl_tls_client_cert_header). */
static int accept_unverified(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1;
}

/* Client certificates: verification against the listener's CA bundle, whose
 * subjects are also the names sent in the CertificateRequest. mode is a
 * sl_snap_client_cert other than NONE. */
static void set_client_verify(SSL_CTX *ctx, const char *ca_pem, size_t ca_len, uint8_t mode)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    BIO *bio = BIO_new_mem_buf(ca_pem, (int)ca_len);
    X509 *x;
    while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        X509_STORE_add_cert(store, x);
        if (names)
            sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(x)));
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    if (names)
        SSL_CTX_set_client_CA_list(ctx, names);
    if (mode == SL_CLIENT_CERT_INSECURE_FALLBACK)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_unverified);
    else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (mode == SL_CLIENT_CERT_REQUIRE ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    SSL_CTX_set_verify_depth(ctx, 8);
    /* Resumed sessions keep the client identity (and verify result) of the
     * handshake that made them, so a session resumes only under the same
     * validation: the context names the mode and the CA certificates. Without
     * this, a session from AllowInsecureFallback, or from other CAs, would pass
     * where a full handshake fails. */
    unsigned char sid_ctx[SSL_MAX_SID_CTX_LENGTH] = {'s', 'l', mode};
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (EVP_Digest(ca_pem, ca_len, digest, &dlen, EVP_sha256(), NULL) == 1)
        memcpy(sid_ctx + 3, digest, dlen < sizeof(sid_ctx) - 3 ? dlen : sizeof(sid_ctx) - 3);
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx));
}


bool sl_tls_ctx_use_pem(SSL_CTX *ctx, const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len)
{
    BIO *cb = BIO_new_mem_buf(cert_pem, (int)cert_len), *kb = BIO_new_mem_buf(key_pem, (int)key_len);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    bool ok = x && k && SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, k) == 1;
    /* The rest of the PEM is the chain (the context owns what it takes). */
    X509 *extra;
    while (ok && (extra = PEM_read_bio_X509(cb, NULL, NULL, NULL)))
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1)
            X509_free(extra);
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    return ok;
}

static SSL_CTX *make_ctx(const sl_snapshot *s, const sl_snap_cert *c, sl_tls_ctx *t)
{
    const char *cert_pem = sl_snap_cstr(s, c->cert_pem), *key_pem = sl_snap_cstr(s, c->key_pem);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, c->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    /* Modern AEAD suites for TLS 1.2; TLS 1.3's defaults are already those. */
    SSL_CTX_set_cipher_list(ctx, SL_TLS_CIPHERS);
    if (c->ciphers.len && SSL_CTX_set_cipher_list(ctx, sl_snap_cstr(s, c->ciphers)) != 1) {
        ERR_clear_error();
        sl_log_warn("tls", "listener %u: no usable cipher in \"%s\"; keeping the defaults", c->listener,
                    sl_snap_cstr(s, c->ciphers));
        SSL_CTX_set_cipher_list(ctx, SL_TLS_CIPHERS);
    }
    if (c->client_cert != SL_CLIENT_CERT_NONE)
        set_client_verify(ctx, sl_snap_cstr(s, c->client_ca), c->client_ca.len, c->client_cert);
    if (!sl_tls_ctx_use_pem(ctx, cert_pem, strlen(cert_pem), key_pem, strlen(key_pem))) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, t);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    if (ticket_control)
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    return ctx;
}

sl_tls_ctx *sl_tls_build(const sl_snapshot *s)
{
    uint32_t n = sl_snap_count(s, SL_SNAP_CERTS);
    if (n == 0)
        return NULL;
    if (ex_chosen < 0) {
        ex_chosen = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        ex_owner = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    }
    sl_tls_ctx *t = calloc(1, sizeof(*t));
    tls_cert *certs = calloc(n, sizeof(*certs));
    if (!t || !certs) {
        free(t);
        free(certs);
        return NULL;
    }
    t->certs = certs;
    t->refs = 1;
    for (uint32_t pi = 0; pi < sl_snap_count(s, SL_SNAP_PORTS); pi++) {
        const sl_snap_port *p = SL_SNAP_GET(s, SL_SNAP_PORTS, sl_snap_port, pi);
        for (uint32_t k = 0; k < p->certs.count; k++) {
            const sl_snap_cert *c = SL_SNAP_GET(s, SL_SNAP_CERTS, sl_snap_cert, p->certs.first + k);
            SSL_CTX *ctx = make_ctx(s, c, t);
            if (!ctx) {
                sl_log_error("tls", "cannot load the certificate of listener %u", c->listener);
                continue;
            }
            tls_cert *tc = &t->certs[t->ncerts++];
            tc->ctx = ctx;
            tc->port = pi;
            tc->listener = c->listener;
            tc->min_version = c->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
            tc->ciphers = c->ciphers.len ? strdup(sl_snap_cstr(s, c->ciphers)) : NULL;
            snprintf(tc->hostname, sizeof(tc->hostname), "%s", sl_snap_cstr(s, c->hostname));
        }
    }
    return t;
}

void sl_tls_free(sl_tls_ctx *t)
{
    if (!t || --t->refs > 0)
        return;
    for (uint32_t i = 0; i < t->ncerts; i++) {
        SSL_CTX_free(t->certs[i].ctx); /* open sessions hold their own reference */
        free(t->certs[i].ciphers);
    }
    free(t->certs);
    free(t);
}

SSL *sl_tls_accept(sl_tls_ctx *t, uint32_t port_index, int fd)
{
    if (!t)
        return NULL;
    const tls_cert *def = NULL;
    for (uint32_t i = 0; i < t->ncerts && !def; i++)
        if (t->certs[i].port == port_index)
            def = &t->certs[i];
    if (!def)
        return NULL;
    SSL *ssl = SSL_new(def->ctx);
    if (!ssl)
        return NULL;
    SSL_set_fd(ssl, fd);
    SSL_set_accept_state(ssl);
    SSL_set_ex_data(ssl, ex_chosen, (void *)def);
    t->refs++;
    SSL_set_ex_data(ssl, ex_owner, t);
    return ssl;
}

const char *sl_tls_chosen_hostname(SSL *ssl)
{
    const tls_cert *c = SSL_get_ex_data(ssl, ex_chosen);
    return c ? c->hostname : NULL;
}

/* Maps an OpenSSL failure to errno semantics. */
static ssize_t io_result(SSL *ssl, int rc, bool *want_other)
{
    int err = SSL_get_error(ssl, rc);
    switch (err) {
    case SSL_ERROR_WANT_READ: errno = EAGAIN; return -1;
    case SSL_ERROR_WANT_WRITE:
        *want_other = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (errno == 0)
            return 0; /* EOF without close_notify: treated as a close */
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

ssize_t sl_tls_read(SSL *ssl, void *buf, size_t len, bool *want_write)
{
    *want_write = false;
    errno = 0;
    int rc = SSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (rc > 0)
        return rc;
    /* Reading may need the socket writable (a handshake message to send). */
    bool want_other = false;
    ssize_t r = io_result(ssl, rc, &want_other);
    int err = SSL_get_error(ssl, rc);
    *want_write = err == SSL_ERROR_WANT_WRITE;
    return r;
}

ssize_t sl_tls_writev(SSL *ssl, const struct iovec *iov, int n, bool *want_read)
{
    *want_read = false;
    ssize_t total = 0;
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len == 0)
            continue;
        errno = 0;
        int rc = SSL_write(ssl, iov[i].iov_base, iov[i].iov_len > INT32_MAX ? INT32_MAX : (int)iov[i].iov_len);
        if (rc > 0) {
            total += rc;
            if ((size_t)rc < iov[i].iov_len)
                return total; /* partial: the caller waits for room */
            continue;
        }
        if (total)
            return total;
        bool dummy = false;
        int err = SSL_get_error(ssl, rc);
        *want_read = err == SSL_ERROR_WANT_READ;
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            errno = EAGAIN;
            return -1;
        }
        return io_result(ssl, rc, &dummy) == 0 ? (errno = EPIPE, -1) : -1;
    }
    return total;
}

void sl_tls_close(SSL *ssl)
{
    if (!ssl)
        return;
    if (SSL_is_init_finished(ssl))
        SSL_shutdown(ssl); /* one non-blocking try at close_notify */
    ERR_clear_error();
    sl_tls_ctx *owner = SSL_get_ex_data(ssl, ex_owner);
    SSL_free(ssl);
    sl_tls_free(owner);
}

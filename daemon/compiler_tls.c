/* Compiler, part 5: the certificates of HTTPS listeners. Each certificateRef names
 * a kubernetes.io/tls Secret (another namespace needs a ReferenceGrant from the
 * Gateway); its PEM is decoded and checked with OpenSSL here, in the master, so a
 * worker never receives a certificate it cannot load. Client certificate
 * validation comes from the Gateway's spec.tls.frontend (compiler_gateway_tls.c),
 * else from a TrafficPolicy's tls.clientCertificate. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "daemon/compiler_internal.h"

char *sl_base64_decode(const char *in, size_t *outlen)
{
    size_t n = strlen(in);
    if (n == 0 || n % 4)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out)
        abort();
    int len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (len < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts padding as data. */
    if (n >= 1 && in[n - 1] == '=')
        len--;
    if (n >= 2 && in[n - 2] == '=')
        len--;
    out[len] = '\0';
    *outlen = (size_t)len;
    return (char *)out;
}

bool sl_compile_pem_pair_usable(const char *cert, const char *key)
{
    BIO *cb = BIO_new_mem_buf(cert, -1), *kb = BIO_new_mem_buf(key, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    bool ok = x && k && X509_check_private_key(x, k) == 1;
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    return ok;
}

bool sl_compile_tls_secret(sl_compile_ctx *c, const char *ns, const char *name, char **cert, size_t *clen, char **key,
                           size_t *klen)
{
    const json_t *secret = NULL;
    size_t k;
    json_t *x;
    json_array_foreach(c->secrets, k, x) if (strcmp(sl_jmeta(x, "namespace"), ns) == 0 &&
                                             strcmp(sl_jmeta(x, "name"), name) == 0) secret = x;
    /* Only kubernetes.io/tls Secrets hold certificates with their keys. */
    if (!secret || strcmp(sl_js(secret, "type"), "kubernetes.io/tls") != 0)
        return false;
    const json_t *data = json_object_get(secret, "data");
    *cert = sl_base64_decode(sl_js(data, "tls.crt"), clen);
    *key = sl_base64_decode(sl_js(data, "tls.key"), klen);
    if (*cert && *key && sl_compile_pem_pair_usable(*cert, *key))
        return true;
    free(*cert);
    free(*key);
    *cert = *key = NULL;
    return false;
}

/* Fills the policy's options into a certificate record of the listener. Its
 * clientCertificate applies only where the Gateway's own client certificate
 * validation (spec.tls.frontend) does not (`frontend`). */
static void apply_tls_options(sl_compile_ctx *c, const json_t *gw, const json_t *tls, bool frontend, sl_snap_cert *rec)
{
    rec->min_version = strcmp(sl_js(tls, "minVersion"), "1.3") == 0 ? 13 : 12;
    char ciphers[2048] = "";
    size_t i, n = 0;
    json_t *x;
    json_array_foreach(json_object_get(tls, "ciphers"), i, x)
        n += (size_t)snprintf(ciphers + n, n < sizeof(ciphers) ? sizeof(ciphers) - n : 0, "%s%s", n ? ":" : "",
                              json_string_value(x));
    rec->ciphers = sl_sb_str(&c->b, n < sizeof(ciphers) ? ciphers : "");
    const json_t *cc = json_object_get(tls, "clientCertificate");
    if (cc && !frontend) {
        rec->client_cert = strcmp(sl_js(cc, "mode"), "Optional") == 0 ? SL_CLIENT_CERT_OPTIONAL : SL_CLIENT_CERT_REQUIRE;
        sl_ca_refs cas;
        sl_compile_ca_refs(c, NULL, sl_jmeta(gw, "namespace"), json_object_get(cc, "caCertificateRefs"), "ConfigMap",
                           &cas);
        rec->client_ca = sl_sb_strn(&c->b, cas.pem, cas.len);
        sl_ca_refs_free(&cas);
    }
}

uint8_t sl_compile_listener_certs(sl_compile_ctx *c, const json_t *gw, const json_t *listener, uint32_t listener_index,
                                  uint32_t port_index)
{
    const json_t *policy_tls = NULL;
    const json_t *tls = json_object_get(listener, "tls");
    const char *mode = json_object_get(tls, "mode") ? sl_js(tls, "mode") : "Terminate";
    if (strcmp(sl_js(listener, "protocol"), "TLS") == 0 && strcmp(mode, "Passthrough") == 0)
        return SL_TLS_OK; /* the backends hold the certificates */
    if (strcmp(sl_js(listener, "protocol"), "HTTPS") != 0 || strcmp(mode, "Terminate") != 0)
        return SL_TLS_UNSUPPORTED_MODE;
    const char *gw_ns = sl_jmeta(gw, "namespace");
    const json_t *refs = json_object_get(tls, "certificateRefs");
    uint8_t client_mode = SL_CLIENT_CERT_NONE;
    sl_ca_refs cas = {0};
    bool frontend = sl_compile_frontend_validation(c, gw, listener, listener_index, &client_mode, &cas);
    if (json_array_size(refs) == 0) {
        sl_ca_refs_free(&cas);
        return SL_TLS_INVALID_CERT_REF;
    }
    policy_tls = sl_compile_listener_section(c, gw, listener, "tls");
    uint8_t status = SL_TLS_OK;
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref)
    {
        const char *group = sl_js(ref, "group"), *kind = json_object_get(ref, "kind") ? sl_js(ref, "kind") : "Secret";
        const char *name = sl_js(ref, "name");
        const char *ns = json_object_get(ref, "namespace") ? sl_js(ref, "namespace") : gw_ns;
        if (group[0] || strcmp(kind, "Secret") != 0) {
            status = SL_TLS_INVALID_CERT_REF;
            continue;
        }
        if (strcmp(ns, gw_ns) != 0 && !sl_compile_granted(c, "Gateway", gw_ns, ns, "", "Secret", name)) {
            status = SL_TLS_REF_NOT_PERMITTED;
            continue;
        }
        size_t clen = 0, klen = 0;
        char *cert = NULL, *key = NULL;
        if (!sl_compile_tls_secret(c, ns, name, &cert, &clen, &key, &klen)) {
            sl_log_warn("compiler", "listener %s of gateway %s/%s: certificate %s/%s is missing or unusable",
                        sl_js(listener, "name"), gw_ns, sl_jmeta(gw, "name"), ns, name);
            status = SL_TLS_INVALID_CERT_REF;
            continue;
        }
        if (frontend && cas.usable == 0) {
            /* Client certificate validation without any usable CA: the listener is
             * not accepted (NoValidCACertificate), so it serves nothing. */
            free(cert);
            free(key);
            continue;
        }
        sl_snap_cert rec = {
            .listener = listener_index,
            .hostname = sl_sb_str(&c->b, sl_js(listener, "hostname")),
            .cert_pem = sl_sb_strn(&c->b, cert, clen),
            .key_pem = sl_sb_strn(&c->b, key, klen),
            .min_version = 12,
        };
        if (policy_tls)
            apply_tls_options(c, gw, policy_tls, frontend, &rec);
        if (frontend) {
            rec.client_cert = client_mode;
            rec.client_ca = sl_sb_strn(&c->b, cas.pem, cas.len);
        }
        free(cert);
        free(key);
        uint32_t ci = sl_sb_add(&c->b, SL_SNAP_CERTS, &rec);
        sl_snap_port *p = sl_sb_at(&c->b, SL_SNAP_PORTS, port_index);
        if (p->certs.count == 0)
            p->certs.first = ci;
        p->certs.count++;
    }
    sl_ca_refs_free(&cas);
    return status;
}

/* Compiler: CA certificate references. A BackendTLSPolicy's
 * validation.caCertificateRefs, a Gateway's client certificate validation
 * (spec.tls.frontend), a TrafficPolicy's tls.clientCertificate and a Backend's
 * tls.caCertificateRefs all name ConfigMaps or Secrets whose "ca.crt" holds PEM
 * certificates. Each reference is resolved here, once, together with the reason
 * it cannot be used, so that what a worker trusts and what status reports come
 * from the same decision. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "daemon/compiler_internal.h"

static const json_t *find_in(const json_t *list, const char *ns, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o) if (strcmp(sl_jmeta(o, "namespace"), ns) == 0 &&
                                       strcmp(sl_jmeta(o, "name"), name) == 0) return o;
    return NULL;
}

/* True when pem holds at least one certificate OpenSSL can read: a "ca.crt" of
 * anything else would leave the backend or listener with nothing to trust. */
static bool pem_has_certificate(const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    bool ok = x != NULL;
    X509_free(x);
    BIO_free(bio);
    ERR_clear_error();
    return ok;
}

/* Records the first problem (status reports one reason and one message). */
static void note(sl_ca_refs *out, uint8_t problem, const char *fmt, const char *kind, const char *ns, const char *name)
{
    if (out->problem != SL_REF_OK)
        return;
    out->problem = problem;
    snprintf(out->message, sizeof(out->message), fmt, kind, ns, name);
}

/* The PEM of one reference (malloc'd, *n set), NULL after noting why not. */
static char *resolve(sl_compile_ctx *c, const char *from_kind, const char *from_ns, const json_t *ref,
                     const char *default_kind, sl_ca_refs *out, size_t *n)
{
    const char *group = sl_js(ref, "group");
    const char *kind = json_object_get(ref, "kind") ? sl_js(ref, "kind") : default_kind;
    const char *name = sl_js(ref, "name");
    const char *ns = json_object_get(ref, "namespace") ? sl_js(ref, "namespace") : from_ns;
    bool configmap = strcmp(kind, "ConfigMap") == 0, secret = strcmp(kind, "Secret") == 0;
    if (group[0] || (!configmap && !secret)) {
        note(out, SL_REF_INVALID_KIND, "caCertificateRef %s %s/%s: only ConfigMaps and Secrets (group \"\") hold CA certificates",
             kind, ns, name);
        return NULL;
    }
    if (strcmp(ns, from_ns) != 0 && (!from_kind || !sl_compile_granted(c, from_kind, from_ns, ns, "", kind, name))) {
        note(out, SL_REF_NOT_PERMITTED, "caCertificateRef %s %s/%s: another namespace needs a ReferenceGrant there",
             kind, ns, name);
        return NULL;
    }
    const json_t *obj = find_in(configmap ? c->configmaps : c->secrets, ns, name);
    char *pem = NULL;
    if (configmap) {
        const char *v = sl_js(json_object_get(obj, "data"), "ca.crt");
        if (v[0]) {
            pem = strdup(v);
            *n = strlen(v);
            if (!pem)
                abort();
        }
    } else if (obj) {
        pem = sl_base64_decode(sl_js(json_object_get(obj, "data"), "ca.crt"), n);
    }
    if (!obj) {
        note(out, SL_REF_INVALID, "caCertificateRef %s %s/%s: not found", kind, ns, name);
    } else if (!pem) {
        note(out, SL_REF_INVALID, "caCertificateRef %s %s/%s: no \"ca.crt\" key", kind, ns, name);
    } else if (!pem_has_certificate(pem, *n)) {
        note(out, SL_REF_INVALID, "caCertificateRef %s %s/%s: \"ca.crt\" holds no PEM certificate", kind, ns, name);
        free(pem);
        pem = NULL;
    }
    return pem;
}

void sl_compile_ca_refs(sl_compile_ctx *c, const char *from_kind, const char *from_ns, const json_t *refs,
                        const char *default_kind, sl_ca_refs *out)
{
    memset(out, 0, sizeof(*out));
    out->pem = calloc(1, 1);
    if (!out->pem)
        abort();
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref)
    {
        out->total++;
        size_t n = 0;
        char *pem = resolve(c, from_kind, from_ns, ref, default_kind, out, &n);
        if (!pem)
            continue;
        char *grown = realloc(out->pem, out->len + n + 2);
        if (!grown)
            abort();
        memcpy(grown + out->len, pem, n);
        out->len += n;
        grown[out->len++] = '\n';
        grown[out->len] = '\0';
        out->pem = grown;
        out->usable++;
        free(pem);
    }
}

void sl_ca_refs_free(sl_ca_refs *r)
{
    free(r->pem);
    r->pem = NULL;
}

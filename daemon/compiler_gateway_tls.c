/* Compiler: a Gateway's own TLS settings (spec.tls, Gateway API v1.6). The
 * backend part names the client certificate its workers present to TLS backends
 * (tls.backend.clientCertificateRef, a kubernetes.io/tls Secret); the frontend
 * part asks HTTPS clients for certificates and checks them against CA
 * certificates (tls.frontend.default, or tls.frontend.perPort for the listeners
 * of one port: caCertificateRefs and mode AllowValidOnly or
 * AllowInsecureFallback). What does not resolve is recorded for status: the
 * Gateway's ResolvedRefs for the client certificate, each listener's
 * ResolvedRefs and Accepted for its CA certificates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/compiler_internal.h"

static const json_t *gateway_tls(const json_t *gw) { return json_object_get(json_object_get(gw, "spec"), "tls"); }

void sl_compile_gateway_backend_cert(sl_compile_ctx *c, const json_t *gw, sl_snap_gateway *g)
{
    const json_t *ref = json_object_get(json_object_get(gateway_tls(gw), "backend"), "clientCertificateRef");
    if (!ref)
        return;
    const char *gw_ns = sl_jmeta(gw, "namespace");
    const char *group = sl_js(ref, "group");
    const char *kind = json_object_get(ref, "kind") ? sl_js(ref, "kind") : "Secret";
    const char *name = sl_js(ref, "name");
    const char *ns = json_object_get(ref, "namespace") ? sl_js(ref, "namespace") : gw_ns;
    char msg[400];
    uint8_t status = SL_REF_OK;
    char *cert = NULL, *key = NULL;
    size_t clen = 0, klen = 0;
    if (group[0] || strcmp(kind, "Secret") != 0) {
        status = SL_REF_INVALID_KIND;
        snprintf(msg, sizeof(msg), "clientCertificateRef %s%s%s %s/%s: only Secrets (group \"\") hold client certificates",
                 group, group[0] ? "/" : "", kind, ns, name);
    } else if (strcmp(ns, gw_ns) != 0 && !sl_compile_granted(c, "Gateway", gw_ns, ns, "", "Secret", name)) {
        status = SL_REF_NOT_PERMITTED;
        snprintf(msg, sizeof(msg), "clientCertificateRef Secret %s/%s: another namespace needs a ReferenceGrant there",
                 ns, name);
    } else if (!sl_compile_tls_secret(c, ns, name, &cert, &clen, &key, &klen)) {
        status = SL_REF_INVALID;
        snprintf(msg, sizeof(msg),
                 "clientCertificateRef Secret %s/%s: not found, not of type kubernetes.io/tls, or its tls.crt and "
                 "tls.key are not a usable certificate and key",
                 ns, name);
    }
    g->backend_cert_status = status;
    if (status != SL_REF_OK) {
        /* TLS backends are then reached without a client certificate. */
        sl_log_warn("compiler", "gateway %s/%s: %s", gw_ns, sl_jmeta(gw, "name"), msg);
        g->backend_cert_message = sl_sb_str(&c->b, msg);
        return;
    }
    g->backend_cert_pem = sl_sb_strn(&c->b, cert, clen);
    g->backend_key_pem = sl_sb_strn(&c->b, key, klen);
    for (size_t i = 0; i < clen; i++)
        c->client_cert_digest = (c->client_cert_digest ^ (unsigned char)cert[i]) * 1099511628211ull;
    free(cert);
    free(key);
}

/* The TLSConfig of tls.frontend for a listener on `port`: the perPort entry for
 * that port, else the default. */
static const json_t *frontend_config(const json_t *frontend, long long port)
{
    size_t i;
    json_t *pp;
    json_array_foreach(json_object_get(frontend, "perPort"), i, pp) if (sl_ji(pp, "port", 0) == port) return json_object_get(pp, "tls");
    return json_object_get(frontend, "default");
}

bool sl_compile_frontend_validation(sl_compile_ctx *c, const json_t *gw, const json_t *listener,
                                    uint32_t listener_index, uint8_t *mode, sl_ca_refs *cas)
{
    const json_t *frontend = json_object_get(gateway_tls(gw), "frontend");
    const json_t *validation = json_object_get(frontend_config(frontend, sl_ji(listener, "port", 0)), "validation");
    if (!validation)
        return false;
    sl_compile_ca_refs(c, "Gateway", sl_jmeta(gw, "namespace"), json_object_get(validation, "caCertificateRefs"),
                       "ConfigMap", cas);
    *mode = strcmp(sl_js(validation, "mode"), "AllowInsecureFallback") == 0 ? SL_CLIENT_CERT_INSECURE_FALLBACK
                                                                              : SL_CLIENT_CERT_REQUIRE;
    if (cas->problem != SL_REF_OK)
        sl_log_warn("compiler", "listener %s of gateway %s/%s: client certificate validation: %s%s",
                    sl_js(listener, "name"), sl_jmeta(gw, "namespace"), sl_jmeta(gw, "name"), cas->message,
                    cas->usable ? "" : " (no usable CA: the listener serves nothing)");
    sl_snap_str message = sl_sb_str(&c->b, cas->message);
    sl_snap_listener *l = sl_sb_at(&c->b, SL_SNAP_LISTENERS, listener_index);
    l->frontend_status = cas->problem;
    l->frontend_no_ca = cas->usable == 0;
    l->frontend_message = message;
    return true;
}

/* Compiler: TLS towards backends. A Backend says it in spec.static (protocol
 * HTTPS, tls.sni, tls.caCertificateRefs, tls.insecureSkipVerify); a Service
 * port gets it from the BackendTLSPolicy that applies to it (backendtls_rules.h:
 * validation.hostname, subjectAltNames, caCertificateRefs or
 * wellKnownCACertificates). The CA certificates are copied into the snapshot as
 * one PEM bundle, so workers never read the store. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/backendtls_rules.h"
#include "daemon/compiler_internal.h"

/* Verification against the usable CA references (refs resolved in namespace ns). */
static void set_cas(sl_compile_ctx *c, const char *ns, const json_t *refs, const char *default_kind,
                    sl_snap_backend *be)
{
    sl_ca_refs cas;
    sl_compile_ca_refs(c, NULL, ns, refs, default_kind, &cas);
    if (cas.problem != SL_REF_OK)
        sl_log_warn("compiler", "backend %s/%s: %s", ns, sl_compile_str(c, be->name), cas.message);
    be->tls_verify = SL_UPTLS_VERIFY_CA;
    /* An empty bundle verifies nothing: requests fail with 502 rather than go
     * out unverified. */
    be->tls_ca = sl_sb_strn(&c->b, cas.pem, cas.len);
    sl_ca_refs_free(&cas);
}

static bool is_ip_literal(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

void sl_compile_static_tls(sl_compile_ctx *c, const char *ns, const json_t *st, sl_snap_backend *be)
{
    if (be->protocol != SL_BACKEND_HTTPS)
        return;
    const json_t *tls = json_object_get(st, "tls");
    const char *sni = sl_js(tls, "sni");
    if (!sni[0]) {
        /* Without tls.sni, the first host's name (not an address) is the name. */
        const char *host = sl_js(json_array_get(json_object_get(st, "hosts"), 0), "host");
        if (host[0] && !is_ip_literal(host))
            sni = host;
    }
    be->tls_sni = sl_sb_str(&c->b, sni);
    if (json_is_true(json_object_get(tls, "insecureSkipVerify"))) {
        be->tls_verify = SL_UPTLS_INSECURE;
        return;
    }
    const json_t *refs = json_object_get(tls, "caCertificateRefs");
    if (json_array_size(refs) == 0) {
        be->tls_verify = SL_UPTLS_VERIFY_SYSTEM;
        return;
    }
    set_cas(c, ns, refs, "Secret", be);
}

/* validation.subjectAltNames as the worker reads them: "DNS:<hostname>" or
 * "URI:<uri>", one per line. */
static sl_snap_str subject_alt_names(sl_compile_ctx *c, const json_t *validation)
{
    const json_t *list = json_object_get(validation, "subjectAltNames");
    size_t cap = 1, n = 0, i;
    json_t *san;
    json_array_foreach(list, i, san) cap += 5 + strlen(sl_js(san, "uri")) + strlen(sl_js(san, "hostname"));
    char *buf = malloc(cap);
    if (!buf)
        abort(); /* compiling: out of memory is fatal */
    buf[0] = '\0';
    json_array_foreach(list, i, san)
    {
        bool uri = strcmp(sl_js(san, "type"), "URI") == 0;
        n += (size_t)snprintf(buf + n, cap - n, "%s:%s\n", uri ? "URI" : "DNS", sl_js(san, uri ? "uri" : "hostname"));
    }
    sl_snap_str out = sl_sb_strn(&c->b, buf, n);
    free(buf);
    return out;
}

void sl_compile_service_tls(sl_compile_ctx *c, const char *ns, const char *service, const char *port_name,
                            sl_snap_backend *be)
{
    const json_t *policy = sl_btls_for_port(c->backendtlspolicies, ns, service, port_name);
    if (!policy)
        return;
    const json_t *v = json_object_get(json_object_get(policy, "spec"), "validation");
    be->protocol = SL_BACKEND_HTTPS;
    be->tls_sni = sl_sb_str(&c->b, sl_js(v, "hostname"));
    be->tls_sans = subject_alt_names(c, v);
    const char *well_known = sl_js(v, "wellKnownCACertificates");
    if (strcmp(well_known, "System") == 0) {
        be->tls_verify = SL_UPTLS_VERIFY_SYSTEM;
    } else if (well_known[0]) {
        /* A set sluice does not know (status: Accepted False, Invalid): nothing
         * to trust, so requests fail rather than go out unverified. */
        be->tls_verify = SL_UPTLS_VERIFY_CA;
        be->tls_ca = sl_sb_str(&c->b, "");
    } else {
        set_cas(c, ns, json_object_get(v, "caCertificateRefs"), "ConfigMap", be);
    }
}

/* FNV-1a, continued from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    for (const unsigned char *q = p; n--; q++)
        h = (h ^ *q) * 1099511628211ull;
    return h;
}

void sl_compile_tls_identity(sl_compile_ctx *c, sl_snap_backend *be)
{
    if (be->protocol != SL_BACKEND_HTTPS) {
        be->tls_identity = 0;
        return;
    }
    uint64_t h = 1469598103934665603ull;
    const sl_snap_str parts[] = {be->tls_sni, be->tls_ca, be->tls_sans};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        h = fnv(fnv(h, sl_compile_str(c, parts[i]), parts[i].len), "", 1);
    h = fnv(h, &be->tls_verify, 1);
    /* A worker presents its Gateway's client certificate: a changed certificate
     * must not reuse connections made with the old one. */
    h = fnv(h, &c->client_cert_digest, sizeof(c->client_cert_digest));
    be->tls_identity = h ? h : 1;
}

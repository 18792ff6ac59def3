/* Compiler: TLS towards backends. A Backend says it in spec.static (protocol
 * HTTPS, tls.sni, tls.caCertificateRefs, tls.insecureSkipVerify); a Service
 * port gets it from a BackendTLSPolicy that targets it (validation.hostname,
 * caCertificateRefs or wellKnownCACertificates: System). The CA certificates
 * are copied into the snapshot as one PEM bundle, so workers never read the
 * store. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/compiler_internal.h"

static const json_t *find_in(const json_t *list, const char *ns, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o) if (strcmp(sl_jmeta(o, "namespace"), ns) == 0 &&
                                       strcmp(sl_jmeta(o, "name"), name) == 0) return o;
    return NULL;
}

/* Appends the PEM of one CA reference (a ConfigMap's or Secret's "ca.crt")
 * to *bundle. Returns false when it is missing. */
static bool append_ca(sl_compile_ctx *c, const char *ns, const json_t *ref, const char *default_kind, char **bundle,
                      size_t *len)
{
    const char *kind = json_object_get(ref, "kind") ? sl_js(ref, "kind") : default_kind;
    const char *name = sl_js(ref, "name");
    char *pem = NULL;
    size_t n = 0;
    if (strcmp(kind, "ConfigMap") == 0) {
        const json_t *cm = find_in(c->configmaps, ns, name);
        const char *v = sl_js(json_object_get(cm, "data"), "ca.crt");
        if (cm && v[0]) {
            pem = strdup(v);
            n = strlen(v);
        }
    } else if (strcmp(kind, "Secret") == 0) {
        const json_t *sec = find_in(c->secrets, ns, name);
        if (sec)
            pem = sl_base64_decode(sl_js(json_object_get(sec, "data"), "ca.crt"), &n);
    }
    if (!pem) {
        sl_log_warn("compiler", "backend CA certificate %s %s/%s not found (no \"ca.crt\")", kind, ns, name);
        return false;
    }
    char *grown = realloc(*bundle, *len + n + 2);
    if (!grown)
        abort();
    memcpy(grown + *len, pem, n);
    *len += n;
    grown[(*len)++] = '\n';
    grown[*len] = '\0';
    *bundle = grown;
    free(pem);
    return true;
}

char *sl_compile_ca_bundle(sl_compile_ctx *c, const char *ns, const json_t *refs, const char *default_kind, size_t *len)
{
    char *bundle = NULL;
    *len = 0;
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref) append_ca(c, ns, ref, default_kind, &bundle, len);
    return bundle;
}

static void set_cas(sl_compile_ctx *c, const char *ns, const json_t *refs, const char *default_kind,
                    sl_snap_backend *be)
{
    size_t len;
    char *bundle = sl_compile_ca_bundle(c, ns, refs, default_kind, &len);
    be->tls_verify = SL_UPTLS_VERIFY_CA;
    /* An empty bundle verifies nothing: requests fail with 502 rather than go
     * out unverified. */
    be->tls_ca = sl_sb_strn(&c->b, bundle ? bundle : "", len);
    free(bundle);
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

/* Does the policy target this Service port (sectionName: the port's name)? */
static bool policy_targets(const json_t *policy, const char *service, const char *port_name)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(policy, "spec"), "targetRefs"), i, t)
    {
        const char *section = sl_js(t, "sectionName");
        if (sl_js(t, "group")[0] == '\0' && strcmp(sl_js(t, "kind"), "Service") == 0 &&
            strcmp(sl_js(t, "name"), service) == 0 && (!section[0] || strcmp(section, port_name) == 0))
            return true;
    }
    return false;
}

void sl_compile_service_tls(sl_compile_ctx *c, const char *ns, const char *service, const char *port_name,
                            sl_snap_backend *be)
{
    /* A policy naming the port (sectionName) wins over one for the whole Service;
     * among equals, the oldest (the Gateway API's conflict rule). */
    const json_t *best = NULL;
    int best_rank = -1;
    const char *best_created = "";
    size_t i;
    json_t *p;
    json_array_foreach(c->backendtlspolicies, i, p)
    {
        if (strcmp(sl_jmeta(p, "namespace"), ns) != 0 || !policy_targets(p, service, port_name))
            continue;
        int rank = 0;
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(json_object_get(p, "spec"), "targetRefs"), k, t)
            if (strcmp(sl_js(t, "name"), service) == 0 && sl_js(t, "sectionName")[0])
                rank = 1;
        const char *created = sl_jmeta(p, "creationTimestamp");
        if (rank > best_rank || (rank == best_rank && strcmp(created, best_created) < 0)) {
            best = p;
            best_rank = rank;
            best_created = created;
        }
    }
    if (!best)
        return;
    const json_t *v = json_object_get(json_object_get(best, "spec"), "validation");
    be->protocol = SL_BACKEND_HTTPS;
    be->tls_sni = sl_sb_str(&c->b, sl_js(v, "hostname"));
    if (strcmp(sl_js(v, "wellKnownCACertificates"), "System") == 0)
        be->tls_verify = SL_UPTLS_VERIFY_SYSTEM;
    else
        set_cas(c, ns, json_object_get(v, "caCertificateRefs"), "ConfigMap", be);
}

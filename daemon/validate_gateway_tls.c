/* Gateway spec.tls validation (Gateway API v1.6 GatewayTLSConfig): the backend
 * client certificate and the frontend client certificate validation, default
 * and per port. The CRD's schema and CEL rules; whether the references resolve
 * is for status (compiler_gateway_tls.c, gateway_tls_status.c). */
#include <string.h>

#include "daemon/validate.h"

static void check_namespace(sl_vctx *v, const json_t *ref)
{
    const char *ns = sl_v_get_string(v, ref, "namespace");
    if (ns && !sl_is_dns1123_label(ns))
        sl_v_invalid(v, "namespace", "must be a lowercase RFC 1123 label");
}

static void check_name(sl_vctx *v, const json_t *ref)
{
    const char *name = sl_v_req_string(v, ref, "name");
    if (name)
        sl_v_max_len(v, "name", name, 253);
}

/* tls.backend.clientCertificateRef: a SecretObjectReference (group "" and kind
 * Secret by default). */
static void check_backend(sl_vctx *v, const json_t *tls)
{
    const json_t *backend = sl_v_get_object(v, tls, "backend");
    if (!backend)
        return;
    size_t prev = sl_v_field(v, "backend");
    const json_t *ref = sl_v_get_object(v, backend, "clientCertificateRef");
    if (ref) {
        size_t p2 = sl_v_field(v, "clientCertificateRef");
        const char *group = sl_v_get_string(v, ref, "group");
        if (group && !sl_is_api_group(group))
            sl_v_invalid(v, "group", "must be empty or a DNS subdomain (lowercase alphanumerics, '-' and '.')");
        const char *kind = sl_v_get_string(v, ref, "kind");
        if (kind && !sl_is_api_kind(kind))
            sl_v_invalid(v, "kind", "must start with a letter and contain only alphanumerics and '-', at most 63 characters");
        check_name(v, ref);
        check_namespace(v, ref);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

/* A TLSConfig (frontend default or perPort[].tls): its validation, if any. */
static void check_tls_config(sl_vctx *v, const json_t *config)
{
    static const char *const modes[] = {"AllowValidOnly", "AllowInsecureFallback", NULL};
    const json_t *val = sl_v_get_object(v, config, "validation");
    if (!val)
        return;
    size_t prev = sl_v_field(v, "validation");
    const json_t *refs = sl_v_get_list(v, val, "caCertificateRefs", 1, 16, true);
    size_t i;
    const json_t *x;
    json_array_foreach(refs, i, x)
    {
        size_t p2 = sl_v_field(v, "caCertificateRefs");
        const json_t *r = sl_v_list_object(v, refs, i);
        if (r) {
            /* ObjectReference: group (may be ""), kind and name required. */
            sl_v_index(v, i);
            sl_v_local_object_ref(v, r);
            check_namespace(v, r);
        }
        sl_v_pop(v, p2);
    }
    const char *mode = sl_v_get_string(v, val, "mode");
    if (mode)
        sl_v_enum(v, "mode", mode, modes);
    sl_v_pop(v, prev);
}

static void check_frontend(sl_vctx *v, const json_t *tls)
{
    const json_t *frontend = sl_v_get_object(v, tls, "frontend");
    if (!frontend)
        return;
    size_t prev = sl_v_field(v, "frontend");
    const json_t *dflt = sl_v_get_object(v, frontend, "default");
    if (dflt) {
        size_t p2 = sl_v_field(v, "default");
        check_tls_config(v, dflt);
        sl_v_pop(v, p2);
    } else if (!sl_v_present(frontend, "default")) {
        sl_v_required(v, "default");
    }
    const json_t *per_port = sl_v_get_list(v, frontend, "perPort", 0, 64, false);
    size_t i;
    const json_t *x;
    json_array_foreach(per_port, i, x)
    {
        size_t p2 = sl_v_field(v, "perPort");
        const json_t *pp = sl_v_list_object(v, per_port, i);
        if (pp) {
            sl_v_index(v, i);
            long long port;
            if (sl_v_int_range(v, pp, "port", 1, 65535, true, &port)) {
                for (size_t j = 0; j < i; j++)
                    if (json_integer_value(json_object_get(json_array_get(per_port, j), "port")) == port) {
                        sl_v_fail(v, "port", "FieldValueDuplicate",
                                  "Duplicate value: %lld: port for TLS configuration must be unique within the Gateway",
                                  port);
                        break;
                    }
            }
            const json_t *config = sl_v_get_object(v, pp, "tls");
            if (config) {
                size_t p3 = sl_v_field(v, "tls");
                check_tls_config(v, config);
                sl_v_pop(v, p3);
            } else if (!sl_v_present(pp, "tls")) {
                sl_v_required(v, "tls");
            }
        }
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

void sl_v_gateway_tls(sl_vctx *v, const json_t *spec)
{
    const json_t *tls = sl_v_get_object(v, spec, "tls");
    if (!tls)
        return;
    size_t prev = sl_v_field(v, "tls");
    check_backend(v, tls);
    check_frontend(v, tls);
    sl_v_pop(v, prev);
}

/* GatewayClass, Gateway, ReferenceGrant and BackendTLSPolicy spec validation:
 * the Gateway API CRD schemas and CEL rules (v1.x), every problem with its path.
 * A Gateway's spec.tls is in validate_gateway_tls.c. */
#include "daemon/kinds.h"
#include "daemon/validate.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char *str_or(const json_t *obj, const char *key, const char *dflt)
{
    const json_t *x = json_object_get(obj, key);
    return json_is_string(x) ? json_string_value(x) : dflt;
}

static void check_kind_field(sl_vctx *v, const json_t *ref, bool required)
{
    const char *k = required ? sl_v_req_string(v, ref, "kind") : sl_v_get_string(v, ref, "kind");
    if (k && !sl_is_api_kind(k))
        sl_v_invalid(v, "kind", "must start with a letter and contain only alphanumerics and '-', at most 63 characters");
}

static void check_group_field(sl_vctx *v, const json_t *ref, bool required)
{
    /* A required group may still be "" (the core group): only absence is missing. */
    if (required && !sl_v_present(ref, "group")) {
        sl_v_required(v, "group");
        return;
    }
    const char *g = sl_v_get_string(v, ref, "group");
    if (g && !sl_is_api_group(g))
        sl_v_invalid(v, "group", "must be empty or a DNS subdomain (lowercase alphanumerics, '-' and '.')");
}

static void check_namespace_field(sl_vctx *v, const json_t *ref, bool required)
{
    const char *ns = required ? sl_v_req_string(v, ref, "namespace") : sl_v_get_string(v, ref, "namespace");
    if (ns && !sl_is_dns1123_label(ns))
        sl_v_invalid(v, "namespace", "must be a lowercase RFC 1123 label");
}

static void check_name_field(sl_vctx *v, const json_t *ref, bool required)
{
    const char *n = required ? sl_v_req_string(v, ref, "name") : sl_v_get_string(v, ref, "name");
    if (n && !*n)
        sl_v_invalid(v, "name", "must not be empty");
    else if (n)
        sl_v_max_len(v, "name", n, 253);
}

/* ---- GatewayClass ---- */

/* Validates a GatewayClass's spec; see kinds.h. */
void sl_validate_gatewayclass(sl_vctx *v, const json_t *obj)
{
    const json_t *spec = sl_v_spec(v, obj);
    if (!spec)
        return;
    size_t prev = sl_v_field(v, "spec");
    const char *ctl = sl_v_req_string(v, spec, "controllerName");
    if (ctl && sl_v_max_len(v, "controllerName", ctl, 253) && !sl_is_domain_prefixed(ctl, "/-._~%!$&'()*+,;=:"))
        sl_v_invalid(v, "controllerName", "must be a domain-prefixed path, e.g. \"sluice.dev/gateway-controller\"");
    const json_t *pr = sl_v_get_object(v, spec, "parametersRef");
    if (pr) {
        size_t p2 = sl_v_field(v, "parametersRef");
        check_group_field(v, pr, true);
        check_kind_field(v, pr, true);
        check_name_field(v, pr, true);
        check_namespace_field(v, pr, false);
        sl_v_pop(v, p2);
    }
    const char *desc = sl_v_get_string(v, spec, "description");
    if (desc)
        sl_v_max_len(v, "description", desc, 64);
    sl_v_pop(v, prev);
}

/* ---- Gateway ---- */

/* The CRD's ProtocolType: 1..255 characters, either a token of letters, digits and
 * '-' that starts and ends alphanumeric ("HTTP", "INVALID": the core names and any
 * other such token, which sluice stores and reports as an unsupported protocol in
 * the listener's status) or a domain-prefixed name ("example.com/proto"). */
static bool is_protocol(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 255)
        return false;
    bool token = isalnum((unsigned char)p[0]) && isalnum((unsigned char)p[n - 1]);
    for (const char *c = p; token && *c; c++)
        token = isalnum((unsigned char)*c) || *c == '-';
    return token || sl_is_domain_prefixed(p, "");
}

static bool proto_in(const char *p, const char *const *set)
{
    for (; p && *set; set++)
        if (strcmp(p, *set) == 0)
            return true;
    return false;
}

static void check_certificate_refs(sl_vctx *v, const json_t *tls)
{
    const json_t *refs = sl_v_get_list(v, tls, "certificateRefs", 0, 64, false);
    if (!refs)
        return;
    size_t prev = sl_v_field(v, "certificateRefs");
    size_t i;
    const json_t *x;
    json_array_foreach(refs, i, x)
    {
        const json_t *r = sl_v_list_object(v, refs, i);
        if (!r)
            continue;
        size_t p2 = sl_v_index(v, i);
        /* SecretObjectReference: group defaults to "" and kind to Secret; a kind
         * sluice cannot load is reported in the listener status (InvalidCertificateRef),
         * as the Gateway API asks, not refused here. */
        check_group_field(v, r, false);
        check_kind_field(v, r, false);
        check_name_field(v, r, true);
        check_namespace_field(v, r, false);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}


/* An `options` map (implementation-specific keys, at most 16): sluice defines
 * none there, so each key is refused rather than stored and ignored. */
static void refuse_options(sl_vctx *v, const json_t *parent, const char *message)
{
    sl_v_string_map(v, parent, "options", 16, 4096);
    const json_t *options = json_object_get(parent, "options");
    if (!json_is_object(options))
        return;
    size_t prev = sl_v_field(v, "options");
    const char *key;
    json_t *x;
    json_object_foreach((json_t *)options, key, x)
    {
        size_t p2 = sl_v_key(v, key);
        sl_v_fail(v, NULL, "FieldValueNotSupported", "%s", message);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

static void check_listener_tls(sl_vctx *v, const json_t *l, const char *proto)
{
    static const char *const modes[] = {"Terminate", "Passthrough", NULL};
    static const char *const no_tls[] = {"HTTP", "TCP", "UDP", NULL};
    const json_t *tls = sl_v_get_object(v, l, "tls");
    bool has_tls = sl_v_present(l, "tls") != NULL;
    if (has_tls && proto_in(proto, no_tls))
        sl_v_fail(v, "tls", "FieldValueForbidden", "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']");
    if (!has_tls && proto && strcmp(proto, "HTTPS") == 0)
        sl_v_fail(v, "tls", "FieldValueRequired", "Required value: tls must be specified for protocol HTTPS");
    if (!has_tls && proto && strcmp(proto, "TLS") == 0)
        sl_v_fail(v, "tls", "FieldValueRequired", "Required value: tls mode must be set for protocol TLS");
    if (!tls)
        return;
    size_t prev = sl_v_field(v, "tls");
    const char *mode = sl_v_get_string(v, tls, "mode");
    if (mode && !sl_v_enum(v, "mode", mode, modes))
        mode = NULL;
    else if (!mode && !sl_v_present(tls, "mode") && proto && strcmp(proto, "TLS") == 0)
        sl_v_fail(v, "mode", "FieldValueRequired", "Required value: tls mode must be set for protocol TLS");
    if (mode && proto && strcmp(proto, "HTTPS") == 0 && strcmp(mode, "Terminate") != 0)
        sl_v_invalid(v, "mode", "tls mode must be Terminate for protocol HTTPS");
    check_certificate_refs(v, tls);
    /* Implementation-specific keys: sluice defines none (TLS versions, ciphers
     * and client certificates are a TrafficPolicy's tls section, or
     * spec.tls.frontend). A key it would store and ignore is refused. */
    refuse_options(v, tls,
                   "Unsupported value: sluice defines no listener TLS options (use a TrafficPolicy's tls section or "
                   "spec.tls.frontend)");
    /* Terminate is the default mode, and it needs a certificate source. */
    bool terminate = mode ? strcmp(mode, "Terminate") == 0 : !sl_v_present(tls, "mode");
    if (terminate && json_array_size(json_object_get(tls, "certificateRefs")) == 0 &&
        json_object_size(json_object_get(tls, "options")) == 0)
        sl_v_fail(v, "certificateRefs", "FieldValueRequired", "Required value: certificateRefs or options must be specified when mode is Terminate");
    sl_v_pop(v, prev);
}

static void check_allowed_routes(sl_vctx *v, const json_t *l)
{
    static const char *const froms[] = {"All", "Same", "Selector", NULL};
    const json_t *ar = sl_v_get_object(v, l, "allowedRoutes");
    if (!ar)
        return;
    size_t prev = sl_v_field(v, "allowedRoutes");
    const json_t *ns = sl_v_get_object(v, ar, "namespaces");
    if (ns) {
        size_t p2 = sl_v_field(v, "namespaces");
        const char *from = sl_v_get_string(v, ns, "from");
        bool selector_mode = from && sl_v_enum(v, "from", from, froms) && strcmp(from, "Selector") == 0;
        if (selector_mode && !sl_v_present(ns, "selector"))
            sl_v_fail(v, "selector", "FieldValueRequired", "Required value: selector must be specified when from is Selector");
        sl_v_label_selector(v, ns, "selector");
        sl_v_pop(v, p2);
    }
    const json_t *kinds = sl_v_get_list(v, ar, "kinds", 0, 8, false);
    size_t i;
    const json_t *x;
    json_array_foreach(kinds, i, x)
    {
        size_t p2 = sl_v_field(v, "kinds");
        const json_t *k = sl_v_list_object(v, kinds, i);
        if (k) {
            sl_v_index(v, i);
            check_group_field(v, k, false);
            check_kind_field(v, k, true);
        }
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

static void check_listener(sl_vctx *v, const json_t *l)
{
    static const char *const no_hostname[] = {"TCP", "UDP", NULL};
    const char *name = sl_v_req_string(v, l, "name");
    if (name && !sl_is_section_name(name))
        sl_v_invalid(v, "name", "must be lowercase alphanumerics, '-' or '.', starting and ending with an alphanumeric, at most 253 characters");
    const char *host = sl_v_get_string(v, l, "hostname");
    if (host && !sl_is_gateway_hostname(host))
        sl_v_invalid(v, "hostname", "must be a lowercase RFC 1123 hostname, optionally prefixed by \"*.\"; IP addresses are not allowed");
    sl_v_int_range(v, l, "port", 1, 65535, true, NULL);
    const char *proto = sl_v_req_string(v, l, "protocol");
    if (proto && !is_protocol(proto)) {
        sl_v_invalid(v, "protocol", "must be 1 to 255 letters, digits or '-', starting and ending with a letter or digit (e.g. \"HTTP\"), or a domain-prefixed name (e.g. \"example.com/proto\")");
        proto = NULL;
    }
    if (sl_v_present(l, "hostname") && proto_in(proto, no_hostname))
        sl_v_fail(v, "hostname", "FieldValueForbidden", "hostname must not be specified for protocols ['TCP', 'UDP']");
    check_listener_tls(v, l, proto);
    check_allowed_routes(v, l);
}

/* Listener names are unique, and so is each (port, protocol, hostname). */
static void check_listener_uniqueness(sl_vctx *v, const json_t *listeners)
{
    size_t n = json_array_size(listeners);
    for (size_t j = 1; j < n; j++) {
        const json_t *b = json_array_get(listeners, j);
        if (!json_is_object(b))
            continue;
        size_t prev = sl_v_index(v, j);
        for (size_t i = 0; i < j; i++) {
            const json_t *a = json_array_get(listeners, i);
            if (json_is_object(a) && json_is_string(json_object_get(b, "name")) &&
                strcmp(str_or(a, "name", ""), str_or(b, "name", "")) == 0) {
                sl_v_fail(v, "name", "FieldValueDuplicate", "Duplicate value: \"%s\": listener names must be unique within the Gateway", str_or(b, "name", ""));
                break;
            }
        }
        for (size_t i = 0; i < j; i++) {
            const json_t *a = json_array_get(listeners, i);
            if (json_is_object(a) && json_is_integer(json_object_get(b, "port")) &&
                json_equal(json_object_get(a, "port"), json_object_get(b, "port")) &&
                strcmp(str_or(a, "protocol", ""), str_or(b, "protocol", "")) == 0 &&
                strcmp(str_or(a, "hostname", ""), str_or(b, "hostname", "")) == 0) {
                sl_v_fail(v, NULL, "FieldValueDuplicate", "Duplicate value: combination of port, protocol and hostname must be unique for each listener (same as listeners[%zu])", i);
                break;
            }
        }
        sl_v_pop(v, prev);
    }
}

static bool is_hostname_address(const char *s)
{
    return sl_is_dns1123_subdomain(strncmp(s, "*.", 2) == 0 ? s + 2 : s);
}

static void check_addresses(sl_vctx *v, const json_t *spec)
{
    const json_t *list = sl_v_get_list(v, spec, "addresses", 0, 16, false);
    if (!list)
        return;
    size_t prev = sl_v_field(v, "addresses");
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        const json_t *a = sl_v_list_object(v, list, i);
        if (!a)
            continue;
        size_t p2 = sl_v_index(v, i);
        const char *type = sl_v_get_string(v, a, "type");
        if (!type && !sl_v_present(a, "type"))
            type = "IPAddress";
        else if (type && strcmp(type, "IPAddress") != 0 && strcmp(type, "Hostname") != 0 &&
                 strcmp(type, "NamedAddress") != 0 && !sl_is_domain_prefixed(type, "")) {
            sl_v_fail(v, "type", "FieldValueNotSupported", "Unsupported value: \"%s\": supported values: \"IPAddress\", \"Hostname\", \"NamedAddress\" or a domain-prefixed type", type);
            type = NULL;
        }
        /* An omitted value asks the implementation to assign an address. */
        const char *value = sl_v_get_string(v, a, "value");
        if (value && type && sl_v_max_len(v, "value", value, 253)) {
            if (strcmp(type, "IPAddress") == 0 && !sl_is_ip_literal(value))
                sl_v_invalid(v, "value", "must be a valid IP address");
            else if (strcmp(type, "Hostname") == 0 && !is_hostname_address(value))
                sl_v_invalid(v, "value", "must only contain valid characters (matching ^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$)");
            for (size_t j = 0; value && j < i; j++) {
                const json_t *o = json_array_get(list, j);
                if (strcmp(str_or(o, "type", "IPAddress"), type) == 0 && strcmp(str_or(o, "value", ""), value) == 0) {
                    sl_v_fail(v, "value", "FieldValueDuplicate", "Duplicate value: \"%s\"", value);
                    break;
                }
            }
        }
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

static void check_infrastructure(sl_vctx *v, const json_t *spec)
{
    const json_t *inf = sl_v_get_object(v, spec, "infrastructure");
    if (!inf)
        return;
    size_t prev = sl_v_field(v, "infrastructure");
    sl_v_string_map(v, inf, "labels", 8, 63);
    sl_v_string_map(v, inf, "annotations", 8, 4096);
    const json_t *pr = sl_v_get_object(v, inf, "parametersRef");
    if (pr) {
        size_t p2 = sl_v_field(v, "parametersRef");
        sl_v_local_object_ref(v, pr);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

/* Validates a Gateway's spec; see kinds.h. */
void sl_validate_gateway(sl_vctx *v, const json_t *obj)
{
    const json_t *spec = sl_v_spec(v, obj);
    if (!spec)
        return;
    size_t prev = sl_v_field(v, "spec");
    const char *gc = sl_v_req_string(v, spec, "gatewayClassName");
    if (gc && !sl_is_dns1123_subdomain(gc))
        sl_v_invalid(v, "gatewayClassName", "must be a lowercase RFC 1123 subdomain");
    const json_t *listeners = sl_v_get_list(v, spec, "listeners", 1, 64, true);
    if (listeners) {
        size_t p2 = sl_v_field(v, "listeners");
        size_t i;
        const json_t *x;
        json_array_foreach(listeners, i, x)
        {
            const json_t *l = sl_v_list_object(v, listeners, i);
            if (!l)
                continue;
            size_t p3 = sl_v_index(v, i);
            check_listener(v, l);
            sl_v_pop(v, p3);
        }
        check_listener_uniqueness(v, listeners);
        sl_v_pop(v, p2);
    }
    check_addresses(v, spec);
    check_infrastructure(v, spec);
    sl_v_gateway_tls(v, spec);
    sl_v_pop(v, prev);
}

/* ---- ReferenceGrant ---- */

static void check_grant_list(sl_vctx *v, const json_t *spec, const char *key, bool from)
{
    const json_t *list = sl_v_get_list(v, spec, key, 1, 16, true);
    if (!list)
        return;
    size_t prev = sl_v_field(v, key);
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        const json_t *e = sl_v_list_object(v, list, i);
        if (!e)
            continue;
        size_t p2 = sl_v_index(v, i);
        check_group_field(v, e, true);
        check_kind_field(v, e, true);
        if (from)
            check_namespace_field(v, e, true);
        else
            check_name_field(v, e, false);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

/* Validates a ReferenceGrant's spec; see kinds.h. */
void sl_validate_referencegrant(sl_vctx *v, const json_t *obj)
{
    const json_t *spec = sl_v_spec(v, obj);
    if (!spec)
        return;
    size_t prev = sl_v_field(v, "spec");
    check_grant_list(v, spec, "from", true);
    check_grant_list(v, spec, "to", false);
    sl_v_pop(v, prev);
}

/* ---- BackendTLSPolicy ---- */

static void check_subject_alt_names(sl_vctx *v, const json_t *val)
{
    static const char *const types[] = {"Hostname", "URI", NULL};
    const json_t *list = sl_v_get_list(v, val, "subjectAltNames", 0, 5, false);
    if (!list)
        return;
    size_t prev = sl_v_field(v, "subjectAltNames");
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x)
    {
        const json_t *s = sl_v_list_object(v, list, i);
        if (!s)
            continue;
        size_t p2 = sl_v_index(v, i);
        const char *type = sl_v_req_string(v, s, "type");
        if (type && sl_v_enum(v, "type", type, types)) {
            bool host = strcmp(type, "Hostname") == 0;
            const char *want = host ? "hostname" : "uri", *other = host ? "uri" : "hostname";
            if (!sl_v_present(s, want))
                sl_v_required(v, want);
            if (sl_v_present(s, other))
                sl_v_fail(v, other, "FieldValueForbidden", "%s must not be set when type is %s", other, type);
        }
        const char *h = sl_v_get_string(v, s, "hostname");
        if (h && !sl_is_gateway_hostname(h))
            sl_v_invalid(v, "hostname", "must be a lowercase RFC 1123 hostname, optionally prefixed by \"*.\"");
        const char *uri = sl_v_get_string(v, s, "uri");
        if (uri && (!strstr(uri, "://") || strlen(uri) > 253))
            sl_v_invalid(v, "uri", "must be an absolute URI of at most 253 characters");
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

/* WellKnownCACertificatesType: "System", or an implementation's own set
 * ("example.com/name"; sluice knows none, which status reports as Invalid). */
static bool is_well_known_ca_set(const char *w)
{
    if (strcmp(w, "System") == 0)
        return true;
    const char *slash = strchr(w, '/');
    size_t n = slash ? strlen(slash + 1) : 0;
    if (!slash || strlen(w) > 253 || n == 0 || n > 63 || !isalnum((unsigned char)slash[1]) ||
        !isalnum((unsigned char)slash[n]))
        return false;
    return sl_is_domain_prefixed(w, "-_.");
}

/* sluice applies BackendTLSPolicy to core Services only (the Gateway API's
 * Extended support); other targets are refused rather than silently unused. */
static void check_btls_targets(sl_vctx *v, const json_t *spec)
{
    const json_t *refs = json_object_get(spec, "targetRefs");
    size_t prev = sl_v_field(v, "targetRefs");
    size_t i;
    const json_t *t;
    json_array_foreach(refs, i, t)
    {
        const char *group = str_or(t, "group", NULL), *kind = str_or(t, "kind", NULL);
        size_t p2 = sl_v_index(v, i);
        if (group && group[0])
            sl_v_fail(v, "group", "FieldValueNotSupported",
                      "Unsupported value: \"%s\": sluice applies BackendTLSPolicy to core Services (group \"\")", group);
        else if (kind && strcmp(kind, "Service") != 0)
            sl_v_fail(v, "kind", "FieldValueNotSupported",
                      "Unsupported value: \"%s\": sluice applies BackendTLSPolicy to Services only", kind);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

/* options: implementation-specific keys; sluice defines none, so any key would
 * be accepted and then ignored: refused instead. */
static void check_btls_options(sl_vctx *v, const json_t *spec)
{
    refuse_options(v, spec, "Unsupported value: sluice defines no BackendTLSPolicy options");
}

static void check_tls_validation(sl_vctx *v, const json_t *spec)
{
    const json_t *val = sl_v_get_object(v, spec, "validation");
    if (!val) {
        if (!sl_v_present(spec, "validation"))
            sl_v_required(v, "validation");
        return;
    }
    size_t prev = sl_v_field(v, "validation");
    const json_t *cas = sl_v_get_list(v, val, "caCertificateRefs", 0, 8, false);
    size_t i;
    const json_t *x;
    json_array_foreach(cas, i, x)
    {
        size_t p2 = sl_v_field(v, "caCertificateRefs");
        const json_t *r = sl_v_list_object(v, cas, i);
        if (r) {
            sl_v_index(v, i);
            sl_v_local_object_ref(v, r);
        }
        sl_v_pop(v, p2);
    }
    const char *w = sl_v_get_string(v, val, "wellKnownCACertificates");
    if (w && !is_well_known_ca_set(w))
        sl_v_invalid(v, "wellKnownCACertificates",
                     "must be \"System\" or a domain-prefixed name such as \"example.com/my-cas\"");
    bool has_cas = json_array_size(cas) > 0, has_wk = sl_v_present(val, "wellKnownCACertificates") != NULL;
    if (has_cas && has_wk)
        sl_v_fail(v, "wellKnownCACertificates", "FieldValueForbidden", "must not contain both caCertificateRefs and wellKnownCACertificates");
    else if (!has_cas && !has_wk)
        sl_v_fail(v, "caCertificateRefs", "FieldValueRequired", "Required value: must specify either caCertificateRefs or wellKnownCACertificates");
    const char *host = sl_v_req_string(v, val, "hostname");
    if (host && (strncmp(host, "*.", 2) == 0 || !sl_is_gateway_hostname(host)))
        sl_v_invalid(v, "hostname", "must be a lowercase RFC 1123 hostname without wildcard; IP addresses are not allowed");
    check_subject_alt_names(v, val);
    sl_v_pop(v, prev);
}

/* Validates a BackendTLSPolicy's spec; see kinds.h. */
void sl_validate_backendtlspolicy(sl_vctx *v, const json_t *obj)
{
    const json_t *spec = sl_v_spec(v, obj);
    if (!spec)
        return;
    size_t prev = sl_v_field(v, "spec");
    sl_v_policy_target_refs(v, spec, NULL);
    check_btls_targets(v, spec);
    check_tls_validation(v, spec);
    check_btls_options(v, spec);
    sl_v_pop(v, prev);
}

/* Core kinds (Namespace, Service, Secret, ConfigMap) and discovery.k8s.io
 * EndpointSlice: the subset of Kubernetes' own validation that sluice relies on,
 * with the same field paths Kubernetes reports. */
#include "daemon/kinds.h"
#include "daemon/validate.h"

#include <string.h>

static const char *const l4_protocols[] = {"TCP", "UDP", "SCTP", NULL};

static const char *str_or(const json_t *obj, const char *key, const char *dflt)
{
    const json_t *x = json_object_get(obj, key);
    return json_is_string(x) ? json_string_value(x) : dflt;
}

/* ---- Namespace ---- */

/* Validates a Namespace: nothing beyond metadata, except spec.finalizers. */
void sl_validate_namespace(sl_vctx *v, const json_t *obj)
{
    const json_t *spec = sl_v_get_object(v, obj, "spec");
    if (!spec)
        return;
    size_t prev = sl_v_field(v, "spec");
    const json_t *fin = sl_v_get_array(v, spec, "finalizers");
    size_t i;
    const json_t *f;
    json_array_foreach(fin, i, f)
    {
        size_t p2 = sl_v_field(v, "finalizers");
        sl_v_index(v, i);
        if (!json_is_string(f))
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be a string");
        else if (!sl_is_qualified_name(json_string_value(f)))
            sl_v_invalid(v, NULL, "must be a qualified name");
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

/* ---- Service ---- */

static void check_target_port(sl_vctx *v, const json_t *port)
{
    const json_t *tp = sl_v_present(port, "targetPort");
    if (!tp)
        return;
    if (json_is_integer(tp)) {
        sl_v_int_range(v, port, "targetPort", 1, 65535, false, NULL);
    } else if (json_is_string(tp)) {
        if (!sl_is_iana_svc_name(json_string_value(tp)))
            sl_v_invalid(v, "targetPort", "must be a port number (1-65535) or an IANA service name (at most 15 lowercase alphanumerics or '-', with at least one letter)");
    } else {
        sl_v_fail(v, "targetPort", "FieldValueTypeInvalid", "must be an integer or a string");
    }
}

static void check_service_port(sl_vctx *v, const json_t *ports, size_t i, size_t nports)
{
    const json_t *p = json_array_get(ports, i);
    const char *name = sl_v_get_string(v, p, "name");
    if (name && *name && !sl_is_dns1123_label(name))
        sl_v_invalid(v, "name", "must be a lowercase RFC 1123 label");
    else if (nports > 1 && (name ? !*name : !sl_v_present(p, "name")))
        sl_v_required(v, "name"); /* names tell several ports apart */
    for (size_t j = 0; name && *name && j < i; j++)
        if (strcmp(str_or(json_array_get(ports, j), "name", ""), name) == 0) {
            sl_v_fail(v, "name", "FieldValueDuplicate", "Duplicate value: \"%s\"", name);
            break;
        }
    long long port = 0;
    bool has_port = sl_v_int_range(v, p, "port", 1, 65535, true, &port);
    const char *proto = sl_v_get_string(v, p, "protocol");
    if (proto)
        sl_v_enum(v, "protocol", proto, l4_protocols);
    /* Kubernetes refuses two entries for the same port and protocol. */
    for (size_t j = 0; has_port && j < i; j++) {
        const json_t *o = json_array_get(ports, j);
        const json_t *op = json_object_get(o, "port");
        if (json_is_integer(op) && json_integer_value(op) == port &&
            strcmp(str_or(o, "protocol", "TCP"), proto ? proto : "TCP") == 0) {
            sl_v_fail(v, NULL, "FieldValueDuplicate", "Duplicate value: port %lld/%s is already listed", port, proto ? proto : "TCP");
            break;
        }
    }
    check_target_port(v, p);
    sl_v_int_range(v, p, "nodePort", 0, 65535, false, NULL);
    const char *app = sl_v_get_string(v, p, "appProtocol");
    if (app && !sl_is_qualified_name(app))
        sl_v_invalid(v, "appProtocol", "must be a qualified name (e.g. \"http\", \"kubernetes.io/h2c\")");
}

static void check_service_ports(sl_vctx *v, const json_t *spec, bool ports_required)
{
    const json_t *ports = sl_v_get_list(v, spec, "ports", 0, 65535, ports_required);
    if (!ports)
        return;
    size_t prev = sl_v_field(v, "ports");
    size_t n = json_array_size(ports);
    for (size_t i = 0; i < n; i++) {
        if (!sl_v_list_object(v, ports, i))
            continue;
        size_t p2 = sl_v_index(v, i);
        check_service_port(v, ports, i, n);
        sl_v_pop(v, p2);
    }
    sl_v_pop(v, prev);
}

static void check_cluster_ips(sl_vctx *v, const json_t *spec)
{
    const char *ip = sl_v_get_string(v, spec, "clusterIP");
    if (ip && *ip && strcmp(ip, "None") != 0 && !sl_is_ip_literal(ip))
        sl_v_invalid(v, "clusterIP", "must be empty, 'None', or a valid IP address");
    const json_t *ips = sl_v_get_list(v, spec, "clusterIPs", 0, 2, false);
    size_t i;
    const json_t *x;
    json_array_foreach(ips, i, x)
    {
        size_t prev = sl_v_field(v, "clusterIPs");
        sl_v_index(v, i);
        const char *s = json_string_value(x);
        if (!s)
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be a string");
        else if (*s && strcmp(s, "None") != 0 && !sl_is_ip_literal(s))
            sl_v_invalid(v, NULL, "must be empty, 'None', or a valid IP address");
        sl_v_pop(v, prev);
    }
}

static void check_service_selector(sl_vctx *v, const json_t *spec)
{
    const json_t *sel = sl_v_get_object(v, spec, "selector");
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)sel, k, val)
    {
        size_t prev = sl_v_field(v, "selector");
        sl_v_key(v, k);
        if (!sl_is_qualified_name(k))
            sl_v_invalid(v, NULL, "key must be a qualified name");
        if (!json_is_string(val))
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be a string");
        else if (!sl_is_label_value(json_string_value(val)))
            sl_v_invalid(v, NULL, "must be a valid label value");
        sl_v_pop(v, prev);
    }
}

/* Validates a Service's spec (and the DNS-1035 rule on its name); see kinds.h. */
void sl_validate_service(sl_vctx *v, const json_t *obj)
{
    static const char *const types[] = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName", NULL};
    static const char *const affinities[] = {"ClientIP", "None", NULL};
    static const char *const traffic[] = {"Cluster", "Local", NULL};
    /* Service names become DNS labels that must start with a letter; the caller
     * already reports names that are not DNS-1123 labels at all. */
    const char *name = str_or(json_object_get(obj, "metadata"), "name", NULL);
    if (name && sl_is_dns1123_label(name) && !sl_is_dns1035_label(name))
        sl_v_invalid(v, "metadata.name", "a DNS-1035 label must start with a lowercase letter");
    const json_t *spec = sl_v_spec(v, obj);
    if (!spec)
        return;
    size_t prev = sl_v_field(v, "spec");
    const char *type = sl_v_get_string(v, spec, "type");
    if (type && !sl_v_enum(v, "type", type, types))
        type = NULL;
    bool external = type && strcmp(type, "ExternalName") == 0;
    if (external) {
        const char *en = sl_v_req_string(v, spec, "externalName");
        if (en && !sl_is_dns1123_subdomain(en))
            sl_v_invalid(v, "externalName", "must be a lowercase RFC 1123 subdomain");
    }
    bool headless = strcmp(str_or(spec, "clusterIP", ""), "None") == 0;
    check_service_ports(v, spec, !external && !headless);
    check_cluster_ips(v, spec);
    check_service_selector(v, spec);
    const char *aff = sl_v_get_string(v, spec, "sessionAffinity");
    if (aff)
        sl_v_enum(v, "sessionAffinity", aff, affinities);
    const char *etp = sl_v_get_string(v, spec, "externalTrafficPolicy");
    if (etp)
        sl_v_enum(v, "externalTrafficPolicy", etp, traffic);
    const char *itp = sl_v_get_string(v, spec, "internalTrafficPolicy");
    if (itp)
        sl_v_enum(v, "internalTrafficPolicy", itp, traffic);
    sl_v_pop(v, prev);
}

/* ---- Secret and ConfigMap ---- */

/* Checks a key -> value map at obj.key. Values must be strings, and base64 when
 * `base64`. Bad keys and values are reported at "key[name]", as Kubernetes does. */
static void check_data_map(sl_vctx *v, const json_t *obj, const char *key, bool base64)
{
    const json_t *m = sl_v_get_object(v, obj, key);
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)m, k, val)
    {
        size_t prev = sl_v_field(v, key);
        sl_v_key(v, k);
        if (!sl_is_config_key(k))
            sl_v_invalid(v, NULL, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
        if (!json_is_string(val))
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be a string");
        else if (base64 && !sl_is_base64(json_string_value(val)))
            sl_v_invalid(v, NULL, "must be base64-encoded (standard alphabet, with padding)");
        sl_v_pop(v, prev);
    }
}

static bool has_key(const json_t *obj, const char *map, const char *key)
{
    return sl_v_present(json_object_get(obj, map), key) != NULL;
}

/* Validates a Secret's type, data and stringData; see kinds.h. */
void sl_validate_secret(sl_vctx *v, const json_t *obj)
{
    static const char *const tls_keys[] = {"tls.crt", "tls.key"};
    const char *type = sl_v_get_string(v, obj, "type");
    check_data_map(v, obj, "data", true);
    check_data_map(v, obj, "stringData", false);
    bool immutable;
    sl_v_get_bool(v, obj, "immutable", &immutable);
    if (type && strcmp(type, "kubernetes.io/tls") == 0) {
        /* stringData is merged into data on write, so either may carry a key. */
        for (size_t i = 0; i < 2; i++) {
            if (has_key(obj, "data", tls_keys[i]) || has_key(obj, "stringData", tls_keys[i]))
                continue;
            size_t prev = sl_v_field(v, "data");
            sl_v_key(v, tls_keys[i]);
            sl_v_required(v, NULL);
            sl_v_pop(v, prev);
        }
    }
}

/* Validates a ConfigMap's data and binaryData; see kinds.h. */
void sl_validate_configmap(sl_vctx *v, const json_t *obj)
{
    check_data_map(v, obj, "data", false);
    check_data_map(v, obj, "binaryData", true);
    bool immutable;
    sl_v_get_bool(v, obj, "immutable", &immutable);
    const json_t *bin = json_object_get(obj, "binaryData");
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)(json_is_object(bin) ? bin : NULL), k, val)
    {
        if (!has_key(obj, "data", k))
            continue;
        size_t prev = sl_v_field(v, "data");
        sl_v_key(v, k);
        sl_v_fail(v, NULL, "FieldValueDuplicate", "duplicate of key present in binaryData");
        sl_v_pop(v, prev);
    }
}

/* ---- EndpointSlice ---- */

static bool address_ok(const char *type, const char *addr)
{
    if (strcmp(type, "IPv4") == 0)
        return sl_is_ipv4(addr);
    if (strcmp(type, "IPv6") == 0)
        return sl_is_ipv6(addr);
    return sl_is_dns1123_subdomain(addr);
}

static void check_endpoint(sl_vctx *v, const json_t *ep, const char *type)
{
    const json_t *addrs = sl_v_get_list(v, ep, "addresses", 1, 100, true);
    size_t i;
    const json_t *a;
    json_array_foreach(addrs, i, a)
    {
        size_t prev = sl_v_field(v, "addresses");
        sl_v_index(v, i);
        if (!json_is_string(a))
            sl_v_fail(v, NULL, "FieldValueTypeInvalid", "must be a string");
        else if (type && !address_ok(type, json_string_value(a)))
            sl_v_invalid(v, NULL, "must be a valid %s address", strcmp(type, "FQDN") == 0 ? "FQDN (RFC 1123 subdomain)" : type);
        sl_v_pop(v, prev);
    }
    const json_t *cond = sl_v_get_object(v, ep, "conditions");
    if (cond) {
        static const char *const names[] = {"ready", "serving", "terminating"};
        size_t prev = sl_v_field(v, "conditions");
        bool b;
        for (size_t k = 0; k < 3; k++)
            sl_v_get_bool(v, cond, names[k], &b);
        sl_v_pop(v, prev);
    }
    const char *host = sl_v_get_string(v, ep, "hostname");
    if (host && !sl_is_dns1123_label(host))
        sl_v_invalid(v, "hostname", "must be a lowercase RFC 1123 label");
    const char *node = sl_v_get_string(v, ep, "nodeName");
    if (node && !sl_is_dns1123_subdomain(node))
        sl_v_invalid(v, "nodeName", "must be a lowercase RFC 1123 subdomain");
    sl_v_get_string(v, ep, "zone");
    sl_v_get_object(v, ep, "targetRef");
}

static void check_endpoint_port(sl_vctx *v, const json_t *ports, size_t i)
{
    const json_t *p = json_array_get(ports, i);
    const char *name = sl_v_get_string(v, p, "name");
    if (name && *name && !sl_is_dns1123_label(name))
        sl_v_invalid(v, "name", "must be empty or a lowercase RFC 1123 label");
    for (size_t j = 0; name && j < i; j++)
        if (strcmp(str_or(json_array_get(ports, j), "name", ""), name) == 0) {
            sl_v_fail(v, "name", "FieldValueDuplicate", "Duplicate value: \"%s\"", name);
            break;
        }
    sl_v_int_range(v, p, "port", 0, 65535, false, NULL);
    const char *proto = sl_v_get_string(v, p, "protocol");
    if (proto)
        sl_v_enum(v, "protocol", proto, l4_protocols);
    const char *app = sl_v_get_string(v, p, "appProtocol");
    if (app && !sl_is_qualified_name(app))
        sl_v_invalid(v, "appProtocol", "must be a qualified name");
}

/* Validates an EndpointSlice's addressType, endpoints and ports; see kinds.h. */
void sl_validate_endpointslice(sl_vctx *v, const json_t *obj)
{
    static const char *const types[] = {"IPv4", "IPv6", "FQDN", NULL};
    const char *type = sl_v_req_string(v, obj, "addressType");
    if (type && !sl_v_enum(v, "addressType", type, types))
        type = NULL;
    const json_t *eps = sl_v_get_list(v, obj, "endpoints", 0, 1000, false);
    size_t n = json_array_size(eps);
    for (size_t i = 0; i < n; i++) {
        size_t prev = sl_v_field(v, "endpoints");
        const json_t *ep = sl_v_list_object(v, eps, i);
        if (ep) {
            sl_v_index(v, i);
            check_endpoint(v, ep, type);
        }
        sl_v_pop(v, prev);
    }
    const json_t *ports = sl_v_get_list(v, obj, "ports", 0, 100, false);
    n = json_array_size(ports);
    for (size_t i = 0; i < n; i++) {
        size_t prev = sl_v_field(v, "ports");
        if (sl_v_list_object(v, ports, i)) {
            sl_v_index(v, i);
            check_endpoint_port(v, ports, i);
        }
        sl_v_pop(v, prev);
    }
}

const json_t *sl_v_spec(sl_vctx *v, const json_t *obj)
{
    const json_t *spec = sl_v_get_object(v, obj, "spec");
    if (!spec && !sl_v_present(obj, "spec"))
        sl_v_required(v, "spec");
    return spec;
}

#include "daemon/kinds.h"

#include <stdio.h>
#include <string.h>

#include "daemon/api_schema.h"

#define GW "gateway.networking.k8s.io"
#define SLUICE "gateway.sluice.dev"

const sl_kind sl_kinds[] = {
    {"Namespace", "namespaces", "namespace", "", {"v1"}, {"ns"}, false, true, true, sl_validate_namespace},
    {"Service", "services", "service", "", {"v1"}, {"svc"}, true, true, true, sl_validate_service},
    {"Secret", "secrets", "secret", "", {"v1"}, {NULL}, true, false, false, sl_validate_secret},
    {"ConfigMap", "configmaps", "configmap", "", {"v1"}, {"cm"}, true, false, false, sl_validate_configmap},
    {"EndpointSlice", "endpointslices", "endpointslice", "discovery.k8s.io", {"v1"}, {NULL}, true, false, false,
     sl_validate_endpointslice},
    {"GatewayClass", "gatewayclasses", "gatewayclass", GW, {"v1", "v1beta1"}, {"gc"}, false, true, false,
     sl_validate_gatewayclass},
    {"Gateway", "gateways", "gateway", GW, {"v1", "v1beta1"}, {"gtw"}, true, true, false, sl_validate_gateway},
    {"HTTPRoute", "httproutes", "httproute", GW, {"v1", "v1beta1"}, {NULL}, true, true, false, sl_validate_httproute},
    {"GRPCRoute", "grpcroutes", "grpcroute", GW, {"v1"}, {NULL}, true, true, false, sl_validate_grpcroute},
    {"TLSRoute", "tlsroutes", "tlsroute", GW, {"v1", "v1alpha2", "v1alpha3"}, {NULL}, true, true, false,
     sl_validate_tlsroute},
    {"TCPRoute", "tcproutes", "tcproute", GW, {"v1", "v1alpha2"}, {NULL}, true, true, false, sl_validate_tcproute},
    {"ReferenceGrant", "referencegrants", "referencegrant", GW, {"v1beta1", "v1"}, {"refgrant"}, true, false, false,
     sl_validate_referencegrant},
    {"BackendTLSPolicy", "backendtlspolicies", "backendtlspolicy", GW, {"v1", "v1alpha3"}, {"btlspolicy"}, true, true,
     false, sl_validate_backendtlspolicy},
    {"TrafficPolicy", "trafficpolicies", "trafficpolicy", SLUICE, {"v1alpha1"}, {"tp"}, true, true, false,
     sl_validate_trafficpolicy},
    {"Backend", "backends", "backend", SLUICE, {"v1alpha1"}, {"be"}, true, true, false, sl_validate_backend},
    {"BackendPolicy", "backendpolicies", "backendpolicy", SLUICE, {"v1alpha1"}, {"bp"}, true, true, false,
     sl_validate_backendpolicy},
    {NULL, NULL, NULL, NULL, {NULL}, {NULL}, false, false, false, NULL},
};

void sl_kind_validate(const sl_kind *k, sl_vctx *v, const json_t *obj)
{
    sl_validate_metadata(v, obj, k->namespaced, k->name_is_label);
    if (k->validate)
        k->validate(v, obj);
    const json_t *schema = sl_api_schema(k->singular);
    const json_t *spec = json_object_get(obj, "spec");
    if (schema && json_is_object(spec)) {
        size_t prev = sl_v_field(v, "spec");
        v->schema_from = json_array_size(v->causes) + 1; /* (+1: 0 means no schema pass) */
        sl_v_schema(v, schema, spec);
        v->schema_from = 0;
        sl_v_pop(v, prev);
    }
}

bool sl_kind_serves_version(const sl_kind *k, const char *version)
{
    for (int i = 0; i < 3 && k->versions[i]; i++)
        if (strcmp(k->versions[i], version) == 0)
            return true;
    return false;
}

const sl_kind *sl_kind_by_resource(const char *group, const char *version, const char *plural)
{
    for (const sl_kind *k = sl_kinds; k->kind; k++)
        if (strcmp(k->group, group) == 0 && strcmp(k->plural, plural) == 0 && sl_kind_serves_version(k, version))
            return k;
    return NULL;
}

const sl_kind *sl_kind_by_name(const char *kind)
{
    for (const sl_kind *k = sl_kinds; k->kind; k++)
        if (strcmp(k->kind, kind) == 0)
            return k;
    return NULL;
}

const sl_kind *sl_kind_by_api_version(const char *api_version, const char *kind)
{
    const char *slash = strchr(api_version, '/');
    char group[128] = "";
    const char *version = api_version;
    if (slash) {
        size_t n = (size_t)(slash - api_version);
        if (n >= sizeof(group))
            return NULL;
        memcpy(group, api_version, n);
        group[n] = '\0';
        version = slash + 1;
    }
    const sl_kind *k = sl_kind_by_name(kind);
    if (!k || strcmp(k->group, group) != 0 || !sl_kind_serves_version(k, version))
        return NULL;
    return k;
}

void sl_kind_api_version(const sl_kind *k, const char *version, char *out, size_t outlen)
{
    if (k->group[0])
        snprintf(out, outlen, "%s/%s", k->group, version);
    else
        snprintf(out, outlen, "%s", version);
}

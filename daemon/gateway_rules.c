#include "daemon/gateway_rules.h"

#include <stdio.h>
#include <string.h>

#define GW_GROUP "gateway.networking.k8s.io"

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* The route kinds a listener's protocol serves, in supportedKinds order:
 * requests on HTTP and HTTPS, connections passed through by SNI on TLS (mode
 * Passthrough; a TLS listener that terminates is not served), connections on
 * TCP. Returns how many (0: the protocol is not served). */
static size_t kinds_for(const json_t *listener, const char *const **out)
{
    static const char *const http[] = {"HTTPRoute", "GRPCRoute"}, *const tls[] = {"TLSRoute"},
                             *const tcp[] = {"TCPRoute"};
    const char *p = str(listener, "protocol");
    if (strcmp(p, "HTTP") == 0 || strcmp(p, "HTTPS") == 0) {
        *out = http;
        return 2;
    }
    if (strcmp(p, "TLS") == 0 && strcmp(str(json_object_get(listener, "tls"), "mode"), "Passthrough") == 0) {
        *out = tls;
        return 1;
    }
    if (strcmp(p, "TCP") == 0) {
        *out = tcp;
        return 1;
    }
    *out = NULL;
    return 0;
}

bool sl_listener_protocol_served(const json_t *listener)
{
    const char *const *kinds;
    return kinds_for(listener, &kinds) > 0;
}

/* The group of an allowedRoutes.kinds entry: the API's default when omitted. */
static const char *kind_group(const json_t *entry)
{
    return json_object_get(entry, "group") ? str(entry, "group") : GW_GROUP;
}

static bool is_served_kind(const json_t *listener, const json_t *entry)
{
    const char *const *kinds;
    size_t n = kinds_for(listener, &kinds);
    if (strcmp(kind_group(entry), GW_GROUP) != 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(str(entry, "kind"), kinds[i]) == 0)
            return true;
    return false;
}

bool sl_listener_supports_kind(const json_t *listener, const char *kind)
{
    const char *const *kinds;
    size_t n = kinds_for(listener, &kinds);
    bool known = false;
    for (size_t i = 0; i < n; i++)
        known |= strcmp(kind, kinds[i]) == 0;
    if (!known)
        return false;
    const json_t *allowed = json_object_get(json_object_get(listener, "allowedRoutes"), "kinds");
    if (json_array_size(allowed) == 0)
        return true; /* unset: the protocol decides */
    size_t i;
    const json_t *k;
    json_array_foreach(allowed, i, k) if (strcmp(kind_group(k), GW_GROUP) == 0 && strcmp(str(k, "kind"), kind) == 0)
        return true;
    return false;
}

json_t *sl_listener_supported_kinds(const json_t *listener)
{
    json_t *out = json_array();
    const char *const *kinds;
    size_t n = kinds_for(listener, &kinds);
    for (size_t i = 0; i < n; i++)
        if (sl_listener_supports_kind(listener, kinds[i]))
            json_array_append_new(out, json_pack("{s:s, s:s}", "group", GW_GROUP, "kind", kinds[i]));
    return out;
}

size_t sl_listener_invalid_kinds(const json_t *listener, char *msg, size_t msglen)
{
    const char *const *kinds;
    size_t nkinds = kinds_for(listener, &kinds);
    size_t n = 0, used = 0;
    if (msg && msglen)
        used = (size_t)snprintf(msg, msglen, "allowedRoutes.kinds names route kinds sluice cannot serve here:");
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(json_object_get(listener, "allowedRoutes"), "kinds"), i, k)
    {
        if (nkinds && is_served_kind(listener, k))
            continue;
        n++;
        if (msg && used < msglen) {
            const char *group = kind_group(k);
            int w = snprintf(msg + used, msglen - used, "%s %s%s%s", n == 1 ? "" : ",", group, group[0] ? "/" : "",
                             str(k, "kind"));
            used += w > 0 ? (size_t)w : 0;
        }
    }
    if (n && msg && used < msglen) {
        if (nkinds == 2)
            snprintf(msg + used, msglen - used, " (it serves HTTPRoute and GRPCRoute)");
        else if (nkinds == 1)
            snprintf(msg + used, msglen - used, " (it serves %s)", kinds[0]);
        else
            snprintf(msg + used, msglen - used, " (it serves no route kind on protocol %s)", str(listener, "protocol"));
    }
    return n;
}

bool sl_gateway_parameters_invalid(const json_t *gateway, char *msg, size_t msglen)
{
    const json_t *ref = json_object_get(json_object_get(json_object_get(gateway, "spec"), "infrastructure"),
                                        "parametersRef");
    if (!json_is_object(ref))
        return false;
    if (msg && msglen)
        snprintf(msg, msglen,
                 "infrastructure.parametersRef names %s%s%s \"%s\": sluice has no Gateway parameters kind, so it "
                 "cannot use any",
                 str(ref, "group"), str(ref, "group")[0] ? "/" : "", str(ref, "kind"), str(ref, "name"));
    return true;
}

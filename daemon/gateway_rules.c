#include "daemon/gateway_rules.h"

#include <stdio.h>
#include <string.h>

#define GW_GROUP "gateway.networking.k8s.io"

/* The route kinds an HTTP or HTTPS listener serves, in supportedKinds order. */
static const char *const served_kinds[] = {"HTTPRoute", "GRPCRoute"};

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

bool sl_listener_protocol_served(const json_t *listener)
{
    const char *p = str(listener, "protocol");
    return strcmp(p, "HTTP") == 0 || strcmp(p, "HTTPS") == 0;
}

/* The group of an allowedRoutes.kinds entry: the API's default when omitted. */
static const char *kind_group(const json_t *entry)
{
    return json_object_get(entry, "group") ? str(entry, "group") : GW_GROUP;
}

static bool is_served_kind(const json_t *entry)
{
    if (strcmp(kind_group(entry), GW_GROUP) != 0)
        return false;
    for (size_t i = 0; i < sizeof(served_kinds) / sizeof(served_kinds[0]); i++)
        if (strcmp(str(entry, "kind"), served_kinds[i]) == 0)
            return true;
    return false;
}

bool sl_listener_supports_kind(const json_t *listener, const char *kind)
{
    if (!sl_listener_protocol_served(listener))
        return false;
    bool known = false;
    for (size_t i = 0; i < sizeof(served_kinds) / sizeof(served_kinds[0]); i++)
        known |= strcmp(kind, served_kinds[i]) == 0;
    if (!known)
        return false;
    const json_t *kinds = json_object_get(json_object_get(listener, "allowedRoutes"), "kinds");
    if (json_array_size(kinds) == 0)
        return true; /* unset: the protocol decides */
    size_t i;
    const json_t *k;
    json_array_foreach(kinds, i, k) if (strcmp(kind_group(k), GW_GROUP) == 0 && strcmp(str(k, "kind"), kind) == 0)
        return true;
    return false;
}

json_t *sl_listener_supported_kinds(const json_t *listener)
{
    json_t *out = json_array();
    for (size_t i = 0; i < sizeof(served_kinds) / sizeof(served_kinds[0]); i++)
        if (sl_listener_supports_kind(listener, served_kinds[i]))
            json_array_append_new(out, json_pack("{s:s, s:s}", "group", GW_GROUP, "kind", served_kinds[i]));
    return out;
}

size_t sl_listener_invalid_kinds(const json_t *listener, char *msg, size_t msglen)
{
    bool served = sl_listener_protocol_served(listener);
    size_t n = 0, used = 0;
    if (msg && msglen)
        used = (size_t)snprintf(msg, msglen, "allowedRoutes.kinds names route kinds sluice cannot serve here:");
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(json_object_get(listener, "allowedRoutes"), "kinds"), i, k)
    {
        if (served && is_served_kind(k))
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
        if (served)
            snprintf(msg + used, msglen - used, " (it serves HTTPRoute and GRPCRoute)");
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

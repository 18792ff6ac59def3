#include "daemon/gateway_status.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/controller.h"
#include "daemon/objects.h"

static const char *js(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* True when the snapshot already has the Gateway (compiled since it was created). */
static bool snap_has_gateway(const sl_snapshot *s, const char *ns, const char *name)
{
    for (uint32_t gi = 0; s->base && gi < sl_snap_count(s, SL_SNAP_GATEWAYS); gi++) {
        const sl_snap_gateway *g = SL_SNAP_GET(s, SL_SNAP_GATEWAYS, sl_snap_gateway, gi);
        if (strcmp(sl_snap_cstr(s, g->ns), ns) == 0 && strcmp(sl_snap_cstr(s, g->name), name) == 0)
            return true;
    }
    return false;
}

/* Finds the snapshot listener for (gateway ns/name, listener name). */
static const sl_snap_listener *snap_listener(const sl_snapshot *s, const char *ns, const char *name,
                                             const char *listener)
{
    if (!s->base)
        return NULL;
    for (uint32_t gi = 0; gi < sl_snap_count(s, SL_SNAP_GATEWAYS); gi++) {
        const sl_snap_gateway *g = SL_SNAP_GET(s, SL_SNAP_GATEWAYS, sl_snap_gateway, gi);
        if (strcmp(sl_snap_cstr(s, g->ns), ns) != 0 || strcmp(sl_snap_cstr(s, g->name), name) != 0)
            continue;
        for (uint32_t li = 0; li < g->listeners.count; li++) {
            const sl_snap_listener *l = SL_SNAP_GET(s, SL_SNAP_LISTENERS, sl_snap_listener, g->listeners.first + li);
            if (strcmp(sl_snap_cstr(s, l->name), listener) == 0)
                return l;
        }
    }
    return NULL;
}

/* HTTP and HTTPS listeners serve HTTPRoutes and GRPCRoutes, or those of the
 * two that allowedRoutes.kinds names. */
static json_t *supported_kinds(const json_t *listener, const char *protocol)
{
    json_t *out = json_array();
    if (strcmp(protocol, "HTTP") != 0 && strcmp(protocol, "HTTPS") != 0)
        return out;
    static const char *const ours[] = {"HTTPRoute", "GRPCRoute"};
    const json_t *kinds = json_object_get(json_object_get(listener, "allowedRoutes"), "kinds");
    for (size_t k = 0; k < 2; k++) {
        bool wanted = json_array_size(kinds) == 0;
        size_t i;
        json_t *x;
        json_array_foreach(kinds, i, x)
        {
            const json_t *g = json_object_get(x, "group");
            if ((!g || strcmp(json_string_value(g), "gateway.networking.k8s.io") == 0) &&
                strcmp(js(x, "kind"), ours[k]) == 0)
                wanted = true;
        }
        if (wanted)
            json_array_append_new(out, json_pack("{s:s, s:s}", "group", "gateway.networking.k8s.io", "kind", ours[k]));
    }
    return out;
}

/* Another listener of the Gateway on the same port with a different protocol: a
 * port serves one protocol (the Gateway API's ProtocolConflict). */
static bool protocol_conflict(const json_t *listeners, const json_t *l)
{
    size_t i;
    json_t *o;
    json_array_foreach(listeners, i, o)
    {
        if (o == l)
            continue;
        if (json_integer_value(json_object_get(o, "port")) == json_integer_value(json_object_get(l, "port")) &&
            strcmp(js(o, "protocol"), js(l, "protocol")) != 0)
            return true;
    }
    return false;
}

static json_t *listener_status(const json_t *l, const sl_snapshot *snap, const sl_supervisor *sv, const char *ns,
                               const char *name, json_int_t gen, bool *all_programmed, const json_t *all_listeners)
{
    const char *lname = js(l, "name"), *protocol = js(l, "protocol");
    int port = (int)json_integer_value(json_object_get(l, "port"));
    json_t *conds = json_array();
    const sl_snap_listener *sl = snap_listener(snap, ns, name, lname);
    int attached = sl ? (int)sl->attached_routes : 0;
    bool https = strcmp(protocol, "HTTPS") == 0;
    uint8_t tls = sl && https ? sl->tls_status : SL_TLS_OK;
    bool supported = strcmp(protocol, "HTTP") == 0 || (https && tls != SL_TLS_UNSUPPORTED_MODE);
    const char *bind_error = sl_supervisor_port_error(sv, ns, name, port);
    bool conflicted = protocol_conflict(all_listeners, l);
    const char *refs_reason = tls == SL_TLS_INVALID_CERT_REF    ? "InvalidCertificateRef"
                              : tls == SL_TLS_REF_NOT_PERMITTED ? "RefNotPermitted"
                                                                : NULL;
    if (conflicted) {
        json_array_append_new(conds, sl_condition("Accepted", "False", "ProtocolConflict",
                                                  "another listener uses this port with another protocol", gen));
        json_array_append_new(conds, sl_condition("Programmed", "False", "Invalid", "listener conflicts", gen));
        *all_programmed = false;
    } else if (!supported) {
        json_array_append_new(conds, sl_condition("Accepted", "False", "UnsupportedProtocol",
                                                  https ? "only tls.mode Terminate is served"
                                                        : "sluice serves HTTP and HTTPS listeners",
                                                  gen));
        json_array_append_new(conds, sl_condition("Programmed", "False", "Invalid", "listener not accepted", gen));
        *all_programmed = false;
    } else if (bind_error[0]) {
        json_array_append_new(conds, sl_condition("Accepted", "False", "PortUnavailable", bind_error, gen));
        json_array_append_new(conds, sl_condition("Programmed", "False", "Invalid", bind_error, gen));
        *all_programmed = false;
    } else if (refs_reason) {
        json_array_append_new(conds, sl_condition("Accepted", "True", "Accepted", "listener accepted", gen));
        json_array_append_new(conds, sl_condition("Programmed", "False", "Invalid",
                                                  "no usable certificate: see ResolvedRefs", gen));
        *all_programmed = false;
    } else {
        json_array_append_new(conds, sl_condition("Accepted", "True", "Accepted", "listener accepted", gen));
        json_array_append_new(conds, sl_condition("Programmed", "True", "Programmed", "listener is serving", gen));
    }
    if (refs_reason)
        json_array_append_new(conds, sl_condition("ResolvedRefs", "False", refs_reason,
                                                  tls == SL_TLS_REF_NOT_PERMITTED
                                                      ? "a certificateRef to another namespace needs a ReferenceGrant"
                                                      : "a certificateRef names no usable kubernetes.io/tls Secret",
                                                  gen));
    else
        json_array_append_new(conds, sl_condition("ResolvedRefs", "True", "ResolvedRefs", "references resolved", gen));
    if (conflicted)
        json_array_append_new(conds, sl_condition("Conflicted", "True", "ProtocolConflict",
                                                  "another listener uses this port with another protocol", gen));
    else
        json_array_append_new(conds, sl_condition("Conflicted", "False", "NoConflicts", "no conflicts", gen));
    return json_pack("{s:s, s:o, s:i, s:o}", "name", lname, "supportedKinds", supported_kinds(l, protocol),
                     "attachedRoutes", attached, "conditions", conds);
}

static bool class_is_ours(json_t *classes, const char *class_name)
{
    size_t i;
    json_t *gc;
    json_array_foreach(classes, i, gc)
    {
        if (strcmp(js(json_object_get(gc, "metadata"), "name"), class_name) == 0)
            return strcmp(js(json_object_get(gc, "spec"), "controllerName"), SL_CONTROLLER_NAME) == 0;
    }
    return false;
}

void sl_gateway_status_sync(sl_store *store, const sl_snapshot *snap, const sl_supervisor *sv)
{
    json_t *classes, *gateways;
    int64_t rv;
    if (sl_store_list(store, "GatewayClass", NULL, &classes, &rv) != SL_OK ||
        sl_store_list(store, "Gateway", NULL, &gateways, &rv) != SL_OK) {
        json_decref(classes);
        return;
    }
    size_t i;
    json_t *gw;
    json_array_foreach(gateways, i, gw)
    {
        const json_t *spec = json_object_get(gw, "spec");
        if (!class_is_ours(classes, js(spec, "gatewayClassName")))
            continue; /* another controller's Gateway: not ours to write */
        const char *ns = sl_obj_namespace(gw), *name = sl_obj_name(gw);
        /* Not compiled yet (the tick came between the write and the compile):
         * its listeners' certificates and routes are unknown, so wait. */
        if (!snap_has_gateway(snap, ns, name))
            continue;
        json_int_t gen = json_integer_value(json_object_get(json_object_get(gw, "metadata"), "generation"));
        bool all_programmed = true;
        json_t *listeners = json_array();
        size_t li;
        json_t *l;
        json_array_foreach(json_object_get(spec, "listeners"), li, l)
            json_array_append_new(listeners, listener_status(l, snap, sv, ns, name, gen, &all_programmed,
                                                             json_object_get(spec, "listeners")));
        int running = 0, want = 0;
        bool group = sl_supervisor_group_state(sv, ns, name, &running, &want);
        json_t *conds = json_array();
        json_array_append_new(conds, sl_condition("Accepted", "True", "Accepted", "accepted by sluice", gen));
        if (group && running >= want && want > 0 && all_programmed) {
            char msg[96];
            snprintf(msg, sizeof(msg), "%d worker%s serving", running, running == 1 ? "" : "s");
            json_array_append_new(conds, sl_condition("Programmed", "True", "Programmed", msg, gen));
        } else if (group && running >= want && want > 0) {
            json_array_append_new(conds, sl_condition("Programmed", "True", "Programmed",
                                                      "serving; some listeners are not programmed", gen));
        } else {
            char msg[128];
            snprintf(msg, sizeof(msg), "%d of %d workers running", running, want);
            json_array_append_new(conds, sl_condition("Programmed", "False", "Pending", msg, gen));
        }
        /* The addresses clients reach the Gateway at: those it binds, or every
         * local address (0.0.0.0, which also reaches it from this host). */
        json_t *addresses = json_array();
        size_t ai;
        json_t *a;
        json_array_foreach(json_object_get(spec, "addresses"), ai, a)
        {
            const char *type = js(a, "type");
            if (!type[0] || strcmp(type, "IPAddress") == 0)
                json_array_append_new(addresses, json_pack("{s:s, s:s}", "type", "IPAddress", "value", js(a, "value")));
        }
        if (json_array_size(addresses) == 0)
            json_array_append_new(addresses, json_pack("{s:s, s:s}", "type", "IPAddress", "value", "0.0.0.0"));
        json_t *status = json_pack("{s:o, s:o, s:o}", "addresses", addresses, "conditions", conds, "listeners",
                                   listeners);
        if (sl_status_equal(json_object_get(gw, "status"), status)) {
            json_decref(status);
            continue;
        }
        int rc = sl_controller_write_status(store, "Gateway", ns, name, sl_obj_resource_version(gw), status);
        if (rc != SL_OK && rc != SL_CONFLICT && rc != SL_NOTFOUND)
            sl_log_error("controller", "cannot write the status of Gateway %s/%s", ns, name);
    }
    json_decref(classes);
    json_decref(gateways);
}

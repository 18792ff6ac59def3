#include "daemon/gateway_status.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/controller.h"
#include "daemon/gateway_rules.h"
#include "daemon/gateway_tls_status.h"
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

/* One listener's status. *accepted tells whether its Accepted condition is True;
 * *all_programmed is cleared when it is not programmed. A listener of a rejected
 * Gateway (gateway_rejected) is judged on its own but binds nothing, so it is
 * not programmed. */
static json_t *listener_status(const json_t *l, const sl_snapshot *snap, const sl_supervisor *sv, const char *ns,
                               const char *name, json_int_t gen, bool gateway_rejected, bool *accepted,
                               bool *all_programmed, const json_t *all_listeners)
{
    const char *lname = js(l, "name"), *protocol = js(l, "protocol");
    int port = (int)json_integer_value(json_object_get(l, "port"));
    json_t *conds = json_array();
    const sl_snap_listener *sl = snap_listener(snap, ns, name, lname);
    int attached = sl ? (int)sl->attached_routes : 0;
    bool https = strcmp(protocol, "HTTPS") == 0;
    uint8_t tls = sl && https ? sl->tls_status : SL_TLS_OK;
    bool supported = sl_listener_protocol_served(l) && tls != SL_TLS_UNSUPPORTED_MODE;
    const char *bind_error = supported && !gateway_rejected ? sl_supervisor_port_error(sv, ns, name, port) : "";
    bool conflicted = protocol_conflict(all_listeners, l);
    json_t *kinds = sl_listener_supported_kinds(l);
    char kinds_msg[512];
    bool invalid_kinds = sl_listener_invalid_kinds(l, kinds_msg, sizeof(kinds_msg)) > 0;
    const char *refs_reason = tls == SL_TLS_INVALID_CERT_REF    ? "InvalidCertificateRef"
                              : tls == SL_TLS_REF_NOT_PERMITTED ? "RefNotPermitted"
                              : invalid_kinds                   ? "InvalidRouteKinds"
                                                                : NULL;
    /* Client certificate validation (spec.tls.frontend): its CA references. */
    const char *ca_message = "";
    const char *ca_reason = https ? sl_frontend_refs_reason(snap, sl, &ca_message) : NULL;
    bool no_valid_ca = https && sl_frontend_no_valid_ca(sl);
    *accepted = false;
    if (conflicted) {
        json_array_append_new(conds, sl_condition("Accepted", "False", "ProtocolConflict",
                                                  "another listener uses this port with another protocol", gen));
        json_array_append_new(conds, sl_condition("Programmed", "False", "Invalid", "listener conflicts", gen));
        *all_programmed = false;
    } else if (!supported) {
        char msg[300];
        if (https)
            snprintf(msg, sizeof(msg), "only tls.mode Terminate is served");
        else if (strcmp(protocol, "TLS") == 0)
            snprintf(msg, sizeof(msg), "a TLS listener is served in tls.mode Passthrough only");
        else
            snprintf(msg, sizeof(msg), "sluice serves HTTP, HTTPS, TLS (Passthrough) and TCP listeners, not protocol %s",
                     protocol);
        /* A TLS mode sluice does not serve is an unsupported value of tls.mode
         * (the protocol itself is served); any other protocol is unsupported. */
        const char *reason = https || strcmp(protocol, "TLS") == 0 ? "UnsupportedValue" : "UnsupportedProtocol";
        json_array_append_new(conds, sl_condition("Accepted", "False", reason, msg, gen));
        json_array_append_new(conds, sl_condition("Programmed", "False", "Invalid", "listener not accepted", gen));
        *all_programmed = false;
    } else if (bind_error[0]) {
        json_array_append_new(conds, sl_condition("Accepted", "False", "PortUnavailable", bind_error, gen));
        json_array_append_new(conds, sl_condition("Programmed", "False", "Invalid", bind_error, gen));
        *all_programmed = false;
    } else if (no_valid_ca) {
        json_array_append_new(conds, sl_condition("Accepted", "False", "NoValidCACertificate",
                                                  "no caCertificateRef of its client certificate validation is "
                                                  "usable: see ResolvedRefs",
                                                  gen));
        json_array_append_new(conds, sl_condition("Programmed", "False", "Invalid", "listener not accepted", gen));
        *all_programmed = false;
    } else if (tls == SL_TLS_INVALID_CERT_REF || tls == SL_TLS_REF_NOT_PERMITTED) {
        *accepted = true;
        json_array_append_new(conds, sl_condition("Accepted", "True", "Accepted", "listener accepted", gen));
        json_array_append_new(conds, sl_condition("Programmed", "False", "Invalid",
                                                  "no usable certificate: see ResolvedRefs", gen));
        *all_programmed = false;
    } else if (gateway_rejected) {
        *accepted = true;
        json_array_append_new(conds, sl_condition("Accepted", "True", "Accepted", "listener accepted", gen));
        json_array_append_new(conds, sl_condition("Programmed", "False", "Invalid",
                                                  "the Gateway is not accepted: see its conditions", gen));
        *all_programmed = false;
    } else if (json_array_size(kinds) == 0) {
        /* allowedRoutes.kinds names only kinds sluice does not serve: nothing can
         * attach, so nothing is programmed. */
        *accepted = true;
        json_array_append_new(conds, sl_condition("Accepted", "True", "Accepted", "listener accepted", gen));
        json_array_append_new(conds, sl_condition("Programmed", "False", "Invalid",
                                                  "no route kind it allows is served: see ResolvedRefs", gen));
        *all_programmed = false;
    } else {
        *accepted = true;
        json_array_append_new(conds, sl_condition("Accepted", "True", "Accepted", "listener accepted", gen));
        json_array_append_new(conds, sl_condition("Programmed", "True", "Programmed", "listener is serving", gen));
    }
    if (refs_reason)
        json_array_append_new(conds, sl_condition("ResolvedRefs", "False", refs_reason,
                                                  tls == SL_TLS_REF_NOT_PERMITTED
                                                      ? "a certificateRef to another namespace needs a ReferenceGrant"
                                                  : tls == SL_TLS_INVALID_CERT_REF
                                                      ? "a certificateRef names no usable kubernetes.io/tls Secret"
                                                      : kinds_msg,
                                                  gen));
    else if (ca_reason)
        json_array_append_new(conds, sl_condition("ResolvedRefs", "False", ca_reason, ca_message, gen));
    else
        json_array_append_new(conds, sl_condition("ResolvedRefs", "True", "ResolvedRefs", "references resolved", gen));
    if (conflicted)
        json_array_append_new(conds, sl_condition("Conflicted", "True", "ProtocolConflict",
                                                  "another listener uses this port with another protocol", gen));
    else
        json_array_append_new(conds, sl_condition("Conflicted", "False", "NoConflicts", "no conflicts", gen));
    return json_pack("{s:s, s:o, s:i, s:o}", "name", lname, "supportedKinds", kinds, "attachedRoutes", attached,
                     "conditions", conds);
}

/* Appends ", name" (or "name" first) to a list of listener names in buf. */
static void append_name(char *buf, size_t len, const char *name)
{
    size_t used = strlen(buf);
    if (used < len)
        snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
}

/* The Gateway's Accepted and Programmed conditions. The Gateway is rejected when
 * its parametersRef cannot be used (InvalidParameters) or when none of its
 * listeners is accepted (ListenersNotValid); it is accepted with reason
 * ListenersNotValid when only some are. A rejected Gateway has no workers. */
static json_t *gateway_conditions(const json_t *gw, const sl_supervisor *sv, uint64_t needed, json_int_t gen,
                                  size_t nlisteners, const char *not_accepted, size_t n_not_accepted,
                                  bool all_programmed)
{
    const char *ns = sl_obj_namespace(gw), *name = sl_obj_name(gw);
    json_t *conds = json_array();
    char msg[600];
    if (sl_gateway_parameters_invalid(gw, msg, sizeof(msg))) {
        json_array_append_new(conds, sl_condition("Accepted", "False", "InvalidParameters", msg, gen));
        json_array_append_new(conds,
                              sl_condition("Programmed", "False", "Invalid", "the Gateway is not accepted", gen));
        return conds;
    }
    if (n_not_accepted == nlisteners) {
        snprintf(msg, sizeof(msg), "no listener is accepted (%s): see the listeners' status", not_accepted);
        json_array_append_new(conds, sl_condition("Accepted", "False", "ListenersNotValid", msg, gen));
        json_array_append_new(conds,
                              sl_condition("Programmed", "False", "Invalid", "the Gateway is not accepted", gen));
        return conds;
    }
    if (n_not_accepted) {
        snprintf(msg, sizeof(msg), "accepted without the listeners it cannot serve (%s): see their status",
                 not_accepted);
        json_array_append_new(conds, sl_condition("Accepted", "True", "ListenersNotValid", msg, gen));
    } else {
        json_array_append_new(conds, sl_condition("Accepted", "True", "Accepted", "accepted by sluice", gen));
    }
    int running = 0, want = 0;
    bool group = sl_supervisor_group_state(sv, ns, name, &running, &want);
    /* Programmed means live: every worker runs a snapshot that holds this
     * generation of the Gateway, so a script that waits for it sees the change. */
    uint64_t runs = sl_supervisor_group_generation(sv, ns, name);
    if (group && running >= want && want > 0 && (needed == 0 || runs < needed)) {
        snprintf(msg, sizeof(msg), "waiting for the workers to switch to snapshot generation %llu (the oldest runs %llu)",
                 (unsigned long long)needed, (unsigned long long)runs);
        json_array_append_new(conds, sl_condition("Programmed", "False", "Pending", msg, gen));
    } else if (group && running >= want && want > 0 && all_programmed) {
        snprintf(msg, sizeof(msg), "%d worker%s serving", running, running == 1 ? "" : "s");
        json_array_append_new(conds, sl_condition("Programmed", "True", "Programmed", msg, gen));
    } else if (group && running >= want && want > 0) {
        json_array_append_new(conds, sl_condition("Programmed", "True", "Programmed",
                                                  "serving; some listeners are not programmed", gen));
    } else {
        snprintf(msg, sizeof(msg), "%d of %d workers running", running, want);
        json_array_append_new(conds, sl_condition("Programmed", "False", "Pending", msg, gen));
    }
    return conds;
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

void sl_gateway_status_sync(sl_store *store, const sl_snapshot *snap, const sl_supervisor *sv,
                            const sl_liveness *live)
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
        bool rejected = sl_gateway_parameters_invalid(gw, NULL, 0);
        bool all_programmed = true;
        json_t *listeners = json_array();
        char not_accepted[400] = "";
        size_t n_not_accepted = 0;
        size_t li;
        json_t *l;
        json_array_foreach(json_object_get(spec, "listeners"), li, l)
        {
            bool accepted;
            json_array_append_new(listeners, listener_status(l, snap, sv, ns, name, gen, rejected, &accepted,
                                                             &all_programmed, json_object_get(spec, "listeners")));
            if (!accepted) {
                n_not_accepted++;
                append_name(not_accepted, sizeof(not_accepted), js(l, "name"));
            }
        }
        char key[300];
        snprintf(key, sizeof(key), "Gateway/%s/%s", ns, name);
        json_t *conds = gateway_conditions(gw, sv, sl_liveness_needed(live, key), gen,
                                           json_array_size(json_object_get(spec, "listeners")), not_accepted,
                                           n_not_accepted, all_programmed);
        sl_gateway_tls_conditions(gw, snap, listeners, gen, conds);
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

/* Gateway status for spec.tls; see gateway_tls_status.h. */
#include "daemon/gateway_tls_status.h"

#include <stdio.h>
#include <string.h>

#include "daemon/controller.h"
#include "daemon/objects.h"

static const char *js(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

const char *sl_frontend_refs_reason(const sl_snapshot *s, const sl_snap_listener *l, const char **message)
{
    if (!l)
        return NULL;
    *message = sl_snap_cstr(s, l->frontend_message);
    switch (l->frontend_status) {
    case SL_REF_INVALID: return "InvalidCACertificateRef";
    case SL_REF_INVALID_KIND: return "InvalidCACertificateKind";
    case SL_REF_NOT_PERMITTED: return "RefNotPermitted";
    default: return NULL;
    }
}

bool sl_frontend_no_valid_ca(const sl_snap_listener *l) { return l && l->frontend_no_ca; }

static const sl_snap_gateway *snap_gateway(const sl_snapshot *s, const char *ns, const char *name)
{
    for (uint32_t gi = 0; s->base && gi < sl_snap_count(s, SL_SNAP_GATEWAYS); gi++) {
        const sl_snap_gateway *g = SL_SNAP_GET(s, SL_SNAP_GATEWAYS, sl_snap_gateway, gi);
        if (strcmp(sl_snap_cstr(s, g->ns), ns) == 0 && strcmp(sl_snap_cstr(s, g->name), name) == 0)
            return g;
    }
    return NULL;
}

/* The names of the listeners whose ResolvedRefs is False, into buf; how many. */
static size_t unresolved_listeners(const json_t *listeners, char *buf, size_t len)
{
    size_t n = 0, i, j;
    json_t *l, *c;
    buf[0] = '\0';
    json_array_foreach(listeners, i, l)
    {
        json_array_foreach(json_object_get(l, "conditions"), j, c)
        {
            if (strcmp(js(c, "type"), "ResolvedRefs") != 0 || strcmp(js(c, "status"), "False") != 0)
                continue;
            size_t used = strlen(buf);
            if (used < len)
                snprintf(buf + used, len - used, "%s%s", n ? ", " : "", js(l, "name"));
            n++;
        }
    }
    return n;
}

/* Is a tls.frontend validation mode (default or per port) AllowInsecureFallback? */
static bool insecure_fallback(const json_t *gw)
{
    const json_t *frontend = json_object_get(json_object_get(json_object_get(gw, "spec"), "tls"), "frontend");
    if (strcmp(js(json_object_get(json_object_get(frontend, "default"), "validation"), "mode"), "AllowInsecureFallback") == 0)
        return true;
    size_t i;
    json_t *pp;
    json_array_foreach(json_object_get(frontend, "perPort"), i, pp)
        if (strcmp(js(json_object_get(json_object_get(pp, "tls"), "validation"), "mode"), "AllowInsecureFallback") == 0)
            return true;
    return false;
}

void sl_gateway_tls_conditions(const json_t *gw, const sl_snapshot *s, const json_t *listeners, json_int_t gen,
                               json_t *conds)
{
    const sl_snap_gateway *g = snap_gateway(s, sl_obj_namespace(gw), sl_obj_name(gw));
    char names[400], msg[600];
    if (g && g->backend_cert_status != SL_REF_OK) {
        const char *reason = g->backend_cert_status == SL_REF_NOT_PERMITTED ? "RefNotPermitted"
                                                                              : "InvalidClientCertificateRef";
        json_array_append_new(conds, sl_condition("ResolvedRefs", "False", reason,
                                                  sl_snap_cstr(s, g->backend_cert_message), gen));
    } else if (unresolved_listeners(listeners, names, sizeof(names))) {
        snprintf(msg, sizeof(msg), "listeners with unresolved references: %s", names);
        json_array_append_new(conds, sl_condition("ResolvedRefs", "False", "ListenersNotResolved", msg, gen));
    } else {
        json_array_append_new(conds, sl_condition("ResolvedRefs", "True", "ResolvedRefs", "references resolved", gen));
    }
    if (insecure_fallback(gw))
        json_array_append_new(conds, sl_condition("InsecureFrontendValidationMode", "True", "ConfigurationChanged",
                                                  "client certificate validation lets clients without a valid "
                                                  "certificate through (AllowInsecureFallback)",
                                                  gen));
}

/* Validation of the routes that carry connections, not requests: TLSRoute
 * (a TLS connection passed through by its SNI, Gateway API v1 and v1alpha2)
 * and TCPRoute (v1, also v1alpha2). Both are parentRefs and rules of weighted
 * backendRefs; TLSRoute has hostnames (matched against the SNI), TCPRoute none. */
#include <string.h>

#include "daemon/kinds.h"
#include "daemon/validate.h"

static void check_rule(sl_vctx *v, const json_t *rule)
{
    sl_v_weighted_backend_refs(v, rule, 1, NULL);
    static const char *const http_only[] = {"matches", "filters", "timeouts", "retry", "sessionPersistence"};
    for (size_t k = 0; k < sizeof(http_only) / sizeof(http_only[0]); k++)
        if (sl_v_present(rule, http_only[k]))
            sl_v_fail(v, http_only[k], "FieldValueForbidden", "Forbidden: a connection route's rules have only "
                                                              "backendRefs (and a name)");
}

/* rules is required: a connection route without one would route nothing. */
static void check_rules_present(sl_vctx *v, const json_t *obj)
{
    const json_t *spec = json_object_get(obj, "spec");
    if (json_is_object(spec) && !sl_v_present(spec, "rules"))
        sl_v_required(v, "spec.rules");
}

void sl_validate_tlsroute(sl_vctx *v, const json_t *obj)
{
    check_rules_present(v, obj);
    sl_v_route_spec(v, obj, 1, check_rule);
}

void sl_validate_tcproute(sl_vctx *v, const json_t *obj)
{
    const json_t *spec = json_object_get(obj, "spec");
    if (sl_v_present(spec, "hostnames"))
        sl_v_fail(v, "spec.hostnames", "FieldValueForbidden", "Forbidden: a TCPRoute has no hostnames");
    check_rules_present(v, obj);
    sl_v_route_spec(v, obj, 1, check_rule);
}

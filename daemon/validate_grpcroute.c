/* GRPCRoute spec validation (gateway.networking.k8s.io/v1): the CRD schema and
 * its CEL rules, reporting every problem with its field path. */
#include "daemon/kinds.h"
#include "daemon/validate.h"

#include <ctype.h>
#include <string.h>

static const char *const grpc_filter_types[] = {"RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror",
                                                "ExtensionRef", NULL};

static bool is_ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool is_ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* gRPC service: ^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$ */
static bool is_grpc_service(const char *s)
{
    if (*s == '.')
        s++;
    for (;;) {
        if (!is_ident_start(*s))
            return false;
        while (is_ident_char(*s))
            s++;
        if (!*s)
            return true;
        if (*s++ != '.')
            return false;
    }
}

/* gRPC method: ^[A-Za-z_][A-Za-z_0-9]*$ */
static bool is_grpc_method(const char *s)
{
    if (!is_ident_start(*s))
        return false;
    while (is_ident_char(*s))
        s++;
    return *s == '\0';
}

static void check_method_match(sl_vctx *v, const json_t *match)
{
    static const char *const types[] = {"Exact", "RegularExpression", NULL};
    const json_t *m = sl_v_get_object(v, match, "method");
    if (!m)
        return;
    size_t prev = sl_v_field(v, "method");
    const char *type = sl_v_get_string(v, m, "type");
    if (!type && !sl_v_present(m, "type"))
        type = "Exact"; /* the schema default */
    else if (type && !sl_v_enum(v, "type", type, types))
        type = NULL;
    const char *service = sl_v_get_string(v, m, "service");
    const char *method = sl_v_get_string(v, m, "method");
    if (!sl_v_present(m, "service") && !sl_v_present(m, "method"))
        sl_v_fail(v, NULL, "FieldValueRequired", "Required value: one or both of 'service' or 'method' must be specified");
    bool regex = type && strcmp(type, "RegularExpression") == 0;
    if (service && sl_v_max_len(v, "service", service, 1024) && type) {
        if (regex)
            sl_v_regex(v, "service", service);
        else if (!is_grpc_service(service))
            sl_v_invalid(v, "service", "must only contain valid characters (matching ^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$)");
    }
    if (method && sl_v_max_len(v, "method", method, 1024) && type) {
        if (regex)
            sl_v_regex(v, "method", method);
        else if (!is_grpc_method(method))
            sl_v_invalid(v, "method", "must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)");
    }
    sl_v_pop(v, prev);
}

static void check_backend_refs(sl_vctx *v, const json_t *rule)
{
    sl_v_weighted_backend_refs(v, rule, 0, grpc_filter_types);
}

static void check_rule(sl_vctx *v, const json_t *rule)
{
    const json_t *matches = sl_v_get_list(v, rule, "matches", 0, 64, false);
    size_t i;
    const json_t *x;
    json_array_foreach(matches, i, x)
    {
        size_t prev = sl_v_field(v, "matches");
        const json_t *m = sl_v_list_object(v, matches, i);
        if (m) {
            sl_v_index(v, i);
            check_method_match(v, m);
            sl_v_header_matches(v, m, "headers");
        }
        sl_v_pop(v, prev);
    }
    sl_v_route_filters(v, rule, "filters", grpc_filter_types);
    check_backend_refs(v, rule);
    sl_v_session_persistence(v, rule);
}

/* Validates a GRPCRoute's spec; see kinds.h. Records every problem in v. */
void sl_validate_grpcroute(sl_vctx *v, const json_t *obj) { sl_v_route_spec(v, obj, 0, check_rule); }

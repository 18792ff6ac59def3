/* The snapshot sections' descriptors: see snapshot_desc.h. One line per field,
 * in the order of the struct; tests/unit/test_snapshot.c checks that they tile
 * every record. */
#include "common/snapshot_desc.h"

#define FIELD(type, field, kind, target)                                                                 \
    {#field, (uint16_t)offsetof(type, field), (uint16_t)sizeof(((type *)0)->field),                        \
     (uint16_t)_Alignof(__typeof__(((type *)0)->field)), (kind), (target)}
#define STR(type, field) FIELD(type, field, SL_FIELD_STR, 0)
/* A string that /debug/snapshot?raw=1 does not show (a key). */
#define SECRET_STR(type, field) FIELD(type, field, SL_FIELD_STR, SL_FIELD_TARGET_SECRET)
#define RANGE(type, field, sec) FIELD(type, field, SL_FIELD_RANGE, sec)
#define INDEX(type, field, sec) FIELD(type, field, SL_FIELD_INDEX, sec)
#define INDEX_OR_NONE(type, field, sec) FIELD(type, field, SL_FIELD_INDEX_OR_NONE, sec)
#define UINT(type, field) FIELD(type, field, SL_FIELD_UINT, 0)
#define BYTES(type, field) FIELD(type, field, SL_FIELD_BYTES, 0)
#define RESERVED(type, field) FIELD(type, field, SL_FIELD_RESERVED, 0)
#define SECTION(sec, label, type, table) \
    [sec] = {label, sizeof(type), _Alignof(type), table, sizeof(table) / sizeof(table[0])}

static const sl_snap_field gateway_fields[] = {
    STR(sl_snap_gateway, ns),
    STR(sl_snap_gateway, name),
    STR(sl_snap_gateway, class_name),
    UINT(sl_snap_gateway, workers),
    RANGE(sl_snap_gateway, ports, SL_SNAP_PORTS),
    RANGE(sl_snap_gateway, listeners, SL_SNAP_LISTENERS),
    STR(sl_snap_gateway, backend_cert_pem),
    SECRET_STR(sl_snap_gateway, backend_key_pem),
    STR(sl_snap_gateway, backend_cert_message),
    UINT(sl_snap_gateway, backend_cert_status),
    RESERVED(sl_snap_gateway, reserved),
};

static const sl_snap_field port_fields[] = {
    INDEX(sl_snap_port, gateway, SL_SNAP_GATEWAYS),
    UINT(sl_snap_port, port),
    UINT(sl_snap_port, protocol),
    UINT(sl_snap_port, proxy_protocol),
    STR(sl_snap_port, address),
    RANGE(sl_snap_port, vhosts, SL_SNAP_VHOSTS),
    RANGE(sl_snap_port, certs, SL_SNAP_CERTS),
};

static const sl_snap_field listener_fields[] = {
    INDEX(sl_snap_listener, gateway, SL_SNAP_GATEWAYS),
    INDEX_OR_NONE(sl_snap_listener, port_index, SL_SNAP_PORTS), /* none: not served */
    STR(sl_snap_listener, name),
    STR(sl_snap_listener, hostname),
    UINT(sl_snap_listener, attached_routes),
    UINT(sl_snap_listener, tls_status),
    UINT(sl_snap_listener, frontend_status),
    UINT(sl_snap_listener, frontend_no_ca),
    RESERVED(sl_snap_listener, reserved),
    STR(sl_snap_listener, frontend_message),
};

static const sl_snap_field cert_fields[] = {
    INDEX(sl_snap_cert, listener, SL_SNAP_LISTENERS),
    UINT(sl_snap_cert, min_version),
    UINT(sl_snap_cert, client_cert),
    RESERVED(sl_snap_cert, reserved),
    STR(sl_snap_cert, hostname),
    STR(sl_snap_cert, cert_pem),
    STR(sl_snap_cert, key_pem),
    STR(sl_snap_cert, ciphers),
    STR(sl_snap_cert, client_ca),
};

static const sl_snap_field vhost_fields[] = {
    STR(sl_snap_vhost, host),
    INDEX(sl_snap_vhost, listener, SL_SNAP_LISTENERS),
    RESERVED(sl_snap_vhost, reserved),
    RANGE(sl_snap_vhost, routes, SL_SNAP_ROUTES),
    RANGE(sl_snap_vhost, exact_index, SL_SNAP_PATH_INDEX),
    RANGE(sl_snap_vhost, prefix_index, SL_SNAP_PATH_INDEX),
    RANGE(sl_snap_vhost, regex_routes, SL_SNAP_ROUTES),
};

static const sl_snap_field path_index_fields[] = {
    STR(sl_snap_path_index, path),
    RANGE(sl_snap_path_index, routes, SL_SNAP_ROUTES),
};

static const sl_snap_field route_fields[] = {
    UINT(sl_snap_route, path_type),
    UINT(sl_snap_route, kind),
    RESERVED(sl_snap_route, reserved),
    STR(sl_snap_route, path),
    STR(sl_snap_route, method),
    RANGE(sl_snap_route, header_matches, SL_SNAP_HEADER_MATCHES),
    RANGE(sl_snap_route, query_matches, SL_SNAP_HEADER_MATCHES),
    INDEX(sl_snap_route, action, SL_SNAP_ACTIONS),
    UINT(sl_snap_route, rule_index),
    UINT(sl_snap_route, series), /* series are checked where they are used (sl_series_at) */
    UINT(sl_snap_route, listener_series),
    STR(sl_snap_route, route_ns),
    STR(sl_snap_route, route_name),
    RANGE(sl_snap_route, policies, SL_SNAP_POLICY_LINKS),
};

static const sl_snap_field header_match_fields[] = {
    UINT(sl_snap_header_match, type),
    RESERVED(sl_snap_header_match, reserved),
    STR(sl_snap_header_match, name),
    STR(sl_snap_header_match, value),
};

static const sl_snap_field action_fields[] = {
    RANGE(sl_snap_action, backend_refs, SL_SNAP_BACKEND_REFS),
    UINT(sl_snap_action, total_weight),
    UINT(sl_snap_action, request_timeout_ms),
    UINT(sl_snap_action, backend_request_timeout_ms),
    RANGE(sl_snap_action, filters, SL_SNAP_FILTERS),
    UINT(sl_snap_action, retry_attempts),
    UINT(sl_snap_action, retry_backoff_ms),
    UINT(sl_snap_action, session_type),
    UINT(sl_snap_action, session_permanent),
    RESERVED(sl_snap_action, reserved),
    BYTES(sl_snap_action, retry_codes),
    UINT(sl_snap_action, session_absolute_s),
    UINT(sl_snap_action, session_idle_s),
    STR(sl_snap_action, session_name),
};

static const sl_snap_field backend_ref_fields[] = {
    UINT(sl_snap_backend_ref, weight),
    INDEX_OR_NONE(sl_snap_backend_ref, backend, SL_SNAP_BACKENDS), /* none: unresolved (500) */
    RANGE(sl_snap_backend_ref, filters, SL_SNAP_FILTERS),
};

static const sl_snap_field backend_fields[] = {
    STR(sl_snap_backend, kind),
    STR(sl_snap_backend, ns),
    STR(sl_snap_backend, name),
    UINT(sl_snap_backend, port),
    UINT(sl_snap_backend, protocol),
    UINT(sl_snap_backend, tls_verify),
    UINT(sl_snap_backend, ai_provider),
    UINT(sl_snap_backend, mcp_prefix),
    RANGE(sl_snap_backend, endpoints, SL_SNAP_ENDPOINTS),
    STR(sl_snap_backend, tls_sni),
    STR(sl_snap_backend, tls_ca),
    STR(sl_snap_backend, tls_sans),
    UINT(sl_snap_backend, tls_identity),
    SECRET_STR(sl_snap_backend, ai_key),
    STR(sl_snap_backend, ai_authority),
    STR(sl_snap_backend, ai_base_path),
    STR(sl_snap_backend, ai_model),
    STR(sl_snap_backend, ai_aliases),
    RANGE(sl_snap_backend, ai_fallbacks, SL_SNAP_BACKEND_REFS),
    STR(sl_snap_backend, ai_prices),
    STR(sl_snap_backend, ai_region),
    SECRET_STR(sl_snap_backend, ai_aws_key_id),
    SECRET_STR(sl_snap_backend, ai_aws_secret),
    SECRET_STR(sl_snap_backend, ai_aws_token),
    UINT(sl_snap_backend, state), /* slots are checked where they are read (sl_ep_slot) */
    INDEX_OR_NONE(sl_snap_backend, balancer, SL_SNAP_BALANCERS),
    UINT(sl_snap_backend, series),
    RESERVED(sl_snap_backend, reserved2),
    RANGE(sl_snap_backend, lb_entries, SL_SNAP_LB_ENTRIES),
    RANGE(sl_snap_backend, mcp_targets, SL_SNAP_MCP_TARGETS),
    STR(sl_snap_backend, mcp_id),
    UINT(sl_snap_backend, mcp_session_s),
    UINT(sl_snap_backend, a2a),
    RESERVED(sl_snap_backend, reserved3),
};

static const sl_snap_field mcp_target_fields[] = {
    STR(sl_snap_mcp_target, name),
    STR(sl_snap_mcp_target, url),
    STR(sl_snap_mcp_target, include),
    STR(sl_snap_mcp_target, exclude),
    UINT(sl_snap_mcp_target, protocol),
    RESERVED(sl_snap_mcp_target, reserved),
};

static const sl_snap_field endpoint_fields[] = {
    UINT(sl_snap_endpoint, family),
    RESERVED(sl_snap_endpoint, reserved),
    UINT(sl_snap_endpoint, port),
    BYTES(sl_snap_endpoint, addr),
    STR(sl_snap_endpoint, host),
    UINT(sl_snap_endpoint, state),
    UINT(sl_snap_endpoint, weight),
};

static const sl_snap_field balancer_fields[] = {
    STR(sl_snap_balancer, policy),
    UINT(sl_snap_balancer, algorithm),
    UINT(sl_snap_balancer, choice_count),
    UINT(sl_snap_balancer, panic_percent),
    UINT(sl_snap_balancer, max_ejection_percent),
    UINT(sl_snap_balancer, slow_start_ms),
    UINT(sl_snap_balancer, slow_start_aggression),
    UINT(sl_snap_balancer, slow_start_min_percent),
    UINT(sl_snap_balancer, connect_timeout_ms),
    UINT(sl_snap_balancer, consecutive_5xx),
    UINT(sl_snap_balancer, consecutive_local),
    UINT(sl_snap_balancer, base_ejection_ms),
    UINT(sl_snap_balancer, max_ejection_ms),
    UINT(sl_snap_balancer, ejection_interval_ms),
    UINT(sl_snap_balancer, max_connections),
    UINT(sl_snap_balancer, max_pending),
    UINT(sl_snap_balancer, max_requests),
    UINT(sl_snap_balancer, retry_budget_percent),
    UINT(sl_snap_balancer, min_retry_concurrency),
    RANGE(sl_snap_balancer, hash_policies, SL_SNAP_HASH_POLICIES),
    INDEX_OR_NONE(sl_snap_balancer, health_check, SL_SNAP_HEALTH_CHECKS),
};

static const sl_snap_field hash_policy_fields[] = {
    UINT(sl_snap_hash_policy, kind),
    UINT(sl_snap_hash_policy, terminal),
    RESERVED(sl_snap_hash_policy, reserved),
    STR(sl_snap_hash_policy, name),
};

static const sl_snap_field lb_entry_fields[] = {
    UINT(sl_snap_lb_entry, point),
    UINT(sl_snap_lb_entry, endpoint), /* an offset into the backend's endpoints: checked where read */
};

static const sl_snap_field health_check_fields[] = {
    UINT(sl_snap_health_check, kind),
    RESERVED(sl_snap_health_check, reserved),
    UINT(sl_snap_health_check, interval_ms),
    UINT(sl_snap_health_check, timeout_ms),
    UINT(sl_snap_health_check, jitter_ms),
    UINT(sl_snap_health_check, healthy_threshold),
    UINT(sl_snap_health_check, unhealthy_threshold),
    STR(sl_snap_health_check, path),
    STR(sl_snap_health_check, host),
    STR(sl_snap_health_check, method),
    STR(sl_snap_health_check, service),
    BYTES(sl_snap_health_check, statuses),
};

static const sl_snap_field filter_fields[] = {
    UINT(sl_snap_filter, type),
    UINT(sl_snap_filter, op),
    UINT(sl_snap_filter, path_mod),
    UINT(sl_snap_filter, credentials),
    UINT(sl_snap_filter, status),
    UINT(sl_snap_filter, port),
    STR(sl_snap_filter, name),
    STR(sl_snap_filter, value),
    STR(sl_snap_filter, scheme),
    STR(sl_snap_filter, hostname),
    STR(sl_snap_filter, path),
    INDEX_OR_NONE(sl_snap_filter, backend, SL_SNAP_BACKENDS), /* mirror; none: unresolved */
    UINT(sl_snap_filter, numerator),
    UINT(sl_snap_filter, denominator),
    STR(sl_snap_filter, origins),
    STR(sl_snap_filter, methods),
    STR(sl_snap_filter, headers),
    STR(sl_snap_filter, expose),
    UINT(sl_snap_filter, max_age),
    RESERVED(sl_snap_filter, reserved),
};

static const sl_snap_field policy_fields[] = {
    UINT(sl_snap_policy, kind),
    UINT(sl_snap_policy, phase),
    UINT(sl_snap_policy, flags),
    RESERVED(sl_snap_policy, reserved),
    STR(sl_snap_policy, source),
    RANGE(sl_snap_policy, items, SL_SNAP_POLICY_ITEMS),
    BYTES(sl_snap_policy, u),
    BYTES(sl_snap_policy, num),
    STR(sl_snap_policy, a),
    STR(sl_snap_policy, b),
};

static const sl_snap_field policy_item_fields[] = {
    UINT(sl_snap_policy_item, family),
    UINT(sl_snap_policy_item, prefix),
    UINT(sl_snap_policy_item, flags),
    RESERVED(sl_snap_policy_item, reserved),
    UINT(sl_snap_policy_item, num),
    BYTES(sl_snap_policy_item, addr),
    STR(sl_snap_policy_item, a),
    STR(sl_snap_policy_item, b),
};

static const sl_snap_field policy_link_fields[] = {
    INDEX(sl_snap_policy_link, policy, SL_SNAP_POLICIES),
};

static const sl_snap_field zone_fields[] = {
    INDEX(sl_snap_zone, gateway, SL_SNAP_GATEWAYS),
    UINT(sl_snap_zone, kind),
    RESERVED(sl_snap_zone, reserved),
    UINT(sl_snap_zone, zone), /* the zone directory is checked where it is read (sl_zone_get) */
    RESERVED(sl_snap_zone, reserved2),
};

const sl_snap_section_desc sl_snap_sections[SL_SNAP_NSECTIONS] = {
    [SL_SNAP_STRINGS] = {"strings", 1, 1, NULL, 0},
    SECTION(SL_SNAP_GATEWAYS, "gateways", sl_snap_gateway, gateway_fields),
    SECTION(SL_SNAP_PORTS, "ports", sl_snap_port, port_fields),
    SECTION(SL_SNAP_LISTENERS, "listeners", sl_snap_listener, listener_fields),
    SECTION(SL_SNAP_VHOSTS, "vhosts", sl_snap_vhost, vhost_fields),
    SECTION(SL_SNAP_ROUTES, "routes", sl_snap_route, route_fields),
    SECTION(SL_SNAP_HEADER_MATCHES, "header_matches", sl_snap_header_match, header_match_fields),
    SECTION(SL_SNAP_ACTIONS, "actions", sl_snap_action, action_fields),
    SECTION(SL_SNAP_BACKEND_REFS, "backend_refs", sl_snap_backend_ref, backend_ref_fields),
    SECTION(SL_SNAP_BACKENDS, "backends", sl_snap_backend, backend_fields),
    SECTION(SL_SNAP_ENDPOINTS, "endpoints", sl_snap_endpoint, endpoint_fields),
    SECTION(SL_SNAP_FILTERS, "filters", sl_snap_filter, filter_fields),
    SECTION(SL_SNAP_PATH_INDEX, "path_index", sl_snap_path_index, path_index_fields),
    SECTION(SL_SNAP_CERTS, "certs", sl_snap_cert, cert_fields),
    SECTION(SL_SNAP_POLICIES, "policies", sl_snap_policy, policy_fields),
    SECTION(SL_SNAP_POLICY_ITEMS, "policy_items", sl_snap_policy_item, policy_item_fields),
    SECTION(SL_SNAP_POLICY_LINKS, "policy_links", sl_snap_policy_link, policy_link_fields),
    SECTION(SL_SNAP_ZONES, "zones", sl_snap_zone, zone_fields),
    SECTION(SL_SNAP_BALANCERS, "balancers", sl_snap_balancer, balancer_fields),
    SECTION(SL_SNAP_HASH_POLICIES, "hash_policies", sl_snap_hash_policy, hash_policy_fields),
    SECTION(SL_SNAP_LB_ENTRIES, "lb_entries", sl_snap_lb_entry, lb_entry_fields),
    SECTION(SL_SNAP_HEALTH_CHECKS, "health_checks", sl_snap_health_check, health_check_fields),
    SECTION(SL_SNAP_MCP_TARGETS, "mcp_targets", sl_snap_mcp_target, mcp_target_fields),
};

/* Shared state of one compilation, for daemon/compiler*.c only. */
#ifndef SL_COMPILER_INTERNAL_H
#define SL_COMPILER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "daemon/compiler.h"
#include "daemon/objects.h"
#include "daemon/snapshot_builder.h"

/* A route entry waiting to be sorted into its vhost. */
typedef struct pending_route {
    sl_snap_route rec;
    /* precedence keys */
    const char *created; /* creationTimestamp of the route */
    const char *path_text; /* the path value as stored (PathPrefix without trailing '/'), */
    size_t path_len;       /* pointing into the route's JSON, alive for the compile */
    uint32_t nheaders, nqueries;
    uint32_t match_index;
} pending_route;

typedef struct pending_vhost {
    uint32_t port;     /* index into PORTS */
    uint32_t listener; /* index into LISTENERS of the first listener serving it */
    char host[256];    /* "" catch-all, "*.x" wildcard, or exact */
    char group[256];   /* the hostname of its listener(s): vhosts of one group serve one listener */
    pending_route *routes;
    size_t nroutes, cap;
} pending_vhost;

typedef struct sl_compile_ctx {
    sl_store *store;
    sl_snap_builder b;
    json_t *configmaps, *backendtlspolicies, *trafficpolicies, *backendpolicies;
    json_t *gateway_classes, *gateways, *httproutes, *grpcroutes, *tlsroutes, *tcproutes, *services, *endpointslices,
        *backends, *namespaces,
        *referencegrants, *secrets;
    json_t *backend_index; /* "kind/ns/name/port" -> backend index */
    json_t *slices_by_service; /* "ns/service-name" -> its EndpointSlices (made at the first use) */
    json_t *route_status;  /* "Kind/ns/name" -> {namespace, name, generation, resourceVersion, parents[]} */
    json_t *keep;           /* strings that must live as long as the compile */
    uint64_t client_cert_digest; /* of every Gateway's backend client certificate (tls_identity) */
    const char *route_kind; /* the kind of the routes being compiled: HTTPRoute or GRPCRoute */
    pending_vhost *vhosts;
    size_t nvhosts, vhosts_cap;
    json_t *policy_index;   /* "ns/name/section" -> POLICIES index (or SL_SNAP_NONE) */
    json_t *policy_effects; /* "ns/name" -> {section: {won, winner, invalid}}, for status */
    sl_snap_range last_chain; /* the chain added last, reused by identical neighbours */
    json_t *zone_users;       /* "gateway/kind" -> [gateway index, kind]: kinds with state per Gateway */
    json_t *backend_info;     /* backend index -> what endpoint-only compiles need (sl_compile_backend_info) */
    bool resolved_names;      /* a backend host was a name, looked up by this compile */
} sl_compile_ctx;

/* compiler_tls.c: the certificates of an HTTPS listener, appended to CERTS (its
 * port's range); returns the listener's sl_snap_tls_status. Certificates of one
 * port must be added one listener after another (contiguous ranges). */
uint8_t sl_compile_listener_certs(sl_compile_ctx *c, const json_t *gw, const json_t *listener, uint32_t listener_index,
                                  uint32_t port_index);

/* compiler_tls.c: true when PEM cert (first certificate) and key belong together. */
bool sl_compile_pem_pair_usable(const char *cert, const char *key);
/* compiler_tls.c: the certificate chain and key of kubernetes.io/tls Secret
 * ns/name, decoded (malloc'd) and checked to belong together; false when it is
 * missing, of another type or unusable. */
bool sl_compile_tls_secret(sl_compile_ctx *c, const char *ns, const char *name, char **cert, size_t *clen, char **key,
                           size_t *klen);

/* compiler_routes.c: attaches every HTTPRoute to the listeners it may use. */
void sl_compile_routes(sl_compile_ctx *c);
/* compiler_routes.c: sorts each vhost's routes and writes VHOSTS and ROUTES, filling
 * each port's vhost range. */
void sl_compile_emit_vhosts(sl_compile_ctx *c);
/* compiler_backends.c: the action of one rule (backends resolved). */
uint32_t sl_compile_action(sl_compile_ctx *c, const json_t *route, const json_t *rule);

/* compiler_backends.c: resolves one backendRef (Service port or Backend) to a
 * backend index, SL_SNAP_NONE when it cannot be. */
uint32_t sl_compile_backend(sl_compile_ctx *c, const char *route_ns, const json_t *ref);
/* compiler_backends.c: adds the endpoints for host:port (an IP literal, or a
 * name resolved now; none, with a warning, when it does not resolve), each
 * with that weight. */
void sl_compile_host_endpoints(sl_compile_ctx *c, const char *host, uint16_t port, uint32_t weight);
/* compiler_balancer.c: a resolved backend's traffic settings: its slots in the
 * shared endpoint table, and the BackendPolicy that targets group/kind ns/name
 * (load balancing, health checks, ejection, circuit breakers). */
void sl_compile_backend_traffic(sl_compile_ctx *c, uint32_t backend, const char *group, const char *kind,
                                const char *ns, const char *name, long long port);
/* compiler_lb_tables.c: the ring (ring hash) or lookup table (maglev) of a
 * backend whose endpoints are final, into LB_ENTRIES and its lb_entries. */
void sl_compile_ring(sl_compile_ctx *c, uint32_t backend, uint32_t ring_min, uint32_t ring_max);
void sl_compile_maglev(sl_compile_ctx *c, uint32_t backend);
/* compiler_backend_policy_status.c: status.ancestors of every BackendPolicy,
 * into c->route_status under "BackendPolicy/ns/name"; after the routes. */
void sl_compile_backend_policy_status(sl_compile_ctx *c);
/* compiler_ai.c: a Backend of type AI (ns/name, known to exist) as a backend
 * record with its provider, endpoint, TLS and credentials; SL_SNAP_NONE when
 * it cannot be served (sl_compile_ai_problem says why). */
uint32_t sl_compile_ai_backend(sl_compile_ctx *c, const char *ns, const char *name);
/* compiler_ai.c: why a route's reference to AI Backend obj does not resolve
 * (a ResolvedRefs reason, *message set), or NULL when it does. */
const char *sl_compile_ai_problem(sl_compile_ctx *c, const json_t *obj, bool grpc, const char **message);
/* compiler_backends.c: a backend record with its identity set and no
 * balancer, series or endpoint-table slot yet. */
sl_snap_backend sl_compile_backend_record(sl_compile_ctx *c, const char *kind, const char *ns, const char *name);
/* compiler_mcp.c: the backend record of the Backend of type MCP ns/name, or
 * SL_SNAP_NONE when it cannot be served (sl_compile_mcp_problem says why). */
uint32_t sl_compile_mcp_backend(sl_compile_ctx *c, const char *ns, const char *name);
const char *sl_compile_mcp_problem(const json_t *obj, bool grpc, const char **message);

/* compiler_backend_tls.c: TLS towards a backend, from a Backend's spec.static
 * (protocol HTTPS, tls) or from the BackendTLSPolicy that applies to a Service
 * port (backendtls_rules.h). */
void sl_compile_static_tls(sl_compile_ctx *c, const char *ns, const json_t *static_spec, sl_snap_backend *be);
void sl_compile_service_tls(sl_compile_ctx *c, const char *ns, const char *service, const char *port_name,
                            sl_snap_backend *be);
/* compiler_backend_tls.c: sets be->tls_identity from its TLS settings (strings
 * already in the builder) and c->client_cert_digest; call once they are final. */
void sl_compile_tls_identity(sl_compile_ctx *c, sl_snap_backend *be);
/* Decodes standard base64 into a NUL-terminated malloc'd string. NULL if invalid. */
char *sl_base64_decode(const char *in, size_t *outlen);

/* compiler_ca.c: CA certificate references resolved: the usable ones' PEM and
 * why the others are not usable. */
typedef struct sl_ca_refs {
    char *pem;         /* malloc'd bundle of the usable references' "ca.crt" ("" when none) */
    size_t len;
    size_t usable, total;
    uint8_t problem;   /* sl_snap_ref_status of the first reference that is not usable */
    char message[320]; /* which reference and why ("" when all are usable) */
} sl_ca_refs;
/* Resolves refs ({group, kind, name, namespace}: group "" and kind ConfigMap or
 * Secret, key "ca.crt" holding at least one PEM certificate) made by an object of
 * from_kind (group gateway.networking.k8s.io) in namespace from_ns; kind defaults
 * to default_kind. A reference to another namespace needs a ReferenceGrant there;
 * with from_kind NULL it is never permitted. Logs nothing (callers that use the
 * bundle log out->message). Free with sl_ca_refs_free. */
void sl_compile_ca_refs(sl_compile_ctx *c, const char *from_kind, const char *from_ns, const json_t *refs,
                        const char *default_kind, sl_ca_refs *out);
void sl_ca_refs_free(sl_ca_refs *r);

/* compiler_gateway_tls.c: the Gateway's spec.tls.backend.clientCertificateRef:
 * the certificate and key its workers present to TLS backends, or why it does
 * not resolve, into its record; folds the certificate into c->client_cert_digest. */
void sl_compile_gateway_backend_cert(sl_compile_ctx *c, const json_t *gw, sl_snap_gateway *g);
/* compiler_gateway_tls.c: the client certificate validation the Gateway's
 * spec.tls.frontend sets for an HTTPS listener (perPort for its port, else
 * default). Returns false when it sets none. Otherwise fills *mode
 * (sl_snap_client_cert) and *cas (free with sl_ca_refs_free), and records the
 * references' status in the listener's record. */
bool sl_compile_frontend_validation(sl_compile_ctx *c, const json_t *gw, const json_t *listener,
                                    uint32_t listener_index, uint8_t *mode, sl_ca_refs *cas);

/* compiler_btls_status.c: is condition `type` of the list True? */
bool sl_compile_condition_true(const json_t *conds, const char *type);
/* compiler_btls_status.c: appends Gateway ns/name to out (an array of
 * {namespace, name}) unless it is there. */
void sl_compile_add_gateway(json_t *out, const char *ns, const char *name);
/* compiler_btls_status.c: our status.ancestors of every BackendTLSPolicy, into
 * c->route_status under "BackendTLSPolicy/ns/name"; after the routes. */
void sl_compile_btls_status(sl_compile_ctx *c);
/* compiler_backends.c: does a ReferenceGrant in to_ns let a from_kind (group
 * gateway.networking.k8s.io) in from_ns refer to to_group/to_kind `name`? */
bool sl_compile_granted(sl_compile_ctx *c, const char *from_kind, const char *from_ns, const char *to_ns,
                        const char *to_group, const char *to_kind, const char *name);
/* compiler_policies.c: the policy chain of one rule of a route on one listener
 * (TrafficPolicies merged by attachment level); {0, 0} when none applies. */
sl_snap_range sl_compile_policy_chain(sl_compile_ctx *c, const json_t *route, size_t rule_index,
                                      uint32_t listener_index);
/* compiler_policies.c: the shared-memory zones of the kinds that keep state per
 * Gateway (created or kept; the unused ones freed), into ZONES; after the routes. */
void sl_compile_policy_zones(sl_compile_ctx *c);
/* compiler_policy_status.c: status.ancestors of every TrafficPolicy, into
 * c->route_status under "TrafficPolicy/ns/name"; after the routes. */
void sl_compile_policy_status(sl_compile_ctx *c);
/* compiler_policies.c: the `section` of the TrafficPolicy that applies to a
 * listener of Gateway gw: one naming the listener (sectionName) wins over one
 * for the whole Gateway; at one level the older. NULL when none. */
const json_t *sl_compile_listener_section(sl_compile_ctx *c, const json_t *gw, const json_t *listener,
                                          const char *section);
/* compiler_routes.c: is Gateway ns/name one that sluice runs (in GATEWAYS)? */
bool sl_compile_gateway_is_ours(sl_compile_ctx *c, const char *ns, const char *name);

/* compiler_filters.c: a filter list's records (contiguous). */
sl_snap_range sl_compile_filters(sl_compile_ctx *c, const json_t *route, const json_t *filters);

/* compiler_backends.c: the ResolvedRefs condition of a route (reason and
 * message; reason "ResolvedRefs" when every backendRef resolves). */
void sl_compile_refs_condition(sl_compile_ctx *c, const json_t *route, const char **reason, const char **message);

/* A string already added to the builder (valid until the next string is added). */
static inline const char *sl_compile_str(const sl_compile_ctx *c, sl_snap_str s)
{
    return (const char *)c->b.tab[SL_SNAP_STRINGS].data + s.off;
}

/* compiler.c: every object of kind as the store has it (shared: not to be
 * changed); an empty array, logged, when the store cannot be read. */
json_t *sl_compile_list_kind(sl_store *s, const char *kind);

/* compiler_backends.c: appends the endpoints of Service ns/name's port
 * port_name from its EndpointSlices (ready ones; IPv4 and IPv6 slices). */
void sl_compile_service_endpoints(sl_compile_ctx *c, const char *ns, const char *name, const char *port_name);

/* compiler_balancer.c: the shared-state slots of backend (index) and of its
 * endpoints, by their keys, made from key_prefix (the same key keeps its slot
 * from one snapshot to the next). */
void sl_compile_backend_slots(sl_compile_ctx *c, uint32_t backend, const char *key_prefix);

/* compiler_balancer.c: what an endpoint-only compile must know of backend
 * (index) and cannot read from its record, made on first use: "slots" (the
 * slots' key prefix; none: the backend has no slots), "portName" (a Service
 * backend's port), "ring" ([min, max] of a ring hash). */
json_t *sl_compile_backend_info(sl_compile_ctx *c, uint32_t backend);

/* compiler_backends.c: the object ns/name of a listed kind (list as the store
 * lists it: in (namespace, name) order), NULL when absent. */
const json_t *sl_compile_find_object(const json_t *list, const char *ns, const char *name);


#endif

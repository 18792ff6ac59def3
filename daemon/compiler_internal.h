/* Shared state of one compilation, for daemon/compiler*.c only. */
#ifndef SL_COMPILER_INTERNAL_H
#define SL_COMPILER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "daemon/compiler.h"
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
    pending_route *routes;
    size_t nroutes, cap;
} pending_vhost;

typedef struct sl_compile_ctx {
    sl_store *store;
    sl_snap_builder b;
    json_t *configmaps, *backendtlspolicies, *trafficpolicies;
    json_t *gateway_classes, *gateways, *httproutes, *grpcroutes, *services, *endpointslices, *backends, *namespaces,
        *referencegrants, *secrets;
    json_t *backend_index; /* "kind/ns/name/port" -> backend index */
    json_t *route_status;  /* "Kind/ns/name" -> {namespace, name, generation, resourceVersion, parents[]} */
    json_t *keep;           /* strings that must live as long as the compile */
    const char *route_kind; /* the kind of the routes being compiled: HTTPRoute or GRPCRoute */
    pending_vhost *vhosts;
    size_t nvhosts, vhosts_cap;
} sl_compile_ctx;

/* compiler_tls.c: the certificates of an HTTPS listener, appended to CERTS (its
 * port's range); returns the listener's sl_snap_tls_status. Certificates of one
 * port must be added one listener after another (contiguous ranges). */
uint8_t sl_compile_listener_certs(sl_compile_ctx *c, const json_t *gw, const json_t *listener, uint32_t listener_index,
                                  uint32_t port_index);

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
/* compiler_backend_tls.c: TLS towards a backend, from a Backend's spec.static
 * (protocol HTTPS, tls) or from a BackendTLSPolicy targeting a Service port. */
void sl_compile_static_tls(sl_compile_ctx *c, const char *ns, const json_t *static_spec, sl_snap_backend *be);
void sl_compile_service_tls(sl_compile_ctx *c, const char *ns, const char *service, const char *port_name,
                            sl_snap_backend *be);
/* Decodes standard base64 into a NUL-terminated malloc'd string. NULL if invalid. */
char *sl_base64_decode(const char *in, size_t *outlen);
/* The PEM bundle of CA references ({kind Secret|ConfigMap, name}, key "ca.crt")
 * in namespace ns: malloc'd (maybe empty), *len set. */
char *sl_compile_ca_bundle(sl_compile_ctx *c, const char *ns, const json_t *refs, const char *default_kind, size_t *len);
/* compiler_backends.c: does a ReferenceGrant in to_ns let a from_kind (group
 * gateway.networking.k8s.io) in from_ns refer to to_group/to_kind `name`? */
bool sl_compile_granted(sl_compile_ctx *c, const char *from_kind, const char *from_ns, const char *to_ns,
                        const char *to_group, const char *to_kind, const char *name);
/* compiler_filters.c: a filter list's records (contiguous). */
sl_snap_range sl_compile_filters(sl_compile_ctx *c, const json_t *route, const json_t *filters);

/* compiler_backends.c: the ResolvedRefs condition of a route (reason and
 * message; reason "ResolvedRefs" when every backendRef resolves). */
void sl_compile_refs_condition(sl_compile_ctx *c, const json_t *route, const char **reason, const char **message);

/* Small JSON accessors: "" / dflt when absent. */
const char *sl_js(const json_t *obj, const char *key);
long long sl_ji(const json_t *obj, const char *key, long long dflt);
const char *sl_jmeta(const json_t *obj, const char *key);

#endif

/* The registry of stored kinds: one table drives the store, validation, the
 * admin API's URL routing and discovery. Adding a kind means adding one row. */
#ifndef SL_KINDS_H
#define SL_KINDS_H

#include <jansson.h>
#include <stdbool.h>

#include "daemon/validate.h"

/* Validates an object's spec (and anything kind-specific). Metadata common to all
 * kinds is checked by the caller. `obj` is the whole object. */
typedef void (*sl_validate_fn)(sl_vctx *v, const json_t *obj);

typedef struct sl_kind {
    const char *kind;       /* "HTTPRoute" */
    const char *plural;     /* "httproutes" */
    const char *singular;   /* "httproute" */
    const char *group;      /* "" for core, else "gateway.networking.k8s.io" */
    const char *versions[3];/* served versions, preferred first, NULL-terminated */
    const char *short_names[3];
    bool namespaced;
    bool has_status;        /* has a /status subresource; spec changes bump generation */
    bool name_is_label;     /* metadata.name must be a DNS-1123 label (Namespace, Service) */
    sl_validate_fn validate;
} sl_kind;

/* All kinds, terminated by an entry with kind == NULL. */
extern const sl_kind sl_kinds[];

/* Looks up a kind by group, version and plural resource name (URL form).
 * Returns NULL when no such resource is served. */
const sl_kind *sl_kind_by_resource(const char *group, const char *version, const char *plural);
/* Looks up by apiVersion ("v1", "gateway.networking.k8s.io/v1") and kind name. */
const sl_kind *sl_kind_by_api_version(const char *api_version, const char *kind);
/* Looks up by kind name alone (the store's key). */
const sl_kind *sl_kind_by_name(const char *kind);
/* True when the kind serves the given version. */
bool sl_kind_serves_version(const sl_kind *k, const char *version);
/* Writes the apiVersion string for a kind and version ("v1" or "group/version"). */
void sl_kind_api_version(const sl_kind *k, const char *version, char *out, size_t outlen);

/* Validates a whole object of kind k: its metadata, the kind's own checks, and
 * its spec against the kind's schema when it has one (api/<singular>.yaml:
 * daemon/api_schema.h; what the schema finds again is not repeated). What
 * every writer of the store calls. */
void sl_kind_validate(const sl_kind *k, sl_vctx *v, const json_t *obj);

/* Per-kind spec validators (daemon/validate_*.c). */
void sl_validate_namespace(sl_vctx *v, const json_t *obj);
void sl_validate_service(sl_vctx *v, const json_t *obj);
void sl_validate_secret(sl_vctx *v, const json_t *obj);
void sl_validate_configmap(sl_vctx *v, const json_t *obj);
void sl_validate_endpointslice(sl_vctx *v, const json_t *obj);
void sl_validate_gatewayclass(sl_vctx *v, const json_t *obj);
void sl_validate_gateway(sl_vctx *v, const json_t *obj);
void sl_validate_httproute(sl_vctx *v, const json_t *obj);
void sl_validate_grpcroute(sl_vctx *v, const json_t *obj);
void sl_validate_tlsroute(sl_vctx *v, const json_t *obj);
void sl_validate_tcproute(sl_vctx *v, const json_t *obj);
void sl_validate_referencegrant(sl_vctx *v, const json_t *obj);
void sl_validate_backendtlspolicy(sl_vctx *v, const json_t *obj);
void sl_validate_trafficpolicy(sl_vctx *v, const json_t *obj);
void sl_validate_backend(sl_vctx *v, const json_t *obj);
void sl_validate_backendpolicy(sl_vctx *v, const json_t *obj);

#endif

/* Object metadata rules shared by every kind: what the server sets (uid,
 * creationTimestamp, resourceVersion, generation), what a client may not change,
 * and JSON merge patch (RFC 7386). */
#ifndef SL_OBJECTS_H
#define SL_OBJECTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon/kinds.h"

/* The label every Namespace carries, always equal to its name (as the Kubernetes
 * API server sets it since 1.22), so that label selectors can pick namespaces by
 * name (e.g. a listener's allowedRoutes.namespaces.selector). */
#define SL_NAMESPACE_NAME_LABEL "kubernetes.io/metadata.name"

/* Accessors; return "" (never NULL) when the field is absent. */
/* A string field of obj ("" when absent or not a string); an integer field
 * (dflt when absent or not an integer); a string of obj's metadata. */
const char *sl_js(const json_t *obj, const char *key);
long long sl_ji(const json_t *obj, const char *key, long long dflt);
const char *sl_jmeta(const json_t *obj, const char *key);

const char *sl_obj_name(const json_t *obj);
const char *sl_obj_namespace(const json_t *obj);
/* metadata.resourceVersion (a string of digits) as a number; 0 when absent or
 * empty, -1 when it is not such a string (a JSON number included). */
int64_t sl_obj_resource_version(const json_t *obj);

/* Ensures obj has a metadata object and returns it (borrowed). */
json_t *sl_obj_metadata(json_t *obj);

/* Writes the current UTC time as RFC 3339 ("2026-11-29T03:17:29Z") into out[32]. */
void sl_rfc3339_now(char out[32]);
/* Writes a random RFC 4122 version 4 UUID into out[37]. */
void sl_uuid4(char out[37]);

/* Prepares an object for its first write: sets uid, creationTimestamp, generation 1 and
 * resourceVersion; drops status when the kind has a status subresource (status is only
 * written through /status) and drops client-set fields the server owns. A Namespace
 * gets its SL_NAMESPACE_NAME_LABEL, whatever the client sent for it. */
void sl_obj_prepare_create(const sl_kind *k, json_t *obj, int64_t rv);

/* Prepares a replacement of `old` by `obj` through the main resource: keeps the
 * server-owned metadata of old, keeps old's status for kinds with a status
 * subresource, and bumps generation when anything but metadata and status changed.
 * A Namespace keeps its SL_NAMESPACE_NAME_LABEL (set back if the client removed or
 * changed it). */
void sl_obj_prepare_update(const sl_kind *k, json_t *obj, const json_t *old, int64_t rv);

/* Builds the object that a /status write produces: old with its status replaced by
 * the status of `obj` and a new resourceVersion. Returns a new reference. */
json_t *sl_obj_apply_status(const json_t *obj, const json_t *old, int64_t rv);

/* The annotation that marks an object applied from a --config-dir file (its
 * value: the file's name); such objects belong to the directory. */
#define SL_CONFIG_FILE_ANNOTATION "sluice.dev/config-file"

/* What a user wrote of obj: a deep copy without the server-owned metadata
 * (uid, resourceVersion, generation, creationTimestamp...), without the status
 * of kinds with a status subresource (the controller writes it) and without a
 * Namespace's SL_NAMESPACE_NAME_LABEL. What `sluiced export` prints, and what
 * --config-dir compares to know whether a file changed an object. */
json_t *sl_obj_user_form(const sl_kind *k, const json_t *obj);

/* RFC 7386 JSON merge patch: returns a new object, target with patch applied.
 * Keys beginning with '$' (strategic-merge-patch directives) are ignored, so a
 * strategic merge patch is applied as a merge patch. */
json_t *sl_merge_patch(const json_t *target, const json_t *patch);

#endif

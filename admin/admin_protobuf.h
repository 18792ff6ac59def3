/* The Kubernetes protobuf encoding (application/vnd.kubernetes.protobuf) of the
 * admin API, which typed Kubernetes clients (kubectl create namespace|secret|
 * configmap since 1.2x) send and ask for.
 *
 * On the wire: the 4 bytes "k8s\0", then a runtime.Unknown message whose
 * typeMeta names the apiVersion and kind and whose raw bytes are the object's
 * own message (the .proto files in proto/, trimmed from Kubernetes' generated.proto files).
 * Objects are converted to and from the JSON the rest of the admin API works
 * on (admin_pb_json.h), so the create/validate/store path is the same for both
 * encodings.
 *
 * Kinds with a protobuf form: Namespace, Secret, ConfigMap, Service (v1) and
 * EndpointSlice (discovery.k8s.io/v1), read and written; Status (v1), written
 * only. Nothing here depends on the server (the fuzz target links it alone). */
#ifndef SL_ADMIN_PROTOBUF_H
#define SL_ADMIN_PROTOBUF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_PB_MEDIA_TYPE "application/vnd.kubernetes.protobuf"

typedef enum sl_pb_rc {
    SL_PB_OK = 0,
    SL_PB_INVALID,     /* the bytes are not a valid encoding of what they claim (400) */
    SL_PB_UNSUPPORTED, /* well formed, but a kind or encoding sluice has no protobuf form for (415) */
} sl_pb_rc;

/* True when content_type (may be NULL) is application/vnd.kubernetes.protobuf,
 * with or without parameters, in any letter case. */
bool sl_pb_is_media_type(const char *content_type);

/* True when an Accept header (may be NULL) ranks application/vnd.kubernetes.protobuf
 * (without parameters other than q) above every range that JSON matches
 * (application/json, and the wildcards of any type or subtype), or equal and
 * listed first, as kubectl's "application/vnd.kubernetes.protobuf,application/json"
 * does. */
bool sl_pb_accept_prefers(const char *accept);

/* Decodes a request body in the protobuf encoding into the JSON object the same
 * object sent as JSON would be, with apiVersion and kind set. When the
 * envelope's typeMeta leaves apiVersion or kind empty, default_api_version and
 * default_kind (the URL's; may be NULL) are used, as Kubernetes does.
 * Returns SL_PB_OK with a new reference in *out; otherwise *out is NULL and
 * err[errlen] says what is wrong: SL_PB_INVALID for bytes that do not parse
 * (no "k8s\0" prefix, a broken message, a string that is not UTF-8, a bad
 * time), SL_PB_UNSUPPORTED for a kind sluice does not read as protobuf (the
 * message lists the kinds it reads) or a contentEncoding. */
sl_pb_rc sl_pb_decode(const uint8_t *data, size_t len, const char *default_api_version, const char *default_kind,
                      json_t **out, char *err, size_t errlen);

/* Encodes obj (an object as stored, or a Status) in the protobuf encoding.
 * Returns SL_PB_OK with *out (malloc'd, the caller frees it) and *outlen;
 * SL_PB_UNSUPPORTED when obj's apiVersion and kind have no protobuf form (a
 * list, a discovery document: answer JSON); SL_PB_INVALID, with err[errlen]
 * naming the field, when a value does not fit its protobuf field. Fields of obj
 * that the .proto files leave out are not sent. */
sl_pb_rc sl_pb_encode(const json_t *obj, uint8_t **out, size_t *outlen, char *err, size_t errlen);

#endif

/* Kubernetes protobuf messages <-> the JSON form of the same object, driven by
 * the protobuf-c descriptors generated from the .proto files in proto/: one walker for every
 * kind instead of a hand-written converter per message.
 *
 * The JSON is what Kubernetes' own JSON encoding gives for the object, so the
 * admin API's create/validate/store path cannot tell which encoding a client
 * used:
 *   - a field's JSON key is its name in the .proto (Kubernetes keeps them equal);
 *   - bytes are base64 strings; a map<string, V> is a JSON object;
 *   - meta/v1 Time is an RFC 3339 string at second precision (a zero Time is
 *     unset); intstr IntOrString is a number or a string (zero is unset);
 *   - an unset or zero scalar (0, "", false) is left out: Go's protobuf code
 *     writes every non-pointer field whatever its value, while its JSON tags omit
 *     them (omitempty). The few fields whose zero is an answer (pointers in Go,
 *     such as an EndpointSlice endpoint's conditions.ready: false) are listed
 *     in admin_pb_json.c and kept;
 *   - a message that is present is an object, even when empty ("spec": {}).
 * Fields on the wire that the .proto files leave out are skipped, as a
 * Kubernetes decoder skips fields it does not know. */
#ifndef SL_ADMIN_PB_JSON_H
#define SL_ADMIN_PB_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Converts a decoded message to its JSON object. Returns a new reference, or
 * NULL with a message naming the field ("metadata.labels[app]: not valid
 * UTF-8") in err[errlen] when a value has no JSON form. */
json_t *sl_pb_message_to_json(const ProtobufCMessage *m, char *err, size_t errlen);

/* Builds a message of type desc from its JSON object (the inverse of
 * sl_pb_message_to_json; keys desc does not define are ignored). Returns the
 * message, to be freed with protobuf_c_message_free_unpacked(m, NULL), or NULL
 * with a message naming the field in err[errlen] when a value does not fit its
 * field (wrong type, out of range, bad base64 or time). */
ProtobufCMessage *sl_pb_message_from_json(const ProtobufCMessageDescriptor *desc, const json_t *obj, char *err,
                                          size_t errlen);

/* Ends s at len bytes (s[len] = NUL), dropping a last UTF-8 sequence that a
 * length limit split there, so that a message made of valid UTF-8 pieces and
 * cut to fit a buffer stays valid (it ends up in a JSON Status, and jansson
 * refuses anything else). Returns the new length. */
size_t sl_pb_utf8_cut(char *s, size_t len);

#endif

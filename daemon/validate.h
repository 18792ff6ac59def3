/* Object validation: a context that collects every problem with its field path,
 * so one 422 answer can name all bad fields at once (not just the first).
 *
 * Field paths follow the Kubernetes style: "spec.rules[0].matches[1].path.value".
 * Validators push path segments as they descend and pop them on the way back. */
#ifndef SL_VALIDATE_H
#define SL_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* At most this many causes are listed (the last says more were found): a
 * hostile body with a million bad fields costs linear time and one small answer. */
#define SL_V_MAX_CAUSES 100

typedef struct sl_vctx {
    json_t *causes;  /* array of {"field","message","reason"}; owned by the context */
    char path[1024]; /* current path */
    size_t len;      /* length of path */
    size_t schema_from; /* >0 while the schema's check runs: causes before it are the kind's own
                         * (sl_kind_validate); a schema cause they already give is dropped */
} sl_vctx;

void sl_vctx_init(sl_vctx *v);
void sl_vctx_free(sl_vctx *v);
/* Number of problems collected so far. */
size_t sl_vctx_count(const sl_vctx *v);

/* Descends into a field ("spec", "hostnames") or an index (sl_v_index).
 * Returns the previous path length, to give back to sl_v_pop. */
size_t sl_v_field(sl_vctx *v, const char *name);
size_t sl_v_index(sl_vctx *v, size_t i);
void sl_v_pop(sl_vctx *v, size_t previous_len);

/* Records a problem at the current path, or at current path + "." + sub when sub
 * is not NULL. reason is the Kubernetes cause type: "FieldValueInvalid",
 * "FieldValueRequired", "FieldValueNotSupported", "FieldValueDuplicate",
 * "FieldValueTooLong", "FieldValueForbidden", "FieldValueTypeInvalid". */
void sl_v_fail(sl_vctx *v, const char *sub, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Shorthands. */
#define sl_v_invalid(v, sub, ...) sl_v_fail(v, sub, "FieldValueInvalid", __VA_ARGS__)
#define sl_v_required(v, sub) sl_v_fail(v, sub, "FieldValueRequired", "Required value")

/* ---- Common checks. Each returns true when the value is valid and records a
 * problem at (path + sub) otherwise. ---- */

/* RFC 1123 subdomain: lowercase alphanumerics, '-' and '.', at most 253 chars. */
bool sl_is_dns1123_subdomain(const char *s);
/* RFC 1123 label: lowercase alphanumerics and '-', at most 63 chars. */
bool sl_is_dns1123_label(const char *s);
/* RFC 1035 label (starts with a letter), at most 63 chars: Service names. */
bool sl_is_dns1035_label(const char *s);
/* Gateway API hostname: a DNS-1123 subdomain, optionally with a leading "*." wildcard label;
 * no IP addresses, no port. */
bool sl_is_gateway_hostname(const char *s);
/* HTTP header field name (RFC 9110 token). */
bool sl_is_http_token(const char *s);
/* A field that frames or routes the message (Host, Content-Length,
 * Transfer-Encoding, Connection and the other hop-by-hop fields): one a policy
 * may not fill from a token's claims or a service's reply. */
bool sl_is_framing_header(const char *s);
/* Kubernetes qualified name (label keys, annotation keys): [prefix/]name. */
bool sl_is_qualified_name(const char *s);
/* Label value: empty or up to 63 chars of [A-Za-z0-9._-], alnum at both ends. */
bool sl_is_label_value(const char *s);

/* Validates metadata common to every object: name (DNS-1123 subdomain unless
 * name_is_label), namespace (presence matches `namespaced`), labels and annotations. */
void sl_validate_metadata(sl_vctx *v, const json_t *obj, bool namespaced, bool name_is_label);

/* Helpers for typed access with a recorded problem when the type is wrong.
 * Each returns NULL (and records nothing) when the field is absent or null. */
const json_t *sl_v_get_object(sl_vctx *v, const json_t *parent, const char *key);
const json_t *sl_v_get_array(sl_vctx *v, const json_t *parent, const char *key);
const char *sl_v_get_string(sl_vctx *v, const json_t *parent, const char *key);
/* Integer field: returns true when present and an integer, storing it in out. */
bool sl_v_get_int(sl_vctx *v, const json_t *parent, const char *key, long long *out);
/* Checks that `value` is one of the NULL-terminated `allowed`; records NotSupported. */
bool sl_v_enum(sl_vctx *v, const char *sub, const char *value, const char *const *allowed);

/* ---- Helpers for the per-kind validators (daemon/validate_*.c) ---- */

/* Descends into a map entry: appends "[key]" to the path, as Kubernetes names
 * map entries ("data[tls.crt]"). Returns the previous length for sl_v_pop. */
size_t sl_v_key(sl_vctx *v, const char *key);

/* Field present and not JSON null (null is how merge patches spell "unset"). */
const json_t *sl_v_present(const json_t *parent, const char *key);
/* Element i of a list when it is an object; otherwise records FieldValueTypeInvalid
 * at [i] (relative to the current path, which should be the list) and returns NULL. */
const json_t *sl_v_list_object(sl_vctx *v, const json_t *list, size_t i);

/* Boolean field: returns true when present and a boolean, storing it in out;
 * records FieldValueTypeInvalid when present with another type. */
bool sl_v_get_bool(sl_vctx *v, const json_t *parent, const char *key, bool *out);
/* Required string: returns the value, or NULL after recording FieldValueRequired
 * (absent, null or empty) or FieldValueTypeInvalid (not a string). */
const char *sl_v_req_string(sl_vctx *v, const json_t *parent, const char *key);
/* Optional list with bounds: returns the array (possibly shorter/longer than the
 * bounds, after recording FieldValueInvalid/FieldValueTooMany), or NULL when absent
 * or of the wrong type. `required` records FieldValueRequired when absent. */
const json_t *sl_v_get_list(sl_vctx *v, const json_t *parent, const char *key, size_t min, size_t max,
                            bool required);
/* Integer in [lo, hi]: returns true and stores it when present, an integer and in
 * range; records the type or range problem otherwise, and FieldValueRequired when
 * absent and `required`. */
bool sl_v_int_range(sl_vctx *v, const json_t *parent, const char *key, long long lo, long long hi,
                    bool required, long long *out);
/* Records FieldValueTooLong at sub when strlen(s) > max; returns true when it fits. */
bool sl_v_max_len(sl_vctx *v, const char *sub, const char *s, size_t max);

/* Gateway API Duration (GEP-2257): ^([0-9]{1,5}(h|m|s|ms)){1,4}$. On success the
 * value in milliseconds is stored in *ms (ms may be NULL). */
bool sl_parse_gateway_duration(const char *s, long long *ms);
/* IPv4 or IPv6 literal (inet_pton), without brackets, zone or prefix. */
bool sl_is_ipv4(const char *s);
bool sl_is_ipv6(const char *s);
bool sl_is_ip_literal(const char *s);
/* CIDR "addr/len": IPv4 with len 0..32 or IPv6 with len 0..128. */
bool sl_is_cidr(const char *s);
/* Standard base64 with padding (the encoding of Secret data); "" is valid. */
bool sl_is_base64(const char *s);
/* ConfigMap/Secret key: [-._a-zA-Z0-9]+, at most 253 chars, not "." or "..", not
 * starting with "..". */
bool sl_is_config_key(const char *s);
/* IANA service name (named ports): 1..15 chars of [a-z0-9-], at least one letter,
 * no leading, trailing or doubled '-'. */
bool sl_is_iana_svc_name(const char *s);
/* Gateway API Group: "" or dot-separated lowercase alphanumeric/'-' labels, max 253. */
bool sl_is_api_group(const char *s);
/* Gateway API Kind: ^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$, 1..63 chars. */
bool sl_is_api_kind(const char *s);
/* Gateway API SectionName (listener, rule and port names): non-empty group format. */
bool sl_is_section_name(const char *s);
/* "domain/name" where domain is a group-format prefix and name is a non-empty
 * string of the characters in `name_chars` (alphanumerics always allowed).
 * Used for controllerName, custom protocols and address types. */
bool sl_is_domain_prefixed(const char *s, const char *name_chars);
/* Compiles `re` with PCRE2 to check it; on failure writes the reason to err. */
bool sl_regex_compiles(const char *re, char *err, size_t errlen);

/* Field-level checks that record their own problems at (path + key). */
/* obj.spec when it is an object; records FieldValueRequired when absent (and
 * the type problem when it is not an object). */
const json_t *sl_v_spec(sl_vctx *v, const json_t *obj);
/* Optional Gateway API Duration field; stores milliseconds in *ms when valid. */
bool sl_v_duration(sl_vctx *v, const json_t *parent, const char *key, long long *ms);
/* Optional label selector (matchLabels, matchExpressions) at parent.key. */
void sl_v_label_selector(sl_vctx *v, const json_t *parent, const char *key);
/* Optional string map with qualified-name keys and string values (max entries;
 * values up to max_value chars), e.g. TLS options and infrastructure annotations. */
void sl_v_string_map(sl_vctx *v, const json_t *parent, const char *key, size_t max_entries, size_t max_value);

/* ---- Shared by routes and policies (daemon/validate_route_common.c) ---- */

/* spec.parentRefs of a route: shape, bounds and the duplicate-parent rules. */
void sl_v_parent_refs(sl_vctx *v, const json_t *spec);
/* spec.hostnames of a route: at most 16 Gateway API hostnames, no IPs. */
void sl_v_route_hostnames(sl_vctx *v, const json_t *spec);
/* BackendObjectReference at the current path (group, kind, name, namespace, port;
 * port required for Services). */
void sl_v_backend_object_ref(sl_vctx *v, const json_t *ref);
/* LocalObjectReference at the current path: group (may be ""), kind, name required. */
void sl_v_local_object_ref(sl_vctx *v, const json_t *ref);
/* HTTPHeaderFilter (set/add/remove) at the current path. */
void sl_v_header_modifier(sl_vctx *v, const json_t *hf);
/* An HTTPRoute CORS filter's settings (also a TrafficPolicy's cors section). */
void sl_v_cors(sl_vctx *v, const json_t *cfg);
/* "*" or scheme://host[:port], where the host may carry '*' wildcards. */
bool sl_is_cors_origin(const char *s);
/* Header matches at parent.key: names HTTP tokens, no duplicates (case-insensitive),
 * type Exact|RegularExpression, value 1..4096 and compiling when a regex. */
void sl_v_header_matches(sl_vctx *v, const json_t *parent, const char *key);
/* HTTPRequestMirrorFilter at the current path. */
void sl_v_request_mirror(sl_vctx *v, const json_t *m);
/* Regular expression in `value`: records FieldValueInvalid at sub when it does not compile. */
bool sl_v_regex(sl_vctx *v, const char *sub, const char *value);
/* Retry settings at parent.key (HTTPRoute and TrafficPolicy): attempts in
 * [0, max_attempts] (max_attempts < 0: unbounded), codes 400..599, backoff Duration. */
void sl_v_retry(sl_vctx *v, const json_t *parent, const char *key, long long max_attempts);
/* A rule's backendRefs: 0..16 (at least min, required when min > 0), each a
 * BackendObjectReference with a weight 0..1000000 and filters of
 * filter_types (NULL: no filters allowed, as on connection routes). */
void sl_v_weighted_backend_refs(sl_vctx *v, const json_t *rule, size_t min, const char *const *filter_types);
/* Rule names at spec.rules[].name: SectionName format and unique within the route. */
void sl_v_rule_names(sl_vctx *v, const json_t *rules);
/* sessionPersistence of a route rule, checked loosely (types, enums, durations). */
void sl_v_session_persistence(sl_vctx *v, const json_t *rule);
/* Route filter list at parent.key, for the filter types in `allowed` (NULL-terminated).
 * Each filter's type selects its one config field; repeated header modifiers,
 * redirects, rewrites and CORS are refused, as is a redirect with a rewrite. */
void sl_v_route_filters(sl_vctx *v, const json_t *parent, const char *key, const char *const *allowed);
/* Total matches across a route's rules must stay <= 128 (the Gateway API's CEL rule). */
void sl_v_total_matches(sl_vctx *v, const json_t *rules);
/* Policy targetRefs at spec.targetRefs (1..16): group, kind among `kinds` (NULL:
 * any Kind-format value), name, optional sectionName; no duplicate targets. */
void sl_v_policy_target_refs(sl_vctx *v, const json_t *spec, const char *const *kinds);

/* Gateway spec.tls (validate_gateway_tls.c): backend client certificate and
 * frontend client certificate validation (default, perPort). */
void sl_v_gateway_tls(sl_vctx *v, const json_t *spec);

/* Route kinds (validate_route_common.c): the shared spec walk; check_rule
 * validates one rule object. */
void sl_v_route_spec(sl_vctx *v, const json_t *obj, size_t min_rules, void (*check_rule)(sl_vctx *, const json_t *));

/* An optional field naming an HTTP header (an RFC 9110 token). */
void sl_v_header_name(sl_vctx *v, const json_t *o, const char *key);
/* An optional list at parent.key of 1..max printable strings without spaces
 * (paths: each starting with '/'). */
void sl_v_word_list(sl_vctx *v, const json_t *parent, const char *key, size_t max, bool path);
/* A TrafficPolicy's jwt section (validate_jwt.c). */
void sl_v_jwt(sl_vctx *v, const json_t *spec);
/* A TrafficPolicy's extAuth section (validate_ext_auth.c). */
void sl_v_ext_auth(sl_vctx *v, const json_t *spec);

#endif

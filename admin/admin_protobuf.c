/* The Kubernetes protobuf envelope, its kinds, and content negotiation; see
 * admin_protobuf.h. */
#include "admin/admin_protobuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/admin_pb_json.h"
#include "common/sl.h"
#include "proto/k8s_core_v1.pb-c.h"
#include "proto/k8s_discovery_v1.pb-c.h"
#include "proto/k8s_meta_v1.pb-c.h"
#include "proto/k8s_runtime.pb-c.h"

static const uint8_t magic[4] = {'k', '8', 's', 0};

/* Every kind with a protobuf form, and its message. */
static const struct pb_kind {
    const char *api_version;
    const char *kind;
    const ProtobufCMessageDescriptor *desc;
    bool decodable; /* read in request bodies (a Status is only ever sent) */
} pb_kinds[] = {
    {"v1", "Namespace", &k8s__core__v1__namespace__descriptor, true},
    {"v1", "Secret", &k8s__core__v1__secret__descriptor, true},
    {"v1", "ConfigMap", &k8s__core__v1__config_map__descriptor, true},
    {"v1", "Service", &k8s__core__v1__service__descriptor, true},
    {"discovery.k8s.io/v1", "EndpointSlice", &k8s__discovery__v1__endpoint_slice__descriptor, true},
    {"v1", "Status", &k8s__meta__v1__status__descriptor, false},
};

static const struct pb_kind *find_kind(const char *api_version, const char *kind)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(pb_kinds); i++)
        if (strcmp(pb_kinds[i].api_version, api_version) == 0 && strcmp(pb_kinds[i].kind, kind) == 0)
            return &pb_kinds[i];
    return NULL;
}

/* ---- Media types ---- */

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Whether [p, end) with blanks trimmed equals word, ignoring case. */
static bool token_is(const char *p, const char *end, const char *word)
{
    p = skip_ows(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t n = strlen(word);
    return (size_t)(end - p) == n && strncasecmp(p, word, n) == 0;
}

bool sl_pb_is_media_type(const char *content_type)
{
    if (!content_type)
        return false;
    const char *end = content_type + strcspn(content_type, ";");
    return token_is(content_type, end, SL_PB_MEDIA_TYPE);
}

/* Parses a q value ("1", "0.5", "0.125") into thousandths; -1 when malformed. */
static int parse_q(const char *p, const char *end)
{
    p = skip_ows(p);
    if (p >= end || (*p != '0' && *p != '1'))
        return -1;
    int q = (*p++ - '0') * 1000;
    if (p < end && *p == '.') {
        p++;
        for (int scale = 100; p < end && *p >= '0' && *p <= '9' && scale; p++, scale /= 10)
            q += (*p - '0') * scale;
    }
    p = skip_ows(p);
    return p == end && q <= 1000 ? q : -1;
}

/* One range of an Accept header, [p, end): which family it names and its q.
 * A protobuf range with other parameters (";as=Table") asks for something else. */
static void rank_range(const char *p, const char *end, int *pb_q, int *json_q)
{
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *type_end = semi ? semi : end;
    int q = 1000;
    bool other_params = false;
    while (semi) {
        const char *param = semi + 1;
        semi = memchr(param, ';', (size_t)(end - param));
        const char *param_end = semi ? semi : end;
        param = skip_ows(param);
        if (param_end - param >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=')
            q = parse_q(param + 2, param_end);
        else
            other_params = true;
    }
    if (q < 0)
        return;
    if (token_is(p, type_end, SL_PB_MEDIA_TYPE) && !other_params)
        *pb_q = q;
    else if (token_is(p, type_end, "application/json") || token_is(p, type_end, "application/*") ||
             token_is(p, type_end, "*/*"))
        *json_q = q;
}

bool sl_pb_accept_prefers(const char *accept)
{
    if (!accept)
        return false;
    /* The best q of each family, and where it was first reached: ties go to
     * the family listed first. */
    int best_pb = 0, best_json = 0;
    size_t at_pb = SIZE_MAX, at_json = SIZE_MAX;
    const char *p = accept;
    for (size_t i = 0; *p; i++) {
        const char *end = p + strcspn(p, ",");
        int pb_q = -1, json_q = -1;
        rank_range(p, end, &pb_q, &json_q);
        if (pb_q > best_pb) {
            best_pb = pb_q;
            at_pb = i;
        }
        if (json_q > best_json) {
            best_json = json_q;
            at_json = i;
        }
        p = *end ? end + 1 : end;
    }
    return best_pb > 0 && (best_pb > best_json || (best_pb == best_json && at_pb < at_json));
}

/* ---- Decoding ---- */

static void say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes a message into err, cut to fit without splitting a UTF-8 character. */
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    if (!errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n >= errlen)
        sl_pb_utf8_cut(err, errlen - 1);
}

/* A name from the wire, made safe to quote in a message (printable ASCII, cut). */
static void printable(const char *s, char *out, size_t outlen)
{
    size_t i = 0;
    for (; s[i] && i + 1 < outlen; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' ? s[i] : '?';
    out[i] = '\0';
}

/* Writes the 415 message for a kind without a protobuf form: which kind, and
 * the kinds accepted (from pb_kinds). */
static void unsupported_kind(const char *api_version, const char *kind, char *err, size_t errlen)
{
    char k[64], a[96];
    printable(kind, k, sizeof(k));
    printable(api_version, a, sizeof(a));
    int used = snprintf(err, errlen, "kind \"%s\" of apiVersion \"%s\" is not accepted as %s; the kinds accepted "
                        "are", k, a, SL_PB_MEDIA_TYPE);
    size_t n = 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(pb_kinds) && used > 0 && (size_t)used < errlen; i++) {
        if (!pb_kinds[i].decodable)
            continue;
        used += snprintf(err + used, errlen - (size_t)used, "%s %s (%s)", n++ ? "," : "", pb_kinds[i].kind,
                         pb_kinds[i].api_version);
    }
    if (used > 0 && (size_t)used < errlen)
        snprintf(err + used, errlen - (size_t)used, "; send other kinds as application/json");
}

sl_pb_rc sl_pb_decode(const uint8_t *data, size_t len, const char *default_api_version, const char *default_kind,
                      json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (len < sizeof(magic) || memcmp(data, magic, sizeof(magic)) != 0) {
        say(err, errlen, "the body does not start with the 4 bytes \"k8s\\x00\"");
        return SL_PB_INVALID;
    }
    K8s__Runtime__Unknown *u = k8s__runtime__unknown__unpack(NULL, len - sizeof(magic), data + sizeof(magic));
    if (!u) {
        say(err, errlen, "the body is not a valid runtime.Unknown message after its \"k8s\\x00\" prefix");
        return SL_PB_INVALID;
    }
    sl_pb_rc rc = SL_PB_INVALID;
    ProtobufCMessage *m = NULL;
    const char *api = u->typemeta && u->typemeta->apiversion && *u->typemeta->apiversion ? u->typemeta->apiversion
                      : default_api_version                                                ? default_api_version
                                                                                           : "";
    const char *kind = u->typemeta && u->typemeta->kind && *u->typemeta->kind ? u->typemeta->kind
                       : default_kind                                         ? default_kind
                                                                              : "";
    const struct pb_kind *pk = find_kind(api, kind);
    char why[512];
    if (u->contentencoding && *u->contentencoding) {
        printable(u->contentencoding, why, 64);
        say(err, errlen, "contentEncoding \"%s\" is not supported: send the object unencoded", why);
        rc = SL_PB_UNSUPPORTED;
    } else if (u->contenttype && *u->contenttype && !sl_pb_is_media_type(u->contenttype)) {
        printable(u->contenttype, why, 64);
        say(err, errlen, "contentType \"%s\" is not supported: the raw object must be %s", why,
                 SL_PB_MEDIA_TYPE);
        rc = SL_PB_UNSUPPORTED;
    } else if (!pk || !pk->decodable) {
        unsupported_kind(api, kind, err, errlen);
        rc = SL_PB_UNSUPPORTED;
    } else if (!(m = protobuf_c_message_unpack(pk->desc, NULL, u->has_raw ? u->raw.len : 0,
                                               u->has_raw ? u->raw.data : NULL))) {
        say(err, errlen, "the %s in the body is not a valid %s message", pk->kind, pk->desc->name);
    } else {
        json_t *fields = sl_pb_message_to_json(m, why, sizeof(why));
        json_t *obj = fields ? json_pack("{s:s, s:s}", "kind", pk->kind, "apiVersion", pk->api_version) : NULL;
        if (obj && json_object_update(obj, fields) == 0) {
            *out = obj;
            rc = SL_PB_OK;
        } else {
            json_decref(obj);
            say(err, errlen, "the %s in the body cannot be read: %s", pk->kind, fields ? "out of memory" : why);
        }
        json_decref(fields);
    }
    protobuf_c_message_free_unpacked(m, NULL);
    k8s__runtime__unknown__free_unpacked(u, NULL);
    return rc;
}

/* ---- Encoding ---- */

sl_pb_rc sl_pb_encode(const json_t *obj, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    const char *api = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const struct pb_kind *pk = api && kind ? find_kind(api, kind) : NULL;
    if (!pk) {
        say(err, errlen, "%s has no protobuf form", kind ? kind : "a document without a kind");
        return SL_PB_UNSUPPORTED;
    }
    ProtobufCMessage *m = sl_pb_message_from_json(pk->desc, obj, err, errlen);
    if (!m)
        return SL_PB_INVALID;
    size_t raw_len = protobuf_c_message_get_packed_size(m);
    uint8_t *raw = malloc(raw_len ? raw_len : 1);
    K8s__Runtime__TypeMeta tm = K8S__RUNTIME__TYPE_META__INIT;
    K8s__Runtime__Unknown u = K8S__RUNTIME__UNKNOWN__INIT;
    /* The envelope only borrows the names and the bytes while it is packed. */
    tm.apiversion = (char *)pk->api_version;
    tm.kind = (char *)pk->kind;
    u.typemeta = &tm;
    u.has_raw = 1;
    u.raw.len = raw ? protobuf_c_message_pack(m, raw) : 0;
    u.raw.data = raw;
    protobuf_c_message_free_unpacked(m, NULL);
    size_t n = k8s__runtime__unknown__get_packed_size(&u);
    uint8_t *buf = raw ? malloc(sizeof(magic) + n) : NULL;
    if (!buf) {
        free(raw);
        say(err, errlen, "out of memory");
        return SL_PB_INVALID;
    }
    memcpy(buf, magic, sizeof(magic));
    *outlen = sizeof(magic) + k8s__runtime__unknown__pack(&u, buf + sizeof(magic));
    *out = buf;
    free(raw);
    return SL_PB_OK;
}

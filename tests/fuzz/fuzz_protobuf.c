/* libFuzzer target for the admin API's Kubernetes protobuf codec
 * (admin/admin_protobuf.c, admin/admin_pb_json.c, and protobuf-c under them):
 * request bodies come from the network. Every input is used
 *   1. as a whole request body (the URL's kind chosen from the input's length);
 *   2. as the raw object message of one kind (picked by the first byte) inside a
 *      well-formed envelope, so that mutations reach the object messages
 *      without first having to keep the envelope intact;
 *   3. as a JSON document to encode, as the server encodes what it stored;
 *   4. as an Accept and a Content-Type header value.
 * Invariants checked:
 *   - decoding gives SL_PB_OK with an object whose apiVersion and kind are
 *     strings, or an error with a message and no object;
 *   - whatever decodes also encodes, and decoding that gives the same JSON
 *     (the mapping loses nothing it keeps);
 *   - encoding gives SL_PB_OK with bytes that start with "k8s\0" and decode
 *     (a Status, which is only ever sent, excepted), or an error with a message;
 *   - the header parsers give the same answer twice.
 * ASan, UBSan and LeakSanitizer are the other oracle.
 * Also builds without libFuzzer through tests/fuzz/replay.c. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_protobuf.h"
#include "proto/k8s_runtime.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "fuzz_protobuf: invariant failed at %s:%d: %s\n", __FILE__, \
                    __LINE__, #cond);                                                    \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* The kinds a body may name, and one it may not. */
static const char *const kinds[][2] = {
    {"v1", "Namespace"}, {"v1", "Secret"},  {"v1", "ConfigMap"}, {"v1", "Service"},
    {"discovery.k8s.io/v1", "EndpointSlice"}, {"v1", "Status"}, {"gateway.networking.k8s.io/v1", "HTTPRoute"},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static sl_pb_rc decode(const uint8_t *data, size_t size, size_t kind, json_t **out)
{
    char err[512] = "";
    /* An exact-size copy, so that ASan sees any read past the bytes. */
    uint8_t *copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL);
    if (size)
        memcpy(copy, data, size);
    sl_pb_rc rc = sl_pb_decode(copy, size, kinds[kind][0], kinds[kind][1], out, err, sizeof(err));
    free(copy);
    FUZZ_CHECK(rc == SL_PB_OK || rc == SL_PB_INVALID || rc == SL_PB_UNSUPPORTED);
    if (rc == SL_PB_OK) {
        FUZZ_CHECK(json_is_object(*out));
        FUZZ_CHECK(json_is_string(json_object_get(*out, "apiVersion")));
        FUZZ_CHECK(json_is_string(json_object_get(*out, "kind")));
    } else {
        FUZZ_CHECK(*out == NULL);
        FUZZ_CHECK(err[0] != '\0');
    }
    return rc;
}

/* Encodes obj; when that works, decodes the bytes and checks the JSON is the
 * same as expect (when not NULL). */
static void encode_and_back(const json_t *obj, const json_t *expect)
{
    uint8_t *pb = NULL;
    size_t n = 0;
    char err[256] = "";
    sl_pb_rc rc = sl_pb_encode(obj, &pb, &n, err, sizeof(err));
    FUZZ_CHECK(rc == SL_PB_OK || rc == SL_PB_INVALID || rc == SL_PB_UNSUPPORTED);
    if (rc != SL_PB_OK) {
        FUZZ_CHECK(pb == NULL && err[0] != '\0');
        FUZZ_CHECK(expect == NULL); /* what was decoded must encode */
        return;
    }
    FUZZ_CHECK(n >= 4 && memcmp(pb, "k8s", 4) == 0);
    json_t *back = NULL;
    rc = decode(pb, n, 0, &back);
    free(pb);
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (rc == SL_PB_UNSUPPORTED) {
        FUZZ_CHECK(kind && strcmp(kind, "Status") == 0);
        return;
    }
    FUZZ_CHECK(rc == SL_PB_OK);
    if (expect)
        FUZZ_CHECK(json_equal(back, expect));
    else
        encode_and_back(back, back); /* from here on, the JSON is stable */
    json_decref(back);
}

static void fuzz_body(const uint8_t *data, size_t size, size_t kind)
{
    json_t *obj = NULL;
    if (decode(data, size, kind, &obj) == SL_PB_OK) {
        encode_and_back(obj, obj);
        json_decref(obj);
    }
}

/* data[1..] as the raw object of the kind data[0] picks. */
static void fuzz_raw(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    size_t kind = data[0] % NKINDS;
    K8s__Runtime__TypeMeta tm = K8S__RUNTIME__TYPE_META__INIT;
    K8s__Runtime__Unknown u = K8S__RUNTIME__UNKNOWN__INIT;
    tm.apiversion = (char *)kinds[kind][0];
    tm.kind = (char *)kinds[kind][1];
    u.typemeta = &tm;
    u.has_raw = 1;
    u.raw.len = size - 1;
    u.raw.data = (uint8_t *)data + 1;
    size_t n = k8s__runtime__unknown__get_packed_size(&u);
    uint8_t *body = malloc(4 + n);
    FUZZ_CHECK(body != NULL);
    memcpy(body, "k8s", 4);
    FUZZ_CHECK(k8s__runtime__unknown__pack(&u, body + 4) == n);
    fuzz_body(body, 4 + n, kind);
    free(body);
}

static void fuzz_json(const uint8_t *data, size_t size)
{
    json_t *obj = json_loadb((const char *)data, size, 0, NULL);
    if (json_is_object(obj))
        encode_and_back(obj, NULL);
    json_decref(obj);
}

static void fuzz_headers(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    FUZZ_CHECK(sl_pb_accept_prefers(s) == sl_pb_accept_prefers(s));
    FUZZ_CHECK(sl_pb_is_media_type(s) == sl_pb_is_media_type(s));
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    fuzz_body(data, size, size % NKINDS);
    fuzz_raw(data, size);
    fuzz_json(data, size);
    fuzz_headers(data, size);
    return 0;
}

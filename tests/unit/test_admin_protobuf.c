/* Unit tests for admin/admin_protobuf.c and admin/admin_pb_json.c: the Kubernetes
 * protobuf envelope, the message <-> JSON mapping (zero values, Time,
 * IntOrString, bytes, maps), errors that name the field, and Accept
 * negotiation. The kubectl bodies below are what kubectl 1.32 sent for
 * `create namespace capns` and `create service clusterip capsvc --tcp=80:8080`. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_protobuf.h"
#include "proto/k8s_runtime.pb-c.h"
#include "tests/unit/unit.h"

static const char kubectl_namespace[] =
    "\x6b\x38\x73\x00\x0a\x0f\x0a\x02\x76\x31\x12\x09\x4e\x61\x6d\x65\x73\x70\x61\x63\x65\x12\x1d\x0a"
    "\x15\x0a\x05\x63\x61\x70\x6e\x73\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x12\x00"
    "\x1a\x02\x0a\x00\x1a\x00\x22\x00";

static const char kubectl_service[] =
    "\x6b\x38\x73\x00\x0a\x0d\x0a\x02\x76\x31\x12\x07\x53\x65\x72\x76\x69\x63\x65\x12\x72\x0a\x25\x0a"
    "\x06\x63\x61\x70\x73\x76\x63\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x5a\x0d\x0a"
    "\x03\x61\x70\x70\x12\x06\x63\x61\x70\x73\x76\x63\x12\x45\x0a\x1b\x0a\x07\x38\x30\x2d\x38\x30\x38"
    "\x30\x12\x03\x54\x43\x50\x18\x50\x22\x07\x08\x00\x10\x90\x3f\x1a\x00\x28\x00\x12\x0d\x0a\x03\x61"
    "\x70\x70\x12\x06\x63\x61\x70\x73\x76\x63\x1a\x00\x22\x09\x43\x6c\x75\x73\x74\x65\x72\x49\x50\x3a"
    "\x00\x42\x00\x52\x00\x5a\x00\x60\x00\x68\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";

/* Decodes bytes (copied to an exact-size buffer, for the sanitizers). */
static sl_pb_rc decode(const void *bytes, size_t len, json_t **out, char *err, size_t errlen)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, bytes, len);
    sl_pb_rc rc = sl_pb_decode(copy, len, "v1", "Namespace", out, err, errlen);
    free(copy);
    return rc;
}

/* The envelope around a raw object message, as a client would send it. */
static uint8_t *wrap(const char *api, const char *kind, const void *raw, size_t raw_len, size_t *len)
{
    K8s__Runtime__TypeMeta tm = K8S__RUNTIME__TYPE_META__INIT;
    K8s__Runtime__Unknown u = K8S__RUNTIME__UNKNOWN__INIT;
    tm.apiversion = (char *)api;
    tm.kind = (char *)kind;
    u.typemeta = &tm;
    u.has_raw = 1;
    u.raw.len = raw_len;
    u.raw.data = (uint8_t *)raw;
    size_t n = k8s__runtime__unknown__get_packed_size(&u);
    uint8_t *buf = malloc(4 + n);
    memcpy(buf, "k8s", 4);
    *len = 4 + k8s__runtime__unknown__pack(&u, buf + 4);
    return buf;
}

static bool json_is(const json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, 0, NULL);
    bool same = want && got && json_equal(got, want);
    if (!same) {
        char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        fprintf(stderr, "  got  %s\n  want %s\n", g ? g : "(null)", want_text);
        free(g);
    }
    json_decref(want);
    return same;
}

/* Encodes a JSON text, decodes the answer, and returns the JSON it gives back. */
static json_t *round_trip(const char *text)
{
    json_t *obj = json_loads(text, 0, NULL);
    uint8_t *pb;
    size_t n;
    char err[256];
    json_t *back = NULL;
    if (obj && sl_pb_encode(obj, &pb, &n, err, sizeof(err)) == SL_PB_OK) {
        CHECK(n >= 4 && memcmp(pb, "k8s", 4) == 0);
        if (decode(pb, n, &back, err, sizeof(err)) != SL_PB_OK)
            fprintf(stderr, "  decode: %s\n", err);
        free(pb);
    } else {
        fprintf(stderr, "  encode: %s\n", obj ? err : "bad JSON in the test");
    }
    json_decref(obj);
    return back;
}

static void test_kubectl_bodies_decode_like_their_json(void)
{
    json_t *obj;
    char err[512];
    /* Go writes every non-pointer field, zero or not; its JSON leaves them out. */
    CHECK(decode(kubectl_namespace, sizeof(kubectl_namespace) - 1, &obj, err, sizeof(err)) == SL_PB_OK);
    CHECK(json_is(obj, "{\"kind\":\"Namespace\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"capns\"},"
                       "\"spec\":{},\"status\":{}}"));
    json_decref(obj);
    CHECK(decode(kubectl_service, sizeof(kubectl_service) - 1, &obj, err, sizeof(err)) == SL_PB_OK);
    CHECK(json_is(obj, "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"capsvc\","
                       "\"labels\":{\"app\":\"capsvc\"}},\"spec\":{\"ports\":[{\"name\":\"80-8080\","
                       "\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080}],\"selector\":{\"app\":\"capsvc\"},"
                       "\"type\":\"ClusterIP\"}}"));
    json_decref(obj);
}

static void test_round_trip_keeps_every_field(void)
{
    json_t *back = round_trip(
        "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"web-1\","
        "\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"web\"},\"uid\":\"u-1\","
        "\"resourceVersion\":\"42\",\"generation\":3,\"creationTimestamp\":\"2026-11-29T03:25:44Z\"},"
        "\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.0.0.1\",\"10.0.0.2\"],"
        "\"conditions\":{\"ready\":false,\"serving\":true,\"terminating\":false},\"nodeName\":\"n1\","
        "\"zone\":\"z1\",\"targetRef\":{\"kind\":\"Pod\",\"name\":\"p\"}}],"
        "\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":8080,\"appProtocol\":\"http\"}],"
        "\"notInTheProto\":1}");
    /* conditions.ready: false stays (a pointer in Go: not ready); the unknown key goes. */
    CHECK(json_is(back,
                  "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":"
                  "\"web-1\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"web\"},"
                  "\"uid\":\"u-1\",\"resourceVersion\":\"42\",\"generation\":3,"
                  "\"creationTimestamp\":\"2026-11-29T03:25:44Z\"},\"addressType\":\"IPv4\",\"endpoints\":"
                  "[{\"addresses\":[\"10.0.0.1\",\"10.0.0.2\"],\"conditions\":{\"ready\":false,\"serving\":true,"
                  "\"terminating\":false},\"nodeName\":\"n1\",\"zone\":\"z1\",\"targetRef\":{\"kind\":\"Pod\","
                  "\"name\":\"p\"}}],\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":8080,"
                  "\"appProtocol\":\"http\"}]}"));
    json_decref(back);

    /* Binary Secret data, an empty value, immutable: false kept, a string targetPort. */
    back = round_trip("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},\"type\":\"t\","
                      "\"immutable\":false,\"data\":{\"bin\":\"AP8QgA==\",\"empty\":\"\"},"
                      "\"stringData\":{\"k\":\"v\"}}");
    CHECK(json_is(back, "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},\"type\":\"t\","
                        "\"immutable\":false,\"data\":{\"bin\":\"AP8QgA==\",\"empty\":\"\"},"
                        "\"stringData\":{\"k\":\"v\"}}"));
    json_decref(back);
    back = round_trip("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\"},\"spec\":"
                      "{\"ports\":[{\"port\":80,\"targetPort\":\"http\"},{\"port\":81,\"targetPort\":0}],"
                      "\"clusterIPs\":[\"10.0.0.9\"]}}");
    CHECK(json_is(back, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\"},\"spec\":"
                        "{\"ports\":[{\"port\":80,\"targetPort\":\"http\"},{\"port\":81}],"
                        "\"clusterIPs\":[\"10.0.0.9\"]}}"));
    json_decref(back);
    back = round_trip("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},"
                      "\"data\":{\"a\":\"\\u00e9t\\u00e9\"},\"binaryData\":{\"b\":\"/w==\"}}");
    CHECK(json_is(back, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},"
                        "\"data\":{\"a\":\"\\u00e9t\\u00e9\"},\"binaryData\":{\"b\":\"/w==\"}}"));
    json_decref(back);
}

static void test_times(void)
{
    /* Offsets are folded into UTC; sub-second digits are dropped, as in Kubernetes' JSON. */
    json_t *back = round_trip("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"n\","
                              "\"creationTimestamp\":\"2026-11-29T04:25:44.75+01:00\"}}");
    CHECK(json_is(back, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"n\","
                        "\"creationTimestamp\":\"2026-11-29T03:25:44Z\"}}"));
    json_decref(back);
    static const char *const bad[] = {"2026-02-30T00:00:00Z", "2026-11-29 03:25:44Z", "2026-11-29T03:25:44",
                                      "10000-01-01T00:00:00Z", "0000-12-31T23:00:00Z", "2026-11-29T03:25:61Z",
                                      "2026-11-29T03:25:44.Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
                                "name", "n", "creationTimestamp", bad[i]);
        uint8_t *pb = NULL;
        size_t n;
        char err[256] = "";
        CHECK(sl_pb_encode(obj, &pb, &n, err, sizeof(err)) == SL_PB_INVALID);
        CHECK(pb == NULL);
        CHECK(strncmp(err, "metadata.creationTimestamp: must be an RFC 3339 time", 52) == 0);
        json_decref(obj);
    }
    /* A time past year 9999 on the wire is refused, naming the field. */
    static const uint8_t far[] = {0x0a, 0x0c, 0x42, 0x0a, 0x08, 0x80, 0x80, 0x80, 0x80,
                                  0x80, 0x80, 0x80, 0x80, 0x40};
    size_t len;
    uint8_t *body = wrap("v1", "Namespace", far, sizeof(far), &len);
    json_t *obj;
    char err[512];
    CHECK(decode(body, len, &obj, err, sizeof(err)) == SL_PB_INVALID && obj == NULL);
    CHECK(strstr(err, "metadata.creationTimestamp: seconds 4611686018427387904 is outside") != NULL);
    free(body);
}

static void test_invalid_bodies_say_why(void)
{
    json_t *obj;
    char err[512];
    CHECK(decode("{\"kind\":\"Namespace\"}", 20, &obj, err, sizeof(err)) == SL_PB_INVALID);
    CHECK_STR(err, "the body does not start with the 4 bytes \"k8s\\x00\"");
    CHECK(decode("k8s\0\x0a\x20\x0a", 7, &obj, err, sizeof(err)) == SL_PB_INVALID);
    CHECK(strstr(err, "not a valid runtime.Unknown") != NULL);

    static const uint8_t broken[] = {0x0a, 0x05, 0x0a, 0x01};
    size_t len;
    uint8_t *body = wrap("v1", "Namespace", broken, sizeof(broken), &len);
    CHECK(decode(body, len, &obj, err, sizeof(err)) == SL_PB_INVALID);
    CHECK_STR(err, "the Namespace in the body is not a valid k8s.core.v1.Namespace message");
    free(body);

    static const uint8_t not_utf8[] = {0x0a, 0x03, 0x0a, 0x01, 0xff};
    body = wrap("v1", "Namespace", not_utf8, sizeof(not_utf8), &len);
    CHECK(decode(body, len, &obj, err, sizeof(err)) == SL_PB_INVALID);
    CHECK_STR(err, "the Namespace in the body cannot be read: metadata.name: not valid UTF-8");
    free(body);

    /* A map key that is not UTF-8. */
    static const uint8_t bad_key[] = {0x12, 0x05, 0x0a, 0x01, 0xff, 0x12, 0x00};
    body = wrap("v1", "Secret", bad_key, sizeof(bad_key), &len);
    CHECK(decode(body, len, &obj, err, sizeof(err)) == SL_PB_INVALID);
    CHECK_STR(err, "the Secret in the body cannot be read: data: a key is not valid UTF-8");
    free(body);

    /* A bad value under a long key of two-byte characters after one ASCII one:
     * the message is cut to fit, at a character boundary, so it is still valid
     * UTF-8 (it ends up in a JSON Status). */
    uint8_t raw[1024];
    size_t klen = 1 + 2 * 400, r = 0;
    raw[r++] = 0x12; /* data, entry of 3 + 801 + 3 bytes */
    raw[r++] = (uint8_t)(0x80 | ((3 + klen + 3) & 0x7f));
    raw[r++] = (uint8_t)((3 + klen + 3) >> 7);
    raw[r++] = 0x0a; /* key */
    raw[r++] = (uint8_t)(0x80 | (klen & 0x7f));
    raw[r++] = (uint8_t)(klen >> 7);
    raw[r++] = 'a';
    for (size_t i = 1; i < klen; i += 2) {
        raw[r++] = 0xc3;
        raw[r++] = 0xa9; /* é */
    }
    raw[r++] = 0x12; /* value: "\xff" */
    raw[r++] = 0x01;
    raw[r++] = 0xff;
    body = wrap("v1", "ConfigMap", raw, r, &len);
    CHECK(decode(body, len, &obj, err, sizeof(err)) == SL_PB_INVALID);
    CHECK(strncmp(err, "the ConfigMap in the body cannot be read: data[a\xc3\xa9\xc3\xa9", 52) == 0);
    CHECK(strlen(err) >= sizeof(err) - 2); /* it was cut */
    json_t *as_json = json_string(err);
    CHECK(as_json != NULL);
    json_decref(as_json);
    free(body);

    /* spec.ports[0].targetPort with type 2 */
    static const uint8_t bad_intstr[] = {0x12, 0x08, 0x0a, 0x06, 0x22, 0x04, 0x08, 0x02, 0x10, 0x50};
    body = wrap("v1", "Service", bad_intstr, sizeof(bad_intstr), &len);
    CHECK(decode(body, len, &obj, err, sizeof(err)) == SL_PB_INVALID);
    CHECK_STR(err, "the Service in the body cannot be read: spec.ports[0].targetPort: type 2 is neither 0 "
                   "(intVal) nor 1 (strVal)");
    free(body);
}

static void test_kinds(void)
{
    json_t *obj;
    char err[512];
    size_t len;
    uint8_t *body = wrap("gateway.networking.k8s.io/v1", "HTTPRoute", "", 0, &len);
    CHECK(decode(body, len, &obj, err, sizeof(err)) == SL_PB_UNSUPPORTED && obj == NULL);
    CHECK_STR(err, "kind \"HTTPRoute\" of apiVersion \"gateway.networking.k8s.io/v1\" is not accepted as "
                   "application/vnd.kubernetes.protobuf; the kinds accepted are Namespace (v1), Secret (v1), "
                   "ConfigMap (v1), Service (v1), EndpointSlice (discovery.k8s.io/v1); send other kinds as "
                   "application/json");
    free(body);
    /* A Status is only ever sent. */
    body = wrap("v1", "Status", "", 0, &len);
    CHECK(decode(body, len, &obj, err, sizeof(err)) == SL_PB_UNSUPPORTED);
    free(body);
    /* An empty typeMeta takes the URL's kind. */
    body = wrap("", "", "\x0a\x03\x0a\x01x", 5, &len);
    CHECK(decode(body, len, &obj, err, sizeof(err)) == SL_PB_OK);
    CHECK(json_is(obj, "{\"kind\":\"Namespace\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"x\"}}"));
    json_decref(obj);
    free(body);

    /* Lists have no protobuf form (JSON answers them); a Status does. */
    uint8_t *pb;
    size_t n;
    json_t *list = json_pack("{s:s, s:s, s:[]}", "apiVersion", "v1", "kind", "NamespaceList", "items");
    CHECK(sl_pb_encode(list, &pb, &n, err, sizeof(err)) == SL_PB_UNSUPPORTED);
    json_decref(list);
    json_t *st = json_loads("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                            "\"message\":\"m\",\"reason\":\"Invalid\",\"code\":422,\"details\":{\"name\":\"x\","
                            "\"kind\":\"Namespace\",\"causes\":[{\"field\":\"metadata.name\",\"message\":\"bad\","
                            "\"reason\":\"FieldValueInvalid\"}]}}",
                            0, NULL);
    CHECK(sl_pb_encode(st, &pb, &n, err, sizeof(err)) == SL_PB_OK);
    /* typeMeta {v1, Status}, then raw whose first field is metadata {} */
    CHECK(n > 30 && memcmp(pb, "k8s\0\x0a\x0c\x0a\x02v1\x12\x06Status\x12", 19) == 0);
    CHECK(memmem(pb, n, "\x0a\x00\x12\x07" "Failure", 11) != NULL);
    CHECK(memmem(pb, n, "\x30\xa6\x03", 3) != NULL); /* code 422 */
    CHECK(memmem(pb, n, "metadata.name", 13) != NULL);
    free(pb);
    json_decref(st);
    /* A value that does not fit its field names the field. */
    json_t *bad = json_loads("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\"},"
                             "\"spec\":{\"ports\":[{\"port\":80},{\"port\":4294967296}]}}",
                             0, NULL);
    CHECK(sl_pb_encode(bad, &pb, &n, err, sizeof(err)) == SL_PB_INVALID);
    CHECK_STR(err, "spec.ports[1].port: 4294967296 is out of range");
    json_decref(bad);
    bad = json_loads("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"data\":{\"k\":\"not base64\"}}", 0, NULL);
    CHECK(sl_pb_encode(bad, &pb, &n, err, sizeof(err)) == SL_PB_INVALID);
    CHECK_STR(err, "data[k]: must be a base64 string (standard alphabet, with padding)");
    json_decref(bad);
}

static void test_media_types_and_accept(void)
{
    CHECK(sl_pb_is_media_type("application/vnd.kubernetes.protobuf"));
    CHECK(sl_pb_is_media_type("Application/Vnd.Kubernetes.Protobuf ; charset=binary"));
    CHECK(!sl_pb_is_media_type("application/vnd.kubernetes.protobuffer"));
    CHECK(!sl_pb_is_media_type("application/json"));
    CHECK(!sl_pb_is_media_type(NULL));

    CHECK(sl_pb_accept_prefers("application/vnd.kubernetes.protobuf,application/json"));
    CHECK(sl_pb_accept_prefers("application/vnd.kubernetes.protobuf, */*"));
    CHECK(sl_pb_accept_prefers("application/vnd.kubernetes.protobuf"));
    CHECK(sl_pb_accept_prefers("application/json;q=0.9, application/vnd.kubernetes.protobuf"));
    CHECK(!sl_pb_accept_prefers(NULL));
    CHECK(!sl_pb_accept_prefers(""));
    CHECK(!sl_pb_accept_prefers("*/*"));
    CHECK(!sl_pb_accept_prefers("application/json"));
    CHECK(!sl_pb_accept_prefers("application/json, application/vnd.kubernetes.protobuf"));
    CHECK(!sl_pb_accept_prefers("application/vnd.kubernetes.protobuf;q=0.5, application/json"));
    CHECK(!sl_pb_accept_prefers("application/vnd.kubernetes.protobuf;q=0"));
    CHECK(!sl_pb_accept_prefers("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io"));
    CHECK(!sl_pb_accept_prefers("application/vnd.kubernetes.protobuf;q=x"));
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_kubectl_bodies_decode_like_their_json),
        UNIT_TEST(test_round_trip_keeps_every_field),
        UNIT_TEST(test_times),
        UNIT_TEST(test_invalid_bodies_say_why),
        UNIT_TEST(test_kinds),
        UNIT_TEST(test_media_types_and_accept),
    };
    return sl_unit_run("admin_protobuf", tests, sizeof(tests) / sizeof(tests[0]));
}

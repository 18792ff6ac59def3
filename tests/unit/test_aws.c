/* Unit tests of the AWS pieces Bedrock needs: SigV4 (common/aws_sigv4.c)
 * against AWS's published test vectors, and the event-stream reader
 * (common/aws_eventstream.c) on messages built here with zlib's CRC-32. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "common/aws_eventstream.h"
#include "common/aws_sigv4.h"
#include "tests/unit/unit.h"

static const sl_aws_credentials example = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};

static time_t suite_time(void)
{
    struct tm tm = {.tm_year = 115, .tm_mon = 7, .tm_mday = 30, .tm_hour = 12, .tm_min = 36};
    return timegm(&tm); /* 20150830T123600Z */
}

static const char *signature_of(const char *fields)
{
    const char *s = strstr(fields, "Signature=");
    return s ? s + 10 : "";
}

static void sigv4_vectors(void)
{
    char hex[65];
    /* The signing key of the IAM guide's worked example. */
    sl_aws_signing_key_hex(example.secret_access_key, "20150830", "us-east-1", "iam", hex);
    CHECK_STR(hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    char out[1024];
    /* aws-sig-v4-test-suite: get-vanilla. */
    sl_aws_request get = {"GET", "example.amazonaws.com", "/", 1, NULL, 0};
    CHECK(sl_aws_sign(&example, "us-east-1", "service", &get, suite_time(), out, sizeof(out)));
    CHECK(strncmp(out, "X-Amz-Date: 20150830T123600Z\r\n", 30) == 0);
    CHECK(strstr(out, "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                      "SignedHeaders=host;x-amz-date, ") != NULL);
    CHECK(strncmp(signature_of(out), "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", 64) == 0);
    /* get-vanilla-query-order-key-case: the query is signed sorted. */
    const char *target = "/?Param2=value2&Param1=value1";
    sl_aws_request query = {"GET", "example.amazonaws.com", target, strlen(target), NULL, 0};
    CHECK(sl_aws_sign(&example, "us-east-1", "service", &query, suite_time(), out, sizeof(out)));
    CHECK(strncmp(signature_of(out), "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", 64) == 0);
    /* get-slashes: every service but S3 signs the path normalised ("//example//" as "/example/"). */
    sl_aws_request slashes = {"GET", "example.amazonaws.com", "//example//", 11, NULL, 0};
    CHECK(sl_aws_sign(&example, "us-east-1", "service", &slashes, suite_time(), out, sizeof(out)));
    CHECK(strncmp(signature_of(out), "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84", 64) == 0);
    /* Temporary credentials sign their token too. */
    sl_aws_credentials temp = {"AKID", "secret", "TOKEN"};
    CHECK(sl_aws_sign(&temp, "us-west-2", "bedrock", &get, suite_time(), out, sizeof(out)));
    CHECK(strstr(out, "X-Amz-Security-Token: TOKEN\r\n") != NULL);
    CHECK(strstr(out, "SignedHeaders=host;x-amz-date;x-amz-security-token, ") != NULL);
    CHECK(!sl_aws_sign(&example, "us-east-1", "service", &get, suite_time(), out, 40)); /* does not fit */
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static size_t put_string_header(unsigned char *h, const char *name, const char *value)
{
    size_t n = 0;
    h[n++] = (unsigned char)strlen(name);
    memcpy(h + n, name, strlen(name));
    n += strlen(name);
    h[n++] = 7;
    h[n++] = 0;
    h[n++] = (unsigned char)strlen(value);
    memcpy(h + n, value, strlen(value));
    return n + strlen(value);
}

/* An event-stream message with :event-type `event` (or :exception-type, or,
 * for event "error", :message-type error with its code and message) and payload. */
static size_t message(unsigned char *out, const char *event, bool exception, const char *payload)
{
    unsigned char headers[256];
    size_t h = 0;
    if (strcmp(event, "error") == 0) {
        h += put_string_header(headers, ":message-type", "error");
        h += put_string_header(headers + h, ":error-code", "InternalFailure");
        h += put_string_header(headers + h, ":error-message", "it \"broke\"");
        goto framed;
    }
    const char *name = exception ? ":exception-type" : ":event-type";
    headers[h++] = (unsigned char)strlen(name);
    memcpy(headers + h, name, strlen(name));
    h += strlen(name);
    headers[h++] = 7; /* string */
    headers[h++] = 0;
    headers[h++] = (unsigned char)strlen(event);
    memcpy(headers + h, event, strlen(event));
    h += strlen(event);
    /* A header of another type is skipped: a 64-bit integer. */
    headers[h++] = 2;
    memcpy(headers + h, ":n", 2);
    h += 2;
    headers[h++] = 5;
    memset(headers + h, 0, 8);
    h += 8;
framed:;
    size_t total = 12 + h + strlen(payload) + 4;
    put32(out, (uint32_t)total);
    put32(out + 4, (uint32_t)h);
    put32(out + 8, (uint32_t)crc32(0, out, 8));
    memcpy(out + 12, headers, h);
    memcpy(out + 12 + h, payload, strlen(payload));
    put32(out + total - 4, (uint32_t)crc32(0, out, (uInt)(total - 4)));
    return total;
}

typedef struct {
    char names[8][32];
    char data[8][64];
    int n;
} got;

static void on_event(const char *event, size_t elen, const char *data, size_t len, void *arg)
{
    got *g = arg;
    if (g->n < 8) {
        snprintf(g->names[g->n], 32, "%.*s", (int)elen, event);
        snprintf(g->data[g->n], 64, "%.*s", (int)len, data);
    }
    g->n++;
}

static void eventstream_reader(void)
{
    static unsigned char stream[1024];
    size_t n = message(stream, "messageStart", false, "{\"role\":\"assistant\"}");
    n += message(stream + n, "throttlingException", true, "{\"message\":\"x\"}");
    n += message(stream + n, "error", false, "");
    /* One byte at a time: messages cut anywhere come out whole. */
    got g = {0};
    sl_aws_es p;
    sl_aws_es_init(&p, 4096);
    for (size_t i = 0; i < n; i++)
        CHECK(sl_aws_es_feed(&p, (const char *)stream + i, 1, on_event, &g));
    CHECK(g.n == 3);
    CHECK_STR(g.names[0], "messageStart");
    CHECK_STR(g.data[0], "{\"role\":\"assistant\"}");
    CHECK_STR(g.names[1], "throttlingException");
    /* An error message says what in its headers: handed on as {code, message}. */
    CHECK_STR(g.names[2], "error");
    CHECK_STR(g.data[2], "{\"code\":\"InternalFailure\",\"message\":\"it \\\"broke\\\"\"}");
    sl_aws_es_free(&p);
    /* A wrong CRC stops the reader for good. */
    stream[20] ^= 1;
    got bad = {0};
    sl_aws_es_init(&p, 4096);
    CHECK(!sl_aws_es_feed(&p, (const char *)stream, n, on_event, &bad));
    CHECK(bad.n == 0 && p.failed);
    CHECK(!sl_aws_es_feed(&p, "", 0, on_event, &bad));
    sl_aws_es_free(&p);
    /* A message larger than the limit is refused from its prelude alone. */
    stream[20] ^= 1;
    sl_aws_es_init(&p, 40);
    CHECK(!sl_aws_es_feed(&p, (const char *)stream, 12, on_event, &bad));
    sl_aws_es_free(&p);
}

int main(void)
{
    static const sl_unit_test tests[] = {UNIT_TEST(sigv4_vectors), UNIT_TEST(eventstream_reader)};
    return sl_unit_run("aws", tests, sizeof(tests) / sizeof(tests[0]));
}

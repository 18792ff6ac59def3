/* Kubernetes protobuf messages <-> JSON, by descriptor; see admin_pb_json.h for
 * the mapping. Memory: messages built here are allocated the way
 * protobuf_c_message_unpack allocates (malloc, the default allocator), so that
 * protobuf_c_message_free_unpacked frees them, whole or half built. */
#include "admin/admin_pb_json.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sl.h"
#include "proto/k8s_core_v1.pb-c.h"
#include "proto/k8s_discovery_v1.pb-c.h"
#include "proto/k8s_intstr.pb-c.h"
#include "proto/k8s_meta_v1.pb-c.h"

/* Fields whose zero value is an answer rather than "unset": pointers in Go's
 * types, which Go's protobuf code writes only when set (ready: false takes an
 * endpoint out of rotation). Every other zero scalar is left out of the JSON. */
static const struct {
    const ProtobufCMessageDescriptor *desc;
    const char *field;
} keep_zero[] = {
    {&k8s__discovery__v1__endpoint_conditions__descriptor, "ready"},
    {&k8s__discovery__v1__endpoint_conditions__descriptor, "serving"},
    {&k8s__discovery__v1__endpoint_conditions__descriptor, "terminating"},
    {&k8s__core__v1__secret__descriptor, "immutable"},
    {&k8s__core__v1__config_map__descriptor, "immutable"},
};

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range of RFC 3339's years. */
#define TIME_MIN_SECONDS (-62135596800LL)
#define TIME_MAX_SECONDS 253402300799LL

/* The walk's state: the field path for error messages ("spec.ports[0].name"). */
typedef struct conv {
    char path[512];
    size_t len;
    char *err;
    size_t errlen;
} conv;

size_t sl_pb_utf8_cut(char *s, size_t len)
{
    size_t i = len;
    while (i > 0 && len - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i > 0 && (unsigned char)s[i - 1] >= 0xC0) {
        unsigned char lead = (unsigned char)s[i - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (len - (i - 1) < need)
            len = i - 1;
    }
    s[len] = '\0';
    return len;
}

static size_t push(conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends a path segment; returns the previous length for pop(). A path too long
 * for the buffer is cut (it only names a field in a message). */
static size_t push(conv *c, const char *fmt, ...)
{
    size_t prev = c->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->path + c->len, sizeof(c->path) - c->len, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof(c->path) - c->len)
        c->len += (size_t)n;
    else if (n > 0)
        c->len = sl_pb_utf8_cut(c->path, sizeof(c->path) - 1);
    return prev;
}

static void pop(conv *c, size_t prev)
{
    c->len = prev;
    c->path[prev] = '\0';
}

static size_t push_field(conv *c, const char *name)
{
    return c->len ? push(c, ".%s", name) : push(c, "%s", name);
}

static int fail(conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records "path: message" as the error; returns SL_ERR. */
static int fail(conv *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->errlen) {
        int n = snprintf(c->err, c->errlen, "%s%s%s", c->path, c->len ? ": " : "", msg);
        if (n > 0 && (size_t)n >= c->errlen)
            sl_pb_utf8_cut(c->err, c->errlen - 1);
    }
    return SL_ERR;
}

/* ---- Field layout ---- */

static void *member_at(const ProtobufCMessage *m, unsigned offset)
{
    return (char *)m + offset;
}

/* Size of one element of a repeated field in protobuf-c's C layout; 0 for types
 * the walker does not handle (float, double, enum: no Kubernetes field we read
 * uses them). */
static size_t element_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return sizeof(int32_t);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return sizeof(uint32_t);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return sizeof(int64_t);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 0;
    }
}

/* protobuf-c has no map type: a map<K, V> is a repeated message "XEntry" with
 * fields key = 1 and value = 2. */
static bool is_map(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t n = strlen(d->short_name);
    return d->n_fields == 2 && n > 5 && strcmp(d->short_name + n - 5, "Entry") == 0 && d->fields[0].id == 1 &&
           strcmp(d->fields[0].name, "key") == 0 && d->fields[0].type == PROTOBUF_C_TYPE_STRING &&
           d->fields[1].id == 2 && strcmp(d->fields[1].name, "value") == 0;
}

/* Whether a singular proto2 field was on the wire: strings and messages are
 * pointers (NULL when absent), other types have a has_ flag. */
static bool is_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(void *const *)member_at(m, f->offset) != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return *(const protobuf_c_boolean *)member_at(m, f->quantifier_offset);
    return true;
}

static void set_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)member_at(m, f->quantifier_offset) = 1;
}

static bool keeps_zero(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(keep_zero); i++)
        if (keep_zero[i].desc == d && strcmp(keep_zero[i].field, f->name) == 0)
            return true;
    return false;
}

static bool is_zero(const json_t *v)
{
    return (json_is_string(v) && json_string_length(v) == 0) || (json_is_integer(v) && json_integer_value(v) == 0) ||
           json_is_false(v);
}

/* ---- base64 (standard alphabet, with padding: what Kubernetes writes) ---- */

static json_t *base64_json(const ProtobufCBinaryData *b)
{
    if (b->len > (size_t)INT_MAX / 2)
        return NULL;
    size_t n = 4 * ((b->len + 2) / 3);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    int w = b->len ? EVP_EncodeBlock((unsigned char *)out, b->data, (int)b->len) : 0;
    out[w > 0 ? w : 0] = '\0';
    json_t *s = json_stringn(out, n);
    free(out);
    return s;
}

static bool is_base64(const char *s, size_t n)
{
    if (n % 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
                     ch == '/';
        /* '=' only as the last one or two characters */
        if (!alpha && !(ch == '=' && i >= n - 2 && (i == n - 1 || s[n - 1] == '=')))
            return false;
    }
    return true;
}

static int base64_from_json(conv *c, const json_t *v, ProtobufCBinaryData *out)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!s || !is_base64(s, n) || n > (size_t)INT_MAX)
        return fail(c, "must be a base64 string (standard alphabet, with padding)");
    out->data = malloc(n / 4 * 3 + 1);
    if (!out->data)
        return fail(c, "out of memory");
    int got = n ? EVP_DecodeBlock(out->data, (const unsigned char *)s, (int)n) : 0;
    if (got < 0)
        return fail(c, "must be a base64 string (standard alphabet, with padding)");
    /* EVP_DecodeBlock counts the bytes the padding stands for. */
    size_t pad = n && s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    out->len = (size_t)got - pad;
    return SL_OK;
}

/* ---- meta/v1 Time <-> RFC 3339 ---- */

static int time_to_json(conv *c, const K8s__Meta__V1__Time *t, json_t **out)
{
    *out = NULL;
    /* Seconds 0 is the zero Time, which Kubernetes writes as an empty message
     * and its JSON as null: unset. Sub-second precision is dropped, as
     * Kubernetes' JSON does. */
    if (!t || !t->has_seconds || t->seconds == 0)
        return SL_OK;
    if (t->seconds < TIME_MIN_SECONDS || t->seconds > TIME_MAX_SECONDS)
        return fail(c, "seconds %lld is outside the years 1 to 9999", (long long)t->seconds);
    time_t s = (time_t)t->seconds;
    struct tm tm;
    if (!gmtime_r(&s, &tm))
        return fail(c, "seconds %lld is not a time", (long long)t->seconds);
    char buf[64]; /* -Wformat-truncation cannot bound the int fields: room for any */
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    *out = json_string(buf);
    return *out ? SL_OK : fail(c, "out of memory");
}

/* Reads n digits at *p into *out, advancing *p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Parses RFC 3339 ("2026-11-29T03:25:44Z", "...44.5+01:00") into seconds and nanos. */
static bool parse_rfc3339(const char *s, int64_t *seconds, int32_t *nanos)
{
    int year, mon, day, hour, min, sec, oh = 0, om = 0, sign = 0;
    const char *p = s;
    if (!digits(&p, 4, &year) || *p++ != '-' || !digits(&p, 2, &mon) || *p++ != '-' || !digits(&p, 2, &day))
        return false;
    if (*p != 'T' && *p != 't')
        return false;
    p++;
    if (!digits(&p, 2, &hour) || *p++ != ':' || !digits(&p, 2, &min) || *p++ != ':' || !digits(&p, 2, &sec))
        return false;
    int32_t ns = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        for (; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 9)
                ns = ns * 10 + (*p - '0');
        if (nd == 0)
            return false;
        for (; nd < 9; nd++)
            ns *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
            return false;
    } else {
        return false;
    }
    if (*p || year < 1 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59)
        return false;
    struct tm tm = {.tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
                    .tm_hour = hour, .tm_min = min, .tm_sec = sec};
    time_t t = timegm(&tm);
    /* timegm normalises 2026-02-30 to March: a date that moved was not a date. */
    if (tm.tm_mday != day || tm.tm_mon != mon - 1)
        return false;
    *seconds = (int64_t)t - sign * (oh * 3600 + om * 60);
    *nanos = ns;
    return true;
}

static int time_from_json(conv *c, const json_t *v, ProtobufCMessage **out)
{
    int64_t seconds;
    int32_t nanos;
    if (!json_is_string(v) || !parse_rfc3339(json_string_value(v), &seconds, &nanos) ||
        seconds < TIME_MIN_SECONDS || seconds > TIME_MAX_SECONDS)
        return fail(c, "must be an RFC 3339 time (\"2026-11-29T03:25:44Z\")");
    K8s__Meta__V1__Time *t = malloc(sizeof(*t));
    if (!t)
        return fail(c, "out of memory");
    k8s__meta__v1__time__init(t);
    t->has_seconds = 1;
    t->seconds = seconds;
    t->has_nanos = nanos != 0;
    t->nanos = nanos;
    *out = &t->base;
    return SL_OK;
}

/* ---- intstr IntOrString <-> number or string ---- */

static int intstr_to_json(conv *c, const K8s__Intstr__IntOrString *x, json_t **out)
{
    *out = NULL;
    if (!x)
        return SL_OK;
    int64_t type = x->has_type ? x->type : 0;
    if (type == 0) {
        if (x->has_intval && x->intval != 0)
            *out = json_integer(x->intval);
    } else if (type == 1) {
        if (x->strval && x->strval[0] && !(*out = json_string(x->strval)))
            return fail(c, "strVal is not valid UTF-8");
    } else {
        return fail(c, "type %lld is neither 0 (intVal) nor 1 (strVal)", (long long)type);
    }
    return SL_OK;
}

/* A string's bytes as a C string, refusing a NUL inside: protobuf-c's strings
 * end at the first NUL, so the value could not be carried whole. */
static int dup_string(conv *c, const json_t *v, char **out)
{
    const char *s = json_string_value(v);
    if (!s)
        return fail(c, "must be a string");
    size_t n = json_string_length(v);
    if (strlen(s) != n)
        return fail(c, "contains a NUL character");
    if (!(*out = strdup(s)))
        return fail(c, "out of memory");
    return SL_OK;
}

static int intstr_from_json(conv *c, const json_t *v, ProtobufCMessage **out)
{
    K8s__Intstr__IntOrString *x = malloc(sizeof(*x));
    if (!x)
        return fail(c, "out of memory");
    k8s__intstr__int_or_string__init(x);
    *out = &x->base;
    x->has_type = 1;
    if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN && json_integer_value(v) <= INT32_MAX) {
        x->type = 0;
        x->has_intval = 1;
        x->intval = (int32_t)json_integer_value(v);
        return SL_OK;
    }
    x->type = 1;
    if (json_is_string(v))
        return dup_string(c, v, &x->strval);
    return fail(c, "must be a 32-bit integer or a string");
}

/* ---- message -> JSON ---- */

static json_t *message_json(conv *c, const ProtobufCMessage *m);

/* One value of field f stored at p. *out is NULL (and SL_OK) when the value means
 * "unset" (a zero Time or IntOrString). */
static int value_json(conv *c, const ProtobufCFieldDescriptor *f, const void *p, json_t **out)
{
    *out = NULL;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *out = json_integer(*(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *out = json_integer(*(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *out = json_integer(*(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (*(const uint64_t *)p > INT64_MAX)
            return fail(c, "%llu is too large", (unsigned long long)*(const uint64_t *)p);
        *out = json_integer((json_int_t) * (const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *out = json_boolean(*(const protobuf_c_boolean *)p);
        break;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        if (!(*out = json_string(s ? s : "")))
            return fail(c, "not valid UTF-8");
        return SL_OK;
    }
    case PROTOBUF_C_TYPE_BYTES:
        *out = base64_json(p);
        break;
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
        if (f->descriptor == &k8s__meta__v1__time__descriptor)
            return time_to_json(c, (const K8s__Meta__V1__Time *)sub, out);
        if (f->descriptor == &k8s__intstr__int_or_string__descriptor)
            return intstr_to_json(c, (const K8s__Intstr__IntOrString *)sub, out);
        if (!sub) /* a map entry without its value: the empty message */
            *out = json_object();
        else
            return (*out = message_json(c, sub)) ? SL_OK : SL_ERR;
        break;
    }
    default:
        return fail(c, "field type %d is not supported", (int)f->type);
    }
    return *out ? SL_OK : fail(c, "out of memory");
}

/* A map field's entries as one object; a key seen twice keeps its last value,
 * as protobuf decoders do. */
static int map_json(conv *c, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *const *entries, size_t n,
                    json_t **out)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    json_t *obj = json_object();
    if (!obj)
        return fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *key = *(const char *const *)member_at(entries[i], ed->fields[0].offset);
        json_t *probe = json_string(key ? key : ""); /* jansson's UTF-8 check */
        if (!probe) {
            json_decref(obj);
            return fail(c, "a key is not valid UTF-8");
        }
        json_decref(probe);
        size_t prev = push(c, "[%s]", key ? key : "");
        json_t *v;
        if (value_json(c, &ed->fields[1], member_at(entries[i], ed->fields[1].offset), &v) != SL_OK) {
            json_decref(obj);
            return SL_ERR;
        }
        json_object_set_new(obj, key ? key : "", v ? v : json_null());
        pop(c, prev);
    }
    *out = obj;
    return SL_OK;
}

static int repeated_json(conv *c, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t **out)
{
    size_t n = *(const size_t *)member_at(m, f->quantifier_offset);
    const char *arr = *(const char *const *)member_at(m, f->offset);
    *out = NULL;
    if (n == 0 || !arr)
        return SL_OK;
    if (is_map(f))
        return map_json(c, f, (const ProtobufCMessage *const *)arr, n, out);
    size_t size = element_size(f->type);
    if (!size)
        return fail(c, "field type %d is not supported", (int)f->type);
    json_t *list = json_array();
    if (!list)
        return fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        size_t prev = push(c, "[%zu]", i);
        json_t *v;
        if (value_json(c, f, arr + i * size, &v) != SL_OK) {
            json_decref(list);
            return SL_ERR;
        }
        json_array_append_new(list, v ? v : json_null());
        pop(c, prev);
    }
    *out = list;
    return SL_OK;
}

static json_t *message_json(conv *c, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *obj = json_object();
    if (!obj) {
        fail(c, "out of memory");
        return NULL;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        size_t prev = push_field(c, f->name);
        json_t *v = NULL;
        int rc;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            rc = repeated_json(c, m, f, &v);
        } else if (is_present(m, f)) {
            rc = value_json(c, f, member_at(m, f->offset), &v);
            if (rc == SL_OK && v && is_zero(v) && !keeps_zero(d, f)) {
                json_decref(v);
                v = NULL;
            }
        } else {
            rc = SL_OK;
        }
        if (rc != SL_OK) {
            json_decref(obj);
            return NULL;
        }
        if (v)
            json_object_set_new(obj, f->name, v);
        pop(c, prev);
    }
    return obj;
}

json_t *sl_pb_message_to_json(const ProtobufCMessage *m, char *err, size_t errlen)
{
    conv c = {.err = err, .errlen = errlen};
    if (errlen)
        err[0] = '\0';
    return message_json(&c, m);
}

/* ---- JSON -> message ---- */

static ProtobufCMessage *message_from(conv *c, const ProtobufCMessageDescriptor *d, const json_t *obj);

static int integer_in(conv *c, const json_t *v, json_int_t lo, json_int_t hi, json_int_t *out)
{
    if (!json_is_integer(v))
        return fail(c, "must be an integer");
    *out = json_integer_value(v);
    if (*out < lo || *out > hi)
        return fail(c, "%lld is out of range", (long long)*out);
    return SL_OK;
}

/* Stores one JSON value into the field f's storage at p. */
static int value_from(conv *c, const ProtobufCFieldDescriptor *f, void *p, const json_t *v)
{
    json_int_t i = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (integer_in(c, v, INT32_MIN, INT32_MAX, &i) != SL_OK)
            return SL_ERR;
        *(int32_t *)p = (int32_t)i;
        return SL_OK;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (integer_in(c, v, 0, UINT32_MAX, &i) != SL_OK)
            return SL_ERR;
        *(uint32_t *)p = (uint32_t)i;
        return SL_OK;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (integer_in(c, v, INT64_MIN, INT64_MAX, &i) != SL_OK)
            return SL_ERR;
        *(int64_t *)p = (int64_t)i;
        return SL_OK;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (integer_in(c, v, 0, INT64_MAX, &i) != SL_OK)
            return SL_ERR;
        *(uint64_t *)p = (uint64_t)i;
        return SL_OK;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return fail(c, "must be true or false");
        *(protobuf_c_boolean *)p = json_is_true(v);
        return SL_OK;
    case PROTOBUF_C_TYPE_STRING:
        return dup_string(c, v, (char **)p);
    case PROTOBUF_C_TYPE_BYTES:
        return base64_from_json(c, v, p);
    case PROTOBUF_C_TYPE_MESSAGE:
        if (f->descriptor == &k8s__meta__v1__time__descriptor)
            return time_from_json(c, v, p);
        if (f->descriptor == &k8s__intstr__int_or_string__descriptor)
            return intstr_from_json(c, v, p);
        return (*(ProtobufCMessage **)p = message_from(c, f->descriptor, v)) ? SL_OK : SL_ERR;
    default:
        return fail(c, "field type %d is not supported", (int)f->type);
    }
}

static ProtobufCMessage *new_message(conv *c, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);
    if (!m)
        fail(c, "out of memory");
    else
        protobuf_c_message_init(d, m);
    return m;
}

/* The counter goes up only once an element is complete, so a message abandoned
 * half way is still one protobuf_c_message_free_unpacked can free. */
static int map_from(conv *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const json_t *v)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    if (!json_is_object(v))
        return fail(c, "must be an object");
    size_t *n = member_at(m, f->quantifier_offset);
    ProtobufCMessage **arr = calloc(json_object_size(v) + 1, sizeof(*arr));
    if (!arr)
        return fail(c, "out of memory");
    *(ProtobufCMessage ***)member_at(m, f->offset) = arr;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        size_t prev = push(c, "[%s]", key);
        ProtobufCMessage *e = new_message(c, ed);
        if (!e)
            return SL_ERR;
        arr[*n] = e;
        (*n)++;
        char **k = member_at(e, ed->fields[0].offset);
        if (!(*k = strdup(key)))
            return fail(c, "out of memory");
        if (value_from(c, &ed->fields[1], member_at(e, ed->fields[1].offset), val) != SL_OK)
            return SL_ERR;
        set_present(e, &ed->fields[1]);
        pop(c, prev);
    }
    return SL_OK;
}

static int repeated_from(conv *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const json_t *v)
{
    if (is_map(f))
        return map_from(c, m, f, v);
    size_t size = element_size(f->type);
    if (!size)
        return fail(c, "field type %d is not supported", (int)f->type);
    if (!json_is_array(v))
        return fail(c, "must be a list");
    size_t *n = member_at(m, f->quantifier_offset);
    char *arr = calloc(json_array_size(v) + 1, size);
    if (!arr)
        return fail(c, "out of memory");
    *(char **)member_at(m, f->offset) = arr;
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item)
    {
        size_t prev = push(c, "[%zu]", i);
        int rc = value_from(c, f, arr + i * size, item);
        /* A string or message that failed half built is still the array's to free. */
        if (rc == SL_OK || f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE ||
            f->type == PROTOBUF_C_TYPE_BYTES)
            (*n)++;
        if (rc != SL_OK)
            return SL_ERR;
        pop(c, prev);
    }
    return SL_OK;
}

static ProtobufCMessage *message_from(conv *c, const ProtobufCMessageDescriptor *d, const json_t *obj)
{
    if (!json_is_object(obj)) {
        fail(c, "must be an object");
        return NULL;
    }
    ProtobufCMessage *m = new_message(c, d);
    if (!m)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const json_t *v = json_object_get(obj, f->name);
        if (!v || json_is_null(v)) /* null is how JSON says "unset" */
            continue;
        size_t prev = push_field(c, f->name);
        int rc;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            rc = repeated_from(c, m, f, v);
        } else {
            rc = value_from(c, f, member_at(m, f->offset), v);
            if (rc == SL_OK)
                set_present(m, f);
        }
        if (rc != SL_OK) {
            protobuf_c_message_free_unpacked(m, NULL);
            return NULL;
        }
        pop(c, prev);
    }
    return m;
}

ProtobufCMessage *sl_pb_message_from_json(const ProtobufCMessageDescriptor *desc, const json_t *obj, char *err,
                                          size_t errlen)
{
    conv c = {.err = err, .errlen = errlen};
    if (errlen)
        err[0] = '\0';
    return message_from(&c, desc, obj);
}

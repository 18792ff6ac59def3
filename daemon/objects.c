#include "daemon/objects.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

static const char *meta_string(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
    return s ? s : "";
}

const char *sl_obj_name(const json_t *obj) { return meta_string(obj, "name"); }

const char *sl_obj_namespace(const json_t *obj) { return meta_string(obj, "namespace"); }

int64_t sl_obj_resource_version(const json_t *obj)
{
    const json_t *rv = json_object_get(json_object_get(obj, "metadata"), "resourceVersion");
    if (!rv || json_is_null(rv))
        return 0;
    /* A string, as in Kubernetes (whose API server refuses a number with 400). */
    const char *s = json_string_value(rv);
    if (!s)
        return -1;
    if (!*s)
        return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 0)
        return -1;
    return v;
}

json_t *sl_obj_metadata(json_t *obj)
{
    json_t *meta = json_object_get(obj, "metadata");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(obj, "metadata", meta);
    }
    return meta;
}

void sl_rfc3339_now(char out[32])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void sl_uuid4(char out[37])
{
    /* The kernel's generator, not OpenSSL's: this runs on admin threads, and
     * OpenSSL's locks must be free whenever the master forks (common/fork_guard.h). */
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ssize_t got = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
        if (fd >= 0)
            close(fd);
        if (got != (ssize_t)sizeof(b))
            memset(b, 0, sizeof(b));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void set_rv(json_t *meta, int64_t rv)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)rv);
    json_object_set_new(meta, "resourceVersion", json_string(buf));
}

/* Fields of metadata that only the server writes. */
static const char *const server_owned_meta[] = {"uid", "creationTimestamp", "generation", "resourceVersion",
                                                 "deletionTimestamp", "managedFields", "selfLink", NULL};

/* A Namespace's name label is the server's, like uid: set on every write through
 * the main resource, so a create, a replacement or a merge patch that drops or
 * changes it still leaves it equal to the name. */
static void set_namespace_name_label(const sl_kind *k, json_t *obj)
{
    if (strcmp(k->kind, "Namespace") != 0)
        return;
    json_t *meta = sl_obj_metadata(obj);
    json_t *labels = json_object_get(meta, "labels");
    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(meta, "labels", labels);
    }
    json_object_set_new(labels, SL_NAMESPACE_NAME_LABEL, json_string(sl_obj_name(obj)));
}

void sl_obj_prepare_create(const sl_kind *k, json_t *obj, int64_t rv)
{
    json_t *meta = sl_obj_metadata(obj);
    for (const char *const *f = server_owned_meta; *f; f++)
        json_object_del(meta, *f);
    char uid[37], ts[32];
    sl_uuid4(uid);
    sl_rfc3339_now(ts);
    json_object_set_new(meta, "uid", json_string(uid));
    json_object_set_new(meta, "creationTimestamp", json_string(ts));
    json_object_set_new(meta, "generation", json_integer(1));
    set_rv(meta, rv);
    if (!k->namespaced)
        json_object_del(meta, "namespace");
    if (k->has_status)
        json_object_del(obj, "status");
    set_namespace_name_label(k, obj);
}

json_t *sl_obj_user_form(const sl_kind *k, const json_t *obj)
{
    json_t *out = json_deep_copy(obj);
    json_t *meta = sl_obj_metadata(out);
    for (const char *const *f = server_owned_meta; *f; f++)
        json_object_del(meta, *f);
    if (k->has_status)
        json_object_del(out, "status");
    json_t *labels = json_object_get(meta, "labels");
    if (strcmp(k->kind, "Namespace") == 0 && labels) {
        json_object_del(labels, SL_NAMESPACE_NAME_LABEL);
        if (json_object_size(labels) == 0)
            json_object_del(meta, "labels");
    }
    return out;
}

/* True when a and b differ in anything but metadata and status. */
static bool spec_changed(const json_t *a, const json_t *b)
{
    json_t *ca = json_deep_copy(a), *cb = json_deep_copy(b);
    json_object_del(ca, "metadata");
    json_object_del(ca, "status");
    json_object_del(cb, "metadata");
    json_object_del(cb, "status");
    bool changed = !json_equal(ca, cb);
    json_decref(ca);
    json_decref(cb);
    return changed;
}

void sl_obj_prepare_update(const sl_kind *k, json_t *obj, const json_t *old, int64_t rv)
{
    json_t *meta = sl_obj_metadata(obj);
    const json_t *old_meta = json_object_get(old, "metadata");
    for (const char *const *f = server_owned_meta; *f; f++) {
        json_t *v = json_object_get(old_meta, *f);
        if (v)
            json_object_set(meta, *f, v);
        else
            json_object_del(meta, *f);
    }
    if (!k->namespaced)
        json_object_del(meta, "namespace");
    set_namespace_name_label(k, obj);
    if (k->has_status) {
        json_t *st = json_object_get(old, "status");
        if (st)
            json_object_set(obj, "status", st);
        else
            json_object_del(obj, "status");
    }
    json_int_t gen = json_integer_value(json_object_get(old_meta, "generation"));
    if (gen < 1)
        gen = 1;
    if (spec_changed(obj, old))
        gen++;
    json_object_set_new(meta, "generation", json_integer(gen));
    set_rv(meta, rv);
}

json_t *sl_obj_apply_status(const json_t *obj, const json_t *old, int64_t rv)
{
    json_t *out = json_deep_copy(old);
    json_t *st = json_object_get(obj, "status");
    if (st)
        json_object_set(out, "status", st);
    else
        json_object_del(out, "status");
    set_rv(sl_obj_metadata(out), rv);
    return out;
}

json_t *sl_merge_patch(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)patch, key, value)
    {
        if (key[0] == '$')
            continue;
        if (json_is_null(value)) {
            json_object_del(out, key);
            continue;
        }
        json_t *merged = sl_merge_patch(json_object_get(out, key), value);
        json_object_set_new(out, key, merged);
    }
    return out;
}

const char *sl_js(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

long long sl_ji(const json_t *obj, const char *key, long long dflt)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

const char *sl_jmeta(const json_t *obj, const char *key) { return sl_js(json_object_get(obj, "metadata"), key); }

/* Unit tests for daemon/objects.c: metadata accessors, the server-owned fields
 * set on create and kept on update, generation bumps, /status writes and JSON
 * merge patch (RFC 7386). */
#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>

#include "daemon/kinds.h"
#include "daemon/objects.h"
#include "tests/unit/unit.h"

/* JSON literals are written with single quotes so they stay readable in C;
 * this turns them into JSON (no test value needs a literal quote). */
static json_t *load(const char *text)
{
    char *s = strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t err;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &err);
    if (!j)
        fprintf(stderr, "  bad test JSON: %s (line %d): %s\n", err.text, err.line, text);
    free(s);
    return j;
}

static const json_t *meta_get(const json_t *obj, const char *key)
{
    return json_object_get(json_object_get(obj, "metadata"), key);
}

static const char *meta_str(const json_t *obj, const char *key)
{
    return json_string_value(meta_get(obj, key));
}

static json_int_t generation(const json_t *obj) { return json_integer_value(meta_get(obj, "generation")); }

/* True when a equals the JSON written in text (single quotes allowed). */
static bool json_is(const json_t *a, const char *text)
{
    json_t *b = load(text);
    bool eq = b && json_equal(a, b);
    if (!eq) {
        char *s = a ? json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        fprintf(stderr, "  got %s, expected %s\n", s ? s : "(null)", text);
        free(s);
    }
    json_decref(b);
    return eq;
}

static bool is_uuid4(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) {
            return false;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static bool is_rfc3339_utc(const char *s)
{
    /* 2026-11-29T03:17:29Z */
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (!s || strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return false;
    }
    return true;
}

static void test_accessors(void)
{
    json_t *o = load("{'metadata': {'name': 'web', 'namespace': 'prod', 'resourceVersion': '42'}}");
    CHECK_STR(sl_obj_name(o), "web");
    CHECK_STR(sl_obj_namespace(o), "prod");
    CHECK(sl_obj_resource_version(o) == 42);
    json_decref(o);

    json_t *empty = load("{}");
    CHECK_STR(sl_obj_name(empty), "");
    CHECK_STR(sl_obj_namespace(empty), "");
    CHECK(sl_obj_resource_version(empty) == 0);
    json_decref(empty);

    json_t *wrong = load("{'metadata': {'name': 7, 'namespace': null}}");
    CHECK_STR(sl_obj_name(wrong), "");
    CHECK_STR(sl_obj_namespace(wrong), "");
    json_decref(wrong);

    CHECK_STR(sl_obj_name(NULL), "");
}

static void test_resource_version_parsing(void)
{
    static const struct {
        const char *json;
        int64_t want;
    } cases[] = {
        {"{'metadata': {'resourceVersion': '7'}}", 7},
        {"{'metadata': {'resourceVersion': 9}}", -1}, /* a number is not a resourceVersion */
        {"{'metadata': {'resourceVersion': ''}}", 0},
        {"{'metadata': {'resourceVersion': null}}", 0},
        {"{'metadata': {}}", 0},
        {"{'metadata': {'resourceVersion': 'abc'}}", -1},
        {"{'metadata': {'resourceVersion': '12x'}}", -1},
        {"{'metadata': {'resourceVersion': '-5'}}", -1},
        {"{'metadata': {'resourceVersion': true}}", -1},
        {"{'metadata': {'resourceVersion': {}}}", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = load(cases[i].json);
        int64_t got = sl_obj_resource_version(o);
        if (got != cases[i].want)
            fprintf(stderr, "  %s: got %lld, want %lld\n", cases[i].json, (long long)got, (long long)cases[i].want);
        CHECK(got == cases[i].want);
        json_decref(o);
    }
}

static void test_metadata_created(void)
{
    json_t *o = load("{'kind': 'ConfigMap'}");
    json_t *m = sl_obj_metadata(o);
    CHECK(json_is_object(m));
    CHECK(json_object_get(o, "metadata") == m);
    CHECK(sl_obj_metadata(o) == m);
    json_decref(o);

    json_t *bad = load("{'metadata': 'nope'}");
    CHECK(json_is_object(sl_obj_metadata(bad)));
    json_decref(bad);
}

static void test_uuid_and_time_format(void)
{
    char a[37], b[37], ts[32];
    sl_uuid4(a);
    sl_uuid4(b);
    CHECK(is_uuid4(a));
    CHECK(is_uuid4(b));
    CHECK(strcmp(a, b) != 0);
    sl_rfc3339_now(ts);
    CHECK(is_rfc3339_utc(ts));
}

static void test_prepare_create_sets_server_fields(void)
{
    const sl_kind *k = sl_kind_by_name("HTTPRoute");
    CHECK(k != NULL);
    if (!k)
        return;
    json_t *o = load("{'apiVersion': 'gateway.networking.k8s.io/v1', 'kind': 'HTTPRoute',"
                     " 'metadata': {'name': 'r', 'namespace': 'ns', 'labels': {'a': 'b'},"
                     "  'uid': 'client-uid', 'creationTimestamp': '1999-01-01T00:00:00Z', 'generation': 17,"
                     "  'resourceVersion': '999', 'selfLink': '/x', 'managedFields': [],"
                     "  'deletionTimestamp': '2000-01-01T00:00:00Z'},"
                     " 'spec': {'hostnames': ['a.example']},"
                     " 'status': {'parents': []}}");
    sl_obj_prepare_create(k, o, 5);
    CHECK(is_uuid4(meta_str(o, "uid")));
    CHECK(strcmp(meta_str(o, "uid") ? meta_str(o, "uid") : "", "client-uid") != 0);
    CHECK(is_rfc3339_utc(meta_str(o, "creationTimestamp")));
    CHECK(strcmp(meta_str(o, "creationTimestamp") ? meta_str(o, "creationTimestamp") : "", "1999-01-01T00:00:00Z") !=
          0);
    CHECK(json_is_integer(meta_get(o, "generation")));
    CHECK(generation(o) == 1);
    /* resourceVersion is a string, as in Kubernetes. */
    CHECK(json_is_string(meta_get(o, "resourceVersion")));
    CHECK_STR(meta_str(o, "resourceVersion"), "5");
    CHECK(sl_obj_resource_version(o) == 5);
    CHECK(meta_get(o, "selfLink") == NULL);
    CHECK(meta_get(o, "managedFields") == NULL);
    CHECK(meta_get(o, "deletionTimestamp") == NULL);
    /* Client fields stay. */
    CHECK_STR(sl_obj_name(o), "r");
    CHECK_STR(sl_obj_namespace(o), "ns");
    CHECK(json_is(meta_get(o, "labels"), "{'a': 'b'}"));
    CHECK(json_is(json_object_get(o, "spec"), "{'hostnames': ['a.example']}"));
    /* HTTPRoute has a status subresource: status is dropped on create. */
    CHECK(json_object_get(o, "status") == NULL);
    json_decref(o);
}

static void test_prepare_create_without_metadata(void)
{
    const sl_kind *k = sl_kind_by_name("ConfigMap");
    CHECK(k != NULL);
    if (!k)
        return;
    json_t *o = load("{'kind': 'ConfigMap', 'data': {'k': 'v'}, 'status': {'kept': true}}");
    sl_obj_prepare_create(k, o, 1);
    CHECK(is_uuid4(meta_str(o, "uid")));
    CHECK(generation(o) == 1);
    CHECK_STR(meta_str(o, "resourceVersion"), "1");
    /* ConfigMap has no status subresource: a client "status" is just data. */
    CHECK(json_is(json_object_get(o, "status"), "{'kept': true}"));
    json_decref(o);
}

static void test_prepare_create_cluster_scoped_drops_namespace(void)
{
    const sl_kind *gc = sl_kind_by_name("GatewayClass");
    const sl_kind *ns = sl_kind_by_name("Namespace");
    CHECK(gc != NULL && ns != NULL);
    if (!gc || !ns)
        return;
    json_t *o = load("{'kind': 'GatewayClass', 'metadata': {'name': 'c', 'namespace': 'oops'},"
                     " 'spec': {'controllerName': 'x/y'}, 'status': {'conditions': []}}");
    sl_obj_prepare_create(gc, o, 3);
    CHECK(meta_get(o, "namespace") == NULL);
    CHECK_STR(sl_obj_namespace(o), "");
    CHECK(json_object_get(o, "status") == NULL);
    CHECK_STR(sl_obj_name(o), "c");
    json_decref(o);

    json_t *n = load("{'kind': 'Namespace', 'metadata': {'name': 'x', 'namespace': 'x'}}");
    sl_obj_prepare_create(ns, n, 4);
    CHECK(meta_get(n, "namespace") == NULL);
    CHECK_STR(meta_str(n, "resourceVersion"), "4");
    json_decref(n);
}

/* Every Namespace carries kubernetes.io/metadata.name = its name, as the Kubernetes
 * API server sets it: on create and on every update or patch, whatever the client
 * sent; other labels are the client's, and other kinds get no such label. */
static void test_namespace_name_label(void)
{
    const sl_kind *ns = sl_kind_by_name("Namespace");
    CHECK(ns != NULL);
    if (!ns)
        return;
    json_t *bare = load("{'kind': 'Namespace', 'metadata': {'name': 'team-a'}}");
    sl_obj_prepare_create(ns, bare, 1);
    CHECK(json_is(meta_get(bare, "labels"), "{'kubernetes.io/metadata.name': 'team-a'}"));

    json_t *forged = load("{'kind': 'Namespace', 'metadata': {'name': 'team-b',"
                          " 'labels': {'env': 'prod', 'kubernetes.io/metadata.name': 'other'}}}");
    sl_obj_prepare_create(ns, forged, 2);
    CHECK(json_is(meta_get(forged, "labels"), "{'env': 'prod', 'kubernetes.io/metadata.name': 'team-b'}"));
    json_decref(forged);

    /* A replacement without labels, and one that changes the label. */
    json_t *upd = load("{'kind': 'Namespace', 'metadata': {'name': 'team-a'}}");
    sl_obj_prepare_update(ns, upd, bare, 3);
    CHECK(json_is(meta_get(upd, "labels"), "{'kubernetes.io/metadata.name': 'team-a'}"));
    json_decref(upd);
    upd = load("{'kind': 'Namespace', 'metadata': {'name': 'team-a',"
               " 'labels': {'kubernetes.io/metadata.name': 'x', 'tier': '1'}}}");
    sl_obj_prepare_update(ns, upd, bare, 4);
    CHECK(json_is(meta_get(upd, "labels"), "{'kubernetes.io/metadata.name': 'team-a', 'tier': '1'}"));
    json_decref(upd);

    /* A merge patch that deletes the label (the admin API applies it to the stored
     * object, then prepares the update). */
    json_t *patch = load("{'metadata': {'labels': {'kubernetes.io/metadata.name': null}}}");
    json_t *patched = sl_merge_patch(bare, patch);
    sl_obj_prepare_update(ns, patched, bare, 5);
    CHECK(json_is(meta_get(patched, "labels"), "{'kubernetes.io/metadata.name': 'team-a'}"));
    json_decref(patched);
    json_decref(patch);
    json_decref(bare);

    json_t *cm = load("{'kind': 'ConfigMap', 'metadata': {'name': 'c', 'namespace': 'd'}}");
    sl_obj_prepare_create(sl_kind_by_name("ConfigMap"), cm, 6);
    CHECK(meta_get(cm, "labels") == NULL);
    json_decref(cm);
}

static void test_prepare_create_uids_differ(void)
{
    const sl_kind *k = sl_kind_by_name("Secret");
    json_t *a = load("{'metadata': {'name': 'a', 'namespace': 'd'}}");
    json_t *b = load("{'metadata': {'name': 'a', 'namespace': 'd'}}");
    sl_obj_prepare_create(k, a, 1);
    sl_obj_prepare_create(k, b, 2);
    CHECK(meta_str(a, "uid") && meta_str(b, "uid") && strcmp(meta_str(a, "uid"), meta_str(b, "uid")) != 0);
    json_decref(a);
    json_decref(b);
}

/* Creates an HTTPRoute at rv 10, then gives it a status and generation 3 as if
 * it had been updated a few times. */
static json_t *stored_route(void)
{
    json_t *o = load("{'apiVersion': 'gateway.networking.k8s.io/v1', 'kind': 'HTTPRoute',"
                     " 'metadata': {'name': 'r', 'namespace': 'ns', 'labels': {'a': 'b'}},"
                     " 'spec': {'hostnames': ['a.example']}}");
    sl_obj_prepare_create(sl_kind_by_name("HTTPRoute"), o, 10);
    json_object_set_new(sl_obj_metadata(o), "generation", json_integer(3));
    json_object_set_new(o, "status", load("{'parents': [{'controllerName': 'sluice.dev/x'}]}"));
    return o;
}

static void test_prepare_update_keeps_server_metadata(void)
{
    const sl_kind *k = sl_kind_by_name("HTTPRoute");
    json_t *old = stored_route();
    json_t *upd = load("{'apiVersion': 'gateway.networking.k8s.io/v1', 'kind': 'HTTPRoute',"
                       " 'metadata': {'name': 'r', 'namespace': 'ns', 'labels': {'a': 'b'},"
                       "  'uid': 'forged', 'creationTimestamp': '1999-01-01T00:00:00Z', 'generation': 99,"
                       "  'resourceVersion': '10', 'selfLink': '/forged'},"
                       " 'spec': {'hostnames': ['a.example']},"
                       " 'status': {'parents': []}}");
    sl_obj_prepare_update(k, upd, old, 11);
    CHECK_STR(meta_str(upd, "uid"), meta_str(old, "uid"));
    CHECK_STR(meta_str(upd, "creationTimestamp"), meta_str(old, "creationTimestamp"));
    CHECK(meta_get(upd, "selfLink") == NULL);
    CHECK_STR(meta_str(upd, "resourceVersion"), "11");
    /* Nothing but metadata and status differs: generation stays. */
    CHECK(generation(upd) == 3);
    /* Status comes from old (only /status writes it). */
    CHECK(json_equal(json_object_get(upd, "status"), json_object_get(old, "status")));
    /* old is untouched. */
    CHECK_STR(meta_str(old, "resourceVersion"), "10");
    CHECK(generation(old) == 3);
    json_decref(upd);
    json_decref(old);
}

static void test_prepare_update_generation(void)
{
    const sl_kind *k = sl_kind_by_name("HTTPRoute");
    json_t *old = stored_route();

    /* Label and annotation changes do not bump generation. */
    json_t *labels = load("{'apiVersion': 'gateway.networking.k8s.io/v1', 'kind': 'HTTPRoute',"
                          " 'metadata': {'name': 'r', 'namespace': 'ns', 'labels': {'a': 'c'},"
                          "  'annotations': {'x': 'y'}},"
                          " 'spec': {'hostnames': ['a.example']}}");
    sl_obj_prepare_update(k, labels, old, 11);
    CHECK(generation(labels) == 3);
    CHECK(json_is(meta_get(labels, "labels"), "{'a': 'c'}"));
    CHECK(json_is(meta_get(labels, "annotations"), "{'x': 'y'}"));
    json_decref(labels);

    /* A status-only difference does not bump it either (and is ignored). */
    json_t *status = load("{'apiVersion': 'gateway.networking.k8s.io/v1', 'kind': 'HTTPRoute',"
                          " 'metadata': {'name': 'r', 'namespace': 'ns', 'labels': {'a': 'b'}},"
                          " 'spec': {'hostnames': ['a.example']}, 'status': {'other': 1}}");
    sl_obj_prepare_update(k, status, old, 12);
    CHECK(generation(status) == 3);
    CHECK(json_equal(json_object_get(status, "status"), json_object_get(old, "status")));
    json_decref(status);

    /* A spec change bumps it by one. */
    json_t *spec = load("{'apiVersion': 'gateway.networking.k8s.io/v1', 'kind': 'HTTPRoute',"
                        " 'metadata': {'name': 'r', 'namespace': 'ns'},"
                        " 'spec': {'hostnames': ['b.example']}}");
    sl_obj_prepare_update(k, spec, old, 13);
    CHECK(generation(spec) == 4);
    CHECK_STR(meta_str(spec, "resourceVersion"), "13");
    json_decref(spec);

    /* So does any other top-level field outside metadata and status. */
    json_t *extra = load("{'apiVersion': 'gateway.networking.k8s.io/v1', 'kind': 'HTTPRoute',"
                         " 'metadata': {'name': 'r', 'namespace': 'ns'},"
                         " 'spec': {'hostnames': ['a.example']}, 'data': 1}");
    sl_obj_prepare_update(k, extra, old, 14);
    CHECK(generation(extra) == 4);
    json_decref(extra);
    json_decref(old);
}

static void test_prepare_update_no_status_subresource(void)
{
    const sl_kind *k = sl_kind_by_name("ConfigMap");
    json_t *old = load("{'kind': 'ConfigMap', 'metadata': {'name': 'c', 'namespace': 'd'}, 'data': {'k': 'v'}}");
    sl_obj_prepare_create(k, old, 1);
    json_t *upd = load("{'kind': 'ConfigMap', 'metadata': {'name': 'c', 'namespace': 'd'}, 'data': {'k': 'w'}}");
    sl_obj_prepare_update(k, upd, old, 2);
    CHECK(generation(upd) == 2);
    CHECK_STR(meta_str(upd, "uid"), meta_str(old, "uid"));
    CHECK(json_is(json_object_get(upd, "data"), "{'k': 'w'}"));
    CHECK(json_object_get(upd, "status") == NULL);
    json_decref(upd);

    /* Old without a generation (written by something else) counts as 1. */
    json_object_del(sl_obj_metadata(old), "generation");
    json_t *upd2 = load("{'kind': 'ConfigMap', 'metadata': {'name': 'c', 'namespace': 'd'}, 'data': {'k': 'v'}}");
    sl_obj_prepare_update(k, upd2, old, 3);
    CHECK(generation(upd2) == 1);
    json_decref(upd2);
    json_decref(old);
}

static void test_prepare_update_cluster_scoped(void)
{
    const sl_kind *k = sl_kind_by_name("GatewayClass");
    json_t *old = load("{'kind': 'GatewayClass', 'metadata': {'name': 'c'}, 'spec': {'controllerName': 'a/b'}}");
    sl_obj_prepare_create(k, old, 1);
    json_t *upd = load("{'kind': 'GatewayClass', 'metadata': {'name': 'c', 'namespace': 'x'},"
                       " 'spec': {'controllerName': 'a/b'}, 'status': {'conditions': [1]}}");
    sl_obj_prepare_update(k, upd, old, 2);
    CHECK(meta_get(upd, "namespace") == NULL);
    /* old had no status: the client's is dropped. */
    CHECK(json_object_get(upd, "status") == NULL);
    CHECK(generation(upd) == 1);
    json_decref(upd);
    json_decref(old);
}

static void test_apply_status(void)
{
    json_t *old = stored_route();
    json_t *w = load("{'metadata': {'name': 'r', 'namespace': 'ns', 'labels': {'forged': 'yes'}},"
                     " 'spec': {'hostnames': ['changed.example']},"
                     " 'status': {'parents': [{'controllerName': 'new'}]}}");
    json_t *out = sl_obj_apply_status(w, old, 20);
    CHECK(out != NULL && out != old);
    CHECK(json_is(json_object_get(out, "status"), "{'parents': [{'controllerName': 'new'}]}"));
    /* Only status and resourceVersion change. */
    CHECK(json_is(json_object_get(out, "spec"), "{'hostnames': ['a.example']}"));
    CHECK(json_is(meta_get(out, "labels"), "{'a': 'b'}"));
    CHECK_STR(meta_str(out, "resourceVersion"), "20");
    CHECK(generation(out) == 3);
    CHECK_STR(meta_str(out, "uid"), meta_str(old, "uid"));
    /* old is untouched. */
    CHECK_STR(meta_str(old, "resourceVersion"), "10");
    CHECK(json_is(json_object_get(old, "status"), "{'parents': [{'controllerName': 'sluice.dev/x'}]}"));
    json_decref(out);

    /* A status write without status clears it. */
    json_t *none = load("{'metadata': {'name': 'r'}}");
    out = sl_obj_apply_status(none, old, 21);
    CHECK(json_object_get(out, "status") == NULL);
    CHECK_STR(meta_str(out, "resourceVersion"), "21");
    json_decref(out);
    json_decref(none);
    json_decref(w);
    json_decref(old);
}

/* Applies patch to target (both JSON text) and compares with want. */
static bool patch_is(const char *target, const char *patch, const char *want)
{
    json_t *t = load(target), *p = load(patch);
    json_t *t_before = json_deep_copy(t), *p_before = json_deep_copy(p);
    json_t *out = sl_merge_patch(t, p);
    bool ok = json_is(out, want);
    /* Inputs are not modified. */
    if (!json_equal(t, t_before) || !json_equal(p, p_before)) {
        fprintf(stderr, "  merge patch modified its input\n");
        ok = false;
    }
    json_decref(out);
    json_decref(t);
    json_decref(p);
    json_decref(t_before);
    json_decref(p_before);
    return ok;
}

static void test_merge_patch_rfc7386_examples(void)
{
    /* The examples of RFC 7386 appendix A. */
    CHECK(patch_is("{'a':'b'}", "{'a':'c'}", "{'a':'c'}"));
    CHECK(patch_is("{'a':'b'}", "{'b':'c'}", "{'a':'b','b':'c'}"));
    CHECK(patch_is("{'a':'b'}", "{'a':null}", "{}"));
    CHECK(patch_is("{'a':'b','b':'c'}", "{'a':null}", "{'b':'c'}"));
    CHECK(patch_is("{'a':['b']}", "{'a':'c'}", "{'a':'c'}"));
    CHECK(patch_is("{'a':'c'}", "{'a':['b']}", "{'a':['b']}"));
    CHECK(patch_is("{'a':{'b':'c'}}", "{'a':{'b':'d','c':null}}", "{'a':{'b':'d'}}"));
    CHECK(patch_is("{'a':[{'b':'c'}]}", "{'a':[1]}", "{'a':[1]}"));
    CHECK(patch_is("['a','b']", "['c','d']", "['c','d']"));
    CHECK(patch_is("{'a':'b'}", "['c']", "['c']"));
    CHECK(patch_is("{'a':'foo'}", "null", "null"));
    CHECK(patch_is("{'a':'foo'}", "'bar'", "'bar'"));
    CHECK(patch_is("{'e':null}", "{'a':1}", "{'e':null,'a':1}"));
    CHECK(patch_is("[1,2]", "{'a':'b','c':null}", "{'a':'b'}"));
    CHECK(patch_is("{}", "{'a':{'bb':{'ccc':null}}}", "{'a':{'bb':{}}}"));
}

static void test_merge_patch_nested_and_arrays(void)
{
    CHECK(patch_is("{'metadata':{'name':'x','labels':{'a':'1','b':'2'}},'spec':{'rules':[{'x':1},{'y':2}]}}",
                   "{'metadata':{'labels':{'a':null,'c':'3'}},'spec':{'rules':[{'z':3}]}}",
                   "{'metadata':{'name':'x','labels':{'b':'2','c':'3'}},'spec':{'rules':[{'z':3}]}}"));
    /* Arrays are replaced whole, nulls inside them included. */
    CHECK(patch_is("{'a':[1,2,3]}", "{'a':[null]}", "{'a':[null]}"));
    /* An object patch onto a scalar starts from an empty object. */
    CHECK(patch_is("{'a':5}", "{'a':{'b':1,'c':null}}", "{'a':{'b':1}}"));
    /* Deleting a key that is not there is a no-op. */
    CHECK(patch_is("{'a':1}", "{'zz':null}", "{'a':1}"));
    /* An empty patch changes nothing. */
    CHECK(patch_is("{'a':{'b':[1]}}", "{}", "{'a':{'b':[1]}}"));
}

static void test_merge_patch_ignores_directives(void)
{
    CHECK(patch_is("{'a':1,'$b':2}", "{'$patch':'replace','a':2}", "{'a':2,'$b':2}"));
    CHECK(patch_is("{'spec':{'x':[1]}}", "{'spec':{'$setElementOrder/x':[2],'x':[2]}}", "{'spec':{'x':[2]}}"));
    CHECK(patch_is("{'a':1}", "{'$retainKeys':null}", "{'a':1}"));
}

static void test_merge_patch_null_target(void)
{
    json_t *p = load("{'a':{'b':null,'c':1}}");
    json_t *out = sl_merge_patch(NULL, p);
    CHECK(json_is(out, "{'a':{'c':1}}"));
    json_decref(out);
    json_decref(p);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_accessors),
        UNIT_TEST(test_resource_version_parsing),
        UNIT_TEST(test_metadata_created),
        UNIT_TEST(test_uuid_and_time_format),
        UNIT_TEST(test_prepare_create_sets_server_fields),
        UNIT_TEST(test_prepare_create_without_metadata),
        UNIT_TEST(test_prepare_create_cluster_scoped_drops_namespace),
        UNIT_TEST(test_prepare_create_uids_differ),
        UNIT_TEST(test_namespace_name_label),
        UNIT_TEST(test_prepare_update_keeps_server_metadata),
        UNIT_TEST(test_prepare_update_generation),
        UNIT_TEST(test_prepare_update_no_status_subresource),
        UNIT_TEST(test_prepare_update_cluster_scoped),
        UNIT_TEST(test_apply_status),
        UNIT_TEST(test_merge_patch_rfc7386_examples),
        UNIT_TEST(test_merge_patch_nested_and_arrays),
        UNIT_TEST(test_merge_patch_ignores_directives),
        UNIT_TEST(test_merge_patch_null_target),
    };
    return sl_unit_run("objects", tests, sizeof(tests) / sizeof(tests[0]));
}

/* Unit tests for daemon/store.c: migrations, built-in objects, reads and writes,
 * resourceVersions, the watch log, waiting for changes and the token table. Each
 * test works in its own temporary state dir. */
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/kinds.h"
#include "daemon/objects.h"
#include "daemon/store.h"
#include "tests/unit/unit.h"

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A temporary state dir, removed with everything in it by tmpdir_remove. */
static char *tmpdir_make(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/sluice-test-store.XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        abort();
    }
    return strdup(dir);
}

static void tmpdir_remove(char *dir)
{
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static sl_store *open_store(const char *dir)
{
    char err[512] = "";
    sl_store *s = sl_store_open(dir, err, sizeof(err));
    if (!s)
        fprintf(stderr, "  sl_store_open(%s): %s\n", dir, err);
    return s;
}

static json_t *make_obj(const char *kind, const char *ns, const char *name, const char *value)
{
    json_t *meta = json_pack("{s:s}", "name", name);
    if (ns && *ns)
        json_object_set_new(meta, "namespace", json_string(ns));
    return json_pack("{s:s, s:o, s:{s:s}}", "kind", kind, "metadata", meta, "data", "v", value ? value : "");
}

/* Creates an object in its own transaction as the admin API would. Returns its rv. */
static int64_t create(sl_store *s, const char *kind, const char *ns, const char *name, const char *value)
{
    json_t *o = make_obj(kind, ns, name, value);
    if (sl_store_write_begin(s) != SL_OK) {
        json_decref(o);
        return -1;
    }
    int64_t rv = sl_store_next_rv(s);
    sl_obj_prepare_create(sl_kind_by_name(kind), o, rv);
    int rc = sl_store_put(s, kind, o, "ADDED", rv);
    if (rc == SL_OK)
        rc = sl_store_write_commit(s);
    else
        sl_store_write_rollback(s);
    json_decref(o);
    return rc == SL_OK ? rv : -1;
}

static int64_t delete_obj(sl_store *s, const char *kind, const char *ns, const char *name)
{
    json_t *last = NULL;
    if (sl_store_get(s, kind, ns, name, &last) != SL_OK)
        return -1;
    if (sl_store_write_begin(s) != SL_OK) {
        json_decref(last);
        return -1;
    }
    int64_t rv = sl_store_next_rv(s);
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)rv);
    json_object_set_new(sl_obj_metadata(last), "resourceVersion", json_string(buf));
    int rc = sl_store_delete(s, kind, last, rv);
    if (rc == SL_OK)
        rc = sl_store_write_commit(s);
    else
        sl_store_write_rollback(s);
    json_decref(last);
    return rc == SL_OK ? rv : -1;
}

static bool has(sl_store *s, const char *kind, const char *ns, const char *name)
{
    json_t *o = NULL;
    int rc = sl_store_get(s, kind, ns, name, &o);
    json_decref(o);
    return rc == SL_OK;
}

static const char *item_name(const json_t *items, size_t i) { return sl_obj_name(json_array_get(items, i)); }
static const char *item_ns(const json_t *items, size_t i) { return sl_obj_namespace(json_array_get(items, i)); }

static const char *event_type(const json_t *events, size_t i)
{
    const char *t = json_string_value(json_object_get(json_array_get(events, i), "type"));
    return t ? t : "";
}

static const json_t *event_object(const json_t *events, size_t i)
{
    return json_object_get(json_array_get(events, i), "object");
}

static void test_open_migrates_and_seeds(void)
{
    char *dir = tmpdir_make();
    sl_store *s = open_store(dir);
    CHECK(s != NULL);
    if (s) {
        CHECK(sl_store_schema_version(s) == 2); /* the last of sql/ */
        char want[600];
        snprintf(want, sizeof(want), "%s/sluice.db", dir);
        CHECK_STR(sl_store_path(s), want);
        CHECK(access(want, F_OK) == 0);
        CHECK(has(s, "Namespace", "", "default"));
        CHECK(has(s, "GatewayClass", "", "sluice"));
        CHECK(has(s, "GatewayClass", "", "sluice-ai"));
        /* Three seeded objects, three resourceVersions. */
        CHECK(sl_store_current_rv(s) == 3);

        json_t *gc = NULL;
        CHECK(sl_store_get(s, "GatewayClass", "", "sluice", &gc) == SL_OK);
        CHECK_STR(json_string_value(json_object_get(json_object_get(gc, "spec"), "controllerName")),
                  "sluice.dev/gateway-controller");
        CHECK(json_string_value(json_object_get(json_object_get(gc, "metadata"), "uid")) != NULL);
        CHECK(sl_obj_resource_version(gc) >= 1 && sl_obj_resource_version(gc) <= 3);
        json_decref(gc);

        json_t *items = NULL;
        int64_t rv = 0;
        CHECK(sl_store_list(s, "GatewayClass", NULL, &items, &rv) == SL_OK);
        CHECK(json_array_size(items) == 2);
        CHECK_STR(item_name(items, 0), "sluice");
        CHECK_STR(item_name(items, 1), "sluice-ai");
        CHECK(rv == 3);
        json_decref(items);
        sl_store_close(s);
    }
    /* Reopening applies nothing new and keeps the data. */
    s = open_store(dir);
    CHECK(s != NULL);
    if (s) {
        CHECK(sl_store_schema_version(s) == 2); /* the last of sql/ */
        CHECK(sl_store_current_rv(s) == 3);
        CHECK(has(s, "Namespace", "", "default"));
        sl_store_close(s);
    }
    tmpdir_remove(dir);
}

static void test_seed_not_repeated(void)
{
    char *dir = tmpdir_make();
    sl_store *s = open_store(dir);
    CHECK(s != NULL);
    if (!s) {
        tmpdir_remove(dir);
        return;
    }
    CHECK(delete_obj(s, "GatewayClass", "", "sluice-ai") == 4);
    CHECK(delete_obj(s, "Namespace", "", "default") == 5);
    CHECK(!has(s, "GatewayClass", "", "sluice-ai"));
    sl_store_close(s);

    s = open_store(dir);
    CHECK(s != NULL);
    if (s) {
        CHECK(!has(s, "GatewayClass", "", "sluice-ai"));
        CHECK(!has(s, "Namespace", "", "default"));
        CHECK(has(s, "GatewayClass", "", "sluice"));
        CHECK(sl_store_current_rv(s) == 5);
        sl_store_close(s);
    }
    tmpdir_remove(dir);
}

static void test_open_fails_cleanly(void)
{
    char err[512] = "";
    sl_store *s = sl_store_open("/proc/definitely/not/here", err, sizeof(err));
    CHECK(s == NULL);
    CHECK(err[0] != '\0');

    /* A state dir whose database is not a database. */
    char *dir = tmpdir_make();
    char path[600];
    snprintf(path, sizeof(path), "%s/sluice.db", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        for (int i = 0; i < 256; i++)
            fputs("this is not an SQLite database\n", f);
        fclose(f);
    }
    err[0] = '\0';
    s = sl_store_open(dir, err, sizeof(err));
    CHECK(s == NULL);
    CHECK(err[0] != '\0');
    sl_store_close(s);
    tmpdir_remove(dir);
}

static void test_put_get_list(void)
{
    char *dir = tmpdir_make();
    sl_store *s = open_store(dir);
    CHECK(s != NULL);
    if (!s) {
        tmpdir_remove(dir);
        return;
    }
    CHECK(create(s, "ConfigMap", "b", "z", "1") == 4);
    CHECK(create(s, "ConfigMap", "a", "y", "2") == 5);
    CHECK(create(s, "ConfigMap", "b", "a", "3") == 6);
    CHECK(create(s, "ConfigMap", "a", "x", "4") == 7);
    CHECK(create(s, "Secret", "a", "x", "5") == 8);

    json_t *o = NULL;
    CHECK(sl_store_get(s, "ConfigMap", "b", "z", &o) == SL_OK);
    CHECK_STR(json_string_value(json_object_get(json_object_get(o, "data"), "v")), "1");
    CHECK(sl_obj_resource_version(o) == 4);
    json_decref(o);
    o = (json_t *)1;
    CHECK(sl_store_get(s, "ConfigMap", "b", "nope", &o) == SL_NOTFOUND);
    CHECK(o == NULL);
    CHECK(sl_store_get(s, "ConfigMap", "c", "z", &o) == SL_NOTFOUND);
    CHECK(sl_store_get(s, "Service", "b", "z", &o) == SL_NOTFOUND);
    /* A NULL namespace is the empty one. */
    CHECK(sl_store_get(s, "Namespace", NULL, "default", &o) == SL_OK);
    json_decref(o);

    json_t *items = NULL;
    int64_t rv = 0;
    CHECK(sl_store_list(s, "ConfigMap", NULL, &items, &rv) == SL_OK);
    CHECK(rv == 8);
    CHECK(json_array_size(items) == 4);
    CHECK_STR(item_ns(items, 0), "a");
    CHECK_STR(item_name(items, 0), "x");
    CHECK_STR(item_ns(items, 1), "a");
    CHECK_STR(item_name(items, 1), "y");
    CHECK_STR(item_ns(items, 2), "b");
    CHECK_STR(item_name(items, 2), "a");
    CHECK_STR(item_ns(items, 3), "b");
    CHECK_STR(item_name(items, 3), "z");
    json_decref(items);

    CHECK(sl_store_list(s, "ConfigMap", "", &items, &rv) == SL_OK);
    CHECK(json_array_size(items) == 4);
    json_decref(items);

    CHECK(sl_store_list(s, "ConfigMap", "b", &items, &rv) == SL_OK);
    CHECK(json_array_size(items) == 2);
    CHECK_STR(item_name(items, 0), "a");
    CHECK_STR(item_name(items, 1), "z");
    json_decref(items);

    CHECK(sl_store_list(s, "ConfigMap", "none", &items, &rv) == SL_OK);
    CHECK(json_is_array(items) && json_array_size(items) == 0);
    json_decref(items);
    CHECK(sl_store_list(s, "Backend", NULL, &items, &rv) == SL_OK);
    CHECK(json_is_array(items) && json_array_size(items) == 0);
    json_decref(items);

    /* Replacing an object (MODIFIED) keeps one row. */
    json_t *old = NULL;
    CHECK(sl_store_get(s, "ConfigMap", "a", "x", &old) == SL_OK);
    json_t *upd = json_deep_copy(old);
    json_object_set_new(json_object_get(upd, "data"), "v", json_string("changed"));
    CHECK(sl_store_write_begin(s) == SL_OK);
    int64_t urv = sl_store_next_rv(s);
    CHECK(urv == 9);
    sl_obj_prepare_update(sl_kind_by_name("ConfigMap"), upd, old, urv);
    CHECK(sl_store_put(s, "ConfigMap", upd, "MODIFIED", urv) == SL_OK);
    CHECK(sl_store_write_commit(s) == SL_OK);
    CHECK(sl_store_list(s, "ConfigMap", "a", &items, &rv) == SL_OK);
    CHECK(json_array_size(items) == 2);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(items, 0), "data"), "v")),
              "changed");
    CHECK(rv == 9);
    json_decref(items);
    json_decref(upd);
    json_decref(old);

    /* Delete. */
    CHECK(delete_obj(s, "ConfigMap", "b", "z") == 10);
    CHECK(!has(s, "ConfigMap", "b", "z"));
    CHECK(has(s, "ConfigMap", "b", "a"));
    CHECK(sl_store_current_rv(s) == 10);
    sl_store_close(s);
    tmpdir_remove(dir);
}

static void test_rv_persists(void)
{
    char *dir = tmpdir_make();
    sl_store *s = open_store(dir);
    CHECK(s != NULL);
    if (!s) {
        tmpdir_remove(dir);
        return;
    }
    int64_t start = sl_store_current_rv(s);
    CHECK(create(s, "ConfigMap", "d", "a", "1") == start + 1);
    CHECK(create(s, "ConfigMap", "d", "b", "1") == start + 2);
    /* Several writes in one transaction take consecutive versions. */
    CHECK(sl_store_write_begin(s) == SL_OK);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "m%d", i);
        json_t *o = make_obj("ConfigMap", "d", name, "x");
        int64_t rv = sl_store_next_rv(s);
        CHECK(rv == start + 3 + i);
        sl_obj_prepare_create(sl_kind_by_name("ConfigMap"), o, rv);
        CHECK(sl_store_put(s, "ConfigMap", o, "ADDED", rv) == SL_OK);
        json_decref(o);
    }
    /* Not visible before the commit. */
    CHECK(sl_store_current_rv(s) == start + 2);
    CHECK(sl_store_write_commit(s) == SL_OK);
    CHECK(sl_store_current_rv(s) == start + 5);
    /* A transaction that writes nothing changes nothing. */
    CHECK(sl_store_write_begin(s) == SL_OK);
    CHECK(sl_store_write_commit(s) == SL_OK);
    CHECK(sl_store_current_rv(s) == start + 5);
    sl_store_close(s);

    s = open_store(dir);
    CHECK(s != NULL);
    if (s) {
        CHECK(sl_store_current_rv(s) == start + 5);
        CHECK(create(s, "ConfigMap", "d", "c", "1") == start + 6);
        json_t *o = NULL;
        CHECK(sl_store_get(s, "ConfigMap", "d", "m2", &o) == SL_OK);
        CHECK(sl_obj_resource_version(o) == start + 5);
        json_decref(o);
        sl_store_close(s);
    }
    tmpdir_remove(dir);
}

static void test_rollback(void)
{
    char *dir = tmpdir_make();
    sl_store *s = open_store(dir);
    CHECK(s != NULL);
    if (!s) {
        tmpdir_remove(dir);
        return;
    }
    int64_t start = sl_store_current_rv(s);
    CHECK(sl_store_write_begin(s) == SL_OK);
    int64_t rv = sl_store_next_rv(s);
    json_t *o = make_obj("ConfigMap", "d", "gone", "x");
    sl_obj_prepare_create(sl_kind_by_name("ConfigMap"), o, rv);
    CHECK(sl_store_put(s, "ConfigMap", o, "ADDED", rv) == SL_OK);
    json_t *def = NULL;
    CHECK(sl_store_get(s, "Namespace", "", "default", &def) == SL_OK);
    CHECK(sl_store_delete(s, "Namespace", def, sl_store_next_rv(s)) == SL_OK);
    /* Reads inside the transaction see its writes. */
    CHECK(has(s, "ConfigMap", "d", "gone"));
    sl_store_write_rollback(s);
    json_decref(o);
    json_decref(def);

    CHECK(!has(s, "ConfigMap", "d", "gone"));
    CHECK(has(s, "Namespace", "", "default"));
    CHECK(sl_store_current_rv(s) == start);
    json_t *events = NULL;
    int64_t last = 0;
    CHECK(sl_store_events_since(s, start, "ConfigMap", NULL, 100, &events, &last) == SL_OK);
    CHECK(json_array_size(events) == 0);
    CHECK(last == start);
    json_decref(events);
    CHECK(sl_store_events_since(s, start, "Namespace", NULL, 100, &events, &last) == SL_OK);
    CHECK(json_array_size(events) == 0);
    json_decref(events);
    /* The next write reuses the rolled-back version. */
    CHECK(create(s, "ConfigMap", "d", "kept", "x") == start + 1);
    sl_store_close(s);

    s = open_store(dir);
    CHECK(s != NULL);
    if (s) {
        CHECK(!has(s, "ConfigMap", "d", "gone"));
        CHECK(has(s, "ConfigMap", "d", "kept"));
        CHECK(sl_store_current_rv(s) == start + 1);
        sl_store_close(s);
    }
    tmpdir_remove(dir);
}

/* sl_store_list_shared is what sl_store_list reads, after any mix of
 * creates, replacements, deletions and rolled-back writes. */
static bool shared_matches(sl_store *s, const char *kind)
{
    json_t *fresh = NULL, *shared = NULL;
    int64_t rv1, rv2;
    bool ok = sl_store_list(s, kind, NULL, &fresh, &rv1) == SL_OK &&
              sl_store_list_shared(s, kind, &shared, &rv2) == SL_OK && rv1 == rv2 && json_equal(fresh, shared);
    if (!ok) {
        char *a = json_dumps(fresh, JSON_COMPACT), *b = json_dumps(shared, JSON_COMPACT);
        fprintf(stderr, "  list:   %.400s\n  shared: %.400s\n", a ? a : "", b ? b : "");
        free(a);
        free(b);
    }
    json_decref(fresh);
    json_decref(shared);
    return ok;
}

static void test_shared_list_follows_writes(void)
{
    char *dir = tmpdir_make();
    sl_store *s = open_store(dir);
    CHECK(s != NULL);
    if (!s) {
        tmpdir_remove(dir);
        return;
    }
    CHECK(shared_matches(s, "ConfigMap")); /* (empty, and now kept) */
    json_t *before = NULL;
    int64_t rv;
    CHECK(sl_store_list_shared(s, "ConfigMap", &before, &rv) == SL_OK);
    srandom(7);
    static const char *const namespaces[] = {"a", "b", "zz"};
    for (int step = 0; step < 300; step++) {
        char name[16], value[16];
        snprintf(name, sizeof(name), "cm%ld", random() % 25);
        snprintf(value, sizeof(value), "v%d", step);
        const char *ns = namespaces[random() % 3];
        long what = random() % 4;
        if (what == 0 && has(s, "ConfigMap", ns, name))
            CHECK(delete_obj(s, "ConfigMap", ns, name) > 0);
        else if (what == 1) { /* a write rolled back changes nothing */
            CHECK(sl_store_write_begin(s) == SL_OK);
            int64_t next = sl_store_next_rv(s);
            json_t *o = make_obj("ConfigMap", ns, name, "rolled back");
            sl_obj_prepare_create(sl_kind_by_name("ConfigMap"), o, next);
            CHECK(sl_store_put(s, "ConfigMap", o, "ADDED", next) == SL_OK);
            sl_store_write_rollback(s);
            json_decref(o);
        } else
            CHECK(create(s, "ConfigMap", ns, name, value) > 0); /* (a replacement when it exists) */
        if (!shared_matches(s, "ConfigMap")) {
            CHECK(!"the shared list differs");
            break;
        }
    }
    /* A list taken earlier is the caller's: later writes did not change it. */
    CHECK(json_array_size(before) == 0);
    json_decref(before);
    /* Another kind is read (and kept) on its own. */
    CHECK(shared_matches(s, "Namespace"));
    CHECK(create(s, "Namespace", "", "later", NULL) > 0);
    CHECK(shared_matches(s, "Namespace"));
    sl_store_close(s);
    tmpdir_remove(dir);
}

static void test_events_since(void)
{
    char *dir = tmpdir_make();
    sl_store *s = open_store(dir);
    CHECK(s != NULL);
    if (!s) {
        tmpdir_remove(dir);
        return;
    }
    /* rv 1..3 are the seeded objects. */
    json_t *ev = NULL;
    int64_t last = -1;
    CHECK(sl_store_events_since(s, 0, "GatewayClass", NULL, 100, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 2);
    CHECK_STR(event_type(ev, 0), "ADDED");
    CHECK_STR(sl_obj_name(event_object(ev, 0)), "sluice");
    CHECK_STR(sl_obj_name(event_object(ev, 1)), "sluice-ai");
    CHECK(last == 3);
    json_decref(ev);

    CHECK(create(s, "ConfigMap", "a", "one", "1") == 4);
    CHECK(create(s, "ConfigMap", "b", "two", "1") == 5);
    CHECK(create(s, "Secret", "a", "s", "1") == 6);
    json_t *old = NULL;
    CHECK(sl_store_get(s, "ConfigMap", "a", "one", &old) == SL_OK);
    json_t *upd = json_deep_copy(old);
    json_object_set_new(json_object_get(upd, "data"), "v", json_string("2"));
    CHECK(sl_store_write_begin(s) == SL_OK);
    int64_t rv = sl_store_next_rv(s);
    sl_obj_prepare_update(sl_kind_by_name("ConfigMap"), upd, old, rv);
    CHECK(sl_store_put(s, "ConfigMap", upd, "MODIFIED", rv) == SL_OK);
    CHECK(sl_store_write_commit(s) == SL_OK);
    CHECK(rv == 7);
    json_decref(upd);
    json_decref(old);
    CHECK(delete_obj(s, "ConfigMap", "b", "two") == 8);

    /* All ConfigMap events since 3, in order, with their types. */
    CHECK(sl_store_events_since(s, 3, "ConfigMap", NULL, 100, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 4);
    CHECK_STR(event_type(ev, 0), "ADDED");
    CHECK_STR(sl_obj_name(event_object(ev, 0)), "one");
    CHECK(sl_obj_resource_version(event_object(ev, 0)) == 4);
    CHECK_STR(event_type(ev, 1), "ADDED");
    CHECK_STR(sl_obj_name(event_object(ev, 1)), "two");
    CHECK_STR(event_type(ev, 2), "MODIFIED");
    CHECK_STR(sl_obj_name(event_object(ev, 2)), "one");
    CHECK_STR(json_string_value(json_object_get(json_object_get(event_object(ev, 2), "data"), "v")), "2");
    CHECK(sl_obj_resource_version(event_object(ev, 2)) == 7);
    CHECK_STR(event_type(ev, 3), "DELETED");
    CHECK_STR(sl_obj_name(event_object(ev, 3)), "two");
    CHECK(sl_obj_resource_version(event_object(ev, 3)) == 8);
    CHECK(last == 8);
    json_decref(ev);

    /* Namespace filter. */
    CHECK(sl_store_events_since(s, 3, "ConfigMap", "a", 100, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 2);
    CHECK_STR(event_type(ev, 0), "ADDED");
    CHECK_STR(event_type(ev, 1), "MODIFIED");
    CHECK(last == 8);
    json_decref(ev);
    CHECK(sl_store_events_since(s, 3, "ConfigMap", "", 100, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 4);
    json_decref(ev);

    /* Kind filter. */
    CHECK(sl_store_events_since(s, 3, "Secret", NULL, 100, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 1);
    CHECK_STR(sl_obj_name(event_object(ev, 0)), "s");
    CHECK(last == 8);
    json_decref(ev);
    CHECK(sl_store_events_since(s, 0, "Service", NULL, 100, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 0);
    CHECK(last == 8);
    json_decref(ev);

    /* max: a full page reports how far it read. */
    CHECK(sl_store_events_since(s, 3, "ConfigMap", NULL, 2, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 2);
    CHECK_STR(sl_obj_name(event_object(ev, 1)), "two");
    CHECK(last == 5);
    json_decref(ev);
    CHECK(sl_store_events_since(s, last, "ConfigMap", NULL, 2, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 2);
    CHECK_STR(event_type(ev, 0), "MODIFIED");
    CHECK_STR(event_type(ev, 1), "DELETED");
    CHECK(last == 8);
    json_decref(ev);
    CHECK(sl_store_events_since(s, last, "ConfigMap", NULL, 2, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 0);
    CHECK(last == 8);
    json_decref(ev);
    CHECK(sl_store_events_since(s, 3, "ConfigMap", NULL, 1, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 1);
    CHECK(last == 4);
    json_decref(ev);

    /* Up to date, and from the future. */
    CHECK(sl_store_events_since(s, 8, "ConfigMap", NULL, 100, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 0);
    CHECK(last == 8);
    json_decref(ev);

    /* The log survives a restart. */
    sl_store_close(s);
    s = open_store(dir);
    CHECK(s != NULL);
    if (s) {
        CHECK(sl_store_events_since(s, 6, "ConfigMap", NULL, 100, &ev, &last) == SL_OK);
        CHECK(json_array_size(ev) == 2);
        CHECK(last == 8);
        json_decref(ev);
        sl_store_close(s);
    }
    tmpdir_remove(dir);
}

static void test_events_gone_after_trim(void)
{
    char *dir = tmpdir_make();
    sl_store *s = open_store(dir);
    CHECK(s != NULL);
    if (!s) {
        tmpdir_remove(dir);
        return;
    }
    /* One transaction of KEEP + 50 writes (quick: one fsync). */
    int total = SL_STORE_EVENT_LOG_KEEP + 50;
    CHECK(sl_store_write_begin(s) == SL_OK);
    int64_t rv = 0;
    for (int i = 0; i < total; i++) {
        char name[32];
        snprintf(name, sizeof(name), "cm-%d", i % 100);
        json_t *o = make_obj("ConfigMap", "d", name, "x");
        rv = sl_store_next_rv(s);
        sl_obj_prepare_create(sl_kind_by_name("ConfigMap"), o, rv);
        int rc = sl_store_put(s, "ConfigMap", o, i < 100 ? "ADDED" : "MODIFIED", rv);
        json_decref(o);
        if (rc != SL_OK) {
            CHECK(rc == SL_OK);
            break;
        }
    }
    CHECK(sl_store_write_commit(s) == SL_OK);
    int64_t cur = sl_store_current_rv(s);
    CHECK(cur == 3 + total);
    CHECK(rv == cur);

    json_t *ev = NULL;
    int64_t last = -1;
    CHECK(sl_store_events_since(s, 0, "ConfigMap", NULL, 10, &ev, &last) == SL_GONE);
    json_decref(ev);
    CHECK(sl_store_events_since(s, 1, "ConfigMap", NULL, 10, &ev, &last) == SL_GONE);
    json_decref(ev);
    /* Other kinds too: their events before the trim point are gone as well. */
    CHECK(sl_store_events_since(s, 0, "GatewayClass", NULL, 10, &ev, &last) == SL_GONE);
    json_decref(ev);

    /* The newest KEEP events are still there. */
    int64_t oldest_kept = cur - SL_STORE_EVENT_LOG_KEEP + 1;
    CHECK(sl_store_events_since(s, oldest_kept - 1, "ConfigMap", NULL, 5, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 5);
    CHECK(sl_obj_resource_version(event_object(ev, 0)) == oldest_kept);
    CHECK(last == oldest_kept + 4);
    json_decref(ev);
    CHECK(sl_store_events_since(s, oldest_kept - 2, "ConfigMap", NULL, 5, &ev, &last) == SL_GONE);
    json_decref(ev);
    CHECK(sl_store_events_since(s, cur - 3, "ConfigMap", "d", 100, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 3);
    CHECK(last == cur);
    json_decref(ev);
    /* An up-to-date watcher is never gone. */
    CHECK(sl_store_events_since(s, cur, "ConfigMap", NULL, 100, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 0);
    json_decref(ev);

    /* Objects are all still there, the latest version of each. */
    json_t *items = NULL;
    int64_t lrv = 0;
    CHECK(sl_store_list(s, "ConfigMap", "d", &items, &lrv) == SL_OK);
    CHECK(json_array_size(items) == 100);
    CHECK(lrv == cur);
    json_decref(items);
    sl_store_close(s);
    tmpdir_remove(dir);
}

/* The contract of sl_store_events_since: *last >= since, also for a since
 * beyond the current resourceVersion (a client's version from the future). */
static void test_events_since_future_version(void)
{
    char *dir = tmpdir_make();
    sl_store *s = open_store(dir);
    CHECK(s != NULL);
    if (!s) {
        tmpdir_remove(dir);
        return;
    }
    json_t *ev = NULL;
    int64_t last = -1;
    CHECK(sl_store_events_since(s, 50, "ConfigMap", NULL, 100, &ev, &last) == SL_OK);
    CHECK(json_array_size(ev) == 0);
    if (last < 50)
        fprintf(stderr, "  since 50 with current rv %lld: *last = %lld\n", (long long)sl_store_current_rv(s),
                (long long)last);
    CHECK(last >= 50);
    json_decref(ev);
    sl_store_close(s);
    tmpdir_remove(dir);
}

typedef struct {
    sl_store *s;
    int delay_ms;
    int rc;
} writer_arg;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void *writer_thread(void *p)
{
    writer_arg *a = p;
    sleep_ms(a->delay_ms);
    a->rc = create(a->s, "ConfigMap", "d", "from-thread", "1") > 0 ? SL_OK : SL_ERR;
    return NULL;
}

static void *waker_thread(void *p)
{
    writer_arg *a = p;
    sleep_ms(a->delay_ms);
    sl_store_wake_all(a->s);
    a->rc = SL_OK;
    return NULL;
}

static void test_wait(void)
{
    char *dir = tmpdir_make();
    sl_store *s = open_store(dir);
    CHECK(s != NULL);
    if (!s) {
        tmpdir_remove(dir);
        return;
    }
    int64_t cur = sl_store_current_rv(s);

    /* Already past: returns at once. */
    double t0 = now_ms();
    CHECK(sl_store_wait(s, cur - 1, 5000) == cur);
    CHECK(now_ms() - t0 < 1000);

    /* Nothing happens: times out. */
    t0 = now_ms();
    CHECK(sl_store_wait(s, cur, 200) == cur);
    double took = now_ms() - t0;
    CHECK(took >= 150);
    CHECK(took < 3000);

    /* A write from another thread wakes the waiter promptly. */
    writer_arg a = {s, 100, -99};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, writer_thread, &a) == 0);
    t0 = now_ms();
    int64_t got = sl_store_wait(s, cur, 10000);
    took = now_ms() - t0;
    pthread_join(th, NULL);
    CHECK(a.rc == SL_OK);
    CHECK(got == cur + 1);
    CHECK(took < 5000);

    /* wake_all ends a wait without a write. */
    cur = sl_store_current_rv(s);
    writer_arg w = {s, 100, -99};
    CHECK(pthread_create(&th, NULL, waker_thread, &w) == 0);
    t0 = now_ms();
    got = sl_store_wait(s, cur, 10000);
    took = now_ms() - t0;
    pthread_join(th, NULL);
    CHECK(got == cur);
    CHECK(took < 5000);
    sl_store_close(s);
    tmpdir_remove(dir);
}

static bool token_listed(const json_t *list, const char *id, const char *name)
{
    size_t i;
    const json_t *t;
    json_array_foreach(list, i, t)
    {
        const char *tid = json_string_value(json_object_get(t, "id"));
        const char *tname = json_string_value(json_object_get(t, "name"));
        if (tid && tname && strcmp(tid, id) == 0 && strcmp(tname, name) == 0)
            return json_string_value(json_object_get(t, "created_at")) != NULL &&
                   json_object_get(t, "sha256") == NULL;
    }
    return false;
}

static void test_tokens(void)
{
    char *dir = tmpdir_make();
    sl_store *s = open_store(dir);
    CHECK(s != NULL);
    if (!s) {
        tmpdir_remove(dir);
        return;
    }
    const char *h1 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const char *h2 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    CHECK(sl_store_token_count(s) == 0);
    json_t *list = sl_store_token_list(s);
    CHECK(json_is_array(list) && json_array_size(list) == 0);
    json_decref(list);
    CHECK(sl_store_token_check(s, h1, NULL) == SL_NOTFOUND);

    CHECK(sl_store_token_insert(s, "id1", "ci", h1, false) == SL_OK);
    CHECK(sl_store_token_insert(s, "id2", "o'brien", h2, true) == SL_OK);
    /* Duplicate id or hash is refused. */
    CHECK(sl_store_token_insert(s, "id1", "other", "cc", false) == SL_ERR);
    CHECK(sl_store_token_insert(s, "id3", "other", h1, false) == SL_ERR);
    CHECK(sl_store_token_count(s) == 2);
    bool ro = true;
    CHECK(sl_store_token_check(s, h1, &ro) == SL_OK && !ro);
    CHECK(sl_store_token_check(s, h2, &ro) == SL_OK && ro); /* a read-only token */
    CHECK(sl_store_token_check(s, "cc", NULL) == SL_NOTFOUND);
    CHECK(sl_store_token_check(s, "", NULL) == SL_NOTFOUND);

    list = sl_store_token_list(s);
    CHECK(json_array_size(list) == 2);
    CHECK(token_listed(list, "id1", "ci"));
    CHECK(token_listed(list, "id2", "o'brien"));
    json_decref(list);

    /* Tokens are not objects: no resourceVersion. */
    CHECK(sl_store_current_rv(s) == 3);

    /* Delete by name and by id. */
    CHECK(sl_store_token_delete(s, "o'brien") == SL_OK);
    CHECK(sl_store_token_check(s, h2, NULL) == SL_NOTFOUND);
    CHECK(sl_store_token_delete(s, "o'brien") == SL_NOTFOUND);
    CHECK(sl_store_token_count(s) == 1);
    sl_store_close(s);

    /* Tokens persist. */
    s = open_store(dir);
    CHECK(s != NULL);
    if (s) {
        CHECK(sl_store_token_count(s) == 1);
        CHECK(sl_store_token_check(s, h1, NULL) == SL_OK);
        CHECK(sl_store_token_delete(s, "id1") == SL_OK);
        CHECK(sl_store_token_count(s) == 0);
        CHECK(sl_store_token_delete(s, "id1") == SL_NOTFOUND);
        sl_store_close(s);
    }
    tmpdir_remove(dir);
}

int main(void)
{
    sl_log_set_level(SL_LOG_WARN);
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_open_migrates_and_seeds),
        UNIT_TEST(test_seed_not_repeated),
        UNIT_TEST(test_open_fails_cleanly),
        UNIT_TEST(test_put_get_list),
        UNIT_TEST(test_rv_persists),
        UNIT_TEST(test_rollback),
        UNIT_TEST(test_shared_list_follows_writes),
        UNIT_TEST(test_events_since),
        UNIT_TEST(test_events_gone_after_trim),
        UNIT_TEST(test_events_since_future_version),
        UNIT_TEST(test_wait),
        UNIT_TEST(test_tokens),
    };
    return sl_unit_run("store", tests, sizeof(tests) / sizeof(tests[0]));
}

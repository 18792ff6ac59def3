/* The compile fixture; see compile_fixture.h. */
#include "tests/unit/compile_fixture.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sl.h"
#include "daemon/compiler.h"
#include "daemon/kinds.h"
#include "daemon/objects.h"
#include "tests/unit/unit.h"

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void free_snapshot(sl_cfix *f)
{
    free(f->blob);
    json_decref(f->status);
    f->blob = NULL;
    f->status = NULL;
    f->size = 0;
    f->snap = (sl_snapshot){0};
}

bool sl_cfix_open(sl_cfix *f)
{
    memset(f, 0, sizeof(*f));
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/sluice-test-compile.XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        abort();
    }
    f->dir = strdup(dir);
    char err[512] = "";
    f->store = sl_store_open(f->dir, err, sizeof(err));
    if (!f->store) {
        fprintf(stderr, "  sl_store_open(%s): %s\n", f->dir, err);
        sl_unit_failures++;
        return false;
    }
    return true;
}

void sl_cfix_close(sl_cfix *f)
{
    free_snapshot(f);
    if (f->store)
        sl_store_close(f->store);
    nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f->dir);
}

void sl_cfix_put_json(sl_cfix *f, json_t *o)
{
    const char *kind = json_string_value(json_object_get(o, "kind"));
    const sl_kind *k = kind ? sl_kind_by_name(kind) : NULL;
    if (!k) {
        fprintf(stderr, "  unknown kind in test object\n");
        sl_unit_failures++;
        json_decref(o);
        return;
    }
    const char *ts = json_string_value(json_object_get(json_object_get(o, "metadata"), "creationTimestamp"));
    char created[64];
    snprintf(created, sizeof(created), "%s", ts ? ts : "2024-01-01T00:00:00Z");
    if (sl_store_write_begin(f->store) != SL_OK) {
        sl_unit_failures++;
        json_decref(o);
        return;
    }
    int64_t rv = sl_store_next_rv(f->store);
    sl_obj_prepare_create(k, o, rv);
    json_object_set_new(sl_obj_metadata(o), "creationTimestamp", json_string(created));
    int rc = sl_store_put(f->store, kind, o, "ADDED", rv);
    if (rc == SL_OK)
        rc = sl_store_write_commit(f->store);
    else
        sl_store_write_rollback(f->store);
    if (rc != SL_OK) {
        fprintf(stderr, "  storing %s failed\n", kind);
        sl_unit_failures++;
    }
    json_decref(o);
}

void sl_cfix_put(sl_cfix *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf) {
        sl_unit_failures++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, (size_t)n + 1, fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t jerr;
    json_t *o = json_loads(buf, 0, &jerr);
    if (!o) {
        fprintf(stderr, "  bad test JSON (%s): %s\n", jerr.text, buf);
        sl_unit_failures++;
        free(buf);
        return;
    }
    free(buf);
    sl_cfix_put_json(f, o);
}

bool sl_cfix_compile(sl_cfix *f)
{
    free_snapshot(f);
    f->blob = sl_compile(f->store, 1, &f->size, &f->status);
    char why[256] = "";
    if (!f->blob || !sl_snapshot_verify(f->blob, f->size, why, sizeof(why))) {
        fprintf(stderr, "  compiled snapshot does not verify: %s\n", why);
        sl_unit_failures++;
        return false;
    }
    f->snap = (sl_snapshot){f->blob, f->size};
    return true;
}

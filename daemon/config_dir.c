/* --config-dir: a directory of manifests as the truth (see config_dir.h). */
#include "daemon/config_dir.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sl.h"
#include "daemon/bg_thread.h"
#include "daemon/objects.h"
#include "daemon/store_mirror.h"
#include "daemon/validate.h"
#include "daemon/yaml_json.h"

/* A manifest file larger than this is refused (a directory of manifests, not a dump). */
#define MAX_FILE_BYTES (64u << 20)
/* Quiet time after a change before the directory is read again (editors write in steps). */
#define SETTLE_MS 200
/* Problems logged per refused pass; the rest are counted. */
#define MAX_LOGGED 50

struct sl_config_dir {
    sl_store *store;
    char *dir;
    int inotify_fd;
    int wake_fd; /* eventfd: stop */
    sl_bg_thread thread;
};

/* One object of the set: where it came from, and the object. */
typedef struct wanted {
    json_t *obj;
    const sl_kind *kind;
    char file[256];
    char where[320]; /* "FILE, document N" (or "..., items[M]") */
} wanted;

typedef struct pass {
    const char *dir;
    wanted *items;
    size_t n, cap;
    size_t problems;
    json_t *keys; /* "Kind/ns/name" -> index, to find duplicates */
} pass;

__attribute__((format(printf, 3, 4))) static void problem(pass *p, const char *where, const char *fmt, ...)
{
    if (p->problems++ >= MAX_LOGGED)
        return;
    char what[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    sl_log_error("config-dir", "%s/%s: %s", p->dir, where, what);
}

static bool manifest_name(const char *name)
{
    if (name[0] == '.')
        return false; /* hidden, and a ConfigMap volume's ..data */
    const char *dot = strrchr(name, '.');
    return dot && (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0 || strcmp(dot, ".json") == 0);
}

static char *read_file(const char *path, size_t *len, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 131072;
            char *b = cap <= (size_t)MAX_FILE_BYTES + 65536 + 1 ? realloc(buf, cap) : NULL;
            if (!b) {
                snprintf(why, whylen, "larger than %u MiB", MAX_FILE_BYTES >> 20);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, 65536, f);
        n += r;
        if (r < 65536)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(why, whylen, "read error");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void add_wanted(pass *p, json_t *obj, const char *file, const char *where)
{
    if (!json_is_object(obj)) {
        problem(p, where, "not an object (a manifest is a mapping with apiVersion, kind and metadata)");
        return;
    }
    const char *list_kind = json_string_value(json_object_get(obj, "kind"));
    if (list_kind && strcmp(list_kind, "List") == 0 &&
        json_is_array(json_object_get(obj, "items"))) {
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(obj, "items"), i, item)
        {
            char sub[320];
            snprintf(sub, sizeof(sub), "%.250s, items[%zu]", where, i);
            add_wanted(p, item, file, sub);
        }
        return;
    }
    const char *api = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!api || !kind) {
        problem(p, where, "apiVersion and kind are required");
        return;
    }
    const sl_kind *k = sl_kind_by_api_version(api, kind);
    if (!k) {
        problem(p, where, "no kind %s is served at %s (see docs/api.md for the kinds and versions)", kind, api);
        return;
    }
    json_t *copy = json_deep_copy(obj);
    json_t *meta = sl_obj_metadata(copy);
    if (k->namespaced && !sl_obj_namespace(copy)[0])
        json_object_set_new(meta, "namespace", json_string("default")); /* as kubectl apply without -n */
    else if (!k->namespaced)
        json_object_del(meta, "namespace");
    sl_vctx v;
    sl_vctx_init(&v);
    sl_kind_validate(k, &v, copy);
    size_t i;
    json_t *c;
    json_array_foreach(v.causes, i, c)
    {
        problem(p, where, "%s %s is invalid: %s: %s", kind, sl_obj_name(copy),
                json_string_value(json_object_get(c, "field")), json_string_value(json_object_get(c, "message")));
    }
    bool invalid = sl_vctx_count(&v) > 0;
    sl_vctx_free(&v);
    if (invalid) {
        json_decref(copy);
        return;
    }
    char key[600];
    snprintf(key, sizeof(key), "%s/%s/%s", k->kind, sl_obj_namespace(copy), sl_obj_name(copy));
    json_t *seen = json_object_get(p->keys, key);
    if (seen) {
        problem(p, where, "%s is also defined in %s", key, p->items[json_integer_value(seen)].where);
        json_decref(copy);
        return;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->items = realloc(p->items, p->cap * sizeof(*p->items));
    }
    wanted *w = &p->items[p->n];
    w->obj = copy;
    w->kind = k;
    snprintf(w->file, sizeof(w->file), "%s", file);
    snprintf(w->where, sizeof(w->where), "%s", where);
    json_object_set_new(p->keys, key, json_integer((json_int_t)p->n));
    p->n++;
}

static void read_manifest(pass *p, const char *name)
{
    char path[4096], why[512];
    snprintf(path, sizeof(path), "%s/%s", p->dir, name);
    size_t len;
    char *text = read_file(path, &len, why, sizeof(why));
    if (!text) {
        problem(p, name, "%s", why);
        return;
    }
    json_t *docs;
    const char *dot = strrchr(name, '.');
    if (dot && strcmp(dot, ".json") == 0) {
        json_error_t jerr;
        json_t *one = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!one) {
            problem(p, name, "not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
            free(text);
            return;
        }
        docs = json_pack("[o]", one);
    } else {
        docs = sl_yaml_load(text, len, why, sizeof(why));
        if (!docs) {
            problem(p, name, "not valid YAML: %s", why);
            free(text);
            return;
        }
    }
    free(text);
    size_t i;
    json_t *doc;
    json_array_foreach(docs, i, doc)
    {
        if (json_is_null(doc))
            continue; /* an empty document ("---" at the end) */
        char where[320];
        snprintf(where, sizeof(where), "%.200s, document %zu", name, i);
        add_wanted(p, doc, name, where);
    }
    json_decref(docs);
}

static void free_pass(pass *p)
{
    for (size_t i = 0; i < p->n; i++)
        json_decref(p->items[i].obj);
    free(p->items);
    json_decref(p->keys);
}

static const char *marked_file(const json_t *obj)
{
    return sl_mirror_mark(obj, SL_CONFIG_FILE_ANNOTATION);
}

/* Every namespaced object's namespace exists, in the store or in the set. */
static bool namespaces_exist(pass *p, sl_store *s)
{
    bool ok = true;
    for (size_t i = 0; i < p->n; i++) {
        if (!p->items[i].kind->namespaced)
            continue;
        const char *ns = sl_obj_namespace(p->items[i].obj);
        char key[300];
        snprintf(key, sizeof(key), "Namespace//%s", ns);
        if (json_object_get(p->keys, key))
            continue;
        json_t *existing = NULL;
        int rc = sl_store_get(s, "Namespace", "", ns, &existing);
        json_decref(existing);
        if (rc == SL_NOTFOUND) {
            problem(p, p->items[i].where, "namespace %s does not exist (define it in the directory, or create it)", ns);
            ok = false;
        }
    }
    return ok;
}

typedef struct counts {
    unsigned created, updated, deleted, unchanged, kept;
} counts;

static int put_wanted(sl_store *s, wanted *w, counts *n)
{
    const sl_kind *k = w->kind;
    const char *marks[] = {SL_CONFIG_FILE_ANNOTATION, w->file, NULL};
    sl_mirror_result result;
    bool was_marked;
    int rc = sl_mirror_put(s, k, json_incref(w->obj), marks, NULL, 0, &result, &was_marked);
    if (rc != SL_OK)
        return rc;
    n->created += result == SL_MIRROR_CREATED;
    n->updated += result == SL_MIRROR_UPDATED;
    n->unchanged += result == SL_MIRROR_UNCHANGED;
    if (result == SL_MIRROR_UPDATED && !was_marked)
        sl_log_info("config-dir", "%s %s%s%s, written before through the admin API, now comes from %s", k->kind,
                    sl_obj_namespace(w->obj), k->namespaced ? "/" : "", sl_obj_name(w->obj), w->file);
    return SL_OK;
}

/* Deletes the marked objects of kind k that no file defines any more. A
 * Namespace that still holds objects is kept (logged). */
static int delete_gone(sl_store *s, pass *p, const sl_kind *k, counts *n)
{
    json_t *items;
    int64_t unused;
    if (sl_store_list(s, k->kind, "", &items, &unused) != SL_OK) {
        json_decref(items);
        return SL_ERR;
    }
    int rc = SL_OK;
    size_t i;
    json_t *obj;
    json_array_foreach(items, i, obj)
    {
        if (!marked_file(obj))
            continue;
        char key[600];
        snprintf(key, sizeof(key), "%s/%s/%s", k->kind, sl_obj_namespace(obj), sl_obj_name(obj));
        if (json_object_get(p->keys, key))
            continue;
        if (strcmp(k->kind, "Namespace") == 0) {
            bool holds = false;
            for (const sl_kind *nk = sl_kinds; nk->kind && !holds; nk++) {
                if (!nk->namespaced)
                    continue;
                json_t *inside = NULL;
                holds = sl_store_list(s, nk->kind, sl_obj_name(obj), &inside, &unused) != SL_OK ||
                        json_array_size(inside) > 0; /* (unreadable: kept, to be safe) */
                json_decref(inside);
            }
            if (holds) {
                sl_log_warn("config-dir", "Namespace %s is no longer in %s but still holds objects: kept",
                            sl_obj_name(obj), p->dir);
                n->kept++;
                continue;
            }
        }
        if ((rc = sl_mirror_delete(s, k, obj)) != SL_OK)
            break;
        n->deleted++;
    }
    json_decref(items);
    return rc;
}

static int kind_rank(const sl_kind *k)
{
    return strcmp(k->kind, "Namespace") == 0 ? 0 : 1;
}

bool sl_config_dir_apply(sl_store *s, const char *dir)
{
    pass p = {.dir = dir, .keys = json_object()};
    struct dirent **names = NULL;
    int nnames = scandir(dir, &names, NULL, alphasort);
    if (nnames < 0) {
        sl_log_error("config-dir", "cannot read %s: %s; nothing applied", dir, strerror(errno));
        json_decref(p.keys);
        return false;
    }
    size_t files = 0;
    for (int i = 0; i < nnames; i++) {
        if (manifest_name(names[i]->d_name)) {
            read_manifest(&p, names[i]->d_name);
            files++;
        }
        free(names[i]);
    }
    free(names);
    if (p.problems == 0)
        namespaces_exist(&p, s);
    if (p.problems > 0) {
        sl_log_error("config-dir", "%s: %zu problem%s%s; nothing applied: the objects of the last good set keep "
                     "running",
                     dir, p.problems, p.problems == 1 ? "" : "s",
                     p.problems > MAX_LOGGED ? " (the first 50 logged)" : "");
        free_pass(&p);
        return false;
    }
    counts n = {0};
    int rc = sl_store_write_begin(s);
    for (int rank = 0; rank < 2 && rc == SL_OK; rank++)
        for (size_t i = 0; i < p.n && rc == SL_OK; i++)
            if (kind_rank(p.items[i].kind) == rank)
                rc = put_wanted(s, &p.items[i], &n);
    for (int rank = 1; rank >= 0 && rc == SL_OK; rank--) /* Namespaces last: they may empty first */
        for (const sl_kind *k = sl_kinds; k->kind && rc == SL_OK; k++)
            if (kind_rank(k) == rank)
                rc = delete_gone(s, &p, k, &n);
    if (rc == SL_OK && n.created + n.updated + n.deleted == 0) {
        sl_store_write_rollback(s); /* nothing to write: no new resourceVersion */
    } else if (rc == SL_OK) {
        rc = sl_store_write_commit(s);
    } else {
        sl_store_write_rollback(s);
    }
    if (rc != SL_OK) {
        sl_log_error("config-dir", "%s: the store refused the write; nothing applied", dir);
        free_pass(&p);
        return false;
    }
    sl_log_info("config-dir", "%s: %zu file%s, %zu object%s: %u created, %u updated, %u deleted, %u unchanged%s", dir,
                files, files == 1 ? "" : "s", p.n, p.n == 1 ? "" : "s", n.created, n.updated, n.deleted, n.unchanged,
                n.kept ? " (a Namespace kept)" : "");
    free_pass(&p);
    return true;
}

/* ------------------------------------------------------------------ watching */

static void *watch(void *arg)
{
    sl_config_dir *d = arg;
    struct pollfd fds[2] = {{.fd = d->inotify_fd, .events = POLLIN}, {.fd = d->wake_fd, .events = POLLIN}};
    bool dirty = false;
    for (;;) {
        int timeout = dirty ? SETTLE_MS : -1;
        int r = poll(fds, 2, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (fds[1].revents & POLLIN))
            break; /* stop */
        if (r == 0) {
            dirty = false; /* quiet for SETTLE_MS: read it all again */
            sl_config_dir_apply(d->store, d->dir);
            continue;
        }
        if (fds[0].revents & POLLIN) {
            char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
            ssize_t n = read(d->inotify_fd, buf, sizeof(buf));
            for (ssize_t off = 0; n > 0 && off < n;) {
                const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
                if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
                    sl_log_warn("config-dir", "%s was removed or moved: no longer watched", d->dir);
                off += (ssize_t)sizeof(*ev) + ev->len;
            }
            dirty = true; /* (any change: the pass reads the whole directory) */
        }
    }
    return NULL;
}

sl_config_dir *sl_config_dir_start(sl_store *s, const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(err, errlen, "--config-dir %s: %s", dir, strerror(errno));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "--config-dir %s: not a directory", dir);
        return NULL;
    }
    sl_config_dir *d = calloc(1, sizeof(*d));
    d->store = s;
    d->dir = strdup(dir);
    d->thread = (sl_bg_thread)SL_BG_THREAD_INIT;
    d->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->inotify_fd < 0 || d->wake_fd < 0 ||
        inotify_add_watch(d->inotify_fd, dir,
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF |
                              IN_MOVE_SELF | IN_ATTRIB) < 0) {
        snprintf(err, errlen, "--config-dir %s: cannot watch it: %s", dir, strerror(errno));
        sl_config_dir_stop(d);
        return NULL;
    }
    sl_config_dir_apply(s, dir);
    if (!sl_bg_thread_start(&d->thread, watch, d)) {
        snprintf(err, errlen, "--config-dir %s: cannot start its watcher thread", dir);
        sl_config_dir_stop(d);
        return NULL;
    }
    return d;
}

void sl_config_dir_stop(sl_config_dir *d)
{
    if (!d)
        return;
    if (d->thread.running) {
        uint64_t one = 1;
        if (write(d->wake_fd, &one, sizeof(one)) < 0) {
            /* (an eventfd write fails only on overflow: the watcher is woken anyway) */
        }
        sl_bg_thread_stop(&d->thread);
    }
    if (d->inotify_fd >= 0)
        close(d->inotify_fd);
    if (d->wake_fd >= 0)
        close(d->wake_fd);
    free(d->dir);
    free(d);
}

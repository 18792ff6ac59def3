#include "daemon/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "common/log.h"
#include "common/series.h"
#include "common/sl.h"
#include "daemon/kinds.h"
#include "daemon/objects.h"
#include "daemon/store_cache.h"

struct sl_store {
    sqlite3 *db;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* signalled after every committed write */
    int64_t rv;             /* committed resourceVersion */
    int64_t pending_rv;     /* highest rv reserved in the open transaction */
    bool pending_status_only; /* the open transaction writes only status subresources */
    int64_t config_rv;      /* rv of the last committed write that changed more than status */
    bool last_failure_full; /* the last failed write failed because the disk was full */
    uint64_t write_began_us; /* when the open transaction began (sluice_store_write_duration_seconds) */
    int64_t wake_epoch;     /* bumped by sl_store_wake_all */
    sl_store_cache *cache;  /* parsed objects for sl_store_list_shared */
    json_t *kind_rv;        /* kind -> rv of the last committed write of it that changed more than status */
    json_t *pending_kinds;  /* kinds written by the open transaction */
    int64_t open_rv;        /* the rv at open: kinds not in kind_rv changed at most then */
    char path[4096];
};

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return SL_ERR;
    }
    return SL_OK;
}

static int64_t query_int(sqlite3 *db, const char *sql, int64_t dflt)
{
    sqlite3_stmt *st;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return dflt;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Applies every compiled-in migration newer than the database's schema, each in
 * its own transaction together with its record in schema_migrations. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    if (exec_sql(db,
                 "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                 "name TEXT NOT NULL, applied_at TEXT NOT NULL)",
                 err, errlen) != SL_OK)
        return SL_ERR;
    int64_t have = query_int(db, "SELECT max(version) FROM schema_migrations", 0);
    for (const sl_migration *m = sl_migrations; m->version; m++) {
        if (m->version <= have)
            continue;
        char ts[32];
        sl_rfc3339_now(ts);
        char *record = sqlite3_mprintf("INSERT INTO schema_migrations (version, name, applied_at) "
                                       "VALUES (%d, %Q, %Q)",
                                       m->version, m->name, ts);
        if (exec_sql(db, "BEGIN IMMEDIATE", err, errlen) != SL_OK || exec_sql(db, m->sql, err, errlen) != SL_OK ||
            exec_sql(db, record, err, errlen) != SL_OK || exec_sql(db, "COMMIT", err, errlen) != SL_OK) {
            char why[512];
            snprintf(why, sizeof(why), "%s", err);
            snprintf(err, errlen, "migration %s failed: %s", m->name, why);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            sqlite3_free(record);
            return SL_ERR;
        }
        sqlite3_free(record);
        sl_log_info("store", "applied migration %s", m->name);
    }
    int64_t newest = query_int(db, "SELECT max(version) FROM schema_migrations", 0);
    int known = 0;
    for (const sl_migration *m = sl_migrations; m->version; m++)
        known = m->version;
    if (newest > known) {
        snprintf(err, errlen, "the state dir has schema version %lld, newer than this sluiced knows (%d)",
                 (long long)newest, known);
        return SL_ERR;
    }
    return SL_OK;
}

static json_t *builtin_gatewayclass(const char *name, const char *description)
{
    return json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s}}", "apiVersion", "gateway.networking.k8s.io/v1", "kind",
                     "GatewayClass", "metadata", "name", name, "spec", "controllerName",
                     "sluice.dev/gateway-controller", "description", description);
}

/* On the first start, stores the objects every installation has: the default
 * namespace and the two GatewayClasses. Later starts leave them to the user. */
static int seed(sl_store *s, char *err, size_t errlen)
{
    if (query_int(s->db, "SELECT value FROM meta WHERE key = 'seeded'", 0) == 1)
        return SL_OK;
    json_t *objs[] = {
        json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", "default"),
        builtin_gatewayclass("sluice", "sluice API, ingress and egress gateway"),
        builtin_gatewayclass("sluice-ai", "sluice AI gateway: LLM providers, MCP and A2A servers"),
    };
    int rc = sl_store_write_begin(s);
    for (size_t i = 0; rc == SL_OK && i < SL_ARRAY_LEN(objs); i++) {
        const char *kind = json_string_value(json_object_get(objs[i], "kind"));
        int64_t rv = sl_store_next_rv(s);
        sl_obj_prepare_create(sl_kind_by_name(kind), objs[i], rv);
        rc = sl_store_put(s, kind, objs[i], "ADDED", rv);
    }
    if (rc == SL_OK)
        rc = exec_sql(s->db, "INSERT OR REPLACE INTO meta (key, value) VALUES ('seeded', 1)", err, errlen);
    if (rc == SL_OK)
        rc = sl_store_write_commit(s);
    else
        sl_store_write_rollback(s);
    for (size_t i = 0; i < SL_ARRAY_LEN(objs); i++)
        json_decref(objs[i]);
    if (rc != SL_OK && !err[0])
        snprintf(err, errlen, "could not store the built-in objects: %s", sqlite3_errmsg(s->db));
    return rc;
}

sl_store *sl_store_open(const char *state_dir, char *err, size_t errlen)
{
    err[0] = '\0';
    if (mkdir(state_dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create state dir %s: %s", state_dir, strerror(errno));
        return NULL;
    }
    sl_store *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(s->path, sizeof(s->path), "%s/sluice.db", state_dir);
    s->cache = sl_store_cache_new();
    s->kind_rv = json_object();
    s->pending_kinds = json_object();
    if (!s->cache || !s->kind_rv || !s->pending_kinds) {
        sl_store_cache_free(s->cache);
        json_decref(s->kind_rv);
        json_decref(s->pending_kinds);
        snprintf(err, errlen, "out of memory");
        free(s);
        return NULL;
    }
    /* Recursive, so reads inside a write transaction (which holds the lock) work. */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->changed, &ca);
    pthread_condattr_destroy(&ca);

    if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", s->path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sl_store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL for concurrent readers; synchronous=FULL so a committed write survives a
     * power cut, not just a crash of the process. */
    if (exec_sql(s->db, "PRAGMA journal_mode=WAL", err, errlen) != SL_OK ||
        exec_sql(s->db, "PRAGMA synchronous=FULL", err, errlen) != SL_OK ||
        exec_sql(s->db, "PRAGMA foreign_keys=ON", err, errlen) != SL_OK || migrate(s->db, err, errlen) != SL_OK) {
        char why[512];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "%s: %s", s->path, why);
        sl_store_close(s);
        return NULL;
    }
    s->rv = query_int(s->db, "SELECT value FROM meta WHERE key = 'resource_version'", 0);
    s->config_rv = s->rv;
    s->open_rv = s->rv;
    if (seed(s, err, errlen) != SL_OK) {
        sl_store_close(s);
        return NULL;
    }
    sl_log_info("store", "opened %s (schema %d, resourceVersion %lld)", s->path, sl_store_schema_version(s),
                (long long)s->rv);
    return s;
}

void sl_store_close(sl_store *s)
{
    if (!s)
        return;
    if (s->db)
        sqlite3_close(s->db);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    sl_store_cache_free(s->cache);
    json_decref(s->kind_rv);
    json_decref(s->pending_kinds);
    free(s);
}

const char *sl_store_path(const sl_store *s) { return s->path; }

int sl_store_schema_version(sl_store *s)
{
    pthread_mutex_lock(&s->lock);
    int v = (int)query_int(s->db, "SELECT max(version) FROM schema_migrations", 0);
    pthread_mutex_unlock(&s->lock);
    return v;
}

int64_t sl_store_current_rv(sl_store *s)
{
    pthread_mutex_lock(&s->lock);
    int64_t rv = s->rv;
    pthread_mutex_unlock(&s->lock);
    return rv;
}

static json_t *parse_body(sqlite3_stmt *st, int col)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    int len = sqlite3_column_bytes(st, col);
    json_error_t jerr;
    json_t *obj = text ? json_loadb(text, (size_t)len, 0, &jerr) : NULL;
    if (!obj)
        sl_log_error("store", "stored object is not valid JSON: %s", text ? jerr.text : "NULL");
    return obj;
}

/* Reads one object; the caller holds the lock. */
static int get_locked(sl_store *s, const char *kind, const char *ns, const char *name, json_t **out)
{
    sqlite3_stmt *st;
    *out = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT body FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3", -1,
                           &st, NULL) != SQLITE_OK)
        return SL_ERR;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ns ? ns : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    int rc = SL_NOTFOUND;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *out = parse_body(st, 0);
        rc = *out ? SL_OK : SL_ERR;
    }
    sqlite3_finalize(st);
    return rc;
}

int sl_store_get(sl_store *s, const char *kind, const char *ns, const char *name, json_t **out)
{
    pthread_mutex_lock(&s->lock);
    int rc = get_locked(s, kind, ns, name, out);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Parses every object of kind (in ns, NULL or "" for all) into items; the lock is held. */
static int read_kind(sl_store *s, const char *kind, const char *ns, json_t *items)
{
    sqlite3_stmt *st;
    bool all = !ns || !*ns;
    if (sqlite3_prepare_v2(s->db,
                           all ? "SELECT body FROM objects WHERE kind = ?1 ORDER BY namespace, name"
                               : "SELECT body FROM objects WHERE kind = ?1 AND namespace = ?2 ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        return SL_ERR;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    if (!all)
        sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *obj = parse_body(st, 0);
        if (obj)
            json_array_append_new(items, obj);
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? SL_OK : SL_ERR;
}

int sl_store_list(sl_store *s, const char *kind, const char *ns, json_t **items, int64_t *rv)
{
    *items = json_array();
    pthread_mutex_lock(&s->lock);
    *rv = s->rv;
    int rc = read_kind(s, kind, ns, *items);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int sl_store_list_shared(sl_store *s, const char *kind, json_t **items, int64_t *rv)
{
    *items = json_array();
    pthread_mutex_lock(&s->lock);
    *rv = s->rv;
    int rc = SL_OK;
    const json_t *kept = sl_store_cache_get(s->cache, kind);
    if (!kept) {
        json_t *parsed = json_array();
        rc = parsed ? read_kind(s, kind, NULL, parsed) : SL_ERR;
        if (rc == SL_OK)
            sl_store_cache_set(s->cache, kind, parsed);
        else
            json_decref(parsed);
        kept = sl_store_cache_get(s->cache, kind);
    }
    if (rc == SL_OK && kept && json_array_extend(*items, (json_t *)kept) != 0)
        rc = SL_ERR;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int sl_store_write_begin(sl_store *s)
{
    pthread_mutex_lock(&s->lock);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        sl_log_error("store", "cannot begin a transaction: %s", sqlite3_errmsg(s->db));
        pthread_mutex_unlock(&s->lock);
        return SL_ERR;
    }
    s->pending_rv = s->rv;
    s->pending_status_only = false;
    s->last_failure_full = false;
    s->write_began_us = sl_mono_us();
    return SL_OK;
}

void sl_store_write_status_only(sl_store *s) { s->pending_status_only = true; }

bool sl_store_changed_only(sl_store *s, int64_t since, const char *kind)
{
    pthread_mutex_lock(&s->lock);
    bool only = since >= s->open_rv;
    const char *k;
    json_t *rv;
    json_object_foreach(s->kind_rv, k, rv) {
        if (strcmp(k, kind) != 0 && json_integer_value(rv) > since)
            only = false;
    }
    pthread_mutex_unlock(&s->lock);
    return only;
}

int64_t sl_store_config_rv(sl_store *s)
{
    pthread_mutex_lock(&s->lock);
    int64_t rv = s->config_rv;
    pthread_mutex_unlock(&s->lock);
    return rv;
}

int64_t sl_store_next_rv(sl_store *s) { return ++s->pending_rv; }

static int log_event(sl_store *s, const char *type, const char *kind, const json_t *obj, const char *body,
                     int64_t rv)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO events (resource_version, type, kind, namespace, name, body) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &st, NULL) != SQLITE_OK)
        return SL_ERR;
    sqlite3_bind_int64(st, 1, rv);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, sl_obj_namespace(obj), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, sl_obj_name(obj), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, body, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? SL_OK : SL_ERR;
    sqlite3_finalize(st);
    return rc;
}

/* Remembers why a write failed, for sl_store_last_failure_full. Lock held. */
static void note_failure(sl_store *s)
{
    int code = sqlite3_errcode(s->db);
    s->last_failure_full = code == SQLITE_FULL || (code == SQLITE_IOERR && errno == ENOSPC);
}

bool sl_store_last_failure_full(sl_store *s)
{
    pthread_mutex_lock(&s->lock);
    bool full = s->last_failure_full;
    pthread_mutex_unlock(&s->lock);
    return full;
}

int sl_store_put(sl_store *s, const char *kind, const json_t *obj, const char *type, int64_t rv)
{
    char *body = json_dumps(obj, JSON_COMPACT);
    if (!body)
        return SL_ERR;
    sqlite3_stmt *st;
    int rc = SL_ERR;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO objects (kind, namespace, name, uid, resource_version, body) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, sl_obj_namespace(obj), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, sl_obj_name(obj), -1, SQLITE_STATIC);
        const char *uid = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
        sqlite3_bind_text(st, 4, uid ? uid : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, rv);
        sqlite3_bind_text(st, 6, body, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE)
            rc = log_event(s, type, kind, obj, body, rv);
        sqlite3_finalize(st);
    }
    if (rc == SL_OK) {
        sl_store_cache_stage(s->cache, kind, sl_obj_namespace(obj), sl_obj_name(obj), obj);
        json_object_set_new(s->pending_kinds, kind, json_true());
    }
    if (rc != SL_OK) {
        note_failure(s);
        sl_log_error("store", "cannot write %s %s/%s: %s", kind, sl_obj_namespace(obj), sl_obj_name(obj),
                     sqlite3_errmsg(s->db));
    }
    free(body);
    return rc;
}

int sl_store_delete(sl_store *s, const char *kind, const json_t *last, int64_t rv)
{
    sqlite3_stmt *st;
    int rc = SL_ERR;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3", -1, &st,
                           NULL) != SQLITE_OK)
        return SL_ERR;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sl_obj_namespace(last), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, sl_obj_name(last), -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE) {
        char *body = json_dumps(last, JSON_COMPACT);
        rc = body ? log_event(s, "DELETED", kind, last, body, rv) : SL_ERR;
        free(body);
    }
    if (rc == SL_OK) {
        sl_store_cache_stage(s->cache, kind, sl_obj_namespace(last), sl_obj_name(last), NULL);
        json_object_set_new(s->pending_kinds, kind, json_true());
    }
    sqlite3_finalize(st);
    if (rc != SL_OK)
        note_failure(s);
    return rc;
}

int sl_store_write_commit(sl_store *s)
{
    int rc = SL_OK;
    if (s->pending_rv > s->rv) {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "UPDATE meta SET value = %lld WHERE key = 'resource_version';"
                 "DELETE FROM events WHERE resource_version <= %lld;",
                 (long long)s->pending_rv, (long long)(s->pending_rv - SL_STORE_EVENT_LOG_KEEP));
        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
            rc = SL_ERR;
    }
    if (rc == SL_OK && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = SL_ERR;
    if (rc != SL_OK) {
        note_failure(s);
        sl_log_error("store", "commit failed: %s", sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        sl_store_cache_rollback(s->cache);
    } else if (s->pending_rv > s->rv) {
        s->rv = s->pending_rv;
        if (!s->pending_status_only) {
            s->config_rv = s->rv;
            const char *k;
            json_t *unused;
            json_object_foreach(s->pending_kinds, k, unused) json_object_set_new(s->kind_rv, k, json_integer(s->rv));
        }
        pthread_cond_broadcast(&s->changed);
    }
    if (rc == SL_OK)
        sl_store_cache_commit(s->cache);
    json_object_clear(s->pending_kinds);
    if (rc == SL_OK)
        sl_histogram_observe(&sl_store_write_latency, sl_mono_us() - s->write_began_us);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void sl_store_write_rollback(sl_store *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sl_store_cache_rollback(s->cache);
    json_object_clear(s->pending_kinds);
    pthread_mutex_unlock(&s->lock);
}

int sl_store_events_since(sl_store *s, int64_t since, const char *kind, const char *ns, size_t max,
                          json_t **events, int64_t *last)
{
    *events = json_array();
    *last = since;
    pthread_mutex_lock(&s->lock);
    int64_t oldest = query_int(s->db, "SELECT min(resource_version) FROM events", s->rv + 1);
    /* Events since `since` are complete only when the log still holds since+1 (or
     * nothing happened after `since`). */
    if (since < s->rv && oldest > since + 1) {
        pthread_mutex_unlock(&s->lock);
        return SL_GONE;
    }
    bool all = !ns || !*ns;
    sqlite3_stmt *st;
    const char *sql = all ? "SELECT resource_version, type, body FROM events WHERE kind = ?1 AND "
                            "resource_version > ?2 AND resource_version <= ?4 ORDER BY resource_version LIMIT ?3"
                          : "SELECT resource_version, type, body FROM events WHERE kind = ?1 AND "
                            "resource_version > ?2 AND resource_version <= ?4 AND namespace = ?5 "
                            "ORDER BY resource_version LIMIT ?3";
    int rc = SL_OK;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        pthread_mutex_unlock(&s->lock);
        return SL_ERR;
    }
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    sqlite3_bind_int64(st, 4, s->rv);
    if (!all)
        sqlite3_bind_text(st, 5, ns, -1, SQLITE_STATIC);
    size_t n = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *obj = parse_body(st, 2);
        *last = sqlite3_column_int64(st, 0);
        n++;
        if (obj)
            json_array_append_new(*events, json_pack("{s:s, s:o}", "type", sqlite3_column_text(st, 1), "object", obj));
    }
    if (step != SQLITE_DONE)
        rc = SL_ERR;
    /* Fewer rows than asked means the log was read to the end: every event of other
     * kinds up to the current version is behind us too. */
    if (rc == SL_OK && n < max && s->rv > since)
        *last = s->rv;
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int64_t sl_store_wait(sl_store *s, int64_t rv, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    int64_t epoch = s->wake_epoch;
    while (s->rv <= rv && s->wake_epoch == epoch) {
        if (pthread_cond_timedwait(&s->changed, &s->lock, &deadline) == ETIMEDOUT)
            break;
    }
    int64_t now = s->rv;
    pthread_mutex_unlock(&s->lock);
    return now;
}

void sl_store_wake_all(sl_store *s)
{
    pthread_mutex_lock(&s->lock);
    s->wake_epoch++;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

int sl_store_token_insert(sl_store *s, const char *id, const char *name, const char *sha256_hex, bool read_only)
{
    char ts[32];
    sl_rfc3339_now(ts);
    char *sql = sqlite3_mprintf("INSERT INTO tokens (id, name, sha256, created_at, scope) VALUES (%Q, %Q, %Q, %Q, %Q)",
                                id, name, sha256_hex, ts, read_only ? "read" : "full");
    pthread_mutex_lock(&s->lock);
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? SL_OK : SL_ERR;
    pthread_mutex_unlock(&s->lock);
    sqlite3_free(sql);
    return rc;
}

int sl_store_token_delete(sl_store *s, const char *id_or_name)
{
    char *sql = sqlite3_mprintf("DELETE FROM tokens WHERE id = %Q OR name = %Q", id_or_name, id_or_name);
    pthread_mutex_lock(&s->lock);
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? SL_OK : SL_ERR;
    if (rc == SL_OK && sqlite3_changes(s->db) == 0)
        rc = SL_NOTFOUND;
    pthread_mutex_unlock(&s->lock);
    sqlite3_free(sql);
    return rc;
}

json_t *sl_store_token_list(sl_store *s)
{
    json_t *out = json_array();
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db, "SELECT id, name, created_at, scope FROM tokens ORDER BY created_at, id", -1, &st,
                           NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s}", "id", sqlite3_column_text(st, 0), "name",
                                                 sqlite3_column_text(st, 1), "created_at",
                                                 sqlite3_column_text(st, 2), "scope", sqlite3_column_text(st, 3)));
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    return out;
}

int sl_store_token_check(sl_store *s, const char *sha256_hex, bool *read_only)
{
    sqlite3_stmt *st;
    int rc = SL_NOTFOUND;
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db, "SELECT scope FROM tokens WHERE sha256 = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, sha256_hex, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            rc = SL_OK;
            if (read_only)
                *read_only = strcmp((const char *)sqlite3_column_text(st, 0), "read") == 0;
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int sl_store_token_count(sl_store *s)
{
    pthread_mutex_lock(&s->lock);
    int n = (int)query_int(s->db, "SELECT count(*) FROM tokens", 0);
    pthread_mutex_unlock(&s->lock);
    return n;
}

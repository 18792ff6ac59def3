/* The object store: SQLite in WAL mode under the state dir. The master is its only
 * writer. Every admin write is one transaction (sl_store_write_begin .. commit),
 * durable before the caller answers. Every write appends to the watch log and
 * wakes waiting watchers.
 *
 * Thread safety: one connection guarded by one mutex; any thread may call any
 * function. A write transaction holds the mutex from begin to commit/rollback. */
#ifndef SL_STORE_H
#define SL_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sl_store sl_store;

typedef struct sl_migration {
    int version;
    const char *name;
    const char *sql;
} sl_migration;

/* The migrations compiled into the binary (sql/migrations.c), ending with version 0. */
extern const sl_migration sl_migrations[];

/* How many events the watch log keeps (older ones are trimmed). */
#define SL_STORE_EVENT_LOG_KEEP 10000

/* Opens (creating when needed) DIR/sluice.db, applies pending migrations and seeds
 * the built-in objects. Returns NULL and writes a message into err on failure. */
sl_store *sl_store_open(const char *state_dir, char *err, size_t errlen);
void sl_store_close(sl_store *s);

/* The path of the database file. */
const char *sl_store_path(const sl_store *s);

/* Highest schema version applied. */
int sl_store_schema_version(sl_store *s);

/* The current global resourceVersion (of the last committed write). */
int64_t sl_store_current_rv(sl_store *s);

/* Reads one object. Returns SL_OK with a new reference in *out, or SL_NOTFOUND. */
int sl_store_get(sl_store *s, const char *kind, const char *ns, const char *name, json_t **out);

/* Lists objects of a kind, in namespace `ns` (NULL or "" for all namespaces),
 * ordered by namespace and name. *items gets a new array; *rv the store's current
 * resourceVersion, consistent with the items. */
int sl_store_list(sl_store *s, const char *kind, const char *ns, json_t **items, int64_t *rv);

/* Like sl_store_list of every namespace, for readers that read a whole kind
 * often (the compiler, route status): the objects come from parsed copies kept
 * between reads (daemon/store_cache.h), shared with other readers: they must
 * not be changed. What is committed is read; inside a write transaction, not
 * its own writes. */
int sl_store_list_shared(sl_store *s, const char *kind, json_t **items, int64_t *rv);

/* Starts a write transaction (takes the store lock). */
int sl_store_write_begin(sl_store *s);
/* Reserves the next resourceVersion within the current transaction. */
int64_t sl_store_next_rv(sl_store *s);
/* Writes an object and logs an event of `type` ("ADDED" or "MODIFIED") at rv. */
int sl_store_put(sl_store *s, const char *kind, const json_t *obj, const char *type, int64_t rv);
/* Deletes an object and logs DELETED with `last` (the object as it was, with rv set). */
int sl_store_delete(sl_store *s, const char *kind, const json_t *last, int64_t rv);
/* Commits (durably) and releases the lock; wakes watchers. SL_ERR if the commit failed
 * (the transaction is then rolled back). */
int sl_store_write_commit(sl_store *s);
/* True when the last failed write failed because the disk holding the store
 * is full (the admin API then answers 507 and says so). */
bool sl_store_last_failure_full(sl_store *s);
/* Marks the open transaction as writing only status subresources: it moves
 * the resourceVersion (watches see it) but not sl_store_config_rv, so the
 * compiler, which reads no status, does not run again for it. */
void sl_store_write_status_only(sl_store *s);
/* The resourceVersion of the last committed write that changed anything but
 * status (at open: the current resourceVersion). */
int64_t sl_store_config_rv(sl_store *s);
/* True when every write committed after since that changed more than status
 * (since the store was opened) wrote objects of kind only: the compiler's
 * endpoint-only path. */
bool sl_store_changed_only(sl_store *s, int64_t since, const char *kind);
/* Rolls back and releases the lock. */
void sl_store_write_rollback(sl_store *s);

/* Reads up to `max` events with resourceVersion > since, of `kind` (and namespace
 * `ns` when not NULL/""). *events gets a new array of {"type","object"} and *last
 * the resourceVersion up to which the log was read (>= since). Returns SL_GONE when
 * events after `since` were already trimmed (the watch must re-list). */
int sl_store_events_since(sl_store *s, int64_t since, const char *kind, const char *ns, size_t max,
                          json_t **events, int64_t *last);

/* Blocks until the store's resourceVersion exceeds `rv`, the timeout passes, or
 * sl_store_wake_all is called. Returns the current resourceVersion. */
int64_t sl_store_wait(sl_store *s, int64_t rv, int timeout_ms);
/* Wakes every waiter (used at shutdown). */
void sl_store_wake_all(sl_store *s);

/* Token table access, for daemon/tokens.c. */
/* read_only: the token may only read (GET: get, list, watch, metrics, debug). */
int sl_store_token_insert(sl_store *s, const char *id, const char *name, const char *sha256_hex, bool read_only);
int sl_store_token_delete(sl_store *s, const char *id_or_name);
/* Returns a new array of {"id","name","created_at"}. */
json_t *sl_store_token_list(sl_store *s);
/* SL_OK when a token with that hash exists (*read_only, if given, set from its
 * scope), SL_NOTFOUND otherwise. */
int sl_store_token_check(sl_store *s, const char *sha256_hex, bool *read_only);
/* Number of tokens (0 when the table is empty). */
int sl_store_token_count(sl_store *s);

#endif

/* A fixture for tests that compile stored objects: a store in a temporary dir,
 * objects written as the admin API would write them, and the compiled,
 * verified snapshot with the status the compiler computed. */
#ifndef SL_TEST_COMPILE_FIXTURE_H
#define SL_TEST_COMPILE_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>

#include "common/snapshot.h"
#include "daemon/store.h"

typedef struct sl_cfix {
    char *dir;
    sl_store *store;
    void *blob;
    size_t size;
    sl_snapshot snap;
    json_t *status; /* sl_compile's route_status of the last compile */
} sl_cfix;

/* Opens a store in a new temporary dir; false (and a failure counted) if it cannot. */
bool sl_cfix_open(sl_cfix *f);
/* Frees the snapshot, closes the store, removes the dir. */
void sl_cfix_close(sl_cfix *f);
/* Stores an object (steals it), replacing one of the same kind, namespace and
 * name. Without metadata.creationTimestamp it gets
 * 2024-01-01T00:00:00Z, so that ages only differ where a test says so. */
void sl_cfix_put_json(sl_cfix *f, json_t *obj);
/* Stores an object written as printf-style JSON with single quotes for double quotes. */
void sl_cfix_put(sl_cfix *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Compiles and verifies the snapshot (kept until the next compile); false on failure. */
bool sl_cfix_compile(sl_cfix *f);

#endif

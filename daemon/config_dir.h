/* --config-dir DIR: the manifests of a directory are the truth for the objects
 * they define (GitOps, Kong's DB-less mode, agentgateway's file config).
 *
 * Every *.yaml, *.yml and *.json file at the top of DIR (not hidden ones, so a
 * Kubernetes ConfigMap volume's ..data works) is read: multi-document YAML as
 * kubectl takes it, a JSON object or a `kind: List`. The whole set is checked
 * first (kind and apiVersion known, each object valid as the admin API would
 * have it, no object twice, namespaces that exist); any problem is logged with
 * the file, the document's index and the field, and nothing changes: the last
 * good set keeps running. A good set is written in one store transaction:
 * objects created or replaced (marked with SL_CONFIG_FILE_ANNOTATION), and the
 * marked objects no longer in any file deleted. Objects written through the
 * admin API without the mark are left alone.
 *
 * The directory is read at start (before the first compile) and again when it
 * changes (inotify, after 200 ms without further change). */
#ifndef SL_CONFIG_DIR_H
#define SL_CONFIG_DIR_H

#include <stdbool.h>

#include "daemon/store.h"

typedef struct sl_config_dir sl_config_dir;

/* Applies DIR once, then watches it from a thread. NULL (with err) when DIR
 * cannot be read or watched; an invalid set is not an error here (logged). */
sl_config_dir *sl_config_dir_start(sl_store *s, const char *dir, char *err, size_t errlen);
void sl_config_dir_stop(sl_config_dir *d);

/* One pass (what the watcher runs): true when the set was applied (or nothing
 * changed), false when it was refused (logged). */
bool sl_config_dir_apply(sl_store *s, const char *dir);

#endif

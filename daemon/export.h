/* `sluiced export`: the store as manifests (see export.c). */
#ifndef SL_EXPORT_H
#define SL_EXPORT_H

#include <jansson.h>

#include "daemon/store.h"

/* Every stored object in its user form, Namespaces first (sl_kinds order).
 * NULL when the store cannot be read. */
json_t *sl_export_objects(sl_store *s);

/* The subcommand: argv after "export". Returns the exit code. */
int sl_export_main(int argc, char **argv);

#endif

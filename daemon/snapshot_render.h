/* Renders a snapshot as JSON for /debug/snapshot: what the workers actually run. */
#ifndef SL_SNAPSHOT_RENDER_H
#define SL_SNAPSHOT_RENDER_H

#include <jansson.h>

#include "common/control.h"
#include "common/snapshot.h"

/* Returns a new JSON object describing the snapshot. */
json_t *sl_snapshot_render(const sl_snapshot *s);

/* Maps the control block's current generation by name, verifies and renders it.
 * Returns NULL (and a message in why) when there is none or it cannot be read. */
json_t *sl_snapshot_render_current(const sl_control *c, char *why, size_t whylen);

#endif

/* Renders a snapshot as JSON for /debug/snapshot: what the workers actually run. */
#ifndef SL_SNAPSHOT_RENDER_H
#define SL_SNAPSHOT_RENDER_H

#include <jansson.h>
#include <stdbool.h>

#include "common/control.h"
#include "common/snapshot.h"

/* Returns a new JSON object describing the snapshot. */
json_t *sl_snapshot_render(const sl_snapshot *s);

/* Every record of every section, field by field as the sections' descriptors
 * say (snapshot_raw.c): the blob's exact contents. s must have been verified. */
json_t *sl_snapshot_render_raw(const sl_snapshot *s);

/* Maps the control block's current generation by name, verifies and renders it
 * (raw: with sl_snapshot_render_raw). Returns NULL (and a message in why) when
 * there is none or it cannot be read. */
json_t *sl_snapshot_render_current(const sl_control *c, bool raw, char *why, size_t whylen);

#endif

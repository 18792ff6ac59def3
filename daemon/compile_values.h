/* Values that routes and policies spell the same way, parsed once for both
 * (the HTTPRoute compiler and the policy kinds' compile steps). */
#ifndef SL_COMPILE_VALUES_H
#define SL_COMPILE_VALUES_H

#include <jansson.h>
#include <stdint.h>

#include "daemon/snapshot_builder.h"

/* A Gateway API Duration ("1h30m", "500ms") in milliseconds; 0 when absent or
 * not a Duration (validation refuses those before they are stored). */
uint32_t sl_duration_ms(const char *s);

/* Status codes 400..655 of a JSON list as a bit set: bit (code - 400). */
void sl_status_code_bits(const json_t *codes, uint64_t bits[4]);

/* A JSON list of strings as one snapshot string, one item per line. */
sl_snap_str sl_compile_join_lines(sl_snap_builder *b, const json_t *list);

/* The CORS filter record of an HTTPRoute CORS filter's (or a TrafficPolicy cors
 * section's) settings. */
sl_snap_filter sl_compile_cors(sl_snap_builder *b, const json_t *cfg);

/* The records of a RequestHeaderModifier or ResponseHeaderModifier (one per
 * set, add or remove operation, of filter type `type`), each given to emit. */
void sl_compile_header_ops(sl_snap_builder *b, const json_t *mod, uint8_t type,
                           void (*emit)(const sl_snap_filter *f, void *arg), void *arg);

#endif

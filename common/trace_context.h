/* W3C Trace Context (https://www.w3.org/TR/trace-context/): the traceparent
 * header's value, parsed and written. Network input: fuzzed by
 * tests/fuzz/fuzz_traceparent.c. */
#ifndef SL_TRACE_CONTEXT_H
#define SL_TRACE_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_TRACEPARENT_LEN 55 /* "00-" 32 hex "-" 16 hex "-" 2 hex */

typedef struct sl_trace_parent {
    uint8_t trace_id[16];
    uint8_t parent_id[8];
    uint8_t flags; /* bit 0: sampled */
} sl_trace_parent;

/* Parses a traceparent value as the specification's section 3.2 says: version
 * 00 exactly 55 characters; a later version (not ff) at least 55, its first four
 * fields read as version 00's and anything after them starting with '-'; lowercase
 * hex only; trace-id and parent-id not all zeros. False: the header is to be
 * ignored (a new trace starts). */
bool sl_traceparent_parse(const char *value, size_t len, sl_trace_parent *out);

/* Writes "00-<trace_id>-<span_id>-<flags>" and a NUL into out (56 bytes). */
void sl_traceparent_write(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags, char *out);

/* Lowercase hex of n bytes into out (2n characters and a NUL). */
void sl_hex_lower(const uint8_t *bytes, size_t n, char *out);

#endif

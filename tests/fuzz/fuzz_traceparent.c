/* libFuzzer target: the W3C traceparent parser (common/trace_context.c), which
 * reads a header of every request when tracing is on. Each input is parsed from
 * an exact-size heap copy (ASan catches a read past the end). Invariants: what
 * parses has ids that are not all zeros, and writing it back as version 00 and
 * parsing that gives the same ids and flags. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/trace_context.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    sl_trace_parent p;
    bool ok = sl_traceparent_parse(copy, size, &p);
    free(copy);
    if (!ok)
        return 0;
    static const uint8_t zeros[16];
    if (memcmp(p.trace_id, zeros, 16) == 0 || memcmp(p.parent_id, zeros, 8) == 0)
        abort();
    char text[SL_TRACEPARENT_LEN + 1];
    sl_traceparent_write(p.trace_id, p.parent_id, p.flags, text);
    sl_trace_parent again;
    if (!sl_traceparent_parse(text, SL_TRACEPARENT_LEN, &again) || memcmp(&again, &p, sizeof(p)) != 0)
        abort();
    return 0;
}

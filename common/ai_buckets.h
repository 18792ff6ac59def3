/* The histogram buckets of the gen_ai metrics, as OpenTelemetry's semantic
 * conventions advise them (gen_ai.client.token.usage: powers of 4 from 1 to
 * 4^13 tokens; durations: 0.01 s doubling to 81.92 s). Shared by the workers
 * that count and the master that renders. */
#ifndef SL_AI_BUCKETS_H
#define SL_AI_BUCKETS_H

#include <stdint.h>

#include "common/control.h"

/* Upper bounds (inclusive): tokens, and milliseconds. */
static const uint64_t sl_ai_token_bounds[SL_AI_BUCKETS] = {1,     4,      16,      64,      256,      1024,     4096,
                                                            16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};
static const uint64_t sl_ai_ms_bounds[SL_AI_BUCKETS] = {10,  20,   40,   80,   160,   320,   640,
                                                        1280, 2560, 5120, 10240, 20480, 40960, 81920};

/* Microseconds, for the time per output token (OpenTelemetry's advice, 10 ms .. 2.5 s, and finer below). */
static const uint64_t sl_ai_us_bounds[SL_AI_BUCKETS] = {1000,   2500,   5000,   10000,  25000,  50000,  75000,
                                                        100000, 150000, 200000, 300000, 500000, 1000000, 2500000};

/* The bucket of v (SL_AI_BUCKETS: above the last bound, +Inf only). */
static inline unsigned sl_ai_bucket(const uint64_t *bounds, uint64_t v)
{
    unsigned i = 0;
    while (i < SL_AI_BUCKETS && v > bounds[i])
        i++;
    return i;
}

#endif

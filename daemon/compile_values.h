/* Values that routes and policies spell the same way, parsed once for both
 * (the HTTPRoute compiler and the policy kinds' compile steps). */
#ifndef SL_COMPILE_VALUES_H
#define SL_COMPILE_VALUES_H

#include <jansson.h>
#include <stdint.h>

/* A Gateway API Duration ("1h30m", "500ms") in milliseconds; 0 when absent or
 * not a Duration (validation refuses those before they are stored). */
uint32_t sl_duration_ms(const char *s);

/* Status codes 400..655 of a JSON list as a bit set: bit (code - 400). */
void sl_status_code_bits(const json_t *codes, uint64_t bits[4]);

#endif

#include "daemon/compile_values.h"

#include <stdlib.h>
#include <string.h>

uint32_t sl_duration_ms(const char *s)
{
    uint64_t total = 0;
    if (!s)
        return 0;
    while (*s) {
        char *end;
        unsigned long long n = strtoull(s, &end, 10);
        if (end == s)
            return 0;
        if (strncmp(end, "ms", 2) == 0) {
            total += n;
            s = end + 2;
        } else if (*end == 's') {
            total += n * 1000;
            s = end + 1;
        } else if (*end == 'm') {
            total += n * 60000;
            s = end + 1;
        } else if (*end == 'h') {
            total += n * 3600000;
            s = end + 1;
        } else {
            return 0;
        }
    }
    return total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
}

void sl_status_code_bits(const json_t *codes, uint64_t bits[4])
{
    size_t i;
    json_t *code;
    json_array_foreach(codes, i, code)
    {
        json_int_t v = json_integer_value(code);
        if (v >= 400 && v < 656)
            bits[(v - 400) / 64] |= 1ull << ((v - 400) % 64);
    }
}

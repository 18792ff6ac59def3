/* The traceparent header; see trace_context.h. */
#include "common/trace_context.h"

#include <string.h>

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1; /* uppercase is not allowed: "lowercase hex" */
}

/* n bytes from 2n hex characters; false on a character that is not lowercase hex. */
static bool unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

bool sl_traceparent_parse(const char *v, size_t len, sl_trace_parent *out)
{
    /* Surrounding spaces and tabs are not part of a header's value (RFC 9110 5.5). */
    while (len && (v[0] == ' ' || v[0] == '\t'))
        v++, len--;
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len < SL_TRACEPARENT_LEN || v[2] != '-' || v[35] != '-' || v[52] != '-')
        return false;
    uint8_t version;
    if (!unhex(v, &version, 1) || version == 0xff)
        return false;
    if (version == 0 ? len != SL_TRACEPARENT_LEN : (len > SL_TRACEPARENT_LEN && v[SL_TRACEPARENT_LEN] != '-'))
        return false;
    sl_trace_parent p;
    if (!unhex(v + 3, p.trace_id, 16) || !unhex(v + 36, p.parent_id, 8) || !unhex(v + 53, &p.flags, 1))
        return false;
    if (all_zero(p.trace_id, 16) || all_zero(p.parent_id, 8))
        return false;
    *out = p;
    return true;
}

void sl_hex_lower(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void sl_traceparent_write(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags, char *out)
{
    memcpy(out, "00-", 3);
    sl_hex_lower(trace_id, 16, out + 3);
    out[35] = '-';
    sl_hex_lower(span_id, 8, out + 36);
    out[52] = '-';
    sl_hex_lower(&flags, 1, out + 53);
}

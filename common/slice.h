/* Slices: a pointer and a length into memory someone else owns (HAProxy's
 * `struct ist`). The hot path passes slices instead of copying strings; a slice
 * is valid only as long as the buffer it points into. Slices are not
 * NUL-terminated. */
#ifndef SL_SLICE_H
#define SL_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct sl_slice {
    const char *ptr;
    size_t len;
} sl_slice;

/* A slice over a NUL-terminated string (without the NUL). */
static inline sl_slice sl_slice_from_cstr(const char *s)
{
    sl_slice r = {s, strlen(s)};
    return r;
}

static inline sl_slice sl_slice_make(const char *ptr, size_t len)
{
    sl_slice r = {ptr, len};
    return r;
}

/* ASCII lower-casing; every other byte is returned unchanged. */
static inline unsigned char sl_ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Byte-wise equality. */
static inline bool sl_slice_eq(sl_slice a, sl_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Byte-wise equality with a C string. */
static inline bool sl_slice_eq_cstr(sl_slice a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && (n == 0 || memcmp(a.ptr, s, n) == 0);
}

/* ASCII case-insensitive equality of two slices (header names, tokens). */
static inline bool sl_slice_ieq(sl_slice a, sl_slice b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (sl_ascii_lower((unsigned char)a.ptr[i]) != sl_ascii_lower((unsigned char)b.ptr[i]))
            return false;
    return true;
}

/* ASCII case-insensitive equality with a C string. */
static inline bool sl_slice_ieq_cstr(sl_slice a, const char *s)
{
    if (strlen(s) != a.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (sl_ascii_lower((unsigned char)a.ptr[i]) != sl_ascii_lower((unsigned char)s[i]))
            return false;
    return true;
}

/* True when `a` starts with the C string `prefix` (byte-wise). */
/* Whether a Content-Type value names media type `type` (any case; parameters
 * after ';' allowed). */
static inline bool sl_media_type_is(sl_slice v, const char *type)
{
    size_t n = strlen(type);
    return v.len >= n && sl_slice_ieq(sl_slice_make(v.ptr, n), sl_slice_make(type, n)) &&
           (v.len == n || v.ptr[n] == ';' || v.ptr[n] == ' ');
}

static inline bool sl_slice_starts_with(sl_slice a, const char *prefix)
{
    size_t n = strlen(prefix);
    return a.len >= n && memcmp(a.ptr, prefix, n) == 0;
}

/* True when the slice lies entirely inside buf[0..len) (used by assertions and
 * fuzz targets). An empty slice with a NULL pointer counts as inside. */
static inline bool sl_slice_within(sl_slice a, const char *buf, size_t len)
{
    if (a.ptr == NULL)
        return a.len == 0;
    return a.ptr >= buf && a.ptr <= buf + len && a.len <= (size_t)(buf + len - a.ptr);
}

/* Whether item is one of the lines of `lines` (a NUL-terminated list, one
 * entry per '\n'-separated line, as the compiler joins lists); ignore_case for
 * header names. */
static inline bool sl_line_listed(const char *lines, sl_slice item, bool ignore_case)
{
    while (lines && *lines) {
        const char *nl = strchr(lines, '\n');
        size_t n = nl ? (size_t)(nl - lines) : strlen(lines);
        sl_slice line = sl_slice_make(lines, n);
        if (ignore_case ? sl_slice_ieq(line, item) : sl_slice_eq(line, item))
            return true;
        lines += n + (nl ? 1 : 0);
    }
    return false;
}

#endif

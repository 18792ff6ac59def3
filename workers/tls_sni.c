/* Reads the server name from a TLS ClientHello in place: a cursor walks the
 * handshake bytes across the records that carry them, so nothing is copied but
 * the host name. Formats: RFC 8446 5.1 (records) and 4.1.2 (ClientHello),
 * RFC 6066 3 (server_name). */
#include "workers/tls_sni.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum {
    REC_HEADER = 5,       /* content type, version (2), length (2) */
    REC_MAX = 16384,      /* TLSPlaintext.length <= 2^14 */
    CT_HANDSHAKE = 22,
    HS_CLIENT_HELLO = 1,
    EXT_SERVER_NAME = 0,
    NAME_TYPE_HOST = 0,
    LABEL_MAX = 63,
};

typedef enum { STEP_OK, STEP_AGAIN, STEP_INVALID } step;

/* The handshake bytes, as they sit in pieces in consecutive records of buf.
 * Positions (pos) count bytes of buf; offsets (off, end) count handshake bytes. */
typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;      /* next unread byte of buf */
    size_t rec_left; /* bytes of the current record not read yet */
    size_t off;      /* handshake bytes read so far */
    size_t end;      /* the offset where the ClientHello ends; SIZE_MAX until its header is read */
} reader;

typedef struct {
    char name[SL_SNI_MAX_NAME + 1];
    size_t len;
    bool found;    /* a host_name was read into name */
    bool seen_ext; /* a server_name extension was seen (a second one is refused) */
} hello_sni;

/* Starts the record at r->pos. Each header byte is checked as soon as it has
 * arrived, so a stream that is not TLS (an HTTP request) is refused at its
 * first byte, and a length that cannot fit is refused before its bytes come. */
static step next_record(reader *r)
{
    size_t avail = r->len - r->pos;
    if (avail >= 1 && r->buf[r->pos] != CT_HANDSHAKE)
        return STEP_INVALID; /* also any other record type before the hello is whole */
    /* Version 3.0 to 3.4: real clients write 0x0301 here, older ones 0x0300. */
    if (avail >= 2 && r->buf[r->pos + 1] != 3)
        return STEP_INVALID;
    if (avail >= 3 && r->buf[r->pos + 2] > 4)
        return STEP_INVALID;
    /* The shortest length the header can still state: zero-length handshake
     * fragments are forbidden, so at least 1. */
    size_t min_len = 1;
    if (avail >= 4)
        min_len = (size_t)r->buf[r->pos + 3] << 8;
    if (avail >= 5) {
        min_len |= r->buf[r->pos + 4];
        if (min_len == 0)
            return STEP_INVALID;
    } else if (min_len == 0) {
        min_len = 1;
    }
    if (min_len > REC_MAX || r->pos + REC_HEADER + min_len > SL_SNI_MAX_HELLO)
        return STEP_INVALID;
    if (r->off + min_len > r->end)
        return STEP_INVALID; /* the hello must end with a record: nothing may follow it in one */
    if (avail < REC_HEADER)
        return STEP_AGAIN;
    r->pos += REC_HEADER;
    r->rec_left = min_len;
    return STEP_OK;
}

/* Reads the next n handshake bytes into out, or skips them when out is NULL.
 * Callers have checked that n fits in the field's container. */
static step take(reader *r, uint8_t *out, size_t n)
{
    while (n > 0) {
        if (r->rec_left == 0) {
            step s = next_record(r);
            if (s != STEP_OK)
                return s;
        }
        size_t chunk = n < r->rec_left ? n : r->rec_left;
        if (chunk > r->len - r->pos)
            chunk = r->len - r->pos;
        if (chunk == 0)
            return STEP_AGAIN;
        if (out) {
            memcpy(out, r->buf + r->pos, chunk);
            out += chunk;
        }
        r->pos += chunk;
        r->rec_left -= chunk;
        r->off += chunk;
        n -= chunk;
    }
    return STEP_OK;
}

/* Reads a big-endian number of nbytes (1 to 3) bytes. */
static step take_uint(reader *r, size_t nbytes, size_t *v)
{
    uint8_t b[3];
    step s = take(r, b, nbytes);
    if (s != STEP_OK)
        return s;
    *v = 0;
    for (size_t i = 0; i < nbytes; i++)
        *v = *v << 8 | b[i];
    return STEP_OK;
}

/* Whether n more bytes fit in a container that ends at offset lim. */
static bool fits(const reader *r, size_t lim, size_t n)
{
    return n <= lim - r->off;
}

/* Reads the length prefix (lenbytes long) of a vector inside a container that
 * ends at lim, and checks min <= *len <= max and that the vector fits. */
static step take_vector(reader *r, size_t lim, size_t lenbytes, size_t min, size_t max, size_t *len)
{
    if (!fits(r, lim, lenbytes))
        return STEP_INVALID;
    step s = take_uint(r, lenbytes, len);
    if (s != STEP_OK)
        return s;
    return *len >= min && *len <= max && fits(r, lim, *len) ? STEP_OK : STEP_INVALID;
}

/* The ClientHello's length is known: the record being read must end within
 * it, and the rest of it (with at least one more record header when it goes
 * on past this record) must fit in SL_SNI_MAX_HELLO. */
static step set_end(reader *r, size_t body_len)
{
    if (r->rec_left > body_len)
        return STEP_INVALID;
    size_t beyond = body_len - r->rec_left;
    if (r->pos + r->rec_left + (beyond ? REC_HEADER + beyond : 0) > SL_SNI_MAX_HELLO)
        return STEP_INVALID;
    r->end = r->off + body_len;
    return STEP_OK;
}

static bool host_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Checks a host name (see tls_sni.h for what is allowed) and keeps it,
 * lowercased and without its trailing dot, which names the same host. */
static step keep_host_name(const uint8_t *raw, size_t n, hello_sni *sni, size_t namecap)
{
    if (n > 0 && raw[n - 1] == '.')
        n--;
    if (n == 0 || n > SL_SNI_MAX_NAME || n + 1 > namecap)
        return STEP_INVALID;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = raw[i];
        if (c == '.') {
            if (label == 0)
                return STEP_INVALID; /* a leading dot or "..": an empty label */
            label = 0;
        } else if (!host_char(c) || ++label > LABEL_MAX) {
            return STEP_INVALID;
        }
        sni->name[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    if (label == 0)
        return STEP_INVALID; /* it ended in ".." */
    sni->name[n] = '\0';
    sni->len = n;
    sni->found = true;
    return STEP_OK;
}

/* The server_name extension's data, ending at lim: a ServerNameList of one or
 * more entries, each a name type and (RFC 6066 keeps this for every type) a
 * 2-byte length. Other name types are skipped; at most one host_name. */
static step server_name(reader *r, size_t lim, hello_sni *sni, size_t namecap)
{
    size_t list_len;
    step s = take_vector(r, lim, 2, 1, 0xffff, &list_len);
    if (s != STEP_OK)
        return s;
    if (list_len != lim - r->off)
        return STEP_INVALID;
    while (r->off < lim) {
        size_t type, n; /* the name type's byte fits: off < lim */
        if ((s = take_uint(r, 1, &type)) != STEP_OK || (s = take_vector(r, lim, 2, 0, 0xffff, &n)) != STEP_OK)
            return s;
        if (type != NAME_TYPE_HOST) {
            if ((s = take(r, NULL, n)) != STEP_OK)
                return s;
            continue;
        }
        /* One byte more than the longest name, for its trailing dot. */
        uint8_t raw[SL_SNI_MAX_NAME + 1];
        if (sni->found || n == 0 || n > sizeof(raw))
            return STEP_INVALID;
        if ((s = take(r, raw, n)) != STEP_OK || (s = keep_host_name(raw, n, sni, namecap)) != STEP_OK)
            return s;
    }
    return STEP_OK;
}

/* The extensions block, from its length to the end of the hello. */
static step extensions(reader *r, hello_sni *sni, size_t namecap)
{
    size_t total;
    step s = take_vector(r, r->end, 2, 0, 0xffff, &total);
    if (s != STEP_OK)
        return s;
    if (total != r->end - r->off)
        return STEP_INVALID;
    while (r->off < r->end) {
        size_t type, n;
        if (!fits(r, r->end, 2))
            return STEP_INVALID;
        if ((s = take_uint(r, 2, &type)) != STEP_OK || (s = take_vector(r, r->end, 2, 0, 0xffff, &n)) != STEP_OK)
            return s;
        if (type != EXT_SERVER_NAME) {
            s = take(r, NULL, n);
        } else if (sni->seen_ext) {
            return STEP_INVALID; /* RFC 8446 4.2: no extension type twice */
        } else {
            sni->seen_ext = true;
            s = server_name(r, r->off + n, sni, namecap);
        }
        if (s != STEP_OK)
            return s;
    }
    return STEP_OK;
}

/* The ClientHello, from its handshake header to its last extension. */
static step client_hello(reader *r, hello_sni *sni, size_t namecap)
{
    size_t v, n;
    step s;
    if ((s = take_uint(r, 1, &v)) != STEP_OK)
        return s;
    if (v != HS_CLIENT_HELLO)
        return STEP_INVALID;
    if ((s = take_uint(r, 3, &v)) != STEP_OK || (s = set_end(r, v)) != STEP_OK)
        return s;
    /* legacy_version: 3.0 to 3.4, as in the record header. */
    if (!fits(r, r->end, 2 + 32))
        return STEP_INVALID;
    if ((s = take_uint(r, 2, &v)) != STEP_OK)
        return s;
    if (v < 0x0300 || v > 0x0304)
        return STEP_INVALID;
    if ((s = take(r, NULL, 32)) != STEP_OK) /* random */
        return s;
    if ((s = take_vector(r, r->end, 1, 0, 32, &n)) != STEP_OK || (s = take(r, NULL, n)) != STEP_OK)
        return s; /* legacy_session_id */
    if ((s = take_vector(r, r->end, 2, 2, 0xfffe, &n)) != STEP_OK)
        return s;
    if (n % 2 != 0)
        return STEP_INVALID; /* cipher suites are 2 bytes each */
    if ((s = take(r, NULL, n)) != STEP_OK)
        return s;
    if ((s = take_vector(r, r->end, 1, 1, 0xff, &n)) != STEP_OK || (s = take(r, NULL, n)) != STEP_OK)
        return s; /* legacy_compression_methods */
    if (r->off == r->end)
        return STEP_OK; /* no extensions: a client older than TLS 1.2 */
    return extensions(r, sni, namecap);
}

sl_sni_result sl_tls_sni(const uint8_t *buf, size_t len, char *name, size_t namecap, size_t *namelen)
{
    reader r = {.buf = buf, .len = len, .pos = 0, .rec_left = 0, .off = 0, .end = SIZE_MAX};
    hello_sni sni;
    sni.found = false;
    sni.seen_ext = false;
    switch (client_hello(&r, &sni, namecap)) {
    case STEP_AGAIN:
        return SL_SNI_AGAIN;
    case STEP_INVALID:
        return SL_SNI_INVALID;
    case STEP_OK:
        break;
    }
    if (!sni.found)
        return SL_SNI_NONE;
    memcpy(name, sni.name, sni.len + 1);
    *namelen = sni.len;
    return SL_SNI_FOUND;
}

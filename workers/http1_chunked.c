/* Chunked transfer coding (RFC 9112 7.1): a byte-exact state machine, so input
 * may be split anywhere. Data runs are reported as slices of the input.
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
 */
#include "workers/http1_internal.h"

enum {
    ST_SIZE0,     /* first hex digit of a chunk-size */
    ST_SIZE,      /* more hex digits, ';', BWS or CR */
    ST_BWS,       /* whitespace after the size: only ';' or more whitespace */
    ST_EXT,       /* inside chunk extensions */
    ST_EXT_Q,     /* inside a quoted-string extension value */
    ST_EXT_QESC,  /* after a backslash in a quoted string */
    ST_SIZE_LF,   /* CR seen at the end of the size line */
    ST_DATA,      /* chunk data */
    ST_DATA_CR,   /* CRLF after the data */
    ST_DATA_LF,
    ST_TR_START,  /* start of a trailer line or the final CRLF */
    ST_TR_NAME,
    ST_TR_VALUE,
    ST_TR_LF,
    ST_END_LF,    /* final LF */
    ST_DONE,
    ST_ERROR,
};

#define MAX_SIZE_DIGITS 32 /* counting leading zeros */

void sl_http1_chunked_init(sl_http1_chunked *st, const sl_http1_limits *lim)
{
    lim = sl_h1_limits(lim);
    memset(st, 0, sizeof *st);
    st->state = ST_SIZE0;
    st->max_trailer = lim->max_trailer;
    st->max_trailers = lim->max_trailers;
    st->max_chunk_ext = lim->max_chunk_ext;
}

bool sl_http1_chunked_done(const sl_http1_chunked *st) { return st->state == ST_DONE; }

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int sl_http1_chunked_parse(sl_http1_chunked *st, const char *buf, size_t len,
                           size_t *consumed, sl_slice *data)
{
    size_t i = 0;
    data->ptr = buf;
    data->len = 0;
    *consumed = 0;
    if (st->state == ST_ERROR)
        return SL_ERR;
    if (st->state == ST_DONE)
        return SL_OK;
#define ERR(msg)                 \
    do {                         \
        st->state = ST_ERROR;    \
        st->error = (msg);       \
        *consumed = i;           \
        return SL_ERR;           \
    } while (0)

    while (i < len) {
        unsigned char c = (unsigned char)buf[i];
        switch (st->state) {
        case ST_SIZE0:
        case ST_SIZE: {
            int h = hexval(c);
            if (h >= 0) {
                if (st->remaining >> 56)
                    ERR("chunk size too large");
                if (++st->ndigits > MAX_SIZE_DIGITS)
                    ERR("chunk size too long");
                st->remaining = (st->remaining << 4) | (uint64_t)h;
                st->state = ST_SIZE;
                i++;
                continue;
            }
            if (st->state == ST_SIZE0)
                ERR("invalid chunk size");
            if (c == '\r')
                st->state = ST_SIZE_LF;
            else if (c == ';')
                st->state = ST_EXT;
            else if (c == ' ' || c == '\t')
                st->state = ST_BWS;
            else
                ERR("invalid chunk size");
            i++;
            continue;
        }
        case ST_BWS:
            if (c == ';')
                st->state = ST_EXT;
            else if (c != ' ' && c != '\t')
                ERR("invalid chunk size line");
            break;
        case ST_EXT:
            if (c == '\r')
                st->state = ST_SIZE_LF;
            else if (c == '"')
                st->state = ST_EXT_Q;
            else if (!sl_h1_is(c, SL_H1_TOKEN) && c != '=' && c != ';' && c != ' ' && c != '\t')
                ERR("invalid chunk extension");
            break;
        case ST_EXT_Q:
            if (c == '"')
                st->state = ST_EXT;
            else if (c == '\\')
                st->state = ST_EXT_QESC;
            else if (!sl_h1_is(c, SL_H1_QDTEXT))
                ERR("invalid chunk extension");
            break;
        case ST_EXT_QESC:
            if (!sl_h1_is(c, SL_H1_FVAL))
                ERR("invalid chunk extension");
            st->state = ST_EXT_Q;
            break;
        case ST_SIZE_LF:
            if (c != '\n')
                ERR("bare CR in chunk size line");
            st->ndigits = 0;
            st->ext_len = 0;
            st->state = st->remaining ? ST_DATA : ST_TR_START;
            i++;
            continue;
        case ST_DATA: {
            size_t avail = len - i;
            size_t n = st->remaining < avail ? (size_t)st->remaining : avail;
            data->ptr = buf + i;
            data->len = n;
            i += n;
            st->remaining -= n;
            st->total += n;
            if (st->remaining == 0)
                st->state = ST_DATA_CR;
            *consumed = i;
            return SL_AGAIN;
        }
        case ST_DATA_CR:
            if (c != '\r')
                ERR("missing CRLF after chunk data");
            st->state = ST_DATA_LF;
            i++;
            continue;
        case ST_DATA_LF:
            if (c != '\n')
                ERR("missing CRLF after chunk data");
            st->state = ST_SIZE0;
            i++;
            continue;
        case ST_TR_START:
            if (c == '\r')
                st->state = ST_END_LF;
            else if (c == ' ' || c == '\t')
                ERR("obsolete line folding in trailer");
            else if (sl_h1_is(c, SL_H1_TOKEN)) {
                if (st->ntrailers == st->max_trailers)
                    ERR("too many trailer fields");
                st->state = ST_TR_NAME;
            } else
                ERR("invalid trailer field");
            st->trailer_len++;
            break;
        case ST_TR_NAME:
            if (c == ':')
                st->state = ST_TR_VALUE;
            else if (!sl_h1_is(c, SL_H1_TOKEN))
                ERR("invalid trailer field name");
            st->trailer_len++;
            break;
        case ST_TR_VALUE:
            if (c == '\r')
                st->state = ST_TR_LF;
            else if (!sl_h1_is(c, SL_H1_FVAL))
                ERR("invalid character in trailer field value");
            st->trailer_len++;
            break;
        case ST_TR_LF:
            if (c != '\n')
                ERR("bare CR in trailer section");
            st->ntrailers++;
            st->state = ST_TR_START;
            st->trailer_len++;
            break;
        case ST_END_LF:
            if (c != '\n')
                ERR("bare CR in trailer section");
            st->state = ST_DONE;
            *consumed = i + 1;
            return SL_OK;
        default:
            ERR("chunked decoder misuse");
        }
        /* Shared accounting for the extension and trailer states. */
        if (st->state >= ST_BWS && st->state <= ST_EXT_QESC && ++st->ext_len > st->max_chunk_ext)
            ERR("chunk extensions too long");
        if (st->trailer_len > st->max_trailer)
            ERR("trailer section too large");
        i++;
    }
    *consumed = i;
    return SL_AGAIN;
#undef ERR
}

int sl_http1_chunked_decode(sl_http1_chunked *st, char *buf, size_t len,
                            size_t *consumed, size_t *out_len)
{
    size_t off = 0, out = 0;
    int rc;
    for (;;) {
        size_t n;
        sl_slice d;
        rc = sl_http1_chunked_parse(st, buf + off, len - off, &n, &d);
        if (d.len) {
            memmove(buf + out, d.ptr, d.len);
            out += d.len;
        }
        off += n;
        if (rc != SL_AGAIN || off == len)
            break;
    }
    *consumed = off;
    *out_len = out;
    return rc;
}

/* Internals shared by the HTTP/1 parser files (http1_parser.c: tables, the
 * end-of-head scan, field lines and host syntax; http1_request.c,
 * http1_response.c, http1_chunked.c). Not for use outside workers/http1_*. */
#ifndef SL_HTTP1_INTERNAL_H
#define SL_HTTP1_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "workers/http1_parser.h"

/* Character classes (RFC 9110 5.6.2 tchar, 5.5 field-vchar, ...). */
enum {
    SL_H1_TOKEN = 0x01,  /* tchar */
    SL_H1_FVAL = 0x02,   /* inside a field value: HTAB, SP, VCHAR, obs-text */
    SL_H1_TARGET = 0x04, /* request-target: VCHAR except '#' */
    SL_H1_REG = 0x08,    /* reg-name: unreserved, pct '%', sub-delims except ',' */
    SL_H1_HEX = 0x10,
    SL_H1_DIGIT = 0x20,
    SL_H1_QDTEXT = 0x40, /* quoted-string text: qdtext */
};

extern const uint8_t sl_h1_class[256];

static inline bool sl_h1_is(unsigned char c, unsigned cls) { return (sl_h1_class[c] & cls) != 0; }

/* What the field lines said about the headers the parser interprets. */
typedef struct sl_h1_fields {
    bool has_cl;
    uint64_t cl;
    bool has_te;
    bool te_chunked_last; /* the last coding seen is chunked */
    bool te_other;        /* some coding other than chunked */
    unsigned nhost;
    sl_slice host;        /* first Host value */
    bool conn_close, conn_keep_alive, conn_upgrade;
    size_t conn_other;    /* Connection options naming other fields */
    bool has_upgrade;
    sl_slice upgrade;
    bool expect_continue;
    size_t nconn;
    sl_slice *conn;       /* caller's array of SL_HTTP1_CONN_TOKENS_CAP */
} sl_h1_fields;

/* Error report shared by the head parsers. */
typedef struct sl_h1_err {
    const char *msg;
    int status;
} sl_h1_err;

/* Finds the end of a head in buf[0..len), resuming from sc (never NULL here).
 * skip_empty: skip up to 8 leading CRLFs (requests). On SL_OK *start is the
 * first byte of the start line and *head_len the head length; SL_AGAIN: wait
 * (*start valid when known); SL_ERR: e->msg / e->status (400 bare LF, 431 too
 * large). */
int sl_h1_scan(const char *buf, size_t len, sl_http1_scan *sc, size_t max_head,
               bool skip_empty, size_t *start, size_t *head_len, sl_h1_err *e);

/* Parses field lines from p up to and including the empty line ending at end
 * (which must be the end of the head found by sl_h1_scan). */
int sl_h1_parse_fields(const char *p, const char *end, sl_http1_header *hdrs, size_t *nheaders,
                       size_t max_headers, sl_h1_fields *f, sl_h1_err *e);

/* Marks headers named by Connection options as hop-by-hop. */
void sl_h1_mark_connection_listed(sl_http1_header *hdrs, size_t n, const sl_h1_fields *f);

/* Validates uri-host [ ":" port ]. need_port: the port must be present and
 * non-empty (CONNECT). allow_empty: an empty string is accepted. */
bool sl_h1_valid_authority(const char *p, size_t n, bool need_port, bool allow_empty);

/* Case-insensitive comparison of n bytes of token text with a lower-case
 * literal made of letters, digits and '-'. */
static inline bool sl_h1_token_ieq(const char *p, size_t n, const char *lit, size_t litlen)
{
    if (n != litlen)
        return false;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] | 0x20) != (unsigned char)lit[i])
            return false;
    return true;
}

#define SL_H1_IEQ(p, n, lit) sl_h1_token_ieq((p), (n), lit, sizeof(lit) - 1)

static inline const sl_http1_limits *sl_h1_limits(const sl_http1_limits *lim)
{
    return lim ? lim : &sl_http1_default_limits;
}

#endif

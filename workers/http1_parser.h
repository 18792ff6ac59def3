/* The HTTP/1.1 parser of the data plane (RFC 9112 message syntax, RFC 9110
 * field rules). Strict, zero-copy, allocation-free and incremental:
 *
 *   - sl_http1_parse_request() / sl_http1_parse_response() parse a message
 *     head; every slice they report points into the caller's buffer.
 *   - sl_http1_chunked_parse() is a byte-exact state machine for chunked
 *     bodies that reports data runs as slices (no copy) and works on input
 *     split at any point.
 *   - sl_http1_chunk_header() writes chunk framing for the proxy.
 *
 * Request-smuggling posture (each of these is a refusal, never a "repair"):
 *   - Lines end in CRLF only. A bare LF or a bare CR anywhere in a head is an
 *     error (RFC 9112 2.2 allows a lone LF; we do not).
 *   - obs-fold, whitespace before the colon, empty or non-token field names,
 *     control characters (except HTAB) and NUL in values are errors.
 *   - Content-Length together with Transfer-Encoding is an error (requests and
 *     responses). Content-Length must be 1*DIGIT without sign, at most 18
 *     digits; repeated Content-Length fields or comma lists are accepted only
 *     when every member is the same number (RFC 9110 8.6: "5, 5" is 5), and an
 *     empty member is an error.
 *   - Transfer-Encoding must end with exactly one "chunked" (case-insensitive);
 *     chunked not last, chunked twice, parameters, empty members -> 400; other
 *     codings before chunked ("gzip, chunked") -> 501, since we only decode
 *     chunked. Transfer-Encoding in an HTTP/1.0 message is an error.
 *   - HTTP/1.1 requests need exactly one Host field; its value must be a valid
 *     uri-host[:port] (commas and userinfo rejected). An absolute-form target's
 *     authority wins over Host (RFC 9112 3.2.2).
 *   - Only "HTTP/1.0" and "HTTP/1.1" are served: another well-formed version
 *     ("HTTP/2.0", "HTTP/1.2") is 505, a malformed one ("HTTP/1.10") 400.
 *   - Targets are visible ASCII only (no SP, CTL, DEL, '#', bytes >= 0x80).
 *
 * Leading empty lines (CRLF) before a request line are skipped (RFC 9112 2.2)
 * and counted in head_len. */
#ifndef SL_HTTP1_PARSER_H
#define SL_HTTP1_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sl.h"
#include "common/slice.h"

/* ---- Limits ---- */

#define SL_HTTP1_DEFAULT_MAX_HEAD 16384       /* bytes of a head incl. CRLFCRLF */
#define SL_HTTP1_DEFAULT_MAX_HEADERS 100      /* field lines per head */
#define SL_HTTP1_DEFAULT_MAX_TARGET 8192      /* request-target bytes */
#define SL_HTTP1_DEFAULT_MAX_TRAILER 4096     /* bytes of a chunked trailer section */
#define SL_HTTP1_DEFAULT_MAX_TRAILERS 32      /* trailer field lines */
#define SL_HTTP1_DEFAULT_MAX_CHUNK_EXT 1024   /* bytes of extensions on one chunk line */
#define SL_HTTP1_HEADERS_CAP 128              /* hard cap: size of the headers[] array */
#define SL_HTTP1_CONN_TOKENS_CAP 16           /* Connection options kept; more is 400 */
#define SL_HTTP1_METHOD_MAX 32                /* longer methods are refused (400) */

typedef struct sl_http1_limits {
    size_t max_head;     /* head bytes (request or status line, fields, final CRLF) */
    size_t max_headers;  /* clamped to SL_HTTP1_HEADERS_CAP */
    size_t max_target;   /* request-target bytes; longer is 414 */
    size_t max_trailer;  /* chunked trailer section bytes */
    size_t max_trailers; /* chunked trailer field lines */
    size_t max_chunk_ext;
} sl_http1_limits;

#define SL_HTTP1_LIMITS_DEFAULT                                                            \
    {                                                                                      \
        SL_HTTP1_DEFAULT_MAX_HEAD, SL_HTTP1_DEFAULT_MAX_HEADERS, SL_HTTP1_DEFAULT_MAX_TARGET, \
            SL_HTTP1_DEFAULT_MAX_TRAILER, SL_HTTP1_DEFAULT_MAX_TRAILERS,                   \
            SL_HTTP1_DEFAULT_MAX_CHUNK_EXT                                                 \
    }

/* The defaults above, for callers that pass NULL limits. */
extern const sl_http1_limits sl_http1_default_limits;

/* ---- Common types ---- */

typedef enum {
    SL_HTTP1_METHOD_OTHER = 0, /* an extension method: look at the slice */
    SL_HTTP1_METHOD_GET,
    SL_HTTP1_METHOD_HEAD,
    SL_HTTP1_METHOD_POST,
    SL_HTTP1_METHOD_PUT,
    SL_HTTP1_METHOD_DELETE,
    SL_HTTP1_METHOD_CONNECT,
    SL_HTTP1_METHOD_OPTIONS,
    SL_HTTP1_METHOD_TRACE,
    SL_HTTP1_METHOD_PATCH,
} sl_http1_method;

/* True for the methods RFC 9110 9.2.2 calls idempotent (GET, HEAD, PUT, DELETE,
 * OPTIONS, TRACE): a request that may be sent twice without harm. Extension
 * methods are taken as not idempotent. */
static inline bool sl_http1_method_idempotent(sl_http1_method m)
{
    return m == SL_HTTP1_METHOD_GET || m == SL_HTTP1_METHOD_HEAD || m == SL_HTTP1_METHOD_PUT ||
           m == SL_HTTP1_METHOD_DELETE || m == SL_HTTP1_METHOD_OPTIONS || m == SL_HTTP1_METHOD_TRACE;
}

typedef enum {
    SL_HTTP1_FORM_ORIGIN = 0, /* "/path?query" */
    SL_HTTP1_FORM_ABSOLUTE,   /* "http://authority/path?query" (http and https only) */
    SL_HTTP1_FORM_AUTHORITY,  /* "host:port", CONNECT only */
    SL_HTTP1_FORM_ASTERISK,   /* "*", OPTIONS only */
} sl_http1_target_form;

typedef enum {
    SL_HTTP1_BODY_NONE = 0, /* no body */
    SL_HTTP1_BODY_LENGTH,   /* content_length bytes (may be 0) */
    SL_HTTP1_BODY_CHUNKED,  /* chunked transfer coding: use sl_http1_chunked_parse */
    SL_HTTP1_BODY_CLOSE,    /* responses only: body runs until the connection closes */
} sl_http1_body;

/* Header fields the parser recognises (by case-insensitive name). */
typedef enum {
    SL_HTTP1_H_OTHER = 0,
    SL_HTTP1_H_HOST,
    SL_HTTP1_H_CONTENT_LENGTH,
    SL_HTTP1_H_TRANSFER_ENCODING,
    SL_HTTP1_H_CONNECTION,
    SL_HTTP1_H_UPGRADE,
    SL_HTTP1_H_EXPECT,
    SL_HTTP1_H_TE,
    SL_HTTP1_H_KEEP_ALIVE,
    SL_HTTP1_H_PROXY_CONNECTION,
    SL_HTTP1_H_TRAILER,
} sl_http1_header_id;

typedef struct sl_http1_header {
    sl_slice name;  /* as received (case preserved) */
    sl_slice value; /* leading and trailing SP/HTAB trimmed; may be empty */
    uint8_t id;     /* sl_http1_header_id */
    /* Hop-by-hop: Connection, Keep-Alive, Proxy-Connection, TE,
     * Transfer-Encoding, Upgrade, and any field named by a Connection option
     * (except Host and Content-Length, which a proxy must never drop that way).
     * A proxy strips these before forwarding. A repeated Content-Length line
     * is marked too (the first line carries the length, reduced to one value). */
    bool hop;
} sl_http1_header;

/* Resumable end-of-head search. Zero it (sl_http1_scan s = {0}) before the
 * first call for each new message and pass the same one to every call for that
 * message; the buffer may grow (or move, e.g. after realloc) between calls, but
 * its first bytes must not change. NULL means "scan from the start each time". */
typedef struct sl_http1_scan {
    size_t pos;      /* where the search for CRLFCRLF resumes */
    size_t line_end; /* offset just after the start line's CRLF, 0 until seen */
} sl_http1_scan;

/* ---- Requests ---- */

typedef struct sl_http1_request {
    sl_slice method;           /* token, case-sensitive */
    sl_http1_method meth;      /* the common ones, else OTHER */
    sl_slice target;           /* the whole request-target */
    sl_http1_target_form form;
    sl_slice scheme;           /* absolute-form only ("http" / "https"), else empty */
    sl_slice path;             /* origin/absolute form: up to '?' (absolute-form with no
                                * path gives an empty path, meaning "/"); empty otherwise */
    sl_slice query;            /* after '?', without it; ptr == NULL when there is no '?' */
    int version_minor;         /* HTTP/1.<version_minor>: 0 or 1 */
    sl_slice host;             /* authority of an absolute- or authority-form target,
                                * else the Host field value */
    sl_http1_body body;        /* NONE, LENGTH or CHUNKED */
    uint64_t content_length;   /* when body == SL_HTTP1_BODY_LENGTH */
    bool keep_alive;           /* 1.1: unless "close"; 1.0: only with "keep-alive" */
    bool expect_continue;      /* HTTP/1.1 and Expect: 100-continue */
    bool upgrade;              /* HTTP/1.1, Connection: upgrade and an Upgrade field */
    sl_slice upgrade_proto;    /* the Upgrade field value (first one) */
    size_t nconn_tokens;       /* Connection options, in order */
    sl_slice conn_tokens[SL_HTTP1_CONN_TOKENS_CAP];
    size_t head_len;           /* bytes of the head, incl. the final CRLFCRLF */
    size_t nheaders;
    sl_http1_header headers[SL_HTTP1_HEADERS_CAP];
    const char *error;         /* on SL_ERR: static text naming the problem */
    int status;                /* on SL_ERR: 400, 414, 431, 501 or 505 */
} sl_http1_request;

/* Parses a request head from buf[0..len).
 * Takes: the bytes received so far for this message; `scan` (may be NULL) to
 * resume the end-of-head search without rescanning; `lim` (NULL: defaults).
 * Returns:
 *   SL_OK    a complete, valid head: req is filled, req->head_len bytes are the
 *            head and the body (if any) starts at buf + head_len.
 *   SL_AGAIN more bytes are needed; nothing in req is meaningful yet. Obvious
 *            garbage (a bad method, a bare LF, a target already over the limit)
 *            is refused without waiting for the end of the head.
 *   SL_ERR   req->error and req->status say why; the connection should answer
 *            with that status and close.
 * Memory: no allocation; all slices point into buf. req is large (the headers
 * array); only the fields listed above are written. */
int sl_http1_parse_request(const char *buf, size_t len, sl_http1_scan *scan,
                           sl_http1_request *req, const sl_http1_limits *lim);

/* Looks a field up by name (case-insensitive); NULL when absent. */
const sl_http1_header *sl_http1_request_header(const sl_http1_request *req, const char *name);

/* ---- Responses ---- */

typedef struct sl_http1_response {
    int version_minor;       /* 0 or 1 */
    int code;                /* 100..599 */
    sl_slice reason;         /* may be empty */
    sl_http1_body body;      /* NONE, LENGTH, CHUNKED or CLOSE */
    uint64_t content_length; /* when body == SL_HTTP1_BODY_LENGTH */
    bool keep_alive;         /* false when the body runs until close */
    bool upgrade;            /* 101 with an Upgrade field */
    sl_slice upgrade_proto;
    size_t nconn_tokens;
    sl_slice conn_tokens[SL_HTTP1_CONN_TOKENS_CAP];
    size_t head_len;
    size_t nheaders;
    sl_http1_header headers[SL_HTTP1_HEADERS_CAP];
    const char *error;       /* on SL_ERR; the proxy answers 502 */
} sl_http1_response;

/* The first field of a parsed response named `name` (any case), or NULL. */
const sl_http1_header *sl_http1_response_header(const sl_http1_response *res, const char *name);

/* Parses an upstream response head from buf[0..len). `req_method` is the method
 * of the request it answers: HEAD responses have no body, and neither do 2xx
 * answers to CONNECT (the tunnel starts right after the head). 1xx, 204 and 304
 * have no body either; the caller parses the final response after a 1xx
 * (other than 101) with a fresh scan state. Content-Length / Transfer-Encoding
 * are held to the same rules as requests (a conflict is an error even where
 * the body is ignored). Returns SL_OK / SL_AGAIN / SL_ERR like
 * sl_http1_parse_request (res->error set on SL_ERR). */
int sl_http1_parse_response(const char *buf, size_t len, sl_http1_scan *scan,
                            sl_http1_response *res, const sl_http1_limits *lim,
                            sl_http1_method req_method);

/* ---- Chunked bodies ---- */

typedef struct sl_http1_chunked {
    unsigned state;         /* internal */
    unsigned ndigits;       /* chunk-size digits seen on this line */
    uint64_t remaining;     /* data bytes left in the current chunk */
    uint64_t total;         /* data bytes reported so far */
    size_t ext_len;         /* chunk-extension bytes on this line */
    size_t trailer_len;     /* trailer section bytes so far */
    size_t ntrailers;       /* trailer field lines (valid when done) */
    size_t max_trailer, max_trailers, max_chunk_ext;
    const char *error;      /* on SL_ERR */
} sl_http1_chunked;

/* Prepares st for a new chunked body (lim NULL: defaults). */
void sl_http1_chunked_init(sl_http1_chunked *st, const sl_http1_limits *lim);

/* Advances the decoder over buf[0..len), which continues the body where the
 * previous call stopped. At most one run of data is reported per call, and it
 * always ends where consumption ends: *data == buf[*consumed - data->len ..
 * *consumed) (empty when no data byte was consumed).
 * Returns:
 *   SL_OK    the last chunk and the trailer section are complete; the body
 *            ended at buf + *consumed, what follows is the next message.
 *            st->ntrailers says how many trailer fields there were.
 *   SL_AGAIN not finished: if *consumed < len, call again at buf + *consumed
 *            (a data run ended there); otherwise wait for more input.
 *            With len > 0, *consumed > 0: the call always makes progress.
 *   SL_ERR   st->error names the problem (400 for a request, 502 for a
 *            response); further calls keep failing.
 * Chunk sizes are hex (any case), at most 15 significant digits; whitespace is
 * allowed only before a ';'; extensions are checked (token[=token|quoted-string])
 * and skipped; the CRLF after each chunk's data is required; trailers follow
 * the same field rules as heads. */
int sl_http1_chunked_parse(sl_http1_chunked *st, const char *buf, size_t len,
                           size_t *consumed, sl_slice *data);

/* Convenience wrapper: decodes buf[0..len) in place, moving the data bytes to
 * the front (memmove). *consumed = input bytes used, *out_len = data bytes now
 * at buf[0..*out_len). Returns SL_OK (body complete), SL_AGAIN (all input used)
 * or SL_ERR. */
int sl_http1_chunked_decode(sl_http1_chunked *st, char *buf, size_t len,
                            size_t *consumed, size_t *out_len);

/* True once the body is complete (a call returned SL_OK). */
bool sl_http1_chunked_done(const sl_http1_chunked *st);

/* ---- Chunked encoding (for the proxy) ---- */

#define SL_HTTP1_CHUNK_HEADER_MAX 20 /* 16 hex digits + CRLF + NUL */
#define SL_HTTP1_CHUNK_END "\r\n"      /* after each chunk's data */
#define SL_HTTP1_LAST_CHUNK "0\r\n\r\n" /* the last chunk with no trailers */

/* Writes "<hex n>\r\n" (lower-case hex, NUL-terminated) into out and returns
 * its length (without the NUL). n must be > 0 (a zero-size chunk would end the
 * body; use SL_HTTP1_LAST_CHUNK); returns 0 and writes "" for n == 0. The data
 * must be followed by SL_HTTP1_CHUNK_END. */
size_t sl_http1_chunk_header(char out[SL_HTTP1_CHUNK_HEADER_MAX], uint64_t n);

#endif

/* Shared between h2_session.c (the connection: nghttp2 session, socket I/O,
 * abuse limits) and h2_stream.c (one request: HTTP/1.1 message in, frames out). */
#ifndef SL_H2_INTERNAL_H
#define SL_H2_INTERNAL_H

#include <nghttp2/nghttp2.h>

#include "workers/conn.h"
#include "workers/h2.h"

/* Concurrent streams a client may open on one connection. */
#define SL_H2_MAX_STREAMS 128
/* A stream's receive window; its request buffer has room for this much body
 * beyond the head, plus slack for the chunked framing the body is given. */
#define SL_H2_STREAM_WINDOW 65535
#define SL_H2_FRAMING_SLACK 16384
/* Abuse limits (per connection). */
#define SL_H2_MAX_CONTINUATIONS 32  /* CONTINUATION frames in one header block */
#define SL_H2_RESET_FLOOR 100       /* client resets tolerated before the ratio applies */

struct sl_h2_stream {
    sl_h2_session *sess;
    int32_t id;
    sl_conn *conn;              /* the request's sl_conn; NULL once it ended */
    sl_h2_stream *prev, *next;  /* the session's streams */

    /* Request head, collected from HEADERS/CONTINUATION. */
    sl_buf fields;              /* regular fields as "name: value\r\n" lines */
    char method[SL_HTTP1_METHOD_MAX + 1];
    char *path, *authority, *cookie; /* malloc'd; cookie crumbs joined with "; " */
    size_t head_bytes;          /* names + values received, against the head limit */
    bool has_content_length;
    bool too_large;
    bool grpc;
    bool websocket;             /* extended CONNECT with :protocol websocket (RFC 8441) */
    bool bad_protocol;          /* another :protocol: answered 501 */
    bool begin_pending;         /* head complete; the request starts once the read is parsed */
    bool begin_end_stream;      /* ...and the HEADERS frame ended the stream */

    /* Request body into conn->in. */
    bool big_in;                /* conn->in is our own buffer, not a pooled one */
    bool req_chunked;           /* the body is framed as chunked in conn->in */
    bool req_end;               /* END_STREAM received */
    bool end_pending;           /* ...but the last-chunk did not fit yet */
    size_t unacked;             /* DATA bytes not yet given back to the window */
    const uint8_t *held;        /* a DATA chunk that did not fit (session paused) */
    size_t held_len;

    /* Response: HTTP/1.1 bytes from the proxy, turned into frames. */
    sl_buf rhead;               /* the head until parsed; then the chunked framing
                                 * after the last data run (the trailer section) */
    sl_http1_scan rscan;
    bool head_done;
    int body_kind;              /* SL_HTTP1_BODY_* of the response */
    uint64_t body_left;         /* SL_HTTP1_BODY_LENGTH */
    sl_http1_chunked chunked;
    sl_buf data;                /* DATA bytes waiting for nghttp2 */
    bool borrow;                /* a Content-Length body: DATA frames are written straight from the
                                 * proxy's upstream buffer, never copied into `data` */
    bool body_end;              /* no more DATA bytes will come */
    bool deferred;              /* the data provider said NGHTTP2_ERR_DEFERRED */
    bool wake;                  /* room came back: the conn should flush again */
    bool finished;              /* the request ended normally */
    bool closed;                /* nghttp2 closed the stream */
};

struct sl_h2_session {
    nghttp2_session *ng;
    sl_conn *c;                 /* the client connection */
    sl_h2_stream *streams;
    size_t nstreams;
    sl_buf out;                 /* frames waiting for the socket */
    const uint8_t *send_ptr;    /* rest of the last nghttp2_session_mem_send() chunk */
    size_t send_len;
    bool pending;               /* on the worker's list of sessions with frames to send */
    sl_h2_session *next_pending;
    bool paused;                /* input processing stopped on a full stream buffer */
    bool goaway;                /* GOAWAY queued (drain or abuse) */
    bool fatal;                 /* close once the queued frames are out */
    uint32_t streams_opened, client_resets, continuations;
    uint32_t begins_pending;    /* streams with begin_pending set */
};

/* A DATA frame whose payload lies in the proxy's upstream buffer (a borrowed
 * Content-Length body) is written from there rather than copied into the
 * session's output first: the frames queued before it (at most
 * SL_H2_DIRECT_PREFIX_MAX bytes) and its 9-byte header are put into the
 * consumed bytes just before the payload, and all of it leaves in one write;
 * over TLS, such frames are sized so that this is exactly one full record.
 * Frames under SL_H2_DIRECT_MIN bytes, and those whose prefix does not fit in
 * front of them, are copied into the output as before. The output holds about
 * a record at most: frames are made as the socket takes them. */
#define SL_TLS_RECORD_MAX 16384
#define SL_H2_DIRECT_PREFIX_MAX 4096
#define SL_H2_DIRECT_MIN 4096

/* h2_direct.c */
/* The payload that makes a DATA frame end where a TLS record ends, or SIZE_MAX
 * in clear text. */
size_t sl_h2_record_payload_max(const sl_h2_session *s);
/* Writes what is queued in the session's output, the frame header and the
 * payload (which has `headroom` writable bytes before it). Returns 1 when the
 * frame is out or queued (what the socket did not take is copied into the
 * output), 0 when it must be copied instead, -1 when the connection failed. */
int sl_h2_write_frame_direct(sl_h2_session *s, const uint8_t *framehd, char *payload, size_t length,
                             size_t headroom);

/* h2_session.c */
/* Asks for the session's frames to be sent before the loop next waits. */
void sl_h2_session_schedule(sl_h2_session *s);
/* Input processing can go on (a held DATA chunk found room). */
void sl_h2_session_unpause(sl_h2_session *s);

/* h2_stream.c */
sl_h2_stream *sl_h2_stream_new(sl_h2_session *s, int32_t id);
/* nghttp2 closed the stream: ends the request if it is still running. */
void sl_h2_stream_free(sl_h2_stream *st);
/* One header field of the request head (pseudo or regular). Returns an
 * nghttp2 error code to reset the stream, or 0. */
int sl_h2_stream_header(sl_h2_stream *st, const uint8_t *name, size_t namelen, const uint8_t *value,
                        size_t valuelen);
/* The request head is complete: creates the stream's sl_conn and starts the
 * request. `end_stream`: no body follows. */
void sl_h2_stream_begin(sl_h2_stream *st, bool end_stream);
/* A run of request body bytes. Returns 0 or NGHTTP2_ERR_PAUSE (held). */
int sl_h2_stream_data(sl_h2_stream *st, const uint8_t *data, size_t len);
/* END_STREAM from the client. */
void sl_h2_stream_end(sl_h2_stream *st);
/* Room came back in the stream's DATA buffer: lets its sl_conn write again. */
void sl_h2_stream_wake(sl_h2_stream *st);
/* nghttp2's send_data_callback: writes a DATA frame (header and payload) from
 * the stream's buffer into the session's output. */
int sl_h2_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd, size_t length,
                    nghttp2_data_source *source, void *ud);

#endif

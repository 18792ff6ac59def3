/* Internals of the worker process, shared by the files in workers/. */
#ifndef SL_WORKER_INTERNAL_H
#define SL_WORKER_INTERNAL_H

#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "common/control.h"
#include "common/snapshot.h"
#include "workers/http1_parser.h"
#include "workers/router.h"
#include "workers/worker.h"

#define SL_BUF_SIZE 16384

typedef struct sl_worker sl_worker;

/* A fixed buffer: data lives in [start, end). */
typedef struct sl_buf {
    char *data;
    size_t cap, start, end;
} sl_buf;

static inline size_t sl_buf_len(const sl_buf *b) { return b->end - b->start; }
static inline size_t sl_buf_room(const sl_buf *b) { return b->cap - b->end; }
/* Free buffers of one size, reused last-in first-out (the most recently used
 * is the warmest in the CPU cache). A pool holds as many as were in use at the
 * busiest moment, up to `max`, since malloc and free of 20-72 KiB blocks cost a
 * request several microseconds; once a second, those that stayed unused that
 * whole second are freed, down to `keep`. */
#define SL_BUF_POOL_SLOTS 2048
typedef struct sl_buf_pool {
    char *free[SL_BUF_POOL_SLOTS];
    int n;
    int low;        /* fewest free buffers since the last trim */
    int max, keep;
} sl_buf_pool;
void sl_buf_pools_init(sl_worker *w);
void sl_buf_pools_trim(sl_worker *w); /* once a second, from the tick */
void sl_buf_pools_free(sl_worker *w); /* every pooled buffer (tests, leak checks) */

/* Connection buffers all have one size (room for the largest head plus our
 * additions), so a worker keeps freed ones for reuse instead of going to malloc
 * for every request; an idle keep-alive connection holds none. */
size_t sl_cbuf_size(void);
int sl_cbuf_get(sl_worker *w, sl_buf *b);  /* 0, or -1 when out of memory */
void sl_cbuf_put(sl_worker *w, sl_buf *b); /* b may hold no buffer */
/* The buffer for bytes from the upstream is larger (SL_BODY_BUF_SIZE): response
 * bodies dominate, and fewer, larger reads and writes cost fewer system calls. */
#define SL_BODY_BUF_SIZE (65536 + 8192)
int sl_bodybuf_get(sl_worker *w, sl_buf *b);
void sl_bodybuf_put(sl_worker *w, sl_buf *b);

/* Moves the data to the front, so room is maximal. */
void sl_buf_compact(sl_buf *b);
int sl_buf_alloc(sl_buf *b, size_t cap);
void sl_buf_free(sl_buf *b);
/* Appends bytes; returns false when they do not fit. */
bool sl_buf_append_compacting(sl_buf *b, const void *p, size_t n);
/* Inline: a request head is built from some thirty small appends, many of
 * constant strings that the compiler then copies without calling memcpy. */
static inline bool sl_buf_append(sl_buf *b, const void *p, size_t n)
{
    if (n > sl_buf_room(b))
        return sl_buf_append_compacting(b, p, n);
    if (n) /* p may be NULL for an empty slice */
        memcpy(b->data + b->end, p, n);
    b->end += n;
    return true;
}
bool sl_buf_printf(sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The per-request heads are built with these rather than sl_buf_printf:
 * formatting was a measurable share of a proxied request's CPU time. */
static inline bool sl_buf_puts(sl_buf *b, const char *s) { return sl_buf_append(b, s, strlen(s)); }
static inline bool sl_buf_put_slice(sl_buf *b, sl_slice s) { return sl_buf_append(b, s.ptr, s.len); }
/* Appends n in decimal. */
bool sl_buf_put_uint(sl_buf *b, uint64_t n);

/* A mapped snapshot generation, reference-counted by the requests using it. */
typedef struct sl_tls_ctx sl_tls_ctx;

#define SL_WSNAP_MAX_KINDS 32 /* policy kinds (workers/policy_registry.c) */

typedef struct sl_wsnap {
    sl_snapshot s;
    sl_tls_ctx *tls;       /* TLS contexts of its HTTPS ports (NULL: none) */
    struct ssl_ctx_st **uptls; /* client TLS context per HTTPS backend (NULL: none) */
    uint64_t generation;
    int refs;              /* the worker's "current" reference + in-flight requests */
    sl_regex_set *regex;
    uint32_t *rr;          /* per-backend round-robin cursor */
    /* Load balancing's per-worker state (workers/balancer.c): */
    double *lb_wrr;        /* per endpoint: smooth weighted round robin's current weight */
    uint32_t *lb_usable;   /* per backend: usable endpoints when last counted... */
    uint64_t *lb_usable_at; /* ...and when (0: never) */
    uint8_t *lb_uniform;   /* per backend: 1 when all its endpoints weigh the same */
    uint32_t port_of_socket[SL_WORKER_MAX_SOCKETS]; /* snapshot port of each worker socket, or SL_SNAP_NONE */
    bool route_by_model[SL_WORKER_MAX_SOCKETS]; /* ...whose routes match on x-sluice-ai-model (workers/ai.h) */
    void *zones[SL_WSNAP_MAX_KINDS]; /* per policy kind: its zone for this worker's Gateway (NULL: none) */
    void **policy_state;   /* per POLICIES record: what its kind prepared (policy.h), or NULL */
} sl_wsnap;

typedef struct sl_conn sl_conn;
typedef struct sl_upstream sl_upstream;

typedef struct sl_listener {
    ev_io io;
    sl_worker *w;
    int index; /* into args.sockets */
} sl_listener;

/* An idle pooled upstream connection, or one in use by a client connection. */
struct sl_upstream {
    int fd;
    ev_io io;
    sl_worker *w;
    sl_conn *owner;              /* NULL while idle in the pool */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    sl_upstream *next_idle;       /* pool list */
    struct sl_h2up_stream *h2;    /* an HTTP/2 stream (h2_upstream.c); fd is -1 */
    struct ssl_st *ssl;           /* TLS to the backend (upstream_tls.c), else NULL */
    uint64_t tls_id;              /* which TLS settings it was made with (pool matching) */
    bool tls_read_wants_write, tls_write_wants_read;
    bool connected;
    bool reused;
    /* The loop reported it readable and a read has not yet found it drained.
     * Reading only then saves the read that would fail with EAGAIN right
     * after each request is sent (epoll is level-triggered: nothing is missed). */
    bool readable;
    /* The last response on it had a body large enough to splice: the next one
     * probably has too, so its first read takes only about a head's worth. */
    bool splice_hint;
    uint64_t idle_since_ms;
    uint32_t be_slot, be_tag; /* counted in this backend slot's connections (SL_SNAP_NONE: not) */
};

struct sl_worker {
    struct ev_loop *loop;
    sl_worker_args args;
    sl_worker_slot *slot;
    sl_listener listeners[SL_WORKER_MAX_SOCKETS];
    bool accepting;
    ev_timer accept_pause; /* stepping back from accepting (see over_share) */
    ev_timer tick;
    ev_io signals; /* signalfd for SIGTERM, SIGINT, SIGQUIT */
    ev_io ctl;     /* messages from the master */
    sl_wsnap *snap; /* current */
    bool draining;
    uint64_t drain_deadline_ms;
    sl_conn *conns; /* every open client connection */
    size_t nconns;
    size_t nconns_peak;     /* most connections open since memory was last given back */
    uint64_t collected_bytes; /* AI request bodies held whole (proxy_collect.c), against --ai-buffer-bytes */
    sl_upstream *idle; /* pooled upstream connections (LIFO) */
    size_t nidle;
    sl_buf_pool cbufs;      /* free connection buffers (sl_cbuf_size bytes) */
    sl_buf_pool bodybufs;   /* free upstream-side buffers (SL_BODY_BUF_SIZE bytes) */
    unsigned ticks;
    int pipe_pool[1024][2]; /* empty pipes for splicing response bodies (proxy_splice.c) */
    int npipe_pool;
    int pipe_pool_max;      /* 0 until the first release sets it from RLIMIT_NOFILE */
    sl_http1_request req; /* scratch: one request head is parsed at a time */
    sl_http1_response res;
    sl_http1_response h2res; /* scratch of the HTTP/2 response conversion */
    struct sl_h2_session *h2_pending; /* HTTP/2 sessions with frames to send */
    ev_prepare h2_prepare;            /* ...sent before the loop waits (sl_worker_flush_h2) */
    size_t h2_taken_unflushed;        /* response bytes given to HTTP/2 streams since (h2_stream.c) */
    struct sl_h2up_session *h2up_sessions; /* HTTP/2 connections to backends */
    struct sl_h2up_session *h2up_pending;  /* ...with frames to send */
    sl_http1_request h2req;                /* scratch of the upstream HTTP/2 conversion */
    sl_http1_limits limits;
    /* access log */
    sl_buf log;
    ev_timer log_flush;
};

uint64_t sl_now_ms(void);
/* The same clock in microseconds. */
uint64_t sl_now_us(void);

/* worker_snapshot.c */
/* Switches to the control block's current generation if it changed. */
void sl_wsnap_refresh(sl_worker *w);
/* Recomputes which snapshot port each socket serves (after sockets changed). */
void sl_wsnap_bind_ports(sl_worker *w, sl_wsnap *s);
void sl_wsnap_release(sl_worker *w, sl_wsnap *s);

/* conn.c */
void sl_conn_accept(sl_worker *w, int listener_index, int fd, const struct sockaddr_storage *peer);
/* Closes idle keep-alive connections (drain). */
void sl_conn_close_idle(sl_worker *w);
void sl_conn_close_all(sl_worker *w);

/* upstream.c */
/* Gets an idle pooled connection to addr or starts connecting a new one. NULL
 * (errno set) when the socket could not even be created. `check_idle`: peek at a
 * pooled connection first, to skip one the upstream has closed meanwhile; a
 * request that can be sent again (its body is at hand) does without, since a
 * closed connection then costs a resend rather than an error. */
/* A backend's maxConnections (counted over every worker in its endpoint slot):
 * with max set and reached, no new connection is made (NULL, errno EBUSY),
 * though a pooled one is still taken. */
typedef struct sl_upstream_limit {
    uint32_t slot; /* the backend's slot (SL_SNAP_NONE: not counted) */
    uint32_t max;  /* 0: no limit */
} sl_upstream_limit;
sl_upstream *sl_upstream_get(sl_worker *w, const struct sockaddr_storage *addr, socklen_t len, bool check_idle,
                             uint64_t tls_id, const sl_upstream_limit *limit);
/* Returns a connection to the pool (keep-alive) or closes it. */
void sl_upstream_release(sl_worker *w, sl_upstream *u, bool reusable);
void sl_upstream_close_idle(sl_worker *w);
/* Closes up to n idle pooled connections, oldest first, to free descriptors
 * (accept or connect ran out). Returns how many were closed. */
size_t sl_upstream_shed_idle(sl_worker *w, size_t n);
void sl_upstream_expire_idle(sl_worker *w); /* closes pooled connections idle too long (from the tick) */

/* worker.c */
/* Sends the frames the HTTP/2 sessions (to clients and to backends) queued: just
 * before the loop waits, or right after a callback that gave the streams much
 * (h2_stream.c feeds the prepare watcher). */
void sl_worker_flush_h2(sl_worker *w);

/* access_log.c */
void sl_access_log_init(sl_worker *w);
/* One line for the finished request c, in --access-log-format. */
void sl_access_log_line(sl_worker *w, const struct sl_conn *c);
void sl_access_log_flush(sl_worker *w);

#endif

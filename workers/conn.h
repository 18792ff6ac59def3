/* A client connection and the request it is serving. conn.c owns the client
 * side (reading heads, routing, local answers, keep-alive); proxy.c owns the
 * upstream side (sending the request, streaming the response back). */
#ifndef SL_CONN_H
#define SL_CONN_H

#include <openssl/ssl.h>

#include "common/cidr.h"
#include "common/settings.h"
#include "workers/balancer.h"
#include "workers/dbuf.h"
#include "workers/tracing.h"
#include "workers/worker_internal.h"

typedef enum {
    SL_CONN_READ_HEAD = 0, /* waiting for (the rest of) a request head */
    SL_CONN_PROXY,         /* request handed to an upstream */
    SL_CONN_LOCAL,         /* writing a response of our own */
    SL_CONN_CLOSING,       /* flushing, then close */
    SL_CONN_H2,            /* an HTTP/2 connection: its streams are sl_conns of their own */
    SL_CONN_POLICY,        /* a policy waits for a service (extAuth...): nothing is read */
} sl_conn_state;

/* TUNNEL: after a 101 Switching Protocols, bytes flow both ways until either side closes. */
#define SL_CONN_MAX_AUTH 3 /* authentication kinds in the registry */

typedef enum { SL_BODY_NONE = 0, SL_BODY_LENGTH, SL_BODY_CHUNKED, SL_BODY_CLOSE, SL_BODY_TUNNEL } sl_body_kind;

/* Progress through one message body being forwarded. */
typedef struct sl_body {
    sl_body_kind kind;
    uint64_t remaining;     /* SL_BODY_LENGTH */
    sl_http1_chunked chunked;
    bool dechunk;           /* decode chunked instead of forwarding it raw (HTTP/1.0 client) */
    bool done;
} sl_body;

typedef struct sl_h2_session sl_h2_session;
typedef struct sl_h2_stream sl_h2_stream;

struct sl_conn {
    sl_worker *w;
    SSL *ssl;              /* TLS session on an HTTPS listener, else NULL */
    bool secure;           /* arrived over TLS (also for the streams of an HTTP/2 connection) */
    sl_h2_session *h2;     /* state SL_CONN_H2: the HTTP/2 session of this connection */
    sl_h2_stream *h2s;     /* an HTTP/2 request stream (no socket of its own: fd -1) */
    bool tls_read_wants_write;  /* OpenSSL needs the socket writable to go on reading */
    bool tls_write_wants_read;  /* ...or readable to go on writing */
    sl_conn *prev, *next;
    int fd;
    ev_io io;
    ev_timer timer;
    int listener;       /* index into w->args.sockets */
    char peer[48];      /* client address, for logs and X-Forwarded-For */
    sl_ip peer_ip;      /* the TCP peer's address */
    sl_ip client;       /* the client's address, for policies (realIp may set it from a trusted proxy's header) */
    uint8_t proxy_mode;   /* sl_snap_proxy_protocol while a PROXY header is awaited, else 0 */
    uint16_t proxy_len;   /* header bytes taken so far (in proxy_buf) */
    uint8_t *proxy_buf;   /* malloc'd only while a header arrives in pieces */
    sl_conn_state state;
    sl_buf in;          /* bytes from the client */
    sl_buf out;         /* bytes to the client that we produced (heads, local bodies) */
    sl_http1_scan scan;
    uint64_t deadline_ms;
    uint64_t timer_at_ms; /* deadline the timer is armed for */
    uint64_t requests;  /* served on this connection */
    bool close_after;   /* close once the current response is written */
    bool client_eof;

    /* The request in flight. */
    sl_wsnap *snap;
    uint64_t started_ms;
    uint64_t started_us;  /* the same, finer: for the latency histograms (common/series.h) */
    uint64_t attempt_us;  /* when the current upstream attempt started */
    uint64_t bytes_in;    /* client bytes read while this request was current */
    bool keep_alive;
    int version_minor;
    sl_http1_method method;
    sl_body req_body;
    size_t req_ready;   /* validated request body bytes at the front of `in` */
    bool expect_continue;
    char log_method[16];
    char log_host[128];
    char log_path[256];
    char log_route[160];
    char log_upstream[64];
    /* Request fields kept only when --access-log-format logs them (allocated
     * on first use, so the default costs no memory per connection). */
    sl_trace trace; /* the request's W3C trace context (workers/tracing.h) */
    struct sl_log_extra {
        char agent[256], referer[512];
    } *log_extra;
    int status;
    uint64_t bytes_out;

    /* The upstream side (proxy.c). */
    sl_upstream *up;
    sl_buf uout;        /* request head for the upstream */
    sl_buf uin;         /* bytes from the upstream */
    sl_http1_scan rscan;
    bool res_head_done;
    sl_body res_body;
    size_t res_ready;   /* response body bytes at the front of `uin` ready for the client */
    bool res_body_end_seen; /* the decoder saw the end; res_ready bytes remain to write */
    bool up_eof;
    bool up_more;       /* the last read stopped because `uin` was full: the upstream may have more */
    bool splicing;      /* the rest of the response body moves by splice(2) through `pipe` (proxy_splice.c) */
    int pipe[2];        /* valid while splicing */
    size_t pipe_bytes;  /* body bytes in the pipe, not yet at the client */
    bool retried;
    bool buffering;        /* reading the whole request body before going upstream (proxy_buffer.c) */
    bool up_wrote;         /* some byte of the request reached the current upstream connection */
    bool up_refused;       /* ...and its kernel answered with a reset: the upstream never read it */
    bool up_reusable_hint; /* the upstream's response allows keep-alive */
    sl_snap_range rule_filters;    /* the matched rule's filters */
    sl_snap_range backend_filters; /* the chosen backendRef's filters */
    sl_snap_range policy_req_headers; /* a TrafficPolicy's request header modifiers (FILTERS) */
    sl_snap_range policy_res_headers; /* ...and response header modifiers */
    const sl_snap_filter *policy_cors; /* a TrafficPolicy's CORS settings (the route has none) */
    const sl_snap_route *route;
    const sl_snap_action *action;
    uint32_t retries_left;
    bool upgrade_requested;        /* the client asked for a protocol switch (WebSocket) */
    bool tunnel;                   /* switched: plain bytes both ways */
    uint64_t tunnel_activity_ms;   /* last byte through the tunnel */
    size_t replay_start;           /* where the request body starts in `in` */
    int64_t replay_len;            /* its length when wholly buffered (resendable), else -1 */
    uint32_t backend_index;        /* the chosen backend, for retries */
    uint32_t endpoint_index;       /* the chosen endpoint (snapshot index) */
    sl_lb_attempt lb;              /* the attempt as the endpoint table counts it (balancer.h) */
    uint8_t l4;                    /* a connection of a TLS (passthrough) or TCP listener: SL_ROUTE_TLS or
                                    * SL_ROUTE_TCP, passed through to a backend as it is (l4.c); 0: HTTP */
    bool l4_up_shut, l4_client_shut; /* ...its end-of-stream passed on to the upstream / the client */
    bool l4_splicing;              /* ...its bytes move by splice(2) both ways (l4_splice.c) */
    bool l4_discard;               /* ...the upstream stopped reading (closed, reset): the client's bytes
                                    * are read and dropped, so that closing sends it no reset that would
                                    * cost it the answer's last bytes */
    uint64_t l4_linger_until_ms;   /* ...then, once the answer is out: how long to wait for the client's
                                    * end-of-stream before closing anyway (SL_L4_LINGER_MS) */
    bool l4_client_readable;       /* ...the client's socket may have bytes (until a splice says EAGAIN) */
    int l4_pipe[2];                /* ...the client-to-upstream pipe, while splicing */
    size_t l4_pipe_bytes;          /* ...bytes in it, not yet at the upstream */
    bool retry_pending;            /* waiting out the retry backoff */
    char origin[256];              /* the request's Origin, for CORS response headers */
    const char *client_id;         /* who called, once an authentication policy knows ("" otherwise);
                                    * a snapshot string: valid while the request holds its snapshot */
    /* Per authentication kind that ran (apiKeyAuth, basicAuth: both may apply):
     * the received field not to forward (its credential, by identity) and the
     * upstream field that carries client_id ("" none; a client's own field of
     * that name is dropped). */
    sl_slice strip_fields[SL_CONN_MAX_AUTH];
    sl_slice id_headers[SL_CONN_MAX_AUTH];
    uint8_t nauth;
    struct sl_claims *claims;      /* a verified JWT's claims (policy_jwt.c; malloc'd, per request), or NULL */
    char *up_extra;                /* header lines a policy adds upstream ("Name: value\r\n"..., malloc'd;
                                    * a client's fields of those names are dropped), or NULL */
    const char *up_replace;        /* names (one per line, a snapshot string) whose client fields are
                                    * dropped whatever up_extra holds (extAuth headersToUpstream), or NULL */
    const sl_snap_policy *rl_policy; /* the rateLimit the request passed (RateLimit fields), or NULL */
    const sl_snap_policy *mcp_authz; /* the mcpAuthorization in force (policy_mcp_authorization.c), or NULL */
    const sl_snap_policy *mcp_rl;    /* the mcpRateLimit in force (policy_mcp_rate_limit.c), or NULL */
    uint64_t mcp_rl_key;             /* ...the client's part of its buckets' keys */
    uint32_t rl_left, rl_reset_s;  /* ...its tokens left, seconds until its bucket is full */
    /* The aiTokenLimit the request passed (policy_ai_token_limit.c), charged after the answer. */
    const sl_snap_policy *guard_policy; /* the aiPromptGuard in force (ai_guard.c), or NULL */
    const sl_snap_policy *tl_policy;
    uint64_t tl_key;               /* ...its local budget's key */
    char *tl_redis_key;            /* ...or its Redis key (scope Global; malloc'd) */
    int64_t tl_level;              /* ...tokens left when it passed */
    int64_t tl_estimate;           /* ...the prompt estimate, charged when the answer gives no count */
    struct {                       /* the aiBudget the request passed (policy_ai_budget.c), charged after the answer */
        const sl_snap_policy *policy;
        uint64_t spent;            /* ...what its key had spent when it passed */
        int64_t estimate_tokens;   /* ...the prompt estimate, charged when the answer gives no count */
        char *redis_key;           /* ...its counter in Redis (scope Global; malloc'd), or NULL */
        bool refused;              /* ...the prompt did not fit (sl_ai_budget_refuse answers) */
        uint64_t key;              /* ...its key's hash, taken when it was checked (the request's fields
                                    * are not all there by the time it is charged) */
        char *key_text;            /* ...and its text, for the listing (malloc'd), or NULL */
        uint64_t estimate_cost;    /* ...the prompt estimate's price (micro-USD), charged when unanswered */
    } budget;
    uint32_t policy_next;          /* state SL_CONN_POLICY: the chain's link to go on with */
    void (*policy_cancel)(struct sl_conn *c); /* ...stops the waiting policy's operation */
    void *policy_op;               /* ...which the policy keeps here */
    char *held_head;               /* ...the request head, copied: w->req is the worker's to reuse */
    size_t held_len;
    const char *held_from;         /* where the head was when it was copied */
    sl_snap_range claim_headers;   /* its provider's claimsToHeaders items (POLICY_ITEMS: a claim, b header) */
    struct sockaddr_storage up_addr;
    socklen_t up_addrlen;
    uint32_t request_timeout_ms;
    uint32_t idle_timeout_ms;      /* upstream silent this long fails the request; 0: --response-timeout */
    bool body_hooks;               /* the route's policies look at the request body (on_request_body) */
    uint64_t body_seen;            /* ...bytes of it they have seen */
    uint64_t body_length;          /* a Content-Length body's length (its offsets) */
    int body_refusal;              /* ...the status one of them refused it with, 0: none */
    uint32_t retry_backoff_ms;     /* the rule's retry, or a TrafficPolicy's where the rule has none */
    const uint64_t *retry_codes;   /* bit (code - 400): retried statuses (snapshot memory) */
    /* A request body collected whole before it goes upstream (proxy_collect.c):
     * AI routes, whose bodies the gateway rewrites. */
    bool collecting;               /* reading it into req_hold (with `buffering`) */
    bool req_from_out;             /* the body sent upstream is req_out, not the client's bytes in `in` */
    bool route_pending;            /* ...before routing: the route depends on it (ai_model_route.c) */
    bool body_held;                /* ...it is whole in req_hold, read before routing */
    uint16_t ai_flags;             /* SL_AI_REQ_* (workers/ai.h): what the rewrite did */
    sl_dbuf req_hold;              /* the client's body, de-chunked */
    uint64_t collected;            /* ...bytes of it counted in the worker's collected_bytes */
    sl_dbuf req_out;               /* the body as sent (req_body.remaining bytes of it still to go) */
    sl_dbuf req_client;            /* ...the client's, kept for another provider (failover), or empty */
    struct sl_guard_wait *guard_wait; /* the prompt guard's webhook asked about this body (ai_guard_webhook.c), or NULL */
    char *ai_path;                 /* a translated call's request target when it depends on the model
                                    * (Gemini, Bedrock), or NULL (malloc'd) */
    char *ai_model;                /* ...the model it asks for (the answer may not name it), or NULL */
    /* A chain of AI Backends (ai_failover.c). */
    bool ai_failover;              /* the chosen Backend has ai.fallbacks */
    uint32_t ai_next;              /* ...the chain's entry tried next (0: the primary) */
    uint32_t ai_primary;           /* ...the Backend whose chain it is */
    /* A response body hook (response_hook.h; proxy_response_hook.c). */
    const struct sl_response_hook *res_hook; /* chosen with the backend, or NULL */
    void *res_hook_state;          /* ...the hook's own, per request */
    bool res_hooked;               /* this response's body goes through res_hook */
    bool res_head_held;            /* ...its head waits in res_held for the hook */
    bool res_hook_last;            /* ...the hook has seen the end of the body */
    bool res_out_chunked;          /* ...what it emits reaches the client chunked */
    sl_buf res_held;               /* the held head (a connection buffer) */
    sl_dbuf res_out;               /* emitted bytes, framed, not yet written to the client */
    uint64_t up_deadline_ms;  /* upstream connect/response deadline */
    uint64_t try_deadline_ms; /* the rule's backendRequest timeout: this try's response head by then (0: none) */
    uint64_t last_client_ms;  /* last request body bytes from the client */
    bool watch_eof;           /* state SL_CONN_POLICY: the client's socket is read meanwhile, so a client
                               * that leaves ends the wait (the MCP gateway's calls and streams) */
    struct sl_mcp_req *mcp;   /* a request to an MCP Backend: what the MCP gateway keeps (workers/mcp.h), or NULL */
    const sl_snap_backend *mcp_backend; /* ...that Backend */
};

/* How long the upstream may stay silent while this request waits for it. */
static inline uint64_t sl_conn_idle_ms(const sl_conn *c)
{
    return c->idle_timeout_ms ? c->idle_timeout_ms : (uint64_t)sl_setting(SL_SET_RESPONSE_TIMEOUT_MS);
}

/* An authentication kind accepted the request: its credential field is not
 * forwarded, and id_header (if any) carries the client id upstream. */
static inline void sl_conn_authenticated(sl_conn *c, const char *client_id, sl_slice credential, sl_slice id_header)
{
    c->client_id = client_id;
    if (c->nauth < SL_CONN_MAX_AUTH) {
        c->strip_fields[c->nauth] = credential;
        c->id_headers[c->nauth] = id_header;
        c->nauth++;
    }
}

/* conn_proxy_header.c: reads the PROXY header of a connection whose port asks
 * for one; true once it is done (the connection goes on), false while it waits
 * or after closing the connection. */
bool sl_conn_proxy_header(sl_conn *c);

/* conn.c */
/* The reason phrase of a status code ("Unknown" for others). */
const char *sl_http_reason(int status);
/* Reads what the client sent into c->in. Returns false when c was closed. */
bool sl_conn_read(sl_conn *c);
/* Parses c->in: a request head to dispatch, or the start of HTTP/2. */
void sl_conn_process_input(sl_conn *c);
/* A request stream of an HTTP/2 connection (calloc'd, timer ready, no buffers). */
sl_conn *sl_conn_new_stream(sl_conn *parent, sl_h2_stream *st);
/* Like sl_conn_respond, with extra header lines ("Name: value\r\n"...) before the body. */
void sl_conn_respond_with(sl_conn *c, int status, const char *extra_headers, const char *body, bool close);
/* A local response given whole: its header lines (Content-Type among them, if
 * any), a body of blen bytes (cut to what the output buffer holds). */
void sl_conn_respond_raw(sl_conn *c, int status, const char *headers, const char *body, size_t blen);
/* ...whatever the body's size: the connection's output buffer grows to hold it
 * (a local answer made of what services sent: the MCP gateway's). */
void sl_conn_respond_big(sl_conn *c, int status, const char *headers, const char *body, size_t blen);
/* conn_stream.c: a response of our own written as it is made (chunked):
 * whether the client can take one (HTTP/1.1, HTTP/2); its head; each piece of
 * its body; its end (the request finishes once it is written). begin and write
 * return false when the connection closed (c is gone). */
bool sl_conn_can_stream(const sl_conn *c);
bool sl_conn_stream_begin(sl_conn *c, int status, const char *headers);
bool sl_conn_stream_write(sl_conn *c, const char *data, size_t len);
void sl_conn_stream_end(sl_conn *c);
/* Queues a complete local response (status, short text body) and finishes the
 * request; `close` forces the connection to close afterwards. */
void sl_conn_respond(sl_conn *c, int status, const char *body, bool close);
/* ...with a JSON body (application/json). */
void sl_conn_respond_json(sl_conn *c, int status, const char *body, bool close);
/* Recomputes the client watcher's events and the timer. */
void sl_conn_update(sl_conn *c);
/* The request is complete (response fully written or given up): logs it, releases
 * the snapshot and goes back to reading the next head or closes. */
void sl_conn_finish_request(sl_conn *c);
void sl_conn_close(sl_conn *c);
/* Writes c->out and then pending response body bytes from the upstream. Returns
 * false when the connection was closed. */
bool sl_conn_flush(sl_conn *c);

/* proxy.c */
void sl_endpoint_sockaddr(const sl_snap_endpoint *e, struct sockaddr_storage *ss, socklen_t *len);
/* mirror.c */
void sl_mirror_send(sl_conn *c, uint32_t backend_index);
/* Starts proxying the parsed request (w->req) to an endpoint of the route. */
void sl_proxy_start(sl_conn *c, const sl_snap_route *route);
/* The client side has new bytes (request body) or room (response body). */
void sl_proxy_client_event(sl_conn *c);
/* Upstream I/O. */
void sl_proxy_upstream_cb(struct ev_loop *loop, ev_io *io, int revents);
/* The HTTP/2 stream standing for c's upstream connection has news. */
void sl_proxy_upstream_event(sl_conn *c);
/* The per-connection timer fired while proxying. */
void sl_proxy_timeout(sl_conn *c);
/* Detaches and closes (or pools) the upstream connection. */
void sl_proxy_detach(sl_conn *c, bool reusable);
/* Bytes of response body ready in c->uin to be written to the client, and
 * consumption after a write. */
size_t sl_proxy_pending_body(sl_conn *c, const char **ptr);
void sl_proxy_body_written(sl_conn *c, size_t n);
/* True when the response has been fully handed to the client socket. */
bool sl_proxy_complete(sl_conn *c);
/* proxy_collect.c: starts collecting the request body whole (the head in uout
 * is finished once its length is known). false: there is nothing to collect. */
bool sl_collect_begin(sl_conn *c);
/* ...moves what arrived into req_hold. Returns 0 while more is to come, -1 while
 * the prompt guard's webhook is asked about it, 1 when
 * the body is complete (then req_out holds what goes upstream and the head is
 * finished), or the status the request gets instead (400, 413...), with a
 * JSON body for it in *error_json (malloc'd) when there is one. */
int sl_collect_step(sl_conn *c, char **error_json);
/* ...before routing (ai_model_route.c): reads the body whole into req_hold,
 * sending 100 Continue if asked; the route is looked up once it is whole
 * (sl_conn_route). 0, or the status the request gets instead (413...). */
int sl_collect_before_route(sl_conn *c);
/* ...once routed, with the upstream head built: the held body goes upstream,
 * rewritten for an AI backend when `rewrite`; the route's body policies see
 * it first. Returns like sl_collect_step. */
int sl_collect_held(sl_conn *c, bool rewrite, char **error_json);
/* ...the client's body (kept in req_client) rewritten again, for the AI Backend
 * now chosen (failover), and the head (built without framing) finished.
 * Returns like sl_collect_step. */
int sl_collect_again(sl_conn *c, char **error_json);
/* ...the request is over: the buffers go. */
void sl_collect_end(sl_conn *c);
/* proxy.c: a collected body's wait (the prompt guard's webhook) is over: the
 * request goes on (or is answered) as if the body had just come in whole. */
void sl_proxy_collect_resume(sl_conn *c);
/* proxy.c: nothing of an earlier response on the connection is left to count
 * for the next request. */
void sl_proxy_reset_response(sl_conn *c);
/* conn.c: routes the request in w->req (dispatch's second half, also after a
 * body read before routing) and starts it. */
void sl_conn_route(sl_conn *c);
/* proxy_response_hook.c: a response body hook's side of the proxy. The hook
 * takes this response (its head, already parsed, goes to res_held); false: it
 * does not, the response passes as usual. */
bool sl_res_hook_take(sl_conn *c);
/* ...the Connection field and blank line that end a response head for the
 * client (shared with proxy.c's own heads). */
void sl_res_head_end(sl_conn *c, sl_buf *b);
/* ...the request is over: the hook frees its state, the buffers go back. */
void sl_res_hook_end(sl_conn *c);

/* l4.c: a connection of a TLS (passthrough) or TCP listener has new bytes (or,
 * for TCP, has just been accepted): once its route is known (the SNI of its
 * ClientHello, for TLS), it is passed through to a backend endpoint. */
void sl_l4_input(sl_conn *c);
/* proxy.c: passes the connection through to a backend of `route`'s rule:
 * what the client sent so far, then bytes both ways until either side closes. */
void sl_proxy_start_connection(sl_conn *c, const sl_snap_route *route);

/* proxy_splice.c: a large response body of known length moves from the upstream
 * socket to the client socket through a pipe, so the worker never copies it. */
bool sl_splice_possible(const sl_conn *c);   /* both sides plain TCP, and splicing is on */
bool sl_splice_should_start(const sl_conn *c); /* ...and the rest of this body is worth it */
bool sl_splice_start(sl_conn *c);            /* false: no pipe to be had (copying carries on) */
typedef enum { SL_SPLICE_WAIT = 0, SL_SPLICE_CLIENT_GONE, SL_SPLICE_UPSTREAM_CUT } sl_splice_result;
sl_splice_result sl_splice_move(sl_conn *c); /* moves what can move now */
void sl_splice_release(sl_conn *c);          /* ends splicing; the pipe goes back to the pool if empty */
void sl_splice_close_pool(sl_worker *w);
/* A passed-through connection whose upstream stopped reading waits this long,
 * once the answer is out, for the client to end (a lingering close, as nginx's
 * lingering_timeout): closing earlier with its bytes unread sends a reset. */
#define SL_L4_LINGER_MS 5000
/* Passed-through connections spliced both ways (l4_splice.c). */
bool sl_l4_splice_ready(const sl_conn *c);  /* connected, nothing buffered, plain sockets, splicing on */
bool sl_l4_splice_start(sl_conn *c);        /* false: no pipes to be had (copying carries on) */
bool sl_l4_splice_pump(sl_conn *c);         /* moves what can move; false: the connection ended */
int sl_l4_splice_events(const sl_conn *c, bool upstream_side); /* EV_READ / EV_WRITE wanted on that socket */
void sl_l4_splice_release(sl_conn *c);

#endif

/* The MCP gateway in the worker: a route whose backend is a Backend of type
 * MCP is answered here, not proxied. The client speaks MCP's Streamable HTTP
 * (versions 2025-03-26 to 2025-11-25) to one endpoint; the gateway holds a
 * session with every target behind it and merges what they offer.
 *
 *   mcp_gateway.c  the client's request: method dispatch, fan-out to the
 *                  targets, the answer (JSON, or an event stream carrying the
 *                  targets' notifications before the response)
 *   mcp_target.c   one exchange with one target (the worker's libcurl client):
 *                  its answer read as JSON or as an event stream
 *   mcp_names.c    names: prefixes, include/exclude lists, merged lists and
 *                  their cursors
 *   mcp_session.c  the client's session id: the targets' session ids and the
 *                  negotiated version, sealed (mcp_seal.c) so that any worker
 *                  serves any request of a session and no client can forge one
 *   mcp_seal.c     AES-256-GCM tokens under the master's key (control block)
 *
 * No per-session state lives in a worker's memory. */
#ifndef SL_WORKERS_MCP_H
#define SL_WORKERS_MCP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"
#include "common/snapshot.h"
#include "common/sse.h"

struct sl_conn;
struct ev_loop;
typedef struct sl_http_call sl_http_call;

#define SL_MCP_SEALED_MAX 65536        /* bytes of plaintext in a session id or cursor */
#define SL_MCP_MAX_REPLY (16u << 20)   /* bytes of one target's answer */
#define SL_MCP_CALL_TIMEOUT_MS 300000  /* a target call's limit when the route sets none */

/* ---- mcp_seal.c ---- */
/* "v1." token sealing text for `aad` (malloc'd), or NULL (too long, no memory). */
char *sl_mcp_seal(const uint8_t key[32], const char *aad, const char *text, size_t len);
/* The text a token seals (malloc'd, NUL-terminated), or NULL when it is not one
 * this key sealed for this aad (forged, altered, another Backend's). */
char *sl_mcp_unseal(const uint8_t key[32], const char *aad, const char *sealed, size_t len);

/* ---- mcp_session.c ---- */
#define SL_MCP_SESSION_TEXT_MAX 6144 /* bytes of a session's plaintext: its id stays under 8.3 KiB */
#define SL_MCP_TARGET_SID_MAX 512    /* a target's session id longer than this: the target is left out */

typedef struct sl_mcp_session {
    char version[32];  /* the negotiated protocol version */
    char caller[256];  /* who opened it (the client id authentication gave, "" for none): only they may use it */
    uint64_t created;  /* seconds since the epoch */
    json_t *targets;   /* object: target name -> its session id ("" when it gave none); a
                        * target that failed at initialize is not there */
    json_t *client;    /* the client's initialize params that a target initialised again
                        * needs ({"capabilities", "clientInfo"}), or NULL */
} sl_mcp_session;

/* The client's session id for s (malloc'd), or NULL. */
char *sl_mcp_session_id(const uint8_t key[32], const char *backend, const sl_mcp_session *s);
/* Reads a session id into s (free with sl_mcp_session_free). false: not a
 * session of this Backend, or older than max_age_s at now. */
bool sl_mcp_session_read(const uint8_t key[32], const char *backend, const char *id, size_t len, uint64_t now,
                         uint32_t max_age_s, sl_mcp_session *s);
void sl_mcp_session_free(sl_mcp_session *s);

/* ---- mcp_names.c ---- */
/* What a list method lists: the result's array and the field that names an entry. */
typedef struct sl_mcp_list_kind {
    const char *method; /* "tools/list" */
    const char *array;  /* "tools" */
    const char *key;    /* "name" */
    bool uri;           /* the key is a URI: prefixed "<target>+" (else "<target>_") */
} sl_mcp_list_kind;
/* The kind of a list method, or NULL. */
const sl_mcp_list_kind *sl_mcp_list_kind_of(const char *method);

/* Whether a target's names are prefixed on a Backend. */
bool sl_mcp_prefixed(const sl_snap_backend *be);
/* Whether name (as the target gives it) passes a target's include/exclude lists. */
bool sl_mcp_offered(const sl_snapshot *s, const sl_snap_mcp_target *t, const char *name);
/* Whether name matches a line of list (one "*" glob per line; the lists of
 * include/exclude, mcpAuthorization and mcpRateLimit). */
bool sl_mcp_listed(sl_slice list, const char *name);
/* "*" globs: whether name matches pattern. */
bool sl_mcp_glob(const char *pattern, size_t plen, const char *name);
/* The name a client sees for a target's name (malloc'd). */
char *sl_mcp_outer_name(const sl_snapshot *s, const sl_snap_mcp_target *t, bool uri, const char *name);
/* The target a client's (prefixed) name belongs to, and the target's own name
 * in *inner (a pointer into name); SL_SNAP_NONE when the prefix names none. */
uint32_t sl_mcp_split_name(const sl_snapshot *s, const sl_snap_backend *be, bool uri, const char *name,
                           const char **inner);
/* Adds a target's list result to merged[kind->array], prefixing and filtering
 * its entries; an entry whose name is already there (prefix mode Never) is
 * dropped, and counted in *clashes. */
void sl_mcp_merge_list(const sl_snapshot *s, const sl_snap_mcp_target *t, bool prefixed,
                       const sl_mcp_list_kind *kind, const json_t *result, json_t *merged, unsigned *clashes);

/* ---- mcp_target.c ---- */
/* A target's answer to one message. */
typedef struct sl_mcp_reply {
    long status;       /* HTTP status; 0: no answer (error says why) */
    char error[256];
    char *session;     /* the Mcp-Session-Id it gave (malloc'd), or NULL */
    json_t *response;  /* the JSON-RPC response (a message with an id and a result or error), or NULL */
    json_t *messages;  /* the other messages it sent along (notifications, requests), in order */
} sl_mcp_reply;

struct sl_http_reply;
/* Reads a target's answer as it arrives: JSON (kept until it is whole), or an
 * event stream, whose messages are taken one by one: the response goes to
 * reply.response, any other message to on_message as soon as it is complete
 * (NULL: to reply.messages). */
typedef struct sl_mcp_reader {
    sl_mcp_reply reply;
    bool started, stream;
    sl_sse sse;
    char *json;
    size_t json_len, json_cap;
    void (*on_message)(json_t *msg, void *arg); /* takes msg */
    void *arg;
} sl_mcp_reader;
void sl_mcp_reader_init(sl_mcp_reader *r);
void sl_mcp_reader_feed(sl_mcp_reader *r, const struct sl_http_reply *head, const char *data, size_t len);
/* The answer is over (final: its status, or the failure): r->reply is complete. */
void sl_mcp_reader_end(sl_mcp_reader *r, const struct sl_http_reply *final);
void sl_mcp_reader_free(sl_mcp_reader *r);

/* Sends one message (body; NULL for a DELETE) to a target at url with the
 * target's session id and the protocol version (NULL or "": none); the answer
 * comes to chunk as it arrives, then done (sl_http_call_stream). NULL: it
 * could not start. */
sl_http_call *sl_mcp_target_send(struct ev_loop *loop, const char *url, const char *http_method, const char *session,
                                 const char *version, const char *body, size_t len, uint32_t timeout_ms,
                                 void (*chunk)(const struct sl_http_reply *reply, const char *data, size_t len,
                                               void *arg),
                                 void (*done)(const struct sl_http_reply *reply, void *arg), void *arg);
/* Reads a whole HTTP answer of a target into out. */
void sl_mcp_reply_read(const struct sl_http_reply *in, sl_mcp_reply *out);
void sl_mcp_reply_free(sl_mcp_reply *r);
/* A field's value in header lines ("Name: value\r\n"...), copied into out (cap bytes); false: absent. */
bool sl_mcp_header(const char *lines, const char *name, char *out, size_t cap);

/* ---- mcp_metrics.c ---- */
/* What a request to an MCP route did, for metrics and the access log. */
typedef struct sl_mcp_log {
    char backend[96]; /* "namespace/name" */
    char target[64];  /* the one target it went to, or "" */
    char method[32];  /* the JSON-RPC method; GET, DELETE; "response" for a client's answer */
    char name[96];    /* the tool, prompt or resource it named, or "" */
    uint8_t outcome;  /* sl_mcp_outcome (common/control.h) */
    uint8_t protocol; /* sl_agent_protocol: MCP, or an A2A call (workers/a2a_card.c) */
} sl_mcp_log;
void sl_mcp_count(struct sl_conn *c, const sl_mcp_log *l);
const char *sl_mcp_outcome_name(uint8_t outcome);
/* The access log's fields of an MCP request (",\"mcp_method\":...", JSON), or 0 bytes. */
size_t sl_mcp_log_fields(const struct sl_conn *c, char *out, size_t cap);
/* mcp_gateway.c: the request's record, or NULL. */
const sl_mcp_log *sl_mcp_request_log(const struct sl_conn *c);

/* ---- mcp_modern.c ---- */
/* What a modern (2026-07-28) request's head says. */
typedef struct sl_mcp_modern_head {
    char version[32]; /* MCP-Protocol-Version ("": absent) */
    char method[64];  /* Mcp-Method */
    char name[2048];  /* Mcp-Name (as sent: maybe "=?base64?...?=") */
} sl_mcp_modern_head;
/* The modern version a request claims (its _meta's, else its header's), or
 * NULL: a legacy request. */
const char *sl_mcp_modern_version(const char *header, const json_t *msg);
/* Checks a modern request against the rules (headers agree with the body, the
 * version is one we speak, _meta is there): NULL when it passes, else the
 * JSON-RPC error to answer, with the HTTP status in *status. */
json_t *sl_mcp_modern_check(const sl_mcp_modern_head *h, const json_t *msg, int *status);
/* The initialize params a target gets for a modern client: its _meta's capabilities and info. */
json_t *sl_mcp_modern_client(const json_t *msg);
/* Shapes a response for a modern client: resultType, and for lists and reads ttlMs and cacheScope. */
void sl_mcp_modern_shape(json_t *response, const char *method);

/* ---- mcp_oauth.c ---- */
struct sl_route_request;
/* GET /.well-known/oauth-protected-resource<path> where <path> routes to an
 * MCP route with a jwt policy: answers its metadata (RFC 9728) and returns
 * true; false: not such a request (routing goes on). */
bool sl_mcp_oauth_metadata(struct sl_conn *c, const struct sl_route_request *rr, uint32_t port_index);
/* For a 401 on an MCP route: the challenge's resource_metadata parameter
 * (", resource_metadata=\"...\"") into out; false: none (another route). */
bool sl_mcp_oauth_challenge(const struct sl_conn *c, char *out, size_t cap);

/* ---- mcp_gateway.c ---- */
/* Serves the request on c (its body, whole, in c->req_hold) for MCP Backend be. */
void sl_mcp_serve(struct sl_conn *c, const sl_snap_backend *be);
/* Takes what the request's head says that the gateway needs later (the worker's
 * parsed head is reused while the body arrives). false: out of memory. */
bool sl_mcp_take_head(struct sl_conn *c);
/* Frees what sl_mcp_take_head kept (the request ended). */
void sl_mcp_end(struct sl_conn *c);

#endif

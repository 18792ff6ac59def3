/* The control block: one shared-memory page group mapped by the master before it
 * forks anything, so every worker shares it. It says which snapshot generation is
 * current and gives each worker a slot for its pid, the generation it runs, its
 * heartbeat and its counters (the master aggregates them for /metrics without
 * asking the workers). */
#ifndef SL_CONTROL_H
#define SL_CONTROL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_CONTROL_MAGIC 0x4c52544e43534cull /* "SLCNTRL" */
#define SL_MAX_WORKERS 512

/* LLM traffic of one worker by (backend, provider, model), after OpenTelemetry's
 * gen_ai metrics (admin/admin_metrics_ai.c renders them as histograms). The
 * worker fills a free entry's labels, then sets `used` (release); the master
 * reads entries whose `used` it sees set (acquire). A worker with more
 * distinct models than entries counts the rest in its last entry, model "other". */
#define SL_AI_METRIC_ENTRIES 16
#define SL_AI_BUCKETS 14
typedef struct sl_ai_metric {
    _Atomic uint32_t used;
    uint8_t provider; /* sl_ai_provider */
    uint8_t reserved[3];
    char backend[96]; /* "namespace/name" of the Backend */
    char model[64];   /* the model that answered */
    _Atomic uint64_t requests;                  /* answered 2xx, with or without usage */
    _Atomic uint64_t tokens[2];                 /* [0] input, [1] output: sums */
    _Atomic uint64_t token_count[2];            /* ...requests that reported them */
    _Atomic uint64_t token_buckets[2][SL_AI_BUCKETS]; /* per bucket (not cumulative) */
    _Atomic uint64_t duration_ms;               /* sum of request durations */
    _Atomic uint64_t duration_buckets[SL_AI_BUCKETS];
    _Atomic uint64_t ttft_ms, ttft_count;       /* streams: time to the first byte of the answer */
    _Atomic uint64_t ttft_buckets[SL_AI_BUCKETS];
    _Atomic uint64_t tpot_us, tpot_count;       /* streams: time per output token after the first */
    _Atomic uint64_t tpot_buckets[SL_AI_BUCKETS];
    _Atomic uint64_t cost_nusd;                 /* cost of the answers (ai.prices), nano-USD */
} sl_ai_metric;

/* MCP gateway metrics of one worker (workers/mcp_metrics.c), one entry per
 * (Backend, target, method, name, outcome); the last entry counts every other
 * ("other"). Rendered by admin/admin_metrics_mcp.c. */
#define SL_MCP_METRIC_ENTRIES 24
typedef enum { SL_MCP_OK = 0, SL_MCP_ERROR = 1, SL_MCP_FAILED = 2 } sl_mcp_outcome;
typedef enum { SL_AGENT_MCP = 0, SL_AGENT_A2A = 1 } sl_agent_protocol; /* which family an entry counts in */
typedef struct sl_mcp_metric {
    _Atomic uint32_t used;
    uint8_t outcome;  /* sl_mcp_outcome: a result, a JSON-RPC error, no answer (or refused) */
    uint8_t protocol; /* sl_agent_protocol */
    uint8_t reserved[2];
    char backend[96]; /* "namespace/name" of the Backend */
    char target[64];  /* the target a call went to ("" for what went to every target) */
    char method[32];  /* the JSON-RPC method (GET, DELETE for those requests) */
    char name[96];    /* the tool, prompt or resource, as the client named it ("" for none) */
    _Atomic uint64_t calls;
    _Atomic uint64_t duration_ms;
    _Atomic uint64_t duration_buckets[SL_AI_BUCKETS];
} sl_mcp_metric;

typedef struct sl_worker_slot {
    _Atomic int32_t pid;           /* 0: free */
    char gateway[320];             /* "namespace/name" (63 + 1 + 253), written by the master before fork */
    _Atomic uint32_t gateway_id;   /* which worker group */
    _Atomic uint64_t generation;   /* snapshot generation the worker switched to */
    _Atomic uint64_t heartbeat_ms; /* wall-clock ms of its last loop tick (the loop's clock, ev_now) */
    _Atomic uint64_t connections_accepted;
    _Atomic uint64_t connections_open;
    _Atomic uint64_t requests;
    _Atomic uint64_t responses_2xx, responses_3xx, responses_4xx, responses_5xx;
    _Atomic uint64_t upstream_connect_errors;
    _Atomic uint64_t upstream_timeouts;
    _Atomic uint64_t bad_requests;
    _Atomic uint64_t bytes_in, bytes_out;
    _Atomic uint64_t access_log_dropped;
    _Atomic uint64_t h2_connections, h2_streams, h2_abusive_closes;
    _Atomic uint64_t bytes_spliced; /* part of bytes_out that went by splice(2) */
    _Atomic uint64_t rate_limit_redis_errors; /* Global rate-limit checks that Redis did not answer */
    _Atomic uint64_t ai_failovers; /* requests moved to the next AI Backend of a chain */
    _Atomic uint64_t circuit_breaker_rejections; /* requests refused 503 by a backend's circuit breaker */
    _Atomic uint64_t trace_spans_exported, trace_spans_dropped, trace_export_errors; /* workers/tracing.c */
    sl_ai_metric ai[SL_AI_METRIC_ENTRIES];
    sl_mcp_metric mcp[SL_MCP_METRIC_ENTRIES];
} sl_worker_slot;

/* A TLS session ticket key (RFC 5077 layout: name, HMAC-SHA256 key, AES-256 key). */
typedef struct sl_ticket_key {
    uint8_t name[16];
    uint8_t hmac[32];
    uint8_t aes[32];
} sl_ticket_key;

typedef struct sl_control {
    uint64_t magic;
    int32_t master_pid;
    _Atomic uint64_t generation; /* current snapshot generation; 0: none yet */
    char snapshot_prefix[48];    /* shm name of generation G: prefix + decimal G */
    _Atomic uint64_t worker_restarts; /* unexpected worker exits, all groups */
    _Atomic uint64_t compiles;        /* snapshot compilations by the master (published or not) */
    /* The store's configuration resourceVersion that every worker of every
     * Gateway runs (set by the master as workers switch): a write with
     * ?wait=live returns once this reaches it. */
    _Atomic int64_t live_rv;
    _Atomic uint64_t snapshots_published;
    /* Session ticket keys shared by every worker, so that a session resumes on
     * whichever worker (or restarted worker) the client reaches. The master
     * rotates them (--tls-ticket-rotation); [0] seals new tickets, [0] and [1]
     * (the previous key) open them. A seqlock: ticket_seq is odd while the
     * master rewrites the keys. */
    _Atomic uint64_t ticket_seq;
    sl_ticket_key ticket_keys[2];
    /* The key that signs the MCP gateway's session ids (workers/mcp_session.c):
     * made once and kept in the state dir (mcp-session.key), so sessions
     * survive restarts; written by the master before any worker starts. */
    uint8_t mcp_session_key[32];
    sl_worker_slot slots[SL_MAX_WORKERS];
    /* Unexpected exits of each slot's workers since the slot last went to
     * another Gateway (kept apart from slots[], which a new worker clears):
     * the dashboard's restarts per worker group. */
    _Atomic uint32_t slot_restarts[SL_MAX_WORKERS];
} sl_control;

/* Messages on the unix socket between the master and each worker: the master
 * hands a worker a new listening socket (the descriptor travels as SCM_RIGHTS)
 * or takes one away, so a Gateway's listeners change without restarting its
 * workers or touching the connections of the listeners that stay. */
enum { SL_CTL_ADD_SOCKET = 1, SL_CTL_REMOVE_SOCKET = 2,
       /* The logs after the master reopened them (SIGUSR1, logrotate): the
        * descriptor replaces the worker's access log, or its standard error. */
       SL_CTL_ACCESS_LOG = 3, SL_CTL_LOG = 4 };

typedef struct sl_ctl_msg {
    uint32_t op;
    uint16_t port;
    uint16_t reserved;
    char address[64];
} sl_ctl_msg;

/* Writes the shm object name of a generation into out. */
/* Reads a consistent copy of both ticket keys (workers). */
void sl_ticket_keys_read(const sl_control *c, sl_ticket_key out[2]);
/* Master: makes new keys (rotate: the current one becomes the previous). */
void sl_ticket_keys_rotate(sl_control *c, bool keep_previous);

void sl_control_snapshot_name(const sl_control *c, uint64_t generation, char *out, size_t outlen);

#endif

/* Process-wide settings of the data plane and the admin API: one table gives each
 * setting's name, default, bounds and documentation, and drives command-line
 * parsing and --help; tests/unit/test_settings.c holds docs/configuration.md to
 * it (every setting has its row, with the same default and bounds). Values are
 * fixed at start-up and inherited by workers. */
#ifndef SL_SETTINGS_H
#define SL_SETTINGS_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
    SL_SET_HEADER_TIMEOUT_MS,    /* client must send a whole request head within this */
    SL_SET_BODY_IDLE_TIMEOUT_MS, /* no request body byte from the client for this long */
    SL_SET_KEEPALIVE_TIMEOUT_MS, /* idle keep-alive client connections are closed after */
    SL_SET_CONNECT_TIMEOUT_MS,   /* upstream TCP connect */
    SL_SET_RESPONSE_TIMEOUT_MS,  /* upstream silent for this long while we wait for it */
    SL_SET_UPSTREAM_IDLE_MS,     /* idle pooled upstream connections are closed after */
    SL_SET_DRAIN_TIMEOUT_MS,     /* SIGTERM: in-flight requests get this long to finish */
    SL_SET_TUNNEL_IDLE_MS,       /* upgraded connections (WebSocket) idle for this long are closed */
    SL_SET_MAX_HEAD_BYTES,       /* request head limit (431 beyond) */
    SL_SET_MAX_CONNECTIONS,      /* per worker; accept pauses beyond */
    SL_SET_TICKET_ROTATION_S,    /* TLS session ticket key lifetime */
    SL_SET_SPLICE_MIN_BYTES,     /* response bodies this large go upstream -> client by splice(2) */
    SL_SET_REQUEST_BUFFER_BYTES, /* request bodies up to this size are read whole before going upstream */
    SL_SET_AI_MAX_REQUEST_BYTES, /* the largest request body an AI route takes (it is read whole) */
    SL_SET_AI_BUFFER_BYTES,      /* per worker: all the AI request bodies read whole at once */
    SL_SET_AI_RESPONSE_TIMEOUT_MS, /* --response-timeout for AI backends (models think for minutes) */
    SL_SET_BODY_TIMEOUT_MS,      /* the whole request body must arrive within this */
    SL_SET_ADMIN_MAX_CONNECTIONS, /* admin API connections; the oldest idle ones are closed beyond */
    SL_SET_ADMIN_HEADER_TIMEOUT_S, /* admin API: time to send the first request head */
    SL_SET_ADMIN_IDLE_TIMEOUT_S,   /* admin API: idle keep-alive connections are closed after */
    SL_SET_SHARED_ZONE_BYTES,      /* shared-memory arena for state that outlives snapshots */
    SL_SET_RATE_LIMIT_ENTRIES,     /* local rate-limit buckets per Gateway (LRU beyond) */
    SL_SET_REDIS_TIMEOUT_MS,       /* a Redis call (Global rate limits) fails past this */
    SL_SET_AI_BUDGET_ENTRIES,      /* aiBudget keys per Gateway (LRU beyond) */
    SL_SET_ENDPOINT_SLOTS,         /* endpoints and backends whose state is shared (health, load) */
    SL_SET_METRICS_SERIES,         /* traffic series (route rules, listeners, backends) for /metrics */
    SL_SET_TRAFFIC_HISTORY_BYTES,  /* the master's per-second traffic history for the dashboard */
    SL_SET_COMPILE_INTERVAL_MS,    /* the master compiles at most this often (changes meanwhile are batched) */
    SL_SET_KUBE_LEASE_DURATION_S,  /* --kubernetes: a leader's Lease expires after this without renewal */
    SL_SET_COUNT
} sl_setting_id;

typedef struct sl_setting_def {
    const char *flag; /* command-line flag without "--" */
    int64_t value;
    int64_t def, min, max;
    const char *unit; /* "ms", "bytes", "" */
    const char *doc;
} sl_setting_def;

extern sl_setting_def sl_settings[SL_SET_COUNT];

static inline int64_t sl_setting(sl_setting_id id) { return sl_settings[id].value; }

/* Tries argv[*i] (and argv[*i + 1] for its value) as a setting flag, "--flag V" or
 * "--flag=V". Returns 1 when consumed (advancing *i), 0 when not a setting flag,
 * -1 when the value is invalid (message printed). */
int sl_settings_parse_arg(int argc, char **argv, int *i);
/* Prints one help line per setting. */
void sl_settings_usage(FILE *f);

#endif

#include "common/settings.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define S(flag, def, min, max, unit, doc) {flag, def, def, min, max, unit, doc}

sl_setting_def sl_settings[SL_SET_COUNT] = {
    [SL_SET_HEADER_TIMEOUT_MS] = S("header-timeout", 30000, 100, 3600000, "ms",
                                   "time a client has to send a whole request head (408 after)"),
    [SL_SET_BODY_IDLE_TIMEOUT_MS] = S("body-idle-timeout", 60000, 100, 3600000, "ms",
                                      "longest pause between request body bytes from a client"),
    [SL_SET_KEEPALIVE_TIMEOUT_MS] = S("keepalive-timeout", 75000, 0, 3600000, "ms",
                                      "idle client keep-alive connections are closed after this (0: no keep-alive)"),
    [SL_SET_CONNECT_TIMEOUT_MS] = S("connect-timeout", 5000, 10, 600000, "ms",
                                    "upstream TCP connect timeout (502 after)"),
    [SL_SET_RESPONSE_TIMEOUT_MS] = S("response-timeout", 60000, 10, 3600000, "ms",
                                     "longest upstream silence while a response is awaited or streamed (504)"),
    [SL_SET_UPSTREAM_IDLE_MS] = S("upstream-idle-timeout", 60000, 100, 3600000, "ms",
                                  "idle pooled upstream connections are closed after this"),
    [SL_SET_DRAIN_TIMEOUT_MS] = S("drain-timeout", 30000, 0, 3600000, "ms",
                                  "on SIGTERM, how long in-flight requests may take to finish"),
    [SL_SET_TUNNEL_IDLE_MS] = S("tunnel-idle-timeout", 3600000, 1000, 86400000, "ms",
                                "upgraded connections (WebSocket) with no traffic either way are closed after this"),
    [SL_SET_MAX_HEAD_BYTES] = S("max-header-bytes", 16384, 1024, 65536, "bytes",
                                "largest request head accepted (431 beyond)"),
    [SL_SET_MAX_CONNECTIONS] = S("max-connections", 16384, 16, 1000000, "",
                                 "client connections per worker; accepting pauses beyond"),
    [SL_SET_TICKET_ROTATION_S] = S("tls-ticket-rotation", 43200, 1, 604800, "s",
                                   "TLS session ticket keys are replaced after this (tickets stay valid for two periods)"),
    [SL_SET_SPLICE_MIN_BYTES] = S("splice-min-bytes", 32768, 0, 1099511627776LL, "bytes",
                                  "response bodies of known length with this much still to come move from upstream "
                                  "to client by splice(2), never copied through the worker (plain TCP both sides; "
                                  "0: never)"),
    [SL_SET_REQUEST_BUFFER_BYTES] = S("request-buffer-bytes", 65536, 0, 67108864, "bytes",
                                      "request bodies of known length up to this size are read whole before the "
                                      "upstream is connected, so slow clients hold no backend connection (0: never)"),
    [SL_SET_AI_MAX_REQUEST_BYTES] = S("ai-max-request-bytes", 16777216, 1024, 268435456, "bytes",
                                      "the largest request body a route to an AI Backend takes: such bodies are read "
                                      "whole (to be rewritten) before they go upstream; larger ones get 413"),
    [SL_SET_AI_BUFFER_BYTES] = S("ai-buffer-bytes", 268435456, 1048576, 17179869184, "bytes",
                                 "per worker, the request bodies of AI routes held whole at once (read before "
                                 "routing by model, or to be rewritten); a request that would go beyond gets 503"),
    [SL_SET_AI_RESPONSE_TIMEOUT_MS] = S("ai-response-timeout", 600000, 10, 3600000, "ms",
                                        "what --response-timeout is for AI Backends: how long a provider may stay "
                                        "silent (a model can think for minutes before its first byte); a route's or a "
                                        "policy's own timeouts still apply"),
    [SL_SET_BODY_TIMEOUT_MS] = S("body-timeout", 300000, 100, 86400000, "ms",
                                 "a client must send its whole request body within this of the request's start "
                                 "(408 after)"),
    [SL_SET_ADMIN_MAX_CONNECTIONS] = S("admin-max-connections", 256, 8, 100000, "",
                                       "admin API connections (one thread each); beyond, the oldest that sent no "
                                       "request, then the oldest idle, are closed to make room"),
    [SL_SET_ADMIN_HEADER_TIMEOUT_S] = S("admin-header-timeout", 10, 1, 3600, "s",
                                        "time an admin API client has to send its first complete request head"),
    [SL_SET_ADMIN_IDLE_TIMEOUT_S] = S("admin-idle-timeout", 120, 1, 86400, "s",
                                      "idle admin API keep-alive connections are closed after this"),
    [SL_SET_SHARED_ZONE_BYTES] = S("shared-zone-bytes", 268435456, 1048576, 68719476736LL, "bytes",
                                   "shared memory reserved for state that outlives configuration changes (rate "
                                   "limit buckets); pages cost memory only once used"),
    [SL_SET_RATE_LIMIT_ENTRIES] = S("rate-limit-entries", 65536, 64, 16777216, "",
                                    "local rate-limit buckets per Gateway (16 bytes each); beyond, the least "
                                    "recently used bucket is evicted"),
    [SL_SET_REDIS_TIMEOUT_MS] = S("redis-timeout", 200, 1, 10000, "ms",
                                  "a Redis call of a Global rate limit that takes longer fails (failureMode "
                                  "decides) and the worker reconnects"),
    [SL_SET_AI_BUDGET_ENTRIES] = S("ai-budget-entries", 16384, 64, 4194304, "",
                                   "aiBudget keys per Gateway (128 bytes each); beyond, the least recently "
                                   "charged key of a small neighbourhood is evicted and starts its period afresh"),
    [SL_SET_ENDPOINT_SLOTS] = S("endpoint-slots", 65536, 64, 16777216, "",
                                "endpoints and backends whose health, ejections and requests in flight are "
                                "shared by all workers (128 bytes each); beyond, the rest get none of that"),
    [SL_SET_METRICS_SERIES] = S("metrics-series", 16384, 16, 262144, "",
                                "route rules, listeners and backends with their own /metrics series (200 bytes "
                                "per worker each, once used); beyond, the rest share an overflow series per kind"),
    [SL_SET_TRAFFIC_HISTORY_BYTES] = S("traffic-history-bytes", 67108864, 1048576, 4294967296, "bytes",
                                       "memory for the master's 15-minute per-second traffic history (the "
                                       "dashboard's charts; 76 bytes per busy series per second, taken as used); "
                                       "when full, neighbouring seconds merge into longer samples"),
    [SL_SET_COMPILE_INTERVAL_MS] = S("compile-interval", 0, 0, 10000, "ms",
                                     "the master compiles a new snapshot at most this often: a change that comes "
                                     "sooner after the last compile waits, together with what else comes, until "
                                     "this has passed (a lone change is compiled at once); 0: after every change"),
    [SL_SET_KUBE_LEASE_DURATION_S] = S("kubernetes-lease-duration", 15, 3, 3600, "s",
                                       "--kubernetes: the leader (the replica that writes status to the cluster) "
                                       "renews its Lease every 2/15 of this; another replica takes over when it "
                                       "has not been renewed for this long"),
};

int sl_settings_parse_arg(int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    if (strncmp(arg, "--", 2) != 0)
        return 0;
    arg += 2;
    for (int s = 0; s < SL_SET_COUNT; s++) {
        size_t n = strlen(sl_settings[s].flag);
        if (strncmp(arg, sl_settings[s].flag, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
            continue;
        const char *value;
        if (arg[n] == '=') {
            value = arg + n + 1;
        } else if (*i + 1 < argc) {
            value = argv[++*i];
        } else {
            fprintf(stderr, "sluiced: --%s needs a value\n", sl_settings[s].flag);
            return -1;
        }
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end || v < sl_settings[s].min || v > sl_settings[s].max) {
            fprintf(stderr, "sluiced: --%s must be a whole number from %lld to %lld%s%s, not \"%s\"\n",
                    sl_settings[s].flag, (long long)sl_settings[s].min, (long long)sl_settings[s].max,
                    sl_settings[s].unit[0] ? " " : "", sl_settings[s].unit, value);
            return -1;
        }
        sl_settings[s].value = v;
        ++*i;
        return 1;
    }
    return 0;
}

void sl_settings_usage(FILE *f)
{
    for (int s = 0; s < SL_SET_COUNT; s++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s N", sl_settings[s].flag);
        fprintf(f, "  %-26s %s (default %lld%s%s)\n", flag, sl_settings[s].doc, (long long)sl_settings[s].def,
                sl_settings[s].unit[0] ? " " : "", sl_settings[s].unit);
    }
}

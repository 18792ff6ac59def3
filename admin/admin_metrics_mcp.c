/* /metrics: the MCP gateway's series, summed over every worker's entries
 * (common/control.h sl_mcp_metric) by Gateway, Backend, target, method, name
 * and outcome, and the A2A proxy's calls by Backend and method:
 *   sluice_mcp_requests_total, sluice_a2a_requests_total                counters
 *   sluice_mcp_request_duration_seconds, sluice_a2a_request_duration_seconds
 *                                         histograms (to the end of the answer) */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_metrics.h"
#include "common/ai_buckets.h"

typedef struct mcp_sum {
    char gateway[320], backend[96], target[64], method[32], name[96];
    uint8_t outcome, protocol;
    uint64_t calls, duration_ms, buckets[SL_AI_BUCKETS];
} mcp_sum;

#define MAX_SERIES 2048

static bool same(const mcp_sum *d, const sl_worker_slot *s, const sl_mcp_metric *m)
{
    return d->outcome == m->outcome && d->protocol == m->protocol && strncmp(d->gateway, s->gateway, sizeof(s->gateway)) == 0 &&
           strncmp(d->backend, m->backend, sizeof(m->backend)) == 0 &&
           strncmp(d->target, m->target, sizeof(m->target)) == 0 &&
           strncmp(d->method, m->method, sizeof(m->method)) == 0 && strncmp(d->name, m->name, sizeof(m->name)) == 0;
}

static size_t gather(const sl_control *c, mcp_sum *sums)
{
    size_t n = 0;
    for (int i = 0; i < SL_MAX_WORKERS; i++) {
        const sl_worker_slot *s = &c->slots[i];
        if (!atomic_load(&s->pid))
            continue;
        for (int k = 0; k < SL_MCP_METRIC_ENTRIES; k++) {
            const sl_mcp_metric *m = &s->mcp[k];
            if (!atomic_load_explicit(&m->used, memory_order_acquire))
                continue;
            mcp_sum *d = NULL;
            for (size_t j = 0; j < n && !d; j++)
                if (same(&sums[j], s, m))
                    d = &sums[j];
            if (!d) {
                if (n == MAX_SERIES)
                    continue;
                d = &sums[n++];
                memset(d, 0, sizeof(*d));
                snprintf(d->gateway, sizeof(d->gateway), "%.*s", (int)sizeof(s->gateway) - 1, s->gateway);
                snprintf(d->backend, sizeof(d->backend), "%.*s", (int)sizeof(m->backend) - 1, m->backend);
                snprintf(d->target, sizeof(d->target), "%.*s", (int)sizeof(m->target) - 1, m->target);
                snprintf(d->method, sizeof(d->method), "%.*s", (int)sizeof(m->method) - 1, m->method);
                snprintf(d->name, sizeof(d->name), "%.*s", (int)sizeof(m->name) - 1, m->name);
                d->outcome = m->outcome;
                d->protocol = m->protocol;
            }
            /* Buckets before the count (the worker adds to the count last). */
            for (int b = 0; b < SL_AI_BUCKETS; b++)
                d->buckets[b] += atomic_load(&m->duration_buckets[b]);
            d->duration_ms += atomic_load(&m->duration_ms);
            d->calls += atomic_load(&m->calls);
        }
    }
    return n;
}

/* A label value as Prometheus's text format wants it: \, " and newlines escaped. */
static void label(FILE *f, const char *name, const char *value, bool comma)
{
    fprintf(f, "%s%s=\"", comma ? "," : "", name);
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void labels(FILE *f, const mcp_sum *s)
{
    static const char *const outcomes[] = {"ok", "error", "failed"};
    label(f, "gateway", s->gateway, false);
    label(f, "backend", s->backend, true);
    if (s->protocol == SL_AGENT_MCP) {
        label(f, "target", s->target, true);
        label(f, "method", s->method, true);
        label(f, "name", s->name, true);
    } else {
        label(f, "method", s->method, true);
    }
    label(f, "status", outcomes[s->outcome < 3 ? s->outcome : 2], true);
}

/* One family's counter and histogram: sluice_<family>_requests_total and
 * sluice_<family>_request_duration_seconds, of the sums of that protocol. */
static void family(FILE *f, const mcp_sum *sums, size_t n, uint8_t protocol, const char *name, const char *help)
{
    fprintf(f, "# HELP sluice_%s_requests_total %s Counters restart with each worker process.\n"
               "# TYPE sluice_%s_requests_total counter\n", name, help, name);
    for (size_t i = 0; i < n; i++) {
        if (sums[i].protocol != protocol)
            continue;
        fprintf(f, "sluice_%s_requests_total{", name);
        labels(f, &sums[i]);
        fprintf(f, "} %llu\n", (unsigned long long)sums[i].calls);
    }
    fprintf(f, "# HELP sluice_%s_request_duration_seconds Duration of those requests, to the end of the answer.\n"
               "# TYPE sluice_%s_request_duration_seconds histogram\n", name, name);
    for (size_t i = 0; i < n; i++) {
        if (sums[i].protocol != protocol)
            continue;
        uint64_t cumulative = 0;
        for (int b = 0; b < SL_AI_BUCKETS; b++) {
            cumulative += sums[i].buckets[b];
            fprintf(f, "sluice_%s_request_duration_seconds_bucket{", name);
            labels(f, &sums[i]);
            fprintf(f, ",le=\"%g\"} %llu\n", (double)sl_ai_ms_bounds[b] / 1000.0, (unsigned long long)cumulative);
        }
        uint64_t count = sums[i].calls < cumulative ? cumulative : sums[i].calls;
        fprintf(f, "sluice_%s_request_duration_seconds_bucket{", name);
        labels(f, &sums[i]);
        fprintf(f, ",le=\"+Inf\"} %llu\nsluice_%s_request_duration_seconds_sum{", (unsigned long long)count, name);
        labels(f, &sums[i]);
        fprintf(f, "} %.17g\nsluice_%s_request_duration_seconds_count{", (double)sums[i].duration_ms / 1000.0, name);
        labels(f, &sums[i]);
        fprintf(f, "} %llu\n", (unsigned long long)count);
    }
}

char *sl_admin_metrics_mcp(const sl_control *c)
{
    mcp_sum *sums = calloc(MAX_SERIES, sizeof(*sums));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = sums ? open_memstream(&buf, &len) : NULL;
    if (!f) {
        free(sums);
        return NULL;
    }
    size_t n = gather(c, sums);
    family(f, sums, n, SL_AGENT_MCP, "mcp",
           "Requests to MCP routes, by target, JSON-RPC method, tool (prompt, resource) name and outcome (ok: a "
           "result; error: a JSON-RPC error; failed: no answer).");
    family(f, sums, n, SL_AGENT_A2A, "a2a",
           "JSON-RPC calls to A2A routes, by method and outcome (ok: an HTTP status below 400; failed: otherwise).");
    bool failed = ferror(f) != 0;
    fclose(f);
    free(sums);
    if (failed) {
        free(buf);
        return NULL;
    }
    return buf;
}

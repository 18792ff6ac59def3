/* /metrics: the gen_ai series of LLM traffic, summed over every worker's
 * entries (common/control.h sl_ai_metric) by Gateway, Backend, provider and
 * model. Names follow OpenTelemetry's gen_ai semantic conventions as Prometheus
 * spells them (dots to underscores, the unit as suffix):
 *   gen_ai_client_token_usage                  histogram, by gen_ai_token_type
 *   gen_ai_client_operation_duration_seconds   histogram
 *   gen_ai_server_time_to_first_token_seconds  histogram (streamed answers) */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_metrics.h"
#include "common/ai.h"
#include "common/ai_buckets.h"

typedef struct ai_sum {
    char gateway[320], backend[96], model[64]; /* (gateway: as sl_worker_slot.gateway) */
    uint8_t provider;
    uint64_t requests, tokens[2], token_count[2], token_buckets[2][SL_AI_BUCKETS];
    uint64_t duration_ms, duration_buckets[SL_AI_BUCKETS];
    uint64_t ttft_ms, ttft_count, ttft_buckets[SL_AI_BUCKETS];
    uint64_t tpot_us, tpot_count, tpot_buckets[SL_AI_BUCKETS];
    uint64_t cost_nusd;
} ai_sum;

#define MAX_SERIES 1024

/* Buckets are read before counts (the worker adds to counts first), so a
 * bucket never shows more than its histogram's count. */
static void add(ai_sum *d, const sl_ai_metric *m)
{
    for (int b = 0; b < SL_AI_BUCKETS; b++) {
        d->duration_buckets[b] += atomic_load(&m->duration_buckets[b]);
        d->ttft_buckets[b] += atomic_load(&m->ttft_buckets[b]);
        d->tpot_buckets[b] += atomic_load(&m->tpot_buckets[b]);
        for (int t = 0; t < 2; t++)
            d->token_buckets[t][b] += atomic_load(&m->token_buckets[t][b]);
    }
    d->requests += atomic_load(&m->requests);
    for (int t = 0; t < 2; t++) {
        d->tokens[t] += atomic_load(&m->tokens[t]);
        d->token_count[t] += atomic_load(&m->token_count[t]);
    }
    d->duration_ms += atomic_load(&m->duration_ms);
    d->ttft_ms += atomic_load(&m->ttft_ms);
    d->ttft_count += atomic_load(&m->ttft_count);
    d->tpot_us += atomic_load(&m->tpot_us);
    d->tpot_count += atomic_load(&m->tpot_count);
    d->cost_nusd += atomic_load(&m->cost_nusd);
}

static size_t gather(const sl_control *c, ai_sum *sums)
{
    size_t n = 0;
    for (int i = 0; i < SL_MAX_WORKERS; i++) {
        const sl_worker_slot *s = &c->slots[i];
        if (!atomic_load(&s->pid))
            continue;
        for (int k = 0; k < SL_AI_METRIC_ENTRIES; k++) {
            const sl_ai_metric *m = &s->ai[k];
            if (!atomic_load_explicit(&m->used, memory_order_acquire))
                continue;
            ai_sum *d = NULL;
            for (size_t j = 0; j < n && !d; j++)
                if (sums[j].provider == m->provider && strncmp(sums[j].gateway, s->gateway, sizeof(s->gateway)) == 0 &&
                    strncmp(sums[j].backend, m->backend, sizeof(m->backend)) == 0 &&
                    strncmp(sums[j].model, m->model, sizeof(m->model)) == 0)
                    d = &sums[j];
            if (!d) {
                if (n == MAX_SERIES)
                    continue;
                d = &sums[n++];
                memset(d, 0, sizeof(*d));
                snprintf(d->gateway, sizeof(d->gateway), "%.*s", (int)sizeof(s->gateway) - 1, s->gateway);
                snprintf(d->backend, sizeof(d->backend), "%.*s", (int)sizeof(m->backend) - 1, m->backend);
                snprintf(d->model, sizeof(d->model), "%.*s", (int)sizeof(m->model) - 1, m->model);
                d->provider = m->provider;
            }
            add(d, m);
        }
    }
    return n;
}

/* One histogram's series: cumulative buckets, +Inf, sum and count. */
static void histogram(FILE *f, const char *name, const char *labels, const uint64_t *bounds, double scale,
                      const uint64_t *buckets, double sum, uint64_t count)
{
    uint64_t cumulative = 0;
    for (int b = 0; b < SL_AI_BUCKETS; b++) {
        cumulative += buckets[b];
        fprintf(f, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, (double)bounds[b] * scale,
                (unsigned long long)cumulative);
    }
    if (count < cumulative)
        count = cumulative;
    fprintf(f, "%s_bucket{%s,le=\"+Inf\"} %llu\n%s_sum{%s} %.17g\n%s_count{%s} %llu\n", name, labels,
            (unsigned long long)count, name, labels, sum, name, labels, (unsigned long long)count);
}

/* The labels of a series of one (gateway, backend, provider, model). */
static void series_labels(const ai_sum *s, char *out, size_t cap)
{
    snprintf(out, cap, "gateway=\"%s\",backend=\"%s\",gen_ai_provider_name=\"%s\",gen_ai_response_model=\"%s\"",
             s->gateway, s->backend, sl_ai_provider_get(s->provider)->otel_name, s->model);
}

char *sl_admin_metrics_ai(const sl_control *c)
{
    ai_sum *sums = calloc(MAX_SERIES, sizeof(*sums));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = sums ? open_memstream(&buf, &len) : NULL;
    if (!f) {
        free(sums);
        return NULL;
    }
    size_t n = gather(c, sums);
    fprintf(f, "# HELP gen_ai_client_token_usage Tokens per answered LLM request, by token type (the provider's "
               "usage). Counters restart with each worker process.\n# TYPE gen_ai_client_token_usage histogram\n");
    static const char *const types[2] = {"input", "output"};
    char labels[512];
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < 2; t++) {
            snprintf(labels, sizeof(labels),
                     "gateway=\"%s\",backend=\"%s\",gen_ai_provider_name=\"%s\",gen_ai_response_model=\"%s\","
                     "gen_ai_token_type=\"%s\"",
                     sums[i].gateway, sums[i].backend, sl_ai_provider_get(sums[i].provider)->otel_name, sums[i].model,
                     types[t]);
            histogram(f, "gen_ai_client_token_usage", labels, sl_ai_token_bounds, 1, sums[i].token_buckets[t],
                      (double)sums[i].tokens[t], sums[i].token_count[t]);
        }
    /* The timing histograms of each series: duration, and for streams the time
     * to the first token and per output token. */
    static const struct {
        const char *name, *help;
        const uint64_t *bounds;
        double scale, per_second; /* a bound in seconds; the sum's units in a second */
        size_t buckets, sum, count;
        bool streams_only; /* a series without streams has none */
    } timings[] = {
        {"gen_ai_client_operation_duration_seconds", "Duration of answered LLM requests, to the last byte.",
         sl_ai_ms_bounds, 0.001, 1000.0, offsetof(ai_sum, duration_buckets), offsetof(ai_sum, duration_ms),
         offsetof(ai_sum, requests), false},
        {"gen_ai_server_time_to_first_token_seconds",
         "Time from a streamed LLM request to the first bytes of its answer.", sl_ai_ms_bounds, 0.001, 1000.0,
         offsetof(ai_sum, ttft_buckets), offsetof(ai_sum, ttft_ms), offsetof(ai_sum, ttft_count), true},
        {"gen_ai_server_time_per_output_token_seconds",
         "Time per output token of a streamed answer after its first bytes.", sl_ai_us_bounds, 0.000001, 1000000.0,
         offsetof(ai_sum, tpot_buckets), offsetof(ai_sum, tpot_us), offsetof(ai_sum, tpot_count), true},
    };
    for (size_t k = 0; k < sizeof(timings) / sizeof(timings[0]); k++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", timings[k].name, timings[k].help, timings[k].name);
        for (size_t i = 0; i < n; i++) {
            const char *base = (const char *)&sums[i];
            uint64_t count = *(const uint64_t *)(base + timings[k].count);
            if (!count && timings[k].streams_only)
                continue;
            series_labels(&sums[i], labels, sizeof(labels));
            histogram(f, timings[k].name, labels, timings[k].bounds, timings[k].scale,
                      (const uint64_t *)(base + timings[k].buckets),
                      (double)*(const uint64_t *)(base + timings[k].sum) / timings[k].per_second, count);
        }
    }
    fprintf(f, "# HELP sluice_ai_cost_usd_total What the answered LLM requests cost, by the Backend's ai.prices "
               "(USD).\n# TYPE sluice_ai_cost_usd_total counter\n");
    for (size_t i = 0; i < n; i++) {
        if (!sums[i].cost_nusd)
            continue;
        series_labels(&sums[i], labels, sizeof(labels));
        fprintf(f, "sluice_ai_cost_usd_total{%s} %llu.%09llu\n", labels,
                (unsigned long long)(sums[i].cost_nusd / 1000000000), (unsigned long long)(sums[i].cost_nusd % 1000000000));
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    free(sums);
    if (failed) {
        free(buf);
        return NULL;
    }
    return buf;
}

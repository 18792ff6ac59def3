/* gen_ai metrics of the worker (common/control.h sl_ai_metric), counted when an
 * AI answer completes. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/ai.h"
#include "common/ai_prices.h"
#include "common/ai_buckets.h"
#include "workers/ai.h"
#include "workers/conn.h"

/* The entry for (backend, provider, model): found, or claimed when free; the
 * last entry counts every other (labels "other"). Only
 * this worker writes its slot, so claiming needs no lock: labels first, then
 * `used` with release order for the master's reads). */
static sl_ai_metric *entry_for(sl_worker_slot *slot, const char *backend, uint8_t provider, const char *model)
{
    for (unsigned i = 0; i < SL_AI_METRIC_ENTRIES; i++) {
        sl_ai_metric *m = &slot->ai[i];
        bool last = i == SL_AI_METRIC_ENTRIES - 1;
        if (!atomic_load_explicit(&m->used, memory_order_relaxed)) {
            snprintf(m->backend, sizeof(m->backend), "%s", last ? "other" : backend);
            snprintf(m->model, sizeof(m->model), "%s", last ? "other" : model);
            m->provider = provider;
            atomic_store_explicit(&m->used, 1, memory_order_release);
            return m;
        }
        if (last || (m->provider == provider && strcmp(m->backend, backend) == 0 && strcmp(m->model, model) == 0))
            return m;
    }
    return NULL;
}

int64_t sl_ai_cost_nusd(const sl_snapshot *s, const sl_snap_backend *be, const sl_ai_usage *u)
{
    if (u->input < 0 && u->output < 0)
        return -1;
    /* The line of the answering model, else the "*" line. */
    const char *p = sl_snap_cstr(s, be->ai_prices), *end = p + be->ai_prices.len, *line = NULL;
    size_t mlen = strlen(u->model);
    while (p < end) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *nl = tab ? memchr(tab, '\n', (size_t)(end - tab)) : NULL;
        if (!nl)
            break;
        size_t n = (size_t)(tab - p);
        if (n == mlen && memcmp(p, u->model, n) == 0) {
            line = tab + 1;
            break;
        }
        if (n == 1 && *p == '*' && !line)
            line = tab + 1;
        p = nl + 1;
    }
    double in_price, out_price, cached_price; /* micro-USD per million tokens */
    if (line) {
        if (sscanf(line, "%lf\t%lf\t%lf", &in_price, &out_price, &cached_price) != 3)
            return -1;
    } else {
        /* Neither the model nor "*" in ai.prices: the shipped price of a well-known model. */
        const sl_ai_price *d = sl_ai_default_price(u->model);
        if (!d)
            return -1;
        in_price = d->input * 1e6;
        out_price = d->output * 1e6;
        cached_price = d->cached_input * 1e6;
    }
    double in = u->input > 0 ? (double)u->input : 0, out = u->output > 0 ? (double)u->output : 0;
    double cached = u->cached > 0 ? (double)u->cached : 0;
    /* OpenAI's prompt_tokens (and Gemini's promptTokenCount) include the cached
     * ones; Anthropic's input_tokens and Bedrock's inputTokens do not. */
    bool apart = be->ai_provider == SL_AI_ANTHROPIC || be->ai_provider == SL_AI_BEDROCK;
    double fresh = apart ? in : (in > cached ? in - cached : 0);
    double nusd = (fresh * in_price + cached * cached_price + out * out_price) / 1000.0;
    return nusd < 9e18 ? (int64_t)(nusd + 0.5) : INT64_MAX;
}

void sl_ai_metrics_record(sl_conn *c, const sl_snap_backend *be, const sl_ai_usage *u, uint64_t duration_ms,
                          int64_t ttft_ms, int64_t cost_nusd)
{
    const sl_snapshot *s = &c->snap->s;
    char backend[96], model[64];
    snprintf(backend, sizeof(backend), "%s/%s", sl_snap_cstr(s, be->ns), sl_snap_cstr(s, be->name));
    /* A label value: printable, no quote or backslash (the master writes it as is). */
    size_t m = 0;
    for (const char *p = u->model[0] ? u->model : "unknown"; *p && m < sizeof(model) - 1; p++)
        if ((unsigned char)*p > 0x20 && *p != '"' && *p != '\\' && *p != 0x7f)
            model[m++] = *p;
    model[m] = '\0';
    sl_ai_metric *e = entry_for(c->w->slot, backend, be->ai_provider, model);
    if (!e)
        return;
    /* Counts before buckets (the master reads buckets first: its sums never
     * show a bucket above its count). */
    atomic_fetch_add(&e->requests, 1);
    int64_t counts[2] = {u->input, u->output};
    for (int t = 0; t < 2; t++) {
        if (counts[t] < 0)
            continue;
        atomic_fetch_add(&e->tokens[t], (uint64_t)counts[t]);
        atomic_fetch_add(&e->token_count[t], 1);
        unsigned b = sl_ai_bucket(sl_ai_token_bounds, (uint64_t)counts[t]);
        if (b < SL_AI_BUCKETS)
            atomic_fetch_add(&e->token_buckets[t][b], 1);
    }
    atomic_fetch_add(&e->duration_ms, duration_ms);
    if (cost_nusd > 0)
        atomic_fetch_add(&e->cost_nusd, (uint64_t)cost_nusd);
    unsigned b = sl_ai_bucket(sl_ai_ms_bounds, duration_ms);
    if (b < SL_AI_BUCKETS)
        atomic_fetch_add(&e->duration_buckets[b], 1);
    if (ttft_ms >= 0) {
        atomic_fetch_add(&e->ttft_ms, (uint64_t)ttft_ms);
        atomic_fetch_add(&e->ttft_count, 1);
        b = sl_ai_bucket(sl_ai_ms_bounds, (uint64_t)ttft_ms);
        if (b < SL_AI_BUCKETS)
            atomic_fetch_add(&e->ttft_buckets[b], 1);
        /* Time per output token: the stream after its first bytes, over the
         * tokens after the first (OpenTelemetry's gen_ai.server.time_per_output_token). */
        if (u->output >= 2 && duration_ms >= (uint64_t)ttft_ms) {
            uint64_t tpot = (duration_ms - (uint64_t)ttft_ms) * 1000 / (uint64_t)(u->output - 1);
            atomic_fetch_add(&e->tpot_us, tpot);
            atomic_fetch_add(&e->tpot_count, 1);
            b = sl_ai_bucket(sl_ai_us_bounds, tpot);
            if (b < SL_AI_BUCKETS)
                atomic_fetch_add(&e->tpot_buckets[b], 1);
        }
    }
}

/* gen_ai metrics of the worker (common/control.h sl_ai_metric), counted when an
 * AI answer completes. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/ai.h"
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

void sl_ai_metrics_record(sl_conn *c, const sl_snap_backend *be, const sl_ai_usage *u, uint64_t duration_ms,
                          int64_t ttft_ms)
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

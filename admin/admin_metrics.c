#include "admin/admin_metrics.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_internal.h"
#include "common/sl.h"
#include "common/zones.h"
#include "daemon/snapshot_render.h"
#include "workers/ai_budget_table.h"
#include "workers/policy.h"

/* Upper bounds (seconds) of the latency histogram's buckets; +Inf is implied. */
static const double latency_bounds[SL_ADMIN_LATENCY_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                 0.05,   0.1,   0.25,   0.5,   1.0,  5.0};

void sl_admin_metrics_init(sl_admin_metrics *m)
{
    memset(m, 0, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
}

void sl_admin_metrics_destroy(sl_admin_metrics *m) { pthread_mutex_destroy(&m->lock); }

void sl_admin_metrics_observe(sl_admin_metrics *m, const char *verb, unsigned code, double seconds)
{
    pthread_mutex_lock(&m->lock);
    sl_admin_series *found = NULL;
    for (int i = 0; i < m->nseries; i++)
        if (m->series[i].code == code && strcmp(m->series[i].verb, verb) == 0)
            found = &m->series[i];
    if (!found && m->nseries < SL_ADMIN_METRIC_SERIES) {
        found = &m->series[m->nseries++];
        snprintf(found->verb, sizeof(found->verb), "%s", verb);
        found->code = code;
    }
    if (found)
        found->count++;
    for (int i = 0; i < SL_ADMIN_LATENCY_BUCKETS; i++)
        if (seconds <= latency_bounds[i]) {
            m->latency_buckets[i]++;
            break;
        }
    m->latency_count++;
    m->latency_sum += seconds;
    pthread_mutex_unlock(&m->lock);
}

void sl_admin_metrics_watch_delta(sl_admin_metrics *m, int delta)
{
    pthread_mutex_lock(&m->lock);
    m->watches_open += (uint64_t)(int64_t)delta;
    pthread_mutex_unlock(&m->lock);
}

/* A growing text; on out of memory it stops growing and says so in `failed`. */
typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} text;

static bool text_begin(text *t)
{
    *t = (text){malloc(4096), 0, 4096, false};
    if (t->buf)
        t->buf[0] = '\0';
    return t->buf != NULL;
}

/* The finished text, or NULL (and nothing to free) when memory ran out. */
static char *text_end(text *t)
{
    if (!t->failed)
        return t->buf;
    free(t->buf);
    return NULL;
}

static void emit(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(text *t, const char *fmt, ...)
{
    while (!t->failed) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n) * 2;
        char *nb = realloc(t->buf, cap);
        if (!nb) {
            /* Out of memory inside an admin request: the caller answers 500,
             * the master (and every Gateway it supervises) keeps running. */
            t->failed = true;
            return;
        }
        t->buf = nb;
        t->cap = cap;
    }
}

char *sl_admin_metrics_render(sl_admin_metrics *m, int64_t resource_version)
{
    text t;
    if (!text_begin(&t))
        return NULL;
    pthread_mutex_lock(&m->lock);
    emit(&t, "# HELP sluice_admin_requests_total Admin API requests by Kubernetes verb and HTTP status code.\n"
             "# TYPE sluice_admin_requests_total counter\n");
    for (int i = 0; i < m->nseries; i++)
        emit(&t, "sluice_admin_requests_total{verb=\"%s\",code=\"%u\"} %llu\n", m->series[i].verb,
             m->series[i].code, (unsigned long long)m->series[i].count);
    emit(&t, "# HELP sluice_admin_request_duration_seconds Admin API request latency (watches excluded).\n"
             "# TYPE sluice_admin_request_duration_seconds histogram\n");
    uint64_t cumulative = 0;
    for (int i = 0; i < SL_ADMIN_LATENCY_BUCKETS; i++) {
        cumulative += m->latency_buckets[i];
        emit(&t, "sluice_admin_request_duration_seconds_bucket{le=\"%g\"} %llu\n", latency_bounds[i],
             (unsigned long long)cumulative);
    }
    emit(&t, "sluice_admin_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
         (unsigned long long)m->latency_count);
    emit(&t, "sluice_admin_request_duration_seconds_sum %.6f\n", m->latency_sum);
    emit(&t, "sluice_admin_request_duration_seconds_count %llu\n", (unsigned long long)m->latency_count);
    emit(&t, "# HELP sluice_admin_watches Open watch streams.\n# TYPE sluice_admin_watches gauge\n"
             "sluice_admin_watches %llu\n",
         (unsigned long long)m->watches_open);
    pthread_mutex_unlock(&m->lock);
    emit(&t, "# HELP sluice_store_resource_version The store's current global resourceVersion.\n"
             "# TYPE sluice_store_resource_version gauge\nsluice_store_resource_version %lld\n",
         (long long)resource_version);
    return text_end(&t);
}

/* Data plane counters, summed per Gateway over the live workers' slots in the
 * control block (each worker writes only its own slot). */
typedef struct gw_sum {
    char gateway[320]; /* as sl_worker_slot.gateway */
    uint64_t workers, accepted, open, requests, r2, r3, r4, r5, connect_errors, timeouts, bad, in, out, dropped, h2_conns, h2_streams, h2_abuse, spliced, redis_errors, ai_failovers, breaker, spans, spans_dropped, span_errors;
} gw_sum;

static size_t sum_workers(const sl_control *c, gw_sum *sums, size_t max)
{
    size_t n = 0;
    for (int i = 0; i < SL_MAX_WORKERS; i++) {
        const sl_worker_slot *s = &c->slots[i];
        if (!atomic_load(&s->pid))
            continue;
        gw_sum *g = NULL;
        for (size_t k = 0; k < n; k++)
            if (strncmp(sums[k].gateway, s->gateway, sizeof(sums[k].gateway)) == 0)
                g = &sums[k];
        if (!g) {
            if (n == max)
                continue;
            g = &sums[n++];
            memset(g, 0, sizeof(*g));
            memcpy(g->gateway, s->gateway, sizeof(g->gateway));
            g->gateway[sizeof(g->gateway) - 1] = '\0';
        }
        g->workers++;
        g->accepted += atomic_load(&s->connections_accepted);
        g->open += atomic_load(&s->connections_open);
        g->requests += atomic_load(&s->requests);
        g->r2 += atomic_load(&s->responses_2xx);
        g->r3 += atomic_load(&s->responses_3xx);
        g->r4 += atomic_load(&s->responses_4xx);
        g->r5 += atomic_load(&s->responses_5xx);
        g->connect_errors += atomic_load(&s->upstream_connect_errors);
        g->timeouts += atomic_load(&s->upstream_timeouts);
        g->bad += atomic_load(&s->bad_requests);
        g->in += atomic_load(&s->bytes_in);
        g->out += atomic_load(&s->bytes_out);
        g->dropped += atomic_load(&s->access_log_dropped);
        g->h2_conns += atomic_load(&s->h2_connections);
        g->h2_streams += atomic_load(&s->h2_streams);
        g->h2_abuse += atomic_load(&s->h2_abusive_closes);
        g->spliced += atomic_load(&s->bytes_spliced);
        g->redis_errors += atomic_load(&s->rate_limit_redis_errors);
        g->ai_failovers += atomic_load(&s->ai_failovers);
        g->breaker += atomic_load(&s->circuit_breaker_rejections);
        g->spans += atomic_load(&s->trace_spans_exported);
        g->spans_dropped += atomic_load(&s->trace_spans_dropped);
        g->span_errors += atomic_load(&s->trace_export_errors);
    }
    return n;
}

static char *render_dataplane(const sl_control *c)
{
    static gw_sum sums[256];
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    text t;
    if (!text_begin(&t))
        return NULL;
    pthread_mutex_lock(&lock);
    size_t n = sum_workers(c, sums, 256);
    static const struct {
        const char *name, *type, *help;
        size_t offset;
    } series[] = {
        {"sluice_workers", "gauge", "Worker processes running.", offsetof(gw_sum, workers)},
        {"sluice_connections_accepted_total", "counter", "Client connections accepted.", offsetof(gw_sum, accepted)},
        {"sluice_connections_open", "gauge", "Client connections open.", offsetof(gw_sum, open)},
        {"sluice_requests_total", "counter", "Requests received.", offsetof(gw_sum, requests)},
        {"sluice_bad_requests_total", "counter", "Requests refused as malformed (400-class).", offsetof(gw_sum, bad)},
        {"sluice_upstream_connect_errors_total", "counter", "Upstream connections that failed.",
         offsetof(gw_sum, connect_errors)},
        {"sluice_upstream_timeouts_total", "counter", "Upstream timeouts (504).", offsetof(gw_sum, timeouts)},
        {"sluice_received_bytes_total", "counter", "Bytes read from clients.", offsetof(gw_sum, in)},
        {"sluice_sent_bytes_total", "counter", "Bytes written to clients.", offsetof(gw_sum, out)},
        {"sluice_spliced_bytes_total", "counter",
         "Response body bytes passed from upstream to client by splice(2), never copied (part of sent bytes).",
         offsetof(gw_sum, spliced)},
        {"sluice_rate_limit_redis_errors_total", "counter",
         "Global rate-limit checks that Redis did not answer (down, slow, not configured): failureMode decided.",
         offsetof(gw_sum, redis_errors)},
        {"sluice_ai_failovers_total", "counter",
         "Requests moved to the next AI Backend of a chain (ai.fallbacks) after a 429, a 5xx or no answer.",
         offsetof(gw_sum, ai_failovers)},
        {"sluice_circuit_breaker_rejections_total", "counter",
         "Requests refused (503) because a backend's circuit breaker was open (BackendPolicy circuitBreakers).",
         offsetof(gw_sum, breaker)},
        {"sluice_http2_connections_total", "counter", "Client connections that spoke HTTP/2.",
         offsetof(gw_sum, h2_conns)},
        {"sluice_http2_streams_total", "counter", "HTTP/2 request streams opened by clients.",
         offsetof(gw_sum, h2_streams)},
        {"sluice_http2_abusive_connections_total", "counter",
         "HTTP/2 connections closed for abuse (rapid reset, CONTINUATION or header floods).",
         offsetof(gw_sum, h2_abuse)},
        {"sluice_access_log_dropped_total", "counter", "Access log lines dropped (log destination full).",
         offsetof(gw_sum, dropped)},
        {"sluice_trace_spans_exported_total", "counter", "Spans handed to the OTLP exporter (--otlp-endpoint).",
         offsetof(gw_sum, spans)},
        {"sluice_trace_spans_dropped_total", "counter",
         "Spans dropped because the exporter's batch was full (collector slow or down).", offsetof(gw_sum, spans_dropped)},
        {"sluice_trace_export_errors_total", "counter", "OTLP exports the collector did not accept or answer.",
         offsetof(gw_sum, span_errors)},
    };
    for (size_t k = 0; k < SL_ARRAY_LEN(series); k++) {
        emit(&t, "# HELP %s %s Counters restart with each worker process.\n# TYPE %s %s\n", series[k].name,
             series[k].help, series[k].name, series[k].type);
        for (size_t g = 0; g < n; g++)
            emit(&t, "%s{gateway=\"%s\"} %llu\n", series[k].name, sums[g].gateway,
                 (unsigned long long)*(const uint64_t *)((const char *)&sums[g] + series[k].offset));
    }
    emit(&t, "# HELP sluice_responses_total Responses by status class.\n# TYPE sluice_responses_total counter\n");
    for (size_t g = 0; g < n; g++)
        emit(&t,
             "sluice_responses_total{gateway=\"%s\",code=\"2xx\"} %llu\nsluice_responses_total{gateway=\"%s\",code=\"3xx\"} "
             "%llu\nsluice_responses_total{gateway=\"%s\",code=\"4xx\"} %llu\nsluice_responses_total{gateway=\"%s\",code=\"5xx\"} %llu\n",
             sums[g].gateway, (unsigned long long)sums[g].r2, sums[g].gateway, (unsigned long long)sums[g].r3,
             sums[g].gateway, (unsigned long long)sums[g].r4, sums[g].gateway, (unsigned long long)sums[g].r5);
    pthread_mutex_unlock(&lock);
    emit(&t, "# HELP sluice_worker_restarts_total Workers that exited unexpectedly and were restarted.\n"
             "# TYPE sluice_worker_restarts_total counter\nsluice_worker_restarts_total %llu\n",
         (unsigned long long)atomic_load(&c->worker_restarts));
    emit(&t, "# HELP sluice_snapshot_compiles_total Configuration compilations (a change that compiles to the "
             "running snapshot is not published).\n# TYPE sluice_snapshot_compiles_total counter\n"
             "sluice_snapshot_compiles_total %llu\n",
         (unsigned long long)atomic_load(&c->compiles));
    emit(&t, "# HELP sluice_snapshot_generation Generation of the current configuration snapshot.\n"
             "# TYPE sluice_snapshot_generation gauge\nsluice_snapshot_generation %llu\n",
         (unsigned long long)atomic_load(&c->generation));
    emit(&t, "# HELP sluice_rate_limit_evictions_total Local rate-limit buckets evicted to make room (the table of "
             "--rate-limit-entries was full around their key).\n# TYPE sluice_rate_limit_evictions_total counter\n");
    for (uint32_t i = 0; sl_zones_arena && i < SL_ZONES_MAX; i++) {
        const sl_zone_entry *z = &sl_zones_arena->zones[i];
        if (atomic_load(&z->live) && strncmp(z->name, "rateLimit:", 10) == 0)
            emit(&t, "sluice_rate_limit_evictions_total{gateway=\"%s\"} %llu\n", z->name + 10,
                 (unsigned long long)sl_rate_limit_evictions(sl_zone_get(i, 0)));
    }
    emit(&t, "# HELP sluice_ai_budget_evictions_total aiBudget keys evicted to make room (the table of "
             "--ai-budget-entries was full around their key; they start their period afresh).\n"
             "# TYPE sluice_ai_budget_evictions_total counter\n");
    for (uint32_t i = 0; sl_zones_arena && i < SL_ZONES_MAX; i++) {
        const sl_zone_entry *z = &sl_zones_arena->zones[i];
        const sl_budget_table *bt = atomic_load(&z->live) && strncmp(z->name, "aiBudget:", 9) == 0
                                        ? sl_zone_get(i, sizeof(sl_budget_table))
                                        : NULL;
        if (bt)
            emit(&t, "sluice_ai_budget_evictions_total{gateway=\"%s\"} %llu\n", z->name + 9,
                 (unsigned long long)atomic_load(&bt->evictions));
    }
    return text_end(&t);
}

static char *render_connections(sl_admin_conns *conns)
{
    text t;
    if (!text_begin(&t))
        return NULL;
    pthread_mutex_lock(&conns->lock);
    unsigned open = conns->open;
    uint64_t evicted = conns->evicted_total;
    pthread_mutex_unlock(&conns->lock);
    emit(&t, "# HELP sluice_admin_connections Admin API connections open.\n"
             "# TYPE sluice_admin_connections gauge\nsluice_admin_connections %u\n"
             "# HELP sluice_admin_connections_evicted_total Admin API connections closed to make room for new ones "
             "(--admin-max-connections).\n# TYPE sluice_admin_connections_evicted_total counter\n"
             "sluice_admin_connections_evicted_total %llu\n",
         open, (unsigned long long)evicted);
    return text_end(&t);
}

/* Endpoint and backend series (daemon/backend_state.c), from the current snapshot. */
static char *render_backends(const sl_control *c)
{
    char why[200];
    json_t *j = c ? sl_snapshot_with_current(c, sl_snapshot_backend_metrics, NULL, why, sizeof(why)) : NULL;
    char *series = strdup(j ? json_string_value(j) : ""); /* no snapshot yet: no series */
    json_decref(j);
    return series;
}

/* One scrape's body is kept for the next (scrapes come every few seconds; the
 * pages of a buffer of megabytes would otherwise be faulted in afresh each
 * time). MHD gives the body back through give_back once it is sent. */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static char *kept;
static size_t kept_cap;
#define KEEP_AT_MOST (256u << 20)

char *sl_admin_metrics_buffer_take(size_t *cap)
{
    pthread_mutex_lock(&kept_lock);
    char *b = kept;
    *cap = kept_cap;
    kept = NULL;
    pthread_mutex_unlock(&kept_lock);
    return b;
}

typedef struct sent_body {
    char *buf;
    size_t cap;
} sent_body;

static void give_back(void *cls)
{
    sent_body *b = cls;
    pthread_mutex_lock(&kept_lock);
    if (!kept && b->cap <= KEEP_AT_MOST) {
        kept = b->buf;
        kept_cap = b->cap;
        b->buf = NULL;
    }
    pthread_mutex_unlock(&kept_lock);
    free(b->buf);
    free(b);
}

enum MHD_Result sl_admin_handle_metrics(sl_admin_req *r)
{
    enum { NPARTS = 8 };
    /* The route, listener and backend series first: the largest part (megabytes
     * at 10,000 routes), which the others are appended to without a copy of it. */
    size_t series_len = 0, series_cap = 0;
    char *series = sl_admin_metrics_series(&series_len, &series_cap);
    char *parts[NPARTS] = {series, sl_admin_metrics_render(&r->admin->metrics, sl_store_current_rv(r->admin->store)),
                           render_connections(&r->admin->conns),
                           r->admin->control ? render_dataplane(r->admin->control) : strdup(""),
                           r->admin->control ? sl_admin_metrics_ai(r->admin->control) : strdup(""),
                           render_backends(r->admin->control),
                           r->admin->control ? sl_admin_metrics_mcp(r->admin->control) : strdup(""),
                           r->admin->extra_metrics ? r->admin->extra_metrics(r->admin->extra_metrics_arg) : NULL};
    if (!parts[NPARTS - 1])
        parts[NPARTS - 1] = strdup(""); /* (none, or a subsystem out of memory: the rest is still worth answering) */
    size_t len = 0, lens[NPARTS];
    bool ok = true;
    for (int i = 0; i < NPARTS; i++) {
        ok = ok && parts[i];
        lens[i] = !parts[i] ? 0 : i == 0 ? series_len : strlen(parts[i]);
        len += lens[i];
    }
    /* The largest part (the route series, megabytes at 10,000 routes) grows
     * into the whole body rather than being copied into a new one. */
    int big = 0;
    for (int i = 1; i < NPARTS; i++)
        big = lens[i] > lens[big] ? i : big;
    size_t cap = big == 0 && series_cap >= len + 1 ? series_cap : len + 1;
    char *body = !ok ? NULL : cap == series_cap && big == 0 ? parts[0] : realloc(parts[big], len + 1);
    if (body) {
        parts[big] = NULL;
        size_t before = 0;
        for (int i = 0; i < big; i++)
            before += lens[i];
        if (before)
            memmove(body + before, body, lens[big]);
        size_t at = 0;
        for (int i = 0; i < NPARTS; i++) {
            if (i != big)
                memcpy(body + at, parts[i], lens[i]);
            at += lens[i];
        }
        body[at] = '\0';
    }
    for (int i = 0; i < NPARTS; i++)
        free(parts[i]);
    if (!body)
        return sl_admin_reply_error(r, 500, "InternalError", NULL, NULL, NULL, "out of memory rendering metrics");
    sent_body *sent = malloc(sizeof(*sent));
    if (!sent) {
        free(body);
        return sl_admin_reply_error(r, 500, "InternalError", NULL, NULL, NULL, "out of memory rendering metrics");
    }
    *sent = (sent_body){body, cap};
    return sl_admin_reply_owned_cb(r, 200, "text/plain; version=0.0.4; charset=utf-8", body, len, give_back, sent);
}

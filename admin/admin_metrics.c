#include "admin/admin_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_internal.h"

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

typedef struct {
    char *buf;
    size_t len, cap;
} text;

static void emit(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(text *t, const char *fmt, ...)
{
    for (;;) {
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
        if (!nb)
            abort(); /* rendering metrics of a few KiB: out of memory is fatal */
        t->buf = nb;
        t->cap = cap;
    }
}

char *sl_admin_metrics_render(sl_admin_metrics *m, int64_t resource_version)
{
    text t = {malloc(4096), 0, 4096};
    if (!t.buf)
        abort();
    t.buf[0] = '\0';
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
    return t.buf;
}

enum MHD_Result sl_admin_handle_metrics(sl_admin_req *r)
{
    char *body = sl_admin_metrics_render(&r->admin->metrics, sl_store_current_rv(r->admin->store));
    enum MHD_Result res = sl_admin_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", body);
    free(body);
    return res;
}

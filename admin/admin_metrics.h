/* The admin API's own metrics: requests by verb and code, and a latency
 * histogram, rendered in the Prometheus text format at /metrics. */
#ifndef SL_ADMIN_METRICS_H
#define SL_ADMIN_METRICS_H

#include <pthread.h>
#include <stdint.h>

#include "common/control.h"

#define SL_ADMIN_METRIC_SERIES 64
#define SL_ADMIN_LATENCY_BUCKETS 12

typedef struct sl_admin_series {
    char verb[24]; /* longest: "deletecollection" */
    unsigned code;
    uint64_t count;
} sl_admin_series;

typedef struct sl_admin_metrics {
    pthread_mutex_t lock;
    sl_admin_series series[SL_ADMIN_METRIC_SERIES];
    int nseries;
    uint64_t latency_buckets[SL_ADMIN_LATENCY_BUCKETS]; /* cumulative at render time */
    uint64_t latency_count;
    double latency_sum;
    uint64_t watches_open;
} sl_admin_metrics;

void sl_admin_metrics_init(sl_admin_metrics *m);
void sl_admin_metrics_destroy(sl_admin_metrics *m);
/* Records one finished request. */
void sl_admin_metrics_observe(sl_admin_metrics *m, const char *verb, unsigned code, double seconds);
void sl_admin_metrics_watch_delta(sl_admin_metrics *m, int delta);
/* Renders every metric; returns a malloc'd string. */
char *sl_admin_metrics_render(sl_admin_metrics *m, int64_t resource_version);
/* admin_metrics_ai.c: the gen_ai series of the workers' LLM traffic (malloc'd),
 * or NULL when out of memory. */
char *sl_admin_metrics_ai(const sl_control *c);
/* admin_metrics_mcp.c: the MCP gateway's series (malloc'd), or NULL when out of memory. */
char *sl_admin_metrics_mcp(const sl_control *c);
/* admin_metrics_series.c: the series of route rules, listeners and backends
 * (malloc'd), or NULL when out of memory. */
char *sl_admin_metrics_series(size_t *length, size_t *capacity);
/* A buffer kept from the last scrape (NULL: none; *cap its size), and the
 * answer's free callback that gives it back (admin_metrics.c). */
char *sl_admin_metrics_buffer_take(size_t *cap);

#endif

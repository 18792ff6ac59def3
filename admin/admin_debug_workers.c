/* GET /debug/workers: each Gateway's worker group as it runs now (pids, the
 * snapshot generation each runs, how long since its loop last ticked, how
 * many times its workers exited unexpectedly and were restarted), its
 * counters, and its listeners' latency histogram summed, so that a client
 * polling it (the dashboard's Overview) works out requests/s, the error rate
 * and percentiles over its own interval. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin/admin_internal.h"
#include "common/series.h"
#include "daemon/series_ids.h"

static json_t *gateway_entry(json_t *gateways, const char *name)
{
    json_t *g = json_object_get(gateways, name);
    if (!g) {
        g = json_pack("{s:s, s:[], s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:[]}", "gateway", name, "workers",
                      "restarts", (json_int_t)0, "connectionsOpen", (json_int_t)0, "requests", (json_int_t)0,
                      "responses", "1xx", (json_int_t)0,
                      "2xx", (json_int_t)0, "3xx", (json_int_t)0, "4xx", (json_int_t)0, "5xx", (json_int_t)0,
                      "latencySumUs", (json_int_t)0, "latencyBuckets");
        for (int i = 0; i <= SL_SERIES_BUCKETS; i++)
            json_array_append_new(json_object_get(g, "latencyBuckets"), json_integer(0));
        json_object_set_new(gateways, name, g);
    }
    return g;
}

static void add(json_t *obj, const char *key, uint64_t v)
{
    json_object_set_new(obj, key, json_integer(json_integer_value(json_object_get(obj, key)) + (json_int_t)v));
}

/* The listener series of each Gateway, summed: requests by class and latency. */
static void add_listener_series(json_t *gateways)
{
    uint32_t end = sl_series_ids_end_index();
    char key[1400];
    for (uint32_t index = SL_SERIES_FIRST; index < end; index++) {
        if (!sl_series_key(index, key, sizeof(key)) || strncmp(key, "listener\t", 9) != 0)
            continue;
        char *ns = key + 9, *gw = strchr(ns, '\t'), *listener = gw ? strchr(gw + 1, '\t') : NULL;
        if (!listener)
            continue;
        *gw++ = '/';
        *listener = '\0';
        sl_series s;
        sl_series_sum_index(index, &s);
        json_t *g = gateway_entry(gateways, ns);
        static const char *const classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
        for (int i = 0; i < 5; i++)
            add(json_object_get(g, "responses"), classes[i], s.responses[i]);
        add(g, "latencySumUs", s.latency_us);
        json_t *buckets = json_object_get(g, "latencyBuckets");
        for (int i = 0; i <= SL_SERIES_BUCKETS; i++)
            json_array_set_new(buckets, (size_t)i,
                               json_integer(json_integer_value(json_array_get(buckets, (size_t)i)) + (json_int_t)s.latency[i]));
    }
}

enum MHD_Result sl_admin_debug_workers(sl_admin_req *r)
{
    const sl_control *c = r->admin->control;
    json_t *gateways = json_object();
    struct timespec ts; /* (workers stamp their heartbeat with their loop's clock: the wall clock) */
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (int i = 0; c && i < SL_MAX_WORKERS; i++) {
        const sl_worker_slot *s = &c->slots[i];
        int32_t pid = atomic_load(&s->pid);
        if (!pid)
            continue;
        char name[sizeof(s->gateway) + 1];
        snprintf(name, sizeof(name), "%.*s", (int)sizeof(s->gateway), s->gateway);
        json_t *g = gateway_entry(gateways, name);
        uint64_t beat = atomic_load(&s->heartbeat_ms);
        json_array_append_new(json_object_get(g, "workers"),
                              json_pack("{s:i, s:I, s:I}", "pid", (int)pid, "generation",
                                        (json_int_t)atomic_load(&s->generation), "heartbeatAgeMs",
                                        (json_int_t)(now > beat ? now - beat : 0)));
        add(g, "connectionsOpen", atomic_load(&s->connections_open));
        add(g, "requests", atomic_load(&s->requests));
    }
    /* Restarts of every slot of a running group, also those whose worker is
     * between a crash and its restart (no pid now). */
    for (int i = 0; c && i < SL_MAX_WORKERS; i++) {
        char name[sizeof(c->slots[i].gateway) + 1];
        snprintf(name, sizeof(name), "%.*s", (int)sizeof(c->slots[i].gateway), c->slots[i].gateway);
        json_t *g = name[0] ? json_object_get(gateways, name) : NULL;
        if (g)
            add(g, "restarts", atomic_load(&c->slot_restarts[i]));
    }
    add_listener_series(gateways);
    json_t *list = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(gateways, k, v) json_array_append(list, v);
    json_decref(gateways);
    json_t *bounds = json_array();
    for (int i = 0; i < SL_SERIES_BUCKETS; i++)
        json_array_append_new(bounds, json_real((double)sl_series_bounds_us[i] / 1e6));
    return sl_admin_reply_json(
        r, 200,
        json_pack("{s:I, s:I, s:o, s:o}", "generation", (json_int_t)(c ? atomic_load(&c->generation) : 0),
                  "workerRestarts", (json_int_t)(c ? atomic_load(&c->worker_restarts) : 0), "latencyBoundsSeconds",
                  bounds, "gateways", list));
}

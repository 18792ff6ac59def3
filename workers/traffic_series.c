/* The worker's share of the traffic series (common/series.h): per route rule
 * and listener when a request ends, per backend as each attempt goes. Each
 * worker adds only to its own section of the table. */
#include "workers/traffic_series.h"

#include "common/series.h"
#include "workers/worker_internal.h"

static sl_series *series_of(const sl_conn *c, uint32_t packed)
{
    return sl_series_named((uint32_t)c->w->args.slot, packed);
}

static sl_series *backend_series(const sl_conn *c)
{
    if (!c->snap || c->backend_index == SL_SNAP_NONE)
        return NULL;
    const sl_snapshot *s = &c->snap->s;
    if (c->backend_index >= sl_snap_count(s, SL_SNAP_BACKENDS))
        return NULL;
    return series_of(c, SL_SNAP_GET(s, SL_SNAP_BACKENDS, sl_snap_backend, c->backend_index)->series);
}

void sl_traffic_request_done(sl_conn *c)
{
    if (!c->route || !sl_series_tab)
        return;
    uint64_t now = sl_now_us();
    uint64_t us = now > c->started_us ? now - c->started_us : 0;
    sl_series *both[2] = {series_of(c, c->route->series), series_of(c, c->route->listener_series)};
    for (int i = 0; i < 2; i++) {
        sl_series *s = both[i];
        if (!s)
            continue;
        sl_series_observe(s, c->status, us);
        sl_series_add(&s->bytes_in, c->bytes_in);
        sl_series_add(&s->bytes_out, c->bytes_out);
    }
}

void sl_traffic_attempt(sl_conn *c, bool retry)
{
    c->attempt_us = sl_now_us();
    sl_series *s = backend_series(c);
    if (!s)
        return;
    sl_series_add(&s->attempts, 1);
    if (retry)
        sl_series_add(&s->retries, 1);
}

void sl_traffic_answered(sl_conn *c, int status)
{
    sl_series *s = backend_series(c);
    if (!s)
        return;
    uint64_t now = sl_now_us();
    sl_series_observe(s, status, now > c->attempt_us ? now - c->attempt_us : 0);
}

void sl_traffic_connect_error(sl_conn *c)
{
    atomic_fetch_add(&c->w->slot->upstream_connect_errors, 1);
    sl_series *s = backend_series(c);
    if (s)
        sl_series_add(&s->connect_errors, 1);
}

void sl_traffic_timeout(sl_conn *c)
{
    atomic_fetch_add(&c->w->slot->upstream_timeouts, 1);
    sl_series *s = backend_series(c);
    if (s)
        sl_series_add(&s->timeouts, 1);
}

/* What the MCP gateway tells about each request (workers/mcp.h): the worker's
 * metric entries (common/control.h sl_mcp_metric; rendered by
 * admin/admin_metrics_mcp.c) and the access log's mcp_* fields. */
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ai_buckets.h"
#include "workers/conn.h"
#include "workers/mcp.h"

/* The entry for these labels: found, or claimed when free (only this worker
 * writes its slot: labels first, then `used` with release order for the
 * master's reads); the last entry counts every other. */
static sl_mcp_metric *entry_for(sl_worker_slot *slot, const sl_mcp_log *l)
{
    for (unsigned i = 0; i < SL_MCP_METRIC_ENTRIES; i++) {
        sl_mcp_metric *m = &slot->mcp[i];
        bool last = i == SL_MCP_METRIC_ENTRIES - 1;
        if (!atomic_load_explicit(&m->used, memory_order_relaxed)) {
            snprintf(m->backend, sizeof(m->backend), "%s", last ? "other" : l->backend);
            snprintf(m->target, sizeof(m->target), "%s", last ? "other" : l->target);
            snprintf(m->method, sizeof(m->method), "%s", last ? "other" : l->method);
            snprintf(m->name, sizeof(m->name), "%s", last ? "other" : l->name);
            m->outcome = last ? SL_MCP_FAILED : l->outcome;
            m->protocol = l->protocol;
            atomic_store_explicit(&m->used, 1, memory_order_release);
            return m;
        }
        if (last || (m->outcome == l->outcome && m->protocol == l->protocol && strncmp(m->backend, l->backend, sizeof(m->backend) - 1) == 0 &&
                     strncmp(m->target, l->target, sizeof(m->target) - 1) == 0 &&
                     strncmp(m->method, l->method, sizeof(m->method) - 1) == 0 &&
                     strncmp(m->name, l->name, sizeof(m->name) - 1) == 0))
            return m;
    }
    return NULL;
}

void sl_mcp_count(sl_conn *c, const sl_mcp_log *l)
{
    sl_mcp_metric *m = entry_for(c->w->slot, l);
    if (!m)
        return;
    uint64_t ms = sl_now_ms() - c->started_ms;
    unsigned b = sl_ai_bucket(sl_ai_ms_bounds, ms);
    if (b < SL_AI_BUCKETS) /* (above the last bound: only the count has it, +Inf) */
        atomic_fetch_add(&m->duration_buckets[b], 1);
    atomic_fetch_add(&m->duration_ms, ms);
    atomic_fetch_add(&m->calls, 1);
}

const char *sl_mcp_outcome_name(uint8_t outcome)
{
    return outcome == SL_MCP_OK ? "ok" : outcome == SL_MCP_ERROR ? "error" : "failed";
}

/* ,"key":"value" with the value JSON-escaped; 0 when it does not fit. */
static size_t field(char *out, size_t cap, const char *key, const char *value)
{
    json_t *s = json_string(value);
    char *v = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    json_decref(s);
    int n = v ? snprintf(out, cap, ",\"%s\":%s", key, v) : 0;
    free(v);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t sl_mcp_log_fields(const sl_conn *c, char *out, size_t cap)
{
    const sl_mcp_log *l = c->mcp ? sl_mcp_request_log(c) : NULL;
    if (!l || !l->method[0])
        return 0;
    size_t n = 0;
    n += field(out + n, cap - n, "mcp_method", l->method);
    if (l->target[0])
        n += field(out + n, cap - n, "mcp_target", l->target);
    if (l->name[0])
        n += field(out + n, cap - n, "mcp_name", l->name);
    n += field(out + n, cap - n, "mcp_status", sl_mcp_outcome_name(l->outcome));
    return n;
}

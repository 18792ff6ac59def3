/* GET /debug/traffic: one object's last minutes from the traffic history
 * (traffic_history.c), as columns of one value per sample (a second, or more
 * where the ring merged seconds to make room): the time and span, the
 * responses by class, latency percentiles (from the summed bucket counts, as
 * Prometheus' histogram_quantile interpolates) and, for a Gateway, its LLM
 * tokens by model and aiBudget spending by key. A second the ring no longer
 * holds (dropped for memory) is null, not zero. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/series_ids.h"
#include "daemon/traffic_history.h"
#include "daemon/traffic_history_internal.h"

static sl_traffic_history_state *const h = &sl_history_state;

typedef struct refs {
    uint32_t *ref;
    size_t n, cap;
} refs;

/* The refs (with current tags) of the series whose key starts with prefix
 * (and is exactly prefix + section when section is given). */
static void find_series(const char *prefix, const char *section, refs *out)
{
    size_t plen = strlen(prefix);
    uint32_t end = sl_series_ids_end_index();
    char key[1400];
    for (uint32_t index = SL_SERIES_FIRST; index < end && sl_series_tags; index++) {
        if (!sl_series_key(index, key, sizeof(key)) || strncmp(key, prefix, plen) != 0)
            continue;
        if (section && strcmp(key + plen, section) != 0)
            continue;
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 16;
            uint32_t *grown = realloc(out->ref, cap * sizeof(*grown));
            if (!grown)
                return;
            out->ref = grown, out->cap = cap;
        }
        uint32_t tag = atomic_load_explicit(&sl_series_tags[index], memory_order_relaxed) & SL_SERIES_TAG_MASK;
        out->ref[out->n++] = index << TAG_BITS | tag;
    }
}

/* The q-quantile in seconds of a latency histogram (per-bucket counts). */
static double quantile(const uint64_t *buckets, uint64_t total, double q)
{
    double rank = q * (double)total, below = 0;
    for (int i = 0; i < BUCKETS; i++) {
        if (buckets[i] && below + (double)buckets[i] >= rank) {
            if (i == SL_SERIES_BUCKETS) /* above the last bound: all we know is "more than it" */
                return (double)sl_series_bounds_us[i - 1] / 1e6;
            double lo = i ? (double)sl_series_bounds_us[i - 1] : 0, hi = (double)sl_series_bounds_us[i];
            return (lo + (hi - lo) * (rank - below) / (double)buckets[i]) / 1e6;
        }
        below += (double)buckets[i];
    }
    return 0;
}

static json_t *column(json_t *obj, const char *key)
{
    json_t *c = json_object_get(obj, key);
    if (!c) {
        c = json_array();
        json_object_set_new(obj, key, c);
    }
    return c;
}

static const char *const class_names[CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const struct {
    const char *name;
    double q;
} percentiles[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}};

/* One second of the object's series: its columns get a value each. */
static void add_second(const sl_history_ring *ring, const sl_history_sample *s, const refs *r, json_t *responses,
                       json_t *latency)
{
    uint64_t sum[CLASSES + BUCKETS] = {0}, total = 0;
    bool unknown = s->dropped;
    for (size_t i = 0; i < r->n; i++) {
        const sl_history_entry *e = sl_history_find(ring, s, r->ref[i]);
        unknown |= !e && s->partial; /* (in a second that did not fit whole, "none" may be "not kept") */
        for (int v = 0; e && v < CLASSES + BUCKETS; v++)
            sum[v] += e->v[v];
    }
    for (int b = 0; b < BUCKETS; b++)
        total += sum[CLASSES + b];
    for (int c = 0; c < CLASSES; c++)
        json_array_append_new(column(responses, class_names[c]), unknown ? json_null() : json_integer((json_int_t)sum[c]));
    for (size_t p = 0; p < sizeof(percentiles) / sizeof(*percentiles); p++)
        json_array_append_new(column(latency, percentiles[p].name),
                              total && !unknown ? json_real(quantile(sum + CLASSES, total, percentiles[p].q))
                                                   : json_null());
}

/* The label's fields split at tabs into f (up to n); the count. */
static int split_label(const char *label, char *buf, size_t cap, char **f, int n)
{
    if (!label)
        return 0;
    snprintf(buf, cap, "%s", label);
    int k = 0;
    for (char *p = buf; k < n; k++) {
        f[k] = p;
        p = strchr(p, '\t');
        if (!p)
            return k + 1;
        *p++ = '\0';
    }
    return k;
}

#define MAX_GROUPS 20 /* models or keys in an answer: the busiest */

/* One model's or key's columns over the answer's seconds. */
typedef struct group {
    char name[300], unit[8];
    uint64_t total;
    uint64_t *v[3]; /* [column][second] */
} group;

static int by_total(const void *a, const void *b)
{
    uint64_t x = ((const group *)a)->total, y = ((const group *)b)->total;
    return x > y ? -1 : x < y;
}

/* A Gateway's LLM tokens by model ({model: {requests, input, output}}) or
 * aiBudget spending by key and unit ([{key, unit, spent}]): the MAX_GROUPS
 * busiest, a value for every second (zero where it had none), so every column
 * is as long as `time`; *more counts the ones left out. */
static json_t *label_columns(const sl_history_ring *ring, uint32_t first, uint32_t n, const char *gateway, bool keys,
                             size_t *more)
{
    group *groups = NULL;
    size_t ngroups = 0, cap = 0;
    int columns = keys ? 1 : 3;
    json_t *index = json_object(); /* "name\tunit" -> its group */
    for (uint32_t i = 0; i < n; i++) {
        const sl_history_sample *s = sl_history_sample_at(ring, first + i);
        for (uint32_t j = 0; !s->dropped && j < s->count; j++) {
            const sl_history_entry *e = sl_history_entry_at(ring, s, j);
            char buf[700], *f[3];
            if (split_label(sl_history_label_text(&h->labels, e->ref), buf, sizeof(buf), f, 3) < 3 ||
                strcmp(f[0], gateway) != 0)
                continue;
            const char *name = keys ? f[1] : f[2], *unit = keys ? f[2] : "";
            char id[320];
            snprintf(id, sizeof(id), "%s\t%s", name, unit);
            json_t *at = json_object_get(index, id);
            group *g = at ? &groups[json_integer_value(at)] : NULL;
            if (!g) {
                if (ngroups == cap) {
                    size_t grown_cap = cap ? cap * 2 : 16;
                    group *grown = realloc(groups, grown_cap * sizeof(*grown));
                    if (!grown)
                        continue;
                    groups = grown, cap = grown_cap;
                }
                json_object_set_new(index, id, json_integer((json_int_t)ngroups));
                g = &groups[ngroups++];
                memset(g, 0, sizeof(*g));
                snprintf(g->name, sizeof(g->name), "%s", name);
                snprintf(g->unit, sizeof(g->unit), "%s", unit);
                for (int c = 0; c < columns; c++)
                    g->v[c] = calloc(n, sizeof(uint64_t));
            }
            for (int c = 0; c < columns; c++)
                if (g->v[c])
                    g->v[c][i] += e->v[c];
            g->total += keys ? e->v[0] : (uint64_t)e->v[1] + e->v[2];
        }
    }
    json_decref(index);
    if (ngroups)
        qsort(groups, ngroups, sizeof(*groups), by_total);
    json_t *out = keys ? json_array() : json_object();
    static const char *const ai_columns[3] = {"requests", "input", "output"};
    for (size_t k = 0; k < ngroups; k++) {
        group *g = &groups[k];
        if (k < MAX_GROUPS) {
            json_t *cols[3] = {NULL, NULL, NULL};
            for (int c = 0; c < columns; c++) {
                cols[c] = json_array();
                for (uint32_t i = 0; i < n; i++)
                    json_array_append_new(cols[c], json_integer(g->v[c] ? (json_int_t)g->v[c][i] : 0));
            }
            if (keys)
                json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "key", g->name, "unit", g->unit, "spent",
                                                     cols[0]));
            else
                json_object_set_new(out, g->name, json_pack("{s:o, s:o, s:o}", ai_columns[0], cols[0], ai_columns[1],
                                                            cols[1], ai_columns[2], cols[2]));
        }
        for (int c = 0; c < columns; c++)
            free(g->v[c]);
    }
    *more = ngroups > MAX_GROUPS ? ngroups - MAX_GROUPS : 0;
    free(groups);
    return out;
}

/* The samples of ring that end in the last `seconds` before its newest one:
 * how many, from *first. */
static uint32_t window(const sl_history_ring *ring, unsigned seconds, uint32_t *first)
{
    int64_t newest = ring->nsamples ? sl_history_sample_at(ring, ring->nsamples - 1)->time : 0;
    *first = sl_history_first_after(ring, newest - (int64_t)seconds);
    return ring->nsamples - *first;
}

static void time_columns(const sl_history_ring *ring, uint32_t first, uint32_t n, json_t **time, json_t **span)
{
    *time = json_array();
    *span = json_array();
    for (uint32_t i = 0; i < n; i++) {
        const sl_history_sample *s = sl_history_sample_at(ring, first + i);
        json_array_append_new(*time, json_integer(s->time));
        json_array_append_new(*span, json_integer(s->span));
    }
}

json_t *sl_traffic_history_query(const char *kind, const char *ns, const char *name, const char *section,
                                 unsigned seconds, char *err, size_t errlen)
{
    char prefix[700];
    bool gateway = strcmp(kind, "Gateway") == 0;
    bool route = strcmp(kind, "HTTPRoute") == 0 || strcmp(kind, "GRPCRoute") == 0 || strcmp(kind, "TLSRoute") == 0 ||
                 strcmp(kind, "TCPRoute") == 0;
    bool backend = strcmp(kind, "Service") == 0 || strcmp(kind, "Backend") == 0;
    if (gateway)
        snprintf(prefix, sizeof(prefix), "listener\t%s\t%s\t", ns, name);
    else if (route)
        snprintf(prefix, sizeof(prefix), "route\t%s\t%s\t%s\t", kind, ns, name);
    else if (backend)
        snprintf(prefix, sizeof(prefix), "backend\t%s\t%s\t%s\t", kind, ns, name);
    else {
        snprintf(err, errlen,
                 "kind must be Gateway, HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, Service or Backend, not \"%s\"", kind);
        return NULL;
    }
    if (seconds == 0 || seconds > SL_HISTORY_SECONDS)
        seconds = SL_HISTORY_SECONDS;
    refs r = {0};
    find_series(prefix, section, &r);

    pthread_mutex_lock(&h->thread.lock);
    const sl_history_ring *ring = gateway ? &h->listeners : &h->routes;
    uint32_t first, n = window(ring, seconds, &first);
    json_t *time, *span, *responses = json_object(), *latency = json_object();
    time_columns(ring, first, n, &time, &span);
    json_t *from = json_null();
    for (int c = 0; c < CLASSES; c++) /* (every column, even with no second yet) */
        column(responses, class_names[c]);
    for (size_t p = 0; p < sizeof(percentiles) / sizeof(*percentiles); p++)
        column(latency, percentiles[p].name);
    for (uint32_t i = 0; i < n; i++) {
        const sl_history_sample *s = sl_history_sample_at(ring, first + i);
        if (!s->dropped && json_is_null(from))
            from = json_integer(s->time - s->span);
        add_second(ring, s, &r, responses, latency);
    }
    json_t *doc = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "kind", kind, "namespace", ns, "name",
                            name, "series", (json_int_t)r.n, "historyFrom", from, "time", time, "spanSeconds", span,
                            "responses", responses, "latencySeconds", latency);
    if (section)
        json_object_set_new(doc, "section", json_string(section));
    if (gateway) {
        char gw[600];
        snprintf(gw, sizeof(gw), "%s/%s", ns, name);
        /* LLM tokens and spending have their own time columns: their rings
         * merge seconds when full independently of the listeners'. */
        const sl_history_ring *rings[2] = {&h->ai, &h->keys};
        static const char *const names[2][3] = {{"tokens", "byModel", "otherModels"},
                                                {"spending", "byKey", "otherKeys"}};
        for (int k = 0; k < 2; k++) {
            uint32_t kfirst, kn = window(rings[k], seconds, &kfirst);
            json_t *ktime, *kspan;
            time_columns(rings[k], kfirst, kn, &ktime, &kspan);
            size_t more;
            json_t *groups = label_columns(rings[k], kfirst, kn, gw, k == 1, &more);
            json_object_set_new(doc, names[k][0],
                                json_pack("{s:o, s:o, s:o, s:I}", "time", ktime, "spanSeconds", kspan, names[k][1],
                                          groups, names[k][2], (json_int_t)more));
        }
    }
    pthread_mutex_unlock(&h->thread.lock);
    free(r.ref);
    return doc;
}

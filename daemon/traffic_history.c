/* The master's per-second traffic history (see traffic_history.h): a thread
 * that samples the workers' shared counters every second into history rings.
 *
 * Every second the sampler sums each traffic series over the worker sections
 * and keeps the difference from the second before, when there is one, as an
 * entry {index << 14 | tag, requests by class, latency per bucket}: listeners
 * in one ring (the Gateways' history stays whole), route rules and backends in
 * another (the one that grows with the configuration and gives way first).
 * LLM tokens go by (gateway, backend, model) and aiBudget spending by
 * (gateway, key), under small interned label numbers.
 *
 * A query finds the series of an object by the keys the master gave them
 * (daemon/series_ids.h) with their current tags: an index handed to another
 * object since has another tag, so the history of a deleted route never shows
 * under its successor's name. */
#include "daemon/traffic_history.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ai.h"
#include "common/log.h"
#include "common/series.h"
#include "common/settings.h"
#include "daemon/series_ids.h"
#include "daemon/snapshot_render.h"
#include "daemon/traffic_history_internal.h"

sl_traffic_history_state sl_history_state = {.thread = SL_BG_THREAD_INIT};
static sl_traffic_history_state *const h = &sl_history_state;

/* ---- labels ---- */

static uint32_t intern(const char *label)
{
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (const char *c = label; *c; c++)
        hash = (hash ^ (uint8_t)*c) * 16777619u;
    uint32_t at = hash % (MAX_LABELS * 2);
    for (; h->label_hash[at]; at = (at + 1) % (MAX_LABELS * 2))
        if (strcmp(h->labels[h->label_hash[at] - 1], label) == 0)
            return h->label_hash[at] - 1;
    if (h->nlabels == MAX_LABELS || !(h->labels[h->nlabels] = strdup(label)))
        return UINT32_MAX;
    h->label_hash[at] = h->nlabels + 1;
    return h->nlabels++;
}

/* ---- sampling ---- */

static uint8_t kind_of(uint32_t index)
{
    char key[1400];
    if (!sl_series_key(index, key, sizeof(key)))
        return KIND_NONE;
    if (strncmp(key, "listener\t", 9) == 0)
        return KIND_LISTENER;
    if (strncmp(key, "route\t", 6) == 0)
        return KIND_ROUTE;
    return strncmp(key, "backend\t", 8) == 0 ? KIND_BACKEND : KIND_NONE;
}

static uint32_t delta32(uint64_t now, uint64_t before)
{
    uint64_t d = now > before ? now - before : 0; /* a reset in between reads as nothing */
    return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

static void sample_series(void)
{
    uint32_t end = sl_series_ids_end_index();
    if (end > h->nprev)
        end = h->nprev;
    for (uint32_t index = SL_SERIES_FIRST; index < end; index++) {
        series_prev *p = &h->prev[index];
        uint32_t tag = atomic_load_explicit(&sl_series_tags[index], memory_order_relaxed) & SL_SERIES_TAG_MASK;
        if (tag != p->tag || !p->kind) {
            /* Another object's series from now on, started from zero
             * (sl_series_reset); the table itself started at zero with this
             * master, so whatever a series counted is new to the history. */
            memset(p, 0, sizeof(*p));
            p->tag = tag;
            p->kind = kind_of(index);
        }
        if (p->kind == KIND_NONE)
            continue;
        sl_series s;
        sl_series_sum_index(index, &s);
        uint64_t now[CLASSES + BUCKETS];
        for (int i = 0; i < CLASSES; i++)
            now[i] = atomic_load_explicit(&s.responses[i], memory_order_relaxed);
        for (int i = 0; i < BUCKETS; i++)
            now[CLASSES + i] = atomic_load_explicit(&s.latency[i], memory_order_relaxed);
        sl_history_entry e = {.ref = index << TAG_BITS | tag};
        bool any = false;
        for (int i = 0; i < CLASSES + BUCKETS; i++) {
            e.v[i] = delta32(now[i], p->v[i]);
            any |= e.v[i] != 0;
        }
        memcpy(p->v, now, sizeof(now));
        if (any)
            sl_history_add(p->kind == KIND_LISTENER ? &h->listeners : &h->routes, &e);
    }
}

/* LLM traffic: each worker entry's growth, summed by (gateway, backend, model). */
static int by_ref(const void *a, const void *b)
{
    uint32_t x = ((const sl_history_entry *)a)->ref, y = ((const sl_history_entry *)b)->ref;
    return x < y ? -1 : x > y;
}

static void add_sorted(sl_history_ring *ring, sl_history_entry *list, size_t n)
{
    qsort(list, n, sizeof(*list), by_ref);
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && list[i + 1].ref == list[i].ref) { /* same label: fold into the next */
            for (int v = 0; v < SL_HISTORY_VALUES; v++)
                list[i + 1].v[v] += list[i].v[v];
            continue;
        }
        sl_history_add(ring, &list[i]);
    }
}

static void sample_ai(sl_history_entry *list)
{
    size_t n = 0;
    for (int w = 0; w < SL_MAX_WORKERS; w++) {
        const sl_worker_slot *slot = &h->control->slots[w];
        int32_t pid = atomic_load(&slot->pid);
        for (int k = 0; pid && k < SL_AI_METRIC_ENTRIES; k++) {
            const sl_ai_metric *m = &slot->ai[k];
            ai_prev *p = &h->ai_prev[w][k];
            if (!atomic_load_explicit(&m->used, memory_order_acquire))
                continue;
            if (p->pid != pid) /* a new worker in the slot counts from zero */
                *p = (ai_prev){.pid = pid};
            uint64_t req = atomic_load(&m->requests), in = atomic_load(&m->tokens[0]), out = atomic_load(&m->tokens[1]);
            sl_history_entry e = {.v = {delta32(req, p->requests), delta32(in, p->tokens[0]), delta32(out, p->tokens[1])}};
            p->requests = req, p->tokens[0] = in, p->tokens[1] = out;
            if (!e.v[0] && !e.v[1] && !e.v[2])
                continue;
            char label[600];
            snprintf(label, sizeof(label), "%.*s\t%.*s\t%.*s", (int)sizeof(slot->gateway), slot->gateway,
                     (int)sizeof(m->backend), m->backend, (int)sizeof(m->model), m->model);
            if ((e.ref = intern(label)) != UINT32_MAX)
                list[n++] = e;
        }
    }
    add_sorted(&h->ai, list, n);
}

/* aiBudget spending by key: the growth of each key's total in its period. */
static json_t *budgets(const sl_snapshot *s, void *arg)
{
    (void)arg;
    return sl_snapshot_ai_budgets(s, NULL, NULL);
}

static void sample_keys(sl_history_entry *list)
{
    json_t *doc = sl_snapshot_with_current(h->control, budgets, NULL, NULL, 0);
    size_t n = 0, i;
    json_t *b;
    json_array_foreach(json_object_get(doc, "budgets"), i, b) {
        if (n == MAX_LABELS)
            break;
        const char *unit = json_string_value(json_object_get(b, "unit"));
        char label[600];
        snprintf(label, sizeof(label), "%s\t%s\t%s\t%s", json_string_value(json_object_get(b, "gateway")),
                 json_string_value(json_object_get(b, "key")), unit ? unit : "",
                 json_string_value(json_object_get(b, "policy")));
        json_t *spent = json_object_get(b, "spent");
        uint64_t total = unit && strcmp(unit, "USD") == 0 ? (uint64_t)(json_number_value(spent) * 1e6 + 0.5)
                                                          : (uint64_t)json_integer_value(spent);
        uint32_t id = intern(label);
        if (id == UINT32_MAX)
            continue;
        key_prev *p = &h->key_prev[id];
        /* A key first seen spent all its total since it was (a Local table
         * starts at zero with this master); a Global budget's total is
         * Redis's, spent anywhere, anytime: only its growth counts. */
        const char *scope = json_string_value(json_object_get(b, "scope"));
        bool from_zero = !(scope && strcmp(scope, "Global") == 0);
        sl_history_entry e = {.ref = id, .v = {p->seen || from_zero ? delta32(total, p->spent) : 0}};
        p->spent = total, p->seen = true;
        if (e.v[0])
            list[n++] = e;
    }
    json_decref(doc);
    add_sorted(&h->keys, list, n);
}

static void sample(int64_t now)
{
    uint32_t span = h->last_time && now > h->last_time ? (uint32_t)(now - h->last_time) : 1;
    h->last_time = now;
    sl_history_ring *rings[] = {&h->listeners, &h->routes, &h->ai, &h->keys};
    for (size_t i = 0; i < 4; i++)
        sl_history_begin(rings[i], now, span);
    sample_series();
    static sl_history_entry list[SL_MAX_WORKERS * SL_AI_METRIC_ENTRIES > MAX_LABELS
                                     ? SL_MAX_WORKERS * SL_AI_METRIC_ENTRIES
                                     : MAX_LABELS];
    sample_ai(list);
    sample_keys(list);
}

static void *run(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "sl-history"); /* (its CPU shows in /proc/PID/task: bench/traffic_history.py) */
    pthread_mutex_lock(&h->thread.lock);
    while (!h->thread.stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        /* Wake just after the next wall-clock second, so samples line up with seconds. */
        sl_bg_thread_sleep(&h->thread, 1000 - (uint64_t)ts.tv_nsec / 1000000u + 5);
        if (h->thread.stopping)
            break;
        clock_gettime(CLOCK_REALTIME, &ts);
        if ((int64_t)ts.tv_sec != h->last_time)
            sample((int64_t)ts.tv_sec);
    }
    pthread_mutex_unlock(&h->thread.lock);
    return NULL;
}

bool sl_traffic_history_start(const sl_control *control)
{
    size_t budget = (size_t)sl_setting(SL_SET_TRAFFIC_HISTORY_BYTES);
    h->control = control;
    h->nprev = sl_series_tab && sl_series_tags ? sl_series_tab->per_slot : 0;
    h->prev = h->nprev ? calloc(h->nprev, sizeof(*h->prev)) : NULL;
    if (!h->prev)
        h->nprev = 0;
    /* Listeners are few and tell each Gateway's story: they get an eighth;
     * LLM models and keys a sixteenth each; route rules and backends the rest. */
    sl_history_init(&h->listeners, budget / 8);
    sl_history_init(&h->ai, budget / 16);
    sl_history_init(&h->keys, budget / 16);
    sl_history_init(&h->routes, budget - budget / 8 - budget / 8);
    if (!control || !sl_bg_thread_start(&h->thread, run, NULL)) {
        sl_log_warn("history", "no traffic history: its thread did not start");
        return false;
    }
    return true;
}

void sl_traffic_history_stop(void)
{
    sl_bg_thread_stop(&h->thread);
    sl_history_ring *rings[] = {&h->listeners, &h->routes, &h->ai, &h->keys};
    for (size_t i = 0; i < 4; i++)
        sl_history_free(rings[i]);
    free(h->prev);
    h->prev = NULL;
    h->nprev = 0;
    for (uint32_t i = 0; i < h->nlabels; i++)
        free(h->labels[i]);
    h->nlabels = 0;
    memset(h->label_hash, 0, sizeof(h->label_hash));
}

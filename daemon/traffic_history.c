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

/* The number of an LLM or key label; when the table is full, the labels that
 * no kept entry of the two rings (nor of this second's `pending` ones) names
 * are given back first. */
static uint32_t intern(const char *label, const sl_history_entry *pending, size_t npending)
{
    uint32_t id = sl_history_label(&h->labels, label);
    if (id != UINT32_MAX)
        return id;
    static bool used[SL_HISTORY_MAX_LABELS];
    memset(used, 0, sizeof(used));
    const sl_history_ring *rings[] = {&h->ai, &h->keys};
    for (size_t r = 0; r < 2; r++)
        for (uint32_t i = 0; i < rings[r]->nsamples; i++) {
            const sl_history_sample *s = sl_history_sample_at(rings[r], i);
            for (uint32_t j = 0; !s->dropped && j < s->count; j++) {
                uint32_t ref = sl_history_entry_at(rings[r], s, j)->ref;
                if (ref < SL_HISTORY_MAX_LABELS)
                    used[ref] = true;
            }
        }
    for (size_t i = 0; i < npending; i++)
        if (pending[i].ref < SL_HISTORY_MAX_LABELS)
            used[pending[i].ref] = true;
    sl_history_labels_keep(&h->labels, used);
    return sl_history_label(&h->labels, label);
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
            if ((e.ref = intern(label, list, n)) != UINT32_MAX)
                list[n++] = e;
        }
    }
    add_sorted(&h->ai, list, n);
}

/* aiBudget spending by key: the growth of each slot's total in its period,
 * by (gateway, key as shown, unit). A slot is found again by its table place
 * and key hash, not by the key's text, which the listing shortens (two keys
 * "...abcd" are two slots). */
typedef struct keys_round {
    sl_history_entry *list;
    size_t n;
} keys_round;

static const key_seen *seen_before(uint64_t id, uint64_t key)
{
    const key_list *b = &h->keys_before;
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const key_seen *k = &b->at[mid];
        if (k->id == id && k->key == key)
            return k;
        if (k->id < id || (k->id == id && k->key < key))
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void key_spend(void *arg, const sl_ai_budget_spend *b)
{
    keys_round *round = arg;
    key_list *now = &h->keys_now;
    if (now->n == now->cap) {
        size_t cap = now->cap ? now->cap * 2 : 1024;
        key_seen *grown = realloc(now->at, cap * sizeof(*grown));
        if (!grown)
            return;
        now->at = grown, now->cap = cap;
    }
    now->at[now->n++] = (key_seen){b->id, b->key, b->spent};
    const key_seen *before = seen_before(b->id, b->key);
    /* A slot new since the last second spent all its total since, unless the
     * total is a Global budget's (Redis's, spent anywhere, anytime); a total
     * that went down started a new period. */
    uint64_t spent = before ? (b->spent >= before->spent ? b->spent - before->spent : b->spent)
                            : (b->global ? 0 : b->spent);
    if (!spent || round->n == SL_HISTORY_MAX_LABELS)
        return;
    char label[400];
    snprintf(label, sizeof(label), "%s\t%s\t%s", b->gateway, b->key_text, b->usd ? "USD" : "tokens");
    uint32_t id = intern(label, round->list, round->n);
    if (id != UINT32_MAX)
        round->list[round->n++] = (sl_history_entry){.ref = id, .v = {spent > UINT32_MAX ? UINT32_MAX : (uint32_t)spent}};
}

static json_t *walk_budgets(const sl_snapshot *s, void *arg)
{
    sl_snapshot_ai_budget_each(s, key_spend, arg);
    return NULL;
}

static void sample_keys(sl_history_entry *list)
{
    keys_round round = {list, 0};
    h->keys_now.n = 0;
    sl_snapshot_with_current(h->control, walk_budgets, &round, NULL, 0);
    key_list swap = h->keys_before;
    h->keys_before = h->keys_now;
    h->keys_now = swap;
    add_sorted(&h->keys, list, round.n);
}

static void sample(int64_t now)
{
    uint32_t span = h->last_time && now > h->last_time ? (uint32_t)(now - h->last_time) : 1;
    h->last_time = now;
    sl_history_ring *rings[] = {&h->listeners, &h->routes, &h->ai, &h->keys};
    for (size_t i = 0; i < 4; i++)
        sl_history_begin(rings[i], now, span);
    sample_series();
    static sl_history_entry list[SL_MAX_WORKERS * SL_AI_METRIC_ENTRIES > SL_HISTORY_MAX_LABELS
                                     ? SL_MAX_WORKERS * SL_AI_METRIC_ENTRIES
                                     : SL_HISTORY_MAX_LABELS];
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
        if ((int64_t)ts.tv_sec < h->last_time - 1) {
            /* The wall clock went back (set by hand, not NTP's slewing): the
             * seconds would not be in order. The history starts again. */
            sl_log_info("history", "the wall clock went back %lld s: the traffic history starts again",
                        (long long)(h->last_time - ts.tv_sec));
            sl_history_ring *rings[] = {&h->listeners, &h->routes, &h->ai, &h->keys};
            for (size_t i = 0; i < 4; i++)
                sl_history_clear(rings[i]);
            h->last_time = 0;
        }
        if ((int64_t)ts.tv_sec > h->last_time)
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
    sl_history_labels_free(&h->labels);
    free(h->keys_before.at);
    free(h->keys_now.at);
    h->keys_before = h->keys_now = (key_list){0};
}

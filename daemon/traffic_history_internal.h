/* What the traffic history's sampler (traffic_history.c) keeps and its
 * query (traffic_history_query.c) reads, under thread.lock. */
#ifndef SL_TRAFFIC_HISTORY_INTERNAL_H
#define SL_TRAFFIC_HISTORY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/control.h"
#include "common/series.h"
#include "daemon/bg_thread.h"
#include "daemon/history_labels.h"
#include "daemon/history_ring.h"

#define TAG_BITS 14 /* a series entry's ref: index << TAG_BITS | tag */
#define CLASSES 5
#define BUCKETS (SL_SERIES_BUCKETS + 1)

enum { KIND_NONE /* not handed out */, KIND_LISTENER, KIND_ROUTE, KIND_BACKEND };

typedef struct series_prev {
    uint64_t v[CLASSES + BUCKETS];
    uint32_t tag;
    uint8_t kind; /* KIND_NONE: not looked up yet for this tag */
} series_prev;

typedef struct ai_prev {
    int32_t pid;
    uint64_t requests, tokens[2];
} ai_prev;

/* An aiBudget slot's total a second ago: slots are in table order, so a
 * second's list is sorted by (id, key) and the next second looks it up. */
typedef struct key_seen {
    uint64_t id, key, spent;
} key_seen;

typedef struct key_list {
    key_seen *at;
    size_t n, cap;
} key_list;

typedef struct sl_traffic_history_state {
    sl_bg_thread thread; /* its lock guards everything below */
    const sl_control *control;
    sl_history_ring listeners, routes, ai, keys;
    series_prev *prev;
    uint32_t nprev;
    ai_prev ai_prev[SL_MAX_WORKERS][SL_AI_METRIC_ENTRIES];
    key_list keys_before, keys_now; /* aiBudget slots' totals: last second's, this one's */
    sl_history_labels labels; /* of the ai and keys rings' entries */
    int64_t last_time;
} sl_traffic_history_state;

extern sl_traffic_history_state sl_history_state;

#endif

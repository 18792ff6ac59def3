/* What the traffic history's sampler (traffic_history.c) keeps and its
 * query (traffic_history_query.c) reads, under thread.lock. */
#ifndef SL_TRAFFIC_HISTORY_INTERNAL_H
#define SL_TRAFFIC_HISTORY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/control.h"
#include "common/series.h"
#include "daemon/bg_thread.h"
#include "daemon/history_ring.h"

#define TAG_BITS 14 /* a series entry's ref: index << TAG_BITS | tag */
#define CLASSES 5
#define BUCKETS (SL_SERIES_BUCKETS + 1)
#define MAX_LABELS 4096 /* distinct LLM and key label sets kept (more share none) */

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

typedef struct key_prev {
    uint64_t spent; /* last second's total of the label (period restarts show as a drop) */
    bool seen;
} key_prev;

typedef struct sl_traffic_history_state {
    sl_bg_thread thread; /* its lock guards everything below */
    const sl_control *control;
    sl_history_ring listeners, routes, ai, keys;
    series_prev *prev;
    uint32_t nprev;
    ai_prev ai_prev[SL_MAX_WORKERS][SL_AI_METRIC_ENTRIES];
    key_prev key_prev[MAX_LABELS];
    char *labels[MAX_LABELS]; /* interned: "gateway\tbackend\tmodel" or "gateway\tkey\tunit\tpolicy" */
    uint32_t nlabels;
    uint32_t label_hash[MAX_LABELS * 2]; /* open addressing: label number + 1, 0 empty */
    int64_t last_time;
} sl_traffic_history_state;

extern sl_traffic_history_state sl_history_state;

#endif

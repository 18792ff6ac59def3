/* Endpoint and backend state shared by the master and every worker, kept
 * across snapshots: requests in flight (least-request, circuit breakers), the
 * passive checks' counters and ejections, the active health checks' verdict.
 *
 * One table of fixed slots in the shared-memory arena, made by the master
 * before anything forks (so every process has it at the same address). The
 * compiler gives each endpoint and each backend of a snapshot a slot
 * (daemon/endpoint_slots.c) that stays the same from one snapshot to the next
 * as long as the endpoint does: a configuration change keeps what was learnt.
 * A snapshot names slots by index (SL_SNAP_NONE: no state, e.g. a table that
 * was full); workers and the master's health checker update them with atomics.
 *
 * Times are on the shared clock (sl_ep_now_ms: CLOCK_MONOTONIC_COARSE, the same
 * in every process; the workers' loop clock is the wall clock). */
#ifndef SL_ENDPOINT_STATE_H
#define SL_ENDPOINT_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* The active health checks' verdict on an endpoint. */
enum { SL_HEALTH_UNKNOWN = 0, SL_HEALTH_HEALTHY = 1, SL_HEALTH_UNHEALTHY = 2 };

/* Circuit breaker limits, in the order of sl_ep_state.overflows. */
enum { SL_CB_MAX_CONNECTIONS, SL_CB_MAX_PENDING, SL_CB_MAX_REQUESTS, SL_CB_RETRY_BUDGET, SL_CB_COUNT };

typedef struct sl_ep_state {
    _Atomic uint32_t active;      /* requests in flight to it, in every worker */
    _Atomic uint32_t connections; /* backend: upstream connections open (maxConnections) */
    _Atomic uint32_t pending;     /* backend: attempts waiting for their connection (maxPendingRequests) */
    _Atomic uint32_t retries;     /* backend: retry attempts in flight (retry budget) */
    _Atomic uint32_t fails_5xx;   /* endpoint: 5xx answers in a row */
    _Atomic uint32_t fails_local; /* endpoint: connect failures, resets and timeouts in a row */
    _Atomic uint32_t ejections;   /* endpoint: the ejection back-off's multiplier */
    _Atomic uint32_t health;      /* endpoint: SL_HEALTH_* */
    _Atomic uint32_t tag;         /* changes each time the slot is handed out: a count taken
                                   * under an older tag (a request that outlived its snapshot)
                                   * is not given back to the slot's new owner */
    _Atomic uint64_t ejected_until_ms; /* endpoint: skipped until then (0: not ejected) */
    _Atomic uint64_t usable_since_ms;  /* endpoint: when it last became usable (slow start) */
    _Atomic uint64_t requests;         /* attempts sent to it */
    _Atomic uint64_t failures;         /* attempts that failed (5xx, no connection, timeout) */
    _Atomic uint64_t ejections_total;  /* endpoint: times ejected */
    _Atomic uint64_t overflows[SL_CB_COUNT]; /* backend: requests refused by each limit */
} sl_ep_state;

typedef struct sl_ep_table {
    uint32_t nslots;
    uint32_t reserved;
    sl_ep_state slots[];
} sl_ep_table;

/* The table (NULL without one: unit tests, tools). */
extern sl_ep_table *sl_ep_states;

/* Master, before forking: the table of `slots` slots in the shared arena.
 * False (logged) when it cannot be made; then nothing keeps endpoint state. */
bool sl_ep_table_create(uint32_t slots);

static inline sl_ep_state *sl_ep_slot(uint32_t slot)
{
    return sl_ep_states && slot < sl_ep_states->nslots ? &sl_ep_states->slots[slot] : 0;
}

static inline uint64_t sl_ep_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Takes one off a count taken under tag, never below zero, unless the slot
 * changed hands since (a count from before is not the new owner's). */
static inline void sl_ep_give_back(_Atomic uint32_t *count, const sl_ep_state *st, uint32_t tag)
{
    if (atomic_load_explicit(&st->tag, memory_order_relaxed) != tag)
        return;
    uint32_t v = atomic_load_explicit(count, memory_order_relaxed);
    while (v > 0 && !atomic_compare_exchange_weak_explicit(count, &v, v - 1, memory_order_relaxed,
                                                           memory_order_relaxed))
        ;
}

/* Is the endpoint to be sent requests: not found unhealthy by the active
 * checks, not ejected by the passive ones? *now is read once, when needed. */
static inline bool sl_ep_usable(const sl_ep_state *st, uint64_t *now)
{
    if (!st)
        return true;
    if (atomic_load_explicit(&st->health, memory_order_relaxed) == SL_HEALTH_UNHEALTHY)
        return false;
    uint64_t until = atomic_load_explicit(&st->ejected_until_ms, memory_order_relaxed);
    if (until == 0)
        return true;
    if (*now == 0)
        *now = sl_ep_now_ms();
    return until <= *now;
}

#endif

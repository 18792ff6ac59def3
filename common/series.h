/* Traffic series: per route rule, listener and backend counters and latency
 * histograms, for /metrics.
 *
 * Every worker slot (common/control.h) owns one section of the table, so a
 * worker adds to counters no other process writes (no cache line moves between
 * cores on the request path); the master sums the sections when scraped. The
 * table is one shared mapping made by the master before anything forks, and is
 * reserved, not committed: a section costs memory only for the series its
 * worker touched. A section outlives its worker, so a restarted worker carries
 * on counting where the last one stopped (counters never go back).
 *
 * The master gives each route rule, listener and backend of a snapshot a
 * series index (daemon/series_ids.c) that stays the same from one snapshot to
 * the next while the object does; a snapshot names a series by index and tag
 * (sl_series_pack). An index released and handed to another object gets a new
 * tag, so a request still running on an old snapshot (a long download, a
 * WebSocket) stops counting into it rather than into its new owner. The label
 * set is bounded by the table: --metrics-series indexes in all, and what finds
 * the table full shares the overflow series of its kind (SL_SERIES_OTHER_*). */
#ifndef SL_SERIES_H
#define SL_SERIES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Upper bounds of the latency buckets, in microseconds (Prometheus' default
 * buckets, 5 ms to 10 s, and 1 ms below them for a proxy's fast answers). */
#define SL_SERIES_BUCKETS 12
static const uint64_t sl_series_bounds_us[SL_SERIES_BUCKETS] = {1000,   5000,   10000,   25000,   50000,   100000,
                                                                 250000, 500000, 1000000, 2500000, 5000000, 10000000};

/* Indexes of the overflow series, one per kind; real ones come after. */
enum { SL_SERIES_OTHER_ROUTE = 0, SL_SERIES_OTHER_LISTENER = 1, SL_SERIES_OTHER_BACKEND = 2, SL_SERIES_FIRST = 3 };

typedef struct sl_series {
    /* Routes and listeners: the requests they answered. Backends: the answers
     * their upstreams gave (every attempt, retries included). */
    _Atomic uint64_t responses[5];                      /* by class: [0] 1xx .. [4] 5xx */
    _Atomic uint64_t latency_us;                        /* sum */
    _Atomic uint64_t latency[SL_SERIES_BUCKETS + 1];    /* per bucket (not cumulative); last: above all;
                                                         * their sum is the histogram's count */
    _Atomic uint64_t bytes_in, bytes_out;               /* routes and listeners: client bytes */
    /* Backends only. */
    _Atomic uint64_t attempts;       /* attempts started (connections asked for) */
    _Atomic uint64_t connect_errors; /* attempts whose connection failed */
    _Atomic uint64_t timeouts;       /* attempts the upstream did not answer in time */
    _Atomic uint64_t retries;        /* attempts that were retries of an answered one */
} sl_series;

typedef struct sl_series_table {
    uint32_t per_slot;  /* series per worker slot (--metrics-series) */
    uint32_t nslots;    /* worker slots (SL_MAX_WORKERS) */
    _Atomic uint32_t slots_used; /* master: slots below this have had a worker */
    uint32_t reserved;
    sl_series series[]; /* [slot][index] */
} sl_series_table;

/* The table (NULL without one: unit tests, tools, or no memory), and the tag
 * of each index (how many times it was handed out, low 14 bits). */
extern sl_series_table *sl_series_tab;
extern _Atomic uint32_t *sl_series_tags;

/* A snapshot's reference to a series: the index (below 2^18, the most
 * --metrics-series allows) and its tag. */
#define SL_SERIES_INDEX_BITS 18
#define SL_SERIES_TAG_MASK 0x3fffu
static inline uint32_t sl_series_pack(uint32_t index, uint32_t tag)
{
    return index | (tag & SL_SERIES_TAG_MASK) << SL_SERIES_INDEX_BITS;
}

/* Master, before forking: a table of `per_slot` series per worker slot.
 * False (logged) when it cannot be mapped; then there are no such series. */
bool sl_series_create(uint32_t per_slot);

/* Master: a worker starts in slot (its section is summed from now on). */
void sl_series_slot_used(uint32_t slot);

/* Master: a snapshot's series (packed) summed over every worker section into
 * out; false when it names none (or the index went to another object). */
bool sl_series_sum(uint32_t packed, sl_series *out);
/* The same by index, whoever holds it (the admin's walk over the handed-out indexes). */
void sl_series_sum_index(uint32_t index, sl_series *out);

/* Master: index is handed out (again) with tag: references with the old tag
 * stop counting, and its series start at zero in every section. (A worker that
 * checked the old tag an instant before may still add one count.) */
void sl_series_reset(uint32_t index, uint32_t tag);

static inline sl_series *sl_series_at(uint32_t slot, uint32_t index)
{
    sl_series_table *t = sl_series_tab;
    if (!t || slot >= t->nslots || index >= t->per_slot)
        return 0;
    return &t->series[(uint64_t)slot * t->per_slot + index];
}

/* Worker: the series a snapshot names (packed), in slot's section; NULL for
 * none (UINT32_MAX), or when the index has been handed to another object since. */
static inline sl_series *sl_series_named(uint32_t slot, uint32_t packed)
{
    if (packed == UINT32_MAX || !sl_series_tags)
        return 0;
    uint32_t index = packed & ((1u << SL_SERIES_INDEX_BITS) - 1);
    sl_series *s = sl_series_at(slot, index);
    if (!s || (atomic_load_explicit(&sl_series_tags[index], memory_order_relaxed) & SL_SERIES_TAG_MASK) !=
                  packed >> SL_SERIES_INDEX_BITS)
        return 0;
    return s;
}

static inline unsigned sl_series_bucket(uint64_t us)
{
    unsigned i = 0;
    while (i < SL_SERIES_BUCKETS && us > sl_series_bounds_us[i])
        i++;
    return i;
}

/* A latency histogram of the master's own work (compiles, store writes), on
 * the same buckets; any thread observes. */
typedef struct sl_histogram {
    _Atomic uint64_t buckets[SL_SERIES_BUCKETS + 1]; /* per bucket; last: above all */
    _Atomic uint64_t sum_us;
} sl_histogram;

extern sl_histogram sl_compile_latency;     /* snapshot compiles (daemon/main.c) */
extern sl_histogram sl_store_write_latency; /* store write transactions, begin to commit */

static inline void sl_histogram_observe(sl_histogram *h, uint64_t us)
{
    atomic_fetch_add_explicit(&h->buckets[sl_series_bucket(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

/* Microseconds on CLOCK_MONOTONIC. */
uint64_t sl_mono_us(void);

/* Only the slot's own worker writes: relaxed adds. */
static inline void sl_series_add(_Atomic uint64_t *v, uint64_t n) { atomic_fetch_add_explicit(v, n, memory_order_relaxed); }

/* One request (status 0: a passed-through connection, which has no status
 * class but a duration), or one upstream answer. */
static inline void sl_series_observe(sl_series *s, int status, uint64_t us)
{
    int cls = status / 100 - 1;
    if (status)
        sl_series_add(&s->responses[cls >= 0 && cls < 5 ? cls : 4], 1);
    sl_series_add(&s->latency_us, us);
    sl_series_add(&s->latency[sl_series_bucket(us)], 1);
}

#endif

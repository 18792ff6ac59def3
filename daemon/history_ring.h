/* A bounded history of per-second samples for the dashboard's charts
 * (daemon/traffic_history.c fills it). A sample is one second (or more: its
 * span) and a list of entries, each a series reference and what the series
 * counted in that time; a series that counted nothing has no entry, so an
 * idle gateway costs nothing.
 *
 * Entries of all samples share one circular buffer that grows up to a byte
 * budget. When it is full, two neighbouring samples become one (their entries
 * merged by reference, the counts added, the spans too): the pair with the
 * shortest span together, the older on a tie. So under a heavy load the
 * history keeps its 15 minutes at a coarser step (the newest seconds stay
 * finest) rather than getting shorter; only one second larger than the whole
 * budget loses entries (it is marked partial). Entries of a sample are added
 * in ascending reference order, so a series is found in a sample by binary
 * search. Not thread-safe: the owner locks. */
#ifndef SL_HISTORY_RING_H
#define SL_HISTORY_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_HISTORY_SECONDS 900 /* the window: 15 minutes, at most a sample a second */
#define SL_HISTORY_VALUES 18

typedef struct sl_history_entry {
    uint32_t ref;                    /* the series (ascending within a sample) */
    uint32_t v[SL_HISTORY_VALUES];   /* its counts in the sample (meaning: the owner's) */
} sl_history_entry;

typedef struct sl_history_sample {
    int64_t time;   /* wall-clock second the sample ends at */
    uint32_t span;  /* seconds it covers (1 unless the sampler was late or samples were merged) */
    uint32_t count; /* entries */
    uint64_t first; /* sequence number of its first entry */
    bool dropped;   /* its entries were given to newer samples (only when no two samples could merge) */
    bool partial;   /* some of its entries did not fit (the budget is smaller than one second) */
} sl_history_sample;

typedef struct sl_history_ring {
    sl_history_sample samples[SL_HISTORY_SECONDS];
    uint32_t oldest, nsamples;     /* circular over samples[] */
    sl_history_entry *entries;     /* entry with sequence number n at n % cap */
    uint64_t cap, max_cap;         /* entries allocated, most allowed */
    uint64_t head, tail;           /* sequence numbers: next to write, oldest kept */
    uint64_t entries_dropped;      /* entries that did not fit even in an emptied ring */
    uint64_t merges;               /* samples merged to make room */
    sl_history_entry *scratch;     /* a merge's output */
    uint64_t scratch_cap;
} sl_history_ring;

/* An empty ring whose entries may use up to max_bytes. */
void sl_history_init(sl_history_ring *r, size_t max_bytes);
/* Forgets every sample (the wall clock went back), keeping the buffer. */
void sl_history_clear(sl_history_ring *r);
void sl_history_free(sl_history_ring *r);

/* Starts the sample of second `time` covering `span` seconds (samples that
 * end SL_HISTORY_SECONDS or more before it go). */
void sl_history_begin(sl_history_ring *r, int64_t time, uint32_t span);
/* Adds an entry to the current sample (refs ascending); false when it was
 * dropped because the ring cannot hold it. */
bool sl_history_add(sl_history_ring *r, const sl_history_entry *e);

/* The i-th sample from the oldest (i < nsamples); the first that ends after
 * `since` (nsamples when none does). */
const sl_history_sample *sl_history_sample_at(const sl_history_ring *r, uint32_t i);
uint32_t sl_history_first_after(const sl_history_ring *r, int64_t since);
/* The entry of ref in a sample, or NULL. */
const sl_history_entry *sl_history_find(const sl_history_ring *r, const sl_history_sample *s, uint32_t ref);
/* The j-th entry of a sample (j < s->count). */
const sl_history_entry *sl_history_entry_at(const sl_history_ring *r, const sl_history_sample *s, uint32_t j);

#endif

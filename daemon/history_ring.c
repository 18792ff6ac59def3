/* The per-second history behind the dashboard's charts: seconds of sparse
 * entries in one circular buffer that grows up to a byte budget (see
 * history_ring.h). */
#include "daemon/history_ring.h"

#include <stdlib.h>
#include <string.h>

void sl_history_init(sl_history_ring *r, size_t max_bytes)
{
    memset(r, 0, sizeof(*r));
    r->max_cap = max_bytes / sizeof(sl_history_entry);
    if (r->max_cap < 16)
        r->max_cap = 16;
}

void sl_history_clear(sl_history_ring *r)
{
    r->oldest = r->nsamples = 0;
    r->tail = r->head;
}

void sl_history_free(sl_history_ring *r)
{
    free(r->entries);
    r->entries = NULL;
    r->cap = 0;
}

static sl_history_sample *nth(sl_history_ring *r, uint32_t i)
{
    return &r->samples[(r->oldest + i) % SL_HISTORY_SECONDS];
}

const sl_history_sample *sl_history_sample_at(const sl_history_ring *r, uint32_t i)
{
    return &r->samples[(r->oldest + i) % SL_HISTORY_SECONDS];
}

/* The entries of sample s are no longer kept. Samples give up their entries
 * oldest first, so theirs are the oldest in the buffer. */
static void drop_entries(sl_history_ring *r, sl_history_sample *s)
{
    if (!s->dropped && s->count && s->first + s->count > r->tail)
        r->tail = s->first + s->count;
    s->dropped = true;
    s->count = 0;
}

void sl_history_begin(sl_history_ring *r, int64_t time, uint32_t span)
{
    if (r->nsamples == SL_HISTORY_SECONDS) {
        drop_entries(r, nth(r, 0));
        r->oldest = (r->oldest + 1) % SL_HISTORY_SECONDS;
        r->nsamples--;
    }
    sl_history_sample *s = nth(r, r->nsamples++);
    *s = (sl_history_sample){.time = time, .span = span ? span : 1, .first = r->head};
}

/* Doubles the buffer (up to max_cap), keeping each entry's sequence number. */
static bool grow(sl_history_ring *r)
{
    if (r->cap >= r->max_cap)
        return false;
    uint64_t cap = r->cap ? r->cap * 2 : 1024;
    if (cap > r->max_cap)
        cap = r->max_cap;
    sl_history_entry *e = malloc(cap * sizeof(*e));
    if (!e)
        return false;
    for (uint64_t n = r->tail; n < r->head; n++)
        e[n % cap] = r->entries[n % r->cap];
    free(r->entries);
    r->entries = e;
    r->cap = cap;
    return true;
}

bool sl_history_add(sl_history_ring *r, const sl_history_entry *e)
{
    if (!r->nsamples)
        return false;
    sl_history_sample *cur = nth(r, r->nsamples - 1);
    while (r->head - r->tail >= r->cap && !grow(r)) {
        /* Full at its budget: the oldest sample that still has entries gives them up. */
        uint32_t i = 0;
        while (i + 1 < r->nsamples && (nth(r, i)->dropped || !nth(r, i)->count))
            i++;
        if (i + 1 >= r->nsamples) { /* only the current sample holds entries */
            r->entries_dropped++;
            cur->partial = true;
            return false;
        }
        drop_entries(r, nth(r, i));
    }
    r->entries[r->head % r->cap] = *e;
    r->head++;
    cur->count++;
    return true;
}

const sl_history_entry *sl_history_entry_at(const sl_history_ring *r, const sl_history_sample *s, uint32_t j)
{
    return &r->entries[(s->first + j) % r->cap];
}

const sl_history_entry *sl_history_find(const sl_history_ring *r, const sl_history_sample *s, uint32_t ref)
{
    uint32_t lo = 0, hi = s->dropped ? 0 : s->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const sl_history_entry *e = sl_history_entry_at(r, s, mid);
        if (e->ref == ref)
            return e;
        if (e->ref < ref)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

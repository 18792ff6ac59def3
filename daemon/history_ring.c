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
    free(r->scratch);
    r->entries = r->scratch = NULL;
    r->cap = r->scratch_cap = 0;
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

uint32_t sl_history_first_after(const sl_history_ring *r, int64_t since)
{
    uint32_t i = 0;
    while (i < r->nsamples && sl_history_sample_at(r, i)->time <= since)
        i++;
    return i;
}

void sl_history_begin(sl_history_ring *r, int64_t time, uint32_t span)
{
    while (r->nsamples &&
           (r->nsamples == SL_HISTORY_SECONDS || nth(r, 0)->time <= time - SL_HISTORY_SECONDS)) {
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

/* Samples i and i + 1 (neither the current one) become one: their entries
 * merged into the scratch buffer, then put back at the end of the place the
 * two held; the entries of the older samples move up to close the gap, and
 * the buffer's tail with them. False when there is nothing to merge. */
static bool merge_pair(sl_history_ring *r)
{
    uint32_t best = UINT32_MAX;
    uint64_t best_span = UINT64_MAX;
    for (uint32_t i = 0; i + 2 < r->nsamples; i++) {
        const sl_history_sample *a = nth(r, i), *b = nth(r, i + 1);
        if (a->dropped || b->dropped)
            continue;
        if ((uint64_t)a->span + b->span < best_span) {
            best_span = (uint64_t)a->span + b->span;
            best = i;
        }
    }
    if (best == UINT32_MAX)
        return false;
    sl_history_sample *a = nth(r, best), *b = nth(r, best + 1);
    uint64_t total = (uint64_t)a->count + b->count;
    if (total > r->scratch_cap) {
        sl_history_entry *grown = realloc(r->scratch, total * sizeof(*grown));
        if (!grown)
            return false;
        r->scratch = grown;
        r->scratch_cap = total;
    }
    uint64_t m = 0;
    for (uint32_t i = 0, j = 0; i < a->count || j < b->count;) {
        const sl_history_entry *x = i < a->count ? sl_history_entry_at(r, a, i) : NULL;
        const sl_history_entry *y = j < b->count ? sl_history_entry_at(r, b, j) : NULL;
        if (x && (!y || x->ref < y->ref)) {
            r->scratch[m++] = *x, i++;
        } else if (!x || y->ref < x->ref) {
            r->scratch[m++] = *y, j++;
        } else { /* the same series in both: one entry, the counts added */
            sl_history_entry sum = *x;
            for (int v = 0; v < SL_HISTORY_VALUES; v++) {
                uint64_t t = (uint64_t)sum.v[v] + y->v[v];
                sum.v[v] = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
            }
            r->scratch[m++] = sum, i++, j++;
        }
    }
    uint64_t start = a->first, gap = total - m;
    for (uint64_t k = 0; k < m; k++)
        r->entries[(start + gap + k) % r->cap] = r->scratch[k];
    for (uint64_t n = start; gap && n-- > r->tail;) /* the older entries, highest first */
        r->entries[(n + gap) % r->cap] = r->entries[n % r->cap];
    r->tail += gap;
    for (uint32_t i = 0; i < best; i++)
        nth(r, i)->first += gap;
    a->first = start + gap;
    a->count = (uint32_t)m;
    a->span += b->span;
    a->time = b->time;
    a->partial |= b->partial;
    for (uint32_t i = best + 1; i + 1 < r->nsamples; i++) /* b's place goes */
        *nth(r, i) = *nth(r, i + 1);
    r->nsamples--;
    r->merges++;
    return true;
}

bool sl_history_add(sl_history_ring *r, const sl_history_entry *e)
{
    if (!r->nsamples)
        return false;
    sl_history_sample *cur = nth(r, r->nsamples - 1);
    while (r->head - r->tail >= r->cap && !grow(r)) {
        if (merge_pair(r)) {
            cur = nth(r, r->nsamples - 1); /* (the samples after the merged pair moved down) */
            continue;
        }
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

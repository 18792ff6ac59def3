/* Unit tests for daemon/history_ring.c: samples keep their entries in
 * reference order and find them by binary search, including across the
 * buffer's wrap; the buffer grows up to its budget, then merges neighbouring
 * samples (the shortest pair) with their entries merged by reference and
 * nothing lost, and only when nothing can merge takes entries from the oldest
 * sample (marked dropped), never from the current one, which says it is
 * partial; the 900-second window drops what ends before it; a cleared ring
 * starts again. */
#include "daemon/history_ring.h"
#include "tests/unit/unit.h"

static bool add(sl_history_ring *r, uint32_t ref, uint32_t value)
{
    sl_history_entry e = {.ref = ref};
    e.v[0] = value;
    return sl_history_add(r, &e);
}

static void test_entries_are_found_by_ref_in_their_second(void)
{
    sl_history_ring r;
    sl_history_init(&r, 1 << 20);
    sl_history_begin(&r, 100, 1);
    for (uint32_t ref = 10; ref < 3000; ref += 10) /* past the first 1024: the buffer grows */
        CHECK(add(&r, ref, ref * 2));
    sl_history_begin(&r, 102, 2); /* the sampler was a second late */
    CHECK(add(&r, 20, 7));
    CHECK(r.nsamples == 2);
    const sl_history_sample *a = sl_history_sample_at(&r, 0), *b = sl_history_sample_at(&r, 1);
    CHECK(a->time == 100 && a->span == 1 && a->count == 299 && !a->dropped);
    CHECK(b->time == 102 && b->span == 2 && b->count == 1);
    const sl_history_entry *e = sl_history_find(&r, a, 2990);
    CHECK(e && e->v[0] == 5980);
    CHECK(sl_history_find(&r, a, 15) == NULL && sl_history_find(&r, a, 5) == NULL &&
          sl_history_find(&r, a, 3000) == NULL);
    e = sl_history_find(&r, b, 20);
    CHECK(e && e->v[0] == 7);
    CHECK(sl_history_find(&r, b, 10) == NULL);
    sl_history_free(&r);
}

static void test_a_full_budget_merges_seconds_then_drops(void)
{
    sl_history_ring r;
    sl_history_init(&r, 40 * sizeof(sl_history_entry)); /* room for 40 entries */
    CHECK(r.max_cap == 40);
    for (int64_t t = 0; t < 6; t++) { /* 6 seconds of the same 10 series: 60 entries do not fit */
        sl_history_begin(&r, t, 1);
        for (uint32_t ref = 0; ref < 10; ref++)
            CHECK(add(&r, ref, (uint32_t)t));
    }
    /* Full at second 4: seconds 0 and 1 became one sample; at 5, seconds 2 and 3
     * (the shortest pair, the older on a tie). Nothing is lost: every second's
     * count is in some sample, and the spans add up to the six seconds. */
    CHECK(r.nsamples == 4 && r.merges == 2 && r.entries_dropped == 0);
    static const int64_t times[4] = {1, 3, 4, 5};
    static const uint32_t spans[4] = {2, 2, 1, 1}, sums[4] = {0 + 1, 2 + 3, 4, 5};
    for (uint32_t i = 0; i < 4; i++) {
        const sl_history_sample *s = sl_history_sample_at(&r, i);
        CHECK(s->time == times[i] && s->span == spans[i] && !s->dropped && s->count == 10);
        for (uint32_t ref = 0; ref < 10; ref++) { /* (entries read back right across the wrap) */
            const sl_history_entry *e = sl_history_find(&r, s, ref);
            CHECK(e && e->v[0] == sums[i]);
        }
    }
    CHECK(sl_history_first_after(&r, 3) == 2 && sl_history_first_after(&r, 0) == 0 &&
          sl_history_first_after(&r, 5) == 4);
    /* A second larger than the whole budget: every older sample merges, then
     * the merged one gives its entries up; the second keeps what fits. */
    sl_history_begin(&r, 6, 1);
    int kept = 0;
    for (uint32_t ref = 0; ref < 50; ref++)
        kept += add(&r, ref, 1);
    CHECK(kept == 40 && r.entries_dropped == 10);
    CHECK(r.nsamples == 2 && sl_history_sample_at(&r, 0)->dropped && sl_history_sample_at(&r, 0)->span == 6);
    CHECK(sl_history_sample_at(&r, 1)->partial && sl_history_find(&r, sl_history_sample_at(&r, 1), 39) != NULL);
    sl_history_free(&r);
}

static void test_series_of_merged_seconds_are_merged_by_ref(void)
{
    sl_history_ring r;
    sl_history_init(&r, 8 * sizeof(sl_history_entry));
    CHECK(r.max_cap == 16); /* (the least it takes) */
    uint32_t a[] = {1, 3, 5, 7, 9, 11}, b[] = {2, 3, 8, 11, 12, 13};
    sl_history_begin(&r, 10, 1);
    for (size_t i = 0; i < 6; i++)
        add(&r, a[i], 1);
    sl_history_begin(&r, 11, 1);
    for (size_t i = 0; i < 6; i++)
        add(&r, b[i], 10);
    sl_history_begin(&r, 12, 1);
    for (uint32_t ref = 100; ref < 106; ref++) /* 18 do not fit in 16: 10 and 11 merge (3 and 11 in both) */
        CHECK(add(&r, ref, 5));
    CHECK(r.nsamples == 2 && r.merges == 1);
    const sl_history_sample *m = sl_history_sample_at(&r, 0);
    CHECK(m->time == 11 && m->span == 2 && m->count == 10);
    uint32_t last = 0;
    for (uint32_t j = 0; j < m->count; j++) { /* in order, each once */
        CHECK(sl_history_entry_at(&r, m, j)->ref > last || j == 0);
        last = sl_history_entry_at(&r, m, j)->ref;
    }
    const sl_history_entry *e3 = sl_history_find(&r, m, 3), *e11 = sl_history_find(&r, m, 11);
    const sl_history_entry *e1 = sl_history_find(&r, m, 1), *e13 = sl_history_find(&r, m, 13);
    CHECK(e3 && e3->v[0] == 11 && e11 && e11->v[0] == 11 && e1 && e1->v[0] == 1 && e13 && e13->v[0] == 10);
    CHECK(sl_history_sample_at(&r, 1)->count == 6 && r.head - r.tail == 16);
    sl_history_free(&r);
}

static void test_the_window_keeps_the_last_900_seconds(void)
{
    sl_history_ring r;
    sl_history_init(&r, 1 << 20);
    for (int64_t t = 0; t < SL_HISTORY_SECONDS + 5; t++) {
        sl_history_begin(&r, t, 1);
        add(&r, 1, (uint32_t)t);
    }
    CHECK(r.nsamples == SL_HISTORY_SECONDS);
    const sl_history_sample *first = sl_history_sample_at(&r, 0);
    CHECK(first->time == 5 && sl_history_find(&r, first, 1)->v[0] == 5);
    CHECK(r.head - r.tail == SL_HISTORY_SECONDS); /* the dropped seconds' entries were freed */
    sl_history_clear(&r); /* the clock went back: it starts again */
    CHECK(r.nsamples == 0 && r.head == r.tail);
    sl_history_begin(&r, 3, 1);
    CHECK(add(&r, 7, 1) && sl_history_find(&r, sl_history_sample_at(&r, 0), 7)->v[0] == 1);
    sl_history_free(&r);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_entries_are_found_by_ref_in_their_second),
        UNIT_TEST(test_a_full_budget_merges_seconds_then_drops),
        UNIT_TEST(test_series_of_merged_seconds_are_merged_by_ref),
        UNIT_TEST(test_the_window_keeps_the_last_900_seconds),
    };
    return sl_unit_run("history_ring", tests, sizeof(tests) / sizeof(tests[0]));
}

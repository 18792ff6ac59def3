/* Unit tests for daemon/history_ring.c: samples keep their entries in
 * reference order and find them by binary search, including across the
 * buffer's wrap; the buffer grows up to its budget and then takes entries from
 * the oldest samples (marked dropped), never from the current one; the
 * 900-second window drops the oldest second; a second that does not fit
 * whole says so; a cleared ring starts again. */
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

static void test_a_full_budget_drops_the_oldest_seconds_first(void)
{
    sl_history_ring r;
    sl_history_init(&r, 40 * sizeof(sl_history_entry)); /* room for 40 entries */
    CHECK(r.max_cap == 40);
    for (int64_t t = 0; t < 6; t++) { /* 6 seconds of 10 entries: 60 do not fit */
        sl_history_begin(&r, t, 1);
        for (uint32_t ref = 0; ref < 10; ref++)
            CHECK(add(&r, ref, (uint32_t)t));
    }
    CHECK(r.nsamples == 6);
    /* The two oldest seconds gave their entries up; they stay, marked dropped. */
    for (uint32_t i = 0; i < 6; i++) {
        const sl_history_sample *s = sl_history_sample_at(&r, i);
        CHECK(s->time == (int64_t)i && s->dropped == (i < 2));
        const sl_history_entry *e = sl_history_find(&r, s, 9);
        CHECK(i < 2 ? e == NULL : (e && e->v[0] == i)); /* the wrapped entries read back right */
    }
    /* One second larger than the whole budget keeps what fits and counts the rest. */
    sl_history_begin(&r, 6, 1);
    int kept = 0;
    for (uint32_t ref = 0; ref < 50; ref++)
        kept += add(&r, ref, 1);
    CHECK(kept == 40 && r.entries_dropped == 10);
    CHECK(sl_history_sample_at(&r, 6)->partial && !sl_history_sample_at(&r, 5)->partial);
    CHECK(sl_history_find(&r, sl_history_sample_at(&r, 6), 39) != NULL);
    for (uint32_t i = 0; i < 6; i++)
        CHECK(sl_history_sample_at(&r, i)->dropped);
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
        UNIT_TEST(test_a_full_budget_drops_the_oldest_seconds_first),
        UNIT_TEST(test_the_window_keeps_the_last_900_seconds),
    };
    return sl_unit_run("history_ring", tests, sizeof(tests) / sizeof(tests[0]));
}

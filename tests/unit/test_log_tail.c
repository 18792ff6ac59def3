/* Unit tests for common/log_tail.c: a slot's ring gives back its records
 * oldest first, only the last SL_LOG_TAIL_RECORDS of them, never one its
 * worker is still writing (an odd sequence word: a worker that died mid-write),
 * and nothing after a reset; long fields are cut to fit. */
#include <stdio.h>
#include <stdlib.h>

#include "common/log_tail.h"
#include "tests/unit/unit.h"

static void write_one(uint32_t slot, int i)
{
    sl_log_record *r = sl_log_tail_begin(slot);
    r->time_us = (uint64_t)i;
    r->status = 200;
    char path[32];
    snprintf(path, sizeof(path), "/p/%d", i);
    sl_log_tail_copy(r->path, sizeof(r->path), path);
    sl_log_tail_commit(slot, r);
}

static void test_records_come_back_oldest_first_and_bounded(void)
{
    static sl_log_record out[SL_LOG_TAIL_RECORDS];
    CHECK(sl_log_tail_create());
    for (int i = 0; i < 10; i++)
        write_one(3, i);
    size_t n = sl_log_tail_read(3, out, SL_LOG_TAIL_RECORDS);
    CHECK(n == 10 && out[0].time_us == 0 && out[9].time_us == 9);
    CHECK_STR(out[9].path, "/p/9");
    CHECK(sl_log_tail_read(4, out, SL_LOG_TAIL_RECORDS) == 0); /* another slot: its own ring */
    CHECK(sl_log_tail_read(3, out, 4) == 4 && out[0].time_us == 6); /* a smaller cap: the newest */
    for (int i = 10; i < 300; i++)
        write_one(3, i);
    n = sl_log_tail_read(3, out, SL_LOG_TAIL_RECORDS);
    CHECK(n == SL_LOG_TAIL_RECORDS && out[0].time_us == 300 - SL_LOG_TAIL_RECORDS && out[n - 1].time_us == 299);
}

static void test_a_record_being_written_is_skipped(void)
{
    static sl_log_record out[SL_LOG_TAIL_RECORDS];
    sl_log_tail_reset(5);
    for (int i = 0; i < SL_LOG_TAIL_RECORDS; i++)
        write_one(5, i);
    /* The next record takes the place of the oldest; begun, never committed
     * (its worker died): neither the old one nor the half-written one shows. */
    sl_log_record *r = sl_log_tail_begin(5);
    r->time_us = 1000;
    size_t n = sl_log_tail_read(5, out, SL_LOG_TAIL_RECORDS);
    CHECK(n == SL_LOG_TAIL_RECORDS - 1 && out[0].time_us == 1 && out[n - 1].time_us == SL_LOG_TAIL_RECORDS - 1);
    write_one(5, 2000); /* the slot's next worker writes the same record again */
    n = sl_log_tail_read(5, out, SL_LOG_TAIL_RECORDS);
    CHECK(n == SL_LOG_TAIL_RECORDS && out[n - 1].time_us == 2000 && out[0].time_us == 1);
    sl_log_tail_reset(5);
    CHECK(sl_log_tail_read(5, out, SL_LOG_TAIL_RECORDS) == 0);
}

static void test_long_fields_are_cut(void)
{
    char long_path[1000];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    sl_log_record r;
    sl_log_tail_copy(r.path, sizeof(r.path), long_path);
    CHECK(strlen(r.path) == sizeof(r.path) - 1);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_records_come_back_oldest_first_and_bounded),
        UNIT_TEST(test_a_record_being_written_is_skipped),
        UNIT_TEST(test_long_fields_are_cut),
    };
    return sl_unit_run("log_tail", tests, sizeof(tests) / sizeof(tests[0]));
}

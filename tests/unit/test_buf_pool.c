/* Unit tests for the worker's buffer pools (workers/buf.c): buffers come back
 * last-in first-out, a pool grows to what the busiest moment needed, and the
 * once-a-second trim frees only buffers that stayed unused for that second. */
#include <stdlib.h>

#include "tests/unit/unit.h"
#include "workers/worker_internal.h"

static sl_worker w; /* large: static, as in a worker process */

static void reset(void)
{
    sl_buf_pools_free(&w);
    memset(&w, 0, sizeof(w));
    sl_buf_pools_init(&w);
}

static void test_reuse_is_last_in_first_out(void)
{
    reset();
    sl_buf a = {0}, b = {0}, c = {0};
    CHECK(sl_bodybuf_get(&w, &a) == 0 && a.cap == SL_BODY_BUF_SIZE);
    CHECK(sl_bodybuf_get(&w, &b) == 0);
    char *pa = a.data, *pb = b.data;
    sl_bodybuf_put(&w, &a);
    sl_bodybuf_put(&w, &b);
    CHECK(a.data == NULL && a.cap == 0);
    CHECK(sl_bodybuf_get(&w, &c) == 0);
    CHECK(c.data == pb); /* the one freed last */
    sl_buf d = {0};
    CHECK(sl_bodybuf_get(&w, &d) == 0 && d.data == pa);
    sl_bodybuf_put(&w, &c);
    sl_bodybuf_put(&w, &d);
    /* A buffer already held is kept. */
    sl_buf e = {0};
    CHECK(sl_cbuf_get(&w, &e) == 0);
    char *pe = e.data;
    e.end = 5;
    CHECK(sl_cbuf_get(&w, &e) == 0 && e.data == pe && e.end == 5);
    sl_cbuf_put(&w, &e);
    sl_cbuf_put(&w, &e); /* holds none now: nothing happens */
    CHECK(w.cbufs.n == 1);
}

static void test_grows_to_the_busiest_moment_and_trims_unused(void)
{
    reset();
    enum { BUSY = 600 };
    static sl_buf bufs[BUSY];
    for (int i = 0; i < BUSY; i++)
        CHECK(sl_cbuf_get(&w, &bufs[i]) == 0);
    for (int i = 0; i < BUSY; i++)
        sl_cbuf_put(&w, &bufs[i]);
    CHECK(w.cbufs.n == BUSY); /* over the 256 kept when idle */
    /* They were all in use during this second: none is freed. */
    sl_buf_pools_trim(&w);
    CHECK(w.cbufs.n == BUSY);
    /* The next second uses at most 100 at once: 100 stay. */
    w.cbufs.keep = 10;
    for (int i = 0; i < 100; i++)
        CHECK(sl_cbuf_get(&w, &bufs[i]) == 0);
    for (int i = 0; i < 100; i++)
        sl_cbuf_put(&w, &bufs[i]);
    sl_buf_pools_trim(&w);
    CHECK(w.cbufs.n == 100);
    /* An idle second: down to `keep`, and no further. */
    sl_buf_pools_trim(&w);
    CHECK(w.cbufs.n == 10);
    sl_buf_pools_trim(&w);
    CHECK(w.cbufs.n == 10);
}

static void test_never_holds_more_than_max(void)
{
    reset();
    int max = w.bodybufs.max;
    sl_buf *bufs = calloc((size_t)max + 10, sizeof(*bufs));
    for (int i = 0; i < max + 10; i++)
        CHECK(sl_bodybuf_get(&w, &bufs[i]) == 0);
    for (int i = 0; i < max + 10; i++)
        sl_bodybuf_put(&w, &bufs[i]);
    CHECK(w.bodybufs.n == max);
    free(bufs);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_reuse_is_last_in_first_out),
        UNIT_TEST(test_grows_to_the_busiest_moment_and_trims_unused),
        UNIT_TEST(test_never_holds_more_than_max),
    };
    int rc = sl_unit_run("buf_pool", tests, sizeof(tests) / sizeof(tests[0]));
    reset();
    return rc;
}

/* Unit tests for common/zones.c: zones are made once per name and keep their
 * index; a compilation's plan to free zones takes effect only when committed
 * (after its snapshot is published), and a cancelled plan frees nothing. */
#include <string.h>

#include "common/zones.h"
#include "tests/unit/unit.h"

static int inits;
static void init(void *zone, size_t size, const void *old, size_t old_size)
{
    (void)old;
    (void)old_size;
    memset(zone, 0xab, size);
    inits++;
}
static const sl_zone_kind kind = {"test", init};

static void test_zones_are_made_once_and_freed_only_when_a_plan_commits(void)
{
    CHECK(sl_zones_create(1 << 20));
    int a = sl_zone_ensure("t:gw-a", 4096, &kind);
    int b = sl_zone_ensure("t:gw-b", 4096, &kind);
    CHECK(a >= 0 && b >= 0 && a != b && inits == 2);
    CHECK(sl_zone_ensure("t:gw-a", 4096, &kind) == a && inits == 2); /* the same zone, not made again */
    unsigned char *mem = sl_zone_get((uint32_t)a, 4096);
    CHECK(mem && mem[0] == 0xab);
    /* A compilation keeps only gw-a: planned, then cancelled (its snapshot was not published). */
    sl_zones_plan_release("t:", &a, 1);
    sl_zones_cancel_release();
    CHECK(sl_zone_get((uint32_t)b, 4096) != NULL);
    /* Planned and committed: gw-b is freed, gw-a stays. */
    sl_zones_plan_release("t:", &a, 1);
    CHECK(sl_zone_get((uint32_t)b, 4096) != NULL); /* not before the commit */
    sl_zones_commit_release();
    CHECK(sl_zone_get((uint32_t)b, 4096) == NULL);
    CHECK(sl_zone_get((uint32_t)a, 4096) != NULL);
    /* A commit with nothing planned frees nothing. */
    sl_zones_commit_release();
    CHECK(sl_zone_get((uint32_t)a, 4096) != NULL);
    /* Another prefix is not touched by a plan. */
    int other = sl_zone_ensure("u:gw-a", 4096, &kind);
    sl_zones_plan_release("t:", NULL, 0);
    sl_zones_commit_release();
    CHECK(sl_zone_get((uint32_t)a, 4096) == NULL && sl_zone_get((uint32_t)other, 4096) != NULL);
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_zones_are_made_once_and_freed_only_when_a_plan_commits),
    };
    return sl_unit_run("zones", tests, sizeof(tests) / sizeof(tests[0]));
}

/* Unit tests for common/trace_context.c: the traceparent header as W3C Trace
 * Context level 1 section 3.2 says it is read (and ignored when invalid). */
#include <string.h>

#include "common/trace_context.h"
#include "tests/unit/unit.h"

static bool parses(const char *v)
{
    sl_trace_parent p;
    return sl_traceparent_parse(v, strlen(v), &p);
}

static void test_valid(void)
{
    sl_trace_parent p;
    const char *v = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    CHECK(sl_traceparent_parse(v, strlen(v), &p));
    CHECK(p.trace_id[0] == 0x4b && p.trace_id[15] == 0x36);
    CHECK(p.parent_id[0] == 0x00 && p.parent_id[7] == 0xb7);
    CHECK(p.flags == 1);
    char out[SL_TRACEPARENT_LEN + 1];
    sl_traceparent_write(p.trace_id, p.parent_id, p.flags, out);
    CHECK(strcmp(out, v) == 0);
    CHECK(parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    CHECK(parses(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09\t")); /* OWS around the value */
}

static void test_versions(void)
{
    /* A later version: the first four fields as version 00's, more after a '-'. */
    CHECK(parses("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    CHECK(parses("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds"));
    CHECK(!parses("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
    CHECK(!parses("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")); /* ff is invalid */
    CHECK(!parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")); /* 00 is exactly 55 */
}

static void test_invalid(void)
{
    CHECK(!parses(""));
    CHECK(!parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"));
    CHECK(!parses("00-00000000000000000000000000000000-00f067aa0ba902b7-01")); /* zero trace id */
    CHECK(!parses("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01")); /* zero parent id */
    CHECK(!parses("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")); /* uppercase */
    CHECK(!parses("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
    CHECK(!parses("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    CHECK(!parses("0-04bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_valid),
        UNIT_TEST(test_versions),
        UNIT_TEST(test_invalid),
    };
    return sl_unit_run("trace_context", tests, sizeof(tests) / sizeof(tests[0]));
}

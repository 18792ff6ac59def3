/* The settings table (common/settings.c) against the operators' reference
 * (docs/configuration.md): every setting has its row there, with the same
 * default and bounds, so the documentation cannot drift from the code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/settings.h"
#include "common/redis_addr.h"
#include "tests/unit/unit.h"

static char *read_doc(void)
{
    FILE *f = fopen(SL_TOP_SRCDIR "/docs/configuration.md", "r");
    if (!f)
        return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* "1099511627776" or "2^40" */
static long long parse_number(const char *s, const char **end)
{
    char *e;
    long long v = strtoll(s, &e, 10);
    if (e[0] == '^') {
        long long p = strtoll(e + 1, &e, 10);
        long long r = 1;
        while (p-- > 0)
            r *= v;
        v = r;
    }
    *end = e;
    return v;
}

static void test_every_setting_documented_with_its_default_and_bounds(void)
{
    const char *doc = read_doc();
    CHECK(doc != NULL);
    if (!doc)
        return;
    for (int i = 0; i < SL_SET_COUNT; i++) {
        const sl_setting_def *d = &sl_settings[i];
        char key[96];
        snprintf(key, sizeof(key), "| `--%s` | ", d->flag);
        const char *row = strstr(doc, key);
        if (!row) {
            fprintf(stderr, "  docs/configuration.md has no row for --%s\n", d->flag);
            sl_unit_failures++;
            continue;
        }
        const char *p = row + strlen(key), *end;
        long long def = parse_number(p, &end);
        const char *cell = strstr(end, " | ");
        long long min = cell ? parse_number(cell + 3, &end) : -1;
        const char *dash = strstr(end, "– ");
        long long max = dash ? parse_number(dash + strlen("– "), &end) : -1;
        if (def != d->def || min != d->min || max != d->max) {
            fprintf(stderr, "  --%s: documented %lld (%lld – %lld), table says %lld (%lld – %lld)\n", d->flag, def,
                    min, max, (long long)d->def, (long long)d->min, (long long)d->max);
            sl_unit_failures++;
        }
    }
}

/* The --redis address forms, and what is not one. */
static void test_redis_addresses(void)
{
    sl_redis_addr a;
    CHECK(sl_redis_addr_parse("127.0.0.1:6379", &a) && !a.is_unix && a.port == 6379);
    CHECK_STR(a.host, "127.0.0.1");
    CHECK(sl_redis_addr_parse("[::1]:7000", &a) && a.port == 7000);
    CHECK_STR(a.host, "::1");
    CHECK(sl_redis_addr_parse("redis.internal:6380", &a) && a.port == 6380);
    char why[200];
    CHECK(sl_redis_addr_parse("localhost:6380", &a) && sl_redis_addr_resolve(&a, why, sizeof(why)));
    CHECK(strcmp(a.host, "127.0.0.1") == 0 || strcmp(a.host, "::1") == 0);
    CHECK_STR(a.text, "localhost:6380"); /* messages keep what was given */
    CHECK(sl_redis_addr_parse("no-such-host.invalid:1", &a) && !sl_redis_addr_resolve(&a, why, sizeof(why)));
    CHECK(sl_redis_addr_parse("unix:/run/redis.sock", &a) && a.is_unix);
    CHECK_STR(a.host, "/run/redis.sock");
    static const char *const bad[] = {"nowhere", "host:", ":6379", "host:0", "host:65536", "host:12x",
                                      "[::1:6379", "unix:relative", "unix:", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(!sl_redis_addr_parse(bad[i], &a));
}

int main(void)
{
    static const sl_unit_test tests[] = {
        UNIT_TEST(test_every_setting_documented_with_its_default_and_bounds),
        UNIT_TEST(test_redis_addresses),
    };
    return sl_unit_run("settings", tests, sizeof(tests) / sizeof(tests[0]));
}

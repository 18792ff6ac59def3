/* A minimal unit-test harness: each test binary defines test functions, lists them
 * in a table and calls sl_unit_run(). A failed CHECK records the file, line and
 * expression, and the test goes on so one run shows every failure. The binary
 * prints one line per test and a closing "N passed, M failed" line, and exits
 * non-zero when anything failed. */
#ifndef SL_UNIT_H
#define SL_UNIT_H

#include <stdio.h>
#include <string.h>

extern int sl_unit_failures; /* failures in the current test */

#define CHECK(expr)                                                                  \
    do {                                                                             \
        if (!(expr)) {                                                               \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
            sl_unit_failures++;                                                      \
        }                                                                            \
    } while (0)

#define CHECK_STR(a, b)                                                                     \
    do {                                                                                    \
        const char *sl_a_ = (a), *sl_b_ = (b);                                              \
        if (!sl_a_ || !sl_b_ || strcmp(sl_a_, sl_b_) != 0) {                                \
            fprintf(stderr, "  %s:%d: CHECK_STR failed: %s == \"%s\", expected \"%s\"\n",   \
                    __FILE__, __LINE__, #a, sl_a_ ? sl_a_ : "(null)", sl_b_ ? sl_b_ : "(null)"); \
            sl_unit_failures++;                                                             \
        }                                                                                   \
    } while (0)

typedef struct {
    const char *name;
    void (*fn)(void);
} sl_unit_test;

#define UNIT_TEST(fn) {#fn, fn}

int sl_unit_run(const char *suite, const sl_unit_test *tests, size_t count);

#endif

#include "tests/unit/unit.h"

int sl_unit_failures;

int sl_unit_run(const char *suite, const sl_unit_test *tests, size_t count)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        sl_unit_failures = 0;
        tests[i].fn();
        if (sl_unit_failures == 0) {
            printf("ok   %s.%s\n", suite, tests[i].name);
            passed++;
        } else {
            printf("FAIL %s.%s\n", suite, tests[i].name);
            failed++;
        }
        fflush(stdout);
    }
    printf("%s: %d passed, %d failed\n", suite, passed, failed);
    return failed ? 1 : 0;
}

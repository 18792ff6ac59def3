/* Unit tests of aiBudget's shared table (workers/ai_budget_table.c): periods,
 * charges, names, eviction and carrying slots over to a resized table. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/unit/unit.h"
#include "workers/ai_budget_table.h"

static sl_budget_table *table(size_t nslots, size_t *size)
{
    *size = sizeof(sl_budget_table) + nslots * sizeof(sl_budget_slot);
    sl_budget_table *t = calloc(1, *size);
    sl_budget_table_init(t, *size, NULL, 0);
    return t;
}

static void periods_and_charges(void)
{
    size_t size;
    sl_budget_table *t = table(64, &size);
    CHECK(t->nslots == 64);
    sl_budget_slot *s = sl_budget_find(t, 0x1235, "default/budget", "10.0.0.1:80", 8);
    CHECK(s != NULL);
    CHECK_STR(s->policy, "default/budget");
    CHECK_STR(s->key_text, "10.0.0.1"); /* (cut to the length given) */
    CHECK(sl_budget_spent(s, 100) == 0);
    CHECK(sl_budget_charge(s, 100, 7, false) == 7);
    CHECK(sl_budget_charge(s, 100, 5, false) == 12);
    CHECK(sl_budget_spent(s, 100) == 12);
    CHECK(sl_budget_spent(s, 101) == 0);               /* the next period starts from zero */
    CHECK(sl_budget_charge(s, 101, 3, false) == 3);    /* ...and a charge in it restarts the count */
    CHECK(sl_budget_charge(s, 101, 40, true) == 40);   /* a Global total replaces it */
    CHECK(sl_budget_charge(s, 101, SL_BUDGET_SPENT_MAX, false) == SL_BUDGET_SPENT_MAX); /* saturates */
    CHECK(sl_budget_find(t, 0x1235, "x", "y", 1) == s); /* found again, names kept */
    CHECK_STR(s->key_text, "10.0.0.1");
    /* Control characters are not kept as they are (the names are shown as text). */
    sl_budget_slot *odd = sl_budget_find(t, 0x9999, "p", "a\nb", 3);
    CHECK(odd && strcmp(odd->key_text, "a?b") == 0);
    /* Names are valid UTF-8 (the listing is JSON): a stray byte becomes '?', a cut
     * falls between characters. */
    sl_budget_slot *latin1 = sl_budget_find(t, 0x7777, "p", "caf\xe9", 4);
    CHECK(latin1 && strcmp(latin1->key_text, "caf?") == 0);
    sl_budget_slot *overlong = sl_budget_find(t, 0x3333, "p", "\xe0\x80\x80\xed\xa0\x80", 6);
    CHECK(overlong && strcmp(overlong->key_text, "??????") == 0); /* overlong, surrogate: not UTF-8 */
    char accents[81] = "";
    for (int i = 0; i < 40; i++)
        strcat(accents, "\xc3\xa9");
    sl_budget_slot *cut = sl_budget_find(t, 0x5555, "p", accents, 80);
    CHECK(cut && strlen(cut->key_text) == 54 && memcmp(cut->key_text, accents, 54) == 0);
    free(t);
}

static void eviction_and_resize(void)
{
    size_t size;
    sl_budget_table *t = table(8, &size);
    /* Nine keys in a table of eight: one is evicted (the least recently charged). */
    for (uint64_t k = 1; k <= 9; k++) {
        sl_budget_slot *s = sl_budget_find(t, k * 2 + 1, "p", "k", 1);
        CHECK(s != NULL);
        if (s)
            sl_budget_charge(s, 1, k, false);
    }
    CHECK(atomic_load(&t->evictions) == 1);
    /* A larger table keeps what the keys spent. */
    size_t big_size;
    sl_budget_table *big = table(64, &big_size);
    sl_budget_table_init(big, big_size, t, size);
    sl_budget_slot *s = sl_budget_find(big, 9 * 2 + 1, "p", "k", 1);
    CHECK(s && sl_budget_spent(s, 1) == 9);
    CHECK(atomic_load(&big->evictions) == 0);
    free(big);
    free(t);
}

static void abandoned_claims(void)
{
    size_t size;
    sl_budget_table *t = table(8, &size);
    /* A worker died between claiming a slot and publishing its key: the
     * sentinel (2) stays. A fresh one is waited for; an old one is taken. */
    for (int i = 0; i < 8; i++) {
        atomic_store(&t->slots[i].key, 2);
        atomic_store(&t->slots[i].touched, (uint64_t)time(NULL));
    }
    CHECK(sl_budget_find(t, 0x11, "p", "k", 1) == NULL);
    for (int i = 0; i < 8; i++)
        atomic_store(&t->slots[i].touched, (uint64_t)time(NULL) - 60);
    sl_budget_slot *s = sl_budget_find(t, 0x11, "p", "k", 1);
    CHECK(s != NULL && atomic_load(&s->key) == 0x11);
    CHECK(atomic_load(&t->evictions) == 0); /* (a sentinel is no key evicted) */
    /* A resized table does not carry a claim caught half-way. */
    size_t big_size;
    sl_budget_table *big = table(16, &big_size);
    sl_budget_table_init(big, big_size, t, size);
    for (uint64_t i = 0; i < big->nslots; i++)
        CHECK(atomic_load(&big->slots[i].key) != 2);
    free(big);
    free(t);
}

int main(void)
{
    static const sl_unit_test tests[] = {UNIT_TEST(periods_and_charges), UNIT_TEST(eviction_and_resize),
                                         UNIT_TEST(abandoned_claims)};
    return sl_unit_run("ai_budget_table", tests, sizeof(tests) / sizeof(tests[0]));
}

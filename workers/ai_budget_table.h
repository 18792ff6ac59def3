/* The shared table of aiBudget (policy_ai_budget.c): what each key spent in
 * the current period, in a shared-memory zone per Gateway (common/zones.h),
 * shared by its workers and read by the master for the admin API
 * (/debug/ai-budgets). Unlike limit_table.h's anonymous buckets, a slot keeps
 * its policy's and key's names (cut to fit): a budget is something operators
 * look up by who spent it.
 *
 * A slot's state is one atomic word: the period it counts (20 bits: days or
 * months since 1970) and what was spent in it (44 bits: tokens or micro-USD);
 * a charge in a later period starts from zero. Updates are compare-and-swap:
 * no lock a dying worker could leave held. A full neighbourhood (8 slots)
 * gives its least recently used slot to a new key (counted); a slot being
 * claimed holds a sentinel key until its state and names are the new key's. */
#ifndef SL_AI_BUDGET_TABLE_H
#define SL_AI_BUDGET_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_BUDGET_SPENT_MAX ((1ull << 44) - 1)

typedef struct sl_budget_slot {
    _Atomic uint64_t key;     /* the key's hash with the low bit set; 0: free */
    _Atomic uint64_t state;   /* period << 44 | spent */
    _Atomic uint64_t touched; /* wall-clock seconds of the last charge (which slot to evict) */
    char policy[48];          /* the TrafficPolicy, "ns/name" (for the admin API; cut to fit) */
    char key_text[56];        /* the key's value (cut to fit) */
} sl_budget_slot;

typedef struct sl_budget_table {
    uint64_t nslots;
    _Atomic uint64_t evictions;
    uint64_t reserved[6];
    sl_budget_slot slots[];
} sl_budget_table;

/* The zone's size for --ai-budget-entries slots. */
size_t sl_budget_table_size(void);
/* zone_init of a sl_zone_kind: a new table, the slots of a previous one carried over. */
void sl_budget_table_init(void *zone, size_t size, const void *old, size_t old_size);
/* The slot of key, claimed for it (with the names) when it is not there; NULL
 * when others kept changing the neighbourhood. */
sl_budget_slot *sl_budget_find(sl_budget_table *t, uint64_t key, const char *policy, const char *key_text,
                               size_t key_len);
/* What the slot's key spent in `period` (0 when its state is of another). */
uint64_t sl_budget_spent(const sl_budget_slot *s, uint32_t period);
/* Adds n to what was spent in `period` (a state of an earlier one restarts at
 * n); set: the total becomes n (a Global budget's level as Redis keeps it).
 * Returns the total. */
uint64_t sl_budget_charge(sl_budget_slot *s, uint32_t period, uint64_t n, bool set);

#endif

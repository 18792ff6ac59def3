/* The shared table of aiBudget (ai_budget_table.h). */
#include "workers/ai_budget_table.h"

#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include "common/settings.h"

#define PROBE 8
#define TRIES 16
#define CHARGE_TRIES 1000 /* a charge is not dropped for a busy key (key: Route) */
#define SPENT_BITS 44
#define CLAIMING 2ull     /* a slot's key while it is being claimed (real keys are odd) */

size_t sl_budget_table_size(void)
{
    return sizeof(sl_budget_table) + (size_t)sl_setting(SL_SET_AI_BUDGET_ENTRIES) * sizeof(sl_budget_slot);
}

/* A name as the listing shows it (JSON text): valid UTF-8 only, cut at a
 * character's boundary; control characters and invalid bytes become '?'. */
static void copy_name(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < cap - 1;) {
        unsigned char ch = (unsigned char)src[i];
        size_t seq = ch < 0x80 ? 1 : ch >= 0xC2 && ch <= 0xDF ? 2 : (ch & 0xF0) == 0xE0 ? 3 : ch >= 0xF0 && ch <= 0xF4 ? 4 : 0;
        bool valid = seq > 0 && i + seq <= len;
        for (size_t k = 1; valid && k < seq; k++)
            valid = ((unsigned char)src[i + k] & 0xC0) == 0x80;
        if (valid && seq >= 3) {
            /* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
            unsigned char c1 = (unsigned char)src[i + 1];
            valid = !(ch == 0xE0 && c1 < 0xA0) && !(ch == 0xED && c1 > 0x9F) && !(ch == 0xF0 && c1 < 0x90) &&
                    !(ch == 0xF4 && c1 > 0x8F);
        }
        if (!valid || seq == 1) {
            dst[n++] = !valid || ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
            i += 1;
            continue;
        }
        if (n + seq > cap - 1)
            break;
        memcpy(dst + n, src + i, seq);
        n += seq;
        i += seq;
    }
    dst[n] = '\0';
}

void sl_budget_table_init(void *zone, size_t size, const void *old, size_t old_size)
{
    sl_budget_table *t = zone;
    t->nslots = (size - sizeof(sl_budget_table)) / sizeof(sl_budget_slot);
    const sl_budget_table *o = old;
    if (!o || old_size < sizeof(sl_budget_table) ||
        o->nslots > (old_size - sizeof(sl_budget_table)) / sizeof(sl_budget_slot))
        return;
    for (uint64_t i = 0; i < o->nslots; i++) {
        const sl_budget_slot *from = &o->slots[i];
        uint64_t key = atomic_load(&from->key);
        if (!(key & 1))
            continue; /* free, or a claim caught half-way: nothing to carry */
        for (int p = 0; p < PROBE; p++) {
            sl_budget_slot *s = &t->slots[(key + (uint64_t)p) % t->nslots];
            if (!atomic_load(&s->key)) {
                atomic_store(&s->key, key);
                atomic_store(&s->state, atomic_load(&from->state));
                atomic_store(&s->touched, atomic_load(&from->touched));
                memcpy(s->policy, from->policy, sizeof(s->policy));
                memcpy(s->key_text, from->key_text, sizeof(s->key_text));
                break;
            }
        }
    }
}

/* A claim older than this was abandoned (its worker died between the two steps). */
#define STALE_CLAIM_S 10

sl_budget_slot *sl_budget_find(sl_budget_table *t, uint64_t key, const char *policy, const char *key_text,
                               size_t key_len)
{
    if (!t->nslots)
        return NULL;
    for (int tries = 0; tries < TRIES; tries++) {
        sl_budget_slot *victim = NULL;
        uint64_t victim_key = 0, oldest = UINT64_MAX, now = (uint64_t)time(NULL);
        bool claiming = false;
        for (int p = 0; p < PROBE; p++) {
            sl_budget_slot *s = &t->slots[(key + (uint64_t)p) % t->nslots];
            uint64_t k = atomic_load(&s->key);
            if (k == key) {
                atomic_store(&s->touched, now); /* (a key being refused is in use too) */
                return s;
            }
            uint64_t touched = k ? atomic_load(&s->touched) : 0;
            if (k == CLAIMING && touched + STALE_CLAIM_S > now) {
                claiming = true; /* perhaps for this very key: look again rather than claim a second slot */
                continue;
            }
            if (!victim || touched < oldest) {
                victim = s;
                victim_key = k;
                oldest = touched;
            }
        }
        if (claiming || !victim) {
            sched_yield();
            continue;
        }
        /* Claimed only from the key seen in the scan: a slot another worker
         * took meanwhile is not taken from it. */
        if (!atomic_compare_exchange_strong(&victim->key, &victim_key, CLAIMING))
            continue;
        /* Its state and names are the new key's before the key is published:
         * no worker finds it with the evicted key's counts. */
        atomic_store(&victim->touched, now);
        atomic_store(&victim->state, 0);
        copy_name(victim->policy, sizeof(victim->policy), policy, strlen(policy));
        copy_name(victim->key_text, sizeof(victim->key_text), key_text, key_len);
        atomic_store(&victim->key, key);
        if (victim_key & 1)
            atomic_fetch_add(&t->evictions, 1);
        return victim;
    }
    return NULL;
}

uint64_t sl_budget_spent(const sl_budget_slot *s, uint32_t period)
{
    uint64_t st = atomic_load(&s->state);
    return (st >> SPENT_BITS) == period ? st & SL_BUDGET_SPENT_MAX : 0;
}

uint64_t sl_budget_charge(sl_budget_slot *s, uint32_t period, uint64_t n, bool set)
{
    atomic_store(&s->touched, (uint64_t)time(NULL));
    for (int tries = 0; tries < CHARGE_TRIES; tries++) {
        uint64_t st = atomic_load(&s->state);
        uint64_t spent = (st >> SPENT_BITS) == period && !set ? st & SL_BUDGET_SPENT_MAX : 0;
        spent = spent + n > SL_BUDGET_SPENT_MAX || spent + n < spent ? SL_BUDGET_SPENT_MAX : spent + n;
        uint64_t next = (uint64_t)period << SPENT_BITS | spent;
        if (next == st || atomic_compare_exchange_strong(&s->state, &st, next))
            return spent;
    }
    return sl_budget_spent(s, period);
}

/* /debug/ai-budgets: what each key spent of its aiBudget in the current
 * period, read from the Gateways' shared tables (workers/ai_budget_table.h),
 * which the workers charge. Global budgets show the total Redis returned at
 * this node's last charge. */
#include <stdio.h>
#include <string.h>

#include "common/zones.h"
#include "daemon/snapshot_render.h"
#include "workers/ai.h"
#include "workers/ai_budget_table.h"
#include "workers/policy.h"
#include "workers/rate_limit.h"

/* The aiBudget of snapshot s named `name` (as the table keeps it: cut to
 * fit), or NULL. */
static const sl_snap_policy *policy_named(const sl_snapshot *s, unsigned kind, const char *name)
{
    for (uint32_t i = 0; i < sl_snap_count(s, SL_SNAP_POLICIES); i++) {
        const sl_snap_policy *p = SL_SNAP_GET(s, SL_SNAP_POLICIES, sl_snap_policy, i);
        if (p->kind == kind && strncmp(sl_snap_cstr(s, p->source), name, sizeof(((sl_budget_slot *)0)->policy) - 1) == 0)
            return p;
    }
    return NULL;
}

/* A slot holding key k copied: the names are copied (a worker may be writing
 * them) and kept only if the slot still holds the same key after. */
static bool copy_slot(const sl_budget_slot *slot, uint64_t k, sl_budget_slot *copy)
{
    memcpy(copy->policy, slot->policy, sizeof(copy->policy));
    memcpy(copy->key_text, slot->key_text, sizeof(copy->key_text));
    copy->policy[sizeof(copy->policy) - 1] = copy->key_text[sizeof(copy->key_text) - 1] = '\0';
    atomic_store(&copy->state, atomic_load(&slot->state));
    return atomic_load(&slot->key) == k;
}

static json_t *entry(const sl_snapshot *s, const sl_snap_gateway *g, const sl_snap_policy *p, const sl_budget_slot *slot)
{
    uint64_t left_s;
    uint32_t period = sl_ai_budget_period(p, &left_s);
    uint64_t spent = sl_budget_spent(slot, period);
    bool money = p->num[2] != 0;
    char gw[300];
    snprintf(gw, sizeof(gw), "%s/%s", sl_snap_cstr(s, g->ns), sl_snap_cstr(s, g->name));
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:I, s:s}", "gateway", gw, "policy",
                     sl_snap_cstr(s, p->source), "key", slot->key_text, "spent",
                     money ? json_real((double)spent / 1e6) : json_integer((json_int_t)spent), "budget",
                     money ? json_real((double)p->num[0] / 1e6) : json_integer((json_int_t)p->num[0]), "left",
                     money ? json_real((double)(spent < p->num[0] ? p->num[0] - spent : 0) / 1e6)
                           : json_integer((json_int_t)(spent < p->num[0] ? p->num[0] - spent : 0)),
                     "unit", money ? "USD" : "tokens", "period", p->num[1] == 1 ? "Day" : "Month",
                     "renewsInSeconds", (json_int_t)left_s, "scope",
                     p->flags & SL_RATE_LIMIT_GLOBAL ? "Global" : "Local");
}

/* Every claimed slot of every aiBudget table of snapshot s, copied (names
 * checked against a concurrent claim), with its Gateway and its policy. */
typedef void (*slot_fn)(void *arg, const sl_snapshot *s, const sl_snap_gateway *g, const sl_snap_policy *p,
                        const sl_budget_slot *copy, uint64_t id, uint64_t key);

static void each_slot(const sl_snapshot *s, slot_fn fn, void *arg)
{
    int kind = sl_policy_kind_of("aiBudget");
    for (uint32_t zi = 0; kind >= 0 && zi < sl_snap_count(s, SL_SNAP_ZONES); zi++) {
        const sl_snap_zone *z = SL_SNAP_GET(s, SL_SNAP_ZONES, sl_snap_zone, zi);
        const sl_budget_table *t = z->kind == kind ? sl_zone_get(z->zone, sizeof(sl_budget_table)) : NULL;
        if (!t)
            continue;
        const sl_snap_gateway *g = SL_SNAP_GET(s, SL_SNAP_GATEWAYS, sl_snap_gateway, z->gateway);
        const sl_snap_policy *last = NULL; /* (a Gateway has few budgets: the last one found is most likely) */
        for (uint64_t i = 0; i < t->nslots; i++) {
            const sl_budget_slot *slot = &t->slots[i];
            uint64_t k = atomic_load(&slot->key);
            if (!(k & 1)) /* free, or being claimed */
                continue;
            sl_budget_slot copy;
            if (!copy_slot(slot, k, &copy))
                continue;
            const sl_snap_policy *p = last && strncmp(sl_snap_cstr(s, last->source), copy.policy,
                                                      sizeof(copy.policy) - 1) == 0
                                          ? last
                                          : policy_named(s, (unsigned)kind, copy.policy);
            if (!p)
                continue;
            last = p;
            fn(arg, s, g, p, &copy, (uint64_t)z->zone << 32 | i, k);
        }
    }
}

typedef struct listing {
    const char *policy, *key;
    json_t *list;
} listing;

static void list_slot(void *arg, const sl_snapshot *s, const sl_snap_gateway *g, const sl_snap_policy *p,
                      const sl_budget_slot *copy, uint64_t id, uint64_t key)
{
    (void)id, (void)key;
    listing *l = arg;
    if ((l->key && strcmp(copy->key_text, l->key) != 0) ||
        (l->policy && strcmp(sl_snap_cstr(s, p->source), l->policy) != 0))
        return;
    json_t *e = entry(s, g, p, copy);
    if (e)
        json_array_append_new(l->list, e);
}

json_t *sl_snapshot_ai_budgets(const sl_snapshot *s, const char *policy, const char *key)
{
    listing l = {policy, key, json_array()};
    each_slot(s, list_slot, &l);
    return json_pack("{s:I, s:o}", "generation", (json_int_t)sl_snap_hdr(s)->generation, "budgets", l.list);
}

typedef struct spending {
    void (*fn)(void *arg, const sl_ai_budget_spend *b);
    void *arg;
} spending;

static void spend_slot(void *arg, const sl_snapshot *s, const sl_snap_gateway *g, const sl_snap_policy *p,
                       const sl_budget_slot *copy, uint64_t id, uint64_t key)
{
    spending *sp = arg;
    char gw[300];
    snprintf(gw, sizeof(gw), "%s/%s", sl_snap_cstr(s, g->ns), sl_snap_cstr(s, g->name));
    uint64_t left_s;
    sl_ai_budget_spend b = {.id = id, .key = key, .spent = sl_budget_spent(copy, sl_ai_budget_period(p, &left_s)),
                            .usd = p->num[2] != 0, .global = (p->flags & SL_RATE_LIMIT_GLOBAL) != 0,
                            .gateway = gw, .key_text = copy->key_text};
    sp->fn(sp->arg, &b);
}

void sl_snapshot_ai_budget_each(const sl_snapshot *s, void (*fn)(void *arg, const sl_ai_budget_spend *b), void *arg)
{
    spending sp = {fn, arg};
    each_slot(s, spend_slot, &sp);
}

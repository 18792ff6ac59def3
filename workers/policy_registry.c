/* The registry of policy kinds (see policy.h): one line per kind. The index of
 * a kind is stored in compiled snapshots, which master and workers share from
 * one binary, so the order may change between releases but not within one. */
#include "workers/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/zones.h"
#include "workers/conn.h"

extern const sl_policy_ops sl_policy_real_ip;    /* policy_real_ip.c */
extern const sl_policy_ops sl_policy_ip_access;  /* policy_ip_access.c */
extern const sl_policy_ops sl_policy_rate_limit; /* policy_rate_limit.c */
extern const sl_policy_ops sl_policy_mcp_rate_limit; /* policy_mcp_rate_limit.c */
extern const sl_policy_ops sl_policy_ai_token_limit; /* policy_ai_token_limit.c */
extern const sl_policy_ops sl_policy_ai_budget;      /* policy_ai_budget.c */
extern const sl_policy_ops sl_policy_ai_prompt_guard; /* policy_ai_prompt_guard.c */
extern const sl_policy_ops sl_policy_timeouts;   /* policy_timeouts.c */
extern const sl_policy_ops sl_policy_retry;      /* policy_retry.c */
extern const sl_policy_ops sl_policy_headers;    /* policy_headers.c */
extern const sl_policy_ops sl_policy_body_limit; /* policy_body_limit.c */
extern const sl_policy_ops sl_policy_api_key;    /* policy_api_key.c */
extern const sl_policy_ops sl_policy_basic_auth; /* policy_basic_auth.c */
extern const sl_policy_ops sl_policy_jwt;        /* policy_jwt.c */
extern const sl_policy_ops sl_policy_ext_auth;   /* policy_ext_auth.c */
extern const sl_policy_ops sl_policy_cors;       /* policy_cors.c */
extern const sl_policy_ops sl_policy_csrf;       /* policy_csrf.c */
extern const sl_policy_ops sl_policy_authorization; /* policy_authorization.c */
extern const sl_policy_ops sl_policy_mcp_authorization; /* policy_mcp_authorization.c */

/* Within a phase, kinds run in this order: the client's address (realIp),
 * who may call by address (ipAccess), CORS preflights (browsers send them
 * without credentials), cross-site checks, the authentication kinds, the
 * external authorization service (after the local checks: a request they
 * refuse costs it no call), then authorization (which needs to know who
 * called). */
const sl_policy_ops *const sl_policy_kinds[] = {
    /* access */
    &sl_policy_real_ip,
    &sl_policy_ip_access,
    &sl_policy_cors,
    &sl_policy_csrf,
    &sl_policy_api_key,
    &sl_policy_basic_auth,
    &sl_policy_jwt,
    &sl_policy_ext_auth,
    &sl_policy_authorization,
    &sl_policy_mcp_authorization,
    /* limit */
    &sl_policy_rate_limit,
    &sl_policy_mcp_rate_limit,
    &sl_policy_ai_token_limit,
    &sl_policy_ai_budget,
    &sl_policy_body_limit,
    /* request */
    &sl_policy_headers,
    &sl_policy_ai_prompt_guard,
    /* upstream */
    &sl_policy_timeouts,
    &sl_policy_retry,
};
const unsigned sl_policy_nkinds = sizeof(sl_policy_kinds) / sizeof(sl_policy_kinds[0]);

int sl_policy_kind_of(const char *section)
{
    for (unsigned k = 0; k < sl_policy_nkinds; k++)
        if (strcmp(sl_policy_kinds[k]->section, section) == 0)
            return (int)k;
    return -1;
}

sl_policy_result sl_policy_run_chain(struct sl_conn *c, const sl_snapshot *s, sl_snap_range chain, uint32_t from)
{
    for (uint32_t i = from; i < chain.count; i++) {
        const sl_snap_policy_link *l = SL_SNAP_GET(s, SL_SNAP_POLICY_LINKS, sl_snap_policy_link, chain.first + i);
        const sl_snap_policy *p = SL_SNAP_GET(s, SL_SNAP_POLICIES, sl_snap_policy, l->policy);
        const sl_policy_ops *ops = sl_policy_kinds[p->kind]; /* kind < nkinds: sl_snapshot_verify */
        if (ops->on_request_body)
            c->body_hooks = true;
        sl_policy_result r = ops->on_request ? ops->on_request(c, p) : SL_POLICY_NEXT;
        if (r == SL_POLICY_WAIT)
            c->policy_next = i + 1;
        if (r != SL_POLICY_NEXT)
            return r;
    }
    return SL_POLICY_NEXT;
}

int sl_policy_run_body(struct sl_conn *c, sl_slice data, bool last)
{
    const sl_snapshot *s = &c->snap->s;
    sl_snap_range chain = c->route->policies;
    int status = 0;
    for (uint32_t i = 0; i < chain.count && !status; i++) {
        const sl_snap_policy_link *l = SL_SNAP_GET(s, SL_SNAP_POLICY_LINKS, sl_snap_policy_link, chain.first + i);
        const sl_snap_policy *p = SL_SNAP_GET(s, SL_SNAP_POLICIES, sl_snap_policy, l->policy);
        if (sl_policy_kinds[p->kind]->on_request_body)
            status = sl_policy_kinds[p->kind]->on_request_body(c, p, data, c->body_seen, last);
    }
    c->body_seen += data.len;
    return status;
}

bool sl_policy_chain_check(const sl_snapshot *s, char *why, size_t whylen)
{
    uint32_t n = sl_snap_count(s, SL_SNAP_POLICIES);
    for (uint32_t i = 0; i < n; i++) {
        const sl_snap_policy *p = SL_SNAP_GET(s, SL_SNAP_POLICIES, sl_snap_policy, i);
        if (p->kind >= sl_policy_nkinds || p->phase >= SL_NPHASES || p->phase != sl_policy_kinds[p->kind]->phase) {
            snprintf(why, whylen, "policy %u has kind %u, phase %u: not one this binary knows", i, p->kind, p->phase);
            return false;
        }
        if (sl_policy_kinds[p->kind]->check && !sl_policy_kinds[p->kind]->check(s, p)) {
            snprintf(why, whylen, "policy %u (%s) is not consistent with the snapshot", i,
                     sl_policy_kinds[p->kind]->section);
            return false;
        }
    }
    if (sl_policy_nkinds > SL_WSNAP_MAX_KINDS) {
        snprintf(why, whylen, "more policy kinds (%u) than a worker holds zones for", sl_policy_nkinds);
        return false;
    }
    for (uint32_t i = 0; i < sl_snap_count(s, SL_SNAP_ZONES); i++)
        if (SL_SNAP_GET(s, SL_SNAP_ZONES, sl_snap_zone, i)->kind >= sl_policy_nkinds) {
            snprintf(why, whylen, "zone %u is for a policy kind this binary does not have", i);
            return false;
        }
    return true;
}

void *sl_policy_state(const struct sl_conn *c, const sl_snap_policy *p)
{
    const sl_snapshot *s = &c->snap->s;
    if (!c->snap->policy_state)
        return NULL;
    size_t i = (size_t)(p - SL_SNAP_GET(s, SL_SNAP_POLICIES, sl_snap_policy, 0));
    return i < sl_snap_count(s, SL_SNAP_POLICIES) ? c->snap->policy_state[i] : NULL;
}

void **sl_policy_prepare_all(const sl_snapshot *s)
{
    uint32_t n = sl_snap_count(s, SL_SNAP_POLICIES);
    void **states = NULL;
    for (uint32_t i = 0; i < n; i++) {
        const sl_snap_policy *p = SL_SNAP_GET(s, SL_SNAP_POLICIES, sl_snap_policy, i);
        if (!sl_policy_kinds[p->kind]->prepare)
            continue;
        if (!states && !(states = calloc(n, sizeof(void *))))
            return NULL;
        states[i] = sl_policy_kinds[p->kind]->prepare(s, p);
    }
    return states;
}

void sl_policy_unprepare_all(const sl_snapshot *s, void **states)
{
    if (!states)
        return;
    for (uint32_t i = 0; i < sl_snap_count(s, SL_SNAP_POLICIES); i++)
        if (states[i])
            sl_policy_kinds[SL_SNAP_GET(s, SL_SNAP_POLICIES, sl_snap_policy, i)->kind]->unprepare(states[i]);
    free(states);
}

void sl_policy_find_zones(const sl_snapshot *s, uint32_t gateway, void **zones)
{
    memset(zones, 0, sizeof(void *) * SL_WSNAP_MAX_KINDS);
    for (uint32_t i = 0; i < sl_snap_count(s, SL_SNAP_ZONES); i++) {
        const sl_snap_zone *z = SL_SNAP_GET(s, SL_SNAP_ZONES, sl_snap_zone, i);
        if (z->gateway == gateway && z->kind < sl_policy_nkinds && sl_policy_kinds[z->kind]->zone_size)
            zones[z->kind] = sl_zone_get(z->zone, sl_policy_kinds[z->kind]->zone_size());
    }
}

const sl_snap_policy_item *sl_policy_item_search(const sl_snapshot *s, const sl_snap_policy *p, const void *key,
                                                 int (*cmp)(const void *key, const sl_snapshot *s,
                                                            const sl_snap_policy_item *item))
{
    uint32_t lo = 0, hi = p->items.count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const sl_snap_policy_item *it = SL_SNAP_GET(s, SL_SNAP_POLICY_ITEMS, sl_snap_policy_item, p->items.first + mid);
        int c = cmp(key, s, it);
        if (c == 0)
            return it;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

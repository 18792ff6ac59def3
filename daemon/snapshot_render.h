/* Renders a snapshot as JSON for /debug/snapshot: what the workers actually run. */
#ifndef SL_SNAPSHOT_RENDER_H
#define SL_SNAPSHOT_RENDER_H

#include <jansson.h>
#include <stdbool.h>

#include "common/control.h"
#include "common/snapshot.h"

/* Returns a new JSON object describing the snapshot. */
json_t *sl_snapshot_render(const sl_snapshot *s);

/* Every record of every section, field by field as the sections' descriptors
 * say (snapshot_raw.c): the blob's exact contents. s must have been verified. */
json_t *sl_snapshot_render_raw(const sl_snapshot *s);

/* Maps the control block's current generation by name, verifies and renders it
 * (raw: with sl_snapshot_render_raw). Returns NULL (and a message in why) when
 * there is none or it cannot be read. */
/* /debug/ai-budgets (ai_budgets.c): each key's spending of its aiBudget in
 * the current period; policy ("ns/name") and key filter when not NULL. */
json_t *sl_snapshot_ai_budgets(const sl_snapshot *s, const char *policy, const char *key);
/* The same tables slot by slot, for the traffic history (no JSON): each key's
 * spending in its current period, with what identifies the slot. */
typedef struct sl_ai_budget_spend {
    uint64_t id;          /* the slot: zone << 32 | index in the table */
    uint64_t key;         /* the key's hash (another key in the slot has another) */
    uint64_t spent;       /* tokens, or micro-USD when usd */
    bool usd, global;     /* a costUSD budget; scope Global (spent is Redis's total) */
    const char *gateway;  /* "namespace/name" */
    const char *key_text; /* as /debug/ai-budgets shows it */
} sl_ai_budget_spend;
void sl_snapshot_ai_budget_each(const sl_snapshot *s, void (*fn)(void *arg, const sl_ai_budget_spend *b), void *arg);
json_t *sl_snapshot_render_current(const sl_control *c, bool raw, char *why, size_t whylen);

/* Maps the control block's current generation, verifies it and returns fn(s,
 * arg); NULL with why when there is none or it cannot be read. */
json_t *sl_snapshot_with_current(const sl_control *c, json_t *(*fn)(const sl_snapshot *s, void *arg), void *arg,
                                 char *why, size_t whylen);

/* backend_state.c: /debug/backends, each backend (of namespace ns and name
 * `name` when not NULL) with its BackendPolicy, counters and endpoints' state. */
json_t *sl_snapshot_backends(const sl_snapshot *s, const char *ns, const char *name);
/* backend_state.c: the endpoint and backend series of /metrics, as a JSON
 * string (for sl_snapshot_with_current; arg unused). */
json_t *sl_snapshot_backend_metrics(const sl_snapshot *s, void *arg);

/* A route entry's policy chain: [{section, phase, policy}] in phase order. */
json_t *sl_snapshot_render_chain(const sl_snapshot *s, sl_snap_range chain);

/* effective_policy.c: for /debug/effective-policy, what applies to route
 * kind ns/name: one entry per Gateway, listener and rule where it is attached,
 * with the policy sections in force there and where each came from. */
json_t *sl_snapshot_effective_policy(const sl_snapshot *s, const char *kind, const char *ns, const char *name);

#endif

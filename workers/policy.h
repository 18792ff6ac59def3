/* Policies on the request path: the phase chain.
 *
 * A route entry of the snapshot carries the chain of compiled policies in force
 * for it (sl_snap_route.policies), merged by the compiler section by section
 * (rule > route > listener > Gateway; daemon/compiler_policies.c) and ordered
 * by phase. Each policy kind is one file with one ops table (compile in the
 * master, hooks in the worker), listed once in the registry
 * (workers/policy_registry.c): adding a kind is a new file and one line there.
 *
 * Phases, in the order a request meets them:
 *   access    who may call: IP rules, authentication, authorisation
 *   limit     how often: rate limits, budgets
 *   request   the request as sent upstream: headers, body
 *   upstream  backend choice, retries
 *   response  the response as sent to the client
 *   log       after the response
 * A hook of a later phase is added to the ops table with its first user. */
#ifndef SL_POLICY_H
#define SL_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/slice.h"
#include "common/snapshot.h"
#include "daemon/snapshot_builder.h"

typedef enum {
    SL_PHASE_ACCESS = 0,
    SL_PHASE_LIMIT,
    SL_PHASE_REQUEST,
    SL_PHASE_UPSTREAM,
    SL_PHASE_RESPONSE,
    SL_PHASE_LOG,
    SL_NPHASES
} sl_policy_phase;

typedef enum {
    SL_POLICY_NEXT = 0, /* go on with the next policy */
    SL_POLICY_ANSWERED, /* the policy answered the request (it is not proxied) */
    SL_POLICY_WAIT,     /* the policy started an operation (a call to a service): the request
                         * waits until the policy answers it or calls sl_policy_resume */
} sl_policy_result;

struct sl_conn;

/* What a kind's compile step may read besides its section (master only). */
typedef struct sl_policy_env {
    sl_snap_builder *b;
    const char *ns;     /* the TrafficPolicy's namespace */
    const char *source; /* "namespace/name", for messages */
    /* Calls fn for each entry of Secret `name` in ns (the value decoded from
     * base64, NUL-terminated); false when there is no such Secret. */
    bool (*secret_data)(const struct sl_policy_env *env, const char *name,
                        void (*fn)(const char *key, const char *value, size_t len, void *arg), void *arg);
    /* The last good JSON document fetched from uri (malloc'd), or NULL; it is
     * fetched again every refresh_ms. A problem (not fetched yet, the last
     * fetch failed and an older document is in use) is written to why. The
     * master fetches in the background and compiles again when a document
     * changes (daemon/fetcher.h). NULL: nothing is fetched. */
    char *(*fetched)(const char *uri, uint32_t refresh_ms, char *why, size_t whylen);
    /* Whether the master reaches Redis (--redis) now; when not, why. NULL: unknown. */
    bool (*redis_health)(char *why, size_t whylen);
    void *compiler; /* the compilation, for secret_data */
} sl_policy_env;

typedef struct sl_policy_ops {
    const char *section; /* the TrafficPolicy spec field it reads ("ipAccess") */
    uint8_t phase;       /* sl_policy_phase */
    /* Whether it also applies to connections passed through (TLS passthrough,
     * TCP): on_request then runs when such a connection is routed, before its
     * upstream is chosen, and may use nothing of HTTP (no head, no body: the
     * client's address, the route). An answer closes the connection. Kinds
     * without it are left out of those routes' chains (and status says so). */
    bool connections;
    /* Master: compiles a validated section into rec (kind, phase and source are
     * set by the caller) and its items (appended to POLICY_ITEMS through env->b).
     * Returns false, with why, when the section cannot take effect; true with
     * why set when it takes effect with a problem that status must report
     * (an authentication kind fails closed that way). */
    bool (*compile)(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why, size_t whylen);
    /* Optional, worker: whether a compiled record is safe to use, for what the
     * snapshot verifier cannot know (indexes kept among the kind's numbers). */
    bool (*check)(const sl_snapshot *s, const sl_snap_policy *p);
    /* Worker: runs once the request head is routed, before the route's filters.
     * A hook that returns SL_POLICY_WAIT has set c->policy_cancel (called if
     * the request ends first) and finishes later, from the loop, never from
     * within on_request (see sl_policy_resume). While it waits the worker serves others:
     * what the hook needs of the request afterwards it copies first. */
    sl_policy_result (*on_request)(struct sl_conn *c, const sl_snap_policy *p);
    /* Optional, worker: the request body as it goes to the upstream, de-chunked
     * (HTTP/1 chunked and HTTP/2 bodies too), each byte once and in order:
     * data follows `offset` bytes already seen; last: the body ends with it
     * (a chunked body ends with an empty call that says last; a request
     * without a body makes no call).
     * Returns 0 to let it go on, or the status (413...) the request gets
     * instead: the upstream request is abandoned before the refused bytes
     * reach it and the client connection closes after the answer. */
    int (*on_request_body)(struct sl_conn *c, const sl_snap_policy *p, sl_slice data, uint64_t offset, bool last);
    /* Optional: state that outlives snapshots, in one shared-memory zone per
     * Gateway (common/zones.h) of zone_size() bytes; the worker finds it in
     * c->snap->zones[kind]. */
    const struct sl_zone_kind *zone;
    size_t (*zone_size)(void);
    /* Optional, worker: what a compiled policy needs built once per snapshot
     * (compiled regular expressions...), made when the worker maps the
     * snapshot and freed with it (unprepare); found with sl_policy_state.
     * NULL: nothing to build, or it cannot be (the hooks then do without). */
    void *(*prepare)(const sl_snapshot *s, const sl_snap_policy *p);
    void (*unprepare)(void *state);
} sl_policy_ops;

/* The registry: index = the kind stored in sl_snap_policy.kind. */
extern const sl_policy_ops *const sl_policy_kinds[];
extern const unsigned sl_policy_nkinds;

/* policy_rate_limit.c: buckets evicted from a rateLimit zone (for /metrics). */
uint64_t sl_rate_limit_evictions(const void *zone);

/* policy_authorization.c, shared with mcpAuthorization: a rule's claim
 * conditions compiled ("name\tvalue\tvalue" lines), and whether the request's
 * verified JWT meets every one of them (false without a JWT). */
sl_snap_str sl_authz_compile_claims(sl_snap_builder *b, const json_t *claims);
bool sl_authz_claims_match(const struct sl_conn *c, const char *conds);

/* policy_mcp_authorization.c: whether the MCP route's mcpAuthorization (if
 * any) lets the caller see and use a tool, prompt or resource (its name as the
 * client sees it). */
typedef enum { SL_MCP_TOOL = 0, SL_MCP_PROMPT = 1, SL_MCP_RESOURCE = 2, SL_MCP_A2A_METHOD = 3 } sl_mcp_item_kind;
bool sl_mcp_allowed(const struct sl_conn *c, sl_mcp_item_kind kind, const char *name);
/* policy_mcp_rate_limit.c: takes a token for a call of tool by the caller from
 * the route's mcpRateLimit (if any, and if it counts that tool): 0 when there
 * was one, else the ms until one is back. */
uint64_t sl_mcp_rate_limit(struct sl_conn *c, const char *tool);

/* The kind that handles a TrafficPolicy section; -1 when none does (yet). */
int sl_policy_kind_of(const char *section);

/* Worker: the prepared state of policy p (ops->prepare) in c's snapshot, or NULL. */
void *sl_policy_state(const struct sl_conn *c, const sl_snap_policy *p);
/* Worker: builds (and frees) the prepared states of every policy of a snapshot
 * whose kind prepares one: an array of one pointer per POLICIES record, or NULL. */
void **sl_policy_prepare_all(const sl_snapshot *s);
void sl_policy_unprepare_all(const sl_snapshot *s, void **states);

/* Worker: binary search of a policy's items, sorted by the compiler in the order
 * cmp(key, item) follows (negative: key sorts before the item). */
const sl_snap_policy_item *sl_policy_item_search(const sl_snapshot *s, const sl_snap_policy *p, const void *key,
                                                 int (*cmp)(const void *key, const sl_snapshot *s,
                                                            const sl_snap_policy_item *item));

/* Worker: what sl_snapshot_verify cannot know: every policy is of a kind this
 * binary has, in that kind's phase. */
bool sl_policy_chain_check(const sl_snapshot *s, char *why, size_t whylen);

/* Worker: the zones of its own Gateway (gateway: GATEWAYS index, SL_SNAP_NONE
 * for none) by kind, into zones[SL_WSNAP_MAX_KINDS]. */
void sl_policy_find_zones(const sl_snapshot *s, uint32_t gateway, void **zones);

/* Worker: runs the request hooks of a route entry's chain in phase order,
 * from link `from`. Returns SL_POLICY_NEXT when every policy let the request
 * through, SL_POLICY_ANSWERED when one answered it, SL_POLICY_WAIT when one
 * waits (c->policy_next is then the link to go on with). Inline for the common
 * case of a route without policies (the plain proxy path pays one comparison). */
sl_policy_result sl_policy_run_chain(struct sl_conn *c, const sl_snapshot *s, sl_snap_range chain, uint32_t from);
static inline sl_policy_result sl_policy_run_request(struct sl_conn *c, const sl_snapshot *s,
                                                     const sl_snap_route *route)
{
    return route->policies.count != 0 ? sl_policy_run_chain(c, s, route->policies, 0) : SL_POLICY_NEXT;
}

/* Worker: gives body bytes to the request body hooks of c's chain (c->body_hooks
 * says it has some). Returns 0, or the first refusal's status. */
int sl_policy_run_body(struct sl_conn *c, sl_slice data, bool last);

/* Worker: what a waiting policy does when its operation is over: first
 * sl_policy_wait_over (its operation is no longer to be cancelled), then
 * either answers the request (sl_conn_respond..., after which c may be gone)
 * or calls sl_policy_resume: the chain goes on, then the proxy. Defined by the
 * proxy (proxy.c), which owns the request's course. */
void sl_policy_wait_over(struct sl_conn *c);
void sl_policy_resume(struct sl_conn *c);

#endif

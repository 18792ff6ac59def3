/* HTTPRoute filters on the worker's side: answers the gateway gives itself
 * (redirects, CORS preflights), request and response header changes, URL
 * rewrites and mirrors, one file each, and the forwarding fields. The ranges
 * come from the matched rule's action and from the chosen backendRef. */
#ifndef SL_FILTERS_H
#define SL_FILTERS_H

#include <jansson.h>

#include "daemon/snapshot_builder.h"
#include "workers/conn.h"

/* ---- the registry of HTTPRoute filter types (filter_registry.c) ----
 *
 * Each filter type is one small table, in the file of its filter: how the
 * master compiles it into snapshot filter records, and the worker hooks it
 * has. Header modifiers and URL rewrites have no hook of their own: the
 * request and response head builders below read their records, because the
 * request line, Host and the order of fields depend on all of them together. */

/* What a filter's compile step may use (master only). */
typedef struct sl_filter_env {
    sl_snap_builder *b;
    const char *route_ns, *route_name; /* the route, for messages and backendRefs */
    /* Appends a record to the filter list being compiled (a rule's or a backendRef's). */
    void (*push)(struct sl_filter_env *env, const sl_snap_filter *rec);
    /* Resolves a backendRef of the route: a BACKENDS index or SL_SNAP_NONE. */
    uint32_t (*backend)(struct sl_filter_env *env, const json_t *ref);
    void *compiler, *list; /* for push and backend */
} sl_filter_env;

typedef struct sl_filter_ops {
    const char *name; /* the HTTPRoute filter type ("RequestRedirect") */
    uint8_t type;     /* the type of the records it compiles to (sl_snap_filter_type) */
    /* Master: the filter object (with its "type") into records, through env->push. */
    void (*compile)(sl_filter_env *env, const json_t *filter);
    /* Worker, optional: answers the request itself, once its policies let it
     * through (true when it did). */
    bool (*answer)(sl_conn *c, const sl_snap_route *route, const sl_snap_filter *f);
    /* Worker, optional: runs when the upstream request head is ready, before
     * the request goes to its backend. */
    void (*before_upstream)(sl_conn *c, const sl_snap_filter *f);
} sl_filter_ops;

/* By record type; NULL for a type no filter has. */
#define SL_FILTER_NKINDS 8
extern const sl_filter_ops *const sl_filter_kinds[SL_FILTER_NKINDS];
/* The filter type called `name`; NULL when sluice has none (ExtensionRef). */
const sl_filter_ops *sl_filter_kind_named(const char *name);

/* Filters that answer the request themselves (their `answer` hook:
 * RequestRedirect; CORS preflights are answered earlier, before the policies).
 * Returns true when a response was queued. */
bool sl_filters_answer(sl_conn *c, const sl_snap_route *route, const sl_snap_action *a);

/* Writes the request head for the upstream: method, (rewritten) target, Host,
 * the client's end-to-end fields changed by the RequestHeaderModifiers of both
 * ranges, and the forwarding fields. Returns false when it does not fit. */
bool sl_filters_request_head(sl_conn *c, const sl_snap_route *route, sl_snap_range rule, sl_snap_range backend);

/* Writes the response head for the client from the parsed upstream response,
 * with ResponseHeaderModifiers and CORS headers applied. */
void sl_filters_response_head(sl_conn *c, sl_buf *b);

/* Runs the rule's `before_upstream` hooks (RequestMirror's copies). */
void sl_filters_before_upstream(sl_conn *c, sl_snap_range rule);

/* ---- between the filters' files ---- */

/* A snapshot string as a slice; filter record i; the first filter of a type in
 * a range (NULL when none). filter_util.c: the path a rewrite or redirect
 * writes (f NULL or without a path change: the received path). */
static inline sl_slice sl_filter_str(const sl_snapshot *s, sl_snap_str x)
{
    return sl_slice_make(sl_snap_cstr(s, x), x.len);
}
static inline const sl_snap_filter *sl_filter_at(const sl_snapshot *s, uint32_t i)
{
    return SL_SNAP_GET(s, SL_SNAP_FILTERS, sl_snap_filter, i);
}
/* Inline: called for every proxied request, mostly on an empty range. */
static inline const sl_snap_filter *sl_filter_find(const sl_snapshot *s, sl_snap_range r, uint8_t type)
{
    for (uint32_t i = 0; i < r.count; i++)
        if (sl_filter_at(s, r.first + i)->type == type)
            return sl_filter_at(s, r.first + i);
    return NULL;
}
void sl_filter_write_path(sl_buf *b, const sl_snapshot *s, const sl_snap_route *route, const sl_snap_filter *f,
                          sl_slice path);
/* Master: a redirect's or rewrite's "path" object as a path change and its value. */
uint8_t sl_filter_path_mod(const json_t *path, const char **value);


/* filter_cors.c: remembers the request's Origin for the response and answers a
 * preflight (true when it answered; cors may be NULL); whether an origin is
 * allowed; the CORS header lines of an answer to an allowed origin. */
bool sl_cors_preflight(sl_conn *c, const sl_snap_filter *cors);
bool sl_cors_origin_allowed(const sl_snapshot *s, const sl_snap_filter *f, const char *origin);
void sl_cors_headers(sl_buf *b, const sl_snapshot *s, const sl_snap_filter *f, const char *origin, bool preflight,
                     const char *requested_method, const char *requested_headers);

/* filter_headers.c: whether a modifier of `type` in the ranges sets or removes
 * `name` (the received field is dropped); writes the modifiers' set and add
 * lines (except the names in `skip`, NULL-terminated, or NULL: Host, which the
 * request line's writer places, and traceparent when tracing writes its own);
 * writes one field line. */
bool sl_headers_replaced(const sl_snapshot *s, const sl_snap_range *ranges, int nranges, uint8_t type, sl_slice name);
void sl_headers_emit_ops(sl_buf *b, const sl_snapshot *s, const sl_snap_range *ranges, int nranges, uint8_t type,
                         const char *const *skip);
void sl_headers_put(sl_buf *b, sl_slice name, sl_slice value);
/* The same for a TrafficPolicy's modifiers (`policy`), which apply only to
 * names that the route's modifiers (`ranges`) do not touch: whether they drop
 * a received field; the policy's Host value, if it sets one that applies;
 * their set and add lines. */
bool sl_headers_policy_replaces(const sl_snapshot *s, sl_snap_range policy, const sl_snap_range *ranges, int nranges,
                                uint8_t type, sl_slice name);
const sl_snap_filter *sl_headers_policy_host(const sl_snapshot *s, sl_snap_range policy, const sl_snap_range *ranges,
                                             int nranges);
void sl_headers_emit_policy(sl_buf *b, const sl_snapshot *s, sl_snap_range policy, const sl_snap_range *ranges,
                            int nranges, uint8_t type, const char *const *skip);

/* forwarded.c: whether a received field is one of the forwarding fields sluice
 * rewrites; writes them for this hop. */
bool sl_forwarded_is_ours(sl_slice name);
void sl_forwarded_fields(sl_conn *c, sl_buf *b);

#endif

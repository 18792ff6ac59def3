/* Shared by the two scopes of the rateLimit kind: local buckets in shared
 * memory (policy_rate_limit.c) and global ones in Redis (rate_limit_global.c). */
#ifndef SL_RATE_LIMIT_H
#define SL_RATE_LIMIT_H

#include <stdint.h>

#include "common/slice.h"
#include "common/snapshot.h"
#include "workers/policy.h"

#define SL_RATE_LIMIT_GLOBAL 1    /* sl_snap_policy.flags: scope Global */
#define SL_RATE_LIMIT_FAIL_DENY 2 /* ...failureMode Deny */

struct sl_conn;

/* Master: a limit section's key (key, header, claim: num[3] and a) and scope
 * (scope, failureMode: flags) into rec, shared by rateLimit and aiTokenLimit;
 * a Global scope without a reachable Redis is reported in why (`what` is
 * counted, singular: "request"). */
/* Master: rateLimit's section (requests, unit, burst, key, scope) into rec;
 * also what mcpRateLimit compiles (policy_mcp_rate_limit.c). */
bool sl_rate_limit_compile(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec, char *why,
                           size_t whylen);
/* Worker: takes a token from key's bucket in table t for policy p: 0 when there
 * was one (*left: tokens left, *full_in_ms: until the bucket is full), else the
 * ms until one is back. */
struct sl_limit_table;
uint64_t sl_rate_limit_take(struct sl_limit_table *t, uint64_t key, const sl_snap_policy *p, uint64_t *left,
                            uint64_t *full_in_ms);
void sl_rate_limit_compile_key(const sl_policy_env *env, const json_t *section, sl_snap_policy *rec,
                               const char *kind, const char *what, char *why, size_t whylen);

/* The request's key for policy p: its bytes (valid during the request) and a
 * tag saying what they are ('4'/'6' an address, 'H' a header, 'C' a client id,
 * 'J' a claim, 'R' a route), so that equal bytes of two kinds differ. */
sl_slice sl_rate_limit_key(const struct sl_conn *c, const sl_snap_policy *p, char *tag);

/* The request's key for policy p in a shared table (limit_table.h): a seeded
 * hash of the policy's name, the tag and the key. */
uint64_t sl_rate_limit_bucket_key(const struct sl_conn *c, const sl_snap_policy *p);

/* A request passed policy p with `left` tokens left, its bucket full again in
 * full_in_ms: its response carries the RateLimit fields (sl_rate_limit_fields). */
void sl_rate_limit_passed(struct sl_conn *c, const sl_snap_policy *p, uint64_t left, uint64_t full_in_ms);
/* Appends RateLimit-Policy and RateLimit fields of c's passed policy to a response head. */
struct sl_buf;
void sl_rate_limit_fields(const struct sl_conn *c, struct sl_buf *b);

/* Answers 429 with Retry-After and the RateLimit fields. */
void sl_rate_limit_refuse(struct sl_conn *c, const sl_snap_policy *p, uint64_t wait_ms);

/* The Redis key of the request's bucket for policy p: "sluice:<prefix>:{ns/name}:"
 * and a SHA-256 of the tag and key (stable across nodes). false: it did not fit. */
bool sl_rate_limit_redis_key(const struct sl_conn *c, const sl_snap_policy *p, const char *prefix, char *key,
                             size_t cap);

/* Redis failed or is not there for policy p of `kind`: its failureMode decides
 * (counted, logged at most once a second): SL_POLICY_NEXT, or the 503 answered. */
sl_policy_result sl_rate_limit_redis_failed(struct sl_conn *c, const sl_snap_policy *p, const char *kind,
                                            const char *why);

/* The Global scope: asks Redis (waits) or decides by failureMode at once. */
sl_policy_result sl_rate_limit_global(struct sl_conn *c, const sl_snap_policy *p);

#endif

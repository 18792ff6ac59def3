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

/* The request's key for policy p: its bytes (valid during the request) and a
 * tag saying what they are ('4'/'6' an address, 'H' a header, 'C' a client id,
 * 'J' a claim, 'R' a route), so that equal bytes of two kinds differ. */
sl_slice sl_rate_limit_key(const struct sl_conn *c, const sl_snap_policy *p, char *tag);

/* A request passed policy p with `left` tokens left, its bucket full again in
 * full_in_ms: its response carries the RateLimit fields (sl_rate_limit_fields). */
void sl_rate_limit_passed(struct sl_conn *c, const sl_snap_policy *p, uint64_t left, uint64_t full_in_ms);
/* Appends RateLimit-Policy and RateLimit fields of c's passed policy to a response head. */
struct sl_buf;
void sl_rate_limit_fields(const struct sl_conn *c, struct sl_buf *b);

/* Answers 429 with Retry-After and the RateLimit fields. */
void sl_rate_limit_refuse(struct sl_conn *c, const sl_snap_policy *p, uint64_t wait_ms);

/* The Global scope: asks Redis (waits) or decides by failureMode at once. */
sl_policy_result sl_rate_limit_global(struct sl_conn *c, const sl_snap_policy *p);

#endif

/* A worker's connection to Redis (--redis), for policies whose state is shared
 * by every sluiced node (rateLimit scope Global): hiredis's asynchronous API on
 * the worker's libev loop (hiredis's own libev adapter), one connection per
 * worker with commands pipelined on it, never blocking the loop.
 *
 * The connection is made on first use and made again after it breaks, at most
 * once a second. While there is none, a call fails at once (no waiting on a
 * Redis that is down). A call has a deadline (--redis-timeout): past it, its
 * callback reports a failure and a late reply is dropped. */
#ifndef SL_REDIS_CLIENT_H
#define SL_REDIS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct redisReply;
typedef struct sl_redis_call sl_redis_call;

/* reply: NULL when the call failed (why says how), else Redis's reply (valid
 * during the callback only). Called once, from the loop. */
typedef void (*sl_redis_done)(const struct redisReply *reply, const char *why, void *arg);

/* EVAL of script with one key and argc string arguments. NULL when no call
 * could start (no connection now: *why says why); done is then never called. */
sl_redis_call *sl_redis_eval(struct ev_loop *loop, const char *script, const char *key, int argc,
                             const char *const *argv, sl_redis_done done, void *arg, const char **why);

/* Abandons a call: done is never called. */
void sl_redis_cancel(sl_redis_call *call);

#endif

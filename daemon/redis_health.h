/* The master's view of Redis (--redis): a thread that PINGs it every two
 * seconds, so that the status of TrafficPolicies with a Global rate limit says
 * whether their Redis is reachable. A change wakes the master (notify), which
 * compiles again and rewrites the status. Without --redis nothing runs. */
#ifndef SL_REDIS_HEALTH_H
#define SL_REDIS_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void sl_redis_health_start(void (*notify)(void *), void *arg);
void sl_redis_health_stop(void);

/* True when the last PING was answered (or none was tried yet); else why. */
bool sl_redis_health(char *why, size_t whylen);

/* Changes of health so far: part of what makes the master compile again. */
uint64_t sl_redis_health_version(void);

#endif

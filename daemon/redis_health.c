/* The master's Redis probe (see redis_health.h): hiredis's blocking API, on its
 * own thread, with short timeouts. */
#include "daemon/redis_health.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/redis_addr.h"

#define PROBE_EVERY_S 2

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool running, stopping;
    bool healthy;
    char problem[200];
    void (*notify)(void *);
    void *arg;
    _Atomic uint64_t version;
} H = {.lock = PTHREAD_MUTEX_INITIALIZER, .healthy = true};

/* One PING: true when answered, else why. */
static bool ping(char *why, size_t whylen)
{
    struct timeval tv = {1, 0};
    redisContext *rc = sl_redis.is_unix ? redisConnectUnixWithTimeout(sl_redis.host, tv)
                                        : redisConnectWithTimeout(sl_redis.host, sl_redis.port, tv);
    if (!rc || rc->err) {
        snprintf(why, whylen, "%s", rc ? rc->errstr : "out of memory");
        redisFree(rc);
        return false;
    }
    redisSetTimeout(rc, tv);
    redisReply *r = redisCommand(rc, "PING");
    bool ok = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING);
    if (!ok)
        snprintf(why, whylen, "%s", r && r->type == REDIS_REPLY_ERROR ? r->str : rc->err ? rc->errstr : "no answer");
    freeReplyObject(r);
    redisFree(rc);
    return ok;
}

static void *run(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&H.lock);
    while (!H.stopping) {
        pthread_mutex_unlock(&H.lock);
        char why[200] = "";
        bool ok = ping(why, sizeof(why));
        pthread_mutex_lock(&H.lock);
        bool changed = ok != H.healthy || (!ok && strcmp(why, H.problem) != 0);
        H.healthy = ok;
        snprintf(H.problem, sizeof(H.problem), "%s", ok ? "" : why);
        if (changed) {
            if (ok)
                sl_log_info("redis", "%s answers again", sl_redis.text);
            else
                sl_log_warn("redis", "%s is unreachable: %s", sl_redis.text, why);
            atomic_fetch_add(&H.version, 1);
            pthread_mutex_unlock(&H.lock);
            H.notify(H.arg);
            pthread_mutex_lock(&H.lock);
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += PROBE_EVERY_S;
        if (!H.stopping)
            pthread_cond_timedwait(&H.wake, &H.lock, &ts);
    }
    pthread_mutex_unlock(&H.lock);
    return NULL;
}

void sl_redis_health_start(void (*notify)(void *), void *arg)
{
    if (!sl_redis.set)
        return;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&H.wake, &attr);
    pthread_condattr_destroy(&attr);
    H.notify = notify;
    H.arg = arg;
    if (pthread_create(&H.thread, NULL, run, NULL) != 0) {
        sl_log_error("redis", "cannot start the Redis probe thread");
        return;
    }
    H.running = true;
}

void sl_redis_health_stop(void)
{
    if (!H.running)
        return;
    pthread_mutex_lock(&H.lock);
    H.stopping = true;
    pthread_cond_signal(&H.wake);
    pthread_mutex_unlock(&H.lock);
    pthread_join(H.thread, NULL);
    H.running = false;
}

bool sl_redis_health(char *why, size_t whylen)
{
    pthread_mutex_lock(&H.lock);
    bool ok = H.healthy;
    snprintf(why, whylen, "%s", H.problem);
    pthread_mutex_unlock(&H.lock);
    return ok;
}

uint64_t sl_redis_health_version(void)
{
    return atomic_load(&H.version);
}

/* The master's Redis probe (see redis_health.h): hiredis's blocking API, on its
 * own thread, with short timeouts. */
#include "daemon/redis_health.h"

#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/redis_addr.h"
#include "daemon/bg_thread.h"

#define PROBE_EVERY_S 2

static struct {
    sl_bg_thread t;
    bool healthy;
    char problem[200];
    void (*notify)(void *);
    void *arg;
    _Atomic uint64_t version;
} H = {.t = SL_BG_THREAD_INIT, .healthy = true};

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
    pthread_mutex_lock(&H.t.lock);
    while (!H.t.stopping) {
        pthread_mutex_unlock(&H.t.lock);
        char why[200] = "";
        bool ok = ping(why, sizeof(why));
        pthread_mutex_lock(&H.t.lock);
        bool changed = ok != H.healthy || (!ok && strcmp(why, H.problem) != 0);
        H.healthy = ok;
        snprintf(H.problem, sizeof(H.problem), "%s", ok ? "" : why);
        if (changed) {
            if (ok)
                sl_log_info("redis", "%s answers again", sl_redis.text);
            else
                sl_log_warn("redis", "%s is unreachable: %s", sl_redis.text, why);
            atomic_fetch_add(&H.version, 1);
            pthread_mutex_unlock(&H.t.lock);
            H.notify(H.arg);
            pthread_mutex_lock(&H.t.lock);
        }
        sl_bg_thread_sleep(&H.t, PROBE_EVERY_S * 1000);
    }
    pthread_mutex_unlock(&H.t.lock);
    return NULL;
}

void sl_redis_health_start(void (*notify)(void *), void *arg)
{
    if (!sl_redis.set)
        return;
    H.notify = notify;
    H.arg = arg;
    if (!sl_bg_thread_start(&H.t, run, NULL))
        sl_log_error("redis", "cannot start the Redis probe thread");
}

void sl_redis_health_stop(void)
{
    sl_bg_thread_stop(&H.t);
}

bool sl_redis_health(char *why, size_t whylen)
{
    pthread_mutex_lock(&H.t.lock);
    bool ok = H.healthy;
    snprintf(why, whylen, "%s", H.problem);
    pthread_mutex_unlock(&H.t.lock);
    return ok;
}

uint64_t sl_redis_health_version(void)
{
    return atomic_load(&H.version);
}

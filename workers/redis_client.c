/* The worker's Redis connection (see redis_client.h). Process state: a worker
 * is single-threaded with one loop. */
#include "workers/redis_client.h"

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/redis_addr.h"
#include "common/settings.h"

/* hiredis's libev adapter is a header of static functions: only attach is used. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wshadow"
#include <hiredis/adapters/libev.h>
#pragma GCC diagnostic pop

#define RECONNECT_AFTER_S 1.0

#define MAX_ARGS 16

struct sl_redis_call {
    sl_redis_done done;
    void *arg;
    ev_timer deadline;
    bool finished; /* reported, or cancelled: its reply is only freed */
    bool resent;   /* sent again as EVAL after Redis did not know the script */
    int n;
    char *args[MAX_ARGS]; /* EVALSHA sha 1 key args... (copies); args[1] becomes the script to resend */
    size_t lens[MAX_ARGS];
    const char *script;
};

static void call_free(sl_redis_call *call)
{
    for (int i = 0; i < call->n; i++)
        if (i != 1 || !call->resent)
            free(call->args[i]);
    free(call);
}

/* The script's SHA-1 in hex, as EVALSHA names it (computed once per script). */
static const char *script_sha(const char *script)
{
    static const char *last;
    static char hex[41];
    if (script != last) {
        unsigned char md[20];
        unsigned int mdlen = 0;
        if (EVP_Digest(script, strlen(script), md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
            return NULL;
        for (int i = 0; i < 20; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        last = script;
    }
    return hex;
}

static struct {
    redisAsyncContext *ac; /* NULL: none now */
    bool connected;
    struct ev_loop *loop;
    ev_tstamp next_attempt;
    char last_error[160];
} R;

static void on_connect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        snprintf(R.last_error, sizeof(R.last_error), "%s", ac->errstr);
        sl_log_warn("redis", "cannot connect to %s: %s", sl_redis.text, ac->errstr);
        R.ac = NULL; /* hiredis frees the context after this callback */
        R.connected = false;
        return;
    }
    R.connected = true;
    sl_log_info("redis", "connected to %s", sl_redis.text);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK)
        sl_log_warn("redis", "connection to %s lost: %s", sl_redis.text, ac->errstr);
    snprintf(R.last_error, sizeof(R.last_error), "%s", status == REDIS_OK ? "disconnected" : ac->errstr);
    R.ac = NULL;
    R.connected = false;
}

/* The connection, made now if there is none and the last attempt was long enough ago. */
static redisAsyncContext *connection(struct ev_loop *loop, const char **why)
{
    if (R.ac)
        return R.ac;
    if (!sl_redis.set) {
        *why = "no Redis is configured (--redis)";
        return NULL;
    }
    ev_tstamp now = ev_now(loop);
    if (now < R.next_attempt) {
        *why = R.last_error[0] ? R.last_error : "Redis unreachable";
        return NULL;
    }
    R.next_attempt = now + RECONNECT_AFTER_S;
    R.loop = loop;
    redisAsyncContext *ac = sl_redis.is_unix ? redisAsyncConnectUnix(sl_redis.host)
                                             : redisAsyncConnect(sl_redis.host, sl_redis.port);
    if (!ac || ac->err) {
        snprintf(R.last_error, sizeof(R.last_error), "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        *why = R.last_error;
        return NULL;
    }
    if (redisLibevAttach(loop, ac) != REDIS_OK) {
        redisAsyncFree(ac);
        *why = "cannot watch the Redis connection";
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    R.ac = ac;
    return ac;
}

/* A call past its deadline: the connection is dropped (the calls pipelined
 * behind this one would be later still), which reports every pending call,
 * this one included, as failed; the next call connects again. */
static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t;
    (void)revents;
    redisAsyncContext *ac = R.ac;
    R.ac = NULL;
    R.connected = false;
    R.next_attempt = ev_now(loop) + RECONNECT_AFTER_S;
    sl_log_warn("redis", "%s did not answer within --redis-timeout; reconnecting", sl_redis.text);
    if (ac)
        redisAsyncFree(ac);
    snprintf(R.last_error, sizeof(R.last_error), "Redis did not answer in time");
}

/* hiredis: the reply (NULL when the connection failed or was freed). */
static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    sl_redis_call *call = privdata;
    const redisReply *reply = r;
    if (!call->finished && !call->resent && reply && reply->type == REDIS_REPLY_ERROR &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        /* Redis does not know the script yet (or forgot it: a restart): send it
         * whole once; it is cached from then on. */
        free(call->args[0]);
        free(call->args[1]);
        call->args[0] = strdup("EVAL");
        call->args[1] = (char *)call->script;
        call->resent = true;
        if (call->args[0]) {
            call->lens[0] = 4;
            call->lens[1] = strlen(call->script);
            if (redisAsyncCommandArgv(ac, on_reply, call, call->n, (const char **)call->args, call->lens) == REDIS_OK)
                return;
        }
    }
    if (!call->finished) {
        ev_timer_stop(R.loop, &call->deadline);
        call->finished = true;
        if (!reply)
            call->done(NULL, ac->errstr[0] ? ac->errstr : "Redis did not answer in time", call->arg);
        else if (reply->type == REDIS_REPLY_ERROR)
            call->done(NULL, reply->str, call->arg);
        else
            call->done(reply, NULL, call->arg);
    }
    call_free(call);
}

sl_redis_call *sl_redis_eval(struct ev_loop *loop, const char *script, const char *key, int argc,
                             const char *const *argv, sl_redis_done done, void *arg, const char **why)
{
    redisAsyncContext *ac = connection(loop, why);
    if (!ac)
        return NULL;
    const char *sha = script_sha(script);
    sl_redis_call *call = argc <= MAX_ARGS - 4 && sha ? calloc(1, sizeof(*call)) : NULL;
    if (!call) {
        *why = sha ? "too many arguments, or out of memory" : "cannot hash the script";
        return NULL;
    }
    /* EVALSHA: the script is sent once per connection's Redis, not per call. */
    const char *args[MAX_ARGS] = {"EVALSHA", sha, "1", key};
    for (int i = 0; i < argc; i++)
        args[4 + i] = argv[i];
    call->n = 4 + argc;
    call->script = script;
    bool ok = true;
    for (int i = 0; i < call->n; i++) {
        ok = ok && (call->args[i] = strdup(args[i])) != NULL;
        call->lens[i] = ok ? strlen(args[i]) : 0;
    }
    call->done = done;
    call->arg = arg;
    if (!ok || redisAsyncCommandArgv(ac, on_reply, call, call->n, (const char **)call->args, call->lens) != REDIS_OK) {
        call_free(call);
        *why = ok ? "cannot send to Redis" : "out of memory";
        return NULL;
    }
    ev_timer_init(&call->deadline, on_deadline, (double)sl_setting(SL_SET_REDIS_TIMEOUT_MS) / 1000.0, 0.);
    call->deadline.data = call;
    ev_timer_start(loop, &call->deadline);
    return call;
}

void sl_redis_cancel(sl_redis_call *call)
{
    ev_timer_stop(R.loop, &call->deadline);
    call->finished = true; /* freed when its reply (or the connection's end) comes */
}

/* The worker's HTTP client (see http_client.h): one curl multi handle per
 * worker process on its libev loop (libcurl's "multi_socket" interface: curl
 * says which sockets to watch and when to wake it; the loop tells curl what
 * happened). Workers are single-threaded and have one loop, so the client is
 * process state, made on first use. */
#include "workers/http_client.h"

#include <curl/curl.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_CONNECTIONS_PER_HOST 64
#define SPARE_HANDLES 64 /* easy handles kept for reuse: making one per call costs more than the call */

struct sl_http_call {
    CURL *easy;
    struct curl_slist *headers;
    sl_http_reply reply;
    size_t headers_cap, body_cap;
    bool too_big;
    size_t max_body;         /* of the reply */
    char errbuf[CURL_ERROR_SIZE];
    sl_http_done done;
    void *arg;
    /* A streamed call: body bytes go to chunk as they arrive (from the loop,
     * after libcurl returns), not into one reply. */
    sl_http_chunk chunk;
    bool removed;                 /* out of the multi handle (finished or cancelled) */
    bool dirty;                   /* ...has bytes not yet given to chunk */
    bool head_news;               /* ...its head is complete and chunk has not heard of it */
    sl_http_call *dirty_prev, *dirty_next;
};

static struct {
    CURLM *multi;
    struct ev_loop *loop;
    ev_timer timer;
    unsigned in_flight;
    CURL *spare[SPARE_HANDLES];
    unsigned nspare;
    sl_http_call *dirty;          /* streamed calls with bytes to give out */
    sl_http_call *delivering;     /* the call whose chunk callback runs */
    bool delivering_cancelled;    /* ...and that callback cancelled it */
} C;

static void unlink_dirty(sl_http_call *call)
{
    if (!call->dirty)
        return;
    if (call->dirty_prev)
        call->dirty_prev->dirty_next = call->dirty_next;
    else
        C.dirty = call->dirty_next;
    if (call->dirty_next)
        call->dirty_next->dirty_prev = call->dirty_prev;
    call->dirty = false;
    call->dirty_prev = call->dirty_next = NULL;
}

static void call_free(sl_http_call *call);

/* Gives call's waiting bytes to its chunk callback. false: the callback
 * cancelled the call (it is freed). */
static bool deliver(sl_http_call *call)
{
    unlink_dirty(call);
    if (!call->reply.body_len && !call->head_news)
        return true;
    call->head_news = false; /* (a head alone is told with no bytes: a stream that says nothing yet is open) */
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &call->reply.status);
    C.delivering = call;
    C.delivering_cancelled = false;
    call->chunk(&call->reply, call->reply.body, call->reply.body_len, call->arg);
    C.delivering = NULL;
    if (C.delivering_cancelled) {
        call_free(call);
        return false;
    }
    call->reply.body_len = 0;
    if (call->reply.body)
        call->reply.body[0] = '\0';
    return true;
}

/* Every streamed call's waiting bytes (a callback may cancel any call: each
 * is taken off the list before its callback runs). */
static void deliver_all(void)
{
    while (C.dirty)
        deliver(C.dirty);
}

static void call_free(sl_http_call *call)
{
    if (call->easy && C.nspare < SPARE_HANDLES) {
        curl_easy_reset(call->easy); /* options back to defaults; its caches stay */
        C.spare[C.nspare++] = call->easy;
    } else if (call->easy) {
        curl_easy_cleanup(call->easy);
    }
    curl_slist_free_all(call->headers);
    free(call->reply.headers);
    free(call->reply.body);
    free(call);
}

/* Reports every finished transfer. */
static void check_done(void)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(C.multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        sl_http_call *call = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        CURLcode rc = msg->data.result;
        curl_multi_remove_handle(C.multi, msg->easy_handle);
        C.in_flight--;
        call->removed = true;
        if (call->chunk && !deliver(call))
            continue; /* its last bytes ended it: cancelled, no done */
        if (rc == CURLE_OK) {
            curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &call->reply.status);
        } else {
            call->reply.status = 0;
            call->reply.bad_request = rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL;
            snprintf(call->reply.error, sizeof(call->reply.error), "%s",
                     call->too_big ? "the reply is too large" : call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc));
        }
        call->done(&call->reply, call->arg);
        call_free(call);
    }
}

static void on_socket_event(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    int flags = ((revents & EV_READ) ? CURL_CSELECT_IN : 0) | ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(C.multi, io->fd, flags, &running);
    deliver_all();
    check_done();
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)t;
    (void)revents;
    int running;
    curl_multi_socket_action(C.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    deliver_all();
    check_done();
}

/* curl: watch socket s for `what` (or stop watching it). */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)userp;
    ev_io *io = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (io) {
            ev_io_stop(C.loop, io);
            free(io);
            curl_multi_assign(C.multi, s, NULL);
        }
        return 0;
    }
    int events = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!io) {
        io = calloc(1, sizeof(*io));
        if (!io)
            return -1;
        ev_io_init(io, on_socket_event, s, events);
        curl_multi_assign(C.multi, s, io);
    } else {
        ev_io_stop(C.loop, io);
        ev_io_set(io, s, events);
    }
    ev_io_start(C.loop, io);
    return 0;
}

/* curl: wake it after timeout_ms (-1: no timer). */
static int on_timeout(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    (void)userp;
    ev_timer_stop(C.loop, &C.timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&C.timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(C.loop, &C.timer);
    }
    return 0;
}

static bool client_init(struct ev_loop *loop)
{
    if (C.multi)
        return true;
    C.multi = curl_multi_init();
    if (!C.multi)
        return false;
    C.loop = loop;
    ev_init(&C.timer, on_timer);
    curl_multi_setopt(C.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(C.multi, CURLMOPT_TIMERFUNCTION, on_timeout);
    curl_multi_setopt(C.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)MAX_CONNECTIONS_PER_HOST);
    return true;
}

/* Appends to a growing NUL-terminated buffer; false beyond max. */
static bool append(char **buf, size_t *len, size_t *cap, const char *data, size_t n, size_t max)
{
    if (*len + n > max)
        return false;
    if (*len + n + 1 > *cap) {
        size_t cap2 = (*len + n + 1) * 2;
        char *grown = realloc(*buf, cap2);
        if (!grown)
            return false;
        *buf = grown;
        *cap = cap2;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

static void mark_dirty(sl_http_call *call)
{
    if (!call->chunk || call->dirty)
        return;
    call->dirty = true;
    call->dirty_next = C.dirty;
    if (C.dirty)
        C.dirty->dirty_prev = call;
    C.dirty = call;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    sl_http_call *call = arg;
    if (size * n > 0)
        mark_dirty(call);
    if (!append(&call->reply.body, &call->reply.body_len, &call->body_cap, data, size * n, call->max_body)) {
        call->too_big = true;
        return 0;
    }
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    sl_http_call *call = arg;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        call->reply.headers_len = 0; /* a new response (after 100 Continue): its own fields */
        if (call->reply.headers)
            call->reply.headers[0] = '\0';
        return len;
    }
    if (len <= 2 || !memchr(data, ':', len)) {
        if (len <= 2 && call->chunk) {
            call->head_news = true; /* the blank line ending the head: a streamed call hears of it */
            mark_dirty(call);
        }
        return len;
    }
    if (!append(&call->reply.headers, &call->reply.headers_len, &call->headers_cap, data, len,
                SL_HTTP_REPLY_MAX_HEADERS)) {
        call->too_big = true;
        return 0;
    }
    return len;
}

sl_http_call *sl_http_call_start(struct ev_loop *loop, const char *method, const char *url,
                                 const char *const *headers, size_t nheaders, uint32_t timeout_ms,
                                 sl_http_done done, void *arg)
{
    return sl_http_call_post(loop, method, url, headers, nheaders, NULL, 0, SL_HTTP_REPLY_MAX_BODY, timeout_ms, done,
                             arg);
}

sl_http_call *sl_http_call_post(struct ev_loop *loop, const char *method, const char *url,
                                const char *const *headers, size_t nheaders, const void *body, size_t body_len,
                                size_t max_reply, uint32_t timeout_ms, sl_http_done done, void *arg)
{
    if (!client_init(loop))
        return NULL;
    sl_http_call *call = calloc(1, sizeof(*call));
    if (call)
        call->easy = C.nspare ? C.spare[--C.nspare] : curl_easy_init();
    if (!call || !call->easy) {
        free(call);
        return NULL;
    }
    call->done = done;
    call->arg = arg;
    call->max_body = max_reply;
    bool ok = true;
    for (size_t i = 0; ok && i < nheaders; i++) {
        struct curl_slist *l = curl_slist_append(call->headers, headers[i]);
        ok = l != NULL;
        if (l)
            call->headers = l;
    }
    /* No "Expect: 100-continue" and no default Accept: only what the caller gives. */
    struct curl_slist *l = ok ? curl_slist_append(call->headers, "Expect:") : NULL;
    if (l)
        call->headers = l;
    if (!l) {
        call_free(call);
        return NULL;
    }
    CURL *e = call->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never a proxy from the environment (http_proxy...) */
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        /* Copied: the caller's buffer need not outlive the call. */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "sluice");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, call);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    if (curl_multi_add_handle(C.multi, e) != CURLM_OK) {
        call_free(call);
        return NULL;
    }
    C.in_flight++;
    return call;
}

void sl_http_call_cancel(sl_http_call *call)
{
    unlink_dirty(call);
    if (!call->removed) {
        curl_multi_remove_handle(C.multi, call->easy);
        C.in_flight--;
        call->removed = true;
    }
    if (call == C.delivering) {
        C.delivering_cancelled = true; /* freed once its callback returns */
        return;
    }
    call_free(call);
}

sl_http_call *sl_http_call_stream(struct ev_loop *loop, const char *method, const char *url,
                                  const char *const *headers, size_t nheaders, const void *body, size_t body_len,
                                  size_t max_burst, uint32_t timeout_ms, sl_http_chunk chunk, sl_http_done done,
                                  void *arg)
{
    sl_http_call *call =
        sl_http_call_post(loop, method, url, headers, nheaders, body, body_len, max_burst, timeout_ms, done, arg);
    if (call)
        call->chunk = chunk; /* (no byte can have arrived: the loop has not run) */
    return call;
}

unsigned sl_http_calls_in_flight(void)
{
    return C.in_flight;
}

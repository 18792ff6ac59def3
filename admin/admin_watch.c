/* Watch streams: `GET ...?watch=1&resourceVersion=N` answers with one JSON event
 * per line ({"type":"ADDED|MODIFIED|DELETED","object":{...}}), read from the
 * store's watch log. Each watch runs in its own connection thread and sleeps on
 * the store's condition variable between writes, so watches cost nothing while
 * idle and never hold up other requests. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/admin_internal.h"
#include "admin/admin_select.h"
#include "common/log.h"
#include "common/sl.h"
#include "daemon/objects.h"

#define WATCH_BATCH 256
#define WATCH_DEFAULT_TIMEOUT_S 1800
#define WATCH_POLL_MS 1000

typedef struct watch_state {
    sl_admin *admin;
    const sl_kind *kind;
    char api_version[192];
    char ns[64];
    sl_selector *labels, *fields;
    int64_t rv;      /* events up to here are queued or delivered */
    json_t *queue;   /* events waiting to be written */
    size_t qpos;
    char *pending;   /* serialized event being written */
    size_t pending_len, pending_off;
    int fd;          /* client socket, to notice a client that went away */
    char token_hash[65]; /* the token it runs under: the watch ends when it is revoked */
    time_t authz_checked_s;
    time_t deadline; /* CLOCK_MONOTONIC seconds */
    bool finished;
} watch_state;

static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static bool client_gone(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Serializes the next event that passes the selectors into pending. Returns false
 * when the queue holds none. */
static bool next_pending(watch_state *w)
{
    while (w->qpos < json_array_size(w->queue)) {
        json_t *ev = json_array_get(w->queue, w->qpos++);
        json_t *obj = json_object_get(ev, "object");
        if (!sl_selector_matches(w->labels, obj) || !sl_selector_matches(w->fields, obj))
            continue;
        json_object_set_new(obj, "apiVersion", json_string(w->api_version));
        json_object_set_new(obj, "kind", json_string(w->kind->kind));
        char *text = json_dumps(ev, JSON_COMPACT);
        if (!text)
            continue;
        size_t n = strlen(text);
        char *line = realloc(text, n + 2);
        if (!line) {
            free(text);
            continue;
        }
        line[n] = '\n';
        line[n + 1] = '\0';
        w->pending = line;
        w->pending_len = n + 1;
        w->pending_off = 0;
        return true;
    }
    json_array_clear(w->queue);
    w->qpos = 0;
    return false;
}

static void queue_expired(watch_state *w)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "too old resource version: %lld", (long long)w->rv);
    json_t *st = sl_status_failure(410, "Expired", msg, NULL, NULL, NULL);
    json_t *ev = json_pack("{s:s, s:o}", "type", "ERROR", "object", st);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (text) {
        size_t n = strlen(text);
        char *line = realloc(text, n + 2);
        if (line) {
            line[n] = '\n';
            line[n + 1] = '\0';
            w->pending = line;
            w->pending_len = n + 1;
            w->pending_off = 0;
        } else {
            free(text);
        }
    }
    w->finished = true;
}

static ssize_t watch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    watch_state *w = cls;
    for (;;) {
        if (w->pending) {
            size_t n = w->pending_len - w->pending_off;
            if (n > max)
                n = max;
            memcpy(buf, w->pending + w->pending_off, n);
            w->pending_off += n;
            if (w->pending_off == w->pending_len) {
                free(w->pending);
                w->pending = NULL;
            }
            return (ssize_t)n;
        }
        if (w->finished || w->admin->stopping)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (w->authz_checked_s != now_s()) {
            /* Once a second, busy or idle: a revoked token's watch ends within it. */
            w->authz_checked_s = now_s();
            if (!sl_admin_still_authorized(w->admin, w->token_hash)) {
                sl_log_info("admin", "watch of %s ended: its token was revoked", w->kind->kind);
                return MHD_CONTENT_READER_END_OF_STREAM;
            }
        }
        if (next_pending(w))
            continue;
        json_t *events;
        int64_t last;
        int rc = sl_store_events_since(w->admin->store, w->rv, w->kind->kind, w->ns, WATCH_BATCH, &events, &last);
        if (rc == SL_GONE) {
            json_decref(events);
            queue_expired(w);
            continue;
        }
        if (rc != SL_OK) {
            json_decref(events);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        w->rv = last;
        if (json_array_size(events) > 0) {
            json_decref(w->queue);
            w->queue = events;
            w->qpos = 0;
            continue;
        }
        json_decref(events);
        /* Nothing new: sleep until the next write, checking now and then whether
         * the client left, the watch timed out or the server is stopping. */
        if (client_gone(w->fd) || now_s() >= w->deadline)
            return MHD_CONTENT_READER_END_OF_STREAM;

        sl_store_wait(w->admin->store, w->rv, WATCH_POLL_MS);
    }
}

static void watch_free(void *cls)
{
    watch_state *w = cls;
    sl_admin_metrics_watch_delta(&w->admin->metrics, -1);
    json_decref(w->queue);
    free(w->pending);
    sl_selector_free(w->labels);
    sl_selector_free(w->fields);
    free(w);
}

/* Queues an ADDED event for every current object: the state a watch without a
 * resourceVersion starts from. */
static int queue_initial_state(watch_state *w)
{
    json_t *items;
    int64_t rv;
    if (sl_store_list(w->admin->store, w->kind->kind, w->ns, &items, &rv) != SL_OK) {
        json_decref(items);
        return SL_ERR;
    }
    size_t i;
    json_t *obj;
    json_array_foreach(items, i, obj) json_array_append_new(w->queue, json_pack("{s:s, s:O}", "type", "ADDED", "object", obj));
    json_decref(items);
    w->rv = rv;
    return SL_OK;
}

enum MHD_Result sl_admin_handle_watch(sl_admin_req *r, const sl_admin_path *p)
{
    if (p->name[0])
        return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                    "watch a collection, with fieldSelector=metadata.name=%s to follow one object",
                                    p->name);
    char err[256];
    watch_state *w = calloc(1, sizeof(*w));
    if (!w)
        return MHD_NO;
    w->admin = r->admin;
    w->kind = p->kind;
    memcpy(w->token_hash, r->token_hash, sizeof(w->token_hash));
    w->queue = json_array();
    sl_kind_api_version(p->kind, p->version, w->api_version, sizeof(w->api_version));
    snprintf(w->ns, sizeof(w->ns), "%s", p->ns);
    sl_admin_metrics_watch_delta(&r->admin->metrics, 1);
    w->labels = sl_label_selector_parse(sl_admin_query(r, "labelSelector"), err, sizeof(err));
    if (!w->labels) {
        watch_free(w);
        return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL, "invalid labelSelector: %s", err);
    }
    w->fields = sl_field_selector_parse(sl_admin_query(r, "fieldSelector"), err, sizeof(err));
    if (!w->fields) {
        watch_free(w);
        return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL, "invalid fieldSelector: %s", err);
    }
    long long timeout, limit;
    enum MHD_Result bad;
    if (!sl_admin_query_count(r, "timeoutSeconds", &timeout, &bad) || !sl_admin_query_count(r, "limit", &limit, &bad)) {
        watch_free(w);
        return bad;
    }
    w->deadline = now_s() + (timeout > 0 ? (time_t)timeout : WATCH_DEFAULT_TIMEOUT_S);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    w->fd = ci ? ci->connect_fd : -1;

    const char *rvs = sl_admin_query(r, "resourceVersion");
    if (!rvs || !*rvs || strcmp(rvs, "0") == 0) {
        if (queue_initial_state(w) != SL_OK) {
            watch_free(w);
            return sl_admin_reply_error(r, 500, "InternalError", NULL, NULL, NULL, "cannot read the store");
        }
    } else {
        char *end;
        long long v = strtoll(rvs, &end, 10);
        if (*end || v < 0) {
            watch_free(w);
            return sl_admin_reply_error(r, 400, "BadRequest", NULL, NULL, NULL,
                                        "resourceVersion must be a decimal number, not \"%s\"", rvs);
        }
        w->rv = v;
        /* Refuse up front when the log no longer reaches back that far. */
        json_t *probe;
        int64_t last;
        int rc = sl_store_events_since(r->admin->store, w->rv, p->kind->kind, p->ns, 1, &probe, &last);
        json_decref(probe);
        if (rc == SL_GONE) {
            watch_free(w);
            return sl_admin_reply_error(r, 410, "Expired", NULL, NULL, NULL,
                                        "too old resource version: %lld (current %lld)", v,
                                        (long long)sl_store_current_rv(r->admin->store));
        }
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, watch_read, w,
                                                                  watch_free);
    if (!resp) {
        watch_free(w);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
    enum MHD_Result res = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    r->status_code = 200;
    return res;
}

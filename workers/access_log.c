/* The access log: one JSON line per request, gathered in a buffer and written
 * when the loop is about to sleep or the buffer fills. The descriptor is
 * non-blocking: when it cannot take more, lines are dropped and counted rather
 * than stalling the proxy. Every request also leaves a record in the worker's
 * ring of last requests, for the dashboard. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log_tail.h"
#include "workers/access_log_format.h"
#include "workers/conn.h"
#include "workers/worker_internal.h"

#define LOG_BUF_SIZE 65536

static void flush_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    sl_access_log_flush(t->data);
}

void sl_access_log_init(sl_worker *w)
{
    if (w->args.access_log_fd < 0)
        return;
    int fl = fcntl(w->args.access_log_fd, F_GETFL);
    if (fl >= 0)
        fcntl(w->args.access_log_fd, F_SETFL, fl | O_NONBLOCK);
    if (sl_buf_alloc(&w->log, LOG_BUF_SIZE) != 0)
        w->args.access_log_fd = -1;
    ev_timer_init(&w->log_flush, flush_cb, 0.2, 0.2);
    w->log_flush.data = w;
    ev_timer_start(w->loop, &w->log_flush);
}

void sl_access_log_flush(sl_worker *w)
{
    if (w->args.access_log_fd < 0)
        return;
    while (sl_buf_len(&w->log)) {
        ssize_t n = write(w->args.access_log_fd, w->log.data + w->log.start, sl_buf_len(&w->log));
        if (n > 0) {
            w->log.start += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break; /* EAGAIN or an error: keep what we have, try again later */
    }
    if (sl_buf_len(&w->log) == 0)
        w->log.start = w->log.end = 0;
}

/* The longest line: the request's fields are bounded (host 128, path 512,
 * User-Agent 256, Referer 512, escaping up to 6x) and a template's text too. */
#define MAX_LINE 16384

/* The request's record in the slot's ring of last requests (common/log_tail.h),
 * which the dashboard reads whether or not an access log is written. */
static void tail_record(sl_worker *w, const sl_conn *c)
{
    sl_log_record *r = sl_log_tail_begin((uint32_t)w->args.slot);
    if (!r)
        return;
    uint64_t now = sl_now_ms();
    /* The clock itself, not the loop's (read once per turn): the records of
     * two workers are put in order by it. (A vDSO call: no system call.) */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->time_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    r->duration_ms = now > c->started_ms ? (uint32_t)(now - c->started_ms) : 0;
    r->status = (uint16_t)(c->status > 0 ? c->status : 0);
    r->bytes_sent = c->bytes_out;
    r->bytes_received = c->bytes_in;
    r->traced = c->trace.on;
    if (r->traced)
        memcpy(r->trace_id, c->trace.trace_id, sizeof(r->trace_id));
    sl_log_client_text(c, r->client, sizeof(r->client));
    sl_log_tail_copy(r->method, sizeof(r->method), c->log_method);
    sl_log_tail_copy(r->host, sizeof(r->host), c->log_host);
    sl_log_tail_copy(r->path, sizeof(r->path), c->log_path);
    sl_log_tail_copy(r->route, sizeof(r->route), c->log_route);
    sl_log_tail_copy(r->upstream, sizeof(r->upstream), c->log_upstream);
    sl_log_tail_commit((uint32_t)w->args.slot, r);
}

void sl_access_log_line(sl_worker *w, const sl_conn *c)
{
    tail_record(w, c);
    if (w->args.access_log_fd < 0)
        return;
    /* Rendered straight into the buffer: no line copy. */
    if (sl_buf_room(&w->log) < MAX_LINE) {
        sl_access_log_flush(w);
        if (w->log.start)
            sl_buf_compact(&w->log); /* (the destination took only part: keep the rest in front) */
    }
    size_t n = sl_buf_room(&w->log) ? sl_log_format_render(c, w->log.data + w->log.end, sl_buf_room(&w->log)) : 0;
    if (n)
        w->log.end += n;
    else
        atomic_fetch_add(&w->slot->access_log_dropped, 1);
}

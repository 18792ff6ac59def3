/* libFuzzer target for HTTP/2 towards clients (workers/h2_session.c and
 * h2_stream.c, over nghttp2): every input is the byte stream a client sends
 * after the connection preface, fed through a real worker connection (a
 * socketpair, the worker's own conn.c) in pieces of varying size, with the
 * event loop run in between and the answers drained. There is no
 * configuration snapshot, so every stream is answered by the gateway itself
 * (503): that covers the session, stream setup, header conversion, request
 * bodies (held, windowed, discarded), the response conversion and every
 * teardown path (resets, GOAWAY, abuse limits, EOF). ASan and UBSan are the
 * oracle; the invariant checked is that the worker ends with no connection
 * and no buffer leaked (LeakSanitizer).
 * Also builds without libFuzzer through tests/fuzz/replay.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "workers/conn.h"
#include "workers/h2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                               \
    do {                                                                                               \
        if (!(cond)) {                                                                                 \
            fprintf(stderr, "fuzz_h2: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                                   \
        }                                                                                              \
    } while (0)

static sl_worker worker;
static sl_control control;
static sl_worker_slot slot;

/* As in the worker: the sessions' frames go out before the loop waits, or
 * right after a callback that gave the streams much (the watcher is then fed). */
static void prepare_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
    (void)loop;
    (void)p;
    (void)revents;
    sl_worker_flush_h2(&worker);
}

static void setup(void)
{
    if (worker.loop)
        return;
    worker.loop = ev_loop_new(EVFLAG_AUTO);
    FUZZ_CHECK(worker.loop != NULL);
    worker.args.control = &control;
    worker.slot = &slot;
    worker.args.access_log_fd = -1;
    worker.args.ctl_fd = -1;
    worker.args.nsockets = 1;
    worker.args.sockets[0].fd = -1;
    worker.limits = sl_http1_default_limits;
    sl_buf_pools_init(&worker);
    ev_prepare_init(&worker.h2_prepare, prepare_cb);
    ev_prepare_start(worker.loop, &worker.h2_prepare);
}

/* Runs the loop without blocking, the way the worker's iteration does, and
 * reads what the connection answered. */
static void turn(int peer)
{
    for (int i = 0; i < 4; i++) {
        ev_run(worker.loop, EVRUN_NOWAIT);
        sl_worker_flush_h2(&worker); /* what the last callbacks queued */
        char sink[65536];
        while (read(peer, sink, sizeof(sink)) > 0) {
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    struct sockaddr_storage peer = {.ss_family = AF_UNIX};
    sl_conn_accept(&worker, 0, sv[0], &peer);
    FUZZ_CHECK(write(sv[1], SL_H2_PREFACE, SL_H2_PREFACE_LEN) == SL_H2_PREFACE_LEN);
    /* Pieces of 1, 2, 4, ... bytes, then the rest: frames split anywhere. */
    size_t off = 0, piece = 1;
    while (off < size && worker.nconns) {
        size_t n = size - off < piece ? size - off : piece;
        ssize_t w = write(sv[1], data + off, n);
        if (w > 0)
            off += (size_t)w;
        turn(sv[1]);
        if (piece < 65536)
            piece *= 2;
    }
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 8 && worker.nconns; i++)
        turn(sv[1]);
    sl_conn_close_all(&worker);
    FUZZ_CHECK(worker.nconns == 0);
    FUZZ_CHECK(worker.h2_pending == NULL);
    close(sv[1]);
    /* Pooled buffers are the worker's to keep; return them so LeakSanitizer
     * sees only real leaks. */
    sl_buf_pools_free(&worker);
    return 0;
}

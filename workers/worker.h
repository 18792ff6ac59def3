/* A worker process: one libev loop that accepts connections on its Gateway's
 * listening sockets and proxies HTTP/1.1 according to the current snapshot.
 * Forked by the master (daemon/supervisor.c); never returns. */
#ifndef SL_WORKER_H
#define SL_WORKER_H

#include <stdint.h>

#include "common/control.h"

#define SL_WORKER_MAX_SOCKETS 64

typedef struct sl_worker_socket {
    int fd;          /* listening, non-blocking; -1 once closed (the index stays) */
    char address[64];/* as in the snapshot's port ("" for all) */
    uint16_t port;
} sl_worker_socket;

typedef struct sl_worker_args {
    sl_control *control;
    int slot;                 /* index into control->slots */
    uint32_t gateway_id;
    char gateway_ns[64];
    char gateway_name[256];
    int nsockets;
    sl_worker_socket sockets[SL_WORKER_MAX_SOCKETS];
    int access_log_fd;        /* -1: none */
    int log_fd;               /* the master's log (its standard error) when spawned: the worker's
                               * standard error from then on; -1: keep the inherited one */
    int ctl_fd;               /* unix socket to the master (SL_CTL_* messages), -1: none */
} sl_worker_args;

/* Runs the worker until it is told to stop; exits the process. */
void sl_worker_main(const sl_worker_args *args) __attribute__((noreturn));

#endif

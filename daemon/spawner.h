/* Starting worker processes without inheriting another thread's locks.
 *
 * The master has threads (the admin API's, the status controller), and a child
 * forked from a multi-threaded process inherits every lock exactly as it was:
 * one that another thread held at that instant (the time zone lock of a log
 * line, an allocator's lock under AddressSanitizer, OpenSSL's) stays locked in
 * the worker forever, and the worker hangs on its first use. So the master forks
 * one helper, the spawner, before it starts any thread; the spawner stays
 * single-threaded and starts each worker with clone(CLONE_PARENT), which makes
 * the worker the master's child (the master reaps and supervises it as before)
 * while its memory is a copy of a process that held no lock.
 *
 * The spawner's memory is the master's at startup: settings, the log level and
 * the control block are there; everything made later (listening sockets, the
 * access log, a worker's control socket) travels with each request as file
 * descriptors (SCM_RIGHTS). When the spawner is gone, the master logs it and
 * forks workers itself, holding the OpenSSL fork guard as before. */
#ifndef SL_SPAWNER_H
#define SL_SPAWNER_H

#include <stdbool.h>
#include <sys/types.h>

#include "workers/worker.h"

/* Forks the spawner; call before any thread starts. False (logged) when it
 * could not be started: workers are then forked by the master itself. */
bool sl_spawner_start(void);
/* Starts a worker for args (its fds are the master's; they stay open here).
 * uid/gid: identity the worker switches to (-1: keep). Returns the worker's pid,
 * a child of the calling process, or -1 with errno set. */
pid_t sl_spawner_spawn(const sl_worker_args *args, int uid, int gid);
/* For the master's SIGCHLD handler: true when pid was the spawner (it is then
 * forgotten and logged; later workers are forked directly). */
bool sl_spawner_reaped(pid_t pid, int status);
/* Ends the spawner and waits for it (bounded). */
void sl_spawner_stop(void);

#endif

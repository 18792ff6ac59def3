/* The supervisor: turns the Gateways of the current snapshot into running worker
 * groups. It opens each Gateway's listening sockets itself (so privileged ports
 * work before privileges are dropped, and sockets survive worker restarts), forks
 * the workers, respawns a worker that dies (with backoff, logging how it died),
 * drains the group of a deleted Gateway, and rolls a group whose sockets changed
 * (new workers first, then the old ones drain; sockets that stay are shared, so
 * their clients see no refused connection). Runs on the master's main loop. */
#ifndef SL_SUPERVISOR_H
#define SL_SUPERVISOR_H

#include <ev.h>
#include <stdbool.h>

#include "common/control.h"
#include "common/snapshot.h"

typedef struct sl_supervisor sl_supervisor;

/* worker_uid/worker_gid: identity the workers switch to after fork (-1: keep the
 * master's). */
sl_supervisor *sl_supervisor_create(struct ev_loop *loop, sl_control *control, int access_log_fd, int worker_uid,
                                    int worker_gid);
/* Reconciles worker groups with a (verified) snapshot: one group per Gateway that
 * has at least one socket (a Gateway without any serves nothing and gets none). */
void sl_supervisor_apply(sl_supervisor *sv, const sl_snapshot *snap);
/* True while some Gateway has a port it could not bind (the port may be freed
 * later: a draining worker of a deleted Gateway still holds it, another process
 * exits): the master applies the snapshot again now and then. */
bool sl_supervisor_needs_retry(const sl_supervisor *sv);
/* True when every group has all its workers running (for /readyz). */
bool sl_supervisor_ready(const sl_supervisor *sv);
/* SIGTERM: drain every worker; calls done() on the loop when all have exited or
 * the deadline passed (then SIGKILL). SIGQUIT: stop at once. */
void sl_supervisor_stop(sl_supervisor *sv, bool graceful, void (*done)(void *), void *arg);
/* JSON-able summary for /metrics and status: number of groups and workers. */
int sl_supervisor_worker_count(const sl_supervisor *sv);
/* Counts of worker restarts (crash loop visibility). */
unsigned long sl_supervisor_restarts(const sl_supervisor *sv);
/* Workers running (not draining) and wanted for a Gateway; false when the
 * supervisor has no such group. */
bool sl_supervisor_group_state(const sl_supervisor *sv, const char *ns, const char *name, int *running, int *want);
/* Socket bind problems of a Gateway's port, "" when none: for status. */
/* The oldest snapshot generation that a current (not draining) worker of the
 * Gateway's group runs; 0 when the group is unknown or short of workers. */
uint64_t sl_supervisor_group_generation(const sl_supervisor *sv, const char *ns, const char *name);
/* True when every worker of every Gateway runs `generation` or later (and no
 * group is short of workers). */
bool sl_supervisor_all_run(const sl_supervisor *sv, uint64_t generation);
const char *sl_supervisor_port_error(const sl_supervisor *sv, const char *ns, const char *name, int port);
void sl_supervisor_free(sl_supervisor *sv);
/* After the master reopened its logs (SIGUSR1): access_log_fd (>= 0) is the
 * access log's new file, put in place of the old one; every running worker is
 * handed the access log and the master's standard error, and writes to them
 * from then on. */
void sl_supervisor_reopen_logs(sl_supervisor *sv, int access_log_fd);

#endif

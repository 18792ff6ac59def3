/* Forking worker processes from the multi-threaded master: a child inherits
 * every lock exactly as it was at fork time, and a lock another thread held
 * then (OpenSSL's random generator or provider store, typically) stays locked
 * in the child forever, so its first TLS context or random number deadlocks.
 * Threads other than the master's main thread (the admin API's) therefore
 * call OpenSSL only inside sl_fork_guard_enter()/sl_fork_guard_leave(), and the
 * master forks while holding the guard: no other thread is inside OpenSSL at
 * that moment. Workers normally come from the single-threaded spawner
 * (daemon/spawner.h), which covers every lock; this guard covers the fallback
 * when the spawner is gone. */
#ifndef SL_FORK_GUARD_H
#define SL_FORK_GUARD_H

void sl_fork_guard_enter(void);
void sl_fork_guard_leave(void);

#endif

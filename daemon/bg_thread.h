/* A master background thread that sleeps between rounds of work (the fetcher,
 * the Redis probe): its lock, a wake-up condition on the monotonic clock, and
 * a stop that wakes and joins it. */
#ifndef SL_BG_THREAD_H
#define SL_BG_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sl_bg_thread {
    pthread_mutex_t lock; /* guards the owner's state and `stopping` */
    pthread_cond_t wake;
    pthread_t thread;
    bool running;  /* started, not yet joined */
    bool stopping; /* asked to end: the thread's loop checks it, lock held */
} sl_bg_thread;

#define SL_BG_THREAD_INIT {.lock = PTHREAD_MUTEX_INITIALIZER}

/* Starts run(arg); false (logged by the caller) when no thread could start. */
bool sl_bg_thread_start(sl_bg_thread *t, void *(*run)(void *), void *arg);
/* Sets stopping, wakes the thread and waits for it to end. */
void sl_bg_thread_stop(sl_bg_thread *t);
/* From the thread, lock held: sleeps up to ms or until woken. */
void sl_bg_thread_sleep(sl_bg_thread *t, uint64_t ms);

#endif

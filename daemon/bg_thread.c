/* Master background threads (see bg_thread.h). */
#include "daemon/bg_thread.h"

#include <time.h>

bool sl_bg_thread_start(sl_bg_thread *t, void *(*run)(void *), void *arg)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* a wall-clock jump does not stretch a sleep */
    pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);
    t->stopping = false;
    t->running = pthread_create(&t->thread, NULL, run, arg) == 0;
    return t->running;
}

void sl_bg_thread_stop(sl_bg_thread *t)
{
    if (!t->running)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    t->running = false;
}

void sl_bg_thread_sleep(sl_bg_thread *t, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (!t->stopping)
        pthread_cond_timedwait(&t->wake, &t->lock, &ts);
}

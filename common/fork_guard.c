#include "common/fork_guard.h"

#include <pthread.h>

static pthread_mutex_t guard = PTHREAD_MUTEX_INITIALIZER;

void sl_fork_guard_enter(void) { pthread_mutex_lock(&guard); }

void sl_fork_guard_leave(void) { pthread_mutex_unlock(&guard); }

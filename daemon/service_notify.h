/* systemd's service notifications (Type=notify, WatchdogSec=): see service_notify.c. */
#ifndef SL_SERVICE_NOTIFY_H
#define SL_SERVICE_NOTIFY_H

#include <ev.h>

/* READY=1 with a STATUS line; sent once (later calls do nothing). */
void sl_service_ready(const char *status);
/* STOPPING=1: the stop has begun. */
void sl_service_stopping(void);
/* WATCHDOG=1 now and at half of $WATCHDOG_USEC from loop, when systemd asks for it. */
void sl_service_watchdog_start(struct ev_loop *loop);
void sl_service_watchdog_stop(struct ev_loop *loop);

#endif

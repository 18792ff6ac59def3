/* systemd's service notification protocol, through libsystemd's sd_notify:
 * a unit of Type=notify is started when sluiced says READY=1 (the store is
 * open and every programmed Gateway's workers run), learns STOPPING=1 at a
 * stop, and, with WatchdogSec= set, gets WATCHDOG=1 from the master's event
 * loop at half that interval, so a master whose loop hangs is restarted.
 * Without $NOTIFY_SOCKET (not under systemd) every call does nothing. */
#include "daemon/service_notify.h"

#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "common/log.h"

static ev_timer watchdog;
static bool ready_sent;

void sl_service_ready(const char *status)
{
    if (ready_sent)
        return;
    ready_sent = true;
    char msg[300];
    snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
    if (sd_notify(0, msg) > 0)
        sl_log_info("main", "told systemd: ready");
}

void sl_service_stopping(void)
{
    sd_notify(0, "STOPPING=1\nSTATUS=draining workers");
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    sd_notify(0, "WATCHDOG=1");
}

void sl_service_watchdog_start(struct ev_loop *loop)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    double every = (double)usec / 2e6; /* half the interval, as sd_watchdog_enabled(3) advises */
    ev_timer_init(&watchdog, watchdog_cb, every, every);
    ev_timer_start(loop, &watchdog);
    sd_notify(0, "WATCHDOG=1");
    sl_log_info("main", "systemd watchdog: a keep-alive every %.3f s", every);
}

void sl_service_watchdog_stop(struct ev_loop *loop)
{
    if (ev_is_active(&watchdog))
        ev_timer_stop(loop, &watchdog);
}

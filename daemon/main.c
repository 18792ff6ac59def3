/* sluiced: the master process. Opens the store, serves the admin API and waits
 * for a signal to stop. (The data plane's workers come with their own issue.) */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "common/log.h"
#include "config.h"
#include "daemon/controller.h"
#include "daemon/store.h"
#include "daemon/tokens.h"

#define DEFAULT_STATE_DIR "/var/lib/sluice"
#define DEFAULT_ADMIN "127.0.0.1:9901"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sluiced [--state-dir DIR] [--admin HOST:PORT] [--log-level LEVEL]\n"
            "       sluiced token create NAME|list|revoke ID --state-dir DIR\n"
            "\n"
            "  --state-dir DIR     where the SQLite store lives (env SLUICE_STATE_DIR; default %s)\n"
            "  --admin HOST:PORT   admin API address (env SLUICE_ADMIN; default %s);\n"
            "                      non-loopback addresses need at least one token\n"
            "  --log-level LEVEL   error, warn, info (default) or debug\n"
            "  --version           print the version and exit\n"
            "  --help              print this help and exit\n",
            DEFAULT_STATE_DIR, DEFAULT_ADMIN);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "token") == 0)
        return sl_token_main(argc - 2, argv + 2);

    const char *state_dir = getenv("SLUICE_STATE_DIR");
    const char *admin_addr = getenv("SLUICE_ADMIN");
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 's'}, {"admin", required_argument, NULL, 'a'},
        {"log-level", required_argument, NULL, 'l'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': state_dir = optarg; break;
        case 'a': admin_addr = optarg; break;
        case 'l': {
            sl_log_level level;
            if (sl_log_parse_level(optarg, &level) != 0) {
                fprintf(stderr, "sluiced: unknown log level \"%s\" (error, warn, info, debug)\n", optarg);
                return 2;
            }
            sl_log_set_level(level);
            break;
        }
        case 'V': printf("sluiced %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluiced: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!state_dir || !*state_dir)
        state_dir = DEFAULT_STATE_DIR;
    if (!admin_addr || !*admin_addr)
        admin_addr = DEFAULT_ADMIN;

    /* Signals are taken synchronously by the main thread with sigwait; block them
     * before any thread starts so that every thread inherits the mask. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGQUIT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    sl_log_info("main", "sluiced %s starting (state dir %s)", PACKAGE_VERSION, state_dir);
    char err[1024];
    sl_store *store = sl_store_open(state_dir, err, sizeof(err));
    if (!store) {
        sl_log_error("main", "cannot open the store: %s", err);
        return 1;
    }
    sl_admin_config cfg = {.address = admin_addr, .store = store};
    sl_admin *admin = sl_admin_start(&cfg, err, sizeof(err));
    if (!admin) {
        sl_log_error("main", "%s", err);
        sl_store_close(store);
        return 1;
    }
    sl_controller *controller = sl_controller_start(store);
    sl_admin_set_ready(admin, true);
    sl_log_info("main", "ready");

    for (;;) {
        int sig = 0;
        if (sigwait(&stop_signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            sl_log_info("main", "SIGHUP: nothing to reload (configuration lives in the store)");
            continue;
        }
        sl_log_info("main", "received %s, stopping", strsignal(sig));
        break;
    }
    sl_admin_set_ready(admin, false);
    sl_admin_stop(admin);
    sl_controller_stop(controller);
    sl_store_close(store);
    sl_log_info("main", "stopped");
    return 0;
}

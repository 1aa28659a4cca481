/* sim_signal.c - the main loop of sandbox programs: stop on SIGTERM/SIGINT
 * (see sim_core.h).
 */
#include "mlc_app.h"
#include "sim_core.h"

#include <stdio.h>
#include <time.h>

static volatile sig_atomic_t *sim_stop_flag;

void sim_signals_install(void)
{
    sim_stop_flag = mlc_app_stop_on_signals();
}

int sim_run_until_signal(const char *first_line)
{
    sim_signals_install();
    printf("%s\n", first_line);
    fflush(stdout);
    while (!*sim_stop_flag) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

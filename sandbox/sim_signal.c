/* sim_signal.c - the main loop of sandbox programs: stop on SIGTERM/SIGINT
 * (see sim_core.h).
 */
#include "sim_core.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t sim_stop_flag;

static void on_stop_signal(int sig)
{
    (void)sig;
    sim_stop_flag = 1;
}

void sim_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool sim_stop_requested(void)
{
    return sim_stop_flag != 0;
}

int sim_run_until_signal(const char *first_line)
{
    sim_signals_install();
    printf("%s\n", first_line);
    fflush(stdout);
    while (!sim_stop_flag) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

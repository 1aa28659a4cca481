/* mlc_remind.h - settings that weaken security, repeated in the log hourly.
 *
 * A warning logged once at start is read once, if at all; weeks later
 * nobody knows that credentials still go over plain http:// or that Sage's
 * certificate is not checked. The workers start a reminder thread that logs
 * the same warnings again every period (an hour), beside the gauge
 * mlc_insecure_setting and the alert MlcInsecureSetting. The thread sleeps
 * on a condition variable, so stopping it is immediate.
 *
 * The struct is the caller's (no allocation); start it once, stop it once.
 */
#ifndef MLC_REMIND_H
#define MLC_REMIND_H

#include "mlc_config.h"
#include "mlc_err.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define MLC_REMIND_PERIOD_S 3600
#define MLC_REMIND_MAX      4
#define MLC_REMIND_LINE     240

struct mlc_remind {
    char lines[MLC_REMIND_MAX][MLC_REMIND_LINE];
    const char *names[MLC_REMIND_MAX]; /* the setting that allowed each line */
    size_t n;
    unsigned period_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, stop;
};

/* The warnings cfg calls for, into r->lines (r->n of them); nothing else. */
void mlc_remind_collect(struct mlc_remind *r, const struct mlc_config *cfg);

/* The settings behind r's lines, comma-separated without repeats
 * ("MLC_ALLOW_PLAINTEXT_HTTP,MLC_SAGE_INSECURE"; "" when none), into out. The
 * workers keep it in their state file, where `mlc status` shows it. */
void mlc_remind_names(const struct mlc_remind *r, char *out, size_t outsz);

/* Collects, and when there is something to say starts the thread that logs
 * it every period_s seconds (the first time one period from now: the start
 * has its own warnings). MLC_FATAL when the thread cannot start. */
mlc_rc mlc_remind_start(struct mlc_remind *r, const struct mlc_config *cfg, unsigned period_s,
                        struct mlc_err *err);

/* Stops and joins the thread, if it runs. */
void mlc_remind_stop(struct mlc_remind *r);

#endif

/* mlc_remind.c - the hourly reminder of weakened security (see mlc_remind.h). */
#include "mlc_remind.h"

#include "mlc_log.h"
#include "mlc_str.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void mlc_remind_collect(struct mlc_remind *r, const struct mlc_config *cfg)
{
    r->n = 0;
    for (int i = 0; i < MLC_CFG__COUNT && r->n < MLC_REMIND_MAX; i++) {
        const struct mlc_cfg_def *d = &mlc_cfg_defs[i];
        const char *v = mlc_cfg_str(cfg, (enum mlc_cfg_id)i);

        if (d->type != MLC_CFGT_URL || !(d->progs & cfg->prog) || !v ||
            !mlc_str_startswith(v, "http://") || mlc_url_is_loopback(v))
            continue;
        r->names[r->n] = "MLC_ALLOW_PLAINTEXT_HTTP";
        snprintf(r->lines[r->n++], MLC_REMIND_LINE,
                 "still on: %s is plain http:// to a host that is not this machine, so "
                 "credentials travel unencrypted (MLC_ALLOW_PLAINTEXT_HTTP=true)",
                 d->name);
    }
    if ((cfg->prog & MLC_PROG_EXTRACTOR) && mlc_cfg_bool(cfg, MLC_CFG_SAGE_INSECURE) &&
        r->n < MLC_REMIND_MAX) {
        r->names[r->n] = "MLC_SAGE_INSECURE";
        snprintf(r->lines[r->n++], MLC_REMIND_LINE,
                 "still on: MLC_SAGE_INSECURE=true, the Sage server's TLS certificate is not "
                 "verified");
    }
}

void mlc_remind_names(const struct mlc_remind *r, char *out, size_t outsz)
{
    size_t len = 0;

    if (outsz)
        out[0] = '\0';
    for (size_t i = 0; i < r->n; i++) {
        bool seen = false;

        for (size_t j = 0; j < i; j++)
            seen |= !strcmp(r->names[j], r->names[i]);
        if (!seen && len < outsz)
            len += (size_t)snprintf(out + len, outsz - len, "%s%s", len ? "," : "", r->names[i]);
    }
}

static void *remind_main(void *arg)
{
    struct mlc_remind *r = arg;
    struct timespec at;

    pthread_mutex_lock(&r->mu);
    clock_gettime(CLOCK_REALTIME, &at);
    while (!r->stop) {
        at.tv_sec += r->period_s;
        while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &at) != ETIMEDOUT)
            ;
        if (r->stop)
            break;
        for (size_t i = 0; i < r->n; i++)
            mlc_warn("%s", r->lines[i]);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

mlc_rc mlc_remind_start(struct mlc_remind *r, const struct mlc_config *cfg, unsigned period_s,
                        struct mlc_err *err)
{
    int e;

    memset(r, 0, sizeof(*r));
    mlc_remind_collect(r, cfg);
    if (r->n == 0)
        return MLC_OK;
    r->period_s = period_s ? period_s : MLC_REMIND_PERIOD_S;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if ((e = pthread_create(&r->thread, NULL, remind_main, r)) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        return mlc_err_set(err, MLC_FATAL, "reminder thread: %s", strerror(e));
    }
    r->running = true;
    return MLC_OK;
}

void mlc_remind_stop(struct mlc_remind *r)
{
    if (!r->running)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    r->running = false;
}

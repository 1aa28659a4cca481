/* ext_metrics.c - the extractor's metrics and health (see ext_metrics.h). */
#include "ext_metrics.h"
#include "mlc_alloc.h"

#include "mlc_log.h"
#include "mlc_str.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXT_METRICS_COMPANIES 64

struct company_health {
    char company[40];
    bool failed;
    bool has_ok;
    time_t last_ok;  /* wall clock of the end of the last successful cycle */
    const char *cls; /* ext_health_class of the last failure */
};

struct ext_metrics {
    struct mlc_metrics *reg;
    struct mlc_metrics_server *srv;
    struct mlc_metric *cycles, *records_read, *records, *delivery_failures, *sage_requests,
        *watermark_age, *cycle_seconds, *last_success;
    pthread_mutex_t mu;
    struct company_health co[EXT_METRICS_COMPANIES];
    size_t n_co;
};

static void collect(struct mlc_metrics *reg, void *ctx)
{
    struct ext_metrics *m = ctx;
    time_t now = time(NULL);

    (void)reg;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_co; i++)
        if (m->co[i].has_ok)
            mlc_metrics_set(m->watermark_age, (const char *[]){m->co[i].company},
                            (double)(now - m->co[i].last_ok));
    pthread_mutex_unlock(&m->mu);
}

mlc_rc ext_metrics_new(const struct mlc_config *cfg, struct ext_metrics **out, struct mlc_err *err)
{
    struct ext_metrics *m = mlc_xcalloc(1, sizeof(*m));
    mlc_rc rc = MLC_FATAL;

    *out = NULL;
    pthread_mutex_init(&m->mu, NULL);
    if (!(m->reg = mlc_metrics_new())) {
        rc = mlc_err_set(err, MLC_FATAL, "metrics: cannot create the registry's mutex");
        goto out;
    }
    if ((rc = mlc_metrics_counter(m->reg, "mlc_extractor_cycles_total",
                                  "Poll cycles finished, by company and result (ok, failed, "
                                  "interrupted).",
                                  "company,result", &m->cycles, err)) != MLC_OK ||
        (rc = mlc_metrics_counter(m->reg, "mlc_extractor_records_read_total",
                                  "Customer records read from Sage.", "company", &m->records_read,
                                  err)) != MLC_OK ||
        (rc = mlc_metrics_counter(m->reg, "mlc_extractor_records_total",
                                  "Records by what they led to: published, unchanged, skipped "
                                  "(invalid), missing (gone from Sage, full scans).",
                                  "company,outcome", &m->records, err)) != MLC_OK ||
        (rc = mlc_metrics_counter(m->reg, "mlc_extractor_delivery_failures_total",
                                  "Kafka delivery reports that failed (the page is not "
                                  "committed and is sent again).",
                                  NULL, &m->delivery_failures, err)) != MLC_OK ||
        (rc = mlc_metrics_counter(m->reg, "mlc_extractor_sage_requests_total",
                                  "HTTP requests to the Sage Web API by response status (0: no "
                                  "response), every attempt counted.",
                                  "status", &m->sage_requests, err)) != MLC_OK ||
        (rc = mlc_metrics_gauge(m->reg, "mlc_extractor_watermark_age_seconds",
                                "Seconds since the last successful cycle of the company ended "
                                "(changes in Sage older than this are published).",
                                "company", &m->watermark_age, err)) != MLC_OK ||
        (rc = mlc_metrics_gauge(m->reg, "mlc_extractor_last_success_timestamp_seconds",
                                "Unix time the last successful cycle of the company ended.",
                                "company", &m->last_success, err)) != MLC_OK ||
        (rc = mlc_metrics_gauge(m->reg, "mlc_extractor_last_cycle_duration_seconds",
                                "Duration of the last finished cycle of the company.", "company",
                                &m->cycle_seconds, err)) != MLC_OK)
        goto out;
    mlc_metrics_on_collect(m->reg, collect, m);
    if ((rc = mlc_metrics_serve_configured(m->reg, cfg, ext_metrics_healthy, m, &m->srv, err)) !=
        MLC_OK)
        goto out;
    *out = m;
    m = NULL;
out:
    ext_metrics_free(m);
    return rc;
}

void ext_metrics_free(struct ext_metrics *m)
{
    if (!m)
        return;
    mlc_metrics_server_stop(m->srv);
    mlc_metrics_free(m->reg);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

struct mlc_metrics *ext_metrics_registry(struct ext_metrics *m)
{
    return m ? m->reg : NULL;
}

void ext_metrics_sage_response(void *ctx, long status)
{
    struct ext_metrics *m = ctx;
    char s[24];

    if (!m)
        return;
    snprintf(s, sizeof(s), "%ld", status);
    mlc_metrics_inc(m->sage_requests, (const char *[]){s});
}

void ext_metrics_delivery_failed(struct ext_metrics *m)
{
    if (m)
        mlc_metrics_inc(m->delivery_failures, NULL);
}

static struct company_health *company_of(struct ext_metrics *m, const char *company)
{
    for (size_t i = 0; i < m->n_co; i++)
        if (!strcmp(m->co[i].company, company))
            return &m->co[i];
    if (m->n_co == EXT_METRICS_COMPANIES)
        return NULL;
    mlc_strlcpy(m->co[m->n_co].company, company, sizeof(m->co[m->n_co].company));
    return &m->co[m->n_co++];
}

void ext_metrics_cycle(struct ext_metrics *m, const char *company, const char *result,
                       const struct ext_cycle_stats *st, double seconds,
                       const struct mlc_err *error)
{
    const char *lv[] = {company};
    struct company_health *h;
    time_t now = time(NULL);

    if (!m)
        return;
    mlc_metrics_inc(m->cycles, (const char *[]){company, result});
    mlc_metrics_set(m->cycle_seconds, lv, seconds);
    if (st) {
        mlc_metrics_add(m->records_read, lv, (double)st->records);
        mlc_metrics_add(m->records, (const char *[]){company, "published"}, (double)st->published);
        mlc_metrics_add(m->records, (const char *[]){company, "unchanged"}, (double)st->unchanged);
        mlc_metrics_add(m->records, (const char *[]){company, "skipped"}, (double)st->skipped);
        mlc_metrics_add(m->records, (const char *[]){company, "missing"}, (double)st->missing);
    }
    pthread_mutex_lock(&m->mu);
    if ((h = company_of(m, company)) != NULL) {
        if (!strcmp(result, "ok")) {
            h->failed = false;
            h->has_ok = true;
            h->last_ok = now;
            mlc_metrics_set(m->last_success, lv, (double)now);
            mlc_metrics_set(m->watermark_age, lv, 0);
        } else if (!strcmp(result, "failed")) {
            h->failed = true;
            h->cls = ext_health_class(company, error);
        }
    }
    pthread_mutex_unlock(&m->mu);
}

/* Where a cycle's error came from, read from the prefix its origin gives it
 * (after the "COMPANY: " some callers add): the Sage client's errors start
 * "sage", the producer's "kafka", the state file's "state db". /healthz may
 * show that origin but not the text, which names hosts and paths. */
const char *ext_health_class(const char *company, const struct mlc_err *error)
{
    const char *msg = error ? error->msg : "";
    size_t n = company ? strlen(company) : 0;

    if (n && !strncmp(msg, company, n) && !strncmp(msg + n, ": ", 2))
        msg += n + 2;
    if (error && (error->status == 401 || error->status == 403))
        return "sage_auth";
    if (!strncmp(msg, "sage", 4))
        return error->status >= 400 && error->status < 500 ? "sage_refused" : "sage_unreachable";
    if (!strncmp(msg, "kafka", 5))
        return "kafka_down";
    if (!strncmp(msg, "state db", 8) || strstr(msg, "sqlite"))
        return "state_error";
    return "cycle_failed";
}

bool ext_metrics_healthy(void *ctx, char *reason, size_t reasonsz)
{
    struct ext_metrics *m = ctx;
    bool ok = true;

    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_co && ok; i++) {
        if (m->co[i].failed) {
            snprintf(reason, reasonsz, "%s (company %s)", m->co[i].cls, m->co[i].company);
            ok = false;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return ok;
}

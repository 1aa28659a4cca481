/* ld_metrics.c - the loader's metrics and health (see ld_metrics.h). */
#include "ld_metrics.h"

#include "mlc_alloc.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "mlc_time.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ld_metrics {
    struct mlc_metrics *reg;
    struct mlc_metrics_server *srv;
    struct mlc_metric *consumed, *outcomes, *calls, *tokens, *daily_remaining, *burst_remaining,
        *r429, *blocks, *lag, *dlq, *paused, *paused_reason, *assigned, *backlog;
    pthread_mutex_t mu;
    rd_kafka_t *rk;
    int64_t last_poll_ms; /* monotonic; 0: not consuming */
    int64_t max_poll_ms;
    bool is_paused, blocked;
    int64_t resume_ms; /* wall clock (epoch ms) */
    /* today's spending and the forecast (ld_metrics_spend, _forecast) */
    struct mlc_metric *tokens_today, *r429_today, *eta_days;
    int64_t spend_day; /* UTC day (days since the epoch) the _today gauges count */
};

static const char *const spend_kinds[] = {"creates",     "updates", "scans",
                                          "field_setup", "probes",  "other"};

/* Starts the _today gauges from 0 when the UTC day changed (m->mu held). */
static void spend_roll(struct ld_metrics *m, int64_t now_ms)
{
    int64_t day = now_ms / 86400000;

    if (day == m->spend_day)
        return;
    m->spend_day = day;
    for (size_t i = 0; i < ARRAY_SIZE(spend_kinds); i++)
        mlc_metrics_set(m->tokens_today, (const char *[]){spend_kinds[i]}, 0);
    mlc_metrics_set(m->r429_today, NULL, 0);
}

static mlc_rc spend_register(struct ld_metrics *m, struct mlc_err *err)
{
    mlc_rc rc;

    if ((rc = mlc_metrics_gauge(m->reg, "mlc_loader_tokens_today",
                                "Pipedrive tokens charged since 00:00 UTC, by what they were "
                                "spent on (creates, updates, scans, field_setup, probes, other).",
                                "kind", &m->tokens_today, err)) != MLC_OK ||
        (rc = mlc_metrics_gauge(m->reg, "mlc_loader_429_today",
                                "Pipedrive 429 responses since 00:00 UTC.", NULL, &m->r429_today,
                                err)) != MLC_OK ||
        (rc = mlc_metrics_gauge(m->reg, "mlc_loader_initial_load_eta_days",
                                "Days until the customers waiting for an organization are "
                                "created, at 5 tokens each and the daily budget net of the "
                                "reserve; -1 unknown.",
                                NULL, &m->eta_days, err)) != MLC_OK)
        return rc;
    m->spend_day = -1;
    spend_roll(m, mlc_realtime_ms());
    mlc_metrics_set(m->eta_days, NULL, -1);
    return MLC_OK;
}

void ld_metrics_spend(struct ld_metrics *m, const char *kind, int tokens, bool is429)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    spend_roll(m, mlc_realtime_ms());
    pthread_mutex_unlock(&m->mu);
    mlc_metrics_add(m->tokens_today, (const char *[]){kind}, tokens > 0 ? tokens : 0);
    if (is429)
        mlc_metrics_add(m->r429_today, NULL, 1);
}

void ld_metrics_spend_seed(void *ctx, const char *kind, int64_t tokens, int64_t status_429)
{
    struct ld_metrics *m = ctx;

    if (!m || !kind)
        return;
    mlc_metrics_add(m->tokens_today, (const char *[]){kind}, (double)tokens);
    mlc_metrics_add(m->r429_today, NULL, (double)status_429);
}

void ld_metrics_forecast(struct ld_metrics *m, double eta_days)
{
    if (m)
        mlc_metrics_set(m->eta_days, NULL, eta_days);
}

/* Lag per assigned partition, from the handle's cached watermarks. */
static void collect(struct mlc_metrics *reg, void *ctx)
{
    struct ld_metrics *m = ctx;
    rd_kafka_topic_partition_list_t *parts = NULL;

    (void)reg;
    pthread_mutex_lock(&m->mu);
    spend_roll(m, mlc_realtime_ms());
    if (m->rk && rd_kafka_assignment(m->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
        mlc_metrics_set(m->assigned, NULL, parts->cnt);
        rd_kafka_position(m->rk, parts);
        for (int i = 0; i < parts->cnt; i++) {
            int64_t lo = 0, hi = 0;
            char p[16];

            if (rd_kafka_get_watermark_offsets(m->rk, parts->elems[i].topic,
                                               parts->elems[i].partition, &lo,
                                               &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
                hi < 0)
                continue;
            snprintf(p, sizeof(p), "%d", (int)parts->elems[i].partition);
            /* no position yet: nothing consumed in this process, all of the
             * partition above its low watermark may be pending */
            mlc_metrics_set(
                m->lag, (const char *[]){parts->elems[i].topic, p},
                (double)(hi - (parts->elems[i].offset >= 0 ? parts->elems[i].offset : lo)));
        }
    }
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    pthread_mutex_unlock(&m->mu);
}

mlc_rc ld_metrics_new(const struct mlc_config *cfg, struct ld_metrics **out, struct mlc_err *err)
{
    struct ld_metrics *m = mlc_xcalloc(1, sizeof(*m));
    mlc_rc rc = MLC_FATAL;
    long v;

    *out = NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->max_poll_ms = 300000;
    for (size_t i = 0; i < cfg->n_rdkafka; i++)
        if (!strcmp(cfg->rdkafka[i].key, "max.poll.interval.ms") &&
            mlc_parse_long(cfg->rdkafka[i].value, 1, 86400000L, &v))
            m->max_poll_ms = v;
    if (!(m->reg = mlc_metrics_new())) { /* its mutex could not be made */
        rc = mlc_err_set(err, MLC_FATAL, "metrics: registry lock could not be created");
        goto out;
    }
    if ((rc = mlc_metrics_counter(m->reg, "mlc_loader_events_consumed_total",
                                  "Events polled from the topic (a replay after a rebalance "
                                  "counts again).",
                                  NULL, &m->consumed, err)) != MLC_OK ||
        (rc = mlc_metrics_counter(m->reg, "mlc_loader_events_total",
                                  "Events handled, by outcome (created, updated, unchanged, "
                                  "adopted, dlq, deleted_in_crm, duplicate, ...).",
                                  "outcome", &m->outcomes, err)) != MLC_OK ||
        (rc = mlc_metrics_counter(m->reg, "mlc_loader_pipedrive_calls_total",
                                  "Pipedrive HTTP responses by method, operation and status "
                                  "(0: no response); every attempt counted.",
                                  "method,op,status", &m->calls, err)) != MLC_OK ||
        (rc = mlc_metrics_counter(m->reg, "mlc_loader_pipedrive_tokens_total",
                                  "Pipedrive tokens charged, by the operation cost table.", NULL,
                                  &m->tokens, err)) != MLC_OK ||
        (rc = mlc_metrics_gauge(m->reg, "mlc_loader_pipedrive_daily_budget_remaining",
                                "Daily tokens left as last known (headers or estimate); -1 "
                                "unknown.",
                                NULL, &m->daily_remaining, err)) != MLC_OK ||
        (rc = mlc_metrics_gauge(m->reg, "mlc_loader_pipedrive_burst_remaining",
                                "x-ratelimit-remaining of the last response (requests left in "
                                "the burst window); -1 unknown.",
                                NULL, &m->burst_remaining, err)) != MLC_OK ||
        (rc = mlc_metrics_counter(m->reg, "mlc_loader_pipedrive_429_total",
                                  "429 responses by kind (burst, daily).", "kind", &m->r429,
                                  err)) != MLC_OK ||
        (rc = mlc_metrics_counter(m->reg, "mlc_loader_pipedrive_blocked_total",
                                  "403 block pages (Cloudflare) seen.", NULL, &m->blocks, err)) !=
            MLC_OK ||
        (rc = mlc_metrics_gauge(m->reg, "mlc_loader_consumer_lag",
                                "Messages not yet consumed per assigned partition (high "
                                "watermark - position).",
                                "topic,partition", &m->lag, err)) != MLC_OK ||
        (rc = mlc_metrics_counter(m->reg, "mlc_loader_dlq_total",
                                  "Events sent to the dead-letter topic.", NULL, &m->dlq, err)) !=
            MLC_OK ||
        (rc = mlc_metrics_gauge(m->reg, "mlc_loader_paused",
                                "1 while consumption is paused for the daily budget or a block.",
                                NULL, &m->paused, err)) != MLC_OK ||
        (rc = mlc_metrics_gauge(m->reg, "mlc_loader_paused_reason",
                                "1 for the reason of the current pause (budget, blocked).",
                                "reason", &m->paused_reason, err)) != MLC_OK ||
        (rc = mlc_metrics_gauge(m->reg, "mlc_loader_partitions_assigned",
                                "Partitions of the topic assigned to this loader now.", NULL,
                                &m->assigned, err)) != MLC_OK ||
        (rc = mlc_metrics_gauge(m->reg, "mlc_loader_backlog_creates",
                                "Customers without an organization waiting in this loader's "
                                "backlog of creates (MLC_LOAD_ORDER).",
                                NULL, &m->backlog, err)) != MLC_OK ||
        (rc = spend_register(m, err)) != MLC_OK)
        goto out;
    mlc_metrics_set(m->daily_remaining, NULL, -1);
    mlc_metrics_set(m->burst_remaining, NULL, -1);
    mlc_metrics_on_collect(m->reg, collect, m);
    if ((rc = mlc_metrics_serve_configured(m->reg, cfg, ld_metrics_healthy, m, &m->srv, err)) !=
        MLC_OK)
        goto out;
    *out = m;
    m = NULL;
out:
    ld_metrics_free(m);
    return rc;
}

void ld_metrics_free(struct ld_metrics *m)
{
    if (!m)
        return;
    mlc_metrics_server_stop(m->srv);
    mlc_metrics_free(m->reg);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

struct mlc_metrics *ld_metrics_registry(struct ld_metrics *m)
{
    return m ? m->reg : NULL;
}

void ld_metrics_consumer(struct ld_metrics *m, rd_kafka_t *rk)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->rk = rk;
    m->last_poll_ms = rk ? mlc_monotonic_ms() : 0;
    pthread_mutex_unlock(&m->mu);
    if (!rk)
        mlc_metrics_set(m->assigned, NULL, 0);
}

void ld_metrics_polled(struct ld_metrics *m, int n)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->last_poll_ms = mlc_monotonic_ms();
    pthread_mutex_unlock(&m->mu);
    if (n > 0)
        mlc_metrics_add(m->consumed, NULL, n);
}

void ld_metrics_outcome(struct ld_metrics *m, const char *outcome)
{
    if (!m || !outcome)
        return;
    mlc_metrics_inc(m->outcomes, (const char *[]){outcome});
    if (!strcmp(outcome, "dlq"))
        mlc_metrics_inc(m->dlq, NULL);
}

void ld_metrics_call(struct ld_metrics *m, const char *method, const char *op, long status,
                     int tokens, bool daily429, bool blocked, long daily_remaining,
                     long burst_remaining)
{
    char s[24], o[64];

    if (!m)
        return;
    snprintf(s, sizeof(s), "%ld", status);
    mlc_strlcpy(o, op, sizeof(o));
    for (char *p = o; *p; p++) /* "create organization" -> "create_organization" */
        if (*p == ' ')
            *p = '_';
    mlc_metrics_inc(m->calls, (const char *[]){method, o, s});
    mlc_metrics_add(m->tokens, NULL, tokens > 0 ? tokens : 0);
    if (status == 429)
        mlc_metrics_inc(m->r429, (const char *[]){daily429 ? "daily" : "burst"});
    if (blocked) {
        mlc_metrics_inc(m->blocks, NULL);
        pthread_mutex_lock(&m->mu);
        m->blocked = true;
        pthread_mutex_unlock(&m->mu);
        mlc_metrics_set(m->paused, NULL, 1);
        mlc_metrics_set(m->paused_reason, (const char *[]){"blocked"}, 1);
    }
    mlc_metrics_set(m->daily_remaining, NULL, (double)daily_remaining);
    mlc_metrics_set(m->burst_remaining, NULL, (double)burst_remaining);
}

void ld_metrics_paused(struct ld_metrics *m, bool paused, int64_t resume_ms)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->is_paused = paused;
    m->resume_ms = resume_ms;
    pthread_mutex_unlock(&m->mu);
    mlc_metrics_set(m->paused, NULL, paused ? 1 : 0);
    mlc_metrics_set(m->paused_reason, (const char *[]){"budget"}, paused ? 1 : 0);
}

bool ld_metrics_healthy(void *ctx, char *reason, size_t reasonsz)
{
    struct ld_metrics *m = ctx;
    int64_t now = mlc_realtime_ms(), mono = mlc_monotonic_ms();
    bool ok = true;

    pthread_mutex_lock(&m->mu);
    /* a class first, then numbers only: /healthz shows no host, path or
     * error text (the log has those) */
    if (m->blocked) {
        snprintf(reason, reasonsz, "pipedrive_blocked (403 block page for this token)");
        ok = false;
    } else if (m->is_paused && now > m->resume_ms + LD_METRICS_PAUSE_GRACE_S * 1000LL) {
        snprintf(reason, reasonsz, "budget_paused (%lld s past the announced resume)",
                 (long long)((now - m->resume_ms) / 1000));
        ok = false;
    } else if (m->rk && m->last_poll_ms > 0 && mono - m->last_poll_ms > m->max_poll_ms) {
        snprintf(reason, reasonsz,
                 "consumer_stalled (no poll for %lld ms, max.poll.interval.ms %lld)",
                 (long long)(mono - m->last_poll_ms), (long long)m->max_poll_ms);
        ok = false;
    }
    pthread_mutex_unlock(&m->mu);
    return ok;
}

void ld_metrics_backlog(struct ld_metrics *m, int64_t n)
{
    if (m)
        mlc_metrics_set(m->backlog, NULL, (double)n);
}

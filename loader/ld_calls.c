/* ld_calls.c - the call audit: every Pipedrive call is recorded as a row
 * (pd_client's audit callback) until it is written to the state file with
 * the round, the scan or on its own.
 */
#include "ld_calls.h"

#include "ld_backlog.h"

#include "ld_metrics.h"
#include "ld_state.h"
#include "mlc_alloc.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "mlc_time.h"

#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ld_call_kind(enum pd_op op)
{
    switch (op) {
    case PD_OP_CREATE_ORG:
        return "creates";
    case PD_OP_PATCH_ORG:
        return "updates";
    case PD_OP_LIST_ORGS:
    case PD_OP_GET_ORG:
    case PD_OP_SEARCH_ORGS:
    case PD_OP_ITEM_SEARCH_FIELD:
        return "scans";
    case PD_OP_LIST_ORG_FIELDS:
    case PD_OP_CREATE_ORG_FIELD:
        return "field_setup";
    case PD_OP_USERS_ME:
        return "probes";
    case PD_OP__COUNT:
        break;
    }
    return "other";
}

void ld_calls_on_call(void *ctx, const struct pd_call *call, long status, int tokens, long dur)
{
    struct ld *ld = ctx;
    const struct work *w = call->tag;
    struct pd_limits *l = pd_client_limits(ld->pd);
    struct call_row *r;

    ld_metrics_call(ld->metrics, mlc_http_method_name(call->method), pd_op_name(call->op), status,
                    tokens, status == 429 && pd_limits_daily_paused(l),
                    status == 403 && pd_limits_blocked(l), pd_limits_daily_remaining(l),
                    pd_limits_burst_remaining(l));
    ld_metrics_spend(ld->metrics, ld_call_kind(call->op), tokens, status == 429);

    if (ld->n_calls == ld->cap_calls) {
        size_t cap = ld->cap_calls ? ld->cap_calls * 2 : 64;

        ld->calls = mlc_xreallocarray(ld->calls, cap, sizeof(*ld->calls));
        ld->cap_calls = cap;
    }
    r = &ld->calls[ld->n_calls++];
    memset(r, 0, sizeof(*r));
    r->op = call->op;
    mlc_strlcpy(r->method, mlc_http_method_name(call->method), sizeof(r->method));
    mlc_strlcpy(r->path, call->path, sizeof(r->path));
    r->status = status;
    r->tokens = tokens;
    r->duration_ms = dur;
    r->at_ms = mlc_realtime_ms();
    if (w && w->decoded) {
        mlc_strlcpy(r->company, w->ev.company, sizeof(r->company));
        mlc_strlcpy(r->customer, w->ev.customer_number, sizeof(r->customer));
    }
}

/* Messages not yet consumed over the assigned partitions (high watermark -
 * position; no position yet: from the low watermark), from librdkafka's
 * cached watermarks: no broker round trip. -1 when not consuming. */
static int64_t consumer_lag(struct ld *ld)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_t *rk = ld->cons ? mlc_kafka_consumer_handle(ld->cons) : NULL;
    int64_t lag = -1;

    if (!rk || rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        goto out;
    rd_kafka_position(rk, parts);
    lag = 0;
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = 0, hi = 0;

        if (rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &lo, &hi) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            continue;
        lag += hi - (p->offset >= 0 ? p->offset : lo);
    }
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    return lag;
}

/* The loader's side of the initial-load forecast: meta keys for `mlc
 * status`, and the ETA gauge (customers waiting: backlog_creates when a
 * loader records it, else the lag as an upper bound). */
/* Sets meta key to v unless the last value this process wrote is v already
 * (the forecast's inputs change rarely; this runs after every round). */
static mlc_rc meta_put(struct ld *ld, size_t slot, const char *key, long long v,
                       struct mlc_err *err)
{
    char text[32];
    mlc_rc rc;

    if (ld->forecast_meta_set[slot] && ld->forecast_meta[slot] == v)
        return MLC_OK;
    snprintf(text, sizeof(text), "%lld", v);
    if ((rc = ld_state_meta_set(ld->st, key, text, err)) == MLC_OK) {
        ld->forecast_meta[slot] = v;
        ld->forecast_meta_set[slot] = true;
    }
    return rc;
}

static mlc_rc store_forecast(struct ld *ld, struct mlc_err *err)
{
    long budget = pd_limits_daily_limit(pd_client_limits(ld->pd));
    long reserve = (long)mlc_cfg_int(ld->cfg, MLC_CFG_PIPEDRIVE_RESERVE_PCT);
    /* creates stop at reserve + headroom (ld_backlog.h): what they may spend */
    long headroom = (long)mlc_cfg_int(ld->cfg, MLC_CFG_LOAD_UPDATE_HEADROOM_PCT);
    int64_t lag = consumer_lag(ld);
    /* the backlog's own count when this loader keeps one, else the lag */
    int64_t waiting = ld->backlog ? ld_backlog_count(ld->backlog) : lag;
    double net = (double)budget * (double)(100 - reserve - headroom) / 100.0;
    mlc_rc rc;

    if ((rc = meta_put(ld, 0, "daily_budget", budget, err)) != MLC_OK ||
        (rc = meta_put(ld, 1, "reserve_pct", reserve, err)) != MLC_OK ||
        (rc = meta_put(ld, 2, "headroom_pct", headroom, err)) != MLC_OK ||
        (rc = meta_put(ld, 3, "lag", lag, err)) != MLC_OK)
        return rc;
    ld_metrics_forecast(ld->metrics,
                        waiting >= 0 && net > 0 ? (double)waiting * LD_CREATE_TOKENS / net : -1);
    return MLC_OK;
}

mlc_rc ld_flush_calls(struct ld *ld, struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;

    if (ld->o->dry_run) {
        ld->n_calls = 0;
        return MLC_OK;
    }
    for (size_t i = 0; i < ld->n_calls && rc == MLC_OK; i++) {
        struct call_row *r = &ld->calls[i];

        rc = ld_state_audit_call(ld->st, r->method, r->path, r->status, r->tokens, r->duration_ms,
                                 r->company[0] ? r->company : NULL,
                                 r->company[0] ? r->customer : NULL, r->at_ms, err);
        if (rc == MLC_OK)
            rc = ld_state_spend_add(ld->st, r->at_ms, ld_call_kind(r->op), r->status, r->tokens,
                                    err);
    }
    if (rc == MLC_OK)
        rc = store_forecast(ld, err);
    if (rc == MLC_OK)
        ld->n_calls = 0;
    return rc;
}

mlc_rc ld_flush_calls_tx(struct ld *ld, struct mlc_err *err)
{
    mlc_rc rc;

    if (ld->o->dry_run || ld->n_calls == 0) {
        ld->n_calls = 0;
        return MLC_OK;
    }
    if ((rc = ld_state_begin(ld->st, err)) != MLC_OK)
        return rc;
    if ((rc = ld_flush_calls(ld, err)) == MLC_OK)
        return ld_state_commit(ld->st, err);
    ld_state_rollback(ld->st);
    return rc;
}

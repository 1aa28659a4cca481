/* ld_loader.c - mlc-loader: start-up (ld_main), the ping and setup commands.
 *
 * Read docs/loader.md first; ld_internal.h says which file holds what.
 */
#include "ld_loader.h"

#include "ld_adopt.h"
#include "ld_calls.h"
#include "ld_consume.h"
#include "ld_dlq.h"
#include "ld_fields.h"
#include "ld_internal.h"
#include "ld_match_cmd.h"
#include "ld_metrics.h"
#include "ld_offsets.h"
#include "ld_state.h"
#include "ld_util.h"
#include "mlc_backoff.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_remind.h"
#include "mlc_str.h"
#include "mlc_time.h"
#include "pd_client.h"
#include "pd_mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define METADATA_TIMEOUT_MS 10000  /* ping: the broker's metadata answer */
#define DLQ_EXIT_FLUSH_MS   10000  /* dead letters still queued at exit */
#define PD_MAX_ATTEMPTS     5      /* tries of a GET or PATCH on 5xx/timeouts */
#define RETRY_BASE_MS       500    /* first backoff of a round or refresh retry */
#define RETRY_CAP_MS        30000  /* longest backoff */
#define RETRY_AFTER_MAX_MS  300000 /* longest Retry-After honoured */

/* ----------------------------------------------------------- ping, setup */

static mlc_rc ping(struct ld *ld, struct mlc_err *err)
{
    struct pd_call call = {.op = PD_OP_USERS_ME, .method = MLC_HTTP_GET};
    struct mlc_kafka_producer *p = NULL;
    const struct rd_kafka_metadata *md = NULL;
    const cJSON *d;
    rd_kafka_resp_err_t e;
    mlc_rc rc;

    snprintf(call.path, sizeof(call.path), "/v1/users/me");
    rc = pd_client_call1(ld->pd, &call, err);
    if (rc != MLC_OK) {
        pd_call_reset(&call);
        return mlc_err_prefix(err, "pipedrive");
    }
    d = cJSON_GetObjectItemCaseSensitive(call.json, "data");
    fprintf(ld->out, "pipedrive: ok: user %s <%s>, company %s, domain %s\n",
            ld_json_str(d, "name") ? ld_json_str(d, "name") : "?",
            ld_json_str(d, "email") ? ld_json_str(d, "email") : "?",
            ld_json_str(d, "company_name") ? ld_json_str(d, "company_name") : "?",
            ld_json_str(d, "company_domain") ? ld_json_str(d, "company_domain") : "?");
    pd_call_reset(&call);
    if ((rc = mlc_kafka_producer_new(ld->cfg, ld_dlq_on_delivery, ld, &p, err)) != MLC_OK)
        return mlc_err_prefix(err, "kafka");
    e = rd_kafka_metadata(mlc_kafka_producer_handle(p), 1, NULL, &md, METADATA_TIMEOUT_MS);
    if (e) {
        rc = mlc_err_set(err, MLC_RETRY, "kafka: metadata from %s: %s",
                         mlc_cfg_str(ld->cfg, MLC_CFG_KAFKA_BROKERS), rd_kafka_err2str(e));
        goto out;
    }
    fprintf(ld->out, "kafka: ok: %d broker(s)", md->broker_cnt);
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, ld->topic))
            fprintf(ld->out, ", topic %s with %d partition(s)", ld->topic,
                    md->topics[i].partition_cnt);
    fputc('\n', ld->out);
    rc = MLC_OK;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    mlc_kafka_producer_free(p);
    return rc;
}

static mlc_rc setup(struct ld *ld, struct mlc_err *err)
{
    mlc_rc rc = ld_prepare_fields(ld, !ld->o->dry_run, err);

    if (rc != MLC_OK)
        return rc;
    for (size_t i = 0; i < pd_mapping_custom_count(ld->map); i++)
        fprintf(ld->out, "%s -> %s\n", pd_mapping_custom_name(ld->map, i),
                pd_mapping_custom_key(ld->map, i));
    return MLC_OK;
}

/* ------------------------------------------------------------------ main */

static bool parse_hhmm(const char *s, int *minute)
{
    long h = -1, m = -1;
    char hb[3] = {0}, mb[3] = {0};

    if (strlen(s) != 5 || s[2] != ':')
        return false;
    memcpy(hb, s, 2);
    memcpy(mb, s + 3, 2);
    if (!mlc_parse_long(hb, 0, 23, &h) || !mlc_parse_long(mb, 0, 59, &m))
        return false;
    *minute = (int)(h * 60 + m);
    return true;
}

/* The command and the options that go with it. */
static mlc_rc check_command(const struct ld_opts *o, bool consuming, bool matching,
                            struct mlc_err *err)
{
    const char *cmd = o->command;

    if (!consuming && !matching && strcmp(cmd, "ping") && strcmp(cmd, "setup"))
        return mlc_err_set(err, MLC_FATAL,
                           "unknown command '%s' (drain, run, ping, setup or match)", cmd);
    if (matching && o->dry_run)
        return mlc_err_set(err, MLC_FATAL, "match writes nothing without --apply; no --dry-run");
    if (o->reset_offsets && !consuming)
        return mlc_err_set(err, MLC_FATAL, "--reset-offsets only goes with drain or run");
    if (o->reset_offsets && o->dry_run)
        return mlc_err_set(err, MLC_FATAL,
                           "--reset-offsets moves the group's offsets, which --dry-run never does");
    return MLC_OK;
}

/* The Pipedrive client's settings (and ld->settle_ms, which follows its
 * timeout); MLC_FATAL naming a bad plan or reset time. */
static mlc_rc client_cfg(const struct mlc_config *cfg, struct ld *ld, struct pd_client_cfg *pc,
                         struct mlc_err *err)
{
    pc->base_url = mlc_cfg_str(cfg, MLC_CFG_PIPEDRIVE_URL);
    pc->token = mlc_cfg_str(cfg, MLC_CFG_PIPEDRIVE_TOKEN);
    pc->timeout_ms = mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_TIMEOUT);
    ld->settle_ms = 2 * (int64_t)(pc->timeout_ms > 0 ? pc->timeout_ms : PD_TIMEOUT_DEFAULT_MS);
    pc->concurrency = (unsigned)mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_CONCURRENCY);
    pc->pacing = mlc_cfg_bool(cfg, MLC_CFG_PIPEDRIVE_PACING);
    pc->log_bodies = mlc_cfg_bool(cfg, MLC_CFG_LOG_BODIES);
    pc->max_attempts = PD_MAX_ATTEMPTS;
    pc->audit = ld_calls_on_call;
    pc->audit_ctx = ld;
    pc->stop = ld->o->stop;
    pd_limits_cfg_defaults(&pc->limits);
    if (!pd_plan_parse(mlc_cfg_str(cfg, MLC_CFG_PIPEDRIVE_PLAN), &pc->limits.plan))
        return mlc_err_set(err, MLC_FATAL, "MLC_PIPEDRIVE_PLAN: unknown plan");
    pc->limits.daily_budget = mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_DAILY_BUDGET);
    pc->limits.reserve_pct = (int)mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_RESERVE_PCT);
    pc->limits.seed = (uint32_t)mlc_realtime_ms() ^ (uint32_t)getpid();
    if (!parse_hhmm(mlc_cfg_str(cfg, MLC_CFG_PIPEDRIVE_RESET_AT), &pc->limits.reset_utc_minute))
        return mlc_err_set(err, MLC_FATAL,
                           "MLC_PIPEDRIVE_RESET_AT: expected HH:MM (UTC), got \"%s\"",
                           mlc_cfg_str(cfg, MLC_CFG_PIPEDRIVE_RESET_AT));
    return MLC_OK;
}

/* The end of a dry run: what it would spend, and the days that takes at the
 * budget in force net of the reserve and, for creates, of the update
 * headroom (docs/operations.md, Day to day). */
static void dry_forecast(struct ld *ld)
{
    long budget = pd_limits_daily_limit(pd_client_limits(ld->pd));
    long reserve = (long)mlc_cfg_int(ld->cfg, MLC_CFG_PIPEDRIVE_RESERVE_PCT);
    long headroom = (long)mlc_cfg_int(ld->cfg, MLC_CFG_LOAD_UPDATE_HEADROOM_PCT);
    long tokens = (ld->dry_creates + ld->dry_updates) * LD_CREATE_TOKENS;
    double net = (double)budget * (double)(100 - reserve) / 100.0;
    /* creates stop at the reserve plus the update headroom (ld_backlog.h) */
    double net_creates = (double)budget * (double)(100 - reserve - headroom) / 100.0;

    fprintf(ld->out,
            "dry run: %ld creates (%ld tokens), %ld updates (%ld tokens): %ld tokens in all\n",
            ld->dry_creates, ld->dry_creates * LD_CREATE_TOKENS, ld->dry_updates,
            ld->dry_updates * LD_CREATE_TOKENS, tokens);
    if (net_creates <= 0) {
        fprintf(ld->out, "dry run: forecast unknown (no daily budget seen: "
                         "set MLC_PIPEDRIVE_DAILY_BUDGET)\n");
    } else {
        /* creates within their share, and everything within the net budget */
        double days = (double)(ld->dry_creates * LD_CREATE_TOKENS) / net_creates;
        time_t end;
        struct tm tm;
        char date[16];

        if ((double)tokens / net > days)
            days = (double)tokens / net;
        end = (time_t)(mlc_realtime_ms() / 1000 + (int64_t)(days * 86400.0));
        gmtime_r(&end, &tm);
        strftime(date, sizeof(date), "%Y-%m-%d", &tm);
        fprintf(ld->out,
                "dry run: daily budget %ld, reserve %ld %%, update headroom %ld %%: %.0f tokens "
                "a day for creates; %.2f days, done about %s (UTC)\n",
                budget, reserve, headroom, net_creates, days, date);
    }
    fflush(ld->out);
}

mlc_rc ld_main(const struct mlc_config *cfg, const struct ld_opts *o, struct mlc_err *err)
{
    struct ld ld = {.cfg = cfg, .o = o, .out = o->out ? o->out : stdout};
    struct pd_client_cfg pc = {0};
    struct mlc_remind remind = {0};
    char insecure[128];
    const char *cmd = o->command;
    bool consuming = !strcmp(cmd, "drain") || !strcmp(cmd, "run");
    bool matching = !strcmp(cmd, "match");
    mlc_rc rc;

    ld.topic = mlc_cfg_str(cfg, MLC_CFG_TOPIC);
    ld.margin_ms = mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_SCAN_MARGIN) * 1000;
    ld.probe_ms = mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_PAUSE_PROBE) * 1000;
    mlc_backoff_init(&ld.backoff, RETRY_BASE_MS, RETRY_CAP_MS, RETRY_AFTER_MAX_MS, 0);
    if ((rc = check_command(o, consuming, matching, err)) != MLC_OK)
        return rc;
    if ((rc = mlc_config_require(cfg, MLC_CFG_PIPEDRIVE_TOKEN, err)) != MLC_OK)
        return rc;
    if ((consuming || matching || !strcmp(cmd, "ping")) &&
        (rc = mlc_config_require(cfg, MLC_CFG_KAFKA_BROKERS, err)) != MLC_OK)
        return rc;
    if ((rc = client_cfg(cfg, &ld, &pc, err)) != MLC_OK)
        return rc;
    if ((rc = pd_client_new(&pc, &ld.pd, err)) != MLC_OK)
        return rc;
    if (!strcmp(cmd, "ping")) {
        rc = ping(&ld, err);
        goto out;
    }
    if (mlc_cfg_is_set(cfg, MLC_CFG_MAPPING))
        rc = pd_mapping_load_file(mlc_cfg_str(cfg, MLC_CFG_MAPPING), &ld.map, err);
    else
        rc = pd_mapping_default(&ld.map, err);
    if (rc != MLC_OK)
        goto out;
    pd_mapping_set_address_max(ld.map, (size_t)mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_ADDRESS_MAX));
    rc = o->dry_run ? ld_state_open_copy(mlc_cfg_str(cfg, MLC_CFG_STATE_DB), &ld.st, err)
                    : ld_state_open(mlc_cfg_str(cfg, MLC_CFG_STATE_DB), &ld.st, err);
    if (rc != MLC_OK)
        goto out;
    if (!strcmp(cmd, "setup")) {
        rc = setup(&ld, err);
        goto out;
    }
    if ((rc = ld_sign_load(cfg, &ld.sign, err)) != MLC_OK)
        goto out;
    if (matching) {
        /* the ID fields must exist (mlc-loader setup): match never creates them */
        if ((rc = ld_prepare_fields(&ld, false, err)) == MLC_OK)
            rc = ld_match_command(&ld, o->apply, o->json, err);
        goto out;
    }
    if (o->reset_offsets &&
        (rc = ld_offsets_reset(cfg, ld.topic, o->reset_offsets, ld.out, err)) != MLC_OK)
        goto out;
    if ((rc = ld_metrics_new(cfg, &ld.metrics, err)) != MLC_OK ||
        (rc = ld_listing_new(cfg, &ld.listing, err)) != MLC_OK ||
        (rc = mlc_remind_start(&remind, cfg, MLC_REMIND_PERIOD_S, err)) != MLC_OK)
        goto out;
    /* for `mlc status`, which cannot see this process's settings */
    mlc_remind_names(&remind, insecure, sizeof(insecure));
    if ((rc = ld_state_meta_set(ld.st, "insecure_settings", insecure, err)) != MLC_OK)
        goto out;
    if ((rc = ld_prepare_fields(&ld,
                                !o->dry_run && mlc_cfg_bool(cfg, MLC_CFG_PIPEDRIVE_CREATE_FIELDS),
                                err)) != MLC_OK)
        goto out;
    if (!o->dry_run && (rc = ld_state_spend_day(ld.st, mlc_realtime_ms(), ld_metrics_spend_seed,
                                                ld.metrics, err)) != MLC_OK)
        goto out;
    rc = ld_consume(&ld, !strcmp(cmd, "drain"), err);
    if (o->dry_run && rc == MLC_OK)
        dry_forecast(&ld);
out:
    if (ld.dlq) {
        int left = 0;

        mlc_kafka_producer_flush(ld.dlq, DLQ_EXIT_FLUSH_MS, &left, NULL);
        mlc_kafka_producer_free(ld.dlq);
    }
    free(ld.calls);
    ld_state_close(ld.st);
    pd_mapping_free(ld.map);
    pd_client_free(ld.pd);
    ld_metrics_free(ld.metrics);
    mlc_remind_stop(&remind);
    ld_listing_free(ld.listing);
    return rc;
}

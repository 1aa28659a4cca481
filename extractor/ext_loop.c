/* ext_loop.c - the `once` and `run` commands (see ext_loop.h). */
#include "ext_loop.h"
#include "mlc_alloc.h"
#include "mlc_time.h"

#include "ext_cycle.h"
#include "ext_publish.h"
#include "ext_run.h"
#include "ext_state.h"
#include "mlc_backoff.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_remind.h"
#include "mlc_str.h"
#include "sage_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* message.timeout.ms defaults to MLC_KAFKA_DELIVERY_TIMEOUT unless an
 * MLC_RDKAFKA_MESSAGE_TIMEOUT_MS passthrough sets it; returns it in ms. */
static mlc_rc delivery_timeout(struct mlc_config *cfg, long *ms, struct mlc_err *err)
{
    char buf[32];

    for (size_t i = 0; i < cfg->n_rdkafka; i++) {
        if (!strcmp(cfg->rdkafka[i].key, "message.timeout.ms")) {
            if (!mlc_parse_long(cfg->rdkafka[i].value, 1, 86400000L, ms))
                return mlc_err_set(err, MLC_FATAL,
                                   "MLC_RDKAFKA_MESSAGE_TIMEOUT_MS must be 1..86400000");
            return MLC_OK;
        }
    }
    *ms = mlc_cfg_int(cfg, MLC_CFG_KAFKA_DELIVERY_TIMEOUT) * 1000L;
    snprintf(buf, sizeof(buf), "%ld", *ms);
    cfg->rdkafka = mlc_xreallocarray(cfg->rdkafka, cfg->n_rdkafka + 1, sizeof(*cfg->rdkafka));
    cfg->rdkafka[cfg->n_rdkafka].key = mlc_xstrdup("message.timeout.ms");
    cfg->rdkafka[cfg->n_rdkafka].value = mlc_xstrdup(buf);
    cfg->n_rdkafka++;
    return MLC_OK;
}

/* Reads MLC_TEST_CRASH_AFTER_DELIVERY (a test hook, see docs/extractor.md). */
static long crash_hook(void)
{
    const char *v = getenv("MLC_TEST_CRASH_AFTER_DELIVERY");
    long n = 0;

    if (v && *v && mlc_parse_long(v, 0, 1000000000L, &n) && n > 0)
        mlc_warn("MLC_TEST_CRASH_AFTER_DELIVERY=%ld: test hook active, the process will exit "
                 "after the deliveries of page %ld",
                 n, n);
    return n;
}

/* Looks the topic up once at start. librdkafka otherwise learns a new local
 * topic's partitions only on its next periodic metadata scan (about 1 s),
 * which would delay the first page's delivery reports. The handle is kept
 * (the caller destroys it before the producer) so the metadata stays. */
static rd_kafka_topic_t *warm_up_topic(struct mlc_kafka_producer *prod, const char *topic)
{
    rd_kafka_t *rk = mlc_kafka_producer_handle(prod);
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t ke;

    if (!t)
        return NULL;
    ke = rd_kafka_metadata(rk, 0, t, &md, 10000);
    if (ke == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    else
        mlc_warn("kafka: no metadata for topic %s yet: %s", topic, rd_kafka_err2str(ke));
    return t;
}

/* Sleeps s seconds unless stopped; false when stopped. */
static bool nap(long s, volatile sig_atomic_t *stop)
{
    return mlc_backoff_sleep_ms(s * 1000L, stop) && !*stop;
}

/* Deletes audit rows older than MLC_AUDIT_RETENTION_DAYS, at most hourly. A
 * failure only delays it: the cycle goes on (the audit merely grows). */
static void prune_audit(struct mlc_app *app, struct ext_ctx *x, time_t *last)
{
    long days = mlc_cfg_int(&app->cfg, MLC_CFG_AUDIT_RETENTION_DAYS);
    time_t now = time(NULL);
    struct mlc_err err = {0};
    int64_t n = 0;

    if (days <= 0 || (*last && now - *last < 3600))
        return;
    *last = now;
    if (ext_state_prune(x->state, now - (time_t)days * 86400, &n, &err) != MLC_OK)
        mlc_warn("%s; pruning the audit again in an hour", err.msg);
    else if (n > 0)
        mlc_info("audit: deleted %lld rows older than %ld days (MLC_AUDIT_RETENTION_DAYS)",
                 (long long)n, days);
}

/* The learned fact holding the password form that passed the login. */
#define PW_FORM_FACT "sage_password_case"

/* MLC_SAGE_PASSWORD_CASE=auto: sends the password form recorded in the state
 * file first (none recorded: the legacy upper-case form). */
static mlc_rc load_password_form(struct ext_ctx *x, char recorded[8], struct mlc_err *err)
{
    enum sage_pw_case form;
    mlc_rc rc;

    recorded[0] = '\0';
    if (sage_client_wanted_form(x->sage) != SAGE_PW_AUTO)
        return MLC_OK;
    if ((rc = ext_state_learned_get(x->state, PW_FORM_FACT, recorded, 8, err)) != MLC_OK)
        return rc;
    if (!recorded[0])
        return MLC_OK;
    if (!sage_pw_case_parse(recorded, &form) || form == SAGE_PW_AUTO) {
        mlc_warn("state db: recorded password form '%.8s' is neither upper nor exact; ignored",
                 recorded);
        recorded[0] = '\0';
        return MLC_OK;
    }
    return sage_client_prefer_form(x->sage, form, err);
}

/* MLC_SAGE_PASSWORD_CASE=auto: records the password form that passed the
 * login when it is not the recorded one. A failure to write only costs one
 * failed login at the next start. */
static void remember_password_form(struct ext_ctx *x, char recorded[8])
{
    enum sage_pw_case form;
    struct mlc_err err = {0};
    const char *name;

    if (sage_client_wanted_form(x->sage) != SAGE_PW_AUTO ||
        !sage_client_accepted_form(x->sage, &form))
        return;
    name = sage_pw_case_name(form);
    if (!strcmp(name, recorded))
        return;
    if (ext_state_learned_set(x->state, PW_FORM_FACT, name, &err) != MLC_OK) {
        mlc_warn("%s; the password form is not recorded", err.msg);
        return;
    }
    mlc_strlcpy(recorded, name, 8);
    mlc_info("sage: the password passed the login %s; recorded in the state file, sent that way "
             "first from now on (MLC_SAGE_PASSWORD_CASE=%s pins it)",
             form == SAGE_PW_UPPER ? "upper-cased (legacy rule)" : "exactly as configured", name);
}

/* Whether the last cycle that ext_state reports through last (full scan, or
 * balance refresh) of company is every seconds old or never ran. */
static mlc_rc due(struct ext_ctx *x, const char *company, long every,
                  mlc_rc (*last)(struct ext_state *, const char *, time_t *, bool *,
                                 struct mlc_err *),
                  bool *is_due, struct mlc_err *err)
{
    time_t at = 0;
    bool has = false;
    mlc_rc rc;

    *is_due = false;
    if (every <= 0)
        return MLC_OK;
    if ((rc = last(x->state, company, &at, &has, err)) != MLC_OK)
        return rc;
    *is_due = !has || time(NULL) - at >= every;
    return MLC_OK;
}

/* One cycle per company: full when asked, or for run when the last full scan
 * is MLC_FULL_SCAN_INTERVAL old; else a balance refresh when asked, or for
 * run when the last balance refresh (or full scan) is MLC_SAGE_BALANCE_INTERVAL
 * old; else incremental. Returns the worst result, MLC_FATAL after reporting
 * a fatal failure (the caller stops). */
static mlc_rc one_pass(struct mlc_app *app, struct ext_ctx *x, bool run, bool want_full,
                       bool want_balances, bool force, char **companies, size_t n_companies,
                       char pw_form[8])
{
    long full_every = mlc_cfg_int(&app->cfg, MLC_CFG_FULL_SCAN_INTERVAL);
    long balance_every = mlc_cfg_int(&app->cfg, MLC_CFG_SAGE_BALANCE_INTERVAL);
    struct mlc_err err = {0};
    mlc_rc worst = MLC_OK, rc;

    for (size_t i = 0; i < n_companies && !*x->stop; i++) {
        struct ext_cycle_stats st = {0};
        bool full = want_full, balances = want_balances;
        long t0;

        if (run && !full && !balances &&
            due(x, companies[i], balance_every, ext_state_last_balance_refresh, &balances, &err) !=
                MLC_OK) {
            mlc_app_fail(app, &err);
            return MLC_FATAL;
        }

        if (run && !full && full_every > 0) {
            time_t last = 0;
            bool has = false;

            if (ext_state_last_full_scan(x->state, companies[i], &last, &has, &err) != MLC_OK) {
                mlc_app_fail(app, &err);
                return MLC_FATAL;
            }
            full = !has || time(NULL) - last >= full_every;
        }
        t0 = mlc_monotonic_ms();
        mlc_err_clear(&err);
        rc = ext_cycle_run(x, companies[i],
                           full       ? EXT_FULL
                           : balances ? EXT_BALANCE
                                      : EXT_INCREMENTAL,
                           force, &st, &err);
        remember_password_form(x, pw_form);
        ext_metrics_cycle(x->metrics, companies[i],
                          rc == MLC_OK                    ? "ok"
                          : (*x->stop && rc == MLC_RETRY) ? "interrupted"
                                                          : "failed",
                          &st, (double)(mlc_monotonic_ms() - t0) / 1000.0, &err);
        if (rc == MLC_OK)
            continue;
        if (*x->stop && rc == MLC_RETRY && run)
            break; /* interrupted between pages: a clean stop */
        if (run && rc != MLC_FATAL) {
            mlc_error("%s (retried next cycle)", err.msg);
        } else {
            mlc_app_fail(app, &err);
        }
        if (rc > worst)
            worst = rc;
        if (rc == MLC_FATAL)
            break;
    }
    return worst;
}

/* MLC_EVENT_KEY_FILE into *key, and *use = key; unset: *use = NULL. */
static mlc_rc load_sign_key(const struct mlc_config *cfg, struct mlc_sign_key *key,
                            const struct mlc_sign_key **use, struct mlc_err *err)
{
    const char *path = mlc_cfg_str(cfg, MLC_CFG_EVENT_KEY_FILE);
    mlc_rc rc;

    *use = NULL;
    if (!path || !*path) {
        mlc_info("MLC_EVENT_KEY_FILE is not set: events are published unsigned");
        return MLC_OK;
    }
    if ((rc = mlc_sign_key_load(path, key, err)) != MLC_OK)
        return mlc_err_prefix(err, "MLC_EVENT_KEY_FILE");
    *use = key;
    mlc_info("events are signed with key id %s (MLC_EVENT_KEY_FILE)", key->id);
    return MLC_OK;
}

/* The settings that weaken security, kept for `mlc status` (which cannot
 * see this process's settings); "" when none. */
static mlc_rc record_insecure(struct ext_state *state, const struct mlc_remind *r,
                              struct mlc_err *err)
{
    char names[128];

    mlc_remind_names(r, names, sizeof(names));
    return ext_state_learned_set(state, "insecure_settings", names, err);
}

int ext_loop(struct mlc_app *app, bool run, bool want_full, bool want_balances, bool force,
             volatile sig_atomic_t *stop, char **companies, size_t n_companies)
{
    struct ext_ctx x = {0};
    struct mlc_sign_key sign_key;
    struct mlc_remind remind = {0};
    struct ext_metrics *metrics = NULL;
    struct ext_state *state = NULL, *commit_state = NULL;
    struct sage_client *sage = NULL;
    struct mlc_kafka_producer *prod = NULL;
    rd_kafka_topic_t *topic = NULL;
    struct mlc_err err = {0};
    long timeout_ms = 0;
    time_t pruned_at = 0;
    char pw_form[8] = "";
    mlc_rc worst = MLC_OK, rc;
    int code;

    if ((rc = mlc_config_require(&app->cfg, MLC_CFG_KAFKA_BROKERS, &err)) != MLC_OK ||
        (rc = delivery_timeout(&app->cfg, &timeout_ms, &err)) != MLC_OK ||
        (rc = sage_client_new(&app->cfg, stop, &sage, &err)) != MLC_OK ||
        (rc = ext_state_open(mlc_cfg_str(&app->cfg, MLC_CFG_STATE_DB), &state, &err)) != MLC_OK ||
        (rc = ext_state_open(mlc_cfg_str(&app->cfg, MLC_CFG_STATE_DB), &commit_state, &err)) !=
            MLC_OK ||
        (rc = mlc_kafka_producer_new(&app->cfg, ext_on_delivery, &x, &prod, &err)) != MLC_OK ||
        (rc = ext_metrics_new(&app->cfg, &metrics, &err)) != MLC_OK) {
        mlc_app_fail(app, &err);
        worst = rc == MLC_RETRY ? MLC_RETRY : MLC_FATAL;
        goto out;
    }
    x.sage = sage;
    x.metrics = metrics;
    sage_client_set_observer(sage, ext_metrics_sage_response, metrics);
    x.producer = prod;
    x.state = state;
    x.commit_state = commit_state;
    x.base_url = mlc_cfg_str(&app->cfg, MLC_CFG_SAGE_URL);
    x.topic = mlc_cfg_str(&app->cfg, MLC_CFG_TOPIC);
    x.top = mlc_cfg_int(&app->cfg, MLC_CFG_SAGE_PAGE_SIZE);
    x.lookback_days = mlc_cfg_int(&app->cfg, MLC_CFG_SAGE_LOOKBACK_DAYS);
    x.max_pages = mlc_cfg_int(&app->cfg, MLC_CFG_SAGE_MAX_PAGES);
    x.flush_timeout_ms = (int)(timeout_ms + 10000);
    x.event_version = (int)mlc_cfg_int(&app->cfg, MLC_CFG_EVENT_VERSION);
    x.balance_min_pct = (double)mlc_cfg_int(&app->cfg, MLC_CFG_BALANCE_MIN_CHANGE_PCT);
    if (x.event_version == 1)
        mlc_warn("MLC_EVENT_VERSION=1: writing sage300.customer-change.v1 events without the "
                 "credit picture (a rolling-upgrade pin; remove it once every loader reads v2)");
    x.stop = stop;
    x.crash_after_pages = crash_hook();
    if ((rc = load_sign_key(&app->cfg, &sign_key, &x.sign_key, &err)) != MLC_OK ||
        (rc = mlc_remind_start(&remind, &app->cfg, MLC_REMIND_PERIOD_S, &err)) != MLC_OK ||
        (rc = record_insecure(state, &remind, &err)) != MLC_OK ||
        (rc = load_password_form(&x, pw_form, &err)) != MLC_OK) {
        mlc_app_fail(app, &err);
        worst = MLC_FATAL;
        goto out;
    }
    topic = warm_up_topic(prod, x.topic);

    do {
        prune_audit(app, &x, &pruned_at);
        if ((worst = one_pass(app, &x, run, want_full, want_balances, force, companies, n_companies,
                              pw_form)) == MLC_FATAL)
            goto out;
    } while (run && !*stop && nap(mlc_cfg_int(&app->cfg, MLC_CFG_POLL_INTERVAL), stop));
    if (run)
        worst = MLC_OK;
    else if (*stop && worst == MLC_OK && n_companies > 0)
        worst = MLC_RETRY;
out:
    if (prod) {
        int left = 0;

        mlc_kafka_producer_flush(prod, (int)timeout_ms, &left, NULL);
        if (left > 0)
            mlc_warn("%d events not acknowledged at exit; their pages were not committed and "
                     "are sent again by the next cycle",
                     left);
    }
    if (topic)
        rd_kafka_topic_destroy(topic);
    mlc_kafka_producer_free(prod);
    ext_state_close(commit_state);
    ext_state_close(state);
    sage_client_free(sage);
    ext_metrics_free(metrics);
    mlc_remind_stop(&remind);
    mlc_kafka_wait_destroyed(5000, NULL);
    code = mlc_app_exit_code(worst);
    return code;
}

/* mlc-extractor: polls Sage 300 ARCustomers and publishes customer-change
 * events to Kafka. This file parses the command line and runs the commands;
 * the work is in ext_cycle (the cycle), ext_state (SQLite) and sage_client. */
#include "ext_cycle.h"
#include "ext_state.h"
#include "mlc_app.h"
#include "mlc_backoff.h"
#include "mlc_http.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "sage_client.h"
#include "sage_query.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "Usage: mlc-extractor [--config FILE] once|run|ping [--full] [--force]\n"
    "\n"
    "Polls Sage 300 ARCustomers for every company in MLC_SAGE_COMPANIES and\n"
    "publishes one customer-change event per changed customer to MLC_TOPIC,\n"
    "keyed COMPANY:CustomerNumber. State (watermarks, hashes, audit) is in\n"
    "MLC_STATE_DB; `mlc audit --db FILE` prints the audit trail.\n"
    "\n"
    "Commands:\n"
    "  once    one poll cycle per company, wait for every delivery report, commit,\n"
    "          exit (0 ok, 1 a cycle failed and may be retried, 2 fatal/config)\n"
    "  run     a cycle every MLC_POLL_INTERVAL seconds and a full scan every\n"
    "          MLC_FULL_SCAN_INTERVAL seconds until SIGTERM/SIGINT (the page in\n"
    "          hand is finished, delivered and committed; exit 0)\n"
    "  ping    check each company URL, the credentials and the brokers (one line\n"
    "          per check; exit 0 when all pass)\n"
    "Options:\n"
    "  --full  scan every customer (and report customers gone from Sage as missing)\n"
    "  --force publish every customer read, changed or not\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* message.timeout.ms defaults to MLC_KAFKA_DELIVERY_TIMEOUT unless an
 * MLC_RDKAFKA_MESSAGE_TIMEOUT_MS passthrough sets it; returns it in ms. */
static mlc_rc delivery_timeout(struct mlc_config *cfg, long *ms, struct mlc_err *err)
{
    struct mlc_kv *grown;
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
    grown = realloc(cfg->rdkafka, (cfg->n_rdkafka + 1) * sizeof(*grown));
    if (!grown)
        return mlc_err_set(err, MLC_FATAL, "out of memory");
    cfg->rdkafka = grown;
    grown[cfg->n_rdkafka].key = strdup("message.timeout.ms");
    grown[cfg->n_rdkafka].value = strdup(buf);
    cfg->n_rdkafka++;
    if (!grown[cfg->n_rdkafka - 1].key || !grown[cfg->n_rdkafka - 1].value)
        return mlc_err_set(err, MLC_FATAL, "out of memory");
    return MLC_OK;
}

struct opts {
    const char *cmd;
    bool full, force;
};

static int parse_args(const struct mlc_app *app, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    if (app->argc < 1) {
        fputs(usage, stderr);
        return 2;
    }
    o->cmd = app->argv[0];
    if (strcmp(o->cmd, "once") && strcmp(o->cmd, "run") && strcmp(o->cmd, "ping")) {
        fprintf(stderr, "mlc-extractor: unknown command '%s' (see mlc-extractor --help)\n", o->cmd);
        return 2;
    }
    for (int i = 1; i < app->argc; i++) {
        if (!strcmp(app->argv[i], "--full")) {
            o->full = true;
        } else if (!strcmp(app->argv[i], "--force")) {
            o->force = true;
        } else {
            fprintf(stderr, "mlc-extractor: unknown option '%s' (see mlc-extractor --help)\n",
                    app->argv[i]);
            return 2;
        }
    }
    return 0;
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

static int cmd_ping(struct mlc_app *app, char **companies, size_t n_companies)
{
    struct sage_client *sage = NULL;
    struct mlc_kafka_producer *prod = NULL;
    struct ext_ctx dummy = {0};
    struct mlc_err err = {0};
    struct mlc_buf url, res;
    bool auth_failed = false;
    int failures = 0;

    mlc_buf_init(&url, 16384);
    mlc_buf_init(&res, 2048);
    if (sage_client_new(&app->cfg, &stop_flag, &sage, &err) != MLC_OK) {
        printf("FAIL config: %s\n", err.msg);
        failures++;
        goto brokers;
    }
    sage_client_set_retries(sage, 0);
    for (size_t i = 0; i < n_companies; i++) {
        struct sage_query q = {.base_url = mlc_cfg_str(&app->cfg, MLC_CFG_SAGE_URL),
                               .company = companies[i],
                               .top = 1,
                               .keys_only = true};
        struct sage_page page = {0};
        char line[sizeof(err.msg) + 64];
        mlc_rc rc;

        mlc_err_clear(&err);
        rc = sage_query_customers_url(&q, &url, &err);
        if (rc == MLC_OK)
            rc = sage_query_resource_url(q.base_url, companies[i], "ARCustomers", &res, &err);
        if (rc == MLC_OK)
            rc = sage_client_get_page(sage, mlc_buf_str(&url), mlc_buf_str(&res), &page, &err);
        if (rc == MLC_OK) {
            printf("ok   sage %s: %s answered (HTTP %ld, %zu record%s)\n", companies[i],
                   mlc_buf_str(&res), sage_client_last_status(sage), page.count,
                   page.count == 1 ? "" : "s");
            printf("ok   credentials: user accepted for %s\n", companies[i]);
        } else {
            mlc_redact(err.msg, line, sizeof(line));
            if (mlc_http_is_auth_failure(err.status) ||
                mlc_http_is_auth_failure(sage_client_last_status(sage))) {
                auth_failed = true;
                printf("FAIL credentials for %s: %s\n", companies[i], line);
            } else {
                printf("FAIL sage %s: %s\n", companies[i], line);
            }
            failures++;
        }
        sage_page_free(&page);
    }
brokers:
    mlc_err_clear(&err);
    if (mlc_kafka_producer_new(&app->cfg, ext_on_delivery, &dummy, &prod, &err) != MLC_OK) {
        printf("FAIL kafka: %s\n", err.msg);
        failures++;
    } else {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t ke =
            rd_kafka_metadata(mlc_kafka_producer_handle(prod), 0, NULL, &md, 10000);

        if (ke != RD_KAFKA_RESP_ERR_NO_ERROR) {
            printf("FAIL kafka %s: no metadata: %s\n",
                   mlc_cfg_str(&app->cfg, MLC_CFG_KAFKA_BROKERS), rd_kafka_err2str(ke));
            failures++;
        } else {
            bool topic = false;

            for (int i = 0; i < md->topic_cnt; i++)
                if (!strcmp(md->topics[i].topic, mlc_cfg_str(&app->cfg, MLC_CFG_TOPIC)) &&
                    !md->topics[i].err)
                    topic = true;
            printf("ok   kafka %s: %d broker%s, topic %s %s\n",
                   mlc_cfg_str(&app->cfg, MLC_CFG_KAFKA_BROKERS), md->broker_cnt,
                   md->broker_cnt == 1 ? "" : "s", mlc_cfg_str(&app->cfg, MLC_CFG_TOPIC),
                   topic ? "exists"
                         : "not found (created on first produce if the cluster "
                           "allows auto-creation)");
            rd_kafka_metadata_destroy(md);
        }
    }
    mlc_kafka_producer_free(prod);
    sage_client_free(sage);
    mlc_buf_free(&url);
    mlc_buf_free(&res);
    if (auth_failed) {
        printf("hint 401: %s\n", sage_auth_hint(401));
        printf("hint 403: %s\n", sage_auth_hint(403));
    }
    return failures == 0 ? 0 : auth_failed ? 2 : 1;
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
static bool nap(long s)
{
    return mlc_backoff_sleep_ms(s * 1000L, &stop_flag) && !stop_flag;
}

static int cmd_cycles(struct mlc_app *app, const struct opts *o, char **companies,
                      size_t n_companies)
{
    struct ext_ctx x = {0};
    struct ext_state *state = NULL, *commit_state = NULL;
    struct sage_client *sage = NULL;
    struct mlc_kafka_producer *prod = NULL;
    rd_kafka_topic_t *topic = NULL;
    struct mlc_err err = {0};
    bool run = !strcmp(o->cmd, "run");
    long timeout_ms = 0, full_every = mlc_cfg_int(&app->cfg, MLC_CFG_FULL_SCAN_INTERVAL);
    mlc_rc worst = MLC_OK, rc;
    int code;

    if ((rc = mlc_config_require(&app->cfg, MLC_CFG_KAFKA_BROKERS, &err)) != MLC_OK ||
        (rc = delivery_timeout(&app->cfg, &timeout_ms, &err)) != MLC_OK ||
        (rc = sage_client_new(&app->cfg, &stop_flag, &sage, &err)) != MLC_OK ||
        (rc = ext_state_open(mlc_cfg_str(&app->cfg, MLC_CFG_STATE_DB), &state, &err)) != MLC_OK ||
        (rc = ext_state_open(mlc_cfg_str(&app->cfg, MLC_CFG_STATE_DB), &commit_state, &err)) !=
            MLC_OK ||
        (rc = mlc_kafka_producer_new(&app->cfg, ext_on_delivery, &x, &prod, &err)) != MLC_OK) {
        mlc_app_fail(app, &err);
        worst = rc == MLC_RETRY ? MLC_RETRY : MLC_FATAL;
        goto out;
    }
    x.sage = sage;
    x.producer = prod;
    x.state = state;
    x.commit_state = commit_state;
    x.base_url = mlc_cfg_str(&app->cfg, MLC_CFG_SAGE_URL);
    x.topic = mlc_cfg_str(&app->cfg, MLC_CFG_TOPIC);
    x.top = mlc_cfg_int(&app->cfg, MLC_CFG_SAGE_PAGE_SIZE);
    x.lookback_days = mlc_cfg_int(&app->cfg, MLC_CFG_SAGE_LOOKBACK_DAYS);
    x.flush_timeout_ms = (int)(timeout_ms + 10000);
    x.stop = &stop_flag;
    x.crash_after_pages = crash_hook();
    topic = warm_up_topic(prod, x.topic);

    do {
        worst = MLC_OK;
        for (size_t i = 0; i < n_companies && !stop_flag; i++) {
            bool full = o->full;

            if (run && !full && full_every > 0) {
                time_t last = 0;
                bool has = false;

                if (ext_state_last_full_scan(state, companies[i], &last, &has, &err) != MLC_OK) {
                    mlc_app_fail(app, &err);
                    worst = MLC_FATAL;
                    goto out;
                }
                full = !has || time(NULL) - last >= full_every;
            }
            mlc_err_clear(&err);
            rc = ext_cycle_run(&x, companies[i], full, o->force, NULL, &err);
            if (rc == MLC_OK)
                continue;
            if (stop_flag && rc == MLC_RETRY && run)
                break; /* interrupted between pages: a clean stop */
            if (run && rc != MLC_FATAL) {
                mlc_error("%s (retried next cycle)", err.msg);
            } else {
                mlc_app_fail(app, &err);
            }
            if (rc > worst)
                worst = rc;
            if (rc == MLC_FATAL)
                goto out;
        }
    } while (run && !stop_flag && nap(mlc_cfg_int(&app->cfg, MLC_CFG_POLL_INTERVAL)));
    if (run)
        worst = MLC_OK;
    else if (stop_flag && worst == MLC_OK && n_companies > 0)
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
    mlc_kafka_wait_destroyed(5000, NULL);
    code = mlc_app_exit_code(worst);
    return code;
}

int main(int argc, char **argv)
{
    struct mlc_app app = {.name = "mlc-extractor", .prog = MLC_PROG_EXTRACTOR, .usage = usage};
    struct mlc_err err = {0};
    char **companies = NULL;
    size_t n_companies = 0;
    struct opts o;
    int code = 2;

    switch (mlc_app_start(&app, argc, argv)) {
    case MLC_APP_EXIT:
        return 0;
    case MLC_APP_FAIL:
        return 2;
    case MLC_APP_RUN:
        break;
    }
    if ((code = parse_args(&app, &o)) != 0)
        goto out;
    code = 2;
    if (mlc_config_require(&app.cfg, MLC_CFG_SAGE_URL, &err) != MLC_OK ||
        mlc_config_require(&app.cfg, MLC_CFG_SAGE_COMPANIES, &err) != MLC_OK ||
        mlc_config_list(&app.cfg, MLC_CFG_SAGE_COMPANIES, &companies, &n_companies, &err) !=
            MLC_OK) {
        mlc_app_fail(&app, &err);
        goto out;
    }
    for (size_t i = 0; i < n_companies; i++) {
        if (!mlc_event_company_valid(companies[i])) {
            mlc_err_set(
                &err, MLC_FATAL,
                "MLC_SAGE_COMPANIES: '%s' is not a company database ID ([A-Za-z0-9_-]{1,32})",
                companies[i]);
            mlc_app_fail(&app, &err);
            goto out;
        }
    }
    if (mlc_http_global_init(&err) != MLC_OK) {
        mlc_app_fail(&app, &err);
        goto out;
    }
    install_signals();
    if (!strcmp(o.cmd, "ping"))
        code = cmd_ping(&app, companies, n_companies);
    else
        code = cmd_cycles(&app, &o, companies, n_companies);
    mlc_http_global_cleanup();
out:
    mlc_config_free_list(companies, n_companies);
    mlc_app_free(&app);
    return code;
}

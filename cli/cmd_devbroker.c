/* mlc devbroker: librdkafka's in-memory mock cluster served on 127.0.0.1.
 *
 * stdout line 1: the bootstrap address (host:port[,host:port...]);
 * stdout line 2: control=http://127.0.0.1:PORT (see devbroker_ctl.h).
 * Runs until SIGTERM/SIGINT, then exits 0. Data lives in memory only; this
 * is for tests and the demo, never for production (docs/adr/0004).
 */
#include "devbroker_ctl.h"
#include "mlc_cli.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_str.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* the mock's own clients log connection noise at warning level */
    if (level <= 3)
        mlc_warn("kafka %s: %s", fac, buf);
    else
        mlc_debug("kafka %s: %s", fac, buf);
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "mlc devbroker: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    fputs("usage: mlc devbroker [--partitions N] [--brokers N] [--topic NAME]...\n", stderr);
    return 2;
}

static bool add_topic(struct devbroker *db, const char *name, int partitions)
{
    for (int i = 0; i < db->n_topics; i++)
        if (!strcmp(db->topics[i].name, name))
            return true;
    if (db->n_topics >= DEVBROKER_MAX_TOPICS || !*name ||
        !mlc_strlcpy(db->topics[db->n_topics].name, name, sizeof(db->topics[0].name)))
        return false;
    db->topics[db->n_topics++].partitions = partitions;
    return true;
}

int mlc_cmd_devbroker(struct mlc_app *app)
{
    struct devbroker db = {.n_brokers = 1};
    struct devbroker_ctl *ctl = NULL;
    const char *extra[DEVBROKER_MAX_TOPICS];
    int n_extra = 0, port = 0, code = 2;
    long partitions = 3, brokers = 1;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    struct mlc_err err = {0};
    volatile sig_atomic_t *stop;
    char errstr[256];

    for (int i = 1; i < app->argc; i++) {
        const char *a = app->argv[i];

        if (!strcmp(a, "--partitions") || !strcmp(a, "--brokers") || !strcmp(a, "--topic")) {
            if (i + 1 >= app->argc)
                return usage_error("missing value for", a);
            i++;
            if (!strcmp(a, "--topic")) {
                if (n_extra >= DEVBROKER_MAX_TOPICS - 2)
                    return usage_error("too many --topic", NULL);
                extra[n_extra++] = app->argv[i];
            } else if (!strcmp(a, "--partitions")) {
                if (!mlc_parse_long(app->argv[i], 1, 1000, &partitions))
                    return usage_error("--partitions must be 1..1000", app->argv[i]);
            } else if (!mlc_parse_long(app->argv[i], 1, DEVBROKER_MAX_BROKERS, &brokers)) {
                return usage_error("--brokers must be 1..16", app->argv[i]);
            }
        } else {
            return usage_error("unknown argument", a);
        }
    }
    db.n_brokers = (int)brokers;
    if (!add_topic(&db, mlc_cfg_str(&app->cfg, MLC_CFG_TOPIC), (int)partitions) ||
        !add_topic(&db, mlc_cfg_str(&app->cfg, MLC_CFG_DLQ_TOPIC), (int)partitions))
        return usage_error("bad topic name in MLC_TOPIC or MLC_DLQ_TOPIC", NULL);
    for (int i = 0; i < n_extra; i++)
        if (!add_topic(&db, extra[i], (int)partitions))
            return usage_error("bad topic name", extra[i]);
    pthread_mutex_init(&db.mtx, NULL);

    stop = mlc_app_stop_on_signals();

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "mlc devbroker: %s\n", errstr);
        goto out;
    }
    /* The mock binds every broker's listener to 127.0.0.1 (INADDR_LOOPBACK)
     * on an ephemeral port; nothing listens on other interfaces. */
    db.mock = rd_kafka_mock_cluster_new(rk, db.n_brokers);
    if (!db.mock) {
        fputs("mlc devbroker: cannot create the mock cluster\n", stderr);
        goto out;
    }
    db.bootstrap = rd_kafka_mock_cluster_bootstraps(db.mock);
    for (int i = 1; i <= db.n_brokers; i++)
        db.up[i] = true;
    for (int i = 0; i < db.n_topics; i++) {
        rd_kafka_resp_err_t e =
            rd_kafka_mock_topic_create(db.mock, db.topics[i].name, db.topics[i].partitions, 1);
        if (e) {
            fprintf(stderr, "mlc devbroker: create topic %s: %s\n", db.topics[i].name,
                    rd_kafka_err2str(e));
            goto out;
        }
    }
    if (devbroker_ctl_start(&db, &ctl, &port, &err) != MLC_OK) {
        mlc_app_fail(app, &err);
        goto out;
    }
    printf("%s\ncontrol=http://127.0.0.1:%d\n", db.bootstrap, port);
    fflush(stdout);
    fprintf(stderr,
            "mlc devbroker: in-memory Kafka (librdkafka mock cluster) for tests and demos, NOT "
            "for production: everything is lost when it stops\n");
    for (int i = 0; i < db.n_topics; i++)
        mlc_info("devbroker: topic %s (%d partitions)", db.topics[i].name, db.topics[i].partitions);
    while (!*stop) {
        struct timespec ts = {0, 100 * 1000 * 1000};

        nanosleep(&ts, NULL);
    }
    mlc_info("devbroker: stopping");
    code = 0;
out:
    devbroker_ctl_stop(ctl);
    if (db.mock)
        rd_kafka_mock_cluster_destroy(db.mock);
    if (rk)
        rd_kafka_destroy(rk);
    pthread_mutex_destroy(&db.mtx);
    return code;
}

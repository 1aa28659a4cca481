/* Unit tests of the extractor's cycle (ext_cycle, ext_scan, ext_page,
 * ext_publish, ext_commit) through their public headers, against the Sage
 * 300 sandbox run in this process and librdkafka's in-process mock cluster:
 * what is published, what is committed, and what a failed delivery leaves. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "ext_commit.h"
#include "ext_cycle.h"
#include "ext_publish.h"
#include "ext_state.h"
#include "mlc_config.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "sagesim_data.h"
#include "sagesim_routes.h"
#include "sim_core.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_CUSTOMERS 25
#define API_PRODUCE 0 /* Kafka protocol ApiKey */
#define TOPIC       "sage300.customers.v1"

static struct sagesim_app sim;
static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;

struct fx {
    struct mlc_config cfg;
    struct ext_ctx x;
    struct sage_client *sage;
    struct ext_state *state, *commit_state;
    struct mlc_kafka_producer *prod;
    volatile sig_atomic_t stop;
    char dir[64], db[128];
};

static int group_setup(void **state)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct sim_config sc = {0};
    struct mlc_err err = {0};
    char errstr[256];
    time_t now = time(NULL);
    struct tm tm;

    (void)state;
    mlc_log_setup("test_ext_cycle", MLC_LOG_WARN, MLC_LOG_TEXT);
    gmtime_r(&now, &tm);
    memset(&sim, 0, sizeof(sim));
    sim.set.page_size = 100;
    sim.set.password_mode = SAGESIM_PW_UPPER;
    sim.set.user_case = SAGESIM_USER_UPPER;
    sim.set.content_type_rule = SAGESIM_CT_ALL;
    sim.set.unknown_company = SAGESIM_UC_DBLINK;
    snprintf(sim.set.user, sizeof(sim.set.user), "WEBAPI");
    snprintf(sim.set.password, sizeof(sim.set.password), "WEBAPI");
    sagesim_store_init(&sim.store,
                       sagesim_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday));
    assert_non_null(sagesim_store_add_company(&sim.store, "SAMINC"));
    assert_true(sagesim_generate(&sim.store, &sim.store.co[0], N_CUSTOMERS, 7));
    sc.handler = sagesim_handle;
    sc.fault_body = sagesim_fault_body;
    sc.ctx = &sim;
    sc.log_capacity = 100;
    assert_int_equal(sim_server_start(&sc, &sim.srv, &err), MLC_OK);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(mock_rk);
    mock = rd_kafka_mock_cluster_new(mock_rk, 1);
    assert_non_null(mock);
    assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC, 3, 1), 0);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    sim_server_stop(sim.srv);
    sagesim_store_free(&sim.store);
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
    assert_int_equal(mlc_kafka_wait_destroyed(5000, NULL), MLC_OK);
    return 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct mlc_err err = {0};
    char url[256], brokers[256], db[160];
    char *env[16];
    size_t n = 0;

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/mlc-extfx-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/extractor.db", f->dir);
    snprintf(url, sizeof(url), "MLC_SAGE_URL=%s/Sage300WebApi/v1.0/-/",
             sim_server_base_url(sim.srv));
    snprintf(brokers, sizeof(brokers), "MLC_KAFKA_BROKERS=%s",
             rd_kafka_mock_cluster_bootstraps(mock));
    snprintf(db, sizeof(db), "MLC_STATE_DB=%s", f->db);
    env[n++] = url;
    env[n++] = brokers;
    env[n++] = db;
    env[n++] = "MLC_SAGE_USER=WEBAPI";
    env[n++] = "MLC_SAGE_PASSWORD=WEBAPI";
    env[n++] = "MLC_SAGE_COMPANIES=SAMINC";
    env[n++] = "MLC_SAGE_PAGE_SIZE=10";
    env[n++] = "MLC_RDKAFKA_MESSAGE_TIMEOUT_MS=1500";
    env[n++] = "MLC_RDKAFKA_RETRY_BACKOFF_MS=50";
    env[n] = NULL;
    assert_int_equal(mlc_config_load(&f->cfg, MLC_PROG_EXTRACTOR, NULL, env, &err), MLC_OK);
    assert_int_equal(sage_client_new(&f->cfg, &f->stop, &f->sage, &err), MLC_OK);
    assert_int_equal(ext_state_open(f->db, &f->state, &err), MLC_OK);
    assert_int_equal(ext_state_open(f->db, &f->commit_state, &err), MLC_OK);
    assert_int_equal(mlc_kafka_producer_new(&f->cfg, ext_on_delivery, &f->x, &f->prod, &err),
                     MLC_OK);
    f->x.sage = f->sage;
    f->x.producer = f->prod;
    f->x.state = f->state;
    f->x.commit_state = f->commit_state;
    f->x.base_url = mlc_cfg_str(&f->cfg, MLC_CFG_SAGE_URL);
    f->x.topic = TOPIC;
    f->x.top = mlc_cfg_int(&f->cfg, MLC_CFG_SAGE_PAGE_SIZE);
    f->x.lookback_days = mlc_cfg_int(&f->cfg, MLC_CFG_SAGE_LOOKBACK_DAYS);
    f->x.flush_timeout_ms = 5000;
    f->x.stop = &f->stop;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[200];
    int left = 0;

    mlc_kafka_producer_flush(f->prod, 2000, &left, NULL);
    mlc_kafka_producer_free(f->prod);
    ext_state_close(f->commit_state);
    ext_state_close(f->state);
    sage_client_free(f->sage);
    mlc_config_free(&f->cfg);
    snprintf(p, sizeof(p), "%s-wal", f->db);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", f->db);
    unlink(p);
    unlink(f->db);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void first_cycle_publishes_all_then_nothing_changed(void **state)
{
    struct fx *f = *state;
    struct ext_cycle_stats st = {0};
    struct mlc_err err = {0};
    char day[11];
    bool has = false;

    assert_int_equal(ext_cycle_run(&f->x, "SAMINC", EXT_INCREMENTAL, false, &st, &err), MLC_OK);
    assert_int_equal(st.records, N_CUSTOMERS);
    assert_int_equal(st.published, N_CUSTOMERS);
    assert_int_equal(st.skipped, 0);
    assert_true(st.pages >= 3); /* 10 per page */
    assert_int_equal(ext_state_watermark_get(f->state, "SAMINC", day, &has, &err), MLC_OK);
    assert_true(has);

    memset(&st, 0, sizeof(st));
    assert_int_equal(ext_cycle_run(&f->x, "SAMINC", EXT_INCREMENTAL, false, &st, &err), MLC_OK);
    assert_int_equal(st.published, 0);
    assert_int_equal(st.unchanged, st.records);

    memset(&st, 0, sizeof(st));
    assert_int_equal(ext_cycle_run(&f->x, "SAMINC", EXT_INCREMENTAL, true, &st, &err), MLC_OK);
    assert_int_equal(st.published, st.records); /* force */
}

/* Every delivery failed: nothing of the page is committed and the
 * watermark stays, so the next cycle publishes the same customers again. */
static void failed_deliveries_commit_nothing(void **state)
{
    struct fx *f = *state;
    struct ext_cycle_stats st = {0};
    struct mlc_err err = {0};
    rd_kafka_resp_err_t errs[400];
    char day[11];
    bool has = true;

    for (size_t i = 0; i < 400; i++)
        errs[i] = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
    rd_kafka_mock_push_request_errors_array(mock, API_PRODUCE, 400, errs);
    assert_int_equal(ext_cycle_run(&f->x, "SAMINC", EXT_INCREMENTAL, false, &st, &err), MLC_RETRY);
    rd_kafka_mock_clear_request_errors(mock, API_PRODUCE);
    assert_non_null(strstr(err.msg, "not acknowledged"));
    assert_int_equal(st.published, 0);
    assert_int_equal(ext_state_watermark_get(f->state, "SAMINC", day, &has, &err), MLC_OK);
    assert_false(has);

    memset(&st, 0, sizeof(st));
    assert_int_equal(ext_cycle_run(&f->x, "SAMINC", EXT_INCREMENTAL, false, &st, &err), MLC_OK);
    assert_int_equal(st.published, N_CUSTOMERS);
}

/* A full scan reports, once, a known customer that Sage no longer has. */
static void full_scan_reports_a_vanished_customer_once(void **state)
{
    struct fx *f = *state;
    struct sagesim_company *co = &sim.store.co[0];
    struct sagesim_customer *last;
    struct ext_cycle_stats st = {0};
    struct mlc_err err = {0};

    assert_int_equal(ext_cycle_run(&f->x, "SAMINC", EXT_FULL, false, &st, &err), MLC_OK);
    assert_int_equal(st.missing, 0);
    last = co->cust[--co->n]; /* the sandbox loses its last customer */
    memset(&st, 0, sizeof(st));
    assert_int_equal(ext_cycle_run(&f->x, "SAMINC", EXT_FULL, false, &st, &err), MLC_OK);
    assert_int_equal(st.missing, 1);
    assert_int_equal(st.records, N_CUSTOMERS - 1);
    memset(&st, 0, sizeof(st));
    assert_int_equal(ext_cycle_run(&f->x, "SAMINC", EXT_FULL, false, &st, &err), MLC_OK);
    assert_int_equal(st.missing, 0); /* reported once */
    co->cust[co->n++] = last;
}

static void delivery_reports_are_counted_per_slot(void **state)
{
    struct fx *f = *state;
    struct mlc_kafka_dr ok = {.opaque = (void *)(uintptr_t)1};
    struct mlc_kafka_dr bad = {.opaque = (void *)(uintptr_t)2,
                               .err = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
                               .errstr = "Local: Message timed out"};

    ext_publish_slot_reset(&f->x, 0);
    ext_publish_slot_reset(&f->x, 1);
    ext_on_delivery(&ok, &f->x);
    ext_on_delivery(&ok, &f->x);
    ext_on_delivery(&bad, &f->x);
    assert_int_equal(f->x.dr_ok[0], 2);
    assert_int_equal(f->x.dr_failed[0], 0);
    assert_int_equal(f->x.dr_ok[1], 0);
    assert_int_equal(f->x.dr_failed[1], 1);
    assert_true(f->x.dr_error[1][0] != '\0');
    ext_publish_slot_reset(&f->x, 1);
    assert_int_equal(f->x.dr_failed[1], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(first_cycle_publishes_all_then_nothing_changed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failed_deliveries_commit_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(full_scan_reports_a_vanished_customer_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(delivery_reports_are_counted_per_slot, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* ext_fixture.h - an extractor cycle's context for the module tests of
 * ext_scan, ext_page, ext_publish and ext_commit: the Sage 300 sandbox run
 * in this process (for the scan), librdkafka's in-process mock cluster as
 * the broker, a state file in a temporary directory opened twice (reader
 * and committer, as mlc-extractor does) and a struct ext_run for company
 * SAMINC with a cycle row. Include after cmocka.h.
 */
#ifndef EXT_FIXTURE_H
#define EXT_FIXTURE_H

#include "ext_commit.h"
#include "ext_cycle.h"
#include "ext_publish.h"
#include "ext_run.h"
#include "ext_state.h"
#include "mlc_config.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_store.h"
#include "mlc_str.h"
#include "sagesim_data.h"
#include "sagesim_routes.h"
#include "sim_core.h"

#include <librdkafka/rdkafka_mock.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FX_COMPANY     "SAMINC"
#define FX_TOPIC       "sage300.customers.v1"
#define FX_API_PRODUCE 0 /* Kafka protocol ApiKey */

static struct sagesim_app fx_sim;
static rd_kafka_t *fx_mock_rk;
static rd_kafka_mock_cluster_t *fx_mock;

struct fx {
    struct mlc_config cfg;
    struct ext_ctx x;
    struct ext_run c;
    struct sage_client *sage;
    struct ext_state *state, *commit_state;
    struct mlc_kafka_producer *prod;
    volatile sig_atomic_t stop;
    char dir[64], db[128];
};

/* The sandbox with n generated customers of SAMINC (seed 7), and the mock
 * broker with the topic in 3 partitions. */
static inline int fx_group_setup_customers(long n)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct sim_config sc = {0};
    struct mlc_err err = {0};
    char errstr[256];
    time_t now = time(NULL);
    struct tm tm;

    mlc_log_setup("test_ext", MLC_LOG_ERROR, MLC_LOG_TEXT);
    gmtime_r(&now, &tm);
    memset(&fx_sim, 0, sizeof(fx_sim));
    fx_sim.set.page_size = 100;
    fx_sim.set.password_mode = SAGESIM_PW_UPPER;
    fx_sim.set.user_case = SAGESIM_USER_UPPER;
    fx_sim.set.content_type_rule = SAGESIM_CT_ALL;
    fx_sim.set.unknown_company = SAGESIM_UC_DBLINK;
    snprintf(fx_sim.set.user, sizeof(fx_sim.set.user), "WEBAPI");
    snprintf(fx_sim.set.password, sizeof(fx_sim.set.password), "WEBAPI");
    sagesim_store_init(&fx_sim.store,
                       sagesim_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday));
    assert_non_null(sagesim_store_add_company(&fx_sim.store, FX_COMPANY));
    if (n > 0)
        assert_true(sagesim_generate(&fx_sim.store, &fx_sim.store.co[0], n, 7));
    sc.handler = sagesim_handle;
    sc.fault_body = sagesim_fault_body;
    sc.ctx = &fx_sim;
    sc.log_capacity = 100;
    assert_int_equal(sim_server_start(&sc, &fx_sim.srv, &err), MLC_OK);
    fx_mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(fx_mock_rk);
    fx_mock = rd_kafka_mock_cluster_new(fx_mock_rk, 1);
    assert_non_null(fx_mock);
    assert_int_equal(rd_kafka_mock_topic_create(fx_mock, FX_TOPIC, 3, 1), 0);
    return 0;
}

static inline int fx_group_teardown(void **state)
{
    (void)state;
    sim_server_stop(fx_sim.srv);
    sagesim_store_free(&fx_sim.store);
    rd_kafka_mock_cluster_destroy(fx_mock);
    rd_kafka_destroy(fx_mock_rk);
    assert_int_equal(mlc_kafka_wait_destroyed(5000, NULL), MLC_OK);
    return 0;
}

/* A fresh state file and producer; c is a running incremental cycle of
 * SAMINC (its row exists, so audit rows can refer to it). */
static inline int fx_setup(void **state)
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
             sim_server_base_url(fx_sim.srv));
    snprintf(brokers, sizeof(brokers), "MLC_KAFKA_BROKERS=%s",
             rd_kafka_mock_cluster_bootstraps(fx_mock));
    snprintf(db, sizeof(db), "MLC_STATE_DB=%s", f->db);
    env[n++] = url;
    env[n++] = brokers;
    env[n++] = db;
    env[n++] = "MLC_SAGE_USER=WEBAPI";
    env[n++] = "MLC_SAGE_PASSWORD=WEBAPI";
    env[n++] = "MLC_SAGE_COMPANIES=" FX_COMPANY;
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
    f->x.topic = FX_TOPIC;
    f->x.top = mlc_cfg_int(&f->cfg, MLC_CFG_SAGE_PAGE_SIZE);
    f->x.lookback_days = mlc_cfg_int(&f->cfg, MLC_CFG_SAGE_LOOKBACK_DAYS);
    f->x.flush_timeout_ms = 5000;
    f->x.stop = &f->stop;
    f->c.x = &f->x;
    f->c.company = FX_COMPANY;
    f->c.kind = EXT_INCREMENTAL;
    f->c.terms = sage_terms_new();
    mlc_buf_init(&f->c.value, MLC_EVENT_MAX_BYTES + 1);
    assert_int_equal(ext_state_cycle_start_kind(f->state, FX_COMPANY, "incremental", NULL,
                                                time(NULL), &f->c.id, &err),
                     MLC_OK);
    *state = f;
    return 0;
}

static inline int fx_teardown(void **state)
{
    struct fx *f = *state;
    char p[200];
    int left = 0;

    mlc_kafka_producer_flush(f->prod, 2000, &left, NULL);
    mlc_kafka_producer_free(f->prod);
    sage_terms_free(f->c.terms);
    mlc_buf_free(&f->c.value);
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

/* A Sage ARCustomers record as the sandbox serves it (v2's credit fields
 * included); limit < 0 leaves CreditLimitCustomerCurrency out (a bad record). */
static inline cJSON *fx_record(const char *number, const char *name, const char *maintained,
                               double balance, double limit)
{
    cJSON *r = cJSON_CreateObject();

    cJSON_AddStringToObject(r, "CustomerNumber", number);
    cJSON_AddStringToObject(r, "CustomerName", name);
    cJSON_AddStringToObject(r, "Status", "Active");
    cJSON_AddStringToObject(r, "OnHold", "No");
    if (limit >= 0)
        cJSON_AddNumberToObject(r, "CreditLimitCustomerCurrency", limit);
    cJSON_AddStringToObject(r, "DateLastMaintained", maintained);
    cJSON_AddNumberToObject(r, "BalanceDueInCustomerCurrency", balance);
    cJSON_AddNumberToObject(r, "AmountPastDue", 0);
    cJSON_AddNumberToObject(r, "NumberOfOpenDocuments", 1);
    return r;
}

/* A page over records (an array the caller keeps and frees). */
static inline struct sage_page fx_page(const cJSON *records)
{
    struct sage_page p = {0};

    p.records = records;
    p.count = (size_t)cJSON_GetArraySize(records);
    return p;
}

/* One integer from SQL on the reader's connection. */
static inline long long fx_sql_count(struct fx *f, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long n = -1;

    assert_int_equal(sqlite3_prepare_v2(mlc_store_db(ext_state_store(f->state)), sql, -1, &s, NULL),
                     SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

#endif

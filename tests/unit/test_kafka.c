/* Unit tests of mlc_kafka against librdkafka's in-process mock cluster. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include "mlc_alloc.h"
#include "mlc_config.h"
#include "mlc_kafka.h"
#include "mlc_log.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_MSG       40
#define N_KEYS      5
#define API_PRODUCE 0 /* Kafka protocol ApiKey */

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;

/* Loads a config whose only sources are the given MLC_* assignments. */
static void load_cfg(struct mlc_config *cfg, const char *group, const char *const *extra)
{
    char *envp[32];
    char brokers[512], grp[128];
    size_t n = 0;
    struct mlc_err err = {0};

    snprintf(brokers, sizeof(brokers), "MLC_KAFKA_BROKERS=%s",
             rd_kafka_mock_cluster_bootstraps(mock));
    snprintf(grp, sizeof(grp), "MLC_KAFKA_GROUP=%s", group ? group : "g");
    envp[n++] = brokers;
    envp[n++] = grp;
    /* the mock delays a rejoin by session.timeout.ms - 1000 */
    envp[n++] = (char *)"MLC_RDKAFKA_SESSION_TIMEOUT_MS=3000";
    envp[n++] = (char *)"MLC_RDKAFKA_HEARTBEAT_INTERVAL_MS=500";
    envp[n++] = (char *)"MLC_RDKAFKA_TOPIC_METADATA_REFRESH_INTERVAL_MS=1000";
    for (; extra && *extra; extra++)
        envp[n++] = (char *)*extra;
    envp[n] = NULL;
    assert_int_equal(mlc_config_load(cfg, MLC_PROG_LOADER | MLC_PROG_EXTRACTOR, NULL, envp, &err),
                     MLC_OK);
}

/* ------------------------------------------------------------- producing */

struct reports {
    int n, ok, failed;
    int seen[N_MSG]; /* how often each opaque came back */
    int bad_opaque;
};

static int ids[N_MSG];

static void on_dr(const struct mlc_kafka_dr *dr, void *ctx)
{
    struct reports *r = ctx;
    int *id = dr->opaque;

    r->n++;
    if (dr->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        r->ok++;
        assert_true(dr->partition >= 0);
        assert_true(dr->offset >= 0);
    } else {
        r->failed++;
    }
    if (id < ids || id >= ids + N_MSG)
        r->bad_opaque++;
    else
        r->seen[*id]++;
}

/* Produces N_MSG messages "key-(i%N_KEYS)" = "i" to topic; returns after
 * flushing with every report in *r. */
static mlc_rc produce_all(const struct mlc_config *cfg, const char *topic, struct reports *r,
                          int flush_ms)
{
    struct mlc_kafka_producer *p = NULL;
    struct mlc_err err = {0};
    int left = -1;
    mlc_rc rc;

    memset(r, 0, sizeof(*r));
    assert_int_equal(mlc_kafka_producer_new(cfg, on_dr, r, &p, &err), MLC_OK);
    for (int i = 0; i < N_MSG; i++) {
        char key[32], val[32];
        int kl = snprintf(key, sizeof(key), "key-%d", i % N_KEYS);
        int vl = snprintf(val, sizeof(val), "%d", i);
        struct mlc_kafka_header h[] = {{"origin", "unit", 4}, {"nullhdr", NULL, 0}};

        ids[i] = i;
        assert_int_equal(mlc_kafka_produce(p, topic, key, (size_t)kl, val, (size_t)vl, h, 2,
                                           &ids[i], 5000, &err),
                         MLC_OK);
    }
    rc = mlc_kafka_producer_flush(p, flush_ms, &left, &err);
    assert_int_equal(left, mlc_kafka_producer_outstanding(p));
    assert_int_equal(rc == MLC_OK, left == 0);
    mlc_kafka_producer_free(p);
    return rc;
}

static void produce_gets_one_report_per_message(void **state)
{
    struct mlc_config cfg = {0};
    struct reports r;

    load_cfg(&cfg, NULL, NULL);
    assert_int_equal(produce_all(&cfg, "t.produce", &r, 10000), MLC_OK);
    assert_int_equal(r.n, N_MSG);
    assert_int_equal(r.ok, N_MSG);
    assert_int_equal(r.bad_opaque, 0);
    for (int i = 0; i < N_MSG; i++)
        assert_int_equal(r.seen[i], 1);
    mlc_config_free(&cfg);
}

static void injected_produce_errors_fail_reports(void **state)
{
    const char *extra[] = {"MLC_RDKAFKA_MESSAGE_TIMEOUT_MS=1500", "MLC_RDKAFKA_RETRY_BACKOFF_MS=50",
                           NULL};
    struct mlc_config cfg = {0};
    struct reports r;
    rd_kafka_resp_err_t errs[200];

    for (size_t i = 0; i < 200; i++)
        errs[i] = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
    load_cfg(&cfg, NULL, extra);
    rd_kafka_mock_push_request_errors_array(mock, API_PRODUCE, 200, errs);
    assert_int_equal(produce_all(&cfg, "t.errors", &r, 10000), MLC_OK);
    rd_kafka_mock_clear_request_errors(mock, API_PRODUCE);
    /* every message reported, none acknowledged: a watermark must not move */
    assert_int_equal(r.n, N_MSG);
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.failed, N_MSG);
    for (int i = 0; i < N_MSG; i++)
        assert_int_equal(r.seen[i], 1);
    /* once the broker recovers the same batch goes through */
    assert_int_equal(produce_all(&cfg, "t.errors", &r, 10000), MLC_OK);
    assert_int_equal(r.ok, N_MSG);
    mlc_config_free(&cfg);
}

static void full_queue_is_polled_then_reported(void **state)
{
    const char *extra[] = {"MLC_RDKAFKA_QUEUE_BUFFERING_MAX_MESSAGES=5", NULL};
    struct mlc_config cfg = {0};
    struct mlc_kafka_producer *p = NULL;
    struct mlc_err err = {0};
    struct reports r;
    mlc_rc rc = MLC_OK;
    int queued = 0;

    load_cfg(&cfg, NULL, extra);
    /* a queue of 5 drains by polling: all 40 go through */
    assert_int_equal(produce_all(&cfg, "t.produce", &r, 10000), MLC_OK);
    assert_int_equal(r.ok, N_MSG);
    /* with the broker down it cannot drain: MLC_RETRY after the wait */
    memset(&r, 0, sizeof(r));
    assert_int_equal(mlc_kafka_producer_new(&cfg, on_dr, &r, &p, &err), MLC_OK);
    assert_int_equal(rd_kafka_mock_broker_set_down(mock, 1), 0);
    while (queued < N_MSG && (rc = mlc_kafka_produce(p, "t.produce", "k", 1, "v", 1, NULL, 0,
                                                     &ids[queued], 300, &err)) == MLC_OK)
        queued++;
    assert_int_equal(rc, MLC_RETRY);
    assert_int_equal(queued, 5);
    assert_non_null(strstr(err.msg, "queue"));
    assert_int_equal(rd_kafka_mock_broker_set_up(mock, 1), 0);
    assert_int_equal(mlc_kafka_producer_flush(p, 10000, NULL, &err), MLC_OK);
    assert_int_equal(r.ok, 5);
    mlc_kafka_producer_free(p);
    mlc_config_free(&cfg);
}

static void fatal_error_surfaces_as_fatal(void **state)
{
    struct mlc_config cfg = {0};
    struct mlc_kafka_producer *p = NULL;
    struct mlc_err err = {0};
    struct reports r = {0};

    load_cfg(&cfg, NULL, NULL);
    assert_int_equal(mlc_kafka_producer_new(&cfg, on_dr, &r, &p, &err), MLC_OK);
    assert_false(mlc_kafka_producer_fatal(p, NULL));
    rd_kafka_test_fatal_error(mlc_kafka_producer_handle(p),
                              RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "unit test");
    assert_int_equal(mlc_kafka_producer_poll(p, 100, &err), MLC_FATAL);
    assert_int_equal(mlc_kafka_produce(p, "t.fatal", "k", 1, "v", 1, NULL, 0, NULL, 0, &err),
                     MLC_FATAL);
    assert_non_null(strstr(err.msg, "OUT_OF_ORDER_SEQUENCE_NUMBER"));
    mlc_kafka_producer_free(p);
    mlc_config_free(&cfg);
}

static void bad_rdkafka_setting_is_named(void **state)
{
    const char *extra[] = {"MLC_RDKAFKA_NO_SUCH_PROPERTY=1", NULL};
    struct mlc_config cfg = {0};
    struct mlc_kafka_producer *p = NULL;
    struct mlc_kafka_consumer *c = NULL;
    struct reports r;
    struct mlc_err err = {0};

    load_cfg(&cfg, NULL, extra);
    assert_int_equal(mlc_kafka_producer_new(&cfg, on_dr, &r, &p, &err), MLC_FATAL);
    assert_null(p);
    assert_non_null(strstr(err.msg, "MLC_RDKAFKA_NO_SUCH_PROPERTY"));
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(mlc_kafka_consumer_new(&cfg, NULL, 0, NULL, NULL, &c, &err), MLC_FATAL);
    assert_null(c);
    mlc_config_free(&cfg);
}

/* ------------------------------------------------------------- consuming */

struct seen {
    int assigned, revoked;
    int n;
    int last[N_KEYS]; /* last value per key, -1 before the first */
    int order_errors;
    int headers_ok;
};

static void on_rebalance(enum mlc_kafka_rebalance ev, const rd_kafka_topic_partition_list_t *p,
                         void *ctx)
{
    struct seen *s = ctx;

    if (ev == MLC_KAFKA_ASSIGNED)
        s->assigned += p->cnt;
    else
        s->revoked += p->cnt;
}

/* Consumes until `want` messages arrived or idle_ms passed without one
 * after the assignment; calls done() when `done` is set. */
static void consume(const struct mlc_config *cfg, const char *topic, bool done, int want,
                    int idle_ms, struct seen *s)
{
    struct mlc_kafka_consumer *c = NULL;
    struct mlc_err err = {0};
    const char *topics[] = {topic};
    int idle = 0, waited = 0;

    memset(s, 0, sizeof(*s));
    for (int k = 0; k < N_KEYS; k++)
        s->last[k] = -1;
    assert_int_equal(mlc_kafka_consumer_new(cfg, topics, 1, on_rebalance, s, &c, &err), MLC_OK);
    while (s->n < want && idle < idle_ms && waited < 30000) {
        rd_kafka_message_t *m = NULL;
        const void *hv = NULL;
        size_t hl = 0;
        rd_kafka_headers_t *hdrs = NULL;
        char key[32] = "", val[32] = "";
        int k = -1, v = -1;

        assert_int_equal(mlc_kafka_consumer_poll(c, 100, &m, &err), MLC_OK);
        waited += 100;
        if (!m) {
            if (s->assigned)
                idle += 100;
            continue;
        }
        idle = 0;
        snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
        snprintf(val, sizeof(val), "%.*s", (int)m->len, (const char *)m->payload);
        assert_int_equal(strncmp(key, "key-", 4), 0);
        k = (int)strtol(key + 4, NULL, 10);
        v = (int)strtol(val, NULL, 10);
        assert_true(k >= 0 && k < N_KEYS);
        if (v <= s->last[k])
            s->order_errors++;
        s->last[k] = v;
        if (!rd_kafka_message_headers(m, &hdrs) &&
            !rd_kafka_header_get_last(hdrs, "origin", &hv, &hl) && hl == 4 &&
            !memcmp(hv, "unit", 4))
            s->headers_ok++;
        s->n++;
        if (done)
            assert_int_equal(mlc_kafka_consumer_done(c, m, &err), MLC_OK);
        mlc_kafka_message_free(m);
    }
    mlc_kafka_consumer_close(c);
}

static void group_keeps_key_order_and_stores_offsets_only_after_done(void **state)
{
    struct mlc_config cfg = {0};
    struct reports r;
    struct seen s;

    load_cfg(&cfg, "g.done", NULL);
    assert_int_equal(produce_all(&cfg, "t.done", &r, 10000), MLC_OK);
    /* read everything in the group, in key order, mark nothing done */
    consume(&cfg, "t.done", false, N_MSG, 3000, &s);
    assert_int_equal(s.n, N_MSG);
    assert_int_equal(s.order_errors, 0);
    assert_int_equal(s.headers_ok, N_MSG);
    assert_int_equal(s.assigned, 3);
    for (int k = 0; k < N_KEYS; k++)
        assert_int_equal(s.last[k], N_MSG - N_KEYS + k);
    /* the group kept no offset: everything comes again */
    consume(&cfg, "t.done", true, N_MSG, 3000, &s);
    assert_int_equal(s.n, N_MSG);
    assert_int_equal(s.order_errors, 0);
    /* this time they were done: nothing comes back */
    consume(&cfg, "t.done", true, N_MSG, 1500, &s);
    assert_true(s.assigned > 0);
    assert_int_equal(s.n, 0);
    mlc_config_free(&cfg);
}

static void reset_offsets_replays_and_watermarks_drain(void **state)
{
    struct mlc_config cfg = {0};
    struct mlc_kafka_consumer *c = NULL;
    rd_kafka_topic_partition_list_t *high = NULL, *committed = NULL;
    struct mlc_err err = {0};
    struct reports r;
    struct seen s;
    int64_t sum = 0;
    bool drained = true;
    mlc_rc rc;

    load_cfg(&cfg, "g.reset", NULL);
    assert_int_equal(produce_all(&cfg, "t.reset", &r, 10000), MLC_OK);
    consume(&cfg, "t.reset", true, N_MSG, 3000, &s);
    assert_int_equal(s.n, N_MSG);

    assert_int_equal(mlc_kafka_consumer_new(&cfg, NULL, 0, NULL, NULL, &c, &err), MLC_OK);
    assert_int_equal(mlc_kafka_consumer_high_watermarks(c, "t.reset", 5000, &high, &err), MLC_OK);
    assert_int_equal(high->cnt, 3);
    for (int i = 0; i < high->cnt; i++)
        sum += high->elems[i].offset;
    assert_int_equal(sum, N_MSG);
    /* nothing assigned to an unsubscribed consumer: not drained */
    assert_int_equal(mlc_kafka_consumer_drained(c, high, 5000, &drained, &err), MLC_OK);
    assert_false(drained);
    rd_kafka_topic_partition_list_destroy(high);
    mlc_kafka_consumer_close(c);
    rc = mlc_kafka_reset_offsets(&cfg, "t.reset", MLC_KAFKA_RESET_EARLIEST, 0, NULL, 15000, &err);
    if (rc != MLC_OK)
        print_message("reset: %s\n", err.msg);
    assert_int_equal(rc, MLC_OK);

    consume(&cfg, "t.reset", true, N_MSG, 3000, &s);
    assert_int_equal(s.n, N_MSG);

    assert_int_equal(
        mlc_kafka_reset_offsets(&cfg, "t.reset", MLC_KAFKA_RESET_LATEST, 0, NULL, 15000, &err),
        MLC_OK);
    /* the group's committed offsets are now the high watermarks */
    assert_int_equal(mlc_kafka_consumer_new(&cfg, NULL, 0, NULL, NULL, &c, &err), MLC_OK);
    assert_int_equal(mlc_kafka_consumer_high_watermarks(c, "t.reset", 5000, &high, &err), MLC_OK);
    committed = rd_kafka_topic_partition_list_copy(high);
    assert_int_equal(rd_kafka_committed(mlc_kafka_consumer_handle(c), committed, 5000), 0);
    for (int i = 0; i < high->cnt; i++)
        assert_int_equal(committed->elems[i].offset, high->elems[i].offset);
    rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_topic_partition_list_destroy(high);
    mlc_kafka_consumer_close(c);
    mlc_config_free(&cfg);
}

static void pause_stops_delivery_until_resume(void **state)
{
    const char *coop[] = {"MLC_RDKAFKA_PARTITION_ASSIGNMENT_STRATEGY=cooperative-sticky", NULL};
    struct mlc_config cfg = {0};
    struct mlc_kafka_consumer *c = NULL;
    rd_kafka_topic_partition_list_t *high = NULL;
    struct mlc_err err = {0};
    const char *topics[] = {"t.pause"};
    struct reports r;
    struct seen s = {0};
    int got = 0, polls = 0;
    bool drained = false;

    /* cooperative protocol: assignment goes through rd_kafka_incremental_assign */
    load_cfg(&cfg, "g.pause", coop);
    assert_int_equal(produce_all(&cfg, "t.pause", &r, 10000), MLC_OK);
    assert_int_equal(mlc_kafka_consumer_new(&cfg, topics, 1, on_rebalance, &s, &c, &err), MLC_OK);
    assert_int_equal(mlc_kafka_consumer_high_watermarks(c, "t.pause", 5000, &high, &err), MLC_OK);
    /* pausing before the assignment also pauses what gets assigned */
    assert_int_equal(mlc_kafka_consumer_pause(c, &err), MLC_OK);
    assert_true(mlc_kafka_consumer_paused(c));
    while (polls++ < 200) { /* the mock's first join takes ~3 s, more when loaded */
        rd_kafka_message_t *m = NULL;

        assert_int_equal(mlc_kafka_consumer_poll(c, 100, &m, &err), MLC_OK);
        got += m != NULL;
        mlc_kafka_message_free(m);
        if (s.assigned && polls > 20)
            break;
    }
    assert_true(s.assigned > 0);
    assert_int_equal(got, 0);
    assert_string_equal(rd_kafka_rebalance_protocol(mlc_kafka_consumer_handle(c)), "COOPERATIVE");
    assert_int_equal(mlc_kafka_consumer_resume(c, &err), MLC_OK);
    for (polls = 0; got < N_MSG && polls < 200; polls++) {
        rd_kafka_message_t *m = NULL;

        assert_int_equal(mlc_kafka_consumer_poll(c, 100, &m, &err), MLC_OK);
        if (m) {
            got++;
            assert_int_equal(mlc_kafka_consumer_done(c, m, &err), MLC_OK);
        }
        mlc_kafka_message_free(m);
    }
    assert_int_equal(got, N_MSG);
    assert_int_equal(mlc_kafka_consumer_drained(c, high, 5000, &drained, &err), MLC_OK);
    assert_true(drained);
    assert_int_equal(mlc_kafka_consumer_commit_sync(c, &err), MLC_OK);
    rd_kafka_topic_partition_list_destroy(high);
    mlc_kafka_consumer_close(c);
    mlc_config_free(&cfg);
}

static void parse_err_names_and_numbers(void **state)
{
    rd_kafka_resp_err_t e;

    assert_true(mlc_kafka_parse_err("NOT_ENOUGH_REPLICAS", &e));
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
    assert_true(mlc_kafka_parse_err("rd_kafka_resp_err__transport", &e));
    assert_int_equal(e, RD_KAFKA_RESP_ERR__TRANSPORT);
    assert_true(mlc_kafka_parse_err("19", &e));
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
    assert_false(mlc_kafka_parse_err("NO_SUCH_ERROR", &e));
    assert_false(mlc_kafka_parse_err("9999", &e));
    assert_false(mlc_kafka_parse_err("", &e));
}

static int setup_cluster(void **state)
{
    static const char *const topics[] = {"t.produce", "t.errors", "t.fatal",
                                         "t.done",    "t.reset",  "t.pause"};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];

    mlc_log_setup("test_kafka", MLC_LOG_WARN, MLC_LOG_TEXT);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(mock_rk);
    mock = rd_kafka_mock_cluster_new(mock_rk, 1);
    assert_non_null(mock);
    for (size_t i = 0; i < ARRAY_SIZE(topics); i++)
        assert_int_equal(rd_kafka_mock_topic_create(mock, topics[i], 3, 1), 0);
    return 0;
}

static int teardown_cluster(void **state)
{
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
    assert_int_equal(mlc_kafka_wait_destroyed(5000, NULL), MLC_OK);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_err_names_and_numbers),
        cmocka_unit_test(bad_rdkafka_setting_is_named),
        cmocka_unit_test(produce_gets_one_report_per_message),
        cmocka_unit_test(injected_produce_errors_fail_reports),
        cmocka_unit_test(full_queue_is_polled_then_reported),
        cmocka_unit_test(fatal_error_surfaces_as_fatal),
        cmocka_unit_test(group_keeps_key_order_and_stores_offsets_only_after_done),
        cmocka_unit_test(reset_offsets_replays_and_watermarks_drain),
        cmocka_unit_test(pause_stops_delivery_until_resume),
    };

    return cmocka_run_group_tests(tests, setup_cluster, teardown_cluster);
}

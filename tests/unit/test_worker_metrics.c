/* test_worker_metrics.c - the extractor's and loader's metrics structs
 * (ext_metrics, ld_metrics): what each event records and the health rules
 * of docs/operations.md "Metrics and health". */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "ext_metrics.h"
#include "ld_metrics.h"
#include "mlc_alloc.h"
#include "mlc_app.h"

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void load(struct mlc_config *cfg, unsigned prog, char **envp)
{
    struct mlc_err err = {0};

    assert_int_equal(mlc_config_load(cfg, prog, NULL, envp, &err), MLC_OK);
}

static char *render(struct mlc_metrics *reg)
{
    static char text[65536];
    struct mlc_buf b;

    mlc_buf_init(&b, sizeof(text));
    assert_int_equal(mlc_metrics_render(reg, &b, NULL), MLC_OK);
    assert_true(b.len < sizeof(text));
    memcpy(text, b.data, b.len);
    text[b.len] = '\0';
    mlc_buf_free(&b);
    return text;
}

static void extractor_health_follows_the_last_cycle(void **state)
{
    struct mlc_config cfg;
    struct ext_metrics *m = NULL;
    struct mlc_err err = {0};
    struct ext_cycle_stats st = {.records = 7, .published = 5, .unchanged = 1, .skipped = 1};
    struct mlc_err e;
    char reason[300] = "";
    char *text;

    (void)state;
    load(&cfg, MLC_PROG_EXTRACTOR, NULL);
    assert_int_equal(ext_metrics_new(&cfg, &m, &err), MLC_OK); /* port 0: no server */
    assert_true(ext_metrics_healthy(m, reason, sizeof(reason)));
    ext_metrics_sage_response(m, 200);
    ext_metrics_sage_response(m, 200);
    ext_metrics_sage_response(m, 0);
    ext_metrics_cycle(m, "SAMINC", "ok", &st, 1.5, NULL);
    e = (struct mlc_err){MLC_RETRY, 503, "OTHER: sage GET https://erp.example/x: HTTP 503"};
    ext_metrics_cycle(m, "OTHER", "failed", NULL, 0.25, &e);
    assert_false(ext_metrics_healthy(m, reason, sizeof(reason)));
    /* the class only: no host name, path or error text */
    assert_string_equal(reason, "sage_unreachable (company OTHER)");
    e = (struct mlc_err){MLC_RETRY, 0, "interrupted"};
    ext_metrics_cycle(m, "OTHER", "interrupted", NULL, 0.1, &e);
    assert_false(ext_metrics_healthy(m, reason, sizeof(reason))); /* still the last verdict */
    ext_metrics_delivery_failed(m);
    text = render(ext_metrics_registry(m));
    assert_non_null(strstr(text, "mlc_extractor_sage_requests_total{status=\"200\"} 2\n"));
    assert_non_null(strstr(text, "mlc_extractor_sage_requests_total{status=\"0\"} 1\n"));
    assert_non_null(
        strstr(text, "mlc_extractor_cycles_total{company=\"SAMINC\",result=\"ok\"} 1\n"));
    assert_non_null(
        strstr(text, "mlc_extractor_records_total{company=\"SAMINC\",outcome=\"published\"} 5\n"));
    assert_non_null(strstr(text, "mlc_extractor_records_read_total{company=\"SAMINC\"} 7\n"));
    assert_non_null(strstr(text, "mlc_extractor_delivery_failures_total 1\n"));
    assert_non_null(strstr(text, "mlc_extractor_watermark_age_seconds{company=\"SAMINC\"} "));
    assert_null(strstr(text, "mlc_extractor_watermark_age_seconds{company=\"OTHER\"}"));
    ext_metrics_cycle(m, "OTHER", "ok", NULL, 0.1, NULL);
    assert_true(ext_metrics_healthy(m, reason, sizeof(reason)));
    ext_metrics_free(m);
    mlc_config_free(&cfg);
}

static void extractor_health_classes(void **state)
{
    static const struct {
        int status;
        const char *msg, *cls;
    } cases[] = {
        {401, "SAMINC: sage GET https://erp/x: HTTP 401 Unauthorized", "sage_auth"},
        {403, "sage GET https://erp/x: HTTP 403", "sage_auth"},
        {0, "SAMINC: sage GET https://erp/x: Couldn't connect to server", "sage_unreachable"},
        {502, "sage GET https://erp/x: HTTP 502", "sage_unreachable"},
        {404, "SAMINC: sage GET https://erp/x: HTTP 404", "sage_refused"},
        {0, "SAMINC: kafka: 3 deliveries failed: Local: Message timed out", "kafka_down"},
        {0, "kafka refused the event: Broker: Topic authorization failed", "kafka_down"},
        {0, "SAMINC: state db /var/lib/mlc/x.db: database is locked", "state_error"},
        {0, "SAMINC: something else", "cycle_failed"},
        {0, "", "cycle_failed"},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct mlc_err e = {MLC_RETRY, cases[i].status, ""};

        snprintf(e.msg, sizeof(e.msg), "%s", cases[i].msg);
        assert_string_equal(ext_health_class("SAMINC", &e), cases[i].cls);
    }
    assert_string_equal(ext_health_class("SAMINC", NULL), "cycle_failed");
}

static void loader_health_rules(void **state)
{
    char *envp[] = {"MLC_RDKAFKA_MAX_POLL_INTERVAL_MS=1000", NULL};
    struct mlc_config cfg;
    struct ld_metrics *m = NULL;
    struct mlc_err err = {0};
    char reason[300] = "";
    int fake_handle = 0;
    char *text;

    (void)state;
    load(&cfg, MLC_PROG_LOADER, envp);
    assert_int_equal(ld_metrics_new(&cfg, &m, &err), MLC_OK);
    assert_true(ld_metrics_healthy(m, reason, sizeof(reason)));

    /* paused, announced resume still ahead (or within the grace): healthy */
    ld_metrics_paused(m, true, wall_ms() + 3600000);
    assert_true(ld_metrics_healthy(m, reason, sizeof(reason)));
    ld_metrics_paused(m, true, wall_ms() - (LD_METRICS_PAUSE_GRACE_S - 60) * 1000LL);
    assert_true(ld_metrics_healthy(m, reason, sizeof(reason)));
    /* past resume + grace: unhealthy */
    ld_metrics_paused(m, true, wall_ms() - (LD_METRICS_PAUSE_GRACE_S + 60) * 1000LL);
    assert_false(ld_metrics_healthy(m, reason, sizeof(reason)));
    assert_string_equal(strstr(reason, "budget_paused (") == reason ? "class" : reason, "class");
    ld_metrics_paused(m, false, 0);
    assert_true(ld_metrics_healthy(m, reason, sizeof(reason)));

    /* a consumer that stops polling for longer than max.poll.interval.ms
     * (the handle is only compared with NULL by the health rule) */
    ld_metrics_consumer(m, (rd_kafka_t *)&fake_handle);
    ld_metrics_polled(m, 1);
    assert_true(ld_metrics_healthy(m, reason, sizeof(reason)));
    usleep(1300 * 1000);
    assert_false(ld_metrics_healthy(m, reason, sizeof(reason)));
    assert_string_equal(strstr(reason, "consumer_stalled (") == reason ? "class" : reason, "class");
    ld_metrics_polled(m, 0);
    assert_true(ld_metrics_healthy(m, reason, sizeof(reason)));
    ld_metrics_consumer(m, NULL);

    /* calls, tokens, 429 kinds, budget gauges, outcomes */
    ld_metrics_call(m, "POST", "create organization", 201, 5, false, false, 995, 119);
    ld_metrics_call(m, "GET", "get organization", 429, 1, false, false, 994, 0);
    ld_metrics_call(m, "GET", "get organization", 429, 1, true, false, 0, -1);
    ld_metrics_outcome(m, "created");
    ld_metrics_outcome(m, "dlq");
    text = render(ld_metrics_registry(m));
    assert_non_null(strstr(text, "mlc_loader_pipedrive_calls_total{method=\"POST\","
                                 "op=\"create_organization\",status=\"201\"} 1\n"));
    assert_non_null(strstr(text, "mlc_loader_pipedrive_tokens_total 7\n"));
    assert_non_null(strstr(text, "mlc_loader_pipedrive_429_total{kind=\"burst\"} 1\n"));
    assert_non_null(strstr(text, "mlc_loader_pipedrive_429_total{kind=\"daily\"} 1\n"));
    assert_non_null(strstr(text, "mlc_loader_pipedrive_daily_budget_remaining 0\n"));
    assert_non_null(strstr(text, "mlc_loader_pipedrive_burst_remaining -1\n"));
    assert_non_null(strstr(text, "mlc_loader_events_total{outcome=\"created\"} 1\n"));
    assert_non_null(strstr(text, "mlc_loader_dlq_total 1\n"));
    assert_non_null(strstr(text, "mlc_loader_events_consumed_total 1\n"));

    /* a 403 block page: unhealthy for good */
    ld_metrics_call(m, "GET", "get organization", 403, 0, false, true, 0, -1);
    assert_false(ld_metrics_healthy(m, reason, sizeof(reason)));
    assert_string_equal(reason, "pipedrive_blocked (403 block page for this token)");
    text = render(ld_metrics_registry(m));
    assert_non_null(strstr(text, "mlc_loader_pipedrive_blocked_total 1\n"));
    assert_non_null(strstr(text, "mlc_loader_paused_reason{reason=\"blocked\"} 1\n"));
    ld_metrics_free(m);
    mlc_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(extractor_health_follows_the_last_cycle),
        cmocka_unit_test(extractor_health_classes),
        cmocka_unit_test(loader_health_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

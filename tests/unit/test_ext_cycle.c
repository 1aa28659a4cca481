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

#include "ext_fixture.h"

#define N_CUSTOMERS 25

static int group_setup(void **state)
{
    (void)state;
    return fx_group_setup_customers(N_CUSTOMERS);
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
    rd_kafka_mock_push_request_errors_array(fx_mock, FX_API_PRODUCE, 400, errs);
    assert_int_equal(ext_cycle_run(&f->x, "SAMINC", EXT_INCREMENTAL, false, &st, &err), MLC_RETRY);
    rd_kafka_mock_clear_request_errors(fx_mock, FX_API_PRODUCE);
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
    struct sagesim_company *co = &fx_sim.store.co[0];
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
        cmocka_unit_test_setup_teardown(first_cycle_publishes_all_then_nothing_changed, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(failed_deliveries_commit_nothing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(full_scan_reports_a_vanished_customer_once, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(delivery_reports_are_counted_per_slot, fx_setup,
                                        fx_teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, fx_group_teardown);
}

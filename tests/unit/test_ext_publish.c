/* Unit tests of ext_publish: one event produced per customer, its delivery
 * reports counted per page slot, and the wait that turns them into the
 * page's verdict (librdkafka's mock cluster as the broker). */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "ext_fixture.h"
#include "sage_customer.h"

static int group_setup(void **state)
{
    (void)state;
    return fx_group_setup_customers(0);
}

/* The normalised customer and credit of one record (free with
 * sage_customer_free). */
static void normalised(const char *number, struct sage_customer *cu)
{
    cJSON *rec = fx_record(number, "Barmart", "2024-03-01", 10, 1000);
    struct mlc_err err = {0};

    assert_int_equal(sage_customer_normalize(rec, NULL, cu, &err), MLC_OK);
    cJSON_Delete(rec);
}

/* An upsert is produced in its slot, its hash is the event's content hash
 * (v2: customer and credit), and the wait sees its report. */
static void an_event_is_produced_and_acknowledged(void **state)
{
    struct fx *f = *state;
    struct sage_customer cu = {0};
    struct mlc_err err = {0};
    char hash[MLC_EVENT_HASH_HEX + 1] = "", want[MLC_EVENT_HASH_HEX + 1];
    struct mlc_event dec;

    normalised("1100", &cu);
    ext_publish_slot_reset(&f->x, 1);
    assert_int_equal(
        ext_publish(&f->c, 1, "1100", cu.customer, cu.credit, "2024-03-01", time(NULL), hash, &err),
        MLC_OK);
    assert_int_equal(mlc_event_content_hash_v2(cu.customer, cu.credit, want, &err), MLC_OK);
    assert_string_equal(hash, want);
    /* c->value holds the encoded event: a v2 event of SAMINC:1100 */
    assert_int_equal(
        mlc_event_decode("SAMINC:1100", 11, f->c.value.data, f->c.value.len, &dec, &err), MLC_OK);
    assert_int_equal(dec.version, 2);
    mlc_event_free(&dec);
    assert_int_equal(ext_publish_wait(&f->c, 1, 1, 1, &err), MLC_OK);
    assert_int_equal(f->x.dr_ok[1], 1);
    assert_int_equal(f->x.dr_ok[0], 0);
    sage_customer_free(&cu);
}

/* A `missing` event (no customer) has no credit either, in v1 and v2. */
static void a_missing_event_carries_no_customer(void **state)
{
    struct fx *f = *state;
    struct mlc_err err = {0};
    char hash[MLC_EVENT_HASH_HEX + 1] = "";
    struct mlc_event dec;

    ext_publish_slot_reset(&f->x, 0);
    assert_int_equal(ext_publish(&f->c, 0, "1300", NULL, NULL, NULL, time(NULL), hash, &err),
                     MLC_OK);
    assert_int_equal(
        mlc_event_decode("SAMINC:1300", 11, f->c.value.data, f->c.value.len, &dec, &err), MLC_OK);
    assert_int_equal(dec.op, MLC_EVENT_MISSING);
    mlc_event_free(&dec);
    assert_int_equal(ext_publish_wait(&f->c, 0, 1, 1, &err), MLC_OK);
}

/* A customer number no key can carry is refused before Kafka sees it. */
static void an_invalid_number_is_permanent(void **state)
{
    struct fx *f = *state;
    struct sage_customer cu = {0};
    struct mlc_err err = {0};
    char hash[MLC_EVENT_HASH_HEX + 1] = "";

    normalised("1100", &cu);
    ext_publish_slot_reset(&f->x, 0);
    assert_int_equal(
        ext_publish(&f->c, 0, "", cu.customer, cu.credit, NULL, time(NULL), hash, &err), MLC_PERM);
    assert_int_equal(mlc_kafka_producer_outstanding(f->prod), 0);
    sage_customer_free(&cu);
}

/* Reports the broker refuses fail the page (retryable), naming the error. */
static void failed_reports_fail_the_wait(void **state)
{
    struct fx *f = *state;
    struct sage_customer cu = {0};
    struct mlc_err err = {0};
    rd_kafka_resp_err_t errs[100];
    char hash[MLC_EVENT_HASH_HEX + 1];

    for (size_t i = 0; i < 100; i++)
        errs[i] = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
    normalised("1100", &cu);
    ext_publish_slot_reset(&f->x, 0);
    rd_kafka_mock_push_request_errors_array(fx_mock, FX_API_PRODUCE, 100, errs);
    assert_int_equal(
        ext_publish(&f->c, 0, "1100", cu.customer, cu.credit, NULL, time(NULL), hash, &err),
        MLC_OK);
    assert_int_equal(ext_publish_wait(&f->c, 0, 1, 4, &err), MLC_RETRY);
    rd_kafka_mock_clear_request_errors(fx_mock, FX_API_PRODUCE);
    assert_non_null(strstr(err.msg, "1 of 1 events of page 4 not acknowledged"));
    assert_int_equal(f->x.dr_failed[0], 1);
    sage_customer_free(&cu);
}

/* Fewer reports than events within flush_timeout_ms: retryable, and the
 * message says how many are missing. */
static void missing_reports_time_out(void **state)
{
    struct fx *f = *state;
    struct mlc_err err = {0};

    f->x.flush_timeout_ms = 200;
    ext_publish_slot_reset(&f->x, 0);
    assert_int_equal(ext_publish_wait(&f->c, 0, 3, 2, &err), MLC_RETRY);
    assert_non_null(strstr(err.msg, "3 of 3 events of page 2 not acknowledged within 200 ms"));
}

/* A refusal by the topic's ACLs cannot be retried: fatal, with a hint. */
static void an_acl_refusal_is_fatal(void **state)
{
    struct fx *f = *state;
    struct mlc_kafka_dr denied = {.opaque = (void *)(uintptr_t)2,
                                  .err = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                  .errstr = "Broker: Topic authorization failed"};
    struct mlc_kafka_dr ok = {.opaque = (void *)(uintptr_t)2};
    struct mlc_kafka_dr foreign = {.opaque = (void *)(uintptr_t)9};
    struct mlc_err err = {0};
    struct ext_ctx before;

    ext_publish_slot_reset(&f->x, 1);
    ext_on_delivery(&ok, &f->x);
    ext_on_delivery(&denied, &f->x);
    before = f->x;
    ext_on_delivery(&foreign, &f->x); /* not a slot of ours: nothing changes */
    assert_memory_equal(&before, &f->x, sizeof(before));
    assert_int_equal(f->x.dr_ok[1] + f->x.dr_failed[1], 2);
    assert_int_equal(ext_publish_wait(&f->c, 1, 2, 7, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "Topic authorization failed"));
    assert_non_null(strstr(err.msg, "ACLs"));
    ext_publish_slot_reset(&f->x, 1);
    assert_false(f->x.dr_denied[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(an_event_is_produced_and_acknowledged, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(a_missing_event_carries_no_customer, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(an_invalid_number_is_permanent, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(failed_reports_fail_the_wait, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(missing_reports_time_out, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(an_acl_refusal_is_fatal, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, fx_group_teardown);
}

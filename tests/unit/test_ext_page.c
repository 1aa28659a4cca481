/* Unit tests of ext_page: one page of records normalised, hashed, compared
 * with the state file and queued for Kafka (no Sage server needed: the page
 * is built here; the broker is librdkafka's mock cluster). */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "ext_fixture.h"
#include "ext_page.h"

static int group_setup(void **state)
{
    (void)state;
    return fx_group_setup_customers(0);
}

/* Prepares records as page 1 in slot 0, waits for its reports, commits it. */
static void prepare_and_commit(struct fx *f, cJSON *records, struct ext_inflight *in)
{
    struct sage_page page = fx_page(records);
    struct mlc_err err = {0};

    assert_int_equal(ext_page_prepare(&f->c, &page, time(NULL), 0, in, &err), MLC_OK);
    assert_int_equal(ext_publish_wait(&f->c, 0, in->produced, in->page_no, &err), MLC_OK);
    assert_int_equal(ext_commit_page(&f->c, f->state, in->p, in->n, time(NULL), &err), MLC_OK);
}

/* New customers are all published, each with its content hash; the largest
 * DateLastMaintained becomes the cycle's max_lm. */
static void new_customers_are_published(void **state)
{
    struct fx *f = *state;
    cJSON *recs = cJSON_CreateArray();
    struct ext_inflight in;

    cJSON_AddItemToArray(recs, fx_record("1100", "Barmart", "2024-03-01", 10, 1000));
    cJSON_AddItemToArray(recs, fx_record("1200", "Black", "2024-03-05", 20, 1000));
    cJSON_AddItemToArray(recs, fx_record("1300", "Bluewater", "2024-02-01", 30, 1000));
    prepare_and_commit(f, recs, &in);
    assert_int_equal(in.n, 3);
    assert_int_equal(in.produced, 3);
    assert_int_equal(f->c.st.records, 3);
    assert_int_equal(f->c.st.pages, 1);
    for (size_t i = 0; i < in.n; i++) {
        assert_int_equal(in.p[i].outcome, EXT_OUT_PUBLISHED);
        assert_int_equal(strlen(in.p[i].hash), MLC_EVENT_HASH_HEX);
        assert_int_equal(strlen(in.p[i].balance_hash), MLC_EVENT_HASH_HEX);
    }
    assert_string_equal(in.p[1].number, "1200");
    assert_string_equal(f->c.max_lm, "2024-03-05");
    ext_inflight_free(&in);
    cJSON_Delete(recs);
}

/* The same page again is unchanged (no event), a changed name is published,
 * and force publishes what did not change. */
static void unchanged_customers_are_not_published_again(void **state)
{
    struct fx *f = *state;
    cJSON *recs = cJSON_CreateArray();
    struct ext_inflight in;

    cJSON_AddItemToArray(recs, fx_record("1100", "Barmart", "2024-03-01", 10, 1000));
    cJSON_AddItemToArray(recs, fx_record("1200", "Black", "2024-03-05", 20, 1000));
    prepare_and_commit(f, recs, &in);
    ext_inflight_free(&in);

    prepare_and_commit(f, recs, &in);
    assert_int_equal(in.produced, 0);
    assert_int_equal(in.p[0].outcome, EXT_OUT_UNCHANGED);
    assert_int_equal(in.p[1].outcome, EXT_OUT_UNCHANGED);
    assert_int_equal(f->c.st.unchanged, 2);
    ext_inflight_free(&in);

    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetArrayItem(recs, 1), "CustomerName",
                                           cJSON_CreateString("Black & Co"));
    prepare_and_commit(f, recs, &in);
    assert_int_equal(in.produced, 1);
    assert_int_equal(in.p[0].outcome, EXT_OUT_UNCHANGED);
    assert_int_equal(in.p[1].outcome, EXT_OUT_PUBLISHED);
    ext_inflight_free(&in);

    f->c.force = true;
    prepare_and_commit(f, recs, &in);
    assert_int_equal(in.produced, 2);
    ext_inflight_free(&in);
    cJSON_Delete(recs);
}

/* A bad record is skipped with its reason; the rest of the page flows. */
static void a_bad_record_is_skipped_with_its_reason(void **state)
{
    struct fx *f = *state;
    cJSON *recs = cJSON_CreateArray();
    struct sage_page page;
    struct mlc_err err = {0};
    struct ext_inflight in;

    cJSON_AddItemToArray(recs, fx_record("1100", "Barmart", "2024-03-01", 10, 1000));
    cJSON_AddItemToArray(recs, fx_record("1150", "No limit", "2024-03-01", 10, -1));
    cJSON_AddItemToArray(recs, fx_record("1200", "Black", "2024-03-05", 20, 1000));
    page = fx_page(recs);
    assert_int_equal(ext_page_prepare(&f->c, &page, time(NULL), 1, &in, &err), MLC_OK);
    assert_int_equal(in.n, 3);
    assert_int_equal(in.produced, 2);
    assert_int_equal(in.slot, 1);
    assert_int_equal(in.p[1].outcome, EXT_OUT_SKIPPED);
    assert_true(in.p[1].has_number);
    assert_string_equal(in.p[1].number, "1150");
    assert_non_null(strstr(in.p[1].reason, "CreditLimitCustomerCurrency: missing"));
    assert_int_equal(f->c.st.skipped, 1);
    assert_int_equal(in.p[2].outcome, EXT_OUT_PUBLISHED);
    assert_int_equal(ext_publish_wait(&f->c, 1, in.produced, in.page_no, &err), MLC_OK);
    ext_inflight_free(&in);
    cJSON_Delete(recs);
}

/* An empty page is a page: counted, nothing queued, nothing to free. */
static void an_empty_page_queues_nothing(void **state)
{
    struct fx *f = *state;
    cJSON *recs = cJSON_CreateArray();
    struct sage_page page = fx_page(recs);
    struct mlc_err err = {0};
    struct ext_inflight in;

    assert_int_equal(ext_page_prepare(&f->c, &page, time(NULL), 0, &in, &err), MLC_OK);
    assert_true(in.used);
    assert_int_equal(in.n, 0);
    assert_null(in.p);
    assert_int_equal(f->c.st.pages, 1);
    ext_inflight_free(&in);
    cJSON_Delete(recs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(new_customers_are_published, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(unchanged_customers_are_not_published_again, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(a_bad_record_is_skipped_with_its_reason, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(an_empty_page_queues_nothing, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, fx_group_teardown);
}

/* Unit tests of ext_commit: a settled page's customers and audit rows
 * committed in one transaction, on the committer thread, and only after
 * every delivery report of the page succeeded. */
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

static const char hash_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char hash_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static void pending(struct ext_pending *r, enum ext_outcome o, const char *number, const char *hash)
{
    memset(r, 0, sizeof(*r));
    r->outcome = o;
    r->has_number = number != NULL;
    if (number)
        mlc_strlcpy(r->number, number, sizeof(r->number));
    if (hash)
        mlc_strlcpy(r->hash, hash, sizeof(r->hash));
    mlc_strlcpy(r->last_maintained, "2024-03-01", sizeof(r->last_maintained));
}

static long long audit_rows(struct fx *f, const char *outcome)
{
    char sql[200];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE outcome = '%s'", outcome);
    return fx_sql_count(f, sql);
}

/* Published customers get their hash and master hash; an unchanged one
 * keeps what it had and gets no audit row unless it carries a reason; a
 * skipped record is audited; a missing customer is flagged. */
static void a_page_commits_customers_and_audit_rows(void **state)
{
    struct fx *f = *state;
    struct ext_pending p[5];
    struct ext_known k;
    struct mlc_err err = {0};

    pending(&p[0], EXT_OUT_PUBLISHED, "1100", hash_a);
    mlc_strlcpy(p[0].master, hash_b, sizeof(p[0].master));
    pending(&p[1], EXT_OUT_UNCHANGED, "1200", hash_a);
    pending(&p[2], EXT_OUT_UNCHANGED, "1250", hash_a);
    mlc_strlcpy(p[2].reason, "balance move held back", sizeof(p[2].reason));
    pending(&p[3], EXT_OUT_SKIPPED, NULL, NULL);
    mlc_strlcpy(p[3].reason, "record: CustomerNumber: missing", sizeof(p[3].reason));
    pending(&p[4], EXT_OUT_MISSING, "1300", hash_b);
    assert_int_equal(ext_commit_page(&f->c, f->state, p, 5, time(NULL), &err), MLC_OK);

    assert_int_equal(ext_state_customer_get(f->state, FX_COMPANY, "1100", &k, &err), MLC_OK);
    assert_true(k.has_hash);
    assert_string_equal(k.hash, hash_a);
    assert_true(k.has_master);
    assert_string_equal(k.master_hash, hash_b);
    assert_int_equal(ext_state_customer_get(f->state, FX_COMPANY, "1200", &k, &err), MLC_OK);
    assert_true(k.known);
    assert_false(k.has_hash); /* unchanged: no delivered hash written */
    assert_int_equal(audit_rows(f, "published"), 1);
    assert_int_equal(audit_rows(f, "unchanged"), 1); /* only the one with a reason */
    assert_int_equal(audit_rows(f, "skipped"), 1);
    assert_int_equal(audit_rows(f, "missing"), 1);
    assert_int_equal(fx_sql_count(f, "SELECT count(*) FROM audit WHERE customer IS NULL"), 1);
}

/* Delivered events of a page are committed by the committer thread; the
 * page counts as published once it committed. */
static void a_delivered_page_is_committed(void **state)
{
    struct fx *f = *state;
    struct ext_committer k = {.c = &f->c};
    cJSON *recs = cJSON_CreateArray();
    struct sage_page page;
    struct ext_inflight in;
    struct ext_known kn;
    struct mlc_err err = {0};

    cJSON_AddItemToArray(recs, fx_record("1100", "Barmart", "2024-03-01", 10, 1000));
    cJSON_AddItemToArray(recs, fx_record("1200", "Black", "2024-03-05", 20, 1000));
    page = fx_page(recs);
    assert_int_equal(ext_page_prepare(&f->c, &page, time(NULL), 0, &in, &err), MLC_OK);
    assert_int_equal(ext_page_settle(&f->c, &k, &in, &err), MLC_OK);
    assert_false(in.used); /* taken over */
    assert_int_equal(ext_committer_join(&k, &err), MLC_OK);
    assert_int_equal(f->c.st.published, 2);
    assert_int_equal(ext_state_customer_get(f->state, FX_COMPANY, "1200", &kn, &err), MLC_OK);
    assert_true(kn.has_hash);
    assert_true(kn.has_balance);
    assert_int_equal(audit_rows(f, "published"), 2);
    cJSON_Delete(recs);
}

/* A page whose deliveries failed commits nothing: its customers stay
 * unknown, so the next cycle publishes them again. */
static void a_page_with_failed_deliveries_commits_nothing(void **state)
{
    struct fx *f = *state;
    struct ext_committer k = {.c = &f->c};
    cJSON *recs = cJSON_CreateArray();
    rd_kafka_resp_err_t errs[100];
    struct sage_page page;
    struct ext_inflight in;
    struct ext_known kn;
    struct mlc_err err = {0}, e2 = {0};
    mlc_rc rc;

    for (size_t i = 0; i < 100; i++)
        errs[i] = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
    cJSON_AddItemToArray(recs, fx_record("1100", "Barmart", "2024-03-01", 10, 1000));
    page = fx_page(recs);
    rd_kafka_mock_push_request_errors_array(fx_mock, FX_API_PRODUCE, 100, errs);
    assert_int_equal(ext_page_prepare(&f->c, &page, time(NULL), 1, &in, &err), MLC_OK);
    rc = ext_page_settle(&f->c, &k, &in, &err);
    rd_kafka_mock_clear_request_errors(fx_mock, FX_API_PRODUCE);
    /* the committer, if it was started, finishes before anything is checked */
    assert_int_equal(ext_committer_join(&k, &e2), MLC_OK);
    assert_int_equal(rc, MLC_RETRY);
    assert_non_null(strstr(err.msg, "not acknowledged"));
    assert_false(in.used);
    assert_int_equal(f->c.st.published, 0);
    assert_int_equal(ext_state_customer_get(f->state, FX_COMPANY, "1100", &kn, &err), MLC_OK);
    assert_false(kn.known);
    assert_int_equal(fx_sql_count(f, "SELECT count(*) FROM audit"), 0);
    cJSON_Delete(recs);
}

/* A failure half-way through a page rolls the whole page back. */
static void a_failed_commit_leaves_nothing(void **state)
{
    struct fx *f = *state;
    struct ext_pending p[2];
    struct ext_known k;
    struct mlc_err err = {0};

    pending(&p[0], EXT_OUT_PUBLISHED, "1100", hash_a);
    pending(&p[1], EXT_OUT_PUBLISHED, "1200", hash_a);
    f->c.id = 999999; /* no such cycle: the audit row's reference fails */
    assert_int_not_equal(ext_commit_page(&f->c, f->state, p, 2, time(NULL), &err), MLC_OK);
    assert_false(mlc_store_in_tx(ext_state_store(f->state)));
    assert_int_equal(ext_state_customer_get(f->state, FX_COMPANY, "1100", &k, &err), MLC_OK);
    assert_false(k.known);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_page_commits_customers_and_audit_rows, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(a_delivered_page_is_committed, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(a_page_with_failed_deliveries_commits_nothing, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(a_failed_commit_leaves_nothing, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, fx_group_teardown);
}

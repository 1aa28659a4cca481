/* Unit tests of ld_run_round: the calls of a round, how their answers
 * settle, and what one transaction stores (id map rows, event and call
 * audit), on a fake Pipedrive. Also the budget probe (ld_consume). */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "pd_fake.h"

#include "ld_consume.h"
#include "ld_fixture.h"
#include "ld_plan.h"
#include "ld_round.h"

#include <sqlite3.h>

static struct ldfx *X;

static int setup(void **state)
{
    (void)state;
    X = fx_new(NULL, false);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_free(X);
    return 0;
}

static mlc_rc round_of(struct item **items, size_t n, bool *retry)
{
    struct mlc_err err = {0};

    return ld_run_round(&X->ld, items, n, retry, &err);
}

/* The value of a one-number query on the state file. */
static long long q(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    long long v = -1;

    assert_int_equal(sqlite3_open_v2(X->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* Stores the body w would write for customer as applied (unchanged next). */
static void known(const char *number, const char *customer, int64_t org_id)
{
    struct ld_map_row row = {.org_id = org_id};
    struct mlc_err err = {0};
    struct work w = {0};

    w.it = fx_event(X, "SAMLTD", number, customer);
    assert_int_equal(ld_plan(&X->ld, &w, &err), MLC_OK);
    mlc_strlcpy(row.state, "active", sizeof(row.state));
    mlc_strlcpy(row.hash, w.hash, sizeof(row.hash));
    row.payload = cJSON_PrintUnformatted(w.next);
    fx_put(X, "SAMLTD", number, &row);
    free(row.payload);
    mlc_event_free(&w.ev);
    cJSON_Delete(w.next);
    free(w.body);
    ld_map_row_free(&w.row);
    X->n_msg--; /* that message was only for planning */
    mlc_buf_free(&X->payload[X->n_msg]);
}

static void created_organization_is_stored_with_its_audit(void **state)
{
    struct item *it;
    struct ld_map_row row;
    bool retry = true;

    (void)state;
    it = fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart"));
    script("/api/v2/organizations", 201, "{\"success\":true,\"data\":{\"id\":42}}");
    assert_int_equal(round_of(&it, 1, &retry), MLC_OK);
    assert_false(retry);
    assert_true(it->done);
    assert_int_equal(X->ld.n_created, 1);
    row = fx_row(X, "SAMLTD", "1200", true);
    assert_int_equal(row.org_id, 42);
    assert_int_equal(row.create_pending_ms, 0);
    assert_int_equal(strlen(row.hash), 64);
    assert_false(row.remote);
    ld_map_row_free(&row);
    assert_int_equal(q("SELECT count(*) FROM event_audit WHERE outcome = 'created' AND "
                       "org_id = 42 AND customer = '1200'"),
                     1);
    assert_int_equal(q("SELECT count(*) FROM call_audit WHERE method = 'POST' AND status = 201"),
                     1);
}

static void unchanged_and_changed_customers_in_one_round(void **state)
{
    struct item *its[2];
    bool retry = true;

    (void)state;
    known("1200", fx_customer("Bargain Mart"), 7);
    known("1300", fx_customer("Corner Shop"), 8);
    its[0] = fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart"));
    its[1] = fx_event(X, "SAMLTD", "1300", fx_customer("Corner Shop Ltd"));
    script("/api/v2/organizations/8", 200, "{\"success\":true,\"data\":{\"id\":8}}");
    assert_int_equal(round_of(its, 2, &retry), MLC_OK);
    assert_false(retry);
    assert_int_equal(F.n_sent, 1);
    assert_non_null(strstr(F.sent[0].body, "Corner Shop Ltd"));
    assert_true(its[0]->done && its[1]->done);
    assert_int_equal(X->ld.n_unchanged, 1);
    assert_int_equal(X->ld.n_updated, 1);
    assert_int_equal(q("SELECT count(*) FROM event_audit WHERE outcome = 'unchanged'"), 1);
    assert_int_equal(q("SELECT count(*) FROM event_audit WHERE outcome = 'updated'"), 1);
}

static void patch_of_a_deleted_organization_leaves_it_deleted(void **state)
{
    struct item *it;
    struct ld_map_row row;
    bool retry = true;

    (void)state;
    known("1200", fx_customer("Bargain Mart"), 7);
    it = fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart West"));
    script("/api/v2/organizations/7", 404, "{\"success\":false,\"error\":\"not found\"}");
    assert_int_equal(round_of(&it, 1, &retry), MLC_OK);
    assert_true(it->done);
    assert_int_equal(X->ld.n_deleted, 1);
    row = fx_row(X, "SAMLTD", "1200", true);
    assert_string_equal(row.state, "deleted_in_crm");
    ld_map_row_free(&row);
}

/* A POST that failed with an answer stays marked pending: the next try
 * looks the customer up first (it may have been created). */
static void failed_create_stays_pending_and_is_retried(void **state)
{
    struct item *it;
    struct ld_map_row row;
    bool retry = false;

    (void)state;
    it = fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart"));
    script("/api/v2/organizations", 502, NULL);
    assert_int_equal(round_of(&it, 1, &retry), MLC_OK);
    assert_true(retry);
    assert_false(it->done);
    assert_int_equal(F.n_sent, 1); /* a POST is never resent by the client */
    row = fx_row(X, "SAMLTD", "1200", true);
    assert_true(row.create_pending_ms > 0);
    assert_int_equal(row.org_id, 0);
    ld_map_row_free(&row);
    assert_int_equal(q("SELECT count(*) FROM event_audit"), 0);
}

/* A create refused by the daily budget (429) was not looked at: nothing
 * was created, so no lookup is needed before the next try. */
static void create_refused_by_the_daily_budget_is_not_pending(void **state)
{
    struct item *it;
    struct ld_map_row row;
    struct answer *a;
    bool retry = false;

    (void)state;
    it = fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart"));
    a = script("/api/v2/organizations", 429, "{\"success\":false}");
    a->hdr[0][0] = "x-daily-ratelimit-token-remaining";
    a->hdr[0][1] = "0";
    assert_int_equal(round_of(&it, 1, &retry), MLC_OK);
    assert_true(retry);
    assert_false(it->done);
    row = fx_row(X, "SAMLTD", "1200", true);
    assert_int_equal(row.create_pending_ms, 0);
    ld_map_row_free(&row);
}

static void create_answered_without_an_id_is_retried(void **state)
{
    struct item *it;
    bool retry = false;

    (void)state;
    it = fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart"));
    script("/api/v2/organizations", 201, "{\"success\":true,\"data\":{}}");
    assert_int_equal(round_of(&it, 1, &retry), MLC_OK);
    assert_true(retry);
    assert_false(it->done);
}

static void refused_token_stops_the_round(void **state)
{
    struct item *it;
    bool retry = false;
    struct mlc_err err = {0};

    (void)state;
    it = fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart"));
    script("/api/v2/organizations", 401, "{\"success\":false}");
    assert_int_equal(ld_run_round(&X->ld, &it, 1, &retry, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "MLC_PIPEDRIVE_TOKEN"));
    assert_false(it->done);
}

/* While paused, a probe whose token is refused stops the loader instead
 * of probing for ever. */
static void budget_probe_with_a_refused_token_is_fatal(void **state)
{
    struct mlc_err err = {0};

    (void)state;
    script("/v1/users/me", 401, "{\"success\":false}");
    assert_int_equal(ld_probe_budget(&X->ld, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "budget probe"));
    assert_non_null(strstr(err.msg, "MLC_PIPEDRIVE_TOKEN"));
    assert_int_equal(q("SELECT count(*) FROM call_audit WHERE status = 401"), 1);
}

static void budget_probe_that_fails_leaves_the_pause(void **state)
{
    struct mlc_err err = {0};

    (void)state;
    script("/v1/users/me", 503, NULL);
    script("/v1/users/me", 503, NULL);
    assert_int_equal(ld_probe_budget(&X->ld, &err), MLC_OK);
    assert_int_equal(F.n_sent, 2); /* max_attempts of the fixture */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(created_organization_is_stored_with_its_audit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unchanged_and_changed_customers_in_one_round, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(patch_of_a_deleted_organization_leaves_it_deleted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failed_create_stays_pending_and_is_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(create_refused_by_the_daily_budget_is_not_pending, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(create_answered_without_an_id_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_token_stops_the_round, setup, teardown),
        cmocka_unit_test_setup_teardown(budget_probe_with_a_refused_token_is_fatal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(budget_probe_that_fails_leaves_the_pause, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of ld_scan and ld_refresh_map: the identity scan records in the
 * id map which organizations carry Sage 300 IDs (adoption snapshots,
 * duplicates), pages with the cursor, and refreshes from the last scan. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "pd_fake.h"

#include "ld_fixture.h"
#include "ld_scan.h"
#include "ld_util.h"
#include "mlc_alloc.h"

static struct ldfx *X;
static char KN[41], KC[41];

static int setup(void **state)
{
    (void)state;
    X = fx_new(NULL, false);
    fx_field_key(X->ld.i_num, KN);
    fx_field_key(X->ld.i_co, KC);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_free(X);
    return 0;
}

/* An organization of a list answer; number/company NULL: not ours. */
static void org(char *out, size_t outsz, int id, const char *number, const char *company)
{
    if (number)
        snprintf(out, outsz,
                 "{\"id\":%d,\"name\":\"Org %d\",\"is_deleted\":false,\"custom_fields\":"
                 "{\"%s\":\"%s\",\"%s\":\"%s\"}}",
                 id, id, KN, number, KC, company);
    else
        snprintf(out, outsz, "{\"id\":%d,\"name\":\"Org %d\",\"custom_fields\":{}}", id, id);
}

static const char *page(const char *a, const char *b, const char *cursor)
{
    static char buf[8][4096];
    static int n;
    char *p = buf[n++ % 8];

    snprintf(p, 4096, "{\"success\":true,\"data\":[%s%s%s],\"additional_data\":{%s%s%s}}", a,
             b ? "," : "", b ? b : "", cursor ? "\"next_cursor\":\"" : "", cursor ? cursor : "",
             cursor ? "\"" : "");
    return p;
}

static void full_scan_pages_and_records_our_organizations(void **state)
{
    char a[512], b[512], c[512];
    struct mlc_err err = {0};
    struct ld_map_row row;
    char *v = NULL;

    (void)state;
    org(a, sizeof(a), 11, "1200", "SAMLTD");
    org(b, sizeof(b), 12, NULL, NULL);
    org(c, sizeof(c), 13, "1300", "SAMLTD");
    script("/api/v2/organizations?*", 200, page(a, b, "c/2=="));
    script("/api/v2/organizations?*", 200, page(c, NULL, NULL));
    assert_int_equal(ld_scan(&X->ld, 0, &err), MLC_OK);
    assert_int_equal(F.n_sent, 2);
    assert_null(strstr(F.sent[0].path, "updated_since"));
    assert_non_null(strstr(F.sent[0].path, KN));
    assert_non_null(strstr(F.sent[1].path, "&cursor=c%2F2%3D%3D")); /* escaped */
    row = fx_row(X, "SAMLTD", "1200", true);
    assert_int_equal(row.org_id, 11);
    assert_string_equal(row.state, "active");
    assert_true(row.remote);
    assert_non_null(strstr(row.payload, "Org 11"));
    ld_map_row_free(&row);
    row = fx_row(X, "SAMLTD", "1300", true);
    assert_int_equal(row.org_id, 13);
    ld_map_row_free(&row);
    assert_int_equal(ld_state_meta_get(X->ld.st, "last_scan_ms", &v, &err), MLC_OK);
    assert_non_null(v);
    free(v);
    assert_int_equal(X->ld.scan_since_ms, 0);
    assert_true(X->ld.scan_started_ms > 0);
    assert_int_equal(X->ld.n_calls, 0); /* the call rows were stored with the map */
}

static void two_organizations_with_one_customer_are_duplicates(void **state)
{
    char a[512], b[512];
    struct mlc_err err = {0};
    struct ld_map_row row;

    (void)state;
    org(a, sizeof(a), 21, "1200", "SAMLTD");
    org(b, sizeof(b), 22, "1200", "SAMLTD");
    script("/api/v2/organizations?*", 200, page(a, b, NULL));
    assert_int_equal(ld_scan(&X->ld, 0, &err), MLC_OK);
    row = fx_row(X, "SAMLTD", "1200", true);
    assert_string_equal(row.state, "duplicate");
    assert_string_equal(row.payload, "{\"duplicate_ids\":[21,22]}");
    ld_map_row_free(&row);
    /* an updated_since scan that sees only one of them (the other was not
     * touched lately) cannot tell the duplicate is gone: it stays */
    script("/api/v2/organizations?*", 200, page(a, NULL, NULL));
    assert_int_equal(ld_scan(&X->ld, 1000, &err), MLC_OK);
    row = fx_row(X, "SAMLTD", "1200", true);
    assert_string_equal(row.state, "duplicate");
    ld_map_row_free(&row);
    /* a full scan that finds one ends it */
    script("/api/v2/organizations?*", 200, page(b, NULL, NULL));
    assert_int_equal(ld_scan(&X->ld, 0, &err), MLC_OK);
    row = fx_row(X, "SAMLTD", "1200", true);
    assert_string_equal(row.state, "active");
    assert_int_equal(row.org_id, 22);
    ld_map_row_free(&row);
}

static void refused_list_is_retried_later(void **state)
{
    struct mlc_err err = {0};

    (void)state;
    script("/api/v2/organizations?*", 400, "{\"success\":false,\"error\":\"bad updated_since\"}");
    assert_int_equal(ld_scan(&X->ld, 1000, &err), MLC_RETRY);
    assert_non_null(strstr(err.msg, "scanning organizations"));
    assert_non_null(strstr(F.sent[0].path, "updated_since=1970-01-01T00%3A00%3A01Z"));
    assert_int_equal(X->ld.scan_started_ms, 0); /* not a successful scan */
}

/* A next_cursor too long for the request path used to be cut silently
 * (snprintf), so the next page was asked with a broken cursor. */
static void cursor_too_long_for_the_path_is_an_error(void **state)
{
    static char cursor[900];
    char a[512];
    struct mlc_err err = {0};

    (void)state;
    memset(cursor, 'x', sizeof(cursor) - 1);
    org(a, sizeof(a), 11, "1200", "SAMLTD");
    script("/api/v2/organizations?*", 200, page(a, NULL, cursor));
    script("/api/v2/organizations?*", 200, page(a, NULL, NULL));
    assert_int_equal(ld_scan(&X->ld, 0, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "request path"));
    assert_int_equal(F.n_sent, 1);
}

static void refresh_is_full_when_cold_then_since_the_last_scan(void **state)
{
    char a[512];
    struct mlc_err err = {0};

    (void)state;
    org(a, sizeof(a), 11, "1200", "SAMLTD");
    script("/api/v2/organizations?*", 200, page(a, NULL, NULL));
    script("/api/v2/organizations?*", 200, page(a, NULL, NULL));
    assert_int_equal(ld_refresh_map(&X->ld, &err), MLC_OK);
    assert_null(strstr(F.sent[0].path, "updated_since"));
    assert_int_equal(ld_refresh_map(&X->ld, &err), MLC_OK);
    assert_non_null(strstr(F.sent[1].path, "updated_since="));
    /* the margin is subtracted from the last scan */
    assert_true(X->ld.scan_since_ms <= X->ld.scan_started_ms - X->ld.margin_ms + 1000);
}

/* Our own write coming back from updated_since (the organization holds what
 * we applied) keeps the body we applied, not the snapshot. */
static void our_own_write_keeps_the_applied_body(void **state)
{
    struct ld_map_row mine = {.org_id = 11}, row;
    char a[512];
    struct mlc_err err = {0};

    (void)state;
    mlc_strlcpy(mine.state, "active", sizeof(mine.state));
    mlc_strlcpy(mine.hash, "ab", sizeof(mine.hash));
    mine.payload = "{\"name\":\"Org 11\"}";
    fx_put(X, "SAMLTD", "1200", &mine);
    org(a, sizeof(a), 11, "1200", "SAMLTD");
    script("/api/v2/organizations?*", 200, page(a, NULL, NULL));
    assert_int_equal(ld_scan(&X->ld, 1000, &err), MLC_OK);
    row = fx_row(X, "SAMLTD", "1200", true);
    assert_string_equal(row.payload, "{\"name\":\"Org 11\"}");
    assert_false(row.remote);
    assert_string_equal(row.hash, "ab");
    ld_map_row_free(&row);
}

/* Someone else wrote since (another replica, a person): the organization no
 * longer holds what this replica applied, so its cached body is not trusted
 * and the row becomes a snapshot of Pipedrive (ADR 0009). */
static void someone_elses_write_replaces_the_cached_body(void **state)
{
    struct ld_map_row mine = {.org_id = 11}, row;
    char a[512];
    struct mlc_err err = {0};

    (void)state;
    mlc_strlcpy(mine.state, "active", sizeof(mine.state));
    mlc_strlcpy(mine.hash, "ab", sizeof(mine.hash));
    mine.payload = "{\"name\":\"Applied\"}";
    fx_put(X, "SAMLTD", "1200", &mine);
    org(a, sizeof(a), 11, "1200", "SAMLTD"); /* named "Org 11" in Pipedrive */
    script("/api/v2/organizations?*", 200, page(a, NULL, NULL));
    assert_int_equal(ld_scan(&X->ld, 1000, &err), MLC_OK);
    row = fx_row(X, "SAMLTD", "1200", true);
    assert_true(row.remote);
    assert_non_null(strstr(row.payload, "\"name\":\"Org 11\""));
    ld_map_row_free(&row);
}

/* Ids from Pipedrive are range-checked before they become int64_t: 1e19
 * does not fit (undefined behaviour in the cast), a fraction is no id. */
static void organization_ids_are_range_checked(void **state)
{
    static const char *const bad[] = {
        "1e19", "0", "-5", "1.5", "\"7\"", "null", "9007199254740994.5e3"};
    int64_t id = 0;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        cJSON *v = cJSON_Parse(bad[i]);

        assert_false(ld_json_id(v, &id));
        cJSON_Delete(v);
    }
    {
        cJSON *v = cJSON_Parse("9007199254740992");

        assert_true(ld_json_id(v, &id));
        assert_true(id == 9007199254740992LL);
        cJSON_Delete(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(full_scan_pages_and_records_our_organizations, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(two_organizations_with_one_customer_are_duplicates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refused_list_is_retried_later, setup, teardown),
        cmocka_unit_test_setup_teardown(cursor_too_long_for_the_path_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(refresh_is_full_when_cold_then_since_the_last_scan, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(our_own_write_keeps_the_applied_body, setup, teardown),
        cmocka_unit_test(organization_ids_are_range_checked),
        cmocka_unit_test_setup_teardown(someone_elses_write_replaces_the_cached_body, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

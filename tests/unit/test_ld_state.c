/* Unit tests of the loader's state (ld_state), its dry-run copy and the
 * --reset-offsets time parser (ld_parse_time). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "ld_offsets.h"
#include "ld_state.h"
#include "mlc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/mlc-test-ldstate-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/loader.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    const char *suffix[] = {"", "-wal", "-shm"};
    char p[160];

    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    mlc_log_clear_secrets();
    return 0;
}

static void test_map_round_trip_and_reopen(void **state)
{
    struct fx *f = *state;
    struct ld_state *st = NULL;
    struct ld_map_row row = {.org_id = 42, .remote = false}, got;
    struct mlc_err err = {0};
    bool found = true;
    int64_t n = 0;

    assert_int_equal(ld_state_open(f->path, &st, &err), MLC_OK);
    assert_int_equal(ld_state_map_get(st, "SAMINC", "1100", &got, &found, &err), MLC_OK);
    assert_false(found);
    snprintf(row.state, sizeof(row.state), "active");
    snprintf(row.hash, sizeof(row.hash), "abc");
    row.payload = "{\"name\":\"x\"}";
    assert_int_equal(ld_state_begin(st, &err), MLC_OK);
    assert_int_equal(ld_state_map_put(st, "SAMINC", "1100 ", &row, &err), MLC_OK);
    assert_int_equal(ld_state_commit(st, &err), MLC_OK);
    /* a pending mark keeps the rest of the row */
    assert_int_equal(ld_state_begin(st, &err), MLC_OK);
    assert_int_equal(ld_state_map_pending(st, "SAMINC", "1100 ", 1234, &err), MLC_OK);
    assert_int_equal(ld_state_map_pending(st, "SAMINC", "7", 99, &err), MLC_OK);
    assert_int_equal(ld_state_commit(st, &err), MLC_OK);
    ld_state_close(st);

    assert_int_equal(ld_state_open(f->path, &st, &err), MLC_OK);
    assert_int_equal(ld_state_map_get(st, "SAMINC", "1100 ", &got, &found, &err), MLC_OK);
    assert_true(found);
    assert_int_equal(got.org_id, 42);
    assert_string_equal(got.hash, "abc");
    assert_string_equal(got.payload, "{\"name\":\"x\"}");
    assert_int_equal(got.create_pending_ms, 1234);
    ld_map_row_free(&got);
    /* the trailing blank of the customer number is part of the key */
    assert_int_equal(ld_state_map_get(st, "SAMINC", "1100", &got, &found, &err), MLC_OK);
    assert_false(found);
    assert_int_equal(ld_state_map_get(st, "SAMINC", "7", &got, &found, &err), MLC_OK);
    assert_true(found);
    assert_int_equal(got.org_id, 0);
    assert_int_equal(got.create_pending_ms, 99);
    ld_map_row_free(&got);
    assert_int_equal(ld_state_map_count(st, &n, &err), MLC_OK);
    assert_int_equal(n, 1);
    ld_state_close(st);
}

static void test_audit_redacts_and_checks_outcome(void **state)
{
    struct fx *f = *state;
    struct ld_state *st = NULL;
    struct mlc_err err = {0};
    struct ld_event_audit a = {.topic = "t",
                               .partition = 1,
                               .offset = 7,
                               .company = "SAMINC",
                               .customer = "1",
                               .outcome = "created",
                               .org_id = 5,
                               .reason = "token sekrit-123 leaked"};
    sqlite3_stmt *s = NULL;

    mlc_log_add_secret("sekrit-123");
    assert_int_equal(ld_state_open(f->path, &st, &err), MLC_OK);
    assert_int_equal(ld_state_begin(st, &err), MLC_OK);
    assert_int_equal(ld_state_audit_event(st, &a, &err), MLC_OK);
    assert_int_equal(ld_state_audit_call(st, "GET", "/v1/x?api_token=sekrit-123", 200, 2, 10, NULL,
                                         NULL, 0, &err),
                     MLC_OK);
    a.outcome = "exploded";
    assert_int_equal(ld_state_audit_event(st, &a, &err), MLC_PERM);
    assert_int_equal(ld_state_commit(st, &err), MLC_OK);
    assert_int_equal(sqlite3_prepare_v2(mlc_store_db(ld_state_store(st)),
                                        "SELECT (SELECT reason FROM event_audit) || "
                                        "(SELECT path FROM call_audit)",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_null(strstr((const char *)sqlite3_column_text(s, 0), "sekrit"));
    assert_non_null(strstr((const char *)sqlite3_column_text(s, 0), "[REDACTED]"));
    sqlite3_finalize(s);
    ld_state_close(st);
}

static long count_rows(struct ld_state *st, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long n = -1;

    if (sqlite3_prepare_v2(mlc_store_db(ld_state_store(st)), sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

static void test_prune_audit_keeps_recent_rows(void **state)
{
    struct fx *f = *state;
    struct ld_state *st = NULL;
    struct mlc_err err = {0};
    struct ld_event_audit a = {.topic = "t", .company = "SAMINC", .outcome = "created"};
    const int64_t day = 86400LL * 1000, now = 1790000000000LL;
    int64_t deleted = -1;

    assert_int_equal(ld_state_open(f->path, &st, &err), MLC_OK);
    assert_int_equal(ld_state_begin(st, &err), MLC_OK);
    a.customer = "old";
    assert_int_equal(ld_state_audit_event(st, &a, &err), MLC_OK);
    a.customer = "new";
    assert_int_equal(ld_state_audit_event(st, &a, &err), MLC_OK);
    assert_int_equal(
        ld_state_audit_call(st, "GET", "/a", 200, 1, 5, NULL, NULL, now - 100 * day, &err), MLC_OK);
    assert_int_equal(ld_state_audit_call(st, "GET", "/b", 200, 1, 5, NULL, NULL, now - day, &err),
                     MLC_OK);
    assert_int_equal(ld_state_commit(st, &err), MLC_OK);
    /* events are stamped with the clock: age one by hand */
    assert_int_equal(sqlite3_exec(mlc_store_db(ld_state_store(st)),
                                  "UPDATE event_audit SET at = '2026-01-01T00:00:00.000Z' "
                                  "WHERE customer = 'old'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);

    assert_int_equal(ld_state_prune_audit(st, now - 90 * day, &deleted, &err), MLC_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(count_rows(st, "SELECT count(*) FROM event_audit WHERE customer = 'new'"), 1);
    assert_int_equal(count_rows(st, "SELECT count(*) FROM event_audit"), 1);
    assert_int_equal(count_rows(st, "SELECT count(*) FROM call_audit WHERE path = '/b'"), 1);
    assert_int_equal(count_rows(st, "SELECT count(*) FROM call_audit"), 1);
    ld_state_close(st);
}

static void test_meta_and_dry_copy(void **state)
{
    struct fx *f = *state;
    struct ld_state *st = NULL, *copy = NULL;
    struct mlc_err err = {0};
    char *v = NULL;
    struct stat before, after;

    assert_int_equal(ld_state_open(f->path, &st, &err), MLC_OK);
    assert_int_equal(ld_state_meta_get(st, "last_scan_ms", &v, &err), MLC_OK);
    assert_null(v);
    assert_int_equal(ld_state_meta_set(st, "last_scan_ms", "100", &err), MLC_OK);
    assert_int_equal(ld_state_meta_set(st, "last_scan_ms", "200", &err), MLC_OK);
    ld_state_close(st);
    assert_int_equal(stat(f->path, &before), 0);

    /* the dry-run copy sees the data, and writing to it leaves the file alone */
    assert_int_equal(ld_state_open_copy(f->path, &copy, &err), MLC_OK);
    assert_int_equal(ld_state_meta_get(copy, "last_scan_ms", &v, &err), MLC_OK);
    assert_string_equal(v, "200");
    free(v);
    assert_int_equal(ld_state_meta_set(copy, "last_scan_ms", "999", &err), MLC_OK);
    ld_state_close(copy);
    assert_int_equal(stat(f->path, &after), 0);
    assert_int_equal(before.st_size, after.st_size);
    assert_int_equal(before.st_mtime, after.st_mtime);
    assert_int_equal(ld_state_open(f->path, &st, &err), MLC_OK);
    assert_int_equal(ld_state_meta_get(st, "last_scan_ms", &v, &err), MLC_OK);
    assert_string_equal(v, "200");
    free(v);
    ld_state_close(st);

    /* a copy of a file that does not exist is an empty state */
    unlink(f->path);
    assert_int_equal(ld_state_open_copy(f->path, &copy, &err), MLC_OK);
    assert_int_equal(ld_state_meta_get(copy, "last_scan_ms", &v, &err), MLC_OK);
    assert_null(v);
    ld_state_close(copy);
    assert_int_equal(access(f->path, F_OK), -1);
}

static void test_parse_time(void **state)
{
    int64_t ms = 0;

    (void)state;
    assert_true(ld_parse_time("1970-01-02", &ms));
    assert_int_equal(ms, 86400000);
    assert_true(ld_parse_time("2026-11-28T07:40:13Z", &ms));
    assert_int_equal(ms, 1795851613000LL);
    assert_true(ld_parse_time("2026-11-28T08:40:13.250+01:00", &ms));
    assert_int_equal(ms, 1795851613250LL);
    assert_true(ld_parse_time("2026-11-28T07:40", &ms));
    assert_int_equal(ms, 1795851600000LL);
    assert_true(ld_parse_time("2026-11-28T07:40:13", &ms)); /* no zone: UTC */
    assert_int_equal(ms, 1795851613000LL);
    assert_false(ld_parse_time("yesterday", &ms));
    assert_false(ld_parse_time("2026-13-01", &ms));
    assert_false(ld_parse_time("2026-11-28T25:00Z", &ms));
    assert_false(ld_parse_time("2026-11-28T07:40:13Zjunk", &ms));
    assert_false(ld_parse_time("2026-11-28T07:40:13.Z", &ms));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_map_round_trip_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_redacts_and_checks_outcome, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_audit_keeps_recent_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_and_dry_copy, setup, teardown),
        cmocka_unit_test(test_parse_time),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

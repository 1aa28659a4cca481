/* Unit tests of ext_state: watermark never moves backwards, the customer
 * hash / missing / seen bookkeeping, audit and cycle rows, and redaction of
 * secrets from every text column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "ext_state.h"
#include "mlc_log.h"
#include "mlc_str.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
    char dir[64];
    char path[128];
    struct ext_state *st;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct mlc_err err = {0};

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/mlc-test-ext-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/ext.db", f->dir);
    if (ext_state_open(f->path, &f->st, &err) != MLC_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];

    ext_state_close(f->st);
    unlink(f->path);
    snprintf(p, sizeof(p), "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", f->path);
    unlink(p);
    rmdir(f->dir);
    free(f);
    mlc_log_clear_secrets();
    return 0;
}

static void test_learned_facts_survive_reopen(void **state)
{
    struct fx *f = *state;
    struct mlc_err err = {0};
    char v[8];

    assert_int_equal(ext_state_learned_get(f->st, "sage_password_case", v, sizeof(v), &err),
                     MLC_OK);
    assert_string_equal(v, "");
    assert_int_equal(ext_state_learned_set(f->st, "sage_password_case", "exact", &err), MLC_OK);
    assert_int_equal(ext_state_learned_set(f->st, "sage_password_case", "upper", &err), MLC_OK);
    ext_state_close(f->st);
    assert_int_equal(ext_state_open(f->path, &f->st, &err), MLC_OK);
    assert_int_equal(ext_state_learned_get(f->st, "sage_password_case", v, sizeof(v), &err),
                     MLC_OK);
    assert_string_equal(v, "upper");
    /* cut to the caller's buffer */
    assert_int_equal(ext_state_learned_set(f->st, "x", "0123456789", &err), MLC_OK);
    assert_int_equal(ext_state_learned_get(f->st, "x", v, sizeof(v), &err), MLC_OK);
    assert_string_equal(v, "0123456");
}

static void test_watermark_never_backwards(void **state)
{
    struct fx *f = *state;
    struct mlc_err err = {0};
    char day[11];
    bool has = true;

    assert_int_equal(ext_state_watermark_get(f->st, "SAMINC", day, &has, &err), MLC_OK);
    assert_false(has);
    assert_int_equal(ext_state_watermark_set(f->st, "SAMINC", "2024-03-18", &err), MLC_OK);
    assert_int_equal(ext_state_watermark_set(f->st, "SAMINC", "2024-03-10", &err), MLC_OK);
    assert_int_equal(ext_state_watermark_get(f->st, "SAMINC", day, &has, &err), MLC_OK);
    assert_true(has);
    assert_string_equal(day, "2024-03-18");
    assert_int_equal(ext_state_watermark_set(f->st, "SAMINC", "2024-03-19", &err), MLC_OK);
    assert_int_equal(ext_state_watermark_get(f->st, "SAMINC", day, &has, &err), MLC_OK);
    assert_string_equal(day, "2024-03-19");
    /* per company */
    assert_int_equal(ext_state_watermark_get(f->st, "SAMLTD", day, &has, &err), MLC_OK);
    assert_false(has);
    /* not a date: refused */
    assert_int_equal(ext_state_watermark_set(f->st, "SAMINC", "2024-3-1", &err), MLC_FATAL);
}

static void test_customer_hash_missing_and_unseen(void **state)
{
    struct fx *f = *state;
    struct mlc_err err = {0};
    struct ext_known k;
    char nums[4][MLC_EVENT_MAX_NUMBER + 1];
    const char *h1 = "1111111111111111111111111111111111111111111111111111111111111111";
    size_t n = 0;

    assert_int_equal(ext_state_customer_get(f->st, "SAMINC", "1100", &k, &err), MLC_OK);
    assert_false(k.known);
    /* skipped customer: row without hash, not a missing candidate */
    assert_int_equal(ext_state_customer_seen(f->st, "SAMINC", "BAD", NULL, NULL, 0, &err), MLC_OK);
    assert_int_equal(ext_state_customer_get(f->st, "SAMINC", "BAD", &k, &err), MLC_OK);
    assert_true(k.known);
    assert_false(k.has_hash);
    assert_int_equal(ext_state_customer_seen(f->st, "SAMINC", "1100", h1, "2024-03-18", 0, &err),
                     MLC_OK);
    assert_int_equal(ext_state_customer_seen(f->st, "SAMINC", "1200", h1, "2024-03-18", 7, &err),
                     MLC_OK);
    /* an unchanged read (hash NULL) keeps the delivered hash */
    assert_int_equal(ext_state_customer_seen(f->st, "SAMINC", "1100", NULL, NULL, 0, &err), MLC_OK);
    assert_int_equal(ext_state_customer_get(f->st, "SAMINC", "1100", &k, &err), MLC_OK);
    assert_true(k.has_hash);
    assert_string_equal(k.hash, h1);
    /* full scan 7 saw 1200 only: 1100 is unseen; BAD (no hash) is not */
    assert_int_equal(ext_state_unseen(f->st, "SAMINC", 7, 4, nums, &n, &err), MLC_OK);
    assert_int_equal(n, 1);
    assert_string_equal(nums[0], "1100");
    assert_int_equal(ext_state_customer_missing(f->st, "SAMINC", "1100", &err), MLC_OK);
    assert_int_equal(ext_state_unseen(f->st, "SAMINC", 7, 4, nums, &n, &err), MLC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ext_state_customer_get(f->st, "SAMINC", "1100", &k, &err), MLC_OK);
    assert_true(k.missing);
    /* seen again: no longer missing */
    assert_int_equal(ext_state_customer_seen(f->st, "SAMINC", "1100", NULL, NULL, 8, &err), MLC_OK);
    assert_int_equal(ext_state_customer_get(f->st, "SAMINC", "1100", &k, &err), MLC_OK);
    assert_false(k.missing);
    /* another company is separate */
    assert_int_equal(ext_state_unseen(f->st, "SAMLTD", 7, 4, nums, &n, &err), MLC_OK);
    assert_int_equal(n, 0);
}

static void test_cycles_audit_and_redaction(void **state)
{
    struct fx *f = *state;
    struct mlc_err err = {0};
    struct ext_cycle_stats s = {.pages = 2, .records = 3, .published = 1, .skipped = 1};
    int64_t id = 0;
    time_t at = 0;
    bool has = true;
    FILE *fp;
    char buf[65536];
    size_t n;

    mlc_log_add_secret("hunter2-secret");
    assert_int_equal(ext_state_last_full_scan(f->st, "SAMINC", &at, &has, &err), MLC_OK);
    assert_false(has);
    assert_int_equal(ext_state_cycle_start(f->st, "SAMINC", true, NULL, time(NULL), &id, &err),
                     MLC_OK);
    assert_true(id > 0);
    assert_int_equal(ext_state_audit(f->st, id, "SAMINC", "1100", NULL, "skipped",
                                     "bad value hunter2-secret", time(NULL), &err),
                     MLC_OK);
    assert_int_equal(
        ext_state_audit(f->st, id, "SAMINC", NULL, NULL, "bogus", NULL, time(NULL), &err),
        MLC_PERM);
    assert_int_equal(ext_state_cycle_finish(f->st, id, &s, "failed",
                                            "GET failed for hunter2-secret", NULL, 12, &err),
                     MLC_OK);
    assert_int_equal(ext_state_last_full_scan(f->st, "SAMINC", &at, &has, &err), MLC_OK);
    assert_false(has); /* failed full scans do not count */
    assert_int_equal(ext_state_cycle_start(f->st, "SAMINC", true, NULL, time(NULL), &id, &err),
                     MLC_OK);
    assert_int_equal(ext_state_cycle_finish(f->st, id, &s, "ok", NULL, "2024-03-18", 5, &err),
                     MLC_OK);
    assert_int_equal(ext_state_last_full_scan(f->st, "SAMINC", &at, &has, &err), MLC_OK);
    assert_true(has);
    assert_true(at > 0);
    /* the secret never reaches the file */
    ext_state_close(f->st);
    f->st = NULL;
    fp = fopen(f->path, "rb");
    assert_non_null(fp);
    n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    assert_true(n > 0);
    assert_null(memmem(buf, n, "hunter2", 7));
    assert_non_null(memmem(buf, n, "[REDACTED]", 10));
    assert_int_equal(ext_state_open(f->path, &f->st, &err), MLC_OK);
}

/* Counts rows with sqlite3 directly (the module has no count API). */
static long count_rows(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    long n = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

/* Pruning keeps what the run loop and mlc status read: recent audit rows,
 * each company's newest cycle and newest successful full scan. */
static void test_prune_keeps_recent_and_the_cycles_still_read(void **state)
{
    struct fx *f = *state;
    struct mlc_err err = {0};
    struct ext_cycle_stats s = {0};
    time_t now = time(NULL), old = now - 100 * 86400;
    int64_t full_old, inc_old, inc_old2, recent, deleted = -1;

    /* an old full scan (the newest successful one), two old incrementals */
    assert_int_equal(ext_state_cycle_start(f->st, "SAMINC", true, NULL, old, &full_old, &err),
                     MLC_OK);
    assert_int_equal(ext_state_cycle_finish(f->st, full_old, &s, "ok", NULL, NULL, 1, &err),
                     MLC_OK);
    assert_int_equal(ext_state_cycle_start(f->st, "SAMINC", false, NULL, old, &inc_old, &err),
                     MLC_OK);
    assert_int_equal(
        ext_state_audit(f->st, inc_old, "SAMINC", "1", NULL, "published", NULL, old, &err), MLC_OK);
    assert_int_equal(ext_state_cycle_start(f->st, "SAMINC", false, NULL, old, &inc_old2, &err),
                     MLC_OK);
    /* a recent cycle with an audit row, and an old-company's only cycle */
    assert_int_equal(ext_state_cycle_start(f->st, "SAMINC", false, NULL, now, &recent, &err),
                     MLC_OK);
    assert_int_equal(
        ext_state_audit(f->st, recent, "SAMINC", "2", NULL, "published", NULL, now, &err), MLC_OK);
    int64_t only;
    assert_int_equal(ext_state_cycle_start(f->st, "SAMLTD", false, NULL, old, &only, &err), MLC_OK);

    assert_int_equal(ext_state_prune(f->st, now - 90 * 86400, &deleted, &err), MLC_OK);
    /* the old audit row and the two old incrementals of SAMINC */
    assert_int_equal(deleted, 3);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM audit"), 1);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM audit WHERE customer = '2'"), 1);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM cycle"), 3);
    time_t at = 0;
    bool has = false;
    assert_int_equal(ext_state_last_full_scan(f->st, "SAMINC", &at, &has, &err), MLC_OK);
    assert_true(has);
    /* nothing left to prune */
    assert_int_equal(ext_state_prune(f->st, now - 90 * 86400, &deleted, &err), MLC_OK);
    assert_int_equal(deleted, 0);
}

/* In another program (the sqlite3 shell, which opens the file, counts the
 * watermark rows and closes it as its last connection): the count, -1 on
 * error, -2 when the shell is not installed. A forked child would not do:
 * it inherits SQLite's in-memory lock bookkeeping of this process. */
static int count_in_other_process(const char *path)
{
    char cmd[256];
    char line[64];
    FILE *p;
    long n = -1;

    if (access("/usr/bin/sqlite3", X_OK) != 0)
        return -2;
    snprintf(cmd, sizeof(cmd), "/usr/bin/sqlite3 '%s' 'SELECT count(*) FROM watermark'", path);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    if (!fgets(line, sizeof(line), p) || !mlc_parse_long(line, 0, 1000000, &n))
        n = -1;
    pclose(p);
    return (int)n;
}

/* The extractor opens a second connection (the committer's) on the same
 * file. Opening it must not drop the first connection's locks: otherwise
 * another process closing the file checkpoints and deletes the -wal under
 * us and later commits vanish (a bug mlc_store's header check had). */
static void test_second_connection_keeps_commits_visible(void **state)
{
    struct fx *f = *state;
    struct ext_state *second = NULL;
    struct mlc_err err = {0};

    if (count_in_other_process(f->path) == -2)
        skip();
    assert_int_equal(ext_state_watermark_set(f->st, "CO1", "2024-03-18", &err), MLC_OK);
    assert_int_equal(ext_state_open(f->path, &second, &err), MLC_OK);
    assert_int_equal(count_in_other_process(f->path), 1);
    assert_int_equal(ext_state_watermark_set(f->st, "CO2", "2024-03-18", &err), MLC_OK);
    assert_int_equal(ext_state_watermark_set(second, "CO3", "2024-03-18", &err), MLC_OK);
    assert_int_equal(count_in_other_process(f->path), 3);
    ext_state_close(second);
    assert_int_equal(count_in_other_process(f->path), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_learned_facts_survive_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watermark_never_backwards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_customer_hash_missing_and_unseen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycles_audit_and_redaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_keeps_recent_and_the_cycles_still_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_second_connection_keeps_commits_visible, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

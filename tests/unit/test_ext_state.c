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

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

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
    assert_int_equal(
        ext_state_cycle_start_kind(f->st, "SAMINC", "full", NULL, time(NULL), &id, &err), MLC_OK);
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
    assert_int_equal(
        ext_state_cycle_start_kind(f->st, "SAMINC", "full", NULL, time(NULL), &id, &err), MLC_OK);
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
    assert_int_equal(
        ext_state_cycle_start_kind(f->st, "SAMINC", "full", NULL, old, &full_old, &err), MLC_OK);
    assert_int_equal(ext_state_cycle_finish(f->st, full_old, &s, "ok", NULL, NULL, 1, &err),
                     MLC_OK);
    assert_int_equal(
        ext_state_cycle_start_kind(f->st, "SAMINC", "incremental", NULL, old, &inc_old, &err),
        MLC_OK);
    assert_int_equal(
        ext_state_audit(f->st, inc_old, "SAMINC", "1", NULL, "published", NULL, old, &err), MLC_OK);
    assert_int_equal(
        ext_state_cycle_start_kind(f->st, "SAMINC", "incremental", NULL, old, &inc_old2, &err),
        MLC_OK);
    /* a recent cycle with an audit row, and an old-company's only cycle */
    assert_int_equal(
        ext_state_cycle_start_kind(f->st, "SAMINC", "incremental", NULL, now, &recent, &err),
        MLC_OK);
    assert_int_equal(
        ext_state_audit(f->st, recent, "SAMINC", "2", NULL, "published", NULL, now, &err), MLC_OK);
    int64_t only;
    assert_int_equal(
        ext_state_cycle_start_kind(f->st, "SAMLTD", "incremental", NULL, old, &only, &err), MLC_OK);

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
/* The schema of a state file written before the credit picture (migrations
 * 1 and 2), to prove migration 3 keeps what it holds. */
static const char old_schema[] =
    "CREATE TABLE watermark (company TEXT PRIMARY KEY, day TEXT NOT NULL CHECK (length(day) = 10),"
    " updated_at TEXT NOT NULL);"
    "CREATE TABLE customer (company TEXT NOT NULL, number TEXT NOT NULL, hash TEXT,"
    " last_maintained TEXT, seen_scan INTEGER, missing INTEGER NOT NULL DEFAULT 0"
    " CHECK (missing IN (0, 1)), updated_at TEXT NOT NULL, PRIMARY KEY (company, number))"
    " WITHOUT ROWID;"
    "CREATE TABLE cycle (id INTEGER PRIMARY KEY, company TEXT NOT NULL, kind TEXT NOT NULL"
    " CHECK (kind IN ('incremental', 'full')), started_at TEXT NOT NULL, finished_at TEXT,"
    " finished_epoch INTEGER, pages INTEGER NOT NULL DEFAULT 0, records INTEGER NOT NULL DEFAULT 0,"
    " published INTEGER NOT NULL DEFAULT 0, unchanged INTEGER NOT NULL DEFAULT 0,"
    " skipped INTEGER NOT NULL DEFAULT 0, missing INTEGER NOT NULL DEFAULT 0, duration_ms INTEGER,"
    " result TEXT NOT NULL DEFAULT 'running' CHECK (result IN ('running', 'ok', 'failed',"
    " 'interrupted')), error TEXT, watermark_before TEXT, watermark_after TEXT);"
    "CREATE INDEX cycle_company ON cycle (company, kind, result);"
    "CREATE TABLE audit (id INTEGER PRIMARY KEY, cycle_id INTEGER NOT NULL REFERENCES cycle (id),"
    " company TEXT NOT NULL, customer TEXT, hash TEXT, outcome TEXT NOT NULL CHECK (outcome IN"
    " ('published', 'unchanged', 'skipped', 'missing')), reason TEXT, at TEXT NOT NULL);"
    "CREATE INDEX audit_customer ON audit (customer, company);"
    "CREATE INDEX audit_cycle ON audit (cycle_id);"
    "CREATE TABLE learned (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "INSERT INTO customer VALUES ('SAMINC', '1100', '" HASH_A "', '2024-03-18', 7, 0,"
    " '2026-01-01T00:00:00Z');"
    "INSERT INTO cycle (id, company, kind, started_at, finished_at, finished_epoch, result)"
    " VALUES (7, 'SAMINC', 'full', '2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z', 1767225660,"
    " 'ok');"
    "INSERT INTO audit (cycle_id, company, customer, hash, outcome, at) VALUES (7, 'SAMINC',"
    " '1100', '" HASH_A "', 'published', '2026-01-01T00:00:30Z');"
    "PRAGMA user_version = 2;";

static void test_migration_3_keeps_a_v1_state(void **state)
{
    struct fx *f = *state;
    struct ext_state *st = NULL;
    struct ext_known k;
    struct mlc_err err = {0};
    struct ext_credit_view pub = {12500, 0, 50000, false};
    char path[160];
    sqlite3 *db;
    sqlite3_stmt *q;
    time_t at = 0;
    bool has = false;
    int64_t id = 0;

    snprintf(path, sizeof(path), "%s/old.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, old_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    if (ext_state_open(path, &st, &err) != MLC_OK)
        fail_msg("%s", err.msg);
    /* the v1 hash was the hash of the customer alone: it is the master hash */
    assert_int_equal(ext_state_customer_get(st, "SAMINC", "1100", &k, &err), MLC_OK);
    assert_true(k.known && k.has_hash && k.has_master);
    assert_string_equal(k.master_hash, HASH_A);
    assert_false(k.has_balance);
    assert_false(k.has_pub);
    /* the cycle history and its audit rows survive the rebuild */
    assert_int_equal(ext_state_last_full_scan(st, "SAMINC", &at, &has, &err), MLC_OK);
    assert_true(has);
    assert_int_equal((long long)at, 1767225660LL);
    assert_int_equal(ext_state_last_balance_refresh(st, "SAMINC", &at, &has, &err), MLC_OK);
    assert_true(has); /* a full scan reads the balances too */
    assert_int_equal(
        ext_state_cycle_start_kind(st, "SAMINC", "balance", NULL, time(NULL), &id, &err), MLC_OK);
    assert_true(id > 7);
    assert_int_equal(ext_state_customer_delivered(st, "SAMINC", "1100", HASH_B, HASH_A, &pub, &err),
                     MLC_OK);
    assert_int_equal(ext_state_customer_get(st, "SAMINC", "1100", &k, &err), MLC_OK);
    assert_true(k.has_balance && k.has_pub);
    assert_string_equal(k.master_hash, HASH_B);
    assert_true(k.pub.balance == 12500 && k.pub.limit == 50000 && !k.pub.on_hold);
    /* pinned to v1 again: the credit columns are cleared */
    assert_int_equal(ext_state_customer_delivered(st, "SAMINC", "1100", HASH_A, NULL, NULL, &err),
                     MLC_OK);
    assert_int_equal(ext_state_customer_get(st, "SAMINC", "1100", &k, &err), MLC_OK);
    assert_false(k.has_balance || k.has_pub);
    ext_state_close(st);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT count(*) FROM audit WHERE cycle_id = 7),"
                                        " (SELECT count(*) FROM pragma_foreign_key_check)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 1);
    assert_int_equal(sqlite3_column_int(q, 1), 0);
    sqlite3_finalize(q);
    /* a balance cycle is a valid kind now, anything else still is not */
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO cycle (company, kind, started_at) VALUES"
                                      " ('X', 'weekly', 'now')",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    sqlite3_close(db);
    unlink(path);
    snprintf(path, sizeof(path), "%s/old.db-wal", f->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/old.db-shm", f->dir);
    unlink(path);
}

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
        cmocka_unit_test_setup_teardown(test_migration_3_keeps_a_v1_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_connection_keeps_commits_visible, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

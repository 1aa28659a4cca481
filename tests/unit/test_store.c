/* Unit tests of mlc_store: WAL, migrations, refusal of foreign/newer files,
 * transactions and error mapping. Every test works in its own temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "mlc_alloc.h"
#include "mlc_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
    char dir[64];
    char path[128];
};

static const char M1[] = "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT NOT NULL)";
static const char M2[] = "CREATE TABLE audit(id INTEGER PRIMARY KEY, what TEXT);"
                         "CREATE INDEX audit_what ON audit(what)";
static const char M3[] = "INSERT INTO audit(what) VALUES ('m3')";
static const char BAD[] = "CREATE TABLE half(a); INSERT INTO no_such_table VALUES (1)";

static const char SQL_PUT[] = "INSERT INTO kv(k, v) VALUES (?1, ?2)";
static const char SQL_COUNT[] = "SELECT count(*) FROM kv";
static const char SQL_AUDITS[] = "SELECT count(*) FROM audit";

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/mlc-test-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[160];

    for (size_t i = 0; i < ARRAY_SIZE(suffix); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static long count(struct mlc_store *st, const char *sql)
{
    sqlite3_stmt *s;
    bool row = false;
    long n;

    assert_int_equal(mlc_store_prepare(st, sql, &s, NULL), MLC_OK);
    assert_int_equal(mlc_store_step(st, s, &row, NULL), MLC_OK);
    assert_true(row);
    n = (long)sqlite3_column_int64(s, 0);
    mlc_store_reset(s);
    return n;
}

static mlc_rc put(struct mlc_store *st, const char *k, const char *v, struct mlc_err *err)
{
    sqlite3_stmt *s;
    mlc_rc rc = mlc_store_prepare(st, SQL_PUT, &s, err);

    if (rc == MLC_OK)
        rc = mlc_store_bind_text(st, s, 1, k, err);
    if (rc == MLC_OK)
        rc = mlc_store_bind_text(st, s, 2, v, err);
    if (rc == MLC_OK)
        rc = mlc_store_step(st, s, NULL, err);
    return rc;
}

static int version(struct mlc_store *st)
{
    int v = -1;

    assert_int_equal(mlc_store_version(st, &v, NULL), MLC_OK);
    return v;
}

static void fresh_db_gets_every_migration_and_wal(void **state)
{
    struct fx *f = *state;
    const char *m[] = {M1, M2, M3};
    struct mlc_store *st = NULL;
    struct mlc_err err = {0};
    sqlite3_stmt *s = NULL;
    struct stat sb;
    char wal[160];

    assert_int_equal(mlc_store_open(&st, f->path, m, 3, NULL, &err), MLC_OK);
    assert_int_equal(version(st), 3);
    assert_int_equal(count(st, SQL_AUDITS), 1);
    assert_int_equal(sqlite3_prepare_v2(mlc_store_db(st), "PRAGMA journal_mode", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(mlc_store_db(st), "PRAGMA synchronous", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 2); /* FULL */
    sqlite3_finalize(s);
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    mlc_store_close(st);
}

static void reopen_applies_only_new_migrations(void **state)
{
    struct fx *f = *state;
    const char *m[] = {M1, M2, M3};
    struct mlc_store *st = NULL;
    struct mlc_err err = {0};

    assert_int_equal(mlc_store_open(&st, f->path, m, 2, NULL, &err), MLC_OK);
    assert_int_equal(version(st), 2);
    assert_int_equal(count(st, SQL_AUDITS), 0);
    mlc_store_close(st);
    /* M1 would fail if run again (table exists); M3 adds one row per run. */
    assert_int_equal(mlc_store_open(&st, f->path, m, 3, NULL, &err), MLC_OK);
    assert_int_equal(version(st), 3);
    assert_int_equal(count(st, SQL_AUDITS), 1);
    mlc_store_close(st);
    assert_int_equal(mlc_store_open(&st, f->path, m, 3, NULL, &err), MLC_OK);
    assert_int_equal(count(st, SQL_AUDITS), 1);
    mlc_store_close(st);
}

static void failing_migration_keeps_old_version(void **state)
{
    struct fx *f = *state;
    const char *m[] = {M1, M2, BAD};
    struct mlc_store *st = NULL;
    struct mlc_err err = {0};
    sqlite3_stmt *s = NULL;

    assert_int_equal(mlc_store_open(&st, f->path, m, 2, NULL, &err), MLC_OK);
    assert_int_equal(put(st, "a", "1", &err), MLC_OK);
    mlc_store_close(st);

    assert_int_equal(mlc_store_open(&st, f->path, m, 3, NULL, &err), MLC_FATAL);
    assert_null(st);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "migration 3"));
    assert_non_null(strstr(err.msg, "no_such_table"));

    assert_int_equal(mlc_store_open(&st, f->path, m, 2, NULL, &err), MLC_OK);
    assert_int_equal(version(st), 2);
    assert_int_equal(count(st, SQL_COUNT), 1);
    /* The half-applied script left nothing behind. */
    assert_int_not_equal(sqlite3_prepare_v2(mlc_store_db(st), "SELECT * FROM half", -1, &s, NULL),
                         SQLITE_OK);
    sqlite3_finalize(s);
    assert_int_equal(put(st, "b", "2", &err), MLC_OK);
    mlc_store_close(st);
}

static void newer_db_is_refused(void **state)
{
    struct fx *f = *state;
    const char *m[] = {M1, M2, M3};
    struct mlc_store *st = NULL;
    struct mlc_err err = {0};
    char want[64];

    assert_int_equal(mlc_store_open(&st, f->path, m, 3, NULL, &err), MLC_OK);
    mlc_store_close(st);
    assert_int_equal(mlc_store_open(&st, f->path, m, 2, NULL, &err), MLC_FATAL);
    assert_null(st);
    assert_int_equal(err.rc, MLC_FATAL);
    assert_non_null(strstr(err.msg, f->path));
    snprintf(want, sizeof(want), "version 3 is newer than this program knows (2)");
    assert_non_null(strstr(err.msg, want));
}

static void non_sqlite_file_is_refused(void **state)
{
    struct fx *f = *state;
    const char *m[] = {M1};
    const char junk[] = "MLC_SAGE_URL=https://oops.example/\nthis is not a database at all\n";
    struct mlc_store *st = NULL;
    struct mlc_err err = {0};
    char back[sizeof(junk)] = "";
    FILE *fp = fopen(f->path, "w");

    assert_non_null(fp);
    fputs(junk, fp);
    fclose(fp);
    assert_int_equal(mlc_store_open(&st, f->path, m, 1, NULL, &err), MLC_FATAL);
    assert_null(st);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "not an SQLite database"));
    /* Untouched. */
    fp = fopen(f->path, "r");
    assert_non_null(fp);
    assert_int_equal(fread(back, 1, sizeof(back), fp), strlen(junk));
    fclose(fp);
    assert_memory_equal(back, junk, strlen(junk));
}

static void busy_second_writer_maps_to_retry(void **state)
{
    struct fx *f = *state;
    const char *m[] = {M1};
    struct mlc_store_opts quick = {.busy_timeout_ms = 50};
    struct mlc_store *a = NULL, *b = NULL;
    struct mlc_err err = {0};

    assert_int_equal(mlc_store_open(&a, f->path, m, 1, NULL, &err), MLC_OK);
    assert_int_equal(mlc_store_open(&b, f->path, m, 1, &quick, &err), MLC_OK);
    assert_int_equal(mlc_store_begin(a, &err), MLC_OK);
    assert_int_equal(put(a, "k", "from a", &err), MLC_OK);

    assert_int_equal(mlc_store_begin(b, &err), MLC_RETRY);
    assert_false(mlc_store_in_tx(b));
    assert_non_null(strstr(err.msg, "state db "));
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "locked"));

    /* Readers are not blocked by the writer in WAL mode. */
    assert_int_equal(count(b, SQL_COUNT), 0);
    assert_int_equal(mlc_store_commit(a, &err), MLC_OK);
    assert_int_equal(mlc_store_begin(b, &err), MLC_OK);
    assert_int_equal(count(b, SQL_COUNT), 1);
    assert_int_equal(mlc_store_commit(b, &err), MLC_OK);
    mlc_store_close(b);
    mlc_store_close(a);
}

static void rollback_discards(void **state)
{
    struct fx *f = *state;
    const char *m[] = {M1};
    struct mlc_store *st = NULL;
    struct mlc_err err = {0};

    assert_int_equal(mlc_store_open(&st, f->path, m, 1, NULL, &err), MLC_OK);
    assert_int_equal(mlc_store_begin(st, &err), MLC_OK);
    assert_int_equal(put(st, "gone", "1", &err), MLC_OK);
    assert_int_equal(count(st, SQL_COUNT), 1);
    /* Nested begin is a programming error and leaves the transaction alone. */
    assert_int_equal(mlc_store_begin(st, &err), MLC_FATAL);
    assert_true(mlc_store_in_tx(st));
    assert_int_equal(mlc_store_rollback(st, &err), MLC_OK);
    assert_int_equal(count(st, SQL_COUNT), 0);
    assert_int_equal(mlc_store_commit(st, &err), MLC_FATAL);

    assert_int_equal(mlc_store_begin(st, &err), MLC_OK);
    assert_int_equal(put(st, "x", "1", &err), MLC_OK);
    assert_int_equal(put(st, "y", "2", &err), MLC_OK);
    assert_int_equal(mlc_store_commit(st, &err), MLC_OK);
    assert_false(mlc_store_in_tx(st));
    assert_int_equal(count(st, SQL_COUNT), 2);
    mlc_store_close(st);

    /* Committed work survives a reopen. */
    assert_int_equal(mlc_store_open(&st, f->path, m, 1, NULL, &err), MLC_OK);
    assert_int_equal(count(st, SQL_COUNT), 2);
    mlc_store_close(st);
}

static void constraint_violation_maps_to_perm(void **state)
{
    struct fx *f = *state;
    const char *m[] = {M1};
    struct mlc_store *st = NULL;
    struct mlc_err err = {0};
    sqlite3_stmt *s1 = NULL, *s2 = NULL;

    assert_int_equal(mlc_store_open(&st, f->path, m, 1, NULL, &err), MLC_OK);
    assert_int_equal(put(st, "dup-key-value", "1", &err), MLC_OK);
    assert_int_equal(put(st, "dup-key-value", "2", &err), MLC_PERM);
    assert_non_null(strstr(err.msg, "UNIQUE constraint failed"));
    assert_non_null(strstr(err.msg, f->path));
    assert_null(strstr(err.msg, "dup-key-value")); /* values never reach messages */
    /* NOT NULL too, and the statement is usable again afterwards. */
    assert_int_equal(put(st, "k2", NULL, &err), MLC_PERM);
    assert_int_equal(put(st, "k2", "ok", &err), MLC_OK);
    assert_int_equal(count(st, SQL_COUNT), 2);
    /* One cached statement per SQL pointer. */
    assert_int_equal(mlc_store_prepare(st, SQL_PUT, &s1, &err), MLC_OK);
    assert_int_equal(mlc_store_prepare(st, SQL_PUT, &s2, &err), MLC_OK);
    assert_ptr_equal(s1, s2);
    /* A broken statement is fatal, not retryable. */
    assert_int_equal(mlc_store_prepare(st, "SELECT nope FROM kv", &s1, &err), MLC_FATAL);
    mlc_store_close(st);
}

static void run_each_is_one_transaction(void **state)
{
    struct fx *f = *state;
    const char *m[] = {M1};
    static const char del[] = "DELETE FROM kv WHERE k < ?1";
    static const char bad[] = "INSERT INTO kv (k, v) VALUES (?1, NULL)";
    const char *both[] = {del, bad}, *one[] = {del};
    struct mlc_store *st = NULL;
    struct mlc_err err = {0};
    int64_t n = -1;

    assert_int_equal(mlc_store_open(&st, f->path, m, 1, NULL, &err), MLC_OK);
    assert_int_equal(put(st, "a", "1", &err), MLC_OK);
    assert_int_equal(put(st, "b", "1", &err), MLC_OK);
    assert_int_equal(put(st, "c", "1", &err), MLC_OK);
    /* the second statement fails: the first one's deletes are not kept */
    assert_int_equal(mlc_store_run_each(st, both, 2, "c", &n, &err), MLC_PERM);
    assert_int_equal(n, -1);
    assert_false(mlc_store_in_tx(st));
    assert_int_equal(count(st, SQL_COUNT), 3);
    assert_int_equal(mlc_store_run_each(st, one, 1, "c", &n, &err), MLC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(count(st, SQL_COUNT), 1);
    mlc_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fresh_db_gets_every_migration_and_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_applies_only_new_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(failing_migration_keeps_old_version, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_db_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(non_sqlite_file_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(busy_second_writer_maps_to_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_discards, setup, teardown),
        cmocka_unit_test_setup_teardown(constraint_violation_maps_to_perm, setup, teardown),
        cmocka_unit_test_setup_teardown(run_each_is_one_transaction, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* mlc_store.c - SQLite state file: WAL, migrations, cached statements, see mlc_store.h. */
#include "mlc_store.h"
#include "mlc_alloc.h"
#include "mlc_str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_BUSY_MS 5000
#define SQLITE_MAGIC    "SQLite format 3"

struct stmt_entry {
    const char *sql; /* key: the caller's pointer */
    sqlite3_stmt *stmt;
};

struct mlc_store {
    sqlite3 *db;
    char *path;
    bool in_tx;
    struct stmt_entry *cache;
    size_t n_cache;
};

static mlc_rc map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return MLC_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return MLC_RETRY;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
        return MLC_PERM;
    default:
        return MLC_FATAL;
    }
}

mlc_rc mlc_store_error(struct mlc_store *st, int sqlite_rc, const char *what, struct mlc_err *err)
{
    const char *msg = sqlite3_errstr(sqlite_rc);
    mlc_rc rc = map_rc(sqlite_rc);

    if (rc == MLC_OK)
        rc = MLC_FATAL; /* the caller saw a failure: never report it as success */
    /* errmsg describes the most recent failure on this connection; prefer it
     * when it belongs to the same result code. */
    if (st && st->db &&
        (sqlite3_extended_errcode(st->db) == sqlite_rc ||
         sqlite3_errcode(st->db) == (sqlite_rc & 0xff)))
        msg = sqlite3_errmsg(st->db);
    return mlc_err_set(err, rc, "state db %s: %s: %s", st ? st->path : "?", what, msg);
}

/* Refuses a file that exists, is not empty and does not start with the
 * SQLite header, before SQLite writes anything to it.
 *
 * The header is read through a read-only SQLite connection, never with a
 * plain open()/close(): closing any descriptor of a file drops every POSIX
 * lock this process holds on it, so a second store opened on a file that is
 * already open here would silently release the first connection's locks.
 * Another process could then checkpoint and delete the -wal file under it
 * and its later commits would be lost. SQLite's own VFS keeps such
 * descriptors open while the inode is locked. */
static mlc_rc check_header(const char *path, bool *is_new, struct mlc_err *err)
{
    unsigned char head[16];
    struct stat sb;
    sqlite3 *db = NULL;
    sqlite3_file *fp = NULL;
    mlc_rc mrc = MLC_OK;
    int rc;

    *is_new = false;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) {
            *is_new = true;
            return MLC_OK;
        }
        return mlc_err_set(err, MLC_FATAL, "state db %s: cannot open: %s", path, strerror(errno));
    }
    if (S_ISREG(sb.st_mode) && sb.st_size == 0)
        return MLC_OK; /* empty file: SQLite makes it a new database */
    if (!S_ISREG(sb.st_mode) || sb.st_size < (off_t)sizeof(head))
        return mlc_err_set(err, MLC_FATAL,
                           "state db %s: not an SQLite database (wrong MLC_STATE_DB?)", path);
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &fp);
    if (rc != SQLITE_OK || !fp || !fp->pMethods) {
        mrc = mlc_err_set(err, MLC_FATAL, "state db %s: cannot open: %s", path,
                          db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    rc = fp->pMethods->xRead(fp, head, (int)sizeof(head), 0);
    if (rc != SQLITE_OK) {
        mrc = mlc_err_set(err, MLC_FATAL, "state db %s: cannot read: %s", path, sqlite3_errstr(rc));
        goto out;
    }
    if (memcmp(head, SQLITE_MAGIC, sizeof(SQLITE_MAGIC)) != 0)
        mrc = mlc_err_set(err, MLC_FATAL,
                          "state db %s: not an SQLite database (wrong MLC_STATE_DB?)", path);
out:
    sqlite3_close(db);
    return mrc;
}

static mlc_rc exec(struct mlc_store *st, const char *sql, const char *what, struct mlc_err *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? MLC_OK : mlc_store_error(st, rc, what, err);
}

mlc_rc mlc_store_exec(struct mlc_store *st, const char *sql, struct mlc_err *err)
{
    return exec(st, sql, "exec", err);
}

/* Reads one integer from a PRAGMA without parameters. */
static mlc_rc pragma_int(struct mlc_store *st, const char *sql, int *out, struct mlc_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
        return MLC_OK;
    }
    sqlite3_finalize(s);
    return mlc_store_error(st, rc == SQLITE_DONE ? SQLITE_ERROR : rc, sql, err);
}

mlc_rc mlc_store_version(struct mlc_store *st, int *version, struct mlc_err *err)
{
    return pragma_int(st, "PRAGMA user_version", version, err);
}

static mlc_rc set_wal(struct mlc_store *st, struct mlc_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
    mlc_rc out = MLC_OK;

    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        out = mlc_store_error(st, rc, "set WAL mode", err);
    else if (sqlite3_stricmp((const char *)sqlite3_column_text(s, 0), "wal") != 0)
        out = mlc_err_set(err, MLC_FATAL,
                          "state db %s: cannot use WAL mode (journal mode stays %s); put the "
                          "file on a local file system",
                          st->path, (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
}

/* Applies migration index i (version i -> i + 1) in its own transaction.
 * The version is re-read under the write lock, so two processes opening the
 * same file at once never apply a script twice. */
static mlc_rc migrate_one(struct mlc_store *st, const char *const *migrations, size_t i,
                          struct mlc_err *err)
{
    char bump[64], what[64];
    int version = 0;
    mlc_rc rc;

    rc = mlc_store_begin(st, err);
    if (rc != MLC_OK)
        return rc;
    rc = mlc_store_version(st, &version, err);
    if (rc != MLC_OK)
        goto out;
    if ((size_t)version != i) /* someone else migrated meanwhile */
        goto out;
    snprintf(what, sizeof(what), "migration %zu", i + 1);
    rc = exec(st, migrations[i], what, err);
    if (rc != MLC_OK) {
        /* A broken script is a defect of this build, whatever SQLite said. */
        if (rc == MLC_PERM) {
            rc = MLC_FATAL;
            if (err)
                err->rc = MLC_FATAL;
        }
        goto out;
    }
    /* PRAGMA takes no parameters; the number is our own loop index, not input. */
    snprintf(bump, sizeof(bump), "PRAGMA user_version = %zu", i + 1);
    rc = exec(st, bump, what, err);
    if (rc != MLC_OK)
        goto out;
    return mlc_store_commit(st, err);
out:
    if (st->in_tx)
        mlc_store_rollback(st, NULL);
    return rc;
}

static mlc_rc migrate(struct mlc_store *st, const char *const *migrations, size_t n,
                      struct mlc_err *err)
{
    int version = 0;
    mlc_rc rc = mlc_store_version(st, &version, err);

    if (rc != MLC_OK)
        return rc;
    if (version < 0 || (size_t)version > n)
        return mlc_err_set(err, MLC_FATAL,
                           "state db %s: schema version %d is newer than this program knows "
                           "(%zu); run the newer release or point MLC_STATE_DB elsewhere",
                           st->path, version, n);
    for (size_t i = (size_t)version; i < n; i++) {
        rc = migrate_one(st, migrations, i, err);
        if (rc != MLC_OK)
            return rc;
    }
    return MLC_OK;
}

mlc_rc mlc_store_open(struct mlc_store **out, const char *path, const char *const *migrations,
                      size_t n_migrations, const struct mlc_store_opts *opts, struct mlc_err *err)
{
    struct mlc_store *st = NULL;
    int busy = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : DEFAULT_BUSY_MS;
    bool is_new = false;
    int rc;
    mlc_rc mrc;

    *out = NULL;
    mrc = check_header(path, &is_new, err);
    if (mrc != MLC_OK)
        return mrc;
    st = mlc_xcalloc(1, sizeof(*st));
    st->path = mlc_xstrdup(path);
    rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        mrc = mlc_store_error(st, rc, "open", err);
        goto fail;
    }
    /* The audit trail holds customer data: a new file is owner-only, and
     * SQLite gives the -wal and -shm files the mode of the database. */
    if (is_new && chmod(path, 0600) != 0) {
        mrc = mlc_err_set(err, MLC_FATAL, "state db %s: chmod 600: %s", path, strerror(errno));
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, busy);
    mrc = set_wal(st, err);
    if (mrc == MLC_OK)
        mrc = exec(st, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", "set pragmas", err);
    if (mrc == MLC_OK)
        mrc = migrate(st, migrations, n_migrations, err);
    if (mrc != MLC_OK)
        goto fail;
    *out = st;
    return MLC_OK;
fail:
    mlc_store_close(st);
    return mrc;
}

void mlc_store_close(struct mlc_store *st)
{
    if (!st)
        return;
    if (st->in_tx)
        mlc_store_rollback(st, NULL);
    for (size_t i = 0; i < st->n_cache; i++)
        sqlite3_finalize(st->cache[i].stmt);
    free(st->cache);
    sqlite3_close(st->db); /* NULL-safe; every statement is finalized */
    free(st->path);
    free(st);
}

sqlite3 *mlc_store_db(struct mlc_store *st)
{
    return st->db;
}

const char *mlc_store_path(const struct mlc_store *st)
{
    return st->path;
}

bool mlc_store_in_tx(const struct mlc_store *st)
{
    return st->in_tx;
}

static void reset_all(struct mlc_store *st)
{
    for (size_t i = 0; i < st->n_cache; i++)
        sqlite3_reset(st->cache[i].stmt);
}

mlc_rc mlc_store_begin(struct mlc_store *st, struct mlc_err *err)
{
    mlc_rc rc;

    if (st->in_tx)
        return mlc_err_set(err, MLC_FATAL,
                           "state db %s: begin inside a transaction (programming error)", st->path);
    rc = exec(st, "BEGIN IMMEDIATE", "begin", err);
    if (rc == MLC_OK)
        st->in_tx = true;
    return rc;
}

mlc_rc mlc_store_commit(struct mlc_store *st, struct mlc_err *err)
{
    mlc_rc rc;

    if (!st->in_tx)
        return mlc_err_set(err, MLC_FATAL,
                           "state db %s: commit without a transaction (programming error)",
                           st->path);
    reset_all(st);
    rc = exec(st, "COMMIT", "commit", err);
    if (rc != MLC_OK && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    st->in_tx = false;
    return rc;
}

mlc_rc mlc_store_rollback(struct mlc_store *st, struct mlc_err *err)
{
    mlc_rc rc;

    if (!st->in_tx)
        return mlc_err_set(err, MLC_FATAL,
                           "state db %s: rollback without a transaction (programming error)",
                           st->path);
    reset_all(st);
    st->in_tx = false;
    /* SQLite may already have rolled back by itself (e.g. after SQLITE_FULL). */
    if (sqlite3_get_autocommit(st->db))
        return MLC_OK;
    rc = exec(st, "ROLLBACK", "rollback", err);
    return rc;
}

mlc_rc mlc_store_prepare(struct mlc_store *st, const char *sql, sqlite3_stmt **stmt,
                         struct mlc_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc;

    *stmt = NULL;
    for (size_t i = 0; i < st->n_cache; i++) {
        if (st->cache[i].sql == sql) {
            sqlite3_reset(st->cache[i].stmt);
            sqlite3_clear_bindings(st->cache[i].stmt);
            *stmt = st->cache[i].stmt;
            return MLC_OK;
        }
    }
    rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK)
        return mlc_store_error(st, rc, "prepare", err);
    if (!s) /* only a comment or blanks */
        return mlc_err_set(err, MLC_FATAL, "state db %s: prepare: empty statement", st->path);
    st->cache = mlc_xreallocarray(st->cache, st->n_cache + 1, sizeof(*st->cache));
    st->cache[st->n_cache].sql = sql;
    st->cache[st->n_cache].stmt = s;
    st->n_cache++;
    *stmt = s;
    return MLC_OK;
}

static mlc_rc bound(struct mlc_store *st, int rc, struct mlc_err *err)
{
    return rc == SQLITE_OK ? MLC_OK : mlc_store_error(st, rc, "bind", err);
}

mlc_rc mlc_store_bind_text(struct mlc_store *st, sqlite3_stmt *stmt, int idx, const char *s,
                           struct mlc_err *err)
{
    if (!s)
        return bound(st, sqlite3_bind_null(stmt, idx), err);
    return bound(st, sqlite3_bind_text(stmt, idx, s, -1, SQLITE_TRANSIENT), err);
}

mlc_rc mlc_store_bind_blob(struct mlc_store *st, sqlite3_stmt *stmt, int idx, const void *p,
                           size_t n, struct mlc_err *err)
{
    return bound(st, sqlite3_bind_blob64(stmt, idx, p ? p : "", n, SQLITE_TRANSIENT), err);
}

mlc_rc mlc_store_bind_int64(struct mlc_store *st, sqlite3_stmt *stmt, int idx, int64_t v,
                            struct mlc_err *err)
{
    return bound(st, sqlite3_bind_int64(stmt, idx, (sqlite3_int64)v), err);
}

mlc_rc mlc_store_bind_null(struct mlc_store *st, sqlite3_stmt *stmt, int idx, struct mlc_err *err)
{
    return bound(st, sqlite3_bind_null(stmt, idx), err);
}

mlc_rc mlc_store_step(struct mlc_store *st, sqlite3_stmt *stmt, bool *row, struct mlc_err *err)
{
    int rc = sqlite3_step(stmt);

    if (row)
        *row = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW)
        return MLC_OK;
    if (rc == SQLITE_DONE) {
        sqlite3_reset(stmt);
        return MLC_OK;
    }
    mlc_store_error(st, rc, "step", err);
    sqlite3_reset(stmt);
    return map_rc(rc) == MLC_OK ? MLC_FATAL : map_rc(rc);
}

void mlc_store_reset(sqlite3_stmt *stmt)
{
    if (stmt)
        sqlite3_reset(stmt);
}

int64_t mlc_store_changes(struct mlc_store *st)
{
    return (int64_t)sqlite3_changes64(st->db);
}

int64_t mlc_store_last_rowid(struct mlc_store *st)
{
    return (int64_t)sqlite3_last_insert_rowid(st->db);
}

mlc_rc mlc_store_run_each(struct mlc_store *st, const char *const *sql, size_t n, const char *arg,
                          int64_t *changes, struct mlc_err *err)
{
    int64_t total = 0;
    mlc_rc rc;

    if ((rc = mlc_store_begin(st, err)) != MLC_OK)
        return rc;
    for (size_t i = 0; i < n && rc == MLC_OK; i++) {
        sqlite3_stmt *s;

        if ((rc = mlc_store_prepare(st, sql[i], &s, err)) == MLC_OK &&
            (rc = mlc_store_bind_text(st, s, 1, arg, err)) == MLC_OK &&
            (rc = mlc_store_step(st, s, NULL, err)) == MLC_OK)
            total += mlc_store_changes(st);
    }
    if (rc == MLC_OK)
        rc = mlc_store_commit(st, err);
    else
        mlc_store_rollback(st, NULL);
    if (rc == MLC_OK && changes)
        *changes = total;
    return rc;
}

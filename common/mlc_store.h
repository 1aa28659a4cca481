/* mlc_store.h - the SQLite state file of one process (mechanism only).
 *
 * The extractor (watermarks, hashes, audit) and the loader (id map, audit)
 * each own one state file and their own schema; this module provides what
 * both need to use SQLite safely:
 *
 *  - Opening: refuses clearly a file that is not SQLite, creates a new file
 *    with mode 0600 (it holds customer data; -wal/-shm inherit it), sets WAL mode,
 *    synchronous=FULL, foreign_keys=ON and a busy timeout (default 5000 ms).
 *  - Migrations keyed on PRAGMA user_version: the caller passes an array of
 *    SQL scripts; version N means scripts [0, N) are applied. Each missing
 *    script runs in its own BEGIN IMMEDIATE transaction together with the
 *    user_version bump, so a failing script leaves the file at the previous
 *    version, untouched and usable. A file whose version is newer than the
 *    array is refused (MLC_FATAL) naming the file and both versions: an old
 *    binary must never write into a schema it does not know.
 *  - Prepared statements only: mlc_store_prepare() caches one statement per
 *    SQL text *pointer* (pass string literals or static const arrays, never
 *    a buffer that changes), values go in through the bind helpers. No SQL
 *    is ever built with printf.
 *  - One transaction per unit of work: mlc_store_begin (BEGIN IMMEDIATE, so
 *    lock conflicts surface at begin as MLC_RETRY rather than half-way
 *    through), mlc_store_commit or mlc_store_rollback. Nesting is a programming
 *    error (MLC_FATAL).
 *
 * Why synchronous=FULL: in WAL mode NORMAL survives a process crash but may
 * lose the last commits on power loss or an OS crash. Losing a committed
 * id-map row means the loader creates the same Pipedrive organization again,
 * and losing an audit row loses evidence; our write rate (a few commits per
 * second at most) makes the extra fsync per commit irrelevant.
 *
 * Error mapping (every message is "state db <path>: <what>: <sqlite
 * message>"; SQLite messages name tables and columns, never values):
 *   SQLITE_BUSY, SQLITE_LOCKED                       -> MLC_RETRY
 *   SQLITE_CONSTRAINT, SQLITE_MISMATCH, SQLITE_TOOBIG -> MLC_PERM
 *   everything else (FULL, IOERR, CORRUPT, CANTOPEN,
 *   NOTADB, READONLY, NOMEM, SQL errors, ...)         -> MLC_FATAL
 *
 * Threads: a store is one connection; use it from one thread at a time
 * (open one store per thread if needed).
 *
 * Ownership: mlc_store_open() returns a store that mlc_store_close() frees
 * (rolling back an open transaction). Statements from mlc_store_prepare()
 * belong to the store: never sqlite3_finalize() them.
 */
#ifndef MLC_STORE_H
#define MLC_STORE_H

#include "mlc_err.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mlc_store;

struct mlc_store_opts {
    int busy_timeout_ms; /* how long to wait for another writer; 0 means 5000 */
};

/* Opens (creating if missing) the state file at path and applies the
 * migrations[0..n_migrations) it lacks. opts may be NULL. On failure *out is
 * NULL and err names the file. */
mlc_rc mlc_store_open(struct mlc_store **out, const char *path, const char *const *migrations,
                      size_t n_migrations, const struct mlc_store_opts *opts, struct mlc_err *err);
/* Rolls back an open transaction, finalizes cached statements, closes. NULL ok. */
void mlc_store_close(struct mlc_store *st);

/* The raw connection, for reading columns (sqlite3_column_*). Borrowed. */
sqlite3 *mlc_store_db(struct mlc_store *st);
/* The path given to mlc_store_open. Borrowed. */
const char *mlc_store_path(const struct mlc_store *st);
/* The schema version (PRAGMA user_version). */
mlc_rc mlc_store_version(struct mlc_store *st, int *version, struct mlc_err *err);

/* Transactions. begin while a transaction is open, commit or rollback
 * without one are programming errors (MLC_FATAL). A failed commit rolls
 * back, so after any non-OK return nothing of the unit of work is kept. */
mlc_rc mlc_store_begin(struct mlc_store *st, struct mlc_err *err);
mlc_rc mlc_store_commit(struct mlc_store *st, struct mlc_err *err);
mlc_rc mlc_store_rollback(struct mlc_store *st, struct mlc_err *err);
bool mlc_store_in_tx(const struct mlc_store *st);

/* Runs constant SQL without parameters (DDL, fixed statements); may hold
 * several statements. Never pass text built at run time. */
mlc_rc mlc_store_exec(struct mlc_store *st, const char *sql, struct mlc_err *err);

/* Runs each of the n constant statements sql[i] once with ?1 bound to the
 * text arg, all in one transaction (none kept when one fails); *changes
 * (nullable) gets the rows they changed together. For batch deletes such as
 * pruning an audit by time. */
mlc_rc mlc_store_run_each(struct mlc_store *st, const char *const *sql, size_t n, const char *arg,
                          int64_t *changes, struct mlc_err *err);

/* Returns in *stmt the cached statement for this SQL text pointer (prepared
 * on first use), reset and with its bindings cleared. sql must stay valid
 * and unchanged while the store is open (a literal). */
mlc_rc mlc_store_prepare(struct mlc_store *st, const char *sql, sqlite3_stmt **stmt,
                         struct mlc_err *err);

/* Parameter indexes start at 1. Text and blobs are copied (SQLITE_TRANSIENT);
 * s == NULL binds NULL. */
mlc_rc mlc_store_bind_text(struct mlc_store *st, sqlite3_stmt *stmt, int idx, const char *s,
                           struct mlc_err *err);
mlc_rc mlc_store_bind_blob(struct mlc_store *st, sqlite3_stmt *stmt, int idx, const void *p,
                           size_t n, struct mlc_err *err);
mlc_rc mlc_store_bind_int64(struct mlc_store *st, sqlite3_stmt *stmt, int idx, int64_t v,
                            struct mlc_err *err);
mlc_rc mlc_store_bind_null(struct mlc_store *st, sqlite3_stmt *stmt, int idx, struct mlc_err *err);

/* Steps once. MLC_OK with *row true: a row is ready for sqlite3_column_*.
 * MLC_OK with *row false: done, and the statement has been reset. On error
 * the statement is reset and err is mapped as above. row may be NULL for
 * statements that return no rows. A caller that stops reading rows early
 * calls mlc_store_reset(). */
mlc_rc mlc_store_step(struct mlc_store *st, sqlite3_stmt *stmt, bool *row, struct mlc_err *err);
void mlc_store_reset(sqlite3_stmt *stmt);

/* Rows changed by the last INSERT/UPDATE/DELETE; rowid of the last INSERT. */
int64_t mlc_store_changes(struct mlc_store *st);
int64_t mlc_store_last_rowid(struct mlc_store *st);

/* Maps an SQLite result code (extended or primary) to an mlc_rc and fills
 * err with "state db <path>: <what>: <sqlite message>". */
mlc_rc mlc_store_error(struct mlc_store *st, int sqlite_rc, const char *what, struct mlc_err *err);

#endif

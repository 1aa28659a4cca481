/* ext_state.c - the extractor's SQLite schema and queries (see ext_state.h). */
#include "ext_state.h"
#include "mlc_alloc.h"

#include "mlc_log.h"
#include "mlc_str.h"

#include <stdlib.h>
#include <string.h>

struct ext_state {
    struct mlc_store *store;
};

static const char *const migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE watermark ("
    "  company TEXT PRIMARY KEY,"
    "  day TEXT NOT NULL CHECK (length(day) = 10),"
    "  updated_at TEXT NOT NULL"
    ");"
    "CREATE TABLE customer ("
    "  company TEXT NOT NULL,"
    "  number TEXT NOT NULL,"
    "  hash TEXT,"
    "  last_maintained TEXT,"
    "  seen_scan INTEGER,"
    "  missing INTEGER NOT NULL DEFAULT 0 CHECK (missing IN (0, 1)),"
    "  updated_at TEXT NOT NULL,"
    "  PRIMARY KEY (company, number)"
    ") WITHOUT ROWID;"
    "CREATE TABLE cycle ("
    "  id INTEGER PRIMARY KEY,"
    "  company TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('incremental', 'full')),"
    "  started_at TEXT NOT NULL,"
    "  finished_at TEXT,"
    "  finished_epoch INTEGER,"
    "  pages INTEGER NOT NULL DEFAULT 0,"
    "  records INTEGER NOT NULL DEFAULT 0,"
    "  published INTEGER NOT NULL DEFAULT 0,"
    "  unchanged INTEGER NOT NULL DEFAULT 0,"
    "  skipped INTEGER NOT NULL DEFAULT 0,"
    "  missing INTEGER NOT NULL DEFAULT 0,"
    "  duration_ms INTEGER,"
    "  result TEXT NOT NULL DEFAULT 'running'"
    "    CHECK (result IN ('running', 'ok', 'failed', 'interrupted')),"
    "  error TEXT,"
    "  watermark_before TEXT,"
    "  watermark_after TEXT"
    ");"
    "CREATE INDEX cycle_company ON cycle (company, kind, result);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  cycle_id INTEGER NOT NULL REFERENCES cycle (id),"
    "  company TEXT NOT NULL,"
    "  customer TEXT,"
    "  hash TEXT,"
    "  outcome TEXT NOT NULL"
    "    CHECK (outcome IN ('published', 'unchanged', 'skipped', 'missing')),"
    "  reason TEXT,"
    "  at TEXT NOT NULL"
    ");"
    "CREATE INDEX audit_customer ON audit (customer, company);"
    "CREATE INDEX audit_cycle ON audit (cycle_id);",
    /* 2: facts learned about the Sage server */
    "CREATE TABLE learned ("
    "  name TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");",
    /* 3: the credit picture: balance refresh cycles, and per customer the
     * hashes and credit facts last delivered. A v1 state's hash is the hash
     * of the customer alone, so it becomes the master hash. The cycle table
     * is rebuilt for its CHECK (copied aside, dropped, created, refilled;
     * not renamed, which would make audit point at the copy); audit rows keep
     * their ids and foreign keys are checked at commit. */
    "PRAGMA defer_foreign_keys = ON;"
    "CREATE TEMP TABLE cycle_copy AS SELECT * FROM cycle;"
    "DROP TABLE cycle;"
    "CREATE TABLE cycle ("
    "  id INTEGER PRIMARY KEY,"
    "  company TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('incremental', 'full', 'balance')),"
    "  started_at TEXT NOT NULL,"
    "  finished_at TEXT,"
    "  finished_epoch INTEGER,"
    "  pages INTEGER NOT NULL DEFAULT 0,"
    "  records INTEGER NOT NULL DEFAULT 0,"
    "  published INTEGER NOT NULL DEFAULT 0,"
    "  unchanged INTEGER NOT NULL DEFAULT 0,"
    "  skipped INTEGER NOT NULL DEFAULT 0,"
    "  missing INTEGER NOT NULL DEFAULT 0,"
    "  duration_ms INTEGER,"
    "  result TEXT NOT NULL DEFAULT 'running'"
    "    CHECK (result IN ('running', 'ok', 'failed', 'interrupted')),"
    "  error TEXT,"
    "  watermark_before TEXT,"
    "  watermark_after TEXT"
    ");"
    /* rows re-inserted into the parent settle the deferred audit references */
    "INSERT INTO cycle SELECT id, company, kind, started_at, finished_at, finished_epoch, "
    "  pages, records, published, unchanged, skipped, missing, duration_ms, result, error, "
    "  watermark_before, watermark_after FROM cycle_copy;"
    "DROP TABLE cycle_copy;"
    "CREATE INDEX cycle_company ON cycle (company, kind, result);"
    "ALTER TABLE customer ADD COLUMN master_hash TEXT;"
    "ALTER TABLE customer ADD COLUMN balance_hash TEXT;"
    "ALTER TABLE customer ADD COLUMN pub_balance REAL;"
    "ALTER TABLE customer ADD COLUMN pub_past_due REAL;"
    "ALTER TABLE customer ADD COLUMN pub_limit REAL;"
    "ALTER TABLE customer ADD COLUMN pub_on_hold INTEGER;"
    "UPDATE customer SET master_hash = hash;",
};

void ext_state_iso_time(time_t t, char out[21])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

mlc_rc ext_state_open(const char *path, struct ext_state **out, struct mlc_err *err)
{
    struct ext_state *st = mlc_xcalloc(1, sizeof(*st));
    mlc_rc rc;

    *out = NULL;
    rc = mlc_store_open(&st->store, path, migrations, ARRAY_SIZE(migrations), NULL, err);
    if (rc != MLC_OK) {
        free(st);
        return rc;
    }
    *out = st;
    return MLC_OK;
}

void ext_state_close(struct ext_state *st)
{
    if (!st)
        return;
    mlc_store_close(st->store);
    free(st);
}

mlc_rc ext_state_read_begin(struct ext_state *st, struct mlc_err *err)
{
    /* Deferred: takes no lock until the first read, and only a read lock. */
    return mlc_store_exec(st->store, "BEGIN DEFERRED", err);
}

void ext_state_read_end(struct ext_state *st)
{
    mlc_store_exec(st->store, "COMMIT", NULL);
}

struct mlc_store *ext_state_store(struct ext_state *st)
{
    return st->store;
}

static const char sql_wm_get[] = "SELECT day FROM watermark WHERE company = ?1";
static const char sql_wm_set[] =
    "INSERT INTO watermark (company, day, updated_at) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (company) DO UPDATE SET day = excluded.day, updated_at = excluded.updated_at "
    "WHERE excluded.day > watermark.day";

mlc_rc ext_state_watermark_get(struct ext_state *st, const char *company, char day[11], bool *has,
                               struct mlc_err *err)
{
    sqlite3_stmt *s;
    bool row = false;
    mlc_rc rc;

    *has = false;
    day[0] = '\0';
    if ((rc = mlc_store_prepare(st->store, sql_wm_get, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 1, company, err)) != MLC_OK ||
        (rc = mlc_store_step(st->store, s, &row, err)) != MLC_OK)
        return rc;
    if (row) {
        const char *d = (const char *)sqlite3_column_text(s, 0);

        if (d && mlc_event_date_valid(d)) {
            mlc_strlcpy(day, d, 11);
            *has = true;
        }
        mlc_store_reset(s);
        if (!*has)
            return mlc_err_set(err, MLC_FATAL,
                               "state db %s: watermark of %s is not a date: delete its row to "
                               "re-read everything",
                               mlc_store_path(st->store), company);
    }
    return MLC_OK;
}

mlc_rc ext_state_watermark_set(struct ext_state *st, const char *company, const char *day,
                               struct mlc_err *err)
{
    sqlite3_stmt *s;
    char now[21];
    mlc_rc rc;

    if (!mlc_event_date_valid(day))
        return mlc_err_set(err, MLC_FATAL, "watermark of %s: not a date", company);
    ext_state_iso_time(time(NULL), now);
    if ((rc = mlc_store_prepare(st->store, sql_wm_set, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 1, company, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 2, day, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 3, now, err)) != MLC_OK)
        return rc;
    return mlc_store_step(st->store, s, NULL, err);
}

static const char sql_learned_get[] = "SELECT value FROM learned WHERE name = ?1";
static const char sql_learned_set[] =
    "INSERT INTO learned (name, value, updated_at) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

mlc_rc ext_state_learned_get(struct ext_state *st, const char *name, char *value, size_t size,
                             struct mlc_err *err)
{
    sqlite3_stmt *s;
    bool row = false;
    mlc_rc rc;

    value[0] = '\0';
    if ((rc = mlc_store_prepare(st->store, sql_learned_get, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 1, name, err)) != MLC_OK ||
        (rc = mlc_store_step(st->store, s, &row, err)) != MLC_OK)
        return rc;
    if (row) {
        const char *v = (const char *)sqlite3_column_text(s, 0);

        if (v)
            mlc_strlcpy(value, v, size);
        mlc_store_reset(s);
    }
    return MLC_OK;
}

mlc_rc ext_state_learned_set(struct ext_state *st, const char *name, const char *value,
                             struct mlc_err *err)
{
    sqlite3_stmt *s;
    char now[21];
    mlc_rc rc;

    ext_state_iso_time(time(NULL), now);
    if ((rc = mlc_store_prepare(st->store, sql_learned_set, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 1, name, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 2, value, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 3, now, err)) != MLC_OK)
        return rc;
    return mlc_store_step(st->store, s, NULL, err);
}

static const char sql_cust_get[] =
    "SELECT hash, missing, master_hash, balance_hash, pub_balance, pub_past_due, pub_limit, "
    "pub_on_hold FROM customer WHERE company = ?1 AND number = ?2";
static const char sql_cust_credit[] =
    "UPDATE customer SET master_hash = ?3, balance_hash = ?4, pub_balance = ?5, "
    "pub_past_due = ?6, pub_limit = ?7, pub_on_hold = ?8 WHERE company = ?1 AND number = ?2";
static const char sql_cust_seen[] =
    "INSERT INTO customer (company, number, hash, last_maintained, seen_scan, missing, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6) "
    "ON CONFLICT (company, number) DO UPDATE SET "
    "  hash = coalesce(excluded.hash, customer.hash), "
    "  last_maintained = coalesce(excluded.last_maintained, customer.last_maintained), "
    "  seen_scan = coalesce(excluded.seen_scan, customer.seen_scan), "
    "  missing = 0, updated_at = excluded.updated_at";
static const char sql_cust_missing[] =
    "UPDATE customer SET missing = 1, updated_at = ?3 WHERE company = ?1 AND number = ?2";
static const char sql_cust_unseen[] =
    "SELECT number FROM customer WHERE company = ?1 AND hash IS NOT NULL AND missing = 0 "
    "AND (seen_scan IS NULL OR seen_scan <> ?2) ORDER BY number LIMIT ?3";

mlc_rc ext_state_customer_get(struct ext_state *st, const char *company, const char *number,
                              struct ext_known *out, struct mlc_err *err)
{
    sqlite3_stmt *s;
    bool row = false;
    mlc_rc rc;

    memset(out, 0, sizeof(*out));
    if ((rc = mlc_store_prepare(st->store, sql_cust_get, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 1, company, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 2, number, err)) != MLC_OK ||
        (rc = mlc_store_step(st->store, s, &row, err)) != MLC_OK)
        return rc;
    if (!row)
        return MLC_OK;
    out->known = true;
    if (sqlite3_column_type(s, 0) == SQLITE_TEXT) {
        out->has_hash =
            mlc_strlcpy(out->hash, (const char *)sqlite3_column_text(s, 0), sizeof(out->hash));
    }
    out->missing = sqlite3_column_int(s, 1) != 0;
    if (sqlite3_column_type(s, 2) == SQLITE_TEXT)
        out->has_master = mlc_strlcpy(out->master_hash, (const char *)sqlite3_column_text(s, 2),
                                      sizeof(out->master_hash));
    if (sqlite3_column_type(s, 3) == SQLITE_TEXT)
        out->has_balance = mlc_strlcpy(out->balance_hash, (const char *)sqlite3_column_text(s, 3),
                                       sizeof(out->balance_hash));
    if (sqlite3_column_type(s, 4) != SQLITE_NULL && sqlite3_column_type(s, 5) != SQLITE_NULL &&
        sqlite3_column_type(s, 6) != SQLITE_NULL && sqlite3_column_type(s, 7) != SQLITE_NULL) {
        out->has_pub = true;
        out->pub.balance = sqlite3_column_double(s, 4);
        out->pub.past_due = sqlite3_column_double(s, 5);
        out->pub.limit = sqlite3_column_double(s, 6);
        out->pub.on_hold = sqlite3_column_int(s, 7) != 0;
    }
    mlc_store_reset(s);
    return MLC_OK;
}

mlc_rc ext_state_customer_delivered(struct ext_state *st, const char *company, const char *number,
                                    const char *master_hash, const char *balance_hash,
                                    const struct ext_credit_view *pub, struct mlc_err *err)
{
    sqlite3_stmt *s;
    mlc_rc rc;

    if ((rc = mlc_store_prepare(st->store, sql_cust_credit, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 1, company, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 2, number, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 3, master_hash, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 4, pub ? balance_hash : NULL, err)) != MLC_OK)
        return rc;
    if (pub) {
        if (sqlite3_bind_double(s, 5, pub->balance) != SQLITE_OK ||
            sqlite3_bind_double(s, 6, pub->past_due) != SQLITE_OK ||
            sqlite3_bind_double(s, 7, pub->limit) != SQLITE_OK ||
            sqlite3_bind_int(s, 8, pub->on_hold ? 1 : 0) != SQLITE_OK)
            return mlc_err_set(err, MLC_FATAL, "state db: bind failed");
    } else {
        for (int i = 5; i <= 8; i++)
            if ((rc = mlc_store_bind_null(st->store, s, i, err)) != MLC_OK)
                return rc;
    }
    return mlc_store_step(st->store, s, NULL, err);
}

mlc_rc ext_state_customer_seen(struct ext_state *st, const char *company, const char *number,
                               const char *hash, const char *last_maintained, int64_t seen_scan,
                               struct mlc_err *err)
{
    sqlite3_stmt *s;
    char now[21];
    mlc_rc rc;

    ext_state_iso_time(time(NULL), now);
    if ((rc = mlc_store_prepare(st->store, sql_cust_seen, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 1, company, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 2, number, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 3, hash, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 4,
                                  last_maintained && *last_maintained ? last_maintained : NULL,
                                  err)) != MLC_OK ||
        (rc = seen_scan > 0 ? mlc_store_bind_int64(st->store, s, 5, seen_scan, err)
                            : mlc_store_bind_null(st->store, s, 5, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 6, now, err)) != MLC_OK)
        return rc;
    return mlc_store_step(st->store, s, NULL, err);
}

mlc_rc ext_state_customer_missing(struct ext_state *st, const char *company, const char *number,
                                  struct mlc_err *err)
{
    sqlite3_stmt *s;
    char now[21];
    mlc_rc rc;

    ext_state_iso_time(time(NULL), now);
    if ((rc = mlc_store_prepare(st->store, sql_cust_missing, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 1, company, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 2, number, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 3, now, err)) != MLC_OK)
        return rc;
    return mlc_store_step(st->store, s, NULL, err);
}

mlc_rc ext_state_unseen(struct ext_state *st, const char *company, int64_t scan_id, size_t max,
                        char (*numbers)[MLC_EVENT_MAX_NUMBER + 1], size_t *n, struct mlc_err *err)
{
    sqlite3_stmt *s;
    bool row = true;
    mlc_rc rc;

    *n = 0;
    if ((rc = mlc_store_prepare(st->store, sql_cust_unseen, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 1, company, err)) != MLC_OK ||
        (rc = mlc_store_bind_int64(st->store, s, 2, scan_id, err)) != MLC_OK ||
        (rc = mlc_store_bind_int64(st->store, s, 3, (int64_t)max, err)) != MLC_OK)
        return rc;
    while (*n < max) {
        const char *num;

        if ((rc = mlc_store_step(st->store, s, &row, err)) != MLC_OK || !row)
            break;
        num = (const char *)sqlite3_column_text(s, 0);
        if (num && mlc_strlcpy(numbers[*n], num, MLC_EVENT_MAX_NUMBER + 1))
            (*n)++;
    }
    if (row)
        mlc_store_reset(s);
    return rc;
}

static const char sql_audit[] =
    "INSERT INTO audit (cycle_id, company, customer, hash, outcome, reason, at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

mlc_rc ext_state_audit(struct ext_state *st, int64_t cycle_id, const char *company,
                       const char *number, const char *hash, const char *outcome,
                       const char *reason, time_t at, struct mlc_err *err)
{
    sqlite3_stmt *s;
    char when[21], red[512];
    mlc_rc rc;

    ext_state_iso_time(at, when);
    if (reason)
        mlc_redact(reason, red, sizeof(red));
    if ((rc = mlc_store_prepare(st->store, sql_audit, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_int64(st->store, s, 1, cycle_id, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 2, company, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 3, number, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 4, hash, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 5, outcome, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 6, reason ? red : NULL, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 7, when, err)) != MLC_OK)
        return rc;
    return mlc_store_step(st->store, s, NULL, err);
}

static const char sql_cycle_start[] =
    "INSERT INTO cycle (company, kind, started_at, watermark_before) VALUES (?1, ?2, ?3, ?4)";
static const char sql_cycle_finish[] =
    "UPDATE cycle SET finished_at = ?2, finished_epoch = ?3, pages = ?4, records = ?5, "
    "published = ?6, unchanged = ?7, skipped = ?8, missing = ?9, duration_ms = ?10, "
    "result = ?11, error = ?12, watermark_after = ?13 WHERE id = ?1";
static const char sql_last_full[] =
    "SELECT max(finished_epoch) FROM cycle WHERE company = ?1 AND kind = 'full' AND result = 'ok'";
static const char sql_last_balance[] =
    "SELECT max(finished_epoch) FROM cycle WHERE company = ?1 AND kind IN ('full', 'balance') "
    "AND result = 'ok'";

mlc_rc ext_state_cycle_start_kind(struct ext_state *st, const char *company, const char *kind,
                                  const char *watermark_before, time_t started, int64_t *id,
                                  struct mlc_err *err)
{
    sqlite3_stmt *s;
    char when[21];
    mlc_rc rc;

    ext_state_iso_time(started, when);
    if ((rc = mlc_store_prepare(st->store, sql_cycle_start, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 1, company, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 2, kind, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 3, when, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 4,
                                  watermark_before && *watermark_before ? watermark_before : NULL,
                                  err)) != MLC_OK ||
        (rc = mlc_store_step(st->store, s, NULL, err)) != MLC_OK)
        return rc;
    *id = mlc_store_last_rowid(st->store);
    return MLC_OK;
}

mlc_rc ext_state_cycle_finish(struct ext_state *st, int64_t id, const struct ext_cycle_stats *c,
                              const char *result, const char *error, const char *watermark_after,
                              long duration_ms, struct mlc_err *err)
{
    sqlite3_stmt *s;
    time_t now = time(NULL);
    char when[21], red[512];
    mlc_rc rc;

    ext_state_iso_time(now, when);
    if (error)
        mlc_redact(error, red, sizeof(red));
    if ((rc = mlc_store_prepare(st->store, sql_cycle_finish, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_int64(st->store, s, 1, id, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 2, when, err)) != MLC_OK ||
        (rc = mlc_store_bind_int64(st->store, s, 3, (int64_t)now, err)) != MLC_OK ||
        (rc = mlc_store_bind_int64(st->store, s, 4, c->pages, err)) != MLC_OK ||
        (rc = mlc_store_bind_int64(st->store, s, 5, c->records, err)) != MLC_OK ||
        (rc = mlc_store_bind_int64(st->store, s, 6, c->published, err)) != MLC_OK ||
        (rc = mlc_store_bind_int64(st->store, s, 7, c->unchanged, err)) != MLC_OK ||
        (rc = mlc_store_bind_int64(st->store, s, 8, c->skipped, err)) != MLC_OK ||
        (rc = mlc_store_bind_int64(st->store, s, 9, c->missing, err)) != MLC_OK ||
        (rc = mlc_store_bind_int64(st->store, s, 10, duration_ms, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 11, result, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 12, error ? red : NULL, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 13,
                                  watermark_after && *watermark_after ? watermark_after : NULL,
                                  err)) != MLC_OK)
        return rc;
    return mlc_store_step(st->store, s, NULL, err);
}

static mlc_rc last_cycle(struct ext_state *st, const char *sql, const char *company, time_t *at,
                         bool *has, struct mlc_err *err)
{
    sqlite3_stmt *s;
    bool row = false;
    mlc_rc rc;

    *has = false;
    *at = 0;
    if ((rc = mlc_store_prepare(st->store, sql, &s, err)) != MLC_OK ||
        (rc = mlc_store_bind_text(st->store, s, 1, company, err)) != MLC_OK ||
        (rc = mlc_store_step(st->store, s, &row, err)) != MLC_OK)
        return rc;
    if (row) {
        if (sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
            *at = (time_t)sqlite3_column_int64(s, 0);
            *has = true;
        }
        mlc_store_reset(s);
    }
    return MLC_OK;
}

mlc_rc ext_state_last_full_scan(struct ext_state *st, const char *company, time_t *at, bool *has,
                                struct mlc_err *err)
{
    return last_cycle(st, sql_last_full, company, at, has, err);
}

mlc_rc ext_state_last_balance_refresh(struct ext_state *st, const char *company, time_t *at,
                                      bool *has, struct mlc_err *err)
{
    return last_cycle(st, sql_last_balance, company, at, has, err);
}

static const char sql_prune_audit[] = "DELETE FROM audit WHERE at < ?1";
static const char sql_prune_cycles[] =
    "DELETE FROM cycle WHERE started_at < ?1"
    " AND NOT EXISTS (SELECT 1 FROM audit WHERE audit.cycle_id = cycle.id)"
    " AND id NOT IN (SELECT max(id) FROM cycle GROUP BY company)"
    " AND id NOT IN (SELECT max(id) FROM cycle WHERE kind = 'full' AND result = 'ok'"
    " GROUP BY company)"
    " AND id NOT IN (SELECT max(id) FROM cycle WHERE kind = 'balance' AND result = 'ok'"
    " GROUP BY company)";

mlc_rc ext_state_prune(struct ext_state *st, time_t cutoff, int64_t *deleted, struct mlc_err *err)
{
    static const char *const sql[] = {sql_prune_audit, sql_prune_cycles};
    char when[21];

    ext_state_iso_time(cutoff, when);
    return mlc_store_run_each(st->store, sql, ARRAY_SIZE(sql), when, deleted, err);
}

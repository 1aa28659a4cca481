/* ld_state.c - the loader's SQLite state (see ld_state.h). */
#include "ld_state.h"
#include "mlc_alloc.h"

#include "mlc_log.h"
#include "mlc_str.h"
#include "mlc_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const migrations[] = {
    /* 1: id map, audit, meta */
    "CREATE TABLE idmap ("
    "  company TEXT NOT NULL,"
    "  customer TEXT NOT NULL,"
    "  org_id INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL DEFAULT 'active'"
    "    CHECK (state IN ('active', 'deleted_in_crm', 'duplicate')),"
    "  hash TEXT NOT NULL DEFAULT '',"
    "  payload TEXT,"
    "  remote INTEGER NOT NULL DEFAULT 0,"
    "  create_pending_ms INTEGER NOT NULL DEFAULT 0,"
    "  updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (company, customer)"
    ");"
    "CREATE INDEX idmap_org ON idmap(org_id);"
    "CREATE TABLE event_audit ("
    "  id INTEGER PRIMARY KEY,"
    "  at TEXT NOT NULL,"
    "  topic TEXT NOT NULL,"
    "  partition INTEGER NOT NULL,"
    "  offset INTEGER NOT NULL,"
    "  company TEXT,"
    "  customer TEXT,"
    "  event_id TEXT,"
    "  outcome TEXT NOT NULL CHECK (outcome IN ('created', 'updated', 'unchanged', 'adopted',"
    "    'skipped_foreign', 'deleted_in_crm', 'dlq', 'duplicate', 'dry_run')),"
    "  org_id INTEGER,"
    "  reason TEXT"
    ");"
    "CREATE INDEX event_audit_customer ON event_audit(company, customer);"
    "CREATE TABLE call_audit ("
    "  id INTEGER PRIMARY KEY,"
    "  at TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  tokens INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  company TEXT,"
    "  customer TEXT"
    ");"
    "CREATE INDEX call_audit_customer ON call_audit(company, customer);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    "CREATE INDEX event_audit_at ON event_audit (at);"
    "CREATE INDEX event_audit_dlq ON event_audit (at) WHERE outcome = 'dlq';"
    "CREATE INDEX call_audit_at ON call_audit (at);"
    "CREATE INDEX event_audit_customer_company ON event_audit (customer, company);"
    "CREATE INDEX call_audit_customer_company ON call_audit (customer, company);"
    "CREATE INDEX idmap_customer ON idmap (customer);"
    "CREATE INDEX idmap_active ON idmap (org_id) WHERE org_id <> 0 AND state = 'active';"
    "CREATE INDEX idmap_duplicate ON idmap (company, customer) WHERE state = 'duplicate';",
    /* 3: spending and outcomes by hour (UTC, "YYYY-MM-DDTHH"), kept in the
     * transaction that writes the audit rows, so that `mlc status` reads a
     * few hundred rows instead of a day's or a week's audit. The kind of a
     * call is decided in C from its operation (ld_calls.c); the backfill of
     * the rows already audited can only tell it from the path. */
    "CREATE TABLE spend_hour ("
    "  hour TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('creates', 'updates', 'scans', 'field_setup',"
    "    'probes', 'other')),"
    "  tokens INTEGER NOT NULL DEFAULT 0,"
    "  calls INTEGER NOT NULL DEFAULT 0,"
    "  status_429 INTEGER NOT NULL DEFAULT 0,"
    "  status_5xx INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (hour, kind)"
    ") WITHOUT ROWID;"
    "CREATE TABLE outcome_hour ("
    "  hour TEXT NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  count INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (hour, outcome)"
    ") WITHOUT ROWID;"
    "INSERT INTO spend_hour (hour, kind, tokens, calls, status_429, status_5xx) "
    "SELECT substr(at, 1, 13), CASE "
    "  WHEN path GLOB '*organizationFields*' THEN 'field_setup' "
    "  WHEN method = 'POST' AND path GLOB '/api/v2/organizations' THEN 'creates' "
    "  WHEN method = 'PATCH' AND path GLOB '/api/v2/organizations/*' THEN 'updates' "
    "  WHEN method = 'GET' AND (path GLOB '/api/v2/organizations[?/]*' OR "
    "    path = '/api/v2/organizations' OR path GLOB '/api/v2/itemSearch*') THEN 'scans' "
    "  WHEN path GLOB '/v1/users/me*' THEN 'probes' ELSE 'other' END AS k, "
    "sum(tokens), count(*), sum(status = 429), sum(status >= 500) "
    "FROM call_audit GROUP BY 1, 2;"
    "INSERT INTO outcome_hour (hour, outcome, count) "
    "SELECT substr(at, 1, 13), outcome, count(*) FROM event_audit GROUP BY 1, 2;",
    /* 4: the backlog of creates (ld_backlog.c), a cache emptied at start */
    "CREATE TABLE backlog ("
    "  company TEXT NOT NULL,"
    "  customer TEXT NOT NULL,"
    "  partition INTEGER NOT NULL,"
    "  first_offset INTEGER NOT NULL,"
    "  last_offset INTEGER NOT NULL,"
    "  active INTEGER NOT NULL DEFAULT 1,"
    "  recency TEXT NOT NULL DEFAULT '',"
    "  msg_key BLOB,"
    "  msg_value BLOB NOT NULL,"
    "  msg_sig BLOB," /* the record's mlc.signature, kept for its dead letter */
    "  queued_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (company, customer)"
    ");"
    "CREATE INDEX backlog_floor ON backlog (partition, first_offset);",
};

struct ld_state {
    struct mlc_store *store;
    char *tmpdir; /* dry-run copy: removed at close */
    char *tmpfile;
};

static void iso_ms(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

mlc_rc ld_state_open(const char *path, struct ld_state **out, struct mlc_err *err)
{
    struct ld_state *st = mlc_xcalloc(1, sizeof(*st));
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

/* Copies the database at src into the new file dst with SQLite's backup API
 * (a consistent snapshot even while a loader writes src). */
static mlc_rc copy_db(const char *src, const char *dst, struct mlc_err *err)
{
    sqlite3 *s = NULL, *d = NULL;
    sqlite3_backup *b;
    mlc_rc rc = MLC_OK;

    if (sqlite3_open_v2(src, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_open_v2(dst, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        rc = mlc_err_set(err, MLC_FATAL, "state db %s: cannot open for a dry-run copy: %s", src,
                         sqlite3_errmsg(s ? s : d));
        goto out;
    }
    b = sqlite3_backup_init(d, "main", s, "main");
    if (!b) {
        rc = mlc_err_set(err, MLC_FATAL, "state db %s: dry-run copy: %s", src, sqlite3_errmsg(d));
        goto out;
    }
    sqlite3_backup_step(b, -1);
    if (sqlite3_backup_finish(b) != SQLITE_OK)
        rc = mlc_err_set(err, MLC_FATAL, "state db %s: dry-run copy: %s", src, sqlite3_errmsg(d));
out:
    sqlite3_close(s);
    sqlite3_close(d);
    return rc;
}

mlc_rc ld_state_open_copy(const char *path, struct ld_state **out, struct mlc_err *err)
{
    struct ld_state *st = mlc_xcalloc(1, sizeof(*st));
    char tmpl[] = "/tmp/mlc-loader-dry-XXXXXX";
    struct stat sb;
    size_t n;
    mlc_rc rc = MLC_FATAL;

    *out = NULL;
    if (!mkdtemp(tmpl)) {
        mlc_err_set(err, MLC_FATAL, "dry-run: mkdtemp: %s", strerror(errno));
        goto fail;
    }
    st->tmpdir = mlc_xstrdup(tmpl);
    n = strlen(tmpl) + sizeof("/state.db");
    st->tmpfile = mlc_xmalloc(n);
    snprintf(st->tmpfile, n, "%s/state.db", tmpl);
    if (stat(path, &sb) == 0 && sb.st_size > 0 && (rc = copy_db(path, st->tmpfile, err)) != MLC_OK)
        goto fail;
    rc = mlc_store_open(&st->store, st->tmpfile, migrations, ARRAY_SIZE(migrations), NULL, err);
    if (rc != MLC_OK)
        goto fail;
    *out = st;
    return MLC_OK;
fail:
    ld_state_close(st);
    return rc;
}

void ld_state_close(struct ld_state *st)
{
    if (!st)
        return;
    mlc_store_close(st->store);
    if (st->tmpfile) {
        char p[512];

        unlink(st->tmpfile);
        snprintf(p, sizeof(p), "%s-wal", st->tmpfile);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", st->tmpfile);
        unlink(p);
    }
    if (st->tmpdir)
        rmdir(st->tmpdir);
    free(st->tmpfile);
    free(st->tmpdir);
    free(st);
}

struct mlc_store *ld_state_store(struct ld_state *st)
{
    return st->store;
}

mlc_rc ld_state_begin(struct ld_state *st, struct mlc_err *err)
{
    return mlc_store_begin(st->store, err);
}

mlc_rc ld_state_commit(struct ld_state *st, struct mlc_err *err)
{
    return mlc_store_commit(st->store, err);
}

void ld_state_rollback(struct ld_state *st)
{
    if (mlc_store_in_tx(st->store))
        mlc_store_rollback(st->store, NULL);
}

void ld_map_row_free(struct ld_map_row *r)
{
    free(r->payload);
    memset(r, 0, sizeof(*r));
}

static const char sql_map_get[] = "SELECT org_id, state, hash, payload, remote, create_pending_ms "
                                  "FROM idmap WHERE company = ?1 AND customer = ?2";

mlc_rc ld_state_map_get(struct ld_state *st, const char *company, const char *customer,
                        struct ld_map_row *row, bool *found, struct mlc_err *err)
{
    sqlite3_stmt *s;
    bool r = false;
    mlc_rc rc;

    memset(row, 0, sizeof(*row));
    *found = false;
    if ((rc = mlc_store_prepare(st->store, sql_map_get, &s, err)) ||
        (rc = mlc_store_bind_text(st->store, s, 1, company, err)) ||
        (rc = mlc_store_bind_text(st->store, s, 2, customer, err)) ||
        (rc = mlc_store_step(st->store, s, &r, err)))
        return rc;
    if (!r)
        return MLC_OK;
    row->org_id = sqlite3_column_int64(s, 0);
    mlc_strlcpy(row->state, (const char *)sqlite3_column_text(s, 1), sizeof(row->state));
    mlc_strlcpy(row->hash, (const char *)sqlite3_column_text(s, 2), sizeof(row->hash));
    if (sqlite3_column_type(s, 3) != SQLITE_NULL) {
        const char *t = (const char *)sqlite3_column_text(s, 3);

        if (!t) { /* SQLITE_NOMEM: SQLite's own allocation failed */
            mlc_store_reset(s);
            return mlc_err_set(err, MLC_FATAL, "state db: id map payload: %s",
                               sqlite3_errmsg(sqlite3_db_handle(s)));
        }
        row->payload = mlc_xstrdup(t);
    }
    row->remote = sqlite3_column_int(s, 4) != 0;
    row->create_pending_ms = sqlite3_column_int64(s, 5);
    mlc_store_reset(s);
    *found = true;
    return MLC_OK;
}

static const char sql_map_put[] =
    "INSERT INTO idmap (company, customer, org_id, state, hash, payload, remote, "
    "create_pending_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "ON CONFLICT (company, customer) DO UPDATE SET org_id = ?3, state = ?4, hash = ?5, "
    "payload = ?6, remote = ?7, create_pending_ms = ?8, updated_ms = ?9";

mlc_rc ld_state_map_put(struct ld_state *st, const char *company, const char *customer,
                        const struct ld_map_row *row, struct mlc_err *err)
{
    sqlite3_stmt *s;
    struct mlc_store *db = st->store;
    mlc_rc rc;

    if ((rc = mlc_store_prepare(db, sql_map_put, &s, err)) ||
        (rc = mlc_store_bind_text(db, s, 1, company, err)) ||
        (rc = mlc_store_bind_text(db, s, 2, customer, err)) ||
        (rc = mlc_store_bind_int64(db, s, 3, row->org_id, err)) ||
        (rc = mlc_store_bind_text(db, s, 4, row->state[0] ? row->state : "active", err)) ||
        (rc = mlc_store_bind_text(db, s, 5, row->hash, err)) ||
        (rc = mlc_store_bind_text(db, s, 6, row->payload, err)) ||
        (rc = mlc_store_bind_int64(db, s, 7, row->remote ? 1 : 0, err)) ||
        (rc = mlc_store_bind_int64(db, s, 8, row->create_pending_ms, err)) ||
        (rc = mlc_store_bind_int64(db, s, 9, mlc_realtime_ms(), err)))
        return rc;
    return mlc_store_step(db, s, NULL, err);
}

static const char sql_map_pending[] =
    "INSERT INTO idmap (company, customer, create_pending_ms, updated_ms) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (company, customer) DO UPDATE SET create_pending_ms = ?3, updated_ms = ?4";

mlc_rc ld_state_map_pending(struct ld_state *st, const char *company, const char *customer,
                            int64_t ms, struct mlc_err *err)
{
    sqlite3_stmt *s;
    struct mlc_store *db = st->store;
    mlc_rc rc;

    if ((rc = mlc_store_prepare(db, sql_map_pending, &s, err)) ||
        (rc = mlc_store_bind_text(db, s, 1, company, err)) ||
        (rc = mlc_store_bind_text(db, s, 2, customer, err)) ||
        (rc = mlc_store_bind_int64(db, s, 3, ms, err)) ||
        (rc = mlc_store_bind_int64(db, s, 4, mlc_realtime_ms(), err)))
        return rc;
    return mlc_store_step(db, s, NULL, err);
}

static const char sql_map_count[] = "SELECT count(*) FROM idmap WHERE org_id <> 0";

mlc_rc ld_state_map_count(struct ld_state *st, int64_t *n, struct mlc_err *err)
{
    sqlite3_stmt *s;
    bool r = false;
    mlc_rc rc;

    *n = 0;
    if ((rc = mlc_store_prepare(st->store, sql_map_count, &s, err)) ||
        (rc = mlc_store_step(st->store, s, &r, err)))
        return rc;
    if (r)
        *n = sqlite3_column_int64(s, 0);
    mlc_store_reset(s);
    return MLC_OK;
}

static const char sql_event_audit[] =
    "INSERT INTO event_audit (at, topic, partition, offset, company, customer, event_id, outcome, "
    "org_id, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

static const char sql_outcome_add[] =
    "INSERT INTO outcome_hour (hour, outcome, count) VALUES (?1, ?2, 1) "
    "ON CONFLICT (hour, outcome) DO UPDATE SET count = count + 1";

mlc_rc ld_state_audit_event(struct ld_state *st, const struct ld_event_audit *a,
                            struct mlc_err *err)
{
    sqlite3_stmt *s;
    struct mlc_store *db = st->store;
    char at[32], reason[512];
    mlc_rc rc;

    iso_ms(mlc_realtime_ms(), at);
    if (a->reason)
        mlc_redact(a->reason, reason, sizeof(reason));
    if ((rc = mlc_store_prepare(db, sql_event_audit, &s, err)) ||
        (rc = mlc_store_bind_text(db, s, 1, at, err)) ||
        (rc = mlc_store_bind_text(db, s, 2, a->topic, err)) ||
        (rc = mlc_store_bind_int64(db, s, 3, a->partition, err)) ||
        (rc = mlc_store_bind_int64(db, s, 4, a->offset, err)) ||
        (rc = mlc_store_bind_text(db, s, 5, a->company, err)) ||
        (rc = mlc_store_bind_text(db, s, 6, a->customer, err)) ||
        (rc = mlc_store_bind_text(db, s, 7, a->event_id, err)) ||
        (rc = mlc_store_bind_text(db, s, 8, a->outcome, err)) ||
        (rc = a->org_id ? mlc_store_bind_int64(db, s, 9, a->org_id, err)
                        : mlc_store_bind_null(db, s, 9, err)) ||
        (rc = mlc_store_bind_text(db, s, 10, a->reason ? reason : NULL, err)))
        return rc;
    if ((rc = mlc_store_step(db, s, NULL, err)) != MLC_OK)
        return rc;
    /* the hourly count `mlc status` reads (same transaction) */
    at[13] = '\0';
    if ((rc = mlc_store_prepare(db, sql_outcome_add, &s, err)) ||
        (rc = mlc_store_bind_text(db, s, 1, at, err)) ||
        (rc = mlc_store_bind_text(db, s, 2, a->outcome, err)))
        return rc;
    return mlc_store_step(db, s, NULL, err);
}

static const char sql_call_audit[] =
    "INSERT INTO call_audit (at, method, path, status, tokens, duration_ms, company, customer) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

mlc_rc ld_state_audit_call(struct ld_state *st, const char *method, const char *path, long status,
                           int tokens, long duration_ms, const char *company, const char *customer,
                           int64_t at_ms, struct mlc_err *err)
{
    sqlite3_stmt *s;
    struct mlc_store *db = st->store;
    char at[32], clean[1024];
    mlc_rc rc;

    iso_ms(at_ms ? at_ms : mlc_realtime_ms(), at);
    mlc_redact(path, clean, sizeof(clean));
    if ((rc = mlc_store_prepare(db, sql_call_audit, &s, err)) ||
        (rc = mlc_store_bind_text(db, s, 1, at, err)) ||
        (rc = mlc_store_bind_text(db, s, 2, method, err)) ||
        (rc = mlc_store_bind_text(db, s, 3, clean, err)) ||
        (rc = mlc_store_bind_int64(db, s, 4, status, err)) ||
        (rc = mlc_store_bind_int64(db, s, 5, tokens, err)) ||
        (rc = mlc_store_bind_int64(db, s, 6, duration_ms, err)) ||
        (rc = mlc_store_bind_text(db, s, 7, company, err)) ||
        (rc = mlc_store_bind_text(db, s, 8, customer, err)))
        return rc;
    return mlc_store_step(db, s, NULL, err);
}

static const char sql_spend_add[] =
    "INSERT INTO spend_hour (hour, kind, tokens, calls, status_429, status_5xx) "
    "VALUES (?1, ?2, ?3, 1, ?4, ?5) ON CONFLICT (hour, kind) DO UPDATE SET "
    "tokens = tokens + ?3, calls = calls + 1, status_429 = status_429 + ?4, "
    "status_5xx = status_5xx + ?5";

mlc_rc ld_state_spend_add(struct ld_state *st, int64_t at_ms, const char *kind, long status,
                          int tokens, struct mlc_err *err)
{
    sqlite3_stmt *s;
    struct mlc_store *db = st->store;
    char at[32];
    mlc_rc rc;

    iso_ms(at_ms ? at_ms : mlc_realtime_ms(), at);
    at[13] = '\0'; /* "YYYY-MM-DDTHH" */
    if ((rc = mlc_store_prepare(db, sql_spend_add, &s, err)) ||
        (rc = mlc_store_bind_text(db, s, 1, at, err)) ||
        (rc = mlc_store_bind_text(db, s, 2, kind, err)) ||
        (rc = mlc_store_bind_int64(db, s, 3, tokens, err)) ||
        (rc = mlc_store_bind_int64(db, s, 4, status == 429, err)) ||
        (rc = mlc_store_bind_int64(db, s, 5, status >= 500, err)))
        return rc;
    return mlc_store_step(db, s, NULL, err);
}

static const char sql_spend_today[] =
    "SELECT kind, sum(tokens), sum(status_429) FROM spend_hour WHERE hour >= ?1 AND hour < ?2 "
    "GROUP BY kind";

mlc_rc ld_state_spend_day(struct ld_state *st, int64_t day_ms, ld_spend_fn fn, void *ctx,
                          struct mlc_err *err)
{
    sqlite3_stmt *s;
    struct mlc_store *db = st->store;
    char from[32], to[32];
    bool r = false;
    mlc_rc rc;

    iso_ms(day_ms - day_ms % 86400000, from);
    iso_ms(day_ms - day_ms % 86400000 + 86400000, to);
    from[13] = to[13] = '\0';
    if ((rc = mlc_store_prepare(db, sql_spend_today, &s, err)) ||
        (rc = mlc_store_bind_text(db, s, 1, from, err)) ||
        (rc = mlc_store_bind_text(db, s, 2, to, err)))
        return rc;
    while ((rc = mlc_store_step(db, s, &r, err)) == MLC_OK && r)
        fn(ctx, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1),
           sqlite3_column_int64(s, 2));
    mlc_store_reset(s);
    return rc;
}

static const char sql_meta_get[] = "SELECT value FROM meta WHERE key = ?1";
static const char sql_meta_set[] =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2";

mlc_rc ld_state_meta_get(struct ld_state *st, const char *key, char **value, struct mlc_err *err)
{
    sqlite3_stmt *s;
    bool r = false;
    mlc_rc rc;

    *value = NULL;
    if ((rc = mlc_store_prepare(st->store, sql_meta_get, &s, err)) ||
        (rc = mlc_store_bind_text(st->store, s, 1, key, err)) ||
        (rc = mlc_store_step(st->store, s, &r, err)))
        return rc;
    if (r) {
        const char *t = (const char *)sqlite3_column_text(s, 0);

        if (t) /* NULL: SQLITE_NOMEM, SQLite's own allocation failed */
            *value = mlc_xstrdup(t);
        else
            rc = mlc_err_set(err, MLC_FATAL, "state db: meta %s: %s", key,
                             sqlite3_errmsg(sqlite3_db_handle(s)));
        mlc_store_reset(s);
    }
    return rc;
}

mlc_rc ld_state_meta_set(struct ld_state *st, const char *key, const char *value,
                         struct mlc_err *err)
{
    sqlite3_stmt *s;
    mlc_rc rc;

    if ((rc = mlc_store_prepare(st->store, sql_meta_set, &s, err)) ||
        (rc = mlc_store_bind_text(st->store, s, 1, key, err)) ||
        (rc = mlc_store_bind_text(st->store, s, 2, value, err)))
        return rc;
    return mlc_store_step(st->store, s, NULL, err);
}

static const char sql_prune_events[] = "DELETE FROM event_audit WHERE at < ?1";
static const char sql_prune_calls[] = "DELETE FROM call_audit WHERE at < ?1";

mlc_rc ld_state_prune_audit(struct ld_state *st, int64_t cutoff_ms, int64_t *deleted,
                            struct mlc_err *err)
{
    static const char *const sql[] = {sql_prune_events, sql_prune_calls};
    char when[32];

    iso_ms(cutoff_ms, when);
    return mlc_store_run_each(st->store, sql, ARRAY_SIZE(sql), when, deleted, err);
}

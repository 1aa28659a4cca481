/* mlc audit: prints the audit trail of a state database (read-only).
 *
 * Table-driven: each known kind of state file is a struct audit_source that
 * names a table proving the kind and the sections (queries) to print. A
 * section's SQL takes ?1 = customer, ?2 = company (NULL = any) and ?3 = limit
 * and returns the newest rows last. Add a source for another program's state
 * file; nothing else changes.
 */
#include "mlc_alloc.h"
#include "mlc_cli.h"
#include "mlc_log.h"
#include "mlc_str.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct audit_section {
    const char *name;  /* "cycles", "audit" */
    bool per_customer; /* still printed when --customer is given */
    const char *sql;
};

struct audit_source {
    const char *kind;        /* "extractor" */
    const char *proof_table; /* a table only this kind has */
    struct audit_section sections[4];
    /* one customer's rows for the merged history (--customer with several
     * --db): columns at, source, what, company, customer, outcome, detail,
     * reason; ?1 customer, ?2 company (NULL = any) */
    const char *history_sql[3];
};

/* ?4 outcome, ?5 since, ?6 until (both "YYYY-MM-DDTHH:MM:SS", UTC, inclusive;
 * stored times carry optional fractions and a Z, hence the substr). A call's
 * outcome is its HTTP status: "429" or "HTTP 429". */
#define TIME_FILTER                                                                                \
    "(?5 IS NULL OR substr(at, 1, 19) >= ?5) AND (?6 IS NULL OR substr(at, 1, 19) <= ?6)"
#define AUDIT_FILTER "(?4 IS NULL OR outcome = ?4) AND " TIME_FILTER
/* ?1 customer, NULL for any: written as a range (a point when given) rather
 * than "?1 IS NULL OR customer = ?1", which keeps SQLite from using the
 * customer index and scans a million-row audit */
#define CUSTOMER_FILTER "customer BETWEEN coalesce(?1, '') AND coalesce(?1, char(1114111))"
#define CALL_FILTER                                                                                \
    "(?4 IS NULL OR CAST(status AS TEXT) = ?4 OR 'HTTP ' || status = ?4) AND " TIME_FILTER

static const struct audit_source sources[] = {
    {"extractor",
     "watermark",
     {{"cycles", false,
       "SELECT * FROM (SELECT id, company, kind, started_at, finished_at, result, pages, records, "
       "published, unchanged, skipped, missing, duration_ms, watermark_before, watermark_after, "
       "error FROM cycle WHERE (?2 IS NULL OR company = ?2) AND (?4 IS NULL OR result = ?4) "
       "AND (?5 IS NULL OR substr(started_at, 1, 19) >= ?5) AND (?6 IS NULL OR "
       "substr(started_at, 1, 19) <= ?6) ORDER BY id DESC LIMIT ?3) "
       "ORDER BY id"},
      {"audit", true,
       "SELECT * FROM (SELECT id, cycle_id, at, company, customer, outcome, hash, reason "
       "FROM audit WHERE " CUSTOMER_FILTER " AND (?2 IS NULL OR company = ?2) "
       "AND " AUDIT_FILTER " ORDER BY id DESC LIMIT ?3) ORDER BY id"},
      {NULL, false, NULL}},
     {"SELECT at, 'extractor' AS source, 'sage read' AS what, company, customer, outcome, "
      "'hash ' || hash AS detail, reason FROM audit WHERE customer = ?1 AND "
      "(?2 IS NULL OR company = ?2) AND " AUDIT_FILTER,
      NULL}},
    {"loader",
     "idmap",
     {{"idmap", true,
       "SELECT company, customer, org_id, state, hash, remote, create_pending_ms FROM idmap "
       "WHERE " CUSTOMER_FILTER " AND (?2 IS NULL OR company = ?2) "
       "ORDER BY company, customer LIMIT ?3"},
      {"events", true,
       "SELECT * FROM (SELECT id, at, topic, partition, offset, company, customer, event_id, "
       "outcome, org_id, reason FROM event_audit WHERE " CUSTOMER_FILTER " AND "
       "(?2 IS NULL OR company = ?2) AND " AUDIT_FILTER " ORDER BY id DESC LIMIT ?3) ORDER BY id"},
      {"calls", true,
       "SELECT * FROM (SELECT id, at, method, path, status, tokens, duration_ms, company, "
       "customer FROM call_audit WHERE " CUSTOMER_FILTER " AND "
       "(?2 IS NULL OR company = ?2) AND " CALL_FILTER " ORDER BY id DESC LIMIT ?3) ORDER BY id"},
      {NULL, false, NULL}},
     {"SELECT at, 'loader' AS source, 'event ' || topic || ':' || partition || ':' || offset "
      "AS what, company, customer, outcome, CASE WHEN org_id IS NULL THEN NULL ELSE "
      "'organization ' || org_id END AS detail, reason FROM event_audit WHERE customer = ?1 "
      "AND (?2 IS NULL OR company = ?2) AND " AUDIT_FILTER,
      "SELECT at, 'loader' AS source, 'pipedrive ' || method || ' ' || path AS what, company, "
      "customer, 'HTTP ' || status AS outcome, tokens || ' tokens, ' || duration_ms || ' ms' "
      "AS detail, NULL AS reason FROM call_audit WHERE customer = ?1 AND "
      "(?2 IS NULL OR company = ?2) AND " CALL_FILTER,
      NULL}},
};

static const char usage[] =
    "mlc: usage: mlc audit --db FILE [--db FILE] [--customer ID] [--company CO] "
    "[--outcome O] [--since T] [--until T] [--limit N] [--json]\n"
    "  --outcome: published, unchanged, missing, created, updated, dlq, ... (a cycle's result,\n"
    "  a call's HTTP status); --since/--until: ISO 8601 UTC (YYYY-MM-DD[THH:MM[:SS]][Z]),\n"
    "  inclusive. The loader's idmap (current state) is filtered by customer/company only.\n"
    "  Several --db (the extractor's and the loader's state files) with --customer also print\n"
    "  the customer's whole history, from the Sage read to the Pipedrive write, in time order.\n";

static bool has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *s = NULL;
    bool found = false;

    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                           &s, NULL) == SQLITE_OK &&
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) == SQLITE_OK)
        found = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return found;
}

/* Prints v as is when it is a plain token, else double-quoted with \" and
 * \\ escaped and control bytes as \xNN, so that customer numbers with blanks
 * and reasons stay one unambiguous field. */
static void print_value(const char *v)
{
    bool plain = *v != '\0';

    for (const char *p = v; *p && plain; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\' || *p == '=')
            plain = false;
    if (plain) {
        fputs(v, stdout);
        return;
    }
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < ' ' || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* Prints one section as text ("name" header, then "col=value" per row) or
 * adds it to json. Returns false on an SQLite error. */
struct audit_filter {
    const char *outcome;
    char since[20], until[20]; /* "" = no bound */
};

static void bind_filter(sqlite3_stmt *s, const struct audit_filter *f)
{
    sqlite3_bind_text(s, 4, f->outcome, -1, SQLITE_STATIC);
    if (f->since[0])
        sqlite3_bind_text(s, 5, f->since, -1, SQLITE_STATIC);
    if (f->until[0])
        sqlite3_bind_text(s, 6, f->until, -1, SQLITE_STATIC);
}

static bool print_section(sqlite3 *db, const struct audit_section *sec, const char *customer,
                          const char *company, long limit, const struct audit_filter *f,
                          cJSON *json)
{
    sqlite3_stmt *s = NULL;
    cJSON *arr = NULL;
    int rc, ncol;
    long rows = 0;

    if (sqlite3_prepare_v2(db, sec->sql, -1, &s, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(s, 1, customer, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, company, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, limit);
    bind_filter(s, f);
    ncol = sqlite3_column_count(s);
    if (json) {
        arr = cJSON_AddArrayToObject(json, sec->name);
    } else {
        printf("== %s\n", sec->name);
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        cJSON *obj = NULL;

        if (json) {
            obj = cJSON_CreateObject();
            cJSON_AddItemToArray(arr, obj);
        }
        for (int i = 0; i < ncol; i++) {
            const char *name = sqlite3_column_name(s, i);
            int t = sqlite3_column_type(s, i);

            if (json) {
                if (t == SQLITE_NULL)
                    cJSON_AddNullToObject(obj, name);
                else if (t == SQLITE_INTEGER)
                    cJSON_AddNumberToObject(obj, name, (double)sqlite3_column_int64(s, i));
                else
                    cJSON_AddStringToObject(obj, name, (const char *)sqlite3_column_text(s, i));
            } else if (t != SQLITE_NULL) {
                printf("%s%s=", i ? " " : "", name);
                print_value((const char *)sqlite3_column_text(s, i));
            }
        }
        if (!json)
            putchar('\n');
        rows++;
    }
    if (rc != SQLITE_DONE)
        goto fail;
    if (!json && rows == 0)
        puts("(none)");
    sqlite3_finalize(s);
    return true;
fail:
    fprintf(stderr, "mlc audit: %s: %s\n", sec->name, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return false;
}

#define MAX_DBS 4

/* Compares two history rows by time: ISO 8601 UTC texts, with or without
 * fractional seconds ("...:13Z" and "...:13.250Z" are ordered correctly). */
static int at_cmp(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "at"));
    const char *q = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "at"));
    int c;

    p = p ? p : "";
    q = q ? q : "";
    c = strncmp(p, q, 19);
    if (c)
        return c;
    p += strnlen(p, 19);
    q += strnlen(q, 19);
    c = strcmp(*p == '.' ? p : ".000", *q == '.' ? q : ".000");
    if (c)
        return c;
    /* same time: keep the order of collection (extractor before loader) */
    return (int)(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x, "seq")) -
                 cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(y, "seq")));
}

/* Appends the customer's rows of one database to hist. */
static bool collect_history(sqlite3 *db, const struct audit_source *src, const char *customer,
                            const char *company, const struct audit_filter *f, cJSON *hist)
{
    for (size_t k = 0; k < 3 && src->history_sql[k]; k++) {
        sqlite3_stmt *s = NULL;
        int rc;

        if (sqlite3_prepare_v2(db, src->history_sql[k], -1, &s, NULL) != SQLITE_OK) {
            fprintf(stderr, "mlc audit: history: %s\n", sqlite3_errmsg(db));
            return false;
        }
        sqlite3_bind_text(s, 1, customer, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, company, -1, SQLITE_STATIC);
        bind_filter(s, f);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            cJSON *o = cJSON_CreateObject();

            cJSON_AddItemToArray(hist, o);
            cJSON_AddNumberToObject(o, "seq", cJSON_GetArraySize(hist));
            for (int i = 0; i < sqlite3_column_count(s); i++) {
                if (sqlite3_column_type(s, i) == SQLITE_NULL)
                    cJSON_AddNullToObject(o, sqlite3_column_name(s, i));
                else
                    cJSON_AddStringToObject(o, sqlite3_column_name(s, i),
                                            (const char *)sqlite3_column_text(s, i));
            }
        }
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) {
            fprintf(stderr, "mlc audit: history: %s\n", sqlite3_errmsg(db));
            return false;
        }
    }
    return true;
}

/* Sorts hist by time and prints it (text) or leaves it in json. */
static bool print_history(cJSON *hist, cJSON *json)
{
    int n = cJSON_GetArraySize(hist);
    cJSON **rows = n > 0 ? mlc_xcalloc((size_t)n, sizeof(*rows)) : NULL;
    int i = 0;
    cJSON *it;

    cJSON_ArrayForEach(it, hist) rows[i++] = it;
    if (n > 1)
        qsort(rows, (size_t)n, sizeof(*rows), at_cmp);
    if (json) {
        cJSON *arr = cJSON_AddArrayToObject(json, "history");

        for (i = 0; arr && i < n; i++) {
            cJSON *d = cJSON_Duplicate(rows[i], 1);

            cJSON_DeleteItemFromObjectCaseSensitive(d, "seq");
            cJSON_AddItemToArray(arr, d);
        }
    } else {
        static const char *const cols[] = {"at",       "source",  "what",   "company",
                                           "customer", "outcome", "detail", "reason"};

        puts("== history");
        for (i = 0; i < n; i++) {
            bool first = true;

            for (size_t c = 0; c < ARRAY_SIZE(cols); c++) {
                const char *v =
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rows[i], cols[c]));

                if (!v)
                    continue;
                printf("%s%s=", first ? "" : " ", cols[c]);
                print_value(v);
                first = false;
            }
            putchar('\n');
        }
        if (n == 0)
            puts("(none)");
    }
    free(rows);
    return true;
}

/* Long because the options, then each database (open, recognise, sections)
 * and the merged history are done in order here, sharing one cleanup path. */
struct audit_args {
    const char *paths[MAX_DBS], *customer, *company;
    size_t n_paths;
    bool as_json;
    long limit;
    struct audit_filter filter;
};

/* false (usage printed) for an unknown option, a malformed value or no --db. */
static bool parse_args(const struct mlc_app *app, struct audit_args *a)
{
    for (int i = 1; i < app->argc; i++) {
        const char *o = app->argv[i];
        const char *v = i + 1 < app->argc ? app->argv[i + 1] : NULL;
        bool ok = true;

        if (!strcmp(o, "--json")) {
            a->as_json = true;
            continue;
        }
        if (!v)
            ok = false;
        else if (!strcmp(o, "--db") && a->n_paths < MAX_DBS)
            a->paths[a->n_paths++] = v;
        else if (!strcmp(o, "--customer"))
            a->customer = v;
        else if (!strcmp(o, "--company"))
            a->company = v;
        else if (!strcmp(o, "--outcome"))
            a->filter.outcome = v;
        else if (!strcmp(o, "--since"))
            ok = mlc_cli_parse_time(v, false, a->filter.since);
        else if (!strcmp(o, "--until"))
            ok = mlc_cli_parse_time(v, true, a->filter.until);
        else if (!strcmp(o, "--limit"))
            ok = mlc_parse_long(v, 1, 100000000L, &a->limit);
        else
            ok = false;
        if (!ok) {
            fputs(usage, stderr);
            return false;
        }
        i++;
    }
    if (a->n_paths == 0) {
        fputs(usage, stderr);
        return false;
    }
    return true;
}

/* Prints (or adds to dbs/json) the sections of one state file, and
 * collects its part of a customer's history into hist. Returns the exit
 * code so far: 0, 1 (a query failed) or 2 (not a state file). */
static int audit_one(const struct audit_args *a, const char *path, cJSON **json, cJSON *dbs,
                     cJSON *hist)
{
    const struct audit_source *src = NULL;
    sqlite3 *db = NULL;
    cJSON *dj = NULL;
    int code = 2;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "mlc audit: %s: %s\n", path, db ? sqlite3_errmsg(db) : "cannot open");
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    for (size_t i = 0; i < ARRAY_SIZE(sources) && !src; i++)
        if (has_table(db, sources[i].proof_table))
            src = &sources[i];
    if (!src) {
        fprintf(stderr, "mlc audit: %s: not an ml-connector state database (%s)\n", path,
                sqlite3_errmsg(db));
        goto out;
    }
    if (a->as_json) {
        dj = dbs ? cJSON_CreateObject() : (*json = cJSON_CreateObject());
        cJSON_AddStringToObject(dj, "kind", src->kind);
        if (dbs) {
            cJSON_AddItemToArray(dbs, dj);
            cJSON_AddStringToObject(dj, "path", path);
        }
    } else if (a->n_paths > 1) {
        printf("# %s (%s)\n", path, src->kind);
    }
    code = 0;
    for (const struct audit_section *sec = src->sections; sec->name && !code; sec++)
        if ((!a->customer || sec->per_customer) &&
            !print_section(db, sec, a->customer, a->company, a->limit, &a->filter, dj))
            code = 1;
    if (!code && hist && !collect_history(db, src, a->customer, a->company, &a->filter, hist))
        code = 1;
out:
    sqlite3_close(db);
    return code;
}

int mlc_cmd_audit(struct mlc_app *app)
{
    struct audit_args a = {.limit = 1000, .filter = {NULL, "", ""}};
    cJSON *json = NULL, *hist = NULL, *dbs = NULL;
    int code = 0;

    if (!parse_args(app, &a))
        return 2;
    if (a.n_paths > 1 && a.customer)
        hist = cJSON_CreateArray();
    if (a.as_json && a.n_paths > 1) {
        json = cJSON_CreateObject();
        dbs = cJSON_AddArrayToObject(json, "databases");
    }
    for (size_t d = 0; d < a.n_paths && !code; d++)
        code = audit_one(&a, a.paths[d], &json, dbs, hist);
    if (!code && hist && !print_history(hist, json))
        code = 1;
    if (!code && json) {
        char *text = cJSON_PrintUnformatted(json);

        if (text)
            puts(text);
        else
            code = 1;
        cJSON_free(text);
    }
    cJSON_Delete(hist);
    cJSON_Delete(json);
    return code;
}

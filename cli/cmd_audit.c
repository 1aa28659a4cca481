/* mlc audit: prints the audit trail of a state database (read-only).
 *
 * Table-driven: each known kind of state file is a struct audit_source that
 * names a table proving the kind and the sections (queries) to print. A
 * section's SQL takes ?1 = customer, ?2 = company (NULL = any) and ?3 = limit
 * and returns the newest rows last. Add a source for another program's state
 * file; nothing else changes.
 */
#include "mlc_cli.h"
#include "mlc_log.h"
#include "mlc_str.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
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
};

static const struct audit_source sources[] = {
    {"extractor",
     "watermark",
     {{"cycles", false,
       "SELECT * FROM (SELECT id, company, kind, started_at, finished_at, result, pages, records, "
       "published, unchanged, skipped, missing, duration_ms, watermark_before, watermark_after, "
       "error FROM cycle WHERE (?2 IS NULL OR company = ?2) ORDER BY id DESC LIMIT ?3) "
       "ORDER BY id"},
      {"audit", true,
       "SELECT * FROM (SELECT id, cycle_id, at, company, customer, outcome, hash, reason "
       "FROM audit WHERE (?1 IS NULL OR customer = ?1) AND (?2 IS NULL OR company = ?2) "
       "ORDER BY id DESC LIMIT ?3) ORDER BY id"},
      {NULL, false, NULL}}},
};

static const char usage[] =
    "mlc: usage: mlc audit --db FILE [--customer ID] [--company CO] [--limit N] [--json]\n";

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
static bool print_section(sqlite3 *db, const struct audit_section *sec, const char *customer,
                          const char *company, long limit, cJSON *json)
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
    ncol = sqlite3_column_count(s);
    if (json) {
        arr = cJSON_AddArrayToObject(json, sec->name);
        if (!arr)
            goto fail;
    } else {
        printf("== %s\n", sec->name);
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        cJSON *obj = json ? cJSON_CreateObject() : NULL;

        if (json && (!obj || !cJSON_AddItemToArray(arr, obj)))
            goto fail;
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

int mlc_cmd_audit(struct mlc_app *app)
{
    const char *path = NULL, *customer = NULL, *company = NULL;
    const struct audit_source *src = NULL;
    bool as_json = false;
    long limit = 1000;
    sqlite3 *db = NULL;
    cJSON *json = NULL;
    int code = 2;

    for (int i = 1; i < app->argc; i++) {
        const char *a = app->argv[i];
        const char *v = i + 1 < app->argc ? app->argv[i + 1] : NULL;

        if (!strcmp(a, "--json")) {
            as_json = true;
        } else if (!strcmp(a, "--db") && v) {
            path = v;
            i++;
        } else if (!strcmp(a, "--customer") && v) {
            customer = v;
            i++;
        } else if (!strcmp(a, "--company") && v) {
            company = v;
            i++;
        } else if (!strcmp(a, "--limit") && v && mlc_parse_long(v, 1, 100000000L, &limit)) {
            i++;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!path) {
        fputs(usage, stderr);
        return 2;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "mlc audit: %s: %s\n", path, db ? sqlite3_errmsg(db) : "cannot open");
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]) && !src; i++)
        if (has_table(db, sources[i].proof_table))
            src = &sources[i];
    if (!src) {
        fprintf(stderr, "mlc audit: %s: not an ml-connector state database (%s)\n", path,
                sqlite3_errmsg(db));
        goto out;
    }
    if (as_json) {
        json = cJSON_CreateObject();
        if (!json || !cJSON_AddStringToObject(json, "kind", src->kind))
            goto out;
    }
    code = 0;
    for (const struct audit_section *sec = src->sections; sec->name; sec++) {
        if (customer && !sec->per_customer)
            continue;
        if (!print_section(db, sec, customer, company, limit, json)) {
            code = 1;
            goto out;
        }
    }
    if (json) {
        char *text = cJSON_PrintUnformatted(json);

        if (!text) {
            code = 1;
            goto out;
        }
        puts(text);
        cJSON_free(text);
    }
out:
    cJSON_Delete(json);
    sqlite3_close(db);
    return code;
}

/* mlc status [--extractor-db FILE] [--loader-db FILE] [--dlq-db FILE] [--json | --html FILE]
 *
 * One look at the pipeline's state: each company's watermark and last cycle
 * (extractor state file), the loader group's committed offsets and lag per
 * partition (Kafka: MLC_KAFKA_BROKERS, MLC_TOPIC, MLC_KAFKA_GROUP; the group
 * is never joined, so live loaders are not rebalanced), the last seen
 * Pipedrive budget and burst headroom, outcome counts of the last 24 h and
 * the DLQ count and tokens per day by kind over 7 days (loader state file),
 * dead letters not yet replayed (with the record of `mlc dlq replay`). The
 * same facts as text, JSON or one self-contained HTML page (status_html.c).
 * The state files are opened read-only
 * (SQLITE_OPEN_READONLY), so status never blocks a worker. A missing file or
 * unreachable brokers are reported and the rest is still printed: exit 0;
 * 2 only for bad arguments.
 */
#include "mlc_cli.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STATUS_KAFKA_TIMEOUT_MS 4000

static const char usage[] =
    "mlc: usage: mlc status [--extractor-db FILE] [--loader-db FILE] [--dlq-db FILE]\n"
    "                       [--json | --html FILE]\n"
    "  defaults ./mlc-extractor.db, ./mlc-loader.db and ./mlc-dlq.db (the record of\n"
    "  mlc dlq replay); Kafka from MLC_KAFKA_BROKERS\n";

/* Opens path read-only; NULL with *why set when it cannot. */
static sqlite3 *open_ro(const char *path, const char **why)
{
    sqlite3 *db = NULL;

    if (access(path, F_OK) != 0) {
        *why = "missing";
        return NULL;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        *why = db ? sqlite3_errmsg(db) : "cannot open";
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 2000);
    return db;
}

/* Runs sql and adds one object per row (columns by name) to arr. */
static bool rows_to_json(sqlite3 *db, const char *sql, cJSON *arr, const char **why)
{
    sqlite3_stmt *s = NULL;
    int rc, ncol;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        *why = sqlite3_errmsg(db);
        return false;
    }
    ncol = sqlite3_column_count(s);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();

        for (int i = 0; i < ncol; i++) {
            const char *name = sqlite3_column_name(s, i);

            switch (sqlite3_column_type(s, i)) {
            case SQLITE_INTEGER:
            case SQLITE_FLOAT:
                cJSON_AddNumberToObject(o, name, sqlite3_column_double(s, i));
                break;
            case SQLITE_NULL:
                cJSON_AddNullToObject(o, name);
                break;
            default:
                cJSON_AddStringToObject(o, name, (const char *)sqlite3_column_text(s, i));
            }
        }
        cJSON_AddItemToArray(arr, o);
    }
    if (rc != SQLITE_DONE)
        *why = sqlite3_errmsg(db);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE;
}

static void extractor_status(const char *path, cJSON *doc)
{
    cJSON *x = cJSON_AddObjectToObject(doc, "extractor");
    const char *why = NULL;
    sqlite3 *db;

    cJSON_AddStringToObject(x, "db", path);
    db = open_ro(path, &why);
    if (!db) {
        cJSON_AddStringToObject(x, "error", why);
        return;
    }
    if (!rows_to_json(db,
                      "WITH RECURSIVE co(company) AS (SELECT min(company) FROM cycle UNION ALL "
                      "SELECT (SELECT min(company) FROM cycle WHERE company > co.company) FROM co "
                      "WHERE co.company IS NOT NULL) "
                      "SELECT c.company, w.day AS watermark, c.id AS cycle, c.kind, c.result, "
                      "c.started_at, c.finished_at, c.records, c.published, c.unchanged, "
                      "c.missing, c.duration_ms, c.error FROM co JOIN cycle c ON c.id = (SELECT "
                      "max(id) FROM cycle x WHERE x.company = co.company) LEFT JOIN watermark w ON "
                      "w.company = c.company UNION ALL SELECT w.company, w.day, NULL, NULL, NULL, "
                      "NULL, NULL, "
                      "NULL, NULL, NULL, NULL, NULL, NULL FROM watermark w WHERE NOT EXISTS "
                      "(SELECT 1 FROM cycle c WHERE c.company = w.company) ORDER BY 1",
                      cJSON_AddArrayToObject(x, "companies"), &why) ||
        !rows_to_json(db,
                      "SELECT value AS settings FROM learned WHERE name = 'insecure_settings' "
                      "AND value <> ''",
                      cJSON_AddArrayToObject(x, "insecure"), &why) ||
        /* the customers Sage 300 has: the records of each company's last
         * full scan, else of its first cycle (no watermark yet: it reads
         * every customer); the forecast's other source */
        !rows_to_json(db,
                      "WITH RECURSIVE co(company) AS (SELECT min(company) FROM cycle UNION ALL "
                      "SELECT (SELECT min(company) FROM cycle WHERE company > co.company) FROM co "
                      "WHERE co.company IS NOT NULL) "
                      "SELECT sum(c.records) AS customers, count(*) AS companies FROM co JOIN "
                      "cycle c ON c.id = coalesce((SELECT max(id) FROM cycle x WHERE x.company = "
                      "co.company AND x.kind = 'full' AND x.result = 'ok'), (SELECT min(id) FROM "
                      "cycle x WHERE x.company = co.company AND x.kind = 'incremental' AND "
                      "x.result = 'ok'))",
                      cJSON_AddArrayToObject(x, "full_scan"), &why))
        cJSON_AddStringToObject(x, "error", why);
    sqlite3_close(db);
}

/* Copies the replay record of `mlc dlq replay` (dlq_path, when it exists)
 * into a temporary table of db, so the loader's dead letters can be told
 * apart: replayed or not yet. False when there is no record to read. */
static bool load_replayed(sqlite3 *db, const char *dlq_path, const char **why)
{
    sqlite3 *r = NULL;
    sqlite3_stmt *sel = NULL, *ins = NULL;
    bool ok = false;

    if (!dlq_path || !(r = open_ro(dlq_path, why)))
        return false;
    if (sqlite3_exec(db,
                     "CREATE TEMP TABLE replayed (topic TEXT, part INTEGER, off INTEGER); "
                     "CREATE INDEX temp.replayed_k ON replayed (topic, part, off)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r,
                           "SELECT orig_topic, orig_partition, orig_offset FROM replayed "
                           "WHERE orig_offset IS NOT NULL",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO temp.replayed VALUES (?1, ?2, ?3)", -1, &ins, NULL) !=
            SQLITE_OK) {
        *why = sqlite3_errmsg(sel ? db : r);
        goto out;
    }
    while (sqlite3_step(sel) == SQLITE_ROW) {
        for (int c = 0; c < 3; c++)
            sqlite3_bind_value(ins, c + 1, sqlite3_column_value(sel, c));
        if (sqlite3_step(ins) != SQLITE_DONE) {
            *why = sqlite3_errmsg(db);
            goto out;
        }
        sqlite3_reset(ins);
    }
    ok = true;
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_close(r);
    return ok;
}

static void loader_status(const char *path, const char *dlq_path, cJSON *doc)
{
    cJSON *x = cJSON_AddObjectToObject(doc, "loader");
    const char *why = NULL;
    sqlite3 *db;
    bool ok;

    cJSON_AddStringToObject(x, "db", path);
    db = open_ro(path, &why);
    if (!db) {
        cJSON_AddStringToObject(x, "error", why);
        return;
    }
    if (sqlite3_table_column_metadata(db, NULL, "outcome_hour", "hour", NULL, NULL, NULL, NULL,
                                      NULL) != SQLITE_OK) {
        /* read-only: status never migrates a worker's file */
        cJSON_AddStringToObject(x, "error",
                                "written by an older mlc-loader: its summaries appear once this "
                                "release's loader has started on it");
        sqlite3_close(db);
        return;
    }
    ok = rows_to_json(db, "SELECT key, value FROM meta ORDER BY key",
                      cJSON_AddArrayToObject(x, "meta"), &why) &&
         /* "24 h": the hourly summaries of the last 24 whole hours and the
          * current one (a few hundred rows, whatever the audit holds) */
         rows_to_json(db,
                      "SELECT outcome, sum(count) AS count FROM outcome_hour WHERE hour >= "
                      "strftime('%Y-%m-%dT%H', 'now', '-1 day') GROUP BY outcome "
                      "ORDER BY outcome",
                      cJSON_AddArrayToObject(x, "outcomes_24h"), &why) &&
         rows_to_json(db,
                      "SELECT coalesce(sum(calls), 0) AS calls, coalesce(sum(tokens), 0) AS "
                      "tokens, coalesce(sum(status_429), 0) AS status_429, "
                      "coalesce(sum(status_5xx), 0) AS status_5xx, (SELECT max(at) FROM "
                      "call_audit) AS last_call_at FROM spend_hour WHERE hour >= "
                      "strftime('%Y-%m-%dT%H', 'now', '-1 day')",
                      cJSON_AddArrayToObject(x, "calls_24h"), &why) &&
         rows_to_json(db,
                      "SELECT count(*) AS dlq, max(at) AS last_dlq_at FROM event_audit WHERE "
                      "outcome = 'dlq'",
                      cJSON_AddArrayToObject(x, "dlq"), &why) &&
         rows_to_json(db,
                      "SELECT count(*) AS organizations FROM idmap WHERE org_id <> 0 AND state = "
                      "'active'",
                      cJSON_AddArrayToObject(x, "idmap"), &why);
    ok = ok && rows_to_json(db,
                            "SELECT company, customer, org_id, "
                            "json_extract(payload, '$.duplicate_ids') AS ids FROM idmap WHERE "
                            "state = 'duplicate' ORDER BY company, customer LIMIT 100",
                            cJSON_AddArrayToObject(x, "duplicates"), &why);
    /* Tokens per day and kind over the last 7 days, from the hourly
     * spending summary the loader keeps with the call audit (the kind is
     * the call's operation: loader/ld_calls.c) */
    ok = ok && rows_to_json(db,
                            "SELECT substr(hour, 1, 10) AS day, "
                            "sum(CASE WHEN kind = 'creates' THEN tokens ELSE 0 END) AS creates, "
                            "sum(CASE WHEN kind = 'updates' THEN tokens ELSE 0 END) AS updates, "
                            "sum(CASE WHEN kind = 'scans' THEN tokens ELSE 0 END) AS scans, "
                            "sum(CASE WHEN kind = 'field_setup' THEN tokens ELSE 0 END) AS "
                            "field_setup, "
                            "sum(CASE WHEN kind = 'probes' THEN tokens ELSE 0 END) AS probes, "
                            "sum(CASE WHEN kind = 'other' THEN tokens ELSE 0 END) AS other, "
                            "sum(tokens) AS total, sum(status_429) AS status_429, sum(calls) AS "
                            "calls FROM spend_hour WHERE hour >= strftime('%Y-%m-%d', 'now', "
                            "'-6 days') GROUP BY day ORDER BY day",
                            cJSON_AddArrayToObject(x, "spending_7d"), &why);
    if (ok && load_replayed(db, dlq_path, &why))
        ok = rows_to_json(db,
                          "SELECT count(*) AS not_replayed FROM event_audit a WHERE a.outcome = "
                          "'dlq' AND NOT EXISTS (SELECT 1 FROM temp.replayed r WHERE r.topic = "
                          "a.topic AND r.part = a.partition AND r.off = a.offset)",
                          cJSON_AddArrayToObject(x, "dlq_open"), &why);
    if (!ok)
        cJSON_AddStringToObject(x, "error", why);
    sqlite3_close(db);
}

/* The value of meta key in the loader's document, parsed as a number;
 * false when absent or not a number. */
static bool meta_num(const cJSON *l, const char *key, double *out)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "meta"))
    {
        const char *k = status_str(it, "key"), *v = status_str(it, "value");
        char *end = NULL;

        if (k && v && !strcmp(k, key)) {
            *out = strtod(v, &end);
            return end != v && *end == '\0';
        }
    }
    return false;
}

/* The initial-load forecast (docs/operations.md, Day to day) from what the
 * loader recorded in meta (daily_budget, reserve_pct, lag, daily_remaining,
 * backlog_creates) and, with the extractor's state file, its customers less
 * the loader's organizations. Never reads the topic. */
static void forecast_status(cJSON *doc)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(doc, "loader");
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(doc, "extractor");
    const cJSON *scan = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(x, "full_scan"), 0);
    const cJSON *map = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "idmap"), 0);
    cJSON *f = cJSON_AddObjectToObject(doc, "forecast");
    double budget = 0, reserve = 0, headroom = 0, lag = -1, backlog = -1, left = -1, waiting = -1;
    double unmapped = -1, net, tokens, days, usable, rest;
    const char *source = NULL;
    char date[16];
    long k;
    time_t end;
    struct tm tm;

    if (!l || status_str(l, "error"))
        return;
    meta_num(l, "daily_budget", &budget);
    meta_num(l, "reserve_pct", &reserve);
    meta_num(l, "headroom_pct", &headroom); /* absent before the backlog: 0 */
    meta_num(l, "lag", &lag);
    meta_num(l, "daily_remaining", &left);
    if (meta_num(l, "backlog_creates", &backlog) && backlog >= 0) {
        waiting = backlog;
        source = "backlog_creates";
    }
    if (scan && map && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(scan, "customers"))) {
        unmapped = status_num(scan, "customers", 0) - status_num(map, "organizations", 0);
        if (unmapped < 0)
            unmapped = 0;
        if (unmapped > waiting) {
            waiting = unmapped;
            source = "extractor";
        }
    }
    cJSON_AddNumberToObject(f, "daily_budget", budget);
    cJSON_AddNumberToObject(f, "reserve_pct", reserve);
    cJSON_AddNumberToObject(f, "headroom_pct", headroom);
    /* creates stop for the day at the reserve plus the update headroom */
    net = budget * (100.0 - reserve - headroom) / 100.0;
    cJSON_AddNumberToObject(f, "net_daily", net);
    cJSON_AddNumberToObject(f, "lag", lag);
    if (backlog >= 0)
        cJSON_AddNumberToObject(f, "backlog_creates", backlog);
    else
        cJSON_AddNullToObject(f, "backlog_creates");
    if (unmapped >= 0)
        cJSON_AddNumberToObject(f, "extractor_unmapped", unmapped);
    else
        cJSON_AddNullToObject(f, "extractor_unmapped");
    if (!source) {
        cJSON_AddStringToObject(f, "error",
                                "no count of customers waiting: the loader records "
                                "backlog_creates, or give --extractor-db");
        return;
    }
    cJSON_AddStringToObject(f, "source", source);
    cJSON_AddNumberToObject(f, "customers_without_org", waiting);
    tokens = waiting * 5;
    cJSON_AddNumberToObject(f, "tokens", tokens);
    if (net <= 0) {
        cJSON_AddStringToObject(f, "error", "daily budget unknown (the loader has not seen it)");
        return;
    }
    days = tokens / net;
    cJSON_AddNumberToObject(f, "eta_days", days);
    end = time(NULL) + (time_t)(days * 86400.0);
    gmtime_r(&end, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    cJSON_AddStringToObject(f, "eta_date", date);
    /* by day: what is left of today's budget above the reserve first, then
     * one net budget a day (the day the last create is written) */
    usable = left >= 0 ? left - budget * (reserve + headroom) / 100.0 : 0;
    if (usable < 0)
        usable = 0;
    rest = tokens - usable;
    cJSON_AddNumberToObject(f, "usable_today", usable);
    k = rest > 0 ? (long)(rest / net) : 0;
    if (rest > 0 && (double)k * net < rest)
        k++;
    cJSON_AddNumberToObject(f, "finish_day", (double)k);
}

/* Committed offsets of the group and high watermarks, without joining. */
static void kafka_status(const struct mlc_config *cfg, cJSON *doc)
{
    cJSON *k = cJSON_AddObjectToObject(doc, "kafka");
    const char *brokers = mlc_cfg_str(cfg, MLC_CFG_KAFKA_BROKERS);
    const char *topic = mlc_cfg_str(cfg, MLC_CFG_TOPIC);
    const char *group = mlc_cfg_str(cfg, MLC_CFG_KAFKA_GROUP);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_t *rkt = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_resp_err_t e;
    char errstr[512] = "";
    cJSON *arr;

    cJSON_AddStringToObject(k, "brokers", brokers);
    cJSON_AddStringToObject(k, "topic", topic);
    cJSON_AddStringToObject(k, "group", group);
    if (!*brokers) {
        cJSON_AddStringToObject(k, "error", "MLC_KAFKA_BROKERS is not set");
        return;
    }
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr)))
        goto fail;
    for (size_t i = 0; i < cfg->n_rdkafka; i++)
        if (rd_kafka_conf_set(conf, cfg->rdkafka[i].key, cfg->rdkafka[i].value, errstr,
                              sizeof(errstr)))
            goto fail;
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk)
        goto fail;
    conf = NULL; /* owned by rk */
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    e = rd_kafka_metadata(rk, 0, rkt, &md, STATUS_KAFKA_TIMEOUT_MS);
    if (e) {
        snprintf(errstr, sizeof(errstr), "brokers unreachable within %d ms: %s",
                 STATUS_KAFKA_TIMEOUT_MS, rd_kafka_err2str(e));
        goto fail;
    }
    if (md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(
            errstr, sizeof(errstr), "topic %s: %s", topic,
            rd_kafka_err2str(md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        goto fail;
    }
    parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id);
    e = rd_kafka_committed(rk, parts, STATUS_KAFKA_TIMEOUT_MS);
    if (e) {
        snprintf(errstr, sizeof(errstr), "committed offsets of group %s: %s", group,
                 rd_kafka_err2str(e));
        goto fail;
    }
    arr = cJSON_AddArrayToObject(k, "partitions");
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = -1, hi = -1;
        cJSON *o = cJSON_CreateObject();

        cJSON_AddNumberToObject(o, "partition", p->partition);
        e = rd_kafka_query_watermark_offsets(rk, topic, p->partition, &lo, &hi,
                                             STATUS_KAFKA_TIMEOUT_MS);
        if (p->offset >= 0)
            cJSON_AddNumberToObject(o, "committed", (double)p->offset);
        else
            cJSON_AddNullToObject(o, "committed");
        if (e) {
            cJSON_AddNullToObject(o, "high");
            cJSON_AddNullToObject(o, "lag");
            cJSON_AddStringToObject(o, "error", rd_kafka_err2str(e));
        } else {
            cJSON_AddNumberToObject(o, "high", (double)hi);
            /* nothing committed yet: everything from the low watermark is lag */
            cJSON_AddNumberToObject(o, "lag", (double)(hi - (p->offset >= 0 ? p->offset : lo)));
        }
        cJSON_AddItemToArray(arr, o);
    }
    goto out;
fail:
    cJSON_AddStringToObject(k, "error", errstr);
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (rk)
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (conf)
        rd_kafka_conf_destroy(conf);
}

/* The string at key for printing: never NULL, so no "%s" receives a null
 * pointer (undefined behaviour) when the document lacks a field. */
static const char *status_text(const cJSON *o, const char *key)
{
    const char *s = status_str(o, key);

    return s ? s : "-";
}

static void print_forecast(const cJSON *f)
{
    if (!f)
        return;
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(f, "customers_without_org")))
        printf("  initial load: %.0f customers without organization (%s), %.0f tokens\n",
               status_num(f, "customers_without_org", 0), status_text(f, "source"),
               status_num(f, "tokens", 0));
    if (status_str(f, "error")) {
        printf("  forecast: %s\n", status_text(f, "error"));
        return;
    }
    printf("  forecast: daily budget %.0f - reserve %.0f %% - update headroom %.0f %% = %.0f "
           "tokens a day for creates: %.2f days, done about %s (UTC); by day: day %.0f after "
           "today\n",
           status_num(f, "daily_budget", 0), status_num(f, "reserve_pct", 0),
           status_num(f, "headroom_pct", 0), status_num(f, "net_daily", 0),
           status_num(f, "eta_days", 0), status_text(f, "eta_date"),
           status_num(f, "finish_day", 0));
}

static void print_extractor(const cJSON *x)
{
    const cJSON *it;

    printf("== extractor (%s)\n", status_text(x, "db"));
    if (status_str(x, "error"))
        printf("  %s\n", status_text(x, "error"));
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(x, "insecure"))
        printf("  INSECURE since the last start: %s (docs/operations.md, Security model)\n",
               status_text(it, "settings"));
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(x, "companies"))
    {
        printf("  %-15s watermark=%s last=%s %s cycle %.0f at %s records=%.0f published=%.0f "
               "missing=%.0f",
               status_text(it, "company"), status_text(it, "watermark"), status_text(it, "kind"),
               status_text(it, "result"), status_num(it, "cycle", 0),
               status_str(it, "finished_at")  ? status_str(it, "finished_at")
               : status_str(it, "started_at") ? status_str(it, "started_at")
                                              : "-",
               status_num(it, "records", 0), status_num(it, "published", 0),
               status_num(it, "missing", 0));
        if (status_str(it, "error"))
            printf(" error=\"%s\"", status_text(it, "error"));
        putchar('\n');
    }
}

static void print_kafka(const cJSON *k)
{
    const cJSON *it;

    printf("== kafka (brokers %s, topic %s, group %s)\n", status_text(k, "brokers"),
           status_text(k, "topic"), status_text(k, "group"));
    if (status_str(k, "error"))
        printf("  %s\n", status_text(k, "error"));
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(k, "partitions"))
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "committed");

        printf("  partition %-3.0f committed=", status_num(it, "partition", 0));
        if (cJSON_IsNumber(c))
            printf("%.0f", c->valuedouble);
        else
            fputs("none", stdout);
        printf(" high=%.0f lag=%.0f\n", status_num(it, "high", -1), status_num(it, "lag", -1));
    }
}

/* The loader's meta facts worth a line of their own. */
static void print_loader_meta(const cJSON *l)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "meta"))
    {
        const char *key = status_text(it, "key");

        if (!strcmp(key, "daily_remaining"))
            printf("  pipedrive daily budget left (last seen): %s tokens\n",
                   status_text(it, "value"));
        else if (!strcmp(key, "burst_remaining"))
            printf("  pipedrive burst headroom (last seen, remaining/limit; -1 = no header): %s\n",
                   status_text(it, "value"));
        else if (!strcmp(key, "insecure_settings") && status_str(it, "value") &&
                 *status_str(it, "value"))
            printf("  INSECURE since the last start: %s (docs/operations.md, Security model)\n",
                   status_text(it, "value"));
    }
}

/* Calls, outcomes and tokens by day. */
static void print_loader_activity(const cJSON *l)
{
    const cJSON *it, *first;

    if (cJSON_GetObjectItemCaseSensitive(l, "outcomes_24h")) {
        fputs("  outcomes (24 h):", stdout);
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "outcomes_24h"))
            printf(" %s=%.0f", status_text(it, "outcome"), status_num(it, "count", 0));
        putchar('\n');
    }
    first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "calls_24h"), 0);
    if (first)
        printf("  pipedrive calls (24 h): %.0f, tokens %.0f, 429s %.0f, 5xx %.0f, last at %s\n",
               status_num(first, "calls", 0), status_num(first, "tokens", 0),
               status_num(first, "status_429", 0), status_num(first, "status_5xx", 0),
               status_text(first, "last_call_at"));
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "spending_7d")) > 0)
        printf("  tokens by day    creates  updates    scans   fields   probes    other    total   "
               "429s\n");
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "spending_7d"))
    {
        printf("    %-12s %8.0f %8.0f %8.0f %8.0f %8.0f %8.0f %8.0f %6.0f\n",
               status_text(it, "day"), status_num(it, "creates", 0), status_num(it, "updates", 0),
               status_num(it, "scans", 0), status_num(it, "field_setup", 0),
               status_num(it, "probes", 0), status_num(it, "other", 0), status_num(it, "total", 0),
               status_num(it, "status_429", 0));
    }
}

static void print_loader(const cJSON *l, const cJSON *forecast)
{
    const cJSON *it, *first, *open;

    printf("== loader (%s)\n", status_text(l, "db"));
    if (status_str(l, "error"))
        printf("  %s\n", status_text(l, "error"));
    print_loader_meta(l);
    first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "idmap"), 0);
    if (first)
        printf("  organizations mapped: %.0f\n", status_num(first, "organizations", 0));
    print_loader_activity(l);
    print_forecast(forecast);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "duplicates"))
    {
        printf("  duplicate: %s:%s organizations %s (merge them in Pipedrive)\n",
               status_text(it, "company"), status_text(it, "customer"),
               status_str(it, "ids") ? status_str(it, "ids") : "?");
    }
    first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "dlq"), 0);
    if (first)
        printf("  dlq: %.0f (last at %s)", status_num(first, "dlq", 0),
               status_text(first, "last_dlq_at"));
    open = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "dlq_open"), 0);
    if (first && open)
        printf(", %.0f not yet replayed (mlc dlq list)", status_num(open, "not_replayed", 0));
    if (first)
        putchar('\n');
}

static void print_text(const cJSON *doc)
{
    print_extractor(cJSON_GetObjectItemCaseSensitive(doc, "extractor"));
    print_kafka(cJSON_GetObjectItemCaseSensitive(doc, "kafka"));
    print_loader(cJSON_GetObjectItemCaseSensitive(doc, "loader"),
                 cJSON_GetObjectItemCaseSensitive(doc, "forecast"));
}

int mlc_cmd_status(struct mlc_app *app)
{
    const char *ext = "./mlc-extractor.db", *ld = "./mlc-loader.db", *dlq = "./mlc-dlq.db";
    const char *html = NULL;
    struct mlc_err err = {0};
    bool json = false;
    cJSON *doc = NULL;
    char *out = NULL;
    int code = 2;

    for (int i = 1; i < app->argc; i++) {
        const char *a = app->argv[i];

        if (!strcmp(a, "--json"))
            json = true;
        else if (!strcmp(a, "--extractor-db") && i + 1 < app->argc)
            ext = app->argv[++i];
        else if (!strcmp(a, "--loader-db") && i + 1 < app->argc)
            ld = app->argv[++i];
        else if (!strcmp(a, "--dlq-db") && i + 1 < app->argc)
            dlq = app->argv[++i];
        else if (!strcmp(a, "--html") && i + 1 < app->argc)
            html = app->argv[++i];
        else {
            fputs(usage, stderr);
            goto out;
        }
    }
    doc = cJSON_CreateObject();
    extractor_status(ext, doc);
    kafka_status(&app->cfg, doc);
    loader_status(ld, access(dlq, F_OK) == 0 ? dlq : NULL, doc);
    forecast_status(doc);
    if (html) {
        if (status_write_html(doc, html, &err) != MLC_OK) {
            mlc_app_fail(app, &err);
            goto out;
        }
    } else if (json) {
        out = cJSON_PrintUnformatted(doc);
        if (!out)
            goto out;
        puts(out);
    } else {
        print_text(doc);
    }
    code = 0;
out:
    free(out);
    cJSON_Delete(doc);
    return code;
}

/* mlc dlq list|show|replay - dead letters, seen and replayed by the operator.
 *
 * list    every dead letter of MLC_DLQ_TOPIC: its place in that topic, reason
 *         class, customer key, age, original place, whether it was replayed
 * show    one dead letter (PARTITION:OFFSET in the dead-letter topic): every
 *         header and the event, pretty-printed when it is JSON
 * replay  re-produces the selected dead letters to MLC_TOPIC with their
 *         original key, value and headers (a signature stays as it was) and
 *         a header mlc.replay.of naming the dead letter; the loader then
 *         validates and checks them like any event. Recorded in --db, so
 *         the same selection replays once unless --again. Dead letters
 *         refused for their signature are listed but never replayed.
 *
 * Filters (list, replay): --reason CLASS, --customer NUMBER|COMPANY:NUMBER,
 * --company CO, --since T (when the loader dead-lettered it, ISO 8601 UTC).
 */
#include "dlq.h"
#include "mlc_cli.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_str.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DLQ_DEFAULT_DB  "./mlc-dlq.db"
#define DLQ_PRODUCE_MS  30000
#define SIGNATURE_CLASS "signature"
#define REPLAY_HEADER   "mlc.replay.of"
#define MAX_OUT_HEADERS 64

static const char usage[] =
    "mlc: usage: mlc dlq list [FILTERS] [--json] [--db FILE]\n"
    "            mlc dlq show PARTITION:OFFSET [--json]\n"
    "            mlc dlq replay [FILTERS] [--again] [--db FILE]\n"
    "  FILTERS: --reason CLASS --customer NUMBER|COMPANY:NUMBER --company CO --since T\n"
    "  --db: the replay record (default " DLQ_DEFAULT_DB "); Kafka from MLC_KAFKA_BROKERS\n";

struct dlq_args {
    const char *verb;
    const char *reason, *customer, *company, *db, *which;
    char since[20];
    bool json, again;
};

static int usage_error(const char *why)
{
    fprintf(stderr, "mlc: dlq: %s\n%s", why, usage);
    return 2;
}

/* 0 when parsed, else the exit status (2). */
static int parse_args(const struct mlc_app *app, struct dlq_args *a)
{
    memset(a, 0, sizeof(*a));
    a->db = DLQ_DEFAULT_DB;
    if (app->argc < 2)
        return usage_error("list, show or replay?");
    a->verb = app->argv[1];
    for (int i = 2; i < app->argc; i++) {
        const char *o = app->argv[i], *v = i + 1 < app->argc ? app->argv[i + 1] : NULL;

        if (!strcmp(o, "--json"))
            a->json = true;
        else if (!strcmp(o, "--again"))
            a->again = true;
        else if (!strcmp(o, "--reason") && v)
            a->reason = app->argv[++i];
        else if (!strcmp(o, "--customer") && v)
            a->customer = app->argv[++i];
        else if (!strcmp(o, "--company") && v)
            a->company = app->argv[++i];
        else if (!strcmp(o, "--db") && v)
            a->db = app->argv[++i];
        else if (!strcmp(o, "--since") && v && mlc_cli_parse_time(v, false, a->since))
            i++;
        else if (o[0] != '-' && !a->which)
            a->which = o;
        else
            return usage_error(!strcmp(o, "--since") ? "--since takes YYYY-MM-DD[THH:MM[:SS]][Z]"
                                                     : "unknown or incomplete option");
    }
    if (!strcmp(a->verb, "show") ? !a->which : a->which != NULL)
        return usage_error(a->which ? "only show takes PARTITION:OFFSET"
                                    : "show needs PARTITION:OFFSET");
    return 0;
}

/* The key is COMPANY:NUMBER (docs/events.md); a filter may give either part. */
static bool selected(const struct dlq_args *a, const struct dlq_entry *e)
{
    const char *colon = strchr(e->key, ':');
    size_t co_len = colon ? (size_t)(colon - e->key) : 0;

    if (a->reason && strcmp(a->reason, e->cls))
        return false;
    if (a->company &&
        (!colon || strlen(a->company) != co_len || strncmp(a->company, e->key, co_len)))
        return false;
    if (a->customer && strcmp(a->customer, e->key) && (!colon || strcmp(a->customer, colon + 1)))
        return false;
    if (a->since[0] && strncmp(e->failed_at, a->since, 19) < 0)
        return false;
    return true;
}

/* "3d 4h", "2h 5m", "40s": how long ago the loader dead-lettered it. */
static void age_of(const char *failed_at, time_t now, char *out, size_t outsz)
{
    struct tm tm;
    long s;

    memset(&tm, 0, sizeof(tm));
    if (!*failed_at || !strptime(failed_at, "%Y-%m-%dT%H:%M:%S", &tm)) {
        snprintf(out, outsz, "?");
        return;
    }
    s = (long)difftime(now, timegm(&tm));
    if (s < 0)
        s = 0;
    if (s >= 86400)
        snprintf(out, outsz, "%ldd %ldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(out, outsz, "%ldh %ldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(out, outsz, "%ldm %lds", s / 60, s % 60);
    else
        snprintf(out, outsz, "%lds", s);
}

static cJSON *entry_json(const struct dlq_entry *e, const char *age)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "partition", e->partition);
    cJSON_AddNumberToObject(o, "offset", (double)e->offset);
    cJSON_AddStringToObject(o, "reason", e->cls);
    cJSON_AddStringToObject(o, "error", e->error);
    cJSON_AddStringToObject(o, "key", e->key);
    cJSON_AddStringToObject(o, "failed_at", e->failed_at);
    cJSON_AddStringToObject(o, "age", age);
    cJSON_AddStringToObject(o, "original_topic", e->orig_topic);
    cJSON_AddNumberToObject(o, "original_partition", e->orig_partition);
    cJSON_AddNumberToObject(o, "original_offset", (double)e->orig_offset);
    cJSON_AddBoolToObject(o, "replayed", e->replayed);
    cJSON_AddBoolToObject(o, "replayable", strcmp(e->cls, SIGNATURE_CLASS) != 0);
    return o;
}

static int list(const struct dlq_args *a, const struct dlq_set *set)
{
    time_t now = time(NULL);
    size_t shown = 0, open = 0;
    cJSON *arr = a->json ? cJSON_CreateArray() : NULL;

    if (!a->json)
        printf("%-12s %-14s %-24s %-9s %-22s %s\n", "DLQ", "REASON", "CUSTOMER", "AGE", "ORIGINAL",
               "REPLAYED");
    for (size_t i = 0; i < set->n; i++) {
        const struct dlq_entry *e = &set->e[i];
        char age[32], place[24], orig[48];

        if (!selected(a, e))
            continue;
        shown++;
        open += !e->replayed;
        age_of(e->failed_at, now, age, sizeof(age));
        if (arr) {
            cJSON_AddItemToArray(arr, entry_json(e, age));
            continue;
        }
        snprintf(place, sizeof(place), "%d:%lld", (int)e->partition, (long long)e->offset);
        snprintf(orig, sizeof(orig), "%d:%lld", (int)e->orig_partition, (long long)e->orig_offset);
        printf("%-12s %-14s %-24s %-9s %-22s %s\n", place, *e->cls ? e->cls : "?", e->key, age,
               orig,
               !strcmp(e->cls, SIGNATURE_CLASS) ? "never (signature)"
               : e->replayed                    ? "yes"
                                                : "-");
    }
    if (arr) {
        char *text = cJSON_PrintUnformatted(arr);

        printf("%s\n", text ? text : "[]");
        free(text);
        cJSON_Delete(arr);
    } else {
        printf("%zu dead letter(s) shown of %zu; %zu not yet replayed\n", shown, set->n, open);
    }
    return 0;
}

static int show(const struct dlq_args *a, const struct dlq_set *set)
{
    long part, off;
    const char *colon = strchr(a->which, ':');
    char p[16];

    snprintf(p, sizeof(p), "%.*s", colon ? (int)(colon - a->which) : 0, a->which);
    if (!colon || !mlc_parse_long(p, 0, INT32_MAX, &part) ||
        !mlc_parse_long(colon + 1, 0, LONG_MAX, &off))
        return usage_error("show needs PARTITION:OFFSET, e.g. 0:12");
    for (size_t i = 0; i < set->n; i++) {
        const struct dlq_entry *e = &set->e[i];
        cJSON *ev;
        char *pretty;

        if (e->partition != part || e->offset != off)
            continue;
        printf("dead letter %d:%lld  key %s\n", (int)e->partition, (long long)e->offset, e->key);
        for (size_t k = 0; k < e->n_h; k++)
            printf("  %s: %s\n", e->h[k].name, e->h[k].value ? e->h[k].value : "(null)");
        ev = cJSON_ParseWithLength(e->value, e->value_len);
        pretty = ev ? cJSON_Print(ev) : NULL;
        printf("%s\n", pretty ? pretty : e->value);
        free(pretty);
        cJSON_Delete(ev);
        return 0;
    }
    fprintf(stderr, "mlc: dlq: no dead letter at %ld:%ld\n", part, off);
    return 1;
}

struct produced {
    int ok, failed;
};

static void on_delivery(const struct mlc_kafka_dr *dr, void *ctx)
{
    struct produced *p = ctx;

    if (dr->err)
        p->failed++;
    else
        p->ok++;
}

/* Re-produces e to topic (see the header comment) and waits for the ack. */
static mlc_rc replay_one(struct mlc_kafka_producer *prod, struct produced *pr, const char *topic,
                         const char *dlq_topic, const struct dlq_entry *e, struct mlc_err *err)
{
    struct mlc_kafka_header h[MAX_OUT_HEADERS];
    char mark[256];
    size_t nh = 0;
    int ok_before = pr->ok, left = 0;
    mlc_rc rc;

    for (size_t i = 0; i < e->n_h && nh + 1 < MAX_OUT_HEADERS; i++)
        if (!dlq_header_is_ours(e->h[i].name))
            h[nh++] = (struct mlc_kafka_header){e->h[i].name, e->h[i].value, e->h[i].len};
    snprintf(mark, sizeof(mark), "%s:%d:%lld", dlq_topic, (int)e->partition, (long long)e->offset);
    h[nh++] = (struct mlc_kafka_header){REPLAY_HEADER, mark, strlen(mark)};
    rc = mlc_kafka_produce(prod, topic, e->key, strlen(e->key), e->value, e->value_len, h, nh, NULL,
                           DLQ_PRODUCE_MS, err);
    if (rc == MLC_OK)
        rc = mlc_kafka_producer_flush(prod, DLQ_PRODUCE_MS, &left, err);
    if (rc == MLC_OK && pr->ok == ok_before)
        rc = mlc_err_set(err, MLC_RETRY, "%s: delivery of %s failed", topic, mark);
    return rc;
}

static int replay(const struct mlc_app *app, const struct dlq_args *a, const char *dlq_topic,
                  struct dlq_set *set, struct dlq_log *log)
{
    const char *topic = mlc_cfg_str(&app->cfg, MLC_CFG_TOPIC);
    struct mlc_kafka_producer *prod = NULL;
    struct produced pr = {0, 0};
    struct mlc_err err = {0};
    size_t done = 0, again = 0, refused = 0;
    mlc_rc rc = MLC_OK;

    for (size_t i = 0; i < set->n && rc == MLC_OK; i++) {
        const struct dlq_entry *e = &set->e[i];

        if (!selected(a, e))
            continue;
        if (!strcmp(e->cls, SIGNATURE_CLASS)) {
            refused++;
            continue;
        }
        if (e->replayed && !a->again) {
            again++;
            continue;
        }
        if (!prod &&
            (rc = mlc_kafka_producer_new(&app->cfg, on_delivery, &pr, &prod, &err)) != MLC_OK)
            break;
        if ((rc = replay_one(prod, &pr, topic, dlq_topic, e, &err)) == MLC_OK &&
            (rc = dlq_log_add(log, dlq_topic, e, topic, &err)) == MLC_OK) {
            printf("replayed %d:%lld %s -> %s\n", (int)e->partition, (long long)e->offset, e->key,
                   topic);
            done++;
        }
    }
    mlc_kafka_producer_free(prod);
    printf("replayed %zu; %zu already replayed (--again repeats them); %zu refused for their "
           "signature, never replayed\n",
           done, again, refused);
    if (rc != MLC_OK) {
        mlc_app_fail(app, &err);
        return mlc_app_exit_code(rc);
    }
    return 0;
}

int mlc_cmd_dlq(struct mlc_app *app)
{
    const char *dlq_topic = mlc_cfg_str(&app->cfg, MLC_CFG_DLQ_TOPIC);
    struct dlq_args a;
    struct dlq_set set = {0};
    struct dlq_log *log = NULL;
    struct mlc_err err = {0};
    int code;

    if ((code = parse_args(app, &a)) != 0)
        return code;
    if (strcmp(a.verb, "list") && strcmp(a.verb, "show") && strcmp(a.verb, "replay"))
        return usage_error("list, show or replay?");
    if (dlq_read(&app->cfg, dlq_topic, &set, &err) != MLC_OK)
        goto failed;
    /* list only reads the record; replay creates it */
    if (!strcmp(a.verb, "replay") || (!strcmp(a.verb, "list") && access(a.db, F_OK) == 0)) {
        if (dlq_log_open(a.db, &log, &err) != MLC_OK ||
            dlq_log_mark(log, dlq_topic, &set, &err) != MLC_OK)
            goto failed;
    }
    code = !strcmp(a.verb, "list")   ? list(&a, &set)
           : !strcmp(a.verb, "show") ? show(&a, &set)
                                     : replay(app, &a, dlq_topic, &set, log);
    goto out;
failed:
    mlc_app_fail(app, &err);
    code = 2;
out:
    dlq_log_close(log);
    dlq_set_free(&set);
    return code;
}

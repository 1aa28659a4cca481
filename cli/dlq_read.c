/* dlq_read.c - reading the dead-letter topic and the replay record, see dlq.h. */
#include "dlq.h"
#include "mlc_alloc.h"
#include "mlc_kafka_reader.h"
#include "mlc_store.h"
#include "mlc_str.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DLQ_READ_TIMEOUT_MS 30000

static char *copy(const void *p, size_t n)
{
    char *s = mlc_xmalloc(n + 1);

    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static const char *header(const struct dlq_entry *e, const char *name)
{
    for (size_t i = 0; i < e->n_h; i++)
        if (!strcmp(e->h[i].name, name) && e->h[i].value)
            return e->h[i].value;
    return "";
}

static void copy_headers(const rd_kafka_message_t *m, struct dlq_entry *e)
{
    rd_kafka_headers_t *hs = NULL;
    const char *name;
    const void *val;
    size_t len;

    if (rd_kafka_message_headers(m, &hs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hs)
        return;
    e->h = mlc_xcalloc(rd_kafka_header_cnt(hs) + 1, sizeof(*e->h));
    for (size_t i = 0; !rd_kafka_header_get_all(hs, i, &name, &val, &len); i++) {
        struct dlq_header *h = &e->h[e->n_h];

        h->name = copy(name, strlen(name));
        h->value = val ? copy(val, len) : NULL;
        h->len = len;
        e->n_h++;
    }
}

static mlc_rc on_message(void *ctx, const rd_kafka_message_t *m, struct mlc_err *err)
{
    struct dlq_set *set = ctx;
    struct dlq_entry *e;
    long v;

    set->e = mlc_xreallocarray(set->e, set->n + 1, sizeof(*set->e));
    e = memset(&set->e[set->n++], 0, sizeof(*e));
    e->partition = m->partition;
    e->offset = m->offset;
    e->key = copy(m->key, m->key ? m->key_len : 0);
    e->value = copy(m->payload, m->payload ? m->len : 0);
    e->value_len = m->payload ? m->len : 0;
    copy_headers(m, e);
    e->cls = header(e, "mlc.error.class");
    e->error = header(e, "mlc.error");
    e->orig_topic = header(e, "mlc.original.topic");
    e->failed_at = header(e, "mlc.failed.at");
    e->orig_partition =
        mlc_parse_long(header(e, "mlc.original.partition"), 0, INT32_MAX, &v) ? (int32_t)v : -1;
    e->orig_offset = mlc_parse_long(header(e, "mlc.original.offset"), 0, LONG_MAX, &v) ? v : -1;
    return MLC_OK;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct dlq_entry *x = a, *y = b;

    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

mlc_rc dlq_read(const struct mlc_config *cfg, const char *topic, struct dlq_set *set,
                struct mlc_err *err)
{
    mlc_rc rc;

    memset(set, 0, sizeof(*set));
    rc = mlc_kafka_read_topic(cfg, topic, DLQ_READ_TIMEOUT_MS, on_message, set, NULL, err);
    if (rc != MLC_OK) {
        dlq_set_free(set);
        return rc;
    }
    if (set->n > 1)
        qsort(set->e, set->n, sizeof(*set->e), entry_cmp);
    return MLC_OK;
}

void dlq_set_free(struct dlq_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        struct dlq_entry *e = &set->e[i];

        for (size_t k = 0; k < e->n_h; k++) {
            free(e->h[k].name);
            free(e->h[k].value);
        }
        free(e->h);
        free(e->key);
        free(e->value);
    }
    free(set->e);
    memset(set, 0, sizeof(*set));
}

bool dlq_header_is_ours(const char *name)
{
    static const char *const ours[] = {
        "mlc.original.topic", "mlc.original.partition", "mlc.original.offset", "mlc.error.class",
        "mlc.error",          "mlc.failed.at",          "mlc.replay.of"};

    for (size_t i = 0; i < ARRAY_SIZE(ours); i++)
        if (!strcmp(name, ours[i]))
            return true;
    return false;
}

/* ------------------------------------------------------------ replay record */

struct dlq_log {
    struct mlc_store *st;
};

static const char *const migrations[] = {
    /* 1: one row per dead letter re-produced to the event topic */
    "CREATE TABLE replayed ("
    "  dlq_topic TEXT NOT NULL,"
    "  dlq_partition INTEGER NOT NULL,"
    "  dlq_offset INTEGER NOT NULL,"
    "  orig_topic TEXT,"
    "  orig_partition INTEGER,"
    "  orig_offset INTEGER,"
    "  customer TEXT,"
    "  to_topic TEXT NOT NULL,"
    "  replayed_at TEXT NOT NULL,"
    "  PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)"
    ");"
    "CREATE INDEX replayed_orig ON replayed (orig_topic, orig_partition, orig_offset);",
};

mlc_rc dlq_log_open(const char *path, struct dlq_log **out, struct mlc_err *err)
{
    struct dlq_log *log = mlc_xcalloc(1, sizeof(*log));
    mlc_rc rc;

    *out = NULL;
    rc = mlc_store_open(&log->st, path, migrations, ARRAY_SIZE(migrations), NULL, err);
    if (rc != MLC_OK) {
        free(log);
        return rc;
    }
    *out = log;
    return MLC_OK;
}

void dlq_log_close(struct dlq_log *log)
{
    if (!log)
        return;
    mlc_store_close(log->st);
    free(log);
}

mlc_rc dlq_log_mark(struct dlq_log *log, const char *dlq_topic, struct dlq_set *set,
                    struct mlc_err *err)
{
    sqlite3_stmt *s = NULL;
    mlc_rc rc = mlc_store_prepare(log->st,
                                  "SELECT 1 FROM replayed WHERE dlq_topic = ?1 AND "
                                  "dlq_partition = ?2 AND dlq_offset = ?3",
                                  &s, err);

    for (size_t i = 0; rc == MLC_OK && i < set->n; i++) {
        bool row = false;

        mlc_store_reset(s);
        if ((rc = mlc_store_bind_text(log->st, s, 1, dlq_topic, err)) == MLC_OK &&
            (rc = mlc_store_bind_int64(log->st, s, 2, set->e[i].partition, err)) == MLC_OK &&
            (rc = mlc_store_bind_int64(log->st, s, 3, set->e[i].offset, err)) == MLC_OK &&
            (rc = mlc_store_step(log->st, s, &row, err)) == MLC_OK)
            set->e[i].replayed = row;
    }
    if (s)
        mlc_store_reset(s);
    return rc;
}

mlc_rc dlq_log_add(struct dlq_log *log, const char *dlq_topic, const struct dlq_entry *e,
                   const char *topic, struct mlc_err *err)
{
    sqlite3_stmt *s = NULL;
    char at[32];
    time_t now = time(NULL);
    struct tm tm;
    bool row;
    mlc_rc rc;

    gmtime_r(&now, &tm);
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    rc = mlc_store_prepare(log->st,
                           "INSERT OR REPLACE INTO replayed (dlq_topic, dlq_partition, dlq_offset, "
                           "orig_topic, orig_partition, orig_offset, customer, to_topic, "
                           "replayed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                           &s, err);
    if (rc == MLC_OK)
        rc = mlc_store_bind_text(log->st, s, 1, dlq_topic, err);
    if (rc == MLC_OK)
        rc = mlc_store_bind_int64(log->st, s, 2, e->partition, err);
    if (rc == MLC_OK)
        rc = mlc_store_bind_int64(log->st, s, 3, e->offset, err);
    if (rc == MLC_OK)
        rc = *e->orig_topic ? mlc_store_bind_text(log->st, s, 4, e->orig_topic, err)
                            : mlc_store_bind_null(log->st, s, 4, err);
    if (rc == MLC_OK)
        rc = e->orig_partition >= 0 ? mlc_store_bind_int64(log->st, s, 5, e->orig_partition, err)
                                    : mlc_store_bind_null(log->st, s, 5, err);
    if (rc == MLC_OK)
        rc = e->orig_offset >= 0 ? mlc_store_bind_int64(log->st, s, 6, e->orig_offset, err)
                                 : mlc_store_bind_null(log->st, s, 6, err);
    if (rc == MLC_OK)
        rc = mlc_store_bind_text(log->st, s, 7, e->key, err);
    if (rc == MLC_OK)
        rc = mlc_store_bind_text(log->st, s, 8, topic, err);
    if (rc == MLC_OK)
        rc = mlc_store_bind_text(log->st, s, 9, at, err);
    if (rc == MLC_OK)
        rc = mlc_store_step(log->st, s, &row, err);
    if (s)
        mlc_store_reset(s);
    return rc;
}

/* ld_backlog.c - the backlog of creates: a per-replica table of customers
 * without an organization, worked through in MLC_LOAD_ORDER while the daily
 * budget allows, and the offset floor it puts on each partition (see
 * ld_backlog.h).
 */
#include "ld_backlog.h"

#include "ld_metrics.h"
#include "ld_util.h"
#include "mlc_alloc.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "mlc_time.h"
#include "pd_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Offsets of one partition: its earliest backlog row (-1: none), how far
 * its messages are done (-1: none yet) and the offset last stored. */
struct bl_part {
    int32_t partition;
    int64_t floor, done_next, stored;
};

struct ld_backlog {
    struct ld_state *st;
    struct ld_metrics *metrics;
    enum ld_load_order order;
    int headroom_pct;
    int64_t count, written; /* written: the count in meta (-1: not yet) */
    bool dirty;             /* rows changed since the last refresh */
    bool stopped;           /* creates stopped for the day (logged once) */
    struct bl_part *parts;
    size_t n_parts, cap_parts;
};

bool ld_load_order_parse(const char *s, enum ld_load_order *out)
{
    static const char *const names[] = {"topic", "active_first", "recent_first"};

    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (s && !strcmp(s, names[i])) {
            *out = (enum ld_load_order)i;
            return true;
        }
    return false;
}

int64_t ld_offset_bound(int64_t done_next, int64_t floor)
{
    return floor >= 0 && floor < done_next ? floor : done_next;
}

bool ld_backlog_budget_allows(long remaining, long limit, int reserve_pct, int headroom_pct,
                              int cost)
{
    if (remaining < 0 || limit <= 0)
        return true; /* not known yet: the first answers tell */
    return (long long)(remaining - cost) * 100 >= (long long)limit * (reserve_pct + headroom_pct);
}

mlc_rc ld_backlog_new(struct ld *ld, struct ld_backlog **out, struct mlc_err *err)
{
    struct ld_backlog *bl = mlc_xcalloc(1, sizeof(*bl));
    mlc_rc rc;

    *out = NULL;
    bl->st = ld->st;
    bl->metrics = ld->metrics;
    bl->headroom_pct = (int)mlc_cfg_int(ld->cfg, MLC_CFG_LOAD_UPDATE_HEADROOM_PCT);
    bl->written = -1;
    if (!ld_load_order_parse(mlc_cfg_str(ld->cfg, MLC_CFG_LOAD_ORDER), &bl->order)) {
        rc = mlc_err_set(err, MLC_FATAL, "MLC_LOAD_ORDER: unknown order %s",
                         mlc_cfg_str(ld->cfg, MLC_CFG_LOAD_ORDER));
        goto out;
    }
    /* a cache: what a previous run left is read again from the committed
     * offsets of whatever partitions this replica is given */
    if ((rc = mlc_store_exec(ld_state_store(bl->st), "DELETE FROM backlog", err)) != MLC_OK)
        goto out;
    rc = ld_backlog_refresh(bl, err);
out:
    if (rc != MLC_OK) {
        ld_backlog_free(bl);
        return rc;
    }
    *out = bl;
    return MLC_OK;
}

void ld_backlog_free(struct ld_backlog *bl)
{
    if (!bl)
        return;
    free(bl->parts);
    free(bl);
}

int64_t ld_backlog_count(const struct ld_backlog *bl)
{
    return bl ? bl->count : 0;
}

static const char sql_has[] = "SELECT 1 FROM backlog WHERE company = ?1 AND customer = ?2";

mlc_rc ld_backlog_has(struct ld_backlog *bl, const char *company, const char *customer, bool *found,
                      struct mlc_err *err)
{
    struct mlc_store *s = ld_state_store(bl->st);
    sqlite3_stmt *q;
    mlc_rc rc;

    *found = false;
    if (bl->count == 0)
        return MLC_OK;
    if ((rc = mlc_store_prepare(s, sql_has, &q, err)) ||
        (rc = mlc_store_bind_text(s, q, 1, company, err)) ||
        (rc = mlc_store_bind_text(s, q, 2, customer, err)) ||
        (rc = mlc_store_step(s, q, found, err)))
        return rc;
    if (*found)
        mlc_store_reset(q);
    return MLC_OK;
}

/* The sort keys of an event: active (status active, or no status), and
 * recency (the later of last_maintained and, v2, the credit's
 * last_invoice_date; "" when neither). */
static void sort_keys(const struct mlc_event *ev, bool *active, char *recency, size_t n)
{
    const char *status = ld_json_str(ev->customer, "status");
    const char *inv = ev->credit ? ld_json_str(ev->credit, "last_invoice_date") : NULL;
    const char *lm = ev->last_maintained;

    *active = !status || strcmp(status, "inactive") != 0;
    if (inv && (!lm || strcmp(inv, lm) > 0))
        lm = inv;
    mlc_strlcpy(recency, lm ? lm : "", n);
}

static const char sql_put[] =
    "INSERT INTO backlog (company, customer, partition, first_offset, last_offset, active, "
    "recency, msg_key, msg_value, queued_ms, msg_sig) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, "
    "?8, ?9, ?10) "
    "ON CONFLICT (company, customer) DO UPDATE SET last_offset = ?4, active = ?5, recency = ?6, "
    "msg_key = ?7, msg_value = ?8, msg_sig = ?10";

mlc_rc ld_backlog_put(struct ld_backlog *bl, const struct work *w, struct mlc_err *err)
{
    struct mlc_store *s = ld_state_store(bl->st);
    const struct item *it = w->it;
    rd_kafka_headers_t *hs = NULL;
    const void *sig = NULL;
    size_t sig_len = 0;
    char recency[40];
    bool active;
    sqlite3_stmt *q;
    mlc_rc rc;

    sort_keys(&w->ev, &active, recency, sizeof(recency));
    if (it->msg && rd_kafka_message_headers(it->msg, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hs, MLC_SIGN_HEADER, &sig, &sig_len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        sig = NULL;
    if ((rc = mlc_store_prepare(s, sql_put, &q, err)) ||
        (rc = mlc_store_bind_text(s, q, 1, w->ev.company, err)) ||
        (rc = mlc_store_bind_text(s, q, 2, w->ev.customer_number, err)) ||
        (rc = mlc_store_bind_int64(s, q, 3, it->partition, err)) ||
        (rc = mlc_store_bind_int64(s, q, 4, it->offset, err)) ||
        (rc = mlc_store_bind_int64(s, q, 5, active ? 1 : 0, err)) ||
        (rc = mlc_store_bind_text(s, q, 6, recency, err)) ||
        (rc = mlc_store_bind_blob(s, q, 7, it->key, it->key_len, err)) ||
        (rc = mlc_store_bind_blob(s, q, 8, it->value ? it->value : "", it->value_len, err)) ||
        (rc = mlc_store_bind_int64(s, q, 9, mlc_realtime_ms(), err)) ||
        (rc = sig ? mlc_store_bind_blob(s, q, 10, sig, sig_len, err) : MLC_OK))
        return rc;
    bl->dirty = true;
    return mlc_store_step(s, q, NULL, err);
}

static const char sql_remove[] = "DELETE FROM backlog WHERE company = ?1 AND customer = ?2";

mlc_rc ld_backlog_remove(struct ld_backlog *bl, const char *company, const char *customer,
                         struct mlc_err *err)
{
    struct mlc_store *s = ld_state_store(bl->st);
    sqlite3_stmt *q;
    mlc_rc rc;

    if ((rc = mlc_store_prepare(s, sql_remove, &q, err)) ||
        (rc = mlc_store_bind_text(s, q, 1, company, err)) ||
        (rc = mlc_store_bind_text(s, q, 2, customer, err)))
        return rc;
    bl->dirty = true;
    return mlc_store_step(s, q, NULL, err);
}

static struct bl_part *part_of(struct ld_backlog *bl, int32_t partition)
{
    for (size_t i = 0; i < bl->n_parts; i++)
        if (bl->parts[i].partition == partition)
            return &bl->parts[i];
    if (bl->n_parts == bl->cap_parts) {
        bl->cap_parts = bl->cap_parts ? 2 * bl->cap_parts : 16;
        bl->parts = mlc_xreallocarray(bl->parts, bl->cap_parts, sizeof(*bl->parts));
    }
    bl->parts[bl->n_parts] =
        (struct bl_part){.partition = partition, .floor = -1, .done_next = -1, .stored = -1};
    return &bl->parts[bl->n_parts++];
}

static const char sql_floors[] =
    "SELECT partition, MIN(first_offset), COUNT(*) FROM backlog GROUP BY partition";

/* Writes the count to meta (for `mlc status`) and the gauge when it changed. */
static mlc_rc publish_count(struct ld_backlog *bl, struct mlc_err *err)
{
    char v[32];
    mlc_rc rc;

    if (bl->count == bl->written)
        return MLC_OK;
    snprintf(v, sizeof(v), "%lld", (long long)bl->count);
    if ((rc = ld_state_meta_set(bl->st, "backlog_creates", v, err)) != MLC_OK)
        return rc;
    bl->written = bl->count;
    ld_metrics_backlog(bl->metrics, bl->count);
    return MLC_OK;
}

mlc_rc ld_backlog_refresh(struct ld_backlog *bl, struct mlc_err *err)
{
    struct mlc_store *s = ld_state_store(bl->st);
    sqlite3_stmt *q;
    bool row = false;
    mlc_rc rc;

    if (!bl->dirty && bl->written >= 0)
        return MLC_OK;
    bl->dirty = false;
    for (size_t i = 0; i < bl->n_parts; i++)
        bl->parts[i].floor = -1;
    bl->count = 0;
    if ((rc = mlc_store_prepare(s, sql_floors, &q, err)) != MLC_OK)
        return rc;
    while ((rc = mlc_store_step(s, q, &row, err)) == MLC_OK && row) {
        struct bl_part *p = part_of(bl, (int32_t)sqlite3_column_int64(q, 0));

        p->floor = sqlite3_column_int64(q, 1);
        bl->count += sqlite3_column_int64(q, 2);
    }
    if (rc != MLC_OK)
        return rc;
    return publish_count(bl, err);
}

static const char sql_drop[] = "DELETE FROM backlog WHERE partition = ?1";

mlc_rc ld_backlog_drop_partition(struct ld_backlog *bl, int32_t partition, struct mlc_err *err)
{
    struct mlc_store *s = ld_state_store(bl->st);
    sqlite3_stmt *q;
    mlc_rc rc;

    if ((rc = mlc_store_prepare(s, sql_drop, &q, err)) ||
        (rc = mlc_store_bind_int64(s, q, 1, partition, err)) ||
        (rc = mlc_store_step(s, q, NULL, err)))
        return rc;
    for (size_t i = 0; i < bl->n_parts; i++)
        if (bl->parts[i].partition == partition) {
            bl->parts[i] = bl->parts[--bl->n_parts];
            break;
        }
    bl->dirty = true;
    return ld_backlog_refresh(bl, err);
}

/* One statement per order (a literal each: the store caches by pointer). */
static const char sql_take_topic[] =
    "SELECT partition, last_offset, msg_key, msg_value, msg_sig FROM backlog "
    "ORDER BY first_offset, partition LIMIT ?1";
static const char sql_take_active[] =
    "SELECT partition, last_offset, msg_key, msg_value, msg_sig FROM backlog "
    "ORDER BY active DESC, first_offset, partition LIMIT ?1";
static const char sql_take_recent[] =
    "SELECT partition, last_offset, msg_key, msg_value, msg_sig FROM backlog "
    "ORDER BY recency DESC, first_offset, partition LIMIT ?1";

static char *blob_copy(sqlite3_stmt *q, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(q, col);
    int n = sqlite3_column_bytes(q, col);
    char *c = mlc_xmalloc((size_t)n + 1);

    if (p && n > 0)
        memcpy(c, p, (size_t)n);
    c[n] = '\0';
    *len = (size_t)n;
    return c;
}

mlc_rc ld_backlog_take(struct ld_backlog *bl, struct item *items, size_t max, size_t *n,
                       struct mlc_err *err)
{
    static const char *const sql[] = {sql_take_topic, sql_take_active, sql_take_recent};
    struct mlc_store *s = ld_state_store(bl->st);
    sqlite3_stmt *q;
    bool row = false;
    mlc_rc rc;

    *n = 0;
    if ((rc = mlc_store_prepare(s, sql[bl->order], &q, err)) ||
        (rc = mlc_store_bind_int64(s, q, 1, (int64_t)max, err)))
        return rc;
    while (*n < max && (rc = mlc_store_step(s, q, &row, err)) == MLC_OK && row) {
        struct item *it = &items[(*n)++];

        it->backlog = true;
        it->partition = (int32_t)sqlite3_column_int64(q, 0);
        it->offset = sqlite3_column_int64(q, 1);
        it->key = blob_copy(q, 2, &it->key_len);
        it->value = blob_copy(q, 3, &it->value_len);
        it->sig = sqlite3_column_type(q, 4) == SQLITE_NULL ? NULL : blob_copy(q, 4, &it->sig_len);
    }
    if (rc == MLC_OK && row)
        mlc_store_reset(q);
    return rc;
}

void ld_backlog_items_free(struct item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)items[i].key);
        free((char *)items[i].value);
        free((char *)items[i].sig);
        memset(&items[i], 0, sizeof(items[i]));
    }
}

size_t ld_backlog_allowed(struct ld_backlog *bl, const struct pd_limits *l, size_t max)
{
    long rem = pd_limits_daily_remaining(l), above;
    int cost = pd_op_cost(PD_OP_CREATE_ORG);

    if (!ld_backlog_budget_allows(rem, pd_limits_daily_limit(l), pd_limits_reserve_pct(l),
                                  bl->headroom_pct, cost)) {
        if (!bl->stopped)
            mlc_info("creates stopped for the day: %ld tokens left, kept for updates "
                     "(MLC_PIPEDRIVE_RESERVE_PCT %d %% + MLC_LOAD_UPDATE_HEADROOM_PCT %d %%); "
                     "%lld customers wait in the backlog",
                     rem, pd_limits_reserve_pct(l), bl->headroom_pct, (long long)bl->count);
        bl->stopped = true;
        return 0;
    }
    if (bl->stopped)
        mlc_info("daily budget allows creates again (%ld tokens left): working the backlog", rem);
    bl->stopped = false;
    if (rem < 0 || pd_limits_daily_limit(l) <= 0)
        return max;
    /* tokens above reserve + headroom: so many creates, at least one */
    above = rem - (long)((long long)pd_limits_daily_limit(l) *
                         (pd_limits_reserve_pct(l) + bl->headroom_pct) / 100);
    return above / cost + 1 < (long)max ? (size_t)(above / cost + 1) : max;
}

void ld_backlog_done(struct ld_backlog *bl, int32_t partition, int64_t next, int64_t *store)
{
    struct bl_part *p = part_of(bl, partition);
    int64_t b;

    if (next > p->done_next)
        p->done_next = next;
    b = ld_offset_bound(p->done_next, p->floor);
    *store = b > p->stored ? b : -1;
    if (*store >= 0)
        p->stored = b;
}

bool ld_backlog_next_store(struct ld_backlog *bl, size_t *cursor, int32_t *partition,
                           int64_t *offset)
{
    for (; *cursor < bl->n_parts; (*cursor)++) {
        struct bl_part *p = &bl->parts[*cursor];
        int64_t b = p->done_next >= 0 ? ld_offset_bound(p->done_next, p->floor) : -1;

        if (b > p->stored) {
            p->stored = b;
            *partition = p->partition;
            *offset = b;
            (*cursor)++;
            return true;
        }
    }
    return false;
}

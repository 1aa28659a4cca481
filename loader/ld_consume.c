/* ld_consume.c - the consumption loop: poll into the carry, refresh the id
 * map after an assignment, pick and run rounds, store offsets in order, pause
 * on the daily budget.
 */
#include "ld_consume.h"

#include "ld_backlog.h"
#include "ld_calls.h"
#include "ld_metrics.h"
#include "ld_round.h"
#include "ld_scan.h"
#include "mlc_backoff.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_time.h"
#include "pd_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUND_MAX 256
/* creates per backlog round: about 0.8 s of Growth's paced 19.5 requests/s,
 * so an update polled meanwhile waits at most that long for its round */
#define BACKLOG_ROUND  16
#define POLL_IDLE_MS   200   /* a poll's wait when there is nothing to do */
#define WATERMARKS_MS  10000 /* time limit of the end-offset query (drain) */
#define DRAIN_CHECK_MS 5000  /* time limit of the drained check (drain) */
#define PRUNE_EVERY_MS (3600 * 1000LL)

static bool same_tp(const rd_kafka_message_t *m, const rd_kafka_topic_partition_list_t *l)
{
    const char *t = rd_kafka_topic_name(m->rkt);

    for (int i = 0; l && i < l->cnt; i++)
        if (l->elems[i].partition == m->partition && !strcmp(l->elems[i].topic, t))
            return true;
    return false;
}

static void on_rebalance(enum mlc_kafka_rebalance ev, const rd_kafka_topic_partition_list_t *parts,
                         void *ctx)
{
    struct ld *ld = ctx;

    if (ev == MLC_KAFKA_ASSIGNED) {
        if (parts->cnt > 0) {
            ld->need_refresh = true;
            ld->any_assigned = true;
        }
        return;
    }
    if (!ld->revoked)
        ld->revoked = rd_kafka_topic_partition_list_new(parts->cnt > 0 ? parts->cnt : 1);
    for (int i = 0; i < parts->cnt; i++)
        rd_kafka_topic_partition_list_add(ld->revoked, parts->elems[i].topic,
                                          parts->elems[i].partition);
}

/* Forgets the messages of partitions given up: their new owner replays them
 * from the committed offset (side effects done here are found again through
 * the id map refresh and are idempotent). Their backlog rows go too: the
 * committed offset is never past them, so the new owner builds its own. */
static mlc_rc purge_revoked(struct ld *ld, struct mlc_err *err)
{
    size_t w = 0;
    mlc_rc rc = MLC_OK;

    if (!ld->revoked)
        return MLC_OK;
    for (size_t i = 0; i < ld->n_carry; i++) {
        if (same_tp(ld->carry[i].msg, ld->revoked))
            mlc_kafka_message_free(ld->carry[i].msg);
        else
            ld->carry[w++] = ld->carry[i];
    }
    ld->n_carry = w;
    for (int i = 0; ld->backlog && i < ld->revoked->cnt && rc == MLC_OK; i++)
        if (!strcmp(ld->revoked->elems[i].topic, ld->topic))
            rc = ld_backlog_drop_partition(ld->backlog, ld->revoked->elems[i].partition, err);
    rd_kafka_topic_partition_list_destroy(ld->revoked);
    ld->revoked = NULL;
    return rc == MLC_OK ? MLC_OK : mlc_err_prefix(err, "backlog of a revoked partition");
}

/* Stores offset (the next to read) for partition; a partition no longer
 * assigned is left to its new owner. */
static void store_offset(struct ld *ld, int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t e;

    rd_kafka_topic_partition_list_add(l, ld->topic, partition)->offset = offset;
    e = rd_kafka_offsets_store(mlc_kafka_consumer_handle(ld->cons), l);
    if (!e)
        e = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        mlc_warn("kafka store offset %s [%d] %lld: %s", ld->topic, (int)partition,
                 (long long)offset, rd_kafka_err2str(e));
}

/* After the backlog changed: stores the offsets its floors now allow. */
static void store_floors(struct ld *ld)
{
    size_t cursor = 0;
    int32_t p;
    int64_t off;

    while (!ld->o->dry_run && ld->backlog && ld_backlog_next_store(ld->backlog, &cursor, &p, &off))
        store_offset(ld, p, off);
}

size_t ld_carry_storable(const struct item *carry, size_t n, bool *storable)
{
    /* one entry per partition with an unfinished message: at most one per
     * carry item, so the set cannot overflow however many partitions the
     * replica holds */
    int32_t blocked[CARRY_MAX];
    size_t nb = 0, count = 0;

    for (size_t i = 0; i < n && i < CARRY_MAX; i++) {
        bool is_blocked = false;

        for (size_t b = 0; b < nb && !is_blocked; b++)
            is_blocked = blocked[b] == carry[i].msg->partition;
        storable[i] = carry[i].done && !is_blocked;
        count += storable[i];
        if (!carry[i].done && !is_blocked)
            blocked[nb++] = carry[i].msg->partition;
    }
    return count;
}

/* Stores the offsets of finished messages, per partition in order, up to
 * the first unfinished message of that partition and never past its
 * earliest backlog row (ld_offset_bound); the finished ones leave the
 * carry either way. */
static mlc_rc store_offsets(struct ld *ld, struct mlc_err *err)
{
    bool storable[CARRY_MAX];
    size_t w = 0;
    mlc_rc rc = MLC_OK;

    ld_carry_storable(ld->carry, ld->n_carry, storable);
    for (size_t i = 0; i < ld->n_carry; i++) {
        struct item *it = &ld->carry[i];

        if (!storable[i]) {
            ld->carry[w++] = *it;
            continue;
        }
        if (!ld->o->dry_run && ld->backlog) {
            int64_t off;

            ld_backlog_done(ld->backlog, it->partition, it->offset + 1, &off);
            if (off >= 0)
                store_offset(ld, it->partition, off);
        } else if (!ld->o->dry_run) {
            struct mlc_err e = {0};
            mlc_rc r = mlc_kafka_consumer_done(ld->cons, it->msg, &e);

            if (r == MLC_FATAL) {
                *err = e;
                rc = r;
            }
        }
        mlc_kafka_message_free(it->msg);
    }
    ld->n_carry = w;
    return rc;
}

static bool key_eq(const rd_kafka_message_t *a, const rd_kafka_message_t *b)
{
    return a->key_len == b->key_len && (a->key_len == 0 || !memcmp(a->key, b->key, a->key_len));
}

/* The round: the first unfinished message of each customer, in order. */
static size_t pick_round(struct ld *ld, struct item **out)
{
    size_t n = 0, seen = 0;

    for (size_t i = 0; i < ld->n_carry && n < ROUND_MAX && seen < 512; i++) {
        struct item *it = &ld->carry[i];
        bool busy = false;

        if (it->done)
            continue;
        seen++;
        for (size_t j = 0; j < i && !busy; j++)
            busy = !ld->carry[j].done && key_eq(ld->carry[j].msg, it->msg);
        if (!busy)
            out[n++] = it;
    }
    return n;
}

/* Deletes audit rows older than MLC_AUDIT_RETENTION_DAYS, at start and then
 * hourly. A failure only delays it (the audit merely grows). */
static void prune_audit(struct ld *ld, int64_t now, int64_t *next)
{
    long days = mlc_cfg_int(ld->cfg, MLC_CFG_AUDIT_RETENTION_DAYS);
    struct mlc_err e = {0};
    int64_t n = 0;

    if (days <= 0 || ld->o->dry_run || now < *next)
        return;
    *next = now + PRUNE_EVERY_MS;
    if (ld_state_prune_audit(ld->st, now - (int64_t)days * 86400 * 1000, &n, &e) != MLC_OK)
        mlc_warn("%s; pruning the audit again in an hour", e.msg);
    else if (n > 0)
        mlc_info("audit: deleted %lld rows older than %ld days (MLC_AUDIT_RETENTION_DAYS)",
                 (long long)n, days);
}

mlc_rc ld_probe_budget(struct ld *ld, struct mlc_err *err)
{
    struct pd_call call = {.op = PD_OP_USERS_ME, .method = MLC_HTTP_GET, .force = true};
    struct pd_limits *l = pd_client_limits(ld->pd);
    struct mlc_err fe = {0};
    mlc_rc rc;

    if (pd_limits_blocked(l))
        return MLC_OK; /* the pause reports the block */
    snprintf(call.path, sizeof(call.path), "/v1/users/me");
    /* its answer ends the pause or not (pd_limits_on_response) */
    rc = pd_client_call1(ld->pd, &call, err);
    pd_call_reset(&call);
    if (ld_flush_calls_tx(ld, &fe) != MLC_OK)
        mlc_warn("%s; the call audit rows are written with the next transaction", fe.msg);
    if (rc == MLC_FATAL)
        return mlc_err_prefix(err, "budget probe");
    if (rc != MLC_OK)
        mlc_info("budget probe: %s; still paused", err->msg);
    return MLC_OK;
}

/* Refreshes the id map after an assignment. MLC_RETRY after a failed
 * refresh (logged, backed off; need_refresh stays set), MLC_FATAL when
 * nothing more may be sent. */
static mlc_rc refresh_step(struct ld *ld, struct mlc_err *err)
{
    mlc_rc rc;

    ld->need_refresh = false;
    rc = ld_refresh_map(ld, err);
    if (rc == MLC_OK || rc == MLC_FATAL)
        return rc;
    mlc_warn("%s; trying again", err->msg);
    ld->need_refresh = true;
    mlc_backoff_sleep_ms(mlc_backoff_delay_ms(&ld->backoff, ld->retry_attempt++, -1), ld->o->stop);
    return rc;
}

/* Pauses consumption while the daily budget is exhausted or under the
 * reserve (probing it now and then), resumes when it is back. MLC_FATAL
 * when Pipedrive blocked the token. */
static mlc_rc pause_step(struct ld *ld, int64_t now, int64_t *next_probe, struct mlc_err *err)
{
    int64_t resume = 0;
    mlc_rc rc;

    if (pd_client_paused(ld->pd, &resume)) {
        if (resume < 0)
            return mlc_err_set(err, MLC_FATAL,
                               "pipedrive blocked this token (403 block page): stopped");
        if (!mlc_kafka_consumer_paused(ld->cons)) {
            const struct pd_limits *l = pd_client_limits(ld->pd);
            const char *why = pd_limits_paused_by_429(l)
                                  ? "daily token budget exhausted (Pipedrive answered 429)"
                                  : "daily token budget below the reserve "
                                    "(MLC_PIPEDRIVE_RESERVE_PCT)";
            time_t rs = (time_t)(resume / 1000);
            struct tm tm;

            gmtime_r(&rs, &tm);
            mlc_warn("%s, %ld tokens left: consumption paused until %02d:%02d:%02d UTC", why,
                     pd_limits_daily_remaining(l), tm.tm_hour, tm.tm_min, tm.tm_sec);
            if ((rc = mlc_kafka_consumer_pause(ld->cons, err)) != MLC_OK)
                return rc;
            ld_metrics_paused(ld->metrics, true, resume);
            *next_probe = now + ld->probe_ms;
        }
        if (now >= *next_probe) {
            *next_probe = now + ld->probe_ms;
            if ((rc = ld_probe_budget(ld, err)) != MLC_OK)
                return rc;
        }
    } else if (mlc_kafka_consumer_paused(ld->cons)) {
        mlc_info("daily token budget available again (%ld tokens left): resuming",
                 pd_limits_daily_remaining(pd_client_limits(ld->pd)));
        if ((rc = mlc_kafka_consumer_resume(ld->cons, err)) != MLC_OK)
            return rc;
        ld_metrics_paused(ld->metrics, false, 0);
    }
    return MLC_OK;
}

/* Fills the carry; polls also while paused or waiting, to stay in the
 * group. *got: a message arrived. */
static mlc_rc poll_step(struct ld *ld, int64_t now, bool *got, struct mlc_err *err)
{
    *got = false;
    for (int k = 0; k < ROUND_MAX && ld->n_carry < CARRY_MAX; k++) {
        rd_kafka_message_t *m = NULL;
        bool idle =
            ld->n_carry == 0 || mlc_kafka_consumer_paused(ld->cons) || ld->retry_at_ms > now;
        mlc_rc rc = mlc_kafka_consumer_poll(ld->cons, k == 0 && idle ? POLL_IDLE_MS : 0, &m, err);

        if (rc != MLC_OK)
            return rc;
        ld_metrics_polled(ld->metrics, m ? 1 : 0);
        if ((rc = purge_revoked(ld, err)) != MLC_OK) {
            mlc_kafka_message_free(m);
            return rc;
        }
        if (!m)
            break;
        *got = true;
        ld->carry[ld->n_carry++] = (struct item){.msg = m,
                                                 .partition = m->partition,
                                                 .offset = m->offset,
                                                 .key = m->key,
                                                 .key_len = m->key_len,
                                                 .value = m->payload,
                                                 .value_len = m->len};
        if (ld->need_refresh)
            break;
    }
    return MLC_OK;
}

/* After a round: back off before the next when some work was left (at
 * least until the deferred work may go), else go on at once. */
static void schedule_next(struct ld *ld, bool retry)
{
    if (retry) {
        long d = mlc_backoff_delay_ms(&ld->backoff, ld->retry_attempt++, -1);

        ld->retry_at_ms = mlc_realtime_ms() + d;
        if (ld->defer_until_ms > ld->retry_at_ms)
            ld->retry_at_ms = ld->defer_until_ms;
        ld->defer_until_ms = 0;
    } else {
        ld->retry_attempt = 0;
        ld->retry_at_ms = 0;
    }
}

/* Picks and runs a round, stores the offsets it finished and schedules the
 * next. *ran: there was a round to run. */
static mlc_rc round_step(struct ld *ld, bool *ran, struct mlc_err *err)
{
    struct item *round[ROUND_MAX];
    size_t n = pick_round(ld, round);
    bool retry = false;
    mlc_rc rc;

    *ran = n > 0;
    if (n == 0)
        return MLC_OK;
    rc = ld_run_round(ld, round, n, &retry, err);
    if (rc == MLC_FATAL)
        return rc;
    if (rc == MLC_RETRY) {
        mlc_warn("%s", err->msg);
        retry = true;
    }
    /* the floors first: events just put in the backlog hold their offsets */
    if (ld->backlog && (rc = ld_backlog_refresh(ld->backlog, err)) != MLC_OK)
        return rc;
    if ((rc = store_offsets(ld, err)) != MLC_OK)
        return rc;
    if (ld->halt.rc != MLC_OK) {
        /* the round is stored and its dead letters delivered: commit, then stop */
        if (!ld->o->dry_run && (rc = mlc_kafka_consumer_commit_sync(ld->cons, err)) != MLC_OK)
            mlc_warn("%s", err->msg);
        *err = ld->halt;
        return MLC_FATAL;
    }
    schedule_next(ld, retry);
    return MLC_OK;
}

/* Works the next rows of the backlog of creates in MLC_LOAD_ORDER while the
 * daily budget stays above the reserve plus the update headroom; below it,
 * probes the budget now and then (a new day allows creates again). *ran:
 * some rows were worked. */
static mlc_rc backlog_step(struct ld *ld, int64_t now, int64_t *next_probe, bool *ran,
                           struct mlc_err *err)
{
    struct item items[BACKLOG_ROUND];
    struct item *round[BACKLOG_ROUND];
    size_t max, n = 0;
    bool retry = false;
    mlc_rc rc;

    *ran = false;
    if (!ld->backlog || ld_backlog_count(ld->backlog) == 0)
        return MLC_OK;
    max = ld_backlog_allowed(ld->backlog, pd_client_limits(ld->pd), BACKLOG_ROUND);
    if (max == 0) {
        int64_t last = pd_limits_last_send_ms(pd_client_limits(ld->pd));

        /* an answer within the probe interval (an update) carried the
         * budget headers already: no probe needed */
        if (now < *next_probe || (last > 0 && now - last < ld->probe_ms))
            return MLC_OK;
        *next_probe = now + ld->probe_ms;
        return ld_probe_budget(ld, err);
    }
    memset(items, 0, sizeof(items));
    if ((rc = ld_backlog_take(ld->backlog, items, max, &n, err)) != MLC_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        round[i] = &items[i];
    *ran = n > 0;
    rc = n > 0 ? ld_run_round(ld, round, n, &retry, err) : MLC_OK;
    if (rc == MLC_RETRY) {
        mlc_warn("%s", err->msg);
        retry = true;
        rc = MLC_OK;
    }
    if (rc == MLC_OK && (rc = ld_backlog_refresh(ld->backlog, err)) == MLC_OK)
        store_floors(ld);
    if (rc == MLC_OK && ld->halt.rc != MLC_OK) {
        *err = ld->halt;
        rc = MLC_FATAL;
    }
    if (rc == MLC_OK && *ran)
        schedule_next(ld, retry);
out:
    ld_backlog_items_free(items, n);
    return rc;
}

/* drain: *drained when the end offsets seen at start are reached (then
 * the offsets are committed). */
static mlc_rc drain_end(struct ld *ld, rd_kafka_topic_partition_list_t *high, bool *drained,
                        struct mlc_err *err)
{
    mlc_rc rc;

    *drained = false;
    if ((rc = mlc_kafka_consumer_drained(ld->cons, high, DRAIN_CHECK_MS, drained, err)) != MLC_OK)
        return rc;
    if (*drained && !ld->o->dry_run)
        return mlc_kafka_consumer_commit_sync(ld->cons, err);
    return MLC_OK;
}

static void log_totals(const struct ld *ld)
{
    mlc_info("%s: created %ld, updated %ld, adopted %ld, unchanged %ld, dead-lettered %ld, "
             "deleted in pipedrive %ld, duplicates %ld",
             ld->o->command, ld->n_created, ld->n_updated, ld->n_adopted, ld->n_unchanged,
             ld->n_dlq, ld->n_deleted, ld->n_duplicate);
}

mlc_rc ld_consume(struct ld *ld, bool drain, struct mlc_err *err)
{
    const char *topics[1] = {ld->topic};
    rd_kafka_topic_partition_list_t *high = NULL;
    int64_t next_probe = 0, next_prune = 0;
    mlc_rc rc;

    if (!ld->o->dry_run && (rc = ld_backlog_new(ld, &ld->backlog, err)) != MLC_OK)
        return rc;
    rc = mlc_kafka_consumer_new(ld->cfg, topics, 1, on_rebalance, ld, &ld->cons, err);
    if (rc != MLC_OK) {
        ld_backlog_free(ld->backlog);
        ld->backlog = NULL;
        return rc;
    }
    ld_metrics_consumer(ld->metrics, mlc_kafka_consumer_handle(ld->cons));
    if (drain && (rc = mlc_kafka_consumer_high_watermarks(ld->cons, ld->topic, WATERMARKS_MS, &high,
                                                          err)) != MLC_OK)
        goto out;
    mlc_info("%s: consuming %s in group %s%s", ld->o->command, ld->topic,
             mlc_cfg_str(ld->cfg, MLC_CFG_KAFKA_GROUP), ld->o->dry_run ? " (dry run)" : "");
    while (!*ld->o->stop) {
        int64_t now = mlc_realtime_ms();
        bool got = false, ran = false, drained = false;

        prune_audit(ld, now, &next_prune);
        if (ld->need_refresh && (rc = refresh_step(ld, err)) != MLC_OK) {
            if (rc == MLC_FATAL)
                goto out;
            continue;
        }
        if ((rc = pause_step(ld, now, &next_probe, err)) != MLC_OK)
            goto out;
        if ((rc = poll_step(ld, now, &got, err)) != MLC_OK)
            goto out;
        if (ld->need_refresh || mlc_kafka_consumer_paused(ld->cons) || *ld->o->stop)
            continue;
        if (ld->retry_at_ms > mlc_realtime_ms())
            continue;
        if ((rc = round_step(ld, &ran, err)) != MLC_OK)
            goto out;
        if (!ran && ld->retry_at_ms <= mlc_realtime_ms() &&
            (rc = backlog_step(ld, now, &next_probe, &ran, err)) != MLC_OK)
            goto out;
        if (ran || !drain || got || ld->n_carry > 0 || !ld->any_assigned ||
            ld_backlog_count(ld->backlog) > 0)
            continue;
        if ((rc = drain_end(ld, high, &drained, err)) != MLC_OK || drained)
            goto out;
    }
    rc = drain ? mlc_err_set(err, MLC_RETRY, "drain: stopped before reaching the end offsets")
               : MLC_OK;
out:
    for (size_t i = 0; i < ld->n_carry; i++)
        mlc_kafka_message_free(ld->carry[i].msg);
    ld->n_carry = 0;
    if (high)
        rd_kafka_topic_partition_list_destroy(high);
    ld_metrics_consumer(ld->metrics, NULL);
    mlc_kafka_consumer_close(ld->cons); /* may call on_rebalance (revoke) */
    ld->cons = NULL;
    if (ld->revoked) {
        rd_kafka_topic_partition_list_destroy(ld->revoked);
        ld->revoked = NULL;
    }
    ld_backlog_free(ld->backlog);
    ld->backlog = NULL;
    log_totals(ld);
    return rc;
}

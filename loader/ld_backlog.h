/* ld_backlog.h - the backlog of creates (ld_backlog.c).
 *
 * An event of a customer without an organization (a create, 5 tokens) is
 * not applied in topic order: it is stored in the table backlog of the
 * replica's state file, one row per customer (a later event of the same
 * customer replaces the stored value and keeps the earliest offset), so
 * that events of customers that have an organization are applied at once.
 * Rows are worked through in MLC_LOAD_ORDER while the daily budget stays
 * above MLC_PIPEDRIVE_RESERVE_PCT + MLC_LOAD_UPDATE_HEADROOM_PCT.
 *
 * The backlog is a cache (ADR 0009): emptied at start and for every
 * partition revoked; the committed offset of a partition never passes its
 * earliest row (ld_offset_bound), so the events are read again by whoever
 * owns the partition next.
 *
 * Ownership: ld_backlog_new() returns a backlog ld_backlog_free() frees;
 * it borrows the state and the metrics.
 */
#ifndef LD_BACKLOG_H
#define LD_BACKLOG_H

#include "ld_internal.h"

enum ld_load_order { LD_ORDER_TOPIC = 0, LD_ORDER_ACTIVE_FIRST, LD_ORDER_RECENT_FIRST };

/* Parses an MLC_LOAD_ORDER value; false when unknown. */
bool ld_load_order_parse(const char *s, enum ld_load_order *out);

/* The offset that may be stored for a partition whose messages are done up
 * to done_next (exclusive) and whose earliest backlog row is at floor (-1:
 * none): never past the floor. */
int64_t ld_offset_bound(int64_t done_next, int64_t floor);

/* Whether creates may go now: remaining and limit in tokens (-1 / 0 when
 * unknown: yes), reserve and headroom in percent of the limit, cost of one
 * create. */
bool ld_backlog_budget_allows(long remaining, long limit, int reserve_pct, int headroom_pct,
                              int cost);

/* Opens the backlog on ld->st and empties it (rebuilt from the uncommitted
 * range of the partitions assigned). */
mlc_rc ld_backlog_new(struct ld *ld, struct ld_backlog **out, struct mlc_err *err);
void ld_backlog_free(struct ld_backlog *bl);

/* Customers in the backlog. */
int64_t ld_backlog_count(const struct ld_backlog *bl);

/* *found: the customer has a backlog row. */
mlc_rc ld_backlog_has(struct ld_backlog *bl, const char *company, const char *customer, bool *found,
                      struct mlc_err *err);

/* Stores w's event (decoded; its item a carry item) as the customer's row:
 * inserted, or the value replaced keeping the earliest offset. Inside the
 * caller's transaction. */
mlc_rc ld_backlog_put(struct ld_backlog *bl, const struct work *w, struct mlc_err *err);

/* Deletes the customer's row (worked through). Inside the caller's
 * transaction. */
mlc_rc ld_backlog_remove(struct ld_backlog *bl, const char *company, const char *customer,
                         struct mlc_err *err);

/* Re-reads the count and the per-partition floors after a change; writes
 * meta backlog_creates and the gauge when the count changed. */
mlc_rc ld_backlog_refresh(struct ld_backlog *bl, struct mlc_err *err);

/* Drops the rows and the offset tracking of a revoked partition. */
mlc_rc ld_backlog_drop_partition(struct ld_backlog *bl, int32_t partition, struct mlc_err *err);

/* Fills up to max items (zeroed by the caller, released with
 * ld_backlog_items_free) with the next rows in MLC_LOAD_ORDER; *n gets
 * how many. */
mlc_rc ld_backlog_take(struct ld_backlog *bl, struct item *items, size_t max, size_t *n,
                       struct mlc_err *err);
void ld_backlog_items_free(struct item *items, size_t n);

/* How many creates the budget allows now (0: none, creates stop for the
 * day), at most max. */
size_t ld_backlog_allowed(struct ld_backlog *bl, const struct pd_limits *l, size_t max);

/* Offset tracking: the messages of partition are done up to next
 * (exclusive); *store gets the offset to store now (ld_offset_bound), or
 * -1 when nothing new may be stored. */
void ld_backlog_done(struct ld_backlog *bl, int32_t partition, int64_t next, int64_t *store);

/* After the floors moved: the next partition (from *cursor, start at 0)
 * with an offset to store now; false when none is left. */
bool ld_backlog_next_store(struct ld_backlog *bl, size_t *cursor, int32_t *partition,
                           int64_t *offset);

#endif

/* ext_state.h - the extractor's SQLite state (schema and queries).
 *
 * Tables (migrations via mlc_store; never any credential, URL user info or
 * header in any column):
 *   watermark(company PK, day 'YYYY-MM-DD', updated_at)
 *       the calendar date the next incremental cycle starts from (minus the
 *       lookback); moved only at the end of a successful cycle, never back.
 *   customer(company, number, hash, last_maintained, seen_scan, missing,
 *            updated_at; PK (company, number))
 *       hash: content_hash last DELIVERED (acknowledged by Kafka) for the
 *       customer, NULL when never delivered (only skipped so far);
 *       seen_scan: id of the last full-scan cycle that read it;
 *       missing: 1 after its `missing` event was delivered, 0 once seen again.
 *       Since migration 3 also (all describing the last DELIVERED event):
 *       master_hash: SHA-256 of the canonical customer object alone (master
 *       data; equals hash for v1 events); balance_hash: SHA-256 of the
 *       canonical credit object (NULL: no credit picture delivered yet, e.g.
 *       pinned to v1); pub_balance, pub_past_due, pub_limit, pub_on_hold:
 *       the credit facts the threshold rule compares with (ext_balance.h).
 *   cycle(id PK, company, kind 'incremental'|'full'|'balance', started_at, finished_at,
 *         pages, records, published, unchanged, skipped, missing, duration_ms,
 *         result 'running'|'ok'|'failed'|'interrupted', error,
 *         watermark_before, watermark_after)
 *   audit(id PK, cycle_id, company, customer, hash, outcome
 *         'published'|'unchanged'|'skipped'|'missing', reason, at)
 *       one row per customer read (and per missing event delivered).
 *   learned(name PK, value, updated_at)
 *       facts learned about the Sage server, e.g. "sage_password_case" =
 *       'upper'|'exact': the password form that passed the login last (only
 *       the form, never the password).
 * Times are UTC "YYYY-MM-DDTHH:MM:SSZ".
 *
 * Callers group writes of one page into one transaction (mlc_store_begin /
 * mlc_store_commit on ext_state_store()). Strings passed in are borrowed.
 */
#ifndef EXT_STATE_H
#define EXT_STATE_H
#include "ext_balance.h"
#include "mlc_err.h"
#include "mlc_event.h"
#include "mlc_store.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct ext_state;

/* Opens (creating) the state file; MLC_FATAL naming the file on failure. */
mlc_rc ext_state_open(const char *path, struct ext_state **out, struct mlc_err *err);
void ext_state_close(struct ext_state *st);
struct mlc_store *ext_state_store(struct ext_state *st);

/* A read-only snapshot around many lookups (ext_state_customer_get of one
 * page): one lock round trip instead of one per query. No write may happen
 * on this connection until ext_state_read_end. */
mlc_rc ext_state_read_begin(struct ext_state *st, struct mlc_err *err);
void ext_state_read_end(struct ext_state *st);

/* "YYYY-MM-DDTHH:MM:SSZ" of t into out. */
void ext_state_iso_time(time_t t, char out[21]);

/* *has false when the company has no watermark yet. */
mlc_rc ext_state_watermark_get(struct ext_state *st, const char *company, char day[11], bool *has,
                               struct mlc_err *err);
/* Stores day unless the stored one is later (never moves backwards). */
mlc_rc ext_state_watermark_set(struct ext_state *st, const char *company, const char *day,
                               struct mlc_err *err);

/* value ("" when unknown) of learned fact name, cut to size bytes. */
mlc_rc ext_state_learned_get(struct ext_state *st, const char *name, char *value, size_t size,
                             struct mlc_err *err);
/* Stores (replaces) learned fact name. */
mlc_rc ext_state_learned_set(struct ext_state *st, const char *name, const char *value,
                             struct mlc_err *err);

struct ext_known {
    bool known;                        /* a row exists */
    bool has_hash;                     /* hash holds the last delivered content hash */
    bool missing;                      /* reported missing and not seen since */
    char hash[MLC_EVENT_HASH_HEX + 1]; /* "" when none */
    bool has_master, has_balance, has_pub;
    char master_hash[MLC_EVENT_HASH_HEX + 1];  /* "" when none */
    char balance_hash[MLC_EVENT_HASH_HEX + 1]; /* "" when none */
    struct ext_credit_view pub;                /* valid when has_pub */
};
mlc_rc ext_state_customer_get(struct ext_state *st, const char *company, const char *number,
                              struct ext_known *out, struct mlc_err *err);
/* Records a customer read in this cycle: hash (NULL keeps the stored one),
 * last_maintained ("" or NULL: null), seen_scan (0 keeps the stored one),
 * and clears the missing flag. */
mlc_rc ext_state_customer_seen(struct ext_state *st, const char *company, const char *number,
                               const char *hash, const char *last_maintained, int64_t seen_scan,
                               struct mlc_err *err);
/* Records what the delivered upsert of a customer (a row must exist: call
 * ext_state_customer_seen first) carried: its master hash and, when it had a
 * credit picture (pub not NULL), the credit hash and facts; pub NULL clears
 * them (a v1 event). */
mlc_rc ext_state_customer_delivered(struct ext_state *st, const char *company, const char *number,
                                    const char *master_hash, const char *balance_hash,
                                    const struct ext_credit_view *pub, struct mlc_err *err);
/* Marks a customer reported missing (its missing event was delivered). */
mlc_rc ext_state_customer_missing(struct ext_state *st, const char *company, const char *number,
                                  struct mlc_err *err);
/* Up to max customers of company with a delivered hash, not flagged missing
 * and not seen by full scan scan_id, ordered by number, written to
 * numbers[i] (each MLC_EVENT_MAX_NUMBER + 1 bytes); *n receives the count. */
mlc_rc ext_state_unseen(struct ext_state *st, const char *company, int64_t scan_id, size_t max,
                        char (*numbers)[MLC_EVENT_MAX_NUMBER + 1], size_t *n, struct mlc_err *err);

/* outcome: "published", "unchanged", "skipped" or "missing". number, hash and
 * reason may be NULL. reason is redacted before it is stored. */
mlc_rc ext_state_audit(struct ext_state *st, int64_t cycle_id, const char *company,
                       const char *number, const char *hash, const char *outcome,
                       const char *reason, time_t at, struct mlc_err *err);

struct ext_cycle_stats {
    long pages, records, published, unchanged, skipped, missing;
};
/* Inserts a 'running' cycle row of kind "incremental", "full" or "balance";
 * *id receives its id. */
mlc_rc ext_state_cycle_start_kind(struct ext_state *st, const char *company, const char *kind,
                                  const char *watermark_before, time_t started, int64_t *id,
                                  struct mlc_err *err);
/* Finishes it: result "ok" | "failed" | "interrupted"; error (nullable) is
 * redacted; watermark_after nullable. */
mlc_rc ext_state_cycle_finish(struct ext_state *st, int64_t id, const struct ext_cycle_stats *s,
                              const char *result, const char *error, const char *watermark_after,
                              long duration_ms, struct mlc_err *err);
/* Deletes, in one transaction, the audit rows older than cutoff and the
 * cycles that started before it and no longer have audit rows, except each
 * company's newest cycle, newest successful full scan and balance refresh (the run loop and
 * `mlc status` read those). *deleted (nullable) gets the rows deleted. */
mlc_rc ext_state_prune(struct ext_state *st, time_t cutoff, int64_t *deleted, struct mlc_err *err);

/* When the last successful full scan of company finished (*has false: never). */
mlc_rc ext_state_last_full_scan(struct ext_state *st, const char *company, time_t *at, bool *has,
                                struct mlc_err *err);
/* When the last successful balance refresh or full scan (which reads the
 * same) of company finished (*has false: never). */
mlc_rc ext_state_last_balance_refresh(struct ext_state *st, const char *company, time_t *at,
                                      bool *has, struct mlc_err *err);

#endif

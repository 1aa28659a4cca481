/* ld_state.h - the loader's SQLite state: id map, audit, scan state.
 *
 * Tables (schema in ld_state.c, applied with mlc_store migrations):
 *   idmap       (company, customer) -> Pipedrive organization id, the state
 *               (active | deleted_in_crm | duplicate), the hash and canonical
 *               JSON of the last body applied (or, for an organization found
 *               by a scan and not yet written by us, a snapshot of its
 *               current values: remote = 1), and create_pending_ms: set just
 *               before a POST, cleared when its answer is stored, so that a
 *               POST whose answer was lost is looked up, never repeated.
 *   event_audit one row per event handled (topic, partition, offset, company,
 *               customer, event id, outcome, organization id, reason, time).
 *   call_audit  one row per Pipedrive call (method, path without secrets,
 *               status, tokens, duration, company, customer, time).
 *   backlog     the backlog of creates (ld_backlog.h): one row per customer
 *               without an organization, its latest event and earliest offset.
 *   meta        key/value: last_scan_ms (organization list scan), the last
 *               budget headers seen.
 *
 * The caller groups writes in one transaction (ld_state_begin/commit): the id
 * map row and the audit rows of an event are stored together right after
 * the Pipedrive call returned, before the Kafka offset is stored.
 *
 * Ownership: ld_state_open() returns a state ld_state_close() frees; strings
 * in struct ld_map_row are owned by the row (ld_map_row_free).
 */
#ifndef LD_STATE_H
#define LD_STATE_H

#include "mlc_err.h"
#include "mlc_store.h"

#include <stdbool.h>
#include <stdint.h>

struct ld_state;

mlc_rc ld_state_open(const char *path, struct ld_state **out, struct mlc_err *err);
/* A private in-memory copy of path (or an empty state when the file does not
 * exist), for --dry-run: whatever is written there is lost at close. */
mlc_rc ld_state_open_copy(const char *path, struct ld_state **out, struct mlc_err *err);
void ld_state_close(struct ld_state *st);
struct mlc_store *ld_state_store(struct ld_state *st);

mlc_rc ld_state_begin(struct ld_state *st, struct mlc_err *err);
mlc_rc ld_state_commit(struct ld_state *st, struct mlc_err *err);
void ld_state_rollback(struct ld_state *st);

struct ld_map_row {
    int64_t org_id;            /* 0 when none yet */
    char state[16];            /* "active", "deleted_in_crm", "duplicate" */
    char hash[65];             /* "" when unknown */
    char *payload;             /* canonical JSON or NULL */
    bool remote;               /* payload is a scan snapshot, not a body we applied */
    int64_t create_pending_ms; /* 0 when no POST is outstanding */
};

void ld_map_row_free(struct ld_map_row *r);

/* *found false (row zeroed) when the customer is not in the map. */
mlc_rc ld_state_map_get(struct ld_state *st, const char *company, const char *customer,
                        struct ld_map_row *row, bool *found, struct mlc_err *err);
/* Inserts or replaces the whole row. */
mlc_rc ld_state_map_put(struct ld_state *st, const char *company, const char *customer,
                        const struct ld_map_row *row, struct mlc_err *err);
/* Marks (ms > 0) or clears (0) an outstanding POST, creating the row if needed. */
mlc_rc ld_state_map_pending(struct ld_state *st, const char *company, const char *customer,
                            int64_t ms, struct mlc_err *err);
/* Number of rows in the map. */
mlc_rc ld_state_map_count(struct ld_state *st, int64_t *n, struct mlc_err *err);

struct ld_event_audit {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *company, *customer, *event_id; /* nullable */
    const char *outcome;
    int64_t org_id;     /* 0: none */
    const char *reason; /* nullable; redacted before it is stored */
};

mlc_rc ld_state_audit_event(struct ld_state *st, const struct ld_event_audit *a,
                            struct mlc_err *err);
mlc_rc ld_state_audit_call(struct ld_state *st, const char *method, const char *path, long status,
                           int tokens, long duration_ms, const char *company, const char *customer,
                           int64_t at_ms, struct mlc_err *err);

/* Adds one call to the hourly spending summary (spend_hour: hour of at_ms,
 * kind of ld_calls.h's ld_call_kind()), inside the caller's transaction. */
mlc_rc ld_state_spend_add(struct ld_state *st, int64_t at_ms, const char *kind, long status,
                          int tokens, struct mlc_err *err);

/* Calls fn once per kind with the tokens and 429s of the UTC day holding
 * day_ms (read from spend_hour). */
typedef void (*ld_spend_fn)(void *ctx, const char *kind, int64_t tokens, int64_t status_429);
mlc_rc ld_state_spend_day(struct ld_state *st, int64_t day_ms, ld_spend_fn fn, void *ctx,
                          struct mlc_err *err);

/* Deletes, in one transaction, the event and call audit rows older than
 * cutoff_ms (Unix ms); *deleted (nullable) gets how many. */
mlc_rc ld_state_prune_audit(struct ld_state *st, int64_t cutoff_ms, int64_t *deleted,
                            struct mlc_err *err);

/* meta: *value is new (free) or NULL when absent. */
mlc_rc ld_state_meta_get(struct ld_state *st, const char *key, char **value, struct mlc_err *err);
mlc_rc ld_state_meta_set(struct ld_state *st, const char *key, const char *value,
                         struct mlc_err *err);

#endif

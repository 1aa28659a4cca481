/* ld_internal.h - the state the modules of mlc-loader share. Not an API for
 * callers outside the loader: they use ld_loader.h.
 *
 * Read docs/loader.md first. The shape of the consumption loop:
 *
 *   poll -> carry (messages in arrival order, per partition in offset order)
 *   refresh the id map when partitions were assigned (before any of their
 *   events is handled)
 *   pick a round: the first not-done message of each key (never two of one
 *   customer), at most ROUND_MAX
 *   plan each (decode, map, hash, id map: no call / POST / PATCH / DLQ)
 *   mark outstanding POSTs in the id map (committed), run the calls
 *   (pd_client: MLC_PIPEDRIVE_CONCURRENCY in flight), then ONE transaction
 *   with the id map rows and the audit rows of the round
 *   store offsets in order per partition, up to the first unfinished message
 *
 * Modules: ld_loader (ld_main, the ping and setup commands, the call audit),
 * ld_fields (custom-field set-up), ld_scan (the identity scan and small
 * helpers), ld_consume (the loop above: carry, rebalance, offsets, budget
 * pause), ld_round (one round: calls, settling, storing), ld_plan (planning
 * one event), ld_dlq (the dead-letter producer).
 *
 * Ownership: struct ld lives on ld_main's stack. cfg, o and out are
 * borrowed; pd, st, map, dlq, calls and metrics are owned and released by
 * ld_main; cons, the carry's messages and revoked are owned by ld_consume
 * (released before it returns). A struct work lives in ld_run_round's array
 * and owns ev, next, body, row and call; it borrows its item.
 */
#ifndef LD_INTERNAL_H
#define LD_INTERNAL_H
#include "ld_loader.h"
#include "ld_state.h"
#include "mlc_backoff.h"
#include "mlc_event.h"
#include "mlc_kafka.h"
#include "pd_client.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CARRY_MAX 2048 /* messages polled and not yet stored */

/* One Pipedrive call as the audit callback saw it, until it is written to the
 * state file (ld_flush_calls). */
struct call_row {
    char method[8];
    char path[PD_PATH_MAX];
    long status;
    int tokens;
    long duration_ms;
    char company[MLC_EVENT_MAX_COMPANY + 1];
    char customer[MLC_EVENT_MAX_NUMBER * 4 + 1];
    int64_t at_ms;
};

/* A polled message in the carry; msg is owned by the carry. done: its
 * outcome is stored, its offset may be stored once those before it are. */
struct item {
    rd_kafka_message_t *msg;
    bool done;
};

/* What an event needs (ld_plan). PLAN_WAIT: an unanswered create may still
 * land; the event is left for a later round. */
enum plan_kind { PLAN_NONE = 0, PLAN_POST, PLAN_PATCH, PLAN_DLQ, PLAN_WAIT };

/* One event of a round, from planning to the stored outcome. Zeroed before
 * ld_plan; owns ev, next, body, row and call (released by ld_round). */
struct work {
    struct item *it;
    struct mlc_event ev;
    bool decoded;
    enum plan_kind kind;
    const char *outcome;
    char reason[512];
    char err_class[24];
    int64_t org_id;
    bool remote;   /* the map held a scan snapshot (adoption) */
    bool recreate; /* POST replacing an organization deleted in Pipedrive */
    cJSON *next;   /* full body to remember after success */
    char hash[65];
    char *body; /* request body text */
    struct ld_map_row row;
    bool row_found;
    bool write_row; /* store next/hash/org_id after success */
    struct pd_call call;
    bool finished; /* outcome known: audit and mark done */
};

/* The loader of one command (see Ownership above). */
struct ld {
    const struct mlc_config *cfg;
    const struct ld_opts *o;
    FILE *out;
    struct pd_client *pd;
    struct ld_state *st;
    struct pd_mapping *map;
    size_t i_num, i_co;
    const char *k_num, *k_co;
    const char *topic;
    struct mlc_kafka_consumer *cons;
    struct mlc_kafka_producer *dlq;
    int dlq_ok, dlq_failed;
    struct call_row *calls;
    size_t n_calls, cap_calls;
    struct item carry[CARRY_MAX];
    size_t n_carry;
    bool need_refresh;
    bool any_assigned;
    rd_kafka_topic_partition_list_t *revoked;
    int64_t margin_ms;
    long probe_ms;
    struct mlc_backoff backoff;
    unsigned retry_attempt;
    int64_t retry_at_ms;
    int64_t settle_ms;      /* how long an unanswered POST may still land */
    int64_t defer_until_ms; /* earliest retry of work deferred by ld_plan() */
    /* the last successful scan: organizations updated from since until started
     * are in the map (since 0: all of them) */
    int64_t scan_since_ms, scan_started_ms;
    long n_created, n_updated, n_unchanged, n_adopted, n_dlq, n_deleted, n_duplicate;
    struct ld_metrics *metrics; /* nullable */
};

/* ---- ld_loader.c: the call audit */

/* Writes the collected call rows inside the caller's transaction (a dry run
 * only forgets them). */
mlc_rc ld_flush_calls(struct ld *ld, struct mlc_err *err);

/* Stores pending call rows in their own transaction (start-up, scans). */
mlc_rc ld_flush_calls_tx(struct ld *ld, struct mlc_err *err);

/* ---- ld_fields.c: custom fields */

/* GETs the organization fields, resolves the mapping, creates what is
 * missing (unless create is false; then MLC_FATAL naming what lacks),
 * resolves again and sets ld's identity keys (i_num, i_co, k_num, k_co). */
mlc_rc ld_prepare_fields(struct ld *ld, bool create, struct mlc_err *err);

/* ---- ld_scan.c: the identity scan and shared helpers */

/* The escaped next_cursor of a v2 list answer, or "" at the end. */
void ld_next_cursor(const cJSON *answer, char *out, size_t outsz);

/* ms since the epoch as "YYYY-MM-DDTHH:MM:SSZ" (UTC). */
void ld_rfc3339(int64_t ms, char out[32]);

/* The canonical text of j (pd_mapping_canonical); the caller frees it.
 * NULL on failure (err filled where the mapping says why). */
char *ld_canonical(const cJSON *j, struct mlc_err *err);

/* The string member k of object o (nullable), or NULL; borrowed from o. */
const char *ld_json_str(const cJSON *o, const char *k);

/* Pages GET /api/v2/organizations since since_ms (0: all) and records in the
 * id map every organization that carries both IDs (adoption snapshots,
 * duplicates). MLC_RETRY when Pipedrive refused or failed. */
mlc_rc ld_scan(struct ld *ld, int64_t since_ms, struct mlc_err *err);

/* Full scan when the map is cold (never scanned: new or lost state file),
 * else the organizations updated since the last scan minus the margin. */
mlc_rc ld_refresh_map(struct ld *ld, struct mlc_err *err);

/* ---- ld_dlq.c: the dead-letter topic */

/* Delivery report callback of the DLQ producer (ctx: struct ld). */
void ld_dlq_on_delivery(const struct mlc_kafka_dr *dr, void *ctx);

/* Sends m with its headers plus the mlc.* failure headers (text redacted)
 * to MLC_DLQ_TOPIC and waits for the delivery report. The producer is
 * created on first use and owned by ld. */
mlc_rc ld_dlq_send(struct ld *ld, const rd_kafka_message_t *m, const char *cls, const char *text,
                   struct mlc_err *err);

/* ---- ld_plan.c: planning one event */

/* Marks w finished with outcome, org_id and an optional reason. */
void ld_work_finish(struct work *w, const char *outcome, int64_t org_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Plans w for the dead-letter topic with error class cls and text. */
void ld_work_to_dlq(struct work *w, const char *cls, const char *text);

/* Plans a POST creating w's organization (body from the mapping). */
mlc_rc ld_plan_create(struct ld *ld, struct work *w, struct mlc_err *err);

/* Decides what the event needs. May run an identity lookup (a POST whose
 * answer was lost). Fills w->kind; finished events get their outcome. */
mlc_rc ld_plan(struct ld *ld, struct work *w, struct mlc_err *err);

/* ---- ld_round.c: one round */

/* Handles the messages of one round (different customers). *retry is set
 * when some could not be finished now (their offsets are not stored). */
mlc_rc ld_run_round(struct ld *ld, struct item **items, size_t n, bool *retry, struct mlc_err *err);

/* ---- ld_consume.c: the consumption loop */

/* Consumes the topic until stopped (run) or until the end offsets seen at
 * start (drain: MLC_RETRY when stopped before). */
mlc_rc ld_consume(struct ld *ld, bool drain, struct mlc_err *err);

#endif

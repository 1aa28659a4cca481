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
 * This header holds only the types the modules share; each module declares
 * its functions in its own header. Read top-down, each uses only those below:
 *
 *   ld_loader   ld_main, the ping and setup commands
 *   ld_consume  the loop above: carry, rebalance, offsets, budget pause
 *   ld_round    one round: calls, settling, dead letters, storing
 *   ld_plan     planning one event
 *   ld_backlog  the backlog of creates (MLC_LOAD_ORDER) and its offset floor
 *   ld_adopt    matching new customers to organizations without IDs
 *   ld_fields   custom-field set-up and recovery (ld_loader, ld_round)
 *   ld_scan     the identity scan and the id map refresh
 *   ld_dlq      the dead-letter producer
 *   ld_calls    the call audit (rows of the Pipedrive calls made)
 *   ld_opts, ld_outcome: types (leaves)
 *   ld_util     JSON members, times, URL escaping, canonical text, and the
 *               outcome names of ld_outcome.h (leaves)
 *   pd_client, pd_limits, pd_mapping, ld_state, ld_metrics: below them all
 *
 * Ownership: struct ld lives on ld_main's stack. cfg, o and out are
 * borrowed; pd, st, map, dlq, calls, metrics and listing are owned and released by
 * ld_main; cons, the carry's messages and revoked are owned by ld_consume
 * (released before it returns). A struct work lives in ld_run_round's array
 * and owns ev, next, body, row and call; it borrows its item.
 */
#ifndef LD_INTERNAL_H
#define LD_INTERNAL_H
#include "ld_opts.h"
#include "ld_outcome.h"
#include "ld_sign.h"
#include "ld_state.h"
#include "mlc_backoff.h"
#include "mlc_config.h"
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
    enum pd_op op;
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
 * outcome is stored (or it went to the backlog of creates), its offset may
 * be stored once those before it are and no backlog row of its partition
 * is older. A row of the backlog of creates (ld_backlog.h) is worked as an
 * item too: msg is NULL, backlog is set and key/value are owned copies.
 * partition, offset, key and value are filled for both kinds (for a carry
 * item they point into msg). */
struct item {
    rd_kafka_message_t *msg;
    bool done;
    bool backlog;
    int32_t partition;
    int64_t offset; /* of the latest event folded into a backlog row */
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    /* a backlog item's mlc.signature header (owned; NULL: none), so that its
     * dead letter keeps it and a replay verifies */
    const char *sig;
    size_t sig_len;
};

/* What an event needs (ld_plan). PLAN_WAIT: an unanswered create may still
 * land; the event is left for a later round. */
/* PLAN_QUEUE: a create (the customer has no organization) or a later event
 * of a customer already in the backlog: stored in the backlog of creates,
 * worked through when the budget allows (ld_backlog.h). */
enum plan_kind { PLAN_NONE = 0, PLAN_POST, PLAN_PATCH, PLAN_DLQ, PLAN_WAIT, PLAN_QUEUE };

/* One event of a round, from planning to the stored outcome. Zeroed before
 * ld_plan; owns ev, next, body, row and call (released by ld_round). */
struct work {
    struct item *it;
    struct mlc_event ev;
    bool decoded;
    enum plan_kind kind;
    enum ld_outcome outcome; /* when finished */
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
    bool finished;          /* outcome known: audit and mark done */
    bool refused;           /* Pipedrive answered 400 to a body naming custom fields */
    bool fields_retried;    /* sent again once after the fields were re-read */
    bool create_refused;    /* Pipedrive answered a create with a 4xx: nothing was made */
    char refusal[512];      /* Pipedrive's error text of that 400 */
    int64_t matched_id;     /* organization matched by name (MLC_MATCH_EXISTING) */
    int64_t match_conflict; /* matched one another customer took: created instead */
};

struct ld_backlog;

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
    long dry_creates, dry_updates; /* a dry run's would-be POSTs and PATCHes */
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
    struct ld_sign sign;        /* the event keys; none: nothing checked */
    /* the forecast's meta values last written (ld_calls.c), to skip rewrites */
    long long forecast_meta[4];
    bool forecast_meta_set[4];
    struct ld_listing *listing; /* MLC_MATCH_EXISTING=name, else NULL (ld_adopt.h) */
    struct mlc_err halt;        /* rc != MLC_OK: stop once the round is stored */
    struct ld_backlog *backlog; /* owned by ld_consume; NULL in a dry run */
};

#endif

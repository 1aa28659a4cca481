/* ext_run.h - the state of one running cycle, shared by the modules that make
 * up a cycle (ext_cycle, ext_scan, ext_page, ext_publish, ext_commit). Not an
 * API for callers outside the extractor's cycle: they use ext_cycle.h.
 *
 * Ownership: struct ext_run lives on ext_cycle_run's stack; x, company are
 * borrowed; terms and value are owned by the run and released by
 * ext_cycle_run. A struct ext_inflight owns its p array (ext_inflight_free).
 */
#ifndef EXT_RUN_H
#define EXT_RUN_H
#include "ext_cycle.h"
#include "mlc_buf.h"
#include "mlc_event.h"
#include "sage_customer.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What a record led to; ext_commit.c maps it to the audit outcome name. */
enum ext_outcome { EXT_OUT_PUBLISHED, EXT_OUT_UNCHANGED, EXT_OUT_SKIPPED, EXT_OUT_MISSING };

/* What one record of a page leads to, kept until the page is committed. */
struct ext_pending {
    enum ext_outcome outcome;
    bool has_number;
    char number[MLC_EVENT_MAX_NUMBER + 1];
    char hash[MLC_EVENT_HASH_HEX + 1];
    char last_maintained[11];
    char reason[200];
    /* published upserts: what ext_state_customer_delivered records */
    char master[MLC_EVENT_HASH_HEX + 1];
    char balance_hash[MLC_EVENT_HASH_HEX + 1]; /* "" when the event had no credit */
    struct ext_credit_view credit;             /* valid when balance_hash[0] */
};

/* State of one running cycle. */
struct ext_run {
    struct ext_ctx *x;
    const char *company;
    enum ext_kind kind;
    bool full; /* kind != EXT_INCREMENTAL: every customer, no date filter */
    bool force;
    int64_t id;
    struct ext_cycle_stats st;
    struct sage_terms *terms;
    char resource[1024];
    char max_lm[11]; /* largest DateLastMaintained seen, "" none */
    char last[MLC_EVENT_MAX_NUMBER + 1];
    bool has_last;
    struct mlc_buf value; /* the event being encoded (ext_publish) */
};

/* A page whose events are queued and whose commit waits for their reports. */
struct ext_inflight {
    bool used;
    unsigned slot;         /* delivery counters of ext_ctx */
    long page_no;          /* 1-based, for messages */
    struct ext_pending *p; /* one per record, owned */
    size_t n;
    long produced;
    time_t read_at;
    long t_prepared; /* ms, for the debug line */
};

static inline void ext_inflight_free(struct ext_inflight *f)
{
    free(f->p);
    memset(f, 0, sizeof(*f));
}

#endif

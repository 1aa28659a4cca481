/* ext_cycle.h - one poll cycle of one company: Sage pages -> Kafka -> state.
 *
 * The cycle (docs/extractor.md):
 *   1. read ARTerms (all pages) once;
 *   2. incremental: $filter DateLastMaintained ge (watermark - lookback days)
 *      (no watermark yet, or --full: no date filter); keyset paging ordered by
 *      CustomerNumber with $top = MLC_SAGE_PAGE_SIZE, following the (re-based)
 *      @odata.nextLink when the server truncates; the scan ends only on an
 *      empty keyset page;
 *   3. per page: normalise and hash every record, publish those whose hash
 *      differs from the last delivered one (all with force; customers
 *      reported missing are published again), wait for every delivery
 *      report, then commit the page's hashes and audit rows in ONE
 *      transaction. A failed or timed-out report commits nothing of the page
 *      and fails the cycle. A bad record is audited as skipped and logged;
 *   4. --full only, after the last page: every known customer the scan did
 *      not see gets one `missing` event (once; delivered, then flagged);
 *   5. the watermark moves to the largest DateLastMaintained seen, capped at
 *      today (UTC), never backwards - only when every step succeeded.
 * A page failure that persists through the retries (5xx, timeout, malformed
 * page) ends the cycle with MLC_RETRY and the watermark where it was; the
 * pages committed before stay committed (they were delivered). 401/403 give
 * MLC_FATAL. When *stop becomes non-zero the page in hand is finished
 * (delivered and committed) and the cycle ends "interrupted" (MLC_RETRY)
 * without moving the watermark.
 *
 * Pipelining: page N+1 is fetched (on a helper thread) and page N-1's delivery
 * reports arrive while page N is prepared; each page is still committed only
 * after all of its own reports succeeded, in page order. A crash therefore
 * re-sends at most the two pages in flight.
 *
 * Modules: ext_cycle (this: terms, the cycle, the missing report, the
 * watermark), ext_scan (keyset scan loop), ext_fetch (prefetch thread),
 * ext_page (prepare a page), ext_publish (produce, delivery reports per
 * slot), ext_commit (settle a page, committer thread); ext_run.h holds the
 * state they share.
 *
 * Memory: bounded by the page size (at most two parsed pages and two pages of
 * pending rows at a time), whatever the number of customers.
 */
#ifndef EXT_CYCLE_H
#define EXT_CYCLE_H
#include "ext_metrics.h"
#include "ext_state.h"
#include "mlc_err.h"
#include "mlc_kafka.h"
#include "mlc_sign.h"
#include "sage_client.h"
#include <signal.h>
#include <stdbool.h>

#define EXT_SLOTS 2 /* pages in flight between queueing and commit */

/* What a cycle reads and does (docs/extractor.md, "Schedules"):
 *   EXT_INCREMENTAL  customers maintained since the watermark - lookback;
 *   EXT_FULL         every customer, then report the missing ones;
 *   EXT_BALANCE      every customer (the credit picture moves without
 *                    DateLastMaintained), no missing report.
 * All three publish by the same rule (ext_page.c): master data changed, or
 * the credit picture changed enough (ext_balance.h). */
enum ext_kind { EXT_INCREMENTAL = 0, EXT_FULL, EXT_BALANCE };

/* "incremental", "full" or "balance" (the cycle table's kind). */
const char *ext_kind_name(enum ext_kind kind);

/* Everything a cycle needs; all pointers borrowed. */
struct ext_ctx {
    struct sage_client *sage;
    struct mlc_kafka_producer *producer;
    struct ext_state *state;
    /* Nullable: a second connection to the same state file, used by the
     * committer thread so page commits overlap the next page's work. */
    struct ext_state *commit_state;
    const char *base_url;   /* MLC_SAGE_URL */
    const char *topic;      /* MLC_TOPIC */
    long top;               /* MLC_SAGE_PAGE_SIZE */
    long lookback_days;     /* MLC_SAGE_LOOKBACK_DAYS */
    long max_pages;         /* MLC_SAGE_MAX_PAGES: per scan; 0 = no cap */
    int flush_timeout_ms;   /* how long to wait for a page's delivery reports */
    int event_version;      /* MLC_EVENT_VERSION: 1 or 2 (0 is taken as 2) */
    double balance_min_pct; /* MLC_BALANCE_MIN_CHANGE_PCT */
    /* MLC_EVENT_KEY_FILE; NULL: events go unsigned (mlc_sign.h) */
    const struct mlc_sign_key *sign_key;
    volatile sig_atomic_t *stop;
    /* Test hook (MLC_TEST_CRASH_AFTER_DELIVERY): _exit(99) right after the nth
     * page's deliveries were acknowledged and before its commit; 0 = off. */
    long crash_after_pages;
    long pages_delivered;
    struct ext_metrics *metrics; /* nullable (ext_metrics.h) */
    /* Delivery reports per page slot (set by ext_on_delivery, ext_publish.h;
     * the producer's report callback takes this struct as its ctx): the page being
     * prepared and the page waiting for its reports use different slots. */
    long dr_ok[EXT_SLOTS], dr_failed[EXT_SLOTS];
    bool dr_denied[EXT_SLOTS]; /* a failure was the topic's ACLs: configuration, fatal */
    char dr_error[EXT_SLOTS][200];
};

/* Runs one cycle of kind for company. stats (nullable) receives the counts. */
mlc_rc ext_cycle_run(struct ext_ctx *x, const char *company, enum ext_kind kind, bool force,
                     struct ext_cycle_stats *stats, struct mlc_err *err);

#endif

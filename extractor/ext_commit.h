/* ext_commit.h - settling a page: wait for its delivery reports, then commit
 * its customers and audit rows in ONE transaction, on a committer thread.
 *
 * The committer commits pages on a helper thread with its own SQLite
 * connection (ext_ctx.commit_state), one page at a time and in page order, so
 * the commit's fsync overlaps the next page's work. Without commit_state the
 * commit runs inline. Only the committer writes while a scan runs; the main
 * thread only reads (WAL readers never block the writer). A page counts as
 * published (ext_run.st.published) only once it committed.
 *
 * Test hook (ext_ctx.crash_after_pages, MLC_TEST_CRASH_AFTER_DELIVERY): the
 * process _exit(99)s right after the nth page's deliveries were acknowledged
 * and every earlier page committed, before that page's commit.
 */
#ifndef EXT_COMMIT_H
#define EXT_COMMIT_H
#include "ext_run.h"

#include <pthread.h>

/* Zero-initialise with .c set; owned by the scan that uses it, which must
 * call ext_committer_join before it ends. */
struct ext_committer {
    pthread_t tid;
    bool running, has_job;
    struct ext_run *c;
    struct ext_inflight job; /* the page being committed (owned) */
    long t_acked;            /* ms between queueing and the last report, for the debug line */
    long ms;                 /* commit duration */
    mlc_rc rc;
    struct mlc_err err;
};

/* Commits the n records p (borrowed) of a page - customers and audit rows -
 * in one transaction on st; rolls back on any failure. */
mlc_rc ext_commit_page(struct ext_run *c, struct ext_state *st, const struct ext_pending *p,
                       size_t n, time_t at, struct mlc_err *err);

/* Waits for the page being committed; counts it when it committed. The
 * committer's failure is copied to err. */
mlc_rc ext_committer_join(struct ext_committer *k, struct mlc_err *err);

/* Waits for every report of f's events (ext_publish_wait), then has f's
 * customers and audit rows committed by k once the previous page committed;
 * f is taken over either way (zeroed). An unused f is a no-op. */
mlc_rc ext_page_settle(struct ext_run *c, struct ext_committer *k, struct ext_inflight *f,
                       struct mlc_err *err);

#endif

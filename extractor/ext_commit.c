/* ext_commit.c - committing settled pages (see ext_commit.h). */
#include "ext_commit.h"
#include "mlc_time.h"

#include "ext_publish.h"
#include "mlc_backoff.h"
#include "mlc_log.h"

#include <unistd.h>

static const char *const outcome_names[] = {"published", "unchanged", "skipped", "missing"};

static void maybe_crash(struct ext_ctx *x)
{
    x->pages_delivered++;
    if (x->crash_after_pages > 0 && x->pages_delivered == x->crash_after_pages) {
        /* Test hook: die like kill -9 between delivery and commit. */
        static const char msg[] = "mlc-extractor: MLC_TEST_CRASH_AFTER_DELIVERY: exiting\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        _exit(99);
    }
}

/* Commits the page's customers and audit rows in one transaction. */
mlc_rc ext_commit_page(struct ext_run *c, struct ext_state *st, const struct ext_pending *p,
                       size_t n, time_t at, struct mlc_err *err)
{
    struct mlc_store *store = ext_state_store(st);
    mlc_rc rc;

    if ((rc = mlc_store_begin(store, err)) != MLC_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const struct ext_pending *r = &p[i];

        if (r->has_number && r->outcome != EXT_OUT_MISSING) {
            rc = ext_state_customer_seen(st, c->company, r->number,
                                         r->outcome == EXT_OUT_PUBLISHED ? r->hash : NULL,
                                         r->last_maintained, c->kind == EXT_FULL ? c->id : 0, err);
            if (rc == MLC_OK && r->outcome == EXT_OUT_PUBLISHED && r->master[0])
                rc = ext_state_customer_delivered(st, c->company, r->number, r->master,
                                                  r->balance_hash,
                                                  r->balance_hash[0] ? &r->credit : NULL, err);
        } else if (r->outcome == EXT_OUT_MISSING) {
            rc = ext_state_customer_missing(st, c->company, r->number, err);
        }
        /* An unchanged customer with nothing to say is counted by its cycle
         * row only: a row each would grow the audit by every customer an
         * incremental cycle re-reads (millions a day at a short poll
         * interval). One with a reason (a balance move held back) is kept. */
        if (rc == MLC_OK && !(r->outcome == EXT_OUT_UNCHANGED && !r->reason[0]))
            rc = ext_state_audit(st, c->id, c->company, r->has_number ? r->number : NULL,
                                 r->hash[0] ? r->hash : NULL, outcome_names[r->outcome],
                                 r->reason[0] ? r->reason : NULL, at, err);
        if (rc != MLC_OK) {
            mlc_store_rollback(store, NULL);
            return rc;
        }
    }
    return mlc_store_commit(store, err);
}

static void *commit_main(void *arg)
{
    struct ext_committer *k = arg;
    long t0 = mlc_monotonic_ms();

    k->rc =
        ext_commit_page(k->c, k->c->x->commit_state, k->job.p, k->job.n, k->job.read_at, &k->err);
    k->ms = mlc_monotonic_ms() - t0;
    return NULL;
}

/* Waits for the page being committed; counts it when it committed. */
mlc_rc ext_committer_join(struct ext_committer *k, struct mlc_err *err)
{
    struct ext_run *c = k->c;
    mlc_rc rc;

    if (k->running)
        pthread_join(k->tid, NULL);
    k->running = false;
    if (!k->has_job)
        return MLC_OK;
    rc = k->rc;
    if (rc == MLC_OK) {
        c->st.published += k->job.produced;
        mlc_debug("%s: page %ld: %zu records, %ld published: prepared in %ld ms, acknowledged "
                  "%ld ms later, committed in %ld ms",
                  c->company, k->job.page_no, k->job.n, k->job.produced, k->job.t_prepared,
                  k->t_acked, k->ms);
    } else if (err) {
        *err = k->err;
    }
    ext_inflight_free(&k->job);
    k->has_job = false;
    return rc;
}

/* Hands f (taken over) to the committer once the previous page committed. */
static mlc_rc committer_start(struct ext_committer *k, struct ext_inflight *f, long t_acked,
                              struct mlc_err *err)
{
    mlc_rc rc = ext_committer_join(k, err);

    if (rc != MLC_OK) {
        ext_inflight_free(f);
        return rc;
    }
    k->job = *f;
    memset(f, 0, sizeof(*f));
    k->has_job = true;
    k->t_acked = t_acked;
    mlc_err_clear(&k->err);
    if (k->c->x->commit_state && pthread_create(&k->tid, NULL, commit_main, k) == 0) {
        k->running = true;
        return MLC_OK;
    }
    /* Inline: no second connection, or no thread. */
    {
        long t0 = mlc_monotonic_ms();

        k->rc =
            ext_commit_page(k->c, k->c->x->commit_state ? k->c->x->commit_state : k->c->x->state,
                            k->job.p, k->job.n, k->job.read_at, &k->err);
        k->ms = mlc_monotonic_ms() - t0;
    }
    return ext_committer_join(k, err);
}

/* Waits for every report of f's events, then has f's customers and audit
 * rows committed in one transaction; f is taken over either way. */
mlc_rc ext_page_settle(struct ext_run *c, struct ext_committer *k, struct ext_inflight *f,
                       struct mlc_err *err)
{
    long t1 = mlc_monotonic_ms();
    mlc_rc rc;

    if (!f->used)
        return MLC_OK;
    if ((rc = ext_publish_wait(c, f->slot, f->produced, f->page_no, err)) != MLC_OK) {
        ext_inflight_free(f);
        return rc;
    }
    if (f->n > 0) {
        /* The test hook dies with every earlier page committed. */
        if (c->x->crash_after_pages > 0 && (rc = ext_committer_join(k, err)) != MLC_OK) {
            ext_inflight_free(f);
            return rc;
        }
        maybe_crash(c->x);
    }
    return committer_start(k, f, mlc_monotonic_ms() - t1, err);
}

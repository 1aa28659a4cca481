/* ext_page.c - preparing one page of customers (see ext_page.h). */
#include "ext_page.h"
#include "mlc_alloc.h"
#include "mlc_time.h"

#include "ext_publish.h"
#include "mlc_backoff.h"
#include "mlc_log.h"
#include "mlc_str.h"

/* The credit facts of a normalised customer and its credit object. */
static void credit_view(const cJSON *customer, const cJSON *credit, struct ext_credit_view *v)
{
    const cJSON *it;

    memset(v, 0, sizeof(*v));
    if ((it = cJSON_GetObjectItemCaseSensitive(credit, "balance_due")))
        v->balance = it->valuedouble;
    if ((it = cJSON_GetObjectItemCaseSensitive(credit, "amount_past_due")))
        v->past_due = it->valuedouble;
    if ((it = cJSON_GetObjectItemCaseSensitive(customer, "credit_limit")))
        v->limit = it->valuedouble;
    v->on_hold = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(customer, "on_hold"));
}

/* Whether customer cu must be published (docs/extractor.md, "What is
 * published"): new, missing before, forced, master data changed, or (v2)
 * the credit picture changed enough (ext_balance.h). Fills r->master and,
 * for v2, r->balance_hash and r->credit; a held-back balance move gets a
 * reason for the audit. */
static mlc_rc must_publish(struct ext_run *c, const struct sage_customer *cu,
                           const struct ext_known *known, struct ext_pending *r, bool *publish,
                           struct mlc_err *e)
{
    bool v2 = c->x->event_version != 1;
    enum ext_balance_why why;
    mlc_rc rc;

    *publish = true;
    if ((rc = mlc_event_content_hash(cu->customer, r->master, e)) != MLC_OK)
        return rc;
    if (v2) {
        if (!cu->credit)
            return mlc_err_set(e, MLC_PERM, "customer %s: BalanceDueInCustomerCurrency: missing",
                               r->number);
        if ((rc = mlc_event_content_hash(cu->credit, r->balance_hash, e)) != MLC_OK)
            return rc;
        credit_view(cu->customer, cu->credit, &r->credit);
    }
    if (c->force || !known->has_hash || known->missing || !known->has_master ||
        strcmp(known->master_hash, r->master) != 0)
        return MLC_OK;
    if (!v2 || (known->has_balance && !strcmp(known->balance_hash, r->balance_hash))) {
        *publish = false; /* v1 pinned, or the credit picture as last delivered */
        return MLC_OK;
    }
    why =
        ext_balance_verdict(known->has_pub ? &known->pub : NULL, &r->credit, c->x->balance_min_pct);
    if (why == EXT_BAL_MINOR) {
        *publish = false;
        snprintf(r->reason, sizeof(r->reason),
                 "balance %.3f -> %.3f below MLC_BALANCE_MIN_CHANGE_PCT and 1%% of the credit "
                 "limit: not published on its own",
                 known->pub.balance, r->credit.balance);
    }
    return MLC_OK;
}

/* Normalises record rec into r, decides whether it changed (must_publish)
 * and queues its event in slot when it did; MLC_PERM: a bad record (e says
 * why), anything else but MLC_OK ends the page. */
static mlc_rc prepare_record(struct ext_run *c, const cJSON *rec, unsigned slot, time_t read_at,
                             struct ext_inflight *f, struct ext_pending *r, struct mlc_err *e)
{
    struct sage_customer cu = {0};
    struct ext_known known;
    bool publish = true;
    mlc_rc rc;

    rc = sage_customer_normalize(rec, c->terms, &cu, e);
    if (cu.number[0]) {
        r->has_number = true;
        mlc_strlcpy(r->number, cu.number, sizeof(r->number));
    }
    if (rc == MLC_OK) {
        mlc_strlcpy(r->last_maintained, cu.last_maintained, sizeof(r->last_maintained));
        rc = ext_state_customer_get(c->x->state, c->company, cu.number, &known, e);
    }
    if (rc == MLC_OK)
        rc = must_publish(c, &cu, &known, r, &publish, e);
    if (rc == MLC_OK) {
        if (cu.last_maintained[0] && strcmp(cu.last_maintained, c->max_lm) > 0)
            mlc_strlcpy(c->max_lm, cu.last_maintained, sizeof(c->max_lm));
        if (!publish) {
            r->outcome = EXT_OUT_UNCHANGED;
            mlc_strlcpy(r->hash, known.hash, sizeof(r->hash)); /* what stays delivered */
            c->st.unchanged++;
        } else {
            if (c->x->event_version == 1)
                r->balance_hash[0] = '\0'; /* a v1 event carries no credit picture */
            rc = ext_publish(c, slot, cu.number, cu.customer, cu.credit, cu.last_maintained,
                             read_at, r->hash, e);
            if (rc == MLC_OK) {
                r->outcome = EXT_OUT_PUBLISHED;
                /* Serve reports now and then; produce() does when full. */
                if (++f->produced % 128 == 0)
                    mlc_kafka_producer_poll(c->x->producer, 0, NULL);
            }
        }
    }
    sage_customer_free(&cu);
    return rc;
}

/* Normalises, hashes and compares every record of page and queues the
 * changed ones (delivery counters of slot). Fills f; the page may be freed
 * afterwards. */
mlc_rc ext_page_prepare(struct ext_run *c, const struct sage_page *page, time_t read_at,
                        unsigned slot, struct ext_inflight *f, struct mlc_err *err)
{
    struct ext_ctx *x = c->x;
    long t0 = mlc_monotonic_ms();
    size_t i = 0;
    mlc_rc rc = MLC_OK;

    memset(f, 0, sizeof(*f));
    c->st.pages++;
    f->used = true;
    f->slot = slot;
    f->page_no = c->st.pages;
    f->read_at = read_at;
    ext_publish_slot_reset(x, slot);
    if (page->count == 0)
        return MLC_OK;
    f->p = mlc_xcalloc(page->count, sizeof(*f->p));
    if ((rc = ext_state_read_begin(x->state, err)) != MLC_OK)
        return rc;
    /* Walk the list: cJSON_GetArrayItem(i) is O(i), quadratic per page. */
    for (const cJSON *rec = page->records ? page->records->child : NULL; rec && i < page->count;
         rec = rec->next, i++) {
        struct mlc_err e = {0};
        struct ext_pending *r = &f->p[i];

        f->n++;
        c->st.records++;
        rc = prepare_record(c, rec, slot, read_at, f, r, &e);
        if (rc == MLC_PERM) {
            r->outcome = EXT_OUT_SKIPPED;
            r->hash[0] = '\0';
            r->last_maintained[0] = '\0';
            mlc_strlcpy(r->reason, e.msg, sizeof(r->reason));
            c->st.skipped++;
            mlc_warn("%s: skipping customer %s (record %ld of page %ld): %s", c->company,
                     r->has_number ? r->number : "(no CustomerNumber)", (long)i + 1, f->page_no,
                     e.msg);
            rc = MLC_OK;
            continue;
        }
        if (rc != MLC_OK) {
            if (err)
                *err = e;
            break;
        }
    }
    ext_state_read_end(x->state);
    f->t_prepared = mlc_monotonic_ms() - t0;
    return rc;
}

/* ext_page.c - preparing one page of customers (see ext_page.h). */
#include "ext_page.h"

#include "ext_publish.h"
#include "mlc_backoff.h"
#include "mlc_log.h"
#include "mlc_str.h"

/* Normalises record rec into r, compares its hash with the last delivered
 * one and queues its event in slot when it changed; MLC_PERM: a bad record
 * (e says why), anything else but MLC_OK ends the page. */
static mlc_rc prepare_record(struct ext_run *c, const cJSON *rec, unsigned slot, time_t read_at,
                             struct ext_inflight *f, struct ext_pending *r, struct mlc_err *e)
{
    struct sage_customer cu = {0};
    struct ext_known known;
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
    /* Hash only what must be compared; ext_publish() takes the hash from the
     * event it builds (new, missing or forced customers). */
    if (rc == MLC_OK && !c->force && known.has_hash && !known.missing)
        rc = mlc_event_content_hash(cu.customer, r->hash, e);
    if (rc == MLC_OK) {
        if (cu.last_maintained[0] && strcmp(cu.last_maintained, c->max_lm) > 0)
            mlc_strlcpy(c->max_lm, cu.last_maintained, sizeof(c->max_lm));
        if (r->hash[0] && !strcmp(known.hash, r->hash)) {
            r->outcome = EXT_OUT_UNCHANGED;
            c->st.unchanged++;
        } else {
            rc = ext_publish(c, slot, cu.number, cu.customer, cu.last_maintained, read_at, r->hash,
                             e);
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
    f->p = calloc(page->count, sizeof(*f->p));
    if (!f->p)
        return mlc_err_set(err, MLC_FATAL, "out of memory");
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

/* ext_page.h - preparing one page of a scan: normalise, hash and compare
 * every record, and queue the changed ones for Kafka.
 *
 * A record whose hash differs from the last delivered one (all with force;
 * customers reported missing too) is published in the page's slot; an
 * unchanged one is only noted; a bad record (MLC_PERM) is noted as skipped
 * with its reason and logged. The page is read in one ext_state read
 * snapshot on ext_ctx.state; nothing is written.
 */
#ifndef EXT_PAGE_H
#define EXT_PAGE_H
#include "ext_run.h"
#include "sage_page.h"

/* Prepares page (borrowed; may be freed afterwards) into f (zeroed first;
 * owns one ext_pending per record, free with ext_inflight_free), counting
 * in c->st and moving c->max_lm. Events go to the delivery counters of
 * slot, which are reset first. */
mlc_rc ext_page_prepare(struct ext_run *c, const struct sage_page *page, time_t read_at,
                        unsigned slot, struct ext_inflight *f, struct mlc_err *err);

#endif

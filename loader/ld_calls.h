/* ld_calls.h - the call audit: the rows of the Pipedrive calls made, from
 * pd_client's audit callback to the state file.
 */
#ifndef LD_CALLS_H
#define LD_CALLS_H

#include "ld_internal.h"

/* pd_client's audit callback (ctx: struct ld): records one call row and
 * its metrics. */
void ld_calls_on_call(void *ctx, const struct pd_call *call, long status, int tokens, long dur);

/* Writes the collected call rows inside the caller's transaction (a dry run
 * only forgets them). */
mlc_rc ld_flush_calls(struct ld *ld, struct mlc_err *err);

/* Stores pending call rows in their own transaction (start-up, scans). */
mlc_rc ld_flush_calls_tx(struct ld *ld, struct mlc_err *err);

#endif

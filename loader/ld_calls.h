/* ld_calls.h - the call audit: the rows of the Pipedrive calls made, from
 * pd_client's audit callback to the state file.
 */
#ifndef LD_CALLS_H
#define LD_CALLS_H

#include "ld_internal.h"

/* What a call was spent on, from its operation: "creates", "updates",
 * "scans" (organization reads and searches), "field_setup", "probes"
 * (users/me) or "other". The kinds of spend_hour and of the metric
 * mlc_loader_tokens_today. */
const char *ld_call_kind(enum pd_op op);

/* Tokens one organization create costs (the forecast's unit). */
#define LD_CREATE_TOKENS 5

/* pd_client's audit callback (ctx: struct ld): records one call row and
 * its metrics. */
void ld_calls_on_call(void *ctx, const struct pd_call *call, long status, int tokens, long dur);

/* Writes the collected call rows and their hourly spending inside the
 * caller's transaction (a dry run only forgets them), and, for `mlc status`'s
 * forecast, meta daily_budget (the budget in force, 0 unknown), reserve_pct
 * and lag (sum over the assigned partitions of high watermark - position,
 * from librdkafka's cached watermarks; -1 when not consuming). */
mlc_rc ld_flush_calls(struct ld *ld, struct mlc_err *err);

/* Stores pending call rows in their own transaction (start-up, scans). */
mlc_rc ld_flush_calls_tx(struct ld *ld, struct mlc_err *err);

#endif

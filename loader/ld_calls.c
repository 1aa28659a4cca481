/* ld_calls.c - the call audit: every Pipedrive call is recorded as a row
 * (pd_client's audit callback) until it is written to the state file with
 * the round, the scan or on its own.
 */
#include "ld_calls.h"

#include "ld_metrics.h"
#include "ld_state.h"
#include "mlc_alloc.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "mlc_time.h"

#include <stdlib.h>
#include <string.h>

void ld_calls_on_call(void *ctx, const struct pd_call *call, long status, int tokens, long dur)
{
    struct ld *ld = ctx;
    const struct work *w = call->tag;
    struct pd_limits *l = pd_client_limits(ld->pd);
    struct call_row *r;

    ld_metrics_call(ld->metrics, mlc_http_method_name(call->method), pd_op_name(call->op), status,
                    tokens, status == 429 && pd_limits_daily_paused(l),
                    status == 403 && pd_limits_blocked(l), pd_limits_daily_remaining(l),
                    pd_limits_burst_remaining(l));

    if (ld->n_calls == ld->cap_calls) {
        size_t cap = ld->cap_calls ? ld->cap_calls * 2 : 64;

        ld->calls = mlc_xreallocarray(ld->calls, cap, sizeof(*ld->calls));
        ld->cap_calls = cap;
    }
    r = &ld->calls[ld->n_calls++];
    memset(r, 0, sizeof(*r));
    mlc_strlcpy(r->method, mlc_http_method_name(call->method), sizeof(r->method));
    mlc_strlcpy(r->path, call->path, sizeof(r->path));
    r->status = status;
    r->tokens = tokens;
    r->duration_ms = dur;
    r->at_ms = mlc_realtime_ms();
    if (w && w->decoded) {
        mlc_strlcpy(r->company, w->ev.company, sizeof(r->company));
        mlc_strlcpy(r->customer, w->ev.customer_number, sizeof(r->customer));
    }
}

mlc_rc ld_flush_calls(struct ld *ld, struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;

    if (ld->o->dry_run) {
        ld->n_calls = 0;
        return MLC_OK;
    }
    for (size_t i = 0; i < ld->n_calls && rc == MLC_OK; i++) {
        struct call_row *r = &ld->calls[i];

        rc = ld_state_audit_call(ld->st, r->method, r->path, r->status, r->tokens, r->duration_ms,
                                 r->company[0] ? r->company : NULL,
                                 r->company[0] ? r->customer : NULL, r->at_ms, err);
    }
    if (rc == MLC_OK)
        ld->n_calls = 0;
    return rc;
}

mlc_rc ld_flush_calls_tx(struct ld *ld, struct mlc_err *err)
{
    mlc_rc rc;

    if (ld->o->dry_run || ld->n_calls == 0) {
        ld->n_calls = 0;
        return MLC_OK;
    }
    if ((rc = ld_state_begin(ld->st, err)) != MLC_OK)
        return rc;
    if ((rc = ld_flush_calls(ld, err)) == MLC_OK)
        return ld_state_commit(ld->st, err);
    ld_state_rollback(ld->st);
    return rc;
}

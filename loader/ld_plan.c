/* ld_plan.c - planning one event of a round: decode, map, hash, consult the
 * id map and decide: no call, POST, PATCH, dead letter or wait.
 */
#include "ld_plan.h"

#include "ld_adopt.h"
#include "ld_backlog.h"
#include "ld_scan.h"
#include "ld_state.h"
#include "ld_util.h"
#include "mlc_buf.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "mlc_time.h"
#include "pd_client.h"
#include "pd_mapping.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ld_work_finish(struct work *w, enum ld_outcome outcome, int64_t org_id, const char *fmt, ...)
{
    va_list ap;

    w->finished = true;
    w->outcome = outcome;
    w->org_id = org_id;
    w->reason[0] = '\0';
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(w->reason, sizeof(w->reason), fmt, ap);
        va_end(ap);
    }
}

void ld_work_to_dlq(struct work *w, const char *cls, const char *text)
{
    w->kind = PLAN_DLQ;
    mlc_strlcpy(w->err_class, cls, sizeof(w->err_class));
    mlc_strlcpy(w->reason, text, sizeof(w->reason));
}

static mlc_rc set_body(struct work *w, const cJSON *b, struct mlc_err *err)
{
    free(w->body);
    w->body = cJSON_PrintUnformatted(b);
    return w->body ? MLC_OK : mlc_err_set(err, MLC_FATAL, "organization body not printable");
}

/* The full body for the event as the organization should now look: for
 * upsert the mapped body (absent values null); for missing the last known
 * body with the on_missing fields replaced. */
/* The mapping applied to w's event. */
static mlc_rc apply(struct ld *ld, struct work *w, enum pd_apply_mode mode, cJSON **body,
                    struct mlc_err *err)
{
    struct pd_event_view v = {.company = w->ev.company,
                              .customer_number = w->ev.customer_number,
                              .op = mlc_event_op_name(w->ev.op),
                              .customer = w->ev.customer,
                              .credit = w->ev.credit};

    return pd_mapping_apply(ld->map, &v, mode, body, err);
}

static mlc_rc next_body(struct ld *ld, struct work *w, const cJSON *last, struct mlc_err *err)
{
    cJSON *b = NULL;
    mlc_rc rc = apply(ld, w, PD_APPLY_UPDATE, &b, err);

    if (rc != MLC_OK)
        return rc;
    if (w->ev.op == MLC_EVENT_MISSING) {
        cJSON *merged = last ? cJSON_Duplicate(last, 1) : cJSON_CreateObject();
        const cJSON *c, *cf = cJSON_GetObjectItemCaseSensitive(b, "custom_fields");
        cJSON *mcf;

        mcf = cJSON_GetObjectItemCaseSensitive(merged, "custom_fields");
        if (!cJSON_IsObject(mcf)) {
            cJSON_DeleteItemFromObjectCaseSensitive(merged, "custom_fields");
            mcf = cJSON_AddObjectToObject(merged, "custom_fields");
        }
        cJSON_ArrayForEach(c, cf)
        {
            cJSON_DeleteItemFromObjectCaseSensitive(mcf, c->string);
            cJSON_AddItemToObject(mcf, c->string, cJSON_Duplicate(c, 1));
        }
        cJSON_Delete(b);
        b = merged;
    }
    w->next = b;
    return pd_mapping_hash(b, w->hash, err);
}

mlc_rc ld_plan_create(struct ld *ld, struct work *w, struct mlc_err *err)
{
    cJSON *b = NULL;
    mlc_rc rc = apply(ld, w, PD_APPLY_CREATE, &b, err);

    if (rc != MLC_OK)
        return rc;
    rc = set_body(w, b, err);
    cJSON_Delete(b);
    w->kind = PLAN_POST;
    w->write_row = true;
    w->call.op = PD_OP_CREATE_ORG;
    w->call.method = MLC_HTTP_POST;
    snprintf(w->call.path, sizeof(w->call.path), "/api/v2/organizations");
    return rc;
}

static void dry_print(struct ld *ld, struct work *w, const char *what, const char *diff)
{
    const struct item *it = w->it;

    fprintf(ld->out, "%s:%d:%lld %s:%s %s%s%s", ld->topic, (int)it->partition,
            (long long)it->offset, w->ev.company ? w->ev.company : "?",
            w->ev.customer_number ? w->ev.customer_number : "?", what, w->reason[0] ? ": " : "",
            w->reason);
    fputc('\n', ld->out);
    if (diff && diff[0])
        fputs(diff, ld->out);
    fflush(ld->out);
}

/* A mapping error (MLC_PERM) sends the event to the DLQ and is not a failure
 * of the round; any other failure passes through with err filled from e. */
static mlc_rc mapping_failed(struct work *w, mlc_rc rc, const struct mlc_err *e,
                             struct mlc_err *err)
{
    if (rc == MLC_PERM) {
        ld_work_to_dlq(w, "mapping", e->msg);
        return MLC_OK;
    }
    if (rc != MLC_OK)
        *err = *e;
    return rc;
}

/* The customer has a create whose answer was lost (create_pending_ms and no
 * organization): either defer the event (w->kind = PLAN_WAIT) or look the
 * customer up, so that a create that did land is adopted, never repeated. */
static mlc_rc lost_create(struct ld *ld, struct work *w, struct mlc_err *err)
{
    int64_t ready = w->row.create_pending_ms + ld->settle_ms;
    int64_t since = w->row.create_pending_ms - ld->margin_ms;
    mlc_rc rc;

    if (!ld->o->dry_run && mlc_realtime_ms() < ready) {
        /* The unanswered POST may still be queued at Pipedrive: a lookup now
         * could miss an organization that lands a moment later, and the
         * create that follows would duplicate it. Wait until it must have
         * landed or failed (twice the request timeout), then look. */
        mlc_info("customer %s:%s: an earlier create got no answer; looking it up in %lld ms",
                 w->ev.company, w->ev.customer_number, (long long)(ready - mlc_realtime_ms()));
        if (ready > ld->defer_until_ms)
            ld->defer_until_ms = ready;
        w->kind = PLAN_WAIT;
        return MLC_OK;
    }
    if (since < 1)
        since = 1;
    /* one scan serves every lost create it spans (a round often holds
     * several): each costs list tokens, and the daily budget is finite */
    if (ld->scan_since_ms > since || ld->scan_started_ms < ready) {
        mlc_info("customer %s:%s: an earlier create got no answer; looking it up first",
                 w->ev.company, w->ev.customer_number);
        if ((rc = ld_scan(ld, since, err)) != MLC_OK)
            return rc;
    }
    ld_map_row_free(&w->row);
    if ((rc = ld_state_map_get(ld->st, w->ev.company, w->ev.customer_number, &w->row, &w->row_found,
                               err)) != MLC_OK)
        return rc;
    if (!w->row_found || !w->row.create_pending_ms || w->row.org_id || ld->o->dry_run)
        return MLC_OK;
    /* not there: it never landed, so the create may go out again */
    if ((rc = ld_state_begin(ld->st, err)) != MLC_OK)
        return rc;
    rc = ld_state_map_pending(ld->st, w->ev.company, w->ev.customer_number, 0, err);
    if (rc == MLC_OK)
        rc = ld_state_commit(ld->st, err);
    else
        ld_state_rollback(ld->st);
    if (rc == MLC_OK)
        w->row.create_pending_ms = 0;
    return rc;
}

/* The customer has an organization: unchanged, adopted or a PATCH. */
static mlc_rc plan_update(struct ld *ld, struct work *w, struct mlc_buf *diff, struct mlc_err *err)
{
    struct mlc_err e = {0};
    cJSON *last = NULL, *patch = NULL;
    mlc_rc rc = MLC_OK;

    if (w->row.payload) {
        last = cJSON_Parse(w->row.payload);
        if (!last)
            return mlc_err_set(err, MLC_FATAL, "state db: stored payload of %s:%s is not JSON",
                               w->ev.company, w->ev.customer_number);
    }
    w->remote = w->row.remote;
    if ((rc = next_body(ld, w, last, &e)) != MLC_OK) {
        rc = mapping_failed(w, rc, &e, err);
        goto out;
    }
    if (!w->remote && w->row.hash[0] && !strcmp(w->row.hash, w->hash)) {
        ld_work_finish(w, LD_OUT_UNCHANGED, w->row.org_id, NULL);
        goto out;
    }
    if (w->remote && w->ev.op == MLC_EVENT_UPSERT) {
        cJSON *p = ld_project(last, w->next);

        cJSON_Delete(last);
        last = p;
    }
    if ((rc = pd_mapping_diff(ld->map, last, w->next, &patch, diff, err)) != MLC_OK)
        goto out;
    w->org_id = w->row.org_id;
    w->write_row = true;
    if (!patch) {
        ld_work_finish(w, w->remote ? LD_OUT_ADOPTED : LD_OUT_UNCHANGED, w->row.org_id,
                       w->remote ? "organization already up to date" : NULL);
        goto out;
    }
    if ((rc = set_body(w, patch, err)) != MLC_OK)
        goto out;
    w->kind = PLAN_PATCH;
    w->call.op = PD_OP_PATCH_ORG;
    w->call.method = MLC_HTTP_PATCH;
    snprintf(w->call.path, sizeof(w->call.path), "/api/v2/organizations/%lld",
             (long long)w->row.org_id);
    if (ld->o->dry_run) {
        char what[96];

        snprintf(what, sizeof(what), "would %s organization %lld",
                 w->remote ? "adopt and update" : "update", (long long)w->row.org_id);
        dry_print(ld, w, what, mlc_buf_str(diff));
        ld->dry_updates++; /* ld_loader.c's forecast */
        ld_work_finish(w, LD_OUT_DRY_RUN, w->row.org_id, NULL);
    }
out:
    cJSON_Delete(last);
    cJSON_Delete(patch);
    return rc;
}

/* Not in Pipedrive (or deleted there and to be recreated): a POST. */
static mlc_rc plan_new(struct ld *ld, struct work *w, struct mlc_buf *diff, struct mlc_err *err)
{
    struct mlc_err e = {0};
    mlc_rc rc;

    if (w->ev.op == MLC_EVENT_MISSING) {
        ld_work_finish(w, LD_OUT_UNCHANGED, 0, "missing in sage 300 and no organization to mark");
        if (ld->o->dry_run)
            dry_print(ld, w, "would skip", NULL);
        return MLC_OK;
    }
    rc = next_body(ld, w, NULL, &e);
    if (rc == MLC_OK)
        rc = ld_plan_create(ld, w, &e);
    if (rc != MLC_OK)
        return mapping_failed(w, rc, &e, err);
    if (ld->backlog && !w->it->backlog && !w->recreate) {
        w->kind = PLAN_QUEUE; /* a create: waits in the backlog, updates go first */
        return MLC_OK;
    }
    if (ld->o->dry_run) {
        cJSON *p = NULL;

        pd_mapping_diff(ld->map, NULL, w->next, &p, diff, NULL);
        cJSON_Delete(p);
        dry_print(ld, w, "would create organization", mlc_buf_str(diff));
        ld->dry_creates++; /* ld_loader.c's forecast */
        ld_work_finish(w, LD_OUT_DRY_RUN, 0, NULL);
    }
    return MLC_OK;
}

/* Decides what the event needs. May run an identity lookup (a POST whose
 * answer was lost). Fills w->kind; finished events get their outcome. */
mlc_rc ld_plan(struct ld *ld, struct work *w, struct mlc_err *err)
{
    const struct item *it = w->it;
    struct mlc_err e = {0};
    struct mlc_buf diff;
    bool queued = false;
    mlc_rc rc;

    mlc_buf_init(&diff, 64 * 1024);
    /* a backlog row holds only events that passed this check */
    if (it->msg && !ld_sign_check(&ld->sign, it->msg, e.msg, sizeof(e.msg))) {
        ld_work_to_dlq(w, "signature", e.msg);
        rc = MLC_OK;
        goto out;
    }
    rc = mlc_event_decode(it->key, it->key_len, it->value, it->value_len, &w->ev, &e);
    if (rc == MLC_FATAL) {
        *err = e;
        goto out;
    }
    if (rc != MLC_OK) {
        ld_work_to_dlq(w, mlc_event_error_class(&e), e.msg);
        rc = MLC_OK;
        goto out;
    }
    w->decoded = true;
    if (ld->backlog && !it->backlog &&
        (rc = ld_backlog_has(ld->backlog, w->ev.company, w->ev.customer_number, &queued, err)) !=
            MLC_OK)
        goto out;
    if (queued) { /* per-customer order: folded into its backlog row */
        w->kind = PLAN_QUEUE;
        goto out;
    }
    ld_map_row_free(&w->row);
    if ((rc = ld_state_map_get(ld->st, w->ev.company, w->ev.customer_number, &w->row, &w->row_found,
                               err)) != MLC_OK)
        goto out;
    if (w->row_found && w->row.create_pending_ms && !w->row.org_id) {
        if ((rc = lost_create(ld, w, err)) != MLC_OK || w->kind == PLAN_WAIT)
            goto out;
    }
    if (w->row_found && !strcmp(w->row.state, "duplicate") && !ld->o->dry_run) {
        /* merged or deleted in Pipedrive since? look once per event (a
         * search, 20 tokens), so the customer syncs again without a reset */
        if ((rc = ld_lookup_customer(ld, w->ev.company, w->ev.customer_number, err)) != MLC_OK)
            goto out;
        ld_map_row_free(&w->row);
        if ((rc = ld_state_map_get(ld->st, w->ev.company, w->ev.customer_number, &w->row,
                                   &w->row_found, err)) != MLC_OK)
            goto out;
    }
    if (w->row_found && !strcmp(w->row.state, "duplicate")) {
        ld_work_finish(w, LD_OUT_DUPLICATE, w->row.org_id,
                       "several organizations carry this customer's IDs; none changed");
        goto out;
    }
    if (w->row_found && !strcmp(w->row.state, "deleted_in_crm") && !w->recreate) {
        if (strcmp(mlc_cfg_str(ld->cfg, MLC_CFG_ON_CRM_DELETED), "recreate") != 0) {
            ld_work_finish(
                w, LD_OUT_DELETED_IN_CRM, w->row.org_id,
                "organization was deleted in pipedrive; left deleted (MLC_ON_CRM_DELETED=skip)");
            goto out;
        }
        w->recreate = true;
    }
    /* a create of a carry item goes to the backlog unmatched: the match by
     * name (a read) is made when the backlog row is worked */
    if (!(w->row_found && (w->row.org_id || w->row.create_pending_ms)) && !w->recreate &&
        !(ld->backlog && !it->backlog) && (rc = ld_adopt_match(ld, w, err)) != MLC_OK)
        goto out;
    if (w->row_found && w->row.org_id && !w->recreate)
        rc = plan_update(ld, w, &diff, err);
    else
        rc = plan_new(ld, w, &diff, err);
out:
    if (rc == MLC_OK && w->kind == PLAN_DLQ && ld->o->dry_run) {
        dry_print(ld, w, "would send to the dead-letter topic", NULL);
        ld_work_finish(w, LD_OUT_DRY_RUN, 0, "%s", w->reason);
        w->kind = PLAN_NONE;
    } else if (rc == MLC_OK && ld->o->dry_run && w->finished && w->outcome != LD_OUT_DRY_RUN) {
        char what[64];

        snprintf(what, sizeof(what), "would skip (%s)", ld_outcome_name(w->outcome));
        dry_print(ld, w, what, NULL);
    }
    mlc_buf_free(&diff);
    return rc;
}

mlc_rc ld_plan_again(struct ld *ld, struct work *w, bool drop_match, struct mlc_err *err)
{
    bool create = drop_match || w->call.op == PD_OP_CREATE_ORG;
    struct mlc_buf diff;
    mlc_rc rc;

    cJSON_Delete(w->next);
    w->next = NULL;
    free(w->body);
    w->body = NULL;
    pd_call_reset(&w->call);
    w->kind = PLAN_NONE;
    w->finished = false;
    w->write_row = false;
    w->org_id = 0;
    w->reason[0] = w->err_class[0] = '\0';
    if (drop_match) {
        ld_map_row_free(&w->row);
        memset(&w->row, 0, sizeof(w->row));
        w->row_found = false;
        w->remote = false;
        w->matched_id = 0;
    }
    mlc_buf_init(&diff, 64 * 1024);
    rc = create ? plan_new(ld, w, &diff, err) : plan_update(ld, w, &diff, err);
    mlc_buf_free(&diff);
    return rc;
}

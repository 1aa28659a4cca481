/* ld_round.c - one round: plan every event, mark the creates pending, run
 * the calls, settle their answers, deliver dead letters, then store the id
 * map and audit rows in one transaction.
 */
#include "ld_round.h"

#include "ld_backlog.h"
#include "ld_calls.h"
#include "ld_dlq.h"
#include "ld_fields.h"
#include "ld_metrics.h"
#include "ld_plan.h"
#include "ld_state.h"
#include "ld_util.h"
#include "mlc_alloc.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "mlc_time.h"
#include "pd_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void work_free(struct work *w)
{
    mlc_event_free(&w->ev);
    cJSON_Delete(w->next);
    free(w->body);
    ld_map_row_free(&w->row);
    pd_call_reset(&w->call);
}

/* Learns from the answer of a work's call. */
static mlc_rc settle_work(struct ld *ld, struct work *w, bool *again, bool *retry,
                          struct mlc_err *err)
{
    const struct pd_call *c = &w->call;
    const cJSON *data = c->json ? cJSON_GetObjectItemCaseSensitive(c->json, "data") : NULL;
    bool deleted = false;

    if (c->rc == MLC_OK) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(data, "id");
        int64_t new_id = 0;

        if (w->kind == PLAN_POST) {
            if (!ld_json_id(id, &new_id)) {
                /* it may exist now: the pending mark makes the retry look first */
                *retry = true;
                mlc_warn("customer %s:%s: create answered without an organization id",
                         w->ev.company, w->ev.customer_number);
                return MLC_OK;
            }
            ld_work_finish(w, LD_OUT_CREATED, new_id,
                           w->recreate
                               ? "recreated: the earlier organization was deleted in pipedrive"
                               : NULL);
            return MLC_OK;
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "is_deleted")))
            deleted = true;
        else {
            ld_work_finish(w, w->remote ? LD_OUT_ADOPTED : LD_OUT_UPDATED, w->org_id,
                           w->matched_id ? "matched by name; it carried no IDs" : NULL);
            return MLC_OK;
        }
    }
    if (w->kind == PLAN_PATCH && c->rc == MLC_PERM && (c->status == 404 || c->status == 410))
        deleted = true;
    if (deleted) {
        if (!strcmp(mlc_cfg_str(ld->cfg, MLC_CFG_ON_CRM_DELETED), "recreate")) {
            mlc_info("customer %s:%s: organization %lld was deleted in pipedrive; recreating it",
                     w->ev.company, w->ev.customer_number, (long long)w->org_id);
            w->recreate = true;
            pd_call_reset(&w->call);
            *again = true;
            return ld_plan_create(ld, w, err);
        }
        ld_work_finish(w, LD_OUT_DELETED_IN_CRM, w->org_id,
                       "organization was deleted in pipedrive (HTTP %ld); left deleted", c->status);
        mlc_strlcpy(w->row.state, "deleted_in_crm", sizeof(w->row.state));
        return MLC_OK;
    }
    if (c->rc == MLC_PERM) {
        /* a 400 naming custom fields may mean an admin deleted a mapped
         * field or option: recover_fields re-reads them before this
         * dead letter goes out */
        w->refused = c->status == 400 && !w->fields_retried && w->body &&
                     strstr(w->body, "\"custom_fields\"") != NULL;
        /* kept through a re-plan after the fields were read again, whose
         * own call is never sent when the body did not change */
        w->create_refused |= c->op == PD_OP_CREATE_ORG && c->sent;
        mlc_strlcpy(w->refusal, c->err.msg, sizeof(w->refusal));
        ld_work_to_dlq(w, c->status == 400 ? "validation" : "rejected", c->err.msg);
        return MLC_OK;
    }
    *retry = true; /* 5xx, timeout, daily budget: not done, offset not stored */
    /* a call the budget pause held back was never sent: the pause itself
     * is the one line worth a warning, not one per customer */
    if (c->sent)
        mlc_warn("customer %s:%s: %s; will try again", w->ev.company, w->ev.customer_number,
                 c->err.msg);
    else
        mlc_debug("customer %s:%s: %s; will try again", w->ev.company, w->ev.customer_number,
                  c->err.msg);
    return MLC_OK;
}

static void count(struct ld *ld, enum ld_outcome outcome)
{
    switch (outcome) {
    case LD_OUT_CREATED:
        ld->n_created++;
        break;
    case LD_OUT_UPDATED:
        ld->n_updated++;
        break;
    case LD_OUT_ADOPTED:
        ld->n_adopted++;
        break;
    case LD_OUT_DLQ:
        ld->n_dlq++;
        break;
    case LD_OUT_DELETED_IN_CRM:
        ld->n_deleted++;
        break;
    case LD_OUT_DUPLICATE:
        ld->n_duplicate++;
        break;
    default: /* unchanged, dry run */
        ld->n_unchanged++;
        break;
    }
}

/* The pending mark of a create left unfinished (inside store_round's
 * transaction). */
static mlc_rc store_unfinished(struct ld *ld, struct work *w, struct mlc_err *err)
{
    if (w->kind != PLAN_POST || w->call.rc != MLC_RETRY)
        return MLC_OK;
    if (!w->call.sent || w->call.status == 429)
        /* never sent, or refused by the rate limiter before Pipedrive
         * looked at it: nothing was created, no lookup needed */
        return ld_state_map_pending(ld->st, w->ev.company, w->ev.customer_number, 0, err);
    if (w->call.status == 0)
        /* no answer to this create: the settle time before its lookup
         * counts from now, when we gave up, not from the round start */
        return ld_state_map_pending(ld->st, w->ev.company, w->ev.customer_number, mlc_realtime_ms(),
                                    err);
    return MLC_OK;
}

/* Map rows and audit rows of a round, in one transaction. */
static mlc_rc store_round(struct ld *ld, struct work *ws, size_t n, struct mlc_err *err)
{
    mlc_rc rc;

    if (ld->o->dry_run) {
        ld->n_calls = 0;
        return MLC_OK;
    }
    if ((rc = ld_state_begin(ld->st, err)) != MLC_OK)
        return rc;
    for (size_t i = 0; i < n && rc == MLC_OK; i++) {
        struct work *w = &ws[i];
        struct ld_event_audit a = {.topic = ld->topic,
                                   .partition = w->it->partition,
                                   .offset = w->it->offset,
                                   .company = w->decoded ? w->ev.company : NULL,
                                   .customer = w->decoded ? w->ev.customer_number : NULL,
                                   .event_id = w->decoded ? w->ev.event_id : NULL,
                                   .outcome = ld_outcome_name(w->outcome),
                                   .org_id = w->org_id,
                                   .reason = w->reason[0] ? w->reason : NULL};

        if (w->kind == PLAN_QUEUE) { /* into the backlog of creates */
            rc = ld_backlog_put(ld->backlog, w, err);
            continue;
        }
        if (!w->finished) {
            rc = store_unfinished(ld, w, err);
            continue;
        }
        if (w->it->backlog && /* worked through: leaves the backlog */
            (rc = ld_backlog_remove(ld->backlog, w->ev.company, w->ev.customer_number, err)) !=
                MLC_OK)
            break;
        if (w->create_refused && w->outcome == LD_OUT_DLQ) {
            /* Pipedrive answered the create with a refusal (400 validation,
             * another 4xx): nothing was created, so no later event of the
             * customer needs a lookup scan for it */
            rc = ld_state_map_pending(ld->st, w->ev.company, w->ev.customer_number, 0, err);
            if (rc != MLC_OK)
                break;
        }
        if (w->write_row && (w->outcome == LD_OUT_CREATED || w->outcome == LD_OUT_UPDATED ||
                             w->outcome == LD_OUT_ADOPTED || w->outcome == LD_OUT_UNCHANGED)) {
            struct ld_map_row row = {.org_id = w->org_id};
            char *payload = ld_canonical(w->next, err);

            if (!payload) {
                rc = MLC_FATAL;
                break;
            }
            mlc_strlcpy(row.state, "active", sizeof(row.state));
            mlc_strlcpy(row.hash, w->hash, sizeof(row.hash));
            row.payload = payload;
            row.remote = w->remote && w->ev.op == MLC_EVENT_MISSING;
            if (row.remote)
                row.hash[0] = '\0';
            rc = ld_state_map_put(ld->st, w->ev.company, w->ev.customer_number, &row, err);
            free(payload);
        } else if (w->outcome == LD_OUT_DELETED_IN_CRM && w->row_found &&
                   !strcmp(w->row.state, "deleted_in_crm")) {
            w->row.create_pending_ms = 0;
            rc = ld_state_map_put(ld->st, w->ev.company, w->ev.customer_number, &w->row, err);
        }
        if (rc == MLC_OK)
            rc = ld_state_audit_event(ld->st, &a, err);
    }
    if (rc == MLC_OK)
        rc = ld_flush_calls(ld, err);
    if (rc == MLC_OK) {
        long rem = pd_limits_daily_remaining(pd_client_limits(ld->pd));
        char v[32];

        snprintf(v, sizeof(v), "%ld", rem);
        rc = ld_state_meta_set(ld->st, "daily_remaining", v, err);
    }
    if (rc == MLC_OK) { /* for `mlc status`: the burst window as last seen */
        const struct pd_limits *l = pd_client_limits(ld->pd);
        char v[64];

        snprintf(v, sizeof(v), "%ld/%d", pd_limits_burst_remaining(l), pd_limits_burst_limit(l));
        rc = ld_state_meta_set(ld->st, "burst_remaining", v, err);
    }
    if (rc == MLC_OK)
        return ld_state_commit(ld->st, err);
    ld_state_rollback(ld->st);
    return rc;
}

/* Marks (before the POSTs go out) every create of the round as pending. */
static mlc_rc mark_pending(struct ld *ld, struct work *ws, size_t n, struct mlc_err *err)
{
    bool any = false;
    mlc_rc rc = MLC_OK;

    if (ld->o->dry_run)
        return MLC_OK;
    for (size_t i = 0; i < n; i++)
        any |= ws[i].kind == PLAN_POST && !ws[i].finished && !ws[i].call.json;
    if (!any)
        return MLC_OK;
    if ((rc = ld_state_begin(ld->st, err)) != MLC_OK)
        return rc;
    for (size_t i = 0; i < n && rc == MLC_OK; i++)
        if (ws[i].kind == PLAN_POST && !ws[i].finished)
            rc = ld_state_map_pending(ld->st, ws[i].ev.company, ws[i].ev.customer_number,
                                      mlc_realtime_ms(), err);
    if (rc == MLC_OK)
        return ld_state_commit(ld->st, err);
    ld_state_rollback(ld->st);
    return rc;
}

/* An organization two customers of the round matched by name goes to
 * neither: the one planned to adopt it is planned as a create. */
static mlc_rc undo_conflicts(struct ld *ld, struct work *ws, size_t n, struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;

    for (size_t i = 0; i < n && rc == MLC_OK; i++) {
        if (!ws[i].match_conflict)
            continue;
        for (size_t j = 0; j < n && rc == MLC_OK; j++)
            if (ws[j].matched_id == ws[i].match_conflict && !ws[j].finished) {
                mlc_info("customer %s:%s: organization %lld matched by name is matched by "
                         "another customer too; creating one",
                         ws[j].ev.company, ws[j].ev.customer_number, (long long)ws[j].matched_id);
                rc = ld_plan_again(ld, &ws[j], true, err);
            }
    }
    return rc;
}

/* Plans every event of the round. */
static mlc_rc plan_round(struct ld *ld, struct work *ws, struct item **items, size_t n, bool *retry,
                         struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;

    for (size_t i = 0; i < n && rc == MLC_OK; i++) {
        ws[i].it = items[i];
        rc = ld_plan(ld, &ws[i], err);
        if (ws[i].kind == PLAN_WAIT)
            *retry = true; /* deferred: its offset is not stored */
    }
    if (rc == MLC_OK && ld->listing)
        rc = undo_conflicts(ld, ws, n, err);
    return rc;
}

/* The round's works that Pipedrive refused with a 400 naming custom
 * fields: the fields are read again once (10 tokens, and 5 per field or
 * option created when MLC_PIPEDRIVE_CREATE_FIELDS allows), each is planned
 * again and, when its request changed, sent once more (*again); else it
 * goes to the dead-letter topic with Pipedrive's error text. */
static mlc_rc recover_fields(struct ld *ld, struct work *ws, size_t n, bool *again, bool *retry,
                             struct mlc_err *err)
{
    bool any = false, create = mlc_cfg_bool(ld->cfg, MLC_CFG_PIPEDRIVE_CREATE_FIELDS);
    char lacking[512], *before = NULL;
    mlc_rc rc;

    for (size_t i = 0; i < n; i++)
        any |= ws[i].refused;
    if (!any)
        return MLC_OK;
    rc = ld_recover_fields(ld, create, lacking, sizeof(lacking), err);
    for (size_t i = 0; i < n && rc != MLC_FATAL; i++) {
        struct work *w = &ws[i];

        if (!w->refused)
            continue;
        w->refused = false;
        w->fields_retried = true;
        if (rc == MLC_RETRY) { /* the fields could not be read now: the event waits */
            w->kind = PLAN_NONE;
            *retry = true;
            continue;
        }
        if (lacking[0]) {
            char text[sizeof(w->refusal) + sizeof(lacking) + 64];

            snprintf(text, sizeof(text),
                     "%s; pipedrive lacks %s (MLC_PIPEDRIVE_CREATE_FIELDS=false)", w->refusal,
                     lacking);
            ld_work_to_dlq(w, "validation", text);
            mlc_err_set(&ld->halt, MLC_FATAL,
                        "pipedrive lacks what the mapping needs since start-up (%s): a field or "
                        "option was deleted; create them with `mlc-loader setup` or set "
                        "MLC_PIPEDRIVE_CREATE_FIELDS=true",
                        lacking);
            continue;
        }
        free(before);
        before = mlc_xstrdup(w->body ? w->body : "");
        if ((rc = ld_plan_again(ld, w, false, err)) != MLC_OK)
            break;
        if (!w->finished && (w->kind == PLAN_POST || w->kind == PLAN_PATCH) && w->body &&
            strcmp(before, w->body) != 0) {
            *again = true;
            continue;
        }
        if (!w->finished && w->kind != PLAN_DLQ)
            ld_work_to_dlq(w, "validation", w->refusal);
    }
    free(before);
    return rc == MLC_RETRY ? MLC_OK : rc;
}

/* Runs the round's calls and settles their answers, three times at most: a
 * PATCH that found its organization deleted may become a POST (recreate),
 * and a write refused for a deleted field or option is sent once more after
 * the fields were read again (recover_fields). The
 * client's own failure goes to *run_rc/run_err (the round still stores what
 * it finished); rc is the round's. */
static mlc_rc run_calls(struct ld *ld, struct work *ws, size_t n, bool *retry, mlc_rc *run_rc,
                        struct mlc_err *run_err, struct mlc_err *err)
{
    struct pd_call *calls = mlc_xcalloc(n, sizeof(*calls));
    size_t *idx = mlc_xcalloc(n, sizeof(*idx));
    mlc_rc rc = MLC_OK;

    *run_rc = MLC_OK;
    for (int pass = 0; pass < 3 && *run_rc == MLC_OK; pass++) {
        size_t k = 0;
        bool again = false;

        if ((rc = mark_pending(ld, ws, n, err)) != MLC_OK)
            goto out;
        for (size_t i = 0; i < n; i++) {
            if (ws[i].finished || (ws[i].kind != PLAN_POST && ws[i].kind != PLAN_PATCH))
                continue;
            calls[k] = ws[i].call;
            calls[k].body = ws[i].body;
            calls[k].tag = &ws[i];
            idx[k++] = i;
        }
        if (k == 0)
            break;
        *run_rc = pd_client_run(ld->pd, calls, k, run_err);
        for (size_t j = 0; j < k; j++) {
            struct work *w = &ws[idx[j]];

            w->call = calls[j];
            calls[j].json = NULL;
            if (*run_rc != MLC_OK && w->call.rc == MLC_OK && !w->call.json) {
                *retry = true; /* never sent or interrupted */
                continue;
            }
            if (*run_rc == MLC_FATAL && w->call.rc != MLC_OK)
                continue;
            if ((rc = settle_work(ld, w, &again, retry, err)) != MLC_OK)
                goto out;
        }
        if (*run_rc == MLC_OK && (rc = recover_fields(ld, ws, n, &again, retry, err)) != MLC_OK)
            goto out;
        if (!again || ld->halt.rc != MLC_OK) /* halted: the mapping may not be applied */
            break;
    }
out:
    free(calls);
    free(idx);
    return rc;
}

/* Delivers the round's dead letters before their offsets move. */
static mlc_rc deliver_dead_letters(struct ld *ld, struct work *ws, size_t n, bool *retry,
                                   struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;

    for (size_t i = 0; i < n && rc == MLC_OK; i++) {
        struct work *w = &ws[i];
        struct mlc_err e = {0};
        mlc_rc r;

        if (w->kind != PLAN_DLQ || w->finished)
            continue;
        r = ld_dlq_send(ld, w->it, w->err_class, w->reason, &e);
        if (r == MLC_OK) {
            char reason[512];

            mlc_warn("%s:%d:%lld sent to the dead-letter topic: %s", ld->topic,
                     (int)w->it->partition, (long long)w->it->offset, w->reason);
            mlc_strlcpy(reason, w->reason, sizeof(reason));
            ld_work_finish(w, LD_OUT_DLQ, 0, "%s: %s", w->err_class, reason);
        } else if (r == MLC_FATAL) {
            rc = r;
            *err = e;
        } else {
            mlc_warn("%s", e.msg);
            *retry = true;
        }
    }
    return rc;
}

/* Marks the finished messages done (their offsets may be stored) and
 * counts their outcomes. */
static void mark_done(struct ld *ld, struct work *ws, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ws[i].kind == PLAN_QUEUE) {
            ws[i].it->done = true; /* stored in the backlog: counted when worked */
        } else if (ws[i].finished) {
            ws[i].it->done = true;
            count(ld, ws[i].outcome);
            ld_metrics_outcome(ld->metrics, ld_outcome_name(ws[i].outcome));
            mlc_debug("%s:%d:%lld %s", ld->topic, (int)ws[i].it->partition,
                      (long long)ws[i].it->offset, ld_outcome_name(ws[i].outcome));
        }
}

/* Handles the messages of one round (different customers). *retry is set
 * when some could not be finished now (their offsets are not stored). */
mlc_rc ld_run_round(struct ld *ld, struct item **items, size_t n, bool *retry, struct mlc_err *err)
{
    struct work *ws = mlc_xcalloc(n, sizeof(*ws));
    mlc_rc rc = MLC_OK, run_rc = MLC_OK, src;
    struct mlc_err run_err = {0}, se = {0};

    *retry = false;
    if ((rc = plan_round(ld, ws, items, n, retry, err)) != MLC_OK)
        goto out;
    if ((rc = run_calls(ld, ws, n, retry, &run_rc, &run_err, err)) != MLC_OK)
        goto out;
    rc = deliver_dead_letters(ld, ws, n, retry, err);
    if ((src = store_round(ld, ws, n, &se)) != MLC_OK) {
        if (rc == MLC_OK) {
            *err = se;
            rc = src;
        }
        goto out;
    }
    mark_done(ld, ws, n);
    if (rc == MLC_OK && run_rc != MLC_OK) {
        rc = run_rc;
        *err = run_err;
    }
out:
    for (size_t i = 0; i < n; i++)
        work_free(&ws[i]);
    free(ws);
    return rc;
}

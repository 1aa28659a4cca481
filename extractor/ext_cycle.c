/* ext_cycle.c - one poll cycle of one company (see ext_cycle.h). */
#include "ext_cycle.h"
#include "mlc_alloc.h"
#include "mlc_time.h"

#include "ext_commit.h"
#include "ext_publish.h"
#include "ext_run.h"
#include "ext_scan.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "sage_query.h"

const char *ext_kind_name(enum ext_kind kind)
{
    return kind == EXT_FULL ? "full" : kind == EXT_BALANCE ? "balance" : "incremental";
}

static void today_utc(char out[11])
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* The last TermsCode of page into last (size bytes); false when none. */
static bool last_terms_code(const struct sage_page *page, char *last, size_t size)
{
    const cJSON *rec, *code;
    bool got = false;

    cJSON_ArrayForEach(rec, page->records)
    {
        code = cJSON_GetObjectItemCaseSensitive(rec, "TermsCode");
        if (cJSON_IsString(code) && code->valuestring[0] && strlen(code->valuestring) < size) {
            mlc_strlcpy(last, code->valuestring, size);
            got = true;
        }
    }
    return got;
}

/* Reads every ARTerms page into c->terms: while the server signals more rows
 * (nextLink), the next page is a keyset query after the last TermsCode. */
static mlc_rc load_terms(struct ext_run *c, struct mlc_err *err)
{
    struct mlc_buf url, res;
    struct sage_page page = {0};
    char last[65] = "", prev[65] = "";
    bool has_last = false;
    mlc_rc rc;

    mlc_buf_init(&url, 8192);
    mlc_buf_init(&res, 2048);
    c->terms = sage_terms_new();
    if ((rc = sage_query_resource_url(c->x->base_url, c->company, "ARTerms", &res, err)) != MLC_OK)
        goto out;
    for (;;) {
        struct mlc_err e = {0};
        const cJSON *rec;
        bool more;

        rc = sage_query_terms_url(c->x->base_url, c->company, has_last ? last : NULL, &url, err);
        if (rc == MLC_OK)
            rc = sage_client_get_page(c->x->sage, mlc_buf_str(&url), mlc_buf_str(&res), &page, err);
        if (rc != MLC_OK)
            goto out;
        cJSON_ArrayForEach(rec, page.records)
        {
            rc = sage_terms_add_record(c->terms, rec, &e);
            if (rc == MLC_FATAL) {
                *err = e;
                goto out;
            }
            if (rc != MLC_OK)
                mlc_warn("%s: ARTerms: ignoring a record: %s", c->company, e.msg);
        }
        more = page.has_next && page.count > 0;
        mlc_strlcpy(prev, last, sizeof(prev));
        if (more && (!last_terms_code(&page, last, sizeof(last)) || !strcmp(prev, last))) {
            rc = mlc_err_set(err, MLC_RETRY,
                             "sage %s: ARTerms paging made no progress after '%s'; stopping to "
                             "avoid a loop",
                             c->company, prev);
            goto out;
        }
        has_last = true;
        sage_page_free(&page);
        if (!more)
            break;
    }
    rc = MLC_OK;
    mlc_debug("%s: %zu payment terms", c->company, sage_terms_count(c->terms));
out:
    sage_page_free(&page);
    mlc_buf_free(&url);
    mlc_buf_free(&res);
    return rc;
}

/* Full scan epilogue: one missing event per known customer not seen. */
static mlc_rc report_missing(struct ext_run *c, struct mlc_err *err)
{
    size_t max = (size_t)c->x->top, n = 0;
    char(*numbers)[MLC_EVENT_MAX_NUMBER + 1] = mlc_xcalloc(max, sizeof(*numbers));
    struct ext_pending *p = mlc_xcalloc(max, sizeof(*p));
    mlc_rc rc = MLC_OK;

    for (;;) {
        if (c->x->stop && *c->x->stop) {
            rc = mlc_err_set(err, MLC_RETRY, "interrupted while reporting missing customers");
            goto out;
        }
        rc = ext_state_unseen(c->x->state, c->company, c->id, max, numbers, &n, err);
        if (rc != MLC_OK || n == 0)
            goto out;
        ext_publish_slot_reset(c->x, 0);
        memset(p, 0, max * sizeof(*p));
        for (size_t i = 0; i < n; i++) {
            p[i].outcome = EXT_OUT_MISSING;
            p[i].has_number = true;
            mlc_strlcpy(p[i].number, numbers[i], sizeof(p[i].number));
            mlc_strlcpy(p[i].reason, "not returned by a full scan", sizeof(p[i].reason));
            rc = ext_publish(c, 0, numbers[i], NULL, NULL, NULL, time(NULL), p[i].hash, err);
            if (rc != MLC_OK) {
                mlc_err_prefix(err, "missing event of customer %s", numbers[i]);
                /* Whatever was queued is resent by the next full scan. */
                if (rc == MLC_PERM)
                    rc = MLC_RETRY;
                goto out;
            }
            mlc_kafka_producer_poll(c->x->producer, 0, NULL);
        }
        if ((rc = ext_publish_wait(c, 0, (long)n, c->st.pages, err)) != MLC_OK ||
            (rc = ext_commit_page(c, c->x->state, p, n, time(NULL), err)) != MLC_OK)
            goto out;
        c->st.missing += (long)n;
        mlc_info("%s: %zu customers gone from Sage reported missing", c->company, n);
    }
out:
    free(numbers);
    free(p);
    return rc;
}

/* Moves the company's watermark to the largest DateLastMaintained seen,
 * capped at today (UTC), never backwards; new_wm receives the watermark the
 * cycle ends with ("" none). wm: the watermark before, or NULL. */
static mlc_rc move_watermark(struct ext_run *c, const char *wm, char new_wm[11],
                             struct mlc_err *err)
{
    char today[11];

    today_utc(today);
    if (c->max_lm[0]) {
        mlc_strlcpy(new_wm, strcmp(c->max_lm, today) > 0 ? today : c->max_lm, 11);
        if (wm && strcmp(new_wm, wm) < 0)
            mlc_strlcpy(new_wm, wm, 11);
        return ext_state_watermark_set(c->x->state, c->company, new_wm, err);
    }
    if (wm)
        mlc_strlcpy(new_wm, wm, 11);
    return MLC_OK;
}

/* Records how a started cycle that ended with rc (e: why) went, and logs its
 * summary line; returns rc, or the failure to record an ok cycle. */
static mlc_rc cycle_finish(struct ext_run *c, mlc_rc rc, struct mlc_err *e, const char *wm,
                           const char *new_wm, long ms)
{
    struct ext_ctx *x = c->x;
    struct mlc_err e2 = {0};
    const char *result = rc == MLC_OK                               ? "ok"
                         : (x->stop && *x->stop && rc == MLC_RETRY) ? "interrupted"
                                                                    : "failed";

    if (ext_state_cycle_finish(x->state, c->id, &c->st, result, rc == MLC_OK ? NULL : e->msg,
                               rc == MLC_OK ? new_wm : wm, ms, &e2) != MLC_OK &&
        rc == MLC_OK) {
        rc = e2.rc;
        *e = e2;
    }
    mlc_info("%s: %s cycle %lld %s in %ld ms: pages=%ld records=%ld published=%ld "
             "unchanged=%ld skipped=%ld missing=%ld watermark=%s",
             c->company, ext_kind_name(c->kind), (long long)c->id, result, ms, c->st.pages,
             c->st.records, c->st.published, c->st.unchanged, c->st.skipped, c->st.missing,
             rc == MLC_OK ? (new_wm[0] ? new_wm : "none") : (wm ? wm : "none"));
    return rc;
}

mlc_rc ext_cycle_run(struct ext_ctx *x, const char *company, enum ext_kind kind, bool force,
                     struct ext_cycle_stats *stats, struct mlc_err *err)
{
    bool full = kind != EXT_INCREMENTAL;
    struct ext_run c = {.x = x, .company = company, .kind = kind, .full = full, .force = force};
    struct mlc_buf res;
    int64_t t0 = mlc_monotonic_ms();
    char wm[11] = "", since[11] = "", new_wm[11] = "";
    bool has_wm = false, started = false;
    struct mlc_err e = {0};
    long ms;
    mlc_rc rc;

    mlc_buf_init(&c.value, MLC_EVENT_MAX_BYTES + 1);
    mlc_buf_init(&res, 1024);
    if ((rc = ext_state_watermark_get(x->state, company, wm, &has_wm, &e)) != MLC_OK ||
        (rc = ext_state_cycle_start_kind(x->state, company, ext_kind_name(kind), has_wm ? wm : NULL,
                                         time(NULL), &c.id, &e)) != MLC_OK)
        goto out;
    started = true;
    if (has_wm && !full && (rc = sage_query_since(wm, x->lookback_days, since, &e)) != MLC_OK)
        goto out;
    if ((rc = sage_query_resource_url(x->base_url, company, "ARCustomers", &res, &e)) != MLC_OK)
        goto out;
    mlc_strlcpy(c.resource, mlc_buf_str(&res), sizeof(c.resource));
    mlc_info("%s: %s cycle %lld started (%s)", company, ext_kind_name(kind), (long long)c.id,
             since[0] ? since : (full ? "every customer" : "no watermark yet: every customer"));
    if ((rc = load_terms(&c, &e)) != MLC_OK ||
        (rc = ext_scan(&c, since[0] ? since : NULL, &e)) != MLC_OK)
        goto out;
    if (kind == EXT_FULL && (rc = report_missing(&c, &e)) != MLC_OK)
        goto out;
    rc = move_watermark(&c, has_wm ? wm : NULL, new_wm, &e);
out:
    ms = (long)(mlc_monotonic_ms() - t0);
    if (rc != MLC_OK)
        mlc_err_prefix(&e, "%s", company);
    if (started)
        rc = cycle_finish(&c, rc, &e, has_wm ? wm : NULL, new_wm, ms);
    if (rc != MLC_OK)
        ext_publish_drain(&c);
    if (stats)
        *stats = c.st;
    if (rc != MLC_OK && err)
        *err = e;
    sage_terms_free(c.terms);
    mlc_buf_free(&c.value);
    mlc_buf_free(&res);
    return rc;
}

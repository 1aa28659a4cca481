/* ext_scan.c - the keyset scan of one cycle (see ext_scan.h). */
#include "ext_scan.h"
#include "mlc_alloc.h"

#include "ext_commit.h"
#include "ext_fetch.h"
#include "ext_page.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "sage_query.h"

/* Remembers the page's last valid CustomerNumber in c->last (keyset). */
static void note_last_number(struct ext_run *c, const struct sage_page *page)
{
    const cJSON *rec;

    cJSON_ArrayForEach(rec, page->records)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(rec, "CustomerNumber");

        if (cJSON_IsString(n) && mlc_event_number_valid(n->valuestring) &&
            mlc_strlcpy(c->last, n->valuestring, sizeof(c->last)))
            c->has_last = true;
    }
}

/* The request of the page after c->last (or of the scan's first page). */
static mlc_rc window_url(struct ext_run *c, const char *since, char **out, struct mlc_err *err)
{
    struct sage_query q = {.base_url = c->x->base_url,
                           .company = c->company,
                           .since = since,
                           .after = c->has_last ? c->last : NULL,
                           .top = c->x->top};
    struct mlc_buf url;
    mlc_rc rc;

    mlc_buf_init(&url, 16384);
    rc = sage_query_customers_url(&q, &url, err);
    if (rc == MLC_OK)
        *out = mlc_xstrdup(mlc_buf_str(&url));
    mlc_buf_free(&url);
    return rc;
}

/* After page arrived: the next page's request into *url (a keyset query
 * after the last number seen), or *end on an empty page, the only end: a
 * short page is not one (the server's PageSize may be below $top) and its
 * nextLink is never needed to go on, so a server or proxy that drops or
 * mangles the link loses nothing. MLC_RETRY when a page made no progress. */
static mlc_rc advance(struct ext_run *c, const struct sage_page *page, const char *since,
                      char **url, bool *end, struct mlc_err *err)
{
    char before[MLC_EVENT_MAX_NUMBER + 1];
    bool had = c->has_last;

    mlc_strlcpy(before, c->last, sizeof(before));
    note_last_number(c, page);
    if (page->count == 0) {
        if (page->has_next)
            mlc_warn("%s: an empty page announced more rows (@odata.nextLink); the scan ends "
                     "here, as keyset paging has nothing left after '%s'",
                     c->company, had ? before : "");
        *end = true;
        return MLC_OK;
    }
    if (c->x->max_pages > 0 && c->st.pages >= c->x->max_pages)
        return mlc_err_set(err, MLC_RETRY,
                           "sage %s: more than %ld pages in one scan and the server still "
                           "answers customers; stopping (MLC_SAGE_MAX_PAGES; raise it only if "
                           "the ledger really is that large)",
                           c->company, c->x->max_pages);
    if (!c->has_last || (had && !strcmp(before, c->last)))
        return mlc_err_set(err, MLC_RETRY,
                           "sage %s: a page made no progress (no readable CustomerNumber after "
                           "'%s'); stopping to avoid a loop",
                           c->company, had ? before : "");
    return window_url(c, since, url, err);
}

/* The end of a scan that ended with rc: settles prev when the failure came
 * after it was queued, and always waits for the committer (a failure it
 * reports fails the scan). Returns the scan's result. */
static mlc_rc scan_finish(struct ext_run *c, struct ext_committer *k, struct ext_inflight *prev,
                          mlc_rc rc, struct mlc_err *err)
{
    struct mlc_err e2 = {0};

    if (rc != MLC_OK && rc != MLC_FATAL && prev->used) {
        /* The failure came after prev was queued: commit it if delivered. */
        if (ext_page_settle(c, k, prev, &e2) != MLC_OK)
            mlc_warn("%s: page %ld not committed: %s", c->company, c->st.pages - 1, e2.msg);
        mlc_err_clear(&e2);
    }
    if (ext_committer_join(k, &e2) != MLC_OK) {
        if (rc == MLC_OK) {
            rc = e2.rc;
            if (err)
                *err = e2;
        } else {
            mlc_warn("%s: a page was not committed: %s", c->company, e2.msg);
        }
    }
    return rc;
}

/* Reads every page of the scan, each a keyset query after the previous
 * page's last number (see advance). */
mlc_rc ext_scan(struct ext_run *c, const char *since, struct mlc_err *err)
{
    struct ext_fetch f = {.sage = c->x->sage, .resource = c->resource};
    struct sage_page page = {0};
    struct ext_inflight cur = {0}, prev = {0};
    struct ext_committer k = {.c = c};
    bool end = false;
    unsigned seq = 0;
    char *url = NULL;
    mlc_rc rc;

    /* Pipeline: while page N is prepared (normalised, hashed, queued), page
     * N+1 is fetched and page N-1's delivery reports arrive; page N-1 is
     * committed only once all of its reports succeeded. */
    if ((rc = window_url(c, since, &url, err)) != MLC_OK)
        goto out;
    ext_fetch_start(&f, url);
    url = NULL;
    while (!end) {
        time_t read_at;

        ext_fetch_join(&f);
        if (f.rc != MLC_OK) {
            rc = f.rc;
            if (err)
                *err = f.err;
            goto out;
        }
        page = f.page;
        memset(&f.page, 0, sizeof(f.page));
        read_at = f.read_at; /* before the helper thread is reused */
        if ((rc = advance(c, &page, since, &url, &end, err)) != MLC_OK)
            goto out;
        if (url && !(c->x->stop && *c->x->stop)) {
            ext_fetch_start(&f, url);
            url = NULL;
        }
        rc = ext_page_prepare(c, &page, read_at, seq++ % EXT_SLOTS, &cur, err);
        sage_page_free(&page);
        if (rc != MLC_OK)
            goto out;
        if ((rc = ext_page_settle(c, &k, &prev, err)) != MLC_OK)
            goto out;
        prev = cur;
        memset(&cur, 0, sizeof(cur));
        if (!end && c->x->stop && *c->x->stop) {
            if ((rc = ext_page_settle(c, &k, &prev, err)) == MLC_OK &&
                (rc = ext_committer_join(&k, err)) == MLC_OK)
                rc = mlc_err_set(err, MLC_RETRY, "interrupted after page %ld", c->st.pages);
            goto out;
        }
    }
    if ((rc = ext_page_settle(c, &k, &prev, err)) == MLC_OK)
        rc = ext_committer_join(&k, err);
out:
    ext_fetch_join(&f);
    rc = scan_finish(c, &k, &prev, rc, err);
    ext_inflight_free(&prev);
    ext_inflight_free(&cur);
    free(url);
    free(f.url);
    sage_page_free(&f.page);
    sage_page_free(&page);
    return rc;
}

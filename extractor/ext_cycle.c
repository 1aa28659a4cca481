/* ext_cycle.c - one poll cycle of one company (see ext_cycle.h). */
#include "ext_cycle.h"

#include "mlc_buf.h"
#include "mlc_event.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "sage_customer.h"
#include "sage_query.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum outcome { OUT_PUBLISHED, OUT_UNCHANGED, OUT_SKIPPED, OUT_MISSING };

static const char *const outcome_names[] = {"published", "unchanged", "skipped", "missing"};

/* What one record of a page leads to, kept until the page is committed. */
struct pending {
    enum outcome outcome;
    bool has_number;
    char number[MLC_EVENT_MAX_NUMBER + 1];
    char hash[MLC_EVENT_HASH_HEX + 1];
    char last_maintained[11];
    char reason[200];
};

/* State of one running cycle. */
struct cycle {
    struct ext_ctx *x;
    const char *company;
    bool full, force;
    int64_t id;
    struct ext_cycle_stats st;
    struct sage_terms *terms;
    char resource[1024];
    char max_lm[11]; /* largest DateLastMaintained seen, "" none */
    char last[MLC_EVENT_MAX_NUMBER + 1];
    bool has_last;
    struct mlc_buf value;
};

void ext_on_delivery(const struct mlc_kafka_dr *dr, void *ctx)
{
    struct ext_ctx *x = ctx;

    if (dr->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        x->dr_ok++;
        return;
    }
    if (!x->dr_failed)
        mlc_strlcpy(x->dr_error, dr->errstr ? dr->errstr : "unknown error", sizeof(x->dr_error));
    x->dr_failed++;
}

static void today_utc(char out[11])
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* Reads every ARTerms page into c->terms. */
static mlc_rc load_terms(struct cycle *c, struct mlc_err *err)
{
    struct mlc_buf url, res;
    struct sage_page page = {0};
    char *next = NULL;
    mlc_rc rc;

    mlc_buf_init(&url, 8192);
    mlc_buf_init(&res, 2048);
    c->terms = sage_terms_new();
    if (!c->terms) {
        rc = mlc_err_set(err, MLC_FATAL, "out of memory");
        goto out;
    }
    if ((rc = sage_query_terms_url(c->x->base_url, c->company, &url, err)) != MLC_OK ||
        (rc = sage_query_resource_url(c->x->base_url, c->company, "ARTerms", &res, err)) != MLC_OK)
        goto out;
    for (const char *u = mlc_buf_str(&url);;) {
        struct mlc_err e = {0};

        rc = sage_client_get_page(c->x->sage, u, mlc_buf_str(&res), &page, err);
        if (rc != MLC_OK)
            goto out;
        for (size_t i = 0; i < page.count; i++) {
            const cJSON *rec = cJSON_GetArrayItem(page.records, (int)i);

            rc = sage_terms_add_record(c->terms, rec, &e);
            if (rc == MLC_FATAL) {
                *err = e;
                goto out;
            }
            if (rc != MLC_OK)
                mlc_warn("%s: ARTerms: ignoring a record: %s", c->company, e.msg);
        }
        free(next);
        next = page.next_url;
        page.next_url = NULL;
        sage_page_free(&page);
        if (!next)
            break;
        u = next;
    }
    rc = MLC_OK;
    mlc_debug("%s: %zu payment terms", c->company, sage_terms_count(c->terms));
out:
    free(next);
    sage_page_free(&page);
    mlc_buf_free(&url);
    mlc_buf_free(&res);
    return rc;
}

/* Queues one event; MLC_PERM means this record cannot be published. */
static mlc_rc publish(struct cycle *c, const char *number, const cJSON *customer,
                      const char *last_maintained, time_t read_at, char hash[65],
                      struct mlc_err *err)
{
    struct mlc_event_source src = {
        .base_url = c->x->base_url, .last_maintained = last_maintained, .read_at = read_at};
    cJSON *ev = NULL;
    char key[MLC_EVENT_MAX_KEY + 1];
    const cJSON *h;
    mlc_rc rc;

    if ((rc = mlc_event_key(c->company, number, key, sizeof(key), err)) != MLC_OK ||
        (rc = mlc_event_build(c->company, number, customer, &src, time(NULL), &ev, err)) !=
            MLC_OK ||
        (rc = mlc_event_encode(ev, &c->value, err)) != MLC_OK)
        goto out;
    h = cJSON_GetObjectItemCaseSensitive(ev, "content_hash");
    if (hash && cJSON_IsString(h))
        mlc_strlcpy(hash, h->valuestring, MLC_EVENT_HASH_HEX + 1);
    rc = mlc_kafka_produce(c->x->producer, c->x->topic, key, strlen(key), c->value.data,
                           c->value.len, NULL, 0, NULL, 30000, err);
    if (rc == MLC_PERM)
        mlc_err_prefix(err, "kafka refused the event");
out:
    cJSON_Delete(ev);
    return rc;
}

/* Waits until every report of the page's n events arrived and succeeded. */
static mlc_rc wait_delivery(struct cycle *c, long n, struct mlc_err *err)
{
    struct ext_ctx *x = c->x;
    int left = 0;
    mlc_rc rc;

    if (n == 0)
        return MLC_OK;
    rc = mlc_kafka_producer_flush(x->producer, x->flush_timeout_ms, &left, err);
    if (rc == MLC_FATAL)
        return mlc_err_prefix(err, "kafka");
    if (x->dr_failed)
        return mlc_err_set(err, MLC_RETRY,
                           "kafka: %ld of %ld events of page %ld not acknowledged: %s",
                           x->dr_failed, n, c->st.pages, x->dr_error);
    if (left > 0 || x->dr_ok != n)
        return mlc_err_set(err, MLC_RETRY,
                           "kafka: %ld of %ld events of page %ld not acknowledged within %d ms",
                           n - x->dr_ok, n, c->st.pages, x->flush_timeout_ms);
    return MLC_OK;
}

static void maybe_crash(struct ext_ctx *x)
{
    x->pages_delivered++;
    if (x->crash_after_pages > 0 && x->pages_delivered == x->crash_after_pages) {
        /* Test hook: die like kill -9 between delivery and commit. */
        static const char msg[] = "mlc-extractor: MLC_TEST_CRASH_AFTER_DELIVERY: exiting\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        _exit(99);
    }
}

/* Commits the page's customers and audit rows in one transaction. */
static mlc_rc commit_page(struct cycle *c, const struct pending *p, size_t n, time_t at,
                          struct mlc_err *err)
{
    struct mlc_store *store = ext_state_store(c->x->state);
    mlc_rc rc;

    if ((rc = mlc_store_begin(store, err)) != MLC_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const struct pending *r = &p[i];

        if (r->has_number && r->outcome != OUT_MISSING) {
            rc = ext_state_customer_seen(c->x->state, c->company, r->number,
                                         r->outcome == OUT_PUBLISHED ? r->hash : NULL,
                                         r->last_maintained, c->full ? c->id : 0, err);
        } else if (r->outcome == OUT_MISSING) {
            rc = ext_state_customer_missing(c->x->state, c->company, r->number, err);
        }
        if (rc == MLC_OK)
            rc = ext_state_audit(c->x->state, c->id, c->company, r->has_number ? r->number : NULL,
                                 r->hash[0] ? r->hash : NULL, outcome_names[r->outcome],
                                 r->reason[0] ? r->reason : NULL, at, err);
        if (rc != MLC_OK) {
            mlc_store_rollback(store, NULL);
            return rc;
        }
    }
    return mlc_store_commit(store, err);
}

/* Handles one page of customers: publish, wait, commit. */
static mlc_rc process_page(struct cycle *c, const struct sage_page *page, time_t read_at,
                           struct mlc_err *err)
{
    struct ext_ctx *x = c->x;
    struct pending *p = NULL;
    long produced = 0;
    mlc_rc rc = MLC_OK;

    c->st.pages++;
    if (page->count == 0)
        return MLC_OK;
    p = calloc(page->count, sizeof(*p));
    if (!p)
        return mlc_err_set(err, MLC_FATAL, "out of memory");
    x->dr_ok = x->dr_failed = 0;
    x->dr_error[0] = '\0';
    for (size_t i = 0; i < page->count; i++) {
        const cJSON *rec = cJSON_GetArrayItem(page->records, (int)i);
        struct sage_customer cu = {0};
        struct ext_known known;
        struct mlc_err e = {0};
        struct pending *r = &p[i];

        c->st.records++;
        rc = sage_customer_normalize(rec, c->terms, &cu, &e);
        if (cu.number[0]) {
            r->has_number = true;
            mlc_strlcpy(r->number, cu.number, sizeof(r->number));
            mlc_strlcpy(c->last, cu.number, sizeof(c->last));
            c->has_last = true;
        }
        if (rc == MLC_OK) {
            mlc_strlcpy(r->last_maintained, cu.last_maintained, sizeof(r->last_maintained));
            rc = mlc_event_content_hash(cu.customer, r->hash, &e);
        }
        if (rc == MLC_OK)
            rc = ext_state_customer_get(x->state, c->company, cu.number, &known, &e);
        if (rc == MLC_OK) {
            if (cu.last_maintained[0] && strcmp(cu.last_maintained, c->max_lm) > 0)
                mlc_strlcpy(c->max_lm, cu.last_maintained, sizeof(c->max_lm));
            if (!c->force && known.has_hash && !known.missing && !strcmp(known.hash, r->hash)) {
                r->outcome = OUT_UNCHANGED;
                c->st.unchanged++;
            } else {
                rc = publish(c, cu.number, cu.customer, cu.last_maintained, read_at, NULL, &e);
                if (rc == MLC_OK) {
                    r->outcome = OUT_PUBLISHED;
                    produced++;
                    mlc_kafka_producer_poll(x->producer, 0, NULL);
                }
            }
        }
        sage_customer_free(&cu);
        if (rc == MLC_PERM) {
            r->outcome = OUT_SKIPPED;
            r->hash[0] = '\0';
            r->last_maintained[0] = '\0';
            mlc_strlcpy(r->reason, e.msg, sizeof(r->reason));
            c->st.skipped++;
            mlc_warn("%s: skipping customer %s (record %ld of page %ld): %s", c->company,
                     r->has_number ? r->number : "(no CustomerNumber)", (long)i + 1, c->st.pages,
                     e.msg);
            rc = MLC_OK;
            continue;
        }
        if (rc != MLC_OK) {
            *err = e;
            goto out;
        }
    }
    if ((rc = wait_delivery(c, produced, err)) != MLC_OK)
        goto out;
    maybe_crash(x);
    if ((rc = commit_page(c, p, page->count, read_at, err)) != MLC_OK)
        goto out;
    c->st.published += produced;
out:
    free(p);
    return rc;
}

/* Full scan epilogue: one missing event per known customer not seen. */
static mlc_rc report_missing(struct cycle *c, struct mlc_err *err)
{
    size_t max = (size_t)c->x->top, n = 0;
    char(*numbers)[MLC_EVENT_MAX_NUMBER + 1] = calloc(max, sizeof(*numbers));
    struct pending *p = calloc(max, sizeof(*p));
    mlc_rc rc = MLC_OK;

    if (!numbers || !p) {
        rc = mlc_err_set(err, MLC_FATAL, "out of memory");
        goto out;
    }
    for (;;) {
        if (c->x->stop && *c->x->stop) {
            rc = mlc_err_set(err, MLC_RETRY, "interrupted while reporting missing customers");
            goto out;
        }
        rc = ext_state_unseen(c->x->state, c->company, c->id, max, numbers, &n, err);
        if (rc != MLC_OK || n == 0)
            goto out;
        c->x->dr_ok = c->x->dr_failed = 0;
        memset(p, 0, max * sizeof(*p));
        for (size_t i = 0; i < n; i++) {
            p[i].outcome = OUT_MISSING;
            p[i].has_number = true;
            mlc_strlcpy(p[i].number, numbers[i], sizeof(p[i].number));
            mlc_strlcpy(p[i].reason, "not returned by a full scan", sizeof(p[i].reason));
            rc = publish(c, numbers[i], NULL, NULL, time(NULL), p[i].hash, err);
            if (rc != MLC_OK) {
                mlc_err_prefix(err, "missing event of customer %s", numbers[i]);
                /* Whatever was queued is resent by the next full scan. */
                if (rc == MLC_PERM)
                    rc = MLC_RETRY;
                goto out;
            }
            mlc_kafka_producer_poll(c->x->producer, 0, NULL);
        }
        if ((rc = wait_delivery(c, (long)n, err)) != MLC_OK ||
            (rc = commit_page(c, p, n, time(NULL), err)) != MLC_OK)
            goto out;
        c->st.missing += (long)n;
        mlc_info("%s: %zu customers gone from Sage reported missing", c->company, n);
    }
out:
    free(numbers);
    free(p);
    return rc;
}

/* Reads every page of the scan. */
static mlc_rc scan(struct cycle *c, const char *since, struct mlc_err *err)
{
    struct mlc_buf url;
    struct sage_page page = {0};
    char *next = NULL;
    char prev[MLC_EVENT_MAX_NUMBER + 1];
    mlc_rc rc = MLC_OK;

    mlc_buf_init(&url, 16384);
    for (;;) {
        struct sage_query q = {.base_url = c->x->base_url,
                               .company = c->company,
                               .since = since,
                               .after = c->has_last ? c->last : NULL,
                               .top = c->x->top};
        size_t window = 0;
        bool had_last = c->has_last;

        mlc_strlcpy(prev, c->last, sizeof(prev));
        if ((rc = sage_query_customers_url(&q, &url, err)) != MLC_OK)
            goto out;
        /* One keyset window: the first page and the nextLinks it leads to. */
        for (const char *u = mlc_buf_str(&url);;) {
            time_t read_at;

            rc = sage_client_get_page(c->x->sage, u, c->resource, &page, err);
            if (rc != MLC_OK)
                goto out;
            read_at = time(NULL);
            window += page.count;
            rc = process_page(c, &page, read_at, err);
            if (rc != MLC_OK)
                goto out;
            free(next);
            next = page.next_url;
            page.next_url = NULL;
            sage_page_free(&page);
            if (c->x->stop && *c->x->stop) {
                rc = mlc_err_set(err, MLC_RETRY, "interrupted after page %ld", c->st.pages);
                goto out;
            }
            if (!next)
                break;
            u = next;
        }
        if (window == 0)
            break; /* the only end: an empty keyset page */
        if (!c->has_last || (had_last && !strcmp(prev, c->last))) {
            rc = mlc_err_set(err, MLC_RETRY,
                             "sage %s: a keyset page made no progress (no readable "
                             "CustomerNumber after '%s'); stopping to avoid a loop",
                             c->company, had_last ? prev : "");
            goto out;
        }
    }
out:
    free(next);
    sage_page_free(&page);
    mlc_buf_free(&url);
    return rc;
}

mlc_rc ext_cycle_run(struct ext_ctx *x, const char *company, bool full, bool force,
                     struct ext_cycle_stats *stats, struct mlc_err *err)
{
    struct cycle c = {.x = x, .company = company, .full = full, .force = force};
    struct mlc_buf res;
    struct timespec t0, t1;
    char wm[11] = "", since[11] = "", today[11], new_wm[11] = "";
    bool has_wm = false, started = false;
    struct mlc_err e = {0};
    long ms;
    mlc_rc rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    mlc_buf_init(&c.value, MLC_EVENT_MAX_BYTES + 1);
    mlc_buf_init(&res, 1024);
    if ((rc = ext_state_watermark_get(x->state, company, wm, &has_wm, &e)) != MLC_OK ||
        (rc = ext_state_cycle_start(x->state, company, full, has_wm ? wm : NULL, time(NULL), &c.id,
                                    &e)) != MLC_OK)
        goto out;
    started = true;
    if (has_wm && !full && (rc = sage_query_since(wm, x->lookback_days, since, &e)) != MLC_OK)
        goto out;
    if ((rc = sage_query_resource_url(x->base_url, company, "ARCustomers", &res, &e)) != MLC_OK)
        goto out;
    mlc_strlcpy(c.resource, mlc_buf_str(&res), sizeof(c.resource));
    mlc_info("%s: %s cycle %lld started (%s)", company, full ? "full" : "incremental",
             (long long)c.id,
             since[0] ? since : (full ? "every customer" : "no watermark yet: every customer"));
    if ((rc = load_terms(&c, &e)) != MLC_OK ||
        (rc = scan(&c, since[0] ? since : NULL, &e)) != MLC_OK)
        goto out;
    if (full && (rc = report_missing(&c, &e)) != MLC_OK)
        goto out;
    today_utc(today);
    if (c.max_lm[0]) {
        mlc_strlcpy(new_wm, strcmp(c.max_lm, today) > 0 ? today : c.max_lm, sizeof(new_wm));
        if (has_wm && strcmp(new_wm, wm) < 0)
            mlc_strlcpy(new_wm, wm, sizeof(new_wm));
        if ((rc = ext_state_watermark_set(x->state, company, new_wm, &e)) != MLC_OK)
            goto out;
    } else if (has_wm) {
        mlc_strlcpy(new_wm, wm, sizeof(new_wm));
    }
out:
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    if (rc != MLC_OK)
        mlc_err_prefix(&e, "%s", company);
    if (started) {
        struct mlc_err e2 = {0};
        const char *result = rc == MLC_OK                               ? "ok"
                             : (x->stop && *x->stop && rc == MLC_RETRY) ? "interrupted"
                                                                        : "failed";

        if (ext_state_cycle_finish(x->state, c.id, &c.st, result, rc == MLC_OK ? NULL : e.msg,
                                   rc == MLC_OK ? new_wm : (has_wm ? wm : NULL), ms,
                                   &e2) != MLC_OK &&
            rc == MLC_OK) {
            rc = e2.rc;
            e = e2;
        }
        mlc_info("%s: %s cycle %lld %s in %ld ms: pages=%ld records=%ld published=%ld "
                 "unchanged=%ld skipped=%ld missing=%ld watermark=%s",
                 company, full ? "full" : "incremental", (long long)c.id, result, ms, c.st.pages,
                 c.st.records, c.st.published, c.st.unchanged, c.st.skipped, c.st.missing,
                 rc == MLC_OK ? (new_wm[0] ? new_wm : "none") : (has_wm ? wm : "none"));
    }
    if (stats)
        *stats = c.st;
    if (rc != MLC_OK && err)
        *err = e;
    sage_terms_free(c.terms);
    mlc_buf_free(&c.value);
    mlc_buf_free(&res);
    return rc;
}

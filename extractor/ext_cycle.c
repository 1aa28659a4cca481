/* ext_cycle.c - one poll cycle of one company (see ext_cycle.h). */
#include "ext_cycle.h"

#include "mlc_buf.h"
#include "mlc_event.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "sage_customer.h"
#include "sage_query.h"

#include <pthread.h>
#include <stdint.h>
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
    uintptr_t slot = (uintptr_t)dr->opaque;

    /* opaque is 1 + the page slot; anything else is not ours to count. */
    if (slot < 1 || slot > EXT_SLOTS)
        return;
    slot--;
    if (dr->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        x->dr_ok[slot]++;
        return;
    }
    if (!x->dr_failed[slot])
        mlc_strlcpy(x->dr_error[slot], dr->errstr ? dr->errstr : "unknown error",
                    sizeof(x->dr_error[slot]));
    x->dr_failed[slot]++;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
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
        const cJSON *rec;

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
static mlc_rc publish(struct cycle *c, unsigned slot, const char *number, const cJSON *customer,
                      const char *last_maintained, time_t read_at, char hash[65],
                      struct mlc_err *err)
{
    struct mlc_event_source src = {
        .base_url = c->x->base_url, .last_maintained = last_maintained, .read_at = read_at};
    cJSON *ev = NULL;
    char key[MLC_EVENT_MAX_KEY + 1];
    const cJSON *h;
    mlc_rc rc;

    /* mlc_event_build validates the event with the loader's rules, so the
     * canonical form is written directly (mlc_event_encode would validate
     * the same tree a second time); only the size limit is left to check. */
    mlc_buf_reset(&c->value);
    if ((rc = mlc_event_key(c->company, number, key, sizeof(key), err)) != MLC_OK ||
        (rc = mlc_event_build(c->company, number, customer, &src, time(NULL), &ev, err)) !=
            MLC_OK ||
        (rc = mlc_event_canonical(ev, &c->value, err)) != MLC_OK)
        goto out;
    if (c->value.len > MLC_EVENT_MAX_BYTES) {
        rc = mlc_err_set(err, MLC_PERM, "event: encoded size %zu bytes exceeds %d", c->value.len,
                         MLC_EVENT_MAX_BYTES);
        goto out;
    }
    h = cJSON_GetObjectItemCaseSensitive(ev, "content_hash");
    if (hash && cJSON_IsString(h))
        mlc_strlcpy(hash, h->valuestring, MLC_EVENT_HASH_HEX + 1);
    rc = mlc_kafka_produce(c->x->producer, c->x->topic, key, strlen(key), c->value.data,
                           c->value.len, NULL, 0, (void *)(uintptr_t)(slot + 1), 30000, err);
    if (rc == MLC_PERM)
        mlc_err_prefix(err, "kafka refused the event");
out:
    cJSON_Delete(ev);
    return rc;
}

/* Waits until every report of the n events queued in slot arrived; MLC_OK
 * only when all succeeded. Serves reports of the other slot meanwhile. */
static mlc_rc wait_delivery(struct cycle *c, unsigned slot, long n, long page_no,
                            struct mlc_err *err)
{
    struct ext_ctx *x = c->x;
    long deadline = now_ms() + x->flush_timeout_ms;

    while (x->dr_ok[slot] + x->dr_failed[slot] < n) {
        if (now_ms() > deadline)
            return mlc_err_set(err, MLC_RETRY,
                               "kafka: %ld of %ld events of page %ld not acknowledged within "
                               "%d ms",
                               n - x->dr_ok[slot], n, page_no, x->flush_timeout_ms);
        if (mlc_kafka_producer_poll(x->producer, 20, err) == MLC_FATAL)
            return mlc_err_prefix(err, "kafka");
    }
    if (x->dr_failed[slot])
        return mlc_err_set(err, MLC_RETRY,
                           "kafka: %ld of %ld events of page %ld not acknowledged: %s",
                           x->dr_failed[slot], n, page_no, x->dr_error[slot]);
    return MLC_OK;
}

/* Serves every outstanding report before a cycle ends, so that no report of
 * this cycle is counted in the next one. */
static void drain_reports(struct cycle *c)
{
    int left = 0;

    if (mlc_kafka_producer_outstanding(c->x->producer) > 0)
        mlc_kafka_producer_flush(c->x->producer, c->x->flush_timeout_ms, &left, NULL);
    if (left > 0)
        mlc_warn("%s: %d events still unacknowledged; their pages were not committed", c->company,
                 left);
}

static void slot_reset(struct ext_ctx *x, unsigned slot)
{
    x->dr_ok[slot] = x->dr_failed[slot] = 0;
    x->dr_error[slot][0] = '\0';
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
static mlc_rc commit_page(struct cycle *c, struct ext_state *st, const struct pending *p, size_t n,
                          time_t at, struct mlc_err *err)
{
    struct mlc_store *store = ext_state_store(st);
    mlc_rc rc;

    if ((rc = mlc_store_begin(store, err)) != MLC_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const struct pending *r = &p[i];

        if (r->has_number && r->outcome != OUT_MISSING) {
            rc = ext_state_customer_seen(st, c->company, r->number,
                                         r->outcome == OUT_PUBLISHED ? r->hash : NULL,
                                         r->last_maintained, c->full ? c->id : 0, err);
        } else if (r->outcome == OUT_MISSING) {
            rc = ext_state_customer_missing(st, c->company, r->number, err);
        }
        if (rc == MLC_OK)
            rc = ext_state_audit(st, c->id, c->company, r->has_number ? r->number : NULL,
                                 r->hash[0] ? r->hash : NULL, outcome_names[r->outcome],
                                 r->reason[0] ? r->reason : NULL, at, err);
        if (rc != MLC_OK) {
            mlc_store_rollback(store, NULL);
            return rc;
        }
    }
    return mlc_store_commit(store, err);
}

/* A page whose events are queued and whose commit waits for their reports. */
struct inflight {
    bool used;
    unsigned slot;     /* delivery counters of ext_ctx */
    long page_no;      /* 1-based, for messages */
    struct pending *p; /* one per record */
    size_t n;
    long produced;
    time_t read_at;
    long t_prepared; /* ms, for the debug line */
};

static void inflight_free(struct inflight *f)
{
    free(f->p);
    memset(f, 0, sizeof(*f));
}

/* Normalises, hashes and compares every record of page and queues the
 * changed ones (delivery counters of slot). Fills f; the page may be freed
 * afterwards. */
static mlc_rc page_prepare(struct cycle *c, const struct sage_page *page, time_t read_at,
                           unsigned slot, struct inflight *f, struct mlc_err *err)
{
    struct ext_ctx *x = c->x;
    long t0 = now_ms();
    size_t i = 0;
    mlc_rc rc = MLC_OK;

    memset(f, 0, sizeof(*f));
    c->st.pages++;
    f->used = true;
    f->slot = slot;
    f->page_no = c->st.pages;
    f->read_at = read_at;
    slot_reset(x, slot);
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
        struct sage_customer cu = {0};
        struct ext_known known;
        struct mlc_err e = {0};
        struct pending *r = &f->p[i];

        f->n++;
        c->st.records++;
        rc = sage_customer_normalize(rec, c->terms, &cu, &e);
        if (cu.number[0]) {
            r->has_number = true;
            mlc_strlcpy(r->number, cu.number, sizeof(r->number));
        }
        if (rc == MLC_OK) {
            mlc_strlcpy(r->last_maintained, cu.last_maintained, sizeof(r->last_maintained));
            rc = ext_state_customer_get(x->state, c->company, cu.number, &known, &e);
        }
        /* Hash only what must be compared; publish() takes the hash from the
         * event it builds (new, missing or forced customers). */
        if (rc == MLC_OK && !c->force && known.has_hash && !known.missing)
            rc = mlc_event_content_hash(cu.customer, r->hash, &e);
        if (rc == MLC_OK) {
            if (cu.last_maintained[0] && strcmp(cu.last_maintained, c->max_lm) > 0)
                mlc_strlcpy(c->max_lm, cu.last_maintained, sizeof(c->max_lm));
            if (r->hash[0] && !strcmp(known.hash, r->hash)) {
                r->outcome = OUT_UNCHANGED;
                c->st.unchanged++;
            } else {
                rc = publish(c, slot, cu.number, cu.customer, cu.last_maintained, read_at, r->hash,
                             &e);
                if (rc == MLC_OK) {
                    r->outcome = OUT_PUBLISHED;
                    /* Serve reports now and then; produce() does when full. */
                    if (++f->produced % 128 == 0)
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
                     r->has_number ? r->number : "(no CustomerNumber)", (long)i + 1, f->page_no,
                     e.msg);
            rc = MLC_OK;
            continue;
        }
        if (rc != MLC_OK) {
            *err = e;
            break;
        }
    }
    ext_state_read_end(x->state);
    f->t_prepared = now_ms() - t0;
    return rc;
}

/* Commits pages on a helper thread with its own SQLite connection
 * (ext_ctx.commit_state), one page at a time and in page order, so the
 * commit's fsync overlaps the next page's work. Without commit_state the
 * commit runs inline. Only the committer writes while a scan runs; the main
 * thread only reads (WAL readers never block the writer). */
struct committer {
    pthread_t tid;
    bool running, has_job;
    struct cycle *c;
    struct inflight job;
    long t_acked; /* ms between queueing and the last report, for the debug line */
    long ms;      /* commit duration */
    mlc_rc rc;
    struct mlc_err err;
};

static void *commit_main(void *arg)
{
    struct committer *k = arg;
    long t0 = now_ms();

    k->rc = commit_page(k->c, k->c->x->commit_state, k->job.p, k->job.n, k->job.read_at, &k->err);
    k->ms = now_ms() - t0;
    return NULL;
}

/* Waits for the page being committed; counts it when it committed. */
static mlc_rc committer_join(struct committer *k, struct mlc_err *err)
{
    struct cycle *c = k->c;
    mlc_rc rc;

    if (k->running)
        pthread_join(k->tid, NULL);
    k->running = false;
    if (!k->has_job)
        return MLC_OK;
    rc = k->rc;
    if (rc == MLC_OK) {
        c->st.published += k->job.produced;
        mlc_debug("%s: page %ld: %zu records, %ld published: prepared in %ld ms, acknowledged "
                  "%ld ms later, committed in %ld ms",
                  c->company, k->job.page_no, k->job.n, k->job.produced, k->job.t_prepared,
                  k->t_acked, k->ms);
    } else if (err) {
        *err = k->err;
    }
    inflight_free(&k->job);
    k->has_job = false;
    return rc;
}

/* Hands f (taken over) to the committer once the previous page committed. */
static mlc_rc committer_start(struct committer *k, struct inflight *f, long t_acked,
                              struct mlc_err *err)
{
    mlc_rc rc = committer_join(k, err);

    if (rc != MLC_OK) {
        inflight_free(f);
        return rc;
    }
    k->job = *f;
    memset(f, 0, sizeof(*f));
    k->has_job = true;
    k->t_acked = t_acked;
    mlc_err_clear(&k->err);
    if (k->c->x->commit_state && pthread_create(&k->tid, NULL, commit_main, k) == 0) {
        k->running = true;
        return MLC_OK;
    }
    /* Inline: no second connection, or no thread. */
    {
        long t0 = now_ms();

        k->rc = commit_page(k->c, k->c->x->commit_state ? k->c->x->commit_state : k->c->x->state,
                            k->job.p, k->job.n, k->job.read_at, &k->err);
        k->ms = now_ms() - t0;
    }
    return committer_join(k, err);
}

/* Waits for every report of f's events, then has f's customers and audit
 * rows committed in one transaction; f is taken over either way. */
static mlc_rc page_settle(struct cycle *c, struct committer *k, struct inflight *f,
                          struct mlc_err *err)
{
    long t1 = now_ms();
    mlc_rc rc;

    if (!f->used)
        return MLC_OK;
    if ((rc = wait_delivery(c, f->slot, f->produced, f->page_no, err)) != MLC_OK) {
        inflight_free(f);
        return rc;
    }
    if (f->n > 0) {
        /* The test hook dies with every earlier page committed. */
        if (c->x->crash_after_pages > 0 && (rc = committer_join(k, err)) != MLC_OK) {
            inflight_free(f);
            return rc;
        }
        maybe_crash(c->x);
    }
    return committer_start(k, f, now_ms() - t1, err);
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
        slot_reset(c->x, 0);
        memset(p, 0, max * sizeof(*p));
        for (size_t i = 0; i < n; i++) {
            p[i].outcome = OUT_MISSING;
            p[i].has_number = true;
            mlc_strlcpy(p[i].number, numbers[i], sizeof(p[i].number));
            mlc_strlcpy(p[i].reason, "not returned by a full scan", sizeof(p[i].reason));
            rc = publish(c, 0, numbers[i], NULL, NULL, time(NULL), p[i].hash, err);
            if (rc != MLC_OK) {
                mlc_err_prefix(err, "missing event of customer %s", numbers[i]);
                /* Whatever was queued is resent by the next full scan. */
                if (rc == MLC_PERM)
                    rc = MLC_RETRY;
                goto out;
            }
            mlc_kafka_producer_poll(c->x->producer, 0, NULL);
        }
        if ((rc = wait_delivery(c, 0, (long)n, c->st.pages, err)) != MLC_OK ||
            (rc = commit_page(c, c->x->state, p, n, time(NULL), err)) != MLC_OK)
            goto out;
        c->st.missing += (long)n;
        mlc_info("%s: %zu customers gone from Sage reported missing", c->company, n);
    }
out:
    free(numbers);
    free(p);
    return rc;
}

/* A page fetched on a helper thread while the previous one is published:
 * the Sage round trip overlaps the Kafka and SQLite work, and memory stays
 * bounded by two pages. The helper thread is the only user of the Sage
 * client while it runs. */
struct fetch {
    pthread_t tid;
    bool running;
    struct sage_client *sage;
    const char *resource;
    char *url; /* owned */
    struct sage_page page;
    struct mlc_err err;
    mlc_rc rc;
    time_t read_at;
};

static void *fetch_main(void *arg)
{
    struct fetch *f = arg;

    f->rc = sage_client_get_page(f->sage, f->url, f->resource, &f->page, &f->err);
    f->read_at = time(NULL);
    return NULL;
}

/* Starts fetching url (taken over); falls back to fetching inline. */
static void fetch_start(struct fetch *f, char *url)
{
    free(f->url);
    f->url = url;
    mlc_err_clear(&f->err);
    sage_page_free(&f->page);
    if (pthread_create(&f->tid, NULL, fetch_main, f) == 0)
        f->running = true;
    else
        fetch_main(f);
}

static void fetch_join(struct fetch *f)
{
    if (f->running)
        pthread_join(f->tid, NULL);
    f->running = false;
}

/* Remembers the page's last valid CustomerNumber in c->last (keyset). */
static void note_last_number(struct cycle *c, const struct sage_page *page)
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

/* The first request of a keyset window after c->last (or of the scan). */
static mlc_rc window_url(struct cycle *c, const char *since, char **out, struct mlc_err *err)
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
    if (rc == MLC_OK) {
        *out = strdup(mlc_buf_str(&url));
        if (!*out)
            rc = mlc_err_set(err, MLC_FATAL, "out of memory");
    }
    mlc_buf_free(&url);
    return rc;
}

/* Reads every page of the scan: keyset windows, each the first page and the
 * nextLinks it leads to; the scan ends only on an empty window. */
static mlc_rc scan(struct cycle *c, const char *since, struct mlc_err *err)
{
    struct fetch f = {.sage = c->x->sage, .resource = c->resource};
    struct sage_page page = {0};
    struct inflight cur = {0}, prev = {0};
    struct committer k = {.c = c};
    char last_window[MLC_EVENT_MAX_NUMBER + 1] = "";
    bool had_window = false, end = false;
    size_t window = 0;
    unsigned seq = 0;
    char *url = NULL;
    mlc_rc rc;

    /* Pipeline: while page N is prepared (normalised, hashed, queued), page
     * N+1 is fetched and page N-1's delivery reports arrive; page N-1 is
     * committed only once all of its reports succeeded. */
    if ((rc = window_url(c, since, &url, err)) != MLC_OK)
        goto out;
    fetch_start(&f, url);
    url = NULL;
    while (!end) {
        time_t read_at;

        fetch_join(&f);
        if (f.rc != MLC_OK) {
            rc = f.rc;
            if (err)
                *err = f.err;
            goto out;
        }
        page = f.page;
        memset(&f.page, 0, sizeof(f.page));
        read_at = f.read_at; /* before the helper thread is reused */
        window += page.count;
        note_last_number(c, &page);
        if (page.next_url) {
            url = page.next_url; /* the server truncated the window */
            page.next_url = NULL;
        } else if (window == 0) {
            end = true; /* the only end: an empty keyset window */
        } else if (!c->has_last || (had_window && !strcmp(last_window, c->last))) {
            rc = mlc_err_set(err, MLC_RETRY,
                             "sage %s: a keyset window made no progress (no readable "
                             "CustomerNumber after '%s'); stopping to avoid a loop",
                             c->company, had_window ? last_window : "");
            goto out;
        } else {
            mlc_strlcpy(last_window, c->last, sizeof(last_window));
            had_window = true;
            window = 0;
            if ((rc = window_url(c, since, &url, err)) != MLC_OK)
                goto out;
        }
        if (url && !(c->x->stop && *c->x->stop)) {
            fetch_start(&f, url);
            url = NULL;
        }
        rc = page_prepare(c, &page, read_at, seq++ % EXT_SLOTS, &cur, err);
        sage_page_free(&page);
        if (rc != MLC_OK)
            goto out;
        if ((rc = page_settle(c, &k, &prev, err)) != MLC_OK)
            goto out;
        prev = cur;
        memset(&cur, 0, sizeof(cur));
        if (!end && c->x->stop && *c->x->stop) {
            if ((rc = page_settle(c, &k, &prev, err)) == MLC_OK &&
                (rc = committer_join(&k, err)) == MLC_OK)
                rc = mlc_err_set(err, MLC_RETRY, "interrupted after page %ld", c->st.pages);
            goto out;
        }
    }
    if ((rc = page_settle(c, &k, &prev, err)) == MLC_OK)
        rc = committer_join(&k, err);
out:
    fetch_join(&f);
    if (rc != MLC_OK && rc != MLC_FATAL && prev.used) {
        /* The failure came after prev was queued: commit it if delivered. */
        struct mlc_err e2 = {0};

        if (page_settle(c, &k, &prev, &e2) != MLC_OK)
            mlc_warn("%s: page %ld not committed: %s", c->company, c->st.pages - 1, e2.msg);
    }
    {
        /* Always wait for the committer; a failure it reports fails the scan. */
        struct mlc_err e2 = {0};

        if (committer_join(&k, &e2) != MLC_OK) {
            if (rc == MLC_OK) {
                rc = e2.rc;
                if (err)
                    *err = e2;
            } else {
                mlc_warn("%s: a page was not committed: %s", c->company, e2.msg);
            }
        }
    }
    inflight_free(&prev);
    inflight_free(&cur);
    free(url);
    free(f.url);
    sage_page_free(&f.page);
    sage_page_free(&page);
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
    if (rc != MLC_OK)
        drain_reports(&c);
    if (stats)
        *stats = c.st;
    if (rc != MLC_OK && err)
        *err = e;
    sage_terms_free(c.terms);
    mlc_buf_free(&c.value);
    mlc_buf_free(&res);
    return rc;
}

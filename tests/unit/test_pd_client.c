/* Unit tests of pd_client_run: admission, pacing, retries and the
 * classification of answers, with a fake clock, a fake sleep and a fake
 * batch that answers from a script (no network, no real time). */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "mlc_http.h"
#include "pd_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1795824000000LL /* 2026-11-28T00:00:00Z in ms */

#define MAX_SCRIPT 128
#define MAX_SENT   256

/* One scripted answer: the first unused one whose path matches a request
 * answers it. */
struct answer {
    const char *path;
    long status; /* 0: no answer (timeout) */
    const char *body;
    const char *hdr[3][2];
    bool used;
};

struct sent {
    char path[256];
    int64_t at;
    size_t batch;
};

struct fake {
    int64_t now;
    struct answer script[MAX_SCRIPT];
    size_t n_script;
    struct sent sent[MAX_SENT];
    size_t n_sent, n_batches, max_batch;
    size_t n_audit;
    int audit_tokens;
    int64_t slept;
    volatile sig_atomic_t stop;
    bool stop_on_sleep;
};

static struct fake F;

static int64_t fake_now(void *ctx)
{
    return ((struct fake *)ctx)->now;
}

static bool fake_sleep(void *ctx, long ms, volatile sig_atomic_t *stop)
{
    struct fake *f = ctx;

    if (f->stop_on_sleep) {
        f->stop = 1;
        return false;
    }
    f->now += ms;
    f->slept += ms;
    return !(stop && *stop);
}

static void add_hdr(struct mlc_http_response *r, const char *name, const char *value)
{
    mlc_buf_append(&r->hdrs, name, strlen(name) + 1);
    mlc_buf_append(&r->hdrs, value, strlen(value) + 1);
}

static mlc_rc fake_perform(void *ctx, const struct mlc_http_request *reqs, size_t n,
                           struct mlc_http_response *resps, mlc_rc *rcs, struct mlc_err *errs,
                           volatile sig_atomic_t *stop, struct mlc_err *err)
{
    struct fake *f = ctx;

    (void)stop;
    (void)err;
    f->n_batches++;
    if (n > f->max_batch)
        f->max_batch = n;
    for (size_t i = 0; i < n; i++) {
        const char *path = strstr(reqs[i].url, "/api/");
        struct answer *a = NULL;

        if (!path)
            path = strstr(reqs[i].url, "/v1/");
        assert_non_null(path);
        assert_true(f->n_sent < MAX_SENT);
        snprintf(f->sent[f->n_sent].path, sizeof(f->sent[0].path), "%s", path);
        f->sent[f->n_sent].at = f->now;
        f->sent[f->n_sent].batch = f->n_batches;
        f->n_sent++;
        for (size_t j = 0; j < f->n_script && !a; j++)
            if (!f->script[j].used && !strcmp(f->script[j].path, path))
                a = &f->script[j];
        if (!a)
            fail_msg("no scripted answer left for %s", path);
        a->used = true;
        mlc_buf_free(&resps[i].body);
        mlc_buf_init(&resps[i].body, 1u << 20);
        mlc_buf_reset(&resps[i].hdrs);
        resps[i].status = a->status;
        resps[i].total_s = 0.01;
        if (a->body)
            mlc_buf_puts(&resps[i].body, a->body);
        for (size_t h = 0; h < 3 && a->hdr[h][0]; h++)
            add_hdr(&resps[i], a->hdr[h][0], a->hdr[h][1]);
        rcs[i] = mlc_http_classify_status(a->status);
        mlc_err_clear(&errs[i]);
        if (rcs[i] != MLC_OK)
            mlc_err_set(&errs[i], rcs[i], "%s: HTTP %ld", path, a->status);
    }
    f->now += 10; /* the batch takes 10 ms */
    return MLC_OK;
}

static void fake_audit(void *ctx, const struct pd_call *call, long status, int tokens, long dur)
{
    struct fake *f = ctx;

    (void)call;
    (void)status;
    (void)dur;
    f->n_audit++;
    f->audit_tokens += tokens;
}

static struct answer *script(const char *path, long status, const char *body)
{
    struct answer *a = &F.script[F.n_script++];

    assert_true(F.n_script <= MAX_SCRIPT);
    a->path = path;
    a->status = status;
    a->body = body;
    return a;
}

static const struct pd_client_hooks HOOKS = {
    .now_ms = fake_now, .sleep_ms = fake_sleep, .perform = fake_perform, .ctx = &F, .seed = 42};

static struct pd_client *client(unsigned concurrency, bool pacing, unsigned max_attempts)
{
    struct pd_client_cfg cfg = {.base_url = "http://pd.test/",
                                .token = "t0ken-for-tests",
                                .concurrency = concurrency,
                                .pacing = pacing,
                                .max_attempts = max_attempts,
                                .audit = fake_audit,
                                .audit_ctx = &F,
                                .stop = &F.stop,
                                .backoff_base_ms = 1000,
                                .hooks = &HOOKS};
    struct pd_client *c = NULL;
    struct mlc_err err = {0};

    pd_limits_cfg_defaults(&cfg.limits);
    cfg.limits.seed = 7;
    assert_int_equal(pd_client_new(&cfg, &c, &err), MLC_OK);
    return c;
}

static void get(struct pd_call *call, const char *path)
{
    memset(call, 0, sizeof(*call));
    call->op = PD_OP_GET_ORG;
    call->method = MLC_HTTP_GET;
    snprintf(call->path, sizeof(call->path), "%s", path);
}

static int reset(void **state)
{
    (void)state;
    memset(&F, 0, sizeof(F));
    F.now = T0;
    return 0;
}

static size_t sends_of(const char *path)
{
    size_t n = 0;

    for (size_t i = 0; i < F.n_sent; i++)
        n += !strcmp(F.sent[i].path, path);
    return n;
}

static int64_t nth_send_at(const char *path, size_t nth)
{
    for (size_t i = 0; i < F.n_sent; i++)
        if (!strcmp(F.sent[i].path, path) && nth-- == 0)
            return F.sent[i].at;
    fail_msg("%s was not sent that often", path);
    return -1;
}

static void ok_answer_is_parsed_and_audited(void **state)
{
    struct pd_client *c = client(1, false, 3);
    struct pd_call call;
    struct mlc_err err = {0};

    (void)state;
    script("/api/v2/organizations/1", 200, "{\"data\":{\"id\":1}}");
    get(&call, "/api/v2/organizations/1");
    assert_int_equal(pd_client_run(c, &call, 1, &err), MLC_OK);
    assert_int_equal(call.rc, MLC_OK);
    assert_int_equal(call.status, 200);
    assert_true(call.sent);
    assert_non_null(call.json);
    assert_int_equal(F.n_audit, 1);
    assert_int_equal(F.audit_tokens, pd_op_cost(PD_OP_GET_ORG));
    pd_call_reset(&call);
    pd_client_free(c);
}

static void at_most_concurrency_in_one_batch(void **state)
{
    struct pd_client *c = client(2, false, 1);
    struct pd_call calls[5];
    struct mlc_err err = {0};
    char path[5][64];

    (void)state;
    for (int i = 0; i < 5; i++) {
        snprintf(path[i], sizeof(path[i]), "/api/v2/organizations/%d", i + 1);
        script(path[i], 200, "{\"data\":{}}");
        get(&calls[i], path[i]);
    }
    assert_int_equal(pd_client_run(c, calls, 5, &err), MLC_OK);
    assert_int_equal(F.max_batch, 2);
    assert_int_equal(F.n_batches, 3);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(calls[i].rc, MLC_OK);
        assert_string_equal(F.sent[i].path, path[i]); /* in call order */
        pd_call_reset(&calls[i]);
    }
    pd_client_free(c);
}

/* A GET waiting for its retry time does not hold back the next call: the
 * retry waits are per call, not slept one after another in the run. */
static void retry_wait_does_not_hold_back_other_calls(void **state)
{
    struct pd_client *c = client(1, false, 3);
    struct pd_call calls[2];
    struct mlc_err err = {0};
    struct answer *a;

    (void)state;
    a = script("/api/v2/organizations/1", 503, NULL);
    a->hdr[0][0] = "Retry-After";
    a->hdr[0][1] = "5";
    script("/api/v2/organizations/1", 200, "{\"data\":{}}");
    script("/api/v2/organizations/2", 200, "{\"data\":{}}");
    get(&calls[0], "/api/v2/organizations/1");
    get(&calls[1], "/api/v2/organizations/2");
    assert_int_equal(pd_client_run(c, calls, 2, &err), MLC_OK);
    assert_int_equal(calls[0].rc, MLC_OK);
    assert_int_equal(calls[1].rc, MLC_OK);
    assert_int_equal(sends_of("/api/v2/organizations/1"), 2);
    /* the second call went out right after the first answer... */
    assert_true(nth_send_at("/api/v2/organizations/2", 0) < T0 + 100);
    /* ...and the retry not before its Retry-After */
    assert_true(nth_send_at("/api/v2/organizations/1", 1) >= T0 + 5000);
    pd_call_reset(&calls[0]);
    pd_call_reset(&calls[1]);
    pd_client_free(c);
}

/* Two failing calls wait for their retries side by side: the run lasts about
 * the longer wait, not the sum. */
static void retry_waits_overlap(void **state)
{
    struct pd_client *c = client(2, false, 2);
    struct pd_call calls[2];
    struct mlc_err err = {0};

    (void)state;
    for (int i = 0; i < 2; i++) {
        const char *p = i ? "/api/v2/organizations/2" : "/api/v2/organizations/1";
        struct answer *a = script(p, 500, NULL);

        a->hdr[0][0] = "retry-after";
        a->hdr[0][1] = "4";
        script(p, 200, "{\"data\":{}}");
        get(&calls[i], p);
    }
    assert_int_equal(pd_client_run(c, calls, 2, &err), MLC_OK);
    assert_int_equal(calls[0].rc, MLC_OK);
    assert_int_equal(calls[1].rc, MLC_OK);
    assert_int_equal(F.n_sent, 4);
    assert_true(F.slept >= 4000);
    assert_true(F.slept < 8000); /* serial waits would add up to at least 8 s */
    pd_call_reset(&calls[0]);
    pd_call_reset(&calls[1]);
    pd_client_free(c);
}

static void get_timeouts_retried_up_to_max_attempts(void **state)
{
    struct pd_client *c = client(1, false, 3);
    struct pd_call call;
    struct mlc_err err = {0};

    (void)state;
    for (int i = 0; i < 3; i++)
        script("/api/v2/organizations/1", 0, NULL);
    get(&call, "/api/v2/organizations/1");
    assert_int_equal(pd_client_run(c, &call, 1, &err), MLC_OK);
    assert_int_equal(call.rc, MLC_RETRY);
    assert_int_equal(F.n_sent, 3);
    assert_true(call.sent);
    pd_call_reset(&call);
    pd_client_free(c);
}

static void post_is_never_resent(void **state)
{
    struct pd_client *c = client(1, false, 5);
    struct pd_call call = {.op = PD_OP_CREATE_ORG, .method = MLC_HTTP_POST, .body = "{}"};
    struct mlc_err err = {0};

    (void)state;
    snprintf(call.path, sizeof(call.path), "/api/v2/organizations");
    script("/api/v2/organizations", 502, NULL);
    assert_int_equal(pd_client_run(c, &call, 1, &err), MLC_OK);
    assert_int_equal(call.rc, MLC_RETRY);
    assert_int_equal(call.status, 502);
    assert_true(call.sent);
    assert_int_equal(F.n_sent, 1);
    pd_call_reset(&call);
    pd_client_free(c);
}

static void not_found_is_permanent_with_status(void **state)
{
    struct pd_client *c = client(1, false, 3);
    struct pd_call call;
    struct mlc_err err = {0};

    (void)state;
    script("/api/v2/organizations/9", 404, "{\"success\":false,\"error\":\"Not found\"}");
    get(&call, "/api/v2/organizations/9");
    assert_int_equal(pd_client_call1(c, &call, &err), MLC_PERM);
    assert_int_equal(call.status, 404);
    assert_int_equal(err.status, 404);
    assert_non_null(strstr(err.msg, "Not found"));
    assert_int_equal(F.n_sent, 1);
    pd_call_reset(&call);
    pd_client_free(c);
}

static void refused_token_is_fatal(void **state)
{
    struct pd_client *c = client(1, false, 3);
    struct pd_call calls[2];
    struct mlc_err err = {0};

    (void)state;
    script("/api/v2/organizations/1", 401, "{\"success\":false}");
    get(&calls[0], "/api/v2/organizations/1");
    get(&calls[1], "/api/v2/organizations/2");
    assert_int_equal(pd_client_run(c, calls, 2, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "MLC_PIPEDRIVE_TOKEN"));
    assert_int_equal(F.n_sent, 1);
    assert_false(calls[1].sent);
    pd_call_reset(&calls[0]);
    pd_call_reset(&calls[1]);
    pd_client_free(c);
}

static void ok_answer_that_is_not_json_is_retry(void **state)
{
    struct pd_client *c = client(1, false, 1);
    struct pd_call call;
    struct mlc_err err = {0};

    (void)state;
    script("/api/v2/organizations/1", 200, "<html>proxy</html>");
    get(&call, "/api/v2/organizations/1");
    assert_int_equal(pd_client_run(c, &call, 1, &err), MLC_OK);
    assert_int_equal(call.rc, MLC_RETRY);
    assert_non_null(strstr(call.err.msg, "not JSON"));
    pd_call_reset(&call);
    pd_client_free(c);
}

static void burst_429_is_sent_again_after_the_reset(void **state)
{
    struct pd_client *c = client(1, true, 3);
    struct pd_call call;
    struct mlc_err err = {0};
    struct answer *a;

    (void)state;
    a = script("/api/v2/organizations/1", 429, "{\"success\":false}");
    a->hdr[0][0] = "x-ratelimit-remaining";
    a->hdr[0][1] = "0";
    a->hdr[1][0] = "x-ratelimit-reset";
    a->hdr[1][1] = "2";
    script("/api/v2/organizations/1", 200, "{\"data\":{}}");
    get(&call, "/api/v2/organizations/1");
    assert_int_equal(pd_client_run(c, &call, 1, &err), MLC_OK);
    assert_int_equal(call.rc, MLC_OK);
    assert_int_equal(F.n_sent, 2);
    assert_true(nth_send_at("/api/v2/organizations/1", 1) >=
                nth_send_at("/api/v2/organizations/1", 0) + 2000);
    assert_false(pd_client_paused(c, NULL));
    pd_call_reset(&call);
    pd_client_free(c);
}

static void daily_429_refuses_the_rest_and_pauses(void **state)
{
    struct pd_client *c = client(1, true, 3);
    struct pd_call calls[2];
    struct mlc_err err = {0};
    struct answer *a;
    int64_t resume = 0;

    (void)state;
    a = script("/api/v2/organizations/1", 429, "{\"success\":false}");
    a->hdr[0][0] = "x-daily-ratelimit-token-remaining";
    a->hdr[0][1] = "0";
    get(&calls[0], "/api/v2/organizations/1");
    get(&calls[1], "/api/v2/organizations/2");
    assert_int_equal(pd_client_run(c, calls, 2, &err), MLC_OK);
    assert_int_equal(calls[0].rc, MLC_RETRY);
    assert_int_equal(calls[0].status, 429);
    assert_int_equal(calls[1].rc, MLC_RETRY);
    assert_false(calls[1].sent);
    assert_non_null(strstr(calls[1].err.msg, "daily budget"));
    assert_int_equal(F.n_sent, 1);
    assert_true(pd_client_paused(c, &resume));
    assert_true(resume > F.now);
    pd_call_reset(&calls[0]);
    pd_call_reset(&calls[1]);
    pd_client_free(c);
}

static void block_page_is_fatal_and_sends_nothing_more(void **state)
{
    struct pd_client *c = client(1, true, 3);
    struct pd_call calls[2];
    struct mlc_err err = {0};
    struct answer *a;
    int64_t resume = 0;

    (void)state;
    a = script("/api/v2/organizations/1", 403, "<html>Attention Required</html>");
    a->hdr[0][0] = "content-type";
    a->hdr[0][1] = "text/html";
    get(&calls[0], "/api/v2/organizations/1");
    get(&calls[1], "/api/v2/organizations/2");
    assert_int_equal(pd_client_run(c, calls, 2, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "block page"));
    assert_int_equal(F.n_sent, 1);
    assert_true(pd_client_paused(c, &resume));
    assert_int_equal(resume, -1);
    /* the next run refuses at once */
    assert_int_equal(pd_client_run(c, &calls[1], 1, &err), MLC_FATAL);
    assert_int_equal(F.n_sent, 1);
    pd_call_reset(&calls[0]);
    pd_call_reset(&calls[1]);
    pd_client_free(c);
}

static void stop_interrupts_a_retry_wait(void **state)
{
    struct pd_client *c = client(1, false, 3);
    struct pd_call call;
    struct mlc_err err = {0};

    (void)state;
    script("/api/v2/organizations/1", 503, NULL);
    F.stop_on_sleep = true;
    get(&call, "/api/v2/organizations/1");
    assert_int_equal(pd_client_run(c, &call, 1, &err), MLC_RETRY);
    assert_int_equal(call.rc, MLC_RETRY);
    assert_non_null(strstr(call.err.msg, "interrupted"));
    assert_int_equal(F.n_sent, 1);
    pd_call_reset(&call);
    pd_client_free(c);
}

static void pacing_keeps_a_window_under_the_limit(void **state)
{
    struct pd_client *c = client(8, true, 1);
    static struct pd_call calls[100];
    static char path[100][48];
    struct mlc_err err = {0};

    (void)state;
    for (int i = 0; i < 100; i++) {
        snprintf(path[i], sizeof(path[i]), "/api/v2/organizations/%d", i + 1);
        script(path[i], 200, "{\"data\":{}}");
        get(&calls[i], path[i]);
    }
    assert_int_equal(pd_client_run(c, calls, 100, &err), MLC_OK);
    assert_int_equal(F.n_sent, 100);
    for (size_t i = 0, j = 0; i < F.n_sent; i++) {
        while (F.sent[i].at - F.sent[j].at >= 2000)
            j++;
        assert_true(i - j + 1 <= 40); /* growth: 40 per 2 s */
    }
    assert_true(F.sent[99].at - F.sent[0].at >= 2000);
    for (int i = 0; i < 100; i++)
        pd_call_reset(&calls[i]);
    pd_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(ok_answer_is_parsed_and_audited, reset),
        cmocka_unit_test_setup(at_most_concurrency_in_one_batch, reset),
        cmocka_unit_test_setup(retry_wait_does_not_hold_back_other_calls, reset),
        cmocka_unit_test_setup(retry_waits_overlap, reset),
        cmocka_unit_test_setup(get_timeouts_retried_up_to_max_attempts, reset),
        cmocka_unit_test_setup(post_is_never_resent, reset),
        cmocka_unit_test_setup(not_found_is_permanent_with_status, reset),
        cmocka_unit_test_setup(refused_token_is_fatal, reset),
        cmocka_unit_test_setup(ok_answer_that_is_not_json_is_retry, reset),
        cmocka_unit_test_setup(burst_429_is_sent_again_after_the_reset, reset),
        cmocka_unit_test_setup(daily_429_refuses_the_rest_and_pauses, reset),
        cmocka_unit_test_setup(block_page_is_fatal_and_sends_nothing_more, reset),
        cmocka_unit_test_setup(stop_interrupts_a_retry_wait, reset),
        cmocka_unit_test_setup(pacing_keeps_a_window_under_the_limit, reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

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
#include "mlc_str.h"
#include "pd_client.h"
#include "pd_fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    fake_reset();
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

/* Pipedrive's error text: error and error_info on one line, bounded, valid
 * UTF-8 whatever the server sent. */
static void error_text_is_one_bounded_line(void **state)
{
    char out[PD_ERROR_TEXT_MAX], big[2 * PD_ERROR_TEXT_MAX + 16] = "x";
    cJSON *b;

    (void)state;
    b = cJSON_Parse("{\"success\":false,\"error\":\"Validation failed\",\"error_info\":"
                    "\"Please check\\nthe fields\"}");
    pd_error_text(b, out, sizeof(out));
    assert_string_equal(out, "Validation failed (Please check the fields)");
    cJSON_Delete(b);
    pd_error_text(NULL, out, sizeof(out));
    assert_string_equal(out, "");
    b = cJSON_Parse("{\"error\":42,\"error_info\":\"only info\"}");
    pd_error_text(b, out, sizeof(out));
    assert_string_equal(out, "only info");
    cJSON_Delete(b);
    /* 2-byte characters after one ASCII byte: every cut falls inside one
     * unless it is made at a boundary */
    while (strlen(big) + 2 < sizeof(big))
        strcat(big, "\xc3\xa9");
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "error", big);
    cJSON_AddStringToObject(b, "error_info", big);
    pd_error_text(b, out, sizeof(out));
    assert_true(mlc_utf8_valid(out, strlen(out)));
    assert_true(strlen(out) < sizeof(out));
    pd_error_text(b, out, 6);
    assert_string_equal(out, "x\xc3\xa9\xc3\xa9");
    cJSON_Delete(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(ok_answer_is_parsed_and_audited, reset),
        cmocka_unit_test(error_text_is_one_bounded_line),
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

/* Unit tests of pd_limits: pacing, budget, 429 classification (fake clock). */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "mlc_alloc.h"
#include "pd_limits.h"

#include <stdint.h>
#include <string.h>

#define T0 1795824000000LL /* 2026-11-28T00:00:00Z in ms */

/* Sends `n` requests of op as fast as the pacer allows, starting at *now;
 * records the send times in out (if not NULL) and advances *now. */
static void stream(struct pd_limits *l, int64_t *now, enum pd_op op, size_t n, int64_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int64_t d = pd_limits_next_send_delay(l, *now, op);
        assert_true(d >= 0);
        *now += d;
        assert_int_equal(pd_limits_next_send_delay(l, *now, op), 0);
        pd_limits_on_send(l, *now, op);
        if (out)
            out[i] = *now;
    }
}

static size_t max_in_window(const int64_t *t, size_t n, int64_t window)
{
    size_t best = 0, j = 0;

    for (size_t i = 0; i < n; i++) {
        while (t[i] - t[j] >= window)
            j++;
        if (i - j + 1 > best)
            best = i - j + 1;
    }
    return best;
}

static void costs_match_spec(void **state)
{
    /* x-token-cost in tests/data/pipedrive/v2.subset.yaml and v1.subset.yaml */
    assert_int_equal(pd_op_cost(PD_OP_LIST_ORGS), 10);
    assert_int_equal(pd_op_cost(PD_OP_GET_ORG), 1);
    assert_int_equal(pd_op_cost(PD_OP_CREATE_ORG), 5);
    assert_int_equal(pd_op_cost(PD_OP_PATCH_ORG), 5);
    assert_int_equal(pd_op_cost(PD_OP_SEARCH_ORGS), 20);
    assert_int_equal(pd_op_cost(PD_OP_ITEM_SEARCH_FIELD), 20);
    assert_int_equal(pd_op_cost(PD_OP_LIST_ORG_FIELDS), 10);
    assert_int_equal(pd_op_cost(PD_OP_CREATE_ORG_FIELD), 5);
    assert_int_equal(pd_op_cost(PD_OP_USERS_ME), 2);
    assert_true(pd_op_is_search(PD_OP_SEARCH_ORGS));
    assert_true(pd_op_is_search(PD_OP_ITEM_SEARCH_FIELD));
    assert_false(pd_op_is_search(PD_OP_PATCH_ORG));

    enum pd_plan p;
    assert_true(pd_plan_parse("Growth", &p));
    assert_int_equal(pd_plan_burst(p), 40);
    assert_true(pd_plan_parse("lite", &p));
    assert_int_equal(pd_plan_burst(p), 20);
    assert_false(pd_plan_parse("gold", &p));
}

static void growth_steady_stream_stays_under_limit_at_95_pct(void **state)
{
    static int64_t t[3000];
    struct pd_limits_cfg cfg;
    struct pd_limits l;
    int64_t now = T0 + 1000;

    pd_limits_cfg_defaults(&cfg);
    pd_limits_init(&l, &cfg, now);
    stream(&l, &now, PD_OP_PATCH_ORG, 3000, t);
    assert_true(max_in_window(t, 3000, 2000) <= 40);
    /* rate over the run: >= 95 % of 40 per 2 s */
    double per_2s = 2999.0 * 2000.0 / (double)(t[2999] - t[0]);
    assert_true(per_2s >= 0.95 * 40);
    /* and spread out: never more than one request in 40 ms */
    for (size_t i = 1; i < 3000; i++)
        assert_true(t[i] - t[i - 1] >= 40);
}

static void learnt_headers_override_plan(void **state)
{
    static int64_t t[2000];
    struct pd_limits_cfg cfg;
    struct pd_limits l;
    struct pd_resp_info r;
    int64_t now = T0 + 1000;

    /* plan says lite (20) but the server says 100 */
    pd_limits_cfg_defaults(&cfg);
    cfg.plan = PD_PLAN_LITE;
    pd_limits_init(&l, &cfg, now);
    assert_int_equal(pd_limits_effective(&l), 19);
    pd_resp_info_init(&r, 200);
    pd_resp_info_header(&r, "X-RateLimit-Limit", "100");
    pd_resp_info_header(&r, "x-ratelimit-remaining", "99");
    pd_resp_info_header(&r, "x-ratelimit-reset", "2");
    assert_int_equal(pd_limits_on_response(&l, now, &r).verdict, PD_V_OK);
    assert_int_equal(pd_limits_effective(&l), 98);
    stream(&l, &now, PD_OP_GET_ORG, 2000, t);
    size_t peak = max_in_window(t, 2000, 2000);
    assert_true(peak <= 100);
    assert_true(peak >= 95);

    /* plan says ultimate (120) but the server says 40 */
    cfg.plan = PD_PLAN_ULTIMATE;
    now = T0 + 1000;
    pd_limits_init(&l, &cfg, now);
    pd_resp_info_init(&r, 200);
    pd_resp_info_header(&r, "x-ratelimit-limit", "40");
    pd_limits_on_response(&l, now, &r);
    stream(&l, &now, PD_OP_GET_ORG, 1000, t);
    assert_true(max_in_window(t, 1000, 2000) <= 40);
}

static void window_is_learnt_from_a_clearly_longer_reset(void **state)
{
    static int64_t t[400];
    struct pd_limits_cfg cfg;
    struct pd_limits l;
    struct pd_resp_info r;
    int64_t now = T0 + 1000;

    pd_limits_cfg_defaults(&cfg);
    pd_limits_init(&l, &cfg, now);
    /* 3 s is a 2-s window rounded up: no change */
    pd_resp_info_init(&r, 200);
    pd_resp_info_header(&r, "x-ratelimit-remaining", "30");
    pd_resp_info_header(&r, "x-ratelimit-reset", "3");
    pd_limits_on_response(&l, now, &r);
    assert_int_equal(l.window_ms, 2000);
    /* 10 s: the limit counts over 10 s */
    pd_resp_info_init(&r, 200);
    pd_resp_info_header(&r, "x-ratelimit-remaining", "30");
    pd_resp_info_header(&r, "x-ratelimit-reset", "10");
    pd_limits_on_response(&l, now, &r);
    assert_int_equal(l.window_ms, 10000);
    stream(&l, &now, PD_OP_GET_ORG, 400, t);
    assert_true(max_in_window(t, 400, 10000) <= 40);
}

static void server_remaining_zero_holds_until_reset(void **state)
{
    struct pd_limits_cfg cfg;
    struct pd_limits l;
    struct pd_resp_info r;
    int64_t now = T0 + 5000;

    pd_limits_cfg_defaults(&cfg);
    pd_limits_init(&l, &cfg, now);
    pd_resp_info_init(&r, 200);
    pd_resp_info_header(&r, "x-ratelimit-limit", "40");
    pd_resp_info_header(&r, "x-ratelimit-remaining", "0");
    pd_resp_info_header(&r, "x-ratelimit-reset", "2");
    pd_limits_on_response(&l, now, &r);
    assert_int_equal(pd_limits_next_send_delay(&l, now, PD_OP_GET_ORG), 2000);
    assert_int_equal(pd_limits_next_send_delay(&l, now + 2000, PD_OP_GET_ORG), 0);
}

static void search_bucket_is_separate(void **state)
{
    static int64_t t[300];
    struct pd_limits_cfg cfg;
    struct pd_limits l;
    int64_t now = T0 + 1000;

    pd_limits_cfg_defaults(&cfg);
    pd_limits_init(&l, &cfg, now);
    stream(&l, &now, PD_OP_ITEM_SEARCH_FIELD, 300, t);
    size_t peak = max_in_window(t, 300, 2000);
    assert_true(peak <= 10);
    assert_true(peak >= 8);
    /* a non-search request right after a search is not held by the search
     * bucket, only by the general spacing (2000/39 ms) */
    int64_t d_search = pd_limits_next_send_delay(&l, now, PD_OP_ITEM_SEARCH_FIELD);
    int64_t d_patch = pd_limits_next_send_delay(&l, now, PD_OP_PATCH_ORG);
    assert_true(d_search > 150);
    assert_true(d_patch <= 2000 / 39);
}

static void estimated_budget_reserve_pauses_and_resumes(void **state)
{
    struct pd_limits_cfg cfg;
    struct pd_limits l;
    int64_t now = T0 + 3600 * 1000, resume = 0;
    int sends = 0;

    pd_limits_cfg_defaults(&cfg);
    cfg.daily_budget = 1000;
    cfg.reserve_pct = 20;
    pd_limits_init(&l, &cfg, now);
    while (!pd_limits_should_pause(&l, now, &resume)) {
        stream(&l, &now, PD_OP_PATCH_ORG, 1, NULL);
        sends++;
        assert_true(sends < 1000);
    }
    /* paused as soon as fewer than 200 of 1000 tokens are left */
    assert_int_equal(sends, 161);
    assert_int_equal(pd_limits_daily_remaining(&l), 1000 - 805);
    assert_int_equal(resume, T0 + 86400LL * 1000); /* next UTC midnight */
    /* the pacer refuses to send until then */
    assert_true(pd_limits_next_send_delay(&l, now, PD_OP_PATCH_ORG) == resume - now);
    assert_true(pd_limits_should_pause(&l, resume - 1, NULL));
    assert_false(pd_limits_should_pause(&l, resume, NULL));
    assert_int_equal(pd_limits_daily_remaining(&l), 1000);
    assert_int_equal(pd_limits_next_send_delay(&l, resume + 5000, PD_OP_PATCH_ORG), 0);

    /* unknown budget: never pauses by estimate */
    cfg.daily_budget = 0;
    pd_limits_init(&l, &cfg, now);
    stream(&l, &now, PD_OP_LIST_ORGS, 500, NULL);
    assert_false(pd_limits_should_pause(&l, now, NULL));
    assert_int_equal(pd_limits_daily_remaining(&l), -1);
}

static void header_budget_overrides_estimate(void **state)
{
    struct pd_limits_cfg cfg;
    struct pd_limits l;
    struct pd_resp_info r;
    int64_t now = T0 + 7200 * 1000, resume = 0;

    pd_limits_cfg_defaults(&cfg);
    cfg.daily_budget = 1000000; /* configured, but the headers know better */
    cfg.reset_utc_minute = 60;  /* the server's midnight is 01:00 UTC */
    pd_limits_init(&l, &cfg, now);
    pd_resp_info_init(&r, 200);
    pd_resp_info_header(&r, "x-daily-ratelimit-token-limit", "180000");
    pd_resp_info_header(&r, "x-daily-ratelimit-token-remaining", "36100");
    pd_limits_on_response(&l, now, &r);
    assert_int_equal(pd_limits_daily_remaining(&l), 36100);
    assert_false(pd_limits_should_pause(&l, now, NULL));
    /* sends charged after the observation count down from it */
    stream(&l, &now, PD_OP_CREATE_ORG, 21, NULL); /* 105 tokens: 35995 < 36000 */
    assert_true(pd_limits_should_pause(&l, now, &resume));
    assert_int_equal(resume, T0 + 86400LL * 1000 + 3600 * 1000);
    assert_false(pd_limits_should_pause(&l, resume, NULL));
}

static void daily_429_pauses_until_retry_after(void **state)
{
    struct pd_limits_cfg cfg;
    struct pd_limits l;
    struct pd_resp_info r;
    int64_t now = T0 + 1000, resume = 0;
    static const char body[] = "{\"success\":false,\"error\":\"daily request budget exceeded\","
                               "\"errorCode\":429}";

    pd_limits_cfg_defaults(&cfg);
    pd_limits_init(&l, &cfg, now);
    pd_resp_info_init(&r, 429);
    pd_resp_info_header(&r, "Retry-After", "3939");
    pd_resp_info_body(&r, body, sizeof(body) - 1);
    struct pd_outcome o = pd_limits_on_response(&l, now, &r);
    assert_int_equal(o.verdict, PD_V_PAUSE);
    assert_int_equal(o.resume_at_ms, now + 3939000);
    assert_true(pd_limits_should_pause(&l, now + 1000, &resume));
    assert_int_equal(resume, now + 3939000);
    assert_int_equal(pd_limits_next_send_delay(&l, now + 1000, PD_OP_GET_ORG), 3938000);
    assert_false(pd_limits_should_pause(&l, now + 3939000, NULL));

    /* without Retry-After: the configured reset time */
    pd_limits_init(&l, &cfg, now);
    pd_resp_info_init(&r, 429);
    pd_resp_info_header(&r, "x-daily-ratelimit-token-remaining", "0");
    o = pd_limits_on_response(&l, now, &r);
    assert_int_equal(o.verdict, PD_V_PAUSE);
    assert_int_equal(o.resume_at_ms, T0 + 86400LL * 1000);
}

/* A probe's 2xx ends a daily-429 pause only when the budget grew since the
 * 429 (a new day); the few tokens left over from the old day never do. */
static void probe_ends_daily_pause_only_when_budget_grew(void **state)
{
    struct pd_limits_cfg cfg;
    struct pd_limits l;
    struct pd_resp_info r;
    int64_t now = T0 + 1000;
    static const char body[] = "{\"success\":false,\"error\":\"daily request budget exceeded\","
                               "\"errorCode\":429}";

    (void)state;
    pd_limits_cfg_defaults(&cfg);
    cfg.reserve_pct = 0;
    pd_limits_init(&l, &cfg, now);
    pd_resp_info_init(&r, 429);
    pd_resp_info_header(&r, "Retry-After", "3000");
    pd_resp_info_header(&r, "x-daily-ratelimit-token-limit", "120");
    pd_resp_info_header(&r, "x-daily-ratelimit-token-remaining", "3");
    pd_resp_info_body(&r, body, sizeof(body) - 1);
    assert_int_equal(pd_limits_on_response(&l, now, &r).verdict, PD_V_PAUSE);

    /* the probe cost 2 of the 3 left: same day, stay paused */
    pd_resp_info_init(&r, 200);
    pd_resp_info_header(&r, "x-daily-ratelimit-token-limit", "120");
    pd_resp_info_header(&r, "x-daily-ratelimit-token-remaining", "1");
    pd_limits_on_response(&l, now + 1000, &r);
    assert_true(pd_limits_should_pause(&l, now + 1000, NULL));

    /* the day rolled over early: resume */
    pd_resp_info_init(&r, 200);
    pd_resp_info_header(&r, "x-daily-ratelimit-token-limit", "120");
    pd_resp_info_header(&r, "x-daily-ratelimit-token-remaining", "118");
    pd_limits_on_response(&l, now + 2000, &r);
    assert_false(pd_limits_should_pause(&l, now + 2000, NULL));
    assert_int_equal(pd_limits_daily_remaining(&l), 118);

    /* no budget headers at all: a 2xx is the only sign, so it resumes */
    pd_limits_init(&l, &cfg, now);
    pd_resp_info_init(&r, 429);
    pd_resp_info_header(&r, "Retry-After", "3000");
    pd_resp_info_body(&r, body, sizeof(body) - 1);
    assert_int_equal(pd_limits_on_response(&l, now, &r).verdict, PD_V_PAUSE);
    pd_resp_info_init(&r, 200);
    pd_limits_on_response(&l, now + 1000, &r);
    assert_false(pd_limits_should_pause(&l, now + 1000, NULL));
}

struct row429 {
    const char *retry_after, *remaining, *reset, *daily_remaining, *body;
    enum pd_429_kind want;
};

static void classify_429_table(void **state)
{
    static const struct row429 rows[] = {
        {NULL, "0", "2", NULL, "{\"error\":\"Too many requests\"}", PD_429_BURST},
        {"2", "0", "1", "5000", NULL, PD_429_BURST},
        {NULL, NULL, NULL, NULL, NULL, PD_429_BURST},
        {"3939", NULL, NULL, NULL, NULL, PD_429_DAILY},
        {NULL, "0", "2", "0", NULL, PD_429_DAILY},
        {NULL, NULL, NULL, "-5", NULL, PD_429_DAILY},
        {"1", "3", "1", NULL, "{\"error\":\"Daily request budget exceeded\"}", PD_429_DAILY},
        {"10", "0", "2", NULL, NULL, PD_429_BURST},
        {"11", NULL, NULL, NULL, NULL, PD_429_DAILY},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct pd_resp_info r;
        pd_resp_info_init(&r, 429);
        pd_resp_info_header(&r, "retry-after", rows[i].retry_after);
        pd_resp_info_header(&r, "x-ratelimit-remaining", rows[i].remaining);
        pd_resp_info_header(&r, "x-ratelimit-reset", rows[i].reset);
        pd_resp_info_header(&r, "x-daily-ratelimit-token-remaining", rows[i].daily_remaining);
        if (rows[i].body)
            pd_resp_info_body(&r, rows[i].body, strlen(rows[i].body));
        if (pd_limits_classify_429(&r) != rows[i].want)
            fail_msg("row %zu classified wrong", i);
    }
}

static void burst_429_waits_reset_plus_jitter_and_backs_off(void **state)
{
    struct pd_limits_cfg cfg;
    struct pd_limits l;
    struct pd_resp_info r;
    int64_t now = T0 + 1000;

    pd_limits_cfg_defaults(&cfg);
    cfg.jitter_ms = 300;
    pd_limits_init(&l, &cfg, now);
    pd_resp_info_init(&r, 429);
    pd_resp_info_header(&r, "retry-after", "1");
    pd_resp_info_header(&r, "x-ratelimit-remaining", "0");
    pd_resp_info_header(&r, "x-ratelimit-reset", "2");
    struct pd_outcome o = pd_limits_on_response(&l, now, &r);
    assert_int_equal(o.verdict, PD_V_RETRY);
    assert_true(o.wait_ms >= 2000 && o.wait_ms <= 2300); /* the larger hint wins */
    assert_true(pd_limits_next_send_delay(&l, now, PD_OP_GET_ORG) >= o.wait_ms);
    /* a second 429 in a row waits twice as long */
    now += o.wait_ms;
    struct pd_outcome o2 = pd_limits_on_response(&l, now, &r);
    assert_true(o2.wait_ms >= 4000 && o2.wait_ms <= 4300);
    /* a success clears the streak */
    struct pd_resp_info ok;
    pd_resp_info_init(&ok, 200);
    pd_limits_on_response(&l, now, &ok);
    o = pd_limits_on_response(&l, now, &r);
    assert_true(o.wait_ms >= 2000 && o.wait_ms <= 2300);
    assert_false(pd_limits_should_pause(&l, now, NULL)); /* burst never pauses */
}

static void cloudflare_403_blocks(void **state)
{
    struct pd_limits_cfg cfg;
    struct pd_limits l;
    struct pd_resp_info r;
    int64_t now = T0 + 1000;
    static const char json[] = "{\"success\":false,\"error\":\"forbidden\",\"code\":\"x\"}";
    static const char html[] = "\n <!DOCTYPE html><html>Attention Required! | Cloudflare";

    pd_limits_cfg_defaults(&cfg);
    pd_limits_init(&l, &cfg, now);
    pd_resp_info_init(&r, 403);
    pd_resp_info_header(&r, "content-type", "application/json");
    pd_resp_info_body(&r, json, sizeof(json) - 1);
    assert_int_equal(pd_limits_on_response(&l, now, &r).verdict, PD_V_OK);
    assert_false(pd_limits_blocked(&l));

    pd_resp_info_init(&r, 403);
    pd_resp_info_body(&r, html, sizeof(html) - 1);
    assert_int_equal(pd_limits_on_response(&l, now, &r).verdict, PD_V_BLOCKED);
    assert_true(pd_limits_blocked(&l));
    assert_int_equal(pd_limits_next_send_delay(&l, now + 86400000, PD_OP_GET_ORG), -1);

    pd_limits_init(&l, &cfg, now);
    pd_resp_info_init(&r, 403);
    pd_resp_info_header(&r, "Content-Type", "text/html; charset=UTF-8");
    assert_int_equal(pd_limits_on_response(&l, now, &r).verdict, PD_V_BLOCKED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(costs_match_spec),
        cmocka_unit_test(growth_steady_stream_stays_under_limit_at_95_pct),
        cmocka_unit_test(learnt_headers_override_plan),
        cmocka_unit_test(window_is_learnt_from_a_clearly_longer_reset),
        cmocka_unit_test(server_remaining_zero_holds_until_reset),
        cmocka_unit_test(search_bucket_is_separate),
        cmocka_unit_test(estimated_budget_reserve_pauses_and_resumes),
        cmocka_unit_test(header_budget_overrides_estimate),
        cmocka_unit_test(daily_429_pauses_until_retry_after),
        cmocka_unit_test(probe_ends_daily_pause_only_when_budget_grew),
        cmocka_unit_test(classify_429_table),
        cmocka_unit_test(burst_429_waits_reset_plus_jitter_and_backs_off),
        cmocka_unit_test(cloudflare_403_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

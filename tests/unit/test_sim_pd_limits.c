/* Unit tests of pdsim_limits (driven by a hand-held clock) and pdsim_ops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "pdsim_limits.h"
#include "pdsim_ops.h"

#include <stdlib.h>
#include <string.h>

struct fixture {
    struct pdsim_limits_cfg cfg;
    struct pdsim_token_state tok;
    struct pdsim_daily daily;
};

static struct fixture *new_fixture(enum pdsim_plan plan)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    pdsim_limits_cfg_default(&f->cfg, plan, 1);
    pdsim_token_state_init(&f->tok);
    pdsim_daily_init(&f->daily);
    return f;
}

static enum pdsim_verdict req(struct fixture *f, bool search, long cost, long long now,
                              struct pdsim_decision *d)
{
    pdsim_limits_check(&f->cfg, &f->tok, &f->daily, search, cost, now, d);
    return d->verdict;
}

static void plans_have_documented_limits(void **state)
{
    enum pdsim_plan p;
    assert_true(pdsim_plan_parse("Growth", &p));
    assert_int_equal(p, PDSIM_PLAN_GROWTH);
    assert_false(pdsim_plan_parse("enterprise", &p));
    assert_int_equal(pdsim_plan_burst(PDSIM_PLAN_LITE), 20);
    assert_int_equal(pdsim_plan_burst(PDSIM_PLAN_GROWTH), 40);
    assert_int_equal(pdsim_plan_burst(PDSIM_PLAN_PREMIUM), 100);
    assert_int_equal(pdsim_plan_burst(PDSIM_PLAN_ULTIMATE), 120);
    /* reference example: Growth with 3 seats gets 180,000 tokens a day */
    assert_int_equal(pdsim_plan_daily_budget(PDSIM_PLAN_GROWTH, 3), 180000);
    assert_int_equal(pdsim_plan_daily_budget(PDSIM_PLAN_LITE, 1), 30000);
    assert_int_equal(pdsim_plan_daily_budget(PDSIM_PLAN_PREMIUM, 2), 300000);
    assert_int_equal(pdsim_plan_daily_budget(PDSIM_PLAN_ULTIMATE, 1), 210000);
}

static void growth_burst_of_41_gets_exactly_one_429(void **state)
{
    struct fixture *f = new_fixture(PDSIM_PLAN_GROWTH);
    struct pdsim_decision d;
    long long t0 = 1000000;
    int refused = 0;

    for (int i = 0; i < 41; i++) {
        if (req(f, false, 1, t0 + i * 10, &d) != PDSIM_ALLOW) {
            refused++;
            assert_int_equal(d.verdict, PDSIM_BURST_429);
            assert_int_equal(i, 40); /* the 41st */
            assert_int_equal(d.remaining, 0);
            assert_true(d.reset_s >= 1 && d.reset_s <= 2);
            assert_true(d.retry_after_s >= 1 && d.retry_after_s <= 2);
        } else {
            assert_int_equal(d.limit, 40);
            assert_int_equal(d.remaining, 40 - (i + 1));
        }
    }
    assert_int_equal(refused, 1);
    /* the window rolls: once the first request is 2 s old, one slot frees up */
    assert_int_equal(req(f, false, 1, t0 + 2000, &d), PDSIM_ALLOW);
    assert_int_equal(req(f, false, 1, t0 + 2001, &d), PDSIM_BURST_429);
    assert_int_equal(req(f, false, 1, t0 + 2010, &d), PDSIM_ALLOW);
    free(f);
}

static void search_window_is_10_per_2s_and_separate(void **state)
{
    struct fixture *f = new_fixture(PDSIM_PLAN_ULTIMATE);
    struct pdsim_decision d;

    for (int i = 0; i < 10; i++) {
        assert_int_equal(req(f, true, 20, 5000 + i, &d), PDSIM_ALLOW);
        assert_int_equal(d.limit, 10);
    }
    assert_int_equal(req(f, true, 20, 5010, &d), PDSIM_SEARCH_429);
    /* other operations still go through */
    assert_int_equal(req(f, false, 1, 5011, &d), PDSIM_ALLOW);
    assert_int_equal(d.limit, 120);
    assert_int_equal(req(f, true, 20, 7000, &d), PDSIM_ALLOW);
    free(f);
}

static void daily_budget_exhausts_then_rolls_over(void **state)
{
    struct fixture *f = new_fixture(PDSIM_PLAN_LITE);
    struct pdsim_decision d;
    long long day = 10 * 1000LL; /* 10-second days */
    long long t = 3 * day + 100;

    f->cfg.daily_budget = 12;
    f->cfg.day_length_s = 10;
    assert_int_equal(req(f, false, 5, t, &d), PDSIM_ALLOW);
    assert_int_equal(d.daily_limit, 12);
    assert_int_equal(d.daily_remaining, 7);
    assert_int_equal(d.charged, 5);
    assert_int_equal(req(f, false, 5, t + 1, &d), PDSIM_ALLOW);
    assert_int_equal(d.daily_remaining, 2);
    /* 5 more would exceed: refused with a Retry-After up to the next day */
    assert_int_equal(req(f, false, 5, t + 2, &d), PDSIM_DAILY_429);
    assert_int_equal(d.charged, 0);
    assert_int_equal(d.retry_after_s, 10);
    assert_int_equal(f->daily.spent, 10);
    /* a cheaper request still fits */
    assert_int_equal(req(f, false, 1, t + 3, &d), PDSIM_ALLOW);
    assert_int_equal(req(f, false, 2, t + 5000, &d), PDSIM_DAILY_429);
    assert_int_equal(d.retry_after_s, 5);
    /* next day: the budget is back */
    assert_int_equal(req(f, false, 5, 4 * day, &d), PDSIM_ALLOW);
    assert_int_equal(d.daily_remaining, 7);
    /* forced rollover (control API) */
    pdsim_daily_rollover(&f->daily);
    assert_int_equal(req(f, false, 12, 4 * day + 10, &d), PDSIM_ALLOW);
    assert_int_equal(d.daily_remaining, 0);
    free(f);
}

static void reset_offset_moves_the_day_boundary(void **state)
{
    struct pdsim_limits_cfg cfg;
    struct pdsim_daily d;

    pdsim_limits_cfg_default(&cfg, PDSIM_PLAN_GROWTH, 1);
    cfg.reset_offset_s = 3600; /* 01:00 UTC */
    pdsim_daily_init(&d);
    /* 00:30 UTC on day 100: the next reset is at 01:00, 30 minutes away */
    long long t = (100LL * 86400 + 1800) * 1000;
    assert_int_equal(pdsim_daily_seconds_to_reset(&cfg, t), 1800);
    pdsim_daily_sync(&cfg, &d, t);
    d.spent = 99;
    pdsim_daily_sync(&cfg, &d, t + 1799 * 1000LL);
    assert_int_equal(d.spent, 99);
    pdsim_daily_sync(&cfg, &d, t + 1800 * 1000LL);
    assert_int_equal(d.spent, 0);
}

static void ignored_429s_escalate_to_a_403_block(void **state)
{
    struct fixture *f = new_fixture(PDSIM_PLAN_LITE);
    struct pdsim_decision d;
    long long t = 50000;

    f->cfg.block_after = 3;
    f->cfg.block_s = 60;
    for (int i = 0; i < 20; i++)
        assert_int_equal(req(f, false, 1, t, &d), PDSIM_ALLOW);
    for (int i = 0; i < 3; i++)
        assert_int_equal(req(f, false, 1, t + 1 + i, &d), PDSIM_BURST_429);
    assert_int_equal(req(f, false, 1, t + 10, &d), PDSIM_BLOCKED_403);
    /* blocked even after the burst window has passed */
    assert_int_equal(req(f, false, 1, t + 5000, &d), PDSIM_BLOCKED_403);
    assert_int_equal(f->daily.spent, 20);
    /* the block ends */
    assert_int_equal(req(f, false, 1, t + 10 + 60000, &d), PDSIM_ALLOW);
    free(f);
}

static void a_success_resets_the_429_streak(void **state)
{
    struct fixture *f = new_fixture(PDSIM_PLAN_LITE);
    struct pdsim_decision d;

    f->cfg.block_after = 2;
    for (int i = 0; i < 20; i++)
        req(f, false, 1, 0, &d);
    assert_int_equal(req(f, false, 1, 1, &d), PDSIM_BURST_429);
    assert_int_equal(req(f, false, 1, 2000, &d), PDSIM_ALLOW); /* client waited */
    for (int i = 0; i < 19; i++)
        req(f, false, 1, 2001, &d);
    assert_int_equal(req(f, false, 1, 2002, &d), PDSIM_BURST_429);
    assert_int_equal(req(f, false, 1, 2003, &d), PDSIM_BURST_429);
    assert_int_equal(req(f, false, 1, 2004, &d), PDSIM_BLOCKED_403);
    free(f);
}

static void disabled_limits_never_refuse_but_still_charge(void **state)
{
    struct fixture *f = new_fixture(PDSIM_PLAN_LITE);
    struct pdsim_decision d;

    f->cfg.enabled = false;
    f->cfg.daily_budget = 10;
    for (int i = 0; i < 100; i++)
        assert_int_equal(req(f, i % 2, 5, 1000, &d), PDSIM_ALLOW);
    assert_int_equal(f->daily.spent, 500);
    assert_int_equal(d.daily_remaining, 0);
    free(f);
}

static void op_costs_match_the_spec_values(void **state)
{
    /* the values of x-token-cost in v2.yaml/v1.yaml (the integration test
     * re-reads the specs; this pins the table against accidental edits) */
    assert_int_equal(pdsim_op_info(PDSIM_OP_ORG_LIST)->cost, 10);
    assert_int_equal(pdsim_op_info(PDSIM_OP_ORG_CREATE)->cost, 5);
    assert_int_equal(pdsim_op_info(PDSIM_OP_ORG_GET)->cost, 1);
    assert_int_equal(pdsim_op_info(PDSIM_OP_ORG_UPDATE)->cost, 5);
    assert_int_equal(pdsim_op_info(PDSIM_OP_ORG_DELETE)->cost, 3);
    assert_int_equal(pdsim_op_info(PDSIM_OP_ORG_SEARCH)->cost, 20);
    assert_int_equal(pdsim_op_info(PDSIM_OP_ITEM_SEARCH_FIELD)->cost, 20);
    assert_int_equal(pdsim_op_info(PDSIM_OP_FIELDS_LIST_V2)->cost, 10);
    assert_int_equal(pdsim_op_info(PDSIM_OP_FIELDS_CREATE_V2)->cost, 5);
    assert_int_equal(pdsim_op_info(PDSIM_OP_FIELDS_LIST_V1)->cost, 20);
    assert_int_equal(pdsim_op_info(PDSIM_OP_FIELDS_CREATE_V1)->cost, 10);
    assert_int_equal(pdsim_op_info(PDSIM_OP_USERS_ME)->cost, 2);
    assert_int_equal(pdsim_op_info(PDSIM_OP_FIELD_GET_V2)->cost, 1);
    assert_int_equal(pdsim_op_info(PDSIM_OP_FIELD_UPDATE_V2)->cost, 5);
    assert_int_equal(pdsim_op_info(PDSIM_OP_FIELD_DELETE_V2)->cost, 3);
    assert_int_equal(pdsim_op_info(PDSIM_OP_FIELD_OPTIONS_ADD)->cost, 5);
    assert_int_equal(pdsim_op_info(PDSIM_OP_FIELD_OPTIONS_UPDATE)->cost, 5);
    assert_int_equal(pdsim_op_info(PDSIM_OP_FIELD_OPTIONS_DELETE)->cost, 3);
    assert_true(pdsim_op_info(PDSIM_OP_ORG_SEARCH)->search);
    assert_true(pdsim_op_info(PDSIM_OP_ITEM_SEARCH_FIELD)->search);
    assert_false(pdsim_op_info(PDSIM_OP_ORG_LIST)->search);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plans_have_documented_limits),
        cmocka_unit_test(growth_burst_of_41_gets_exactly_one_429),
        cmocka_unit_test(search_window_is_10_per_2s_and_separate),
        cmocka_unit_test(daily_budget_exhausts_then_rolls_over),
        cmocka_unit_test(reset_offset_moves_the_day_boundary),
        cmocka_unit_test(ignored_429s_escalate_to_a_403_block),
        cmocka_unit_test(a_success_resets_the_429_streak),
        cmocka_unit_test(disabled_limits_never_refuse_but_still_charge),
        cmocka_unit_test(op_costs_match_the_spec_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

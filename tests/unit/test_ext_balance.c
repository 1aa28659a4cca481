/* Unit tests of ext_balance_verdict: which credit changes get an event of
 * their own (docs/extractor.md, "Balance refresh"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "ext_balance.h"

#include <string.h>

static enum ext_balance_why v(double lb, double lp, double nb, double np, double limit,
                              double min_pct)
{
    struct ext_credit_view last = {lb, lp, limit, false}, now = {nb, np, limit, false};

    return ext_balance_verdict(&last, &now, min_pct);
}

static void first_publish_always(void **state)
{
    struct ext_credit_view now = {0, 0, 0, false};

    (void)state;
    assert_int_equal(ext_balance_verdict(NULL, &now, 5), EXT_BAL_FIRST);
}

static void small_moves_are_held_back(void **state)
{
    (void)state;
    /* 10,000 due, limit 50,000: 5 % of the balance is 500, 1 % of the limit 500 */
    assert_int_equal(v(10000, 0, 10499, 0, 50000, 5), EXT_BAL_MINOR);
    assert_int_equal(v(10000, 0, 9501, 0, 50000, 5), EXT_BAL_MINOR);
    /* either threshold reached publishes */
    assert_int_equal(v(10000, 0, 10500, 0, 50000, 5), EXT_BAL_MOVE);
    assert_int_equal(v(10000, 0, 9500, 0, 50000, 5), EXT_BAL_MOVE);
    /* large balance, small limit: 1 % of the limit decides */
    assert_int_equal(v(100000, 0, 100200, 0, 200000, 5), EXT_BAL_MINOR);
    assert_int_equal(v(100000, 0, 102000, 0, 200000, 5), EXT_BAL_MOVE);
    /* small balance, large limit: 5 % of the balance decides */
    assert_int_equal(v(1000, 0, 1040, 0, 1000000, 5), EXT_BAL_MINOR);
    assert_int_equal(v(1000, 0, 1060, 0, 1000000, 5), EXT_BAL_MOVE);
    /* the percentage is the setting */
    assert_int_equal(v(10000, 0, 10300, 0, 1000000, 2), EXT_BAL_MOVE);
    assert_int_equal(v(10000, 0, 10300, 0, 1000000, 5), EXT_BAL_MINOR);
    assert_int_equal(v(10000, 0, 10001, 0, 1000000, 0), EXT_BAL_MOVE);
    /* no move at all (dates, open documents): held back */
    assert_int_equal(v(10000, 0, 10000, 0, 50000, 5), EXT_BAL_MINOR);
}

static void no_limit_or_zero_balance_publishes_every_move(void **state)
{
    (void)state;
    assert_int_equal(v(10000, 0, 10001, 0, 0, 5), EXT_BAL_MOVE);
    assert_int_equal(v(0, 0, 1, 0, 50000, 5), EXT_BAL_MOVE);
    /* a credit balance (negative) works by magnitude */
    assert_int_equal(v(-10000, 0, -10100, 0, 50000, 5), EXT_BAL_MINOR);
}

static void past_due_on_hold_and_limit_always_publish(void **state)
{
    struct ext_credit_view last = {10000, 0, 50000, false}, now = {10000, 0, 50000, true};

    (void)state;
    assert_int_equal(v(10000, 0, 10010, 1, 50000, 5), EXT_BAL_PAST_DUE);
    assert_int_equal(v(10000, 200, 10010, 0, 50000, 5), EXT_BAL_PAST_DUE);
    /* past due staying non-zero is an ordinary move */
    assert_int_equal(v(10000, 200, 10010, 300, 50000, 5), EXT_BAL_MINOR);
    assert_int_equal(ext_balance_verdict(&last, &now, 5), EXT_BAL_ON_HOLD);
    /* crossing the limit, however small the move, both ways */
    assert_int_equal(v(49990, 0, 50010, 0, 50000, 5), EXT_BAL_LIMIT_CROSSED);
    assert_int_equal(v(50010, 0, 49990, 0, 50000, 5), EXT_BAL_LIMIT_CROSSED);
    /* at the limit is not over it */
    assert_int_equal(v(49990, 0, 50000, 0, 50000, 5), EXT_BAL_MINOR);
}

static void names(void **state)
{
    (void)state;
    assert_string_equal(ext_balance_why_name(EXT_BAL_MINOR), "minor");
    assert_string_equal(ext_balance_why_name(EXT_BAL_LIMIT_CROSSED), "limit_crossed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_publish_always),
        cmocka_unit_test(small_moves_are_held_back),
        cmocka_unit_test(no_limit_or_zero_balance_publishes_every_move),
        cmocka_unit_test(past_due_on_hold_and_limit_always_publish),
        cmocka_unit_test(names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

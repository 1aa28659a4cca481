/* Unit tests of mlc_str, mlc_buf and mlc_err. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mlc_buf.h"
#include "mlc_err.h"
#include "mlc_str.h"

#include <string.h>

static void parse_long_checks_range_and_garbage(void **state)
{
    long v = 0;

    assert_true(mlc_parse_long(" 42 ", 1, 100, &v));
    assert_int_equal(v, 42);
    assert_false(mlc_parse_long("abc", 1, 100, &v));
    assert_false(mlc_parse_long("12abc", 1, 100, &v));
    assert_false(mlc_parse_long("", 1, 100, &v));
    assert_false(mlc_parse_long("0", 1, 100, &v));
    assert_false(mlc_parse_long("101", 1, 100, &v));
    assert_false(mlc_parse_long("99999999999999999999999", 1, 100, &v));
}

static void strlcpy_reports_truncation(void **state)
{
    char small[4];

    assert_false(mlc_strlcpy(small, "abcdef", sizeof(small)));
    assert_string_equal(small, "abc");
    assert_true(mlc_strlcpy(small, "ab", sizeof(small)));
    assert_string_equal(small, "ab");
}

static void buf_refuses_growth_past_cap(void **state)
{
    struct mlc_buf b;

    mlc_buf_init(&b, 8);
    assert_int_equal(mlc_buf_puts(&b, "12345678"), MLC_OK);
    assert_int_equal(mlc_buf_puts(&b, "9"), MLC_PERM);
    assert_string_equal(mlc_buf_str(&b), "12345678");
    mlc_buf_reset(&b);
    assert_int_equal(mlc_buf_printf(&b, "%d-%s", 7, "x"), MLC_OK);
    assert_string_equal(mlc_buf_str(&b), "7-x");
    assert_int_equal(mlc_buf_printf(&b, "%s", "too long!"), MLC_PERM);
    mlc_buf_free(&b);
}

static void err_is_one_line_and_prefixable(void **state)
{
    struct mlc_err err = {0};

    assert_int_equal(mlc_err_set(&err, MLC_RETRY, "server said\nboom"), MLC_RETRY);
    assert_string_equal(err.msg, "server said boom");
    assert_int_equal(mlc_err_prefix(&err, "sage %s", "SAMINC"), MLC_RETRY);
    assert_string_equal(err.msg, "sage SAMINC: server said boom");
    assert_int_equal(mlc_err_set(NULL, MLC_PERM, "ignored"), MLC_PERM);
}

static void utf8_validation(void **state)
{
    assert_true(mlc_utf8_valid("Zürich Œuvre 東京", strlen("Zürich Œuvre 東京")));
    assert_false(mlc_utf8_valid("\xc3\x28", 2));         /* bad continuation */
    assert_false(mlc_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(mlc_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(mlc_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_long_checks_range_and_garbage),
        cmocka_unit_test(strlcpy_reports_truncation),
        cmocka_unit_test(buf_refuses_growth_past_cap),
        cmocka_unit_test(err_is_one_line_and_prefixable),
        cmocka_unit_test(utf8_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

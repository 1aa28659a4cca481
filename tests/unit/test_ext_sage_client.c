/* Unit tests of sage_client's pure parts: decoding Sage error bodies into
 * one line and the 401/403 operator hints. The HTTP paths are covered end to
 * end by tests/integration/test_extractor.py against mlc-sage-sim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "mlc_str.h"
#include "sage_client.h"

#include <string.h>

static void test_error_decode(void **state)
{
    char out[128];
    const char *b1 = "{\"error\":{\"code\":\"RecordNotFound\",\"message\":{\"lang\":\"en-US\","
                     "\"value\":\"A Record cannot be found\"}}}";
    const char *b2 = "{\"error\":{\"code\":\"General\"}}";
    const char *b3 = "{\"error\":{\"code\":\"X\",\"message\":\"line1\\nline2\"}}";

    (void)state;
    assert_true(sage_error_decode(b1, strlen(b1), out, sizeof(out)));
    assert_string_equal(out, "RecordNotFound: A Record cannot be found");
    assert_true(sage_error_decode(b2, strlen(b2), out, sizeof(out)));
    assert_string_equal(out, "General");
    /* a plain-string message, control characters flattened to one line */
    assert_true(sage_error_decode(b3, strlen(b3), out, sizeof(out)));
    assert_string_equal(out, "X: line1 line2");
    assert_false(sage_error_decode("<html>", 6, out, sizeof(out)));
    assert_false(sage_error_decode("{\"error\":{}}", 12, out, sizeof(out)));
    assert_false(sage_error_decode(NULL, 0, out, sizeof(out)));
    /* truncated JSON is not decoded */
    assert_false(sage_error_decode(b1, 20, out, sizeof(out)));
    /* small output buffers truncate safely */
    assert_true(sage_error_decode(b1, strlen(b1), out, 8));
    assert_string_equal(out, "RecordN");
}

/* The 200-byte cut of a message and the buffer's own cut fall between
 * characters, never inside one: the line stays valid UTF-8. */
static void test_error_decode_cuts_between_characters(void **state)
{
    char body[1024], msg[400] = "", out[300];
    size_t n = 0;

    (void)state;
    n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s", "x"); /* odd: 199 is inside a pair */
    while (n + 2 < 300)
        n += (size_t)snprintf(msg + n, sizeof(msg) - n, "\xc3\xa9"); /* e acute, 2 bytes */
    snprintf(body, sizeof(body), "{\"error\":{\"code\":\"Bad\",\"message\":\"%s\"}}", msg);
    assert_true(sage_error_decode(body, strlen(body), out, sizeof(out)));
    assert_true(mlc_utf8_valid(out, strlen(out)));
    assert_int_equal(strlen(out), strlen("Bad: ") + 199);
    assert_true(sage_error_decode(body, strlen(body), out, 11)); /* "Bad: x" + 4 of 5 bytes */
    assert_true(mlc_utf8_valid(out, strlen(out)));
    assert_string_equal(out, "Bad: x\xc3\xa9\xc3\xa9");
    assert_int_equal(mlc_utf8_cut("ab\xc3\xa9", 3), 2);
    assert_int_equal(mlc_utf8_cut("ab\xc3\xa9", 4), 4);
    assert_int_equal(mlc_utf8_cut("ab", 10), 2);
    assert_int_equal(mlc_utf8_cut("\xf0\x9f\x98\x80z", 3), 0);
    /* a text that already ends inside a character (snprintf cut it) */
    assert_int_equal(mlc_utf8_cut("ab\xc3", 10), 2);
    assert_int_equal(mlc_utf8_cut("ab\xe2\x82", 10), 2);
    assert_int_equal(mlc_utf8_cut("ab\xe2\x82\xac", 10), 5);
}

static void test_auth_hints(void **state)
{
    (void)state;
    assert_non_null(strstr(sage_auth_hint(401), "MLC_SAGE_PASSWORD_CASE"));
    assert_non_null(strstr(sage_auth_hint(401), "upper-cased"));
    assert_non_null(strstr(sage_auth_hint(403), "Web API"));
    assert_non_null(strstr(sage_auth_hint(403), "AllowWebApiAccessForAdmin"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_decode),
        cmocka_unit_test(test_error_decode_cuts_between_characters),
        cmocka_unit_test(test_auth_hints),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

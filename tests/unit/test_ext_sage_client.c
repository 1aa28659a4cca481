/* Unit tests of sage_client's pure parts: decoding Sage error bodies into
 * one line and the 401/403 operator hints. The HTTP paths are covered end to
 * end by tests/integration/test_extractor.py against mlc-sage-sim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

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
        cmocka_unit_test(test_auth_hints),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

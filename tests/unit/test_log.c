/* Unit tests of mlc_log: level gating and redaction edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mlc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *capture(FILE *f)
{
    long n;
    char *s;

    fflush(f);
    n = ftell(f);
    s = calloc(1, (size_t)n + 1);
    rewind(f);
    if (fread(s, 1, (size_t)n, f) != (size_t)n)
        s[0] = '\0';
    return s;
}

static int evaluated;
static const char *side_effect(void)
{
    evaluated++;
    return "x";
}

static void arguments_not_evaluated_below_level(void **state)
{
    FILE *f = tmpfile();

    mlc_log_set_stream(f);
    mlc_log_setup("test", MLC_LOG_INFO, MLC_LOG_TEXT);
    evaluated = 0;
    mlc_debug("%s", side_effect());
    assert_int_equal(evaluated, 0);
    mlc_info("%s", side_effect());
    assert_int_equal(evaluated, 1);
    mlc_log_set_stream(NULL);
    fclose(f);
}

/* A secret cut in half by the line-length limit must not leak its first
 * part: the tail of a truncated message is checked against secret prefixes. */
static void secret_straddling_the_truncation_point_is_redacted(void **state)
{
    const char *secret = "S3cretTokenValue0123456789abcdef";
    char pad[4096];
    FILE *f = tmpfile();
    char *out;

    mlc_log_clear_secrets();
    mlc_log_add_secret(secret);
    mlc_log_set_stream(f);
    mlc_log_setup("test", MLC_LOG_INFO, MLC_LOG_TEXT);
    for (size_t cut = 2030; cut < 2060; cut++) {
        memset(pad, 'a', cut);
        pad[cut] = '\0';
        mlc_info("%s%s", pad, secret);
    }
    out = capture(f);
    assert_null(strstr(out, "S3cretTok"));
    assert_null(strstr(out, "S3cr"));
    free(out);
    mlc_log_set_stream(NULL);
    mlc_log_clear_secrets();
    fclose(f);
}

static void redact_replaces_every_occurrence(void **state)
{
    char out[128];

    mlc_log_clear_secrets();
    mlc_log_add_secret("hunter2");
    mlc_redact("a hunter2 b hunter2", out, sizeof(out));
    assert_string_equal(out, "a [REDACTED] b [REDACTED]");
    mlc_log_clear_secrets();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arguments_not_evaluated_below_level),
        cmocka_unit_test(secret_straddling_the_truncation_point_is_redacted),
        cmocka_unit_test(redact_replaces_every_occurrence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

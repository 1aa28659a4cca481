/* test_sim_sage_filter.c - the Sage sandbox's OData $filter parser and evaluator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mlc_alloc.h"
#include "sagesim_data.h"
#include "sagesim_filter.h"

#include <stdio.h>
#include <string.h>

/* A small entity type of our own so the tests do not depend on the data. */
struct rec {
    const char *name; /* NULL = null */
    double num;
    long n;
    int flag;
    int64_t date_us; /* INT64_MIN = null */
    int status;      /* 0 Active, 1 Inactive */
};

static const char *const status_members[] = {"Active", "Inactive"};

static int lookup(const void *ctx, const char *name, enum sagesim_ftype *type,
                  const char *const **members, size_t *nmembers)
{
    static const struct {
        const char *name;
        enum sagesim_ftype type;
    } f[] = {{"Name", SAGESIM_FT_STRING},     {"Num", SAGESIM_FT_DECIMAL},
             {"N", SAGESIM_FT_INT32},         {"Flag", SAGESIM_FT_BOOL},
             {"When", SAGESIM_FT_DATE},       {"Status", SAGESIM_FT_ENUM},
             {"Items", SAGESIM_FT_COLLECTION}};
    for (int i = 0; i < (int)(ARRAY_SIZE(f)); i++) {
        if (strcmp(f[i].name, name) == 0) {
            *type = f[i].type;
            *members = f[i].type == SAGESIM_FT_ENUM ? status_members : NULL;
            *nmembers = f[i].type == SAGESIM_FT_ENUM ? 2 : 0;
            return i;
        }
    }
    return -1;
}

static const struct sagesim_schema schema = {"Test.Models.Thing", lookup, NULL};

static void get(const void *ctx, const void *rp, int field, struct sagesim_value *v)
{
    const struct rec *r = rp;
    memset(v, 0, sizeof *v);
    switch (field) {
    case 0:
        v->kind = r->name ? SAGESIM_V_STR : SAGESIM_V_NULL;
        v->s = r->name;
        break;
    case 1:
        v->kind = SAGESIM_V_NUM;
        v->num = r->num;
        break;
    case 2:
        v->kind = SAGESIM_V_NUM;
        v->num = (double)r->n;
        break;
    case 3:
        v->kind = SAGESIM_V_BOOL;
        v->b = r->flag;
        break;
    case 4:
        v->kind = r->date_us == INT64_MIN ? SAGESIM_V_NULL : SAGESIM_V_DATE;
        v->us = r->date_us;
        break;
    case 5:
        v->kind = SAGESIM_V_ENUM;
        v->e = r->status;
        break;
    default:
        v->kind = SAGESIM_V_NULL;
    }
}

static int64_t day(int y, int m, int d)
{
    return sagesim_days_from_civil(y, m, d) * 86400 * 1000000;
}

static struct rec obrien(void)
{
    struct rec r = {"O'BRIEN & Sons", 99.99, 7, 1, day(2024, 3, 18), 0};
    return r;
}

/* Parses text and evaluates it on r; fails the test on a parse error. */
static bool eval_on(const char *text, const struct rec *r)
{
    struct sagesim_filter *f = NULL;
    char msg[512];
    int rc = sagesim_filter_parse(text, &schema, &f, msg, sizeof msg);
    if (rc != 0)
        fail_msg("'%s' did not parse: %s", text, msg);
    bool v = sagesim_filter_eval(f, get, NULL, r);
    sagesim_filter_free(f);
    return v;
}

/* Expects a parse error whose message contains want. */
static void expect_error(const char *text, const char *want)
{
    struct sagesim_filter *f = NULL;
    char msg[512];
    int rc = sagesim_filter_parse(text, &schema, &f, msg, sizeof msg);
    if (rc == 0) {
        sagesim_filter_free(f);
        fail_msg("'%s' parsed but should not", text);
    }
    assert_null(f);
    if (!strstr(msg, want))
        fail_msg("'%s': message '%s' lacks '%s'", text, msg, want);
}

static void test_comparisons(void **state)
{
    struct rec r = obrien();
    assert_true(eval_on("Name eq 'O''BRIEN & Sons'", &r));
    assert_false(eval_on("Name eq 'o''brien & sons'", &r)); /* ordinal */
    assert_true(eval_on("Name ne 'X'", &r));
    assert_true(eval_on("Name gt 'O'", &r));
    assert_false(eval_on("Name lt 'O'", &r));
    assert_true(eval_on("Name ge 'O''BRIEN & Sons'", &r));
    assert_true(eval_on("Name le 'O''BRIEN & Sons'", &r));
    assert_true(eval_on("Num eq 99.99m", &r));
    assert_true(eval_on("Num eq 99.99", &r));
    assert_true(eval_on("Num gt 99", &r));
    assert_true(eval_on("Num lt 100M", &r));
    assert_false(eval_on("Num ge 1000.00", &r));
    assert_true(eval_on("N eq 7", &r));
    assert_true(eval_on("N gt -1", &r));
    assert_true(eval_on("Flag eq true", &r));
    assert_true(eval_on("Flag", &r));
    assert_false(eval_on("not Flag", &r));
    assert_true(eval_on("Status eq 'Active'", &r));
    assert_false(eval_on("Status eq 'Inactive'", &r));
    assert_true(eval_on("Status lt 'Inactive'", &r)); /* by member position */
    assert_true(eval_on("'Active' eq Status", &r));
}

static void test_dates(void **state)
{
    struct rec r = obrien();
    assert_true(eval_on("When ge 2024-03-18T00:00:00Z", &r));
    assert_false(eval_on("When gt 2024-03-18T00:00:00Z", &r));
    assert_true(eval_on("When ge 2024-03-18T00:00:00", &r)); /* no zone: read as UTC */
    assert_true(eval_on("When lt 2024-03-18T00:00:00.5Z", &r));
    assert_true(eval_on("When eq 2024-03-18T01:00:00+01:00", &r));
    assert_true(eval_on("When gt 2016-12-31T12:00:00Z", &r));
    assert_false(eval_on("When eq null", &r));
    r.date_us = INT64_MIN;
    assert_true(eval_on("When eq null", &r));
    assert_false(eval_on("When ge 2000-01-01T00:00:00Z", &r)); /* null never orders */
    assert_false(eval_on("When lt 2000-01-01T00:00:00Z", &r));
    assert_true(eval_on("When ne 2000-01-01T00:00:00Z", &r));

    int64_t s;
    assert_true(sagesim_parse_datetime("2024-02-29T23:59:59Z", 20, &s));
    assert_int_equal(s, day(2024, 2, 29) + (int64_t)86399 * 1000000);
    assert_false(sagesim_parse_datetime("2023-02-29T00:00:00Z", 20, &s));
    assert_false(sagesim_parse_datetime("2024-13-01T00:00:00Z", 20, &s));
    assert_false(sagesim_parse_datetime("2024-03-18T00:00:00Q", 20, &s));
    int y, m, d;
    sagesim_civil_from_days(sagesim_days_from_civil(1999, 12, 31), &y, &m, &d);
    assert_int_equal(y * 10000 + m * 100 + d, 19991231);
    assert_int_equal(sagesim_days_from_civil(1970, 1, 1), 0);

    expect_error("When ge 2024-03-18", "incompatible types"); /* Edm.Date is not v1.0 */
    expect_error("When ge datetime'2024-03-18T00:00'", "Syntax error");
    expect_error("When ge 2024-02-30T00:00:00Z", "Syntax error");
}

static void test_null_and_strings(void **state)
{
    struct rec r = obrien();
    r.name = NULL;
    assert_true(eval_on("Name eq null", &r));
    assert_false(eval_on("Name ne null", &r));
    assert_false(eval_on("Name gt ''", &r));
    assert_false(eval_on("startswith(Name,'O')", &r));
    assert_true(eval_on("not startswith(Name,'O')", &r));
    r = obrien();
    assert_true(eval_on("Name ne null", &r));
    assert_true(eval_on("Name eq 'O''BRIEN & Sons' and Name ne ''''", &r));
    assert_true(eval_on("Name gt ''", &r));
    struct rec q = r;
    q.name = "'";
    assert_true(eval_on("Name eq ''''", &q));
    q.name = "Zürich";
    assert_true(eval_on("Name eq 'Zürich'", &q));
    assert_true(eval_on("length(Name) eq 6", &q)); /* characters, not bytes */
}

static void test_functions(void **state)
{
    struct rec r = obrien();
    assert_true(eval_on("startswith(Name,'O''B')", &r));
    assert_false(eval_on("startswith(Name,'B')", &r));
    assert_true(eval_on("endswith(Name, 'Sons')", &r));
    assert_true(eval_on("contains(Name,' & ')", &r));
    assert_false(eval_on("contains(Name,'xyz')", &r));
    assert_true(eval_on("length(Name) eq 14", &r));
    assert_true(eval_on("length(Name) gt 3 and startswith(Name,'O')", &r));
    expect_error("substringof('B', Name)", "unknown function with name 'substringof'");
    expect_error("tolower(Name) eq 'x'", "unknown function");
    expect_error("startswith(Name)", "No function signature");
    expect_error("startswith(Name,'a','b')", "Syntax error");
    expect_error("startswith(Num,'a')", "No function signature");
    expect_error("contains(Name,'a'", "Syntax error");
}

static void test_precedence(void **state)
{
    struct rec r = obrien(); /* Flag true, N 7 */
    /* and binds tighter than or */
    assert_true(eval_on("N eq 7 or N eq 1 and N eq 2", &r));
    assert_false(eval_on("(N eq 7 or N eq 1) and N eq 2", &r));
    assert_true(eval_on("N eq 1 and N eq 2 or N eq 7", &r));
    /* not binds tighter than and/or, and applies to a parenthesised comparison */
    assert_true(eval_on("not (N eq 1) and N eq 7", &r));
    assert_false(eval_on("not (N eq 1 or N eq 7)", &r));
    assert_true(eval_on("not not Flag", &r));
    /* ODataLib: `not X eq Y` is (not X) eq Y, so not must see a boolean */
    assert_true(eval_on("not Flag eq false", &r));
    expect_error("not Name eq 'x'", "unary operator with an incompatible type");
    assert_true(eval_on("((N eq 7))", &r));
    assert_true(eval_on("  N   eq   7  ", &r));
}

static void test_errors(void **state)
{
    expect_error("", "empty");
    expect_error("   ", "empty");
    expect_error("Name eq", "Syntax error");
    expect_error("Name eq 'abc", "unterminated string literal");
    expect_error("Name eq 'abc''", "unterminated string literal");
    expect_error("Name eq ABC",
                 "Could not find a property named 'ABC' on type 'Test.Models.Thing'.");
    expect_error("Nope eq 'x'", "Could not find a property named 'Nope'");
    expect_error("name eq 'x'", "Could not find a property named 'name'"); /* case-sensitive */
    expect_error("Name EQ 'x'", "Syntax error");
    expect_error("Name eq 'x' xor N eq 1", "Syntax error");
    expect_error("(Name eq 'x'", "Syntax error");
    expect_error("Name eq 'x')", "Syntax error");
    expect_error("Name", "must evaluate to a single boolean value");
    expect_error("Name eq 5", "incompatible types");
    expect_error("Num eq 'x'", "incompatible types");
    expect_error("Flag eq 1", "incompatible types");
    expect_error("Status eq 'Gone'", "The string 'Gone' is not a valid enumeration type constant");
    expect_error("Status eq 1", "incompatible types");
    expect_error("Items eq null", "incompatible types");
    expect_error("Name eq 'x' and N", "incompatible types");
    expect_error("Name eq 'x' and", "Syntax error");
    expect_error("N eq 1.", "Syntax error");
    expect_error("N eq 1 # 2", "Syntax error");
}

static void test_limits(void **state)
{
    char buf[8192];
    struct rec r = obrien();
    /* 30 comparisons joined by or: 30*3 + 29 = 119 nodes > 100 */
    size_t o = 0;
    for (int i = 0; i < 30; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%sN eq %d", i ? " or " : "", i);
    expect_error(buf, "node count limit of '100' has been exceeded");
    /* 20 comparisons fit (79 nodes) */
    o = 0;
    for (int i = 0; i < 20; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%sN eq %d", i ? " or " : "", i);
    assert_true(eval_on(buf, &r));
    /* deep nesting is refused, not a stack overflow */
    o = 0;
    for (int i = 0; i < 3000; i++)
        buf[o++] = '(';
    memcpy(buf + o, "Flag", 5);
    expect_error(buf, "nested too deeply");
    o = 0;
    for (int i = 0; i < 1000; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "not ");
    snprintf(buf + o, sizeof buf - o, "Flag");
    expect_error(buf, "nested too deeply");
    assert_true(eval_on("((((((((((Flag))))))))))", &r));
}

static void test_key_range(void **state)
{
    struct sagesim_filter *f;
    char msg[256];
    const char *lo, *hi;
    bool li, hin;
    assert_int_equal(sagesim_filter_parse("Name gt 'B' and N eq 1 and Name ge 'A'", &schema, &f,
                                          msg, sizeof msg),
                     0);
    sagesim_filter_key_range(f, 0, &lo, &li, &hi, &hin);
    assert_string_equal(lo, "B");
    assert_false(li);
    assert_null(hi);
    sagesim_filter_free(f);

    assert_int_equal(sagesim_filter_parse("'C' lt Name and (Name le 'F' and Name lt 'G')", &schema,
                                          &f, msg, sizeof msg),
                     0);
    sagesim_filter_key_range(f, 0, &lo, &li, &hi, &hin);
    assert_string_equal(lo, "C");
    assert_false(li);
    assert_string_equal(hi, "F");
    assert_true(hin);
    sagesim_filter_free(f);

    /* an or hides the bounds */
    assert_int_equal(sagesim_filter_parse("Name gt 'B' or N eq 1", &schema, &f, msg, sizeof msg),
                     0);
    sagesim_filter_key_range(f, 0, &lo, &li, &hi, &hin);
    assert_null(lo);
    assert_null(hi);
    sagesim_filter_free(f);

    assert_int_equal(sagesim_filter_parse("Name eq 'K''Q'", &schema, &f, msg, sizeof msg), 0);
    sagesim_filter_key_range(f, 0, &lo, &li, &hi, &hin);
    assert_string_equal(lo, "K'Q");
    assert_string_equal(hi, "K'Q");
    assert_true(li && hin);
    sagesim_filter_free(f);
}

static void test_customer_schema(void **state)
{
    struct sagesim_filter *f = NULL;
    char msg[512];
    assert_int_equal(sagesim_filter_parse("CustomerNumber eq L010746552", sagesim_customer_schema(),
                                          &f, msg, sizeof msg),
                     -1);
    assert_string_equal(msg, "Could not find a property named 'L010746552' on type "
                             "'Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.Customer'.");
    /* the Postman collection's query parses against the real property list */
    assert_int_equal(sagesim_filter_parse("BalanceDueInCustomerCurrency gt 1000.00 and "
                                          "DateOfLastInvoice gt 2016-12-31T12:00:00Z and "
                                          "AccountType eq 'BalanceForward'",
                                          sagesim_customer_schema(), &f, msg, sizeof msg),
                     0);
    sagesim_filter_free(f);
    assert_int_equal(
        sagesim_filter_parse("OnHold eq 'Maybe'", sagesim_customer_schema(), &f, msg, sizeof msg),
        -1);
    assert_int_equal(sagesim_field_index("SageBillingAndPaymentCustomer") >= 0, 1);
    assert_int_equal(sagesim_field_index("CustomerOptionalFieldValues"), SAGESIM_NFIELDS - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comparisons),      cmocka_unit_test(test_dates),
        cmocka_unit_test(test_null_and_strings), cmocka_unit_test(test_functions),
        cmocka_unit_test(test_precedence),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_key_range),        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_customer_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

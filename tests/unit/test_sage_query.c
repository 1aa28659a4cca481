/* Unit tests of sage_query: exact request URLs, lookback dates, credential case rule. */
#include <setjmp.h> /* cmocka.h needs these three first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "mlc_buf.h"
#include "sage_query.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BASE "https://erp.example/Sage300WebApi/v1.0/-/"
#define RES  BASE "SAMINC/AR/ARCustomers"
/* written out by hand, independently of sage_customer_properties */
#define SELECT                                                                                     \
    "$select=CustomerNumber,ShortName,GroupCode,Status,InactiveDate,DateLastMaintained,OnHold,"    \
    "CustomerName,AddressLine1,AddressLine2,AddressLine3,AddressLine4,City,StateProvince,"         \
    "ZipPostalCode,Country,ContactName,PhoneNumber,FaxNumber,CurrencyCode,Terms,"                  \
    "CreditLimitCustomerCurrency,ContactsEmail,Email,WebSite,ContactsPhone,"                       \
    "BalanceDueInCustomerCurrency,AmountPastDue,NumberOfOpenDocuments,DateOfLastInvoice,"          \
    "DateOfLastReceipt"

static const char *url_of(const struct sage_query *q)
{
    static char out[8192];
    struct mlc_buf b;
    struct mlc_err err = {0};

    mlc_buf_init(&b, 8192);
    if (sage_query_customers_url(q, &b, &err) != MLC_OK)
        fail_msg("url refused: %s", err.msg);
    memcpy(out, b.data, b.len + 1);
    mlc_buf_free(&b);
    return out;
}

static void escape_like_uri_escape_data_string(void **state)
{
    struct mlc_buf b;

    mlc_buf_init(&b, 256);
    assert_int_equal(sage_escape("a b'c:d~-_.\xc3\xa9&#/?+%,=$", &b), MLC_OK);
    assert_string_equal(mlc_buf_str(&b), "a%20b%27c%3Ad~-_.%C3%A9%26%23%2F%3F%2B%25%2C%3D%24");
    mlc_buf_free(&b);
}

static void incremental_and_keyset_urls(void **state)
{
    struct sage_query q = {BASE, "SAMINC", "2024-03-17", NULL, 500, false};

    assert_string_equal(url_of(&q),
                        RES "?$filter=DateLastMaintained%20ge%202024-03-17T00%3A00%3A00Z"
                            "&$orderby=CustomerNumber&$top=500&" SELECT);
    q.after = "1100";
    assert_string_equal(
        url_of(&q),
        RES "?$filter=DateLastMaintained%20ge%202024-03-17T00%3A00%3A00Z%20and%20"
            "CustomerNumber%20gt%20%271100%27&$orderby=CustomerNumber&$top=500&" SELECT);
    /* quotes doubled, then everything escaped */
    q.after = "O'BRIEN & CO #1/2 ";
    assert_string_equal(url_of(&q),
                        RES "?$filter=DateLastMaintained%20ge%202024-03-17T00%3A00%3A00Z"
                            "%20and%20CustomerNumber%20gt%20%27O%27%27BRIEN%20%26%20CO%20"
                            "%231%2F2%20%27&$orderby=CustomerNumber&$top=500&" SELECT);
    q.after = "Z\xc3\xbcrich''";
    assert_string_equal(url_of(&q),
                        RES "?$filter=DateLastMaintained%20ge%202024-03-17T00%3A00%3A00Z%20and%20"
                            "CustomerNumber%20gt%20%27Z%C3%BCrich%27%27%27%27%27"
                            "&$orderby=CustomerNumber&$top=500&" SELECT);
}

static void full_scan_urls(void **state)
{
    struct sage_query q = {BASE "", "SAMLTD", NULL, NULL, 1000, false};

    assert_string_equal(url_of(&q),
                        BASE "SAMLTD/AR/ARCustomers?$orderby=CustomerNumber&$top=1000&" SELECT);
    q.after = "1100";
    assert_string_equal(url_of(&q),
                        BASE "SAMLTD/AR/ARCustomers?$filter=CustomerNumber%20gt%20%271100%27"
                             "&$orderby=CustomerNumber&$top=1000&" SELECT);
    q.keys_only = true;
    assert_string_equal(url_of(&q),
                        BASE "SAMLTD/AR/ARCustomers?$filter=CustomerNumber%20gt%20%271100%27"
                             "&$orderby=CustomerNumber&$top=1000&$select=CustomerNumber");
    /* MLC_SAGE_URL without the trailing slash */
    q.base_url = "http://erp:8080/Sage300WebApi/v1.0/-";
    q.after = NULL;
    assert_string_equal(url_of(&q), "http://erp:8080/Sage300WebApi/v1.0/-/SAMLTD/AR/ARCustomers"
                                    "?$orderby=CustomerNumber&$top=1000&$select=CustomerNumber");
}

static void terms_and_resource_urls(void **state)
{
    struct mlc_buf b;
    struct mlc_err err = {0};

    mlc_buf_init(&b, 1024);
    assert_int_equal(sage_query_terms_url(BASE, "SAMINC", NULL, &b, &err), MLC_OK);
    assert_string_equal(mlc_buf_str(&b),
                        BASE "SAMINC/AR/ARTerms?$orderby=TermsCode&$select=TermsCode,Description");
    /* the keyset continuation after a page with a nextLink */
    assert_int_equal(sage_query_terms_url(BASE, "SAMINC", "N'30", &b, &err), MLC_OK);
    assert_string_equal(mlc_buf_str(&b),
                        BASE "SAMINC/AR/ARTerms?$filter=TermsCode%20gt%20%27N%27%2730%27"
                             "&$orderby=TermsCode&$select=TermsCode,Description");
    assert_int_equal(sage_query_terms_url(BASE, "SAMINC", "", &b, &err), MLC_PERM);
    assert_int_equal(sage_query_terms_url(BASE, "SAMINC", "a\nb", &b, &err), MLC_PERM);
    assert_int_equal(b.len, 0);
    assert_int_equal(sage_query_resource_url(BASE, "SAMINC", "ARCustomers", &b, &err), MLC_OK);
    assert_string_equal(mlc_buf_str(&b), RES);
    /* configuration mistakes are fatal and say which setting */
    assert_int_equal(sage_query_resource_url("ftp://erp/", "SAMINC", "ARTerms", &b, &err),
                     MLC_FATAL);
    assert_string_equal(
        err.msg, "MLC_SAGE_URL: expected an http(s) url without credentials, query or blanks");
    assert_int_equal(
        sage_query_resource_url("https://u:secret@erp/", "SAMINC", "ARTerms", &b, &err), MLC_FATAL);
    assert_null(strstr(err.msg, "secret"));
    assert_int_equal(sage_query_resource_url(BASE "?x=1", "SAMINC", "ARTerms", &b, &err),
                     MLC_FATAL);
    assert_int_equal(sage_query_resource_url(BASE, "SAM INC", "ARTerms", &b, &err), MLC_FATAL);
    assert_int_equal(sage_query_resource_url(BASE, "../X", "ARTerms", &b, &err), MLC_FATAL);
    assert_int_equal(b.len, 0);
    /* a tiny cap is reported, not overrun */
    mlc_buf_free(&b);
    mlc_buf_init(&b, 16);
    assert_int_equal(sage_query_terms_url(BASE, "SAMINC", NULL, &b, &err), MLC_PERM);
    mlc_buf_free(&b);
}

static void bad_query_parameters(void **state)
{
    struct sage_query q = {BASE, "SAMINC", NULL, NULL, 0, false};
    struct mlc_buf b;
    struct mlc_err err = {0};

    mlc_buf_init(&b, 8192);
    assert_int_equal(sage_query_customers_url(&q, &b, &err), MLC_FATAL);
    assert_string_equal(err.msg, "sage query: $top 0 outside 1..10000");
    q.top = 10001;
    assert_int_equal(sage_query_customers_url(&q, &b, &err), MLC_FATAL);
    q.top = 10000;
    q.since = "2024-02-30";
    assert_int_equal(sage_query_customers_url(&q, &b, &err), MLC_FATAL);
    q.since = NULL;
    q.after = "";
    assert_int_equal(sage_query_customers_url(&q, &b, &err), MLC_PERM);
    q.after = "A\nB";
    assert_int_equal(sage_query_customers_url(&q, &b, &err), MLC_PERM);
    q.after = NULL;
    assert_int_equal(sage_query_customers_url(&q, &b, &err), MLC_OK);
    mlc_buf_free(&b);
}

static void expect_since(const char *wm, long days, const char *want)
{
    char out[11];
    struct mlc_err err = {0};

    if (sage_query_since(wm, days, out, &err) != MLC_OK || strcmp(out, want) != 0)
        fail_msg("%s - %ld: got \"%s\" (%s), expected %s", wm, days, out, err.msg, want);
}

static void lookback_in_calendar_days(void **state)
{
    char out[11];
    struct mlc_err err = {0};
    const char *tz = getenv("TZ");
    char *saved = tz ? strdup(tz) : NULL;

    expect_since("2024-03-18", 1, "2024-03-17");
    expect_since("2024-03-18", 0, "2024-03-18");
    expect_since("2024-03-01", 1, "2024-02-29"); /* leap year */
    expect_since("2023-03-01", 1, "2023-02-28");
    expect_since("2000-03-01", 1, "2000-02-29"); /* divisible by 400 */
    expect_since("2100-03-01", 1, "2100-02-28"); /* divisible by 100 only */
    expect_since("2024-01-01", 1, "2023-12-31"); /* year boundary */
    expect_since("2025-01-07", 7, "2024-12-31");
    expect_since("2024-12-31", 366, "2023-12-31");
    expect_since("2024-05-01", 31, "2024-03-31");
    expect_since("2024-03-31", 31, "2024-02-29");
    expect_since("2024-03-10", 1, "2024-03-09"); /* US DST change night: no effect */
    expect_since("0001-01-02", 1, "0001-01-01");
    expect_since("2034-01-10", 3650, "2024-01-13"); /* checked with python datetime */

    /* local time plays no part */
    setenv("TZ", "Pacific/Kiritimati", 1);
    tzset();
    expect_since("2024-03-01", 1, "2024-02-29");
    setenv("TZ", "America/New_York", 1);
    tzset();
    expect_since("2024-03-11", 1, "2024-03-10");
    if (saved) {
        setenv("TZ", saved, 1);
        free(saved);
    } else {
        unsetenv("TZ");
    }
    tzset();

    assert_int_equal(sage_query_since("0001-01-01", 1, out, &err), MLC_FATAL);
    assert_int_equal(sage_query_since("2024-03-18", -1, out, &err), MLC_FATAL);
    assert_string_equal(err.msg, "lookback of -1 days outside 0..3650");
    assert_int_equal(sage_query_since("2024-03-18", 3651, out, &err), MLC_FATAL);
    assert_int_equal(sage_query_since("2023-02-29", 1, out, &err), MLC_FATAL);
    assert_string_equal(err.msg, "watermark is not a date YYYY-MM-DD");
    assert_int_equal(sage_query_since("2024-03-18T00:00:00Z", 1, out, &err), MLC_FATAL);
    assert_string_equal(out, "");
}

static void password_case_names(void **state)
{
    enum sage_pw_case m;

    (void)state;
    assert_true(sage_pw_case_parse("auto", &m));
    assert_int_equal(m, SAGE_PW_AUTO);
    assert_true(sage_pw_case_parse("", &m));
    assert_int_equal(m, SAGE_PW_AUTO);
    assert_true(sage_pw_case_parse(NULL, &m));
    assert_int_equal(m, SAGE_PW_AUTO);
    assert_true(sage_pw_case_parse("upper", &m));
    assert_int_equal(m, SAGE_PW_UPPER);
    assert_true(sage_pw_case_parse("exact", &m));
    assert_int_equal(m, SAGE_PW_EXACT);
    assert_false(sage_pw_case_parse("Exact", &m));
    assert_string_equal(sage_pw_case_name(SAGE_PW_UPPER), "upper");
    assert_string_equal(sage_pw_case_name(SAGE_PW_EXACT), "exact");
    assert_string_equal(sage_pw_case_name(SAGE_PW_AUTO), "auto");
}

static void credentials_case_rule(void **state)
{
    struct sage_credentials c;
    struct mlc_err err = {0};
    char longpw[SAGE_PASSWORD_MAX + 2];

    assert_int_equal(sage_credentials_make("webapi", "Pa$$w0rd!", "upper", &c, &err), MLC_OK);
    assert_string_equal(c.user, "WEBAPI");
    assert_string_equal(c.password, "PA$$W0RD!");
    assert_int_equal(sage_credentials_make("webapi", "Pa$$w0rd!", NULL, &c, &err), MLC_OK);
    assert_string_equal(c.password, "PA$$W0RD!");
    assert_int_equal(sage_credentials_make("WebApi", "Pa$$w0rd!", "exact", &c, &err), MLC_OK);
    assert_string_equal(c.user, "WEBAPI"); /* the user ID is always upper-cased */
    assert_string_equal(c.password, "Pa$$w0rd!");
    assert_int_equal(sage_credentials_make("admin", "", "upper", &c, &err), MLC_OK);
    assert_string_equal(c.password, ""); /* security off: empty password */
    sage_credentials_wipe(&c);
    for (size_t i = 0; i < sizeof(c.password); i++)
        assert_int_equal(c.password[i], 0);

    /* auto starts with the legacy form; sage_client switches after a 401 */
    assert_int_equal(sage_credentials_make("webapi", "Pa$$w0rd!", "auto", &c, &err), MLC_OK);
    assert_string_equal(c.password, "PA$$W0RD!");
    assert_int_equal(sage_credentials_make("webapi", "s3cret", "lower", &c, &err), MLC_FATAL);
    assert_string_equal(err.msg, "MLC_SAGE_PASSWORD_CASE: expected auto, upper or exact");
    assert_int_equal(sage_credentials_make("", "s3cret", "upper", &c, &err), MLC_FATAL);
    assert_int_equal(sage_credentials_make("web:api", "s3cret", "upper", &c, &err), MLC_FATAL);
    assert_null(strstr(err.msg, "s3cret"));
    memset(longpw, 'p', sizeof(longpw) - 1);
    longpw[sizeof(longpw) - 1] = '\0';
    assert_int_equal(sage_credentials_make("webapi", longpw, "exact", &c, &err), MLC_FATAL);
    assert_string_equal(err.msg, "MLC_SAGE_PASSWORD: longer than 256 bytes");
    assert_int_equal(c.password[0], 0); /* nothing half-copied is left behind */
    assert_int_equal(c.user[0], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escape_like_uri_escape_data_string),
        cmocka_unit_test(incremental_and_keyset_urls),
        cmocka_unit_test(full_scan_urls),
        cmocka_unit_test(terms_and_resource_urls),
        cmocka_unit_test(bad_query_parameters),
        cmocka_unit_test(lookback_in_calendar_days),
        cmocka_unit_test(password_case_names),
        cmocka_unit_test(credentials_case_rule),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

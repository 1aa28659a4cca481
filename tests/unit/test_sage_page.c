/* Unit tests of sage_page: OData envelope checks and the nextLink check. */
#include <setjmp.h> /* cmocka.h needs these three first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "sage_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RES "https://erp.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers"
#define QUERY                                                                                      \
    "?$filter=DateLastMaintained%20ge%202024-03-18T00%3A00%3A00Z&$orderby=CustomerNumber&$top="    \
    "400&$skip=100"

static const struct sage_page_opts opts = {RES, 0};
/* behind a reverse proxy that publishes Sage under a path prefix */
#define PROXIED "https://erp.example.com/sage/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers"
static const struct sage_page_opts proxied = {PROXIED, 0};

static mlc_rc parse_text(const char *body, const struct sage_page_opts *o, struct sage_page *p,
                         struct mlc_err *err)
{
    return sage_page_parse(body, strlen(body), o, p, err);
}

static void expect(const char *body, const struct sage_page_opts *o, mlc_rc want,
                   const char *reason)
{
    struct sage_page p;
    struct mlc_err err = {0};
    mlc_rc rc = parse_text(body, o, &p, &err);

    if (rc != want || strcmp(err.msg, reason) != 0)
        fail_msg("%s: rc %d \"%s\", expected rc %d \"%s\"", body, rc, err.msg, want, reason);
    assert_null(p.root);
    assert_false(p.has_next);
}

/* Parses a page with link as its nextLink; fails the test when refused. */
static void accepted(const char *link, const struct sage_page_opts *o)
{
    char body[12000];
    struct sage_page p;
    struct mlc_err err = {0};

    snprintf(body, sizeof(body), "{\"value\":[],\"@odata.nextLink\":\"%s\"}", link);
    if (parse_text(body, o, &p, &err) != MLC_OK)
        fail_msg("%s refused: %s", link, err.msg);
    assert_true(p.has_next);
    sage_page_free(&p);
}

static void expect_link_refused(const char *link, const struct sage_page_opts *o, mlc_rc want,
                                const char *reason_part)
{
    char body[12000];
    struct sage_page p;
    struct mlc_err err = {0};
    mlc_rc rc;

    snprintf(body, sizeof(body), "{\"value\":[{}],\"@odata.nextLink\":\"%s\"}", link);
    rc = parse_text(body, o, &p, &err);
    if (rc != want || !strstr(err.msg, reason_part))
        fail_msg("%s: rc %d \"%s\", expected rc %d with \"%s\"", link, rc, err.msg, want,
                 reason_part);
    assert_false(p.has_next);
    assert_null(p.root);
    assert_int_equal(p.count, 0);
}

static void last_page_without_link(void **state)
{
    struct sage_page p;
    const char *body =
        "{\"@odata.context\":\"http://erp/Sage300WebApi/v1.0/-/SAMINC/AR/$metadata#ARCustomers\","
        "\"@odata.count\":2,\"value\":[{\"CustomerNumber\":\"1100\"},{\"CustomerNumber\":\"1200\"}]"
        "}";

    assert_int_equal(parse_text(body, &opts, &p, NULL), MLC_OK);
    assert_int_equal(p.count, 2);
    assert_false(p.has_next);
    assert_true(p.has_total);
    assert_int_equal(p.total, 2);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(p.records, 1), "CustomerNumber")->valuestring,
        "1200");
    sage_page_free(&p);
    assert_null(p.root);

    assert_int_equal(parse_text(" {\"value\":[]}\r\n", &opts, &p, NULL), MLC_OK);
    assert_int_equal(p.count, 0);
    assert_false(p.has_total);
    sage_page_free(&p);
}

static void link_checked_from_the_application_segment(void **state)
{
    (void)state;
    /* the internal IIS host name, another port, another scheme: same resource */
    accepted("http://sage-iis01/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers" QUERY, &opts);
    accepted("HTTP://sage-iis01:8080/sage300webapi/V1.0/-/saminc/ar/arcustomers" QUERY, &opts);
    accepted("/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers" QUERY, &opts);
    accepted("//sage-iis01/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers" QUERY, &opts);
    accepted(RES QUERY "#frag", &opts);
    accepted(RES, &opts);
    /* behind a proxy with a path prefix: the server does not know the prefix */
    accepted("http://sage-iis01/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers" QUERY, &proxied);
    accepted("http://10.0.0.7:80/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers?$skip=100", &proxied);
    accepted(PROXIED QUERY, &proxied);
    /* or a server that adds one of its own (load balancer on a sub-path) */
    accepted("https://lb.internal/erp/prod/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers" QUERY,
             &opts);
}

static void hostile_links_refused(void **state)
{
    char longlink[SAGE_LINK_MAX + 64];
    struct sage_page p;
    struct mlc_err err = {0};
    char body[256];

    expect_link_refused("https://evil.example/Sage300WebApi/v1.0/-/SAMLTD/AR/ARCustomers" QUERY,
                        &opts, MLC_FATAL,
                        "names another resource: path "
                        "/Sage300WebApi/v1.0/-/SAMLTD/AR/ARCustomers, expected "
                        "/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers");
    expect_link_refused("http://sage-iis01/Sage300WebApi/v1.0/-/SAMLTD/AR/ARCustomers" QUERY,
                        &proxied, MLC_FATAL, "names another resource");
    expect_link_refused("https://erp.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers/../../"
                        "SAMLTD/AR/ARCustomers" QUERY,
                        &opts, MLC_FATAL, "names another resource");
    expect_link_refused("https://erp.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomersX?$skip=1",
                        &opts, MLC_FATAL, "names another resource");
    expect_link_refused("https://erp.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARTerms?$skip=1", &opts,
                        MLC_FATAL, "names another resource");
    expect_link_refused("/other/path?$skip=100", &opts, MLC_FATAL, "names another resource");
    expect_link_refused("ARCustomers?$skip=100", &opts, MLC_FATAL,
                        "neither an http(s) url nor an absolute path");
    expect_link_refused("ftp://erp.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers", &opts,
                        MLC_FATAL, "neither an http(s) url");
    expect_link_refused("https://user:hunter2@erp.example/Sage300WebApi/v1.0/-/SAMINC/AR/"
                        "ARCustomers" QUERY,
                        &opts, MLC_FATAL, "with credentials in its host");

    /* malformed links are transient page damage */
    expect_link_refused("", &opts, MLC_RETRY, "page: @odata.nextLink is empty");
    expect_link_refused(RES "?$filter=a b", &opts, MLC_RETRY, "blank, control or non-ascii");
    memset(longlink, 'a', sizeof(longlink) - 1);
    longlink[sizeof(longlink) - 1] = '\0';
    memcpy(longlink, RES "?", strlen(RES "?"));
    expect_link_refused(longlink, &opts, MLC_RETRY, "longer than 8192 bytes");

    snprintf(body, sizeof(body), "{\"value\":[],\"@odata.nextLink\":42}");
    assert_int_equal(parse_text(body, &opts, &p, &err), MLC_RETRY);
    assert_string_equal(err.msg, "page: @odata.nextLink is not a string");
    snprintf(body, sizeof(body), "{\"value\":[],\"@odata.nextLink\":null}");
    assert_int_equal(parse_text(body, &opts, &p, &err), MLC_RETRY);

    /* the credentials never reach the message */
    assert_int_equal(sage_next_link_check("https://u:hunter2@x/", &opts, &err), MLC_FATAL);
    assert_null(strstr(err.msg, "hunter2"));
}

static void malformed_pages_are_retryable(void **state)
{
    struct sage_page_opts two = opts;
    struct sage_page p;
    struct mlc_err err = {0};
    const char *full = "{\"value\":[{\"CustomerNumber\":\"1100\"}]}";

    expect("[]", &opts, MLC_RETRY, "page: expected a json object");
    expect("{}", &opts, MLC_RETRY, "page: no \"value\" array");
    expect("{\"value\":{}}", &opts, MLC_RETRY, "page: \"value\" is not an array");
    expect("{\"value\":[{},1]}", &opts, MLC_RETRY, "page: value[1] is not an object");
    expect("{\"value\":[{}]} x", &opts, MLC_RETRY, "page: trailing data after the json at byte 15");
    expect("{\"error\":{\"code\":\"InternalServerError\",\"message\":{\"lang\":\"en-US\","
           "\"value\":\"boom\"}}}",
           &opts, MLC_RETRY, "page: server sent an error object, no \"value\"");
    expect("<html>Service Unavailable</html>", &opts, MLC_RETRY,
           "page: invalid json near byte 0 of 32");
    /* a body cut off mid-record */
    assert_int_equal(sage_page_parse(full, strlen(full) - 5, &opts, &p, &err), MLC_RETRY);
    assert_non_null(strstr(err.msg, "page: invalid json"));
    assert_int_equal(sage_page_parse(full, 0, &opts, &p, &err), MLC_RETRY);
    assert_string_equal(err.msg, "page: empty body");

    two.max_records = 2;
    expect("{\"value\":[{},{},{}]}", &two, MLC_RETRY, "page: more than 2 records");
    assert_int_equal(parse_text("{\"value\":[{},{}]}", &two, &p, &err), MLC_OK);
    sage_page_free(&p);
}

static void count_forms(void **state)
{
    struct sage_page p;

    assert_int_equal(parse_text("{\"@odata.count\":625,\"value\":[]}", &opts, &p, NULL), MLC_OK);
    assert_true(p.has_total);
    assert_int_equal(p.total, 625);
    sage_page_free(&p);
    /* the 2016 documentation's string form */
    assert_int_equal(parse_text("{\"@odata.count\":\"625\",\"value\":[]}", &opts, &p, NULL),
                     MLC_OK);
    assert_int_equal(p.total, 625);
    sage_page_free(&p);
    expect("{\"@odata.count\":-1,\"value\":[]}", &opts, MLC_RETRY,
           "page: @odata.count is not a non-negative integer");
    expect("{\"@odata.count\":1.5,\"value\":[]}", &opts, MLC_RETRY,
           "page: @odata.count is not a non-negative integer");
    expect("{\"@odata.count\":\"many\",\"value\":[]}", &opts, MLC_RETRY,
           "page: @odata.count is not a non-negative integer");
    expect("{\"@odata.count\":true,\"value\":[]}", &opts, MLC_RETRY,
           "page: @odata.count is not a non-negative integer");
}

static void borrowed_root_stays_with_caller(void **state)
{
    cJSON *root = cJSON_Parse("{\"value\":[{\"a\":1}],\"@odata.nextLink\":\"http://iis/"
                              "Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers?$skip=1\"}");
    struct sage_page p;
    struct mlc_err err = {0};

    assert_int_equal(sage_page_from_json(root, &opts, &p, &err), MLC_OK);
    assert_null(p.root);
    assert_int_equal(p.count, 1);
    assert_true(p.has_next);
    sage_page_free(&p); /* frees nothing of the caller's */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "value")), 1);
    cJSON_Delete(root);

    /* no configured resource: nothing to check against */
    {
        struct sage_page_opts none = {NULL, 0};
        assert_int_equal(sage_next_link_check(RES, &none, &err), MLC_FATAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(last_page_without_link),
        cmocka_unit_test(link_checked_from_the_application_segment),
        cmocka_unit_test(hostile_links_refused),
        cmocka_unit_test(malformed_pages_are_retryable),
        cmocka_unit_test(count_forms),
        cmocka_unit_test(borrowed_root_stays_with_caller),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of sage_page: OData envelope checks and nextLink re-basing. */
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

static const struct sage_page_opts opts = {RES, NULL, false, 0};

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
    assert_null(p.next_url);
}

/* Follows link as the page's nextLink; returns the re-based URL (static). */
static const char *next_of(const char *link, const struct sage_page_opts *o)
{
    static char out[16384];
    char body[12000];
    struct sage_page p;
    struct mlc_err err = {0};

    snprintf(body, sizeof(body), "{\"value\":[],\"@odata.nextLink\":\"%s\"}", link);
    if (parse_text(body, o, &p, &err) != MLC_OK)
        fail_msg("%s refused: %s", link, err.msg);
    assert_non_null(p.next_url);
    snprintf(out, sizeof(out), "%s", p.next_url);
    sage_page_free(&p);
    return out;
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
    assert_null(p.next_url);
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
    assert_null(p.next_url);
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

static void link_rebased_on_configured_url(void **state)
{
    struct sage_page_opts strict = opts;

    /* the internal IIS host name is replaced, the query is kept byte for byte */
    assert_string_equal(
        next_of("http://sage-iis01/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers" QUERY, &opts),
        RES QUERY);
    assert_string_equal(
        next_of("HTTP://sage-iis01:8080/sage300webapi/V1.0/-/saminc/ar/arcustomers" QUERY, &opts),
        RES QUERY);
    assert_string_equal(next_of("/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers" QUERY, &opts),
                        RES QUERY);
    /* with re-basing off the same origin is still fine (host compared without case) */
    strict.no_rebase = true;
    assert_string_equal(
        next_of("https://ERP.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers" QUERY, &strict),
        RES QUERY);
}

static void hostile_links_refused(void **state)
{
    struct sage_page_opts strict = opts;
    struct sage_page_opts loop = opts;
    char longlink[SAGE_LINK_MAX + 64];
    struct sage_page p;
    struct mlc_err err = {0};
    char body[256];

    strict.no_rebase = true;
    expect_link_refused("http://sage-iis01/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers" QUERY,
                        &strict, MLC_FATAL,
                        "refusing @odata.nextLink to another host (http://sage-iis01), expected "
                        "https://erp.example");
    expect_link_refused("http://erp.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers" QUERY,
                        &strict, MLC_FATAL, "to another host");
    expect_link_refused("https://erp.example:8443/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers" QUERY,
                        &strict, MLC_FATAL, "to another host");
    expect_link_refused("https://evil.example/Sage300WebApi/v1.0/-/SAMLTD/AR/ARCustomers" QUERY,
                        &opts, MLC_FATAL,
                        "outside the requested resource: path "
                        "/Sage300WebApi/v1.0/-/SAMLTD/AR/ARCustomers, expected "
                        "/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers");
    expect_link_refused("https://erp.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers/../../"
                        "SAMLTD/AR/ARCustomers" QUERY,
                        &opts, MLC_FATAL, "outside the requested resource");
    expect_link_refused("https://erp.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomersX?$skip=1",
                        &opts, MLC_FATAL, "outside the requested resource");
    expect_link_refused("/other/path?$skip=100", &opts, MLC_FATAL,
                        "outside the requested resource");
    expect_link_refused("//evil.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers", &opts,
                        MLC_FATAL, "scheme-relative");
    expect_link_refused("ARCustomers?$skip=100", &opts, MLC_FATAL,
                        "neither an http(s) url nor an absolute path");
    expect_link_refused("ftp://erp.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers", &opts,
                        MLC_FATAL, "neither an http(s) url");
    expect_link_refused("https://user:hunter2@erp.example/Sage300WebApi/v1.0/-/SAMINC/AR/"
                        "ARCustomers" QUERY,
                        &opts, MLC_FATAL, "with credentials in its host");
    expect_link_refused(RES QUERY "#frag", &opts, MLC_FATAL, "with a fragment");

    /* a link that repeats the request would loop for ever */
    loop.request_url = RES QUERY;
    expect_link_refused("http://sage-iis01/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers" QUERY, &loop,
                        MLC_FATAL, "repeats the request");

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
    {
        char *out = NULL;
        assert_int_equal(sage_next_link_rebase("https://u:hunter2@x/", &opts, &out, &err),
                         MLC_FATAL);
        assert_null(out);
    }
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
    assert_string_equal(p.next_url, RES "?$skip=1");
    sage_page_free(&p); /* frees next_url only */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "value")), 1);
    cJSON_Delete(root);

    /* no configured resource: nothing to re-base on */
    {
        struct sage_page_opts none = {NULL, NULL, false, 0};
        char *out = NULL;
        assert_int_equal(sage_next_link_rebase(RES, &none, &out, &err), MLC_FATAL);
        assert_null(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(last_page_without_link),
        cmocka_unit_test(link_rebased_on_configured_url),
        cmocka_unit_test(hostile_links_refused),
        cmocka_unit_test(malformed_pages_are_retryable),
        cmocka_unit_test(count_forms),
        cmocka_unit_test(borrowed_root_stays_with_caller),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

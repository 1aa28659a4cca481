/* Unit tests of sage_customer: ARCustomers record -> canonical customer, ARTerms table. */
#include <setjmp.h> /* cmocka.h needs these three first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_event.h"
#include "sage_customer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The two records of Sage's published sample ARCustomers response, as Sage sends them;
 * 1100 also carries AmountPastDue and NumberOfOpenDocuments, which the published
 * excerpt leaves out and a real record (or one read with their $select) has. */
static const char *rec_1100 =
    "{\"CustomerNumber\": \"1100\", \"ShortName\": \"BARMART\", \"GroupCode\": \"RTL\","
    " \"NationalAccount\": \"\", \"Status\": \"Active\", \"InactiveDate\": null,"
    " \"DateLastMaintained\": \"2024-03-18T00:00:00Z\", \"OnHold\": \"No\","
    " \"StartDate\": \"2019-01-02T00:00:00Z\", \"CustomerName\": \"Bargain Mart - San Diego\","
    " \"AddressLine1\": \"4600 Shoreline Drive\", \"AddressLine2\": \"\", \"AddressLine3\": \"\","
    " \"AddressLine4\": \"\", \"City\": \"San Diego\", \"StateProvince\": \"CA\","
    " \"ZipPostalCode\": \"92110\", \"Country\": \"USA\", \"ContactName\": \"Ellen Martinez\","
    " \"PhoneNumber\": \"(619)555-0100\", \"FaxNumber\": \"(619)555-0101\","
    " \"CurrencyCode\": \"USD\", \"PrintStatements\": \"Yes\", \"AccountType\": \"OpenItem\","
    " \"Terms\": \"N30\", \"TaxClassCode1\": 1, \"CreditLimitCustomerCurrency\": 25000.000,"
    " \"BalanceDueInCustomerCurrency\": 1240.500, \"DateOfLastInvoice\": \"2024-03-15T00:00:00Z\","
    " \"AmountPastDue\": 0.000, \"NumberOfOpenDocuments\": 2,"
    " \"ContactsEmail\": \"emartinez@bargainmart.example\", \"Email\": \"ap@bargainmart.example\","
    " \"WebSite\": \"www.bargainmart.example\", \"ContactsPhone\": \"(619)555-0102\","
    " \"ContactsFax\": \"\", \"NumberOfOptionalFields\": 1, \"SuppressIntegration\": false,"
    " \"CustomerOptionalFieldValues\": [{\"CustomerNumber\": \"1100\", \"OptionalField\": "
    "\"UPSZONE\", \"Value\": \"RED\", \"CustomerOptionalFieldValueType\": \"Text\","
    " \"UpdateOperation\": \"Unspecified\"}]}";

static const char *rec_1200 =
    "{\"CustomerNumber\": \"1200\", \"ShortName\": \"BLACK\", \"Status\": \"Inactive\","
    " \"InactiveDate\": \"2024-03-18T00:00:00Z\", \"DateLastMaintained\": \"2024-03-18T00:00:00Z\","
    " \"OnHold\": \"Yes\", \"CustomerName\": \"Black's Hardware\", \"AddressLine1\": \"120 Main "
    "Street\", \"AddressLine2\": \"Suite 4\", \"City\": \"Los Angeles\", \"StateProvince\": \"CA\","
    " \"ZipPostalCode\": \"90012\", \"Country\": \"USA\", \"AccountType\": \"BalanceForward\","
    " \"Terms\": \"DUETBL\", \"CreditLimitCustomerCurrency\": 0, \"DateOfLastInvoice\": null,"
    " \"Email\": \"\", \"NumberOfOptionalFields\": 0, \"CustomerOptionalFieldValues\": []}";

/* A valid minimal record to which a test adds or overrides properties. */
static const char *minimal = "{\"CustomerNumber\":\"1100\",\"Status\":\"Active\",\"OnHold\":\"No\","
                             "\"CreditLimitCustomerCurrency\":1}";

static struct sage_terms *terms_fixture(void)
{
    struct sage_terms *t = sage_terms_new();

    assert_non_null(t);
    assert_int_equal(sage_terms_add(t, "N30", "Net 30 days", NULL), MLC_OK);
    assert_int_equal(sage_terms_add(t, "COD", "Cash on delivery  ", NULL), MLC_OK);
    return t;
}

/* Canonical JSON of c->customer (static buffer for assertions). */
static const char *canon(const struct sage_customer *c)
{
    static char out[8192];
    struct mlc_buf b;

    mlc_buf_init(&b, sizeof(out) - 1);
    assert_int_equal(mlc_event_canonical(c->customer, &b, NULL), MLC_OK);
    snprintf(out, sizeof(out), "%s", mlc_buf_str(&b));
    mlc_buf_free(&b);
    return out;
}

/* Normalises minimal with the properties of extra (a JSON object) merged in. */
static mlc_rc normalize_with(const char *extra, struct sage_customer *c, struct mlc_err *err)
{
    cJSON *rec = cJSON_Parse(minimal), *patch = cJSON_Parse(extra), *p;
    mlc_rc rc;

    assert_non_null(rec);
    assert_non_null(patch);
    cJSON_ArrayForEach(p, patch)
    {
        cJSON_DeleteItemFromObjectCaseSensitive(rec, p->string);
        cJSON_AddItemToObject(rec, p->string, cJSON_Duplicate(p, 1));
    }
    rc = sage_customer_normalize(rec, NULL, c, err);
    cJSON_Delete(patch);
    cJSON_Delete(rec);
    return rc;
}

static void expect_perm(const char *extra, const char *reason)
{
    struct sage_customer c;
    struct mlc_err err = {0};
    mlc_rc rc = normalize_with(extra, &c, &err);

    if (rc != MLC_PERM || strcmp(err.msg, reason) != 0)
        fail_msg("%s: rc %d, reason \"%s\", expected \"%s\"", extra, rc, err.msg, reason);
    assert_null(c.customer);
}

static void reference_record_1100(void **state)
{
    struct sage_terms *t = terms_fixture();
    cJSON *rec = cJSON_Parse(rec_1100);
    struct sage_customer c;
    struct mlc_err err = {0};

    assert_int_equal(sage_customer_normalize(rec, t, &c, &err), MLC_OK);
    assert_string_equal(c.number, "1100");
    assert_string_equal(c.last_maintained, "2024-03-18");
    assert_string_equal(
        canon(&c),
        "{\"address_line1\":\"4600 Shoreline Drive\",\"city\":\"San Diego\","
        "\"contact_email\":\"emartinez@bargainmart.example\",\"contact_name\":\"Ellen Martinez\","
        "\"contact_phone\":\"(619)555-0102\",\"country\":\"USA\",\"credit_limit\":25000.000,"
        "\"currency\":\"USD\",\"email\":\"ap@bargainmart.example\",\"fax\":\"(619)555-0101\","
        "\"group\":\"RTL\",\"name\":\"Bargain Mart - San Diego\",\"on_hold\":false,"
        "\"phone\":\"(619)555-0100\",\"postal_code\":\"92110\",\"short_name\":\"BARMART\","
        "\"state\":\"CA\",\"status\":\"active\",\"terms_code\":\"N30\","
        "\"terms_description\":\"Net 30 days\",\"website\":\"www.bargainmart.example\"}");
    /* the credit picture: 1240.5 of 25000 is 4.962 %; no receipt yet */
    assert_non_null(c.credit);
    {
        struct mlc_buf b;
        mlc_buf_init(&b, 4096);
        assert_int_equal(mlc_event_canonical(c.credit, &b, NULL), MLC_OK);
        assert_string_equal(b.data,
                            "{\"amount_past_due\":0.000,\"balance_due\":1240.500,"
                            "\"credit_used_pct\":4.962,\"last_invoice_date\":\"2024-03-15\","
                            "\"open_documents\":2.000}");
        mlc_buf_free(&b);
    }
    sage_customer_free(&c);
    assert_null(c.customer);
    assert_null(c.credit);
    cJSON_Delete(rec);
    sage_terms_free(t);
}

static void reference_record_1200_builds_a_valid_event(void **state)
{
    struct sage_terms *t = terms_fixture();
    cJSON *rec = cJSON_Parse(rec_1200), *ev = NULL;
    struct sage_customer c;
    struct mlc_err err = {0};
    struct mlc_event_source src = {"http://erp/Sage300WebApi/v1.0/-/", NULL, 1795851612};
    struct mlc_buf b;
    struct mlc_event dec;

    assert_int_equal(sage_customer_normalize(rec, t, &c, &err), MLC_OK);
    /* Email "" is absent; DUETBL is not in the terms table: no description */
    assert_string_equal(canon(&c),
                        "{\"address_line1\":\"120 Main Street\",\"address_line2\":\"Suite 4\","
                        "\"city\":\"Los Angeles\",\"country\":\"USA\",\"credit_limit\":0.000,"
                        "\"inactive_date\":\"2024-03-18\",\"name\":\"Black's Hardware\","
                        "\"on_hold\":true,\"postal_code\":\"90012\",\"short_name\":\"BLACK\","
                        "\"state\":\"CA\",\"status\":\"inactive\",\"terms_code\":\"DUETBL\"}");
    src.last_maintained = c.last_maintained;
    mlc_buf_init(&b, 1 << 16);
    assert_int_equal(mlc_event_build("SAMINC", c.number, c.customer, &src, 1795851613, &ev, &err),
                     MLC_OK);
    assert_int_equal(mlc_event_encode(ev, &b, &err), MLC_OK);
    assert_int_equal(mlc_event_decode("SAMINC:1200", 11, b.data, b.len, &dec, &err), MLC_OK);
    assert_string_equal(dec.last_maintained, "2024-03-18");
    mlc_event_free(&dec);
    mlc_buf_free(&b);
    cJSON_Delete(ev);
    sage_customer_free(&c);
    cJSON_Delete(rec);
    sage_terms_free(t);
}

static void blanks_trimmed_and_empty_becomes_absent(void **state)
{
    struct sage_customer c;

    assert_int_equal(normalize_with("{\"ShortName\":\"BARMART   \",\"CustomerName\":\"  Padded "
                                    "\\t\",\"City\":\"   \",\"Country\":null,\"Email\":\"\"}",
                                    &c, NULL),
                     MLC_OK);
    assert_string_equal(canon(&c), "{\"credit_limit\":1.000,\"name\":\"Padded\",\"on_hold\":false,"
                                   "\"short_name\":\"BARMART\",\"status\":\"active\"}");
    sage_customer_free(&c);
}

static void awkward_text_is_kept(void **state)
{
    struct sage_customer c;
    cJSON *rec = cJSON_Parse(minimal);

    cJSON_ReplaceItemInObject(rec, "CustomerNumber", cJSON_CreateString(" O'BRIEN 7 "));
    cJSON_AddStringToObject(rec, "CustomerName", "O'Brien & S\xc3\xb6hne \xe6\x9d\xb1\xe4\xba\xac");
    assert_int_equal(sage_customer_normalize(rec, NULL, &c, NULL), MLC_OK);
    assert_string_equal(c.number, " O'BRIEN 7 "); /* the key is never trimmed */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(c.customer, "name")->valuestring,
                        "O'Brien & S\xc3\xb6hne \xe6\x9d\xb1\xe4\xba\xac");
    sage_customer_free(&c);
    cJSON_Delete(rec);
}

static void enums_and_booleans(void **state)
{
    struct sage_customer c;

    assert_int_equal(normalize_with("{\"Status\":\"INACTIVE\",\"OnHold\":\"yes\"}", &c, NULL),
                     MLC_OK);
    assert_string_equal(canon(&c), "{\"credit_limit\":1.000,\"on_hold\":true,"
                                   "\"status\":\"inactive\"}");
    sage_customer_free(&c);
    assert_int_equal(normalize_with("{\"OnHold\":true}", &c, NULL), MLC_OK);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c.customer, "on_hold")));
    sage_customer_free(&c);
}

static void dates_keep_their_calendar_day(void **state)
{
    static const char *const ok[][2] = {
        {"2024-03-18T00:00:00Z", "2024-03-18"},
        {"2024-03-18T00:00:00", "2024-03-18"},
        {"2024-03-18T00:00:00+00:00", "2024-03-18"},
        {"2024-03-18T00:00:00-05:00", "2024-03-18"},
        {"2024-03-18T23:59:59.997+14:00", "2024-03-18"},
        {"2024-03-18", "2024-03-18"},
        {"2024-02-29T00:00:00Z", "2024-02-29"},
        {"2000-02-29T00:00:00Z", "2000-02-29"},
    };
    static const char *const bad[] = {
        "2023-02-29T00:00:00Z",  "1900-02-29",          "2024-13-01T00:00:00Z",
        "2024-03-18T24:00:00Z",  "18/03/2024",          "2024-03-18T00:00:00+0000",
        "2024-03-18T00:00Z",     "2024-03-18 00:00:00", "2024-03-18T00:00:00ZZ",
        "2024-03-18T00:00:00.Z", "0000-01-01",          "",
    };
    char out[11];
    struct sage_customer c;
    char extra[128];

    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        if (!sage_date_parse(ok[i][0], out) || strcmp(out, ok[i][1]) != 0)
            fail_msg("%s -> \"%s\", expected %s", ok[i][0], out, ok[i][1]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        if (sage_date_parse(bad[i], out))
            fail_msg("%s accepted as %s", bad[i], out);

    /* in a record: null and "" are absent, a bad date refuses the record */
    assert_int_equal(
        normalize_with("{\"InactiveDate\":null,\"DateLastMaintained\":null}", &c, NULL), MLC_OK);
    assert_string_equal(c.last_maintained, "");
    assert_null(cJSON_GetObjectItemCaseSensitive(c.customer, "inactive_date"));
    {
        /* "" from the normaliser is written as null in the event */
        struct mlc_event_source src = {"http://erp/", c.last_maintained, 1795851612};
        cJSON *ev = NULL;
        assert_int_equal(
            mlc_event_build("SAMINC", c.number, c.customer, &src, 1795851613, &ev, NULL), MLC_OK);
        assert_true(cJSON_IsNull(
            cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "source"), "last_maintained")));
        cJSON_Delete(ev);
    }
    sage_customer_free(&c);
    assert_int_equal(normalize_with("{\"InactiveDate\":\"\",\"DateLastMaintained\":"
                                    "\"2024-03-18T00:00:00-05:00\"}",
                                    &c, NULL),
                     MLC_OK);
    assert_string_equal(c.last_maintained, "2024-03-18");
    sage_customer_free(&c);
    snprintf(extra, sizeof(extra), "{\"InactiveDate\":\"%s\"}", bad[0]);
    expect_perm(extra, "customer 1100: InactiveDate: not a date "
                       "(YYYY-MM-DD[THH:MM:SS[Z|+HH:MM]])");
    expect_perm("{\"DateLastMaintained\":20240318}",
                "customer 1100: DateLastMaintained: expected a date string or null");
}

static void wrong_types_name_the_property(void **state)
{
    expect_perm("{\"CreditLimitCustomerCurrency\":\"25000\"}",
                "customer 1100: CreditLimitCustomerCurrency: expected a number");
    expect_perm("{\"CreditLimitCustomerCurrency\":null}",
                "customer 1100: CreditLimitCustomerCurrency: expected a number");
    expect_perm("{\"CreditLimitCustomerCurrency\":1e15}",
                "customer 1100: CreditLimitCustomerCurrency: out of range");
    expect_perm("{\"Status\":1}", "customer 1100: Status: expected a string");
    expect_perm("{\"Status\":\"Suspended\"}", "customer 1100: Status: expected Active or Inactive");
    expect_perm("{\"OnHold\":\"Maybe\"}", "customer 1100: OnHold: expected Yes or No");
    expect_perm("{\"OnHold\":0}", "customer 1100: OnHold: expected Yes or No");
    expect_perm("{\"CustomerName\":5}", "customer 1100: CustomerName: expected a string or null");
    expect_perm("{\"Terms\":[\"N30\"]}", "customer 1100: Terms: expected a string or null");
    expect_perm("{\"CustomerNumber\":1100}", "record: CustomerNumber: expected a string");
    expect_perm("{\"CustomerNumber\":null}", "record: CustomerNumber: expected a string");
    expect_perm("{\"CustomerNumber\":\"\"}", "record: CustomerNumber: empty");
    expect_perm("{\"CustomerNumber\":\"   \"}",
                "record: CustomerNumber: invalid (1-64 bytes of utf-8, no control characters, "
                "not blank)");
    expect_perm("{\"CustomerNumber\":\"11\\n00\"}",
                "record: CustomerNumber: invalid (1-64 bytes of utf-8, no control characters, "
                "not blank)");
}

static void missing_required_properties(void **state)
{
    struct sage_customer c;
    struct mlc_err err = {0};
    cJSON *rec = cJSON_Parse("{\"ShortName\":\"X\",\"Status\":\"Active\"}");
    cJSON *arr = cJSON_Parse("[1]");

    assert_int_equal(sage_customer_normalize(rec, NULL, &c, &err), MLC_PERM);
    assert_string_equal(err.msg, "record: CustomerNumber: missing");
    assert_string_equal(c.number, "");
    assert_int_equal(sage_customer_normalize(arr, NULL, &c, &err), MLC_PERM);
    assert_string_equal(err.msg, "record: expected a json object");
    cJSON_Delete(rec);
    cJSON_Delete(arr);

    rec = cJSON_Parse("{\"CustomerNumber\":\"A 1\",\"Status\":\"Active\",\"OnHold\":\"No\"}");
    assert_int_equal(sage_customer_normalize(rec, NULL, &c, &err), MLC_PERM);
    assert_string_equal(err.msg, "customer A 1: CreditLimitCustomerCurrency: missing");
    assert_string_equal(c.number, "A 1"); /* kept so the caller can audit the skip */
    assert_null(c.customer);
    cJSON_Delete(rec);
    rec = cJSON_Parse("{\"CustomerNumber\":\"1\",\"OnHold\":\"No\","
                      "\"CreditLimitCustomerCurrency\":1}");
    assert_int_equal(sage_customer_normalize(rec, NULL, &c, &err), MLC_PERM);
    assert_string_equal(err.msg, "customer 1: Status: missing");
    cJSON_Delete(rec);
}

static void oversize_and_invalid_text(void **state)
{
    char *extra = malloc(2200);
    struct sage_customer c;
    int n;

    assert_non_null(extra);
    /* 1024 bytes plus padding: fine after trimming */
    n = snprintf(extra, 2200, "{\"CustomerName\":\"%01024d      \"}", 0);
    assert_true(n > 0 && n < 2200);
    assert_int_equal(normalize_with(extra, &c, NULL), MLC_OK);
    assert_int_equal(strlen(cJSON_GetObjectItemCaseSensitive(c.customer, "name")->valuestring),
                     1024);
    sage_customer_free(&c);
    snprintf(extra, 2200, "{\"CustomerName\":\"%01025d\"}", 0);
    expect_perm(extra, "customer 1100: CustomerName: longer than 1024 bytes");
    snprintf(extra, 2200, "{\"CustomerNumber\":\"%065d\"}", 0);
    expect_perm(extra, "record: CustomerNumber: invalid (1-64 bytes of utf-8, no control "
                       "characters, not blank)");
    free(extra);

    /* cJSON passes raw bytes through; invalid UTF-8 is caught here */
    {
        cJSON *rec = cJSON_Parse(minimal);
        struct mlc_err err = {0};
        cJSON_AddStringToObject(rec, "City", "San\xff Diego");
        assert_int_equal(sage_customer_normalize(rec, NULL, &c, &err), MLC_PERM);
        assert_string_equal(err.msg, "customer 1100: City: not valid utf-8");
        cJSON_Delete(rec);
    }
}

static void terms_table(void **state)
{
    struct sage_terms *t = terms_fixture();
    struct mlc_err err = {0};
    cJSON *r1 = cJSON_Parse("{\"TermsCode\":\"2P10\",\"Description\":\"2% 10, net 30\"}");
    cJSON *r2 = cJSON_Parse("{\"TermsCode\":\"NODESC\",\"Description\":\"  \"}");
    cJSON *r3 = cJSON_Parse("{\"TermsCode\":5}");
    cJSON *r4 = cJSON_Parse("{\"Description\":\"x\"}");
    char code[16];

    assert_int_equal(sage_terms_add_record(t, r1, &err), MLC_OK);
    assert_int_equal(sage_terms_add_record(t, r2, &err), MLC_OK);
    assert_int_equal(sage_terms_add_record(t, r3, &err), MLC_PERM);
    assert_string_equal(err.msg, "terms: TermsCode: expected a string");
    assert_int_equal(sage_terms_add_record(t, r4, &err), MLC_PERM);
    assert_string_equal(err.msg, "terms: TermsCode: missing");
    assert_int_equal(sage_terms_add(t, "   ", "x", &err), MLC_PERM);
    assert_int_equal(sage_terms_count(t), 4);
    assert_string_equal(sage_terms_lookup(t, "2P10"), "2% 10, net 30");
    assert_string_equal(sage_terms_lookup(t, "COD   "), "Cash on delivery");
    assert_null(sage_terms_lookup(t, "NODESC"));
    assert_null(sage_terms_lookup(t, "N60"));
    assert_null(sage_terms_lookup(NULL, "N30"));
    /* a later record replaces the description */
    assert_int_equal(sage_terms_add(t, "N30", "Net thirty", &err), MLC_OK);
    assert_string_equal(sage_terms_lookup(t, "N30"), "Net thirty");
    assert_int_equal(sage_terms_count(t), 4);
    /* bounded */
    for (int i = 0; sage_terms_count(t) < SAGE_TERMS_MAX; i++) {
        snprintf(code, sizeof(code), "T%05d", i);
        assert_int_equal(sage_terms_add(t, code, "d", &err), MLC_OK);
    }
    assert_string_equal(sage_terms_lookup(t, "T00042"), "d");
    assert_int_equal(sage_terms_add(t, "ONEMORE", "d", &err), MLC_PERM);
    assert_string_equal(err.msg, "terms: more than 10000 codes");
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    cJSON_Delete(r3);
    cJSON_Delete(r4);
    sage_terms_free(t);
}

/* Decodes minimal plus extra and returns the canonical credit ("" none). */
static const char *credit_of(const char *extra, mlc_rc want)
{
    static char out[1024];
    char text[2048];
    cJSON *rec;
    struct sage_customer c;
    struct mlc_err err = {0};
    struct mlc_buf b;

    snprintf(text, sizeof(text), "%.*s,%s}", (int)strlen(minimal) - 1, minimal, extra);
    rec = cJSON_Parse(text);
    assert_non_null(rec);
    if (sage_customer_normalize(rec, NULL, &c, &err) != want)
        fail_msg("%s: %s", extra, err.msg);
    out[0] = '\0';
    if (want != MLC_OK)
        snprintf(out, sizeof(out), "%s", err.msg);
    else if (c.credit) {
        mlc_buf_init(&b, sizeof(out) - 1);
        assert_int_equal(mlc_event_canonical(c.credit, &b, NULL), MLC_OK);
        snprintf(out, sizeof(out), "%s", b.data);
        mlc_buf_free(&b);
    }
    sage_customer_free(&c);
    cJSON_Delete(rec);
    return out;
}

static void credit_picture_rules(void **state)
{
    (void)state;
    /* none of the amounts: no credit object */
    assert_string_equal(credit_of("\"DateOfLastInvoice\":null", MLC_OK), "");
    /* limit 1: 50 is 5000 % */
    assert_string_equal(
        credit_of("\"BalanceDueInCustomerCurrency\":50,\"AmountPastDue\":10,"
                  "\"NumberOfOpenDocuments\":1,\"DateOfLastInvoice\":\"2026-12-01T00:00:00-05:00\","
                  "\"DateOfLastReceipt\":null",
                  MLC_OK),
        "{\"amount_past_due\":10.000,\"balance_due\":50.000,\"credit_used_pct\":5000.000,"
        "\"last_invoice_date\":\"2026-12-01\",\"open_documents\":1.000}");
    assert_string_equal(
        credit_of("\"BalanceDueInCustomerCurrency\":5,\"AmountPastDue\":0", MLC_PERM),
        "customer 1100: NumberOfOpenDocuments: missing");
    assert_string_equal(credit_of("\"BalanceDueInCustomerCurrency\":\"5\",\"AmountPastDue\":0,"
                                  "\"NumberOfOpenDocuments\":0",
                                  MLC_PERM),
                        "customer 1100: BalanceDueInCustomerCurrency: expected a number");
    assert_string_equal(credit_of("\"BalanceDueInCustomerCurrency\":5,\"AmountPastDue\":1e15,"
                                  "\"NumberOfOpenDocuments\":0",
                                  MLC_PERM),
                        "customer 1100: AmountPastDue: out of range");
    assert_string_equal(credit_of("\"BalanceDueInCustomerCurrency\":5,\"AmountPastDue\":0,"
                                  "\"NumberOfOpenDocuments\":1.5",
                                  MLC_PERM),
                        "customer 1100: NumberOfOpenDocuments: expected a whole number 0-9999");
    assert_string_equal(
        credit_of("\"BalanceDueInCustomerCurrency\":5,\"AmountPastDue\":0,"
                  "\"NumberOfOpenDocuments\":0,\"DateOfLastReceipt\":\"2026-02-30\"",
                  MLC_PERM),
        "customer 1100: DateOfLastReceipt: not a date "
        "(YYYY-MM-DD[THH:MM:SS[Z|+HH:MM]])");
}

static void no_limit_has_no_credit_used_pct(void **state)
{
    cJSON *rec = cJSON_Parse("{\"CustomerNumber\":\"9\",\"Status\":\"Active\",\"OnHold\":\"No\","
                             "\"CreditLimitCustomerCurrency\":0,\"BalanceDueInCustomerCurrency\":5,"
                             "\"AmountPastDue\":0,\"NumberOfOpenDocuments\":1}");
    struct sage_customer c;

    (void)state;
    assert_int_equal(sage_customer_normalize(rec, NULL, &c, NULL), MLC_OK);
    assert_non_null(c.credit);
    assert_null(cJSON_GetObjectItem(c.credit, "credit_used_pct"));
    sage_customer_free(&c);
    cJSON_Delete(rec);
}

static void select_list_covers_every_mapped_property(void **state)
{
    /* a record holding only the $select properties normalises fully */
    cJSON *rec = cJSON_Parse(rec_1100), *slim = cJSON_CreateObject();
    struct sage_terms *t = terms_fixture();
    struct sage_customer full, part;
    char a[8192];

    for (size_t i = 0; i < sage_customer_property_count; i++) {
        cJSON *it = cJSON_GetObjectItemCaseSensitive(rec, sage_customer_properties[i]);
        if (it)
            cJSON_AddItemToObject(slim, sage_customer_properties[i], cJSON_Duplicate(it, 1));
    }
    assert_int_equal(sage_customer_normalize(rec, t, &full, NULL), MLC_OK);
    assert_int_equal(sage_customer_normalize(slim, t, &part, NULL), MLC_OK);
    snprintf(a, sizeof(a), "%s", canon(&full));
    assert_string_equal(a, canon(&part));
    /* the credit picture too */
    assert_non_null(part.credit);
    {
        struct mlc_buf x, y;
        mlc_buf_init(&x, 4096);
        mlc_buf_init(&y, 4096);
        assert_int_equal(mlc_event_canonical(full.credit, &x, NULL), MLC_OK);
        assert_int_equal(mlc_event_canonical(part.credit, &y, NULL), MLC_OK);
        assert_string_equal(x.data, y.data);
        mlc_buf_free(&x);
        mlc_buf_free(&y);
    }
    assert_string_equal(full.last_maintained, part.last_maintained);
    sage_customer_free(&full);
    sage_customer_free(&part);
    sage_terms_free(t);
    cJSON_Delete(rec);
    cJSON_Delete(slim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reference_record_1100),
        cmocka_unit_test(reference_record_1200_builds_a_valid_event),
        cmocka_unit_test(blanks_trimmed_and_empty_becomes_absent),
        cmocka_unit_test(awkward_text_is_kept),
        cmocka_unit_test(enums_and_booleans),
        cmocka_unit_test(dates_keep_their_calendar_day),
        cmocka_unit_test(wrong_types_name_the_property),
        cmocka_unit_test(missing_required_properties),
        cmocka_unit_test(oversize_and_invalid_text),
        cmocka_unit_test(terms_table),
        cmocka_unit_test(select_list_covers_every_mapped_property),
        cmocka_unit_test(credit_picture_rules),
        cmocka_unit_test(no_limit_has_no_credit_used_pct),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

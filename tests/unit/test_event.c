/* Unit tests of mlc_event: canonical form, hashes, build/encode, strict decode.
 *
 * When MLC_TEST_EVENT_DIR is set, every valid event encoded here is also
 * written there as <name>.json, so tests/integration/test_event_schema.py can
 * validate them against schemas/customer-change.v1.json. */
#include <setjmp.h> /* cmocka.h needs these three first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_err.h"
#include "mlc_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE       "https://erp.example/Sage300WebApi/v1.0/-/"
#define T_READ     1795851612 /* 2026-11-28T07:40:12Z */
#define T_EMIT     1795851613 /* 2026-11-28T07:40:13Z */
#define HASH_SMALL "a65795cac7d20c2f55237a34caefe640c7679f258fddb86ee46403c7e755671f"
#define ID_SMALL   "d41ba9f5fb8d74fd2590d935782145c8"
#define HASH_MISS  "ffa63583dfa6706b87d284b86b0d693a161e4840aad2c5cf6b5d27c3b9621f7d"
#define ID_MISS    "607fbfdb13955fa7460f90c6cf15ac9b"

static const char *full_customer_json =
    "{\"name\":\"Bargain Mart - San Diego\",\"short_name\":\"BARMART\","
    "\"address_line1\":\"4600 Shoreline Drive\",\"city\":\"San Diego\",\"state\":\"CA\","
    "\"postal_code\":\"92110\",\"country\":\"USA\",\"phone\":\"(619)555-0100\","
    "\"fax\":\"(619)555-0101\",\"email\":\"ap@bargainmart.example\","
    "\"website\":\"www.bargainmart.example\",\"contact_name\":\"Ellen Martinez\","
    "\"contact_phone\":\"(619)555-0102\",\"contact_email\":\"emartinez@bargainmart.example\","
    "\"terms_code\":\"N30\",\"terms_description\":\"Net 30 days\",\"credit_limit\":25000.0,"
    "\"currency\":\"USD\",\"group\":\"RTL\",\"status\":\"active\",\"on_hold\":false}";

static void save_event(const char *name, const struct mlc_buf *b)
{
    const char *dir = getenv("MLC_TEST_EVENT_DIR");
    char path[1024];
    FILE *f;

    if (!dir || !*dir)
        return;
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
    assert_int_equal(fclose(f), 0);
}

static cJSON *parse(const char *s)
{
    cJSON *j = cJSON_Parse(s);

    assert_non_null(j);
    return j;
}

/* Builds and encodes an upsert of customer (JSON text) into out. */
static void encode_upsert(const char *company, const char *number, const char *customer,
                          const char *last_maintained, struct mlc_buf *out)
{
    struct mlc_event_source src = {BASE, last_maintained, T_READ};
    struct mlc_err err = {0};
    cJSON *cust = parse(customer), *ev = NULL;

    assert_int_equal(mlc_event_build(company, number, cust, &src, T_EMIT, &ev, &err), MLC_OK);
    assert_int_equal(mlc_event_encode(ev, out, &err), MLC_OK);
    cJSON_Delete(ev);
    cJSON_Delete(cust);
}

static void canonical_sorts_keys_escapes_and_fixes_numbers(void **state)
{
    cJSON *j = parse("{\"b\":1,\"a\":\"x\\n\\u0001\\\"\\\\/\xc3\xbc\",\"c\":[true,null,-0.0],"
                     "\"B\":{\"z\":0.0005,\"y\":2.5}}");
    struct mlc_buf b;

    mlc_buf_init(&b, 4096);
    assert_int_equal(mlc_event_canonical(j, &b, NULL), MLC_OK);
    assert_string_equal(mlc_buf_str(&b), "{\"B\":{\"y\":2.500,\"z\":0.001},"
                                         "\"a\":\"x\\n\\u0001\\\"\\\\/\xc3\xbc\","
                                         "\"b\":1.000,\"c\":[true,null,0.000]}");
    mlc_buf_free(&b);
    cJSON_Delete(j);
}

static void canonical_refuses_duplicates_and_huge_numbers(void **state)
{
    struct mlc_err err = {0};
    struct mlc_buf b;
    cJSON *dup = parse("{\"a\":1,\"a\":2}");
    cJSON *big = parse("{\"a\":1e15}");

    mlc_buf_init(&b, 4096);
    assert_int_equal(mlc_event_canonical(dup, &b, &err), MLC_PERM);
    assert_string_equal(err.msg, "canonical json: duplicate key a");
    mlc_buf_reset(&b);
    assert_int_equal(mlc_event_canonical(big, &b, &err), MLC_PERM);
    assert_string_equal(err.msg, "canonical json: number out of range");
    mlc_buf_free(&b);
    cJSON_Delete(dup);
    cJSON_Delete(big);
}

/* Found by fuzzing (tests/fuzz/fuzz_event.c): an empty object, e.g. an
 * empty customer handed to mlc_event_build, made canon() call qsort with a
 * NULL array (undefined behaviour, UBSan: nonnull argument). */
static void canonical_empty_objects(void **state)
{
    struct mlc_event_source src = {BASE, "2024-03-18", T_READ};
    struct mlc_err err = {0};
    struct mlc_buf b;
    cJSON *j = parse("{\"a\":{},\"b\":[{}],\"c\":[]}"), *empty = parse("{}"), *e = NULL;
    char h[MLC_EVENT_HASH_HEX + 1];

    mlc_buf_init(&b, 4096);
    assert_int_equal(mlc_event_canonical(j, &b, NULL), MLC_OK);
    assert_string_equal(mlc_buf_str(&b), "{\"a\":{},\"b\":[{}],\"c\":[]}");
    mlc_buf_reset(&b);
    assert_int_equal(mlc_event_canonical(empty, &b, NULL), MLC_OK);
    assert_string_equal(mlc_buf_str(&b), "{}");
    /* sha256("{}") */
    assert_int_equal(mlc_event_content_hash(empty, h, NULL), MLC_OK);
    assert_string_equal(h, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    /* an empty customer is refused by the rules, not by a crash */
    assert_int_equal(mlc_event_build("SAMINC", "1", empty, &src, T_EMIT, &e, &err), MLC_PERM);
    assert_null(e);
    assert_true(strncmp(err.msg, "event: customer", 15) == 0);
    mlc_buf_free(&b);
    cJSON_Delete(j);
    cJSON_Delete(empty);
}

static void hashes_match_independent_sha256(void **state)
{
    /* expected values computed with python's hashlib from the documented rules */
    cJSON *a = parse("{\"status\":\"active\",\"on_hold\":false,\"name\":\"Bargain Mart\","
                     "\"credit_limit\":25000}");
    cJSON *b = parse("{\"credit_limit\":25000.000,\"name\":\"Bargain Mart\",\"on_hold\":false,"
                     "\"status\":\"active\"}");
    cJSON *c = parse("{\"credit_limit\":25000.01,\"name\":\"Bargain Mart\",\"on_hold\":false,"
                     "\"status\":\"active\"}");
    char h[MLC_EVENT_HASH_HEX + 1], h2[MLC_EVENT_HASH_HEX + 1], id[MLC_EVENT_ID_HEX + 1];

    assert_int_equal(mlc_event_content_hash(a, h, NULL), MLC_OK);
    assert_string_equal(h, HASH_SMALL);
    assert_int_equal(mlc_event_content_hash(b, h2, NULL), MLC_OK);
    assert_string_equal(h2, HASH_SMALL); /* key order and number spelling do not matter */
    assert_int_equal(mlc_event_content_hash(c, h2, NULL), MLC_OK);
    assert_string_not_equal(h2, HASH_SMALL); /* one cent does */
    assert_int_equal(mlc_event_id("SAMINC", "1100", MLC_EVENT_UPSERT, h, id, NULL), MLC_OK);
    assert_string_equal(id, ID_SMALL);
    assert_int_equal(mlc_event_content_hash(NULL, h, NULL), MLC_OK);
    assert_string_equal(h, HASH_MISS);
    assert_int_equal(mlc_event_id("SAMINC", "1100", MLC_EVENT_MISSING, h, id, NULL), MLC_OK);
    assert_string_equal(id, ID_MISS);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
}

static void key_rules(void **state)
{
    char key[MLC_EVENT_MAX_KEY + 1];
    struct mlc_err err = {0};

    assert_int_equal(mlc_event_key("SAMINC", " O'BRIEN 1", key, sizeof(key), &err), MLC_OK);
    assert_string_equal(key, "SAMINC: O'BRIEN 1");
    assert_int_equal(mlc_event_key("SAMINC", "A:B", key, sizeof(key), &err), MLC_OK);
    assert_string_equal(key, "SAMINC:A:B");
    assert_int_equal(mlc_event_key("SAM:INC", "1100", key, sizeof(key), &err), MLC_PERM);
    assert_int_equal(mlc_event_key("", "1100", key, sizeof(key), &err), MLC_PERM);
    assert_int_equal(mlc_event_key("SAMINC", "   ", key, sizeof(key), &err), MLC_PERM);
    assert_int_equal(mlc_event_key("SAMINC", "a\tb", key, sizeof(key), &err), MLC_PERM);
    assert_int_equal(mlc_event_key("SAMINC", "\xff", key, sizeof(key), &err), MLC_PERM);
}

static void upsert_round_trip(void **state)
{
    struct mlc_buf b;
    struct mlc_event ev;
    struct mlc_err err = {0};
    const cJSON *cl;
    char h[MLC_EVENT_HASH_HEX + 1];

    mlc_buf_init(&b, 1 << 20);
    encode_upsert("SAMINC", "1100", full_customer_json, "2024-03-18", &b);
    save_event("upsert_full", &b);
    assert_true(b.len < MLC_EVENT_MAX_BYTES);
    /* canonical wire form: sorted keys, no blanks, fixed decimals */
    assert_non_null(strstr(mlc_buf_str(&b), "\"credit_limit\":25000.000,\"currency\":\"USD\""));
    assert_true(strncmp(mlc_buf_str(&b), "{\"company\":\"SAMINC\",\"content_hash\":", 35) == 0);

    assert_int_equal(mlc_event_decode("SAMINC:1100", 11, b.data, b.len, &ev, &err), MLC_OK);
    assert_int_equal(ev.op, MLC_EVENT_UPSERT);
    assert_string_equal(ev.company, "SAMINC");
    assert_string_equal(ev.customer_number, "1100");
    assert_string_equal(ev.emitted_at, "2026-11-28T07:40:13Z");
    assert_string_equal(ev.read_at, "2026-11-28T07:40:12Z");
    assert_string_equal(ev.last_maintained, "2024-03-18");
    assert_string_equal(ev.base_url, BASE);
    cl = cJSON_GetObjectItemCaseSensitive(ev.customer, "credit_limit");
    assert_true(cJSON_IsNumber(cl) && cl->valuedouble == 25000.0);
    assert_int_equal(mlc_event_content_hash(ev.customer, h, NULL), MLC_OK);
    assert_string_equal(h, ev.content_hash);
    mlc_event_free(&ev);
    assert_null(ev.root);
    mlc_event_free(&ev); /* twice is harmless */
    mlc_buf_free(&b);
}

static void awkward_values_round_trip(void **state)
{
    struct mlc_buf b;
    struct mlc_event ev;
    struct mlc_err err = {0};
    const char *key = "SAMINC:O'BRIEN & S\xc3\xb6hne";

    mlc_buf_init(&b, 1 << 20);
    encode_upsert("SAMINC", "O'BRIEN & S\xc3\xb6hne",
                  "{\"name\":\"Caf\xc3\xa9 \\\"Z\xc3\xbcrich\\\" \xe6\x9d\xb1\xe4\xba\xac\","
                  "\"address_line1\":\"Line\\nTwo\",\"credit_limit\":-12.345,"
                  "\"status\":\"inactive\",\"on_hold\":true,\"inactive_date\":\"2024-02-29\"}",
                  NULL, &b);
    save_event("upsert_awkward", &b);
    assert_int_equal(mlc_event_decode(key, strlen(key), b.data, b.len, &ev, &err), MLC_OK);
    assert_null(ev.last_maintained);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ev.customer, "name")->valuestring,
                        "Caf\xc3\xa9 \"Z\xc3\xbcrich\" \xe6\x9d\xb1\xe4\xba\xac");
    mlc_event_free(&ev);
    mlc_buf_free(&b);
}

static void missing_event(void **state)
{
    struct mlc_event_source src = {BASE, NULL, T_READ};
    struct mlc_buf b;
    struct mlc_event ev;
    struct mlc_err err = {0};
    cJSON *e = NULL;

    mlc_buf_init(&b, 1 << 20);
    assert_int_equal(mlc_event_build("SAMINC", "1100", NULL, &src, T_EMIT, &e, &err), MLC_OK);
    assert_int_equal(mlc_event_encode(e, &b, &err), MLC_OK);
    save_event("missing", &b);
    assert_null(strstr(mlc_buf_str(&b), "\"customer\""));
    assert_non_null(strstr(mlc_buf_str(&b), "\"last_maintained\":null"));
    assert_int_equal(mlc_event_decode("SAMINC:1100", 11, b.data, b.len, &ev, &err), MLC_OK);
    assert_int_equal(ev.op, MLC_EVENT_MISSING);
    assert_null(ev.customer);
    assert_string_equal(ev.content_hash, HASH_MISS);
    assert_string_equal(ev.event_id, ID_MISS);
    mlc_event_free(&ev);
    cJSON_Delete(e);
    mlc_buf_free(&b);
}

static void build_refuses_bad_input(void **state)
{
    struct mlc_event_source src = {BASE, "2024-03-18", T_READ};
    struct mlc_event_source cred = {"https://user:pw@erp/", NULL, T_READ};
    struct mlc_err err = {0};
    cJSON *e = NULL;
    cJSON *c1 = parse("{\"credit_limit\":\"25000\",\"status\":\"active\",\"on_hold\":false}");
    cJSON *c2 = parse("{\"credit_limit\":1,\"status\":\"active\",\"on_hold\":false,\"x\":1}");
    cJSON *c3 = parse("{\"credit_limit\":1,\"status\":\"active\",\"on_hold\":false}");

    assert_int_equal(mlc_event_build("SAMINC", "1", c1, &src, T_EMIT, &e, &err), MLC_PERM);
    assert_string_equal(err.msg, "event: customer.credit_limit: expected a number");
    assert_null(e);
    assert_int_equal(mlc_event_build("SAMINC", "1", c2, &src, T_EMIT, &e, &err), MLC_PERM);
    assert_string_equal(err.msg, "event: customer.x: unknown key");
    assert_int_equal(mlc_event_build("SAMINC", "1", c3, &cred, T_EMIT, &e, &err), MLC_PERM);
    assert_string_equal(err.msg,
                        "event: source.base_url: expected an http(s) url without credentials");
    src.last_maintained = "2024-3-18";
    assert_int_equal(mlc_event_build("SAMINC", "1", c3, &src, T_EMIT, &e, &err), MLC_PERM);
    assert_string_equal(err.msg,
                        "event: source.last_maintained: expected a date YYYY-MM-DD or null");
    assert_null(e);
    cJSON_Delete(c1);
    cJSON_Delete(c2);
    cJSON_Delete(c3);
}

static void encode_refuses_oversize_event(void **state)
{
    static const char *const fields[] = {
        "name",          "short_name", "address_line1", "address_line2", "address_line3",
        "address_line4", "city",       "state",         "postal_code",   "country",
        "phone",         "fax",        "email",         "website",       "contact_name"};
    struct mlc_event_source src = {BASE, NULL, T_READ};
    struct mlc_buf b;
    struct mlc_err err = {0};
    cJSON *c = parse("{\"credit_limit\":1,\"status\":\"active\",\"on_hold\":false}"), *e = NULL;
    char big[1025];

    memset(big, 'x', 1024);
    big[1024] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
        cJSON_AddStringToObject(c, fields[i], big);
    big[400] = '\0';
    cJSON_AddStringToObject(c, "contact_phone", big);
    mlc_buf_init(&b, 1 << 20);
    /* the customer fits the cap, the whole event does not */
    assert_int_equal(mlc_event_build("SAMINC", "1", c, &src, T_EMIT, &e, &err), MLC_OK);
    assert_int_equal(mlc_event_encode(e, &b, &err), MLC_PERM);
    assert_non_null(strstr(err.msg, "exceeds 16384"));
    assert_int_equal(b.len, 0);
    cJSON_Delete(e);
    e = NULL;
    /* a customer over the cap is refused when it is hashed */
    cJSON_AddStringToObject(c, "contact_email", big);
    cJSON_AddStringToObject(c, "terms_description", big);
    assert_int_equal(mlc_event_build("SAMINC", "1", c, &src, T_EMIT, &e, &err), MLC_PERM);
    assert_string_equal(err.msg, "event: customer: canonical json: output size cap reached");
    assert_null(e);
    cJSON_Delete(e);
    cJSON_Delete(c);
    mlc_buf_free(&b);
}

/* Decodes text (with the right key) and checks the exact reason. */
static void expect_reject(const char *key, const char *text, const char *reason)
{
    struct mlc_event ev;
    struct mlc_err err = {0};
    mlc_rc rc = mlc_event_decode(key, key ? strlen(key) : 0, text, strlen(text), &ev, &err);

    if (rc != MLC_PERM || strcmp(err.msg, reason) != 0)
        fail_msg("rc %d, reason \"%s\", expected \"%s\"", rc, err.msg, reason);
    assert_null(ev.root);
}

static const char *credit_json =
    "{\"balance_due\":12000.5,\"amount_past_due\":1500.0,\"credit_used_pct\":48.002,"
    "\"open_documents\":3,\"last_invoice_date\":\"2026-11-20\","
    "\"last_receipt_date\":\"2026-10-31\"}";

/* Builds and encodes a v2 upsert of customer and credit (JSON texts). */
static void encode_upsert_v2(const char *number, const char *customer, const char *credit,
                             struct mlc_buf *out)
{
    struct mlc_event_source src = {BASE, "2024-03-18", T_READ};
    struct mlc_err err = {0};
    cJSON *cust = parse(customer), *cr = parse(credit), *ev = NULL;

    if (mlc_event_build_version(2, "SAMINC", number, cust, cr, &src, T_EMIT, &ev, &err) != MLC_OK)
        fail_msg("build v2: %s", err.msg);
    if (mlc_event_encode(ev, out, &err) != MLC_OK)
        fail_msg("encode v2: %s", err.msg);
    cJSON_Delete(ev);
    cJSON_Delete(cust);
    cJSON_Delete(cr);
}

/* Applies edit (a JSON object merged into the valid event of version, with
 * "customer", "credit" and "source" merged one level deeper; a null value
 * removes the key), then expects the decoder to refuse it with reason. */
static void reject_edit_v(int version, const char *edit, const char *reason)
{
    struct mlc_buf b;
    cJSON *ev, *patch, *p;
    char *text;

    mlc_buf_init(&b, 1 << 20);
    if (version == 1)
        encode_upsert("SAMINC", "1100", full_customer_json, "2024-03-18", &b);
    else
        encode_upsert_v2("1100", full_customer_json, credit_json, &b);
    ev = parse(b.data);
    patch = parse(edit);
    cJSON_ArrayForEach(p, patch)
    {
        cJSON *target = ev;
        const cJSON *v = p;
        if ((strcmp(p->string, "customer") == 0 || strcmp(p->string, "source") == 0 ||
             strcmp(p->string, "credit") == 0) &&
            cJSON_IsObject(p) && cJSON_GetObjectItem(ev, p->string)) {
            target = cJSON_GetObjectItem(ev, p->string);
            cJSON_ArrayForEach(v, p)
            {
                cJSON_DeleteItemFromObjectCaseSensitive(target, v->string);
                if (!cJSON_IsNull(v) || strcmp(v->string, "last_maintained") == 0)
                    cJSON_AddItemToObject(target, v->string, cJSON_Duplicate(v, 1));
            }
            continue;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
        if (!cJSON_IsNull(v))
            cJSON_AddItemToObject(target, p->string, cJSON_Duplicate(v, 1));
    }
    text = cJSON_PrintUnformatted(ev);
    expect_reject("SAMINC:1100", text, reason);
    free(text);
    cJSON_Delete(patch);
    cJSON_Delete(ev);
    mlc_buf_free(&b);
}

static void reject_edit(const char *edit, const char *reason)
{
    reject_edit_v(1, edit, reason);
}

static void decode_names_what_is_wrong(void **state)
{
    reject_edit("{\"customer\":{\"credit_limit\":\"25000\"}}",
                "event: customer.credit_limit: expected a number");
    reject_edit("{\"op\":\"delete\"}", "event: op: expected one of upsert, missing");
    reject_edit("{\"op\":null}", "event: op: is required");
    reject_edit("{\"foo\":1}", "event: foo: unknown key");
    reject_edit("{\"schema\":\"sage300.customer-change.v2\"}",
                "event: credit: is required when op is upsert");
    reject_edit("{\"schema\":5}", "event: schema: expected a string");
    reject_edit("{\"event_id\":\"D41BA9F5FB8D74FD2590D935782145C8\"}",
                "event: event_id: expected 32 lower-case hex characters");
    reject_edit("{\"content_hash\":\"" HASH_SMALL "\"}",
                "event: content_hash: does not match the canonical customer");
    reject_edit("{\"event_id\":\"" ID_SMALL "\"}",
                "event: event_id: does not match company, customer_number, op and hash");
    reject_edit("{\"content_hash\":\"abc\"}",
                "event: content_hash: expected 64 lower-case hex characters");
    reject_edit("{\"company\":\"SAM INC\"}", "event: company: expected 1-32 of [A-Za-z0-9_-]");
    reject_edit("{\"customer_number\":\"\"}",
                "event: customer_number: expected 1-64 bytes of utf-8 without control "
                "characters, not blank");
    reject_edit("{\"emitted_at\":\"2026-11-28 07:40:13\"}",
                "event: emitted_at: expected a utc time YYYY-MM-DDTHH:MM:SSZ");
    reject_edit("{\"customer\":null}", "event: customer: is required when op is upsert");
    reject_edit("{\"customer\":[]}", "event: customer: expected an object");
    reject_edit("{\"customer\":{\"name\":\"\"}}",
                "event: customer.name: empty string (omit the key instead)");
    reject_edit("{\"customer\":{\"city\":5}}", "event: customer.city: expected a string");
    reject_edit("{\"customer\":{\"status\":\"Active\"}}",
                "event: customer.status: expected one of active, inactive");
    reject_edit("{\"customer\":{\"on_hold\":\"No\"}}",
                "event: customer.on_hold: expected true or false");
    reject_edit("{\"customer\":{\"inactive_date\":\"2023-02-29\"}}",
                "event: customer.inactive_date: expected a date YYYY-MM-DD");
    reject_edit("{\"customer\":{\"notes\":\"x\"}}", "event: customer.notes: unknown key");
    reject_edit("{\"source\":{\"last_maintained\":\"2024-03-18T00:00:00Z\"}}",
                "event: source.last_maintained: expected a date YYYY-MM-DD or null");
    reject_edit("{\"source\":{\"read_at\":null}}",
                "event: source.read_at: expected a utc time YYYY-MM-DDTHH:MM:SSZ");
    reject_edit("{\"source\":{\"base_url\":\"ftp://erp/\"}}",
                "event: source.base_url: expected an http(s) url without credentials");
    reject_edit("{\"source\":{\"extra\":1}}", "event: source.extra: unknown key");
    reject_edit("{\"source\":null}", "event: source: is required");
    reject_edit("{\"op\":\"missing\"}", "event: customer: must be absent when op is missing");
}

static void decode_rejects_oversize_strings(void **state)
{
    char edit[1200];

    snprintf(edit, sizeof(edit), "{\"customer\":{\"name\":\"%01025d\"}}", 0);
    reject_edit(edit, "event: customer.name: longer than 1024 bytes");
}

static void decode_checks_envelope_and_key(void **state)
{
    struct mlc_buf b;
    char *big, *dup;
    struct mlc_event ev;
    struct mlc_err err = {0};

    mlc_buf_init(&b, 1 << 20);
    encode_upsert("SAMINC", "1100", full_customer_json, "2024-03-18", &b);

    expect_reject("SAMINC:1101", b.data, "event: kafka key does not equal company:customer_number");
    expect_reject("SAMINC:1100 ", b.data,
                  "event: kafka key does not equal company:customer_number");
    expect_reject("saminc:1100", b.data, "event: kafka key does not equal company:customer_number");
    /* no key: tools replaying a value */
    assert_int_equal(mlc_event_decode(NULL, 0, b.data, b.len, &ev, &err), MLC_OK);
    mlc_event_free(&ev);

    expect_reject("SAMINC:1100", "", "event: empty value");
    expect_reject("SAMINC:1100", "[]", "event: expected a json object");
    expect_reject("SAMINC:1100", "{\"schema\":\xff}", "event: value is not valid utf-8");
    /* truncated: the closing brace is lost */
    assert_int_equal(mlc_event_decode("SAMINC:1100", 11, b.data, b.len - 1, &ev, &err), MLC_PERM);
    assert_non_null(strstr(err.msg, "event: invalid json near byte"));

    /* trailing garbage and an embedded NUL */
    assert_int_equal(mlc_buf_puts(&b, "x"), MLC_OK);
    assert_int_equal(mlc_event_decode("SAMINC:1100", 11, b.data, b.len, &ev, &err), MLC_PERM);
    assert_non_null(strstr(err.msg, "event: invalid json near byte"));
    b.data[b.len - 1] = '\0';
    assert_int_equal(mlc_event_decode("SAMINC:1100", 11, b.data, b.len, &ev, &err), MLC_PERM);
    assert_string_equal(err.msg, "event: value contains a nul byte");
    b.len--;

    /* a duplicate "op" must not let a parser pick either one */
    dup = malloc(b.len + 32);
    assert_non_null(dup);
    snprintf(dup, b.len + 32, "{\"op\":\"missing\",%s", b.data + 1);
    expect_reject("SAMINC:1100", dup, "event: op: duplicate key");
    free(dup);

    big = malloc(MLC_EVENT_MAX_BYTES + 2);
    assert_non_null(big);
    memset(big, ' ', MLC_EVENT_MAX_BYTES + 1);
    memcpy(big, b.data, b.len);
    big[MLC_EVENT_MAX_BYTES + 1] = '\0';
    expect_reject("SAMINC:1100", big, "event: value is 16385 bytes, more than 16384");
    big[MLC_EVENT_MAX_BYTES] = '\0'; /* exactly at the cap, padded with blanks: fine */
    assert_int_equal(mlc_event_decode("SAMINC:1100", 11, big, MLC_EVENT_MAX_BYTES, &ev, &err),
                     MLC_OK);
    mlc_event_free(&ev);
    free(big);
    mlc_buf_free(&b);
}

/* v2: the credit object travels with the customer, the hash covers both. */
static void v2_upsert_round_trip(void **state)
{
    struct mlc_buf b, canon;
    struct mlc_event ev;
    struct mlc_err err = {0};
    char h[MLC_EVENT_HASH_HEX + 1], h1[MLC_EVENT_HASH_HEX + 1];
    cJSON *both;

    (void)state;
    mlc_buf_init(&b, 1 << 20);
    mlc_buf_init(&canon, 1 << 20);
    encode_upsert_v2("1100", full_customer_json, credit_json, &b);
    save_event("v2_upsert_full", &b);
    assert_non_null(strstr(b.data, "\"schema\":\"sage300.customer-change.v2\""));
    assert_non_null(strstr(b.data,
                           "\"credit\":{\"amount_past_due\":1500.000,\"balance_due\":"
                           "12000.500,\"credit_used_pct\":48.002,"
                           "\"last_invoice_date\":\"2026-11-20\","
                           "\"last_receipt_date\":\"2026-10-31\",\"open_documents\":3.000}"));
    if (mlc_event_decode("SAMINC:1100", 11, b.data, b.len, &ev, &err) != MLC_OK)
        fail_msg("decode: %s", err.msg);
    assert_int_equal(ev.version, 2);
    assert_non_null(ev.credit);
    /* content_hash = sha256(canonical({"credit":..., "customer":...})) */
    both = cJSON_CreateObject();
    cJSON_AddItemToObject(both, "customer", cJSON_Duplicate(ev.customer, 1));
    cJSON_AddItemToObject(both, "credit", cJSON_Duplicate(ev.credit, 1));
    assert_int_equal(mlc_event_content_hash(both, h, NULL), MLC_OK);
    assert_string_equal(ev.content_hash, h);
    /* ... which differs from v1's hash of the customer alone */
    assert_int_equal(mlc_event_content_hash(ev.customer, h1, NULL), MLC_OK);
    assert_string_not_equal(h, h1);
    cJSON_Delete(both);
    mlc_event_free(&ev);
    mlc_buf_free(&b);
    mlc_buf_free(&canon);
}

/* No credit limit: credit_used_pct is absent; no invoice ever: no dates. */
static void v2_no_limit_and_missing(void **state)
{
    struct mlc_event_source src = {BASE, NULL, T_READ};
    struct mlc_buf b;
    struct mlc_event ev;
    struct mlc_err err = {0};
    cJSON *e = NULL, *cr = parse("{\"balance_due\":0,\"amount_past_due\":0,\"open_documents\":0}");

    (void)state;
    mlc_buf_init(&b, 1 << 20);
    encode_upsert_v2("NOLIMIT", "{\"credit_limit\":0,\"status\":\"active\",\"on_hold\":true}",
                     "{\"balance_due\":0,\"amount_past_due\":0,\"open_documents\":0}", &b);
    save_event("v2_upsert_nolimit", &b);
    assert_int_equal(mlc_event_decode("SAMINC:NOLIMIT", 14, b.data, b.len, &ev, &err), MLC_OK);
    assert_null(cJSON_GetObjectItem(ev.credit, "credit_used_pct"));
    mlc_event_free(&ev);

    /* missing: no customer, no credit, the same hash as v1 */
    assert_int_equal(
        mlc_event_build_version(2, "SAMINC", "1100", NULL, NULL, &src, T_EMIT, &e, &err), MLC_OK);
    assert_int_equal(mlc_event_encode(e, &b, &err), MLC_OK);
    save_event("v2_missing", &b);
    assert_non_null(strstr(b.data, "\"content_hash\":\"" HASH_MISS "\""));
    assert_int_equal(mlc_event_decode("SAMINC:1100", 11, b.data, b.len, &ev, &err), MLC_OK);
    assert_int_equal(ev.version, 2);
    assert_null(ev.credit);
    mlc_event_free(&ev);
    cJSON_Delete(e);
    e = NULL;
    /* a missing event with credit, an upsert without, an unknown version */
    assert_int_equal(mlc_event_build_version(2, "SAMINC", "1100", NULL, cr, &src, T_EMIT, &e, &err),
                     MLC_PERM);
    assert_string_equal(err.msg, "event: credit: must be absent when op is missing");
    assert_int_equal(
        mlc_event_build_version(3, "SAMINC", "1100", NULL, NULL, &src, T_EMIT, &e, &err), MLC_PERM);
    assert_string_equal(err.msg, "event: version 3: expected 1 or 2");
    assert_null(e);
    cJSON_Delete(cr);
    mlc_buf_free(&b);
}

/* The version pin: build_version(1) writes exactly what mlc_event_build writes. */
static void v1_pin_ignores_credit(void **state)
{
    struct mlc_event_source src = {BASE, "2024-03-18", T_READ};
    struct mlc_buf a, b;
    struct mlc_err err = {0};
    cJSON *cust = parse(full_customer_json), *cr = parse(credit_json), *e1 = NULL, *e2 = NULL;

    (void)state;
    mlc_buf_init(&a, 1 << 20);
    mlc_buf_init(&b, 1 << 20);
    assert_int_equal(mlc_event_build("SAMINC", "1100", cust, &src, T_EMIT, &e1, &err), MLC_OK);
    assert_int_equal(
        mlc_event_build_version(1, "SAMINC", "1100", cust, cr, &src, T_EMIT, &e2, &err), MLC_OK);
    assert_int_equal(mlc_event_encode(e1, &a, &err), MLC_OK);
    assert_int_equal(mlc_event_encode(e2, &b, &err), MLC_OK);
    assert_string_equal(a.data, b.data);
    assert_null(strstr(b.data, "credit\":{"));
    cJSON_Delete(e1);
    cJSON_Delete(e2);
    cJSON_Delete(cust);
    cJSON_Delete(cr);
    mlc_buf_free(&a);
    mlc_buf_free(&b);
}

static void v2_decode_names_what_is_wrong(void **state)
{
    (void)state;
    reject_edit_v(2, "{\"credit\":null}", "event: credit: is required when op is upsert");
    reject_edit_v(2, "{\"credit\":[]}", "event: credit: expected an object");
    reject_edit_v(2, "{\"credit\":{\"balance_due\":null}}",
                  "event: credit.balance_due: is required");
    reject_edit_v(2, "{\"credit\":{\"balance_due\":\"12\"}}",
                  "event: credit.balance_due: expected a number");
    reject_edit_v(2, "{\"credit\":{\"amount_past_due\":1e16}}",
                  "event: credit.amount_past_due: number out of range");
    reject_edit_v(2, "{\"credit\":{\"open_documents\":2.5}}",
                  "event: credit.open_documents: expected a whole number 0-9999");
    reject_edit_v(2, "{\"credit\":{\"open_documents\":-1}}",
                  "event: credit.open_documents: expected a whole number 0-9999");
    reject_edit_v(2, "{\"credit\":{\"open_documents\":10000}}",
                  "event: credit.open_documents: expected a whole number 0-9999");
    reject_edit_v(2, "{\"credit\":{\"credit_used_pct\":1000001}}",
                  "event: credit.credit_used_pct: number out of range");
    reject_edit_v(2, "{\"credit\":{\"credit_used_pct\":null}}",
                  "event: credit.credit_used_pct: is required when customer.credit_limit > 0");
    reject_edit_v(2, "{\"customer\":{\"credit_limit\":0}}",
                  "event: credit.credit_used_pct: must be absent when customer.credit_limit is 0 "
                  "(no limit)");
    reject_edit_v(2, "{\"credit\":{\"last_invoice_date\":\"2026-02-30\"}}",
                  "event: credit.last_invoice_date: expected a date YYYY-MM-DD");
    reject_edit_v(2, "{\"credit\":{\"last_receipt_date\":\"\"}}",
                  "event: credit.last_receipt_date: expected a date YYYY-MM-DD");
    reject_edit_v(2, "{\"credit\":{\"on_hold\":true}}", "event: credit.on_hold: unknown key");
    reject_edit_v(2, "{\"credit\":{\"balance_due\":12000.4}}",
                  "event: content_hash: does not match the canonical credit and customer");
    reject_edit_v(2, "{\"op\":\"missing\",\"customer\":null}",
                  "event: credit: must be absent when op is missing");
    /* v1 does not know the key */
    reject_edit_v(1, "{\"credit\":{\"balance_due\":1}}", "event: credit: unknown key");
}

/* ADR 0008 decision 3: an unknown version is refused by name, classed apart. */
static void unknown_version_is_unsupported(void **state)
{
    struct mlc_err err = {0};

    (void)state;
    reject_edit_v(2, "{\"schema\":\"sage300.customer-change.v3\"}",
                  "event: schema: unsupported version \"sage300.customer-change.v3\" (this build "
                  "reads sage300.customer-change.v1 and sage300.customer-change.v2)");
    reject_edit_v(1, "{\"schema\":\"other\"}",
                  "event: schema: unsupported version \"other\" (this build reads "
                  "sage300.customer-change.v1 and sage300.customer-change.v2)");
    reject_edit_v(1, "{\"schema\":null}", "event: schema: is required");
    mlc_err_set(&err, MLC_PERM, "%s", MLC_EVENT_ERR_UNSUPPORTED " \"x\"");
    assert_string_equal(mlc_event_error_class(&err), "unsupported_version");
    mlc_err_set(&err, MLC_PERM, "event: credit: is required when op is upsert");
    assert_string_equal(mlc_event_error_class(&err), "invalid_event");
    assert_string_equal(mlc_event_error_class(NULL), "invalid_event");
}

static void credit_used_pct_rule(void **state)
{
    double p = -1;

    (void)state;
    assert_true(mlc_event_credit_used_pct(12000.5, 25000, &p));
    assert_true(p > 48.0019 && p < 48.0021);
    assert_true(mlc_event_credit_used_pct(-500, 1000, &p));
    assert_true(p > -50.0001 && p < -49.9999);
    assert_false(mlc_event_credit_used_pct(100, 0, &p)); /* no limit */
    assert_false(mlc_event_credit_used_pct(100, -5, &p));
    assert_true(mlc_event_credit_used_pct(9e14, 0.001, &p)); /* clamped */
    assert_true(p == MLC_EVENT_MAX_PCT);
    assert_true(mlc_event_credit_used_pct(-9e14, 0.001, &p));
    assert_true(p == -MLC_EVENT_MAX_PCT);
}

/* The golden events of tests/fixtures/events/vN/ decode as version N. */
static void golden_fixtures_decode(void **state)
{
    const char *src = getenv("MLC_TEST_SRCDIR");
    static const char *const files[] = {"v1/upsert_full.json",    "v1/upsert_awkward.json",
                                        "v1/missing.json",        "v2/upsert_full.json",
                                        "v2/upsert_nolimit.json", "v2/missing.json"};
    (void)state;
    if (!src || !*src)
        src = ".";
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char path[1024], data[MLC_EVENT_MAX_BYTES + 1], key[MLC_EVENT_MAX_KEY + 1];
        struct mlc_event ev;
        struct mlc_err err = {0};
        size_t n;
        FILE *f;

        snprintf(path, sizeof(path), "%s/tests/fixtures/events/%s", src, files[i]);
        if (!(f = fopen(path, "rb")))
            fail_msg("cannot open %s", path);
        n = fread(data, 1, sizeof(data) - 1, f);
        fclose(f);
        while (n > 0 && data[n - 1] == '\n')
            n--;
        data[n] = '\0';
        if (mlc_event_decode(NULL, 0, data, n, &ev, &err) != MLC_OK)
            fail_msg("%s: %s", files[i], err.msg);
        assert_int_equal(ev.version, files[i][1] - '0');
        assert_int_equal(mlc_event_key(ev.company, ev.customer_number, key, sizeof(key), NULL),
                         MLC_OK);
        mlc_event_free(&ev);
        assert_int_equal(mlc_event_decode(key, strlen(key), data, n, &ev, &err), MLC_OK);
        assert_true((ev.credit != NULL) == (ev.version == 2 && ev.op == MLC_EVENT_UPSERT));
        mlc_event_free(&ev);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(canonical_sorts_keys_escapes_and_fixes_numbers),
        cmocka_unit_test(canonical_refuses_duplicates_and_huge_numbers),
        cmocka_unit_test(canonical_empty_objects),
        cmocka_unit_test(hashes_match_independent_sha256),
        cmocka_unit_test(key_rules),
        cmocka_unit_test(upsert_round_trip),
        cmocka_unit_test(awkward_values_round_trip),
        cmocka_unit_test(missing_event),
        cmocka_unit_test(build_refuses_bad_input),
        cmocka_unit_test(encode_refuses_oversize_event),
        cmocka_unit_test(decode_names_what_is_wrong),
        cmocka_unit_test(decode_rejects_oversize_strings),
        cmocka_unit_test(decode_checks_envelope_and_key),
        cmocka_unit_test(v2_upsert_round_trip),
        cmocka_unit_test(v2_no_limit_and_missing),
        cmocka_unit_test(v1_pin_ignores_credit),
        cmocka_unit_test(v2_decode_names_what_is_wrong),
        cmocka_unit_test(unknown_version_is_unsupported),
        cmocka_unit_test(credit_used_pct_rule),
        cmocka_unit_test(golden_fixtures_decode),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

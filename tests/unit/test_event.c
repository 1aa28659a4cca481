/* Unit tests of mlc_event: canonical form, hashes, build/encode, strict decode.
 *
 * When MLC_TEST_EVENT_DIR is set, every valid event encoded here is also
 * written there as <name>.json, so tests/integration/test_event_schema.py can
 * validate them against schemas/customer-change.v1.json. */
#include <setjmp.h> /* cmocka.h needs these three first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

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
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
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

/* Applies edit (a JSON object merged into the valid event, with "customer"
 * and "source" merged one level deeper; a null value removes the key), then
 * expects the decoder to refuse it with reason. */
static void reject_edit(const char *edit, const char *reason)
{
    struct mlc_buf b;
    cJSON *ev, *patch, *p;
    char *text;

    mlc_buf_init(&b, 1 << 20);
    encode_upsert("SAMINC", "1100", full_customer_json, "2024-03-18", &b);
    ev = parse(b.data);
    patch = parse(edit);
    cJSON_ArrayForEach(p, patch)
    {
        cJSON *target = ev;
        const cJSON *v = p;
        if ((strcmp(p->string, "customer") == 0 || strcmp(p->string, "source") == 0) &&
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

static void decode_names_what_is_wrong(void **state)
{
    reject_edit("{\"customer\":{\"credit_limit\":\"25000\"}}",
                "event: customer.credit_limit: expected a number");
    reject_edit("{\"op\":\"delete\"}", "event: op: expected one of upsert, missing");
    reject_edit("{\"op\":null}", "event: op: is required");
    reject_edit("{\"foo\":1}", "event: foo: unknown key");
    reject_edit("{\"schema\":\"sage300.customer-change.v2\"}",
                "event: schema: expected \"sage300.customer-change.v1\"");
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

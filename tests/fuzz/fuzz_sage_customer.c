/* fuzz_sage_customer.c - libFuzzer target for sage_customer_normalize
 * (extractor/sage_customer.h): one Sage 300 ARCustomers record -> the event's
 * canonical customer.
 *
 * Input: byte 0 picks options (bit 0: look terms up in a fixed ARTerms table
 * with "N30", "COD" and "2/10 N30"; bit 1: first add the record itself to that
 * table as an ARTerms record, sage_terms_add_record); the rest is the record's
 * JSON, parsed with cJSON as the page parser does.
 *
 * Properties checked besides memory errors and UB:
 *   - MLC_OK or MLC_PERM only (MLC_FATAL only when out of memory);
 *   - failure: a message of one line (no control character), no customer,
 *     no last_maintained, and number holding CustomerNumber exactly when it
 *     was a valid one ("" otherwise); the message then names "customer N";
 *   - success: number equals CustomerNumber byte for byte and is valid; the
 *     customer has only known keys; every string is non-empty, trimmed of
 *     ASCII blanks, valid UTF-8 and at most MLC_EVENT_MAX_STRING bytes;
 *     status is active/inactive, on_hold a boolean, credit_limit the record's
 *     number (finite, below MLC_EVENT_MAX_AMOUNT); inactive_date and
 *     last_maintained are real YYYY-MM-DD dates or absent/"";
 *     terms_description present exactly when the table knows terms_code;
 *   - the extractor never emits what the loader refuses: mlc_event_build of
 *     the normalised customer succeeds (or refuses only for size), and its
 *     encoding decodes with the same content_hash.
 */
#include "fuzz_common.h"

#include "mlc_alloc.h"
#include "mlc_event.h"
#include "mlc_str.h"
#include "sage_customer.h"

#include <math.h>
#include <string.h>

static const char *const known_keys[] = {
    "name",          "short_name",    "address_line1", "address_line2", "address_line3",
    "address_line4", "city",          "state",         "postal_code",   "country",
    "phone",         "fax",           "email",         "website",       "contact_name",
    "contact_phone", "contact_email", "terms_code",    "currency",      "group",
    "credit_limit",  "status",        "on_hold",       "inactive_date", "terms_description",
};

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool known(const char *k)
{
    for (size_t i = 0; i < ARRAY_SIZE(known_keys); i++)
        if (strcmp(k, known_keys[i]) == 0)
            return true;
    return false;
}

static void check_one_line(const char *msg)
{
    FUZZ_CHECK(msg[0] != '\0', "failure without a message");
    for (const char *p = msg; *p; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte 0x%02x in message: %s",
                   (unsigned char)*p, msg);
}

static void check_customer(const cJSON *rec, const struct sage_customer *c,
                           const struct sage_terms *terms)
{
    const cJSON *it, *num = cJSON_GetObjectItemCaseSensitive(rec, "CustomerNumber");
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(rec, "CreditLimitCustomerCurrency");
    const char *desc;
    size_t n;

    FUZZ_CHECK(cJSON_IsString(num) && strcmp(num->valuestring, c->number) == 0,
               "number is not CustomerNumber as sent");
    FUZZ_CHECK(mlc_event_number_valid(c->number), "invalid number accepted");
    FUZZ_CHECK(cJSON_IsObject(c->customer), "no customer object");
    FUZZ_CHECK(!c->last_maintained[0] || mlc_event_date_valid(c->last_maintained),
               "last_maintained %s", c->last_maintained);
    cJSON_ArrayForEach(it, c->customer)
    {
        FUZZ_CHECK(it->string && known(it->string), "unknown key %s", it->string);
        if (cJSON_IsString(it)) {
            n = strlen(it->valuestring);
            FUZZ_CHECK(n > 0, "%s: empty string kept", it->string);
            FUZZ_CHECK(n <= MLC_EVENT_MAX_STRING, "%s: %zu bytes", it->string, n);
            FUZZ_CHECK(!blank(it->valuestring[0]) && !blank(it->valuestring[n - 1]),
                       "%s: not trimmed", it->string);
            FUZZ_CHECK(mlc_utf8_valid(it->valuestring, n), "%s: invalid utf-8", it->string);
        } else {
            FUZZ_CHECK(cJSON_IsNumber(it) || cJSON_IsBool(it), "%s: type %d", it->string, it->type);
        }
    }
    it = cJSON_GetObjectItemCaseSensitive(c->customer, "status");
    FUZZ_CHECK(cJSON_IsString(it) && (strcmp(it->valuestring, "active") == 0 ||
                                      strcmp(it->valuestring, "inactive") == 0),
               "status");
    FUZZ_CHECK(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(c->customer, "on_hold")), "on_hold");
    it = cJSON_GetObjectItemCaseSensitive(c->customer, "credit_limit");
    FUZZ_CHECK(cJSON_IsNumber(it) && cJSON_IsNumber(limit) && isfinite(it->valuedouble) &&
                   fabs(it->valuedouble) < MLC_EVENT_MAX_AMOUNT &&
                   it->valuedouble == limit->valuedouble,
               "credit_limit");
    it = cJSON_GetObjectItemCaseSensitive(c->customer, "inactive_date");
    FUZZ_CHECK(!it || (cJSON_IsString(it) && mlc_event_date_valid(it->valuestring)),
               "inactive_date");
    it = cJSON_GetObjectItemCaseSensitive(c->customer, "terms_code");
    desc = it ? sage_terms_lookup(terms, it->valuestring) : NULL;
    it = cJSON_GetObjectItemCaseSensitive(c->customer, "terms_description");
    FUZZ_CHECK(desc ? (cJSON_IsString(it) && strcmp(it->valuestring, desc) == 0) : !it,
               "terms_description does not follow the table");
}

/* The event the extractor would emit for this customer, and the loader's view of it. */
static void check_event(const struct sage_customer *c)
{
    struct mlc_event_source src = {"https://erp.example/Sage300WebApi/v1.0/-/",
                                   c->last_maintained[0] ? c->last_maintained : NULL, 1795851612};
    char key[MLC_EVENT_MAX_KEY + 1];
    struct mlc_err err = {0};
    struct mlc_event ev;
    struct mlc_buf b;
    cJSON *built = NULL;
    mlc_rc rc;

    rc = mlc_event_build("SAMINC", c->number, c->customer, &src, 1795851613, &built, &err);
    fuzz_report("build", rc, err.msg);
    if (rc != MLC_OK) {
        FUZZ_CHECK(rc == MLC_PERM && strstr(err.msg, "bytes"),
                   "normalised customer refused by mlc_event_build: %s", err.msg);
        return;
    }
    FUZZ_CHECK(mlc_event_key("SAMINC", c->number, key, sizeof(key), &err) == MLC_OK, "key: %s",
               err.msg);
    mlc_buf_init(&b, MLC_EVENT_MAX_BYTES + 1);
    rc = mlc_event_encode(built, &b, &err);
    if (rc == MLC_OK) {
        rc = mlc_event_decode(key, strlen(key), mlc_buf_str(&b), b.len, &ev, &err);
        FUZZ_CHECK(rc == MLC_OK, "loader refuses the event: %s (%s)", err.msg, mlc_buf_str(&b));
        FUZZ_CHECK(strcmp(ev.content_hash,
                          cJSON_GetObjectItemCaseSensitive(built, "content_hash")->valuestring) ==
                       0,
                   "content_hash changed on the wire");
        mlc_event_free(&ev);
    } else {
        FUZZ_CHECK(rc == MLC_PERM && strstr(err.msg, "bytes"), "encode: %s", err.msg);
    }
    mlc_buf_free(&b);
    cJSON_Delete(built);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sage_terms *terms = NULL;
    struct sage_customer c;
    struct mlc_err err = {0};
    const cJSON *num;
    cJSON *rec;
    unsigned opts;
    mlc_rc rc;

    if (size < 1)
        return 0;
    opts = data[0];
    rec = cJSON_ParseWithLength((const char *)data + 1, size - 1);
    if (!rec)
        return 0;
    if (opts & 3) {
        terms = sage_terms_new();
        FUZZ_CHECK(terms, "sage_terms_new");
        FUZZ_CHECK(sage_terms_add(terms, "N30", "Net 30 days", NULL) == MLC_OK &&
                       sage_terms_add(terms, "COD", " Cash on delivery ", NULL) == MLC_OK &&
                       sage_terms_add(terms, "2/10 N30", NULL, NULL) == MLC_OK,
                   "terms fixture");
        if (opts & 2) {
            rc = sage_terms_add_record(terms, rec, &err);
            FUZZ_CHECK(rc == MLC_OK || rc == MLC_PERM, "terms rc %d: %s", (int)rc, err.msg);
            if (rc != MLC_OK)
                check_one_line(err.msg);
            memset(&err, 0, sizeof(err));
        }
    }

    rc = sage_customer_normalize(rec, terms, &c, &err);
    fuzz_report("normalize", rc, err.msg);
    FUZZ_CHECK(rc == MLC_OK || rc == MLC_PERM, "rc %d: %s", (int)rc, err.msg);
    if (rc == MLC_OK) {
        check_customer(rec, &c, terms);
        check_event(&c);
    } else {
        num = cJSON_GetObjectItemCaseSensitive(rec, "CustomerNumber");
        check_one_line(err.msg);
        FUZZ_CHECK(!c.customer && !c.last_maintained[0], "failure left a customer");
        if (cJSON_IsObject(rec) && cJSON_IsString(num) &&
            mlc_event_number_valid(num->valuestring)) {
            FUZZ_CHECK(strcmp(c.number, num->valuestring) == 0, "number lost on failure");
            FUZZ_CHECK(strncmp(err.msg, "customer ", 9) == 0, "message does not name the customer");
        } else {
            FUZZ_CHECK(c.number[0] == '\0', "number kept although invalid");
        }
    }
    sage_customer_free(&c);
    FUZZ_CHECK(!c.customer && !c.number[0], "free did not zero");
    sage_terms_free(terms);
    cJSON_Delete(rec);
    return 0;
}

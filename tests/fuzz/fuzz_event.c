/* fuzz_event.c - libFuzzer target for the event decoder/validator (mlc_event.h).
 *
 * Input: byte 0 is the Kafka key length (0xff: NULL key, the tools' "skip
 * the key check"), then that many key bytes (fewer if the input ends), then
 * the value. The key is fuzzed like the value: it may hold NULs and any byte.
 *
 * Properties checked besides memory errors and UB:
 *   - MLC_OK or MLC_PERM only (MLC_FATAL only when out of memory, which the
 *     fuzzer's allocator does not simulate), a message on failure and a
 *     zeroed event;
 *   - a decoded event has a valid company and customer_number, the key
 *     equals "COMPANY:NUMBER" byte for byte, customer is present exactly for
 *     op=upsert;
 *   - round trip: mlc_event_encode of the decoded tree succeeds, decoding
 *     that canonical form succeeds with the same key, and encoding again
 *     gives the same bytes (the canonical form is a fixed point).
 *   - producer side: because almost every mutation of a customer breaks the
 *     content hash, the value's "company", "customer_number" and "customer"
 *     (when it parses as JSON at all) are also handed to mlc_event_build, as
 *     the extractor would; whatever it builds must encode, and the encoding
 *     must decode (with its key) to the same content_hash: the extractor
 *     never emits what the loader refuses.
 */
#include "fuzz_common.h"

#include "mlc_event.h"

#include <string.h>

static void check_decoded(const struct mlc_event *ev, const char *key, size_t key_len)
{
    char expect[MLC_EVENT_MAX_KEY + 1];

    FUZZ_CHECK(ev->root && ev->event_id && ev->company && ev->customer_number && ev->content_hash &&
                   ev->emitted_at && ev->base_url && ev->read_at,
               "decoded event lacks a field");
    FUZZ_CHECK(mlc_event_company_valid(ev->company), "company %s accepted", ev->company);
    FUZZ_CHECK(mlc_event_number_valid(ev->customer_number), "number accepted");
    FUZZ_CHECK(strlen(ev->event_id) == MLC_EVENT_ID_HEX, "event_id length");
    FUZZ_CHECK(strlen(ev->content_hash) == MLC_EVENT_HASH_HEX, "content_hash length");
    FUZZ_CHECK((ev->op == MLC_EVENT_UPSERT) == (ev->customer != NULL), "op/customer mismatch");
    FUZZ_CHECK(!ev->last_maintained || mlc_event_date_valid(ev->last_maintained),
               "last_maintained %s accepted", ev->last_maintained);
    if (key) {
        FUZZ_CHECK(mlc_event_key(ev->company, ev->customer_number, expect, sizeof(expect), NULL) ==
                       MLC_OK,
                   "key of a decoded event refused");
        FUZZ_CHECK(key_len == strlen(expect) && memcmp(key, expect, key_len) == 0,
                   "kafka key does not match");
    }
}

static void check_build(const char *value, size_t len)
{
    static const struct mlc_event_source src = {"https://erp.example/Sage300WebApi/v1.0/-/",
                                                "2024-03-18", 1795851612};
    char key[MLC_EVENT_MAX_KEY + 1];
    struct mlc_err err = {0};
    struct mlc_event ev;
    struct mlc_buf b;
    const cJSON *company, *number, *customer;
    cJSON *root, *built = NULL;
    mlc_rc rc;

    root = cJSON_ParseWithLength(value, len);
    if (!root)
        return;
    company = cJSON_GetObjectItemCaseSensitive(root, "company");
    number = cJSON_GetObjectItemCaseSensitive(root, "customer_number");
    customer = cJSON_GetObjectItemCaseSensitive(root, "customer");
    if (!cJSON_IsString(company) || !cJSON_IsString(number) ||
        (customer && !cJSON_IsObject(customer)))
        goto out;
    rc = mlc_event_build(company->valuestring, number->valuestring, customer, &src, 1795851613,
                         &built, &err);
    fuzz_report("build", rc, err.msg);
    FUZZ_CHECK(rc == MLC_OK || rc == MLC_PERM, "build rc %d: %s", (int)rc, err.msg);
    if (rc != MLC_OK) {
        FUZZ_CHECK(!built && err.msg[0], "failed build left a tree or no message");
        goto out;
    }
    FUZZ_CHECK(mlc_event_key(company->valuestring, number->valuestring, key, sizeof(key), &err) ==
                   MLC_OK,
               "built an event whose key is refused: %s", err.msg);
    mlc_buf_init(&b, MLC_EVENT_MAX_BYTES + 1);
    rc = mlc_event_encode(built, &b, &err);
    /* Too big to send is a refusal the extractor handles (MLC_PERM). */
    FUZZ_CHECK(rc == MLC_OK || rc == MLC_PERM, "encode rc %d: %s", (int)rc, err.msg);
    if (rc == MLC_OK) {
        rc = mlc_event_decode(key, strlen(key), mlc_buf_str(&b), b.len, &ev, &err);
        FUZZ_CHECK(rc == MLC_OK, "loader refuses what the extractor built: %s (%s)", err.msg,
                   mlc_buf_str(&b));
        FUZZ_CHECK(strcmp(ev.content_hash,
                          cJSON_GetObjectItemCaseSensitive(built, "content_hash")->valuestring) ==
                       0,
                   "content_hash changed on the wire");
        mlc_event_free(&ev);
    } else {
        FUZZ_CHECK(strstr(err.msg, "bytes") != NULL, "built event refused by encode: %s", err.msg);
    }
    mlc_buf_free(&b);
out:
    cJSON_Delete(built);
    cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mlc_event ev, ev2;
    struct mlc_err err = {0};
    struct mlc_buf b1, b2;
    const char *key = NULL;
    size_t key_len = 0;
    mlc_rc rc;

    if (size < 1)
        return 0;
    if (data[0] != 0xff) {
        key_len = data[0] < size - 1 ? data[0] : size - 1;
        key = (const char *)data + 1;
        data += 1 + key_len;
        size -= 1 + key_len;
    } else {
        data++;
        size--;
    }

    check_build((const char *)data, size);

    rc = mlc_event_decode(key, key_len, (const char *)data, size, &ev, &err);
    fuzz_report("event", rc, err.msg);
    FUZZ_CHECK(rc == MLC_OK || rc == MLC_PERM, "rc %d: %s", (int)rc, err.msg);
    if (rc != MLC_OK) {
        FUZZ_CHECK(err.msg[0] != '\0', "failure without a message");
        FUZZ_CHECK(!ev.root && !ev.company && !ev.customer, "failure left a decoded event");
        mlc_event_free(&ev);
        return 0;
    }
    check_decoded(&ev, key, key_len);

    mlc_buf_init(&b1, MLC_EVENT_MAX_BYTES + 1);
    mlc_buf_init(&b2, MLC_EVENT_MAX_BYTES + 1);
    rc = mlc_event_encode(ev.root, &b1, &err);
    FUZZ_CHECK(rc == MLC_OK, "decoded event does not encode: %s", err.msg);
    rc = mlc_event_decode(key, key_len, mlc_buf_str(&b1), b1.len, &ev2, &err);
    FUZZ_CHECK(rc == MLC_OK, "canonical form of a decoded event refused: %s", err.msg);
    check_decoded(&ev2, key, key_len);
    FUZZ_CHECK(strcmp(ev.event_id, ev2.event_id) == 0 &&
                   strcmp(ev.content_hash, ev2.content_hash) == 0,
               "round trip changed the identity");
    rc = mlc_event_encode(ev2.root, &b2, &err);
    FUZZ_CHECK(rc == MLC_OK && b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0,
               "canonical form is not a fixed point");
    mlc_buf_free(&b1);
    mlc_buf_free(&b2);
    mlc_event_free(&ev2);
    mlc_event_free(&ev);
    FUZZ_CHECK(!ev.root, "free did not zero");
    return 0;
}

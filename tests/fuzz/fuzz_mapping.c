/* fuzz_mapping.c - libFuzzer target for the mapping parser
 * (loader/pd_mapping.h: pd_mapping_parse).
 *
 * Input: the mapping JSON text (made NUL-terminated). Properties: MLC_OK
 * with a mapping, or MLC_FATAL with a one-line message and no mapping; a
 * parsed mapping answers its getters consistently (names and types set,
 * pd_mapping_custom_find finds each (unique) name at its index, identity
 * indexes in range, nothing resolved yet).
 *
 * Then the mapping is resolved against the very fields it would create
 * (pd_mapping_field_create_body, given field codes and option ids as
 * Pipedrive would): a mapping the parser accepts must resolve completely
 * that way. The resolved mapping is applied to a fixed upsert and a missing
 * event (create and update); an applied body hashes, diffs against nothing
 * (create) to a patch and against itself to no change.
 */
#include "fuzz_common.h"

#include "pd_mapping.h"

#include <string.h>

static const char customer_json[] =
    "{\"address_line1\":\"4600 Shoreline Drive\",\"city\":\"San Diego\",\"contact_email\":"
    "\"emartinez@bargainmart.example\",\"contact_name\":\"Ellen Martinez\",\"contact_phone\":"
    "\"(619)555-0102\",\"country\":\"USA\",\"credit_limit\":25000,\"currency\":\"USD\","
    "\"email\":\"ap@bargainmart.example\",\"fax\":\"(619)555-0101\",\"group\":\"RTL\","
    "\"name\":\"Bargain Mart - San Diego\",\"on_hold\":false,\"phone\":\"(619)555-0100\","
    "\"postal_code\":\"92110\",\"short_name\":\"BARMART\",\"state\":\"CA\",\"status\":"
    "\"active\",\"terms_code\":\"N30\",\"terms_description\":\"Net 30 days\",\"website\":"
    "\"www.bargainmart.example\"}";

/* The organization fields Pipedrive would list after creating them all. */
static cJSON *fields_for(const struct pd_mapping *m)
{
    cJSON *arr = cJSON_CreateArray();
    size_t n = pd_mapping_custom_count(m);
    double next_id = 1;

    FUZZ_CHECK(arr != NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        cJSON *f = pd_mapping_field_create_body(m, i), *opts, *o;
        char code[41];

        FUZZ_CHECK(f != NULL, "no create body for field %zu", i);
        snprintf(code, sizeof(code), "%040zx", i + 1);
        cJSON_AddStringToObject(f, "field_code", code);
        cJSON_AddTrueToObject(f, "is_custom_field");
        opts = cJSON_GetObjectItemCaseSensitive(f, "options");
        cJSON_ArrayForEach(o, opts) cJSON_AddNumberToObject(o, "id", next_id++);
        cJSON_AddItemToArray(arr, f);
    }
    return arr;
}

static void check_apply(const struct pd_mapping *m, const struct pd_event_view *ev,
                        enum pd_apply_mode mode)
{
    struct mlc_err err = {0};
    cJSON *body = NULL, *patch = NULL;
    struct mlc_buf text;
    char hex[65];
    mlc_rc rc;

    rc = pd_mapping_apply(m, ev, mode, &body, &err);
    fuzz_report("apply", rc, err.msg);
    FUZZ_CHECK(rc == MLC_OK || rc == MLC_PERM, "apply rc %d: %s", (int)rc, err.msg);
    if (rc != MLC_OK) {
        FUZZ_CHECK(err.msg[0] && !strchr(err.msg, '\n'), "bad message \"%s\"", err.msg);
        cJSON_Delete(body);
        return;
    }
    FUZZ_CHECK(cJSON_IsObject(body), "applied body is not an object");
    FUZZ_CHECK(pd_mapping_hash(body, hex, &err) == MLC_OK && strlen(hex) == 64,
               "body does not hash: %s", err.msg);
    mlc_buf_init(&text, 1 << 20);
    FUZZ_CHECK(pd_mapping_diff(m, NULL, body, &patch, &text, &err) == MLC_OK,
               "diff against nothing: %s", err.msg);
    /* A create body holds the name at least; update bodies may be all nulls
     * (op missing), which is no change against nothing. */
    FUZZ_CHECK(mode != PD_APPLY_CREATE || patch != NULL, "no patch for a new body");
    cJSON_Delete(patch);
    patch = NULL;
    FUZZ_CHECK(pd_mapping_diff(m, body, body, &patch, NULL, &err) == MLC_OK && patch == NULL,
               "a body differs from itself");
    mlc_buf_free(&text);
    cJSON_Delete(body);
}

static void check_resolve_apply(struct pd_mapping *m)
{
    static cJSON *customer;
    struct pd_resolve_report rep;
    struct mlc_err err = {0};
    struct pd_event_view up = {"SAMINC", "1100", "upsert", NULL, NULL};
    struct pd_event_view miss = {"SAMINC", "1100", "missing", NULL, NULL};
    cJSON *fields = fields_for(m);
    mlc_rc rc;

    if (!customer)
        customer = cJSON_Parse(customer_json); /* kept for the whole run */
    FUZZ_CHECK(customer != NULL, "fixed customer does not parse");
    up.customer = customer;

    rc = pd_mapping_resolve(m, fields, &rep, &err);
    fuzz_report("resolve", rc, err.msg);
    FUZZ_CHECK(rc == MLC_OK, "accepted mapping does not resolve against its own fields: %s",
               err.msg);
    FUZZ_CHECK(rep.missing_fields == 0 && rep.missing_options == 0 && pd_mapping_resolved(m),
               "own fields left something unresolved: %s", rep.text);
    cJSON_Delete(fields);

    check_apply(m, &up, PD_APPLY_CREATE);
    check_apply(m, &up, PD_APPLY_UPDATE);
    check_apply(m, &miss, PD_APPLY_UPDATE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pd_mapping *m = (struct pd_mapping *)1; /* must be overwritten */
    struct mlc_err err = {0};
    char *text;
    mlc_rc rc;

    if (size > PD_MAPPING_MAX_BYTES)
        return 0;
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    rc = pd_mapping_parse(text, &m, &err);
    fuzz_report("mapping", rc, err.msg);
    FUZZ_CHECK(rc == MLC_OK || rc == MLC_FATAL, "rc %d: %s", (int)rc, err.msg);
    if (rc == MLC_OK) {
        size_t n, cn = (size_t)-1, co = (size_t)-1;

        FUZZ_CHECK(m != NULL && m != (struct pd_mapping *)1, "ok without a mapping");
        n = pd_mapping_custom_count(m);
        for (size_t i = 0; i < n; i++) {
            const char *name = pd_mapping_custom_name(m, i);
            long at;

            FUZZ_CHECK(name && pd_mapping_custom_type(m, i), "field %zu lacks name or type", i);
            at = pd_mapping_custom_find(m, name);
            FUZZ_CHECK(at == (long)i, "field %zu (%s) found at %ld", i, name, at);
            FUZZ_CHECK(!pd_mapping_custom_key(m, i) && !pd_mapping_field_resolved(m, i),
                       "field %zu resolved before resolve", i);
        }
        pd_mapping_identity(m, &cn, &co);
        FUZZ_CHECK(cn < n && co < n, "identity %zu/%zu of %zu fields", cn, co, n);
        check_resolve_apply(m);
        pd_mapping_free(m);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0' && !strchr(err.msg, '\n'), "bad message \"%s\"", err.msg);
    }
    free(text);
    return 0;
}

/* Unit tests of pd_mapping: strict parsing, the default mapping, field
 * resolution, organization bodies, diff and payload hash. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_err.h"
#include "pd_mapping.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K_ID     "1111111111111111111111111111111111111111"
#define K_CO     "2222222222222222222222222222222222222222"
#define K_TERMS  "3333333333333333333333333333333333333333"
#define K_CREDIT "4444444444444444444444444444444444444444"
#define K_PHONE  "5555555555555555555555555555555555555555"
#define K_EMAIL  "6666666666666666666666666666666666666666"
#define K_CONT   "7777777777777777777777777777777777777777"
#define K_STATUS "8888888888888888888888888888888888888888"
#define K_BAL    "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define K_PDUE   "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2"
#define K_PCT    "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3"
#define K_DOCS   "a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4"
#define K_LINV   "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5"
#define K_LREC   "a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6"

/* GET /api/v2/organizationFields as Pipedrive would answer for a company
 * that has every default field (plus system fields and a stranger). */
static const char fields_json[] =
    "{\"success\":true,\"data\":["
    "{\"field_name\":\"Name\",\"field_code\":\"name\",\"field_type\":\"varchar\","
    "\"is_custom_field\":false,\"options\":null},"
    "{\"field_name\":\"Phone\",\"field_code\":\"phone\",\"field_type\":\"varchar\","
    "\"is_custom_field\":false,\"options\":null},"
    "{\"field_name\":\"Sage 300 Customer ID\",\"field_code\":\"" K_ID "\","
    "\"field_type\":\"varchar\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Sage 300 Company\",\"field_code\":\"" K_CO "\","
    "\"field_type\":\"varchar\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Payment Terms\",\"field_code\":\"" K_TERMS "\","
    "\"field_type\":\"varchar\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Credit Limit\",\"field_code\":\"" K_CREDIT "\","
    "\"field_type\":\"monetary\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Phone\",\"field_code\":\"" K_PHONE "\","
    "\"field_type\":\"phone\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Email\",\"field_code\":\"" K_EMAIL "\","
    "\"field_type\":\"varchar\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Contact Name\",\"field_code\":\"" K_CONT "\","
    "\"field_type\":\"varchar\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Customer Status\",\"field_code\":\"" K_STATUS "\","
    "\"field_type\":\"enum\",\"is_custom_field\":true,\"options\":["
    "{\"id\":31,\"label\":\"Active\"},{\"id\":32,\"label\":\"Inactive\"},"
    "{\"id\":33,\"label\":\"On hold\"},{\"id\":34,\"label\":\"Missing in Sage 300\"}]},"
    "{\"field_name\":\"Balance Due\",\"field_code\":\"" K_BAL "\","
    "\"field_type\":\"monetary\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Amount Past Due\",\"field_code\":\"" K_PDUE "\","
    "\"field_type\":\"monetary\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Credit Used %\",\"field_code\":\"" K_PCT "\","
    "\"field_type\":\"double\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Open Documents\",\"field_code\":\"" K_DOCS "\","
    "\"field_type\":\"double\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Last Invoice Date\",\"field_code\":\"" K_LINV "\","
    "\"field_type\":\"date\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Last Receipt Date\",\"field_code\":\"" K_LREC "\","
    "\"field_type\":\"date\",\"is_custom_field\":true,\"options\":null},"
    "{\"field_name\":\"Region\",\"field_code\":\"9999999999999999999999999999999999999999\","
    "\"field_type\":\"varchar\",\"is_custom_field\":true,\"options\":null}"
    "]}";

static const char customer_json[] =
    "{\"name\":\"Bargain Mart - San Diego\",\"short_name\":\"BARMART\","
    "\"address_line1\":\"4600 Shoreline Drive\",\"city\":\"San Diego\",\"state\":\"CA\","
    "\"postal_code\":\"92110\",\"country\":\"USA\",\"phone\":\"(619)555-0100\","
    "\"email\":\"ap@bargainmart.example\",\"website\":\"www.bargainmart.example\","
    "\"contact_name\":\"Ellen Martinez\",\"terms_code\":\"N30\","
    "\"terms_description\":\"Net 30 days\",\"credit_limit\":25000.0,\"currency\":\"USD\","
    "\"group\":\"RTL\",\"status\":\"active\",\"on_hold\":false}";

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct mlc_buf b;
    char chunk[4096];
    size_t n;

    assert_non_null(f);
    mlc_buf_init(&b, 1 << 20);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        assert_int_equal(mlc_buf_append(&b, chunk, n), MLC_OK);
    fclose(f);
    return mlc_buf_steal(&b);
}

static const char *srcdir(void)
{
    const char *s = getenv("MLC_TEST_SRCDIR");
    return s && *s ? s : ".";
}

/* Compares body with tests/fixtures/mapping/bodies/<name>.json, which
 * tests/integration/test_mapping_schema.py validates against the v2 OpenAPI
 * request schemas. MLC_WRITE_GOLDEN=1 rewrites the file instead. */
static void check_golden(const char *name, const cJSON *body)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s/tests/fixtures/mapping/bodies/%s.json", srcdir(), name);
    if (getenv("MLC_WRITE_GOLDEN")) {
        char *s = cJSON_Print(body);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "%s\n", s);
        fclose(f);
        free(s);
        return;
    }
    char *text = read_all(path);
    cJSON *want = cJSON_Parse(text);
    assert_non_null(want);
    if (!cJSON_Compare(want, body, 1)) {
        char *got = cJSON_PrintUnformatted(body);
        fail_msg("%s differs from the golden file: %s", name, got);
    }
    cJSON_Delete(want);
    free(text);
}

static struct pd_mapping *resolved_default(void)
{
    struct pd_mapping *m = NULL;
    struct mlc_err err = {0};
    struct pd_resolve_report rep;
    cJSON *fields = cJSON_Parse(fields_json);

    assert_non_null(fields);
    assert_int_equal(pd_mapping_default(&m, &err), MLC_OK);
    assert_int_equal(pd_mapping_resolve(m, fields, &rep, &err), MLC_OK);
    assert_int_equal(rep.missing_fields, 0);
    assert_int_equal(rep.missing_options, 0);
    assert_true(pd_mapping_resolved(m));
    cJSON_Delete(fields);
    return m;
}

/* credit NULL: a v1 event (no credit object). */
static cJSON *build2(const struct pd_mapping *m, const char *op, cJSON *customer,
                     const cJSON *credit, enum pd_apply_mode mode, mlc_rc want)
{
    struct pd_event_view ev = {"SAMINC", "1100", op, customer, credit};
    struct mlc_err err = {0};
    cJSON *body = NULL;

    assert_int_equal(pd_mapping_apply(m, &ev, mode, &body, &err), want);
    if (want != MLC_OK)
        assert_null(body);
    return body;
}

static cJSON *build(const struct pd_mapping *m, const char *op, cJSON *customer,
                    enum pd_apply_mode mode, mlc_rc want)
{
    return build2(m, op, customer, NULL, mode, want);
}

static void builtin_default_equals_schema_file(void **state)
{
    char path[1024];
    struct pd_mapping *m = NULL;
    struct mlc_err err = {0};

    snprintf(path, sizeof(path), "%s/schemas/mapping.default.json", srcdir());
    char *text = read_all(path);
    cJSON *file = cJSON_Parse(text);
    cJSON *builtin = cJSON_Parse(pd_mapping_default_json());
    assert_non_null(file);
    assert_non_null(builtin);
    assert_true(cJSON_Compare(file, builtin, 1));
    assert_int_equal(pd_mapping_load_file(path, &m, &err), MLC_OK);
    assert_int_equal(pd_mapping_custom_count(m), 14);
    assert_string_equal(pd_mapping_custom_name(m, 7), "Customer Status");
    assert_string_equal(pd_mapping_custom_name(m, 8), "Balance Due");
    assert_string_equal(pd_mapping_custom_type(m, 8), "monetary");
    assert_string_equal(pd_mapping_custom_type(m, 9), "monetary");
    assert_string_equal(pd_mapping_custom_name(m, 10), "Credit Used %");
    assert_string_equal(pd_mapping_custom_type(m, 10), "double");
    assert_string_equal(pd_mapping_custom_type(m, 11), "double");
    assert_string_equal(pd_mapping_custom_name(m, 13), "Last Receipt Date");
    assert_string_equal(pd_mapping_custom_type(m, 12), "date");
    assert_string_equal(pd_mapping_custom_type(m, 13), "date");
    assert_string_equal(pd_mapping_custom_type(m, 3), "monetary");
    size_t id, co;
    pd_mapping_identity(m, &id, &co);
    assert_string_equal(pd_mapping_custom_name(m, id), "Sage 300 Customer ID");
    assert_string_equal(pd_mapping_custom_name(m, co), "Sage 300 Company");
    pd_mapping_free(m);
    cJSON_Delete(file);
    cJSON_Delete(builtin);
    free(text);
}

/* The same files as tests/integration/test_mapping_schema.py: good ones
 * parse, bad and bad-semantic ones fail with one line naming a JSON path. */
static void fixtures_agree_with_schema(void **state)
{
    static const struct {
        const char *dir;
        mlc_rc want;
    } sets[] = {{"good", MLC_OK}, {"bad", MLC_FATAL}, {"bad-semantic", MLC_FATAL}};

    for (size_t s = 0; s < ARRAY_SIZE(sets); s++) {
        char dir[1024], path[1400];
        size_t seen = 0;
        snprintf(dir, sizeof(dir), "%s/tests/fixtures/mapping/%s", srcdir(), sets[s].dir);
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t n = strlen(e->d_name);
            if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
                continue;
            struct pd_mapping *m = NULL;
            struct mlc_err err = {0};
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            mlc_rc rc = pd_mapping_load_file(path, &m, &err);
            if (rc != sets[s].want)
                fail_msg("%s/%s: rc %d, want %d (%s)", sets[s].dir, e->d_name, rc, sets[s].want,
                         err.msg);
            if (rc != MLC_OK) {
                assert_null(m);
                if (!strstr(err.msg, ": mapping $") && !strstr(err.msg, "not valid JSON"))
                    fail_msg("%s: message names no JSON path: %s", e->d_name, err.msg);
                assert_null(strchr(err.msg, '\n'));
            }
            pd_mapping_free(m);
            seen++;
        }
        closedir(d);
        assert_true(seen >= 2);
    }
}

static void parse_errors_name_the_json_path(void **state)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"version\":1,\"identity\":{\"customer_number\":\"I\",\"company\":\"C\"},"
         "\"name\":{\"field\":\"name\"},\"custom_fields\":["
         "{\"name\":\"I\",\"field_type\":\"varchar\",\"source\":{\"field\":\"customer_number\"}},"
         "{\"name\":\"C\",\"field_type\":\"varchar\",\"source\":{\"field\":\"company\"}},"
         "{\"name\":\"X\",\"field_type\":\"varchar\",\"source\":{\"join\":[\"city\",\"cty\"]}}]}",
         "mapping $.custom_fields[2].source.join[1]: unknown event field \"cty\""},
        {"{\"version\":1,\"nam\":{}}", "mapping $: unknown key \"nam\""},
        {"{\"version\":1,\"name\":{\"field\":7}}", "mapping $.name.field: must be a string"},
        {"{\"version\":1,\"name\":{\"field\":\"name\"},\"address\":{\"value\":{\"field\":\"city\"},"
         "\"route\":{\"field\":\"address_line1\",\"x\":1}}}",
         "mapping $.address.route: unknown key \"x\""},
        {"{\"version\":1,\"name\":{\"field\":\"name\"},\"custom_fields\":[{\"name\":\"S\","
         "\"field_type\":\"enum\",\"options\":[\"A\",\"B\"],\"source\":{\"cases\":[{\"field\":"
         "\"status\",\"equals\":\"active\",\"label\":\"C\"}]}}]}",
         "mapping $.custom_fields[0].source.cases[0].label: \"C\" is not one of the field's "
         "options"},
        {"[1]", "mapping $: must be an object"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct pd_mapping *m = NULL;
        struct mlc_err err = {0};
        assert_int_equal(pd_mapping_parse(cases[i].json, &m, &err), MLC_FATAL);
        assert_null(m);
        assert_string_equal(err.msg, cases[i].msg);
    }
}

static void resolve_reports_missing_and_builds_create_bodies(void **state)
{
    struct pd_mapping *m = NULL;
    struct mlc_err err = {0};
    struct pd_resolve_report rep;
    cJSON *fields = cJSON_Parse(fields_json);
    cJSON *data = cJSON_GetObjectItem(fields, "data");

    /* drop "Email" and the "On hold" option */
    for (int i = cJSON_GetArraySize(data) - 1; i >= 0; i--) {
        cJSON *f = cJSON_GetArrayItem(data, i);
        if (strcmp(cJSON_GetObjectItem(f, "field_name")->valuestring, "Email") == 0)
            cJSON_DeleteItemFromArray(data, i);
        else if (strcmp(cJSON_GetObjectItem(f, "field_name")->valuestring, "Customer Status") == 0)
            cJSON_DeleteItemFromArray(cJSON_GetObjectItem(f, "options"), 2);
    }
    assert_int_equal(pd_mapping_default(&m, &err), MLC_OK);
    assert_int_equal(pd_mapping_resolve(m, data, &rep, &err), MLC_OK);
    assert_int_equal(rep.missing_fields, 1);
    assert_int_equal(rep.missing_options, 1);
    assert_non_null(strstr(rep.text, "missing field Email"));
    assert_non_null(strstr(rep.text, "Customer Status (option \"On hold\")"));
    assert_false(pd_mapping_resolved(m));
    assert_false(pd_mapping_field_resolved(m, 5));
    assert_null(pd_mapping_custom_key(m, 5));
    /* an unresolved mapping builds nothing */
    cJSON *cust = cJSON_Parse(customer_json);
    build(m, "upsert", cust, PD_APPLY_CREATE, MLC_FATAL);

    cJSON *create = pd_mapping_field_create_body(m, 5);
    char *s = cJSON_PrintUnformatted(create);
    assert_string_equal(s, "{\"field_name\":\"Email\",\"field_type\":\"varchar\"}");
    free(s);
    cJSON_Delete(create);
    create = pd_mapping_field_create_body(m, 7);
    s = cJSON_PrintUnformatted(create);
    assert_string_equal(s, "{\"field_name\":\"Customer Status\",\"field_type\":\"enum\","
                           "\"options\":[{\"label\":\"Active\"},{\"label\":\"Inactive\"},"
                           "{\"label\":\"On hold\"},{\"label\":\"Missing in Sage 300\"}]}");
    free(s);
    cJSON_Delete(create);
    cJSON *opts = pd_mapping_missing_options_body(m, 7);
    s = cJSON_PrintUnformatted(opts);
    assert_string_equal(s, "[{\"label\":\"On hold\"}]");
    free(s);
    cJSON_Delete(opts);
    assert_null(pd_mapping_missing_options_body(m, 0));

    /* once created, resolving again completes the mapping */
    cJSON_Delete(fields);
    fields = cJSON_Parse(fields_json);
    assert_int_equal(pd_mapping_resolve(m, fields, &rep, &err), MLC_OK);
    assert_true(pd_mapping_resolved(m));
    assert_string_equal(pd_mapping_custom_key(m, 5), K_EMAIL);
    /* the system field "Phone" is not the custom one */
    assert_string_equal(pd_mapping_custom_key(m, 4), K_PHONE);
    cJSON_Delete(fields);
    cJSON_Delete(cust);
    pd_mapping_free(m);
}

static void resolve_refuses_duplicates_and_type_mismatch(void **state)
{
    struct pd_mapping *m = NULL;
    struct mlc_err err = {0};
    cJSON *fields = cJSON_Parse(fields_json);
    cJSON *data = cJSON_GetObjectItem(fields, "data");

    assert_int_equal(pd_mapping_default(&m, &err), MLC_OK);
    cJSON *dup = cJSON_Parse("{\"field_name\":\"Payment Terms\",\"field_code\":"
                             "\"abcdefabcdefabcdefabcdefabcdefabcdefabcd\",\"field_type\":"
                             "\"varchar\",\"is_custom_field\":true}");
    cJSON_AddItemToArray(data, dup);
    assert_int_equal(pd_mapping_resolve(m, fields, NULL, &err), MLC_FATAL);
    assert_string_equal(err.msg, "organization field \"Payment Terms\" exists twice (" K_TERMS
                                 " and abcdefabcdefabcdefabcdefabcdefabcdefabcd): rename or "
                                 "delete one in Pipedrive, the loader will not guess");
    cJSON_DeleteItemFromArray(data, cJSON_GetArraySize(data) - 1);

    cJSON *credit = cJSON_GetArrayItem(data, 5);
    cJSON_ReplaceItemInObject(credit, "field_type", cJSON_CreateString("double"));
    assert_int_equal(pd_mapping_resolve(m, fields, NULL, &err), MLC_FATAL);
    assert_string_equal(err.msg, "organization field \"Credit Limit\" is of type double in "
                                 "Pipedrive but the mapping declares monetary");
    assert_int_equal(pd_mapping_resolve(m, cJSON_GetObjectItem(fields, "success"), NULL, &err),
                     MLC_FATAL);
    cJSON_Delete(fields);
    pd_mapping_free(m);
}

static void default_bodies_for_create_update_and_missing(void **state)
{
    struct pd_mapping *m = resolved_default();
    cJSON *cust = cJSON_Parse(customer_json);

    cJSON *body = build(m, "upsert", cust, PD_APPLY_CREATE, MLC_OK);
    char *s = cJSON_PrintUnformatted(body);
    assert_string_equal(
        s, "{\"name\":\"Bargain Mart - San Diego\",\"address\":{\"value\":\"4600 Shoreline Drive, "
           "San Diego, CA, 92110, USA\",\"route\":\"4600 Shoreline Drive\",\"locality\":\"San "
           "Diego\",\"admin_area_level_1\":\"CA\",\"country\":\"USA\",\"postal_code\":\"92110\"},"
           "\"custom_fields\":{\"" K_ID "\":\"1100\",\"" K_CO "\":\"SAMINC\",\"" K_TERMS
           "\":\"Net 30 days\",\"" K_CREDIT "\":{\"value\":25000,\"currency\":\"USD\"},\"" K_PHONE
           "\":\"(619)555-0100\",\"" K_EMAIL "\":\"ap@bargainmart.example\",\"" K_CONT
           "\":\"Ellen Martinez\",\"" K_STATUS "\":31}}");
    free(s);
    check_golden("create", body);
    cJSON_Delete(body);

    /* with explicit nulls: every address part present */
    pd_mapping_set_address_nulls(m, true);
    body = build(m, "upsert", cust, PD_APPLY_CREATE, MLC_OK);
    cJSON *addr = cJSON_GetObjectItem(body, "address");
    assert_int_equal(cJSON_GetArraySize(addr), 10);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(addr, "street_number")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(addr, "admin_area_level_2")));
    cJSON_Delete(body);
    pd_mapping_set_address_nulls(m, false);

    /* absent values: omitted on create, null on update; terms fall back to
     * the code; on hold wins over the status */
    cJSON_DeleteItemFromObject(cust, "email");
    cJSON_DeleteItemFromObject(cust, "terms_description");
    cJSON_ReplaceItemInObject(cust, "on_hold", cJSON_CreateTrue());
    body = build(m, "upsert", cust, PD_APPLY_CREATE, MLC_OK);
    cJSON *cf = cJSON_GetObjectItem(body, "custom_fields");
    assert_null(cJSON_GetObjectItem(cf, K_EMAIL));
    assert_string_equal(cJSON_GetObjectItem(cf, K_TERMS)->valuestring, "N30");
    assert_int_equal(cJSON_GetObjectItem(cf, K_STATUS)->valueint, 33);
    cJSON_Delete(body);
    body = build(m, "upsert", cust, PD_APPLY_UPDATE, MLC_OK);
    assert_true(
        cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "custom_fields"), K_EMAIL)));
    check_golden("update", body);
    cJSON_Delete(body);

    /* inactive customer */
    cJSON_ReplaceItemInObject(cust, "on_hold", cJSON_CreateFalse());
    cJSON_ReplaceItemInObject(cust, "status", cJSON_CreateString("inactive"));
    body = build(m, "upsert", cust, PD_APPLY_UPDATE, MLC_OK);
    cf = cJSON_GetObjectItem(body, "custom_fields");
    assert_int_equal(cJSON_GetObjectItem(cf, K_STATUS)->valueint, 32);
    cJSON_Delete(body);

    /* missing: Customer Status only */
    body = build(m, "missing", NULL, PD_APPLY_UPDATE, MLC_OK);
    s = cJSON_PrintUnformatted(body);
    assert_string_equal(s, "{\"custom_fields\":{\"" K_STATUS "\":34}}");
    free(s);
    check_golden("missing", body);
    cJSON_Delete(body);

    /* no name: permanent (DLQ); no address parts: no address on create */
    cJSON_DeleteItemFromObject(cust, "name");
    build(m, "upsert", cust, PD_APPLY_CREATE, MLC_PERM);
    cJSON_AddStringToObject(cust, "name", "X");
    static const char *parts[] = {"address_line1", "city", "state", "postal_code", "country"};
    for (size_t i = 0; i < 5; i++)
        cJSON_DeleteItemFromObject(cust, parts[i]);
    body = build(m, "upsert", cust, PD_APPLY_CREATE, MLC_OK);
    assert_null(cJSON_GetObjectItem(body, "address"));
    cJSON_Delete(body);
    body = build(m, "upsert", cust, PD_APPLY_UPDATE, MLC_OK);
    assert_null(cJSON_GetObjectItem(body, "address")); /* not nullable in the spec */
    cJSON_Delete(body);
    pd_mapping_set_address_nulls(m, true);
    body = build(m, "upsert", cust, PD_APPLY_UPDATE, MLC_OK);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(body, "address")));
    cJSON_Delete(body);
    pd_mapping_set_address_nulls(m, false);
    build(m, "delete", cust, PD_APPLY_UPDATE, MLC_PERM);
    build(m, "upsert", NULL, PD_APPLY_UPDATE, MLC_PERM);

    cJSON_Delete(cust);
    pd_mapping_free(m);
}

/* A Sage address at its full length joins to more than Pipedrive takes in
 * address.value (364 characters): cut at a character boundary, the parts
 * untouched in their subfields, the same cut every time. */
static void a_long_address_value_is_cut_to_what_pipedrive_takes(void **state)
{
    struct pd_mapping *m = resolved_default();
    cJSON *cust = cJSON_Parse(customer_json), *body, *addr, *again;
    char line[61];
    const char *v;
    size_t chars = 0;

    memset(line, 'x', 60);
    line[60] = '\0';
    line[58] = '\xc3'; /* an "é" across the boundary must not be split */
    line[59] = '\xa9';
    for (int i = 1; i <= 4; i++) {
        char key[16];

        snprintf(key, sizeof(key), "address_line%d", i);
        cJSON_DeleteItemFromObject(cust, key);
        cJSON_AddStringToObject(cust, key, line);
    }
    body = build(m, "upsert", cust, PD_APPLY_CREATE, MLC_OK);
    addr = cJSON_GetObjectItem(body, "address");
    v = cJSON_GetStringValue(cJSON_GetObjectItem(addr, "value"));
    assert_non_null(v);
    for (const char *p = v; *p; p++)
        chars += ((unsigned char)*p & 0xc0) != 0x80;
    assert_true(chars <= PD_ADDRESS_VALUE_MAX);
    assert_true(chars >= PD_ADDRESS_VALUE_MAX - 2);
    assert_true(v[strlen(v) - 1] != ' ' && v[strlen(v) - 1] != ',');
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(addr, "route")), line);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(addr, "locality")), "San Diego");
    again = build(m, "upsert", cust, PD_APPLY_CREATE, MLC_OK);
    assert_true(cJSON_Compare(body, again, 1));
    /* a smaller limit, as MLC_PIPEDRIVE_ADDRESS_MAX sets it */
    pd_mapping_set_address_max(m, 20);
    cJSON_Delete(again);
    again = build(m, "upsert", cust, PD_APPLY_CREATE, MLC_OK);
    v = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(again, "address"), "value"));
    assert_int_equal(strlen(v), 20);
    cJSON_Delete(again);
    cJSON_Delete(body);
    cJSON_Delete(cust);
    pd_mapping_free(m);
}

/* Event v2: the credit fields; v1: left untouched (ADR 0008 decision 4). */
static void credit_fields_of_v2_and_v1_events(void **state)
{
    struct pd_mapping *m = resolved_default();
    cJSON *cust = cJSON_Parse(customer_json);
    cJSON *credit = cJSON_Parse("{\"balance_due\":12000.5,\"amount_past_due\":1500,"
                                "\"credit_used_pct\":48.002,\"open_documents\":3,"
                                "\"last_invoice_date\":\"2026-11-20\"}");
    cJSON *body, *cf, *patch = NULL;
    char *s;

    (void)state;
    body = build2(m, "upsert", cust, credit, PD_APPLY_CREATE, MLC_OK);
    cf = cJSON_GetObjectItem(body, "custom_fields");
    s = cJSON_PrintUnformatted(cf);
    assert_non_null(strstr(s, "\"" K_BAL "\":{\"value\":12000.5,\"currency\":\"USD\"},\"" K_PDUE
                              "\":{\"value\":1500,\"currency\":\"USD\"},\"" K_PCT
                              "\":48.002,\"" K_DOCS "\":3,\"" K_LINV "\":\"2026-11-20\"}"));
    free(s);
    assert_null(cJSON_GetObjectItem(cf, K_LREC)); /* no receipt: left out on create */
    check_golden("create_v2", body);
    cJSON_Delete(body);

    /* update: no receipt yet and no credit limit are cleared (null) */
    cJSON_DeleteItemFromObject(credit, "credit_used_pct");
    body = build2(m, "upsert", cust, credit, PD_APPLY_UPDATE, MLC_OK);
    cf = cJSON_GetObjectItem(body, "custom_fields");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cf, K_LREC)));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cf, K_PCT)));
    assert_true(cJSON_GetObjectItem(cf, K_DOCS)->valuedouble == 3);

    /* a v1 event: every credit field absent from the body, not null ... */
    cJSON *v1 = build(m, "upsert", cust, PD_APPLY_UPDATE, MLC_OK);
    cf = cJSON_GetObjectItem(v1, "custom_fields");
    for (const char *const *k =
             (const char *const[]){K_BAL, K_PDUE, K_PCT, K_DOCS, K_LINV, K_LREC, NULL};
         *k; k++)
        assert_null(cJSON_GetObjectItem(cf, *k));
    assert_non_null(cJSON_GetObjectItem(cf, K_CREDIT)); /* master data as before */
    /* ... so after a v2 body the diff leaves them alone: nothing to send */
    assert_int_equal(pd_mapping_diff(m, body, v1, &patch, NULL, NULL), MLC_OK);
    assert_null(patch);
    /* while a v1 name change sends the name only */
    cJSON_ReplaceItemInObject(cust, "name", cJSON_CreateString("Renamed"));
    cJSON_Delete(v1);
    v1 = build(m, "upsert", cust, PD_APPLY_UPDATE, MLC_OK);
    assert_int_equal(pd_mapping_diff(m, body, v1, &patch, NULL, NULL), MLC_OK);
    s = cJSON_PrintUnformatted(patch);
    assert_string_equal(s, "{\"name\":\"Renamed\"}");
    free(s);
    cJSON_Delete(patch);
    cJSON_Delete(v1);
    cJSON_Delete(body);
    cJSON_Delete(credit);
    cJSON_Delete(cust);
    pd_mapping_free(m);
}

static void diff_sends_only_what_changed(void **state)
{
    struct pd_mapping *m = resolved_default();
    struct mlc_err err = {0};
    struct mlc_buf text;
    cJSON *cust = cJSON_Parse(customer_json), *patch = NULL;

    mlc_buf_init(&text, 8192);
    cJSON_DeleteItemFromObject(cust, "email");
    cJSON *last = build(m, "upsert", cust, PD_APPLY_CREATE, MLC_OK);
    cJSON *next = build(m, "upsert", cust, PD_APPLY_UPDATE, MLC_OK);
    /* create body (email omitted) vs update body (email null): no change */
    assert_int_equal(pd_mapping_diff(m, last, next, &patch, &text, &err), MLC_OK);
    assert_null(patch);
    assert_int_equal(text.len, 0);
    cJSON_Delete(next);

    /* the city moved: the address goes whole, nothing else */
    cJSON_ReplaceItemInObject(cust, "city", cJSON_CreateString("La Jolla"));
    cJSON_ReplaceItemInObject(cust, "credit_limit", cJSON_CreateNumber(30000));
    next = build(m, "upsert", cust, PD_APPLY_UPDATE, MLC_OK);
    assert_int_equal(pd_mapping_diff(m, last, next, &patch, &text, &err), MLC_OK);
    assert_non_null(patch);
    char *s = cJSON_PrintUnformatted(patch);
    assert_string_equal(s, "{\"address\":{\"value\":\"4600 Shoreline Drive, La Jolla, CA, 92110, "
                           "USA\",\"route\":\"4600 Shoreline Drive\",\"locality\":\"La Jolla\","
                           "\"admin_area_level_1\":\"CA\",\"country\":\"USA\",\"postal_code\":"
                           "\"92110\"},\"custom_fields\":{\"" K_CREDIT "\":{\"value\":30000,"
                           "\"currency\":\"USD\"}}}");
    free(s);
    check_golden("patch", patch);
    assert_non_null(strstr(mlc_buf_str(&text), "  custom_fields.Credit Limit: "
                                               "{\"currency\":\"USD\",\"value\":25000} -> "
                                               "{\"currency\":\"USD\",\"value\":30000}\n"));
    assert_non_null(strstr(mlc_buf_str(&text), "  address: {"));
    assert_null(strstr(mlc_buf_str(&text), "name:"));
    cJSON_Delete(patch);

    /* nothing known yet: every value is sent (nulls need no sending) */
    assert_int_equal(pd_mapping_diff(m, NULL, next, &patch, NULL, &err), MLC_OK);
    assert_true(cJSON_Compare(cJSON_GetObjectItem(patch, "address"),
                              cJSON_GetObjectItem(next, "address"), 1));
    assert_non_null(cJSON_GetObjectItem(patch, "name"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(patch, "custom_fields")), 7);
    cJSON_Delete(patch);

    /* "missing" after an upsert: only the status changes */
    cJSON *miss = build(m, "missing", NULL, PD_APPLY_UPDATE, MLC_OK);
    mlc_buf_reset(&text);
    assert_int_equal(pd_mapping_diff(m, next, miss, &patch, &text, &err), MLC_OK);
    assert_string_equal(mlc_buf_str(&text),
                        "  custom_fields.Customer Status: \"Active\" -> \"Missing in Sage 300\"\n");
    s = cJSON_PrintUnformatted(patch);
    assert_string_equal(s, "{\"custom_fields\":{\"" K_STATUS "\":34}}");
    free(s);
    cJSON_Delete(patch);
    cJSON_Delete(miss);

    cJSON_Delete(last);
    cJSON_Delete(next);
    cJSON_Delete(cust);
    mlc_buf_free(&text);
    pd_mapping_free(m);
}

static void canonical_json_and_hash_are_stable(void **state)
{
    struct mlc_err err = {0};
    struct mlc_buf b;
    char h1[65], h2[65];
    cJSON *a = cJSON_Parse("{\"b\":{\"d\":true,\"c\":null},\"a\":[1.0,0.1,\"x\\\"y\"]}");
    cJSON *c = cJSON_Parse("{ \"a\" : [1, 0.1, \"x\\\"y\"], \"b\" : {\"c\":null, \"d\":true} }");

    mlc_buf_init(&b, 4096);
    assert_int_equal(pd_mapping_canonical(a, &b, &err), MLC_OK);
    assert_string_equal(mlc_buf_str(&b),
                        "{\"a\":[1,0.1,\"x\\\"y\"],\"b\":{\"c\":null,\"d\":true}}");
    assert_int_equal(pd_mapping_hash(a, h1, &err), MLC_OK);
    assert_int_equal(pd_mapping_hash(c, h2, &err), MLC_OK);
    /* python3: hashlib.sha256(b'{"a":[1,0.1,"x\\"y"],"b":{"c":null,"d":true}}') */
    assert_string_equal(h1, "69844738da300bbb748f8b65f9a3857b59699366b5e5d1a5ad739fa5feaa86f6");
    assert_string_equal(h1, h2);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(c, "b"), "d", cJSON_CreateFalse());
    assert_int_equal(pd_mapping_hash(c, h2, &err), MLC_OK);
    assert_string_not_equal(h1, h2);

    /* the same event mapped twice hashes the same */
    struct pd_mapping *m = resolved_default();
    cJSON *cust = cJSON_Parse(customer_json);
    cJSON *x = build(m, "upsert", cust, PD_APPLY_UPDATE, MLC_OK);
    cJSON *y = build(m, "upsert", cust, PD_APPLY_UPDATE, MLC_OK);
    assert_int_equal(pd_mapping_hash(x, h1, &err), MLC_OK);
    assert_int_equal(pd_mapping_hash(y, h2, &err), MLC_OK);
    assert_string_equal(h1, h2);
    cJSON_Delete(x);
    cJSON_Delete(y);
    cJSON_Delete(cust);
    pd_mapping_free(m);
    cJSON_Delete(a);
    cJSON_Delete(c);
    mlc_buf_free(&b);
}

static void full_fixture_maps_every_source_kind(void **state)
{
    char path[1024];
    struct pd_mapping *m = NULL;
    struct mlc_err err = {0};
    struct pd_resolve_report rep;

    snprintf(path, sizeof(path), "%s/tests/fixtures/mapping/good/full.json", srcdir());
    assert_int_equal(pd_mapping_load_file(path, &m, &err), MLC_OK);
    /* every field missing: resolution lists them all; fake them */
    cJSON *fields = cJSON_CreateArray();
    assert_int_equal(pd_mapping_resolve(m, fields, &rep, &err), MLC_OK);
    assert_int_equal(rep.missing_fields, pd_mapping_custom_count(m));
    for (size_t i = 0; i < pd_mapping_custom_count(m); i++) {
        cJSON *f = pd_mapping_field_create_body(m, i);
        char code[41];
        snprintf(code, sizeof(code), "%040zx", i + 0xa0);
        cJSON_AddStringToObject(f, "field_code", code);
        cJSON *opts = cJSON_GetObjectItem(f, "options");
        cJSON *o;
        int id = 1;
        cJSON_ArrayForEach(o, opts) cJSON_AddNumberToObject(o, "id", id++);
        cJSON_AddItemToArray(fields, f);
    }
    assert_int_equal(pd_mapping_resolve(m, fields, &rep, &err), MLC_OK);
    assert_true(pd_mapping_resolved(m));

    cJSON *cust = cJSON_Parse(customer_json);
    cJSON_AddStringToObject(cust, "inactive_date", "2024-03-18");
    cJSON *body = build(m, "upsert", cust, PD_APPLY_CREATE, MLC_OK);
    assert_string_equal(cJSON_GetObjectItem(body, "website")->valuestring,
                        "www.bargainmart.example");
    cJSON *addr = cJSON_GetObjectItem(body, "address");
    assert_string_equal(cJSON_GetObjectItem(addr, "value")->valuestring,
                        "4600 Shoreline Drive / San Diego / USA");
    assert_string_equal(cJSON_GetObjectItem(addr, "street_number")->valuestring, "1");
    assert_null(cJSON_GetObjectItem(addr, "foo"));
    /* address_line2..4 (subpremise, sublocality, admin_area_level_2) absent */
    assert_int_equal(cJSON_GetArraySize(addr), 7);
    cJSON *cf = cJSON_GetObjectItem(body, "custom_fields");
#define CF(i) cJSON_GetObjectItem(cf, pd_mapping_custom_key(m, (i)))
    assert_string_equal(CF(2)->valuestring, "RTL");
    assert_string_equal(CF(3)->valuestring, "BARMART"); /* fax absent: no separator */
    assert_string_equal(CF(4)->valuestring, "Sage 300");
    assert_true(cJSON_IsNumber(CF(5)) && CF(5)->valuedouble == 25000);
    assert_true(cJSON_IsNumber(CF(6)) && CF(6)->valuedouble == 3);
    assert_string_equal(CF(7)->valuestring, "2024-03-18");
    assert_string_equal(CF(9)->valuestring, "(619)555-0100"); /* first_of falls through */
    assert_int_equal(CF(10)->valueint, 2);                    /* on_hold false -> "No" */
    cJSON_Delete(body);
    /* currency absent: the default currency */
    cJSON_DeleteItemFromObject(cust, "currency");
    body = build(m, "upsert", cust, PD_APPLY_CREATE, MLC_OK);
    cf = cJSON_GetObjectItem(body, "custom_fields");
    assert_string_equal(cJSON_GetObjectItem(CF(8), "currency")->valuestring, "USD");
#undef CF
    /* no field is on_missing: a missing event changes nothing */
    cJSON *miss = build(m, "missing", NULL, PD_APPLY_UPDATE, MLC_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(miss, "custom_fields")), 0);
    cJSON_Delete(miss);
    cJSON_Delete(body);
    cJSON_Delete(cust);
    cJSON_Delete(fields);
    pd_mapping_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtin_default_equals_schema_file),
        cmocka_unit_test(fixtures_agree_with_schema),
        cmocka_unit_test(parse_errors_name_the_json_path),
        cmocka_unit_test(resolve_reports_missing_and_builds_create_bodies),
        cmocka_unit_test(resolve_refuses_duplicates_and_type_mismatch),
        cmocka_unit_test(default_bodies_for_create_update_and_missing),
        cmocka_unit_test(a_long_address_value_is_cut_to_what_pipedrive_takes),
        cmocka_unit_test(diff_sends_only_what_changed),
        cmocka_unit_test(credit_fields_of_v2_and_v1_events),
        cmocka_unit_test(canonical_json_and_hash_are_stable),
        cmocka_unit_test(full_fixture_maps_every_source_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

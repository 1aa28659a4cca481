/* Unit tests of the Pipedrive sandbox's store, validation, search and cursors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "pdsim_routes.h"
#include "pdsim_search.h"
#include "pdsim_store.h"
#include "pdsim_validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
    struct pdsim_store st;
    struct pdsim_company *co;
    char vkey[48], dkey[48], ekey[48], skey[48], mkey[48], gone[48], akey[48];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    cJSON *labels = cJSON_Parse("[\"A\",{\"label\":\"B\"}]");
    struct pdsim_field *fd;

    pdsim_store_init(&f->st);
    f->co = pdsim_store_add_company(&f->st, 1, "Co", "co", NULL);
    assert_non_null(f->co);
    pdsim_company_add_token(f->co, "tok");
#define ADD(dst, name, type, l)                                                                    \
    fd = pdsim_company_add_field(f->co, name, type, l, 0, NULL);                                   \
    assert_non_null(fd);                                                                           \
    snprintf(f->dst, sizeof(f->dst), "%s", fd->key)
    ADD(vkey, "Sage 300 Customer ID", "varchar", NULL);
    ADD(dkey, "Credit limit", "double", NULL);
    ADD(ekey, "Kind", "enum", labels);
    ADD(skey, "Tags", "set", labels);
    ADD(mkey, "Revenue", "monetary", NULL);
    ADD(akey, "Billing address", "address", NULL);
    ADD(gone, "Old", "varchar", NULL);
    pdsim_company_field(f->co, f->gone)->deleted = true;
#undef ADD
    cJSON_Delete(labels);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pdsim_store_free(&f->st);
    free(f);
    return 0;
}

static bool org_ok(struct fx *f, const char *json, bool create, char *msg, size_t msgsz)
{
    cJSON *b = cJSON_Parse(json);
    assert_non_null(b);
    bool ok = pdsim_validate_org(f->co, b, create, msg, msgsz);
    cJSON_Delete(b);
    return ok;
}

static void keys_are_40_hex_and_system_fields_exist(void **state)
{
    struct fx *f = *state;
    assert_true(pdsim_looks_like_hash(f->vkey));
    assert_string_not_equal(f->vkey, f->dkey);
    assert_non_null(pdsim_company_field(f->co, "name"));
    assert_non_null(pdsim_company_field(f->co, "address"));
    assert_false(pdsim_company_field(f->co, "name")->is_custom);
    /* another company gets other keys */
    struct pdsim_company *co2 = pdsim_store_add_company(&f->st, 2, "Co2", "co2", NULL);
    f->co = &f->st.companies[0]; /* the array moved */
    struct pdsim_field *k =
        pdsim_company_add_field(co2, "Sage 300 Customer ID", "varchar", NULL, 0, NULL);
    assert_string_not_equal(k->key, f->vkey);
    assert_null(pdsim_company_add_field(co2, "x", "visible_to", NULL, 0, NULL));
}

static void org_body_rules(void **state)
{
    struct fx *f = *state;
    char msg[512], body[1024];

    assert_true(org_ok(f, "{\"name\":\"Acme\"}", true, msg, sizeof(msg)));
    assert_false(org_ok(f, "{\"owner_id\":1}", true, msg, sizeof(msg)));
    assert_string_equal(msg, "Validation failed: name: is required");
    assert_true(org_ok(f, "{\"owner_id\":1}", false, msg, sizeof(msg))); /* PATCH */
    assert_false(org_ok(f, "{\"name\":\"\"}", true, msg, sizeof(msg)));
    assert_false(org_ok(f, "{\"name\":5}", true, msg, sizeof(msg)));
    /* strings where numbers are expected */
    assert_false(org_ok(f, "{\"name\":\"A\",\"owner_id\":\"1\"}", true, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "owner_id"));
    assert_false(org_ok(f, "{\"name\":\"A\",\"visible_to\":\"3\"}", true, msg, sizeof(msg)));
    assert_false(org_ok(f, "{\"name\":\"A\",\"visible_to\":4}", true, msg, sizeof(msg)));
    assert_false(org_ok(f, "{\"name\":\"A\",\"owner_id\":1.5}", true, msg, sizeof(msg)));
    assert_false(org_ok(f, "{\"name\":\"A\",\"label_ids\":[\"1\"]}", true, msg, sizeof(msg)));
    assert_true(
        org_ok(f, "{\"name\":\"A\",\"industry\":null,\"website\":null}", true, msg, sizeof(msg)));
    /* top-level custom field hash names the parameter */
    snprintf(body, sizeof(body), "{\"name\":\"A\",\"%s\":\"C1\"}", f->vkey);
    assert_false(org_ok(f, body, true, msg, sizeof(msg)));
    assert_non_null(strstr(msg, f->vkey));
    assert_non_null(strstr(msg, "is not allowed"));
    assert_false(org_ok(f, "{\"name\":\"A\",\"label\":1}", true, msg, sizeof(msg)));
    /* add_time on POST only */
    assert_true(org_ok(f, "{\"name\":\"A\",\"add_time\":\"2025-01-01T10:20:00Z\"}", true, msg,
                       sizeof(msg)));
    assert_false(org_ok(f, "{\"add_time\":\"2025-01-01T10:20:00Z\"}", false, msg, sizeof(msg)));
    /* address: value required, known string subfields only */
    assert_true(org_ok(f, "{\"name\":\"A\",\"address\":{\"value\":\"x\",\"locality\":\"T\"}}", true,
                       msg, sizeof(msg)));
    assert_false(
        org_ok(f, "{\"name\":\"A\",\"address\":{\"locality\":\"T\"}}", true, msg, sizeof(msg)));
    assert_false(org_ok(f, "{\"name\":\"A\",\"address\":\"Main St\"}", true, msg, sizeof(msg)));
    assert_false(org_ok(f, "{\"name\":\"A\",\"address\":{\"value\":\"x\",\"city\":\"T\"}}", true,
                        msg, sizeof(msg)));
    assert_false(org_ok(f, "[]", true, msg, sizeof(msg)));
}

static void custom_field_rules(void **state)
{
    struct fx *f = *state;
    char msg[512], body[1024];
#define CF(key, val) snprintf(body, sizeof(body), "{\"custom_fields\":{\"%s\":%s}}", key, val)

    CF(f->vkey, "\"C001\"");
    assert_true(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->vkey, "1");
    assert_false(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->vkey, "null");
    assert_true(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->dkey, "12.5");
    assert_true(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->dkey, "\"12.5\"");
    assert_false(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->mkey, "{\"value\":500,\"currency\":\"USD\"}");
    assert_true(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->mkey, "500");
    assert_false(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->mkey, "{\"value\":\"500\",\"currency\":\"USD\"}");
    assert_false(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->ekey, "1");
    assert_true(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->ekey, "\"1\"");
    assert_false(org_ok(f, body, false, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "Expected 'number'"));
    CF(f->ekey, "999");
    assert_false(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->skey, "[3,4]"); /* option ids are unique per company: the enum took 1 and 2 */
    assert_true(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->skey, "[1]");
    assert_false(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->skey, "[]");
    assert_false(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->skey, "null");
    assert_true(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->akey, "{\"value\":\"Main 1\"}");
    assert_true(org_ok(f, body, false, msg, sizeof(msg)));
    CF(f->gone, "\"x\"");
    assert_false(org_ok(f, body, false, msg, sizeof(msg)));
    assert_non_null(strstr(msg, f->gone));
    CF("0123456789012345678901234567890123456789", "\"x\"");
    assert_false(org_ok(f, body, false, msg, sizeof(msg)));
    CF("name", "\"x\"");
    assert_false(org_ok(f, body, false, msg, sizeof(msg)));
#undef CF
}

static void field_bodies(void **state)
{
    char msg[256];
    cJSON *b;
#define CHECK(fn, json, expect)                                                                    \
    b = cJSON_Parse(json);                                                                         \
    assert_int_equal(fn(b, msg, sizeof(msg)), expect);                                             \
    cJSON_Delete(b)
    CHECK(pdsim_validate_field_v2, "{\"field_name\":\"X\",\"field_type\":\"varchar\"}", true);
    CHECK(pdsim_validate_field_v2, "{\"field_name\":\"X\",\"field_type\":\"enum\"}", false);
    CHECK(pdsim_validate_field_v2,
          "{\"field_name\":\"X\",\"field_type\":\"enum\",\"options\":[{\"label\":\"a\"}]}", true);
    CHECK(pdsim_validate_field_v2, "{\"field_name\":\"\",\"field_type\":\"varchar\"}", false);
    CHECK(pdsim_validate_field_v2, "{\"field_name\":\"X\",\"field_type\":\"visible_to\"}", false);
    CHECK(pdsim_validate_field_v2, "{\"name\":\"X\",\"field_type\":\"varchar\"}", false);
    CHECK(pdsim_validate_field_v1, "{\"name\":\"X\",\"field_type\":\"varchar\",\"foo\":1}", true);
    CHECK(pdsim_validate_field_v1, "{\"name\":\"X\",\"field_type\":\"set\",\"options\":[\"a\"]}",
          true);
    CHECK(pdsim_validate_field_v1, "{\"field_type\":\"varchar\"}", false);
#undef CHECK
}

static struct pdsim_org *create(struct fx *f, const char *json, long delay)
{
    cJSON *b = cJSON_Parse(json);
    struct pdsim_org *o = pdsim_company_create_org(f->co, b, 1000000, delay, NULL);
    assert_non_null(o);
    cJSON_Delete(b);
    return o;
}

static void patch_replaces_the_whole_address(void **state)
{
    struct fx *f = *state;
    struct pdsim_org *o = create(
        f, "{\"name\":\"A\",\"address\":{\"value\":\"1 Main\",\"locality\":\"Tallinn\"}}", 0);
    cJSON *p = cJSON_Parse("{\"address\":{\"value\":\"2 Side\"}}");
    const cJSON *a;

    a = cJSON_GetObjectItem(o->doc, "address");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a, "locality")), "Tallinn");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(a, "country")));
    pdsim_org_apply(o, p, 2000, NULL);
    a = cJSON_GetObjectItem(o->doc, "address");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a, "value")), "2 Side");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(a, "locality")));
    assert_int_equal(o->update_time, 2000);
    cJSON_Delete(p);
}

static void custom_values_merge_and_null_clears(void **state)
{
    struct fx *f = *state;
    char json[512];
    snprintf(json, sizeof(json), "{\"name\":\"A\",\"custom_fields\":{\"%s\":\"C1\",\"%s\":3}}",
             f->vkey, f->dkey);
    struct pdsim_org *o = create(f, json, 0);
    snprintf(json, sizeof(json), "{\"custom_fields\":{\"%s\":null}}", f->dkey);
    cJSON *p = cJSON_Parse(json);
    pdsim_org_apply(o, p, 5, NULL);
    cJSON_Delete(p);
    assert_string_equal(cJSON_GetStringValue(pdsim_org_custom(o, f->vkey)), "C1");
    assert_null(pdsim_org_custom(o, f->dkey));
    /* the rendering lists every live custom field, or only the selection */
    cJSON *r = pdsim_org_render(f->co, o, NULL, 0);
    cJSON *cf = cJSON_GetObjectItem(r, "custom_fields");
    assert_int_equal(cJSON_GetArraySize(cf), 6); /* 7 custom fields, one deleted */
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cf, f->dkey)));
    assert_null(cJSON_GetObjectItem(cf, f->gone));
    cJSON_Delete(r);
    const char *sel[] = {f->vkey};
    r = pdsim_org_render(f->co, o, sel, 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "custom_fields")), 1);
    cJSON_Delete(r);
}

static void search_matching_rules(void **state)
{
    struct fx *f = *state;
    char json[512];
    cJSON *res;

    snprintf(json, sizeof(json), "{\"name\":\"Acme Ltd\",\"custom_fields\":{\"%s\":\"C-001\"}}",
             f->vkey);
    create(f, json, 0);
    snprintf(json, sizeof(json),
             "{\"name\":\"Other\",\"custom_fields\":{\"%s\":\"c-001\",\"%s\":2}}", f->vkey,
             f->ekey);
    create(f, json, 0);
    create(f, "{\"name\":\"Late C-001\"}", 60000); /* not indexed yet */

    assert_false(pdsim_search_term_ok("C", false));
    assert_true(pdsim_search_term_ok("C", true));
    assert_true(pdsim_search_term_ok("Ü1", false));
    assert_false(pdsim_search_term_ok("", true));

    /* org search exact_match: case-insensitive, any searchable custom field */
    res = pdsim_search_orgs(f->co, "C-001", true, PDSIM_SF_CUSTOM, 1000000);
    assert_int_equal(cJSON_GetArraySize(res), 2);
    cJSON *item = cJSON_GetObjectItem(cJSON_GetArrayItem(res, 0), "item");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(item, "type")), "organization");
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(item, "custom_fields")));
    cJSON_Delete(res);
    res = pdsim_search_orgs(f->co, "C-00", true, PDSIM_SF_ALL, 1000000);
    assert_int_equal(cJSON_GetArraySize(res), 0);
    cJSON_Delete(res);
    res = pdsim_search_orgs(f->co, "acme", false, PDSIM_SF_NAME, 1000000);
    assert_int_equal(cJSON_GetArraySize(res), 1);
    cJSON_Delete(res);
    /* enum values are not searchable: "2" matches nothing */
    res = pdsim_search_orgs(f->co, "2", true, PDSIM_SF_CUSTOM, 1000000);
    assert_int_equal(cJSON_GetArraySize(res), 0);
    cJSON_Delete(res);
    /* indexing delay */
    res = pdsim_search_orgs(f->co, "late c-001", true, PDSIM_SF_NAME, 1000000);
    assert_int_equal(cJSON_GetArraySize(res), 0);
    cJSON_Delete(res);
    res = pdsim_search_orgs(f->co, "late c-001", true, PDSIM_SF_NAME, 1060000);
    assert_int_equal(cJSON_GetArraySize(res), 1);
    cJSON_Delete(res);

    /* itemSearch/field: case-sensitive, one field */
    const struct pdsim_field *fd = pdsim_company_field(f->co, f->vkey);
    res = pdsim_search_field(f->co, fd, "C-001", PDSIM_MATCH_EXACT, 1000000);
    assert_int_equal(cJSON_GetArraySize(res), 1);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(res, 0), "name")), "Acme Ltd");
    cJSON_Delete(res);
    res = pdsim_search_field(f->co, fd, "C-0", PDSIM_MATCH_BEGINNING, 1000000);
    assert_int_equal(cJSON_GetArraySize(res), 1);
    cJSON_Delete(res);
    res = pdsim_search_field(f->co, fd, "-00", PDSIM_MATCH_MIDDLE, 1000000);
    assert_int_equal(cJSON_GetArraySize(res), 2);
    cJSON_Delete(res);

    /* deleted organizations are never found */
    pdsim_org_delete(pdsim_company_org(f->co, 1), 7);
    res = pdsim_search_field(f->co, fd, "C-001", PDSIM_MATCH_EXACT, 1000000);
    assert_int_equal(cJSON_GetArraySize(res), 0);
    cJSON_Delete(res);

    unsigned mask;
    assert_true(pdsim_search_parse_fields("name,custom_fields", &mask));
    assert_int_equal(mask, PDSIM_SF_NAME | PDSIM_SF_CUSTOM);
    assert_false(pdsim_search_parse_fields("name,phone", &mask));
}

static void dump_and_load_round_trip(void **state)
{
    struct fx *f = *state;
    char json[512];
    snprintf(json, sizeof(json), "{\"name\":\"Keep\",\"custom_fields\":{\"%s\":\"K1\"}}", f->vkey);
    create(f, json, 0);
    pdsim_org_delete(create(f, "{\"name\":\"Gone\"}", 0), 9);

    cJSON *dump = pdsim_store_dump(&f->st);
    struct pdsim_store st2;
    pdsim_store_init(&st2);
    assert_int_equal(pdsim_store_load(&st2, dump, 5000, NULL), MLC_OK);
    struct pdsim_company *co = &st2.companies[0];
    assert_int_equal(co->norgs, 2);
    assert_true(pdsim_company_org(co, 2)->deleted);
    assert_string_equal(cJSON_GetStringValue(pdsim_org_custom(pdsim_company_org(co, 1), f->vkey)),
                        "K1");
    assert_true(pdsim_company_field(co, f->gone)->deleted);
    assert_int_equal(pdsim_field_option(pdsim_company_field(co, f->ekey), 2) != NULL, 1);
    struct pdsim_company *c2;
    struct pdsim_token *t;
    assert_true(pdsim_store_find_token(&st2, "tok", &c2, &t));
    assert_false(pdsim_store_find_token(&st2, "nope", &c2, &t));
    /* next ids continue after the loaded ones */
    struct pdsim_org *o = pdsim_company_create_org(
        co,
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(dump, "companies"), 0),
                                "organizations"),
            0),
        0, 0, NULL);
    (void)o;
    assert_int_equal(co->orgs[co->norgs - 1].id, 3);
    cJSON_Delete(dump);
    pdsim_store_free(&st2);

    /* bad state leaves the store unchanged */
    cJSON *bad =
        cJSON_Parse("{\"companies\":[{\"fields\":[{\"name\":\"x\",\"field_type\":\"nope\"}]}]}");
    assert_int_not_equal(pdsim_store_load(&f->st, bad, 0, NULL), MLC_OK);
    assert_non_null(pdsim_company_field(&f->st.companies[0], f->vkey));
    cJSON_Delete(bad);
}

static void cursors_and_times(void **state)
{
    char *c = pdsim_cursor_encode("{\"offset\":500}");
    char *d = pdsim_cursor_decode(c);
    long long t;
    char buf[32];

    assert_string_equal(d, "{\"offset\":500}");
    free(c);
    free(d);
    assert_null(pdsim_cursor_decode("!!"));
    assert_true(pdsim_time_parse("2025-01-01T10:20:00Z", &t));
    pdsim_time_format(t, buf, sizeof(buf));
    assert_string_equal(buf, "2025-01-01T10:20:00Z");
    assert_true(pdsim_time_parse("2025-01-01T12:20:00+02:00", &t));
    pdsim_time_format(t, buf, sizeof(buf));
    assert_string_equal(buf, "2025-01-01T10:20:00Z");
    assert_false(pdsim_time_parse("2025-01-01T10:20:00.123Z", &t)); /* fractions rejected */
    assert_false(pdsim_time_parse("2025-01-01 10:20:00", &t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keys_are_40_hex_and_system_fields_exist, setup, teardown),
        cmocka_unit_test_setup_teardown(org_body_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(custom_field_rules, setup, teardown),
        cmocka_unit_test(field_bodies),
        cmocka_unit_test_setup_teardown(patch_replaces_the_whole_address, setup, teardown),
        cmocka_unit_test_setup_teardown(custom_values_merge_and_null_clears, setup, teardown),
        cmocka_unit_test_setup_teardown(search_matching_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(dump_and_load_round_trip, setup, teardown),
        cmocka_unit_test(cursors_and_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

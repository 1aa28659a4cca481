/* Unit tests of the Pipedrive sandbox's field and option changes, its length
 * limits and the company's currencies (pdsim_store, pdsim_validate). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "mlc_alloc.h"
#include "pdsim_store.h"
#include "pdsim_validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
    struct pdsim_store st;
    struct pdsim_company *co;
    char vkey[48], ekey[48], skey[48], mkey[48], tkey[48], akey[48];
    struct pdsim_rules rules;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    cJSON *labels = cJSON_Parse("[\"A\",\"B\",\"C\"]");
    struct pdsim_field *fd;

    assert_non_null(f);
    pdsim_store_init(&f->st);
    f->co = pdsim_store_add_company(&f->st, 1, "Co", "co", NULL);
    assert_non_null(f->co);
#define ADD(dst, name, type, l)                                                                    \
    fd = pdsim_company_add_field(f->co, name, type, l, 0, NULL);                                   \
    assert_non_null(fd);                                                                           \
    snprintf(f->dst, sizeof(f->dst), "%s", fd->key)
    ADD(vkey, "Sage 300 Customer ID", "varchar", NULL);
    ADD(ekey, "Kind", "enum", labels); /* options 1, 2, 3 */
    ADD(skey, "Tags", "set", labels);  /* options 4, 5, 6 */
    ADD(mkey, "Credit", "monetary", NULL);
    ADD(tkey, "Notes", "text", NULL);
    ADD(akey, "Billing", "address", NULL);
#undef ADD
    cJSON_Delete(labels);
    pdsim_rules_default(&f->rules);
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

/* Validates json as an organization body (create) with f->rules. */
static bool org_ok(struct fx *f, const char *json, char *msg, size_t msgsz)
{
    cJSON *b = cJSON_Parse(json);
    assert_non_null(b);
    bool ok = pdsim_validate_org_rules(f->co, &f->rules, b, true, msg, msgsz);
    cJSON_Delete(b);
    return ok;
}

/* A body of n copies of ch in member text: {"name":"...."} etc. */
static char *repeat_body(const char *before, const char *ch, size_t n, const char *after)
{
    size_t len = strlen(before) + strlen(ch) * n + strlen(after) + 1;
    char *s = malloc(len), *p;
    assert_non_null(s);
    p = s + snprintf(s, len, "%s", before);
    for (size_t i = 0; i < n; i++)
        p += snprintf(p, len - (size_t)(p - s), "%s", ch);
    snprintf(p, len - (size_t)(p - s), "%s", after);
    return s;
}

static void expect_len(struct fx *f, const char *before, const char *ch, size_t n,
                       const char *after, bool want, const char *named)
{
    char msg[512] = "";
    char *body = repeat_body(before, ch, n, after);
    bool ok = org_ok(f, body, msg, sizeof(msg));
    if (ok != want)
        fail_msg("%zu x '%s' in %s...: got %s (%s)", n, ch, before, ok ? "accepted" : "refused",
                 msg);
    if (!want)
        assert_non_null(strstr(msg, named));
    free(body);
}

static void lengths_are_counted_in_characters(void **state)
{
    struct fx *f = *state;
    char pre[128];

    expect_len(f, "{\"name\":\"", "n", 255, "\"}", true, "");
    expect_len(f, "{\"name\":\"", "n", 256, "\"}", false, "name: must be at most 255");
    expect_len(f, "{\"name\":\"", "\xc3\xa9", 255, "\"}", true, ""); /* é: 2 bytes */
    expect_len(f, "{\"name\":\"", "\xc3\xa9", 256, "\"}", false, "name");
    expect_len(f, "{\"name\":\"A\",\"address\":{\"value\":\"", "a", 255, "\"}}", true, "");
    expect_len(f, "{\"name\":\"A\",\"address\":{\"value\":\"", "a", 256, "\"}}", false,
               "address.value");
    expect_len(f, "{\"name\":\"A\",\"address\":{\"value\":\"v\",\"route\":\"", "r", 256, "\"}}",
               false, "address.route");
    snprintf(pre, sizeof(pre), "{\"name\":\"A\",\"custom_fields\":{\"%s\":{\"value\":\"", f->akey);
    expect_len(f, pre, "b", 256, "\"}}}", false, ".value: must be at most 255");
    expect_len(f, pre, "b", 256, "\"}}}", false, f->akey);
    snprintf(pre, sizeof(pre), "{\"name\":\"A\",\"custom_fields\":{\"%s\":\"", f->tkey);
    expect_len(f, pre, "t", 65535, "\"}}", true, "");
    expect_len(f, pre, "t", 65536, "\"}}", false, f->tkey);
    snprintf(pre, sizeof(pre), "{\"name\":\"A\",\"custom_fields\":{\"%s\":\"", f->vkey);
    expect_len(f, pre, "v", 255, "\"}}", true, "");
    expect_len(f, pre, "v", 256, "\"}}", false, "longer than 255");

    /* the inferred limits follow the rules; varchar does not */
    f->rules.max_name = 5;
    f->rules.max_address = 6;
    f->rules.max_text = 7;
    expect_len(f, "{\"name\":\"", "n", 5, "\"}", true, "");
    expect_len(f, "{\"name\":\"", "n", 6, "\"}", false, "at most 5");
    expect_len(f, "{\"name\":\"A\",\"address\":{\"value\":\"", "a", 7, "\"}}", false, "at most 6");
    snprintf(pre, sizeof(pre), "{\"name\":\"A\",\"custom_fields\":{\"%s\":\"", f->tkey);
    expect_len(f, pre, "t", 8, "\"}}", false, "longer than 7");
    snprintf(pre, sizeof(pre), "{\"name\":\"A\",\"custom_fields\":{\"%s\":\"", f->vkey);
    expect_len(f, pre, "v", 255, "\"}}", true, "");
}

static void currencies_are_the_companys(void **state)
{
    struct fx *f = *state;
    char msg[256], body[256];

    assert_int_equal(f->co->ncurrencies, 5);
    assert_true(pdsim_company_has_currency(f->co, "USD"));
    assert_true(pdsim_company_has_currency(f->co, "CHF"));
    assert_false(pdsim_company_has_currency(f->co, "usd"));
    assert_false(pdsim_company_has_currency(f->co, "SEK"));
    assert_false(pdsim_company_has_currency(f->co, NULL));
#define MONEY(cur)                                                                                 \
    snprintf(body, sizeof(body),                                                                   \
             "{\"name\":\"A\",\"custom_fields\":{\"%s\":{\"value\":1,\"currency\":\"%s\"}}}",      \
             f->mkey, cur)
    MONEY("EUR");
    assert_true(org_ok(f, body, msg, sizeof(msg)));
    MONEY("SEK");
    assert_false(org_ok(f, body, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "Currency 'SEK'"));
    assert_non_null(strstr(msg, f->mkey));
    assert_int_equal(pdsim_company_set_currencies(f->co, "SEK,BTC2", NULL), MLC_OK);
    assert_true(org_ok(f, body, msg, sizeof(msg)));
    MONEY("EUR");
    assert_false(org_ok(f, body, msg, sizeof(msg)));
#undef MONEY
    /* the field-only check has no company and so no currency rule */
    cJSON *v = cJSON_Parse("{\"value\":1,\"currency\":\"ZZZ\"}");
    assert_true(
        pdsim_validate_custom_value(pdsim_company_field(f->co, f->mkey), v, msg, sizeof(msg)));
    cJSON_Delete(v);

    assert_true(pdsim_currency_list_valid("USD", msg, sizeof(msg)));
    assert_true(pdsim_currency_list_valid("USD,EUR,POINTS", msg, sizeof(msg)));
    for (const char *const *bad = (const char *const[]){"", "USD,", ",USD", "US D", "US-D",
                                                        "ABCDEFGHIJKLMNOP", "EUR,\xc3\xa9", NULL};
         *bad; bad++) {
        msg[0] = '\0';
        if (pdsim_currency_list_valid(*bad, msg, sizeof(msg)))
            fail_msg("'%s' accepted as a currency list", *bad);
        assert_true(msg[0] != '\0');
        assert_int_equal(pdsim_company_set_currencies(f->co, *bad, NULL), MLC_PERM);
    }
    assert_int_equal(f->co->ncurrencies, 2); /* a refused list changes nothing */
}

static void currencies_round_trip_through_the_state(void **state)
{
    struct fx *f = *state;
    struct mlc_err err = {0};

    assert_int_equal(pdsim_company_set_currencies(f->co, "EUR,SEK", NULL), MLC_OK);
    cJSON *dump = pdsim_store_dump(&f->st);
    const cJSON *co = cJSON_GetArrayItem(cJSON_GetObjectItem(dump, "companies"), 0);
    char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(co, "currencies"));
    assert_string_equal(text, "[\"EUR\",\"SEK\"]");
    free(text);
    assert_int_equal(pdsim_store_load(&f->st, dump, 0, &err), MLC_OK);
    f->co = &f->st.companies[0];
    assert_true(pdsim_company_has_currency(f->co, "SEK"));
    assert_false(pdsim_company_has_currency(f->co, "USD"));
    cJSON_Delete(dump);

    /* without a list: the store's default, which survives loads */
    snprintf(f->st.currencies_default, sizeof(f->st.currencies_default), "NOK");
    cJSON *doc = cJSON_Parse("{\"companies\":[{\"id\":3}]}");
    assert_int_equal(pdsim_store_load(&f->st, doc, 0, &err), MLC_OK);
    assert_string_equal(f->st.currencies_default, "NOK");
    assert_int_equal(f->st.companies[0].ncurrencies, 1);
    assert_true(pdsim_company_has_currency(&f->st.companies[0], "NOK"));
    cJSON_Delete(doc);
    /* a bad list is refused and the store unchanged */
    doc = cJSON_Parse("{\"companies\":[{\"id\":4,\"currencies\":[\"E R\"]}]}");
    assert_int_equal(pdsim_store_load(&f->st, doc, 0, &err), MLC_PERM);
    assert_non_null(strstr(err.msg, "currencies"));
    assert_int_equal(f->st.companies[0].id, 3);
    cJSON_Delete(doc);
    doc = cJSON_Parse("{\"companies\":[{\"id\":4,\"currencies\":[]}]}");
    assert_int_equal(pdsim_store_load(&f->st, doc, 0, &err), MLC_PERM);
    cJSON_Delete(doc);
    f->co = &f->st.companies[0];
}

/* Creates an organization from json (validated) and returns it. */
static struct pdsim_org *make_org(struct fx *f, const char *json)
{
    char msg[256];
    cJSON *b = cJSON_Parse(json);
    assert_non_null(b);
    if (!pdsim_validate_org_rules(f->co, &f->rules, b, true, msg, sizeof(msg)))
        fail_msg("refused: %s", msg);
    struct pdsim_org *o = pdsim_company_create_org(f->co, b, 1000, 0, NULL);
    assert_non_null(o);
    cJSON_Delete(b);
    return o;
}

static bool options_ok(struct fx *f, const char *key, int which, const char *json, char *msg,
                       size_t msgsz)
{
    cJSON *b = cJSON_Parse(json);
    const struct pdsim_field *fd = pdsim_company_field(f->co, key);
    bool ok;
    assert_non_null(b);
    ok = which == 0   ? pdsim_validate_options_add(fd, b, msg, msgsz)
         : which == 1 ? pdsim_validate_options_update(fd, b, msg, msgsz)
                      : pdsim_validate_options_delete(fd, b, msg, msgsz);
    cJSON_Delete(b);
    return ok;
}

static void option_bodies(void **state)
{
    struct fx *f = *state;
    char msg[256];
    static const struct {
        int which; /* 0 add, 1 update, 2 delete */
        const char *json;
        bool ok;
        const char *named;
    } cases[] = {
        {0, "[{\"label\":\"D\"}]", true, ""},
        {0, "[{\"label\":\"D\"},{\"label\":\"E\"}]", true, ""},
        {0, "[]", false, "at least one"},
        {0, "{\"label\":\"D\"}", false, "array"},
        {0, "[{\"label\":\"\"}]", false, "label"},
        {0, "[{\"label\":5}]", false, "label"},
        {0, "[{\"label\":\"D\",\"id\":9}]", false, "'id'"},
        {0, "[\"D\"]", false, "object"},
        {1, "[{\"id\":1,\"label\":\"AA\"}]", true, ""},
        {1, "[{\"id\":1}]", false, "label"},
        {1, "[{\"id\":9,\"label\":\"X\"}]", false, "Option 9"},
        {1, "[{\"id\":4,\"label\":\"X\"}]", false, "Option 4"}, /* another field's option */
        {1, "[{\"id\":\"1\",\"label\":\"X\"}]", false, "id"},
        {1, "[{\"id\":1,\"label\":\"X\"},{\"id\":1,\"label\":\"Y\"}]", false, "twice"},
        {2, "[{\"id\":2}]", true, ""},
        {2, "[{\"id\":2},{\"id\":3}]", true, ""},
        {2, "[{\"id\":2},{\"id\":99}]", false, "Option 99"},
        {2, "[{}]", false, "id"},
        {2, "[{\"id\":2,\"label\":\"B\"}]", false, "'label'"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        msg[0] = '\0';
        bool ok = options_ok(f, f->ekey, cases[i].which, cases[i].json, msg, sizeof(msg));
        if (ok != cases[i].ok)
            fail_msg("case %zu %s: got %s (%s)", i, cases[i].json, ok ? "accepted" : "refused",
                     msg);
        if (!ok && !strstr(msg, cases[i].named))
            fail_msg("case %zu %s: message '%s' does not name '%s'", i, cases[i].json, msg,
                     cases[i].named);
    }
    /* fields without options */
    assert_false(options_ok(f, f->vkey, 0, "[{\"label\":\"D\"}]", msg, sizeof(msg)));
    assert_non_null(strstr(msg, "has no options"));
    /* at most 10,000 options per field */
    struct pdsim_field *fd = pdsim_company_field(f->co, f->ekey);
    cJSON *many = cJSON_CreateArray();
    for (int i = 0; i < PDSIM_OPTIONS_MAX - 3; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "label", "x");
        cJSON_AddItemToArray(many, o);
    }
    assert_true(pdsim_validate_options_add(fd, many, msg, sizeof(msg)));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "label", "one too many");
    cJSON_AddItemToArray(many, o);
    assert_false(pdsim_validate_options_add(fd, many, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "10000"));
    cJSON_Delete(many);
}

static void option_changes_reach_organizations(void **state)
{
    struct fx *f = *state;
    char json[512], msg[256];
    struct pdsim_field *e = pdsim_company_field(f->co, f->ekey);
    struct pdsim_field *s = pdsim_company_field(f->co, f->skey);

    snprintf(json, sizeof(json), "{\"name\":\"O1\",\"custom_fields\":{\"%s\":2,\"%s\":[4,5]}}",
             f->ekey, f->skey);
    struct pdsim_org *o1 = make_org(f, json);
    long o1id = o1->id;
    snprintf(json, sizeof(json), "{\"name\":\"O2\",\"custom_fields\":{\"%s\":1,\"%s\":[5]}}",
             f->ekey, f->skey);
    make_org(f, json);

    /* add: new ids after every id of the company, in order */
    cJSON *b = cJSON_Parse("[{\"label\":\"D\"},{\"label\":\"E\"}]");
    cJSON *added = pdsim_field_add_options(f->co, e, b);
    cJSON_Delete(b);
    char *text = cJSON_PrintUnformatted(added);
    assert_string_equal(text, "[{\"id\":7,\"label\":\"D\"},{\"id\":8,\"label\":\"E\"}]");
    free(text);
    cJSON_Delete(added);
    assert_int_equal(cJSON_GetArraySize(e->options), 5);
    assert_non_null(pdsim_field_option(e, 8));

    /* update: the label changes, the id stays */
    b = cJSON_Parse("[{\"id\":7,\"label\":\"D2\"}]");
    cJSON *upd = pdsim_field_update_options(e, b);
    cJSON_Delete(b);
    assert_int_equal(cJSON_GetArraySize(upd), 1);
    cJSON_Delete(upd);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(pdsim_field_option(e, 7), "label")), "D2");

    /* delete: organizations lose the value; a set keeps its other options */
    b = cJSON_Parse("[{\"id\":2}]");
    cJSON *del = pdsim_field_delete_options(f->co, e, b);
    cJSON_Delete(b);
    text = cJSON_PrintUnformatted(del);
    assert_string_equal(text, "[{\"id\":2,\"label\":\"B\"}]");
    free(text);
    cJSON_Delete(del);
    assert_null(pdsim_field_option(e, 2));
    o1 = pdsim_company_org(f->co, o1id);
    assert_null(pdsim_org_custom(o1, f->ekey));
    assert_int_equal(
        (long)pdsim_org_custom(pdsim_company_org(f->co, o1id + 1), f->ekey)->valuedouble, 1);
    b = cJSON_Parse("[{\"id\":5}]");
    cJSON_Delete(pdsim_field_delete_options(f->co, s, b));
    cJSON_Delete(b);
    text = cJSON_PrintUnformatted(pdsim_org_custom(o1, f->skey));
    assert_string_equal(text, "[4]");
    free(text);
    assert_null(pdsim_org_custom(pdsim_company_org(f->co, o1id + 1), f->skey)); /* [] cleared */

    /* and a write naming the deleted option is refused */
    snprintf(json, sizeof(json), "{\"name\":\"O3\",\"custom_fields\":{\"%s\":2}}", f->ekey);
    assert_false(org_ok(f, json, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "Option 2 does not exist"));
    snprintf(json, sizeof(json), "{\"name\":\"O3\",\"custom_fields\":{\"%s\":[4,5]}}", f->skey);
    assert_false(org_ok(f, json, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "Option 5 does not exist"));
}

static void a_deleted_field_leaves_organizations_and_writes(void **state)
{
    struct fx *f = *state;
    char json[256], msg[256];

    snprintf(json, sizeof(json), "{\"name\":\"O1\",\"custom_fields\":{\"%s\":\"C1\"}}", f->vkey);
    long id = make_org(f, json)->id;
    pdsim_field_delete(f->co, pdsim_company_field(f->co, f->vkey));
    assert_true(pdsim_company_field(f->co, f->vkey)->deleted);
    assert_null(pdsim_org_custom(pdsim_company_org(f->co, id), f->vkey));
    assert_false(org_ok(f, json, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "does not exist"));
    assert_non_null(strstr(msg, f->vkey));
    snprintf(json, sizeof(json), "{\"name\":\"O1\",\"custom_fields\":{\"%s\":null}}", f->vkey);
    assert_false(org_ok(f, json, msg, sizeof(msg)));
}

static void field_patch_bodies(void **state)
{
    struct fx *f = *state;
    char msg[256];
    const struct pdsim_field *custom = pdsim_company_field(f->co, f->vkey);
    const struct pdsim_field *sys = pdsim_company_field(f->co, "name");
    static const struct {
        const char *json;
        bool custom_ok, system_ok;
    } cases[] = {
        {"{\"field_name\":\"New\"}", true, false},
        {"{\"ui_visibility\":{\"add_visible_flag\":true}}", true, true},
        {"{\"important_fields\":{\"enabled\":false},\"required_fields\":{}}", true, true},
        {"{}", false, false},
        {"[]", false, false},
        {"{\"field_name\":\"\"}", false, false},
        {"{\"field_type\":\"text\"}", false, false},
        {"{\"options\":[]}", false, false},
        {"{\"ui_visibility\":1}", false, false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        cJSON *b = cJSON_Parse(cases[i].json);
        assert_non_null(b);
        if (pdsim_validate_field_patch(custom, b, msg, sizeof(msg)) != cases[i].custom_ok)
            fail_msg("custom field, case %zu %s", i, cases[i].json);
        if (pdsim_validate_field_patch(sys, b, msg, sizeof(msg)) != cases[i].system_ok)
            fail_msg("system field, case %zu %s", i, cases[i].json);
        cJSON_Delete(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(lengths_are_counted_in_characters, setup, teardown),
        cmocka_unit_test_setup_teardown(currencies_are_the_companys, setup, teardown),
        cmocka_unit_test_setup_teardown(currencies_round_trip_through_the_state, setup, teardown),
        cmocka_unit_test_setup_teardown(option_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(option_changes_reach_organizations, setup, teardown),
        cmocka_unit_test_setup_teardown(a_deleted_field_leaves_organizations_and_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(field_patch_bodies, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

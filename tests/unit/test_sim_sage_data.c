/* test_sim_sage_data.c - Sage sandbox records: merge/validation, store order, rendering, generator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mlc_alloc.h"
#include "sagesim_data.h"
#include "sagesim_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sagesim_customer *from(const char *json, char *msg, size_t msgsz)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    struct sagesim_customer *c = sagesim_customer_merge(NULL, o, msg, msgsz);
    cJSON_Delete(o);
    return c;
}

static char *render(const struct sagesim_customer *c, const bool *sel)
{
    struct mlc_buf b;
    mlc_buf_init(&b, 1 << 20);
    assert_int_equal(sagesim_render_customer(&b, c, sel, NULL), MLC_OK);
    return mlc_buf_steal(&b);
}

static void test_merge_and_render(void **state)
{
    char msg[256];
    struct sagesim_customer *c = from(
        "{\"CustomerNumber\":\"A\\\"B\",\"CustomerName\":\"Tab\\there \\u00e9\","
        "\"CreditLimitCustomerCurrency\":-1234.5,\"SalesSplitPercentage1\":12.34567,"
        "\"NumberOfOpenDocuments\":3,\"DateLastMaintained\":\"2024-03-18T00:00:00\","
        "\"OnHold\":\"Yes\",\"AddressLine2\":null,\"SuppressIntegration\":true,"
        "\"CustomerOptionalFieldValues\":[{\"OptionalField\":\"X\"},{\"OptionalField\":\"Y\"}]}",
        msg, sizeof msg);
    assert_non_null(c);
    char *s = render(c, NULL);
    assert_non_null(strstr(s, "{\"CustomerNumber\":\"A\\\"B\",\"ShortName\":\"\","));
    assert_non_null(strstr(s, "\"CustomerName\":\"Tab\\there \xc3\xa9\""));
    assert_non_null(strstr(s, "\"CreditLimitCustomerCurrency\":-1234.500,"));
    assert_non_null(strstr(s, "\"SalesSplitPercentage1\":12.34567,"));
    assert_non_null(strstr(s, "\"NumberOfOpenDocuments\":3,"));
    assert_non_null(strstr(s, "\"DateLastMaintained\":\"2024-03-18T00:00:00Z\","));
    assert_non_null(strstr(s, "\"InactiveDate\":null,"));
    assert_non_null(strstr(s, "\"OnHold\":\"Yes\","));
    assert_non_null(strstr(s, "\"Status\":\"Active\","));
    assert_non_null(strstr(s, "\"AddressLine2\":null,"));
    assert_non_null(strstr(s, "\"SuppressIntegration\":true,"));
    assert_non_null(strstr(s, "\"NumberOfOptionalFields\":2,"));
    assert_non_null(strstr(s, "\"CustomerOptionalFieldValues\":[{\"OptionalField\":\"X\"},"));
    cJSON *doc = cJSON_Parse(s);
    assert_non_null(doc);
    assert_int_equal(cJSON_GetArraySize(doc), SAGESIM_NFIELDS);
    cJSON_Delete(doc);
    free(s);

    /* merge keeps what is not given */
    cJSON *patch = cJSON_Parse("{\"ShortName\":\"SHORT\"}");
    struct sagesim_customer *c2 = sagesim_customer_merge(c, patch, msg, sizeof msg);
    cJSON_Delete(patch);
    assert_non_null(c2);
    assert_string_equal(c2->v[1].s, "SHORT");
    assert_string_equal(c2->v[SAGESIM_F_CUSTOMERNUMBER].s, "A\"B");
    bool sel[SAGESIM_NFIELDS] = {false};
    sel[0] = sel[1] = true;
    s = render(c2, sel);
    assert_string_equal(s, "{\"CustomerNumber\":\"A\\\"B\",\"ShortName\":\"SHORT\"}");
    free(s);
    free(c);
    free(c2);
}

static void test_merge_refuses_bad_input(void **state)
{
    char msg[256];
    static const char *const bad[] = {
        "{\"CustomerNumber\":\"X\",\"Nope\":1}",
        "{\"CustomerName\":\"no key\"}",
        "{\"CustomerNumber\":\"\"}",
        "{\"CustomerNumber\":\"TOO-LONG-KEY-X\"}",
        "{\"CustomerNumber\":\"X\",\"ShortName\":\"ELEVENCHARS\"}",
        "{\"CustomerNumber\":\"X\",\"Status\":\"Asleep\"}",
        "{\"CustomerNumber\":\"X\",\"TaxClassCode1\":1.5}",
        "{\"CustomerNumber\":\"X\",\"CreditLimitCustomerCurrency\":\"5\"}",
        "{\"CustomerNumber\":\"X\",\"StartDate\":\"2024-02-30\"}",
        "{\"CustomerNumber\":\"X\",\"SuppressIntegration\":1}",
        "{\"CustomerNumber\":\"X\",\"CustomerOptionalFieldValues\":[1]}",
        "[]",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        msg[0] = '\0';
        struct sagesim_customer *c = from(bad[i], msg, sizeof msg);
        if (c) {
            free(c);
            fail_msg("accepted %s", bad[i]);
        }
        assert_true(msg[0] != '\0');
    }
    /* 60 characters of non-ASCII text fit a 60-character field */
    char json[512] = "{\"CustomerNumber\":\"X\",\"CustomerName\":\"";
    for (int i = 0; i < 60; i++)
        strcat(json, "\xc3\xa9");
    strcat(json, "\"}");
    struct sagesim_customer *c = from(json, msg, sizeof msg);
    assert_non_null(c);
    free(c);
}

static void test_store_order_and_generator(void **state)
{
    struct sagesim_store st;
    sagesim_store_init(&st, sagesim_days_from_civil(2024, 3, 18));
    struct sagesim_company *co = sagesim_store_add_company(&st, "saminc");
    assert_non_null(co);
    assert_string_equal(co->code, "SAMINC");
    assert_ptr_equal(sagesim_store_company(&st, "SamInc"), co);
    assert_null(sagesim_store_add_company(&st, "BAD CO"));
    assert_true(sagesim_generate(&st, co, 500, 7));
    assert_int_equal(co->n, 500);
    for (size_t i = 1; i < co->n; i++)
        assert_true(strcmp(co->cust[i - 1]->v[0].s, co->cust[i]->v[0].s) < 0);
    int64_t today = st.today;
    for (size_t i = 0; i < co->n; i++) {
        int64_t d = co->cust[i]->v[sagesim_f_datelastmaintained].i;
        assert_true(d <= today && d > today - 731);
        assert_true(strlen(co->cust[i]->v[0].s) <= 12);
    }
    char k[16];
    snprintf(k, sizeof k, "%s", co->cust[10]->v[0].s); /* the record (and its key) gets freed */
    assert_ptr_equal(sagesim_company_find(co, k), co->cust[10]);
    size_t lb = sagesim_company_lower_bound(co, k, false);
    assert_int_equal(lb, 11);

    /* same seed, same data; another seed differs */
    struct sagesim_store st2;
    sagesim_store_init(&st2, st.today);
    assert_non_null(sagesim_store_add_company(&st2, "SAMINC"));
    assert_non_null(sagesim_store_add_company(&st2, "OTHER"));
    /* adding a company may move the others: look them up again */
    struct sagesim_company *a = sagesim_store_company(&st2, "SAMINC");
    struct sagesim_company *b = sagesim_store_company(&st2, "OTHER");
    assert_true(sagesim_generate(&st2, a, 500, 7));
    assert_true(sagesim_generate(&st2, b, 500, 8));
    char *x = render(co->cust[42], NULL), *y = render(a->cust[42], NULL),
         *z = render(b->cust[42], NULL);
    assert_string_equal(x, y);
    assert_string_not_equal(strstr(x, "\"CustomerName\""), strstr(z, "\"CustomerName\""));
    free(x);
    free(y);
    free(z);

    assert_true(sagesim_company_delete(co, k));
    assert_false(sagesim_company_delete(co, k));
    assert_null(sagesim_company_find(co, k));
    assert_int_equal(co->n, 499);
    sagesim_store_free(&st);
    sagesim_store_free(&st2);
}

static void test_generator_never_replaces_loaded_records(void **state)
{
    char msg[256];
    struct sagesim_store st;
    sagesim_store_init(&st, sagesim_days_from_civil(2024, 3, 18));
    struct sagesim_company *co = sagesim_store_add_company(&st, "SAMINC");
    /* index 1 would generate key 100001 */
    struct sagesim_customer *c =
        from("{\"CustomerNumber\":\"100001\",\"CustomerName\":\"Loaded\"}", msg, sizeof msg);
    sagesim_company_put(co, c);
    assert_true(sagesim_generate(&st, co, 5, 1));
    assert_int_equal(co->n, 6);
    assert_string_equal(
        sagesim_company_find(co, "100001")->v[sagesim_field_index("CustomerName")].s, "Loaded");
    sagesim_store_free(&st);
}

static void test_metadata_lists_every_property(void **state)
{
    struct mlc_buf b;
    mlc_buf_init(&b, 1 << 20);
    assert_int_equal(sagesim_render_metadata(&b), MLC_OK);
    const char *s = mlc_buf_str(&b);
    for (int i = 0; i < SAGESIM_NFIELDS; i++) {
        char want[128];
        snprintf(want, sizeof want, "<Property Name=\"%s\" ", sagesim_fields[i].name);
        assert_non_null(strstr(s, want));
    }
    assert_non_null(strstr(s, "<EntitySet Name=\"ARCustomers\""));
    assert_non_null(
        strstr(s, "<Property Name=\"DateLastMaintained\" Type=\"Edm.DateTimeOffset\"/>"));
    mlc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_and_render),
        cmocka_unit_test(test_merge_refuses_bad_input),
        cmocka_unit_test(test_store_order_and_generator),
        cmocka_unit_test(test_generator_never_replaces_loaded_records),
        cmocka_unit_test(test_metadata_lists_every_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

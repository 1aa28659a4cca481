/* Unit tests of ld_match: name normalisation and the matching rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "ld_match.h"
#include "mlc_alloc.h"
#include "mlc_config.h"

#include <string.h>

static struct ld_match_rules rules;

static int setup(void **state)
{
    /* the rules as shipped: MLC_MATCH_SUFFIXES's default */
    return ld_match_rules_init(&rules, mlc_cfg_defs[MLC_CFG_MATCH_SUFFIXES].def, NULL) == MLC_OK
               ? 0
               : -1;
}

static int teardown(void **state)
{
    ld_match_rules_free(&rules);
    return 0;
}

static const char *norm(const char *name)
{
    static char out[LD_MATCH_NAME_MAX];

    ld_match_normalize(&rules, name, out, sizeof(out));
    return out;
}

static void names_normalise(void **state)
{
    static const char *const cases[][2] = {
        {"Acme, Inc.", "acme"},
        {"ACME INC", "acme"},
        {"  Acme   Inc  ", "acme"},
        {"Müller GmbH", "muller"},
        {"MULLER", "muller"},
        {"Société Générale S.A.", "societe generale"},
        {"Smith & Sons Pty. Ltd.", "smith and sons"},
        {"Smith and Sons", "smith and sons"},
        {"O'Brien Supply Co", "obrien supply"},
        {"O\xe2\x80\x99"
         "Brien Supply",
         "obrien supply"},
        {"Łódź Trading sp", "lodz trading sp"},
        {"Straße-Bau AG", "strasse bau"},
        {"Bargain Mart - San Diego", "bargain mart san diego"},
        {"The Company", "the"},
        {"Inc", "inc"}, /* a suffix alone stays: a word must remain */
        {"Co. Co.", "co"},
        {"...", ""},
        {"", ""},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const char *got = norm(cases[i][0]);

        if (strcmp(got, cases[i][1]))
            fail_msg("normalise(\"%s\") = \"%s\", want \"%s\"", cases[i][0], got, cases[i][1]);
    }
}

static void suffix_list_is_a_setting(void **state)
{
    struct ld_match_rules r;
    struct mlc_err err = {0};
    char out[LD_MATCH_NAME_MAX];

    assert_int_equal(ld_match_rules_init(&r, " K.K. , Oy,", &err), MLC_OK);
    assert_int_equal(r.n, 2);
    ld_match_normalize(&r, "Nintendo K.K.", out, sizeof(out));
    assert_string_equal(out, "nintendo");
    ld_match_normalize(&r, "Acme Inc", out, sizeof(out));
    assert_string_equal(out, "acme inc"); /* Inc is not in this list */
    ld_match_rules_free(&r);
    assert_int_equal(ld_match_rules_init(&r, "Inc,&&", &err), MLC_PERM);
    assert_non_null(strstr(err.msg, "MLC_MATCH_SUFFIXES"));
    assert_int_equal(ld_match_rules_init(&r, "Pty Ltd", &err), MLC_PERM);
    assert_int_equal(ld_match_rules_init(&r, "", &err), MLC_OK);
    assert_int_equal(r.n, 0);
    ld_match_rules_free(&r);
}

static const struct ld_match_org orgs[] = {
    {101, "Acme Inc.", "92110", "San Diego", false},
    {102, "Müller GmbH", NULL, NULL, false},
    {103, "Bargain Mart", "92110", "San Diego", false}, /* two Bargain Marts */
    {104, "Bargain Mart Ltd", "10001", "New York", false},
    {105, "Twin Supply", "75001", "Paris", false}, /* twins: same postal */
    {106, "Twin Supply Co", "75001", "Paris", false},
    {107, "Claimed Corp", NULL, NULL, true}, /* carries IDs already */
    {108, "Globex", "30301", "Atlanta", false},
    {109, "Unrelated Bakery", NULL, NULL, false},
    {110, NULL, NULL, NULL, false},
};

static void customers_match_by_name_then_postal_then_city(void **state)
{
    struct ld_match_index *ix = NULL;
    struct ld_match_result r;

    ix = ld_match_index_new(&rules, orgs, ARRAY_SIZE(orgs));
    ld_match_find(ix, &(struct ld_match_customer){"ACME, INC", NULL, NULL}, &r);
    assert_int_equal(r.verdict, LD_MATCH_ONE);
    assert_int_equal(r.ids[0], 101);
    ld_match_find(ix, &(struct ld_match_customer){"Muller", NULL, NULL}, &r);
    assert_int_equal(r.verdict, LD_MATCH_ONE);
    assert_int_equal(r.ids[0], 102);
    /* two Bargain Marts: the postal code decides */
    ld_match_find(ix, &(struct ld_match_customer){"Bargain Mart", "10 001", "NYC"}, &r);
    assert_int_equal(r.verdict, LD_MATCH_ONE);
    assert_int_equal(r.ids[0], 104);
    /* no postal code: the city decides */
    ld_match_find(ix, &(struct ld_match_customer){"Bargain Mart", NULL, "san  diego"}, &r);
    assert_int_equal(r.verdict, LD_MATCH_ONE);
    assert_int_equal(r.ids[0], 103);
    /* neither decides: ambiguous, both ids ascending */
    ld_match_find(ix, &(struct ld_match_customer){"Bargain Mart", "99999", "Boston"}, &r);
    assert_int_equal(r.verdict, LD_MATCH_AMBIGUOUS);
    assert_int_equal(r.n_ids, 2);
    assert_int_equal(r.ids[0], 103);
    assert_int_equal(r.ids[1], 104);
    ld_match_find(ix, &(struct ld_match_customer){"Twin Supply", "75001", "Paris"}, &r);
    assert_int_equal(r.verdict, LD_MATCH_AMBIGUOUS);
    /* an organization that already carries IDs is never a candidate */
    ld_match_find(ix, &(struct ld_match_customer){"Claimed Corporation", NULL, NULL}, &r);
    assert_int_equal(r.verdict, LD_MATCH_NONE);
    ld_match_find(ix, &(struct ld_match_customer){"Initech", NULL, NULL}, &r);
    assert_int_equal(r.verdict, LD_MATCH_NONE);
    assert_string_equal(ld_match_verdict_name(LD_MATCH_ONE), "matched");
    ld_match_index_free(ix);
}

static void an_organization_two_customers_match_goes_to_neither(void **state)
{
    struct ld_match_index *ix = NULL;
    struct ld_match_customer cs[] = {
        {"Globex", NULL, NULL},     /* SAMINC's Globex */
        {"GLOBEX INC", NULL, NULL}, /* SAMLTD's Globex: the same organization */
        {"Acme", NULL, NULL},
        {"Nobody", NULL, NULL},
    };
    struct ld_match_result res[4];

    ix = ld_match_index_new(&rules, orgs, ARRAY_SIZE(orgs));
    ld_match_all(ix, cs, 4, res);
    assert_int_equal(res[0].verdict, LD_MATCH_AMBIGUOUS);
    assert_int_equal(res[0].ids[0], 108);
    assert_int_equal(res[1].verdict, LD_MATCH_AMBIGUOUS);
    assert_int_equal(res[2].verdict, LD_MATCH_ONE);
    assert_int_equal(res[3].verdict, LD_MATCH_NONE);
    ld_match_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_normalise),
        cmocka_unit_test(suffix_list_is_a_setting),
        cmocka_unit_test(customers_match_by_name_then_postal_then_city),
        cmocka_unit_test(an_organization_two_customers_match_goes_to_neither),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

/* Unit tests of ld_plan: what one event needs (no call, POST, PATCH, dead
 * letter, wait), from the event and the id map row. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "pd_fake.h"

#include "ld_fixture.h"
#include "ld_plan.h"
#include "mlc_time.h"

static struct ldfx *X;

static int setup(void **state)
{
    (void)state;
    X = fx_new(NULL, false);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_free(X);
    return 0;
}

static void work_free(struct work *w)
{
    mlc_event_free(&w->ev);
    cJSON_Delete(w->next);
    free(w->body);
    ld_map_row_free(&w->row);
    pd_call_reset(&w->call);
}

static void plan(struct work *w, struct item *it)
{
    struct mlc_err err = {0};

    memset(w, 0, sizeof(*w));
    w->it = it;
    assert_int_equal(ld_plan(&X->ld, w, &err), MLC_OK);
}

static void new_customer_is_a_post_with_its_ids(void **state)
{
    struct work w;
    char key[41];
    cJSON *b;

    (void)state;
    plan(&w, fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart")));
    assert_int_equal(w.kind, PLAN_POST);
    assert_false(w.finished);
    assert_int_equal(w.call.method, MLC_HTTP_POST);
    assert_string_equal(w.call.path, "/api/v2/organizations");
    assert_true(w.write_row);
    b = cJSON_Parse(w.body);
    assert_non_null(b);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(b, "name")->valuestring, "Bargain Mart");
    fx_field_key(X->ld.i_num, key);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(b, "custom_fields"), key)
            ->valuestring,
        "1200");
    assert_int_equal(strlen(w.hash), 64);
    assert_int_equal(F.n_sent, 0); /* planning sends nothing */
    cJSON_Delete(b);
    work_free(&w);
}

static void invalid_event_goes_to_the_dead_letter_topic(void **state)
{
    struct work w;

    (void)state;
    plan(&w, fx_garbage(X, "SAMLTD:1", "{not json"));
    assert_int_equal(w.kind, PLAN_DLQ);
    assert_string_equal(w.err_class, "invalid_event");
    assert_false(w.decoded);
    work_free(&w);
}

static void same_content_is_unchanged_without_a_call(void **state)
{
    struct ld_map_row row = {.org_id = 7};
    struct work w;

    (void)state;
    plan(&w, fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart")));
    mlc_strlcpy(row.state, "active", sizeof(row.state));
    mlc_strlcpy(row.hash, w.hash, sizeof(row.hash));
    row.payload = cJSON_PrintUnformatted(w.next);
    fx_put(X, "SAMLTD", "1200", &row);
    free(row.payload);
    work_free(&w);

    plan(&w, &X->item[0]);
    assert_true(w.finished);
    assert_int_equal(w.outcome, LD_OUT_UNCHANGED);
    assert_int_equal(w.org_id, 7);
    assert_int_equal(w.kind, PLAN_NONE);
    work_free(&w);
}

static void changed_content_is_a_patch_of_the_known_organization(void **state)
{
    struct ld_map_row row = {.org_id = 7};
    struct work w;

    (void)state;
    plan(&w, fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart")));
    mlc_strlcpy(row.state, "active", sizeof(row.state));
    mlc_strlcpy(row.hash, w.hash, sizeof(row.hash));
    row.payload = cJSON_PrintUnformatted(w.next);
    fx_put(X, "SAMLTD", "1200", &row);
    free(row.payload);
    work_free(&w);

    plan(&w, fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart West")));
    assert_int_equal(w.kind, PLAN_PATCH);
    assert_string_equal(w.call.path, "/api/v2/organizations/7");
    assert_non_null(strstr(w.body, "Bargain Mart West"));
    assert_null(strstr(w.body, "San Diego")); /* only what changed */
    work_free(&w);
}

static void missing_without_an_organization_is_unchanged(void **state)
{
    struct work w;

    (void)state;
    plan(&w, fx_event(X, "SAMLTD", "1300", NULL));
    assert_true(w.finished);
    assert_int_equal(w.outcome, LD_OUT_UNCHANGED);
    assert_non_null(strstr(w.reason, "missing in sage 300"));
    work_free(&w);
}

/* An organization of customer SAMLTD:1200 as GET answers it. */
static void dup_org(char *out, size_t outsz, int id)
{
    snprintf(out, outsz,
             "{\"data\":{\"id\":%d,\"name\":\"Org %d\",\"is_deleted\":false,"
             "\"custom_fields\":{\"%s\":\"1200\",\"%s\":\"SAMLTD\"}}}",
             id, id, X->ld.k_num, X->ld.k_co);
}

/* Still two organizations with the customer's IDs (the lookup by ID finds
 * both): nothing changes. */
static void duplicate_row_changes_nothing(void **state)
{
    struct ld_map_row row = {.org_id = 9};
    struct work w;
    char a[512], b[512];

    (void)state;
    mlc_strlcpy(row.state, "duplicate", sizeof(row.state));
    fx_put(X, "SAMLTD", "1200", &row);
    script("/api/v2/itemSearch/field?*", 200, "{\"data\":[{\"id\":9},{\"id\":10}]}");
    dup_org(a, sizeof(a), 9);
    dup_org(b, sizeof(b), 10);
    script("/api/v2/organizations/9", 200, a);
    script("/api/v2/organizations/10", 200, b);
    plan(&w, fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart")));
    assert_true(w.finished);
    assert_int_equal(w.outcome, LD_OUT_DUPLICATE);
    assert_int_equal(w.kind, PLAN_NONE);
    work_free(&w);
}

/* The duplicates were merged in Pipedrive: the lookup finds one, the state
 * ends and the event is planned against that organization (no reset). */
static void merged_duplicate_syncs_again(void **state)
{
    struct ld_map_row row = {.org_id = 9}, after;
    struct work w;
    char a[512];

    (void)state;
    mlc_strlcpy(row.state, "duplicate", sizeof(row.state));
    fx_put(X, "SAMLTD", "1200", &row);
    script("/api/v2/itemSearch/field?*", 200, "{\"data\":[{\"id\":10}]}");
    dup_org(a, sizeof(a), 10);
    script("/api/v2/organizations/10", 200, a);
    plan(&w, fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart")));
    assert_int_not_equal(w.outcome, LD_OUT_DUPLICATE);
    assert_int_equal(w.kind, PLAN_PATCH);
    assert_int_equal(w.org_id, 10);
    after = fx_row(X, "SAMLTD", "1200", true);
    assert_string_equal(after.state, "active");
    assert_int_equal(after.org_id, 10);
    ld_map_row_free(&after);
    work_free(&w);
}

static void deleted_in_pipedrive_is_left_deleted_by_default(void **state)
{
    struct ld_map_row row = {.org_id = 9};
    struct work w;

    (void)state;
    mlc_strlcpy(row.state, "deleted_in_crm", sizeof(row.state));
    fx_put(X, "SAMLTD", "1200", &row);
    plan(&w, fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart")));
    assert_true(w.finished);
    assert_int_equal(w.outcome, LD_OUT_DELETED_IN_CRM);
    assert_non_null(strstr(w.reason, "MLC_ON_CRM_DELETED=skip"));
    work_free(&w);
}

static void deleted_in_pipedrive_is_recreated_when_configured(void **state)
{
    char *env[] = {"MLC_ON_CRM_DELETED=recreate", NULL};
    struct ld_map_row row = {.org_id = 9};
    struct work w;

    (void)state;
    fx_free(X);
    X = fx_new(env, false);
    mlc_strlcpy(row.state, "deleted_in_crm", sizeof(row.state));
    fx_put(X, "SAMLTD", "1200", &row);
    plan(&w, fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart")));
    assert_int_equal(w.kind, PLAN_POST);
    assert_true(w.recreate);
    work_free(&w);
}

static void unanswered_create_waits_before_its_lookup(void **state)
{
    struct work w;
    struct mlc_err err = {0};
    int64_t now = mlc_realtime_ms();

    (void)state;
    assert_int_equal(ld_state_begin(X->ld.st, &err), MLC_OK);
    assert_int_equal(ld_state_map_pending(X->ld.st, "SAMLTD", "1200", now, &err), MLC_OK);
    assert_int_equal(ld_state_commit(X->ld.st, &err), MLC_OK);
    plan(&w, fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart")));
    assert_int_equal(w.kind, PLAN_WAIT);
    assert_false(w.finished);
    assert_true(X->ld.defer_until_ms >= now + X->ld.settle_ms);
    assert_int_equal(F.n_sent, 0); /* no lookup yet */
    work_free(&w);
}

/* After the settle time the lookup runs; a create that did land is found
 * and adopted, never sent twice. */
static void settled_lost_create_is_looked_up_and_adopted(void **state)
{
    struct work w;
    struct mlc_err err = {0};
    char body[1024], kn[41], kc[41];

    (void)state;
    fx_field_key(X->ld.i_num, kn);
    fx_field_key(X->ld.i_co, kc);
    snprintf(body, sizeof(body),
             "{\"data\":[{\"id\":55,\"name\":\"Bargain Mart\",\"custom_fields\":"
             "{\"%s\":\"1200\",\"%s\":\"SAMLTD\"}}],\"additional_data\":{}}",
             kn, kc);
    script("/api/v2/organizations?*", 200, body);
    assert_int_equal(ld_state_begin(X->ld.st, &err), MLC_OK);
    assert_int_equal(ld_state_map_pending(X->ld.st, "SAMLTD", "1200",
                                          mlc_realtime_ms() - 2 * X->ld.settle_ms, &err),
                     MLC_OK);
    assert_int_equal(ld_state_commit(X->ld.st, &err), MLC_OK);
    plan(&w, fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart")));
    assert_int_equal(F.n_sent, 1);
    assert_non_null(strstr(F.sent[0].path, "updated_since="));
    assert_int_equal(w.row.org_id, 55);
    /* adopted: its snapshot lacks what the mapping writes, so a PATCH */
    assert_int_equal(w.kind, PLAN_PATCH);
    assert_true(w.remote);
    assert_string_equal(w.call.path, "/api/v2/organizations/55");
    work_free(&w);
}

static void dry_run_sends_and_writes_nothing(void **state)
{
    struct work w;

    (void)state;
    fx_free(X);
    X = fx_new(NULL, true);
    plan(&w, fx_event(X, "SAMLTD", "1200", fx_customer("Bargain Mart")));
    assert_true(w.finished);
    assert_int_equal(w.outcome, LD_OUT_DRY_RUN);
    work_free(&w);
    (void)fx_row(X, "SAMLTD", "1200", false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(new_customer_is_a_post_with_its_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_event_goes_to_the_dead_letter_topic, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(same_content_is_unchanged_without_a_call, setup, teardown),
        cmocka_unit_test_setup_teardown(changed_content_is_a_patch_of_the_known_organization, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(missing_without_an_organization_is_unchanged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(duplicate_row_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(merged_duplicate_syncs_again, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_in_pipedrive_is_left_deleted_by_default, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(deleted_in_pipedrive_is_recreated_when_configured, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unanswered_create_waits_before_its_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(settled_lost_create_is_looked_up_and_adopted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dry_run_sends_and_writes_nothing, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of ext_scan: the keyset scan of one cycle against the Sage 300
 * sandbox run in this process (25 customers, $top 10), with librdkafka's
 * mock cluster as the broker: which pages are read, where the scan ends,
 * what a stop leaves committed. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "ext_fixture.h"
#include "ext_scan.h"
#include "sage_query.h"

#define N_CUSTOMERS 25

static int group_setup(void **state)
{
    (void)state;
    return fx_group_setup_customers(N_CUSTOMERS);
}

/* fx_setup, plus the ARCustomers resource of the cycle. */
static int setup(void **state)
{
    struct mlc_buf res;
    struct fx *f;
    struct mlc_err err = {0};

    fx_setup(state);
    f = *state;
    mlc_buf_init(&res, 2048);
    assert_int_equal(sage_query_resource_url(f->x.base_url, FX_COMPANY, "ARCustomers", &res, &err),
                     MLC_OK);
    mlc_strlcpy(f->c.resource, mlc_buf_str(&res), sizeof(f->c.resource));
    mlc_buf_free(&res);
    return 0;
}

static const char *sim_number(size_t i)
{
    return fx_sim.store.co[0].cust[i]->v[SAGESIM_F_CUSTOMERNUMBER].s;
}

/* Every page of $top 10 is read, then one empty page ends the scan (a short
 * page does not: the server's page size may be below $top); every customer
 * is published and committed, and the keyset position is the last one. */
static void the_scan_reads_until_an_empty_page(void **state)
{
    struct fx *f = *state;
    struct mlc_err err = {0};
    struct ext_known k;

    assert_int_equal(ext_scan(&f->c, NULL, &err), MLC_OK);
    assert_int_equal(f->c.st.records, N_CUSTOMERS);
    assert_int_equal(f->c.st.pages, 4); /* 10 + 10 + 5 + the empty one */
    assert_int_equal(f->c.st.published, N_CUSTOMERS);
    assert_true(f->c.has_last);
    assert_string_equal(f->c.last, sim_number(N_CUSTOMERS - 1));
    assert_true(f->c.max_lm[0] != '\0');
    for (size_t i = 0; i < N_CUSTOMERS; i++) {
        assert_int_equal(ext_state_customer_get(f->state, FX_COMPANY, sim_number(i), &k, &err),
                         MLC_OK);
        assert_true(k.has_hash);
    }
}

/* A lower bound on DateLastMaintained after every customer: one empty page. */
static void a_date_after_every_change_reads_nothing(void **state)
{
    struct fx *f = *state;
    struct mlc_err err = {0};

    assert_int_equal(ext_scan(&f->c, "2999-12-31", &err), MLC_OK);
    assert_int_equal(f->c.st.pages, 1);
    assert_int_equal(f->c.st.records, 0);
    assert_false(f->c.has_last);
}

/* A stop finishes the page in hand (delivered and committed), then the
 * scan ends retryable, naming the page. */
static void a_stop_settles_the_page_in_hand(void **state)
{
    struct fx *f = *state;
    struct mlc_err err = {0};
    struct ext_known k;

    f->stop = 1;
    assert_int_equal(ext_scan(&f->c, NULL, &err), MLC_RETRY);
    assert_string_equal(err.msg, "interrupted after page 1");
    assert_int_equal(f->c.st.pages, 1);
    assert_int_equal(f->c.st.published, 10);
    assert_int_equal(ext_state_customer_get(f->state, FX_COMPANY, sim_number(9), &k, &err), MLC_OK);
    assert_true(k.has_hash);
    assert_int_equal(ext_state_customer_get(f->state, FX_COMPANY, sim_number(10), &k, &err),
                     MLC_OK);
    assert_false(k.known);
}

/* A scan that resumes after a keyset position reads only what follows. */
static void the_scan_resumes_after_the_keyset_position(void **state)
{
    struct fx *f = *state;
    struct mlc_err err = {0};

    mlc_strlcpy(f->c.last, sim_number(19), sizeof(f->c.last));
    f->c.has_last = true;
    assert_int_equal(ext_scan(&f->c, NULL, &err), MLC_OK);
    assert_int_equal(f->c.st.records, N_CUSTOMERS - 20);
    assert_int_equal(f->c.st.pages, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_scan_reads_until_an_empty_page, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(a_date_after_every_change_reads_nothing, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(a_stop_settles_the_page_in_hand, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(the_scan_resumes_after_the_keyset_position, setup,
                                        fx_teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, fx_group_teardown);
}

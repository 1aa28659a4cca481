/* Unit tests of the loader's offset rule (ld_carry_storable): an offset is
 * stored only up to the first unfinished message of its partition, for any
 * number of partitions, and never past the earliest row of the partition in
 * the backlog of creates (ld_offset_bound); and of the budget rule that
 * stops creates at the reserve plus the update headroom. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "ld_backlog.h"
#include "ld_consume.h"

#include <string.h>

static rd_kafka_message_t msgs[CARRY_MAX];
static struct item carry[CARRY_MAX];
static bool storable[CARRY_MAX];

static void put(size_t i, int32_t partition, bool done)
{
    memset(&msgs[i], 0, sizeof(msgs[i]));
    msgs[i].partition = partition;
    carry[i] = (struct item){.msg = &msgs[i], .done = done};
}

static void in_order_per_partition(void **state)
{
    (void)state;
    put(0, 0, true);  /* first of partition 0: storable */
    put(1, 1, false); /* partition 1 blocked from here */
    put(2, 0, true);
    put(3, 1, true); /* behind an unfinished one */
    put(4, 2, true);
    assert_int_equal(ld_carry_storable(carry, 5, storable), 3);
    assert_true(storable[0] && storable[2] && storable[4]);
    assert_false(storable[1] || storable[3]);
}

/* A replica may hold hundreds of partitions: an unfinished message must
 * block its partition whatever its place among them. */
static void many_partitions(void **state)
{
    size_t n = 0;

    (void)state;
    for (int32_t p = 0; p < 1000; p++)
        put(n++, p, false);
    for (int32_t p = 0; p < 1000; p++)
        put(n++, p, true);
    assert_int_equal(ld_carry_storable(carry, n, storable), 0);
    for (size_t i = 0; i < n; i++)
        assert_false(storable[i]);
}

/* The committed offset never passes the earliest backlog row. */
static void never_past_the_backlog_floor(void **state)
{
    (void)state;
    assert_int_equal(ld_offset_bound(10, -1), 10); /* no backlog row */
    assert_int_equal(ld_offset_bound(10, 4), 4);   /* row at 4: re-read from 4 */
    assert_int_equal(ld_offset_bound(10, 9), 9);
    assert_int_equal(ld_offset_bound(10, 10), 10); /* row not reached yet */
    assert_int_equal(ld_offset_bound(10, 25), 10);
    assert_int_equal(ld_offset_bound(0, 0), 0);
}

/* A done message behind a backlog row leaves the carry but its offset is
 * stored only once the row is worked through. */
static void done_behind_a_backlog_row(void **state)
{
    (void)state;
    put(0, 0, true); /* offset 0, the create now in the backlog (floor 0) */
    put(1, 0, true); /* an update applied at once */
    assert_int_equal(ld_carry_storable(carry, 2, storable), 2); /* both leave the carry */
    assert_int_equal(ld_offset_bound(2, 0), 0);                 /* nothing committed yet */
    assert_int_equal(ld_offset_bound(2, -1), 2);                /* row worked: both */
}

/* Creates stop at reserve + headroom; updates still have the headroom. */
static void creates_stop_at_reserve_plus_headroom(void **state)
{
    (void)state;
    /* Growth plan: 60000 tokens, 20 % reserve, 5 % headroom: stop at 15000 */
    assert_true(ld_backlog_budget_allows(20000, 60000, 20, 5, 5));
    assert_true(ld_backlog_budget_allows(15005, 60000, 20, 5, 5));
    assert_false(ld_backlog_budget_allows(15004, 60000, 20, 5, 5));
    assert_false(ld_backlog_budget_allows(12000, 60000, 20, 5, 5));
    assert_true(ld_backlog_budget_allows(12005, 60000, 20, 0, 5)); /* no headroom */
    assert_true(ld_backlog_budget_allows(-1, 60000, 20, 5, 5));    /* unknown yet */
    assert_true(ld_backlog_budget_allows(100, 0, 20, 5, 5));
}

static void load_order_names(void **state)
{
    enum ld_load_order o;

    (void)state;
    assert_true(ld_load_order_parse("topic", &o) && o == LD_ORDER_TOPIC);
    assert_true(ld_load_order_parse("active_first", &o) && o == LD_ORDER_ACTIVE_FIRST);
    assert_true(ld_load_order_parse("recent_first", &o) && o == LD_ORDER_RECENT_FIRST);
    assert_false(ld_load_order_parse("newest", &o));
    assert_false(ld_load_order_parse(NULL, &o));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(in_order_per_partition),
        cmocka_unit_test(many_partitions),
        cmocka_unit_test(never_past_the_backlog_floor),
        cmocka_unit_test(done_behind_a_backlog_row),
        cmocka_unit_test(creates_stop_at_reserve_plus_headroom),
        cmocka_unit_test(load_order_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the loader's offset rule (ld_carry_storable): an offset is
 * stored only up to the first unfinished message of its partition, for any
 * number of partitions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(in_order_per_partition),
        cmocka_unit_test(many_partitions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

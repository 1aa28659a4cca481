/* Unit tests of mlc_app: what every program does at start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "mlc_app.h"

#include <sys/prctl.h>
#include <sys/resource.h>

/* A core file would hold the decrypted secrets: the workers turn dumps off. */
static void core_dumps_off_unless_allowed(void **state)
{
    struct rlimit before, after;
    struct mlc_err err = {0};

    assert_int_equal(getrlimit(RLIMIT_CORE, &before), 0);
    assert_int_equal(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);

    assert_int_equal(mlc_app_no_core_dumps(true, &err), MLC_OK);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
    assert_int_equal(getrlimit(RLIMIT_CORE, &after), 0);
    assert_true(after.rlim_cur == before.rlim_cur);

    assert_int_equal(mlc_app_no_core_dumps(false, &err), MLC_OK);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    assert_int_equal(getrlimit(RLIMIT_CORE, &after), 0);
    assert_true(after.rlim_cur == 0 && after.rlim_max == 0);
    /* LeakSanitizer needs to ptrace this process at exit */
    assert_int_equal(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(core_dumps_off_unless_allowed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

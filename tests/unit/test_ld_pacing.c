/* Pacing with the server's whole-second x-ratelimit-reset: a full server
 * window (remaining 0) must not park the loader for the rounded-up second
 * when its own sends show the next slot frees sooner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "pd_limits.h"

#include <stdint.h>

#define T0 1795851600000LL

static void full_window_waits_for_our_oldest_send_not_a_second(void **state)
{
    struct pd_limits_cfg cfg;
    struct pd_limits l;
    int64_t now = T0, d, worst = 0;

    (void)state;
    pd_limits_cfg_defaults(&cfg);
    cfg.plan = PD_PLAN_GROWTH; /* 40 per 2 s, 39 effective */
    pd_limits_init(&l, &cfg, now);
    for (int i = 0; i < 200; i++) {
        struct pd_resp_info r;

        int64_t waited = 0;

        /* as pd_client does: sleep in slices, ask again until it says 0 */
        while ((d = pd_limits_next_send_delay(&l, now, PD_OP_CREATE_ORG)) > 0) {
            int64_t step = d < 10 ? d : 10;

            now += step;
            waited += step;
        }
        assert_true(d == 0);
        if (i > 45 && waited > worst)
            worst = waited;
        pd_limits_on_send(&l, now, PD_OP_CREATE_ORG);
        /* the server saw a little jitter and counts 40: remaining 0, reset 1 s */
        pd_resp_info_init(&r, 200);
        pd_resp_info_header(&r, "x-ratelimit-limit", "40");
        pd_resp_info_header(&r, "x-ratelimit-remaining", i % 40 == 39 ? "0" : "5");
        pd_resp_info_header(&r, "x-ratelimit-reset", "1");
        now += 2; /* round trip */
        pd_limits_on_response(&l, now, &r);
    }
    /* the even spacing is 2000/39 = 51 ms; the oldest of our sends leaves the
     * window at most that much later (plus a small slack) */
    assert_true(worst < 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_window_waits_for_our_oldest_send_not_a_second),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

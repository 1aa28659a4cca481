/* Unit tests of mlc_remind: which settings are reminded of, that the thread
 * repeats them every period, and that stopping does not wait a period. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "mlc_config.h"
#include "mlc_log.h"
#include "mlc_remind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void load(struct mlc_config *cfg, unsigned prog, char **envp)
{
    struct mlc_err err = {0};

    assert_int_equal(mlc_config_load(cfg, prog, NULL, envp, &err), MLC_OK);
}

static void collects_what_weakens_security(void **state)
{
    char *lan[] = {"MLC_SAGE_URL=http://erp.lan/Sage300WebApi/v1.0/-/",
                   "MLC_ALLOW_PLAINTEXT_HTTP=true", "MLC_SAGE_INSECURE=true", NULL};
    char *local[] = {"MLC_SAGE_URL=http://127.0.0.1:8080/Sage300WebApi/v1.0/-/",
                     "MLC_PIPEDRIVE_URL=http://localhost:9999", NULL};
    struct mlc_remind r;
    struct mlc_config cfg;
    char names[100];

    (void)state;
    load(&cfg, MLC_PROG_EXTRACTOR, lan);
    mlc_remind_collect(&r, &cfg);
    assert_int_equal(r.n, 2);
    assert_non_null(strstr(r.lines[0], "MLC_SAGE_URL is plain http://"));
    assert_null(strstr(r.lines[0], "erp.lan")); /* the setting, not its value */
    assert_non_null(strstr(r.lines[1], "MLC_SAGE_INSECURE=true"));
    mlc_remind_names(&r, names, sizeof(names));
    assert_string_equal(names, "MLC_ALLOW_PLAINTEXT_HTTP,MLC_SAGE_INSECURE");
    mlc_config_free(&cfg);

    /* the loader has no Sage URL to worry about */
    load(&cfg, MLC_PROG_LOADER, lan);
    mlc_remind_collect(&r, &cfg);
    assert_int_equal(r.n, 0);
    mlc_config_free(&cfg);

    /* loopback: nothing leaves the machine, nothing to remind of */
    load(&cfg, MLC_PROG_EXTRACTOR, local);
    mlc_remind_collect(&r, &cfg);
    assert_int_equal(r.n, 0);
    mlc_remind_names(&r, names, sizeof(names));
    assert_string_equal(names, "");
    assert_int_equal(mlc_remind_start(&r, &cfg, 1, NULL), MLC_OK);
    assert_false(r.running);
    mlc_remind_stop(&r);
    mlc_config_free(&cfg);
}

static size_t count(FILE *f, const char *needle)
{
    static char text[8192];
    size_t n, hits = 0;

    fflush(f);
    rewind(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fseek(f, 0, SEEK_END);
    for (const char *p = text; (p = strstr(p, needle)); p++)
        hits++;
    return hits;
}

static void repeats_every_period_and_stops_at_once(void **state)
{
    char *lan[] = {"MLC_PIPEDRIVE_URL=http://pd.lan", "MLC_ALLOW_PLAINTEXT_HTTP=true", NULL};
    struct mlc_config cfg;
    struct mlc_remind r;
    FILE *f = tmpfile();

    (void)state;
    mlc_log_set_stream(f);
    mlc_log_setup("test", MLC_LOG_INFO, MLC_LOG_TEXT);
    load(&cfg, MLC_PROG_LOADER, lan);
    assert_int_equal(mlc_remind_start(&r, &cfg, 1, NULL), MLC_OK);
    assert_true(r.running);
    assert_int_equal(count(f, "MLC_PIPEDRIVE_URL is plain http://"), 0); /* not at once */
    for (int i = 0; i < 100 && count(f, "MLC_PIPEDRIVE_URL is plain http://") < 2; i++)
        usleep(50 * 1000);
    assert_true(count(f, "MLC_PIPEDRIVE_URL is plain http://") >= 2);
    mlc_remind_stop(&r);
    assert_false(r.running);

    /* an hour's period: stop wakes the thread instead of waiting it out
     * (a stop that waited would run into ctest's timeout) */
    assert_int_equal(mlc_remind_start(&r, &cfg, MLC_REMIND_PERIOD_S, NULL), MLC_OK);
    mlc_remind_stop(&r);
    mlc_log_set_stream(NULL);
    fclose(f);
    mlc_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(collects_what_weakens_security),
        cmocka_unit_test(repeats_every_period_and_stops_at_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

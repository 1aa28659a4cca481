/* mlc-extractor: polls Sage 300 ARCustomers and publishes customer-change
 * events to Kafka. This file parses the command line and runs the commands:
 * ext_loop (once, run), ext_ping (ping); the work is in ext_cycle (the
 * cycle), ext_state (SQLite) and sage_client. */
#include "ext_loop.h"
#include "ext_ping.h"
#include "mlc_app.h"
#include "mlc_event.h"
#include "mlc_http.h"
#include "mlc_log.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: mlc-extractor [--config FILE] once|run|ping [--full|--balances] [--force]\n"
    "\n"
    "Polls Sage 300 ARCustomers for every company in MLC_SAGE_COMPANIES and\n"
    "publishes one customer-change event per changed customer to MLC_TOPIC,\n"
    "keyed COMPANY:CustomerNumber. State (watermarks, hashes, audit) is in\n"
    "MLC_STATE_DB; `mlc audit --db FILE` prints the audit trail. Events are\n"
    "sage300.customer-change.v2 (with the AR credit picture) unless\n"
    "MLC_EVENT_VERSION=1 pins v1.\n"
    "\n"
    "Commands:\n"
    "  once    one poll cycle per company, wait for every delivery report, commit,\n"
    "          exit (0 ok, 1 a cycle failed and may be retried, 2 fatal/config)\n"
    "  run     a cycle every MLC_POLL_INTERVAL seconds, a full scan every\n"
    "          MLC_FULL_SCAN_INTERVAL seconds and a balance refresh every\n"
    "          MLC_SAGE_BALANCE_INTERVAL seconds until SIGTERM/SIGINT (the page in\n"
    "          hand is finished, delivered and committed; exit 0)\n"
    "  ping    check each company URL, the credentials and the brokers (one line\n"
    "          per check; exit 0 when all pass)\n"
    "Options:\n"
    "  --full  scan every customer (and report customers gone from Sage as missing)\n"
    "  --balances  a balance refresh: read every customer and publish those whose\n"
    "          credit picture changed enough (MLC_BALANCE_MIN_CHANGE_PCT) or whose\n"
    "          master data changed\n"
    "  --force publish every customer read, changed or not\n";

struct opts {
    const char *cmd;
    bool full, balances, force;
};

static int parse_args(const struct mlc_app *app, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    if (app->argc < 1) {
        fputs(usage, stderr);
        return 2;
    }
    o->cmd = app->argv[0];
    if (strcmp(o->cmd, "once") && strcmp(o->cmd, "run") && strcmp(o->cmd, "ping")) {
        fprintf(stderr, "mlc-extractor: unknown command '%s' (see mlc-extractor --help)\n", o->cmd);
        return 2;
    }
    for (int i = 1; i < app->argc; i++) {
        if (!strcmp(app->argv[i], "--full")) {
            o->full = true;
        } else if (!strcmp(app->argv[i], "--balances")) {
            o->balances = true;
        } else if (!strcmp(app->argv[i], "--force")) {
            o->force = true;
        } else {
            fprintf(stderr, "mlc-extractor: unknown option '%s' (see mlc-extractor --help)\n",
                    app->argv[i]);
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct mlc_app app = {.name = "mlc-extractor", .prog = MLC_PROG_EXTRACTOR, .usage = usage};
    struct mlc_err err = {0};
    char **companies = NULL;
    size_t n_companies = 0;
    struct opts o;
    volatile sig_atomic_t *stop;
    int code = 2;

    switch (mlc_app_start(&app, argc, argv)) {
    case MLC_APP_EXIT:
        return 0;
    case MLC_APP_FAIL:
        return 2;
    case MLC_APP_RUN:
        break;
    }
    if ((code = parse_args(&app, &o)) != 0)
        goto out;
    code = 2;
    if (mlc_config_require(&app.cfg, MLC_CFG_SAGE_URL, &err) != MLC_OK ||
        mlc_config_require(&app.cfg, MLC_CFG_SAGE_COMPANIES, &err) != MLC_OK ||
        mlc_config_list(&app.cfg, MLC_CFG_SAGE_COMPANIES, &companies, &n_companies, &err) !=
            MLC_OK) {
        mlc_app_fail(&app, &err);
        goto out;
    }
    for (size_t i = 0; i < n_companies; i++) {
        if (!mlc_event_company_valid(companies[i])) {
            mlc_err_set(
                &err, MLC_FATAL,
                "MLC_SAGE_COMPANIES: '%s' is not a company database ID ([A-Za-z0-9_-]{1,32})",
                companies[i]);
            mlc_app_fail(&app, &err);
            goto out;
        }
    }
    if (mlc_http_global_init(&err) != MLC_OK) {
        mlc_app_fail(&app, &err);
        goto out;
    }
    stop = mlc_app_stop_on_signals();
    if (!strcmp(o.cmd, "ping"))
        code = ext_ping(&app, stop, companies, n_companies);
    else
        code = ext_loop(&app, !strcmp(o.cmd, "run"), o.full, o.balances, o.force, stop, companies,
                        n_companies);
    mlc_http_global_cleanup();
out:
    mlc_config_free_list(companies, n_companies);
    mlc_app_free(&app);
    return code;
}

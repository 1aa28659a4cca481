/* mlc-extractor: polls Sage 300 ARCustomers and publishes customer-change
 * events to Kafka. This file only parses the command line; the work is in
 * the extractor's modules. */
#include "mlc_app.h"
#include "mlc_log.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: mlc-extractor [--config FILE] once|run|ping [--full] [--force]\n"
    "\n"
    "Polls Sage 300 ARCustomers for every company in MLC_SAGE_COMPANIES and\n"
    "publishes one customer-change event per changed customer to MLC_TOPIC,\n"
    "keyed COMPANY:CustomerNumber.\n"
    "\n"
    "Commands:\n"
    "  once    one poll cycle, wait for every delivery report, commit, exit\n"
    "  run     a cycle every MLC_POLL_INTERVAL seconds until SIGTERM/SIGINT\n"
    "  ping    check each company URL, the credentials and the brokers\n"
    "Options:\n"
    "  --full  scan every customer (and report customers gone from Sage)\n"
    "  --force publish every customer read, changed or not\n";

int main(int argc, char **argv)
{
    struct mlc_app app = {.name = "mlc-extractor", .prog = MLC_PROG_EXTRACTOR, .usage = usage};
    struct mlc_err err = {0};
    int code = 2;

    switch (mlc_app_start(&app, argc, argv)) {
    case MLC_APP_EXIT:
        return 0;
    case MLC_APP_FAIL:
        return 2;
    case MLC_APP_RUN:
        break;
    }
    if (app.argc < 1) {
        fputs(usage, stderr);
        goto out;
    }
    mlc_err_set(&err, MLC_FATAL, "command '%s' is not implemented yet", app.argv[0]);
    mlc_app_fail(&app, &err);
out:
    mlc_app_free(&app);
    return code;
}

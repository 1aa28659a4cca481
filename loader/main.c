/* mlc-loader: consumes customer-change events and upserts Pipedrive
 * organizations. This file only parses the command line; the work is in the
 * loader's modules. */
#include "mlc_app.h"
#include "mlc_log.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: mlc-loader [--config FILE] drain|run|ping|setup [--dry-run]\n"
    "                  [--reset-offsets earliest|latest|ISO8601]\n"
    "\n"
    "Consumes customer-change events from MLC_TOPIC in consumer group\n"
    "MLC_KAFKA_GROUP and creates or updates one Pipedrive organization per\n"
    "Sage 300 customer. Never deletes; never touches organizations that did\n"
    "not come from Sage 300.\n"
    "\n"
    "Commands:\n"
    "  run     consume until SIGTERM/SIGINT\n"
    "  drain   consume up to the end offsets seen at start, commit, exit\n"
    "  ping    check the Pipedrive token and the brokers\n"
    "  setup   create the custom fields the mapping needs and print their keys\n";

int main(int argc, char **argv)
{
    struct mlc_app app = {.name = "mlc-loader", .prog = MLC_PROG_LOADER, .usage = usage};
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

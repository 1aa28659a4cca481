/* mlc-loader: consumes customer-change events and upserts Pipedrive
 * organizations. This file only parses the command line and installs the
 * signal handlers; the work starts in ld_loader.c (ld_main). */
#include "ld_loader.h"
#include "mlc_app.h"
#include "mlc_http.h"
#include "mlc_kafka.h"
#include "mlc_log.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: mlc-loader [--config FILE] drain|run|ping|setup [--dry-run]\n"
    "                  [--reset-offsets earliest|latest|ISO8601]\n"
    "       mlc-loader [--config FILE] match [--apply] [--json]\n"
    "\n"
    "Consumes customer-change events from MLC_TOPIC in consumer group\n"
    "MLC_KAFKA_GROUP and creates or updates one Pipedrive organization per\n"
    "Sage 300 customer. Never deletes; never touches organizations that did\n"
    "not come from Sage 300. Reads events sage300.customer-change.v1 and v2\n"
    "(a v1 event leaves the credit fields alone); any other version goes to\n"
    "MLC_DLQ_TOPIC with class unsupported_version.\n"
    "\n"
    "Commands:\n"
    "  run     consume until SIGTERM/SIGINT\n"
    "  drain   consume up to the end offsets seen at start, commit, exit\n"
    "  ping    check the Pipedrive token (GET /v1/users/me) and the brokers\n"
    "  setup   create the custom fields the mapping needs and print their keys\n"
    "  match   link customers to organizations typed in before the connector: reads\n"
    "          every customer on MLC_TOPIC (no offset committed), lists every\n"
    "          organization once (10 tokens per 500) and prints per customer without\n"
    "          an organization: matched ID \"NAME\", ambiguous IDS or none. Names are\n"
    "          compared without case, accents, punctuation and the legal suffixes\n"
    "          of MLC_MATCH_SUFFIXES; postal code, then city break ties; an\n"
    "          organization that carries IDs or that two customers match is never\n"
    "          chosen. Writes nothing without --apply\n"
    "\n"
    "Options:\n"
    "  --dry-run        print per event what would happen (create, update with\n"
    "                   a field-by-field diff, adopt, skip) and write nothing:\n"
    "                   no POST/PATCH, no state file change, no offset commit\n"
    "  --reset-offsets  move the group's offsets to earliest, latest or the\n"
    "                   first message at or after an ISO 8601 time before\n"
    "                   consuming (stop the other loaders of the group first)\n"
    "  --apply          match: write the two ID fields on each unambiguous match\n"
    "                   (5 tokens each); the next sync adopts the organization\n"
    "  --json           match: print one JSON document instead of lines\n"
    "\n"
    "Exit status: 0 done, 1 stopped early or a retryable failure (run again),\n"
    "2 fatal (configuration, token refused, blocked, state file).\n";

int main(int argc, char **argv)
{
    struct mlc_app app = {.name = "mlc-loader", .prog = MLC_PROG_LOADER, .usage = usage};
    struct ld_opts o = {.out = stdout};
    struct mlc_err err = {0};
    int code = 2;
    mlc_rc rc;

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
    o.command = app.argv[0];
    for (int i = 1; i < app.argc; i++) {
        if (!strcmp(app.argv[i], "--dry-run")) {
            o.dry_run = true;
        } else if (!strcmp(app.argv[i], "--reset-offsets") && i + 1 < app.argc) {
            o.reset_offsets = app.argv[++i];
        } else if (!strncmp(app.argv[i], "--reset-offsets=", 16)) {
            o.reset_offsets = app.argv[i] + 16;
        } else if (!strcmp(app.argv[i], "--apply") && !strcmp(o.command, "match")) {
            o.apply = true;
        } else if (!strcmp(app.argv[i], "--json") && !strcmp(o.command, "match")) {
            o.json = true;
        } else {
            mlc_err_set(&err, MLC_FATAL, "unknown argument '%s' (see --help)", app.argv[i]);
            mlc_app_fail(&app, &err);
            goto out;
        }
    }
    o.stop = mlc_app_stop_on_signals();
    if ((rc = mlc_http_global_init(&err)) != MLC_OK) {
        mlc_app_fail(&app, &err);
        goto out;
    }
    rc = ld_main(&app.cfg, &o, &err);
    if (rc != MLC_OK)
        mlc_app_fail(&app, &err);
    code = mlc_app_exit_code(rc);
    mlc_http_global_cleanup();
    mlc_kafka_wait_destroyed(5000, NULL);
out:
    mlc_app_free(&app);
    return code;
}

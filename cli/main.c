/* mlc: the operator tool (dev broker, secrets, generated docs, ...). */
#include "mlc_alloc.h"
#include "mlc_cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    mlc_cmd_fn fn;
} commands[] = {
    {"devbroker", mlc_cmd_devbroker}, {"secret", mlc_cmd_secret}, {"config", mlc_cmd_config},
    {"audit", mlc_cmd_audit},         {"status", mlc_cmd_status}, {"dlq", mlc_cmd_dlq},
};

static const char usage[] =
    "Usage: mlc [--config FILE] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  devbroker [--partitions N] [--brokers N] [--topic NAME]...\n"
    "                               run an in-memory Kafka (librdkafka mock cluster) on\n"
    "                               127.0.0.1 for tests and the demo; NOT for production.\n"
    "                               stdout: bootstrap address, then control=http://...\n"
    "                               (fault injection, see docs/adr/0004-dev-broker.md)\n"
    "  secret keygen [--out FILE]   new master key: --out creates FILE with mode 0600\n"
    "                               (never overwrites); without it, print it on stdout\n"
    "  secret encrypt --setting MLC_NAME\n"
    "                               read a secret on stdin (one trailing newline dropped,\n"
    "                               no echo on a terminal), print its enc:v2: form sealed\n"
    "                               with MLC_MASTER_KEY_FILE for that setting only\n"
    "  secret reencrypt --setting MLC_NAME\n"
    "                               read an enc:v1: value on stdin, print it as enc:v2:\n"
    "  config docs                  print docs/configuration.md\n"
    "  audit --db FILE [--db FILE] [--customer ID] [--company CO] [--outcome O]\n"
    "        [--since T] [--until T] [--limit N] [--json]\n"
    "                               print the audit trail of the extractor's and the\n"
    "                               loader's state files, newest N rows (default 1000);\n"
    "                               with both files and --customer, the customer's\n"
    "                               history in time order; T is ISO 8601 UTC; read-only\n"
    "  dlq list|show|replay [--reason C] [--customer N] [--company CO] [--since T]\n"
    "        [--json] [--again] [--db FILE]\n"
    "                               dead letters: list them, show one (PARTITION:OFFSET)\n"
    "                               with headers and event, replay the selected ones to\n"
    "                               MLC_TOPIC once each (recorded in --db, default\n"
    "                               ./mlc-dlq.db); never those refused for a signature\n"
    "  status [--extractor-db FILE] [--loader-db FILE] [--dlq-db FILE]\n"
    "         [--json | --html FILE]\n"
    "                               watermarks and last cycles, the loader group's\n"
    "                               committed offsets and lag, last Pipedrive budget,\n"
    "                               outcomes of the last 24 h, tokens per day by kind,\n"
    "                               dead letters (not yet replayed); read-only; --html\n"
    "                               writes the same as one self-contained page\n";

int main(int argc, char **argv)
{
    struct mlc_app app = {.name = "mlc", .prog = MLC_PROG_CLI, .usage = usage};
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
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (!strcmp(app.argv[0], commands[i].name)) {
            code = commands[i].fn(&app);
            goto out;
        }
    }
    fprintf(stderr, "mlc: unknown command '%s' (see mlc --help)\n", app.argv[0]);
out:
    mlc_app_free(&app);
    return code;
}

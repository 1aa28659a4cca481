/* ld_opts.h - how mlc-loader's command was invoked (a leaf: ld_loader.h
 * gives it to ld_main, ld_internal.h to every loader module). */
#ifndef LD_OPTS_H
#define LD_OPTS_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

struct ld_opts {
    const char *command;         /* "drain", "run", "ping", "setup", "match" */
    bool dry_run;                /* print what would happen, write nothing */
    bool apply;                  /* match: write the ID fields of the matches */
    bool json;                   /* match: one JSON document on out */
    const char *reset_offsets;   /* NULL, "earliest", "latest" or an ISO 8601 time */
    volatile sig_atomic_t *stop; /* set by SIGTERM/SIGINT */
    FILE *out;                   /* command output (stdout) */
};

#endif

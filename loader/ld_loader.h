/* ld_loader.h - mlc-loader's commands: drain, run, ping, setup.
 *
 * How one event is handled, identity, pacing, budget and failure behaviour
 * are described in docs/loader.md; the decisions in
 * docs/adr/0006-loader-identity-and-pacing.md.
 *
 * Ownership: everything is allocated and released inside ld_main().
 */
#ifndef LD_LOADER_H
#define LD_LOADER_H

#include "mlc_config.h"
#include "mlc_err.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

struct ld_opts {
    const char *command;         /* "drain", "run", "ping", "setup" */
    bool dry_run;                /* print what would happen, write nothing */
    const char *reset_offsets;   /* NULL, "earliest", "latest" or an ISO 8601 time */
    volatile sig_atomic_t *stop; /* set by SIGTERM/SIGINT */
    FILE *out;                   /* command output (stdout) */
};

/* Runs one command. MLC_OK: done (drain reached the end, run was stopped by
 * a signal); MLC_RETRY: stopped before finishing (a later run continues);
 * MLC_FATAL: configuration, credentials, block page, state file. */
mlc_rc ld_main(const struct mlc_config *cfg, const struct ld_opts *o, struct mlc_err *err);

#endif
